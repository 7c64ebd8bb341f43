//! RFC 9162 (Certificate Transparency 2.0) Merkle trees: the tree hash, an incremental
//! builder, and inclusion and consistency proofs with their verification.
//!
//! This is the groundwork for per-entry proofs of the audit ledger: a log that publishes
//! one root can then prove that a given entry is in it, and that a later root extends an
//! earlier one, without handing out the other entries.
//!
//! # Hashes (RFC 9162 §2.1.1)
//!
//! ```text
//! leaf_hash(d)      = SHA-256(0x00 || d)
//! node_hash(l, r)   = SHA-256(0x01 || l || r)
//! MTH({})           = SHA-256()                   the empty string
//! MTH({d(0)})       = leaf_hash(d(0))
//! MTH(D[n])         = node_hash(MTH(D[0:k]), MTH(D[k:n]))
//!                     for n > 1, k the largest power of two smaller than n
//! ```
//!
//! The distinct prefixes keep a leaf from ever passing for an interior node. Every
//! function here other than [`leaf_hash`] takes *leaf hashes*: a ledger entry enters the
//! tree as `leaf_hash(entry_hash)`, never as its bare `entry_hash`.
//!
//! # Leaf order
//!
//! A root commits to its leaves in one order, and an index means something only in that
//! order. This module never chooses it: the caller puts the leaves in sequence (by `id`,
//! by `(chain_id, chain_pos)`, or any other rule) and must give verifiers the same rule,
//! so that the index of an entry in a proof is one they can check.
//!
//! # Proofs
//!
//! - Inclusion: [`inclusion_proof`] is PATH (§2.1.3.1), the sibling subtree roots from
//!   the leaf up to the root; [`verify_inclusion`] is the algorithm of §2.1.3.2. A proof
//!   holds at most ⌈log₂ n⌉ hashes for a tree of `n` leaves.
//! - Consistency: [`consistency_proof`] is PROOF (§2.1.4.1), showing that the tree of
//!   `old_size` leaves is a prefix of the tree of `new_size` leaves;
//!   [`verify_consistency`] is the algorithm of §2.1.4.2. A proof holds at most
//!   ⌈log₂ n⌉ + 1 hashes: one more than an inclusion proof, for instance 3 from 3 leaves
//!   to 4 (the leaves 2 and 3, and the root of leaves 0 and 1).
//!
//! The RFC defines consistency proofs for `0 < old_size < new_size`. Equal sizes are
//! accepted as well, with the empty proof, and verify when the two roots are equal, so a
//! verifier needs no special case for a log that has not grown. An empty old tree is
//! refused: every tree extends it, and there is no root of it worth checking.
//!
//! A proof is checked against tree heads: a size and the root of that size, which the
//! verifier must hold as a pair it trusts (a signed head, say). The path does not pin the
//! size by itself.
//!
//! Building a proof recomputes subtree roots from the leaves, O(n) hashes; verifying one
//! takes O(log n).
//!
//! # Stored trees
//!
//! A database keeps the roots of perfect subtrees ([`NodeRef`]) rather than rehashing
//! its leaves: [`Tree::append_with`] reports each subtree an append completes,
//! [`inclusion_nodes`] and [`consistency_nodes`] name the subtrees each hash of a proof
//! is made of, and [`inclusion_proof_from`] and [`consistency_proof_from`] build the same
//! proofs as above from any [`NodeSource`]. A tree's state, its size and the roots of
//! [`frontier_nodes`], is saved with [`Tree::to_bytes`] and restored with
//! [`Tree::from_bytes`] or [`Tree::from_parts`].

use sha2::{Digest as _, Sha256};

use super::encoding::Hash;

mod store;

pub use store::{
    combine, consistency_nodes, consistency_proof_from, distinct_nodes, frontier_nodes, inclusion_nodes,
    inclusion_proof_from, proof_from_nodes, MissingNode, NodeRef, NodeSource, ProofError,
};

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// The hash a leaf enters the tree as: SHA-256(0x00 ‖ `entry_hash`).
pub fn leaf_hash(entry_hash: &[u8]) -> Hash {
    Sha256::new().chain_update([LEAF_PREFIX]).chain_update(entry_hash).finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ `left` ‖ `right`).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([NODE_PREFIX]).chain_update(left).chain_update(right).finalize().into()
}

/// MTH of the empty tree: SHA-256 of the empty string.
fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The Merkle Tree Hash of `leaves`, which are leaf hashes (see [`leaf_hash`]), in order.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// The largest power of two smaller than `n`, where the RFC splits a tree of `n >= 2`
/// leaves.
fn split(n: usize) -> usize {
    1 << (n - 1).ilog2()
}

/// An append-only tree kept as its frontier: the roots of the perfect subtrees that make
/// it up, one for each bit set in its size, so its state is O(log n) hashes however many
/// leaves it has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    size: u64,
    /// Perfect-subtree roots, largest (leftmost) first.
    frontier: Vec<Hash>,
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Appends one leaf, given as its leaf hash (see [`leaf_hash`]).
    ///
    /// # Panics
    ///
    /// When the tree already holds `u64::MAX` leaves.
    pub fn append(&mut self, leaf_hash: Hash) {
        self.append_with(leaf_hash, |_, _| {});
    }

    /// The number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle Tree Hash of the leaves appended, equal to [`root`] over them.
    pub fn root(&self) -> Hash {
        combine(&self.frontier)
    }
}

/// Why a proof could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MerkleError {
    /// The tree size asked for is larger than the number of leaves given.
    SizeBeyondLeaves {
        /// The tree size asked for.
        size: u64,
        /// The number of leaves given.
        leaves: usize,
    },
    /// The index is not that of a leaf of the tree: it is not smaller than the size.
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof needs `0 < old_size <= new_size`.
    InvalidSizes {
        /// The size of the earlier tree.
        old_size: u64,
        /// The size of the later tree.
        new_size: u64,
    },
    /// A tree's frontier must hold one root per bit set in its size.
    FrontierLength {
        /// The tree size.
        size: u64,
        /// The number of roots given.
        found: usize,
    },
    /// A tree's bytes must be an 8-byte size and whole 32-byte roots.
    TreeBytesLength {
        /// The number of bytes given.
        len: usize,
    },
}

impl std::fmt::Display for MerkleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MerkleError::SizeBeyondLeaves { size, leaves } => {
                write!(f, "a tree of {size} leaves was asked for, but only {leaves} leaves were given")
            }
            MerkleError::IndexOutOfRange { index, size } => {
                write!(f, "leaf index {index} is not in a tree of {size} leaves")
            }
            MerkleError::InvalidSizes { old_size, new_size } => {
                write!(f, "no consistency proof from {old_size} leaves to {new_size}: it needs 0 < old <= new")
            }
            MerkleError::FrontierLength { size, found } => write!(
                f,
                "a tree of {size} leaves has {} perfect subtrees, but {found} roots were given",
                size.count_ones()
            ),
            MerkleError::TreeBytesLength { len } => {
                write!(f, "{len} bytes are not a tree: it takes an 8-byte size and 32 bytes per root")
            }
        }
    }
}

impl std::error::Error for MerkleError {}

/// The first `size` leaves.
fn prefix(leaves: &[Hash], size: u64) -> Result<&[Hash], MerkleError> {
    usize::try_from(size)
        .ok()
        .and_then(|size| leaves.get(..size))
        .ok_or(MerkleError::SizeBeyondLeaves { size, leaves: leaves.len() })
}

/// The inclusion proof of leaf `index` in the tree of the first `size` of `leaves` (leaf
/// hashes): PATH(index, D[size]) of RFC 9162 §2.1.3.1, the lowest sibling first.
pub fn inclusion_proof(leaves: &[Hash], index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
    let tree = prefix(leaves, size)?;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    // `index < size`, and `size` fits a usize: `prefix` checked it.
    push_path(index as usize, tree, &mut proof);
    Ok(proof)
}

/// Appends PATH(`index`, `leaves`) to `proof`; `index < leaves.len()`.
fn push_path(index: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    if leaves.len() < 2 {
        return;
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    if index < k {
        push_path(index, left, proof);
        proof.push(root(right));
    } else {
        push_path(index - k, right, proof);
        proof.push(root(left));
    }
}

/// Whether `proof` shows that `leaf_hash` is leaf `index` of the tree of `size` leaves
/// whose root is `root`: the verification of RFC 9162 §2.1.3.2.
///
/// `size` and `root` must come from one tree head the verifier trusts, such as a signed
/// one: the path does not pin the size by itself (a proof in a tree of 3 leaves also
/// holds for that tree's root paired with the size 4).
pub fn verify_inclusion(leaf_hash: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    // 1. The leaf must be in the tree.
    if index >= size {
        return false;
    }
    // 2.-3. `fn_` is the RFC's `fn`, a Rust keyword.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    // 4.
    for p in proof {
        // a. The path is longer than the tree is deep.
        if sn == 0 {
            return false;
        }
        // b. `r` is a right child, or the last node of its level: then `p` is on its
        // left, at this level or, once `r` climbs past the levels where it has no
        // sibling, above.
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        // c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. The path reached the top, and there it gave the root.
    sn == 0 && r == *root
}

/// The consistency proof between the tree of the first `old_size` of `leaves` (leaf
/// hashes) and the tree of the first `new_size`: PROOF(old_size, D[new_size]) of
/// RFC 9162 §2.1.4.1, empty when the sizes are equal.
pub fn consistency_proof(leaves: &[Hash], old_size: u64, new_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let tree = prefix(leaves, new_size)?;
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::InvalidSizes { old_size, new_size });
    }
    let mut proof = Vec::new();
    // `0 < old_size <= new_size`, and `new_size` fits a usize: `prefix` checked it.
    push_subproof(old_size as usize, tree, true, &mut proof);
    Ok(proof)
}

/// Appends SUBPROOF(`old_size`, `leaves`, `whole_old_tree`) to `proof`, where
/// `whole_old_tree` says that the leaves before `leaves` all belong to the old tree's
/// prefix, so a verifier holds their root already; `0 < old_size <= leaves.len()`.
fn push_subproof(old_size: usize, leaves: &[Hash], whole_old_tree: bool, proof: &mut Vec<Hash>) {
    if old_size == leaves.len() {
        if !whole_old_tree {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    if old_size <= k {
        push_subproof(old_size, left, whole_old_tree, proof);
        proof.push(root(right));
    } else {
        push_subproof(old_size - k, right, false, proof);
        proof.push(root(left));
    }
}

/// Whether `proof` shows that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root`: the verification of
/// RFC 9162 §2.1.4.2, and for equal sizes an empty proof and equal roots.
///
/// As with [`verify_inclusion`], each size must come with its root from one trusted tree
/// head: the path does not pin `new_size` by itself.
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    // 1.
    if proof.is_empty() {
        return false;
    }
    // 2. An old tree of 2^j leaves is itself a subtree of the new one, so the proof
    // leaves out its root, which the verifier holds.
    let seed = old_size.is_power_of_two().then_some(old_root);
    let mut path = seed.into_iter().chain(proof);
    // 3.
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    // 4. Start from the level of the old tree's last complete subtree.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. The path holds at least one hash: the proof is not empty.
    let Some(&first) = path.next() else { return false };
    let (mut fr, mut sr) = (first, first);
    // 6.
    for c in path {
        // a.
        if sn == 0 {
            return false;
        }
        // b. `c` is on the left: part of both trees.
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            // `c` is on the right: leaves only the new tree has.
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7.
    fr == *old_root && sr == *new_root && sn == 0
}

#[cfg(test)]
mod tests;
