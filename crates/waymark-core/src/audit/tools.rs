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
use super::{RunStatus, Step};

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

/// `[Pipeline] { (Stage name)` opens a stage (`Branch: x` wrappers are not stages).
static STAGE_OPEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[Pipeline\] \{ \((.*)\)\s*$").expect("static regex"));
static STAGE_SKIPPED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^Stage "(.*)" skipped due to (.*)$"#).expect("static regex"));
/// The job's workspace: `Building [remotely on X ]in workspace /…/workspace/<job>` or
/// `Running on X in /…/workspace/<job>` (a parallel branch's copy ends with `@2`).
static WORKSPACE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:Building (?:remotely )?(?:on .* )?in workspace |Running on .* in )(?:.*[/\\])?workspace[/\\]([^/\\]+?)(?:@\d+)?\s*$",
    )
    .expect("static regex")
});
/// Maven's summary of a failed build: the cause.
static MAVEN_FAILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[ERROR\] Failed to execute goal ").expect("static regex"));
/// A compiler's error heading (`error[E0061]: ...`, `error: could not compile ...`).
static COMPILER_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:error|fatal error)(?:\[[A-Z0-9]+\])?: \S").expect("static regex")
});

/// Jenkins console output: one run per build (document); pipeline stages are its steps.
/// Timestamper prefixes carry no date, so times stay unknown.
pub(crate) fn jenkins(doc: &Document<'_>) -> Vec<Run> {
    let mut run = Run::new("JENKINS");
    run.row.status = RunStatus::Running;
    let mut step_failure: Option<String> = None;
    let mut maven_failure: Option<String> = None;
    // Open `{` blocks of the pipeline: the index of the stage a block opens, if any.
    let mut blocks: Vec<Option<usize>> = Vec::new();
    let mut finished = false;
    for line in doc.clean_lines() {
        let text = TIMESTAMPER.replace(&line, "").trim_end().to_owned();
        if let Some(result) = text.strip_prefix("Finished: ") {
            run.row.status = RunStatus::from_word(result).unwrap_or(RunStatus::Unknown);
            finished = true;
        }
        if run.row.workflow_name.is_none() {
            if let Some(c) = WORKSPACE.captures(&text) {
                run.row.workflow_name = Some(c[1].to_owned());
            }
        }
        if MAVEN_FAILED.is_match(&text) {
            maven_failure.get_or_insert_with(|| text.clone());
        }
        let steps = &mut run.row.steps;
        if let Some(c) = STAGE_OPEN.captures(&text) {
            let name = c[1].trim();
            if name.starts_with("Branch: ") {
                blocks.push(None);
            } else {
                let i = steps.iter().position(|s| s.name == name).unwrap_or_else(|| {
                    steps.push(Step::new(name, Some("stage")));
                    steps.len() - 1
                });
                steps[i].status = RunStatus::Running;
                blocks.push(Some(i));
            }
        } else if text == "[Pipeline] {" || text.starts_with("[Pipeline] { ") {
            blocks.push(None);
        } else if text == "[Pipeline] }" {
            if let Some(Some(i)) = blocks.pop() {
                if steps[i].status == RunStatus::Running {
                    steps[i].status = RunStatus::Success;
                }
            }
        } else if let Some(c) = STAGE_SKIPPED.captures(&text) {
            if let Some(s) = steps.iter_mut().find(|s| s.name == c[1]) {
                s.status = RunStatus::Unknown;
                s.kind = Some("stage".into());
            }
        }
        let failure_line = text.starts_with("ERROR:")
            || text.starts_with("Build step '") && text.contains("marked build as failure");
        if failure_line {
            // The innermost open stage failed.
            if let Some(i) = blocks.iter().rev().find_map(|b| *b) {
                steps[i].status = RunStatus::Failure;
                if steps[i].message.is_none() {
                    steps[i].message = Some(text.clone());
                }
            }
        }
        if text.starts_with("ERROR:") {
            run.row.first_error(&text);
        } else if text.starts_with("Build step '") && text.contains("marked build as failure") {
            step_failure.get_or_insert_with(|| text.clone());
        }
        run.lines.push(text);
    }
    // Without an `ERROR:` line, the build tool's own summary of the cause, else the step.
    if let Some(e) = maven_failure.or(step_failure) {
        run.row.first_error(&e);
    }
    if finished {
        for s in &mut run.row.steps {
            if s.status == RunStatus::Running {
                s.status = RunStatus::Unknown;
            }
        }
    }
    vec![run]
}

/// A job log's file name in a downloaded run-log zip: `<n>_<job name>.txt`.
static GHA_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[/\\])\d+_([^/\\]+)\.txt$").expect("static regex"));

/// A GitHub Actions job log: one run per document; its `Run ...` groups are its steps. The job
/// name is the one the runner prints (`Complete job name:`, a mapping), else the file's name
/// in a downloaded run-log zip (`1_build (8.x).txt`).
pub(crate) fn github_actions(
    doc: &Document<'_>,
    times: &TimeReader,
    path: Option<&str>,
) -> Vec<Run> {
    let mut run = Run::new("GITHUB_ACTIONS");
    run.row.session_name = path.and_then(|p| GHA_FILE.captures(p)).map(|c| c[1].to_owned());
    let (mut failed, mut last_text, mut previous) = (false, String::new(), String::new());
    let mut current: Option<usize> = None;
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
        let step_start = text.strip_prefix("##[group]").filter(|t| t.starts_with("Run "));
        let cleanup = text == "Post job cleanup." || text.starts_with("##[group]Post ");
        if step_start.is_some() || cleanup {
            if let Some(i) = current.take() {
                let s = &mut row.steps[i];
                s.end_time = ts;
                if s.status == RunStatus::Running {
                    s.status = RunStatus::Success;
                }
            }
        }
        if let Some(name) = step_start {
            let mut step = Step::new(name, Some("step"));
            step.start_time = ts;
            step.status = RunStatus::Running;
            let name = step.name.clone();
            // Two steps may run the same command: keep names unique within the run.
            let n = row
                .steps
                .iter()
                .filter(|s| s.name == name || s.name.starts_with(&format!("{name} #")))
                .count();
            if n > 0 {
                step.name = format!("{name} #{}", n + 1);
            }
            row.steps.push(step);
            current = Some(row.steps.len() - 1);
        }
        if let Some(e) = text.strip_prefix("##[error]") {
            failed = true;
            // A compiler's `-->` location line: the error is the heading above it.
            let e = if e.trim_start().starts_with("-->") && COMPILER_ERROR.is_match(&previous) {
                previous.clone()
            } else {
                e.to_owned()
            };
            row.first_error(&e);
            if let Some(i) = current {
                let s = &mut row.steps[i];
                s.status = RunStatus::Failure;
                if s.message.is_none() {
                    s.message = Some(e.trim().to_owned());
                }
            }
        }
        last_text.clone_from(&text);
        previous.clone_from(&text);
        run.lines.push(text);
    }
    let ended = last_text.trim() == "Cleaning up orphan processes"
        || last_text.starts_with("##[debug]Finishing: ");
    run.row.status = if failed {
        RunStatus::Failure
    } else if ended {
        RunStatus::Success
    } else {
        RunStatus::Running
    };
    if run.row.status == RunStatus::Running {
        // Still being written: the last line is not the end of the job.
        run.row.end_time = None;
    } else if let Some(i) = current {
        let s = &mut run.row.steps[i];
        s.end_time = run.row.end_time;
        if s.status == RunStatus::Running {
            s.status = RunStatus::Success;
        }
    }
    vec![run]
}
