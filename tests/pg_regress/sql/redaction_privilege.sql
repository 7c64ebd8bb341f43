-- Attacks on the privileged SQL of redaction, erasure, retention, import and export by
-- the role that may call them and is not a superuser: a key officer (warden_admin).
-- None of what it defines may run with pg_warden's (the extension owner's) rights.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
-- A key officer (warden_admin, not a superuser) shadows the types, tables and names
-- the privileged SQL of redaction, erasure, retention, import and export uses, with
-- temporary objects whose code would make it superuser if it ran as the extension owner.
CREATE ROLE regress_officer LOGIN;
GRANT warden_admin TO regress_officer;
CREATE TABLE public.legacy (id pg_catalog.int4 PRIMARY KEY, at pg_catalog.timestamptz NOT NULL, what pg_catalog.text NOT NULL);
INSERT INTO public.legacy VALUES (1, '2020-01-01 00:00:00+00', 'legacy event');
GRANT SELECT ON public.legacy TO regress_officer;
SET ROLE regress_officer;
-- Notices name ids that depend on the scripts before this one.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.officer_grab(v pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'ALTER ROLE regress_officer SUPERUSER';
    RETURN true;
EXCEPTION WHEN others THEN RETURN true;
END $$;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.officer_grab(VALUE));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.officer_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.int8 AS pg_catalog.int8 CHECK (pg_temp.officer_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (pg_temp.officer_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (pg_temp.officer_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.interval AS pg_catalog.interval CHECK (pg_temp.officer_grab(VALUE::pg_catalog.text));
CREATE TEMP TABLE audit_log (id bigint);
CREATE TEMP TABLE audit_retention (tenant text);
CREATE TEMP TABLE audit_import (id bigint);
CREATE TEMP TABLE audit_ddl_changes (entry_id bigint);
CREATE TEMP TABLE pg_index (indrelid oid);
SELECT warden.log_event('officer', 'NOTE', actor => 'someone@example.com', reason => 'to erase') AS officer_entry \gset
SELECT warden.redact_audit(:officer_entry, ARRAY['reason'], 'officer redaction');
SELECT warden.erase_subject('{"actor": "someone@example.com"}', 'officer erasure');
SELECT warden.set_retention('regress-tenant', '1 day');
SELECT warden.apply_retention() -> 'deleted' AS retention_deleted;
CALL warden.import_audit('public.legacy', '{"order_by": "id", "ts": "at", "event_type": {"value": "legacy"}, "action": "what"}');
SELECT warden.export_audit() ->> 'format' AS export_format;
SELECT valid FROM warden.verify_audit();
RESET ROLE;
SELECT rolsuper AS officer_became_superuser FROM pg_roles WHERE rolname = 'regress_officer';
SELECT action, reason IS NULL AS reason_erased, actor IS NULL AS actor_erased
  FROM warden.audit_log WHERE event_type = 'officer';
SELECT count(*) AS imported FROM warden.audit_log WHERE event_type = 'legacy';
-- The trap is live: this session (search_path "$user", public, with pg_temp searched
-- first for types) casting to text as a superuser runs it, and the officer becomes one.
SELECT 'probe'::text IS NOT NULL AS probed;
SELECT rolsuper AS trap_would_have_worked FROM pg_roles WHERE rolname = 'regress_officer';

ROLLBACK;
