//! The deliverer: due notifications from the outbox to their sinks over HTTP.
//!
//! 2xx is delivered. 429 and 5xx are retried, after `Retry-After` when the sink says so, else
//! after a jittered exponential delay (`retry_initial_ms × 2^attempts`, at most
//! `retry_max_secs`, times a random factor in [0.5, 1]); so are network errors and a secret
//! that cannot be read (the operator can fix it). Any other status is a permanent failure,
//! logged and kept in the outbox for `waymark alerts`. Every attempt is recorded.

use std::collections::HashMap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use waymark_core::alert::{AlertConfig, AlertSink, Notification, SecretRef, SinkKind};
use waymark_store::{AlertStore, Attempt, AttemptOutcome, OutboxRow};

use super::sinks::{self, Request};

/// Counts of one delivery pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
}

impl DeliveryReport {
    pub fn attempts(&self) -> usize {
        self.delivered + self.retried + self.failed
    }
}

/// The HTTP client and what it remembers between passes: when each sink last got a message
/// (Slack's rate) and until when a sink asked to be left alone (`Retry-After`).
pub struct Deliverer {
    agent: ureq::Agent,
    last_sent: HashMap<String, std::time::Instant>,
    rng: rand::rngs::SmallRng,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").finish_non_exhaustive()
    }
}

impl Default for Deliverer {
    fn default() -> Deliverer {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .user_agent(concat!("waymark/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Deliverer {
            agent,
            last_sent: HashMap::new(),
            rng: rand::rngs::SmallRng::seed_from_u64(seed()),
        }
    }
}

/// A seed for the jitter: it only has to differ between processes.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// How one HTTP exchange ended.
#[derive(Debug)]
struct Sent {
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: Option<String>,
}

/// Most notifications one pass takes.
const BATCH: usize = 500;

fn read_secret(secret: Option<&SecretRef>) -> Result<String, String> {
    match secret {
        None => Err("no secret configured".into()),
        Some(SecretRef::Env(name)) => {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
        }
        Some(SecretRef::File(path)) => std::fs::read_to_string(path)
            .map(|s| s.trim_end().to_owned())
            .map_err(|e| format!("cannot read secret file {path}: {e}")),
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(86_400)));
    }
    let ts = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let secs = (ts.as_second() - jiff::Timestamp::now().as_second()).clamp(0, 86_400);
    Some(Duration::from_secs(secs as u64))
}

impl Deliverer {
    /// One attempt for each notification due at the time `clock` gives, oldest first.
    pub fn deliver_due<S: AlertStore + ?Sized>(
        &mut self,
        config: &AlertConfig,
        store: &mut S,
        clock: fn() -> i64,
    ) -> anyhow::Result<DeliveryReport> {
        let mut report = DeliveryReport::default();
        let due = store.due_notifications(clock(), BATCH)?;
        let mut blocked: HashMap<String, i64> = HashMap::new();
        for row in due {
            let now = clock();
            if blocked.get(&row.notification.sink).is_some_and(|until| *until > now) {
                continue;
            }
            let attempt = match config.sink(&row.notification.sink) {
                Some(sink) => self.attempt(store, sink, &row, now)?,
                None => Attempt {
                    outcome: AttemptOutcome::Failed,
                    status: None,
                    error: Some(format!(
                        "no sink named `{}` in the configuration",
                        row.notification.sink
                    )),
                    at_micros: now,
                },
            };
            match &attempt.outcome {
                AttemptOutcome::Delivered => report.delivered += 1,
                AttemptOutcome::Retry { at_micros } => {
                    report.retried += 1;
                    // Other notifications to a sink that asked to wait wait too.
                    if attempt.status == Some(429) {
                        blocked.insert(row.notification.sink.clone(), *at_micros);
                    }
                }
                AttemptOutcome::Failed => {
                    report.failed += 1;
                    tracing::warn!(
                        notification = %row.notification.id,
                        sink = %row.notification.sink,
                        status = ?attempt.status,
                        error = attempt.error.as_deref().unwrap_or(""),
                        "notification not delivered (permanent)"
                    );
                }
            }
            store.record_attempt(row.row, &attempt)?;
        }
        Ok(report)
    }

    fn attempt<S: AlertStore + ?Sized>(
        &mut self,
        store: &S,
        sink: &AlertSink,
        row: &OutboxRow,
        now: i64,
    ) -> anyhow::Result<Attempt> {
        let n = &row.notification;
        let request = match self.request(store, sink, n, now)? {
            Ok(r) => r,
            Err(error) => {
                let at = now + self.backoff(sink, row.attempts, None);
                return Ok(self.verdict(
                    sink,
                    row,
                    Sent { status: None, retry_after: None, error: Some(error) },
                    at,
                    now,
                ));
            }
        };
        self.pace(sink);
        let sent = self.send(&request);
        self.last_sent.insert(sink.name.clone(), std::time::Instant::now());
        let at = now + self.backoff(sink, row.attempts, sent.retry_after);
        Ok(self.verdict(sink, row, sent, at, now))
    }

    /// The request, or why it cannot be made now (a secret that cannot be read).
    fn request<S: AlertStore + ?Sized>(
        &self,
        store: &S,
        sink: &AlertSink,
        n: &Notification,
        now: i64,
    ) -> anyhow::Result<Result<Request, String>> {
        Ok(match sink.kind {
            SinkKind::Alertmanager => {
                let labels = sinks::am_labels(&n.firing);
                let group: Vec<_> = store
                    .active_firings()?
                    .into_iter()
                    .filter(|f| sinks::am_labels(f) == labels)
                    .collect();
                Ok(sinks::alertmanager(sink, n, &group, now))
            }
            SinkKind::Slack => Ok(sinks::slack(sink, n)),
            SinkKind::Pagerduty => {
                read_secret(sink.secret.as_ref()).map(|key| sinks::pagerduty(sink, n, key.trim()))
            }
            SinkKind::Webhook => read_secret(sink.secret.as_ref())
                .and_then(|s| sinks::webhook_key(&s))
                .map(|key| sinks::webhook(sink, n, &key, now)),
        })
    }

    /// Waits until the sink's minimum interval since its last message has passed.
    fn pace(&self, sink: &AlertSink) {
        if sink.min_interval_ms == 0 {
            return;
        }
        if let Some(last) = self.last_sent.get(&sink.name) {
            let gap = Duration::from_millis(sink.min_interval_ms);
            if let Some(wait) = gap.checked_sub(last.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }

    fn send(&self, r: &Request) -> Sent {
        let mut req = self.agent.post(&r.url);
        for (k, v) in &r.headers {
            req = req.header(k, v);
        }
        match req.send(r.body.as_bytes()) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after);
                let error = (!(200..300).contains(&status)).then(|| {
                    let body = resp.body_mut().with_config().limit(2048).read_to_string();
                    let text: String = body.unwrap_or_default().chars().take(300).collect();
                    format!("HTTP {status}: {}", text.trim())
                });
                Sent { status: Some(status), retry_after, error }
            }
            Err(e) => Sent { status: None, retry_after: None, error: Some(e.to_string()) },
        }
    }

    /// The delay before the next attempt, in microseconds.
    fn backoff(&mut self, sink: &AlertSink, attempts: u32, retry_after: Option<Duration>) -> i64 {
        let base = sink.retry_initial_ms.saturating_mul(1u64 << attempts.min(30));
        let capped = base.min(sink.retry_max_secs.saturating_mul(1000));
        let jittered = (capped as f64 * self.rng.random_range(0.5..=1.0)) as i64;
        let asked = retry_after.map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64);
        jittered.max(asked).saturating_mul(1000)
    }

    fn verdict(
        &self,
        sink: &AlertSink,
        row: &OutboxRow,
        sent: Sent,
        retry_at: i64,
        now: i64,
    ) -> Attempt {
        let outcome = match sent.status {
            Some(s) if (200..300).contains(&s) => AttemptOutcome::Delivered,
            Some(s) if s == 429 || s >= 500 => AttemptOutcome::Retry { at_micros: retry_at },
            Some(_) => AttemptOutcome::Failed,
            None => AttemptOutcome::Retry { at_micros: retry_at },
        };
        let outcome = match outcome {
            AttemptOutcome::Retry { .. } if row.attempts + 1 >= sink.max_attempts => {
                AttemptOutcome::Failed
            }
            o => o,
        };
        Attempt { outcome, status: sent.status, error: sent.error, at_micros: now }
    }
}
