//! End-to-end scenarios run on either store (`--db` a SQLite path or a PostgreSQL URL): the
//! SQLite tests and their PostgreSQL variants call the same code.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::store::{assert_same_tables, Store};
use super::{assert_success, simulate, truth, Dir};

/// Thousands of interleaved flows with noise, ingested once into `db`: the stored events equal
/// the simulator's truth row for row, every record is accounted for, every failure has its
/// reason, and each dead letter holds the bytes at its position.
pub fn interleaved_flows_match_the_truth(dir: &Dir, db: &Path) {
    let (records, truth_path) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    let noise = simulate(
        dir,
        &["--flows", "3000", "--seed", "7", "--noise", "0.02", "--p-reason-first", "0.4"],
        &records,
        &truth_path,
    );
    assert!(noise > 100, "the run must contain noise records, got {noise}");
    let out = dir.cmd_db(db).args(["ingest", "--json"]).arg(&records).output().expect("ingest");
    assert_success(&out, &["ingest", "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let store = Store::of(db);
    let expected = truth(&truth_path);
    assert_eq!(store.events(), expected, "stored events differ from the truth");
    assert_eq!(summary["events"].as_u64().unwrap(), expected.len() as u64);
    assert_eq!(summary["dead_letters"].as_u64().unwrap(), noise);
    assert_eq!(store.count("SELECT count(*) FROM dead_letters"), noise);
    assert_eq!(summary["waiting"].as_u64(), Some(0));
    // Every failure got its reason, joined or inline.
    assert_eq!(
        store
            .count("SELECT count(*) FROM events WHERE status='FAILURE' AND failure_reason IS NULL"),
        0
    );
    let joined = summary["reasons_joined"].as_u64().unwrap();
    assert_eq!(joined, summary["details"].as_u64().unwrap());
    assert!(joined > 500, "{joined}");
    // Every record is accounted for.
    let r = |k: &str| summary[k].as_u64().unwrap();
    assert_eq!(r("records"), r("events") + r("details") + r("dead_letters") + r("blank"));
    // Dead letters carry their source and position: the raw bytes are at that offset.
    let file = std::fs::read(&records).unwrap();
    let sql = format!(
        "SELECT position, raw_len, {} FROM dead_letters ORDER BY position LIMIT 50",
        store.hex("raw")
    );
    let letters = store.rows(&sql);
    assert_eq!(letters.len(), 50);
    for row in letters {
        let (pos, len): (usize, usize) = (row[0].parse().unwrap(), row[1].parse().unwrap());
        let raw: Vec<u8> = (0..row[2].len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&row[2][i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(&file[pos..pos + len], &raw[..]);
    }
}

/// `ingest` into `db` killed (SIGKILL) after each of `delays_ms`, then run to the end: the
/// tables equal those of one clean run into a SQLite store, and the events equal the truth.
/// At least `min_kills` runs must have been killed mid-way (else the input is too small).
pub fn killed_and_resumed_gives_one_clean_run(
    dir: &Dir,
    db: &Path,
    delays_ms: &[u64],
    min_kills: usize,
) {
    let (records, truth_path) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    simulate(dir, &["--flows", "6000", "--seed", "11", "--noise", "0.01"], &records, &truth_path);
    // Small batches so that a kill lands between many commits.
    let config = dir.write("small.toml", b"[ingest]\nbatch_records = 300\njoin_ttl_secs = 20\n");
    let ingest = |db: &Path| {
        let mut c = dir.cmd_db(db);
        c.arg("--config").arg(&config).arg("ingest").arg(&records);
        c
    };
    let clean_db = dir.path("clean.db");
    assert_success(&ingest(&clean_db).output().unwrap(), &["clean ingest"]);
    let mut kills = 0;
    for &delay_ms in delays_ms {
        let mut child =
            ingest(db).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert_success(&ingest(db).output().unwrap(), &["final ingest"]);
    assert!(kills >= min_kills, "only {kills} runs were killed mid-way: make the input bigger");
    let store = Store::of(db);
    assert_same_tables(&store, &Store::of(&clean_db));
    assert_eq!(store.events(), truth(&truth_path));
}

/// Ten thousand flows with noise and empty messages produced to a 3-partition broker
/// (librdkafka's mock cluster), consumed into `db`: the events equal the truth, the dead
/// letters are the noise and name their topic/partition, and a second run finds nothing new.
pub fn kafka_consume_equals_the_truth(dir: &Dir, db: &Path) {
    let broker = super::Broker::start(3);
    let args = ["--flows", "10000", "--seed", "5", "--noise", "0.005", "--empty-messages", "3"];
    let (records, truth_path) = (dir.path("sim.log"), dir.path("truth.jsonl"));
    // The same seed writes the truth (and the noise count) and produces the same records.
    let noise = simulate(dir, &args, &records, &truth_path);
    let out =
        dir.cmd().args(["simulate", "--brokers", &broker.bootstrap]).args(args).output().unwrap();
    assert_success(&out, &args);
    let consume = |idle: &str| {
        let out = dir
            .cmd_db(db)
            .args(["consume", "--brokers", &broker.bootstrap, "--exit-when-idle", idle, "--json"])
            .args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"])
            .output()
            .unwrap();
        assert_success(&out, &["consume"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let s = consume("2");
    let store = Store::of(db);
    let want = truth(&truth_path);
    super::assert_same_rows(&store.events(), &want, "events vs truth");
    assert_eq!(store.count("SELECT count(*) FROM dead_letters"), noise);
    assert_eq!(store.count("SELECT count(*) FROM dead_letters WHERE kind = 'empty'"), 3);
    assert!(
        store.count("SELECT count(*) FROM dead_letters WHERE kind IN ('nul_byte', 'invalid_utf8')")
            > 0
    );
    // Dead letters name their topic/partition and offset.
    let names = store.rows(
        "SELECT DISTINCT s.name FROM dead_letters d JOIN sources s ON s.id = d.source_id \
         ORDER BY 1",
    );
    assert!(names.iter().all(|r| r[0].starts_with("raw-logs/")), "{names:?}");
    assert_eq!(store.count("SELECT count(*) FROM sources WHERE kind = 'kafka'"), 3);
    assert_eq!(s["lag"].as_i64(), Some(0));
    assert_eq!(s["offsets_missing"].as_u64(), Some(0));
    // A second run finds nothing new.
    assert_eq!(consume("1")["events"].as_u64(), Some(0));
    assert_eq!(store.events().len(), want.len());
}
