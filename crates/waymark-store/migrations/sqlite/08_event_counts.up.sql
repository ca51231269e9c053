-- Event counts by hour, system, checkpoint and status, kept in the transaction that inserts
-- the events (only rows actually inserted count: a replayed batch adds nothing). The overview
-- and `/api/v1/summary` read these few rows instead of every event.
CREATE TABLE event_counts (
    hour_us        INTEGER NOT NULL,
    system_id      TEXT NOT NULL,
    checkpoint_id  TEXT NOT NULL,
    status         TEXT NOT NULL,
    n              INTEGER NOT NULL,
    PRIMARY KEY (hour_us, system_id, checkpoint_id, status)
) WITHOUT ROWID;
INSERT INTO event_counts (hour_us, system_id, checkpoint_id, status, n)
    SELECT ts_us - (((ts_us % 3600000000) + 3600000000) % 3600000000), system_id, checkpoint_id, status, count(*)
    FROM events GROUP BY 1, 2, 3, 4;

-- Failures still waiting for their reason: counted from a small index, not from every event.
CREATE INDEX events_reasonless ON events (ts_us) WHERE status = 'FAILURE' AND failure_reason IS NULL;
