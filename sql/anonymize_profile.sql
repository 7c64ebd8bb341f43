-- Anonymization profiles: privileges and comments (the functions are declared from
-- their Rust signatures).

-- validate_profile stays callable by everyone: it uses no key material and tells only
-- what pg_catalog and warden.keys already show (which tables, columns, types and key
-- names exist).
REVOKE ALL ON FUNCTION warden.apply_profile(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.apply_profile(jsonb) TO warden_admin;

COMMENT ON FUNCTION warden.validate_profile(jsonb) IS
    'Every problem of an anonymization profile, as (JSON path, problem): structure, then tables, columns, types, foreign keys and the key against the database. No rows: valid.';
COMMENT ON FUNCTION warden.apply_profile(jsonb) IS
    'Masks every column a valid profile names, in one transaction, rewriting each table once (same oid, indexes, constraints, grants and views); verifies foreign keys and CHECK constraints and records the run in the audit ledger. Superusers and warden_admin only.';
