-- Anonymization of single values: privileges and comments.

-- Keyed functions are an oracle for the key: only granted roles may call them.
REVOKE ALL ON FUNCTION warden.anonymize(text, text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.anonymize(text, text, jsonb, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.pseudonymize(bigint, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.pseudonymize(integer, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.anonymize(text, text, bigint, text) TO warden_user;
GRANT EXECUTE ON FUNCTION warden.anonymize(text, text, jsonb, bigint, text) TO warden_user;
GRANT EXECUTE ON FUNCTION warden.pseudonymize(bigint, bigint, text) TO warden_user;
GRANT EXECUTE ON FUNCTION warden.pseudonymize(integer, bigint, text) TO warden_user;

COMMENT ON FUNCTION warden.anonymize(text, text, bigint, text) IS
    'Deterministic pseudonym of a value under a strategy (hash, email, phone, digits, redact, partial) with default options, a seed and the active version of a keyring key.';
COMMENT ON FUNCTION warden.anonymize(text, text, jsonb, bigint, text) IS
    'warden.anonymize with strategy options, e.g. {"domain": "keep"} for email, {"prefix": 0, "suffix": 4} for partial.';
COMMENT ON FUNCTION warden.pseudonymize(bigint, bigint, text) IS
    'Keyed bijection of bigint (FF1 over 63 bits) keeping the sign: distinct ids stay distinct.';
COMMENT ON FUNCTION warden.pseudonymize(integer, bigint, text) IS
    'Keyed bijection of integer keeping the sign: distinct ids stay distinct. Not the same mapping as the bigint form.';
