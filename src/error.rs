//! One error type for pg_warden, each variant raised with its own SQLSTATE.
//!
//! Messages name objects (keys, tables, options) but never carry key material, a
//! secret, or a value being fingerprinted or anonymized.
//!
//! Every error a client sees from pg_warden is a [`WardenError`]: SQL-facing functions
//! return it through [`SqlResult`] (the one `From<WardenError> for ErrorReport` below
//! gives it its SQLSTATE, DETAIL and HINT), and code that pgrx gives no `Result` to
//! return (trigger functions, hooks, transaction callbacks, plain V1 functions) raises
//! it with [`WardenError::raise`]. The cores' errors (`warden_core::json::JsonError`,
//! `warden_core::anonymize::AnonError`) and SPI's become one with `?`.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use warden_core::anonymize::AnonError;
use warden_core::json::JsonError;
use warden_core::profile::Problem;

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
pub(crate) fn suppress_backtraces() {
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WardenError {
    /// 22023: an argument is malformed or out of range.
    #[error("{message}")]
    InvalidArgument { message: String, hint: Option<String> },
    /// 22023: an anonymization profile has problems; the message lists them on one line,
    /// the DETAIL one a line, each at its JSON path.
    #[error("{}", warden_core::profile::refusal(.0))]
    InvalidProfile(Vec<Problem>),
    /// 22001: a masked value is longer than its column's type holds.
    #[error("a masked value of column \"{column}\" of {table} is too long for type {type_name}")]
    StringTooLong { column: String, table: String, type_name: String },
    /// 42704: the named key does not exist.
    #[error("key \"{0}\" does not exist")]
    UnknownKey(String),
    /// 42704: no stored anonymization profile has this name.
    #[error("profile \"{0}\" does not exist")]
    UnknownProfile(String),
    /// 42710: a key of that name exists already.
    #[error("key \"{0}\" already exists")]
    KeyExists(String),
    /// 25006: a command pg_warden must record cannot be recorded in a read-only
    /// transaction.
    #[error("{0}")]
    ReadOnly(String),
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
    /// 23514: a value of a ledger entry is out of its range, or masked values violate a
    /// table's CHECK constraint.
    #[error("{message}")]
    CheckViolation { message: String, hint: Option<String> },
    /// 23503: after masking, rows of a foreign key no longer have a match.
    #[error("after masking, {rows} rows no longer satisfy foreign key \"{key}\"")]
    ForeignKeyViolation { key: String, rows: i64 },
    /// 42704: no secret has this reference (or name).
    #[error("secret {0} does not exist")]
    UnknownSecret(String),
    /// 42710: a secret of this tenant and name exists already.
    #[error("a secret named \"{name}\" exists already{}", .tenant.as_ref().map(|t| format!(" for tenant \"{t}\"")).unwrap_or_default())]
    SecretExists { name: String, tenant: Option<String> },
    /// 42501: the secret exists but was not granted to the caller, or the caller may not
    /// learn whether it exists.
    #[error("permission denied to read secret {0}")]
    SecretNotGranted(String),
    /// 42501: managing secrets needs superuser or warden_secret_admin.
    #[error("permission denied to {0}")]
    NotSecretAdmin(&'static str),
    /// 28000: the secret version's expiry time has passed.
    #[error("secret {reference} version {version} expired at {expired_at}")]
    SecretExpired { reference: String, version: i32, expired_at: String },
    /// 54000: a value is larger than the vault keeps.
    #[error("{0}")]
    TooLarge(String),
    /// 22021: a secret stored as bytes is not text.
    #[error("secret {0} is not valid text")]
    NotText(String),
    /// XX001: a vault ciphertext (a secret's version, its data key, a sealed keyring key)
    /// does not authenticate: it was changed outside pg_warden. Names the object, never
    /// a value.
    #[error(
        "{0} does not decrypt: its ciphertext, its data key or the row it belongs to was changed outside pg_warden"
    )]
    Tampered(String),
    /// XX001: ledger data is not as pg_warden wrote it.
    #[error("{0}")]
    LedgerCorrupt(String),
    /// XX000: pg_warden's own catalog is not as it installed it, or a bug.
    #[error("{0}")]
    Internal(String),
}

impl WardenError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        WardenError::InvalidArgument { message: message.into(), hint: None }
    }

    pub(crate) fn invalid_with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        WardenError::InvalidArgument { message: message.into(), hint: Some(hint.into()) }
    }

    fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            WardenError::InvalidArgument { .. } | WardenError::InvalidProfile(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            WardenError::StringTooLong { .. } => ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
            WardenError::UnknownKey(_) | WardenError::UnknownProfile(_) => ERRCODE_UNDEFINED_OBJECT,
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
            WardenError::CheckViolation { .. } => ERRCODE_CHECK_VIOLATION,
            WardenError::ForeignKeyViolation { .. } => ERRCODE_FOREIGN_KEY_VIOLATION,
            WardenError::LedgerCorrupt(_) | WardenError::Tampered(_) => ERRCODE_DATA_CORRUPTED,
            WardenError::UnknownSecret(_) => ERRCODE_UNDEFINED_OBJECT,
            WardenError::SecretExists { .. } => ERRCODE_DUPLICATE_OBJECT,
            WardenError::SecretNotGranted(_) | WardenError::NotSecretAdmin(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            WardenError::SecretExpired { .. } => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            WardenError::TooLarge(_) => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            WardenError::NotText(_) => ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
            WardenError::ReadOnly(_) => ERRCODE_READ_ONLY_SQL_TRANSACTION,
            WardenError::Internal(_) => ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            WardenError::InvalidArgument { hint, .. } | WardenError::CheckViolation { hint, .. } => hint.clone(),
            WardenError::InvalidProfile(_) => Some(
                "Nothing was changed. SELECT * FROM warden.validate_profile(profile) lists the problems as rows.".into(),
            ),
            WardenError::StringTooLong { .. } => Some(
                "Nothing was changed. Use a strategy that keeps the length, such as partial or phone, or widen the column."
                    .into(),
            ),
            WardenError::ForeignKeyViolation { .. } => {
                Some("Nothing was changed. Mask both sides of the key with the same strategy, seed and key.".into())
            }
            WardenError::UnknownKey(name) => Some(format!(
                "Create it with SELECT warden.create_key('{}'); or bind it to an environment variable with warden.create_key_from_env.",
                name.replace('\'', "''")
            )),
            WardenError::UnknownProfile(_) => {
                Some(
                "warden.profiles lists the stored profiles; warden.save_profile(profile) stores one. Text that is a \
                 profile document starts with {."
                    .into(),
            )
            }
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
            WardenError::ReadOnly(_) => {
                Some("Run it in a read-write transaction, or switch DDL capture off first (warden.audit_ddl(false)).".into())
            }
            WardenError::NotNull(_) => None,
            WardenError::LedgerCorrupt(_) => Some("Run warden.verify_audit() to locate the damage.".into()),
            WardenError::UnknownSecret(_) => Some("warden.secrets lists every secret.".into()),
            WardenError::SecretExists { .. } => Some("Use warden.rotate_secret to give it a new value.".into()),
            WardenError::SecretNotGranted(_) => Some(
                "A secret can be read only by roles it was granted to with warden.grant_secret; this attempt was \
                 recorded in the audit ledger."
                    .into(),
            ),
            WardenError::NotSecretAdmin(_) => {
                Some("Only superusers and members of the warden_secret_admin role may manage secrets.".into())
            }
            WardenError::SecretExpired { .. } => {
                Some("Rotate it with warden.rotate_secret, or read an unexpired version by number.".into())
            }
            WardenError::TooLarge(_) => None,
            WardenError::NotText(_) => Some("Read it with warden.get_secret_bytes.".into()),
            WardenError::Tampered(_) => Some(
                "Restore the row from a backup. Nothing was decrypted; a wrong master key would have been reported as such."
                    .into(),
            ),
            // Never "reinstall": DROP EXTENSION would delete the ledger and every key.
            WardenError::Internal(_) => Some(INTERNAL_ERROR_HINT.into()),
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            WardenError::InvalidProfile(problems) => {
                Some(problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("\n"))
            }
            _ => None,
        }
    }

    /// Raises the error, for code that has no `Result` to return it through: pgrx turns
    /// a trigger function's `Err` into a panic (an internal error), and hooks,
    /// transaction callbacks and plain V1 functions return no `Result` at all.
    #[track_caller]
    pub(crate) fn raise(self) -> ! {
        ErrorReport::from(self).report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

impl From<WardenError> for ErrorReport {
    #[track_caller]
    fn from(error: WardenError) -> Self {
        let (hint, detail) = (error.hint(), error.detail());
        let mut report = ErrorReport::new(error.sqlstate(), error.to_string(), "pg_warden");
        if let Some(detail) = detail {
            report = report.set_detail(detail);
        }
        if let Some(hint) = hint {
            report = report.set_hint(hint);
        }
        report
    }
}

impl From<pgrx::spi::SpiError> for WardenError {
    fn from(error: pgrx::spi::SpiError) -> Self {
        WardenError::Internal(format!("pg_warden catalog query failed: {error}"))
    }
}

/// A document pg_warden parses itself: too deep is the caller's (54001), anything else
/// cannot come from PostgreSQL's own jsonb text and is a bug.
impl From<JsonError> for WardenError {
    fn from(error: JsonError) -> Self {
        match error {
            JsonError::TooDeep => WardenError::TooComplex(error.to_string()),
            JsonError::Syntax(_) => WardenError::Internal(error.to_string()),
        }
    }
}

/// An anonymization error: 22023 with the core's message and hint. The core never quotes
/// the value or anything derived from the key.
impl From<AnonError> for WardenError {
    fn from(error: AnonError) -> Self {
        WardenError::InvalidArgument { message: error.to_string(), hint: error.hint().map(str::to_owned) }
    }
}

/// Result type of the SQL-facing functions: errors carry their SQLSTATE to the client.
/// Set-returning functions write it out as `Result<TableIterator<…>, ErrorReport>`: pgrx
/// recognises them by the name `Result`.
pub(crate) type SqlResult<T> = Result<T, ErrorReport>;

/// Refuses (0A000) a call of a trigger function that does not come from a trigger.
///
/// # Safety
/// `fcinfo` is the call's own, as PostgreSQL passed it.
pub(crate) unsafe fn require_trigger_call(fcinfo: pgrx::pg_sys::FunctionCallInfo, function: &str) {
    let context = (*fcinfo).context;
    if context.is_null() || (*context).type_ != pgrx::pg_sys::NodeTag::T_TriggerData {
        WardenError::NotSupported {
            message: format!("{function} can only be called as a trigger"),
            hint: "pg_warden attaches its trigger functions itself; use warden.audit_table to capture a table.".into(),
        }
        .raise();
    }
}
