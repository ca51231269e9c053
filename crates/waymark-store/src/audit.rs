//! [`AuditStore`]: `etl_log_audit`, one row per ETL run, and the conformance suite every
//! backend passes ([`audit_store_suite!`]).
//!
//! Upserts never blank a known value: the store reads the stored row and writes
//! [`merge_rows`](waymark_core::audit::merge_rows) of it and the new reading, so the rule lives
//! in one pure function that every backend shares.

use waymark_core::audit::{AuditUpsert, PendingAudit, RunFilter, Step, StoredRun, UpsertSummary};

use crate::Result;

/// Audit rows and the bookkeeping of which scanned file versions were audited.
pub trait AuditStore {
    /// Scanned file versions (`scanned_files`, active, classified) whose scan reached further
    /// than their last audit.
    fn pending_audits(&self) -> Result<Vec<PendingAudit>>;

    /// Upserts runs by key and, when given, records that `(logscan_id, position)` is audited;
    /// all in one transaction.
    fn upsert_runs(
        &mut self,
        runs: &[AuditUpsert],
        audited: Option<(i64, u64)>,
    ) -> Result<UpsertSummary>;

    /// Runs, filtered, in order of start (runs without a start last), each with its steps.
    fn runs(&self, filter: &RunFilter) -> Result<Vec<StoredRun>>;

    /// One run by its key, with its steps.
    fn stored_run(&self, run_key: &str) -> Result<Option<StoredRun>>;

    /// The steps of one run, in order of first appearance (none when the run is unknown).
    fn steps(&self, run_key: &str) -> Result<Vec<Step>>;
}

/// Instantiates the suite for a backend, given an expression that makes an empty store
/// (implementing [`AuditStore`]) and a function `fn(&S, logscan_id, path, system_type,
/// position)` that records a scanned file version the way `waymark scan` does.
#[macro_export]
macro_rules! audit_store_suite {
    ($make:expr, $scanned:path) => {
        mod audit_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::audit_store_suite!(@tests $make, $scanned;
                upsert_inserts_then_updates_by_key,
                upsert_never_blanks_a_known_value,
                status_never_goes_back_to_running,
                lists_merge_in_order_without_duplicates,
                runs_filter_by_status_system_and_time,
                pending_audits_follow_scan_positions,
                text_from_logs_is_stored_verbatim,
                steps_are_keyed_by_run_and_never_blanked,
                a_failed_step_fails_its_run,
            );
        }
    };
    (@tests $make:expr, $scanned:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let mut store = $make;
                $crate::audit_conformance::$name(&mut store, &$scanned);
            }
        )*
    };
}

/// The checks, one plain function each: compiled for this crate's tests and, with the
/// `conformance` feature, for any backend outside it.
#[cfg(any(test, feature = "conformance"))]
pub mod suite {
    use waymark_core::audit::{
        AuditRow, AuditUpsert, RunFilter, RunStatus, Step, StoredRun, UpsertSummary,
    };

    use super::AuditStore;

    /// Records a scanned file version: `(store, logscan_id, path, system_type, position)`.
    pub type ScannedFn<S> = dyn Fn(&S, i64, &str, &str, u64);

    fn upsert(key: &str, row: AuditRow) -> AuditUpsert {
        AuditUpsert {
            run_key: key.into(),
            row,
            logscan_id: Some(1),
            log_file: Some("/l.log".into()),
        }
    }

    fn session(status: RunStatus) -> AuditRow {
        AuditRow {
            folder_name: Some("F".into()),
            workflow_name: Some("wf".into()),
            session_name: Some("s1".into()),
            run_id: Some("7".into()),
            status,
            ..AuditRow::new("INFA_SESSION")
        }
    }

    fn all(s: &dyn AuditStore) -> Vec<StoredRun> {
        s.runs(&RunFilter::default()).unwrap()
    }

    pub fn upsert_inserts_then_updates_by_key<S: AuditStore>(s: &mut S, _: &ScannedFn<S>) {
        let a = upsert("k1", session(RunStatus::Running));
        let sum = s.upsert_runs(std::slice::from_ref(&a), None).unwrap();
        assert_eq!(sum, UpsertSummary { inserted: 1, updated: 0, unchanged: 0 });
        let sum = s.upsert_runs(std::slice::from_ref(&a), None).unwrap();
        assert_eq!(sum, UpsertSummary { inserted: 0, updated: 0, unchanged: 1 });
        let mut done = a.clone();
        done.row.status = RunStatus::Success;
        let sum = s.upsert_runs(&[done, upsert("k2", session(RunStatus::Failure))], None).unwrap();
        assert_eq!(sum, UpsertSummary { inserted: 1, updated: 1, unchanged: 0 });
        let runs = all(s);
        assert_eq!(runs.len(), 2);
        let k1 = runs.iter().find(|r| r.run_key == "k1").unwrap();
        assert_eq!(k1.row.status, RunStatus::Success);
        assert_eq!(k1.log_file.as_deref(), Some("/l.log"));
        assert_eq!(k1.logscan_id, Some(1));
        assert!(k1.updated_at.ends_with('Z'));
    }

    pub fn upsert_never_blanks_a_known_value<S: AuditStore>(s: &mut S, _: &ScannedFn<S>) {
        let mut first = session(RunStatus::Running);
        first.start_time = Some(1_736_128_804_000_000);
        first.source_rows = Some(88_000);
        first.extra.insert("host".into(), "h1".into());
        s.upsert_runs(&[upsert("k", first)], None).unwrap();
        let mut second = AuditRow::new("INFA_SESSION");
        second.status = RunStatus::Success;
        second.end_time = Some(1_736_128_875_500_000);
        second.target_rows = Some(0);
        s.upsert_runs(&[upsert("k", second)], None).unwrap();
        let r = &all(s)[0].row;
        assert_eq!(r.folder_name.as_deref(), Some("F"));
        assert_eq!(r.run_id.as_deref(), Some("7"));
        assert_eq!(r.start_time, Some(1_736_128_804_000_000));
        assert_eq!(r.end_time, Some(1_736_128_875_500_000));
        assert_eq!(r.duration_seconds(), Some(71.5));
        assert_eq!((r.source_rows, r.target_rows, r.rejected_rows), (Some(88_000), Some(0), None));
        assert_eq!(r.extra.get("host"), Some(&serde_json::Value::from("h1")));
        assert_eq!(r.status, RunStatus::Success);
    }

    pub fn status_never_goes_back_to_running<S: AuditStore>(s: &mut S, _: &ScannedFn<S>) {
        s.upsert_runs(&[upsert("k", session(RunStatus::Failure))], None).unwrap();
        s.upsert_runs(&[upsert("k", session(RunStatus::Running))], None).unwrap();
        s.upsert_runs(&[upsert("k", session(RunStatus::Unknown))], None).unwrap();
        assert_eq!(all(s)[0].row.status, RunStatus::Failure);
    }

    pub fn lists_merge_in_order_without_duplicates<S: AuditStore>(s: &mut S, _: &ScannedFn<S>) {
        let mut a = session(RunStatus::Running);
        a.source_name = vec!["ORDERS".into(), "CUSTOMERS".into()];
        s.upsert_runs(&[upsert("k", a)], None).unwrap();
        let mut b = session(RunStatus::Running);
        b.source_name = vec!["CUSTOMERS".into(), "ITEMS".into()];
        b.target_name = vec!["F".into()];
        s.upsert_runs(&[upsert("k", b)], None).unwrap();
        let r = &all(s)[0].row;
        assert_eq!(r.source_name, vec!["ORDERS", "CUSTOMERS", "ITEMS"]);
        assert_eq!(r.target_name, vec!["F"]);
    }

    pub fn runs_filter_by_status_system_and_time<S: AuditStore>(s: &mut S, _: &ScannedFn<S>) {
        let mut rows = Vec::new();
        for (i, (system, status)) in [
            ("INFA_SESSION", RunStatus::Success),
            ("INFA_SESSION", RunStatus::Failure),
            ("DBT", RunStatus::Failure),
            ("DBT", RunStatus::Running),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = AuditRow::new(system);
            r.status = status;
            r.start_time = Some(1_000_000 * (i as i64 + 1));
            rows.push(upsert(&format!("k{i}"), r));
        }
        let mut no_start = AuditRow::new("JENKINS");
        no_start.status = RunStatus::Failure;
        rows.push(upsert("k9", no_start));
        s.upsert_runs(&rows, None).unwrap();
        let keys = |f: RunFilter| -> Vec<String> {
            s.runs(&f).unwrap().into_iter().map(|r| r.run_key).collect()
        };
        assert_eq!(keys(RunFilter::default()), ["k0", "k1", "k2", "k3", "k9"]);
        let failed = RunFilter { status: Some(RunStatus::Failure), ..RunFilter::default() };
        assert_eq!(keys(failed.clone()), ["k1", "k2", "k9"]);
        let dbt_failed = RunFilter { system_type: Some("DBT".into()), ..failed };
        assert_eq!(keys(dbt_failed), ["k2"]);
        let window =
            RunFilter { since: Some(2_000_000), until: Some(4_000_000), ..RunFilter::default() };
        assert_eq!(keys(window), ["k1", "k2"], "since inclusive, until exclusive");
        assert_eq!(
            keys(RunFilter { limit: 2, ..RunFilter::default() }),
            ["k3", "k9"],
            "the latest"
        );
    }

    pub fn pending_audits_follow_scan_positions<S: AuditStore>(s: &mut S, scanned: &ScannedFn<S>) {
        scanned(s, 1, "/logs/a.log", "INFA_SESSION", 100);
        scanned(s, 2, "/logs/b.log", "UNKNOWN", 50);
        scanned(s, 3, "/logs/c.json", "DBT", 70);
        let pending = s.pending_audits().unwrap();
        let ids: Vec<i64> = pending.iter().map(|p| p.logscan_id).collect();
        assert_eq!(ids, [1, 3], "unclassified files are not audited");
        assert_eq!(pending[0].file_path, "/logs/a.log");
        assert_eq!((pending[0].system_type.as_str(), pending[0].position), ("INFA_SESSION", 100));
        s.upsert_runs(&[], Some((1, 100))).unwrap();
        s.upsert_runs(&[], Some((3, 70))).unwrap();
        assert!(s.pending_audits().unwrap().is_empty(), "a rerun does no work");
        scanned(s, 1, "/logs/a.log", "INFA_SESSION", 180);
        let pending = s.pending_audits().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].logscan_id, pending[0].position), (1, 180));
    }

    pub fn text_from_logs_is_stored_verbatim<S: AuditStore>(s: &mut S, _: &ScannedFn<S>) {
        let mut r = session(RunStatus::Failure);
        r.error_message =
            Some("ORA-00942: 'x'); DROP TABLE etl_log_audit; --\n\"quoted\" ✓".into());
        r.source_name = vec!["A\"B".into(), "[C]".into()];
        s.upsert_runs(&[upsert("k'\"", r.clone())], None).unwrap();
        let got = all(s);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].run_key, "k'\"");
        assert_eq!(got[0].row.error_message, r.error_message);
        assert_eq!(got[0].row.source_name, r.source_name);
    }

    fn step(name: &str, status: RunStatus) -> Step {
        Step { status, ..Step::new(name, Some("model")) }
    }

    pub fn steps_are_keyed_by_run_and_never_blanked<S: AuditStore>(s: &mut S, _: &ScannedFn<S>) {
        // A dbt.log reading: two nodes, times read off the text.
        let mut log = AuditRow::new("DBT");
        log.run_id = Some("inv-1".into());
        log.status = RunStatus::Running;
        let mut a = step("model.p.a", RunStatus::Success);
        a.start_time = Some(1_000_000);
        a.end_time = Some(2_000_000);
        a.rows = Some(7);
        log.steps = vec![a, step("model.p.b", RunStatus::Running)];
        s.upsert_runs(&[upsert("DBT|inv-1", log.clone())], None).unwrap();
        // Another run with a step of the same name: steps belong to their run.
        let mut other = AuditRow::new("DBT");
        other.steps = vec![step("model.p.a", RunStatus::Failure)];
        s.upsert_runs(&[upsert("DBT|inv-2", other)], None).unwrap();
        // The run_results.json of inv-1: exact times, b finished, no rows for a.
        let mut json = AuditRow::new("DBT");
        json.run_id = Some("inv-1".into());
        json.status = RunStatus::Success;
        let mut a2 = step("model.p.a", RunStatus::Success);
        a2.start_time = Some(1_100_000);
        a2.exact = true;
        let mut b2 = step("model.p.b", RunStatus::Success);
        b2.end_time = Some(3_000_000);
        b2.exact = true;
        json.steps = vec![b2, a2];
        let sum = s.upsert_runs(&[upsert("DBT|inv-1", json)], None).unwrap();
        assert_eq!(sum.updated, 1);
        let got = s.steps("DBT|inv-1").unwrap();
        let names: Vec<&str> = got.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["model.p.a", "model.p.b"], "order of first appearance");
        assert_eq!(got[0].start_time, Some(1_100_000), "the exact reading wins");
        assert_eq!(got[0].end_time, Some(2_000_000), "never blanked");
        assert_eq!(got[0].rows, Some(7));
        assert_eq!(got[1].status, RunStatus::Success);
        assert!(got[1].exact);
        assert_eq!(s.steps("DBT|inv-2").unwrap()[0].status, RunStatus::Failure);
        assert!(s.steps("nope").unwrap().is_empty());
        let run = s.stored_run("DBT|inv-1").unwrap().unwrap();
        assert_eq!(run.row.steps, got);
        assert_eq!(all(s).iter().map(|r| r.row.steps.len()).sum::<usize>(), 3);
        // The same reading again changes nothing.
        let sum = s.upsert_runs(&[upsert("DBT|inv-1", log)], None).unwrap();
        assert_eq!(sum, UpsertSummary { inserted: 0, updated: 0, unchanged: 1 });
    }

    pub fn a_failed_step_fails_its_run<S: AuditStore>(s: &mut S, _: &ScannedFn<S>) {
        let mut first = AuditRow::new("DBT");
        first.status = RunStatus::Success;
        first.steps = vec![step("model.p.a", RunStatus::Success)];
        s.upsert_runs(&[upsert("k", first)], None).unwrap();
        let mut failed = step("test.p.t", RunStatus::Failure);
        failed.message = Some("Got 3 results, configured to fail if != 0".into());
        let mut second = AuditRow::new("DBT");
        second.steps = vec![failed];
        s.upsert_runs(&[upsert("k", second)], None).unwrap();
        let r = s.stored_run("k").unwrap().unwrap().row;
        assert_eq!(r.status, RunStatus::Failure);
        assert_eq!(r.error_message.as_deref(), Some("Got 3 results, configured to fail if != 0"));
        assert_eq!(r.steps.len(), 2);
    }
}
