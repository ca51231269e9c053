//! [`ExportStore`](crate::ExportStore) for PostgreSQL: pages of each exportable table in key
//! order, typed, and the named export watermarks (`export_watermarks`, `export_log`).
//!
//! The sequences are counter rows (see `06_export.up.sql`): a writer holds its counter row
//! locked until it commits, so the committed top an export reads bounds every number still in
//! flight, and no row ever turns up below a watermark already taken.

use std::time::SystemTime;

use postgres::types::{Json, ToSql, Type};
use postgres::Row;

use super::{from_time, PgStore};
use crate::export::{
    ColumnType, ExportFilter, ExportKey, ExportPage, ExportRow, ExportTable, ExportWatermark,
    FinishedExport, Value,
};
use crate::{Result, StoreError};

/// The SELECT of a table: its key (two integers) first, then [`ExportTable::columns`] in order.
/// `$1, $2` is the cursor, `($3, $4]` the sequence range, `$5` the system, `$6` the status and
/// `$7` the page size.
fn select(table: ExportTable) -> &'static str {
    match table {
        ExportTable::Events => {
            "SELECT e.source_id, e.position, e.source_id, e.position, s.name, e.system_id,
                    e.checkpoint_id, e.ts_us, e.status, e.correlation_id, e.failure_reason,
                    e.batch_id, b.committed_at
             FROM events e JOIN sources s ON s.id = e.source_id JOIN batches b ON b.id = e.batch_id
             WHERE (e.source_id, e.position) > ($1, $2) AND b.seq > $3 AND b.seq <= $4
               AND ($5::text IS NULL OR e.system_id = $5) AND ($6::text IS NULL OR e.status = $6)
             ORDER BY e.source_id, e.position LIMIT $7"
        }
        ExportTable::Runs => {
            "SELECT id, 0::bigint, run_key, system_type, folder_name, workflow_name, session_name,
                    run_id, start_micros, end_micros, duration_seconds, status, source_rows,
                    target_rows, rejected_rows, source_name, target_name, error_message,
                    log_file, logscan_id, created_at, updated_at
             FROM etl_log_audit
             WHERE (id, 0::bigint) > ($1, $2) AND change_seq > $3 AND change_seq <= $4
               AND ($5::text IS NULL OR system_type = $5) AND ($6::text IS NULL OR status = $6)
             ORDER BY id LIMIT $7"
        }
        ExportTable::ScanResults => {
            "SELECT id, 0::bigint, id, logscan_id, file_path, system_type, rule, severity,
                    line_number, byte_offset, line, line_timestamp, scanned_at
             FROM logscan_results
             WHERE (id, 0::bigint) > ($1, $2) AND seq > $3 AND seq <= $4
               AND ($5::text IS NULL OR system_type = $5) AND ($6::text IS NULL OR severity = $6)
             ORDER BY id LIMIT $7"
        }
        ExportTable::DeadLetters => {
            "SELECT d.id, 0::bigint, d.id, d.source_id, d.position, coalesce(s.name, ''), d.kind,
                    d.reason, d.raw, d.raw_len, d.created_at
             FROM dead_letters d JOIN batches b ON b.id = d.batch_id
                  LEFT JOIN sources s ON s.id = d.source_id
             WHERE (d.id, 0::bigint) > ($1, $2) AND b.seq > $3 AND b.seq <= $4
               AND $5::text IS NULL AND ($6::text IS NULL OR d.kind = $6)
             ORDER BY d.id LIMIT $7"
        }
        ExportTable::Orphans => {
            "SELECT p.source_id, p.position, p.source_id, p.position, coalesce(s.name, ''),
                    p.kind, p.system_id, p.correlation_id, p.ts_us, p.reason, p.created_at
             FROM join_pending p LEFT JOIN sources s ON s.id = p.source_id
             WHERE p.state = 'orphan' AND (p.source_id, p.position) > ($1, $2)
               AND p.orphan_seq > $3 AND p.orphan_seq <= $4
               AND ($5::text IS NULL OR p.system_id = $5) AND ($6::text IS NULL OR p.kind = $6)
             ORDER BY p.source_id, p.position LIMIT $7"
        }
    }
}

/// The counter of a table's sequence.
fn sequence(table: ExportTable) -> &'static str {
    match table {
        ExportTable::Events | ExportTable::DeadLetters => "batches",
        ExportTable::Runs => "runs",
        ExportTable::ScanResults => "scan_results",
        ExportTable::Orphans => "orphans",
    }
}

impl crate::ExportStore for PgStore {
    fn export_high(&self, table: ExportTable) -> Result<i64> {
        let row = self.with(|c| {
            Ok(c.query_opt(
                "SELECT value FROM export_sequences WHERE name = $1",
                &[&sequence(table)],
            )?)
        })?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        })
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
        let limit = limit.clamp(1, i64::MAX as usize) as i64;
        let params: [&(dyn ToSql + Sync); 7] =
            [&a, &b, &range.0, &range.1, &filter.system, &filter.status, &limit];
        let rows = self.with(|c| Ok(c.query(select(table), &params)?))?;
        let mut page = ExportPage::default();
        let mut last = None;
        for r in &rows {
            let key: ExportKey = (r.try_get(0)?, r.try_get(1)?);
            last = Some(key);
            let mut values = Vec::with_capacity(columns.len());
            for (i, c) in columns.iter().enumerate() {
                values.push(value(r, i + 2, c.ty, c.name)?);
            }
            if in_range(time_at.map(|i| &values[i]), filter) {
                page.rows.push(ExportRow { key, values });
            }
        }
        page.next = if rows.len() as i64 == limit { last } else { None };
        Ok(page)
    }

    fn export_watermark(&self, name: &str, table: ExportTable) -> Result<Option<ExportWatermark>> {
        let row = self.with(|c| {
            Ok(c.query_opt(
                "SELECT upto, filter, exports, rows FROM export_watermarks
                 WHERE name = $1 AND table_name = $2",
                &[&name, &table.name()],
            )?)
        })?;
        row.map(|r| {
            Ok(ExportWatermark {
                upto: r.try_get(0)?,
                filter: r.try_get(1)?,
                exports: r.try_get::<_, i64>(2)?.max(0) as u64,
                rows: r.try_get::<_, i64>(3)?.max(0) as u64,
            })
        })
        .transpose()
    }

    fn finish_export(&mut self, done: &FinishedExport) -> Result<()> {
        self.transact(|tx| {
            let rows = i64::try_from(done.rows).unwrap_or(i64::MAX);
            if let Some(name) = &done.name {
                // Locked: two exports of one name finishing at once are checked one after the other.
                let stored = tx
                    .query_opt(
                        "SELECT upto, filter FROM export_watermarks
                     WHERE name = $1 AND table_name = $2 FOR UPDATE",
                        &[name, &done.table.name()],
                    )?
                    .map(|r| -> Result<(i64, String)> { Ok((r.try_get(0)?, r.try_get(1)?)) })
                    .transpose()?;
                check_watermark(name, done, stored)?;
                tx.execute(
                    "INSERT INTO export_watermarks (name, table_name, filter, upto, exports, rows,
                     updated_at)
                 VALUES ($1, $2, $3, $4, 1, $5, now())
                 ON CONFLICT (name, table_name) DO UPDATE SET upto = excluded.upto,
                     exports = export_watermarks.exports + 1,
                     rows = export_watermarks.rows + excluded.rows,
                     updated_at = excluded.updated_at",
                    &[name, &done.table.name(), &done.filter, &done.upto, &rows],
                )?;
            }
            tx.execute(
                "INSERT INTO export_log (name, table_name, filter, since, upto, rows, target,
                 finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now())",
                &[
                    &done.name,
                    &done.table.name(),
                    &done.filter,
                    &done.since,
                    &done.upto,
                    &rows,
                    &done.target,
                ],
            )?;
            Ok(())
        })
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

/// Column `i` of a row as its export type.
fn value(r: &Row, i: usize, ty: ColumnType, column: &'static str) -> Result<Value> {
    let pg = r.columns()[i].type_().clone();
    let corrupt = |what: String| StoreError::Corrupt { column, value: what };
    let v = match (ty, &pg) {
        (ColumnType::Int, t) if *t == Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        (ColumnType::Int, t) if *t == Type::INT4 => {
            r.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into()))
        }
        (ColumnType::Float, _) => r.try_get::<_, Option<f64>>(i)?.map(Value::Float),
        (ColumnType::Text, t) if *t == Type::BYTEA => r
            .try_get::<_, Option<Vec<u8>>>(i)?
            .map(|b| Value::Text(String::from_utf8_lossy(&b).into_owned())),
        (ColumnType::Text, _) => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
        (ColumnType::Timestamp, t) if *t == Type::INT8 => {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Timestamp)
        }
        (ColumnType::Timestamp, _) => {
            r.try_get::<_, Option<SystemTime>>(i)?.map(|t| Value::Timestamp(from_time(t)))
        }
        (ColumnType::TextList, _) => match r.try_get::<_, Option<Json<serde_json::Value>>>(i)? {
            Some(Json(v)) => Some(Value::TextList(
                serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))?,
            )),
            None => None,
        },
        (ty, t) => return Err(corrupt(format!("{t} where {ty:?} was expected"))),
    };
    Ok(v.unwrap_or(Value::Null))
}
