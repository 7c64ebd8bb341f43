-- pg_warden 0.2.0 -> 0.3.0
-- Brings a 0.2.0 installation to exactly what CREATE EXTENSION pg_warden creates in 0.3.0;
-- tests/multi/t_upgrade.sh compares the two catalog by catalog.
\echo Use "ALTER EXTENSION pg_warden UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------------------------
-- capture and ledger writes (issue 9)
-- Row capture runs with the rights of the statement that fired it (it was SECURITY
-- DEFINER PL/pgSQL, which ran a writer's temporary domain or an owner's cast as the
-- superuser). Same oid, so every existing capture trigger now calls the C function.
CREATE OR REPLACE FUNCTION warden.audit_capture() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_capture_wrapper';
GRANT EXECUTE ON FUNCTION warden.audit_capture() TO warden_admin;
COMMENT ON FUNCTION warden.audit_capture() IS
    'Internal: trigger function that records row changes of an audited table in the ledger; runs with the rights of the statement that fired it.';
-- export_audit is SQL calling export_audit_text with the caller's rights.
GRANT EXECUTE ON FUNCTION warden.export_audit_text(timestamptz, timestamptz) TO warden_admin;
