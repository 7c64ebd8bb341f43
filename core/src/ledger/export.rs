//! The audit export: a JSON document an auditor verifies without database access.
//!
//! ```text
//! {"format": "pg_warden-audit-export-v1",
//!  "entries": [
//!   {"id": 1, "ts": "2026-11-22T06:15:01.123456Z", "event_type": "…", …,
//!    "confidence": "0.9500", "details": {"k": 1}, …, "txid": 812,
//!    "chain_id": 1, "chain_pos": 1, "prev_hash": "00…", "entry_hash": "…",
//!    "key_name": "audit", "key_version": 1, "signature": "…"},
//!   …],
//!  "checkpoints": [
//!   {"chain_id": 1, "chain_pos": 50, "entry_hash": "…", "created_at": "…",
//!    "key_name": "audit", "key_version": 1, "signature": "…"}]}
//! ```
//!
//! Every column of `warden.audit_log` is a field of its entry: `ts` as ISO 8601 UTC text,
//! `bytea` columns as hex, `numeric` as a JSON string (its exact text), `int` columns as
//! JSON integers, SQL NULL as `null`. `jsonb` columns are embedded as JSON values, and
//! since `null` is itself a jsonb value, a `jsonb` column that is SQL NULL is left out of
//! its entry instead. Any other field missing, unknown or repeated makes the document
//! invalid.
//!
//! An inclusion proof document embeds one entry in this same form
//! ([`export_entry_value`]), read and checked by the same code.
//!
//! # Version 2
//!
//! `"format": "pg_warden-audit-export-v2"` carries version-2 entries (see
//! [`super`]'s module documentation): an entry with a non-NULL `field_seals` column has
//! the field `"field_seals": "<hex>"` after `signature` (absent or `null` for a
//! version-1 entry; a redacted field is SQL NULL like any other), and the document may
//! end with `"redaction_records": [<entry>, …]`, the redaction records (entries of
//! event type `audit_redaction`) that lie outside `entries` and cover redacted entries
//! in it, each in the form of an entry. Each is verified on its own (hash and signature),
//! not as part of a chain. A version-1 document has neither field.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::Value;

use super::checkpoint::Checkpoint;
use super::columns::{Column, SqlType, COLUMNS};
use super::digest::Digest;
use super::encoding::{ChainMaterial, EntryContent, EntryRef, FieldValue, Hash, HASH_LEN};
use super::jsonb::{jsonb_text, write_escaped, write_jsonb_text_within};
use super::scan::{decode_hex, ParseError, Scanner};
use super::time::{timestamp_from_iso, timestamp_to_iso, write_timestamp_iso};
use super::verify::{verify_entries_with_records, LedgerEntry, Report};
use super::LedgerError;
use crate::json::{JsonError, MAX_DEPTH};
use crate::mac::KeyedMac;

/// Value of the export document's `format` field.
pub const EXPORT_FORMAT: &str = "pg_warden-audit-export-v1";
/// Value of the `format` field of an export that may carry version-2 entries and
/// redaction records.
pub const EXPORT_FORMAT_V2: &str = "pg_warden-audit-export-v2";
/// The field of an exported entry holding its `field_seals` column, as hex.
pub const FIELD_SEALS_FIELD: &str = "field_seals";

/// Levels of the export around each embedded `jsonb` document: the export object, its
/// `entries` array and the entry object.
pub const EXPORT_ENVELOPE_DEPTH: usize = 3;

/// An exported entry has one field per column of the ledger; bit `i` of a seen-mask
/// stands for [`COLUMNS`]`[i]`.
/// The `jsonb` columns (`details`, `before_state`, `after_state`): left out when SQL NULL.
const JSONB_FIELDS_MASK: u32 = {
    let mut mask = 0;
    let mut i = 0;
    while i < COLUMNS.len() {
        if matches!(COLUMNS[i].sql_type, SqlType::Jsonb) {
            mask |= 1 << i;
        }
        i += 1;
    }
    mask
};
const ALL_FIELDS_MASK: u32 = (1 << COLUMNS.len()) - 1;

/// A `bytea` chain column as exported: normally 32 bytes, but a tampered row may hold any
/// length, which verification reports rather than the parser refusing the document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum StoredBytes {
    Hash(Hash),
    Other(Vec<u8>),
}

impl StoredBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            StoredBytes::Hash(hash) => hash,
            StoredBytes::Other(bytes) => bytes,
        }
    }
}

/// One entry read from an export. Unescaped strings borrow from the document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportedEntry<'a> {
    id: i64,
    ts: Option<i64>,
    event_type: Option<Cow<'a, str>>,
    action: Option<Cow<'a, str>>,
    actor: Option<Cow<'a, str>>,
    resource_type: Option<Cow<'a, str>>,
    resource_id: Option<Cow<'a, str>>,
    correlation_id: Option<Cow<'a, str>>,
    tenant: Option<Cow<'a, str>>,
    reason: Option<Cow<'a, str>>,
    confidence: Option<Cow<'a, str>>,
    /// Rebuilt `jsonb` output text, as the extension hashed it.
    details: Option<String>,
    before_state: Option<String>,
    after_state: Option<String>,
    session_user_name: Option<Cow<'a, str>>,
    application_name: Option<Cow<'a, str>>,
    client_addr: Option<Cow<'a, str>>,
    txid: Option<i64>,
    chain_id: Option<i32>,
    chain_pos: Option<i64>,
    prev_hash: Option<StoredBytes>,
    entry_hash: Option<StoredBytes>,
    key_name: Option<Cow<'a, str>>,
    key_version: Option<i32>,
    signature: Option<StoredBytes>,
    field_seals: Option<Vec<u8>>,
}

impl LedgerEntry for ExportedEntry<'_> {
    fn chain_position(&self) -> (Option<i32>, Option<i64>) {
        (self.chain_id, self.chain_pos)
    }

    fn field_seals(&self) -> Option<&[u8]> {
        self.field_seals.as_deref()
    }

    fn entry(&self) -> EntryRef<'_> {
        EntryRef {
            content: EntryContent {
                id: self.id,
                ts: self.ts,
                event_type: self.event_type.as_deref(),
                action: self.action.as_deref(),
                actor: self.actor.as_deref(),
                resource_type: self.resource_type.as_deref(),
                resource_id: self.resource_id.as_deref(),
                correlation_id: self.correlation_id.as_deref(),
                tenant: self.tenant.as_deref(),
                reason: self.reason.as_deref(),
                confidence: self.confidence.as_deref(),
                details: self.details.as_deref(),
                before_state: self.before_state.as_deref(),
                after_state: self.after_state.as_deref(),
                session_user_name: self.session_user_name.as_deref(),
                application_name: self.application_name.as_deref(),
                client_addr: self.client_addr.as_deref(),
                txid: self.txid,
            },
            chain: ChainMaterial {
                chain_id: self.chain_id,
                chain_pos: self.chain_pos,
                prev_hash: self.prev_hash.as_ref().map(StoredBytes::as_slice),
                entry_hash: self.entry_hash.as_ref().map(StoredBytes::as_slice),
                key_name: self.key_name.as_deref(),
                key_version: self.key_version,
                signature: self.signature.as_ref().map(StoredBytes::as_slice),
            },
        }
    }
}

/// A parsed export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export<'a> {
    /// The entries, in the export's order.
    pub entries: Vec<ExportedEntry<'a>>,
    /// The retention checkpoints.
    pub checkpoints: Vec<Checkpoint>,
    /// Redaction records from outside `entries` (version 2 only).
    pub redaction_records: Vec<ExportedEntry<'a>>,
}

impl Export<'_> {
    /// Verifies the export's entries against its checkpoints and, when given, `digest`,
    /// counting its redaction records.
    pub fn verify<F>(&self, digest: Option<&Digest>, keys: F) -> Report
    where
        F: FnMut(&str, i32) -> Option<KeyedMac>,
    {
        verify_entries_with_records(&self.entries, &self.redaction_records, &self.checkpoints, digest, keys)
    }
}

/// Reads an export strictly. Refuses, with the line and column of the first problem,
/// anything but the documented shape; it never panics and its nesting is bounded.
pub fn parse_export(text: &str) -> Result<Export<'_>, ParseError> {
    let mut scanner = Scanner::new(text);
    let mut format: Option<bool> = None;
    let mut entries: Option<Vec<ExportedEntry<'_>>> = None;
    let mut checkpoints: Option<Vec<Checkpoint>> = None;
    let mut records: Option<Vec<ExportedEntry<'_>>> = None;
    // Where the first thing only version 2 may hold starts.
    let mut first_v2_only: Option<(usize, &'static str)> = None;
    scanner.object(|s, key| {
        let start = s.offset();
        let duplicate = match key.as_ref() {
            "format" => {
                let sealed = match s.string()?.as_ref() {
                    EXPORT_FORMAT => false,
                    EXPORT_FORMAT_V2 => true,
                    _ => return Err(s.error_at(start, format!("not a {EXPORT_FORMAT} or {EXPORT_FORMAT_V2} document"))),
                };
                format.replace(sealed).is_some()
            }
            "entries" => {
                let mut list = Vec::new();
                s.array(|s, index| {
                    let entry_start = s.offset();
                    let entry = parse_entry(s).map_err(|e| e.within(format_args!("entries[{index}]")))?;
                    if entry.field_seals.is_some() && first_v2_only.is_none() {
                        first_v2_only = Some((entry_start, "field_seals"));
                    }
                    list.push(entry);
                    Ok(())
                })?;
                entries.replace(list).is_some()
            }
            "redaction_records" => {
                first_v2_only.get_or_insert((start, "redaction_records"));
                let mut list = Vec::new();
                s.array(|s, index| {
                    list.push(parse_entry(s).map_err(|e| e.within(format_args!("redaction_records[{index}]")))?);
                    Ok(())
                })?;
                records.replace(list).is_some()
            }
            "checkpoints" => {
                let mut list = Vec::new();
                s.array(|s, index| {
                    list.push(parse_checkpoint(s).map_err(|e| e.within(format_args!("checkpoints[{index}]")))?);
                    Ok(())
                })?;
                checkpoints.replace(list).is_some()
            }
            _ => return Err(s.error_at(start, "unknown export field")),
        };
        if duplicate {
            return Err(s.error_at(start, format!("field {key} appears twice")));
        }
        Ok(())
    })?;
    scanner.end()?;
    let Some(sealed) = format else {
        return Err(scanner.error_at(0, "missing field format"));
    };
    if let (false, Some((offset, what))) = (sealed, first_v2_only) {
        return Err(scanner.error_at(offset, format!("{what} needs format {EXPORT_FORMAT_V2}")));
    }
    Ok(Export {
        entries: entries.ok_or_else(|| scanner.error_at(0, "missing field entries"))?,
        checkpoints: checkpoints.ok_or_else(|| scanner.error_at(0, "missing field checkpoints"))?,
        redaction_records: records.unwrap_or_default(),
    })
}

/// Reads one entry object of an export; the inclusion proof document embeds the same.
/// Takes a `field_seals` field wherever it comes from; a version-1 export refuses it.
pub(super) fn parse_entry<'a>(s: &mut Scanner<'a>) -> Result<ExportedEntry<'a>, ParseError> {
    let start = s.offset();
    let mut entry = ExportedEntry::default();
    let mut seen = 0u32;
    let mut seals_seen = false;
    let mut next_bit = 0;
    s.object(|s, key| {
        let field_start = s.offset();
        if key == FIELD_SEALS_FIELD {
            if std::mem::replace(&mut seals_seen, true) {
                return Err(s.error_at(field_start, format!("{FIELD_SEALS_FIELD} appears twice")));
            }
            entry.field_seals =
                opt_stored_bytes(s).map_err(|e| e.within(FIELD_SEALS_FIELD))?.map(|bytes| bytes.as_slice().to_vec());
            return Ok(());
        }
        // Exports list columns in table order, so the field after the previous one is
        // tried first; any order is still accepted.
        let predicted = COLUMNS[next_bit..].iter().position(|c| c.name == key).map(|i| next_bit + i);
        let Some(bit) = predicted.or_else(|| COLUMNS.iter().position(|c| c.name == key)) else {
            return Err(s.error_at(field_start, "unknown column"));
        };
        next_bit = (bit + 1) % COLUMNS.len();
        if seen & (1 << bit) != 0 {
            return Err(s.error_at(field_start, format!("column {key} appears twice")));
        }
        seen |= 1 << bit;
        let e = &mut entry;
        let mut read = |s: &mut Scanner<'a>| -> Result<(), ParseError> {
            match COLUMNS[bit].column {
                Column::Id => e.id = s.integer()?,
                Column::Ts => e.ts = opt_timestamp(s)?,
                Column::EventType => e.event_type = s.opt_string()?,
                Column::Action => e.action = s.opt_string()?,
                Column::Actor => e.actor = s.opt_string()?,
                Column::ResourceType => e.resource_type = s.opt_string()?,
                Column::ResourceId => e.resource_id = s.opt_string()?,
                Column::CorrelationId => e.correlation_id = s.opt_string()?,
                Column::Tenant => e.tenant = s.opt_string()?,
                Column::Reason => e.reason = s.opt_string()?,
                Column::Confidence => e.confidence = s.opt_string()?,
                Column::Details => e.details = Some(jsonb_value(s)?),
                Column::BeforeState => e.before_state = Some(jsonb_value(s)?),
                Column::AfterState => e.after_state = Some(jsonb_value(s)?),
                Column::SessionUserName => e.session_user_name = s.opt_string()?,
                Column::ApplicationName => e.application_name = s.opt_string()?,
                Column::ClientAddr => e.client_addr = s.opt_string()?,
                Column::Txid => e.txid = s.opt_integer()?,
                Column::ChainId => e.chain_id = s.opt_integer()?,
                Column::ChainPos => e.chain_pos = s.opt_integer()?,
                Column::PrevHash => e.prev_hash = opt_stored_bytes(s)?,
                Column::EntryHash => e.entry_hash = opt_stored_bytes(s)?,
                Column::KeyName => e.key_name = s.opt_string()?,
                Column::KeyVersion => e.key_version = s.opt_integer()?,
                Column::Signature => e.signature = opt_stored_bytes(s)?,
            }
            Ok(())
        };
        read(s).map_err(|e| e.within(&key))
    })?;
    let missing = ALL_FIELDS_MASK & !JSONB_FIELDS_MASK & !seen;
    if missing != 0 {
        let name = COLUMNS[missing.trailing_zeros() as usize].name;
        return Err(s.error_at(start, format!("missing column {name}")));
    }
    Ok(entry)
}

fn opt_timestamp(s: &mut Scanner<'_>) -> Result<Option<i64>, ParseError> {
    let start = s.offset();
    match s.opt_string()? {
        None => Ok(None),
        Some(text) => timestamp_from_iso(&text)
            .map(Some)
            .ok_or_else(|| s.error_at(start, "expected an ISO 8601 UTC timestamp like 2026-11-22T06:15:01.123456Z")),
    }
}

/// Most genuine `jsonb` output is no longer than its compact JSON plus the spaces after
/// `,` and `:`; only an exponent can grow a number much further. Past this bound the
/// value cannot be what PostgreSQL printed, and rebuilding it could exhaust memory, so
/// rebuilding stops there.
const JSONB_GROWTH_FACTOR: usize = 4;
const JSONB_GROWTH_SLACK: usize = 64;

fn jsonb_value(s: &mut Scanner<'_>) -> Result<String, ParseError> {
    let start = s.offset();
    let (value, consumed) = s.json_value()?;
    let max_len = consumed.saturating_mul(JSONB_GROWTH_FACTOR).saturating_add(JSONB_GROWTH_SLACK);
    let mut text = String::new();
    if !write_jsonb_text_within(&value, &mut text, max_len) {
        return Err(s.error_at(start, "number exponent expands beyond what jsonb output can hold"));
    }
    Ok(text)
}

fn opt_stored_bytes(s: &mut Scanner<'_>) -> Result<Option<StoredBytes>, ParseError> {
    let start = s.offset();
    let Some(text) = s.opt_string()? else { return Ok(None) };
    let decoded = if text.len() == 2 * HASH_LEN {
        let mut hash = [0u8; HASH_LEN];
        let valid = decode_hex(text.as_bytes(), &mut hash);
        valid.then_some(StoredBytes::Hash(hash))
    } else {
        hex::decode(text.as_bytes()).ok().map(StoredBytes::Other)
    };
    decoded.map(Some).ok_or_else(|| s.error_at(start, "expected hex digits"))
}

fn parse_checkpoint(s: &mut Scanner<'_>) -> Result<Checkpoint, ParseError> {
    let start = s.offset();
    let (mut chain_id, mut chain_pos, mut entry_hash, mut created_at) = (None, None, None, None);
    let (mut key_name, mut key_version, mut signature) = (None, None, None);
    s.object(|s, key| {
        let field_start = s.offset();
        let mut read = |s: &mut Scanner<'_>| -> Result<bool, ParseError> {
            Ok(match key.as_ref() {
                "chain_id" => chain_id.replace(s.integer::<i32>()?).is_some(),
                "chain_pos" => chain_pos.replace(s.integer::<i64>()?).is_some(),
                "entry_hash" => entry_hash.replace(s.hash()?).is_some(),
                "created_at" => {
                    let text = s.string()?;
                    let micros = timestamp_from_iso(&text)
                        .ok_or_else(|| s.error_at(field_start, "expected an ISO 8601 UTC timestamp"))?;
                    created_at.replace(micros).is_some()
                }
                "key_name" => key_name.replace(s.string()?.into_owned()).is_some(),
                "key_version" => key_version.replace(s.integer::<i32>()?).is_some(),
                "signature" => signature.replace(s.hash()?).is_some(),
                _ => return Err(s.error_at(field_start, "unknown field")),
            })
        };
        if read(s).map_err(|e| e.within(&key))? {
            return Err(s.error_at(field_start, format!("field {key} appears twice")));
        }
        Ok(())
    })?;
    match (chain_id, chain_pos, entry_hash, created_at, key_name, key_version, signature) {
        (
            Some(chain_id),
            Some(chain_pos),
            Some(entry_hash),
            Some(created_at),
            Some(key_name),
            Some(key_version),
            Some(signature),
        ) => Ok(Checkpoint { chain_id, chain_pos, entry_hash, created_at, key_name, key_version, signature }),
        _ => Err(s.error_at(
            start,
            "a checkpoint needs chain_id, chain_pos, entry_hash, created_at, key_name, key_version and signature",
        )),
    }
}

/// Writes an export entry by entry, so a table of any size streams through a bounded
/// buffer. Each entry takes one line.
pub struct ExportWriter<W: Write> {
    out: W,
    line: String,
    entries: u64,
    sealed: bool,
}

impl<W: Write> ExportWriter<W> {
    /// Starts a version-1 document on `out`.
    pub fn new(out: W) -> io::Result<Self> {
        Self::start(out, false)
    }

    /// Starts a version-2 document on `out`, which may carry version-2 entries and
    /// redaction records.
    pub fn new_v2(out: W) -> io::Result<Self> {
        Self::start(out, true)
    }

    fn start(mut out: W, sealed: bool) -> io::Result<Self> {
        let format = if sealed { EXPORT_FORMAT_V2 } else { EXPORT_FORMAT };
        write!(out, "{{\"format\": \"{format}\",\n \"entries\": [")?;
        Ok(Self { out, line: String::new(), entries: 0, sealed })
    }

    /// Appends one version-1 entry. Its `jsonb` columns must be PostgreSQL's `jsonb`
    /// output text; anything else is refused, since the verifier could not rebuild the
    /// text it was hashed over. A document nested deeper than [`MAX_DEPTH`] (only an
    /// entry stored before the ledger's depth rule can be) is refused with an error of
    /// kind `InvalidData` wrapping [`LedgerError::TooDeep`].
    pub fn write_entry(&mut self, entry: &EntryRef<'_>) -> io::Result<()> {
        self.write_sealed_entry(entry, None)
    }

    /// Appends one entry with its `field_seals` column (`None` when SQL NULL); refuses,
    /// with an error of kind `InvalidInput`, seals in a version-1 document. Otherwise as
    /// [`ExportWriter::write_entry`].
    pub fn write_sealed_entry(&mut self, entry: &EntryRef<'_>, field_seals: Option<&[u8]>) -> io::Result<()> {
        if field_seals.is_some() && !self.sealed {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a version-2 entry needs ExportWriter::new_v2"));
        }
        self.line.clear();
        self.line.push_str(if self.entries == 0 { "\n  " } else { ",\n  " });
        write_entry_object(&mut self.line, entry, field_seals)?;
        self.out.write_all(self.line.as_bytes())?;
        self.entries += 1;
        Ok(())
    }

    /// Ends the document with `checkpoints` and hands back the writer.
    pub fn finish(self, checkpoints: &[Checkpoint]) -> io::Result<W> {
        self.finish_with_records(checkpoints, &[])
    }

    /// Ends the document with `checkpoints` and `records`, redaction records from
    /// outside the entries written (each an entry and its `field_seals`), and hands back
    /// the writer. Records need a version-2 document.
    pub fn finish_with_records(
        mut self,
        checkpoints: &[Checkpoint],
        records: &[(EntryRef<'_>, Option<&[u8]>)],
    ) -> io::Result<W> {
        if !records.is_empty() && !self.sealed {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "redaction records need ExportWriter::new_v2"));
        }
        self.write_checkpoints(checkpoints)?;
        let line = &mut self.line;
        line.clear();
        if self.sealed && !records.is_empty() {
            line.push_str(",\n \"redaction_records\": [");
            for (i, (record, seals)) in records.iter().enumerate() {
                line.push_str(if i == 0 { "\n  " } else { ",\n  " });
                write_entry_object(line, record, *seals)?;
            }
            line.push_str("\n ]");
        }
        line.push_str("}\n");
        self.out.write_all(line.as_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_checkpoints(&mut self, checkpoints: &[Checkpoint]) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        line.push_str(if self.entries == 0 { "],\n \"checkpoints\": [" } else { "\n ],\n \"checkpoints\": [" });
        for (i, cp) in checkpoints.iter().enumerate() {
            line.push_str(if i == 0 { "\n  {" } else { ",\n  {" });
            let _ = write!(line, "\"chain_id\": {}, \"chain_pos\": {}", cp.chain_id, cp.chain_pos);
            push_hex_field(line, "entry_hash", Some(&cp.entry_hash));
            line.push_str(", \"created_at\": \"");
            write_timestamp_iso(cp.created_at, line);
            line.push('"');
            push_text_field(line, "key_name", Some(&cp.key_name));
            push_int_field(line, "key_version", Some(i64::from(cp.key_version)));
            push_hex_field(line, "signature", Some(&cp.signature));
            line.push('}');
        }
        line.push_str(if checkpoints.is_empty() { "]" } else { "\n ]" });
        self.out.write_all(line.as_bytes())
    }
}

/// Appends `entry` as one JSON object, its seals last when it has them.
fn write_entry_object(line: &mut String, entry: &EntryRef<'_>, field_seals: Option<&[u8]>) -> io::Result<()> {
    line.push('{');
    for (i, spec) in COLUMNS.iter().enumerate() {
        let name = spec.name;
        let value = entry.value(spec.column);
        if spec.sql_type == SqlType::Jsonb {
            // SQL NULL is left out: `null` is itself a jsonb value.
            let FieldValue::Text(Some(text)) = value else { continue };
            exported_jsonb(name, text, entry.content.id)?;
        }
        if i > 0 {
            line.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(line, "\"{name}\": ");
        match (spec.sql_type, value) {
            (_, FieldValue::Int(None) | FieldValue::Text(None) | FieldValue::Bytes(None)) => line.push_str("null"),
            (SqlType::Timestamptz, FieldValue::Int(Some(ts))) => {
                line.push('"');
                write_timestamp_iso(ts, line);
                line.push('"');
            }
            (_, FieldValue::Int(Some(v))) => {
                let _ = write!(line, "{v}");
            }
            (SqlType::Jsonb, FieldValue::Text(Some(text))) => line.push_str(text),
            (_, FieldValue::Text(Some(text))) => write_escaped(text, line),
            (_, FieldValue::Bytes(Some(bytes))) => write_hex(bytes, line),
        }
    }
    if let Some(seals) = field_seals {
        push_hex_field(line, FIELD_SEALS_FIELD, Some(seals));
    }
    line.push('}');
    Ok(())
}

/// One entry as a JSON object, exactly as it appears in an export (see the module
/// documentation): what an inclusion proof document embeds, so that its hash and
/// signature can be recomputed the same way. Refuses what [`ExportWriter::write_entry`]
/// refuses, with the same errors.
pub fn export_entry_value(entry: &EntryRef<'_>) -> io::Result<Value> {
    export_sealed_entry_value(entry, None)
}

/// [`export_entry_value`] of a version-2 entry: with its `field_seals` field when
/// `field_seals` is not `None`.
pub fn export_sealed_entry_value(entry: &EntryRef<'_>, field_seals: Option<&[u8]>) -> io::Result<Value> {
    let mut fields = serde_json::Map::new();
    for spec in &COLUMNS {
        let value = match (spec.sql_type, entry.value(spec.column)) {
            // SQL NULL is left out: `null` is itself a jsonb value.
            (SqlType::Jsonb, FieldValue::Text(None)) => continue,
            (SqlType::Jsonb, FieldValue::Text(Some(text))) => exported_jsonb(spec.name, text, entry.content.id)?,
            (_, FieldValue::Int(None) | FieldValue::Text(None) | FieldValue::Bytes(None)) => Value::Null,
            (SqlType::Timestamptz, FieldValue::Int(Some(ts))) => Value::String(timestamp_to_iso(ts)),
            (_, FieldValue::Int(Some(v))) => Value::from(v),
            (_, FieldValue::Text(Some(text))) => Value::String(text.to_owned()),
            (_, FieldValue::Bytes(Some(bytes))) => Value::String(hex::encode(bytes)),
        };
        fields.insert(spec.name.to_owned(), value);
    }
    if let Some(seals) = field_seals {
        fields.insert(FIELD_SEALS_FIELD.to_owned(), Value::String(hex::encode(seals)));
    }
    Ok(Value::Object(fields))
}

/// The `jsonb` column `name` of entry `id` parsed, when `text` is PostgreSQL's `jsonb`
/// output text: anything else is refused, since a verifier could not rebuild the text it
/// was hashed over. A document nested deeper than [`MAX_DEPTH`] (only an entry stored
/// before the ledger's depth rule can be) is refused with an error of kind `InvalidData`
/// wrapping [`LedgerError::TooDeep`].
fn exported_jsonb(name: &'static str, text: &str, id: i64) -> io::Result<Value> {
    match crate::json::parse(text) {
        Ok(value) if jsonb_text(&value) == text => Ok(value),
        Err(JsonError::TooDeep) => {
            Err(io::Error::new(io::ErrorKind::InvalidData, LedgerError::TooDeep { column: name, max_depth: MAX_DEPTH }))
        }
        Ok(_) | Err(JsonError::Syntax(_)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("entry id {id}: {name} is not PostgreSQL jsonb output text"),
        )),
    }
}

fn push_text_field(line: &mut String, name: &str, value: Option<&str>) {
    let _ = write!(line, ", \"{name}\": ");
    match value {
        Some(text) => write_escaped(text, line),
        None => line.push_str("null"),
    }
}

fn push_int_field(line: &mut String, name: &str, value: Option<i64>) {
    let _ = match value {
        Some(v) => write!(line, ", \"{name}\": {v}"),
        None => write!(line, ", \"{name}\": null"),
    };
}

fn push_hex_field(line: &mut String, name: &str, value: Option<&[u8]>) {
    let _ = write!(line, ", \"{name}\": ");
    match value {
        Some(bytes) => write_hex(bytes, line),
        None => line.push_str("null"),
    }
}

/// `bytes` as a JSON string of lowercase hex.
fn write_hex(bytes: &[u8], line: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    line.push('"');
    for byte in bytes {
        line.push(char::from(HEX[usize::from(byte >> 4)]));
        line.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    line.push('"');
}
