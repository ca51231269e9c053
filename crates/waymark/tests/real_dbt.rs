//! Issue 14: a real dbt (dbt-core 1.10 with dbt-duckdb, from `scripts/dbt-venv.sh`) runs a small
//! project of its own — `seed`, a `run` with a failing model, a `test` with a failing test, a
//! `build` — and waymark's runs and steps must equal what each invocation's own
//! `run_results.json` says, whether waymark read the JSON, the `dbt.log`, or both. And the same
//! project's `dbt-ol build` (openlineage-dbt) reports its runs to `waymark serve` over HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn dbt() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WAYMARK_DBT") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    let p = Path::new(&home).join(".cache/waymark/dbt-venv/bin/dbt");
    p.is_file().then_some(p)
}

fn waymark(db: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("WAYMARK_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "waymark {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const PROJECT: &[(&str, &str)] = &[
    (
        "dbt_project.yml",
        "name: wm\nversion: '1.0'\nprofile: wm\nseed-paths: [seeds]\nmodel-paths: [models]\n",
    ),
    ("seeds/people.csv", "id,name\n1,ada\n2,bob\n3,bob\n"),
    ("models/people_names.sql", "select id, name from {{ ref('people') }}\n"),
    ("models/broken.sql", "select * from no_such_table_anywhere\n"),
    (
        "models/schema.yml",
        "version: 2\nmodels:\n  - name: people_names\n    columns:\n      - name: id\n        \
         data_tests: [unique, not_null]\n      - name: name\n        data_tests: [unique]\n",
    ),
];

/// The project of [`PROJECT`] in `dir/wm`, with a profile on a DuckDB file of `dir`.
fn write_project(dir: &Path) -> PathBuf {
    let project = dir.join("wm");
    for (name, text) in PROJECT {
        let p = project.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let duck = dir.join("wm.duckdb");
    std::fs::write(
        project.join("profiles.yml"),
        format!(
            "wm:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n      threads: 1\n",
            duck.display()
        ),
    )
    .unwrap();
    project
}

/// Runs one dbt command; returns its run_results.json (dbt overwrites it on each invocation).
fn run_dbt(dbt: &Path, project: &Path, args: &[&str]) -> Value {
    let out = Command::new(dbt)
        .args(args)
        .arg("--project-dir")
        .arg(project)
        .arg("--profiles-dir")
        .arg(project)
        .env("DO_NOT_TRACK", "1")
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_VERSION_CHECK", "false")
        .current_dir(project)
        .output()
        .unwrap();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "dbt {args:?} exited {code:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(project.join("target/run_results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn status_of(word: &str) -> &'static str {
    match word {
        "success" | "pass" | "warn" => "SUCCESS",
        "error" | "fail" => "FAILURE",
        _ => "UNKNOWN",
    }
}

/// A message as waymark keeps it: each line's trailing spaces and trailing blank lines dropped.
fn cleaned(message: &str) -> String {
    let lines: Vec<&str> = message.split('\n').map(str::trim_end).collect();
    let end = lines.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
    lines[..end].join("\n")
}

fn micros(v: &Value) -> Option<i64> {
    let reader = waymark_core::audit::TimeReader::new(jiff::tz::TimeZone::UTC);
    v.as_str().and_then(|s| reader.parse(s))
}

/// Compares waymark's row of one invocation with its run_results.json.
fn check(row: &Value, rr: &Value, how: &str, exact_times: bool) {
    let id = rr["metadata"]["invocation_id"].as_str().unwrap();
    let ctx = format!("{how} {id} ({})", rr["args"]["which"]);
    assert_eq!(row["workflow_name"], rr["args"]["which"], "{ctx}");
    let results = rr["results"].as_array().unwrap();
    let failed = results.iter().find(|r| status_of(r["status"].as_str().unwrap()) == "FAILURE");
    let want_status = if failed.is_some() { "FAILURE" } else { "SUCCESS" };
    assert_eq!(row["status"], want_status, "{ctx}");
    let steps = row["steps"].as_array().unwrap();
    let got: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    let want: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["unique_id"].as_str().unwrap(), status_of(r["status"].as_str().unwrap())))
        .collect();
    let (mut got_sorted, mut want_sorted) = (got.clone(), want.clone());
    got_sorted.sort();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted, "{ctx}: steps");
    for r in results {
        let uid = r["unique_id"].as_str().unwrap();
        let step = steps.iter().find(|s| s["name"] == uid).unwrap();
        let rows = r["adapter_response"]["rows_affected"].as_i64().filter(|n| *n >= 0);
        if step["rows"].is_i64() || exact_times {
            assert_eq!(step["rows"].as_i64(), rows, "{ctx} {uid}: rows");
        }
        let message = r["message"].as_str().map(cleaned);
        if status_of(r["status"].as_str().unwrap()) == "FAILURE" {
            assert_eq!(step["message"].as_str(), message.as_deref(), "{ctx} {uid}: message");
        }
        let exec = r["timing"].as_array().unwrap().iter().find(|t| t["name"] == "execute");
        let at = |k: &str| exec.and_then(|e| micros(&e[k]));
        for (key, want) in [("start_time", at("started_at")), ("end_time", at("completed_at"))] {
            let got = micros(&step[key]);
            if exact_times {
                assert_eq!(got, want, "{ctx} {uid}: {key}");
            } else if let (Some(g), Some(w)) = (got, want) {
                // Read off the text log: the line's time, within a second of dbt's timing.
                assert!((g - w).abs() < 1_000_000, "{ctx} {uid}: {key} {g} vs {w}");
            }
        }
    }
    let first = failed.and_then(|r| r["message"].as_str()).map(cleaned);
    assert_eq!(row["error_message"].as_str(), first.as_deref(), "{ctx}: first error");
}

fn rows_by_invocation(db: &Path) -> Vec<Value> {
    let out = waymark(db, &["runs", "--json", "--limit", "0"]);
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn real_dbt_runs_and_steps_equal_its_run_results() {
    let Some(dbt) = dbt() else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "dbt is missing (CI=true): run scripts/dbt-venv.sh");
        eprintln!("skipped: no dbt (run scripts/dbt-venv.sh); the real-dbt test did not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = write_project(dir.path());
    let mut artefacts = Vec::new();
    for (i, args) in [&["seed"][..], &["run"], &["test"], &["build"]].iter().enumerate() {
        let rr = run_dbt(&dbt, &project, args);
        let copy = dir.path().join(format!("run_results_{i}.json"));
        std::fs::write(&copy, serde_json::to_vec(&rr).unwrap()).unwrap();
        artefacts.push((copy, rr));
    }
    let statuses: Vec<&str> = artefacts
        .iter()
        .flat_map(|(_, rr)| {
            rr["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap())
        })
        .collect();
    assert!(statuses.contains(&"error") && statuses.contains(&"fail"), "{statuses:?}");
    let log = project.join("logs/dbt.log");
    let log_arg = log.to_str().unwrap();

    for (how, json, text) in [("json", true, false), ("log", false, true), ("both", true, true)] {
        let db = dir.path().join(format!("{how}.db"));
        if text {
            waymark(&db, &["audit", "--file", log_arg, "--system-type", "DBT"]);
        }
        if json {
            for (p, _) in &artefacts {
                waymark(&db, &["audit", "--file", p.to_str().unwrap(), "--system-type", "DBT"]);
            }
        }
        let rows = rows_by_invocation(&db);
        assert_eq!(rows.len(), artefacts.len(), "{how}: one row per invocation");
        for (_, rr) in &artefacts {
            let id = rr["metadata"]["invocation_id"].as_str().unwrap();
            let row = rows
                .iter()
                .find(|r| r["run_id"] == id)
                .unwrap_or_else(|| panic!("{how}: no row for invocation {id}"));
            check(row, rr, how, json);
        }
    }
}

/// A real `dbt-ol build` (openlineage-dbt's wrapper, HTTP transport from `OPENLINEAGE_URL`)
/// reports to `waymark serve`'s receiver: one run per model with dbt's own status and times
/// and the model's relation as target, and the invocation's parent run, failed as dbt failed.
#[test]
fn dbt_ol_reports_its_runs_to_serve() {
    let Some(dbt) = dbt() else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "dbt is missing (CI=true): run scripts/dbt-venv.sh");
        eprintln!("skipped: no dbt (run scripts/dbt-venv.sh); the dbt-ol test did not run");
        return;
    };
    let bin = dbt.parent().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let project = write_project(dir.path());
    let db = dir.path().join("w.db");
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "[[source]]\ntype = \"openlineage\"\n").unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("WAYMARK_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(bin.join("dbt-ol"))
        .args(["build", "--project-dir"])
        .arg(&project)
        .arg("--profiles-dir")
        .arg(&project)
        .env("PATH", path)
        .env("OPENLINEAGE_URL", &url)
        .env("OPENLINEAGE_NAMESPACE", "wm-test")
        .env("DO_NOT_TRACK", "1")
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .current_dir(&project)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        stdout.contains("Emitted") || String::from_utf8_lossy(&out.stderr).contains("Emitted"),
        "dbt-ol emitted nothing: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rr: Value = serde_json::from_str(
        &std::fs::read_to_string(project.join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    let runs: Vec<Value> = waymark(&db, &["runs", "--json", "--limit", "0"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let models: Vec<&Value> = rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["unique_id"].as_str().unwrap().starts_with("model."))
        .collect();
    assert_eq!(models.len(), 2, "people_names and broken");
    for m in &models {
        let name = m["unique_id"].as_str().unwrap().rsplit('.').next().unwrap();
        let run = runs
            .iter()
            .find(|r| r["workflow_name"].as_str().is_some_and(|w| w.contains(&format!(".{name}."))))
            .unwrap_or_else(|| panic!("no run for model {name}: {runs:#?}"));
        assert_eq!(run["status"], status_of(m["status"].as_str().unwrap()), "{name}: {run}");
        assert_eq!(run["folder_name"], "wm-test");
        assert!(run["start_time"].is_string() && run["end_time"].is_string(), "{name}: {run}");
        let target = format!("main.{name}");
        assert!(
            run["target_name"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t.as_str().unwrap().ends_with(&target)),
            "{name}: targets {}",
            run["target_name"]
        );
    }
    let parent = runs
        .iter()
        .find(|r| r["workflow_name"] == "dbt-run-wm")
        .unwrap_or_else(|| panic!("no parent run: {runs:#?}"));
    assert_eq!(parent["status"], "FAILURE", "a model failed, so did the invocation");
}
