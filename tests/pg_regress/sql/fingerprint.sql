-- HMAC-SHA256 fingerprints under a pinned key.
BEGIN;
SELECT warden.create_key('regress', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');

-- RFC 4231 test case 2 and 3.
SELECT encode(warden.hmac_sha256('what do ya want for nothing?', 'Jefe'), 'hex') AS rfc4231_case2;
SELECT encode(warden.hmac_sha256(decode(repeat('dd', 50), 'hex'), decode(repeat('aa', 20), 'hex')), 'hex') AS rfc4231_case3;

-- Same bytes as pgcrypto under the same key, for text and bytea, short and long values.
SELECT length(v) AS len, warden.fingerprint(v, 'regress') = encode(hmac(v::bytea, '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea, 'sha256'), 'hex') AS text_matches_pgcrypto
  FROM (VALUES (''), ('a'), ('hunter2'), ('ünïcødé'), (repeat('x', 100000))) AS t(v)
 ORDER BY length(v);
SELECT warden.fingerprint('\xdeadbeef'::bytea, 'regress') = encode(hmac('\xdeadbeef'::bytea, '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea, 'sha256'), 'hex') AS bytea_matches_pgcrypto;
SELECT warden.fingerprint('hunter2', 'regress');
SELECT warden.fingerprint(NULL::text, 'regress') IS NULL AS strict;

-- Rotation: new fingerprints use version 2, version 1 fingerprints still match.
CREATE TEMP TABLE before_rotation AS SELECT warden.fingerprint('hunter2', 'regress') AS fp;
SELECT warden.rotate_key('regress', '\xffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100');
SELECT name, version, active, check_value, source FROM warden.keys WHERE name = 'regress' ORDER BY version;
SELECT warden.fingerprint('hunter2', 'regress') <> fp AS new_version_used,
       warden.fingerprint_matches('hunter2', fp, 'regress') AS old_still_matches,
       warden.fingerprint_matches('hunter2', warden.fingerprint('hunter2', 'regress'), 'regress') AS new_matches,
       warden.fingerprint_matches('hunter3', fp, 'regress') AS wrong_value,
       warden.fingerprint_matches('hunter2', upper(fp), 'regress') AS uppercase_accepted
  FROM before_rotation;

-- JSON secret walker: nested objects and arrays, non-string secrets, name clashes.
SELECT jsonb_pretty(warden.fingerprint_secrets($${
  "user": "ann",
  "password": "hunter2",
  "Stripe_Secret": "sk_live_1",
  "pin_key": 1234,
  "refresh_token": null,
  "api_key_fingerprint": "forged",
  "api_key": "k-1",
  "nested": {"integrations": [{"name": "s3", "aws_access_key": "AKIA"}, ["x", {"credential": {"user": "u", "pw": "p"}}]]},
  "keys": ["not", "a", "secret"]
}$$::jsonb, 'regress'));
SELECT warden.fingerprint_secrets('{"password": "hunter2"}', 'regress')->>'password_fingerprint'
       = warden.fingerprint('hunter2', 'regress') AS walker_matches_fingerprint;
SELECT warden.fingerprint_secrets('[1, "token", {"token": "t"}]', 'regress') ? 'token' AS top_level_array_untouched;

-- A parallel plan returns exactly what a serial one does. (A regular table: parallel
-- workers cannot read temporary tables.)
CREATE TABLE many AS SELECT 'user' || g || '@example.com' AS v FROM generate_series(1, 20000) g;
ANALYZE many;
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT sum(('x' || substr(warden.fingerprint(v, 'regress'), 1, 8))::bit(32)::int::bigint) AS serial_sum,
       count(*) FILTER (WHERE warden.fingerprint(v, 'regress') LIKE 'a%') AS serial_count
  FROM many \gset
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
-- The fingerprints are computed by the workers, under the Partial Aggregate.
EXPLAIN (COSTS OFF, VERBOSE)
SELECT sum(('x' || substr(warden.fingerprint(v, 'regress'), 1, 8))::bit(32)::int::bigint),
       count(*) FILTER (WHERE warden.fingerprint(v, 'regress') LIKE 'a%')
  FROM many;
SELECT sum(('x' || substr(warden.fingerprint(v, 'regress'), 1, 8))::bit(32)::int::bigint) = :serial_sum AS parallel_sum_equals_serial,
       count(*) FILTER (WHERE warden.fingerprint(v, 'regress') LIKE 'a%') = :serial_count AS parallel_count_equals_serial
  FROM many;
ROLLBACK;
