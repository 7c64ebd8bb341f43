//! Canonical entry encoding and the chain link computed over it.

use sha2::{Digest as _, Sha256};

use super::columns::{Column, COLUMNS, CONTENT_COLUMN_COUNT};
use super::redaction::FieldSeals;
use super::LedgerError;
use crate::mac::KeyedMac;

/// Length of an entry hash, a previous-entry hash and a signature.
pub const HASH_LEN: usize = 32;
/// A SHA-256 digest or an HMAC-SHA256 tag.
pub type Hash = [u8; HASH_LEN];
/// First byte of the version-1 entry encoding and of the checkpoint, digest and tree head
/// encodings; a new layout gets a new one ([`super::ENCODING_VERSION_V2`]).
pub const ENCODING_VERSION: u8 = 1;
/// Domain label of the entry encoding, so its bytes can never pass for another message
/// signed with the same key.
pub const ENTRY_DOMAIN: &[u8] = b"pg_warden/audit/v1";
/// `prev_hash` of a chain's first position.
pub const GENESIS_PREV_HASH: Hash = [0; HASH_LEN];

const NULL_FIELD: u8 = 0;
const PRESENT_FIELD: u8 = 1;

/// The content columns of one entry, each as PostgreSQL prints it (see the module
/// documentation); `None` is SQL NULL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryContent<'a> {
    /// `id`, the ledger's identity column.
    pub id: i64,
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    pub ts: Option<i64>,
    /// `event_type`.
    pub event_type: Option<&'a str>,
    /// `action`.
    pub action: Option<&'a str>,
    /// `actor`.
    pub actor: Option<&'a str>,
    /// `resource_type`.
    pub resource_type: Option<&'a str>,
    /// `resource_id`.
    pub resource_id: Option<&'a str>,
    /// `correlation_id`.
    pub correlation_id: Option<&'a str>,
    /// `tenant`.
    pub tenant: Option<&'a str>,
    /// `reason`.
    pub reason: Option<&'a str>,
    /// `numeric` output text, e.g. `0.9500`.
    pub confidence: Option<&'a str>,
    /// `jsonb` output text.
    pub details: Option<&'a str>,
    /// `jsonb` output text.
    pub before_state: Option<&'a str>,
    /// `jsonb` output text.
    pub after_state: Option<&'a str>,
    /// `session_user_name`.
    pub session_user_name: Option<&'a str>,
    /// `application_name`.
    pub application_name: Option<&'a str>,
    /// `inet` output text.
    pub client_addr: Option<&'a str>,
    /// `txid`.
    pub txid: Option<i64>,
}

impl EntryContent<'_> {
    /// Appends the version-1 encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), LedgerError> {
        out.push(ENCODING_VERSION);
        put_len_prefixed(out, ENTRY_DOMAIN, "domain")?;
        let entry = EntryRef { content: *self, chain: ChainMaterial::default() };
        for spec in &COLUMNS[..CONTENT_COLUMN_COUNT] {
            put_field(out, entry.value(spec.column), spec.name)?;
        }
        Ok(())
    }

    /// The version-1 encoding.
    pub fn encode(&self) -> Result<Vec<u8>, LedgerError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

/// Writes one field in the form both encoding versions share.
pub(crate) fn put_field(out: &mut Vec<u8>, value: FieldValue<'_>, column: &'static str) -> Result<(), LedgerError> {
    match value {
        FieldValue::Int(value) => put_int(out, value),
        FieldValue::Text(value) => put_bytes(out, value.map(str::as_bytes), column)?,
        FieldValue::Bytes(value) => put_bytes(out, value, column)?,
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, value: Option<&[u8]>, column: &'static str) -> Result<(), LedgerError> {
    match value {
        None => out.push(NULL_FIELD),
        Some(bytes) => {
            out.push(PRESENT_FIELD);
            put_len_prefixed(out, bytes, column)?;
        }
    }
    Ok(())
}

fn put_int(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        None => out.push(NULL_FIELD),
        Some(v) => {
            out.push(PRESENT_FIELD);
            out.extend_from_slice(&8u32.to_be_bytes());
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Writes `u32(len) bytes`.
pub(crate) fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8], column: &'static str) -> Result<(), LedgerError> {
    let len = u32::try_from(bytes.len()).map_err(|_| LedgerError::ValueTooLong { column })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// The chain columns of an entry as stored, each `None` when the column is NULL.
/// They are read unchecked: a row written with the trigger bypassed, or edited after,
/// may hold anything, and verification reports it rather than failing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainMaterial<'a> {
    /// `chain_id`: the chain the entry is on.
    pub chain_id: Option<i32>,
    /// `chain_pos`: its position there, from 1.
    pub chain_pos: Option<i64>,
    /// `prev_hash`: the hash of the previous position.
    pub prev_hash: Option<&'a [u8]>,
    /// `entry_hash`: the entry's own hash.
    pub entry_hash: Option<&'a [u8]>,
    /// `key_name`: the keyring key that signed the entry.
    pub key_name: Option<&'a str>,
    /// `key_version`: the version of that key.
    pub key_version: Option<i32>,
    /// `signature`: HMAC-SHA256 of `entry_hash`.
    pub signature: Option<&'a [u8]>,
}

/// One stored entry: content and chain material.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The content columns.
    pub content: EntryContent<'a>,
    /// The chain columns.
    pub chain: ChainMaterial<'a>,
}

/// One column's value in an entry, as the encoding and the export take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValue<'a> {
    /// `int4`, `int8`, and `timestamptz` as microseconds since 2000-01-01 UTC.
    Int(Option<i64>),
    /// `text`, and the output text of `numeric`, `jsonb` and `inet`.
    Text(Option<&'a str>),
    /// `bytea`.
    Bytes(Option<&'a [u8]>),
}

impl<'a> EntryRef<'a> {
    /// The value of `column`.
    pub fn value(&self, column: Column) -> FieldValue<'a> {
        use FieldValue::{Bytes, Int, Text};
        let (c, m) = (&self.content, &self.chain);
        match column {
            Column::Id => Int(Some(c.id)),
            Column::Ts => Int(c.ts),
            Column::EventType => Text(c.event_type),
            Column::Action => Text(c.action),
            Column::Actor => Text(c.actor),
            Column::ResourceType => Text(c.resource_type),
            Column::ResourceId => Text(c.resource_id),
            Column::CorrelationId => Text(c.correlation_id),
            Column::Tenant => Text(c.tenant),
            Column::Reason => Text(c.reason),
            Column::Confidence => Text(c.confidence),
            Column::Details => Text(c.details),
            Column::BeforeState => Text(c.before_state),
            Column::AfterState => Text(c.after_state),
            Column::SessionUserName => Text(c.session_user_name),
            Column::ApplicationName => Text(c.application_name),
            Column::ClientAddr => Text(c.client_addr),
            Column::Txid => Int(c.txid),
            Column::ChainId => Int(m.chain_id.map(i64::from)),
            Column::ChainPos => Int(m.chain_pos),
            Column::PrevHash => Bytes(m.prev_hash),
            Column::EntryHash => Bytes(m.entry_hash),
            Column::KeyName => Text(m.key_name),
            Column::KeyVersion => Int(m.key_version.map(i64::from)),
            Column::Signature => Bytes(m.signature),
        }
    }
}

/// The last position of a chain and its hash: what the next entry links to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The last position, entry or checkpoint; 0 on a chain that never had one.
    pub pos: i64,
    /// The `entry_hash` at `pos`; [`GENESIS_PREV_HASH`] at 0.
    pub hash: Hash,
}

impl ChainHead {
    /// The head of a chain with no entries and no checkpoint.
    pub const GENESIS: ChainHead = ChainHead { pos: 0, hash: GENESIS_PREV_HASH };
}

/// Chain material computed for a new entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewLink {
    /// The position after the head.
    pub chain_pos: i64,
    /// The head's hash.
    pub prev_hash: Hash,
    /// The new entry's hash.
    pub entry_hash: Hash,
    /// HMAC-SHA256 of `entry_hash`.
    pub signature: Hash,
}

impl NewLink {
    /// The chain columns of the entry this link was computed for, as stored on chain
    /// `chain_id` and signed by `key_name` version `key_version`.
    pub fn material<'a>(&'a self, chain_id: i32, key_name: &'a str, key_version: i32) -> ChainMaterial<'a> {
        ChainMaterial {
            chain_id: Some(chain_id),
            chain_pos: Some(self.chain_pos),
            prev_hash: Some(&self.prev_hash),
            entry_hash: Some(&self.entry_hash),
            key_name: Some(key_name),
            key_version: Some(key_version),
            signature: Some(&self.signature),
        }
    }
}

/// Computes entry hashes, reusing one buffer so hashing allocates nothing once warm.
#[derive(Debug, Default)]
pub struct EntryHasher {
    scratch: Vec<u8>,
}

impl EntryHasher {
    /// A hasher with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// `SHA-256(encoding || i32(chain_id) || i64(chain_pos) || prev_hash)` over the
    /// version-1 encoding.
    pub fn entry_hash(
        &mut self,
        content: &EntryContent<'_>,
        chain_id: i32,
        chain_pos: i64,
        prev_hash: &Hash,
    ) -> Result<Hash, LedgerError> {
        self.scratch.clear();
        content.encode_into(&mut self.scratch)?;
        Ok(self.finish_hash(chain_id, chain_pos, prev_hash))
    }

    /// The same over the version-2 encoding under `seals`. Fails with
    /// [`LedgerError::RedactedFieldPresent`] when a field `seals` marks redacted holds a
    /// value.
    pub fn entry_hash_v2(
        &mut self,
        content: &EntryContent<'_>,
        seals: &FieldSeals,
        chain_id: i32,
        chain_pos: i64,
        prev_hash: &Hash,
    ) -> Result<Hash, LedgerError> {
        self.scratch.clear();
        content.encode_v2_into(seals, &mut self.scratch)?;
        Ok(self.finish_hash(chain_id, chain_pos, prev_hash))
    }

    /// Hashes the encoding in `scratch` followed by the entry's place in its chain.
    fn finish_hash(&mut self, chain_id: i32, chain_pos: i64, prev_hash: &Hash) -> Hash {
        self.scratch.extend_from_slice(&chain_id.to_be_bytes());
        self.scratch.extend_from_slice(&chain_pos.to_be_bytes());
        self.scratch.extend_from_slice(prev_hash);
        Sha256::digest(&self.scratch).into()
    }

    /// Chain material for a new entry appended after `head` on chain `chain_id`,
    /// signed with `key`.
    pub fn link(
        &mut self,
        content: &EntryContent<'_>,
        chain_id: i32,
        head: &ChainHead,
        key: &KeyedMac,
    ) -> Result<NewLink, LedgerError> {
        let chain_pos = head.pos.checked_add(1).ok_or(LedgerError::PositionOverflow)?;
        let entry_hash = self.entry_hash(content, chain_id, chain_pos, &head.hash)?;
        Ok(NewLink { chain_pos, prev_hash: head.hash, entry_hash, signature: sign_entry_hash(key, &entry_hash) })
    }

    /// The same for a version-2 entry sealed with `seals` (a new entry's:
    /// [`FieldSeals::from_random`]).
    pub fn link_v2(
        &mut self,
        content: &EntryContent<'_>,
        seals: &FieldSeals,
        chain_id: i32,
        head: &ChainHead,
        key: &KeyedMac,
    ) -> Result<NewLink, LedgerError> {
        let chain_pos = head.pos.checked_add(1).ok_or(LedgerError::PositionOverflow)?;
        let entry_hash = self.entry_hash_v2(content, seals, chain_id, chain_pos, &head.hash)?;
        Ok(NewLink { chain_pos, prev_hash: head.hash, entry_hash, signature: sign_entry_hash(key, &entry_hash) })
    }
}

/// `HMAC-SHA256(key, entry_hash)`.
pub fn sign_entry_hash(key: &KeyedMac, entry_hash: &Hash) -> Hash {
    key.tag(entry_hash)
}
