//! Many writers on one PostgreSQL store: a stalled writer whose source was taken over is
//! refused, concurrent audit upserts never blank a known value, two scanners of one file
//! share its version and never duplicate a result.

use waymark_core::audit::{AuditRow, AuditUpsert, RunFilter, RunStatus};
use waymark_core::correlate::{Change, PendingKind};
use waymark_core::pipeline::Batch;
use waymark_core::scan::{ScanCommit, ScanResult, ScannedFile};
use waymark_core::{Event, Origin, Status};

use super::{fresh_schema, server};
use crate::{AuditStore, EventStore, PgStore, ScanStore, StoreError};

fn two_writers() -> Option<(PgStore, PgStore)> {
    let url = server()?;
    let schema = fresh_schema();
    let a = PgStore::open_isolated(&url, &schema).expect("open a");
    let b = PgStore::open_isolated(&url, &schema).expect("open b");
    Some((a, b))
}

/// Events at `from..to` and the position at `to`.
pub(super) fn batch(source: u32, from: u64, to: u64) -> Batch {
    let mut b = Batch::default();
    for pos in from..to {
        b.changes.push(Change::Insert {
            origin: Origin { source, position: pos },
            event: Event {
                system_id: "bcis".into(),
                checkpoint_id: "A".into(),
                ts_micros: pos as i64,
                status: Status::Success,
                correlation_id: format!("c{pos}"),
                failure_reason: None,
            },
        });
    }
    b.set_position(source, to, None);
    b
}

#[test]
fn a_stalled_writer_is_refused_after_its_source_was_taken_over() {
    let Some((mut zombie, mut heir)) = two_writers() else { return };
    let src = zombie.source("kafka", "raw-logs/3").unwrap().id;
    zombie.commit(&batch(src, 0, 10)).unwrap();
    // The partition is reassigned: the heir claims it and goes on from the stored position.
    let claimed = heir.source("kafka", "raw-logs/3").unwrap();
    assert_eq!((claimed.id, claimed.position), (src, 10));
    heir.commit(&batch(src, 10, 30)).unwrap();
    // The zombie wakes with the batch it had in hand (10..20) and with a later one (30..40).
    for (from, to) in [(10, 20), (30, 40)] {
        let refused = zombie.commit(&batch(src, from, to));
        assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
    }
    assert_eq!(heir.source("kafka", "raw-logs/3").unwrap().position, 30);
    assert_eq!(heir.stats().unwrap().events, 30);
    // A stale batch of the current owner cannot move its position back either.
    let back = heir.commit(&batch(src, 5, 8));
    assert!(matches!(back, Err(StoreError::Refused(_))), "{back:?}");
    assert_eq!(heir.sources().unwrap()[0].position, 30);
}

#[test]
fn a_second_connection_of_a_writer_shares_its_claims() {
    let Some((mut reader, _)) = two_writers() else { return };
    let src = reader.source("kafka", "t/0").unwrap().id;
    let mut writer = reader.reopen().unwrap();
    writer.commit(&batch(src, 0, 5)).unwrap();
    assert_eq!(writer.stats().unwrap().events, 5);
    let mut stranger = reader.reopen().unwrap();
    stranger.claims = Default::default();
    let refused = stranger.commit(&batch(src, 5, 6));
    assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
}

#[test]
fn concurrent_audit_upserts_never_blank_a_known_value() {
    let Some((mut a, mut b)) = two_writers() else { return };
    const KEYS: usize = 40;
    let key = |i: usize| format!("INFA_SESSION|F|wf|s{i}|{i}");
    let upsert = move |i: usize, row: AuditRow| AuditUpsert {
        run_key: key(i),
        row,
        logscan_id: None,
        log_file: None,
    };
    // Each writer knows half of every run: a knows the start and the source rows, b the end,
    // the target rows and the final status. Keys go in opposite orders to provoke overlap.
    let ta = std::thread::spawn(move || {
        for round in 0..3 {
            let runs: Vec<AuditUpsert> = (0..KEYS)
                .map(|i| {
                    let mut r = AuditRow::new("INFA_SESSION");
                    r.status = RunStatus::Running;
                    r.start_time = Some(1_000_000 * i as i64);
                    r.source_rows = Some(100 + i as i64);
                    r.source_name = vec![format!("SRC{round}")];
                    upsert(i, r)
                })
                .collect();
            for chunk in runs.chunks(7) {
                a.upsert_runs(chunk, None).unwrap();
            }
        }
        a
    });
    let tb = std::thread::spawn(move || {
        for _ in 0..3 {
            let runs: Vec<AuditUpsert> = (0..KEYS)
                .rev()
                .map(|i| {
                    let mut r = AuditRow::new("INFA_SESSION");
                    r.status = RunStatus::Success;
                    r.end_time = Some(1_000_000 * i as i64 + 5_000_000);
                    r.target_rows = Some(200 + i as i64);
                    upsert(i, r)
                })
                .collect();
            for chunk in runs.chunks(5) {
                b.upsert_runs(chunk, None).unwrap();
            }
        }
        b
    });
    let a = ta.join().unwrap();
    tb.join().unwrap();
    let runs = a.runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), KEYS);
    for r in &runs {
        let i: i64 = r.run_key.rsplit('|').next().unwrap().parse().unwrap();
        let row = &r.row;
        assert_eq!(row.status, RunStatus::Success, "{}", r.run_key);
        assert_eq!(row.start_time, Some(1_000_000 * i), "{}", r.run_key);
        assert_eq!(row.end_time, Some(1_000_000 * i + 5_000_000), "{}", r.run_key);
        assert_eq!((row.source_rows, row.target_rows), (Some(100 + i), Some(200 + i)));
        assert_eq!(row.source_name, ["SRC0", "SRC1", "SRC2"], "{}", r.run_key);
    }
}

#[test]
fn two_scanners_of_one_file_share_its_version_and_its_results() {
    let Some((mut a, mut b)) = two_writers() else { return };
    let file = ScannedFile {
        file_path: "/logs/s.log".into(),
        system_type: "INFA_SESSION".into(),
        dev: Some(1),
        inode: Some(77),
        size: 300,
        state: "active".into(),
        ..ScannedFile::default()
    };
    let id_a = a.begin_version(&file, None).unwrap();
    let id_b = b.begin_version(&file, None).unwrap();
    assert_eq!(id_a, id_b);
    let result = |n: u64| ScanResult {
        line_number: n,
        byte_offset: n * 10,
        rule: "oracle_error".into(),
        severity: "ERROR",
        line: format!("ORA-{n}"),
        line_timestamp: None,
    };
    let commit = |position: u64, lines: &[u64]| ScanCommit {
        file: ScannedFile {
            logscan_id: id_a,
            position,
            line_number: position / 10,
            ..file.clone()
        },
        results: lines.iter().map(|&n| result(n)).collect(),
        replace_from: None,
    };
    a.commit_scans(&[commit(100, &[2, 5])]).unwrap();
    b.commit_scans(&[commit(100, &[2, 5])]).unwrap();
    a.commit_scans(&[commit(200, &[12])]).unwrap();
    // b is behind: its commit of the first part again neither duplicates nor moves back.
    b.commit_scans(&[commit(100, &[2, 5])]).unwrap();
    let results = a.scan_results(id_a).unwrap();
    assert_eq!(results.iter().map(|r| r.line_number).collect::<Vec<_>>(), [2, 5, 12]);
    assert_eq!(a.scanned_file(id_a).unwrap().unwrap().position, 200);
    // A replacement begun by both scanners is one new version too.
    let new_a = a.begin_version(&ScannedFile { inode: Some(78), ..file.clone() }, Some(id_a));
    let new_b = b.begin_version(&ScannedFile { inode: Some(78), ..file.clone() }, Some(id_a));
    assert_eq!(new_a.unwrap(), new_b.unwrap());
    assert_eq!(a.active_scanned_files().unwrap().len(), 1);
}

/// Two writers, each with its own correlator (as two `consume` processes of one group): the
/// failures of `keys` go to one and their reasons to the other, in batches of `per_batch`, the
/// two committing at once. `reasons_first` makes the reasons' writer start ahead.
fn split_join(keys: usize, per_batch: usize, ttl_secs: u64) -> Option<PgStore> {
    use std::sync::Arc;
    use waymark_core::correlate::Correlator;
    use waymark_core::event::Detail;
    let (mut a, mut b) = two_writers()?;
    let fail_src = a.source("kafka", "raw-logs/0").unwrap().id;
    let reason_src = b.source("kafka", "raw-logs/1").unwrap().id;
    let system: Arc<str> = Arc::from("cmf");
    let failures = {
        let system = system.clone();
        std::thread::spawn(move || {
            let mut c = Correlator::new(["cmf".to_owned()], ttl_secs);
            for chunk in (0..keys).collect::<Vec<_>>().chunks(per_batch) {
                let mut batch = Batch::default();
                for &i in chunk {
                    let event = Event {
                        system_id: system.clone(),
                        checkpoint_id: "PAY".into(),
                        ts_micros: 1_000_000 * i as i64,
                        status: Status::Failure,
                        correlation_id: format!("flow-{i}"),
                        failure_reason: None,
                    };
                    c.event(
                        Origin { source: fail_src, position: i as u64 },
                        event,
                        &mut batch.changes,
                    );
                }
                batch.set_position(fail_src, *chunk.last().unwrap() as u64 + 1, None);
                a.commit(&batch).unwrap();
            }
            a
        })
    };
    let reasons = std::thread::spawn(move || {
        let mut c = Correlator::new(["cmf".to_owned()], ttl_secs);
        for chunk in (0..keys).rev().collect::<Vec<_>>().chunks(per_batch) {
            let mut batch = Batch::default();
            for &i in chunk {
                let detail = Detail {
                    system_id: system.clone(),
                    correlation_id: format!("flow-{i}"),
                    failure_reason: format!("reason {i}"),
                    ts_micros: Some(1_000_000 * i as i64),
                };
                c.detail(
                    Origin { source: reason_src, position: i as u64 },
                    detail,
                    &mut batch.changes,
                );
            }
            batch.set_position(reason_src, (keys - chunk.last().unwrap()) as u64, None);
            b.commit(&batch).unwrap();
        }
    });
    let a = failures.join().unwrap();
    reasons.join().unwrap();
    Some(a)
}

/// Every failure carries its own reason, once, and nothing waits.
fn assert_joined_once(s: &mut PgStore, keys: usize) {
    let rows = s
        .client()
        .query("SELECT correlation_id, failure_reason FROM events ORDER BY position", &[])
        .unwrap();
    assert_eq!(rows.len(), keys);
    for (i, r) in rows.iter().enumerate() {
        let (id, reason): (String, Option<String>) = (r.get(0), r.get(1));
        assert_eq!(id, format!("flow-{i}"));
        assert_eq!(reason, Some(format!("reason {i}")), "{id}");
    }
    let left: i64 = s.client().query_one("SELECT count(*) FROM join_pending", &[]).unwrap().get(0);
    assert_eq!(left, 0, "halves left in join_pending");
}

#[test]
fn a_failure_and_its_reason_committed_by_two_writers_join_exactly_once() {
    // Failures and reasons in opposite orders, committed at once in small batches: for each
    // key one writer commits first and the other finds its half in the store.
    let Some(mut s) = split_join(400, 7, 86_400) else { return };
    assert_joined_once(&mut s, 400);
}

#[test]
fn a_half_orphaned_by_one_writer_still_joins_the_partner_another_writer_reads() {
    // A time-to-live of one second of event time: most halves are orphaned by their own
    // writer's clock before the partner is read by the other writer.
    let Some(mut s) = split_join(300, 10, 1) else { return };
    assert_joined_once(&mut s, 300);
}

/// A half held in two writers' memories (a partition's halves restored by the consumer that took
/// it over, while another writer also sees them in `join_pending`): when one writer joins it, the
/// other's later join with it is void, and the half that made that join waits instead — so no
/// reason is given twice and none is lost. `one_batch`: Y reads the second flow's two halves in
/// one batch (its memory, which counts the void join, leaves the other half waiting too).
fn a_shared_half_is_joined_once(shared: PendingKind, one_batch: bool) {
    use waymark_core::correlate::Correlator;
    use waymark_core::event::Detail;
    let Some((mut x, mut y)) = two_writers() else { return };
    let sx = x.source("kafka", "raw-logs/0").unwrap().id;
    let sy = y.source("kafka", "raw-logs/1").unwrap().id;
    let (mut cx, mut cy) =
        (Correlator::new(["cmf".into()], 86_400), Correlator::new(["cmf".into()], 86_400));
    let failure = |ts: i64| Event {
        system_id: "cmf".into(),
        checkpoint_id: "PAY".into(),
        ts_micros: ts,
        status: Status::Failure,
        correlation_id: "flow".into(),
        failure_reason: None,
    };
    let reason = |why: &str| Detail {
        system_id: "cmf".into(),
        correlation_id: "flow".into(),
        failure_reason: why.into(),
        ts_micros: None,
    };
    // Records through a writer's correlator, committed with their positions in one batch.
    type Record = (Origin, Result<Event, Detail>);
    fn read_all(s: &mut PgStore, c: &mut Correlator, records: Vec<Record>) {
        let mut b = Batch::default();
        for (at, record) in records {
            match record {
                Ok(e) => c.event(at, e, &mut b.changes),
                Err(d) => c.detail(at, d, &mut b.changes),
            }
            b.set_position(at.source, at.position + 1, None);
        }
        s.commit(&b).unwrap();
    }
    let read = |s: &mut PgStore, c: &mut Correlator, at, record| read_all(s, c, vec![(at, record)]);
    let (x0, x1, x2) = ((sx, 0), (sx, 1), (sx, 2));
    let o = |(source, position): (u32, u64)| Origin { source, position };
    let first_half =
        || if shared == PendingKind::Failure { Ok(failure(10)) } else { Err(reason("R1")) };
    let second_half =
        || if shared == PendingKind::Failure { Err(reason("R1")) } else { Ok(failure(10)) };
    // X reads the first half; Y restores it (it took X's partition over, say).
    read(&mut x, &mut cx, o(x0), first_half());
    cy.restore(y.pending_of_source(sx).unwrap(), []);
    // X joins it with its partner; Y, still holding it, reads a second half of the same kind as
    // that partner and joins it in memory with the half already joined.
    read(&mut x, &mut cx, o(x1), second_half());
    let stale = if shared == PendingKind::Failure { Err(reason("R2")) } else { Ok(failure(20)) };
    let last = if shared == PendingKind::Failure { Ok(failure(20)) } else { Err(reason("R2")) };
    let y0 = Origin { source: sy, position: 0 };
    if one_batch {
        read_all(&mut y, &mut cy, vec![(y0, stale), (Origin { source: sy, position: 1 }, last)]);
    } else {
        // The second flow's other half comes to X: it meets what Y left waiting.
        read(&mut y, &mut cy, y0, stale);
        read(&mut x, &mut cx, o(x2), last);
    }
    let rows =
        x.client().query("SELECT ts_us, failure_reason FROM events ORDER BY ts_us", &[]).unwrap();
    let got: Vec<(i64, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, [(10, Some("R1".into())), (20, Some("R2".into()))]);
    let left: i64 = x.client().query_one("SELECT count(*) FROM join_pending", &[]).unwrap().get(0);
    assert_eq!(left, 0, "halves left in join_pending");
}

#[test]
fn a_failure_held_by_two_writers_takes_one_reason_and_the_next_reason_waits() {
    a_shared_half_is_joined_once(PendingKind::Failure, false);
}

#[test]
fn a_reason_held_by_two_writers_is_given_once_and_the_next_failure_waits() {
    a_shared_half_is_joined_once(PendingKind::Reason, false);
}

#[test]
fn a_void_join_and_the_partner_of_its_half_in_one_batch_still_join() {
    a_shared_half_is_joined_once(PendingKind::Failure, true);
    a_shared_half_is_joined_once(PendingKind::Reason, true);
}
