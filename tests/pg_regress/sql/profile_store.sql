-- Stored profiles: save_profile (versions, identical re-saves, validation), the
-- warden.profiles view, apply_profile by name (and text that is a document), drop_profile,
-- their ledger entries, who may call them, and a key officer's temporary objects that try
-- to take over the store's writes.
BEGIN;
SELECT warden.create_key('default', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('audit', '\x101112131415161718191a1b1c1d1e1f101112131415161718191a1b1c1d1e1f');
CREATE SCHEMA ps;
CREATE TABLE ps.people (id int PRIMARY KEY, email text UNIQUE, phone varchar(20));
INSERT INTO ps.people SELECT g, 'person' || g || '@corp.example', '+1 555 ' || lpad(g::text, 4, '0')
  FROM generate_series(1, 50) g;
CREATE TEMP TABLE people_before AS SELECT * FROM ps.people;

-- 1. Saving: version 1, then the same profile spelt otherwise (key order, "1.0",
-- "rules", defaults written out): the same SHA-256, so no new version and a NOTICE.
SELECT warden.save_profile('{"name": "staging", "version": 1, "strategies": {"mail": {"type": "email"}},
  "tables": {"ps.people": [{"column": "email", "strategy": "mail"}]}}') AS saved;
SELECT warden.save_profile('{"tables": {"ps.people": {"rules": [{"column": "email", "strategy": "mail", "seed": 0}]}},
  "strategies": {"mail": {"type": "email", "config": {}}}, "key": "default", "global_seed": 0,
  "version": "1.0", "name": "staging"}') AS saved_again;
-- A changed profile is version 2; version 1 is kept.
SELECT warden.save_profile('{"name": "staging", "version": 2, "strategies": {"mail": {"type": "email"}},
  "tables": {"ps.people": [{"column": "email", "strategy": "mail"}, {"column": "phone", "strategy": "phone"}]}}') AS saved_v2;
-- Saving version 1's document again makes it version 3: only the latest is compared.
SELECT warden.save_profile('{"name": "staging", "version": 1, "strategies": {"mail": {"type": "email"}},
  "tables": {"ps.people": [{"column": "email", "strategy": "mail"}]}}') AS saved_v3;
SELECT warden.save_profile('{"name": "other", "version": 7, "strategies": {},
  "tables": {"ps.people": [{"column": "phone", "strategy": "phone"}]}}') AS saved_other;
SELECT name, version, sha256, saved_by, saved_at = now() AS saved_now, latest, document
  FROM warden.profiles ORDER BY name, version;
-- Equal documents, equal hashes (versions 1 and 3); a hash is of the canonical form, the
-- one apply_profile records.
SELECT count(DISTINCT sha256) AS distinct_hashes, bool_and(sha256 ~ '^[0-9a-f]{64}$') AS all_hex
  FROM warden.profiles WHERE name = 'staging';

-- 2. Refusals: every problem at once (22023), no name, a name that reads as a document,
-- nothing saved by any of them.
SELECT outcome($$SELECT warden.save_profile('{"name": "broken", "version": 0, "key": "missing_key",
  "strategies": {"bad": {"type": "md5"}},
  "tables": {"ps.people": [{"column": "mail", "strategy": "email"}, {"column": "phone", "strategy": "bad"}],
             "ps.nope": []}}')$$) AS invalid_profile;
SELECT outcome($$SELECT warden.save_profile('{"version": 1, "strategies": {}, "tables": {}}')$$) AS without_name;
SELECT outcome($$SELECT warden.save_profile('{"name": " {staging}", "version": 1, "strategies": {}, "tables": {}}')$$)
    AS name_like_a_document;
SELECT outcome($$SELECT warden.save_profile('{"name": " {x", "version": 1, "strategies": {},
  "tables": {"ps.people": [{"column": "mail", "strategy": "email"}]}}')$$) AS name_and_column;
SELECT outcome($$SELECT warden.save_profile((repeat('{"a":', 200) || '1' || repeat('}', 200))::jsonb)$$) AS deep_profile;
SELECT warden.save_profile(NULL) AS save_null;
SELECT count(*) AS versions_stored FROM warden.profiles;

-- 3. Applying by name applies the latest version (3: email only), exactly as applying its
-- document does, and the ledger entry names the stored profile.
SAVEPOINT by_name;
SELECT * FROM warden.apply_profile('staging') ORDER BY 1, 2;
SELECT string_agg(id || '=' || email || '/' || phone, ',' ORDER BY id) AS masked_by_name FROM ps.people \gset
SELECT details -> 'stored_profile' AS stored_profile,
       details ->> 'sha256' = (SELECT sha256 FROM warden.profiles WHERE name = 'staging' AND latest) AS hash_is_stored_hash
  FROM warden.audit_log WHERE event_type = 'anonymization' ORDER BY id DESC LIMIT 1;
ROLLBACK TO SAVEPOINT by_name;
SELECT count(*) AS rolled_back_changes FROM (TABLE ps.people EXCEPT TABLE people_before) d;
SAVEPOINT by_document;
SELECT * FROM warden.apply_profile((SELECT document FROM warden.profiles WHERE name = 'staging' AND latest)) ORDER BY 1, 2;
SELECT string_agg(p.id || '=' || p.email || '/' || p.phone, ',' ORDER BY p.id) = :'masked_by_name' AS same_as_by_name,
       bool_and(p.email = warden.anonymize(b.email, 'email')) AS emails_masked,
       bool_and(p.phone = b.phone) AS phones_kept
  FROM ps.people p JOIN people_before b USING (id);
SELECT details ? 'stored_profile' AS document_run_names_a_stored_profile,
       details ->> 'sha256' = (SELECT sha256 FROM warden.profiles WHERE name = 'staging' AND latest) AS same_hash
  FROM warden.audit_log WHERE event_type = 'anonymization' ORDER BY id DESC LIMIT 1;
ROLLBACK TO SAVEPOINT by_document;

-- 4. Text arguments: an untyped literal resolves to apply_profile(text), which reads text
-- starting with { (after white space) as a document, like the jsonb form; anything else
-- is a name.
SAVEPOINT untyped;
SELECT * FROM warden.apply_profile('
  {"name": "inline", "version": 1, "strategies": {}, "tables": {"ps.people": [{"column": "phone", "strategy": "phone"}]}}');
SELECT details ->> 'profile' AS profile, details ? 'stored_profile' AS names_a_stored_profile
  FROM warden.audit_log WHERE event_type = 'anonymization' ORDER BY id DESC LIMIT 1;
ROLLBACK TO SAVEPOINT untyped;
SELECT outcome($$SELECT * FROM warden.apply_profile('{}')$$) AS empty_document;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": ')$$) AS not_json;
SELECT outcome($$SELECT * FROM warden.apply_profile('nope')$$) AS unknown_profile;
SELECT outcome($$SELECT * FROM warden.apply_profile('[1]')$$) AS array_text_is_a_name;
SELECT outcome($$SELECT * FROM warden.apply_profile('[1]'::jsonb)$$) AS array_document;
SELECT count(*) AS rows_for_null FROM warden.apply_profile(NULL);

-- 5. Dropping removes every version of a name; an unknown name is 42704.
SELECT warden.drop_profile('other') AS dropped_other;
SELECT outcome($$SELECT warden.drop_profile('other')$$) AS drop_again;
SELECT outcome($$SELECT warden.drop_profile('never_saved')$$) AS drop_unknown;
SELECT outcome($$SELECT * FROM warden.apply_profile('other')$$) AS apply_dropped;
SELECT warden.drop_profile(NULL) AS drop_null;
SELECT name, count(*) AS versions FROM warden.profiles GROUP BY name ORDER BY name;

-- 6. The ledger: every save of a new version and every drop (the runs above were rolled
-- back with their entries; 8 shows one kept), with version numbers and hashes only, never
-- the document; the ledger verifies.
SELECT event_type, action, resource_type, resource_id, actor,
       details - 'sha256' AS details, details ->> 'sha256' ~ '^[0-9a-f]{64}$' AS hashed
  FROM warden.audit_log WHERE resource_type = 'profile' ORDER BY id;
SELECT (SELECT string_agg(DISTINCT details ->> 'sha256', ',') FROM warden.audit_log
         WHERE event_type = 'profile_saved' AND resource_id = 'staging' AND details ->> 'version' IN ('1', '3'))
     = (SELECT sha256 FROM warden.profiles WHERE name = 'staging' AND version = 1) AS ledger_hashes_are_stored_hashes;
SELECT valid FROM warden.verify_audit();

-- 7. Who may: superusers and warden_admin. Another role is refused inside the functions
-- even with EXECUTE (42501), and may not read the store.
CREATE ROLE regress_ps_nobody;
CREATE ROLE regress_ps_granted;
GRANT EXECUTE ON FUNCTION warden.save_profile(jsonb), warden.drop_profile(text), warden.apply_profile(text)
   TO regress_ps_granted;
SET LOCAL ROLE regress_ps_nobody;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.save_profile('{"name": "n", "version": 1, "strategies": {}, "tables": {}}')$$),
    ($$SELECT warden.drop_profile('staging')$$),
    ($$SELECT * FROM warden.apply_profile('staging')$$),
    ($$SELECT count(*) FROM warden.profiles$$),
    ($$SELECT count(*) FROM warden.profile_store$$)
) AS t(q);
SET LOCAL ROLE regress_ps_granted;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.save_profile('{"name": "n", "version": 1, "strategies": {}, "tables": {}}')$$),
    ($$SELECT warden.drop_profile('staging')$$),
    ($$SELECT * FROM warden.apply_profile('staging')$$),
    ($$SELECT * FROM warden.apply_profile('{"name": "n", "version": 1, "strategies": {}, "tables": {}}')$$)
) AS t(q);
RESET ROLE;
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute,
       has_function_privilege('warden_admin', p.oid, 'EXECUTE') AS warden_admin_may_execute,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
 WHERE p.pronamespace = 'warden'::regnamespace AND p.proname IN ('save_profile', 'drop_profile', 'apply_profile')
 ORDER BY 1::text;
SELECT c AS relation, has_table_privilege('warden_admin', c, 'SELECT') AS admin_may_read,
       has_table_privilege('warden_admin', c, 'INSERT') OR has_table_privilege('warden_admin', c, 'UPDATE')
           OR has_table_privilege('warden_admin', c, 'DELETE') AS admin_may_write,
       has_table_privilege('public', c, 'SELECT') AS public_may_read,
       obj_description(c, 'pg_class') IS NOT NULL AS commented
  FROM unnest('{warden.profile_store,warden.profiles}'::regclass[]) c ORDER BY 1::text;

-- 8. A key officer (warden_admin, not a superuser) shadows what the store's writes use:
-- temporary domains over their types with a CHECK that tries to make it a superuser, a
-- temporary table named profile_store (and audit_log), pg_temp first in search_path.
-- Saving, applying by name and dropping write the real store and ledger; no trap runs
-- as anyone but the attacker.
CREATE ROLE regress_ps_admin IN ROLE warden_admin;
GRANT USAGE ON SCHEMA ps TO regress_ps_admin;
GRANT SELECT, UPDATE ON ps.people TO regress_ps_admin;
CREATE TABLE public.ps_trap (role_name name NOT NULL, became_superuser boolean NOT NULL);
GRANT SELECT, INSERT ON public.ps_trap TO PUBLIC;
CREATE FUNCTION public.ps_grab(v pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    became boolean := false;
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_ps_admin SUPERUSER';
        became := true;
    EXCEPTION WHEN others THEN NULL;
    END;
    INSERT INTO public.ps_trap VALUES (current_user, became);
    RETURN true;
END $$;
SET LOCAL ROLE regress_ps_admin;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (public.ps_grab(VALUE));
CREATE DOMAIN pg_temp.int4 AS pg_catalog.int4 CHECK (public.ps_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.int8 AS pg_catalog.int8 CHECK (public.ps_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (public.ps_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.name AS pg_catalog.name CHECK (public.ps_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (public.ps_grab(VALUE::pg_catalog.text));
CREATE TEMP TABLE profile_store (name pg_catalog.text, version pg_catalog.int4, sha256 pg_catalog.text,
                                 document pg_catalog.jsonb, saved_by pg_catalog.name, saved_at pg_catalog.timestamptz);
CREATE TEMP TABLE audit_log (id pg_catalog.int8);
CREATE FUNCTION pg_temp.now() RETURNS pg_catalog.timestamptz LANGUAGE sql
    AS $$ SELECT '2000-01-01'::pg_catalog.timestamptz WHERE public.ps_grab('now') $$;
SET LOCAL search_path = pg_temp, public, pg_catalog;
-- The traps are live: the attacker's own cast to text runs one.
SELECT 'armed'::text AS trap_is_live;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.save_profile('{"name": "officer", "version": 1, "strategies": {},
        "tables": {"ps.people": [{"column": "phone", "strategy": "phone"}]}}')$$),
    ($$SELECT warden.save_profile('{"name": "officer", "version": 2, "strategies": {},
        "tables": {"ps.people": [{"column": "phone", "strategy": "phone", "seed": 3}]}}')$$),
    ($$SELECT count(*) FROM warden.apply_profile('officer')$$),
    ($$SELECT warden.drop_profile('staging')$$)
) AS t(q);
SELECT count(*) AS rows_in_the_temporary_store FROM pg_temp.profile_store;
SELECT count(*) AS rows_in_the_temporary_ledger FROM pg_temp.audit_log;
RESET ROLE;
SET LOCAL search_path = public, pg_catalog;
SELECT name, version, saved_by, latest, saved_at = now() AS saved_now FROM warden.profiles ORDER BY name, version;
SELECT event_type, resource_id, details -> 'version' AS version, details -> 'stored_profile' -> 'version' AS applied_version
  FROM warden.audit_log WHERE resource_type = 'profile' AND actor = session_user
   AND id > (SELECT max(id) FROM warden.audit_log WHERE event_type = 'profile_dropped' AND resource_id = 'other')
 ORDER BY id;
SELECT count(*) FILTER (WHERE p.phone <> b.phone) AS phones_masked FROM ps.people p JOIN people_before b USING (id);
SELECT role_name, bool_or(became_superuser) AS became_superuser
  FROM public.ps_trap GROUP BY role_name ORDER BY role_name;
SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'regress_ps_admin';
SELECT valid FROM warden.verify_audit();
ROLLBACK;
