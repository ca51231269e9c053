-- Steps of a run: dbt nodes, Jenkins stages, GitHub Actions steps, the sessions of a workflow;
-- keyed by the run (etl_log_audit.run_key) and the step's name. Written with the run, under
-- the run's row lock, so concurrent writers merge instead of blanking.
CREATE TABLE IF NOT EXISTS steps (
    run_key          text NOT NULL,
    ordinal          bigint NOT NULL,               -- order of first appearance in the run
    name             text NOT NULL,
    kind             text,
    status           text NOT NULL,                 -- SUCCESS | FAILURE | RUNNING | UNKNOWN
    start_time       timestamptz,
    end_time         timestamptz,
    start_micros     bigint,
    end_micros       bigint,
    duration_seconds double precision,
    rows_affected    bigint,
    message          text,
    exact            integer NOT NULL DEFAULT 0,    -- values measured by the tool itself
    PRIMARY KEY (run_key, name)
);
CREATE INDEX IF NOT EXISTS steps_order ON steps (run_key, ordinal);
