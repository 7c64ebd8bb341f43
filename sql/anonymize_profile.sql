-- Anonymization profiles: the profile store, privileges and comments (the functions are
-- declared from their Rust signatures).

-- validate_profile stays callable by everyone: it uses no key material and tells only
-- what pg_catalog and warden.keys already show (which tables, columns, types and key
-- names exist).
REVOKE ALL ON FUNCTION warden.apply_profile(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.apply_profile(jsonb) TO warden_admin;

COMMENT ON FUNCTION warden.validate_profile(jsonb) IS
    'Every problem of an anonymization profile, as (JSON path, problem): structure, then tables, columns, types, foreign keys and the key against the database. No rows: valid.';
COMMENT ON FUNCTION warden.apply_profile(jsonb) IS
    'Masks every column a valid profile names, in one transaction, rewriting each table once (same oid, indexes, constraints, grants and views); verifies foreign keys and CHECK constraints and records the run in the audit ledger. Superusers and warden_admin only.';

-- Stored profiles (src/profile/store.rs): every version of every profile saved with
-- warden.save_profile, by the profile's name. Only pg_warden's functions write it, as
-- its owner; key officers read it. The profiles are configuration: pg_dump carries them.
CREATE TABLE warden.profile_store (
    name     text        NOT NULL CHECK (name <> ''),
    version  integer     NOT NULL CHECK (version > 0),
    sha256   text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    document jsonb       NOT NULL,
    saved_by name        NOT NULL DEFAULT session_user,
    saved_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (name, version)
);
REVOKE ALL ON warden.profile_store FROM PUBLIC;
-- Key officers read the profiles (pg_dump, as warden_admin, dumps them).
GRANT SELECT ON warden.profile_store TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.profile_store', '');
COMMENT ON TABLE warden.profile_store IS
    'Every version of every stored anonymization profile (warden.save_profile); written only by pg_warden''s functions. Use warden.profiles to list them.';
COMMENT ON COLUMN warden.profile_store.sha256 IS
    'SHA-256 of the profile''s canonical form, 64 lowercase hex digits: the hash apply_profile records in the ledger.';
COMMENT ON COLUMN warden.profile_store.document IS
    'The profile document as saved.';

CREATE VIEW warden.profiles AS
SELECT name,
       version,
       sha256,
       saved_by,
       saved_at,
       version OPERATOR(pg_catalog.=) pg_catalog.max(version) OVER (PARTITION BY name) AS latest,
       document
  FROM warden.profile_store;
REVOKE ALL ON warden.profiles FROM PUBLIC;
GRANT SELECT ON warden.profiles TO warden_admin;
COMMENT ON VIEW warden.profiles IS
    'Stored anonymization profiles, one row a version: name, version (1, 2, ... per name), SHA-256 of the canonical form, who saved it and when, whether it is the latest (what apply_profile(name) applies), and the document. Superusers and warden_admin.';

REVOKE ALL ON FUNCTION warden.save_profile(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.save_profile(jsonb) TO warden_admin;
REVOKE ALL ON FUNCTION warden.drop_profile(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.drop_profile(text) TO warden_admin;
REVOKE ALL ON FUNCTION warden.apply_profile(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.apply_profile(text) TO warden_admin;

COMMENT ON FUNCTION warden.save_profile(jsonb) IS
    'Validates an anonymization profile as validate_profile does (22023 with every problem) and stores it under its name as the next version; the latest version of that name with the same SHA-256 is kept instead (nothing saved). Returns the name. Recorded in the audit ledger. Superusers and warden_admin only.';
COMMENT ON FUNCTION warden.drop_profile(text) IS
    'Removes every version of a stored anonymization profile and returns how many (42704 if there is none). Recorded in the audit ledger. Superusers and warden_admin only.';
COMMENT ON FUNCTION warden.apply_profile(text) IS
    'Applies the latest version of a stored profile, as apply_profile(jsonb) applies a document, and records its name, version and SHA-256 in the ledger entry. Text starting with { is a profile document instead (an untyped literal resolves to this form). Superusers and warden_admin only.';
