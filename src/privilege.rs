//! Privilege switches: whose rights pg_warden's own SQL runs with, and who may call its
//! administrative functions.
//!
//! Code that runs with another role's rights never reaches anything a caller defines:
//! every switch pins `search_path` ([`PRIVILEGED_SEARCH_PATH`]) and runs as a
//! security-restricted operation, and the queries run this way qualify every name. Each
//! switch takes a closure that returns a `Result` and returns that result, its error
//! converted to a [`WardenError`] (SPI's errors and pg_warden's own alike).

use std::ffi::CStr;

use pgrx::prelude::*;

use crate::error::WardenError;

/// Role whose members may manage keys, verify, export and purge the ledger and apply
/// anonymization profiles.
const ADMIN_ROLE: &CStr = c"warden_admin";

/// The search path code runs under while it has another role's rights: the catalog
/// first and the session's temporary schema last, so no temporary relation or type (a
/// `pg_temp.jsonb` domain, a temp table named `pg_class`) can stand in for a system one.
/// Functions and operators are never looked up in `pg_temp`.
const PRIVILEGED_SEARCH_PATH: &CStr = c"pg_catalog, pg_temp";

/// Runs `f` with `search_path` pinned to [`PRIVILEGED_SEARCH_PATH`] for its duration (as
/// a function's `SET search_path` clause would), with the caller's own rights: for
/// pg_warden's SQL that runs as the caller (the capture DDL of `audit_table`), so no name
/// it uses can be a temporary object of the session's.
pub(crate) fn with_pinned_search_path<T, E>(f: impl FnOnce() -> Result<T, E>) -> Result<T, WardenError>
where
    WardenError: From<E>,
{
    Ok(with_setting(c"search_path", PRIVILEGED_SEARCH_PATH, f)?)
}

/// Runs `f` with the setting `name` at `value` for its duration, as a function's `SET`
/// clause would; an error inside `f` restores it with the (sub)transaction's abort.
///
/// It works in parallel mode too (a parallel verification's workers, or a parallel
/// query's calling a PARALLEL SAFE function): a saved, function-scoped setting is what
/// PostgreSQL allows there, as for a function's own `SET` clause.
pub(crate) fn with_setting<T>(name: &CStr, value: &CStr, f: impl FnOnce() -> T) -> T {
    let nest_level = unsafe {
        let level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        level
    };
    let result = f();
    unsafe { pg_sys::AtEOXact_GUC(true, nest_level) };
    result
}

/// Runs `f` as `user` in a security-restricted operation (as PostgreSQL runs maintenance
/// commands as a table's owner), with `search_path` pinned as by
/// [`with_pinned_search_path`]. An error raised inside `f` aborts the (sub)transaction,
/// which restores the caller's user id and settings on its own; one `f` returns is
/// returned after they are restored here.
pub(crate) fn as_user<T, E>(user: pg_sys::Oid, f: impl FnOnce() -> Result<T, E>) -> Result<T, WardenError>
where
    WardenError: From<E>,
{
    with_pinned_search_path(|| {
        let mut saved_user = pg_sys::InvalidOid;
        let mut saved_context: std::ffi::c_int = 0;
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
            pg_sys::SetUserIdAndSecContext(
                user,
                saved_context
                    | pg_sys::SECURITY_LOCAL_USERID_CHANGE as std::ffi::c_int
                    | pg_sys::SECURITY_RESTRICTED_OPERATION as std::ffi::c_int,
            );
        }
        let result = f();
        unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_context) };
        result
    })
}

/// Runs `f` with the privileges of the extension's owner (the owner of
/// `warden.key_store`, [`store_owner`]): for pg_warden's own catalog
/// queries on behalf of roles that may use, but not read, its tables. Queries run this
/// way qualify every operator and function with `pg_catalog`, so no search_path can slip
/// user code into them.
pub(crate) fn as_extension_owner<T, E>(f: impl FnOnce() -> Result<T, E>) -> Result<T, WardenError>
where
    WardenError: From<E>,
{
    as_user(store_owner()?, f)
}

/// Role whose members may manage vault secrets (but read only those granted to them).
const SECRET_ADMIN_ROLE: &CStr = c"warden_secret_admin";

/// Whether the current user is a superuser or has the privileges of `role`.
fn superuser_or_has_privs_of(role: &CStr) -> bool {
    unsafe {
        if pg_sys::superuser() {
            return true;
        }
        let role = pg_sys::get_role_oid(role.as_ptr(), true);
        role != pg_sys::InvalidOid && pg_sys::has_privs_of_role(pg_sys::GetUserId(), role)
    }
}

thread_local! {
    /// (oid of warden.key_store, its owner), looked up once per backend.
    static STORE: std::cell::Cell<Option<(pg_sys::Oid, pg_sys::Oid)>> = const { std::cell::Cell::new(None) };
}

/// The owner of `warden.key_store`, the extension's owner, whose rights
/// [`as_extension_owner`] runs with.
pub(crate) fn store_owner() -> Result<pg_sys::Oid, WardenError> {
    Ok(store_ids()?.1)
}

/// The extension owner if this backend has looked it up already, without a query: for
/// code that runs where no query may (transaction abort).
pub(crate) fn cached_store_owner() -> Option<pg_sys::Oid> {
    cached_store().map(|(_, owner)| owner)
}

/// (oid of `warden.key_store`, its owner) if looked up already.
pub(crate) fn cached_store() -> Option<(pg_sys::Oid, pg_sys::Oid)> {
    STORE.with(|s| s.get())
}

/// Forgets the owner lookup: `warden.key_store` changed (the keyring's invalidation).
pub(crate) fn forget_store() {
    STORE.with(|s| s.set(None));
}

fn store_ids() -> Result<(pg_sys::Oid, pg_sys::Oid), WardenError> {
    if let Some(ids) = STORE.with(|s| s.get()) {
        return Ok(ids);
    }
    // A read-only query: parallel workers load keys too, and may not write. It returns one
    // row even when the table is gone, so that case gets its own message.
    let (table, owner) = Spi::connect(|client| {
        client
            .select(
                "SELECT c.oid, c.relowner FROM (SELECT pg_catalog.to_regclass('warden.key_store') AS store) s \
                 LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.store",
                Some(1),
                &[],
            )?
            .first()
            .get_two::<pg_sys::Oid, pg_sys::Oid>()
    })?;
    match (table, owner) {
        (Some(table), Some(owner)) => {
            STORE.with(|s| s.set(Some((table, owner))));
            Ok((table, owner))
        }
        _ => Err(WardenError::Internal("table warden.key_store is missing".into())),
    }
}

/// Whether the current user is a superuser or has the privileges of `warden_admin`.
pub(crate) fn is_admin() -> bool {
    superuser_or_has_privs_of(ADMIN_ROLE)
}

/// Raises 42501 unless the current user is a superuser or has the privileges of
/// `warden_admin`. Checked inside the function so that an EXECUTE grant is not enough.
pub(crate) fn require_admin(action: &'static str) -> Result<(), WardenError> {
    if is_admin() {
        Ok(())
    } else {
        Err(WardenError::NotAdmin(action))
    }
}

/// Raises 42501 unless the current user is a superuser or has the privileges of
/// `warden_secret_admin`.
pub(crate) fn require_secret_admin(action: &'static str) -> Result<(), WardenError> {
    if is_secret_admin() {
        Ok(())
    } else {
        Err(WardenError::NotSecretAdmin(action))
    }
}

/// Whether the current user may manage secrets.
pub(crate) fn is_secret_admin() -> bool {
    superuser_or_has_privs_of(SECRET_ADMIN_ROLE)
}
