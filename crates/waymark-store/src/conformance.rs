//! The conformance suite every [`EventStore`] backend passes.
//!
//! Each check is a plain function over `&mut dyn EventStore`; [`event_store_suite!`] turns them
//! into `#[test]`s for one backend, given an expression that makes an empty store.

use waymark_core::correlate::{Change, Pending, PendingKind};
use waymark_core::parse::{Reject, RejectKind};
use waymark_core::pipeline::{Batch, DeadLetter};
use waymark_core::{Event, Origin, Status};

use crate::{EventStore, FailureFilter};

/// Instantiates the suite for a backend.
#[macro_export]
macro_rules! event_store_suite {
    ($make:expr) => {
        mod event_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::event_store_suite!(@tests $make;
                sources_are_created_once,
                batch_rows_and_positions_commit_together,
                replaying_a_batch_stores_nothing_twice,
                trace_is_in_time_order_and_exact,
                failures_filter_by_system_and_time,
                join_state_survives_and_orphans_are_queryable,
                joins_made_within_one_batch_store_what_their_changes_say,
                dead_letters_keep_raw_bytes_and_reason,
                positions_past_two_to_the_forty_never_collide,
                orphans_that_meet_their_partner_are_joined,
                renaming_a_source_keeps_its_position_and_retires_the_old_holder,
            );
        }
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let mut store = $make;
                $crate::conformance::$name(&mut store);
            }
        )*
    };
}

fn event(
    cid: &str,
    system: &str,
    cp: &str,
    secs: i64,
    status: Status,
    reason: Option<&str>,
) -> Event {
    let ts_micros = 1_746_354_600_000_000 + secs * 1_000_000;
    Event {
        system_id: system.into(),
        checkpoint_id: cp.into(),
        ts_micros,
        status,
        correlation_id: cid.into(),
        failure_reason: reason.map(Into::into),
    }
}

fn insert(batch: &mut Batch, source: u32, pos: u64, e: Event) {
    batch.changes.push(Change::Insert { origin: Origin { source, position: pos }, event: e });
}

pub fn sources_are_created_once(s: &mut dyn EventStore) {
    let a = s.source("file", "/logs/a.log").unwrap();
    let b = s.source("file", "/logs/b.log").unwrap();
    let a2 = s.source("file", "/logs/a.log").unwrap();
    assert_eq!(a.id, a2.id);
    assert_ne!(a.id, b.id);
    assert_eq!(a.position, 0);
    let mut batch = Batch::default();
    batch.set_position(a.id, 10, Some("fp".into()));
    s.commit(&batch).unwrap();
    let a3 = s.source("file", "/logs/a.log").unwrap();
    assert_eq!((a3.id, a3.position, a3.identity.as_deref()), (a.id, 10, Some("fp")));
    s.retire_source(a.id).unwrap();
    let a4 = s.source("file", "/logs/a.log").unwrap();
    assert_ne!(a4.id, a.id);
    assert_eq!(a4.position, 0);
    assert_eq!(s.sources().unwrap().len(), 3);
}

pub fn batch_rows_and_positions_commit_together(s: &mut dyn EventStore) {
    let src = s.source("file", "/x").unwrap().id;
    let mut b = Batch::default();
    insert(&mut b, src, 0, event("c1", "bcis", "A", 0, Status::Success, None));
    b.set_position(src, 64, Some("id-64".into()));
    b.set_watermark(src, 42);
    s.commit(&b).unwrap();
    let row = s.source("file", "/x").unwrap();
    assert_eq!((row.position, row.identity.as_deref()), (64, Some("id-64")));
    assert_eq!(s.stats().unwrap().events, 1);
    assert_eq!(s.join_state().unwrap().1, vec![(src, 42)]);
}

pub fn replaying_a_batch_stores_nothing_twice(s: &mut dyn EventStore) {
    let src = s.source("kafka", "raw-logs/0").unwrap().id;
    let mut b = Batch::default();
    insert(&mut b, src, 7, event("c1", "bcis", "A", 0, Status::Success, None));
    b.dead_letters.push(DeadLetter {
        origin: Origin { source: src, position: 8 },
        raw: b"x".to_vec(),
        raw_len: 1,
        reason: Reject::new(RejectKind::UnknownSystem, "no"),
    });
    s.commit(&b).unwrap();
    s.commit(&b).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.events, st.dead_letters), (1, 1));
}

pub fn trace_is_in_time_order_and_exact(s: &mut dyn EventStore) {
    let src = s.source("file", "/x").unwrap().id;
    let mut b = Batch::default();
    insert(&mut b, src, 0, event("flow-1", "cmf", "B", 5, Status::Success, None));
    insert(&mut b, src, 1, event("flow-1", "fedebom", "A", 1, Status::Failure, Some("why")));
    insert(&mut b, src, 2, event("flow-10", "fedebom", "A", 2, Status::Success, None));
    s.commit(&b).unwrap();
    let t = s.trace("flow-1").unwrap();
    let cps: Vec<&str> = t.iter().map(|r| r.event.checkpoint_id.as_str()).collect();
    assert_eq!(cps, ["A", "B"]);
    assert_eq!(t[0].event.failure_reason.as_deref(), Some("why"));
    assert_eq!((t[0].source.as_str(), t[0].position), ("/x", 1));
    assert!(s.trace("flow-").unwrap().is_empty());
}

pub fn failures_filter_by_system_and_time(s: &mut dyn EventStore) {
    let src = s.source("file", "/x").unwrap().id;
    let mut b = Batch::default();
    insert(&mut b, src, 0, event("a", "cmf", "B", 10, Status::Failure, Some("r1")));
    insert(&mut b, src, 1, event("b", "bcis", "B", 20, Status::Failure, Some("r2")));
    insert(&mut b, src, 2, event("c", "bcis", "B", 30, Status::Success, None));
    insert(&mut b, src, 3, event("d", "bcis", "B", 40, Status::Failure, None));
    s.commit(&b).unwrap();
    let all = s.failures(&FailureFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|r| r.event.correlation_id.as_str()).collect::<Vec<_>>(),
        ["a", "b", "d"]
    );
    let bcis =
        s.failures(&FailureFilter { system: Some("bcis".into()), ..Default::default() }).unwrap();
    assert_eq!(bcis.len(), 2);
    let t0 = 1_746_354_600_000_000;
    let window = FailureFilter {
        since: Some(t0 + 15_000_000),
        until: Some(t0 + 40_000_000),
        ..Default::default()
    };
    let w = s.failures(&window).unwrap();
    assert_eq!(w.iter().map(|r| r.event.correlation_id.as_str()).collect::<Vec<_>>(), ["b"]);
    let one = s.failures(&FailureFilter { limit: 1, ..Default::default() }).unwrap();
    assert_eq!(one.len(), 1);
}

pub fn join_state_survives_and_orphans_are_queryable(s: &mut dyn EventStore) {
    let src = s.source("file", "/x").unwrap().id;
    let o = |pos| Origin { source: src, position: pos };
    let failure = Pending {
        key: o(0),
        kind: PendingKind::Failure,
        system_id: "fedebom".into(),
        correlation_id: "a".into(),
        ts_micros: 5,
        reason: None,
    };
    let reason = Pending {
        key: o(1),
        kind: PendingKind::Reason,
        system_id: "cmf".into(),
        correlation_id: "b".into(),
        ts_micros: 6,
        reason: Some("R".into()),
    };
    let mut b = Batch::default();
    insert(&mut b, src, 0, event("a", "fedebom", "C1", 0, Status::Failure, None));
    b.changes.push(Change::Wait(failure.clone()));
    b.changes.push(Change::Wait(reason.clone()));
    s.commit(&b).unwrap();
    assert_eq!(s.join_state().unwrap().0, vec![failure.clone(), reason.clone()]);
    assert_eq!(s.pending_of_source(src).unwrap(), vec![failure.clone(), reason]);
    assert!(s.pending_of_source(src + 1).unwrap().is_empty());
    let mut b = Batch::default();
    let late = Pending {
        key: o(2),
        kind: PendingKind::Reason,
        system_id: "fedebom".into(),
        correlation_id: "a".into(),
        ts_micros: 7,
        reason: Some("late".into()),
    };
    b.changes.push(Change::Joined { key: o(0), by: late });
    b.changes.push(Change::Attach { event: o(0), reason: "late".into() });
    b.changes.push(Change::Orphaned { key: o(1) });
    s.commit(&b).unwrap();
    assert!(s.join_state().unwrap().0.is_empty());
    assert_eq!(s.trace("a").unwrap()[0].event.failure_reason.as_deref(), Some("late"));
    let orphans = s.orphans(0).unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(
        (orphans[0].kind, orphans[0].reason.as_deref(), orphans[0].orphan),
        (PendingKind::Reason, Some("R"), true)
    );
    assert_eq!(orphans[0].position, 1);
    let st = s.stats().unwrap();
    assert_eq!((st.waiting, st.orphans, st.failures_without_reason), (0, 1, 0));
}

/// Halves that wait and are joined within one batch (which a store may write without the
/// round trip through `join_pending`) end as the changes say, also when the batch is a replay
/// that meets rows an earlier commit left.
pub fn joins_made_within_one_batch_store_what_their_changes_say(s: &mut dyn EventStore) {
    let src = s.source("file", "/x").unwrap().id;
    let o = |pos| Origin { source: src, position: pos };
    let half = |pos, kind, cid: &str, reason: Option<&str>| Pending {
        key: o(pos),
        kind,
        system_id: "fedebom".into(),
        correlation_id: cid.into(),
        ts_micros: 5,
        reason: reason.map(Into::into),
    };
    // A failure read first, its reason later in the batch; a reason read first, its failure
    // later; and a failure still waiting at the end.
    let mut b = Batch::default();
    insert(&mut b, src, 0, event("a", "fedebom", "C1", 0, Status::Failure, None));
    b.changes.push(Change::Wait(half(0, PendingKind::Failure, "a", None)));
    b.changes.push(Change::Wait(half(1, PendingKind::Reason, "b", Some("why b"))));
    b.changes
        .push(Change::Joined { key: o(0), by: half(2, PendingKind::Reason, "a", Some("why a")) });
    b.changes.push(Change::Attach { event: o(0), reason: "why a".into() });
    b.changes.push(Change::Joined { key: o(1), by: half(3, PendingKind::Failure, "b", None) });
    insert(&mut b, src, 3, event("b", "fedebom", "C1", 1, Status::Failure, Some("why b")));
    insert(&mut b, src, 4, event("c", "fedebom", "C1", 2, Status::Failure, None));
    b.changes.push(Change::Wait(half(4, PendingKind::Failure, "c", None)));
    b.set_position(src, 5, None);
    s.commit(&b).unwrap();
    let check = |s: &mut dyn EventStore| {
        let reason = |cid| s.trace(cid).unwrap()[0].event.failure_reason.clone();
        assert_eq!(reason("a").as_deref(), Some("why a"));
        assert_eq!(reason("b").as_deref(), Some("why b"));
        assert_eq!(reason("c"), None);
        assert_eq!(s.join_state().unwrap().0, vec![half(4, PendingKind::Failure, "c", None)]);
        let st = s.stats().unwrap();
        assert_eq!((st.events, st.waiting, st.failures_without_reason), (3, 1, 1));
    };
    check(s);
    s.commit(&b).unwrap();
    check(s);

    // A replay cut otherwise: the first commit stored failure `d` waiting; the batch read again
    // holds its insert, its wait and its join.
    let mut first = Batch::default();
    insert(&mut first, src, 5, event("d", "fedebom", "C1", 3, Status::Failure, None));
    first.changes.push(Change::Wait(half(5, PendingKind::Failure, "d", None)));
    s.commit(&first).unwrap();
    let mut again = Batch::default();
    insert(&mut again, src, 5, event("d", "fedebom", "C1", 3, Status::Failure, None));
    again.changes.push(Change::Wait(half(5, PendingKind::Failure, "d", None)));
    again
        .changes
        .push(Change::Joined { key: o(5), by: half(6, PendingKind::Reason, "d", Some("why d")) });
    again.changes.push(Change::Attach { event: o(5), reason: "why d".into() });
    s.commit(&again).unwrap();
    assert_eq!(s.trace("d").unwrap()[0].event.failure_reason.as_deref(), Some("why d"));
    assert_eq!(s.join_state().unwrap().0, vec![half(4, PendingKind::Failure, "c", None)]);
    let st = s.stats().unwrap();
    assert_eq!((st.events, st.waiting, st.failures_without_reason), (4, 1, 1));
}

pub fn dead_letters_keep_raw_bytes_and_reason(s: &mut dyn EventStore) {
    let src = s.source("stdin", "-").unwrap().id;
    let mut b = Batch::default();
    b.dead_letters.push(DeadLetter {
        origin: Origin { source: src, position: 99 },
        raw: b"\xff\x00bad".to_vec(),
        raw_len: 5,
        reason: Reject::new(RejectKind::NulByte, "NUL byte at offset 1"),
    });
    s.commit(&b).unwrap();
    let d = s.dead_letters(10).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].source.as_str(), d[0].position, d[0].kind.as_str()), ("-", 99, "nul_byte"));
    assert_eq!(d[0].raw, b"\xff\x00bad");
    assert_eq!(d[0].reason, "NUL byte at offset 1");
}

/// Positions are 63-bit: a record at 2^40 (where the old packed key wrapped to 0) and one at
/// the largest position are both stored, and neither collides with position 0.
pub fn positions_past_two_to_the_forty_never_collide(s: &mut dyn EventStore) {
    let src = s.source("kafka", "raw-logs/0").unwrap();
    let positions = [0u64, 1 << 40, (1 << 40) + 1, 1 << 62, i64::MAX as u64];
    let mut batch = Batch::default();
    for (i, pos) in positions.iter().enumerate() {
        let e = event("big-offsets", "cmf", &format!("CP_{i}"), i as i64, Status::Success, None);
        insert(&mut batch, src.id, *pos, e);
    }
    batch.set_position(src.id, i64::MAX as u64, None);
    s.commit(&batch).unwrap();
    s.commit(&batch).unwrap();
    let rows = s.trace("big-offsets").unwrap();
    let got: Vec<u64> = rows.iter().map(|r| r.position).collect();
    assert_eq!(got, positions, "every position stored once, unchanged");
    assert_eq!(s.source("kafka", "raw-logs/0").unwrap().position, i64::MAX as u64);
}

/// A failure and its reason that each outlived the time-to-live on their own (for instance
/// the reason's source ended first) are joined when the second becomes an orphan.
pub fn orphans_that_meet_their_partner_are_joined(s: &mut dyn EventStore) {
    let a = s.source("file", "/a.log").unwrap();
    let b = s.source("file", "/b.log").unwrap();
    let o = |source: u32, position: u64| Origin { source, position };
    let mut first = Batch::default();
    first.changes.push(Change::Wait(Pending {
        key: o(b.id, 7),
        kind: PendingKind::Reason,
        system_id: "cmf".into(),
        correlation_id: "late".into(),
        ts_micros: 5,
        reason: Some("disk full".into()),
    }));
    first.changes.push(Change::Orphaned { key: o(b.id, 7) });
    s.commit(&first).unwrap();
    assert_eq!(s.orphans(0).unwrap().len(), 1);
    let mut second = Batch::default();
    insert(&mut second, a.id, 3, event("late", "cmf", "CP", 10, Status::Failure, None));
    second.changes.push(Change::Wait(Pending {
        key: o(a.id, 3),
        kind: PendingKind::Failure,
        system_id: "cmf".into(),
        correlation_id: "late".into(),
        ts_micros: 10,
        reason: None,
    }));
    second.changes.push(Change::Orphaned { key: o(a.id, 3) });
    s.commit(&second).unwrap();
    assert!(s.orphans(0).unwrap().is_empty(), "both halves left the orphans");
    let trace = s.trace("late").unwrap();
    assert_eq!(trace[0].event.failure_reason.as_deref(), Some("disk full"));
    assert_eq!(s.stats().unwrap().failures_without_reason, 0);
}

/// A file found under another path keeps its source (and position); whatever source held
/// that path before is retired; a retired source found again is active again.
pub fn renaming_a_source_keeps_its_position_and_retires_the_old_holder(s: &mut dyn EventStore) {
    let a = s.source("file", "/logs/app.log").unwrap();
    let old = s.source("file", "/logs/app.log.1").unwrap();
    let mut batch = Batch::default();
    batch.set_position(a.id, 42, Some("fp".into()));
    s.commit(&batch).unwrap();
    s.rename_source(a.id, "/logs/app.log.1").unwrap();
    let moved = s.source("file", "/logs/app.log.1").unwrap();
    assert_eq!((moved.id, moved.position), (a.id, 42));
    assert!(s.sources().unwrap().iter().any(|r| r.id == old.id && r.kind == "file:retired"));
    let fresh = s.source("file", "/logs/app.log").unwrap();
    assert_ne!(fresh.id, a.id);
    s.retire_source(a.id).unwrap();
    s.rename_source(a.id, "/logs/app.log.2.gz").unwrap();
    let back = s.source("file", "/logs/app.log.2.gz").unwrap();
    assert_eq!((back.id, back.position), (a.id, 42));
}
