-- Vault: secrets encrypted under a master key that lives only in the server's
-- environment (WARDEN_MASTER_KEY or WARDEN_MASTER_PASSPHRASE). The tables hold
-- ciphertexts and wrapped data keys, never a value; only their owner (the extension's
-- owner) can read them, and pg_warden's functions read them on the caller's behalf.
-- The envelope, the associated data and the key derivation are specified in
-- core/src/vault.rs. pg_dump writes the tables (ciphertexts only): a restore onto a
-- server started with the same master key reads every secret again.

-- One row once the vault is first used: which master key the data keys are wrapped
-- under, as a check value (HMAC under a key derived from it), and, for a passphrase,
-- the Argon2id parameters and salt.
CREATE TABLE warden.vault_state (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    check_value  bytea       NOT NULL,
    kdf          text,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    rewrapped_at timestamptz
);
REVOKE ALL ON warden.vault_state FROM PUBLIC;
COMMENT ON TABLE warden.vault_state IS
    'The vault''s master key check value and, for a passphrase, its Argon2id parameters and salt; no key material.';
COMMENT ON COLUMN warden.vault_state.check_value IS
    'HMAC-SHA256 under a key derived from the master key: tells a wrong master key from a tampered ciphertext.';
COMMENT ON COLUMN warden.vault_state.kdf IS
    'Argon2id parameters and salt (argon2id$v=19$m=...,t=...,p=...$salt) when the master key is a passphrase; NULL for a raw key.';

CREATE TABLE warden.secret (
    secret_ref     uuid        PRIMARY KEY,
    tenant         text        CHECK (tenant <> ''),
    name           text        NOT NULL CHECK (name <> ''),
    description    text,
    metadata       jsonb,
    wrapped_key    bytea       NOT NULL,
    active_version integer     NOT NULL CHECK (active_version > 0),
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by     name        NOT NULL DEFAULT session_user,
    rotated_at     timestamptz
);
-- (tenant, name) is unique, NULL tenant included ('' is refused, so it cannot collide).
CREATE UNIQUE INDEX secret_tenant_name ON warden.secret (COALESCE(tenant, ''), name);
REVOKE ALL ON warden.secret FROM PUBLIC;
COMMENT ON TABLE warden.secret IS
    'Vault secrets: reference, tenant, name and the data key wrapped under the master key. Use warden.secrets to list them.';
COMMENT ON COLUMN warden.secret.wrapped_key IS
    'The secret''s data key, XChaCha20-Poly1305 under the key-encryption key derived from the master key, bound to reference, tenant and name.';

CREATE TABLE warden.secret_version (
    secret_ref uuid        NOT NULL REFERENCES warden.secret (secret_ref),
    version    integer     NOT NULL CHECK (version > 0),
    ciphertext bytea       NOT NULL,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by name        NOT NULL DEFAULT session_user,
    PRIMARY KEY (secret_ref, version)
);
REVOKE ALL ON warden.secret_version FROM PUBLIC;
COMMENT ON TABLE warden.secret_version IS
    'Each version of each secret, encrypted under the secret''s data key and bound to its reference, tenant, name and version.';

-- Who may read a secret, by role name: grants survive pg_dump and restore onto another
-- cluster (role oids do not). Revoke before dropping a role.
CREATE TABLE warden.secret_grant (
    secret_ref uuid        NOT NULL REFERENCES warden.secret (secret_ref),
    grantee    name        NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    granted_by name        NOT NULL DEFAULT session_user,
    PRIMARY KEY (secret_ref, grantee)
);
REVOKE ALL ON warden.secret_grant FROM PUBLIC;
COMMENT ON TABLE warden.secret_grant IS
    'Roles that may read a secret with warden.get_secret, by name. Nobody else may, superusers included.';

-- Ciphertexts only: backups keep the vault, readable again under the same master key.
SELECT pg_catalog.pg_extension_config_dump('warden.vault_state', '');
SELECT pg_catalog.pg_extension_config_dump('warden.secret', '');
SELECT pg_catalog.pg_extension_config_dump('warden.secret_version', '');
SELECT pg_catalog.pg_extension_config_dump('warden.secret_grant', '');
-- Key versions that hold no plaintext (sealed, or bound to an environment variable) go
-- into dumps too, so a restore onto a server with the same master key is complete. A
-- plaintext key (no master key yet) is never dumped.
SELECT pg_catalog.pg_extension_config_dump('warden.key_store', 'WHERE secret IS NULL');

-- Secrets without values: reference, names, versions, times and readers.
CREATE VIEW warden.secrets AS
SELECT s.secret_ref,
       s.tenant,
       s.name,
       s.active_version,
       s.created_at,
       s.rotated_at,
       v.expires_at,
       s.metadata,
       s.description,
       ARRAY(SELECT g.grantee FROM warden.secret_grant g
              WHERE g.secret_ref OPERATOR(pg_catalog.=) s.secret_ref ORDER BY g.grantee) AS readers
  FROM warden.secret s
  JOIN warden.secret_version v
    ON v.secret_ref OPERATOR(pg_catalog.=) s.secret_ref
   AND v.version OPERATOR(pg_catalog.=) s.active_version;
REVOKE ALL ON warden.secrets FROM PUBLIC;
GRANT SELECT ON warden.secrets TO warden_secret_admin;
COMMENT ON VIEW warden.secrets IS
    'Every secret: reference, tenant, name, active version, created/rotated/expires times, metadata, description and readers. Never values or ciphertexts. Superusers and warden_secret_admin.';

-- SECURITY DEFINER: older versions' expiry is in warden.secret_version, which only the
-- owner reads; the function shows no more than warden.secrets does (no value, no
-- ciphertext), and EXECUTE gates it as SELECT gates the view. Every name is qualified
-- and nothing of the caller's is resolved (explicit OPERATOR()s all bind alike, hence
-- the parentheses).
CREATE FUNCTION warden.expiring_secrets(within interval)
RETURNS TABLE (secret_ref uuid, tenant text, name text, version integer, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT v.secret_ref, s.tenant, s.name, v.version, v.expires_at
      FROM warden.secrets s
      JOIN warden.secret_version v ON v.secret_ref OPERATOR(pg_catalog.=) s.secret_ref
     WHERE v.expires_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.+) within)
     ORDER BY v.expires_at, s.tenant NULLS FIRST, s.name, v.version
$$;
REVOKE ALL ON FUNCTION warden.expiring_secrets(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.expiring_secrets(interval) TO warden_secret_admin;
COMMENT ON FUNCTION warden.expiring_secrets(interval) IS
    'Secret versions (older ones included) that have expired or expire within the interval, soonest first. Superusers and warden_secret_admin (EXECUTE).';


-- Managing secrets: superusers and warden_secret_admin (checked inside as well).
REVOKE ALL ON FUNCTION warden.create_secret(text, text, text, timestamptz, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.create_secret(text, bytea, text, timestamptz, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.rotate_secret(uuid, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.rotate_secret(uuid, bytea, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.retire_secret_version(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.delete_secret(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.grant_secret(uuid, regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.revoke_secret(uuid, regrole) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.create_secret(text, text, text, timestamptz, jsonb, text) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.create_secret(text, bytea, text, timestamptz, jsonb, text) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.rotate_secret(uuid, text, timestamptz) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.rotate_secret(uuid, bytea, timestamptz) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.retire_secret_version(uuid, integer) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.delete_secret(uuid) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.grant_secret(uuid, regrole) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.revoke_secret(uuid, regrole) TO warden_secret_admin;

-- Reading: warden_user, and then only secrets granted to the caller (checked inside;
-- every read, granted or refused, goes to the ledger).
REVOKE ALL ON FUNCTION warden.get_secret(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.get_secret(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.get_secret_bytes(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.get_secret(uuid, integer) TO warden_user, warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.get_secret(text, text) TO warden_user, warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.get_secret_bytes(uuid, integer) TO warden_user, warden_secret_admin;

-- The master key: superusers and warden_admin.
REVOKE ALL ON FUNCTION warden.rewrap_vault() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.rewrap_vault() TO warden_admin;
REVOKE ALL ON FUNCTION warden.vault_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.vault_status() TO warden_admin, warden_secret_admin;

COMMENT ON FUNCTION warden.create_secret(text, text, text, timestamptz, jsonb, text) IS
    'Stores a secret (version 1) encrypted under the master key and returns its secret_ref. (tenant, name) is unique. Superusers and warden_secret_admin; nobody may read it until warden.grant_secret.';
COMMENT ON FUNCTION warden.create_secret(text, bytea, text, timestamptz, jsonb, text) IS
    'Stores a binary secret (version 1) encrypted under the master key and returns its secret_ref; read it with warden.get_secret_bytes.';
COMMENT ON FUNCTION warden.rotate_secret(uuid, text, timestamptz) IS
    'Adds a new active version of a secret and returns its number; older versions stay readable by number until retired.';
COMMENT ON FUNCTION warden.rotate_secret(uuid, bytea, timestamptz) IS
    'Adds a new active binary version of a secret and returns its number.';
COMMENT ON FUNCTION warden.retire_secret_version(uuid, integer) IS
    'Destroys one older version of a secret; the active version cannot be retired (rotate first, or delete the secret).';
COMMENT ON FUNCTION warden.delete_secret(uuid) IS
    'Destroys a secret: every version, its grants and its data key.';
COMMENT ON FUNCTION warden.grant_secret(uuid, regrole) IS
    'Lets a role (and the roles that have its privileges) read one secret with warden.get_secret.';
COMMENT ON FUNCTION warden.revoke_secret(uuid, regrole) IS
    'Takes back a role''s read access to one secret.';
COMMENT ON FUNCTION warden.get_secret(uuid, integer) IS
    'The active (or given) version of a secret, decrypted, for a role it is granted to. Every read, granted or refused, is recorded in the audit ledger; refused in read-only transactions and on standbys, where it could not be.';
COMMENT ON FUNCTION warden.get_secret(text, text) IS
    'The active version of the secret named name (in tenant, NULL for none), decrypted, for a role it is granted to; recorded in the audit ledger like get_secret(uuid).';
COMMENT ON FUNCTION warden.get_secret_bytes(uuid, integer) IS
    'The active (or given) version of a secret as bytea (for binary secrets); granted and recorded like get_secret.';
COMMENT ON FUNCTION warden.rewrap_vault() IS
    'Rewraps every data key under the master key in WARDEN_MASTER_KEY (after a change, the old one in WARDEN_MASTER_KEY_PREVIOUS) and seals plaintext keyring keys; atomic and idempotent; returns what it did. Superusers and warden_admin.';
COMMENT ON FUNCTION warden.vault_status() IS
    'Whether a master key is configured and matches the vault, how many secrets and keyring keys are sealed and how many keys are still stored in plaintext.';
