//! Flow states, run expectations and the alert diff, with an injected clock.

use std::sync::Arc;

use super::*;
use crate::audit::{AuditRow, RunStatus, StoredRun};
use crate::config::{Config, ConfigSource};
use crate::{Event, Status};

const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const SEC: i64 = 1_000_000;

const CONFIG: &str = r#"
[alert]
dashboard_url = "http://dash.example/"

[[expect.flow]]
name = "orders"
[[expect.flow.step]]
system = "fedebom"
final = ["FINALIZED"]
within_secs = 600
[[expect.flow.step]]
system = "reporting"
final = ["*_FINALIZED"]
within_secs = 1800
[[expect.flow.step]]
system = "cmf"
final = ["DONE"]
within_secs = 60
optional = true

[[expect.run]]
name = "nightly"
system_type = "INFA_SESSION"
job = "s_m_load_*"
schedule = "0 2 * * *"
timezone = "Europe/Berlin"
grace_secs = 1800
running_limit_secs = 3600

[[expect.run]]
name = "hourly"
system_type = "DBT"
every_hours = 1
grace_secs = 300

[[alert.rule]]
name = "FlowFailed"
kind = "flow_failed"
severity = "critical"
[[alert.rule]]
name = "FlowStalled"
kind = "flow_stalled"
[[alert.rule]]
name = "RunFailed"
kind = "run_failed"
[[alert.rule]]
name = "RunStalled"
kind = "run_stalled"
[[alert.rule]]
name = "RunMissing"
kind = "run_missing"
[[alert.rule]]
name = "Lag"
kind = "source_lag"
threshold_secs = 300
[[alert.rule]]
name = "DeadLetters"
kind = "dead_letter_rate"
threshold = 0.1
window_secs = 600

[[alert.sink]]
name = "am"
type = "alertmanager"
url = "http://127.0.0.1:9093"
"#;

fn config() -> AlertConfig {
    Config::load(Some(&ConfigSource { name: "t.toml", text: CONFIG })).unwrap().alert
}

fn ev(system: &str, cp: &str, secs: i64, status: Status) -> Event {
    Event {
        system_id: Arc::from(system),
        checkpoint_id: cp.into(),
        ts_micros: T0 + secs * SEC,
        status,
        correlation_id: "c1".into(),
        failure_reason: (status == Status::Failure).then(|| "boom".into()),
    }
}

fn state(events: &[Event], now_secs: i64) -> FlowState {
    flow_status(&config().flows, "c1", events, T0 + now_secs * SEC).unwrap().state
}

use Status::{Failure as F, Success as S};

#[test]
fn flow_deadline_just_before_and_just_after() {
    let events = [ev("fedebom", "RECEIVED", 0, S)];
    assert_eq!(state(&events, 600), FlowState::InProgress, "at the deadline");
    assert_eq!(state(&events, 601), FlowState::Stalled, "one second past");
    let s = flow_status(&config().flows, "c1", &events, T0 + 601 * SEC).unwrap();
    assert_eq!(s.system.as_deref(), Some("fedebom"));
    assert_eq!(s.since_micros, T0 + 600 * SEC);
}

#[test]
fn flow_complete_failed_retried_and_optional() {
    let done = [
        ev("fedebom", "RECEIVED", 0, S),
        ev("fedebom", "FINALIZED", 100, S),
        ev("reporting", "REPORT_FINALIZED", 900, S),
    ];
    assert_eq!(state(&done, 5000), FlowState::Complete, "cmf is optional");
    let failed = [ev("fedebom", "RECEIVED", 0, S), ev("fedebom", "FINALIZED", 100, F)];
    assert_eq!(state(&failed, 120), FlowState::Failed);
    assert_eq!(state(&failed, 5000), FlowState::Failed, "failed wins over stalled");
    let retried = [failed[0].clone(), failed[1].clone(), ev("fedebom", "FINALIZED", 200, S)];
    assert_eq!(state(&retried, 300), FlowState::InProgress, "a later success recovers");
    let optional_fails = [ev("fedebom", "RECEIVED", 0, S), ev("cmf", "DONE", 10, F)];
    assert_eq!(
        state(&optional_fails, 20),
        FlowState::InProgress,
        "an optional step never fails it"
    );
    assert!(flow_status(&config().flows, "c1", &[ev("other", "X", 0, S)], T0).is_none());
}

#[test]
fn flow_events_out_of_order() {
    // The success of the retry arrives before the failure it recovers from.
    let events = [
        ev("fedebom", "FINALIZED", 200, S),
        ev("fedebom", "FINALIZED", 100, F),
        ev("fedebom", "RECEIVED", 0, S),
    ];
    assert_eq!(state(&events, 300), FlowState::InProgress);
    // A failure that comes later in time than the success is the last word.
    let events = [
        ev("reporting", "R_FINALIZED", 50, F),
        ev("reporting", "R_FINALIZED", 40, S),
        ev("fedebom", "RECEIVED", 0, S),
    ];
    assert_eq!(state(&events, 60), FlowState::Failed);
}

fn facts(events: Vec<Event>) -> Facts {
    Facts { flows: vec![("c1".into(), events)], ..Facts::default() }
}

/// Fires and resolves like the store would, returning the transitions of each step.
struct Clock {
    config: AlertConfig,
    active: Vec<Firing>,
}

impl Clock {
    fn step(&mut self, facts: &Facts, now: i64) -> Vec<Transition> {
        let eval = evaluate(&self.config, facts, now);
        let mut t = diff(&self.config, &self.active, &eval);
        t.retain(|t| t.firing().kind == RuleKind::FlowStalled);
        for tr in &t {
            match tr {
                Transition::Fire(f) => self.active.push(f.clone()),
                Transition::Resolve(f) => self.active.retain(|a| a.key != f.key),
            }
        }
        t
    }
}

#[test]
fn a_flow_that_completes_after_stalling_is_resolved() {
    let mut c = Clock { config: config(), active: Vec::new() };
    let mut events = vec![ev("fedebom", "RECEIVED", 0, S)];
    assert!(c.step(&facts(events.clone()), T0 + 600 * SEC).is_empty());
    let t = c.step(&facts(events.clone()), T0 + 601 * SEC);
    assert_eq!(t.len(), 1);
    let Transition::Fire(f) = &t[0] else { panic!("{t:?}") };
    assert_eq!(f.key, "FlowStalled|orders|c1");
    assert_eq!(f.annotations["link"], "http://dash.example/trace/c1");
    assert!(c.step(&facts(events.clone()), T0 + 700 * SEC).is_empty(), "fires once");
    events.push(ev("fedebom", "FINALIZED", 650, S));
    events.push(ev("reporting", "X_FINALIZED", 660, S));
    let t = c.step(&facts(events.clone()), T0 + 700 * SEC);
    assert!(
        matches!(&t[..], [Transition::Resolve(f)] if f.key == "FlowStalled|orders|c1"),
        "{t:?}"
    );
    // A flow outside the evaluated set is left alone.
    c.active.push(f.clone());
    assert!(c.step(&Facts::default(), T0 + 800 * SEC).is_empty());
}

fn run(job: &str, system: &str, start_secs: Option<i64>, status: RunStatus) -> StoredRun {
    let mut row = AuditRow::new(system);
    row.session_name = Some(job.into());
    row.workflow_name = Some("wf".into());
    row.run_id = Some(format!("{job}-{start_secs:?}"));
    row.start_time = start_secs.map(|s| T0 + s * SEC);
    row.status = status;
    if status == RunStatus::Failure {
        row.error_message = Some("ORA-00942".into());
    }
    StoredRun {
        run_key: format!("{job}@{start_secs:?}"),
        row,
        logscan_id: None,
        log_file: None,
        updated_at: String::new(),
    }
}

/// The run firings (source and dead-letter rules have no facts here).
fn firing_keys(runs: Vec<StoredRun>, now: i64) -> Vec<String> {
    let facts = Facts { runs, ..Facts::default() };
    let eval = evaluate(&config(), &facts, now);
    eval.firing.into_keys().filter(|k| k.starts_with("Run")).collect()
}

/// The run firings of one rule.
fn keys_of(rule: &str, runs: Vec<StoredRun>, now: i64) -> Vec<String> {
    firing_keys(runs, now).into_iter().filter(|k| k.starts_with(rule)).collect()
}

#[test]
fn run_failed_then_retried() {
    // 2026-01-01 02:00 Berlin = 01:00 UTC (3600 s after T0).
    let failed = run("s_m_load_a", "INFA_SESSION", Some(3600), RunStatus::Failure);
    let failed_now = |runs, s| keys_of("RunFailed", runs, T0 + s * SEC);
    assert_eq!(failed_now(vec![failed.clone()], 4000), ["RunFailed|INFA_SESSION|s_m_load_a"]);
    let retry_running = run("s_m_load_a", "INFA_SESSION", Some(4000), RunStatus::Running);
    assert_eq!(
        failed_now(vec![failed.clone(), retry_running], 4100),
        ["RunFailed|INFA_SESSION|s_m_load_a"],
        "a running retry does not resolve it yet"
    );
    let retry_ok = run("s_m_load_a", "INFA_SESSION", Some(4000), RunStatus::Success);
    assert!(failed_now(vec![retry_ok, failed], 4100).is_empty(), "out of order too");
}

#[test]
fn run_missing_by_cron_deadline_just_before_and_after() {
    // Due 01:00 UTC, grace 1800 s: missing from 01:30:00 UTC on (strictly after).
    let key = "RunMissing|INFA_SESSION|nightly".to_string();
    assert!(
        firing_keys(vec![], T0 + 5399 * SEC).contains(&key),
        "no run at all: yesterday's is missing"
    );
    let yesterday = run("s_m_load_a", "INFA_SESSION", Some(3600 - 86_400), RunStatus::Success);
    let with = |s: i64| firing_keys(vec![yesterday.clone()], T0 + s * SEC);
    assert!(!with(5399).contains(&key), "just before the deadline");
    assert!(!with(5400).contains(&key), "at the deadline");
    assert!(with(5401).contains(&key), "just after the deadline");
    let today = run("s_m_load_a", "INFA_SESSION", Some(3590), RunStatus::Running);
    let keys = firing_keys(vec![yesterday, today], T0 + 5401 * SEC);
    assert!(!keys.contains(&key), "a start slightly early counts");
}

#[test]
fn run_missing_every_hours_and_stalled() {
    let key = "RunMissing|DBT|hourly".to_string();
    let dbt = run("model", "DBT", Some(0), RunStatus::Success);
    assert!(!firing_keys(vec![dbt.clone()], T0 + 3900 * SEC).contains(&key));
    assert!(firing_keys(vec![dbt], T0 + 3901 * SEC).contains(&key));
    let stalled = "RunStalled|INFA_SESSION|s_m_load_b".to_string();
    let long = run("s_m_load_b", "INFA_SESSION", Some(3600), RunStatus::Running);
    assert!(!firing_keys(vec![long.clone()], T0 + 7200 * SEC).contains(&stalled));
    assert!(firing_keys(vec![long], T0 + 7201 * SEC).contains(&stalled));
}

#[test]
fn source_lag_and_dead_letters() {
    let mut facts = Facts {
        sources: vec![SourceLag {
            kind: "file".into(),
            name: "/a.log".into(),
            watermark_micros: Some(T0),
        }],
        ..Facts::default()
    };
    facts.dead_letters.insert(600, (100, 10));
    let other = |k: &String| !k.starts_with("Run");
    let keys: Vec<String> =
        evaluate(&config(), &facts, T0 + 300 * SEC).firing.into_keys().filter(other).collect();
    assert!(keys.is_empty(), "{keys:?}");
    facts.dead_letters.insert(600, (100, 11));
    let keys: Vec<String> =
        evaluate(&config(), &facts, T0 + 301 * SEC).firing.into_keys().filter(other).collect();
    assert_eq!(keys, ["DeadLetters|ingest|dead_letters", "Lag|file|/a.log"]);
}

#[test]
fn a_removed_rule_resolves_and_notifications_have_stable_distinct_ids() {
    let cfg = config();
    let mut f = Firing::new(&cfg.rules[0], "x", "x", "x");
    f.rule = "Gone".into();
    let t = diff(&cfg, &[f.clone()], &Evaluation::default());
    assert_eq!(t, [Transition::Resolve(f.clone())]);
    let n = notifications(&cfg, &t, T0);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].id, notifications(&cfg, &t, T0)[0].id);
    assert_ne!(n[0].id, notifications(&cfg, &t, T0 + 1)[0].id);
}

fn errors(text: &str) -> Vec<String> {
    match Config::load(Some(&ConfigSource { name: "u.toml", text })) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn config_errors_name_file_path_and_line() {
    let text = "\n[[expect.run]]\nname = \"n\"\nsystem_type = \"DBT\"\nschedule = \"0 25 * * *\"\n\n[[alert.rule]]\nname = \"r\"\nkind = \"run_exploded\"\n\n[[alert.rule]]\nname = \"r2\"\nkind = \"run_failed\"\nsinks = [\"nowhere\"]\nexpect = [\"nope\"]\n\n[[alert.sink]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"ftp://x\"\n\n[[alert.sink]]\nname = \"w2\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\n";
    let e = errors(text);
    let want = [
        "u.toml:5: expect.run[0].schedule: hour: 25 is outside 0-23",
        "u.toml:9: alert.rule[0].kind: unknown kind `run_exploded`",
        "u.toml:14: alert.rule[1].sinks[0]: no [[alert.sink]] is named `nowhere`",
        "u.toml:15: alert.rule[1].expect[0]: no [[expect.flow]] or [[expect.run]] is named `nope`",
        "u.toml:20: alert.sink[0].url: must be an http:// or https:// URL",
        "u.toml:24: alert.sink[1].secret_env: a webhook sink needs its signing secret",
    ];
    for w in want {
        assert!(e.iter().any(|x| x.starts_with(w)), "missing {w:?} in {e:#?}");
    }
    assert_eq!(e.len(), want.len(), "{e:#?}");
    assert!(errors(CONFIG).is_empty());
    let unknown = errors("[[alert.rule]]\nname = \"r\"\nkind = \"run_failed\"\nsevirity = \"x\"\n");
    assert!(unknown[0].starts_with("u.toml:4"), "{unknown:?}");
}
