//! [`AuditStore`]: `etl_log_audit`, one row per ETL run.

/// Audit rows.
pub trait AuditStore {}
