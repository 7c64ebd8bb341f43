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
-- export_audit is SQL calling export_audit_text with the caller's rights; its cast is
-- qualified like every name pg_warden's SQL uses.
GRANT EXECUTE ON FUNCTION warden.export_audit_text(timestamptz, timestamptz) TO warden_admin;
CREATE OR REPLACE FUNCTION warden.export_audit("from" timestamptz DEFAULT '-infinity', "to" timestamptz DEFAULT 'infinity')
    RETURNS jsonb
    LANGUAGE sql VOLATILE
AS $$ SELECT warden.export_audit_text("from", "to")::pg_catalog.jsonb $$;

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

-- keyring (issue 9)
-- warden.keys shows check values to superusers and warden_admin only (NULL for everyone
-- else): a check value tests guesses of a low-entropy secret offline. Same columns.
CREATE OR REPLACE VIEW warden.keys AS
SELECT name,
       version,
       version = pg_catalog.max(version) OVER (PARTITION BY name) AS active,
       created_at,
       CASE WHEN pg_catalog.pg_has_role('warden_admin', 'USAGE') THEN check_value END AS check_value,
       CASE WHEN env_var IS NULL THEN 'stored' ELSE 'env:' || env_var END AS source
  FROM warden.key_store;
COMMENT ON VIEW warden.keys IS
    'Keys and versions; never key material. check_value (first 4 bytes of HMAC(key, ''check'')) is shown to superusers and warden_admin only, NULL for everyone else.';
-- Who may choose the audit key's material (superusers only), in the functions' comments.
COMMENT ON FUNCTION warden.create_key(text, bytea) IS
    'Creates version 1 of a named HMAC key and returns 1. NULL secret: 32 random bytes. Superusers and warden_admin only; only superusers may give the audit key (warden.audit_key) a secret.';
COMMENT ON FUNCTION warden.rotate_key(text, bytea) IS
    'Adds a new active version of a key and returns its number; older versions keep verifying. Superusers and warden_admin only; only superusers may give the audit key (warden.audit_key) a secret.';
COMMENT ON FUNCTION warden.create_key_from_env(text, text) IS
    'Creates version 1 of a key whose material stays in a WARDEN_* environment variable of the server; only the variable name is stored. Superusers and warden_admin only; superusers only for the audit key.';
COMMENT ON FUNCTION warden.rotate_key_from_env(text, text) IS
    'Adds a new active key version bound to a WARDEN_* environment variable of the server. Superusers and warden_admin only; superusers only for the audit key.';
