-- Attacks on apply_profile's guarantees: masking a partition-key column would leave rows
-- outside their partition's bounds; the foreign-key re-check must never run a table
-- owner's code with pg_warden's (the extension owner's) rights.
BEGIN;
SELECT warden.create_key('default', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('audit', '\x101112131415161718191a1b1c1d1e1f101112131415161718191a1b1c1d1e1f');
SET LOCAL client_min_messages = warning;

-- 1. Partition keys. A list-partitioned table whose 'eu' partition is range-partitioned
-- by id (the leaf holds rows with region 'eu' and id 0-99), and a table partitioned by
-- expressions over two of its columns.
CREATE SCHEMA part;
CREATE TABLE part.events (id int, region text, note text, code text) PARTITION BY LIST (region);
CREATE TABLE part.events_eu PARTITION OF part.events FOR VALUES IN ('eu') PARTITION BY RANGE (id);
CREATE TABLE part.events_eu_low PARTITION OF part.events_eu FOR VALUES FROM (0) TO (100);
-- Its columns in another order: attribute numbers differ from the parent's.
CREATE TABLE part.events_other (note text, code text, region text, id int);
ALTER TABLE part.events ATTACH PARTITION part.events_other DEFAULT;
INSERT INTO part.events SELECT g, 'eu', 'note ' || g, 'c' || g FROM generate_series(0, 99) g;
INSERT INTO part.events SELECT g, 'us', 'note ' || g, 'c' || g FROM generate_series(0, 9) g;
CREATE TABLE part.coded (id int, code text, note text) PARTITION BY RANGE ((lower(code)), (id + 1));
CREATE TABLE part.coded_all PARTITION OF part.coded FOR VALUES FROM (MINVALUE, MINVALUE) TO (MAXVALUE, MAXVALUE);
INSERT INTO part.coded SELECT g, 'C' || g, 'n' || g FROM generate_series(1, 20) g;
CREATE TEMP TABLE events_before AS SELECT tableoid::regclass::text AS part, * FROM part.events;
CREATE TEMP TABLE coded_before AS SELECT tableoid::regclass::text AS part, * FROM part.coded;

-- Validation names the column and the partitioned table whose key holds it: the leaf's
-- parent (id), its grandparent (region), a partition whose columns are numbered
-- differently (region), a key made of expressions (code, id).
SELECT * FROM warden.validate_profile($${"name": "p", "version": 1, "strategies": {},
  "tables": {"part.events_eu_low": [{"column": "region", "strategy": "hash"}, {"column": "id", "strategy": "hash"},
                                    {"column": "note", "strategy": "hash"}],
             "part.events_other": [{"column": "region", "strategy": "redact"}],
             "part.coded_all": [{"column": "code", "strategy": "hash"}, {"column": "id", "strategy": "digits"},
                                {"column": "note", "strategy": "hash"}]}}$$) ORDER BY path;
-- apply_profile refuses with 22023 and moves no row: each stays in its partition, with
-- its values, and every row is found through the parent by its key.
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "p", "version": 1, "strategies": {},
  "tables": {"part.events_eu_low": [{"column": "region", "strategy": "hash"}]}}')$$) AS mask_list_key;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "p", "version": 1, "strategies": {},
  "tables": {"part.events_eu_low": [{"column": "id", "strategy": "hash"}]}}')$$) AS mask_subpartition_key;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "p", "version": 1, "strategies": {},
  "tables": {"part.coded_all": [{"column": "code", "strategy": "hash"}]}}')$$) AS mask_expression_key;
SELECT (SELECT count(*) FROM (SELECT tableoid::regclass::text, * FROM part.events EXCEPT ALL TABLE events_before) d) AS events_changed,
       (SELECT count(*) FROM (SELECT tableoid::regclass::text, * FROM part.coded EXCEPT ALL TABLE coded_before) d) AS coded_changed,
       (SELECT count(*) FROM part.events WHERE region = 'eu' AND id BETWEEN 0 AND 99) AS eu_rows_found_by_key,
       (SELECT count(*) FROM part.events_eu_low WHERE region IS DISTINCT FROM 'eu' OR id NOT BETWEEN 0 AND 99) AS rows_outside_bounds;
-- A column outside every partition key is masked as usual.
SELECT * FROM warden.apply_profile($${"name": "p", "version": 1, "strategies": {},
  "tables": {"part.events_eu_low": [{"column": "note", "strategy": "hash"}],
             "part.coded_all": [{"column": "note", "strategy": "hash"}]}}$$) ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE note LIKE 'note %') AS notes_left, count(*) FILTER (WHERE region = 'eu') AS eu_rows
  FROM part.events_eu_low;

-- 2. The re-checks after masking run nothing of a table owner's with the extension
-- owner's rights. A warden_admin that is not a superuser owns two tables joined by a
-- foreign key over (integer, its own enum type -> text): PostgreSQL accepts the key
-- because the owner's implicit cast turns the enum into text, and every comparison of
-- the key runs that cast. The cast records who runs it.
CREATE ROLE regress_tenant IN ROLE warden_admin;
CREATE SCHEMA tenant AUTHORIZATION regress_tenant;
SET LOCAL ROLE regress_tenant;
CREATE TABLE tenant.ran_as (who name, was_superuser boolean);
CREATE TYPE tenant.tag AS ENUM ('a', 'b');
CREATE FUNCTION tenant.tag_text(t tenant.tag) RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant.ran_as SELECT current_user, r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
    BEGIN
        EXECUTE 'ALTER ROLE regress_tenant SUPERUSER';
    EXCEPTION WHEN others THEN NULL;
    END;
    RETURN pg_catalog.format('%s', t);
END $$;
CREATE CAST (tenant.tag AS pg_catalog.text) WITH FUNCTION tenant.tag_text(tenant.tag) AS IMPLICIT;
CREATE TABLE tenant.accounts (id int, tag text, PRIMARY KEY (id, tag));
CREATE TABLE tenant.orders (id int PRIMARY KEY, account int, tag tenant.tag,
                            FOREIGN KEY (account, tag) REFERENCES tenant.accounts (id, tag));
-- A CHECK constraint over a masked column that calls the owner's own function.
CREATE FUNCTION tenant.positive(v int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT v IS DISTINCT FROM 0 $$;
ALTER TABLE tenant.accounts ADD CONSTRAINT id_not_zero CHECK (tenant.positive(id));
INSERT INTO tenant.accounts SELECT g, t FROM generate_series(1, 10) g, (VALUES ('a'), ('b')) v(t);
INSERT INTO tenant.orders SELECT g, g % 10 + 1, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END::tenant.tag FROM generate_series(1, 30) g;
TRUNCATE tenant.ran_as;
-- The owner applies a profile masking the integer side of the key on both tables, with
-- its own schema on its search path (the CHECK must still be read as written).
SET LOCAL search_path = tenant, public;
SELECT * FROM warden.apply_profile($${"name": "tenant", "version": 1, "strategies": {},
  "tables": {"tenant.accounts": [{"column": "id", "strategy": "digits"}],
             "tenant.orders": [{"column": "account", "strategy": "digits"}]}}$$) ORDER BY 1, 2;
RESET search_path;
SELECT count(*) AS orders_still_matching FROM tenant.orders o JOIN tenant.accounts a ON a.id = o.account AND a.tag = o.tag;
RESET ROLE;
-- The key was compared (the cast ran), never as a superuser: as the caller. (This
-- script compares the key itself only as the owner: as a superuser it would run the
-- cast too.)
SELECT who, was_superuser, count(*) > 0 AS ran FROM tenant.ran_as GROUP BY who, was_superuser ORDER BY who;
SELECT rolsuper AS tenant_is_superuser FROM pg_roles WHERE rolname = 'regress_tenant';
-- The re-check still finds a broken key: a NOT VALID key with a row that matched
-- nothing already, and a column of another collation than the key it references.
SET LOCAL ROLE regress_tenant;
CREATE TABLE tenant.notes (account int, tag text COLLATE "C");
INSERT INTO tenant.notes SELECT a.id, a.tag FROM tenant.accounts a;
INSERT INTO tenant.notes VALUES (999, 'a');
ALTER TABLE tenant.notes ADD FOREIGN KEY (account, tag) REFERENCES tenant.accounts (id, tag) NOT VALID;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "tenant", "version": 1, "strategies": {},
  "tables": {"tenant.accounts": [{"column": "id", "strategy": "digits"}],
             "tenant.orders": [{"column": "account", "strategy": "digits"}],
             "tenant.notes": [{"column": "account", "strategy": "digits"}]}}')$$) AS broken_key;
DELETE FROM tenant.notes WHERE account = 999;
SELECT count(*) AS rows FROM warden.apply_profile($${"name": "tenant", "version": 1, "strategies": {},
  "tables": {"tenant.accounts": [{"column": "id", "strategy": "digits"}],
             "tenant.orders": [{"column": "account", "strategy": "digits"}],
             "tenant.notes": [{"column": "account", "strategy": "digits"}]}}$$);
RESET ROLE;
-- The check reads both tables with the caller's rights: a warden_admin allowed to
-- update the key's columns but not to read them is refused (before anything is locked).
CREATE ROLE regress_updater IN ROLE warden_admin;
GRANT USAGE ON SCHEMA tenant TO regress_updater;
GRANT UPDATE (id) ON tenant.accounts TO regress_updater;
GRANT UPDATE (account) ON tenant.orders TO regress_updater;
SET LOCAL ROLE regress_updater;
SELECT outcome($$SELECT * FROM warden.apply_profile('{"name": "tenant", "version": 1, "strategies": {},
  "tables": {"tenant.accounts": [{"column": "id", "strategy": "digits"}],
             "tenant.orders": [{"column": "account", "strategy": "digits"}]}}')$$) AS updater_without_select;
RESET ROLE;
ROLLBACK;
