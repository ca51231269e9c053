//! A store of either backend read back the same way — `--db` a SQLite path or a PostgreSQL
//! URL — so that one scenario runs on both, and a fresh PostgreSQL database per test.

use std::path::{Path, PathBuf};

/// The store a `--db` value names, for reading rows back.
pub enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Store {
    pub fn of(db: &Path) -> Store {
        match db.to_str() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Store::Postgres(url.to_owned())
            }
            _ => Store::Sqlite(db.to_owned()),
        }
    }

    /// Rows of a query as text (`NULL` for null), on either backend.
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            Store::Sqlite(path) => super::rows(path, sql),
            Store::Postgres(url) => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
                // The simple protocol answers every value as text.
                c.simple_query(sql)
                    .expect("query")
                    .into_iter()
                    .filter_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(r) => Some(
                            (0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_owned()).collect(),
                        ),
                        _ => None,
                    })
                    .collect()
            }
        }
    }

    pub fn count(&self, sql: &str) -> u64 {
        self.rows(sql)[0][0].parse().expect("a count")
    }

    /// The SQL of a blob column as hexadecimal text.
    pub fn hex(&self, column: &str) -> String {
        match self {
            Store::Sqlite(_) => format!("hex({column})"),
            Store::Postgres(_) => format!("upper(encode({column}, 'hex'))"),
        }
    }

    /// The events as sorted rows in the shape of [`super::events`] and [`super::truth`].
    pub fn events(&self) -> Vec<Vec<String>> {
        if let Store::Sqlite(path) = self {
            return super::events(path);
        }
        let mut out: Vec<Vec<String>> = self
            .rows(
                "SELECT system_id, checkpoint_id, ts_us, status, correlation_id, \
                 coalesce(failure_reason, 'NULL') FROM events",
            )
            .into_iter()
            .map(|mut r| {
                r[2] = waymark_core::normalize::format_utc(r[2].parse().expect("ts_us"));
                r
            })
            .collect();
        out.sort();
        out
    }

    /// The tables an ingest leaves, without ids or times of storing (which differ by backend
    /// and by run): what two stores fed the same file must hold alike.
    pub fn tables(&self) -> Vec<(String, Vec<Vec<String>>)> {
        [
            "SELECT position, system_id, checkpoint_id, status, correlation_id, failure_reason, \
             ts_us FROM events ORDER BY position"
                .to_owned(),
            format!(
                "SELECT position, kind, reason, {}, raw_len FROM dead_letters ORDER BY position",
                self.hex("raw")
            ),
            "SELECT position, kind, system_id, correlation_id, ts_us, reason, state \
             FROM join_pending ORDER BY position"
                .to_owned(),
            "SELECT kind, name, position, identity, watermark_us FROM sources ORDER BY id"
                .to_owned(),
        ]
        .into_iter()
        .map(|q| {
            let rows = self.rows(&q);
            (q, rows)
        })
        .collect()
    }
}

/// Asserts that two stores hold the same [`Store::tables`].
pub fn assert_same_tables(got: &Store, want: &Store) {
    for ((q, a), (_, b)) in got.tables().into_iter().zip(want.tables()) {
        assert!(a == b, "{q}: {} rows vs {} expected; first difference: {:?}", a.len(), b.len(), {
            a.iter().zip(&b).find(|(x, y)| x != y)
        });
    }
}

/// A fresh database on the test server `WAYMARK_TEST_PG` names, as a URL; `None` (said) when
/// there is no server (a failure under `CI=true`).
pub fn fresh_database(name: &str) -> Option<String> {
    let Ok(url) = std::env::var("WAYMARK_TEST_PG") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "WAYMARK_TEST_PG is not set: CI must run PostgreSQL tests (scripts/pg.sh)"
        );
        eprintln!("skipped: WAYMARK_TEST_PG is not set (eval \"$(scripts/pg.sh)\")");
        return None;
    };
    Some(database_on(&url, name))
}

/// A fresh database named after `name` on the server of `url`, as a URL.
pub fn database_on(url: &str, name: &str) -> String {
    let db = format!("cli_{name}_{}", std::process::id());
    let mut admin = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).expect("drop");
    admin.batch_execute(&format!("CREATE DATABASE {db}")).expect("create");
    let base = url.rsplit_once('/').map(|(b, _)| b).expect("a URL with a database");
    format!("{base}/{db}")
}
