//! The checks of [`export_store_suite!`](crate::export_store_suite), one plain function each.

use waymark_core::audit::{AuditRow, AuditUpsert, RunStatus};
use waymark_core::correlate::{Change, Pending, PendingKind};
use waymark_core::parse::{Reject, RejectKind};
use waymark_core::pipeline::{Batch, DeadLetter};
use waymark_core::scan::{ScanCommit, ScanResult, ScannedFile};
use waymark_core::{Event, Origin, Status};

use super::{ExportFilter, ExportStore, ExportTable, FinishedExport, Value};
use crate::{AuditStore, EventStore, ScanStore};

/// What the suite needs of a backend.
pub(crate) trait Full: ExportStore + EventStore + AuditStore + ScanStore {}
impl<S: ExportStore + EventStore + AuditStore + ScanStore> Full for S {}

const T0: i64 = 1_746_354_600_000_000;

fn event(cid: &str, system: &str, secs: i64, status: Status) -> Event {
    Event {
        system_id: system.into(),
        checkpoint_id: "CP".into(),
        ts_micros: T0 + secs * 1_000_000,
        status,
        correlation_id: cid.into(),
        failure_reason: (status == Status::Failure).then(|| "why, \"quoted\"\n".into()),
    }
}

/// Commits events at positions `from..to` of one source, one batch.
fn ingest(s: &mut dyn Full, source: &str, from: u64, to: u64) {
    let src = s.source("file", source).unwrap().id;
    let mut b = Batch::default();
    for pos in from..to {
        let status = if pos % 3 == 0 { Status::Failure } else { Status::Success };
        let system = if pos % 2 == 0 { "cmf" } else { "bcis" };
        let e = event(&format!("c{pos}"), system, pos as i64, status);
        b.changes.push(Change::Insert { origin: Origin { source: src, position: pos }, event: e });
    }
    b.set_position(src, to, None);
    s.commit(&b).unwrap();
}

/// Every row of a table in `(since, upto]`, read in pages of `page`.
fn read_all(
    s: &dyn Full,
    table: ExportTable,
    filter: &ExportFilter,
    range: (i64, i64),
    page: usize,
) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = s.export_page(table, filter, range, after, page).unwrap();
        out.extend(p.rows.into_iter().map(|r| r.values));
        match p.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

fn everything(s: &dyn Full, table: ExportTable) -> Vec<Vec<Value>> {
    let high = s.export_high(table).unwrap();
    read_all(s, table, &ExportFilter::default(), (0, high), 2)
}

fn text(v: &Value) -> &str {
    match v {
        Value::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

fn run(key: &str, system: &str, status: RunStatus, start: Option<i64>) -> AuditUpsert {
    let mut row = AuditRow::new(system);
    row.status = status;
    row.start_time = start;
    row.source_rows = Some(10);
    row.source_name = vec!["ORDERS".into(), "ITEMS".into()];
    AuditUpsert { run_key: key.into(), row, logscan_id: None, log_file: Some("/l.log".into()) }
}

fn scan(s: &mut dyn Full, lines: &[(u64, &'static str, Option<&str>)]) {
    let file = ScannedFile {
        file_path: "/logs/s.log".into(),
        system_type: "INFA_SESSION".into(),
        state: "active".into(),
        ..ScannedFile::default()
    };
    let id = s.begin_version(&file, None).unwrap();
    let results = lines
        .iter()
        .map(|(n, severity, ts)| ScanResult {
            line_number: *n,
            byte_offset: n * 10,
            rule: "oracle_error".into(),
            severity,
            line: format!("line {n}"),
            line_timestamp: ts.map(Into::into),
        })
        .collect();
    s.commit_scans(&[ScanCommit {
        file: ScannedFile { logscan_id: id, ..file },
        results,
        replace_from: None,
    }])
    .unwrap();
}

pub(crate) fn every_table_reads_back_typed_in_pages<S: Full>(s: &mut S) {
    ingest(s, "/a.log", 0, 5);
    let events = everything(s, ExportTable::Events);
    assert_eq!(events.len(), 5, "pages of 2 give all 5 events once");
    let cols = ExportTable::Events.columns();
    assert_eq!(cols.len(), events[0].len());
    assert_eq!(events[0][1], Value::Int(0));
    assert_eq!(events[4][1], Value::Int(4));
    assert_eq!(text(&events[0][2]), "/a.log");
    assert_eq!(events[1][5], Value::Timestamp(T0 + 1_000_000));
    assert_eq!(text(&events[0][8]), "why, \"quoted\"\n");
    assert_eq!(events[1][8], Value::Null);
    assert!(matches!(events[0][10], Value::Timestamp(t) if t > T0), "ingested_at is a time");

    s.upsert_runs(&[run("k1", "DBT", RunStatus::Success, Some(T0))], None).unwrap();
    let runs = everything(s, ExportTable::Runs);
    assert_eq!(runs.len(), 1);
    let rc = ExportTable::Runs.columns();
    let at = |name: &str| rc.iter().position(|c| c.name == name).unwrap();
    assert_eq!(runs[0][at("start_time")], Value::Timestamp(T0));
    assert_eq!(runs[0][at("end_time")], Value::Null);
    assert_eq!(runs[0][at("source_rows")], Value::Int(10));
    assert_eq!(runs[0][at("target_rows")], Value::Null);
    assert_eq!(runs[0][at("source_name")], Value::TextList(vec!["ORDERS".into(), "ITEMS".into()]));
    assert_eq!(runs[0][at("target_name")], Value::TextList(vec![]));

    scan(s, &[(3, "ERROR", Some("2025-01-06T02:00:01Z")), (9, "WARNING", None)]);
    let results = everything(s, ExportTable::ScanResults);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0][6], Value::Int(3));
    assert_eq!(results[0][9], Value::Timestamp(1_736_128_801_000_000));
    assert_eq!(results[1][9], Value::Null);

    let src = s.source("file", "/a.log").unwrap().id;
    let mut b = Batch::default();
    b.dead_letters.push(DeadLetter {
        origin: Origin { source: src, position: 99 },
        raw: b"bad \xff bytes".to_vec(),
        raw_len: 11,
        reason: Reject::new(RejectKind::UnknownSystem, "no system"),
    });
    s.commit(&b).unwrap();
    let dead = everything(s, ExportTable::DeadLetters);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0][2], Value::Int(99));
    assert_eq!(
        text(&dead[0][6]),
        "bad \u{fffd} bytes",
        "raw bytes as text, invalid UTF-8 replaced"
    );
    assert_eq!(dead[0][7], Value::Int(11));
}

pub(crate) fn the_sequence_range_gives_each_row_once<S: Full>(s: &mut S) {
    ingest(s, "/a.log", 0, 4);
    let first = s.export_high(ExportTable::Events).unwrap();
    // New rows in an existing source sort before the cursor's end in key order: the range,
    // not the key, is what tells them apart.
    ingest(s, "/b.log", 0, 2);
    ingest(s, "/a.log", 4, 7);
    let second = s.export_high(ExportTable::Events).unwrap();
    assert!(second > first);
    let f = ExportFilter::default();
    let one = read_all(s, ExportTable::Events, &f, (0, first), 3);
    let two = read_all(s, ExportTable::Events, &f, (first, second), 3);
    assert_eq!((one.len(), two.len()), (4, 5));
    let all = read_all(s, ExportTable::Events, &f, (0, second), 100);
    let mut joined: Vec<_> = one.into_iter().chain(two).collect();
    joined.sort_by_key(|v| (text(&v[2]).to_owned(), format!("{:?}", v[1])));
    let mut all_sorted = all.clone();
    all_sorted.sort_by_key(|v| (text(&v[2]).to_owned(), format!("{:?}", v[1])));
    assert_eq!(joined, all_sorted, "two ranges give every row exactly once");
    assert!(read_all(s, ExportTable::Events, &f, (second, second), 3).is_empty());
}

pub(crate) fn an_updated_run_is_exported_again<S: Full>(s: &mut S) {
    s.upsert_runs(&[run("k1", "DBT", RunStatus::Running, None)], None).unwrap();
    s.upsert_runs(&[run("k2", "DBT", RunStatus::Success, None)], None).unwrap();
    let first = s.export_high(ExportTable::Runs).unwrap();
    // An unchanged upsert is no new version; a changed one is.
    s.upsert_runs(&[run("k2", "DBT", RunStatus::Success, None)], None).unwrap();
    assert_eq!(s.export_high(ExportTable::Runs).unwrap(), first);
    s.upsert_runs(&[run("k1", "DBT", RunStatus::Failure, None)], None).unwrap();
    let second = s.export_high(ExportTable::Runs).unwrap();
    let f = ExportFilter::default();
    let again = read_all(s, ExportTable::Runs, &f, (first, second), 10);
    assert_eq!(again.len(), 1);
    assert_eq!(text(&again[0][0]), "k1");
    assert_eq!(text(&again[0][9]), "FAILURE");
    assert_eq!(read_all(s, ExportTable::Runs, &f, (0, first), 10).len(), 1, "k2 only");
}

pub(crate) fn an_orphan_is_exported_when_it_becomes_one<S: Full>(s: &mut S) {
    let src = s.source("file", "/o.log").unwrap().id;
    let half = |pos: u64, cid: &str| Pending {
        key: Origin { source: src, position: pos },
        kind: PendingKind::Reason,
        system_id: "cmf".into(),
        correlation_id: cid.into(),
        ts_micros: T0 + pos as i64,
        reason: Some(format!("reason {pos}")),
    };
    let mut b = Batch::default();
    b.changes.push(Change::Wait(half(0, "a")));
    b.changes.push(Change::Wait(half(1, "b")));
    s.commit(&b).unwrap();
    assert_eq!(s.export_high(ExportTable::Orphans).unwrap(), 0);
    assert!(everything(s, ExportTable::Orphans).is_empty(), "waiting halves are no orphans");
    let mut b = Batch::default();
    b.changes.push(Change::Orphaned { key: Origin { source: src, position: 1 } });
    s.commit(&b).unwrap();
    let first = s.export_high(ExportTable::Orphans).unwrap();
    let mut b = Batch::default();
    b.changes.push(Change::Orphaned { key: Origin { source: src, position: 0 } });
    s.commit(&b).unwrap();
    let second = s.export_high(ExportTable::Orphans).unwrap();
    let f = ExportFilter::default();
    let one = read_all(s, ExportTable::Orphans, &f, (0, first), 10);
    let two = read_all(s, ExportTable::Orphans, &f, (first, second), 10);
    assert_eq!(one.len(), 1);
    assert_eq!(text(&one[0][5]), "b");
    assert_eq!(two.len(), 1, "the older half orphaned later is in the later range");
    assert_eq!(text(&two[0][5]), "a");
    assert_eq!(two[0][6], Value::Timestamp(T0));
    assert_eq!(text(&two[0][7]), "reason 0");
}

pub(crate) fn filters_select_by_system_status_and_time<S: Full>(s: &mut S) {
    ingest(s, "/a.log", 0, 6);
    let count = |s: &S, f: ExportFilter| {
        let high = s.export_high(ExportTable::Events).unwrap();
        read_all(s, ExportTable::Events, &f, (0, high), 2).len()
    };
    assert_eq!(count(s, ExportFilter { system: Some("cmf".into()), ..Default::default() }), 3);
    assert_eq!(count(s, ExportFilter { status: Some("FAILURE".into()), ..Default::default() }), 2);
    let window = ExportFilter {
        since: Some(T0 + 1_000_000),
        until: Some(T0 + 4_000_000),
        ..Default::default()
    };
    assert_eq!(count(s, window), 3, "since inclusive, until exclusive");
    s.upsert_runs(
        &[
            run("k1", "DBT", RunStatus::Failure, Some(T0)),
            run("k2", "DBT", RunStatus::Success, None),
            run("k3", "JENKINS", RunStatus::Failure, Some(T0 + 5)),
        ],
        None,
    )
    .unwrap();
    let runs = |s: &S, f: ExportFilter| -> Vec<String> {
        let high = s.export_high(ExportTable::Runs).unwrap();
        read_all(s, ExportTable::Runs, &f, (0, high), 1)
            .iter()
            .map(|v| text(&v[0]).to_owned())
            .collect()
    };
    let failed = ExportFilter { status: Some("FAILURE".into()), ..Default::default() };
    assert_eq!(runs(s, failed), ["k1", "k3"]);
    let dbt = ExportFilter { system: Some("DBT".into()), ..Default::default() };
    assert_eq!(runs(s, dbt), ["k1", "k2"]);
    let timed = ExportFilter { since: Some(0), ..Default::default() };
    assert_eq!(runs(s, timed), ["k1", "k3"], "a run without a start is outside any range");
}

pub(crate) fn watermarks_advance_only_by_a_finished_export<S: Full>(s: &mut S) {
    let t = ExportTable::Events;
    assert_eq!(s.export_watermark("nightly", t).unwrap(), None);
    let filter = ExportFilter::default().describe();
    let done = |since, upto, rows| FinishedExport {
        name: Some("nightly".into()),
        table: t,
        filter: filter.clone(),
        since,
        upto,
        rows,
        target: "/out/e.parquet".into(),
    };
    s.finish_export(&done(0, 3, 10)).unwrap();
    let wm = s.export_watermark("nightly", t).unwrap().unwrap();
    assert_eq!((wm.upto, wm.exports, wm.rows), (3, 1, 10));
    assert_eq!(s.export_watermark("nightly", ExportTable::Runs).unwrap(), None, "per table");
    assert_eq!(s.export_watermark("other", t).unwrap(), None, "per name");
    // An export that started from a watermark that has moved since is refused.
    assert!(s.finish_export(&done(0, 5, 4)).is_err());
    assert_eq!(s.export_watermark("nightly", t).unwrap().unwrap().upto, 3);
    // Another filter under the same name is refused.
    let other = FinishedExport {
        filter: ExportFilter { system: Some("cmf".into()), ..Default::default() }.describe(),
        ..done(3, 5, 1)
    };
    assert!(s.finish_export(&other).is_err());
    s.finish_export(&done(3, 7, 2)).unwrap();
    let wm = s.export_watermark("nightly", t).unwrap().unwrap();
    assert_eq!((wm.upto, wm.exports, wm.rows), (7, 2, 12));
    // An unnamed export is logged and moves no watermark.
    s.finish_export(&FinishedExport { name: None, ..done(0, 9, 1) }).unwrap();
    assert_eq!(s.export_watermark("nightly", t).unwrap().unwrap().upto, 7);
}
