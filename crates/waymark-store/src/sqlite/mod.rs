//! The SQLite backend: one file, WAL journal, batched transactions, statements prepared once.

mod alert;
pub(crate) mod audit;
mod events;
mod export;
mod query;
mod readonly;
mod scan;

pub use readonly::{SqlAnswer, SqlLimits};

use std::path::Path;

use rusqlite::Connection;

use crate::{Result, StoreError};

/// Schema migrations, applied in order; `PRAGMA user_version` records the last one applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("01_events", include_str!("../../migrations/sqlite/01_events.up.sql")),
    ("02_scan", include_str!("../../migrations/sqlite/02_scan.up.sql")),
    ("03_audit", include_str!("../../migrations/sqlite/03_audit.up.sql")),
    ("04_origin_keys", include_str!("../../migrations/sqlite/04_origin_keys.up.sql")),
    ("05_steps", include_str!("../../migrations/sqlite/05_steps.up.sql")),
    ("06_alerts", include_str!("../../migrations/sqlite/06_alerts.up.sql")),
    ("07_export", include_str!("../../migrations/sqlite/07_export.up.sql")),
    ("08_event_counts", include_str!("../../migrations/sqlite/08_event_counts.up.sql")),
];

/// A store in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.conn.path()).finish()
    }
}

impl SqliteStore {
    /// Opens (and creates or migrates) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let conn = Connection::open(path)?;
        SqliteStore::init(conn)
    }

    /// Opens the store at `path` for a server's pool of readers: as [`SqliteStore::open`], with
    /// a smaller page cache (8 MiB instead of 32): many readers share the operating system's
    /// file cache, and each keeps its own page cache for as long as it lives.
    pub fn open_reader(path: &Path) -> Result<SqliteStore> {
        let store = SqliteStore::open(path)?;
        store.conn.pragma_update(None, "cache_size", -8_192)?;
        Ok(store)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<SqliteStore> {
        SqliteStore::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteStore> {
        conn.busy_handler(Some(wait_for_lock))?;
        // WAL with synchronous=NORMAL: a process crash never loses a committed transaction,
        // readers do not block the writer, and commits do not wait for an fsync each.
        // 16 KiB pages: a fifth faster inserts than the default 4 KiB on this workload. It
        // only takes effect on a new database (before the first write).
        conn.pragma_update(None, "page_size", 16_384)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 32 MiB: half the memory of 64 MiB for the same insert rate (issue 15).
        conn.pragma_update(None, "cache_size", -32_768)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // A checkpoint every 8,192 pages of log (128 MiB of this store's 16 KiB pages; a store
        // made with 4 KiB pages before they were set gets 32 MiB) instead of SQLite's 1,000: each
        // writes back every page the transactions since the last one touched — with the trace
        // index's random keys, most of the index — and waits for two fsyncs. `ingest` of 1M
        // records is 15–20 % faster; the log on disk grows to 128 MiB before it is folded back.
        conn.pragma_update(None, "wal_autocheckpoint", 8_192)?;
        conn.set_prepared_statement_cache_capacity(64);
        let mut store = SqliteStore { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let known = MIGRATIONS.len() as i64;
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == known {
            return Ok(());
        }
        // The version is read again under the write lock: two processes opening a new store
        // at once must not both run the migrations.
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > known {
            return Err(StoreError::SchemaTooNew { found: version, known });
        }
        for (i, (_name, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The underlying connection, for the other concerns' modules and for tests.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// How long a statement waits for another process's write lock before it fails with
/// [`StoreError::Busy`]; nothing of the batch is written then, and a rerun goes on from the
/// positions stored.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The pause between two attempts to take the lock.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// SQLite's busy handler: `attempt` counts the earlier calls for the same lock. It waits in
/// steps of [`LOCK_RETRY`] up to [`LOCK_WAIT`], and says so in the log (a plain busy timeout
/// would wait silently, which looks like a hang). See: issue 16.
fn wait_for_lock(attempt: i32) -> bool {
    let waited = LOCK_RETRY * u32::try_from(attempt).unwrap_or(0);
    if waited >= LOCK_WAIT {
        tracing::error!(waited = ?waited, "the store is still locked by another writer: giving up");
        return false;
    }
    let every = (1_000 / LOCK_RETRY.as_millis()).max(1) as i32;
    if attempt == 0 {
        tracing::warn!(up_to = ?LOCK_WAIT, "the store is locked by another writer: waiting");
    } else if attempt % every == 0 {
        tracing::info!(waited = ?waited, "still waiting for the store's write lock");
    }
    std::thread::sleep(LOCK_RETRY);
    true
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        use rusqlite::ffi::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy { backend: "sqlite", message: err.to_string() }
            }
            Some(ErrorCode::DiskFull) => {
                StoreError::Full { backend: "sqlite", message: err.to_string() }
            }
            _ => StoreError::backend("sqlite", err),
        }
    }
}

/// Now, as RFC 3339 UTC text with milliseconds.
pub(crate) fn now_text() -> String {
    let now = jiff::Timestamp::now();
    waymark_core::normalize::format_utc(now.as_millisecond() * 1000)
}

#[cfg(test)]
mod tests {
    crate::event_store_suite!(crate::SqliteStore::in_memory().unwrap());

    /// Source ids past 2^23 (where the old packed key turned negative) keep their rows apart.
    #[test]
    fn source_ids_past_two_to_the_twenty_three_keep_their_rows() {
        use crate::EventStore;
        use waymark_core::correlate::Change;
        use waymark_core::pipeline::Batch;
        use waymark_core::{Event, Origin, Status};
        let mut s = super::SqliteStore::in_memory().unwrap();
        for id in [1u32, (1 << 23) + 1, u32::MAX] {
            s.connection()
                .execute("INSERT INTO sources (id, kind, name) VALUES (?1, 'kafka', ?1)", [id])
                .unwrap();
        }
        let mut batch = Batch::default();
        for (i, source) in [1u32, (1 << 23) + 1, u32::MAX].into_iter().enumerate() {
            let event = Event {
                system_id: "cmf".into(),
                checkpoint_id: format!("CP_{i}"),
                ts_micros: i as i64,
                status: Status::Success,
                correlation_id: "many-sources".into(),
                failure_reason: None,
            };
            batch.changes.push(Change::Insert { origin: Origin { source, position: 5 }, event });
        }
        s.commit(&batch).unwrap();
        let sources: Vec<String> =
            s.trace("many-sources").unwrap().into_iter().map(|r| r.source).collect();
        assert_eq!(sources, ["1", &((1u32 << 23) + 1).to_string(), &u32::MAX.to_string()]);
    }

    /// A stored value that does not read back is an error, never a default.
    #[test]
    fn a_corrupt_stored_value_is_an_error() {
        use crate::AuditStore;
        use waymark_core::audit::{AuditRow, AuditUpsert, RunFilter, RunStatus};
        let mut s = super::SqliteStore::in_memory().unwrap();
        let mut row = AuditRow::new("DBT");
        row.status = RunStatus::Success;
        let up = AuditUpsert { run_key: "k".into(), row, logscan_id: None, log_file: None };
        s.upsert_runs(&[up], None).unwrap();
        assert_eq!(s.runs(&RunFilter::default()).unwrap().len(), 1);
        s.connection().execute("UPDATE etl_log_audit SET status = 'BOGUS'", []).unwrap();
        assert!(s.runs(&RunFilter::default()).is_err(), "a corrupt status read back as a value");
        s.connection()
            .execute("UPDATE etl_log_audit SET status = 'SUCCESS', source_name = 'not json'", [])
            .unwrap();
        assert!(s.runs(&RunFilter::default()).is_err(), "a corrupt list read back as a value");
    }

    /// Processes that open a new store at once migrate it once (the version is read under
    /// the write lock), and every one of them opens it.
    #[test]
    fn concurrent_opens_of_a_new_store_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let opened: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> =
                (0..6).map(|_| scope.spawn(|| super::SqliteStore::open(&path).is_ok())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(opened.iter().all(|ok| *ok), "{opened:?}");
        let s = super::SqliteStore::open(&path).unwrap();
        let v: i64 = s.connection().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, super::MIGRATIONS.len() as i64);
    }

    #[test]
    fn reopening_keeps_rows_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        {
            let mut s = super::SqliteStore::open(&path).unwrap();
            use crate::EventStore;
            s.source("file", "/x").unwrap();
        }
        let s = super::SqliteStore::open(&path).unwrap();
        use crate::EventStore;
        assert_eq!(s.sources().unwrap().len(), 1);
        let v: i64 = s.connection().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, super::MIGRATIONS.len() as i64);
    }
}
