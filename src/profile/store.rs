//! Stored profiles: `warden.save_profile`, `warden.drop_profile` and
//! `warden.apply_profile(text)`.
//!
//! `warden.profile_store` keeps every version of every profile saved, by the profile's
//! `name`: version 1, 2, … per name, the SHA-256 of the canonical form
//! (`warden_core::profile::store`), the document as saved, who saved it and when. Only
//! these functions write it, as the extension's owner, each write one fixed statement
//! over schema-qualified names with parameters as datums; everything about the profile
//! (its validation against the catalog, its hash) is worked out first with the caller's
//! rights. Saving, saving a new version and dropping are ledger events, recorded through
//! the ledger's one privileged write ([`append_own`]) in the same transaction.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde_json::json;
use warden_core::profile::store as core_store;

use super::{apply, check, Masked};
use crate::audit::chain::{append_own, OwnEvent};
use crate::datum::{parse_jsonb, parse_jsonb_text, Jsonb};
use crate::error::{SqlResult, WardenError};
use crate::privilege;

/// A stored profile's version, as the store holds it.
pub(super) struct Stored {
    pub(super) name: String,
    pub(super) version: i32,
    /// As stored: of the canonical form when it was saved.
    pub(super) sha256: String,
}

/// Records a change to the store in the ledger: `event_type` on profile `name`, with
/// `details` (version numbers and hashes, never the document).
fn log_change(event_type: &str, action: &str, name: &str, details: serde_json::Value) -> Result<(), WardenError> {
    append_own(&OwnEvent {
        event_type,
        action,
        resource_type: "profile",
        resource_id: Some(name),
        tenant: None,
        actor: None,
        details,
    })?;
    Ok(())
}

/// `warden.save_profile(profile)`: validates the profile as `warden.validate_profile`
/// does (22023 with every problem) and stores it under its name as the next version,
/// unless the latest version of that name has the same SHA-256: then nothing is stored
/// or recorded (a NOTICE says which version it is). Returns the name.
#[pg_extern(volatile, parallel_unsafe)]
fn save_profile(profile: Jsonb) -> SqlResult<String> {
    privilege::require_admin("save anonymization profiles")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.save_profile()".as_ptr()) };
    // Parsed with pg_warden's depth limit (54001 beyond it).
    let doc = parse_jsonb(&profile)?;
    let mut checked = check::check(&doc, false)?;
    checked.check_also(core_store::name_problem);
    let valid = checked.valid_profile()?;
    let name = valid.name.as_str();
    let sha256 = core_store::sha256_hex(valid);
    // The table lock orders concurrent saves of a name: each numbers after the last one
    // committed, which the next statement's snapshot sees. A REPEATABLE READ or
    // SERIALIZABLE snapshot may not see it: the INSERT's conflict is then PostgreSQL's
    // serialization failure (40001), or, where none is raised, ours.
    let saved = privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update("LOCK TABLE warden.profile_store IN SHARE ROW EXCLUSIVE MODE", None, &[])?;
            let mut latest = None;
            for row in client.select(
                "SELECT version, sha256 FROM warden.profile_store WHERE name OPERATOR(pg_catalog.=) $1 \
                 ORDER BY version DESC LIMIT 1",
                None,
                &[name.into()],
            )? {
                latest = Some((row.get::<i32>(1)?.unwrap_or(0), row.get::<String>(2)?.unwrap_or_default()));
            }
            if let Some((version, stored_sha256)) = &latest {
                if *stored_sha256 == sha256 {
                    return Ok(Err(Some(*version)));
                }
            }
            let version = latest.map_or(1, |(version, _)| version.saturating_add(1));
            let inserted = client.update(
                "INSERT INTO warden.profile_store (name, version, sha256, document) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING RETURNING version",
                None,
                &[name.into(), version.into(), sha256.as_str().into(), unsafe {
                    DatumWithOid::new(profile.datum(), pg_sys::JSONBOID)
                }],
            )?;
            Ok::<_, pgrx::spi::SpiError>(if inserted.is_empty() { Err(None) } else { Ok(version) })
        })
    })?;
    match saved {
        Ok(version) => log_change("profile_saved", "save_profile", name, json!({"version": version, "sha256": sha256}))?,
        Err(Some(version)) => pgrx::notice!(
            "pg_warden: profile \"{name}\" is unchanged: its latest version, {version}, has the same SHA-256; nothing was saved"
        ),
        Err(None) => {
            return Err(WardenError::ConcurrentChange(format!(
                "profile \"{name}\" was saved by a concurrent transaction"
            ))
            .into())
        }
    }
    Ok(name.to_owned())
}

/// `warden.drop_profile(name)`: removes every version of a stored profile and returns
/// how many; 42704 when there is none.
#[pg_extern(volatile, parallel_unsafe)]
fn drop_profile(name: &str) -> SqlResult<i32> {
    privilege::require_admin("drop anonymization profiles")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.drop_profile()".as_ptr()) };
    let removed = privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update("LOCK TABLE warden.profile_store IN SHARE ROW EXCLUSIVE MODE", None, &[])?;
            let mut removed = Vec::new();
            for row in client.update(
                "DELETE FROM warden.profile_store WHERE name OPERATOR(pg_catalog.=) $1 RETURNING version, sha256",
                None,
                &[name.into()],
            )? {
                removed.push((row.get::<i32>(1)?.unwrap_or(0), row.get::<String>(2)?.unwrap_or_default()));
            }
            Ok::<_, pgrx::spi::SpiError>(removed)
        })
    })?;
    let Some((version, sha256)) = removed.iter().max_by_key(|(version, _)| *version) else {
        return Err(WardenError::UnknownProfile(name.to_owned()).into());
    };
    let count = i32::try_from(removed.len()).unwrap_or(i32::MAX);
    log_change(
        "profile_dropped",
        "drop_profile",
        name,
        json!({"versions": count, "version": version, "sha256": sha256}),
    )?;
    Ok(count)
}

/// The latest version of the stored profile `name` and its document, share-locked so
/// that dropping it waits for this transaction; 42704 when there is none.
fn latest(name: &str) -> Result<(Stored, serde_json::Value), WardenError> {
    let found = privilege::as_extension_owner(|| {
        // Read-write SPI: a row lock is a write.
        Spi::connect_mut(|client| {
            let mut found = None;
            for row in client.update(
                "SELECT version, sha256, document::pg_catalog.text FROM warden.profile_store \
                  WHERE name OPERATOR(pg_catalog.=) $1 ORDER BY version DESC LIMIT 1 FOR SHARE",
                None,
                &[name.into()],
            )? {
                found = Some((
                    row.get::<i32>(1)?.unwrap_or(0),
                    row.get::<String>(2)?.unwrap_or_default(),
                    row.get::<String>(3)?.unwrap_or_default(),
                ));
            }
            Ok::<_, pgrx::spi::SpiError>(found)
        })
    })?;
    let (version, sha256, document) = found.ok_or_else(|| WardenError::UnknownProfile(name.to_owned()))?;
    let doc = warden_core::json::parse(&document)?;
    Ok((Stored { name: name.to_owned(), version, sha256 }, doc))
}

/// `warden.apply_profile(profile_name)`: applies the latest version of a stored profile,
/// and its ledger entry names the stored version (`stored_profile`: name, version,
/// SHA-256 as stored). Text that starts with `{` (after JSON white space) is a profile
/// document instead, read as the jsonb form reads its argument: an untyped literal
/// `apply_profile('{...}')` resolves to this form.
#[pg_extern(volatile, parallel_unsafe, name = "apply_profile")]
fn apply_stored_profile(
    profile_name: &str,
) -> Result<
    TableIterator<
        'static,
        (name!(table_name, String), name!(column_name, String), name!(strategy, String), name!(rows, i64)),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    privilege::require_admin("apply anonymization profiles")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.apply_profile()".as_ptr()) };
    let masked: Masked = if core_store::is_document(profile_name) {
        apply(&parse_jsonb_text(profile_name)?, None)?
    } else {
        let (stored, doc) = latest(profile_name)?;
        apply(&doc, Some(&stored))?
    };
    Ok(TableIterator::new(masked))
}
