//! Index entries for ledger rows written without the executor ([`super::chain`]'s direct
//! path): the executor's `ExecInsertIndexTuples`, without building its state again for
//! every row.
//!
//! # Why a cache
//!
//! Opening the ledger's indexes through an executor state (`ExecOpenIndices`,
//! `BuildIndexInfo`, planning the partial index's predicate) costs as much as inserting
//! the index entries themselves, and a captured statement pays it for every row it
//! writes. The `IndexInfo` of each index, the prepared predicate and a tuple slot are kept
//! instead, per backend, in a memory context of their own. They are thrown away when a
//! relcache invalidation names the ledger or one of its indexes (or all relations), and
//! when a transaction aborts; each use starts by opening the indexes, which takes their
//! locks and so receives any invalidation first.
//!
//! Nothing is kept open between rows: each index is opened, given its entry and closed
//! again (its lock stays until the transaction ends, as the executor's would), so DDL
//! later in the same transaction finds no relation in use.
//!
//! # What it does not handle
//!
//! Indexes with expressions, exclusion constraints and deferrable unique constraints are
//! left to the executor: when the ledger has any (only its owner can add one), every row
//! goes through `ExecInsertIndexTuples`.

use std::cell::{Cell, RefCell};

use pgrx::pg_sys;

/// One index of the ledger, as the executor would prepare it.
struct Index {
    oid: pg_sys::Oid,
    info: *mut pg_sys::IndexInfo,
    unique: bool,
    /// The partial index's predicate, ready to evaluate; null for a full index.
    predicate: *mut pg_sys::ExprState,
}

struct Prepared {
    table: pg_sys::Oid,
    /// Holds everything below; deleted when the cache is dropped.
    context: pg_sys::MemoryContext,
    /// `None`: the ledger has an index only the executor handles.
    indexes: Option<Vec<Index>>,
    slot: *mut pg_sys::TupleTableSlot,
    econtext: *mut pg_sys::ExprContext,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // The slot holds no buffer pin (heap tuples only) and is cleared after each row.
        unsafe { pg_sys::MemoryContextDelete(self.context) };
    }
}

thread_local! {
    static PREPARED: RefCell<Option<Prepared>> = const { RefCell::new(None) };
    /// Set by invalidations and aborts; the cache is dropped before its next use (never
    /// inside the callback, which can run while an index is being opened).
    static STALE: Cell<bool> = const { Cell::new(false) };
    /// Set while [`prepare`] opens the indexes: an invalidation then cannot be matched
    /// against a cache that does not exist yet, and counts as concerning it.
    static PREPARING: Cell<bool> = const { Cell::new(false) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let ours = PREPARED.with(|p| {
        p.try_borrow().map_or(true, |p| {
            p.as_ref().is_some_and(|p| {
                p.table == relid || p.indexes.as_ref().is_some_and(|ix| ix.iter().any(|i| i.oid == relid))
            })
        })
    });
    if relid == pg_sys::InvalidOid || ours || PREPARING.get() {
        STALE.set(true);
    }
}

/// Registers the invalidation callback; called once from `_PG_init`.
pub(crate) fn register_invalidation_callback() {
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0)) };
}

/// A transaction aborted: an error may have left an index's cached state half updated.
pub(super) fn forget() {
    STALE.set(true);
    PREPARING.set(false);
}

/// Adds the index entries of `tuple`, just inserted into the ledger `rel` (its `t_self`
/// is set), checking unique indexes, as the executor does after an INSERT.
pub(super) unsafe fn insert(rel: pg_sys::Relation, tuple: pg_sys::HeapTuple) {
    // From PostgreSQL 17, BRIN keeps a pinned buffer in its insert state until
    // index_insert_cleanup, which only the executor's ExecCloseIndices calls: state kept
    // across transactions would outlive its pin.
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    return unsafe { executor_insert(rel, tuple) };
    #[cfg(not(any(feature = "pg17", feature = "pg18")))]
    unsafe {
        let table = (*rel).rd_id;
        if STALE.replace(false) || PREPARED.with(|p| p.borrow().as_ref().is_some_and(|p| p.table != table)) {
            PREPARED.with(|p| p.borrow_mut().take());
        }
        loop {
            if PREPARED.with(|p| p.borrow().is_none()) {
                PREPARING.set(true);
                STALE.set(false);
                let prepared = prepare(rel);
                PREPARING.set(false);
                PREPARED.with(|p| *p.borrow_mut() = Some(prepared));
            }
            let opened = PREPARED.with(|p| {
                let p = p.borrow();
                let p = p.as_ref().expect("prepared above");
                p.indexes.as_ref().map(|indexes| {
                    indexes
                        .iter()
                        .map(|index| pg_sys::index_open(index.oid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE))
                        .collect::<Vec<_>>()
                })
            });
            let Some(opened) = opened else {
                return executor_insert(rel, tuple);
            };
            // Opening took the locks and received any invalidation: start again if one
            // concerned the ledger.
            if STALE.replace(false) {
                for index in opened {
                    pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
                }
                PREPARED.with(|p| p.borrow_mut().take());
                continue;
            }
            PREPARED.with(|p| {
                let p = p.borrow();
                let p = p.as_ref().expect("prepared above");
                insert_prepared(p, &opened, rel, tuple);
            });
            for index in opened {
                pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
            }
            return;
        }
    }
}

#[cfg_attr(any(feature = "pg17", feature = "pg18"), allow(dead_code))]
unsafe fn insert_prepared(p: &Prepared, opened: &[pg_sys::Relation], rel: pg_sys::Relation, tuple: pg_sys::HeapTuple) {
    unsafe {
        let indexes = p.indexes.as_ref().expect("only called with indexes");
        pg_sys::ExecStoreHeapTuple(tuple, p.slot, false);
        (*p.econtext).ecxt_scantuple = p.slot;
        let mut values = [pg_sys::Datum::from(0); pg_sys::INDEX_MAX_KEYS as usize];
        let mut isnull = [false; pg_sys::INDEX_MAX_KEYS as usize];
        for (index, &index_rel) in indexes.iter().zip(opened) {
            if !(*index.info).ii_ReadyForInserts {
                continue;
            }
            if !index.predicate.is_null() && !pg_sys::ExecQual(index.predicate, p.econtext) {
                continue;
            }
            // No expressions (see `prepare`), so no executor state is needed.
            pg_sys::FormIndexDatum(index.info, p.slot, std::ptr::null_mut(), values.as_mut_ptr(), isnull.as_mut_ptr());
            let check = if index.unique {
                pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES
            } else {
                pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO
            };
            pg_sys::index_insert(
                index_rel,
                values.as_mut_ptr(),
                isnull.as_mut_ptr(),
                &mut (*tuple).t_self,
                rel,
                check,
                false,
                index.info,
            );
        }
        pg_sys::MemoryContextReset((*p.econtext).ecxt_per_tuple_memory);
        pg_sys::ExecClearTuple(p.slot);
    }
}

/// Prepares the ledger's indexes, or finds one only the executor handles.
#[cfg_attr(any(feature = "pg17", feature = "pg18"), allow(dead_code))]
unsafe fn prepare(rel: pg_sys::Relation) -> Prepared {
    unsafe {
        let context = pg_sys::AllocSetContextCreateInternal(
            pg_sys::CacheMemoryContext,
            c"pg_warden ledger indexes".as_ptr(),
            pg_sys::ALLOCSET_SMALL_MINSIZE as usize,
            pg_sys::ALLOCSET_SMALL_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        );
        let old = pg_sys::MemoryContextSwitchTo(context);
        // Dropped (deleting the context) if anything below raises an error.
        let mut prepared = Prepared {
            table: (*rel).rd_id,
            context,
            indexes: None,
            slot: std::ptr::null_mut(),
            econtext: std::ptr::null_mut(),
        };
        let restore = scopeguard(old);
        // A copy of the row type, not reference counted: the slot outlives the transaction,
        // whose resource owner would otherwise report the relcache's descriptor leaked.
        let tupdesc = pg_sys::CreateTupleDescCopy((*rel).rd_att);
        prepared.slot = pg_sys::MakeSingleTupleTableSlot(tupdesc, &pg_sys::TTSOpsHeapTuple);
        prepared.econtext = pg_sys::CreateStandaloneExprContext();
        let list = pg_sys::RelationGetIndexList(rel);
        let count = if list.is_null() { 0 } else { (*list).length as usize };
        let mut indexes = Vec::with_capacity(count);
        let mut plain = true;
        for i in 0..count {
            let oid = (*(*list).elements.add(i)).oid_value;
            let index_rel = pg_sys::index_open(oid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
            let form = &*(*index_rel).rd_index;
            let info = pg_sys::BuildIndexInfo(index_rel);
            if !(*info).ii_Expressions.is_null() || form.indisexclusion || (form.indisunique && !form.indimmediate) {
                plain = false;
            }
            let predicate = if (*info).ii_Predicate.is_null() {
                std::ptr::null_mut()
            } else {
                let planned = pg_sys::expression_planner((*info).ii_Predicate.cast()).cast::<pg_sys::List>();
                pg_sys::ExecInitQual(planned, std::ptr::null_mut())
            };
            indexes.push(Index { oid, info, unique: form.indisunique, predicate });
            pg_sys::index_close(index_rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        }
        if plain {
            prepared.indexes = Some(indexes);
        }
        drop(restore);
        prepared
    }
}

/// Switches back to `old` when dropped, on success or unwinding.
#[cfg_attr(any(feature = "pg17", feature = "pg18"), allow(dead_code))]
fn scopeguard(old: pg_sys::MemoryContext) -> impl Drop {
    struct Restore(pg_sys::MemoryContext);
    impl Drop for Restore {
        fn drop(&mut self) {
            unsafe { pg_sys::MemoryContextSwitchTo(self.0) };
        }
    }
    Restore(old)
}

/// The executor's own index insertion, for a ledger with an index [`prepare`] leaves to it.
unsafe fn executor_insert(rel: pg_sys::Relation, tuple: pg_sys::HeapTuple) {
    unsafe {
        let estate = pg_sys::CreateExecutorState();
        let result_rel = pg_sys::palloc0(std::mem::size_of::<pg_sys::ResultRelInfo>()).cast::<pg_sys::ResultRelInfo>();
        (*result_rel).type_ = pg_sys::NodeTag::T_ResultRelInfo;
        pg_sys::InitResultRelInfo(result_rel, rel, 1, std::ptr::null_mut(), 0);
        pg_sys::ExecOpenIndices(result_rel, false);
        let slot = pg_sys::MakeSingleTupleTableSlot((*rel).rd_att, &pg_sys::TTSOpsHeapTuple);
        pg_sys::ExecStoreHeapTuple(tuple, slot, false);
        let (update, no_dup_err, spec_conflict, arbiter_indexes) =
            (false, false, std::ptr::null_mut(), std::ptr::null_mut());
        // PostgreSQL 16 added `onlySummarizing` (false: every index gets the entry).
        #[cfg(any(feature = "pg14", feature = "pg15"))]
        pg_sys::ExecInsertIndexTuples(result_rel, slot, estate, update, no_dup_err, spec_conflict, arbiter_indexes);
        #[cfg(not(any(feature = "pg14", feature = "pg15")))]
        pg_sys::ExecInsertIndexTuples(
            result_rel,
            slot,
            estate,
            update,
            no_dup_err,
            spec_conflict,
            arbiter_indexes,
            false,
        );
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::ExecCloseIndices(result_rel);
        pg_sys::FreeExecutorState(estate);
    }
}
