//! Steps: the parts of a run (dbt nodes, Jenkins stages, GitHub Actions steps, the sessions of a
//! workflow), so that a run can be drawn as a Gantt chart. See issue 14.
//!
//! A step is keyed by its run and its `name` (unique within the run: a dbt `unique_id`, a stage
//! or step name). Readings of one step from several documents merge like runs: a known value
//! is never blanked, and a value measured by the tool itself (`exact`, e.g. `run_results.json`
//! timings) is not replaced by one read off a text line.

use super::{text, RunStatus, MAX_ERROR, MAX_NAME};

/// Most steps kept for one run.
pub const MAX_STEPS: usize = 10_000;

/// One part of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    /// Unique within the run.
    pub name: String,
    /// `model`, `test`, `seed`, `stage`, `step`, `session` ...
    pub kind: Option<String>,
    pub status: RunStatus,
    /// Microseconds since the epoch, UTC.
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    /// Rows the step affected, when the tool states it.
    pub rows: Option<i64>,
    /// The step's message when it failed (its first error).
    pub message: Option<String>,
    /// Values measured by the tool itself (a JSON artefact), preferred over text readings.
    pub exact: bool,
}

impl Step {
    pub fn new(name: &str, kind: Option<&str>) -> Step {
        Step {
            name: text::clip(name.trim(), MAX_NAME),
            kind: kind.map(str::to_owned),
            ..Step::default()
        }
    }

    /// A failed step: dbt `error` and `fail`, a failed stage.
    pub fn failed(&self) -> bool {
        self.status == RunStatus::Failure
    }

    /// The step as JSON (times as RFC 3339 UTC text).
    pub fn to_json(&self) -> serde_json::Value {
        let time = |t: Option<i64>| t.map(crate::normalize::format_utc);
        serde_json::json!({
            "name": self.name,
            "kind": self.kind,
            "status": self.status.as_str(),
            "start_time": time(self.start_time),
            "end_time": time(self.end_time),
            "rows": self.rows,
            "message": self.message,
        })
    }

    pub(crate) fn bound(&mut self) {
        if let Some(m) = &mut self.message {
            *m = text::clip(m, MAX_ERROR);
        }
    }
}

/// The steps after `new` is read over `known`: by name, in order of first appearance.
pub fn merge_steps(known: &[Step], new: &[Step]) -> Vec<Step> {
    let mut out = known.to_vec();
    for n in new {
        let full = out.len() >= MAX_STEPS;
        match out.iter_mut().find(|k| k.name == n.name) {
            Some(k) => *k = merge_step(k, n),
            None if !full => out.push(n.clone()),
            None => {}
        }
    }
    out
}

fn merge_step(known: &Step, new: &Step) -> Step {
    // An exact reading is only gap-filled by a text one; otherwise the newer reading wins.
    let new_wins = new.exact || !known.exact;
    let pick = |n: &Option<String>, k: &Option<String>| {
        if new_wins {
            n.clone().or_else(|| k.clone())
        } else {
            k.clone().or_else(|| n.clone())
        }
    };
    let num = |n: Option<i64>, k: Option<i64>| if new_wins { n.or(k) } else { k.or(n) };
    let status = match (known.status, new.status) {
        (k, RunStatus::Unknown) => k,
        (k, RunStatus::Running) if k.is_final() => k,
        (k, _) if known.exact && !new.exact && k.is_final() => k,
        (_, n) => n,
    };
    Step {
        name: known.name.clone(),
        kind: pick(&new.kind, &known.kind),
        status,
        start_time: num(new.start_time, known.start_time),
        end_time: num(new.end_time, known.end_time),
        rows: num(new.rows, known.rows),
        message: pick(&new.message, &known.message),
        exact: known.exact || new.exact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_merge_by_name_and_exact_values_win() {
        let mut a = Step::new("model.p.a", Some("model"));
        a.status = RunStatus::Running;
        a.start_time = Some(10);
        let mut exact = Step::new("model.p.a", Some("model"));
        exact.status = RunStatus::Failure;
        exact.start_time = Some(12);
        exact.end_time = Some(20);
        exact.message = Some("Database Error".into());
        exact.exact = true;
        let merged = merge_steps(&[a.clone()], &[exact.clone()]);
        assert_eq!(merged, vec![exact.clone()]);
        // A text reading afterwards only fills gaps.
        let mut text = a.clone();
        text.status = RunStatus::Success;
        text.rows = Some(5);
        let again = merge_steps(&merged, &[text, Step::new("model.p.b", None)]);
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].start_time, Some(12));
        assert_eq!(again[0].status, RunStatus::Failure);
        assert_eq!(again[0].rows, Some(5));
        assert_eq!(again[1].name, "model.p.b");
    }
}
