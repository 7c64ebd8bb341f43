-- Fingerprinting: declarations of the hand-written entry points, privileges, comments.

CREATE FUNCTION warden.fingerprint(value text, key_name text DEFAULT 'default')
    RETURNS text
    STABLE STRICT PARALLEL SAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'warden_fingerprint';
CREATE FUNCTION warden.fingerprint(value bytea, key_name text DEFAULT 'default')
    RETURNS text
    STABLE STRICT PARALLEL SAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'warden_fingerprint';


-- Keyed functions are an oracle for the key: only granted roles may call them.
REVOKE ALL ON FUNCTION warden.fingerprint(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.fingerprint(bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.fingerprint_matches(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.fingerprint_matches(bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.fingerprint_secrets(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.fingerprint(text, text) TO warden_user;
GRANT EXECUTE ON FUNCTION warden.fingerprint(bytea, text) TO warden_user;
GRANT EXECUTE ON FUNCTION warden.fingerprint_matches(text, text, text) TO warden_user;
GRANT EXECUTE ON FUNCTION warden.fingerprint_matches(bytea, text, text) TO warden_user;
GRANT EXECUTE ON FUNCTION warden.fingerprint_secrets(jsonb, text) TO warden_user;

COMMENT ON FUNCTION warden.hmac_sha256(bytea, bytea) IS
    'HMAC-SHA256(data, key) per RFC 2104; same bytes as pgcrypto hmac(data, key, ''sha256'').';
COMMENT ON FUNCTION warden.fingerprint(text, text) IS
    'HMAC-SHA256 of the value under the active version of a keyring key, as 64 lowercase hex digits.';
COMMENT ON FUNCTION warden.fingerprint(bytea, text) IS
    'HMAC-SHA256 of the bytes under the active version of a keyring key, as 64 lowercase hex digits.';
COMMENT ON FUNCTION warden.fingerprint_matches(text, text, text) IS
    'True if any version of the key fingerprints the value to the given fingerprint (constant-time comparison).';
COMMENT ON FUNCTION warden.fingerprint_matches(bytea, text, text) IS
    'True if any version of the key fingerprints the bytes to the given fingerprint (constant-time comparison).';
COMMENT ON FUNCTION warden.fingerprint_secrets(jsonb, text) IS
    'Replaces every secret-named field (api_key, token, password, secret, credential, *_secret, *_key, *_token) at any depth by <name>_fingerprint.';
