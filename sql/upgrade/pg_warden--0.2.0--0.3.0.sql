-- pg_warden 0.2.0 -> 0.3.0
-- Brings a 0.2.0 installation to exactly what CREATE EXTENSION pg_warden creates in 0.3.0;
-- tests/multi/t_upgrade.sh compares the two catalog by catalog.
\echo Use "ALTER EXTENSION pg_warden UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------------------------
-- capture and ledger writes (issue 9)
-- Row capture runs with the rights of the statement that fired it (it was SECURITY
-- DEFINER PL/pgSQL, which ran a writer's temporary domain or an owner's cast as the
-- superuser). Same oid, so every existing capture trigger now calls the C function.
CREATE OR REPLACE FUNCTION warden.audit_capture() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_capture_wrapper';
GRANT EXECUTE ON FUNCTION warden.audit_capture() TO warden_admin;
COMMENT ON FUNCTION warden.audit_capture() IS
    'Internal: trigger function that records row changes of an audited table in the ledger; runs with the rights of the statement that fired it.';
-- export_audit is SQL calling export_audit_text with the caller's rights; its cast is
-- qualified like every name pg_warden's SQL uses.
GRANT EXECUTE ON FUNCTION warden.export_audit_text(timestamptz, timestamptz) TO warden_admin;
CREATE OR REPLACE FUNCTION warden.export_audit("from" timestamptz DEFAULT '-infinity', "to" timestamptz DEFAULT 'infinity')
    RETURNS jsonb
    LANGUAGE sql VOLATILE
AS $$ SELECT warden.export_audit_text("from", "to")::pg_catalog.jsonb $$;

-- confidence as double precision, which drivers send for a float (psycopg, JDBC): no
-- implicit cast leads from float8 to numeric, and an overload that a call without a
-- float8 could also match through defaults would make that call ambiguous. Two forms
-- that cannot: confidence third, for calls that name their arguments
-- (`log_event(e, a, confidence => 0.9::float8, resource_type => ...)`), whose later
-- parameters have the types of the numeric form at the same positions, so positional
-- calls still resolve to it; and all ten positionally.
CREATE FUNCTION warden.log_event(
    event_type     text,
    action         text,
    confidence     double precision,
    resource_type  text  DEFAULT NULL,
    details        jsonb DEFAULT NULL,
    resource_id    text  DEFAULT NULL,
    actor          text  DEFAULT NULL,
    reason         text  DEFAULT NULL
) RETURNS bigint
    VOLATILE
    LANGUAGE sql
AS $$ SELECT warden.log_event(event_type => $1, action => $2, confidence => $3::pg_catalog.numeric,
        resource_type => $4, details => $5, resource_id => $6, actor => $7, reason => $8) $$;
CREATE FUNCTION warden.log_event(
    event_type     text,
    action         text,
    resource_type  text,
    resource_id    text,
    details        jsonb,
    actor          text,
    correlation_id text,
    reason         text,
    confidence     double precision,
    tenant         text DEFAULT NULL
) RETURNS bigint
    VOLATILE
    LANGUAGE sql
AS $$ SELECT warden.log_event(event_type => $1, action => $2, confidence => $9::pg_catalog.numeric,
        resource_type => $3, resource_id => $4, details => $5, actor => $6, correlation_id => $7,
        reason => $8, tenant => $10) $$;

REVOKE ALL ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text), warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text), warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) TO warden_user;
COMMENT ON FUNCTION warden.log_event(text, text, double precision, text, jsonb, text, text, text) IS
    'warden.log_event with confidence as double precision (drivers send floats so), for calls naming confidence; same entry as the numeric form.';
COMMENT ON FUNCTION warden.log_event(text, text, text, text, jsonb, text, text, text, double precision, text) IS
    'warden.log_event with confidence as double precision (drivers send floats so), all positional; same entry as the numeric form.';

-- keyring (issue 9)
-- warden.keys shows check values to superusers and warden_admin only (NULL for everyone
-- else): a check value tests guesses of a low-entropy secret offline. Same columns.
CREATE OR REPLACE VIEW warden.keys AS
SELECT name,
       version,
       version = pg_catalog.max(version) OVER (PARTITION BY name) AS active,
       created_at,
       CASE WHEN pg_catalog.pg_has_role('warden_admin', 'USAGE') THEN check_value END AS check_value,
       CASE WHEN env_var IS NULL THEN 'stored' ELSE 'env:' || env_var END AS source
  FROM warden.key_store;
COMMENT ON VIEW warden.keys IS
    'Keys and versions; never key material. check_value (first 4 bytes of HMAC(key, ''check'')) is shown to superusers and warden_admin only, NULL for everyone else.';
-- Who may choose the audit key's material (superusers only), in the functions' comments.
COMMENT ON FUNCTION warden.create_key(text, bytea) IS
    'Creates version 1 of a named HMAC key and returns 1. NULL secret: 32 random bytes. Superusers and warden_admin only; only superusers may give the audit key (warden.audit_key) a secret.';
COMMENT ON FUNCTION warden.rotate_key(text, bytea) IS
    'Adds a new active version of a key and returns its number; older versions keep verifying. Superusers and warden_admin only; only superusers may give the audit key (warden.audit_key) a secret.';
COMMENT ON FUNCTION warden.create_key_from_env(text, text) IS
    'Creates version 1 of a key whose material stays in a WARDEN_* environment variable of the server; only the variable name is stored. Superusers and warden_admin only; superusers only for the audit key.';
COMMENT ON FUNCTION warden.rotate_key_from_env(text, text) IS
    'Adds a new active key version bound to a WARDEN_* environment variable of the server. Superusers and warden_admin only; superusers only for the audit key.';

-- ---------------------------------------------------------------------------------------
-- guards (issue 9)
-- The event triggers fire in every replication role and read the catalog with the
-- search path pinned (a temporary pg_class blinded them); the ledger may not become a
-- partition, child or parent, nor get policies or foreign-key triggers; capture
-- triggers change only through audit_table/unaudit_table, now C functions that tell the
-- guard so; DROP EXTENSION is refused while the ledger or keyring holds data; and
-- creating_extension() is true only for pg_warden's own script.
-- This script runs as an extension script, so the guards admit its own DDL.
CREATE OR REPLACE FUNCTION warden.audit_table(tbl regclass) RETURNS void
    VOLATILE STRICT
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_table_wrapper';
CREATE OR REPLACE FUNCTION warden.unaudit_table(tbl regclass) RETURNS void
    VOLATILE STRICT
    LANGUAGE c AS 'MODULE_PATHNAME', 'unaudit_table_wrapper';
CREATE FUNCTION warden.changing_capture() RETURNS bool
    VOLATILE STRICT PARALLEL SAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'changing_capture_wrapper';
CREATE FUNCTION warden.adding_partition() RETURNS bool
    VOLATILE STRICT PARALLEL SAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'adding_partition_wrapper';
CREATE FUNCTION warden.note_drop_check() RETURNS void
    VOLATILE STRICT PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'note_drop_check_wrapper';
CREATE OR REPLACE FUNCTION warden.audit_ddl_guard() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- The verification records (0.3.0) are looked up by name: absent while an update
    -- from 0.2.0 runs.
    ledger oid[] := ARRAY['warden.audit_log'::pg_catalog.regclass, 'warden.audit_checkpoint'::pg_catalog.regclass,
                          'warden.audit_log_id_seq'::pg_catalog.regclass,
                          pg_catalog.to_regclass('warden.audit_verification'),
                          pg_catalog.to_regclass('warden.audit_verification_id_seq'),
                          pg_catalog.to_regclass('warden.audit_ddl_changes'),
                          pg_catalog.to_regclass('warden.audit_ddl_changes_id_seq')];
    warden_schema oid := 'warden'::pg_catalog.regnamespace;
    capture oid := 'warden.audit_capture()'::pg_catalog.regprocedure;
    hit record;
BEGIN
    IF warden.creating_extension() THEN
        RETURN;
    END IF;
    -- Commands on the ledger tables and sequence themselves, their triggers, rules and
    -- policies.
    SELECT c.command_tag INTO hit
      FROM pg_catalog.pg_event_trigger_ddl_commands() c
      LEFT JOIN pg_catalog.pg_trigger t
        ON c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass AND t.oid OPERATOR(pg_catalog.=) c.objid
      LEFT JOIN pg_catalog.pg_rewrite r
        ON c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid OPERATOR(pg_catalog.=) c.objid
      LEFT JOIN pg_catalog.pg_policy p
        ON c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass AND p.oid OPERATOR(pg_catalog.=) c.objid
     WHERE COALESCE(t.tgrelid, r.ev_class, p.polrelid,
               CASE WHEN c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass THEN c.objid END)
           OPERATOR(pg_catalog.=) ANY (ledger)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the audit ledger cannot be altered (%)', hit.command_tag
            USING ERRCODE = '42501', HINT = 'warden.audit_log is append-only; its triggers and structure are fixed.';
    END IF;
    -- What the ledger is, whichever command changed it: ATTACH PARTITION and INHERITS
    -- name the other table, a foreign key referencing the ledger puts triggers on it,
    -- GRANT names no single object; the schema warden keeps its owner (pg_dump's
    -- ALTER SCHEMA ... OWNER TO the same owner passes) and nobody else may create in it.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits
                WHERE inhrelid OPERATOR(pg_catalog.=) ANY (ledger) OR inhparent OPERATOR(pg_catalog.=) ANY (ledger))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_class
                   WHERE oid OPERATOR(pg_catalog.=) ANY (ARRAY[ledger[1], ledger[2], ledger[4]])
                     AND (relkind OPERATOR(pg_catalog.<>) 'r' OR relispartition OR relrowsecurity OR relhasrules))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                   WHERE tgrelid OPERATOR(pg_catalog.=) ANY (ledger)
                     AND (tgenabled OPERATOR(pg_catalog.<>) 'A'
                          OR tgname OPERATOR(pg_catalog.<>) ALL (ARRAY['zz_audit_chain', 'audit_append_only', 'checkpoint_append_only',
                                                                       'verification_append_only', 'ddl_changes_append_only']::pg_catalog.name[])))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid OPERATOR(pg_catalog.=) ANY (ledger))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                   WHERE n.oid OPERATOR(pg_catalog.=) warden_schema
                     AND (n.nspowner OPERATOR(pg_catalog.<>) (SELECT relowner FROM pg_catalog.pg_class
                                                               WHERE oid OPERATOR(pg_catalog.=) ledger[1])
                          OR EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
                                      WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                                        AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner)))
    THEN
        RAISE EXCEPTION 'the audit ledger cannot become part of another table or get triggers, rules or policies, and its schema keeps its owner and privileges (%)', tg_tag
            USING ERRCODE = '42501', HINT = 'warden.audit_log, warden.audit_checkpoint and warden.audit_verification stand alone, with pg_warden''s triggers only.';
    END IF;
    IF warden.changing_capture() THEN
        RETURN;
    END IF;
    -- Capture triggers: no command may leave one on a relation it touched in any state
    -- but ENABLE ALWAYS (ALTER TABLE, ALTER FOREIGN TABLE, ...), ALTER TRIGGER may not
    -- touch one, except inside audit_table/unaudit_table.
    SELECT c.command_tag, t.tgname, t.tgrelid::pg_catalog.regclass AS tbl INTO hit
      FROM pg_catalog.pg_event_trigger_ddl_commands() c
      JOIN pg_catalog.pg_trigger t
        ON t.tgfoid OPERATOR(pg_catalog.=) capture
       AND ((c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
             AND t.tgrelid OPERATOR(pg_catalog.=) c.objid AND t.tgenabled OPERATOR(pg_catalog.<>) 'A')
         OR (c.command_tag OPERATOR(pg_catalog.=) 'ALTER TRIGGER'
             AND c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
             AND t.oid OPERATOR(pg_catalog.=) c.objid))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'capture of % cannot be changed by % (trigger %)', hit.tbl, hit.command_tag, hit.tgname
            USING ERRCODE = '42501',
                  HINT = 'Capture triggers change only through warden.audit_table and warden.unaudit_table, which record the change in the ledger.';
    END IF;
    -- An inheritance child of an audited table would change unseen: its rows are the
    -- parent's in every query, but the parent's row triggers do not fire for them.
    SELECT c.objid::pg_catalog.regclass AS child, i.inhparent::pg_catalog.regclass AS parent INTO hit
      FROM pg_catalog.pg_event_trigger_ddl_commands() c
      JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) c.objid
      JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND NOT k.relispartition
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                    WHERE t.tgrelid OPERATOR(pg_catalog.=) i.inhparent AND t.tgfoid OPERATOR(pg_catalog.=) capture)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% cannot inherit from the audited table %', hit.child, hit.parent
            USING ERRCODE = '42501',
                  HINT = 'Changes to an inheritance child are not captured; use partitioning, or audit the child table itself.';
    END IF;
    -- A new partition of an audited table (CREATE TABLE ... PARTITION OF, ATTACH
    -- PARTITION) gets capture of TRUNCATE: PostgreSQL clones row triggers onto it, not
    -- statement triggers, and TRUNCATE of a partition fires none of its parent's. Only
    -- for those commands (the ddl_command_start guard says which): a restore's ENABLE
    -- ALWAYS on the parent comes before its own CREATE TRIGGER on each partition.
    IF NOT warden.adding_partition() THEN
        RETURN;
    END IF;
    FOR hit IN
        SELECT DISTINCT p.relid::pg_catalog.regclass AS part
          FROM pg_catalog.pg_event_trigger_ddl_commands() c
         CROSS JOIN LATERAL pg_catalog.pg_partition_tree(c.objid::pg_catalog.regclass) p
          JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) p.relid
         WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND k.relispartition AND k.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[])
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                        WHERE t.tgrelid OPERATOR(pg_catalog.=) p.relid AND t.tgfoid OPERATOR(pg_catalog.=) capture
                          AND t.tgname OPERATOR(pg_catalog.=) 'warden_audit_row')
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid OPERATOR(pg_catalog.=) p.relid
                              AND t.tgname OPERATOR(pg_catalog.=) 'warden_audit_truncate')
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                               WHERE t.tgrelid OPERATOR(pg_catalog.=) hit.part
                                 AND t.tgname OPERATOR(pg_catalog.=) 'warden_audit_truncate');
        EXECUTE pg_catalog.format('CREATE TRIGGER warden_audit_truncate AFTER TRUNCATE ON %s '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_capture()', hit.part);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER warden_audit_truncate', hit.part);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION warden.audit_drop_guard() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    hit record;
BEGIN
    IF warden.creating_extension()
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects()
                   WHERE object_type OPERATOR(pg_catalog.=) 'extension' AND object_name OPERATOR(pg_catalog.=) 'pg_warden') THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects()
                WHERE (object_type OPERATOR(pg_catalog.=) 'table' AND schema_name OPERATOR(pg_catalog.=) 'warden'
                       AND object_name OPERATOR(pg_catalog.=) ANY (ARRAY['audit_log', 'audit_checkpoint', 'audit_verification', 'audit_ddl_changes']))
                   OR (object_type OPERATOR(pg_catalog.=) ANY (ARRAY['trigger', 'rule', 'policy'])
                       AND object_identity OPERATOR(pg_catalog.~) ' on warden\.audit_(log|checkpoint|verification|ddl_changes)$')) THEN
        RAISE EXCEPTION 'the audit ledger cannot be dropped'
            USING ERRCODE = '42501', HINT = 'Only DROP EXTENSION pg_warden removes the ledger.';
    END IF;
    IF warden.changing_capture() THEN
        RETURN;
    END IF;
    -- A capture trigger goes only with its table, or through unaudit_table.
    SELECT d.object_identity INTO hit
      FROM pg_catalog.pg_event_trigger_dropped_objects() d
     WHERE d.object_type OPERATOR(pg_catalog.=) 'trigger'
       AND d.address_names[3] OPERATOR(pg_catalog.=) ANY (ARRAY['warden_audit_row', 'warden_audit_truncate'])
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() t
                        WHERE t.object_type OPERATOR(pg_catalog.=) ANY (ARRAY['table', 'foreign table'])
                          AND t.address_names OPERATOR(pg_catalog.=) d.address_names[1:2])
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'capture trigger % cannot be dropped', hit.object_identity
            USING ERRCODE = '42501',
                  HINT = 'Stop capturing a table with warden.unaudit_table, which records the change in the ledger.';
    END IF;
END
$$;

CREATE FUNCTION warden.audit_drop_check() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM warden.note_drop_check();
END
$$;

CREATE EVENT TRIGGER warden_audit_drop_check ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION warden.audit_drop_check();
ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER warden_audit_drop_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER warden_audit_drop_check ENABLE ALWAYS;
REVOKE ALL ON FUNCTION warden.audit_drop_check() FROM PUBLIC;
COMMENT ON FUNCTION warden.audit_ddl_guard() IS
    'Internal: event trigger refusing DDL that changes the ledger tables or switches a table''s capture off.';
COMMENT ON FUNCTION warden.audit_drop_guard() IS
    'Internal: event trigger refusing to drop the ledger, its triggers or a capture trigger outside DROP EXTENSION and unaudit_table.';
COMMENT ON FUNCTION warden.audit_drop_check() IS
    'Internal: event trigger loading pg_warden before a DROP that could remove it, so its drop check applies.';
COMMENT ON FUNCTION warden.creating_extension() IS
    'Internal: true while pg_warden''s own extension script runs (lets the DDL guard admit it, and no other extension''s).';
COMMENT ON FUNCTION warden.adding_partition() IS
    'Internal: true while the present DDL command creates or attaches a partition (the DDL guard then gives new partitions of audited tables capture of TRUNCATE).';
COMMENT ON FUNCTION warden.changing_capture() IS
    'Internal: true while audit_table or unaudit_table changes capture triggers (the DDL guard admits only those changes).';
COMMENT ON FUNCTION warden.note_drop_check() IS
    'Internal: loads pg_warden before a DROP that could remove it, so its check (no ledger, checkpoint or key is dropped while it holds a row) applies in every session.';
-- Before every DDL command: refuses, before it runs, a command that would replace,
-- rename, re-own or move one of pg_warden's own objects (the guards above included),
-- or add functions to schema warden. A C function: the check cannot be replaced by the
-- command it checks.
CREATE FUNCTION warden.audit_ddl_start() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_ddl_start';
CREATE EVENT TRIGGER warden_audit_ddl_start ON ddl_command_start
    EXECUTE FUNCTION warden.audit_ddl_start();
ALTER EVENT TRIGGER warden_audit_ddl_start ENABLE ALWAYS;
REVOKE ALL ON FUNCTION warden.audit_ddl_start() FROM PUBLIC;
COMMENT ON FUNCTION warden.audit_ddl_start() IS
    'Internal: event trigger refusing, before they run, commands that would replace, rename, re-own or move pg_warden''s own objects.';

-- comments (issue 10)
COMMENT ON SCHEMA warden IS
    'pg_warden: keyring, keyed fingerprints, deterministic anonymization and the tamper-evident audit ledger.';
COMMENT ON COLUMN warden.audit_log.id IS
    'Entry id, taken from the identity sequence by the chain trigger: unique and increasing, not contiguous. Chains are walked by (chain_id, chain_pos), never by id.';
COMMENT ON COLUMN warden.audit_log.ts IS
    'When the entry was written (clock time), set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.event_type IS
    'Kind of event, as the writer gives it (row_change or table_truncate for a captured table).';
COMMENT ON COLUMN warden.audit_log.action IS
    'What was done, as the writer gives it (INSERT, UPDATE, DELETE or TRUNCATE for a captured table).';
COMMENT ON COLUMN warden.audit_log.actor IS
    'Who acted, as the writer gives it; the session user when NULL.';
COMMENT ON COLUMN warden.audit_log.resource_type IS
    'Kind of resource acted on, as the writer gives it (the schema-qualified table for a captured row).';
COMMENT ON COLUMN warden.audit_log.resource_id IS
    'The resource acted on, as the writer gives it (the primary key for a captured row).';
COMMENT ON COLUMN warden.audit_log.correlation_id IS
    'Writer-supplied id tying related entries together, such as a request or job id.';
COMMENT ON COLUMN warden.audit_log.tenant IS
    'Writer-supplied tenant the event belongs to.';
COMMENT ON COLUMN warden.audit_log.reason IS
    'Writer-supplied reason for the action.';
COMMENT ON COLUMN warden.audit_log.confidence IS
    'Writer-supplied confidence from 0 to 1, checked by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.details IS
    'Writer-supplied JSON; secret-named fields are replaced by fingerprints under the audit key.';
COMMENT ON COLUMN warden.audit_log.before_state IS
    'A captured row before UPDATE or DELETE, secret-named columns fingerprinted.';
COMMENT ON COLUMN warden.audit_log.after_state IS
    'A captured row after INSERT or UPDATE, secret-named columns fingerprinted.';
COMMENT ON COLUMN warden.audit_log.session_user_name IS
    'Session user of the writing session, set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.application_name IS
    'application_name of the writing session, set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.client_addr IS
    'Client address of the writing session (NULL over a Unix socket), set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.txid IS
    'Top-level transaction id of the writing transaction, set by the chain trigger.';
COMMENT ON COLUMN warden.audit_log.chain_id IS
    'Chain the entry is on; a backend leases one chain at a time, so writers never wait for each other.';
COMMENT ON COLUMN warden.audit_log.chain_pos IS
    'Position on the chain, from 1; unique with chain_id.';
COMMENT ON COLUMN warden.audit_log.prev_hash IS
    'entry_hash of the previous position on the chain: 32 zero bytes at position 1, the checkpoint''s entry_hash after a purge.';
COMMENT ON COLUMN warden.audit_log.entry_hash IS
    'SHA-256 over the canonical encoding of the content columns (id to txid), chain_id, chain_pos and prev_hash (docs/audit.md).';
COMMENT ON COLUMN warden.audit_log.key_name IS
    'Keyring key that signed the entry.';
COMMENT ON COLUMN warden.audit_log.key_version IS
    'Version of key_name that signed the entry.';
COMMENT ON COLUMN warden.audit_log.signature IS
    'HMAC-SHA256 of entry_hash under key_name, version key_version.';
COMMENT ON COLUMN warden.audit_checkpoint.chain_id IS
    'Chain whose oldest entries were purged.';
COMMENT ON COLUMN warden.audit_checkpoint.chain_pos IS
    'Last purged position; the chain''s first remaining entry links to it.';
COMMENT ON COLUMN warden.audit_checkpoint.entry_hash IS
    'entry_hash of the purged entry at chain_pos.';
COMMENT ON COLUMN warden.audit_checkpoint.created_at IS
    'When the purge made the checkpoint.';
COMMENT ON COLUMN warden.audit_checkpoint.key_name IS
    'Keyring key that signed the checkpoint.';
COMMENT ON COLUMN warden.audit_checkpoint.key_version IS
    'Version of key_name that signed the checkpoint.';
COMMENT ON COLUMN warden.audit_checkpoint.signature IS
    'HMAC-SHA256 of the checkpoint''s canonical encoding under key_name, version key_version.';
COMMENT ON EVENT TRIGGER warden_audit_ddl_guard IS
    'pg_warden: after DDL, refuses changes to the ledger tables and switching a table''s capture off.';
COMMENT ON EVENT TRIGGER warden_audit_drop_guard IS
    'pg_warden: refuses dropping the ledger, its triggers or a capture trigger outside DROP EXTENSION and unaudit_table.';
COMMENT ON EVENT TRIGGER warden_audit_drop_check IS
    'pg_warden: loads pg_warden before DROP EXTENSION, DROP SCHEMA or DROP OWNED, so its check (no ledger, checkpoint or key is dropped while it holds a row) applies.';
COMMENT ON EVENT TRIGGER warden_audit_ddl_start IS
    'pg_warden: before DDL, refuses commands that would replace, rename, re-own or move pg_warden''s own objects, or add functions to schema warden.';

-- Partitions of tables audited under 0.2.0 get capture of TRUNCATE, as audit_table
-- gives them in 0.3.0 (PostgreSQL does not clone statement triggers, and TRUNCATE of a
-- partition fires none of its parent's).
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT DISTINCT p.relid::regclass
          FROM pg_catalog.pg_trigger t
         CROSS JOIN LATERAL pg_catalog.pg_partition_tree(t.tgrelid) p
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid
         WHERE t.tgfoid OPERATOR(pg_catalog.=) 'warden.audit_capture()'::pg_catalog.regprocedure
           AND t.tgname OPERATOR(pg_catalog.=) 'warden_audit_row' AND t.tgparentid OPERATOR(pg_catalog.=) 0
           AND p.level OPERATOR(pg_catalog.>) 0 AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[])
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger x
                            WHERE x.tgrelid OPERATOR(pg_catalog.=) p.relid
                              AND x.tgname OPERATOR(pg_catalog.=) 'warden_audit_truncate')
    LOOP
        EXECUTE pg_catalog.format('CREATE TRIGGER warden_audit_truncate AFTER TRUNCATE ON %s '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_capture()', part);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER warden_audit_truncate', part);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------
-- vault (issue 11)
-- Secrets encrypted under a master key from the server's environment; keyring material
-- sealed under the same key (new columns of warden.key_store, one of secret, env_var or
-- sealed set); key rotation policies and the age of each key in warden.keys; a role
-- that manages secrets.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'warden_secret_admin') THEN
        CREATE ROLE warden_secret_admin NOLOGIN;
    END IF;
END
$$;

ALTER TABLE warden.key_store
    ADD COLUMN wrapped_key bytea,
    ADD COLUMN sealed bytea,
    DROP CONSTRAINT key_store_check,
    ADD CONSTRAINT key_store_check CHECK (pg_catalog.num_nonnulls(secret, env_var, sealed) = 1),
    ADD CONSTRAINT key_store_sealed_check CHECK ((wrapped_key IS NULL) = (sealed IS NULL));
-- ANALYZE copies column values into pg_statistic, where sealing the keyring cannot reach
-- them: the column that holds plaintext material is never analyzed, and what an earlier
-- ANALYZE took from it goes (ANALYZE takes the other columns' statistics again).
ALTER TABLE warden.key_store ALTER COLUMN secret SET STATISTICS 0;
DELETE FROM pg_catalog.pg_statistic WHERE starelid OPERATOR(pg_catalog.=) 'warden.key_store'::pg_catalog.regclass;
COMMENT ON COLUMN warden.key_store.secret IS
    'Key material in plaintext: only while no vault master key is configured; warden.rewrap_vault() seals it.';
COMMENT ON COLUMN warden.key_store.sealed IS
    'Key material encrypted under wrapped_key (XChaCha20-Poly1305, bound to name and version).';
COMMENT ON COLUMN warden.key_store.wrapped_key IS
    'The data key of sealed, wrapped under the key-encryption key derived from the vault master key.';

CREATE TABLE warden.key_policy (
    name         text        PRIMARY KEY,
    rotate_every interval    NOT NULL CHECK (rotate_every > '0'::interval),
    set_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    set_by       name        NOT NULL DEFAULT session_user
);
REVOKE ALL ON warden.key_policy FROM PUBLIC;
-- Key officers read the policies (pg_dump, as warden_admin, dumps them).
GRANT SELECT ON warden.key_policy TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.key_policy', '');
COMMENT ON TABLE warden.key_policy IS
    'How often each key should be rotated (warden.set_key_policy); warden.keys shows whether rotation is due.';

CREATE OR REPLACE VIEW warden.keys AS
SELECT name,
       version,
       version = pg_catalog.max(version) OVER (PARTITION BY name) AS active,
       created_at,
       CASE WHEN pg_catalog.pg_has_role('warden_admin', 'USAGE') THEN check_value END AS check_value,
       CASE WHEN env_var IS NOT NULL THEN 'env:' || env_var
            WHEN sealed IS NOT NULL THEN 'sealed'
            ELSE 'stored' END AS source,
       pg_catalog.now() OPERATOR(pg_catalog.-) created_at AS age,
       (SELECT p.rotate_every FROM warden.key_policy p WHERE p.name OPERATOR(pg_catalog.=) k.name) AS rotate_every,
       COALESCE(version = pg_catalog.max(version) OVER (PARTITION BY name)
                AND created_at OPERATOR(pg_catalog.+)
                    (SELECT p.rotate_every FROM warden.key_policy p WHERE p.name OPERATOR(pg_catalog.=) k.name)
                    OPERATOR(pg_catalog.<=) pg_catalog.now(), false) AS rotation_due
  FROM warden.key_store k;
COMMENT ON VIEW warden.keys IS
    'Keys and versions; never key material. source: stored (plaintext, no master key yet), sealed (under the vault master key) or env:VAR. age, rotate_every (warden.set_key_policy) and rotation_due (active version older than rotate_every). check_value (first 4 bytes of HMAC(key, ''check'')) is shown to superusers and warden_admin only, NULL for everyone else.';

CREATE FUNCTION warden.create_secret(name text, value text, tenant text DEFAULT NULL,
        expires_at timestamptz DEFAULT NULL, metadata jsonb DEFAULT NULL, description text DEFAULT NULL)
    RETURNS uuid VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'create_secret_wrapper';
CREATE FUNCTION warden.create_secret(name text, value bytea, tenant text DEFAULT NULL,
        expires_at timestamptz DEFAULT NULL, metadata jsonb DEFAULT NULL, description text DEFAULT NULL)
    RETURNS uuid VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'create_secret_bytes_wrapper';
CREATE FUNCTION warden.rotate_secret(secret_ref uuid, value text, expires_at timestamptz DEFAULT NULL)
    RETURNS integer VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'rotate_secret_wrapper';
CREATE FUNCTION warden.rotate_secret(secret_ref uuid, value bytea, expires_at timestamptz DEFAULT NULL)
    RETURNS integer VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'rotate_secret_bytes_wrapper';
CREATE FUNCTION warden.retire_secret_version(secret_ref uuid, version integer)
    RETURNS void STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'retire_secret_version_wrapper';
CREATE FUNCTION warden.delete_secret(secret_ref uuid)
    RETURNS void STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'delete_secret_wrapper';
CREATE FUNCTION warden.get_secret(secret_ref uuid, version integer DEFAULT NULL)
    RETURNS text VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'get_secret_wrapper';
CREATE FUNCTION warden.get_secret(name text, tenant text DEFAULT NULL)
    RETURNS text VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'get_secret_by_name_wrapper';
CREATE FUNCTION warden.get_secret_bytes(secret_ref uuid, version integer DEFAULT NULL)
    RETURNS bytea VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'get_secret_bytes_wrapper';
CREATE FUNCTION warden.rewrap_vault()
    RETURNS jsonb STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'rewrap_vault_wrapper';
CREATE FUNCTION warden.vault_status()
    RETURNS jsonb STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'vault_status_wrapper';
CREATE FUNCTION warden.set_key_policy(name text, rotate_every interval)
    RETURNS void VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'set_key_policy_wrapper';
CREATE FUNCTION warden.rotate_due_keys()
    RETURNS integer STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'rotate_due_keys_wrapper';

REVOKE ALL ON FUNCTION warden.set_key_policy(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.set_key_policy(text, interval) TO warden_admin;
REVOKE ALL ON FUNCTION warden.rotate_due_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.rotate_due_keys() TO warden_admin;
COMMENT ON FUNCTION warden.set_key_policy(text, interval) IS
    'Sets how often a key should be rotated (NULL removes the policy); warden.keys shows age and rotation_due. Superusers and warden_admin.';
COMMENT ON FUNCTION warden.rotate_due_keys() IS
    'Rotates, with generated material, every key whose policy says rotation is due and returns how many (keys bound to environment variables are named in a NOTICE instead). Schedule it with pg_cron. Superusers and warden_admin.';

-- One row once the vault is first used: which master key the data keys are wrapped
-- under, as a check value (HMAC under a key derived from it), and, for a passphrase,
-- the Argon2id parameters and salt.
CREATE TABLE warden.vault_state (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    check_value  bytea       NOT NULL,
    kdf          text,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    rewrapped_at timestamptz
);
REVOKE ALL ON warden.vault_state FROM PUBLIC;
COMMENT ON TABLE warden.vault_state IS
    'The vault''s master key check value and, for a passphrase, its Argon2id parameters and salt; no key material.';
COMMENT ON COLUMN warden.vault_state.check_value IS
    'HMAC-SHA256 under a key derived from the master key: tells a wrong master key from a tampered ciphertext.';
COMMENT ON COLUMN warden.vault_state.kdf IS
    'Argon2id parameters and salt (argon2id$v=19$m=...,t=...,p=...$salt) when the master key is a passphrase; NULL for a raw key.';

CREATE TABLE warden.secret (
    secret_ref     uuid        PRIMARY KEY,
    tenant         text        CHECK (tenant <> ''),
    name           text        NOT NULL CHECK (name <> ''),
    description    text,
    metadata       jsonb,
    wrapped_key    bytea       NOT NULL,
    active_version integer     NOT NULL CHECK (active_version > 0),
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by     name        NOT NULL DEFAULT session_user,
    rotated_at     timestamptz
);
-- (tenant, name) is unique, NULL tenant included ('' is refused, so it cannot collide).
CREATE UNIQUE INDEX secret_tenant_name ON warden.secret (COALESCE(tenant, ''), name);
REVOKE ALL ON warden.secret FROM PUBLIC;
COMMENT ON TABLE warden.secret IS
    'Vault secrets: reference, tenant, name and the data key wrapped under the master key. Use warden.secrets to list them.';
COMMENT ON COLUMN warden.secret.wrapped_key IS
    'The secret''s data key, XChaCha20-Poly1305 under the key-encryption key derived from the master key, bound to reference, tenant and name.';

CREATE TABLE warden.secret_version (
    secret_ref uuid        NOT NULL REFERENCES warden.secret (secret_ref),
    version    integer     NOT NULL CHECK (version > 0),
    ciphertext bytea       NOT NULL,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by name        NOT NULL DEFAULT session_user,
    PRIMARY KEY (secret_ref, version)
);
REVOKE ALL ON warden.secret_version FROM PUBLIC;
COMMENT ON TABLE warden.secret_version IS
    'Each version of each secret, encrypted under the secret''s data key and bound to its reference, tenant, name and version.';

-- Who may read a secret, by role name: grants survive pg_dump and restore onto another
-- cluster (role oids do not). Revoke before dropping a role.
CREATE TABLE warden.secret_grant (
    secret_ref uuid        NOT NULL REFERENCES warden.secret (secret_ref),
    grantee    name        NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    granted_by name        NOT NULL DEFAULT session_user,
    PRIMARY KEY (secret_ref, grantee)
);
REVOKE ALL ON warden.secret_grant FROM PUBLIC;
COMMENT ON TABLE warden.secret_grant IS
    'Roles that may read a secret with warden.get_secret, by name. Nobody else may, superusers included.';

-- Ciphertexts only: backups keep the vault, readable again under the same master key.
SELECT pg_catalog.pg_extension_config_dump('warden.vault_state', '');
SELECT pg_catalog.pg_extension_config_dump('warden.secret', '');
SELECT pg_catalog.pg_extension_config_dump('warden.secret_version', '');
SELECT pg_catalog.pg_extension_config_dump('warden.secret_grant', '');
-- Key versions that hold no plaintext (sealed, or bound to an environment variable) go
-- into dumps too, so a restore onto a server with the same master key is complete. A
-- plaintext key (no master key yet) is never dumped.
SELECT pg_catalog.pg_extension_config_dump('warden.key_store', 'WHERE secret IS NULL');

-- Secrets without values: reference, names, versions, times and readers.
CREATE VIEW warden.secrets AS
SELECT s.secret_ref,
       s.tenant,
       s.name,
       s.active_version,
       s.created_at,
       s.rotated_at,
       v.expires_at,
       s.metadata,
       s.description,
       ARRAY(SELECT g.grantee FROM warden.secret_grant g
              WHERE g.secret_ref OPERATOR(pg_catalog.=) s.secret_ref ORDER BY g.grantee) AS readers
  FROM warden.secret s
  JOIN warden.secret_version v
    ON v.secret_ref OPERATOR(pg_catalog.=) s.secret_ref
   AND v.version OPERATOR(pg_catalog.=) s.active_version;
REVOKE ALL ON warden.secrets FROM PUBLIC;
GRANT SELECT ON warden.secrets TO warden_secret_admin;
COMMENT ON VIEW warden.secrets IS
    'Every secret: reference, tenant, name, active version, created/rotated/expires times, metadata, description and readers. Never values or ciphertexts. Superusers and warden_secret_admin.';

-- SECURITY DEFINER: older versions' expiry is in warden.secret_version, which only the
-- owner reads; the function shows no more than warden.secrets does (no value, no
-- ciphertext), and EXECUTE gates it as SELECT gates the view. Every name is qualified
-- and nothing of the caller's is resolved (explicit OPERATOR()s all bind alike, hence
-- the parentheses).
CREATE FUNCTION warden.expiring_secrets(within interval)
RETURNS TABLE (secret_ref uuid, tenant text, name text, version integer, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT v.secret_ref, s.tenant, s.name, v.version, v.expires_at
      FROM warden.secrets s
      JOIN warden.secret_version v ON v.secret_ref OPERATOR(pg_catalog.=) s.secret_ref
     WHERE v.expires_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.+) within)
     ORDER BY v.expires_at, s.tenant NULLS FIRST, s.name, v.version
$$;
REVOKE ALL ON FUNCTION warden.expiring_secrets(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.expiring_secrets(interval) TO warden_secret_admin;
COMMENT ON FUNCTION warden.expiring_secrets(interval) IS
    'Secret versions (older ones included) that have expired or expire within the interval, soonest first. Superusers and warden_secret_admin (EXECUTE).';

-- grant_secret / revoke_secret take a regrole; the C function reads it as an oid.
CREATE FUNCTION warden.grant_secret(secret_ref uuid, role regrole) RETURNS void
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'grant_secret_wrapper';
CREATE FUNCTION warden.revoke_secret(secret_ref uuid, role regrole) RETURNS void
    LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'revoke_secret_wrapper';

-- Managing secrets: superusers and warden_secret_admin (checked inside as well).
REVOKE ALL ON FUNCTION warden.create_secret(text, text, text, timestamptz, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.create_secret(text, bytea, text, timestamptz, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.rotate_secret(uuid, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.rotate_secret(uuid, bytea, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.retire_secret_version(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.delete_secret(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.grant_secret(uuid, regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.revoke_secret(uuid, regrole) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.create_secret(text, text, text, timestamptz, jsonb, text) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.create_secret(text, bytea, text, timestamptz, jsonb, text) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.rotate_secret(uuid, text, timestamptz) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.rotate_secret(uuid, bytea, timestamptz) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.retire_secret_version(uuid, integer) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.delete_secret(uuid) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.grant_secret(uuid, regrole) TO warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.revoke_secret(uuid, regrole) TO warden_secret_admin;

-- Reading: warden_user, and then only secrets granted to the caller (checked inside;
-- every read, granted or refused, goes to the ledger).
REVOKE ALL ON FUNCTION warden.get_secret(uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.get_secret(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.get_secret_bytes(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.get_secret(uuid, integer) TO warden_user, warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.get_secret(text, text) TO warden_user, warden_secret_admin;
GRANT EXECUTE ON FUNCTION warden.get_secret_bytes(uuid, integer) TO warden_user, warden_secret_admin;

-- The master key: superusers and warden_admin.
REVOKE ALL ON FUNCTION warden.rewrap_vault() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.rewrap_vault() TO warden_admin;
REVOKE ALL ON FUNCTION warden.vault_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.vault_status() TO warden_admin, warden_secret_admin;

COMMENT ON FUNCTION warden.create_secret(text, text, text, timestamptz, jsonb, text) IS
    'Stores a secret (version 1) encrypted under the master key and returns its secret_ref. (tenant, name) is unique. Superusers and warden_secret_admin; nobody may read it until warden.grant_secret.';
COMMENT ON FUNCTION warden.create_secret(text, bytea, text, timestamptz, jsonb, text) IS
    'Stores a binary secret (version 1) encrypted under the master key and returns its secret_ref; read it with warden.get_secret_bytes.';
COMMENT ON FUNCTION warden.rotate_secret(uuid, text, timestamptz) IS
    'Adds a new active version of a secret and returns its number; older versions stay readable by number until retired.';
COMMENT ON FUNCTION warden.rotate_secret(uuid, bytea, timestamptz) IS
    'Adds a new active binary version of a secret and returns its number.';
COMMENT ON FUNCTION warden.retire_secret_version(uuid, integer) IS
    'Destroys one older version of a secret; the active version cannot be retired (rotate first, or delete the secret).';
COMMENT ON FUNCTION warden.delete_secret(uuid) IS
    'Destroys a secret: every version, its grants and its data key.';
COMMENT ON FUNCTION warden.grant_secret(uuid, regrole) IS
    'Lets a role (and the roles that have its privileges) read one secret with warden.get_secret.';
COMMENT ON FUNCTION warden.revoke_secret(uuid, regrole) IS
    'Takes back a role''s read access to one secret.';
COMMENT ON FUNCTION warden.get_secret(uuid, integer) IS
    'The active (or given) version of a secret, decrypted, for a role it is granted to. Every read, granted or refused, is recorded in the audit ledger; refused in read-only transactions and on standbys, where it could not be.';
COMMENT ON FUNCTION warden.get_secret(text, text) IS
    'The active version of the secret named name (in tenant, NULL for none), decrypted, for a role it is granted to; recorded in the audit ledger like get_secret(uuid).';
COMMENT ON FUNCTION warden.get_secret_bytes(uuid, integer) IS
    'The active (or given) version of a secret as bytea (for binary secrets); granted and recorded like get_secret.';
COMMENT ON FUNCTION warden.rewrap_vault() IS
    'Rewraps every data key under the master key in WARDEN_MASTER_KEY (after a change, the old one in WARDEN_MASTER_KEY_PREVIOUS) and seals plaintext keyring keys; atomic and idempotent; returns what it did. Superusers and warden_admin.';
COMMENT ON FUNCTION warden.vault_status() IS
    'Whether a master key is configured and matches the vault, how many secrets and keyring keys are sealed and how many keys are still stored in plaintext.';

-- Verification records and incremental verification (issue 14). verify_audit(jsonb)
-- keeps its C symbol; the library now verifies from the digest on.
-- Every verification and its outcome. A valid one that read everything up to the heads
-- it reached (a full one, or an incremental one that started from the previous through)
-- keeps them, signed, in through (a digest: pg_warden-digest-v1): the next incremental
-- verification starts there. A digest from audit_digest() signs heads nobody verified,
-- so a run from one records none. Written only by verify_audit as the extension's owner;
-- a through edited by hand fails its signature.
CREATE TABLE warden.audit_verification (
    id              bigint      GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    started_at      timestamptz NOT NULL,
    duration        interval    NOT NULL,
    mode            text        NOT NULL CHECK (mode IN ('full', 'incremental')),
    valid           boolean     NOT NULL,
    entries_checked bigint      NOT NULL,
    invalid_entries bigint      NOT NULL,
    verified_by     text        NOT NULL,
    through         jsonb,
    workers         integer     NOT NULL DEFAULT 0,
    redacted_entries bigint     NOT NULL DEFAULT 0
);
REVOKE ALL ON warden.audit_verification FROM PUBLIC;
GRANT SELECT ON warden.audit_verification TO warden_admin;
-- Key officers' dumps carry the records, and so the sequence's position.
GRANT SELECT ON SEQUENCE warden.audit_verification_id_seq TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_verification', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_verification_id_seq', '');
-- Append-only as the ledger: a deleted or edited record would move where the next
-- verification starts, and which heads a full one requires.
CREATE TRIGGER verification_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON warden.audit_verification
    FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_guard();
ALTER TABLE warden.audit_verification ENABLE ALWAYS TRIGGER verification_append_only;
CREATE FUNCTION warden.verify_audit(digest jsonb, full boolean)
    RETURNS TABLE (valid boolean, total_entries bigint, invalid_entries bigint, issues jsonb)
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'verify_audit_digest_full_wrapper';
REVOKE ALL ON FUNCTION warden.verify_audit(jsonb, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.verify_audit(jsonb, boolean) TO warden_admin;
COMMENT ON FUNCTION warden.verify_audit(jsonb, boolean) IS
    'With a digest: full => true reads every entry and checks the chains against it, false is verify_audit(digest). With NULL: full => true is verify_audit(); false verifies incrementally from the latest valid verification recorded in warden.audit_verification (in full when there is none).';
COMMENT ON TABLE warden.audit_verification IS
    'Every verify_audit run: when, how long, full or incremental, the outcome, and for a valid one the signed heads it verified through.';
COMMENT ON COLUMN warden.audit_verification.workers IS
    'Parallel workers that read alongside the verifying backend (0: one process).';
COMMENT ON COLUMN warden.audit_verification.redacted_entries IS
    'Entries read that verified as valid and redacted: fields erased by warden.redact_audit or warden.erase_subject, each covered by a redaction record.';
COMMENT ON COLUMN warden.audit_verification.through IS
    'Signed heads of every chain this valid verification reached, when it read everything up to them (a full run, or an incremental one from the previous through): where the next incremental verification starts.';
COMMENT ON COLUMN warden.audit_verification.entries_checked IS
    'Entries read: all of them for a full verification, those from the heads on for an incremental one.';
COMMENT ON FUNCTION warden.verify_audit(jsonb) IS
    'Incremental verification from a signed digest (warden.audit_digest(), or a through of warden.audit_verification): each head must be unchanged, everything after it must verify; verify_audit(digest, full => true) also re-reads what it covered.';

-- The ledger's Merkle tree and status (issue 14).
CREATE FUNCTION warden.advance_audit_tree(max_entries integer DEFAULT 100000)
    RETURNS bigint STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'advance_audit_tree_wrapper';
CREATE FUNCTION warden.audit_proof(entry_id bigint, tree_size bigint DEFAULT NULL)
    RETURNS jsonb VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_proof_wrapper';
CREATE FUNCTION warden.audit_consistency(old_size bigint, new_size bigint)
    RETURNS jsonb STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_consistency_wrapper';
-- The ledger's Merkle tree (RFC 9162) over entries in ascending id order, built behind
-- the writers by warden.advance_audit_tree() (src/audit/tree.rs), and the ledger's
-- status. Heads are signed with the audit key; a proof reads a few nodes and at most two
-- blocks of leaves.
CREATE TABLE warden.audit_tree_leaves (
    block    bigint   PRIMARY KEY,
    first_id bigint   NOT NULL UNIQUE,
    ids      bigint[] NOT NULL,
    hashes   bytea    NOT NULL
);
CREATE TABLE warden.audit_tree_node (
    level smallint NOT NULL,
    idx   bigint   NOT NULL,
    hash  bytea    NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE warden.audit_tree_head (
    tree_size   bigint      PRIMARY KEY,
    root        bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    key_name    text        NOT NULL,
    key_version integer     NOT NULL,
    signature   bytea       NOT NULL,
    last_id     bigint      NOT NULL,
    frontier    bytea       NOT NULL
);
REVOKE ALL ON warden.audit_tree_leaves, warden.audit_tree_node, warden.audit_tree_head FROM PUBLIC;
GRANT SELECT ON warden.audit_tree_leaves, warden.audit_tree_node, warden.audit_tree_head TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_tree_leaves', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_tree_node', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_tree_head', '');

-- One row: what the ledger holds, who writes to it, how far the tree and verification
-- have come. Reads indexes only (no count over the ledger).
CREATE FUNCTION warden.audit_status(
    OUT last_id bigint, OUT entries_estimate bigint, OUT chains integer, OUT active_leases integer,
    OUT oldest_entry timestamptz, OUT newest_entry timestamptz,
    OUT tree_size bigint, OUT tree_last_id bigint, OUT tree_head_at timestamptz, OUT tree_lag bigint,
    OUT last_full_verification timestamptz, OUT last_full_valid boolean, OUT last_full_duration interval,
    OUT last_incremental_verification timestamptz, OUT last_incremental_valid boolean,
    OUT last_incremental_duration interval)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH RECURSIVE c(chain_id) AS (
    SELECT min(chain_id) FROM warden.audit_log
    UNION ALL
    SELECT (SELECT min(a.chain_id) FROM warden.audit_log a WHERE a.chain_id > c.chain_id)
      FROM c WHERE c.chain_id IS NOT NULL),
head AS (SELECT * FROM warden.audit_tree_head ORDER BY tree_size DESC LIMIT 1),
-- max(id), not the sequence: a standby's sequence runs ahead of what was used.
seq AS (SELECT max(id) AS v FROM warden.audit_log),
f AS (SELECT * FROM warden.audit_verification WHERE mode = 'full' ORDER BY id DESC LIMIT 1),
i AS (SELECT * FROM warden.audit_verification WHERE mode = 'incremental' ORDER BY id DESC LIMIT 1)
SELECT (SELECT v FROM seq),
       (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'warden.audit_log'::regclass),
       (SELECT count(*)::integer FROM c WHERE chain_id IS NOT NULL),
       (SELECT count(*)::integer FROM pg_locks WHERE locktype = 'advisory' AND classid = 2003874404
           AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND objid::bigint < 2147483648 AND granted),
       (SELECT min(ts) FROM warden.audit_log), (SELECT max(ts) FROM warden.audit_log),
       (SELECT tree_size FROM head), (SELECT head.last_id FROM head), (SELECT created_at FROM head),
       (SELECT greatest(coalesce((SELECT v FROM seq), 0) - coalesce((SELECT head.last_id FROM head), 0), 0)),
       (SELECT started_at FROM f), (SELECT valid FROM f), (SELECT duration FROM f),
       (SELECT started_at FROM i), (SELECT valid FROM i), (SELECT duration FROM i)
$$;
REVOKE ALL ON FUNCTION warden.audit_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.advance_audit_tree(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_proof(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_consistency(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_status(), warden.advance_audit_tree(integer),
    warden.audit_proof(bigint, bigint), warden.audit_consistency(bigint, bigint) TO warden_admin;

COMMENT ON TABLE warden.audit_tree_leaves IS
    'Leaf hashes of the ledger''s Merkle tree, 256 to a block, with the entry ids they are of (leaf i: the i-th smallest id).';
COMMENT ON TABLE warden.audit_tree_node IS
    'Roots of the perfect subtrees of 256 leaves and more, stored as they complete: what proofs are built from.';
COMMENT ON TABLE warden.audit_tree_head IS
    'Signed tree heads, one per warden.advance_audit_tree() round that grew the tree, with the frontier the next round continues from.';
COMMENT ON FUNCTION warden.advance_audit_tree(integer) IS
    'Appends the entries no running transaction can still add below (at most max_entries) to the ledger''s Merkle tree and signs its new head; returns the tree size. Run it on a schedule (pg_cron); writers never wait for it.';
COMMENT ON FUNCTION warden.audit_proof(bigint, bigint) IS
    'The entry, its leaf index and its RFC 9162 inclusion proof against the signed tree head of tree_size leaves (the latest when NULL): pg_warden-inclusion-proof-v1, checked offline by warden-verify --proof.';
COMMENT ON FUNCTION warden.audit_consistency(bigint, bigint) IS
    'RFC 9162 consistency proof that the signed tree of old_size leaves is a prefix of the one of new_size: pg_warden-consistency-proof-v1, checked offline by warden-verify --consistency.';
COMMENT ON FUNCTION warden.audit_status() IS
    'The ledger at a glance: last id, chains, active leases, oldest and newest entry, the tree''s size and lag behind the writers, the last full and incremental verification.';

-- ---------------------------------------------------------------------------------------
-- stored profiles (issue 12)
CREATE FUNCTION warden.save_profile(profile jsonb)
    RETURNS text STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'save_profile_wrapper';
CREATE FUNCTION warden.drop_profile(name text)
    RETURNS integer STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'drop_profile_wrapper';
CREATE FUNCTION warden.apply_profile(profile_name text)
    RETURNS TABLE (table_name text, column_name text, strategy text, rows bigint)
    STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'apply_stored_profile_wrapper';

-- Stored profiles (src/profile/store.rs): every version of every profile saved with
-- warden.save_profile, by the profile's name. Only pg_warden's functions write it, as
-- its owner; key officers read it. The profiles are configuration: pg_dump carries them.
CREATE TABLE warden.profile_store (
    name     text        NOT NULL CHECK (name <> ''),
    version  integer     NOT NULL CHECK (version > 0),
    sha256   text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    document jsonb       NOT NULL,
    saved_by name        NOT NULL DEFAULT session_user,
    saved_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (name, version)
);
REVOKE ALL ON warden.profile_store FROM PUBLIC;
-- Key officers read the profiles (pg_dump, as warden_admin, dumps them).
GRANT SELECT ON warden.profile_store TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.profile_store', '');
COMMENT ON TABLE warden.profile_store IS
    'Every version of every stored anonymization profile (warden.save_profile); written only by pg_warden''s functions. Use warden.profiles to list them.';
COMMENT ON COLUMN warden.profile_store.sha256 IS
    'SHA-256 of the profile''s canonical form, 64 lowercase hex digits: the hash apply_profile records in the ledger.';
COMMENT ON COLUMN warden.profile_store.document IS
    'The profile document as saved.';

CREATE VIEW warden.profiles AS
SELECT name,
       version,
       sha256,
       saved_by,
       saved_at,
       version OPERATOR(pg_catalog.=) pg_catalog.max(version) OVER (PARTITION BY name) AS latest,
       document
  FROM warden.profile_store;
REVOKE ALL ON warden.profiles FROM PUBLIC;
GRANT SELECT ON warden.profiles TO warden_admin;
COMMENT ON VIEW warden.profiles IS
    'Stored anonymization profiles, one row a version: name, version (1, 2, ... per name), SHA-256 of the canonical form, who saved it and when, whether it is the latest (what apply_profile(name) applies), and the document. Superusers and warden_admin.';

REVOKE ALL ON FUNCTION warden.save_profile(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.save_profile(jsonb) TO warden_admin;
REVOKE ALL ON FUNCTION warden.drop_profile(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.drop_profile(text) TO warden_admin;
REVOKE ALL ON FUNCTION warden.apply_profile(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.apply_profile(text) TO warden_admin;

COMMENT ON FUNCTION warden.save_profile(jsonb) IS
    'Validates an anonymization profile as validate_profile does (22023 with every problem) and stores it under its name as the next version; the latest version of that name with the same SHA-256 is kept instead (nothing saved). Returns the name. Recorded in the audit ledger. Superusers and warden_admin only.';
COMMENT ON FUNCTION warden.drop_profile(text) IS
    'Removes every version of a stored anonymization profile and returns how many (42704 if there is none). Recorded in the audit ledger. Superusers and warden_admin only.';
COMMENT ON FUNCTION warden.apply_profile(text) IS
    'Applies the latest version of a stored profile, as apply_profile(jsonb) applies a document, and records its name, version and SHA-256 in the ledger entry. Text starting with { is a profile document instead (an untyped literal resolves to this form). Superusers and warden_admin only.';

-- With a master key in the server's environment, the plaintext keyring is sealed now
-- (fingerprints, pseudonyms and ledger signatures stay as they are: the material is the
-- same). Without one it stays as it was until warden.rewrap_vault() runs.
DO $$
BEGIN
    IF (warden.vault_status() OPERATOR(pg_catalog.->>) 'master_key_configured')::boolean THEN
        PERFORM warden.rewrap_vault();
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------
-- schema, privilege and audit-control events (issue 13)
CREATE FUNCTION warden.audit_ddl(enabled boolean DEFAULT true)
    RETURNS boolean STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_ddl_wrapper';
-- Every change of the setting, newest last; the latest row is the setting in force.
-- Written only by warden.audit_ddl, which records the change in the ledger first
-- (entry_id); append-only like the ledger, and carried by pg_dump so a restored database
-- keeps its setting.
CREATE TABLE warden.audit_ddl_changes (
    id         bigint      GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    enabled    boolean     NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    changed_by text        NOT NULL,
    entry_id   bigint      NOT NULL
);
REVOKE ALL ON warden.audit_ddl_changes FROM PUBLIC;
GRANT SELECT ON warden.audit_ddl_changes TO warden_admin;
GRANT SELECT ON SEQUENCE warden.audit_ddl_changes_id_seq TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_ddl_changes', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_ddl_changes_id_seq', '');
CREATE TRIGGER ddl_changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON warden.audit_ddl_changes
    FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_guard();
ALTER TABLE warden.audit_ddl_changes ENABLE ALWAYS TRIGGER ddl_changes_append_only;

CREATE FUNCTION warden.audit_ddl_capture() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_ddl_capture';
CREATE FUNCTION warden.audit_ddl_drops() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_ddl_drops';
REVOKE ALL ON FUNCTION warden.audit_ddl_capture() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_ddl_drops() FROM PUBLIC;
CREATE EVENT TRIGGER warden_audit_ddl_capture ON ddl_command_end
    EXECUTE FUNCTION warden.audit_ddl_capture();
CREATE EVENT TRIGGER warden_audit_ddl_drops ON sql_drop
    EXECUTE FUNCTION warden.audit_ddl_drops();
ALTER EVENT TRIGGER warden_audit_ddl_capture ENABLE ALWAYS;
ALTER EVENT TRIGGER warden_audit_ddl_drops ENABLE ALWAYS;

REVOKE ALL ON FUNCTION warden.audit_ddl(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_ddl(boolean) TO warden_admin;

COMMENT ON TABLE warden.audit_ddl_changes IS
    'Every change of warden.audit_ddl, newest last (the latest row is in force), with the ledger entry that recorded it; append-only.';
COMMENT ON FUNCTION warden.audit_ddl(boolean) IS
    'Switches the recording of DDL, GRANT/REVOKE, role commands and audit-control commands in the ledger on or off; the change is itself a ledger entry. Returns the setting now in force.';
COMMENT ON FUNCTION warden.audit_ddl_capture() IS
    'Internal: ddl_command_end event trigger that records each DDL command in the ledger while warden.audit_ddl is on.';
COMMENT ON FUNCTION warden.audit_ddl_drops() IS
    'Internal: sql_drop event trigger that keeps the dropped objects for the command''s ledger entry.';
COMMENT ON EVENT TRIGGER warden_audit_ddl_capture IS
    'pg_warden: records every DDL command (GRANT, REVOKE, COMMENT, SECURITY LABEL, ALTER DEFAULT PRIVILEGES included) in the ledger while warden.audit_ddl is on.';
COMMENT ON EVENT TRIGGER warden_audit_ddl_drops IS
    'pg_warden: keeps the objects a DROP removes for its ledger entry.';

CREATE FUNCTION warden.audit_ddl_in_force() RETURNS boolean STRICT STABLE PARALLEL RESTRICTED
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_ddl_in_force_wrapper';
CREATE FUNCTION warden.audit_preloaded() RETURNS boolean STRICT STABLE PARALLEL SAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_preloaded_wrapper';

-- Which PCI DSS 10.2.1 event classes this database records, and why not where it does
-- not: read from the settings and catalogs in force (audit_ddl, shared_preload_libraries,
-- audited tables), with the caller's rights.
CREATE FUNCTION warden.audit_coverage(
    OUT requirement text, OUT event_class text, OUT status text, OUT how text, OUT gap text)
    RETURNS SETOF record
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH s AS (
    -- The setting as capture reads it.
    SELECT warden.audit_ddl_in_force() AS ddl,
           warden.audit_preloaded() AS preloaded,
           (SELECT pg_catalog.count(DISTINCT t.tgrelid) FROM pg_catalog.pg_trigger t
             WHERE t.tgfoid OPERATOR(pg_catalog.=) 'warden.audit_capture()'::pg_catalog.regprocedure
               AND t.tgname OPERATOR(pg_catalog.=) 'warden_audit_row') AS audited)
SELECT r.* FROM s, LATERAL (VALUES
    ('10.2.1.1', 'changes to cardholder data',
     CASE WHEN s.audited OPERATOR(pg_catalog.>) 0 THEN 'captured' ELSE 'not captured' END,
     pg_catalog.format('row capture (audit_table) on %s table(s): INSERT, UPDATE, DELETE with before/after state, TRUNCATE', s.audited),
     CASE WHEN s.audited OPERATOR(pg_catalog.=) 0 THEN 'no table is audited: run warden.audit_table on the tables that hold cardholder data' END),
    ('10.2.1.1', 'reads of cardholder data',
     'partial', 'every vault read (get_secret), granted or refused',
     'plain SELECTs are not recorded (pgaudit''s read class logs them to the server log, without integrity)'),
    ('10.2.1.2', 'actions by administrators',
     CASE WHEN s.ddl AND s.preloaded THEN 'captured' WHEN s.ddl THEN 'partial' ELSE 'not captured' END,
     'audit_ddl: DDL, GRANT/REVOKE, role commands, ALTER SYSTEM, event triggers, SET session_replication_role and warden.*; pg_warden''s own configuration changes always',
     CASE WHEN NOT s.ddl THEN 'DDL capture is off: SELECT warden.audit_ddl()'
          WHEN NOT s.preloaded THEN 'pg_warden is not in shared_preload_libraries: role commands and ALTER SYSTEM of a session before it loads pg_warden are not recorded' END),
    ('10.2.1.3', 'access to the audit logs',
     'partial', 'purges are ledger entries, verification runs are kept in warden.audit_verification; changes to the ledger are refused',
     'reads and exports of warden.audit_log are not recorded'),
    ('10.2.1.4', 'invalid logical access attempts',
     'partial', 'refused vault reads; refused changes to the ledger reach the server log',
     'failed logins are not recorded: PostgreSQL reports them only to the server log (log_connections), and pg_warden installs no authentication hook'),
    ('10.2.1.5', 'changes to identification and authentication credentials',
     CASE WHEN s.ddl AND s.preloaded THEN 'captured' WHEN s.ddl THEN 'partial' ELSE 'not captured' END,
     'audit_ddl: CREATE/ALTER/DROP ROLE (passwords fingerprinted), GRANT/REVOKE role, user mappings; key versions created or rotated, rotation policies and vault secret changes always',
     CASE WHEN NOT s.ddl THEN 'DDL capture is off: SELECT warden.audit_ddl()'
          WHEN NOT s.preloaded THEN 'pg_warden is not in shared_preload_libraries: a session''s role commands before it loads pg_warden are not recorded' END),
    ('10.2.1.6', 'initialization, stopping or pausing of the audit logs',
     CASE WHEN s.ddl THEN 'partial' ELSE 'not captured' END,
     'audit_table/unaudit_table and audit_ddl on/off always; event-trigger changes and SET session_replication_role with audit_ddl; server starts (server_start) with pg_warden preloaded',
     CASE WHEN s.preloaded THEN 'stops are not recorded: a lifetime without pg_warden preloaded shows as the gap between two recorded starts'
          ELSE 'server starts are recorded only with pg_warden in shared_preload_libraries; stops are not recorded' END),
    ('10.2.1.7', 'creation and deletion of system-level objects',
     CASE WHEN s.ddl THEN 'captured' ELSE 'not captured' END,
     'audit_ddl: every DDL command, databases and tablespaces included',
     CASE WHEN NOT s.ddl THEN 'DDL capture is off: SELECT warden.audit_ddl()' END)
) AS r(requirement, event_class, status, how, gap)
$$;
REVOKE ALL ON FUNCTION warden.audit_ddl_in_force() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_ddl_in_force() TO warden_admin;
COMMENT ON FUNCTION warden.audit_ddl_in_force() IS
    'Whether DDL capture is on, as capture reads it: the latest audit_ddl_changes row whose ledger entry recorded that value.';
REVOKE ALL ON FUNCTION warden.audit_preloaded() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_preloaded() TO warden_admin;
COMMENT ON FUNCTION warden.audit_preloaded() IS
    'Whether this server loaded pg_warden through shared_preload_libraries (server starts recorded, the utility hook in every session).';
REVOKE ALL ON FUNCTION warden.audit_coverage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_coverage() TO warden_admin;
COMMENT ON FUNCTION warden.audit_coverage() IS
    'Which PCI DSS 10.2.1.x event classes this database records (captured, partial, not captured), how, and what is missing and why; read from the settings in force.';

-- ---------------------------------------------------------------------------------------
-- erasure that keeps the chain verifiable (issue 13)
-- Entries written from here on are version 2: field_seals holds a salt per redactable
-- field. Older entries keep NULL there and verify as version 1. actor and
-- session_user_name become NULL when redacted.
ALTER TABLE warden.audit_log ADD COLUMN field_seals bytea;
ALTER TABLE warden.audit_log ALTER COLUMN actor DROP NOT NULL;
ALTER TABLE warden.audit_log ALTER COLUMN session_user_name DROP NOT NULL;
CREATE INDEX audit_log_redaction ON warden.audit_log (id) WHERE event_type = 'audit_redaction';
CREATE FUNCTION warden."redact_audit"("entry_id" bigint, "fields" text[], "reason" text) RETURNS integer
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'redact_audit_wrapper';
CREATE FUNCTION warden."erase_subject"("match" jsonb, "reason" text, "fields" text[] DEFAULT NULL) RETURNS bigint
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'erase_subject_wrapper';
REVOKE ALL ON FUNCTION warden.redact_audit(bigint, text[], text), warden.erase_subject(jsonb, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.redact_audit(bigint, text[], text), warden.erase_subject(jsonb, text, text[]) TO warden_admin;
COMMENT ON FUNCTION warden.redact_audit(bigint, text[], text) IS
    'Erases fields of one entry (encoding version 2) while its hash, chain and signature still verify, and logs a redaction record (entry id, fields, reason; never the content). Returns the fields it erased. warden_admin only.';
COMMENT ON FUNCTION warden.erase_subject(jsonb, text, text[]) IS
    'Erases a person''s content from every entry match selects (actor, resource_id, … equal; contains: within details, before_state or after_state), all redactable fields unless fields names some, under redaction records of up to 1000 entries each. Returns the entries changed. warden_admin only.';
COMMENT ON COLUMN warden.audit_log.field_seals IS
    'Encoding version 2: for each redactable field its salt, or its commitment once redacted, so a field can be erased and the entry still verifies. NULL for a version-1 entry.';
COMMENT ON COLUMN warden.audit_log.actor IS
    'Who acted, as the writer gives it; the session user when NULL. NULL only once redacted.';
COMMENT ON TABLE warden.audit_log IS
    'Append-only, hash-chained audit ledger. Insert through warden.log_event or INSERT; UPDATE, DELETE and TRUNCATE are refused for everyone (warden.redact_audit and warden.erase_subject erase fields, warden.purge_audit removes old entries).';
COMMENT ON FUNCTION warden.audit_guard() IS
    'Internal: refuses UPDATE, DELETE and TRUNCATE on the ledger (only warden.purge_audit deletes, behind a checkpoint; only warden.redact_audit and warden.erase_subject update, erasing fields).';

-- ---------------------------------------------------------------------------------------
-- retention per tenant (issue 13)
-- Retention policies, one per tenant and one (tenant NULL) for entries without a tenant:
-- warden.set_retention writes them, warden.apply_retention applies them and records in
-- applied_through how far it got. Dumped with the ledger.
CREATE TABLE warden.audit_retention (
    tenant          text,
    keep            interval    NOT NULL,
    set_at          timestamptz NOT NULL,
    set_by          text        NOT NULL,
    applied_through timestamptz
);
CREATE UNIQUE INDEX audit_retention_tenant ON warden.audit_retention (tenant) WHERE tenant IS NOT NULL;
CREATE UNIQUE INDEX audit_retention_default ON warden.audit_retention ((true)) WHERE tenant IS NULL;
REVOKE ALL ON warden.audit_retention FROM PUBLIC;
GRANT SELECT ON warden.audit_retention TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_retention', '');
CREATE FUNCTION warden."set_retention"("tenant" text, "keep" interval) RETURNS void
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'set_retention_wrapper';
CREATE FUNCTION warden."apply_retention"() RETURNS jsonb
    STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'apply_retention_wrapper';
REVOKE ALL ON FUNCTION warden.set_retention(text, interval), warden.apply_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.set_retention(text, interval), warden.apply_retention() TO warden_admin;
COMMENT ON FUNCTION warden.set_retention(text, interval) IS
    'Sets how long entries of a tenant are kept (NULL tenant: entries without one; NULL keep: no policy, kept for ever); logged as an audit_control entry. warden_admin only.';
COMMENT ON FUNCTION warden.apply_retention() IS
    'Applies the retention policies: per chain removes the due entries at its start behind signed checkpoints, redacts due entries behind ones that are not, and logs the run (audit_retention); reads only what is due plus what was not verified yet. warden_admin only.';
COMMENT ON TABLE warden.audit_retention IS
    'Retention policies by tenant (NULL: entries without a tenant), written by warden.set_retention; applied_through: the cutoff of the last warden.apply_retention run.';
COMMENT ON COLUMN warden.audit_retention.applied_through IS
    'Entries of the tenant written before this were removed or redacted by warden.apply_retention.';

-- ---------------------------------------------------------------------------------------
-- adopting an existing audit table (issue 13)
-- Imports of existing audit tables (warden.import_audit): progress, resume point and the
-- running SHA-256 chain over the rows copied, batch by batch. Dumped with the ledger.
CREATE TABLE warden.audit_import (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         text        NOT NULL,
    source_oid     oid         NOT NULL,
    mapping        jsonb       NOT NULL,
    rows_total     bigint      NOT NULL,
    rows_imported  bigint      NOT NULL DEFAULT 0,
    last_key       text,
    rows_sha256    bytea       NOT NULL,
    first_entry_id bigint,
    last_entry_id  bigint,
    started_at     timestamptz NOT NULL,
    started_by     text        NOT NULL,
    finished_at    timestamptz
);
REVOKE ALL ON warden.audit_import FROM PUBLIC;
GRANT SELECT ON warden.audit_import TO warden_admin;
GRANT SELECT ON SEQUENCE warden.audit_import_id_seq TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_import', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_import_id_seq', '');
CREATE FUNCTION warden."import_audit_start"("source" regclass, "mapping" jsonb) RETURNS bigint
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'import_audit_start_wrapper';
CREATE FUNCTION warden."import_audit_batch"("import_id" bigint, "max_rows" integer DEFAULT 10000) RETURNS boolean
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'import_audit_batch_wrapper';
-- An import, batch after batch, each committed: CALL it outside a transaction block. A
-- crash loses at most the batch under way; calling it again resumes.
CREATE PROCEDURE warden.import_audit(source regclass, mapping jsonb)
    LANGUAGE plpgsql AS $$
DECLARE
    import_id bigint := warden.import_audit_start(source, mapping);
BEGIN
    WHILE warden.import_audit_batch(import_id) LOOP
        COMMIT;
    END LOOP;
END
$$;
REVOKE ALL ON PROCEDURE warden.import_audit(regclass, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.import_audit_start(regclass, jsonb), warden.import_audit_batch(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE warden.import_audit(regclass, jsonb) TO warden_admin;
GRANT EXECUTE ON FUNCTION warden.import_audit_start(regclass, jsonb), warden.import_audit_batch(bigint, integer) TO warden_admin;
COMMENT ON PROCEDURE warden.import_audit(regclass, jsonb) IS
    'Copies the rows of an existing audit table into the ledger in order_by order, original times kept in details.imported, committing every 10,000 rows; resumes an interrupted import, refuses a finished one; logs START and FINISH (row count, SHA-256 chain of the rows). CALL outside a transaction block. warden_admin only.';
COMMENT ON FUNCTION warden.import_audit_start(regclass, jsonb) IS
    'Internal step of warden.import_audit: checks the source and mapping, starts the import or finds the unfinished one to resume; returns its id.';
COMMENT ON FUNCTION warden.import_audit_batch(bigint, integer) IS
    'Internal step of warden.import_audit: copies the next max_rows rows in the caller''s transaction; returns whether rows remain (false once it finished the import).';
COMMENT ON TABLE warden.audit_import IS
    'Imports of existing audit tables: source, mapping, progress (rows_imported, last_key), the SHA-256 chain over the rows copied so far, the ledger entries they became, and when they finished.';
