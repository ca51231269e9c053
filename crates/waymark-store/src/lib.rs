//! waymark's stores.
//!
//! The store is the only part of waymark that knows SQL. One interface per concern
//! ([`EventStore`] for normalized events and their join state, more for scan results and
//! audit rows), one backend per database (SQLite, embedded, is the default), and one
//! conformance suite ([`conformance`]) that every backend passes.
//!
//! Invariant: a batch's rows and the positions it reached are committed in one transaction,
//! so a crash at any instant followed by a restart gives the same tables as one clean run.

pub mod alert;
mod any;
mod audit;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
pub mod export;
mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod query;
mod scan;
pub mod sqlite;

pub use alert::{AlertStore, Attempt, AttemptOutcome, OutboxRow, OutboxState};
pub use any::{is_postgres_url, open, AnyStore};
/// The [`AuditStore`] suite's checks, for backends outside this crate.
#[cfg(any(test, feature = "conformance"))]
pub use audit::suite as audit_conformance;
pub use audit::AuditStore;
pub use error::StoreError;
pub use export::{
    Column, ColumnType, ExportFilter, ExportKey, ExportPage, ExportRow, ExportStore, ExportTable,
    ExportWatermark, FinishedExport, Value,
};
pub use model::{DeadLetterRow, EventRow, FailureFilter, PendingRow, SourceRow, StoreStats};
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use query::{
    DeadLetterQuery, FailureQuery, OrphanQuery, PageRequest, QueryStore, RunQuery, ScanResultQuery,
};
/// The [`ScanStore`] suite's checks, for backends outside this crate.
#[cfg(any(test, feature = "conformance"))]
pub use scan::conformance as scan_conformance;
pub use scan::ScanStore;
pub use sqlite::{SqlAnswer, SqlLimits, SqliteStore};

use waymark_core::correlate::Pending;
use waymark_core::pipeline::Batch;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The halves waiting for a partner, and each source's event-time watermark.
pub type JoinState = (Vec<Pending>, Vec<(u32, i64)>);

/// Normalized events, the join state and the positions of their sources.
pub trait EventStore {
    /// The id of a source, created on first use.
    fn source(&mut self, kind: &str, name: &str) -> Result<SourceRow>;

    /// Retires a source whose input was replaced or truncated: its rows stay, and the next
    /// [`source`](EventStore::source) call with its kind and name creates a fresh one, so the
    /// new version's positions never collide with the old one's.
    fn retire_source(&mut self, id: u32) -> Result<()>;

    /// Gives a source a new name (a file found under another path: renamed, rotated,
    /// compressed), active again if it was retired. A source that held that name before is
    /// retired: its content left the path.
    fn rename_source(&mut self, id: u32, name: &str) -> Result<()>;

    /// The halves waiting for a partner and each source's event-time watermark.
    fn join_state(&self) -> Result<JoinState>;

    /// The halves waiting that came from one source (a Kafka partition taken over).
    fn pending_of_source(&self, source: u32) -> Result<Vec<Pending>>;

    /// The latest `limit` orphans (by event time, oldest first): a partner that turns up late
    /// still joins them after a restart, as it would have in one uninterrupted run. A backend
    /// without it only joins such pairs when the partner becomes an orphan in turn.
    fn recent_orphans(&self, limit: usize) -> Result<Vec<Pending>> {
        let _ = limit;
        Ok(Vec::new())
    }

    /// Stores a batch and the positions it reached, all or nothing.
    fn commit(&mut self, batch: &Batch) -> Result<()>;

    /// The events of one correlation id across systems, in time order.
    fn trace(&self, correlation_id: &str) -> Result<Vec<EventRow>>;

    /// Failures, newest last, filtered.
    fn failures(&self, filter: &FailureFilter) -> Result<Vec<EventRow>>;

    /// Halves that outlived the join time-to-live.
    fn orphans(&self, limit: usize) -> Result<Vec<PendingRow>>;

    /// Rejected records, in order of origin.
    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterRow>>;

    fn sources(&self) -> Result<Vec<SourceRow>>;

    fn stats(&self) -> Result<StoreStats>;
}
