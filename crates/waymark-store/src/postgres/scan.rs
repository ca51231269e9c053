//! [`ScanStore`](crate::ScanStore) for PostgreSQL: `scanned_files` and `logscan_results`.
//!
//! Two scanners of one folder may run at once: a new version of a path is begun under a lease
//! (a transaction advisory lock on the path), and a scanner that finds the version already
//! begun by the other one takes it instead of starting a second; results have a natural key
//! (version, byte offset, rule); and a version's position never moves back.

use std::time::SystemTime;

use postgres::{Row, Transaction};
use waymark_core::scan::{ScanCommit, ScannedFile, StoredScanResult};

use super::{parse_time, pg_text, time_text, PgStore, LOCK_CLASS};
use crate::Result;

const FILE_COLUMNS: &str = "logscan_id, file_path, system_type, evidence, dev, inode, size, \
    mtime, position, line_number, identity, state";

/// The class of the scan leases (the first advisory-lock key).
const SCAN_LOCK_CLASS: i32 = LOCK_CLASS + 1;

fn file_row(r: &Row) -> Result<ScannedFile> {
    let unsigned = |i: usize| -> Result<u64> { Ok(r.try_get::<_, i64>(i)?.max(0) as u64) };
    let opt =
        |i: usize| -> Result<Option<u64>> { Ok(r.try_get::<_, Option<i64>>(i)?.map(|v| v as u64)) };
    let mtime: Option<SystemTime> = r.try_get(7)?;
    Ok(ScannedFile {
        logscan_id: r.try_get(0)?,
        file_path: r.try_get(1)?,
        system_type: r.try_get(2)?,
        evidence: r.try_get(3)?,
        dev: opt(4)?,
        inode: opt(5)?,
        size: unsigned(6)?,
        mtime: mtime.map(time_text),
        position: unsigned(8)?,
        line_number: unsigned(9)?,
        identity: r.try_get(10)?,
        state: r.try_get(11)?,
    })
}

fn path_key(path: &str) -> i32 {
    let h = waymark_core::correlation_hash(path);
    (h ^ (h >> 32)) as i32
}

impl crate::ScanStore for PgStore {
    fn active_scanned_files(&self) -> Result<Vec<ScannedFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM scanned_files WHERE state = 'active' ORDER BY logscan_id"
        );
        self.with(|c| c.query(&sql, &[])?.iter().map(file_row).collect())
    }

    fn begin_versions(&mut self, files: &[(ScannedFile, Option<i64>)]) -> Result<Vec<i64>> {
        self.transact(|tx| {
            let mut ids = Vec::with_capacity(files.len());
            for (f, old) in files {
                ids.push(begin_version(tx, f, *old)?);
            }
            Ok(ids)
        })
    }

    fn commit_scans(&mut self, commits: &[ScanCommit]) -> Result<()> {
        if commits.is_empty() {
            return Ok(());
        }
        self.transact(|tx| {
            // The export number of these results (see 06_export), locked until the commit.
            let seq: i64 = tx
                .query_one(
                    "UPDATE export_sequences SET value = value + 1 WHERE name = 'scan_results'
                 RETURNING value",
                    &[],
                )?
                .try_get(0)?;
            let insert = tx.prepare(
                "INSERT INTO logscan_results (logscan_id, file_path, system_type, line_number,
                 byte_offset, rule, severity, line, line_timestamp, scanned_at, seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), $10)
             ON CONFLICT (logscan_id, byte_offset, rule) DO NOTHING",
            )?;
            let update = tx.prepare(
                "UPDATE scanned_files SET file_path = $2, system_type = $3, evidence = $4,
                 dev = $5, inode = $6, size = $7, mtime = $8, position = $9,
                 line_number = $10, identity = $11, scanned_at = now()
             WHERE logscan_id = $1",
            )?;
            for c in commits {
                let f = &c.file;
                // A scanner behind another one (two scanners of one folder) never moves the
                // version back nor replaces results the other one stored further on.
                let stored = tx.query_opt(
                    "SELECT position FROM scanned_files WHERE logscan_id = $1 FOR UPDATE",
                    &[&f.logscan_id],
                )?;
                if stored.is_some_and(|r| r.get::<_, i64>(0) > f.position as i64) {
                    continue;
                }
                if let Some(from) = c.replace_from {
                    tx.execute(
                        "DELETE FROM logscan_results WHERE logscan_id = $1 AND byte_offset >= $2",
                        &[&f.logscan_id, &i64::try_from(from).unwrap_or(i64::MAX)],
                    )?;
                }
                for r in &c.results {
                    tx.execute(
                        &insert,
                        &[
                            &f.logscan_id,
                            &f.file_path,
                            &f.system_type,
                            &(r.line_number as i64),
                            &(r.byte_offset as i64),
                            &r.rule,
                            &r.severity,
                            &pg_text(&r.line),
                            &r.line_timestamp.as_deref().and_then(parse_time),
                            &seq,
                        ],
                    )?;
                }
                tx.execute(
                    &update,
                    &[
                        &f.logscan_id,
                        &f.file_path,
                        &f.system_type,
                        &f.evidence,
                        &f.dev.map(|v| v as i64),
                        &f.inode.map(|v| v as i64),
                        &(f.size as i64),
                        &f.mtime.as_deref().and_then(parse_time),
                        &(f.position as i64),
                        &(f.line_number as i64),
                        &f.identity,
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn supersede(&mut self, logscan_id: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE scanned_files SET state = 'superseded' WHERE logscan_id = $1",
                &[&logscan_id],
            )?;
            Ok(())
        })
    }

    fn scanned_file(&self, logscan_id: i64) -> Result<Option<ScannedFile>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM scanned_files WHERE logscan_id = $1");
        self.with(|c| c.query_opt(&sql, &[&logscan_id])?.as_ref().map(file_row).transpose())
    }

    fn scan_results(&self, logscan_id: i64) -> Result<Vec<StoredScanResult>> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT logscan_id, file_path, system_type, line_number, byte_offset, rule,
                     severity, line, line_timestamp
                 FROM logscan_results WHERE logscan_id = $1 ORDER BY line_number, id",
                &[&logscan_id],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                let ts: Option<SystemTime> = r.try_get(8)?;
                Ok(StoredScanResult {
                    logscan_id: r.try_get(0)?,
                    file_path: r.try_get(1)?,
                    system_type: r.try_get(2)?,
                    line_number: r.try_get::<_, i64>(3)?.max(0) as u64,
                    byte_offset: r.try_get::<_, i64>(4)?.max(0) as u64,
                    rule: r.try_get(5)?,
                    severity: r.try_get(6)?,
                    line: r.try_get(7)?,
                    line_timestamp: ts.map(time_text),
                })
            })
            .collect()
    }
}

/// Begins one version under the lease of its path. When another scanner already began the
/// same file (same path, device and inode, active, newer than the one it replaces), its
/// version is returned instead of a second one.
fn begin_version(tx: &mut Transaction<'_>, f: &ScannedFile, old: Option<i64>) -> Result<i64> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&SCAN_LOCK_CLASS, &path_key(&f.file_path)],
    )?;
    let dev = f.dev.map(|v| v as i64);
    let inode = f.inode.map(|v| v as i64);
    let begun = tx.query_opt(
        "SELECT logscan_id FROM scanned_files
         WHERE file_path = $1 AND state = 'active' AND dev IS NOT DISTINCT FROM $2
           AND inode IS NOT DISTINCT FROM $3 AND logscan_id > coalesce($4::bigint, 0)
         ORDER BY logscan_id DESC LIMIT 1",
        &[&f.file_path, &dev, &inode, &old],
    )?;
    if let Some(row) = begun {
        if let Some(old) = old {
            tx.execute(
                "UPDATE scanned_files SET state = 'superseded' WHERE logscan_id = $1",
                &[&old],
            )?;
        }
        return Ok(row.get(0));
    }
    if let Some(old) = old {
        tx.execute("UPDATE scanned_files SET state = 'superseded' WHERE logscan_id = $1", &[&old])?;
    }
    let row = tx.query_one(
        "INSERT INTO scanned_files (file_path, system_type, evidence, dev, inode, size, mtime,
             position, line_number, identity, state, first_scanned_at, scanned_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, NULL, 'active', now(), now())
         RETURNING logscan_id",
        &[
            &f.file_path,
            &f.system_type,
            &f.evidence,
            &dev,
            &inode,
            &(f.size as i64),
            &f.mtime.as_deref().and_then(parse_time),
        ],
    )?;
    Ok(row.get(0))
}
