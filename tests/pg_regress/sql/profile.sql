-- Anonymization profiles: validation against the database, and masking whole tables.
BEGIN;
SELECT warden.create_key('default', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('audit', '\x101112131415161718191a1b1c1d1e1f101112131415161718191a1b1c1d1e1f');
SET LOCAL client_min_messages = warning;

CREATE SCHEMA shop;
CREATE TABLE shop.users (
    id      integer PRIMARY KEY,
    email   text NOT NULL UNIQUE CHECK (email LIKE '%@%'),
    phone   varchar(20),
    card    char(16),
    name    text,
    score   numeric,
    code    varchar(10) UNIQUE
);
CREATE TABLE shop.accounts (email text, domain text GENERATED ALWAYS AS (split_part(email, '@', 2)) STORED);
-- NOT DEFERRABLE foreign keys onto masked columns, a self-reference among them.
CREATE TABLE shop.orders (
    id         bigint PRIMARY KEY,
    user_email text NOT NULL REFERENCES shop.users (email),
    user_id    integer REFERENCES shop.users (id),
    amount     integer NOT NULL
);
CREATE INDEX orders_user_email ON shop.orders (user_email);
CREATE TABLE shop.referrals (email text PRIMARY KEY, referred_by text REFERENCES shop.referrals (email));
CREATE TABLE shop.parted (id int, email text) PARTITION BY RANGE (id);
CREATE TABLE shop.parted_1 PARTITION OF shop.parted FOR VALUES FROM (0) TO (100);
CREATE TABLE shop.parent (id int, email text);
CREATE TABLE shop.child () INHERITS (shop.parent);
CREATE VIEW shop.order_emails AS SELECT o.id, u.email FROM shop.orders o JOIN shop.users u ON u.email = o.user_email;
CREATE ROLE shop_reader;
GRANT USAGE ON SCHEMA shop TO shop_reader;
GRANT SELECT ON shop.users, shop.order_emails TO shop_reader;
COMMENT ON TABLE shop.users IS 'customers';
INSERT INTO shop.users (id, email, phone, card, name, score, code)
SELECT g, 'user' || g || '@corp.example', '+1 555 ' || lpad(g::text, 4, '0'), lpad((4111111111110000 + g)::text, 16, '0'),
       CASE WHEN g % 10 <> 0 THEN 'Name ' || g END, g, 'C' || g
  FROM generate_series(1, 500) g;
INSERT INTO shop.orders SELECT g, 'user' || (g % 500 + 1) || '@corp.example', g % 500 + 1, g FROM generate_series(1, 2000) g;
INSERT INTO shop.referrals SELECT 'r' || g || '@corp.example', CASE WHEN g > 1 THEN 'r' || (g / 2) || '@corp.example' END
  FROM generate_series(1, 100) g;

-- Structural problems come from the core, every one at its path.
SELECT * FROM warden.validate_profile($${
  "name": "", "version": 0, "owner": "me",
  "strategies": {"bad": {"type": "md5"}, "opts": {"type": "partial", "options": {"prefx": 1}}},
  "tables": {"shop.users": [{"column": "email", "strategy": "undefined"}, {"column": "email", "strategy": "hash"}],
             "users": []}
}$$) ORDER BY path, problem;
SELECT * FROM warden.validate_profile('[]');
SELECT * FROM warden.validate_profile('"profile"');
SELECT outcome($$SELECT * FROM warden.validate_profile((repeat('{"a":', 200) || '1' || repeat('}', 200))::jsonb)$$) AS deep_profile;
SELECT count(*) AS rows_for_null FROM warden.validate_profile(NULL);

-- Database problems: every kind, all at once, alongside a structural one.
SELECT * FROM warden.validate_profile($${
  "name": "everything wrong", "version": 1, "key": "missing_key",
  "strategies": {"short_mask": {"type": "redact"}, "kept": {"type": "email", "options": {"domain": "keep"}}},
  "tables": {
    "shop.users": [
      {"column": "emial", "strategy": "email"},
      {"column": "id", "strategy": "email"},
      {"column": "score", "strategy": "hash"},
      {"column": "phone", "strategy": "kept"},
      {"column": "code", "strategy": "short_mask"},
      {"column": "email", "strategy": "email", "seed": 1}
    ],
    "shop.accounts": [{"column": "email", "strategy": "email"}, {"column": "domain", "strategy": "hash"}],
    "shop.orders": [{"column": "user_email", "strategy": "email"}, {"column": "user_id", "strategy": "digits"}],
    "shop.missing": [],
    "shop.users; drop table shop.users": [{"column": "x", "strategy": "hash"}],
    "shop.order_emails": [],
    "shop.parted": [],
    "shop.parent": [{"column": "email", "strategy": "hash"}],
    "warden.key_store": [{"column": "secret", "strategy": "hash"}],
    "pg_catalog.pg_class": [],
    "Shop.Users": []
  }
}$$) ORDER BY path, problem;
SELECT count(*) AS tables_after_injection_attempt FROM pg_class WHERE relname = 'users' AND relnamespace = 'shop'::regnamespace;
-- Column names are data too: no quoting trick reaches SQL.
SELECT * FROM warden.validate_profile($${"name": "n", "version": 1, "strategies": {},
  "tables": {"shop.orders": [{"column": "amount\" = 0; --", "strategy": "hash"}, {"column": "id); DROP TABLE shop.orders; --", "strategy": "hash"}]}}$$)
 ORDER BY path;
-- A foreign key partner left unmasked, and one masked differently, are problems.
SELECT * FROM warden.validate_profile($${"name": "n", "version": 1, "strategies": {},
  "tables": {"shop.users": [{"column": "email", "strategy": "email"}],
             "shop.referrals": [{"column": "email", "strategy": "email"}, {"column": "referred_by", "strategy": "email", "seed": 2}]}}$$)
 ORDER BY path;
-- A valid profile: no rows.
SELECT count(*) AS problems FROM warden.validate_profile($${"name": "n", "version": 1, "strategies": {},
  "tables": {"shop.users": [{"column": "email", "strategy": "email"}], "shop.orders": [{"column": "user_email", "strategy": "email"}]}}$$);

-- apply_profile refuses an invalid profile, listing every problem, and changes nothing.
CREATE TEMP TABLE users_before AS SELECT * FROM shop.users;
CREATE TEMP TABLE orders_before AS SELECT * FROM shop.orders;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "n", "version": 1, "key": "nokey", "strategies": {},
  "tables": {"shop.users": [{"column": "email", "strategy": "email"}, {"column": "nope", "strategy": "hash"}],
             "shop.orders": [{"column": "user_email", "strategy": "email"}]}}')$$) AS invalid_profile;
SELECT outcome($$SELECT * FROM warden.apply_profile('{}')$$) AS empty_profile;
SELECT outcome($$SELECT * FROM warden.apply_profile('[1]'::jsonb)$$) AS non_object_profile;
SELECT outcome($$SELECT * FROM warden.apply_profile((repeat('[', 300) || repeat(']', 300))::jsonb)$$) AS deep_profile;

-- A value that cannot be masked half-way through: the whole run rolls back.
UPDATE shop.users SET phone = 'ask reception' WHERE id = 400;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "n", "version": 1, "strategies": {},
  "tables": {"shop.orders": [{"column": "user_email", "strategy": "email"}],
             "shop.users": [{"column": "email", "strategy": "email"}, {"column": "phone", "strategy": "phone"}]}}')$$) AS fails_mid_way;
-- Two addresses that differ only in case collide under the case-insensitive email
-- strategy: the unique index refuses, nothing changes.
UPDATE shop.users SET phone = NULL, code = NULL WHERE id = 400;
INSERT INTO shop.users (id, email) VALUES (9001, 'Case@corp.example'), (9002, 'case@corp.example');
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "n", "version": 1, "strategies": {},
  "tables": {"shop.orders": [{"column": "user_email", "strategy": "email"}],
             "shop.users": [{"column": "email", "strategy": "email"}]}}')$$) AS unique_collision;
DELETE FROM shop.users WHERE id > 9000;
-- A CHECK constraint the masked values break.
ALTER TABLE shop.users ADD CONSTRAINT name_starts_with_name CHECK (name LIKE 'Name%');
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "n", "version": 1, "strategies": {},
  "tables": {"shop.users": [{"column": "name", "strategy": "hash"}]}}')$$) AS check_violation;
ALTER TABLE shop.users DROP CONSTRAINT name_starts_with_name;
UPDATE shop.users SET phone = '+1 555 0400', code = 'C400' WHERE id = 400;
SELECT (SELECT count(*) FROM (TABLE shop.users EXCEPT ALL TABLE users_before) d) AS users_rows_changed,
       (SELECT count(*) FROM (TABLE users_before EXCEPT ALL TABLE shop.users) d) AS users_rows_lost,
       (SELECT count(*) FROM (TABLE shop.orders EXCEPT ALL TABLE orders_before) d) AS orders_rows_changed,
       (SELECT count(*) FROM shop.users) AS users, (SELECT count(*) FROM shop.orders) AS orders;

-- Privileges: ordinary roles cannot apply profiles, even with EXECUTE; a warden_admin
-- needs UPDATE on the columns it masks.
CREATE ROLE profile_nobody;
GRANT EXECUTE ON FUNCTION warden.apply_profile(jsonb), warden.apply_profile(text) TO profile_nobody;
CREATE ROLE profile_admin IN ROLE warden_admin;
GRANT USAGE ON SCHEMA shop TO profile_admin;
SET LOCAL ROLE profile_nobody;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "n", "version": 1, "strategies": {}, "tables": {}}')$$) AS ordinary_role;
RESET ROLE;
SET LOCAL ROLE profile_admin;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "n", "version": 1, "strategies": {},
  "tables": {"shop.users": [{"column": "name", "strategy": "hash"}]}}')$$) AS admin_without_update;
RESET ROLE;
-- Row-level security that limits the role to some rows: it must not mask the others.
ALTER TABLE shop.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_some ON shop.users USING (id < 10);
GRANT SELECT, UPDATE ON shop.users TO profile_admin;
SET LOCAL ROLE profile_admin;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "n", "version": 1, "strategies": {},
  "tables": {"shop.users": [{"column": "name", "strategy": "hash"}]}}')$$) AS admin_under_row_level_security;
RESET ROLE;
REVOKE SELECT, UPDATE ON shop.users FROM profile_admin;
DROP POLICY only_some ON shop.users;
ALTER TABLE shop.users DISABLE ROW LEVEL SECURITY;
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute,
       has_function_privilege('warden_admin', p.oid, 'EXECUTE') AS warden_admin_may_execute,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p WHERE p.pronamespace = 'warden'::regnamespace AND p.proname IN ('validate_profile', 'apply_profile')
 ORDER BY 1::text;

-- What must survive masking, recorded before.
CREATE TEMP TABLE identity_before AS
SELECT c.relname, c.oid, c.relacl::text AS acl, obj_description(c.oid, 'pg_class') AS comment
  FROM pg_class c WHERE c.relnamespace = 'shop'::regnamespace;
CREATE TEMP TABLE constraints_before AS
SELECT conrelid::regclass::text AS tbl, conname, oid, pg_get_constraintdef(oid) AS def, condeferrable
  FROM pg_constraint WHERE connamespace = 'shop'::regnamespace;
CREATE TEMP TABLE join_before AS
SELECT o.id AS order_id, u.id AS user_id FROM shop.orders o JOIN shop.users u ON u.email = o.user_email;
CREATE TEMP TABLE referrals_before AS
SELECT a.email AS orig, warden.anonymize(a.email, 'email', '{"domain": "referrals.example"}'::jsonb, 5) AS expected
  FROM shop.referrals a;

-- Mask users (email, phone, card, name and the integer id), orders (user_email and
-- user_id) and referrals (both columns, one seed), joined by NOT DEFERRABLE foreign keys.
SELECT * FROM warden.apply_profile($${
  "name": "staging", "version": 2, "global_seed": 0,
  "strategies": {"pii_email": {"type": "email"}, "last4": {"type": "partial", "options": {"suffix": 4}},
                 "ref": {"type": "email", "options": {"domain": "referrals.example"}}},
  "tables": {
    "shop.users": [{"column": "email", "strategy": "pii_email"}, {"column": "phone", "strategy": "phone"},
                   {"column": "card", "strategy": "last4"}, {"column": "name", "strategy": "hash", "seed": 9},
                   {"column": "id", "strategy": "hash"}],
    "shop.orders": [{"column": "user_email", "strategy": "pii_email"}, {"column": "user_id", "strategy": "hash"}],
    "shop.referrals": [{"column": "email", "strategy": "ref", "seed": 5}, {"column": "referred_by", "strategy": "ref", "seed": 5}]
  }
}$$) ORDER BY 1, 2;

-- The same relations, indexes, constraints, grants, comments and views.
SELECT b.relname, c.oid = b.oid AS same_oid, c.relacl::text IS NOT DISTINCT FROM b.acl AS same_grants,
       obj_description(c.oid, 'pg_class') IS NOT DISTINCT FROM b.comment AS same_comment
  FROM identity_before b LEFT JOIN pg_class c ON c.relname = b.relname AND c.relnamespace = 'shop'::regnamespace
 ORDER BY b.relname;
SELECT b.tbl, b.conname, c.oid = b.oid AS same_oid, pg_get_constraintdef(c.oid) = b.def AS same_definition, c.condeferrable
  FROM constraints_before b LEFT JOIN pg_constraint c ON c.conname = b.conname AND c.connamespace = 'shop'::regnamespace
 ORDER BY b.tbl, b.conname;
SELECT count(*) FILTER (WHERE i.indisvalid AND i.indisready) AS valid_indexes, count(*) AS indexes
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'shop'::regnamespace;
SET LOCAL ROLE shop_reader;
SELECT count(*) AS reader_sees_view_rows FROM shop.order_emails;
RESET ROLE;

-- Every join that matched before matches the same rows, by email and by id.
SELECT count(*) AS pairs_before,
       count(*) FILTER (WHERE a.order_id IS NOT NULL AND b.order_id IS NOT NULL) AS same_pairs_after
  FROM (SELECT order_id, warden.pseudonymize(user_id) AS user_id FROM join_before) a
  FULL JOIN (SELECT o.id AS order_id, u.id AS user_id FROM shop.orders o JOIN shop.users u ON u.email = o.user_email) b
         USING (order_id, user_id);
SELECT count(*) AS orders_joined_by_id_and_email
  FROM shop.orders o JOIN shop.users u ON u.id = o.user_id AND u.email = o.user_email;
SELECT count(*) AS referral_links_kept
  FROM shop.referrals a JOIN shop.referrals b ON a.referred_by = b.email;

-- Values are exactly what warden.anonymize gives for the originals.
SELECT bool_and(u.email = warden.anonymize(b.email, 'email')) AS emails,
       bool_and(u.phone = warden.anonymize(b.phone, 'phone')) AS phones,
       bool_and(u.card = warden.anonymize(b.card, 'partial')) AS cards,
       bool_and(u.name IS NOT DISTINCT FROM warden.anonymize(b.name, 'hash', 9)) AS names,
       bool_and(u.code = b.code) AS unmasked_column_kept,
       count(*) AS users
  FROM users_before b JOIN shop.users u ON u.id = warden.pseudonymize(b.id);
SELECT count(*) AS referrals_as_expected FROM shop.referrals a JOIN referrals_before r ON a.email = r.expected;
SELECT id, email, phone, card, name FROM shop.users ORDER BY email LIMIT 3;

-- One ledger entry for the run: profile, version, hash of the canonical profile, rows
-- per table and column, strategy counts.
SELECT event_type, action, resource_type, resource_id, jsonb_pretty(details) AS details
  FROM warden.audit_log WHERE event_type = 'anonymization';
SELECT valid, total_entries FROM warden.verify_audit();
ROLLBACK;
