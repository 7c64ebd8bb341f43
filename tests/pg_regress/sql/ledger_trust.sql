-- What verification trusts and what the ledger takes from a client.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');

-- 1. An empty ledger whose history was longer does not verify: a plain restore whose
-- COPY of the ledger failed still ran setval on its sequence.
SELECT valid, total_entries FROM warden.verify_audit();
SELECT setval(pg_get_serial_sequence('warden.audit_log', 'id'), 20063);
SELECT valid, total_entries, jsonb_path_query_array(issues, '$[*].reason') AS reasons FROM warden.verify_audit();
ROLLBACK;
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
INSERT INTO warden.audit_checkpoint VALUES (1, 40, '\x00', now(), 'audit', 1, '\x00');
SELECT valid, total_entries, jsonb_path_query_array(issues, '$[*].reason') AS reasons FROM warden.verify_audit();
ROLLBACK;

-- 2. Only the audit key signs: an entry signed with any other keyring key, here one a
-- key officer chose the material of, is reported.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('chosen', '\x1111111111111111111111111111111111111111111111111111111111111111');
SELECT warden.log_event('t', 'honest') > 0 AS logged;
SET LOCAL warden.audit_key = 'chosen';
SELECT warden.log_event('t', 'forged') > 0 AS logged;
RESET warden.audit_key;
SELECT valid, total_entries, invalid_entries, issues -> 0 ->> 'reason' AS reason FROM warden.verify_audit();
ROLLBACK;

-- 3. Ids are never the client's: a writer with the INSERT grant (or a superuser sending
-- an incomplete row) cannot take ids ahead of the sequence.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
CREATE ROLE regress_inserter;
GRANT INSERT ON warden.audit_log TO regress_inserter;
SET ROLE regress_inserter;
INSERT INTO warden.audit_log (id, event_type, action) OVERRIDING SYSTEM VALUE VALUES (1000000, 'x', 'chosen id');
COPY warden.audit_log (id, event_type, action) FROM STDIN;
1000001	x	copied id
\.
RESET ROLE;
INSERT INTO warden.audit_log (id, event_type, action, chain_id, chain_pos) OVERRIDING SYSTEM VALUE
    VALUES (1000002, 'x', 'superuser, incomplete', 7, 7);
SELECT action, id < 1000000 AS id_from_sequence, chain_id IS NOT NULL AS chained FROM warden.audit_log ORDER BY id;
SELECT valid, total_entries FROM warden.verify_audit();
ROLLBACK;

-- 4. confidence as double precision (what drivers send for a float) resolves and is
-- range-checked; the numeric form and calls without it resolve as before.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.log_event('t', 'float', confidence => 0.9::float8) > 0 AS logged;
SELECT warden.log_event('t', 'named', resource_type => 'r', confidence => 0.25::float8, details => '{"k": 1}', reason => 'why') > 0 AS logged;
SELECT warden.log_event('t', 'numeric', confidence => 0.95) > 0 AS logged;
SELECT warden.log_event('t', 'none') > 0 AS logged;
-- Positional calls with untyped arguments resolve to the numeric form as before.
SELECT warden.log_event('t', 'five', 'order', 'o-1', '{"a": 1}') > 0 AS logged;
SELECT warden.log_event('t', 'eight', NULL, NULL, NULL, NULL, NULL, NULL) > 0 AS logged;
SELECT warden.log_event('t', 'ten', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'tenant-b') > 0 AS logged;
SELECT warden.log_event('t', 'positional', NULL, NULL, NULL, NULL, NULL, NULL, 0.5::float8, 'tenant-a') > 0 AS logged;
SELECT outcome($$SELECT warden.log_event('t', 'too high', confidence => 1.5::float8)$$);
SELECT outcome($$SELECT warden.log_event('t', 'nan', confidence => 'NaN'::float8)$$);
SELECT action, confidence, tenant FROM warden.audit_log ORDER BY id;
SELECT valid FROM warden.verify_audit();
ROLLBACK;
