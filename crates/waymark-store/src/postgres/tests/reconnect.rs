//! A lost connection (its backend terminated, as a server restart does to every session): the
//! store reconnects and goes on. A commit cut off before its COMMIT runs again; one whose
//! acknowledgement was lost is found committed and not run twice; the lease of a file source is
//! taken again, and a writer whose source was taken over meanwhile is refused. (Leases are
//! advisory locks of the database, shared by the tests' schemas: each test has its own file.)

use waymark_core::correlate::{Change, Pending, PendingKind};
use waymark_core::parse::{Reject, RejectKind};
use waymark_core::pipeline::{Batch, DeadLetter};
use waymark_core::Origin;

use super::{fresh_schema, server};
use crate::postgres::Fault;
use crate::{EventStore, PgStore, StoreError};

/// Events at `from..to`, a dead letter and a waiting half at `to`, the position at `to + 1`.
fn batch(source: u32, from: u64, to: u64) -> Batch {
    let mut b = super::concurrency::batch(source, from, to);
    b.changes.push(Change::Wait(Pending {
        key: Origin { source, position: to },
        kind: PendingKind::Reason,
        system_id: "cmf".into(),
        correlation_id: format!("r{to}"),
        ts_micros: to as i64,
        reason: Some("DISK_FULL".into()),
    }));
    b.dead_letters.push(DeadLetter {
        origin: Origin { source, position: to },
        raw: b"?".to_vec(),
        raw_len: 1,
        reason: Reject::new(RejectKind::UnknownSystem, "no"),
    });
    b.set_position(source, to + 1, None);
    b
}

/// Terminates the session of `store` from another connection (what a restart does to it).
fn terminate(url: &str, store: &mut PgStore) {
    let pid: i32 = store.client().query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let done: bool =
        admin.query_one("SELECT pg_terminate_backend($1, 10000)", &[&pid]).unwrap().get(0);
    assert!(done, "backend {pid} not terminated");
}

/// `(events, dead letters, waiting halves, batches, position of the source)`.
fn tables(s: &mut PgStore, source: u32) -> (i64, i64, i64, i64, i64) {
    let row = s
        .client()
        .query_one(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters),
                    (SELECT count(*) FROM join_pending), (SELECT count(*) FROM batches),
                    (SELECT position FROM sources WHERE id = $1)",
            &[&i64::from(source)],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

/// Waits until no session holds the lease of `name` (a dropped client's session ends soon
/// after, not at once).
fn wait_free(url: &str, name: &str) {
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let key = super::super::events::lease_key("file", name);
    let class = super::super::LOCK_CLASS;
    for _ in 0..200 {
        let got: bool =
            admin.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&class, &key]).unwrap().get(0);
        if got {
            admin.execute("SELECT pg_advisory_unlock($1, $2)", &[&class, &key]).unwrap();
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the lease of {name} stays taken");
}

fn open(url: &str, schema: &str) -> PgStore {
    PgStore::open_isolated(url, schema).expect("open")
}

#[test]
fn a_commit_cut_off_before_its_commit_runs_again_once_reconnected() {
    let Some(url) = server() else { return };
    let mut s = open(&url, &fresh_schema());
    let src = s.source("file", "/reconnect-0.log").unwrap().id;
    s.inject(Fault::BeforeCommit);
    s.commit(&batch(src, 0, 10)).unwrap();
    assert_eq!(tables(&mut s, src), (10, 1, 1, 1, 11));
    s.commit(&batch(src, 11, 20)).unwrap();
    assert_eq!(tables(&mut s, src), (19, 2, 2, 2, 21));
}

#[test]
fn a_commit_whose_acknowledgement_was_lost_is_found_landed_and_not_run_twice() {
    let Some(url) = server() else { return };
    let mut s = open(&url, &fresh_schema());
    let src = s.source("file", "/reconnect-1.log").unwrap().id;
    s.inject(Fault::AfterCommit);
    s.commit(&batch(src, 0, 10)).unwrap();
    // Run again, it would have stored a second batch row (the events would be kept once).
    assert_eq!(tables(&mut s, src), (10, 1, 1, 1, 11));
    // Had it run again (a replay after a crash does), nothing would be doubled either.
    s.commit(&batch(src, 0, 10)).unwrap();
    assert_eq!(tables(&mut s, src), (10, 1, 1, 2, 11));
}

#[test]
fn reads_and_claims_go_on_after_the_connection_was_lost() {
    let Some(url) = server() else { return };
    let mut s = open(&url, &fresh_schema());
    let src = s.source("file", "/reconnect-2.log").unwrap().id;
    s.commit(&batch(src, 0, 5)).unwrap();
    terminate(&url, &mut s);
    assert_eq!(s.stats().unwrap().events, 5);
    terminate(&url, &mut s);
    let again = s.source("file", "/reconnect-2.log").unwrap();
    assert_eq!((again.id, again.position), (src, 6));
    s.commit(&batch(src, 6, 9)).unwrap();
    assert_eq!(tables(&mut s, src), (8, 2, 2, 2, 10));
}

#[test]
fn the_lease_of_a_file_is_taken_again_on_reconnect() {
    let Some(url) = server() else { return };
    let schema = fresh_schema();
    let mut s = open(&url, &schema);
    let src = s.source("file", "/reconnect-3.log").unwrap().id;
    terminate(&url, &mut s);
    s.commit(&batch(src, 0, 5)).unwrap();
    // The new session holds the lease: another writer cannot take the file.
    let mut other = open(&url, &schema);
    let key = super::super::events::lease_key("file", "/reconnect-3.log");
    let free: bool = other
        .client()
        .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&super::super::LOCK_CLASS, &key])
        .unwrap()
        .get(0);
    assert!(!free, "the lease was not taken again");
}

#[test]
fn a_writer_whose_file_was_taken_over_while_disconnected_is_refused() {
    let Some(url) = server() else { return };
    let schema = fresh_schema();
    let mut zombie = open(&url, &schema);
    let src = zombie.source("file", "/reconnect-4.log").unwrap().id;
    zombie.commit(&batch(src, 0, 5)).unwrap();
    terminate(&url, &mut zombie);
    // Its lease went with its session: another ingest takes the file and holds it.
    let mut heir = open(&url, &schema);
    assert_eq!(heir.source("file", "/reconnect-4.log").unwrap().position, 6);
    let refused = zombie.commit(&batch(src, 6, 10));
    assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
    heir.commit(&batch(src, 6, 12)).unwrap();
    // The zombie does not write the source again, not even once the heir is gone.
    drop(heir);
    let refused = zombie.commit(&batch(src, 12, 14));
    assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
    assert_eq!(tables(&mut zombie, src), (11, 2, 2, 2, 13));
}

#[test]
fn a_writer_whose_file_was_taken_and_released_meanwhile_is_fenced_by_the_epoch() {
    let Some(url) = server() else { return };
    let schema = fresh_schema();
    let mut zombie = open(&url, &schema);
    let src = zombie.source("file", "/reconnect-5.log").unwrap().id;
    terminate(&url, &mut zombie);
    {
        let mut heir = open(&url, &schema);
        heir.source("file", "/reconnect-5.log").unwrap();
        heir.commit(&batch(src, 0, 8)).unwrap();
    }
    wait_free(&url, "/reconnect-5.log");
    // The lease is free again and retaken, but the source was claimed since: refused.
    let refused = zombie.commit(&batch(src, 0, 4));
    assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
    assert_eq!(tables(&mut zombie, src), (8, 1, 1, 1, 9));
}
