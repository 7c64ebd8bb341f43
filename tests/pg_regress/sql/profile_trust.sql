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
ROLLBACK;
