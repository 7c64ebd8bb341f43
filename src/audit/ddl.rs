//! Schema, privilege and audit-control events in the ledger: `warden.audit_ddl(enabled)`,
//! the event triggers that record DDL, and the utility hook that records what event
//! triggers never see (roles, `ALTER SYSTEM`, event triggers, databases, tablespaces,
//! `SET session_replication_role` and `warden.*` settings).
//!
//! Every entry is written in the transaction of the command it records: a command that
//! fails or is rolled back leaves none. The statement's text is kept with secret-looking
//! literals fingerprinted ([`warden_core::statement`]) and cut at
//! [`STATEMENT_LIMIT`] bytes.
//!
//! # Whose rights
//!
//! The event trigger functions are C functions without SECURITY DEFINER: they run as the
//! role whose command fired them, and read the commands' objects through
//! `pg_event_trigger_ddl_commands()` with the search path pinned. Only the ledger write
//! ([`chain::append_own`]) and the read of the setting run as the extension owner.
//!
//! # What needs `shared_preload_libraries`
//!
//! The event triggers work in every session. The utility hook is installed when a backend
//! loads pg_warden: from the first pg_warden function or the first DDL command (whose
//! `ddl_command_start` event trigger is a pg_warden C function) of the session, and in
//! every session from its start with `shared_preload_libraries = 'pg_warden'`. Without
//! it, a session's role commands before it loaded pg_warden are not recorded.

use std::cell::RefCell;
use std::ffi::CStr;

use pgrx::prelude::*;
use serde_json::{json, Value};
use warden_core::statement;

use super::chain::{self, OwnEvent};
use crate::error::{SqlResult, WardenError};
use crate::{gucs, privilege};

/// At most this many bytes of a statement's text are kept in its entry.
pub(crate) const STATEMENT_LIMIT: usize = 16 * 1024;
/// At most this many objects of one command are listed in its entry.
const OBJECT_LIMIT: usize = 200;

thread_local! {
    /// Objects `sql_drop` reported for the command running now, for its
    /// `ddl_command_end` entry.
    static DROPPED: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
    /// The text of the utility statement running now, as the hook saw it: the part of a
    /// multi-statement query string that is this command.
    static STATEMENT: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

static mut PREVIOUS_UTILITY_HOOK: pg_sys::ProcessUtility_hook_type = None;

/// Installs the utility hook and the cleanup callback; called once from `_PG_init`.
pub(crate) fn register_hooks() {
    unsafe {
        PREVIOUS_UTILITY_HOOK = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(on_utility);
        pg_sys::RegisterXactCallback(Some(on_xact_end), std::ptr::null_mut());
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact_end(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    DROPPED.with(|d| d.borrow_mut().clear());
    // An error that ended the transaction may have skipped a statement's pop.
    if matches!(event, pg_sys::XactEvent::XACT_EVENT_ABORT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT) {
        STATEMENT.with(|s| s.borrow_mut().clear());
    }
}

/// Whether this database has pg_warden's ledger and DDL capture switched on, and
/// nothing forbids writing an entry now. On a primary, a command to record in a
/// read-only transaction (PostgreSQL allows `ALTER SYSTEM` and `SET` there) is refused
/// while capture is on: it could not be recorded. Databases not in UTF-8 are not
/// captured (`audit_ddl` refuses to switch on there).
fn capturing(tag: &str) -> Result<bool, WardenError> {
    unsafe {
        if !pg_sys::IsTransactionState()
            || pg_sys::RecoveryInProgress()
            || pg_sys::IsInParallelMode()
            || gucs::RESTORE_MODE.get()
            || pg_sys::creating_extension
            || pg_sys::GetDatabaseEncoding() != pg_sys::pg_enc::PG_UTF8 as i32
        {
            return Ok(false);
        }
        if pg_sys::get_extension_oid(c"pg_warden".as_ptr(), true) == pg_sys::InvalidOid {
            return Ok(false);
        }
    }
    let on = latest_setting()?;
    if on && unsafe { pg_sys::XactReadOnly } {
        return Err(WardenError::ReadOnly(format!(
            "cannot run {tag} in a read-only transaction while warden.audit_ddl is on: it could not be recorded"
        )));
    }
    Ok(on)
}

/// Before a DDL command (`audit_ddl_start`): while DDL capture is on, its event triggers
/// must be `ENABLE ALWAYS`. A superuser who disabled one (`ALTER EVENT TRIGGER …
/// DISABLE`, which no event trigger sees and which is recorded only where the utility
/// hook is loaded) gets every DDL command refused until it is enabled again, so DDL
/// cannot run unrecorded in between.
pub(crate) fn require_capture_triggers() -> Result<(), WardenError> {
    if !capturing("DDL")? {
        return Ok(());
    }
    let off = privilege::with_pinned_search_path(|| {
        Spi::get_one::<String>(
            "SELECT pg_catalog.string_agg(evtname::pg_catalog.text, ', ' ORDER BY evtname) FROM pg_catalog.pg_event_trigger \
              WHERE evtname OPERATOR(pg_catalog.=) ANY (ARRAY['warden_audit_ddl_capture', 'warden_audit_ddl_drops']::pg_catalog.name[]) \
                AND evtenabled OPERATOR(pg_catalog.<>) 'A'",
        )
    })?;
    match off {
        Some(names) => Err(WardenError::PermissionDenied {
            message: format!("DDL capture is on but its event triggers are switched off ({names})"),
            hint: "ALTER EVENT TRIGGER … ENABLE ALWAYS puts them back; warden.audit_ddl(false) switches capture off, as a ledger entry.".into(),
        }),
        None => Ok(()),
    }
}

/// The setting in force: the latest row of `warden.audit_ddl_changes` (by its ledger
/// entry) whose entry is the `audit_ddl` entry that recorded it. A row inserted by hand
/// has no such entry and changes nothing.
fn latest_setting() -> Result<bool, WardenError> {
    let enabled = privilege::as_extension_owner(|| {
        Spi::get_one::<bool>(
            "SELECT CASE WHEN pg_catalog.to_regclass('warden.audit_ddl_changes') IS NULL THEN false \
                    ELSE (SELECT c.enabled FROM warden.audit_ddl_changes c \
                            JOIN warden.audit_log l ON l.id OPERATOR(pg_catalog.=) c.entry_id \
                           WHERE l.event_type OPERATOR(pg_catalog.=) 'audit_control' \
                             AND l.resource_id OPERATOR(pg_catalog.=) 'warden.audit_ddl' \
                             AND (l.details OPERATOR(pg_catalog.->>) 'enabled') OPERATOR(pg_catalog.=) \
                                 (CASE WHEN c.enabled THEN 'true' ELSE 'false' END) \
                           ORDER BY c.entry_id DESC LIMIT 1) END",
        )
    })?;
    Ok(enabled.unwrap_or(false))
}

/// The statement text to record: the hook's part of the query string. `None` when the
/// hook did not see the command (pg_warden was loaded during it): the query string
/// could hold other statements, and parsing it again could fail or warn where the
/// command did not.
fn statement_text() -> Option<String> {
    STATEMENT.with(|s| s.borrow().last().cloned())
}

/// The statement fingerprinted and cut, as the entry's details carry it, with the
/// session's `standard_conforming_strings`.
fn scrubbed_statement(key: &super::SigningKey, text: &str) -> statement::Scrubbed {
    let standard = unsafe {
        let value = pg_sys::GetConfigOption(c"standard_conforming_strings".as_ptr(), true, false);
        value.is_null() || CStr::from_ptr(value).to_bytes() != b"off"
    };
    statement::scrub(text, STATEMENT_LIMIT, standard, &mut |bytes| key.mac.fingerprint(bytes))
}

fn current_user_name() -> String {
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), true);
        if name.is_null() {
            String::new()
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        }
    }
}

/// Appends one entry for a command.
fn record(
    event_type: &str,
    tag: &str,
    resource: (Option<&str>, Option<&str>),
    mut details: Value,
) -> Result<(), WardenError> {
    // Without its audit key (a restore that brought the setting but not the keys, a
    // key bound to a variable the server lost) the command goes on, with a WARNING in
    // the server log and none in the ledger: DDL must not stop for it, pg_restore above
    // all. Only a superuser or the server's environment can take the key away. Any
    // other failure (a key store that was tampered with) stops the command.
    let key = match super::SigningKey::active() {
        Ok(key) => key,
        Err(error @ (WardenError::UnknownKey(_) | WardenError::KeyUnavailable { .. })) => {
            pgrx::warning!("pg_warden: {tag} was not recorded in the audit ledger: {error}");
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let text = statement_text();
    if let Value::Object(map) = &mut details {
        map.insert("command_tag".into(), json!(tag));
        match text.map(|text| scrubbed_statement(&key, &text)) {
            Some(scrubbed) => {
                map.insert("statement".into(), json!(scrubbed.text));
                if scrubbed.truncated {
                    map.insert("statement_truncated".into(), json!(true));
                }
                if scrubbed.fingerprinted > 0 {
                    map.insert("fingerprinted_literals".into(), json!(scrubbed.fingerprinted));
                }
            }
            None => {
                map.insert("statement".into(), Value::Null);
                map.insert("statement_unavailable".into(), json!(true));
            }
        }
        map.insert("current_user".into(), json!(current_user_name()));
    }
    chain::append_own(&OwnEvent {
        event_type,
        action: tag,
        resource_type: resource.0.unwrap_or("database"),
        resource_id: resource.1,
        tenant: None,
        actor: None,
        details,
    })?;
    Ok(())
}

unsafe fn event_trigger_tag(fcinfo: pg_sys::FunctionCallInfo, function: &str, event: &str) -> String {
    unsafe {
        let context = (*fcinfo).context;
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
            WardenError::NotSupported {
                message: format!("warden.{function}() must be fired as a {event} event trigger"),
                hint: "pg_warden creates its event triggers itself.".into(),
            }
            .raise();
        }
        let tag = (*(context as *mut pg_sys::EventTriggerData)).tag;
        CStr::from_ptr(pg_sys::GetCommandTagName(tag)).to_string_lossy().into_owned()
    }
}

/// `warden.audit_ddl_drops()`, the `sql_drop` event trigger: keeps the dropped objects
/// for the command's entry, written at `ddl_command_end`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn audit_ddl_drops(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe { event_trigger_tag(fcinfo, "audit_ddl_drops", "sql_drop") };
    if let Err(error) = keep_dropped() {
        error.raise();
    }
    pg_sys::Datum::from(0)
}

fn keep_dropped() -> Result<(), WardenError> {
    if !capturing("DROP")? {
        return Ok(());
    }
    let objects = event_objects(
        "SELECT d.object_type, d.schema_name, d.object_identity, d.original, d.is_temporary \
           FROM pg_catalog.pg_event_trigger_dropped_objects() d",
        &["object_type", "schema", "identity"],
        &["original", "temporary"],
    )?;
    DROPPED.with(|d| d.borrow_mut().extend(objects));
    Ok(())
}

/// The rows of an event trigger's object function as JSON objects: `texts` name its
/// first text columns, `flags` the boolean columns after them. Read with the caller's
/// rights and the search path pinned.
fn event_objects(query: &str, texts: &[&str], flags: &[&str]) -> Result<Vec<Value>, WardenError> {
    privilege::with_pinned_search_path(|| {
        Spi::connect(|client| {
            let mut objects = Vec::new();
            for row in client.select(query, None, &[])? {
                let mut object = serde_json::Map::new();
                for (i, name) in texts.iter().enumerate() {
                    object.insert((*name).into(), json!(row.get::<String>(i + 1)?));
                }
                for (i, name) in flags.iter().enumerate() {
                    object.insert((*name).into(), json!(row.get::<bool>(texts.len() + i + 1)?));
                }
                objects.push(Value::Object(object));
            }
            Ok::<_, pgrx::spi::SpiError>(objects)
        })
    })
}

/// Version-1 calling convention marker for `audit_ddl_drops`.
#[no_mangle]
pub extern "C" fn pg_finfo_audit_ddl_drops() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// `warden.audit_ddl_capture()`, the `ddl_command_end` event trigger: one entry per DDL
/// command (GRANT, REVOKE, ALTER DEFAULT PRIVILEGES, COMMENT and SECURITY LABEL included)
/// while DDL capture is on, listing the objects it created, changed or dropped.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn audit_ddl_capture(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let tag = unsafe { event_trigger_tag(fcinfo, "audit_ddl_capture", "ddl_command_end") };
    let dropped = DROPPED.with(|d| std::mem::take(&mut *d.borrow_mut()));
    if let Err(error) = capture_command(&tag, dropped) {
        error.raise();
    }
    pg_sys::Datum::from(0)
}

fn capture_command(tag: &str, dropped: Vec<Value>) -> Result<(), WardenError> {
    if !capturing(tag)? {
        return Ok(());
    }
    let objects = event_objects(
        "SELECT c.object_type, c.schema_name, c.object_identity, c.in_extension \
           FROM pg_catalog.pg_event_trigger_ddl_commands() c",
        &["object_type", "schema", "identity"],
        &["in_extension"],
    )?;
    let first = objects.first().or_else(|| dropped.iter().find(|o| o["original"] == json!(true))).or(dropped.first());
    let text = |v: Option<&Value>, field: &str| v.and_then(|o| o[field].as_str()).map(str::to_owned);
    let resource_type = text(first, "object_type");
    let resource_id = text(first, "identity");
    let count = objects.len() + dropped.len();
    let mut details = json!({
        "objects": objects.into_iter().take(OBJECT_LIMIT).collect::<Vec<_>>(),
        "dropped": dropped.into_iter().take(OBJECT_LIMIT).collect::<Vec<_>>(),
        "source": "event_trigger",
    });
    if count > 2 * OBJECT_LIMIT {
        details["object_count"] = json!(count);
    }
    record("ddl", tag, (resource_type.as_deref(), resource_id.as_deref()), details)
}

/// Version-1 calling convention marker for `audit_ddl_capture`.
#[no_mangle]
pub extern "C" fn pg_finfo_audit_ddl_capture() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// What the utility hook records about a statement event triggers never see.
struct Utility {
    event_type: &'static str,
    resource_type: &'static str,
    resource_id: Option<String>,
    /// Recorded before the command runs (a setting, which then applies to the entry).
    before: bool,
    /// `SET LOCAL`: in a read-only transaction it can change no write, and goes
    /// unrecorded rather than refused.
    local: bool,
}

/// The statements the hook records: role commands, `ALTER SYSTEM`, event triggers,
/// databases, tablespaces, and `SET`/`RESET` of `session_replication_role` or a
/// `warden.*` setting.
unsafe fn classify(tree: *mut pg_sys::Node) -> Option<Utility> {
    use pg_sys::NodeTag::*;
    unsafe {
        if tree.is_null() {
            return None;
        }
        let name =
            |s: *const std::ffi::c_char| (!s.is_null()).then(|| CStr::from_ptr(s).to_string_lossy().into_owned());
        let role_spec = |spec: *mut pg_sys::RoleSpec| if spec.is_null() { None } else { name((*spec).rolename) };
        // Recorded before the command runs: CREATE/DROP DATABASE and TABLESPACE and
        // ALTER SYSTEM change files no abort takes back, so nothing that can fail
        // (the key, the scrubbing) may come after them. A command that then fails
        // takes its entry with its transaction.
        let item = |event_type, resource_type, resource_id| {
            Some(Utility { event_type, resource_type, resource_id, before: true, local: false })
        };
        match (*tree).type_ {
            T_CreateRoleStmt => item("role", "role", name((*(tree as *mut pg_sys::CreateRoleStmt)).role)),
            T_AlterRoleStmt => item("role", "role", role_spec((*(tree as *mut pg_sys::AlterRoleStmt)).role)),
            T_AlterRoleSetStmt => item("role", "role", role_spec((*(tree as *mut pg_sys::AlterRoleSetStmt)).role)),
            T_DropRoleStmt => item("role", "role", None),
            T_GrantRoleStmt => item("role", "role", None),
            T_ReassignOwnedStmt => item("role", "role", None),
            T_RenameStmt if (*(tree as *mut pg_sys::RenameStmt)).renameType == pg_sys::ObjectType::OBJECT_ROLE => {
                item("role", "role", name((*(tree as *mut pg_sys::RenameStmt)).subname))
            }
            T_AlterSystemStmt => {
                let setstmt = (*(tree as *mut pg_sys::AlterSystemStmt)).setstmt;
                item("server_config", "setting", if setstmt.is_null() { None } else { name((*setstmt).name) })
            }
            T_CreateEventTrigStmt => {
                item("audit_control", "event trigger", name((*(tree as *mut pg_sys::CreateEventTrigStmt)).trigname))
            }
            T_AlterEventTrigStmt => {
                item("audit_control", "event trigger", name((*(tree as *mut pg_sys::AlterEventTrigStmt)).trigname))
            }
            T_DropStmt if (*(tree as *mut pg_sys::DropStmt)).removeType == pg_sys::ObjectType::OBJECT_EVENT_TRIGGER => {
                item("audit_control", "event trigger", None)
            }
            T_RenameStmt
                if (*(tree as *mut pg_sys::RenameStmt)).renameType == pg_sys::ObjectType::OBJECT_EVENT_TRIGGER =>
            {
                item("audit_control", "event trigger", name((*(tree as *mut pg_sys::RenameStmt)).subname))
            }
            // Privileges, owners, names, options and comments of global objects and event
            // triggers, which no event trigger sees.
            T_GrantStmt => {
                let grant = tree as *mut pg_sys::GrantStmt;
                match (*grant).objtype {
                    pg_sys::ObjectType::OBJECT_DATABASE => item("ddl", "database", None),
                    pg_sys::ObjectType::OBJECT_TABLESPACE => item("ddl", "tablespace", None),
                    #[cfg(not(any(feature = "pg13", feature = "pg14")))]
                    pg_sys::ObjectType::OBJECT_PARAMETER_ACL => item("audit_control", "setting", None),
                    _ => None,
                }
            }
            T_AlterOwnerStmt => match (*(tree as *mut pg_sys::AlterOwnerStmt)).objectType {
                pg_sys::ObjectType::OBJECT_DATABASE => item("ddl", "database", None),
                pg_sys::ObjectType::OBJECT_TABLESPACE => item("ddl", "tablespace", None),
                pg_sys::ObjectType::OBJECT_EVENT_TRIGGER => item("audit_control", "event trigger", None),
                _ => None,
            },
            T_RenameStmt if (*(tree as *mut pg_sys::RenameStmt)).renameType == pg_sys::ObjectType::OBJECT_DATABASE => {
                item("ddl", "database", name((*(tree as *mut pg_sys::RenameStmt)).subname))
            }
            T_RenameStmt
                if (*(tree as *mut pg_sys::RenameStmt)).renameType == pg_sys::ObjectType::OBJECT_TABLESPACE =>
            {
                item("ddl", "tablespace", name((*(tree as *mut pg_sys::RenameStmt)).subname))
            }
            T_AlterTableSpaceOptionsStmt => {
                item("ddl", "tablespace", name((*(tree as *mut pg_sys::AlterTableSpaceOptionsStmt)).tablespacename))
            }
            #[cfg(not(any(feature = "pg13", feature = "pg14")))]
            T_AlterDatabaseRefreshCollStmt => {
                item("ddl", "database", name((*(tree as *mut pg_sys::AlterDatabaseRefreshCollStmt)).dbname))
            }
            T_CommentStmt
                if matches!(
                    (*(tree as *mut pg_sys::CommentStmt)).objtype,
                    pg_sys::ObjectType::OBJECT_DATABASE
                        | pg_sys::ObjectType::OBJECT_TABLESPACE
                        | pg_sys::ObjectType::OBJECT_ROLE
                        | pg_sys::ObjectType::OBJECT_EVENT_TRIGGER
                ) =>
            {
                item("ddl", "global object", None)
            }
            T_SecLabelStmt
                if matches!(
                    (*(tree as *mut pg_sys::SecLabelStmt)).objtype,
                    pg_sys::ObjectType::OBJECT_DATABASE
                        | pg_sys::ObjectType::OBJECT_TABLESPACE
                        | pg_sys::ObjectType::OBJECT_ROLE
                ) =>
            {
                item("ddl", "global object", None)
            }
            T_CreatedbStmt => item("ddl", "database", name((*(tree as *mut pg_sys::CreatedbStmt)).dbname)),
            T_DropdbStmt => item("ddl", "database", name((*(tree as *mut pg_sys::DropdbStmt)).dbname)),
            T_AlterDatabaseStmt => item("ddl", "database", name((*(tree as *mut pg_sys::AlterDatabaseStmt)).dbname)),
            T_AlterDatabaseSetStmt => {
                item("ddl", "database", name((*(tree as *mut pg_sys::AlterDatabaseSetStmt)).dbname))
            }
            T_CreateTableSpaceStmt => {
                item("ddl", "tablespace", name((*(tree as *mut pg_sys::CreateTableSpaceStmt)).tablespacename))
            }
            T_DropTableSpaceStmt => {
                item("ddl", "tablespace", name((*(tree as *mut pg_sys::DropTableSpaceStmt)).tablespacename))
            }
            T_VariableSetStmt => {
                let set = tree as *mut pg_sys::VariableSetStmt;
                let setting = name((*set).name)?.to_lowercase();
                (setting == "session_replication_role" || setting.starts_with("warden.")).then_some(Utility {
                    event_type: "audit_control",
                    resource_type: "setting",
                    resource_id: Some(setting),
                    before: true,
                    local: (*set).is_local,
                })
            }
            _ => None,
        }
    }
}

/// This statement's part of the query string (`stmt_location`, `stmt_len`).
unsafe fn statement_of(pstmt: *mut pg_sys::PlannedStmt, query: *const std::ffi::c_char) -> String {
    unsafe {
        if query.is_null() {
            return String::new();
        }
        let whole = CStr::from_ptr(query).to_bytes();
        let start = usize::try_from((*pstmt).stmt_location).unwrap_or(0).min(whole.len());
        let len = usize::try_from((*pstmt).stmt_len).unwrap_or(0);
        let end = if len == 0 { whole.len() } else { (start + len).min(whole.len()) };
        String::from_utf8_lossy(&whole[start..end]).trim().to_owned()
    }
}

#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn on_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    unsafe {
        let tree = (*pstmt).utilityStmt;
        let utility = classify(tree);
        let text = statement_of(pstmt, query);
        let tag =
            CStr::from_ptr(pg_sys::GetCommandTagName(pg_sys::CreateCommandTag(tree))).to_string_lossy().into_owned();
        if let Some(utility) = utility.as_ref().filter(|u| u.before) {
            record_utility(utility, &tag, &text);
        }
        STATEMENT.with(|s| s.borrow_mut().push(text.clone()));
        // The stack entry goes when the statement ends, or fails.
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                STATEMENT.with(|s| s.borrow_mut().pop());
            }
        }
        let pop = Pop;
        // An error raised inside unwinds through here as a Rust panic (dropping `pop`).
        match PREVIOUS_UTILITY_HOOK {
            Some(previous) => pg_sys::ffi::pg_guard_ffi_boundary(|| {
                previous(pstmt, query, read_only_tree, context, params, env, dest, qc)
            }),
            None => pg_sys::standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc),
        }
        drop(pop);
        if let Some(utility) = utility.as_ref().filter(|u| !u.before) {
            record_utility(utility, &tag, &text);
        }
    }
}

fn record_utility(utility: &Utility, tag: &str, text: &str) {
    if utility.local && unsafe { pg_sys::XactReadOnly } {
        return;
    }
    let outcome = (|| {
        if !capturing(tag)? {
            return Ok(());
        }
        STATEMENT.with(|s| s.borrow_mut().push(text.to_owned()));
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                STATEMENT.with(|s| s.borrow_mut().pop());
            }
        }
        let _pop = Pop;
        record(
            utility.event_type,
            tag,
            (Some(utility.resource_type), utility.resource_id.as_deref()),
            json!({ "source": "utility_hook" }),
        )
    })();
    if let Err(error) = outcome {
        error.raise();
    }
}

/// `warden.audit_ddl_in_force()`: the setting capture reads ([`latest_setting`]), for
/// `warden.audit_coverage`, so both read it one way.
#[pg_extern(stable, parallel_restricted)]
fn audit_ddl_in_force() -> SqlResult<bool> {
    Ok(latest_setting()?)
}

/// `warden.audit_ddl(enabled)`: switches the recording of schema, privilege and
/// audit-control commands on or off; the change is itself a ledger entry, written
/// whichever way it goes. Returns the setting now in force.
#[pg_extern(volatile, parallel_unsafe)]
fn audit_ddl(enabled: default!(bool, true)) -> SqlResult<bool> {
    privilege::require_admin("switch DDL capture")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.audit_ddl()".as_ptr()) };
    if enabled && unsafe { pg_sys::GetDatabaseEncoding() } != pg_sys::pg_enc::PG_UTF8 as i32 {
        return Err(WardenError::NotSupported {
            message: "DDL capture needs a database in UTF-8".into(),
            hint: "The ledger keeps statements and object names as UTF-8 text.".into(),
        }
        .into());
    }
    if enabled && !super::starts::audit_preloaded_now() {
        pgrx::warning!(
            "pg_warden is not in shared_preload_libraries: a session's role commands, ALTER SYSTEM and event-trigger \
             changes (ALTER EVENT TRIGGER warden_audit_ddl_capture DISABLE included) are recorded only once the session \
             has loaded pg_warden"
        );
    }
    let previous = latest_setting()?;
    let action = if enabled { "audit_ddl_on" } else { "audit_ddl_off" };
    let entry = chain::append_own(&OwnEvent {
        event_type: "audit_control",
        action,
        resource_type: "setting",
        resource_id: Some("warden.audit_ddl"),
        tenant: None,
        actor: None,
        details: json!({ "enabled": enabled, "previous": previous, "current_user": current_user_name() }),
    })?;
    privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "INSERT INTO warden.audit_ddl_changes (enabled, changed_by, entry_id) \
                 VALUES ($1, pg_catalog.session_user(), $2)",
                None,
                &[enabled.into(), entry.into()],
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })?;
    // The setting as capture will read it.
    Ok(latest_setting()?)
}
