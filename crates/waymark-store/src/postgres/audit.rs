//! [`AuditStore`](crate::AuditStore) for PostgreSQL: `etl_log_audit` and `audit_progress`.
//!
//! The upsert locks the stored row (`SELECT … FOR UPDATE`) before merging, so of two writers
//! upserting one run the second merges into what the first wrote and no known value is ever
//! blanked; a run not stored yet is inserted with `ON CONFLICT DO NOTHING`, and a writer that
//! lost that race merges into the winner's row. Every change takes the next number of the `runs`
//! export sequence, whose row stays locked until commit (so the numbers commit in order and an
//! export never passes one still uncommitted); a transaction locks that row *first*, before any
//! run, so two writers queue on it instead of each holding a run the other waits for (locking
//! runs in key order alone deadlocked: the sequence row was taken between two runs). The merge
//! rule is [`merge_rows`], shared with every backend.

use std::time::SystemTime;

use postgres::types::Json;
use postgres::{Row, Transaction};
use waymark_core::audit::{
    merge_rows, AuditRow, AuditUpsert, PendingAudit, RunFilter, RunStatus, Step, StoredRun,
    UpsertSummary,
};

use super::{pg_text, time_text, to_time, PgStore};
use crate::{Result, StoreError};

pub(crate) const COLUMNS: &str = "run_key, logscan_id, system_type, folder_name, workflow_name, \
    session_name, run_id, start_micros, end_micros, status, source_rows, target_rows, \
    rejected_rows, source_name, target_name, error_message, log_file, extra, updated_at";

const VALUES: &str = "logscan_id, system_type, folder_name, workflow_name, session_name, \
    run_id, start_time, end_time, start_micros, end_micros, duration_seconds, status, \
    source_rows, target_rows, rejected_rows, source_name, target_name, error_message, \
    log_file, extra";

impl crate::AuditStore for PgStore {
    fn pending_audits(&self) -> Result<Vec<PendingAudit>> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT f.logscan_id, f.file_path, f.system_type, f.position
                 FROM scanned_files f LEFT JOIN audit_progress p ON p.logscan_id = f.logscan_id
                 WHERE f.state = 'active' AND f.system_type <> 'UNKNOWN'
                   AND (p.position IS NULL OR p.position < f.position)
                 ORDER BY f.logscan_id",
                &[],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                Ok(PendingAudit {
                    logscan_id: r.try_get(0)?,
                    file_path: r.try_get(1)?,
                    system_type: r.try_get(2)?,
                    position: r.try_get::<_, i64>(3)?.max(0) as u64,
                })
            })
            .collect()
    }

    fn upsert_runs(
        &mut self,
        runs: &[AuditUpsert],
        audited: Option<(i64, u64)>,
    ) -> Result<UpsertSummary> {
        self.transact(|tx| {
            if !runs.is_empty() {
                tx.execute("SELECT 1 FROM export_sequences WHERE name = 'runs' FOR UPDATE", &[])?;
            }
            let mut summary = UpsertSummary::default();
            let mut order: Vec<&AuditUpsert> = runs.iter().collect();
            order.sort_by(|a, b| a.run_key.cmp(&b.run_key));
            for u in order {
                upsert_one(tx, u, &mut summary)?;
            }
            if let Some((id, position)) = audited {
                tx.execute(
                    "INSERT INTO audit_progress (logscan_id, position, audited_at) VALUES ($1, $2, now())
                     ON CONFLICT (logscan_id) DO UPDATE
                     SET position = greatest(audit_progress.position, excluded.position),
                         audited_at = excluded.audited_at",
                    &[&id, &i64::try_from(position).unwrap_or(i64::MAX)],
                )?;
            }
            Ok(summary)
        })
    }

    fn runs(&self, filter: &RunFilter) -> Result<Vec<StoredRun>> {
        // The latest `limit` runs by start (no start counts as latest), shown oldest first.
        let sql = format!(
            "SELECT {COLUMNS} FROM etl_log_audit
             WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR system_type = $2)
               AND ($3::bigint IS NULL OR start_micros >= $3)
               AND ($4::bigint IS NULL OR start_micros < $4)
             ORDER BY start_micros DESC NULLS FIRST, id DESC
             LIMIT $5"
        );
        let limit = if filter.limit == 0 { i64::MAX } else { filter.limit as i64 };
        let rows = self.with(|c| {
            Ok(c.query(
                &sql,
                &[
                    &filter.status.map(RunStatus::as_str),
                    &filter.system_type,
                    &filter.since,
                    &filter.until,
                    &limit,
                ],
            )?)
        })?;
        let mut out = rows.iter().map(stored_run).collect::<Result<Vec<_>>>()?;
        out.reverse();
        for r in &mut out {
            r.row.steps = self.steps(&r.run_key)?;
        }
        Ok(out)
    }

    fn stored_run(&self, run_key: &str) -> Result<Option<StoredRun>> {
        let sql = format!("SELECT {COLUMNS} FROM etl_log_audit WHERE run_key = $1");
        let row = self.with(|c| Ok(c.query_opt(&sql, &[&run_key])?))?;
        let Some(row) = row else { return Ok(None) };
        let mut run = stored_run(&row)?;
        run.row.steps = self.steps(run_key)?;
        Ok(Some(run))
    }

    fn steps(&self, run_key: &str) -> Result<Vec<Step>> {
        self.with(|c| read_steps(c, run_key))
    }
}

const STEP_COLUMNS: &str =
    "name, kind, status, start_micros, end_micros, rows_affected, message, exact";

/// The steps of a run, in order.
pub(crate) fn read_steps(c: &mut impl postgres::GenericClient, run_key: &str) -> Result<Vec<Step>> {
    let rows = c.query(
        &format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_key = $1 ORDER BY ordinal"),
        &[&run_key],
    )?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get(2)?;
            Ok(Step {
                name: r.try_get(0)?,
                kind: r.try_get(1)?,
                status: RunStatus::from_word(&status).unwrap_or_default(),
                start_time: r.try_get(3)?,
                end_time: r.try_get(4)?,
                rows: r.try_get(5)?,
                message: r.try_get(6)?,
                exact: r.try_get::<_, i32>(7)? != 0,
            })
        })
        .collect()
}

/// Replaces the steps of a run by the merged ones (the merge already kept every known value).
fn write_steps(tx: &mut Transaction<'_>, run_key: &str, steps: &[Step]) -> Result<()> {
    tx.execute("DELETE FROM steps WHERE run_key = $1", &[&run_key])?;
    let insert = tx.prepare(
        "INSERT INTO steps (run_key, ordinal, name, kind, status, start_time, end_time,
            start_micros, end_micros, duration_seconds, rows_affected, message, exact)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )?;
    for (i, s) in steps.iter().enumerate() {
        let duration = match (s.start_time, s.end_time) {
            (Some(a), Some(b)) => Some((b - a) as f64 / 1e6),
            _ => None,
        };
        tx.execute(
            &insert,
            &[
                &run_key,
                &(i as i64),
                &pg_text(&s.name),
                &s.kind.as_deref().map(pg_text),
                &s.status.as_str(),
                &s.start_time.map(to_time),
                &s.end_time.map(to_time),
                &s.start_time,
                &s.end_time,
                &duration,
                &s.rows,
                &s.message.as_deref().map(pg_text),
                &i32::from(s.exact),
            ],
        )?;
    }
    Ok(())
}

fn upsert_one(
    tx: &mut Transaction<'_>,
    u: &AuditUpsert,
    summary: &mut UpsertSummary,
) -> Result<()> {
    let select = format!("SELECT {COLUMNS} FROM etl_log_audit WHERE run_key = $1 FOR UPDATE");
    loop {
        if let Some(row) = tx.query_opt(&select, &[&u.run_key])? {
            let mut known = stored_run(&row)?;
            known.row.steps = read_steps(tx, &u.run_key)?;
            let merged = merge_rows(&known.row, &clean_row(&u.row));
            let logscan_id = u.logscan_id.or(known.logscan_id);
            let log_file = u.log_file.clone().or_else(|| known.log_file.clone());
            if known.row == merged && known.logscan_id == logscan_id && known.log_file == log_file {
                summary.unchanged += 1;
            } else {
                write(tx, &u.run_key, &merged, logscan_id, log_file.as_deref(), false)?;
                if known.row.steps != merged.steps {
                    write_steps(tx, &u.run_key, &merged.steps)?;
                }
                summary.updated += 1;
            }
            return Ok(());
        }
        let row = clean_row(&u.row);
        if write(tx, &u.run_key, &row, u.logscan_id, u.log_file.as_deref(), true)? {
            write_steps(tx, &u.run_key, &row.steps)?;
            summary.inserted += 1;
            return Ok(());
        }
        // Another writer inserted the run between our look and our insert: merge into it.
    }
}

/// Inserts (`insert`: only when the key is new; returns whether it was) or updates a run.
fn write(
    tx: &mut Transaction<'_>,
    key: &str,
    row: &AuditRow,
    logscan_id: Option<i64>,
    log_file: Option<&str>,
    insert: bool,
) -> Result<bool> {
    // Every insert and every change takes the next number of the `runs` export sequence.
    let sql = if insert {
        format!(
            "WITH n AS (UPDATE export_sequences SET value = value + 1 WHERE name = 'runs'
                 RETURNING value)
             INSERT INTO etl_log_audit (run_key, {VALUES}, created_at, updated_at, change_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 $17, $18, $19, $20, $21, now(), now(), (SELECT value FROM n))
             ON CONFLICT (run_key) DO NOTHING"
        )
    } else {
        format!(
            "WITH n AS (UPDATE export_sequences SET value = value + 1 WHERE name = 'runs'
                 RETURNING value)
             UPDATE etl_log_audit SET ({VALUES}, updated_at, change_seq) =
                 ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                  $19, $20, $21, now(), (SELECT value FROM n))
             WHERE run_key = $1"
        )
    };
    let n = tx.execute(
        &sql,
        &[
            &key,
            &logscan_id,
            &row.system_type,
            &row.folder_name,
            &row.workflow_name,
            &row.session_name,
            &row.run_id,
            &row.start_time.map(to_time),
            &row.end_time.map(to_time),
            &row.start_time,
            &row.end_time,
            &row.duration_seconds(),
            &row.status.as_str(),
            &row.source_rows,
            &row.target_rows,
            &row.rejected_rows,
            &Json(&row.source_name),
            &Json(&row.target_name),
            &row.error_message,
            &log_file,
            &Json(&row.extra),
        ],
    )?;
    Ok(n == 1)
}

/// The row with its text as PostgreSQL can store it (see [`pg_text`]).
fn clean_row(row: &AuditRow) -> AuditRow {
    let text = |v: &Option<String>| v.as_deref().map(|s| pg_text(s).into_owned());
    let list = |v: &[String]| v.iter().map(|s| pg_text(s).into_owned()).collect();
    AuditRow {
        system_type: pg_text(&row.system_type).into_owned(),
        folder_name: text(&row.folder_name),
        workflow_name: text(&row.workflow_name),
        session_name: text(&row.session_name),
        run_id: text(&row.run_id),
        source_name: list(&row.source_name),
        target_name: list(&row.target_name),
        error_message: text(&row.error_message),
        extra: row.extra.iter().map(|(k, v)| (pg_text(k).into_owned(), clean_json(v))).collect(),
        steps: row
            .steps
            .iter()
            .map(|s| Step {
                name: pg_text(&s.name).into_owned(),
                kind: text(&s.kind),
                message: text(&s.message),
                ..s.clone()
            })
            .collect(),
        ..row.clone()
    }
}

fn clean_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(pg_text(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(clean_json).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (pg_text(k).into_owned(), clean_json(v))).collect())
        }
        other => other.clone(),
    }
}

pub(crate) fn stored_run(r: &Row) -> Result<StoredRun> {
    // A value this store wrote that does not read back is corruption: an error, never a
    // default that would pass for data.
    let list = |i: usize| -> Result<Vec<String>> {
        let Json(v): Json<serde_json::Value> = r.try_get(i)?;
        Ok(serde_json::from_value(v)?)
    };
    let status: String = r.try_get(9)?;
    let Json(extra): Json<serde_json::Value> = r.try_get(17)?;
    let updated_at: SystemTime = r.try_get(18)?;
    let row = AuditRow {
        system_type: r.try_get(2)?,
        folder_name: r.try_get(3)?,
        workflow_name: r.try_get(4)?,
        session_name: r.try_get(5)?,
        run_id: r.try_get(6)?,
        start_time: r.try_get(7)?,
        end_time: r.try_get(8)?,
        status: RunStatus::from_word(&status)
            .ok_or(StoreError::Corrupt { column: "etl_log_audit.status", value: status })?,
        source_rows: r.try_get(10)?,
        target_rows: r.try_get(11)?,
        rejected_rows: r.try_get(12)?,
        source_name: list(13)?,
        target_name: list(14)?,
        error_message: r.try_get(15)?,
        extra: serde_json::from_value(extra)?,
        steps: Vec::new(),
    };
    Ok(StoredRun {
        run_key: r.try_get(0)?,
        row,
        logscan_id: r.try_get(1)?,
        log_file: r.try_get(16)?,
        updated_at: time_text(updated_at),
    })
}

/// Records a scanned file version the way `waymark scan` does (tests of the audit side).
#[cfg(test)]
pub(crate) fn record_scanned(
    s: &PgStore,
    logscan_id: i64,
    path: &str,
    system_type: &str,
    position: u64,
) {
    s.with(|c| {
        Ok(c.execute(
            "INSERT INTO scanned_files (logscan_id, file_path, system_type, size, position,
                first_scanned_at, scanned_at)
             VALUES ($1, $2, $3, $4, $4, now(), now())
             ON CONFLICT (logscan_id) DO UPDATE SET position = excluded.position,
                size = excluded.size",
            &[&logscan_id, &path, &system_type, &(position as i64)],
        )?)
    })
    .unwrap();
}
