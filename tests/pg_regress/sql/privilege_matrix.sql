-- Privilege matrix: every function in schema warden (read from pg_proc, so a function
-- added without a row here shows up below as missing) and the objects of "Who can do
-- what" in docs/security.md, called with valid arguments by six kinds of role:
--   superuser  a superuser that is not the extension owner
--   admin      a non-superuser member of warden_admin
--   user       a member of warden_user
--   owner      the owner of the audited tables, in no warden role
--   public     a role with no grant at all
--   secret     a member of warden_secret_admin only
-- Each cell is 'ok' or the SQLSTATE of the refusal (never message text). Every call runs
-- in a subtransaction that is always rolled back, so each role sees the same state and
-- the script leaves nothing behind. Classes, from docs/security.md and docs/audit.md:
--   everyone   anyone may call it
--   user       uses a key: warden_user (warden_admin is one) and superusers
--   admin      manages keys, masks tables, reads or audits the ledger, rewraps the vault:
--              warden_admin and superusers
--   secret admin  manages vault secrets: warden_secret_admin and superusers
--   vault status  the vault's state: warden_admin, warden_secret_admin and superusers
--   grantee    reads a vault secret: EXECUTE for warden_user and warden_secret_admin, then
--              only roles the secret is granted to (here regress_matrix_user alone),
--              superusers included; a refusal from inside is 42501 like one from EXECUTE
--   superuser  internal (a trigger function, the export's text form, schema warden):
--              nobody below superuser; granting it to a role changes this matrix
--   nobody     refused for everyone, superusers included
BEGIN;
-- A refused or rolled-back get_secret hands its read to a background worker; when a
-- burst finds no free worker slot, the read is logged as a WARNING, as the timing makes.
SET LOCAL client_min_messages = error;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('regress', '\x202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');
CREATE ROLE regress_matrix_super SUPERUSER;
CREATE ROLE regress_matrix_admin;
CREATE ROLE regress_matrix_user;
CREATE ROLE regress_matrix_owner;
CREATE ROLE regress_matrix_public;
CREATE ROLE regress_matrix_secret;
GRANT warden_admin TO regress_matrix_admin;
GRANT warden_user TO regress_matrix_user;
GRANT warden_secret_admin TO regress_matrix_secret;
-- A secret with two versions, readable by regress_matrix_user only.
SELECT warden.create_secret('matrix_secret', 'matrix value 1') AS secret_ref \gset
SELECT warden.rotate_secret(:'secret_ref', 'matrix value 2') AS rotated_to;
SELECT warden.grant_secret(:'secret_ref', 'regress_matrix_user');

-- The owner's tables. Every role gets every table privilege on them, so a cell shows
-- pg_warden's own rules, not the table's ACL.
CREATE SCHEMA matrix AUTHORIZATION regress_matrix_owner;
GRANT USAGE ON SCHEMA matrix TO PUBLIC;
SET ROLE regress_matrix_owner;
CREATE TABLE matrix.audited (id int PRIMARY KEY, v text);
CREATE TABLE matrix.plain (id int PRIMARY KEY, v text);
CREATE TABLE matrix.masked (id int PRIMARY KEY, v text);
INSERT INTO matrix.masked VALUES (1, 'a@example.com');
GRANT ALL ON matrix.audited, matrix.plain, matrix.masked TO PUBLIC;
RESET ROLE;
-- Capture triggers are made by ALTER TABLE, which PostgreSQL leaves to a table's owner:
-- a key officer audits the tables it owns.
CREATE TABLE matrix.officers (id int PRIMARY KEY);
CREATE TABLE matrix.officers_audited (id int PRIMARY KEY);
ALTER TABLE matrix.officers OWNER TO regress_matrix_admin;
ALTER TABLE matrix.officers_audited OWNER TO regress_matrix_admin;
SELECT warden.audit_table('matrix.officers_audited');
SELECT warden.audit_table('matrix.audited');
INSERT INTO matrix.audited VALUES (1, 'captured');
SELECT warden.audit_digest()::text AS digest \gset
-- A stored profile of the masked table.
SELECT warden.save_profile('{"name": "matrix_stored", "version": 1, "key": "regress", "strategies": {},
    "tables": {"matrix.masked": [{"column": "v", "strategy": "email"}]}}');

-- Runs one call and always rolls it back: 'ok' if it succeeded, else its SQLSTATE. A
-- refusal also goes to the server log with its SQLSTATE (scripts/regress.sh looks for
-- XX000 there).
CREATE FUNCTION public.matrix_call(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RAISE EXCEPTION 'matrix call succeeded' USING ERRCODE = 'W0K00';
EXCEPTION WHEN others THEN
    IF SQLSTATE = 'W0K00' THEN
        RETURN 'ok';
    END IF;
    RAISE LOG USING MESSAGE = 'matrix_call: ' || SQLERRM, ERRCODE = SQLSTATE;
    RETURN SQLSTATE;
END
$$;

CREATE TEMP TABLE matrix (what text, fn regprocedure UNIQUE, class text NOT NULL, call text NOT NULL);
INSERT INTO matrix (fn, class, call) VALUES
    ('warden.creating_extension()', 'everyone', $$SELECT warden.creating_extension()$$),
    ('warden.changing_capture()', 'everyone', $$SELECT warden.changing_capture()$$),
    ('warden.adding_partition()', 'everyone', $$SELECT warden.adding_partition()$$),
    ('warden.note_drop_check()', 'everyone', $$SELECT warden.note_drop_check()$$),
    ('warden.hmac_sha256(bytea,bytea)', 'everyone', $$SELECT warden.hmac_sha256('data', 'key')$$),
    ('warden.validate_profile(jsonb)', 'everyone',
     $$SELECT * FROM warden.validate_profile('{"name": "m", "version": 1, "key": "regress", "strategies": {},
         "tables": {"matrix.masked": [{"column": "v", "strategy": "email"}]}}')$$),
    ('warden.create_key(text,bytea)', 'admin', $$SELECT warden.create_key('matrix_new')$$),
    ('warden.rotate_key(text,bytea)', 'admin', $$SELECT warden.rotate_key('regress')$$),
    ('warden.create_key_from_env(text,text)', 'admin', $$SELECT warden.create_key_from_env('matrix_env', 'WARDEN_DEMO_KEY')$$),
    ('warden.rotate_key_from_env(text,text)', 'admin', $$SELECT warden.rotate_key_from_env('regress', 'WARDEN_DEMO_KEY')$$),
    ('warden.set_key_policy(text,interval)', 'admin', $$SELECT warden.set_key_policy('regress', '30 days')$$),
    ('warden.rotate_due_keys()', 'admin', $$SELECT warden.rotate_due_keys()$$),
    ('warden.rewrap_vault()', 'admin', $$SELECT warden.rewrap_vault()$$),
    ('warden.vault_status()', 'vault status', $$SELECT warden.vault_status()$$),
    ('warden.create_secret(text,text,text,timestamp with time zone,jsonb,text)', 'secret admin',
     $$SELECT warden.create_secret('matrix_new', 'new value')$$),
    ('warden.create_secret(text,bytea,text,timestamp with time zone,jsonb,text)', 'secret admin',
     $$SELECT warden.create_secret('matrix_new', '\x00ff'::bytea)$$),
    ('warden.rotate_secret(uuid,text,timestamp with time zone)', 'secret admin',
     format($$SELECT warden.rotate_secret(%L, 'matrix value 3')$$, :'secret_ref')),
    ('warden.rotate_secret(uuid,bytea,timestamp with time zone)', 'secret admin',
     format($$SELECT warden.rotate_secret(%L, '\x00ff'::bytea)$$, :'secret_ref')),
    ('warden.retire_secret_version(uuid,integer)', 'secret admin',
     format($$SELECT warden.retire_secret_version(%L, 1)$$, :'secret_ref')),
    ('warden.delete_secret(uuid)', 'secret admin', format($$SELECT warden.delete_secret(%L)$$, :'secret_ref')),
    ('warden.grant_secret(uuid,regrole)', 'secret admin',
     format($$SELECT warden.grant_secret(%L, 'regress_matrix_public')$$, :'secret_ref')),
    ('warden.revoke_secret(uuid,regrole)', 'secret admin',
     format($$SELECT warden.revoke_secret(%L, 'regress_matrix_user')$$, :'secret_ref')),
    ('warden.expiring_secrets(interval)', 'secret admin', $$SELECT * FROM warden.expiring_secrets('1 day')$$),
    ('warden.get_secret(uuid,integer)', 'grantee', format($$SELECT warden.get_secret(%L::uuid)$$, :'secret_ref')),
    ('warden.get_secret(text,text)', 'grantee', $$SELECT warden.get_secret('matrix_secret')$$),
    ('warden.get_secret_bytes(uuid,integer)', 'grantee',
     format($$SELECT warden.get_secret_bytes(%L, 1)$$, :'secret_ref')),
    ('warden.fingerprint(text,text)', 'user', $$SELECT warden.fingerprint('x'::text, 'regress')$$),
    ('warden.fingerprint(bytea,text)', 'user', $$SELECT warden.fingerprint('\x00'::bytea, 'regress')$$),
    ('warden.fingerprint_matches(text,text,text)', 'user',
     $$SELECT warden.fingerprint_matches('x'::text, repeat('0', 64), 'regress')$$),
    ('warden.fingerprint_matches(bytea,text,text)', 'user',
     $$SELECT warden.fingerprint_matches('\x00'::bytea, repeat('0', 64), 'regress')$$),
    ('warden.fingerprint_secrets(jsonb,text)', 'user', $$SELECT warden.fingerprint_secrets('{"token": "t"}', 'regress')$$),
    ('warden.anonymize(text,text,bigint,text)', 'user', $$SELECT warden.anonymize('a@example.com', 'email', 0, 'regress')$$),
    ('warden.anonymize(text,text,jsonb,bigint,text)', 'user',
     $$SELECT warden.anonymize('a@example.com', 'email', '{"domain": "keep"}'::jsonb, 0, 'regress')$$),
    ('warden.pseudonymize(bigint,bigint,text)', 'user', $$SELECT warden.pseudonymize(42::bigint, 0, 'regress')$$),
    ('warden.pseudonymize(integer,bigint,text)', 'user', $$SELECT warden.pseudonymize(42::integer, 0, 'regress')$$),
    ('warden.log_event(text,text,text,text,jsonb,text,text,text,numeric,text)', 'user',
     $$SELECT warden.log_event('matrix', 'CALL')$$),
    ('warden.log_event(text,text,double precision,text,jsonb,text,text,text)', 'user',
     $$SELECT warden.log_event('matrix', 'CALL', confidence => 0.5::float8)$$),
    ('warden.log_event(text,text,text,text,jsonb,text,text,text,double precision,text)', 'user',
     $$SELECT warden.log_event('matrix', 'CALL', NULL, NULL, NULL, NULL, NULL, NULL, 0.5::float8)$$),
    ('warden.apply_profile(jsonb)', 'admin',
     $$SELECT * FROM warden.apply_profile('{"name": "m", "version": 1, "key": "regress", "strategies": {},
         "tables": {"matrix.masked": [{"column": "v", "strategy": "email"}]}}'::jsonb)$$),
    ('warden.apply_profile(text)', 'admin', $$SELECT * FROM warden.apply_profile('matrix_stored')$$),
    ('warden.save_profile(jsonb)', 'admin',
     $$SELECT warden.save_profile('{"name": "matrix_new", "version": 1, "key": "regress", "strategies": {},
         "tables": {"matrix.masked": [{"column": "v", "strategy": "email"}]}}')$$),
    ('warden.drop_profile(text)', 'admin', $$SELECT warden.drop_profile('matrix_stored')$$),
    ('warden.audit_table(regclass)', 'admin', $$SELECT warden.audit_table('matrix.officers')$$),
    ('warden.unaudit_table(regclass)', 'admin', $$SELECT warden.unaudit_table('matrix.officers_audited')$$),
    ('warden.verify_audit()', 'admin', $$SELECT * FROM warden.verify_audit()$$),
    ('warden.verify_audit(jsonb)', 'admin', format($$SELECT * FROM warden.verify_audit(%L::jsonb)$$, :'digest')),
    ('warden.verify_audit(jsonb,boolean)', 'admin', $$SELECT * FROM warden.verify_audit(NULL, full => false)$$),
    ('warden.advance_audit_tree(integer)', 'admin', $$SELECT warden.advance_audit_tree()$$),
    ('warden.audit_proof(bigint,bigint)', 'admin', $$SELECT warden.audit_proof(NULL)$$),
    ('warden.audit_consistency(bigint,bigint)', 'admin', $$SELECT warden.audit_consistency(g, g) FROM generate_series(1, 0) g$$),
    ('warden.audit_status()', 'admin', $$SELECT * FROM warden.audit_status()$$),
    ('warden.audit_ddl(boolean)', 'admin', $$SELECT warden.audit_ddl(false)$$),
    ('warden.audit_coverage()', 'admin', $$SELECT * FROM warden.audit_coverage()$$),
    ('warden.audit_preloaded()', 'admin', $$SELECT warden.audit_preloaded()$$),
    ('warden.audit_ddl_in_force()', 'admin', $$SELECT warden.audit_ddl_in_force()$$),
    ('warden.audit_digest()', 'admin', $$SELECT warden.audit_digest()$$),
    ('warden.export_audit(timestamp with time zone,timestamp with time zone)', 'admin', $$SELECT warden.export_audit()$$),
    ('warden.purge_audit(interval)', 'admin', $$SELECT warden.purge_audit('100 years')$$),
    -- The ledger's newest entry, a version-2 one: the subquery needs SELECT on the ledger,
    -- which only the admin class has.
    ('warden.redact_audit(bigint,text[],text)', 'admin',
     $$SELECT warden.redact_audit((SELECT max(id) FROM warden.audit_log), ARRAY['reason'], 'matrix')$$),
    ('warden.erase_subject(jsonb,text,text[])', 'admin',
     $$SELECT warden.erase_subject('{"actor": "regress-matrix-nobody"}', 'matrix')$$),
    ('warden.set_retention(text,interval)', 'admin', $$SELECT warden.set_retention('regress-matrix', '100 years')$$),
    ('warden.apply_retention()', 'admin', $$SELECT warden.apply_retention()$$),
    ('warden.import_audit(regclass,jsonb)', 'admin',
     $$CALL warden.import_audit('matrix.plain', '{"order_by": "id", "ts": "v", "event_type": {"value": "m"}, "action": "v"}')$$),
    ('warden.import_audit_start(regclass,jsonb)', 'admin',
     $$SELECT warden.import_audit_start('matrix.plain', '{"order_by": "id", "ts": "v", "event_type": {"value": "m"}, "action": "v"}')$$),
    ('warden.import_audit_batch(bigint,integer)', 'admin',
     $$SELECT warden.import_audit_batch(warden.import_audit_start('matrix.plain', '{"order_by": "id", "ts": "v", "event_type": {"value": "m"}, "action": "v"}'))$$),
    ('warden.export_audit_text(timestamp with time zone,timestamp with time zone)', 'admin',
     $$SELECT warden.export_audit_text('-infinity', 'infinity')$$),
    -- Trigger functions cannot be called; what a role could do with one is attach it.
    ('warden.key_store_changed()', 'superuser',
     $$CREATE TRIGGER matrix_probe AFTER INSERT ON matrix.plain EXECUTE FUNCTION warden.key_store_changed()$$),
    ('warden.audit_capture()', 'admin',
     $$CREATE TRIGGER matrix_probe AFTER INSERT ON matrix.plain FOR EACH ROW EXECUTE FUNCTION warden.audit_capture()$$),
    ('warden.audit_chain_entry()', 'superuser',
     $$CREATE TRIGGER matrix_probe BEFORE INSERT ON matrix.plain FOR EACH ROW EXECUTE FUNCTION warden.audit_chain_entry()$$),
    ('warden.audit_guard()', 'superuser',
     $$CREATE TRIGGER matrix_probe BEFORE DELETE ON matrix.plain EXECUTE FUNCTION warden.audit_guard()$$),
    ('warden.audit_ddl_guard()', 'superuser',
     $$CREATE EVENT TRIGGER matrix_probe ON ddl_command_end EXECUTE FUNCTION warden.audit_ddl_guard()$$),
    ('warden.audit_drop_guard()', 'superuser',
     $$CREATE EVENT TRIGGER matrix_probe ON sql_drop EXECUTE FUNCTION warden.audit_drop_guard()$$),
    ('warden.audit_ddl_start()', 'superuser',
     $$CREATE EVENT TRIGGER matrix_probe ON ddl_command_start EXECUTE FUNCTION warden.audit_ddl_start()$$),
    ('warden.audit_drop_check()', 'superuser',
     $$CREATE EVENT TRIGGER matrix_probe ON ddl_command_start EXECUTE FUNCTION warden.audit_drop_check()$$),
    ('warden.audit_ddl_capture()', 'superuser',
     $$CREATE EVENT TRIGGER matrix_probe ON ddl_command_end EXECUTE FUNCTION warden.audit_ddl_capture()$$),
    ('warden.audit_ddl_drops()', 'superuser',
     $$CREATE EVENT TRIGGER matrix_probe ON sql_drop EXECUTE FUNCTION warden.audit_ddl_drops()$$);
UPDATE matrix SET what = fn::text;
-- The objects of the same tables that are not functions.
INSERT INTO matrix (what, class, call) VALUES
    ('SELECT warden.keys', 'everyone', $$SELECT count(*) FROM warden.keys$$),
    ('SELECT warden.key_store', 'superuser', $$SELECT count(*) FROM warden.key_store$$),
    ('SELECT warden.key_policy', 'admin', $$SELECT count(*) FROM warden.key_policy$$),
    ('SELECT warden.secrets', 'secret admin', $$SELECT count(*) FROM warden.secrets$$),
    ('SELECT warden.secret', 'superuser', $$SELECT count(*) FROM warden.secret$$),
    ('SELECT warden.secret_version', 'superuser', $$SELECT count(*) FROM warden.secret_version$$),
    ('SELECT warden.secret_grant', 'superuser', $$SELECT count(*) FROM warden.secret_grant$$),
    ('SELECT warden.vault_state', 'superuser', $$SELECT count(*) FROM warden.vault_state$$),
    ('SELECT warden.audit_log', 'admin', $$SELECT count(*) FROM warden.audit_log$$),
    ('SELECT warden.audit_checkpoint', 'admin', $$SELECT count(*) FROM warden.audit_checkpoint$$),
    ('SELECT warden.profiles', 'admin', $$SELECT count(*) FROM warden.profiles$$),
    ('SELECT warden.profile_store', 'admin', $$SELECT count(*) FROM warden.profile_store$$),
    ('INSERT warden.profile_store', 'superuser',
     $$INSERT INTO warden.profile_store (name, version, sha256, document) VALUES ('matrix_forged', 1, repeat('0', 64), '{}')$$),
    ('DELETE warden.audit_log', 'nobody', $$DELETE FROM warden.audit_log$$),
    ('CREATE in schema warden', 'superuser', $$CREATE TABLE warden.matrix_intruder (x int)$$);
GRANT SELECT ON matrix TO PUBLIC;

-- Every function of schema warden has a row.
SELECT p.oid::regprocedure AS function_missing_from_matrix
  FROM pg_proc p
 WHERE p.pronamespace = 'warden'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM matrix m WHERE m.fn = p.oid)
 ORDER BY 1::text;

CREATE TEMP TABLE matrix_result (who text, what text, outcome text);
GRANT INSERT ON matrix_result TO PUBLIC;
SET ROLE regress_matrix_super;
INSERT INTO matrix_result SELECT 'superuser', what, public.matrix_call(call) FROM matrix;
SET ROLE regress_matrix_admin;
INSERT INTO matrix_result SELECT 'admin', what, public.matrix_call(call) FROM matrix;
SET ROLE regress_matrix_user;
INSERT INTO matrix_result SELECT 'user', what, public.matrix_call(call) FROM matrix;
SET ROLE regress_matrix_owner;
INSERT INTO matrix_result SELECT 'owner', what, public.matrix_call(call) FROM matrix;
SET ROLE regress_matrix_public;
INSERT INTO matrix_result SELECT 'public', what, public.matrix_call(call) FROM matrix;
SET ROLE regress_matrix_secret;
INSERT INTO matrix_result SELECT 'secret', what, public.matrix_call(call) FROM matrix;
RESET ROLE;

-- What each class allows each role, and every cell that differs from it.
CREATE TEMP TABLE matrix_documented AS
SELECT c.class, w.who,
       CASE WHEN w.who = ANY (c.allowed) THEN 'ok' ELSE '42501' END AS outcome
  FROM (VALUES ('everyone', '{superuser,admin,user,owner,public,secret}'::text[]),
               ('user', '{superuser,admin,user}'),
               ('admin', '{superuser,admin}'),
               ('secret admin', '{superuser,secret}'),
               ('vault status', '{superuser,admin,secret}'),
               ('grantee', '{user}'),
               ('superuser', '{superuser}'),
               ('nobody', '{}')) AS c(class, allowed)
 CROSS JOIN (VALUES ('superuser'), ('admin'), ('user'), ('owner'), ('public'), ('secret')) AS w(who);

SELECT m.what, m.class,
       max(r.outcome) FILTER (WHERE r.who = 'superuser') AS superuser,
       max(r.outcome) FILTER (WHERE r.who = 'admin') AS admin,
       max(r.outcome) FILTER (WHERE r.who = 'user') AS "user",
       max(r.outcome) FILTER (WHERE r.who = 'owner') AS owner,
       max(r.outcome) FILTER (WHERE r.who = 'public') AS public,
       max(r.outcome) FILTER (WHERE r.who = 'secret') AS secret,
       bool_and(r.outcome = d.outcome) AS as_documented
  FROM matrix m
  JOIN matrix_result r ON r.what = m.what
  JOIN matrix_documented d ON d.class = m.class AND d.who = r.who
 GROUP BY m.what, m.class, m.fn
 ORDER BY m.fn IS NULL, m.what;

SELECT count(*) AS cells, count(*) FILTER (WHERE r.outcome <> d.outcome) AS cells_not_as_documented
  FROM matrix m
  JOIN matrix_result r ON r.what = m.what
  JOIN matrix_documented d ON d.class = m.class AND d.who = r.who;
ROLLBACK;
