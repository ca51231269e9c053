//! Audit extractors: one row per ETL run (see issue 4).
//!
//! A whole log document (its bytes, up to the position scanned) and its system type go in;
//! audit rows come out, one per run the document states. Each system type has an extractor
//! that knows how its runs are delimited and how status, counts and names are stated
//! ([`infa`], [`dbt`], [`tools`]); on top of that, the configured field mappings
//! ([`mapping`], `[[audit.system.field]]`) fill or override fields, and a system type without a
//! built-in extractor is read by the mappings alone (one run per document).
//!
//! [`merge`] decides how a new reading of a run updates a stored one without blanking a known
//! value, and [`reconcile`] flags runs whose numbers do not add up or that never finished.
//! Nothing here does I/O.

mod airflow;
mod dbt;
mod iics;
mod infa;
pub mod mapping;
pub mod merge;
pub mod reconcile;
pub mod record;
pub mod step;
mod text;
mod tools;

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

pub use mapping::AuditConfig;
pub use merge::merge_rows;
pub use reconcile::{flags, Flag};
pub use record::{AuditUpsert, PendingAudit, RunFilter, StoredRun, UpsertSummary};
pub use step::{merge_steps, Step};
pub use text::TimeReader;

/// Longest text kept in a name column.
pub const MAX_NAME: usize = 512;
/// Longest error message kept.
pub const MAX_ERROR: usize = 4096;
/// Most table names kept in one list column.
pub const MAX_LIST: usize = 1000;

/// The system types with a built-in extractor.
pub const BUILTIN_TYPES: [&str; 9] = [
    "INFA_SESSION",
    "INFA_WORKFLOW",
    "DBT",
    "MASS_INGESTION",
    "CDGC",
    "JENKINS",
    "GITHUB_ACTIONS",
    "AIRFLOW",
    "IICS",
];

/// The state of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunStatus {
    Success,
    Failure,
    /// Started, no end stated yet.
    Running,
    #[default]
    Unknown,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "SUCCESS",
            RunStatus::Failure => "FAILURE",
            RunStatus::Running => "RUNNING",
            RunStatus::Unknown => "UNKNOWN",
        }
    }

    /// Reads a status word as tools write it (`SUCCESS`, `Succeeded`, `failed`, `ABORTED` ...).
    pub fn from_word(word: &str) -> Option<RunStatus> {
        let w = word.trim().to_ascii_uppercase();
        Some(match w.as_str() {
            "SUCCESS" | "SUCCEEDED" | "SUCCESSFUL" | "COMPLETED" | "OK" | "PASS" | "PASSED"
            | "WARN" => RunStatus::Success,
            "FAILURE" | "FAILED" | "FAIL" | "ERROR" | "ABORTED" | "STOPPED" | "TERMINATED"
            | "UNSTABLE" | "CANCELLED" | "TIMED_OUT" => RunStatus::Failure,
            "RUNNING" | "STARTED" | "IN_PROGRESS" => RunStatus::Running,
            "UNKNOWN" | "SKIPPED" | "NOT_BUILT" => RunStatus::Unknown,
            _ => return None,
        })
    }

    /// A final status: the run ended.
    pub fn is_final(self) -> bool {
        matches!(self, RunStatus::Success | RunStatus::Failure)
    }
}

/// One ETL run as the log states it. Unknown values are `None` (never 0); names are ordered
/// and without duplicates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditRow {
    pub system_type: String,
    pub folder_name: Option<String>,
    pub workflow_name: Option<String>,
    pub session_name: Option<String>,
    pub run_id: Option<String>,
    /// Microseconds since the epoch, UTC.
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub status: RunStatus,
    pub source_rows: Option<i64>,
    pub target_rows: Option<i64>,
    pub rejected_rows: Option<i64>,
    pub source_name: Vec<String>,
    pub target_name: Vec<String>,
    pub error_message: Option<String>,
    /// Values of mapped fields that are not columns.
    pub extra: BTreeMap<String, serde_json::Value>,
    /// The run's parts, in order of first appearance (stored in their own table).
    pub steps: Vec<Step>,
}

impl AuditRow {
    pub fn new(system_type: &str) -> AuditRow {
        AuditRow { system_type: system_type.to_owned(), ..AuditRow::default() }
    }

    /// `end − start` in seconds when both are known.
    pub fn duration_seconds(&self) -> Option<f64> {
        let (s, e) = (self.start_time?, self.end_time?);
        Some((e - s) as f64 / 1e6)
    }

    /// The row as JSON with the column names (times as RFC 3339 UTC text).
    pub fn to_json(&self) -> serde_json::Value {
        let time = |t: Option<i64>| t.map(crate::normalize::format_utc);
        serde_json::json!({
            "system_type": self.system_type,
            "folder_name": self.folder_name,
            "workflow_name": self.workflow_name,
            "session_name": self.session_name,
            "run_id": self.run_id,
            "start_time": time(self.start_time),
            "end_time": time(self.end_time),
            "duration_seconds": self.duration_seconds().map(seconds_json),
            "status": self.status.as_str(),
            "source_rows": self.source_rows,
            "target_rows": self.target_rows,
            "rejected_rows": self.rejected_rows,
            "source_name": self.source_name,
            "target_name": self.target_name,
            "error_message": self.error_message,
            "extra": self.extra,
            "steps": self.steps.iter().map(Step::to_json).collect::<Vec<_>>(),
        })
    }

    /// A run with a failed step failed, and its first error is the first failed step's
    /// message (dbt `error` and `fail`, a failed stage).
    pub fn apply_steps(&mut self) {
        let Some(failed) = self.steps.iter().find(|s| s.failed()) else { return };
        self.status = RunStatus::Failure;
        if self.error_message.is_none() {
            self.error_message = failed.message.clone();
        }
    }

    /// Adds a name to a list column, keeping order and dropping duplicates.
    pub(crate) fn push_name(list: &mut Vec<String>, name: &str) {
        let name = text::clip(name.trim(), MAX_NAME);
        if !name.is_empty() && list.len() < MAX_LIST && !list.contains(&name) {
            list.push(name);
        }
    }

    /// Sets the first error unless one is known.
    pub(crate) fn first_error(&mut self, message: &str) {
        let message = message.trim();
        if self.error_message.is_none() && !message.is_empty() {
            self.error_message = Some(text::clip(message, MAX_ERROR));
        }
    }

    /// Bounds every text of the row (log content is untrusted).
    pub(crate) fn bound(&mut self) {
        for v in [
            &mut self.folder_name,
            &mut self.workflow_name,
            &mut self.session_name,
            &mut self.run_id,
        ]
        .into_iter()
        .flatten()
        {
            *v = text::clip(v.trim(), MAX_NAME);
        }
        if let Some(e) = &mut self.error_message {
            *e = text::clip(e, MAX_ERROR);
        }
        for list in [&mut self.source_name, &mut self.target_name] {
            list.truncate(MAX_LIST);
        }
        self.steps.truncate(step::MAX_STEPS);
        self.steps.iter_mut().for_each(Step::bound);
    }

    /// The stable identity of the run: system type plus what the log says about it. `None`
    /// when the log states no run id and no name (the caller then keys by file and ordinal).
    pub fn identity(&self) -> Option<String> {
        let part = |v: &Option<String>| v.as_deref().unwrap_or("").replace('|', "/");
        let run_id = self.run_id.as_ref()?;
        if self.system_type == "DBT" {
            // The invocation id names the run whatever document states it (run_results.json,
            // dbt.log, JSON log): they all update one row. See issue 14.
            return Some(format!("DBT|{}", run_id.replace('|', "/")));
        }
        if let Some(n) = self.extra.get("try_number").and_then(serde_json::Value::as_i64) {
            return Some(format!(
                "{}|{}|{}|{}|{}#{n}",
                self.system_type,
                part(&self.folder_name),
                part(&self.workflow_name),
                part(&self.session_name),
                part(&self.run_id)
            ));
        }
        Some(format!(
            "{}|{}|{}|{}|{}",
            self.system_type,
            part(&self.folder_name),
            part(&self.workflow_name),
            part(&self.session_name),
            part(&self.run_id)
        ))
    }

    /// The run key: [`identity`](AuditRow::identity), else the place of the run in its
    /// document (`origin` names the document, e.g. `scan:12` or a file path).
    pub fn run_key(&self, origin: &str, ordinal: usize) -> String {
        self.identity().unwrap_or_else(|| {
            format!(
                "{}|{}|{}|{}|@{origin}#{ordinal}",
                self.system_type,
                self.folder_name.as_deref().unwrap_or(""),
                self.workflow_name.as_deref().unwrap_or(""),
                self.session_name.as_deref().unwrap_or(""),
            )
        })
    }
}

/// Seconds as JSON: an integer when whole (`71`), else a decimal (`44.724175`).
pub(crate) fn seconds_json(d: f64) -> serde_json::Value {
    if d.fract() == 0.0 && d.abs() < 9.0e15 {
        serde_json::Value::from(d as i64)
    } else {
        serde_json::Value::from(d)
    }
}

/// What an extractor needs besides the bytes.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// Zone of timestamps that carry none.
    pub zone: TimeZone,
    /// The document's path, when it has one: some tools state facts only there (Airflow's
    /// `dag_id=…/run_id=…/task_id=…/attempt=N.log`).
    pub path: Option<String>,
}

impl Default for AuditContext {
    fn default() -> AuditContext {
        AuditContext { zone: TimeZone::UTC, path: None }
    }
}

/// The audit rows of one document of a given system type, in the order the runs appear.
pub fn extract(
    config: &AuditConfig,
    system_type: &str,
    bytes: &[u8],
    ctx: &AuditContext,
) -> Vec<AuditRow> {
    let doc = text::Document::new(bytes);
    let times = TimeReader::new(ctx.zone.clone());
    let runs: Vec<mapping::Run> = match system_type {
        "INFA_SESSION" => infa::session(&doc, &times),
        "INFA_WORKFLOW" => infa::workflow(&doc, &times),
        "DBT" => dbt::extract(&doc, &times),
        "MASS_INGESTION" => tools::mass_ingestion(&doc, &times),
        "CDGC" => tools::cdgc(&doc, &times),
        "JENKINS" => tools::jenkins(&doc),
        "GITHUB_ACTIONS" => tools::github_actions(&doc, &times, ctx.path.as_deref()),
        "AIRFLOW" => airflow::task_log(&doc, &times, ctx.path.as_deref()),
        "IICS" => iics::job_log(&doc, &times),
        other => mapping::generic(other, &doc, config),
    };
    runs.into_iter()
        .map(|mut run| {
            config.apply(system_type, &run.lines, &run.records, &times, &mut run.row);
            run.row.apply_steps();
            run.row.bound();
            run.row
        })
        .collect()
}

/// A small content check naming the system type of a document, for `waymark audit --file`
/// without `--system-type`. To be replaced by the scanner's classifier
/// (`crate::scan`) once it lands; it looks at the first 64 KiB only.
pub fn detect_system_type(bytes: &[u8]) -> Option<&'static str> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let has = |s: &str| head.contains(s);
    let airflow = has("} INFO - ") && (has("{taskinstance.py:") || has("{local_task_job"));
    Some(if airflow {
        "AIRFLOW"
    } else if has("\"dbt_schema_version\"")
        || has("\"results\"") && has("\"elapsed_time\"")
        || has("\"invocation_id\"") && has("\"info\"")
    {
        "DBT"
    } else if has("TM_6014") || has("Initializing session [") {
        if has("LM_36435") || has("Starting execution of workflow") {
            "INFA_WORKFLOW"
        } else {
            "INFA_SESSION"
        }
    } else if has("Starting execution of workflow") {
        "INFA_WORKFLOW"
    } else if has("=============================== ") && has(" | ") || has("Running with dbt=") {
        if has("[Pipeline]") || has("Started by ") {
            "JENKINS"
        } else if has("##[group]") {
            "GITHUB_ACTIONS"
        } else {
            "DBT"
        }
    } else if has("Starting ingestion job") {
        "MASS_INGESTION"
    } else if has("Catalog source job") {
        "CDGC"
    } else if has("> OIE_") || has("iics ") && has("job ID") {
        "IICS"
    } else if has("##[group]") || has("Complete job name:") {
        "GITHUB_ACTIONS"
    } else if has("Started by ") || has("[Pipeline]") || has("Finished: ") {
        "JENKINS"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests;
