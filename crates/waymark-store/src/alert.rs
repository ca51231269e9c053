//! [`AlertStore`]: active firings, the notification outbox with its delivery attempts, and the
//! facts alert rules read (flows with recent events, source watermarks, dead-letter counts);
//! with the conformance suite every backend passes ([`alert_store_suite!`]).

use waymark_core::alert::{Facts, Firing, Notification, SourceLag, Transition};
use waymark_core::Event;

use crate::Result;

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Not delivered yet: due at `next_attempt_micros`.
    Pending,
    Delivered,
    /// Given up: a permanent error (a 4xx other than 429) or too many attempts.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        [OutboxState::Pending, OutboxState::Delivered, OutboxState::Failed]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A notification in the outbox and how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxRow {
    /// The row's id (delivery order).
    pub row: i64,
    pub notification: Notification,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_micros: i64,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// When it was delivered or given up (RFC 3339 UTC).
    pub done_at: Option<String>,
}

/// What `waymark alerts --json` and `GET /api/v1/alerts` answer: the active alerts, and the
/// latest notifications with how their delivery went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertsView {
    pub active: Vec<Firing>,
    pub deliveries: Vec<OutboxRow>,
}

/// The active alerts and the latest `limit` notifications.
pub fn alerts_view<S: AlertStore + ?Sized>(store: &S, limit: usize) -> Result<AlertsView> {
    Ok(AlertsView {
        active: store.active_firings()?,
        deliveries: store.recent_notifications(limit)?,
    })
}

/// The flows with an event at or after `now - lookback` judged against the `[[expect.flow]]`
/// shapes at `now`, oldest first; only those in `state` when given; the latest `limit` (0 = all).
/// What `waymark flows --state` and the dashboard's flow states list.
pub fn flow_states<S: AlertStore + ?Sized>(
    store: &S,
    shapes: &[waymark_core::alert::config::FlowExpect],
    now: i64,
    lookback: i64,
    state: Option<waymark_core::alert::FlowState>,
    limit: usize,
) -> Result<Vec<waymark_core::alert::FlowStatus>> {
    let flows = store.flows_since(now.saturating_sub(lookback))?;
    let mut listed: Vec<_> = flows
        .iter()
        .filter_map(|(cid, events)| waymark_core::alert::flow_status(shapes, cid, events, now))
        .filter(|s| state.is_none_or(|want| s.state == want))
        .collect();
    listed.sort_by(|a, b| {
        (a.first_micros, &a.correlation_id).cmp(&(b.first_micros, &b.correlation_id))
    });
    if limit > 0 && listed.len() > limit {
        listed.drain(..listed.len() - limit);
    }
    Ok(listed)
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time (microseconds since the epoch).
    Retry {
        at_micros: i64,
    },
    /// Give up.
    Failed,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub outcome: AttemptOutcome,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// When it was made, microseconds since the epoch.
    pub at_micros: i64,
}

/// Alert state, the outbox, and what rules read.
pub trait AlertStore {
    /// The firings that are active.
    fn active_firings(&self) -> Result<Vec<Firing>>;

    /// Applies transitions (a firing becomes active, or resolved) and enqueues notifications,
    /// in one transaction: a notification exists if and only if its state change does.
    fn record_transitions(
        &mut self,
        transitions: &[Transition],
        notifications: &[Notification],
        now_micros: i64,
    ) -> Result<()>;

    /// When the latest notification of a firing to a sink was created.
    fn last_notified(&self, firing_key: &str, sink: &str) -> Result<Option<i64>>;

    /// Whether a notification of a firing to a sink is still pending (not yet delivered nor
    /// given up): a re-send then waits for it rather than queueing behind it.
    fn pending_for(&self, firing_key: &str, sink: &str) -> Result<bool>;

    /// Pending notifications due at `now`, oldest first; one that waits behind an earlier
    /// pending notification of the same firing and sink is not due (order is kept).
    fn due_notifications(&self, now_micros: i64, limit: usize) -> Result<Vec<OutboxRow>>;

    /// Records an attempt and its outcome.
    fn record_attempt(&mut self, row: i64, attempt: &Attempt) -> Result<()>;

    /// The latest notifications, newest first.
    fn recent_notifications(&self, limit: usize) -> Result<Vec<OutboxRow>>;

    /// Flows with an event at or after `since` (event time): each correlation id with all its
    /// events, in time order.
    fn flows_since(&self, since_micros: i64) -> Result<Vec<(String, Vec<Event>)>>;

    /// The events of one flow (all of them), in time order.
    fn flow_events(&self, correlation_id: &str) -> Result<Vec<Event>>;

    /// Active sources that have not ended, with their event-time watermark.
    fn source_lags(&self) -> Result<Vec<SourceLag>>;

    /// (records, dead letters) of the batches committed at or after `since`.
    fn ingest_counts_since(&self, since_micros: i64) -> Result<(u64, u64)>;
}

/// Gathers the facts the rules of `config` read at `now`; flows of active firings that fell out
/// of the lookback window are read whole, so that they can still resolve.
pub fn gather_facts<S: AlertStore + crate::AuditStore + ?Sized>(
    store: &S,
    config: &waymark_core::alert::AlertConfig,
    active: &[Firing],
    now: i64,
) -> Result<Facts> {
    use waymark_core::alert::RuleKind;
    let kinds: Vec<RuleKind> = config.rules.iter().map(|r| r.kind).collect();
    let mut facts = Facts::default();
    if kinds.iter().any(|k| matches!(k, RuleKind::FlowFailed | RuleKind::FlowStalled)) {
        facts.flows = store.flows_since(now.saturating_sub(config.flow_lookback_micros))?;
        let seen: std::collections::BTreeSet<String> =
            facts.flows.iter().map(|(c, _)| c.clone()).collect();
        for f in
            active.iter().filter(|f| matches!(f.kind, RuleKind::FlowFailed | RuleKind::FlowStalled))
        {
            if !seen.contains(&f.subject) {
                let events = store.flow_events(&f.subject)?;
                facts.flows.push((f.subject.clone(), events));
            }
        }
    }
    if kinds.iter().any(|k| k.as_str().starts_with("run_")) {
        let filter = waymark_core::audit::RunFilter {
            since: Some(now.saturating_sub(config.run_lookback_micros)),
            ..Default::default()
        };
        facts.runs = store.runs(&filter)?;
    }
    if kinds.contains(&RuleKind::SourceLag) {
        facts.sources = store.source_lags()?;
    }
    for r in config.rules.iter().filter(|r| r.kind == RuleKind::DeadLetterRate) {
        let window = i64::try_from(r.window_secs).unwrap_or(i64::MAX / 1_000_000) * 1_000_000;
        let counts = store.ingest_counts_since(now.saturating_sub(window))?;
        facts.dead_letters.insert(r.window_secs, counts);
    }
    Ok(facts)
}

/// Instantiates the suite for a backend, given an expression that makes an empty store
/// (implementing [`AlertStore`] and [`EventStore`](crate::EventStore)).
#[macro_export]
macro_rules! alert_store_suite {
    ($make:expr) => {
        mod alert_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::alert_store_suite!(@tests $make;
                transitions_and_their_notifications_commit_together,
                a_notification_id_is_stored_once,
                due_notifications_keep_order_per_firing_and_sink,
                attempts_record_their_outcome,
                flows_since_return_whole_flows_in_time_order,
                source_lags_and_ingest_counts,
            );
        }
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let mut store = $make;
                $crate::alert::suite::$name(&mut store);
            }
        )*
    };
}

/// The checks, one plain function each (compiled for tests only).
#[cfg(test)]
pub(crate) mod suite {
    use std::collections::BTreeMap;

    use waymark_core::alert::{Action, Firing, Notification, RuleKind, Severity, Transition};
    use waymark_core::correlate::Change;
    use waymark_core::pipeline::Batch;
    use waymark_core::{Event, Origin, Status};

    use super::{AlertStore, Attempt, AttemptOutcome, OutboxState};
    use crate::EventStore;

    const T: i64 = 1_767_225_600_000_000;

    fn firing(subject: &str) -> Firing {
        Firing {
            key: format!("R|sys|{subject}"),
            rule: "R".into(),
            kind: RuleKind::FlowStalled,
            severity: Severity::Critical,
            system: "sys".into(),
            job: "fam".into(),
            subject: subject.into(),
            summary: "it's \"stalled\"; DROP TABLE x; --".into(),
            annotations: BTreeMap::from([("correlation_id".into(), subject.into())]),
            since_micros: T,
        }
    }

    fn keys(s: &dyn AlertStore) -> Vec<String> {
        s.active_firings().unwrap().into_iter().map(|f| f.key).collect()
    }

    pub(crate) fn transitions_and_their_notifications_commit_together<S: AlertStore>(s: &mut S) {
        let f = firing("c1");
        let fire = Transition::Fire(f.clone());
        let n1 = Notification::new("am", Action::Trigger, &f, T);
        s.record_transitions(std::slice::from_ref(&fire), std::slice::from_ref(&n1), T).unwrap();
        assert_eq!(s.active_firings().unwrap(), std::slice::from_ref(&f), "read back whole");
        let due = s.due_notifications(T, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].notification, n1);
        assert_eq!((due[0].state, due[0].attempts), (OutboxState::Pending, 0));
        assert!(s.due_notifications(T - 1, 10).unwrap().is_empty(), "not due before it was made");
        let n2 = Notification::new("am", Action::Resolve, &f, T + 5);
        s.record_transitions(&[Transition::Resolve(f.clone())], &[n2], T + 5).unwrap();
        assert!(keys(s).is_empty());
        assert_eq!(s.last_notified(&f.key, "am").unwrap(), Some(T + 5));
        assert_eq!(s.last_notified(&f.key, "other").unwrap(), None);
        // Fires again later: active again.
        s.record_transitions(&[fire], &[], T + 9).unwrap();
        assert_eq!(keys(s), [f.key]);
        let recent = s.recent_notifications(10).unwrap();
        let actions: Vec<Action> = recent.iter().map(|r| r.notification.action).collect();
        assert_eq!(actions, [Action::Resolve, Action::Trigger], "newest first");
    }

    pub(crate) fn a_notification_id_is_stored_once<S: AlertStore>(s: &mut S) {
        let f = firing("c1");
        let n = Notification::new("am", Action::Trigger, &f, T);
        s.record_transitions(&[], std::slice::from_ref(&n), T).unwrap();
        s.record_transitions(&[], std::slice::from_ref(&n), T).unwrap();
        assert_eq!(s.recent_notifications(10).unwrap().len(), 1);
    }

    pub(crate) fn due_notifications_keep_order_per_firing_and_sink<S: AlertStore>(s: &mut S) {
        let (a, b) = (firing("a"), firing("b"));
        let notes = [
            Notification::new("am", Action::Trigger, &a, T),
            Notification::new("hook", Action::Trigger, &a, T),
            Notification::new("am", Action::Trigger, &b, T),
            Notification::new("am", Action::Resolve, &a, T + 1),
        ];
        s.record_transitions(&[], &notes, T).unwrap();
        let ids = |s: &S, now| -> Vec<String> {
            s.due_notifications(now, 10).unwrap().into_iter().map(|r| r.notification.id).collect()
        };
        let id = |i: usize| notes[i].id.clone();
        assert_eq!(ids(s, T + 1), [id(0), id(1), id(2)], "the resolve waits");
        assert!(s.pending_for(&a.key, "am").unwrap() && s.pending_for(&a.key, "hook").unwrap());
        assert!(!s.pending_for(&a.key, "other").unwrap());
        let first = s.due_notifications(T + 1, 1).unwrap().remove(0);
        let retry = Attempt {
            outcome: AttemptOutcome::Retry { at_micros: T + 100 },
            status: Some(503),
            error: Some("unavailable".into()),
            at_micros: T + 1,
        };
        s.record_attempt(first.row, &retry).unwrap();
        assert_eq!(ids(s, T + 2), [id(1), id(2)], "waits behind its retry");
        assert_eq!(ids(s, T + 100), [id(0), id(1), id(2)]);
        let done = Attempt {
            outcome: AttemptOutcome::Delivered,
            status: Some(200),
            error: None,
            at_micros: T + 100,
        };
        s.record_attempt(first.row, &done).unwrap();
        assert_eq!(ids(s, T + 100), [id(1), id(2), id(3)]);
        let hook = s.due_notifications(T + 100, 10).unwrap().remove(0);
        assert_eq!(hook.notification.id, id(1));
        s.record_attempt(hook.row, &done).unwrap();
        assert!(!s.pending_for(&a.key, "hook").unwrap(), "delivered: nothing pending");
        assert!(s.pending_for(&a.key, "am").unwrap(), "the resolve is still pending");
    }

    pub(crate) fn attempts_record_their_outcome<S: AlertStore>(s: &mut S) {
        let f = firing("c1");
        let notes = [
            Notification::new("am", Action::Trigger, &f, T),
            Notification::new("hook", Action::Trigger, &f, T),
        ];
        s.record_transitions(&[], &notes, T).unwrap();
        let due = s.due_notifications(T, 10).unwrap();
        let fail = Attempt {
            outcome: AttemptOutcome::Failed,
            status: Some(404),
            error: Some("not found".into()),
            at_micros: T + 1_000_000,
        };
        s.record_attempt(due[1].row, &fail).unwrap();
        let retry = Attempt {
            outcome: AttemptOutcome::Retry { at_micros: T + 9 },
            status: None,
            error: Some("connection refused".into()),
            at_micros: T,
        };
        s.record_attempt(due[0].row, &retry).unwrap();
        let recent = s.recent_notifications(10).unwrap();
        let failed = recent.iter().find(|r| r.notification.sink == "hook").unwrap();
        assert_eq!(failed.state, OutboxState::Failed);
        assert_eq!((failed.attempts, failed.last_status), (1, Some(404)));
        assert_eq!(failed.done_at.as_deref(), Some("2026-01-01T00:00:01Z"));
        let pending = recent.iter().find(|r| r.notification.sink == "am").unwrap();
        assert_eq!(
            (pending.state, pending.attempts, pending.next_attempt_micros),
            (OutboxState::Pending, 1, T + 9)
        );
        assert_eq!(pending.last_error.as_deref(), Some("connection refused"));
        assert!(s
            .due_notifications(T + 100, 10)
            .unwrap()
            .iter()
            .all(|r| r.notification.sink == "am"));
    }

    fn event(cid: &str, cp: &str, secs: i64, status: Status) -> Event {
        Event {
            system_id: "fedebom".into(),
            checkpoint_id: cp.into(),
            ts_micros: T + secs * 1_000_000,
            status,
            correlation_id: cid.into(),
            failure_reason: None,
        }
    }

    pub(crate) fn flows_since_return_whole_flows_in_time_order<S: AlertStore + EventStore>(
        s: &mut S,
    ) {
        let src = s.source("file", "/f.log").unwrap().id;
        let mut batch = Batch::default();
        let events = [
            event("old", "A", 0, Status::Success),
            event("new", "B", 200, Status::Failure),
            event("new", "A", 10, Status::Success),
            event("old2", "A", 5, Status::Success),
            event("new2", "A", 300, Status::Success),
        ];
        for (i, e) in events.into_iter().enumerate() {
            batch.changes.push(Change::Insert {
                origin: Origin { source: src, position: i as u64 },
                event: e,
            });
        }
        s.commit(&batch).unwrap();
        let flows = s.flows_since(T + 100 * 1_000_000).unwrap();
        let got: Vec<(String, Vec<String>)> = flows
            .iter()
            .map(|(c, ev)| (c.clone(), ev.iter().map(|e| e.checkpoint_id.clone()).collect()))
            .collect();
        assert_eq!(
            got,
            [("new".into(), vec!["A".into(), "B".into()]), ("new2".into(), vec!["A".into()])]
        );
        assert_eq!(s.flow_events("old").unwrap().len(), 1);
        assert!(s.flow_events("none").unwrap().is_empty());
    }

    pub(crate) fn source_lags_and_ingest_counts<S: AlertStore + EventStore>(s: &mut S) {
        let a = s.source("kafka", "t/0").unwrap().id;
        let b = s.source("file", "/b.log").unwrap().id;
        let mut batch = Batch::default();
        batch.changes.push(Change::Insert {
            origin: Origin { source: a, position: 0 },
            event: event("x", "A", 7, Status::Success),
        });
        batch.set_watermark(a, T + 7_000_000);
        batch.counts.records = 10;
        batch.counts.events = 8;
        batch.counts.rejected = 2;
        s.commit(&batch).unwrap();
        s.retire_source(b).unwrap();
        let lags = s.source_lags().unwrap();
        assert_eq!(lags.len(), 1, "{lags:?}");
        assert_eq!((lags[0].name.as_str(), lags[0].watermark_micros), ("t/0", Some(T + 7_000_000)));
        assert_eq!(s.ingest_counts_since(0).unwrap(), (10, 2));
        assert_eq!(s.ingest_counts_since(i64::MAX / 2).unwrap(), (0, 0));
    }
}
