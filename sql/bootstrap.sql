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
-- pg_warden's functions read it on the caller's behalf. Not marked as a configuration
-- table, so pg_dump never writes key material (see docs/security.md).
CREATE TABLE warden.key_store (
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version > 0),
    secret      bytea,
    env_var     text,
    check_value text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by  name        NOT NULL DEFAULT session_user,
    PRIMARY KEY (name, version),
    CHECK ((secret IS NULL) <> (env_var IS NULL))
);
REVOKE ALL ON warden.key_store FROM PUBLIC;
COMMENT ON TABLE warden.key_store IS
    'pg_warden key material; readable only by its owner. Use warden.keys to list keys.';

-- A check value tests guesses of a low-entropy secret offline, so only those who may
-- manage keys see it: superusers and members of warden_admin (pg_has_role is true for
-- superusers). Everyone else reads NULL in that column; the columns stay the same for all.
CREATE VIEW warden.keys AS
SELECT name,
       version,
       version = pg_catalog.max(version) OVER (PARTITION BY name) AS active,
       created_at,
       CASE WHEN pg_catalog.pg_has_role('warden_admin', 'USAGE') THEN check_value END AS check_value,
       CASE WHEN env_var IS NULL THEN 'stored' ELSE 'env:' || env_var END AS source
  FROM warden.key_store;
GRANT SELECT ON warden.keys TO PUBLIC;
COMMENT ON VIEW warden.keys IS
    'Keys and versions; never key material. check_value (first 4 bytes of HMAC(key, ''check'')) is shown to superusers and warden_admin only, NULL for everyone else.';
