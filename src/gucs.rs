//! pg_warden's settings, registered from `_PG_init`. None of them holds key material:
//! keys live in the keyring, never in a setting that `ALTER DATABASE SET` or
//! `pg_settings` would show.

use std::ffi::CString;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// `warden.audit_key`: the keyring key that signs new audit ledger entries. Superuser
/// only (SUSET), so no session can sign its entries with a key of its choosing.
pub(crate) static AUDIT_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"audit"));

/// `warden.audit_chains`: how many chains the ledger spreads concurrent writers over
/// before it opens more (one per concurrently logging backend at most).
pub(crate) static AUDIT_CHAINS: GucSetting<i32> = GucSetting::<i32>::new(16);

/// `warden.restore_mode`: while on, the chain trigger stores ledger rows exactly as
/// given instead of chaining them, so `pg_restore` can reload a dumped ledger with its
/// original chain material. Superuser only; verification afterwards proves the rows.
pub(crate) static RESTORE_MODE: GucSetting<bool> = GucSetting::<bool>::new(false);

/// `warden.allow_drop_extension`: while off (the default), `DROP EXTENSION pg_warden`
/// (and `DROP SCHEMA warden CASCADE`, `DROP OWNED`) is refused while the ledger, its
/// checkpoints or the keyring hold anything. Superuser only.
pub(crate) static ALLOW_DROP_EXTENSION: GucSetting<bool> = GucSetting::<bool>::new(false);

/// `warden.parallel_verify_min_entries`: a full `verify_audit` of a ledger holding at
/// least this many entries reads it with parallel workers (up to
/// `max_parallel_workers_per_gather`); smaller ledgers are read by one process.
pub(crate) static PARALLEL_VERIFY_MIN_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(100_000);

pub(crate) fn register() {
    GucRegistry::define_int_guc(
        c"warden.parallel_verify_min_entries",
        c"Ledger size from which a full verify_audit reads with parallel workers.",
        c"Up to max_parallel_workers_per_gather workers join the verifying backend; 0 there reads serially.",
        &PARALLEL_VERIFY_MIN_ENTRIES,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"warden.allow_drop_extension",
        c"Allow DROP EXTENSION pg_warden while the audit ledger or the keyring holds data.",
        c"Dropping the extension destroys every ledger entry and every key; export the ledger and escrow the keys first.",
        &ALLOW_DROP_EXTENSION,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"warden.restore_mode",
        c"Store audit ledger rows as given, for pg_restore of a dumped ledger.",
        c"Rows keep the chain material they were dumped with; run warden.verify_audit() after restoring.",
        &RESTORE_MODE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"warden.audit_key",
        c"Keyring key that signs new audit ledger entries.",
        c"Entries record the key name and version they were signed with; rotating this key never invalidates older entries.",
        &AUDIT_KEY,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"warden.audit_chains",
        c"Number of audit chains concurrent writers start on.",
        c"Each backend leases one chain for its lifetime; more backends than this open further chains.",
        &AUDIT_CHAINS,
        1,
        4096,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// The audit key's name ("audit" unless configured).
pub(crate) fn audit_key_name() -> String {
    AUDIT_KEY.get().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| "audit".to_owned())
}
