//! [`QueryStore`] for PostgreSQL: the same keyset pages and answers as SQLite's, on the same
//! sort keys, so a page costs the same wherever it starts.

use std::time::SystemTime;

use postgres::types::ToSql;
use postgres::Row;
use waymark_core::answer::{
    Cursor, DeadLetterView, EventView, FlagClock, FlowTrace, OrphanView, Page, RunView,
    ScanResultView, SourceView, StatusView, Summary,
};
use waymark_core::audit::RunStatus;
use waymark_core::normalize::format_utc;

use super::{time_text, PgStore};
use crate::query::{
    counts_cover, keyed_page, DeadLetterQuery, FailureQuery, OrphanQuery, PageRequest, QueryStore,
    RunQuery, ScanResultQuery, HOUR_US,
};
use crate::{EventStore, Result};

const EVENT_COLUMNS: &str = "e.system_id, e.checkpoint_id, e.status, e.correlation_id, \
     e.failure_reason, e.ts_us, s.name, e.position, e.source_id";
const EVENT_FROM: &str = "events e JOIN sources s ON s.id = e.source_id";

/// A page size as a `LIMIT` (no limit: `NULL`, which PostgreSQL reads as none).
fn limit_of(fetch: i64) -> Option<i64> {
    (fetch >= 0).then_some(fetch)
}

impl QueryStore for PgStore {
    fn flow(&self, correlation_id: &str) -> Result<FlowTrace> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM}
             WHERE e.correlation_id = $1 ORDER BY e.ts_us, e.source_id, e.position"
        );
        let rows = self.with(|c| Ok(c.query(&sql, &[&super::pg_text(correlation_id)])?))?;
        let events =
            rows.iter().map(|r| event_view(r).map(|(_, e)| e)).collect::<Result<Vec<_>>>()?;
        Ok(FlowTrace::new(correlation_id, events))
    }

    fn failure_page(&self, q: &FailureQuery, page: &PageRequest) -> Result<Page<EventView>> {
        let after = page.after(3)?;
        let (after_ts, after_src, after_pos) =
            after.map_or((i64::MIN, i64::MIN, i64::MIN), |c| (c.ints[0], c.ints[1], c.ints[2]));
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM}
             WHERE e.status = 'FAILURE' AND e.ts_us >= greatest($1::bigint, $2::bigint)
               AND e.ts_us < $3
               AND (e.ts_us > $2 OR (e.source_id, e.position) > ($4, $9))
               AND ($5::text IS NULL OR e.system_id = $5)
               AND ($6::text IS NULL OR e.checkpoint_id = $6)
               AND (NOT $7 OR e.failure_reason IS NULL)
             ORDER BY e.ts_us, e.source_id, e.position LIMIT $8"
        );
        let params: [&(dyn ToSql + Sync); 9] = [
            &q.since.unwrap_or(i64::MIN),
            &after_ts,
            &q.until.unwrap_or(i64::MAX),
            &after_src,
            &q.system,
            &q.checkpoint,
            &q.without_reason,
            &limit_of(page.fetch()),
            &after_pos,
        ];
        let rows = self.with(|c| Ok(c.query(&sql, &params)?))?;
        let rows = rows.iter().map(event_view).collect::<Result<Vec<_>>>()?;
        Ok(keyed_page(rows, page.limit))
    }

    fn orphan_page(&self, q: &OrphanQuery, page: &PageRequest) -> Result<Page<OrphanView>> {
        let after = page.after(3)?;
        let (after_ts, after_src, after_pos) =
            after.map_or((i64::MIN, i64::MIN, i64::MIN), |c| (c.ints[0], c.ints[1], c.ints[2]));
        let params: [&(dyn ToSql + Sync); 8] = [
            &q.since.unwrap_or(i64::MIN),
            &after_ts,
            &q.until.unwrap_or(i64::MAX),
            &after_src,
            &q.system,
            &q.kind,
            &limit_of(page.fetch()),
            &after_pos,
        ];
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT p.kind, p.system_id, p.correlation_id, p.ts_us, p.reason, s.name,
                        p.source_id, p.position
                 FROM join_pending p JOIN sources s ON s.id = p.source_id
                 WHERE p.state = 'orphan' AND p.ts_us >= greatest($1::bigint, $2::bigint)
                   AND p.ts_us < $3
                   AND (p.ts_us > $2 OR (p.source_id, p.position) > ($4, $8))
                   AND ($5::text IS NULL OR p.system_id = $5)
                   AND ($6::text IS NULL OR p.kind = $6)
                 ORDER BY p.ts_us, p.source_id, p.position LIMIT $7",
                &params,
            )?)
        })?;
        let rows = rows
            .iter()
            .map(|r| {
                let ts: i64 = r.try_get(3)?;
                let (source, position): (i64, i64) = (r.try_get(6)?, r.try_get(7)?);
                Ok((
                    Cursor::new(&[ts, source, position]),
                    OrphanView {
                        kind: r.try_get(0)?,
                        system_id: r.try_get(1)?,
                        correlation_id: r.try_get(2)?,
                        timestamp: format_utc(ts),
                        failure_reason: r.try_get(4)?,
                        source: r.try_get(5)?,
                        position: position as u64,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(keyed_page(rows, page.limit))
    }

    fn dead_letter_page(
        &self,
        q: &DeadLetterQuery,
        page: &PageRequest,
    ) -> Result<Page<DeadLetterView>> {
        let after = page.after(1)?.map_or(i64::MIN, |c| c.ints[0]);
        let params: [&(dyn ToSql + Sync); 4] =
            [&after, &q.kind, &q.source, &limit_of(page.fetch())];
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT s.name, d.position, d.kind, d.reason, d.raw, d.raw_len, d.id
                 FROM dead_letters d JOIN sources s ON s.id = d.source_id
                 WHERE d.id > $1 AND ($2::text IS NULL OR d.kind = $2)
                   AND ($3::text IS NULL OR s.name = $3)
                 ORDER BY d.id LIMIT $4",
                &params,
            )?)
        })?;
        let rows = rows
            .iter()
            .map(|r| {
                let raw: Vec<u8> = r.try_get(4)?;
                Ok((
                    Cursor::new(&[r.try_get(6)?]),
                    DeadLetterView {
                        source: r.try_get(0)?,
                        position: r.try_get::<_, i64>(1)? as u64,
                        kind: r.try_get(2)?,
                        reason: r.try_get(3)?,
                        raw: String::from_utf8_lossy(&raw).into_owned(),
                        raw_len: r.try_get::<_, i64>(5)? as u64,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(keyed_page(rows, page.limit))
    }

    fn run_page(&self, q: &RunQuery, page: &PageRequest) -> Result<Page<RunView>> {
        let mut after = page.after(2)?.map_or((i64::MAX, i64::MAX), |c| (c.ints[0], c.ints[1]));
        // Flags are judged on the rows read, so flagged runs are read in chunks until a page
        // (plus one row) is filled or the table ends.
        let chunk: i64 = if q.flagged { 512 } else { page.fetch() };
        let want = if page.limit == 0 { usize::MAX } else { page.limit + 1 };
        let mut kept: Vec<(Cursor, RunView)> = Vec::new();
        loop {
            let rows = self.run_rows(q, after, chunk)?;
            let read = rows.len();
            for (key, view) in rows {
                after = (key.ints[0], key.ints[1]);
                if q.flagged && view.flags.is_empty() {
                    continue;
                }
                kept.push((key, view));
                if kept.len() == want {
                    break;
                }
            }
            if kept.len() == want || chunk < 0 || (read as i64) < chunk {
                break;
            }
        }
        Ok(keyed_page(kept, page.limit))
    }

    fn run(&self, run_key: &str, clock: FlagClock) -> Result<Option<RunView>> {
        Ok(crate::AuditStore::stored_run(self, run_key)?.map(|run| RunView::new(&run, clock)))
    }

    fn scan_result_page(
        &self,
        q: &ScanResultQuery,
        page: &PageRequest,
    ) -> Result<Page<ScanResultView>> {
        let after = page.after(1)?.map_or(i64::MIN, |c| c.ints[0]);
        let params: [&(dyn ToSql + Sync); 7] = [
            &after,
            &q.system_type,
            &q.severity,
            &q.rule,
            &q.file_path,
            &q.logscan_id,
            &limit_of(page.fetch()),
        ];
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT id, logscan_id, file_path, system_type, line_number, byte_offset, rule,
                        severity, line, line_timestamp, scanned_at FROM logscan_results
                 WHERE id > $1 AND ($2::text IS NULL OR system_type = $2)
                   AND ($3::text IS NULL OR severity = $3) AND ($4::text IS NULL OR rule = $4)
                   AND ($5::text IS NULL OR file_path = $5)
                   AND ($6::bigint IS NULL OR logscan_id = $6)
                 ORDER BY id LIMIT $7",
                &params,
            )?)
        })?;
        let rows = rows
            .iter()
            .map(|r| {
                let id: i64 = r.try_get(0)?;
                let ts: Option<SystemTime> = r.try_get(9)?;
                Ok((
                    Cursor::new(&[id]),
                    ScanResultView {
                        id,
                        logscan_id: r.try_get(1)?,
                        file_path: r.try_get(2)?,
                        system_type: r.try_get(3)?,
                        line_number: r.try_get::<_, i64>(4)? as u64,
                        byte_offset: r.try_get::<_, i64>(5)? as u64,
                        rule: r.try_get(6)?,
                        severity: r.try_get(7)?,
                        line: r.try_get(8)?,
                        line_timestamp: ts.map(time_text),
                        scanned_at: time_text(r.try_get(10)?),
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(keyed_page(rows, page.limit))
    }

    fn status(&self) -> Result<StatusView> {
        let s = self.stats()?;
        let sources = self
            .sources()?
            .into_iter()
            .map(|r| SourceView { kind: r.kind, name: r.name, position: r.position })
            .collect();
        Ok(StatusView {
            events: s.events,
            failures: s.failures,
            failures_without_reason: s.failures_without_reason,
            waiting: s.waiting,
            orphans: s.orphans,
            dead_letters: s.dead_letters,
            sources,
        })
    }

    fn summary(&self, since: Option<i64>, until: Option<i64>) -> Result<Summary> {
        let sql = if counts_cover(since, until) {
            "SELECT system_id, checkpoint_id, status, hour_us, n FROM event_counts
             WHERE hour_us >= $1 AND hour_us < $2 AND $3::bigint > 0 ORDER BY 1, 2, 4"
        } else {
            "SELECT system_id, checkpoint_id, status,
                    ts_us - (((ts_us % $3) + $3) % $3) AS hour, count(*)
             FROM events WHERE ts_us >= $1 AND ts_us < $2
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4"
        };
        let rows = self.with(|c| {
            Ok(c.query(sql, &[&since.unwrap_or(i64::MIN), &until.unwrap_or(i64::MAX), &HOUR_US])?)
        })?;
        let rows = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get::<_, i64>(4)? as u64,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        crate::query::summary_of(since, until, rows)
    }
}

impl PgStore {
    /// Runs after `(start, id)` in the order newest start first (no start before all).
    fn run_rows(
        &self,
        q: &RunQuery,
        after: (i64, i64),
        limit: i64,
    ) -> Result<Vec<(Cursor, RunView)>> {
        let sql = format!(
            "SELECT {}, id, coalesce(start_micros, 9223372036854775807) AS k FROM etl_log_audit
             WHERE (coalesce(start_micros, 9223372036854775807) < $1
                    OR (coalesce(start_micros, 9223372036854775807) = $1 AND id < $2))
               AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR system_type = $4)
               AND ($5::bigint IS NULL OR start_micros >= $5)
               AND ($6::bigint IS NULL OR start_micros < $6)
             ORDER BY k DESC, id DESC LIMIT $7",
            super::audit::COLUMNS
        );
        let params: [&(dyn ToSql + Sync); 7] = [
            &after.0,
            &after.1,
            &q.status.map(RunStatus::as_str),
            &q.system_type,
            &q.since,
            &q.until,
            &limit_of(limit),
        ];
        let rows = self.with(|c| Ok(c.query(&sql, &params)?))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let n = r.len();
            let id: i64 = r.try_get(n - 2)?;
            let k: i64 = r.try_get(n - 1)?;
            let mut run = super::audit::stored_run(r)?;
            run.row.steps = self.with(|c| super::audit::read_steps(c, &run.run_key))?;
            out.push((Cursor::new(&[k, id]), RunView::new(&run, q.clock)));
        }
        Ok(out)
    }
}

fn event_view(r: &Row) -> Result<(Cursor, EventView)> {
    let ts_micros: i64 = r.try_get(5)?;
    let (source, position): (i64, i64) = (r.try_get(8)?, r.try_get(7)?);
    Ok((
        Cursor::new(&[ts_micros, source, position]),
        EventView {
            system_id: r.try_get(0)?,
            checkpoint_id: r.try_get(1)?,
            timestamp: format_utc(ts_micros),
            status: r.try_get(2)?,
            correlation_id: r.try_get(3)?,
            failure_reason: r.try_get(4)?,
            source: r.try_get(6)?,
            position: position as u64,
            ts_micros,
        },
    ))
}
