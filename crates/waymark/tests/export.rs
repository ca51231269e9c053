//! `waymark export` end to end, through the binary: every table in every format read back by
//! pyarrow, pandas and DuckDB (a venv that `scripts/py-venv.sh` creates) equal to the store's
//! rows, types included; `--since-last` giving every row exactly once across ingests and across
//! a kill and a rerun.

mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use util::Dir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, or `None` after saying SKIPPED (a failure under CI=true).
fn python() -> Option<PathBuf> {
    let out = Command::new("bash").arg(repo().join("scripts/py-venv.sh")).output();
    match out {
        Ok(o) if o.status.success() => {
            Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_owned()))
        }
        Ok(o) => {
            util::skipped("export read-back", &String::from_utf8_lossy(&o.stderr), true);
            None
        }
        Err(e) => {
            util::skipped("export read-back", &e.to_string(), true);
            None
        }
    }
}

/// A store with every exportable table filled: events, dead letters and orphans from the
/// ingest of the demo's flows and a split failure left alone; runs and scan results from the
/// ETL fixtures scanned and audited.
fn filled() -> Dir {
    let d = Dir::new();
    d.run(&["demo", "--flows", "200"]);
    let lonely = concat!(
        r#"{"system": "fedebom", "checkpoint": "CHECKPOINT_1", "status": "FAILURE", "timestamp": "2025-05-04T10:30:04", "correlation_id": "lonely-1"}"#,
        "\n",
        r#"{"system": "fedebom", "correlation_id": "lonely-2", "failure_reason": "nobody, \"waits\""}"#,
        "\n",
        r#"{"system": "fedebom", "checkpoint": "INITIATED", "status": "SUCCESS", "timestamp": "2025-05-04T13:00:00", "correlation_id": "late"}"#,
        "\n",
    );
    let log = d.write("lonely.log", lonely.as_bytes());
    d.run(&["ingest", log.to_str().unwrap()]);
    let etl = repo().join("fixtures/etl");
    d.run(&["scan", etl.to_str().unwrap()]);
    d.run(&["audit"]);
    d
}

/// The test's own reading of a table (not the export code's): the columns with their types
/// and the rows in the export's order.
fn oracle(table: &str) -> (&'static [(&'static str, &'static str)], &'static str) {
    match table {
        "events" => (
            &[
                ("source_id", "int"),
                ("position", "int"),
                ("source", "text"),
                ("system_id", "text"),
                ("checkpoint_id", "text"),
                ("timestamp", "ts"),
                ("status", "text"),
                ("correlation_id", "text"),
                ("failure_reason", "text"),
                ("batch_id", "int"),
                ("ingested_at", "ts"),
            ],
            "SELECT e.source_id, e.position, s.name, e.system_id, e.checkpoint_id, e.timestamp,
                    e.status, e.correlation_id, e.failure_reason, e.batch_id, b.committed_at
             FROM events e JOIN sources s ON s.id = e.source_id JOIN batches b ON b.id = e.batch_id
             ORDER BY e.source_id, e.position",
        ),
        "runs" => (
            &[
                ("run_key", "text"),
                ("system_type", "text"),
                ("folder_name", "text"),
                ("workflow_name", "text"),
                ("session_name", "text"),
                ("run_id", "text"),
                ("start_time", "ts"),
                ("end_time", "ts"),
                ("duration_seconds", "float"),
                ("status", "text"),
                ("source_rows", "int"),
                ("target_rows", "int"),
                ("rejected_rows", "int"),
                ("source_name", "list"),
                ("target_name", "list"),
                ("error_message", "text"),
                ("log_file", "text"),
                ("logscan_id", "int"),
                ("created_at", "ts"),
                ("updated_at", "ts"),
            ],
            "SELECT run_key, system_type, folder_name, workflow_name, session_name, run_id,
                    start_time, end_time, duration_seconds, status, source_rows, target_rows,
                    rejected_rows, source_name, target_name, error_message, log_file, logscan_id,
                    created_at, updated_at
             FROM etl_log_audit ORDER BY id",
        ),
        "scan-results" => (
            &[
                ("id", "int"),
                ("logscan_id", "int"),
                ("file_path", "text"),
                ("system_type", "text"),
                ("rule", "text"),
                ("severity", "text"),
                ("line_number", "int"),
                ("byte_offset", "int"),
                ("line", "text"),
                ("line_timestamp", "ts"),
                ("scanned_at", "ts"),
            ],
            "SELECT id, logscan_id, file_path, system_type, rule, severity, line_number,
                    byte_offset, line, line_timestamp, scanned_at
             FROM logscan_results ORDER BY id",
        ),
        "dead-letters" => (
            &[
                ("id", "int"),
                ("source_id", "int"),
                ("position", "int"),
                ("source", "text"),
                ("kind", "text"),
                ("reason", "text"),
                ("raw", "text"),
                ("raw_len", "int"),
                ("created_at", "ts"),
            ],
            "SELECT d.id, d.source_id, d.position, s.name, d.kind, d.reason, CAST(d.raw AS TEXT),
                    d.raw_len, d.created_at
             FROM dead_letters d JOIN sources s ON s.id = d.source_id ORDER BY d.id",
        ),
        "orphans" => (
            &[
                ("source_id", "int"),
                ("position", "int"),
                ("source", "text"),
                ("kind", "text"),
                ("system_id", "text"),
                ("correlation_id", "text"),
                ("timestamp", "ts"),
                ("reason", "text"),
                ("created_at", "ts"),
            ],
            "SELECT p.source_id, p.position, s.name, p.kind, p.system_id, p.correlation_id,
                    p.ts_us, p.reason, p.created_at
             FROM join_pending p JOIN sources s ON s.id = p.source_id
             WHERE p.state = 'orphan' ORDER BY p.source_id, p.position",
        ),
        other => panic!("no oracle for {other}"),
    }
}

/// The table as JSON: `{"columns": [[name, type]...], "rows": [[...]...]}`.
fn expected(db: &Path, table: &str) -> serde_json::Value {
    let (columns, sql) = oracle(table);
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let rows: Vec<serde_json::Value> = stmt
        .query_map([], |r| {
            (0..columns.len())
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => serde_json::Value::Null,
                        rusqlite::types::ValueRef::Integer(v) => v.into(),
                        rusqlite::types::ValueRef::Real(v) => v.into(),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned().into()
                        }
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
                .map(serde_json::Value::from)
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    serde_json::json!({ "columns": columns, "rows": rows })
}

#[test]
fn every_table_in_every_format_reads_back_equal_to_the_store() {
    let Some(python) = python() else { return };
    let d = filled();
    let check = repo().join("crates/waymark/tests/export_check.py");
    // One python for every file: pandas and pyarrow load once.
    let mut args = Vec::new();
    let mut want_out = String::new();
    for table in ["events", "runs", "scan-results", "dead-letters", "orphans"] {
        let want = expected(&d.db(), table);
        let n = want["rows"].as_array().unwrap().len();
        assert!(n > 0, "the fixture fills {table}");
        let want_path = d.write(&format!("{table}.expected.json"), want.to_string().as_bytes());
        for format in ["parquet", "csv", "jsonl"] {
            let file = d.path(&format!("{table}.{format}"));
            d.run(&["export", table, "--format", format, "--output", file.to_str().unwrap()]);
            args.extend([
                format.to_owned(),
                file.display().to_string(),
                want_path.display().to_string(),
            ]);
            want_out.push_str(&format!("ok {n} rows\n"));
        }
    }
    let out = Command::new(&python).arg(&check).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), want_out);
    // DuckDB queries the Parquet file: counts by status equal the store's, times are times.
    let parquet = d.path("events.parquet");
    let sql = format!(
        "SELECT status, count(*), typeof(min(timestamp)) FROM '{}' GROUP BY status ORDER BY status",
        parquet.display()
    );
    let out = Command::new(&python)
        .args(["-c", "import duckdb, sys; print(duckdb.sql(sys.argv[1]).fetchall())", &sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<(String, i64)> =
        util::rows(&d.db(), "SELECT status, count(*) FROM events GROUP BY status ORDER BY status")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
    let want = want
        .iter()
        .map(|(s, n)| format!("('{s}', {n}, 'TIMESTAMP WITH TIME ZONE')"))
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("[{want}]"));
}

/// The `(source, position)` of every event a JSON lines export printed.
fn keys(jsonl: &str) -> Vec<(i64, i64)> {
    jsonl
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["source_id"].as_i64().unwrap(), v["position"].as_i64().unwrap())
        })
        .collect()
}

fn all_keys(db: &Path) -> Vec<(i64, i64)> {
    util::rows(db, "SELECT source_id, position FROM events ORDER BY source_id, position")
        .into_iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect()
}

/// Each key once: a count per key.
fn counts(parts: &[Vec<(i64, i64)>]) -> BTreeMap<(i64, i64), usize> {
    let mut seen = BTreeMap::new();
    for k in parts.iter().flatten() {
        *seen.entry(*k).or_insert(0) += 1;
    }
    seen
}

/// Appends `n` flows' worth of events to a log (new rows in an existing source).
fn append_events(d: &Dir, name: &str, from: usize, n: usize) -> String {
    use std::io::Write as _;
    let path = d.path(name);
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
    for i in from..from + n {
        writeln!(
            f,
            r#"{{"system": "fedebom", "checkpoint": "INITIATED", "status": "SUCCESS", "timestamp": "2025-05-04T10:30:{:02}", "correlation_id": "flow-{i}"}}"#,
            i % 60
        )
        .unwrap();
    }
    path.to_str().unwrap().to_owned()
}

#[test]
fn three_exports_around_two_ingests_give_every_row_once() {
    let d = Dir::new();
    let a = append_events(&d, "a.log", 0, 50);
    d.run(&["ingest", &a]);
    let mut parts =
        vec![keys(&d.run(&["export", "events", "--format", "jsonl", "--since-last", "n"]))];
    // New rows in the same source (keys that sort among the exported ones) and a new source.
    append_events(&d, "a.log", 50, 30);
    // Other records than a.log's (a file identical to the start of one being read is a copy).
    let b = append_events(&d, "b.log", 100, 20);
    d.run(&["ingest", &a, &b]);
    parts.push(keys(&d.run(&["export", "events", "--format", "jsonl", "--since-last", "n"])));
    append_events(&d, "b.log", 120, 10);
    d.run(&["ingest", &b]);
    parts.push(keys(&d.run(&["export", "events", "--format", "jsonl", "--since-last", "n"])));
    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 10]);
    let seen = counts(&parts);
    assert!(seen.values().all(|&c| c == 1), "a row exported twice");
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), all_keys(&d.db()));
    // A fourth export has nothing new; another name starts from the beginning.
    assert!(d.run(&["export", "events", "--format", "jsonl", "--since-last", "n"]).is_empty());
    let other = keys(&d.run(&["export", "events", "--format", "jsonl", "--since-last", "m"]));
    assert_eq!(other.len(), 110);
    // Another filter under the same name would skip rows for good: refused.
    let out = d
        .cmd()
        .args(["export", "events", "--format", "jsonl", "--since-last", "n", "--status", "FAILURE"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another filter"));
}

#[test]
fn a_killed_export_then_a_rerun_gives_every_row_once() {
    let d = Dir::new();
    // Enough rows that the export blocks on a full pipe long before it is done.
    let a = append_events(&d, "a.log", 0, 20_000);
    d.run(&["ingest", &a]);
    let first = keys(&d.run(&["export", "events", "--format", "jsonl", "--since-last", "n"]));
    assert_eq!(first.len(), 20_000);
    append_events(&d, "a.log", 20_000, 20_000);
    d.run(&["ingest", &a]);
    let mut child = d
        .cmd()
        .args(["export", "events", "--format", "jsonl", "--since-last", "n"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("flow-20000"), "the export started where the last one ended: {line}");
    // Killed in the middle of its output (it waits on the pipe we stopped reading).
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    drop(reader);
    // The rerun gives the rows the killed run had begun, none of the first export's.
    let second = keys(&d.run(&["export", "events", "--format", "jsonl", "--since-last", "n"]));
    assert_eq!(second.len(), 20_000);
    let seen = counts(&[first, second]);
    assert!(seen.values().all(|&c| c == 1), "a row exported twice");
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), all_keys(&d.db()));
}

#[test]
fn a_file_export_is_renamed_into_place_whole() {
    let d = Dir::new();
    let a = append_events(&d, "a.log", 0, 100);
    d.run(&["ingest", &a]);
    let out = d.path("e.parquet");
    // A partial file left by a killed run is overwritten, never taken for output.
    std::fs::write(d.path(".e.parquet.partial"), b"half a file").unwrap();
    d.run(&[
        "export",
        "events",
        "--format",
        "parquet",
        "-o",
        out.to_str().unwrap(),
        "--since-last",
        "n",
    ]);
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"), "a whole Parquet file");
    assert!(!d.path(".e.parquet.partial").exists(), "the partial file was renamed");
    let logged = util::rows(&d.db(), "SELECT name, table_name, rows, target FROM export_log");
    assert_eq!(logged, [["n", "events", "100", out.to_str().unwrap()]]);
    // Parquet needs a file; dead letters have no system.
    let refused = |args: &[&str]| !d.cmd().args(args).output().unwrap().status.success();
    assert!(refused(&["export", "events", "--format", "parquet"]));
    assert!(refused(&["export", "dead-letters", "--format", "csv", "--system", "cmf"]));
}
