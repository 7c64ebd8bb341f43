-- An application role can log but not read, rewrite, purge or disable the ledger.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
CREATE ROLE regress_logger LOGIN;
CREATE ROLE regress_stranger LOGIN;
GRANT warden_user TO regress_logger;
SET ROLE regress_logger;
SELECT warden.log_event('payment', 'CAPTURE', 'order', 'o-1', '{"card_token": "tok_123", "amount": 10}') > 0 AS logged;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT count(*) FROM warden.audit_log$$),
    ($$INSERT INTO warden.audit_log (event_type, action) VALUES ('x', 'y')$$),
    ($$UPDATE warden.audit_log SET action = 'x'$$),
    ($$DELETE FROM warden.audit_log$$),
    ($$TRUNCATE warden.audit_log$$),
    ($$ALTER TABLE warden.audit_log DISABLE TRIGGER audit_append_only$$),
    ($$SELECT warden.purge_audit('0 seconds')$$),
    ($$SELECT * FROM warden.verify_audit()$$),
    ($$SELECT warden.audit_digest()$$),
    ($$SELECT warden.export_audit()$$),
    ($$SELECT warden.audit_table('pg_catalog.pg_authid')$$),
    ($$SET warden.audit_key = 'other'$$)
) AS t(q);
RESET ROLE;
SET ROLE regress_stranger;
SELECT outcome($$SELECT warden.log_event('x', 'y')$$) AS stranger_logs;
RESET ROLE;
SELECT actor, session_user_name, details ? 'card_token' AS raw_token_kept, details ? 'card_token_fingerprint' AS token_fingerprinted
  FROM warden.audit_log;
SELECT valid, total_entries FROM warden.verify_audit();
ROLLBACK;
