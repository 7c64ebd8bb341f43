//! Anonymization profiles against a database: `warden.validate_profile` and
//! `warden.apply_profile`.
//!
//! The document format and its structural checks are `warden_core::profile`; this module
//! adds what only the database knows (tables, columns, types, keys, constraints) and
//! masks tables.
//!
//! Each table is masked by rewriting its heap in one pass, the way ALTER TABLE, CLUSTER
//! and VACUUM FULL do: a new heap is filled with the masked rows, swapped in with
//! `finish_heap_swap`, and every index is rebuilt once over it. The table keeps its oid,
//! and nothing that hangs off it is dropped or re-created: indexes and constraints keep
//! their oids and names, grants, comments, policies, triggers and dependent views stay as
//! they were. No trigger fires, so foreign keys, deferrable or not, never see a half-masked
//! state; once every table is masked, each foreign key and CHECK constraint involving a
//! masked column is verified again, and unique indexes are verified as they are rebuilt.
//! Everything happens in the caller's transaction: any error leaves every table as it was.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::c_char;
use std::rc::Rc;

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{AnyElement, PgMemoryContexts, PgSqlErrorCode};
use serde_json::{json, Value};
use warden_core::anonymize::{EmailDomain, Pseudonymizer, Strategy, LOCAL_LEN, REDACT_LEN, STRATEGY_NAMES};
use warden_core::profile::{self, Profile};

use crate::error::WardenError;
use crate::fingerprint::parse_jsonb;
use crate::keyring;

/// Schemas whose tables are never masked.
const PROTECTED_SCHEMAS: [&str; 3] = ["pg_catalog", "information_schema", "warden"];

fn is_protected_schema(schema: &str) -> bool {
    PROTECTED_SCHEMAS.contains(&schema) || schema.starts_with("pg_toast")
}

// Heap rewriting, as ALTER TABLE uses it (commands/cluster.h, not in pgrx's bindings).
// Called through `pg_guard_ffi_boundary`, as pgrx calls its own bindings.
unsafe extern "C-unwind" {
    fn make_new_heap(
        old_heap: pg_sys::Oid,
        tablespace: pg_sys::Oid,
        access_method: pg_sys::Oid,
        relpersistence: c_char,
        lockmode: pg_sys::LOCKMODE,
    ) -> pg_sys::Oid;
    #[allow(clippy::too_many_arguments)]
    fn finish_heap_swap(
        old_heap: pg_sys::Oid,
        new_heap: pg_sys::Oid,
        is_system_catalog: bool,
        swap_toast_by_content: bool,
        check_constraints: bool,
        is_internal: bool,
        frozen_xid: pg_sys::TransactionId,
        cutoff_multi: pg_sys::MultiXactId,
        new_relpersistence: c_char,
    );
}

/// How a column's values are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    /// text, varchar(n) or char(n): `max_chars` from the type modifier; char(n) values
    /// are blank-padded.
    Text { max_chars: Option<usize>, blank_padded: bool },
    /// integer, through `Pseudonymizer::integer`.
    Int4,
    /// bigint, through `Pseudonymizer::bigint`.
    Int8,
}

impl ColumnKind {
    fn of(type_oid: pg_sys::Oid, typmod: i32) -> Option<ColumnKind> {
        let limit = (typmod >= pg_sys::VARHDRSZ as i32).then(|| (typmod - pg_sys::VARHDRSZ as i32) as usize);
        match type_oid {
            pg_sys::TEXTOID => Some(ColumnKind::Text { max_chars: None, blank_padded: false }),
            pg_sys::VARCHAROID => Some(ColumnKind::Text { max_chars: limit, blank_padded: false }),
            pg_sys::BPCHAROID => Some(ColumnKind::Text { max_chars: limit, blank_padded: true }),
            pg_sys::INT4OID => Some(ColumnKind::Int4),
            pg_sys::INT8OID => Some(ColumnKind::Int8),
            _ => None,
        }
    }

    /// What a foreign key compares: text-like columns with each other, integers by width
    /// (integer and bigint pseudonyms differ).
    fn join_class(self) -> u8 {
        match self {
            ColumnKind::Text { .. } => 0,
            ColumnKind::Int4 => 1,
            ColumnKind::Int8 => 2,
        }
    }
}

/// The longest output of a string strategy, or `None` when it has as many characters
/// as its input.
fn max_output_chars(strategy: &Strategy) -> Option<usize> {
    match strategy {
        Strategy::Hash => Some(warden_core::anonymize::HASH_HEX_LEN),
        Strategy::Email(options) => Some(match &options.domain {
            EmailDomain::Replace(domain) => LOCAL_LEN + 1 + domain.len(),
            EmailDomain::Keep => 254,
        }),
        Strategy::Redact(options) if !options.keep_length => Some(REDACT_LEN),
        Strategy::Phone | Strategy::Digits | Strategy::Redact(_) | Strategy::Partial(_) => None,
    }
}

/// A column the profile names, read from the document leniently: database checks run
/// even when the document has structural problems.
struct TargetColumn {
    /// `$.tables."s.t"[i].column`
    path: String,
    name: String,
    /// `None` when the document does not define it properly (reported by the core).
    strategy: Option<Strategy>,
    seed: i64,
}

struct TargetTable {
    /// `$.tables."s.t"`
    path: String,
    schema: String,
    table: String,
    columns: Vec<TargetColumn>,
}

/// The key name, or `None` when `$.key` is malformed (reported by the core).
fn target_key(doc: &Value) -> Option<String> {
    match doc.get("key") {
        None => Some(profile::DEFAULT_KEY_NAME.to_owned()),
        Some(Value::String(name)) if !name.is_empty() => Some(name.clone()),
        Some(_) => None,
    }
}

fn targets(doc: &Value) -> Vec<TargetTable> {
    let global_seed = doc.get("global_seed").and_then(Value::as_i64).unwrap_or(0);
    let aliases: HashMap<&str, Option<Strategy>> = doc
        .get("strategies")
        .and_then(Value::as_object)
        .map(|definitions| {
            definitions
                .iter()
                .map(|(alias, definition)| {
                    let strategy = definition
                        .get("type")
                        .and_then(Value::as_str)
                        .and_then(|name| Strategy::parse(name, definition.get("options")).ok());
                    (alias.as_str(), strategy)
                })
                .collect()
        })
        .unwrap_or_default();
    let resolve = |name: &str| match aliases.get(name) {
        Some(defined) => defined.clone(),
        None if STRATEGY_NAMES.contains(&name) => Strategy::parse(name, None).ok(),
        None => None,
    };
    let well_formed = |part: &str| !part.is_empty() && part.trim() == part && !part.contains(['.', '"']);
    let Some(tables) = doc.get("tables").and_then(Value::as_object) else { return Vec::new() };
    let mut targets = Vec::new();
    for (key, columns) in tables {
        let Some((schema, table)) = key.split_once('.').filter(|(s, t)| well_formed(s) && well_formed(t)) else {
            continue;
        };
        let path = format!("$.tables.{}", Value::from(key.as_str()));
        let columns = columns
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, entry)| {
                        let name = entry.get("column").and_then(Value::as_str).filter(|n| !n.is_empty())?;
                        Some(TargetColumn {
                            path: format!("{path}[{i}].column"),
                            name: name.to_owned(),
                            strategy: entry.get("strategy").and_then(Value::as_str).and_then(resolve),
                            seed: entry.get("seed").and_then(Value::as_i64).unwrap_or(global_seed),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        targets.push(TargetTable { path, schema: schema.to_owned(), table: table.to_owned(), columns });
    }
    targets
}

/// A table as the catalog describes it.
struct CatalogTable {
    oid: pg_sys::Oid,
    /// `schema.table` quoted for SQL, from the catalog.
    sql_name: String,
    columns: HashMap<String, CatalogColumn>,
}

#[derive(Clone)]
struct CatalogColumn {
    attnum: i16,
    kind: Option<ColumnKind>,
    type_name: String,
    generated: bool,
    /// Alone under a unique index or constraint.
    unique: bool,
    /// Stored generated columns computed from this one.
    generated_dependents: Option<String>,
}

/// Problems found, and the tables found, by name.
struct Checked {
    problems: Vec<(String, String)>,
    tables: HashMap<(String, String), CatalogTable>,
}

fn spi_error(error: pgrx::spi::SpiError) -> WardenError {
    WardenError::from(error)
}

/// (oid, relkind, heap?, temporary?, quoted name) of `schema.table`, names passed as data.
fn find_table(schema: &str, table: &str) -> Result<Option<(pg_sys::Oid, String, bool, bool, String)>, WardenError> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT c.oid, c.relkind::pg_catalog.text, c.relam OPERATOR(pg_catalog.=) 2::pg_catalog.oid, \
                    c.relpersistence OPERATOR(pg_catalog.=) 't', \
                    pg_catalog.format('%I.%I', n.nspname, c.relname) \
               FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
              WHERE n.nspname OPERATOR(pg_catalog.=) $1::pg_catalog.text \
                AND c.relname OPERATOR(pg_catalog.=) $2::pg_catalog.text",
            Some(1),
            &[schema.into(), table.into()],
        )?;
        for row in rows {
            if let (Some(oid), Some(kind), Some(heap), Some(temp), Some(name)) = (
                row.get::<pg_sys::Oid>(1)?,
                row.get::<String>(2)?,
                row.get::<bool>(3)?,
                row.get::<bool>(4)?,
                row.get::<String>(5)?,
            ) {
                return Ok(Some((oid, kind, heap, temp, name)));
            }
        }
        Ok(None)
    })
    .map_err(spi_error)
}

fn catalog_columns(oid: pg_sys::Oid) -> Result<HashMap<String, CatalogColumn>, WardenError> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT a.attname::pg_catalog.text, a.attnum, a.atttypid, a.atttypmod, \
                    pg_catalog.format_type(a.atttypid, a.atttypmod), a.attgenerated OPERATOR(pg_catalog.<>) '', \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
                             WHERE i.indrelid OPERATOR(pg_catalog.=) a.attrelid AND i.indisunique \
                               AND i.indnkeyatts OPERATOR(pg_catalog.=) 1 \
                               AND i.indkey[0] OPERATOR(pg_catalog.=) a.attnum), \
                    (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(g.attname), ', ' ORDER BY g.attnum) \
                       FROM pg_catalog.pg_depend d \
                       JOIN pg_catalog.pg_attrdef ad ON ad.oid OPERATOR(pg_catalog.=) d.objid \
                       JOIN pg_catalog.pg_attribute g ON g.attrelid OPERATOR(pg_catalog.=) ad.adrelid \
                                                     AND g.attnum OPERATOR(pg_catalog.=) ad.adnum \
                      WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass \
                        AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
                        AND d.refobjid OPERATOR(pg_catalog.=) a.attrelid \
                        AND d.refobjsubid OPERATOR(pg_catalog.=) a.attnum \
                        AND g.attgenerated OPERATOR(pg_catalog.<>) '' \
                        AND g.attnum OPERATOR(pg_catalog.<>) a.attnum) \
               FROM pg_catalog.pg_attribute a \
              WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped",
            None,
            &[oid.into()],
        )?;
        let mut columns = HashMap::new();
        for row in rows {
            let (Some(name), Some(attnum), Some(type_oid), Some(typmod), Some(type_name)) = (
                row.get::<String>(1)?,
                row.get::<i16>(2)?,
                row.get::<pg_sys::Oid>(3)?,
                row.get::<i32>(4)?,
                row.get::<String>(5)?,
            ) else {
                continue;
            };
            columns.insert(
                name,
                CatalogColumn {
                    attnum,
                    kind: ColumnKind::of(type_oid, typmod),
                    type_name,
                    generated: row.get::<bool>(6)?.unwrap_or(false),
                    unique: row.get::<bool>(7)?.unwrap_or(false),
                    generated_dependents: row.get::<String>(8)?,
                },
            );
        }
        Ok(columns)
    })
    .map_err(spi_error)
}

/// Inheritance children of a table, as `schema.table` (the profile's spelling).
fn inheritance_children(oid: pg_sys::Oid) -> Result<Vec<String>, WardenError> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT n.nspname::pg_catalog.text OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c.relname::pg_catalog.text \
               FROM pg_catalog.pg_inherits i \
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
              WHERE i.inhparent OPERATOR(pg_catalog.=) $1 ORDER BY 1",
            None,
            &[oid.into()],
        )?;
        let mut children = Vec::new();
        for row in rows {
            if let Some(child) = row.get::<String>(1)? {
                children.push(child);
            }
        }
        Ok(children)
    })
    .map_err(spi_error)
}

/// Columns of `oid` that a partition key holds, by name, each with the partitioned
/// tables whose key holds it: the key of every partitioned ancestor (the table being a
/// partition) and of every partitioned table below it, by column name since attribute
/// numbers differ between partitions. Key expressions count for every column they read
/// (PostgreSQL records those columns as internally dependent on the partitioned table).
/// Masking such a column would leave rows outside their partition's bounds.
fn partition_key_columns(oid: pg_sys::Oid) -> Result<HashMap<String, String>, WardenError> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT a.attname::pg_catalog.text, \
                    pg_catalog.string_agg(pg_catalog.format('%I.%I', n.nspname, c.relname), ', ' ORDER BY n.nspname, c.relname) \
               FROM (SELECT relid FROM pg_catalog.pg_partition_ancestors($1) \
                     UNION SELECT relid FROM pg_catalog.pg_partition_tree($1)) tree \
               JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid OPERATOR(pg_catalog.=) tree.relid \
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pt.partrelid \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
               JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) pt.partrelid \
              WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped \
                AND (a.attnum OPERATOR(pg_catalog.=) ANY (pt.partattrs::pg_catalog.int2[]) \
                     OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                                 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
                                   AND d.objid OPERATOR(pg_catalog.=) pt.partrelid \
                                   AND d.objsubid OPERATOR(pg_catalog.=) a.attnum \
                                   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
                                   AND d.refobjid OPERATOR(pg_catalog.=) pt.partrelid \
                                   AND d.refobjsubid OPERATOR(pg_catalog.=) 0 \
                                   AND d.deptype OPERATOR(pg_catalog.=) 'i')) \
              GROUP BY a.attname",
            None,
            &[oid.into()],
        )?;
        let mut columns = HashMap::new();
        for row in rows {
            if let (Some(column), Some(tables)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
                columns.insert(column, tables);
            }
        }
        Ok(columns)
    })
    .map_err(spi_error)
}

/// A foreign key with at least one masked table on either side.
struct ForeignKey {
    oid: pg_sys::Oid,
    name: String,
    fk_table: pg_sys::Oid,
    pk_table: pg_sys::Oid,
    fk_columns: Vec<i16>,
    pk_columns: Vec<i16>,
}

fn foreign_keys(tables: &[pg_sys::Oid]) -> Result<Vec<ForeignKey>, WardenError> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for &table in tables {
        let found = Spi::connect(|client| {
            let rows = client.select(
                "SELECT c.oid, c.conname::pg_catalog.text, c.conrelid, c.confrelid, c.conkey, c.confkey \
                   FROM pg_catalog.pg_constraint c \
                  WHERE c.contype OPERATOR(pg_catalog.=) 'f' \
                    AND (c.conrelid OPERATOR(pg_catalog.=) $1 OR c.confrelid OPERATOR(pg_catalog.=) $1) \
                  ORDER BY c.conname, c.oid",
                None,
                &[table.into()],
            )?;
            let mut found = Vec::new();
            for row in rows {
                if let (Some(oid), Some(name), Some(fk_table), Some(pk_table), Some(fk_columns), Some(pk_columns)) = (
                    row.get::<pg_sys::Oid>(1)?,
                    row.get::<String>(2)?,
                    row.get::<pg_sys::Oid>(3)?,
                    row.get::<pg_sys::Oid>(4)?,
                    row.get::<Vec<i16>>(5)?,
                    row.get::<Vec<i16>>(6)?,
                ) {
                    found.push(ForeignKey { oid, name, fk_table, pk_table, fk_columns, pk_columns });
                }
            }
            Ok::<_, pgrx::spi::SpiError>(found)
        })
        .map_err(spi_error)?;
        for key in found {
            if seen.insert(key.oid) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// `schema.table.column` of any column, for messages.
fn column_label(table: pg_sys::Oid, attnum: i16) -> Result<String, WardenError> {
    Spi::get_one_with_args::<String>(
        "SELECT pg_catalog.format('%I.%I.%I', n.nspname, c.relname, a.attname) \
           FROM pg_catalog.pg_attribute a \
           JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
          WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.=) $2",
        &[table.into(), attnum.into()],
    )
    .map_err(spi_error)
    .map(|label| label.unwrap_or_else(|| "?".into()))
}

/// How one masked column is rewritten, as far as a foreign key cares.
#[derive(PartialEq)]
struct JoinRule {
    strategy: Strategy,
    seed: i64,
    class: u8,
}

/// Every problem with `doc`: the core's, then the database's. With `lock` (to apply the
/// profile), the caller's privileges on every table are checked first, then each table
/// found is locked ACCESS EXCLUSIVE before its columns are read, so what was checked
/// stays true until the transaction ends.
fn check(doc: &Value, lock: bool) -> Result<Checked, WardenError> {
    let (_, core_problems) = profile::validate(doc);
    let mut problems: Vec<(String, String)> = core_problems.into_iter().map(|p| (p.path, p.problem)).collect();
    let mut tables = HashMap::new();
    let mut rules: HashMap<(pg_sys::Oid, i16), (String, Option<JoinRule>)> = HashMap::new();
    let targets = targets(doc);
    let listed: HashSet<String> = targets.iter().map(|t| format!("{}.{}", t.schema, t.table)).collect();
    if lock {
        require_mask_privileges(&targets)?;
    }

    for target in &targets {
        let mut report = |problem: String| problems.push((target.path.clone(), problem));
        if is_protected_schema(&target.schema) {
            report("pg_warden's own tables and system catalogs cannot be masked".into());
            continue;
        }
        let Some((oid, kind, heap, temporary, sql_name)) = find_table(&target.schema, &target.table)? else {
            report(format!("table \"{}\" does not exist in schema \"{}\"", target.table, target.schema));
            continue;
        };
        if lock {
            unsafe { pg_sys::LockRelationOid(oid, pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE) };
            // The table may have been dropped or replaced while the lock was awaited.
            match find_table(&target.schema, &target.table)? {
                Some((now, ..)) if now == oid => {}
                _ => {
                    return Err(WardenError::ConcurrentChange(format!(
                        "table {sql_name} was changed by a concurrent transaction"
                    )))
                }
            }
        }
        match kind.as_str() {
            "r" => {}
            "p" => {
                report("is a partitioned table, which holds no rows itself: list each of its partitions".into());
                continue;
            }
            "v" | "m" | "f" => {
                let what = match kind.as_str() {
                    "v" => "a view",
                    "m" => "a materialized view",
                    _ => "a foreign table",
                };
                report(format!("is {what}, not a table: mask the tables it reads from"));
                continue;
            }
            _ => {
                report("is not a table".into());
                continue;
            }
        }
        if temporary {
            report("temporary tables cannot be masked".into());
            continue;
        }
        if !heap {
            report("only tables of the heap access method can be masked".into());
            continue;
        }
        for child in inheritance_children(oid)? {
            if !listed.contains(&child) {
                report(format!(
                    "its inheritance child {child} is not in the profile, so the rows stored there would stay unmasked"
                ));
            }
        }
        let columns = catalog_columns(oid)?;
        let partition_keys = partition_key_columns(oid)?;
        for target_column in &target.columns {
            let mut report = |problem: String| problems.push((target_column.path.clone(), problem));
            let Some(column) = columns.get(&target_column.name) else {
                report(format!("column \"{}\" does not exist in table {sql_name}", target_column.name));
                continue;
            };
            if column.generated {
                report("is a generated column: mask the columns it is computed from".into());
                continue;
            }
            if let Some(keyed) = partition_keys.get(&target_column.name) {
                report(format!(
                    "column \"{}\" of {sql_name} is in the partition key of {keyed}: masked values would leave rows outside their partition's bounds, unseen through the parent",
                    target_column.name
                ));
                continue;
            }
            if let Some(dependents) = &column.generated_dependents {
                report(format!(
                    "generated column(s) {dependents} are computed from this column and would keep values derived from the original"
                ));
            }
            let Some(kind) = column.kind else {
                report(format!(
                    "type {} cannot be masked: string strategies take text, varchar or char, and integer or bigint columns take hash or digits",
                    column.type_name
                ));
                continue;
            };
            let Some(strategy) = &target_column.strategy else { continue };
            match kind {
                ColumnKind::Int4 | ColumnKind::Int8 => {
                    if !matches!(strategy, Strategy::Hash | Strategy::Digits) {
                        report(format!(
                            "a column of type {} takes hash or digits (both applied as warden.pseudonymize, a keyed bijection of the type), not {}",
                            column.type_name,
                            strategy.name()
                        ));
                        continue;
                    }
                }
                ColumnKind::Text { max_chars, .. } => {
                    if let (Some(limit), Some(longest)) = (max_chars, max_output_chars(strategy)) {
                        if longest > limit {
                            report(format!(
                                "type {} holds at most {limit} characters; the {} strategy writes up to {longest}",
                                column.type_name,
                                strategy.name()
                            ));
                            continue;
                        }
                    }
                }
            }
            if column.unique && matches!(strategy, Strategy::Redact(_) | Strategy::Partial(_)) {
                report(format!(
                    "the column has a unique index of its own, and the {} strategy gives equal outputs for distinct values",
                    strategy.name()
                ));
                continue;
            }
            rules.insert(
                (oid, column.attnum),
                (
                    target_column.path.clone(),
                    Some(JoinRule { strategy: strategy.clone(), seed: target_column.seed, class: kind.join_class() }),
                ),
            );
        }
        tables.insert((target.schema.clone(), target.table.clone()), CatalogTable { oid, sql_name, columns });
    }

    // Columns named in the profile whose strategy is malformed still count as masked.
    for target in &targets {
        if let Some(table) = tables.get(&(target.schema.clone(), target.table.clone())) {
            for target_column in &target.columns {
                if let Some(column) = table.columns.get(&target_column.name) {
                    rules.entry((table.oid, column.attnum)).or_insert_with(|| (target_column.path.clone(), None));
                }
            }
        }
    }

    let masked_tables: Vec<pg_sys::Oid> = {
        let mut oids: Vec<pg_sys::Oid> = tables.values().map(|t| t.oid).collect();
        oids.sort_by_key(|oid| oid.to_u32());
        oids
    };
    for key in foreign_keys(&masked_tables)? {
        for (&fk_col, &pk_col) in key.fk_columns.iter().zip(&key.pk_columns) {
            let fk_rule = rules.get(&(key.fk_table, fk_col));
            let pk_rule = rules.get(&(key.pk_table, pk_col));
            match (fk_rule, pk_rule) {
                (None, None) => {}
                (Some((path, _)), None) => problems.push((
                    path.clone(),
                    format!(
                        "foreign key \"{}\" references {}, which the profile does not mask: masked values would no longer match",
                        key.name,
                        column_label(key.pk_table, pk_col)?
                    ),
                )),
                (None, Some((path, _))) => problems.push((
                    path.clone(),
                    format!(
                        "foreign key \"{}\" of {} references this column, which the profile does not mask: its values would no longer match",
                        key.name,
                        column_label(key.fk_table, fk_col)?
                    ),
                )),
                (Some((path, Some(fk))), Some((_, Some(pk)))) if fk != pk => problems.push((
                    path.clone(),
                    format!(
                        "foreign key \"{}\" references {}, which the profile masks with another strategy, seed or integer width: use the same on both",
                        key.name,
                        column_label(key.pk_table, pk_col)?
                    ),
                )),
                (Some(_), Some(_)) => {}
            }
        }
    }

    if let Some(key_name) = target_key(doc) {
        if let Err(error) = keyring::with_key(&key_name, |_| ()) {
            let problem = match error {
                WardenError::UnknownKey(name) => format!("key \"{name}\" does not exist in the keyring"),
                other => other.to_string(),
            };
            problems.push(("$.key".into(), problem));
        }
    }
    Ok(Checked { problems, tables })
}

/// Whether `user` holds `mode` on table `oid` or on its column `attnum`; a table or
/// column dropped meanwhile counts as allowed (validation reports it).
fn may(oid: pg_sys::Oid, attnum: i16, user: pg_sys::Oid, mode: u32) -> bool {
    let mode = mode as pg_sys::AclMode;
    let mut missing = false;
    unsafe {
        pg_sys::pg_class_aclcheck_ext(oid, user, mode, &mut missing) == pg_sys::AclResult::ACLCHECK_OK
            || missing
            || pg_sys::pg_attribute_aclcheck_ext(oid, attnum, user, mode, &mut missing)
                == pg_sys::AclResult::ACLCHECK_OK
            || missing
    }
}

/// Raises 42501 unless the caller may mask every table `targets` names, before any of
/// them is locked: a role that may not mask a table must not queue an ACCESS EXCLUSIVE
/// request on it, which would make every other reader of the table wait behind it
/// (PostgreSQL checks ownership before it locks for the same reason). Masking is an
/// update of every row: the caller needs UPDATE on every masked column and row-level
/// security must not apply to it; the foreign keys re-checked afterwards are read with
/// its rights, so it needs SELECT on their columns. Catalog reads only, no lock.
fn require_mask_privileges(targets: &[TargetTable]) -> Result<(), WardenError> {
    let user = unsafe { pg_sys::GetUserId() };
    for target in targets.iter().filter(|t| !is_protected_schema(&t.schema)) {
        let Some((oid, ..)) = find_table(&target.schema, &target.table)? else { continue };
        let name = format!("{}.{}", target.schema, target.table);
        // The rewrite masks every row; a role that row-level security limits to some rows
        // must not mask the others.
        let rls = unsafe { pg_sys::check_enable_rls(oid, pg_sys::InvalidOid, true) };
        if rls == pg_sys::CheckEnableRlsResult::RLS_ENABLED as std::ffi::c_int {
            return Err(WardenError::PermissionDenied {
                message: format!("row-level security on {name} applies to the role applying the profile"),
                hint:
                    "apply_profile rewrites every row: run it as the table owner, a superuser or a role with BYPASSRLS."
                        .into(),
            });
        }
        let mut masked = HashSet::new();
        for column in &target.columns {
            let Ok(column_name) = std::ffi::CString::new(column.name.as_str()) else { continue };
            let attnum = unsafe { pg_sys::get_attnum(oid, column_name.as_ptr()) };
            if attnum <= 0 {
                continue;
            }
            if !may(oid, attnum, user, pg_sys::ACL_UPDATE) {
                return Err(WardenError::PermissionDenied {
                    message: format!("permission denied to mask column \"{}\" of {name}", column.name),
                    hint: "Masking is an update: the role applying the profile needs UPDATE on every column it masks."
                        .into(),
                });
            }
            masked.insert(attnum);
        }
        for key in foreign_keys(&[oid])? {
            let mut read = Vec::new();
            if key.fk_table == oid && key.fk_columns.iter().any(|c| masked.contains(c)) {
                read.extend(&key.fk_columns);
            }
            if key.pk_table == oid && key.pk_columns.iter().any(|c| masked.contains(c)) {
                read.extend(&key.pk_columns);
            }
            if let Some(&attnum) = read.iter().find(|&&attnum| !may(oid, attnum, user, pg_sys::ACL_SELECT)) {
                return Err(WardenError::PermissionDenied {
                    message: format!(
                        "permission denied to read column {}: foreign key \"{}\" over a masked column is re-checked with it",
                        column_label(oid, attnum)?,
                        key.name
                    ),
                    hint: "apply_profile re-checks every foreign key over a masked column with the caller's rights: the role applying the profile needs SELECT on the key's columns in both tables.".into(),
                });
            }
        }
    }
    Ok(())
}

/// The profile document, parsed with pg_warden's depth limit (54001 beyond it).
fn document(profile: &AnyElement) -> Result<Value, WardenError> {
    parse_jsonb(profile)
}

// Declared in sql/anonymize_profile.sql with a `jsonb` argument (see fingerprint::parse_jsonb).
#[pg_extern(sql = false)]
fn validate_profile(
    profile: AnyElement,
) -> Result<TableIterator<'static, (name!(path, String), name!(problem, String))>, ErrorReport> {
    let doc = document(&profile)?;
    let checked = check(&doc, false)?;
    Ok(TableIterator::new(checked.problems))
}

/// One column to mask, ready.
struct MaskColumn {
    name: String,
    attnum: i16,
    kind: ColumnKind,
    strategy: Strategy,
    alias: String,
    seed: i64,
    pseudonymizer: Rc<Pseudonymizer>,
}

struct MaskTable {
    /// `schema.table` as the profile writes it.
    name: String,
    sql_name: String,
    oid: pg_sys::Oid,
    columns: Vec<MaskColumn>,
}

fn string_too_long(column: &str, table: &str, type_name: &str) -> ErrorReport {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
        format!("a masked value of column \"{column}\" of {table} is too long for type {type_name}"),
        "pg_warden",
    )
    .set_hint(
        "Nothing was changed. Use a strategy that keeps the length, such as partial or phone, or widen the column.",
    )
}

impl MaskColumn {
    /// The masked datum of a non-NULL value.
    ///
    /// # Safety
    /// `datum` is a non-NULL value of the column's type.
    unsafe fn mask(&self, datum: pg_sys::Datum, table: &str) -> Result<pg_sys::Datum, ErrorReport> {
        match self.kind {
            ColumnKind::Int4 => Ok(pg_sys::Datum::from(self.pseudonymizer.integer(datum.value() as i32))),
            ColumnKind::Int8 => Ok(pg_sys::Datum::from(self.pseudonymizer.bigint(datum.value() as i64))),
            ColumnKind::Text { max_chars, blank_padded } => {
                let bytes = pgrx::varlena_to_byte_slice(pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr()));
                let text = std::str::from_utf8(bytes).map_err(|_| {
                    WardenError::invalid(format!(
                        "column \"{}\" of {table} holds text that is not valid UTF-8",
                        self.name
                    ))
                })?;
                // char(n) compares without its trailing blanks; so do the strategies.
                let text = if blank_padded { text.trim_end_matches(' ') } else { text };
                let mut masked = self.pseudonymizer.anonymize(text, &self.strategy).map_err(|error| {
                    let hint = error.hint();
                    let message = format!("cannot mask column \"{}\" of {table}: {error}", self.name);
                    match hint {
                        Some(hint) => WardenError::invalid_with_hint(message, format!("Nothing was changed. {hint}")),
                        None => WardenError::invalid(message),
                    }
                })?;
                if let Some(limit) = max_chars {
                    let chars = masked.chars().count();
                    if chars > limit {
                        let type_name = if blank_padded { "character" } else { "character varying" };
                        return Err(string_too_long(&self.name, table, &format!("{type_name}({limit})")));
                    }
                    if blank_padded {
                        masked.extend(std::iter::repeat(' ').take(limit - chars));
                    }
                }
                Ok(pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
                    masked.as_ptr() as *const c_char,
                    masked.len() as i32,
                )))
            }
        }
    }
}

/// Rewrites `table`'s heap with its columns masked and swaps it in, rebuilding every
/// index. Returns the rows scanned and, per column, the values masked (non-NULL).
fn rewrite(table: &MaskTable) -> Result<(i64, Vec<i64>), ErrorReport> {
    let lockmode = pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE;
    let mut masked = vec![0i64; table.columns.len()];
    let mut rows = 0i64;
    unsafe {
        let old = pg_sys::table_open(table.oid, lockmode);
        pg_sys::CheckTableNotInUse(old, c"warden.apply_profile".as_ptr());
        let class = &*(*old).rd_rel;
        let persistence = class.relpersistence;
        let (tablespace, access_method) = (class.reltablespace, class.relam);
        let new_oid = pg_sys::ffi::pg_guard_ffi_boundary(|| {
            make_new_heap(table.oid, tablespace, access_method, persistence, lockmode)
        });
        let new = pg_sys::table_open(new_oid, lockmode);
        let old_desc = (*old).rd_att;
        let new_desc = (*new).rd_att;
        let natts = (*old_desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0usize); natts];
        let mut nulls = vec![false; natts];

        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let scan = pg_sys::table_beginscan(old, snapshot, 0, std::ptr::null_mut());
        let bulk = pg_sys::GetBulkInsertState();
        let cid = pg_sys::GetCurrentCommandId(true);
        let mut per_row = PgMemoryContexts::new("warden.apply_profile row");
        loop {
            pgrx::check_for_interrupts!();
            let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tuple.is_null() {
                break;
            }
            per_row.switch_to(|_| -> Result<(), ErrorReport> {
                pg_sys::heap_deform_tuple(tuple, old_desc, values.as_mut_ptr(), nulls.as_mut_ptr());
                for (column, count) in table.columns.iter().zip(masked.iter_mut()) {
                    let at = (column.attnum - 1) as usize;
                    if !nulls[at] {
                        values[at] = column.mask(values[at], &table.name)?;
                        *count += 1;
                    }
                }
                let masked_tuple = pg_sys::heap_form_tuple(new_desc, values.as_mut_ptr(), nulls.as_mut_ptr());
                pg_sys::heap_insert(new, masked_tuple, cid, pg_sys::TABLE_INSERT_SKIP_FSM as i32, bulk);
                Ok(())
            })?;
            per_row.reset();
            rows += 1;
        }
        pg_sys::table_endscan(scan);
        pg_sys::UnregisterSnapshot(snapshot);
        pg_sys::FreeBulkInsertState(bulk);
        pg_sys::table_close(new, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::table_close(old, pg_sys::NoLock as pg_sys::LOCKMODE);
        // As ALTER TABLE's rewrite does: the new rows carry this transaction's xid, and
        // rebuilding the indexes checks unique and exclusion constraints.
        let (frozen_xid, cutoff_multi) = (pg_sys::RecentXmin, pg_sys::ReadNextMultiXactId());
        let old_oid = table.oid;
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            finish_heap_swap(old_oid, new_oid, false, false, true, true, frozen_xid, cutoff_multi, persistence)
        });
    }
    Ok((rows, masked))
}

/// CHECK constraints of a masked table over a masked column: each must still hold.
fn verify_checks(table: &MaskTable) -> Result<(), ErrorReport> {
    let attnums: Vec<i16> = table.columns.iter().map(|c| c.attnum).collect();
    let owner = Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT relowner FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) $1",
        &[table.oid.into()],
    )
    .map_err(spi_error)?;
    let Some(owner) = owner else { return Ok(()) };
    // As the table's owner: the expression is the owner's, never run with the caller's
    // rights. It is deparsed under the same pinned search_path it is then parsed under,
    // so every name it prints resolves to the object the constraint uses, whatever the
    // caller's search_path.
    let violated = keyring::as_user(owner, || {
        Spi::connect(|client| {
            let rows = client.select(
                "SELECT conname::pg_catalog.text, pg_catalog.pg_get_expr(conbin, conrelid), conkey \
                   FROM pg_catalog.pg_constraint \
                  WHERE conrelid OPERATOR(pg_catalog.=) $1 AND contype OPERATOR(pg_catalog.=) 'c' ORDER BY conname",
                None,
                &[table.oid.into()],
            )?;
            let mut checks = Vec::new();
            for row in rows {
                if let (Some(name), Some(expr), Some(columns)) =
                    (row.get::<String>(1)?, row.get::<String>(2)?, row.get::<Vec<i16>>(3)?)
                {
                    if columns.iter().any(|c| attnums.contains(c)) {
                        checks.push((name, expr));
                    }
                }
            }
            for (name, expr) in checks {
                let query = format!("SELECT EXISTS (SELECT 1 FROM ONLY {} WHERE NOT ({expr}))", table.sql_name);
                if client.select(&query, Some(1), &[])?.first().get_one::<bool>()?.unwrap_or(false) {
                    return Ok(Some(name));
                }
            }
            Ok::<_, pgrx::spi::SpiError>(None)
        })
    })
    .map_err(spi_error)?;
    if let Some(name) = violated {
        return Err(ErrorReport::new(
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            format!("masked values of {} violate check constraint \"{name}\"", table.name),
            "pg_warden",
        )
        .set_hint("Nothing was changed. Choose a strategy whose output the constraint accepts."));
    }
    Ok(())
}

/// The anti-join that counts the rows of the foreign key `$1` whose key no longer has a
/// match, built from the catalog as PostgreSQL builds its own check (RI_Initial_Check
/// with generate_operator_clause): each column pair is compared with the constraint's
/// own operator (`conpfeqop`) called by its schema-qualified name, an operand cast to
/// the operator's type, by qualified name, where the column's type differs, and the
/// primary key's collation where the two columns' differ. Every name is quoted.
const FOREIGN_KEY_CHECK_QUERY: &str = "\
SELECT pg_catalog.format('SELECT pg_catalog.count(*) FROM %s%I.%I f WHERE %s AND NOT EXISTS (SELECT 1 FROM %s%I.%I p WHERE %s)', \
        CASE WHEN fc.relkind OPERATOR(pg_catalog.=) 'p' THEN '' ELSE 'ONLY ' END, fn.nspname, fc.relname, \
        (SELECT pg_catalog.string_agg(pg_catalog.format('f.%I IS NOT NULL', fa.attname), ' AND ' ORDER BY k.i) \
           FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(attnum, i) \
           JOIN pg_catalog.pg_attribute fa ON fa.attrelid OPERATOR(pg_catalog.=) c.conrelid \
                                          AND fa.attnum OPERATOR(pg_catalog.=) k.attnum), \
        CASE WHEN pc.relkind OPERATOR(pg_catalog.=) 'p' THEN '' ELSE 'ONLY ' END, pn.nspname, pc.relname, \
        (SELECT pg_catalog.string_agg(pg_catalog.format('p.%I%s OPERATOR(%I.%s) f.%I%s%s', \
                    pa.attname, \
                    CASE WHEN pa.atttypid OPERATOR(pg_catalog.<>) o.oprleft \
                         THEN pg_catalog.format('::%I.%I', ln.nspname, lt.typname) ELSE '' END, \
                    opn.nspname, o.oprname, \
                    fa.attname, \
                    CASE WHEN fa.atttypid OPERATOR(pg_catalog.<>) o.oprright \
                         THEN pg_catalog.format('::%I.%I', rn.nspname, rt.typname) ELSE '' END, \
                    CASE WHEN pa.attcollation OPERATOR(pg_catalog.<>) fa.attcollation \
                          AND pa.attcollation OPERATOR(pg_catalog.<>) 0::pg_catalog.oid \
                         THEN pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END), \
                  ' AND ' ORDER BY k.i) \
           FROM ROWS FROM (pg_catalog.unnest(c.conkey), pg_catalog.unnest(c.confkey), pg_catalog.unnest(c.conpfeqop)) \
                WITH ORDINALITY k(fk, pk, op, i) \
           JOIN pg_catalog.pg_attribute fa ON fa.attrelid OPERATOR(pg_catalog.=) c.conrelid \
                                          AND fa.attnum OPERATOR(pg_catalog.=) k.fk \
           JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) c.confrelid \
                                          AND pa.attnum OPERATOR(pg_catalog.=) k.pk \
           JOIN pg_catalog.pg_operator o ON o.oid OPERATOR(pg_catalog.=) k.op \
           JOIN pg_catalog.pg_namespace opn ON opn.oid OPERATOR(pg_catalog.=) o.oprnamespace \
           JOIN pg_catalog.pg_type lt ON lt.oid OPERATOR(pg_catalog.=) o.oprleft \
           JOIN pg_catalog.pg_namespace ln ON ln.oid OPERATOR(pg_catalog.=) lt.typnamespace \
           JOIN pg_catalog.pg_type rt ON rt.oid OPERATOR(pg_catalog.=) o.oprright \
           JOIN pg_catalog.pg_namespace rn ON rn.oid OPERATOR(pg_catalog.=) rt.typnamespace \
           LEFT JOIN pg_catalog.pg_collation co ON co.oid OPERATOR(pg_catalog.=) pa.attcollation \
           LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid OPERATOR(pg_catalog.=) co.collnamespace)) \
  FROM pg_catalog.pg_constraint c \
  JOIN pg_catalog.pg_class fc ON fc.oid OPERATOR(pg_catalog.=) c.conrelid \
  JOIN pg_catalog.pg_namespace fn ON fn.oid OPERATOR(pg_catalog.=) fc.relnamespace \
  JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) c.confrelid \
  JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) pc.relnamespace \
 WHERE c.oid OPERATOR(pg_catalog.=) $1";

/// Every foreign key with a masked column on either side must still hold: an anti-join
/// over the masked data, as PostgreSQL validates a new foreign key. Comparing a key can
/// run code the tables' owners define (an implicit cast of their own type, the function
/// behind an operator), so the check runs with the caller's rights, in a
/// security-restricted operation with `search_path` pinned ([`keyring::as_user`]), never
/// with the extension owner's; the caller's SELECT on the keys' columns is checked
/// before any table is locked ([`require_mask_privileges`]).
fn verify_foreign_keys(masked: &HashSet<(pg_sys::Oid, i16)>, tables: &[pg_sys::Oid]) -> Result<(), ErrorReport> {
    let caller = unsafe { pg_sys::GetUserId() };
    for key in foreign_keys(tables)? {
        let touched = key.fk_columns.iter().any(|c| masked.contains(&(key.fk_table, *c)))
            || key.pk_columns.iter().any(|c| masked.contains(&(key.pk_table, *c)));
        if !touched {
            continue;
        }
        let broken = keyring::as_user(caller, || {
            match Spi::get_one_with_args::<String>(FOREIGN_KEY_CHECK_QUERY, &[key.oid.into()])? {
                Some(query) => Spi::get_one::<i64>(&query),
                None => Ok(None),
            }
        })
        .map_err(spi_error)?
        .unwrap_or(0);
        if broken > 0 {
            return Err(ErrorReport::new(
                PgSqlErrorCode::ERRCODE_FOREIGN_KEY_VIOLATION,
                format!("after masking, {broken} rows no longer satisfy foreign key \"{}\"", key.name),
                "pg_warden",
            )
            .set_hint("Nothing was changed. Mask both sides of the key with the same strategy, seed and key."));
        }
    }
    Ok(())
}

fn problems_error(problems: &[(String, String)]) -> ErrorReport {
    let listed: Vec<String> = problems.iter().map(|(path, problem)| format!("{path}: {problem}")).collect();
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!(
            "anonymization profile is not valid ({} problem{}): {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            listed.join("; ")
        ),
        "pg_warden",
    )
    .set_detail(listed.join("\n"))
    .set_hint("Nothing was changed. SELECT * FROM warden.validate_profile(profile) lists the problems as rows.")
}

// Declared in sql/anonymize_profile.sql with a `jsonb` argument (see fingerprint::parse_jsonb).
#[pg_extern(sql = false)]
fn apply_profile(
    profile: AnyElement,
) -> Result<
    TableIterator<
        'static,
        (name!(table_name, String), name!(column_name, String), name!(strategy, String), name!(rows, i64)),
    >,
    ErrorReport,
> {
    keyring::require_admin("apply anonymization profiles")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.apply_profile()".as_ptr()) };
    let doc = document(&profile)?;
    let checked = check(&doc, true)?;
    if !checked.problems.is_empty() {
        return Err(problems_error(&checked.problems));
    }
    let (Some(profile), _) = profile::validate(&doc) else {
        return Err(WardenError::Internal("a profile without problems did not validate".into()).into());
    };
    // The run is recorded in the ledger: refuse before any work if it cannot be.
    crate::audit::SigningKey::active()?;
    let key_version = keyring::with_key(&profile.key, |key| key.active().version)?;
    let plans = plan(&profile, &checked)?;

    let mut results = Vec::new();
    let mut audit_tables = Vec::new();
    let mut strategy_counts: BTreeMap<&'static str, i64> = BTreeMap::new();
    let mut masked_columns = HashSet::new();
    for table in &plans {
        let (rows, per_column) = rewrite(table)?;
        pgrx::notice!("pg_warden: masked {} column(s) of {} ({rows} rows)", table.columns.len(), table.name);
        let mut audit_columns = Vec::new();
        for (column, count) in table.columns.iter().zip(per_column) {
            results.push((table.name.clone(), column.name.clone(), column.strategy.name().to_owned(), count));
            *strategy_counts.entry(column.strategy.name()).or_default() += 1;
            masked_columns.insert((table.oid, column.attnum));
            audit_columns.push(json!({
                "column": column.name, "strategy": column.strategy.name(), "alias": column.alias,
                "seed": column.seed, "rows": count,
            }));
        }
        audit_tables.push(json!({"table": table.name, "rows": rows, "columns": audit_columns}));
    }
    for table in &plans {
        verify_checks(table)?;
    }
    let oids: Vec<pg_sys::Oid> = plans.iter().map(|t| t.oid).collect();
    verify_foreign_keys(&masked_columns, &oids)?;

    let canonical = profile.canonical_text();
    let details = json!({
        "profile": profile.name,
        "version": profile.version,
        "sha256": sha256_hex(&canonical)?,
        "key_name": profile.key,
        "key_version": key_version,
        "tables": audit_tables,
        "strategies": strategy_counts,
    });
    keyring::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(
                    "INSERT INTO warden.audit_log (event_type, action, resource_type, resource_id, details) \
                     VALUES ('anonymization', 'APPLY PROFILE', 'profile', $1, $2)",
                    None,
                    &[profile.name.as_str().into(), pgrx::JsonB(details).into()],
                )
                .map(|_| ())
        })
    })?
    .map_err(spi_error)?;
    Ok(TableIterator::new(results))
}

fn sha256_hex(text: &str) -> Result<String, WardenError> {
    Spi::get_one_with_args::<String>(
        "SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to($1, 'UTF8')), 'hex')",
        &[text.into()],
    )
    .map_err(spi_error)?
    .ok_or_else(|| WardenError::Internal("sha256 returned NULL".into()))
}

/// The tables to mask, in profile order, each column with its pseudonymizer built.
fn plan(profile: &Profile, checked: &Checked) -> Result<Vec<MaskTable>, WardenError> {
    let mut plans = Vec::new();
    for rule in &profile.tables {
        let table = checked
            .tables
            .get(&(rule.schema.clone(), rule.table.clone()))
            .ok_or_else(|| WardenError::Internal(format!("table {}.{} was not checked", rule.schema, rule.table)))?;
        let mut columns = Vec::new();
        for column_rule in &rule.columns {
            let column = table
                .columns
                .get(&column_rule.column)
                .and_then(|c| c.kind.map(|kind| (c.attnum, kind)))
                .ok_or_else(|| WardenError::Internal(format!("column {} was not checked", column_rule.column)))?;
            columns.push(MaskColumn {
                name: column_rule.column.clone(),
                attnum: column.0,
                kind: column.1,
                strategy: column_rule.strategy.clone(),
                alias: column_rule.alias.clone(),
                seed: column_rule.seed,
                pseudonymizer: crate::anonymize::pseudonymizer(&profile.key, column_rule.seed)?,
            });
        }
        if !columns.is_empty() {
            plans.push(MaskTable {
                name: format!("{}.{}", rule.schema, rule.table),
                sql_name: table.sql_name.clone(),
                oid: table.oid,
                columns,
            });
        }
    }
    Ok(plans)
}

extension_sql_file!(
    "../sql/anonymize_profile.sql",
    name = "anonymize_profile",
    requires = ["anonymize", "audit", validate_profile, apply_profile]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    const KEY: &str =
        "SELECT warden.create_key('default', '\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')";

    #[pg_test]
    fn missing_tables_and_columns_are_reported_by_path() {
        Spi::run(KEY).unwrap();
        Spi::run("CREATE TABLE public.t_people (id int PRIMARY KEY, email text)").unwrap();
        let found = Spi::get_one::<String>(
            "SELECT string_agg(path || ' ' || problem, ' | ' ORDER BY path) FROM warden.validate_profile('{
               \"name\": \"p\", \"version\": 1, \"strategies\": {},
               \"tables\": {\"public.t_people\": [{\"column\": \"mail\", \"strategy\": \"email\"}],
                            \"public.nope\": []}}')",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            found,
            "$.tables.\"public.nope\" table \"nope\" does not exist in schema \"public\" | \
             $.tables.\"public.t_people\"[0].column column \"mail\" does not exist in table public.t_people"
        );
    }

    #[pg_test]
    fn apply_keeps_the_table_and_masks_every_value() {
        Spi::run(KEY).unwrap();
        Spi::run("SELECT warden.create_key('audit', '\\x101112131415161718191a1b1c1d1e1f')").unwrap();
        Spi::run(
            "CREATE TABLE public.t_users (id int PRIMARY KEY, email text UNIQUE); \
             INSERT INTO public.t_users SELECT g, 'u' || g || '@corp.example' FROM generate_series(1, 100) g",
        )
        .unwrap();
        let oid = Spi::get_one::<pg_sys::Oid>("SELECT 'public.t_users'::regclass::oid").unwrap();
        let rows = Spi::get_one::<i64>(
            "SELECT rows FROM warden.apply_profile('{\"name\": \"p\", \"version\": 1, \"strategies\": {},
               \"tables\": {\"public.t_users\": [{\"column\": \"email\", \"strategy\": \"email\"}]}}')",
        )
        .unwrap();
        assert_eq!(rows, Some(100));
        assert_eq!(Spi::get_one::<pg_sys::Oid>("SELECT 'public.t_users'::regclass::oid").unwrap(), oid);
        let same = Spi::get_one::<bool>(
            "SELECT bool_and(email = warden.anonymize('u' || id || '@corp.example', 'email')) FROM public.t_users",
        )
        .unwrap();
        assert_eq!(same, Some(true));
    }

    #[pg_test(error = "permission denied to apply anonymization profiles")]
    fn ordinary_roles_cannot_apply_profiles() {
        Spi::run("CREATE ROLE t_nobody; GRANT EXECUTE ON FUNCTION warden.apply_profile(jsonb) TO t_nobody; SET ROLE t_nobody")
            .unwrap();
        Spi::run("SELECT * FROM warden.apply_profile('{}')").unwrap();
    }
}
