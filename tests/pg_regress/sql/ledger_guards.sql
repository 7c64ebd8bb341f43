-- The guards around the ledger and around capture triggers: nothing a session creates
-- blinds them, they fire in every replication role, the ledger is never a parent or a
-- child, capture triggers change only through audit_table/unaudit_table, and DROP
-- EXTENSION keeps a ledger or keyring that holds something.
-- One transaction, rolled back at the end: the scripts after this one start from an
-- empty ledger.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.log_event('t', 'guards') > 0 AS logged;

-- 1. Temporary tables named like the catalogs the guard reads do not blind it.
SAVEPOINT attempt;
CREATE TEMP TABLE pg_class (oid oid);
CREATE TEMP TABLE pg_trigger (oid oid, tgrelid oid);
CREATE TEMP TABLE pg_rewrite (oid oid, ev_class oid);
SELECT outcome('ALTER TABLE warden.audit_log DISABLE TRIGGER audit_append_only');
SELECT outcome('ALTER TABLE warden.audit_log DISABLE TRIGGER zz_audit_chain');
ROLLBACK TO SAVEPOINT attempt;

-- 2. The guards fire under session_replication_role = replica too.
SAVEPOINT attempt;
SET LOCAL session_replication_role = replica;
SELECT outcome('ALTER TABLE warden.audit_log DISABLE TRIGGER audit_append_only');
SELECT outcome('DROP TRIGGER audit_append_only ON warden.audit_log');
ROLLBACK TO SAVEPOINT attempt;
SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname LIKE 'warden%' ORDER BY 1;

-- 3. The ledger is never a partition, a child or a parent.
SAVEPOINT attempt;
CREATE TABLE public.ledger_parent (LIKE warden.audit_log) PARTITION BY RANGE (id);
SELECT outcome($$ALTER TABLE public.ledger_parent ATTACH PARTITION warden.audit_log FOR VALUES FROM (MINVALUE) TO (MAXVALUE)$$);
SELECT outcome('CREATE TABLE public.ledger_child () INHERITS (warden.audit_log)');
SELECT outcome('CREATE TABLE public.checkpoint_child () INHERITS (warden.audit_checkpoint)');
CREATE TABLE public.plain_parent ();
SELECT outcome('ALTER TABLE warden.audit_log INHERIT public.plain_parent');
SELECT count(*) AS ledger_relatives FROM pg_inherits
 WHERE inhrelid IN ('warden.audit_log'::regclass, 'warden.audit_checkpoint'::regclass)
    OR inhparent IN ('warden.audit_log'::regclass, 'warden.audit_checkpoint'::regclass);
ROLLBACK TO SAVEPOINT attempt;

-- 4. Policies and rules are not added to the ledger.
SAVEPOINT attempt;
SELECT outcome($$CREATE POLICY hide ON warden.audit_log USING (actor <> 'postgres')$$);
SELECT outcome($$CREATE RULE keep AS ON DELETE TO warden.audit_log DO INSTEAD NOTHING$$);
ROLLBACK TO SAVEPOINT attempt;

-- 5. The owner of an audited table cannot switch its capture off, except through
-- warden.unaudit_table (which the ledger records).
CREATE ROLE regress_guard_owner;
GRANT warden_admin TO regress_guard_owner;
CREATE SCHEMA guard AUTHORIZATION regress_guard_owner;
SET ROLE regress_guard_owner;
CREATE TABLE guard.orders (id int PRIMARY KEY, total int);
SELECT warden.audit_table('guard.orders');
SELECT outcome('ALTER TABLE guard.orders DISABLE TRIGGER warden_audit_row');
SELECT outcome('ALTER TABLE guard.orders DISABLE TRIGGER USER');
SELECT outcome('ALTER TABLE guard.orders DISABLE TRIGGER ALL');
SELECT outcome('ALTER TABLE guard.orders ENABLE TRIGGER warden_audit_row');
SELECT outcome('ALTER TABLE guard.orders ENABLE REPLICA TRIGGER warden_audit_truncate');
SELECT outcome('DROP TRIGGER warden_audit_row ON guard.orders');
SELECT outcome('DROP TRIGGER warden_audit_truncate ON guard.orders');
SELECT outcome('ALTER TRIGGER warden_audit_row ON guard.orders RENAME TO quiet');
-- Temporary catalogs do not blind this guard either.
SAVEPOINT attempt;
CREATE TEMP TABLE pg_trigger (oid oid, tgrelid oid, tgname name, tgenabled "char", tgfoid oid);
SELECT outcome('ALTER TABLE guard.orders DISABLE TRIGGER warden_audit_row');
ROLLBACK TO SAVEPOINT attempt;
-- Ordinary schema changes still go through.
ALTER TABLE guard.orders ADD COLUMN note text;
CREATE INDEX ON guard.orders (total);
INSERT INTO guard.orders VALUES (1, 10);
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'guard.orders'::regclass ORDER BY 1;
-- unaudit_table and audit_table change capture, and say so in the ledger.
SELECT warden.unaudit_table('guard.orders');
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'guard.orders'::regclass;
SELECT warden.audit_table('guard.orders');
RESET ROLE;
-- pg_dump restores a capture trigger as CREATE TRIGGER, then ENABLE ALWAYS: that stays
-- possible (it only adds capture).
SELECT warden.unaudit_table('guard.orders');
CREATE TRIGGER warden_audit_row AFTER INSERT OR UPDATE OR DELETE ON guard.orders
    FOR EACH ROW EXECUTE FUNCTION warden.audit_capture('id');
ALTER TABLE guard.orders ENABLE ALWAYS TRIGGER warden_audit_row;
CREATE TRIGGER warden_audit_truncate AFTER TRUNCATE ON guard.orders
    FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_capture();
ALTER TABLE guard.orders ENABLE ALWAYS TRIGGER warden_audit_truncate;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'guard.orders'::regclass ORDER BY 1;
-- A superuser is held to the same rule.
SELECT outcome('ALTER TABLE guard.orders DISABLE TRIGGER ALL');
-- 5b. Partitions, children and foreign partitions of an audited table.
SET ROLE regress_guard_owner;
CREATE TABLE guard.q (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE guard.q1 PARTITION OF guard.q FOR VALUES FROM (0) TO (100);
INSERT INTO guard.q VALUES (1, 'a');
SELECT warden.audit_table('guard.q');
-- A new partition gets capture of TRUNCATE too (statement triggers are not cloned).
CREATE TABLE guard.q2 PARTITION OF guard.q FOR VALUES FROM (100) TO (200);
INSERT INTO guard.q VALUES (150, 'x');
TRUNCATE guard.q1;
TRUNCATE guard.q2;
SELECT action, resource_type FROM warden.audit_log
 WHERE event_type = 'table_truncate' AND resource_type LIKE 'guard.q%' ORDER BY id;
-- Detaching a partition takes its rows out of capture: refused.
SELECT outcome('ALTER TABLE guard.q DETACH PARTITION guard.q1');
SELECT outcome('DROP TRIGGER warden_audit_truncate ON guard.q2');
-- Replacing a capture trigger with the owner's own function is switching it off.
CREATE FUNCTION guard.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
SELECT outcome('CREATE OR REPLACE TRIGGER warden_audit_row AFTER INSERT OR UPDATE OR DELETE ON guard.orders FOR EACH ROW EXECUTE FUNCTION guard.noop()');
SELECT outcome('CREATE OR REPLACE TRIGGER warden_audit_truncate AFTER TRUNCATE ON guard.q2 FOR EACH STATEMENT EXECUTE FUNCTION guard.noop()');
-- A partitioned table with partitions of its own, attached: every new partition
-- captures TRUNCATE, once.
CREATE TABLE guard.sub (id int NOT NULL, v text) PARTITION BY RANGE (id);
CREATE TABLE guard.sub_a PARTITION OF guard.sub FOR VALUES FROM (200) TO (250);
CREATE TABLE guard.sub_b PARTITION OF guard.sub FOR VALUES FROM (250) TO (300) PARTITION BY LIST (id);
CREATE TABLE guard.sub_b1 PARTITION OF guard.sub_b FOR VALUES IN (250);
RESET ROLE;
SELECT outcome($$ALTER TABLE guard.q ATTACH PARTITION guard.sub FOR VALUES FROM (200) TO (300)$$);
SET ROLE regress_guard_owner;
SELECT c.relname, string_agg(t.tgname || ':' || t.tgenabled::text, ', ' ORDER BY t.tgname) AS triggers
  FROM pg_partition_tree('guard.sub') p JOIN pg_class c ON c.oid = p.relid
  JOIN pg_trigger t ON t.tgrelid = p.relid AND t.tgname LIKE 'warden_audit%'
 GROUP BY c.relname ORDER BY 1;
-- Inheritance children of an audited table would change unseen.
SELECT outcome('CREATE TABLE guard.child () INHERITS (guard.orders)');
CREATE TABLE guard.loose (id int NOT NULL, total int, note text);
SELECT outcome('ALTER TABLE guard.loose INHERIT guard.orders');
RESET ROLE;
-- A foreign partition's capture trigger, through ALTER FOREIGN TABLE.
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE SERVER guard_loop FOREIGN DATA WRAPPER postgres_fdw;
CREATE TABLE guard.r (id int, v text) PARTITION BY RANGE (id);
SELECT warden.audit_table('guard.r');
CREATE FOREIGN TABLE guard.rf PARTITION OF guard.r FOR VALUES FROM (1000) TO (1100) SERVER guard_loop;
SELECT outcome('ALTER FOREIGN TABLE guard.rf DISABLE TRIGGER warden_audit_row');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'guard.rf'::regclass ORDER BY 1;
-- unaudit_table removes capture from every partition, and records it once.
SELECT warden.unaudit_table('guard.q');
SELECT count(*) AS capture_triggers_left FROM pg_trigger
 WHERE tgrelid IN (SELECT relid FROM pg_partition_tree('guard.q')) AND tgname LIKE 'warden_audit%';
-- unaudit_table of a table that is not audited changes nothing and records nothing.
SELECT count(*) AS entries_before FROM warden.audit_log \gset
SELECT warden.unaudit_table('guard.loose');
SELECT count(*) - :entries_before AS new_entries FROM warden.audit_log;
DROP TABLE guard.r;
DROP SERVER guard_loop;

-- DDL on object kinds pg_warden does not own, in the shapes the parser gives them,
-- reaches PostgreSQL's own checks (through 0.3.0-dev some crashed the server).
SET ROLE regress_guard_owner;
SELECT q, outcome(q) FROM (VALUES
    ('ALTER DOMAIN no_such RENAME CONSTRAINT a TO b'),
    ('ALTER TYPE no_such RENAME TO b'),
    ('ALTER DOMAIN no_such OWNER TO regress_guard_owner'),
    ('ALTER TYPE no_such SET SCHEMA public'),
    ('ALTER TRIGGER tr ON no_such DEPENDS ON EXTENSION plpgsql'),
    ('ALTER FUNCTION no_such() OWNER TO regress_guard_owner')) AS t(q);
RESET ROLE;

-- 5c. What sits beside the ledger: its sequence and schema, and pg_warden's own
-- functions, change only through pg_warden's scripts.
SAVEPOINT attempt;
SELECT outcome('ALTER SEQUENCE warden.audit_log_id_seq RESTART 1');
SELECT outcome('ALTER SCHEMA warden OWNER TO regress_guard_owner');
SELECT outcome('GRANT CREATE ON SCHEMA warden TO PUBLIC');
SELECT outcome($$CREATE OR REPLACE FUNCTION warden.audit_guard() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'$$);
SELECT outcome($$CREATE OR REPLACE FUNCTION warden.creating_extension() RETURNS boolean LANGUAGE sql AS 'SELECT true'$$);
SELECT outcome($$CREATE OR REPLACE FUNCTION warden.audit_ddl_guard() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END'$$);
SELECT outcome($$ALTER FUNCTION warden.audit_capture() OWNER TO regress_guard_owner$$);
SELECT outcome($$ALTER FUNCTION warden.log_event(text, text, text, text, jsonb, text, text, text, numeric, text) RENAME TO log_event_old$$);
SELECT outcome($$CREATE FUNCTION warden.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'$$);
SELECT outcome($$ALTER EXTENSION pg_warden DROP FUNCTION warden.audit_guard()$$);
SELECT outcome($$ALTER EXTENSION pg_warden DROP TABLE warden.audit_log$$);
ROLLBACK TO SAVEPOINT attempt;

-- Dropping the table drops its capture with it.
SELECT action, resource_id FROM warden.audit_log
 WHERE event_type IN ('audit_enabled', 'audit_disabled') AND resource_id = 'guard.orders' ORDER BY id;
DROP TABLE guard.orders;
DROP SCHEMA guard CASCADE;

-- 6. DROP EXTENSION (or DROP SCHEMA warden CASCADE) keeps a ledger that holds entries
-- unless a superuser says so with warden.allow_drop_extension.
SAVEPOINT attempt;
SELECT outcome('DROP EXTENSION pg_warden CASCADE');
SELECT outcome('DROP SCHEMA warden CASCADE');
ROLLBACK TO SAVEPOINT attempt;
SELECT outcome('SET warden.allow_drop_extension = on');
SET ROLE regress_guard_owner;
SELECT outcome('SET warden.allow_drop_extension = on');
RESET ROLE;
SAVEPOINT attempt;
SET LOCAL warden.allow_drop_extension = on;
DROP EXTENSION pg_warden CASCADE;
SELECT count(*) AS warden_left FROM pg_extension WHERE extname = 'pg_warden';
ROLLBACK TO SAVEPOINT attempt;
SELECT count(*) AS warden_left FROM pg_extension WHERE extname = 'pg_warden';
DROP ROLE regress_guard_owner;
ROLLBACK;

-- 7. pg_warden's trigger functions attached any other way than pg_warden attaches them
-- fail cleanly (0A000), never crash the backend or report an internal error.
CREATE TABLE public.scratch (id int PRIMARY KEY, v text);
SELECT when_, level, fn, outcome(format(
         'CREATE TRIGGER misuse %s INSERT ON public.scratch FOR EACH %s EXECUTE FUNCTION warden.%s; '
         'INSERT INTO public.scratch VALUES (1, ''a'')', when_, level, fn)) AS outcome
  FROM (VALUES ('BEFORE', 'STATEMENT', 'audit_capture()'),
               ('BEFORE', 'ROW', 'audit_capture(''id'')'),
               ('AFTER', 'STATEMENT', 'audit_capture()'),
               ('BEFORE', 'ROW', 'audit_chain_entry()'),
               ('BEFORE', 'STATEMENT', 'audit_chain_entry()'),
               ('AFTER', 'ROW', 'audit_guard()'),
               ('BEFORE', 'STATEMENT', 'audit_guard()')) AS t(when_, level, fn);
SELECT count(*) AS scratch_rows FROM public.scratch;
DROP TABLE public.scratch;
-- Called directly, outside any trigger.
SELECT fn, outcome('SELECT warden.' || fn) AS outcome
  FROM (VALUES ('audit_capture()'), ('audit_chain_entry()'), ('audit_guard()'), ('key_store_changed()')) AS t(fn);
