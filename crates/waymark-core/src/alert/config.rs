//! `[[expect.flow]]`, `[[expect.run]]`, `[[alert.rule]]` and `[[alert.sink]]`: the raw TOML
//! model and its validation into [`AlertConfig`], every error with its path and line.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::cron::Schedule;
use super::glob::Glob;
use super::{RuleKind, Severity};
use crate::config::Collector;

/// `[expect]`: what should happen, and by when.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSection {
    /// Flow shapes: which systems must reach which final checkpoints within what time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow: Vec<FlowExpectRaw>,
    /// Jobs expected on a schedule, and how long they may run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run: Vec<RunExpectRaw>,
}

/// `[[expect.flow]]`: a family of flows (correlation ids) and the steps each must reach.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowExpectRaw {
    /// The family's name; a user entry of a built-in's name replaces it.
    pub name: String,
    /// Glob (`*` any text) a correlation id must match to belong to the family (default `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Spanned<String>>,
    /// The steps: one per system.
    #[serde(default, rename = "step", skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<FlowStepRaw>,
}

/// `[[expect.flow.step]]`: one system of a flow shape.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowStepRaw {
    /// The `system_id` of the step's events.
    pub system: Spanned<String>,
    /// Checkpoint globs: a SUCCESS of one of them completes the step (e.g. `*_FINALIZED`).
    #[serde(rename = "final")]
    pub finals: Vec<Spanned<String>>,
    /// Seconds after the flow's first event by which the step must be complete.
    pub within_secs: u64,
    /// An optional step neither completes nor fails nor stalls the flow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// `[[expect.run]]`: a job (system type + name glob) expected on a schedule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunExpectRaw {
    pub name: String,
    /// The runs' system type (`INFA_SESSION`, `DBT`, ...).
    pub system_type: String,
    /// Glob on the job name: the session, else the workflow, else the folder (default `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Spanned<String>>,
    /// Cron schedule, 5 fields (`minute hour day-of-month month day-of-week`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Spanned<String>>,
    /// Zone of the schedule: an IANA name, `UTC` or a fixed offset (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Spanned<String>>,
    /// Instead of a schedule: a run must start at least every this many hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_hours: Option<Spanned<f64>>,
    /// How late after its scheduled time a run may start (default 900).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_secs: Option<u64>,
    /// A run RUNNING longer than this is stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_limit_secs: Option<u64>,
}

/// `[alert]`: rules, sinks and how they are run.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSection {
    /// Base URL of the dashboard; alerts link to it (`{dashboard_url}/trace/{correlation_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    /// Flows with an event this recent are evaluated (default 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_lookback_secs: Option<u64>,
    /// Runs that started this recently are evaluated (default 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_lookback_secs: Option<u64>,
    /// Seconds between two evaluations in `waymark serve` (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule: Vec<AlertRuleRaw>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sink: Vec<AlertSinkRaw>,
}

/// `[[alert.rule]]`: when to fire.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleRaw {
    /// The rule's name: the `alertname` label.
    pub name: String,
    /// `run_failed`, `run_stalled`, `run_missing`, `flow_failed`, `flow_stalled`,
    /// `source_lag` or `dead_letter_rate`.
    pub kind: Spanned<String>,
    /// `critical`, `warning` (default) or `info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Spanned<String>>,
    /// Only these expectations (`[[expect.run]]` or `[[expect.flow]]` names; default all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<Spanned<String>>,
    /// `run_failed`: only runs of this system type (default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_type: Option<String>,
    /// `source_lag`: seconds of event time a source may lag behind now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_secs: Option<u64>,
    /// `dead_letter_rate`: the fraction of records (0..1) over which it fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Spanned<f64>>,
    /// `dead_letter_rate`: the window, in seconds of ingestion time (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    /// The sinks it goes to (default all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<Spanned<String>>,
}

/// `[[alert.sink]]`: where notifications go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSinkRaw {
    pub name: String,
    /// `alertmanager`, `slack`, `pagerduty` or `webhook`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// Alertmanager's base URL, the Slack incoming-webhook URL, the PagerDuty events URL
    /// (default `https://events.pagerduty.com/v2/enqueue`) or the webhook's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Spanned<String>>,
    /// Environment variable holding the secret (webhook: `whsec_...`; PagerDuty: routing key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<Spanned<String>>,
    /// File holding the secret (trailing whitespace ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<Spanned<String>>,
    /// Alertmanager: active alerts are re-sent this often (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resend_secs: Option<u64>,
    /// First retry delay in milliseconds, doubled per attempt with jitter (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_initial_ms: Option<u64>,
    /// Longest retry delay in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_max_secs: Option<u64>,
    /// Attempts before a notification is given up as failed (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Slack: at least this many milliseconds between two messages (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval_ms: Option<u64>,
}

impl ExpectSection {
    pub(crate) fn merge(mut self, user: ExpectSection) -> ExpectSection {
        crate::config::merge_named(&mut self.flow, user.flow, |f| f.name.clone());
        crate::config::merge_named(&mut self.run, user.run, |r| r.name.clone());
        self
    }
}

impl AlertSection {
    pub(crate) fn merge(mut self, user: AlertSection) -> AlertSection {
        self.dashboard_url = user.dashboard_url.or(self.dashboard_url);
        self.flow_lookback_secs = user.flow_lookback_secs.or(self.flow_lookback_secs);
        self.run_lookback_secs = user.run_lookback_secs.or(self.run_lookback_secs);
        self.interval_secs = user.interval_secs.or(self.interval_secs);
        crate::config::merge_named(&mut self.rule, user.rule, |r| r.name.clone());
        crate::config::merge_named(&mut self.sink, user.sink, |s| s.name.clone());
        self
    }
}

/// A flow shape, validated.
#[derive(Debug, Clone)]
pub struct FlowExpect {
    pub name: String,
    pub correlation_id: Glob,
    pub steps: Vec<FlowStep>,
}

/// One step of a flow shape.
#[derive(Debug, Clone)]
pub struct FlowStep {
    pub system: String,
    pub finals: Vec<Glob>,
    pub within_micros: i64,
    pub optional: bool,
}

/// When a job is due.
#[derive(Debug, Clone)]
pub enum Cadence {
    Cron {
        schedule: Schedule,
        zone: jiff::tz::TimeZone,
    },
    Every {
        micros: i64,
    },
    /// No start expectation (only a running limit).
    None,
}

/// A run expectation, validated.
#[derive(Debug, Clone)]
pub struct RunExpect {
    pub name: String,
    pub system_type: String,
    pub job: Glob,
    pub cadence: Cadence,
    pub grace_micros: i64,
    pub running_limit_micros: Option<i64>,
}

/// A rule, validated.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    pub kind: RuleKind,
    pub severity: Severity,
    /// Expectation names it is limited to; empty = all.
    pub expect: Vec<String>,
    pub system_type: Option<String>,
    pub threshold_secs: u64,
    pub threshold: f64,
    pub window_secs: u64,
    /// Sink names; empty = all.
    pub sinks: Vec<String>,
}

/// The kind of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    Alertmanager,
    Slack,
    Pagerduty,
    Webhook,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Alertmanager => "alertmanager",
            SinkKind::Slack => "slack",
            SinkKind::Pagerduty => "pagerduty",
            SinkKind::Webhook => "webhook",
        }
    }
}

/// Where a sink's secret is read at delivery time (the core reads neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(String),
}

/// A sink, validated.
#[derive(Debug, Clone)]
pub struct AlertSink {
    pub name: String,
    pub kind: SinkKind,
    pub url: String,
    pub secret: Option<SecretRef>,
    pub resend_secs: u64,
    pub retry_initial_ms: u64,
    pub retry_max_secs: u64,
    pub max_attempts: u32,
    pub min_interval_ms: u64,
}

/// Expectations and alerting, validated.
#[derive(Debug, Clone, Default)]
pub struct AlertConfig {
    pub flows: Vec<FlowExpect>,
    pub runs: Vec<RunExpect>,
    pub rules: Vec<AlertRule>,
    pub sinks: Vec<AlertSink>,
    pub dashboard_url: Option<String>,
    pub flow_lookback_micros: i64,
    pub run_lookback_micros: i64,
}

const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

impl AlertConfig {
    /// Validates `[expect]` and `[alert]`, reporting every error to `c`.
    pub(crate) fn build(
        expect: &ExpectSection,
        alert: &AlertSection,
        c: &mut Collector<'_>,
    ) -> AlertConfig {
        let flows = expect.flow.iter().enumerate().map(|(i, f)| flow(i, f, c)).collect();
        let runs: Vec<RunExpect> =
            expect.run.iter().enumerate().filter_map(|(i, r)| run(i, r, c)).collect();
        let sinks: Vec<AlertSink> =
            alert.sink.iter().enumerate().filter_map(|(i, s)| sink(i, s, c)).collect();
        let names: Vec<&str> = expect
            .flow
            .iter()
            .map(|f| f.name.as_str())
            .chain(expect.run.iter().map(|r| r.name.as_str()))
            .collect();
        let sink_names: Vec<&str> = alert.sink.iter().map(|s| s.name.as_str()).collect();
        let rules = alert
            .rule
            .iter()
            .enumerate()
            .filter_map(|(i, r)| rule(i, r, &names, &sink_names, c))
            .collect();
        if let Some(url) = &alert.dashboard_url {
            if !is_http_url(url) {
                c.push("alert.dashboard_url", None, "must be an http:// or https:// URL");
            }
        }
        AlertConfig {
            flows,
            runs,
            rules,
            sinks,
            dashboard_url: alert.dashboard_url.as_ref().map(|u| u.trim_end_matches('/').to_owned()),
            flow_lookback_micros: secs(alert.flow_lookback_secs.unwrap_or(86_400)),
            run_lookback_micros: secs(alert.run_lookback_secs.unwrap_or(7 * 86_400)),
        }
    }

    /// The sinks a rule notifies.
    pub fn sinks_of<'a>(&'a self, rule: &'a AlertRule) -> impl Iterator<Item = &'a AlertSink> {
        self.sinks.iter().filter(|s| rule.sinks.is_empty() || rule.sinks.contains(&s.name))
    }

    pub fn rule(&self, name: &str) -> Option<&AlertRule> {
        self.rules.iter().find(|r| r.name == name)
    }

    pub fn sink(&self, name: &str) -> Option<&AlertSink> {
        self.sinks.iter().find(|s| s.name == name)
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 1_000_000).saturating_mul(1_000_000)
}

fn span<T>(s: &Spanned<T>) -> Option<std::ops::Range<usize>> {
    Some(s.span())
}

fn glob(value: Option<&Spanned<String>>, path: String, c: &mut Collector<'_>) -> Glob {
    match value {
        None => Glob::any(),
        Some(v) if v.get_ref().is_empty() => {
            c.push(path, span(v), "must not be empty");
            Glob::any()
        }
        Some(v) => Glob::new(v.get_ref()),
    }
}

fn flow(i: usize, f: &FlowExpectRaw, c: &mut Collector<'_>) -> FlowExpect {
    let path = format!("expect.flow[{i}]");
    let correlation_id = glob(f.correlation_id.as_ref(), format!("{path}.correlation_id"), c);
    if f.steps.is_empty() {
        c.push(format!("{path}.step"), None, format!("flow `{}` has no step", f.name));
    }
    if !f.steps.is_empty() && f.steps.iter().all(|s| s.optional) {
        c.push(format!("{path}.step"), None, "at least one step must not be optional");
    }
    let steps = f
        .steps
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let p = format!("{path}.step[{j}]");
            if s.system.get_ref().is_empty() {
                c.push(format!("{p}.system"), span(&s.system), "must not be empty");
            }
            if s.finals.is_empty() {
                c.push(format!("{p}.final"), span(&s.system), "needs at least one checkpoint");
            }
            if s.within_secs == 0 {
                c.push(format!("{p}.within_secs"), span(&s.system), "must be at least 1");
            }
            FlowStep {
                system: s.system.get_ref().clone(),
                finals: s.finals.iter().map(|g| Glob::new(g.get_ref())).collect(),
                within_micros: secs(s.within_secs),
                optional: s.optional,
            }
        })
        .collect();
    FlowExpect { name: f.name.clone(), correlation_id, steps }
}

fn run(i: usize, r: &RunExpectRaw, c: &mut Collector<'_>) -> Option<RunExpect> {
    let path = format!("expect.run[{i}]");
    let job = glob(r.job.as_ref(), format!("{path}.job"), c);
    let zone = match &r.timezone {
        None => jiff::tz::TimeZone::UTC,
        Some(z) => match crate::normalize::parse_zone(z.get_ref()) {
            Ok(zone) => zone,
            Err(e) => {
                c.push(format!("{path}.timezone"), span(z), e);
                return None;
            }
        },
    };
    let cadence = match (&r.schedule, &r.every_hours) {
        (Some(s), None) => match Schedule::parse(s.get_ref()) {
            Ok(schedule) => Cadence::Cron { schedule, zone },
            Err(e) => {
                c.push(format!("{path}.schedule"), span(s), e);
                return None;
            }
        },
        (None, Some(h)) if *h.get_ref() > 0.0 && h.get_ref().is_finite() => {
            Cadence::Every { micros: (*h.get_ref() * 3_600e6) as i64 }
        }
        (None, Some(h)) => {
            c.push(format!("{path}.every_hours"), span(h), "must be a positive number");
            return None;
        }
        (Some(s), Some(_)) => {
            c.push(
                format!("{path}.schedule"),
                span(s),
                "give `schedule` or `every_hours`, not both",
            );
            return None;
        }
        (None, None) if r.running_limit_secs.is_none() => {
            c.push(path, None, "needs `schedule`, `every_hours` or `running_limit_secs`");
            return None;
        }
        (None, None) => Cadence::None,
    };
    if r.system_type.is_empty() {
        c.push(format!("{path}.system_type"), None, "must not be empty");
    }
    Some(RunExpect {
        name: r.name.clone(),
        system_type: r.system_type.clone(),
        job,
        cadence,
        grace_micros: secs(r.grace_secs.unwrap_or(900)),
        running_limit_micros: r.running_limit_secs.map(secs),
    })
}

fn rule(
    i: usize,
    r: &AlertRuleRaw,
    expects: &[&str],
    sinks: &[&str],
    c: &mut Collector<'_>,
) -> Option<AlertRule> {
    let path = format!("alert.rule[{i}]");
    let Some(kind) = RuleKind::parse(r.kind.get_ref()) else {
        c.push(
            format!("{path}.kind"),
            span(&r.kind),
            format!(
                "unknown kind `{}`: expected one of {}",
                r.kind.get_ref(),
                RuleKind::ALL.map(RuleKind::as_str).join(", ")
            ),
        );
        return None;
    };
    let severity = match &r.severity {
        None => Severity::Warning,
        Some(s) => match Severity::parse(s.get_ref()) {
            Some(sev) => sev,
            None => {
                c.push(
                    format!("{path}.severity"),
                    span(s),
                    "expected `critical`, `warning` or `info`",
                );
                Severity::Warning
            }
        },
    };
    for (j, e) in r.expect.iter().enumerate() {
        if !expects.contains(&e.get_ref().as_str()) {
            let msg = format!("no [[expect.flow]] or [[expect.run]] is named `{}`", e.get_ref());
            c.push(format!("{path}.expect[{j}]"), span(e), msg);
        }
    }
    for (j, s) in r.sinks.iter().enumerate() {
        if !sinks.contains(&s.get_ref().as_str()) {
            let msg = format!("no [[alert.sink]] is named `{}`", s.get_ref());
            c.push(format!("{path}.sinks[{j}]"), span(s), msg);
        }
    }
    if kind == RuleKind::SourceLag && r.threshold_secs.is_none() {
        c.push(format!("{path}.threshold_secs"), span(&r.kind), "source_lag needs threshold_secs");
    }
    let threshold = r.threshold.as_ref().map(|t| *t.get_ref());
    if kind == RuleKind::DeadLetterRate {
        match (&r.threshold, threshold) {
            (None, _) => c.push(
                format!("{path}.threshold"),
                span(&r.kind),
                "dead_letter_rate needs threshold",
            ),
            (Some(t), Some(v)) if !(0.0..1.0).contains(&v) => {
                c.push(format!("{path}.threshold"), span(t), "must be in 0..1 (a fraction)")
            }
            _ => {}
        }
    }
    Some(AlertRule {
        name: r.name.clone(),
        kind,
        severity,
        expect: r.expect.iter().map(|e| e.get_ref().clone()).collect(),
        system_type: r.system_type.clone(),
        threshold_secs: r.threshold_secs.unwrap_or(0),
        threshold: threshold.unwrap_or(0.0),
        window_secs: r.window_secs.unwrap_or(3600).max(1),
        sinks: r.sinks.iter().map(|s| s.get_ref().clone()).collect(),
    })
}

fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

fn sink(i: usize, s: &AlertSinkRaw, c: &mut Collector<'_>) -> Option<AlertSink> {
    let path = format!("alert.sink[{i}]");
    let kind = match s.kind.get_ref().as_str() {
        "alertmanager" => SinkKind::Alertmanager,
        "slack" => SinkKind::Slack,
        "pagerduty" => SinkKind::Pagerduty,
        "webhook" => SinkKind::Webhook,
        other => {
            let msg = format!(
                "unknown sink type `{other}`: expected alertmanager, slack, pagerduty or webhook"
            );
            c.push(format!("{path}.type"), span(&s.kind), msg);
            return None;
        }
    };
    let url = match (&s.url, kind) {
        (None, SinkKind::Pagerduty) => PAGERDUTY_URL.to_owned(),
        (None, _) => {
            c.push(
                format!("{path}.url"),
                span(&s.kind),
                format!("a {} sink needs url", kind.as_str()),
            );
            return None;
        }
        (Some(u), _) if !is_http_url(u.get_ref()) => {
            c.push(format!("{path}.url"), span(u), "must be an http:// or https:// URL");
            return None;
        }
        (Some(u), _) => u.get_ref().clone(),
    };
    let secret = match (&s.secret_env, &s.secret_file) {
        (Some(e), None) => Some(SecretRef::Env(e.get_ref().clone())),
        (None, Some(f)) => Some(SecretRef::File(f.get_ref().clone())),
        (None, None) => None,
        (Some(e), Some(_)) => {
            c.push(
                format!("{path}.secret_env"),
                span(e),
                "give secret_env or secret_file, not both",
            );
            None
        }
    };
    if secret.is_none() && matches!(kind, SinkKind::Webhook | SinkKind::Pagerduty) {
        let what =
            if kind == SinkKind::Webhook { "signing secret (whsec_...)" } else { "routing key" };
        c.push(
            format!("{path}.secret_env"),
            span(&s.kind),
            format!("a {} sink needs its {what} in secret_env or secret_file", kind.as_str()),
        );
    }
    Some(AlertSink {
        name: s.name.clone(),
        kind,
        url,
        secret,
        resend_secs: s.resend_secs.unwrap_or(60).max(1),
        retry_initial_ms: s.retry_initial_ms.unwrap_or(1000).max(1),
        retry_max_secs: s.retry_max_secs.unwrap_or(300).max(1),
        max_attempts: s.max_attempts.unwrap_or(12).max(1),
        min_interval_ms: s.min_interval_ms.unwrap_or(if kind == SinkKind::Slack {
            1000
        } else {
            0
        }),
    })
}
