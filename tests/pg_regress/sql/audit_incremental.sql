-- Incremental verification: from a digest (or the latest valid verification) on, it
-- reads each chain's head and what follows, and finds what changed there; every run is
-- recorded in warden.audit_verification with its signed through.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT count(warden.log_event('inc', 'OLD')) FROM generate_series(1, 50);
SELECT valid, total_entries FROM warden.verify_audit();
SELECT warden.audit_digest() AS since \gset
SELECT count(warden.log_event('inc', 'NEW')) FROM generate_series(1, 5);
-- The entry before the head, the head and the five entries after it.
SELECT valid, total_entries FROM warden.verify_audit(:'since');
SELECT valid, total_entries FROM warden.verify_audit(NULL, full => false);
-- Nothing new since the last verification: only the head and the entry before it.
SELECT valid, total_entries FROM warden.verify_audit(NULL, full => false);
SELECT valid, total_entries FROM warden.verify_audit(:'since', full => true);
-- The run from audit_digest()'s heads, which nobody had verified, records no through;
-- the next one starts from the full run's.
SELECT mode, valid, entries_checked, through ->> 'format' AS through_format,
       (through -> 'chains' -> 0 ->> 'head_pos')::int AS through_head
  FROM warden.audit_verification ORDER BY id;

CREATE FUNCTION pg_temp.issues(since jsonb) RETURNS TABLE (chain_pos bigint, reason text)
LANGUAGE sql AS $$
    SELECT (i ->> 'chain_pos')::bigint, i ->> 'reason'
      FROM warden.verify_audit(since) v, jsonb_array_elements(v.issues) i
$$;

-- A new entry edited: found.
SAVEPOINT s;
SELECT public.tamper($$UPDATE warden.audit_log SET reason = 'edited' WHERE action = 'NEW' AND chain_pos = 53$$);
SELECT * FROM pg_temp.issues(:'since');
ROLLBACK TO SAVEPOINT s;
-- The head edited: found, though nothing before it is read.
SAVEPOINT s;
SELECT public.tamper($$UPDATE warden.audit_log SET reason = 'edited' WHERE chain_pos = 50$$);
SELECT * FROM pg_temp.issues(:'since');
ROLLBACK TO SAVEPOINT s;
-- The entry just before the head edited, or deleted: found at the boundary.
SAVEPOINT s;
SELECT public.tamper($$UPDATE warden.audit_log SET reason = 'edited' WHERE chain_pos = 49$$);
SELECT * FROM pg_temp.issues(:'since');
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT public.tamper($$DELETE FROM warden.audit_log WHERE chain_pos = 49$$);
SELECT * FROM pg_temp.issues(:'since');
ROLLBACK TO SAVEPOINT s;
-- The head and the new entries deleted (the chain cut back): the head is missing.
SAVEPOINT s;
SELECT public.tamper($$DELETE FROM warden.audit_log WHERE chain_pos >= 50$$);
SELECT * FROM pg_temp.issues(:'since');
ROLLBACK TO SAVEPOINT s;
-- An old entry edited: an incremental verification does not read it; a full one, and
-- the digest checked in full, do.
SAVEPOINT s;
SELECT public.tamper($$UPDATE warden.audit_log SET reason = 'edited' WHERE chain_pos = 10$$);
SELECT valid FROM warden.verify_audit(:'since');
SELECT valid, invalid_entries FROM warden.verify_audit(NULL, full => true);
SELECT valid, invalid_entries FROM warden.verify_audit(:'since', full => true);
ROLLBACK TO SAVEPOINT s;
-- A forged digest (its head moved) is refused by its signature.
SELECT * FROM pg_temp.issues(jsonb_set(:'since'::jsonb, '{chains,0,head_pos}', '1'));
-- An invalid verification records no through: the next incremental one starts again
-- from the last valid record, and finds the damage again.
SAVEPOINT s;
SELECT count(warden.log_event('inc', 'LATER')) FROM generate_series(1, 3);
SELECT public.tamper($$UPDATE warden.audit_log SET reason = 'edited' WHERE chain_pos = 57$$);
SELECT valid, total_entries FROM warden.verify_audit(NULL, full => false);
SELECT valid, total_entries FROM warden.verify_audit(NULL, full => false);
SELECT mode, valid, through IS NULL AS no_through FROM warden.audit_verification ORDER BY id DESC LIMIT 2;
ROLLBACK TO SAVEPOINT s;
-- purge_audit verifies incrementally, but reads what it is about to delete in full: an
-- entry edited behind the latest verified heads is never purged away unseen.
SAVEPOINT s;
SELECT valid FROM warden.verify_audit(NULL, full => false);
SELECT public.tamper($$UPDATE warden.audit_log SET reason = 'edited' WHERE chain_pos = 10$$);
SELECT valid FROM warden.verify_audit(NULL, full => false) AS incremental_sees_nothing;
SELECT outcome($$SELECT warden.purge_audit('0 seconds')$$) AS purge_of_edited_history;
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT warden.purge_audit('0 seconds') > 0 AS purged;
SELECT mode, valid FROM warden.audit_verification ORDER BY id DESC LIMIT 1;
SELECT valid FROM warden.verify_audit(NULL, full => true);
ROLLBACK TO SAVEPOINT s;
-- A full verification given no digest requires the heads the latest valid run recorded:
-- the newest entry deleted is found, a second run finds it again (a failed run records
-- no heads), and purged heads are accepted behind their checkpoints.
SAVEPOINT s;
SELECT valid FROM warden.verify_audit();
SELECT public.tamper($$DELETE FROM warden.audit_log WHERE id = (SELECT max(id) FROM warden.audit_log)$$);
SELECT valid, total_entries, jsonb_path_query_array(issues, '$[*].reason') AS reasons FROM warden.verify_audit();
SELECT valid, total_entries FROM warden.verify_audit();
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT valid FROM warden.verify_audit();
SELECT warden.purge_audit('0 seconds') > 0 AS purged;
SELECT valid, total_entries FROM warden.verify_audit();
ROLLBACK TO SAVEPOINT s;
-- A full run against a digest of one's choosing cannot record heads shorter than the
-- latest verified ones: valid against that digest, it records no through, and the
-- next verify_audit() still finds the cut.
SAVEPOINT s;
SELECT valid FROM warden.verify_audit();
SELECT public.tamper($$DELETE FROM warden.audit_log WHERE id = (SELECT max(id) FROM warden.audit_log)$$);
SELECT valid FROM warden.verify_audit(warden.audit_digest(), full => true) AS valid_against_a_fresh_digest;
SELECT through IS NULL AS recorded_no_through FROM warden.audit_verification ORDER BY id DESC LIMIT 1;
SELECT valid FROM warden.verify_audit();
ROLLBACK TO SAVEPOINT s;
-- A latest record that is no digest (inserted by a superuser) is reported, not an error
-- that would stop every verification and purge from then on.
SAVEPOINT s;
INSERT INTO warden.audit_verification (started_at, duration, mode, valid, entries_checked, invalid_entries, verified_by, through)
VALUES (now(), '0', 'full', true, 0, 0, 'forger', '{"format": "not a digest"}');
SELECT valid, jsonb_path_query_array(issues, '$[*].reason') AS reasons FROM warden.verify_audit();
SELECT valid FROM warden.verify_audit(NULL, full => false);
ROLLBACK TO SAVEPOINT s;
-- The records are append-only, for everyone: their rows and their triggers.
SELECT outcome($$UPDATE warden.audit_verification SET valid = true$$);
SELECT outcome($$DELETE FROM warden.audit_verification$$);
SELECT outcome($$TRUNCATE warden.audit_verification$$);
SELECT outcome($$ALTER TABLE warden.audit_verification DISABLE TRIGGER verification_append_only$$);
SELECT outcome($$ALTER TABLE warden.audit_verification DISABLE TRIGGER ALL$$);
SELECT outcome($$DROP TRIGGER verification_append_only ON warden.audit_verification$$);
SELECT outcome($$DROP TABLE warden.audit_verification$$);
SELECT outcome($$CREATE TABLE public.verification_child () INHERITS (warden.audit_verification)$$);
SELECT outcome($$ALTER SEQUENCE warden.audit_verification_id_seq RESTART WITH 1$$);
-- Only key officers verify.
CREATE ROLE inc_user;
GRANT warden_user TO inc_user;
SET LOCAL ROLE inc_user;
SELECT outcome($$SELECT * FROM warden.verify_audit(NULL, full => false)$$);
SELECT outcome($$SELECT * FROM warden.audit_verification$$);
RESET ROLE;
ROLLBACK;
