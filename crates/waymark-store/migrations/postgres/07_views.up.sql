-- Read-only views for the people and tools that read the store directly (psql, Grafana,
-- Power BI): stable names and plain columns, the internals (keys, batches, epochs) hidden.
-- Grant a reader role SELECT on these (see the README, "PostgreSQL").

CREATE OR REPLACE VIEW events_v AS
    SELECT e.timestamp, e.system_id, e.checkpoint_id, e.status, e.correlation_id,
           e.failure_reason, s.kind AS source_kind, s.name AS source, e.position,
           b.committed_at AS ingested_at
    FROM events e JOIN sources s ON s.id = e.source_id JOIN batches b ON b.id = e.batch_id;

CREATE OR REPLACE VIEW failures_v AS
    SELECT timestamp, system_id, checkpoint_id, correlation_id, failure_reason, source,
           position, ingested_at
    FROM events_v WHERE status = 'FAILURE';

CREATE OR REPLACE VIEW waiting_v AS
    SELECT p.kind, p.system_id, p.correlation_id,
           to_timestamp(p.ts_us / 1e6) AS timestamp, p.reason, p.state,
           s.name AS source, p.position, p.created_at
    FROM join_pending p JOIN sources s ON s.id = p.source_id;

CREATE OR REPLACE VIEW dead_letters_v AS
    SELECT s.kind AS source_kind, s.name AS source, d.position, d.kind, d.reason,
           d.raw, d.raw_len, d.created_at
    FROM dead_letters d JOIN sources s ON s.id = d.source_id;

CREATE OR REPLACE VIEW sources_v AS
    SELECT id, kind, name, position, identity, to_timestamp(watermark_us / 1e6) AS watermark,
           updated_at
    FROM sources;

CREATE OR REPLACE VIEW runs_v AS
    SELECT run_key, system_type, folder_name, workflow_name, session_name, run_id, status,
           start_time, end_time, duration_seconds, source_rows, target_rows, rejected_rows,
           source_name, target_name, error_message, log_file, extra, logscan_id,
           created_at, updated_at
    FROM etl_log_audit;

CREATE OR REPLACE VIEW scan_results_v AS
    SELECT r.logscan_id, r.file_path, r.system_type, r.line_number, r.byte_offset, r.rule,
           r.severity, r.line, r.line_timestamp, r.scanned_at
    FROM logscan_results r;

CREATE OR REPLACE VIEW scanned_files_v AS
    SELECT logscan_id, file_path, system_type, evidence, size, mtime, position, line_number,
           state, first_scanned_at, scanned_at
    FROM scanned_files;

CREATE OR REPLACE VIEW steps_v AS
    SELECT run_key, ordinal, name, kind, status, start_time, end_time, duration_seconds,
           rows_affected, message
    FROM steps;
