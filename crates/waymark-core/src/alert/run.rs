//! Run rules: failed (the latest run of a job), stalled (RUNNING past its limit) and missing
//! (no start by the deadline of the schedule).

use std::collections::BTreeMap;

use super::config::{Cadence, RunExpect};
use super::{selected, AlertConfig, AlertRule, Evaluation, Firing};
use crate::audit::{RunStatus, StoredRun};

/// A run's job name: the most specific name it has (session, workflow, folder).
pub fn job_name(run: &StoredRun) -> String {
    let r = &run.row;
    [&r.session_name, &r.workflow_name, &r.folder_name]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| r.system_type.clone())
}

fn matches(e: &RunExpect, run: &StoredRun) -> bool {
    run.row.system_type == e.system_type && e.job.is_match(&job_name(run))
}

/// The expectations a rule applies to.
fn expects<'a>(
    config: &'a AlertConfig,
    rule: &'a AlertRule,
) -> impl Iterator<Item = &'a RunExpect> {
    config.runs.iter().filter(|e| selected(rule, &e.name))
}

fn describe(f: Firing, run: &StoredRun, config: &AlertConfig) -> Firing {
    let mut f = f.note("run_key", &run.run_key);
    if let Some(id) = &run.row.run_id {
        f = f.note("run_id", id);
    }
    if let Some(w) = &run.row.workflow_name {
        f = f.note("workflow", w);
    }
    if let Some(file) = &run.log_file {
        f = f.note("log_file", file);
    }
    if let Some(base) = &config.dashboard_url {
        f = f.note("link", format!("{base}/runs?job={}", job_name(run)));
    }
    f
}

/// The latest run of each (system type, job): by start, a run without a start counting as
/// the latest (it is being written).
fn latest_per_job<'a>(
    runs: impl Iterator<Item = &'a StoredRun>,
) -> BTreeMap<(String, String), &'a StoredRun> {
    let mut latest: BTreeMap<(String, String), &StoredRun> = BTreeMap::new();
    for run in runs {
        let key = (run.row.system_type.clone(), job_name(run));
        let later = |old: &StoredRun| {
            run.row.start_time.unwrap_or(i64::MAX) >= old.row.start_time.unwrap_or(i64::MAX)
        };
        if latest.get(&key).is_none_or(|old| later(old)) {
            latest.insert(key, run);
        }
    }
    latest
}

pub(super) fn failed(
    config: &AlertConfig,
    rule: &AlertRule,
    runs: &[StoredRun],
    eval: &mut Evaluation,
) {
    let in_scope = |run: &&StoredRun| {
        rule.system_type.as_ref().is_none_or(|t| *t == run.row.system_type)
            && (rule.expect.is_empty() || expects(config, rule).any(|e| matches(e, run)))
    };
    // Runs that have not ended do not decide: the latest ended run does.
    let ended = runs.iter().filter(in_scope).filter(|r| r.row.status.is_final());
    for ((system, job), run) in latest_per_job(ended) {
        let mut f = describe(Firing::new(rule, &system, &job, &job), run, config);
        f.since_micros = run.row.end_time.or(run.row.start_time).unwrap_or(0);
        if let Some(m) = &run.row.error_message {
            f = f.note("reason", m);
        }
        f.summary = format!("{system} run {job} failed");
        eval.verdict(f, run.row.status == RunStatus::Failure);
    }
}

pub(super) fn stalled(
    config: &AlertConfig,
    rule: &AlertRule,
    runs: &[StoredRun],
    now: i64,
    eval: &mut Evaluation,
) {
    for e in expects(config, rule) {
        let Some(limit) = e.running_limit_micros else { continue };
        let mine = runs.iter().filter(|r| matches(e, r));
        for ((system, job), run) in latest_per_job(mine) {
            let mut f = describe(Firing::new(rule, &system, &job, &job), run, config);
            let start = run.row.start_time.unwrap_or(now);
            f.since_micros = start.saturating_add(limit);
            f.summary = format!(
                "{system} run {job} has been RUNNING for {} s (limit {} s)",
                now.saturating_sub(start) / 1_000_000,
                limit / 1_000_000
            );
            let holds = run.row.status == RunStatus::Running && f.since_micros < now;
            eval.verdict(f, holds);
        }
    }
}

/// How early before its scheduled time a start still counts for it.
const EARLY_MICROS: i64 = 60_000_000;

pub(super) fn missing(
    config: &AlertConfig,
    rule: &AlertRule,
    runs: &[StoredRun],
    now: i64,
    eval: &mut Evaluation,
) {
    for e in expects(config, rule) {
        // The start a run must have had by now (the last due time), if any is due.
        let due = match &e.cadence {
            Cadence::None => continue,
            Cadence::Cron { schedule, zone } => {
                // Due once its grace has passed (strictly).
                let latest_due = now.saturating_sub(e.grace_micros).saturating_sub(1);
                let Ok(at) = jiff::Timestamp::from_microsecond(latest_due) else {
                    continue;
                };
                match schedule.latest_at_or_before(at, zone) {
                    Some(t) => t.as_microsecond() - EARLY_MICROS,
                    None => continue,
                }
            }
            Cadence::Every { micros } => now.saturating_sub(*micros).saturating_sub(e.grace_micros),
        };
        let latest = runs.iter().filter(|r| matches(e, r)).filter_map(|r| r.row.start_time).max();
        let job = e.job.as_str();
        let mut f = Firing::new(rule, &e.system_type, job, &e.name).note("expectation", &e.name);
        f.since_micros = due.saturating_add(e.grace_micros);
        if let Ok(t) = jiff::Timestamp::from_microsecond(due + EARLY_MICROS) {
            f = f.note("expected_start", t.to_string());
        }
        if let Some(l) = latest {
            f = f.note("last_start", crate::normalize::format_utc(l));
        }
        f.summary = format!("{} {job}: expected run did not start ({})", e.system_type, e.name);
        eval.verdict(f, latest.is_none_or(|l| l < due));
    }
}
