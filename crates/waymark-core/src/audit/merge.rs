//! How a new reading of a run updates the stored row: a known value is never blanked.
//!
//! Values: the new one when known, else the stored one (but a reading of a run that is not
//! finished, after the run was seen finished, only fills gaps). Lists: the stored names, then the
//! new ones not yet in them. Status: a final status (`SUCCESS`, `FAILURE`) never goes back to
//! `RUNNING`, and `UNKNOWN` never replaces a known status.

use super::{AuditRow, RunStatus};

/// The row after `new` is read over `known`.
pub fn merge_rows(known: &AuditRow, new: &AuditRow) -> AuditRow {
    // A reading of an unfinished run (an older or partial copy) after the run was seen
    // finished only fills gaps: the finished reading is the more complete one.
    let new_wins = !known.status.is_final() || new.status.is_final();
    let pick = |n: &Option<String>, k: &Option<String>| {
        if new_wins {
            n.clone().or_else(|| k.clone())
        } else {
            k.clone().or_else(|| n.clone())
        }
    };
    let num = |n: Option<i64>, k: Option<i64>| if new_wins { n.or(k) } else { k.or(n) };
    let mut extra = known.extra.clone();
    for (k, v) in &new.extra {
        if new_wins || !extra.contains_key(k) {
            extra.insert(k.clone(), v.clone());
        }
    }
    let mut merged = AuditRow {
        system_type: new.system_type.clone(),
        folder_name: pick(&new.folder_name, &known.folder_name),
        workflow_name: pick(&new.workflow_name, &known.workflow_name),
        session_name: pick(&new.session_name, &known.session_name),
        run_id: pick(&new.run_id, &known.run_id),
        // Documents of one run observe it from different moments (a dbt.log from the
        // invocation's start, its run_results.json from the first node): the earliest wins.
        start_time: match (new.start_time, known.start_time) {
            (Some(n), Some(k)) => Some(n.min(k)),
            (n, k) => n.or(k),
        },
        end_time: num(new.end_time, known.end_time),
        status: merge_status(known.status, new.status),
        source_rows: num(new.source_rows, known.source_rows),
        target_rows: num(new.target_rows, known.target_rows),
        rejected_rows: num(new.rejected_rows, known.rejected_rows),
        source_name: merge_list(&known.source_name, &new.source_name),
        target_name: merge_list(&known.target_name, &new.target_name),
        error_message: pick(&new.error_message, &known.error_message),
        extra,
        steps: super::merge_steps(&known.steps, &new.steps),
    };
    merged.apply_steps();
    merged
}

fn merge_status(known: RunStatus, new: RunStatus) -> RunStatus {
    match (known, new) {
        (k, RunStatus::Unknown) => k,
        (k, RunStatus::Running) if k.is_final() => k,
        (_, n) => n,
    }
}

fn merge_list(known: &[String], new: &[String]) -> Vec<String> {
    let mut out = known.to_vec();
    for name in new {
        AuditRow::push_name(&mut out, name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: RunStatus) -> AuditRow {
        AuditRow { status, ..AuditRow::new("INFA_SESSION") }
    }

    #[test]
    fn status_moves_forward_only() {
        use RunStatus::*;
        let check = |k, n, want| assert_eq!(merge_rows(&row(k), &row(n)).status, want);
        check(Running, Success, Success);
        check(Running, Failure, Failure);
        check(Success, Running, Success);
        check(Failure, Running, Failure);
        check(Success, Unknown, Success);
        check(Running, Unknown, Running);
        check(Unknown, Running, Running);
        check(Failure, Success, Success);
    }

    #[test]
    fn known_values_are_never_blanked_and_lists_merge() {
        let mut known = row(RunStatus::Running);
        known.run_id = Some("7".into());
        known.source_rows = Some(10);
        known.start_time = Some(1);
        known.source_name = vec!["A".into(), "B".into()];
        let mut new = row(RunStatus::Success);
        new.target_rows = Some(9);
        new.source_rows = Some(12);
        new.end_time = Some(5);
        new.source_name = vec!["B".into(), "C".into()];
        let m = merge_rows(&known, &new);
        assert_eq!(m.run_id.as_deref(), Some("7"));
        assert_eq!((m.source_rows, m.target_rows, m.rejected_rows), (Some(12), Some(9), None));
        assert_eq!((m.start_time, m.end_time), (Some(1), Some(5)));
        assert_eq!(m.source_name, vec!["A", "B", "C"]);
        assert_eq!(m.status, RunStatus::Success);
        // Reading an older, shorter version again loses nothing.
        let mut older = known.clone();
        older.target_rows = Some(4);
        let again = merge_rows(&m, &older);
        assert_eq!(again.end_time, Some(5));
        assert_eq!(again.target_rows, Some(9), "the finished reading wins");
        assert_eq!(again.source_rows, Some(12));
        assert_eq!(again.status, RunStatus::Success);
    }
}
