//! Reconciliation: runs whose numbers do not add up, and runs that never finished.

use super::{AuditRow, RunStatus};

/// Why a run is suspicious.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Rows read ≠ rows applied + rows rejected (both sides stated by the tool).
    CountMismatch,
    /// Still `RUNNING` longer than the configured time after its start.
    Stale,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::CountMismatch => "count_mismatch",
            Flag::Stale => "stale_running",
        }
    }
}

/// The flags of a run at time `now` (microseconds), with the running timeout in seconds.
/// A run that is `RUNNING` without a start time is judged by `last_seen` (when it was last
/// audited), so that it is flagged too.
pub fn flags(row: &AuditRow, now: i64, timeout_secs: u64, last_seen: Option<i64>) -> Vec<Flag> {
    let mut out = Vec::new();
    if let (Some(read), Some(applied)) = (row.source_rows, row.target_rows) {
        if read != applied.saturating_add(row.rejected_rows.unwrap_or(0)) {
            out.push(Flag::CountMismatch);
        }
    }
    if row.status == RunStatus::Running {
        let since = row.start_time.or(last_seen);
        let limit = i64::try_from(timeout_secs).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        if since.is_some_and(|s| now.saturating_sub(s) > limit) {
            out.push(Flag::Stale);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_staleness() {
        let mut r = AuditRow::new("INFA_SESSION");
        r.source_rows = Some(100);
        r.target_rows = Some(97);
        r.rejected_rows = Some(3);
        assert!(flags(&r, 0, 60, None).is_empty());
        r.rejected_rows = None;
        assert_eq!(flags(&r, 0, 60, None), vec![Flag::CountMismatch]);
        r.target_rows = None;
        assert!(flags(&r, 0, 60, None).is_empty(), "one side unknown: nothing to compare");
        r.status = RunStatus::Running;
        r.start_time = Some(0);
        assert!(flags(&r, 60_000_000, 60, None).is_empty());
        assert_eq!(flags(&r, 61_000_000, 60, None), vec![Flag::Stale]);
        r.status = RunStatus::Success;
        assert!(flags(&r, 61_000_000, 60, None).is_empty());
    }
}
