//! Airflow task logs (issue 14): one run per task try. The task, DAG, run id and try number
//! come from the log (`Marking task as`, `AIRFLOW_CTX_*`, `<TaskInstance: ...>`,
//! `Starting attempt N of M`) or from its path
//! (`dag_id=…/run_id=…/task_id=…/attempt=N.log`); the status from the final state line; the
//! first error from the wrapped tool's output (a dbt error block, a traceback), else the first
//! ERROR line.

use std::sync::LazyLock;

use regex::Regex;

use super::mapping::Run;
use super::text::{Block, Document, TimeReader};
use super::RunStatus;

/// `[2025-12-24T07:07:17.070+0000] {file.py:120} INFO - message` (also `,070` and a space).
static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\] \{[^}]*\} ([A-Z]+) - ?(.*)$")
        .expect("static regex")
});
static MARKING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Marking task as ([A-Z_]+)\.(?: dag_id=([^,]+), task_id=([^,]+),(?: map_index=[^,]+,)? run_id=([^,]+),)?")
        .expect("static regex")
});
static CTX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"AIRFLOW_CTX_(DAG_ID|TASK_ID|TRY_NUMBER|DAG_RUN_ID)='([^']*)'")
        .expect("static regex")
});
static ATTEMPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Starting attempt (\d+) of \d+").expect("static regex"));
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"dag_id=([^/\\]+)[/\\]run_id=([^/\\]+)[/\\]task_id=([^/\\]+)[/\\](?:map_index=[^/\\]+[/\\])?attempt=(\d+)\.log$")
        .expect("static regex")
});
/// dbt's console prefix inside a wrapped command's output: `07:07:19  message`.
static DBT_CONSOLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d\d:\d\d:\d\d(?:\.\d+)? {1,2}").expect("static regex"));

/// The run of one task try.
pub(crate) fn task_log(doc: &Document<'_>, times: &TimeReader, path: Option<&str>) -> Vec<Run> {
    let mut run = Run::new("AIRFLOW");
    let row = &mut run.row;
    if let Some(c) = path.and_then(|p| PATH.captures(p)) {
        row.workflow_name = Some(c[1].to_owned());
        row.run_id = Some(c[2].to_owned());
        row.session_name = Some(c[3].to_owned());
        if let Ok(n) = c[4].parse::<i64>() {
            row.extra.insert("try_number".into(), n.into());
        }
    }
    let mut state: Option<RunStatus> = None;
    let mut wrapped: Option<Block> = None;
    let mut wrapped_error: Option<String> = None;
    let mut traceback: Option<Block> = None;
    let mut first_error_line: Option<String> = None;
    let mut exception: Option<String> = None;
    let mut seen_line = false;
    for line in doc.clean_lines() {
        let Some(c) = LINE.captures(&line) else {
            // A continuation: a traceback or a multi-line message of the line above.
            if let Some(b) = &mut traceback {
                b.push(&line);
                if !line.starts_with(' ') && line.contains(": ") {
                    exception.get_or_insert_with(|| line.trim().to_owned());
                }
            }
            continue;
        };
        let ts = times.parse(&c[1]);
        let (level, message) = (&c[2], c[3].trim_end());
        if !seen_line {
            row.start_time = ts;
            seen_line = true;
        }
        if state.is_none() {
            row.end_time = ts.or(row.end_time);
        }
        traceback = None;
        // The wrapped command's output (a BashOperator's `subprocess.py` lines).
        let output = DBT_CONSOLE.replace(message, "");
        if let Some(b) = &mut wrapped {
            let continues =
                !DBT_CONSOLE.is_match(message) && !message.starts_with("Command exited");
            if continues && c[0].contains("subprocess") {
                b.push(message);
                continue;
            }
            if let Some(t) = b.text() {
                wrapped_error.get_or_insert(t);
            }
            wrapped = None;
        }
        if output.trim_start().starts_with("Encountered an error") && wrapped_error.is_none() {
            wrapped = Some(Block::default());
            continue;
        }
        for cap in CTX.captures_iter(message) {
            let v = cap[2].to_owned();
            match &cap[1] {
                "DAG_ID" => row.workflow_name = Some(v),
                "TASK_ID" => row.session_name = Some(v),
                "DAG_RUN_ID" => row.run_id = Some(v),
                _ => {
                    if let Ok(n) = v.parse::<i64>() {
                        row.extra.insert("try_number".into(), n.into());
                    }
                }
            }
        }
        if let Some(a) = ATTEMPT.captures(message) {
            if let Ok(n) = a[1].parse::<i64>() {
                row.extra.entry("try_number".to_owned()).or_insert_with(|| n.into());
            }
            row.status = RunStatus::Running;
        }
        if let Some(m) = MARKING.captures(message) {
            state = Some(match &m[1] {
                "SUCCESS" => RunStatus::Success,
                "SKIPPED" | "REMOVED" => RunStatus::Unknown,
                _ => RunStatus::Failure,
            });
            row.end_time = ts;
            if let (Some(d), Some(t), Some(r)) = (m.get(2), m.get(3), m.get(4)) {
                row.workflow_name = Some(d.as_str().to_owned());
                row.session_name = Some(t.as_str().to_owned());
                row.run_id = Some(r.as_str().to_owned());
            }
        }
        if matches!(level, "ERROR" | "CRITICAL") {
            first_error_line.get_or_insert_with(|| message.to_owned());
            traceback = Some(Block::default());
        }
    }
    if let Some(t) = wrapped.and_then(|b| b.text()) {
        wrapped_error.get_or_insert(t);
    }
    row.status = state.unwrap_or(if seen_line { RunStatus::Running } else { RunStatus::Unknown });
    if !row.status.is_final() {
        row.end_time = None;
    }
    if row.status == RunStatus::Failure || wrapped_error.is_some() {
        if let Some(e) = wrapped_error.or(exception).or(first_error_line) {
            row.first_error(&e);
        }
    }
    vec![run]
}
