-- Who may choose the audit key's material, and who may learn anything that tests
-- guesses of key material. Written as the attacker: a key officer (warden_admin, not
-- superuser) who wants to know the key that signs the ledger, and roles below it that
-- want a check value to test guessed secrets offline.
BEGIN;
CREATE ROLE regress_officer LOGIN;
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_nobody LOGIN;
CREATE ROLE regress_signer LOGIN;
GRANT warden_admin TO regress_officer;
GRANT warden_user TO regress_app;
-- Another role's sessions sign with a key of their own (a superuser's choice).
ALTER ROLE regress_signer SET warden.audit_key = 'signer_audit';

-- The officer may not give the audit key a secret or an environment binding of its
-- choosing: it would know the signing key and could forge ledger exports.
SET ROLE regress_officer;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')$$),
    ($$SELECT warden.create_key_from_env('audit', 'WARDEN_DEMO_KEY')$$),
    ($$SELECT warden.create_key('signer_audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')$$),
    ($$SELECT warden.create_key_from_env('signer_audit', 'WARDEN_DEMO_KEY')$$)
) AS t(q);
-- Generated material is fine: nobody learns it.
SELECT warden.create_key('audit') AS officer_created_audit;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.rotate_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')$$),
    ($$SELECT warden.rotate_key_from_env('audit', 'WARDEN_DEMO_KEY')$$)
) AS t(q);
-- What the officer is told:
SAVEPOINT refused;
SELECT warden.rotate_key('audit', '\x000102030405060708090a0b0c0d0e0f');
ROLLBACK TO refused;
SELECT warden.rotate_key('audit') AS officer_rotated_audit;
-- Any other key still takes the officer's secret (migrations need it).
SELECT warden.create_key('officer_key', '\x101112131415161718191a1b1c1d1e1f') AS officer_chose_secret;
SELECT warden.create_key_from_env('officer_env', 'WARDEN_DEMO_KEY') AS officer_bound_env;
RESET ROLE;

-- A superuser may choose the audit key's material.
SELECT warden.rotate_key('audit', '\x202122232425262728292a2b2c2d2e2f') AS superuser_rotated_audit;
SELECT warden.create_key_from_env('signer_audit', 'WARDEN_DEMO_KEY') AS superuser_bound_signer_key;
-- The key named by this session's own warden.audit_key is protected too.
SET LOCAL warden.audit_key = 'session_audit';
SET ROLE regress_officer;
SELECT outcome($$SELECT warden.create_key('session_audit', '\x101112131415161718191a1b1c1d1e1f')$$) AS session_audit_key;
RESET ROLE;
RESET warden.audit_key;
SELECT name, version, source FROM warden.keys ORDER BY name, version;
ROLLBACK;

-- Check values: superusers and key officers see them; nobody below does, and a filter
-- on the column finds nothing for them either.
BEGIN;
CREATE ROLE regress_officer LOGIN;
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_nobody LOGIN;
GRANT warden_admin TO regress_officer;
GRANT warden_user TO regress_app;
SELECT warden.create_key('regress', '\x000102030405060708090a0b0c0d0e0f') AS regress_key;
SELECT check_value AS expected_check FROM warden.keys WHERE name = 'regress' \gset
SELECT check_value = :'expected_check' AS superuser_sees_check FROM warden.keys WHERE name = 'regress';
SET ROLE regress_officer;
SELECT check_value = :'expected_check' AS officer_sees_check FROM warden.keys WHERE name = 'regress';
RESET ROLE;
SET ROLE regress_app;
SELECT name, version, active, check_value IS NULL AS check_hidden, source FROM warden.keys WHERE name = 'regress';
SELECT count(*) AS rows_matching_check FROM warden.keys WHERE check_value = :'expected_check';
RESET ROLE;
SET ROLE regress_nobody;
SELECT name, version, active, check_value IS NULL AS check_hidden, source FROM warden.keys WHERE name = 'regress';
SELECT count(*) AS rows_matching_check FROM warden.keys WHERE check_value = :'expected_check';
-- Every column is still there for everyone (migrations select them).
SELECT string_agg(attname, ',' ORDER BY attnum) AS keys_columns FROM pg_attribute
 WHERE attrelid = 'warden.keys'::regclass AND attnum > 0;
RESET ROLE;
ROLLBACK;
