//! Ledger scenarios: building chains, tampering with them in every way the threat model
//! names, and checking that verification reports the right kind at the right entry.

use std::collections::BTreeMap;

use super::*;
use crate::json::MAX_DEPTH as MAX_DEPTH_OF_JSON;
use crate::mac::KeyedMac;

const KEY_NAME: &str = "audit";

fn secret(name: &str, version: i32) -> Vec<u8> {
    format!("{name}/{version}/0123456789abcdef").into_bytes()
}

/// Key lookup knowing exactly `versions` of [`KEY_NAME`].
fn keys(versions: &[i32]) -> impl FnMut(&str, i32) -> Option<KeyedMac> + '_ {
    move |name, version| {
        (name == KEY_NAME && versions.contains(&version)).then(|| KeyedMac::new(&secret(name, version)))
    }
}

/// An owned row of `warden.audit_log`; only some content columns vary in these tests.
#[derive(Clone, Debug)]
struct Row {
    id: i64,
    ts: Option<i64>,
    action: Option<String>,
    details: Option<String>,
    chain_id: Option<i32>,
    chain_pos: Option<i64>,
    prev_hash: Option<Vec<u8>>,
    entry_hash: Option<Vec<u8>>,
    key_name: Option<String>,
    key_version: Option<i32>,
    signature: Option<Vec<u8>>,
}

impl Row {
    fn content(&self) -> EntryContent<'_> {
        EntryContent {
            id: self.id,
            ts: self.ts,
            event_type: Some("dml"),
            action: self.action.as_deref(),
            actor: Some("alice"),
            resource_type: Some("table"),
            resource_id: Some("public.accounts"),
            details: self.details.as_deref(),
            client_addr: Some("192.0.2.1"),
            ..EntryContent::default()
        }
    }

    fn pos(&self) -> (i32, i64) {
        (self.chain_id.unwrap_or(-1), self.chain_pos.unwrap_or(-1))
    }

    /// Recomputes `entry_hash` over the current content, as a forger without the key can.
    fn rehash(&mut self) {
        let prev: Hash = self.prev_hash.as_deref().unwrap_or(&[]).try_into().expect("32-byte prev_hash");
        let content = self.content();
        let hash = EntryHasher::new()
            .entry_hash(&content, self.chain_id.unwrap_or(0), self.chain_pos.unwrap_or(0), &prev)
            .expect("encodable");
        self.entry_hash = Some(hash.to_vec());
    }
}

impl LedgerEntry for Row {
    fn entry(&self) -> EntryRef<'_> {
        EntryRef {
            content: self.content(),
            chain: ChainMaterial {
                chain_id: self.chain_id,
                chain_pos: self.chain_pos,
                prev_hash: self.prev_hash.as_deref(),
                entry_hash: self.entry_hash.as_deref(),
                key_name: self.key_name.as_deref(),
                key_version: self.key_version,
                signature: self.signature.as_deref(),
            },
        }
    }
}

/// What the insert trigger does: chain heads per chain, rows appended in id order.
#[derive(Default)]
struct Ledger {
    rows: Vec<Row>,
    heads: BTreeMap<i32, ChainHead>,
    checkpoints: Vec<Checkpoint>,
    hasher: EntryHasher,
    last_id: i64,
}

impl Ledger {
    /// `per_chain` entries on each of `chains` chains, written round-robin as concurrent
    /// sessions would, signed with key version 1.
    fn new(chains: i32, per_chain: usize) -> Self {
        let mut ledger = Ledger::default();
        for _ in 0..per_chain {
            for chain in 1..=chains {
                ledger.append(chain, 1);
            }
        }
        ledger
    }

    fn append(&mut self, chain_id: i32, key_version: i32) -> i64 {
        self.last_id += 1;
        let id = self.last_id;
        let mut row = Row {
            id,
            ts: Some(848_729_701_000_000 + id * 1_000),
            action: Some(if id % 3 == 0 { "DELETE" } else { "UPDATE" }.to_owned()),
            details: (id % 2 == 0).then(|| format!(r#"{{"n": {id}, "tags": ["a", "b"]}}"#)),
            chain_id: Some(chain_id),
            chain_pos: None,
            prev_hash: None,
            entry_hash: None,
            key_name: Some(KEY_NAME.to_owned()),
            key_version: Some(key_version),
            signature: None,
        };
        let head = *self.heads.get(&chain_id).unwrap_or(&ChainHead::GENESIS);
        let key = KeyedMac::new(&secret(KEY_NAME, key_version));
        let link = self.hasher.link(&row.content(), chain_id, &head, &key).expect("link");
        row.chain_pos = Some(link.chain_pos);
        row.prev_hash = Some(link.prev_hash.to_vec());
        row.entry_hash = Some(link.entry_hash.to_vec());
        row.signature = Some(link.signature.to_vec());
        self.heads.insert(chain_id, ChainHead { pos: link.chain_pos, hash: link.entry_hash });
        self.rows.push(row);
        id
    }

    fn index(&self, chain_id: i32, pos: i64) -> usize {
        self.rows.iter().position(|r| r.pos() == (chain_id, pos)).expect("row exists")
    }

    fn id(&self, chain_id: i32, pos: i64) -> i64 {
        self.rows[self.index(chain_id, pos)].id
    }

    fn hash(&self, chain_id: i32, pos: i64) -> Hash {
        let row = &self.rows[self.index(chain_id, pos)];
        row.entry_hash.as_deref().expect("hash").try_into().expect("32 bytes")
    }

    fn remove(&mut self, chain_id: i32, pos: i64) -> Row {
        let index = self.index(chain_id, pos);
        self.rows.remove(index)
    }

    /// Retention: checkpoint at `pos`, then purge positions up to it.
    fn purge_through(&mut self, chain_id: i32, pos: i64) {
        let key = KeyedMac::new(&secret(KEY_NAME, 1));
        let checkpoint = Checkpoint::new_signed(chain_id, pos, self.hash(chain_id, pos), 1_000, KEY_NAME, 1, &key)
            .expect("checkpoint");
        self.checkpoints.push(checkpoint);
        self.rows.retain(|r| !(r.chain_id == Some(chain_id) && r.chain_pos.is_some_and(|p| p <= pos)));
    }

    fn verify(&self, digest: Option<&Digest>) -> Report {
        verify_entries(&self.rows, &self.checkpoints, digest, keys(&[1, 2]))
    }

    fn digest(&self) -> Digest {
        let report = self.verify(None);
        assert!(report.is_valid(), "{:?}", report.issues);
        let key = KeyedMac::new(&secret(KEY_NAME, 1));
        Digest::new_signed(2_000, report.digest_heads(), report.total_entries, KEY_NAME, 1, &key).expect("digest")
    }
}

/// An issue as (entry id, chain, position, kind), for compact assertions.
type Found = (Option<i64>, Option<i32>, Option<i64>, IssueKind);

fn found(report: &Report) -> Vec<Found> {
    report.issues.iter().map(|i| (i.entry_id, i.chain_id, i.chain_pos, i.kind.clone())).collect()
}

fn at(ledger: &Ledger, chain: i32, pos: i64, kind: IssueKind) -> Found {
    (Some(ledger.id(chain, pos)), Some(chain), Some(pos), kind)
}

// ---------------------------------------------------------------------------------------
// Encoding

fn sample_content() -> EntryContent<'static> {
    EntryContent {
        id: 1,
        ts: Some(848_729_701_123_456),
        event_type: Some("dml"),
        action: Some("UPDATE"),
        actor: Some("alice"),
        resource_type: Some("table"),
        resource_id: Some("public.accounts:42"),
        correlation_id: None,
        tenant: Some(""),
        reason: None,
        confidence: Some("0.9500"),
        details: Some(r#"{"a": 1}"#),
        before_state: None,
        after_state: Some(r#"{"balance": 10}"#),
        session_user_name: Some("alice"),
        application_name: Some("psql"),
        client_addr: Some("192.0.2.1"),
        txid: Some(812),
    }
}

/// Known answers computed independently (Python hashlib/hmac over the documented bytes).
#[test]
fn known_answer_encoding_hash_and_signature() {
    let content = sample_content();
    assert_eq!(
        hex::encode(content.encode().expect("encodes")),
        "010000001270675f77617264656e2f61756469742f7631\
         01000000080000000000000001\
         0100000008000303ea48588580\
         0100000003646d6c\
         01000000065550444154450100000005616c69636501000000057461626c65\
         01000000127075626c69632e6163636f756e74733a3432\
         00\
         0100000000\
         00\
         0100000006302e39353030\
         01000000087b2261223a20317d\
         00\
         010000000f7b2262616c616e6365223a2031307d\
         0100000005616c69636501000000047073716c01000000093139322e302e322e31\
         0100000008000000000000032c"
    );
    let key = KeyedMac::new(b"k1");
    let mut hasher = EntryHasher::new();
    let first = hasher.link(&content, 3, &ChainHead::GENESIS, &key).expect("link");
    assert_eq!(first.chain_pos, 1);
    assert_eq!(first.prev_hash, GENESIS_PREV_HASH);
    assert_eq!(hex::encode(first.entry_hash), "5bf01ea6397e4d92c4e37607c6bbac5bf9d8c7acce3097cfb916f5ee29917a77");
    assert_eq!(hex::encode(first.signature), "de4c86113c6647b0af8af53368b08695eac87154b4b57ffe41c26edfb1799cf3");
    let second = hasher.link(&content, 3, &ChainHead { pos: 1, hash: first.entry_hash }, &key).expect("link");
    assert_eq!(second.chain_pos, 2);
    assert_eq!(hex::encode(second.entry_hash), "9ae8ad0f698d2b81bb02ea0cdcb515637a5dbc44f05f212151bf38c87a60436b");

    let checkpoint = Checkpoint::new_signed(3, 1, first.entry_hash, 0, "audit", 1, &key).expect("checkpoint");
    assert_eq!(hex::encode(checkpoint.signature), "e5444b10108e061d47fb3062273c03fef90a52657009d151752a0f39a74cc575");
    let heads = vec![DigestChain { chain_id: 3, head_pos: 2, head_hash: second.entry_hash }];
    let digest = Digest::new_signed(0, heads, 2, "audit", 1, &key).expect("digest");
    assert_eq!(hex::encode(digest.signature), "2d53cc09db88e2e8f44dd855219ea4aaa81bd7ffb6e70dd86f82867fa4137fe9");
}

#[test]
fn encoding_is_injective() {
    let base = EntryContent { id: 7, ..EntryContent::default() };
    let variants = [
        base,
        EntryContent { actor: Some(""), ..base },
        EntryContent { reason: Some(""), ..base },
        EntryContent { actor: Some("ab"), reason: Some("c"), ..base },
        EntryContent { actor: Some("a"), reason: Some("bc"), ..base },
        EntryContent { actor: Some("abc"), ..base },
        EntryContent { reason: Some("abc"), ..base },
        EntryContent { ts: Some(0), ..base },
        EntryContent { txid: Some(0), ..base },
        EntryContent { ts: Some(1), ..base },
        EntryContent { details: Some("null"), ..base },
        EntryContent { details: Some("\"\""), ..base },
        EntryContent { action: Some("\0"), ..base },
        EntryContent { id: 8, ..base },
        EntryContent { event_type: Some("x"), ..base },
        EntryContent { action: Some("x"), ..base },
        EntryContent { client_addr: Some("x"), ..base },
        EntryContent { confidence: Some("x"), ..base },
        EntryContent { correlation_id: Some("x"), ..base },
        EntryContent { after_state: Some("x"), ..base },
        EntryContent { before_state: Some("x"), ..base },
        EntryContent { tenant: Some("x"), ..base },
        EntryContent { session_user_name: Some("x"), ..base },
        EntryContent { application_name: Some("x"), ..base },
        EntryContent { resource_type: Some("x"), ..base },
        EntryContent { resource_id: Some("x"), ..base },
    ];
    let encodings: Vec<Vec<u8>> = variants.iter().map(|c| c.encode().expect("encodes")).collect();
    for (i, a) in encodings.iter().enumerate() {
        for (j, b) in encodings.iter().enumerate().skip(i + 1) {
            assert_ne!(a, b, "variants {i} and {j} encode alike");
        }
    }
    // Chain placement is part of the hash too.
    let mut hasher = EntryHasher::new();
    let h =
        |hasher: &mut EntryHasher, chain, pos, prev: &Hash| hasher.entry_hash(&base, chain, pos, prev).expect("hash");
    let reference = h(&mut hasher, 1, 1, &GENESIS_PREV_HASH);
    assert_ne!(reference, h(&mut hasher, 2, 1, &GENESIS_PREV_HASH));
    assert_ne!(reference, h(&mut hasher, 1, 2, &GENESIS_PREV_HASH));
    assert_ne!(reference, h(&mut hasher, 1, 1, &[1; 32]));
}

#[test]
fn linking_past_the_last_position_fails() {
    let head = ChainHead { pos: i64::MAX, hash: [0; 32] };
    let result = EntryHasher::new().link(&sample_content(), 1, &head, &KeyedMac::new(b"k"));
    assert_eq!(result, Err(LedgerError::PositionOverflow));
}

// ---------------------------------------------------------------------------------------
// Verification of untouched ledgers

#[test]
fn untouched_ledger_verifies_in_any_order() {
    let mut ledger = Ledger::new(4, 25);
    let report = ledger.verify(None);
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!((report.total_entries, report.invalid_entries), (100, 0));
    assert_eq!(report.chains.len(), 4);
    assert!(report.chains.iter().all(|c| c.first_pos == 1 && c.head_pos == 25 && c.positions == 25));
    ledger.rows.reverse();
    assert!(ledger.verify(None).is_valid());
    // id order differs from chain order, and that must not matter.
    ledger.rows.sort_by_key(|r| (r.id * 7919) % 101);
    assert!(ledger.verify(None).is_valid());
}

#[test]
fn streaming_verifier_requires_chain_order() {
    let ledger = Ledger::new(2, 3);
    let mut rows = ledger.rows.clone();
    rows.sort_by_key(Row::pos);
    let mut verifier = Verifier::new(&[], None, keys(&[1]));
    for row in &rows {
        verifier.push(&row.entry()).expect("in order");
    }
    assert!(verifier.finish().is_valid());

    let mut verifier = Verifier::new(&[], None, keys(&[1]));
    verifier.push(&rows[1].entry()).expect("first");
    assert_eq!(verifier.push(&rows[0].entry()), Err(LedgerError::OutOfOrder { entry_id: rows[0].id }));
}

// ---------------------------------------------------------------------------------------
// Tampering

#[test]
fn modified_field_is_pinned_to_its_entry() {
    let mut ledger = Ledger::new(3, 10);
    let i = ledger.index(2, 5);
    ledger.rows[i].action = Some("SELECT".to_owned());
    let report = ledger.verify(None);
    assert_eq!(found(&report), vec![at(&ledger, 2, 5, IssueKind::HashMismatch)]);
    assert_eq!(report.invalid_entries, 1);

    // Every content column is covered, NULL included.
    let mut ledger = Ledger::new(1, 3);
    ledger.rows[1].ts = None;
    ledger.rows[2].details = Some(r#"{"n": 3}"#.to_owned());
    let report = ledger.verify(None);
    assert_eq!(
        found(&report),
        vec![at(&ledger, 1, 2, IssueKind::HashMismatch), at(&ledger, 1, 3, IssueKind::HashMismatch)]
    );
}

#[test]
fn rehashed_entry_fails_its_signature_and_the_next_link() {
    let mut ledger = Ledger::new(2, 10);
    let i = ledger.index(1, 4);
    ledger.rows[i].action = Some("SELECT".to_owned());
    ledger.rows[i].rehash();
    let report = ledger.verify(None);
    assert_eq!(
        found(&report),
        vec![at(&ledger, 1, 4, IssueKind::BadSignature), at(&ledger, 1, 5, IssueKind::BrokenLink)]
    );
}

#[test]
fn deleted_middle_entry_shows_as_a_gap_at_its_successor() {
    let mut ledger = Ledger::new(3, 10);
    ledger.remove(3, 6);
    let report = ledger.verify(None);
    assert_eq!(found(&report), vec![at(&ledger, 3, 7, IssueKind::PositionGap { first_missing: 6, last_missing: 6 })]);
    ledger.remove(3, 7);
    ledger.remove(3, 8);
    assert_eq!(
        found(&ledger.verify(None)),
        vec![at(&ledger, 3, 9, IssueKind::PositionGap { first_missing: 6, last_missing: 8 })]
    );
}

#[test]
fn deleted_first_entries_show_as_a_bad_start() {
    let mut ledger = Ledger::new(2, 10);
    ledger.remove(2, 1);
    ledger.remove(2, 2);
    let report = ledger.verify(None);
    assert_eq!(found(&report), vec![at(&ledger, 2, 3, IssueKind::BadChainStart { expected_pos: 1 })]);
}

#[test]
fn deleted_tail_is_caught_by_the_digest() {
    let mut ledger = Ledger::new(3, 10);
    let digest = ledger.digest();
    assert!(ledger.verify(Some(&digest)).is_valid());
    ledger.remove(2, 10);
    ledger.remove(2, 9);
    // A tail deletion leaves a shorter but consistent chain: only the digest knows.
    assert!(ledger.verify(None).is_valid());
    let report = ledger.verify(Some(&digest));
    assert_eq!(found(&report), vec![(None, Some(2), Some(10), IssueKind::DigestHeadMissing)]);
    assert!(report.issues[0].to_string().contains("truncated"), "{}", report.issues[0]);
}

#[test]
fn rewritten_tail_signed_through_the_trigger_is_caught_by_the_digest() {
    let mut ledger = Ledger::new(2, 5);
    let digest = ledger.digest();
    // Someone deletes the head and lets the trigger sign a replacement at the same position.
    ledger.remove(1, 5);
    ledger.heads.insert(1, ChainHead { pos: 4, hash: ledger.hash(1, 4) });
    ledger.append(1, 1);
    assert!(ledger.verify(None).is_valid());
    let report = ledger.verify(Some(&digest));
    assert_eq!(found(&report), vec![at(&ledger, 1, 5, IssueKind::DigestHeadMismatch)]);
}

impl Ledger {
    /// Verification resumed from `since`: the rows at or after each digest head, and
    /// every row of chains the digest does not know, in chain order.
    fn verify_since(&self, since: &Digest) -> Report {
        let start =
            |chain: i32| since.chains.iter().find(|c| c.chain_id == chain).map_or(1, |c| (c.head_pos - 1).max(1));
        let mut rows: Vec<&Row> =
            self.rows.iter().filter(|r| r.chain_pos.unwrap_or(0) >= start(r.chain_id.unwrap_or(0))).collect();
        rows.sort_by_key(|r| r.pos());
        let mut verifier = Verifier::resume(&self.checkpoints, since, keys(&[1, 2]));
        for row in rows {
            verifier.push(&row.entry()).expect("in order");
        }
        verifier.finish()
    }
}

#[test]
fn resumed_verification_reads_only_what_follows_the_heads() {
    let mut ledger = Ledger::new(3, 10);
    let since = ledger.digest();
    let untouched = ledger.verify_since(&since);
    assert!(untouched.is_valid(), "{:?}", untouched.issues);
    assert_eq!(untouched.total_entries, 6, "only the three heads and the entries before them are read");
    for _ in 0..4 {
        ledger.append(2, 1);
    }
    ledger.append(4, 1);
    let grown = ledger.verify_since(&since);
    assert!(grown.is_valid(), "{:?}", grown.issues);
    assert_eq!(grown.total_entries, 6 + 4 + 1);
    let heads: Vec<(i32, i64)> = grown.digest_heads().iter().map(|h| (h.chain_id, h.head_pos)).collect();
    assert_eq!(heads, vec![(1, 10), (2, 14), (3, 10), (4, 1)]);
}

#[test]
fn resumed_verification_catches_new_tampering_and_a_changed_head() {
    let mut ledger = Ledger::new(2, 5);
    let since = ledger.digest();
    ledger.append(1, 1);
    ledger.append(1, 1);
    let index = ledger.index(1, 6);
    ledger.rows[index].action = Some("EDITED".into());
    let report = ledger.verify_since(&since);
    assert_eq!(found(&report), vec![at(&ledger, 1, 6, IssueKind::HashMismatch)]);

    // The head is replaced by an entry the trigger signed: it verifies on its own, but
    // it is not the entry the digest saw.
    let mut ledger = Ledger::new(2, 5);
    let since = ledger.digest();
    ledger.remove(2, 5);
    ledger.heads.insert(2, ChainHead { pos: 4, hash: ledger.hash(2, 4) });
    ledger.append(2, 1);
    let report = ledger.verify_since(&since);
    assert_eq!(found(&report), vec![at(&ledger, 2, 5, IssueKind::DigestHeadMismatch)]);

    // A deleted head (nothing purged) and a truncated chain.
    let mut ledger = Ledger::new(2, 5);
    let since = ledger.digest();
    ledger.remove(1, 5);
    let report = ledger.verify_since(&since);
    assert_eq!(found(&report), vec![(None, Some(1), Some(5), IssueKind::DigestHeadMissing)]);
}

#[test]
fn resumed_verification_judges_the_boundary_on_both_sides() {
    let fresh = || {
        let ledger = Ledger::new(2, 6);
        let since = ledger.digest();
        (ledger, since)
    };
    // Just before the head: an edit, a deletion, an entry inserted at a taken position.
    let (mut ledger, since) = fresh();
    let index = ledger.index(1, 5);
    ledger.rows[index].action = Some("EDITED".into());
    assert_eq!(found(&ledger.verify_since(&since)), vec![at(&ledger, 1, 5, IssueKind::HashMismatch)]);

    let (mut ledger, since) = fresh();
    ledger.remove(1, 5);
    assert_eq!(
        found(&ledger.verify_since(&since)),
        vec![at(&ledger, 1, 6, IssueKind::PositionGap { first_missing: 5, last_missing: 5 })]
    );

    let (mut ledger, since) = fresh();
    let mut copy = ledger.rows[ledger.index(2, 5)].clone();
    copy.id = 1_000;
    copy.chain_id = Some(1);
    ledger.rows.push(copy);
    let report = ledger.verify_since(&since);
    assert!(
        found(&report).iter().any(|f| f.0 == Some(1_000) && f.3 == IssueKind::DuplicatePosition),
        "{:?}",
        report.issues
    );

    // Just after: an edit, a deletion, an entry inserted at a taken position.
    let (mut ledger, since) = fresh();
    ledger.append(1, 1);
    ledger.append(1, 1);
    let index = ledger.index(1, 7);
    ledger.rows[index].action = Some("EDITED".into());
    assert_eq!(found(&ledger.verify_since(&since)), vec![at(&ledger, 1, 7, IssueKind::HashMismatch)]);

    let (mut ledger, since) = fresh();
    ledger.append(1, 1);
    ledger.append(1, 1);
    ledger.remove(1, 7);
    assert_eq!(
        found(&ledger.verify_since(&since)),
        vec![at(&ledger, 1, 8, IssueKind::PositionGap { first_missing: 7, last_missing: 7 })]
    );

    let (mut ledger, since) = fresh();
    ledger.append(1, 1);
    let mut copy = ledger.rows[ledger.index(2, 6)].clone();
    copy.id = 2_000;
    copy.chain_id = Some(1);
    copy.chain_pos = Some(7);
    ledger.rows.push(copy);
    let report = ledger.verify_since(&since);
    assert!(
        found(&report).iter().any(|f| f.0 == Some(2_000) && f.3 == IssueKind::DuplicatePosition),
        "{:?}",
        report.issues
    );
}

#[test]
fn resumed_verification_follows_retention_past_a_head() {
    let mut ledger = Ledger::new(2, 5);
    let since = ledger.digest();
    ledger.append(1, 1);
    ledger.append(1, 1);
    ledger.purge_through(1, 6);
    let report = ledger.verify_since(&since);
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!(report.total_entries, 3, "chain 1 from position 7, chain 2's head and the entry before it");
}

#[test]
fn forged_entries_fail_their_signature() {
    let mut ledger = Ledger::new(2, 6);
    // Appended at the head, hash computed correctly, signed with a guessed key.
    let mut forged = ledger.rows[ledger.index(1, 6)].clone();
    forged.id = 1000;
    forged.chain_pos = Some(7);
    forged.prev_hash = Some(ledger.hash(1, 6).to_vec());
    forged.rehash();
    forged.signature = Some(KeyedMac::new(b"guess").tag(forged.entry_hash.as_deref().expect("hash")).to_vec());
    ledger.rows.push(forged);
    let report = ledger.verify(None);
    assert_eq!(found(&report), vec![(Some(1000), Some(1), Some(7), IssueKind::BadSignature)]);
}

#[test]
fn inserted_entry_at_a_taken_position_is_the_duplicate_whatever_its_id() {
    let mut ledger = Ledger::new(2, 6);
    let mut forged = ledger.rows[ledger.index(2, 3)].clone();
    forged.id = -5;
    forged.action = Some("GRANT".to_owned());
    forged.rehash();
    forged.signature = Some([7; 32].to_vec());
    // Placed first, so it is seen before the genuine entry.
    ledger.rows.insert(0, forged);
    let report = ledger.verify(None);
    assert_eq!(
        found(&report),
        vec![
            (Some(-5), Some(2), Some(3), IssueKind::BadSignature),
            (Some(-5), Some(2), Some(3), IssueKind::DuplicatePosition),
        ]
    );
    assert_eq!(report.invalid_entries, 1);
}

#[test]
fn copied_entries_are_caught_in_place_and_elsewhere() {
    // Copied to the head of another chain: the hash covers chain and position.
    let mut ledger = Ledger::new(2, 5);
    let mut copy = ledger.rows[ledger.index(1, 3)].clone();
    copy.id = 500;
    copy.chain_id = Some(2);
    copy.chain_pos = Some(6);
    ledger.rows.push(copy);
    let report = ledger.verify(None);
    assert_eq!(
        found(&report),
        vec![
            (Some(500), Some(2), Some(6), IssueKind::HashMismatch),
            (Some(500), Some(2), Some(6), IssueKind::BrokenLink)
        ]
    );

    // Copied verbatim under a new id at its own position.
    let mut ledger = Ledger::new(2, 5);
    let mut copy = ledger.rows[ledger.index(1, 3)].clone();
    copy.id = 501;
    ledger.rows.insert(0, copy);
    let report = ledger.verify(None);
    assert_eq!(
        found(&report),
        vec![
            (Some(501), Some(1), Some(3), IssueKind::HashMismatch),
            (Some(501), Some(1), Some(3), IssueKind::DuplicatePosition)
        ]
    );
}

#[test]
fn swapped_positions_fail_both_entries() {
    let mut ledger = Ledger::new(2, 8);
    let (a, b) = (ledger.index(2, 3), ledger.index(2, 6));
    let (id_a, id_b) = (ledger.rows[a].id, ledger.rows[b].id);
    ledger.rows[a].chain_pos = Some(6);
    ledger.rows[b].chain_pos = Some(3);
    let report = ledger.verify(None);
    let mismatched: Vec<_> =
        report.issues.iter().filter(|i| i.kind == IssueKind::HashMismatch).map(|i| (i.entry_id, i.chain_pos)).collect();
    assert_eq!(mismatched, vec![(Some(id_b), Some(3)), (Some(id_a), Some(6))]);
    // Each neighbour after a moved entry no longer links.
    let broken: Vec<_> =
        report.issues.iter().filter(|i| i.kind == IssueKind::BrokenLink).map(|i| i.chain_pos).collect();
    assert_eq!(broken, vec![Some(3), Some(4), Some(6), Some(7)]);
    assert_eq!(report.invalid_entries, 4);
}

#[test]
fn rows_written_around_the_trigger_are_reported() {
    let mut ledger = Ledger::new(1, 3);
    let mut bypass = ledger.rows[0].clone();
    bypass.id = 99;
    bypass.chain_id = None;
    bypass.chain_pos = None;
    bypass.prev_hash = None;
    bypass.entry_hash = None;
    bypass.signature = None;
    ledger.rows.push(bypass);
    let i = ledger.index(1, 2);
    ledger.rows[i].prev_hash = Some(vec![0; 31]);
    let report = ledger.verify(None);
    assert_eq!(
        found(&report),
        vec![(Some(99), None, None, IssueKind::Unchained), at(&ledger, 1, 2, IssueKind::MalformedChainMaterial),]
    );
    assert_eq!(report.invalid_entries, 2);
}

// ---------------------------------------------------------------------------------------
// Keys

#[test]
fn key_rotation_mid_chain_verifies_with_both_versions() {
    let mut ledger = Ledger::new(2, 5);
    for _ in 0..5 {
        ledger.append(1, 2);
        ledger.append(2, 2);
    }
    assert!(ledger.verify(None).is_valid());

    let report = verify_entries(&ledger.rows, &[], None, keys(&[2]));
    assert_eq!(report.invalid_entries, 10);
    let unknown = IssueKind::UnknownKey { key_name: KEY_NAME.to_owned(), key_version: 1 };
    assert!(report.issues.iter().all(|i| i.kind == unknown && i.chain_pos.is_some_and(|p| p <= 5)));

    // A wrong secret for version 1 is a bad signature, not an unknown key.
    let wrong_v1 = |name: &str, version: i32| match version {
        1 => Some(KeyedMac::new(b"not the secret")),
        _ => Some(KeyedMac::new(&secret(name, version))),
    };
    let report = verify_entries(&ledger.rows, &[], None, wrong_v1);
    assert_eq!(report.issues.len(), 10);
    assert!(report.issues.iter().all(|i| i.kind == IssueKind::BadSignature));
}

#[test]
fn key_lookup_runs_once_per_version() {
    let mut ledger = Ledger::new(3, 20);
    ledger.append(1, 2);
    let mut calls = Vec::new();
    let report = verify_entries(&ledger.rows, &[], None, |name: &str, version| {
        calls.push((name.to_owned(), version));
        Some(KeyedMac::new(&secret(name, version)))
    });
    assert!(report.is_valid());
    assert_eq!(calls, vec![(KEY_NAME.to_owned(), 1), (KEY_NAME.to_owned(), 2)]);
}

// ---------------------------------------------------------------------------------------
// Retention checkpoints

#[test]
fn purged_chain_verifies_from_its_checkpoint() {
    let mut ledger = Ledger::new(2, 10);
    ledger.purge_through(1, 4);
    let report = ledger.verify(None);
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!(report.chains[0].first_pos, 5);

    // Deleting past the checkpoint is still caught, relative to it.
    ledger.remove(1, 5);
    assert_eq!(found(&ledger.verify(None)), vec![at(&ledger, 1, 6, IssueKind::BadChainStart { expected_pos: 5 })]);
}

#[test]
fn checkpoint_before_its_purge_must_agree_with_the_entry() {
    let mut ledger = Ledger::new(1, 6);
    let key = KeyedMac::new(&secret(KEY_NAME, 1));
    let good = Checkpoint::new_signed(1, 3, ledger.hash(1, 3), 0, KEY_NAME, 1, &key).expect("checkpoint");
    ledger.checkpoints.push(good);
    assert!(ledger.verify(None).is_valid());
    // Signed, but over another hash than the entry holds.
    ledger.checkpoints[0] = Checkpoint::new_signed(1, 3, [9; 32], 0, KEY_NAME, 1, &key).expect("checkpoint");
    assert_eq!(found(&ledger.verify(None)), vec![at(&ledger, 1, 3, IssueKind::CheckpointMismatch)]);
}

#[test]
fn forged_checkpoint_vouches_for_nothing() {
    let mut ledger = Ledger::new(2, 10);
    // An attacker deletes the oldest entries and forges the checkpoint retention would write.
    let hash = ledger.hash(2, 4);
    ledger.rows.retain(|r| !(r.chain_id == Some(2) && r.chain_pos.is_some_and(|p| p <= 4)));
    let forged = Checkpoint::new_signed(2, 4, hash, 0, KEY_NAME, 1, &KeyedMac::new(b"guess")).expect("checkpoint");
    ledger.checkpoints.push(forged);
    assert_eq!(
        found(&ledger.verify(None)),
        vec![
            (None, Some(2), Some(4), IssueKind::CheckpointBadSignature),
            at(&ledger, 2, 5, IssueKind::BadChainStart { expected_pos: 1 }),
        ]
    );
    let other_key = Checkpoint::new_signed(2, 4, hash, 0, "other", 1, &KeyedMac::new(b"x")).expect("checkpoint");
    ledger.checkpoints = vec![other_key];
    assert_eq!(
        found(&ledger.verify(None))[0],
        (None, Some(2), Some(4), IssueKind::CheckpointUnknownKey { key_name: "other".to_owned(), key_version: 1 })
    );
}

#[test]
fn fully_purged_chain_continues_from_its_checkpoint() {
    let mut ledger = Ledger::new(1, 5);
    let digest = ledger.digest();
    ledger.purge_through(1, 5);
    assert!(ledger.rows.is_empty());
    // The digest's head is covered by the checkpoint.
    assert!(ledger.verify(Some(&digest)).is_valid());
    // The trigger continues the chain from the checkpoint's head.
    ledger.heads.insert(1, ledger.checkpoints[0].head());
    ledger.append(1, 1);
    ledger.append(1, 1);
    let report = ledger.verify(Some(&digest));
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!((report.chains[0].first_pos, report.chains[0].head_pos), (6, 7));
}

#[test]
fn digest_head_purged_past_is_covered_but_a_mismatching_checkpoint_is_not() {
    let mut ledger = Ledger::new(1, 8);
    let mut digest = ledger.digest();
    digest.chains[0].head_pos = 5;
    digest.chains[0].head_hash = ledger.hash(1, 5);
    let key = KeyedMac::new(&secret(KEY_NAME, 1));
    digest = Digest::new_signed(digest.generated_at, digest.chains, 5, KEY_NAME, 1, &key).expect("digest");
    ledger.purge_through(1, 7);
    assert!(ledger.verify(Some(&digest)).is_valid());

    let mut ledger = Ledger::new(1, 8);
    ledger.purge_through(1, 8);
    ledger.checkpoints[0] = Checkpoint::new_signed(1, 5, [1; 32], 0, KEY_NAME, 1, &key).expect("checkpoint");
    assert_eq!(found(&ledger.verify(Some(&digest))), vec![(None, Some(1), Some(5), IssueKind::DigestHeadMismatch)]);
}

// ---------------------------------------------------------------------------------------
// Digests

#[test]
fn digest_round_trips_and_verifies() {
    let ledger = Ledger::new(3, 4);
    let digest = ledger.digest();
    assert!(digest.signature_valid(&KeyedMac::new(&secret(KEY_NAME, 1))));
    let text = digest.to_json();
    assert_eq!(Digest::parse(&text), Ok(digest.clone()));
    assert!(text.starts_with("{\"format\": \"pg_warden-digest-v1\""), "{text}");
    assert!(ledger.verify(Some(&Digest::parse(&text).expect("parses"))).is_valid());
}

#[test]
fn forged_or_edited_digest_is_rejected() {
    let ledger = Ledger::new(2, 4);
    let digest = ledger.digest();
    let text = digest.to_json();

    // Moving a head back to hide a truncation breaks the signature.
    let edited = text.replace("\"head_pos\": 4", "\"head_pos\": 3");
    let edited = Digest::parse(&edited).expect("still well-formed");
    let report = ledger.verify(Some(&edited));
    assert_eq!(found(&report)[0], (None, None, None, IssueKind::DigestBadSignature));

    let mut counted = digest.clone();
    counted.total_entries += 1;
    assert!(!counted.signature_valid(&KeyedMac::new(&secret(KEY_NAME, 1))));

    let forged =
        Digest::new_signed(0, digest.chains.clone(), 8, KEY_NAME, 1, &KeyedMac::new(b"guess")).expect("digest");
    assert_eq!(found(&ledger.verify(Some(&forged))), vec![(None, None, None, IssueKind::DigestBadSignature)]);

    let unknown = Digest::new_signed(0, digest.chains.clone(), 8, KEY_NAME, 9, &KeyedMac::new(b"x")).expect("digest");
    assert_eq!(
        found(&ledger.verify(Some(&unknown))),
        vec![(None, None, None, IssueKind::DigestUnknownKey { key_name: KEY_NAME.to_owned(), key_version: 9 })]
    );
}

#[test]
fn digest_carries_a_tree_head_under_its_signature() {
    let ledger = Ledger::new(2, 3);
    let report = ledger.verify(None);
    let key = KeyedMac::new(&secret(KEY_NAME, 1));
    let head = TreeHead::new_signed(6, [7; 32], 3_000, KEY_NAME, 1, &key).expect("head");
    let digest =
        Digest::new_signed_with_tree_head(2_000, report.digest_heads(), 6, Some(head.clone()), KEY_NAME, 1, &key)
            .expect("digest");
    let parsed = Digest::parse(&digest.to_json()).expect("parses");
    assert_eq!(parsed, digest);
    assert!(parsed.signature_valid(&key));
    assert_eq!(parsed.tree_head.as_ref().map(|h| h.tree_size), Some(6));
    // Another validly signed head put in its place breaks the digest's signature.
    let mut swapped = parsed.clone();
    swapped.tree_head = Some(TreeHead::new_signed(5, [8; 32], 3_000, KEY_NAME, 1, &key).expect("head"));
    assert!(!swapped.signature_valid(&key));
    // Without a tree head the encoding is the one earlier versions signed.
    let plain = Digest::new_signed(2_000, report.digest_heads(), 6, KEY_NAME, 1, &key).expect("digest");
    let mut stripped = digest.clone();
    stripped.tree_head = None;
    assert_eq!(stripped.signed_bytes().unwrap(), plain.signed_bytes().unwrap());
    assert!(!plain.to_json().contains("tree_head"));
}

#[test]
fn digest_chain_order_does_not_change_its_signature() {
    let key = KeyedMac::new(b"k");
    let a = DigestChain { chain_id: 1, head_pos: 3, head_hash: [1; 32] };
    let b = DigestChain { chain_id: 2, head_pos: 5, head_hash: [2; 32] };
    let one = Digest::new_signed(0, vec![a, b], 8, "k", 1, &key).expect("digest");
    let two = Digest::new_signed(0, vec![b, a], 8, "k", 1, &key).expect("digest");
    assert_eq!(one, two);
    assert_eq!(
        Digest::new_signed(0, vec![a, a], 8, "k", 1, &key),
        Err(LedgerError::DuplicateDigestChain { chain_id: 1 })
    );
}

#[test]
fn malformed_digests_are_refused() {
    let ledger = Ledger::new(1, 2);
    let good = ledger.digest().to_json();
    let cases = [
        String::new(),
        "[]".to_owned(),
        good.replace("pg_warden-digest-v1", "pg_warden-digest-v2"),
        good.replace("\"total_entries\"", "\"total\""),
        good.replace("\"key_version\": 1", "\"key_version\": 1.0"),
        good.replace("\"key_version\": 1", "\"key_version\": 99999999999"),
        good.replace("\"signature\": \"", "\"signature\": \"0"),
        good.replace("\"generated_at\": \"2000", "\"generated_at\": \"20000"),
        good.replace("\"head_pos\"", "\"head\""),
        good.replace("]", &format!(", {{\"chain_id\": 1, \"head_pos\": 1, \"head_hash\": \"{}\"}}]", "0".repeat(64))),
        good.replace("}\n", "} x"),
        good.replace("\"format\"", "\"key_name\": \"a\", \"format\""),
    ];
    for case in cases {
        let result = Digest::parse(&case);
        assert!(result.is_err(), "accepted: {case}");
    }
}

// ---------------------------------------------------------------------------------------
// Exports

/// A new export holding `contents` linked on chain 1 and signed by version 1 of the test
/// key, ready for its checkpoints.
fn signed_export_writer<'c>(contents: impl IntoIterator<Item = EntryContent<'c>>) -> ExportWriter<Vec<u8>> {
    let key = KeyedMac::new(&secret(KEY_NAME, 1));
    let mut out = ExportWriter::new(Vec::new()).expect("header");
    let mut hasher = EntryHasher::new();
    let mut head = ChainHead::GENESIS;
    for content in contents {
        let link = hasher.link(&content, 1, &head, &key).expect("link");
        head = ChainHead { pos: link.chain_pos, hash: link.entry_hash };
        out.write_entry(&EntryRef { content, chain: link.material(1, KEY_NAME, 1) }).expect("entry");
    }
    out
}

/// Rows with every column set, tricky values included.
fn full_export_ledger() -> (Vec<(String, Option<String>)>, String) {
    let key = KeyedMac::new(&secret(KEY_NAME, 1));
    let texts: Vec<(String, Option<String>)> = vec![
        ("plain".to_owned(), Some(r#"{"a": 1, "bb": [1, 2], "ccc": {"x": null}}"#.to_owned())),
        (
            "quote \" backslash \\ tab \t nl \n ctl \u{1} é 中 😀 /".to_owned(),
            Some(r#"{"s": "\u0001 \" é"}"#.to_owned()),
        ),
        (String::new(), Some("null".to_owned())),
        ("no details".to_owned(), None),
        ("numbers".to_owned(), Some("[1.50, 0.000001, -12345678901234567890.5, 0]".to_owned())),
    ];
    let contents = texts.iter().enumerate().map(|(i, (text, details))| EntryContent {
        id: i as i64 + 1,
        ts: Some(-1 + i as i64 * 1_234_567),
        event_type: Some("dml"),
        action: Some(text),
        actor: Some("alice"),
        resource_type: Some("table"),
        resource_id: Some("public.t:1"),
        correlation_id: (i % 2 == 0).then_some("c-1"),
        tenant: Some(""),
        reason: None,
        confidence: Some("0.9500"),
        details: details.as_deref(),
        before_state: (i == 1).then_some(r#"{"balance": 10}"#),
        after_state: (i == 1).then_some(r#"{"balance": 20}"#),
        session_user_name: Some("alice"),
        application_name: Some("psql"),
        client_addr: Some("2001:db8::1"),
        txid: Some(900 + i as i64),
    });
    let out = signed_export_writer(contents);
    let checkpoint = Checkpoint::new_signed(2, 10, [3; 32], 5, KEY_NAME, 1, &key).expect("checkpoint");
    let bytes = out.finish(&[checkpoint]).expect("finish");
    (texts, String::from_utf8(bytes).expect("UTF-8"))
}

#[test]
fn export_round_trips_and_verifies() {
    let (texts, document) = full_export_ledger();
    let export = parse_export(&document).expect("parses");
    assert_eq!(export.entries.len(), texts.len());
    for (entry, (text, details)) in export.entries.iter().zip(&texts) {
        assert_eq!(entry.entry().content.action, Some(text.as_str()));
        assert_eq!(entry.entry().content.details, details.as_deref());
    }
    assert_eq!(export.checkpoints.len(), 1);
    let report = export.verify(None, keys(&[1]));
    assert!(report.is_valid(), "{:?}", report.issues);
    assert_eq!(report.total_entries, 5);
}

#[test]
fn reserialized_export_still_verifies() {
    // An auditor's tools may reorder keys and reformat; the content is what counts.
    let (_, document) = full_export_ledger();
    let value = crate::json::parse(&document).expect("JSON");
    let compact = value.to_string();
    let report = parse_export(&compact).expect("parses").verify(None, keys(&[1]));
    assert!(report.is_valid(), "{:?}", report.issues);
}

#[test]
fn edited_export_is_rejected_at_the_edited_entry() {
    let (_, document) = full_export_ledger();
    for (from, to, id) in [
        ("\"action\": \"plain\"", "\"action\": \"pla1n\"", 1),
        ("\"bb\": [1, 2]", "\"bb\": [1, 3]", 1),
        ("1.50", "1.5", 5),
        ("\"details\": null", "\"details\": {}", 3),
        ("\"correlation_id\": \"c-1\", \"tenant\": \"\", \"reason\": null, \"confidence\": \"0.9500\", \"details\": [", "\"correlation_id\": \"c-2\", \"tenant\": \"\", \"reason\": null, \"confidence\": \"0.9500\", \"details\": [", 5),
        ("\"txid\": 902", "\"txid\": 903", 3),
        ("\"client_addr\": \"2001:db8::1\", \"txid\": 901", "\"client_addr\": \"2001:db8::2\", \"txid\": 901", 2),
    ] {
        assert!(document.contains(from), "{from}");
        let edited = document.replacen(from, to, 1);
        let report = parse_export(&edited).expect("parses").verify(None, keys(&[1]));
        assert_eq!(found(&report), vec![(Some(id), Some(1), Some(id), IssueKind::HashMismatch)], "{from}");
    }
    // SQL NULL details (field left out) versus jsonb null.
    let edited = document.replacen(", \"details\": null", "", 1);
    let report = parse_export(&edited).expect("parses").verify(None, keys(&[1]));
    assert_eq!(found(&report), vec![(Some(3), Some(1), Some(3), IssueKind::HashMismatch)]);
}

#[test]
fn malformed_exports_are_refused_with_a_location() {
    let (_, document) = full_export_ledger();
    let first_entry_line = 3;
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "expected '{'"),
        ("{}".to_owned(), "missing field format"),
        (document.replace("pg_warden-audit-export-v1", "pg_warden-audit-export-v0"), "not a pg_warden-audit-export-v1"),
        (document.replacen("\"id\": 1,", "", 1), "missing column id"),
        (document.replacen("\"id\": 1,", "\"id\": 1, \"id\": 1,", 1), "column id appears twice"),
        (document.replacen("\"id\": 1,", "\"id\": 1, \"colour\": 1,", 1), "unknown column"),
        (document.replacen("\"id\": 1,", "\"id\": \"1\",", 1), "entries[0]: id: expected an integer"),
        (document.replacen("\"id\": 1,", "\"id\": 1.0,", 1), "expected an integer"),
        (document.replacen("\"id\": 1,", "\"id\": 9223372036854775808,", 1), "integer out of range"),
        (document.replacen("\"chain_id\": 1,", "\"chain_id\": 2147483648,", 1), "integer out of range"),
        (document.replacen("\"ts\": \"", "\"ts\": \"x", 1), "ISO 8601"),
        (document.replacen("\"prev_hash\": \"0", "\"prev_hash\": \"g", 1), "expected hex digits"),
        (document.replacen("\"actor\": \"alice\"", "\"actor\": \"al\u{1}ice\"", 1), "control character"),
        (document.replacen("\"actor\": \"alice\"", "\"actor\": \"al\\qice\"", 1), "invalid string escape"),
        (document.replacen("\"details\": {", "\"details\": {,", 1), "invalid JSON value"),
        (document.replacen("\"details\": {\"a\": 1", "\"details\": {\"a\": 1e131071", 1), "exponent"),
        (document.replacen("\"entries\"", "\"entries\": [], \"entries\"", 1), "field entries appears twice"),
        (document.replacen("\"checkpoints\": [", "\"checkpoints\": [{}, ", 1), "a checkpoint needs"),
        (document.replacen("\"created_at\"", "\"made_at\"", 1), "unknown field"),
        (format!("{document} {{}}"), "unexpected text after the document"),
        (document.replacen("}\n ],", "} x,", 1), "expected ',' or ']'"),
    ];
    for (case, message) in cases {
        match parse_export(&case) {
            Ok(_) => panic!("accepted, expected {message}"),
            Err(e) => assert!(e.to_string().contains(message), "{message} not in {e}"),
        }
    }
    // Errors point at the line of the culprit.
    let edited = document.replacen("\"id\": 1,", "\"id\": true,", 1);
    let error = parse_export(&edited).expect_err("refused");
    assert_eq!(error.line, first_entry_line, "{error}");
    // Deep nesting inside a jsonb column is bounded.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let edited = document.replacen("\"details\": {\"a\": 1", &format!("\"details\": {{\"a\": {deep}"), 1);
    let error = parse_export(&edited).expect_err("refused");
    assert!(error.to_string().contains("nested deeper"), "{error}");
}

#[test]
fn every_truncation_and_many_corruptions_are_refused_without_panic() {
    let (_, document) = full_export_ledger();
    for end in 0..document.len() {
        if document.is_char_boundary(end) && !document[end..].trim().is_empty() {
            assert!(parse_export(&document[..end]).is_err(), "prefix of {end} bytes accepted");
        }
    }
    let bytes = document.as_bytes();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..5000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut corrupt = bytes.to_vec();
        let at = (state % corrupt.len() as u64) as usize;
        corrupt[at] = b"{}[]\",:0aZ\\ -e.n"[(state >> 40) as usize % 16];
        if let Ok(text) = std::str::from_utf8(&corrupt) {
            if let Ok(export) = parse_export(text) {
                // Whatever parses must verify without panicking.
                export.verify(None, keys(&[1]));
            }
        }
    }
}

#[test]
fn export_hex_is_read_in_either_case_and_odd_lengths_are_reported() {
    let (_, document) = full_export_ledger();
    let mut upper = document.clone();
    for field in ["\"prev_hash\": \"", "\"entry_hash\": \"", "\"signature\": \""] {
        let mut rebuilt = String::new();
        let mut rest = upper.as_str();
        while let Some(at) = rest.find(field) {
            let start = at + field.len();
            rebuilt.push_str(&rest[..start]);
            rebuilt.push_str(&rest[start..start + 64].to_uppercase());
            rest = &rest[start + 64..];
        }
        rebuilt.push_str(rest);
        upper = rebuilt;
    }
    assert_ne!(upper, document);
    assert!(parse_export(&upper).expect("parses").verify(None, keys(&[1])).is_valid());
    // A stored hash of the wrong length is the row's problem, not the document's.
    let short = document.replacen("\"signature\": \"", "\"signature\": \"00", 1);
    let report = parse_export(&short).expect("parses").verify(None, keys(&[1]));
    assert_eq!(found(&report), vec![(Some(1), Some(1), Some(1), IssueKind::MalformedChainMaterial)]);
}

#[test]
fn export_writer_refuses_text_postgres_would_not_print() {
    let content = EntryContent { id: 1, details: Some(r#"{"b":1,"a":2}"#), ..EntryContent::default() };
    let mut writer = ExportWriter::new(Vec::new()).expect("header");
    let error = writer.write_entry(&EntryRef { content, ..EntryRef::default() }).expect_err("refused");
    assert!(error.to_string().contains("details is not PostgreSQL jsonb output text"), "{error}");
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` levels of objects, as PostgreSQL prints them.
fn nested_objects(depth: usize) -> String {
    format!("{}{{\"leaf\": \"x\"}}{}", r#"{"a": "#.repeat(depth - 1), "}".repeat(depth - 1))
}

/// A signed export of one chain whose entries carry `documents` as details and before
/// state.
fn export_of_documents(documents: &[String]) -> String {
    let contents = documents.iter().enumerate().map(|(i, doc)| EntryContent {
        id: i as i64 + 1,
        ts: Some(i as i64),
        event_type: Some("t"),
        action: Some("deep"),
        details: Some(doc),
        before_state: Some(doc),
        after_state: Some("[]"),
        ..EntryContent::default()
    });
    String::from_utf8(signed_export_writer(contents).finish(&[]).expect("finish")).expect("UTF-8")
}

#[test]
fn the_depth_rule_takes_the_limit_and_refuses_one_level_more() {
    assert_eq!(JSONB_MAX_DEPTH, 124);
    for doc in [nested_arrays(JSONB_MAX_DEPTH), nested_objects(JSONB_MAX_DEPTH), "null".to_owned(), "{}".to_owned()] {
        assert_eq!(check_jsonb_depth("details", &doc), Ok(()));
    }
    for depth in [JSONB_MAX_DEPTH + 1, 200, 100_000] {
        for doc in [nested_arrays(depth), nested_objects(depth)] {
            let error = check_jsonb_depth("after_state", &doc).expect_err("too deep");
            assert_eq!(error, LedgerError::TooDeep { column: "after_state", max_depth: JSONB_MAX_DEPTH });
            assert_eq!(error.to_string(), "after_state is nested deeper than 124 levels of arrays and objects");
        }
    }
    // Brackets inside strings are text, not depth.
    let text = format!(r#"{{"s": "{}"}}"#, "[".repeat(500));
    assert_eq!(check_jsonb_depth("details", &text), Ok(()));
}

/// Documents at the limit export, read back whole (a generic JSON parser with serde_json's
/// default recursion limit takes the export in one piece) and verify offline.
#[test]
fn documents_at_the_depth_limit_export_and_verify() {
    let documents = [nested_arrays(JSONB_MAX_DEPTH), nested_objects(JSONB_MAX_DEPTH)];
    let text = export_of_documents(&documents);
    assert_eq!(crate::json::nesting_depth(&text), JSONB_MAX_DEPTH + EXPORT_ENVELOPE_DEPTH);
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "the export parses as one document");
    let export = parse_export(&text).expect("parses");
    assert_eq!(export.entries.len(), 2);
    let report = export.verify(None, keys(&[1]));
    assert!(report.is_valid(), "{:?}", report.issues);
    // One level more would have put the export beyond the generic parser's limit.
    let deeper = export_of_documents(&[nested_arrays(JSONB_MAX_DEPTH + 1)]);
    assert!(serde_json::from_str::<serde_json::Value>(&deeper).is_err());
}

/// Entries stored before the depth rule: the export carries what its reader can read
/// back (127 levels), and refuses anything deeper as too deep, never as a malformed value.
#[test]
fn export_writer_carries_older_entries_up_to_the_reader_limit() {
    let text = export_of_documents(&[nested_arrays(MAX_DEPTH_OF_JSON), nested_objects(MAX_DEPTH_OF_JSON)]);
    let report = parse_export(&text).expect("warden-verify reads what the writer carries").verify(None, keys(&[1]));
    assert!(report.is_valid(), "{:?}", report.issues);
    for depth in [MAX_DEPTH_OF_JSON + 1, 200] {
        let doc = nested_arrays(depth);
        let content = EntryContent { id: 7, before_state: Some(&doc), ..EntryContent::default() };
        let mut writer = ExportWriter::new(Vec::new()).expect("header");
        let error = writer.write_entry(&EntryRef { content, ..EntryRef::default() }).expect_err("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        let inner = error.get_ref().and_then(|e| e.downcast_ref::<LedgerError>());
        assert_eq!(inner, Some(&LedgerError::TooDeep { column: "before_state", max_depth: MAX_DEPTH_OF_JSON }));
    }
}

#[test]
fn empty_export_round_trips() {
    let bytes = ExportWriter::new(Vec::new()).expect("header").finish(&[]).expect("finish");
    let text = String::from_utf8(bytes).expect("UTF-8");
    let export = parse_export(&text).expect("parses");
    assert!(export.entries.is_empty() && export.checkpoints.is_empty());
    assert!(export.verify(None, keys(&[1])).is_valid());
}

#[test]
fn issues_read_as_sentences() {
    let mut ledger = Ledger::new(1, 3);
    ledger.remove(1, 2);
    let report = ledger.verify(None);
    assert_eq!(
        report.issues[0].to_string(),
        format!("entry id {} (chain 1, position 3): position 2 is missing (entry deleted)", ledger.id(1, 3))
    );
    let digest = Ledger::new(1, 4).digest();
    let issue = &ledger.verify(Some(&digest)).issues[1];
    assert!(issue.to_string().starts_with("digest head (chain 1, position 4): "), "{issue}");
    let forged = Checkpoint::new_signed(1, 1, [0; 32], 0, KEY_NAME, 1, &KeyedMac::new(b"guess")).expect("checkpoint");
    let report = verify_entries(&ledger.rows, &[forged], None, keys(&[1]));
    assert!(report.issues[0].to_string().starts_with("checkpoint (chain 1, position 1): "), "{}", report.issues[0]);
}

#[test]
fn an_empty_ledger_with_history_is_reported() {
    let empty = Ledger::new(2, 0);
    let mut fresh = empty.verify(None);
    fresh.apply_high_water(None, 0);
    assert!(fresh.is_valid(), "a ledger that never held an entry is valid");
    for (last_issued, checkpoints) in [(Some(20_063), 0), (None, 3), (Some(7), 1)] {
        let mut report = empty.verify(None);
        report.apply_high_water(last_issued, checkpoints);
        assert_eq!(
            found(&report),
            vec![(None, None, None, IssueKind::HistoryMissing { last_issued_id: last_issued, checkpoints })]
        );
        assert!(report.issues[0].to_string().starts_with("ledger: the ledger holds no entry"));
    }
    // Entries left: the marks say nothing about the chains (verification of the entries
    // and a digest do).
    let ledger = Ledger::new(1, 1);
    let mut report = ledger.verify(None);
    report.apply_high_water(Some(20_063), 2);
    assert!(report.is_valid());
}

// ---------------------------------------------------------------------------------------
// Verification in segments (parallel verification)

impl Ledger {
    /// What the extension's parallel verification does: `None` when rows without a
    /// chain or position exist (it then reads serially); otherwise each chain cut into
    /// position ranges of `width` from its lowest position, each range verified by its
    /// own segment verifier, the outcomes joined.
    fn verify_in_segments(&self, digest: Option<&Digest>, width: i64) -> Option<Report> {
        if self.rows.iter().any(|r| r.chain_id.is_none() || r.chain_pos.is_none()) {
            return None;
        }
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        // Ties in input order, as the serial verifier's sort keeps them.
        rows.sort_by_key(|r| r.pos());
        let mut bounds: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
        for r in &rows {
            let (chain, pos) = r.pos();
            let b = bounds.entry(chain).or_insert((pos, pos));
            b.0 = b.0.min(pos);
            b.1 = b.1.max(pos);
        }
        let mut outcomes = Vec::new();
        for (&chain, &(lo, hi)) in &bounds {
            let mut from = lo;
            while from <= hi {
                let to = from.saturating_add(width - 1).min(hi);
                let start = (from != lo).then_some(from);
                let mut verifier = Verifier::segment(&self.checkpoints, digest, keys(&[1, 2]), chain, start);
                for r in rows.iter().filter(|r| r.chain_id == Some(chain) && (from..=to).contains(&r.pos().1)) {
                    verifier.push(&r.entry()).expect("in order");
                }
                outcomes.push(verifier.finish_segment());
                from = to + 1;
            }
        }
        Verifier::new(&self.checkpoints, digest, keys(&[1, 2])).finish_segments(&outcomes)
    }

    /// Every segment width gives the serial report, or `None` (the extension then reads
    /// serially), never another report; `must_join` asks for the serial report itself.
    fn assert_segments_agree(&self, digest: Option<&Digest>, must_join: bool, what: &str) {
        let serial = self.verify(digest);
        for width in 1..=14 {
            let joined = self.verify_in_segments(digest, width);
            if must_join {
                assert_eq!(joined.as_ref(), Some(&serial), "{what}, width {width}");
            } else if let Some(joined) = joined {
                assert_eq!(joined, serial, "{what}, width {width}: segments disagree with the serial report");
            }
        }
    }
}

#[test]
fn segments_of_an_intact_ledger_join_into_the_serial_report() {
    let mut ledger = Ledger::new(3, 12);
    ledger.append(2, 2);
    ledger.assert_segments_agree(None, true, "intact");
    let digest = ledger.digest();
    ledger.append(1, 1);
    ledger.assert_segments_agree(Some(&digest), true, "intact, with a digest");
    ledger.purge_through(3, 5);
    ledger.assert_segments_agree(Some(&digest), true, "purged behind a checkpoint");
    ledger.purge_through(1, 13);
    ledger.assert_segments_agree(Some(&digest), true, "a chain purged whole");
    Ledger::new(0, 0).assert_segments_agree(None, true, "empty");
}

#[test]
fn segments_never_hide_tampering() {
    let base = Ledger::new(3, 9);
    let digest = base.digest();
    let mut cases: Vec<(String, Ledger)> = Vec::new();
    let positions: Vec<(i32, i64)> = base.rows.iter().map(Row::pos).collect();
    for &(chain, pos) in &positions {
        let i = base.index(chain, pos);
        let mut edited = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        edited.rows[i].action = Some("GRANT".to_owned());
        cases.push((format!("edited {chain}/{pos}"), edited));
        let mut rehashed = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        rehashed.rows[i].action = Some("GRANT".to_owned());
        rehashed.rows[i].rehash();
        cases.push((format!("rehashed {chain}/{pos}"), rehashed));
        let mut removed = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        removed.rows.remove(i);
        cases.push((format!("removed {chain}/{pos}"), removed));
        let mut copied = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        let mut copy = copied.rows[i].clone();
        copy.id = 900;
        copied.rows.insert(0, copy);
        cases.push((format!("copied in place {chain}/{pos}"), copied));
        let mut malformed = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        malformed.rows[i].prev_hash = Some(vec![0; 31]);
        cases.push((format!("malformed {chain}/{pos}"), malformed));
        let mut relinked = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        relinked.rows[i].prev_hash = Some(vec![7; 32]);
        cases.push((format!("relinked {chain}/{pos}"), relinked));
        let mut moved = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        moved.rows[i].chain_pos = Some(pos + 3);
        cases.push((format!("moved {chain}/{pos}"), moved));
        let mut unknown_key = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        unknown_key.rows[i].key_version = Some(7);
        cases.push((format!("unknown key {chain}/{pos}"), unknown_key));
    }
    let mut tail_cut = Ledger { rows: base.rows.clone(), ..Ledger::default() };
    tail_cut.rows.retain(|r| r.pos() != (2, 9) && r.pos() != (2, 8));
    cases.push(("tail cut".to_owned(), tail_cut));
    let mut chain_gone = Ledger { rows: base.rows.clone(), ..Ledger::default() };
    chain_gone.rows.retain(|r| r.chain_id != Some(3));
    cases.push(("chain gone".to_owned(), chain_gone));
    let mut unchained = Ledger { rows: base.rows.clone(), ..Ledger::default() };
    unchained.rows[4].chain_pos = None;
    cases.push(("unchained".to_owned(), unchained));
    let mut forged_checkpoint = Ledger { rows: base.rows.clone(), ..Ledger::default() };
    let hash = base.hash(1, 4);
    forged_checkpoint.rows.retain(|r| !(r.chain_id == Some(1) && r.chain_pos.is_some_and(|p| p <= 4)));
    forged_checkpoint
        .checkpoints
        .push(Checkpoint::new_signed(1, 4, hash, 0, KEY_NAME, 1, &KeyedMac::new(b"guess")).expect("checkpoint"));
    cases.push(("forged checkpoint".to_owned(), forged_checkpoint));
    let mut swapped = Ledger { rows: base.rows.clone(), ..Ledger::default() };
    let (a, b) = (base.index(2, 3), base.index(2, 7));
    swapped.rows[a].chain_pos = Some(7);
    swapped.rows[b].chain_pos = Some(3);
    cases.push(("swapped".to_owned(), swapped));

    // Signed through the trigger (an insider with the key): each entry sound on its own,
    // a fork's entry in place of the genuine one at every position, the link to its
    // successor broken.
    for pos in 1..9 {
        let mut fork = Ledger::new(3, pos as usize - 1);
        fork.last_id += 100;
        fork.append(1, 1);
        let mut spliced = Ledger { rows: base.rows.clone(), ..Ledger::default() };
        let i = base.index(1, pos);
        spliced.rows[i] = fork.rows[fork.index(1, pos)].clone();
        cases.push((format!("fork at 1/{pos}"), spliced));
    }

    let mut forged_digest = digest.clone();
    forged_digest.total_entries += 1;
    for (what, ledger) in &cases {
        let serial = ledger.verify(Some(&digest));
        assert!(!serial.is_valid(), "{what}: the case must be tampering");
        ledger.assert_segments_agree(Some(&digest), false, what);
        ledger.assert_segments_agree(None, false, what);
        ledger.assert_segments_agree(Some(&forged_digest), false, what);
    }
    // Joined reports that are not valid exist (the digest's findings): still the serial one.
    let mut cut = Ledger { rows: base.rows.clone(), ..Ledger::default() };
    cut.rows.retain(|r| r.pos() != (1, 9));
    assert_eq!(cut.verify_in_segments(Some(&digest), 4), Some(cut.verify(Some(&digest))));
    assert!(!cut.verify(Some(&digest)).is_valid());
}
