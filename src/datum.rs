//! Reading the datums every module handles: text and bytea varlenas in place, jsonb
//! arguments ([`Jsonb`], see [`parse_jsonb`]) as text, as parsed JSON or as their stored
//! bytes, and `regclass`/`regrole` arguments ([`RegClass`], [`RegRole`]) as oids.
//!
//! The argument types declare their SQL type to pgrx, so every Rust function's SQL
//! declaration is generated from its signature: none is written by hand beside it.

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::nullable::Nullable;
use pgrx::prelude::*;
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
pub(crate) fn parse_jsonb(doc: &Jsonb) -> Result<serde_json::Value, WardenError> {
    Ok(json::parse(&jsonb_text(doc)?)?)
}

/// `text` read as PostgreSQL reads a `jsonb` literal (`jsonb_in`, with its own errors:
/// 22P02 for text that is not JSON), then as [`parse_jsonb`] reads a jsonb argument: for
/// a text argument that stands for a document, so that it means exactly what the same
/// literal cast to jsonb would.
pub(crate) fn parse_jsonb_text(text: &str) -> Result<serde_json::Value, WardenError> {
    // PostgreSQL text never holds a NUL byte.
    let text = std::ffi::CString::new(text).map_err(|_| WardenError::invalid("text holds a NUL byte"))?;
    let datum =
        unsafe { pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(pg_sys::Datum::from(text.as_ptr()))]) }
            .ok_or_else(|| WardenError::Internal("jsonb_in returned NULL".into()))?;
    parse_jsonb(&Jsonb(datum))
}

/// A jsonb datum's text, as `jsonb_out` prints it.
pub(crate) fn jsonb_text(doc: &Jsonb) -> Result<String, WardenError> {
    let text = unsafe { pgrx::direct_function_call::<&std::ffi::CStr>(pg_sys::jsonb_out, &[Some(doc.datum())]) }
        .ok_or_else(|| WardenError::Internal("jsonb_out returned NULL".into()))?;
    text.to_str().map(str::to_owned).map_err(|_| WardenError::invalid("jsonb text is not valid UTF-8"))
}

/// The bytes of a jsonb datum as stored, to recognise a document seen before without
/// parsing it again.
pub(crate) fn jsonb_bytes(doc: &Jsonb) -> &[u8] {
    unsafe { pgrx::varlena_to_byte_slice(pg_sys::pg_detoast_datum_packed(doc.datum().cast_mut_ptr())) }
}

/// A `jsonb` argument as PostgreSQL passed it: the datum, not yet parsed (pgrx's `JsonB`
/// parses every argument into serde_json, with serde_json's depth limit, which it reports
/// as an internal error; these are read with [`parse_jsonb`] or [`jsonb_text`]).
pub(crate) struct Jsonb(pg_sys::Datum);

impl Jsonb {
    pub(crate) fn datum(&self) -> pg_sys::Datum {
        self.0
    }
}

/// A `regclass` argument: the relation's oid.
pub(crate) struct RegClass(pub(crate) pg_sys::Oid);

/// A `regrole` argument: the role's oid.
pub(crate) struct RegRole(pub(crate) pg_sys::Oid);

/// FromDatum, the argument ABI and the SQL type of an argument type that wraps its datum.
macro_rules! argument_type {
    ($ty:ident, $sql:literal, $from:expr) => {
        impl FromDatum for $ty {
            unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
                (!is_null).then(|| $ty($from(datum)))
            }
        }

        unsafe impl<'fcx> ArgAbi<'fcx> for $ty {
            unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
                let index = arg.index();
                unsafe { arg.unbox_arg_using_from_datum() }
                    .unwrap_or_else(|| panic!("argument {index} must not be null"))
            }

            unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
                unsafe { arg.unbox_arg_using_from_datum() }.into()
            }
        }

        pgrx::pgrx_sql_entity_graph::impl_sql_translatable!($ty, arg_only = $sql);
    };
}

argument_type!(Jsonb, "jsonb", |datum: pg_sys::Datum| datum);
argument_type!(RegClass, "regclass", |datum: pg_sys::Datum| pg_sys::Oid::from(datum.value() as u32));
argument_type!(RegRole, "regrole", |datum: pg_sys::Datum| pg_sys::Oid::from(datum.value() as u32));
