-- Event counts by hour, system, checkpoint and status, kept in the transaction that inserts the
-- events (only rows actually inserted count: a replayed batch adds nothing), as in SQLite's
-- migration 08. The overview, `/api/v1/summary` and `status` read these few rows instead of
-- every event. Writers update them after their fence and before the join lock, keys in order.
CREATE TABLE IF NOT EXISTS event_counts (
    hour_us        bigint NOT NULL,
    system_id      text NOT NULL,
    checkpoint_id  text NOT NULL,
    status         text NOT NULL,
    n              bigint NOT NULL,
    PRIMARY KEY (hour_us, system_id, checkpoint_id, status)
);
INSERT INTO event_counts (hour_us, system_id, checkpoint_id, status, n)
    SELECT ts_us - (((ts_us % 3600000000) + 3600000000) % 3600000000), system_id, checkpoint_id,
           status, count(*)
    FROM events GROUP BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING;

-- Failures still waiting for their reason: counted from a small index, not from every event.
CREATE INDEX IF NOT EXISTS events_reasonless ON events (ts_us)
    WHERE status = 'FAILURE' AND failure_reason IS NULL;
