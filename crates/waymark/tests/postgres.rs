//! The CLI on PostgreSQL (`--db postgres://…`, feature `postgres`) against the server
//! `WAYMARK_TEST_PG` names (`scripts/pg.sh`): several processes on one store end with the same
//! tables as one process on SQLite. Skipped (visibly) without the variable; fails under
//! `CI=true`.

#![cfg(feature = "postgres")]

mod util;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use util::store::fresh_database;
use util::Dir;

fn spawn(dir: &Dir, db: &str, args: &[&str]) -> Child {
    dir.cmd_db(Path::new(db))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn waymark")
}

fn wait(child: Child, what: &str) {
    let out = child.wait_with_output().expect("wait");
    util::assert_success(&out, &[what]);
}

/// `waymark sql` output of one store.
fn sql(dir: &Dir, db: &str, query: &str) -> String {
    let out = dir.cmd_db(Path::new(db)).args(["sql", query]).output().expect("run sql");
    util::assert_success(&out, &["sql", query]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Queries whose answers must be the same on both stores (no ids, no times of storing).
const EVENT_TRUTH: &[&str] = &[
    "SELECT count(*) AS n FROM events",
    "SELECT count(*) AS n FROM events WHERE status = 'FAILURE' AND failure_reason IS NOT NULL",
    "SELECT count(*) AS n FROM dead_letters",
    "SELECT count(*) AS n FROM join_pending",
    "SELECT correlation_id, checkpoint_id, failure_reason, position FROM events \
     WHERE status = 'FAILURE' ORDER BY position LIMIT 50",
];

#[test]
fn two_ingests_of_one_file_at_once_store_it_once() {
    let Some(pg) = fresh_database("ingest") else { return };
    let dir = Dir::new();
    dir.run(&["simulate", "--flows", "3000", "--noise", "0.01", "-q", "-o", "flows.log"]);
    dir.run(&["ingest", "flows.log"]);
    let a = spawn(&dir, &pg, &["ingest", "flows.log"]);
    let b = spawn(&dir, &pg, &["ingest", "flows.log"]);
    wait(a, "ingest a");
    wait(b, "ingest b");
    let sqlite = dir.db().display().to_string();
    for q in EVENT_TRUTH {
        assert_eq!(sql(&dir, &pg, q), sql(&dir, &sqlite, q), "{q}");
    }
    // Both processes and a third find the file done.
    let out = dir.cmd_db(Path::new(&pg)).args(["ingest", "flows.log"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("read 0 records"));
}

#[test]
fn two_scans_and_audits_of_one_folder_at_once_store_the_truth() {
    let Some(pg) = fresh_database("scan") else { return };
    let dir = Dir::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/etl");
    let glob = format!("{}/*/*.{{log,jsonl}}", root.display());
    dir.run(&["scan", "--audit", &glob]);
    let children: Vec<Child> =
        (0..2).map(|_| spawn(&dir, &pg, &["scan", "--audit", &glob])).collect();
    for (i, c) in children.into_iter().enumerate() {
        wait(c, &format!("scan {i}"));
    }
    let sqlite = dir.db().display().to_string();
    for q in [
        "SELECT count(*) AS n FROM scanned_files WHERE state = 'active'",
        "SELECT file_path, line_number, rule, severity FROM logscan_results \
         ORDER BY file_path, line_number, rule",
        "SELECT system_type, status, folder_name, workflow_name, session_name, run_id, \
         source_rows, target_rows, rejected_rows, error_message FROM etl_log_audit \
         ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10",
    ] {
        assert_eq!(sql(&dir, &pg, q), sql(&dir, &sqlite, q), "{q}");
    }
}

#[test]
fn the_store_is_named_by_url_and_views_answer() {
    let Some(pg) = fresh_database("views") else { return };
    let dir = Dir::new();
    dir.run(&["simulate", "--flows", "200", "-q", "-o", "f.log"]);
    let out = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .current_dir(dir.tmp.path())
        .env("WAYMARK_DB", &pg)
        .args(["ingest", "f.log"])
        .output()
        .expect("run");
    util::assert_success(&out, &["ingest"]);
    let failures =
        sql(&dir, &pg, "SELECT count(*) AS n FROM failures_v WHERE failure_reason IS NULL");
    assert_eq!(failures.lines().nth(1), Some("0"));
    let status = dir.cmd_db(Path::new(&pg)).arg("status").output().expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("f.log"), "{text}");
}

/// The SQLite truth test (`ingest.rs`) on PostgreSQL.
#[test]
fn thousands_of_interleaved_flows_match_the_truth_row_for_row() {
    let Some(pg) = fresh_database("truth") else { return };
    let dir = Dir::new();
    util::scenario::interleaved_flows_match_the_truth(&dir, Path::new(&pg));
}

/// The SQLite crash test (`ingest.rs`) on PostgreSQL (a process takes longer to start: later
/// kills).
#[test]
fn killed_at_random_points_then_resumed_gives_the_tables_of_one_clean_run() {
    let Some(pg) = fresh_database("kill") else { return };
    let dir = Dir::new();
    let delays = [60, 150, 30, 250, 100, 200];
    util::scenario::killed_and_resumed_gives_one_clean_run(&dir, Path::new(&pg), &delays, 2);
}

/// The SQLite Kafka truth test (`kafka.rs`) on PostgreSQL.
#[cfg(feature = "kafka")]
#[test]
fn simulate_to_broker_to_consume_equals_the_truth() {
    let Some(pg) = fresh_database("kafka") else { return };
    let dir = Dir::new();
    util::scenario::kafka_consume_equals_the_truth(&dir, Path::new(&pg));
}

/// Processes killed (and reaped) when the test ends, however it ends.
#[cfg(feature = "kafka")]
struct Kill(Vec<Child>);

#[cfg(feature = "kafka")]
impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Kafka scenario on PostgreSQL: a fresh database with its schema, the mock cluster with a
/// topic of `partitions`, and the simulator's records (`flows`: its arguments) produced into it
/// (`produce`: more arguments, e.g. a partitioner) with their truth.
#[cfg(feature = "kafka")]
struct KafkaCase {
    pg: String,
    dir: Dir,
    /// The consumers the test starts, killed at its end (before the broker).
    guard: Kill,
    _broker: util::Broker,
    bootstrap: String,
    truth: std::path::PathBuf,
}

#[cfg(feature = "kafka")]
impl KafkaCase {
    fn new(name: &str, partitions: u32, flows: &[&str], produce: &[&str]) -> Option<KafkaCase> {
        let pg = fresh_database(name)?;
        let dir = Dir::new();
        let broker = util::Broker::start(partitions);
        let bootstrap = broker.bootstrap.clone();
        // The schema first, so that progress queries find their tables.
        let status = dir.cmd_db(Path::new(&pg)).arg("status").output().expect("status");
        util::assert_success(&status, &[]);
        let (records, truth) = (dir.path("sim.log"), dir.path("truth.jsonl"));
        util::simulate(&dir, flows, &records, &truth);
        let out = dir
            .cmd()
            .args(["simulate", "--brokers", &bootstrap])
            .args(produce)
            .args(flows)
            .output()
            .expect("produce");
        util::assert_success(&out, &["simulate"]);
        Some(KafkaCase { pg, dir, guard: Kill(Vec::new()), _broker: broker, bootstrap, truth })
    }
}

/// Scale-out: records produced without keys (librdkafka's random partitioner over 6
/// partitions, so a flow's records and a failure's reason land in different partitions), three
/// `consume` processes of one group on one PostgreSQL, one killed with SIGKILL mid-run and one
/// started late: the store equals the truth — every event once, every reason joined once to a
/// failure of its flow and system.
#[cfg(feature = "kafka")]
#[test]
fn three_consumers_of_unkeyed_partitions_one_killed_one_late_store_the_truth() {
    use std::time::{Duration, Instant};
    let flows = ["--flows", "8000", "--seed", "12", "--p-fail", "0.3"];
    let Some(KafkaCase { pg, dir, mut guard, _broker, bootstrap, truth }) =
        KafkaCase::new("scale", 6, &flows, &["-X", "partitioner=random"])
    else {
        return;
    };
    let consume = |idle: &str, extra: &[&str]| {
        dir.cmd_db(Path::new(&pg))
            .args(["consume", "--brokers", &bootstrap, "--exit-when-idle", idle])
            .args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn consume")
    };
    // A is throttled so that it is still busy when it is killed.
    let throttle = ["-X", "max.partition.fetch.bytes=1024", "-X", "fetch.wait.max.ms=20"];
    guard.0.push(consume("60", &throttle));
    guard.0.push(consume("6", &[]));
    let started = Instant::now();
    let stored = || util::store::Store::of(Path::new(&pg)).count("SELECT count(*) FROM events");
    while stored() < 3000 && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // C joins late: the group rebalances its partitions over three members.
    guard.0.push(consume("6", &[]));
    std::thread::sleep(Duration::from_millis(1500));
    let a = &mut guard.0[0];
    assert!(a.try_wait().expect("try_wait").is_none(), "A finished before it could be killed");
    a.kill().expect("SIGKILL A");
    a.wait().expect("wait A");
    for i in [1, 2] {
        let status = guard.0[i].wait().expect("wait");
        assert!(status.success(), "consumer {i} failed: {status}");
    }
    let want = util::truth(&truth);
    let got = util::store::Store::of(Path::new(&pg)).events();
    // Every event stored once: nothing missing, nothing doubled (reasons compared below).
    let without_reason = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        let mut r: Vec<Vec<String>> = rows.iter().map(|r| r[..5].to_vec()).collect();
        r.sort();
        r
    };
    util::assert_same_rows(&without_reason(&got), &without_reason(&want), "events vs truth");
    // Every reason joined once, to a failure of its own flow and system: per flow and system, the
    // failures carry exactly the truth's reasons. (Where one flow failed twice in one system, which
    // failure gets which of its two reasons is not in the data once unkeyed partitions scramble the
    // order: the oldest-waiting rule pairs them in the order they are read, and a fedebom reason
    // carries no time to pair by. So the reasons are compared as a set per flow and system; a
    // flow that failed once in a system is thus checked to carry exactly its own reason.)
    type Reasons = std::collections::BTreeMap<(String, String), Vec<String>>;
    let reasons = |rows: &[Vec<String>]| -> Reasons {
        let mut m = Reasons::new();
        for r in rows.iter().filter(|r| r[3] == "FAILURE") {
            m.entry((r[0].clone(), r[4].clone())).or_default().push(r[5].clone());
        }
        m.values_mut().for_each(|v| v.sort());
        m
    };
    let (got, want) = (reasons(&got), reasons(&want));
    let joined = want.values().flatten().filter(|r| *r != "NULL").count();
    assert!(joined > 500, "too few joins tested: {joined}");
    let wrong: Vec<_> = want.iter().filter(|(k, v)| got.get(*k) != Some(v)).collect();
    let some: Vec<_> = wrong.iter().take(5).map(|(k, v)| (k, v, got.get(*k))).collect();
    assert!(wrong.is_empty(), "reasons differ from the truth in {} flows: {some:?}", wrong.len());
    assert_eq!(got.len(), want.len(), "flows with failures");
}

/// A stalled consumer: A holds records it has not committed when it is stopped (SIGSTOP) for
/// longer than its session; the group gives its partitions to B, which stores everything. When
/// A wakes, its late commit is refused (the sources' owner epochs moved on), A stops with that
/// error, and the store still holds exactly the truth: nothing doubled, no position moved back.
#[cfg(feature = "kafka")]
#[test]
fn a_stalled_consumer_that_wakes_after_reassignment_is_refused() {
    use std::time::{Duration, Instant};
    let flows = ["--flows", "2000", "--seed", "23", "--p-fail", "0.3"];
    let Some(KafkaCase { pg, dir, mut guard, _broker, bootstrap, truth }) =
        KafkaCase::new("stalled", 4, &flows, &[])
    else {
        return;
    };
    let log = |name: &str| std::fs::File::create(dir.path(name)).expect("log file");
    let consume = |idle: &str, extra: &[&str], name: &str| {
        dir.cmd_db(Path::new(&pg))
            .args(["consume", "--brokers", &bootstrap, "--exit-when-idle", idle])
            .args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"])
            .args(extra)
            .env("WAYMARK_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log(name))
            .spawn()
            .expect("spawn consume")
    };
    // A commits only when its partitions are revoked (a batch waits up to ten minutes), and
    // reads slowly: whenever it is stopped, it holds records not yet in the store.
    let slow = ["--max-batch-wait-ms", "600000", "-X", "max.partition.fetch.bytes=2048"];
    guard.0.push(consume("60", &slow, "a.log"));
    let a_log = || std::fs::read_to_string(dir.path("a.log")).unwrap_or_default();
    let started = Instant::now();
    while !a_log().contains("partition assigned") {
        assert!(started.elapsed() < Duration::from_secs(60), "A was never assigned:\n{}", a_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let a = guard.0[0].id().to_string();
    let signal = |sig: &str| {
        let st = Command::new("kill").args([sig, &a]).status().expect("kill");
        assert!(st.success(), "kill {sig} {a}");
    };
    signal("-STOP");
    let store = util::store::Store::of(Path::new(&pg));
    assert_eq!(store.count("SELECT count(*) FROM events"), 0, "A committed before it was stopped");
    // B joins; after A's session times out, B is given every partition and stores them all.
    let mut b = consume("8", &[], "b.log");
    let status = b.wait().expect("wait B");
    let b_log = std::fs::read_to_string(dir.path("b.log")).unwrap_or_default();
    assert!(status.success(), "B failed: {status}\n{b_log}");
    let want = util::truth(&truth);
    util::assert_same_rows(&store.events(), &want, "the store after B");
    let positions = "SELECT name, position FROM sources ORDER BY name";
    let before = sql(&dir, &pg, positions);
    // A wakes with its batch: the commit is refused, A stops with the reason.
    signal("-CONT");
    let a = guard.0.remove(0);
    let out = a.wait_with_output().expect("wait A");
    let a_log = a_log();
    assert!(!out.status.success(), "A's late commit was accepted:\n{a_log}");
    assert!(a_log.contains("claimed by another writer"), "A stopped for another reason:\n{a_log}");
    util::assert_same_rows(&store.events(), &want, "the store after A woke");
    assert_eq!(sql(&dir, &pg, positions), before, "a position moved");
}

/// `waymark serve` on PostgreSQL: a file source followed into it, the API answering from it the
/// same values as `serve` on a SQLite store fed the same file.
#[test]
fn serve_on_postgres_follows_a_file_and_answers_as_on_sqlite() {
    use std::io::BufRead as _;
    let Some(url) = fresh_database("serve") else { return };
    let dir = Dir::new();
    let (records, truth) = (dir.path("all.log"), dir.path("truth.jsonl"));
    util::simulate(&dir, &["--flows", "300", "--seed", "41"], &records, &truth);
    let logs = dir.path("logs");
    std::fs::create_dir(&logs).expect("logs");
    std::fs::copy(&records, logs.join("app.log")).expect("copy");
    let config = util::file_source_config(&dir, &logs.join("*.log"));
    let serve = |db: &str| -> (Child, String) {
        let mut child = dir
            .cmd_db(Path::new(db))
            .arg("--config")
            .arg(&config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("listen line");
        let base = line.trim().rsplit(' ').next().expect("address").to_owned();
        (child, base)
    };
    let get = |base: &str, path: &str| -> serde_json::Value {
        let body = ureq::get(&format!("{base}{path}")).call().expect("get").into_body();
        serde_json::from_str(&body.into_with_config().read_to_string().expect("body"))
            .expect("json")
    };
    let want = util::truth(&truth).len() as u64;
    let sqlite = dir.path("w.db");
    let mut answers = Vec::new();
    for db in [url.as_str(), sqlite.to_str().expect("path")] {
        let (mut child, base) = serve(db);
        let t = std::time::Instant::now();
        while get(&base, "/api/v1/status")["events"].as_u64() != Some(want) {
            assert!(t.elapsed().as_secs() < 60, "{db}: not all events followed");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let failures = get(&base, "/api/v1/failures?limit=1000");
        let cid = failures["items"][0]["correlation_id"].as_str().expect("a failure").to_owned();
        let mut status = get(&base, "/api/v1/status");
        status["sources"] = serde_json::Value::Null;
        answers.push((
            status,
            failures["items"].clone(),
            get(&base, &format!("/api/v1/flows/{cid}")),
        ));
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(answers[0], answers[1], "PostgreSQL and SQLite answer alike");
}
