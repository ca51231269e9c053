//! [`ScanStore`](crate::ScanStore) for SQLite: `scanned_files` and `logscan_results`.

use rusqlite::{params, params_from_iter, OptionalExtension, Row, ToSql};
use waymark_core::scan::{ScanCommit, ScanResult, ScannedFile, StoredScanResult};

use super::now_text;
use crate::Result;

const FILE_COLUMNS: &str = "logscan_id, file_path, system_type, evidence, dev, inode, size, \
    mtime, position, line_number, identity, state";

fn file_row(r: &Row<'_>) -> rusqlite::Result<ScannedFile> {
    let unsigned = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    let opt = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(|v| v as u64))
    };
    Ok(ScannedFile {
        logscan_id: r.get(0)?,
        file_path: r.get(1)?,
        system_type: r.get(2)?,
        evidence: r.get(3)?,
        dev: opt(4)?,
        inode: opt(5)?,
        size: unsigned(6)?,
        mtime: r.get(7)?,
        position: unsigned(8)?,
        line_number: unsigned(9)?,
        identity: r.get(10)?,
        state: r.get(11)?,
    })
}

impl crate::ScanStore for super::SqliteStore {
    fn active_scanned_files(&self) -> Result<Vec<ScannedFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM scanned_files WHERE state = 'active' ORDER BY logscan_id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], file_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn begin_versions(&mut self, files: &[(ScannedFile, Option<i64>)]) -> Result<Vec<i64>> {
        let now = now_text();
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(files.len());
        {
            let mut supersede = tx.prepare_cached(
                "UPDATE scanned_files SET state = 'superseded' WHERE logscan_id = ?1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO scanned_files (file_path, system_type, evidence, dev, inode, size,
                     mtime, position, line_number, identity, state, first_scanned_at, scanned_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, NULL, 'active', ?8, ?8)",
            )?;
            for (f, old) in files {
                if let Some(old) = old {
                    supersede.execute([old])?;
                }
                insert.execute(params![
                    f.file_path,
                    f.system_type,
                    f.evidence,
                    f.dev.map(|v| v as i64),
                    f.inode.map(|v| v as i64),
                    f.size as i64,
                    f.mtime,
                    now
                ])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn commit_scans(&mut self, commits: &[ScanCommit]) -> Result<()> {
        let now = now_text();
        let tx = self.conn.transaction()?;
        {
            let one = insert_sql(1);
            let mut insert = tx.prepare_cached(&one)?;
            let many = insert_sql(ROWS_PER_INSERT);
            let mut insert_many = tx.prepare_cached(&many)?;
            let mut update = tx.prepare_cached(
                "UPDATE scanned_files SET file_path = ?2, system_type = ?3, evidence = ?4,
                     dev = ?5, inode = ?6, size = ?7, mtime = ?8, position = ?9,
                     line_number = ?10, identity = ?11, scanned_at = ?12
                 WHERE logscan_id = ?1",
            )?;
            let mut replace = tx.prepare_cached(
                "DELETE FROM logscan_results WHERE logscan_id = ?1 AND byte_offset >= ?2",
            )?;
            for c in commits {
                let f = &c.file;
                if let Some(from) = c.replace_from {
                    replace
                        .execute(params![f.logscan_id, i64::try_from(from).unwrap_or(i64::MAX)])?;
                }
                // Rows in statements of ROWS_PER_INSERT, the rest one by one.
                let mut chunks = c.results.chunks_exact(ROWS_PER_INSERT);
                for chunk in &mut chunks {
                    let at: Vec<(i64, i64)> = chunk.iter().map(place).collect();
                    let values: Vec<[&dyn ToSql; 10]> = chunk
                        .iter()
                        .zip(&at)
                        .map(|(r, at)| result_values(f, r, at, &now))
                        .collect();
                    insert_many.execute(params_from_iter(values.iter().flatten()))?;
                }
                for r in chunks.remainder() {
                    insert.execute(&result_values(f, r, &place(r), &now)[..])?;
                }
                update.execute(params![
                    f.logscan_id,
                    f.file_path,
                    f.system_type,
                    f.evidence,
                    f.dev.map(|v| v as i64),
                    f.inode.map(|v| v as i64),
                    f.size as i64,
                    f.mtime,
                    f.position as i64,
                    f.line_number as i64,
                    f.identity,
                    now
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn supersede(&mut self, logscan_id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE scanned_files SET state = 'superseded' WHERE logscan_id = ?1",
            [logscan_id],
        )?;
        Ok(())
    }

    fn scanned_file(&self, logscan_id: i64) -> Result<Option<ScannedFile>> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM scanned_files WHERE logscan_id = ?1");
        Ok(self.conn.query_row(&sql, [logscan_id], file_row).optional()?)
    }

    fn scan_results(&self, logscan_id: i64) -> Result<Vec<StoredScanResult>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT logscan_id, file_path, system_type, line_number, byte_offset, rule, severity,
                 line, line_timestamp
             FROM logscan_results WHERE logscan_id = ?1 ORDER BY line_number, id",
        )?;
        let rows = stmt.query_map([logscan_id], |r| {
            Ok(StoredScanResult {
                logscan_id: r.get(0)?,
                file_path: r.get(1)?,
                system_type: r.get(2)?,
                line_number: r.get::<_, i64>(3)?.max(0) as u64,
                byte_offset: r.get::<_, i64>(4)?.max(0) as u64,
                rule: r.get(5)?,
                severity: r.get(6)?,
                line: r.get(7)?,
                line_timestamp: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Result rows per multi-row INSERT (10 parameters a row, far below SQLite's limit): one
/// statement step per 32 matched lines instead of one per line.
const ROWS_PER_INSERT: usize = 32;

/// The INSERT of `rows` result rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO logscan_results (logscan_id, file_path, system_type, line_number, \
         byte_offset, rule, severity, line, line_timestamp, scanned_at) VALUES ",
    );
    for i in 0..rows {
        let params: Vec<String> = (1..=10).map(|c| format!("?{}", i * 10 + c)).collect();
        sql.push_str(if i == 0 { "(" } else { ",(" });
        sql.push_str(&params.join(","));
        sql.push(')');
    }
    sql
}

/// A result's line number and byte offset as SQLite integers.
fn place(r: &ScanResult) -> (i64, i64) {
    (r.line_number as i64, r.byte_offset as i64)
}

/// The values of one result row, in the order of [`insert_sql`].
fn result_values<'a>(
    f: &'a ScannedFile,
    r: &'a ScanResult,
    place: &'a (i64, i64),
    now: &'a dyn ToSql,
) -> [&'a dyn ToSql; 10] {
    [
        &f.logscan_id,
        &f.file_path,
        &f.system_type,
        &place.0,
        &place.1,
        &r.rule,
        &r.severity,
        &r.line,
        &r.line_timestamp,
        now,
    ]
}

#[cfg(test)]
mod tests {
    crate::scan_store_suite!(crate::SqliteStore::in_memory().unwrap());
}
