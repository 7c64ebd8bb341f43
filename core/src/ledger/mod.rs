//! Tamper-evident audit ledger: entry encoding, hash chains, retention checkpoints,
//! signed digests, exports and their verification, RFC 9162 Merkle trees with inclusion
//! and consistency proofs ([`merkle`]), signed tree heads ([`TreeHead`]) and the proof
//! documents built on them ([`InclusionDocument`], [`ConsistencyDocument`]).
//!
//! Every row of `warden.audit_log` belongs to one of several chains (`chain_id`), at a
//! 1-based, contiguous position (`chain_pos`). Its `entry_hash` covers its content, its
//! place in the chain and the hash of its predecessor; its `signature` is an HMAC of that
//! hash under a versioned key. Anyone can recompute a SHA-256, so the signature is what
//! stops a writer without the key from rebuilding a chain after editing it.
//!
//! # Entry encoding, version 1
//!
//! All integers are big-endian, two's complement where signed.
//!
//! ```text
//! entry_encoding = 0x01                          format version
//!                  u32(18) "pg_warden/audit/v1"  domain label, length-prefixed
//!                  field × 18                    in the order of CONTENT_COLUMNS
//! field          = 0x00                          SQL NULL
//!                | 0x01 u32(len) bytes           a value
//! ```
//!
//! The 18 fields, in order: `id`, `ts`, `event_type`, `action`, `actor`, `resource_type`,
//! `resource_id`, `correlation_id`, `tenant`, `reason`, `confidence`, `details`,
//! `before_state`, `after_state`, `session_user_name`, `application_name`, `client_addr`,
//! `txid`.
//!
//! - `id`, `ts`, `txid`: len 8, an i64. `ts` is microseconds since 2000-01-01 00:00:00 UTC
//!   (PostgreSQL's own timestamptz representation; ±infinity are i64::MAX / i64::MIN).
//!   `id` is never NULL but keeps the presence byte so every field has one shape.
//! - text columns, `client_addr` (`inet` output, e.g. `192.0.2.1` or `10.0.0.0/8`) and
//!   `confidence` (`numeric` output, e.g. `0.9500`): their UTF-8 text.
//! - `details`, `before_state`, `after_state`: PostgreSQL's `jsonb` output text
//!   (`jsonb_out`), which [`jsonb_text`] reproduces from a parsed JSON value.
//!
//! Every field carries its presence byte and length, and the field count is fixed, so the
//! encoding parses back unambiguously: NULL, empty text and moved field boundaries all
//! give different bytes.
//!
//! # Entry encoding, version 2
//!
//! ```text
//! entry_encoding_v2 = 0x02                          format version
//!                     u32(18) "pg_warden/audit/v2"  domain label
//!                     field × 8                     DIRECT_COLUMNS, as in version 1
//!                     commitment[32] × 10           REDACTABLE_COLUMNS
//! commitment        = SHA-256(u32(24) "pg_warden/audit/v2/field"
//!                             u32(column index) salt[16] field)
//! field_seals       = 0x02 u8(10) seal × 10         the `field_seals` column
//! seal              = 0x00 salt[16]                 open: the column holds the value
//!                   | 0x01 commitment[32]           redacted: value and salt erased
//! ```
//!
//! Direct fields: `id`, `ts`, `event_type`, `action`, `resource_type`, `tenant`,
//! `confidence`, `txid`. Redactable fields (column index): `actor` 4, `resource_id` 6,
//! `correlation_id` 7, `reason` 9, `details` 11, `before_state` 12, `after_state` 13,
//! `session_user_name` 14, `application_name` 15, `client_addr` 16. A version-1 entry's
//! `field_seals` is SQL NULL. Salts are 16 random bytes per field per entry, supplied by
//! the writer ([`FieldSeals::from_random`]). The chain link is the same for both versions.
//! Redaction ([`FieldSeals::redact`]) replaces a field's salt by its commitment and its
//! value by NULL; a redaction record (event type [`REDACTION_EVENT_TYPE`], `details` from
//! [`redaction_details`]) with a higher id must cover the fields ([`verify`](Verifier)).
//!
//! # Chain link
//!
//! ```text
//! entry_hash = SHA-256(entry_encoding || i32(chain_id) || i64(chain_pos) || prev_hash[32])
//! signature  = HMAC-SHA256(secret of (key_name, key_version), entry_hash)
//! ```
//!
//! `prev_hash` is the `entry_hash` of position `chain_pos - 1` of the same chain; for
//! position 1 it is 32 zero bytes. A chain whose first positions were purged continues
//! from a retention checkpoint instead: its first remaining entry, right after the
//! checkpoint's position, links to the checkpoint's hash. Covering `chain_id` and
//! `chain_pos` makes an entry copied to another chain or position fail its own hash, not
//! only its neighbours' links.
//!
//! # Retention checkpoint, version 1
//!
//! ```text
//! checkpoint_encoding = 0x01 u32(23) "pg_warden/checkpoint/v1"
//!                       i32(chain_id) i64(chain_pos) entry_hash[32] i64(created_at)
//!                       u32(len) key_name  i32(key_version)
//! signature           = HMAC-SHA256(secret, checkpoint_encoding)
//! ```
//!
//! `chain_pos` is the last purged position and `entry_hash` that entry's hash.
//!
//! # Digest, version 1
//!
//! ```text
//! digest_encoding = 0x01 u32(19) "pg_warden/digest/v1"
//!                   i64(generated_at) u64(total_entries) u32(len) key_name i32(key_version)
//!                   u32(chain count)
//!                   { i32(chain_id) i64(head_pos) head_hash[32] } × count, by chain_id
//! signature       = HMAC-SHA256(secret, digest_encoding)
//! ```
//!
//! A digest kept outside the database pins each chain's head: a later verification
//! that finds a different hash at `head_pos`, or no entry there while no checkpoint covers
//! it, proves the chain was rewritten or truncated.
//!
//! # Tree head, version 1
//!
//! ```text
//! tree_head_encoding = 0x01 u32(22) "pg_warden/tree-head/v1"
//!                      u64(tree_size) root[32] i64(timestamp) u32(len) key_name i32(key_version)
//! signature          = HMAC-SHA256(secret, tree_head_encoding)
//! ```
//!
//! The size and root of the Merkle tree over every entry, by ascending `id`, at
//! `timestamp`; see [`TreeHead`] and, for the documents that carry heads and proofs,
//! [`InclusionDocument`] and [`ConsistencyDocument`].

mod checkpoint;
mod columns;
mod digest;
mod encoding;
mod export;
mod import;
mod jsonb;
pub mod merkle;
mod proof;
mod redaction;
mod scan;
mod time;
mod tree_head;
mod verify;

#[cfg(test)]
mod tests;

pub use checkpoint::{Checkpoint, CHECKPOINT_DOMAIN};
pub use columns::{
    select_list, Column, ColumnSpec, Role, SqlType, COLUMNS, CONTENT_COLUMNS, CONTENT_COLUMN_COUNT, FIELD_SEALS_COLUMN,
};
pub use digest::{Digest, DigestChain, DIGEST_DOMAIN, DIGEST_FORMAT};
pub use encoding::{
    sign_entry_hash, ChainHead, ChainMaterial, EntryContent, EntryHasher, EntryRef, FieldValue, Hash, NewLink,
    ENCODING_VERSION, ENTRY_DOMAIN, GENESIS_PREV_HASH, HASH_LEN,
};
pub use export::{
    export_entry_value, export_sealed_entry_value, parse_export, Export, ExportWriter, ExportedEntry,
    EXPORT_ENVELOPE_DEPTH, EXPORT_FORMAT, EXPORT_FORMAT_V2, FIELD_SEALS_FIELD,
};
pub use import::{ImportDigest, ImportMapping, ImportSource, IMPORT_DOMAIN};
pub use jsonb::{jsonb_text, write_jsonb_text};
pub use proof::{
    consistency_document, inclusion_document, verify_consistency_document, verify_inclusion_document,
    ConsistencyDocument, HeadRole, InclusionDocument, ProofIssue, ProofReport, CONSISTENCY_PROOF_FORMAT,
    INCLUSION_PROOF_FORMAT,
};
pub use redaction::{
    commit, parse_redaction_details, redaction_details, FieldSeal, FieldSeals, FieldSet, Salt, DIRECT_COLUMNS,
    ENCODING_VERSION_V2, ENTRY_DOMAIN_V2, FIELD_DOMAIN, FIELD_SEALS_RANDOM_LEN, REDACTABLE_COLUMNS, REDACTABLE_COUNT,
    REDACTION_ACTION, REDACTION_EVENT_TYPE, SALT_LEN,
};
pub use scan::ParseError;
pub use time::{timestamp_from_iso, timestamp_to_iso, write_timestamp_iso, POSTGRES_EPOCH_UNIX_SECONDS};
pub use tree_head::{TreeHead, TREE_HEAD_DOMAIN};
pub use verify::{
    verify_entries, verify_entries_with_records, ChainSummary, EntryChecker, Issue, IssueKind, LedgerEntry,
    RedactedEntry, Report, SegmentOutcome, Verifier,
};

/// Deepest nesting of arrays and objects a `jsonb` column of the ledger (`details`,
/// `before_state`, `after_state`) may hold: 124. An export embeds each document
/// [`EXPORT_ENVELOPE_DEPTH`] levels down, so an export of documents at this depth is
/// [`crate::json::MAX_DEPTH`] (127) levels deep as a whole: what serde_json, and every
/// reader with its default recursion limit of 128, still parses in one piece
/// (`warden-verify` reads the envelope without nesting and would take 127 inside it).
pub const JSONB_MAX_DEPTH: usize = crate::json::MAX_DEPTH - EXPORT_ENVELOPE_DEPTH;

/// The ledger's one depth rule, applied to a `jsonb` column's text whenever an entry is
/// written: refuses a document nested deeper than [`JSONB_MAX_DEPTH`].
pub fn check_jsonb_depth(column: &'static str, text: &str) -> Result<(), LedgerError> {
    if crate::json::nesting_depth(text) > JSONB_MAX_DEPTH {
        return Err(LedgerError::TooDeep { column, max_depth: JSONB_MAX_DEPTH });
    }
    Ok(())
}

/// Why a ledger value could not be built or accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// A value does not fit the encoding's 32-bit length prefix (4 GiB); PostgreSQL never
    /// stores one that large.
    ValueTooLong {
        /// The column holding it.
        column: &'static str,
    },
    /// The chain head is already at the largest position an `int8` holds.
    PositionOverflow,
    /// [`Verifier::push`] received an entry before one that sorts earlier by
    /// `(chain_id, chain_pos)`.
    OutOfOrder {
        /// The entry received out of order.
        entry_id: i64,
    },
    /// A digest listed the same chain twice.
    DuplicateDigestChain {
        /// The chain listed twice.
        chain_id: i32,
    },
    /// A `jsonb` column nested deeper than `max_depth` levels of arrays and objects:
    /// [`JSONB_MAX_DEPTH`] when an entry is written; [`crate::json::MAX_DEPTH`] when an
    /// export is written, for entries stored before the rule.
    TooDeep {
        /// The column holding the document.
        column: &'static str,
        /// The deepest nesting allowed.
        max_depth: usize,
    },
    /// Redaction of a column version 2 encodes directly, or of a redaction record's
    /// `details`.
    NotRedactable {
        /// The column.
        column: &'static str,
    },
    /// A version-2 entry's seals mark a column redacted that holds a value.
    RedactedFieldPresent {
        /// The column.
        column: &'static str,
    },
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerError::ValueTooLong { column } => write!(f, "{column} is longer than 4 GiB and cannot be encoded"),
            LedgerError::PositionOverflow => write!(f, "chain position would overflow int8"),
            LedgerError::OutOfOrder { entry_id } => {
                write!(f, "entry id {entry_id} arrived out of (chain_id, chain_pos) order")
            }
            LedgerError::DuplicateDigestChain { chain_id } => write!(f, "digest lists chain {chain_id} twice"),
            LedgerError::TooDeep { column, max_depth } => {
                write!(f, "{column} is nested deeper than {max_depth} levels of arrays and objects")
            }
            LedgerError::NotRedactable { column } => write!(f, "{column} cannot be redacted"),
            LedgerError::RedactedFieldPresent { column } => {
                write!(f, "{column} is marked redacted but holds a value")
            }
        }
    }
}

impl std::error::Error for LedgerError {}
