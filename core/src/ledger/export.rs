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
use super::verify::{verify_entries, LedgerEntry, Report};
use super::LedgerError;
use crate::json::{JsonError, MAX_DEPTH};
use crate::mac::KeyedMac;

/// Value of the export document's `format` field.
pub const EXPORT_FORMAT: &str = "pg_warden-audit-export-v1";

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
}

impl LedgerEntry for ExportedEntry<'_> {
    fn chain_position(&self) -> (Option<i32>, Option<i64>) {
        (self.chain_id, self.chain_pos)
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
}

impl Export<'_> {
    /// Verifies the export's entries against its checkpoints and, when given, `digest`.
    pub fn verify<F>(&self, digest: Option<&Digest>, keys: F) -> Report
    where
        F: FnMut(&str, i32) -> Option<KeyedMac>,
    {
        verify_entries(&self.entries, &self.checkpoints, digest, keys)
    }
}

/// Reads an export strictly. Refuses, with the line and column of the first problem,
/// anything but the documented shape; it never panics and its nesting is bounded.
pub fn parse_export(text: &str) -> Result<Export<'_>, ParseError> {
    let mut scanner = Scanner::new(text);
    let mut format_seen = false;
    let mut entries: Option<Vec<ExportedEntry<'_>>> = None;
    let mut checkpoints: Option<Vec<Checkpoint>> = None;
    scanner.object(|s, key| {
        let start = s.offset();
        let duplicate = match key.as_ref() {
            "format" => {
                if s.string()? != EXPORT_FORMAT {
                    return Err(s.error_at(start, format!("not a {EXPORT_FORMAT} document")));
                }
                std::mem::replace(&mut format_seen, true)
            }
            "entries" => {
                let mut list = Vec::new();
                s.array(|s, index| {
                    list.push(parse_entry(s).map_err(|e| e.within(format_args!("entries[{index}]")))?);
                    Ok(())
                })?;
                entries.replace(list).is_some()
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
    if !format_seen {
        return Err(scanner.error_at(0, "missing field format"));
    }
    Ok(Export {
        entries: entries.ok_or_else(|| scanner.error_at(0, "missing field entries"))?,
        checkpoints: checkpoints.ok_or_else(|| scanner.error_at(0, "missing field checkpoints"))?,
    })
}

/// Reads one entry object of an export; the inclusion proof document embeds the same.
pub(super) fn parse_entry<'a>(s: &mut Scanner<'a>) -> Result<ExportedEntry<'a>, ParseError> {
    let start = s.offset();
    let mut entry = ExportedEntry::default();
    let mut seen = 0u32;
    let mut next_bit = 0;
    s.object(|s, key| {
        let field_start = s.offset();
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
}

impl<W: Write> ExportWriter<W> {
    /// Starts the document on `out`.
    pub fn new(mut out: W) -> io::Result<Self> {
        write!(out, "{{\"format\": \"{EXPORT_FORMAT}\",\n \"entries\": [")?;
        Ok(Self { out, line: String::new(), entries: 0 })
    }

    /// Appends one entry. Its `jsonb` columns must be PostgreSQL's `jsonb` output text;
    /// anything else is refused, since the verifier could not rebuild the text it was
    /// hashed over. A document nested deeper than [`MAX_DEPTH`] (only an entry stored
    /// before the ledger's depth rule can be) is refused with an error of kind
    /// `InvalidData` wrapping [`LedgerError::TooDeep`].
    pub fn write_entry(&mut self, entry: &EntryRef<'_>) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        line.push_str(if self.entries == 0 { "\n  {" } else { ",\n  {" });
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
        line.push('}');
        self.out.write_all(line.as_bytes())?;
        self.entries += 1;
        Ok(())
    }

    /// Ends the document with `checkpoints` and hands back the writer.
    pub fn finish(mut self, checkpoints: &[Checkpoint]) -> io::Result<W> {
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
        line.push_str(if checkpoints.is_empty() { "]}\n" } else { "\n ]}\n" });
        self.out.write_all(line.as_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One entry as a JSON object, exactly as it appears in an export (see the module
/// documentation): what an inclusion proof document embeds, so that its hash and
/// signature can be recomputed the same way. Refuses what [`ExportWriter::write_entry`]
/// refuses, with the same errors.
pub fn export_entry_value(entry: &EntryRef<'_>) -> io::Result<Value> {
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
