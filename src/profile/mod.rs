//! Anonymization profiles against a database: `warden.validate_profile` and
//! `warden.apply_profile`.
//!
//! The document format, its structural checks and the rules of which column takes which
//! strategy are `warden_core::profile`; this module adds what only the database knows
//! and masks tables, one job a file:
//!
//! - [`check`]: the catalog checks: every problem of a profile against the database
//!   (tables, columns, types, keys, constraints), the caller's privileges and the locks
//!   that keep what was checked true; `warden.validate_profile`.
//! - [`rewrite`]: the heap rewrite that masks one table in one pass, keeping its oid,
//!   indexes, constraints, grants and dependent views.
//! - [`verify`]: the constraint re-checks once every table is masked: CHECK constraints
//!   and foreign keys over a masked column.
//! - [`store`]: stored profiles, by name and version: `warden.save_profile`,
//!   `warden.drop_profile` and `warden.apply_profile(text)`.
//! - here, the apply step, `warden.apply_profile`: check and lock, plan, rewrite each
//!   table, re-check, and record the run in the audit ledger.
//!
//! Everything happens in the caller's transaction: any error leaves every table as it was.

mod check;
mod rewrite;
mod store;
mod verify;

use std::collections::{BTreeMap, HashSet};

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use serde_json::json;

use crate::audit::chain::{append_own, OwnEvent};
use crate::datum::{parse_jsonb, Jsonb};
use crate::error::WardenError;
use crate::{keyring, privilege};

/// SPI errors of the catalog queries, typed so closures infer their error type.
fn spi_error(error: pgrx::spi::SpiError) -> WardenError {
    WardenError::from(error)
}

/// The rows `apply_profile` returns: (table, column, strategy, rows masked).
type Masked = Vec<(String, String, String, i64)>;

/// `warden.apply_profile(profile)`: masks every table of a profile in one transaction.
#[pg_extern(volatile)]
fn apply_profile(
    profile: Jsonb,
) -> Result<
    TableIterator<
        'static,
        (name!(table_name, String), name!(column_name, String), name!(strategy, String), name!(rows, i64)),
    >,
    ErrorReport,
> {
    privilege::require_admin("apply anonymization profiles")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.apply_profile()".as_ptr()) };
    // Parsed with pg_warden's depth limit (54001 beyond it).
    let doc = parse_jsonb(&profile)?;
    Ok(TableIterator::new(apply(&doc, None)?))
}

/// Masks every table of the profile `doc` and records the run in the ledger; `stored`:
/// the stored profile (name, version, SHA-256 as stored) `doc` was read from.
fn apply(doc: &serde_json::Value, stored: Option<&store::Stored>) -> Result<Masked, WardenError> {
    let checked = check::check(doc, true)?;
    let profile = checked.valid_profile()?;
    // The run is recorded in the ledger: refuse before any work if it cannot be.
    crate::audit::SigningKey::active()?;
    let key_version = keyring::with_key(&profile.key, |key| key.active().version)?;
    let plans = rewrite::plan(profile, &checked)?;

    let mut results = Vec::new();
    let mut audit_tables = Vec::new();
    let mut strategy_counts: BTreeMap<&'static str, i64> = BTreeMap::new();
    let mut masked_columns = HashSet::new();
    for table in &plans {
        let (rows, per_column) = rewrite::rewrite(table)?;
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
        verify::verify_checks(table)?;
    }
    let oids: Vec<pg_sys::Oid> = plans.iter().map(|t| t.oid).collect();
    verify::verify_foreign_keys(&masked_columns, &oids)?;

    let mut details = json!({
        "profile": profile.name,
        "version": profile.version,
        "sha256": warden_core::profile::store::sha256_hex(profile),
        "key_name": profile.key,
        "key_version": key_version,
        "tables": audit_tables,
        "strategies": strategy_counts,
    });
    if let Some(stored) = stored {
        details["stored_profile"] = json!({"name": stored.name, "version": stored.version, "sha256": stored.sha256});
    }
    append_own(&OwnEvent {
        event_type: "anonymization",
        action: "APPLY PROFILE",
        resource_type: "profile",
        resource_id: Some(&profile.name),
        tenant: None,
        actor: None,
        details,
    })?;
    Ok(results)
}

extension_sql_file!(
    "../../sql/anonymize_profile.sql",
    name = "anonymize_profile",
    requires = [
        "anonymize",
        "audit",
        check::validate_profile,
        apply_profile,
        store::save_profile,
        store::drop_profile,
        store::apply_stored_profile
    ]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::outcome;
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

    #[pg_test]
    fn ordinary_roles_cannot_apply_profiles() {
        Spi::run("CREATE ROLE t_nobody; GRANT EXECUTE ON FUNCTION warden.apply_profile(jsonb) TO t_nobody; SET ROLE t_nobody")
            .unwrap();
        assert_eq!(
            outcome("SELECT * FROM warden.apply_profile('{}'::jsonb)"),
            "42501: permission denied to apply anonymization profiles"
        );
    }
}
