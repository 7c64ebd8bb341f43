//! Proofs from stored subtrees against the proofs built from every leaf: the same hashes,
//! subtrees that tile exactly the ranges the RFC hashes, and trees of up to 2^64 − 1
//! leaves whose proofs verify.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use sha2::{Digest as _, Sha256};

use super::super::*;
use super::*;
use crate::ledger::HASH_LEN;

/// Trees up to this size are checked for every leaf and every pair of sizes.
const MAX_SIZE: u64 = 300;

/// `count` leaf hashes over d(i) = SHA-256 of the decimal digits of `i`, as in the
/// parent module's tests.
fn leaves(count: u64) -> Vec<Hash> {
    (0..count).map(|i| leaf_hash(&Sha256::digest(i.to_string()))).collect()
}

/// Every perfect subtree of some leaves, built bottom up by pairing, independently of
/// [`root`] and of the proof code: `levels[l][i]` is the root of node (l, i).
struct AllNodes {
    levels: Vec<Vec<Hash>>,
    reads: usize,
}

impl AllNodes {
    fn new(leaves: &[Hash]) -> AllNodes {
        let mut levels = vec![leaves.to_vec()];
        while let Some(below) = levels.last().filter(|level| level.len() >= 2) {
            let above = below.chunks_exact(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
            levels.push(above);
        }
        AllNodes { levels, reads: 0 }
    }
}

impl NodeSource for AllNodes {
    type Error = MissingNode;

    fn node(&mut self, node: NodeRef) -> Result<Hash, MissingNode> {
        self.reads += 1;
        let index = usize::try_from(node.index).map_err(|_| MissingNode(node))?;
        self.levels.get(node.level as usize).and_then(|level| level.get(index)).copied().ok_or(MissingNode(node))
    }
}

/// A small deterministic generator (SplitMix64), so failures repeat.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `range`, which must not be empty.
    fn below(&mut self, range: Range<u64>) -> u64 {
        range.start + self.next() % (range.end - range.start)
    }

    /// A size spread over every order of magnitude up to `u64::MAX`.
    fn huge_size(&mut self) -> u64 {
        let bits = self.below(1..65) as u32;
        (self.next() >> (64 - bits)).max(1)
    }
}

/// A few indices (or old sizes) of `range` to compare byte for byte in the default run:
/// the first two, the last and one chosen at random.
fn sampled(range: Range<u64>, random: &mut Random) -> Vec<u64> {
    let (first, last) = (range.start, range.end - 1);
    let mut picks = vec![first, first + 1, last];
    picks.push(random.below(range.clone()));
    picks.retain(|pick| range.contains(pick));
    picks.sort_unstable();
    picks.dedup();
    picks
}

/// The leaves `nodes` cover, checking that they are perfect subtrees of strictly
/// decreasing size, each right after the one before: the decomposition of one range.
fn covered(nodes: &[NodeRef], case: &str) -> Range<u64> {
    assert!(!nodes.is_empty(), "{case}: empty element");
    let mut range = nodes[0].leaves().expect("fits");
    for pair in nodes.windows(2) {
        assert!(pair[0].level > pair[1].level, "{case}: {nodes:?} is not largest first");
    }
    for node in &nodes[1..] {
        let leaves = node.leaves().expect("fits");
        assert_eq!(leaves.start, range.end, "{case}: {nodes:?} is not contiguous");
        range.end = leaves.end;
    }
    range
}

/// Grows `covered` by `next`, which must touch it on the left or on the right.
fn extend(covered: &mut Range<u64>, next: Range<u64>, case: &str) {
    if next.end == covered.start {
        covered.start = next.start;
    } else if next.start == covered.end {
        covered.end = next.end;
    } else {
        panic!("{case}: {next:?} is not next to {covered:?}");
    }
}

/// Each hash of an inclusion proof is the sibling of the leaf's ancestor one level
/// further up: starting from the leaf, every element's range extends the part of the
/// tree covered so far on one side, until it is the whole tree.
fn check_inclusion_shape(index: u64, size: u64, elements: &[Vec<NodeRef>]) {
    let case = format!("leaf {index} of {size}");
    let mut so_far = index..index + 1;
    for nodes in elements {
        extend(&mut so_far, covered(nodes, &case), &case);
    }
    assert_eq!(so_far, 0..size, "{case}");
}

/// A consistency proof starts from the old tree's last perfect subtree (which it leaves
/// out when it is the whole old tree, a power of two) and widens to the whole new tree
/// one adjacent range at a time.
fn check_consistency_shape(old_size: u64, new_size: u64, elements: &[Vec<NodeRef>]) {
    let case = format!("{old_size} to {new_size}");
    if old_size == new_size {
        assert!(elements.is_empty(), "{case}");
        return;
    }
    let mut rest = elements.iter();
    let mut so_far = if old_size.is_power_of_two() {
        0..old_size
    } else {
        let first = covered(rest.next().expect("non-empty proof"), &case);
        // The old tree's smallest complete subtree ends where the old tree does.
        assert_eq!(first.end, old_size, "{case}: first element {first:?}");
        first
    };
    for nodes in rest {
        extend(&mut so_far, covered(nodes, &case), &case);
    }
    assert_eq!(so_far, 0..new_size, "{case}");
}

#[test]
fn every_proof_is_made_of_the_subtrees_of_the_ranges_it_hashes() {
    for size in 1..=MAX_SIZE {
        for index in 0..size {
            check_inclusion_shape(index, size, &inclusion_nodes(index, size).expect("nodes"));
        }
        for old_size in 1..=size {
            check_consistency_shape(old_size, size, &consistency_nodes(old_size, size).expect("nodes"));
        }
    }
    let mut random = Random(1);
    for _ in 0..2000 {
        let size = random.huge_size();
        let index = random.below(0..size);
        check_inclusion_shape(index, size, &inclusion_nodes(index, size).expect("nodes"));
        let old_size = random.below(1..size.saturating_add(1).max(2)).min(size);
        check_consistency_shape(old_size, size, &consistency_nodes(old_size, size).expect("nodes"));
    }
}

/// Proofs from `source` equal the slice-built proofs for every leaf of every size in
/// `sizes` that `pick` selects, and so do the proofs from a map of just the nodes
/// [`distinct_nodes`] names (how a database reads them).
fn check_against_slices(leaves: &[Hash], sizes: Range<u64>, mut pick: impl FnMut(Range<u64>) -> Vec<u64>) {
    let mut all = AllNodes::new(leaves);
    for size in sizes {
        for index in pick(0..size) {
            let expected = inclusion_proof(leaves, index, size).expect("proof");
            assert_eq!(inclusion_proof_from(&mut all, index, size), Ok(expected.clone()), "leaf {index} of {size}");
            let elements = inclusion_nodes(index, size).expect("nodes");
            let mut read: HashMap<NodeRef, Hash> =
                distinct_nodes(&elements).into_iter().map(|node| (node, all.node(node).expect("node"))).collect();
            assert_eq!(proof_from_nodes(&mut read, &elements), Ok(expected), "leaf {index} of {size}, read ahead");
        }
        for old_size in pick(1..size + 1) {
            let expected = consistency_proof(leaves, old_size, size).expect("proof");
            let case = format!("{old_size} to {size}");
            assert_eq!(consistency_proof_from(&mut all, old_size, size), Ok(expected.clone()), "{case}");
            let elements = consistency_nodes(old_size, size).expect("nodes");
            let mut read: HashMap<NodeRef, Hash> =
                distinct_nodes(&elements).into_iter().map(|node| (node, all.node(node).expect("node"))).collect();
            assert_eq!(proof_from_nodes(&mut read, &elements), Ok(expected), "{case}, read ahead");
        }
    }
}

/// Every size up to [`MAX_SIZE`], a few leaves and old sizes of each: building the
/// reference proofs from the leaves costs O(n) hashes each, and SHA-256 is slow in an
/// unoptimized build.
#[test]
fn proofs_from_nodes_equal_proofs_from_leaves_for_every_size() {
    let mut random = Random(2);
    check_against_slices(&leaves(MAX_SIZE), 1..MAX_SIZE + 1, |range| sampled(range, &mut random));
}

/// Every leaf and every old size of every size up to [`MAX_SIZE`]: about 4 minutes
/// unoptimized, seconds with `--release`; run with `--ignored`.
#[test]
#[ignore]
fn proofs_from_nodes_equal_proofs_from_leaves_for_every_size_exhaustive() {
    check_against_slices(&leaves(MAX_SIZE), 1..MAX_SIZE + 1, |range| range.collect());
}

#[test]
fn proofs_from_nodes_equal_proofs_from_leaves_for_random_larger_sizes() {
    const LARGEST: u64 = 3000;
    let leaves = leaves(LARGEST);
    let mut all = AllNodes::new(&leaves);
    let mut random = Random(3);
    for _ in 0..12 {
        let size = random.below(MAX_SIZE + 1..LARGEST + 1);
        let index = random.below(0..size);
        let expected = inclusion_proof(&leaves, index, size).expect("proof");
        assert_eq!(inclusion_proof_from(&mut all, index, size), Ok(expected), "leaf {index} of {size}");
        let old_size = random.below(1..size + 1);
        let expected = consistency_proof(&leaves, old_size, size).expect("proof");
        assert_eq!(consistency_proof_from(&mut all, old_size, size), Ok(expected), "{old_size} to {size}");
    }
}

/// A tree of any size whose every subtree root is known at once: leaf `i` is one of two
/// hashes, chosen by the parity of the bits set in `i` (the Thue–Morse sequence). A
/// subtree's leaves then differ only by that parity of its index, so node (l, i) is
/// `levels[l][parity(i)]`, and a tree of 2^64 − 1 leaves costs 128 hashes.
struct ThueMorse {
    levels: Vec<[Hash; 2]>,
}

fn parity(i: u64) -> usize {
    (i.count_ones() % 2) as usize
}

impl ThueMorse {
    fn new() -> ThueMorse {
        let mut levels = vec![[leaf_hash(b"even"), leaf_hash(b"odd")]];
        for _ in 1..u64::BITS {
            let [even, odd] = levels[levels.len() - 1];
            // The right half of a subtree has the opposite parity of its left half.
            levels.push([node_hash(&even, &odd), node_hash(&odd, &even)]);
        }
        ThueMorse { levels }
    }

    fn leaf(&self, index: u64) -> Hash {
        self.levels[0][parity(index)]
    }

    /// MTH of `len >= 1` leaves from `start` by the RFC's recursion, independently of
    /// [`frontier_nodes`] and [`combine`].
    fn mth(&self, start: u64, len: u64) -> Hash {
        if len.is_power_of_two() && start.is_multiple_of(len) {
            return self.levels[len.trailing_zeros() as usize][parity(start / len)];
        }
        let k = 1 << (len - 1).ilog2();
        node_hash(&self.mth(start, k), &self.mth(start + k, len - k))
    }
}

impl NodeSource for ThueMorse {
    type Error = std::convert::Infallible;

    fn node(&mut self, node: NodeRef) -> Result<Hash, Self::Error> {
        Ok(self.levels[node.level as usize][parity(node.index)])
    }
}

#[test]
fn proofs_from_nodes_verify_in_trees_of_up_to_u64_max_leaves() {
    let mut tree = ThueMorse::new();
    let mut random = Random(4);
    let mut sizes: Vec<u64> = (0..300).map(|_| random.huge_size()).collect();
    sizes.extend([1, 2, 3, u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) + 1, (1 << 63) - 1]);
    for size in sizes {
        let root = tree.mth(0, size);
        let frontier: Vec<Hash> = frontier_nodes(size).into_iter().map(|node| tree.node(node).expect("node")).collect();
        assert_eq!(combine(&frontier), root, "root of {size}");
        assert_eq!(Tree::from_parts(size, frontier).expect("tree").root(), root, "root of {size}");

        for index in [0, size - 1, random.below(0..size)] {
            let proof = inclusion_proof_from(&mut tree, index, size).expect("proof");
            assert!(verify_inclusion(&tree.leaf(index), index, size, &proof, &root), "leaf {index} of {size}");
            assert_eq!(proof.len(), inclusion_nodes(index, size).expect("nodes").len());
        }
        for old_size in [1, size, random.below(1..size.saturating_add(1).max(2)).min(size)] {
            let old_root = tree.mth(0, old_size);
            let proof = consistency_proof_from(&mut tree, old_size, size).expect("proof");
            assert!(verify_consistency(old_size, size, &old_root, &root, &proof), "{old_size} to {size}");
        }
    }
}

/// ⌈log₂ n⌉, for `n >= 1`.
fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        (n - 1).ilog2() + 1
    }
}

/// `hash` with bit 0 of byte `at` flipped.
fn altered(hash: &Hash, at: usize) -> Hash {
    let mut out = *hash;
    out[at] ^= 1;
    out
}

/// Every byte of every hash of `proof` altered in turn; with `one_byte_each`, one byte
/// per hash, a different one from hash to hash (for the long proofs of huge trees, whose
/// every byte would cost seconds unoptimized).
fn alterations(proof: &[Hash], one_byte_each: bool) -> impl Iterator<Item = Vec<Hash>> + '_ {
    (0..proof.len()).flat_map(move |i| {
        let bytes = if one_byte_each { i % HASH_LEN..i % HASH_LEN + 1 } else { 0..HASH_LEN };
        bytes.map(move |at| {
            let mut copy = proof.to_vec();
            copy[i] = altered(&copy[i], at);
            copy
        })
    })
}

/// Proofs built from nodes, in small trees and in huge ones, with a byte altered or
/// checked against the wrong leaf, index, size or root, fail.
#[test]
fn altered_proofs_from_nodes_fail() {
    let leaves = leaves(MAX_SIZE);
    let mut all = AllNodes::new(&leaves);
    let mut thue_morse = ThueMorse::new();
    let mut random = Random(5);
    let small = [1, 2, 3, 5, 8, 13, 64, 100, 255, 256, 257, MAX_SIZE];
    let huge = [random.huge_size(), random.huge_size() | 1 << 40, u64::MAX];
    let trees = small.iter().map(|&size| (size, false)).chain(huge.iter().map(|&size| (size, true)));
    for (size, is_huge) in trees {
        let (tree_root, leaf): (Hash, Box<dyn Fn(u64) -> Hash>) = if is_huge {
            let tree = ThueMorse::new();
            (tree.mth(0, size), Box::new(move |i| tree.leaf(i)))
        } else {
            (root(&leaves[..size as usize]), Box::new(|i| leaves[i as usize]))
        };
        let mut proof_of = |index| {
            if is_huge {
                inclusion_proof_from(&mut thue_morse, index, size).map_err(|_| ())
            } else {
                inclusion_proof_from(&mut all, index, size).map_err(|_| ())
            }
        };
        for index in [0, size / 2, size - 1] {
            let case = format!("leaf {index} of {size}");
            let proof = proof_of(index).expect("proof");
            let leaf_hash = leaf(index);
            assert!(verify_inclusion(&leaf_hash, index, size, &proof, &tree_root), "{case}");
            for wrong in alterations(&proof, is_huge) {
                assert!(!verify_inclusion(&leaf_hash, index, size, &wrong, &tree_root), "{case}, altered proof");
            }
            for at in 0..HASH_LEN {
                assert!(!verify_inclusion(&leaf_hash, index, size, &proof, &altered(&tree_root, at)), "{case}, root");
            }
            for other in [index ^ 1, index.wrapping_sub(1), index.wrapping_add(1), size, u64::MAX] {
                if other != index {
                    assert!(!verify_inclusion(&leaf_hash, other, size, &proof, &tree_root), "{case}, as leaf {other}");
                }
            }
            // A leaf whose hash differs: in the Thue–Morse tree, one of the other parity.
            let other_leaf = if is_huge { leaf(index ^ 1) } else { leaf((index + 1) % size) };
            if other_leaf != leaf_hash {
                assert!(!verify_inclusion(&other_leaf, index, size, &proof, &tree_root), "{case}, other leaf");
            }
        }
        // The right root under the wrong size: a size with another shape of path fails.
        let proof = proof_of(0).expect("proof");
        for other in [size.wrapping_mul(2), size / 2] {
            // Leaf 0's path is as long as the tree is deep: another depth cannot match.
            if other > 0 && ceil_log2(other) != ceil_log2(size) {
                assert!(!verify_inclusion(&leaf(0), 0, other, &proof, &tree_root), "leaf 0 of {size} as of {other}");
            }
        }
    }

    for (old_size, new_size) in [(1, 2), (3, 4), (6, 8), (7, 300), (100, 255), (256, 257), (129, 300)] {
        let case = format!("{old_size} to {new_size}");
        let (old_root, new_root) = (root(&leaves[..old_size as usize]), root(&leaves[..new_size as usize]));
        let proof = consistency_proof_from(&mut all, old_size, new_size).expect("proof");
        assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof), "{case}");
        for wrong in alterations(&proof, false) {
            assert!(!verify_consistency(old_size, new_size, &old_root, &new_root, &wrong), "{case}, altered");
        }
        for at in 0..HASH_LEN {
            let (bad_old, bad_new) = (altered(&old_root, at), altered(&new_root, at));
            assert!(!verify_consistency(old_size, new_size, &bad_old, &new_root, &proof), "{case}, old root");
            assert!(!verify_consistency(old_size, new_size, &old_root, &bad_new, &proof), "{case}, new root");
        }
        for other in [old_size - 1, old_size + 1] {
            if other > 0 && other < new_size {
                let other_root = root(&leaves[..other as usize]);
                assert!(!verify_consistency(other, new_size, &other_root, &new_root, &proof), "{case}, from {other}");
            }
        }
        let other_root = root(&leaves[..new_size as usize - 1]);
        assert!(!verify_consistency(old_size, new_size - 1, &old_root, &other_root, &proof), "{case}, to one less");
    }
}

#[test]
fn every_subtree_is_reported_once_as_its_last_leaf_arrives() {
    let leaves = leaves(MAX_SIZE);
    let all = AllNodes::new(&leaves);
    let mut tree = Tree::new();
    let mut reported = BTreeSet::new();
    for (index, leaf) in (0u64..).zip(&leaves) {
        let mut this_append = Vec::new();
        tree.append_with(*leaf, |node, hash| this_append.push((node, *hash)));
        // The leaf, then each subtree it closes, smallest first: one per trailing 1 bit
        // of the old size.
        let levels: Vec<u32> = this_append.iter().map(|(node, _)| node.level).collect();
        assert_eq!(levels, (0..=index.trailing_ones()).collect::<Vec<_>>(), "append {index}");
        for (node, hash) in this_append {
            assert_eq!(node.leaves().expect("fits").end, index + 1, "append {index}: {node:?} ends at the new leaf");
            assert_eq!(hash, all.levels[node.level as usize][node.index as usize], "append {index}: {node:?}");
            assert!(reported.insert(node), "append {index}: {node:?} reported twice");
        }
        let size = index + 1;
        assert_eq!(tree.size(), size);
        assert_eq!(tree.root(), root(&leaves[..size as usize]), "root of {size}");
        // Every perfect subtree of the tree so far, and nothing else, has been reported.
        let expected = (0..u64::BITS).map(|level| size >> level).sum::<u64>();
        assert_eq!(reported.len() as u64, expected, "after {size} leaves");
    }
}

/// What the extension does: store the subtrees of level 3 and up as appends report them,
/// rebuild lower ones from their leaves, and build proofs from that.
#[test]
fn proofs_from_stored_upper_levels_and_rehashed_low_nodes_equal_proofs_from_leaves() {
    const STORED_FROM_LEVEL: u32 = 3;
    struct Stored<'l> {
        leaves: &'l [Hash],
        upper: HashMap<NodeRef, Hash>,
    }
    impl NodeSource for Stored<'_> {
        type Error = MissingNode;
        fn node(&mut self, node: NodeRef) -> Result<Hash, MissingNode> {
            if node.level >= STORED_FROM_LEVEL {
                return self.upper.node(node);
            }
            let range = node.leaves().ok_or(MissingNode(node))?;
            let leaves = self.leaves.get(range.start as usize..range.end as usize).ok_or(MissingNode(node))?;
            Ok(root(leaves))
        }
    }

    let leaves = leaves(MAX_SIZE);
    let mut stored = Stored { leaves: &leaves, upper: HashMap::new() };
    let mut tree = Tree::new();
    let mut random = Random(6);
    for (size, leaf) in (1u64..).zip(&leaves) {
        tree.append_with(*leaf, |node, hash| {
            if node.level >= STORED_FROM_LEVEL {
                stored.upper.insert(node, *hash);
            }
        });
        let index = random.below(0..size);
        let expected = inclusion_proof(&leaves, index, size).expect("proof");
        assert_eq!(inclusion_proof_from(&mut stored, index, size), Ok(expected), "leaf {index} of {size}");
        let old_size = random.below(1..size + 1);
        let expected = consistency_proof(&leaves, old_size, size).expect("proof");
        assert_eq!(consistency_proof_from(&mut stored, old_size, size), Ok(expected), "{old_size} to {size}");
        // A tree rebuilt from stored nodes continues where the live one is.
        let frontier = frontier_nodes(size).into_iter().map(|node| stored.node(node).expect("node")).collect();
        assert_eq!(Tree::from_parts(size, frontier).as_ref(), Ok(&tree), "rebuilt at {size}");
    }
}

#[test]
fn frontier_nodes_tile_the_tree_largest_first() {
    let leaves = leaves(MAX_SIZE);
    let mut tree = Tree::new();
    let mut all = AllNodes::new(&leaves);
    for size in 0..=MAX_SIZE {
        let nodes = frontier_nodes(size);
        assert_eq!(nodes.len(), size.count_ones() as usize, "size {size}");
        if size > 0 {
            assert_eq!(covered(&nodes, &format!("size {size}")), 0..size);
        }
        let roots: Vec<Hash> = nodes.iter().map(|node| all.node(*node).expect("node")).collect();
        assert_eq!(roots, tree.frontier(), "size {size}");
        if let Some(leaf) = leaves.get(size as usize) {
            tree.append(*leaf);
        }
    }
    let nodes = frontier_nodes(u64::MAX);
    assert_eq!(nodes.len(), 64);
    assert_eq!(nodes[0], NodeRef { level: 63, index: 0 });
    assert_eq!(nodes[63], NodeRef { level: 0, index: u64::MAX - 1 });
    assert_eq!(covered(&nodes, "u64::MAX"), 0..u64::MAX);
}

#[test]
fn a_tree_round_trips_through_its_parts_and_its_bytes() {
    let leaves = leaves(MAX_SIZE + 1);
    let mut tree = Tree::new();
    for size in 0..=MAX_SIZE {
        let bytes = tree.to_bytes();
        assert_eq!(bytes.len(), 8 + HASH_LEN * size.count_ones() as usize);
        assert_eq!(bytes[..8], size.to_be_bytes());
        let restored = Tree::from_bytes(&bytes).expect("restores");
        assert_eq!(restored, tree, "size {size}");
        let rebuilt = Tree::from_parts(size, tree.frontier().to_vec()).expect("rebuilds");
        assert_eq!(rebuilt, tree, "size {size}");
        // A restored tree goes on exactly as the original.
        let (mut original, mut restored) = (tree.clone(), restored);
        original.append(leaves[size as usize]);
        restored.append(leaves[size as usize]);
        assert_eq!(restored.root(), original.root(), "size {size} + 1");
        tree.append(leaves[size as usize]);
    }
}

#[test]
fn malformed_tree_states_are_refused() {
    let leaves = leaves(7);
    let mut tree = Tree::new();
    leaves.iter().for_each(|leaf| tree.append(*leaf));
    let frontier = tree.frontier().to_vec();
    assert_eq!(frontier.len(), 3);

    assert_eq!(Tree::from_parts(7, frontier[..2].to_vec()), Err(MerkleError::FrontierLength { size: 7, found: 2 }));
    assert_eq!(Tree::from_parts(8, frontier.clone()), Err(MerkleError::FrontierLength { size: 8, found: 3 }));
    assert_eq!(Tree::from_parts(0, frontier[..1].to_vec()), Err(MerkleError::FrontierLength { size: 0, found: 1 }));
    assert_eq!(Tree::from_parts(0, vec![]), Ok(Tree::new()));
    assert_eq!(
        MerkleError::FrontierLength { size: 7, found: 2 }.to_string(),
        "a tree of 7 leaves has 3 perfect subtrees, but 2 roots were given"
    );

    let bytes = tree.to_bytes();
    for len in 0..bytes.len() + HASH_LEN + 1 {
        let mut cut = bytes.clone();
        cut.resize(len, 0);
        let result = Tree::from_bytes(&cut);
        if len == bytes.len() {
            assert_eq!(result, Ok(tree.clone()));
        } else if len < 8 || (len - 8) % HASH_LEN != 0 {
            assert_eq!(result, Err(MerkleError::TreeBytesLength { len }), "{len} bytes");
        } else {
            let found = (len - 8) / HASH_LEN;
            assert_eq!(result, Err(MerkleError::FrontierLength { size: 7, found }), "{len} bytes");
        }
    }
    // The size must agree with the roots that follow it.
    let mut resized = bytes.clone();
    resized[7] = 8;
    assert_eq!(Tree::from_bytes(&resized), Err(MerkleError::FrontierLength { size: 8, found: 3 }));
    assert_eq!(Tree::from_bytes(&0u64.to_be_bytes()), Ok(Tree::new()));
}

#[test]
fn combine_is_the_root_of_the_range() {
    let leaves = leaves(MAX_SIZE);
    let mut all = AllNodes::new(&leaves);
    assert_eq!(combine(&[]), root(&[]));
    assert_eq!(combine(&[leaves[0]]), leaves[0]);
    for size in 1..=MAX_SIZE {
        let roots: Vec<Hash> = frontier_nodes(size).into_iter().map(|node| all.node(node).expect("node")).collect();
        assert_eq!(combine(&roots), root(&leaves[..size as usize]), "size {size}");
    }
    // A right part of the RFC split, [256, 300): aligned but not from 0.
    let nodes = [NodeRef { level: 5, index: 8 }, NodeRef { level: 3, index: 36 }, NodeRef { level: 2, index: 74 }];
    let roots: Vec<Hash> = nodes.iter().map(|node| all.node(*node).expect("node")).collect();
    assert_eq!(combine(&roots), root(&leaves[256..300]));
}

#[test]
fn node_leaves_are_bounded() {
    assert_eq!(NodeRef { level: 0, index: 5 }.leaves(), Some(5..6));
    assert_eq!(NodeRef { level: 3, index: 2 }.leaves(), Some(16..24));
    assert_eq!(NodeRef { level: 63, index: 0 }.leaves(), Some(0..1 << 63));
    assert_eq!(NodeRef { level: 63, index: 1 }.leaves(), None);
    assert_eq!(NodeRef { level: 64, index: 0 }.leaves(), None);
    assert_eq!(NodeRef { level: 1, index: u64::MAX / 2 }.leaves(), None);
    assert_eq!(NodeRef { level: 0, index: u64::MAX }.leaves(), None);
    assert_eq!(NodeRef { level: 2, index: 7 }.to_string(), "node at level 2 index 7");
}

#[test]
fn impossible_proofs_and_missing_nodes_are_errors() {
    assert_eq!(inclusion_nodes(3, 3), Err(MerkleError::IndexOutOfRange { index: 3, size: 3 }));
    assert_eq!(inclusion_nodes(0, 0), Err(MerkleError::IndexOutOfRange { index: 0, size: 0 }));
    assert_eq!(inclusion_nodes(0, 1), Ok(vec![]));
    assert_eq!(consistency_nodes(0, 4), Err(MerkleError::InvalidSizes { old_size: 0, new_size: 4 }));
    assert_eq!(consistency_nodes(5, 4), Err(MerkleError::InvalidSizes { old_size: 5, new_size: 4 }));
    assert_eq!(consistency_nodes(4, 4), Ok(vec![]));

    let mut empty: HashMap<NodeRef, Hash> = HashMap::new();
    assert_eq!(
        inclusion_proof_from(&mut empty, 9, 9),
        Err(ProofError::Merkle(MerkleError::IndexOutOfRange { index: 9, size: 9 }))
    );
    assert_eq!(
        consistency_proof_from(&mut empty, 5, 3),
        Err(ProofError::Merkle(MerkleError::InvalidSizes { old_size: 5, new_size: 3 }))
    );
    // Leaf 0 of 3: first its sibling, leaf 1.
    let missing = ProofError::Source(MissingNode(NodeRef { level: 0, index: 1 }));
    assert_eq!(inclusion_proof_from(&mut empty, 0, 3), Err(missing.clone()));
    assert_eq!(missing.to_string(), "the node at level 0 index 1 is not available");
    // A map with every node but one the proof needs fails on that one.
    let leaves = leaves(MAX_SIZE);
    let mut all = AllNodes::new(&leaves);
    let elements = consistency_nodes(77, 300).expect("nodes");
    let needed = distinct_nodes(&elements);
    for left_out in &needed {
        let mut read: HashMap<NodeRef, Hash> = needed
            .iter()
            .filter(|node| *node != left_out)
            .map(|node| (*node, all.node(*node).expect("node")))
            .collect();
        assert_eq!(proof_from_nodes(&mut read, &elements), Err(MissingNode(*left_out)));
    }
    // The source is asked for each node of the proof once.
    all.reads = 0;
    consistency_proof_from(&mut all, 77, 300).expect("proof");
    assert_eq!(all.reads, elements.iter().map(Vec::len).sum::<usize>());
    assert_eq!(all.reads, needed.len());
}
