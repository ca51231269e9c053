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
//! A lost connection (the server restarted: SQLSTATE 57P01, class 08, a closed socket) is
//! restored for up to [`RECONNECT_WAIT`], with a doubling delay: a read runs again; a write
//! transaction cut off before its COMMIT (rolled back by the server) runs again; one cut off
//! during its COMMIT is looked up by its transaction id (`pg_xact_status`) and, if it landed,
//! not run again. The new session gets back what the old one held: its schema, its staging
//! table and the leases of the file sources it claimed — unless another writer took a lease
//! meanwhile: then that source's claim is dropped and the operation refused. The owner epochs
//! are the fence either way: a source claimed by another writer while this one was away is
//! never written by this one again.
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

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::{Client, Transaction};

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

/// How long, in all, a lost connection is re-established for (the server restarting) before
/// the operation that lost it fails with [`StoreError::Lost`].
pub const RECONNECT_WAIT: Duration = Duration::from_secs(60);

/// A store in a PostgreSQL database (or one schema of it).
///
/// The connection is restored when it is lost (the server restarted, a connection terminated):
/// see [`PgStore::with`] and [`PgStore::transact`]; a reconnect restores what the session held
/// (the schema, the staging table, the leases of the file sources it claimed).
pub struct PgStore {
    /// The session; `None` only while the store is dropped (see `close`).
    client: RefCell<Option<Client>>,
    url: String,
    schema: Option<String>,
    claims: Claims,
    read_only: bool,
    /// The file sources this connection leases (session advisory locks), as (kind, name, id):
    /// taken again when the connection is restored.
    leases: RefCell<Vec<(String, String, u32)>>,
    /// An operation lost the connection: the next one restores it first.
    lost: Cell<bool>,
    /// A fault a test injects into the next transaction (see [`Fault`]).
    #[cfg(test)]
    fault: Cell<Fault>,
}

/// Where a test makes the next transaction lose its connection (its backend terminated).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Before the COMMIT is sent: PostgreSQL rolls the transaction back.
    BeforeCommit,
    /// After the commit landed, its acknowledgement lost.
    AfterCommit,
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
        let client = session(url, schema.as_deref(), false)?;
        Ok(PgStore::new(client, url, schema, claims, false))
    }

    fn new(
        client: Client,
        url: &str,
        schema: Option<String>,
        claims: Claims,
        read_only: bool,
    ) -> PgStore {
        PgStore {
            client: RefCell::new(Some(client)),
            url: url.to_owned(),
            schema,
            claims,
            read_only,
            leases: RefCell::default(),
            lost: Cell::new(false),
            #[cfg(test)]
            fault: Cell::new(Fault::None),
        }
    }

    /// Runs `f` with the connection (`&self` methods read through it too). `f` is a read or a
    /// write that can be repeated: when the connection is lost, it is restored and `f` runs
    /// again (for up to [`RECONNECT_WAIT`]).
    fn with<T>(&self, mut f: impl FnMut(&mut Client) -> Result<T>) -> Result<T> {
        let mut since = None;
        loop {
            self.restore(&mut since)?;
            match f(self.client.borrow_mut().as_mut().expect("connected until dropped")) {
                Err(e @ StoreError::Lost { .. }) => self.lose(e, &mut since)?,
                other => return other,
            }
        }
    }

    /// Runs `f` in a transaction and commits it. When the connection is lost before the
    /// COMMIT, PostgreSQL rolled the transaction back: the connection is restored and `f` runs
    /// again. When it is lost during the COMMIT, the transaction may have landed: once
    /// restored, the server is asked (`pg_xact_status` of the transaction's id) — committed, its
    /// value is returned and nothing runs twice; rolled back, `f` runs again.
    fn transact<T>(&self, mut f: impl FnMut(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut since = None;
        loop {
            self.restore(&mut since)?;
            let mut xid = None;
            let outcome = {
                let mut client = self.client.borrow_mut();
                let client = client.as_mut().expect("connected until dropped");
                self.attempt(client, &mut f, &mut xid)
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(Failed::Before(e @ StoreError::Lost { .. })) => self.lose(e, &mut since)?,
                Err(Failed::Commit(e @ StoreError::Lost { .. }, value)) => {
                    self.lose(e, &mut since)?;
                    self.restore(&mut since)?;
                    if self.landed(xid.as_deref(), &mut since)? {
                        tracing::info!("the commit whose acknowledgement was lost had landed");
                        return Ok(value);
                    }
                }
                Err(Failed::Before(e) | Failed::Commit(e, _)) => return Err(e),
            }
        }
    }

    /// One attempt of [`transact`](PgStore::transact); `xid` is set to the transaction's id
    /// before the COMMIT is sent.
    fn attempt<T>(
        &self,
        client: &mut Client,
        f: &mut impl FnMut(&mut Transaction<'_>) -> Result<T>,
        xid: &mut Option<String>,
    ) -> std::result::Result<T, Failed<T>> {
        let mut tx = client.transaction().map_err(|e| Failed::Before(e.into()))?;
        let value = f(&mut tx).map_err(Failed::Before)?;
        let id = tx
            .query_one("SELECT pg_current_xact_id_if_assigned()::text", &[])
            .and_then(|r| r.try_get::<_, Option<String>>(0))
            .map_err(|e| Failed::Before(e.into()))?;
        *xid = id;
        #[cfg(test)]
        if self.fault.get() == Fault::BeforeCommit {
            self.fault.set(Fault::None);
            self.terminate(&mut tx);
        }
        match tx.commit() {
            #[cfg(test)]
            Ok(()) if self.fault.get() == Fault::AfterCommit => {
                self.fault.set(Fault::None);
                self.terminate(client);
                let lost = StoreError::Lost {
                    backend: "postgres",
                    message: "the acknowledgement of the commit was lost (test)".into(),
                };
                Err(Failed::Commit(lost, value))
            }
            Ok(()) => Ok(value),
            Err(e) => Err(Failed::Commit(e.into(), value)),
        }
    }

    /// Whether the transaction `xid` committed (asked after the connection was restored).
    fn landed(&self, xid: Option<&str>, since: &mut Option<Instant>) -> Result<bool> {
        // No id: the transaction wrote nothing.
        let Some(xid) = xid else { return Ok(true) };
        loop {
            let status: Option<String> = self.with(|c| {
                Ok(c.query_one("SELECT pg_xact_status($1::text::xid8)", &[&xid])?.try_get(0)?)
            })?;
            match status.as_deref() {
                Some("committed") => return Ok(true),
                // The old session has not ended yet (a connection lost, not a restart).
                Some("in progress") => {
                    let waited = since.get_or_insert_with(Instant::now).elapsed();
                    if waited >= RECONNECT_WAIT {
                        return Err(StoreError::Lost {
                            backend: "postgres",
                            message: format!(
                                "transaction {xid}, whose commit was cut off, still runs after \
                                 {RECONNECT_WAIT:?}"
                            ),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                _ => return Ok(false),
            }
        }
    }

    /// Notes a lost connection (the next operation restores it), unless the operation has
    /// waited for [`RECONNECT_WAIT`] already: then `e` is its error.
    fn lose(&self, e: StoreError, since: &mut Option<Instant>) -> Result<()> {
        let first = *since.get_or_insert_with(Instant::now);
        if first.elapsed() >= RECONNECT_WAIT {
            return Err(e);
        }
        tracing::warn!(error = %e, "the connection to PostgreSQL was lost; reconnecting");
        self.lost.set(true);
        Ok(())
    }

    /// Restores a lost connection: connects again (a doubling delay up to 5 s between tries,
    /// for up to [`RECONNECT_WAIT`] since the loss) and takes the session's leases again.
    fn restore(&self, since: &mut Option<Instant>) -> Result<()> {
        if !self.lost.get() && !self.client.borrow().as_ref().is_some_and(Client::is_closed) {
            return Ok(());
        }
        let first = *since.get_or_insert_with(Instant::now);
        let mut delay = Duration::from_millis(100);
        loop {
            let restored = session(&self.url, self.schema.as_deref(), self.read_only)
                .and_then(|mut client| self.retake_leases(&mut client).map(|()| client));
            match restored {
                Ok(client) => {
                    close(self.client.borrow_mut().replace(client));
                    self.lost.set(false);
                    tracing::info!(after = ?first.elapsed(), "reconnected to PostgreSQL");
                    return Ok(());
                }
                Err(e @ StoreError::Lost { .. }) if first.elapsed() < RECONNECT_WAIT => {
                    tracing::warn!(error = %e, retry_in = ?delay, waited = ?first.elapsed(), "PostgreSQL is not reachable yet");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(StoreError::Lost { message, .. }) => {
                    return Err(StoreError::Lost {
                        backend: "postgres",
                        message: format!("not restored within {RECONNECT_WAIT:?}: {message}"),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes again, on a new connection, the leases the lost one held. A lease another writer
    /// holds now was taken over while the connection was lost: the source is this writer's no
    /// more (its claim is dropped, so its commits are refused) and the operation is refused.
    fn retake_leases(&self, client: &mut Client) -> Result<()> {
        let leases = self.leases.borrow().clone();
        for (kind, name, id) in leases {
            let got: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[&LOCK_CLASS, &events::lease_key(&kind, &name)],
                )?
                .try_get(0)?;
            if !got {
                self.leases.borrow_mut().retain(|l| l.2 != id);
                self.claims.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                return Err(StoreError::Refused(format!(
                    "the lease of {kind} source {name} was taken by another writer while the \
                     connection was lost: this writer does not write it any more"
                )));
            }
        }
        Ok(())
    }

    /// Terminates this store's own session from another connection (a test's fault).
    #[cfg(test)]
    fn terminate(&self, c: &mut impl postgres::GenericClient) {
        let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).expect("pid").get(0);
        let mut admin = connect::connect(&self.url).expect("admin connection");
        admin.execute("SELECT pg_terminate_backend($1, 10000)", &[&pid]).expect("terminate");
    }

    /// Makes the next transaction lose its connection where `fault` says.
    #[cfg(test)]
    pub(crate) fn inject(&self, fault: Fault) {
        self.fault.set(fault);
    }

    /// The connection, for tests and tools of this crate.
    pub fn client(&mut self) -> &mut Client {
        self.client.get_mut().as_mut().expect("connected until dropped")
    }

    /// The schema the tables live in, when not the default one.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Connects for reading only: no migration, no staging table (`waymark sql`).
    pub fn open_read_only(url: &str) -> Result<PgStore> {
        let client = session(url, None, true)?;
        Ok(PgStore::new(client, url, None, Claims::default(), true))
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

/// A new session: connected, in its schema, migrated, with its staging table (or read-only).
fn session(url: &str, schema: Option<&str>, read_only: bool) -> Result<Client> {
    let mut client = connect::connect(url)?;
    if read_only {
        client.batch_execute("SET default_transaction_read_only = on")?;
        return Ok(client);
    }
    if let Some(schema) = schema {
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
    Ok(client)
}

/// Why an attempt of [`PgStore::transact`] failed: before the COMMIT was sent (rolled back), or
/// at the COMMIT (its fate unknown when the connection was lost), with the value it would give.
enum Failed<T> {
    Before(StoreError),
    Commit(StoreError, T),
}

/// Whether `err` means the connection is gone: closed, an I/O error (a reset socket, a refused
/// connection while the server restarts), a connection exception (SQLSTATE class 08) or the
/// server shutting down or starting up (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
/// cannot_connect_now).
fn is_lost(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        let code = code.code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>())
}

impl Drop for PgStore {
    fn drop(&mut self) {
        close(self.client.get_mut().take());
    }
}

/// Closes a session. `postgres::Client` blocks on a runtime of its own when dropped, which
/// panics on a thread that drives an async runtime (`serve`'s state is dropped there at
/// shutdown): it is dropped on a thread of its own, waited for, so the session (and its leases)
/// has ended when this returns.
fn close(client: Option<Client>) {
    if let Some(client) = client {
        let closed = std::thread::Builder::new()
            .name("pg-close".into())
            .spawn(move || drop(client))
            .map(|h| h.join());
        if !matches!(closed, Ok(Ok(()))) {
            tracing::warn!("a PostgreSQL session could not be closed cleanly (the server ends it)");
        }
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
            _ if is_lost(&err) => StoreError::Lost { backend: "postgres", message },
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
