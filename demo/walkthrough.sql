-- ============================================================================
-- pg_warden walkthrough
-- ============================================================================
CREATE EXTENSION pg_warden;
CREATE EXTENSION pgcrypto;

-- ---------------------------------------------------------------------------
-- 1. Keyring: keys are created inside the server and never shown again.
-- ---------------------------------------------------------------------------
-- 32 random bytes from the server's CSPRNG:
SELECT warden.create_key('default');
-- A key whose material stays in the server's environment (WARDEN_DEMO_KEY was set
-- when scripts/cluster.sh started the server); only the variable's name is stored:
SELECT warden.create_key_from_env('payments', 'WARDEN_DEMO_KEY');
-- What anyone may see: names, versions, a check value. Never material.
SELECT name, version, active, check_value, source FROM warden.keys ORDER BY name, version;

-- ---------------------------------------------------------------------------
-- 2. Fingerprints: HMAC-SHA256 under the active key version.
-- ---------------------------------------------------------------------------
CREATE TABLE api_clients (id int PRIMARY KEY, name text, api_key_fp text);
INSERT INTO api_clients VALUES
    (1, 'billing', warden.fingerprint('sk_live_billing_123')),
    (2, 'search',  warden.fingerprint('sk_live_search_456'));
-- Which client presented this key? Compare fingerprints, never raw secrets:
SELECT id, name FROM api_clients WHERE api_key_fp = warden.fingerprint('sk_live_search_456');

-- Rotate: new fingerprints use version 2; version-1 fingerprints still match.
SELECT warden.rotate_key('default');
SELECT name,
       api_key_fp = warden.fingerprint('sk_live_billing_123') AS same_as_new_fp,
       warden.fingerprint_matches('sk_live_billing_123', api_key_fp) AS still_matches
  FROM api_clients WHERE id = 1;

-- Secret-named fields in a JSON document, at any depth, become fingerprints:
SELECT jsonb_pretty(warden.fingerprint_secrets(
    '{"user": "ann", "password": "hunter2", "integrations": [{"name": "s3", "aws_secret": "xyz"}]}'));

-- The same bytes as pgcrypto's HMAC, computed several times faster (see make bench):
SELECT warden.fingerprint('hunter2', 'payments')
     = encode(hmac('hunter2', 'pg_warden demo env key 0001', 'sha256'), 'hex') AS equals_pgcrypto;

-- ---------------------------------------------------------------------------
-- 3. Least privilege: an application role can use keys, not read them.
-- ---------------------------------------------------------------------------
DROP ROLE IF EXISTS demo_app;
CREATE ROLE demo_app LOGIN;
GRANT warden_user TO demo_app;
SET ROLE demo_app;
SELECT length(warden.fingerprint('x')) AS app_can_fingerprint;
\set ON_ERROR_STOP 0
SELECT secret FROM warden.key_store;          -- permission denied
SELECT warden.rotate_key('default');          -- permission denied (42501)
\set ON_ERROR_STOP 1
RESET ROLE;
