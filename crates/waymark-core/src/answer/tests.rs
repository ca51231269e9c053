//! Verdicts, cursors and pages.

use super::*;

fn ev(system: &str, checkpoint: &str, status: &str, ts: &str, reason: Option<&str>) -> EventView {
    EventView {
        system_id: system.into(),
        checkpoint_id: checkpoint.into(),
        timestamp: ts.into(),
        status: status.into(),
        correlation_id: "c".into(),
        failure_reason: reason.map(Into::into),
        source: "s".into(),
        position: 0,
        ts_micros: 0,
    }
}

#[test]
fn verdict_names_the_last_failure_of_each_system() {
    assert_eq!(Verdict::of(&[]).state, VerdictState::Empty);
    assert_eq!(Verdict::of(&[]).text, "no events");
    let ok = [ev("a", "A1", "SUCCESS", "t1", None), ev("b", "B1", "SUCCESS", "t2", None)];
    let v = Verdict::of(&ok);
    assert_eq!(v.state, VerdictState::Succeeded);
    assert_eq!(v.text, "last step b B1 SUCCESS at t2");
    assert_eq!(v.last.as_ref().map(|s| s.system_id.as_str()), Some("b"));
    // A failure retried with success is not where the flow stopped.
    let retried = [
        ev("a", "A1", "FAILURE", "t1", Some("x")),
        ev("a", "A1", "SUCCESS", "t2", None),
        ev("b", "B2", "FAILURE", "t3", None),
    ];
    let v = Verdict::of(&retried);
    assert_eq!(v.state, VerdictState::Failed);
    assert_eq!(v.failed_at.len(), 1);
    assert_eq!(v.text, "stopped with FAILURE at b B2 (reason not (yet) known)");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["state"], "failed");
    assert_eq!(json["failed_at"][0]["checkpoint_id"], "B2");
}

#[test]
fn flow_lists_systems_in_order_of_first_appearance() {
    let t = FlowTrace::new(
        "c",
        vec![
            ev("b", "1", "SUCCESS", "t1", None),
            ev("a", "2", "SUCCESS", "t2", None),
            ev("b", "3", "SUCCESS", "t3", None),
        ],
    );
    assert_eq!(t.systems, ["b", "a"]);
    let json = serde_json::to_value(&t).unwrap();
    assert!(json["events"][0].get("ts_micros").is_none(), "internal field not serialized");
}

#[test]
fn cursors_round_trip_and_refuse_what_they_did_not_make() {
    let c = Cursor::new(&[i64::MIN, -1, 0, i64::MAX]);
    let text = c.encode();
    assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
    assert_eq!(Cursor::decode(&text, 4).unwrap(), c);
    assert!(Cursor::decode(&text, 2).is_err(), "arity is checked");
    for bad in ["", "!!", "Zm9v", &Cursor::new(&[1]).encode()[1..]] {
        assert!(Cursor::decode(bad, 1).is_err(), "{bad}");
    }
}

#[test]
fn a_page_keeps_limit_rows_and_points_after_the_last() {
    let p = Page::from_rows(vec![1_i64, 2, 3], 2, |n| Cursor::new(&[*n]));
    assert_eq!(p.items, [1, 2]);
    assert_eq!(Cursor::decode(p.next_cursor.as_deref().unwrap(), 1).unwrap().ints, [2]);
    let last = Page::from_rows(vec![1_i64, 2], 2, |n| Cursor::new(&[*n]));
    assert_eq!(last.next_cursor, None);
    let all = Page::from_rows(vec![1_i64, 2, 3], 0, |n| Cursor::new(&[*n]));
    assert_eq!((all.items.len(), all.next_cursor), (3, None));
}
