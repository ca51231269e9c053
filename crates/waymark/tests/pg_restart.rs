//! PostgreSQL restarted (fast mode: every session terminated, as in a real restart) twice while
//! `waymark ingest` writes to it (and, more cheaply, while `serve` follows a growing file): the run reconnects, finishes (exit 0), and the store holds
//! exactly what one ingest of the same file into SQLite holds — the same events with the same
//! reasons, dead letters, join state and positions, no batch stored twice — and the simulator's
//! truth. The test restarts a cluster of its own (`scripts/pg.sh` with `WAYMARK_PG_DIR`, a
//! folder of its own, on its own port), so no other test loses its server; it runs where the
//! PostgreSQL tests run (`WAYMARK_TEST_PG` set), is skipped visibly elsewhere and fails under
//! `CI=true` without it.

#![cfg(feature = "postgres")]

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::store::{assert_same_tables, database_on, Store};
use util::Dir;

/// A private cluster, stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    url: String,
}

impl Cluster {
    /// Starts the cluster of the test `name` (a folder and a port of its own).
    fn start(name: &str) -> Option<Cluster> {
        if std::env::var("WAYMARK_TEST_PG").is_err() {
            util::skipped(
                "PostgreSQL restart",
                "WAYMARK_TEST_PG is not set (eval \"$(scripts/pg.sh)\")",
                true,
            );
            return None;
        }
        let dir =
            std::env::temp_dir().join(format!("waymark-pg-restart-{name}-{}", std::process::id()));
        let mut cluster = Cluster { dir, url: String::new() };
        let out = cluster.pg_sh("start");
        cluster.url = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("export WAYMARK_TEST_PG="))
            .unwrap_or_else(|| panic!("pg.sh start printed {out:?}"))
            .to_owned();
        Some(cluster)
    }

    fn pg_sh(&self, command: &str) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(command)
            .env("WAYMARK_PG_DIR", &self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/pg.sh");
        assert!(out.status.success(), "pg.sh {command}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.pg_sh("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Events stored so far, or `None` while the server does not answer.
fn stored(url: &str) -> Option<i64> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).ok()?;
    c.query_one("SELECT count(*) FROM events", &[]).ok().map(|r| r.get(0))
}

#[test]
fn postgres_restarted_twice_mid_ingest_loses_and_doubles_nothing() {
    let Some(cluster) = Cluster::start("ingest") else { return };
    let pg = database_on(&cluster.url, "restart");
    let dir = Dir::new();
    let (records, truth) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    let args = ["--flows", "25000", "--seed", "23", "--noise", "0.01", "--p-reason-first", "0.3"];
    util::simulate(&dir, &args, &records, &truth);
    // Small batches: many commits, so that a restart cuts one off.
    let config = dir.write("small.toml", b"[ingest]\nbatch_records = 500\n");
    let ingest = |db: &Path| {
        let mut c = dir.cmd_db(db);
        c.arg("--config").arg(&config).args(["-v", "ingest"]).arg(&records);
        c
    };
    let clean = dir.path("clean.db");
    util::assert_success(&ingest(&clean).output().expect("ingest"), &["ingest into SQLite"]);

    let log_path = dir.path("ingest.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut child =
        ingest(Path::new(&pg)).stdout(Stdio::null()).stderr(log).spawn().expect("spawn ingest");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    for round in 1..=2 {
        // The run is writing: more events than at the last restart.
        let (t, before) = (Instant::now(), stored(&pg).unwrap_or(0));
        while stored(&pg).unwrap_or(0) < before + 3000 {
            assert!(
                child.try_wait().expect("try_wait").is_none(),
                "ingest ended before restart {round}: make the input bigger\n{}",
                log()
            );
            assert!(t.elapsed() < Duration::from_secs(120), "no progress\n{}", log());
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster.pg_sh("restart");
    }
    let status = child.wait().expect("wait");
    let log = log();
    assert!(status.success(), "ingest failed after the restarts ({status}):\n{log}");
    assert!(log.contains("reconnected to PostgreSQL"), "no reconnect was needed:\n{log}");
    for line in log.lines().filter(|l| l.contains("reconnect")) {
        eprintln!("{line}");
    }

    let (got, want) = (Store::of(Path::new(&pg)), Store::of(&clean));
    assert_same_tables(&got, &want);
    assert_eq!(got.events(), util::truth(&truth), "events vs the truth");
    // No batch stored twice: the batches account for every record once, as one clean run.
    let sums = "SELECT sum(records), sum(events), sum(dead_letters) FROM batches";
    assert_eq!(got.rows(sums), want.rows(sums), "{sums}");
    assert_eq!(
        got.count(
            "SELECT count(*) FROM events WHERE status = 'FAILURE' AND failure_reason IS NULL"
        ),
        0
    );
}

/// `serve` on PostgreSQL following a file that grows, the server restarted twice meanwhile:
/// its file source reconnects and goes on, its API answers, SIGTERM stops it cleanly, and the
/// store holds the truth — the same dead letters and records as one ingest of the final file
/// into SQLite, no batch twice.
#[test]
fn postgres_restarted_twice_while_serve_follows_a_file_loses_and_doubles_nothing() {
    use std::io::{BufRead as _, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let Some(cluster) = Cluster::start("serve") else { return };
    let pg = database_on(&cluster.url, "serve");
    let dir = Dir::new();
    let (records, truth) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    util::simulate(&dir, &["--flows", "3000", "--seed", "29", "--noise", "0.01"], &records, &truth);
    let all = std::fs::read(&records).expect("records");
    let logs = dir.path("logs");
    std::fs::create_dir(&logs).expect("logs");
    let app = logs.join("app.log");
    let config = util::file_source_config(&dir, &logs.join("*"));
    // The writer: whole lines, 100 at a time every 20 ms.
    let lines: Vec<Vec<u8>> = all.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let total = lines.len();
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (app, written) = (app.clone(), Arc::clone(&written));
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&app).unwrap();
            for chunk in lines.chunks(100) {
                f.write_all(&chunk.concat()).expect("append");
                written.fetch_add(chunk.len(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let log_path = dir.path("serve.log");
    let mut serve = dir
        .cmd_db(Path::new(&pg))
        .arg("--config")
        .arg(&config)
        .args(["-v", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .spawn()
        .expect("serve");
    let mut line = String::new();
    std::io::BufReader::new(serve.stdout.take().expect("stdout")).read_line(&mut line).unwrap();
    let base = line.trim().rsplit(' ').next().expect("address").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    for part in [3, 2] {
        while written.load(Ordering::SeqCst) < total / part {
            std::thread::sleep(Duration::from_millis(10));
        }
        cluster.pg_sh("restart");
    }
    writer.join().expect("writer");
    let want = util::truth(&truth);
    let status = || -> Option<serde_json::Value> {
        let body = ureq::get(&format!("{base}/api/v1/status")).call().ok()?.into_body();
        serde_json::from_str(&body.into_with_config().read_to_string().ok()?).ok()
    };
    let t = Instant::now();
    while status().and_then(|s| s["events"].as_u64()) != Some(want.len() as u64) {
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "not all events followed:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let sent = Command::new("kill").args(["-TERM", &serve.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let exit = serve.wait().expect("wait");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(exit.success(), "serve after SIGTERM: {exit}\n{log}");
    assert!(log.contains("reconnected to PostgreSQL"), "no reconnect was needed:\n{log}");

    let once = dir.path("once.db");
    util::assert_success(&dir.cmd_db(&once).arg("ingest").arg(&app).output().unwrap(), &["ingest"]);
    let (got, once) = (Store::of(Path::new(&pg)), Store::of(&once));
    util::assert_same_rows(&got.events(), &want, "events vs the truth");
    for sql in [
        format!(
            "SELECT position, kind, raw_len, {} FROM dead_letters ORDER BY position",
            got.hex("raw")
        ),
        "SELECT sum(records), sum(dead_letters) FROM batches".to_owned(),
    ] {
        let other = sql.replace(&got.hex("raw"), &once.hex("raw"));
        assert_eq!(got.rows(&sql), once.rows(&other), "{sql}");
    }
}
