//! [`ExportStore`]: the exportable tables read in pages by key, typed, and the named export
//! watermarks behind `waymark export --since-last NAME`; with the conformance suite every
//! backend passes ([`export_store_suite!`]).
//!
//! Each table has a change sequence that only grows: the batch id for events, the rowid for
//! the insert-only tables (scan results, dead letters), and a counter that triggers advance for
//! the rows that change in place (a run's every insert and update, a half's turn to orphan). An
//! export reads the rows whose sequence lies in `(since, upto]`, where `upto` is the top of the
//! sequence when it started; a named export then records `upto` as its watermark in the
//! transaction that records the finished export, so the next one starts there.

use crate::Result;

/// A table that can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportTable {
    /// `events`: the normalized events.
    Events,
    /// `etl_log_audit`: one row per ETL run (updated in place; each new version is exported).
    Runs,
    /// `logscan_results`: the lines the scan rules matched.
    ScanResults,
    /// `dead_letters`: rejected records with their reason.
    DeadLetters,
    /// `join_pending` rows in state `orphan`: halves of split failures that found no partner.
    Orphans,
    // Hook: a `Steps` table (one row per step of a run) belongs here once the store has one:
    // a variant, its columns in `columns()`, and a sequence in each backend.
}

impl ExportTable {
    pub const ALL: [ExportTable; 5] = [
        ExportTable::Events,
        ExportTable::Runs,
        ExportTable::ScanResults,
        ExportTable::DeadLetters,
        ExportTable::Orphans,
    ];

    /// The name on the command line and in the watermark table.
    pub fn name(self) -> &'static str {
        match self {
            ExportTable::Events => "events",
            ExportTable::Runs => "runs",
            ExportTable::ScanResults => "scan-results",
            ExportTable::DeadLetters => "dead-letters",
            ExportTable::Orphans => "orphans",
        }
    }

    pub fn from_name(name: &str) -> Option<ExportTable> {
        ExportTable::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The columns, in the order of [`ExportRow::values`].
    pub fn columns(self) -> &'static [Column] {
        use ColumnType::{Float, Int, Text, TextList, Timestamp};
        const fn c(name: &'static str, ty: ColumnType, nullable: bool) -> Column {
            Column { name, ty, nullable }
        }
        match self {
            ExportTable::Events => {
                const COLUMNS: &[Column] = &[
                    c("source_id", Int, false),
                    c("position", Int, false),
                    c("source", Text, false),
                    c("system_id", Text, false),
                    c("checkpoint_id", Text, false),
                    c("timestamp", Timestamp, false),
                    c("status", Text, false),
                    c("correlation_id", Text, false),
                    c("failure_reason", Text, true),
                    c("batch_id", Int, false),
                    c("ingested_at", Timestamp, false),
                ];
                COLUMNS
            }
            ExportTable::Runs => {
                const COLUMNS: &[Column] = &[
                    c("run_key", Text, false),
                    c("system_type", Text, false),
                    c("folder_name", Text, true),
                    c("workflow_name", Text, true),
                    c("session_name", Text, true),
                    c("run_id", Text, true),
                    c("start_time", Timestamp, true),
                    c("end_time", Timestamp, true),
                    c("duration_seconds", Float, true),
                    c("status", Text, false),
                    c("source_rows", Int, true),
                    c("target_rows", Int, true),
                    c("rejected_rows", Int, true),
                    c("source_name", TextList, false),
                    c("target_name", TextList, false),
                    c("error_message", Text, true),
                    c("log_file", Text, true),
                    c("logscan_id", Int, true),
                    c("created_at", Timestamp, false),
                    c("updated_at", Timestamp, false),
                ];
                COLUMNS
            }
            ExportTable::ScanResults => {
                const COLUMNS: &[Column] = &[
                    c("id", Int, false),
                    c("logscan_id", Int, false),
                    c("file_path", Text, false),
                    c("system_type", Text, false),
                    c("rule", Text, false),
                    c("severity", Text, false),
                    c("line_number", Int, false),
                    c("byte_offset", Int, false),
                    c("line", Text, false),
                    c("line_timestamp", Timestamp, true),
                    c("scanned_at", Timestamp, false),
                ];
                COLUMNS
            }
            ExportTable::DeadLetters => {
                const COLUMNS: &[Column] = &[
                    c("id", Int, false),
                    c("source_id", Int, false),
                    c("position", Int, false),
                    c("source", Text, false),
                    c("kind", Text, false),
                    c("reason", Text, false),
                    c("raw", Text, false),
                    c("raw_len", Int, false),
                    c("created_at", Timestamp, false),
                ];
                COLUMNS
            }
            ExportTable::Orphans => {
                const COLUMNS: &[Column] = &[
                    c("source_id", Int, false),
                    c("position", Int, false),
                    c("source", Text, false),
                    c("kind", Text, false),
                    c("system_id", Text, false),
                    c("correlation_id", Text, false),
                    c("timestamp", Timestamp, false),
                    c("reason", Text, true),
                    c("created_at", Timestamp, false),
                ];
                COLUMNS
            }
        }
    }

    /// What the `--status` filter compares with (`None`: the table has no such column).
    pub fn status_column(self) -> Option<&'static str> {
        match self {
            ExportTable::Events | ExportTable::Runs => Some("status"),
            ExportTable::ScanResults => Some("severity"),
            ExportTable::DeadLetters | ExportTable::Orphans => Some("kind"),
        }
    }

    /// What the `--system` filter compares with.
    pub fn system_column(self) -> Option<&'static str> {
        match self {
            ExportTable::Events | ExportTable::Orphans => Some("system_id"),
            ExportTable::Runs | ExportTable::ScanResults => Some("system_type"),
            ExportTable::DeadLetters => None,
        }
    }

    /// The timestamp column the `--since`/`--until` range applies to.
    pub fn time_column(self) -> &'static str {
        match self {
            ExportTable::Events | ExportTable::Orphans => "timestamp",
            ExportTable::Runs => "start_time",
            ExportTable::ScanResults => "line_timestamp",
            ExportTable::DeadLetters => "created_at",
        }
    }
}

/// The type of a column, as typed formats (Parquet) write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Int,
    Float,
    Text,
    /// Microseconds since the epoch, UTC.
    Timestamp,
    /// A list of text (the JSON arrays of `etl_log_audit`).
    TextList,
}

/// A column of an exported table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
}

/// One value of an exported row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
    TextList(Vec<String>),
}

/// A row's place in its table's key order: the cursor of the next page.
pub type ExportKey = (i64, i64);

/// One exported row.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub key: ExportKey,
    pub values: Vec<Value>,
}

/// A page of rows and where the next page starts (`None`: the table is read to its end).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportPage {
    pub rows: Vec<ExportRow>,
    pub next: Option<ExportKey>,
}

/// The command line's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    /// Equal to the table's [`system_column`](ExportTable::system_column).
    pub system: Option<String>,
    /// Equal to the table's [`status_column`](ExportTable::status_column).
    pub status: Option<String>,
    /// Inclusive lower bound of the [`time_column`](ExportTable::time_column), microseconds.
    pub since: Option<i64>,
    /// Exclusive upper bound. A row without a time is left out when a bound is given.
    pub until: Option<i64>,
}

impl ExportFilter {
    /// A stable text of the filter, kept with a named watermark.
    pub fn describe(&self) -> String {
        serde_json::json!({
            "system": self.system,
            "status": self.status,
            "since": self.since,
            "until": self.until,
        })
        .to_string()
    }
}

/// The named watermark of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportWatermark {
    /// Rows up to here in the table's sequence were exported.
    pub upto: i64,
    /// The filter it was taken with ([`ExportFilter::describe`]).
    pub filter: String,
    pub exports: u64,
    pub rows: u64,
}

/// A finished export, recorded (and its watermark advanced, when named) in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedExport {
    /// The `--since-last` name, if any.
    pub name: Option<String>,
    pub table: ExportTable,
    pub filter: String,
    /// The watermark it started from (0: the beginning); the record is refused when the stored
    /// watermark is no longer this one (another export of that name finished meanwhile).
    pub since: i64,
    pub upto: i64,
    pub rows: u64,
    /// Where it went (a path, `stdout`, a warehouse), for the log.
    pub target: String,
}

/// Reading tables for export, and the watermarks of named exports.
pub trait ExportStore {
    /// The top of a table's change sequence now: an export started now reads up to it.
    fn export_high(&self, table: ExportTable) -> Result<i64>;

    /// Up to `limit` rows (before the filter) whose sequence lies in `(since, upto]`, in key
    /// order after `after`, that pass the filter.
    fn export_page(
        &self,
        table: ExportTable,
        filter: &ExportFilter,
        range: (i64, i64),
        after: Option<ExportKey>,
        limit: usize,
    ) -> Result<ExportPage>;

    /// The watermark of the named export of a table, if it ran before.
    fn export_watermark(&self, name: &str, table: ExportTable) -> Result<Option<ExportWatermark>>;

    /// Records a finished export and, when it is named, advances its watermark: one
    /// transaction. Refused (nothing written) if the watermark moved since the export started,
    /// or if it was taken with another filter.
    fn finish_export(&mut self, done: &FinishedExport) -> Result<()>;
}

/// Instantiates the suite for a backend, given an expression that makes an empty store
/// implementing [`ExportStore`], [`EventStore`](crate::EventStore),
/// [`AuditStore`](crate::AuditStore) and [`ScanStore`](crate::ScanStore).
#[macro_export]
macro_rules! export_store_suite {
    ($make:expr) => {
        mod export_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::export_store_suite!(@tests $make;
                every_table_reads_back_typed_in_pages,
                the_sequence_range_gives_each_row_once,
                an_updated_run_is_exported_again,
                an_orphan_is_exported_when_it_becomes_one,
                filters_select_by_system_status_and_time,
                watermarks_advance_only_by_a_finished_export,
            );
        }
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let mut store = $make;
                $crate::export::suite::$name(&mut store);
            }
        )*
    };
}

/// The checks, one plain function each (compiled for tests only).
#[cfg(test)]
pub(crate) mod suite;
