//! Informatica Cloud (IICS/IDMC) job logs (issue 14): the CLI's import/export/publish logs and
//! job summaries (`Job Name:`, `Job Id:`, `Status:`, `Start Time:` ...). One run per document.

use std::sync::LazyLock;

use regex::Regex;

use super::mapping::Run;
use super::text::{Document, TimeReader};
use super::RunStatus;

/// `> OIE_002 INFO 2026-03-08T17:38:42.803Z Starting import operation.`
static EVENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^> ?([A-Z]+_\d+) ([A-Z]+) (\d{4}-\d\d-\d\dT[\d:.]+Z?) (.*)$")
        .expect("static regex")
});
/// `Key: value` of a job summary.
static FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(Job Name|Task Name|Job Id|Run Id|Status|Start Time|End Time): +(.+?)\s*$")
        .expect("static regex")
});
/// `Batch 1/3 job ID: 1220436707523297280`, `publish job 1220…`.
static JOB_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bjob id:? *([0-9A-Za-z]{6,})").expect("static regex"));
/// `[14:19:44] message` of the CLI.
static CLI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[\d\d:\d\d:\d\d\] (.*)$").expect("static regex"));
static STATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bState: ([A-Z_]+)").expect("static regex"));

pub(crate) fn job_log(doc: &Document<'_>, times: &TimeReader) -> Vec<Run> {
    let mut run = Run::new("IICS");
    let row = &mut run.row;
    let mut status: Option<RunStatus> = None;
    for line in doc.clean_lines() {
        let line = line.trim_end();
        let mut text = line.to_owned();
        if let Some(c) = EVENT.captures(line) {
            let ts = times.parse(&c[3]);
            if row.start_time.is_none() {
                row.start_time = ts;
            }
            row.end_time = ts.or(row.end_time);
            if matches!(&c[2], "ERROR" | "FATAL" | "SEVERE") {
                row.first_error(&format!("{} {}", &c[1], &c[4]));
            }
            text = c[4].to_owned();
        } else if let Some(c) = CLI.captures(line) {
            text = c[1].to_owned();
        }
        if let Some(f) = FIELD.captures(&text) {
            let v = f[2].to_owned();
            match &f[1] {
                "Job Name" | "Task Name" => {
                    row.session_name.get_or_insert(v);
                }
                "Job Id" | "Run Id" => {
                    row.run_id.get_or_insert(v);
                }
                "Status" => status = RunStatus::from_word(&v).or(Some(RunStatus::Unknown)),
                _ => {}
            }
            continue;
        }
        if row.run_id.is_none() {
            if let Some(c) = JOB_ID.captures(&text) {
                row.run_id = Some(c[1].to_owned());
            }
        }
        if let Some(s) = STATE.captures(&text).and_then(|c| RunStatus::from_word(&c[1])) {
            status = Some(s);
        }
        if text.starts_with("Error:") || text.starts_with("ERROR") {
            status = Some(RunStatus::Failure);
            row.first_error(&text);
        }
    }
    row.status = status.unwrap_or(RunStatus::Unknown);
    if row.error_message.is_some() {
        row.status = RunStatus::Failure;
    }
    vec![run]
}
