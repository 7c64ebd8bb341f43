-- pg_warden bootstrap: roles, schema privileges and the key store.
-- Runs before any function is created.

-- Roles are cluster-wide and outlive the extension; create them only once.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'warden_admin') THEN
        CREATE ROLE warden_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'warden_user') THEN
        CREATE ROLE warden_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'warden_secret_admin') THEN
        CREATE ROLE warden_secret_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('warden_admin', 'warden_user', 'MEMBER') THEN
        GRANT warden_user TO warden_admin;
    END IF;
END
$$;

-- Everyone may look up objects in the schema; nobody but its owner may create any.
GRANT USAGE ON SCHEMA warden TO PUBLIC;
REVOKE CREATE ON SCHEMA warden FROM PUBLIC;
COMMENT ON SCHEMA warden IS
    'pg_warden: keyring, keyed fingerprints, deterministic anonymization and the tamper-evident audit ledger.';

-- Key material. Only the owner (the superuser who ran CREATE EXTENSION) can read it;
-- pg_warden's functions read it on the caller's behalf. sql/vault.sql marks it as a
-- configuration table for the rows without plaintext (sealed, or bound to a variable),
-- so pg_dump writes those and never plaintext key material (see docs/security.md).
CREATE TABLE warden.key_store (
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version > 0),
    secret      bytea,
    env_var     text,
    check_value text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by  name        NOT NULL DEFAULT session_user,
    wrapped_key bytea,
    sealed      bytea,
    PRIMARY KEY (name, version),
    CONSTRAINT key_store_check CHECK (pg_catalog.num_nonnulls(secret, env_var, sealed) = 1),
    CONSTRAINT key_store_sealed_check CHECK ((wrapped_key IS NULL) = (sealed IS NULL))
);
REVOKE ALL ON warden.key_store FROM PUBLIC;
-- ANALYZE copies column values into pg_statistic, where sealing the keyring cannot reach
-- them: the column that holds plaintext material is never analyzed.
ALTER TABLE warden.key_store ALTER COLUMN secret SET STATISTICS 0;
COMMENT ON TABLE warden.key_store IS
    'pg_warden key material; readable only by its owner. Use warden.keys to list keys.';
COMMENT ON COLUMN warden.key_store.secret IS
    'Key material in plaintext: only while no vault master key is configured; warden.rewrap_vault() seals it.';
COMMENT ON COLUMN warden.key_store.sealed IS
    'Key material encrypted under wrapped_key (XChaCha20-Poly1305, bound to name and version).';
COMMENT ON COLUMN warden.key_store.wrapped_key IS
    'The data key of sealed, wrapped under the key-encryption key derived from the vault master key.';

-- How often each key should be rotated; warden.keys shows whether rotation is due.
CREATE TABLE warden.key_policy (
    name         text        PRIMARY KEY,
    rotate_every interval    NOT NULL CHECK (rotate_every > '0'::interval),
    set_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    set_by       name        NOT NULL DEFAULT session_user
);
REVOKE ALL ON warden.key_policy FROM PUBLIC;
-- Key officers read the policies (pg_dump, as warden_admin, dumps them).
GRANT SELECT ON warden.key_policy TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.key_policy', '');
COMMENT ON TABLE warden.key_policy IS
    'How often each key should be rotated (warden.set_key_policy); warden.keys shows whether rotation is due.';

-- A check value tests guesses of a low-entropy secret offline, so only those who may
-- manage keys see it: superusers and members of warden_admin (pg_has_role is true for
-- superusers). Everyone else reads NULL in that column; the columns stay the same for all.
CREATE VIEW warden.keys AS
SELECT name,
       version,
       version = pg_catalog.max(version) OVER (PARTITION BY name) AS active,
       created_at,
       CASE WHEN pg_catalog.pg_has_role('warden_admin', 'USAGE') THEN check_value END AS check_value,
       CASE WHEN env_var IS NOT NULL THEN 'env:' || env_var
            WHEN sealed IS NOT NULL THEN 'sealed'
            ELSE 'stored' END AS source,
       pg_catalog.now() OPERATOR(pg_catalog.-) created_at AS age,
       (SELECT p.rotate_every FROM warden.key_policy p WHERE p.name OPERATOR(pg_catalog.=) k.name) AS rotate_every,
       COALESCE(version = pg_catalog.max(version) OVER (PARTITION BY name)
                AND created_at OPERATOR(pg_catalog.+)
                    (SELECT p.rotate_every FROM warden.key_policy p WHERE p.name OPERATOR(pg_catalog.=) k.name)
                    OPERATOR(pg_catalog.<=) pg_catalog.now(), false) AS rotation_due
  FROM warden.key_store k;
GRANT SELECT ON warden.keys TO PUBLIC;
COMMENT ON VIEW warden.keys IS
    'Keys and versions; never key material. source: stored (plaintext, no master key yet), sealed (under the vault master key) or env:VAR. age, rotate_every (warden.set_key_policy) and rotation_due (active version older than rotate_every). check_value (first 4 bytes of HMAC(key, ''check'')) is shown to superusers and warden_admin only, NULL for everyone else.';
