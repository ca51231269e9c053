-- Alerts (issue 11): the firings that are active (and the last state of resolved ones), and a
-- persistent outbox. A notification is written in the same transaction as the state change
-- that caused it; the deliverer takes due rows in order, records every attempt, and marks the
-- row delivered, re-scheduled (jittered exponential backoff) or failed (a permanent error).
CREATE TABLE IF NOT EXISTS alert_firings (
    key          TEXT PRIMARY KEY,              -- rule|system|subject: the firing's identity
    rule         TEXT NOT NULL,
    state        TEXT NOT NULL,                 -- active | resolved
    firing       TEXT NOT NULL,                 -- JSON: labels, annotations, summary, since
    fired_at     TEXT NOT NULL,                 -- RFC 3339 UTC
    resolved_at  TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS alert_outbox (
    id               INTEGER PRIMARY KEY,
    notification_id  TEXT NOT NULL UNIQUE,      -- stable across retries: receivers dedupe by it
    sink             TEXT NOT NULL,
    firing_key       TEXT NOT NULL,
    action           TEXT NOT NULL,             -- trigger | resolve
    notification     TEXT NOT NULL,             -- JSON of the notification
    created_us       INTEGER NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_us  INTEGER NOT NULL,
    last_status      INTEGER,                   -- HTTP status of the last attempt
    last_error       TEXT,
    done_at          TEXT
);
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (next_attempt_us) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS alert_outbox_firing ON alert_outbox (firing_key, sink, created_us);

CREATE TABLE IF NOT EXISTS alert_attempts (
    id         INTEGER PRIMARY KEY,
    outbox_id  INTEGER NOT NULL,
    at         TEXT NOT NULL,
    outcome    TEXT NOT NULL,                   -- delivered | retry | failed
    status     INTEGER,
    error      TEXT
);
CREATE INDEX IF NOT EXISTS alert_attempts_outbox ON alert_attempts (outbox_id);
