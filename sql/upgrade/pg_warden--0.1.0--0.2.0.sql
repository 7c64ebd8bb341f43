-- pg_warden 0.1.0 -> 0.2.0
-- Brings a 0.1.0 installation to exactly what CREATE EXTENSION pg_warden creates in 0.2.0;
-- tests/multi/t_upgrade.sh compares the two catalog by catalog.
\echo Use "ALTER EXTENSION pg_warden UPDATE" to load this file. \quit

-- The confidence range moved from a CHECK constraint into the chain trigger (and
-- warden.log_event's direct insert path); entries already stored were checked on entry.
ALTER TABLE warden.audit_log DROP CONSTRAINT audit_log_confidence_check;

-- Key officers may read the ledger, so their pg_dump may carry its sequence too.
GRANT SELECT ON SEQUENCE warden.audit_log_id_seq TO warden_admin;

-- Time ranges get a B-tree (the BRIN index reads everything written since its last
-- summary, which is where queries for recent entries look). Writers wait while it is
-- built: 0.4 s per million entries measured here.
CREATE INDEX audit_log_ts ON warden.audit_log (ts);
-- Summarize each BRIN block range once the next one starts, instead of at VACUUM only.
ALTER INDEX warden.audit_log_brin SET (autosummarize = on);
