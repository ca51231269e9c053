-- Steps of a run (issue 14): dbt nodes, Jenkins stages, GitHub Actions steps, the sessions of a
-- workflow; keyed by the run (etl_log_audit.run_key) and the step's name, unique within the run.
-- Upserted with the run, field by field, never blanking a known value.
CREATE TABLE IF NOT EXISTS steps (
    run_key          TEXT NOT NULL,
    ordinal          INTEGER NOT NULL,               -- order of first appearance in the run
    name             TEXT NOT NULL,
    kind             TEXT,                           -- model, test, seed, stage, step ...
    status           TEXT NOT NULL,                  -- SUCCESS | FAILURE | RUNNING | UNKNOWN
    start_time       TEXT,                           -- RFC 3339 UTC
    end_time         TEXT,
    start_micros     INTEGER,
    end_micros       INTEGER,
    duration_seconds REAL,
    rows_affected    INTEGER,
    message          TEXT,
    exact            INTEGER NOT NULL DEFAULT 0,     -- values measured by the tool itself
    PRIMARY KEY (run_key, name)
);
CREATE INDEX IF NOT EXISTS steps_order ON steps (run_key, ordinal);
