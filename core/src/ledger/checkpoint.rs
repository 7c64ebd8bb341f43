//! Retention checkpoints: a signed record of the last purged entry of a chain, so the
//! chain stays verifiable after its oldest entries are deleted.

use super::encoding::{put_len_prefixed, ChainHead, Hash, ENCODING_VERSION};
use super::LedgerError;
use crate::mac::KeyedMac;

/// Domain label of the checkpoint encoding.
pub const CHECKPOINT_DOMAIN: &[u8] = b"pg_warden/checkpoint/v1";

/// A chain's entries up to `chain_pos` were purged; `entry_hash` was the hash at
/// `chain_pos`, which the first remaining entry links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The chain purged.
    pub chain_id: i32,
    /// The last purged position.
    pub chain_pos: i64,
    /// The hash the entry at `chain_pos` had.
    pub entry_hash: Hash,
    /// Microseconds since 2000-01-01 UTC.
    pub created_at: i64,
    /// Keyring key that signed the checkpoint.
    pub key_name: String,
    /// Version of `key_name` that signed it.
    pub key_version: i32,
    /// HMAC-SHA256 of the checkpoint's encoding under that key version.
    pub signature: Hash,
}

impl Checkpoint {
    /// A checkpoint signed with `key`, which must be the secret of
    /// (`key_name`, `key_version`).
    pub fn new_signed(
        chain_id: i32,
        chain_pos: i64,
        entry_hash: Hash,
        created_at: i64,
        key_name: &str,
        key_version: i32,
        key: &KeyedMac,
    ) -> Result<Checkpoint, LedgerError> {
        let mut checkpoint = Checkpoint {
            chain_id,
            chain_pos,
            entry_hash,
            created_at,
            key_name: key_name.to_owned(),
            key_version,
            signature: [0; 32],
        };
        checkpoint.signature = key.tag(&checkpoint.signed_bytes()?);
        Ok(checkpoint)
    }

    /// The canonical encoding the signature covers (see the module documentation).
    pub fn signed_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        let mut out = Vec::with_capacity(96 + self.key_name.len());
        out.push(ENCODING_VERSION);
        put_len_prefixed(&mut out, CHECKPOINT_DOMAIN, "domain")?;
        out.extend_from_slice(&self.chain_id.to_be_bytes());
        out.extend_from_slice(&self.chain_pos.to_be_bytes());
        out.extend_from_slice(&self.entry_hash);
        out.extend_from_slice(&self.created_at.to_be_bytes());
        put_len_prefixed(&mut out, self.key_name.as_bytes(), "key_name")?;
        out.extend_from_slice(&self.key_version.to_be_bytes());
        Ok(out)
    }

    /// Whether `signature` is `key`'s tag over [`Checkpoint::signed_bytes`].
    pub fn signature_valid(&self, key: &KeyedMac) -> bool {
        self.signed_bytes().is_ok_and(|bytes| key.verify(&bytes, &self.signature))
    }

    /// The head the chain's next entry links to.
    pub fn head(&self) -> ChainHead {
        ChainHead { pos: self.chain_pos, hash: self.entry_hash }
    }
}
