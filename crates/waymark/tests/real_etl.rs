//! Issue 14: waymark against real ETL and CI logs. `waymark scan --audit` reads every file of
//! `../shared/corpus/real-etl/` in place, and each run is compared with the facts read off the
//! file by hand (`fixtures/real-etl/facts.json`). Prints how many runs are exactly right and
//! how many rows are not runs; every run must be right and no row may be a non-run.
//!
//! `WAYMARK_BIN=/path/to/waymark` measures another build (e.g. an older one) the same way;
//! `WAYMARK_REAL_ETL_SCORE_ONLY=1` prints the figures without failing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use waymark_core::audit::TimeReader;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/real-etl")
}

fn facts() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/real-etl/facts.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bin() -> PathBuf {
    std::env::var_os("WAYMARK_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_waymark")), PathBuf::from)
}

fn waymark(db: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("WAYMARK_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "waymark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn micros(v: &Value) -> Option<i64> {
    let reader = TimeReader::new(jiff::tz::TimeZone::UTC);
    v.as_str().and_then(|s| reader.parse(s))
}

/// The differences between one run's facts and the row waymark stored for it.
fn differences(fact: &Value, row: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let Some(fields) = fact.as_object() else { return vec!["fact is not an object".into()] };
    for (key, want) in fields {
        let ok = match key.as_str() {
            "start_time" | "end_time" => micros(want) == micros(&row[key.as_str()]),
            "error_message_prefix" => match (row["error_message"].as_str(), want.as_str()) {
                (Some(got), Some(w)) => got.starts_with(w),
                (got, w) => got == w,
            },
            "steps" => {
                let got: Vec<Value> = row["steps"]
                    .as_array()
                    .map(|s| {
                        s.iter().map(|s| serde_json::json!([s["name"], s["status"]])).collect()
                    })
                    .unwrap_or_default();
                Value::Array(got) == *want
            }
            "failed_step" => {
                let steps = row["steps"].as_array().cloned().unwrap_or_default();
                let failed = steps.iter().find(|s| s["status"] == "FAILURE");
                failed.map(|s| &s["name"]) == Some(want)
            }
            "try_number" => row["extra"]["try_number"] == *want,
            k => row[k] == *want,
        };
        if !ok {
            let got = match key.as_str() {
                "error_message_prefix" => &row["error_message"],
                "failed_step" | "steps" => &row["steps"],
                "try_number" => &row["extra"],
                k => &row[k],
            };
            diffs.push(format!("`{key}`: got {got}, want {want}"));
        }
    }
    diffs
}

/// How the rows compare with the facts.
struct Score {
    runs: usize,
    right: usize,
    non_runs: usize,
    report: Vec<String>,
}

/// Runs matched to facts: by run id when the fact states one, else by start time, else the
/// next row of the same file.
fn score(rows: &[Value], facts: &Value, root: &Path) -> Score {
    let mut used = vec![false; rows.len()];
    let mut s = Score { runs: 0, right: 0, non_runs: 0, report: Vec::new() };
    let files = facts["files"].as_object().unwrap();
    for (file, runs) in files {
        let path = root.join(file);
        let path = path.to_str().unwrap();
        let of_file =
            |r: &Value| r["log_file"].as_str().is_some_and(|f| Path::new(f) == Path::new(path));
        for fact in runs.as_array().unwrap() {
            s.runs += 1;
            let pick = rows.iter().enumerate().position(|(i, r)| {
                // One run stated by two documents (a run_results.json and its dbt.log) is one
                // row: a run id may match a row already matched.
                if let Some(id) = fact["run_id"].as_str() {
                    return r["run_id"] == id;
                }
                if used[i] {
                    return false;
                }
                if !of_file(r) {
                    return false;
                }
                match micros(&fact["start_time"]) {
                    Some(t) => micros(&r["start_time"]) == Some(t),
                    None => true,
                }
            });
            let Some(i) = pick else {
                s.report.push(format!("{file}: no row for {fact}"));
                continue;
            };
            used[i] = true;
            let diffs = differences(fact, &rows[i]);
            if diffs.is_empty() {
                s.right += 1;
            } else {
                s.report.push(format!("{file} run {}: {}", rows[i]["run_key"], diffs.join("; ")));
            }
        }
    }
    for (i, r) in rows.iter().enumerate() {
        if !used[i] {
            s.non_runs += 1;
            s.report.push(format!("not a run: {} {}", r["run_key"], r["log_file"]));
        }
    }
    s
}

#[test]
fn real_etl_logs_give_their_runs() {
    let root = corpus();
    if !root.is_dir() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "{} is missing (CI=true)", root.display());
        eprintln!("skipped: {} is absent; the real ETL logs were not checked", root.display());
        return;
    }
    let root = root.canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    // The finished files are read to the end at once (a quiet period of 0 s).
    let path = root.to_str().unwrap();
    if std::env::var_os("WAYMARK_BIN").is_some() {
        waymark(&db, &["scan", "--audit", path]);
    } else {
        waymark(&db, &["scan", "--audit", "--quiet-secs", "0", path]);
    }
    let out = waymark(&db, &["runs", "--json", "--limit", "0"]);
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let s = score(&rows, &facts(), &root);
    eprintln!(
        "real-etl: {} of {} runs exactly right, {} rows that are not runs",
        s.right, s.runs, s.non_runs
    );
    for line in &s.report {
        eprintln!("  {line}");
    }
    if std::env::var_os("WAYMARK_REAL_ETL_SCORE_ONLY").is_some() {
        return;
    }
    assert_eq!(s.runs, 44, "the facts cover every run");
    assert_eq!((s.right, s.non_runs), (s.runs, 0), "{}", s.report.join("\n"));
}
