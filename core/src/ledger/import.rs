//! The digest that proves what `warden.import_audit` copied: a SHA-256 chain over the
//! source rows in their import order, kept between batches (an import commits batch by
//! batch and resumes after a crash, so the state must fit in a column).
//!
//! ```text
//! acc_0 = 32 zero bytes
//! acc_i = SHA-256(u32(19) "pg_warden/import/v1" || acc_(i-1) || SHA-256(row_i))
//! ```
//!
//! `row_i` is the row's `to_jsonb(row)::text` as PostgreSQL prints it, its bytes in the
//! database encoding. The import record carries `acc_n` and `n`; an auditor recomputes
//! them from the source table with `SELECT to_jsonb(s)::text FROM source s ORDER BY
//! <order_by>`.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::columns::{Column, Role, SqlType, COLUMNS};
use super::encoding::{Hash, HASH_LEN};

/// Domain label of the import digest.
pub const IMPORT_DOMAIN: &[u8] = b"pg_warden/import/v1";

/// The running digest of an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportDigest {
    acc: Hash,
}

impl Default for ImportDigest {
    fn default() -> Self {
        ImportDigest { acc: [0; HASH_LEN] }
    }
}

impl ImportDigest {
    /// The digest of no rows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues from a stored value; `None` unless it is 32 bytes.
    pub fn resume(stored: &[u8]) -> Option<Self> {
        stored.try_into().ok().map(|acc| ImportDigest { acc })
    }

    /// Takes the next row, as `to_jsonb(row)::text`.
    pub fn push(&mut self, row: &[u8]) {
        let row_hash: Hash = Sha256::digest(row).into();
        let mut h = Sha256::new();
        h.update((IMPORT_DOMAIN.len() as u32).to_be_bytes());
        h.update(IMPORT_DOMAIN);
        h.update(self.acc);
        h.update(row_hash);
        self.acc = h.finalize().into();
    }

    /// The value so far.
    pub fn value(&self) -> Hash {
        self.acc
    }
}

/// Where a ledger column's value comes from in an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportSource {
    /// A column of the source table.
    Column(String),
    /// The same value for every row (`{"value": "..."}`).
    Value(String),
    /// The whole source row as JSON (`"*"`; `details`, `before_state`, `after_state` only).
    Row,
}

/// A validated `mapping` of `warden.import_audit`: which source column orders the rows
/// and holds their original time, and where each ledger column it fills comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportMapping {
    /// A unique, non-NULL source column: rows are imported in its order and an
    /// interrupted import resumes after the last value imported.
    pub order_by: String,
    /// The source column holding each row's original time, kept in the entry's
    /// `details.imported.original_ts` (the entry's `ts` is the import time).
    pub ts: String,
    /// Ledger columns and their sources, in ledger column order; `event_type` and
    /// `action` always among them.
    pub columns: Vec<(Column, ImportSource)>,
}

/// The ledger columns an import may fill: what a writer gives (see [`super::Role::Event`]).
fn importable(name: &str) -> Option<Column> {
    COLUMNS.iter().find(|c| c.role == Role::Event && c.name == name).map(|c| c.column)
}

impl ImportMapping {
    /// Reads `mapping`; the error names the key at fault, never a value.
    pub fn parse(mapping: &Value) -> Result<ImportMapping, String> {
        let Value::Object(object) = mapping else { return Err("mapping must be a JSON object".into()) };
        let column_name = |key: &str| -> Result<Option<String>, String> {
            match object.get(key) {
                None => Ok(None),
                Some(Value::String(name)) if !name.is_empty() => Ok(Some(name.clone())),
                Some(_) => Err(format!("mapping key \"{key}\" must name a source column")),
            }
        };
        let order_by = column_name("order_by")?.ok_or("mapping needs \"order_by\": a unique source column")?;
        let ts = column_name("ts")?.ok_or("mapping needs \"ts\": the source column of each row's original time")?;
        let mut columns = Vec::new();
        for (key, value) in object {
            if key == "order_by" || key == "ts" {
                continue;
            }
            let column = importable(key).ok_or_else(|| format!("\"{key}\" is not a mapping key"))?;
            let jsonb = column.spec().sql_type == SqlType::Jsonb;
            let source = match value {
                Value::String(star) if star == "*" && jsonb => ImportSource::Row,
                Value::String(name) if !name.is_empty() && name != "*" => ImportSource::Column(name.clone()),
                Value::Object(literal) if literal.len() == 1 => match literal.get("value") {
                    Some(Value::String(text)) => ImportSource::Value(text.clone()),
                    _ => return Err(format!("mapping key \"{key}\": a literal is {{\"value\": \"text\"}}")),
                },
                _ => {
                    return Err(format!(
                        "mapping key \"{key}\" must name a source column, be {{\"value\": \"text\"}}{}",
                        if jsonb { ", or \"*\" for the whole row" } else { "" }
                    ))
                }
            };
            columns.push((column, source));
        }
        for required in [Column::EventType, Column::Action] {
            if !columns.iter().any(|(c, _)| *c == required) {
                return Err(format!(
                    "mapping needs \"{}\" (a source column or {{\"value\": \"text\"}})",
                    required.name()
                ));
            }
        }
        columns.sort_by_key(|(c, _)| *c);
        Ok(ImportMapping { order_by, ts, columns })
    }

    /// Every source column the mapping names, each once.
    pub fn source_columns(&self) -> Vec<&str> {
        let mut names: Vec<&str> = vec![&self.order_by, &self.ts];
        for (_, source) in &self.columns {
            if let ImportSource::Column(name) = source {
                names.push(name);
            }
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_are_read_strictly() {
        let ok = ImportMapping::parse(&serde_json::json!({
            "order_by": "id", "ts": "timestamp", "event_type": {"value": "legacy"}, "action": "action",
            "actor": "actor", "details": "*", "after_state": "payload"
        }))
        .expect("valid");
        assert_eq!(ok.order_by, "id");
        assert_eq!(ok.columns[0], (Column::EventType, ImportSource::Value("legacy".into())));
        assert_eq!(ok.columns[1], (Column::Action, ImportSource::Column("action".into())));
        assert!(ok.columns.contains(&(Column::Details, ImportSource::Row)));
        assert_eq!(ok.source_columns(), vec!["action", "actor", "id", "payload", "timestamp"]);
        for (bad, why) in [
            (serde_json::json!([]), "object"),
            (serde_json::json!({"ts": "t", "event_type": "e", "action": "a"}), "order_by"),
            (serde_json::json!({"order_by": "id", "event_type": "e", "action": "a"}), "\"ts\""),
            (serde_json::json!({"order_by": "id", "ts": "t", "action": "a"}), "event_type"),
            (
                serde_json::json!({"order_by": "id", "ts": "t", "event_type": "e", "action": "a", "id": "x"}),
                "\"id\" is not",
            ),
            (
                serde_json::json!({"order_by": "id", "ts": "t", "event_type": "e", "action": "a", "chain_id": "x"}),
                "chain_id",
            ),
            (serde_json::json!({"order_by": "id", "ts": "t", "event_type": "*", "action": "a"}), "event_type"),
            (serde_json::json!({"order_by": "id", "ts": "t", "event_type": {"value": 1}, "action": "a"}), "literal"),
            (serde_json::json!({"order_by": 7, "ts": "t", "event_type": "e", "action": "a"}), "order_by"),
        ] {
            let error = ImportMapping::parse(&bad).expect_err(why);
            assert!(error.contains(why), "{error} lacks {why}");
        }
    }

    #[test]
    fn the_chain_is_the_documented_one() {
        let mut digest = ImportDigest::new();
        assert_eq!(digest.value(), [0; 32]);
        digest.push(br#"{"id": 1}"#);
        let mut expected = Vec::new();
        expected.extend_from_slice(&19u32.to_be_bytes());
        expected.extend_from_slice(b"pg_warden/import/v1");
        expected.extend_from_slice(&[0; 32]);
        expected.extend_from_slice(&Sha256::digest(br#"{"id": 1}"#));
        let first: Hash = Sha256::digest(&expected).into();
        assert_eq!(digest.value(), first);
    }

    #[test]
    fn resuming_gives_the_same_value_and_order_matters() {
        let rows: [&[u8]; 3] = [b"a", b"b", b"c"];
        let mut whole = ImportDigest::new();
        rows.iter().for_each(|r| whole.push(r));
        let mut first = ImportDigest::new();
        first.push(rows[0]);
        let mut resumed = ImportDigest::resume(&first.value()).expect("32 bytes");
        rows[1..].iter().for_each(|r| resumed.push(r));
        assert_eq!(resumed, whole);
        let mut swapped = ImportDigest::new();
        [rows[1], rows[0], rows[2]].iter().for_each(|r| swapped.push(r));
        assert_ne!(swapped, whole);
        assert_eq!(ImportDigest::resume(&[0; 31]), None);
    }
}
