//! The tamper-evident audit ledger: verification, digests, exports and retention over
//! `warden.audit_log`. Writing (`warden.log_event`, chain leases, the chain trigger, the
//! append-only guard) is in [`chain`]; the encoding and chain math are `warden_core::ledger`, shared with
//! the offline verifier `warden-verify`.

mod capture;
pub(crate) mod chain;
pub(crate) mod ddl;
pub(crate) mod guard;
mod import;
#[cfg(not(feature = "pg13"))]
pub(crate) mod indexes;
mod parallel;
mod redaction;
mod retention;
pub(crate) mod starts;
mod tree;
mod verification;

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;
use warden_core::ledger::{
    self, ChainMaterial, Checkpoint, Column, Digest, DigestChain, EntryContent, EntryRef, ExportWriter, LedgerError,
    Report, Verifier,
};
use warden_core::mac::KeyedMac;

use crate::error::{SqlResult, WardenError};
use crate::{keyring, privilege};

/// A key version's secret for the verifier: only the audit key's (`warden.audit_key`)
/// versions verify entries, checkpoints and digests. `None` for any other key, so a
/// ledger row signed with a key a key officer made up reports as such instead of
/// verifying.
fn verification_key(name: &str, version: i32) -> Option<KeyedMac> {
    if name != crate::gucs::audit_key_name() {
        return None;
    }
    keyring::with_key(name, |key| key.version(version).map(|v| v.mac.clone())).ok().flatten()
}

/// One ledger row as the executor produced it from [`sealed_select_list`] (or
/// [`ledger::select_list`]): column `i` is [`ledger::COLUMNS`]`[i]`, then `field_seals`
/// when selected, every column already deformed.
struct SelectedRow<'a> {
    values: &'a [pg_sys::Datum],
    nulls: &'a [bool],
}

impl SelectedRow<'_> {
    fn datum(&self, column: Column) -> Option<pg_sys::Datum> {
        let col = column.index();
        (!self.nulls[col]).then(|| self.values[col])
    }

    fn int8(&self, column: Column) -> Option<i64> {
        self.datum(column).map(|d| d.value() as i64)
    }

    fn int4(&self, column: Column) -> Option<i32> {
        self.datum(column).map(|d| d.value() as i32)
    }

    fn bytes(&self, column: Column) -> Option<&[u8]> {
        self.datum(column).map(|d| unsafe { crate::datum::varlena_bytes(d) })
    }

    fn text(&self, column: Column) -> Option<&str> {
        // Text PostgreSQL stored is valid in the (UTF-8) database encoding; bytes that are
        // not are treated as absent, which makes the entry's hash mismatch.
        self.bytes(column).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The `field_seals` column after [`ledger::COLUMNS`], `None` when SQL NULL (a
    /// version-1 entry) or not selected.
    fn seals(&self) -> Option<&[u8]> {
        let col = ledger::COLUMNS.len();
        (col < self.values.len() && !self.nulls[col]).then(|| unsafe { crate::datum::varlena_bytes(self.values[col]) })
    }

    fn entry(&self) -> EntryRef<'_> {
        EntryRef {
            content: EntryContent {
                id: self.int8(Column::Id).unwrap_or(0),
                ts: self.int8(Column::Ts),
                event_type: self.text(Column::EventType),
                action: self.text(Column::Action),
                actor: self.text(Column::Actor),
                resource_type: self.text(Column::ResourceType),
                resource_id: self.text(Column::ResourceId),
                correlation_id: self.text(Column::CorrelationId),
                tenant: self.text(Column::Tenant),
                reason: self.text(Column::Reason),
                confidence: self.text(Column::Confidence),
                details: self.text(Column::Details),
                before_state: self.text(Column::BeforeState),
                after_state: self.text(Column::AfterState),
                session_user_name: self.text(Column::SessionUserName),
                application_name: self.text(Column::ApplicationName),
                client_addr: self.text(Column::ClientAddr),
                txid: self.int8(Column::Txid),
            },
            chain: ChainMaterial {
                chain_id: self.int4(Column::ChainId),
                chain_pos: self.int8(Column::ChainPos),
                prev_hash: self.bytes(Column::PrevHash),
                entry_hash: self.bytes(Column::EntryHash),
                key_name: self.text(Column::KeyName),
                key_version: self.int4(Column::KeyVersion),
                signature: self.bytes(Column::Signature),
            },
        }
    }
}

/// A recursive CTE `chains(chain_id)` listing every chain of the ledger by a loose scan of
/// the (chain_id, chain_pos) index: one descent per chain (its last row is NULL).
macro_rules! chains_cte {
    () => {
        "WITH RECURSIVE chains(chain_id) AS ( \
            SELECT pg_catalog.min(chain_id) FROM warden.audit_log \
            UNION ALL \
            SELECT (SELECT pg_catalog.min(a.chain_id) FROM warden.audit_log a \
                     WHERE a.chain_id OPERATOR(pg_catalog.>) c.chain_id) \
              FROM chains c WHERE c.chain_id IS NOT NULL) "
    };
}
use chains_cte;

/// Every chain of the ledger, ascending, by [`chains_cte`]'s loose scan.
fn chain_ids() -> Result<Vec<i32>, WardenError> {
    const CHAINS: &str =
        concat!(chains_cte!(), "SELECT chain_id FROM chains WHERE chain_id IS NOT NULL ORDER BY chain_id");
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let mut chains = Vec::new();
            for row in client.select(CHAINS, None, &[])? {
                chains.extend(row.get::<i32>(1)?);
            }
            Ok::<_, pgrx::spi::SpiError>(chains)
        })
    })
}

/// A visitor of ledger entries: each entry with its `field_seals` column (`None` for a
/// version-1 entry).
type VisitEntry<'v> = dyn FnMut(&EntryRef<'_>, Option<&[u8]>) -> Result<(), WardenError> + 'v;

/// [`ledger::select_list`] and then `field_seals`, or a NULL in its place in a ledger
/// 0.2.0 created (until `ALTER EXTENSION pg_warden UPDATE` adds the column).
fn sealed_select_list() -> String {
    let seals = if ledger_has_seals() { ledger::FIELD_SEALS_COLUMN } else { "NULL::pg_catalog.bytea" };
    format!("{}, {seals}", ledger::select_list())
}

/// [`ledger::FIELD_SEALS_COLUMN`] as a C string.
const FIELD_SEALS_C: &std::ffi::CStr = c"field_seals";
const _: () = assert!(FIELD_SEALS_C.to_bytes().len() == ledger::FIELD_SEALS_COLUMN.len());

/// Whether `warden.audit_log` has the `field_seals` column (0.3.0 and later).
fn ledger_has_seals() -> bool {
    warden_relation(c"audit_log").is_some_and(|table| unsafe { pg_sys::get_attnum(table, FIELD_SEALS_C.as_ptr()) } != 0)
}

/// Streams ledger entries matching `filter` (a WHERE clause over `$1`, `$2`) in
/// (chain_id, chain_pos) order to `visit`. Runs with the extension owner's privileges.
fn for_each_entry(
    filter: &str,
    args: Vec<pgrx::datum::DatumWithOid<'static>>,
    visit: impl FnMut(&EntryRef<'_>, Option<&[u8]>) -> Result<(), WardenError>,
) -> Result<(), WardenError> {
    let query = format!(
        "SELECT {} FROM warden.audit_log WHERE {filter} \
         ORDER BY chain_id, chain_pos",
        sealed_select_list()
    );
    for_each_row(&query, args, visit)
}

/// Streams the rows of `query`, which selects [`sealed_select_list`], to `visit`, with
/// the extension owner's privileges.
fn for_each_row(
    query: &str,
    args: Vec<pgrx::datum::DatumWithOid<'static>>,
    mut visit: impl FnMut(&EntryRef<'_>, Option<&[u8]>) -> Result<(), WardenError>,
) -> Result<(), WardenError> {
    privilege::as_extension_owner(|| stream_rows(query, &args, &mut visit))
}

/// Runs `query` and hands every row to `visit` as the executor produces it: a
/// DestReceiver instead of an SPI tuple table, so rows are neither copied nor
/// materialized (copying them was a third of verification's time).
#[cfg(not(feature = "pg13"))]
fn stream_rows(
    query: &str,
    args: &[pgrx::datum::DatumWithOid<'static>],
    visit: &mut VisitEntry<'_>,
) -> Result<(), WardenError> {
    let query = std::ffi::CString::new(query).map_err(|_| WardenError::Internal("query contains NUL".into()))?;
    let row_context = pgrx::PgMemoryContexts::new("pg_warden ledger row");
    // SAFETY: the receiver lives on this stack frame for the whole execution, and the
    // executor only calls it during SPI_execute_extended below.
    let visit: &mut VisitEntry<'static> = unsafe { std::mem::transmute(visit) };
    let mut receiver = EntryReceiver {
        base: pg_sys::DestReceiver {
            receiveSlot: Some(receive_entry),
            rStartup: Some(receiver_noop_startup),
            rShutdown: Some(receiver_noop),
            rDestroy: Some(receiver_noop),
            mydest: pg_sys::CommandDest::DestNone,
        },
        visit,
        row_context: row_context.value(),
        error: None,
    };
    Spi::connect(|_client| unsafe {
        let params = pg_sys::makeParamList(args.len() as i32);
        (*params).numParams = args.len() as i32;
        for (slot, arg) in (*params).params.as_mut_slice(args.len()).iter_mut().zip(args) {
            let datum = arg.datum().map(|d| d.sans_lifetime());
            *slot = pg_sys::ParamExternData {
                value: datum.unwrap_or(pg_sys::Datum::from(0)),
                isnull: datum.is_none(),
                pflags: pg_sys::PARAM_FLAG_CONST as u16,
                ptype: arg.oid(),
            };
        }
        let options = pg_sys::SPIExecuteOptions {
            params,
            // As pgrx's own SPI calls: read-only (the statement's snapshot) until the
            // transaction has written, so a verification after a write sees the write.
            read_only: pg_sys::GetCurrentTransactionIdIfAny() == pg_sys::InvalidTransactionId,
            dest: std::ptr::addr_of_mut!(receiver).cast(),
            ..Default::default()
        };
        let rc = pg_sys::SPI_execute_extended(query.as_ptr(), &options);
        if rc < 0 {
            return Err(WardenError::Internal(format!("reading the ledger failed (SPI code {rc})")));
        }
        Ok(())
    })?;
    drop(row_context);
    match receiver.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `DestReceiver` handing each row to a visitor; `base` must come first (the executor
/// sees a `DestReceiver *`).
#[cfg(not(feature = "pg13"))]
#[repr(C)]
struct EntryReceiver {
    base: pg_sys::DestReceiver,
    visit: &'static mut VisitEntry<'static>,
    /// Reset after every row: detoasted copies of large values do not pile up.
    row_context: pg_sys::MemoryContext,
    error: Option<WardenError>,
}

#[cfg(not(feature = "pg13"))]
#[pg_guard]
unsafe extern "C-unwind" fn receive_entry(slot: *mut pg_sys::TupleTableSlot, dest: *mut pg_sys::DestReceiver) -> bool {
    unsafe {
        let receiver = &mut *dest.cast::<EntryReceiver>();
        pg_sys::slot_getallattrs(slot);
        let natts = (*(*slot).tts_tupleDescriptor).natts as usize;
        let row = SelectedRow {
            values: std::slice::from_raw_parts((*slot).tts_values, natts),
            nulls: std::slice::from_raw_parts((*slot).tts_isnull, natts),
        };
        let previous = pg_sys::MemoryContextSwitchTo(receiver.row_context);
        let result = (receiver.visit)(&row.entry(), row.seals());
        pg_sys::MemoryContextSwitchTo(previous);
        pg_sys::MemoryContextReset(receiver.row_context);
        match result {
            Ok(()) => true,
            Err(e) => {
                // Returning false stops the executor; the error is raised after SPI returns.
                receiver.error = Some(e);
                false
            }
        }
    }
}

// The no-op callbacks cannot fail, so they need no #[pg_guard].
#[cfg(not(feature = "pg13"))]
unsafe extern "C-unwind" fn receiver_noop_startup(_: *mut pg_sys::DestReceiver, _: i32, _: pg_sys::TupleDesc) {}

#[cfg(not(feature = "pg13"))]
unsafe extern "C-unwind" fn receiver_noop(_: *mut pg_sys::DestReceiver) {}

/// PostgreSQL 13 has no `SPI_execute_extended`: fetch through a cursor in batches.
#[cfg(feature = "pg13")]
fn stream_rows(
    query: &str,
    args: &[pgrx::datum::DatumWithOid<'static>],
    visit: &mut VisitEntry<'_>,
) -> Result<(), WardenError> {
    const BATCH: i64 = 1_000;
    Spi::connect(|client| {
        let mut cursor = client.open_cursor(query, args);
        loop {
            let table = cursor.fetch(BATCH)?;
            if table.is_empty() {
                return Ok(());
            }
            let (tuples, tupdesc) = unsafe {
                let tt = pg_sys::SPI_tuptable;
                (std::slice::from_raw_parts((*tt).vals, pg_sys::SPI_processed as usize), (*tt).tupdesc)
            };
            let natts = unsafe { (*tupdesc).natts } as usize;
            let (mut values, mut nulls) = (vec![pg_sys::Datum::from(0); natts], vec![true; natts]);
            for &tuple in tuples {
                unsafe { pg_sys::heap_deform_tuple(tuple, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr()) };
                let row = SelectedRow { values: &values, nulls: &nulls };
                visit(&row.entry(), row.seals())?;
            }
            drop(table);
        }
    })
}

fn load_checkpoints() -> Result<Vec<Checkpoint>, WardenError> {
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let table = client.select(
                "SELECT chain_id, chain_pos, entry_hash, \
                   ((EXTRACT(epoch FROM created_at) OPERATOR(pg_catalog.-) 946684800) \
                     OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8, \
                   key_name, key_version, signature \
                 FROM warden.audit_checkpoint ORDER BY chain_id, chain_pos",
                None,
                &[],
            )?;
            let mut checkpoints = Vec::new();
            for row in table {
                let hash = |v: Option<Vec<u8>>| v.and_then(|v| <[u8; 32]>::try_from(v).ok()).unwrap_or([0; 32]);
                let created_at = row.get::<i64>(4)?.unwrap_or(0);
                checkpoints.push(Checkpoint {
                    chain_id: row.get::<i32>(1)?.unwrap_or(0),
                    chain_pos: row.get::<i64>(2)?.unwrap_or(0),
                    entry_hash: hash(row.get::<Vec<u8>>(3)?),
                    created_at,
                    key_name: row.get::<String>(5)?.unwrap_or_default(),
                    key_version: row.get::<i32>(6)?.unwrap_or(0),
                    signature: hash(row.get::<Vec<u8>>(7)?),
                });
            }
            Ok::<_, pgrx::spi::SpiError>(checkpoints)
        })
    })
}

/// Verifies the whole ledger, optionally against a digest: in parallel where
/// [`parallel::verify`] applies, serially otherwise. Returns the report and the parallel
/// workers that took part.
fn verify_ledger(digest: Option<&Digest>) -> Result<(Report, i32), WardenError> {
    let checkpoints = load_checkpoints()?;
    let parallel = parallel::verify(&checkpoints, digest)?;
    let mut report = match parallel.report {
        Some(report) => report,
        None => {
            let mut verifier = Verifier::new(&checkpoints, digest, verification_key);
            for_each_entry("true", Vec::new(), |entry, seals| {
                verifier.push_sealed(entry, seals).map_err(|e| WardenError::LedgerCorrupt(e.to_string()))
            })?;
            verifier.finish()
        }
    };
    report.apply_high_water(last_issued_id()?, checkpoints.len() as u64);
    Ok((report, parallel.workers))
}

/// Counts every redaction record for a verifier that reads only part of the ledger (a
/// resumed verification, the entries a purge removes): records outside what it reads
/// vouch for the redacted entries it reads. Through the partial index on them, so the
/// cost is the number of redactions, never the ledger's size.
fn note_redaction_records<F>(verifier: &mut Verifier<'_, F>) -> Result<(), WardenError>
where
    F: FnMut(&str, i32) -> Option<KeyedMac>,
{
    if !ledger_has_seals() {
        return Ok(());
    }
    let query = format!(
        "SELECT {} FROM warden.audit_log WHERE event_type OPERATOR(pg_catalog.=) '{}' ORDER BY id",
        sealed_select_list(),
        ledger::REDACTION_EVENT_TYPE
    );
    for_each_row(&query, Vec::new(), |record, seals| {
        verifier.note_redaction_record(record, seals);
        Ok(())
    })
}

/// The last id the ledger's identity sequence issued (`None` before its first use).
fn last_issued_id() -> Result<Option<i64>, WardenError> {
    ledger_scalar(
        "SELECT pg_catalog.pg_sequence_last_value(pg_catalog.pg_get_serial_sequence('warden.audit_log', 'id')::pg_catalog.regclass)",
    )
}

/// One value of a read-only query over the ledger, read as the extension owner. A
/// read-only SPI select: `Spi::get_one` would ask for a transaction id, which a standby
/// refuses (XX000) and a primary would spend on a read.
fn ledger_scalar(query: &str) -> Result<Option<i64>, WardenError> {
    privilege::as_extension_owner(|| {
        Spi::connect(|client| client.select(query, Some(1), &[])?.first().get_one::<i64>())
    })
}

fn issues_json(report: &Report) -> serde_json::Value {
    serde_json::Value::Array(
        report
            .issues
            .iter()
            .map(|issue| {
                json!({
                    "entry_id": issue.entry_id,
                    "chain_id": issue.chain_id,
                    "chain_pos": issue.chain_pos,
                    "reason": issue.kind.to_string(),
                })
            })
            .collect(),
    )
}

/// Whether `warden.<name>` exists: tables 0.3.0 added are absent until
/// `ALTER EXTENSION pg_warden UPDATE` runs, and the library serves the older objects
/// meanwhile.
fn warden_table_exists(name: &std::ffi::CStr) -> bool {
    warden_relation(name).is_some()
}

/// The oid of relation `warden.<name>`, if it exists.
fn warden_relation(name: &std::ffi::CStr) -> Option<pg_sys::Oid> {
    unsafe {
        let namespace = pg_sys::get_namespace_oid(c"warden".as_ptr(), true);
        if namespace == pg_sys::InvalidOid {
            return None;
        }
        let relation = pg_sys::get_relname_relid(name.as_ptr(), namespace);
        (relation != pg_sys::InvalidOid).then_some(relation)
    }
}

/// A timestamptz from PostgreSQL's own representation (microseconds since 2000-01-01 UTC).
fn timestamptz(micros: i64) -> Option<pgrx::datum::TimestampWithTimeZone> {
    unsafe { pgrx::datum::TimestampWithTimeZone::from_datum(pg_sys::Datum::from(micros), false) }
}

fn now_micros() -> i64 {
    unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
}

/// The audit key's (`warden.audit_key`) active version, which signs entries,
/// checkpoints and digests.
pub(crate) struct SigningKey {
    pub(crate) name: String,
    pub(crate) version: i32,
    pub(crate) mac: KeyedMac,
}

impl SigningKey {
    /// The one lookup of the signing key; fails as the keyring does (unknown key, ...).
    pub(crate) fn active() -> Result<SigningKey, WardenError> {
        let name = crate::gucs::audit_key_name();
        let (version, mac) = keyring::with_key(&name, |key| (key.active().version, key.active().mac.clone()))?;
        Ok(SigningKey { name, version, mac })
    }

    /// A checkpoint for the entry at (`chain_id`, `pos`) whose stored hash is `hash`.
    fn checkpoint(&self, chain_id: i32, pos: i64, hash: Vec<u8>, created_at: i64) -> Result<Checkpoint, WardenError> {
        let hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| WardenError::LedgerCorrupt(format!("audit chain {chain_id} has a malformed entry_hash")))?;
        Checkpoint::new_signed(chain_id, pos, hash, created_at, &self.name, self.version, &self.mac)
            .map_err(|e| WardenError::LedgerCorrupt(e.to_string()))
    }
}

/// Rows of (chain_id, chain_pos, entry_hash) from a query over the ledger, read as the
/// extension owner.
fn chain_positions(
    query: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> Result<Vec<(i32, i64, Vec<u8>)>, WardenError> {
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            let mut rows = Vec::new();
            for row in client.select(query, None, args)? {
                if let (Some(chain), Some(pos), Some(hash)) =
                    (row.get::<i32>(1)?, row.get::<i64>(2)?, row.get::<Vec<u8>>(3)?)
                {
                    rows.push((chain, pos, hash));
                }
            }
            Ok::<_, pgrx::spi::SpiError>(rows)
        })
    })
}

#[pg_extern(volatile, parallel_unsafe)]
fn audit_digest() -> SqlResult<JsonB> {
    privilege::require_admin("sign an audit digest")?;
    let heads = chain_positions(
        // Each chain's head by one index descent (the chains found by a loose scan of
        // the (chain_id, chain_pos) index), or its last checkpoint when retention left
        // nothing newer: not a pass over the ledger.
        concat!(
            chains_cte!(),
            ", heads AS ( \
           SELECT c.chain_id, h.chain_pos AS pos, h.entry_hash AS hash FROM chains c \
           CROSS JOIN LATERAL (SELECT a.chain_pos, a.entry_hash FROM warden.audit_log a \
                                WHERE a.chain_id OPERATOR(pg_catalog.=) c.chain_id \
                                ORDER BY a.chain_pos DESC LIMIT 1) h \
           WHERE c.chain_id IS NOT NULL) \
         SELECT chain_id, pos, hash FROM ( \
           SELECT DISTINCT ON (chain_id) chain_id, pos, hash FROM ( \
             SELECT chain_id, pos, hash FROM heads \
             UNION ALL SELECT chain_id, chain_pos, entry_hash FROM warden.audit_checkpoint) u \
           ORDER BY chain_id, pos DESC) d ORDER BY chain_id"
        ),
        &[],
    )?
    .into_iter()
    .filter_map(|(chain_id, head_pos, hash)| {
        <[u8; 32]>::try_from(hash).ok().map(|head_hash| DigestChain { chain_id, head_pos, head_hash })
    })
    .collect();
    let total = ledger_scalar("SELECT pg_catalog.count(*) FROM warden.audit_log")?.unwrap_or(0);
    let key = SigningKey::active()?;
    let tree_head = tree::latest_tree_head()?;
    let digest = Digest::new_signed_with_tree_head(
        now_micros(),
        heads,
        total as u64,
        tree_head,
        &key.name,
        key.version,
        &key.mac,
    )
    .map_err(|e| WardenError::LedgerCorrupt(e.to_string()))?;
    let value = warden_core::json::parse(&digest.to_json()).map_err(WardenError::from)?;
    Ok(JsonB(value))
}

/// The export document as text; `warden.export_audit` casts it to jsonb.
#[pg_extern(volatile, parallel_unsafe)]
fn export_audit_text(
    from: pgrx::datum::TimestampWithTimeZone,
    to: pgrx::datum::TimestampWithTimeZone,
) -> SqlResult<String> {
    privilege::require_admin("export the audit ledger")?;
    let mut checkpoints = load_checkpoints()?;
    checkpoints.extend(window_anchors(from, to)?);
    let io = |e: std::io::Error| WardenError::Internal(format!("export failed: {e}"));
    // Version 2 wherever the ledger can hold version-2 entries.
    let sealed = ledger_has_seals();
    let mut writer =
        if sealed { ExportWriter::new_v2(Vec::new()) } else { ExportWriter::new(Vec::new()) }.map_err(io)?;
    let mut redacted = false;
    for_each_entry(
        "ts OPERATOR(pg_catalog.>=) $1 AND ts OPERATOR(pg_catalog.<) $2",
        vec![from.into(), to.into()],
        |entry, seals| {
            redacted |= seals.and_then(ledger::FieldSeals::parse).is_some_and(|s| !s.redacted().is_empty());
            writer.write_sealed_entry(entry, seals).map_err(|e| export_entry_error(entry.content.id, e))
        },
    )?;
    let bytes = if redacted {
        finish_with_later_records(writer, &checkpoints, to)?
    } else {
        writer.finish(&checkpoints).map_err(io)?
    };
    String::from_utf8(bytes).map_err(|_| WardenError::Internal("export is not UTF-8".into()).into())
}

/// The rows of the last SPI query, deformed: (values, nulls) per row. Their datums point
/// into the SPI tuple table, so they are valid until the `Spi::connect` that ran the
/// query returns; call it there, right after the query.
unsafe fn spi_rows() -> Vec<(Vec<pg_sys::Datum>, Vec<bool>)> {
    unsafe {
        let tuptable = pg_sys::SPI_tuptable;
        if tuptable.is_null() {
            return Vec::new();
        }
        let tupdesc = (*tuptable).tupdesc;
        let natts = (*tupdesc).natts as usize;
        std::slice::from_raw_parts((*tuptable).vals, pg_sys::SPI_processed as usize)
            .iter()
            .map(|&tuple| {
                let (mut values, mut nulls) = (vec![pg_sys::Datum::from(0); natts], vec![true; natts]);
                pg_sys::heap_deform_tuple(tuple, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
                (values, nulls)
            })
            .collect()
    }
}

/// Ends an export whose window holds redacted entries with the redaction records
/// written after the window (`ts >= to`), which vouch for some of them: the export
/// verifies offline without the rest of the ledger. Records are entries of their own;
/// the offline verifier checks each one's hash and signature.
fn finish_with_later_records(
    writer: ExportWriter<Vec<u8>>,
    checkpoints: &[Checkpoint],
    to: pgrx::datum::TimestampWithTimeZone,
) -> Result<Vec<u8>, WardenError> {
    let query = format!(
        "SELECT {} FROM warden.audit_log WHERE ts OPERATOR(pg_catalog.>=) $1 \
           AND event_type OPERATOR(pg_catalog.=) '{}' ORDER BY id",
        sealed_select_list(),
        ledger::REDACTION_EVENT_TYPE
    );
    privilege::as_extension_owner(|| {
        Spi::connect(|client| {
            client.select(&query, None, &[to.into()])?;
            let rows = unsafe { spi_rows() };
            let selected: Vec<SelectedRow<'_>> =
                rows.iter().map(|(values, nulls)| SelectedRow { values, nulls }).collect();
            let records: Vec<(EntryRef<'_>, Option<&[u8]>)> = selected.iter().map(|r| (r.entry(), r.seals())).collect();
            writer
                .finish_with_records(checkpoints, &records)
                .map_err(|e| WardenError::Internal(format!("export failed: {e}")))
        })
    })
}

/// An entry the export cannot carry is 54001, naming it: only an entry stored before the
/// ledger's depth rule can be nested that deep. Anything else is a bug.
fn export_entry_error(id: i64, error: std::io::Error) -> WardenError {
    match error.get_ref().and_then(|e| e.downcast_ref::<LedgerError>()) {
        Some(too_deep @ LedgerError::TooDeep { .. }) => {
            WardenError::TooComplex(format!("cannot export audit ledger entry id {id}: {too_deep}"))
        }
        // A jsonb column whose stored text is not PostgreSQL's output: damage, not a bug.
        _ if error.kind() == std::io::ErrorKind::InvalidData => {
            WardenError::LedgerCorrupt(format!("cannot export audit ledger entry id {id}: {error}"))
        }
        _ => WardenError::Internal(format!("export failed: {error}")),
    }
}

/// For an export of a time window: per chain, a checkpoint signed now for the entry just
/// before the window's first one, so the exported part verifies on its own (it links to
/// that hash) instead of looking like a chain whose head was deleted.
fn window_anchors(
    from: pgrx::datum::TimestampWithTimeZone,
    to: pgrx::datum::TimestampWithTimeZone,
) -> Result<Vec<Checkpoint>, WardenError> {
    let before_window = chain_positions(
        "SELECT a.chain_id, a.chain_pos, a.entry_hash FROM ( \
           SELECT chain_id, pg_catalog.min(chain_pos) AS first FROM warden.audit_log \
            WHERE ts OPERATOR(pg_catalog.>=) $1 AND ts OPERATOR(pg_catalog.<) $2 GROUP BY chain_id) f \
         JOIN warden.audit_log a ON a.chain_id OPERATOR(pg_catalog.=) f.chain_id \
          AND a.chain_pos OPERATOR(pg_catalog.=) (f.first OPERATOR(pg_catalog.-) 1) \
         ORDER BY a.chain_id",
        &[from.into(), to.into()],
    )?;
    if before_window.is_empty() {
        return Ok(Vec::new());
    }
    let key = SigningKey::active()?;
    let created_at = now_micros();
    before_window.into_iter().map(|(chain_id, pos, hash)| key.checkpoint(chain_id, pos, hash, created_at)).collect()
}

/// 22023 when the interval `name` is negative (PostgreSQL's own comparison: an interval
/// of months and days has no single sign in Rust).
fn refuse_negative(interval: pgrx::datum::Interval, name: &str) -> Result<(), WardenError> {
    let negative =
        Spi::get_one_with_args::<bool>("SELECT $1 OPERATOR(pg_catalog.<) pg_catalog.interval '0'", &[interval.into()])
            .map_err(WardenError::from)?
            .unwrap_or(true);
    if negative {
        return Err(WardenError::invalid(format!("{name} must not be negative")));
    }
    Ok(())
}

#[pg_extern(volatile, parallel_unsafe)]
fn purge_audit(older_than: pgrx::datum::Interval) -> SqlResult<i64> {
    privilege::require_admin("purge the audit ledger")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.purge_audit()".as_ptr()) };
    refuse_negative(older_than, "older_than")?;
    // Per chain, the last position such that it and everything before it is older
    // than the cutoff, short of the entry DDL capture reads its setting from (the latest
    // audit_ddl_changes row's): purging it would switch capture off.
    let plan = chain_positions(
        "WITH bounds AS ( \
           SELECT chain_id, \
                  pg_catalog.min(chain_pos) FILTER (WHERE ts OPERATOR(pg_catalog.>=) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) $1) \
                                                   OR id OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(c.entry_id) FROM warden.audit_ddl_changes c)) AS first_kept, \
                  pg_catalog.max(chain_pos) AS last \
             FROM warden.audit_log GROUP BY chain_id) \
         SELECT b.chain_id, a.chain_pos, a.entry_hash \
           FROM bounds b JOIN warden.audit_log a ON a.chain_id OPERATOR(pg_catalog.=) b.chain_id \
            AND a.chain_pos OPERATOR(pg_catalog.=) COALESCE((b.first_kept OPERATOR(pg_catalog.-) 1), b.last) \
          ORDER BY b.chain_id",
        &[older_than.into()],
    )?;
    let Purged { deleted, chains, created_at } = purge_plan(plan, "purge")?;
    let details =
        json!({"purged_at": warden_core::ledger::timestamp_to_iso(created_at), "deleted": deleted, "chains": chains});
    let text = |v: &str| v.into_datum();
    chain::append(&chain::EventArgs {
        event_type: text("audit_purge"),
        action: text("PURGE"),
        resource_type: text("audit_log"),
        details: JsonB(details).into_datum(),
        ..Default::default()
    })?;
    Ok(deleted)
}

/// What [`purge_plan`] removed: entries deleted, per chain what and through where, and
/// the time its checkpoints carry.
pub(super) struct Purged {
    pub(super) deleted: i64,
    pub(super) chains: Vec<serde_json::Value>,
    pub(super) created_at: i64,
}

/// Removes, per chain of `plan` (chain, last position to remove, its entry_hash), the
/// chain up to that position behind a signed checkpoint of it. First verifies: what it
/// removes in full, the rest from the latest valid verification on; a ledger that does
/// not verify is refused (XX001), so a checkpoint never vouches for tampered history.
pub(super) fn purge_plan(plan: Vec<(i32, i64, Vec<u8>)>, what: &str) -> Result<Purged, WardenError> {
    let key = SigningKey::active()?;
    let created_at = now_micros();
    let report = verification::verify_before_purge(&plan)?;
    if !report.is_valid() {
        return Err(WardenError::LedgerCorrupt(format!(
            "the audit ledger does not verify ({} issues); refusing to {what} behind a checkpoint",
            report.issues.len()
        )));
    }
    let mut deleted = 0i64;
    let mut chains = Vec::new();
    for (chain_id, pos, hash) in plan {
        let checkpoint = key.checkpoint(chain_id, pos, hash, created_at)?;
        let removed = privilege::as_extension_owner(|| {
            Spi::connect_mut(|client| {
                client.update(
                    "INSERT INTO warden.audit_checkpoint (chain_id, chain_pos, entry_hash, created_at, key_name, key_version, signature) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT DO NOTHING",
                    None,
                    &[
                        chain_id.into(),
                        pos.into(),
                        checkpoint.entry_hash.to_vec().into(),
                        timestamptz(created_at).into(),
                        key.name.as_str().into(),
                        key.version.into(),
                        checkpoint.signature.to_vec().into(),
                    ],
                )?;
                chain::while_rewriting(chain::Rewrite::Purge, || {
                    client
                        .update(
                            "DELETE FROM warden.audit_log WHERE chain_id OPERATOR(pg_catalog.=) $1 AND chain_pos OPERATOR(pg_catalog.<=) $2",
                            None,
                            &[chain_id.into(), pos.into()],
                        )
                        .map(|_| unsafe { pg_sys::SPI_processed } as i64)
                })
            })
        })?;
        if removed > 0 {
            chains.push(json!({"chain_id": chain_id, "through_pos": pos, "deleted": removed}));
        }
        deleted += removed;
    }
    Ok(Purged { deleted, chains, created_at })
}

pgrx::extension_sql_file!(
    "../../sql/audit.sql",
    name = "audit",
    requires = [
        "fingerprint",
        chain::log_event,
        verification::verify_audit,
        verification::verify_audit_digest,
        verification::verify_audit_digest_full,
        audit_digest,
        export_audit_text,
        purge_audit,
        redaction::redact_audit,
        retention::set_retention,
        retention::apply_retention,
        import::import_audit_start,
        import::import_audit_batch
    ]
);

pgrx::extension_sql_file!(
    "../../sql/audit_tree.sql",
    name = "audit_tree",
    requires = ["audit", tree::advance_audit_tree, tree::audit_proof, tree::audit_consistency]
);

pgrx::extension_sql_file!("../../sql/audit_ddl.sql", name = "audit_ddl", requires = ["audit_guard", ddl::audit_ddl]);

pgrx::extension_sql_file!(
    "../../sql/audit_guard.sql",
    name = "audit_guard",
    requires = [
        "audit",
        guard::audit_table,
        guard::unaudit_table,
        guard::creating_extension,
        guard::changing_capture,
        guard::adding_partition,
        guard::note_drop_check
    ]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::outcome;
    use pgrx::prelude::*;

    const KEY: &str = "SELECT warden.create_key('audit', '\\x000102030405060708090a0b0c0d0e0f')";

    #[pg_test]
    fn logged_entries_chain_and_verify() {
        Spi::run(KEY).unwrap();
        for i in 0..5 {
            Spi::run(&format!("SELECT warden.log_event('t', 'A{i}')")).unwrap();
        }
        let positions =
            Spi::get_one::<String>("SELECT string_agg(chain_pos::text, ',' ORDER BY chain_pos) FROM warden.audit_log")
                .unwrap()
                .unwrap();
        assert_eq!(positions, "1,2,3,4,5");
        assert_eq!(Spi::get_one::<bool>("SELECT valid FROM warden.verify_audit()").unwrap(), Some(true));
    }

    #[pg_test]
    fn updates_are_refused() {
        Spi::run(KEY).unwrap();
        Spi::run("SELECT warden.log_event('t', 'A')").unwrap();
        assert_eq!(
            outcome("UPDATE warden.audit_log SET action = 'B'"),
            "42501: warden.audit_log is append-only: UPDATE is not allowed"
        );
    }

    #[pg_test]
    fn a_rolled_back_subtransaction_leaves_no_gap() {
        Spi::run(KEY).unwrap();
        Spi::run(
            "DO $$ BEGIN
                PERFORM warden.log_event('t', 'kept');
                BEGIN
                    PERFORM warden.log_event('t', 'undone');
                    RAISE EXCEPTION 'roll back the subtransaction';
                EXCEPTION WHEN raise_exception THEN NULL;
                END;
                PERFORM warden.log_event('t', 'kept too');
             END $$",
        )
        .unwrap();
        let rows = Spi::get_one::<String>(
            "SELECT string_agg(chain_pos || ':' || action, ',' ORDER BY chain_pos) FROM warden.audit_log",
        )
        .unwrap()
        .unwrap();
        assert_eq!(rows, "1:kept,2:kept too");
        assert_eq!(Spi::get_one::<bool>("SELECT valid FROM warden.verify_audit()").unwrap(), Some(true));
    }
}
