//! The store's error type: the same for every backend, so nothing outside this crate needs to
//! know which database answered.

/// Everything a store can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database itself failed (I/O, constraint, lost connection…). `backend` names it.
    #[error("{backend}: {message}")]
    Backend {
        backend: &'static str,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The database was busy (another writer held it) past the retry bound.
    #[error("{backend}: the store is locked by another writer ({message})")]
    Busy { backend: &'static str, message: String },
    /// The connection to the database was lost (the server restarted or went away) and not
    /// restored within the store's bound; an operation cut off by it may or may not have landed,
    /// and running it again stores nothing twice.
    #[error("{backend}: the connection to the database was lost ({message})")]
    Lost { backend: &'static str, message: String },
    /// The disk or the database is full.
    #[error("{backend}: the store is full ({message})")]
    Full { backend: &'static str, message: String },
    #[error("the database schema is version {found}, newer than this waymark knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("corrupt value in column {column}: {value}")]
    Corrupt { column: &'static str, value: String },
    /// A statement refused by a guard (a read-only `sql`, a position fence).
    #[error("refused: {0}")]
    Refused(String),
    /// A page cursor that this store did not give (or gave for another list).
    #[error("{0}")]
    InvalidCursor(String),
    /// A query stopped at its time limit.
    #[error("query stopped after its time limit of {0:?}")]
    Timeout(std::time::Duration),
}

impl StoreError {
    pub(crate) fn backend(
        backend: &'static str,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Backend { backend, message: err.to_string(), source: Some(Box::new(err)) }
    }
}
