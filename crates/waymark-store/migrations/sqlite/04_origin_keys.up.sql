-- Origins as two columns instead of one packed integer. The packed key (source << 40 |
-- position) silently collided for positions at or past 2^40 (a Kafka offset after months at
-- high rates) and went negative for source ids past 2^23. Now positions run to 2^63 - 1 and
-- sources to 2^32 - 1, and the pair is still the row's only key (WITHOUT ROWID: the table is
-- the index, so a replay stores nothing twice with no extra index to maintain).
DROP VIEW IF EXISTS events_with_source;

CREATE TABLE events_v4 (
    source_id       INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    system_id       TEXT NOT NULL,
    checkpoint_id   TEXT NOT NULL,
    timestamp       TEXT NOT NULL,          -- RFC 3339 in UTC, e.g. 2025-05-04T10:30:00Z
    status          TEXT NOT NULL,          -- SUCCESS | FAILURE
    correlation_id  TEXT NOT NULL,
    failure_reason  TEXT,
    ts_us           INTEGER NOT NULL,       -- event time, microseconds since the epoch
    corr_hash       INTEGER NOT NULL,       -- xxh3 of correlation_id: the trace index key
    batch_id        INTEGER NOT NULL,       -- the batch that stored it (see batches)
    PRIMARY KEY (source_id, position)
) WITHOUT ROWID;
INSERT INTO events_v4
    SELECT id >> 40, id & 1099511627775, system_id, checkpoint_id, timestamp, status,
           correlation_id, failure_reason, ts_us, corr_hash, batch_id
    FROM events;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
CREATE INDEX events_trace ON events (corr_hash);
CREATE INDEX events_failures ON events (ts_us) WHERE status = 'FAILURE';

CREATE TABLE join_pending_v4 (
    source_id       INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    kind            TEXT NOT NULL,          -- failure | reason
    system_id       TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    ts_us           INTEGER NOT NULL,
    reason          TEXT,
    state           TEXT NOT NULL DEFAULT 'waiting', -- waiting | orphan
    created_at      TEXT NOT NULL,
    PRIMARY KEY (source_id, position)
) WITHOUT ROWID;
INSERT INTO join_pending_v4
    SELECT id >> 40, id & 1099511627775, kind, system_id, correlation_id, ts_us, reason, state,
           created_at
    FROM join_pending;
DROP TABLE join_pending;
ALTER TABLE join_pending_v4 RENAME TO join_pending;
-- An orphan that meets its partner later (the partner orphaned in turn) is joined then.
CREATE INDEX join_pending_orphans ON join_pending (system_id, correlation_id, kind)
    WHERE state = 'orphan';

-- Dead letters keep a rowid (their raw bytes are large); the origin is unique.
CREATE TABLE dead_letters_v4 (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    raw         BLOB NOT NULL,              -- at most 64 KiB of the record
    raw_len     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (source_id, position)
);
INSERT INTO dead_letters_v4 (source_id, position, kind, reason, raw, raw_len, created_at)
    SELECT source_id, position, kind, reason, raw, raw_len, created_at FROM dead_letters ORDER BY id;
DROP TABLE dead_letters;
ALTER TABLE dead_letters_v4 RENAME TO dead_letters;

-- A source whose input ended (stdin closed, a file version retired): its waiting halves are
-- timed by the other sources' clock from then on.
ALTER TABLE sources ADD COLUMN ended INTEGER NOT NULL DEFAULT 0;

CREATE VIEW events_with_source AS
    SELECT e.system_id, e.checkpoint_id, e.timestamp, e.status, e.correlation_id,
           e.failure_reason, s.kind AS source_kind, s.name AS source, e.position,
           b.committed_at AS ingested_at
    FROM events e JOIN sources s ON s.id = e.source_id JOIN batches b ON b.id = e.batch_id;
