//! The ledger's Merkle tree (RFC 9162, `warden_core::ledger::merkle`): built behind the
//! writers by `warden.advance_audit_tree()`, never on their commit path, with a signed
//! head per round; inclusion proofs (`warden.audit_proof`) and consistency proofs
//! (`warden.audit_consistency`) from what it stored.
//!
//! # Leaf order
//!
//! Leaf `i` is the entry with the `i`-th smallest `id`. Ids are taken from the identity
//! sequence before an entry is written and commit in any order, so a round appends only
//! ids no transaction can still commit: it reads the sequence's last value `L` and the
//! next transaction id `X`, and waits until every transaction older than `X` has ended.
//! A writer takes its transaction id before its entry's id (`chain.rs`), so every id up
//! to `L` then belongs to a finished transaction: committed (and visible) or never to be.
//!
//! # Storage
//!
//! - `warden.audit_tree_leaves`: the leaf hashes, 256 to a block, with the ids they are
//!   of (the block of an id is the one with the greatest `first_id` not above it).
//! - `warden.audit_tree_node`: the root of every perfect subtree of 256 leaves or more,
//!   as it completes: a proof reads O(log n) of them and at most two blocks.
//! - `warden.audit_tree_head`: each round's signed head and the tree's frontier, from
//!   which the next round goes on.
//!
//! Retention deletes entries, never leaves: proofs about the entries that remain stay
//! valid, and heads stay consistent.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::LazyLock;

use pgrx::prelude::*;
use pgrx::JsonB;
use warden_core::ledger::merkle::{self, NodeRef, Tree};
use warden_core::ledger::{self, Hash, TreeHead};

use super::{now_micros, SigningKey};
use crate::error::{SqlResult, WardenError};
use crate::privilege;

/// Leaves per block of `warden.audit_tree_leaves`; nodes of this level and above are
/// stored in `warden.audit_tree_node`.
const BLOCK_LEVEL: u32 = 8;
const BLOCK: u64 = 1 << BLOCK_LEVEL;
/// Advisory lock key (with the ledger's "ward" class) that one builder holds at a time.
const BUILDER_LOCK: i32 = -1;
/// How long a round waits for older transactions before it gives up until the next one.
const HORIZON_WAIT_MS: u64 = 2_000;

struct Head {
    head: TreeHead,
    last_id: i64,
    frontier: Vec<u8>,
}

fn read_head(query: &str, args: &[pgrx::datum::DatumWithOid<'_>]) -> Result<Option<Head>, WardenError> {
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let table = client.select(query, Some(1), args)?;
            if table.is_empty() {
                return Ok(None);
            }
            head_from_row(&table.first()).map(Some)
        })
        .map_err(|e: pgrx::spi::SpiError| WardenError::from(e))
    })
}

/// A row of [`HEAD_COLUMNS`].
fn head_from_row(row: &pgrx::spi::SpiTupleTable<'_>) -> pgrx::spi::SpiResult<Head> {
    let hash = |v: Option<Vec<u8>>| v.and_then(|v| <Hash>::try_from(v).ok()).unwrap_or([0; 32]);
    Ok(Head {
        head: TreeHead {
            tree_size: row.get::<i64>(1)?.unwrap_or(0) as u64,
            root: hash(row.get::<Vec<u8>>(2)?),
            timestamp: row.get::<i64>(3)?.unwrap_or(0),
            key_name: row.get::<String>(4)?.unwrap_or_default(),
            key_version: row.get::<i32>(5)?.unwrap_or(0),
            signature: row.get::<Vec<u8>>(6)?.unwrap_or_default(),
        },
        last_id: row.get::<i64>(7)?.unwrap_or(0),
        frontier: row.get::<Vec<u8>>(8)?.unwrap_or_default(),
    })
}

const HEAD_COLUMNS: &str = "tree_size, root, \
    ((EXTRACT(epoch FROM created_at) OPERATOR(pg_catalog.-) 946684800) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8, \
    key_name, key_version, signature, last_id, frontier";

/// The latest signed tree head, for `warden.audit_digest()`; `None` also before the
/// update to 0.3.0 has made the tree's tables (the library serves older objects until
/// `ALTER EXTENSION pg_warden UPDATE`).
pub(super) fn latest_tree_head() -> Result<Option<TreeHead>, WardenError> {
    if !super::warden_table_exists(c"audit_tree_head") {
        return Ok(None);
    }
    Ok(latest_head()?.map(|h| h.head))
}

fn latest_head() -> Result<Option<Head>, WardenError> {
    read_head(LATEST_HEAD.as_str(), &[])
}

/// Waits until every other transaction that holds a write lock on the ledger `table`
/// now has ended; false if one is still running after [`HORIZON_WAIT_MS`]. Every writer
/// locks the ledger (RowExclusiveLock, until it ends) before it takes an entry's id, so
/// once they have ended, every id issued before the call is decided: committed, or never
/// to be. Transactions that do not write the ledger are not waited for.
fn wait_for_ledger_writers(table: pg_sys::Oid) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(HORIZON_WAIT_MS);
    let tag = pg_sys::LOCKTAG {
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: table.to_u32(),
        locktag_field3: 0,
        locktag_field4: 0,
        locktag_type: pg_sys::LockTagType::LOCKTAG_RELATION as u8,
        locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
    };
    // The holders of locks that conflict with ShareLock: writers (this backend aside).
    let writers: Vec<pg_sys::VirtualTransactionId> = unsafe {
        let mut count: std::ffi::c_int = 0;
        let array = pg_sys::GetLockConflicts(&tag, pg_sys::ShareLock as pg_sys::LOCKMODE, &mut count);
        (0..count.max(0) as usize).map(|i| *array.add(i)).collect()
    };
    for writer in writers {
        while !unsafe { pg_sys::VirtualXactLock(writer, false) } {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            unsafe { pg_sys::pg_usleep(1_000) };
            pgrx::check_for_interrupts!();
        }
    }
    true
}

/// The leaves of block `block`: (ids, leaf hashes).
fn read_block(block: i64) -> Result<(Vec<i64>, Vec<Hash>), WardenError> {
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let table = client.select(
                "SELECT ids, hashes FROM warden.audit_tree_leaves WHERE block OPERATOR(pg_catalog.=) $1",
                Some(1),
                &[block.into()],
            )?;
            if table.is_empty() {
                return Ok((Vec::new(), Vec::new()));
            }
            let row = table.first();
            let ids: Vec<i64> = row.get::<Vec<i64>>(1)?.unwrap_or_default();
            let bytes = row.get::<Vec<u8>>(2)?.unwrap_or_default();
            let hashes = bytes.chunks_exact(32).map(|c| <Hash>::try_from(c).expect("32 bytes")).collect();
            Ok::<_, pgrx::spi::SpiError>((ids, hashes))
        })
    })
}

fn tree_corrupt(what: impl std::fmt::Display) -> WardenError {
    WardenError::LedgerCorrupt(format!("the audit tree is inconsistent: {what}"))
}

/// `warden.advance_audit_tree(max_entries)`: appends the entries written since the last
/// round (at most `max_entries`) to the tree and signs its new head; returns the size.
#[pg_extern(volatile, parallel_unsafe)]
fn advance_audit_tree(max_entries: default!(i32, 100000)) -> SqlResult<i64> {
    privilege::require_admin("advance the audit tree")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.advance_audit_tree()".as_ptr()) };
    if max_entries < 1 {
        return Err(WardenError::invalid("max_entries must be at least 1").into());
    }
    let locked = privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT pg_catalog.pg_try_advisory_xact_lock($1, $2)",
                    Some(1),
                    &[super::chain::LEASE_LOCK_CLASS.into(), BUILDER_LOCK.into()],
                )?
                .first()
                .get_one::<bool>()
        })
    })?;
    if locked != Some(true) {
        return Ok(latest_head()?.map_or(0, |h| h.head.tree_size as i64));
    }
    // The entries are read with a snapshot taken after the wait below; a transaction
    // snapshot (REPEATABLE READ) would hide those committed during it.
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        return Err(WardenError::NotSupported {
            message: "warden.advance_audit_tree() must run at READ COMMITTED".into(),
            hint: "Call it outside a REPEATABLE READ or SERIALIZABLE transaction.".into(),
        }
        .into());
    }
    // Ids that arrive from elsewhere (a logical-replication subscriber's copy of a
    // ledger) are not issued here: the horizon below knows nothing of them.
    let table = unsafe {
        pg_sys::get_relname_relid(c"audit_log".as_ptr(), pg_sys::get_namespace_oid(c"warden".as_ptr(), false))
    };
    if super::chain::subscribed(table)? {
        return Err(WardenError::NotSupported {
            message: "this ledger is a logical-replication subscriber's copy: build its tree on the publisher".into(),
            hint:
                "Publish warden.audit_tree_head, warden.audit_tree_leaves and warden.audit_tree_node with the ledger."
                    .into(),
        }
        .into());
    }
    // The horizon: the sequence's last value, read before waiting for the writers that
    // hold the ledger now (one of them may hold an id up to it, not yet committed).
    let last_value = super::last_issued_id()?.unwrap_or(0);
    let before = latest_head()?;
    if last_value <= before.as_ref().map_or(0, |h| h.last_id) || !wait_for_ledger_writers(table) {
        return Ok(before.map_or(0, |h| h.head.tree_size as i64));
    }
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetLatestSnapshot()) };
    // An error leaves the snapshot to the abort, which pops it.
    let size = advance_from(max_entries, last_value)?;
    unsafe { pg_sys::PopActiveSnapshot() };
    Ok(size)
}

/// One round, read under the active snapshot: appends the entries with ids up to
/// `last_value` after the latest head's, at most `max_entries`.
fn advance_from(max_entries: i32, last_value: i64) -> Result<i64, WardenError> {
    let current = latest_head()?;
    let current_size = current.as_ref().map_or(0, |h| h.head.tree_size as i64);
    let from_id = current.as_ref().map_or(0, |h| h.last_id);
    if last_value <= from_id {
        return Ok(current_size);
    }

    let mut tree = match &current {
        Some(head) => Tree::from_bytes(&head.frontier).map_err(tree_corrupt)?,
        None => Tree::new(),
    };
    // The round goes on only from a head that is what it was signed as: its frontier's
    // root is its root and its signature verifies.
    if let Some(head) = &current {
        if tree.size() != head.head.tree_size || tree.root() != head.head.root {
            return Err(tree_corrupt("the latest head's frontier is not that head's tree"));
        }
        let signed = super::verification_key(&head.head.key_name, head.head.key_version)
            .is_some_and(|key| head.head.signature_valid(&key));
        if !signed {
            return Err(tree_corrupt(format!(
                "the signature of the head of size {} does not verify",
                head.head.tree_size
            )));
        }
    }
    // The block the next leaf goes to, as stored so far.
    let mut block = (tree.size() / BLOCK) as i64;
    let (mut ids, mut hashes) = if tree.size() % BLOCK == 0 { (Vec::new(), Vec::new()) } else { read_block(block)? };
    if ids.len() as u64 != tree.size() % BLOCK || hashes.len() != ids.len() {
        return Err(tree_corrupt(format!("block {block} does not hold the leaves the head counts")));
    }
    // last_id is not signed: between the tree's last leaf and it, no entry may exist (a
    // last_id moved ahead would leave entries out of the tree for good).
    let last_leaf = match ids.last() {
        Some(id) => *id,
        None if block > 0 => read_block(block - 1)?.0.last().copied().unwrap_or(0),
        None => 0,
    };
    let skipped = privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT pg_catalog.count(*) FROM warden.audit_log \
                      WHERE id OPERATOR(pg_catalog.>) $1 AND id OPERATOR(pg_catalog.<=) $2",
                    Some(1),
                    &[last_leaf.into(), from_id.into()],
                )?
                .first()
                .get_one::<i64>()
        })
    })?;
    if skipped.unwrap_or(0) > 0 {
        return Err(tree_corrupt(format!(
            "{} entries between the tree's last leaf and the latest head's last_id are not in the tree",
            skipped.unwrap_or(0)
        )));
    }

    let mut blocks: Vec<(i64, Vec<i64>, Vec<Hash>)> = Vec::new();
    let mut nodes: Vec<(NodeRef, Hash)> = Vec::new();
    let mut last_id = from_id;
    let mut appended = 0u64;
    let rows = privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let mut rows = Vec::new();
            for row in client.select(
                "SELECT id, entry_hash FROM warden.audit_log \
                  WHERE id OPERATOR(pg_catalog.>) $1 AND id OPERATOR(pg_catalog.<=) $2 ORDER BY id LIMIT $3",
                None,
                &[from_id.into(), last_value.into(), (max_entries as i64).into()],
            )? {
                rows.push((row.get::<i64>(1)?.unwrap_or(0), row.get::<Vec<u8>>(2)?.unwrap_or_default()));
            }
            Ok::<_, pgrx::spi::SpiError>(rows)
        })
    })?;
    let complete = (rows.len() as i64) < max_entries as i64;
    for (id, entry_hash) in rows {
        let leaf = merkle::leaf_hash(&entry_hash);
        tree.append_with(leaf, |node, hash| {
            if node.level >= BLOCK_LEVEL {
                nodes.push((node, *hash));
            }
        });
        ids.push(id);
        hashes.push(leaf);
        last_id = id;
        appended += 1;
        if ids.len() as u64 == BLOCK {
            blocks.push((block, std::mem::take(&mut ids), std::mem::take(&mut hashes)));
            block += 1;
        }
    }
    if !ids.is_empty() {
        blocks.push((block, ids, hashes));
    }
    // Every id up to the horizon is decided: the next round starts after it.
    if complete {
        last_id = last_value;
    }
    // Only a round that grew the tree signs a head: a signed head is never replaced.
    if appended == 0 {
        return Ok(current_size);
    }

    let key = SigningKey::active()?;
    let head = TreeHead::new_signed(tree.size(), tree.root(), now_micros(), &key.name, key.version, &key.mac)
        .map_err(|e| WardenError::LedgerCorrupt(e.to_string()))?;
    write_round(&blocks, &nodes, &head, last_id, &tree)?;
    Ok(head.tree_size as i64)
}

fn write_round(
    blocks: &[(i64, Vec<i64>, Vec<Hash>)],
    nodes: &[(NodeRef, Hash)],
    head: &TreeHead,
    last_id: i64,
    tree: &Tree,
) -> Result<(), WardenError> {
    privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            for (block, ids, hashes) in blocks {
                let bytes: Vec<u8> = hashes.iter().flatten().copied().collect();
                client.update(
                    "INSERT INTO warden.audit_tree_leaves (block, first_id, ids, hashes) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (block) DO UPDATE SET ids = EXCLUDED.ids, hashes = EXCLUDED.hashes",
                    None,
                    &[(*block).into(), ids[0].into(), ids.clone().into(), bytes.into()],
                )?;
            }
            if !nodes.is_empty() {
                let levels: Vec<i32> = nodes.iter().map(|(n, _)| n.level as i32).collect();
                let indexes: Vec<i64> = nodes.iter().map(|(n, _)| n.index as i64).collect();
                let hashes: Vec<Vec<u8>> = nodes.iter().map(|(_, h)| h.to_vec()).collect();
                client.update(
                    "INSERT INTO warden.audit_tree_node (level, idx, hash) \
                     SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]), \
                                              pg_catalog.unnest($2::pg_catalog.int8[]), \
                                              pg_catalog.unnest($3::pg_catalog.bytea[]))",
                    None,
                    &[levels.into(), indexes.into(), hashes.into()],
                )?;
            }
            client.update(
                "INSERT INTO warden.audit_tree_head \
                   (tree_size, root, created_at, key_name, key_version, signature, last_id, frontier) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                None,
                &[
                    (head.tree_size as i64).into(),
                    head.root.to_vec().into(),
                    super::timestamptz(head.timestamp).into(),
                    head.key_name.clone().into(),
                    head.key_version.into(),
                    head.signature.clone().into(),
                    last_id.into(),
                    tree.to_bytes().into(),
                ],
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })
}

thread_local! {
    /// The proof's queries, prepared once per backend (the plan cache plans them again
    /// when a table they read changes): planning them on every call was two thirds of a
    /// proof's time.
    static PLANS: RefCell<HashMap<&'static str, Rc<pgrx::spi::OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

static LATEST_HEAD: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {HEAD_COLUMNS} FROM warden.audit_tree_head ORDER BY tree_size DESC LIMIT 1"));
static HEAD_OF_SIZE: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {HEAD_COLUMNS} FROM warden.audit_tree_head WHERE tree_size OPERATOR(pg_catalog.=) $1")
});
/// The entry of an id with its seals ([`super::sealed_select_list`]), for a ledger with
/// `field_seals` and for one 0.2.0 created.
static ENTRY_BY_ID: LazyLock<[String; 2]> = LazyLock::new(|| {
    let query = |seals: &str| {
        format!("SELECT {}, {seals} FROM warden.audit_log WHERE id OPERATOR(pg_catalog.=) $1", ledger::select_list())
    };
    [query(ledger::FIELD_SEALS_COLUMN), query("NULL::pg_catalog.bytea")]
});
const BLOCK_OF_ID: &str = "SELECT block, pg_catalog.array_position(ids, $1) FROM warden.audit_tree_leaves \
     WHERE first_id OPERATOR(pg_catalog.<=) $1 ORDER BY first_id DESC LIMIT 1";
const BLOCK_LEAVES: &str = "SELECT ids, hashes FROM warden.audit_tree_leaves WHERE block OPERATOR(pg_catalog.=) $1";
const NODES: &str = "SELECT n.level, n.idx, n.hash FROM warden.audit_tree_node n \
     JOIN ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.int8[])) AS w(level, idx) \
       ON n.level OPERATOR(pg_catalog.=) w.level AND n.idx OPERATOR(pg_catalog.=) w.idx";

/// The kept plan of `query`, whose parameters have the types `types`.
fn kept(
    client: &pgrx::spi::SpiClient<'_>,
    query: &'static str,
    types: &[pg_sys::Oid],
) -> pgrx::spi::SpiResult<Rc<pgrx::spi::OwnedPreparedStatement>> {
    if let Some(plan) = PLANS.with(|p| p.borrow().get(query).cloned()) {
        return Ok(plan);
    }
    let types: Vec<pgrx::PgOid> = types.iter().map(|&t| pgrx::PgOid::from(t)).collect();
    let plan = Rc::new(client.prepare(query, &types)?.keep());
    PLANS.with(|p| p.borrow_mut().insert(query, plan.clone()));
    Ok(plan)
}

/// What a proof reads, all through one SPI connection with kept plans.
struct ProofReader<'a, 'c> {
    client: &'a pgrx::spi::SpiClient<'c>,
}

impl ProofReader<'_, '_> {
    fn head(&self, size: Option<i64>) -> Result<Option<Head>, WardenError> {
        let table = match size {
            Some(size) => {
                let plan = kept(self.client, HEAD_OF_SIZE.as_str(), &[pg_sys::INT8OID])?;
                self.client.select(&*plan, Some(1), &[size.into()])?
            }
            None => {
                let plan = kept(self.client, LATEST_HEAD.as_str(), &[])?;
                self.client.select(&*plan, Some(1), &[])?
            }
        };
        if table.is_empty() {
            return Ok(None);
        }
        Ok(Some(head_from_row(&table.first())?))
    }

    fn head_of_size(&self, size: i64) -> Result<Head, WardenError> {
        self.head(Some(size))?.ok_or_else(|| {
            WardenError::invalid_with_hint(
                format!("no signed tree head of size {size}"),
                "warden.audit_status() and warden.audit_tree_head list the heads there are.",
            )
        })
    }

    /// (block, position from 1) of the leaf of entry `id`, if the tree has one.
    fn leaf_of(&self, id: i64) -> Result<Option<(i64, i32)>, WardenError> {
        let plan = kept(self.client, BLOCK_OF_ID, &[pg_sys::INT8OID])?;
        let table = self.client.select(&*plan, Some(1), &[id.into()])?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        Ok(row.get::<i64>(1)?.zip(row.get::<i32>(2)?))
    }

    /// The entry `id` as an export writes it, if the ledger still holds it.
    fn entry(&self, id: i64) -> Result<Option<serde_json::Value>, WardenError> {
        let query = &ENTRY_BY_ID[if super::ledger_has_seals() { 0 } else { 1 }];
        let plan = kept(self.client, query.as_str(), &[pg_sys::INT8OID])?;
        let table = self.client.select(&*plan, Some(1), &[id.into()])?;
        if table.is_empty() {
            return Ok(None);
        }
        let rows = unsafe { super::spi_rows() };
        let Some((values, nulls)) = rows.first() else { return Ok(None) };
        let row = super::SelectedRow { values, nulls };
        let value = ledger::export_sealed_entry_value(&row.entry(), row.seals())
            .map_err(|e| super::export_entry_error(id, e))?;
        Ok(Some(value))
    }

    fn block(&self, block: i64) -> Result<Vec<Hash>, WardenError> {
        let plan = kept(self.client, BLOCK_LEAVES, &[pg_sys::INT8OID])?;
        let table = self.client.select(&*plan, Some(1), &[block.into()])?;
        if table.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = table.first().get::<Vec<u8>>(2)?.unwrap_or_default();
        Ok(bytes.chunks_exact(32).map(|c| <Hash>::try_from(c).expect("32 bytes")).collect())
    }

    /// The roots of `needed`: stored nodes, and those below a block from its leaves.
    fn nodes(&self, needed: &[NodeRef]) -> Result<HashMap<NodeRef, Hash>, WardenError> {
        let mut nodes = HashMap::new();
        let (upper, lower): (Vec<NodeRef>, Vec<NodeRef>) = needed.iter().partition(|n| n.level >= BLOCK_LEVEL);
        if !upper.is_empty() {
            let levels: Vec<i32> = upper.iter().map(|n| n.level as i32).collect();
            let indexes: Vec<i64> = upper.iter().map(|n| n.index as i64).collect();
            let plan = kept(self.client, NODES, &[pg_sys::INT4ARRAYOID, pg_sys::INT8ARRAYOID])?;
            for row in self.client.select(&*plan, None, &[levels.into(), indexes.into()])? {
                let (level, index) = (row.get::<i16>(1)?.unwrap_or(0), row.get::<i64>(2)?.unwrap_or(0));
                let hash = <Hash>::try_from(row.get::<Vec<u8>>(3)?.unwrap_or_default())
                    .map_err(|_| tree_corrupt("a stored node is not 32 bytes"))?;
                nodes.insert(NodeRef { level: level as u32, index: index as u64 }, hash);
            }
        }
        let mut blocks: Vec<u64> = lower.iter().map(|n| (n.index << n.level) / BLOCK).collect();
        blocks.sort_unstable();
        blocks.dedup();
        for block in blocks {
            let leaves = self.block(block as i64)?;
            for node in lower.iter().filter(|n| (n.index << n.level) / BLOCK == block) {
                let start = ((node.index << node.level) % BLOCK) as usize;
                let end = start + (1usize << node.level);
                let Some(slice) = leaves.get(start..end) else {
                    return Err(tree_corrupt(format!("block {block} is missing leaves")));
                };
                nodes.insert(*node, merkle::root(slice));
            }
        }
        Ok(nodes)
    }
}

/// `warden.audit_proof(entry_id, tree_size)`: the entry, its leaf and its inclusion
/// proof against the signed head of `tree_size` leaves (the latest when NULL).
#[pg_extern(volatile, parallel_unsafe)]
fn audit_proof(entry_id: Option<i64>, tree_size: default!(Option<i64>, "NULL")) -> SqlResult<Option<JsonB>> {
    privilege::require_admin("prove an audit entry")?;
    let Some(entry_id) = entry_id else { return Ok(None) };
    let document = privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let reader = ProofReader { client };
            let head = match tree_size {
                Some(size) => reader.head_of_size(size)?,
                None => reader.head(None)?.ok_or_else(|| {
                    WardenError::invalid_with_hint(
                        "the audit tree has no signed head yet",
                        "Run SELECT warden.advance_audit_tree(); (or schedule it, see docs/audit.md).",
                    )
                })?,
            };
            let not_in_tree = || {
                WardenError::invalid_with_hint(
                    format!("entry {entry_id} is not in the audit tree of size {}", head.head.tree_size),
                    "Entries enter the tree when warden.advance_audit_tree() next runs.",
                )
            };
            let (block, position) = reader.leaf_of(entry_id)?.ok_or_else(not_in_tree)?;
            let leaf_index = block as u64 * BLOCK + (position as u64 - 1);
            if leaf_index >= head.head.tree_size {
                return Err(not_in_tree());
            }
            let entry = reader.entry(entry_id)?.ok_or_else(|| {
                WardenError::invalid(format!("entry {entry_id} is no longer in the ledger (purged); its leaf remains"))
            })?;
            let elements = merkle::inclusion_nodes(leaf_index, head.head.tree_size).map_err(tree_corrupt)?;
            let mut source = reader.nodes(&merkle::distinct_nodes(&elements))?;
            let proof = merkle::proof_from_nodes(&mut source, &elements).map_err(tree_corrupt)?;
            Ok::<_, WardenError>(ledger::inclusion_document(entry, leaf_index, &proof, &head.head))
        })
    })?;
    Ok(Some(JsonB(document)))
}

/// `warden.audit_consistency(old_size, new_size)`: that the signed tree of `old_size`
/// leaves is a prefix of the signed tree of `new_size`.
#[pg_extern(volatile, parallel_unsafe)]
fn audit_consistency(old_size: i64, new_size: i64) -> SqlResult<JsonB> {
    privilege::require_admin("prove the audit tree consistent")?;
    if old_size < 1 || new_size < old_size {
        return Err(WardenError::invalid("need 1 <= old_size <= new_size").into());
    }
    let document = privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let reader = ProofReader { client };
            let old = reader.head_of_size(old_size)?;
            let new = reader.head_of_size(new_size)?;
            let elements = merkle::consistency_nodes(old_size as u64, new_size as u64).map_err(tree_corrupt)?;
            let mut source = reader.nodes(&merkle::distinct_nodes(&elements))?;
            let proof = merkle::proof_from_nodes(&mut source, &elements).map_err(tree_corrupt)?;
            Ok::<_, WardenError>(ledger::consistency_document(&old.head, &new.head, &proof))
        })
    })?;
    Ok(JsonB(document))
}
