//! Statements pg_warden runs on every call, planned once per backend.
//!
//! An SPI query given as text is parsed and planned on every execution; for the short
//! lookups behind `get_secret` or the ledger's fallback INSERT that planning costs more
//! than the work. [`kept`] prepares a statement on first use and keeps the plan for the
//! backend's life: PostgreSQL's plan cache re-plans it by itself when a table it reads
//! is altered or replaced, or when the search path it was planned under changes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult};
use pgrx::PgOid;

thread_local! {
    static KEPT: RefCell<HashMap<&'static str, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// The kept plan named `key`: the statement `sql()` with arguments of `types`, prepared
/// (`mutating`: as a statement that writes) the first time. The handle is shared, so an
/// error while the plan executes never frees it.
pub(crate) fn kept(
    client: &SpiClient<'_>,
    key: &'static str,
    sql: impl FnOnce() -> String,
    types: &[PgOid],
    mutating: bool,
) -> SpiResult<Rc<OwnedPreparedStatement>> {
    if let Some(plan) = KEPT.with(|kept| kept.borrow().get(key).cloned()) {
        return Ok(plan);
    }
    let text = sql();
    let prepared =
        if mutating { client.prepare_mut(text.as_str(), types)? } else { client.prepare(text.as_str(), types)? };
    let plan = Rc::new(prepared.keep());
    KEPT.with(|kept| kept.borrow_mut().insert(key, plan.clone()));
    Ok(plan)
}
