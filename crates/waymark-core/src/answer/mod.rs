//! The answers to questions about the store, as values: what the CLI prints with `--json` and
//! what the HTTP API returns are these types, serialized once.
//!
//! - [`EventView`], [`FlowTrace`] with its [`Verdict`] (where a flow stopped);
//! - [`OrphanView`], [`DeadLetterView`], [`RunView`], [`ScanResultView`];
//! - [`StatusView`] and [`Summary`];
//! - [`Page`] and its opaque [`Cursor`] for keyset pagination.

mod cursor;
mod verdict;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

pub use cursor::{Cursor, CursorError};
pub use verdict::{Stop, Verdict, VerdictState};

use crate::audit::{AuditRow, StoredRun};
use crate::normalize::format_utc;

/// A time given as a filter (`--since`, `?since=`): RFC 3339, or a date; zoneless times are
/// UTC. Microseconds since the epoch.
pub fn parse_time_filter(s: &str) -> Result<i64, String> {
    use crate::normalize::{TimeParser, TsFormat};
    let formats = vec![TsFormat::Iso8601, TsFormat::Strftime("%Y-%m-%d".into())];
    let p = TimeParser::new(formats, jiff::tz::TimeZone::UTC);
    p.parse(s).or_else(|| p.parse(&format!("{s}T00:00:00"))).ok_or_else(|| {
        format!("`{s}` is not a time (expected RFC 3339 like 2025-05-04T10:30:00Z, or a date)")
    })
}

/// One stored event, with the seed's field names and where it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventView {
    pub system_id: String,
    pub checkpoint_id: String,
    /// RFC 3339 UTC.
    pub timestamp: String,
    /// `SUCCESS` or `FAILURE`.
    pub status: String,
    pub correlation_id: String,
    pub failure_reason: Option<String>,
    /// The source's name (a path, `topic/partition`, `stdin`).
    pub source: String,
    /// The record's position in its source (byte offset or Kafka offset).
    pub position: u64,
    /// Event time in microseconds (not serialized: `timestamp` says it).
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub ts_micros: i64,
}

/// The events of one correlation id across systems, in time order, and where the flow stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlowTrace {
    pub correlation_id: String,
    /// The systems the flow went through, in order of first appearance.
    pub systems: Vec<String>,
    pub verdict: Verdict,
    pub events: Vec<EventView>,
}

impl FlowTrace {
    /// The trace of `events` (in time order).
    pub fn new(correlation_id: &str, events: Vec<EventView>) -> FlowTrace {
        let mut systems: Vec<String> = Vec::new();
        for e in &events {
            if !systems.contains(&e.system_id) {
                systems.push(e.system_id.clone());
            }
        }
        FlowTrace {
            correlation_id: correlation_id.to_owned(),
            systems,
            verdict: Verdict::of(&events),
            events,
        }
    }
}

/// A half of a split failure (a failure without its reason, or a reason without its failure)
/// that found no partner within the join time-to-live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrphanView {
    /// `failure` or `reason`.
    pub kind: String,
    pub system_id: String,
    pub correlation_id: String,
    /// RFC 3339 UTC.
    pub timestamp: String,
    pub failure_reason: Option<String>,
    pub source: String,
    pub position: u64,
}

/// A rejected record with its reason and origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeadLetterView {
    pub source: String,
    pub position: u64,
    /// The reason's kind (`bad_json`, `invalid_utf8`, `openlineage`, ...).
    pub kind: String,
    pub reason: String,
    /// The record (at most 64 KiB), invalid UTF-8 replaced.
    pub raw: String,
    /// The record's full length in bytes.
    pub raw_len: u64,
}

/// One audited ETL run (a row of `etl_log_audit`) and its reconciliation flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunView {
    pub system_type: String,
    pub folder_name: Option<String>,
    pub workflow_name: Option<String>,
    pub session_name: Option<String>,
    pub run_id: Option<String>,
    /// RFC 3339 UTC.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// An integer when whole.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub duration_seconds: Option<serde_json::Value>,
    /// `SUCCESS`, `FAILURE`, `RUNNING` or `UNKNOWN`.
    pub status: String,
    pub source_rows: Option<i64>,
    pub target_rows: Option<i64>,
    pub rejected_rows: Option<i64>,
    pub source_name: Vec<String>,
    pub target_name: Vec<String>,
    pub error_message: Option<String>,
    /// Mapped fields that are not columns.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: BTreeMap<String, serde_json::Value>,
    pub run_key: String,
    pub logscan_id: Option<i64>,
    pub log_file: Option<String>,
    /// When the row last changed, RFC 3339 UTC.
    pub updated_at: String,
    /// `count_mismatch`, `stale_running`.
    pub flags: Vec<String>,
    /// The run's parts (dbt nodes, stages, CI steps, a workflow's sessions), in order: name,
    /// kind, status, start and end (RFC 3339 UTC), rows, message.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub steps: Vec<serde_json::Value>,
}

/// What the reconciliation flags of a run are judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagClock {
    /// Now, microseconds since the epoch.
    pub now_micros: i64,
    /// A run `RUNNING` longer than this is flagged stale.
    pub running_timeout_secs: u64,
}

impl RunView {
    /// The view of a stored run, with its flags at `clock`.
    pub fn new(run: &StoredRun, clock: FlagClock) -> RunView {
        let last_seen = crate::normalize::TimeParser::new(
            vec![crate::normalize::TsFormat::Iso8601],
            jiff::tz::TimeZone::UTC,
        )
        .parse(&run.updated_at);
        let flags =
            crate::audit::flags(&run.row, clock.now_micros, clock.running_timeout_secs, last_seen)
                .into_iter()
                .map(|f| f.as_str().to_owned())
                .collect();
        let row: &AuditRow = &run.row;
        RunView {
            system_type: row.system_type.clone(),
            folder_name: row.folder_name.clone(),
            workflow_name: row.workflow_name.clone(),
            session_name: row.session_name.clone(),
            run_id: row.run_id.clone(),
            start_time: row.start_time.map(format_utc),
            end_time: row.end_time.map(format_utc),
            duration_seconds: row.duration_seconds().map(crate::audit::seconds_json),
            status: row.status.as_str().to_owned(),
            source_rows: row.source_rows,
            target_rows: row.target_rows,
            rejected_rows: row.rejected_rows,
            source_name: row.source_name.clone(),
            target_name: row.target_name.clone(),
            error_message: row.error_message.clone(),
            extra: row.extra.clone(),
            run_key: run.run_key.clone(),
            logscan_id: run.logscan_id,
            log_file: run.log_file.clone(),
            updated_at: run.updated_at.clone(),
            flags,
            steps: row.steps.iter().map(crate::audit::Step::to_json).collect(),
        }
    }
}

/// A line a scan rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanResultView {
    pub id: i64,
    pub logscan_id: i64,
    pub file_path: String,
    pub system_type: String,
    pub line_number: u64,
    pub byte_offset: u64,
    pub rule: String,
    /// `ERROR`, `WARNING` or `INFO`.
    pub severity: String,
    pub line: String,
    /// The line's own time, RFC 3339 UTC, when it states one.
    pub line_timestamp: Option<String>,
    pub scanned_at: String,
}

/// A source and the position reached in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceView {
    /// `file`, `stdin`, `kafka` (`…:retired` for a replaced version).
    pub kind: String,
    pub name: String,
    pub position: u64,
}

/// Row counts and the sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusView {
    pub events: u64,
    pub failures: u64,
    pub failures_without_reason: u64,
    pub waiting: u64,
    pub orphans: u64,
    pub dead_letters: u64,
    pub sources: Vec<SourceView>,
}

/// Event counts by system, checkpoint, status and hour: what a dashboard draws.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Summary {
    /// The window, RFC 3339 UTC (inclusive); absent when open.
    pub since: Option<String>,
    /// Exclusive.
    pub until: Option<String>,
    pub events: u64,
    pub failures: u64,
    pub by_system: Vec<SystemCount>,
    pub by_checkpoint: Vec<CheckpointCount>,
    pub by_hour: Vec<HourCount>,
}

/// Events of one system in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemCount {
    pub system_id: String,
    pub success: u64,
    pub failure: u64,
}

/// Events of one checkpoint of one system in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointCount {
    pub system_id: String,
    pub checkpoint_id: String,
    pub success: u64,
    pub failure: u64,
}

/// Events of one hour (UTC) in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HourCount {
    /// The hour's start, RFC 3339 UTC.
    pub hour: String,
    pub success: u64,
    pub failure: u64,
}

/// One page of a list, and the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` fetched with one row more than `limit` (0 = no limit): the extra row
    /// only says that there is a next page, which starts after the last item kept.
    pub fn from_rows(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> Cursor) -> Page<T> {
        let more = limit > 0 && items.len() > limit;
        if more {
            items.truncate(limit);
        }
        let next_cursor = if more { items.last().map(|t| key(t).encode()) } else { None };
        Page { items, next_cursor }
    }
}
