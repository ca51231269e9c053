//! The join rules, with plain values.

use super::*;

fn ev(system: &str, cid: &str, ts: i64, status: Status, reason: Option<&str>) -> Event {
    Event {
        system_id: system.into(),
        checkpoint_id: "C".into(),
        ts_micros: ts * 1_000_000,
        status,
        correlation_id: cid.into(),
        failure_reason: reason.map(Into::into),
    }
}

fn det(system: &str, cid: &str, reason: &str) -> Detail {
    Detail {
        system_id: system.into(),
        correlation_id: cid.into(),
        failure_reason: reason.into(),
        ts_micros: None,
    }
}

fn at(pos: u64) -> Origin {
    Origin { source: 1, position: pos }
}

fn corr() -> Correlator {
    Correlator::new(["fedebom".to_owned(), "cmf".to_owned()], 60)
}

/// The reason each stored event ends with, applying changes as a store would.
fn reasons(changes: &[Change]) -> Vec<(u64, Option<String>)> {
    let mut rows: Vec<(u64, Option<String>)> = Vec::new();
    for c in changes {
        match c {
            Change::Insert { origin, event } => {
                rows.push((origin.position, event.failure_reason.clone()))
            }
            Change::Attach { event, reason } => {
                let pos = event.position;
                rows.iter_mut().find(|r| r.0 == pos).unwrap().1 = Some(reason.clone());
            }
            _ => {}
        }
    }
    rows
}

#[test]
fn reason_after_failure_is_attached() {
    let mut c = corr();
    let mut out = Vec::new();
    c.event(at(0), ev("fedebom", "a", 10, Status::Failure, None), &mut out);
    c.detail(at(1), det("fedebom", "a", "R1"), &mut out);
    assert_eq!(reasons(&out), vec![(0, Some("R1".into()))]);
    assert_eq!(c.counts().joined, 1);
    assert_eq!(c.waiting(), 0);
    assert!(joined(&out, at(0)));
}

#[test]
fn reason_before_failure_is_joined_on_insert() {
    let mut c = corr();
    let mut out = Vec::new();
    c.detail(at(0), det("cmf", "a", "R1"), &mut out);
    c.event(at(1), ev("cmf", "a", 10, Status::Failure, None), &mut out);
    assert_eq!(reasons(&out), vec![(1, Some("R1".into()))]);
    assert!(joined(&out, at(0)));
    assert_eq!(c.waiting(), 0);
}

#[test]
fn retry_keeps_both_events_and_oldest_failure_takes_next_reason() {
    let mut c = corr();
    let mut out = Vec::new();
    c.event(at(0), ev("fedebom", "a", 10, Status::Failure, None), &mut out);
    c.event(at(1), ev("fedebom", "a", 11, Status::Failure, None), &mut out);
    c.event(at(2), ev("fedebom", "a", 12, Status::Success, None), &mut out);
    c.detail(at(3), det("fedebom", "a", "first"), &mut out);
    c.detail(at(4), det("fedebom", "a", "second"), &mut out);
    assert_eq!(
        reasons(&out),
        vec![(0, Some("first".into())), (1, Some("second".into())), (2, None)]
    );
}

#[test]
fn systems_and_ids_do_not_mix() {
    let mut c = corr();
    let mut out = Vec::new();
    c.event(at(0), ev("fedebom", "a", 10, Status::Failure, None), &mut out);
    c.detail(at(1), det("cmf", "a", "wrong system"), &mut out);
    c.detail(at(2), det("fedebom", "b", "wrong id"), &mut out);
    assert_eq!(reasons(&out), vec![(0, None)]);
    assert_eq!(c.waiting(), 3);
}

#[test]
fn inline_systems_never_wait() {
    let mut c = corr();
    let mut out = Vec::new();
    c.event(at(0), ev("bcis", "a", 10, Status::Failure, None), &mut out);
    assert_eq!(c.waiting(), 0);
    c.event(at(1), ev("fedebom", "a", 10, Status::Failure, Some("inline")), &mut out);
    assert_eq!(c.waiting(), 0);
}

#[test]
fn halves_without_partner_become_orphans_after_the_ttl() {
    let mut c = corr();
    let mut out = Vec::new();
    c.event(at(0), ev("fedebom", "a", 0, Status::Failure, None), &mut out);
    c.event(at(1), ev("cmf", "z", 30, Status::Success, None), &mut out);
    c.detail(at(2), det("cmf", "b", "lonely"), &mut out); // dated by the watermark: 30 s
    assert!(!out.iter().any(|c| matches!(c, Change::Orphaned { .. })));
    c.event(at(3), ev("cmf", "z", 61, Status::Success, None), &mut out);
    assert!(out.contains(&Change::Orphaned { key: at(0) }));
    assert!(!out.contains(&Change::Orphaned { key: at(2) }));
    c.event(at(4), ev("cmf", "z", 91, Status::Success, None), &mut out);
    assert!(out.contains(&Change::Orphaned { key: at(2) }));
    assert_eq!(c.counts().orphaned, 2);
    // Orphaning early loses nothing: a partner arriving after the time-to-live still joins.
    c.detail(at(5), det("fedebom", "a", "late"), &mut out);
    assert_eq!(reasons(&out)[0], (0, Some("late".into())));
    let [.., Change::Joined { key, by }, Change::Attach { event, reason }] = &out[..] else {
        panic!("no join at the end: {out:?}");
    };
    assert_eq!((*key, *event, reason.as_str()), (at(0), at(0), "late"));
    assert_eq!((by.key, by.kind, by.reason.as_deref()), (at(5), PendingKind::Reason, Some("late")));
    assert_eq!(c.counts().joined, 1);
}

/// Whether `out` forgets the waiting half `key` as joined.
fn joined(out: &[Change], key: Origin) -> bool {
    out.iter().any(|c| matches!(c, Change::Joined { key: k, .. } if *k == key))
}

fn from(source: u32, pos: u64) -> Origin {
    Origin { source, position: pos }
}

#[test]
fn halves_of_an_ended_source_expire_by_the_other_sources_clock() {
    let mut c = corr();
    let mut out = Vec::new();
    // Source 1 (stdin, say) leaves a failure waiting at t=0 and closes.
    c.event(from(1, 0), ev("fedebom", "a", 0, Status::Failure, None), &mut out);
    c.end_source(1, &mut out);
    assert!(!out.iter().any(|c| matches!(c, Change::Orphaned { .. })), "not yet: clock at 0");
    // Source 2 moves on; its clock is the one that times source 1's half now.
    c.event(from(2, 0), ev("cmf", "z", 59, Status::Success, None), &mut out);
    assert!(!out.contains(&Change::Orphaned { key: from(1, 0) }));
    c.event(from(2, 1), ev("cmf", "z", 61, Status::Success, None), &mut out);
    assert!(out.contains(&Change::Orphaned { key: from(1, 0) }));
    // A source that did not end keeps its own clock: source 3's half waits on.
    c.event(from(3, 0), ev("fedebom", "b", 0, Status::Failure, None), &mut out);
    c.event(from(2, 2), ev("cmf", "z", 200, Status::Success, None), &mut out);
    assert!(!out.contains(&Change::Orphaned { key: from(3, 0) }));
    // Ending it later expires it at once against the latest time read.
    c.end_source(3, &mut out);
    assert!(out.contains(&Change::Orphaned { key: from(3, 0) }));
    assert_eq!(c.waiting(), 0);
}

#[test]
fn restored_orphans_join_a_late_partner_after_a_restart() {
    let mut c = corr();
    let mut out = Vec::new();
    c.detail(from(1, 0), det("cmf", "a", "why"), &mut out);
    let orphan = out
        .iter()
        .find_map(|c| if let Change::Wait(p) = c { Some(p.clone()) } else { None })
        .unwrap();
    let mut d = corr();
    d.restore_orphans([orphan]);
    let mut out = Vec::new();
    d.event(from(2, 0), ev("cmf", "a", 10, Status::Failure, None), &mut out);
    assert_eq!(reasons(&out), vec![(0, Some("why".into()))]);
    assert!(joined(&out, from(1, 0)));
    assert_eq!(d.waiting(), 0);
}

#[test]
fn restored_state_joins_like_the_original() {
    let mut c = corr();
    let mut out = Vec::new();
    c.event(at(0), ev("fedebom", "a", 10, Status::Failure, None), &mut out);
    c.detail(at(1), det("cmf", "b", "early"), &mut out);
    let waiting: Vec<Pending> = out
        .iter()
        .filter_map(|c| if let Change::Wait(p) = c { Some(p.clone()) } else { None })
        .collect();
    let mut d = corr();
    d.restore(waiting, c.watermark(1).map(|w| (1, w)));
    let mut out2 = Vec::new();
    d.detail(at(2), det("fedebom", "a", "R"), &mut out2);
    d.event(at(3), ev("cmf", "b", 11, Status::Failure, None), &mut out2);
    assert!(out2.contains(&Change::Attach { event: at(0), reason: "R".into() }));
    assert!(
        matches!(&out2[3], Change::Insert { event, .. } if event.failure_reason.as_deref() == Some("early"))
    );
}

#[test]
fn forgetting_a_source_drops_only_its_halves_and_restore_does_not_double() {
    let mut c = corr();
    let mut out = Vec::new();
    let other = Origin { source: 2, position: 0 };
    c.event(at(0), ev("fedebom", "a", 10, Status::Failure, None), &mut out);
    c.event(other, ev("fedebom", "b", 10, Status::Failure, None), &mut out);
    let waiting: Vec<Pending> = out
        .iter()
        .filter_map(|c| if let Change::Wait(p) = c { Some(p.clone()) } else { None })
        .collect();
    c.restore(waiting.clone(), []);
    assert_eq!(c.waiting(), 2);
    c.forget_source(1);
    assert_eq!(c.waiting(), 1);
    c.restore(waiting.clone(), []);
    c.restore(waiting, []);
    assert_eq!(c.waiting(), 2, "restoring twice keeps one copy of each half");
    c.forget_source(1);
    let mut out2 = Vec::new();
    c.detail(at(9), det("fedebom", "a", "R"), &mut out2);
    assert!(matches!(out2[0], Change::Wait(_)), "the forgotten failure is not joined here");
}

#[test]
fn each_source_keeps_its_own_clock() {
    let mut c = corr();
    let mut out = Vec::new();
    let far = Origin { source: 2, position: 0 };
    c.event(at(0), ev("fedebom", "a", 0, Status::Failure, None), &mut out);
    // Another source is hours ahead: source 1's half is not late by source 1's clock.
    c.event(far, ev("cmf", "z", 10_000, Status::Success, None), &mut out);
    assert!(!out.iter().any(|c| matches!(c, Change::Orphaned { .. })));
    c.event(at(1), ev("cmf", "y", 61, Status::Success, None), &mut out);
    assert!(out.contains(&Change::Orphaned { key: at(0) }));
}
