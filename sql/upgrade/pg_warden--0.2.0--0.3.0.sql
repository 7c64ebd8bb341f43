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

-- confidence as double precision, which drivers send for a float (psycopg, JDBC): no
-- implicit cast leads from float8 to numeric, and an overload that a call without a
-- float8 could also match through defaults would make that call ambiguous. Two forms
-- that cannot: confidence third, for calls that name their arguments
-- (`log_event(e, a, confidence => 0.9::float8, resource_type => ...)`), whose later
-- parameters have the types of the numeric form at the same positions, so positional
-- calls still resolve to it; and all ten positionally.
CREATE FUNCTION warden.log_event(
    event_type     text,
    action         text,
    confidence     double precision,
    resource_type  text  DEFAULT NULL,
    details        jsonb DEFAULT NULL,
    resource_id    text  DEFAULT NULL,
    actor          text  DEFAULT NULL,
    reason         text  DEFAULT NULL
) RETURNS bigint
    VOLATILE
    LANGUAGE sql
AS $$ SELECT warden.log_event(event_type => $1, action => $2, confidence => $3::pg_catalog.numeric,
        resource_type => $4, details => $5, resource_id => $6, actor => $7, reason => $8) $$;
CREATE FUNCTION warden.log_event(
    event_type     text,
    action         text,
    resource_type  text,
    resource_id    text,
    details        jsonb,
    actor          text,
    correlation_id text,
    reason         text,
    confidence     double precision,
    tenant         text DEFAULT NULL
) RETURNS bigint
    VOLATILE
    LANGUAGE sql
AS $$ SELECT warden.log_event(event_type => $1, action => $2, confidence => $9::pg_catalog.numeric,
        resource_type => $3, resource_id => $4, details => $5, actor => $6, correlation_id => $7,
        reason => $8, tenant => $10) $$;

REVOKE ALL ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text), warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text), warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) TO warden_user;
COMMENT ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text) IS
    'warden.log_event with confidence as double precision (drivers send floats so), for calls naming confidence; same entry as the numeric form.';
COMMENT ON FUNCTION warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) IS
    'warden.log_event with confidence as double precision (drivers send floats so), all positional; same entry as the numeric form.';
