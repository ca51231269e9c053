//! `waymark export --to snowflake://…` end to end, through the binary, against fakesnow's
//! server mode (a Snowflake emulator speaking the connector protocol on 127.0.0.1, installed by
//! `scripts/fakesnow.sh`): the three tables read back through the official Python connector
//! equal waymark's own, and after SIGKILLs in the middle of loads and a rerun they still do,
//! nothing doubled.

mod util;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use util::Dir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The emulator, stopped when dropped.
struct Fakesnow {
    pid: u32,
    port: u16,
    python: PathBuf,
    log: PathBuf,
}

impl Drop for Fakesnow {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

/// Starts fakesnow, or `None` after saying SKIPPED (a failure under CI=true).
fn fakesnow(dir: &Dir) -> Option<Fakesnow> {
    let script = repo().join("scripts/fakesnow.sh");
    let install = Command::new("bash").arg(&script).arg("install").output();
    let python = match install {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        Ok(o) => {
            util::skipped("snowflake export", &String::from_utf8_lossy(&o.stderr), true);
            return None;
        }
        Err(e) => {
            util::skipped("snowflake export", &e.to_string(), true);
            return None;
        }
    };
    let logs = dir.path("fakesnow");
    let out = Command::new("bash").arg(&script).arg("start").arg(&logs).output().unwrap();
    assert!(out.status.success(), "fakesnow: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let pid = words.next().unwrap().parse().unwrap();
    let port = words.next().unwrap().parse().unwrap();
    Some(Fakesnow { pid, port, python, log: logs.join("fakesnow.log") })
}

impl Fakesnow {
    fn url(&self, schema: &str, extra: &str) -> String {
        format!(
            "snowflake://waymark@fakesnow/WAYMARK/{schema}?host=127.0.0.1&port={}&protocol=http\
             &warehouse=LOAD_WH&role=LOADER{extra}",
            self.port
        )
    }

    /// The statements the emulator has received so far (its access log).
    fn statements(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("POST /queries/v1/query-request")
            .count()
    }
}

/// A store with all three tables filled: the demo's flows (events) and the ETL fixtures scanned
/// and audited (scan results, runs).
fn filled() -> Dir {
    let d = Dir::new();
    d.run(&["demo", "--flows", "60"]);
    let etl = repo().join("fixtures/etl");
    d.run(&["scan", etl.to_str().unwrap()]);
    d.run(&["audit"]);
    d
}

fn export(d: &Dir, url: &str, extra: &[&str]) -> Child {
    d.cmd()
        .args(["export", "--to", url])
        .args(extra)
        .env("WAYMARK_SNOWFLAKE_PASSWORD", "test-password")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn load(d: &Dir, url: &str) -> String {
    let out = export(d, url, &[]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "export --to snowflake failed: {err}");
    err
}

/// Kills the load with SIGKILL once the emulator has received `after` more statements; says
/// whether it was still running then.
fn kill_during(d: &Dir, fs: &Fakesnow, url: &str, after: usize) -> bool {
    let start = fs.statements();
    let mut child = export(d, url, &[]);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the load failed before it was killed");
            return false;
        }
        if fs.statements() >= start + after {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            return !status.success();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// waymark's tables (its JSON lines export) and the warehouse's, read by the Python connector.
fn compare(d: &Dir, fs: &Fakesnow, schema: &str) -> Value {
    let mut args = vec![
        repo().join("crates/waymark/tests/snowflake_check.py").to_str().unwrap().to_owned(),
        fs.port.to_string(),
        "WAYMARK".to_owned(),
        schema.to_owned(),
    ];
    for (table, name) in
        [("LOGSCAN_RESULTS", "scan-results"), ("ETL_LOG_AUDIT", "runs"), ("EVENTS", "events")]
    {
        let path = d.path(&format!("{name}.jsonl"));
        let rows = d.run(&["export", name, "--format", "jsonl"]);
        std::fs::write(&path, rows).unwrap();
        args.push(format!("{table}={}", path.display()));
    }
    let out = Command::new(&fs.python).args(&args).output().unwrap();
    assert!(out.status.success(), "read-back: {}", String::from_utf8_lossy(&out.stderr));
    let tables: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (table, t) in tables.as_object().unwrap() {
        let mine = t["waymark"].as_array().unwrap();
        let theirs = t["snowflake"].as_array().unwrap();
        assert!(!mine.is_empty(), "{table}: waymark has rows to compare");
        assert_eq!(theirs.len(), mine.len(), "{table}: as many rows in snowflake as in waymark");
        for (a, b) in theirs.iter().zip(mine) {
            assert_eq!(a, b, "{table}: a row differs (snowflake, then waymark)");
        }
    }
    tables
}

#[test]
fn the_warehouse_tables_equal_waymarks_after_kills_and_reruns() {
    let d = filled();
    let Some(fs) = fakesnow(&d) else { return };

    // One clean load, then a second that finds nothing new.
    let clean = fs.url("CLEAN", "");
    let said = load(&d, &clean);
    assert!(said.contains("into ETL_LOG_AUDIT"), "{said}");
    let first = compare(&d, &fs, "CLEAN");
    let again = load(&d, &clean);
    assert!(again.matches("nothing new since the last load").count() == 3, "{again}");

    // Small statements (5 rows) and kills in the middle of loads, at several points, then a
    // load that runs to its end: the tables are those of the clean load.
    let killed = fs.url("KILLED", "&batch_rows=5");
    let mut landed = 0;
    for after in [4, 17, 40, 90] {
        if kill_during(&d, &fs, &killed, after) {
            landed += 1;
        }
    }
    assert!(landed >= 2, "the kills landed during loads ({landed} did)");
    load(&d, &killed);
    let after_kills = compare(&d, &fs, "KILLED");
    assert_eq!(after_kills, first, "the same tables as after one clean load");

    // New rows and updated runs: the next load brings exactly them.
    let lines: String = (0..40)
        .map(|i| {
            format!(
                "{{\"system\": \"fedebom\", \"checkpoint\": \"INITIATED\", \"status\": \"SUCCESS\", \
                 \"timestamp\": \"2025-05-04T11:00:{:02}\", \"correlation_id\": \"late-{i}\"}}\n",
                i % 60
            )
        })
        .collect();
    let late = d.write("late.log", lines.as_bytes());
    d.run(&["ingest", late.to_str().unwrap()]);
    // A session log that grows, loaded as it grows.
    let log = std::fs::read(repo().join("fixtures/etl/infa_session/classic_success.log")).unwrap();
    let half = log.len() / 2;
    let cut = half + log[half..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let grow = d.write("grow.log", &log[..cut]);
    d.run(&["scan", grow.to_str().unwrap()]);
    d.run(&["audit"]);
    let said = load(&d, &killed);
    assert!(said.contains("loaded 40 rows into EVENTS (40 inserted"), "{said}");
    compare(&d, &fs, "KILLED");
    std::fs::write(&grow, &log).unwrap();
    d.run(&["scan", grow.to_str().unwrap()]);
    d.run(&["audit"]);
    // (The audit of this fixture does not change the loaded run, so the MERGE's update path is
    // not reached here; its SQL is checked by the unit tests of `sql.rs`.)
    let said = load(&d, &killed);
    assert!(said.contains("into LOGSCAN_RESULTS ("), "{said}");
    compare(&d, &fs, "KILLED");

    // `serve` with a `[[sink]] type = "snowflake"` loads the same tables by itself, each round
    // only what is new.
    let config = d.write(
        "serve.toml",
        format!(
            "[[sink]]\ntype = \"snowflake\"\nname = \"wh\"\nurl = \"{}\"\ninterval_secs = 1\n",
            fs.url("SERVED", "")
        )
        .as_bytes(),
    );
    let mut serve = d
        .cmd()
        .env("WAYMARK_SNOWFLAKE_PASSWORD", "test")
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let loaded = |d: &Dir| {
        util::count(
            &d.db(),
            "SELECT count(DISTINCT table_name) FROM export_log WHERE name LIKE '%/SERVED'",
        )
    };
    let t = std::time::Instant::now();
    while loaded(&d) < 3 {
        assert!(t.elapsed().as_secs() < 120, "serve's sink did not load the three tables");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let last = util::count(&d.db(), "SELECT max(id) FROM export_log WHERE name LIKE '%/SERVED'");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let again = util::count(
        &d.db(),
        &format!(
            "SELECT count(*) FROM export_log WHERE name LIKE '%/SERVED' AND id > {last} AND rows > 0"
        ),
    );
    assert_eq!(again, 0, "the rounds after the first find nothing new to load");
    let _ = serve.kill();
    let _ = serve.wait();
    compare(&d, &fs, "SERVED");
    let _ = std::io::stderr().flush();
}
