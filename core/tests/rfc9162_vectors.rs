//! The Merkle tree module against `data/rfc9162_vectors.json`, which
//! `rfc9162_reference.py` computes with a separate, recursive transcription of RFC 9162:
//! leaf hashes, roots, inclusion proofs and consistency proofs must match byte for byte,
//! and every stored proof must verify.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use warden_core::ledger::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion, Tree,
};
use warden_core::ledger::Hash;

const VECTORS: &str = include_str!("data/rfc9162_vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("rfc9162_vectors.json is JSON")
}

fn field<'a>(value: &'a Value, name: &str) -> &'a Value {
    value.get(name).unwrap_or_else(|| panic!("no {name:?} in {value}"))
}

fn list<'a>(value: &'a Value, name: &str) -> &'a [Value] {
    field(value, name).as_array().unwrap_or_else(|| panic!("{name:?} is not an array"))
}

fn number(value: &Value, name: &str) -> u64 {
    field(value, name).as_u64().unwrap_or_else(|| panic!("{name:?} is not a u64"))
}

fn hash(value: &Value) -> Hash {
    let text = value.as_str().unwrap_or_else(|| panic!("{value} is not a string"));
    hex::decode(text).expect("hex").try_into().expect("32 bytes")
}

fn hashes(value: &Value, name: &str) -> Vec<Hash> {
    list(value, name).iter().map(hash).collect()
}

/// The leaf hashes this side computes for d(i) = SHA-256 of the decimal digits of `i`.
fn leaves(count: u64) -> Vec<Hash> {
    (0..count).map(|i| leaf_hash(&Sha256::digest(i.to_string()))).collect()
}

/// `roots[n]` is the reference root of `n` leaves, checked to be complete and in order.
fn reference_roots(vectors: &Value) -> Vec<Hash> {
    let entries = list(vectors, "roots");
    for (size, entry) in entries.iter().enumerate() {
        assert_eq!(number(entry, "size"), size as u64, "roots are listed by size from 0");
    }
    entries.iter().map(|entry| hash(field(entry, "root"))).collect()
}

#[test]
fn leaf_hashes_match_the_reference() {
    let vectors = vectors();
    let expected = list(&vectors, "leaves");
    assert_eq!(expected.len(), 16);
    let ours = leaves(expected.len() as u64);
    for (index, entry) in expected.iter().enumerate() {
        assert_eq!(number(entry, "index"), index as u64);
        let entry_hash = hash(field(entry, "entry_hash"));
        assert_eq!(<Hash>::from(Sha256::digest(index.to_string())), entry_hash, "entry hash {index}");
        assert_eq!(leaf_hash(&entry_hash), hash(field(entry, "leaf_hash")), "leaf hash {index}");
        assert_eq!(ours[index], hash(field(entry, "leaf_hash")), "leaf hash {index}");
    }
}

#[test]
fn roots_match_the_reference() {
    let vectors = vectors();
    let expected = reference_roots(&vectors);
    assert_eq!(expected.len(), 17, "sizes 0 to 16");
    let leaves = leaves(expected.len() as u64 - 1);
    let mut tree = Tree::new();
    for (size, expected) in expected.iter().enumerate() {
        assert_eq!(root(&leaves[..size]), *expected, "root of {size}");
        assert_eq!(tree.root(), *expected, "incremental root of {size}");
        if let Some(leaf) = leaves.get(size) {
            tree.append(*leaf);
        }
    }
}

#[test]
fn inclusion_proofs_match_the_reference() {
    let vectors = vectors();
    let roots = reference_roots(&vectors);
    let leaves = leaves(16);
    let cases = list(&vectors, "inclusion");
    assert!(cases.len() >= 10, "a handful of cases");
    for case in cases {
        let (index, size) = (number(case, "index"), number(case, "size"));
        let expected = hashes(case, "proof");
        assert_eq!(inclusion_proof(&leaves, index, size), Ok(expected.clone()), "PATH({index}, {size})");
        let root = &roots[size as usize];
        assert!(verify_inclusion(&leaves[index as usize], index, size, &expected, root), "PATH({index}, {size})");
    }
}

#[test]
fn consistency_proofs_match_the_reference() {
    let vectors = vectors();
    let roots = reference_roots(&vectors);
    let leaves = leaves(16);
    let cases = list(&vectors, "consistency");
    assert!(cases.len() >= 10, "a handful of cases");
    for case in cases {
        let (old_size, new_size) = (number(case, "old_size"), number(case, "new_size"));
        let expected = hashes(case, "proof");
        let proof = consistency_proof(&leaves, old_size, new_size);
        assert_eq!(proof, Ok(expected.clone()), "PROOF({old_size}, {new_size})");
        let (old_root, new_root) = (&roots[old_size as usize], &roots[new_size as usize]);
        assert!(verify_consistency(old_size, new_size, old_root, new_root, &expected), "{old_size} to {new_size}");
    }
}
