-- An ordinary login role can fingerprint but cannot read, create or rotate keys.
BEGIN;
SELECT warden.create_key('regress', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_nobody LOGIN;
CREATE ROLE regress_keeper LOGIN;
GRANT warden_user TO regress_app;
GRANT warden_admin TO regress_keeper;
-- EXECUTE alone must not be enough to manage keys.
GRANT EXECUTE ON FUNCTION warden.create_key(text, bytea), warden.rotate_key(text, bytea) TO regress_app;
SELECT warden.fingerprint('hunter2', 'regress') AS expected_fp \gset

SET ROLE regress_app;
SELECT warden.fingerprint('hunter2', 'regress') = :'expected_fp' AS app_can_fingerprint;
SELECT warden.fingerprint_matches('hunter2', :'expected_fp', 'regress') AS app_can_match;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT secret FROM warden.key_store$$),
    ($$SELECT count(*) FROM warden.key_store$$),
    ($$SELECT warden.create_key('app_key')$$),
    ($$SELECT warden.rotate_key('regress')$$),
    ($$SELECT warden.create_key_from_env('app_key', 'WARDEN_DEMO_KEY')$$),
    ($$UPDATE warden.key_store SET secret = '\x00'$$),
    ($$CREATE TABLE warden.intruder (x int)$$),
    ($$CREATE FUNCTION warden.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'$$)
) AS t(q);
-- The keys view lists keys, never material; check values only for key officers.
SELECT name, version, active, check_value IS NULL AS check_hidden, source FROM warden.keys WHERE name = 'regress';
-- Function sources name C symbols, not keys.
SELECT proname, prosrc FROM pg_proc
 WHERE pronamespace = 'warden'::regnamespace AND proname IN ('create_key', 'fingerprint') ORDER BY 1, 2;
-- No setting holds key material.
SELECT count(*) AS settings_with_key FROM pg_settings WHERE setting LIKE '%0001020304%';
RESET ROLE;

SET ROLE regress_nobody;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.fingerprint('x', 'regress')$$),
    ($$SELECT warden.fingerprint_secrets('{"token": "t"}', 'regress')$$),
    ($$SELECT warden.create_key('nobody_key')$$)
) AS t(q);
SELECT encode(warden.hmac_sha256('data', 'explicit key'), 'hex') = encode(hmac('data', 'explicit key', 'sha256'), 'hex') AS pure_hmac_is_public;
RESET ROLE;

SET ROLE regress_keeper;
SELECT warden.create_key('keeper_key') AS keeper_created;
SELECT warden.rotate_key('keeper_key') AS keeper_rotated;
SELECT outcome($$SELECT secret FROM warden.key_store$$) AS keeper_reads_store;
SELECT length(warden.fingerprint('x', 'keeper_key')) AS keeper_uses_key;
SELECT length(check_value) AS keeper_check_len FROM warden.keys WHERE name = 'regress';
RESET ROLE;
ROLLBACK;
