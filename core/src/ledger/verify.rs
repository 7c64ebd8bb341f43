//! Verification of stored entries, chain by chain, against checkpoints and a digest.
//!
//! Each entry is checked on its own (hash recomputed over its content, position and
//! stored `prev_hash`; signature over its stored `entry_hash`) and against its place in
//! the chain (link to the previous position, gaps, duplicates, start). Checking the two
//! separately pinpoints the tampered row: an edited entry fails its own hash while its
//! successor's link still holds; a deleted one shows as a gap at its successor.
//!
//! A version-2 entry whose fields were redacted verifies like any other (its hash covers
//! the stored commitments of the redacted fields) and is reported as valid and redacted,
//! provided a redaction record covers exactly its redacted fields: a signed entry of
//! event type [`REDACTION_EVENT_TYPE`] with a higher `id`, whose `details` list the
//! entry's id and fields. Records are collected as the entries stream past (or handed in
//! with [`Verifier::note_redaction_record`]) and the redacted entries judged at the end.

use std::collections::BTreeMap;

use std::fmt;

use super::checkpoint::Checkpoint;
use super::digest::{Digest, DigestChain};
use super::encoding::{EntryContent, EntryHasher, EntryRef, Hash, GENESIS_PREV_HASH};
use super::redaction::{
    parse_redaction_details, without, FieldSeals, FieldSet, REDACTION_ACTION, REDACTION_EVENT_TYPE,
};
use super::LedgerError;
use crate::mac::KeyedMac;

/// What is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// The entry at fault; `None` for a problem of a checkpoint, of the digest, or of a
    /// position no entry holds.
    pub entry_id: Option<i64>,
    /// The chain concerned, when known.
    pub chain_id: Option<i32>,
    /// The position concerned, when known.
    pub chain_pos: Option<i64>,
    /// What is wrong.
    pub kind: IssueKind,
}

/// The kinds of problem verification reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueKind {
    /// The recomputed `entry_hash` differs from the stored one: a content column, or the
    /// entry's own `chain_id`, `chain_pos` or `prev_hash`, changed after it was written.
    HashMismatch,
    /// The signature does not verify under the entry's key version: its chain material
    /// was forged or recomputed without the key.
    BadSignature,
    /// The entry names a key version the verifier was not given.
    UnknownKey {
        /// The key the entry names.
        key_name: String,
        /// The version it names.
        key_version: i32,
    },
    /// `prev_hash` differs from the hash of the preceding position: an entry was
    /// deleted, inserted or moved.
    BrokenLink,
    /// Positions before this entry are missing: entries were deleted.
    PositionGap {
        /// The first position missing.
        first_missing: i64,
        /// The last position missing.
        last_missing: i64,
    },
    /// Another entry holds this position and fits the chain: a copied or inserted row.
    DuplicatePosition,
    /// The chain's first remaining entry is not at position 1 nor right after a
    /// checkpoint: its oldest entries were deleted without a checkpoint.
    BadChainStart {
        /// Where the chain should start: 1, or right after its last checkpoint before
        /// the entry.
        expected_pos: i64,
    },
    /// `chain_id` or `chain_pos` is NULL: the row was written with the ledger trigger
    /// bypassed.
    Unchained,
    /// A hash or the signature is NULL or not 32 bytes, or the key name or version is
    /// NULL.
    MalformedChainMaterial,
    /// A checkpoint's signature does not verify.
    CheckpointBadSignature,
    /// A checkpoint names a key version the verifier was not given.
    CheckpointUnknownKey {
        /// The key the checkpoint names.
        key_name: String,
        /// The version it names.
        key_version: i32,
    },
    /// The entry at a checkpoint's position has a different hash than the checkpoint.
    CheckpointMismatch,
    /// The digest's signature does not verify: it was forged or edited.
    DigestBadSignature,
    /// The digest names a key version the verifier was not given.
    DigestUnknownKey {
        /// The key the digest names.
        key_name: String,
        /// The version it names.
        key_version: i32,
    },
    /// No entry or checkpoint holds the digest's head position: the chain was truncated.
    DigestHeadMissing,
    /// The entry (or checkpoint) at the digest's head position has another hash: the
    /// chain was rewritten.
    DigestHeadMismatch,
    /// The `field_seals` column of a version-2 entry is not the documented layout: the
    /// entry cannot be checked.
    FieldSealsMalformed,
    /// Fields the entry's seals mark redacted hold a value: content was written back
    /// after the redaction.
    RedactedButPresent {
        /// The fields.
        fields: FieldSet,
    },
    /// Fields of a version-2 entry are redacted, yet no redaction record with a higher
    /// id lists them: they were erased around `warden.redact_audit`.
    RedactedWithoutRecord {
        /// The fields no record covers.
        fields: FieldSet,
    },
    /// An entry of event type `audit_redaction` whose `details` do not list entry ids
    /// and redactable fields as pg_warden writes them: it vouches for no redaction.
    MalformedRedactionRecord,
    /// The ledger holds no entry, yet its history is known to have been longer: its
    /// identity sequence has issued ids, or retention checkpoints exist (a purge always
    /// logs an entry after its checkpoints). It was emptied, or a restore dropped it.
    HistoryMissing {
        /// The identity sequence's last value, `None` before its first use.
        last_issued_id: Option<i64>,
        /// Retention checkpoints stored.
        checkpoints: u64,
    },
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueKind::HashMismatch => write!(
                f,
                "content modified: the recomputed entry_hash differs from the stored one \
                 (a column, or the row's chain_id/chain_pos/prev_hash, was changed)"
            ),
            IssueKind::BadSignature => {
                write!(f, "bad signature: the chain material was forged or recomputed without the key")
            }
            IssueKind::UnknownKey { key_name, key_version } => {
                write!(f, "signed with key {key_name} version {key_version}, which was not supplied")
            }
            IssueKind::BrokenLink => write!(
                f,
                "broken link: prev_hash differs from the hash of the previous position \
                 (an entry was deleted, inserted or reordered)"
            ),
            IssueKind::PositionGap { first_missing, last_missing } if first_missing == last_missing => {
                write!(f, "position {first_missing} is missing (entry deleted)")
            }
            IssueKind::PositionGap { first_missing, last_missing } => {
                write!(f, "positions {first_missing}..{last_missing} are missing (entries deleted)")
            }
            IssueKind::DuplicatePosition => {
                write!(f, "duplicate position: another entry holds it and fits the chain (copied or inserted row)")
            }
            IssueKind::BadChainStart { expected_pos } => write!(
                f,
                "the chain starts here but should start at position {expected_pos} \
                 (its first entries were deleted)"
            ),
            IssueKind::Unchained => {
                write!(f, "no chain position: the row was written with the ledger trigger bypassed")
            }
            IssueKind::MalformedChainMaterial => write!(
                f,
                "chain material missing or malformed (hashes and signature must be 32 bytes, key name and version set)"
            ),
            IssueKind::CheckpointBadSignature => write!(f, "checkpoint signature does not verify (forged or edited)"),
            IssueKind::CheckpointUnknownKey { key_name, key_version } => {
                write!(f, "checkpoint signed with key {key_name} version {key_version}, which was not supplied")
            }
            IssueKind::CheckpointMismatch => {
                write!(f, "entry_hash differs from the checkpoint recorded for this position")
            }
            IssueKind::DigestBadSignature => write!(f, "digest signature does not verify (forged or edited)"),
            IssueKind::DigestUnknownKey { key_name, key_version } => {
                write!(f, "digest signed with key {key_name} version {key_version}, which was not supplied")
            }
            IssueKind::DigestHeadMissing => {
                write!(f, "the digest's head position holds no entry: the chain was truncated")
            }
            IssueKind::DigestHeadMismatch => {
                write!(f, "hash differs from the digest's head hash: the chain was rewritten")
            }
            IssueKind::FieldSealsMalformed => write!(
                f,
                "field_seals malformed: not the version-2 layout, so the entry cannot be checked (the column was edited)"
            ),
            IssueKind::RedactedButPresent { fields } => write!(
                f,
                "{fields} marked redacted but holding a value (content written back after its redaction)"
            ),
            IssueKind::RedactedWithoutRecord { fields } => write!(
                f,
                "{fields} redacted without a redaction record (erased around warden.redact_audit)"
            ),
            IssueKind::MalformedRedactionRecord => write!(
                f,
                "redaction record whose details do not list entry ids and redactable fields: it vouches for nothing"
            ),
            IssueKind::HistoryMissing { last_issued_id, checkpoints } => {
                f.write_str("the ledger holds no entry, but")?;
                if let Some(id) = last_issued_id {
                    write!(f, " its sequence has issued ids up to {id}")?;
                    if *checkpoints > 0 {
                        f.write_str(" and")?;
                    }
                }
                if *checkpoints > 0 {
                    write!(f, " {checkpoints} retention checkpoints exist")?;
                }
                f.write_str(" (its entries were removed, or a restore did not load them)")
            }
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.entry_id, &self.kind) {
            (Some(id), _) => write!(f, "entry id {id} ")?,
            (None, IssueKind::DigestHeadMissing | IssueKind::DigestHeadMismatch) => f.write_str("digest head ")?,
            (None, IssueKind::DigestBadSignature | IssueKind::DigestUnknownKey { .. }) => f.write_str("digest")?,
            (None, IssueKind::HistoryMissing { .. }) => f.write_str("ledger")?,
            (None, _) => f.write_str("checkpoint ")?,
        }
        match (self.chain_id, self.chain_pos) {
            (Some(chain), Some(pos)) => write!(f, "(chain {chain}, position {pos})")?,
            (Some(chain), None) => write!(f, "(chain {chain})")?,
            (None, _) if self.entry_id.is_some() => f.write_str("(no chain)")?,
            (None, _) => {}
        }
        write!(f, ": {}", self.kind)
    }
}

/// One chain as verification found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    /// The chain.
    pub chain_id: i32,
    /// Its lowest position held.
    pub first_pos: i64,
    /// Its highest position held.
    pub head_pos: i64,
    /// Stored hash of the entry at `head_pos`; `None` when it is malformed.
    pub head_hash: Option<Hash>,
    /// Distinct positions held (duplicates count once).
    pub positions: u64,
}

/// A valid entry whose content was partly erased under a redaction record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactedEntry {
    /// The entry.
    pub entry_id: i64,
    /// Its chain.
    pub chain_id: i32,
    /// Its position.
    pub chain_pos: i64,
    /// The fields redacted.
    pub fields: FieldSet,
}

/// Outcome of a verification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Entries verified, unchained ones included.
    pub total_entries: u64,
    /// Entries with at least one issue.
    pub invalid_entries: u64,
    /// Valid entries with redacted fields, each covered by a redaction record; they are
    /// not invalid.
    pub redacted_entries: u64,
    /// Those entries, by ascending (chain, position).
    pub redacted: Vec<RedactedEntry>,
    /// By ascending `chain_id`.
    pub chains: Vec<ChainSummary>,
    /// Chain by chain in position order, after checkpoint and digest signature issues;
    /// then redactions without a record, unchained rows and missing digest heads.
    pub issues: Vec<Issue>,
}

impl Report {
    /// Applies the ledger's high-water marks to a report of the whole ledger: an empty
    /// ledger is valid only if nothing says it ever held more. `last_issued_id` is the
    /// identity sequence's last value (`None` before its first use); `checkpoints` the
    /// number of retention checkpoints. Ids a rolled-back transaction took also count as
    /// issued, so a ledger whose every writer rolled back is reported too: a false
    /// alarm only where nothing was ever committed.
    pub fn apply_high_water(&mut self, last_issued_id: Option<i64>, checkpoints: u64) {
        if self.total_entries == 0 && (last_issued_id.is_some() || checkpoints > 0) {
            self.issues.push(Issue {
                entry_id: None,
                chain_id: None,
                chain_pos: None,
                kind: IssueKind::HistoryMissing { last_issued_id, checkpoints },
            });
        }
    }

    /// No issue of any kind.
    pub fn is_valid(&self) -> bool {
        self.issues.is_empty()
    }

    /// Each chain's head, ready for [`Digest::new_signed`]; chains whose head entry has
    /// malformed material are left out.
    pub fn digest_heads(&self) -> Vec<DigestChain> {
        self.chains
            .iter()
            .filter_map(|c| {
                c.head_hash.map(|head_hash| DigestChain { chain_id: c.chain_id, head_pos: c.head_pos, head_hash })
            })
            .collect()
    }
}

/// Anything that can be seen as a stored entry.
pub trait LedgerEntry {
    /// The entry's columns, borrowed.
    fn entry(&self) -> EntryRef<'_>;

    /// `(chain_id, chain_pos)`, which ordering needs before the whole entry; override it
    /// when building the entry costs more than reading two fields.
    fn chain_position(&self) -> (Option<i32>, Option<i64>) {
        let chain = self.entry().chain;
        (chain.chain_id, chain.chain_pos)
    }

    /// The `field_seals` column: `None` (SQL NULL) for a version-1 entry.
    fn field_seals(&self) -> Option<&[u8]> {
        None
    }
}

impl LedgerEntry for EntryRef<'_> {
    fn entry(&self) -> EntryRef<'_> {
        *self
    }
}

/// Verifies `entries`, given in any order, against `checkpoints` and, when given,
/// `digest`. `keys` returns the secret of a key version, or `None` when it is unknown; it
/// is called once per distinct version.
pub fn verify_entries<E, F>(entries: &[E], checkpoints: &[Checkpoint], digest: Option<&Digest>, keys: F) -> Report
where
    E: LedgerEntry,
    F: FnMut(&str, i32) -> Option<KeyedMac>,
{
    verify_entries_with_records::<E, E, F>(entries, &[], checkpoints, digest, keys)
}

/// [`verify_entries`], with `records`: redaction records from outside `entries` (later
/// than an export's window), each checked on its own and then counted as a record.
pub fn verify_entries_with_records<E, R, F>(
    entries: &[E],
    records: &[R],
    checkpoints: &[Checkpoint],
    digest: Option<&Digest>,
    keys: F,
) -> Report
where
    E: LedgerEntry,
    R: LedgerEntry,
    F: FnMut(&str, i32) -> Option<KeyedMac>,
{
    let mut verifier = Verifier::new(checkpoints, digest, keys);
    for record in records {
        verifier.note_redaction_record(&record.entry(), record.field_seals());
    }
    let mut order: Vec<(i32, i64, usize)> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        match entry.chain_position() {
            (Some(chain_id), Some(chain_pos)) => order.push((chain_id, chain_pos, index)),
            _ => verifier.accept(&entry.entry(), entry.field_seals()),
        }
    }
    // The index breaks ties, so duplicates are seen in input order and results repeat.
    order.sort_unstable();
    for (_, _, index) in order {
        verifier.accept(&entries[index].entry(), entries[index].field_seals());
    }
    verifier.finish()
}

/// Streaming verification for entries read in `(chain_id, chain_pos)` order, e.g. from
/// `ORDER BY chain_id, chain_pos` over an index; rows with a NULL `chain_id` or
/// `chain_pos` may come anywhere. Holds one position's entries at a time.
pub struct Verifier<'c, F> {
    keys: KeyCache<F>,
    /// Checkpoints whose signature verifies, by (chain, position). A forged one is
    /// reported and then vouches for nothing.
    checkpoints: Vec<&'c Checkpoint>,
    digest: Option<(&'c Digest, Vec<bool>)>,
    hasher: EntryHasher,
    report: Report,
    chain: Option<ChainWalk>,
    group: Group,
    last_order: Option<(i32, i64)>,
    /// Set by [`Verifier::resume`]: a chain of the digest may start at its head.
    resume: bool,
    /// Issues [`Verifier::new`] found in the checkpoints' and digest's signatures.
    signature_issues: usize,
    /// Set by [`Verifier::segment`]: (chain, position) a segment of a chain starts at,
    /// whose link another segment's head judges.
    segment_start: Option<(i32, i64)>,
    /// The `prev_hash` of the genuine entry at `segment_start`.
    segment_first_prev: Option<Hash>,
    /// Redaction records and redacted entries seen so far.
    redactions: Redactions,
}

/// What the redaction check gathers while entries stream past.
#[derive(Default)]
struct Redactions {
    /// For each entry id, the fields redaction records with a higher id list for it.
    recorded: BTreeMap<i64, FieldSet>,
    /// Entries with no issue of their own and redacted fields, to judge at the end.
    redacted: Vec<RedactedEntry>,
    /// A redacted entry or a redaction record was read: a segment that saw one cannot
    /// judge it alone.
    seen: bool,
}

impl Redactions {
    /// Counts the redaction record `record_id` with `details`; `false` when the details
    /// are not a record's.
    fn record(&mut self, record_id: i64, details: Option<&str>) -> bool {
        self.seen = true;
        let Some(targets) = details.and_then(parse_redaction_details) else { return false };
        // A record only vouches for entries written before it.
        for (target, fields) in targets.into_iter().filter(|(target, _)| *target < record_id) {
            let covered = self.recorded.entry(target).or_default();
            *covered = covered.union(fields);
        }
        true
    }
}

/// What [`Verifier::segment`] found in one position range of one chain, for
/// [`Verifier::finish_segments`] to join with its neighbours: fixed-size and `Copy`, so
/// parallel workers can hand it over in shared memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SegmentOutcome {
    /// The chain the segment was read from.
    pub chain_id: i32,
    /// The position the segment starts at, `None` for the chain's first segment (read
    /// as a chain start).
    pub from_pos: Option<i64>,
    /// Entries read.
    pub entries: u64,
    /// Lowest position held (meaningless when `entries` is 0).
    pub first_pos: i64,
    /// Highest position held.
    pub head_pos: i64,
    /// Distinct positions held.
    pub positions: u64,
    /// Stored hash of the entry at `head_pos`.
    pub head_hash: Option<Hash>,
    /// The `prev_hash` of the entry at `from_pos`: the previous segment's head must
    /// hold it.
    pub first_prev: Option<Hash>,
    /// No issue besides the signature issues every verifier reports.
    pub clean: bool,
    /// The digest's head of this chain was found in the segment.
    pub digest_head_seen: bool,
}

struct ChainWalk {
    summary: ChainSummary,
    /// Hash the next position must link to; `None` when the head is malformed.
    head_hash: Option<Hash>,
}

/// Every entry found at one position of one chain.
#[derive(Default)]
struct Group {
    chain_id: i32,
    pos: i64,
    /// What entries here must hold as `prev_hash`; `None` when unknown (after a gap or a
    /// malformed predecessor), then links are not judged.
    expected_prev: Option<Hash>,
    position_issue: Option<IssueKind>,
    members: Vec<Member>,
    /// Issues of members, by member index.
    pending: Vec<(usize, IssueKind)>,
}

struct Member {
    entry_id: i64,
    entry_hash: Option<Hash>,
    prev_hash: Option<Hash>,
    sound: bool,
    redacted: FieldSet,
}

/// A key lookup asked once per distinct version, however many entries name it.
pub(crate) struct KeyCache<F> {
    lookup: F,
    known: Vec<(String, i32, Option<KeyedMac>)>,
    last: usize,
}

impl<F: FnMut(&str, i32) -> Option<KeyedMac>> KeyCache<F> {
    pub(crate) fn new(lookup: F) -> Self {
        KeyCache { lookup, known: Vec::new(), last: 0 }
    }

    /// The secret of `name` version `version`, `None` when the lookup does not know it.
    pub(crate) fn get(&mut self, name: &str, version: i32) -> Option<&KeyedMac> {
        let hit = |(n, v, _): &(String, i32, Option<KeyedMac>)| *v == version && n == name;
        if !self.known.get(self.last).is_some_and(hit) {
            self.last = match self.known.iter().position(hit) {
                Some(index) => index,
                None => {
                    let key = (self.lookup)(name, version);
                    self.known.push((name.to_owned(), version, key));
                    self.known.len() - 1
                }
            };
        }
        self.known.get(self.last).and_then(|(_, _, key)| key.as_ref())
    }
}

fn to_hash(bytes: Option<&[u8]>) -> Option<Hash> {
    bytes.and_then(|b| <Hash>::try_from(b).ok())
}

/// Checks entries one at a time, each by itself ([`check_entry_alone`]: chain material,
/// seals, hash, signature; not its links), keys looked up once per key version: for a
/// writer that must not build on an entry changed outside pg_warden (redaction).
pub struct EntryChecker<F> {
    hasher: EntryHasher,
    keys: KeyCache<F>,
}

impl<F: FnMut(&str, i32) -> Option<KeyedMac>> EntryChecker<F> {
    /// A checker whose keys come from `keys`.
    pub fn new(keys: F) -> Self {
        EntryChecker { hasher: EntryHasher::new(), keys: KeyCache::new(keys) }
    }

    /// What is wrong with `entry` by itself (its `field_seals` column: `None` for
    /// version 1); empty when it verifies.
    pub fn issues(&mut self, entry: &EntryRef<'_>, field_seals: Option<&[u8]>) -> Vec<IssueKind> {
        let (Some(chain_id), Some(pos)) = (entry.chain.chain_id, entry.chain.chain_pos) else {
            return vec![IssueKind::MalformedChainMaterial];
        };
        let mut found = Vec::new();
        check_entry_alone(&mut self.hasher, &mut self.keys, entry, field_seals, chain_id, pos, |kind| found.push(kind));
        found
    }
}

/// What [`check_entry_alone`] found besides its issues.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Alone {
    /// The stored `prev_hash`, when the chain material is well formed.
    pub(crate) prev_hash: Option<Hash>,
    /// The fields a version-2 entry's seals mark redacted.
    pub(crate) redacted: FieldSet,
}

/// The checks an entry at (`chain_id`, `pos`) passes or fails by itself, whatever its
/// neighbours: its chain material well formed ([`IssueKind::MalformedChainMaterial`]),
/// a version-2 entry's `field_seals` well formed ([`IssueKind::FieldSealsMalformed`])
/// and no redacted field holding a value ([`IssueKind::RedactedButPresent`]), its
/// `entry_hash` recomputed over its content (in the encoding `field_seals` selects: NULL
/// for version 1), position and stored `prev_hash` ([`IssueKind::HashMismatch`]), and its
/// signature under the key version it names ([`IssueKind::UnknownKey`],
/// [`IssueKind::BadSignature`]). Each failure goes to `issue`.
///
/// Shared by the ledger's verification and the verification of an inclusion proof's
/// entry, so that one entry is judged the same way in an export and in a proof.
pub(crate) fn check_entry_alone<F: FnMut(&str, i32) -> Option<KeyedMac>>(
    hasher: &mut EntryHasher,
    keys: &mut KeyCache<F>,
    entry: &EntryRef<'_>,
    field_seals: Option<&[u8]>,
    chain_id: i32,
    pos: i64,
    mut issue: impl FnMut(IssueKind),
) -> Alone {
    let material = &entry.chain;
    let parts = (
        to_hash(material.prev_hash),
        to_hash(material.entry_hash),
        to_hash(material.signature),
        material.key_name,
        material.key_version,
    );
    let (Some(prev_hash), Some(stored_hash), Some(signature), Some(key_name), Some(key_version)) = parts else {
        issue(IssueKind::MalformedChainMaterial);
        return Alone::default();
    };
    let mut redacted = FieldSet::EMPTY;
    // Content that cannot be encoded (over 4 GiB) cannot match any hash.
    let computed = match field_seals.map(FieldSeals::parse) {
        None => hasher.entry_hash(&entry.content, chain_id, pos, &prev_hash).ok(),
        Some(Some(seals)) => {
            redacted = seals.redacted();
            let present = seals.present_but_redacted(&entry.content);
            if !present.is_empty() {
                issue(IssueKind::RedactedButPresent { fields: present });
            }
            // The stored commitments stand for the redacted fields: a value written back
            // is reported above, not as a changed hash.
            let content: EntryContent<'_> = without(&entry.content, present);
            hasher.entry_hash_v2(&content, &seals, chain_id, pos, &prev_hash).ok()
        }
        // Malformed seals leave no hash to recompute; they are the issue.
        Some(None) => {
            issue(IssueKind::FieldSealsMalformed);
            Some(stored_hash)
        }
    };
    if computed != Some(stored_hash) {
        issue(IssueKind::HashMismatch);
    }
    match keys.get(key_name, key_version) {
        None => issue(IssueKind::UnknownKey { key_name: key_name.to_owned(), key_version }),
        Some(key) => {
            if !key.verify(&stored_hash, &signature) {
                issue(IssueKind::BadSignature);
            }
        }
    }
    Alone { prev_hash: Some(prev_hash), redacted }
}

/// Whether `entry` presents itself as a redaction record: a version-2 entry of event
/// type `audit_redaction`. A version-1 entry of that type is not one (pg_warden 0.2.0 let
/// `log_event` write the type, and never wrote records): it vouches for nothing and is
/// verified as any entry.
fn claims_redaction(entry: &EntryRef<'_>, field_seals: Option<&[u8]>) -> bool {
    entry.content.event_type == Some(REDACTION_EVENT_TYPE) && field_seals.is_some()
}

/// The details of a redaction record as pg_warden writes it (`action` `REDACT`,
/// `resource_type` `audit_log`); `None`, so it vouches for nothing, for any other.
fn record_details<'a>(entry: &EntryRef<'a>) -> Option<&'a str> {
    (entry.content.action == Some(REDACTION_ACTION) && entry.content.resource_type == Some("audit_log"))
        .then_some(entry.content.details)
        .flatten()
}

impl<'c, F: FnMut(&str, i32) -> Option<KeyedMac>> Verifier<'c, F> {
    /// Checks the signatures of `checkpoints` and `digest` at once; entries follow with
    /// [`Verifier::push`].
    pub fn new(checkpoints: &'c [Checkpoint], digest: Option<&'c Digest>, keys: F) -> Self {
        let mut keys = KeyCache::new(keys);
        let mut report = Report::default();
        if let Some(digest) = digest {
            let kind = match keys.get(&digest.key_name, digest.key_version) {
                None => Some(IssueKind::DigestUnknownKey {
                    key_name: digest.key_name.clone(),
                    key_version: digest.key_version,
                }),
                Some(key) => (!digest.signature_valid(key)).then_some(IssueKind::DigestBadSignature),
            };
            if let Some(kind) = kind {
                report.issues.push(Issue { entry_id: None, chain_id: None, chain_pos: None, kind });
            }
        }
        let mut trusted: Vec<&'c Checkpoint> = Vec::with_capacity(checkpoints.len());
        for checkpoint in checkpoints {
            let kind = match keys.get(&checkpoint.key_name, checkpoint.key_version) {
                None => IssueKind::CheckpointUnknownKey {
                    key_name: checkpoint.key_name.clone(),
                    key_version: checkpoint.key_version,
                },
                Some(key) if checkpoint.signature_valid(key) => {
                    trusted.push(checkpoint);
                    continue;
                }
                Some(_) => IssueKind::CheckpointBadSignature,
            };
            report.issues.push(Issue {
                entry_id: None,
                chain_id: Some(checkpoint.chain_id),
                chain_pos: Some(checkpoint.chain_pos),
                kind,
            });
        }
        trusted.sort_by_key(|c| (c.chain_id, c.chain_pos));
        let signature_issues = report.issues.len();
        Verifier {
            keys,
            checkpoints: trusted,
            digest: digest.map(|d| (d, vec![false; d.chains.len()])),
            hasher: EntryHasher::new(),
            report,
            chain: None,
            group: Group::default(),
            last_order: None,
            resume: false,
            signature_issues,
            segment_start: None,
            segment_first_prev: None,
            redactions: Redactions::default(),
        }
    }

    /// Verification of one segment of a full verification: the entries of `chain_id`
    /// from `from_pos` on (from its start when `None`), in position order, finished with
    /// [`Verifier::finish_segment`]. An entry at `from_pos` is judged on its own; its link
    /// is judged when the segments are joined.
    pub fn segment(
        checkpoints: &'c [Checkpoint],
        digest: Option<&'c Digest>,
        keys: F,
        chain_id: i32,
        from_pos: Option<i64>,
    ) -> Self {
        let mut verifier = Verifier::new(checkpoints, digest, keys);
        verifier.segment_start = from_pos.map(|pos| (chain_id, pos));
        verifier
    }

    /// What the segment held; see [`SegmentOutcome`].
    pub fn finish_segment(mut self) -> SegmentOutcome {
        self.close_group();
        self.close_chain();
        let report = &self.report;
        let chain = report.chains.first();
        SegmentOutcome {
            chain_id: chain.map_or(0, |c| c.chain_id),
            from_pos: self.segment_start.map(|(_, pos)| pos),
            entries: report.total_entries,
            first_pos: chain.map_or(0, |c| c.first_pos),
            head_pos: chain.map_or(0, |c| c.head_pos),
            positions: chain.map_or(0, |c| c.positions),
            head_hash: chain.and_then(|c| c.head_hash),
            first_prev: self.segment_first_prev,
            clean: report.issues.len() == self.signature_issues
                && report.chains.len() <= 1
                && report.invalid_entries == 0
                && !self.redactions.seen
                && self.segment_start.is_none_or(|(chain_id, _)| chain.is_none_or(|c| c.chain_id == chain_id)),
            digest_head_seen: self.digest.as_ref().is_some_and(|(_, seen)| seen.iter().any(|s| *s)),
        }
    }

    /// The report of a full verification read in segments, from a verifier that read
    /// nothing itself and the segments' outcomes in (chain, position) order: the same
    /// report as one verifier reading everything, or `None` when a segment found an
    /// issue or the segments do not join up (a position missing or held twice at a
    /// boundary, a link broken across one). Then read the ledger with one verifier: its
    /// report says what is wrong, in the usual order.
    pub fn finish_segments(mut self, segments: &[SegmentOutcome]) -> Option<Report> {
        let mut chains: Vec<ChainSummary> = Vec::new();
        let mut total = 0u64;
        for s in segments {
            if !s.clean || s.entries == 0 {
                return None;
            }
            match (chains.last_mut(), s.from_pos) {
                (Some(c), Some(from)) if c.chain_id == s.chain_id => {
                    let joins = Some(from) == c.head_pos.checked_add(1)
                        && s.first_pos == from
                        && s.first_prev.is_some()
                        && s.first_prev == c.head_hash;
                    if !joins {
                        return None;
                    }
                    c.head_pos = s.head_pos;
                    c.head_hash = s.head_hash;
                    c.positions += s.positions;
                }
                (last, None) if last.as_ref().is_none_or(|c| c.chain_id < s.chain_id) => chains.push(ChainSummary {
                    chain_id: s.chain_id,
                    first_pos: s.first_pos,
                    head_pos: s.head_pos,
                    head_hash: s.head_hash,
                    positions: s.positions,
                }),
                _ => return None,
            }
            total += s.entries;
            if let (true, Some((digest, seen))) = (s.digest_head_seen, &mut self.digest) {
                if let Ok(i) = digest.chains.binary_search_by_key(&s.chain_id, |c| c.chain_id) {
                    seen[i] = true;
                }
            }
        }
        self.report.total_entries = total;
        self.report.chains = chains;
        Some(self.finish())
    }

    /// Verification from `since` on: each chain of the digest is read from the position
    /// before its head (that entry must be there, unless purged behind a checkpoint, and
    /// verify on its own; the head must link to it and still hold the digest's hash) and
    /// everything after the head must link to it; chains the digest does not know are
    /// read from their start. What lies further back is not read: it is taken as
    /// verified when `since` was made, which only a full verification re-checks.
    pub fn resume(checkpoints: &'c [Checkpoint], since: &'c Digest, keys: F) -> Self {
        let mut verifier = Verifier::new(checkpoints, Some(since), keys);
        verifier.resume = true;
        verifier
    }

    /// Verifies the next entry, a version-1 one. Fails, without looking at it, when it
    /// sorts before the previous chained entry.
    pub fn push(&mut self, entry: &EntryRef<'_>) -> Result<(), LedgerError> {
        self.push_sealed(entry, None)
    }

    /// Verifies the next entry with its `field_seals` column (`None` when SQL NULL, for
    /// a version-1 entry). Fails, without looking at it, when it sorts before the
    /// previous chained entry.
    pub fn push_sealed(&mut self, entry: &EntryRef<'_>, field_seals: Option<&[u8]>) -> Result<(), LedgerError> {
        if let (Some(chain_id), Some(chain_pos)) = (entry.chain.chain_id, entry.chain.chain_pos) {
            if self.last_order.is_some_and(|last| (chain_id, chain_pos) < last) {
                return Err(LedgerError::OutOfOrder { entry_id: entry.content.id });
            }
            self.last_order = Some((chain_id, chain_pos));
        }
        self.accept(entry, field_seals);
        Ok(())
    }

    /// Counts `record` as a redaction record when it is one and verifies on its own
    /// (hash and signature), without verifying it as part of the ledger: for records
    /// outside what is read (later than an export's window, or than a resumed
    /// verification's digest), whose entries are. Anything else is ignored, and the
    /// entries it would have covered are then reported.
    pub fn note_redaction_record(&mut self, record: &EntryRef<'_>, field_seals: Option<&[u8]>) {
        let (Some(chain_id), Some(pos)) = (record.chain.chain_id, record.chain.chain_pos) else { return };
        if !claims_redaction(record, field_seals) {
            return;
        }
        let mut sound = true;
        check_entry_alone(&mut self.hasher, &mut self.keys, record, field_seals, chain_id, pos, |_| sound = false);
        if sound {
            self.redactions.record(record.content.id, record_details(record));
        }
    }

    /// Closes the last chain, judges the redacted entries and the digest's heads and
    /// returns the report.
    pub fn finish(mut self) -> Report {
        self.close_group();
        self.close_chain();
        self.judge_redactions();
        if let Some((digest, seen)) = self.digest.take() {
            for (head, _) in digest.chains.iter().zip(seen).filter(|(_, seen)| !seen) {
                self.judge_unseen_head(head);
            }
        }
        self.report
    }

    /// Verifies an entry known to be in order.
    fn accept(&mut self, entry: &EntryRef<'_>, field_seals: Option<&[u8]>) {
        self.report.total_entries += 1;
        let (Some(chain_id), Some(pos)) = (entry.chain.chain_id, entry.chain.chain_pos) else {
            self.report.invalid_entries += 1;
            self.report.issues.push(Issue {
                entry_id: Some(entry.content.id),
                chain_id: entry.chain.chain_id,
                chain_pos: entry.chain.chain_pos,
                kind: IssueKind::Unchained,
            });
            return;
        };
        let same_group = !self.group.members.is_empty() && (self.group.chain_id, self.group.pos) == (chain_id, pos);
        if !same_group {
            self.close_group();
            if self.chain.as_ref().map(|c| c.summary.chain_id) != Some(chain_id) {
                self.close_chain();
            }
            self.open_group(chain_id, pos);
        }
        self.check_member(entry, field_seals, chain_id, pos);
    }

    /// Index of the first trusted checkpoint at or after (`chain_id`, `pos`).
    fn checkpoint_index(&self, chain_id: i32, pos: i64) -> usize {
        self.checkpoints.partition_point(|c| (c.chain_id, c.chain_pos) < (chain_id, pos))
    }

    fn checkpoint_at(&self, chain_id: i32, pos: i64) -> Option<&'c Checkpoint> {
        self.checkpoint_from(chain_id, pos).filter(|c| c.chain_pos == pos)
    }

    /// The first trusted checkpoint of `chain_id` at or after `pos`.
    fn checkpoint_from(&self, chain_id: i32, pos: i64) -> Option<&'c Checkpoint> {
        let index = self.checkpoint_index(chain_id, pos);
        self.checkpoints.get(index).copied().filter(|c| c.chain_id == chain_id)
    }

    /// The last trusted checkpoint of `chain_id` before `pos`.
    fn checkpoint_before(&self, chain_id: i32, pos: i64) -> Option<&'c Checkpoint> {
        let index = self.checkpoint_index(chain_id, pos).checked_sub(1)?;
        self.checkpoints.get(index).copied().filter(|c| c.chain_id == chain_id)
    }

    /// Decides what the entries at `pos` must link to, judging the position itself: a
    /// position right after the previous one, or right after a checkpoint (entries
    /// purged by retention), is in place; anything else is a gap or a bad start.
    fn open_group(&mut self, chain_id: i32, pos: i64) {
        let after_checkpoint = pos.checked_sub(1).and_then(|p| self.checkpoint_at(chain_id, p)).map(|c| c.entry_hash);
        // A resumed verification starts each chain of the digest at the position before
        // its head (the head itself when it is the first): that entry is judged on its
        // own (its link was judged when the digest was made), the head links to it and
        // must hold the digest's hash.
        let digest_head = if self.resume {
            self.digest.as_ref().and_then(|(digest, _)| {
                let i = digest.chains.binary_search_by_key(&chain_id, |c| c.chain_id).ok()?;
                Some(digest.chains[i].head_pos)
            })
        } else {
            None
        };
        let (expected_prev, position_issue) = match &self.chain {
            // A segment's first entry links to the previous segment's head, judged when
            // the segments are joined.
            None if self.segment_start == Some((chain_id, pos)) => (None, None),
            None if pos == 1 => (Some(GENESIS_PREV_HASH), None),
            None if digest_head.is_some_and(|head| pos == head - 1) => (None, None),
            // The entry before the head is gone, and no checkpoint says it was purged.
            None if digest_head == Some(pos) && after_checkpoint.is_none() => {
                (None, Some(IssueKind::PositionGap { first_missing: pos - 1, last_missing: pos - 1 }))
            }
            Some(walk) if Some(pos) == walk.summary.head_pos.checked_add(1) => (walk.head_hash, None),
            _ if after_checkpoint.is_some() => (after_checkpoint, None),
            Some(walk) => (
                None,
                // Sorted input puts `pos` above the head, so neither bound overflows.
                Some(IssueKind::PositionGap { first_missing: walk.summary.head_pos + 1, last_missing: pos - 1 }),
            ),
            None => {
                let expected_pos = self.checkpoint_before(chain_id, pos).map_or(1, |c| c.chain_pos.saturating_add(1));
                (None, Some(IssueKind::BadChainStart { expected_pos }))
            }
        };
        if self.chain.is_none() {
            self.chain = Some(ChainWalk {
                summary: ChainSummary { chain_id, first_pos: pos, head_pos: pos, head_hash: None, positions: 0 },
                head_hash: None,
            });
        }
        self.group.chain_id = chain_id;
        self.group.pos = pos;
        self.group.expected_prev = expected_prev;
        self.group.position_issue = position_issue;
    }

    /// Checks one entry on its own and against the link the position expects; its
    /// issues wait until the position closes and the genuine entry is known.
    fn check_member(&mut self, entry: &EntryRef<'_>, field_seals: Option<&[u8]>, chain_id: i32, pos: i64) {
        let index = self.group.members.len();
        let entry_hash = to_hash(entry.chain.entry_hash);
        let pending = &mut self.group.pending;
        let first_pending = pending.len();
        let Alone { prev_hash, redacted } =
            check_entry_alone(&mut self.hasher, &mut self.keys, entry, field_seals, chain_id, pos, |kind| {
                pending.push((index, kind))
            });
        // A record vouches for redactions when the key holder wrote it as it is, whatever
        // its neighbours.
        let signed_as_is = self.group.pending.len() == first_pending;
        if signed_as_is
            && claims_redaction(entry, field_seals)
            && !self.redactions.record(entry.content.id, record_details(entry))
        {
            self.group.pending.push((index, IssueKind::MalformedRedactionRecord));
        }
        if !redacted.is_empty() {
            self.redactions.seen = true;
        }
        if let (Some(prev_hash), Some(expected)) = (prev_hash, self.group.expected_prev) {
            if expected != prev_hash {
                self.group.pending.push((index, IssueKind::BrokenLink));
            }
        }
        let sound = self.group.pending.len() == first_pending;
        self.group.members.push(Member { entry_id: entry.content.id, entry_hash, prev_hash, sound, redacted });
    }

    /// Picks the position's genuine entry (the first sound one, else the first), marks
    /// the others duplicates, judges the position against checkpoints and the digest,
    /// and moves the chain's head.
    fn close_group(&mut self) {
        if self.group.members.is_empty() {
            return;
        }
        let (chain_id, pos) = (self.group.chain_id, self.group.pos);
        let genuine = self.group.members.iter().position(|m| m.sound).unwrap_or(0);
        let genuine_hash = self.group.members[genuine].entry_hash;
        if self.segment_start == Some((chain_id, pos)) {
            self.segment_first_prev = self.group.members[genuine].prev_hash;
        }
        let mut extra = Vec::new();
        if let Some(kind) = self.group.position_issue.take() {
            extra.push(kind);
        }
        if let (Some(checkpoint), Some(hash)) = (self.checkpoint_at(chain_id, pos), genuine_hash) {
            if checkpoint.entry_hash != hash {
                extra.push(IssueKind::CheckpointMismatch);
            }
        }
        if let Some((digest, seen)) = &mut self.digest {
            if let Ok(i) = digest.chains.binary_search_by_key(&chain_id, |c| c.chain_id) {
                if digest.chains[i].head_pos == pos {
                    seen[i] = true;
                    if genuine_hash != Some(digest.chains[i].head_hash) {
                        extra.push(IssueKind::DigestHeadMismatch);
                    }
                }
            }
        }
        let Group { members, pending, .. } = &mut self.group;
        let issues = &mut self.report.issues;
        let mut pending = pending.drain(..).peekable();
        for (index, member) in members.iter().enumerate() {
            let issue =
                |kind| Issue { entry_id: Some(member.entry_id), chain_id: Some(chain_id), chain_pos: Some(pos), kind };
            let before = issues.len();
            while let Some((_, kind)) = pending.next_if(|(i, _)| *i == index) {
                issues.push(issue(kind));
            }
            if index == genuine {
                issues.extend(extra.drain(..).map(issue));
            } else {
                issues.push(issue(IssueKind::DuplicatePosition));
            }
            if issues.len() > before {
                self.report.invalid_entries += 1;
            } else if !member.redacted.is_empty() {
                self.redactions.redacted.push(RedactedEntry {
                    entry_id: member.entry_id,
                    chain_id,
                    chain_pos: pos,
                    fields: member.redacted,
                });
            }
        }
        drop(pending);
        self.group.members.clear();
        if let Some(walk) = &mut self.chain {
            walk.summary.head_pos = pos;
            walk.summary.head_hash = genuine_hash;
            walk.summary.positions += 1;
            walk.head_hash = genuine_hash;
        }
    }

    /// Reports valid entries whose redacted fields a redaction record covers as
    /// redacted, and the others' uncovered fields as issues.
    fn judge_redactions(&mut self) {
        let Redactions { recorded, redacted, .. } = &mut self.redactions;
        for entry in redacted.drain(..) {
            let covered = recorded.get(&entry.entry_id).copied().unwrap_or_default();
            let uncovered = entry.fields.difference(covered);
            if uncovered.is_empty() {
                self.report.redacted_entries += 1;
                self.report.redacted.push(entry);
            } else {
                self.report.invalid_entries += 1;
                self.report.issues.push(Issue {
                    entry_id: Some(entry.entry_id),
                    chain_id: Some(entry.chain_id),
                    chain_pos: Some(entry.chain_pos),
                    kind: IssueKind::RedactedWithoutRecord { fields: uncovered },
                });
            }
        }
    }

    fn close_chain(&mut self) {
        if let Some(walk) = self.chain.take() {
            self.report.chains.push(walk.summary);
        }
    }

    /// A digest head no entry was found at is fine only if retention purged it, which a
    /// checkpoint at or after it shows.
    fn judge_unseen_head(&mut self, head: &DigestChain) {
        let kind = match self.checkpoint_from(head.chain_id, head.head_pos) {
            Some(checkpoint) if checkpoint.chain_pos == head.head_pos && checkpoint.entry_hash != head.head_hash => {
                IssueKind::DigestHeadMismatch
            }
            Some(_) => return,
            None => IssueKind::DigestHeadMissing,
        };
        self.report.issues.push(Issue {
            entry_id: None,
            chain_id: Some(head.chain_id),
            chain_pos: Some(head.head_pos),
            kind,
        });
    }
}
