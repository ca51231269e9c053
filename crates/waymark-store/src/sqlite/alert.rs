//! [`AlertStore`](crate::AlertStore) for SQLite: `alert_firings`, `alert_outbox`,
//! `alert_attempts`, and the facts alert rules read.

use rusqlite::{params, OptionalExtension, Row};
use waymark_core::alert::{Firing, Notification, SourceLag, Transition};
use waymark_core::normalize::format_utc;
use waymark_core::{Event, Status};

use crate::alert::{Attempt, AttemptOutcome, OutboxRow, OutboxState};
use crate::{Result, StoreError};

const OUTBOX_COLUMNS: &str = "id, notification, state, attempts, next_attempt_us, last_status, \
    last_error, done_at";

fn json_err(column: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt { column, value: e.to_string() }
}

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<Result<OutboxRow>> {
    let text: String = r.get(1)?;
    let state: String = r.get(2)?;
    let notification = match serde_json::from_str::<Notification>(&text) {
        Ok(n) => n,
        Err(e) => return Ok(Err(json_err("alert_outbox.notification")(e))),
    };
    let Some(state) = OutboxState::parse(&state) else {
        return Ok(Err(StoreError::Corrupt { column: "alert_outbox.state", value: state }));
    };
    Ok(Ok(OutboxRow {
        row: r.get(0)?,
        notification,
        state,
        attempts: r.get::<_, i64>(3)?.clamp(0, u32::MAX as i64) as u32,
        next_attempt_micros: r.get(4)?,
        last_status: r.get::<_, Option<i64>>(5)?.map(|s| s.clamp(0, 999) as u16),
        last_error: r.get(6)?,
        done_at: r.get(7)?,
    }))
}

fn flow_event(r: &Row<'_>) -> rusqlite::Result<Result<Event>> {
    let status: String = r.get(3)?;
    let Some(status) = Status::from_canonical(&status) else {
        return Ok(Err(StoreError::Corrupt { column: "events.status", value: status }));
    };
    Ok(Ok(Event {
        system_id: r.get::<_, String>(0)?.into(),
        checkpoint_id: r.get(1)?,
        ts_micros: r.get(2)?,
        status,
        correlation_id: r.get(4)?,
        failure_reason: r.get(5)?,
    }))
}

impl crate::AlertStore for super::SqliteStore {
    fn active_firings(&self) -> Result<Vec<Firing>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT firing FROM alert_firings WHERE state = 'active' ORDER BY key",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for text in rows {
            out.push(serde_json::from_str(&text?).map_err(json_err("alert_firings.firing"))?);
        }
        Ok(out)
    }

    fn record_transitions(
        &mut self,
        transitions: &[Transition],
        notifications: &[Notification],
        now_micros: i64,
    ) -> Result<()> {
        let now = format_utc(now_micros);
        let tx = self.conn.transaction()?;
        for t in transitions {
            let f = t.firing();
            let json = serde_json::to_string(f).map_err(json_err("alert_firings.firing"))?;
            match t {
                Transition::Fire(_) => tx.execute(
                    "INSERT INTO alert_firings (key, rule, state, firing, fired_at, resolved_at)
                     VALUES (?1, ?2, 'active', ?3, ?4, NULL)
                     ON CONFLICT (key) DO UPDATE SET rule = excluded.rule, state = 'active',
                       firing = excluded.firing, fired_at = excluded.fired_at, resolved_at = NULL",
                    params![f.key, f.rule, json, now],
                )?,
                Transition::Resolve(_) => tx.execute(
                    "UPDATE alert_firings SET state = 'resolved', resolved_at = ?2 WHERE key = ?1",
                    params![f.key, now],
                )?,
            };
        }
        for n in notifications {
            let json = serde_json::to_string(n).map_err(json_err("alert_outbox.notification"))?;
            tx.execute(
                "INSERT OR IGNORE INTO alert_outbox (notification_id, sink, firing_key, action,
                   notification, created_us, next_attempt_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![n.id, n.sink, n.firing.key, n.action.as_str(), json, n.created_micros],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn last_notified(&self, firing_key: &str, sink: &str) -> Result<Option<i64>> {
        let v = self
            .conn
            .prepare_cached(
                "SELECT max(created_us) FROM alert_outbox WHERE firing_key = ?1 AND sink = ?2",
            )?
            .query_row(params![firing_key, sink], |r| r.get::<_, Option<i64>>(0))
            .optional()?;
        Ok(v.flatten())
    }

    fn pending_for(&self, firing_key: &str, sink: &str) -> Result<bool> {
        let v = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM alert_outbox \
                 WHERE firing_key = ?1 AND sink = ?2 AND state = 'pending')",
            )?
            .query_row(params![firing_key, sink], |r| r.get::<_, bool>(0))?;
        Ok(v)
    }

    fn due_notifications(&self, now_micros: i64, limit: usize) -> Result<Vec<OutboxRow>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM alert_outbox o
             WHERE o.state = 'pending' AND o.next_attempt_us <= ?1
               AND NOT EXISTS (SELECT 1 FROM alert_outbox p WHERE p.state = 'pending'
                   AND p.firing_key = o.firing_key AND p.sink = o.sink AND p.id < o.id)
             ORDER BY o.id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows =
            stmt.query_map(params![now_micros, limit.min(i64::MAX as usize) as i64], outbox_row)?;
        rows.map(|r| r?).collect()
    }

    fn record_attempt(&mut self, row: i64, a: &Attempt) -> Result<()> {
        let at = format_utc(a.at_micros);
        let tx = self.conn.transaction()?;
        let (outcome, state, next) = match a.outcome {
            AttemptOutcome::Delivered => ("delivered", "delivered", None),
            AttemptOutcome::Retry { at_micros } => ("retry", "pending", Some(at_micros)),
            AttemptOutcome::Failed => ("failed", "failed", None),
        };
        tx.execute(
            "INSERT INTO alert_attempts (outbox_id, at, outcome, status, error)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![row, at, outcome, a.status, a.error],
        )?;
        tx.execute(
            "UPDATE alert_outbox SET state = ?2, attempts = attempts + 1,
               next_attempt_us = coalesce(?3, next_attempt_us), last_status = ?4, last_error = ?5,
               done_at = CASE WHEN ?2 = 'pending' THEN NULL ELSE ?6 END
             WHERE id = ?1",
            params![row, state, next, a.status, a.error, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn recent_notifications(&self, limit: usize) -> Result<Vec<OutboxRow>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM alert_outbox ORDER BY id DESC LIMIT ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([limit.min(i64::MAX as usize) as i64], outbox_row)?;
        rows.map(|r| r?).collect()
    }

    fn flows_since(&self, since_micros: i64) -> Result<Vec<(String, Vec<Event>)>> {
        // Scans `events` by time: there is no time index on all events (it would slow the
        // insert path); a tick reads it once.
        let mut stmt = self.conn.prepare_cached(
            "SELECT system_id, checkpoint_id, ts_us, status, correlation_id, failure_reason
             FROM events WHERE corr_hash IN (SELECT DISTINCT corr_hash FROM events WHERE ts_us >= ?1)
             ORDER BY correlation_id, ts_us, source_id, position",
        )?;
        let rows = stmt.query_map([since_micros], flow_event)?;
        let mut flows: Vec<(String, Vec<Event>)> = Vec::new();
        let mut recent = std::collections::BTreeSet::new();
        for row in rows {
            let e = row??;
            if e.ts_micros >= since_micros {
                recent.insert(e.correlation_id.clone());
            }
            match flows.last_mut() {
                Some((cid, events)) if *cid == e.correlation_id => events.push(e),
                _ => flows.push((e.correlation_id.clone(), vec![e])),
            }
        }
        // A hash collision brings in an old flow: keep only flows with a recent event.
        flows.retain(|(cid, _)| recent.contains(cid));
        Ok(flows)
    }

    fn flow_events(&self, correlation_id: &str) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT system_id, checkpoint_id, ts_us, status, correlation_id, failure_reason
             FROM events WHERE corr_hash = ?1 AND correlation_id = ?2
             ORDER BY ts_us, source_id, position",
        )?;
        let hash = waymark_core::correlation_hash(correlation_id);
        let rows = stmt.query_map(params![hash, correlation_id], flow_event)?;
        rows.map(|r| r?).collect()
    }

    fn source_lags(&self) -> Result<Vec<SourceLag>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, name, watermark_us FROM sources
             WHERE ended = 0 AND kind NOT LIKE '%:retired' ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SourceLag { kind: r.get(0)?, name: r.get(1)?, watermark_micros: r.get(2)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn ingest_counts_since(&self, since_micros: i64) -> Result<(u64, u64)> {
        let (records, dead): (i64, i64) = self.conn.query_row(
            "SELECT coalesce(sum(records), 0), coalesce(sum(dead_letters), 0) FROM batches
             WHERE committed_at >= ?1",
            [format_utc(since_micros)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((records.max(0) as u64, dead.max(0) as u64))
    }
}

#[cfg(test)]
mod tests {
    crate::alert_store_suite!(crate::SqliteStore::in_memory().unwrap());
}
