//! Rows as queries return them.

use waymark_core::correlate::PendingKind;
use waymark_core::Event;

/// A stored event and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub event: Event,
    pub source: String,
    pub position: u64,
    pub ingested_at: String,
}

/// A source and the position reached in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub id: u32,
    pub kind: String,
    pub name: String,
    pub position: u64,
    pub identity: Option<String>,
    /// The latest event time read from it (the correlator's clock for this source).
    pub watermark: Option<i64>,
}

/// A half of a split failure that is waiting, or an orphan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    pub kind: PendingKind,
    pub system_id: String,
    pub correlation_id: String,
    pub timestamp: String,
    pub reason: Option<String>,
    pub orphan: bool,
    pub source: String,
    pub position: u64,
}

/// A rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    pub source: String,
    pub position: u64,
    pub kind: String,
    pub reason: String,
    pub raw: Vec<u8>,
    pub raw_len: u64,
}

/// What `failures` returns.
#[derive(Debug, Clone, Default)]
pub struct FailureFilter {
    pub system: Option<String>,
    /// Inclusive lower bound, microseconds since the epoch.
    pub since: Option<i64>,
    /// Exclusive upper bound.
    pub until: Option<i64>,
    pub limit: usize,
}

/// Row counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub events: u64,
    pub failures: u64,
    pub failures_without_reason: u64,
    pub waiting: u64,
    pub orphans: u64,
    pub dead_letters: u64,
}
