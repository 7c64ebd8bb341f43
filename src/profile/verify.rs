//! Constraint re-checks once every table is masked: each CHECK constraint and foreign key
//! over a masked column must still hold (unique indexes are verified as the rewrite
//! rebuilds them). No trigger fired during the rewrite, so no foreign key, deferrable or
//! not, saw a half-masked state; each is checked once, over the masked data. A CHECK
//! expression runs as the table's owner, a foreign-key comparison with the caller's
//! rights; neither ever runs with the extension owner's.

use std::collections::HashSet;

use pgrx::prelude::*;

use super::check::foreign_keys;
use super::rewrite::MaskTable;
use crate::error::WardenError;
use crate::privilege;

/// CHECK constraints of a masked table over a masked column: each must still hold.
pub(super) fn verify_checks(table: &MaskTable) -> Result<(), WardenError> {
    let attnums: Vec<i16> = table.columns.iter().map(|c| c.attnum).collect();
    let owner = Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT relowner FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) $1",
        &[table.oid.into()],
    )?;
    let Some(owner) = owner else { return Ok(()) };
    // As the table's owner: the expression is the owner's, never run with the caller's
    // rights. It is deparsed under the same pinned search_path it is then parsed under,
    // so every name it prints resolves to the object the constraint uses, whatever the
    // caller's search_path.
    let violated = privilege::as_user(owner, || {
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
    })?;
    if let Some(name) = violated {
        return Err(WardenError::CheckViolation {
            message: format!("masked values of {} violate check constraint \"{name}\"", table.name),
            hint: Some("Nothing was changed. Choose a strategy whose output the constraint accepts.".into()),
        });
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
/// security-restricted operation with `search_path` pinned ([`privilege::as_user`]), never
/// with the extension owner's; the caller's SELECT on the keys' columns is checked
/// before any table is locked (`check::require_mask_privileges`).
pub(super) fn verify_foreign_keys(
    masked: &HashSet<(pg_sys::Oid, i16)>,
    tables: &[pg_sys::Oid],
) -> Result<(), WardenError> {
    let caller = unsafe { pg_sys::GetUserId() };
    for key in foreign_keys(tables)? {
        let touched = key.fk_columns.iter().any(|c| masked.contains(&(key.fk_table, *c)))
            || key.pk_columns.iter().any(|c| masked.contains(&(key.pk_table, *c)));
        if !touched {
            continue;
        }
        let broken = privilege::as_user(caller, || {
            match Spi::get_one_with_args::<String>(FOREIGN_KEY_CHECK_QUERY, &[key.oid.into()])? {
                Some(query) => Spi::get_one::<i64>(&query),
                None => Ok(None),
            }
        })?
        .unwrap_or(0);
        if broken > 0 {
            return Err(WardenError::ForeignKeyViolation { key: key.name, rows: broken });
        }
    }
    Ok(())
}
