//! Alerts (issue 11): the evaluator (facts → firings → diff with the stored state → outbox, in
//! one transaction) and the deliverer (the outbox → HTTP, with jittered exponential retries).
//!
//! [`tick`] is one round of both, for `waymark alerts run --once`, a cron job, or a server's
//! timer; [`run`] repeats it until stopped. Delivery is at least once and ordered per firing
//! and sink; a notification keeps its id across retries and restarts, so a receiver that
//! deduplicates by id sees it once.

pub mod deliver;
pub mod sinks;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use waymark_core::alert::{self, Action, AlertConfig, Notification, SinkKind};
use waymark_store::alert::gather_facts;
use waymark_store::{AlertStore, AuditStore};

pub use deliver::{Deliverer, DeliveryReport};

/// What one evaluation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EvalReport {
    pub fired: usize,
    pub resolved: usize,
    /// Active alerts re-sent to Alertmanager (its alerts expire unless re-sent).
    pub resent: usize,
    pub active: usize,
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub eval: EvalReport,
    pub delivery: DeliveryReport,
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// Evaluates every rule at `now`, stores the transitions with their notifications in one
/// transaction, and enqueues re-sends of active alerts to Alertmanager sinks that are due.
pub fn evaluate<S: AlertStore + AuditStore + ?Sized>(
    config: &AlertConfig,
    store: &mut S,
    now: i64,
) -> anyhow::Result<EvalReport> {
    let active = store.active_firings().context("reading active alerts")?;
    let facts =
        gather_facts(store, config, &active, now).context("reading flows, runs and sources")?;
    let eval = alert::evaluate(config, &facts, now);
    let transitions = alert::diff(config, &active, &eval);
    let notes = alert::notifications(config, &transitions, now);
    store.record_transitions(&transitions, &notes, now).context("storing alert state")?;
    let mut report = EvalReport::default();
    for t in &transitions {
        match t {
            alert::Transition::Fire(f) => {
                report.fired += 1;
                tracing::info!(alert = %f.key, "firing: {}", f.summary);
            }
            alert::Transition::Resolve(f) => {
                report.resolved += 1;
                tracing::info!(alert = %f.key, "resolved");
            }
        }
    }
    let active = store.active_firings().context("reading active alerts")?;
    report.active = active.len();
    let mut resends = Vec::new();
    for f in &active {
        let Some(rule) = config.rule(&f.rule) else { continue };
        for sink in config.sinks_of(rule).filter(|s| s.kind == SinkKind::Alertmanager) {
            // While a notification is still pending (the receiver down), a re-send would
            // only queue behind it: the next one is made once it is through.
            if store.pending_for(&f.key, &sink.name)? {
                continue;
            }
            let every = i64::try_from(sink.resend_secs).unwrap_or(60) * 1_000_000;
            let last = store.last_notified(&f.key, &sink.name)?;
            if last.is_none_or(|l| now.saturating_sub(l) >= every) {
                resends.push(Notification::new(&sink.name, Action::Trigger, f, now));
            }
        }
    }
    report.resent = resends.len();
    if !resends.is_empty() {
        store.record_transitions(&[], &resends, now).context("storing re-sends")?;
    }
    Ok(report)
}

/// One round: evaluate at `now`, then one delivery attempt of every notification due.
/// This is what `waymark alerts run --once` does, and what a server calls on a timer.
pub fn tick<S: AlertStore + AuditStore + ?Sized>(
    config: &AlertConfig,
    store: &mut S,
    deliverer: &mut Deliverer,
    now: i64,
) -> anyhow::Result<TickReport> {
    let eval = evaluate(config, store, now)?;
    let delivery = deliverer.deliver_due(config, store, now_micros)?;
    Ok(TickReport { eval, delivery })
}

/// Ticks every `interval` until `stop` is set; an error of one tick is logged, not fatal
/// (the store may be busy, a sink down).
pub fn run<S: AlertStore + AuditStore + ?Sized>(
    config: &AlertConfig,
    store: &mut S,
    interval: Duration,
    stop: &AtomicBool,
) {
    let mut deliverer = Deliverer::default();
    while !stop.load(Ordering::Relaxed) {
        match tick(config, store, &mut deliverer, now_micros()) {
            Ok(r) if r.eval.fired + r.eval.resolved + r.delivery.attempts() > 0 => {
                tracing::info!(?r, "alerts tick");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "alerts tick failed"),
        }
        let until = std::time::Instant::now() + interval;
        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50).min(interval));
        }
    }
}

#[cfg(test)]
mod tests {
    use waymark_core::config::{Config, ConfigSource};
    use waymark_core::correlate::Change;
    use waymark_core::pipeline::Batch;
    use waymark_core::{Event, Origin, Status};
    use waymark_store::{AlertStore, Attempt, AttemptOutcome, EventStore, SqliteStore};

    const CONFIG: &str = r#"
[[expect.flow]]
name = "orders"
[[expect.flow.step]]
system = "fedebom"
final = ["FINALIZED"]
within_secs = 60

[[alert.rule]]
name = "FlowStalled"
kind = "flow_stalled"

[[alert.sink]]
name = "am"
type = "alertmanager"
url = "http://127.0.0.1:9/"
resend_secs = 1
"#;

    #[test]
    fn re_sends_wait_for_the_pending_notification_instead_of_piling_up() {
        let config =
            Config::load(Some(&ConfigSource { name: "t.toml", text: CONFIG })).expect("config");
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("w.db")).unwrap();
        let now = jiff::Timestamp::now().as_microsecond();
        let event = Event {
            system_id: "fedebom".into(),
            checkpoint_id: "RECEIVED".into(),
            status: Status::Success,
            correlation_id: "ord-1".into(),
            failure_reason: None,
            ts_micros: now - 600_000_000,
        };
        let src = store.source("file", "/a.log").unwrap();
        let mut batch = Batch::default();
        batch
            .changes
            .push(Change::Insert { origin: Origin { source: src.id, position: 0 }, event });
        store.commit(&batch).unwrap();
        // Alertmanager is down: nothing is delivered while ten seconds of evaluations pass.
        for s in 0..10 {
            let r = super::evaluate(&config.alert, &mut store, now + s * 1_000_000).unwrap();
            assert_eq!(r.active, 1);
        }
        let outbox = store.recent_notifications(100).unwrap();
        assert_eq!(outbox.len(), 1, "one pending trigger, no re-sends behind it: {outbox:?}");
        // Once it is through, re-sends resume at their interval.
        let done = Attempt {
            outcome: AttemptOutcome::Delivered,
            status: Some(200),
            error: None,
            at_micros: now + 10_000_000,
        };
        store.record_attempt(outbox[0].row, &done).unwrap();
        let r = super::evaluate(&config.alert, &mut store, now + 11_000_000).unwrap();
        assert_eq!(r.resent, 1);
        assert_eq!(store.recent_notifications(100).unwrap().len(), 2);
    }
}
