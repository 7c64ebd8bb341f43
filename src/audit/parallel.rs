//! Parallel full verification: the ledger cut into segments (position ranges of one
//! chain), verified by PostgreSQL parallel workers and the leader at once, and joined
//! into the report one verifier reading everything gives (`warden_core`'s
//! [`Verifier::segment`] and [`Verifier::finish_segments`]).
//!
//! - Every participant reads under the leader's snapshot and settings, as the extension
//!   owner (PostgreSQL's parallel infrastructure restores them in each worker), through
//!   the same queries and the same verifier as a serial verification.
//! - Segments are handed out in time order across chains (slice by slice: each chain's
//!   first share of positions, then each chain's second share, ...), so the participants
//!   read the heap pages written in the same period at about the same time: entries of
//!   interleaved chains share pages, and a ledger larger than `shared_buffers` is read
//!   from storage about once rather than once per chain.
//! - When a segment finds anything (an issue, a missing or doubled position at a
//!   boundary, a link broken across one), or the ledger holds entries without a chain,
//!   the ledger is read again serially: its report says what is wrong in the usual order.
//!   A parallel verification therefore gives the serial report exactly, or a serial one.
//! - Used for full verification when the transaction has written nothing (a parallel
//!   operation can neither take a new snapshot nor write), `max_parallel_workers_per_gather`
//!   is above 0 and the ledger holds at least `warden.parallel_verify_min_entries`.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use pgrx::prelude::*;
use warden_core::ledger::{Checkpoint, Digest, Report, SegmentOutcome, Verifier};

use super::{for_each_entry, load_checkpoints, verification_key};
use crate::error::WardenError;
use crate::privilege;

/// Segments handed to each participant, about: enough for the fast ones to take over
/// from the slow ones.
const SEGMENTS_PER_PARTICIPANT: i64 = 16;
/// Fewer positions than this per segment cost more in queries than they gain.
const MIN_SEGMENT: i64 = 5_000;
/// The shared area's key in the parallel context's table of contents.
const SHARED_KEY: u64 = 0x7761_7264_656e_0001;

/// One chain as the planning query found it.
struct ChainRange {
    chain_id: i32,
    first_pos: i64,
    head_pos: i64,
}

/// A segment to read, and what reading it found.
#[repr(C)]
struct Item {
    chain_id: i32,
    /// Positions `lo..=hi`; `first` for the chain's first segment.
    lo: i64,
    hi: i64,
    first: bool,
    done: AtomicBool,
    /// Written by the participant that took the item, read by the leader once every
    /// worker finished.
    outcome: UnsafeCell<SegmentOutcome>,
}

/// The shared area: this header, `items` items, then `digest_len` bytes of the digest's
/// JSON (none without a digest).
#[repr(C)]
struct Header {
    /// [`LAYOUT`]: a worker whose library lays the area out differently (the package was
    /// upgraded while the leader ran the old one) refuses it.
    layout: u64,
    next: AtomicU32,
    items: u32,
    digest_len: u32,
}

/// A mark of the shared area's layout: a fixed magic and the sizes of its parts.
const LAYOUT: u64 = 0x7764_0000_0000_0000
    | ((std::mem::size_of::<Item>() as u64) << 32)
    | ((std::mem::size_of::<SegmentOutcome>() as u64) << 16)
    | std::mem::size_of::<Header>() as u64;

/// How a full verification went: its report (`None` when it must be read serially), and
/// the parallel workers that took part.
pub(super) struct Outcome {
    pub(super) report: Option<Report>,
    pub(super) workers: i32,
}

/// A full verification in parallel, against `digest` when given; `report: None` when
/// parallel reading does not apply or the segments did not join (read serially then).
pub(super) fn verify(checkpoints: &[Checkpoint], digest: Option<&Digest>) -> Result<Outcome, WardenError> {
    let serial = Outcome { report: None, workers: 0 };
    let wanted = unsafe { pg_sys::max_parallel_workers_per_gather };
    let writing = unsafe { pg_sys::GetCurrentTransactionIdIfAny() } != pg_sys::InvalidTransactionId;
    if wanted <= 0 || writing || unsafe { pg_sys::IsInParallelMode() } {
        return Ok(serial);
    }
    let Some(chains) = plan()? else { return Ok(serial) };
    // Positions are issued from 1 on, one at a time: a chain that starts below 1 or spans
    // more positions than any ledger holds (rows stored as given) is left to a serial read,
    // which reports it.
    if chains.iter().any(|c| c.first_pos < 1 || c.head_pos < c.first_pos) {
        return Ok(serial);
    }
    let total: i128 = chains.iter().map(|c| i128::from(c.head_pos) - i128::from(c.first_pos) + 1).sum();
    if total < i128::from(crate::gucs::PARALLEL_VERIFY_MIN_ENTRIES.get()) || total > i128::from(i64::MAX) {
        return Ok(serial);
    }
    let items = segments(&chains, total as i64, i64::from(wanted) + 1);
    let digest_json = digest.map(|d| d.to_json()).unwrap_or_default();
    let outcomes = privilege::as_extension_owner(|| run_parallel(&items, &digest_json, wanted))?;
    let (outcomes, workers) = outcomes;
    let report = Verifier::new(checkpoints, digest, verification_key).finish_segments(&outcomes);
    Ok(Outcome { report, workers })
}

/// Every chain with its lowest and highest position, by one index descent each; `None`
/// when an entry has no chain or no position (a serial read reports those).
fn plan() -> Result<Option<Vec<ChainRange>>, WardenError> {
    const PLAN: &str = concat!(
        super::chains_cte!(),
        "SELECT c.chain_id, \
                (SELECT pg_catalog.min(a.chain_pos) FROM warden.audit_log a \
                  WHERE a.chain_id OPERATOR(pg_catalog.=) c.chain_id), \
                (SELECT pg_catalog.max(a.chain_pos) FROM warden.audit_log a \
                  WHERE a.chain_id OPERATOR(pg_catalog.=) c.chain_id), \
                EXISTS (SELECT FROM warden.audit_log a \
                         WHERE a.chain_id OPERATOR(pg_catalog.=) c.chain_id AND a.chain_pos IS NULL) \
           FROM chains c WHERE c.chain_id IS NOT NULL \
         UNION ALL \
         SELECT NULL, NULL, NULL, EXISTS (SELECT FROM warden.audit_log a WHERE a.chain_id IS NULL)"
    );
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let mut chains = Vec::new();
            for row in client.select(PLAN, None, &[])? {
                if row.get::<bool>(4)?.unwrap_or(true) {
                    return Ok(None);
                }
                if let (Some(chain_id), Some(first_pos), Some(head_pos)) =
                    (row.get::<i32>(1)?, row.get::<i64>(2)?, row.get::<i64>(3)?)
                {
                    chains.push(ChainRange { chain_id, first_pos, head_pos });
                }
            }
            Ok::<_, pgrx::spi::SpiError>(Some(chains))
        })
    })
}

/// The segments: each chain cut into ranges of about the same number of positions
/// (`MIN_SEGMENT` or more, about `SEGMENTS_PER_PARTICIPANT` per participant), in the
/// order of their place in their chain (every chain's first range, then every chain's
/// second share, ...), which follows the order they were written in.
fn segments(chains: &[ChainRange], total: i64, participants: i64) -> Vec<(i32, i64, i64, bool)> {
    let most = participants * SEGMENTS_PER_PARTICIPANT;
    let width = (total / most).max(MIN_SEGMENT);
    let mut items = Vec::new();
    for chain in chains {
        // `total` holds every span, so neither this nor the bounds overflow; the count is
        // capped, whatever the positions.
        let len = chain.head_pos - chain.first_pos + 1;
        let count = (len / width).clamp(1, most);
        let bound = |k: i64| chain.first_pos + ((i128::from(len) * i128::from(k)) / i128::from(count)) as i64;
        for k in 0..count {
            // Sorted by where the range starts in its chain, as a fraction.
            let place = (i128::from(k) << 32) / i128::from(count);
            items.push((place, chain.chain_id, bound(k), bound(k + 1) - 1, k == 0));
        }
    }
    items.sort_unstable();
    items.into_iter().map(|(_, chain_id, lo, hi, first)| (chain_id, lo, hi, first)).collect()
}

/// Launches up to `wanted` workers, verifies segments alongside them, and returns every
/// segment's outcome in (chain, position) order with the workers launched.
fn run_parallel(
    items: &[(i32, i64, i64, bool)],
    digest_json: &str,
    wanted: i32,
) -> Result<(Vec<SegmentOutcome>, i32), WardenError> {
    let header_size = std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<Item>());
    let items_size = items.len() * std::mem::size_of::<Item>();
    let size = header_size + items_size + digest_json.len();
    let count = u32::try_from(items.len()).map_err(|_| WardenError::Internal("too many segments".into()))?;
    let digest_len = u32::try_from(digest_json.len()).map_err(|_| WardenError::Internal("digest too large".into()))?;
    unsafe {
        pg_sys::EnterParallelMode();
        let pcxt =
            pg_sys::CreateParallelContext(c"$libdir/pg_warden".as_ptr(), c"warden_parallel_verify".as_ptr(), wanted);
        // shm_toc_estimate_chunk and shm_toc_estimate_keys, which are C macros.
        (*pcxt).estimator.space_for_chunks += size.next_multiple_of(64);
        (*pcxt).estimator.number_of_keys += 1;
        pg_sys::InitializeParallelDSM(pcxt);
        let base = pg_sys::shm_toc_allocate((*pcxt).toc, size).cast::<u8>();
        base.cast::<Header>().write(Header { layout: LAYOUT, next: AtomicU32::new(0), items: count, digest_len });
        let shared_items = base.add(header_size).cast::<Item>();
        for (i, &(chain_id, lo, hi, first)) in items.iter().enumerate() {
            shared_items.add(i).write(Item {
                chain_id,
                lo,
                hi,
                first,
                done: AtomicBool::new(false),
                outcome: UnsafeCell::new(SegmentOutcome::default()),
            });
        }
        std::ptr::copy_nonoverlapping(digest_json.as_ptr(), base.add(header_size + items_size), digest_json.len());
        pg_sys::shm_toc_insert((*pcxt).toc, SHARED_KEY, base.cast());
        pg_sys::LaunchParallelWorkers(pcxt);
        let workers = (*pcxt).nworkers_launched;
        let shared = Shared::at(base);
        let led = participate(&shared);
        // Workers' errors are raised here, in the leader, as theirs.
        pg_sys::WaitForParallelWorkersToFinish(pcxt);
        let mut outcomes = Vec::with_capacity(items.len());
        let mut complete = led.is_ok();
        for item in shared.items() {
            complete &= item.done.load(Ordering::Acquire);
            outcomes.push(*item.outcome.get());
        }
        pg_sys::DestroyParallelContext(pcxt);
        pg_sys::ExitParallelMode();
        led?;
        if !complete {
            return Err(WardenError::Internal("a verification segment was left unread".into()));
        }
        outcomes.sort_by_key(|o| (o.chain_id, o.from_pos.is_some(), o.from_pos));
        Ok((outcomes, workers))
    }
}

/// The shared area as one participant sees it.
struct Shared {
    header: *const Header,
    items: *const Item,
    digest: Option<String>,
}

impl Shared {
    /// # Safety
    /// `base` is a shared area [`run_parallel`] laid out.
    unsafe fn at(base: *const u8) -> Shared {
        unsafe {
            let header = base.cast::<Header>();
            let header_size = std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<Item>());
            let items = base.add(header_size).cast::<Item>();
            let digest_len = (*header).digest_len as usize;
            let digest_start = base.add(header_size + (*header).items as usize * std::mem::size_of::<Item>());
            let digest = (digest_len > 0)
                .then(|| String::from_utf8_lossy(std::slice::from_raw_parts(digest_start, digest_len)).into_owned());
            Shared { header, items, digest }
        }
    }

    fn items(&self) -> &[Item] {
        unsafe { std::slice::from_raw_parts(self.items, (*self.header).items as usize) }
    }

    /// The next segment no participant took yet.
    fn take(&self) -> Option<&Item> {
        let next = unsafe { (*self.header).next.fetch_add(1, Ordering::AcqRel) } as usize;
        self.items().get(next)
    }
}

/// Verifies segments until none is left, writing each one's outcome into its item.
fn participate(shared: &Shared) -> Result<(), WardenError> {
    let digest = shared
        .digest
        .as_deref()
        .map(Digest::parse)
        .transpose()
        .map_err(|e| WardenError::Internal(format!("parallel verification: digest unreadable: {e}")))?;
    let checkpoints = load_checkpoints()?;
    let clock = std::time::Instant::now();
    let mut taken = 0;
    let mut entries = 0;
    while let Some(item) = shared.take() {
        taken += 1;
        let from = (!item.first).then_some(item.lo);
        let mut verifier = Verifier::segment(&checkpoints, digest.as_ref(), verification_key, item.chain_id, from);
        for_each_entry(
            "chain_id OPERATOR(pg_catalog.=) $1 \
             AND chain_pos OPERATOR(pg_catalog.>=) $2 AND chain_pos OPERATOR(pg_catalog.<=) $3",
            vec![item.chain_id.into(), item.lo.into(), item.hi.into()],
            |entry, seals| verifier.push_sealed(entry, seals).map_err(|e| WardenError::LedgerCorrupt(e.to_string())),
        )?;
        let mut outcome = verifier.finish_segment();
        // An empty segment still belongs to its chain and position, for the join.
        outcome.chain_id = item.chain_id;
        outcome.from_pos = from;
        // SAFETY: only the participant that took the item writes it, and the leader reads
        // it after every worker finished.
        unsafe { item.outcome.get().write(outcome) };
        entries += outcome.entries;
        item.done.store(true, Ordering::Release);
    }
    let participant = unsafe { pg_sys::ParallelWorkerNumber };
    pgrx::debug1!("pg_warden: parallel verification participant {participant} (-1: the leader) read {taken} segments, {entries} entries in {:?}", clock.elapsed());
    Ok(())
}

/// The parallel workers' entry point, which PostgreSQL looks up by name in this library.
///
/// # Safety
/// Called by PostgreSQL's parallel worker main with the context [`run_parallel`] set up.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn warden_parallel_verify(_seg: *mut pg_sys::dsm_segment, toc: *mut pg_sys::shm_toc) {
    let base = unsafe { pg_sys::shm_toc_lookup(toc, SHARED_KEY, false) }.cast::<u8>();
    if unsafe { (*base.cast::<Header>()).layout } != LAYOUT {
        WardenError::Internal("parallel verification: the leader runs another build of pg_warden".into()).raise();
    }
    let shared = unsafe { Shared::at(base) };
    if let Err(e) = participate(&shared) {
        e.raise();
    }
}
