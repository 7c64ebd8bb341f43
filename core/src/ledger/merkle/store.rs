//! Proofs built from stored subtree roots instead of every leaf.
//!
//! A database cannot rehash a whole ledger for each proof. It keeps the roots of the
//! tree's *perfect subtrees* instead: [`NodeRef`] `{ level, index }` names the subtree over
//! leaves `[index·2^level, (index+1)·2^level)`, whose root never changes once its last leaf
//! is in (RFC 9162's tree only ever adds subtrees to the right). [`Tree::append_with`]
//! reports each subtree as an append completes it, so they can be stored as they come;
//! a store may keep only the higher levels and rebuild a low node from its leaves with
//! [`root`](super::root) over [`NodeRef::leaves`].
//!
//! Every hash of an RFC 9162 proof is the Merkle Tree Hash of a range of leaves that
//! starts on a boundary of its own size, so it splits into perfect subtrees of
//! decreasing size, left to right, and is their [`combine`]d root. [`inclusion_nodes`]
//! and [`consistency_nodes`] name those subtrees for each hash of a proof;
//! [`inclusion_proof_from`] and [`consistency_proof_from`] fetch them from a
//! [`NodeSource`] and give the same proofs as [`inclusion_proof`](super::inclusion_proof)
//! and [`consistency_proof`](super::consistency_proof) over the leaves. A proof needs
//! O(log² n) nodes at most (O(log n) hashes, each of O(log n) subtrees), which
//! [`distinct_nodes`] lists so that a database reads them in one query.
//!
//! [`frontier_nodes`] names the subtrees a whole tree of a given size is made of, from
//! which [`Tree::from_parts`] rebuilds an incremental tree.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::ops::Range;

use super::{empty_root, node_hash, Hash, MerkleError, Tree};
use crate::ledger::HASH_LEN;

/// The perfect subtree of `2^level` leaves over `[index·2^level, (index+1)·2^level)`.
/// Level 0 is a single leaf (its root is the leaf hash itself).
///
/// Ordered by level, then index, as a database key `(level, index)` would be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeRef {
    /// Height above the leaves: the subtree holds `2^level` leaves.
    pub level: u32,
    /// Position among the subtrees of its level, from 0 at the left.
    pub index: u64,
}

impl NodeRef {
    /// The leaf indices the subtree covers, `None` when they do not fit a `u64` (no
    /// such subtree is in a tree whose size is a `u64`).
    pub fn leaves(&self) -> Option<Range<u64>> {
        let width = 1u64.checked_shl(self.level)?;
        let start = self.index.checked_mul(width)?;
        // The last leaf, `start + width - 1`, must be a u64; the range's end may then be
        // 2^64 only for a subtree ending at leaf u64::MAX, which no u64 size reaches.
        let end = start.checked_add(width)?;
        Some(start..end)
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node at level {} index {}", self.level, self.index)
    }
}

/// The Merkle Tree Hash of a range of leaves from the roots of the perfect subtrees that
/// make it up, largest (leftmost) first: folded from the right with
/// [`node_hash`](super::node_hash), since the RFC splits a range after its largest power
/// of two. The empty list gives the empty tree's hash.
pub fn combine(nodes: &[Hash]) -> Hash {
    match nodes.split_last() {
        None => empty_root(),
        Some((smallest, larger)) => larger.iter().rev().fold(*smallest, |right, left| node_hash(left, &right)),
    }
}

/// The perfect subtrees of a tree of `size` leaves, largest (leftmost) first: one per
/// bit set in `size`. Their roots are a [`Tree`]'s frontier, and [`combine`]d its root.
pub fn frontier_nodes(size: u64) -> Vec<NodeRef> {
    range_nodes(0, size)
}

/// For each hash of the inclusion proof of leaf `index` in the tree of `size` leaves, in
/// the order of [`inclusion_proof`](super::inclusion_proof) (the lowest sibling first),
/// the perfect subtrees, left to right, whose [`combine`]d roots are that hash.
pub fn inclusion_nodes(index: u64, size: u64) -> Result<Vec<Vec<NodeRef>>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut elements = Vec::new();
    push_path(index, 0, size, &mut elements);
    Ok(elements)
}

/// For each hash of the consistency proof from `old_size` leaves to `new_size`, in the
/// order of [`consistency_proof`](super::consistency_proof), the perfect subtrees, left
/// to right, whose [`combine`]d roots are that hash. Empty when the sizes are equal;
/// refused unless `0 < old_size <= new_size`.
pub fn consistency_nodes(old_size: u64, new_size: u64) -> Result<Vec<Vec<NodeRef>>, MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::InvalidSizes { old_size, new_size });
    }
    let mut elements = Vec::new();
    push_subproof(old_size, 0, new_size, true, &mut elements);
    Ok(elements)
}

/// Every node the proof `elements` names, once each, in [`NodeRef`] order: what a
/// database reads, in one query, before building the proof from them.
pub fn distinct_nodes(elements: &[Vec<NodeRef>]) -> Vec<NodeRef> {
    let mut nodes: Vec<NodeRef> = elements.iter().flatten().copied().collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// Where the roots of stored subtrees come from: a database table, a cache, a map of
/// the nodes [`distinct_nodes`] listed.
pub trait NodeSource {
    /// Why a node could not be had.
    type Error;

    /// The root of the perfect subtree `node`.
    fn node(&mut self, node: NodeRef) -> Result<Hash, Self::Error>;
}

/// A node the source was asked for and does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingNode(pub NodeRef);

impl fmt::Display for MissingNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} is not available", self.0)
    }
}

impl std::error::Error for MissingNode {}

/// The nodes read ahead, for instance those of [`distinct_nodes`].
impl<S: BuildHasher> NodeSource for HashMap<NodeRef, Hash, S> {
    type Error = MissingNode;

    fn node(&mut self, node: NodeRef) -> Result<Hash, MissingNode> {
        self.get(&node).copied().ok_or(MissingNode(node))
    }
}

/// Why a proof could not be built from a [`NodeSource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofError<E> {
    /// The index or sizes asked for admit no proof.
    Merkle(MerkleError),
    /// The source failed to give a node.
    Source(E),
}

impl<E: fmt::Display> fmt::Display for ProofError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::Merkle(e) => e.fmt(f),
            ProofError::Source(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ProofError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProofError::Merkle(e) => Some(e),
            ProofError::Source(e) => Some(e),
        }
    }
}

/// The proof whose hashes are the [`combine`]d roots of each of `elements`, as
/// [`inclusion_nodes`] or [`consistency_nodes`] gave them, read from `source`.
pub fn proof_from_nodes<S: NodeSource + ?Sized>(
    source: &mut S,
    elements: &[Vec<NodeRef>],
) -> Result<Vec<Hash>, S::Error> {
    let mut roots = Vec::new();
    elements
        .iter()
        .map(|nodes| {
            roots.clear();
            for node in nodes {
                roots.push(source.node(*node)?);
            }
            Ok(combine(&roots))
        })
        .collect()
}

/// [`inclusion_proof`](super::inclusion_proof) of leaf `index` in the tree of `size`
/// leaves, from the subtree roots `source` holds.
pub fn inclusion_proof_from<S: NodeSource + ?Sized>(
    source: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    let elements = inclusion_nodes(index, size).map_err(ProofError::Merkle)?;
    proof_from_nodes(source, &elements).map_err(ProofError::Source)
}

/// [`consistency_proof`](super::consistency_proof) from `old_size` leaves to `new_size`,
/// from the subtree roots `source` holds.
pub fn consistency_proof_from<S: NodeSource + ?Sized>(
    source: &mut S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    let elements = consistency_nodes(old_size, new_size).map_err(ProofError::Merkle)?;
    proof_from_nodes(source, &elements).map_err(ProofError::Source)
}

/// The largest power of two smaller than `n >= 2`, where the RFC splits `n` leaves.
fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// The perfect subtrees of the leaves `[start, end)`, largest first. The RFC only ever
/// takes the hash of a range that starts on a multiple of the largest power of two not
/// above its length (a left part is a perfect subtree; a right part starts where one
/// ends, and is no longer than it), so each piece is aligned to its own size.
fn range_nodes(start: u64, end: u64) -> Vec<NodeRef> {
    let len = end - start;
    let mut nodes = Vec::with_capacity(len.count_ones() as usize);
    let mut at = start;
    for level in (0..u64::BITS).rev().filter(|level| len >> level & 1 == 1) {
        debug_assert_eq!(at & ((1 << level) - 1), 0, "range [{start}, {end}) is not aligned");
        nodes.push(NodeRef { level, index: at >> level });
        at += 1 << level;
    }
    nodes
}

/// PATH(`index`, D[`start`:`end`]) as ranges of nodes; `start <= index < end`. Mirrors
/// the slice version in the parent module, on absolute leaf positions.
fn push_path(index: u64, start: u64, end: u64, elements: &mut Vec<Vec<NodeRef>>) {
    if end - start < 2 {
        return;
    }
    let middle = start + split(end - start);
    if index < middle {
        push_path(index, start, middle, elements);
        elements.push(range_nodes(middle, end));
    } else {
        push_path(index, middle, end, elements);
        elements.push(range_nodes(start, middle));
    }
}

/// SUBPROOF(`old_size`, D[`start`:`end`], `whole_old_tree`) as ranges of nodes, where
/// `old_size` counts from `start`; `0 < old_size <= end - start`.
fn push_subproof(old_size: u64, start: u64, end: u64, whole_old_tree: bool, elements: &mut Vec<Vec<NodeRef>>) {
    if old_size == end - start {
        if !whole_old_tree {
            elements.push(range_nodes(start, end));
        }
        return;
    }
    let k = split(end - start);
    if old_size <= k {
        push_subproof(old_size, start, start + k, whole_old_tree, elements);
        elements.push(range_nodes(start + k, end));
    } else {
        push_subproof(old_size - k, start + k, end, false, elements);
        elements.push(range_nodes(start, start + k));
    }
}

impl Tree {
    /// [`Tree::append`], calling `completed` with every perfect subtree the new leaf
    /// completes, smallest first: the leaf itself at level 0, then each subtree it closes
    /// by merging with the frontier. Each subtree of the tree is reported exactly once,
    /// when its last leaf arrives, with its final root.
    ///
    /// # Panics
    ///
    /// When the tree already holds `u64::MAX` leaves.
    pub fn append_with(&mut self, leaf_hash: Hash, mut completed: impl FnMut(NodeRef, &Hash)) {
        let index = self.size;
        let size = index.checked_add(1).expect("a Merkle tree holds at most u64::MAX leaves");
        // The new leaf completes one perfect subtree for each trailing 1 bit of the old
        // size: those frontier roots, smallest last, merge into it.
        let mut node = leaf_hash;
        completed(NodeRef { level: 0, index }, &node);
        for level in 1..=index.trailing_ones() {
            // One frontier root per bit set in the size: there is one for this bit.
            let left = self.frontier.pop().expect("the frontier holds a root for every bit set in the size");
            node = node_hash(&left, &node);
            completed(NodeRef { level, index: index >> level }, &node);
        }
        self.frontier.push(node);
        self.size = size;
    }

    /// The tree of `size` leaves whose frontier (the roots of [`frontier_nodes`]`(size)`,
    /// largest first) is `frontier`; refused unless it holds one root per bit set in
    /// `size`.
    pub fn from_parts(size: u64, frontier: Vec<Hash>) -> Result<Tree, MerkleError> {
        if frontier.len() != size.count_ones() as usize {
            return Err(MerkleError::FrontierLength { size, found: frontier.len() });
        }
        Ok(Tree { size, frontier })
    }

    /// The roots of the perfect subtrees that make up the tree, largest (leftmost) first:
    /// those of [`frontier_nodes`]`(self.size())`.
    pub fn frontier(&self) -> &[Hash] {
        &self.frontier
    }

    /// The tree's state as bytes: its size as a big-endian `u64`, then each frontier root
    /// (32 bytes), largest first. 8 + 32·popcount(size) bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + HASH_LEN * self.frontier.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for root in &self.frontier {
            out.extend_from_slice(root);
        }
        out
    }

    /// Reads [`Tree::to_bytes`]; refused unless `bytes` is a size and exactly one root per
    /// bit set in it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Tree, MerkleError> {
        let malformed = MerkleError::TreeBytesLength { len: bytes.len() };
        let (size, roots) = bytes.split_first_chunk::<8>().ok_or(malformed)?;
        let roots = roots.chunks_exact(HASH_LEN);
        if !roots.remainder().is_empty() {
            return Err(malformed);
        }
        let frontier = roots.map(|root| <Hash>::try_from(root).expect("chunks of HASH_LEN bytes")).collect();
        Tree::from_parts(u64::from_be_bytes(*size), frontier)
    }
}

#[cfg(test)]
mod tests;
