//! [`ScanStore`]: scanned file versions and `logscan_results`, and the conformance suite every
//! backend passes ([`scan_store_suite!`](crate::scan_store_suite)).

use waymark_core::scan::{ScanCommit, ScannedFile, StoredScanResult};

use crate::Result;

/// Scanned files and their matched lines.
///
/// Invariant: a file version's results and the position they reach are committed in one
/// transaction ([`commit_scan`](ScanStore::commit_scan)), so a scan is exactly once in effect.
pub trait ScanStore {
    /// Every `active` file version (one per file the scanner follows).
    fn active_scanned_files(&self) -> Result<Vec<ScannedFile>>;

    /// Starts new versions of files at position 0 and, in the same transaction, marks the
    /// versions they replace `superseded`. Returns the new `logscan_id`s, in order.
    fn begin_versions(&mut self, files: &[(ScannedFile, Option<i64>)]) -> Result<Vec<i64>>;

    /// Starts one new version (see [`begin_versions`](ScanStore::begin_versions)).
    fn begin_version(&mut self, file: &ScannedFile, supersedes: Option<i64>) -> Result<i64> {
        let ids = self.begin_versions(&[(file.clone(), supersedes)])?;
        Ok(ids.first().copied().unwrap_or_default())
    }

    /// Stores batches of results, each with its version's new state (path, size, position,
    /// identity, ...), all in one transaction: all or nothing.
    fn commit_scans(&mut self, commits: &[ScanCommit]) -> Result<()>;

    /// Marks a version `superseded` (its file was replaced and the replacement is a new
    /// version).
    fn supersede(&mut self, logscan_id: i64) -> Result<()>;

    /// One version's row, whatever its state.
    fn scanned_file(&self, logscan_id: i64) -> Result<Option<ScannedFile>>;

    /// One version's results, in line order.
    fn scan_results(&self, logscan_id: i64) -> Result<Vec<StoredScanResult>>;
}

/// Instantiates the [`ScanStore`] suite for a backend, given an expression that makes an
/// empty store.
#[macro_export]
macro_rules! scan_store_suite {
    ($make:expr) => {
        mod scan_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::scan_store_suite!(@tests $make;
                a_version_starts_empty_and_active,
                results_and_position_commit_together,
                a_new_version_supersedes_the_old_one,
                a_rename_keeps_the_version,
                log_content_is_stored_as_data,
                a_grown_last_line_replaces_its_results,
                many_results_of_one_commit_are_all_stored,
            );
        }
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let mut store = $make;
                $crate::scan_conformance::$name(&mut store);
            }
        )*
    };
}

/// The checks of [`scan_store_suite!`](crate::scan_store_suite), one function each: compiled
/// for this crate's tests and, with the `conformance` feature, for any backend outside it.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance {
    use waymark_core::scan::{ScanCommit, ScanResult, ScannedFile};

    use super::ScanStore;

    fn file(path: &str) -> ScannedFile {
        ScannedFile {
            file_path: path.to_owned(),
            system_type: "INFA_SESSION".to_owned(),
            evidence: Some("/TM_6014/ at line 1".to_owned()),
            dev: Some(7),
            inode: Some(42),
            size: 100,
            mtime: Some("2025-01-06T02:00:00Z".to_owned()),
            state: "active".to_owned(),
            ..ScannedFile::default()
        }
    }

    fn result(line_number: u64, line: &str) -> ScanResult {
        ScanResult {
            line_number,
            byte_offset: line_number * 10,
            rule: "oracle_error".to_owned(),
            severity: "ERROR",
            line: line.to_owned(),
            line_timestamp: Some("2025-01-06T02:00:01Z".to_owned()),
        }
    }

    pub fn many_results_of_one_commit_are_all_stored(s: &mut dyn ScanStore) {
        // Counts around the sizes a backend may write in one statement.
        for n in [31, 32, 33, 64, 100] {
            let path = format!("/logs/{n}.log");
            let id = s.begin_version(&file(&path), None).unwrap();
            let mut f = file(&path);
            f.logscan_id = id;
            f.position = 10 * n + 10;
            let results: Vec<ScanResult> =
                (1..=n).map(|i| result(i, &format!("ORA-{i:05}: line {i}"))).collect();
            s.commit_scans(&[ScanCommit { file: f, results, replace_from: None }]).unwrap();
            let rows = s.scan_results(id).unwrap();
            let got: Vec<(u64, u64, String)> =
                rows.iter().map(|r| (r.line_number, r.byte_offset, r.line.clone())).collect();
            let want: Vec<(u64, u64, String)> =
                (1..=n).map(|i| (i, i * 10, format!("ORA-{i:05}: line {i}"))).collect();
            assert_eq!(got, want, "{n} results");
            assert!(rows.iter().all(|r| r.file_path == path && r.severity == "ERROR"));
        }
    }

    pub fn a_version_starts_empty_and_active(s: &mut dyn ScanStore) {
        let id = s.begin_version(&file("/logs/a.log"), None).unwrap();
        let active = s.active_scanned_files().unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!((active[0].logscan_id, active[0].position), (id, 0));
        assert_eq!(active[0].state, "active");
        assert_eq!(active[0].evidence.as_deref(), Some("/TM_6014/ at line 1"));
        assert!(s.scan_results(id).unwrap().is_empty());
    }

    pub fn results_and_position_commit_together(s: &mut dyn ScanStore) {
        let id = s.begin_version(&file("/logs/a.log"), None).unwrap();
        let mut f = file("/logs/a.log");
        f.logscan_id = id;
        f.position = 90;
        f.line_number = 9;
        f.identity = Some("90:aa:bb".to_owned());
        let results = vec![result(3, "ORA-01400: x"), result(7, "ORA-00942: y")];
        s.commit_scans(&[ScanCommit { file: f.clone(), results, replace_from: None }]).unwrap();
        let stored = s.scanned_file(id).unwrap().unwrap();
        assert_eq!((stored.position, stored.line_number), (90, 9));
        assert_eq!(stored.identity.as_deref(), Some("90:aa:bb"));
        let rows = s.scan_results(id).unwrap();
        assert_eq!(rows.iter().map(|r| r.line_number).collect::<Vec<_>>(), [3, 7]);
        assert_eq!(rows[0].byte_offset, 30);
        assert_eq!(rows[0].file_path, "/logs/a.log");
        assert_eq!(rows[0].system_type, "INFA_SESSION");
        assert_eq!((rows[0].severity.as_str(), rows[0].rule.as_str()), ("ERROR", "oracle_error"));
        assert_eq!(rows[1].line_timestamp.as_deref(), Some("2025-01-06T02:00:01Z"));
        // A later batch adds only its own rows.
        f.position = 120;
        s.commit_scans(&[ScanCommit {
            file: f,
            results: vec![result(11, "z")],
            replace_from: None,
        }])
        .unwrap();
        assert_eq!(s.scan_results(id).unwrap().len(), 3);
        assert_eq!(s.scanned_file(id).unwrap().unwrap().position, 120);
    }

    pub fn a_new_version_supersedes_the_old_one(s: &mut dyn ScanStore) {
        let old = s.begin_version(&file("/logs/a.log"), None).unwrap();
        let new = s.begin_version(&file("/logs/a.log"), Some(old)).unwrap();
        assert_ne!(old, new);
        let active = s.active_scanned_files().unwrap();
        assert_eq!(active.iter().map(|f| f.logscan_id).collect::<Vec<_>>(), [new]);
        assert_eq!(s.scanned_file(old).unwrap().unwrap().state, "superseded");
        let other = s.begin_version(&file("/logs/b.log"), None).unwrap();
        s.supersede(other).unwrap();
        assert_eq!(s.active_scanned_files().unwrap().len(), 1);
    }

    pub fn a_rename_keeps_the_version(s: &mut dyn ScanStore) {
        let id = s.begin_version(&file("/logs/a.log"), None).unwrap();
        let mut f = file("/logs/a.log.1");
        f.logscan_id = id;
        f.position = 50;
        s.commit_scans(&[ScanCommit {
            file: f,
            results: vec![result(2, "after rename")],
            replace_from: None,
        }])
        .unwrap();
        let active = s.active_scanned_files().unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!((active[0].logscan_id, active[0].file_path.as_str()), (id, "/logs/a.log.1"));
        assert_eq!(s.scan_results(id).unwrap()[0].file_path, "/logs/a.log.1");
    }

    pub fn log_content_is_stored_as_data(s: &mut dyn ScanStore) {
        let evil = "'); DROP TABLE logscan_results; -- \u{0} é";
        let mut f = file("/logs/it's.log");
        f.logscan_id = s.begin_version(&f, None).unwrap();
        s.commit_scans(&[ScanCommit {
            file: f.clone(),
            results: vec![result(1, evil)],
            replace_from: None,
        }])
        .unwrap();
        // PostgreSQL text cannot hold U+0000: that backend stores it as U+FFFD.
        let got = &s.scan_results(f.logscan_id).unwrap()[0].line;
        assert!(*got == evil || *got == evil.replace('\0', "\u{FFFD}"), "{got:?}");
    }

    pub fn a_grown_last_line_replaces_its_results(s: &mut dyn ScanStore) {
        let mut f = file("/logs/a.log");
        f.logscan_id = s.begin_version(&f, None).unwrap();
        f.position = 120;
        let results = vec![result(3, "ORA-01400: x"), result(12, "partial last line")];
        s.commit_scans(&[ScanCommit { file: f.clone(), results, replace_from: None }]).unwrap();
        // The last line (byte 120) grew: its results are replaced, the others kept.
        f.position = 200;
        let grown = vec![result(12, "the whole last line"), result(15, "next")];
        s.commit_scans(&[ScanCommit { file: f.clone(), results: grown, replace_from: Some(120) }])
            .unwrap();
        let rows = s.scan_results(f.logscan_id).unwrap();
        let lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
        assert_eq!(lines, ["ORA-01400: x", "the whole last line", "next"]);
    }
}
