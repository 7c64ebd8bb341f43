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

CREATE FUNCTION warden.audit_table(tbl regclass) RETURNS void
    VOLATILE STRICT
    LANGUAGE c AS 'MODULE_PATHNAME', 'audit_table_wrapper';

CREATE FUNCTION warden.unaudit_table(tbl regclass) RETURNS void
    VOLATILE STRICT
    LANGUAGE c AS 'MODULE_PATHNAME', 'unaudit_table_wrapper';

CREATE FUNCTION warden.audit_ddl_guard() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ledger oid[] := ARRAY['warden.audit_log'::pg_catalog.regclass, 'warden.audit_checkpoint'::pg_catalog.regclass];
    capture oid := 'warden.audit_capture()'::pg_catalog.regprocedure;
    hit record;
BEGIN
    IF warden.creating_extension() THEN
        RETURN;
    END IF;
    -- Commands on the ledger tables themselves, their triggers, rules and policies.
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
    -- name the other table, a foreign key referencing the ledger puts triggers on it.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits
                WHERE inhrelid OPERATOR(pg_catalog.=) ANY (ledger) OR inhparent OPERATOR(pg_catalog.=) ANY (ledger))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_class
                   WHERE oid OPERATOR(pg_catalog.=) ANY (ledger)
                     AND (relkind OPERATOR(pg_catalog.<>) 'r' OR relispartition OR relrowsecurity OR relhasrules))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                   WHERE tgrelid OPERATOR(pg_catalog.=) ANY (ledger)
                     AND (tgenabled OPERATOR(pg_catalog.<>) 'A'
                          OR tgname OPERATOR(pg_catalog.<>) ALL (ARRAY['zz_audit_chain', 'audit_append_only', 'checkpoint_append_only']::pg_catalog.name[])))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid OPERATOR(pg_catalog.=) ANY (ledger))
    THEN
        RAISE EXCEPTION 'the audit ledger cannot become part of another table or get triggers, rules or policies (%)', tg_tag
            USING ERRCODE = '42501', HINT = 'warden.audit_log and warden.audit_checkpoint stand alone, with pg_warden''s triggers only.';
    END IF;
    -- Capture triggers: ALTER TABLE may not leave one in any state but ENABLE ALWAYS,
    -- ALTER TRIGGER may not touch one, except inside audit_table/unaudit_table.
    IF warden.changing_capture() THEN
        RETURN;
    END IF;
    SELECT c.command_tag, t.tgname, t.tgrelid::pg_catalog.regclass AS tbl INTO hit
      FROM pg_catalog.pg_event_trigger_ddl_commands() c
      JOIN pg_catalog.pg_trigger t
        ON t.tgfoid OPERATOR(pg_catalog.=) capture
       AND ((c.command_tag OPERATOR(pg_catalog.=) 'ALTER TABLE'
             AND c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
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
                       AND object_name OPERATOR(pg_catalog.=) ANY (ARRAY['audit_log', 'audit_checkpoint']))
                   OR (object_type OPERATOR(pg_catalog.=) ANY (ARRAY['trigger', 'rule', 'policy'])
                       AND object_identity OPERATOR(pg_catalog.~) ' on warden\.audit_(log|checkpoint)$')) THEN
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
                        WHERE t.object_type OPERATOR(pg_catalog.=) 'table'
                          AND t.address_names OPERATOR(pg_catalog.=) d.address_names[1:2])
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'capture trigger % cannot be dropped', hit.object_identity
            USING ERRCODE = '42501',
                  HINT = 'Stop capturing a table with warden.unaudit_table, which records the change in the ledger.';
    END IF;
END
$$;

-- Before any DROP that could take the extension with it: notes whether the ledger or
-- the keyring holds anything, so the extension's drop is refused then (unless
-- warden.allow_drop_extension is on).
CREATE FUNCTION warden.audit_drop_check() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM warden.note_drop_check();
END
$$;

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

REVOKE ALL ON FUNCTION warden.audit_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.unaudit_table(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_table(regclass), warden.unaudit_table(regclass) TO warden_admin;
REVOKE ALL ON FUNCTION warden.audit_ddl_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_drop_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_drop_check() FROM PUBLIC;
-- creating_extension, changing_capture and note_drop_check stay callable by everyone:
-- the event triggers run with the rights of whoever issued the DDL, and they only
-- report or note this backend's own state.

COMMENT ON FUNCTION warden.audit_table(regclass) IS
    'Captures INSERT, UPDATE, DELETE (before/after JSONB, secret-named columns fingerprinted) and TRUNCATE of a table into the ledger.';
COMMENT ON FUNCTION warden.unaudit_table(regclass) IS
    'Stops capturing a table; the change itself is logged.';
COMMENT ON FUNCTION warden.audit_ddl_guard() IS
    'Internal: event trigger refusing DDL that changes the ledger tables or switches a table''s capture off.';
COMMENT ON FUNCTION warden.audit_drop_guard() IS
    'Internal: event trigger refusing to drop the ledger, its triggers or a capture trigger outside DROP EXTENSION and unaudit_table.';
COMMENT ON FUNCTION warden.audit_drop_check() IS
    'Internal: event trigger noting, before a DROP that could remove pg_warden, whether its ledger or keyring holds data.';
COMMENT ON FUNCTION warden.creating_extension() IS
    'Internal: true while pg_warden''s own extension script runs (lets the DDL guard admit it, and no other extension''s).';
COMMENT ON FUNCTION warden.changing_capture() IS
    'Internal: true while audit_table or unaudit_table changes capture triggers (the DDL guard admits only those changes).';
COMMENT ON FUNCTION warden.note_drop_check() IS
    'Internal: notes for this DROP whether the ledger or keyring holds data; DROP EXTENSION pg_warden is refused if so.';
