-- Bad input gets a clear error with a proper SQLSTATE, never an internal error, never
-- key material in a message.
BEGIN;
SELECT warden.create_key('regress', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
CREATE TEMP TABLE bad_statement AS SELECT q, n FROM unnest(ARRAY[
    $$SELECT warden.fingerprint('x', 'no_such_key')$$,
    $$SELECT warden.fingerprint('x')$$,
    $$SELECT warden.fingerprint('x', '')$$,
    $$SELECT warden.fingerprint('x', repeat('k', 64))$$,
    $$SELECT warden.fingerprint('x', 'bad name; drop table t')$$,
    $$SELECT warden.fingerprint_matches('x', 'not hex', 'regress')$$,
    $$SELECT warden.fingerprint_matches('x', repeat('a', 63), 'regress')$$,
    $$SELECT warden.fingerprint_matches('x', repeat('g', 64), 'regress')$$,
    $$SELECT warden.fingerprint_matches('x', repeat('a', 100000), 'regress')$$,
    $$SELECT warden.create_key('regress')$$,
    $$SELECT warden.create_key('short', '\x0102')$$,
    $$SELECT warden.create_key('huge', decode(repeat('ab', 1025), 'hex'))$$,
    $$SELECT warden.create_key(repeat('n', 64))$$,
    $$SELECT warden.rotate_key('no_such_key')$$,
    $$SELECT warden.create_key_from_env('e', 'PATH')$$,
    $$SELECT warden.create_key_from_env('e', 'WARDEN_not_upper')$$,
    $$SELECT warden.create_key_from_env('e', 'WARDEN_SURELY_UNSET')$$,
    $$SELECT warden.fingerprint_secrets((repeat('[', 128) || repeat(']', 128))::jsonb, 'regress')$$,
    $$SELECT warden.fingerprint_secrets((repeat('{"a":', 5000) || '1' || repeat('}', 5000))::jsonb, 'regress')$$
]) WITH ORDINALITY AS t(q, n);
SELECT q, outcome(q) FROM bad_statement ORDER BY n;
-- The deepest document accepted is 127 levels.
SELECT jsonb_typeof(warden.fingerprint_secrets((repeat('[', 127) || repeat(']', 127))::jsonb, 'regress')) AS deepest_ok;
-- A 64 MB value fingerprints like any other.
SELECT length(warden.fingerprint(repeat('x', 64 * 1024 * 1024), 'regress')) AS big_value_fingerprint_length;
-- Hundreds of MB: a 300 MB text fingerprints and anonymizes; a 100 MB secret inside a
-- document is fingerprinted; a 100 MB ledger entry is chained and verifies.
SELECT length(warden.fingerprint(repeat('x', 300 * 1024 * 1024), 'regress')) AS fingerprint_300mb;
SELECT length(warden.anonymize(repeat('y', 300 * 1024 * 1024), 'hash', key_name => 'regress')) > 0 AS anonymize_300mb;
SELECT length(warden.fingerprint_secrets(jsonb_build_object('password', repeat('z', 100 * 1024 * 1024)), 'regress')::text) < 200
       AS secret_100mb_fingerprinted;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f') AS audit_key;
SELECT warden.log_event('big', 'NOTE', details => jsonb_build_object('blob', repeat('b', 100 * 1024 * 1024))) > 0 AS logged_100mb;
SELECT valid, total_entries FROM warden.verify_audit();
-- No error above, nor one about a key created with the secret of 'regress', carries key
-- material (that secret or the oversized one, in hex) in its message, DETAIL, HINT or
-- CONTEXT. CONTEXT quotes the failing statement itself, which is left out.
CREATE FUNCTION pg_temp.error_report(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    message text;
    detail text;
    hint text;
    context text;
BEGIN
    EXECUTE query;
    RETURN NULL;
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                            hint = PG_EXCEPTION_HINT, context = PG_EXCEPTION_CONTEXT;
    RETURN concat_ws(E'\n', SQLSTATE, message, detail, hint, replace(context, query, ''));
END
$$;
INSERT INTO bad_statement
VALUES ($$SELECT warden.create_key('regress', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')$$, 0);
SELECT count(report) AS errors_read,
       count(*) FILTER (WHERE report ILIKE '%000102030405%' OR report ILIKE '%abababab%') > 0 AS message_leaks_secret
  FROM (SELECT pg_temp.error_report(q) AS report FROM bad_statement) AS r;
ROLLBACK;
