//! The guards around the ledger and around capture: which changes to capture triggers
//! are pg_warden's own (`audit_table` / `unaudit_table`), which extension script is
//! running, whether a command adds a partition; the object access hook that refuses to
//! drop the ledger or the keyring while they hold rows; and `audit_ddl_start`, the
//! `ddl_command_start` trigger in C that refuses, before they run, commands replacing
//! pg_warden's own objects or capture triggers and detaching audited partitions. The
//! other event triggers are SQL (`sql/audit_guard.sql`): they read the catalog with
//! every name qualified and ask these functions what only this backend's state can
//! tell.

use std::cell::Cell;

use pgrx::prelude::*;

use super::chain::{self, EventArgs};
use crate::error::{SqlResult, WardenError};
use crate::{gucs, privilege};

thread_local! {
    /// Set while `audit_table` / `unaudit_table` change a table's capture triggers: the
    /// DDL guard admits those changes and no others.
    static CHANGING_CAPTURE: Cell<bool> = const { Cell::new(false) };
    /// Set by the `ddl_command_start` trigger while the present command creates or
    /// attaches a partition (`CREATE TABLE … PARTITION OF`, `ALTER TABLE … ATTACH
    /// PARTITION`): only then does the DDL guard give the new partitions of an audited
    /// table capture of TRUNCATE (a restore's own `CREATE TRIGGER` must not collide).
    static ADDING_PARTITION: Cell<bool> = const { Cell::new(false) };
}

/// The object access hook that was installed before ours.
static mut PREVIOUS_OBJECT_ACCESS_HOOK: pg_sys::object_access_hook_type = None;

/// Installs the drop check; called once from `_PG_init`.
pub(crate) fn register_hooks() {
    unsafe {
        PREVIOUS_OBJECT_ACCESS_HOOK = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(on_object_access);
        pg_sys::RegisterXactCallback(Some(on_xact_end), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_abort), std::ptr::null_mut());
    }
}

/// Clears the capture flag when a transaction ends or a subtransaction aborts, so no
/// error path can leave it set.
#[pg_guard]
unsafe extern "C-unwind" fn on_xact_end(_event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    CHANGING_CAPTURE.with(|c| c.set(false));
    ADDING_PARTITION.with(|a| a.set(false));
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact_abort(
    event: pg_sys::SubXactEvent::Type,
    _subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        CHANGING_CAPTURE.with(|c| c.set(false));
    }
}

/// Whether an extension script of pg_warden's own is running (CREATE EXTENSION or ALTER
/// EXTENSION UPDATE of pg_warden): lets the DDL guard admit pg_warden's own installation
/// and upgrade scripts, and no other extension's.
#[pg_extern(stable, parallel_safe)]
pub(crate) fn creating_extension() -> bool {
    unsafe {
        pg_sys::creating_extension
            && pg_sys::CurrentExtensionObject != pg_sys::InvalidOid
            && pg_sys::CurrentExtensionObject == pg_sys::get_extension_oid(c"pg_warden".as_ptr(), true)
    }
}

/// Whether `audit_table` / `unaudit_table` is changing capture triggers right now.
#[pg_extern(volatile, parallel_safe)]
fn changing_capture() -> bool {
    CHANGING_CAPTURE.with(|c| c.get())
}

/// Whether the present DDL command creates or attaches a partition (see
/// [`ADDING_PARTITION`]).
#[pg_extern(volatile, parallel_safe)]
fn adding_partition() -> bool {
    ADDING_PARTITION.with(|a| a.get())
}

/// Runs `f` with capture changes admitted; the flag is cleared again even when `f`
/// fails (and at transaction end).
fn while_changing_capture<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CHANGING_CAPTURE.with(|c| c.set(false));
        }
    }
    CHANGING_CAPTURE.with(|c| c.set(true));
    let _reset = Reset;
    f()
}

/// A table as `audit_table` / `unaudit_table` see it, read from the catalog by oid.
struct Target {
    oid: pg_sys::Oid,
    /// Schema-qualified and quoted, for the DDL.
    quoted: String,
    /// As `regclass` prints it with the catalog first in the path (the ledger's
    /// resource id).
    display: String,
    relname: String,
    schema: String,
    kind: i8,
    /// The primary key's column names as SQL literals, comma-separated.
    key_literals: String,
}

impl Target {
    fn of(table: pg_sys::Oid) -> Result<Target, WardenError> {
        let query = "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), \
                $1::pg_catalog.regclass::pg_catalog.text, c.relname::pg_catalog.text, n.nspname::pg_catalog.text, \
                c.relkind::pg_catalog.text, \
                (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(a.attname), ', ' ORDER BY k.ord) \
                   FROM pg_catalog.pg_index i \
                  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord) \
                   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid \
                    AND a.attnum OPERATOR(pg_catalog.=) k.attnum \
                  WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid AND i.indisprimary) \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
          WHERE c.oid OPERATOR(pg_catalog.=) $1";
        let row = privilege::with_pinned_search_path(|| {
            Spi::connect(|client| {
                let rows = client.select(query, Some(1), &[table.into()])?;
                if rows.is_empty() {
                    return Ok(None);
                }
                let row = rows.first();
                Ok::<_, pgrx::spi::SpiError>(Some((
                    row.get::<String>(1)?.unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                    row.get::<String>(3)?.unwrap_or_default(),
                    row.get::<String>(4)?.unwrap_or_default(),
                    row.get::<String>(5)?.unwrap_or_default(),
                    row.get::<String>(6)?.unwrap_or_default(),
                )))
            })
        })?;
        let Some((quoted, display, relname, schema, kind, key_literals)) = row else {
            return Err(WardenError::invalid(format!("relation with oid {} does not exist", table.to_u32())));
        };
        Ok(Target {
            oid: table,
            quoted,
            display,
            relname,
            schema,
            kind: kind.bytes().next().unwrap_or(0) as i8,
            key_literals,
        })
    }

    fn check_auditable(&self) -> Result<(), WardenError> {
        let system = matches!(self.schema.as_str(), "pg_catalog" | "information_schema" | "pg_toast" | "warden")
            || self.schema.starts_with("pg_temp")
            || self.schema.starts_with("pg_toast_temp");
        if system {
            return Err(WardenError::invalid_with_hint(
                format!("cannot audit {}: it belongs to schema {}", self.relname, self.schema),
                "Audit your own tables; the ledger and system catalogs cannot be captured.",
            ));
        }
        if !matches!(self.kind as u8, b'r' | b'p') {
            return Err(WardenError::invalid(format!("cannot audit {}: it is not a table", self.relname)));
        }
        Ok(())
    }
}

/// DROP statements for the capture triggers the table has now.
fn capture_drops(target: &Target) -> Vec<String> {
    [c"warden_audit_row", c"warden_audit_truncate"]
        .into_iter()
        .filter(|name| unsafe { pg_sys::get_trigger_oid(target.oid, name.as_ptr(), true) } != pg_sys::InvalidOid)
        .map(|name| format!("DROP TRIGGER {} ON {}", name.to_string_lossy(), target.quoted))
        .collect()
}

/// The partitions below `table` that can have a TRUNCATE trigger (tables, partitioned
/// tables; not foreign tables), quoted, with whether each has `warden_audit_truncate`.
/// PostgreSQL clones row triggers onto partitions but not statement triggers, and a
/// TRUNCATE of a partition fires no trigger of its parent.
fn partitions(table: pg_sys::Oid) -> Result<Vec<(String, bool)>, WardenError> {
    Ok(Spi::connect(|client| {
        client
            .select(
                "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), \
                        EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid \
                                   AND t.tgname OPERATOR(pg_catalog.=) 'warden_audit_truncate') \
                   FROM pg_catalog.pg_partition_tree($1::pg_catalog.regclass) p \
                   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid \
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
                  WHERE p.level OPERATOR(pg_catalog.>) 0 AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog.\"char\"[]) \
                  ORDER BY p.level, 1",
                None,
                &[table.into()],
            )?
            .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get::<bool>(2)?.unwrap_or(false))))
            .collect::<Result<Vec<_>, pgrx::spi::SpiError>>()
    })?)
}

/// Runs capture DDL as the caller (who needs the TRIGGER privilege on the table and
/// EXECUTE on `warden.audit_capture`), with the search path pinned and the DDL guard
/// told that the change is pg_warden's own.
fn capture_ddl(statements: &[String]) -> Result<(), WardenError> {
    while_changing_capture(|| {
        privilege::with_pinned_search_path(|| {
            Spi::connect_mut(|client| {
                for statement in statements {
                    client.update(statement, None, &[])?;
                }
                Ok::<_, pgrx::spi::SpiError>(())
            })
        })
    })
}

/// The statements that capture TRUNCATE of `quoted` (a partition of an audited table).
fn truncate_capture(quoted: &str) -> [String; 2] {
    [
        format!(
            "CREATE TRIGGER warden_audit_truncate AFTER TRUNCATE ON {quoted} \
             FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_capture()"
        ),
        format!("ALTER TABLE {quoted} ENABLE ALWAYS TRIGGER warden_audit_truncate"),
    ]
}

fn log_capture_change(event_type: &str, action: &str, target: &Target) -> Result<(), WardenError> {
    let text = |v: &str| v.into_datum();
    chain::append(&EventArgs {
        event_type: text(event_type),
        action: text(action),
        resource_type: text("table"),
        resource_id: text(&target.display),
        ..Default::default()
    })?;
    Ok(())
}

/// `warden.audit_table(tbl regclass)`: captures row changes and TRUNCATE of a table.
#[pg_extern(volatile)]
fn audit_table(tbl: crate::datum::RegClass) -> SqlResult<()> {
    let tbl = tbl.0;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.audit_table()".as_ptr()) };
    let target = Target::of(tbl)?;
    target.check_auditable()?;
    let (mut statements, partitions) =
        privilege::with_pinned_search_path(|| Ok::<_, WardenError>((capture_drops(&target), partitions(tbl)?)))?;
    statements.push(format!(
        "CREATE TRIGGER warden_audit_row AFTER INSERT OR UPDATE OR DELETE ON {} \
         FOR EACH ROW EXECUTE FUNCTION warden.audit_capture({})",
        target.quoted, target.key_literals
    ));
    statements.push(format!("ALTER TABLE {} ENABLE ALWAYS TRIGGER warden_audit_row", target.quoted));
    statements.extend(truncate_capture(&target.quoted));
    for (partition, has_truncate) in partitions {
        if !has_truncate {
            statements.extend(truncate_capture(&partition));
        }
    }
    capture_ddl(&statements)?;
    log_capture_change("audit_enabled", "AUDIT TABLE", &target)?;
    Ok(())
}

/// `warden.unaudit_table(tbl regclass)`: stops capturing a table; the change is logged.
#[pg_extern(volatile)]
fn unaudit_table(tbl: crate::datum::RegClass) -> SqlResult<()> {
    let tbl = tbl.0;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.unaudit_table()".as_ptr()) };
    let target = Target::of(tbl)?;
    let (mut statements, partitions) =
        privilege::with_pinned_search_path(|| Ok::<_, WardenError>((capture_drops(&target), partitions(tbl)?)))?;
    if statements.is_empty() {
        // Nothing to stop, so nothing for the ledger to record.
        pgrx::notice!("table {} is not audited", target.display);
        return Ok(());
    }
    for (partition, has_truncate) in partitions {
        if has_truncate {
            statements.push(format!("DROP TRIGGER warden_audit_truncate ON {partition}"));
        }
    }
    capture_ddl(&statements)?;
    log_capture_change("audit_disabled", "UNAUDIT TABLE", &target)?;
    Ok(())
}

/// Called by the `ddl_command_start` event trigger before any DROP that could take the
/// extension with it (DROP EXTENSION, DROP SCHEMA, DROP OWNED): calling it loads
/// pg_warden into the session, which installs the object access hook that refuses to
/// drop a ledger or keyring holding data ([`on_object_access`]). It does nothing else.
#[pg_extern(volatile, parallel_unsafe)]
fn note_drop_check() {}

/// The tables whose drop the hook refuses while they hold a row: the ledger, its
/// checkpoints and the keyring.
const KEPT_TABLES: [&std::ffi::CStr; 3] = [c"audit_log", c"audit_checkpoint", c"key_store"];

/// Whether `relid` (locked by the DROP that is removing it) has a row visible to a
/// snapshot taken now: a writer that committed while the DROP waited for its lock is
/// seen.
unsafe fn holds_rows(relid: pg_sys::Oid) -> bool {
    let rel = pg_sys::relation_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
    let flags = pg_sys::ScanOptions::SO_TYPE_SEQSCAN | pg_sys::ScanOptions::SO_ALLOW_PAGEMODE;
    let scan = pg_sys::heap_beginscan(rel, snapshot, 0, std::ptr::null_mut(), std::ptr::null_mut(), flags);
    let found = !pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection).is_null();
    pg_sys::heap_endscan(scan);
    pg_sys::UnregisterSnapshot(snapshot);
    pg_sys::relation_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    found
}

/// The trigger function of trigger `trigger_oid`, read from pg_trigger.
unsafe fn trigger_function(trigger_oid: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let catalog = pg_sys::table_open(pg_sys::TriggerRelationId, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    let mut key = pg_sys::ScanKeyData::default();
    pg_sys::ScanKeyInit(
        &mut key,
        pg_sys::Anum_pg_trigger_oid as pg_sys::AttrNumber,
        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
        pg_sys::RegProcedure::from(pg_sys::F_OIDEQ),
        trigger_oid.into(),
    );
    let scan = pg_sys::systable_beginscan(
        catalog,
        pg_sys::Oid::from(pg_sys::TriggerOidIndexId),
        true,
        std::ptr::null_mut(),
        1,
        &mut key,
    );
    let tuple = pg_sys::systable_getnext(scan);
    let function =
        (!tuple.is_null()).then(|| (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_trigger>(tuple)).tgfoid);
    pg_sys::systable_endscan(scan);
    pg_sys::table_close(catalog, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    function
}

/// Whether `function` is `warden.audit_capture`.
unsafe fn is_capture_function(function: pg_sys::Oid) -> bool {
    let name = pg_sys::get_func_name(function);
    if name.is_null() || std::ffi::CStr::from_ptr(name) != c"audit_capture" {
        return false;
    }
    pg_sys::get_func_namespace(function) == pg_sys::get_namespace_oid(c"warden".as_ptr(), true)
}

#[pg_guard]
unsafe extern "C-unwind" fn on_object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: std::ffi::c_int,
    arg: *mut std::ffi::c_void,
) {
    if let Some(previous) = PREVIOUS_OBJECT_ACCESS_HOOK {
        previous(access, class_id, object_id, sub_id, arg);
    }
    if access != pg_sys::ObjectAccessType::OAT_DROP || sub_id != 0 {
        return;
    }
    if class_id != pg_sys::RelationRelationId || gucs::ALLOW_DROP_EXTENSION.get() {
        return;
    }
    let namespace = pg_sys::get_namespace_oid(c"warden".as_ptr(), true);
    if namespace == pg_sys::InvalidOid || pg_sys::get_rel_namespace(object_id) != namespace {
        return;
    }
    let kept = KEPT_TABLES.iter().any(|name| pg_sys::get_relname_relid(name.as_ptr(), namespace) == object_id);
    if kept && holds_rows(object_id) {
        WardenError::DropRefused {
            message: "pg_warden's audit ledger or keyring holds data; dropping the extension would destroy every entry and key".into(),
            hint: "Export the ledger (warden.export_audit) and escrow the keys first; then a superuser may SET warden.allow_drop_extension = on and drop it.".into(),
        }
        .raise();
    }
}

/// `warden.audit_ddl_start()`, the `ddl_command_start` event trigger
/// `warden_audit_ddl_start`: refuses, before it runs, any command that would replace,
/// rename, re-own, move or detach one of pg_warden's own objects, or create a function
/// or view in schema `warden`, unless pg_warden's own extension script runs it. The
/// other guards are SQL functions pg_warden owns; this check runs before a command
/// could replace them (itself included: a `CREATE OR REPLACE` of this function fires
/// the version being replaced).
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn audit_ddl_start(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let context = (*fcinfo).context;
    if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
        WardenError::NotSupported {
            message: "warden.audit_ddl_start() must be fired as a ddl_command_start event trigger".into(),
            hint: "pg_warden creates its event triggers itself.".into(),
        }
        .raise();
    }
    let tree = (*(context as *mut pg_sys::EventTriggerData)).parsetree;
    ADDING_PARTITION.with(|a| a.set(adds_partition(tree)));
    if creating_extension() {
        return pg_sys::Datum::from(0);
    }
    if !CHANGING_CAPTURE.with(|c| c.get()) && detaches_audited_partition(tree) {
        // Refused before it starts: DETACH ... CONCURRENTLY commits its first phase
        // before the hook on the cloned trigger's drop could refuse it.
        WardenError::PermissionDenied {
            message: "a partition of an audited table cannot be detached: its rows would leave capture unrecorded"
                .into(),
            hint: "Stop capturing the table with warden.unaudit_table first (a ledger event), or drop the partition."
                .into(),
        }
        .raise();
    }
    if !CHANGING_CAPTURE.with(|c| c.get()) && replaces_capture_trigger(tree) {
        WardenError::PermissionDenied {
            message: "a capture trigger cannot be replaced (CREATE OR REPLACE TRIGGER)".into(),
            hint: "Capture triggers change only through warden.audit_table and warden.unaudit_table, which record the change in the ledger.".into(),
        }
        .raise();
    }
    if let Some(what) = touches_own_object(tree) {
        WardenError::PermissionDenied {
            message: format!("pg_warden's own objects cannot be changed by DDL ({what})"),
            hint: "Only pg_warden's extension scripts (CREATE EXTENSION, ALTER EXTENSION pg_warden UPDATE) change its functions and schema.".into(),
        }
        .raise();
    }
    if let Err(error) = super::ddl::require_capture_triggers() {
        error.raise();
    }
    pg_sys::Datum::from(0)
}

/// Version-1 calling convention marker for `audit_ddl_start`.
#[no_mangle]
pub extern "C" fn pg_finfo_audit_ddl_start() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// Whether a statement creates or attaches a partition.
unsafe fn adds_partition(tree: *mut pg_sys::Node) -> bool {
    if tree.is_null() {
        return false;
    }
    match (*tree).type_ {
        pg_sys::NodeTag::T_CreateStmt => !(*(tree as *mut pg_sys::CreateStmt)).partbound.is_null(),
        pg_sys::NodeTag::T_AlterTableStmt => {
            let cmds = (*(tree as *mut pg_sys::AlterTableStmt)).cmds;
            pgrx::PgList::<pg_sys::AlterTableCmd>::from_pg(cmds)
                .iter_ptr()
                .any(|cmd| (*cmd).subtype == pg_sys::AlterTableType::AT_AttachPartition)
        }
        _ => false,
    }
}

/// Whether a statement detaches a partition from a table whose capture trigger is on it.
unsafe fn detaches_audited_partition(tree: *mut pg_sys::Node) -> bool {
    if tree.is_null() || (*tree).type_ != pg_sys::NodeTag::T_AlterTableStmt {
        return false;
    }
    let stmt = tree as *mut pg_sys::AlterTableStmt;
    let detaches = pgrx::PgList::<pg_sys::AlterTableCmd>::from_pg((*stmt).cmds).iter_ptr().any(|cmd| {
        matches!(
            (*cmd).subtype,
            pg_sys::AlterTableType::AT_DetachPartition | pg_sys::AlterTableType::AT_DetachPartitionFinalize
        )
    });
    detaches && has_capture_trigger((*stmt).relation, c"warden_audit_row")
}

/// The relation a statement names, without locking it; InvalidOid if there is none.
unsafe fn relation_oid(relation: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if relation.is_null() {
        return pg_sys::InvalidOid;
    }
    pg_sys::RangeVarGetRelidExtended(
        relation,
        pg_sys::NoLock as pg_sys::LOCKMODE,
        pg_sys::RVROption::RVR_MISSING_OK,
        None,
        std::ptr::null_mut(),
    )
}

/// Whether the relation `relation` names has a trigger `name` calling audit_capture.
unsafe fn has_capture_trigger(relation: *mut pg_sys::RangeVar, name: &std::ffi::CStr) -> bool {
    let relid = relation_oid(relation);
    if relid == pg_sys::InvalidOid {
        return false;
    }
    let trigger = pg_sys::get_trigger_oid(relid, name.as_ptr(), true);
    trigger != pg_sys::InvalidOid && trigger_function(trigger).is_some_and(|f| is_capture_function(f))
}

/// Whether a statement is `CREATE OR REPLACE TRIGGER` over a capture trigger.
unsafe fn replaces_capture_trigger(tree: *mut pg_sys::Node) -> bool {
    if tree.is_null() || (*tree).type_ != pg_sys::NodeTag::T_CreateTrigStmt {
        return false;
    }
    let stmt = tree as *mut pg_sys::CreateTrigStmt;
    (*stmt).replace
        && !(*stmt).trigname.is_null()
        && has_capture_trigger((*stmt).relation, std::ffi::CStr::from_ptr((*stmt).trigname))
}

/// What a statement would change of pg_warden's own objects, if anything.
unsafe fn touches_own_object(tree: *mut pg_sys::Node) -> Option<&'static str> {
    use pg_sys::NodeTag::*;
    if tree.is_null() {
        return None;
    }
    let warden = pg_sys::get_namespace_oid(c"warden".as_ptr(), true);
    let extension = pg_sys::get_extension_oid(c"pg_warden".as_ptr(), true);
    if warden == pg_sys::InvalidOid || extension == pg_sys::InvalidOid {
        return None;
    }
    // Whether the object a statement names (by `object`, else by `relation`) belongs to
    // pg_warden.
    // Only the kinds of object pg_warden owns are resolved, each in the shape the parser
    // gives it: functions (an ObjectWithArgs) and relations (a RangeVar). Other object
    // kinds come in other shapes (a type as a plain name list, a domain constraint as
    // a list with its name) that would be misread.
    let member = |objtype: pg_sys::ObjectType::Type, object: *mut pg_sys::Node, relation: *mut pg_sys::RangeVar| {
        use pg_sys::ObjectType::*;
        let function = matches!(objtype, OBJECT_FUNCTION | OBJECT_PROCEDURE | OBJECT_ROUTINE | OBJECT_AGGREGATE);
        let function_object = function && !object.is_null() && (*object).type_ == T_ObjectWithArgs;
        let (class_id, object_id) = if function_object {
            let mut rel: pg_sys::Relation = std::ptr::null_mut();
            let address = pg_sys::get_object_address(
                objtype,
                object,
                &mut rel,
                pg_sys::AccessShareLock as pg_sys::LOCKMODE,
                true,
            );
            if !rel.is_null() {
                pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
            }
            (address.classId, address.objectId)
        } else if !relation.is_null() {
            (pg_sys::RelationRelationId, relation_oid(relation))
        } else {
            return false;
        };
        object_id != pg_sys::InvalidOid && pg_sys::getExtensionOfObject(class_id, object_id) == extension
    };
    // Creating in schema warden: only a role PostgreSQL would let (its owner, a
    // superuser) is refused here; everyone else gets PostgreSQL's own refusal.
    let may_create = || {
        pg_sys::pg_namespace_aclcheck(warden, pg_sys::GetUserId(), pg_sys::ACL_CREATE as pg_sys::AclMode)
            == pg_sys::AclResult::ACLCHECK_OK
    };
    match (*tree).type_ {
        T_CreateFunctionStmt if may_create() => {
            let stmt = tree as *mut pg_sys::CreateFunctionStmt;
            let mut name: *mut std::ffi::c_char = std::ptr::null_mut();
            (pg_sys::QualifiedNameGetCreationNamespace((*stmt).funcname, &mut name) == warden)
                .then_some("CREATE FUNCTION in schema warden")
        }
        T_ViewStmt if may_create() => {
            let stmt = tree as *mut pg_sys::ViewStmt;
            (pg_sys::RangeVarGetCreationNamespace((*stmt).view) == warden).then_some("CREATE VIEW in schema warden")
        }
        T_AlterFunctionStmt => {
            let stmt = tree as *mut pg_sys::AlterFunctionStmt;
            member((*stmt).objtype, (*stmt).func.cast(), std::ptr::null_mut()).then_some("ALTER FUNCTION")
        }
        T_RenameStmt => {
            let stmt = tree as *mut pg_sys::RenameStmt;
            member((*stmt).renameType, (*stmt).object, (*stmt).relation).then_some("RENAME")
        }
        T_AlterOwnerStmt => {
            let stmt = tree as *mut pg_sys::AlterOwnerStmt;
            member((*stmt).objectType, (*stmt).object, (*stmt).relation).then_some("OWNER TO")
        }
        T_AlterObjectSchemaStmt => {
            let stmt = tree as *mut pg_sys::AlterObjectSchemaStmt;
            member((*stmt).objectType, (*stmt).object, (*stmt).relation).then_some("SET SCHEMA")
        }
        T_AlterObjectDependsStmt => {
            let stmt = tree as *mut pg_sys::AlterObjectDependsStmt;
            member((*stmt).objectType, (*stmt).object, (*stmt).relation).then_some("DEPENDS ON EXTENSION")
        }
        T_AlterExtensionContentsStmt => {
            let stmt = tree as *mut pg_sys::AlterExtensionContentsStmt;
            (std::ffi::CStr::from_ptr((*stmt).extname) == c"pg_warden").then_some("ALTER EXTENSION pg_warden ADD/DROP")
        }
        _ => None,
    }
}
