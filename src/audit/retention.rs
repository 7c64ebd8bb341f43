//! Retention per tenant: `warden.set_retention` keeps a policy per tenant (and one for
//! entries without a tenant) in `warden.audit_retention`; `warden.apply_retention` removes
//! what is due chain by chain behind signed checkpoints and redacts what is due but sits
//! behind an entry that is not (another tenant's, interleaved on the same chain), so the
//! rest verifies.
//!
//! # What a run reads
//!
//! - Per chain, from its first remaining entry on, the entries that are due, up to the
//!   first that is not: what it removes, plus one entry per chain.
//! - Per policy, through the `ts` index, the entries of its tenant written between the
//!   cutoff of the previous run (`applied_through`) and this run's: what became due since.
//! - What [`super::purge_plan`] verifies: what it removes, and the rest from the latest
//!   valid verification on.
//!
//! Never the whole ledger: a daily run costs one day's share of each tenant plus what was
//! not verified yet.

use pgrx::prelude::*;
use serde_json::json;
use warden_core::ledger::{FieldSet, REDACTABLE_COLUMNS};

use super::chain::{self, EventArgs};
use super::redaction::{self, Mode};
use crate::error::{SqlResult, WardenError};
use crate::privilege;

/// Entries a chain walk reads at a time, at most.
const WALK_BATCH: i64 = 10_000;

/// Whether entry `a` is due: its tenant's policy `r`, applied at `pg_catalog.now()`.
const DUE: &str =
    "(r.keep IS NOT NULL AND a.ts OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) r.keep))";
/// Whether entry `a` is the `audit_control` entry DDL capture reads its setting from (the
/// latest of `warden.audit_ddl_changes`): it stays, due or not, or capture would switch
/// itself off.
const PINNED: &str =
    "(a.id OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(c.entry_id) FROM warden.audit_ddl_changes c))";
/// Whether entry `a` is a redaction record (as pg_warden writes them) of an entry still
/// held: it stays, due or not, for verification to accept that entry's redaction.
const VOUCHES: &str = "(a.event_type OPERATOR(pg_catalog.=) 'audit_redaction' AND a.field_seals IS NOT NULL \
      AND a.action OPERATOR(pg_catalog.=) 'REDACT' AND EXISTS ( \
        SELECT 1 FROM pg_catalog.jsonb_array_elements(a.details OPERATOR(pg_catalog.->) 'redacted') e \
          JOIN warden.audit_log t \
            ON t.id OPERATOR(pg_catalog.=) (e OPERATOR(pg_catalog.->>) 'id')::pg_catalog.int8))";
/// The policy row `r` of the tenant of entry `a` (NULL: the policy for entries without one).
const POLICY_OF: &str = "(r.tenant OPERATOR(pg_catalog.=) a.tenant OR (r.tenant IS NULL AND a.tenant IS NULL))";

/// Serializes `set_retention` and `apply_retention`: a run applies the policies as they
/// were when it started and records their cutoffs, never a policy set meanwhile.
fn lock_policies(client: &mut pgrx::spi::SpiClient<'_>) -> Result<(), pgrx::spi::SpiError> {
    client.update("LOCK TABLE warden.audit_retention IN SHARE ROW EXCLUSIVE MODE", None, &[])?;
    Ok(())
}

#[pg_extern(volatile, parallel_unsafe)]
fn set_retention(tenant: Option<&str>, keep: Option<pgrx::datum::Interval>) -> SqlResult<()> {
    privilege::require_admin("set audit retention")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.set_retention()".as_ptr()) };
    if tenant.is_some_and(|t| t.is_empty()) {
        return Err(WardenError::invalid_with_hint(
            "tenant must not be empty",
            "Pass NULL for the policy of entries without a tenant.",
        )
        .into());
    }
    let keep_text = match keep {
        Some(keep) => {
            // now() - keep, as apply_retention computes its cutoff, must not lie ahead
            // ('1 mon -30 days' passes a sign check) and must be a time at all.
            // Beyond 5,000 years now() - keep leaves the range of timestamptz.
            let (too_long, ahead) = Spi::connect(|client| {
                let row = client
                    .select(
                        "SELECT $1 OPERATOR(pg_catalog.>) pg_catalog.interval '5000 years', \
                                $1 OPERATOR(pg_catalog.<=) pg_catalog.interval '5000 years' \
                                AND (pg_catalog.now() OPERATOR(pg_catalog.-) $1) OPERATOR(pg_catalog.>) pg_catalog.now()",
                        Some(1),
                        &[keep.into()],
                    )?
                    .first();
                Ok::<_, pgrx::spi::SpiError>((row.get::<bool>(1)?, row.get::<bool>(2)?))
            })
            .map_err(WardenError::from)?;
            if too_long != Some(false) {
                return Err(WardenError::invalid("keep must not exceed 5000 years").into());
            }
            if ahead != Some(false) {
                return Err(WardenError::invalid("keep must not be negative: now() - keep lies ahead").into());
            }
            Some(keep.to_string())
        }
        None => None,
    };
    let previous = privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            lock_policies(client)?;
            let previous = client
                .update(
                    "DELETE FROM warden.audit_retention r WHERE r.tenant OPERATOR(pg_catalog.=) $1 \
                        OR (r.tenant IS NULL AND $1 IS NULL) RETURNING keep::pg_catalog.text",
                    None,
                    &[tenant.into()],
                )?
                .first()
                .get_one::<String>()
                .ok()
                .flatten();
            if keep.is_some() {
                client.update(
                    "INSERT INTO warden.audit_retention (tenant, keep, set_at, set_by) \
                     VALUES ($1, $2, pg_catalog.now(), SESSION_USER)",
                    None,
                    &[tenant.into(), keep.into()],
                )?;
            }
            Ok::<_, pgrx::spi::SpiError>(previous)
        })
    })?;
    let text = |v: &str| v.into_datum();
    chain::append(&EventArgs {
        event_type: text("audit_control"),
        action: text(if keep.is_some() { "SET_RETENTION" } else { "DROP_RETENTION" }),
        resource_type: text("audit_retention"),
        resource_id: tenant.and_then(|t| t.into_datum()),
        details: pgrx::JsonB(json!({"tenant": tenant, "keep": keep_text, "previous": previous})).into_datum(),
        ..Default::default()
    })?;
    Ok(())
}

/// Per chain, the last entry of its due prefix (chain, position, entry_hash): walks
/// each chain from its first remaining entry until one is not due, or is a redaction
/// record of an entry that stays.
fn due_prefixes() -> Result<Vec<(i32, i64, Vec<u8>)>, WardenError> {
    let query = format!(
        "SELECT a.chain_pos, a.entry_hash, {DUE} AND NOT {VOUCHES} AND NOT {PINNED} FROM warden.audit_log a \
           LEFT JOIN warden.audit_retention r ON {POLICY_OF} \
          WHERE a.chain_id OPERATOR(pg_catalog.=) $1 AND a.chain_pos OPERATOR(pg_catalog.>) $2 \
          ORDER BY a.chain_pos LIMIT $3"
    );
    let mut plan = Vec::new();
    for chain_id in super::chain_ids()? {
        let mut last: Option<(i64, Vec<u8>)> = None;
        let mut after = 0i64;
        // Few rows first: most chains start with an entry that is not due.
        let mut batch = 16i64;
        'walk: loop {
            let rows = privilege::as_extension_owner(|| {
                Spi::connect(|client| {
                    let mut rows = Vec::new();
                    for row in client.select(&query, None, &[chain_id.into(), after.into(), batch.into()])? {
                        rows.push((row.get::<i64>(1)?, row.get::<Vec<u8>>(2)?, row.get::<bool>(3)?));
                    }
                    Ok::<_, pgrx::spi::SpiError>(rows)
                })
            })?;
            let read = rows.len() as i64;
            for (pos, hash, due) in rows {
                let (Some(pos), Some(hash), Some(true)) = (pos, hash, due) else { break 'walk };
                after = pos;
                last = Some((pos, hash));
            }
            if read < batch {
                break;
            }
            batch = (batch * 4).min(WALK_BATCH);
        }
        if let Some((pos, hash)) = last {
            plan.push((chain_id, pos, hash));
        }
    }
    Ok(plan)
}

/// Ids of the entries due since each policy was last applied (ascending): through the
/// `ts` index, per policy, between its `applied_through` and its cutoff now.
fn newly_due() -> Result<Vec<i64>, WardenError> {
    let query = format!(
        "SELECT a.id FROM warden.audit_retention r CROSS JOIN LATERAL ( \
           SELECT a.id FROM warden.audit_log a \
            WHERE a.ts OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) r.keep) \
              AND a.ts OPERATOR(pg_catalog.>=) COALESCE(r.applied_through, '-infinity'::pg_catalog.timestamptz) \
              AND {POLICY_OF}) a \
         ORDER BY a.id"
    );
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let mut ids = Vec::new();
            for row in client.select(&query, None, &[])? {
                ids.extend(row.get::<i64>(1)?);
            }
            Ok::<_, pgrx::spi::SpiError>(ids)
        })
    })
}

#[pg_extern(volatile, parallel_unsafe)]
fn apply_retention() -> SqlResult<pgrx::JsonB> {
    privilege::require_admin("apply audit retention")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.apply_retention()".as_ptr()) };
    unsafe { pg_sys::GetCurrentTransactionId() };
    privilege::as_extension_owner(|| Spi::connect_mut(lock_policies))?;
    // 1. What is due at the start of each chain goes, behind signed checkpoints.
    let plan = due_prefixes()?;
    let super::Purged { deleted, chains, created_at } = super::purge_plan(plan, "apply retention")?;
    // 2. What is due behind an entry that is not (another tenant's) is redacted: every
    //    redactable field, under redaction records.
    let ids = newly_due()?;
    let conditions = "true";
    let none = Vec::new;
    let redacted = if ids.is_empty() || !super::ledger_has_seals() {
        redaction::Redacted { entries: 0, unsealed: ids.len() as i64 }
    } else {
        redaction::redact_ids(
            &ids,
            conditions,
            &none,
            FieldSet::of(&REDACTABLE_COLUMNS),
            Mode::Many,
            "retention: due under warden.audit_retention (warden.apply_retention)",
        )?
    };
    // 3. Each policy now holds through its cutoff; the run is an entry of its own.
    let policies = privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "UPDATE warden.audit_retention SET applied_through = pg_catalog.now() OPERATOR(pg_catalog.-) keep",
                None,
                &[],
            )?;
            let mut policies = Vec::new();
            for row in client.select(
                "SELECT tenant, keep::pg_catalog.text, applied_through::pg_catalog.text FROM warden.audit_retention ORDER BY tenant NULLS FIRST",
                None,
                &[],
            )? {
                policies.push(json!({
                    "tenant": row.get::<String>(1)?,
                    "keep": row.get::<String>(2)?,
                    "cutoff": row.get::<String>(3)?,
                }));
            }
            Ok::<_, pgrx::spi::SpiError>(policies)
        })
    })?;
    let summary = json!({
        "applied_at": warden_core::ledger::timestamp_to_iso(created_at),
        "deleted": deleted,
        "redacted": redacted.entries,
        "version_1_kept": redacted.unsealed,
        "chains": chains,
        "policies": policies,
    });
    let text = |v: &str| v.into_datum();
    chain::append(&EventArgs {
        event_type: text("audit_retention"),
        action: text("APPLY"),
        resource_type: text("audit_log"),
        details: pgrx::JsonB(summary.clone()).into_datum(),
        ..Default::default()
    })?;
    Ok(pgrx::JsonB(summary))
}
