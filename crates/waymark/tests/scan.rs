//! `waymark scan` end to end: the incremental cases (rescan, append, a line still being
//! written, truncate, rotate, copy-then-truncate, inode reuse, near-identical write-once logs,
//! gzip), the fixtures, the shared corpus, `--json`, `--rules-file` and unreadable inputs.

mod util;

use std::io::Write as _;
use std::path::Path;

use util::{count, rows, Dir};

fn scan(dir: &Dir, paths: &[&Path]) -> serde_json::Value {
    let mut args: Vec<String> = vec!["scan".into(), "--json".into()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    serde_json::from_str(&dir.run(&refs)).expect("scan --json prints JSON")
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

/// (line_number, line) of every stored match of a path, in order.
fn matches(dir: &Dir, path: &Path) -> Vec<(u64, String)> {
    let sql = format!(
        "SELECT line_number, line FROM logscan_results WHERE file_path = '{}' \
         ORDER BY logscan_id, line_number",
        path.display()
    );
    rows(&dir.db(), &sql).into_iter().map(|r| (r[0].parse().expect("n"), r[1].clone())).collect()
}

fn total(dir: &Dir) -> u64 {
    count(&dir.db(), "SELECT count(*) FROM logscan_results")
}

fn header() -> String {
    // Many write-once logs share a long identical header.
    (0..40).map(|i| format!("DIRECTOR> TM_6683 Repository Name: [REP_{i:02}] padding\n")).collect()
}

#[test]
fn rescan_adds_nothing_and_appended_lines_are_scanned_once() {
    let dir = Dir::new();
    let log = dir.write(
        "s.log",
        b"DIRECTOR> TM_6014 Initializing session [s] at [Mon Jan 06 02:00:04 2025].\nok\n",
    );
    let r = scan(&dir, &[&log]);
    assert_eq!((r["new_versions"].as_u64(), r["matches"].as_u64()), (Some(1), Some(1)));
    let r = scan(&dir, &[&log]);
    assert_eq!((r["unchanged"].as_u64(), r["matches"].as_u64()), (Some(1), Some(0)));
    // A line still being written is not scanned until its newline arrives.
    append(&log, "ORA-00942: table or view does not exist\nWRITER_1_*_1> WRT_8229 Database err");
    let r = scan(&dir, &[&log]);
    assert_eq!((r["appended"].as_u64(), r["matches"].as_u64()), (Some(1), Some(1)));
    append(&log, "ors occurred: \n");
    scan(&dir, &[&log]);
    scan(&dir, &[&log]);
    let got = matches(&dir, &log);
    assert_eq!(got.iter().map(|m| m.0).collect::<Vec<_>>(), [1, 3, 4]);
    assert_eq!(got[2].1, "WRITER_1_*_1> WRT_8229 Database errors occurred: ");
    assert_eq!(count(&dir.db(), "SELECT count(DISTINCT logscan_id) FROM logscan_results"), 1);
    let ts = rows(&dir.db(), "SELECT line_timestamp, byte_offset FROM logscan_results ORDER BY id");
    assert_eq!(ts[0], ["2025-01-06T02:00:04Z", "0"]);
}

#[test]
fn truncated_or_rewritten_files_are_new_versions() {
    let dir = Dir::new();
    let log = dir.write("t.log", format!("{}ORA-00001: a\nORA-00002: b\n", header()).as_bytes());
    scan(&dir, &[&log]);
    // Rewritten in place (same inode) with the same length and header: a new write-once log.
    std::fs::write(&log, format!("{}ORA-00003: c\nORA-00004: d\n", header())).expect("rewrite");
    let r = scan(&dir, &[&log]);
    assert_eq!(r["new_versions"].as_u64(), Some(1));
    // Truncated and shorter.
    std::fs::write(&log, "ORA-00005: e\n").expect("truncate");
    let r = scan(&dir, &[&log]);
    assert_eq!(r["new_versions"].as_u64(), Some(1));
    let versions = rows(&dir.db(), "SELECT state FROM scanned_files ORDER BY logscan_id");
    assert_eq!(versions, [["superseded"], ["superseded"], ["active"]]);
    assert_eq!(total(&dir), 5);
}

#[test]
fn rotation_keeps_the_version_under_its_new_name() {
    let dir = Dir::new();
    let log = dir.write("app.log", format!("{}ORA-00001: a\n", header()).as_bytes());
    scan(&dir, &[dir.tmp.path()]);
    append(&log, "ORA-00002: written before the rotation\n");
    std::fs::rename(&log, dir.path("app.log.1")).expect("rotate");
    dir.write("app.log", b"ORA-00003: new file\n");
    let r = scan(&dir, &[dir.tmp.path()]);
    assert_eq!((r["moved"].as_u64(), r["new_versions"].as_u64()), (Some(1), Some(1)));
    // The version's earlier rows keep the path they were found under; its id groups them.
    let sql = format!(
        "SELECT count(*) FROM logscan_results r JOIN scanned_files f USING (logscan_id) \
         WHERE f.file_path = '{}'",
        dir.path("app.log.1").display()
    );
    assert_eq!(count(&dir.db(), &sql), 2);
    let sql = format!(
        "SELECT r.line FROM logscan_results r JOIN scanned_files f USING (logscan_id) \
         WHERE f.file_path = '{}'",
        log.display()
    );
    assert_eq!(rows(&dir.db(), &sql), [["ORA-00003: new file"]]);
    assert_eq!(total(&dir), 3);
    assert_eq!(count(&dir.db(), "SELECT count(*) FROM scanned_files WHERE state = 'active'"), 2);
}

#[test]
fn copy_then_truncate_continues_in_the_copy() {
    let dir = Dir::new();
    let log = dir.write("job.log", format!("{}ORA-00001: a\n", header()).as_bytes());
    scan(&dir, &[dir.tmp.path()]);
    append(&log, "ORA-00002: b\n");
    std::fs::copy(&log, dir.path("job.log.1")).expect("copy");
    std::fs::write(&log, "").expect("truncate");
    append(&log, "ORA-00003: c\n");
    scan(&dir, &[dir.tmp.path()]);
    scan(&dir, &[dir.tmp.path()]);
    let lines: Vec<String> = rows(&dir.db(), "SELECT line FROM logscan_results ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(lines, ["ORA-00001: a", "ORA-00002: b", "ORA-00003: c"]);
}

#[test]
fn inode_reuse_and_near_identical_logs_are_distinct_versions() {
    let dir = Dir::new();
    let a = dir.write("a.log", format!("{}ORA-00001: run 1\n", header()).as_bytes());
    scan(&dir, &[dir.tmp.path()]);
    std::fs::remove_file(&a).expect("remove");
    // The freed inode is likely reused by the next file; same size, same header.
    let b = dir.write("b.log", format!("{}ORA-00002: run 2\n", header()).as_bytes());
    let r = scan(&dir, &[dir.tmp.path()]);
    assert_eq!((r["new_versions"].as_u64(), r["moved"].as_u64()), (Some(1), Some(0)));
    assert_eq!(matches(&dir, &b), [(41, "ORA-00002: run 2".to_owned())]);
    assert_eq!(total(&dir), 2);
    // Many write-once logs with identical headers all count.
    for i in 0..20 {
        dir.write(&format!("w{i:02}.log"), format!("{}ORA-{i:05}: x\n", header()).as_bytes());
    }
    scan(&dir, &[dir.tmp.path()]);
    scan(&dir, &[dir.tmp.path()]);
    assert_eq!(total(&dir), 22);
}

#[test]
fn gzip_files_are_scanned_whole_once() {
    use flate2::{write::GzEncoder, Compression};
    let dir = Dir::new();
    let gz = |text: &str| {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(text.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    };
    let path = dir.write("old.log.gz", &gz("ORA-00001: a\nplain\nORA-00002: no final newline"));
    let r = scan(&dir, &[&path]);
    assert_eq!(r["matches"].as_u64(), Some(2));
    let r = scan(&dir, &[&path]);
    assert_eq!((r["unchanged"].as_u64(), r["matches"].as_u64()), (Some(1), Some(0)));
    dir.write(
        "old.log.gz",
        &gz("ORA-00001: a\nplain\nORA-00002: no final newline\nORA-00003: c\n"),
    );
    let r = scan(&dir, &[&path]);
    assert_eq!((r["new_versions"].as_u64(), r["matches"].as_u64()), (Some(1), Some(3)));
    let offsets =
        rows(&dir.db(), "SELECT line_number, byte_offset FROM logscan_results ORDER BY id LIMIT 2");
    assert_eq!(offsets, [["1", "0"], ["3", "19"]]);
}

#[test]
fn fixtures_are_classified_and_their_error_lines_stored() {
    let dir = Dir::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/etl");
    let glob = format!("{}/*/*.{{log,jsonl}}", root.display());
    let out = dir.run(&["scan", &glob]);
    assert!(out.contains("INFA_SESSION"), "{out}");
    let failed = root.join("infa_session/classic_failed_db_error.log");
    let failed = std::fs::canonicalize(&failed).expect("fixture");
    let sql = format!(
        "SELECT line_number FROM logscan_results WHERE severity = 'ERROR' AND file_path LIKE '%/{}' ORDER BY 1",
        failed.file_name().and_then(|n| n.to_str()).expect("name")
    );
    let lines: Vec<String> = rows(&dir.db(), &sql).into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(lines, ["38", "39", "45", "46", "52", "60"]);
    let types = rows(&dir.db(), "SELECT DISTINCT system_type FROM scanned_files ORDER BY 1");
    assert_eq!(types.len(), 7, "{types:?}");
    assert_eq!(count(&dir.db(), "SELECT count(*) FROM scanned_files WHERE evidence IS NULL"), 0);
}

#[test]
fn unreadable_inputs_are_reported_and_the_scan_goes_on() {
    let dir = Dir::new();
    let log = dir.write("ok.log", b"ORA-00001: a\n");
    let out = dir
        .cmd()
        .args(["scan", "--json"])
        .arg(&log)
        .arg(dir.path("missing.log"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["matches"].as_u64(), Some(1));
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(1));
    // No progress bar when stderr is not a terminal.
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\r'));
}

#[test]
fn rules_file_replaces_the_configured_rules() {
    let dir = Dir::new();
    let log = dir.write("x.log", b"ORA-00001: a\nhello world\nfoo 42\n");
    let rules = dir.write("rules.txt", b"hello\n\nfoo [0-9]+\n");
    let out = dir.run(&[
        "scan",
        "--json",
        "--rules-file",
        &rules.display().to_string(),
        &log.display().to_string(),
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(r["matches"].as_u64(), Some(2));
    let got = rows(&dir.db(), "SELECT rule, severity FROM logscan_results ORDER BY id");
    assert_eq!(got, [["rules_file:1", "INFO"], ["rules_file:3", "INFO"]]);
}

#[test]
fn paths_come_from_the_config_when_none_are_given() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path("logs")).expect("mkdir");
    dir.write("logs/a.log", b"2025-01-06 04:00:03 : ERROR : (1 | M) : x\n");
    let config = dir.write(
        "w.toml",
        b"[scan]\npaths = [\"logs\"]\n\n[[scan.rule]]\nname = \"level_error\"\nseverity = \"WARNING\"\nkeywords = [\": ERROR :\"]\n",
    );
    dir.run(&["--config", &config.display().to_string(), "scan"]);
    let got = rows(&dir.db(), "SELECT rule, severity, line_timestamp FROM logscan_results");
    assert_eq!(got, [["level_error", "WARNING", "2025-01-06T04:00:03Z"]]);
}

#[test]
fn the_shared_corpus_is_read_without_error() {
    // `shared/` sits beside the repository (here and in CI).
    let Some(corpus_dir) = util::shared_corpus("the shared corpus scan") else { return };
    let corpus = corpus_dir.as_path();
    let dir = Dir::new();
    let r = scan(&dir, &[corpus]);
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "{r}");
    assert!(r["files"].as_u64().unwrap_or(0) > 100);
    assert!(r["matches"].as_u64().unwrap_or(0) > 0);
}

/// Issue 14: a finished file's last line without a newline is scanned once the file has been
/// quiet (here `--quiet-secs 0`); when the line later turns out longer, its results are
/// replaced, never doubled.
#[test]
fn a_finished_last_line_is_read_and_replaced_when_it_grows() {
    let dir = Dir::new();
    let log = dir.write(
        "s.log",
        b"DIRECTOR> TM_6014 Initializing session [s] at [x].\nWRITER_1_*_1> WRT_8229 Database err",
    );
    let quiet = |dir: &Dir| {
        let out = dir.run(&["scan", "--json", "--quiet-secs", "0", log.to_str().unwrap()]);
        serde_json::from_str::<serde_json::Value>(&out).expect("json")
    };
    quiet(&dir);
    let got = matches(&dir, &log);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], (2, "WRITER_1_*_1> WRT_8229 Database err".to_owned()));
    // Nothing new: nothing read again.
    let r = quiet(&dir);
    assert_eq!((r["unchanged"].as_u64(), r["matches"].as_u64()), (Some(1), Some(0)));
    append(&log, "ors occurred: \nORA-00001: unique constraint (DWH.PK) violated\n");
    quiet(&dir);
    let got = matches(&dir, &log);
    let lines: Vec<(u64, &str)> = got.iter().map(|(n, l)| (*n, l.as_str())).collect();
    assert_eq!(
        lines,
        [
            (1, "DIRECTOR> TM_6014 Initializing session [s] at [x]."),
            (2, "WRITER_1_*_1> WRT_8229 Database errors occurred: "),
            (3, "ORA-00001: unique constraint (DWH.PK) violated"),
        ],
        "the grown line replaced its partial reading"
    );
    quiet(&dir);
    assert_eq!(total(&dir), 3);
}

/// Issue 14: a JSON document written as one line without a newline (dbt's run_results.json)
/// is complete by its format: read at once, without waiting for a quiet period.
#[test]
fn a_complete_json_document_without_newline_is_read_at_once() {
    let dir = Dir::new();
    let doc = r#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json", "invocation_id": "0b3c0c7e-0000-4000-8000-000000000001"}, "args": {"which": "run"}, "results": [{"unique_id": "model.p.orders", "status": "error", "message": "Database Error in model orders (models/orders.sql)\n  relation \"raw.o\" does not exist", "timing": []}]}"#;
    let path = dir.write("run_results.json", doc.as_bytes());
    let out =
        dir.run(&["scan", "--audit", "--json", "--quiet-secs", "3600", path.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["audit"]["inserted"], 1, "{out}");
    let runs = dir.run(&["runs", "--json"]);
    let run: serde_json::Value =
        serde_json::from_str(runs.lines().next().expect("a run")).expect("json");
    assert_eq!(run["run_id"], "0b3c0c7e-0000-4000-8000-000000000001");
    assert_eq!(run["status"], "FAILURE");
    assert_eq!(run["steps"][0]["name"], "model.p.orders");
    // A line that is not complete JSON waits for the quiet period.
    let log = dir.write("partial.log", b"WRITER_1_*_1> WRT_8229 Database err");
    dir.run(&["scan", "--quiet-secs", "3600", log.to_str().unwrap()]);
    assert!(matches(&dir, &log).is_empty());
}
