//! [`open`]: one entry point that opens the backend a `--db` value names, as an [`AnyStore`]
//! implementing every store trait.
//!
//! A `postgres://` or `postgresql://` URL opens PostgreSQL (feature `postgres`); anything else is
//! the path of a SQLite file.

use std::path::Path;

use waymark_core::alert::{Firing, Notification, SourceLag, Transition};
use waymark_core::answer::{
    DeadLetterView, EventView, FlagClock, FlowTrace, OrphanView, Page, RunView, ScanResultView,
    StatusView, Summary,
};
use waymark_core::audit::{AuditUpsert, PendingAudit, RunFilter, Step, StoredRun, UpsertSummary};
use waymark_core::correlate::Pending;
use waymark_core::pipeline::Batch;
use waymark_core::scan::{ScanCommit, ScannedFile, StoredScanResult};
use waymark_core::Event;

use crate::export::{
    ExportFilter, ExportKey, ExportPage, ExportTable, ExportWatermark, FinishedExport,
};
use crate::model::{DeadLetterRow, EventRow, FailureFilter, PendingRow, SourceRow, StoreStats};
use crate::query::{
    DeadLetterQuery, FailureQuery, OrphanQuery, PageRequest, RunQuery, ScanResultQuery,
};
use crate::{
    AlertStore, Attempt, AuditStore, EventStore, ExportStore, JoinState, OutboxRow, QueryStore,
    Result, ScanStore, SqlAnswer, SqlLimits, SqliteStore,
};

/// A store of either backend.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    Sqlite(SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(Box<crate::PgStore>),
}

/// Whether `target` is a PostgreSQL URL rather than a SQLite path.
pub fn is_postgres_url(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// Opens (creating or migrating) the store `target` names: a PostgreSQL URL or a SQLite path.
pub fn open(target: &Path) -> Result<AnyStore> {
    match target.to_str() {
        Some(url) if is_postgres_url(url) => open_postgres(url),
        _ => Ok(AnyStore::Sqlite(SqliteStore::open(target)?)),
    }
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<AnyStore> {
    Ok(AnyStore::Postgres(Box::new(crate::PgStore::open(url)?)))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_url: &str) -> Result<AnyStore> {
    Err(crate::StoreError::Refused(
        "this waymark was built without PostgreSQL (cargo feature `postgres`)".into(),
    ))
}

impl AnyStore {
    /// A second connection to the same store for another thread of the same writer (it
    /// shares the sources this one claimed).
    pub fn reopen(&self) -> Result<AnyStore> {
        match self {
            AnyStore::Sqlite(s) => {
                let path = s.connection().path().unwrap_or_default();
                Ok(AnyStore::Sqlite(SqliteStore::open(Path::new(path))?))
            }
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => Ok(AnyStore::Postgres(Box::new(s.reopen()?))),
        }
    }

    /// Opens `target` for a server's pool of readers (SQLite: a smaller page cache, see
    /// [`SqliteStore::open_reader`]; PostgreSQL: a connection as any other).
    pub fn open_reader(target: &Path) -> Result<AnyStore> {
        match target.to_str() {
            Some(url) if is_postgres_url(url) => open_postgres(url),
            _ => Ok(AnyStore::Sqlite(SqliteStore::open_reader(target)?)),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(_) => "postgres",
        }
    }

    /// Opens the store `target` names for reading only, never migrating it (`waymark sql`).
    pub fn open_read_only(target: &Path) -> Result<AnyStore> {
        match target.to_str() {
            #[cfg(feature = "postgres")]
            Some(url) if is_postgres_url(url) => {
                Ok(AnyStore::Postgres(Box::new(crate::PgStore::open_read_only(url)?)))
            }
            Some(url) if is_postgres_url(url) => open_postgres(url),
            _ => Ok(AnyStore::Sqlite(SqliteStore::open_read_only(target)?)),
        }
    }

    /// Runs one read-only SQL statement under limits; column names and rows as text
    /// (`waymark sql`).
    pub fn query_guarded(&self, sql: &str, limits: SqlLimits) -> Result<SqlAnswer> {
        match self {
            AnyStore::Sqlite(s) => s.query_guarded(sql, limits),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s.query_guarded(sql, limits),
        }
    }

    /// The SQLite store, when it is one (what only SQLite offers: the server's pool).
    pub fn as_sqlite(&self) -> Option<&SqliteStore> {
        match self {
            AnyStore::Sqlite(s) => Some(s),
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(_) => None,
        }
    }
}

/// Calls the same method on whichever backend this is.
macro_rules! each {
    ($self:ident, $s:ident => $body:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $body,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($s) => $body,
        }
    };
}

impl EventStore for AnyStore {
    fn source(&mut self, kind: &str, name: &str) -> Result<SourceRow> {
        each!(self, s => s.source(kind, name))
    }
    fn retire_source(&mut self, id: u32) -> Result<()> {
        each!(self, s => s.retire_source(id))
    }
    fn rename_source(&mut self, id: u32, name: &str) -> Result<()> {
        each!(self, s => s.rename_source(id, name))
    }
    fn recent_orphans(&self, limit: usize) -> Result<Vec<Pending>> {
        each!(self, s => s.recent_orphans(limit))
    }
    fn join_state(&self) -> Result<JoinState> {
        each!(self, s => s.join_state())
    }
    fn pending_of_source(&self, source: u32) -> Result<Vec<Pending>> {
        each!(self, s => s.pending_of_source(source))
    }
    fn commit(&mut self, batch: &Batch) -> Result<()> {
        each!(self, s => s.commit(batch))
    }
    fn trace(&self, correlation_id: &str) -> Result<Vec<EventRow>> {
        each!(self, s => s.trace(correlation_id))
    }
    fn failures(&self, filter: &FailureFilter) -> Result<Vec<EventRow>> {
        each!(self, s => s.failures(filter))
    }
    fn orphans(&self, limit: usize) -> Result<Vec<PendingRow>> {
        each!(self, s => s.orphans(limit))
    }
    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterRow>> {
        each!(self, s => s.dead_letters(limit))
    }
    fn sources(&self) -> Result<Vec<SourceRow>> {
        each!(self, s => s.sources())
    }
    fn stats(&self) -> Result<StoreStats> {
        each!(self, s => s.stats())
    }
}

impl ScanStore for AnyStore {
    fn active_scanned_files(&self) -> Result<Vec<ScannedFile>> {
        each!(self, s => s.active_scanned_files())
    }
    fn begin_versions(&mut self, files: &[(ScannedFile, Option<i64>)]) -> Result<Vec<i64>> {
        each!(self, s => s.begin_versions(files))
    }
    fn commit_scans(&mut self, commits: &[ScanCommit]) -> Result<()> {
        each!(self, s => s.commit_scans(commits))
    }
    fn supersede(&mut self, logscan_id: i64) -> Result<()> {
        each!(self, s => s.supersede(logscan_id))
    }
    fn scanned_file(&self, logscan_id: i64) -> Result<Option<ScannedFile>> {
        each!(self, s => s.scanned_file(logscan_id))
    }
    fn scan_results(&self, logscan_id: i64) -> Result<Vec<StoredScanResult>> {
        each!(self, s => s.scan_results(logscan_id))
    }
}

impl AuditStore for AnyStore {
    fn pending_audits(&self) -> Result<Vec<PendingAudit>> {
        each!(self, s => s.pending_audits())
    }
    fn upsert_runs(
        &mut self,
        runs: &[AuditUpsert],
        audited: Option<(i64, u64)>,
    ) -> Result<UpsertSummary> {
        each!(self, s => s.upsert_runs(runs, audited))
    }
    fn runs(&self, filter: &RunFilter) -> Result<Vec<StoredRun>> {
        each!(self, s => s.runs(filter))
    }
    fn stored_run(&self, run_key: &str) -> Result<Option<StoredRun>> {
        each!(self, s => s.stored_run(run_key))
    }
    fn steps(&self, run_key: &str) -> Result<Vec<Step>> {
        each!(self, s => s.steps(run_key))
    }
}

impl QueryStore for AnyStore {
    fn flow(&self, correlation_id: &str) -> Result<FlowTrace> {
        each!(self, s => s.flow(correlation_id))
    }
    fn failure_page(&self, q: &FailureQuery, page: &PageRequest) -> Result<Page<EventView>> {
        each!(self, s => s.failure_page(q, page))
    }
    fn orphan_page(&self, q: &OrphanQuery, page: &PageRequest) -> Result<Page<OrphanView>> {
        each!(self, s => s.orphan_page(q, page))
    }
    fn dead_letter_page(
        &self,
        q: &DeadLetterQuery,
        page: &PageRequest,
    ) -> Result<Page<DeadLetterView>> {
        each!(self, s => s.dead_letter_page(q, page))
    }
    fn run_page(&self, q: &RunQuery, page: &PageRequest) -> Result<Page<RunView>> {
        each!(self, s => s.run_page(q, page))
    }
    fn run(&self, run_key: &str, clock: FlagClock) -> Result<Option<RunView>> {
        each!(self, s => s.run(run_key, clock))
    }
    fn scan_result_page(
        &self,
        q: &ScanResultQuery,
        page: &PageRequest,
    ) -> Result<Page<ScanResultView>> {
        each!(self, s => s.scan_result_page(q, page))
    }
    fn status(&self) -> Result<StatusView> {
        each!(self, s => s.status())
    }
    fn summary(&self, since: Option<i64>, until: Option<i64>) -> Result<Summary> {
        each!(self, s => s.summary(since, until))
    }
}

impl AlertStore for AnyStore {
    fn active_firings(&self) -> Result<Vec<Firing>> {
        each!(self, s => s.active_firings())
    }
    fn record_transitions(
        &mut self,
        transitions: &[Transition],
        notifications: &[Notification],
        now_micros: i64,
    ) -> Result<()> {
        each!(self, s => s.record_transitions(transitions, notifications, now_micros))
    }
    fn last_notified(&self, firing_key: &str, sink: &str) -> Result<Option<i64>> {
        each!(self, s => s.last_notified(firing_key, sink))
    }
    fn pending_for(&self, firing_key: &str, sink: &str) -> Result<bool> {
        each!(self, s => s.pending_for(firing_key, sink))
    }
    fn due_notifications(&self, now_micros: i64, limit: usize) -> Result<Vec<OutboxRow>> {
        each!(self, s => s.due_notifications(now_micros, limit))
    }
    fn record_attempt(&mut self, row: i64, attempt: &Attempt) -> Result<()> {
        each!(self, s => s.record_attempt(row, attempt))
    }
    fn recent_notifications(&self, limit: usize) -> Result<Vec<OutboxRow>> {
        each!(self, s => s.recent_notifications(limit))
    }
    fn flows_since(&self, since_micros: i64) -> Result<Vec<(String, Vec<Event>)>> {
        each!(self, s => s.flows_since(since_micros))
    }
    fn flow_events(&self, correlation_id: &str) -> Result<Vec<Event>> {
        each!(self, s => s.flow_events(correlation_id))
    }
    fn source_lags(&self) -> Result<Vec<SourceLag>> {
        each!(self, s => s.source_lags())
    }
    fn ingest_counts_since(&self, since_micros: i64) -> Result<(u64, u64)> {
        each!(self, s => s.ingest_counts_since(since_micros))
    }
}

impl ExportStore for AnyStore {
    fn export_high(&self, table: ExportTable) -> Result<i64> {
        each!(self, s => s.export_high(table))
    }
    fn export_page(
        &self,
        table: ExportTable,
        filter: &ExportFilter,
        range: (i64, i64),
        after: Option<ExportKey>,
        limit: usize,
    ) -> Result<ExportPage> {
        each!(self, s => s.export_page(table, filter, range, after, limit))
    }
    fn export_watermark(&self, name: &str, table: ExportTable) -> Result<Option<ExportWatermark>> {
        each!(self, s => s.export_watermark(name, table))
    }
    fn finish_export(&mut self, done: &FinishedExport) -> Result<()> {
        each!(self, s => s.finish_export(done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_opens_sqlite_and_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir.path().join("w.db")).unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.source("file", "/a").unwrap();
        assert_eq!(store.reopen().unwrap().sources().unwrap().len(), 1);
    }

    #[test]
    fn a_url_opens_postgres_or_says_why_not() {
        let url = "postgres://nobody@127.0.0.1:1/none";
        let err = open(Path::new(url)).unwrap_err().to_string();
        if cfg!(feature = "postgres") {
            assert!(err.starts_with("postgres:"), "{err}");
        } else {
            assert!(err.contains("without PostgreSQL"), "{err}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_url_opens_postgres() {
        let Some(url) = crate::postgres::tests::server() else { return };
        let mut store = open(Path::new(&url)).unwrap();
        assert_eq!(store.backend(), "postgres");
        let name = crate::postgres::tests::fresh_schema();
        let row = store.source("file", &name).unwrap();
        let again = store.reopen().unwrap();
        assert!(again.sources().unwrap().iter().any(|s| s.id == row.id));
    }
}
