//! [`EventStore`] for PostgreSQL: binary COPY into a staging table, then one
//! `INSERT … ON CONFLICT DO NOTHING`; join changes as array statements; positions fenced.

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Row, Transaction};
use waymark_core::correlate::{Change, Pending, PendingKind};
use waymark_core::pipeline::Batch;
use waymark_core::{Event, Origin, Status};

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::{pg_text, time_text, to_time, PgStore, JOIN_LOCK, LOCK_CLASS};
use crate::model::{DeadLetterRow, EventRow, FailureFilter, PendingRow, SourceRow, StoreStats};
use crate::{EventStore, JoinState, Result, StoreError};

const EVENT_COLUMNS: &str = "e.system_id, e.checkpoint_id, e.status, e.correlation_id, \
     e.failure_reason, e.ts_us, s.name, e.position, b.committed_at";
const EVENT_FROM: &str =
    "events e JOIN sources s ON s.id = e.source_id JOIN batches b ON b.id = e.batch_id";
const SOURCE_COLUMNS: &str = "id, kind, name, position, identity, watermark_us";

/// The columns COPY writes, in order, with their types.
const STAGE_COLUMNS: &str = "source_id, position, system_id, checkpoint_id, timestamp, status, \
     correlation_id, failure_reason, ts_us, batch_id";
const STAGE_TYPES: &[Type] = &[
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
];

/// The (source, position) of an origin, as the two key columns.
fn key_columns(o: Origin) -> (i64, i64) {
    (i64::from(o.source), o.position as i64)
}

/// The second key of a source's lease lock: a hash of its kind and name.
pub(super) fn lease_key(kind: &str, name: &str) -> i32 {
    let h = waymark_core::correlation_hash(&format!("{kind}\u{0}{name}"));
    (h ^ (h >> 32)) as i32
}

impl EventStore for PgStore {
    fn source(&mut self, kind: &str, name: &str) -> Result<SourceRow> {
        let row = self.with(|client| {
            if kind == "file" {
                // A lease: a second process ingesting the same file waits here until the first
                // one's connection ends, then resumes from the position it reached.
                client.execute(
                    "SELECT pg_advisory_lock($1, $2)",
                    &[&LOCK_CLASS, &lease_key(kind, name)],
                )?;
            }
            // Claim: raise the epoch and remember it; commits check it (see `fence`). Claimed
            // again after a lost connection: the epoch is raised once more, still this writer's.
            Ok(client.query_one(
                &format!(
                    "INSERT INTO sources (kind, name, epoch, updated_at) VALUES ($1, $2, 1, now())
                     ON CONFLICT (kind, name) DO UPDATE SET epoch = sources.epoch + 1
                     RETURNING {SOURCE_COLUMNS}, epoch"
                ),
                &[&kind, &name],
            )?)
        })?;
        let source = source_row(&row)?;
        let epoch: i64 = row.get(6);
        self.claims.lock().unwrap_or_else(|e| e.into_inner()).insert(source.id, epoch);
        if kind == "file" {
            // Taken again if the connection is lost (see `PgStore::restore`).
            let mut leases = self.leases.borrow_mut();
            if !leases.iter().any(|l| l.2 == source.id && l.1 == name) {
                leases.push((kind.to_owned(), name.to_owned(), source.id));
            }
        }
        Ok(source)
    }

    fn retire_source(&mut self, id: u32) -> Result<()> {
        self.transact(|tx| {
            tx.execute(
                "UPDATE sources SET kind = kind || ':retired', name = name || ' #' || id,
                     updated_at = now() WHERE id = $1",
                &[&i64::from(id)],
            )?;
            Ok(())
        })
    }

    fn rename_source(&mut self, id: u32, name: &str) -> Result<()> {
        let id = i64::from(id);
        self.transact(|tx| {
            tx.execute(
                "UPDATE sources SET kind = kind || ':retired', name = name || ' #' || id,
                     updated_at = now()
                 WHERE name = $2 AND id <> $1
                   AND kind = (SELECT replace(kind, ':retired', '') FROM sources WHERE id = $1)",
                &[&id, &name],
            )?;
            // A retired version found again is active again, under its new name.
            tx.execute(
                "UPDATE sources SET name = $2, kind = replace(kind, ':retired', ''),
                     updated_at = now()
                 WHERE id = $1",
                &[&id, &name],
            )?;
            Ok(())
        })
    }

    fn recent_orphans(&self, limit: usize) -> Result<Vec<Pending>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.pending_query(
            "SELECT * FROM (SELECT source_id, position, kind, system_id, correlation_id, ts_us,
                 reason FROM join_pending WHERE state = 'orphan'
                 ORDER BY ts_us DESC, source_id DESC, position DESC LIMIT $1) o
             ORDER BY ts_us, source_id, position",
            &[&limit],
        )
    }

    fn join_state(&self) -> Result<JoinState> {
        let waiting = self.pending_where(None)?;
        let watermarks =
            self.sources()?.into_iter().filter_map(|s| s.watermark.map(|w| (s.id, w))).collect();
        Ok((waiting, watermarks))
    }

    fn pending_of_source(&self, source: u32) -> Result<Vec<Pending>> {
        self.pending_where(Some(source))
    }

    fn commit(&mut self, batch: &Batch) -> Result<()> {
        // Run again when the connection is lost before the COMMIT; never twice when it landed
        // (see `PgStore::transact`).
        self.transact(|tx| {
            let claims = self.claims.lock().unwrap_or_else(|e| e.into_inner()).clone();
            commit_batch(tx, batch, &claims)
        })
    }

    fn trace(&self, correlation_id: &str) -> Result<Vec<EventRow>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM}
             WHERE e.correlation_id = $1 ORDER BY e.ts_us, e.source_id, e.position"
        );
        self.with(|c| c.query(&sql, &[&pg_text(correlation_id)])?.iter().map(event_row).collect())
    }

    fn failures(&self, f: &FailureFilter) -> Result<Vec<EventRow>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM}
             WHERE e.status = 'FAILURE' AND e.ts_us >= $1 AND e.ts_us < $2
               AND ($3::text IS NULL OR e.system_id = $3)
             ORDER BY e.ts_us, e.source_id, e.position LIMIT $4"
        );
        let limit = if f.limit == 0 { i64::MAX } else { f.limit as i64 };
        let params: [&(dyn ToSql + Sync); 4] =
            [&f.since.unwrap_or(i64::MIN), &f.until.unwrap_or(i64::MAX), &f.system, &limit];
        self.with(|c| c.query(&sql, &params)?.iter().map(event_row).collect())
    }

    fn orphans(&self, limit: usize) -> Result<Vec<PendingRow>> {
        let limit = if limit == 0 { i64::MAX } else { limit as i64 };
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT p.kind, p.system_id, p.correlation_id, p.ts_us, p.reason, p.state,
                        s.name, p.position
                 FROM join_pending p JOIN sources s ON s.id = p.source_id
                 WHERE p.state = 'orphan' ORDER BY p.ts_us, p.source_id, p.position LIMIT $1",
                &[&limit],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(0)?;
                let state: String = r.try_get(5)?;
                Ok(PendingRow {
                    kind: pending_kind(kind)?,
                    system_id: r.try_get(1)?,
                    correlation_id: r.try_get(2)?,
                    timestamp: ts_text(r.try_get(3)?),
                    reason: r.try_get(4)?,
                    orphan: state == "orphan",
                    source: r.try_get(6)?,
                    position: r.try_get::<_, i64>(7)? as u64,
                })
            })
            .collect()
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterRow>> {
        let limit = if limit == 0 { i64::MAX } else { limit as i64 };
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT s.name, d.position, d.kind, d.reason, d.raw, d.raw_len
                 FROM dead_letters d JOIN sources s ON s.id = d.source_id
                 ORDER BY d.source_id, d.position LIMIT $1",
                &[&limit],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetterRow {
                    source: r.try_get(0)?,
                    position: r.try_get::<_, i64>(1)? as u64,
                    kind: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    raw: r.try_get(4)?,
                    raw_len: r.try_get::<_, i64>(5)? as u64,
                })
            })
            .collect()
    }

    fn sources(&self) -> Result<Vec<SourceRow>> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY id");
        self.with(|c| c.query(&sql, &[])?.iter().map(source_row).collect())
    }

    fn stats(&self) -> Result<StoreStats> {
        let row = self.with(|c| {
            Ok(c.query_one(
                "SELECT
                    (SELECT coalesce(sum(n), 0)::bigint FROM event_counts),
                    (SELECT coalesce(sum(n), 0)::bigint FROM event_counts
                        WHERE status = 'FAILURE'),
                    (SELECT count(*) FROM events
                        WHERE status = 'FAILURE' AND failure_reason IS NULL),
                    (SELECT count(*) FROM join_pending WHERE state = 'waiting'),
                    (SELECT count(*) FROM join_pending WHERE state = 'orphan'),
                    (SELECT count(*) FROM dead_letters)",
                &[],
            )?)
        })?;
        let n = |i: usize| -> Result<u64> { Ok(row.try_get::<_, i64>(i)? as u64) };
        Ok(StoreStats {
            events: n(0)?,
            failures: n(1)?,
            failures_without_reason: n(2)?,
            waiting: n(3)?,
            orphans: n(4)?,
            dead_letters: n(5)?,
        })
    }
}

/// The writes of one batch, in the caller's transaction.
fn commit_batch(
    tx: &mut Transaction<'_>,
    batch: &Batch,
    claims: &std::collections::HashMap<u32, i64>,
) -> Result<()> {
    fence(tx, batch, claims)?;
    let c = &batch.counts;
    let batch_id: i64 = tx
        .query_one(
            "INSERT INTO batches (committed_at, records, events, dead_letters)
             VALUES (now(), $1, $2, $3) RETURNING id",
            &[&(c.records as i64), &(c.events as i64), &(c.rejected as i64)],
        )?
        .get(0);
    copy_events(tx, batch, batch_id)?;
    apply_changes(tx, batch, batch_id)?;
    insert_dead_letters(tx, batch, batch_id)?;
    for p in &batch.positions {
        tx.execute(
            "UPDATE sources SET position = $2, identity = coalesce($3, identity),
                 updated_at = now() WHERE id = $1",
            &[&i64::from(p.source), &(p.position as i64), &p.identity],
        )?;
    }
    for (source, watermark) in &batch.watermarks {
        tx.execute(
            "UPDATE sources SET watermark_us = $2 WHERE id = $1",
            &[&i64::from(*source), watermark],
        )?;
    }
    // Last: the export number of the batch (see 06_export). The counter stays locked until
    // the commit, so no export reads a top above a batch still in flight.
    tx.execute(
        "WITH n AS (UPDATE export_sequences SET value = value + 1
             WHERE name = 'batches' RETURNING value)
         UPDATE batches SET seq = (SELECT value FROM n) WHERE id = $1",
        &[&batch_id],
    )?;
    Ok(())
}

/// Refuses the batch unless this writer still holds every source it writes: the epoch it
/// claimed is current and no position moves back. The source rows stay locked until the
/// transaction ends, so the check and the writes are one step for other writers.
fn fence(
    tx: &mut Transaction<'_>,
    batch: &Batch,
    claims: &std::collections::HashMap<u32, i64>,
) -> Result<()> {
    let mut ids: Vec<i64> = batch.positions.iter().map(|p| i64::from(p.source)).collect();
    for change in &batch.changes {
        if let Change::Insert { origin, .. } = change {
            ids.push(i64::from(origin.source));
        }
    }
    ids.extend(batch.dead_letters.iter().map(|d| i64::from(d.origin.source)));
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let rows = tx.query(
        "SELECT id, epoch, position FROM sources WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&ids],
    )?;
    if rows.len() != ids.len() {
        return Err(StoreError::Refused("the batch writes a source that does not exist".into()));
    }
    for row in rows {
        let (id, epoch, position): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let source = id as u32;
        let Some(&mine) = claims.get(&source) else {
            return Err(StoreError::Refused(format!(
                "source {id} was not claimed by this writer (EventStore::source)"
            )));
        };
        if mine != epoch {
            return Err(StoreError::Refused(format!(
                "source {id} was claimed by another writer (epoch {epoch}, this writer holds {mine})"
            )));
        }
        let back = batch
            .positions
            .iter()
            .find(|p| p.source == source)
            .is_some_and(|p| (p.position as i64) < position);
        if back {
            return Err(StoreError::Refused(format!(
                "the batch would move the position of source {id} back from {position}"
            )));
        }
    }
    Ok(())
}

/// COPYs the batch's events into `events`.
///
/// When every event of the batch lies beyond the last stored event of its source, none can be
/// stored already (the fence holds the source rows locked, so no other writer of these sources
/// commits meanwhile): they are COPY'd straight into `events`. Otherwise (a replay) they go
/// through the staging table and `INSERT … ON CONFLICT DO NOTHING`.
fn copy_events(tx: &mut Transaction<'_>, batch: &Batch, batch_id: i64) -> Result<()> {
    let events: Vec<(&Origin, &Event)> = batch
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Insert { origin, event } => Some((origin, event)),
            _ => None,
        })
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    let direct = all_new(tx, &events)?;
    let table = if direct { "events" } else { "events_stage" };
    let sink = tx.copy_in(&format!("COPY {table} ({STAGE_COLUMNS}) FROM STDIN BINARY"))?;
    let mut writer = BinaryCopyInWriter::new(sink, STAGE_TYPES);
    for (origin, e) in &events {
        write_event(&mut writer, origin, e, batch_id)?;
    }
    writer.finish()?;
    // What `event_counts` gains: every event when they went straight in, else the rows the
    // replay actually inserted.
    type Key<'a> = (i64, Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);
    let mut counts: HashMap<Key<'_>, i64> = HashMap::new();
    let inserted;
    if direct {
        for (_, e) in &events {
            let key = (
                crate::query::hour_of(e.ts_micros),
                pg_text(&e.system_id),
                pg_text(&e.checkpoint_id),
                Cow::Borrowed(e.status.as_str()),
            );
            *counts.entry(key).or_default() += 1;
        }
    } else {
        inserted = tx.query(
            &format!(
                "INSERT INTO events ({STAGE_COLUMNS}) SELECT {STAGE_COLUMNS} FROM events_stage
                 ON CONFLICT DO NOTHING RETURNING ts_us, system_id, checkpoint_id, status"
            ),
            &[],
        )?;
        for r in &inserted {
            let ts: i64 = r.try_get(0)?;
            let key = (crate::query::hour_of(ts), r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            *counts.entry(key).or_default() += 1;
        }
    }
    if counts.is_empty() {
        return Ok(());
    }
    // Keys in order, so that two writers adding to the same hours never wait on each other.
    let mut counts: Vec<(Key<'_>, i64)> = counts.into_iter().collect();
    counts.sort_unstable();
    let mut cols = (vec![], vec![], vec![], vec![], vec![]);
    for ((hour, system, checkpoint, status), n) in &counts {
        cols.0.push(*hour);
        cols.1.push(&**system);
        cols.2.push(&**checkpoint);
        cols.3.push(&**status);
        cols.4.push(*n);
    }
    tx.execute(
        "INSERT INTO event_counts (hour_us, system_id, checkpoint_id, status, n)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[])
         ON CONFLICT (hour_us, system_id, checkpoint_id, status)
         DO UPDATE SET n = event_counts.n + excluded.n",
        &[&cols.0, &cols.1, &cols.2, &cols.3, &cols.4],
    )?;
    Ok(())
}

/// Whether every event lies beyond the last stored event of its source (distinct, too).
fn all_new(tx: &mut Transaction<'_>, events: &[(&Origin, &Event)]) -> Result<bool> {
    // The lowest and the last position of each source; origins out of order within a source
    // could repeat one: take the safe way then.
    let mut span: std::collections::BTreeMap<u32, (u64, u64)> = std::collections::BTreeMap::new();
    for (origin, _) in events {
        match span.get_mut(&origin.source) {
            Some((_, last)) if *last >= origin.position => return Ok(false),
            Some((_, last)) => *last = origin.position,
            None => {
                span.insert(origin.source, (origin.position, origin.position));
            }
        }
    }
    let lowest = span.into_iter().map(|(source, (low, _))| (source, low));
    for (source, low) in lowest {
        let last: Option<i64> = tx
            .query_one(
                "SELECT max(position) FROM events WHERE source_id = $1",
                &[&i64::from(source)],
            )?
            .get(0);
        if last.is_some_and(|last| last >= low as i64) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn write_event(
    writer: &mut BinaryCopyInWriter<'_>,
    origin: &Origin,
    e: &Event,
    batch_id: i64,
) -> Result<()> {
    // Log text goes in as PostgreSQL can hold it (see `pg_text`).
    writer.write(&[
        &i64::from(origin.source),
        &(origin.position as i64),
        &pg_text(&e.system_id),
        &pg_text(&e.checkpoint_id),
        &to_time(e.ts_micros),
        &e.status.as_str(),
        &pg_text(&e.correlation_id),
        &e.failure_reason.as_deref().map(pg_text),
        &e.ts_micros,
        &batch_id,
    ])?;
    Ok(())
}

/// Collected join-state changes, applied as one statement per kind. Within a batch each key
/// is waited for at most once, and inserts come before the changes that refer to them, so
/// applying waits, then attaches, then joins, then orphans keeps the correlator's order.
#[derive(Default)]
struct JoinChanges {
    wait: Vec<Pending>,
    attach: (Vec<i64>, Vec<i64>, Vec<String>),
    joined: (Vec<i64>, Vec<i64>),
    /// Per joined half, the half of this batch that joined it (see [`void_stale_joins`]).
    joined_by: Vec<Pending>,
    orphaned: (Vec<i64>, Vec<i64>),
}

fn apply_changes(tx: &mut Transaction<'_>, batch: &Batch, batch_id: i64) -> Result<()> {
    let mut j = JoinChanges::default();
    for change in &batch.changes {
        match change {
            Change::Insert { .. } => {}
            Change::Attach { event, reason } => {
                let (s, p) = key_columns(*event);
                j.attach.0.push(s);
                j.attach.1.push(p);
                j.attach.2.push(pg_text(reason).into_owned());
            }
            Change::Wait(p) => j.wait.push(storable(p)),
            Change::Joined { key, by } => {
                let (s, p) = key_columns(*key);
                j.joined.0.push(s);
                j.joined.1.push(p);
                j.joined_by.push(by.clone());
            }
            Change::Orphaned { key } => {
                let (s, p) = key_columns(*key);
                j.orphaned.0.push(s);
                j.orphaned.1.push(p);
            }
        }
    }
    if j.wait.is_empty()
        && j.attach.0.is_empty()
        && j.joined.0.is_empty()
        && j.orphaned.0.is_empty()
    {
        return Ok(());
    }
    // Writers change join state one at a time (see `cross_join`): no two of them ever wait on
    // each other's halves.
    tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_CLASS, &JOIN_LOCK])?;
    let rewait = void_stale_joins(tx, &mut j, batch_id)?;
    // The halves joined in memory leave first, so that no wait below can take one of them as its
    // partner in SQL (a reason would be given twice). A half both waited and joined in this
    // batch is not stored at all.
    if !j.joined.0.is_empty() {
        tx.execute(
            "DELETE FROM join_pending j USING unnest($1::bigint[], $2::bigint[]) v(s, p)
             WHERE j.source_id = v.s AND j.position = v.p",
            &[&j.joined.0, &j.joined.1],
        )?;
    }
    let joined: HashSet<(i64, i64)> =
        j.joined.0.iter().zip(&j.joined.1).map(|(s, p)| (*s, *p)).collect();
    j.wait.retain(|w| !joined.contains(&key_columns(w.key)));
    let orphaned: HashSet<(i64, i64)> =
        j.orphaned.0.iter().zip(&j.orphaned.1).map(|(s, p)| (*s, *p)).collect();
    store_waits(tx, &j.wait, &orphaned)?;
    store_waits(tx, &rewait, &orphaned)?;
    if !j.attach.0.is_empty() {
        // Each reason finds its failure by the primary key. The planner, without statistics for
        // a table filled faster than autovacuum analyzes it, would rather hash-join the reasons
        // with all of `events`, read whole for every batch: an ingest of 1M records spent more
        // time here than in its COPY, and more with every batch.
        tx.batch_execute(
            "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
             SET LOCAL enable_seqscan = off",
        )?;
        tx.execute(
            "UPDATE events e SET failure_reason = v.r
             FROM unnest($1::bigint[], $2::bigint[], $3::text[]) v(s, p, r)
             WHERE e.source_id = v.s AND e.position = v.p AND e.failure_reason IS NULL",
            &[&j.attach.0, &j.attach.1, &j.attach.2],
        )?;
        tx.batch_execute("RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_seqscan")?;
    }
    // Orphans are rare: one at a time, in order, each meeting an orphan partner if one waits.
    for (s, p) in j.orphaned.0.iter().zip(&j.orphaned.1) {
        let half = tx.query_opt(
            "WITH n AS (UPDATE export_sequences SET value = value + 1
                 WHERE name = 'orphans' RETURNING value)
             UPDATE join_pending SET state = 'orphan', orphan_seq = (SELECT value FROM n)
             WHERE source_id = $1 AND position = $2 AND state <> 'orphan'
             RETURNING kind, system_id, correlation_id, reason",
            &[s, p],
        )?;
        if let Some(row) = half {
            let (kind, system, id, reason): (String, String, String, Option<String>) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
            late_join(tx, (*s, *p), &kind, &system, &id, reason)?;
        }
    }
    Ok(())
}

/// Stores halves left waiting: each first looks for its partner among the halves other writers
/// left ([`cross_join`]); the ones that found none are inserted into `join_pending`.
fn store_waits(
    tx: &mut Transaction<'_>,
    waits: &[Pending],
    orphaned: &HashSet<(i64, i64)>,
) -> Result<()> {
    if waits.is_empty() {
        return Ok(());
    }
    let joined = cross_join(tx, waits, orphaned)?;
    let (mut s, mut p, mut kind, mut sys, mut cid, mut ts, mut reason) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (w, _) in waits.iter().zip(&joined).filter(|(_, joined)| !**joined) {
        let (a, b) = key_columns(w.key);
        s.push(a);
        p.push(b);
        kind.push(w.kind.as_str());
        sys.push(w.system_id.as_str());
        cid.push(w.correlation_id.as_str());
        ts.push(w.ts_micros);
        reason.push(w.reason.as_deref());
    }
    tx.execute(
        "INSERT INTO join_pending (source_id, position, kind, system_id, correlation_id,
             ts_us, reason, created_at)
         SELECT *, now() FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[],
             $5::text[], $6::bigint[], $7::text[])
         ON CONFLICT DO NOTHING",
        &[&s, &p, &kind, &sys, &cid, &ts, &reason],
    )?;
    Ok(())
}

/// Joins this writer made in memory with a half another writer has joined since. A half waits
/// in the memory of every writer that read it or restored it (the consumer that took over a
/// partition restores its halves, which other writers also see in `join_pending`), so two
/// writers can each join it, one in SQL (`cross_join`) and one in memory. Under the join lock,
/// a joined half whose row is gone was joined by another writer first: this batch's join is
/// void (a reason would be given twice, or a second reason dropped). The half of this batch
/// that made it is returned to wait instead, as if it had found nothing in memory: a failure
/// stored with the void reason loses it, a reason is not attached. It then looks for its
/// partner in SQL after this batch's own waits are stored (its partner may be one of them: the
/// writer's memory, which still counts the void join, left it waiting).
fn void_stale_joins(
    tx: &mut Transaction<'_>,
    j: &mut JoinChanges,
    batch_id: i64,
) -> Result<Vec<Pending>> {
    let mut rewait = Vec::new();
    if j.joined.0.is_empty() {
        return Ok(rewait);
    }
    let waited: HashSet<(i64, i64)> = j.wait.iter().map(|w| key_columns(w.key)).collect();
    let present: HashSet<(i64, i64)> = tx
        .query(
            "SELECT source_id, position FROM join_pending
             WHERE (source_id, position) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))",
            &[&j.joined.0, &j.joined.1],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    let mut i = 0;
    while i < j.joined.0.len() {
        let key = (j.joined.0[i], j.joined.1[i]);
        if present.contains(&key) || waited.contains(&key) {
            i += 1;
            continue;
        }
        j.joined.0.remove(i);
        j.joined.1.remove(i);
        let by = j.joined_by.remove(i);
        match by.kind {
            PendingKind::Failure => {
                let (s, p) = key_columns(by.key);
                tx.execute(
                    "UPDATE events SET failure_reason = NULL
                     WHERE source_id = $1 AND position = $2 AND batch_id = $3",
                    &[&s, &p, &batch_id],
                )?;
            }
            PendingKind::Reason => {
                let at = (0..j.attach.0.len()).find(|a| (j.attach.0[*a], j.attach.1[*a]) == key);
                if let Some(a) = at {
                    j.attach.0.remove(a);
                    j.attach.1.remove(a);
                    j.attach.2.remove(a);
                }
            }
        }
        rewait.push(storable(&by));
    }
    Ok(rewait)
}

/// A waiting half with its text as PostgreSQL can store it (see [`pg_text`]).
fn storable(p: &Pending) -> Pending {
    Pending {
        system_id: pg_text(&p.system_id).into_owned(),
        correlation_id: pg_text(&p.correlation_id).into_owned(),
        reason: p.reason.as_deref().map(|r| pg_text(r).into_owned()),
        ..p.clone()
    }
}

/// An orphan that meets its partner: when a half becomes an orphan while an orphan of the other
/// kind waits for the same system and correlation id (each outlived the time-to-live on its
/// own), the two are joined now — the oldest partner first, as in the correlator — and both
/// leave `join_pending`. A partner still waiting can only be another writer's (this writer's
/// correlator would have joined its own): it is taken after the orphans. The partner's row is
/// locked (`FOR UPDATE`, under the join lock), so two writers never join one half twice.
fn late_join(
    tx: &mut Transaction<'_>,
    key: (i64, i64),
    kind: &str,
    system: &str,
    id: &str,
    mine: Option<String>,
) -> Result<()> {
    let other = if kind == "failure" { "reason" } else { "failure" };
    let partner = tx.query_opt(
        "SELECT source_id, position, reason FROM join_pending
         WHERE system_id = $1 AND correlation_id = $2 AND kind = $3
         ORDER BY state = 'waiting', ts_us, source_id, position LIMIT 1 FOR UPDATE",
        &[&system, &id, &other],
    )?;
    let Some(partner) = partner else { return Ok(()) };
    let p: (i64, i64) = (partner.try_get(0)?, partner.try_get(1)?);
    let p_reason: Option<String> = partner.try_get(2)?;
    let (event, reason) = if kind == "failure" { (key, p_reason) } else { (p, mine) };
    tx.execute(
        "UPDATE events SET failure_reason = $3
         WHERE source_id = $1 AND position = $2 AND failure_reason IS NULL",
        &[&event.0, &event.1, &reason],
    )?;
    tx.execute(
        "DELETE FROM join_pending WHERE (source_id, position) IN (($1, $2), ($3, $4))",
        &[&key.0, &key.1, &p.0, &p.1],
    )?;
    Ok(())
}

/// The join across writers. A half this writer waits for found no partner in its own memory,
/// but another writer (another `consume` of the group, another `ingest`) may hold the partner:
/// a FAILURE and its reason read from two partitions by two processes. Such a partner is in
/// `join_pending`, committed: the half joins it here, in SQL — a waiting partner before an
/// orphan, the oldest first, as in the correlator — and neither half is left waiting. Writers
/// hold the join lock (a transaction advisory lock) while they change join state, so of two
/// halves committed at once the second sees the first. Halves this batch orphans itself are
/// left alone (they meet orphan partners in `late_join`); halves it joined in memory are gone
/// from `join_pending` before this runs, so none is taken twice. Returns, per wait, whether it
/// was joined (and so is not to be stored as waiting).
///
/// The writer that held the partner still has it in memory; when it later joins it, the join
/// is void ([`void_stale_joins`]) and its other half waits instead; when it orphans it, the row
/// is gone and the change does nothing.
fn cross_join(
    tx: &mut Transaction<'_>,
    waits: &[Pending],
    orphaned: &HashSet<(i64, i64)>,
) -> Result<Vec<bool>> {
    let mut joined = vec![false; waits.len()];
    let open: Vec<usize> =
        (0..waits.len()).filter(|i| !orphaned.contains(&key_columns(waits[*i].key))).collect();
    if open.is_empty() {
        return Ok(joined);
    }
    let systems: Vec<&str> = open.iter().map(|i| waits[*i].system_id.as_str()).collect();
    let ids: Vec<&str> = open.iter().map(|i| waits[*i].correlation_id.as_str()).collect();
    let candidates: HashSet<(String, String)> = tx
        .query(
            "SELECT DISTINCT system_id, correlation_id FROM join_pending
             WHERE (system_id, correlation_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&systems, &ids],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    if candidates.is_empty() {
        return Ok(joined);
    }
    for i in open {
        let w = &waits[i];
        if !candidates.contains(&(w.system_id.clone(), w.correlation_id.clone())) {
            continue;
        }
        let other = match w.kind {
            PendingKind::Failure => "reason",
            PendingKind::Reason => "failure",
        };
        let partner = tx.query_opt(
            "SELECT source_id, position, reason FROM join_pending
             WHERE system_id = $1 AND correlation_id = $2 AND kind = $3
             ORDER BY state = 'orphan', ts_us, source_id, position LIMIT 1 FOR UPDATE",
            &[&w.system_id, &w.correlation_id, &other],
        )?;
        let Some(partner) = partner else { continue };
        let p: (i64, i64) = (partner.try_get(0)?, partner.try_get(1)?);
        let (event, reason) = match w.kind {
            PendingKind::Failure => (key_columns(w.key), partner.try_get::<_, Option<String>>(2)?),
            PendingKind::Reason => (p, w.reason.clone()),
        };
        tx.execute(
            "UPDATE events SET failure_reason = $3
             WHERE source_id = $1 AND position = $2 AND failure_reason IS NULL",
            &[&event.0, &event.1, &reason],
        )?;
        tx.execute(
            "DELETE FROM join_pending WHERE source_id = $1 AND position = $2",
            &[&p.0, &p.1],
        )?;
        joined[i] = true;
    }
    Ok(joined)
}

fn insert_dead_letters(tx: &mut Transaction<'_>, batch: &Batch, batch_id: i64) -> Result<()> {
    if batch.dead_letters.is_empty() {
        return Ok(());
    }
    let stmt = tx.prepare(
        "INSERT INTO dead_letters (source_id, position, batch_id, kind, reason, raw, raw_len,
             created_at)
         VALUES ($1, $2, $7, $3, $4, $5, $6, now()) ON CONFLICT DO NOTHING",
    )?;
    for d in &batch.dead_letters {
        tx.execute(
            &stmt,
            &[
                &i64::from(d.origin.source),
                &(d.origin.position as i64),
                &d.reason.kind.as_str(),
                &pg_text(&d.reason.message),
                &d.raw,
                &(d.raw_len as i64),
                &batch_id,
            ],
        )?;
    }
    Ok(())
}

impl PgStore {
    /// Waiting halves, optionally of one source, in order of origin.
    fn pending_where(&self, source: Option<u32>) -> Result<Vec<Pending>> {
        let source = source.map(i64::from);
        self.pending_query(
            "SELECT source_id, position, kind, system_id, correlation_id, ts_us, reason
             FROM join_pending
             WHERE state = 'waiting' AND ($1::bigint IS NULL OR source_id = $1)
             ORDER BY source_id, position",
            &[&source],
        )
    }

    /// Rows of `join_pending` as halves (the seven columns of `pending_where`).
    fn pending_query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Pending>> {
        let rows = self.with(|c| Ok(c.query(sql, params)?))?;
        rows.iter()
            .map(|r| {
                let origin = Origin {
                    source: r.try_get::<_, i64>(0)? as u32,
                    position: r.try_get::<_, i64>(1)? as u64,
                };
                Ok(Pending {
                    key: origin,
                    kind: pending_kind(r.try_get(2)?)?,
                    system_id: r.try_get(3)?,
                    correlation_id: r.try_get(4)?,
                    ts_micros: r.try_get(5)?,
                    reason: r.try_get(6)?,
                })
            })
            .collect()
    }
}

fn pending_kind(kind: String) -> Result<PendingKind> {
    PendingKind::parse(&kind)
        .ok_or(StoreError::Corrupt { column: "join_pending.kind", value: kind })
}

fn ts_text(us: i64) -> String {
    if us == i64::MIN {
        return String::new();
    }
    waymark_core::normalize::format_utc(us)
}

fn source_row(r: &Row) -> Result<SourceRow> {
    Ok(SourceRow {
        id: r.try_get::<_, i64>(0)? as u32,
        kind: r.try_get(1)?,
        name: r.try_get(2)?,
        position: r.try_get::<_, i64>(3)? as u64,
        identity: r.try_get(4)?,
        watermark: r.try_get(5)?,
    })
}

fn event_row(r: &Row) -> Result<EventRow> {
    let status: String = r.try_get(2)?;
    let Some(status) = Status::from_canonical(&status) else {
        return Err(StoreError::Corrupt { column: "events.status", value: status });
    };
    let system_id: String = r.try_get(0)?;
    Ok(EventRow {
        event: Event {
            system_id: system_id.into(),
            checkpoint_id: r.try_get(1)?,
            status,
            correlation_id: r.try_get(3)?,
            failure_reason: r.try_get(4)?,
            ts_micros: r.try_get(5)?,
        },
        source: r.try_get(6)?,
        position: r.try_get::<_, i64>(7)? as u64,
        ingested_at: time_text(r.try_get(8)?),
    })
}
