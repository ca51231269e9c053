//! Expectations and alerts (issue 11): pure evaluation, the current time passed in.
//!
//! [`config`] validates `[[expect.flow]]`, `[[expect.run]]`, `[[alert.rule]]` and
//! `[[alert.sink]]`; [`flow`] gives each flow its state (complete, failed, stalled, in
//! progress); [`evaluate`] turns the store's facts (flows, runs, sources, dead-letter counts)
//! into the set of [`Firing`]s that hold now, and [`diff`] compares it with the firings stored
//! as active: what starts firing and what is resolved, explicitly, because its condition was
//! evaluated and no longer holds. Each firing has a stable identity (rule + system + job or
//! correlation id) so that receivers can group and deduplicate. Nothing here does I/O: the
//! pipeline reads the facts, the store keeps the state and the outbox, the deliverer sends.

pub mod config;
pub mod cron;
pub mod flow;
pub mod glob;
mod run;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use config::{AlertConfig, AlertRule, AlertSink, SecretRef, SinkKind};
pub use flow::{flow_status, FlowState, FlowStatus};
pub use run::job_name;

use crate::audit::StoredRun;
use crate::Event;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RuleKind {
    RunFailed,
    RunStalled,
    RunMissing,
    FlowFailed,
    FlowStalled,
    SourceLag,
    DeadLetterRate,
}

impl RuleKind {
    pub const ALL: [RuleKind; 7] = [
        RuleKind::RunFailed,
        RuleKind::RunStalled,
        RuleKind::RunMissing,
        RuleKind::FlowFailed,
        RuleKind::FlowStalled,
        RuleKind::SourceLag,
        RuleKind::DeadLetterRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::RunFailed => "run_failed",
            RuleKind::RunStalled => "run_stalled",
            RuleKind::RunMissing => "run_missing",
            RuleKind::FlowFailed => "flow_failed",
            RuleKind::FlowStalled => "flow_stalled",
            RuleKind::SourceLag => "source_lag",
            RuleKind::DeadLetterRate => "dead_letter_rate",
        }
    }

    pub fn parse(s: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How bad it is (the `severity` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Critical, Severity::Warning, Severity::Info]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A condition that holds: one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Firing {
    /// Stable identity: `rule|system|subject`.
    pub key: String,
    pub rule: String,
    pub kind: RuleKind,
    pub severity: Severity,
    /// The system (`system_id` of a flow's step, a run's system type, a source's kind).
    pub system: String,
    /// The job: a run's job name, a flow family, a source's name (low cardinality).
    pub job: String,
    /// What it is about: a correlation id, a job, a source (high cardinality).
    pub subject: String,
    /// One line for people.
    pub summary: String,
    /// Details: `run_id`, `correlation_id`, `reason`, `link`, ...
    pub annotations: BTreeMap<String, String>,
    /// When the condition began (event time or the deadline), microseconds since the epoch.
    pub since_micros: i64,
}

impl Firing {
    fn new(rule: &AlertRule, system: &str, job: &str, subject: &str) -> Firing {
        Firing {
            key: format!("{}|{system}|{subject}", rule.name),
            rule: rule.name.clone(),
            kind: rule.kind,
            severity: rule.severity,
            system: system.to_owned(),
            job: job.to_owned(),
            subject: subject.to_owned(),
            summary: String::new(),
            annotations: BTreeMap::new(),
            since_micros: 0,
        }
    }

    fn note(mut self, name: &str, value: impl Into<String>) -> Firing {
        self.annotations.insert(name.to_owned(), value.into());
        self
    }
}

/// A source and how far its event time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLag {
    pub kind: String,
    pub name: String,
    pub watermark_micros: Option<i64>,
}

/// The facts an evaluation reads, gathered from the store.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Flows: a correlation id and all its events.
    pub flows: Vec<(String, Vec<Event>)>,
    /// Runs that started in the lookback window (and runs without a start).
    pub runs: Vec<StoredRun>,
    /// Active sources.
    pub sources: Vec<SourceLag>,
    /// Per window in seconds: (records, dead letters) stored within it.
    pub dead_letters: BTreeMap<u64, (u64, u64)>,
}

/// What holds now.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// The firings, by key.
    pub firing: BTreeMap<String, Firing>,
    /// Identities whose condition was evaluated (firing or not): an active firing among them
    /// that is not firing any more is resolved; one outside them is left alone.
    pub evaluated: BTreeSet<String>,
}

impl Evaluation {
    fn verdict(&mut self, firing: Firing, holds: bool) {
        self.evaluated.insert(firing.key.clone());
        if holds {
            self.firing.insert(firing.key.clone(), firing);
        }
    }
}

/// Evaluates every rule at `now` (microseconds since the epoch).
pub fn evaluate(config: &AlertConfig, facts: &Facts, now: i64) -> Evaluation {
    let mut eval = Evaluation::default();
    let statuses: Vec<FlowStatus> = facts
        .flows
        .iter()
        .filter_map(|(cid, events)| flow_status(&config.flows, cid, events, now))
        .collect();
    for rule in &config.rules {
        match rule.kind {
            RuleKind::FlowFailed | RuleKind::FlowStalled => {
                flow_rule(config, rule, &statuses, &mut eval);
            }
            RuleKind::RunFailed => run::failed(config, rule, &facts.runs, &mut eval),
            RuleKind::RunStalled => run::stalled(config, rule, &facts.runs, now, &mut eval),
            RuleKind::RunMissing => run::missing(config, rule, &facts.runs, now, &mut eval),
            RuleKind::SourceLag => source_lag(rule, &facts.sources, now, &mut eval),
            RuleKind::DeadLetterRate => dead_letter_rate(rule, &facts.dead_letters, &mut eval),
        }
    }
    eval
}

fn selected(rule: &AlertRule, expect_name: &str) -> bool {
    rule.expect.is_empty() || rule.expect.iter().any(|e| e == expect_name)
}

fn flow_rule(
    config: &AlertConfig,
    rule: &AlertRule,
    statuses: &[FlowStatus],
    eval: &mut Evaluation,
) {
    let want =
        if rule.kind == RuleKind::FlowFailed { FlowState::Failed } else { FlowState::Stalled };
    for s in statuses.iter().filter(|s| selected(rule, &s.family)) {
        // The identity names the family, not the system: a flow that stalls at another step
        // later is still the same alert.
        let mut f = Firing::new(rule, &s.family, &s.family, &s.correlation_id)
            .note("correlation_id", &s.correlation_id);
        // The `system` label is the step's system; the identity keeps the family.
        if let Some(system) = &s.system {
            f.system.clone_from(system);
        }
        f.since_micros = s.since_micros;
        if let Some(system) = &s.system {
            f = f.note("step_system", system);
        }
        if let Some(cp) = &s.checkpoint {
            f = f.note("checkpoint", cp);
        }
        if let Some(r) = &s.reason {
            f = f.note("reason", r);
        }
        if let Some(base) = &config.dashboard_url {
            f = f.note("link", format!("{base}/trace/{}", s.correlation_id));
        }
        let at = s.system.as_deref().unwrap_or("?");
        f.summary = match want {
            FlowState::Failed => format!(
                "flow {} ({}) failed at {at} {}",
                s.correlation_id,
                s.family,
                s.checkpoint.as_deref().unwrap_or("")
            ),
            _ => format!(
                "flow {} ({}) stalled: {at} did not reach {} in time",
                s.correlation_id,
                s.family,
                s.checkpoint.as_deref().unwrap_or("its final checkpoint")
            ),
        };
        eval.verdict(f, s.state == want);
    }
}

fn source_lag(rule: &AlertRule, sources: &[SourceLag], now: i64, eval: &mut Evaluation) {
    let limit = i64::try_from(rule.threshold_secs).unwrap_or(i64::MAX / 1_000_000) * 1_000_000;
    for s in sources {
        let Some(w) = s.watermark_micros else { continue };
        let lag = now.saturating_sub(w);
        let mut f = Firing::new(rule, &s.kind, &s.name, &s.name)
            .note("lag_secs", (lag / 1_000_000).to_string());
        f.since_micros = w.saturating_add(limit);
        f.summary = format!("source {} lags {} s behind now", s.name, lag / 1_000_000);
        eval.verdict(f, lag > limit);
    }
}

fn dead_letter_rate(rule: &AlertRule, counts: &BTreeMap<u64, (u64, u64)>, eval: &mut Evaluation) {
    let (records, dead) = counts.get(&rule.window_secs).copied().unwrap_or((0, 0));
    let rate = if records == 0 { 0.0 } else { dead as f64 / records as f64 };
    let mut f = Firing::new(rule, "ingest", "dead_letters", "dead_letters")
        .note("rate", format!("{rate:.4}"))
        .note("records", records.to_string())
        .note("dead_letters", dead.to_string());
    f.summary = format!(
        "{dead} of {records} records were dead letters in the last {} s ({:.2} %)",
        rule.window_secs,
        rate * 100.0
    );
    eval.verdict(f, rate > rule.threshold);
}

/// A change of an alert's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// A new firing.
    Fire(Firing),
    /// An active firing whose condition cleared (or whose rule is gone).
    Resolve(Firing),
}

impl Transition {
    pub fn firing(&self) -> &Firing {
        match self {
            Transition::Fire(f) | Transition::Resolve(f) => f,
        }
    }

    pub fn action(&self) -> Action {
        match self {
            Transition::Fire(_) => Action::Trigger,
            Transition::Resolve(_) => Action::Resolve,
        }
    }
}

/// What a notification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    Trigger,
    Resolve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Resolve => "resolve",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "trigger" => Some(Action::Trigger),
            "resolve" => Some(Action::Resolve),
            _ => None,
        }
    }
}

/// The transitions from the `active` firings to the evaluation.
pub fn diff(config: &AlertConfig, active: &[Firing], eval: &Evaluation) -> Vec<Transition> {
    let mut out = Vec::new();
    let active_keys: BTreeSet<&str> = active.iter().map(|f| f.key.as_str()).collect();
    for f in active {
        let rule_gone = config.rule(&f.rule).is_none_or(|r| r.kind != f.kind);
        let cleared = eval.evaluated.contains(&f.key) && !eval.firing.contains_key(&f.key);
        if rule_gone || cleared {
            out.push(Transition::Resolve(f.clone()));
        }
    }
    for (key, f) in &eval.firing {
        if !active_keys.contains(key.as_str()) {
            out.push(Transition::Fire(f.clone()));
        }
    }
    out
}

/// A notification to send: one transition (or a re-send) to one sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    /// Unique and stable across retries: receivers deduplicate by it.
    pub id: String,
    pub sink: String,
    pub action: Action,
    pub firing: Firing,
    /// When it was created, microseconds since the epoch.
    pub created_micros: i64,
}

impl Notification {
    /// A notification of `firing` to `sink`, created at `now`. The id is derived from all
    /// four, so it is the same wherever it is computed and differs for each new notification.
    pub fn new(sink: &str, action: Action, firing: &Firing, now: i64) -> Notification {
        let seed = format!("{sink}\n{}\n{}\n{now}", action.as_str(), firing.key);
        let hash = xxhash_rust::xxh3::xxh3_128(seed.as_bytes());
        Notification {
            id: format!("wm_{hash:032x}"),
            sink: sink.to_owned(),
            action,
            firing: firing.clone(),
            created_micros: now,
        }
    }
}

/// The notifications for some transitions: one per transition and sink of its rule (every
/// sink when the rule is gone).
pub fn notifications(
    config: &AlertConfig,
    transitions: &[Transition],
    now: i64,
) -> Vec<Notification> {
    let mut out = Vec::new();
    for t in transitions {
        let f = t.firing();
        let sinks: Vec<&AlertSink> = match config.rule(&f.rule) {
            Some(rule) => config.sinks_of(rule).collect(),
            None => config.sinks.iter().collect(),
        };
        for s in sinks {
            out.push(Notification::new(&s.name, t.action(), f, now));
        }
    }
    out
}

#[cfg(test)]
mod tests;
