//! Writing the ledger: `warden.log_event`, chain leases, the BEFORE INSERT trigger that
//! links and signs each entry, and the append-only guard.
//!
//! # Why chains are leased per session
//!
//! A single chain head locked until commit serializes every writer across its WAL flush
//! and defeats group commit (0.16–0.22× a plain insert at 8 clients). Instead each
//! backend leases a chain of its own for as long as it lives, with a session-level
//! advisory lock on (ledger table, chain id): no other backend appends to that chain, so
//! the head can be kept in backend memory and no lock is taken per entry. Chains are
//! numbered from 1; a backend tries `pid % warden.audit_chains + 1` first and walks on to
//! the next free number, so there are as many chains as backends that ever logged at the
//! same time.
//!
//! On lease, the head is read with a fresh snapshot (`GetLatestSnapshot`), so entries the
//! previous holder committed are seen even in a REPEATABLE READ transaction that started
//! before. The unique index on (chain_id, chain_pos) stays the last line of defence
//! against a fork.
//!
//! The in-memory head advances as the trigger links entries and goes back when a
//! transaction or subtransaction that wrote them aborts, so positions never skip. A
//! transaction that wrote entries cannot be prepared (two-phase commit): its entries
//! would commit after the session, and its lease, could be gone.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;

use std::convert::Infallible;

use pgrx::prelude::*;
use pgrx::PgTupleDesc;
use warden_core::ledger::{self, ChainHead, Column, EntryContent, EntryHasher};
use warden_core::mac::KeyedMac;
use warden_core::{json, secrets};

use crate::datum::varlena_bytes;
use crate::error::{SqlResult, WardenError};
use crate::{gucs, privilege};

/// First key of the ledger's advisory locks ("ward"); the second is the chain id.
pub(super) const LEASE_LOCK_CLASS: i32 = 0x7761_7264;
/// Chain ids a backend may try before giving up: far more than max_connections allows.
const MAX_CHAIN_ID: i32 = 100_000;

struct Lease {
    table: pg_sys::Oid,
    chain_id: i32,
    head: ChainHead,
    /// Set when an abort rewound the head: the rewound value is re-read from the table
    /// before the next entry, so an entry another backend committed at that position (a
    /// unique violation on (chain_id, chain_pos) was the abort's cause) is linked to,
    /// never collided with again.
    stale: bool,
}

thread_local! {
    static LEASE: RefCell<Option<Lease>> = const { RefCell::new(None) };
    /// Heads to go back to: (subtransaction that advanced the head, head before it).
    static UNDO: RefCell<Vec<(pg_sys::SubTransactionId, ChainHead)>> = const { RefCell::new(Vec::new()) };
    static HASHER: RefCell<EntryHasher> = RefCell::new(EntryHasher::new());
    /// Set only by purge_audit while it deletes behind a checkpoint, and by the
    /// redaction functions while they erase fields.
    static REWRITING: Cell<Option<Rewrite>> = const { Cell::new(None) };
    /// Set while [`append`] inserts through SPI: the chain trigger then knows the row is
    /// pg_warden's own and may carry one of its [`RESERVED_EVENT_TYPES`].
    static OWN_WRITE: Cell<bool> = const { Cell::new(false) };
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        // Entries on a chain whose lease is gone could commit beside another
        // backend's: refuse to commit them.
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PARALLEL_PRE_COMMIT
            if UNDO.with(|u| !u.borrow().is_empty()) && !lease_still_held() =>
        {
            lease_lost().raise();
        }
        XACT_EVENT_PRE_PREPARE if UNDO.with(|u| !u.borrow().is_empty()) => {
            WardenError::NotSupported {
                message: "cannot PREPARE a transaction that wrote audit ledger entries".into(),
                hint: "Log audit events outside two-phase transactions.".into(),
            }
            .raise();
        }
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
            rewind_to(0);
            #[cfg(not(feature = "pg13"))]
            super::indexes::forget();
            REWRITING.set(None);
        }
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_PREPARE => {
            UNDO.with(|u| u.borrow_mut().clear());
            REWRITING.set(None);
        }
        _ => {}
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact_event(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        rewind_to(my_subid);
        #[cfg(not(feature = "pg13"))]
        super::indexes::forget();
        // purge_audit or a redaction failed inside this subtransaction: its permission
        // ends with it (while_rewriting's reset also runs when the error unwinds).
        REWRITING.set(None);
    }
}

/// Undoes every head advance made in subtransaction `subid` or a later one (0: all).
/// Subtransaction ids grow within a transaction, so later ids are its children.
fn rewind_to(subid: pg_sys::SubTransactionId) {
    let restored = UNDO.with(|u| {
        let mut undo = u.borrow_mut();
        let first = undo.iter().position(|(s, _)| *s >= subid)?;
        let head = undo[first].1;
        undo.truncate(first);
        Some(head)
    });
    if let Some(head) = restored {
        LEASE.with(|l| {
            if let Some(lease) = l.borrow_mut().as_mut() {
                lease.head = head;
                lease.stale = true;
            }
        });
    }
}

/// The advisory lock that leases `chain_id` (session level, as `pg_try_advisory_lock`
/// takes it: database, class, chain id).
fn lease_lock_tag(chain_id: i32) -> pg_sys::LOCKTAG {
    pg_sys::LOCKTAG {
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: LEASE_LOCK_CLASS as u32,
        locktag_field3: chain_id as u32,
        locktag_field4: 2,
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
    }
}

unsafe extern "C-unwind" {
    // lock.h; not in pgrx's bindings. A lookup in the backend's local lock table.
    #[cfg(not(any(feature = "pg17", feature = "pg18")))]
    fn LockHeldByMe(locktag: *const pg_sys::LOCKTAG, lockmode: pg_sys::LOCKMODE) -> bool;
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    fn LockHeldByMe(locktag: *const pg_sys::LOCKTAG, lockmode: pg_sys::LOCKMODE, orstronger: bool) -> bool;
}

/// Whether this backend still holds the lock that leases `chain_id`. It can lose it
/// without pg_warden knowing: `pg_advisory_unlock_all()`, or `DISCARD ALL`, which every
/// connection pooler sends when it hands the connection to another client.
fn lock_held(chain_id: i32) -> bool {
    let tag = lease_lock_tag(chain_id);
    let mode = pg_sys::ExclusiveLock as pg_sys::LOCKMODE;
    #[cfg(not(any(feature = "pg17", feature = "pg18")))]
    let held = unsafe { LockHeldByMe(&tag, mode) };
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    let held = unsafe { LockHeldByMe(&tag, mode, false) };
    held
}

fn lease_still_held() -> bool {
    LEASE.with(|l| l.borrow().as_ref().is_none_or(|lease| lock_held(lease.chain_id)))
}

fn lease_lost() -> WardenError {
    WardenError::NotInState {
        message: "this session lost its audit chain lease while its transaction had ledger entries on it".into(),
        hint: "Do not release pg_warden's advisory locks (pg_advisory_unlock_all) inside a transaction that logs; retry the transaction.".into(),
    }
}

/// Registers the transaction callbacks; called once from `_PG_init`.
pub(crate) fn register_callbacks() {
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
    }
}

/// The one change to ledger rows pg_warden makes itself, while it makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// purge_audit deletes entries behind a checkpoint.
    Purge,
    /// redact_audit or erase_subject set redacted fields to NULL and update the seals.
    Redact,
}

/// The rewrite under way, if any.
pub(crate) fn rewriting() -> Option<Rewrite> {
    REWRITING.get()
}

/// Runs `f` with `rewrite` allowed on the ledger; the permission ends when `f` returns
/// or fails, and again at (sub)transaction abort and transaction end, so no error path
/// can leave it set.
pub(crate) fn while_rewriting<R>(rewrite: Rewrite, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            REWRITING.set(None);
        }
    }
    REWRITING.set(Some(rewrite));
    let _reset = Reset;
    f()
}

/// Reads a chain's head with a snapshot taken now.
fn read_head(chain_id: i32) -> Result<ChainHead, WardenError> {
    let query = "SELECT pos, hash FROM ( \
        SELECT chain_pos AS pos, entry_hash AS hash FROM warden.audit_log \
         WHERE chain_id OPERATOR(pg_catalog.=) $1 ORDER BY chain_pos DESC LIMIT 1) e \
        UNION ALL SELECT * FROM ( \
        SELECT chain_pos, entry_hash FROM warden.audit_checkpoint \
         WHERE chain_id OPERATOR(pg_catalog.=) $1 ORDER BY chain_pos DESC LIMIT 1) c \
        ORDER BY pos DESC LIMIT 1";
    let row = privilege::as_extension_owner(|| unsafe {
        pg_sys::PushActiveSnapshot(pg_sys::GetLatestSnapshot());
        let row = Spi::connect(|client| {
            let table = client.select(query, Some(1), &[chain_id.into()])?;
            if table.is_empty() {
                return Ok((None, None));
            }
            table.first().get_two::<i64, Vec<u8>>()
        });
        pg_sys::PopActiveSnapshot();
        row
    })?;
    match row {
        (Some(pos), Some(hash)) => {
            let hash = hash.try_into().map_err(|_| {
                WardenError::LedgerCorrupt(format!("the head of audit chain {chain_id} has a malformed entry_hash"))
            })?;
            Ok(ChainHead { pos, hash })
        }
        _ => Ok(ChainHead::GENESIS),
    }
}

fn try_lock_chain(chain_id: i32) -> Result<bool, WardenError> {
    Spi::connect(|client| {
        client
            .select(
                "SELECT pg_catalog.pg_try_advisory_lock($1, $2)",
                Some(1),
                &[LEASE_LOCK_CLASS.into(), chain_id.into()],
            )?
            .first()
            .get_one::<bool>()
    })
    .map(|locked| locked == Some(true))
    .map_err(WardenError::from)
}

/// The chain this backend appends to and its head, leasing one on first use. The lease
/// is checked on every call: a backend that lost its lock leases a chain again (its
/// own, if nobody took it meanwhile) and re-reads the head.
fn leased_head(table: pg_sys::Oid) -> Result<(i32, ChainHead), WardenError> {
    let cached = LEASE.with(|l| l.borrow().as_ref().map(|l| (l.table, l.chain_id, l.head, l.stale)));
    let held = match cached {
        Some((_, chain_id, _, _)) if !lock_held(chain_id) => {
            if UNDO.with(|u| !u.borrow().is_empty()) {
                return Err(lease_lost());
            }
            LEASE.with(|l| *l.borrow_mut() = None);
            None
        }
        Some((leased_table, chain_id, head, false)) if leased_table == table => return Ok((chain_id, head)),
        // A stale head, or a lease on a ledger that was dropped and recreated: keep the
        // chain number, read the head again.
        Some((_, chain_id, _, _)) => Some(chain_id),
        None => None,
    };
    let chain_id = match held {
        Some(chain_id) => chain_id,
        None => {
            if !unsafe { pg_sys::IsLogicalWorker() } && subscribed(table)? {
                return Err(WardenError::NotInState {
                    message: "warden.audit_log here is a logical replication subscriber's copy of another ledger; \
                              it takes no entries of its own"
                        .into(),
                    hint:
                        "Log on the publisher. Entries written here would collide with the replicated chains and ids."
                            .into(),
                });
            }
            let spread = gucs::AUDIT_CHAINS.get().max(1);
            let preferred = unsafe { pg_sys::MyProcPid }.rem_euclid(spread) + 1;
            let candidates = (preferred..=spread).chain(1..preferred).chain(spread + 1..=MAX_CHAIN_ID);
            let mut leased = None;
            for candidate in candidates {
                if try_lock_chain(candidate)? {
                    leased = Some(candidate);
                    break;
                }
            }
            leased.ok_or_else(|| WardenError::LedgerCorrupt("no audit chain could be leased".into()))?
        }
    };
    let head = read_head(chain_id)?;
    LEASE.with(|l| *l.borrow_mut() = Some(Lease { table, chain_id, head, stale: false }));
    Ok((chain_id, head))
}

/// Whether the ledger table is the target of a logical replication subscription.
pub(super) fn subscribed(table: pg_sys::Oid) -> Result<bool, WardenError> {
    let found = privilege::as_extension_owner(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_subscription_rel WHERE srrelid OPERATOR(pg_catalog.=) $1)",
            &[table.into()],
        )
    })?;
    Ok(found == Some(true))
}

fn advance_head(head: ChainHead, previous: ChainHead) {
    let subid = unsafe { pg_sys::GetCurrentSubTransactionId() };
    UNDO.with(|u| u.borrow_mut().push((subid, previous)));
    LEASE.with(|l| {
        if let Some(lease) = l.borrow_mut().as_mut() {
            lease.head = head;
        }
    });
}

/// Attribute positions (0-based) of warden.audit_log's columns, looked up by name:
/// `positions[column]` is where [`Column`] `column` is in the table's tuple descriptor;
/// `seals` is where `field_seals` is, `None` in a ledger 0.2.0 created (its entries are
/// version 1 until `ALTER EXTENSION pg_warden UPDATE` adds the column).
struct Positions {
    columns: [usize; ledger::COLUMNS.len()],
    seals: Option<usize>,
}

impl std::ops::Index<Column> for Positions {
    type Output = usize;

    fn index(&self, column: Column) -> &usize {
        &self.columns[column.index()]
    }
}

/// The ledger table's oid and attribute count, which its cached [`Positions`] hold for.
type PositionsKey = (pg_sys::Oid, usize);

thread_local! {
    /// Column positions of the ledger table, by its oid and attribute count.
    static POSITIONS: RefCell<Option<(PositionsKey, std::rc::Rc<Positions>)>> = const { RefCell::new(None) };
}

/// Column positions for the ledger table `table`, looked up once per backend (a
/// recreated table has a new oid, and the upgrade that adds `field_seals` a new
/// attribute count: either is looked up again).
fn cached_positions(table: pg_sys::Oid, tupdesc: &PgTupleDesc) -> Result<std::rc::Rc<Positions>, WardenError> {
    let key = (table, tupdesc.len());
    if let Some(cols) =
        POSITIONS.with(|c| c.borrow().as_ref().filter(|(cached, _)| *cached == key).map(|(_, cols)| cols.clone()))
    {
        return Ok(cols);
    }
    let cols = std::rc::Rc::new(positions(tupdesc)?);
    POSITIONS.with(|c| *c.borrow_mut() = Some((key, cols.clone())));
    Ok(cols)
}

fn positions(tupdesc: &PgTupleDesc) -> Result<Positions, WardenError> {
    let position = |name: &str| tupdesc.iter().position(|a| !a.is_dropped() && a.name() == name);
    let mut columns = [0; ledger::COLUMNS.len()];
    for (place, spec) in columns.iter_mut().zip(&ledger::COLUMNS) {
        *place = position(spec.name)
            .ok_or_else(|| WardenError::Internal(format!("warden.audit_log has no column {}", spec.name)))?;
    }
    Ok(Positions { columns, seals: position(ledger::FIELD_SEALS_COLUMN) })
}

/// A deformed ledger tuple: one datum and null flag per attribute, in the table's
/// attribute order (see [`Positions`]).
struct HeapRow {
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
}

impl HeapRow {
    fn empty(natts: usize) -> Self {
        HeapRow { values: vec![pg_sys::Datum::from(0); natts], nulls: vec![true; natts] }
    }

    /// A text column in place (detoasted only when compressed or out of line).
    fn text(&self, col: usize) -> Result<Option<&str>, WardenError> {
        if self.nulls[col] {
            return Ok(None);
        }
        let bytes = unsafe { varlena_bytes(self.values[col]) };
        std::str::from_utf8(bytes).map(Some).map_err(|_| WardenError::invalid("audit entry text is not valid UTF-8"))
    }

    /// A value's text through its type's output function (jsonb_out, numeric_out, ...).
    fn output(&self, col: usize, out: unsafe fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum) -> Option<String> {
        if self.nulls[col] {
            return None;
        }
        let text = unsafe { pgrx::direct_function_call::<&CStr>(out, &[Some(self.values[col])]) }?;
        Some(text.to_string_lossy().into_owned())
    }

    fn set(&mut self, col: usize, value: Option<pg_sys::Datum>) {
        match value {
            Some(datum) => {
                self.values[col] = datum;
                self.nulls[col] = false;
            }
            None => self.nulls[col] = true,
        }
    }
}

fn text_datum(text: &str) -> pg_sys::Datum {
    text.into_datum().unwrap_or(pg_sys::Datum::from(0))
}

fn bytea_datum(bytes: &[u8]) -> pg_sys::Datum {
    bytes.into_datum().unwrap_or(pg_sys::Datum::from(0))
}

/// A jsonb column's text, refused (54001) when nested deeper than the ledger's one depth
/// rule allows, so every entry can be exported and verified offline.
fn jsonb_column_text(row: &HeapRow, cols: &Positions, column: Column) -> Result<Option<String>, WardenError> {
    let Some(text) = row.output(cols[column], pg_sys::jsonb_out) else { return Ok(None) };
    ledger::check_jsonb_depth(column.name(), &text)
        .map_err(|e| WardenError::TooComplex(format!("audit ledger entry refused: {e}")))?;
    Ok(Some(text))
}

/// Replaces secret-named fields of a jsonb column by fingerprints, keeping the datum
/// when it has none. Returns the column's final jsonb text, as hashed.
fn scrub_jsonb(
    row: &mut HeapRow,
    cols: &Positions,
    column: Column,
    key: &KeyedMac,
) -> Result<Option<String>, WardenError> {
    let Some(text) = jsonb_column_text(row, cols, column)? else { return Ok(None) };
    if !secrets::may_contain_secret_names(&text) {
        return Ok(Some(text));
    }
    let mut doc = json::parse(&text)?;
    if secrets::fingerprint_secrets(&mut doc, &mut |bytes| key.fingerprint(bytes)) == 0 {
        return Ok(Some(text));
    }
    let scrubbed = pgrx::JsonB(doc).into_datum();
    row.set(cols[column], scrubbed);
    Ok(row.output(cols[column], pg_sys::jsonb_out))
}

thread_local! {
    /// (session user oid, its name): the session user changes only with SET SESSION
    /// AUTHORIZATION, so the name is looked up again only then.
    static SESSION_USER: RefCell<Option<(pg_sys::Oid, String)>> = const { RefCell::new(None) };
    /// The connection's client address as text; fixed for the backend's life.
    static CLIENT_ADDR: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

fn session_user_name() -> String {
    let oid = unsafe { pg_sys::GetSessionUserId() };
    if let Some(name) = SESSION_USER.with(|s| s.borrow().as_ref().filter(|(o, _)| *o == oid).map(|(_, n)| n.clone())) {
        return name;
    }
    let name = unsafe { CStr::from_ptr(pg_sys::GetUserNameFromId(oid, false)).to_string_lossy().into_owned() };
    SESSION_USER.with(|s| *s.borrow_mut() = Some((oid, name.clone())));
    name
}

fn client_addr_text(addr: Option<pg_sys::Datum>) -> Option<String> {
    if let Some(text) = CLIENT_ADDR.with(|c| c.borrow().clone()) {
        return text;
    }
    let text = addr
        .and_then(|d| unsafe { pgrx::direct_function_call::<&CStr>(pg_sys::inet_out, &[Some(d)]) })
        .map(|t| t.to_string_lossy().into_owned());
    CLIENT_ADDR.with(|c| *c.borrow_mut() = Some(text.clone()));
    text
}

trigger_entry!(
    audit_chain_entry_wrapper,
    pg_finfo_audit_chain_entry_wrapper,
    audit_chain_entry_fired_wrapper,
    "warden.audit_chain_entry()"
);

/// BEFORE INSERT on warden.audit_log: captures session facts, fingerprints secrets,
/// and links and signs the entry on this backend's chain. Errors are raised with their
/// SQLSTATE ([`WardenError::raise`]), never returned: pgrx would report an `Err` as an
/// internal error.
#[pg_trigger(sql = false)]
fn audit_chain_entry_fired<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, Infallible> {
    match CHAIN_FIRING.check(trigger).and_then(|()| chain_entry(trigger)) {
        Ok(tuple) => Ok(Some(tuple)),
        Err(error) => error.raise(),
    }
}

/// How one of pg_warden's trigger functions must be fired. Each is attached by pg_warden
/// itself; anything else (a BEFORE or statement-level capture trigger, the chain trigger
/// on another table) is refused before the function reads the trigger's data.
pub(super) struct Firing {
    pub(super) function: &'static str,
    /// BEFORE (true) or AFTER (false).
    pub(super) before: bool,
    /// Allowed (operation, for each row) pairs; operation as in `TRIGGER_EVENT_OPMASK`.
    pub(super) events: &'static [(u32, bool)],
    /// The tables of schema `warden` it must be on; empty: any table.
    pub(super) relations: &'static [&'static std::ffi::CStr],
    pub(super) how: &'static str,
}

impl Firing {
    pub(super) fn check(&self, trigger: &pgrx::PgTrigger<'_>) -> Result<(), WardenError> {
        let data = trigger.trigger_data();
        let event = data.tg_event;
        let before = event & pg_sys::TRIGGER_EVENT_TIMINGMASK == pg_sys::TRIGGER_EVENT_BEFORE;
        let timing_ok =
            before == self.before && event & pg_sys::TRIGGER_EVENT_TIMINGMASK != pg_sys::TRIGGER_EVENT_INSTEAD;
        let op = event & pg_sys::TRIGGER_EVENT_OPMASK;
        let row = event & pg_sys::TRIGGER_EVENT_ROW != 0;
        let event_ok = self.events.iter().any(|&(o, r)| o == op && r == row);
        // No allocation per row: the relation's namespace and name compared in place.
        let relation_ok = self.relations.is_empty()
            || unsafe {
                let rel = (*data.tg_relation).rd_rel;
                let name = std::ffi::CStr::from_ptr((*rel).relname.data.as_ptr());
                (*rel).relnamespace == pg_sys::get_namespace_oid(c"warden".as_ptr(), true)
                    && self.relations.contains(&name)
            };
        if timing_ok && event_ok && relation_ok {
            return Ok(());
        }
        Err(WardenError::NotSupported {
            message: format!("warden.{}() must be fired {}", self.function, self.how),
            hint: "pg_warden attaches its trigger functions itself; use warden.audit_table to capture a table.".into(),
        })
    }
}

const INSERT: u32 = 0;
const DELETE: u32 = 1;
const UPDATE: u32 = 2;
const TRUNCATE: u32 = 3;

/// `audit_capture`: AFTER INSERT OR UPDATE OR DELETE for each row, AFTER TRUNCATE.
pub(super) const CAPTURE_FIRING: Firing = Firing {
    function: "audit_capture",
    before: false,
    events: &[(INSERT, true), (UPDATE, true), (DELETE, true), (TRUNCATE, false)],
    relations: &[],
    how: "AFTER INSERT, UPDATE or DELETE FOR EACH ROW, or AFTER TRUNCATE, as warden.audit_table attaches it",
};

const CHAIN_FIRING: Firing = Firing {
    function: "audit_chain_entry",
    before: true,
    events: &[(INSERT, true)],
    relations: &[c"audit_log"],
    how: "BEFORE INSERT FOR EACH ROW on warden.audit_log",
};

const GUARD_FIRING: Firing = Firing {
    function: "audit_guard",
    before: true,
    events: &[(UPDATE, false), (DELETE, false), (TRUNCATE, false)],
    relations: &[c"audit_log", c"audit_checkpoint", c"audit_verification", c"audit_ddl_changes"],
    how: "BEFORE UPDATE, DELETE or TRUNCATE FOR EACH STATEMENT on the ledger tables",
};

fn chain_entry<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<PgHeapTuple<'a, pgrx::AllocatedByPostgres>, WardenError> {
    let data = trigger.trigger_data();
    let (table, tupdesc_ptr) = unsafe { ((*data.tg_relation).rd_id, (*data.tg_relation).rd_att) };
    let tupdesc = unsafe { PgTupleDesc::from_pg_unchecked(tupdesc_ptr) };
    let cols = cached_positions(table, &tupdesc)?;
    let mut row = HeapRow::empty(tupdesc.len());
    unsafe {
        pg_sys::heap_deform_tuple(data.tg_trigtuple, tupdesc_ptr, row.values.as_mut_ptr(), row.nulls.as_mut_ptr())
    };
    if gucs::RESTORE_MODE.get() || arrives_complete(&cols, &row) {
        for spec in ledger::COLUMNS.iter().filter(|c| c.sql_type == ledger::SqlType::Jsonb) {
            jsonb_column_text(&row, &cols, spec.column)?;
        }
        keep_sequence_ahead(table, &cols, &row)?;
        return trigger.new().ok_or_else(|| WardenError::Internal("chain trigger fired without a new row".into()));
    }
    // pg_warden's own event types come only from pg_warden: signed by this trigger, a
    // row of a writer granted INSERT (or of a superuser's plain INSERT) would pass for
    // a redaction record or an audit-control entry.
    // One row per grant: an INSERT another trigger or rule makes during pg_warden's own
    // write finds the flag spent.
    if !OWN_WRITE.replace(false) {
        let event_type = row.text(cols[Column::EventType])?;
        if let Some(reserved) = event_type.filter(|t| RESERVED_EVENT_TYPES.contains(t)) {
            return Err(reserved_refusal(reserved, "INSERT"));
        }
    }
    // Ids, like the chain columns, are never taken from the client: an id chosen ahead
    // of the sequence (OVERRIDING SYSTEM VALUE, COPY) would make later entries collide.
    // The transaction id first, as in insert_entry.
    unsafe { pg_sys::GetTopFullTransactionId() };
    row.set(cols[Column::Id], Some(next_id(table, cols[Column::Id])?));
    fill_entry(table, &cols, &mut row)?;
    let tuple =
        unsafe { pg_sys::heap_form_tuple(tupdesc_ptr, row.values.as_ptr().cast_mut(), row.nulls.as_ptr().cast_mut()) };
    Ok(unsafe { PgHeapTuple::from_heap_tuple(tupdesc, tuple) })
}

/// Whether a row is a ledger entry written elsewhere, to be stored exactly as given: it
/// carries its complete chain material and session facts, and comes from a superuser
/// (`psql` or `pg_restore` loading a dump) or from the logical replication apply worker.
/// Trusting them is no weaker than the superuser-only `warden.restore_mode`: such rows
/// are proven by verification, never by how they arrived. Rows from anyone else are
/// chained as new entries whatever they carry.
fn arrives_complete(cols: &Positions, row: &HeapRow) -> bool {
    // The NOT NULL columns the chain trigger would otherwise compute.
    let mut material = ledger::COLUMNS.iter().filter(|c| c.role != ledger::Role::Event && c.not_null);
    material.all(|c| !row.nulls[cols[c.column]]) && unsafe { pg_sys::superuser() || pg_sys::IsLogicalWorker() }
}

/// After storing an entry as given: the identity sequence moves past its id, so the
/// ledger's own later entries never take an id a restored or replicated one has.
fn keep_sequence_ahead(table: pg_sys::Oid, cols: &Positions, row: &HeapRow) -> Result<(), WardenError> {
    if row.nulls[cols[Column::Id]] {
        return Ok(());
    }
    let id = row.values[cols[Column::Id]].value() as i64;
    if AHEAD_OF.get().is_some_and(|(t, ahead)| t == table && ahead >= id) {
        return Ok(());
    }
    privilege::as_extension_owner(|| unsafe {
        let sequence = pg_sys::Datum::from(identity_sequence(table, cols[Column::Id]));
        let last = pgrx::direct_function_call::<i64>(pg_sys::pg_sequence_last_value, &[Some(sequence)]);
        if last.is_none_or(|last| last < id) {
            pgrx::direct_function_call_as_datum(pg_sys::setval_oid, &[Some(sequence), Some(pg_sys::Datum::from(id))]);
        }
        Ok::<_, WardenError>(())
    })?;
    AHEAD_OF.set(Some((table, id)));
    Ok(())
}

fn next_id(table: pg_sys::Oid, id_col: usize) -> Result<pg_sys::Datum, WardenError> {
    let sequence = unsafe { identity_sequence(table, id_col) };
    // As the extension owner: the INSERT's own default already used the caller's rights.
    let id = privilege::as_extension_owner(|| unsafe {
        pgrx::direct_function_call::<i64>(pg_sys::nextval_oid, &[Some(pg_sys::Datum::from(sequence))])
            .ok_or_else(|| WardenError::Internal("the ledger's identity sequence returned NULL".into()))
    })?;
    Ok(pg_sys::Datum::from(id))
}

/// Completes a ledger row whose content columns are set: session facts (whatever the
/// client supplied is replaced), secret-named JSON fields as fingerprints, the actor's
/// default, the confidence range, then the link to this backend's chain and the
/// signature. Advances the chain head; an abort rewinds it.
fn fill_entry(table: pg_sys::Oid, cols: &Positions, row: &mut HeapRow) -> Result<(), WardenError> {
    let signing = super::SigningKey::active()?;

    let ts = unsafe { pg_sys::GetCurrentTimestamp() };
    row.set(cols[Column::Ts], Some(pg_sys::Datum::from(ts)));
    let session_user = session_user_name();
    row.set(cols[Column::SessionUserName], Some(text_datum(&session_user)));
    let application_name = unsafe {
        let name = pg_sys::application_name;
        if name.is_null() {
            None
        } else {
            Some(CStr::from_ptr(name).to_string_lossy().into_owned())
        }
    }
    .filter(|name| !name.is_empty());
    row.set(cols[Column::ApplicationName], application_name.as_deref().map(text_datum));
    let client_addr = unsafe { pgrx::direct_function_call_as_datum(pg_sys::inet_client_addr, &[]) };
    row.set(cols[Column::ClientAddr], client_addr);
    let client_addr_text = client_addr_text(client_addr);
    let txid = unsafe { pg_sys::GetTopFullTransactionId() }.value as i64;
    row.set(cols[Column::Txid], Some(pg_sys::Datum::from(txid)));
    if row.nulls[cols[Column::Actor]] {
        row.set(cols[Column::Actor], Some(text_datum(&session_user)));
    }

    let details = scrub_jsonb(row, cols, Column::Details, &signing.mac)?;
    let before_state = scrub_jsonb(row, cols, Column::BeforeState, &signing.mac)?;
    let after_state = scrub_jsonb(row, cols, Column::AfterState, &signing.mac)?;
    let event_type = row.text(cols[Column::EventType])?;
    let action = row.text(cols[Column::Action])?;
    let actor = row.text(cols[Column::Actor])?;
    let resource_type = row.text(cols[Column::ResourceType])?;
    let resource_id = row.text(cols[Column::ResourceId])?;
    let correlation_id = row.text(cols[Column::CorrelationId])?;
    let tenant = row.text(cols[Column::Tenant])?;
    let reason = row.text(cols[Column::Reason])?;
    let confidence = row.output(cols[Column::Confidence], pg_sys::numeric_out);
    if let Some(text) = &confidence {
        check_confidence(text)?;
    }
    let id = if row.nulls[cols[Column::Id]] { 0 } else { row.values[cols[Column::Id]].value() as i64 };

    let content = EntryContent {
        id,
        ts: Some(ts),
        event_type,
        action,
        actor,
        resource_type,
        resource_id,
        correlation_id,
        tenant,
        reason,
        confidence: confidence.as_deref(),
        details: details.as_deref(),
        before_state: before_state.as_deref(),
        after_state: after_state.as_deref(),
        session_user_name: Some(&session_user),
        application_name: application_name.as_deref(),
        client_addr: client_addr_text.as_deref(),
        txid: Some(txid),
    };

    let (chain_id, head) = leased_head(table)?;
    // Version 2 wherever the ledger has the column: each redactable field committed to
    // under a salt of its own, so warden.redact_audit can erase it later.
    let seals = cols.seals.map(|_| new_field_seals()).transpose()?;
    let link = HASHER
        .with(|h| match &seals {
            Some(seals) => h.borrow_mut().link_v2(&content, seals, chain_id, &head, &signing.mac),
            None => h.borrow_mut().link(&content, chain_id, &head, &signing.mac),
        })
        .map_err(|e| WardenError::invalid(e.to_string()))?;
    if let (Some(col), Some(seals)) = (cols.seals, &seals) {
        row.set(col, Some(bytea_datum(&seals.encode())));
    }
    row.set(cols[Column::ChainId], Some(pg_sys::Datum::from(chain_id)));
    row.set(cols[Column::ChainPos], Some(pg_sys::Datum::from(link.chain_pos)));
    row.set(cols[Column::PrevHash], Some(bytea_datum(&link.prev_hash)));
    row.set(cols[Column::EntryHash], Some(bytea_datum(&link.entry_hash)));
    row.set(cols[Column::KeyName], Some(text_datum(&signing.name)));
    row.set(cols[Column::KeyVersion], Some(pg_sys::Datum::from(signing.version)));
    row.set(cols[Column::Signature], Some(bytea_datum(&link.signature)));
    advance_head(ChainHead { pos: link.chain_pos, hash: link.entry_hash }, head);
    Ok(())
}

/// Seals for a new version-2 entry: fresh salts from `pg_strong_random` (the server's
/// cryptographic generator), one per redactable field.
fn new_field_seals() -> Result<ledger::FieldSeals, WardenError> {
    let mut random = [0u8; ledger::FIELD_SEALS_RANDOM_LEN];
    if !unsafe { pg_sys::pg_strong_random(random.as_mut_ptr().cast(), random.len()) } {
        return Err(WardenError::Internal("could not generate random field salts".into()));
    }
    Ok(ledger::FieldSeals::from_random(&random))
}

/// `confidence` is a probability: 0 to 1 (NaN is not). Checked here rather than by a
/// CHECK constraint, which PostgreSQL would prepare again for every one-row INSERT.
fn check_confidence(text: &str) -> Result<(), WardenError> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(()),
        _ => Err(WardenError::CheckViolation {
            message: format!("confidence must be between 0 and 1, not {text}"),
            hint: None,
        }),
    }
}

/// The content of a new entry, as datums of the ledger's column types (text, except
/// `details`, `before_state`, `after_state` jsonb and `confidence` numeric).
#[derive(Clone, Copy, Default)]
pub(super) struct EventArgs {
    pub(super) event_type: Option<pg_sys::Datum>,
    pub(super) action: Option<pg_sys::Datum>,
    pub(super) resource_type: Option<pg_sys::Datum>,
    pub(super) resource_id: Option<pg_sys::Datum>,
    pub(super) details: Option<pg_sys::Datum>,
    pub(super) actor: Option<pg_sys::Datum>,
    pub(super) correlation_id: Option<pg_sys::Datum>,
    pub(super) reason: Option<pg_sys::Datum>,
    pub(super) confidence: Option<pg_sys::Datum>,
    pub(super) tenant: Option<pg_sys::Datum>,
    pub(super) before_state: Option<pg_sys::Datum>,
    pub(super) after_state: Option<pg_sys::Datum>,
}

thread_local! {
    /// (ledger oid, its identity sequence): looked up again when the ledger is recreated.
    static IDENTITY: Cell<Option<(pg_sys::Oid, pg_sys::Oid)>> = const { Cell::new(None) };
    /// (ledger oid, id): the identity sequence is known to be at or past this id.
    static AHEAD_OF: Cell<Option<(pg_sys::Oid, i64)>> = const { Cell::new(None) };
}

thread_local! {
    /// The INSERT [`append`] falls back to, prepared once per backend; the plan cache
    /// re-plans it if the ledger table is ever replaced.
    static APPEND_PLAN: RefCell<Option<std::rc::Rc<pgrx::spi::OwnedPreparedStatement>>> = const { RefCell::new(None) };
}

/// The columns a writer gives ([`ledger::Role::Event`]), in table order: those of
/// [`EventArgs`].
fn event_columns() -> impl Iterator<Item = &'static ledger::ColumnSpec> {
    ledger::COLUMNS.iter().filter(|c| c.role == ledger::Role::Event)
}

impl EventArgs {
    /// The field of an event column; `None` for any other column.
    pub(super) fn field_mut(&mut self, column: Column) -> Option<&mut Option<pg_sys::Datum>> {
        Some(match column {
            Column::EventType => &mut self.event_type,
            Column::Action => &mut self.action,
            Column::Actor => &mut self.actor,
            Column::ResourceType => &mut self.resource_type,
            Column::ResourceId => &mut self.resource_id,
            Column::CorrelationId => &mut self.correlation_id,
            Column::Tenant => &mut self.tenant,
            Column::Reason => &mut self.reason,
            Column::Confidence => &mut self.confidence,
            Column::Details => &mut self.details,
            Column::BeforeState => &mut self.before_state,
            Column::AfterState => &mut self.after_state,
            _ => return None,
        })
    }

    /// The datum for an event column; `None` for any other.
    fn get(&self, column: Column) -> Option<pg_sys::Datum> {
        let mut copy = *self;
        copy.field_mut(column).and_then(|field| *field)
    }
}

/// The type of the datums [`EventArgs`] holds for a column of `sql_type`.
fn datum_type(sql_type: ledger::SqlType) -> pg_sys::Oid {
    use ledger::SqlType::*;
    match sql_type {
        Int4 => pg_sys::INT4OID,
        Int8 => pg_sys::INT8OID,
        Timestamptz => pg_sys::TIMESTAMPTZOID,
        Text => pg_sys::TEXTOID,
        Numeric { .. } => pg_sys::NUMERICOID,
        Jsonb => pg_sys::JSONBOID,
        Inet => pg_sys::INETOID,
        Bytea => pg_sys::BYTEAOID,
    }
}

/// `INSERT INTO warden.audit_log (<event columns>) VALUES ($1, ...) RETURNING id`.
fn append_insert() -> String {
    let names: Vec<&str> = event_columns().map(|c| c.name).collect();
    let params: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    format!("INSERT INTO warden.audit_log ({}) VALUES ({}) RETURNING id", names.join(", "), params.join(", "))
}

/// Appends an entry and returns its id: the one privileged write of `log_event` and of
/// row capture. Only this runs with the extension owner's rights, and it takes no name
/// from the caller: the content arrives as datums, already computed with the caller's
/// rights. Written directly to the heap when it can be ([`insert_entry`]), else by a
/// kept INSERT plan through the chain trigger.
pub(super) fn append(args: &EventArgs) -> Result<i64, WardenError> {
    #[cfg(not(feature = "pg13"))]
    if let Some(id) = privilege::as_extension_owner(|| insert_entry(args))? {
        return Ok(id);
    }
    use pgrx::datum::DatumWithOid;
    let params: Vec<DatumWithOid<'_>> = event_columns()
        .map(|spec| match args.get(spec.column) {
            Some(datum) => unsafe { DatumWithOid::new(datum, datum_type(spec.sql_type)) },
            None => DatumWithOid::null_oid(datum_type(spec.sql_type)),
        })
        .collect();
    let id = privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            // A shared handle, so an error while executing never frees the kept plan.
            let plan = match APPEND_PLAN.with(|p| p.borrow().clone()) {
                Some(plan) => plan,
                None => {
                    let types: Vec<pgrx::PgOid> =
                        event_columns().map(|spec| pgrx::PgOid::from(datum_type(spec.sql_type))).collect();
                    let plan = std::rc::Rc::new(client.prepare_mut(&append_insert(), &types)?.keep());
                    APPEND_PLAN.with(|p| *p.borrow_mut() = Some(plan.clone()));
                    plan
                }
            };
            own_write(|| client.update(&*plan, Some(1), &params))?.first().get_one::<i64>()
        })
    })?;
    id.ok_or_else(|| WardenError::Internal("INSERT into warden.audit_log returned no id".into()))
}

/// Appends entries in order and returns their ids, as [`append`] does one by one but
/// with one switch to the extension owner for all that go straight to the heap: for
/// `import_audit`, whose batches of thousands would otherwise pay for the switch (and
/// its pinned `search_path`) every row.
pub(super) fn append_batch(rows: &[EventArgs]) -> Result<Vec<i64>, WardenError> {
    let mut ids = Vec::with_capacity(rows.len());
    #[cfg(not(feature = "pg13"))]
    privilege::as_extension_owner(|| {
        for args in rows {
            match insert_entry(args)? {
                Some(id) => ids.push(id),
                None => break,
            }
        }
        Ok::<_, WardenError>(())
    })?;
    for args in &rows[ids.len()..] {
        ids.push(append(args)?);
    }
    Ok(ids)
}

/// An entry pg_warden writes about its own operations: vault reads and changes to
/// secrets and key policies. Nothing here comes from a caller's SQL text but the values
/// themselves, which travel as datums.
pub(crate) struct OwnEvent<'a> {
    pub(crate) event_type: &'a str,
    pub(crate) action: &'a str,
    pub(crate) resource_type: &'a str,
    pub(crate) resource_id: Option<&'a str>,
    pub(crate) tenant: Option<&'a str>,
    /// `None`: the session user, as for any entry.
    pub(crate) actor: Option<&'a str>,
    pub(crate) details: serde_json::Value,
}

/// Appends an [`OwnEvent`] through the one privileged write, [`append`].
pub(crate) fn append_own(event: &OwnEvent<'_>) -> Result<i64, WardenError> {
    let text = |v: Option<&str>| v.and_then(|v| v.into_datum());
    append(&EventArgs {
        event_type: text(Some(event.event_type)),
        action: text(Some(event.action)),
        resource_type: text(Some(event.resource_type)),
        resource_id: text(event.resource_id),
        tenant: text(event.tenant),
        actor: text(event.actor),
        details: pgrx::JsonB(event.details.clone()).into_datum(),
        ..Default::default()
    })
}

/// The event types only pg_warden writes, which an entry from `log_event` or an INSERT
/// could pass for (an `audit_control` entry that looks like `audit_ddl(false)` switching
/// DDL capture off, a forged redaction record, a retention run).
const RESERVED_EVENT_TYPES: &[&str] = &[
    "audit_control",
    "ddl",
    "role",
    "server_config",
    "server_start",
    "audit_redaction",
    "audit_purge",
    "audit_retention",
    "audit_import",
];

/// Refuses (42501) one of pg_warden's own event types from a writer other than
/// pg_warden (`how`: log_event, INSERT, import_audit).
pub(super) fn refuse_reserved(event_type: &str, how: &str) -> Result<(), WardenError> {
    match RESERVED_EVENT_TYPES.contains(&event_type) {
        true => Err(reserved_refusal(event_type, how)),
        false => Ok(()),
    }
}

/// The refusal of a reserved event type written by `how` (log_event, INSERT).
fn reserved_refusal(reserved: &str, how: &str) -> WardenError {
    WardenError::PermissionDenied {
        message: format!("event type \"{reserved}\" is pg_warden's own; {how} cannot write it"),
        hint: "pg_warden writes these entries itself (DDL capture, server starts, redaction, retention); choose another event_type."
            .into(),
    }
}

/// Runs `f`, an INSERT of pg_warden's own, with [`OWN_WRITE`] set; cleared however `f`
/// ends.
fn own_write<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            OWN_WRITE.set(false);
        }
    }
    OWN_WRITE.set(true);
    let _reset = Reset;
    f()
}

/// Appends an entry and returns its id. Written in Rust rather than as a SECURITY
/// DEFINER SQL function: no setting is switched per call and only the one write runs
/// with the owner's privileges ([`append`]), so callers need EXECUTE
/// (warden_user), not INSERT on the table. Its two `double precision` forms are SQL
/// functions in sql/audit.sql.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn log_event(
    event_type: Option<&str>,
    action: Option<&str>,
    resource_type: default!(Option<&str>, "NULL"),
    resource_id: default!(Option<&str>, "NULL"),
    details: default!(Option<crate::datum::Jsonb>, "NULL"),
    actor: default!(Option<&str>, "NULL"),
    correlation_id: default!(Option<&str>, "NULL"),
    reason: default!(Option<&str>, "NULL"),
    confidence: default!(Option<pgrx::AnyNumeric>, "NULL"),
    tenant: default!(Option<&str>, "NULL"),
) -> SqlResult<i64> {
    if let Some(reserved) = event_type.filter(|t| RESERVED_EVENT_TYPES.contains(t)) {
        return Err(reserved_refusal(reserved, "log_event").into());
    }
    let datum = |v: Option<&str>| v.and_then(|v| v.into_datum());
    let event = EventArgs {
        event_type: datum(event_type),
        action: datum(action),
        resource_type: datum(resource_type),
        resource_id: datum(resource_id),
        details: details.as_ref().map(|doc| doc.datum()),
        actor: datum(actor),
        correlation_id: datum(correlation_id),
        reason: datum(reason),
        confidence: confidence.and_then(|n| n.into_datum()),
        tenant: datum(tenant),
        before_state: None,
        after_state: None,
    };
    Ok(append(&event)?)
}

/// Appends an entry to `warden.audit_log` without the executor: the row is completed by
/// the same code as the chain trigger, then written to the heap and its indexes
/// directly. An INSERT through SPI prepares an executor, a trigger call and the
/// table's constraints for every one-row statement; this path is what keeps
/// `warden.log_event` close to a plain INSERT.
///
/// Returns `None`, having written nothing, when the ledger has anything only the
/// executor handles (another trigger, a rule, row security, a CHECK constraint, a
/// generated column) or when restore mode is on: the caller then inserts through SPI,
/// with PostgreSQL's own behaviour and errors.
#[cfg(not(feature = "pg13"))]
pub(super) fn insert_entry(args: &EventArgs) -> Result<Option<i64>, WardenError> {
    if gucs::RESTORE_MODE.get() {
        return Ok(None);
    }
    unsafe {
        let namespace = pg_sys::get_namespace_oid(c"warden".as_ptr(), true);
        let table = pg_sys::get_relname_relid(c"audit_log".as_ptr(), namespace);
        if namespace == pg_sys::InvalidOid || table == pg_sys::InvalidOid {
            return Ok(None);
        }
        // The errors an INSERT would raise in a read-only transaction or on a standby.
        pg_sys::PreventCommandIfReadOnly(c"INSERT".as_ptr());
        pg_sys::PreventCommandDuringRecovery(c"INSERT".as_ptr());
        let rel = pg_sys::table_open(table, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        if !executor_free(rel) {
            pg_sys::table_close(rel, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
            return Ok(None);
        }
        let tupdesc = PgTupleDesc::from_pg_unchecked((*rel).rd_att);
        let cols = cached_positions(table, &tupdesc)?;
        let mut row = HeapRow::empty(tupdesc.len());
        for spec in event_columns() {
            let col = cols[spec.column];
            let value = match spec.sql_type {
                // numeric to the column's numeric(p, s), as an INSERT's assignment does.
                ledger::SqlType::Numeric { .. } => {
                    let typmod = tupdesc.get(col).map_or(-1, |a| a.atttypmod);
                    args.get(spec.column).and_then(|value| {
                        pgrx::direct_function_call_as_datum(
                            pg_sys::numeric,
                            &[Some(value), Some(pg_sys::Datum::from(typmod))],
                        )
                    })
                }
                _ => args.get(spec.column),
            };
            row.set(col, value);
        }
        // The transaction id before the entry's id: the tree builder (tree.rs) counts on
        // every issued id belonging to a transaction that already had one.
        pg_sys::GetTopFullTransactionId();
        let sequence = identity_sequence(table, cols[Column::Id]);
        let id = pgrx::direct_function_call::<i64>(pg_sys::nextval_oid, &[Some(pg_sys::Datum::from(sequence))])
            .ok_or_else(|| WardenError::Internal("the ledger's identity sequence returned NULL".into()))?;
        row.set(cols[Column::Id], Some(pg_sys::Datum::from(id)));

        fill_entry(table, &cols, &mut row)?;
        for (col, attr) in tupdesc.iter().enumerate() {
            if attr.attnotnull && !attr.is_dropped() && row.nulls[col] {
                return Err(WardenError::NotNull(format!(
                    "null value in column \"{}\" of relation \"audit_log\" violates not-null constraint",
                    attr.name()
                )));
            }
        }
        let tuple = pg_sys::heap_form_tuple((*rel).rd_att, row.values.as_mut_ptr(), row.nulls.as_mut_ptr());
        pg_sys::heap_insert(rel, tuple, pg_sys::GetCurrentCommandId(true), 0, std::ptr::null_mut());
        super::indexes::insert(rel, tuple);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        Ok(Some(id))
    }
}

/// Whether a row can go to the ledger's heap and indexes without the executor: a plain
/// table whose only triggers are pg_warden's own (chain and append-only guard, both
/// ENABLE ALWAYS), without rules, row security, CHECK constraints or generated columns.
#[cfg(not(feature = "pg13"))]
unsafe fn executor_free(rel: pg_sys::Relation) -> bool {
    unsafe {
        let form = &*(*rel).rd_rel;
        if form.relkind != pg_sys::RELKIND_RELATION as std::ffi::c_char || form.relrowsecurity || form.relhasrules {
            return false;
        }
        let constr = (*(*rel).rd_att).constr;
        if !constr.is_null() && ((*constr).num_check > 0 || (*constr).has_generated_stored) {
            return false;
        }
        let triggers = (*rel).trigdesc;
        if triggers.is_null() {
            return false;
        }
        let triggers = std::slice::from_raw_parts((*triggers).triggers, (*triggers).numtriggers as usize);
        let ours = |t: &pg_sys::Trigger| {
            let name = CStr::from_ptr(t.tgname).to_bytes();
            (name == b"zz_audit_chain" || name == b"audit_append_only")
                && t.tgenabled == pg_sys::TRIGGER_FIRES_ALWAYS as std::ffi::c_char
        };
        triggers.iter().all(ours) && triggers.iter().any(|t| CStr::from_ptr(t.tgname).to_bytes() == b"zz_audit_chain")
    }
}

/// The identity sequence of the ledger's `id` column.
unsafe fn identity_sequence(table: pg_sys::Oid, id_col: usize) -> pg_sys::Oid {
    if let Some((cached_table, sequence)) = IDENTITY.get() {
        if cached_table == table {
            return sequence;
        }
    }
    let sequence = unsafe { pg_sys::getIdentitySequence(table, (id_col + 1) as pg_sys::AttrNumber, false) };
    IDENTITY.set(Some((table, sequence)));
    sequence
}

trigger_entry!(audit_guard_wrapper, pg_finfo_audit_guard_wrapper, audit_guard_fired_wrapper, "warden.audit_guard()");

/// BEFORE UPDATE OR DELETE OR TRUNCATE (statement level, ENABLE ALWAYS) on the ledger
/// tables: refused for everyone, except deletes made by warden.purge_audit and the
/// updates of warden.redact_audit and warden.erase_subject. Raises its
/// refusals (as [`audit_chain_entry_fired`]).
#[pg_trigger(sql = false)]
fn audit_guard_fired<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, Infallible> {
    if let Err(error) = GUARD_FIRING.check(trigger) {
        error.raise();
    }
    let op = trigger.op().unwrap_or_else(|e| WardenError::Internal(e.to_string()).raise());
    let table = trigger.table_name().unwrap_or_default();
    let allowed = match op {
        pgrx::PgTriggerOperation::Delete => rewriting() == Some(Rewrite::Purge),
        // Redaction rewrites entries only: checkpoints and verification records never.
        pgrx::PgTriggerOperation::Update => rewriting() == Some(Rewrite::Redact) && table == "audit_log",
        _ => false,
    };
    if allowed {
        return Ok(None);
    }
    let op = match op {
        pgrx::PgTriggerOperation::Update => "UPDATE",
        pgrx::PgTriggerOperation::Delete => "DELETE",
        pgrx::PgTriggerOperation::Truncate => "TRUNCATE",
        pgrx::PgTriggerOperation::Insert => "INSERT",
    };
    WardenError::PermissionDenied {
        message: format!("warden.{table} is append-only: {op} is not allowed"),
        hint: "Ledger entries are never changed; use warden.purge_audit for retention and warden.redact_audit or warden.erase_subject to erase personal data.".into(),
    }
    .raise()
}
