//! Server starts in the ledger: with `shared_preload_libraries = 'pg_warden'`, every
//! start of the server writes a `server_start` entry into the ledger of every database
//! that has pg_warden (and an audit key), so each server lifetime shows in the ledger and
//! one that ran without pg_warden preloaded shows as the gap between two recorded starts.
//!
//! A launcher worker, registered at preload and started once recovery has finished,
//! reads `pg_database` (it connects to no database) and starts one short-lived worker per
//! database that accepts connections. That worker connects to its database as the
//! bootstrap superuser, and writes the entry through the one privileged append when
//! pg_warden is installed there; a database without pg_warden is left as it is. A start
//! is not recorded on a standby (which cannot write) and a stop is never recorded: a
//! server that stops cannot be relied on to write anything.

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::prelude::*;

use super::chain::{append_own, OwnEvent};

/// Set in the postmaster when it preloads pg_warden; every backend it forks inherits it.
static PRELOADED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `warden.audit_preloaded()`: whether this server loaded pg_warden through
/// `shared_preload_libraries` (which only superusers may read), for `audit_coverage`.
#[pg_extern(stable, parallel_safe)]
fn audit_preloaded() -> bool {
    audit_preloaded_now()
}

pub(crate) fn audit_preloaded_now() -> bool {
    PRELOADED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Registers the launcher when pg_warden is being preloaded; called from `_PG_init`.
pub(crate) fn register_launcher() {
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    PRELOADED.store(true, std::sync::atomic::Ordering::Relaxed);
    BackgroundWorkerBuilder::new("pg_warden start recorder")
        .set_type("pg_warden start recorder")
        .set_library("pg_warden")
        .set_function("warden_start_launcher")
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        .enable_spi_access()
        .load();
}

/// The launcher: one recorder per database that accepts connections.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn warden_start_launcher(_arg: pg_sys::Datum) {
    BackgroundWorker::connect_worker_to_spi(None, None);
    let databases = BackgroundWorker::transaction(|| unsafe { databases() });
    for database in databases {
        let builder = BackgroundWorkerBuilder::new("pg_warden start recorder")
            .set_type("pg_warden start recorder")
            .set_library("pg_warden")
            .set_function("warden_start_recorder")
            .set_start_time(BgWorkerStartTime::RecoveryFinished)
            .set_restart_time(None)
            .set_argument(Some(pg_sys::Datum::from(database.to_u32())))
            .enable_spi_access();
        if builder.load_dynamic().is_err() {
            pgrx::warning!(
                "pg_warden: no background worker slot to record this server start in database {}",
                database.to_u32()
            );
        }
    }
}

/// The databases that accept connections (templates left out), read from the shared
/// catalog as the autovacuum launcher reads it.
unsafe fn databases() -> Vec<pg_sys::Oid> {
    unsafe {
        let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
        let mut found = Vec::new();
        loop {
            let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tuple.is_null() {
                break;
            }
            let form = pg_sys::GETSTRUCT(tuple) as *const pg_sys::FormData_pg_database;
            if (*form).datallowconn && !(*form).datistemplate {
                found.push((*form).oid);
            }
        }
        pg_sys::table_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        found
    }
}

/// One database's recorder: the `server_start` entry when pg_warden is installed.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn warden_start_recorder(arg: pg_sys::Datum) {
    let database = pg_sys::Oid::from(arg.value() as u32);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(database), None);
    BackgroundWorker::transaction(|| {
        let installed = unsafe { pg_sys::get_extension_oid(c"pg_warden".as_ptr(), true) != pg_sys::InvalidOid };
        if !installed || super::SigningKey::active().is_err() {
            return;
        }
        let started = unsafe { pg_sys::PgStartTime };
        let started_at = super::timestamptz(started).map(|t| t.to_iso_string()).unwrap_or_default();
        let version =
            unsafe { std::ffi::CStr::from_ptr(pg_sys::GetConfigOption(c"server_version".as_ptr(), true, false)) }
                .to_string_lossy()
                .into_owned();
        let written = append_own(&OwnEvent {
            event_type: "server_start",
            action: "START",
            resource_type: "server",
            resource_id: None,
            tenant: None,
            actor: None,
            details: serde_json::json!({ "started_at": started_at, "server_version": version }),
        });
        if let Err(error) = written {
            error.raise();
        }
    });
}
