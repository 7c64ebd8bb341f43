-- Deterministic anonymization of single values under pinned keys.
BEGIN;
SELECT warden.create_key('default', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('other', '\xffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100');

-- The format of every strategy, default options. tests/multi/t_anonymize_sessions.sh
-- recomputes some of these in fresh sessions.
SELECT s AS strategy, v AS input, warden.anonymize(v, s) AS output
  FROM unnest(ARRAY['hash', 'email', 'redact', 'partial']) WITH ORDINALITY AS s(s, n),
       (VALUES ('alice@example.org'), ('Alice@Example.ORG'), (''), ('ünïcødé'), ('no at sign')) AS t(v)
 ORDER BY n, v;
SELECT v AS input, warden.anonymize(v, 'phone') AS phone
  FROM (VALUES ('+1 (555) 010-9999'), ('15550109999'), ('555-0100'), ('07700 900123'), ('')) AS t(v) ORDER BY v;
SELECT v AS input, warden.anonymize(v, 'digits') AS digits
  FROM (VALUES ('0042'), ('4111111111111111'), ('7'), ('000000'), ('')) AS t(v) ORDER BY v;
-- phone and digits share one permutation: a number written two ways stays joinable.
SELECT regexp_replace(warden.anonymize('+1 (555) 010-9999', 'phone'), '[^0-9]', '', 'g')
       = warden.anonymize('15550109999', 'digits') AS phone_digits_agree;
SELECT length(warden.anonymize(repeat('x', 100000), 'hash')) AS hash_len_of_long_input;

-- Options.
SELECT warden.anonymize('Alice@Corp.Example.ORG', 'email', '{"domain": "keep"}'::jsonb) AS keep_domain,
       warden.anonymize('alice', 'email', '{"domain": "keep"}'::jsonb) AS keep_without_domain,
       warden.anonymize('alice@corp.example', 'email', '{"domain": "test.invalid"}'::jsonb) AS other_domain;
SELECT warden.anonymize('Alice@example.org', 'email') = warden.anonymize('alice@EXAMPLE.org', 'email') AS case_insensitive,
       warden.anonymize('Alice@example.org', 'email', '{"case_sensitive": true}'::jsonb)
         <> warden.anonymize('alice@example.org', 'email', '{"case_sensitive": true}'::jsonb) AS case_sensitive,
       warden.anonymize('alice@x.org', 'email', '{}'::jsonb) = warden.anonymize('alice@x.org', 'email') AS empty_options_are_defaults;
SELECT warden.anonymize('4111111111111111', 'partial') AS last4,
       warden.anonymize('4111111111111111', 'partial', '{"prefix": 6, "suffix": 4, "mask_char": "#"}'::jsonb) AS bin_and_last4,
       warden.anonymize('abc', 'partial', '{"prefix": 2, "suffix": 2}'::jsonb) AS all_masked_when_short,
       warden.anonymize('secret', 'redact', '{"keep_length": true, "mask_char": "x"}'::jsonb) AS redact_keep_length;
-- Seed and key arguments, positional and named.
SELECT warden.anonymize('alice', 'hash', 0, 'default') = warden.anonymize('alice', 'hash') AS defaults,
       warden.anonymize('alice', 'email', '{}'::jsonb, 5, 'other')
         = warden.anonymize('alice', 'email', key_name => 'other', seed => 5) AS named_arguments;

-- Determinism, seed separation, key separation, for every strategy that depends on them.
SELECT s AS strategy,
       warden.anonymize(v, s, 1) = warden.anonymize(v, s, 1) AS deterministic,
       warden.anonymize(v, s, 1) <> warden.anonymize(v, s, 2) AS seeds_differ,
       warden.anonymize(v, s, 1) <> warden.anonymize(v, s, 1, 'other') AS keys_differ
  FROM (VALUES ('hash', 'alice@example.org'), ('email', 'alice@example.org'),
               ('phone', '+1 (555) 010-9999'), ('digits', '4111111111111111')) AS t(s, v)
 ORDER BY s;
SELECT warden.anonymize('secret', 'redact', 1) = warden.anonymize('secret', 'redact', 2, 'other') AS masks_ignore_seed_and_key;
-- hash is keyed: not the plain fingerprint, and documented as
-- HMAC(HMAC(key, 'pg_warden/anonymize/v1/hash' || seed as int8), value), first 32 hex digits.
SELECT warden.anonymize('alice', 'hash', 7) = left(encode(warden.hmac_sha256('alice', warden.hmac_sha256(
         'pg_warden/anonymize/v1/hash'::bytea || int8send(7),
         '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')), 'hex'), 32) AS documented_derivation,
       left(warden.fingerprint('alice'), 32) <> warden.anonymize('alice', 'hash') AS not_the_fingerprint;

-- Bijective on a small domain: all 10,000 four-digit strings give 10,000 distinct
-- four-digit strings, and the same holds for phone over a formatted domain. (One million
-- sampled values of every length give no collision either: core/src/anonymize tests.)
SELECT count(DISTINCT o) AS distinct_outputs, bool_and(o ~ '^[0-9]{4}$') AS all_four_digits
  FROM (SELECT warden.anonymize(lpad(g::text, 4, '0'), 'digits') AS o FROM generate_series(0, 9999) g) t;
SELECT count(DISTINCT o) AS distinct_outputs, bool_and(o ~ '^\+[0-9] [0-9]{2}-[0-9]{2}$') AS format_kept
  FROM (SELECT warden.anonymize('+1 ' || substr(lpad(g::text, 4, '0'), 1, 2) || '-' || substr(lpad(g::text, 4, '0'), 3), 'phone', 3) AS o
          FROM generate_series(0, 9999) g) t;
SELECT count(DISTINCT warden.anonymize('user' || g || '@example.com', 'email')) AS distinct_emails
  FROM generate_series(1, 20000) g;

-- pseudonymize: a keyed bijection keeping the sign; integer and bigint forms.
SELECT warden.pseudonymize(1) AS int_1, warden.pseudonymize(1::bigint) AS bigint_1,
       warden.pseudonymize(-1) AS int_minus_1, warden.pseudonymize(0::bigint, 3) AS bigint_0_seed_3,
       pg_typeof(warden.pseudonymize(1)) AS int_type, pg_typeof(warden.pseudonymize(1::bigint)) AS bigint_type;
SELECT count(DISTINCT warden.pseudonymize(g)) AS distinct_ints,
       bool_and(sign(warden.pseudonymize(g)) = sign(g) OR g = 0) AS signs_kept,
       count(DISTINCT warden.pseudonymize(g::bigint, 9)) AS distinct_bigints
  FROM generate_series(-5000, 5000) g;
SELECT warden.pseudonymize(2147483647) IS NOT NULL AS int_max_ok,
       warden.pseudonymize(-2147483648) < 0 AS int_min_negative,
       warden.pseudonymize(9223372036854775807) > 0 AS bigint_max_positive,
       warden.pseudonymize(1, 0, 'other') <> warden.pseudonymize(1) AS keys_differ;

-- NULL in, NULL out.
SELECT warden.anonymize(NULL, 'email') IS NULL AS null_value, warden.anonymize('x', NULL) IS NULL AS null_strategy,
       warden.anonymize('x', 'email', NULL::jsonb) IS NULL AS null_options, warden.pseudonymize(NULL::bigint) IS NULL AS null_bigint;

-- Errors: a SQLSTATE and a message that never quotes the value.
SELECT q AS call, outcome(q) AS outcome FROM (VALUES
    ($$SELECT warden.anonymize('secret-value', 'md5')$$),
    ($$SELECT warden.anonymize('secret-value', 'Email')$$),
    ($$SELECT warden.anonymize('12a4', 'digits')$$),
    ($$SELECT warden.anonymize('٠١٢٣', 'digits')$$),
    ($$SELECT warden.anonymize('no digits here', 'phone')$$),
    ($$SELECT length(warden.anonymize(repeat('1', 1000), 'digits')) = 1000$$),
    ($$SELECT warden.anonymize(repeat('1', 1001), 'digits')$$),
    ($$SELECT warden.anonymize('x', 'email', '{"domain": "not a domain", "color": 1}'::jsonb)$$),
    ($$SELECT warden.anonymize('x', 'hash', '{"salt": 1}'::jsonb)$$),
    ($$SELECT warden.anonymize('x', 'partial', '[1]'::jsonb)$$),
    ($$SELECT warden.anonymize('x', 'partial', '{"suffix": -1, "mask_char": "ab"}'::jsonb)$$),
    ($$SELECT warden.anonymize('x', 'email', (repeat('[', 200) || repeat(']', 200))::jsonb)$$),
    ($$SELECT warden.anonymize('x', 'email', '{"domain": "keep"}')$$),
    ($$SELECT warden.anonymize('x', 'hash', 0, 'missing')$$),
    ($$SELECT warden.anonymize('x', 'hash', 0, 'bad name!')$$),
    ($$SELECT warden.pseudonymize(1, 0, 'missing')$$)
) AS t(q);

-- A parallel plan returns exactly what a serial one does. (A regular table: parallel
-- workers cannot read temporary tables.)
CREATE TABLE anon_many AS SELECT 'user' || g || '@example.com' AS v, g AS n FROM generate_series(1, 20000) g;
ANALYZE anon_many;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT sum(hashtext(warden.anonymize(v, 'email'))::bigint) AS serial_email,
       sum(hashtext(warden.anonymize(v, 'phone', 4))::bigint) AS serial_phone,
       sum(warden.pseudonymize(n::bigint) % 1000) AS serial_pseudo
  FROM anon_many \gset
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF)
SELECT sum(hashtext(warden.anonymize(v, 'email'))::bigint) FROM anon_many;
SELECT sum(hashtext(warden.anonymize(v, 'email'))::bigint) = :serial_email AS parallel_email_equals_serial,
       sum(hashtext(warden.anonymize(v, 'phone', 4))::bigint) = :serial_phone AS parallel_phone_equals_serial,
       sum(warden.pseudonymize(n::bigint) % 1000) = :serial_pseudo AS parallel_pseudonyms_equal_serial
  FROM anon_many;
RESET max_parallel_workers_per_gather;

-- Privileges: keyed functions are for warden_user only.
SELECT p.oid::regprocedure AS function, p.provolatile AS volatility, p.proisstrict AS strict, p.proparallel AS parallel,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute,
       has_function_privilege('warden_user', p.oid, 'EXECUTE') AS warden_user_may_execute,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p WHERE p.pronamespace = 'warden'::regnamespace AND p.proname IN ('anonymize', 'pseudonymize')
 ORDER BY p.oid::regprocedure::text;
CREATE ROLE anon_nobody;
CREATE ROLE anon_app IN ROLE warden_user;
SET LOCAL ROLE anon_nobody;
SELECT outcome($$SELECT warden.anonymize('x', 'hash')$$) AS nobody_anonymize,
       outcome($$SELECT warden.pseudonymize(1)$$) AS nobody_pseudonymize;
RESET ROLE;
SET LOCAL ROLE anon_app;
SELECT warden.anonymize('alice@example.org', 'email') AS app_sees_same_output;
RESET ROLE;
ROLLBACK;
