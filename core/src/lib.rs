//! Pure-Rust cores of pg_warden.
//!
//! Nothing here links PostgreSQL: the extension wraps these functions, and
//! command-line tools (such as an offline ledger verifier) reuse them as they are.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod anonymize;
pub mod json;
pub mod ledger;
pub mod mac;
pub mod printable;
pub mod profile;
pub mod secrets;
pub mod statement;
pub mod vault;
pub mod yaml;
