-- Erasure that keeps the ledger verifiable (encoding version 2): warden.redact_audit and
-- warden.erase_subject erase fields, the entries still verify and are reported as
-- redacted, the redaction is itself a ledger entry, and any other change is still found.
BEGIN;
-- Ids from 1001 on, whatever earlier scripts took (the notices name entry ids).
SELECT setval(pg_get_serial_sequence('warden.audit_log', 'id'), 1000) IS NOT NULL AS ids_from_1001;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.log_event('login', 'LOGIN', 'user', 'u-1', '{"ip": "192.0.2.7", "note": "first"}',
                        actor => 'alice@example.com', reason => 'password login') AS first \gset
SELECT warden.log_event('login', 'LOGIN', 'user', 'u-2', '{"ip": "192.0.2.8"}', actor => 'bob@example.com') AS second \gset
-- Every new entry is version 2: 2 bytes of header and 10 seals of 1 + 16 bytes.
SELECT count(*) AS entries, bool_and(length(field_seals) = 172) AS all_sealed,
       bool_and(get_byte(field_seals, 0) = 2) AS version_2
  FROM warden.audit_log;
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();

-- Redacting two fields of the first entry: 2 fields, the values gone, the rest kept.
SELECT warden.redact_audit(:first, ARRAY['actor', 'details'], 'GDPR erasure request #17');
SELECT id = :first AS is_first, actor, details, resource_id, reason, event_type
  FROM warden.audit_log WHERE id = :first;
-- The redaction record: who, why, which fields of which entry; never the erased values.
SELECT event_type, action, resource_type, resource_id = :'first' AS names_entry, reason,
       details -> 'redacted' -> 0 -> 'fields' AS fields,
       (details -> 'redacted' -> 0 ->> 'id')::bigint = :first AS lists_entry,
       details::text LIKE '%alice%' OR details::text LIKE '%192.0.2.7%' AS leaks
  FROM warden.audit_log WHERE event_type = 'audit_redaction';
-- Still valid; the entry is reported as valid and redacted (NOTICE), and the run
-- records it.
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();
SELECT redacted_entries FROM warden.audit_verification ORDER BY id DESC LIMIT 1;
-- Redacting what is already redacted changes nothing and logs nothing.
SELECT warden.redact_audit(:first, ARRAY['actor'], 'again');
SELECT count(*) AS records FROM warden.audit_log WHERE event_type = 'audit_redaction';
-- Incremental verification from a digest finds the record behind it.
SELECT warden.audit_digest() AS since \gset
SELECT warden.redact_audit(:second, ARRAY['resource_id'], 'request #18');
SELECT valid, total_entries FROM warden.verify_audit(:'since');

-- A second, unrecorded edit of the redacted entry is still caught: a value written
-- back, a field changed, the seals dropped or malformed, the record vouching for it
-- edited (the redaction is then uncovered: erased around redact_audit).
-- What verification reports after q (run by public.tamper), all of it undone after.
CREATE FUNCTION pg_temp.found_after(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE found text[];
BEGIN
    BEGIN
        PERFORM public.tamper(q);
        found := ARRAY(SELECT i ->> 'reason' FROM warden.verify_audit() v, jsonb_array_elements(v.issues) i);
        RAISE EXCEPTION USING ERRCODE = 'P0004';
    EXCEPTION WHEN assert_failure THEN NULL;
    END;
    RETURN QUERY SELECT unnest(found);
END $$;
SET client_min_messages = warning;
SELECT * FROM pg_temp.found_after(format($$UPDATE warden.audit_log SET actor = 'mallory' WHERE id = %s$$, :first));
SELECT * FROM pg_temp.found_after(format($$UPDATE warden.audit_log SET reason = 'edited' WHERE id = %s$$, :first));
SELECT * FROM pg_temp.found_after(format($$UPDATE warden.audit_log SET field_seals = NULL WHERE id = %s$$, :first));
SELECT * FROM pg_temp.found_after(format($$UPDATE warden.audit_log SET field_seals = '\x0201' WHERE id = %s$$, :second));
SELECT * FROM pg_temp.found_after($$UPDATE warden.audit_log SET details = '{"redacted": []}' WHERE event_type = 'audit_redaction'$$);
RESET client_min_messages;
-- A redacted entry that no longer verifies is left alone for verification to report.
SAVEPOINT s;
SELECT public.tamper(format($$UPDATE warden.audit_log SET reason = 'edited' WHERE id = %s$$, :first));
SELECT public.outcome(format($$SELECT warden.redact_audit(%s, ARRAY['reason'], 'cover it')$$, :first));
ROLLBACK TO SAVEPOINT s;
SELECT valid FROM warden.verify_audit();

-- Erasure of a subject across captured rows: every entry about customer 42 (its row
-- changes' before and after states, its id) and every entry alice acted in.
CREATE TABLE public.customers (id int PRIMARY KEY, email text, city text);
SELECT warden.audit_table('public.customers');
INSERT INTO public.customers VALUES (41, 'carol@example.com', 'Oslo'), (42, 'dave@example.com', 'Lyon');
UPDATE public.customers SET city = 'Nice' WHERE id = 42;
DELETE FROM public.customers WHERE id = 42;
SELECT warden.log_event('support', 'CALL', 'user', 'u-1', actor => 'alice@example.com');
SELECT count(*) AS mentions_dave FROM warden.audit_log
 WHERE before_state::text LIKE '%dave%' OR after_state::text LIKE '%dave%';
SELECT warden.erase_subject('{"resource_type": "public.customers", "resource_id": "42"}', 'GDPR request #19');
SELECT count(*) AS mentions_dave FROM warden.audit_log
 WHERE before_state::text LIKE '%dave%' OR after_state::text LIKE '%dave%';
SELECT action, before_state, after_state, resource_id FROM warden.audit_log
 WHERE resource_type = 'public.customers' ORDER BY id;
-- By actor, only the fields named: the actor and the session facts.
SELECT warden.erase_subject('{"actor": "alice@example.com"}', 'GDPR request #20',
                            ARRAY['actor', 'session_user_name', 'application_name', 'client_addr']);
SELECT count(*) FILTER (WHERE actor = 'alice@example.com') AS alice_left,
       count(*) FILTER (WHERE event_type = 'support' AND actor IS NULL AND resource_id = 'u-1') AS support_erased
  FROM warden.audit_log;
-- By content: any entry whose details or captured rows contain the object.
SELECT warden.erase_subject('{"contains": {"email": "carol@example.com"}}', 'GDPR request #21', ARRAY['after_state']);
SELECT count(*) AS mentions_carol FROM warden.audit_log WHERE after_state::text LIKE '%carol%';
-- Nothing matched: 0, and no record.
SELECT count(*) AS records_before FROM warden.audit_log WHERE event_type = 'audit_redaction';
SELECT warden.erase_subject('{"actor": "nobody@example.com"}', 'GDPR request #22');
SELECT count(*) AS records_after FROM warden.audit_log WHERE event_type = 'audit_redaction';
SELECT valid, invalid_entries FROM warden.verify_audit();
-- The export carries the seals and verifies as a version-2 document.
SELECT warden.export_audit() ->> 'format' AS format,
       (SELECT count(*) FROM jsonb_array_elements(warden.export_audit() -> 'entries') e
         WHERE e ? 'field_seals') AS sealed_entries;

-- Refusals: unknown and fixed fields, a missing reason, an unknown entry, an empty or
-- unknown match, a redaction record's details, a log_event posing as a record.
SELECT public.outcome(q) FROM (VALUES
    (format($$SELECT warden.redact_audit(%s, ARRAY['event_type'], 'x')$$, :first)),
    (format($$SELECT warden.redact_audit(%s, ARRAY['no_such'], 'x')$$, :first)),
    (format($$SELECT warden.redact_audit(%s, ARRAY[]::text[], 'x')$$, :first)),
    (format($$SELECT warden.redact_audit(%s, ARRAY['actor'], ' ')$$, :first)),
    (format($$SELECT warden.redact_audit(%s, ARRAY['actor'], NULL)$$, :first)),
    ($$SELECT warden.redact_audit(999999, ARRAY['actor'], 'x')$$),
    ($$SELECT warden.erase_subject('{}', 'x')$$),
    ($$SELECT warden.erase_subject('[]', 'x')$$),
    ($$SELECT warden.erase_subject('{"id": "1"}', 'x')$$),
    ($$SELECT warden.erase_subject('{"actor": 7}', 'x')$$),
    ($$SELECT warden.log_event('audit_redaction', 'redact_audit', details => '{"redacted": [{"id": 1, "fields": ["actor"]}]}')$$)
) AS t(q);
SELECT public.outcome(format($$SELECT warden.redact_audit(id, ARRAY['details'], 'x') FROM warden.audit_log
  WHERE event_type = 'audit_redaction' ORDER BY id LIMIT 1$$));
-- Writes are refused in a read-only transaction.
SAVEPOINT s;
SET LOCAL transaction_read_only = on;
SELECT public.outcome(format($$SELECT warden.redact_audit(%s, ARRAY['reason'], 'x')$$, :first));
ROLLBACK TO SAVEPOINT s;
-- Only warden_admin (and superusers) may redact; the append-only guard still refuses
-- every other UPDATE.
CREATE ROLE redaction_writer;
GRANT warden_user TO redaction_writer;
GRANT USAGE ON SCHEMA warden TO redaction_writer;
SET LOCAL ROLE redaction_writer;
SELECT public.outcome(format($$SELECT warden.redact_audit(%s, ARRAY['reason'], 'x')$$, :first));
SELECT public.outcome($$SELECT warden.erase_subject('{"actor": "bob@example.com"}', 'x')$$);
RESET ROLE;
SELECT public.outcome(format($$UPDATE warden.audit_log SET reason = NULL WHERE id = %s$$, :first));
-- A writer granted INSERT on the ledger cannot forge pg_warden's own entries: a
-- redaction record the chain trigger signed would vouch for an erasure done by hand.
CREATE ROLE ledger_inserter;
GRANT USAGE ON SCHEMA warden TO ledger_inserter;
GRANT INSERT ON warden.audit_log TO ledger_inserter;
SET LOCAL ROLE ledger_inserter;
SELECT public.outcome(format($$INSERT INTO warden.audit_log (event_type, action, resource_type, details)
  VALUES ('audit_redaction', 'REDACT', 'audit_log', '{"redacted": [{"id": %s, "fields": ["reason"]}]}')$$, :second));
SELECT public.outcome($$INSERT INTO warden.audit_log (event_type, action) VALUES ('audit_control', 'AUDIT_DDL')$$);
SELECT public.outcome($$INSERT INTO warden.audit_log (event_type, action) VALUES ('app', 'OK')$$);
RESET ROLE;
-- Nor can a superuser's plain INSERT, which the chain trigger completes and signs.
SELECT public.outcome($$INSERT INTO warden.audit_log (event_type, action) VALUES ('audit_redaction', 'REDACT')$$);
-- An erasure names a subject: a match on the kind of event alone, or an empty
-- "contains", would erase far more than a person. A malformed address is refused
-- without echoing it.
SELECT public.outcome(q) FROM (VALUES
    ($$SELECT warden.erase_subject('{"contains": {}}', 'x')$$),
    ($$SELECT warden.erase_subject('{"event_type": "login", "tenant": "acme"}', 'x')$$),
    ($$SELECT warden.erase_subject('{"client_addr": "not-an-address-5551234"}', 'x')$$)
) AS t(q);
-- Redaction records are never redacted: they account for every erasure.
SELECT public.outcome(format($$SELECT warden.redact_audit(id, ARRAY['actor'], 'x') FROM warden.audit_log
  WHERE event_type = 'audit_redaction' ORDER BY id LIMIT 1$$));
SELECT warden.erase_subject(jsonb_build_object('session_user_name', session_user), 'x', ARRAY['session_user_name']) > 0 AS erased_some;
SELECT count(*) AS records_with_session_user FROM warden.audit_log
 WHERE event_type = 'audit_redaction' AND session_user_name IS NOT NULL;
SELECT count(*) AS records_total FROM warden.audit_log WHERE event_type = 'audit_redaction';
-- A version-1 entry (written before 0.3.0) cannot be redacted while its chain verifies.
SAVEPOINT s;
SELECT public.tamper(format($$UPDATE warden.audit_log SET field_seals = NULL WHERE id = %s$$, :second));
SELECT public.outcome(format($$SELECT warden.redact_audit(%s, ARRAY['actor'], 'x')$$, :second));
-- erase_subject leaves it as it is, with a WARNING saying how many it left.
SELECT warden.erase_subject('{"actor": "bob@example.com"}', 'x');
SELECT actor FROM warden.audit_log WHERE id = :second;
ROLLBACK TO SAVEPOINT s;
-- An entry whose hash still matches but whose signature does not (content rewritten
-- and its entry_hash recomputed, which anyone can do) is refused too: redacting it
-- would erase the evidence.
SAVEPOINT s;
SELECT public.tamper(format($$UPDATE warden.audit_log SET signature = decode(repeat('00', 32), 'hex') WHERE id = %s$$, :second));
SELECT public.outcome(format($$SELECT warden.redact_audit(%s, ARRAY['actor'], 'x')$$, :second));
ROLLBACK TO SAVEPOINT s;
ROLLBACK;
