//! The records an audit store exchanges: runs to upsert, stored runs, filters and pending
//! scanned files. Plain data, kept here so that every store and the binary share them.

use super::{AuditRow, RunStatus};

/// A scanned file version (`scanned_files`) whose audit is behind its scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAudit {
    pub logscan_id: i64,
    pub file_path: String,
    pub system_type: String,
    /// Bytes scanned: the document to audit ends here.
    pub position: u64,
}

/// One run to upsert under its key.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditUpsert {
    pub run_key: String,
    pub row: AuditRow,
    pub logscan_id: Option<i64>,
    pub log_file: Option<String>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpsertSummary {
    pub inserted: usize,
    pub updated: usize,
    /// Rows read again with nothing new.
    pub unchanged: usize,
}

impl UpsertSummary {
    pub fn add(&mut self, other: UpsertSummary) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// A row of `etl_log_audit`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub run_key: String,
    pub row: AuditRow,
    pub logscan_id: Option<i64>,
    pub log_file: Option<String>,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// Which runs to list. Times are microseconds since the epoch, on the run's start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub system_type: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// At most this many (the latest by start); 0 = all.
    pub limit: usize,
}
