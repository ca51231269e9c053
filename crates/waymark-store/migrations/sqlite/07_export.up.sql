-- Exports (waymark export): named watermarks, and change sequences for the rows that change
-- in place, so `--since-last NAME` gives every row (and every new version of an updated run)
-- exactly once. Insert-only tables need none: their rowid (or batch id) only grows.

-- One counter per sequence; triggers take the next value. A counter, not max() + 1: an orphan
-- joined later is deleted, and max() + 1 would hand its number out again below a watermark.
CREATE TABLE export_sequences (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
INSERT INTO export_sequences (name, value)
    VALUES ('runs', (SELECT coalesce(max(id), 0) FROM etl_log_audit)), ('orphans', 0);

-- Runs are upserted: every insert and every change takes the next number.
ALTER TABLE etl_log_audit ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
UPDATE etl_log_audit SET change_seq = id;
CREATE INDEX etl_log_audit_change ON etl_log_audit (change_seq);
CREATE TRIGGER etl_log_audit_seq_insert AFTER INSERT ON etl_log_audit
BEGIN
    UPDATE export_sequences SET value = value + 1 WHERE name = 'runs';
    UPDATE etl_log_audit SET change_seq = (SELECT value FROM export_sequences WHERE name = 'runs')
        WHERE id = NEW.id;
END;
-- The guard skips the trigger's own update (it changes change_seq).
CREATE TRIGGER etl_log_audit_seq_update AFTER UPDATE ON etl_log_audit
    WHEN NEW.change_seq = OLD.change_seq
BEGIN
    UPDATE export_sequences SET value = value + 1 WHERE name = 'runs';
    UPDATE etl_log_audit SET change_seq = (SELECT value FROM export_sequences WHERE name = 'runs')
        WHERE id = NEW.id;
END;

-- A half becomes an orphan by an update of its state: that is when it becomes exportable. The
-- column stays NULL on insert, so the ingest path pays nothing.
ALTER TABLE join_pending ADD COLUMN orphan_seq INTEGER;
CREATE INDEX join_pending_orphan_seq ON join_pending (orphan_seq) WHERE orphan_seq IS NOT NULL;
UPDATE export_sequences SET value = (SELECT count(*) FROM join_pending WHERE state = 'orphan')
    WHERE name = 'orphans';
UPDATE join_pending SET orphan_seq = (
    SELECT n FROM (
        SELECT source_id AS s, position AS p,
               row_number() OVER (ORDER BY ts_us, source_id, position) AS n
        FROM join_pending WHERE state = 'orphan'
    ) WHERE s = join_pending.source_id AND p = join_pending.position
) WHERE state = 'orphan';
CREATE TRIGGER join_pending_orphaned AFTER UPDATE OF state ON join_pending
    WHEN NEW.state = 'orphan' AND OLD.state <> 'orphan'
BEGIN
    UPDATE export_sequences SET value = value + 1 WHERE name = 'orphans';
    UPDATE join_pending
        SET orphan_seq = (SELECT value FROM export_sequences WHERE name = 'orphans')
        WHERE source_id = NEW.source_id AND position = NEW.position;
END;

-- The watermark of each named export of each table: rows up to `upto` in the table's sequence
-- were exported. `filter` is the filter it was taken with: another filter under the same name
-- would skip rows for good, so it is refused.
CREATE TABLE export_watermarks (
    name        TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    filter      TEXT NOT NULL,
    upto        INTEGER NOT NULL,
    exports     INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (name, table_name)
);

-- Every finished export, named or not, recorded in the transaction that advances its watermark.
CREATE TABLE export_log (
    id          INTEGER PRIMARY KEY,
    name        TEXT,
    table_name  TEXT NOT NULL,
    filter      TEXT NOT NULL,
    since       INTEGER NOT NULL,
    upto        INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    target      TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
