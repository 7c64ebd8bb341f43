//! Merkle trees against published vectors, and every proof of every small tree against
//! every alteration of it.

use sha2::{Digest as _, Sha256};

use super::*;
use crate::ledger::HASH_LEN;

/// Trees up to this size are checked exhaustively: every leaf, every pair of sizes.
const MAX_SIZE: u64 = 64;

/// `count` leaf hashes over d(i) = SHA-256 of the decimal digits of `i`, the inputs of
/// `core/tests/rfc9162_reference.py`.
fn leaves(count: u64) -> Vec<Hash> {
    (0..count).map(|i| leaf_hash(&Sha256::digest(i.to_string()))).collect()
}

/// `roots[n]` is the root of the first `n` of `leaves`.
fn roots(leaves: &[Hash]) -> Vec<Hash> {
    (0..=leaves.len()).map(|n| root(&leaves[..n])).collect()
}

fn h(hex_text: &str) -> Hash {
    hex::decode(hex_text).expect("hex").try_into().expect("32 bytes")
}

/// ⌈log₂ n⌉, for `n >= 1`.
fn ceil_log2(n: u64) -> usize {
    if n <= 1 {
        0
    } else {
        (n - 1).ilog2() as usize + 1
    }
}

/// `hash` with bit 0 of byte `at` flipped.
fn altered(hash: &Hash, at: usize) -> Hash {
    let mut out = *hash;
    out[at] ^= 1;
    out
}

/// How much of each proof the exhaustive tests alter.
#[derive(Clone, Copy)]
enum Sweep {
    /// Every byte of every proof hash in trees up to [`EVERY_BYTE_UP_TO`] leaves, one
    /// byte (a different one from proof to proof) above; neighbouring wrong indices and
    /// sizes. Seconds unoptimized.
    Sampled,
    /// Every byte of every proof hash, every wrong index and size.
    Exhaustive,
}

/// Up to this tree size, even [`Sweep::Sampled`] alters every byte of every proof hash.
const EVERY_BYTE_UP_TO: u64 = 16;

impl Sweep {
    /// The bytes to alter in each hash of a proof in a tree of `size` leaves; `seed`
    /// varies from proof to proof so that, sampled, every position is still exercised.
    fn bytes(self, size: u64, seed: u64) -> Vec<usize> {
        match self {
            Sweep::Sampled if size > EVERY_BYTE_UP_TO => vec![(seed % HASH_LEN as u64) as usize],
            _ => (0..HASH_LEN).collect(),
        }
    }

    /// Values other than `right` to try in its place, up to `max`.
    fn wrong(self, right: u64, max: u64) -> Vec<u64> {
        let candidates: Vec<u64> = match self {
            Sweep::Sampled => vec![0, right ^ 1, right.wrapping_sub(1), right + 1, right / 2, 2 * right, max],
            Sweep::Exhaustive => (0..=max).collect(),
        };
        let mut wrong: Vec<u64> = candidates.into_iter().filter(|&value| value != right && value <= max).collect();
        wrong.sort_unstable();
        wrong.dedup();
        wrong
    }
}

/// Copies of `proof`, each with one byte of one hash altered: in every hash, each of
/// the bytes at `positions`.
fn with_one_byte_altered(proof: &[Hash], positions: &[usize]) -> Vec<Vec<Hash>> {
    let mut copies = Vec::new();
    for i in 0..proof.len() {
        for &at in positions {
            let mut copy = proof.to_vec();
            copy[i] = altered(&copy[i], at);
            copies.push(copy);
        }
    }
    copies
}

/// `proof` with one hash appended, and with one prepended.
fn lengthened(proof: &[Hash], extra: &Hash) -> [Vec<Hash>; 2] {
    let mut appended = proof.to_vec();
    appended.push(*extra);
    let mut prepended = vec![*extra];
    prepended.extend_from_slice(proof);
    [appended, prepended]
}

/// The inputs and tree heads of the Certificate Transparency reference tests, from the
/// C++ log's merkle_tree_test.cc as carried on by transparency-dev/merkle
/// (`proof/verify_test.go`): computed by implementations other than this one and the
/// Python reference.
mod published {
    pub const INPUTS: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    /// `ROOTS[n]` is the root of the first `n` inputs.
    pub const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (leaf index, tree size, proof); the Go table counts leaves from 1.
    pub const INCLUSION: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// (old size, new size, proof).
    pub const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
}

#[test]
fn matches_the_published_certificate_transparency_vectors() {
    let leaves: Vec<Hash> =
        published::INPUTS.iter().map(|input| leaf_hash(&hex::decode(input).expect("hex"))).collect();
    let mut tree = Tree::new();
    for (size, expected) in published::ROOTS.iter().enumerate() {
        assert_eq!(root(&leaves[..size]), h(expected), "root of {size}");
        assert_eq!(tree.root(), h(expected), "incremental root of {size}");
        if let Some(leaf) = leaves.get(size) {
            tree.append(*leaf);
        }
    }
    for (index, size, expected) in published::INCLUSION {
        let expected: Vec<Hash> = expected.iter().map(|hash| h(hash)).collect();
        assert_eq!(inclusion_proof(&leaves, index, size), Ok(expected.clone()), "PATH({index}, {size})");
        let root = h(published::ROOTS[size as usize]);
        assert!(verify_inclusion(&leaves[index as usize], index, size, &expected, &root), "PATH({index}, {size})");
    }
    for (old_size, new_size, expected) in published::CONSISTENCY {
        let expected: Vec<Hash> = expected.iter().map(|hash| h(hash)).collect();
        let proof = consistency_proof(&leaves, old_size, new_size);
        assert_eq!(proof, Ok(expected.clone()), "PROOF({old_size}, {new_size})");
        let (old_root, new_root) = (h(published::ROOTS[old_size as usize]), h(published::ROOTS[new_size as usize]));
        assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &expected), "{old_size} to {new_size}");
    }
}

#[test]
fn hashes_are_prefixed_sha256() {
    let data = b"pg_warden";
    let mut leaf_input = vec![0x00];
    leaf_input.extend_from_slice(data);
    assert_eq!(leaf_hash(data), <Hash>::from(Sha256::digest(&leaf_input)));

    let (left, right) = (leaf_hash(b"left"), leaf_hash(b"right"));
    let mut node_input = vec![0x01];
    node_input.extend_from_slice(&left);
    node_input.extend_from_slice(&right);
    assert_eq!(node_hash(&left, &right), <Hash>::from(Sha256::digest(&node_input)));
    assert_ne!(node_hash(&left, &right), node_hash(&right, &left));
    // Without the prefixes these two would be the same SHA-256 input.
    assert_ne!(node_hash(&left, &right), leaf_hash(&[left, right].concat()));
}

#[test]
fn empty_and_single_leaf_trees() {
    let empty = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(root(&[]), empty);
    assert_eq!(Tree::new().root(), empty);
    assert_eq!(Tree::new().size(), 0);

    let leaf = leaf_hash(b"only");
    assert_eq!(root(&[leaf]), leaf);
    assert_eq!(inclusion_proof(&[leaf], 0, 1), Ok(vec![]));
    assert!(verify_inclusion(&leaf, 0, 1, &[], &leaf));
    assert!(!verify_inclusion(&leaf, 0, 1, &[], &altered(&leaf, 0)));
}

#[test]
fn incremental_tree_matches_batch_root_for_every_size() {
    let leaves = leaves(200);
    let mut tree = Tree::new();
    for size in 0..=leaves.len() {
        assert_eq!(tree.size(), size as u64);
        assert_eq!(tree.root(), root(&leaves[..size]), "size {size}");
        // One perfect subtree per bit of the size: the O(log n) state.
        assert_eq!(tree.frontier.len(), size.count_ones() as usize, "size {size}");
        if let Some(leaf) = leaves.get(size) {
            tree.append(*leaf);
        }
    }
}

#[test]
fn every_inclusion_proof_verifies_and_every_alteration_fails() {
    check_inclusion_proofs(Sweep::Sampled);
}

/// About 2 minutes unoptimized: run with `--ignored` (or `--include-ignored`).
#[test]
#[ignore]
fn every_inclusion_proof_verifies_and_every_alteration_fails_exhaustive() {
    check_inclusion_proofs(Sweep::Exhaustive);
}

/// For every leaf of every tree up to [`MAX_SIZE`] leaves: its proof verifies, and no
/// alteration `sweep` makes to the proof, the leaf, its index, the size or the root does.
fn check_inclusion_proofs(sweep: Sweep) {
    let leaves = leaves(2 * MAX_SIZE);
    let roots = roots(&leaves);
    for size in 1..=MAX_SIZE {
        let root = &roots[size as usize];
        for index in 0..size {
            let leaf = &leaves[index as usize];
            let proof = inclusion_proof(&leaves, index, size).expect("proof");
            let case = format!("leaf {index} of {size}");
            assert!(verify_inclusion(leaf, index, size, &proof, root), "{case}");

            for wrong in with_one_byte_altered(&proof, &sweep.bytes(size, index)) {
                assert!(!verify_inclusion(leaf, index, size, &wrong, root), "{case}, altered proof");
            }
            for at in sweep.bytes(size, index + 1) {
                assert!(!verify_inclusion(leaf, index, size, &proof, &altered(root, at)), "{case}, altered root");
                assert!(!verify_inclusion(&altered(leaf, at), index, size, &proof, root), "{case}, altered leaf");
            }
            for other in sweep.wrong(index, size) {
                assert!(!verify_inclusion(leaf, other, size, &proof, root), "{case}, claimed as leaf {other}");
                if let Some(other_leaf) = leaves.get(other as usize).filter(|_| other < size) {
                    assert!(!verify_inclusion(other_leaf, index, size, &proof, root), "{case}, leaf {other}'s hash");
                }
            }
            // Against the true head of another size.
            for other in sweep.wrong(size, 2 * MAX_SIZE) {
                let other_root = &roots[other as usize];
                assert!(!verify_inclusion(leaf, index, other, &proof, other_root), "{case}, head of {other}");
            }
            if let Some((_, shorter)) = proof.split_last() {
                assert!(!verify_inclusion(leaf, index, size, shorter, root), "{case}, truncated");
            }
            for longer in lengthened(&proof, root).iter().chain(&lengthened(&proof, leaf)) {
                assert!(!verify_inclusion(leaf, index, size, longer, root), "{case}, lengthened");
            }
        }
    }
}

#[test]
fn every_consistency_proof_verifies_and_every_alteration_fails() {
    check_consistency_proofs(Sweep::Sampled);
}

/// About 2 minutes unoptimized: run with `--ignored` (or `--include-ignored`).
#[test]
#[ignore]
fn every_consistency_proof_verifies_and_every_alteration_fails_exhaustive() {
    check_consistency_proofs(Sweep::Exhaustive);
}

/// For every pair of sizes `1 <= old <= new <= MAX_SIZE`: the proof verifies, and no
/// alteration `sweep` makes to the proof, a root or a size does.
fn check_consistency_proofs(sweep: Sweep) {
    let leaves = leaves(2 * MAX_SIZE);
    let roots = roots(&leaves);
    for new_size in 1..=MAX_SIZE {
        let new_root = &roots[new_size as usize];
        for old_size in 1..=new_size {
            let old_root = &roots[old_size as usize];
            let proof = consistency_proof(&leaves, old_size, new_size).expect("proof");
            let case = format!("{old_size} to {new_size}");
            assert!(verify_consistency(old_size, new_size, old_root, new_root, &proof), "{case}");
            assert_eq!(proof.is_empty(), old_size == new_size, "{case}");

            for wrong in with_one_byte_altered(&proof, &sweep.bytes(new_size, old_size)) {
                assert!(!verify_consistency(old_size, new_size, old_root, new_root, &wrong), "{case}, altered proof");
            }
            for at in sweep.bytes(new_size, old_size + 1) {
                let (bad_old, bad_new) = (altered(old_root, at), altered(new_root, at));
                assert!(!verify_consistency(old_size, new_size, &bad_old, new_root, &proof), "{case}, old root");
                assert!(!verify_consistency(old_size, new_size, old_root, &bad_new, &proof), "{case}, new root");
            }
            // Against the true heads of other sizes; and since rebuilding the old root
            // pins the old size, this old root under another old size fails too.
            for other in sweep.wrong(old_size, new_size) {
                let other_root = &roots[other as usize];
                assert!(!verify_consistency(other, new_size, other_root, new_root, &proof), "{case}, from {other}");
                assert!(!verify_consistency(other, new_size, old_root, new_root, &proof), "{case}, as from {other}");
            }
            for other in sweep.wrong(new_size, 2 * MAX_SIZE) {
                let other_root = &roots[other as usize];
                assert!(!verify_consistency(old_size, other, old_root, other_root, &proof), "{case}, to {other}");
            }
            if old_size == new_size {
                assert!(!verify_consistency(old_size, new_size, old_root, new_root, &[*old_root]), "{case}, non-empty");
                continue;
            }
            assert!(!verify_consistency(old_size, new_size, new_root, old_root, &proof), "{case}, swapped roots");
            assert!(!verify_consistency(old_size, new_size, old_root, new_root, &[]), "{case}, empty proof");
            if let Some((_, shorter)) = proof.split_last() {
                assert!(!verify_consistency(old_size, new_size, old_root, new_root, shorter), "{case}, truncated");
            }
            for longer in lengthened(&proof, old_root).iter().chain(&lengthened(&proof, new_root)) {
                assert!(!verify_consistency(old_size, new_size, old_root, new_root, longer), "{case}, lengthened");
            }
        }
    }
}

/// A proof checks a leaf, or an old tree, against a tree head: a size and a root that
/// belong together. The path alone does not pin the size: the 3-leaf tree's proofs hold
/// just as well for its root claimed as that of 4 leaves, which no honest head says.
#[test]
fn a_root_is_checked_only_together_with_its_size() {
    let leaves = leaves(4);
    let roots = roots(&leaves);
    let proof = inclusion_proof(&leaves, 0, 3).expect("proof");
    assert!(verify_inclusion(&leaves[0], 0, 3, &proof, &roots[3]));
    assert!(!verify_inclusion(&leaves[0], 0, 4, &proof, &roots[4]));
    assert!(verify_inclusion(&leaves[0], 0, 4, &proof, &roots[3]));

    let proof = consistency_proof(&leaves, 1, 3).expect("proof");
    assert!(verify_consistency(1, 3, &roots[1], &roots[3], &proof));
    assert!(!verify_consistency(1, 4, &roots[1], &roots[4], &proof));
    assert!(verify_consistency(1, 4, &roots[1], &roots[3], &proof));
}

#[test]
fn proof_sizes_are_logarithmic() {
    let leaves = leaves(MAX_SIZE);
    for size in 1..=MAX_SIZE {
        let bound = ceil_log2(size);
        let lengths: Vec<usize> =
            (0..size).map(|index| inclusion_proof(&leaves, index, size).expect("proof").len()).collect();
        assert!(lengths.iter().all(|&len| len <= bound), "inclusion in {size}: {lengths:?}, bound {bound}");
        // The first leaf is always at the bottom, so the bound is also reached.
        assert_eq!(lengths[0], bound, "inclusion of leaf 0 in {size}");

        let lengths: Vec<usize> =
            (1..=size).map(|old| consistency_proof(&leaves, old, size).expect("proof").len()).collect();
        assert!(lengths.iter().all(|&len| len <= bound + 1), "consistency to {size}: {lengths:?}, bound {bound} + 1");
        // From 3 leaves on, some old size needs the extra hash: 3 to 4 takes 3.
        let longest = lengths.iter().copied().max().unwrap_or_default();
        assert_eq!(longest, if size >= 4 { bound + 1 } else { bound }, "consistency to {size}: {lengths:?}");
    }
}

#[test]
fn proofs_outside_the_tree_are_refused() {
    let leaves = leaves(8);
    assert_eq!(inclusion_proof(&leaves, 8, 8), Err(MerkleError::IndexOutOfRange { index: 8, size: 8 }));
    assert_eq!(inclusion_proof(&leaves, 3, 3), Err(MerkleError::IndexOutOfRange { index: 3, size: 3 }));
    assert_eq!(inclusion_proof(&leaves, 0, 0), Err(MerkleError::IndexOutOfRange { index: 0, size: 0 }));
    assert_eq!(inclusion_proof(&leaves, 0, 9), Err(MerkleError::SizeBeyondLeaves { size: 9, leaves: 8 }));
    assert_eq!(inclusion_proof(&leaves, 0, u64::MAX), Err(MerkleError::SizeBeyondLeaves { size: u64::MAX, leaves: 8 }));

    assert_eq!(consistency_proof(&leaves, 0, 8), Err(MerkleError::InvalidSizes { old_size: 0, new_size: 8 }));
    assert_eq!(consistency_proof(&leaves, 5, 4), Err(MerkleError::InvalidSizes { old_size: 5, new_size: 4 }));
    assert_eq!(consistency_proof(&leaves, 4, 9), Err(MerkleError::SizeBeyondLeaves { size: 9, leaves: 8 }));
    assert_eq!(
        MerkleError::InvalidSizes { old_size: 5, new_size: 4 }.to_string(),
        "no consistency proof from 5 leaves to 4: it needs 0 < old <= new"
    );
}

#[test]
fn impossible_sizes_never_verify() {
    let leaves = leaves(8);
    let roots = roots(&leaves);
    let empty = &roots[0];
    // Nothing is a leaf of the empty tree.
    assert!(!verify_inclusion(&leaves[0], 0, 0, &[], empty));
    assert!(!verify_inclusion(&leaves[0], 0, 0, &[], &leaves[0]));
    assert!(!verify_inclusion(&leaves[0], u64::MAX, u64::MAX, &[], &leaves[0]));
    // No proof from the empty tree, or backwards.
    assert!(!verify_consistency(0, 0, empty, empty, &[]));
    assert!(!verify_consistency(0, 8, empty, &roots[8], &[]));
    let proof = consistency_proof(&leaves, 4, 8).expect("proof");
    assert!(!verify_consistency(8, 4, &roots[8], &roots[4], &proof));
    assert!(!verify_consistency(u64::MAX, u64::MAX - 1, &roots[8], &roots[4], &proof));
    assert!(verify_consistency(u64::MAX, u64::MAX, &roots[8], &roots[8], &[]));
}
