-- Schema, privilege and audit-control events (warden.audit_ddl): each DDL command,
-- GRANT/REVOKE, COMMENT, role command, SET session_replication_role / warden.* and
-- event-trigger change is one ledger entry in its own transaction; a rolled-back
-- command leaves none; secrets in statements are fingerprinted; nothing is recorded
-- while capture is off; switching it is recorded both ways.
BEGIN;
SET LOCAL client_min_messages = error;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
-- Off by default: nothing recorded.
CREATE TABLE public.ddl_before (x int);
SELECT count(*) AS entries_while_off FROM warden.audit_log WHERE event_type IN ('ddl', 'role');
SELECT warden.audit_ddl();
CREATE TABLE public.ddl_t (id int PRIMARY KEY, note text);
ALTER TABLE public.ddl_t ADD COLUMN extra int;
CREATE INDEX ddl_t_note ON public.ddl_t (note);
COMMENT ON TABLE public.ddl_t IS 'audited comment';
CREATE ROLE regress_ddl_app LOGIN PASSWORD 'hunter2-secret';
GRANT SELECT ON public.ddl_t TO regress_ddl_app;
REVOKE SELECT ON public.ddl_t FROM regress_ddl_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO regress_ddl_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM regress_ddl_app;
ALTER ROLE regress_ddl_app SUPERUSER;
ALTER ROLE regress_ddl_app NOSUPERUSER;
GRANT pg_read_all_data TO regress_ddl_app;
REVOKE pg_read_all_data FROM regress_ddl_app;
CREATE FOREIGN DATA WRAPPER regress_ddl_fdw;
CREATE SERVER regress_ddl_srv FOREIGN DATA WRAPPER regress_ddl_fdw;
CREATE USER MAPPING FOR regress_ddl_app SERVER regress_ddl_srv OPTIONS (user 'u', password 'hunter2-mapping');
DROP SERVER regress_ddl_srv CASCADE;
DROP FOREIGN DATA WRAPPER regress_ddl_fdw;
SAVEPOINT s;
-- A failed command: its entry goes with it.
CREATE TABLE public.ddl_t (id int);
ROLLBACK TO s;
SAVEPOINT s2;
CREATE TABLE public.ddl_rolled_back (x int);
ROLLBACK TO s2;
DROP INDEX public.ddl_t_note;
DROP TABLE public.ddl_t, public.ddl_before;
SET LOCAL session_replication_role = replica;
SET LOCAL session_replication_role = DEFAULT;
ALTER EVENT TRIGGER warden_audit_ddl_capture DISABLE;
ALTER EVENT TRIGGER warden_audit_ddl_capture ENABLE ALWAYS;
DROP ROLE regress_ddl_app;
SELECT event_type, action, resource_type, resource_id,
       details->>'statement' AS statement,
       details->'dropped' IS NOT NULL AND jsonb_array_length(details->'dropped') > 0 AS dropped_listed,
       details->>'source' AS source
  FROM warden.audit_log WHERE event_type IN ('ddl', 'role', 'audit_control') ORDER BY id;
-- No statement in the ledger holds the password in clear.
SELECT count(*) AS clear_passwords FROM warden.audit_log WHERE details::text LIKE '%hunter2%';
-- The fingerprint is the keyed fingerprint of the value.
SELECT details->>'statement' LIKE '%' || warden.fingerprint('hunter2-secret', 'audit') || '%' AS fingerprint_matches
  FROM warden.audit_log WHERE action = 'CREATE ROLE';
-- Off again: recorded, then nothing more.
SELECT warden.audit_ddl(false);
CREATE TABLE public.ddl_after (x int);
SELECT action, details->>'enabled' AS enabled, details->>'previous' AS previous
  FROM warden.audit_log WHERE event_type = 'audit_control' AND resource_id = 'warden.audit_ddl' ORDER BY id;
SELECT count(*) AS entries_after_off FROM warden.audit_log WHERE resource_id = 'public.ddl_after';
SELECT enabled, changed_by, entry_id IS NOT NULL AS linked FROM warden.audit_ddl_changes ORDER BY id;
SELECT valid FROM warden.verify_audit();
-- The setting's history is append-only; only key officers may switch it.
SELECT outcome($$UPDATE warden.audit_ddl_changes SET enabled = true$$);
SELECT outcome($$DELETE FROM warden.audit_ddl_changes$$);
SELECT outcome($$TRUNCATE warden.audit_ddl_changes$$);
SELECT outcome($$DROP TABLE warden.audit_ddl_changes$$);
CREATE ROLE regress_ddl_user;
GRANT warden_user TO regress_ddl_user;
SET LOCAL ROLE regress_ddl_user;
SELECT outcome($$SELECT warden.audit_ddl(false)$$);
RESET ROLE;
ROLLBACK;

-- A key officer who is not a superuser, with temporary domains over the types the
-- capture uses (a CHECK that tries to make it a superuser) and pg_temp first: its DDL is
-- recorded, and no trap runs as anyone but itself.
BEGIN;
SET LOCAL client_min_messages = error;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.audit_ddl();
CREATE ROLE regress_ddl_officer;
GRANT warden_admin TO regress_ddl_officer;
GRANT CREATE ON SCHEMA public TO regress_ddl_officer;
CREATE TABLE public.ddl_trap (role_name name NOT NULL, became_superuser boolean NOT NULL);
GRANT SELECT, INSERT ON public.ddl_trap TO PUBLIC;
CREATE FUNCTION public.ddl_grab(v pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    became boolean := false;
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_ddl_officer SUPERUSER';
        became := true;
    EXCEPTION WHEN others THEN NULL;
    END;
    INSERT INTO public.ddl_trap VALUES (current_user, became);
    RETURN true;
END $$;
SET LOCAL ROLE regress_ddl_officer;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (public.ddl_grab(VALUE));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (public.ddl_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.bool AS pg_catalog.bool CHECK (public.ddl_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.int8 AS pg_catalog.int8 CHECK (public.ddl_grab(VALUE::pg_catalog.text));
CREATE TEMP TABLE audit_ddl_changes (enabled bool);
CREATE TEMP TABLE audit_log (id int8);
SET LOCAL search_path = pg_temp, public, pg_catalog;
CREATE TABLE public.ddl_officer_table (x int);
SELECT outcome($$SELECT warden.audit_ddl(true)$$);
RESET ROLE;
SET LOCAL search_path = public, pg_catalog;
SELECT actor, action, resource_id, details->>'current_user' AS current_user
  FROM warden.audit_log WHERE resource_id = 'public.ddl_officer_table';
SELECT role_name, bool_or(became_superuser) AS became_superuser
  FROM public.ddl_trap GROUP BY role_name ORDER BY role_name;
SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'regress_ddl_officer';
ROLLBACK;

-- What the database records of PCI DSS 10.2.1, as the settings in force say: nothing
-- audited and DDL capture off, then a table audited and DDL capture on (the regression
-- server does not preload pg_warden).
BEGIN;
SET LOCAL client_min_messages = error;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT requirement, event_class, status, gap IS NOT NULL AS has_gap FROM warden.audit_coverage();
CREATE TABLE public.ddl_cardholder (id int PRIMARY KEY, pan text);
SELECT warden.audit_table('public.ddl_cardholder');
SELECT warden.audit_ddl();
SELECT requirement, event_class, status, gap FROM warden.audit_coverage();
CREATE ROLE regress_ddl_cov;
SET LOCAL ROLE regress_ddl_cov;
SELECT outcome($$SELECT * FROM warden.audit_coverage()$$);
RESET ROLE;
ROLLBACK;

-- The reviewer's findings (attacks that went unrecorded or leaked), each as it was found.
BEGIN;
SET LOCAL client_min_messages = error;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.audit_ddl();
-- A row forged into the setting's history changes nothing, and audit_ddl says what is in force.
INSERT INTO warden.audit_ddl_changes (id, enabled, changed_by, entry_id) VALUES (9223372036854775807, false, 'x', 0);
INSERT INTO warden.audit_ddl_changes (enabled, changed_by, entry_id)
    SELECT false, 'x', id FROM warden.audit_log WHERE action = 'audit_ddl_on';
CREATE TABLE public.ddl_after_forgery (x int);
SELECT count(*) AS recorded_after_forgery FROM warden.audit_log WHERE resource_id = 'public.ddl_after_forgery';
SELECT status FROM warden.audit_coverage() WHERE requirement = '10.2.1.7';
-- Nor can log_event write an entry that passes for audit_ddl's own.
SELECT outcome($$SELECT warden.log_event('audit_control', 'audit_ddl_off', 'setting', 'warden.audit_ddl', '{"enabled": false}')$$);
SELECT outcome($$SELECT warden.log_event('audit_redaction', 'REDACT')$$);
-- Global objects: privileges, comments and owners no event trigger sees.
DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO PUBLIC', current_database()); END $$;
DO $$ BEGIN EXECUTE format('COMMENT ON DATABASE %I IS %L', current_database(), 'db comment'); END $$;
CREATE ROLE regress_ddl_global;
COMMENT ON ROLE regress_ddl_global IS 'role comment';
GRANT SET ON PARAMETER warden.parallel_verify_min_entries TO regress_ddl_global;
SELECT event_type, action, resource_type, details->>'source' AS source
  FROM warden.audit_log WHERE details->>'statement' ~ '(CONNECT ON DATABASE|COMMENT ON (DATABASE|ROLE)|ON PARAMETER)' ORDER BY id;
-- Bare values of secret-named settings, credentials in a URI, the E of LIKE'…'.
ALTER ROLE regress_ddl_global SET app.api_token = BARESECRET1;
ALTER ROLE regress_ddl_global SET app.pin_secret = 424242;
ALTER ROLE regress_ddl_global SET app.pin_secret = -424242;
CREATE ROLE regress_ddl_split PASSWORD 'abc'
    'SPLITSECRET';
CREATE SUBSCRIPTION regress_ddl_sub CONNECTION 'postgresql://rep:URISECRET1@localhost:1/db' PUBLICATION p
    WITH (connect = false, slot_name = NONE, enabled = false, create_slot = false);
DROP SUBSCRIPTION regress_ddl_sub;
CREATE TABLE public.ddl_like (c text CHECK (c LIKE'x\')); ALTER ROLE regress_ddl_global PASSWORD 'ROLEPW_LEAK_2';
SELECT count(*) AS clear_secrets FROM warden.audit_log
 WHERE details::text ~ '(BARESECRET1|424242|URISECRET1|ROLEPW_LEAK_2|SPLITSECRET)';
SELECT action, (details->>'fingerprinted_literals')::int AS fingerprinted FROM warden.audit_log
 WHERE details->>'statement' ~ '(app\.api_token|app\.pin_secret|CREATE SUBSCRIPTION|PASSWORD)' AND id > (
       SELECT max(id) FROM warden.audit_log WHERE resource_id = 'public.ddl_after_forgery') ORDER BY id;
-- With capture on, DDL waits for its event triggers to be enabled again.
ALTER EVENT TRIGGER warden_audit_ddl_capture DISABLE;
SELECT outcome($$CREATE TABLE public.ddl_while_disabled (x int)$$);
ALTER EVENT TRIGGER warden_audit_ddl_capture ENABLE ALWAYS;
CREATE TABLE public.ddl_while_disabled (x int);
SELECT count(*) AS recorded_once_enabled FROM warden.audit_log WHERE resource_id = 'public.ddl_while_disabled';
-- In a read-only transaction a command to record is refused while capture is on.
SAVEPOINT ro;
SET LOCAL transaction_read_only = on;
SELECT outcome($$SET session_replication_role = replica$$);
SELECT outcome($$SET warden.parallel_verify_min_entries = 5$$);
-- SET LOCAL there changes no write: allowed, unrecorded.
SELECT outcome($$SET LOCAL warden.parallel_verify_min_entries = 5$$);
ROLLBACK TO ro;
-- Without its audit key the command goes on, unrecorded (a WARNING says so): what a
-- restore that brought the setting but not the keys meets.
SET LOCAL warden.audit_key = 'regress_ddl_nokey';
CREATE TABLE public.ddl_without_key (x int);
RESET warden.audit_key;
SELECT count(*) AS recorded_without_key FROM warden.audit_log WHERE resource_id = 'public.ddl_without_key';
SELECT valid FROM warden.verify_audit();
ROLLBACK;
