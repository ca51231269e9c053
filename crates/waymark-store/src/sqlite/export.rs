//! [`ExportStore`](crate::ExportStore) for SQLite: pages of each exportable table in key order,
//! typed, and the named export watermarks (`export_watermarks`, `export_log`).

use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension};

use super::now_text;
use crate::export::{
    ColumnType, ExportFilter, ExportKey, ExportPage, ExportRow, ExportTable, ExportWatermark,
    FinishedExport, Value,
};
use crate::{Result, StoreError};

/// The SELECT of a table: its key (two integers) first, then [`ExportTable::columns`] in order.
/// `?1, ?2` is the cursor, `(?3, ?4]` the sequence range, `?5` the system, `?6` the status and
/// `?7` the page size.
fn select(table: ExportTable) -> &'static str {
    match table {
        ExportTable::Events => {
            "SELECT e.source_id, e.position, e.source_id, e.position, s.name, e.system_id,
                    e.checkpoint_id, e.ts_us, e.status, e.correlation_id, e.failure_reason,
                    e.batch_id, b.committed_at
             FROM events e JOIN sources s ON s.id = e.source_id JOIN batches b ON b.id = e.batch_id
             WHERE (e.source_id, e.position) > (?1, ?2) AND e.batch_id > ?3 AND e.batch_id <= ?4
               AND (?5 IS NULL OR e.system_id = ?5) AND (?6 IS NULL OR e.status = ?6)
             ORDER BY e.source_id, e.position LIMIT ?7"
        }
        ExportTable::Runs => {
            "SELECT id, 0, run_key, system_type, folder_name, workflow_name, session_name, run_id,
                    start_micros, end_micros, duration_seconds, status, source_rows, target_rows,
                    rejected_rows, source_name, target_name, error_message, log_file, logscan_id,
                    created_at, updated_at
             FROM etl_log_audit
             WHERE (id, 0) > (?1, ?2) AND change_seq > ?3 AND change_seq <= ?4
               AND (?5 IS NULL OR system_type = ?5) AND (?6 IS NULL OR status = ?6)
             ORDER BY id LIMIT ?7"
        }
        ExportTable::ScanResults => {
            "SELECT id, 0, id, logscan_id, file_path, system_type, rule, severity, line_number,
                    byte_offset, line, line_timestamp, scanned_at
             FROM logscan_results
             WHERE (id, 0) > (?1, ?2) AND id > ?3 AND id <= ?4
               AND (?5 IS NULL OR system_type = ?5) AND (?6 IS NULL OR severity = ?6)
             ORDER BY id LIMIT ?7"
        }
        ExportTable::DeadLetters => {
            "SELECT d.id, 0, d.id, d.source_id, d.position, coalesce(s.name, ''), d.kind,
                    d.reason, d.raw, d.raw_len, d.created_at
             FROM dead_letters d LEFT JOIN sources s ON s.id = d.source_id
             WHERE (d.id, 0) > (?1, ?2) AND d.id > ?3 AND d.id <= ?4
               AND ?5 IS NULL AND (?6 IS NULL OR d.kind = ?6)
             ORDER BY d.id LIMIT ?7"
        }
        ExportTable::Orphans => {
            "SELECT p.source_id, p.position, p.source_id, p.position, coalesce(s.name, ''),
                    p.kind, p.system_id, p.correlation_id, p.ts_us, p.reason, p.created_at
             FROM join_pending p LEFT JOIN sources s ON s.id = p.source_id
             WHERE p.state = 'orphan' AND (p.source_id, p.position) > (?1, ?2)
               AND p.orphan_seq > ?3 AND p.orphan_seq <= ?4
               AND (?5 IS NULL OR p.system_id = ?5) AND (?6 IS NULL OR p.kind = ?6)
             ORDER BY p.source_id, p.position LIMIT ?7"
        }
    }
}

fn high(table: ExportTable) -> &'static str {
    match table {
        ExportTable::Events => "SELECT coalesce(max(id), 0) FROM batches",
        ExportTable::Runs => "SELECT value FROM export_sequences WHERE name = 'runs'",
        ExportTable::ScanResults => "SELECT coalesce(max(id), 0) FROM logscan_results",
        ExportTable::DeadLetters => "SELECT coalesce(max(id), 0) FROM dead_letters",
        ExportTable::Orphans => "SELECT value FROM export_sequences WHERE name = 'orphans'",
    }
}

impl crate::ExportStore for super::SqliteStore {
    fn export_high(&self, table: ExportTable) -> Result<i64> {
        Ok(self.conn.prepare_cached(high(table))?.query_row([], |r| r.get(0))?)
    }

    fn export_page(
        &self,
        table: ExportTable,
        filter: &ExportFilter,
        range: (i64, i64),
        after: Option<ExportKey>,
        limit: usize,
    ) -> Result<ExportPage> {
        let columns = table.columns();
        let time_at = columns.iter().position(|c| c.name == table.time_column());
        let (a, b) = after.unwrap_or((i64::MIN, i64::MIN));
        let limit = limit.clamp(1, i64::MAX as usize);
        let mut stmt = self.conn.prepare_cached(select(table))?;
        let mut rows = stmt.query(params![
            a,
            b,
            range.0,
            range.1,
            filter.system,
            filter.status,
            limit as i64
        ])?;
        let mut page = ExportPage::default();
        let mut read = 0usize;
        let mut last = None;
        while let Some(r) = rows.next()? {
            read += 1;
            let key: ExportKey = (r.get(0)?, r.get(1)?);
            last = Some(key);
            let mut values = Vec::with_capacity(columns.len());
            for (i, c) in columns.iter().enumerate() {
                values.push(value(r.get_ref(i + 2)?, c.ty, c.name)?);
            }
            if in_range(time_at.map(|i| &values[i]), filter) {
                page.rows.push(ExportRow { key, values });
            }
        }
        page.next = if read == limit { last } else { None };
        Ok(page)
    }

    fn export_watermark(&self, name: &str, table: ExportTable) -> Result<Option<ExportWatermark>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT upto, filter, exports, rows FROM export_watermarks
             WHERE name = ?1 AND table_name = ?2",
        )?;
        let found = stmt
            .query_row(params![name, table.name()], |r| {
                Ok(ExportWatermark {
                    upto: r.get(0)?,
                    filter: r.get(1)?,
                    exports: r.get::<_, i64>(2)?.max(0) as u64,
                    rows: r.get::<_, i64>(3)?.max(0) as u64,
                })
            })
            .optional()?;
        Ok(found)
    }

    fn finish_export(&mut self, done: &FinishedExport) -> Result<()> {
        let now = now_text();
        let tx = self.conn.transaction()?;
        let rows = i64::try_from(done.rows).unwrap_or(i64::MAX);
        if let Some(name) = &done.name {
            let stored: Option<(i64, String)> = tx
                .prepare_cached(
                    "SELECT upto, filter FROM export_watermarks
                     WHERE name = ?1 AND table_name = ?2",
                )?
                .query_row(params![name, done.table.name()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            check_watermark(name, done, stored)?;
            tx.prepare_cached(
                "INSERT INTO export_watermarks (name, table_name, filter, upto, exports, rows,
                     updated_at)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)
                 ON CONFLICT (name, table_name) DO UPDATE SET upto = excluded.upto,
                     exports = exports + 1, rows = rows + excluded.rows,
                     updated_at = excluded.updated_at",
            )?
            .execute(params![
                name,
                done.table.name(),
                done.filter,
                done.upto,
                rows,
                now
            ])?;
        }
        tx.prepare_cached(
            "INSERT INTO export_log (name, table_name, filter, since, upto, rows, target,
                 finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            done.name,
            done.table.name(),
            done.filter,
            done.since,
            done.upto,
            rows,
            done.target,
            now
        ])?;
        tx.commit()?;
        Ok(())
    }
}

/// A named export may only advance the watermark it started from, under the same filter.
fn check_watermark(name: &str, done: &FinishedExport, stored: Option<(i64, String)>) -> Result<()> {
    let (upto, filter) = stored.unwrap_or((0, done.filter.clone()));
    if upto != done.since {
        return Err(StoreError::Refused(format!(
            "export `{name}` of {} started at watermark {} but it is now {upto}: another export \
             of that name finished meanwhile",
            done.table.name(),
            done.since
        )));
    }
    if filter != done.filter {
        return Err(StoreError::Refused(format!(
            "export `{name}` of {} was taken with the filter {filter}, not {}: another filter \
             under the same name would skip rows for good; use another name",
            done.table.name(),
            done.filter
        )));
    }
    Ok(())
}

/// Whether a row's time passes the filter's range (no time: only when no bound is given).
fn in_range(time: Option<&Value>, filter: &ExportFilter) -> bool {
    if filter.since.is_none() && filter.until.is_none() {
        return true;
    }
    let Some(Value::Timestamp(t)) = time else { return false };
    filter.since.is_none_or(|s| *t >= s) && filter.until.is_none_or(|u| *t < u)
}

/// One stored value as its column's type. A value this store wrote that does not read back as
/// its type is corruption: an error, never a default.
fn value(v: ValueRef<'_>, ty: ColumnType, column: &'static str) -> Result<Value> {
    let corrupt = |what: String| StoreError::Corrupt { column, value: what };
    Ok(match (ty, v) {
        (_, ValueRef::Null) => Value::Null,
        (ColumnType::Int, ValueRef::Integer(i)) => Value::Int(i),
        (ColumnType::Float, ValueRef::Real(f)) => Value::Float(f),
        (ColumnType::Float, ValueRef::Integer(i)) => Value::Float(i as f64),
        (ColumnType::Text, ValueRef::Text(t) | ValueRef::Blob(t)) => {
            Value::Text(String::from_utf8_lossy(t).into_owned())
        }
        (ColumnType::Timestamp, ValueRef::Integer(i)) => Value::Timestamp(i),
        (ColumnType::Timestamp, ValueRef::Text(t)) => {
            let text = String::from_utf8_lossy(t);
            let ts: jiff::Timestamp =
                text.parse().map_err(|e| corrupt(format!("`{text}` is no timestamp: {e}")))?;
            Value::Timestamp(ts.as_microsecond())
        }
        (ColumnType::TextList, ValueRef::Text(t)) => Value::TextList(
            serde_json::from_slice(t)
                .map_err(|e| corrupt(format!("`{}`: {e}", String::from_utf8_lossy(t))))?,
        ),
        (ty, v) => return Err(corrupt(format!("{:?} where {ty:?} was expected", v.data_type()))),
    })
}

#[cfg(test)]
mod tests {
    crate::export_store_suite!(crate::SqliteStore::in_memory().unwrap());
}
