//! Entry encoding version 2: one salted commitment per redactable field under the entry
//! hash, so a field's content (and its salt) can be erased later while the entry's hash,
//! its chain links and its signature still verify; and the redaction records that
//! justify each erasure.
//!
//! See the module documentation of [`super`] for the byte layouts. Everything here is
//! deterministic: the salts of a new entry are random bytes the caller supplies
//! ([`FieldSeals::from_random`]), so the extension draws them from `pg_strong_random`
//! and tests pin them.

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::columns::{Column, COLUMNS, CONTENT_COLUMN_COUNT};
use super::encoding::{put_field, put_len_prefixed, EntryContent, EntryRef, FieldValue, Hash, HASH_LEN};
use super::jsonb::jsonb_text;
use super::LedgerError;

/// First byte of the version-2 entry encoding and of the `field_seals` column.
pub const ENCODING_VERSION_V2: u8 = 2;
/// Domain label of the version-2 entry encoding.
pub const ENTRY_DOMAIN_V2: &[u8] = b"pg_warden/audit/v2";
/// Domain label of a field commitment, so a commitment can never pass for an entry
/// encoding or any other message.
pub const FIELD_DOMAIN: &[u8] = b"pg_warden/audit/v2/field";
/// Length of a field's salt: 128 bits, so that without it no guess of a redacted value,
/// however few its possible values, can be checked against the commitment.
pub const SALT_LEN: usize = 16;
/// A field's salt.
pub type Salt = [u8; SALT_LEN];

/// The content columns whose value version 2 commits to separately, so they can be
/// redacted: who acted and on whose data, free text, captured rows, and the session
/// facts that identify a person. In column order.
pub const REDACTABLE_COLUMNS: [Column; REDACTABLE_COUNT] = [
    Column::Actor,
    Column::ResourceId,
    Column::CorrelationId,
    Column::Reason,
    Column::Details,
    Column::BeforeState,
    Column::AfterState,
    Column::SessionUserName,
    Column::ApplicationName,
    Column::ClientAddr,
];
/// How many columns are redactable.
pub const REDACTABLE_COUNT: usize = 10;

/// The content columns version 2 encodes directly, as version 1 does: what an auditor
/// needs to read any entry (its identity, time, kind, the kind of object, the tenant that
/// retention goes by, the score and the transaction), none of which names a person. In
/// column order.
pub const DIRECT_COLUMNS: [Column; CONTENT_COLUMN_COUNT - REDACTABLE_COUNT] = [
    Column::Id,
    Column::Ts,
    Column::EventType,
    Column::Action,
    Column::ResourceType,
    Column::Tenant,
    Column::Confidence,
    Column::Txid,
];

/// Random bytes a new entry's seals take: one salt per redactable column.
pub const FIELD_SEALS_RANDOM_LEN: usize = SALT_LEN * REDACTABLE_COUNT;

/// `event_type` of the entry pg_warden writes for each redaction.
pub const REDACTION_EVENT_TYPE: &str = "audit_redaction";
/// `action` of a redaction record.
pub const REDACTION_ACTION: &str = "REDACT";

const OPEN_SEAL: u8 = 0;
const REDACTED_SEAL: u8 = 1;

const _: () = {
    // Both lists in column order, together the content columns, each once.
    let mut seen = 0u32;
    let mut i = 0;
    while i < REDACTABLE_COUNT {
        assert!(i == 0 || (REDACTABLE_COLUMNS[i - 1] as usize) < (REDACTABLE_COLUMNS[i] as usize));
        seen |= 1 << REDACTABLE_COLUMNS[i] as usize;
        i += 1;
    }
    let mut i = 0;
    while i < DIRECT_COLUMNS.len() {
        assert!(i == 0 || (DIRECT_COLUMNS[i - 1] as usize) < (DIRECT_COLUMNS[i] as usize));
        assert!(seen & (1 << DIRECT_COLUMNS[i] as usize) == 0);
        seen |= 1 << DIRECT_COLUMNS[i] as usize;
        i += 1;
    }
    assert!(seen == (1 << CONTENT_COLUMN_COUNT) - 1);
    // Every redactable column is text, so a redacted one reads as SQL NULL.
    let mut i = 0;
    while i < REDACTABLE_COUNT {
        assert!(!matches!(
            COLUMNS[REDACTABLE_COLUMNS[i] as usize].sql_type,
            super::columns::SqlType::Int4 | super::columns::SqlType::Int8 | super::columns::SqlType::Timestamptz
        ));
        i += 1;
    }
};

impl Column {
    /// The column's place among [`REDACTABLE_COLUMNS`], `None` when it is not redactable.
    pub fn redactable_slot(self) -> Option<usize> {
        REDACTABLE_COLUMNS.iter().position(|c| *c == self)
    }

    /// The content column called `name`.
    pub fn content_named(name: &str) -> Option<Column> {
        COLUMNS[..CONTENT_COLUMN_COUNT].iter().find(|c| c.name == name).map(|c| c.column)
    }
}

/// A set of columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldSet(u32);

impl FieldSet {
    /// No column.
    pub const EMPTY: FieldSet = FieldSet(0);

    /// The set of `columns`.
    pub fn of(columns: &[Column]) -> Self {
        columns.iter().fold(Self::EMPTY, |set, c| set.with(*c))
    }

    /// This set and `column`.
    pub const fn with(self, column: Column) -> Self {
        FieldSet(self.0 | 1 << column as u32)
    }

    /// Whether `column` is in the set.
    pub const fn contains(self, column: Column) -> bool {
        self.0 & (1 << column as u32) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Columns in either set.
    pub const fn union(self, other: FieldSet) -> Self {
        FieldSet(self.0 | other.0)
    }

    /// Columns in this set and not in `other`.
    pub const fn difference(self, other: FieldSet) -> Self {
        FieldSet(self.0 & !other.0)
    }

    /// The columns, in column order.
    pub fn iter(self) -> impl Iterator<Item = Column> {
        COLUMNS.iter().map(|c| c.column).filter(move |c| self.contains(*c))
    }
}

impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, column) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(column.name())?;
        }
        Ok(())
    }
}

/// What version 2 keeps for one redactable field beside its column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldSeal {
    /// The field is present (its column holds its value, or SQL NULL) and this salt
    /// recomputes its commitment.
    Open(Salt),
    /// The field was redacted: value and salt are erased, and this is the commitment the
    /// entry hash covers.
    Redacted(Hash),
}

/// The `field_seals` column of a version-2 entry: a seal per redactable column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSeals {
    seals: [FieldSeal; REDACTABLE_COUNT],
}

impl FieldSeals {
    /// The seals of a new entry: every field open, salt `i` the `i`-th 16 bytes of
    /// `random`. `random` must come from a cryptographically secure generator
    /// (`pg_strong_random`, `getrandom`) and be drawn afresh for each entry; nothing else
    /// stored with the entry may determine it.
    pub fn from_random(random: &[u8; FIELD_SEALS_RANDOM_LEN]) -> Self {
        let mut seals = [FieldSeal::Open([0; SALT_LEN]); REDACTABLE_COUNT];
        for (seal, salt) in seals.iter_mut().zip(random.chunks_exact(SALT_LEN)) {
            let mut bytes = [0; SALT_LEN];
            bytes.copy_from_slice(salt);
            *seal = FieldSeal::Open(bytes);
        }
        FieldSeals { seals }
    }

    /// The seal of `column`, `None` when it is not redactable.
    pub fn seal(&self, column: Column) -> Option<&FieldSeal> {
        column.redactable_slot().map(|slot| &self.seals[slot])
    }

    /// The redacted columns.
    pub fn redacted(&self) -> FieldSet {
        REDACTABLE_COLUMNS
            .iter()
            .zip(&self.seals)
            .filter(|(_, seal)| matches!(seal, FieldSeal::Redacted(_)))
            .fold(FieldSet::EMPTY, |set, (column, _)| set.with(*column))
    }

    /// The column's bytes (see the module documentation of [`super`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + REDACTABLE_COUNT * (1 + HASH_LEN));
        out.push(ENCODING_VERSION_V2);
        out.push(REDACTABLE_COUNT as u8);
        for seal in &self.seals {
            match seal {
                FieldSeal::Open(salt) => {
                    out.push(OPEN_SEAL);
                    out.extend_from_slice(salt);
                }
                FieldSeal::Redacted(commitment) => {
                    out.push(REDACTED_SEAL);
                    out.extend_from_slice(commitment);
                }
            }
        }
        out
    }

    /// Reads the column's bytes; `None` unless they are exactly the documented layout.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(&[ENCODING_VERSION_V2, REDACTABLE_COUNT as u8])?;
        let mut rest = rest;
        let mut seals = [FieldSeal::Open([0; SALT_LEN]); REDACTABLE_COUNT];
        for seal in &mut seals {
            let (&tag, tail) = rest.split_first()?;
            *seal = match tag {
                OPEN_SEAL => {
                    let (salt, tail) = tail.split_first_chunk::<SALT_LEN>()?;
                    rest = tail;
                    FieldSeal::Open(*salt)
                }
                REDACTED_SEAL => {
                    let (commitment, tail) = tail.split_first_chunk::<HASH_LEN>()?;
                    rest = tail;
                    FieldSeal::Redacted(*commitment)
                }
                _ => return None,
            };
        }
        rest.is_empty().then_some(FieldSeals { seals })
    }

    /// Redacts `fields` of `content`: each value becomes `None` (SQL NULL) and its salt
    /// gives way to the commitment, computed from the value and salt being erased, so
    /// the entry keeps its hash. Fields already redacted stay as they are. Returns the
    /// fields this call redacted, which the redaction record must list. Refuses, before
    /// changing anything, a column that is not redactable and the `details` of a
    /// redaction record (the verifier reads them).
    pub fn redact(&mut self, content: &mut EntryContent<'_>, fields: FieldSet) -> Result<FieldSet, LedgerError> {
        for column in fields.iter() {
            let record_details = column == Column::Details && content.event_type == Some(REDACTION_EVENT_TYPE);
            if column.redactable_slot().is_none() || record_details {
                return Err(LedgerError::NotRedactable { column: column.name() });
            }
        }
        let mut redacted = FieldSet::EMPTY;
        for column in fields.iter() {
            let slot = column.redactable_slot().expect("checked above");
            if let FieldSeal::Open(salt) = self.seals[slot] {
                let commitment = commit(column, &salt, text_of(content, column))?;
                self.seals[slot] = FieldSeal::Redacted(commitment);
                clear(content, column);
                redacted = redacted.with(column);
            }
        }
        Ok(redacted)
    }

    /// The commitment of each redactable field of `content`, in column order: recomputed
    /// from salt and value for an open field, as stored for a redacted one. Fails with
    /// [`LedgerError::RedactedFieldPresent`] when a redacted field holds a value.
    pub fn commitments(&self, content: &EntryContent<'_>) -> Result<[Hash; REDACTABLE_COUNT], LedgerError> {
        let mut out = [[0; HASH_LEN]; REDACTABLE_COUNT];
        for ((commitment, seal), column) in out.iter_mut().zip(&self.seals).zip(REDACTABLE_COLUMNS) {
            *commitment = match seal {
                FieldSeal::Open(salt) => commit(column, salt, text_of(content, column))?,
                FieldSeal::Redacted(_) if text_of(content, column).is_some() => {
                    return Err(LedgerError::RedactedFieldPresent { column: column.name() })
                }
                FieldSeal::Redacted(stored) => *stored,
            };
        }
        Ok(out)
    }

    /// The redacted columns of `content` that nevertheless hold a value.
    pub fn present_but_redacted(&self, content: &EntryContent<'_>) -> FieldSet {
        self.redacted().iter().filter(|c| text_of(content, *c).is_some()).fold(FieldSet::EMPTY, FieldSet::with)
    }
}

/// `SHA-256(u32(24) "pg_warden/audit/v2/field" || u32(column index) || salt[16] || field)`,
/// `field` in the version-1 form (`0x00` for SQL NULL, `0x01 u32(len) bytes` for a value).
/// Fails only for a value over 4 GiB, or a column that is not redactable.
pub fn commit(column: Column, salt: &Salt, value: Option<&str>) -> Result<Hash, LedgerError> {
    if column.redactable_slot().is_none() {
        return Err(LedgerError::NotRedactable { column: column.name() });
    }
    // The bytes above, fed to the hash as they come: no buffer per field (ten a
    // version-2 entry, on every write and every verification).
    let mut hash = Sha256::new();
    hash.update((FIELD_DOMAIN.len() as u32).to_be_bytes());
    hash.update(FIELD_DOMAIN);
    hash.update((column.index() as u32).to_be_bytes());
    hash.update(salt);
    match value {
        None => hash.update([0x00]),
        Some(text) => {
            let len = u32::try_from(text.len()).map_err(|_| LedgerError::ValueTooLong { column: column.name() })?;
            hash.update([0x01]);
            hash.update(len.to_be_bytes());
            hash.update(text.as_bytes());
        }
    }
    Ok(hash.finalize().into())
}

fn text_of<'a>(content: &EntryContent<'a>, column: Column) -> Option<&'a str> {
    match (EntryRef { content: *content, ..EntryRef::default() }).value(column) {
        FieldValue::Text(text) => text,
        FieldValue::Int(_) | FieldValue::Bytes(_) => None,
    }
}

/// `content` with `fields` set to `None`.
pub(crate) fn without<'a>(content: &EntryContent<'a>, fields: FieldSet) -> EntryContent<'a> {
    let mut out = *content;
    for column in fields.iter() {
        clear(&mut out, column);
    }
    out
}

fn clear(content: &mut EntryContent<'_>, column: Column) {
    let field = match column {
        Column::Actor => &mut content.actor,
        Column::ResourceId => &mut content.resource_id,
        Column::CorrelationId => &mut content.correlation_id,
        Column::Reason => &mut content.reason,
        Column::Details => &mut content.details,
        Column::BeforeState => &mut content.before_state,
        Column::AfterState => &mut content.after_state,
        Column::SessionUserName => &mut content.session_user_name,
        Column::ApplicationName => &mut content.application_name,
        Column::ClientAddr => &mut content.client_addr,
        _ => return,
    };
    *field = None;
}

impl EntryContent<'_> {
    /// Appends the version-2 encoding under `seals` to `out`. Fails with
    /// [`LedgerError::RedactedFieldPresent`] when a field `seals` marks redacted holds a
    /// value.
    pub fn encode_v2_into(&self, seals: &FieldSeals, out: &mut Vec<u8>) -> Result<(), LedgerError> {
        let commitments = seals.commitments(self)?;
        out.push(ENCODING_VERSION_V2);
        put_len_prefixed(out, ENTRY_DOMAIN_V2, "domain")?;
        let entry = EntryRef { content: *self, ..EntryRef::default() };
        for column in DIRECT_COLUMNS {
            put_field(out, entry.value(column), column.name())?;
        }
        for commitment in &commitments {
            out.extend_from_slice(commitment);
        }
        Ok(())
    }

    /// The version-2 encoding under `seals`.
    pub fn encode_v2(&self, seals: &FieldSeals) -> Result<Vec<u8>, LedgerError> {
        let mut out = Vec::new();
        self.encode_v2_into(seals, &mut out)?;
        Ok(out)
    }
}

/// The `details` of a redaction record listing `targets` (entry id, fields redacted), as
/// PostgreSQL's `jsonb` output prints them:
/// `{"redacted": [{"id": 17, "fields": ["actor", "details"]}, …]}`, targets by ascending
/// id, fields in column order. Never any content.
pub fn redaction_details(targets: &[(i64, FieldSet)]) -> String {
    let mut sorted = targets.to_vec();
    sorted.sort_by_key(|(id, _)| *id);
    let items = sorted
        .iter()
        .map(|(id, fields)| {
            let names = fields.iter().map(|c| Value::from(c.name())).collect();
            let mut item = serde_json::Map::new();
            item.insert("id".to_owned(), Value::from(*id));
            item.insert("fields".to_owned(), Value::Array(names));
            Value::Object(item)
        })
        .collect();
    let mut document = serde_json::Map::new();
    document.insert("redacted".to_owned(), Value::Array(items));
    jsonb_text(&Value::Object(document))
}

/// Reads the `details` of a redaction record: `None` unless they have exactly the shape
/// [`redaction_details`] writes (any key order; each id once; each field a redactable
/// column, named once; at least one field per id).
pub fn parse_redaction_details(text: &str) -> Option<Vec<(i64, FieldSet)>> {
    let value = crate::json::parse(text).ok()?;
    let Value::Object(document) = value else { return None };
    if document.len() != 1 {
        return None;
    }
    let Some(Value::Array(items)) = document.get("redacted") else { return None };
    let mut targets: Vec<(i64, FieldSet)> = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(item) = item else { return None };
        if item.len() != 2 {
            return None;
        }
        let id = item.get("id")?.as_i64()?;
        let Some(Value::Array(names)) = item.get("fields") else { return None };
        let mut fields = FieldSet::EMPTY;
        for name in names {
            let column = Column::content_named(name.as_str()?)?;
            if column.redactable_slot().is_none() || fields.contains(column) {
                return None;
            }
            fields = fields.with(column);
        }
        if fields.is_empty() {
            return None;
        }
        targets.push((id, fields));
    }
    targets.sort_by_key(|(id, _)| *id);
    if targets.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return None;
    }
    Some(targets)
}

#[cfg(test)]
mod tests;
