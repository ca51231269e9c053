//! `waymark ingest` end to end: truth comparison, exactly-once across reruns and crashes,
//! dead letters, stdin, and the queries on top.

mod util;

use std::io::Write;
use std::process::Stdio;

use util::{count, events, rows, simulate, truth, Dir};

#[test]
fn thousands_of_interleaved_flows_match_the_truth_row_for_row() {
    let dir = Dir::new();
    util::scenario::interleaved_flows_match_the_truth(&dir, &dir.db());
}

#[test]
fn reruns_add_nothing_and_appended_lines_are_read_once() {
    let dir = Dir::new();
    let (records, truth_path) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    simulate(&dir, &["--flows", "300", "--seed", "3"], &records, &truth_path);
    let all = std::fs::read(&records).unwrap();
    let cut = all.len() / 2 + 17; // in the middle of a line
    std::fs::write(&records, &all[..cut]).unwrap();
    let first: serde_json::Value =
        serde_json::from_str(&dir.run(&["ingest", "--json", "flows.log"])).unwrap();
    assert!(first["inputs"][0]["unterminated_bytes"].as_u64().unwrap() > 0, "the cut line waits");
    let again: serde_json::Value =
        serde_json::from_str(&dir.run(&["ingest", "--json", "flows.log"])).unwrap();
    assert_eq!(again["records"].as_u64(), Some(0));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&records)
        .unwrap()
        .write_all(&all[cut..])
        .unwrap();
    dir.run(&["ingest", "flows.log"]);
    util::assert_same_rows(&events(&dir.db()), &truth(&truth_path), "events vs truth");
    assert_eq!(
        count(&dir.db(), "SELECT count(*) FROM dead_letters"),
        0,
        "the cut line was not split"
    );
}

#[test]
fn a_replaced_or_truncated_file_is_a_new_version() {
    let dir = Dir::new();
    let line = |i: u32| {
        format!("2025-05-04T10:30:{:02} BCIS: CHECKPOINT_A - SUCCESS (ID: id-{i})\n", i % 60)
    };
    let v1: String = (0..10).map(line).collect();
    let p = dir.write("bcis.log", v1.as_bytes());
    dir.run(&["ingest", p.to_str().unwrap()]);
    // Same length, different content: another run's log written over the first.
    let v2: String = (10..20).map(line).collect();
    std::fs::write(&p, v2.as_bytes()).unwrap();
    let out = dir.run(&["ingest", "bcis.log"]);
    assert!(out.contains("replaced since the last run"), "{out}");
    std::fs::write(&p, line(30).as_bytes()).unwrap();
    let out = dir.run(&["ingest", "bcis.log"]);
    assert!(out.contains("truncated since the last run"), "{out}");
    assert_eq!(count(&dir.db(), "SELECT count(*) FROM events"), 21);
    assert_eq!(count(&dir.db(), "SELECT count(DISTINCT correlation_id) FROM events"), 21);
}

#[test]
fn killed_at_random_points_then_resumed_gives_the_tables_of_one_clean_run() {
    let dir = Dir::new();
    let crashed = dir.path("crashed.db");
    let delays = [15, 40, 5, 70, 25, 55, 10, 90];
    util::scenario::killed_and_resumed_gives_one_clean_run(&dir, &crashed, &delays, 3);
}

#[test]
fn stdin_blank_lines_and_bad_records_become_counts_and_dead_letters() {
    let dir = Dir::new();
    let input = b"2025-05-04T10:32:00 CMF: CMF_CHECKPOINT_2 - FAILURE (ID: def-456)\n\n\
        {\"system\": \"fedebom\", \"checkpoint\": \"C\n\
        \xff\xfe\n\
        2025-05-04T10:32:01 CMF CMF_ERROR: (ID: def-456) - CMF_FAILURE_REASON_1";
    let mut child = dir
        .cmd()
        .args(["ingest", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    util::assert_success(&out, &["ingest -"]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["records"].as_u64(), s["blank"].as_u64(), s["dead_letters"].as_u64()),
        (Some(5), Some(1), Some(2))
    );
    assert_eq!(s["dead_letters_by_kind"]["bad_json"].as_u64(), Some(1));
    assert_eq!(s["dead_letters_by_kind"]["invalid_utf8"].as_u64(), Some(1));
    assert_eq!(
        s["reasons_joined"].as_u64(),
        Some(1),
        "stdin's last line has no newline and still counts"
    );
    let trace: serde_json::Value =
        serde_json::from_str(&dir.run(&["trace", "def-456", "--json"])).unwrap();
    assert_eq!(trace["events"][0]["failure_reason"], "CMF_FAILURE_REASON_1");
    assert_eq!(trace["events"][0]["timestamp"], "2025-05-04T10:32:00Z");
    assert_eq!(trace["events"][0]["system_id"], "cmf");
    let dl = dir.run(&["dead-letters"]);
    assert!(dl.contains("bad_json") && dl.contains("invalid_utf8"), "{dl}");
}

#[test]
fn trace_and_failures_answer_where_a_flow_stopped_and_why() {
    let dir = Dir::new();
    let log = "2025-05-04T10:30:00 BCIS: BCIS_INITIALIZED - SUCCESS (ID: f-1)\n\
        {\"system\": \"fedebom\", \"checkpoint\": \"CHECKPOINT_1\", \"status\": \"FAILURE\", \"timestamp\": \"2025-05-04T10:29:00\", \"correlation_id\": \"f-1\"}\n\
        2025-05-04T10:31:30 BCIS: BCIS_CHECKPOINT_1 - FAILURE (ID: f-1) - DISK_FULL\n\
        {\"system\": \"fedebom\", \"correlation_id\": \"f-1\", \"failure_reason\": \"FAILURE_REASON_2\"}\n\
        2025-05-04T10:40:00 BCIS: BCIS_INITIALIZED - SUCCESS (ID: f-2)\n";
    let p = dir.write("mixed.log", log.as_bytes());
    dir.run(&["ingest", p.to_str().unwrap()]);
    let out = dir.run(&["trace", "f-1"]);
    // fedebom never retried its failure, bcis failed last: both are where the flow stopped.
    assert!(
        out.contains("stopped with FAILURE at fedebom CHECKPOINT_1 (FAILURE_REASON_2); bcis BCIS_CHECKPOINT_1 (DISK_FULL)"),
        "{out}"
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("2025")).collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].contains("CHECKPOINT_1") && lines[0].contains("FAILURE_REASON_2"),
        "time order: {out}"
    );
    assert!(lines[1].contains("+1m00s") && lines[2].contains("+1m30s"), "{out}");
    let f = dir.run(&["failures", "--system", "bcis", "--json"]);
    assert_eq!(f.lines().count(), 1);
    let f = dir.run(&["failures", "--since", "2025-05-04T10:30:00Z", "--json"]);
    assert_eq!(f.lines().count(), 1, "{f}");
    let missing = dir.cmd().args(["trace", "nope"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn config_check_reports_every_error_with_path_and_line() {
    let dir = Dir::new();
    let bad = dir.write(
        "bad.toml",
        b"[[system]]\nname = \"x\"\nformat = \"regex\"\nmatch = { regex = '(' }\npattern = 'no captures'\n",
    );
    let out = dir.cmd().arg("--config").arg(&bad).args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4: system[0].match.regex: invalid regex"), "{err}");
    assert!(
        err.contains("bad.toml:5: system[0].pattern: no named capture `checkpoint_id`"),
        "{err}"
    );
    let ok = dir.run(&["config", "check"]);
    assert!(ok.contains("ok (4 systems: fedebom, reporting, cmf, bcis)"), "{ok}");
    let shown = dir.run(&["config", "show"]);
    assert!(shown.contains("name = \"cmf\""), "{shown}");
}

#[test]
fn demo_runs_the_main_job() {
    let dir = Dir::new();
    let out = dir.run(&["demo", "--flows", "300"]);
    assert!(out.contains("events stored"), "{out}");
    assert!(out.contains("stopped with FAILURE at"), "{out}");
    let again = dir.run(&["demo", "--flows", "300"]);
    assert!(again.contains("nothing new"), "{again}");
}

#[test]
fn batches_are_cut_by_bytes_as_well_as_records() {
    // 12 MiB of long records, far fewer than `batch_records`: memory is bounded by the bytes
    // held (issue 15), so they are stored in several transactions, each with its position.
    let dir = Dir::new();
    let (records, truth_path) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    simulate(&dir, &["--flows", "300", "--seed", "5"], &records, &truth_path);
    let padded: String = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| match l.strip_prefix('{') {
            Some(rest) => format!("{{\"pad\": \"{}\", {rest}\n", "x".repeat(6000)),
            None => format!("{l}\n"),
        })
        .collect();
    assert!(padded.len() > 12 << 20 && padded.lines().count() < 10_000, "{}", padded.len());
    std::fs::write(&records, padded).unwrap();
    dir.run(&["ingest", "flows.log"]);
    let batches = rows(&dir.db(), "SELECT records FROM batches ORDER BY id");
    assert!(batches.len() >= 3, "one transaction per 4 MiB of records: {batches:?}");
    util::assert_same_rows(&events(&dir.db()), &truth(&truth_path), "events vs truth");
}
