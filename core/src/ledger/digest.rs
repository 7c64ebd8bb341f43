//! Signed digests of chain heads, meant to be kept outside the database.

use std::fmt::Write as _;

use super::encoding::{put_len_prefixed, Hash, ENCODING_VERSION};
use super::jsonb::write_escaped;
use super::scan::{ParseError, Scanner};
use super::time::{timestamp_from_iso, write_timestamp_iso};
use super::tree_head::{parse_tree_head, TreeHead};
use super::LedgerError;
use crate::mac::KeyedMac;

/// Value of the digest document's `format` field.
pub const DIGEST_FORMAT: &str = "pg_warden-digest-v1";
/// Domain label of the digest encoding.
pub const DIGEST_DOMAIN: &[u8] = b"pg_warden/digest/v1";

/// The last position of one chain when the digest was made, and its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestChain {
    /// The chain.
    pub chain_id: i32,
    /// Its last position.
    pub head_pos: i64,
    /// The `entry_hash` at `head_pos`.
    pub head_hash: Hash,
}

/// Signed heads of every chain at one instant. `total_entries` is informational:
/// retention lowers it and new entries raise it, so verification does not compare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// Microseconds since 2000-01-01 UTC.
    pub generated_at: i64,
    /// Ordered by `chain_id`, one per chain.
    pub chains: Vec<DigestChain>,
    /// Entries in the ledger when the digest was made.
    pub total_entries: u64,
    /// Keyring key that signed the digest.
    pub key_name: String,
    /// Version of `key_name` that signed it.
    pub key_version: i32,
    /// HMAC-SHA256 of the digest's encoding under that key version.
    pub signature: Hash,
    /// The ledger's latest signed Merkle tree head when the digest was made, if the tree
    /// has one; the digest's signature covers it (its encoding and its own signature).
    pub tree_head: Option<TreeHead>,
}

impl Digest {
    /// A digest of `chains` (any order; each chain once) signed with `key`, the secret of
    /// (`key_name`, `key_version`).
    pub fn new_signed(
        generated_at: i64,
        mut chains: Vec<DigestChain>,
        total_entries: u64,
        key_name: &str,
        key_version: i32,
        key: &KeyedMac,
    ) -> Result<Digest, LedgerError> {
        sort_unique(&mut chains).map_err(|chain_id| LedgerError::DuplicateDigestChain { chain_id })?;
        let mut digest = Digest {
            generated_at,
            chains,
            total_entries,
            key_name: key_name.to_owned(),
            key_version,
            signature: [0; 32],
            tree_head: None,
        };
        digest.signature = key.tag(&digest.signed_bytes()?);
        Ok(digest)
    }

    /// [`Digest::new_signed`], carrying the tree head `tree_head` under its signature.
    #[allow(clippy::too_many_arguments)]
    pub fn new_signed_with_tree_head(
        generated_at: i64,
        chains: Vec<DigestChain>,
        total_entries: u64,
        tree_head: Option<TreeHead>,
        key_name: &str,
        key_version: i32,
        key: &KeyedMac,
    ) -> Result<Digest, LedgerError> {
        let mut digest = Digest::new_signed(generated_at, chains, total_entries, key_name, key_version, key)?;
        if tree_head.is_some() {
            digest.tree_head = tree_head;
            digest.signature = key.tag(&digest.signed_bytes()?);
        }
        Ok(digest)
    }

    /// The canonical encoding the signature covers (see the module documentation).
    /// Chains are encoded by ascending `chain_id` whatever order `chains` holds them in.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        let mut chains: Vec<&DigestChain> = self.chains.iter().collect();
        chains.sort_unstable_by_key(|c| (c.chain_id, c.head_pos, c.head_hash));
        let count = u32::try_from(chains.len()).map_err(|_| LedgerError::ValueTooLong { column: "chains" })?;
        let mut out = Vec::with_capacity(64 + self.key_name.len() + 44 * chains.len());
        out.push(ENCODING_VERSION);
        put_len_prefixed(&mut out, DIGEST_DOMAIN, "domain")?;
        out.extend_from_slice(&self.generated_at.to_be_bytes());
        out.extend_from_slice(&self.total_entries.to_be_bytes());
        put_len_prefixed(&mut out, self.key_name.as_bytes(), "key_name")?;
        out.extend_from_slice(&self.key_version.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        for chain in chains {
            out.extend_from_slice(&chain.chain_id.to_be_bytes());
            out.extend_from_slice(&chain.head_pos.to_be_bytes());
            out.extend_from_slice(&chain.head_hash);
        }
        // Only a digest that carries a tree head encodes one: digests without keep the
        // encoding (and signatures) of earlier versions.
        if let Some(head) = &self.tree_head {
            out.push(1);
            put_len_prefixed(&mut out, &head.signed_bytes()?, "tree_head")?;
            put_len_prefixed(&mut out, &head.signature, "tree_head signature")?;
        }
        Ok(out)
    }

    /// Whether `signature` is `key`'s tag over [`Digest::signed_bytes`].
    pub fn signature_valid(&self, key: &KeyedMac) -> bool {
        self.signed_bytes().is_ok_and(|bytes| key.verify(&bytes, &self.signature))
    }

    /// The digest document, one chain per line.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256 + 100 * self.chains.len());
        out.push_str("{\"format\": \"");
        out.push_str(DIGEST_FORMAT);
        out.push_str("\",\n \"generated_at\": \"");
        write_timestamp_iso(self.generated_at, &mut out);
        out.push_str("\",\n \"chains\": [");
        for (i, chain) in self.chains.iter().enumerate() {
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "{}\n  {{\"chain_id\": {}, \"head_pos\": {}, \"head_hash\": \"{}\"}}",
                if i == 0 { "" } else { "," },
                chain.chain_id,
                chain.head_pos,
                hex::encode(chain.head_hash)
            );
        }
        let _ = write!(out, "\n ],\n \"total_entries\": {},\n \"key_name\": ", self.total_entries);
        write_escaped(&self.key_name, &mut out);
        let _ = write!(
            out,
            ",\n \"key_version\": {},\n \"signature\": \"{}\"",
            self.key_version,
            hex::encode(self.signature)
        );
        if let Some(head) = &self.tree_head {
            let _ = write!(out, ",\n \"tree_head\": {}", head.to_json_value());
        }
        out.push_str("}\n");
        out
    }

    /// Reads a digest document strictly: every field present once, nothing else.
    pub fn parse(text: &str) -> Result<Digest, ParseError> {
        let mut scanner = Scanner::new(text);
        let mut format_ok = None;
        let mut generated_at = None;
        let mut chains: Option<Vec<DigestChain>> = None;
        let mut total_entries = None;
        let mut key_name = None;
        let mut key_version = None;
        let mut signature = None;
        let mut tree_head = None;
        scanner.object(|s, key| {
            let start = s.offset();
            let duplicate = match key.as_ref() {
                "format" => format_ok.replace(s.string()? == DIGEST_FORMAT).is_some(),
                "generated_at" => {
                    let text = s.string()?;
                    let micros = timestamp_from_iso(&text)
                        .ok_or_else(|| s.error_at(start, "generated_at: expected an ISO 8601 UTC timestamp"))?;
                    generated_at.replace(micros).is_some()
                }
                "chains" => chains.replace(parse_chains(s)?).is_some(),
                "total_entries" => total_entries.replace(s.integer::<u64>().map_err(|e| e.within(&key))?).is_some(),
                "key_name" => key_name.replace(s.string()?.into_owned()).is_some(),
                "key_version" => key_version.replace(s.integer::<i32>().map_err(|e| e.within(&key))?).is_some(),
                "signature" => signature.replace(s.hash().map_err(|e| e.within(&key))?).is_some(),
                "tree_head" => tree_head.replace(parse_tree_head(s).map_err(|e| e.within(&key))?).is_some(),
                _ => return Err(s.error_at(start, "unknown digest field")),
            };
            if duplicate {
                return Err(s.error_at(start, format!("field {key} appears twice")));
            }
            Ok(())
        })?;
        scanner.end()?;
        match format_ok {
            Some(true) => {}
            Some(false) => return Err(scanner.error_at(0, format!("not a {DIGEST_FORMAT} document"))),
            None => return Err(scanner.error_at(0, "missing field format")),
        }
        let missing = |name: &str| scanner.error_at(0, format!("missing field {name}"));
        Ok(Digest {
            generated_at: generated_at.ok_or_else(|| missing("generated_at"))?,
            chains: chains.ok_or_else(|| missing("chains"))?,
            total_entries: total_entries.ok_or_else(|| missing("total_entries"))?,
            key_name: key_name.ok_or_else(|| missing("key_name"))?,
            key_version: key_version.ok_or_else(|| missing("key_version"))?,
            signature: signature.ok_or_else(|| missing("signature"))?,
            tree_head,
        })
    }
}

fn parse_chains(s: &mut Scanner<'_>) -> Result<Vec<DigestChain>, ParseError> {
    let mut chains = Vec::new();
    s.array(|s, index| {
        let item_start = s.offset();
        let (mut chain_id, mut head_pos, mut head_hash) = (None, None, None);
        s.object(|s, key| {
            let start = s.offset();
            let path = format!("chains[{index}].{key}");
            let duplicate = match key.as_ref() {
                "chain_id" => chain_id.replace(s.integer::<i32>().map_err(|e| e.within(&path))?).is_some(),
                "head_pos" => head_pos.replace(s.integer::<i64>().map_err(|e| e.within(&path))?).is_some(),
                "head_hash" => head_hash.replace(s.hash().map_err(|e| e.within(&path))?).is_some(),
                _ => return Err(s.error_at(start, format!("chains[{index}]: unknown field"))),
            };
            if duplicate {
                return Err(s.error_at(start, format!("{path} appears twice")));
            }
            Ok(())
        })?;
        match (chain_id, head_pos, head_hash) {
            (Some(chain_id), Some(head_pos), Some(head_hash)) => {
                chains.push(DigestChain { chain_id, head_pos, head_hash });
                Ok(())
            }
            _ => Err(s.error_at(item_start, format!("chains[{index}] needs chain_id, head_pos and head_hash"))),
        }
    })?;
    let end = s.offset();
    sort_unique(&mut chains).map_err(|chain_id| s.error_at(end, format!("chain {chain_id} is listed twice")))?;
    Ok(chains)
}

/// Sorts by chain id; `Err` with the first id found twice.
fn sort_unique(chains: &mut [DigestChain]) -> Result<(), i32> {
    chains.sort_unstable_by_key(|c| c.chain_id);
    match chains.windows(2).find(|w| w[0].chain_id == w[1].chain_id) {
        Some(pair) => Err(pair[0].chain_id),
        None => Ok(()),
    }
}
