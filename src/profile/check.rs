//! Catalog checks: every problem a profile has against the database, for
//! `warden.validate_profile` and before `warden.apply_profile` masks anything.
//!
//! The document is read once by `warden_core::profile::read`, which reports its structural
//! problems and names its targets even when it has some; `warden_core::profile::compat`
//! says which tables, column types and strategies go together. This module looks the
//! targets up in the catalog (tables, columns, types, unique indexes, generated columns,
//! partition keys, inheritance children, foreign keys, the keyring key) and reports what
//! the rules refuse, each problem at its JSON path. To apply a profile it first checks the
//! caller's privileges, then locks each table so that what was checked stays true.

use std::collections::{HashMap, HashSet};

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::Value;
use warden_core::profile::compat::{self, ColumnType, KeyMasking};
use warden_core::profile::{self, Problem, Profile, Target};

use super::spi_error;
use crate::datum::{parse_jsonb, Jsonb};
use crate::error::WardenError;
use crate::keyring;

/// How masking sees a column of type `type_oid` with modifier `typmod`; `None` for a
/// type no strategy takes.
fn column_type(type_oid: pg_sys::Oid, typmod: i32) -> Option<ColumnType> {
    let limit = (typmod >= pg_sys::VARHDRSZ as i32).then(|| (typmod - pg_sys::VARHDRSZ as i32) as usize);
    match type_oid {
        pg_sys::TEXTOID => Some(ColumnType::Text { max_chars: None, blank_padded: false }),
        pg_sys::VARCHAROID => Some(ColumnType::Text { max_chars: limit, blank_padded: false }),
        pg_sys::BPCHAROID => Some(ColumnType::Text { max_chars: limit, blank_padded: true }),
        pg_sys::INT4OID => Some(ColumnType::Integer),
        pg_sys::INT8OID => Some(ColumnType::Bigint),
        _ => None,
    }
}

/// A table as the catalog describes it.
pub(super) struct CatalogTable {
    pub(super) oid: pg_sys::Oid,
    /// `schema.table` quoted for SQL, from the catalog.
    pub(super) sql_name: String,
    pub(super) columns: HashMap<String, CatalogColumn>,
}

#[derive(Clone)]
pub(super) struct CatalogColumn {
    pub(super) attnum: i16,
    pub(super) kind: Option<ColumnType>,
    type_name: String,
    generated: bool,
    /// Alone under a unique index or constraint.
    unique: bool,
    /// Stored generated columns computed from this one.
    generated_dependents: Option<String>,
}

/// Problems found, the tables found, by name, and the profile when the document has no
/// structural problem.
pub(super) struct Checked {
    problems: Vec<Problem>,
    pub(super) tables: HashMap<(String, String), CatalogTable>,
    profile: Option<Profile>,
}

impl Checked {
    /// The profile, or 22023 listing every problem.
    pub(super) fn valid_profile(&self) -> Result<&Profile, WardenError> {
        if !self.problems.is_empty() {
            return Err(WardenError::InvalidProfile(self.problems.clone()));
        }
        self.profile.as_ref().ok_or_else(|| WardenError::Internal("a profile without problems did not validate".into()))
    }

    /// Adds the problem `rule` finds in the profile, when the document has no structural
    /// problem: a rule of the caller's own over a profile that is otherwise checked.
    pub(super) fn check_also(&mut self, rule: impl FnOnce(&Profile) -> Option<Problem>) {
        if let Some(problem) = self.profile.as_ref().and_then(rule) {
            self.problems.push(problem);
        }
    }
}

/// A relation as `pg_class` describes it.
struct FoundTable {
    oid: pg_sys::Oid,
    relkind: String,
    /// Of the heap access method.
    heap: bool,
    temporary: bool,
    /// `schema.table` quoted for SQL.
    sql_name: String,
}

/// The relation `schema.table`, names passed as data.
fn find_table(schema: &str, table: &str) -> Result<Option<FoundTable>, WardenError> {
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
            if let (Some(oid), Some(relkind), Some(heap), Some(temporary), Some(sql_name)) = (
                row.get::<pg_sys::Oid>(1)?,
                row.get::<String>(2)?,
                row.get::<bool>(3)?,
                row.get::<bool>(4)?,
                row.get::<String>(5)?,
            ) {
                return Ok(Some(FoundTable { oid, relkind, heap, temporary, sql_name }));
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
                    kind: column_type(type_oid, typmod),
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
pub(super) struct ForeignKey {
    pub(super) oid: pg_sys::Oid,
    pub(super) name: String,
    pub(super) fk_table: pg_sys::Oid,
    pub(super) pk_table: pg_sys::Oid,
    pub(super) fk_columns: Vec<i16>,
    pub(super) pk_columns: Vec<i16>,
}

/// Every foreign key with one of `tables` on either side, each once.
pub(super) fn foreign_keys(tables: &[pg_sys::Oid]) -> Result<Vec<ForeignKey>, WardenError> {
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
pub(super) fn column_label(table: pg_sys::Oid, attnum: i16) -> Result<String, WardenError> {
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

/// A `WARDEN_*` environment variable of the server process, for a profile's
/// `seed_env_var` (core reads no environment; it never asks for another name). Read only
/// for superusers and `warden_admin` members: anyone may call `validate_profile`, and
/// the server's environment is not theirs to probe (whether a variable is set, whether a
/// guessed seed masks a foreign key alike). For other roles every variable is unset.
///
/// A variable a keyring key is bound to (`create_key_from_env`) holds key material and is
/// never read as a seed, whatever its value: a seed lands in the ledger.
fn server_variable(name: &str) -> Option<String> {
    (name.starts_with(profile::SEED_ENV_PREFIX) && crate::privilege::is_admin() && !binds_a_key(name))
        .then(|| std::env::var_os(name))
        .flatten()
        .map(|value| value.to_string_lossy().into_owned())
}

/// Whether a keyring key is bound to the environment variable `name` (true when the
/// keyring cannot be read: such a variable is never taken for a seed).
fn binds_a_key(name: &str) -> bool {
    crate::privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT EXISTS (SELECT FROM warden.key_store WHERE env_var OPERATOR(pg_catalog.=) $1)",
                    Some(1),
                    &[name.into()],
                )?
                .first()
                .get_one::<bool>()
        })
    })
    .map_or(true, |bound| bound.unwrap_or(true))
}

/// Every problem with `doc`: the core's, then the database's. With `lock` (to apply the
/// profile), the caller's privileges on every table are checked first, then each table
/// found is locked ACCESS EXCLUSIVE before its columns are read, so what was checked
/// stays true until the transaction ends.
pub(super) fn check(doc: &Value, lock: bool) -> Result<Checked, WardenError> {
    let reading = profile::read(doc, server_variable);
    let mut problems = reading.problems;
    let mut tables = HashMap::new();
    let mut rules: HashMap<(pg_sys::Oid, i16), (String, Option<KeyMasking>)> = HashMap::new();
    let targets = reading.targets;
    let listed: HashSet<String> = targets.iter().map(|t| format!("{}.{}", t.schema, t.table)).collect();
    if lock {
        require_mask_privileges(&targets)?;
    }

    for target in &targets {
        let mut report = |problem: String| problems.push(Problem { path: target.path.clone(), problem });
        if compat::is_protected_schema(&target.schema) {
            report("pg_warden's own tables and system catalogs cannot be masked".into());
            continue;
        }
        let Some(FoundTable { oid, relkind, heap, temporary, sql_name }) = find_table(&target.schema, &target.table)?
        else {
            report(format!("table \"{}\" does not exist in schema \"{}\"", target.table, target.schema));
            continue;
        };
        if lock {
            unsafe { pg_sys::LockRelationOid(oid, pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE) };
            // The table may have been dropped or replaced while the lock was awaited.
            match find_table(&target.schema, &target.table)? {
                Some(now) if now.oid == oid => {}
                _ => {
                    return Err(WardenError::ConcurrentChange(format!(
                        "table {sql_name} was changed by a concurrent transaction"
                    )))
                }
            }
        }
        if let Some(problem) = compat::table_problem(&relkind, temporary, heap) {
            report(problem);
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
            let mut report = |problem: String| problems.push(Problem { path: target_column.path.clone(), problem });
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
            let strategy = target_column.strategy.as_ref();
            if let Some(problem) = compat::column_problem(column.kind, &column.type_name, column.unique, strategy) {
                report(problem);
                continue;
            }
            let (Some(kind), Some(strategy)) = (column.kind, strategy) else { continue };
            let masking = KeyMasking::new(kind, strategy.clone(), target_column.seed);
            rules.insert((oid, column.attnum), (target_column.path.clone(), Some(masking)));
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
            let (fk_masking, pk_masking) = (fk_rule.map(|(_, m)| m.as_ref()), pk_rule.map(|(_, m)| m.as_ref()));
            let Some(mismatch) = compat::key_mismatch(fk_masking, pk_masking) else { continue };
            let (at, other) = if mismatch.at_referencing() {
                (fk_rule, (key.pk_table, pk_col))
            } else {
                (pk_rule, (key.fk_table, fk_col))
            };
            if let Some((path, _)) = at {
                let problem = mismatch.problem(&key.name, &column_label(other.0, other.1)?);
                problems.push(Problem { path: path.clone(), problem });
            }
        }
    }

    if let Some(key_name) = reading.key {
        if let Err(error) = keyring::with_key(&key_name, |_| ()) {
            let problem = match error {
                WardenError::UnknownKey(name) => format!("key \"{name}\" does not exist in the keyring"),
                other => other.to_string(),
            };
            problems.push(Problem { path: "$.key".into(), problem });
        }
    }
    Ok(Checked { problems, tables, profile: reading.profile })
}

/// Whether `user` holds `mode` on table `oid` or on its column `attnum`; a table or
/// column dropped meanwhile counts as allowed (validation reports it).
fn may(oid: pg_sys::Oid, attnum: i16, user: pg_sys::Oid, mode: u32) -> bool {
    let mode = mode as pg_sys::AclMode;
    let mut missing = false;
    let on_table = unsafe { pg_sys::pg_class_aclcheck_ext(oid, user, mode, &mut missing) };
    if on_table == pg_sys::AclResult::ACLCHECK_OK || missing {
        return true;
    }
    // Sets `missing` again: the column may be gone while the table is not.
    let on_column = unsafe { pg_sys::pg_attribute_aclcheck_ext(oid, attnum, user, mode, &mut missing) };
    on_column == pg_sys::AclResult::ACLCHECK_OK || missing
}

/// Raises 42501 unless the caller may mask every table `targets` names, before any of
/// them is locked: a role that may not mask a table must not queue an ACCESS EXCLUSIVE
/// request on it, which would make every other reader of the table wait behind it
/// (PostgreSQL checks ownership before it locks for the same reason). Masking is an
/// update of every row: the caller needs UPDATE on every masked column and row-level
/// security must not apply to it; the foreign keys re-checked afterwards are read with
/// its rights, so it needs SELECT on their columns. Catalog reads only, no lock.
fn require_mask_privileges(targets: &[Target]) -> Result<(), WardenError> {
    let user = unsafe { pg_sys::GetUserId() };
    for target in targets.iter().filter(|t| !compat::is_protected_schema(&t.schema)) {
        let Some(FoundTable { oid, .. }) = find_table(&target.schema, &target.table)? else { continue };
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

/// `warden.validate_profile(profile)`: every problem of a profile, as (path, problem).
#[pg_extern(stable)]
fn validate_profile(
    profile: Jsonb,
) -> Result<TableIterator<'static, (name!(path, String), name!(problem, String))>, ErrorReport> {
    // Parsed with pg_warden's depth limit (54001 beyond it).
    let doc = parse_jsonb(&profile)?;
    let checked = check(&doc, false)?;
    Ok(TableIterator::new(checked.problems.into_iter().map(|p| (p.path, p.problem))))
}
