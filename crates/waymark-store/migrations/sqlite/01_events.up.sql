-- Sources and the position reached in each, updated in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS sources (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,              -- file | stdin | kafka
    name        TEXT NOT NULL,              -- a path, or topic/partition
    position    INTEGER NOT NULL DEFAULT 0, -- next byte offset or Kafka offset to read
    identity    TEXT,                       -- file identity at that position (see ingest)
    watermark_us INTEGER,                   -- latest event time read: the join's clock
    updated_at  TEXT,
    UNIQUE (kind, name)
);

-- One row per normalized event. The id is the record's origin (source << 40 | position): a
-- record read twice maps to the same row, and no extra unique index is needed.
-- One row per committed batch: when it was stored and what it held.
CREATE TABLE IF NOT EXISTS batches (
    id            INTEGER PRIMARY KEY,
    committed_at  TEXT NOT NULL,
    records       INTEGER NOT NULL,
    events        INTEGER NOT NULL,
    dead_letters  INTEGER NOT NULL
);

-- One row per normalized event. The id is the record's origin (source << 40 | position): a
-- record read twice maps to the same row, and no extra unique index is needed. The source and
-- position are derived from the id as VIRTUAL columns. (A VIRTUAL `timestamp` computed from
-- ts_us halved the insert rate: SQLite evaluates generated columns on insert.)
CREATE TABLE IF NOT EXISTS events (
    id              INTEGER PRIMARY KEY,
    system_id       TEXT NOT NULL,
    checkpoint_id   TEXT NOT NULL,
    timestamp       TEXT NOT NULL,          -- RFC 3339 in UTC, e.g. 2025-05-04T10:30:00Z
    status          TEXT NOT NULL,          -- SUCCESS | FAILURE
    correlation_id  TEXT NOT NULL,
    failure_reason  TEXT,
    ts_us           INTEGER NOT NULL,       -- event time, microseconds since the epoch
    corr_hash       INTEGER NOT NULL,       -- xxh3 of correlation_id: the trace index key
    batch_id        INTEGER NOT NULL,       -- the batch that stored it (see batches)
    source_id       INTEGER GENERATED ALWAYS AS (id >> 40) VIRTUAL,
    position        INTEGER GENERATED ALWAYS AS (id & 1099511627775) VIRTUAL
);
-- Two narrow integer indexes: trace by id, failures by time.
CREATE INDEX IF NOT EXISTS events_trace ON events (corr_hash);
CREATE INDEX IF NOT EXISTS events_failures ON events (ts_us) WHERE status = 'FAILURE';

-- Halves of split failures waiting for their partner; orphans stay, marked.
CREATE TABLE IF NOT EXISTS join_pending (
    id              INTEGER PRIMARY KEY,    -- origin key of the record
    kind            TEXT NOT NULL,          -- failure | reason
    system_id       TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    ts_us           INTEGER NOT NULL,
    reason          TEXT,
    state           TEXT NOT NULL DEFAULT 'waiting', -- waiting | orphan
    created_at      TEXT NOT NULL
);

-- Rejected records with their reason, source and position.
CREATE TABLE IF NOT EXISTS dead_letters (
    id          INTEGER PRIMARY KEY,        -- origin key
    source_id   INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    raw         BLOB NOT NULL,              -- at most 64 KiB of the record
    raw_len     INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);

-- The events with their source's name, for people.
CREATE VIEW IF NOT EXISTS events_with_source AS
    SELECT e.system_id, e.checkpoint_id, e.timestamp, e.status, e.correlation_id,
           e.failure_reason, s.kind AS source_kind, s.name AS source, e.position,
           b.committed_at AS ingested_at
    FROM events e JOIN sources s ON s.id = e.source_id JOIN batches b ON b.id = e.batch_id;
