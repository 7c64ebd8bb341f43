//! Signed tree heads: the size and root of the ledger's Merkle tree ([`super::merkle`])
//! at one instant, signed, so that inclusion and consistency proofs ([`super::proof`])
//! can be checked against a pair the verifier trusts.
//!
//! # Encoding, version 1
//!
//! ```text
//! tree_head_encoding = 0x01 u32(22) "pg_warden/tree-head/v1"
//!                      u64(tree_size) root[32] i64(timestamp)
//!                      u32(len) key_name i32(key_version)
//! signature          = HMAC-SHA256(secret of (key_name, key_version), tree_head_encoding)
//! ```
//!
//! Integers are big-endian; `timestamp` is microseconds since 2000-01-01 00:00:00 UTC,
//! as for every instant of the ledger. The version byte and the length-prefixed domain
//! label are those of the entry, checkpoint and digest encodings with a label of its own,
//! so no tree head can pass for another message signed with the same key (an entry's
//! signature covers its bare 32-byte hash, shorter than any of these encodings).
//!
//! # JSON
//!
//! ```text
//! {"tree_size": 100,
//!  "root": "<64 hex digits>",
//!  "timestamp": "2026-11-22T06:15:01.123456Z",
//!  "key_name": "audit",
//!  "key_version": 1,
//!  "signature": "<64 hex digits>"}
//! ```
//!
//! `timestamp` is ISO 8601 UTC text, as in digests and exports; hashes are hex (written
//! lowercase, read in either case). Every field must be present once and no other may
//! be; their order does not matter.
//!
//! # Why HMAC and not a public-key signature
//!
//! A tree head is signed with HMAC-SHA256 under the ledger's own audit key, like entries,
//! checkpoints and digests: the verifier (`warden-verify`, or an auditor's script) already
//! holds that key to check the entries a proof is about, so heads need no second key to
//! distribute, rotate or revoke, and no new primitive. The price is that the signature
//! proves a head was made by a holder of the key, not by the database alone: an auditor
//! who holds the key could forge one. Against a database that rewrites its history, the
//! defence is the auditor's own copy of an earlier head and a consistency proof from it.
//! An Ed25519 signature, which would let anyone verify heads without being able to
//! sign them, was considered and left for a later format version.

use serde_json::Value;

use super::encoding::{put_len_prefixed, Hash, ENCODING_VERSION};
use super::scan::{ParseError, Scanner};
use super::time::{timestamp_from_iso, timestamp_to_iso};
use super::LedgerError;
use crate::mac::KeyedMac;

/// Domain label of the tree head encoding.
pub const TREE_HEAD_DOMAIN: &[u8] = b"pg_warden/tree-head/v1";

/// The ledger's Merkle tree at one instant, signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// Leaves in the tree.
    pub tree_size: u64,
    /// Its Merkle Tree Hash.
    pub root: Hash,
    /// When the head was made: microseconds since 2000-01-01 UTC.
    pub timestamp: i64,
    /// Keyring key that signed the head.
    pub key_name: String,
    /// Version of `key_name` that signed it.
    pub key_version: i32,
    /// HMAC-SHA256 of the head's encoding under that key version: 32 bytes in this
    /// format version.
    pub signature: Vec<u8>,
}

impl TreeHead {
    /// The head of the tree of `tree_size` leaves whose root is `root`, made at
    /// `timestamp` and signed with `key`, the secret of (`key_name`, `key_version`).
    pub fn new_signed(
        tree_size: u64,
        root: Hash,
        timestamp: i64,
        key_name: &str,
        key_version: i32,
        key: &KeyedMac,
    ) -> Result<TreeHead, LedgerError> {
        let mut head =
            TreeHead { tree_size, root, timestamp, key_name: key_name.to_owned(), key_version, signature: Vec::new() };
        head.signature = key.tag(&head.signed_bytes()?).to_vec();
        Ok(head)
    }

    /// The canonical encoding the signature covers (see the module documentation).
    pub fn signed_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        let mut out = Vec::with_capacity(96 + self.key_name.len());
        out.push(ENCODING_VERSION);
        put_len_prefixed(&mut out, TREE_HEAD_DOMAIN, "domain")?;
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        put_len_prefixed(&mut out, self.key_name.as_bytes(), "key_name")?;
        out.extend_from_slice(&self.key_version.to_be_bytes());
        Ok(out)
    }

    /// Whether `signature` is `key`'s tag over [`TreeHead::signed_bytes`], compared in
    /// constant time; false for a signature of any length but 32 bytes.
    pub fn signature_valid(&self, key: &KeyedMac) -> bool {
        let Ok(signature) = <&Hash>::try_from(self.signature.as_slice()) else { return false };
        self.signed_bytes().is_ok_and(|bytes| key.verify(&bytes, signature))
    }

    /// The head as a JSON object (see the module documentation).
    pub fn to_json_value(&self) -> Value {
        serde_json::json!({
            "tree_size": self.tree_size,
            "root": hex::encode(self.root),
            "timestamp": timestamp_to_iso(self.timestamp),
            "key_name": self.key_name,
            "key_version": self.key_version,
            "signature": hex::encode(&self.signature),
        })
    }

    /// Reads a head strictly: every field present once, nothing else. Error positions
    /// are in the value's compact JSON text, all on line 1.
    pub fn from_json_value(value: &Value) -> Result<TreeHead, ParseError> {
        let text = value.to_string();
        let mut scanner = Scanner::new(&text);
        let head = parse_tree_head(&mut scanner)?;
        scanner.end()?;
        Ok(head)
    }
}

/// Reads a tree head object from `s`, for [`TreeHead::from_json_value`] and for the
/// proof documents that embed heads.
pub(super) fn parse_tree_head(s: &mut Scanner<'_>) -> Result<TreeHead, ParseError> {
    let start = s.offset();
    let (mut tree_size, mut root, mut timestamp) = (None, None, None);
    let (mut key_name, mut key_version, mut signature) = (None, None, None);
    s.object(|s, key| {
        let field_start = s.offset();
        let mut read = |s: &mut Scanner<'_>| -> Result<bool, ParseError> {
            Ok(match key.as_ref() {
                "tree_size" => tree_size.replace(s.integer::<u64>()?).is_some(),
                "root" => root.replace(s.hash()?).is_some(),
                "timestamp" => {
                    let text = s.string()?;
                    let micros = timestamp_from_iso(&text)
                        .ok_or_else(|| s.error_at(field_start, "expected an ISO 8601 UTC timestamp"))?;
                    timestamp.replace(micros).is_some()
                }
                "key_name" => key_name.replace(s.string()?.into_owned()).is_some(),
                "key_version" => key_version.replace(s.integer::<i32>()?).is_some(),
                "signature" => signature.replace(s.hash()?).is_some(),
                _ => return Err(s.error_at(field_start, "unknown tree head field")),
            })
        };
        if read(s).map_err(|e| e.within(&key))? {
            return Err(s.error_at(field_start, format!("field {key} appears twice")));
        }
        Ok(())
    })?;
    match (tree_size, root, timestamp, key_name, key_version, signature) {
        (Some(tree_size), Some(root), Some(timestamp), Some(key_name), Some(key_version), Some(signature)) => {
            Ok(TreeHead { tree_size, root, timestamp, key_name, key_version, signature: signature.to_vec() })
        }
        _ => {
            Err(s.error_at(start, "a tree head needs tree_size, root, timestamp, key_name, key_version and signature"))
        }
    }
}
