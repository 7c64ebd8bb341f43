-- The ledger's Merkle tree: built by advance_audit_tree in rounds, leaves in id order,
-- a signed head per round that grew it, inclusion and consistency proofs of
-- ⌈log₂ n⌉-ish hashes, and leaves that outlive retention.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT outcome($$SELECT warden.audit_proof(1)$$) AS before_any_head;
SELECT count(warden.log_event('tree', 'A')) FROM generate_series(1, 599);
-- Earlier scripts used ids: positions below are relative to this script's first entry.
SELECT min(id) - 1 AS base FROM warden.audit_log \gset
SELECT warden.advance_audit_tree() AS size;
-- Nothing new: no new head.
SELECT warden.advance_audit_tree() AS size;
SELECT count(warden.log_event('tree', 'B')) FROM generate_series(1, 300);
SELECT warden.advance_audit_tree(100) AS size_after_at_most_100;
SELECT warden.advance_audit_tree() AS size;
SELECT tree_size, last_id - :base AS last_entry, octet_length(root) AS root_len, octet_length(signature) AS sig_len
  FROM warden.audit_tree_head ORDER BY tree_size;
SELECT block, first_id - :base AS first_entry, array_length(ids, 1) AS leaves, octet_length(hashes) AS bytes
  FROM warden.audit_tree_leaves ORDER BY block;
SELECT level, count(*) FROM warden.audit_tree_node GROUP BY level ORDER BY level;
-- Leaf i is the entry with the i-th smallest id; proofs have ⌈log₂ n⌉ hashes or fewer.
SELECT e.n, p ->> 'leaf_index' AS leaf, p ->> 'tree_size' AS size, jsonb_array_length(p -> 'proof') AS hashes,
       p -> 'entry' ->> 'id' = (:base + e.n)::text AS entry_matches, p ->> 'format' AS format,
       p -> 'tree_head' ->> 'root' = (SELECT encode(root, 'hex') FROM warden.audit_tree_head WHERE tree_size = 899) AS head_root
  FROM (VALUES (1), (256), (257), (599), (899)) AS e(n), LATERAL (SELECT warden.audit_proof(:base + e.n)) AS q(p);
SELECT jsonb_array_length(warden.audit_proof(:base + 300, 599) -> 'proof') AS hashes_in_599,
       warden.audit_proof(:base + 300, 599) -> 'tree_head' ->> 'tree_size' AS head_size;
SELECT c ->> 'format' AS format, c -> 'old_head' ->> 'tree_size' AS old, c -> 'new_head' ->> 'tree_size' AS new,
       jsonb_array_length(c -> 'proof') AS hashes
  FROM (VALUES (599, 699), (599, 899), (699, 899), (899, 899)) AS s(o, n),
       LATERAL (SELECT warden.audit_consistency(s.o, s.n)) AS q(c);
SELECT what, regexp_replace(outcome(q), 'entry [0-9]+', 'entry N') AS outcome FROM (VALUES
    ('entry after the tree', format($$SELECT warden.audit_proof(%s)$$, :base + 900)),
    ('entry after that head', format($$SELECT warden.audit_proof(%s, 599)$$, :base + 699)),
    ('no head of that size', format($$SELECT warden.audit_proof(%s, 650)$$, :base + 1)),
    ('empty old tree', $$SELECT warden.audit_consistency(0, 599)$$),
    ('sizes reversed', $$SELECT warden.audit_consistency(899, 599)$$),
    ('no head of new size', $$SELECT warden.audit_consistency(599, 650)$$),
    ('no entries per round', $$SELECT warden.advance_audit_tree(0)$$)
) AS t(what, q);
SELECT warden.audit_proof(NULL) IS NULL AS null_entry;
SELECT tree_size, tree_last_id - :base AS tree_last_entry, tree_lag, chains FROM warden.audit_status();
-- A new entry enters with the next round; the status shows the lag until then.
SELECT warden.log_event('tree', 'C') - :base AS new_entry \gset
SELECT tree_lag FROM warden.audit_status();
SELECT warden.advance_audit_tree() AS size;
SELECT :new_entry AS new_entry, (warden.audit_proof(:base + :new_entry) ->> 'leaf_index')::int AS leaf_of_new_entry;
-- A round goes on only from a head that is what it was signed as; last_id, which is not
-- signed, may not skip an entry that exists.
SELECT count(warden.log_event('tree', 'D')) FROM generate_series(1, 5);
SAVEPOINT s;
UPDATE warden.audit_tree_head SET last_id = last_id + 5 WHERE tree_size = 900;
SELECT warden.log_event('tree', 'E') > 0 AS logged;
SELECT regexp_replace(outcome($$SELECT warden.advance_audit_tree()$$), '[0-9]+ entries', 'N entries') AS last_id_moved;
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
UPDATE warden.audit_tree_head SET root = '\x00' || substr(root, 2) WHERE tree_size = 900;
SELECT outcome($$SELECT warden.advance_audit_tree()$$) AS root_edited;
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
UPDATE warden.audit_tree_head SET created_at = created_at + interval '1 hour' WHERE tree_size = 900;
SELECT outcome($$SELECT warden.advance_audit_tree()$$) AS time_edited;
ROLLBACK TO SAVEPOINT s;
SELECT warden.advance_audit_tree() AS size;
-- audit_digest carries the latest head under its signature; the digest still verifies.
SELECT warden.audit_digest() -> 'tree_head' ->> 'tree_size' AS digest_tree_size,
       (SELECT valid FROM warden.verify_audit(warden.audit_digest())) AS digest_verifies,
       (SELECT valid FROM warden.verify_audit(jsonb_set(warden.audit_digest(), '{tree_head,tree_size}', '1'))) AS edited_head_verifies;
-- Only key officers build and prove.
CREATE ROLE tree_user;
GRANT warden_user TO tree_user;
SET LOCAL ROLE tree_user;
SELECT q, outcome(q) FROM (VALUES ($$SELECT warden.advance_audit_tree()$$), ($$SELECT warden.audit_proof(1)$$),
    ($$SELECT warden.audit_consistency(1, 1)$$), ($$SELECT * FROM warden.audit_status()$$),
    ($$SELECT * FROM warden.audit_tree_head$$)) AS t(q);
RESET ROLE;
ROLLBACK;
