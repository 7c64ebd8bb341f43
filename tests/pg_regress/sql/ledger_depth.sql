-- One depth rule for every jsonb column of the ledger (issue 9): details, before_state
-- and after_state nested deeper than 124 levels of arrays and objects are refused with
-- 54001 when written, however they arrive (log_event, row capture, a plain INSERT); a
-- document at the limit is accepted, exports (inside the export's own three levels) and
-- verifies. 200 nested arrays used to be accepted and then made export_audit fail with
-- XX000.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
CREATE FUNCTION pg_temp.arrays(depth int) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT (repeat('[', depth) || repeat(']', depth))::jsonb $$;
CREATE FUNCTION pg_temp.objects(depth int) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT (repeat('{"a": ', depth - 1) || '{"leaf": "x"}' || repeat('}', depth - 1))::jsonb $$;

-- Too deep: refused before anything is written, the message naming the column and the
-- limit, never the value.
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.log_event('t', 'deep', details => pg_temp.arrays(200))$$),
    ($$SELECT warden.log_event('t', 'deep', details => pg_temp.arrays(125))$$),
    ($$SELECT warden.log_event('t', 'deep', details => pg_temp.objects(125))$$),
    -- A secret-named key does not change the rule (nor reach the fingerprinting walk).
    ($$SELECT warden.log_event('t', 'deep', details => jsonb_build_object('password', pg_temp.arrays(124)))$$),
    ($$INSERT INTO warden.audit_log (event_type, action, details) VALUES ('t', 'deep', pg_temp.arrays(125))$$),
    ($$INSERT INTO warden.audit_log (event_type, action, before_state) VALUES ('t', 'deep', pg_temp.arrays(125))$$),
    ($$INSERT INTO warden.audit_log (event_type, action, after_state) VALUES ('t', 'deep', pg_temp.objects(300))$$)
) AS t(q);
SELECT count(*) AS entries_after_refusals FROM warden.audit_log;

-- At the limit: accepted through each path.
SELECT warden.log_event('t', 'arrays at the limit', details => pg_temp.arrays(124)) > 0 AS logged;
SELECT warden.log_event('t', 'objects at the limit', details => pg_temp.objects(124)) > 0 AS logged;
SELECT warden.log_event('t', 'secret at the limit',
    details => jsonb_build_object('password', pg_temp.arrays(123))) > 0 AS logged;
INSERT INTO warden.audit_log (event_type, action, before_state, after_state)
    VALUES ('t', 'insert at the limit', pg_temp.objects(124), pg_temp.arrays(124));

-- A row that arrives complete from a superuser (a restore, stored as given) keeps the
-- same rule: refused, so the ledger never holds what its export could not carry.
SELECT outcome($$INSERT INTO warden.audit_log OVERRIDING SYSTEM VALUE
    SELECT id + 1000000, ts, event_type, action, actor, resource_type, resource_id, correlation_id, tenant,
           reason, confidence, pg_temp.arrays(125), before_state, after_state, session_user_name,
           application_name, client_addr, txid, chain_id, chain_pos + 1000, prev_hash, entry_hash, key_name,
           key_version, signature
      FROM warden.audit_log WHERE action = 'objects at the limit'$$) AS stored_as_given;

-- Row capture: the row is one level (its own object) above its columns, so a jsonb
-- column 124 deep makes a 125-deep before/after state and the statement is refused.
CREATE TABLE public.depth_docs (id int PRIMARY KEY, doc jsonb);
SELECT warden.audit_table('public.depth_docs');
SELECT q, outcome(q) FROM (VALUES
    ($$INSERT INTO public.depth_docs VALUES (2, pg_temp.arrays(124))$$)
) AS t(q);
INSERT INTO public.depth_docs VALUES (1, pg_temp.arrays(123));
SELECT q, outcome(q) FROM (VALUES
    ($$UPDATE public.depth_docs SET doc = pg_temp.objects(124) WHERE id = 1$$)
) AS t(q);
UPDATE public.depth_docs SET doc = pg_temp.objects(123) WHERE id = 1;
DELETE FROM public.depth_docs;
SELECT action, resource_type,
       jsonb_typeof(before_state) AS before_state, jsonb_typeof(after_state) AS after_state,
       details #>> '{password_fingerprint}' ~ '^[0-9a-f]{64}$' AS secret_fingerprinted
  FROM warden.audit_log ORDER BY id;

-- Verification in SQL, the export and its text: no error, every document carried whole.
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();
SELECT outcome($$SELECT warden.export_audit()$$) AS export;
WITH export AS (SELECT warden.export_audit() AS doc)
SELECT jsonb_array_length(doc -> 'entries') AS exported,
       (SELECT count(*) FROM jsonb_array_elements(doc -> 'entries') e
          JOIN warden.audit_log l ON l.id = (e ->> 'id')::bigint
         WHERE e -> 'details' IS NOT DISTINCT FROM l.details
           AND e -> 'before_state' IS NOT DISTINCT FROM l.before_state
           AND e -> 'after_state' IS NOT DISTINCT FROM l.after_state) AS documents_equal
  FROM export;
SELECT length(warden.export_audit_text('-infinity', 'infinity')) > 0 AS text_export;
SELECT warden.unaudit_table('public.depth_docs');

-- An entry stored before the rule (a ledger upgraded from 0.2.0 may hold one; here a
-- superuser plants it with the guards disabled, until the ROLLBACK below): the export
-- names it with 54001, never XX000, and verification reports the edit.
ALTER EVENT TRIGGER warden_audit_ddl_guard DISABLE;
ALTER TABLE warden.audit_log DISABLE TRIGGER USER;
UPDATE warden.audit_log SET details = pg_temp.arrays(200) WHERE action = 'arrays at the limit';
SELECT regexp_replace(outcome($$SELECT warden.export_audit()$$), 'id [0-9]+', 'id N') AS export;
SELECT valid, invalid_entries, issues -> 0 ->> 'reason' AS reason FROM warden.verify_audit();
ROLLBACK;
