-- The ledger's Merkle tree (RFC 9162) over entries in ascending id order, built behind
-- the writers by warden.advance_audit_tree() (src/audit/tree.rs), and the ledger's
-- status. Heads are signed with the audit key; a proof reads a few nodes and at most two
-- blocks of leaves.
CREATE TABLE warden.audit_tree_leaves (
    block    bigint   PRIMARY KEY,
    first_id bigint   NOT NULL UNIQUE,
    ids      bigint[] NOT NULL,
    hashes   bytea    NOT NULL
);
CREATE TABLE warden.audit_tree_node (
    level smallint NOT NULL,
    idx   bigint   NOT NULL,
    hash  bytea    NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE warden.audit_tree_head (
    tree_size   bigint      PRIMARY KEY,
    root        bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    key_name    text        NOT NULL,
    key_version integer     NOT NULL,
    signature   bytea       NOT NULL,
    last_id     bigint      NOT NULL,
    frontier    bytea       NOT NULL
);
REVOKE ALL ON warden.audit_tree_leaves, warden.audit_tree_node, warden.audit_tree_head FROM PUBLIC;
GRANT SELECT ON warden.audit_tree_leaves, warden.audit_tree_node, warden.audit_tree_head TO warden_admin;
SELECT pg_catalog.pg_extension_config_dump('warden.audit_tree_leaves', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_tree_node', '');
SELECT pg_catalog.pg_extension_config_dump('warden.audit_tree_head', '');

-- One row: what the ledger holds, who writes to it, how far the tree and verification
-- have come. Reads indexes only (no count over the ledger).
CREATE FUNCTION warden.audit_status(
    OUT last_id bigint, OUT entries_estimate bigint, OUT chains integer, OUT active_leases integer,
    OUT oldest_entry timestamptz, OUT newest_entry timestamptz,
    OUT tree_size bigint, OUT tree_last_id bigint, OUT tree_head_at timestamptz, OUT tree_lag bigint,
    OUT last_full_verification timestamptz, OUT last_full_valid boolean, OUT last_full_duration interval,
    OUT last_incremental_verification timestamptz, OUT last_incremental_valid boolean,
    OUT last_incremental_duration interval)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH RECURSIVE c(chain_id) AS (
    SELECT min(chain_id) FROM warden.audit_log
    UNION ALL
    SELECT (SELECT min(a.chain_id) FROM warden.audit_log a WHERE a.chain_id > c.chain_id)
      FROM c WHERE c.chain_id IS NOT NULL),
head AS (SELECT * FROM warden.audit_tree_head ORDER BY tree_size DESC LIMIT 1),
-- max(id), not the sequence: a standby's sequence runs ahead of what was used.
seq AS (SELECT max(id) AS v FROM warden.audit_log),
f AS (SELECT * FROM warden.audit_verification WHERE mode = 'full' ORDER BY id DESC LIMIT 1),
i AS (SELECT * FROM warden.audit_verification WHERE mode = 'incremental' ORDER BY id DESC LIMIT 1)
SELECT (SELECT v FROM seq),
       (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'warden.audit_log'::regclass),
       (SELECT count(*)::integer FROM c WHERE chain_id IS NOT NULL),
       (SELECT count(*)::integer FROM pg_locks WHERE locktype = 'advisory' AND classid = 2003874404
           AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND objid::bigint < 2147483648 AND granted),
       (SELECT min(ts) FROM warden.audit_log), (SELECT max(ts) FROM warden.audit_log),
       (SELECT tree_size FROM head), (SELECT head.last_id FROM head), (SELECT created_at FROM head),
       (SELECT greatest(coalesce((SELECT v FROM seq), 0) - coalesce((SELECT head.last_id FROM head), 0), 0)),
       (SELECT started_at FROM f), (SELECT valid FROM f), (SELECT duration FROM f),
       (SELECT started_at FROM i), (SELECT valid FROM i), (SELECT duration FROM i)
$$;
REVOKE ALL ON FUNCTION warden.audit_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.advance_audit_tree(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_proof(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION warden.audit_consistency(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION warden.audit_status(), warden.advance_audit_tree(integer),
    warden.audit_proof(bigint, bigint), warden.audit_consistency(bigint, bigint) TO warden_admin;

COMMENT ON TABLE warden.audit_tree_leaves IS
    'Leaf hashes of the ledger''s Merkle tree, 256 to a block, with the entry ids they are of (leaf i: the i-th smallest id).';
COMMENT ON TABLE warden.audit_tree_node IS
    'Roots of the perfect subtrees of 256 leaves and more, stored as they complete: what proofs are built from.';
COMMENT ON TABLE warden.audit_tree_head IS
    'Signed tree heads, one per warden.advance_audit_tree() round that grew the tree, with the frontier the next round continues from.';
COMMENT ON FUNCTION warden.advance_audit_tree(integer) IS
    'Appends the entries no running transaction can still add below (at most max_entries) to the ledger''s Merkle tree and signs its new head; returns the tree size. Run it on a schedule (pg_cron); writers never wait for it.';
COMMENT ON FUNCTION warden.audit_proof(bigint, bigint) IS
    'The entry, its leaf index and its RFC 9162 inclusion proof against the signed tree head of tree_size leaves (the latest when NULL): pg_warden-inclusion-proof-v1, checked offline by warden-verify --proof.';
COMMENT ON FUNCTION warden.audit_consistency(bigint, bigint) IS
    'RFC 9162 consistency proof that the signed tree of old_size leaves is a prefix of the one of new_size: pg_warden-consistency-proof-v1, checked offline by warden-verify --consistency.';
COMMENT ON FUNCTION warden.audit_status() IS
    'The ledger at a glance: last id, chains, active leases, oldest and newest entry, the tree''s size and lag behind the writers, the last full and incremental verification.';
