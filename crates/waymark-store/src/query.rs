//! [`QueryStore`]: the read side, as the CLI and the HTTP API ask it — filters and keyset
//! pagination with opaque cursors (never `OFFSET`), answers as the core's
//! [`answer`](waymark_core::answer) types — and its conformance suite
//! ([`query_store_suite!`](crate::query_store_suite)).

use waymark_core::answer::{
    Cursor, DeadLetterView, EventView, FlagClock, FlowTrace, OrphanView, Page, RunView,
    ScanResultView, StatusView, Summary,
};
use waymark_core::audit::RunStatus;

use crate::{Result, StoreError};

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The `next_cursor` of the previous page, as the client gave it back.
    pub cursor: Option<String>,
    /// Rows per page; 0 = all (the CLI's `--limit 0`).
    pub limit: usize,
}

impl PageRequest {
    pub fn first(limit: usize) -> PageRequest {
        PageRequest { cursor: None, limit }
    }

    /// The decoded cursor, with `arity` keys; a cursor that is not one is the caller's error.
    pub fn after(&self, arity: usize) -> Result<Option<Cursor>> {
        match &self.cursor {
            None => Ok(None),
            Some(text) => Cursor::decode(text, arity)
                .map(Some)
                .map_err(|e| StoreError::InvalidCursor(e.to_string())),
        }
    }

    /// Rows to fetch: one more than the page, to know whether a next one exists.
    pub fn fetch(&self) -> i64 {
        if self.limit == 0 {
            -1
        } else {
            self.limit as i64 + 1
        }
    }
}

/// Which failures, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureQuery {
    pub system: Option<String>,
    pub checkpoint: Option<String>,
    /// Inclusive lower bound on event time, microseconds since the epoch.
    pub since: Option<i64>,
    /// Exclusive upper bound.
    pub until: Option<i64>,
    /// Only failures whose reason is not (yet) known.
    pub without_reason: bool,
}

/// Which orphans, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanQuery {
    pub system: Option<String>,
    /// `failure` or `reason`.
    pub kind: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Which dead letters, in order of origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterQuery {
    /// The reason's kind (`bad_json`, …).
    pub kind: Option<String>,
    /// The source's name, exactly.
    pub source: Option<String>,
}

/// Which runs, the latest start first (runs without a start before all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunQuery {
    pub status: Option<RunStatus>,
    pub system_type: Option<String>,
    /// On the run's start, inclusive; runs without a start are then left out.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only runs with a reconciliation flag.
    pub flagged: bool,
    /// What flags are judged against.
    pub clock: FlagClock,
}

impl RunQuery {
    pub fn all(clock: FlagClock) -> RunQuery {
        RunQuery {
            status: None,
            system_type: None,
            since: None,
            until: None,
            flagged: false,
            clock,
        }
    }
}

/// Which scan results, in order of storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanResultQuery {
    pub system_type: Option<String>,
    /// `ERROR`, `WARNING` or `INFO`.
    pub severity: Option<String>,
    pub rule: Option<String>,
    pub file_path: Option<String>,
    pub logscan_id: Option<i64>,
}

/// The read side of a store.
pub trait QueryStore {
    /// The events of one correlation id across systems, in time order, with the verdict.
    fn flow(&self, correlation_id: &str) -> Result<FlowTrace>;

    fn failure_page(&self, q: &FailureQuery, page: &PageRequest) -> Result<Page<EventView>>;

    fn orphan_page(&self, q: &OrphanQuery, page: &PageRequest) -> Result<Page<OrphanView>>;

    fn dead_letter_page(
        &self,
        q: &DeadLetterQuery,
        page: &PageRequest,
    ) -> Result<Page<DeadLetterView>>;

    fn run_page(&self, q: &RunQuery, page: &PageRequest) -> Result<Page<RunView>>;

    /// One run by its key.
    fn run(&self, run_key: &str, clock: FlagClock) -> Result<Option<RunView>>;

    fn scan_result_page(
        &self,
        q: &ScanResultQuery,
        page: &PageRequest,
    ) -> Result<Page<ScanResultView>>;

    /// Row counts and the sources with their positions.
    fn status(&self) -> Result<StatusView>;

    /// Event counts by system, checkpoint, status and hour in `[since, until)`.
    fn summary(&self, since: Option<i64>, until: Option<i64>) -> Result<Summary>;
}

/// A page of rows fetched with their sort keys (one more row than the page).
pub(crate) fn keyed_page<T>(rows: Vec<(Cursor, T)>, limit: usize) -> Page<T> {
    let page = Page::from_rows(rows, limit, |(k, _)| k.clone());
    Page { items: page.items.into_iter().map(|(_, t)| t).collect(), next_cursor: page.next_cursor }
}

use waymark_core::answer::{CheckpointCount, HourCount, SystemCount};
use waymark_core::normalize::format_utc;

/// One row of a summary's query: system, checkpoint, status, hour (microseconds at its
/// start), events, ordered by system, checkpoint and hour.
pub type SummaryRow = (String, String, String, i64, u64);

/// The [`Summary`] of `[since, until)` from its grouped rows — every backend's query gives
/// the rows, this one fold gives the answer.
pub fn summary_of(
    since: Option<i64>,
    until: Option<i64>,
    rows: Vec<SummaryRow>,
) -> Result<Summary> {
    let mut summary = Summary {
        since: since.map(format_utc),
        until: until.map(format_utc),
        events: 0,
        failures: 0,
        by_system: Vec::new(),
        by_checkpoint: Vec::new(),
        by_hour: Vec::new(),
    };
    let mut hours: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
    for (system, checkpoint, status, hour, n) in rows {
        let failed = match status.as_str() {
            "FAILURE" => true,
            "SUCCESS" => false,
            _ => return Err(StoreError::Corrupt { column: "events.status", value: status }),
        };
        let add = |success: &mut u64, failure: &mut u64| {
            if failed {
                *failure += n;
            } else {
                *success += n;
            }
        };
        summary.events += n;
        summary.failures += if failed { n } else { 0 };
        if summary.by_system.last().is_none_or(|s| s.system_id != system) {
            summary.by_system.push(SystemCount {
                system_id: system.clone(),
                success: 0,
                failure: 0,
            });
        }
        if let Some(s) = summary.by_system.last_mut() {
            add(&mut s.success, &mut s.failure);
        }
        if summary
            .by_checkpoint
            .last()
            .is_none_or(|c| c.system_id != system || c.checkpoint_id != checkpoint)
        {
            summary.by_checkpoint.push(CheckpointCount {
                system_id: system,
                checkpoint_id: checkpoint,
                success: 0,
                failure: 0,
            });
        }
        if let Some(c) = summary.by_checkpoint.last_mut() {
            add(&mut c.success, &mut c.failure);
        }
        let h = hours.entry(hour).or_default();
        add(&mut h.0, &mut h.1);
    }
    summary.by_hour = hours
        .into_iter()
        .map(|(hour, (success, failure))| HourCount { hour: format_utc(hour), success, failure })
        .collect();
    Ok(summary)
}

/// An hour in microseconds: the unit of the counts kept at insert (`event_counts`).
pub(crate) const HOUR_US: i64 = 3_600_000_000;

/// The start of the hour of `ts_micros` (the key of `event_counts`).
pub(crate) fn hour_of(ts_micros: i64) -> i64 {
    ts_micros - ts_micros.rem_euclid(HOUR_US)
}

/// Whether a summary of `[since, until)` can be read from the counts kept per hour: both
/// bounds whole hours (or absent). A window cut inside an hour needs the events themselves.
pub(crate) fn counts_cover(since: Option<i64>, until: Option<i64>) -> bool {
    let whole = |t: Option<i64>| t.is_none_or(|t| t.rem_euclid(HOUR_US) == 0);
    whole(since) && whole(until)
}

/// Instantiates the [`QueryStore`] suite for a backend, given an expression that makes an
/// empty store implementing [`EventStore`](crate::EventStore), [`AuditStore`](crate::AuditStore),
/// [`ScanStore`](crate::ScanStore) and [`QueryStore`].
#[macro_export]
macro_rules! query_store_suite {
    ($make:expr) => {
        mod query_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::query_store_suite!(@tests $make;
                flow_has_events_in_time_order_and_a_verdict,
                failure_pages_cover_every_row_once,
                failure_filters,
                orphans_and_dead_letters_page_and_filter,
                run_pages_newest_first_with_filters_and_flags,
                one_run_by_key,
                scan_results_page_and_filter,
                status_and_summary_count_rows,
                counts_stay_exact_through_replays,
                a_foreign_cursor_is_refused,
            );
        }
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let mut store = $make;
                $crate::query::conformance::$name(&mut store);
            }
        )*
    };
}

/// The checks of [`query_store_suite!`](crate::query_store_suite), one function each.
pub mod conformance {
    use waymark_core::answer::{FlagClock, VerdictState};
    use waymark_core::audit::{AuditRow, AuditUpsert, RunStatus};
    use waymark_core::correlate::{Change, Pending, PendingKind};
    use waymark_core::parse::{Reject, RejectKind};
    use waymark_core::pipeline::{Batch, DeadLetter};
    use waymark_core::scan::{ScanCommit, ScanResult, ScannedFile};
    use waymark_core::{Event, Origin, Status};

    use super::*;
    use crate::{AuditStore, EventStore, ScanStore};

    const T0: i64 = 1_746_354_600_000_000; // 2025-05-04T10:30:00Z

    fn event(
        cid: &str,
        system: &str,
        cp: &str,
        secs: i64,
        status: Status,
        reason: Option<&str>,
    ) -> Event {
        Event {
            system_id: system.into(),
            checkpoint_id: cp.into(),
            ts_micros: T0 + secs * 1_000_000,
            status,
            correlation_id: cid.into(),
            failure_reason: reason.map(Into::into),
        }
    }

    /// Stores `events` from one file source, at positions 0, 1, 2…
    fn store_events<S: EventStore + ?Sized>(s: &mut S, events: Vec<Event>) {
        store_events_from(s, "/q.log", events);
    }

    fn store_events_from<S: EventStore + ?Sized>(s: &mut S, source: &str, events: Vec<Event>) {
        let src = s.source("file", source).unwrap();
        let mut batch = Batch::default();
        for (i, e) in events.into_iter().enumerate() {
            batch.changes.push(Change::Insert {
                origin: Origin { source: src.id, position: i as u64 },
                event: e,
            });
        }
        s.commit(&batch).unwrap();
    }

    /// 30 failures over 3 systems (one in three without a reason) and 10 successes.
    fn many<S: EventStore + ?Sized>(s: &mut S) {
        let mut events = Vec::new();
        for i in 0..30 {
            let system = ["a", "b", "c"][i % 3];
            let reason = (i % 3 != 2).then_some("r");
            // Pairs of failures share a time, so the cursor must break ties.
            events.push(event(
                &format!("f{i}"),
                system,
                "CP",
                (i / 2) as i64,
                Status::Failure,
                reason,
            ));
        }
        for i in 0..10 {
            events.push(event(&format!("s{i}"), "a", "OK", i, Status::Success, None));
        }
        store_events(s, events);
    }

    /// Every page of a list, following the cursors.
    fn all_pages<T>(
        mut next: impl FnMut(&PageRequest) -> Page<T>,
        limit: usize,
    ) -> (Vec<T>, usize) {
        let mut req = PageRequest::first(limit);
        let mut out = Vec::new();
        let mut pages = 0;
        loop {
            let page = next(&req);
            pages += 1;
            assert!(limit == 0 || page.items.len() <= limit, "a page holds at most its limit");
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => req.cursor = Some(c),
                None => return (out, pages),
            }
            assert!(pages < 1000, "the cursors must end");
        }
    }

    pub fn flow_has_events_in_time_order_and_a_verdict<S: EventStore + QueryStore>(s: &mut S) {
        store_events(
            s,
            vec![
                event("x", "b", "B1", 5, Status::Failure, Some("card declined")),
                event("x", "a", "A1", 0, Status::Success, None),
                event("y", "a", "A1", 1, Status::Success, None),
            ],
        );
        let t = s.flow("x").unwrap();
        assert_eq!(t.correlation_id, "x");
        let cps: Vec<&str> = t.events.iter().map(|e| e.checkpoint_id.as_str()).collect();
        assert_eq!(cps, ["A1", "B1"]);
        assert_eq!(t.systems, ["a", "b"]);
        assert_eq!(t.events[0].timestamp, "2025-05-04T10:30:00Z");
        assert_eq!(t.events[0].source, "/q.log");
        assert_eq!(t.events[1].position, 0);
        assert_eq!(t.verdict.state, VerdictState::Failed);
        assert!(t.verdict.text.contains("card declined"), "{}", t.verdict.text);
        let none = s.flow("nope").unwrap();
        assert!(none.events.is_empty());
        assert_eq!(none.verdict.state, VerdictState::Empty);
    }

    pub fn failure_pages_cover_every_row_once<S: EventStore + QueryStore>(s: &mut S) {
        many(s);
        let q = FailureQuery::default();
        let (one_go, pages) = all_pages(|p| s.failure_page(&q, p).unwrap(), 0);
        assert_eq!((one_go.len(), pages), (30, 1));
        for limit in [1, 7, 10, 29, 30, 31] {
            let (paged, pages) = all_pages(|p| s.failure_page(&q, p).unwrap(), limit);
            assert_eq!(paged, one_go, "limit {limit}: the same rows in the same order");
            assert_eq!(pages, 30_usize.div_ceil(limit), "limit {limit}: no empty last page");
        }
        let times: Vec<&str> = one_go.iter().map(|e| e.timestamp.as_str()).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "oldest first");
        // Rows stored after a page was read appear on the following pages, none twice.
        let first = s.failure_page(&q, &PageRequest::first(10)).unwrap();
        store_events_from(
            s,
            "/late.log",
            vec![event("late", "a", "CP", 100, Status::Failure, None)],
        );
        let mut req = PageRequest { cursor: first.next_cursor, limit: 100 };
        let rest = s.failure_page(&q, &req).unwrap();
        assert_eq!(rest.items.len(), 21);
        assert_eq!(rest.items.last().map(|e| e.correlation_id.as_str()), Some("late"));
        req.cursor = None;
        assert_eq!(s.failure_page(&q, &req).unwrap().items.len(), 31);
    }

    pub fn failure_filters<S: EventStore + QueryStore>(s: &mut S) {
        many(s);
        let count =
            |q: FailureQuery| s.failure_page(&q, &PageRequest::first(0)).unwrap().items.len();
        assert_eq!(count(FailureQuery { system: Some("b".into()), ..Default::default() }), 10);
        assert_eq!(count(FailureQuery { checkpoint: Some("OK".into()), ..Default::default() }), 0);
        assert_eq!(count(FailureQuery { without_reason: true, ..Default::default() }), 10);
        let window = FailureQuery {
            since: Some(T0 + 2_000_000),
            until: Some(T0 + 4_000_000),
            ..Default::default()
        };
        assert_eq!(count(window), 4, "since inclusive, until exclusive");
        let q =
            FailureQuery { system: Some("a".into()), without_reason: false, ..Default::default() };
        let (paged, _) = all_pages(|p| s.failure_page(&q, p).unwrap(), 3);
        assert_eq!(paged.len(), 10);
        assert!(paged.iter().all(|e| e.system_id == "a" && e.status == "FAILURE"));
    }

    pub fn orphans_and_dead_letters_page_and_filter<S: EventStore + QueryStore>(s: &mut S) {
        let src = s.source("file", "/o.log").unwrap();
        let mut batch = Batch::default();
        for i in 0..6_u64 {
            let kind = if i % 2 == 0 { PendingKind::Failure } else { PendingKind::Reason };
            let key = Origin { source: src.id, position: i };
            batch.changes.push(Change::Wait(Pending {
                key,
                kind,
                system_id: if i < 3 { "cmf".into() } else { "bcis".into() },
                correlation_id: format!("o{i}"),
                ts_micros: T0 + i as i64,
                reason: (kind == PendingKind::Reason).then(|| "why".into()),
            }));
            if i != 5 {
                batch.changes.push(Change::Orphaned { key });
            }
            batch.dead_letters.push(DeadLetter {
                origin: Origin { source: src.id, position: 100 + i },
                reason: Reject::new(
                    if i < 4 { RejectKind::BadJson } else { RejectKind::InvalidUtf8 },
                    "bad",
                ),
                raw: vec![b'{', 0xff, b'x'],
                raw_len: 3,
            });
        }
        s.commit(&batch).unwrap();
        let q = OrphanQuery::default();
        let (all, _) = all_pages(|p| s.orphan_page(&q, p).unwrap(), 2);
        let ids: Vec<&str> = all.iter().map(|o| o.correlation_id.as_str()).collect();
        assert_eq!(ids, ["o0", "o1", "o2", "o3", "o4"], "the waiting half is no orphan");
        assert_eq!(all[1].kind, "reason");
        assert_eq!(all[1].failure_reason.as_deref(), Some("why"));
        assert_eq!((all[4].source.as_str(), all[4].position), ("/o.log", 4));
        let cmf = OrphanQuery {
            system: Some("cmf".into()),
            kind: Some("failure".into()),
            ..Default::default()
        };
        let got = s.orphan_page(&cmf, &PageRequest::first(0)).unwrap().items;
        assert_eq!(got.iter().map(|o| o.correlation_id.as_str()).collect::<Vec<_>>(), ["o0", "o2"]);
        let dq = DeadLetterQuery::default();
        let (dl, pages) = all_pages(|p| s.dead_letter_page(&dq, p).unwrap(), 4);
        assert_eq!((dl.len(), pages), (6, 2));
        assert_eq!(
            dl.iter().map(|d| d.position).collect::<Vec<_>>(),
            [100, 101, 102, 103, 104, 105]
        );
        assert_eq!(dl[0].raw, "{\u{fffd}x");
        assert_eq!(dl[0].kind, RejectKind::BadJson.as_str());
        let utf = DeadLetterQuery {
            kind: Some(RejectKind::InvalidUtf8.as_str().into()),
            source: Some("/o.log".into()),
        };
        assert_eq!(s.dead_letter_page(&utf, &PageRequest::first(0)).unwrap().items.len(), 2);
        let elsewhere = DeadLetterQuery { source: Some("/other".into()), ..Default::default() };
        assert!(s.dead_letter_page(&elsewhere, &PageRequest::first(0)).unwrap().items.is_empty());
    }

    fn clock() -> FlagClock {
        FlagClock { now_micros: 10_000_000_000, running_timeout_secs: 60 }
    }

    fn runs<S: AuditStore>(s: &mut S) {
        let mut rows = Vec::new();
        for i in 0..12_i64 {
            let mut r = AuditRow::new(if i % 2 == 0 { "DBT" } else { "INFA_SESSION" });
            r.status = [RunStatus::Success, RunStatus::Failure, RunStatus::Running][i as usize % 3];
            // Pairs share a start, so the cursor must break ties.
            r.start_time = Some(1_000_000 * (i / 2 + 1));
            if i == 4 {
                (r.source_rows, r.target_rows) = (Some(10), Some(9));
            }
            rows.push(AuditUpsert {
                run_key: format!("k{i:02}"),
                row: r,
                logscan_id: None,
                log_file: None,
            });
        }
        let mut no_start = AuditRow::new("JENKINS");
        no_start.status = RunStatus::Failure;
        rows.push(AuditUpsert {
            run_key: "nostart".into(),
            row: no_start,
            logscan_id: None,
            log_file: None,
        });
        s.upsert_runs(&rows, None).unwrap();
    }

    pub fn run_pages_newest_first_with_filters_and_flags<S: AuditStore + QueryStore>(s: &mut S) {
        runs(s);
        let q = RunQuery::all(clock());
        let (one_go, _) = all_pages(|p| s.run_page(&q, p).unwrap(), 0);
        let keys: Vec<&str> = one_go.iter().map(|r| r.run_key.as_str()).collect();
        assert_eq!(keys[0], "nostart", "no start counts as the latest");
        assert_eq!(keys[1..3], ["k11", "k10"]);
        assert_eq!(keys.last(), Some(&"k00"));
        for limit in [1, 5, 13] {
            let (paged, _) = all_pages(|p| s.run_page(&q, p).unwrap(), limit);
            assert_eq!(paged, one_go, "limit {limit}");
        }
        let failed = RunQuery { status: Some(RunStatus::Failure), ..q.clone() };
        let (got, _) = all_pages(|p| s.run_page(&failed, p).unwrap(), 2);
        assert_eq!(
            got.iter().map(|r| r.run_key.as_str()).collect::<Vec<_>>(),
            ["nostart", "k10", "k07", "k04", "k01"]
        );
        let dbt = RunQuery {
            system_type: Some("DBT".into()),
            since: Some(2_000_000),
            until: Some(4_000_000),
            ..q.clone()
        };
        let got = s.run_page(&dbt, &PageRequest::first(0)).unwrap().items;
        assert_eq!(got.iter().map(|r| r.run_key.as_str()).collect::<Vec<_>>(), ["k04", "k02"]);
        // Flagged: k04's counts do not add up; RUNNING runs started long before `now` are stale.
        let flagged = RunQuery { flagged: true, ..q.clone() };
        let (got, _) = all_pages(|p| s.run_page(&flagged, p).unwrap(), 1);
        let keys: Vec<&str> = got.iter().map(|r| r.run_key.as_str()).collect();
        assert_eq!(keys, ["k11", "k08", "k05", "k04", "k02"]);
        assert!(got.iter().all(|r| !r.flags.is_empty()));
        assert_eq!(got[3].flags, ["count_mismatch"]);
        assert_eq!(got[0].flags, ["stale_running"]);
    }

    pub fn one_run_by_key<S: AuditStore + QueryStore>(s: &mut S) {
        runs(s);
        let r = s.run("k04", clock()).unwrap().unwrap();
        assert_eq!(
            (r.run_key.as_str(), r.status.as_str(), r.system_type.as_str()),
            ("k04", "FAILURE", "DBT")
        );
        assert_eq!(r.start_time.as_deref(), Some("1970-01-01T00:00:03Z"));
        assert!(s.run("k99", clock()).unwrap().is_none());
        let listed = s.run_page(&RunQuery::all(clock()), &PageRequest::first(0)).unwrap().items;
        assert_eq!(
            listed.iter().find(|x| x.run_key == "k04"),
            Some(&r),
            "one value, listed or alone"
        );
    }

    pub fn scan_results_page_and_filter<S: ScanStore + QueryStore>(s: &mut S) {
        let mut ids = Vec::new();
        for (path, system) in [("/l/a.log", "INFA_SESSION"), ("/l/b.log", "DBT")] {
            let f = ScannedFile {
                file_path: path.into(),
                system_type: system.into(),
                ..ScannedFile::default()
            };
            ids.push(s.begin_version(&f, None).unwrap());
        }
        let mut commits = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            let mut file = s.scanned_file(*id).unwrap().unwrap();
            file.position = 100;
            let results = (0..5_u64)
                .map(|i| ScanResult {
                    line_number: i + 1,
                    byte_offset: i * 10,
                    rule: if i % 2 == 0 { "ora".into() } else { "warn".into() },
                    severity: if i % 2 == 0 { "ERROR" } else { "WARNING" },
                    line: format!("line {n}.{i}"),
                    line_timestamp: None,
                })
                .collect();
            commits.push(ScanCommit { file, results, replace_from: None });
        }
        s.commit_scans(&commits).unwrap();
        let q = ScanResultQuery::default();
        let (all, pages) = all_pages(|p| s.scan_result_page(&q, p).unwrap(), 3);
        assert_eq!((all.len(), pages), (10, 4));
        assert_eq!(all[0].line, "line 0.0");
        assert_eq!(all[0].file_path, "/l/a.log");
        let dbt_errors = ScanResultQuery {
            system_type: Some("DBT".into()),
            severity: Some("ERROR".into()),
            ..Default::default()
        };
        let got = s.scan_result_page(&dbt_errors, &PageRequest::first(0)).unwrap().items;
        assert_eq!(
            got.iter().map(|r| r.line.as_str()).collect::<Vec<_>>(),
            ["line 1.0", "line 1.2", "line 1.4"]
        );
        let one = ScanResultQuery {
            logscan_id: Some(ids[0]),
            rule: Some("warn".into()),
            file_path: Some("/l/a.log".into()),
            ..Default::default()
        };
        assert_eq!(s.scan_result_page(&one, &PageRequest::first(0)).unwrap().items.len(), 2);
    }

    pub fn status_and_summary_count_rows<S: EventStore + QueryStore>(s: &mut S) {
        many(s);
        let st = s.status().unwrap();
        assert_eq!((st.events, st.failures, st.failures_without_reason), (40, 30, 10));
        assert_eq!(st.sources.len(), 1);
        assert_eq!((st.sources[0].kind.as_str(), st.sources[0].name.as_str()), ("file", "/q.log"));
        let all = s.summary(None, None).unwrap();
        assert_eq!((all.events, all.failures), (40, 30));
        let a = all.by_system.iter().find(|c| c.system_id == "a").unwrap();
        assert_eq!((a.success, a.failure), (10, 10));
        assert_eq!(all.by_checkpoint.len(), 4, "a/CP, a/OK, b/CP, c/CP");
        assert_eq!(all.by_hour.len(), 1);
        assert_eq!(all.by_hour[0].hour, "2025-05-04T10:00:00Z");
        let window = s.summary(Some(T0 + 2_000_000), Some(T0 + 4_000_000)).unwrap();
        assert_eq!((window.events, window.failures), (6, 4));
        assert_eq!(window.since.as_deref(), Some("2025-05-04T10:30:02Z"));
    }

    /// A replayed batch (whole, or partly new) counts only the events it inserted, and the
    /// summary of whole hours (kept counts) equals the summary of the same events read one by one.
    pub fn counts_stay_exact_through_replays<S: EventStore + QueryStore>(s: &mut S) {
        many(s);
        many(s);
        assert_eq!(s.status().unwrap().events, 40, "a whole replay adds nothing");
        let mut again: Vec<Event> =
            (0..40).map(|i| event(&format!("s{i}"), "a", "OK", i, Status::Success, None)).collect();
        again.extend(
            (40..45).map(|i| event(&format!("n{i}"), "d", "NEW", i, Status::Failure, None)),
        );
        // Positions 0..40 are stored already (other content: a replay keeps the first); 40..45 are new.
        store_events(s, again);
        let st = s.status().unwrap();
        assert_eq!((st.events, st.failures, st.failures_without_reason), (45, 35, 15));
        let all = s.summary(None, None).unwrap();
        assert_eq!((all.events, all.failures), (45, 35));
        const HOUR: i64 = 3_600_000_000;
        let hour = T0 - T0.rem_euclid(HOUR);
        let kept = s.summary(Some(hour), Some(hour + HOUR)).unwrap();
        let read = s.summary(Some(hour + 1), Some(hour + HOUR)).unwrap();
        assert_eq!((kept.events, kept.failures), (45, 35));
        assert_eq!(kept.by_system, read.by_system);
        assert_eq!(kept.by_checkpoint, read.by_checkpoint);
        assert_eq!(kept.by_hour, read.by_hour);
        let none = s.summary(Some(hour + HOUR), None).unwrap();
        assert_eq!(none.events, 0);
    }

    pub fn a_foreign_cursor_is_refused<S: EventStore + QueryStore>(s: &mut S) {
        many(s);
        let bad = PageRequest { cursor: Some("not-a-cursor".into()), limit: 5 };
        let err = s.failure_page(&FailureQuery::default(), &bad).unwrap_err();
        assert!(matches!(err, StoreError::InvalidCursor(_)), "{err}");
        let dl = s.dead_letter_page(&DeadLetterQuery::default(), &PageRequest::first(1)).unwrap();
        assert!(dl.next_cursor.is_none());
        // A cursor of another list (another number of keys) is refused too.
        let two_keys = s.failure_page(&FailureQuery::default(), &PageRequest::first(1)).unwrap();
        let wrong = PageRequest { cursor: two_keys.next_cursor, limit: 1 };
        assert!(s.dead_letter_page(&DeadLetterQuery::default(), &wrong).is_err());
    }
}
