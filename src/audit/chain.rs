//! Writing the ledger: chain leases, the BEFORE INSERT trigger that links and signs each
//! entry, and the append-only guard.
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

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgTupleDesc;
use warden_core::ledger::{ChainHead, EntryContent, EntryHasher};
use warden_core::{json, secrets};

use crate::error::WardenError;
use crate::gucs;
use crate::keyring;

/// First key of the ledger's advisory locks ("ward"); the second is the chain id.
const LEASE_LOCK_CLASS: i32 = 0x7761_7264;
/// Chain ids a backend may try before giving up: far more than max_connections allows.
const MAX_CHAIN_ID: i32 = 100_000;

struct Lease {
    table: pg_sys::Oid,
    chain_id: i32,
    head: ChainHead,
}

thread_local! {
    static LEASE: RefCell<Option<Lease>> = const { RefCell::new(None) };
    /// Heads to go back to: (subtransaction that advanced the head, head before it).
    static UNDO: RefCell<Vec<(pg_sys::SubTransactionId, ChainHead)>> = const { RefCell::new(Vec::new()) };
    static HASHER: RefCell<EntryHasher> = RefCell::new(EntryHasher::new());
    /// Set only by purge_audit while it deletes behind a checkpoint.
    static PURGING: Cell<bool> = const { Cell::new(false) };
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_PREPARE => {
            if UNDO.with(|u| !u.borrow().is_empty()) {
                ErrorReport::new(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    "cannot PREPARE a transaction that wrote audit ledger entries",
                    "pg_warden",
                )
                .set_hint("Log audit events outside two-phase transactions.")
                .report(PgLogLevel::ERROR);
            }
        }
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
            rewind_to(0);
            PURGING.with(|p| p.set(false));
        }
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_PREPARE => {
            UNDO.with(|u| u.borrow_mut().clear());
            PURGING.with(|p| p.set(false));
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
            }
        });
    }
}

/// Registers the transaction callbacks; called once from `_PG_init`.
pub fn register_callbacks() {
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
    }
}

/// Whether purge_audit is deleting right now.
pub fn purging() -> bool {
    PURGING.with(|p| p.get())
}

/// Runs `f` with deletes from the ledger allowed; the flag is also cleared at
/// transaction end, so an error inside `f` cannot leave it set.
pub fn while_purging<R>(f: impl FnOnce() -> R) -> R {
    PURGING.with(|p| p.set(true));
    let result = f();
    PURGING.with(|p| p.set(false));
    result
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
    let row = keyring::as_extension_owner(|| unsafe {
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
    })??;
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

/// The chain this backend appends to and its head, leasing one on first use.
fn leased_head(table: pg_sys::Oid) -> Result<(i32, ChainHead), WardenError> {
    if let Some(found) = LEASE.with(|l| l.borrow().as_ref().filter(|l| l.table == table).map(|l| (l.chain_id, l.head)))
    {
        return Ok(found);
    }
    // A lease on a ledger that was dropped and recreated keeps its chain number but
    // re-reads the head from the new table.
    let held = LEASE.with(|l| l.borrow().as_ref().map(|l| l.chain_id));
    let chain_id = match held {
        Some(chain_id) => chain_id,
        None => {
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
    LEASE.with(|l| *l.borrow_mut() = Some(Lease { table, chain_id, head }));
    Ok((chain_id, head))
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

/// Column positions (0-based) of warden.audit_log, looked up by name.
struct Columns {
    id: usize,
    ts: usize,
    event_type: usize,
    action: usize,
    actor: usize,
    resource_type: usize,
    resource_id: usize,
    correlation_id: usize,
    tenant: usize,
    reason: usize,
    confidence: usize,
    details: usize,
    before_state: usize,
    after_state: usize,
    session_user_name: usize,
    application_name: usize,
    client_addr: usize,
    txid: usize,
    chain_id: usize,
    chain_pos: usize,
    prev_hash: usize,
    entry_hash: usize,
    key_name: usize,
    key_version: usize,
    signature: usize,
}

thread_local! {
    /// Column positions of the ledger table, by its oid.
    static COLUMNS: RefCell<Option<(pg_sys::Oid, std::rc::Rc<Columns>)>> = const { RefCell::new(None) };
}

/// Column positions for the ledger table `table`, looked up once per backend (a
/// recreated table has a new oid and is looked up again).
fn cached_columns(table: pg_sys::Oid, tupdesc: &PgTupleDesc) -> Result<std::rc::Rc<Columns>, WardenError> {
    if let Some(cols) =
        COLUMNS.with(|c| c.borrow().as_ref().filter(|(oid, _)| *oid == table).map(|(_, cols)| cols.clone()))
    {
        return Ok(cols);
    }
    let cols = std::rc::Rc::new(columns(tupdesc)?);
    COLUMNS.with(|c| *c.borrow_mut() = Some((table, cols.clone())));
    Ok(cols)
}

fn columns(tupdesc: &PgTupleDesc) -> Result<Columns, WardenError> {
    let find = |name: &str| {
        tupdesc
            .iter()
            .position(|a| !a.is_dropped() && a.name() == name)
            .ok_or_else(|| WardenError::Internal(format!("warden.audit_log has no column {name}")))
    };
    Ok(Columns {
        id: find("id")?,
        ts: find("ts")?,
        event_type: find("event_type")?,
        action: find("action")?,
        actor: find("actor")?,
        resource_type: find("resource_type")?,
        resource_id: find("resource_id")?,
        correlation_id: find("correlation_id")?,
        tenant: find("tenant")?,
        reason: find("reason")?,
        confidence: find("confidence")?,
        details: find("details")?,
        before_state: find("before_state")?,
        after_state: find("after_state")?,
        session_user_name: find("session_user_name")?,
        application_name: find("application_name")?,
        client_addr: find("client_addr")?,
        txid: find("txid")?,
        chain_id: find("chain_id")?,
        chain_pos: find("chain_pos")?,
        prev_hash: find("prev_hash")?,
        entry_hash: find("entry_hash")?,
        key_name: find("key_name")?,
        key_version: find("key_version")?,
        signature: find("signature")?,
    })
}

/// A deformed row: one datum and null flag per attribute.
struct Row {
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
}

impl Row {
    fn text(&self, col: usize) -> Result<Option<String>, WardenError> {
        if self.nulls[col] {
            return Ok(None);
        }
        let text = unsafe { pgrx::text_to_rust_str(pg_sys::pg_detoast_datum_packed(self.values[col].cast_mut_ptr())) }
            .map_err(|_| WardenError::invalid("audit entry text is not valid UTF-8"))?;
        Ok(Some(text.to_owned()))
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

/// Replaces secret-named fields of a jsonb column by fingerprints, keeping the datum
/// when it has none. Returns the column's final jsonb text, as hashed.
fn scrub_jsonb(row: &mut Row, col: usize, key: &keyring::KeyVersion) -> Result<Option<String>, WardenError> {
    let Some(text) = row.output(col, pg_sys::jsonb_out) else { return Ok(None) };
    if !secrets::may_contain_secret_names(&text) {
        return Ok(Some(text));
    }
    let mut doc = json::parse(&text).map_err(|e| match e {
        json::JsonError::TooDeep => WardenError::TooComplex(e.to_string()),
        json::JsonError::Syntax(_) => WardenError::Internal(e.to_string()),
    })?;
    if secrets::fingerprint_secrets(&mut doc, &mut |bytes| key.mac.fingerprint(bytes)) == 0 {
        return Ok(Some(text));
    }
    let scrubbed = pgrx::JsonB(doc).into_datum();
    row.set(col, scrubbed);
    Ok(row.output(col, pg_sys::jsonb_out))
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

/// BEFORE INSERT on warden.audit_log: captures session facts, fingerprints secrets,
/// and links and signs the entry on this backend's chain.
#[pg_trigger]
fn audit_chain_entry<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, ErrorReport> {
    match chain_entry(trigger) {
        Ok(tuple) => Ok(Some(tuple)),
        Err(error) => raise(error.into()),
    }
}

/// Raises an error from a trigger: pgrx turns a trigger's `Err` into a panic (an
/// internal error), so the report is raised here with its own SQLSTATE instead.
fn raise(report: ErrorReport) -> ! {
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

fn chain_entry<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<PgHeapTuple<'a, pgrx::AllocatedByPostgres>, WardenError> {
    if gucs::RESTORE_MODE.get() {
        return trigger.new().ok_or_else(|| WardenError::Internal("chain trigger fired without a new row".into()));
    }
    let data = trigger.trigger_data();
    let (table, tupdesc_ptr) = unsafe { ((*data.tg_relation).rd_id, (*data.tg_relation).rd_att) };
    let tupdesc = unsafe { PgTupleDesc::from_pg_unchecked(tupdesc_ptr) };
    let cols = cached_columns(table, &tupdesc)?;
    let natts = tupdesc.len();
    let mut row = Row { values: vec![pg_sys::Datum::from(0); natts], nulls: vec![true; natts] };
    unsafe {
        pg_sys::heap_deform_tuple(data.tg_trigtuple, tupdesc_ptr, row.values.as_mut_ptr(), row.nulls.as_mut_ptr())
    };

    let key_name = gucs::audit_key_name();
    let signing = keyring::with_key(&key_name, |key| {
        let active = key.active();
        keyring::KeyVersion { version: active.version, mac: active.mac.clone() }
    })?;

    // Session facts: whatever the client supplied is replaced.
    let ts = unsafe { pg_sys::GetCurrentTimestamp() };
    row.set(cols.ts, Some(pg_sys::Datum::from(ts)));
    let session_user = session_user_name();
    row.set(cols.session_user_name, Some(text_datum(&session_user)));
    let application_name = unsafe {
        let name = pg_sys::application_name;
        if name.is_null() {
            None
        } else {
            Some(CStr::from_ptr(name).to_string_lossy().into_owned())
        }
    }
    .filter(|name| !name.is_empty());
    row.set(cols.application_name, application_name.as_deref().map(text_datum));
    let client_addr = unsafe { pgrx::direct_function_call_as_datum(pg_sys::inet_client_addr, &[]) };
    row.set(cols.client_addr, client_addr);
    let client_addr_text = client_addr_text(client_addr);
    let txid = unsafe { pg_sys::GetTopFullTransactionId() }.value as i64;
    row.set(cols.txid, Some(pg_sys::Datum::from(txid)));
    if row.nulls[cols.actor] {
        row.set(cols.actor, Some(text_datum(&session_user)));
    }

    let details = scrub_jsonb(&mut row, cols.details, &signing)?;
    let before_state = scrub_jsonb(&mut row, cols.before_state, &signing)?;
    let after_state = scrub_jsonb(&mut row, cols.after_state, &signing)?;
    let event_type = row.text(cols.event_type)?;
    let action = row.text(cols.action)?;
    let actor = row.text(cols.actor)?;
    let resource_type = row.text(cols.resource_type)?;
    let resource_id = row.text(cols.resource_id)?;
    let correlation_id = row.text(cols.correlation_id)?;
    let tenant = row.text(cols.tenant)?;
    let reason = row.text(cols.reason)?;
    let confidence = row.output(cols.confidence, pg_sys::numeric_out);
    let id = if row.nulls[cols.id] { 0 } else { row.values[cols.id].value() as i64 };

    let content = EntryContent {
        id,
        ts: Some(ts),
        event_type: event_type.as_deref(),
        action: action.as_deref(),
        actor: actor.as_deref(),
        resource_type: resource_type.as_deref(),
        resource_id: resource_id.as_deref(),
        correlation_id: correlation_id.as_deref(),
        tenant: tenant.as_deref(),
        reason: reason.as_deref(),
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
    let link = HASHER
        .with(|h| h.borrow_mut().link(&content, chain_id, &head, &signing.mac))
        .map_err(|e| WardenError::invalid(e.to_string()))?;
    row.set(cols.chain_id, Some(pg_sys::Datum::from(chain_id)));
    row.set(cols.chain_pos, Some(pg_sys::Datum::from(link.chain_pos)));
    row.set(cols.prev_hash, Some(bytea_datum(&link.prev_hash)));
    row.set(cols.entry_hash, Some(bytea_datum(&link.entry_hash)));
    row.set(cols.key_name, Some(text_datum(&key_name)));
    row.set(cols.key_version, Some(pg_sys::Datum::from(signing.version)));
    row.set(cols.signature, Some(bytea_datum(&link.signature)));

    let tuple =
        unsafe { pg_sys::heap_form_tuple(tupdesc_ptr, row.values.as_ptr().cast_mut(), row.nulls.as_ptr().cast_mut()) };
    advance_head(ChainHead { pos: link.chain_pos, hash: link.entry_hash }, head);
    Ok(unsafe { PgHeapTuple::from_heap_tuple(tupdesc, tuple) })
}

/// BEFORE UPDATE OR DELETE OR TRUNCATE (statement level, ENABLE ALWAYS) on the ledger
/// tables: refused for everyone, except deletes made by warden.purge_audit.
#[pg_trigger]
fn audit_guard<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, ErrorReport> {
    let op = match trigger.op() {
        Ok(op) => op,
        Err(e) => raise(WardenError::Internal(e.to_string()).into()),
    };
    if matches!(op, pgrx::PgTriggerOperation::Delete) && purging() {
        return Ok(None);
    }
    let table = trigger.table_name().unwrap_or_else(|_| "audit_log".into());
    let op = match op {
        pgrx::PgTriggerOperation::Update => "UPDATE",
        pgrx::PgTriggerOperation::Delete => "DELETE",
        pgrx::PgTriggerOperation::Truncate => "TRUNCATE",
        pgrx::PgTriggerOperation::Insert => "INSERT",
    };
    raise(
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("warden.{table} is append-only: {op} is not allowed"),
            "pg_warden",
        )
        .set_hint("Ledger entries are never changed; use warden.purge_audit for retention."),
    )
}

/// Whether an extension script is running: lets the DDL guard admit pg_warden's own
/// installation and upgrade scripts.
#[pg_extern(stable, parallel_safe)]
fn creating_extension() -> bool {
    unsafe { pg_sys::creating_extension }
}
