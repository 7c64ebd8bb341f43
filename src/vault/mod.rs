//! The vault: secrets encrypted under a master key that lives only in the server's
//! environment, and the keyring's material sealed under the same key.
//!
//! The envelope (master key → key-encryption key → per-secret data keys → values), the
//! associated data and the passphrase KDF are `warden_core::vault`; this module finds the
//! master key in the environment, checks it against `warden.vault_state`, and keeps the
//! derived key-encryption key for the backend's life. [`secrets`] holds the SQL
//! functions, [`record`] the ledger record of every read.
//!
//! # The master key
//!
//! `WARDEN_MASTER_KEY` (32 bytes as `hex:…` or `base64:…`) or `WARDEN_MASTER_PASSPHRASE`
//! (stretched with the Argon2id parameters stored in `warden.vault_state.kdf`), never
//! both. After a change the old one is `WARDEN_MASTER_KEY_PREVIOUS` /
//! `WARDEN_MASTER_PASSPHRASE_PREVIOUS`, read only by `warden.rewrap_vault()`. The stored
//! check value tells a wrong master key (55000) from a damaged ciphertext (XX001).

mod lookup;
pub(crate) mod record;
mod secrets;

use std::cell::RefCell;
use std::rc::Rc;

use pgrx::prelude::*;
use warden_core::vault::{Aad, DataKey, KdfParams, Kek, MasterKey, VaultError};
use zeroize::Zeroizing;

use crate::error::WardenError;
use crate::privilege::as_extension_owner;

const KEY_VAR: &str = "WARDEN_MASTER_KEY";
const PASSPHRASE_VAR: &str = "WARDEN_MASTER_PASSPHRASE";
const PREVIOUS_KEY_VAR: &str = "WARDEN_MASTER_KEY_PREVIOUS";
const PREVIOUS_PASSPHRASE_VAR: &str = "WARDEN_MASTER_PASSPHRASE_PREVIOUS";

const SET_KEY_HINT: &str = "Start the server with WARDEN_MASTER_KEY set to 32 bytes as 'hex:' followed by 64 hex \
     digits or 'base64:' followed by their base64 (e.g. WARDEN_MASTER_KEY=hex:$(openssl rand -hex 32) in the \
     environment pg_ctl or systemd starts PostgreSQL with), or WARDEN_MASTER_PASSPHRASE to a passphrase.";

/// A master key as the environment gives it.
enum Source {
    Key { variable: &'static str, text: Zeroizing<String> },
    Passphrase { variable: &'static str, passphrase: Zeroizing<Vec<u8>> },
}

impl Source {
    /// The master key of this source under the vault's stored KDF parameters (a
    /// passphrase), or `fresh` ones when there are none yet. Returns the parameters used.
    fn master(&self, stored: Option<&str>, fresh: bool) -> Result<(MasterKey, Option<String>), WardenError> {
        match self {
            Source::Key { variable, text } => Ok((MasterKey::parse(variable, text).map_err(vault_error)?, None)),
            Source::Passphrase { variable, passphrase } => {
                let params = match (stored, fresh) {
                    (Some(text), false) => KdfParams::decode(text).map_err(vault_error)?,
                    (None, false) => {
                        return Err(WardenError::KeyUnavailable {
                            message: format!(
                                "{variable} is set, but the vault is sealed under a raw master key (WARDEN_MASTER_KEY)"
                            ),
                            hint: "Start the server with the WARDEN_MASTER_KEY the vault was sealed with; to move to a \
                                   passphrase, keep that key in WARDEN_MASTER_KEY_PREVIOUS and run warden.rewrap_vault()."
                                .into(),
                        })
                    }
                    (_, true) => KdfParams::recommended().map_err(vault_error)?,
                };
                let key = MasterKey::from_passphrase(variable, passphrase, &params).map_err(vault_error)?;
                Ok((key, Some(params.encode())))
            }
        }
    }
}

/// The master key the environment holds under `key_var` or `passphrase_var`, if any.
fn source(key_var: &'static str, passphrase_var: &'static str) -> Result<Option<Source>, WardenError> {
    let key = std::env::var_os(key_var).filter(|v| !v.is_empty());
    let passphrase = std::env::var_os(passphrase_var).filter(|v| !v.is_empty());
    match (key, passphrase) {
        (Some(_), Some(_)) => Err(WardenError::KeyUnavailable {
            message: format!("both {key_var} and {passphrase_var} are set"),
            hint: "Set one of them in the server's environment, not both, and restart the server.".into(),
        }),
        (Some(text), None) => {
            let text = Zeroizing::new(text.into_string().map_err(|_| WardenError::KeyUnavailable {
                message: format!("{key_var} is not valid text"),
                hint: SET_KEY_HINT.into(),
            })?);
            // Parsed now, so a malformed key is reported as such whatever the call.
            MasterKey::parse(key_var, &text).map_err(vault_error)?;
            Ok(Some(Source::Key { variable: key_var, text }))
        }
        (None, Some(passphrase)) => Ok(Some(Source::Passphrase {
            variable: passphrase_var,
            passphrase: Zeroizing::new(passphrase.into_encoded_bytes()),
        })),
        (None, None) => Ok(None),
    }
}

fn current_source() -> Result<Source, WardenError> {
    source(KEY_VAR, PASSPHRASE_VAR)?.ok_or_else(|| WardenError::KeyUnavailable {
        message: "no vault master key is configured".into(),
        hint: SET_KEY_HINT.into(),
    })
}

/// The vault's core errors as pg_warden's: master-key problems are the server's state
/// (55000), a failed decryption is damage (XX001, the caller names the object).
pub(crate) fn vault_error(error: VaultError) -> WardenError {
    match error {
        VaultError::Tampered => WardenError::Tampered("a vault ciphertext".into()),
        VaultError::WrongMasterKey => wrong_master_key(),
        other => WardenError::KeyUnavailable { message: other.to_string(), hint: SET_KEY_HINT.into() },
    }
}

fn wrong_master_key() -> WardenError {
    WardenError::KeyUnavailable {
        message: "the vault master key the server was started with is not the one the vault is sealed with".into(),
        hint: "Start the server with the master key the vault was sealed with. After changing it, keep the old one in \
               WARDEN_MASTER_KEY_PREVIOUS (or WARDEN_MASTER_PASSPHRASE_PREVIOUS) and run SELECT warden.rewrap_vault();"
            .into(),
    }
}

/// `warden.vault_state`: the check value of the master key the data keys are wrapped
/// under, and the passphrase's KDF parameters.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) check_value: Vec<u8>,
    pub(crate) kdf: Option<String>,
}

impl State {
    pub(crate) fn from_row(check_value: Option<Vec<u8>>, kdf: Option<String>) -> Option<State> {
        check_value.map(|check_value| State { check_value, kdf })
    }
}

thread_local! {
    /// The key-encryption key of the current master key and the state it matched.
    static KEK: RefCell<Option<(State, Rc<Kek>)>> = const { RefCell::new(None) };
}

/// Reads `warden.vault_state` (as the extension owner); `None` before the vault is used.
pub(crate) fn read_state() -> Result<Option<State>, WardenError> {
    let (check, kdf) = as_extension_owner(|| {
        Spi::connect(|client| {
            let rows = client.select("SELECT check_value, kdf FROM warden.vault_state", Some(1), &[])?;
            if rows.is_empty() {
                return Ok::<_, pgrx::spi::SpiError>((None, None));
            }
            rows.first().get_two::<Vec<u8>, String>()
        })
    })?;
    Ok(State::from_row(check, kdf))
}

/// The key-encryption key of the master key the server was started with, checked
/// against `state` (a wrong key is 55000); derived once per backend and state.
pub(crate) fn kek_for(state: &State) -> Result<Rc<Kek>, WardenError> {
    if let Some(kek) = KEK.with(|k| k.borrow().as_ref().filter(|(s, _)| s == state).map(|(_, kek)| Rc::clone(kek))) {
        return Ok(kek);
    }
    let (master, _) = current_source()?.master(state.kdf.as_deref(), false)?;
    let kek = Kek::derive(&master);
    if !kek.matches(&state.check_value) {
        return Err(wrong_master_key());
    }
    let kek = Rc::new(kek);
    KEK.with(|k| *k.borrow_mut() = Some((state.clone(), Rc::clone(&kek))));
    Ok(kek)
}

/// The key-encryption key for a new ciphertext, with the vault's state row locked FOR
/// SHARE until the transaction ends, so that `rewrap_vault` (which locks the state
/// table EXCLUSIVE) never misses what this transaction wraps. The state is created with
/// the current master key on first use (with a fresh Argon2id salt for a passphrase).
/// In REPEATABLE READ a rewrap committed since the snapshot is a serialization failure.
pub(crate) fn kek_for_writing() -> Result<Rc<Kek>, WardenError> {
    let locked = || {
        as_extension_owner(|| {
            Spi::connect_mut(|client| {
                let rows = client.update("SELECT check_value, kdf FROM warden.vault_state FOR SHARE", Some(1), &[])?;
                if rows.is_empty() {
                    return Ok::<_, pgrx::spi::SpiError>(None);
                }
                let (check, kdf) = rows.first().get_two::<Vec<u8>, String>()?;
                Ok(State::from_row(check, kdf))
            })
        })
    };
    if let Some(state) = locked()? {
        return kek_for(&state);
    }
    let (master, kdf) = current_source()?.master(None, true)?;
    let kek = Kek::derive(&master);
    let check_value = kek.check_value().to_vec();
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "INSERT INTO warden.vault_state (check_value, kdf) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                None,
                &[check_value.into(), kdf.into()],
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })?;
    // A concurrent first use may have won: use whatever the table now says.
    let state = locked()?.ok_or_else(|| WardenError::Internal("warden.vault_state is empty after INSERT".into()))?;
    kek_for(&state)
}

/// Whether this database's pg_warden has the vault's tables: not before
/// `ALTER EXTENSION pg_warden UPDATE` from 0.2.0, while the new library already runs
/// against the old objects (the keyring then works as it did in 0.2.0).
pub(crate) fn installed() -> bool {
    unsafe {
        let namespace = pg_sys::get_namespace_oid(c"warden".as_ptr(), true);
        namespace != pg_sys::InvalidOid
            && pg_sys::get_relname_relid(c"vault_state".as_ptr(), namespace) != pg_sys::InvalidOid
    }
}

/// Whether a master key is configured at all (for the keyring: without one, new keys
/// are stored as before, in plaintext).
pub(crate) fn master_key_configured() -> Result<bool, WardenError> {
    Ok(source(KEY_VAR, PASSPHRASE_VAR)?.is_some())
}

/// Seals a keyring key version's material: a fresh data key wrapped under `kek`, the
/// material sealed under the data key, both bound to (name, version).
pub(crate) fn seal_key_material(
    kek: &Kek,
    name: &str,
    version: i32,
    material: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), WardenError> {
    let data_key = DataKey::generate().map_err(vault_error)?;
    let wrapped = kek.wrap(&data_key, &Aad::KeyringKey { name, version }).map_err(vault_error)?;
    let sealed = data_key.seal(material, &Aad::KeyringMaterial { name, version }).map_err(vault_error)?;
    Ok((wrapped, sealed))
}

/// Opens a sealed keyring key version with the current master key; `state` was read in
/// the same query as the row, so a rewrap committing meanwhile cannot mix the two.
pub(crate) fn open_key_material(
    state: Option<&State>,
    name: &str,
    version: i32,
    wrapped: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, WardenError> {
    let state = state.ok_or_else(|| {
        WardenError::Tampered(format!("sealed key \"{name}\" version {version} (warden.vault_state is empty)"))
    })?;
    let kek = kek_for(state)?;
    let tampered = |_| WardenError::Tampered(format!("sealed key \"{name}\" version {version}"));
    let data_key = kek.unwrap(wrapped, &Aad::KeyringKey { name, version }).map_err(tampered)?;
    data_key.open(sealed, &Aad::KeyringMaterial { name, version }).map_err(tampered)
}

/// The master keys `warden.rewrap_vault()` moves between.
pub(crate) struct Rewrap {
    /// Unwraps what is stored now (`None`: nothing is wrapped yet).
    pub(crate) from: Option<Kek>,
    /// Wraps from now on, with the state that describes it.
    pub(crate) to: Rc<Kek>,
    pub(crate) to_state: State,
    /// The master key changed.
    pub(crate) changed: bool,
}

/// Works out what `rewrap_vault` must do: the current master key must be configured;
/// if the vault is sealed under another one, the previous variables must hold it.
pub(crate) fn rewrap_plan() -> Result<Rewrap, WardenError> {
    let current = current_source()?;
    let Some(state) = read_state()? else {
        let (master, kdf) = current.master(None, true)?;
        let kek = Kek::derive(&master);
        let to_state = State { check_value: kek.check_value().to_vec(), kdf };
        return Ok(Rewrap { from: None, to: Rc::new(kek), to_state, changed: false });
    };
    // The current key under the stored parameters: nothing changed.
    if let Ok(kek) = kek_for(&state) {
        return Ok(Rewrap { from: None, to: kek, to_state: state, changed: false });
    }
    let previous = source(PREVIOUS_KEY_VAR, PREVIOUS_PASSPHRASE_VAR)?.ok_or_else(|| WardenError::KeyUnavailable {
        message: "the vault is sealed under another master key, and no previous master key is configured".into(),
        hint: "Start the server with the old master key in WARDEN_MASTER_KEY_PREVIOUS (or \
               WARDEN_MASTER_PASSPHRASE_PREVIOUS) beside the new one, then run warden.rewrap_vault() again."
            .into(),
    })?;
    let (old_master, _) = previous.master(state.kdf.as_deref(), false)?;
    let old = Kek::derive(&old_master);
    if !old.matches(&state.check_value) {
        return Err(WardenError::KeyUnavailable {
            message: "neither the master key nor the previous master key is the one the vault is sealed with".into(),
            hint: "Set WARDEN_MASTER_KEY_PREVIOUS (or WARDEN_MASTER_PASSPHRASE_PREVIOUS) to the master key the vault \
                   was sealed with; nothing was changed."
                .into(),
        });
    }
    let (new_master, kdf) = current.master(None, true)?;
    let new = Kek::derive(&new_master);
    let to_state = State { check_value: new.check_value().to_vec(), kdf };
    Ok(Rewrap { from: Some(old), to: Rc::new(new), to_state, changed: true })
}

/// Forgets the cached key-encryption key (after a rewrap changed the state).
pub(crate) fn forget_kek() {
    KEK.with(|k| k.borrow_mut().take());
}

/// One row of `warden.key_store`, as `rewrap` reads and rewrites it.
struct KeyRow {
    name: String,
    version: i32,
    secret: Option<Vec<u8>>,
    env_var: Option<String>,
    check_value: String,
    created_at: pgrx::datum::TimestampWithTimeZone,
    created_by: String,
    wrapped_key: Option<Vec<u8>>,
    sealed: Option<Vec<u8>>,
}

/// How many data keys one UPDATE of [`rewrap`] writes.
const REWRAP_BATCH: usize = 5000;

/// Rewraps every data key under `plan.to` and seals every plaintext keyring key, then
/// records the new state. The caller holds the vault's tables locked.
///
/// Plaintext keys are sealed by rewriting `warden.key_store` (TRUNCATE, then INSERT):
/// an UPDATE would leave the old row versions, plaintext included, on their pages, and
/// the next change to such a page after a checkpoint would copy it whole into the WAL.
/// TRUNCATE gives the table a new file, so no page that held plaintext is written again.
pub(crate) fn rewrap(plan: &Rewrap) -> Result<serde_json::Value, WardenError> {
    let (secrets, keys) = as_extension_owner(|| {
        Spi::connect(|client| {
            let mut secrets = Vec::new();
            for row in client.select("SELECT secret_ref, tenant, name, wrapped_key FROM warden.secret", None, &[])? {
                secrets.push((
                    row.get::<pgrx::datum::Uuid>(1)?.expect("primary key"),
                    row.get::<String>(2)?,
                    row.get::<String>(3)?.unwrap_or_default(),
                    row.get::<Vec<u8>>(4)?.unwrap_or_default(),
                ));
            }
            let mut keys = Vec::new();
            for row in client.select(
                "SELECT name, version, secret, env_var, check_value, created_at, created_by::pg_catalog.text, \
                        wrapped_key, sealed FROM warden.key_store ORDER BY name, version",
                None,
                &[],
            )? {
                keys.push(KeyRow {
                    name: row.get::<String>(1)?.unwrap_or_default(),
                    version: row.get::<i32>(2)?.unwrap_or(0),
                    secret: row.get::<Vec<u8>>(3)?,
                    env_var: row.get::<String>(4)?,
                    check_value: row.get::<String>(5)?.unwrap_or_default(),
                    created_at: row.get::<pgrx::datum::TimestampWithTimeZone>(6)?.expect("NOT NULL"),
                    created_by: row.get::<String>(7)?.unwrap_or_default(),
                    wrapped_key: row.get::<Vec<u8>>(8)?,
                    sealed: row.get::<Vec<u8>>(9)?,
                });
            }
            Ok::<_, pgrx::spi::SpiError>((secrets, keys))
        })
    })?;

    let mut secret_updates = Vec::new();
    if let Some(from) = &plan.from {
        for (reference, tenant, name, wrapped) in &secrets {
            let aad = Aad::SecretKey { secret_ref: *reference.as_bytes(), tenant: tenant.as_deref(), name };
            let data_key = from
                .unwrap(wrapped, &aad)
                .map_err(|_| WardenError::Tampered(format!("the data key of secret {reference}")))?;
            secret_updates.push((*reference, plan.to.wrap(&data_key, &aad).map_err(vault_error)?));
        }
    }

    let mut keys_sealed = 0;
    let mut keys_rewrapped = 0;
    let mut rewritten = Vec::with_capacity(keys.len());
    for mut key in keys {
        let aad = Aad::KeyringKey { name: &key.name, version: key.version };
        if let Some(material) = key.secret.take() {
            let material = Zeroizing::new(material);
            let (wrapped, sealed) = seal_key_material(&plan.to, &key.name, key.version, &material)?;
            key.wrapped_key = Some(wrapped);
            key.sealed = Some(sealed);
            keys_sealed += 1;
        } else if let (Some(from), Some(wrapped)) = (&plan.from, &key.wrapped_key) {
            let data_key = from
                .unwrap(wrapped, &aad)
                .map_err(|_| WardenError::Tampered(format!("sealed key \"{}\" version {}", key.name, key.version)))?;
            key.wrapped_key = Some(plan.to.wrap(&data_key, &aad).map_err(vault_error)?);
            keys_rewrapped += 1;
        }
        rewritten.push(key);
    }

    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            // In batches, one UPDATE each: a statement per secret planned and ran the
            // same UPDATE 100,000 times.
            for batch in secret_updates.chunks(REWRAP_BATCH) {
                let references: Vec<pgrx::datum::Uuid> = batch.iter().map(|(reference, _)| *reference).collect();
                let wrapped: Vec<Vec<u8>> = batch.iter().map(|(_, wrapped)| wrapped.clone()).collect();
                client.update(
                    "UPDATE warden.secret s SET wrapped_key = u.wrapped_key \
                       FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.uuid[]), pg_catalog.unnest($2::pg_catalog.bytea[])) \
                            AS u(secret_ref, wrapped_key) \
                      WHERE s.secret_ref OPERATOR(pg_catalog.=) u.secret_ref",
                    None,
                    &[references.into(), wrapped.into()],
                )?;
            }
            if keys_sealed > 0 {
                client.update("TRUNCATE warden.key_store", None, &[])?;
                for key in &rewritten {
                    client.update(
                        "INSERT INTO warden.key_store (name, version, secret, env_var, check_value, created_at, \
                         created_by, wrapped_key, sealed) VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8)",
                        None,
                        &[
                            key.name.as_str().into(),
                            key.version.into(),
                            key.env_var.clone().into(),
                            key.check_value.as_str().into(),
                            key.created_at.into(),
                            key.created_by.as_str().into(),
                            key.wrapped_key.clone().into(),
                            key.sealed.clone().into(),
                        ],
                    )?;
                }
            } else if keys_rewrapped > 0 {
                for key in rewritten.iter().filter(|k| k.wrapped_key.is_some()) {
                    client.update(
                        "UPDATE warden.key_store SET wrapped_key = $3 WHERE name OPERATOR(pg_catalog.=) $1 \
                         AND version OPERATOR(pg_catalog.=) $2",
                        None,
                        &[key.name.as_str().into(), key.version.into(), key.wrapped_key.clone().into()],
                    )?;
                }
            }
            client.update(
                "INSERT INTO warden.vault_state (check_value, kdf) VALUES ($1, $2) \
                 ON CONFLICT (singleton) DO UPDATE SET check_value = excluded.check_value, kdf = excluded.kdf, \
                 rewrapped_at = CASE WHEN warden.vault_state.check_value OPERATOR(pg_catalog.=) excluded.check_value \
                                     THEN warden.vault_state.rewrapped_at ELSE pg_catalog.now() END",
                None,
                &[plan.to_state.check_value.clone().into(), plan.to_state.kdf.clone().into()],
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })?;
    Ok(serde_json::json!({
        "master_key_changed": plan.changed,
        "secrets_rewrapped": secret_updates.len(),
        "keys_rewrapped": keys_rewrapped,
        "keys_sealed": keys_sealed,
    }))
}
