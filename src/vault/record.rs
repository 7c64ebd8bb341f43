//! The ledger record of every secret read, granted or refused.
//!
//! A granted read is written to the ledger in the reading transaction, before the value
//! is returned, so a transaction that commits carries its reads. Two cases would lose a
//! read that way: a refused read raises an error, which rolls its own entry back, and a
//! granted read's entry goes when its transaction (or subtransaction) rolls back after
//! the value was returned (`BEGIN; SELECT warden.get_secret(…); ROLLBACK;`). So every
//! read is also remembered in backend memory with the subtransaction that made it; when
//! a (sub)transaction aborts, its reads are handed to a short-lived background worker
//! that writes them in a transaction of its own (`"recorded_by": "worker"`, and for a
//! granted read `"rolled_back": true`). When a
//! (sub)transaction commits, its reads pass to the parent; at top-level commit they are
//! in the ledger already and are forgotten.
//!
//! The worker connects as the extension's owner and writes the entry with the reader's
//! role as `actor` and the reading session's user in `details`. Each worker carries up to
//! [`READS_PER_WORKER`] reads in its `bgw_extra`; if no worker slot is free
//! (`max_worker_processes`), or the worker cannot write the entry (no audit key, ...),
//! the read is written to the server log instead, as a WARNING that names the role,
//! reference, version and outcome (never a value). A standby cannot
//! write the ledger at all, so `get_secret` refuses there before reading anything.

use std::cell::RefCell;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::prelude::*;
use serde_json::json;

use crate::audit::chain::{append_own, OwnEvent};
use crate::error::WardenError;

/// How a read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Granted,
    NoGrant,
    NotFound,
    NoVersion,
    Expired,
    ReadOnly,
    Failed,
}

impl Outcome {
    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Outcome {
        use Outcome::*;
        [Granted, NoGrant, NotFound, NoVersion, Expired, ReadOnly].get(code as usize).copied().unwrap_or(Failed)
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::NoGrant => "no grant",
            Outcome::NotFound => "no such secret",
            Outcome::NoVersion => "no such version",
            Outcome::Expired => "expired",
            Outcome::ReadOnly => "read-only transaction",
            Outcome::Failed => "failed",
        }
    }
}

/// One read of a secret.
#[derive(Clone, Debug)]
pub(crate) struct Read {
    /// The reference asked for; all zeros when a name matched no secret.
    pub(crate) reference: [u8; 16],
    pub(crate) version: Option<i32>,
    pub(crate) outcome: Outcome,
    /// The role whose rights the read ran with.
    pub(crate) user: pg_sys::Oid,
}

const READS_PER_WORKER: usize = 2;
const READ_BYTES: usize = 16 + 4 + 1 + 4;
const HEADER_BYTES: usize = 4 + 4 + 4 + 1;

thread_local! {
    /// Reads of the current transaction: (subtransaction that made it, read).
    static READS: RefCell<Vec<(pg_sys::SubTransactionId, Read)>> = const { RefCell::new(Vec::new()) };
}

fn uuid_text(reference: &[u8; 16]) -> String {
    let h = hex::encode(reference);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A role's name, if the catalog may be read now: not during transaction abort, where
/// the messages about unrecorded reads are composed (they give the oid then).
fn role_name(oid: pg_sys::Oid) -> Option<String> {
    unsafe {
        if !pg_sys::IsTransactionState() {
            return None;
        }
        let name = pg_sys::GetUserNameFromId(oid, true);
        (!name.is_null()).then(|| std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned())
    }
}

/// The entry's details. A worker's entry (`by_worker`) says so, names the reading
/// session's user, and for a granted read says that its transaction rolled back (the
/// value may have reached the client all the same).
fn entry_details(read: &Read, by_worker: bool, session_user: Option<&str>) -> serde_json::Value {
    let mut details = json!({
        "granted": read.outcome == Outcome::Granted,
        "outcome": read.outcome.label(),
        "version": read.version,
    });
    if by_worker {
        details["recorded_by"] = json!("worker");
        details["session_user"] = json!(session_user);
        if read.outcome == Outcome::Granted {
            details["rolled_back"] = json!(true);
        }
    }
    details
}

fn write(read: &Read, tenant: Option<&str>, by_worker: bool, session_user: Option<&str>) -> Result<(), WardenError> {
    let actor = role_name(read.user);
    let reference = (read.reference != [0; 16]).then(|| uuid_text(&read.reference));
    append_own(&OwnEvent {
        event_type: "secret_read",
        action: "get_secret",
        resource_type: "secret",
        resource_id: reference.as_deref(),
        tenant,
        actor: actor.as_deref(),
        details: entry_details(read, by_worker, session_user),
    })?;
    Ok(())
}

/// Records a granted read in this transaction's ledger before its value is returned.
pub(crate) fn granted(read: Read, tenant: Option<&str>) -> Result<(), WardenError> {
    remember(read.clone());
    write(&read, tenant, false, None)
}

/// Remembers a refused read; the caller raises the refusal, whose abort hands the read
/// to a worker.
pub(crate) fn refused(read: Read) {
    remember(read);
}

fn remember(read: Read) {
    // The worker connects as the extension's owner, which abort processing cannot look
    // up: look it up now (a read refused before any query, such as one in a read-only
    // transaction, would otherwise only reach the server log).
    if let Err(error) = crate::privilege::store_owner() {
        pgrx::warning!("pg_warden: {error}");
    }
    let subxact = unsafe { pg_sys::GetCurrentSubTransactionId() };
    READS.with(|r| r.borrow_mut().push((subxact, read)));
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_PREPARE => {
            READS.with(|r| r.borrow_mut().clear());
            flush();
        }
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
            let lost: Vec<Read> = READS.with(|r| r.borrow_mut().drain(..).map(|(_, read)| read).collect());
            hand_over(&lost);
        }
        _ => {}
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact_event(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    parent_subid: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    match event {
        SUBXACT_EVENT_COMMIT_SUB => READS.with(|r| {
            for (subxact, _) in r.borrow_mut().iter_mut() {
                if *subxact == my_subid {
                    *subxact = parent_subid;
                }
            }
        }),
        SUBXACT_EVENT_ABORT_SUB => {
            let lost: Vec<Read> = READS.with(|r| {
                let mut reads = r.borrow_mut();
                let (lost, kept): (Vec<_>, Vec<_>) = reads.drain(..).partition(|(subxact, _)| *subxact == my_subid);
                *reads = kept;
                lost.into_iter().map(|(_, read)| read).collect()
            });
            hand_over(&lost);
        }
        _ => {}
    }
}

/// Registers the transaction callbacks; called once from `_PG_init`.
pub(crate) fn register_callbacks() {
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
        pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0));
    }
}

/// Reads waiting for this backend's recorder, at most this many; beyond it a read goes to
/// the server log at once.
const MAX_WAITING: usize = 10_000;

thread_local! {
    /// Rolled-back reads not yet handed to a worker.
    static WAITING: RefCell<std::collections::VecDeque<Read>> = const { RefCell::new(std::collections::VecDeque::new()) };
    /// Handles of this backend's recorder workers that may still run (allocated in
    /// TopMemoryContext).
    static RECORDERS: RefCell<Vec<*mut pg_sys::BackgroundWorkerHandle>> = const { RefCell::new(Vec::new()) };
}

/// Queues the reads of an aborted (sub)transaction for the recorder; runs inside abort
/// processing, so it raises nothing.
fn hand_over(reads: &[Read]) {
    if reads.is_empty() {
        return;
    }
    let session_user = unsafe { pg_sys::GetSessionUserId() };
    WAITING.with(|w| {
        let mut waiting = w.borrow_mut();
        for read in reads {
            if waiting.len() < MAX_WAITING {
                waiting.push_back(read.clone());
            } else {
                log_unrecorded(read, session_user);
            }
        }
    });
    flush();
}

/// Recorder workers one backend may run at once.
const RECORDERS_PER_BACKEND: usize = 2;
/// Recorders a backend may start as it exits, for the reads still waiting.
const RECORDERS_AT_EXIT: usize = 8;

/// Starts recorders for waiting reads while this backend runs fewer than `limit`: a
/// backend holds at most [`RECORDERS_PER_BACKEND`] `max_worker_processes` slots, so a
/// role that makes refused reads in a loop cannot take the slots parallel query and
/// logical replication need. Called after every transaction, before every read and at
/// exit; what no worker can take goes to the server log.
pub(crate) fn flush() {
    start_recorders(RECORDERS_PER_BACKEND);
}

fn start_recorders(limit: usize) {
    if WAITING.with(|w| w.borrow().is_empty()) {
        return;
    }
    let (database, owner, session_user) =
        unsafe { (pg_sys::MyDatabaseId, crate::privilege::cached_store_owner(), pg_sys::GetSessionUserId()) };
    while running_recorders() < limit {
        let chunk: Vec<Read> = WAITING.with(|w| {
            let mut waiting = w.borrow_mut();
            let n = waiting.len().min(READS_PER_WORKER);
            waiting.drain(..n).collect()
        });
        if chunk.is_empty() {
            return;
        }
        let started = match (owner, unsafe { pg_sys::RecoveryInProgress() }) {
            (Some(owner), false) => start_worker(database, owner, session_user, &chunk),
            _ => false,
        };
        if !started {
            // No slot free (or no way to write): the server log is the record.
            for read in &chunk {
                log_unrecorded(read, session_user);
            }
        }
    }
}

/// How many of this backend's recorders have not finished; frees the handles of those
/// that have.
fn running_recorders() -> usize {
    RECORDERS.with(|r| {
        r.borrow_mut().retain(|&handle| {
            let mut pid: pg_sys::pid_t = 0;
            let status = unsafe { pg_sys::GetBackgroundWorkerPid(handle, &mut pid) };
            let running =
                matches!(status, pg_sys::BgwHandleStatus::BGWH_STARTED | pg_sys::BgwHandleStatus::BGWH_NOT_YET_STARTED);
            if !running {
                unsafe { pg_sys::pfree(handle.cast()) };
            }
            running
        });
        r.borrow().len()
    })
}

/// At backend exit: its slots are about to be free, so the waiting reads get up to
/// [`RECORDERS_AT_EXIT`] recorders; the rest go to the server log.
#[pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: std::ffi::c_int, _arg: pg_sys::Datum) {
    start_recorders(RECORDERS_AT_EXIT);
    let session_user = unsafe { pg_sys::GetSessionUserId() };
    let waiting: Vec<Read> = WAITING.with(|w| w.borrow_mut().drain(..).collect());
    for read in &waiting {
        log_unrecorded(read, session_user);
    }
}

fn log_unrecorded(read: &Read, session_user: pg_sys::Oid) {
    // WARNING reaches the server log whatever the client's level; no ERROR during abort.
    pgrx::warning!("{}", unrecorded_message(read, session_user));
}

fn unrecorded_message(read: &Read, session_user: pg_sys::Oid) -> String {
    format!(
        "pg_warden: a read of secret {} (version {}) by role {} (session user {}) ended \"{}\" and was rolled back; \
         it could not be written to the audit ledger",
        uuid_text(&read.reference),
        read.version.map_or_else(|| "active".to_owned(), |v| v.to_string()),
        role_name(read.user).unwrap_or_else(|| read.user.to_u32().to_string()),
        role_name(session_user).unwrap_or_default(),
        read.outcome.label(),
    )
}

/// A worker's `bgw_extra`: hex of (database, owner, session user, count, reads), at most
/// [`READS_PER_WORKER`] reads (127 characters).
fn encode(database: pg_sys::Oid, owner: pg_sys::Oid, session_user: pg_sys::Oid, reads: &[Read]) -> String {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + READ_BYTES * reads.len());
    bytes.extend(database.to_u32().to_be_bytes());
    bytes.extend(owner.to_u32().to_be_bytes());
    bytes.extend(session_user.to_u32().to_be_bytes());
    bytes.push(reads.len() as u8);
    for read in reads {
        bytes.extend(read.reference);
        bytes.extend(read.version.unwrap_or(0).to_be_bytes());
        bytes.push(read.outcome.code());
        bytes.extend(read.user.to_u32().to_be_bytes());
    }
    hex::encode(bytes)
}

fn start_worker(database: pg_sys::Oid, owner: pg_sys::Oid, session_user: pg_sys::Oid, reads: &[Read]) -> bool {
    let builder = BackgroundWorkerBuilder::new("pg_warden vault read recorder")
        .set_type("pg_warden vault read recorder")
        .set_library("pg_warden")
        .set_function("warden_vault_record_worker")
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        .set_extra(&encode(database, owner, session_user, reads))
        .enable_spi_access();
    let mut worker: pg_sys::BackgroundWorker = (&builder).into();
    let mut handle: *mut pg_sys::BackgroundWorkerHandle = std::ptr::null_mut();
    // The handle outlives the (sub)transaction that is aborting.
    let started = unsafe {
        let old = pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
        let started = pg_sys::RegisterDynamicBackgroundWorker(&mut worker, &mut handle);
        pg_sys::MemoryContextSwitchTo(old);
        started
    };
    if started {
        RECORDERS.with(|r| r.borrow_mut().push(handle));
    }
    started
}

/// A read decoded from a worker's `bgw_extra`.
fn decode(extra: &str) -> Option<(pg_sys::Oid, pg_sys::Oid, pg_sys::Oid, Vec<Read>)> {
    let bytes = hex::decode(extra).ok()?;
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().unwrap()));
    let (database, owner, session_user) = (u32_at(0)?, u32_at(4)?, u32_at(8)?);
    let count = *bytes.get(12)? as usize;
    let mut reads = Vec::with_capacity(count);
    for i in 0..count {
        let at = HEADER_BYTES + i * READ_BYTES;
        let reference: [u8; 16] = bytes.get(at..at + 16)?.try_into().ok()?;
        let version = i32::from_be_bytes(bytes.get(at + 16..at + 20)?.try_into().ok()?);
        let outcome = Outcome::from_code(*bytes.get(at + 20)?);
        let user = u32_at(at + 21)?;
        reads.push(Read {
            reference,
            version: (version != 0).then_some(version),
            outcome,
            user: pg_sys::Oid::from(user),
        });
    }
    Some((pg_sys::Oid::from(database), pg_sys::Oid::from(owner), pg_sys::Oid::from(session_user), reads))
}

/// The worker: writes the reads of a rolled-back transaction, in one transaction.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn warden_vault_record_worker(_arg: pg_sys::Datum) {
    let Some((database, owner, session_user, reads)) = decode(BackgroundWorker::get_extra()) else {
        pgrx::warning!("pg_warden: vault read recorder started with malformed arguments");
        return;
    };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(database), Some(owner));
    BackgroundWorker::transaction(|| {
        // Composed before writing: if the ledger refuses the entries (no audit key, ...),
        // the server log still names each read the worker was given.
        let unrecorded: Vec<String> = reads.iter().map(|read| unrecorded_message(read, session_user)).collect();
        let session_user = role_name(session_user);
        PgTryBuilder::new(|| {
            for read in &reads {
                if let Err(error) = write(read, None, true, session_user.as_deref()) {
                    error.raise();
                }
            }
        })
        .catch_others(|cause| {
            for message in &unrecorded {
                pgrx::warning!("{message}");
            }
            cause.rethrow()
        })
        .execute();
    });
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    #[pg_test]
    fn worker_arguments_round_trip_and_fit_bgw_extra() {
        let reads = [
            Read {
                reference: [0xab; 16],
                version: Some(7),
                outcome: Outcome::NoGrant,
                user: pg_sys::Oid::from(16_384),
            },
            Read { reference: [0; 16], version: None, outcome: Outcome::ReadOnly, user: pg_sys::Oid::from(u32::MAX) },
        ];
        let extra = encode(pg_sys::Oid::from(5), pg_sys::Oid::from(10), pg_sys::Oid::from(16_385), &reads);
        // bgw_extra holds 128 bytes with its terminating NUL.
        assert!(extra.len() < 128, "{} characters", extra.len());
        let (database, owner, session_user, decoded) = decode(&extra).expect("decodes");
        assert_eq!((database.to_u32(), owner.to_u32(), session_user.to_u32()), (5, 10, 16_385));
        assert_eq!(decoded.len(), 2);
        for (a, b) in reads.iter().zip(&decoded) {
            assert_eq!((a.reference, a.version, a.outcome, a.user), (b.reference, b.version, b.outcome, b.user));
        }
        assert!(decode("zz").is_none());
        assert!(decode(&extra[..extra.len() - 2]).is_none());
    }

    #[pg_test]
    fn every_outcome_survives_its_code() {
        use Outcome::*;
        for outcome in [Granted, NoGrant, NotFound, NoVersion, Expired, ReadOnly, Failed] {
            assert_eq!(Outcome::from_code(outcome.code()), outcome);
        }
    }
}
