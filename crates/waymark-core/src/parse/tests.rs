//! The seed document's examples, byte for byte, and the ways a record is rejected.

use super::*;
use crate::config::{Config, ConfigSource};

fn builtin() -> Config {
    Config::load(None).expect("built-in config is valid")
}

fn event(p: &Parsers, rec: &str) -> Event {
    match p.parse(rec) {
        Ok(Parsed::Event(e)) => e,
        other => panic!("not an event: {other:?}"),
    }
}

fn detail(p: &Parsers, rec: &str) -> Detail {
    match p.parse(rec) {
        Ok(Parsed::Detail(d)) => d,
        other => panic!("not a detail: {other:?}"),
    }
}

fn rejected(p: &Parsers, rec: &str) -> RejectKind {
    match p.parse(rec) {
        Err(r) => r.kind,
        other => panic!("not rejected: {other:?}"),
    }
}

#[test]
fn fedebom_checkpoint_and_separate_error_log() {
    let c = builtin();
    // The seed shows both records pretty-printed; a record is one message, so whitespace and
    // newlines inside it are kept as they are.
    let checkpoint = r#"{
  "system": "fedebom",
  "checkpoint": "CHECKPOINT_1",
  "status": "FAILURE",
  "timestamp": "2025-05-04T10:30:00",
  "correlation_id": "abc-123"
}"#;
    let e = event(&c.parsers, checkpoint);
    assert_eq!(
        (&*e.system_id, e.checkpoint_id.as_str(), e.timestamp().as_str()),
        ("fedebom", "CHECKPOINT_1", "2025-05-04T10:30:00Z")
    );
    assert_eq!(
        (e.status, e.correlation_id.as_str(), e.failure_reason),
        (Status::Failure, "abc-123", None)
    );
    let error_log = r#"{
  "system": "fedebom",
  "correlation_id": "abc-123",
  "failure_reason": "FAILURE_REASON_2"
}"#;
    let d = detail(&c.parsers, error_log);
    assert_eq!(
        d,
        Detail {
            system_id: "fedebom".into(),
            correlation_id: "abc-123".into(),
            failure_reason: "FAILURE_REASON_2".into(),
            ts_micros: None
        }
    );
}

#[test]
fn reporting_inline_reason() {
    let c = builtin();
    let rec = r#"{
  "system": "reporting",
  "checkpoint": "REPORTING_CHECKPOINT_2",
  "status": "FAILURE",
  "timestamp": "2025-05-04T10:33:00",
  "correlation_id": "ghi-789",
  "failure_reason": "REPORTING_FAILURE_REASON_2"
}"#;
    let e = event(&c.parsers, rec);
    assert_eq!(&*e.system_id, "reporting");
    assert_eq!(e.checkpoint_id, "REPORTING_CHECKPOINT_2");
    assert_eq!(e.timestamp(), "2025-05-04T10:33:00Z");
    assert_eq!(e.correlation_id, "ghi-789");
    assert_eq!(e.failure_reason.as_deref(), Some("REPORTING_FAILURE_REASON_2"));
}

#[test]
fn cmf_checkpoint_and_separate_error_line() {
    let c = builtin();
    let e = event(&c.parsers, "2025-05-04T10:32:00 CMF: CMF_CHECKPOINT_2 - FAILURE (ID: def-456)");
    assert_eq!(
        (&*e.system_id, e.checkpoint_id.as_str(), e.status, e.correlation_id.as_str()),
        ("cmf", "CMF_CHECKPOINT_2", Status::Failure, "def-456")
    );
    assert_eq!(e.timestamp(), "2025-05-04T10:32:00Z");
    let d = detail(
        &c.parsers,
        "2025-05-04T10:32:01 CMF CMF_ERROR: (ID: def-456) - CMF_FAILURE_REASON_1",
    );
    assert_eq!((&*d.system_id, d.correlation_id.as_str()), ("cmf", "def-456"));
    assert_eq!(d.failure_reason, "CMF_FAILURE_REASON_1");
    assert_eq!(
        d.ts_micros.map(crate::normalize::format_utc).as_deref(),
        Some("2025-05-04T10:32:01Z")
    );
}

#[test]
fn bcis_inline_reason_and_success() {
    let c = builtin();
    let e = event(
        &c.parsers,
        "2025-05-04T10:30:00 BCIS: CHECKPOINT_B - FAILURE (ID: abc-123) - FAILURE_REASON_X",
    );
    assert_eq!((e.checkpoint_id.as_str(), e.status), ("CHECKPOINT_B", Status::Failure));
    assert_eq!(e.failure_reason.as_deref(), Some("FAILURE_REASON_X"));
    let e = event(&c.parsers, "2025-05-04T10:30:00 BCIS: CHECKPOINT_A - SUCCESS (ID: abc-123)");
    assert_eq!(
        (e.checkpoint_id.as_str(), e.status, e.failure_reason),
        ("CHECKPOINT_A", Status::Success, None)
    );
    assert_eq!(e.correlation_id, "abc-123");
}

#[test]
fn compact_json_as_producers_send_it() {
    let c = builtin();
    let e = event(
        &c.parsers,
        r#"{"system": "fedebom", "checkpoint": "INITIATED", "status": "SUCCESS", "timestamp": "2025-05-04T10:30:00", "correlation_id": "x"}"#,
    );
    assert_eq!(e.checkpoint_id, "INITIATED");
}

#[test]
fn bad_records_are_rejected_with_their_kind() {
    let c = builtin();
    let p = &c.parsers;
    assert_eq!(rejected(p, r#"{"system": "fedebom", "checkpoint": "C"#), RejectKind::BadJson);
    assert_eq!(
        rejected(p, r#"{"system": "payroll", "checkpoint": "C"}"#),
        RejectKind::UnknownSystem
    );
    assert_eq!(rejected(p, r#"{"checkpoint": "C"}"#), RejectKind::UnknownSystem);
    assert_eq!(rejected(p, "hello world"), RejectKind::UnknownSystem);
    assert_eq!(rejected(p, "2025-05-04T10:32:00 CMF: garbage"), RejectKind::NoPattern);
    assert_eq!(
        rejected(p, "2025-05-04T10:30:00 BCIS: CHECKPOINT_A - MAYBE (ID: abc-123)"),
        RejectKind::BadStatus
    );
    assert_eq!(
        rejected(p, "2025-13-04T10:30:00 BCIS: CHECKPOINT_A - SUCCESS (ID: abc-123)"),
        RejectKind::BadTimestamp
    );
    assert_eq!(
        rejected(
            p,
            r#"{"system": "reporting", "checkpoint": "C", "status": "SUCCESS", "correlation_id": "x"}"#
        ),
        RejectKind::MissingField
    );
    assert_eq!(
        rejected(
            p,
            r#"{"system": "reporting", "checkpoint": "C", "status": "SUCCESS", "timestamp": "", "correlation_id": "x"}"#
        ),
        RejectKind::MissingField
    );
    assert_eq!(
        rejected(p, r#"{"system": "fedebom", "correlation_id": "x"}"#),
        RejectKind::MissingField,
        "a detail without a reason"
    );
    assert_eq!(rejected(p, "[1, 2]"), RejectKind::UnknownSystem);
}

#[test]
fn a_new_system_is_configuration_only() {
    let text = r#"
[[system]]
name = "payroll"
format = "csv"
columns = ["ts", "sys", "step", "result", "id", "why"]
match = { field = "sys", equals = "PAY" }
fields = { timestamp = "ts", checkpoint_id = "step", status = "result", correlation_id = "id", failure_reason = "why" }
timestamp_formats = ["%d/%m/%Y %H:%M:%S"]
timezone = "+02:00"
status_map = { SUCCESS = ["ok"], FAILURE = ["ko"] }

[[system]]
name = "bcis"
enabled = false
"#;
    let c = Config::load(Some(&ConfigSource { name: "user.toml", text })).unwrap();
    let e = event(&c.parsers, "04/05/2025 12:30:00,PAY,GROSS,ko,p-1,\"no bank, no pay\"");
    assert_eq!(&*e.system_id, "payroll");
    assert_eq!(e.timestamp(), "2025-05-04T10:30:00Z");
    assert_eq!(e.failure_reason.as_deref(), Some("no bank, no pay"));
    assert_eq!(
        rejected(&c.parsers, "04/05/2025 12:30:00,PAY,GROSS,maybe,p-1,"),
        RejectKind::BadStatus
    );
    assert_eq!(
        rejected(&c.parsers, "2025-05-04T10:30:00 BCIS: CHECKPOINT_A - SUCCESS (ID: abc-123)"),
        RejectKind::UnknownSystem,
        "bcis was switched off"
    );
}

#[test]
fn a_user_system_overrides_a_builtin() {
    let text = r#"
[[system]]
name = "cmf"
format = "regex"
match = { prefix = "CMF|" }
pattern = '^CMF\|(?P<timestamp>[^|]+)\|(?P<checkpoint_id>[^|]+)\|(?P<status>[^|]+)\|(?P<correlation_id>[^|]+)$'
"#;
    let c = Config::load(Some(&ConfigSource { name: "user.toml", text })).unwrap();
    let e = event(&c.parsers, "CMF|2025-05-04T10:30:00Z|C1|SUCCESS|id-9");
    assert_eq!((&*e.system_id, e.checkpoint_id.as_str()), ("cmf", "C1"));
    assert_eq!(
        rejected(&c.parsers, "2025-05-04T10:32:00 CMF: C - SUCCESS (ID: d)"),
        RejectKind::UnknownSystem
    );
    assert!(c.parsers.joinable_systems().iter().all(|s| s != "cmf"), "the override has no detail");
}
