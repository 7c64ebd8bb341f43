//! Reading the datums every module handles: text and bytea varlenas in place, and jsonb
//! arguments (taken as `AnyElement`, see [`parse_jsonb`]) as text, as parsed JSON or as
//! their stored bytes.

use pgrx::prelude::*;
use pgrx::AnyElement;
use warden_core::json;

use crate::error::WardenError;

/// The bytes of a text or bytea datum. Compressed or out-of-line values are detoasted
/// (a call into the server); inline ones are read in place, which keeps per-row calls
/// out of hot loops.
///
/// # Safety
/// `datum` must be a non-NULL varlena datum that outlives the returned slice.
pub(crate) unsafe fn varlena_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    use pgrx::varlena::{varatt_is_1b_e, varatt_is_4b_c, vardata_any, varsize_any_exhdr};
    unsafe {
        let mut ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
        if varatt_is_1b_e(ptr) || varatt_is_4b_c(ptr) {
            ptr = pg_sys::pg_detoast_datum_packed(ptr);
        }
        std::slice::from_raw_parts(vardata_any(ptr).cast::<u8>(), varsize_any_exhdr(ptr))
    }
}

/// The text of a jsonb datum, parsed with pg_warden's depth limit.
///
/// pgrx's own `JsonB` argument conversion panics on documents deeper than serde_json's
/// limit, which would surface as an internal error; reading the datum ourselves turns
/// that into a proper SQLSTATE.
pub(crate) fn parse_jsonb(doc: &AnyElement) -> Result<serde_json::Value, WardenError> {
    Ok(json::parse(&jsonb_text(doc)?)?)
}

/// A jsonb datum's text, as `jsonb_out` prints it.
pub(crate) fn jsonb_text(doc: &AnyElement) -> Result<String, WardenError> {
    let text = unsafe { pgrx::direct_function_call::<&std::ffi::CStr>(pg_sys::jsonb_out, &[Some(doc.datum())]) }
        .ok_or_else(|| WardenError::Internal("jsonb_out returned NULL".into()))?;
    text.to_str().map(str::to_owned).map_err(|_| WardenError::invalid("jsonb text is not valid UTF-8"))
}

/// The bytes of a jsonb datum as stored, to recognise a document seen before without
/// parsing it again.
pub(crate) fn jsonb_bytes(doc: &AnyElement) -> &[u8] {
    unsafe { pgrx::varlena_to_byte_slice(pg_sys::pg_detoast_datum_packed(doc.datum().cast_mut_ptr())) }
}
