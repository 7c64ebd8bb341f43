//! pg_warden: keyed fingerprints, deterministic anonymization and a tamper-evident
//! audit ledger for PostgreSQL.
//!
//! The SQL-facing functions are thin wrappers over the pure-Rust cores of the
//! `warden-core` crate; hand-written SQL objects live in `sql/` and are loaded in the
//! order their `requires` lists give.

// The error type of pg_warden's functions is pgrx's `ErrorReport` (what `#[pg_extern]`
// turns into an ereport), about 200 bytes. It travels only on the way to an ERROR, which
// ends the statement, so boxing it would buy nothing and make every `?` convert.
#![allow(clippy::result_large_err)]

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

/// The C entry point of one of pg_warden's trigger functions, under the name its SQL
/// declaration uses: a call that is not a trigger's (`SELECT warden.audit_capture()`)
/// is refused with 0A000 before pgrx's wrapper (`$inner`, from
/// `#[pg_trigger(sql = false)]`) would fail on it with an internal error.
macro_rules! trigger_entry {
    ($entry:ident, $finfo:ident, $inner:ident, $sql:literal) => {
        #[no_mangle]
        #[::pgrx::pg_guard]
        pub unsafe extern "C-unwind" fn $entry(fcinfo: ::pgrx::pg_sys::FunctionCallInfo) -> ::pgrx::pg_sys::Datum {
            $crate::error::require_trigger_call(fcinfo, $sql);
            $inner(fcinfo)
        }

        /// Version-1 calling convention marker.
        #[no_mangle]
        pub extern "C" fn $finfo() -> &'static ::pgrx::pg_sys::Pg_finfo_record {
            const V1: ::pgrx::pg_sys::Pg_finfo_record = ::pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
    };
}

mod anonymize;
mod audit;
mod datum;
mod error;
mod fingerprint;
mod gucs;
mod keyring;
mod privilege;
mod profile;
mod vault;

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    error::suppress_backtraces();
    gucs::register();
    keyring::register_invalidation_callback();
    audit::chain::register_callbacks();
    #[cfg(not(feature = "pg13"))]
    audit::indexes::register_invalidation_callback();
    audit::guard::register_hooks();
    audit::ddl::register_hooks();
    audit::starts::register_launcher();
    vault::record::register_callbacks();
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

/// For the `#[pg_test]`s that expect an error: they check its SQLSTATE, not only its text.
#[cfg(any(test, feature = "pg_test"))]
mod test_support {
    use pgrx::prelude::*;

    /// `SQLSTATE: message` of the error `query` raises, or `ok`. The statement runs in a
    /// PL/pgSQL block whose exception handler rolls back to just before it, so the test's
    /// transaction goes on.
    pub(crate) fn outcome(query: &str) -> String {
        Spi::run(
            "CREATE OR REPLACE FUNCTION pg_temp.warden_test_outcome(query text) RETURNS text LANGUAGE plpgsql AS $$ \
             BEGIN EXECUTE query; RETURN 'ok'; \
             EXCEPTION WHEN others THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$",
        )
        .unwrap();
        Spi::get_one_with_args::<String>("SELECT pg_temp.warden_test_outcome($1)", &[query.into()]).unwrap().unwrap()
    }
}
