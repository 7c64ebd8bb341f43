-- A key bound to an environment variable of the server (WARDEN_DEMO_KEY, set by
-- scripts/cluster.sh to the public test value 'pg_warden demo env key 0001').
BEGIN;
SELECT warden.create_key_from_env('regress_env', 'WARDEN_DEMO_KEY');
SELECT name, version, active, source FROM warden.keys WHERE name = 'regress_env';
SELECT secret IS NULL AS no_material_stored, env_var FROM warden.key_store WHERE name = 'regress_env';
SELECT warden.fingerprint('hunter2', 'regress_env')
       = encode(warden.hmac_sha256('hunter2', 'pg_warden demo env key 0001'), 'hex') AS uses_env_material;
-- Rotation to a stored secret; the env-bound version still verifies.
SELECT warden.fingerprint('hunter2', 'regress_env') AS env_fp \gset
SELECT warden.rotate_key('regress_env', '\x101112131415161718191a1b1c1d1e1f');
SELECT warden.fingerprint_matches('hunter2', :'env_fp', 'regress_env') AS env_version_still_matches;
SELECT warden.rotate_key_from_env('regress_env', 'WARDEN_DEMO_KEY') AS back_to_env;
SELECT name, version, active, source FROM warden.keys WHERE name = 'regress_env' ORDER BY version;
ROLLBACK;
