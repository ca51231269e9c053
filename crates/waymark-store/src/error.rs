//! The store's error type.

/// Everything a store can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database schema is version {found}, newer than this waymark knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("corrupt value in column {column}: {value}")]
    Corrupt { column: &'static str, value: String },
}
