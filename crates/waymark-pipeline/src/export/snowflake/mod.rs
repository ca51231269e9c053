//! `waymark export --to snowflake://…`: the seed's warehouse tables (`LOGSCAN_RESULTS`,
//! `ETL_LOG_AUDIT`) and `EVENTS` loaded into Snowflake exactly once.
//!
//! Exactly once: each table's rows are read over its change sequence `(since, upto]`, where
//! `since` is the watermark of this target (a named export, `snowflake:<account>/<db>/<schema>`
//! unless `name=` says otherwise) and `upto` the top of the sequence at the start. They are
//! sent in chunks, each staged and merged by statements that are idempotent on the row's key
//! (see `sql.rs`), and the watermark advances in waymark's store only after Snowflake confirmed
//! the table's last statement. A kill at any point leaves the watermark behind what Snowflake
//! holds, never ahead: the rerun sends those rows again and the `MERGE`s insert nothing twice
//! and set the same values, so the tables end as after one clean load.
//!
//! `client.rs` speaks the protocol, `sql.rs` holds the warehouse SQL.

pub mod client;
pub mod sql;

use std::time::Duration;

use anyhow::{bail, Context};
use waymark_core::normalize::format_utc;
use waymark_store::{ExportFilter, ExportRow, ExportStore, ExportTable, FinishedExport, Value};

use client::{BindValue, Binding, Client};
use sql::TargetTable;

/// The environment variable a password is read from when the URL names no `password_file`.
pub const PASSWORD_ENV: &str = "WAYMARK_SNOWFLAKE_PASSWORD";

/// A secret that is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How the session authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Password(Secret),
}

/// Where and as whom to load, from a `snowflake://USER@ACCOUNT/DATABASE/SCHEMA?…` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnowflakeConfig {
    /// The account identifier (`myorg-myaccount`, or a locator with its region).
    pub account: String,
    pub user: String,
    pub database: String,
    pub schema: String,
    pub warehouse: Option<String>,
    pub role: Option<String>,
    pub auth: Auth,
    /// `https://<account>.snowflakecomputing.com` unless `host`/`port`/`protocol` say otherwise.
    pub base_url: String,
    /// The name of the watermarks in waymark's store.
    pub name: String,
    /// Rows per statement (`batch_rows=`); the byte and bind bounds apply as well.
    pub batch_rows: usize,
}

/// Snowflake's connectors stage array binds above this many values (the server's default
/// `CLIENT_STAGE_ARRAY_BINDING_THRESHOLD`); staying under it keeps every bind inline.
const MAX_BINDS: usize = 65_280;
/// Bound values per statement, in bytes: well under the size of a request Snowflake takes.
const MAX_BIND_BYTES: usize = 8 * 1024 * 1024;

fn decode(s: &str) -> anyhow::Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).context("a bad %-escape in the snowflake URL")?;
            out.push(u8::from_str_radix(hex, 16).context("a bad %-escape in the snowflake URL")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("the snowflake URL is not UTF-8 once decoded")
}

impl SnowflakeConfig {
    /// Reads a URL; `env` gives environment variables (the password when no file is named).
    ///
    /// `snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=W&role=R&password_file=PATH`, and
    /// for an emulator or a proxy `host=`, `port=`, `protocol=http`; `name=` names the
    /// watermarks; `batch_rows=` bounds the rows per statement. A password in the URL is
    /// refused (a command line is visible to every user of the machine).
    pub fn from_url(
        url: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<SnowflakeConfig> {
        let rest = url.strip_prefix("snowflake://").context("not a snowflake:// URL")?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = main.split_once('/').unwrap_or((main, ""));
        let (userinfo, account) =
            authority.rsplit_once('@').context("the snowflake URL names no USER@ACCOUNT")?;
        if userinfo.contains(':') {
            bail!(
                "the snowflake URL holds a password: put it in {PASSWORD_ENV} or a file named \
                 by password_file= instead"
            );
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let [database, schema] = parts[..] else {
            bail!("the snowflake URL needs /DATABASE/SCHEMA after the account");
        };
        let mut params = std::collections::BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(decode(k)?, decode(v)?);
        }
        let account = decode(account)?;
        let protocol = params.remove("protocol").unwrap_or_else(|| "https".to_owned());
        if protocol != "https" && protocol != "http" {
            bail!("protocol={protocol}: only https or http");
        }
        let host = params
            .remove("host")
            .unwrap_or_else(|| format!("{}.snowflakecomputing.com", account.to_ascii_lowercase()));
        let base_url = match params.remove("port") {
            Some(port) => format!("{protocol}://{host}:{port}"),
            None => format!("{protocol}://{host}"),
        };
        let password = match params.remove("password_file") {
            Some(path) => std::fs::read_to_string(&path)
                .with_context(|| format!("reading the snowflake password file {path}"))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => env(PASSWORD_ENV).with_context(|| {
                format!("no snowflake password: set {PASSWORD_ENV} or password_file= in the URL")
            })?,
        };
        let database = decode(database)?;
        let schema = decode(schema)?;
        let name = params.remove("name").unwrap_or_else(|| {
            format!("snowflake:{}/{}/{}", account.to_ascii_lowercase(), database, schema)
        });
        let batch_rows = match params.remove("batch_rows") {
            Some(n) => n.parse().ok().filter(|n| *n > 0).context("batch_rows= wants a count")?,
            None => 10_000,
        };
        let warehouse = params.remove("warehouse");
        let role = params.remove("role");
        if let Some(k) = params.keys().next() {
            bail!("the snowflake URL has an unknown parameter `{k}`");
        }
        Ok(SnowflakeConfig {
            account,
            user: decode(userinfo)?,
            database,
            schema,
            warehouse,
            role,
            auth: Auth::Password(Secret(password)),
            base_url,
            name,
            batch_rows,
        })
    }

    /// The account as the login names it: the identifier before any region or cloud part.
    pub fn account_name(&self) -> String {
        self.account.split('.').next().unwrap_or(&self.account).to_ascii_uppercase()
    }

    /// Where the rows went, for the log and the export record (no secret).
    pub fn describe(&self) -> String {
        format!("snowflake://{}@{}/{}/{}", self.user, self.account, self.database, self.schema)
    }
}

/// What one table's load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLoad {
    pub table: &'static str,
    /// Rows sent (read from waymark's store in the range).
    pub rows: u64,
    /// As Snowflake counted them.
    pub inserted: u64,
    pub updated: u64,
    pub statements: u64,
    /// The sequence range, `(since, upto]`.
    pub since: i64,
    pub upto: i64,
}

/// Loads the given tables (all three when empty) into Snowflake.
pub fn load<S: ExportStore>(
    store: &mut S,
    cfg: &SnowflakeConfig,
    tables: &[ExportTable],
) -> anyhow::Result<Vec<TableLoad>> {
    for t in tables {
        if sql::target(*t).is_none() {
            bail!("{} are not loaded into snowflake (events, runs, scan-results are)", t.name());
        }
    }
    let mut client = Client::login(cfg, Duration::from_secs(300))?;
    let mut loads = Vec::new();
    for target in sql::TARGETS.iter().filter(|t| tables.is_empty() || tables.contains(&t.table)) {
        let done = load_table(store, cfg, &mut client, target)
            .with_context(|| format!("loading {}", target.name))?;
        loads.push(done);
    }
    client.logout();
    Ok(loads)
}

fn load_table<S: ExportStore>(
    store: &mut S,
    cfg: &SnowflakeConfig,
    client: &mut Client,
    target: &TargetTable,
) -> anyhow::Result<TableLoad> {
    let table = target.table;
    let filter = ExportFilter::default();
    let since = store.export_watermark(&cfg.name, table)?.map_or(0, |wm| wm.upto);
    let upto = store.export_high(table)?;
    let mut load = TableLoad {
        table: target.name,
        rows: 0,
        inserted: 0,
        updated: 0,
        statements: 0,
        since,
        upto,
    };
    for statement in [target.create(), target.create_stage()] {
        client.query(&statement, &[])?;
        load.statements += 1;
    }
    if target.upsert {
        client.query(&target.create_merged_names(), &[])?;
        load.statements += 1;
    }
    let columns = target.columns().len();
    let max_binds = client.bind_threshold.map_or(MAX_BINDS, |t| t as usize).max(columns);
    let chunk_rows = cfg.batch_rows.min(max_binds / columns).max(1);
    let mut chunk = Chunk::new(columns);
    let mut after = None;
    if upto > since {
        loop {
            let page = store.export_page(table, &filter, (since, upto), after, chunk_rows)?;
            for row in &page.rows {
                chunk.push(row);
                if chunk.rows >= chunk_rows || chunk.bytes >= MAX_BIND_BYTES {
                    send(client, target, &mut chunk, &mut load)?;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        if chunk.rows > 0 {
            send(client, target, &mut chunk, &mut load)?;
        }
    }
    // Snowflake confirmed every statement of the range: only now does the watermark move.
    store.finish_export(&FinishedExport {
        name: Some(cfg.name.clone()),
        table,
        filter: filter.describe(),
        since,
        upto,
        rows: load.rows,
        target: cfg.describe(),
    })?;
    tracing::info!(
        table = target.name,
        rows = load.rows,
        inserted = load.inserted,
        updated = load.updated,
        "loaded into snowflake"
    );
    Ok(load)
}

/// The rows of one statement, column by column, as text binds.
struct Chunk {
    columns: Vec<Vec<Option<String>>>,
    rows: usize,
    bytes: usize,
}

/// A value as the text the staging table holds (cast to its type by the `MERGE`).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(format!("{f:?}")),
        Value::Text(t) => Some(t.clone()),
        // Zoneless UTC (TIMESTAMP_NTZ): `YYYY-MM-DD HH:MM:SS.ffffff`.
        Value::Timestamp(t) => Some(format_utc(*t).trim_end_matches('Z').replacen('T', " ", 1)),
        Value::TextList(l) => Some(serde_json::to_string(l).unwrap_or_else(|_| "[]".into())),
    }
}

impl Chunk {
    fn new(columns: usize) -> Chunk {
        Chunk { columns: vec![Vec::new(); columns], rows: 0, bytes: 0 }
    }

    fn push(&mut self, row: &ExportRow) {
        for (col, v) in self.columns.iter_mut().zip(&row.values) {
            let t = text(v);
            self.bytes += t.as_ref().map_or(4, |t| t.len() + 3);
            col.push(t);
        }
        self.rows += 1;
    }

    /// The binds, leaving the chunk empty. Every bind is TEXT: the staging table is text, and
    /// a typed NULL is what some servers stumble on.
    fn take(&mut self) -> Vec<Binding> {
        let n = self.columns.len();
        let columns = std::mem::replace(&mut self.columns, vec![Vec::new(); n]);
        self.rows = 0;
        self.bytes = 0;
        columns.into_iter().map(|c| Binding { ty: "TEXT", value: BindValue::Rows(c) }).collect()
    }
}

/// Stages one chunk and merges it into the target.
fn send(
    client: &mut Client,
    target: &TargetTable,
    chunk: &mut Chunk,
    load: &mut TableLoad,
) -> anyhow::Result<()> {
    let rows = chunk.rows as u64;
    let binds = chunk.take();
    client.query(&target.clear_stage(), &[])?;
    let staged = client.query(&target.insert_stage(), &binds)?;
    if let Some(n) = staged.count("number of rows inserted") {
        if n != rows {
            bail!("snowflake staged {n} rows of {rows}");
        }
    }
    load.statements += 2;
    if target.upsert {
        client.query(&target.clear_merged_names(), &[])?;
        client.query(&target.merge_names("SOURCE_NAME"), &[])?;
        client.query(&target.merge_names("TARGET_NAME"), &[])?;
        load.statements += 3;
    }
    let merged = client.query(&target.merge(), &[])?;
    load.statements += 1;
    load.rows += rows;
    load.inserted += merged.count("number of rows inserted").unwrap_or(0);
    load.updated += merged.count("number of rows updated").unwrap_or(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == PASSWORD_ENV).then(|| "s3cret".to_owned())
    }

    #[test]
    fn a_url_gives_account_user_database_schema_and_options() {
        let c = SnowflakeConfig::from_url(
            "snowflake://loader@myorg-acct/ANALYTICS/AUDIT?warehouse=WH&role=LOADER",
            &env,
        )
        .unwrap();
        assert_eq!(c.account, "myorg-acct");
        assert_eq!(c.user, "loader");
        assert_eq!((c.database.as_str(), c.schema.as_str()), ("ANALYTICS", "AUDIT"));
        assert_eq!(c.warehouse.as_deref(), Some("WH"));
        assert_eq!(c.role.as_deref(), Some("LOADER"));
        assert_eq!(c.base_url, "https://myorg-acct.snowflakecomputing.com");
        assert_eq!(c.name, "snowflake:myorg-acct/ANALYTICS/AUDIT");
        assert!(!format!("{c:?}").contains("s3cret"), "the password is never formatted");
        let local = SnowflakeConfig::from_url(
            "snowflake://u@a/D/S?host=127.0.0.1&port=8080&protocol=http&name=nightly",
            &env,
        )
        .unwrap();
        assert_eq!(local.base_url, "http://127.0.0.1:8080");
        assert_eq!(local.name, "nightly");
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        let none = |_: &str| None;
        for (url, says) in [
            ("snowflake://u:pw@a/D/S", "holds a password"),
            ("snowflake://a/D/S", "USER@ACCOUNT"),
            ("snowflake://u@a/D", "DATABASE/SCHEMA"),
            ("snowflake://u@a/D/S?colour=red", "unknown parameter `colour`"),
            ("postgres://u@a/D/S", "not a snowflake"),
        ] {
            let e = SnowflakeConfig::from_url(url, &env).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
        }
        let e = SnowflakeConfig::from_url("snowflake://u@a/D/S", &none).unwrap_err();
        assert!(e.to_string().contains(PASSWORD_ENV));
    }

    #[test]
    fn values_are_staged_as_text() {
        assert_eq!(
            text(&Value::Timestamp(1_700_000_000_123_456)).unwrap(),
            "2023-11-14 22:13:20.123456"
        );
        assert_eq!(
            text(&Value::TextList(vec!["a".into(), "b\"".into()])).unwrap(),
            r#"["a","b\""]"#
        );
        assert_eq!(text(&Value::Float(2.0)).unwrap(), "2.0");
        assert_eq!(text(&Value::Null), None);
    }
}
