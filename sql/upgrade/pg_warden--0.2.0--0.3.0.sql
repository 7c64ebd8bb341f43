-- pg_warden 0.2.0 -> 0.3.0
-- Brings a 0.2.0 installation to exactly what CREATE EXTENSION pg_warden creates in 0.3.0;
-- tests/multi/t_upgrade.sh compares the two catalog by catalog.
\echo Use "ALTER EXTENSION pg_warden UPDATE" to load this file. \quit

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
