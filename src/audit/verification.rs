//! `warden.verify_audit` in its forms, and the record of every verification in
//! `warden.audit_verification`.
//!
//! # Full and incremental
//!
//! A full verification reads every entry. An incremental one starts from a signed digest
//! (`warden.audit_digest()`, or the `through` digest a valid verification recorded): it
//! reads each chain from the digest's head on, checks that the head entry still holds
//! the hash the digest signed and verifies on its own, that everything after it links to
//! it, and verifies chains the digest does not know from their start. Its cost is the
//! entries written since, plus one index descent per chain.
//!
//! What lies before the heads is not read again. It was verified when the digest was
//! made (a recorded `through` exists only for a valid verification); an entry changed
//! or removed there afterwards, which takes a superuser bypassing the ledger's guards,
//! is found by the next full verification. Schedule both: incremental checks often,
//! a full one now and then.

use std::time::Instant;

use pgrx::prelude::*;
use pgrx::JsonB;
use warden_core::ledger::{Digest, Issue, IssueKind, Report, Verifier};

use super::{issues_json, load_checkpoints, now_micros, verification_key, verify_ledger, SigningKey};
use crate::error::WardenError;
use crate::privilege;

type VerifyRow = (bool, i64, i64, JsonB);

fn report_row(report: Report) -> TableIterator<'static, VerifyRow> {
    if report.redacted_entries > 0 {
        let listed: Vec<String> =
            report.redacted.iter().take(20).map(|r| format!("id {} ({})", r.entry_id, r.fields)).collect();
        let more = report.redacted.len().saturating_sub(listed.len());
        let detail = format!(
            "Redacted: {}{}.",
            listed.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        );
        pgrx::ereport!(
            PgLogLevel::NOTICE,
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            format!(
                "{} audit entries are valid and redacted: their erased fields are covered by redaction records",
                report.redacted_entries
            ),
            detail
        );
    }
    let row =
        (report.is_valid(), report.total_entries as i64, report.invalid_entries as i64, JsonB(issues_json(&report)));
    TableIterator::once(row)
}

/// `warden.verify_audit()`: every entry, every chain, and the heads the latest valid
/// verification recorded.
#[pg_extern(volatile, parallel_unsafe, name = "verify_audit")]
fn verify_audit() -> Result<
    TableIterator<
        'static,
        (name!(valid, bool), name!(total_entries, i64), name!(invalid_entries, i64), name!(issues, JsonB)),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    privilege::require_admin("verify the audit ledger")?;
    Ok(report_row(run(Mode::Full, None, false)?))
}

/// `warden.verify_audit(digest jsonb)`: incremental verification from a digest (of
/// `warden.audit_digest()`, or a recorded verification's `through`).
#[pg_extern(volatile, name = "verify_audit")]
fn verify_audit_digest(
    digest: crate::datum::Jsonb,
) -> Result<
    TableIterator<
        'static,
        (name!(valid, bool), name!(total_entries, i64), name!(invalid_entries, i64), name!(issues, JsonB)),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    privilege::require_admin("verify the audit ledger")?;
    let since = parse_digest(&digest)?;
    Ok(report_row(run(Mode::Incremental, Some(&since), false)?))
}

/// `warden.verify_audit(digest jsonb, full boolean)`. With a digest: `full` reads every
/// entry and checks the chains against the digest (nothing it covered removed or
/// rewritten: the 0.2.0 meaning of `verify_audit(digest)`); otherwise as
/// `verify_audit(digest)`. Without one (NULL): `full` is `verify_audit()`; otherwise an
/// incremental verification from the latest valid one recorded, or a full one when
/// there is none.
///
/// (A one-argument `verify_audit(full boolean)` would make the released call
/// `verify_audit('<digest text>')`, an untyped literal, ambiguous.)
#[pg_extern(volatile, parallel_unsafe, name = "verify_audit")]
fn verify_audit_digest_full(
    digest: Option<crate::datum::Jsonb>,
    full: Option<bool>,
) -> Result<
    TableIterator<
        'static,
        (name!(valid, bool), name!(total_entries, i64), name!(invalid_entries, i64), name!(issues, JsonB)),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    privilege::require_admin("verify the audit ledger")?;
    let full = full.unwrap_or(false);
    let report = match (digest, full) {
        (Some(digest), full) => {
            let since = parse_digest(&digest)?;
            run(if full { Mode::Full } else { Mode::Incremental }, Some(&since), false)?
        }
        (None, true) => run(Mode::Full, None, false)?,
        (None, false) => verify_from_latest()?,
    };
    Ok(report_row(report))
}

/// Incremental verification from the latest valid verification recorded (in full when
/// there is none), recorded like any: `verify_audit(NULL, false)`.
fn verify_from_latest() -> Result<Report, WardenError> {
    match latest_through()? {
        Some(since) => run(Mode::Incremental, Some(&since), true),
        None => run(Mode::Full, None, false),
    }
}

/// What `purge_audit` requires before it deletes, per chain, the positions up to `plan`'s
/// (chain, position): those entries read in full (what it removes is never taken on
/// trust: a checkpoint must not vouch for history changed since it was last verified),
/// then the rest incrementally from the latest valid verification (in full when there
/// is none). Cost: what it removes plus what was not verified yet.
pub(super) fn verify_before_purge(plan: &[(i32, i64, Vec<u8>)]) -> Result<Report, WardenError> {
    let Some(since) = latest_through()? else { return run(Mode::Full, None, false) };
    let checkpoints = load_checkpoints()?;
    let mut verifier = Verifier::new(&checkpoints, None, verification_key);
    // Chain after chain through the index, as verify_since reads: one query over all
    // chains would sort everything it read.
    let mut ranges: Vec<(i32, i64)> = plan.iter().map(|(chain, pos, _)| (*chain, *pos)).collect();
    ranges.sort_unstable();
    index_reads(|| {
        for (chain, pos) in ranges {
            super::for_each_entry(
                "chain_id OPERATOR(pg_catalog.=) $1 AND chain_pos OPERATOR(pg_catalog.<=) $2",
                vec![chain.into(), pos.into()],
                |entry, seals| {
                    verifier.push_sealed(entry, seals).map_err(|e| WardenError::LedgerCorrupt(e.to_string()))
                },
            )?;
        }
        Ok(())
    })?;
    super::note_redaction_records(&mut verifier)?;
    let purged = verifier.finish();
    if !purged.is_valid() {
        return Ok(purged);
    }
    run(Mode::Incremental, Some(&since), true)
}

/// Runs `f` with the ledger read the way verification needs it: through the (chain_id,
/// chain_pos) index, in order, and without JIT (`jit`, `enable_seqscan` and
/// `enable_bitmapscan` off; parallel workers start with these settings too).
///
/// - A chain's range of positions read by a bitmap heap scan must be sorted afterwards:
///   a segment of a parallel verification (tens of thousands of entries) then went
///   through an external sort and halved each participant's rate, and on a ledger 6
///   times `shared_buffers` read the heap four times over. The index returns the
///   entries in order, and a chain's entries lie in the heap in the same order.
/// - The per-chain queries read few rows through indexes, but the planner prices them
///   as a pass over the whole ledger, and compiling them would take ten times longer
///   than running them (0.5 s against 40 ms at 5 million entries).
pub(super) fn index_reads<T>(f: impl FnOnce() -> Result<T, WardenError>) -> Result<T, WardenError> {
    privilege::with_setting(c"jit", c"off", || {
        privilege::with_setting(c"enable_seqscan", c"off", || privilege::with_setting(c"enable_bitmapscan", c"off", f))
    })
}

fn parse_digest(digest: &crate::datum::Jsonb) -> Result<Digest, WardenError> {
    let text = crate::datum::jsonb_text(digest)?;
    Digest::parse(&text).map_err(|e| {
        WardenError::invalid_with_hint(
            format!("malformed audit digest: {e}"),
            "Pass a value returned by warden.audit_digest(), or a through of warden.audit_verification.",
        )
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Incremental,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// Verifies (in full, optionally against `digest`; or incrementally from it) and
/// records the outcome. The heads it verified through are recorded, as the next
/// incremental run's start, only when it was valid and read everything up to them: a full
/// run, or an incremental one from `latest` (`digest` is the latest recorded through).
/// A digest from `audit_digest()` signs heads nobody verified, so an incremental run from
/// one vouches only for what it read.
///
/// A full run given no digest checks the chains against the latest recorded `through`:
/// heads a valid verification reached must still be there, or be purged behind a
/// checkpoint, so entries removed from the end of a chain since are reported (and the
/// shorter heads never recorded as verified). A latest record that is no digest is
/// reported as one whose signature does not verify.
fn run(mode: Mode, digest: Option<&Digest>, latest: bool) -> Result<Report, WardenError> {
    let started_at = unsafe { pg_sys::GetCurrentTimestamp() };
    let clock = Instant::now();
    let recorded = if mode == Mode::Full { latest_recorded()? } else { Recorded::Nothing };
    let latest_heads = match &recorded {
        Recorded::Through(through) => Some(through.as_ref()),
        Recorded::Nothing | Recorded::Malformed => None,
    };
    let (mut report, workers) = match (mode, digest) {
        (Mode::Incremental, Some(since)) => (verify_since(since)?, 0),
        _ => index_reads(|| verify_ledger(digest.or(latest_heads)))?,
    };
    if digest.is_none() && matches!(recorded, Recorded::Malformed) {
        report
            .issues
            .insert(0, Issue { entry_id: None, chain_id: None, chain_pos: None, kind: IssueKind::DigestBadSignature });
    }
    // A full run given a digest is checked against that digest only: it vouches for the
    // heads it found only when no other verified heads were recorded, or the digest is
    // the latest record itself, so no chosen digest records a chain cut short.
    let vouches = match (mode, digest) {
        (Mode::Full, None) => true,
        (Mode::Full, Some(given)) => match &recorded {
            Recorded::Nothing => true,
            Recorded::Through(through) => through.as_ref() == given,
            Recorded::Malformed => false,
        },
        (Mode::Incremental, _) => latest,
    };
    record(mode, started_at, clock.elapsed().as_secs_f64(), &report, digest, vouches, workers)?;
    Ok(report)
}

/// Entries from the position before each head of `since` on, and every entry of chains
/// it does not know, chain after chain in (chain_id, chain_pos) order: the chains found by
/// a loose scan of the (chain_id, chain_pos) index, then one index range per chain. (One
/// query over all chains, a LATERAL join, needed a sort of everything it read: 420,000
/// entries/s against 1,130,000 for a full read, after 6 million new entries.)
fn verify_since(since: &Digest) -> Result<Report, WardenError> {
    let checkpoints = load_checkpoints()?;
    let mut verifier = Verifier::resume(&checkpoints, since, verification_key);
    let start = |chain: i32| {
        since.chains.iter().find(|c| c.chain_id == chain).map_or(1, |c| c.head_pos.saturating_sub(1).max(1))
    };
    index_reads(|| {
        for chain in super::chain_ids()? {
            super::for_each_entry(
                "chain_id OPERATOR(pg_catalog.=) $1 AND chain_pos OPERATOR(pg_catalog.>=) $2",
                vec![chain.into(), start(chain).into()],
                |entry, seals| {
                    verifier.push_sealed(entry, seals).map_err(|e| WardenError::LedgerCorrupt(e.to_string()))
                },
            )?;
        }
        Ok(())
    })?;
    super::note_redaction_records(&mut verifier)?;
    Ok(verifier.finish())
}

/// The latest valid verification's `through`, as recorded.
enum Recorded {
    /// No valid verification recorded one (or the table is not there yet).
    Nothing,
    Through(Box<Digest>),
    /// The record is not a digest: edited, or inserted by hand. Reported as a digest
    /// whose signature does not verify, never a reason to stop verifying.
    Malformed,
}

fn latest_recorded() -> Result<Recorded, WardenError> {
    if !super::warden_table_exists(c"audit_verification") {
        return Ok(Recorded::Nothing);
    }
    let text = privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let table = client.select(
                "SELECT through::pg_catalog.text FROM warden.audit_verification \
                  WHERE valid AND through IS NOT NULL ORDER BY id DESC LIMIT 1",
                Some(1),
                &[],
            )?;
            if table.is_empty() {
                return Ok(None);
            }
            table.first().get_one::<String>()
        })
    })?;
    Ok(match text.map(|text| Digest::parse(&text)) {
        None => Recorded::Nothing,
        Some(Ok(digest)) => Recorded::Through(Box::new(digest)),
        Some(Err(_)) => Recorded::Malformed,
    })
}

/// The `through` digest of the latest valid verification, if any (and readable).
fn latest_through() -> Result<Option<Digest>, WardenError> {
    Ok(match latest_recorded()? {
        Recorded::Through(digest) => Some(*digest),
        Recorded::Nothing | Recorded::Malformed => None,
    })
}

/// Records a verification, with (when it was valid) the signed heads it verified
/// through, from which the next incremental one starts. Nothing is recorded where
/// nothing can be written (a standby, a read-only transaction).
fn record(
    mode: Mode,
    started_at: pg_sys::TimestampTz,
    seconds: f64,
    report: &Report,
    digest: Option<&Digest>,
    vouches: bool,
    workers: i32,
) -> Result<(), WardenError> {
    if unsafe { pg_sys::RecoveryInProgress() || pg_sys::XactReadOnly }
        || !super::warden_table_exists(c"audit_verification")
    {
        return Ok(());
    }
    let through = if report.is_valid() && vouches { through(mode, report, digest)? } else { None };
    let args: Vec<pgrx::datum::DatumWithOid<'static>> = vec![
        super::timestamptz(started_at).into(),
        seconds.into(),
        mode.name().into(),
        report.is_valid().into(),
        (report.total_entries as i64).into(),
        (report.invalid_entries as i64).into(),
        through.map(pgrx::JsonB).into(),
        workers.into(),
        (report.redacted_entries as i64).into(),
    ];
    privilege::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client.update(
                "INSERT INTO warden.audit_verification \
                   (started_at, duration, mode, valid, entries_checked, invalid_entries, verified_by, through, \
                    workers, redacted_entries) \
                 VALUES ($1, $2 OPERATOR(pg_catalog.*) '1 second'::pg_catalog.interval, $3, $4, $5, $6, \
                         SESSION_USER, $7, $8, $9)",
                None,
                &args,
            )?;
            Ok::<_, pgrx::spi::SpiError>(())
        })
    })
}

/// The signed heads a valid verification reached; `None` without an audit key (a
/// ledger that was never written to, or whose key is gone).
fn through(mode: Mode, report: &Report, digest: Option<&Digest>) -> Result<Option<serde_json::Value>, WardenError> {
    let Ok(key) = SigningKey::active() else { return Ok(None) };
    let mut heads = report.digest_heads();
    // A chain of the digest whose entries were all purged keeps its head.
    if let (Mode::Incremental, Some(since)) = (mode, digest) {
        for head in &since.chains {
            if !heads.iter().any(|h| h.chain_id == head.chain_id) {
                heads.push(*head);
            }
        }
        heads.sort_by_key(|h| h.chain_id);
    }
    // Informational: the entries the ledger held, as far as this verification knows.
    let total = match (mode, digest) {
        (Mode::Incremental, Some(since)) => {
            since.total_entries + report.total_entries.saturating_sub(since.chains.len() as u64)
        }
        _ => report.total_entries,
    };
    let digest = Digest::new_signed(now_micros(), heads, total, &key.name, key.version, &key.mac)
        .map_err(|e| WardenError::LedgerCorrupt(e.to_string()))?;
    Ok(Some(warden_core::json::parse(&digest.to_json()).map_err(WardenError::from)?))
}
