-- Audit rows, one per ETL run (waymark audit).
-- run_key is the run's identity: system_type|folder|workflow|session|run_id, or the place of
-- the run in its document (`@scan:<logscan_id>#<ordinal>`, `@<file>#<ordinal>`) when the log
-- states no run id. Rows are upserted field by field and never lose a known value.
CREATE TABLE IF NOT EXISTS etl_log_audit (
    id               INTEGER PRIMARY KEY,
    run_key          TEXT NOT NULL UNIQUE,
    logscan_id       INTEGER,                        -- scanned_files version last read
    system_type      TEXT NOT NULL,
    folder_name      TEXT,
    workflow_name    TEXT,
    session_name     TEXT,
    run_id           TEXT,
    start_time       TEXT,                           -- RFC 3339 UTC
    end_time         TEXT,
    start_micros     INTEGER,                        -- the same times as integers, for ranges
    end_micros       INTEGER,
    duration_seconds REAL,
    status           TEXT NOT NULL,                  -- SUCCESS | FAILURE | RUNNING | UNKNOWN
    source_rows      INTEGER,                        -- NULL when the log does not state it
    target_rows      INTEGER,
    rejected_rows    INTEGER,
    source_name      TEXT NOT NULL DEFAULT '[]',     -- JSON array, ordered, no duplicates
    target_name      TEXT NOT NULL DEFAULT '[]',
    error_message    TEXT,
    log_file         TEXT,
    extra            TEXT NOT NULL DEFAULT '{}',     -- mapped fields that are not columns
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS etl_log_audit_start ON etl_log_audit (start_micros);

-- Which scanned file versions were audited up to which position, so a rerun does no work.
CREATE TABLE IF NOT EXISTS audit_progress (
    logscan_id  INTEGER PRIMARY KEY,
    position    INTEGER NOT NULL,
    audited_at  TEXT NOT NULL
);
