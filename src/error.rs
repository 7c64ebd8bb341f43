//! One error type for pg_warden, each variant raised with its own SQLSTATE.
//!
//! Messages name objects (keys, tables, options) but never carry key material, a
//! secret, or a value being fingerprinted or anonymized.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;

/// What to do about an internal error.
const INTERNAL_ERROR_HINT: &str = "This is a bug in pg_warden or damage to its objects: check the server log and \
     report it. Keep the extension installed: dropping it deletes the audit ledger and every key.";

/// Keeps Rust backtraces out of every error pg_warden reports; called once from `_PG_init`.
///
/// pgrx's panic hook calls `std::backtrace::Backtrace::capture()` for every error that
/// passes through a pg_warden function and appends the result to the error's DETAIL,
/// which goes to the client: source paths and call stacks for anyone who can make a call
/// fail. `capture()` records a backtrace only if `RUST_LIB_BACKTRACE`, or failing that
/// `RUST_BACKTRACE`, enables it, and reads them once, at the first capture, which nothing
/// makes before `_PG_init`. `RUST_LIB_BACKTRACE=0` disables it whatever `RUST_BACKTRACE`
/// says; Rust's panic messages on stderr (the server log) still follow `RUST_BACKTRACE`.
/// Backends are single-threaded, so changing the environment here races with nothing.
pub fn suppress_backtraces() {
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
}

#[derive(Debug, thiserror::Error)]
pub enum WardenError {
    /// 22023: an argument is malformed or out of range.
    #[error("{message}")]
    InvalidArgument { message: String, hint: Option<String> },
    /// 42704: the named key does not exist.
    #[error("key \"{0}\" does not exist")]
    UnknownKey(String),
    /// 42710: a key of that name exists already.
    #[error("key \"{0}\" already exists")]
    KeyExists(String),
    /// 42501: the caller may not do this whatever EXECUTE grants it holds.
    #[error("permission denied to {0}")]
    NotAdmin(&'static str),
    /// 42501: only a superuser may do this, membership of warden_admin is not enough.
    #[error("{message}")]
    NotSuperuser { message: String, hint: String },
    /// 42501: the caller lacks a privilege on an object the operation touches.
    #[error("{message}")]
    PermissionDenied { message: String, hint: String },
    /// 2BP01: dropping would destroy ledger entries or keys.
    #[error("{message}")]
    DropRefused { message: String, hint: String },
    /// 0A000: a pg_warden function used in a way it does not support (a trigger function
    /// attached other than as pg_warden attaches it).
    #[error("{message}")]
    NotSupported { message: String, hint: String },
    /// 55000: a key version cannot be used in the server's present state.
    #[error("{message}")]
    KeyUnavailable { message: String, hint: String },
    /// 55000: the ledger or this session is not in a state where the operation can run.
    #[error("{message}")]
    NotInState { message: String, hint: String },
    /// 54001: a document is nested too deeply to process.
    #[error("{0}")]
    TooComplex(String),
    /// 40001: a concurrent change won a race; retrying the statement succeeds.
    #[error("{0}")]
    ConcurrentChange(String),
    /// 23502: a required column of a ledger entry is NULL.
    #[error("{0}")]
    NotNull(String),
    /// 23514: a value of a ledger entry is out of its range.
    #[error("{0}")]
    CheckViolation(String),
    /// XX001: ledger data is not as pg_warden wrote it.
    #[error("{0}")]
    LedgerCorrupt(String),
    /// XX000: pg_warden's own catalog is not as it installed it, or a bug.
    #[error("{0}")]
    Internal(String),
}

impl WardenError {
    pub fn invalid(message: impl Into<String>) -> Self {
        WardenError::InvalidArgument { message: message.into(), hint: None }
    }

    pub fn invalid_with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        WardenError::InvalidArgument { message: message.into(), hint: Some(hint.into()) }
    }

    fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            WardenError::InvalidArgument { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            WardenError::UnknownKey(_) => ERRCODE_UNDEFINED_OBJECT,
            WardenError::KeyExists(_) => ERRCODE_DUPLICATE_OBJECT,
            WardenError::NotAdmin(_) | WardenError::NotSuperuser { .. } | WardenError::PermissionDenied { .. } => {
                ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            WardenError::DropRefused { .. } => ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
            WardenError::NotSupported { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            WardenError::KeyUnavailable { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            WardenError::NotInState { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            WardenError::TooComplex(_) => ERRCODE_STATEMENT_TOO_COMPLEX,
            WardenError::ConcurrentChange(_) => ERRCODE_T_R_SERIALIZATION_FAILURE,
            WardenError::NotNull(_) => ERRCODE_NOT_NULL_VIOLATION,
            WardenError::CheckViolation(_) => ERRCODE_CHECK_VIOLATION,
            WardenError::LedgerCorrupt(_) => ERRCODE_DATA_CORRUPTED,
            WardenError::Internal(_) => ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            WardenError::InvalidArgument { hint, .. } => hint.clone(),
            WardenError::UnknownKey(name) => Some(format!(
                "Create it with SELECT warden.create_key('{}'); or bind it to an environment variable with warden.create_key_from_env.",
                name.replace('\'', "''")
            )),
            WardenError::KeyExists(_) => Some("Use warden.rotate_key to add a new version.".into()),
            WardenError::NotAdmin(_) => {
                Some("Only superusers and members of the warden_admin role may do this.".into())
            }
            WardenError::NotSuperuser { hint, .. }
            | WardenError::PermissionDenied { hint, .. }
            | WardenError::DropRefused { hint, .. }
            | WardenError::NotSupported { hint, .. }
            | WardenError::KeyUnavailable { hint, .. }
            | WardenError::NotInState { hint, .. } => Some(hint.clone()),
            WardenError::TooComplex(_) => None,
            WardenError::ConcurrentChange(_) => Some("Retry the statement.".into()),
            WardenError::NotNull(_) | WardenError::CheckViolation(_) => None,
            WardenError::LedgerCorrupt(_) => Some("Run warden.verify_audit() to locate the damage.".into()),
            // Never "reinstall": DROP EXTENSION would delete the ledger and every key.
            WardenError::Internal(_) => Some(INTERNAL_ERROR_HINT.into()),
        }
    }
}

impl From<WardenError> for ErrorReport {
    #[track_caller]
    fn from(error: WardenError) -> Self {
        let hint = error.hint();
        let report = ErrorReport::new(error.sqlstate(), error.to_string(), "pg_warden");
        match hint {
            Some(hint) => report.set_hint(hint),
            None => report,
        }
    }
}

impl From<pgrx::spi::SpiError> for WardenError {
    fn from(error: pgrx::spi::SpiError) -> Self {
        WardenError::Internal(format!("pg_warden catalog query failed: {error}"))
    }
}

/// Result type of the SQL-facing functions: errors carry their SQLSTATE to the client.
pub type SqlResult<T> = Result<T, ErrorReport>;

/// Refuses (0A000) a call of a trigger function that does not come from a trigger.
///
/// # Safety
/// `fcinfo` is the call's own, as PostgreSQL passed it.
pub(crate) unsafe fn require_trigger_call(fcinfo: pgrx::pg_sys::FunctionCallInfo, function: &str) {
    let context = (*fcinfo).context;
    if context.is_null() || (*context).type_ != pgrx::pg_sys::NodeTag::T_TriggerData {
        ErrorReport::from(WardenError::NotSupported {
            message: format!("{function} can only be called as a trigger"),
            hint: "pg_warden attaches its trigger functions itself; use warden.audit_table to capture a table.".into(),
        })
        .report(pgrx::PgLogLevel::ERROR);
    }
}
