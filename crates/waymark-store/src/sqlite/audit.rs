//! [`AuditStore`](crate::AuditStore) for SQLite: `etl_log_audit` and `audit_progress`.

use rusqlite::{params, OptionalExtension, Row};
use waymark_core::audit::{
    merge_rows, AuditRow, AuditUpsert, PendingAudit, RunFilter, RunStatus, Step, StoredRun,
    UpsertSummary,
};
use waymark_core::normalize::format_utc;

use super::now_text;
use crate::Result;

pub(crate) const COLUMNS: &str = "run_key, logscan_id, system_type, folder_name, workflow_name, \
    session_name, run_id, start_micros, end_micros, status, source_rows, target_rows, \
    rejected_rows, source_name, target_name, error_message, log_file, extra, updated_at";

impl crate::AuditStore for super::SqliteStore {
    fn pending_audits(&self) -> Result<Vec<PendingAudit>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.logscan_id, f.file_path, f.system_type, f.position
             FROM scanned_files f LEFT JOIN audit_progress p ON p.logscan_id = f.logscan_id
             WHERE f.state = 'active' AND f.system_type <> 'UNKNOWN'
               AND (p.position IS NULL OR p.position < f.position)
             ORDER BY f.logscan_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PendingAudit {
                logscan_id: r.get(0)?,
                file_path: r.get(1)?,
                system_type: r.get(2)?,
                position: r.get::<_, i64>(3)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn upsert_runs(
        &mut self,
        runs: &[AuditUpsert],
        audited: Option<(i64, u64)>,
    ) -> Result<UpsertSummary> {
        let now = now_text();
        let tx = self.conn.transaction()?;
        let mut summary = UpsertSummary::default();
        for u in runs {
            let mut known = tx
                .prepare_cached(&format!("SELECT {COLUMNS} FROM etl_log_audit WHERE run_key = ?1"))?
                .query_row([&u.run_key], stored_run)
                .optional()?;
            if let Some(k) = &mut known {
                k.row.steps = read_steps(&tx, &k.run_key)?;
            }
            let (row, logscan_id, log_file) = match &known {
                Some(k) => (
                    merge_rows(&k.row, &u.row),
                    u.logscan_id.or(k.logscan_id),
                    u.log_file.clone().or_else(|| k.log_file.clone()),
                ),
                None => (u.row.clone(), u.logscan_id, u.log_file.clone()),
            };
            if let Some(k) = &known {
                if k.row == row && k.logscan_id == logscan_id && k.log_file == log_file {
                    summary.unchanged += 1;
                    continue;
                }
            }
            write_row(&tx, &u.run_key, &row, logscan_id, log_file.as_deref(), &now)?;
            let steps_changed = known.as_ref().is_none_or(|k| k.row.steps != row.steps);
            if steps_changed {
                write_steps(&tx, &u.run_key, &row.steps)?;
            }
            if known.is_some() {
                summary.updated += 1;
            } else {
                summary.inserted += 1;
            }
        }
        if let Some((id, position)) = audited {
            tx.prepare_cached(
                "INSERT INTO audit_progress (logscan_id, position, audited_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(logscan_id) DO UPDATE
                 SET position = max(position, excluded.position), audited_at = excluded.audited_at",
            )?
            .execute(params![id, i64::try_from(position).unwrap_or(i64::MAX), now])?;
        }
        tx.commit()?;
        Ok(summary)
    }

    fn runs(&self, filter: &RunFilter) -> Result<Vec<StoredRun>> {
        // The latest `limit` runs by start (no start counts as latest), shown oldest first.
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM etl_log_audit
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR system_type = ?2)
               AND (?3 IS NULL OR start_micros >= ?3) AND (?4 IS NULL OR start_micros < ?4)
             ORDER BY start_micros IS NULL DESC, start_micros DESC, id DESC
             LIMIT ?5"
        ))?;
        let limit = if filter.limit == 0 { -1 } else { filter.limit as i64 };
        let rows = stmt.query_map(
            params![
                filter.status.map(RunStatus::as_str),
                filter.system_type,
                filter.since,
                filter.until,
                limit
            ],
            stored_run,
        )?;
        let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        out.reverse();
        for r in &mut out {
            r.row.steps = read_steps(&self.conn, &r.run_key)?;
        }
        Ok(out)
    }

    fn stored_run(&self, run_key: &str) -> Result<Option<StoredRun>> {
        let mut run = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM etl_log_audit WHERE run_key = ?1"))?
            .query_row([run_key], stored_run)
            .optional()?;
        if let Some(r) = &mut run {
            r.row.steps = read_steps(&self.conn, run_key)?;
        }
        Ok(run)
    }

    fn steps(&self, run_key: &str) -> Result<Vec<Step>> {
        read_steps(&self.conn, run_key)
    }
}

const STEP_COLUMNS: &str =
    "name, kind, status, start_micros, end_micros, rows_affected, message, exact";

pub(crate) fn read_steps(conn: &rusqlite::Connection, run_key: &str) -> Result<Vec<Step>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {STEP_COLUMNS} FROM steps WHERE run_key = ?1 ORDER BY ordinal"
    ))?;
    let rows = stmt.query_map([run_key], |r| {
        let status: String = r.get(2)?;
        Ok(Step {
            name: r.get(0)?,
            kind: r.get(1)?,
            status: RunStatus::from_word(&status).unwrap_or_default(),
            start_time: r.get(3)?,
            end_time: r.get(4)?,
            rows: r.get(5)?,
            message: r.get(6)?,
            exact: r.get::<_, i64>(7)? != 0,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Replaces the steps of a run by the merged ones (the merge already kept every known value).
fn write_steps(tx: &rusqlite::Transaction<'_>, run_key: &str, steps: &[Step]) -> Result<()> {
    tx.prepare_cached("DELETE FROM steps WHERE run_key = ?1")?.execute([run_key])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO steps (run_key, ordinal, name, kind, status, start_time, end_time,
            start_micros, end_micros, duration_seconds, rows_affected, message, exact)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (i, s) in steps.iter().enumerate() {
        let duration = match (s.start_time, s.end_time) {
            (Some(a), Some(b)) => Some((b - a) as f64 / 1e6),
            _ => None,
        };
        insert.execute(params![
            run_key,
            i as i64,
            s.name,
            s.kind,
            s.status.as_str(),
            s.start_time.map(format_utc),
            s.end_time.map(format_utc),
            s.start_time,
            s.end_time,
            duration,
            s.rows,
            s.message,
            i64::from(s.exact),
        ])?;
    }
    Ok(())
}

fn write_row(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    row: &AuditRow,
    logscan_id: Option<i64>,
    log_file: Option<&str>,
    now: &str,
) -> Result<()> {
    let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let extra = serde_json::to_string(&row.extra).unwrap_or_else(|_| "{}".into());
    tx.prepare_cached(
        "INSERT INTO etl_log_audit (run_key, logscan_id, system_type, folder_name, workflow_name,
            session_name, run_id, start_time, end_time, start_micros, end_micros,
            duration_seconds, status, source_rows, target_rows, rejected_rows, source_name,
            target_name, error_message, log_file, extra, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20, ?21, ?22, ?22)
         ON CONFLICT(run_key) DO UPDATE SET logscan_id = excluded.logscan_id,
            system_type = excluded.system_type, folder_name = excluded.folder_name,
            workflow_name = excluded.workflow_name, session_name = excluded.session_name,
            run_id = excluded.run_id, start_time = excluded.start_time,
            end_time = excluded.end_time, start_micros = excluded.start_micros,
            end_micros = excluded.end_micros, duration_seconds = excluded.duration_seconds,
            status = excluded.status, source_rows = excluded.source_rows,
            target_rows = excluded.target_rows, rejected_rows = excluded.rejected_rows,
            source_name = excluded.source_name, target_name = excluded.target_name,
            error_message = excluded.error_message, log_file = excluded.log_file,
            extra = excluded.extra, updated_at = excluded.updated_at",
    )?
    .execute(params![
        key,
        logscan_id,
        row.system_type,
        row.folder_name,
        row.workflow_name,
        row.session_name,
        row.run_id,
        row.start_time.map(format_utc),
        row.end_time.map(format_utc),
        row.start_time,
        row.end_time,
        row.duration_seconds(),
        row.status.as_str(),
        row.source_rows,
        row.target_rows,
        row.rejected_rows,
        json(&row.source_name),
        json(&row.target_name),
        row.error_message,
        log_file,
        extra,
        now,
    ])?;
    Ok(())
}

pub(crate) fn stored_run(r: &Row<'_>) -> rusqlite::Result<StoredRun> {
    // A value this store wrote that does not read back is corruption: an error, never a
    // default that would pass for data.
    let corrupt = |i: usize, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
    };
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let text: String = r.get(i)?;
        serde_json::from_str(&text).map_err(|e| corrupt(i, Box::new(e)))
    };
    let status: String = r.get(9)?;
    let extra: String = r.get(17)?;
    let row = AuditRow {
        system_type: r.get(2)?,
        folder_name: r.get(3)?,
        workflow_name: r.get(4)?,
        session_name: r.get(5)?,
        run_id: r.get(6)?,
        start_time: r.get(7)?,
        end_time: r.get(8)?,
        status: RunStatus::from_word(&status)
            .ok_or_else(|| corrupt(9, format!("unknown run status `{status}`").into()))?,
        source_rows: r.get(10)?,
        target_rows: r.get(11)?,
        rejected_rows: r.get(12)?,
        source_name: list(13)?,
        target_name: list(14)?,
        error_message: r.get(15)?,
        extra: serde_json::from_str(&extra).map_err(|e| corrupt(17, Box::new(e)))?,
        steps: Vec::new(),
    };
    Ok(StoredRun {
        run_key: r.get(0)?,
        row,
        logscan_id: r.get(1)?,
        log_file: r.get(16)?,
        updated_at: r.get(18)?,
    })
}

/// Records a scanned file version the way `waymark scan` does (tests of the audit side).
#[cfg(test)]
pub(crate) fn record_scanned(
    s: &super::SqliteStore,
    logscan_id: i64,
    path: &str,
    system_type: &str,
    position: u64,
) {
    s.connection()
        .execute(
            "INSERT INTO scanned_files (logscan_id, file_path, system_type, size, position,
                first_scanned_at, scanned_at)
             VALUES (?1, ?2, ?3, ?4, ?4, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')
             ON CONFLICT(logscan_id) DO UPDATE SET position = excluded.position,
                size = excluded.size",
            params![logscan_id, path, system_type, position as i64],
        )
        .unwrap();
}

#[cfg(test)]
mod tests {
    use super::record_scanned;

    crate::audit_store_suite!(crate::SqliteStore::in_memory().unwrap(), record_scanned);
}
