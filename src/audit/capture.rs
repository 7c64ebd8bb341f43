//! Row capture for audited tables: `warden.audit_capture()`, the AFTER trigger that
//! `warden.audit_table` puts on a table, one ledger entry per row change and one per
//! TRUNCATE.
//!
//! # Whose rights
//!
//! The trigger is an ordinary (SECURITY INVOKER) C function, so everything that turns the
//! row into JSON runs with the rights of the role whose statement fired it: the output
//! functions and casts to `json` of the table's column types, domains, whatever the
//! table's owner or the writer defined. Only [`chain::append`], which takes the finished
//! datums and resolves no names, runs as the extension owner. (Until 0.2.0 this was a
//! SECURITY DEFINER PL/pgSQL function: a writer's temporary `jsonb` domain, or an owner's
//! cast to `json`, ran as the superuser.)

use std::convert::Infallible;
use std::ffi::CStr;

use pgrx::prelude::*;

use super::chain;
use crate::error::WardenError;

trigger_entry!(
    audit_capture_wrapper,
    pg_finfo_audit_capture_wrapper,
    audit_capture_fired_wrapper,
    "warden.audit_capture()"
);

/// AFTER INSERT OR UPDATE OR DELETE (row) and AFTER TRUNCATE (statement) on an audited
/// table. `TG_ARGV` holds the table's primary key columns, which make the entry's
/// `resource_id`. Errors are raised with their SQLSTATE ([`WardenError::raise`]), never
/// returned: pgrx would report an `Err` as an internal error.
#[pg_trigger(sql = false)]
fn audit_capture_fired<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, Infallible> {
    match capture(trigger) {
        Ok(()) => Ok(None),
        Err(error) => error.raise(),
    }
}

fn capture(trigger: &pgrx::PgTrigger<'_>) -> Result<(), WardenError> {
    use pgrx::PgTriggerOperation::*;
    chain::CAPTURE_FIRING.check(trigger)?;
    if replicated_with_its_entries()? {
        return Ok(());
    }
    let op = trigger.op().map_err(|e| WardenError::Internal(e.to_string()))?;
    let data = trigger.trigger_data();
    let rel = data.tg_relation;
    let (old, new) = match op {
        Insert => (None, Some(data.tg_trigtuple)),
        Update => (Some(data.tg_trigtuple), Some(data.tg_newtuple)),
        Delete => (Some(data.tg_trigtuple), None),
        Truncate => (None, None),
    };
    let before_state = old.map(|tuple| unsafe { row_to_jsonb(rel, tuple) });
    let after_state = new.map(|tuple| unsafe { row_to_jsonb(rel, tuple) });
    let key_columns = unsafe { trigger_arguments(data.tg_trigger) };
    let resource_id = after_state.or(before_state).and_then(|doc| unsafe { key_text(doc, &key_columns) });
    let action = match op {
        Insert => "INSERT",
        Update => "UPDATE",
        Delete => "DELETE",
        Truncate => "TRUNCATE",
    };
    let event_type = if matches!(op, Truncate) { "table_truncate" } else { "row_change" };
    let event = chain::EventArgs {
        event_type: event_type.into_datum(),
        action: action.into_datum(),
        resource_type: unsafe { qualified_name(rel) }.into_datum(),
        resource_id: resource_id.and_then(|id| id.into_datum()),
        before_state,
        after_state,
        ..Default::default()
    };
    chain::append(&event)?;
    Ok(())
}

thread_local! {
    /// (transaction, answer) of [`replicated_with_its_entries`], asked once per
    /// transaction the apply worker applies.
    static APPLYING: std::cell::Cell<Option<(pg_sys::LocalTransactionId, bool)>> = const { std::cell::Cell::new(None) };
}

/// A change the logical replication apply worker is applying to a subscriber whose
/// ledger is itself a subscription target: the publisher's ledger captured it, and that
/// entry arrives through replication. Capturing it again here would write a second,
/// local entry into a ledger that takes none of its own.
fn replicated_with_its_entries() -> Result<bool, WardenError> {
    if !unsafe { pg_sys::IsLogicalWorker() } {
        return Ok(false);
    }
    #[cfg(not(any(feature = "pg17", feature = "pg18")))]
    let transaction = unsafe { (*pg_sys::MyProc).lxid };
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    let transaction = unsafe { (*pg_sys::MyProc).vxid.lxid };
    if let Some((cached, answer)) = APPLYING.get() {
        if cached == transaction {
            return Ok(answer);
        }
    }
    let table = unsafe {
        pg_sys::get_relname_relid(c"audit_log".as_ptr(), pg_sys::get_namespace_oid(c"warden".as_ptr(), false))
    };
    let answer = chain::subscribed(table)?;
    APPLYING.set(Some((transaction, answer)));
    Ok(answer)
}

thread_local! {
    /// The oid of the built-in `to_jsonb(anyelement)`, looked up by its C name once.
    static TO_JSONB: std::cell::Cell<pg_sys::Oid> = const { std::cell::Cell::new(pg_sys::InvalidOid) };
}

/// `to_jsonb(row)` of a heap tuple of `rel`, with the current user's rights. `to_jsonb`
/// learns its argument's type from the call expression, so the call gets one.
unsafe fn row_to_jsonb(rel: pg_sys::Relation, tuple: pg_sys::HeapTuple) -> pg_sys::Datum {
    unsafe {
        let mut function = TO_JSONB.get();
        if function == pg_sys::InvalidOid {
            function = pg_sys::fmgr_internal_function(c"to_jsonb".as_ptr());
            TO_JSONB.set(function);
        }
        let row_type = (*(*rel).rd_rel).reltype;
        let row = pg_sys::heap_copy_tuple_as_datum(tuple, (*rel).rd_att);
        let mut flinfo: pg_sys::FmgrInfo = std::mem::zeroed();
        pg_sys::fmgr_info(function, &mut flinfo);
        let mut args = pgrx::PgList::<pg_sys::Node>::new();
        args.push(pg_sys::makeNullConst(row_type, -1, pg_sys::InvalidOid).cast());
        flinfo.fn_expr = pg_sys::makeFuncExpr(
            function,
            pg_sys::JSONBOID,
            args.into_pg(),
            pg_sys::InvalidOid,
            pg_sys::InvalidOid,
            pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
        )
        .cast();
        pg_sys::FunctionCall1Coll(&mut flinfo, pg_sys::InvalidOid, row)
    }
}

unsafe fn trigger_arguments(trigger: *const pg_sys::Trigger) -> Vec<String> {
    unsafe {
        let count = (*trigger).tgnargs as usize;
        if count == 0 || (*trigger).tgargs.is_null() {
            return Vec::new();
        }
        std::slice::from_raw_parts((*trigger).tgargs, count)
            .iter()
            .map(|&arg| CStr::from_ptr(arg).to_string_lossy().into_owned())
            .collect()
    }
}

/// The key columns' values as `doc ->> column`, comma-separated, NULLs left out (as
/// `string_agg` did in 0.2.0); `None` when there are none.
unsafe fn key_text(doc: pg_sys::Datum, columns: &[String]) -> Option<String> {
    let values: Vec<String> = columns
        .iter()
        .filter_map(|column| unsafe {
            pgrx::direct_function_call::<String>(
                pg_sys::jsonb_object_field_text,
                &[Some(doc), column.as_str().into_datum()],
            )
        })
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// `schema.table`, each part quoted as `format('%I.%I')` quotes it.
unsafe fn qualified_name(rel: pg_sys::Relation) -> String {
    unsafe {
        let namespace = pg_sys::get_namespace_name((*(*rel).rd_rel).relnamespace);
        let name = (*(*rel).rd_rel).relname.data.as_ptr();
        let quote = |ident: *const std::ffi::c_char| CStr::from_ptr(pg_sys::quote_identifier(ident)).to_string_lossy();
        format!("{}.{}", quote(namespace), quote(name))
    }
}
