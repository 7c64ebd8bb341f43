//! pg_warden: keyed fingerprints, deterministic anonymization and a tamper-evident
//! audit ledger for PostgreSQL.
//!
//! The SQL-facing functions are thin wrappers over the pure-Rust cores of the
//! `warden-core` crate; hand-written SQL objects live in `sql/` and are loaded in the
//! order their `requires` lists give.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod anonymize;
mod audit;
mod error;
mod fingerprint;
mod gucs;
mod keyring;
mod profile;

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    error::suppress_backtraces();
    gucs::register();
    keyring::register_invalidation_callback();
    audit::chain::register_callbacks();
    audit::guard::register_hooks();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
