-- warden.log_event writes rows to the ledger's heap and indexes itself when it can.
-- It must keep every rule an INSERT applies, with the same SQLSTATEs, and hand over to
-- a real INSERT (through the executor and the chain trigger) when the ledger has
-- anything only the executor handles.
BEGIN READ ONLY;
SELECT outcome($$SELECT warden.log_event('ro', 'NOTE')$$) AS read_only_transaction;
ROLLBACK;

BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.log_event(NULL, 'NOTE')$$),
    ($$SELECT warden.log_event('c', NULL)$$),
    ($$SELECT warden.log_event('c', 'NOTE', confidence => 1.5)$$),
    ($$SELECT warden.log_event('c', 'NOTE', confidence => -0.0001)$$),
    ($$SELECT warden.log_event('c', 'NOTE', confidence => 'NaN')$$),
    ($$SELECT warden.log_event('c', 'NOTE', confidence => 12)$$),
    ($$INSERT INTO warden.audit_log (event_type, action, confidence) VALUES ('c', 'NOTE', 1.5)$$),
    ($$INSERT INTO warden.audit_log (event_type, action) VALUES (NULL, 'NOTE')$$)
) AS t(q);
-- log_event's own write does not call the chain trigger; a plain INSERT does.
SET LOCAL track_functions = 'all';
SELECT warden.log_event('c', 'NOTE') > 0 AS logged;
SELECT coalesce(sum(calls), 0) AS trigger_calls_for_log_event FROM pg_stat_xact_user_functions
 WHERE schemaname = 'warden' AND funcname = 'audit_chain_entry';
-- Values are assigned as an INSERT assigns them: confidence rounds to numeric(5,4).
SELECT warden.log_event('c', 'NOTE', confidence => 0.99995, reason => 'rounded') > 0 AS logged;
SELECT warden.log_event('c', 'NOTE', confidence => 0, details => '{"token": "t", "n": [1, 2]}') > 0 AS logged;
INSERT INTO warden.audit_log (event_type, action, confidence) VALUES ('c', 'INSERT', 0.5);
SELECT event_type, action, confidence, reason, details ? 'token_fingerprint' AS scrubbed, chain_pos,
       id = (SELECT max(id) FROM warden.audit_log a2 WHERE a2.chain_pos <= a.chain_pos) AS id_in_order
  FROM warden.audit_log a ORDER BY chain_pos;
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();

-- A trigger someone added with the guards bypassed (a superuser can): log_event hands
-- the row to the executor, so that trigger runs and the entry is still chained.
ALTER EVENT TRIGGER warden_audit_ddl_guard DISABLE;
CREATE FUNCTION pg_temp.add_reason() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.reason := 'set by a user trigger'; RETURN NEW; END $$;
CREATE TRIGGER aa_user BEFORE INSERT ON warden.audit_log FOR EACH ROW EXECUTE FUNCTION pg_temp.add_reason();
ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE ALWAYS;
SELECT warden.log_event('after_user_trigger', 'NOTE') > 0 AS logged;
SELECT reason, chain_pos FROM warden.audit_log WHERE event_type = 'after_user_trigger';
SELECT sum(calls) AS trigger_calls_after_fallback FROM pg_stat_xact_user_functions
 WHERE schemaname = 'warden' AND funcname = 'audit_chain_entry';
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();
ROLLBACK;

-- The direct path keeps each ledger index's prepared state between rows. Every index
-- must still get exactly its entries: partial ones only matching rows, one added or
-- dropped earlier in the same transaction, an expression index (the executor's own
-- index insertion takes over), and rows after a unique violation rolled back in a
-- savepoint. amcheck's heapallindexed checks prove each index holds every row it must.
CREATE EXTENSION amcheck;
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT count(warden.log_event('ix', 'NOTE', correlation_id => CASE WHEN g % 2 = 0 THEN 'c' || g END))
  FROM generate_series(1, 20) g;
ALTER EVENT TRIGGER warden_audit_ddl_guard DISABLE;
CREATE INDEX audit_log_reason_partial ON warden.audit_log (reason) WHERE reason > 'm';
ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE ALWAYS;
SELECT count(warden.log_event('ix', 'NOTE', reason => r)) FROM unnest(ARRAY['a', 'n', 'z', NULL]) r;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT count(*) AS partial_index_rows FROM warden.audit_log WHERE reason > 'm';
SELECT count(*) AS correlation_rows FROM warden.audit_log WHERE correlation_id IS NOT NULL AND event_type = 'ix';
SAVEPOINT s;
-- A copy of an entry: the unique indexes refuse it and the savepoint rolls back; the
-- direct path goes on after it.
SELECT outcome($$INSERT INTO warden.audit_log OVERRIDING SYSTEM VALUE
  SELECT * FROM warden.audit_log WHERE event_type = 'ix' ORDER BY id LIMIT 1$$) AS duplicate;
ROLLBACK TO s;
ALTER EVENT TRIGGER warden_audit_ddl_guard DISABLE;
CREATE INDEX audit_log_lower_action ON warden.audit_log (lower(action));
ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE ALWAYS;
SELECT count(warden.log_event('ix', 'Expr')) FROM generate_series(1, 3);
SELECT count(*) AS expression_index_rows FROM warden.audit_log WHERE lower(action) = 'expr';
ALTER EVENT TRIGGER warden_audit_ddl_guard DISABLE;
DROP INDEX warden.audit_log_lower_action;
ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE ALWAYS;
SELECT count(warden.log_event('ix', 'NOTE', reason => 'q')) FROM generate_series(1, 2);
SELECT c.relname AS checked_index
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
       CROSS JOIN LATERAL bt_index_check(c.oid, true)
 WHERE i.indrelid = 'warden.audit_log'::regclass AND am.amname = 'btree' ORDER BY c.relname;
SELECT count(*) AS partial_index_rows_at_end FROM warden.audit_log WHERE reason > 'm';
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();
ROLLBACK;
