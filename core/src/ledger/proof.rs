//! Proof documents: that an entry is in the ledger's Merkle tree as a signed tree head
//! describes it, and that one signed tree head's tree is a prefix of a later one's. The
//! extension returns them (`warden.audit_proof(entry_id, tree_size)`,
//! `warden.audit_consistency(old_size, new_size)`); `warden-verify --proof` and
//! `--consistency` check them offline. Their formats are part of the contract auditors
//! rely on: a new layout gets a new `format`.
//!
//! # Leaves
//!
//! The tree ([`super::merkle`]) has one leaf per entry appended to it, in ascending `id`
//! order: leaf `i` (from 0) is the entry with the `i`-th smallest `id` among entries ever
//! appended to the tree, and its leaf hash is `leaf_hash(entry_hash)`, the RFC 9162 leaf
//! hash of the entry's stored 32-byte `entry_hash`. An entry's `entry_hash` covers its
//! content (its `id` included), its chain position and its predecessor's hash, so a leaf
//! commits to all of them.
//!
//! # Inclusion proof, version 1
//!
//! ```text
//! {"format": "pg_warden-inclusion-proof-v1",
//!  "entry": {"id": 42, "ts": "2026-11-22T06:15:01.123456Z", …, "signature": "…"},
//!  "leaf_index": 41,
//!  "tree_size": 100,
//!  "proof": ["<64 hex digits>", …],
//!  "tree_head": {"tree_size": 100, "root": "…", "timestamp": "…",
//!                "key_name": "audit", "key_version": 1, "signature": "…"}}
//! ```
//!
//! - `entry`: the entry exactly as one element of an export's `entries`
//!   ([`super::export`]), every column a field, so its hash and signature are recomputed
//!   as an export's are ([`export_entry_value`](super::export_entry_value) writes it).
//! - `leaf_index`: the entry's leaf; `tree_size`: the size of the tree the proof is in,
//!   equal to the head's.
//! - `proof`: the RFC 9162 inclusion proof (PATH, §2.1.3.1) of leaf `leaf_index` in the
//!   tree of `tree_size` leaves, the lowest sibling first; empty in a tree of one leaf.
//! - `tree_head`: the signed head of that tree ([`super::tree_head`]).
//!
//! [`InclusionDocument::verify`] checks that the entry's hash and signature verify, that
//! `tree_size` is the head's, that `leaf_index` is a leaf of it, that the proof leads from
//! the entry's leaf hash to the head's root, and that the head's signature verifies. It
//! cannot check that the entry's `id` is the `leaf_index`-th smallest, which takes the
//! other entries: the proof shows that this entry, as it is, is that leaf of the signed
//! tree.
//!
//! # Consistency proof, version 1
//!
//! ```text
//! {"format": "pg_warden-consistency-proof-v1",
//!  "old_head": {<tree head>},
//!  "new_head": {<tree head>},
//!  "proof": ["<64 hex digits>", …]}
//! ```
//!
//! `proof` is the RFC 9162 consistency proof (PROOF, §2.1.4.1) from `old_head.tree_size`
//! leaves to `new_head.tree_size`: empty when the sizes are equal (the roots must then be
//! equal). [`ConsistencyDocument::verify`] checks both heads' signatures and the proof.
//! An auditor who kept an earlier head outside the database compares it with
//! `old_head`: a valid proof from it shows that every entry it covered is still in the
//! tree, in its place, unchanged.
//!
//! # Reading
//!
//! Hashes are hex, written lowercase and read in either case. Fields may come in any
//! order (the extension returns `jsonb`, which reorders them); each must be present once
//! and no other may be. A document that does not have this shape is refused with a
//! [`ParseError`]; a well-formed one that does not verify gives a [`ProofReport`] naming
//! every check that failed.

use std::fmt;

use serde_json::Value;

use super::encoding::{EntryHasher, Hash};
use super::export::{parse_entry, ExportedEntry};
use super::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use super::scan::{ParseError, Scanner};
use super::tree_head::{parse_tree_head, TreeHead};
use super::verify::{check_entry_alone, Issue, IssueKind, KeyCache, LedgerEntry};
use crate::mac::KeyedMac;

/// Value of the inclusion proof document's `format` field.
pub const INCLUSION_PROOF_FORMAT: &str = "pg_warden-inclusion-proof-v1";
/// Value of the consistency proof document's `format` field.
pub const CONSISTENCY_PROOF_FORMAT: &str = "pg_warden-consistency-proof-v1";

/// The inclusion proof document of the entry `entry_json` (as
/// [`export_entry_value`](super::export_entry_value) gives it) at leaf `leaf_index` of
/// the tree `head` signs, with its inclusion `proof`.
pub fn inclusion_document(entry_json: Value, leaf_index: u64, proof: &[Hash], head: &TreeHead) -> Value {
    serde_json::json!({
        "format": INCLUSION_PROOF_FORMAT,
        "entry": entry_json,
        "leaf_index": leaf_index,
        "tree_size": head.tree_size,
        "proof": hex_list(proof),
        "tree_head": head.to_json_value(),
    })
}

/// The consistency proof document from the tree `old` signs to the tree `new` signs.
pub fn consistency_document(old: &TreeHead, new: &TreeHead, proof: &[Hash]) -> Value {
    serde_json::json!({
        "format": CONSISTENCY_PROOF_FORMAT,
        "old_head": old.to_json_value(),
        "new_head": new.to_json_value(),
        "proof": hex_list(proof),
    })
}

fn hex_list(hashes: &[Hash]) -> Value {
    Value::Array(hashes.iter().map(|hash| Value::String(hex::encode(hash))).collect())
}

/// A parsed inclusion proof document. Unescaped strings of the entry borrow from the
/// document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionDocument<'a> {
    /// The entry, as an export holds it.
    pub entry: ExportedEntry<'a>,
    /// The entry's leaf.
    pub leaf_index: u64,
    /// The size of the tree the proof is in.
    pub tree_size: u64,
    /// The inclusion proof, the lowest sibling first.
    pub proof: Vec<Hash>,
    /// The signed head of the tree.
    pub tree_head: TreeHead,
}

impl<'a> InclusionDocument<'a> {
    /// Reads an inclusion proof document strictly (see the module documentation), with
    /// the line and column of the first problem.
    pub fn parse(text: &'a str) -> Result<InclusionDocument<'a>, ParseError> {
        let mut scanner = Scanner::new(text);
        let mut format_seen = false;
        let (mut entry, mut leaf_index, mut tree_size, mut proof, mut tree_head) = (None, None, None, None, None);
        scanner.object(|s, key| {
            let start = s.offset();
            let duplicate = match key.as_ref() {
                "format" => {
                    check_format(s, INCLUSION_PROOF_FORMAT)?;
                    std::mem::replace(&mut format_seen, true)
                }
                "entry" => entry.replace(parse_entry(s).map_err(|e| e.within(&key))?).is_some(),
                "leaf_index" => leaf_index.replace(s.integer::<u64>().map_err(|e| e.within(&key))?).is_some(),
                "tree_size" => tree_size.replace(s.integer::<u64>().map_err(|e| e.within(&key))?).is_some(),
                "proof" => proof.replace(parse_hashes(s)?).is_some(),
                "tree_head" => tree_head.replace(parse_tree_head(s).map_err(|e| e.within(&key))?).is_some(),
                _ => return Err(s.error_at(start, "unknown inclusion proof field")),
            };
            if duplicate {
                return Err(s.error_at(start, format!("field {key} appears twice")));
            }
            Ok(())
        })?;
        scanner.end()?;
        let missing = |name: &str| scanner.error_at(0, format!("missing field {name}"));
        if !format_seen {
            return Err(missing("format"));
        }
        Ok(InclusionDocument {
            entry: entry.ok_or_else(|| missing("entry"))?,
            leaf_index: leaf_index.ok_or_else(|| missing("leaf_index"))?,
            tree_size: tree_size.ok_or_else(|| missing("tree_size"))?,
            proof: proof.ok_or_else(|| missing("proof"))?,
            tree_head: tree_head.ok_or_else(|| missing("tree_head"))?,
        })
    }

    /// Checks the entry, the proof and the tree head (see the module documentation).
    /// `keys` returns the secret of a key version, or `None` when it is unknown; it is
    /// called once per distinct version.
    pub fn verify<F: FnMut(&str, i32) -> Option<KeyedMac>>(&self, keys: F) -> ProofReport {
        let mut keys = KeyCache::new(keys);
        let mut issues = Vec::new();

        let entry = self.entry.entry();
        let (entry_id, chain) = (Some(entry.content.id), &entry.chain);
        match (chain.chain_id, chain.chain_pos) {
            (Some(chain_id), Some(chain_pos)) => {
                let issue = |kind| {
                    ProofIssue::Entry(Issue { entry_id, chain_id: Some(chain_id), chain_pos: Some(chain_pos), kind })
                };
                let seals = self.entry.field_seals();
                check_entry_alone(&mut EntryHasher::new(), &mut keys, &entry, seals, chain_id, chain_pos, |kind| {
                    issues.push(issue(kind))
                });
            }
            (chain_id, chain_pos) => {
                issues.push(ProofIssue::Entry(Issue { entry_id, chain_id, chain_pos, kind: IssueKind::Unchained }))
            }
        }

        let head = &self.tree_head;
        check_head(&mut keys, head, HeadRole::Head, &mut issues);
        if self.tree_size != head.tree_size {
            issues.push(ProofIssue::SizeMismatch { tree_size: self.tree_size, head_size: head.tree_size });
        }
        // The range and the path are judged against the signed size.
        if self.leaf_index >= head.tree_size {
            issues.push(ProofIssue::LeafOutOfRange { leaf_index: self.leaf_index, tree_size: head.tree_size });
        } else if let Some(entry_hash) = chain.entry_hash.and_then(|bytes| <&Hash>::try_from(bytes).ok()) {
            // A malformed entry_hash is reported with the entry; it has no leaf to check.
            if !verify_inclusion(&leaf_hash(entry_hash), self.leaf_index, head.tree_size, &self.proof, &head.root) {
                issues.push(ProofIssue::NotIncluded);
            }
        }
        ProofReport { issues }
    }
}

/// A parsed consistency proof document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyDocument {
    /// The signed head of the earlier tree.
    pub old_head: TreeHead,
    /// The signed head of the later tree.
    pub new_head: TreeHead,
    /// The consistency proof.
    pub proof: Vec<Hash>,
}

impl ConsistencyDocument {
    /// Reads a consistency proof document strictly (see the module documentation), with
    /// the line and column of the first problem.
    pub fn parse(text: &str) -> Result<ConsistencyDocument, ParseError> {
        let mut scanner = Scanner::new(text);
        let mut format_seen = false;
        let (mut old_head, mut new_head, mut proof) = (None, None, None);
        scanner.object(|s, key| {
            let start = s.offset();
            let duplicate = match key.as_ref() {
                "format" => {
                    check_format(s, CONSISTENCY_PROOF_FORMAT)?;
                    std::mem::replace(&mut format_seen, true)
                }
                "old_head" => old_head.replace(parse_tree_head(s).map_err(|e| e.within(&key))?).is_some(),
                "new_head" => new_head.replace(parse_tree_head(s).map_err(|e| e.within(&key))?).is_some(),
                "proof" => proof.replace(parse_hashes(s)?).is_some(),
                _ => return Err(s.error_at(start, "unknown consistency proof field")),
            };
            if duplicate {
                return Err(s.error_at(start, format!("field {key} appears twice")));
            }
            Ok(())
        })?;
        scanner.end()?;
        let missing = |name: &str| scanner.error_at(0, format!("missing field {name}"));
        if !format_seen {
            return Err(missing("format"));
        }
        Ok(ConsistencyDocument {
            old_head: old_head.ok_or_else(|| missing("old_head"))?,
            new_head: new_head.ok_or_else(|| missing("new_head"))?,
            proof: proof.ok_or_else(|| missing("proof"))?,
        })
    }

    /// Checks both heads' signatures and the proof between them. `keys` as for
    /// [`InclusionDocument::verify`].
    pub fn verify<F: FnMut(&str, i32) -> Option<KeyedMac>>(&self, keys: F) -> ProofReport {
        let mut keys = KeyCache::new(keys);
        let mut issues = Vec::new();
        let (old, new) = (&self.old_head, &self.new_head);
        check_head(&mut keys, old, HeadRole::Old, &mut issues);
        check_head(&mut keys, new, HeadRole::New, &mut issues);
        if old.tree_size == 0 || old.tree_size > new.tree_size {
            issues.push(ProofIssue::SizesOutOfOrder { old_size: old.tree_size, new_size: new.tree_size });
        } else if !verify_consistency(old.tree_size, new.tree_size, &old.root, &new.root, &self.proof) {
            issues.push(ProofIssue::NotConsistent);
        }
        ProofReport { issues }
    }
}

/// [`InclusionDocument::parse`] and [`InclusionDocument::verify`].
pub fn verify_inclusion_document<F: FnMut(&str, i32) -> Option<KeyedMac>>(
    text: &str,
    keys: F,
) -> Result<ProofReport, ParseError> {
    Ok(InclusionDocument::parse(text)?.verify(keys))
}

/// [`ConsistencyDocument::parse`] and [`ConsistencyDocument::verify`].
pub fn verify_consistency_document<F: FnMut(&str, i32) -> Option<KeyedMac>>(
    text: &str,
    keys: F,
) -> Result<ProofReport, ParseError> {
    Ok(ConsistencyDocument::parse(text)?.verify(keys))
}

fn check_format(s: &mut Scanner<'_>, format: &str) -> Result<(), ParseError> {
    let start = s.offset();
    if s.string()? != format {
        return Err(s.error_at(start, format!("not a {format} document")));
    }
    Ok(())
}

fn parse_hashes(s: &mut Scanner<'_>) -> Result<Vec<Hash>, ParseError> {
    let mut hashes = Vec::new();
    s.array(|s, index| {
        hashes.push(s.hash().map_err(|e| e.within(format_args!("proof[{index}]")))?);
        Ok(())
    })?;
    Ok(hashes)
}

fn check_head<F: FnMut(&str, i32) -> Option<KeyedMac>>(
    keys: &mut KeyCache<F>,
    head: &TreeHead,
    role: HeadRole,
    issues: &mut Vec<ProofIssue>,
) {
    match keys.get(&head.key_name, head.key_version) {
        None => issues.push(ProofIssue::HeadUnknownKey {
            head: role,
            key_name: head.key_name.clone(),
            key_version: head.key_version,
        }),
        Some(key) if !head.signature_valid(key) => issues.push(ProofIssue::HeadBadSignature { head: role }),
        Some(_) => {}
    }
}

/// Which tree head of a document an issue is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadRole {
    /// The head of an inclusion proof.
    Head,
    /// The earlier head of a consistency proof.
    Old,
    /// The later head of a consistency proof.
    New,
}

impl fmt::Display for HeadRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeadRole::Head => "tree head",
            HeadRole::Old => "old tree head",
            HeadRole::New => "new tree head",
        })
    }
}

/// A check of a proof document that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofIssue {
    /// The entry fails a check of its own: its hash, its signature, or the shape of its
    /// chain material, as verifying an export would report it.
    Entry(Issue),
    /// The document's `tree_size` is not the size its tree head signs.
    SizeMismatch {
        /// The document's `tree_size`.
        tree_size: u64,
        /// The head's.
        head_size: u64,
    },
    /// `leaf_index` is not a leaf of the tree the head signs.
    LeafOutOfRange {
        /// The document's `leaf_index`.
        leaf_index: u64,
        /// The head's tree size.
        tree_size: u64,
    },
    /// The inclusion proof does not lead from the entry's leaf hash to the head's root.
    NotIncluded,
    /// A tree head names a key version the verifier was not given.
    HeadUnknownKey {
        /// Which head.
        head: HeadRole,
        /// The key it names.
        key_name: String,
        /// The version it names.
        key_version: i32,
    },
    /// A tree head's signature does not verify.
    HeadBadSignature {
        /// Which head.
        head: HeadRole,
    },
    /// The old head holds no leaf, or more than the new one: no consistency proof exists.
    SizesOutOfOrder {
        /// The old head's tree size.
        old_size: u64,
        /// The new head's tree size.
        new_size: u64,
    },
    /// The consistency proof does not show the old head's tree to be a prefix of the new
    /// head's.
    NotConsistent,
}

impl fmt::Display for ProofIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofIssue::Entry(issue) => issue.fmt(f),
            ProofIssue::SizeMismatch { tree_size, head_size } => {
                write!(f, "tree_size {tree_size} differs from the {head_size} leaves the tree head signs")
            }
            ProofIssue::LeafOutOfRange { leaf_index, tree_size } => {
                write!(f, "leaf_index {leaf_index} is not a leaf of the tree head's {tree_size} leaves")
            }
            ProofIssue::NotIncluded => write!(
                f,
                "the inclusion proof does not lead from the entry to the tree head's root \
                 (the entry is not that leaf of the signed tree, or the proof was altered)"
            ),
            ProofIssue::HeadUnknownKey { head, key_name, key_version } => {
                write!(f, "{head} signed with key {key_name} version {key_version}, which was not supplied")
            }
            ProofIssue::HeadBadSignature { head } => write!(f, "{head} signature does not verify (forged or edited)"),
            ProofIssue::SizesOutOfOrder { old_size, new_size } => write!(
                f,
                "no consistency proof from {old_size} leaves to {new_size}: \
                 the old tree head must hold at least one leaf and no more than the new one"
            ),
            ProofIssue::NotConsistent => write!(
                f,
                "the consistency proof does not show the old tree to be a prefix of the new one \
                 (the ledger's history was rewritten, or the proof was altered)"
            ),
        }
    }
}

/// Outcome of verifying a proof document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProofReport {
    /// Every check that failed: the entry's, then the tree heads', then those of the
    /// sizes and the proof.
    pub issues: Vec<ProofIssue>,
}

impl ProofReport {
    /// No check failed.
    pub fn is_valid(&self) -> bool {
        self.issues.is_empty()
    }
}

#[cfg(test)]
mod tests;
