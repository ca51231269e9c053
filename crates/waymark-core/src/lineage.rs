//! OpenLineage RunEvents as audit rows: a pure reading of one event (the JSON body a client
//! posts to `/api/v1/lineage`) into the run it reports, keyed by its `runId`, for the same
//! never-blank upsert as the runs read from logs.
//!
//! `START`/`RUNNING` → `RUNNING`, `COMPLETE` → `SUCCESS`, `FAIL`/`ABORT` → `FAILURE`;
//! `eventTime` is the start (`START`) or the end (`COMPLETE`, `FAIL`, `ABORT`);
//! `job.namespace`/`job.name` are the folder and workflow; inputs and outputs are the sources
//! and targets; the `errorMessage` run facet is the error; `inputStatistics.rowCount` and
//! `outputStatistics.rowCount` are the rows read and written. The raw event is kept in
//! `extra` under `openlineage_<eventType>` (the last one of each type).

use serde_json::Value;

use crate::audit::{AuditRow, RunStatus};
use crate::normalize::{TimeParser, TsFormat};
use crate::parse::RejectKind;

/// The `system_type` of runs reported over OpenLineage.
pub const SYSTEM_TYPE: &str = "OPENLINEAGE";

/// Largest event kept whole in `extra` (a larger one is kept as its first bytes).
const MAX_RAW_KEPT: usize = 64 << 10;

/// A RunEvent read as a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageRun {
    /// `OPENLINEAGE|<runId>`.
    pub run_key: String,
    /// `START`, `RUNNING`, `COMPLETE`, `FAIL`, `ABORT` or `OTHER`.
    pub event_type: String,
    pub row: AuditRow,
}

/// Why an event is not a RunEvent this reader understands; the message names the field, the
/// kind counts it among the dead letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LineageError {
    pub kind: RejectKind,
    pub message: String,
}

fn reject<T>(kind: RejectKind, message: String) -> Result<T, LineageError> {
    Err(LineageError { kind, message })
}

/// Reads one RunEvent.
pub fn parse_run_event(body: &[u8]) -> Result<LineageRun, LineageError> {
    let event: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return reject(RejectKind::BadJson, format!("the body is not JSON: {e}")),
    };
    if !event.is_object() {
        return reject(RejectKind::BadJson, "the body is not a JSON object".into());
    }
    let text = |path: &str| event.pointer(path).and_then(Value::as_str).map(str::trim);
    let Some(run_id) = text("/run/runId").filter(|s| !s.is_empty()) else {
        return reject(RejectKind::MissingField, "run.runId: missing (not a RunEvent?)".into());
    };
    let Some(namespace) = text("/job/namespace") else {
        return reject(RejectKind::MissingField, "job.namespace: missing".into());
    };
    let Some(job) = text("/job/name").filter(|s| !s.is_empty()) else {
        return reject(RejectKind::MissingField, "job.name: missing".into());
    };
    let Some(time_text) = text("/eventTime") else {
        return reject(RejectKind::MissingField, "eventTime: missing".into());
    };
    let parser = TimeParser::new(vec![TsFormat::Iso8601], jiff::tz::TimeZone::UTC);
    let Some(time) = parser.parse(time_text) else {
        return reject(
            RejectKind::BadTimestamp,
            format!("eventTime: `{time_text}` is not an ISO 8601 time"),
        );
    };
    let event_type = match event.get("eventType") {
        None | Some(Value::Null) => "OTHER".to_owned(),
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(_) => return reject(RejectKind::BadStatus, "eventType: not a string".into()),
    };
    let mut row = AuditRow::new(SYSTEM_TYPE);
    row.folder_name = Some(namespace.to_owned());
    row.workflow_name = Some(job.to_owned());
    row.run_id = Some(run_id.to_owned());
    match event_type.as_str() {
        "START" => {
            row.status = RunStatus::Running;
            row.start_time = Some(time);
        }
        "RUNNING" => row.status = RunStatus::Running,
        "COMPLETE" => {
            row.status = RunStatus::Success;
            row.end_time = Some(time);
        }
        "FAIL" | "ABORT" => {
            row.status = RunStatus::Failure;
            row.end_time = Some(time);
        }
        "OTHER" => {}
        other => {
            return reject(
                RejectKind::BadStatus,
                format!(
                    "eventType: `{other}` is not START, RUNNING, COMPLETE, FAIL, ABORT or OTHER"
                ),
            )
        }
    }
    row.source_rows = datasets(&event, "inputs", "inputStatistics", &mut row.source_name)?;
    row.target_rows = datasets(&event, "outputs", "outputStatistics", &mut row.target_name)?;
    if let Some(message) = text("/run/facets/errorMessage/message") {
        row.first_error(message);
    }
    if event_type == "ABORT" {
        row.first_error("run aborted");
    }
    if let Some(integration) = text("/job/facets/jobType/integration") {
        row.extra.insert("integration".into(), integration.into());
    }
    if let Some(parent) = text("/run/facets/parent/run/runId") {
        row.extra.insert("parent_run_id".into(), parent.into());
    }
    row.extra
        .insert(format!("openlineage_{}", event_type.to_ascii_lowercase()), kept(&event, body));
    row.bound();
    Ok(LineageRun { run_key: format!("{SYSTEM_TYPE}|{run_id}"), event_type, row })
}

/// Adds the names of `inputs` or `outputs` to `names` and sums their row counts (`None` when
/// no dataset states one).
fn datasets(
    event: &Value,
    key: &str,
    stats: &str,
    names: &mut Vec<String>,
) -> Result<Option<i64>, LineageError> {
    let list = match event.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return reject(RejectKind::BadJson, format!("{key}: not an array")),
    };
    let facet = if key == "inputs" { "inputFacets" } else { "outputFacets" };
    let mut rows: Option<i64> = None;
    for (i, d) in list.iter().enumerate() {
        let Some(name) = d.get("name").and_then(Value::as_str) else {
            return reject(RejectKind::MissingField, format!("{key}[{i}].name: missing"));
        };
        AuditRow::push_name(names, name);
        if let Some(n) = d.pointer(&format!("/{facet}/{stats}/rowCount")).and_then(Value::as_i64) {
            rows = Some(rows.unwrap_or(0).saturating_add(n));
        }
    }
    Ok(rows)
}

/// The event as kept: whole, or its first bytes as text when it is large.
fn kept(event: &Value, body: &[u8]) -> Value {
    if body.len() <= MAX_RAW_KEPT {
        return event.clone();
    }
    let head = String::from_utf8_lossy(&body[..MAX_RAW_KEPT]);
    Value::from(format!("{head}…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"eventType":"{kind}","eventTime":"2025-05-04T10:30:00.5Z",
               "run":{{"runId":"0190-ab","facets":{{{extra}}}}},
               "job":{{"namespace":"dbt","name":"shop.orders","facets":{{"jobType":{{"integration":"DBT","jobType":"JOB","processingType":"BATCH"}}}}}},
               "inputs":[{{"namespace":"duckdb","name":"raw.orders","inputFacets":{{"inputStatistics":{{"rowCount":120}}}}}}],
               "outputs":[{{"namespace":"duckdb","name":"main.orders","outputFacets":{{"outputStatistics":{{"rowCount":118}}}}}}],
               "producer":"https://github.com/OpenLineage/OpenLineage","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"}}"#
        )
        .into_bytes()
    }

    #[test]
    fn start_complete_and_fail_map_to_rows() {
        let start = parse_run_event(&event("START", "")).unwrap();
        assert_eq!(start.run_key, "OPENLINEAGE|0190-ab");
        assert_eq!(start.row.status, RunStatus::Running);
        assert_eq!(start.row.start_time, Some(1_746_354_600_500_000));
        assert_eq!(start.row.end_time, None);
        assert_eq!(start.row.folder_name.as_deref(), Some("dbt"));
        assert_eq!(start.row.workflow_name.as_deref(), Some("shop.orders"));
        assert_eq!(start.row.source_name, ["raw.orders"]);
        assert_eq!(start.row.target_name, ["main.orders"]);
        assert_eq!((start.row.source_rows, start.row.target_rows), (Some(120), Some(118)));
        assert_eq!(start.row.extra["integration"], "DBT");
        assert_eq!(start.row.extra["openlineage_start"]["run"]["runId"], "0190-ab");
        let done = parse_run_event(&event("COMPLETE", "")).unwrap();
        assert_eq!(
            (done.row.status, done.row.end_time),
            (RunStatus::Success, Some(1_746_354_600_500_000))
        );
        let failed = parse_run_event(&event(
            "FAIL",
            r#""errorMessage":{"message":"relation \"orders\" does not exist","programmingLanguage":"SQL"}"#,
        ))
        .unwrap();
        assert_eq!(failed.row.status, RunStatus::Failure);
        assert_eq!(failed.row.error_message.as_deref(), Some("relation \"orders\" does not exist"));
        let merged = crate::audit::merge_rows(&start.row, &failed.row);
        assert_eq!(merged.start_time, Some(1_746_354_600_500_000));
        assert_eq!(merged.status, RunStatus::Failure);
        assert!(
            merged.extra.contains_key("openlineage_start")
                && merged.extra.contains_key("openlineage_fail")
        );
        let abort = parse_run_event(&event("ABORT", "")).unwrap();
        assert_eq!(abort.row.error_message.as_deref(), Some("run aborted"));
    }

    #[test]
    fn malformed_events_say_what_is_wrong() {
        let cases: [(&[u8], &str); 8] = [
            (b"not json", "not JSON"),
            (b"[1]", "not a JSON object"),
            (br#"{"job":{"namespace":"n","name":"j"},"eventTime":"2025-01-01T00:00:00Z"}"#, "run.runId"),
            (br#"{"run":{"runId":"r"},"eventTime":"2025-01-01T00:00:00Z"}"#, "job.namespace"),
            (br#"{"run":{"runId":"r"},"job":{"namespace":"n","name":"j"}}"#, "eventTime: missing"),
            (br#"{"run":{"runId":"r"},"job":{"namespace":"n","name":"j"},"eventTime":"yesterday"}"#, "eventTime: `yesterday`"),
            (br#"{"run":{"runId":"r"},"job":{"namespace":"n","name":"j"},"eventTime":"2025-01-01T00:00:00Z","eventType":"DONE"}"#, "eventType"),
            (br#"{"run":{"runId":"r"},"job":{"namespace":"n","name":"j"},"eventTime":"2025-01-01T00:00:00Z","inputs":[{"namespace":"x"}]}"#, "inputs[0].name"),
        ];
        for (body, want) in cases {
            let err = parse_run_event(body).unwrap_err();
            assert!(err.message.contains(want), "{want} in {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_run_event(&body);
        }
    }
}
