-- Keyring: privileges, cache invalidation trigger and comments.

CREATE FUNCTION warden.key_store_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'key_store_changed_wrapper';
CREATE TRIGGER key_store_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON warden.key_store
    FOR EACH STATEMENT EXECUTE FUNCTION warden.key_store_changed();
ALTER TABLE warden.key_store ENABLE ALWAYS TRIGGER key_store_changed;

REVOKE ALL ON FUNCTION warden.create_key(text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.rotate_key(text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.create_key_from_env(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.rotate_key_from_env(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.key_store_changed() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.create_key(text, bytea) TO warden_admin;
GRANT EXECUTE ON FUNCTION warden.rotate_key(text, bytea) TO warden_admin;
GRANT EXECUTE ON FUNCTION warden.create_key_from_env(text, text) TO warden_admin;
GRANT EXECUTE ON FUNCTION warden.rotate_key_from_env(text, text) TO warden_admin;

COMMENT ON FUNCTION warden.create_key(text, bytea) IS
    'Creates version 1 of a named HMAC key and returns 1. NULL secret: 32 random bytes. Superusers and warden_admin only; only superusers may give the audit key (warden.audit_key) a secret.';
COMMENT ON FUNCTION warden.rotate_key(text, bytea) IS
    'Adds a new active version of a key and returns its number; older versions keep verifying. Superusers and warden_admin only; only superusers may give the audit key (warden.audit_key) a secret.';
COMMENT ON FUNCTION warden.create_key_from_env(text, text) IS
    'Creates version 1 of a key whose material stays in a WARDEN_* environment variable of the server; only the variable name is stored. Superusers and warden_admin only; superusers only for the audit key.';
COMMENT ON FUNCTION warden.rotate_key_from_env(text, text) IS
    'Adds a new active key version bound to a WARDEN_* environment variable of the server. Superusers and warden_admin only; superusers only for the audit key.';
COMMENT ON FUNCTION warden.key_store_changed() IS
    'Internal: makes every backend reload keys after warden.key_store changes.';

REVOKE ALL ON FUNCTION warden.set_key_policy(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.set_key_policy(text, interval) TO warden_admin;
REVOKE ALL ON FUNCTION warden.rotate_due_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.rotate_due_keys() TO warden_admin;
COMMENT ON FUNCTION warden.set_key_policy(text, interval) IS
    'Sets how often a key should be rotated (NULL removes the policy); warden.keys shows age and rotation_due. Superusers and warden_admin.';
COMMENT ON FUNCTION warden.rotate_due_keys() IS
    'Rotates, with generated material, every key whose policy says rotation is due and returns how many (keys bound to environment variables are named in a NOTICE instead). Schedule it with pg_cron. Superusers and warden_admin.';
