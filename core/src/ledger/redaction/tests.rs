//! Version-2 entries: the encoding against its documented bytes, redaction keeping the
//! chain verifiable, and every change around a redaction still caught.

use sha2::{Digest as _, Sha256};

use super::super::*;
use crate::mac::KeyedMac;

const KEY_NAME: &str = "audit";

fn key() -> KeyedMac {
    KeyedMac::new(b"audit/1/0123456789abcdef")
}

fn keys(name: &str, version: i32) -> Option<KeyedMac> {
    (name == KEY_NAME && version == 1).then(key)
}

/// 160 bytes standing in for `pg_strong_random`: different for every entry and field.
fn random_for(id: i64) -> [u8; FIELD_SEALS_RANDOM_LEN] {
    let mut out = [0; FIELD_SEALS_RANDOM_LEN];
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let block: [u8; 32] = Sha256::digest(format!("salt {id} {i}")).into();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    out
}

/// An owned version-2 row; the redactable columns vary.
#[derive(Clone, Debug)]
struct Row {
    id: i64,
    event_type: String,
    actor: Option<String>,
    resource_id: Option<String>,
    details: Option<String>,
    session_user_name: Option<String>,
    client_addr: Option<String>,
    chain_pos: i64,
    prev_hash: Hash,
    entry_hash: Hash,
    signature: Hash,
    /// `None` for a version-1 row.
    field_seals: Option<Vec<u8>>,
}

impl Row {
    fn content(&self) -> EntryContent<'_> {
        // A redaction record as pg_warden writes it; any other entry a row change.
        let record = self.event_type == REDACTION_EVENT_TYPE;
        EntryContent {
            id: self.id,
            ts: Some(848_729_701_000_000 + self.id),
            event_type: Some(&self.event_type),
            action: Some(if record { REDACTION_ACTION } else { "UPDATE" }),
            actor: self.actor.as_deref(),
            resource_type: Some(if record { "audit_log" } else { "table" }),
            resource_id: self.resource_id.as_deref(),
            tenant: Some("acme"),
            details: self.details.as_deref(),
            session_user_name: self.session_user_name.as_deref(),
            client_addr: self.client_addr.as_deref(),
            txid: Some(900 + self.id),
            ..EntryContent::default()
        }
    }

    fn seals(&self) -> FieldSeals {
        FieldSeals::parse(self.field_seals.as_deref().expect("a v2 row")).expect("well-formed seals")
    }

    /// Takes the redacted fields of `content` over: the UPDATE `redact_audit` runs.
    fn store(&mut self, redacted: FieldSet, seals: &FieldSeals) {
        for column in redacted.iter() {
            match column {
                Column::Actor => self.actor = None,
                Column::ResourceId => self.resource_id = None,
                Column::Details => self.details = None,
                Column::SessionUserName => self.session_user_name = None,
                Column::ClientAddr => self.client_addr = None,
                _ => {}
            }
        }
        self.field_seals = Some(seals.encode());
    }
}

impl LedgerEntry for Row {
    fn entry(&self) -> EntryRef<'_> {
        EntryRef {
            content: self.content(),
            chain: ChainMaterial {
                chain_id: Some(1),
                chain_pos: Some(self.chain_pos),
                prev_hash: Some(&self.prev_hash),
                entry_hash: Some(&self.entry_hash),
                key_name: Some(KEY_NAME),
                key_version: Some(1),
                signature: Some(&self.signature),
            },
        }
    }

    fn field_seals(&self) -> Option<&[u8]> {
        self.field_seals.as_deref()
    }
}

/// One chain of version-2 entries (version 1 where asked), as the trigger writes them.
struct Ledger {
    rows: Vec<Row>,
    head: ChainHead,
}

impl Ledger {
    /// Entries 1..=`n`, each naming a data subject.
    fn new(n: i64) -> Self {
        let mut ledger = Ledger { rows: Vec::new(), head: ChainHead::GENESIS };
        for _ in 0..n {
            let id = ledger.next_id();
            ledger.append(Row {
                actor: Some(format!("user{id}")),
                resource_id: Some(format!("customer:{id}")),
                details: Some(format!(r#"{{"email": "user{id}@example.com"}}"#)),
                session_user_name: Some("app".to_owned()),
                client_addr: Some("192.0.2.1".to_owned()),
                ..ledger.blank("dml")
            });
        }
        ledger
    }

    fn next_id(&self) -> i64 {
        self.rows.len() as i64 + 1
    }

    fn blank(&self, event_type: &str) -> Row {
        Row {
            id: self.next_id(),
            event_type: event_type.to_owned(),
            actor: None,
            resource_id: None,
            details: None,
            session_user_name: Some("warden_admin".to_owned()),
            client_addr: None,
            chain_pos: 0,
            prev_hash: [0; 32],
            entry_hash: [0; 32],
            signature: [0; 32],
            field_seals: Some(FieldSeals::from_random(&random_for(self.next_id())).encode()),
        }
    }

    fn append(&mut self, mut row: Row) -> i64 {
        let mut hasher = EntryHasher::new();
        let link = match &row.field_seals {
            Some(_) => hasher.link_v2(&row.content(), &row.seals(), 1, &self.head, &key()),
            None => hasher.link(&row.content(), 1, &self.head, &key()),
        }
        .expect("link");
        row.chain_pos = link.chain_pos;
        row.prev_hash = link.prev_hash;
        row.entry_hash = link.entry_hash;
        row.signature = link.signature;
        self.head = ChainHead { pos: link.chain_pos, hash: link.entry_hash };
        self.rows.push(row);
        self.head.pos
    }

    fn row(&mut self, id: i64) -> &mut Row {
        &mut self.rows[id as usize - 1]
    }

    /// Redacts `fields` of entry `id` in place, as a superuser editing the row by hand
    /// could: no record. Returns the fields redacted.
    fn redact_by_hand(&mut self, id: i64, fields: &[Column]) -> FieldSet {
        let row = self.row(id);
        let mut seals = row.seals();
        let mut content = row.content();
        let redacted = seals.redact(&mut content, FieldSet::of(fields)).expect("redactable");
        row.store(redacted, &seals);
        redacted
    }

    /// What `warden.redact_audit` does: redacts, then logs the record.
    fn redact(&mut self, id: i64, fields: &[Column]) -> i64 {
        let redacted = self.redact_by_hand(id, fields);
        self.record(&[(id, redacted)])
    }

    fn record(&mut self, targets: &[(i64, FieldSet)]) -> i64 {
        let record = Row {
            actor: Some("dpo".to_owned()),
            resource_id: None,
            details: Some(redaction_details(targets)),
            ..self.blank(REDACTION_EVENT_TYPE)
        };
        let id = record.id;
        self.append(record);
        id
    }

    fn verify(&self) -> Report {
        verify_entries(&self.rows, &[], None, keys)
    }
}

type Found = (Option<i64>, IssueKind);

fn found(report: &Report) -> Vec<Found> {
    report.issues.iter().map(|i| (i.entry_id, i.kind.clone())).collect()
}

fn redacted(report: &Report) -> Vec<(i64, FieldSet)> {
    report.redacted.iter().map(|r| (r.entry_id, r.fields)).collect()
}

fn sample() -> (EntryContent<'static>, FieldSeals) {
    let content = EntryContent {
        id: 1,
        ts: Some(848_729_701_123_456),
        event_type: Some("dml"),
        action: Some("UPDATE"),
        actor: Some("alice"),
        resource_type: Some("table"),
        resource_id: Some("42"),
        tenant: Some("acme"),
        confidence: Some("0.9500"),
        details: Some(r#"{"a": 1}"#),
        session_user_name: Some("alice"),
        client_addr: Some("192.0.2.1"),
        txid: Some(812),
        ..EntryContent::default()
    };
    let mut random = [0u8; FIELD_SEALS_RANDOM_LEN];
    for (i, byte) in random.iter_mut().enumerate() {
        *byte = i as u8;
    }
    (content, FieldSeals::from_random(&random))
}

/// The documented layout, built byte by byte apart from the code under test.
fn documented_encoding(content: &EntryContent<'_>, salts: &[[u8; SALT_LEN]; REDACTABLE_COUNT]) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            None => out.push(0),
            Some(bytes) => {
                out.push(1);
                out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }
    let int = |v: Option<i64>| v.map(|v| v.to_be_bytes().to_vec());
    let text = |v: Option<&str>| v.map(|v| v.as_bytes().to_vec());
    let mut out = vec![0x02, 0, 0, 0, 18];
    out.extend_from_slice(b"pg_warden/audit/v2");
    for value in [
        int(Some(content.id)),
        int(content.ts),
        text(content.event_type),
        text(content.action),
        text(content.resource_type),
        text(content.tenant),
        text(content.confidence),
        int(content.txid),
    ] {
        field(&mut out, value.as_deref());
    }
    let redactable = [
        (4u32, content.actor),
        (6, content.resource_id),
        (7, content.correlation_id),
        (9, content.reason),
        (11, content.details),
        (12, content.before_state),
        (13, content.after_state),
        (14, content.session_user_name),
        (15, content.application_name),
        (16, content.client_addr),
    ];
    for ((index, value), salt) in redactable.iter().zip(salts) {
        let mut preimage = vec![0, 0, 0, 24];
        preimage.extend_from_slice(b"pg_warden/audit/v2/field");
        preimage.extend_from_slice(&index.to_be_bytes());
        preimage.extend_from_slice(salt);
        field(&mut preimage, value.map(str::as_bytes));
        out.extend_from_slice(&Sha256::digest(&preimage));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Encoding

#[test]
fn the_encoding_is_the_documented_bytes() {
    let (content, seals) = sample();
    let mut salts = [[0u8; SALT_LEN]; REDACTABLE_COUNT];
    for (i, salt) in salts.iter_mut().enumerate() {
        for (j, byte) in salt.iter_mut().enumerate() {
            *byte = (i * SALT_LEN + j) as u8;
        }
    }
    assert_eq!(content.encode_v2(&seals).expect("encodes"), documented_encoding(&content, &salts));

    let bytes = seals.encode();
    assert_eq!(bytes.len(), 2 + REDACTABLE_COUNT * (1 + SALT_LEN));
    assert_eq!(&bytes[..4], &[0x02, 10, 0x00, 0x00]);
    assert_eq!(&bytes[2 + 1 + SALT_LEN..2 + 2 + SALT_LEN], &[0x00]);

    // The link is version 1's, over the version-2 bytes.
    let link = EntryHasher::new().link_v2(&content, &seals, 3, &ChainHead::GENESIS, &key()).expect("link");
    let mut preimage = documented_encoding(&content, &salts);
    preimage.extend_from_slice(&3i32.to_be_bytes());
    preimage.extend_from_slice(&1i64.to_be_bytes());
    preimage.extend_from_slice(&GENESIS_PREV_HASH);
    assert_eq!(link.entry_hash, <Hash>::from(Sha256::digest(&preimage)));
    assert_eq!(link.signature, sign_entry_hash(&key(), &link.entry_hash));
    // Never the version-1 hash of the same content.
    let v1 = EntryHasher::new().link(&content, 3, &ChainHead::GENESIS, &key()).expect("link");
    assert_ne!(v1.entry_hash, link.entry_hash);
}

#[test]
fn seals_round_trip_and_refuse_any_other_layout() {
    let (mut content, mut seals) = sample();
    assert_eq!(FieldSeals::parse(&seals.encode()), Some(seals));
    seals.redact(&mut content, FieldSet::of(&[Column::Actor, Column::ClientAddr])).expect("redacts");
    let bytes = seals.encode();
    assert_eq!(bytes.len(), 2 + 8 * (1 + SALT_LEN) + 2 * (1 + HASH_LEN));
    assert_eq!(FieldSeals::parse(&bytes), Some(seals));
    assert_eq!(seals.redacted(), FieldSet::of(&[Column::Actor, Column::ClientAddr]));
    for cut in 0..bytes.len() {
        assert_eq!(FieldSeals::parse(&bytes[..cut]), None, "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(FieldSeals::parse(&longer), None);
    for (at, byte) in [(0, 0x01), (1, 9), (2, 0x02)] {
        let mut changed = bytes.clone();
        changed[at] = byte;
        assert_eq!(FieldSeals::parse(&changed), None, "byte {at}");
    }
}

#[test]
fn salts_of_two_fields_are_independent() {
    let (content, seals) = sample();
    let before = seals.commitments(&content).expect("commitments");
    let mut bytes = seals.encode();
    // Salt of actor (slot 0) changes; resource_id's (slot 1) does not.
    bytes[3] ^= 1;
    let changed = FieldSeals::parse(&bytes).expect("parses").commitments(&content).expect("commitments");
    assert_ne!(before[0], changed[0]);
    assert_eq!(before[1..], changed[1..]);
    // The same value under the same salt commits differently in another field.
    let salt = [7u8; SALT_LEN];
    assert_ne!(
        commit(Column::Actor, &salt, Some("alice")).expect("commit"),
        commit(Column::SessionUserName, &salt, Some("alice")).expect("commit")
    );
    // Redacting one field leaves the other's salt, and its check, as they were.
    let (mut content, mut redacted) = sample();
    redacted.redact(&mut content, FieldSet::of(&[Column::Actor])).expect("redacts");
    assert_eq!(redacted.seal(Column::ResourceId), seals.seal(Column::ResourceId));
    assert_eq!(redacted.commitments(&content).expect("commitments"), before);
    // Every slot of a new entry has its own salt.
    let salts: Vec<_> = REDACTABLE_COLUMNS.iter().map(|c| seals.seal(*c).copied()).collect();
    assert!(salts.iter().enumerate().all(|(i, s)| salts[..i].iter().all(|t| t != s)));
}

#[test]
fn redaction_keeps_the_hash_and_erases_value_and_salt() {
    let (mut content, mut seals) = sample();
    let before = content.encode_v2(&seals).expect("encodes");
    let done = seals.redact(&mut content, FieldSet::of(&[Column::Actor, Column::Details])).expect("redacts");
    assert_eq!(done, FieldSet::of(&[Column::Actor, Column::Details]));
    assert_eq!((content.actor, content.details), (None, None));
    assert!(matches!(seals.seal(Column::Actor), Some(FieldSeal::Redacted(_))));
    assert_eq!(content.encode_v2(&seals).expect("encodes"), before);
    // Nothing of the salt remains in the stored seals.
    let (_, original) = sample();
    let Some(FieldSeal::Open(salt)) = original.seal(Column::Actor) else { panic!("open") };
    assert!(!seals.encode().windows(SALT_LEN).any(|w| w == salt));
    // A second redaction of the same field changes nothing.
    assert_eq!(seals.redact(&mut content, FieldSet::of(&[Column::Actor])), Ok(FieldSet::EMPTY));
    // A value written back into a redacted field no longer encodes.
    let restored = EntryContent { actor: Some("alice"), ..content };
    assert_eq!(restored.encode_v2(&seals), Err(LedgerError::RedactedFieldPresent { column: "actor" }));
}

#[test]
fn non_redactable_fields_are_refused() {
    for column in DIRECT_COLUMNS {
        let (mut content, mut seals) = sample();
        let untouched = (content, seals);
        let fields = FieldSet::of(&[Column::Actor, column]);
        assert_eq!(seals.redact(&mut content, fields), Err(LedgerError::NotRedactable { column: column.name() }));
        assert_eq!((content, seals), untouched, "nothing changes when {} is refused", column.name());
        assert_eq!(commit(column, &[0; SALT_LEN], None), Err(LedgerError::NotRedactable { column: column.name() }));
    }
    // A redaction record's details are what the verifier reads.
    let (content, mut seals) = sample();
    let mut record = EntryContent { event_type: Some(REDACTION_EVENT_TYPE), ..content };
    assert_eq!(
        seals.redact(&mut record, FieldSet::of(&[Column::Details])),
        Err(LedgerError::NotRedactable { column: "details" })
    );
    assert_eq!(seals.redact(&mut record, FieldSet::of(&[Column::Actor])), Ok(FieldSet::of(&[Column::Actor])));
}

#[test]
fn redaction_details_round_trip_and_are_strict() {
    let targets = [(9, FieldSet::of(&[Column::Details])), (4, FieldSet::of(&[Column::ClientAddr, Column::Actor]))];
    let text = redaction_details(&targets);
    assert_eq!(
        text,
        r#"{"redacted": [{"id": 4, "fields": ["actor", "client_addr"]}, {"id": 9, "fields": ["details"]}]}"#
    );
    assert_eq!(parse_redaction_details(&text), Some(vec![targets[1], targets[0]]));
    for bad in [
        r#"{"redacted": []}x"#,
        r#"{"redacted": [{"id": 4, "fields": ["tenant"]}]}"#,
        r#"{"redacted": [{"id": 4, "fields": ["nope"]}]}"#,
        r#"{"redacted": [{"id": 4, "fields": []}]}"#,
        r#"{"redacted": [{"id": 4, "fields": ["actor", "actor"]}]}"#,
        r#"{"redacted": [{"id": 4, "fields": ["actor"]}, {"id": 4, "fields": ["reason"]}]}"#,
        r#"{"redacted": [{"id": "4", "fields": ["actor"]}]}"#,
        r#"{"redacted": [{"id": 4, "fields": ["actor"], "why": 1}]}"#,
        r#"{"redacted": [], "extra": 1}"#,
        r#"{"entries": []}"#,
        r#"[]"#,
    ] {
        assert_eq!(parse_redaction_details(bad), None, "{bad}");
    }
    assert_eq!(parse_redaction_details(r#"{"redacted": []}"#), Some(vec![]));
}

// ---------------------------------------------------------------------------------------
// Verification

#[test]
fn version_two_entries_verify_beside_version_one() {
    let mut ledger = Ledger::new(3);
    let v1 = Row { field_seals: None, actor: Some("bob".to_owned()), ..ledger.blank("login") };
    ledger.append(v1);
    ledger.append(Row { actor: Some("carol".to_owned()), ..ledger.blank("login") });
    let report = ledger.verify();
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!((report.total_entries, report.redacted_entries), (5, 0));
    assert!(report.redacted.is_empty());
}

#[test]
fn a_recorded_redaction_is_valid_and_reported_redacted() {
    let mut ledger = Ledger::new(3);
    let record = ledger.redact(2, &[Column::Actor, Column::Details]);
    assert_eq!(ledger.rows[1].actor, None);
    let report = ledger.verify();
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!((report.total_entries, report.invalid_entries, report.redacted_entries), (4, 0, 1));
    assert_eq!(redacted(&report), vec![(2, FieldSet::of(&[Column::Actor, Column::Details]))]);
    assert_eq!((report.redacted[0].chain_id, report.redacted[0].chain_pos), (1, 2));
    // The record itself is an ordinary valid entry naming no content.
    let details = ledger.rows[record as usize - 1].details.clone().expect("details");
    assert!(!details.contains("user2"), "{details}");
    // Two records may cover one entry between them.
    ledger.redact(2, &[Column::ClientAddr]);
    let report = ledger.verify();
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!(redacted(&report), vec![(2, FieldSet::of(&[Column::Actor, Column::Details, Column::ClientAddr]))]);
}

#[test]
fn a_second_unrecorded_edit_of_a_redacted_entry_is_caught() {
    let mut base = Ledger::new(3);
    base.redact(2, &[Column::Actor]);

    // Another field blanked by hand, its commitment kept: the hash holds, the record
    // does not cover it.
    let mut ledger = Ledger { rows: base.rows.clone(), head: base.head };
    ledger.redact_by_hand(2, &[Column::ResourceId]);
    let report = ledger.verify();
    assert_eq!(
        found(&report),
        vec![(Some(2), IssueKind::RedactedWithoutRecord { fields: FieldSet::of(&[Column::ResourceId]) })]
    );
    assert_eq!((report.invalid_entries, report.redacted_entries), (1, 0));

    // A field that is not redacted changed.
    let mut ledger = Ledger { rows: base.rows.clone(), head: base.head };
    ledger.row(2).details = Some(r#"{"email": "someone@example.com"}"#.to_owned());
    assert_eq!(found(&ledger.verify()), vec![(Some(2), IssueKind::HashMismatch)]);

    // A field blanked without its commitment (set to NULL, seal left open).
    let mut ledger = Ledger { rows: base.rows.clone(), head: base.head };
    ledger.row(2).client_addr = None;
    assert_eq!(found(&ledger.verify()), vec![(Some(2), IssueKind::HashMismatch)]);

    // The erased value written back.
    let mut ledger = Ledger { rows: base.rows.clone(), head: base.head };
    ledger.row(2).actor = Some("user2".to_owned());
    assert_eq!(
        found(&ledger.verify()),
        vec![(Some(2), IssueKind::RedactedButPresent { fields: FieldSet::of(&[Column::Actor]) })]
    );
}

#[test]
fn a_changed_commitment_or_salt_is_caught() {
    let mut ledger = Ledger::new(3);
    ledger.redact(2, &[Column::Actor]);
    let pristine = ledger.rows.clone();

    // The actor seal is the first: tag at byte 2, commitment after it.
    ledger.row(2).field_seals.as_mut().expect("seals")[3] ^= 0x80;
    assert_eq!(found(&ledger.verify()), vec![(Some(2), IssueKind::HashMismatch)]);

    // resource_id's salt, the second seal, after the 33-byte redacted one.
    ledger.rows = pristine.clone();
    ledger.row(2).field_seals.as_mut().expect("seals")[2 + 33 + 1] ^= 1;
    assert_eq!(found(&ledger.verify()), vec![(Some(2), IssueKind::HashMismatch)]);

    // An open seal turned into a redacted one with a made-up commitment.
    ledger.rows = pristine.clone();
    let row = ledger.row(3);
    let mut seals = row.seals();
    let mut content = row.content();
    seals.redact(&mut content, FieldSet::of(&[Column::Actor])).expect("redacts");
    let mut bytes = seals.encode();
    bytes[3] ^= 1;
    row.actor = None;
    row.field_seals = Some(bytes);
    ledger.record(&[(3, FieldSet::of(&[Column::Actor]))]);
    assert_eq!(found(&ledger.verify()), vec![(Some(3), IssueKind::HashMismatch)]);

    // Seals cut short, or removed so the entry reads as version 1.
    ledger.rows = pristine.clone();
    ledger.row(2).field_seals.as_mut().expect("seals").pop();
    assert_eq!(found(&ledger.verify()), vec![(Some(2), IssueKind::FieldSealsMalformed)]);
    ledger.rows = pristine;
    ledger.row(1).field_seals = None;
    assert_eq!(found(&ledger.verify()), vec![(Some(1), IssueKind::HashMismatch)]);
}

#[test]
fn a_redaction_without_a_record_is_flagged() {
    let mut ledger = Ledger::new(3);
    ledger.redact_by_hand(2, &[Column::Actor, Column::Details]);
    let both = FieldSet::of(&[Column::Actor, Column::Details]);
    let report = ledger.verify();
    assert_eq!(found(&report), vec![(Some(2), IssueKind::RedactedWithoutRecord { fields: both })]);
    assert_eq!(
        report.issues[0].to_string(),
        "entry id 2 (chain 1, position 2): actor, details redacted without a redaction record \
         (erased around warden.redact_audit)"
    );

    // A record covering only one of them leaves the other.
    ledger.record(&[(2, FieldSet::of(&[Column::Actor]))]);
    assert_eq!(
        found(&ledger.verify()),
        vec![(Some(2), IssueKind::RedactedWithoutRecord { fields: FieldSet::of(&[Column::Details]) })]
    );

    // A record for another entry, or one written before the entry, covers nothing.
    let mut ledger = Ledger::new(1);
    let early = ledger.record(&[(3, FieldSet::of(&[Column::Actor]))]);
    ledger.record(&[(1, FieldSet::of(&[Column::Details]))]);
    let id = ledger.next_id();
    ledger.append(Row { actor: Some("x".to_owned()), ..ledger.blank("login") });
    assert_eq!((early, id), (2, 4));
    ledger.redact_by_hand(4, &[Column::Actor]);
    ledger.redact_by_hand(1, &[Column::Actor]);
    assert_eq!(
        found(&ledger.verify()),
        vec![
            (Some(1), IssueKind::RedactedWithoutRecord { fields: FieldSet::of(&[Column::Actor]) }),
            (Some(4), IssueKind::RedactedWithoutRecord { fields: FieldSet::of(&[Column::Actor]) }),
        ]
    );
}

#[test]
fn a_record_forged_without_the_key_vouches_for_nothing() {
    let mut ledger = Ledger::new(3);
    ledger.redact_by_hand(2, &[Column::Actor]);
    let record = ledger.record(&[(1, FieldSet::of(&[Column::Details]))]);
    // Rewritten to cover entry 2 and rehashed, as a writer without the key can.
    let row = ledger.row(record);
    row.details = Some(redaction_details(&[(2, FieldSet::of(&[Column::Actor]))]));
    let hash = EntryHasher::new().entry_hash_v2(&row.content(), &row.seals(), 1, row.chain_pos, &row.prev_hash);
    row.entry_hash = hash.expect("hash");
    let report = ledger.verify();
    assert_eq!(
        found(&report),
        vec![
            (Some(record), IssueKind::BadSignature),
            (Some(2), IssueKind::RedactedWithoutRecord { fields: FieldSet::of(&[Column::Actor]) }),
        ]
    );
}

#[test]
fn a_malformed_record_is_reported() {
    let mut ledger = Ledger::new(1);
    let record = ledger.next_id();
    ledger.append(Row {
        details: Some(r#"{"redacted": "everything"}"#.to_owned()),
        ..ledger.blank(REDACTION_EVENT_TYPE)
    });
    assert_eq!(found(&ledger.verify()), vec![(Some(record), IssueKind::MalformedRedactionRecord)]);
}

#[test]
fn segments_holding_redactions_leave_the_verdict_to_one_verifier() {
    let mut ledger = Ledger::new(4);
    ledger.redact(2, &[Column::Actor]);
    let mut verifier = Verifier::segment(&[], None, keys, 1, None);
    for row in &ledger.rows {
        verifier.push_sealed(&row.entry(), row.field_seals()).expect("in order");
    }
    let outcome = verifier.finish_segment();
    assert!(!outcome.clean);
    assert_eq!(Verifier::new(&[], None, keys).finish_segments(&[outcome]), None);
}

// ---------------------------------------------------------------------------------------
// Export

/// The ledger as `export_audit` would write it in format v2; `window` the ids exported
/// as entries, redaction records outside it carried as such.
fn export_v2(ledger: &Ledger, window: std::ops::RangeInclusive<i64>) -> String {
    let mut writer = ExportWriter::new_v2(Vec::new()).expect("header");
    let mut records = Vec::new();
    let mut checkpoints = Vec::new();
    for row in &ledger.rows {
        if window.contains(&row.id) {
            writer.write_sealed_entry(&row.entry(), row.field_seals()).expect("entry");
        } else if row.event_type == REDACTION_EVENT_TYPE && row.id > *window.end() {
            records.push((row.entry(), row.field_seals()));
        }
    }
    if *window.start() > 1 {
        let before = &ledger.rows[*window.start() as usize - 2];
        checkpoints.push(
            Checkpoint::new_signed(1, before.chain_pos, before.entry_hash, 0, KEY_NAME, 1, &key()).expect("checkpoint"),
        );
    }
    String::from_utf8(writer.finish_with_records(&checkpoints, &records).expect("finish")).expect("UTF-8")
}

#[test]
fn an_export_with_redacted_entries_verifies_offline() {
    let mut ledger = Ledger::new(4);
    ledger.append(Row { field_seals: None, actor: Some("v1".to_owned()), ..ledger.blank("login") });
    ledger.redact(2, &[Column::Actor, Column::ClientAddr]);
    let text = export_v2(&ledger, 1..=6);
    assert!(text.starts_with(r#"{"format": "pg_warden-audit-export-v2","#), "{text}");
    assert!(!text.contains(r#""actor": "user2""#), "the erased value is not in the export");
    assert!(text.contains(r#""actor": "user3""#), "{text}");
    let export = parse_export(&text).expect("parses");
    let report = export.verify(None, keys);
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!(redacted(&report), vec![(2, FieldSet::of(&[Column::Actor, Column::ClientAddr]))]);

    // A window whose redaction record lies after it carries the record.
    let window = export_v2(&ledger, 2..=4);
    assert!(window.contains("\"redaction_records\": ["), "{window}");
    let export = parse_export(&window).expect("parses");
    assert_eq!(export.redaction_records.len(), 1);
    let report = export.verify(None, keys);
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!((report.total_entries, report.redacted_entries), (3, 1));

    // Through jsonb (keys reordered) it still verifies.
    let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let reserialized = serde_json::to_string(&value).expect("JSON");
    assert!(parse_export(&reserialized).expect("parses").verify(None, keys).is_valid());
}

#[test]
fn an_edited_export_with_redactions_is_caught() {
    let mut ledger = Ledger::new(3);
    ledger.redact(2, &[Column::Actor]);
    // Without its record the window's redaction is unjustified.
    let mut writer = ExportWriter::new_v2(Vec::new()).expect("header");
    for row in &ledger.rows[..3] {
        writer.write_sealed_entry(&row.entry(), row.field_seals()).expect("entry");
    }
    let text = String::from_utf8(writer.finish(&[]).expect("finish")).expect("UTF-8");
    let report = parse_export(&text).expect("parses").verify(None, keys);
    assert_eq!(
        found(&report),
        vec![(Some(2), IssueKind::RedactedWithoutRecord { fields: FieldSet::of(&[Column::Actor]) })]
    );
    // A second field blanked in the document itself.
    let text = export_v2(&ledger, 1..=4).replacen(r#""resource_id": "customer:2""#, r#""resource_id": null"#, 1);
    let report = parse_export(&text).expect("parses").verify(None, keys);
    assert_eq!(found(&report), vec![(Some(2), IssueKind::HashMismatch)]);
}

#[test]
fn version_one_exports_hold_no_seals() {
    let ledger = Ledger::new(1);
    let row = &ledger.rows[0];
    let mut writer = ExportWriter::new(Vec::new()).expect("header");
    let error = writer.write_sealed_entry(&row.entry(), row.field_seals()).expect_err("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let text = export_v2(&ledger, 1..=1).replace("pg_warden-audit-export-v2", "pg_warden-audit-export-v1");
    let error = parse_export(&text).expect_err("refused");
    assert!(error.to_string().contains("field_seals needs format pg_warden-audit-export-v2"), "{error}");
    let text = r#"{"format": "pg_warden-audit-export-v1", "entries": [], "checkpoints": [], "redaction_records": []}"#;
    let error = parse_export(text).expect_err("refused");
    assert!(error.to_string().contains("redaction_records needs format"), "{error}");
    let text = r#"{"format": "pg_warden-audit-export-v2", "entries": [], "checkpoints": []}"#;
    assert!(parse_export(text).expect("parses").verify(None, keys).is_valid());
}

#[test]
fn inclusion_proofs_carry_version_two_entries() {
    let mut ledger = Ledger::new(2);
    ledger.redact(1, &[Column::Details]);
    let row = &ledger.rows[0];
    let value = export_sealed_entry_value(&row.entry(), row.field_seals()).expect("entry");
    assert!(value.get(FIELD_SEALS_FIELD).is_some());
    let leaves: Vec<Hash> = ledger.rows.iter().map(|r| merkle::leaf_hash(&r.entry_hash)).collect();
    let head = TreeHead::new_signed(3, merkle::root(&leaves), 0, KEY_NAME, 1, &key()).expect("head");
    let proof = merkle::inclusion_proof(&leaves, 0, 3).expect("proof");
    let document = inclusion_document(value, 0, &proof, &head);
    let text = serde_json::to_string(&document).expect("JSON");
    let parsed = InclusionDocument::parse(&text).expect("parses");
    assert!(parsed.verify(keys).is_valid(), "{:?}", parsed.verify(keys).issues);
}

#[test]
fn a_version_1_entry_of_the_record_type_vouches_for_nothing_and_is_no_issue() {
    // pg_warden 0.2.0 let log_event write event type audit_redaction: such an entry,
    // whatever its details, is verified as any entry and covers no redaction.
    let mut ledger = Ledger::new(3);
    let old = Row {
        details: Some("{\"note\": \"0.2.0\"}".to_owned()),
        field_seals: None,
        ..ledger.blank(REDACTION_EVENT_TYPE)
    };
    ledger.append(old);
    assert!(ledger.verify().is_valid(), "{:?}", found(&ledger.verify()));
    ledger.redact_by_hand(2, &[Column::Actor]);
    let details = redaction_details(&[(2, FieldSet::of(&[Column::Actor]))]);
    let forged = Row { details: Some(details), field_seals: None, ..ledger.blank(REDACTION_EVENT_TYPE) };
    ledger.append(forged);
    assert_eq!(
        found(&ledger.verify()),
        vec![(Some(2), IssueKind::RedactedWithoutRecord { fields: FieldSet::of(&[Column::Actor]) })]
    );
}

#[test]
fn the_entry_checker_takes_a_genuine_entry_and_refuses_a_changed_one() {
    let mut ledger = Ledger::new(3);
    ledger.redact(2, &[Column::Actor]);
    let mut checker = EntryChecker::new(keys);
    for row in &ledger.rows {
        assert_eq!(checker.issues(&row.entry(), row.field_seals()), vec![], "entry {}", row.id);
    }
    // Content changed; the value written back into a redacted field; no key.
    let mut changed = ledger.rows[0].clone();
    changed.details = Some("{}".to_owned());
    assert!(matches!(checker.issues(&changed.entry(), changed.field_seals())[..], [IssueKind::HashMismatch]));
    let mut written_back = ledger.rows[1].clone();
    written_back.actor = Some("user2".to_owned());
    assert!(matches!(
        checker.issues(&written_back.entry(), written_back.field_seals())[..],
        [IssueKind::RedactedButPresent { .. }]
    ));
    let mut keyless = EntryChecker::new(|_: &str, _: i32| None);
    assert!(!keyless.issues(&ledger.rows[0].entry(), ledger.rows[0].field_seals()).is_empty());
}
