//! [`ScanStore`](crate::ScanStore) for SQLite.

impl crate::ScanStore for super::SqliteStore {}
