-- The join looks a half's partner up by system, correlation id and kind, in any state (a waiting
-- partner first, then an orphan): one index on the three serves every such lookup. The partial
-- indexes of 01 (one per state) could not: the lookups name no state, so each was a scan of the
-- whole table — every waiting half and every orphan kept — once per batch and per candidate.
CREATE INDEX IF NOT EXISTS join_pending_key ON join_pending (system_id, correlation_id, kind);
DROP INDEX IF EXISTS join_pending_orphans;
DROP INDEX IF EXISTS join_pending_waiting;
