//! `waymark audit` and `waymark runs` end to end, through the binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/etl").join(rel)
}

fn waymark(db: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("WAYMARK_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "waymark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn runs_json(db: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["runs", "--json"];
    all.extend_from_slice(args);
    waymark(db, &all).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The byte offset of the end of the line containing `marker`'s predecessor: everything
/// before the first line that contains `marker`.
fn split_before(bytes: &[u8], marker: &str) -> usize {
    let text = std::str::from_utf8(bytes).unwrap();
    let at = text.find(marker).unwrap();
    text[..at].rfind('\n').unwrap() + 1
}

fn expected_run(rel: &str) -> Value {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap();
    v["runs"][0].clone()
}

fn assert_matches_expected(got: &Value, want: &Value) {
    for key in ["folder_name", "workflow_name", "session_name", "run_id", "status"] {
        assert_eq!(got[key], want[key], "{key}");
    }
    for key in ["start_time", "end_time", "source_rows", "target_rows", "rejected_rows"] {
        assert_eq!(got[key], want[key], "{key}");
    }
    for key in ["source_name", "target_name", "error_message", "duration_seconds"] {
        assert_eq!(got[key], want[key], "{key}");
    }
}

/// Issue 4: a log written in two halves. After the first half the row is RUNNING with its
/// start time and names; after the second it is complete and nothing known was lost.
#[test]
fn a_session_log_written_in_two_halves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let log = dir.path().join("s_m_load_customer_orders.log");
    let bytes = std::fs::read(fixture("infa_session/classic_success.log")).unwrap();
    let half = split_before(&bytes, "WRT_8036 Target: ORDER_FACT");
    std::fs::write(&log, &bytes[..half]).unwrap();
    let log_arg = log.to_str().unwrap();

    let out = waymark(&db, &["audit", "--file", log_arg]);
    assert!(out.contains("1 run(s) inserted"), "{out}");
    let runs = runs_json(&db, &[]);
    assert_eq!(runs.len(), 1);
    let first = &runs[0];
    assert_eq!(first["status"], "RUNNING");
    assert_eq!(first["start_time"], "2025-01-06T02:00:04Z");
    assert_eq!(first["end_time"], Value::Null);
    assert_eq!(first["session_name"], "s_m_load_customer_orders");
    assert_eq!(first["folder_name"], "FIN_DWH");
    assert_eq!(first["run_id"], "118204");
    assert_eq!(first["source_name"], serde_json::json!(["CUSTOMERS", "ORDERS"]));
    assert_eq!(first["target_name"], serde_json::json!(["CUSTOMER_DIM", "ORDER_FACT"]));
    assert_eq!(first["source_rows"], 25189);
    assert_eq!(first["target_rows"], 4812, "the first target's WRT_8036 line only");

    // The same half again changes nothing.
    let out = waymark(&db, &["audit", "--file", log_arg]);
    assert!(out.contains("1 unchanged"), "{out}");

    std::fs::write(&log, &bytes).unwrap();
    let out = waymark(&db, &["audit", "--file", log_arg]);
    assert!(out.contains("1 updated"), "{out}");
    let runs = runs_json(&db, &[]);
    assert_eq!(runs.len(), 1, "the same run, updated in place");
    assert_matches_expected(&runs[0], &expected_run("infa_session/classic_success.expected.json"));

    // Reading the first half again (an older copy) never blanks what is known.
    std::fs::write(&log, &bytes[..half]).unwrap();
    waymark(&db, &["audit", "--file", log_arg]);
    let runs = runs_json(&db, &[]);
    assert_eq!(runs[0]["status"], "SUCCESS");
    assert_eq!(runs[0]["end_time"], "2025-01-06T02:01:15Z");
    assert_eq!(runs[0]["target_rows"], 25186);
}

/// `waymark audit` over what `waymark scan` recorded in `scanned_files`, inserted here by
/// hand so that this test does not depend on the scanner.
#[test]
fn audit_follows_scanned_files_and_a_rerun_does_no_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let log = dir.path().join("two_runs.log");
    let bytes = std::fs::read(fixture("infa_session/two_runs.log")).unwrap();
    std::fs::write(&log, &bytes).unwrap();
    let half = split_before(&bytes, "BLKR_16019 Read [168]");
    let store = waymark_store::SqliteStore::open(&db).unwrap();
    let scanned = |position: usize| {
        store
            .connection()
            .execute_batch(&format!(
                "INSERT INTO scanned_files (logscan_id, file_path, system_type, size, position,
                    first_scanned_at, scanned_at)
                 VALUES (5, '{}', 'INFA_SESSION', {position}, {position},
                    '2025-01-08T06:00:00Z', '2025-01-08T06:00:00Z')
                 ON CONFLICT(logscan_id) DO UPDATE SET position = excluded.position",
                log.display()
            ))
            .unwrap();
    };
    scanned(half);
    let out = waymark(&db, &["audit"]);
    assert!(out.contains("audited 1 document(s): 2 run(s) inserted"), "{out}");
    let runs = runs_json(&db, &[]);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "FAILURE");
    assert_eq!(runs[1]["status"], "RUNNING");
    assert_eq!(runs[1]["run_id"], "55127");
    assert_eq!(runs[1]["source_rows"], Value::Null, "not read yet: unknown, not 0");
    assert_eq!(runs[1]["logscan_id"], 5);

    let out = waymark(&db, &["audit"]);
    assert!(out.contains("audited 0 document(s)"), "a rerun does no work: {out}");

    scanned(bytes.len());
    let out = waymark(&db, &["audit"]);
    assert!(out.contains("1 updated, 1 unchanged"), "{out}");
    let runs = runs_json(&db, &[]);
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("infa_session/two_runs.expected.json")).unwrap(),
    )
    .unwrap();
    assert_matches_expected(&runs[0], &want["runs"][0]);
    assert_matches_expected(&runs[1], &want["runs"][1]);
}

#[test]
fn runs_lists_with_filters_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    for (rel, system) in [
        ("infa_session/monitor_export.txt", None),
        ("infa_session/classic_running.log", None),
        ("dbt/run_results.json", Some("DBT")),
        ("jenkins/jenkins_pipeline_failed.log", Some("JENKINS")),
    ] {
        let path = fixture(rel);
        let mut args = vec!["audit", "--file", path.to_str().unwrap()];
        if let Some(t) = system {
            args.extend(["--system-type", t]);
        }
        waymark(&db, &args);
    }
    assert_eq!(runs_json(&db, &[]).len(), 4, "the dbt invocation is one run (issue 14)");
    let failed = runs_json(&db, &["--status", "failure"]);
    let names: Vec<&str> = failed.iter().map(|r| r["system_type"].as_str().unwrap()).collect();
    assert_eq!(names, ["DBT", "INFA_SESSION", "JENKINS"], "in order of start, none last");
    let dbt = runs_json(&db, &["--system", "DBT"]);
    assert_eq!(dbt.len(), 1);
    assert_eq!(dbt[0]["steps"].as_array().map(Vec::len), Some(4), "its nodes are its steps");
    let window =
        runs_json(&db, &["--since", "2025-01-06T06:00:00Z", "--until", "2025-01-06T07:00:00Z"]);
    assert_eq!(window.len(), 1, "the dbt invocation");
    // 2400 read, 1000 applied + 2 rejected; and a session RUNNING since January 2025.
    let flagged = runs_json(&db, &["--flagged"]);
    let flags: Vec<(String, Value)> = flagged
        .iter()
        .map(|r| (r["session_name"].as_str().unwrap().to_owned(), r["flags"].clone()))
        .collect();
    assert_eq!(
        flags,
        [
            ("s_m_snapshot_inventory".to_owned(), serde_json::json!(["stale_running"])),
            ("s_m_load_shipments".to_owned(), serde_json::json!(["count_mismatch"])),
        ]
    );
    let table = waymark(&db, &["runs", "--status", "FAILURE"]);
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("start_time") && header.contains("status"), "{table}");
    assert!(table.contains("WRT_8229 Database errors occurred:"), "{table}");
    assert!(table.ends_with("3 run(s)\n"), "{table}");
}

#[test]
fn bad_status_filter_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .arg("--db")
        .arg(dir.path().join("w.db"))
        .args(["runs", "--status", "DONE"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a status"));
}

/// Issue 4, through the scanner: `waymark scan --audit` of a session log written in two halves
/// (appended to, as a running session does). The half line at the cut is not read until it is
/// complete; the row is RUNNING, then complete, with nothing known lost.
#[test]
fn scan_audit_of_a_log_appended_while_the_session_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let logs = dir.path().join("SessLogs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("s_m_load_customer_orders.log");
    let bytes = std::fs::read(fixture("infa_session/classic_success.log")).unwrap();
    // Cut in the middle of a line, as a writer's buffer flush does.
    let half = split_before(&bytes, "WRT_8036 Target: ORDER_FACT") + 7;
    std::fs::write(&log, &bytes[..half]).unwrap();
    let logs_arg = logs.to_str().unwrap();

    let out = waymark(&db, &["scan", "--audit", "--json", logs_arg]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["audit"]["inserted"], 1, "{out}");
    let runs = runs_json(&db, &[]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "RUNNING");
    assert_eq!(runs[0]["start_time"], "2025-01-06T02:00:04Z");
    assert_eq!(runs[0]["session_name"], "s_m_load_customer_orders");
    assert_eq!(runs[0]["target_rows"], 4812);

    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(&bytes[half..]).unwrap();
    let out = waymark(&db, &["scan", "--audit", "--json", logs_arg]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["audit"]["updated"], 1, "{out}");
    let runs = runs_json(&db, &[]);
    assert_eq!(runs.len(), 1, "one run, updated in place");
    assert_matches_expected(&runs[0], &expected_run("infa_session/classic_success.expected.json"));
    // Each matched line was stored once across the two scans.
    let out = waymark(
        &db,
        &["sql", "SELECT count(*) - count(DISTINCT byte_offset || rule) FROM logscan_results"],
    );
    assert!(out.lines().nth(1).is_some_and(|l| l.trim() == "0"), "{out}");
}
