//! The PostgreSQL backend (feature `postgres`): a shared store for several waymark processes.
//!
//! Bulk writes go through binary COPY into a temporary staging table and then
//! `INSERT … ON CONFLICT DO NOTHING` keyed by origin, in the same transaction as the positions
//! and the join-state changes, so a replay after a crash stores nothing twice.
//!
//! Many writers share one database, so the single-writer assumptions of SQLite are replaced by
//! guards the server enforces:
//! - positions are fenced by an owner epoch per source: [`EventStore::source`] claims the source
//!   (raises its epoch) and a commit that moves a position is refused unless the writer still
//!   holds the epoch it claimed and the position does not move back;
//! - two `ingest` of one file take turns: claiming a `file` source takes a lease (a session
//!   advisory lock) held until the store is dropped;
//! - the audit upsert locks the row it merges (`SELECT … FOR UPDATE`);
//! - `logscan_results` has a natural key and a new file version is begun under a lease on its
//!   path, so two scanners of one folder never duplicate a row.
//!
//! Connection settings (host, port, user, password, database, `sslmode`…) come from the URL,
//! else the `PG*` variables; TLS as in libpq (see [`connect`]).

mod alert;
mod audit;
mod connect;
mod events;
mod export;
mod query;
mod scan;
#[cfg(test)]
pub(crate) mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::Client;

use crate::{Result, StoreError};

/// Schema migrations, applied in order; `waymark_schema.version` records the last one applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("01_events", include_str!("../../migrations/postgres/01_events.up.sql")),
    ("02_scan", include_str!("../../migrations/postgres/02_scan.up.sql")),
    ("03_audit", include_str!("../../migrations/postgres/03_audit.up.sql")),
    ("04_steps", include_str!("../../migrations/postgres/04_steps.up.sql")),
    ("05_alerts", include_str!("../../migrations/postgres/05_alerts.up.sql")),
    ("06_export", include_str!("../../migrations/postgres/06_export.up.sql")),
    ("07_views", include_str!("../../migrations/postgres/07_views.up.sql")),
    ("08_event_counts", include_str!("../../migrations/postgres/08_event_counts.up.sql")),
    ("09_join_key", include_str!("../../migrations/postgres/09_join_key.up.sql")),
];

/// The advisory-lock class of waymark's locks (the first of the two `int4` keys).
const LOCK_CLASS: i32 = 0x5741_594d; // "WAYM"
/// The second key of the migration lock.
const MIGRATION_LOCK: i32 = 0;
/// The second key of the join lock: writers look for a partner in another writer's halves one
/// at a time (see `events::cross_join`).
const JOIN_LOCK: i32 = 1;

/// The epochs of the sources a writer claimed, shared by every store of one process on one
/// database (a reader thread claims, a writer thread commits: one writer for the fence).
type Claims = Arc<Mutex<HashMap<u32, i64>>>;

/// The claims of this process, per database and schema.
fn process_claims(url: &str, schema: Option<&str>) -> Claims {
    type ByDatabase = HashMap<(String, Option<String>), Claims>;
    static ALL: std::sync::OnceLock<Mutex<ByDatabase>> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(Default::default);
    let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
    let key = (url.to_owned(), schema.map(str::to_owned));
    Arc::clone(all.entry(key).or_default())
}

/// A store in a PostgreSQL database (or one schema of it).
pub struct PgStore {
    client: RefCell<Client>,
    url: String,
    schema: Option<String>,
    claims: Claims,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &redact(&self.url))
            .field("schema", &self.schema)
            .finish()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db?…`), creating
    /// or migrating waymark's tables.
    pub fn open(url: &str) -> Result<PgStore> {
        PgStore::connect(url, None, process_claims(url, None))
    }

    /// Like [`open`](PgStore::open), with waymark's tables in `schema` (created if missing).
    pub fn open_in_schema(url: &str, schema: &str) -> Result<PgStore> {
        PgStore::connect(url, Some(schema.to_owned()), process_claims(url, Some(schema)))
    }

    /// Like [`open_in_schema`](PgStore::open_in_schema), as a writer of its own (claims not
    /// shared with the other stores of this process): two processes in one test.
    #[cfg(test)]
    pub(crate) fn open_isolated(url: &str, schema: &str) -> Result<PgStore> {
        PgStore::connect(url, Some(schema.to_owned()), Claims::default())
    }

    /// A second connection of the same writer: it shares the sources this one claimed (as
    /// every store of this process on this database does).
    pub fn reopen(&self) -> Result<PgStore> {
        PgStore::connect(&self.url, self.schema.clone(), Arc::clone(&self.claims))
    }

    fn connect(url: &str, schema: Option<String>, claims: Claims) -> Result<PgStore> {
        let mut client = connect::connect(url)?;
        if let Some(schema) = &schema {
            let quoted = quote_ident(schema);
            client.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {quoted}; SET search_path TO {quoted}"
            ))?;
        }
        migrate(&mut client)?;
        // Staging tables for COPY, private to this connection and emptied at each commit.
        client.batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS events_stage
                 (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        )?;
        Ok(PgStore { client: RefCell::new(client), url: url.to_owned(), schema, claims })
    }

    /// Runs `f` with the connection (`&self` methods read through it too).
    fn with<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        f(&mut self.client.borrow_mut())
    }

    /// The connection, for tests and tools of this crate.
    pub fn client(&mut self) -> &mut Client {
        self.client.get_mut()
    }

    /// The schema the tables live in, when not the default one.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Connects for reading only: no migration, no staging table (`waymark sql`).
    pub fn open_read_only(url: &str) -> Result<PgStore> {
        let mut client = connect::connect(url)?;
        client.batch_execute("SET default_transaction_read_only = on")?;
        let claims = Claims::default();
        Ok(PgStore { client: RefCell::new(client), url: url.to_owned(), schema: None, claims })
    }

    /// Runs one SQL statement in a read-only transaction under limits (statement timeout, row
    /// cap); column names and rows as text (`waymark sql`).
    pub fn query_guarded(&self, sql: &str, limits: crate::SqlLimits) -> Result<crate::SqlAnswer> {
        self.with(|c| {
            let mut tx = c.build_transaction().read_only(true).start()?;
            let ms = limits.timeout.as_millis().clamp(1, i32::MAX as u128);
            tx.batch_execute(&format!("SET LOCAL statement_timeout = {ms}"))?;
            let stmt = tx.prepare(sql)?;
            let names: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
            let text_sql = format!(
                "SELECT row_to_json(q)::text FROM ({}) q LIMIT {}",
                sql.trim().trim_end_matches(';'),
                limits.max_rows.saturating_add(1).min(i64::MAX as usize)
            );
            let mut rows = Vec::new();
            for row in tx.query(&text_sql, &[])? {
                let json: String = row.try_get(0)?;
                let value: serde_json::Value = serde_json::from_str(&json)?;
                rows.push(names.iter().map(|n| cell_text(&value[n.as_str()])).collect());
            }
            tx.rollback()?;
            let capped = rows.len() > limits.max_rows;
            rows.truncate(limits.max_rows);
            Ok(crate::SqlAnswer { columns: names, rows, capped })
        })
    }
}

fn cell_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> StoreError {
        StoreError::Corrupt { column: "json", value: err.to_string() }
    }
}

/// Applies the migrations not yet applied, under a lock so that processes starting together
/// do not race.
fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_CLASS, &MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS waymark_schema (version bigint NOT NULL)")?;
    let version: Option<i64> =
        tx.query_opt("SELECT version FROM waymark_schema", &[])?.map(|r| r.get(0));
    let known = MIGRATIONS.len() as i64;
    let version = version.unwrap_or(-1);
    if version > known {
        return Err(StoreError::SchemaTooNew { found: version, known });
    }
    if version < 0 {
        tx.execute("INSERT INTO waymark_schema (version) VALUES (0)", &[])?;
    }
    for (i, (_name, sql)) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.batch_execute(sql)?;
        tx.execute("UPDATE waymark_schema SET version = $1", &[&(i as i64 + 1)])?;
    }
    tx.commit()?;
    Ok(())
}

impl From<postgres::Error> for StoreError {
    fn from(err: postgres::Error) -> StoreError {
        use postgres::error::SqlState;
        let message = match err.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => err.to_string(),
        };
        match err.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::LOCK_NOT_AVAILABLE =>
            {
                StoreError::Busy { backend: "postgres", message }
            }
            Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::OUT_OF_MEMORY => {
                StoreError::Full { backend: "postgres", message }
            }
            _ => StoreError::Backend { backend: "postgres", message, source: Some(Box::new(err)) },
        }
    }
}

/// `"name"`, with quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Log text as PostgreSQL can store it: `text` and `jsonb` cannot hold U+0000, so it becomes
/// U+FFFD (the replacement character `from_utf8_lossy` uses for bytes that are not text).
pub(crate) fn pg_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Microseconds since the epoch as a `timestamptz` value.
pub(crate) fn to_time(us: i64) -> SystemTime {
    let magnitude = Duration::from_micros(us.unsigned_abs());
    if us >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// A `timestamptz` value as microseconds since the epoch.
pub(crate) fn from_time(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// A `timestamptz` value as RFC 3339 UTC text (the form the SQLite backend stores).
pub(crate) fn time_text(t: SystemTime) -> String {
    waymark_core::normalize::format_utc(from_time(t))
}

/// RFC 3339 text as a `timestamptz` value (`None` when it is not a time).
pub(crate) fn parse_time(text: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    Some(to_time(ts.as_microsecond()))
}
