//! `get_secret`'s lookup, read straight from the vault's indexes and heaps.
//!
//! A read needs one row of `warden.secret` (by reference or by tenant and name), one of
//! `warden.secret_version`, the secret's grantees in `warden.secret_grant` and the row
//! of `warden.vault_state`. Through SPI, even with a kept plan, starting and ending the
//! executor for that join cost about as much as the ledger entry the read writes. Here
//! each is one index scan (or, for the one-row state, a heap scan) under one snapshot,
//! taken as SPI takes one for a statement of a volatile function: after a command
//! counter increment, so a secret made earlier in the same statement is seen, and the
//! rows and the state always come from the same snapshot (`rewrap_vault` changes both in
//! one transaction). Nothing the caller names is resolved here: the relations are
//! pg_warden's own, found by name in the schema `warden`, and the keys are values.

use std::ffi::CStr;

use pgrx::datum::{FromDatum, Uuid};
use pgrx::pg_sys;
use pgrx::IntoDatum;

use super::State;
use crate::error::WardenError;

/// How a secret is asked for.
pub(super) enum Lookup<'a> {
    Reference(Uuid, Option<i32>),
    Name(&'a str, Option<&'a str>),
}

/// What a read finds: the secret, the version asked for, whether the caller may read
/// it, and the vault's state (in the same snapshot as the rows). The version's row is
/// read only for a caller who may read the secret.
pub(super) struct Fetched {
    pub(super) reference: Uuid,
    pub(super) tenant: Option<String>,
    pub(super) name: String,
    pub(super) wrapped_key: Vec<u8>,
    pub(super) version: i32,
    pub(super) ciphertext: Option<Vec<u8>>,
    pub(super) expires_at: Option<i64>,
    pub(super) granted: bool,
    pub(super) state: Option<State>,
}

/// A relation of the schema `warden`, opened with AccessShareLock for one lookup.
struct Opened(pg_sys::Relation);

impl Opened {
    unsafe fn table(namespace: pg_sys::Oid, name: &CStr) -> Result<Opened, WardenError> {
        let oid = unsafe { relation_oid(namespace, name)? };
        Ok(Opened(unsafe { pg_sys::table_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) }))
    }

    unsafe fn index(namespace: pg_sys::Oid, name: &CStr) -> Result<Opened, WardenError> {
        let oid = unsafe { relation_oid(namespace, name)? };
        Ok(Opened(unsafe { pg_sys::index_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) }))
    }

    /// The attribute number of column `name` (pg_warden's own columns always exist).
    unsafe fn column(&self, name: &CStr) -> Result<i16, WardenError> {
        let attnum = unsafe { pg_sys::get_attnum((*self.0).rd_id, name.as_ptr()) };
        if attnum <= 0 {
            return Err(WardenError::Internal(format!("warden vault table lacks column {}", name.to_string_lossy())));
        }
        Ok(attnum)
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        // The lock is kept to the end of the transaction, as a query's would be.
        unsafe { pg_sys::relation_close(self.0, pg_sys::NoLock as pg_sys::LOCKMODE) };
    }
}

unsafe fn relation_oid(namespace: pg_sys::Oid, name: &CStr) -> Result<pg_sys::Oid, WardenError> {
    let oid = unsafe { pg_sys::get_relname_relid(name.as_ptr(), namespace) };
    if oid == pg_sys::InvalidOid {
        return Err(WardenError::Internal(format!("relation warden.{} is missing", name.to_string_lossy())));
    }
    Ok(oid)
}

/// One equality key of an index scan: the index column, the equality function of its
/// type, the value.
struct Key {
    column: i16,
    equal: pg_sys::RegProcedure,
    value: pg_sys::Datum,
}

/// The row a scan stands on, read column by column into Rust values (which own their
/// bytes: the slot's buffer pin does not outlive the scan).
struct Current(*mut pg_sys::TupleTableSlot);

impl Current {
    /// Column `attnum`, NULL as `None`.
    unsafe fn get<T: FromDatum>(&self, attnum: i16) -> Option<T> {
        unsafe {
            let mut isnull = false;
            let datum = pg_sys::slot_getattr(self.0, attnum as i32, &mut isnull);
            if isnull {
                None
            } else {
                T::from_datum(datum, false)
            }
        }
    }
}

/// What `read` takes from each row of `table` the btree `index` finds for `keys` under
/// `snapshot`, at most `limit` rows.
unsafe fn scan<T>(
    table: &Opened,
    index: &Opened,
    snapshot: pg_sys::Snapshot,
    keys: &[Key],
    limit: usize,
    mut read: impl FnMut(&Current) -> T,
) -> Vec<T> {
    unsafe {
        let mut scankeys: Vec<pg_sys::ScanKeyData> = Vec::with_capacity(keys.len());
        for key in keys {
            let mut scankey = std::mem::zeroed::<pg_sys::ScanKeyData>();
            let collation = *(*index.0).rd_indcollation.add((key.column - 1) as usize);
            pg_sys::ScanKeyEntryInitialize(
                &mut scankey,
                0,
                key.column,
                pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                pg_sys::InvalidOid,
                collation,
                key.equal,
                key.value,
            );
            scankeys.push(scankey);
        }
        let slot = pg_sys::table_slot_create(table.0, std::ptr::null_mut());
        let desc = pg_sys::index_beginscan(table.0, index.0, snapshot, keys.len() as i32, 0);
        pg_sys::index_rescan(desc, scankeys.as_mut_ptr(), keys.len() as i32, std::ptr::null_mut(), 0);
        let mut rows = Vec::new();
        while rows.len() < limit && pg_sys::index_getnext_slot(desc, pg_sys::ScanDirection::ForwardScanDirection, slot)
        {
            rows.push(read(&Current(slot)));
        }
        pg_sys::index_endscan(desc);
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        rows
    }
}

/// Finds the secret `lookup` names; `may_read` tells from the roles it is granted to
/// whether the caller may read it. It runs with the caller's own rights: opening and
/// scanning relations directly checks no table privilege, no name goes through the
/// search path, and the only functions called are the built-in comparisons of the
/// indexes' default operator classes, so no switch to the extension owner (and no
/// pinned search path) is needed. Everything PostgreSQL allocates (detoasted values,
/// scan state) goes into a memory context of its own, deleted before returning: the
/// results are Rust values.
pub(super) fn fetch(
    lookup: &Lookup<'_>,
    may_read: impl Fn(&[pg_sys::Oid]) -> bool,
) -> Result<Option<Fetched>, WardenError> {
    let mut context = pgrx::PgMemoryContexts::new("pg_warden vault lookup");
    let found = unsafe { context.switch_to(|_| fetch_unchecked(lookup, &may_read)) };
    drop(context);
    found
}

unsafe fn fetch_unchecked(
    lookup: &Lookup<'_>,
    may_read: &dyn Fn(&[pg_sys::Oid]) -> bool,
) -> Result<Option<Fetched>, WardenError> {
    unsafe {
        let namespace = pg_sys::get_namespace_oid(c"warden".as_ptr(), false);
        pg_sys::CommandCounterIncrement();
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot());
        let found = fetch_in(namespace, snapshot, lookup, may_read);
        pg_sys::UnregisterSnapshot(snapshot);
        found
    }
}

/// The secret row: (reference, tenant, name, wrapped key, active version).
type SecretRow = (Option<Uuid>, Option<String>, Option<String>, Option<Vec<u8>>, Option<i32>);

unsafe fn fetch_in(
    namespace: pg_sys::Oid,
    snapshot: pg_sys::Snapshot,
    lookup: &Lookup<'_>,
    may_read: &dyn Fn(&[pg_sys::Oid]) -> bool,
) -> Result<Option<Fetched>, WardenError> {
    unsafe {
        let secret = Opened::table(namespace, c"secret")?;
        let columns = [
            secret.column(c"secret_ref")?,
            secret.column(c"tenant")?,
            secret.column(c"name")?,
            secret.column(c"wrapped_key")?,
            secret.column(c"active_version")?,
        ];
        let read_secret = |row: &Current| -> SecretRow {
            (row.get(columns[0]), row.get(columns[1]), row.get(columns[2]), row.get(columns[3]), row.get(columns[4]))
        };
        let mut rows = match lookup {
            Lookup::Reference(reference, _) => {
                let index = Opened::index(namespace, c"secret_pkey")?;
                let key = Key { column: 1, equal: pg_sys::Oid::from(pg_sys::F_UUID_EQ), value: datum(*reference) };
                scan(&secret, &index, snapshot, &[key], 1, read_secret)
            }
            Lookup::Name(name, tenant) => {
                // The unique index on (COALESCE(tenant, ''), name).
                let index = Opened::index(namespace, c"secret_tenant_name")?;
                let keys = [
                    Key { column: 1, equal: pg_sys::Oid::from(pg_sys::F_TEXTEQ), value: datum(tenant.unwrap_or("")) },
                    Key { column: 2, equal: pg_sys::Oid::from(pg_sys::F_TEXTEQ), value: datum(*name) },
                ];
                scan(&secret, &index, snapshot, &keys, 1, read_secret)
            }
        };
        let Some((Some(reference), tenant, name, wrapped_key, active_version)) = rows.pop() else {
            return Ok(None);
        };
        // The row is the one asked for (the index is trusted for where to look only).
        let matches = match lookup {
            Lookup::Reference(asked, _) => reference == *asked,
            Lookup::Name(asked, asked_tenant) => name.as_deref() == Some(*asked) && tenant.as_deref() == *asked_tenant,
        };
        if !matches {
            return Err(WardenError::Tampered("the vault's index found a secret other than the one asked for".into()));
        }
        let version = match lookup {
            Lookup::Reference(_, Some(version)) => *version,
            _ => active_version.unwrap_or(0),
        };

        // Grantees as role oids, looked up from the raw name (no re-encoding).
        let grants = Opened::table(namespace, c"secret_grant")?;
        let grant_index = Opened::index(namespace, c"secret_grant_pkey")?;
        let key = Key { column: 1, equal: pg_sys::Oid::from(pg_sys::F_UUID_EQ), value: datum(reference) };
        let grantee = grants.column(c"grantee")?;
        let roles: Vec<pg_sys::Oid> = scan(&grants, &grant_index, snapshot, &[key], usize::MAX, |row| {
            row.get::<pg_sys::Datum>(grantee).map(|name| role_of(name))
        })
        .into_iter()
        .flatten()
        .filter(|&role| role != pg_sys::InvalidOid)
        .collect();
        let granted = may_read(&roles);

        // The version's row (and its ciphertext) only for a caller who may read it.
        let mut found_version = None;
        if granted {
            let versions = Opened::table(namespace, c"secret_version")?;
            let version_index = Opened::index(namespace, c"secret_version_pkey")?;
            let keys = [
                Key { column: 1, equal: pg_sys::Oid::from(pg_sys::F_UUID_EQ), value: datum(reference) },
                Key { column: 2, equal: pg_sys::Oid::from(pg_sys::F_INT4EQ), value: datum(version) },
            ];
            let (row_ref, row_version) = (versions.column(c"secret_ref")?, versions.column(c"version")?);
            let (ciphertext, expires_at) = (versions.column(c"ciphertext")?, versions.column(c"expires_at")?);
            // timestamptz: microseconds since 2000-01-01, passed by value.
            found_version = scan(&versions, &version_index, snapshot, &keys, 1, |row| {
                let found = row.get::<Uuid>(row_ref) == Some(reference) && row.get::<i32>(row_version) == Some(version);
                found.then(|| (row.get::<Vec<u8>>(ciphertext), row.get::<i64>(expires_at)))
            })
            .pop()
            .flatten();
        }

        let (ciphertext, expires_at) = found_version.unwrap_or((None, None));
        Ok(Some(Fetched {
            reference,
            tenant,
            name: name.unwrap_or_default(),
            wrapped_key: wrapped_key.unwrap_or_default(),
            version,
            ciphertext,
            expires_at,
            granted,
            state: vault_state(namespace, snapshot)?,
        }))
    }
}

/// The one row of `warden.vault_state`, if the vault has been used.
unsafe fn vault_state(namespace: pg_sys::Oid, snapshot: pg_sys::Snapshot) -> Result<Option<State>, WardenError> {
    unsafe {
        let table = Opened::table(namespace, c"vault_state")?;
        let (check_value, kdf) = (table.column(c"check_value")?, table.column(c"kdf")?);
        let slot = pg_sys::table_slot_create(table.0, std::ptr::null_mut());
        let desc = pg_sys::table_beginscan(table.0, snapshot, 0, std::ptr::null_mut());
        let row = pg_sys::table_scan_getnextslot(desc, pg_sys::ScanDirection::ForwardScanDirection, slot).then(|| {
            let row = Current(slot);
            (row.get::<Vec<u8>>(check_value), row.get::<String>(kdf))
        });
        pg_sys::table_endscan(desc);
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        Ok(row.and_then(|(check_value, kdf)| State::from_row(check_value, kdf)))
    }
}

fn datum<T: IntoDatum>(value: T) -> pg_sys::Datum {
    value.into_datum().expect("a value, not NULL")
}

/// The role a `name` datum names, `InvalidOid` if there is none.
unsafe fn role_of(name: pg_sys::Datum) -> pg_sys::Oid {
    unsafe { pg_sys::get_role_oid(name.cast_mut_ptr::<std::ffi::c_char>(), true) }
}
