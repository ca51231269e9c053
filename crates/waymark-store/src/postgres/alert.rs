//! [`AlertStore`](crate::AlertStore) for PostgreSQL: `alert_firings`, `alert_outbox`,
//! `alert_attempts`, and the facts alert rules read.

use std::time::SystemTime;

use postgres::types::Json;
use postgres::Row;
use waymark_core::alert::{Firing, Notification, SourceLag, Transition};
use waymark_core::{Event, Status};

use super::{time_text, to_time, PgStore};
use crate::alert::{Attempt, AttemptOutcome, OutboxRow, OutboxState};
use crate::{Result, StoreError};

const OUTBOX_COLUMNS: &str = "id, notification, state, attempts, next_attempt_us, last_status, \
    last_error, done_at";

fn json_err(column: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt { column, value: e.to_string() }
}

fn outbox_row(r: &Row) -> Result<OutboxRow> {
    let Json(value): Json<serde_json::Value> = r.try_get(1)?;
    let notification: Notification =
        serde_json::from_value(value).map_err(json_err("alert_outbox.notification"))?;
    let state: String = r.try_get(2)?;
    let Some(state) = OutboxState::parse(&state) else {
        return Err(StoreError::Corrupt { column: "alert_outbox.state", value: state });
    };
    let done_at: Option<SystemTime> = r.try_get(7)?;
    Ok(OutboxRow {
        row: r.try_get(0)?,
        notification,
        state,
        attempts: r.try_get::<_, i64>(3)?.clamp(0, u32::MAX as i64) as u32,
        next_attempt_micros: r.try_get(4)?,
        last_status: r.try_get::<_, Option<i64>>(5)?.map(|s| s.clamp(0, 999) as u16),
        last_error: r.try_get(6)?,
        done_at: done_at.map(time_text),
    })
}

fn flow_event(r: &Row) -> Result<Event> {
    let status: String = r.try_get(3)?;
    let Some(status) = Status::from_canonical(&status) else {
        return Err(StoreError::Corrupt { column: "events.status", value: status });
    };
    Ok(Event {
        system_id: r.try_get::<_, String>(0)?.into(),
        checkpoint_id: r.try_get(1)?,
        ts_micros: r.try_get(2)?,
        status,
        correlation_id: r.try_get(4)?,
        failure_reason: r.try_get(5)?,
    })
}

impl crate::AlertStore for PgStore {
    fn active_firings(&self) -> Result<Vec<Firing>> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT firing FROM alert_firings WHERE state = 'active' ORDER BY key",
                &[],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                let Json(v): Json<serde_json::Value> = r.try_get(0)?;
                serde_json::from_value(v).map_err(json_err("alert_firings.firing"))
            })
            .collect()
    }

    fn record_transitions(
        &mut self,
        transitions: &[Transition],
        notifications: &[Notification],
        now_micros: i64,
    ) -> Result<()> {
        let now = to_time(now_micros);
        self.transact(|tx| {
            for t in transitions {
                let f = t.firing();
                match t {
                    Transition::Fire(_) => tx.execute(
                        "INSERT INTO alert_firings (key, rule, state, firing, fired_at, resolved_at)
                         VALUES ($1, $2, 'active', $3, $4, NULL)
                         ON CONFLICT (key) DO UPDATE SET rule = excluded.rule, state = 'active',
                           firing = excluded.firing, fired_at = excluded.fired_at, resolved_at = NULL",
                        &[&f.key, &f.rule, &Json(f), &now],
                    )?,
                    Transition::Resolve(_) => tx.execute(
                        "UPDATE alert_firings SET state = 'resolved', resolved_at = $2 WHERE key = $1",
                        &[&f.key, &now],
                    )?,
                };
            }
            for n in notifications {
                tx.execute(
                    "INSERT INTO alert_outbox (notification_id, sink, firing_key, action,
                   notification, created_us, next_attempt_us) VALUES ($1, $2, $3, $4, $5, $6, $6)
                 ON CONFLICT (notification_id) DO NOTHING",
                    &[
                        &n.id,
                        &n.sink,
                        &n.firing.key,
                        &n.action.as_str(),
                        &Json(n),
                        &n.created_micros,
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn last_notified(&self, firing_key: &str, sink: &str) -> Result<Option<i64>> {
        let row = self.with(|c| {
            Ok(c.query_one(
                "SELECT max(created_us) FROM alert_outbox WHERE firing_key = $1 AND sink = $2",
                &[&firing_key, &sink],
            )?)
        })?;
        Ok(row.try_get(0)?)
    }

    fn pending_for(&self, firing_key: &str, sink: &str) -> Result<bool> {
        let row = self.with(|c| {
            Ok(c.query_one(
                "SELECT EXISTS (SELECT 1 FROM alert_outbox \
                 WHERE firing_key = $1 AND sink = $2 AND state = 'pending')",
                &[&firing_key, &sink],
            )?)
        })?;
        Ok(row.try_get(0)?)
    }

    fn due_notifications(&self, now_micros: i64, limit: usize) -> Result<Vec<OutboxRow>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM alert_outbox o
             WHERE o.state = 'pending' AND o.next_attempt_us <= $1
               AND NOT EXISTS (SELECT 1 FROM alert_outbox p WHERE p.state = 'pending'
                   AND p.firing_key = o.firing_key AND p.sink = o.sink AND p.id < o.id)
             ORDER BY o.id LIMIT $2"
        );
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self.with(|c| Ok(c.query(&sql, &[&now_micros, &limit])?))?;
        rows.iter().map(outbox_row).collect()
    }

    fn record_attempt(&mut self, row: i64, a: &Attempt) -> Result<()> {
        let at = to_time(a.at_micros);
        let (outcome, state, next) = match a.outcome {
            AttemptOutcome::Delivered => ("delivered", "delivered", None),
            AttemptOutcome::Retry { at_micros } => ("retry", "pending", Some(at_micros)),
            AttemptOutcome::Failed => ("failed", "failed", None),
        };
        let status = a.status.map(i64::from);
        self.transact(|tx| {
            tx.execute(
                "INSERT INTO alert_attempts (outbox_id, at, outcome, status, error)
             VALUES ($1, $2, $3, $4, $5)",
                &[&row, &at, &outcome, &status, &a.error],
            )?;
            tx.execute(
                "UPDATE alert_outbox SET state = $2, attempts = attempts + 1,
               next_attempt_us = coalesce($3, next_attempt_us), last_status = $4,
               last_error = $5,
               done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE $6::timestamptz END
             WHERE id = $1",
                &[&row, &state, &next, &status, &a.error, &at],
            )?;
            Ok(())
        })
    }

    fn recent_notifications(&self, limit: usize) -> Result<Vec<OutboxRow>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM alert_outbox ORDER BY id DESC LIMIT $1");
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self.with(|c| Ok(c.query(&sql, &[&limit])?))?;
        rows.iter().map(outbox_row).collect()
    }

    fn flows_since(&self, since_micros: i64) -> Result<Vec<(String, Vec<Event>)>> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT system_id, checkpoint_id, ts_us, status, correlation_id, failure_reason
                 FROM events WHERE correlation_id IN
                     (SELECT DISTINCT correlation_id FROM events WHERE ts_us >= $1)
                 ORDER BY correlation_id, ts_us, source_id, position",
                &[&since_micros],
            )?)
        })?;
        let mut flows: Vec<(String, Vec<Event>)> = Vec::new();
        for r in &rows {
            let e = flow_event(r)?;
            match flows.last_mut() {
                Some((cid, events)) if *cid == e.correlation_id => events.push(e),
                _ => flows.push((e.correlation_id.clone(), vec![e])),
            }
        }
        Ok(flows)
    }

    fn flow_events(&self, correlation_id: &str) -> Result<Vec<Event>> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT system_id, checkpoint_id, ts_us, status, correlation_id, failure_reason
                 FROM events WHERE correlation_id = $1 ORDER BY ts_us, source_id, position",
                &[&super::pg_text(correlation_id)],
            )?)
        })?;
        rows.iter().map(flow_event).collect()
    }

    fn source_lags(&self) -> Result<Vec<SourceLag>> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT kind, name, watermark_us FROM sources
                 WHERE ended = 0 AND kind NOT LIKE '%:retired' ORDER BY id",
                &[],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                Ok(SourceLag {
                    kind: r.try_get(0)?,
                    name: r.try_get(1)?,
                    watermark_micros: r.try_get(2)?,
                })
            })
            .collect()
    }

    fn ingest_counts_since(&self, since_micros: i64) -> Result<(u64, u64)> {
        let row = self.with(|c| {
            Ok(c.query_one(
                "SELECT coalesce(sum(records), 0)::bigint, coalesce(sum(dead_letters), 0)::bigint
                 FROM batches WHERE committed_at >= $1",
                &[&to_time(since_micros)],
            )?)
        })?;
        let (records, dead): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        Ok((records.max(0) as u64, dead.max(0) as u64))
    }
}
