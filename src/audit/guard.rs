//! The guards around the ledger and around capture: which changes to capture triggers
//! are pg_warden's own (`audit_table` / `unaudit_table`), which extension script is
//! running, and the refusal to drop the extension while the ledger or the keyring hold
//! anything. The event triggers themselves are SQL (`sql/audit_guard.sql`): they read
//! the catalog with every name qualified and ask these functions what only this
//! backend's state can tell.

use std::cell::Cell;

use pgrx::prelude::*;

use super::chain::{self, EventArgs};
use crate::error::{SqlResult, WardenError};
use crate::{gucs, keyring};

thread_local! {
    /// Set while `audit_table` / `unaudit_table` change a table's capture triggers: the
    /// DDL guard admits those changes and no others.
    static CHANGING_CAPTURE: Cell<bool> = const { Cell::new(false) };
    /// Whether the ledger, its checkpoints and the keyring were all empty when the
    /// present DROP command started (`Some(false)`); `None` when not known, or written
    /// to since.
    static HOLDS_DATA: Cell<Option<bool>> = const { Cell::new(None) };
}

/// The object access hook that was installed before ours.
static mut PREVIOUS_OBJECT_ACCESS_HOOK: pg_sys::object_access_hook_type = None;

/// Installs the drop check; called once from `_PG_init`.
pub fn register_hooks() {
    unsafe {
        PREVIOUS_OBJECT_ACCESS_HOOK = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(on_object_access);
    }
}

/// Forgets what the last DROP check saw: the ledger or the keyring was written to, or
/// the transaction ended.
pub fn forget_drop_check() {
    HOLDS_DATA.with(|h| h.set(None));
}

/// Whether an extension script of pg_warden's own is running (CREATE EXTENSION or ALTER
/// EXTENSION UPDATE of pg_warden): lets the DDL guard admit pg_warden's own installation
/// and upgrade scripts, and no other extension's.
#[pg_extern(stable, parallel_safe)]
fn creating_extension() -> bool {
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

/// Clears the capture flag at transaction end (called from the chain's transaction
/// callback), so no error path can leave it set.
pub fn at_transaction_end() {
    CHANGING_CAPTURE.with(|c| c.set(false));
    forget_drop_check();
}

/// A table as `audit_table` / `unaudit_table` see it, read from the catalog by oid.
struct Target {
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
        let row = keyring::with_pinned_search_path(|| {
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
        Ok(Target { quoted, display, relname, schema, kind: kind.bytes().next().unwrap_or(0) as i8, key_literals })
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

    fn has_trigger(&self, table: pg_sys::Oid, name: &str) -> Result<bool, WardenError> {
        Ok(Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger \
              WHERE tgrelid OPERATOR(pg_catalog.=) $1 AND tgname OPERATOR(pg_catalog.=) $2::pg_catalog.name)",
            &[table.into(), name.into()],
        )?
        .unwrap_or(false))
    }
}

/// Runs capture DDL as the caller (who needs the TRIGGER privilege on the table and
/// EXECUTE on `warden.audit_capture`), with the search path pinned and the DDL guard
/// told that the change is pg_warden's own.
fn capture_ddl(statements: &[String]) -> Result<(), WardenError> {
    while_changing_capture(|| {
        keyring::with_pinned_search_path(|| {
            Spi::connect_mut(|client| {
                for statement in statements {
                    client.update(statement, None, &[])?;
                }
                Ok::<_, pgrx::spi::SpiError>(())
            })
        })
    })?;
    Ok(())
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
#[pg_extern(sql = false)]
fn audit_table(tbl: pg_sys::Oid) -> SqlResult<()> {
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.audit_table()".as_ptr()) };
    let target = Target::of(tbl)?;
    target.check_auditable()?;
    let mut statements = Vec::new();
    keyring::with_pinned_search_path(|| -> Result<(), WardenError> {
        for name in ["warden_audit_row", "warden_audit_truncate"] {
            if target.has_trigger(tbl, name)? {
                statements.push(format!("DROP TRIGGER {name} ON {}", target.quoted));
            }
        }
        Ok(())
    })?;
    statements.push(format!(
        "CREATE TRIGGER warden_audit_row AFTER INSERT OR UPDATE OR DELETE ON {} \
         FOR EACH ROW EXECUTE FUNCTION warden.audit_capture({})",
        target.quoted, target.key_literals
    ));
    statements.push(format!(
        "CREATE TRIGGER warden_audit_truncate AFTER TRUNCATE ON {} \
         FOR EACH STATEMENT EXECUTE FUNCTION warden.audit_capture()",
        target.quoted
    ));
    statements.push(format!("ALTER TABLE {} ENABLE ALWAYS TRIGGER warden_audit_row", target.quoted));
    statements.push(format!("ALTER TABLE {} ENABLE ALWAYS TRIGGER warden_audit_truncate", target.quoted));
    capture_ddl(&statements)?;
    log_capture_change("audit_enabled", "AUDIT TABLE", &target)?;
    Ok(())
}

/// `warden.unaudit_table(tbl regclass)`: stops capturing a table; the change is logged.
#[pg_extern(sql = false)]
fn unaudit_table(tbl: pg_sys::Oid) -> SqlResult<()> {
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.unaudit_table()".as_ptr()) };
    let target = Target::of(tbl)?;
    capture_ddl(&[
        format!("DROP TRIGGER IF EXISTS warden_audit_row ON {}", target.quoted),
        format!("DROP TRIGGER IF EXISTS warden_audit_truncate ON {}", target.quoted),
    ])?;
    log_capture_change("audit_disabled", "UNAUDIT TABLE", &target)?;
    Ok(())
}

/// Called by the `ddl_command_start` event trigger before any DROP that could take the
/// extension with it (DROP EXTENSION, DROP SCHEMA, DROP OWNED): notes whether the
/// ledger, its checkpoints or the keyring hold anything, for the object access hook to
/// consult if the extension is then dropped. Reads pg_warden's own tables as their
/// owner, names qualified.
#[pg_extern(volatile, parallel_unsafe)]
fn note_drop_check() -> SqlResult<()> {
    let holds = keyring::as_extension_owner(|| {
        Spi::get_one::<bool>(
            "SELECT EXISTS (SELECT 1 FROM warden.audit_log) OR EXISTS (SELECT 1 FROM warden.audit_checkpoint) \
                 OR EXISTS (SELECT 1 FROM warden.key_store)",
        )
    })?
    .map_err(WardenError::from)?
    .unwrap_or(true);
    HOLDS_DATA.with(|h| h.set(Some(holds)));
    Ok(())
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
    if access != pg_sys::ObjectAccessType::OAT_DROP || class_id != pg_sys::ExtensionRelationId {
        return;
    }
    if object_id != pg_sys::get_extension_oid(c"pg_warden".as_ptr(), true) || gucs::ALLOW_DROP_EXTENSION.get() {
        return;
    }
    // Unknown (the DROP started without the event trigger, or something was written
    // since) counts as holding data.
    if HOLDS_DATA.with(|h| h.get()) != Some(false) {
        pgrx::pg_sys::panic::ErrorReport::from(WardenError::DropRefused {
            message: "pg_warden's audit ledger or keyring holds data; dropping the extension would destroy every entry and key".into(),
            hint: "Export the ledger (warden.export_audit) and escrow the keys first; then a superuser may SET warden.allow_drop_extension = on and drop it.".into(),
        })
        .report(PgLogLevel::ERROR);
    }
}
