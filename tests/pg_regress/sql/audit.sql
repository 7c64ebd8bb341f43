-- Audit ledger: chaining, append-only guards, replica mode, capture, rotation,
-- retention, digests and tamper detection. Every script runs in one transaction that
-- is rolled back, so chain positions start at 1 and ids repeat from run to run.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.log_event('login', 'LOGIN', 'user', '42', '{"ip": "192.0.2.1", "password": "hunter2", "nested": [{"api_key": "k"}]}',
                        correlation_id => 'req-1', confidence => 0.95123, tenant => 'acme') AS first_id;
SELECT warden.log_event('logout', 'LOGOUT', actor => 'service-x') AS second_id;
-- A plain INSERT is chained like any other; client values for chain columns and
-- session facts are overwritten.
INSERT INTO warden.audit_log (event_type, action, chain_id, chain_pos, prev_hash, entry_hash, session_user_name, key_name)
VALUES ('direct', 'INSERT', 999, 999, '\x00', '\x00', 'someone_else', 'forged');
SELECT event_type, action, actor, resource_id, correlation_id, tenant, confidence, details,
       session_user_name, chain_pos, key_name, key_version, length(prev_hash) AS prev_len,
       length(entry_hash) AS hash_len, length(signature) AS sig_len
  FROM warden.audit_log ORDER BY chain_pos;
-- Links: each entry's prev_hash is its predecessor's entry_hash; the first links to zeros.
SELECT chain_pos, prev_hash = coalesce(lag(entry_hash) OVER (ORDER BY chain_pos), decode(repeat('00', 32), 'hex')) AS linked
  FROM warden.audit_log ORDER BY chain_pos;
SELECT count(DISTINCT chain_id) AS chains FROM warden.audit_log;
SELECT * FROM warden.verify_audit();

-- Append-only for everyone, superuser included, in replica mode too.
SELECT q, outcome(q) FROM (VALUES
    ($$UPDATE warden.audit_log SET action = 'x'$$),
    ($$DELETE FROM warden.audit_log$$),
    ($$TRUNCATE warden.audit_log$$),
    ($$UPDATE warden.audit_checkpoint SET chain_pos = 0$$),
    ($$ALTER TABLE warden.audit_log DISABLE TRIGGER audit_append_only$$),
    ($$ALTER TABLE warden.audit_log DISABLE TRIGGER ALL$$),
    ($$ALTER TABLE warden.audit_log DROP COLUMN reason$$),
    ($$CREATE TRIGGER skip BEFORE INSERT ON warden.audit_log FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()$$),
    ($$CREATE RULE no_delete AS ON DELETE TO warden.audit_log DO INSTEAD NOTHING$$),
    ($$DROP TRIGGER audit_append_only ON warden.audit_log$$),
    ($$DROP TABLE warden.audit_log$$),
    ($$SELECT warden.purge_audit('-1 day')$$)
) AS t(q);
SET LOCAL session_replication_role = replica;
SELECT outcome($$DELETE FROM warden.audit_log$$) AS replica_delete;
SELECT warden.log_event('replica', 'APPLY') IS NOT NULL AS replica_logged;
SELECT chain_pos, event_type FROM warden.audit_log WHERE event_type = 'replica';
SET LOCAL session_replication_role = origin;

-- Capture of a user table: before/after JSONB, secret-named columns as fingerprints.
CREATE TABLE public.accounts (id int PRIMARY KEY, email text, password text, api_token text);
SELECT warden.audit_table('public.accounts');
INSERT INTO public.accounts VALUES (1, 'ann@example.com', 'hunter2', 'tok-1');
UPDATE public.accounts SET email = 'ann@example.org', password = 'hunter3' WHERE id = 1;
DELETE FROM public.accounts WHERE id = 1;
TRUNCATE public.accounts;
SELECT event_type, action, resource_type, resource_id,
       before_state - 'password_fingerprint' - 'api_token_fingerprint' AS before_state,
       after_state - 'password_fingerprint' - 'api_token_fingerprint' AS after_state,
       after_state ->> 'password_fingerprint' = warden.fingerprint('hunter2', 'audit') AS after_fp_ok
  FROM warden.audit_log WHERE resource_type IN ('public.accounts', 'table') ORDER BY chain_pos;
SELECT count(*) AS raw_secrets_stored FROM warden.audit_log
 WHERE details::text LIKE '%hunter%' OR before_state::text LIKE '%hunter%' OR after_state::text LIKE '%hunter%'
    OR before_state::text LIKE '%tok-1%' OR after_state::text LIKE '%tok-1%';
SELECT warden.unaudit_table('public.accounts');
INSERT INTO public.accounts VALUES (2, 'bob@example.com', 'x', 'y');
SELECT count(*) AS captured_after_unaudit FROM warden.audit_log WHERE resource_id = '2';
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT warden.audit_table('warden.audit_log')$$),
    ($$SELECT warden.audit_table('pg_catalog.pg_class')$$),
    ($$SELECT warden.audit_table('no_such_table')$$),
    ($$SELECT warden.audit_table('accounts; drop table accounts')$$)
) AS t(q);

-- Rotation mid-ledger: new entries use version 2, old ones still verify.
SELECT warden.rotate_key('audit', '\xffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100');
SELECT warden.log_event('after_rotation', 'NOTE') IS NOT NULL AS logged;
SELECT key_version, count(*) FROM warden.audit_log GROUP BY key_version ORDER BY 1;
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();

-- Digest: small, signed, and catches tail truncation and rewriting.
SELECT warden.audit_digest() AS digest \gset
SELECT jsonb_typeof(:'digest'::jsonb -> 'chains') AS chains, :'digest'::jsonb ->> 'format' AS format,
       length(:'digest'::jsonb ->> 'signature') AS sig_len;
SELECT valid, invalid_entries FROM warden.verify_audit(:'digest');

-- Tampering as a superuser who disables every guard. Each case is undone afterwards.
CREATE FUNCTION pg_temp.report(digest jsonb DEFAULT NULL) RETURNS TABLE (entry_id bigint, chain_pos bigint, reason text)
LANGUAGE sql AS $$
    SELECT (i ->> 'entry_id')::bigint, (i ->> 'chain_pos')::bigint, i ->> 'reason'
      FROM (SELECT issues FROM warden.verify_audit() WHERE digest IS NULL
            UNION ALL SELECT issues FROM warden.verify_audit(digest, full => true) WHERE digest IS NOT NULL) v,
           jsonb_array_elements(v.issues) i
$$;

SAVEPOINT s;
SELECT public.tamper($$UPDATE warden.audit_log SET reason = 'edited' WHERE id = 2$$);
SELECT * FROM pg_temp.report();
ROLLBACK TO SAVEPOINT s;

SAVEPOINT s;
SELECT public.tamper($$DELETE FROM warden.audit_log WHERE id = 2$$);
SELECT * FROM pg_temp.report();
ROLLBACK TO SAVEPOINT s;

SAVEPOINT s;  -- a forged entry appended without the key
SELECT public.tamper($$INSERT INTO warden.audit_log (ts, event_type, action, actor, session_user_name, txid,
        chain_id, chain_pos, prev_hash, entry_hash, key_name, key_version, signature)
    SELECT ts, 'forged', 'GRANT', actor, session_user_name, txid, chain_id, chain_pos + 1, entry_hash,
           sha256('anything'), key_name, key_version, sha256('no key')
      FROM warden.audit_log ORDER BY chain_pos DESC LIMIT 1$$);
SELECT * FROM pg_temp.report();
ROLLBACK TO SAVEPOINT s;

SAVEPOINT s;  -- an entry copied, chain material and all, to another chain
SELECT public.tamper($$INSERT INTO warden.audit_log (ts, event_type, action, actor, session_user_name, txid,
        chain_id, chain_pos, prev_hash, entry_hash, key_name, key_version, signature)
    SELECT ts, event_type, action, actor, session_user_name, txid, chain_id + 1000, chain_pos, prev_hash,
           entry_hash, key_name, key_version, signature FROM warden.audit_log WHERE id = 2$$);
SELECT * FROM pg_temp.report();
ROLLBACK TO SAVEPOINT s;

SAVEPOINT s;  -- two entries swap places
SELECT public.tamper($$UPDATE warden.audit_log SET chain_pos = -chain_pos WHERE id IN (1, 2);
    UPDATE warden.audit_log SET chain_pos = CASE WHEN id = 1 THEN 2 ELSE 1 END WHERE id IN (1, 2)$$);
SELECT * FROM pg_temp.report();
ROLLBACK TO SAVEPOINT s;

SAVEPOINT s;  -- the tail removed: caught against the heads the last valid verification recorded, and with a digest
SELECT public.tamper($$DELETE FROM warden.audit_log WHERE chain_pos >= (SELECT max(chain_pos) - 1 FROM warden.audit_log)$$);
SELECT count(*) AS issues_without_digest FROM pg_temp.report();
SELECT * FROM pg_temp.report(:'digest');
ROLLBACK TO SAVEPOINT s;

SAVEPOINT s;  -- a forged digest
SELECT * FROM pg_temp.report(jsonb_set(:'digest'::jsonb, '{total_entries}', '1'));
ROLLBACK TO SAVEPOINT s;
SELECT outcome($$SELECT * FROM warden.verify_audit('{"format": "nope"}')$$) AS malformed_digest;

-- Retention: purge everything older than now behind checkpoints; the rest verifies.
SELECT warden.log_event('before_purge', 'NOTE') IS NOT NULL AS logged;
SELECT warden.purge_audit('0 seconds') > 0 AS purged;
SELECT event_type FROM warden.audit_log ORDER BY chain_pos;
SELECT count(*) AS checkpoints FROM warden.audit_checkpoint;
SELECT valid, total_entries, invalid_entries FROM warden.verify_audit();
SELECT valid, invalid_entries FROM warden.verify_audit(:'digest');
SELECT warden.log_event('after_purge', 'NOTE') IS NOT NULL AS logged;
SELECT valid FROM warden.verify_audit();

-- Large entries: a compressed details document and an out-of-line one verify like any
-- other, and a change inside one is found at that entry.
SELECT warden.log_event('large', 'NOTE', details => jsonb_build_object('text', repeat('abc', 400000))) IS NOT NULL AS compressed;
SELECT warden.log_event('large', 'NOTE', details => jsonb_build_object('hex',
         (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 20000) g))) IS NOT NULL AS out_of_line;
SELECT valid, invalid_entries FROM warden.verify_audit();
SAVEPOINT s;
SELECT public.tamper($$UPDATE warden.audit_log SET details = jsonb_set(details, '{hex}', to_jsonb(upper(details->>'hex'))) WHERE details ? 'hex'$$);
SELECT r.reason, a.event_type FROM pg_temp.report() r JOIN warden.audit_log a ON a.id = r.entry_id;
ROLLBACK TO SAVEPOINT s;
ROLLBACK;
