//! Mass Ingestion, CDGC, Jenkins and GitHub Actions (formats.md §4, §5, §7, §8).
//!
//! Names, ids and counts of these tools come from the built-in mappings in
//! `builtin_audit.toml`; the rules here delimit runs and read times, status and the first
//! error.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::mapping::Run;
use super::text::{Document, TimeReader};
use super::RunStatus;

/// `2025-01-09 03:00:00,412 INFO  [thread] logger - message`.
static JAVA_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?) +([A-Z]+) +\[[^\]]*\] +\S+ - (.*)$",
    )
    .expect("static regex")
});
/// `Job [..] finished. Status: X.`
static MI_FINISH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Job \[[^\]]*\] finished\. Status: (\w+)").expect("static regex")
});
/// A Timestamper prefix: `10:00:01  ` or `[2025-01-06T10:00:01.123Z] `.
static TIMESTAMPER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\d\d:\d\d:\d\d {1,2}|\[\d{4}-\d\d-\d\d[T ][\d:.]+Z?\] )")
        .expect("static regex")
});
/// `2025-01-10T05:00:03.4418262Z text`.
static GHA_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ?(.*)$").expect("static regex")
});

/// Mass Ingestion job logs: one run per `Starting ingestion job`.
pub(crate) fn mass_ingestion(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for line in doc.clean_lines() {
        let parsed = JAVA_LINE.captures(&line);
        let message = parsed.as_ref().map_or("", |c| c.get(3).map_or("", |m| m.as_str()));
        if message.starts_with("Starting ingestion job") || runs.is_empty() {
            runs.push(Run::new("MASS_INGESTION"));
        }
        let Some(run) = runs.last_mut() else { continue };
        let Some(c) = &parsed else {
            run.lines.push(line.clone());
            continue;
        };
        let ts = times.parse(&c[1]);
        let row = &mut run.row;
        if message.starts_with("Starting ingestion job") {
            row.start_time = ts;
            row.status = RunStatus::Running;
        }
        if let Some(f) = MI_FINISH.captures(message) {
            row.end_time = ts;
            row.status = RunStatus::from_word(&f[1]).unwrap_or(RunStatus::Unknown);
        }
        if matches!(&c[2], "ERROR" | "FATAL") {
            row.first_error(message);
        }
        run.lines.push(line.clone());
    }
    runs
}

/// CDGC catalog source jobs, JSON lines: one run per `Catalog source job started`.
pub(crate) fn cdgc(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut completed: Vec<bool> = Vec::new();
    for line in doc.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let message = text("message");
        if message.starts_with("Catalog source job started") || runs.is_empty() {
            runs.push(Run::new("CDGC"));
            completed.push(false);
        }
        let (Some(run), Some(done)) = (runs.last_mut(), completed.last_mut()) else { continue };
        let ts = times.parse(&text("timestamp"));
        let row = &mut run.row;
        if message.starts_with("Catalog source job started") {
            row.start_time = ts;
        } else if message.starts_with("Catalog source job completed")
            || message.starts_with("Catalog source job failed")
        {
            row.end_time = ts;
            *done = true;
        }
        if text("level").eq_ignore_ascii_case("error") {
            row.status = RunStatus::Failure;
            row.first_error(&message);
        }
        run.lines.push(message);
        run.records.push(v);
    }
    for (run, done) in runs.iter_mut().zip(completed) {
        if run.row.status != RunStatus::Failure {
            run.row.status = if done { RunStatus::Success } else { RunStatus::Running };
        }
    }
    runs
}

/// Jenkins console output: one run per build (document). Timestamper prefixes carry no
/// date, so times stay unknown.
pub(crate) fn jenkins(doc: &Document<'_>) -> Vec<Run> {
    let mut run = Run::new("JENKINS");
    run.row.status = RunStatus::Running;
    let mut step_failure: Option<String> = None;
    for line in doc.clean_lines() {
        let text = TIMESTAMPER.replace(&line, "").trim_end().to_owned();
        if let Some(result) = text.strip_prefix("Finished: ") {
            run.row.status = RunStatus::from_word(result).unwrap_or(RunStatus::Unknown);
        }
        if text.starts_with("ERROR:") {
            run.row.first_error(&text);
        } else if text.starts_with("Build step '") && text.contains("marked build as failure") {
            step_failure.get_or_insert_with(|| text.clone());
        }
        run.lines.push(text);
    }
    if let Some(step) = step_failure {
        run.row.first_error(&step);
    }
    vec![run]
}

/// A GitHub Actions job log: one run per document.
pub(crate) fn github_actions(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let mut run = Run::new("GITHUB_ACTIONS");
    let (mut failed, mut last_text) = (false, String::new());
    for line in doc.clean_lines() {
        let Some(c) = GHA_LINE.captures(&line) else {
            run.lines.push(line.clone());
            continue;
        };
        let ts = times.parse(&c[1]);
        let text = c[2].to_owned();
        let row = &mut run.row;
        if row.start_time.is_none() {
            row.start_time = ts;
        }
        row.end_time = ts.or(row.end_time);
        if let Some(e) = text.strip_prefix("##[error]") {
            failed = true;
            row.first_error(e);
        }
        last_text.clone_from(&text);
        run.lines.push(text);
    }
    run.row.status = if failed {
        RunStatus::Failure
    } else if last_text.trim() == "Cleaning up orphan processes" {
        RunStatus::Success
    } else {
        RunStatus::Running
    };
    if run.row.status == RunStatus::Running {
        // Still being written: the last line is not the end of the job.
        run.row.end_time = None;
    }
    vec![run]
}
