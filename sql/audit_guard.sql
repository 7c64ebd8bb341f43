-- The guards around the ledger and around capture, and audit_table/unaudit_table.
--
-- The ledger's guards are triggers that refuse UPDATE, DELETE and TRUNCATE (audit.sql),
-- and event triggers here that refuse DDL which would change what the ledger is: its
-- triggers, rules, policies and columns, a place in an inheritance or partition tree,
-- dropping it. Capture triggers (warden_audit_row, warden_audit_truncate on an audited
-- table) change only through audit_table/unaudit_table, which record the change in the
-- ledger; creating one (as pg_dump's restore does) stays possible. Every event trigger
-- is ENABLE ALWAYS, so session_replication_role = replica does not silence it, and reads
-- the catalog with its search path pinned to pg_catalog, pg_temp and every other name
-- qualified, so no temporary table named pg_class or pg_trigger can blind it. They run
-- with the rights of the role that issued the DDL.

CREATE FUNCTION warden.audit_ddl_guard() RETURNS event_trigger
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

CREATE FUNCTION warden.audit_drop_guard() RETURNS event_trigger
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

-- Before any DROP that could take the extension with it: loads pg_warden into the
-- session, whose object access hook then refuses to drop the ledger, its checkpoints
-- or the keyring while one holds a row (unless warden.allow_drop_extension is on),
-- reading them as they are when the DROP holds their lock.
CREATE FUNCTION warden.audit_drop_check() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM warden.note_drop_check();
END
$$;

-- Before every DDL command: refuses, before it runs, a command that would replace,
-- rename, re-own or move one of pg_warden's own objects (the guards above included),
-- or add functions to schema warden. A C function: the check cannot be replaced by the
-- command it checks.
CREATE FUNCTION warden.audit_ddl_start() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_ddl_start';

CREATE EVENT TRIGGER warden_audit_ddl_guard ON ddl_command_end
    EXECUTE FUNCTION warden.audit_ddl_guard();
CREATE EVENT TRIGGER warden_audit_drop_guard ON sql_drop
    EXECUTE FUNCTION warden.audit_drop_guard();
CREATE EVENT TRIGGER warden_audit_drop_check ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION warden.audit_drop_check();
ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER warden_audit_drop_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER warden_audit_drop_check ENABLE ALWAYS;

CREATE EVENT TRIGGER warden_audit_ddl_start ON ddl_command_start
    EXECUTE FUNCTION warden.audit_ddl_start();
ALTER EVENT TRIGGER warden_audit_ddl_start ENABLE ALWAYS;
REVOKE ALL ON FUNCTION warden.audit_ddl_start() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.unaudit_table(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_table(regclass), warden.unaudit_table(regclass) TO warden_admin;
REVOKE ALL ON FUNCTION warden.audit_ddl_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_drop_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_drop_check() FROM PUBLIC;
-- creating_extension, changing_capture and note_drop_check stay callable by everyone:
-- the event triggers run with the rights of whoever issued the DDL, and they only
-- report or note this backend's own state.

COMMENT ON FUNCTION warden.audit_ddl_start() IS
    'Internal: event trigger refusing, before they run, commands that would replace, rename, re-own or move pg_warden''s own objects.';
COMMENT ON FUNCTION warden.audit_table(regclass) IS
    'Captures INSERT, UPDATE, DELETE (before/after JSONB, secret-named columns fingerprinted) and TRUNCATE of a table into the ledger.';
COMMENT ON FUNCTION warden.unaudit_table(regclass) IS
    'Stops capturing a table; the change itself is logged.';
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
COMMENT ON EVENT TRIGGER warden_audit_ddl_guard IS
    'pg_warden: after DDL, refuses changes to the ledger tables and switching a table''s capture off.';
COMMENT ON EVENT TRIGGER warden_audit_drop_guard IS
    'pg_warden: refuses dropping the ledger, its triggers or a capture trigger outside DROP EXTENSION and unaudit_table.';
COMMENT ON EVENT TRIGGER warden_audit_drop_check IS
    'pg_warden: loads pg_warden before DROP EXTENSION, DROP SCHEMA or DROP OWNED, so its check (no ledger, checkpoint or key is dropped while it holds a row) applies.';
COMMENT ON EVENT TRIGGER warden_audit_ddl_start IS
    'pg_warden: before DDL, refuses commands that would replace, rename, re-own or move pg_warden''s own objects, or add functions to schema warden.';
