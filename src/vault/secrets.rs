//! The vault's SQL functions: creating, rotating, retiring, deleting, granting and
//! reading secrets, and `warden.rewrap_vault()`.
//!
//! Every function runs as its caller and checks the caller's right itself (managing:
//! superuser or `warden_secret_admin`; reading: a grant by role name); the vault's
//! tables are read and written with the extension owner's rights by fixed statements
//! whose values are parameters. Values are encrypted and decrypted here, in Rust: no
//! statement ever carries a plaintext.

use pgrx::datum::{TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;
use warden_core::vault::{self as vault_core, Aad, DataKey};
use zeroize::Zeroizing;

use super::lookup::{fetch, Lookup};
use super::record::{self, Outcome, Read};
use super::{kek_for, kek_for_writing, vault_error};
use crate::audit::chain::{append_own, OwnEvent};
use crate::datum::RegRole;
use crate::error::{SqlResult, WardenError};
use crate::privilege::{as_extension_owner, require_admin, require_secret_admin};

fn uuid_text(reference: &Uuid) -> String {
    reference.to_string()
}

fn required<'a, T: ?Sized>(value: Option<&'a T>, what: &str) -> Result<&'a T, WardenError> {
    value.ok_or_else(|| WardenError::invalid(format!("{what} must not be NULL")))
}

fn check_name(name: &str) -> Result<(), WardenError> {
    vault_core::check_name(name).map_err(WardenError::invalid)
}

fn check_tenant(tenant: Option<&str>) -> Result<(), WardenError> {
    vault_core::check_tenant(tenant)
        .map_err(|reason| WardenError::invalid_with_hint(reason, "Pass NULL for a secret that belongs to no tenant."))
}

fn check_value(value: &[u8]) -> Result<(), WardenError> {
    vault_core::check_value_len(value.len()).map_err(WardenError::TooLarge)
}

fn check_expiry(expires_at: Option<TimestampWithTimeZone>) -> Result<Option<i64>, WardenError> {
    let Some(expires_at) = expires_at else { return Ok(None) };
    let micros = micros(expires_at);
    if micros <= unsafe { pg_sys::GetCurrentTimestamp() } {
        return Err(WardenError::invalid("expires_at must be in the future"));
    }
    Ok(Some(micros))
}

fn micros(ts: TimestampWithTimeZone) -> i64 {
    ts.into_datum().map_or(0, |d| d.value() as i64)
}

fn timestamptz(micros: i64) -> Option<TimestampWithTimeZone> {
    unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(micros), false) }
}

fn timestamp_text(micros: i64) -> String {
    timestamptz(micros).map(|t| t.to_string()).unwrap_or_default()
}

/// Records a change to a secret in the ledger.
fn log_change(
    action: &str,
    reference: &Uuid,
    tenant: Option<&str>,
    details: serde_json::Value,
) -> Result<(), WardenError> {
    append_own(&OwnEvent {
        event_type: "secret_change",
        action,
        resource_type: "secret",
        resource_id: Some(&uuid_text(reference)),
        tenant,
        actor: None,
        details,
    })?;
    Ok(())
}

fn create(
    name: Option<&str>,
    value: Option<&[u8]>,
    tenant: Option<&str>,
    expires_at: Option<TimestampWithTimeZone>,
    metadata: Option<JsonB>,
    description: Option<&str>,
) -> Result<Uuid, WardenError> {
    require_secret_admin("create secrets")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.create_secret()".as_ptr()) };
    let name = required(name, "secret name")?;
    let value = required(value, "secret value")?;
    check_name(name)?;
    check_tenant(tenant)?;
    check_value(value)?;
    let expires = check_expiry(expires_at)?;
    let kek = kek_for_writing()?;
    let reference_bytes = vault_core::random_uuid_v4().map_err(vault_error)?;
    let reference = Uuid::from_bytes(reference_bytes);
    let data_key = DataKey::generate().map_err(vault_error)?;
    let wrapped =
        kek.wrap(&data_key, &Aad::SecretKey { secret_ref: reference_bytes, tenant, name }).map_err(vault_error)?;
    let ciphertext = data_key
        .seal(value, &Aad::SecretValue { secret_ref: reference_bytes, tenant, name, version: 1 })
        .map_err(vault_error)?;
    let inserted = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let inserted = client
                .update(
                    "INSERT INTO warden.secret (secret_ref, tenant, name, description, metadata, wrapped_key, active_version) \
                     VALUES ($1, $2, $3, $4, $5, $6, 1) ON CONFLICT DO NOTHING RETURNING secret_ref",
                    None,
                    &[
                        reference.into(),
                        tenant.into(),
                        name.into(),
                        description.into(),
                        metadata.into(),
                        wrapped.into(),
                    ],
                )?
                .len()
                == 1;
            if inserted {
                client.update(
                    "INSERT INTO warden.secret_version (secret_ref, version, ciphertext, expires_at) VALUES ($1, 1, $2, $3)",
                    None,
                    &[reference.into(), ciphertext.into(), expires.and_then(timestamptz).into()],
                )?;
            }
            Ok::<_, pgrx::spi::SpiError>(inserted)
        })
    })?;
    if !inserted {
        return Err(WardenError::SecretExists { name: name.to_owned(), tenant: tenant.map(str::to_owned) });
    }
    log_change(
        "create_secret",
        &reference,
        tenant,
        json!({"name": name, "version": 1, "expires_at": expires.map(timestamp_text)}),
    )?;
    Ok(reference)
}

/// `warden.create_secret(name, value text, tenant, expires_at, metadata, description)`.
#[pg_extern(volatile, parallel_unsafe, name = "create_secret")]
fn create_secret(
    name: Option<&str>,
    value: Option<&str>,
    tenant: default!(Option<&str>, "NULL"),
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    metadata: default!(Option<JsonB>, "NULL"),
    description: default!(Option<&str>, "NULL"),
) -> SqlResult<Option<Uuid>> {
    Ok(Some(create(name, value.map(str::as_bytes), tenant, expires_at, metadata, description)?))
}

/// `warden.create_secret(name, value bytea, …)`: a binary secret.
#[pg_extern(volatile, parallel_unsafe, name = "create_secret")]
fn create_secret_bytes(
    name: Option<&str>,
    value: Option<&[u8]>,
    tenant: default!(Option<&str>, "NULL"),
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    metadata: default!(Option<JsonB>, "NULL"),
    description: default!(Option<&str>, "NULL"),
) -> SqlResult<Option<Uuid>> {
    Ok(Some(create(name, value, tenant, expires_at, metadata, description)?))
}

/// A secret's row, locked FOR UPDATE, and its data key.
struct Locked {
    tenant: Option<String>,
    name: String,
    active_version: i32,
    data_key: Option<DataKey>,
}

fn lock_secret(reference: &Uuid, unwrap_with: Option<&warden_core::vault::Kek>) -> Result<Locked, WardenError> {
    let row = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let rows = client.update(
                "SELECT tenant, name, wrapped_key, active_version FROM warden.secret \
                 WHERE secret_ref OPERATOR(pg_catalog.=) $1 FOR UPDATE",
                Some(1),
                &[(*reference).into()],
            )?;
            if rows.is_empty() {
                return Ok::<_, pgrx::spi::SpiError>(None);
            }
            let row = rows.first();
            Ok(Some((
                row.get::<String>(1)?,
                row.get::<String>(2)?.unwrap_or_default(),
                row.get::<Vec<u8>>(3)?.unwrap_or_default(),
                row.get::<i32>(4)?.unwrap_or(0),
            )))
        })
    })?;
    let (tenant, name, wrapped, active_version) =
        row.ok_or_else(|| WardenError::UnknownSecret(uuid_text(reference)))?;
    let data_key = match unwrap_with {
        Some(kek) => Some(
            kek.unwrap(
                &wrapped,
                &Aad::SecretKey { secret_ref: *reference.as_bytes(), tenant: tenant.as_deref(), name: &name },
            )
            .map_err(|_| WardenError::Tampered(format!("the data key of secret {}", uuid_text(reference))))?,
        ),
        None => None,
    };
    Ok(Locked { tenant, name, active_version, data_key })
}

fn rotate(
    reference: Option<Uuid>,
    value: Option<&[u8]>,
    expires_at: Option<TimestampWithTimeZone>,
) -> Result<i32, WardenError> {
    require_secret_admin("rotate secrets")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.rotate_secret()".as_ptr()) };
    let reference = required(reference.as_ref(), "secret_ref")?;
    let value = required(value, "secret value")?;
    check_value(value)?;
    let expires = check_expiry(expires_at)?;
    let kek = kek_for_writing()?;
    let locked = lock_secret(reference, Some(&kek))?;
    let version =
        locked.active_version.checked_add(1).ok_or_else(|| WardenError::TooLarge("too many versions".into()))?;
    let ciphertext = locked
        .data_key
        .as_ref()
        .expect("unwrapped above")
        .seal(
            value,
            &Aad::SecretValue {
                secret_ref: *reference.as_bytes(),
                tenant: locked.tenant.as_deref(),
                name: &locked.name,
                version,
            },
        )
        .map_err(vault_error)?;
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "INSERT INTO warden.secret_version (secret_ref, version, ciphertext, expires_at) VALUES ($1, $2, $3, $4)",
                None,
                &[(*reference).into(), version.into(), ciphertext.into(), expires.and_then(timestamptz).into()],
            )?;
            client.update(
                "UPDATE warden.secret SET active_version = $2, rotated_at = pg_catalog.now() \
                 WHERE secret_ref OPERATOR(pg_catalog.=) $1",
                None,
                &[(*reference).into(), version.into()],
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })?;
    log_change(
        "rotate_secret",
        reference,
        locked.tenant.as_deref(),
        json!({"name": locked.name, "version": version, "expires_at": expires.map(timestamp_text)}),
    )?;
    Ok(version)
}

/// `warden.rotate_secret(secret_ref, value text, expires_at)`: a new active version.
#[pg_extern(volatile, parallel_unsafe, name = "rotate_secret")]
fn rotate_secret(
    secret_ref: Option<Uuid>,
    value: Option<&str>,
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> SqlResult<Option<i32>> {
    Ok(Some(rotate(secret_ref, value.map(str::as_bytes), expires_at)?))
}

/// `warden.rotate_secret(secret_ref, value bytea, expires_at)`.
#[pg_extern(volatile, parallel_unsafe, name = "rotate_secret")]
fn rotate_secret_bytes(
    secret_ref: Option<Uuid>,
    value: Option<&[u8]>,
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> SqlResult<Option<i32>> {
    Ok(Some(rotate(secret_ref, value, expires_at)?))
}

/// `warden.retire_secret_version(secret_ref, version)`: destroys an older version.
#[pg_extern(volatile, parallel_unsafe)]
fn retire_secret_version(secret_ref: Uuid, version: i32) -> SqlResult<()> {
    require_secret_admin("retire secret versions")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.retire_secret_version()".as_ptr()) };
    let locked = lock_secret(&secret_ref, None)?;
    if version == locked.active_version {
        return Err(WardenError::NotInState {
            message: format!("version {version} is the active version of secret {}", uuid_text(&secret_ref)),
            hint: "Rotate the secret first, or delete it with warden.delete_secret.".into(),
        }
        .into());
    }
    let deleted = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            Ok::<_, pgrx::spi::SpiError>(
                client
                    .update(
                        "DELETE FROM warden.secret_version WHERE secret_ref OPERATOR(pg_catalog.=) $1 \
                         AND version OPERATOR(pg_catalog.=) $2 RETURNING version",
                        None,
                        &[secret_ref.into(), version.into()],
                    )?
                    .len(),
            )
        })
    })?;
    if deleted == 0 {
        return Err(WardenError::UnknownSecret(format!("{} version {version}", uuid_text(&secret_ref))).into());
    }
    log_change(
        "retire_secret_version",
        &secret_ref,
        locked.tenant.as_deref(),
        json!({"name": locked.name, "version": version}),
    )?;
    Ok(())
}

/// `warden.delete_secret(secret_ref)`: every version, every grant and the data key.
#[pg_extern(volatile, parallel_unsafe)]
fn delete_secret(secret_ref: Uuid) -> SqlResult<()> {
    require_secret_admin("delete secrets")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.delete_secret()".as_ptr()) };
    let locked = lock_secret(&secret_ref, None)?;
    let versions = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let args = [secret_ref.into()];
            let versions = client
                .update(
                    "DELETE FROM warden.secret_version WHERE secret_ref OPERATOR(pg_catalog.=) $1 RETURNING version",
                    None,
                    &args,
                )?
                .len();
            client.update("DELETE FROM warden.secret_grant WHERE secret_ref OPERATOR(pg_catalog.=) $1", None, &args)?;
            client.update("DELETE FROM warden.secret WHERE secret_ref OPERATOR(pg_catalog.=) $1", None, &args)?;
            Ok::<_, pgrx::spi::SpiError>(versions)
        })
    })?;
    log_change(
        "delete_secret",
        &secret_ref,
        locked.tenant.as_deref(),
        json!({"name": locked.name, "versions": versions}),
    )?;
    Ok(())
}

fn role_name(role: pg_sys::Oid) -> Result<String, WardenError> {
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        if name.is_null() {
            return Err(WardenError::invalid(format!("role with OID {} does not exist", role.to_u32())));
        }
        Ok(std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned())
    }
}

/// `warden.grant_secret(secret_ref, role)`: lets a role read one secret.
#[pg_extern(volatile, parallel_unsafe)]
fn grant_secret(secret_ref: Uuid, role: RegRole) -> SqlResult<()> {
    change_grant(secret_ref, role.0, true)
}

/// `warden.revoke_secret(secret_ref, role)`: takes a role's read access back.
#[pg_extern(volatile, parallel_unsafe)]
fn revoke_secret(secret_ref: Uuid, role: RegRole) -> SqlResult<()> {
    change_grant(secret_ref, role.0, false)
}

fn change_grant(secret_ref: Uuid, role: pg_sys::Oid, grant: bool) -> SqlResult<()> {
    require_secret_admin(if grant { "grant secrets" } else { "revoke secrets" })?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.grant_secret()".as_ptr()) };
    let grantee = role_name(role)?;
    let locked = lock_secret(&secret_ref, None)?;
    let query = if grant {
        "INSERT INTO warden.secret_grant (secret_ref, grantee) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING grantee"
    } else {
        "DELETE FROM warden.secret_grant WHERE secret_ref OPERATOR(pg_catalog.=) $1 \
         AND grantee OPERATOR(pg_catalog.=) $2::pg_catalog.name RETURNING grantee"
    };
    let changed = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            Ok::<_, pgrx::spi::SpiError>(
                client.update(query, None, &[secret_ref.into(), grantee.as_str().into()])?.len(),
            )
        })
    })?;
    if changed > 0 {
        log_change(
            if grant { "grant_secret" } else { "revoke_secret" },
            &secret_ref,
            locked.tenant.as_deref(),
            json!({"name": locked.name, "role": grantee}),
        )?;
    }
    Ok(())
}

/// Whether `user` may read a secret granted to the roles `grantees`: it has the
/// privileges of one of them. A superuser needs a grant like anyone else (to itself or
/// a role it is a member of), so superuser reads are as visible in the ledger as any
/// other.
fn granted_to(user: pg_sys::Oid, grantees: &[pg_sys::Oid]) -> bool {
    let superuser = unsafe { pg_sys::superuser_arg(user) };
    grantees.iter().any(|&role| unsafe {
        if superuser {
            pg_sys::is_member_of_role_nosuper(user, role)
        } else {
            pg_sys::has_privs_of_role(user, role)
        }
    })
}

/// Reads a secret for the caller: checks, decrypts, records. Every way out is recorded.
fn read(lookup: Lookup<'_>) -> Result<Zeroizing<Vec<u8>>, WardenError> {
    record::flush();
    let user = unsafe { pg_sys::GetUserId() };
    let (asked_reference, asked_version) = match &lookup {
        Lookup::Reference(reference, version) => (*reference.as_bytes(), *version),
        Lookup::Name(..) => ([0u8; 16], None),
    };
    let refuse = |reference: [u8; 16], version: Option<i32>, outcome: Outcome, error: WardenError| {
        record::refused(Read { reference, version, outcome, user });
        error
    };
    // A standby cannot write the ledger, nor can any worker: refuse before reading.
    if unsafe { pg_sys::IsInParallelMode() } {
        return Err(WardenError::NotInState {
            message: "secrets cannot be read in parallel mode: every read is recorded in the audit ledger".into(),
            hint: "Call warden.get_secret outside functions marked PARALLEL SAFE.".into(),
        });
    }
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Err(WardenError::NotInState {
            message: "secrets cannot be read on a standby: every read is recorded in the audit ledger".into(),
            hint: "Read secrets on the primary.".into(),
        });
    }
    if unsafe { pg_sys::XactReadOnly } {
        record::refused(Read { reference: asked_reference, version: asked_version, outcome: Outcome::ReadOnly, user });
        unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.get_secret()".as_ptr()) };
    }
    if let Lookup::Name(name, tenant) = &lookup {
        check_name(name)?;
        check_tenant(*tenant)?;
    }
    let describe = || match &lookup {
        Lookup::Reference(reference, _) => uuid_text(reference),
        Lookup::Name(name, None) => format!("\"{name}\""),
        Lookup::Name(name, Some(tenant)) => format!("\"{name}\" of tenant \"{tenant}\""),
    };
    let Some(secret) = fetch(&lookup, |grantees| granted_to(user, grantees))? else {
        // Only those who may manage secrets learn that it does not exist.
        let error = if crate::privilege::is_secret_admin() {
            WardenError::UnknownSecret(describe())
        } else {
            WardenError::SecretNotGranted(describe())
        };
        return Err(refuse(asked_reference, asked_version, Outcome::NotFound, error));
    };
    let reference = *secret.reference.as_bytes();
    let version = Some(secret.version);
    let shown = uuid_text(&secret.reference);
    if !secret.granted {
        // Named as asked, as for no such secret: a name must not lead to its reference.
        return Err(refuse(reference, version, Outcome::NoGrant, WardenError::SecretNotGranted(describe())));
    }
    let Some(ciphertext) = secret.ciphertext else {
        let error = WardenError::UnknownSecret(format!("{shown} version {}", secret.version));
        return Err(refuse(reference, version, Outcome::NoVersion, error));
    };
    if let Some(expires_at) = secret.expires_at {
        if expires_at <= unsafe { pg_sys::GetCurrentTimestamp() } {
            let error = WardenError::SecretExpired {
                reference: shown,
                version: secret.version,
                expired_at: timestamp_text(expires_at),
            };
            return Err(refuse(reference, version, Outcome::Expired, error));
        }
    }
    let opened = (|| {
        let state = secret
            .state
            .as_ref()
            .ok_or_else(|| WardenError::Tampered(format!("secret {shown} (warden.vault_state is empty)")))?;
        let kek = kek_for(state)?;
        let tenant = secret.tenant.as_deref();
        let data_key = kek
            .unwrap(&secret.wrapped_key, &Aad::SecretKey { secret_ref: reference, tenant, name: &secret.name })
            .map_err(|_| WardenError::Tampered(format!("the data key of secret {shown}")))?;
        data_key
            .open(
                &ciphertext,
                &Aad::SecretValue { secret_ref: reference, tenant, name: &secret.name, version: secret.version },
            )
            .map_err(|_| WardenError::Tampered(format!("secret {shown} version {}", secret.version)))
    })();
    let value = match opened {
        Ok(value) => value,
        Err(error) => return Err(refuse(reference, version, Outcome::Failed, error)),
    };
    record::granted(Read { reference, version, outcome: Outcome::Granted, user }, secret.tenant.as_deref())?;
    Ok(value)
}

fn as_text(value: Zeroizing<Vec<u8>>, what: impl FnOnce() -> String) -> Result<String, WardenError> {
    match std::str::from_utf8(&value) {
        Ok(text) if !text.contains('\0') => Ok(text.to_owned()),
        _ => Err(WardenError::NotText(what())),
    }
}

/// `warden.get_secret(secret_ref, version)`: the active or given version, as text.
#[pg_extern(volatile, parallel_unsafe, name = "get_secret")]
fn get_secret(secret_ref: Option<Uuid>, version: default!(Option<i32>, "NULL")) -> SqlResult<Option<String>> {
    let reference = required(secret_ref.as_ref(), "secret_ref")?;
    let value = read(Lookup::Reference(*reference, version))?;
    Ok(Some(as_text(value, || uuid_text(reference))?))
}

/// `warden.get_secret(name, tenant)`: the active version of a named secret, as text.
#[pg_extern(volatile, parallel_unsafe, name = "get_secret")]
fn get_secret_by_name(name: Option<&str>, tenant: default!(Option<&str>, "NULL")) -> SqlResult<Option<String>> {
    let name = required(name, "secret name")?;
    let value = read(Lookup::Name(name, tenant))?;
    Ok(Some(as_text(value, || format!("\"{name}\""))?))
}

/// `warden.get_secret_bytes(secret_ref, version)`: the value as bytea.
#[pg_extern(volatile, parallel_unsafe)]
fn get_secret_bytes(secret_ref: Option<Uuid>, version: default!(Option<i32>, "NULL")) -> SqlResult<Option<Vec<u8>>> {
    let reference = required(secret_ref.as_ref(), "secret_ref")?;
    let value = read(Lookup::Reference(*reference, version))?;
    Ok(Some(value.to_vec()))
}

/// `warden.rewrap_vault()`: every data key under the current master key, plaintext
/// keyring keys sealed; one transaction, so a crash leaves everything as it was.
#[pg_extern(volatile, parallel_unsafe)]
fn rewrap_vault() -> SqlResult<JsonB> {
    require_admin("rewrap the vault")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.rewrap_vault()".as_ptr()) };
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        return Err(WardenError::NotSupported {
            message: "warden.rewrap_vault() must run in a READ COMMITTED transaction".into(),
            hint: "Its snapshot must include every secret committed before it locks the vault.".into(),
        }
        .into());
    }
    // No secret or key is wrapped or sealed while this runs (writers hold the state row
    // FOR SHARE); readers go on under the old state until this commits.
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "LOCK TABLE warden.vault_state, warden.secret, warden.key_store IN EXCLUSIVE MODE",
                None,
                &[],
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })?;
    let plan = super::rewrap_plan()?;
    let summary = super::rewrap(&plan)?;
    super::forget_kek();
    // Without an audit key the database keeps no ledger (no entry could be signed).
    // Sealing the keyring must not wait for one: ALTER EXTENSION UPDATE runs this in
    // every database, most of which never used the ledger.
    let audit_key = crate::gucs::audit_key_name();
    let ledger_kept = as_extension_owner(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT FROM warden.key_store WHERE name OPERATOR(pg_catalog.=) $1::pg_catalog.text)",
            &[audit_key.as_str().into()],
        )
    })?
    .unwrap_or(false);
    if ledger_kept {
        append_own(&OwnEvent {
            event_type: "vault_change",
            action: "rewrap_vault",
            resource_type: "vault",
            resource_id: None,
            tenant: None,
            actor: None,
            details: summary.clone(),
        })?;
    }
    Ok(JsonB(summary))
}

/// `warden.vault_status()`: what the vault holds and whether the master key fits.
#[pg_extern(volatile, parallel_unsafe)]
fn vault_status() -> SqlResult<JsonB> {
    let configured = super::master_key_configured();
    let state = super::read_state()?;
    let matches = match (&configured, &state) {
        (Ok(true), Some(state)) => Some(kek_for(state).is_ok()),
        _ => None,
    };
    let (secrets, versions, sealed, plaintext) = as_extension_owner(|| {
        Spi::connect(|client| {
            let rows = client.select(
                "SELECT (SELECT pg_catalog.count(*) FROM warden.secret), \
                        (SELECT pg_catalog.count(*) FROM warden.secret_version), \
                        (SELECT pg_catalog.count(*) FROM warden.key_store WHERE sealed IS NOT NULL), \
                        (SELECT pg_catalog.count(*) FROM warden.key_store WHERE secret IS NOT NULL)",
                Some(1),
                &[],
            )?;
            let row = rows.first();
            Ok::<_, pgrx::spi::SpiError>((
                row.get::<i64>(1)?.unwrap_or(0),
                row.get::<i64>(2)?.unwrap_or(0),
                row.get::<i64>(3)?.unwrap_or(0),
                row.get::<i64>(4)?.unwrap_or(0),
            ))
        })
    })?;
    Ok(JsonB(json!({
        "master_key_configured": configured.as_ref().ok().copied(),
        "master_key_problem": configured.err().map(|e| e.to_string()),
        "initialized": state.is_some(),
        "passphrase": state.as_ref().map(|s| s.kdf.is_some()),
        "master_key_matches": matches,
        "secrets": secrets,
        "secret_versions": versions,
        "keys_sealed": sealed,
        "keys_in_plaintext": plaintext,
    })))
}

extension_sql_file!(
    "../../sql/vault.sql",
    name = "vault",
    requires = [
        "keyring",
        "audit",
        create_secret,
        create_secret_bytes,
        rotate_secret,
        rotate_secret_bytes,
        retire_secret_version,
        delete_secret,
        get_secret,
        get_secret_by_name,
        get_secret_bytes,
        rewrap_vault,
        vault_status,
        grant_secret,
        revoke_secret
    ]
);
