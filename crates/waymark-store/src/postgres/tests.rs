//! The conformance suites and the many-writer tests against a real PostgreSQL server: the one
//! `WAYMARK_TEST_PG` names (`scripts/pg.sh` starts one). Each test works in a fresh schema.
//! Without the variable a test says "skipped" and passes, except under `CI=true`, where it
//! fails.

mod concurrency;
mod reconnect;

use std::sync::atomic::{AtomicU32, Ordering};

use super::PgStore;

/// The server's URL, or `None` (after saying so) when the tests should skip.
pub(crate) fn server() -> Option<String> {
    match std::env::var("WAYMARK_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "WAYMARK_TEST_PG is not set: CI must run PostgreSQL tests (scripts/pg.sh)"
            );
            eprintln!("skipped: WAYMARK_TEST_PG is not set (eval \"$(scripts/pg.sh)\")");
            None
        }
    }
}

/// A fresh schema name, unique across the test processes of this machine.
pub(crate) fn fresh_schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("t_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// An empty store in a fresh schema, or `None` when there is no server to test against.
pub(crate) fn fresh() -> Option<PgStore> {
    let url = server()?;
    Some(PgStore::open_in_schema(&url, &fresh_schema()).expect("cannot open the test store"))
}

/// TLS as `sslmode` asks: plain, encrypted, or encrypted and verified against a root — and
/// refused when the server's certificate is not signed by a root the client trusts.
#[test]
fn connections_follow_sslmode_and_verify_the_server_when_asked() {
    let Some(url) = server() else { return };
    let Ok(ca) = std::env::var("WAYMARK_TEST_PG_CA") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "WAYMARK_TEST_PG_CA is not set: CI's cluster speaks TLS (scripts/pg.sh)"
        );
        eprintln!("skipped: WAYMARK_TEST_PG_CA is not set (a cluster of scripts/pg.sh with TLS)");
        return;
    };
    let open = |params: &str| PgStore::open_in_schema(&format!("{url}?{params}"), &fresh_schema());
    let ssl = |params: &str| -> bool {
        let mut s = open(params).unwrap_or_else(|e| panic!("{params}: {e}"));
        let row =
            s.client().query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]);
        row.expect("pg_stat_ssl").get(0)
    };
    assert!(!ssl("sslmode=disable"));
    assert!(ssl("sslmode=prefer"), "the server offers TLS: prefer takes it");
    assert!(ssl("sslmode=require"));
    assert!(ssl(&format!("sslmode=verify-full&sslrootcert={ca}")));
    assert!(ssl(&format!("sslmode=require&sslrootcert={ca}")));
    // The test CA is not among Mozilla's roots: verification fails, nothing connects.
    assert!(open("sslmode=verify-full").is_err(), "an unverifiable server was accepted");
    // A root given to `require` makes it verify too: another CA (pg.sh makes one that signed
    // nothing) is refused.
    let other = std::path::Path::new(&ca).with_file_name("other-ca.pem");
    assert!(other.exists(), "{} is missing (scripts/pg.sh makes it)", other.display());
    let refused = open(&format!("sslmode=require&sslrootcert={}", other.display()));
    assert!(refused.is_err(), "a server not signed by the given root was accepted");
}

mod events {
    use super::*;
    crate::event_store_suite!(match fresh() {
        Some(s) => s,
        None => return,
    });
}

mod scan {
    use super::*;
    crate::scan_store_suite!(match fresh() {
        Some(s) => s,
        None => return,
    });
}

mod audit {
    use super::*;
    use crate::postgres::audit::record_scanned;
    crate::audit_store_suite!(
        match fresh() {
            Some(s) => s,
            None => return,
        },
        record_scanned
    );
}

mod query {
    use super::*;
    crate::query_store_suite!(match fresh() {
        Some(s) => s,
        None => return,
    });
}

mod alert {
    use super::*;
    crate::alert_store_suite!(match fresh() {
        Some(s) => s,
        None => return,
    });
}

mod export {
    use super::*;
    crate::export_store_suite!(match fresh() {
        Some(s) => s,
        None => return,
    });
}

#[test]
fn reopening_keeps_rows_and_schema_version() {
    let Some(url) = server() else { return };
    let schema = fresh_schema();
    {
        let mut s = PgStore::open_in_schema(&url, &schema).unwrap();
        use crate::EventStore;
        s.source("file", "/x").unwrap();
    }
    let mut s = PgStore::open_in_schema(&url, &schema).unwrap();
    use crate::EventStore;
    assert_eq!(s.sources().unwrap().len(), 1);
    let v: i64 = s.client().query_one("SELECT version FROM waymark_schema", &[]).unwrap().get(0);
    assert_eq!(v, super::MIGRATIONS.len() as i64);
}

#[test]
fn views_answer_for_readers() {
    let Some(mut s) = fresh() else { return };
    use crate::EventStore;
    use waymark_core::correlate::Change;
    use waymark_core::pipeline::Batch;
    let src = s.source("file", "/v.log").unwrap().id;
    let mut b = Batch::default();
    b.changes.push(Change::Insert {
        origin: waymark_core::Origin { source: src, position: 3 },
        event: waymark_core::Event {
            system_id: "cmf".into(),
            checkpoint_id: "C".into(),
            ts_micros: 1_746_354_600_000_000,
            status: waymark_core::Status::Failure,
            correlation_id: "flow-9".into(),
            failure_reason: Some("disk".into()),
        },
    });
    b.set_position(src, 10, None);
    s.commit(&b).unwrap();
    let query = |s: &PgStore, sql: &str| {
        s.query_guarded(sql, crate::SqlLimits::default()).map(|a| (a.columns, a.rows))
    };
    let (names, rows) =
        query(&s, "SELECT timestamp, correlation_id, failure_reason, source FROM failures_v")
            .unwrap();
    assert_eq!(names, ["timestamp", "correlation_id", "failure_reason", "source"]);
    assert_eq!(rows.len(), 1);
    assert!(rows[0][0].starts_with("2025-05-04T10:30:00"), "{:?}", rows[0]);
    assert_eq!(rows[0][1..], ["flow-9", "disk", "/v.log"]);
    for view in [
        "events_v",
        "runs_v",
        "steps_v",
        "waiting_v",
        "dead_letters_v",
        "sources_v",
        "scan_results_v",
    ] {
        query(&s, &format!("SELECT * FROM {view}")).unwrap();
    }
    let refused = query(&s, "DELETE FROM events");
    assert!(refused.is_err());
    assert_eq!(s.stats().unwrap().events, 1);
}
