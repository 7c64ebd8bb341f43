//! Erasure that keeps the ledger verifiable: `warden.redact_audit` and
//! `warden.erase_subject` set fields of version-2 entries to NULL, put each field's
//! commitment in place of its salt (so the entry's hash, chain and signature still
//! verify), and append a redaction record naming the entries and fields, never their
//! content. The encoding and the seals are `warden_core::ledger::redaction`.
//!
//! The one privileged write is a fixed UPDATE of `warden.audit_log`: column names come
//! from the ledger's own column list, values travel as parameters, and the append-only
//! guard lets it through only while [`chain::while_rewriting`] runs it.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use warden_core::ledger::{self, Column, EntryChecker, EntryRef, FieldSeals, FieldSet, REDACTABLE_COLUMNS};
use warden_core::mac::KeyedMac;

use super::chain::{self, EventArgs, Rewrite};
use crate::error::{SqlResult, WardenError};
use crate::privilege;

/// How the checker finds the audit key's versions.
type KeyLookup = fn(&str, i32) -> Option<KeyedMac>;
/// Checks each entry by itself before it is redacted, keys looked up once.
type Checker = EntryChecker<KeyLookup>;

/// Entries redacted under one redaction record.
const BATCH: usize = 1_000;

/// An entry a batch redacts: the fields this call erases and the seals it gets.
struct Target {
    id: i64,
    fields: FieldSet,
    seals: Vec<u8>,
}

/// Every redactable column, for a caller that names none.
fn all_redactable() -> FieldSet {
    FieldSet::of(&REDACTABLE_COLUMNS)
}

/// The columns `names` names; 22023 for a name that is not a redactable column.
fn field_set(names: &[Option<String>]) -> Result<FieldSet, WardenError> {
    let listed = || REDACTABLE_COLUMNS.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
    if names.is_empty() {
        return Err(WardenError::invalid_with_hint("no field to redact", format!("Name some of: {}.", listed())));
    }
    let mut set = FieldSet::EMPTY;
    for name in names {
        let Some(name) = name.as_deref() else {
            return Err(WardenError::invalid("a field to redact is NULL"));
        };
        match Column::content_named(name).filter(|c| c.redactable_slot().is_some()) {
            Some(column) => set = set.with(column),
            None => {
                return Err(WardenError::invalid_with_hint(
                    format!("\"{name}\" is not a redactable column of warden.audit_log"),
                    format!(
                        "Redactable: {}. What an auditor needs to read any entry (id, ts, event_type, action, \
                         resource_type, tenant, confidence, txid) and the chain material stay.",
                        listed()
                    ),
                ))
            }
        }
    }
    Ok(set)
}

/// A redaction's reason, required: the record says why content was erased.
fn required_reason(reason: Option<&str>) -> Result<&str, WardenError> {
    reason.filter(|r| !r.trim().is_empty()).ok_or_else(|| {
        WardenError::invalid_with_hint(
            "a redaction needs a reason",
            "The redaction record keeps it, such as the erasure request it answers.",
        )
    })
}

/// The checks every redaction makes before reading the ledger.
fn prepare(action: &'static str) -> Result<(), WardenError> {
    privilege::require_admin(action)?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"a redaction of the audit ledger".as_ptr()) };
    if !super::ledger_has_seals() {
        return Err(WardenError::NotInState {
            message: "warden.audit_log has no field_seals column: its entries cannot be redacted".into(),
            hint: "Run ALTER EXTENSION pg_warden UPDATE; entries written after it are redactable.".into(),
        });
    }
    // A transaction id (of the current subtransaction too) before the first read: the
    // rows are read FOR UPDATE, which a read-only SPI execution refuses.
    unsafe { pg_sys::GetCurrentTransactionId() };
    Ok(())
}

/// Who asks for a redaction, which decides what happens to what it cannot redact.
/// Redaction records and audit-control entries are never redacted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `redact_audit`: the fields named, of the entry named; a redaction record is
    /// refused (22023), a version-1 entry too (55000).
    Named,
    /// `erase_subject`, `apply_retention`: redaction records are left out, version-1
    /// entries left as they are and counted (a purge behind a checkpoint removes them).
    Many,
}

/// What planning one entry found.
enum Planned {
    Change(Target),
    /// Everything asked for is already redacted, or the entry is a redaction record.
    Unchanged,
    /// A version-1 entry, in [`Mode::Many`].
    Unsealed,
}

/// Works out what redacting `fields` changes in `entry` (see [`Mode`]). Refuses an
/// entry that does not verify on its own (XX001): sealing a changed value would destroy
/// the evidence.
fn plan_entry(
    checker: &mut Checker,
    entry: &EntryRef<'_>,
    seals: Option<&[u8]>,
    fields: FieldSet,
    mode: Mode,
) -> Result<Planned, WardenError> {
    let id = entry.content.id;
    // Redaction records account for every erasure, and audit-control entries for every
    // change to the audit itself (DDL capture's setting is read from one): neither is
    // redacted.
    let kept = match entry.content.event_type {
        Some(ledger::REDACTION_EVENT_TYPE) if seals.is_some() => Some("a redaction record"),
        Some("audit_control") => Some("an audit-control entry"),
        _ => None,
    };
    if let Some(what) = kept {
        if mode == Mode::Many {
            return Ok(Planned::Unchanged);
        }
        return Err(WardenError::invalid_with_hint(
            format!("audit entry id {id} is {what}, which is never redacted"),
            "Redaction records and audit-control entries account for every erasure and every change to auditing; they hold no captured content.",
        ));
    }
    let Some(seals) = seals else {
        if mode == Mode::Many {
            return Ok(Planned::Unsealed);
        }
        return Err(WardenError::NotInState {
            message: format!(
                "audit entry id {id} uses encoding version 1, which commits to its fields together: \
                 it cannot be redacted while its chain verifies"
            ),
            hint: "Entries written by pg_warden 0.3.0 and later are redactable; remove older ones with \
                   warden.purge_audit, or narrow what you redact."
                .into(),
        });
    };
    // Hash and signature, as verify_audit checks an entry by itself: anyone can recompute
    // a hash over rewritten content.
    let mut seals = match FieldSeals::parse(seals) {
        Some(parsed) if checker.issues(entry, Some(seals)).is_empty() => parsed,
        _ => {
            return Err(WardenError::LedgerCorrupt(format!(
            "audit entry id {id} does not verify on its own, so it is left as it is for warden.verify_audit to report"
        )))
        }
    };
    let mut content = entry.content;
    let redacted = seals.redact(&mut content, fields).map_err(|e| WardenError::invalid(e.to_string()))?;
    Ok(if redacted.is_empty() {
        Planned::Unchanged
    } else {
        Planned::Change(Target { id, fields: redacted, seals: seals.encode() })
    })
}

/// `UPDATE warden.audit_log`: the fields of each target in `$3` (a bit per column index)
/// set to NULL, its new seals from `$2`, matched by id from `$1`.
fn update_statement() -> String {
    let sets: Vec<String> = REDACTABLE_COLUMNS
        .iter()
        .map(|c| {
            format!(
                "{name} = CASE WHEN (u.mask OPERATOR(pg_catalog.&) {bit}) OPERATOR(pg_catalog.=) 0 THEN a.{name} END",
                name = c.name(),
                bit = 1u32 << c.index()
            )
        })
        .collect();
    format!(
        "UPDATE warden.audit_log a SET {}, field_seals = u.seals \
         FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.bytea[]), \
                         pg_catalog.unnest($3::pg_catalog.int4[])) AS u(id, seals, mask) \
         WHERE a.id OPERATOR(pg_catalog.=) u.id",
        sets.join(", ")
    )
}

/// Redacts `targets`, then appends the redaction record listing them (`resource_id`: the
/// one entry `redact_audit` names; NULL for `erase_subject`, whose match names a person
/// and is never recorded): as the extension
/// owner, the UPDATE under the guard's one exception. First the BRIN summaries of the
/// block ranges holding them are dropped: a bloom filter over `actor` would otherwise
/// still answer whether an erased actor was there (`VACUUM` summarizes the ranges again
/// from what is left).
fn apply(targets: &[Target], resource_id: Option<String>, reason: &str) -> Result<(), WardenError> {
    let ids: Vec<i64> = targets.iter().map(|t| t.id).collect();
    let seals: Vec<Vec<u8>> = targets.iter().map(|t| t.seals.clone()).collect();
    let masks: Vec<i32> = targets.iter().map(|t| t.fields.iter().map(|c| 1i32 << c.index()).sum()).collect();
    privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "SELECT pg_catalog.brin_desummarize_range(i.oid, b.block) \
                   FROM (SELECT pg_catalog.to_regclass('warden.audit_log_brin') AS oid) i, \
                        (SELECT DISTINCT ((ctid::pg_catalog.text::pg_catalog.point)[0])::pg_catalog.int8 AS block \
                           FROM warden.audit_log WHERE id OPERATOR(pg_catalog.=) ANY ($1)) b \
                  WHERE i.oid IS NOT NULL",
                None,
                &[ids.clone().into()],
            )?;
            chain::while_rewriting(Rewrite::Redact, || {
                client.update(&update_statement(), None, &[ids.into(), seals.into(), masks.into()]).map(|_| ())
            })
        })
    })?;
    let listed: Vec<(i64, FieldSet)> = targets.iter().map(|t| (t.id, t.fields)).collect();
    let details = warden_core::json::parse(&ledger::redaction_details(&listed)).map_err(WardenError::from)?;
    let text = |v: &str| v.into_datum();
    chain::append(&EventArgs {
        event_type: text(ledger::REDACTION_EVENT_TYPE),
        action: text("REDACT"),
        resource_type: text("audit_log"),
        resource_id: resource_id.and_then(|r| r.into_datum()),
        reason: text(reason),
        details: pgrx::JsonB(details).into_datum(),
        ..Default::default()
    })?;
    Ok(())
}

/// What a batch read: the entries to change, whether it read any entry at all, and the
/// version-1 entries [`Mode::Retention`] left alone.
struct Batch {
    targets: Vec<Target>,
    read: bool,
    unsealed: i64,
}

/// Reads the entries `filter` selects (a WHERE clause over `args`), at most `limit`,
/// by ascending id and locked, and plans their redaction.
fn plan_batch(
    filter: &str,
    args: Vec<DatumWithOid<'static>>,
    limit: usize,
    fields: FieldSet,
    mode: Mode,
) -> Result<Batch, WardenError> {
    let query = format!(
        "SELECT {} FROM warden.audit_log WHERE {filter} ORDER BY id LIMIT {limit} FOR UPDATE",
        super::sealed_select_list()
    );
    let mut checker = EntryChecker::new(super::verification_key as KeyLookup);
    let mut batch = Batch { targets: Vec::new(), read: false, unsealed: 0 };
    super::for_each_row(&query, args, |entry, seals| {
        batch.read = true;
        match plan_entry(&mut checker, entry, seals, fields, mode)? {
            Planned::Change(target) => batch.targets.push(target),
            Planned::Unchanged => {}
            Planned::Unsealed => batch.unsealed += 1,
        }
        Ok(())
    })?;
    Ok(batch)
}

/// What redacting a list of entries did: entries changed, version-1 entries left alone.
#[derive(Clone, Copy, Default)]
pub(super) struct Redacted {
    pub(super) entries: i64,
    pub(super) unsealed: i64,
}

/// Redacts `fields` of the entries `ids` (ascending) that `conditions` (over `extra()`,
/// from `$2` on) still select, in batches of [`BATCH`] under one redaction record each.
pub(super) fn redact_ids(
    ids: &[i64],
    conditions: &str,
    extra: &dyn Fn() -> Vec<DatumWithOid<'static>>,
    fields: FieldSet,
    mode: Mode,
    reason: &str,
) -> Result<Redacted, WardenError> {
    let filter = format!("id OPERATOR(pg_catalog.=) ANY ($1) AND {conditions}");
    let mut done = Redacted::default();
    for chunk in ids.chunks(BATCH) {
        let mut args: Vec<DatumWithOid<'static>> = vec![chunk.to_vec().into()];
        args.extend(extra());
        let batch = plan_batch(&filter, args, BATCH, fields, mode)?;
        done.unsealed += batch.unsealed;
        if !batch.targets.is_empty() {
            apply(&batch.targets, None, reason)?;
            done.entries += batch.targets.len() as i64;
        }
    }
    Ok(done)
}

#[pg_extern(volatile, parallel_unsafe)]
fn redact_audit(entry_id: Option<i64>, fields: Option<Vec<Option<String>>>, reason: Option<&str>) -> SqlResult<i32> {
    prepare("redact the audit ledger")?;
    let entry_id = entry_id.ok_or_else(|| WardenError::invalid("entry_id is NULL"))?;
    let fields = field_set(fields.as_deref().unwrap_or_default())?;
    let reason = required_reason(reason)?;
    let Batch { targets, read, .. } =
        plan_batch("id OPERATOR(pg_catalog.=) $1", vec![entry_id.into()], 1, fields, Mode::Named)?;
    if !read {
        return Err(WardenError::invalid(format!("audit entry id {entry_id} does not exist")).into());
    }
    let Some(target) = targets.first() else { return Ok(0) };
    let redacted = target.fields.iter().count() as i32;
    apply(&targets, Some(entry_id.to_string()), reason)?;
    Ok(redacted)
}

/// The keys of `erase_subject`'s `match` that compare a text column for equality.
const MATCH_COLUMNS: [Column; 9] = [
    Column::EventType,
    Column::Action,
    Column::Actor,
    Column::ResourceType,
    Column::ResourceId,
    Column::CorrelationId,
    Column::Tenant,
    Column::SessionUserName,
    Column::ApplicationName,
];

/// The keys of `match` that name a subject (a person, or the record of one): a match
/// needs at least one, or `contains`, so that it can never select whole kinds of events.
const SUBJECT_KEYS: [&str; 6] =
    ["actor", "resource_id", "correlation_id", "session_user_name", "application_name", "client_addr"];

/// `match` as a WHERE clause over `$2`, `$3`, … and their values. Every value is a
/// parameter; every name comes from the ledger's column list. Never echoes a value:
/// they identify the person being erased.
fn match_filter(document: &serde_json::Value) -> Result<(String, Vec<MatchValue>), WardenError> {
    let keys = || {
        let mut names: Vec<&str> = MATCH_COLUMNS.iter().map(|c| c.name()).collect();
        names.extend(["client_addr", "contains"]);
        names.join(", ")
    };
    let serde_json::Value::Object(object) = document else {
        return Err(WardenError::invalid_with_hint("match must be a JSON object", format!("Keys: {}.", keys())));
    };
    if object.is_empty() {
        return Err(WardenError::invalid_with_hint(
            "match is empty: it would erase every entry",
            format!("Name the subject with some of: {}.", keys()),
        ));
    }
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    for (key, value) in object {
        let n = args.len() + 2;
        if key == "contains" {
            if value.as_object().is_none_or(|o| o.is_empty()) {
                return Err(WardenError::invalid(
                    "match key \"contains\" must be a non-empty JSON object: an empty one is in every document",
                ));
            }
            conditions.push(format!(
                "(details OPERATOR(pg_catalog.@>) ${n} OR before_state OPERATOR(pg_catalog.@>) ${n} \
                  OR after_state OPERATOR(pg_catalog.@>) ${n})"
            ));
            args.push(MatchValue::Json(value.clone()));
            continue;
        }
        let Some(text) = value.as_str() else {
            return Err(WardenError::invalid(format!("match key \"{key}\" must be a JSON string")));
        };
        if key == "client_addr" {
            // Checked here, not by the cast: its error would quote the address.
            if text.parse::<std::net::IpAddr>().is_err() {
                return Err(WardenError::invalid("match key \"client_addr\" is not an IP address"));
            }
            conditions.push(format!("client_addr OPERATOR(pg_catalog.=) CAST(${n} AS pg_catalog.inet)"));
        } else if let Some(column) = MATCH_COLUMNS.iter().find(|c| c.name() == key) {
            conditions.push(format!("{} OPERATOR(pg_catalog.=) ${n}", column.name()));
        } else {
            return Err(WardenError::invalid_with_hint(
                format!("\"{key}\" is not a match key"),
                format!("Keys: {}.", keys()),
            ));
        }
        args.push(MatchValue::Text(text.to_owned()));
    }
    if !object.keys().any(|k| k == "contains" || SUBJECT_KEYS.contains(&k.as_str())) {
        return Err(WardenError::invalid_with_hint(
            "match names no subject",
            format!(
                "Name the person or their record with one of {}, or contains; event_type, action, resource_type and tenant only narrow it.",
                SUBJECT_KEYS.join(", ")
            ),
        ));
    }
    Ok((conditions.join(" AND "), args))
}

/// A value of `erase_subject`'s `match`, bound as a parameter.
enum MatchValue {
    Text(String),
    Json(serde_json::Value),
}

impl MatchValue {
    fn datum(&self) -> DatumWithOid<'static> {
        match self {
            MatchValue::Text(text) => text.clone().into(),
            MatchValue::Json(value) => pgrx::JsonB(value.clone()).into(),
        }
    }
}

/// `warden.erase_subject(match jsonb, reason text, fields text[] DEFAULT NULL)`, declared
/// in sql/audit.sql: `match` is a Rust keyword.
#[pg_extern(sql = false)]
fn erase_subject(
    subject: Option<pgrx::JsonB>,
    reason: Option<&str>,
    fields: Option<Vec<Option<String>>>,
) -> SqlResult<i64> {
    prepare("erase a subject from the audit ledger")?;
    let document = subject.map(|m| m.0).ok_or_else(|| WardenError::invalid("match is NULL"))?;
    let (conditions, match_args) = match_filter(&document)?;
    let reason = required_reason(reason)?;
    let fields = match fields {
        Some(names) => field_set(&names)?,
        None => all_redactable(),
    };
    // Entries written from here on (this call's own records among them) are not
    // candidates: a record that matched would otherwise be redacted by the next batch.
    let bound = super::ledger_scalar("SELECT pg_catalog.max(id) FROM warden.audit_log")?.unwrap_or(0);
    let with_match = |first: DatumWithOid<'static>| {
        let mut args = vec![first];
        args.extend(match_args.iter().map(MatchValue::datum));
        args
    };
    // One pass to find the entries (through whatever index serves the match), then each
    // batch of them read again by id, locked.
    let query =
        format!("SELECT id FROM warden.audit_log WHERE id OPERATOR(pg_catalog.<=) $1 AND {conditions} ORDER BY id");
    let ids = privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let mut ids = Vec::new();
            for row in client.select(&query, None, &with_match(bound.into()))? {
                ids.extend(row.get::<i64>(1)?);
            }
            Ok::<_, pgrx::spi::SpiError>(ids)
        })
    })?;
    let extra = || match_args.iter().map(MatchValue::datum).collect();
    let done = redact_ids(&ids, &conditions, &extra, fields, Mode::Many, reason)?;
    if done.unsealed > 0 {
        pgrx::ereport!(
            PgLogLevel::WARNING,
            PgSqlErrorCode::ERRCODE_WARNING,
            format!(
                "{} matching audit entries were written before pg_warden 0.3.0 (encoding version 1) and were left as they are",
                done.unsealed
            ),
            "They commit to their fields together, so they cannot be redacted while their chain verifies; remove them with warden.purge_audit."
        );
    }
    Ok(done.entries)
}
