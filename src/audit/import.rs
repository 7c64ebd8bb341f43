//! Adopting an existing audit table: `CALL warden.import_audit(source, mapping)` copies
//! its rows into the ledger in their original order, batch by batch, each batch its own
//! transaction (the procedure in sql/audit.sql commits between them), so an import
//! interrupted by a crash resumes after the last batch that committed and never copies a
//! row twice. `warden.audit_import` holds each import's progress; the ledger holds an
//! `audit_import` entry when it starts and one when it finishes, with the row count and
//! the SHA-256 chain over the source rows (`warden_core::ledger::ImportDigest`).
//!
//! The source is read with the caller's rights (their SELECT privilege, their row
//! security, their types' output functions); only the ledger writes run as the
//! extension owner, through [`chain::append`].

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde_json::json;
use warden_core::ledger::{Column, ImportDigest, ImportMapping, ImportSource, SqlType};

use super::chain::{self, EventArgs};
use crate::error::{SqlResult, WardenError};
use crate::privilege;

/// Rows a batch copies unless told otherwise.
const DEFAULT_BATCH: i32 = 10_000;
/// Rows a batch may copy at most: a batch is one SPI result in memory.
const MAX_BATCH: i32 = 100_000;
/// First key of the advisory lock that serializes starting imports ("impt"); the
/// second is the source's oid.
const IMPORT_LOCK_CLASS: i32 = 0x696d_7074;

/// A source table as the catalog names it.
struct Source {
    /// `schema.table`, each part quoted as needed.
    name: String,
    /// The `order_by` column's type, as `format_type` prints it.
    key_type: String,
}

fn quote(ident: &str) -> Result<String, WardenError> {
    let c = std::ffi::CString::new(ident).map_err(|_| WardenError::invalid("a column name contains NUL"))?;
    Ok(unsafe { std::ffi::CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())) }.to_string_lossy().into_owned())
}

/// Checks `source` and the columns `mapping` names, with the caller's rights: a plain or
/// partitioned table outside pg_warden's schema, every column present, `order_by` under a
/// unique index of its own (the resume point must identify one row).
fn inspect(source: pg_sys::Oid, mapping: &ImportMapping) -> Result<Source, WardenError> {
    let names: Vec<String> = mapping.source_columns().into_iter().map(str::to_owned).collect();
    let (name, schema, kind, found, key_type, key_unique) = Spi::connect(|client| {
        let row = client
            .select(
                "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), n.nspname::pg_catalog.text, \
                        c.relkind::pg_catalog.text, \
                        (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text) FROM pg_catalog.pg_attribute a \
                          WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 \
                            AND NOT a.attisdropped AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2)), \
                        (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
                          WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) $3 \
                            AND NOT a.attisdropped), \
                        EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a \
                                  ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid \
                                 AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0] \
                                 WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid AND i.indisunique AND i.indisvalid \
                                   AND i.indnkeyatts OPERATOR(pg_catalog.=) 1 AND i.indpred IS NULL AND a.attnotnull \
                                   AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) $3) \
                   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
                  WHERE c.oid OPERATOR(pg_catalog.=) $1",
                Some(1),
                &[source.into(), names.clone().into(), mapping.order_by.as_str().into()],
            )?
            .first();
        Ok::<_, pgrx::spi::SpiError>((
            row.get::<String>(1)?,
            row.get::<String>(2)?,
            row.get::<String>(3)?,
            row.get::<Vec<String>>(4)?,
            row.get::<String>(5)?,
            row.get::<bool>(6)?,
        ))
    })?;
    let (Some(name), Some(schema), Some(kind)) = (name, schema, kind) else {
        return Err(WardenError::invalid("the source table does not exist"));
    };
    if schema == "warden" || !matches!(kind.as_str(), "r" | "p") {
        return Err(WardenError::invalid(format!(
            "{name} is not a table an import can read (a table outside schema warden)"
        )));
    }
    let found = found.unwrap_or_default();
    if let Some(missing) = names.iter().find(|n| !found.contains(n)) {
        return Err(WardenError::invalid(format!("{name} has no column \"{missing}\"")));
    }
    if key_unique != Some(true) {
        return Err(WardenError::invalid_with_hint(
            format!("order_by column \"{}\" of {name} is not NOT NULL with a unique index of its own", mapping.order_by),
            "Rows are imported in its order, and an interrupted import resumes after the last value imported: it must identify one row.",
        ));
    }
    Ok(Source { name, key_type: key_type.unwrap_or_default() })
}

/// The SELECT of one batch, run with the caller's rights: the key, the row as JSON (for
/// the digest), then one value per mapped ledger column, in `mapping.columns` order
/// (`details` with the import's provenance merged in, as a JSON object). Literals are the
/// parameters from `$4` on, in the same order; `$1` is the last key imported (the first
/// batch has none), `$2` the import's id, `$3` the source's name.
fn batch_query(source: &Source, mapping: &ImportMapping, resume: bool, limit: i32) -> Result<String, WardenError> {
    let key = quote(&mapping.order_by)?;
    let mut exprs = vec![format!("s.{key}::pg_catalog.text"), "pg_catalog.to_jsonb(s.*)::pg_catalog.text".to_owned()];
    let mut literal = 3;
    let mut details = None;
    for (column, from) in &mapping.columns {
        let sql_type = column.spec().sql_type;
        let expr = match from {
            ImportSource::Column(name) => {
                let q = quote(name)?;
                match sql_type {
                    SqlType::Jsonb => format!("pg_catalog.to_jsonb(s.{q})"),
                    SqlType::Numeric { .. } => format!("s.{q}::pg_catalog.numeric"),
                    _ => format!("s.{q}::pg_catalog.text"),
                }
            }
            ImportSource::Value(_) => {
                literal += 1;
                match sql_type {
                    SqlType::Jsonb => format!("pg_catalog.to_jsonb(${literal}::pg_catalog.text)"),
                    SqlType::Numeric { .. } => format!("${literal}::pg_catalog.numeric"),
                    _ => format!("${literal}::pg_catalog.text"),
                }
            }
            ImportSource::Row => "pg_catalog.to_jsonb(s.*)".to_owned(),
        };
        if *column == Column::Details {
            details = Some(expr);
        } else {
            exprs.push(expr);
        }
    }
    let d = details.unwrap_or_else(|| "NULL::pg_catalog.jsonb".to_owned());
    let ts = quote(&mapping.ts)?;
    exprs.push(format!(
        "(CASE WHEN pg_catalog.jsonb_typeof(x.d) OPERATOR(pg_catalog.=) 'object' THEN x.d \
               WHEN x.d IS NULL THEN '{{}}'::pg_catalog.jsonb \
               ELSE pg_catalog.jsonb_build_object('value', x.d) END) \
         OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('imported', pg_catalog.jsonb_build_object( \
           'import_id', $2::pg_catalog.int8, 'source', $3::pg_catalog.text, 'key', pg_catalog.to_jsonb(s.{key}), \
           'original_ts', pg_catalog.to_jsonb(s.{ts}::pg_catalog.timestamptz)))"
    ));
    // The key's own comparison, as the caller resolves it (their rights, their type).
    let resume = if resume {
        format!("WHERE s.{key} > $1::{}", source.key_type)
    } else {
        "WHERE $1::pg_catalog.text IS NULL".into()
    };
    Ok(format!(
        "SELECT {} FROM {} s CROSS JOIN LATERAL (SELECT {d} AS d) x {resume} ORDER BY s.{key} LIMIT {limit}",
        exprs.join(", "),
        source.name
    ))
}

/// What a batch copied: rows, the last key, the first and last entry ids.
type Copied = (i64, Option<String>, Option<i64>, Option<i64>);

/// One `warden.audit_import` row.
struct Import {
    id: i64,
    source: pg_sys::Oid,
    mapping: serde_json::Value,
    rows: i64,
    rows_total: i64,
    last_key: Option<String>,
    digest: Vec<u8>,
    first_entry: Option<i64>,
    started_at: String,
    finished: bool,
}

fn load(query: &str, args: &[DatumWithOid<'_>]) -> Result<Option<Import>, WardenError> {
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let table = client.select(query, Some(1), args)?;
            if table.is_empty() {
                return Ok(None);
            }
            let row = table.first();
            Ok::<_, pgrx::spi::SpiError>(Some(Import {
                id: row.get::<i64>(1)?.unwrap_or(0),
                source: row.get::<pg_sys::Oid>(2)?.unwrap_or(pg_sys::InvalidOid),
                mapping: row.get::<pgrx::JsonB>(3)?.map(|m| m.0).unwrap_or_default(),
                rows: row.get::<i64>(4)?.unwrap_or(0),
                rows_total: row.get::<i64>(5)?.unwrap_or(0),
                last_key: row.get::<String>(6)?,
                digest: row.get::<Vec<u8>>(7)?.unwrap_or_default(),
                first_entry: row.get::<i64>(8)?,
                started_at: row.get::<String>(9)?.unwrap_or_default(),
                finished: row.get::<bool>(10)?.unwrap_or(false),
            }))
        })
    })
}

const IMPORT_COLUMNS: &str = "id, source_oid, mapping, rows_imported, rows_total, last_key, rows_sha256, \
     first_entry_id, started_at::pg_catalog.text, finished_at IS NOT NULL";

fn parse_mapping(mapping: &serde_json::Value) -> Result<ImportMapping, WardenError> {
    ImportMapping::parse(mapping).map_err(WardenError::invalid)
}

fn log(action: &str, source: &str, details: serde_json::Value) -> Result<i64, WardenError> {
    let text = |v: &str| v.into_datum();
    chain::append(&EventArgs {
        event_type: text("audit_import"),
        action: text(action),
        resource_type: text("table"),
        resource_id: text(source),
        details: pgrx::JsonB(details).into_datum(),
        ..Default::default()
    })
}

/// Starts an import of `source` under `mapping`, or finds the unfinished one of the same
/// source and mapping to resume; refuses (55000) a source already imported or being
/// imported under another mapping. Returns the import's id.
#[pg_extern(volatile, parallel_unsafe)]
fn import_audit_start(source: Option<crate::datum::RegClass>, mapping: Option<pgrx::JsonB>) -> SqlResult<i64> {
    privilege::require_admin("import into the audit ledger")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.import_audit()".as_ptr()) };
    let source = source.ok_or_else(|| WardenError::invalid("source is NULL"))?.0;
    let mapping = mapping.ok_or_else(|| WardenError::invalid("mapping is NULL"))?.0;
    let parsed = parse_mapping(&mapping)?;
    let table = inspect(source, &parsed)?;
    // One start per source at a time: two CALLs would both find no import and copy
    // every row twice.
    privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "SELECT pg_catalog.pg_advisory_xact_lock($1, $2::pg_catalog.int4)",
                None,
                &[IMPORT_LOCK_CLASS.into(), (source.to_u32() as i32).into()],
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })?;
    let previous = load(
        &format!(
            "SELECT {IMPORT_COLUMNS} FROM warden.audit_import \
              WHERE source_oid OPERATOR(pg_catalog.=) $1 AND source OPERATOR(pg_catalog.=) $2 \
             ORDER BY finished_at IS NULL DESC, id DESC LIMIT 1"
        ),
        &[source.into(), table.name.as_str().into()],
    )?;
    if let Some(previous) = previous {
        if previous.finished {
            return Err(WardenError::NotInState {
                message: format!(
                    "{} was imported already (import {}, started {})",
                    table.name, previous.id, previous.started_at
                ),
                hint: "An import never copies a row twice; the entries of the finished import are in the ledger."
                    .into(),
            }
            .into());
        }
        if previous.mapping != mapping {
            return Err(WardenError::NotInState {
                message: format!(
                    "an unfinished import of {} (import {}) uses another mapping",
                    table.name, previous.id
                ),
                hint: "Run CALL warden.import_audit again with the mapping it started with, to resume it.".into(),
            }
            .into());
        }
        pgrx::notice!(
            "resuming import {} of {}: {} of {} rows imported",
            previous.id,
            table.name,
            previous.rows,
            previous.rows_total
        );
        return Ok(previous.id);
    }
    // Counted with the caller's rights, for progress.
    let total = Spi::get_one::<i64>(&format!("SELECT pg_catalog.count(*) FROM {}", table.name))
        .map_err(WardenError::from)?
        .unwrap_or(0);
    let id = privilege::as_extension_owner(|| {
        Spi::get_one_with_args::<i64>(
            "INSERT INTO warden.audit_import (source, source_oid, mapping, rows_total, rows_sha256, started_at, started_by) \
             VALUES ($1, $2, $3, $4, $5, pg_catalog.now(), SESSION_USER) RETURNING id",
            &[
                table.name.as_str().into(),
                source.into(),
                pgrx::JsonB(mapping.clone()).into(),
                total.into(),
                ImportDigest::new().value().to_vec().into(),
            ],
        )
    })?
    .ok_or_else(|| WardenError::Internal("INSERT into warden.audit_import returned no id".into()))?;
    // Row security limits what the caller reads: the record says so.
    let row_security = Spi::get_one_with_args::<bool>("SELECT pg_catalog.row_security_active($1)", &[source.into()])
        .map_err(WardenError::from)?
        .unwrap_or(false);
    log(
        "START",
        &table.name,
        json!({"import_id": id, "source": table.name, "mapping": mapping, "rows_total": total, "row_security": row_security}),
    )?;
    Ok(id)
}

/// Copies the next batch of at most `max_rows` rows of import `import_id` into the
/// ledger and records how far it got, in the caller's transaction. Returns whether rows
/// remain; the batch that finds none finishes the import (an `audit_import` FINISH entry
/// with the row count and digest).
#[pg_extern(volatile, parallel_unsafe)]
fn import_audit_batch(import_id: Option<i64>, max_rows: default!(Option<i32>, "10000")) -> SqlResult<bool> {
    privilege::require_admin("import into the audit ledger")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.import_audit()".as_ptr()) };
    let import_id = import_id.ok_or_else(|| WardenError::invalid("import_id is NULL"))?;
    // A transaction id first: the import's row is read FOR UPDATE, which a read-only
    // SPI execution refuses.
    unsafe { pg_sys::GetCurrentTransactionId() };
    let limit = max_rows.unwrap_or(DEFAULT_BATCH);
    if !(1..=MAX_BATCH).contains(&limit) {
        return Err(WardenError::invalid(format!("max_rows must be between 1 and {MAX_BATCH}")).into());
    }
    let import = load(
        &format!("SELECT {IMPORT_COLUMNS} FROM warden.audit_import WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE"),
        &[import_id.into()],
    )?
    .ok_or_else(|| WardenError::invalid(format!("import {import_id} does not exist")))?;
    if import.finished {
        return Ok(false);
    }
    let mapping = parse_mapping(&import.mapping)?;
    let source = inspect(import.source, &mapping)?;
    let query = batch_query(&source, &mapping, import.last_key.is_some(), limit)?;
    let mut args: Vec<DatumWithOid<'_>> =
        vec![import.last_key.clone().into(), import_id.into(), source.name.as_str().into()];
    for (_, from) in &mapping.columns {
        if let ImportSource::Value(text) = from {
            args.push(text.as_str().into());
        }
    }
    let mut digest = ImportDigest::resume(&import.digest)
        .ok_or_else(|| WardenError::LedgerCorrupt(format!("import {import_id} has a malformed rows_sha256")))?;
    // The key's text is the resume point, read back with a cast: the same text whatever
    // the session's DateStyle, IntervalStyle or float digits.
    let pinned = |f: &mut dyn FnMut() -> Result<Copied, WardenError>| {
        privilege::with_setting(c"DateStyle", c"ISO, YMD", || {
            privilege::with_setting(c"IntervalStyle", c"postgres", || {
                privilege::with_setting(c"extra_float_digits", c"3", f)
            })
        })
    };
    let (copied, last_key, first_entry, last_entry) = pinned(&mut || {
        Spi::connect(|client| {
            client.select(&query, None, &args)?;
            let rows = unsafe { super::spi_rows() };
            let mut events = Vec::with_capacity(rows.len());
            let mut last_key = None;
            for (values, nulls) in &rows {
                let datum = |i: usize| (!nulls[i]).then(|| values[i]);
                let bytes = |i: usize| datum(i).map(|d| unsafe { crate::datum::varlena_bytes(d) });
                // The digest takes the row's bytes as stored, whatever the database encoding.
                digest.push(bytes(1).unwrap_or_default());
                let mut event = EventArgs::default();
                // Column 0 is the key, 1 the row; then the mapped columns, details last.
                let mapped = mapping.columns.iter().map(|(c, _)| *c).filter(|c| *c != Column::Details);
                for (col, column) in (2..).zip(mapped.chain([Column::Details])) {
                    if let Some(field) = event.field_mut(column) {
                        *field = datum(col);
                    }
                }
                if let Some(event_type) = event.event_type.map(|d| unsafe { crate::datum::varlena_bytes(d) }) {
                    chain::refuse_reserved(&String::from_utf8_lossy(event_type), "import_audit")?;
                }
                events.push(event);
                last_key = Some(bytes(0).map(|k| String::from_utf8_lossy(k).into_owned()).ok_or_else(|| {
                    WardenError::invalid("a source row's order_by value reads as NULL: it cannot be a resume point")
                })?);
            }
            // The rows' datums live in the SPI tuple table until this closure returns.
            let ids = chain::append_batch(&events)?;
            Ok::<_, WardenError>((ids.len() as i64, last_key, ids.first().copied(), ids.last().copied()))
        })
    })?;
    let rows = import.rows + copied;
    let first_entry = import.first_entry.or(first_entry);
    let done = copied < i64::from(limit);
    privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "UPDATE warden.audit_import SET rows_imported = $2, last_key = COALESCE($3, last_key), rows_sha256 = $4, \
                        first_entry_id = $5, last_entry_id = COALESCE($6, last_entry_id), \
                        finished_at = CASE WHEN $7 THEN pg_catalog.now() END \
                  WHERE id OPERATOR(pg_catalog.=) $1",
                None,
                &[
                    import_id.into(),
                    rows.into(),
                    last_key.into(),
                    digest.value().to_vec().into(),
                    first_entry.into(),
                    last_entry.into(),
                    done.into(),
                ],
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })?;
    if done {
        let last = privilege::as_extension_owner(|| {
            Spi::get_one_with_args::<i64>(
                "SELECT last_entry_id FROM warden.audit_import WHERE id OPERATOR(pg_catalog.=) $1",
                &[import_id.into()],
            )
        })?;
        log(
            "FINISH",
            &source.name,
            json!({
                "import_id": import_id,
                "source": source.name,
                "order_by": mapping.order_by,
                "rows": rows,
                "rows_sha256": hex::encode(digest.value()),
                "first_entry_id": first_entry,
                "last_entry_id": last,
                "started_at": import.started_at,
            }),
        )?;
        pgrx::notice!("import {import_id} of {}: finished, {rows} rows", source.name);
    } else {
        pgrx::notice!("import {import_id} of {}: {rows} of {} rows", source.name, import.rows_total);
    }
    Ok(!done)
}
