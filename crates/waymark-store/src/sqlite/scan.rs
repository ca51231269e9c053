//! [`ScanStore`](crate::ScanStore) for SQLite: `scanned_files` and `logscan_results`.

use rusqlite::{params, OptionalExtension, Row, Statement};
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
            let mut insert = tx.prepare_cached(&insert_sql(1))?;
            let mut insert_many = tx.prepare_cached(&insert_sql(ROWS_PER_INSERT))?;
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
                // Rows in statements of ROWS_PER_INSERT, the rest one by one. The version's
                // columns are bound once per statement and commit, then each row's own.
                let mut chunks = c.results.chunks_exact(ROWS_PER_INSERT);
                if chunks.len() > 0 {
                    bind_version(&mut insert_many, f, &now)?;
                }
                for chunk in &mut chunks {
                    for (i, r) in chunk.iter().enumerate() {
                        bind_result(&mut insert_many, i, r)?;
                    }
                    insert_many.raw_execute()?;
                }
                if !chunks.remainder().is_empty() {
                    bind_version(&mut insert, f, &now)?;
                }
                for r in chunks.remainder() {
                    bind_result(&mut insert, 0, r)?;
                    insert.raw_execute()?;
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

/// Result rows per multi-row INSERT: one statement step per 32 matched lines instead of one
/// per line.
const ROWS_PER_INSERT: usize = 32;
/// The parameters every row of a statement shares: the version's id, path and type, and the
/// scan time (`?1` to `?4`).
const SHARED: usize = 4;
/// Each row's own parameters (line number, offset, rule, severity, line, its time).
const PER_ROW: usize = 6;

/// The INSERT of `rows` result rows: `?1`–`?4` in every row, then six of each row's own
/// (196 parameters for 32 rows, far below SQLite's limit). Binding a row's path, type and
/// time once per statement instead of once per row saves a copy of each (issue 15).
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO logscan_results (logscan_id, file_path, system_type, line_number, \
         byte_offset, rule, severity, line, line_timestamp, scanned_at) VALUES ",
    );
    for i in 0..rows {
        let own: Vec<String> =
            (1..=PER_ROW).map(|c| format!("?{}", SHARED + i * PER_ROW + c)).collect();
        sql.push_str(if i == 0 { "(" } else { ",(" });
        sql.push_str(&format!("?1,?2,?3,{},?4)", own.join(",")));
    }
    sql
}

/// Binds the shared parameters of [`insert_sql`].
fn bind_version(stmt: &mut Statement<'_>, f: &ScannedFile, now: &str) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(1, f.logscan_id)?;
    stmt.raw_bind_parameter(2, &f.file_path)?;
    stmt.raw_bind_parameter(3, &f.system_type)?;
    stmt.raw_bind_parameter(4, now)
}

/// Binds the own parameters of row `i` of [`insert_sql`].
fn bind_result(stmt: &mut Statement<'_>, i: usize, r: &ScanResult) -> rusqlite::Result<()> {
    let at = SHARED + i * PER_ROW;
    stmt.raw_bind_parameter(at + 1, r.line_number as i64)?;
    stmt.raw_bind_parameter(at + 2, r.byte_offset as i64)?;
    stmt.raw_bind_parameter(at + 3, &r.rule)?;
    stmt.raw_bind_parameter(at + 4, r.severity)?;
    stmt.raw_bind_parameter(at + 5, &r.line)?;
    stmt.raw_bind_parameter(at + 6, &r.line_timestamp)
}

#[cfg(test)]
mod tests {
    crate::scan_store_suite!(crate::SqliteStore::in_memory().unwrap());
}
