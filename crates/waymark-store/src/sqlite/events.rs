//! [`EventStore`] for SQLite.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension as _, Row};
use waymark_core::correlate::{Change, Pending, PendingKind};
use waymark_core::normalize::format_utc;
use waymark_core::pipeline::Batch;
use waymark_core::{correlation_hash, Event, Origin, Status};

use super::{now_text, SqliteStore};
use crate::model::{DeadLetterRow, EventRow, FailureFilter, PendingRow, SourceRow, StoreStats};
use crate::{EventStore, JoinState, Result, StoreError};

const EVENT_COLUMNS: &str = "e.system_id, e.checkpoint_id, e.timestamp, e.status, \
     e.correlation_id, e.failure_reason, e.ts_us, s.name, e.position, b.committed_at";
/// Fills an event's reason, never replacing one it has.
const ATTACH: &str = "UPDATE events SET failure_reason = ?3 \
     WHERE source_id = ?1 AND position = ?2 AND failure_reason IS NULL";
const EVENT_FROM: &str =
    "events e JOIN sources s ON s.id = e.source_id JOIN batches b ON b.id = e.batch_id";

impl EventStore for SqliteStore {
    fn source(&mut self, kind: &str, name: &str) -> Result<SourceRow> {
        const SELECT: &str =
            "SELECT id, kind, name, position, identity, watermark_us FROM sources \
                              WHERE kind = ?1 AND name = ?2";
        // A known source is only read: taking the write lock to find it would make every run
        // that continues a file wait behind another writer before it has anything to write.
        if let Some(row) =
            self.conn.query_row(SELECT, params![kind, name], source_row).optional()?
        {
            return Ok(row);
        }
        self.conn.execute(
            "INSERT INTO sources (kind, name) VALUES (?1, ?2) ON CONFLICT (kind, name) DO NOTHING",
            params![kind, name],
        )?;
        Ok(self.conn.query_row(SELECT, params![kind, name], source_row)?)
    }

    fn retire_source(&mut self, id: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE sources SET kind = kind || ':retired', name = name || ' #' || id, updated_at = ?2 \
             WHERE id = ?1",
            params![id, now_text()],
        )?;
        Ok(())
    }

    fn rename_source(&mut self, id: u32, name: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        let now = now_text();
        tx.execute(
            "UPDATE sources SET kind = kind || ':retired', name = name || ' #' || id, updated_at = ?3 \
             WHERE name = ?2 AND id != ?1 \
             AND kind = (SELECT replace(kind, ':retired', '') FROM sources WHERE id = ?1)",
            params![id, name, now],
        )?;
        // A retired version found again is active again, under its new name.
        tx.execute(
            "UPDATE sources SET name = ?2, kind = replace(kind, ':retired', ''), updated_at = ?3 \
             WHERE id = ?1",
            params![id, name, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn join_state(&self) -> Result<JoinState> {
        let waiting = self.pending_where("1 = 1", None)?;
        let watermarks =
            self.sources()?.into_iter().filter_map(|s| s.watermark.map(|w| (s.id, w))).collect();
        Ok((waiting, watermarks))
    }

    fn pending_of_source(&self, source: u32) -> Result<Vec<Pending>> {
        self.pending_where("source_id = ?1", Some(source))
    }

    fn recent_orphans(&self, limit: usize) -> Result<Vec<Pending>> {
        let sql = format!(
            "SELECT * FROM (SELECT source_id, position, kind, system_id, correlation_id, ts_us, reason \
             FROM join_pending WHERE state = 'orphan' ORDER BY ts_us DESC, source_id DESC, position DESC \
             LIMIT {}) ORDER BY ts_us, source_id, position",
            limit.min(i64::MAX as usize)
        );
        self.pending_rows(&sql, &[])
    }

    fn commit(&mut self, batch: &Batch) -> Result<()> {
        let now = now_text();
        let tx = self.conn.transaction()?;
        let c = &batch.counts;
        tx.execute(
            "INSERT INTO batches (committed_at, records, events, dead_letters) VALUES (?1, ?2, ?3, ?4)",
            params![now, c.records as i64, c.events as i64, c.rejected as i64],
        )?;
        let batch_id = tx.last_insert_rowid();
        {
            let mut inserts = Inserter::default();
            let mut attach = tx.prepare_cached(ATTACH)?;
            let mut wait = tx.prepare_cached(
                "INSERT OR IGNORE INTO join_pending (source_id, position, kind, system_id, correlation_id, ts_us, reason, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut joined = tx.prepare_cached(
                "DELETE FROM join_pending WHERE source_id = ?1 AND position = ?2",
            )?;
            let mut orphaned = tx.prepare_cached(
                "UPDATE join_pending SET state = 'orphan' WHERE source_id = ?1 AND position = ?2 \
                 RETURNING kind, system_id, correlation_id",
            )?;
            let fold = Fold::of(batch);
            for change in &batch.changes {
                match change {
                    Change::Insert { origin, event } => {
                        let reason = fold.reasons.get(origin).copied();
                        inserts.push(&tx, *origin, event, reason, batch_id)?;
                        continue;
                    }
                    Change::Attach { event, .. } if fold.reasons.contains_key(event) => continue,
                    Change::Joined { key, .. } if fold.passing.contains(key) => continue,
                    _ => inserts.flush(&tx, batch_id)?,
                }
                match change {
                    Change::Insert { .. } => {}
                    Change::Attach { event, reason } => {
                        attach.execute(params![event.source, event.position as i64, reason])?;
                    }
                    // A half joined later in this batch: its row is never written; one that
                    // an earlier commit of the same record left (a replay) still goes.
                    Change::Wait(p) if fold.passing.contains(&p.key) => {
                        joined.execute(params![p.key.source, p.key.position as i64])?;
                    }
                    Change::Wait(p) => {
                        wait.execute(params![
                            p.key.source,
                            p.key.position as i64,
                            p.kind.as_str(),
                            p.system_id,
                            p.correlation_id,
                            p.ts_micros,
                            p.reason,
                            now
                        ])?;
                    }
                    Change::Joined { key, .. } => {
                        joined.execute(params![key.source, key.position as i64])?;
                    }
                    Change::Orphaned { key } => {
                        let half = orphaned
                            .query_row(params![key.source, key.position as i64], |r| {
                                Ok((
                                    r.get::<_, String>(0)?,
                                    r.get::<_, String>(1)?,
                                    r.get::<_, String>(2)?,
                                ))
                            })
                            .optional()?;
                        if let Some((kind, system, id)) = half {
                            late_join(&tx, *key, &kind, &system, &id)?;
                        }
                    }
                }
            }
            inserts.flush(&tx, batch_id)?;
            let mut count = tx.prepare_cached(
                "INSERT INTO event_counts (hour_us, system_id, checkpoint_id, status, n) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE SET n = n + excluded.n",
            )?;
            for ((hour, system, checkpoint, status), n) in &inserts.counts {
                count.execute(params![hour, system, checkpoint, status, *n as i64])?;
            }
            let mut dead = tx.prepare_cached(
                "INSERT OR IGNORE INTO dead_letters (source_id, position, kind, reason, raw, raw_len, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for d in &batch.dead_letters {
                dead.execute(params![
                    d.origin.source,
                    d.origin.position as i64,
                    d.reason.kind.as_str(),
                    d.reason.message,
                    d.raw,
                    d.raw_len as i64,
                    now
                ])?;
            }
            let mut pos = tx.prepare_cached(
                "UPDATE sources SET position = ?2, identity = coalesce(?3, identity), updated_at = ?4 \
                 WHERE id = ?1",
            )?;
            for p in &batch.positions {
                pos.execute(params![p.source, p.position as i64, p.identity, now])?;
            }
            let mut wm = tx.prepare_cached("UPDATE sources SET watermark_us = ?2 WHERE id = ?1")?;
            for (source, watermark) in &batch.watermarks {
                wm.execute(params![source, watermark])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn trace(&self, correlation_id: &str) -> Result<Vec<EventRow>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} \
             WHERE e.corr_hash = ?1 AND e.correlation_id = ?2 ORDER BY e.ts_us, e.source_id, e.position"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows =
            stmt.query_map(params![correlation_hash(correlation_id), correlation_id], event_row)?;
        rows.map(|r| r?).collect()
    }

    fn failures(&self, f: &FailureFilter) -> Result<Vec<EventRow>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} \
             WHERE e.status = 'FAILURE' AND e.ts_us >= ?1 AND e.ts_us < ?2 \
             AND (?3 IS NULL OR e.system_id = ?3) ORDER BY e.ts_us, e.source_id, e.position LIMIT ?4"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let limit = if f.limit == 0 { i64::MAX } else { f.limit as i64 };
        let rows = stmt.query_map(
            params![f.since.unwrap_or(i64::MIN), f.until.unwrap_or(i64::MAX), f.system, limit],
            event_row,
        )?;
        rows.map(|r| r?).collect()
    }

    fn orphans(&self, limit: usize) -> Result<Vec<PendingRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.kind, p.system_id, p.correlation_id, p.ts_us, p.reason, p.state, s.name, p.position \
             FROM join_pending p JOIN sources s ON s.id = p.source_id \
             WHERE p.state = 'orphan' ORDER BY p.ts_us, p.source_id, p.position LIMIT ?1",
        )?;
        let limit = if limit == 0 { i64::MAX } else { limit as i64 };
        let rows = stmt.query_map([limit], |r| {
            let kind: String = r.get(0)?;
            let state: String = r.get(5)?;

            Ok(PendingRow {
                kind: PendingKind::parse(&kind).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        format!("corrupt join_pending.kind `{kind}`").into(),
                    )
                })?,
                system_id: r.get(1)?,
                correlation_id: r.get(2)?,
                timestamp: ts_text(r.get(3)?),
                reason: r.get(4)?,
                orphan: state == "orphan",
                source: r.get(6)?,
                position: r.get::<_, i64>(7)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.name, d.position, d.kind, d.reason, d.raw, d.raw_len FROM dead_letters d \
             JOIN sources s ON s.id = d.source_id ORDER BY d.source_id, d.position LIMIT ?1",
        )?;
        let limit = if limit == 0 { i64::MAX } else { limit as i64 };
        let rows = stmt.query_map([limit], |r| {
            Ok(DeadLetterRow {
                source: r.get(0)?,
                position: r.get::<_, i64>(1)? as u64,
                kind: r.get(2)?,
                reason: r.get(3)?,
                raw: r.get(4)?,
                raw_len: r.get::<_, i64>(5)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn sources(&self) -> Result<Vec<SourceRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, name, position, identity, watermark_us FROM sources ORDER BY id",
        )?;
        let rows = stmt.query_map([], source_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn stats(&self) -> Result<StoreStats> {
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(StoreStats {
            events: count("SELECT coalesce(sum(n), 0) FROM event_counts")?,
            failures: count(
                "SELECT coalesce(sum(n), 0) FROM event_counts WHERE status = 'FAILURE'",
            )?,
            failures_without_reason: count(
                "SELECT count(*) FROM events WHERE status = 'FAILURE' AND failure_reason IS NULL",
            )?,
            waiting: count("SELECT count(*) FROM join_pending WHERE state = 'waiting'")?,
            orphans: count("SELECT count(*) FROM join_pending WHERE state = 'orphan'")?,
            dead_letters: count("SELECT count(*) FROM dead_letters")?,
        })
    }
}

/// Changes of one batch that cancel out within it, so that they cost no write: a half that
/// waits and is joined in the same batch (its `join_pending` row would be inserted and deleted
/// again), and the reason attached to a failure the same batch inserts (an `UPDATE` of the row
/// just inserted: the insert carries the reason instead). What is stored is the same; a batch
/// with an orphan in it is not folded (an orphan's late join reads `join_pending` and the
/// events' reasons in the middle of the batch).
#[derive(Default)]
struct Fold<'b> {
    /// Waiting halves joined later in the batch.
    passing: HashSet<Origin, foldhash::fast::RandomState>,
    /// Reasons of failures inserted by the batch, written with their insert.
    reasons: HashMap<Origin, &'b str, foldhash::fast::RandomState>,
}

impl<'b> Fold<'b> {
    fn of(batch: &'b Batch) -> Fold<'b> {
        let mut fold = Fold::default();
        if batch.changes.iter().any(|c| matches!(c, Change::Orphaned { .. })) {
            return fold;
        }
        let mut waited = HashSet::with_hasher(foldhash::fast::RandomState::default());
        for change in &batch.changes {
            match change {
                Change::Wait(p) => {
                    waited.insert(p.key);
                }
                Change::Joined { key, .. } if waited.contains(key) => {
                    fold.passing.insert(*key);
                }
                // A failure waits right after its insert: one joined in this batch was
                // inserted by it.
                Change::Attach { event, reason } if fold.passing.contains(event) => {
                    fold.reasons.insert(*event, reason);
                }
                _ => {}
            }
        }
        fold
    }
}

/// Rows per multi-row INSERT: one statement step per 32 events instead of one per event
/// (10 parameters a row, far below SQLite's limit).
const ROWS_PER_INSERT: usize = 32;
const INSERT_HEAD: &str =
    "INSERT OR IGNORE INTO events (source_id, position, system_id, checkpoint_id, timestamp, \
     status, correlation_id, failure_reason, ts_us, corr_hash, batch_id) VALUES ";

/// Buffers consecutive inserts and writes them with one multi-row statement, counting the
/// rows actually inserted by hour, system, checkpoint and status (for `event_counts`).
#[derive(Default)]
struct Inserter<'e> {
    /// Each row with the reason folded into it (see [`Fold`]).
    rows: Vec<(Origin, &'e Event, Option<&'e str>)>,
    /// Keyed with foldhash: SipHash over every row's strings was 5 % of a commit.
    counts: HashMap<(i64, &'e str, &'e str, &'static str), u64, foldhash::fast::RandomState>,
}

impl<'e> Inserter<'e> {
    fn push(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        origin: Origin,
        e: &'e Event,
        reason: Option<&'e str>,
        batch: i64,
    ) -> Result<()> {
        self.rows.push((origin, e, reason));
        if self.rows.len() == ROWS_PER_INSERT {
            self.flush(tx, batch)?;
        }
        Ok(())
    }

    /// Writes the buffered rows; called before any other change so that order is kept.
    fn flush(&mut self, tx: &rusqlite::Transaction<'_>, batch: i64) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut stmt = tx.prepare_cached(&insert_sql(self.rows.len()))?;
        let mut i = 1;
        for &(origin, e, reason) in &self.rows {
            stmt.raw_bind_parameter(i, origin.source)?;
            stmt.raw_bind_parameter(i + 1, origin.position as i64)?;
            stmt.raw_bind_parameter(i + 2, &e.system_id)?;
            stmt.raw_bind_parameter(i + 3, &e.checkpoint_id)?;
            stmt.raw_bind_parameter(i + 4, e.timestamp())?;
            stmt.raw_bind_parameter(i + 5, e.status.as_str())?;
            stmt.raw_bind_parameter(i + 6, &e.correlation_id)?;
            stmt.raw_bind_parameter(i + 7, reason.or(e.failure_reason.as_deref()))?;
            stmt.raw_bind_parameter(i + 8, e.ts_micros)?;
            stmt.raw_bind_parameter(i + 9, correlation_hash(&e.correlation_id))?;
            stmt.raw_bind_parameter(i + 10, batch)?;
            i += 11;
        }
        let inserted = stmt.raw_execute()?;
        let rows = std::mem::take(&mut self.rows);
        if inserted == rows.len() {
            for (_, e, _) in &rows {
                self.count(e);
            }
        } else {
            // A replay: some rows were there already. The ones this batch inserted carry its id;
            // a reason folded into a row that was there is attached as the batch would have.
            let mut mine = tx.prepare_cached(
                "SELECT batch_id = ?3 FROM events WHERE source_id = ?1 AND position = ?2",
            )?;
            for &(origin, e, reason) in &rows {
                let ours: bool = mine
                    .query_row(params![origin.source, origin.position as i64, batch], |r| {
                        r.get(0)
                    })?;
                if ours {
                    self.count(e);
                } else if let Some(reason) = reason {
                    tx.prepare_cached(ATTACH)?.execute(params![
                        origin.source,
                        origin.position as i64,
                        reason
                    ])?;
                }
            }
        }
        Ok(())
    }

    fn count(&mut self, e: &'e Event) {
        let key = (
            crate::query::hour_of(e.ts_micros),
            &*e.system_id,
            &*e.checkpoint_id,
            e.status.as_str(),
        );
        *self.counts.entry(key).or_default() += 1;
    }
}

impl SqliteStore {
    /// Waiting halves, optionally of one source.
    fn pending_where(&self, filter: &str, source: Option<u32>) -> Result<Vec<Pending>> {
        let sql = format!(
            "SELECT source_id, position, kind, system_id, correlation_id, ts_us, reason FROM join_pending \
             WHERE state = 'waiting' AND {filter} ORDER BY source_id, position"
        );
        let params: Vec<u32> = source.into_iter().collect();
        self.pending_rows(&sql, &params)
    }

    /// Rows of `join_pending` selected by `sql` (its first seven columns as in `pending_where`).
    fn pending_rows(&self, sql: &str, params: &[u32]) -> Result<Vec<Pending>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
            let kind: String = r.get(2)?;
            Ok((
                kind,
                Pending {
                    key: Origin { source: r.get(0)?, position: r.get::<_, i64>(1)? as u64 },
                    kind: PendingKind::Failure,
                    system_id: r.get(3)?,
                    correlation_id: r.get(4)?,
                    ts_micros: r.get(5)?,
                    reason: r.get(6)?,
                },
            ))
        })?;
        rows.map(|r| {
            let (kind, mut p) = r?;
            p.kind = PendingKind::parse(&kind)
                .ok_or(StoreError::Corrupt { column: "join_pending.kind", value: kind })?;
            Ok(p)
        })
        .collect()
    }
}

/// An orphan that meets its partner: when a half becomes an orphan while an orphan of the other
/// kind waits for the same system and correlation id (each outlived the time-to-live on its
/// own, e.g. a reason whose source had ended before its failure was read), the two are joined
/// now — the oldest partner first, as in the correlator — and both leave `join_pending`.
/// Orphaning early therefore loses nothing.
fn late_join(
    tx: &rusqlite::Transaction<'_>,
    key: Origin,
    kind: &str,
    system: &str,
    id: &str,
) -> Result<()> {
    let other = if kind == "failure" { "reason" } else { "failure" };
    let mut find = tx.prepare_cached(
        "SELECT source_id, position, reason FROM join_pending \
         WHERE state = 'orphan' AND system_id = ?1 AND correlation_id = ?2 AND kind = ?3 \
         ORDER BY ts_us, source_id, position LIMIT 1",
    )?;
    let partner = find
        .query_row(params![system, id, other], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?))
        })
        .optional()?;
    let Some((p_source, p_position, p_reason)) = partner else { return Ok(()) };
    let (event, reason) = if kind == "failure" {
        ((key.source, key.position as i64), p_reason)
    } else {
        let mine: Option<String> = tx
            .prepare_cached(
                "SELECT reason FROM join_pending WHERE source_id = ?1 AND position = ?2",
            )?
            .query_row(params![key.source, key.position as i64], |r| r.get(0))?;
        ((p_source, p_position), mine)
    };
    tx.prepare_cached(ATTACH)?.execute(params![event.0, event.1, reason])?;
    let mut delete =
        tx.prepare_cached("DELETE FROM join_pending WHERE source_id = ?1 AND position = ?2")?;
    delete.execute(params![key.source, key.position as i64])?;
    delete.execute(params![p_source, p_position])?;
    Ok(())
}

fn insert_sql(rows: usize) -> String {
    let one = "(?,?,?,?,?,?,?,?,?,?,?)";
    let mut sql = String::with_capacity(INSERT_HEAD.len() + rows * (one.len() + 1));
    sql.push_str(INSERT_HEAD);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push_str(one);
    }
    sql
}

fn ts_text(us: i64) -> String {
    if us == i64::MIN {
        return String::new();
    }
    format_utc(us)
}

fn source_row(r: &Row<'_>) -> rusqlite::Result<SourceRow> {
    Ok(SourceRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        name: r.get(2)?,
        position: r.get::<_, i64>(3)? as u64,
        identity: r.get(4)?,
        watermark: r.get(5)?,
    })
}

fn event_row(r: &Row<'_>) -> rusqlite::Result<Result<EventRow>> {
    let status: String = r.get(3)?;
    let Some(status) = Status::from_canonical(&status) else {
        return Ok(Err(StoreError::Corrupt { column: "events.status", value: status }));
    };
    Ok(Ok(EventRow {
        event: Event {
            system_id: r.get(0)?,
            checkpoint_id: r.get(1)?,
            status,
            correlation_id: r.get(4)?,
            failure_reason: r.get(5)?,
            ts_micros: r.get(6)?,
        },
        source: r.get(7)?,
        position: r.get::<_, i64>(8)? as u64,
        ingested_at: r.get(9)?,
    }))
}
