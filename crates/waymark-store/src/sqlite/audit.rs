//! [`AuditStore`](crate::AuditStore) for SQLite.

impl crate::AuditStore for super::SqliteStore {}
