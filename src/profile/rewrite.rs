//! The heap rewrite: each table is masked in one pass, the way ALTER TABLE, CLUSTER and
//! VACUUM FULL rewrite a table.
//!
//! A new heap is filled with the masked rows, swapped in with `finish_heap_swap`, and
//! every index is rebuilt once over it (which verifies unique and exclusion constraints).
//! The table keeps its oid, and nothing that hangs off it is dropped or re-created:
//! indexes and constraints keep their oids and names; grants, comments, policies,
//! triggers and dependent views stay as they were. No trigger fires. Values are masked as
//! `warden_core::profile::compat::ColumnType` says the column stores them.

use std::ffi::c_char;
use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::PgMemoryContexts;
use warden_core::anonymize::{Pseudonymizer, Strategy};
use warden_core::profile::compat::{ColumnType, MaskError};
use warden_core::profile::Profile;

use super::check::Checked;
use crate::error::WardenError;

// Heap rewriting, as ALTER TABLE uses it (commands/cluster.h, not in pgrx's bindings).
// Called through `pg_guard_ffi_boundary`, as pgrx calls its own bindings.
unsafe extern "C-unwind" {
    fn make_new_heap(
        old_heap: pg_sys::Oid,
        tablespace: pg_sys::Oid,
        access_method: pg_sys::Oid,
        relpersistence: c_char,
        lockmode: pg_sys::LOCKMODE,
    ) -> pg_sys::Oid;
    #[allow(clippy::too_many_arguments)]
    fn finish_heap_swap(
        old_heap: pg_sys::Oid,
        new_heap: pg_sys::Oid,
        is_system_catalog: bool,
        swap_toast_by_content: bool,
        check_constraints: bool,
        is_internal: bool,
        frozen_xid: pg_sys::TransactionId,
        cutoff_multi: pg_sys::MultiXactId,
        new_relpersistence: c_char,
    );
}

/// One column to mask, ready.
pub(super) struct MaskColumn {
    pub(super) name: String,
    pub(super) attnum: i16,
    kind: ColumnType,
    pub(super) strategy: Strategy,
    pub(super) alias: String,
    pub(super) seed: i64,
    pseudonymizer: Rc<Pseudonymizer>,
}

/// One table to mask, ready.
pub(super) struct MaskTable {
    /// `schema.table` as the profile writes it.
    pub(super) name: String,
    pub(super) sql_name: String,
    pub(super) oid: pg_sys::Oid,
    pub(super) columns: Vec<MaskColumn>,
}

impl MaskColumn {
    /// The masked datum of a non-NULL value.
    ///
    /// # Safety
    /// `datum` is a non-NULL value of the column's type.
    unsafe fn mask(&self, datum: pg_sys::Datum, table: &str) -> Result<pg_sys::Datum, WardenError> {
        match self.kind {
            ColumnType::Integer => Ok(pg_sys::Datum::from(self.pseudonymizer.integer(datum.value() as i32))),
            ColumnType::Bigint => Ok(pg_sys::Datum::from(self.pseudonymizer.bigint(datum.value() as i64))),
            ColumnType::Text { .. } => {
                let bytes = pgrx::varlena_to_byte_slice(pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr()));
                let text = std::str::from_utf8(bytes).map_err(|_| {
                    WardenError::invalid(format!(
                        "column \"{}\" of {table} holds text that is not valid UTF-8",
                        self.name
                    ))
                })?;
                let masked =
                    self.kind.mask_text(&self.pseudonymizer, &self.strategy, text).map_err(|error| match error {
                        MaskError::TooLong(type_name) => {
                            WardenError::StringTooLong { column: self.name.clone(), table: table.into(), type_name }
                        }
                        MaskError::Strategy(error) => WardenError::InvalidArgument {
                            message: format!("cannot mask column \"{}\" of {table}: {error}", self.name),
                            hint: error.hint().map(|hint| format!("Nothing was changed. {hint}")),
                        },
                    })?;
                Ok(pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
                    masked.as_ptr() as *const c_char,
                    masked.len() as i32,
                )))
            }
        }
    }
}

/// Rewrites `table`'s heap with its columns masked and swaps it in, rebuilding every
/// index. Returns the rows scanned and, per column, the values masked (non-NULL).
pub(super) fn rewrite(table: &MaskTable) -> Result<(i64, Vec<i64>), WardenError> {
    let lockmode = pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE;
    let mut masked = vec![0i64; table.columns.len()];
    let mut rows = 0i64;
    unsafe {
        let old = pg_sys::table_open(table.oid, lockmode);
        pg_sys::CheckTableNotInUse(old, c"warden.apply_profile".as_ptr());
        let class = &*(*old).rd_rel;
        let persistence = class.relpersistence;
        let (tablespace, access_method) = (class.reltablespace, class.relam);
        let new_oid = pg_sys::ffi::pg_guard_ffi_boundary(|| {
            make_new_heap(table.oid, tablespace, access_method, persistence, lockmode)
        });
        let new = pg_sys::table_open(new_oid, lockmode);
        let old_desc = (*old).rd_att;
        let new_desc = (*new).rd_att;
        let natts = (*old_desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0usize); natts];
        let mut nulls = vec![false; natts];

        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let scan = pg_sys::table_beginscan(old, snapshot, 0, std::ptr::null_mut());
        let bulk = pg_sys::GetBulkInsertState();
        let cid = pg_sys::GetCurrentCommandId(true);
        let mut per_row = PgMemoryContexts::new("warden.apply_profile row");
        loop {
            pgrx::check_for_interrupts!();
            let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tuple.is_null() {
                break;
            }
            per_row.switch_to(|_| -> Result<(), WardenError> {
                pg_sys::heap_deform_tuple(tuple, old_desc, values.as_mut_ptr(), nulls.as_mut_ptr());
                for (column, count) in table.columns.iter().zip(masked.iter_mut()) {
                    let at = (column.attnum - 1) as usize;
                    if !nulls[at] {
                        values[at] = column.mask(values[at], &table.name)?;
                        *count += 1;
                    }
                }
                let masked_tuple = pg_sys::heap_form_tuple(new_desc, values.as_mut_ptr(), nulls.as_mut_ptr());
                pg_sys::heap_insert(new, masked_tuple, cid, pg_sys::TABLE_INSERT_SKIP_FSM as i32, bulk);
                Ok(())
            })?;
            per_row.reset();
            rows += 1;
        }
        pg_sys::table_endscan(scan);
        pg_sys::UnregisterSnapshot(snapshot);
        pg_sys::FreeBulkInsertState(bulk);
        pg_sys::table_close(new, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::table_close(old, pg_sys::NoLock as pg_sys::LOCKMODE);
        // As ALTER TABLE's rewrite does: the new rows carry this transaction's xid, and
        // rebuilding the indexes checks unique and exclusion constraints.
        let (frozen_xid, cutoff_multi) = (pg_sys::RecentXmin, pg_sys::ReadNextMultiXactId());
        let old_oid = table.oid;
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            finish_heap_swap(old_oid, new_oid, false, false, true, true, frozen_xid, cutoff_multi, persistence)
        });
    }
    Ok((rows, masked))
}

/// The tables to mask, in profile order, each column with its pseudonymizer built.
pub(super) fn plan(profile: &Profile, checked: &Checked) -> Result<Vec<MaskTable>, WardenError> {
    let mut plans = Vec::new();
    for rule in &profile.tables {
        let table = checked
            .tables
            .get(&(rule.schema.clone(), rule.table.clone()))
            .ok_or_else(|| WardenError::Internal(format!("table {}.{} was not checked", rule.schema, rule.table)))?;
        let mut columns = Vec::new();
        for column_rule in &rule.columns {
            let column = table
                .columns
                .get(&column_rule.column)
                .and_then(|c| c.kind.map(|kind| (c.attnum, kind)))
                .ok_or_else(|| WardenError::Internal(format!("column {} was not checked", column_rule.column)))?;
            columns.push(MaskColumn {
                name: column_rule.column.clone(),
                attnum: column.0,
                kind: column.1,
                strategy: column_rule.strategy.clone(),
                alias: column_rule.alias.clone(),
                seed: column_rule.seed,
                pseudonymizer: crate::anonymize::pseudonymizer(&profile.key, column_rule.seed)?,
            });
        }
        if !columns.is_empty() {
            plans.push(MaskTable {
                name: format!("{}.{}", rule.schema, rule.table),
                sql_name: table.sql_name.clone(),
                oid: table.oid,
                columns,
            });
        }
    }
    Ok(plans)
}
