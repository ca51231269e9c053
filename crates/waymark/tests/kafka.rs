//! Kafka end to end against a real Kafka-protocol broker on 127.0.0.1: librdkafka's mock
//! cluster, run by `waymark mock-broker` in its own process. `waymark simulate` produces,
//! `waymark consume` runs as separate processes that the tests kill with SIGKILL.

#![cfg(feature = "kafka")]

mod util;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::{assert_success, count, events, simulate, truth, Broker, Dir};

/// A child process killed when the test ends, whatever happens (a panicking test must not
/// leave a consumer running that keeps the test harness's output pipe open).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fast failover for tests: a dead member is evicted after 6 s instead of 45 s.
const FAST_GROUP: [&str; 4] = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"];

fn consume(dir: &Dir, broker: &Broker, idle: &str) -> Command {
    consume_from(dir, &broker.bootstrap, idle)
}

fn consume_from(dir: &Dir, bootstrap: &str, idle: &str) -> Command {
    let mut c = dir.cmd();
    c.args(["consume", "--brokers", bootstrap, "--exit-when-idle", idle, "--json"])
        .args(FAST_GROUP);
    c
}

fn produce(dir: &Dir, broker: &Broker, args: &[&str]) -> u64 {
    produce_to(dir, &broker.bootstrap, args)
}

fn produce_to(dir: &Dir, bootstrap: &str, args: &[&str]) -> u64 {
    let (records, truth_path) = (dir.path("sim.log"), dir.path("truth.jsonl"));
    // The same seed writes the truth (and the noise count) and produces the same records.
    let noise = simulate(dir, args, &records, &truth_path);
    let out = dir.cmd().args(["simulate", "--brokers", bootstrap]).args(args).output().unwrap();
    assert_success(&out, args);
    noise
}

#[test]
fn simulate_to_broker_to_consume_equals_the_truth() {
    let dir = Dir::new();
    util::scenario::kafka_consume_equals_the_truth(&dir, &dir.db());
}

#[test]
fn a_killed_member_s_partitions_are_taken_over_with_no_row_missing_or_doubled() {
    let dir = Dir::new();
    let broker = Broker::start(3);
    produce(&dir, &broker, &["--flows", "10000", "--seed", "9"]);
    // Member A is throttled so that it is still busy when it is killed.
    let mut a = Guard(
        consume(&dir, &broker, "30")
            .args(["-X", "max.partition.fetch.bytes=1024", "-X", "fetch.wait.max.ms=20"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut b = Guard(consume(&dir, &broker, "3").stdout(Stdio::null()).spawn().unwrap());
    let started = Instant::now();
    while count_or_zero(&dir) < 2000 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(a.0.try_wait().unwrap().is_none(), "A finished before it could be killed");
    a.0.kill().unwrap(); // SIGKILL
    a.0.wait().unwrap();
    let status = b.0.wait().unwrap();
    assert!(status.success(), "B failed: {status}");
    util::assert_same_rows(&events(&dir.db()), &truth(&dir.path("truth.jsonl")), "events vs truth");
    assert_eq!(count(&dir.db(), "SELECT count(*) FROM join_pending WHERE state = 'waiting'"), 0);
}

/// A member joining while records flow: the busy member's partitions are revoked while
/// records of theirs are polled and not yet parsed (the polling thread hands them to a parse
/// thread in chunks), and each record is still stored once, by one of the two.
#[test]
fn a_member_joining_mid_stream_takes_partitions_over_with_no_row_missing_or_doubled() {
    let dir = Dir::new();
    let broker = Broker::start(6);
    let args = ["--flows", "4000", "--seed", "17", "--rate", "8000"];
    let (records, truth_path) = (dir.path("sim.log"), dir.path("truth.jsonl"));
    simulate(&dir, &args, &records, &truth_path);
    let a = consume(&dir, &broker, "3").stdout(Stdio::piped()).spawn().unwrap();
    let mut a = Guard(a);
    let mut producer = Guard(
        dir.cmd().args(["simulate", "--brokers", &broker.bootstrap]).args(args).spawn().unwrap(),
    );
    let started = Instant::now();
    while count_or_zero(&dir) < 5000 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(producer.0.try_wait().unwrap().is_none(), "the producer finished before B joined");
    let b = consume(&dir, &broker, "3").output().unwrap();
    assert_success(&b, &["consume B"]);
    assert!(producer.0.wait().unwrap().success());
    let mut out = Vec::new();
    a.0.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(a.0.wait().unwrap().success(), "A failed");
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_slice(&out).unwrap(), serde_json::from_slice(&b.stdout).unwrap());
    let truth = truth(&truth_path);
    util::assert_same_rows(&events(&dir.db()), &truth, "events vs truth");
    let (ea, eb) = (a["events"].as_u64().unwrap(), b["events"].as_u64().unwrap());
    assert!(ea > 0 && eb > 0, "both members stored events: A {ea}, B {eb}");
    assert_eq!(ea + eb, truth.len() as u64, "each event stored once, by one member");
}

#[test]
fn a_consumer_killed_and_restarted_while_the_simulator_produces_loses_and_doubles_nothing() {
    let dir = Dir::new();
    let broker = Broker::start(3);
    let args = ["--flows", "3000", "--seed", "13", "--rate", "6000"];
    let (records, truth_path) = (dir.path("sim.log"), dir.path("truth.jsonl"));
    simulate(&dir, &args, &records, &truth_path);
    let mut producer = Guard(
        dir.cmd().args(["simulate", "--brokers", &broker.bootstrap]).args(args).spawn().unwrap(),
    );
    let mut kills = 0;
    let mut terms = 0;
    for (i, delay_ms) in [1500u64, 900, 2200, 700, 1300, 1800].into_iter().enumerate() {
        let mut c = Guard(consume(&dir, &broker, "30").stdout(Stdio::null()).spawn().unwrap());
        std::thread::sleep(Duration::from_millis(delay_ms));
        if c.0.try_wait().unwrap().is_some() {
            continue;
        }
        if i % 3 == 2 {
            // SIGTERM: the consumer commits the batch in hand and exits 0.
            let pid = c.0.id().to_string();
            assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
            let status = c.0.wait().unwrap();
            assert!(status.success(), "SIGTERM must end the consumer cleanly: {status}");
            terms += 1;
        } else {
            c.0.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        c.0.wait().unwrap();
    }
    assert!(producer.0.wait().unwrap().success());
    assert!(kills >= 3 && terms >= 1, "{kills} kills, {terms} terms");
    let out = consume(&dir, &broker, "2").output().unwrap();
    assert_success(&out, &["final consume"]);
    util::assert_same_rows(&events(&dir.db()), &truth(&truth_path), "events vs truth");
}

fn count_or_zero(dir: &Dir) -> u64 {
    if !dir.db().exists() {
        return 0;
    }
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap_or(0) as u64
}

/// The produce/consume path against an independent Kafka implementation: tansu
/// (`cargo install tansu --locked --features dynostore`, or `scripts/install-tansu.sh`). Its
/// 0.6 group coordinator does not evict dead members, so failover stays on the mock cluster.
/// Runs when `tansu` is installed; otherwise it says so and passes.
#[test]
fn tansu_an_independent_broker_serves_produce_and_consume() {
    let tansu = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo/bin")))
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file());
    let Some(tansu) = tansu else {
        util::skipped(
            "the tansu interoperability check",
            "tansu is not installed (scripts/install-tansu.sh)",
            false,
        );
        return;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("tcp://127.0.0.1:{port}");
    let _broker = Guard(
        Command::new(&tansu)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "tansu did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let created = Command::new(&tansu)
        .args(["topic", "create", "raw-logs", "--partitions", "3", "--broker", &url])
        .output()
        .unwrap();
    assert_success(&created, &["tansu topic create"]);
    let bootstrap = format!("127.0.0.1:{port}");
    let dir = Dir::new();
    let noise =
        produce_to(&dir, &bootstrap, &["--flows", "2000", "--seed", "21", "--noise", "0.01"]);
    let out = consume_from(&dir, &bootstrap, "2").output().unwrap();
    assert_success(&out, &["consume from tansu"]);
    util::assert_same_rows(&events(&dir.db()), &truth(&dir.path("truth.jsonl")), "events vs truth");
    assert_eq!(count(&dir.db(), "SELECT count(*) FROM dead_letters"), noise);
}
