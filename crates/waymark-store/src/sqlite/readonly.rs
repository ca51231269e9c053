//! `waymark sql`: one statement, read-only by construction, bounded in time and rows.
//!
//! Three locks, not one: the database is opened read-only (and never migrated), an
//! authorizer refuses every action that is not a read (`ATTACH`, `DETACH`, writes, schema
//! changes, transactions, pragmas other than a few read-only ones), and a progress handler
//! stops a statement at its time limit. `stmt.readonly()` alone would let `ATTACH` create a
//! file and a recursive query run forever.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};

use super::{SqliteStore, MIGRATIONS};
use crate::{Result, StoreError};

/// The bounds of one `sql` statement.
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    pub timeout: Duration,
    pub max_rows: usize,
}

impl Default for SqlLimits {
    fn default() -> SqlLimits {
        SqlLimits { timeout: Duration::from_secs(5), max_rows: 10_000 }
    }
}

/// A statement's answer: column names, rows as text, and whether the row cap cut it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SqlAnswer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub capped: bool,
}

/// Pragmas that only read.
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "user_version",
    "page_count",
    "page_size",
    "freelist_count",
];

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Function { .. } => {
            Authorization::Allow
        }
        AuthAction::Recursive => Authorization::Allow,
        AuthAction::Pragma { pragma_name, pragma_value: None }
            if READ_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) =>
        {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

impl SqliteStore {
    /// Opens an existing store read-only, without migrating it (a store newer than this
    /// waymark is refused, an older one is read as it is).
    pub fn open_read_only(path: &Path) -> Result<SqliteStore> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::SchemaTooNew { found: version, known });
        }
        Ok(SqliteStore { conn })
    }

    /// Runs one read-only statement under `limits` (`waymark sql`). Anything but a read is
    /// refused before it runs; a statement past its time limit is stopped; rows past the cap
    /// are not read.
    pub fn query_guarded(&self, sql: &str, limits: SqlLimits) -> Result<SqlAnswer> {
        let answer = self.guarded(sql, limits);
        // The guards belong to this statement only.
        self.conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
        self.conn.progress_handler(0, None::<fn() -> bool>);
        answer
    }

    fn guarded(&self, sql: &str, limits: SqlLimits) -> Result<SqlAnswer> {
        let refused = |e: rusqlite::Error| {
            match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::AuthorizationForStatementDenied) => StoreError::Refused(
                "only reads are allowed (no ATTACH, DETACH, writes, schema changes or pragmas that write)"
                    .into(),
            ),
            Some(rusqlite::ErrorCode::OperationInterrupted) => StoreError::Timeout(limits.timeout),
            _ => StoreError::from(e),
        }
        };
        self.conn.authorizer(Some(authorize));
        let mut stmt = self.conn.prepare(sql).map_err(refused)?;
        if !stmt.readonly() {
            return Err(StoreError::Refused("only a read-only statement is allowed".into()));
        }
        let started = Instant::now();
        let timeout = limits.timeout;
        self.conn.progress_handler(1_000, Some(move || started.elapsed() > timeout));
        let columns: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut capped = false;
        let mut cursor = stmt.query([]).map_err(refused)?;
        while let Some(row) = cursor.next().map_err(refused)? {
            if rows.len() == limits.max_rows {
                capped = true;
                break;
            }
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => String::new(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(b) => format!("<{} bytes>", b.len()),
                });
            }
            rows.push(out);
        }
        Ok(SqlAnswer { columns, rows, capped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        {
            let mut s = SqliteStore::open(&path).unwrap();
            use crate::EventStore;
            s.source("file", "/x.log").unwrap();
        }
        (dir, path)
    }

    /// Name, length and hash of every file of the store (the database and its WAL; the
    /// shared-memory index is not content).
    fn checksum(dir: &Path) -> Vec<(String, usize, u64)> {
        use std::hash::{Hash, Hasher};
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.to_string_lossy().ends_with("-shm"))
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                (p.display().to_string(), bytes.len(), h.finish())
            })
            // A reader of a WAL database may create an empty log beside it: no content.
            .filter(|(name, len, _)| !(name.ends_with("-wal") && *len == 0))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn reads_answer_and_every_write_is_refused_without_touching_the_file() {
        let (dir, path) = store_file();
        let before = checksum(dir.path());
        let s = SqliteStore::open_read_only(&path).unwrap();
        let a = s.query_guarded("SELECT kind, name FROM sources", SqlLimits::default()).unwrap();
        assert_eq!(a.rows, vec![vec!["file".to_owned(), "/x.log".to_owned()]]);
        let attached = dir.path().join("x.db");
        let refused = [
            format!("ATTACH DATABASE '{}' AS x", attached.display()),
            "DETACH DATABASE main".to_owned(),
            "INSERT INTO sources (kind, name) VALUES ('a', 'b')".to_owned(),
            "DELETE FROM sources".to_owned(),
            "UPDATE sources SET position = 9".to_owned(),
            "PRAGMA writable_schema = ON".to_owned(),
            "PRAGMA journal_mode = DELETE".to_owned(),
            "CREATE TABLE t (x)".to_owned(),
            "DROP TABLE sources".to_owned(),
            "BEGIN IMMEDIATE".to_owned(),
            "VACUUM".to_owned(),
        ];
        for sql in &refused {
            let err = s.query_guarded(sql, SqlLimits::default()).unwrap_err();
            assert!(
                matches!(err, StoreError::Refused(_) | StoreError::Backend { .. }),
                "{sql}: {err}"
            );
        }
        assert!(!attached.exists(), "ATTACH created a file");
        // Reads still work after refusals, and a read-only pragma is allowed.
        let v = s.query_guarded("PRAGMA user_version", SqlLimits::default()).unwrap();
        assert_eq!(v.rows[0][0], MIGRATIONS.len().to_string());
        drop(s);
        assert_eq!(checksum(dir.path()), before, "the store files changed");
    }

    #[test]
    fn a_runaway_query_stops_at_its_time_limit_and_rows_are_capped() {
        let (_dir, path) = store_file();
        let s = SqliteStore::open_read_only(&path).unwrap();
        let limits = SqlLimits { timeout: Duration::from_millis(200), max_rows: 10_000 };
        let forever = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                       SELECT count(*) FROM n";
        let err = s.query_guarded(forever, limits).unwrap_err();
        assert!(matches!(err, StoreError::Timeout(_)), "{err}");
        let many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 50) \
                    SELECT i FROM n";
        let a = s.query_guarded(many, SqlLimits { max_rows: 10, ..limits }).unwrap();
        assert_eq!((a.rows.len(), a.capped), (10, true));
        let a = s.query_guarded(many, SqlLimits { max_rows: 50, ..limits }).unwrap();
        assert_eq!((a.rows.len(), a.capped), (50, false));
    }
}
