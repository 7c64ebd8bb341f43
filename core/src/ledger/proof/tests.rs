//! Tree heads and proof documents: built as the extension builds them (entries linked by
//! the trigger's rules, the tree grown with `append_with` into stored nodes, proofs read
//! from those nodes), read back in every form the database or an auditor's tools may
//! give them, and refused or reported for every alteration.

use std::cell::Cell;
use std::collections::HashMap;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::*;
use crate::ledger::merkle::{
    consistency_proof, consistency_proof_from, inclusion_proof, inclusion_proof_from, NodeRef, Tree,
};
use crate::ledger::{
    export_entry_value, jsonb_text, parse_export, ChainHead, EntryContent, EntryRef, ExportWriter, LedgerError,
    NewLink, HASH_LEN, TREE_HEAD_DOMAIN,
};

const KEY_NAME: &str = "audit";
/// Entries up to this id are signed with key version 1, later ones with version 2.
const ROTATED_AFTER: i64 = 20;
const HEAD_KEY_VERSION: i32 = 2;
const SIZE: u64 = 37;

fn secret(version: i32) -> Vec<u8> {
    format!("{KEY_NAME}/{version}/0123456789abcdef").into_bytes()
}

fn key(version: i32) -> KeyedMac {
    KeyedMac::new(&secret(version))
}

/// Key lookup knowing versions 1 and 2 of [`KEY_NAME`].
fn keys(name: &str, version: i32) -> Option<KeyedMac> {
    (name == KEY_NAME && (1..=2).contains(&version)).then(|| key(version))
}

const ACTORS: [&str; 3] = ["alice", "bob \"the builder\" \\ é 中", "mallory\nVALID\u{1b}[31m"];
const DETAILS: [Option<&str>; 4] =
    [None, Some(r#"{"n": 1, "tags": ["a", "b"]}"#), Some(r#"{"b": {"c": null}, "aa": [1.50, 100]}"#), Some("null")];

/// The content of entry `id`: every column set in some entries, NULL in others.
fn content(id: i64) -> EntryContent<'static> {
    let pick = |list_len: usize| id as usize % list_len;
    EntryContent {
        id,
        ts: Some(848_729_701_000_000 + id * 1_000),
        event_type: Some("dml"),
        action: Some(if id % 3 == 0 { "DELETE" } else { "UPDATE" }),
        actor: Some(ACTORS[pick(ACTORS.len())]),
        resource_type: Some("table"),
        resource_id: Some("public.accounts"),
        correlation_id: (id % 2 == 0).then_some("c-1"),
        tenant: Some(""),
        reason: None,
        confidence: Some("0.9500"),
        details: DETAILS[pick(DETAILS.len())],
        before_state: (id % 5 == 0).then_some(r#"{"balance": 10}"#),
        after_state: (id % 5 == 0).then_some(r#"{"balance": 20}"#),
        session_user_name: Some("alice"),
        application_name: Some("psql"),
        client_addr: Some("192.0.2.1"),
        txid: Some(900 + id),
    }
}

fn chain_of(id: i64) -> i32 {
    1 + (id % 2) as i32
}

fn key_version_of(id: i64) -> i32 {
    if id <= ROTATED_AFTER {
        1
    } else {
        2
    }
}

/// A ledger of entries 1..=count on two chains, and its tree as the extension keeps it:
/// every node `append_with` reports, stored.
struct Ledger {
    content: fn(i64) -> EntryContent<'static>,
    links: Vec<NewLink>,
    nodes: HashMap<NodeRef, Hash>,
    /// `roots[n]`: the root of the first `n` leaves.
    roots: Vec<Hash>,
    leaves: Vec<Hash>,
}

impl Ledger {
    fn new(count: i64) -> Ledger {
        Ledger::with_content(count, content)
    }

    fn with_content(count: i64, content: fn(i64) -> EntryContent<'static>) -> Ledger {
        let mut hasher = EntryHasher::new();
        let mut heads: HashMap<i32, ChainHead> = HashMap::new();
        let mut tree = Tree::new();
        let mut ledger =
            Ledger { content, links: Vec::new(), nodes: HashMap::new(), roots: vec![tree.root()], leaves: vec![] };
        for id in 1..=count {
            let head = heads.entry(chain_of(id)).or_insert(ChainHead::GENESIS);
            let link = hasher.link(&content(id), chain_of(id), head, &key(key_version_of(id))).expect("link");
            *head = ChainHead { pos: link.chain_pos, hash: link.entry_hash };
            let leaf = leaf_hash(&link.entry_hash);
            tree.append_with(leaf, |node, hash| {
                ledger.nodes.insert(node, *hash);
            });
            ledger.leaves.push(leaf);
            ledger.roots.push(tree.root());
            ledger.links.push(link);
        }
        ledger
    }

    /// The entry at leaf `index`: id `index + 1`.
    fn entry(&self, index: u64) -> EntryRef<'_> {
        let id = index as i64 + 1;
        EntryRef {
            content: (self.content)(id),
            chain: self.links[index as usize].material(chain_of(id), KEY_NAME, key_version_of(id)),
        }
    }

    fn head(&self, size: u64) -> TreeHead {
        let timestamp = 848_729_800_000_000 + size as i64;
        TreeHead::new_signed(size, self.roots[size as usize], timestamp, KEY_NAME, HEAD_KEY_VERSION, &key(2))
            .expect("head")
    }

    /// What `warden.audit_proof` returns.
    fn inclusion(&mut self, index: u64, size: u64) -> Value {
        let proof = inclusion_proof_from(&mut self.nodes, index, size).expect("proof");
        assert_eq!(proof, inclusion_proof(&self.leaves, index, size).expect("proof"));
        let entry = export_entry_value(&self.entry(index)).expect("entry");
        inclusion_document(entry, index, &proof, &self.head(size))
    }

    /// What `warden.audit_consistency` returns.
    fn consistency(&mut self, old_size: u64, new_size: u64) -> Value {
        let proof = consistency_proof_from(&mut self.nodes, old_size, new_size).expect("proof");
        assert_eq!(proof, consistency_proof(&self.leaves, old_size, new_size).expect("proof"));
        consistency_document(&self.head(old_size), &self.head(new_size), &proof)
    }
}

/// The forms a document reaches a verifier in: serde_json's compact text, pretty text,
/// and PostgreSQL's `jsonb` output (keys by length, `", "` and `": "`).
fn forms(document: &Value) -> [String; 3] {
    [document.to_string(), serde_json::to_string_pretty(document).expect("JSON"), jsonb_text(document)]
}

fn inclusion_report(text: &str) -> ProofReport {
    verify_inclusion_document(text, keys).expect("parses")
}

fn consistency_report(text: &str) -> ProofReport {
    verify_consistency_document(text, keys).expect("parses")
}

fn hash_hex(text: &str) -> Hash {
    hex::decode(text).expect("hex").try_into().expect("32 bytes")
}

// ---------------------------------------------------------------------------------------
// Tree heads

#[test]
fn tree_head_encoding_and_signature_are_the_documented_ones() {
    let head = TreeHead::new_signed(100, [7; 32], -5, "audit", 3, &key(3)).expect("head");
    let mut expected = vec![0x01, 0, 0, 0, 22];
    expected.extend_from_slice(b"pg_warden/tree-head/v1");
    expected.extend_from_slice(&100u64.to_be_bytes());
    expected.extend_from_slice(&[7; 32]);
    expected.extend_from_slice(&(-5i64).to_be_bytes());
    expected.extend_from_slice(&[0, 0, 0, 5]);
    expected.extend_from_slice(b"audit");
    expected.extend_from_slice(&3i32.to_be_bytes());
    assert_eq!(head.signed_bytes(), Ok(expected.clone()));
    assert_eq!(TREE_HEAD_DOMAIN.len(), 22);
    // The hmac crate, not KeyedMac's own fast path, over the documented bytes.
    let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&secret(3)).expect("key");
    reference.update(&expected);
    assert_eq!(head.signature, reference.finalize().into_bytes().to_vec());
    assert!(head.signature_valid(&key(3)));
}

#[test]
fn every_field_of_a_tree_head_is_signed() {
    let head = TreeHead::new_signed(100, [7; 32], 1_000, "audit", 1, &key(1)).expect("head");
    assert!(head.signature_valid(&key(1)));
    assert!(!head.signature_valid(&key(2)));
    let edits: [fn(&mut TreeHead); 7] = [
        |h| h.tree_size += 1,
        |h| h.root[31] ^= 1,
        |h| h.timestamp += 1,
        |h| h.key_name.push('x'),
        |h| h.key_version += 1,
        |h| h.signature[0] ^= 1,
        |h| h.signature.truncate(31),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut edited = head.clone();
        edit(&mut edited);
        assert!(!edited.signature_valid(&key(1)), "edit {i}");
    }
    let mut longer = head.clone();
    longer.signature.push(0);
    assert!(!longer.signature_valid(&key(1)));
    // The length prefix keeps the key name from running into the version.
    let a = TreeHead::new_signed(1, [0; 32], 0, "a\0\0\0", 1, &key(1)).expect("head");
    let b = TreeHead::new_signed(1, [0; 32], 0, "a", 1, &key(1)).expect("head");
    assert_ne!(a.signed_bytes(), b.signed_bytes());
}

#[test]
fn tree_heads_round_trip_through_json() {
    let head =
        TreeHead::new_signed(u64::MAX, [0xab; 32], 848_729_701_123_456, "ns:audit \"é\"\n", -7, &key(1)).expect("head");
    let value = head.to_json_value();
    assert_eq!(value["tree_size"].to_string(), "18446744073709551615");
    assert_eq!(value["root"], "ab".repeat(32));
    assert_eq!(value["timestamp"], "2026-11-23T06:15:01.123456Z");
    assert_eq!(value["key_version"], -7);
    assert_eq!(value["signature"], hex::encode(&head.signature));
    assert_eq!(value.as_object().map(|o| o.len()), Some(6));
    assert_eq!(TreeHead::from_json_value(&value), Ok(head.clone()));
    // Upper-case hex and jsonb's reordering are read the same.
    let upper = crate::json::parse(&jsonb_text(&value).replace(&"ab".repeat(32), &"AB".repeat(32))).expect("JSON");
    assert_eq!(TreeHead::from_json_value(&upper), Ok(head));
}

#[test]
fn malformed_tree_heads_are_refused() {
    let good = Ledger::new(1).head(1).to_json_value();
    let with = |name: &str, value: Value| {
        let mut edited = good.clone();
        edited[name] = value;
        edited
    };
    let without = |name: &str| {
        let mut edited = good.clone();
        edited.as_object_mut().expect("object").remove(name);
        edited
    };
    let cases: Vec<(Value, &str)> = vec![
        (Value::Null, "expected '{'"),
        (serde_json::json!([]), "expected '{'"),
        (without("tree_size"), "a tree head needs"),
        (without("root"), "a tree head needs"),
        (without("timestamp"), "a tree head needs"),
        (without("key_name"), "a tree head needs"),
        (without("key_version"), "a tree head needs"),
        (without("signature"), "a tree head needs"),
        (with("colour", Value::from(1)), "unknown tree head field"),
        (with("tree_size", Value::from(-1)), "tree_size: integer out of range"),
        (with("tree_size", serde_json::json!(1.0)), "tree_size: expected an integer"),
        (with("tree_size", Value::from("1")), "tree_size: expected an integer"),
        (with("root", Value::from("00".repeat(31))), "root: expected 64 hex digits"),
        (with("root", Value::from("0g".repeat(32))), "root: expected 64 hex digits"),
        (with("signature", Value::from("00".repeat(33))), "signature: expected 64 hex digits"),
        (with("timestamp", Value::from("2026-11-22 06:15:01Z")), "timestamp: expected an ISO 8601"),
        (with("timestamp", Value::from(0)), "timestamp: expected a string"),
        (with("key_version", Value::from(1u64 << 31)), "key_version: integer out of range"),
        (with("key_name", Value::Null), "key_name: expected a string"),
    ];
    for (case, message) in cases {
        match TreeHead::from_json_value(&case) {
            Ok(_) => panic!("accepted {case}, expected {message}"),
            Err(e) => assert!(e.to_string().contains(message), "{message} not in {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Entries as a proof embeds them

#[test]
fn an_entry_value_is_the_entry_of_an_export() {
    let ledger = Ledger::new(SIZE as i64);
    let mut writer = ExportWriter::new(Vec::new()).expect("header");
    for index in 0..SIZE {
        writer.write_entry(&ledger.entry(index)).expect("entry");
    }
    let export_text = String::from_utf8(writer.finish(&[]).expect("finish")).expect("UTF-8");
    let export = parse_export(&export_text).expect("export");
    for index in 0..SIZE {
        let value = export_entry_value(&ledger.entry(index)).expect("entry");
        for text in forms(&value) {
            let mut scanner = Scanner::new(&text);
            let parsed = parse_entry(&mut scanner).expect("entry parses");
            assert_eq!(parsed, export.entries[index as usize], "entry {index}");
        }
        // SQL NULL jsonb columns are left out, other NULLs kept.
        let object = value.as_object().expect("object");
        assert_eq!(object.contains_key("details"), content(index as i64 + 1).details.is_some(), "entry {index}");
        assert_eq!(object.get("reason"), Some(&Value::Null));
    }
}

#[test]
fn an_entry_value_refuses_what_an_export_refuses() {
    let ledger = Ledger::new(1);
    for details in [r#"{"b":1}"#, r#"{"bb": 1, "a": 2}"#, "[1.5e0]", "{"] {
        let mut entry = ledger.entry(0);
        entry.content.details = Some(details);
        let error = export_entry_value(&entry).expect_err(details);
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(error.to_string(), "entry id 1: details is not PostgreSQL jsonb output text");
        let writer_error = ExportWriter::new(Vec::new()).expect("header").write_entry(&entry).expect_err(details);
        assert_eq!(writer_error.to_string(), error.to_string());
    }
    let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
    let mut entry = ledger.entry(0);
    entry.content.before_state = Some(&deep);
    let error = export_entry_value(&entry).expect_err("too deep");
    let inner = error.get_ref().and_then(|e| e.downcast_ref::<LedgerError>());
    assert_eq!(inner, Some(&LedgerError::TooDeep { column: "before_state", max_depth: crate::json::MAX_DEPTH }));
}

// ---------------------------------------------------------------------------------------
// Inclusion proofs

#[test]
fn every_inclusion_proof_of_every_size_verifies_in_every_form() {
    let mut ledger = Ledger::new(SIZE as i64);
    for size in 1..=SIZE {
        for index in 0..size {
            let document = ledger.inclusion(index, size);
            let [compact, pretty, jsonb] = forms(&document);
            assert!(inclusion_report(&compact).is_valid(), "leaf {index} of {size}: {:?}", inclusion_report(&compact));
            if index % 7 == 0 {
                assert!(inclusion_report(&pretty).is_valid(), "leaf {index} of {size}, pretty");
                assert!(inclusion_report(&jsonb).is_valid(), "leaf {index} of {size}, jsonb");
            }
        }
    }
}

#[test]
fn an_inclusion_document_has_the_documented_fields() {
    let mut ledger = Ledger::new(5);
    let document = ledger.inclusion(2, 5);
    let object = document.as_object().expect("object");
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["entry", "format", "leaf_index", "proof", "tree_head", "tree_size"]);
    assert_eq!(document["format"], "pg_warden-inclusion-proof-v1");
    assert_eq!(document["leaf_index"], 2);
    assert_eq!(document["tree_size"], 5);
    assert_eq!(document["entry"]["id"], 3);
    assert_eq!(document["tree_head"], ledger.head(5).to_json_value());
    let proof: Vec<Hash> =
        document["proof"].as_array().expect("array").iter().map(|h| hash_hex(h.as_str().expect("hex"))).collect();
    assert_eq!(proof, inclusion_proof(&ledger.leaves, 2, 5).expect("proof"));

    let text = document.to_string();
    let parsed = InclusionDocument::parse(&text).expect("parses");
    assert_eq!((parsed.leaf_index, parsed.tree_size, parsed.proof), (2, 5, proof));
    assert_eq!(parsed.tree_head, ledger.head(5));
    assert_eq!(parsed.entry.entry(), ledger.entry(2));
}

fn entry_issue(ledger: &Ledger, index: u64, kind: IssueKind) -> ProofIssue {
    let id = index as i64 + 1;
    let position = ledger.links[index as usize].chain_pos;
    ProofIssue::Entry(Issue { entry_id: Some(id), chain_id: Some(chain_of(id)), chain_pos: Some(position), kind })
}

/// Alterations of the parsed document, one at a time, and what each must report.
#[test]
fn every_alteration_of_an_inclusion_proof_is_reported() {
    let mut ledger = Ledger::new(SIZE as i64);
    for (index, size) in [(0, 1), (0, 2), (1, 2), (2, 3), (5, 8), (12, 13), (20, 37), (36, 37), (0, 37)] {
        let text = ledger.inclusion(index, size).to_string();
        let good = InclusionDocument::parse(&text).expect("parses");
        let case = format!("leaf {index} of {size}");
        assert!(good.verify(keys).is_valid(), "{case}");
        let report_of = |edit: &dyn Fn(&mut InclusionDocument<'_>)| {
            let mut edited = good.clone();
            edit(&mut edited);
            edited.verify(keys).issues
        };

        // Every byte of every proof hash.
        for i in 0..good.proof.len() {
            for at in 0..HASH_LEN {
                let issues = report_of(&|d| d.proof[i][at] ^= 1);
                assert_eq!(issues, [ProofIssue::NotIncluded], "{case}, proof[{i}] byte {at}");
            }
        }
        // Hashes left out, added, or swapped.
        if let Some((_, shorter)) = good.proof.split_last() {
            assert_eq!(report_of(&|d| d.proof = shorter.to_vec()), [ProofIssue::NotIncluded], "{case}");
        }
        let root = good.tree_head.root;
        assert_eq!(report_of(&|d| d.proof.push(root)), [ProofIssue::NotIncluded], "{case}, lengthened");
        if good.proof.len() >= 2 {
            assert_eq!(report_of(&|d| d.proof.swap(0, 1)), [ProofIssue::NotIncluded], "{case}, swapped");
        }
        // Another leaf index.
        for other in [index ^ 1, index.wrapping_sub(1), index + 1] {
            if other == index {
                continue;
            }
            let expected = if other >= size {
                ProofIssue::LeafOutOfRange { leaf_index: other, tree_size: size }
            } else {
                ProofIssue::NotIncluded
            };
            assert_eq!(report_of(&|d| d.leaf_index = other), [expected], "{case}, as leaf {other}");
        }
        // Another size in the document, the head unchanged: the leaf and the path are
        // judged against the signed size, and hold there.
        for other in [size - 1, size + 1, 2 * size] {
            let expected = [ProofIssue::SizeMismatch { tree_size: other, head_size: size }];
            assert_eq!(report_of(&|d| d.tree_size = other), expected, "{case}, tree_size {other}");
        }
        // A head edited without the key: its size, its root.
        for other in [size - 1, size + 1] {
            let issues = report_of(&|d| {
                d.tree_head.tree_size = other;
                d.tree_size = other;
            });
            assert_eq!(issues.first(), Some(&ProofIssue::HeadBadSignature { head: HeadRole::Head }), "{case}");
            // The path does not pin the size by itself; leaf 0's path is as long as the
            // tree is deep, so another depth cannot match it.
            if index == 0 && other > 0 && ceil_log2(other) != ceil_log2(size) {
                assert!(issues.contains(&ProofIssue::NotIncluded), "{case}, head of {other}: {issues:?}");
            }
        }
        for at in 0..HASH_LEN {
            let issues = report_of(&|d| d.tree_head.root[at] ^= 1);
            assert_eq!(issues, [ProofIssue::HeadBadSignature { head: HeadRole::Head }, ProofIssue::NotIncluded]);
        }
        // The head's signature, timestamp or key.
        for at in 0..HASH_LEN {
            let issues = report_of(&|d| d.tree_head.signature[at] ^= 1);
            assert_eq!(issues, [ProofIssue::HeadBadSignature { head: HeadRole::Head }], "{case}, signature {at}");
        }
        let issues = report_of(&|d| d.tree_head.timestamp -= 1);
        assert_eq!(issues, [ProofIssue::HeadBadSignature { head: HeadRole::Head }], "{case}, timestamp");
        let issues = report_of(&|d| d.tree_head.key_version = 1);
        assert_eq!(issues, [ProofIssue::HeadBadSignature { head: HeadRole::Head }], "{case}, key version");
        let issues = report_of(&|d| d.tree_head.key_version = 9);
        let unknown =
            ProofIssue::HeadUnknownKey { head: HeadRole::Head, key_name: KEY_NAME.to_owned(), key_version: 9 };
        assert_eq!(issues, [unknown], "{case}, unknown key");
        // A head signed with the key over another tree: the signature holds, the path not.
        let other_root = ledger.roots[size as usize - 1];
        let forged = TreeHead::new_signed(size, other_root, 0, KEY_NAME, 2, &key(2)).expect("head");
        assert_eq!(report_of(&|d| d.tree_head = forged.clone()), [ProofIssue::NotIncluded], "{case}, other root");
    }
}

#[test]
fn an_edited_entry_is_reported_as_the_export_would_report_it() {
    let mut ledger = Ledger::new(SIZE as i64);
    let (index, size) = (24, 30);
    let document = ledger.inclusion(index, size);
    let text = jsonb_text(&document);
    let edit = |from: &str, to: &str| {
        assert!(text.contains(from), "{from} not in {text}");
        inclusion_report(&text.replacen(from, to, 1)).issues
    };
    let entry = ledger.entry(index);
    let hash_hex = hex::encode(entry.chain.entry_hash.expect("hash"));
    let signature_hex = hex::encode(entry.chain.signature.expect("signature"));

    // Content changed: its own hash fails; the stored hash is still the leaf.
    let changed = edit("\"action\": \"UPDATE\"", "\"action\": \"DELETE\"");
    assert_eq!(changed, [entry_issue(&ledger, index, IssueKind::HashMismatch)]);
    // jsonb content, and SQL NULL against jsonb null.
    assert_eq!(edit("\"balance\": 10", "\"balance\": 11"), [entry_issue(&ledger, index, IssueKind::HashMismatch)]);
    // Its hash recomputed without the key: the signature fails, and it is no longer the leaf.
    let mut rehashed = hash_hex.clone().into_bytes();
    rehashed[0] = if rehashed[0] == b'0' { b'1' } else { b'0' };
    let rehashed = String::from_utf8(rehashed).expect("hex");
    assert_eq!(
        edit(&hash_hex, &rehashed),
        [
            entry_issue(&ledger, index, IssueKind::HashMismatch),
            entry_issue(&ledger, index, IssueKind::BadSignature),
            ProofIssue::NotIncluded
        ]
    );
    let forged = format!("{}{}", if signature_hex.starts_with('0') { "1" } else { "0" }, &signature_hex[1..]);
    assert_eq!(edit(&signature_hex, &forged), [entry_issue(&ledger, index, IssueKind::BadSignature)]);
    // Key material that is missing or of the wrong shape.
    assert_eq!(
        edit(&format!("\"signature\": \"{signature_hex}\""), "\"signature\": null"),
        [entry_issue(&ledger, index, IssueKind::MalformedChainMaterial)]
    );
    assert_eq!(
        edit(&format!("\"signature\": \"{signature_hex}\""), "\"signature\": \"00\""),
        [entry_issue(&ledger, index, IssueKind::MalformedChainMaterial)]
    );
    // No entry_hash: nothing to find in the tree, and the entry says why.
    assert_eq!(
        edit(&format!("\"entry_hash\": \"{hash_hex}\""), "\"entry_hash\": null"),
        [entry_issue(&ledger, index, IssueKind::MalformedChainMaterial)]
    );
    // Moved to another position: its own hash covers the position.
    let pos = entry.chain.chain_pos.expect("pos");
    let moved = edit(&format!("\"chain_pos\": {pos}"), &format!("\"chain_pos\": {}", pos + 1));
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(matches!(&moved[0], ProofIssue::Entry(Issue { kind: IssueKind::HashMismatch, .. })), "{moved:?}");
    assert_eq!(
        edit(&format!("\"chain_pos\": {pos}"), "\"chain_pos\": null"),
        [ProofIssue::Entry(Issue {
            entry_id: Some(25),
            chain_id: Some(chain_of(25)),
            chain_pos: None,
            kind: IssueKind::Unchained
        })]
    );
    // An entry signed with a key version the verifier lacks.
    let unknown = verify_inclusion_document(&text, |name, version| {
        (version == 2).then(|| key(version)).filter(|_| name == KEY_NAME)
    });
    assert!(unknown.expect("parses").is_valid(), "entry 25 and the head are both version 2");
    let early = jsonb_text(&ledger.inclusion(3, size));
    let only_two =
        verify_inclusion_document(&early, |_, version| (version == 2).then(|| key(version))).expect("parses");
    assert_eq!(
        only_two.issues,
        [entry_issue(&ledger, 3, IssueKind::UnknownKey { key_name: KEY_NAME.to_owned(), key_version: 1 })]
    );
}

#[test]
fn another_entry_does_not_pass_for_the_proven_one() {
    let mut ledger = Ledger::new(SIZE as i64);
    let document = ledger.inclusion(10, SIZE);
    for other in [0, 9, 11, 36] {
        let mut swapped = document.clone();
        swapped["entry"] = export_entry_value(&ledger.entry(other)).expect("entry");
        assert_eq!(inclusion_report(&swapped.to_string()).issues, [ProofIssue::NotIncluded], "entry of leaf {other}");
    }
    // An entry of another ledger whose tree head was signed with the same key.
    let mut forked = Ledger::with_content(SIZE as i64, |id| {
        let mut content = content(id);
        if id == 11 {
            content.reason = Some("rewritten");
        }
        content
    });
    let foreign = forked.inclusion(10, SIZE);
    let mut mixed = document.clone();
    mixed["entry"] = foreign["entry"].clone();
    assert_ne!(mixed["entry"], document["entry"]);
    assert_eq!(inclusion_report(&mixed.to_string()).issues, [ProofIssue::NotIncluded]);
}

#[test]
fn every_hex_digit_of_the_proof_text_matters() {
    let mut ledger = Ledger::new(SIZE as i64);
    let text = ledger.inclusion(17, SIZE).to_string();
    let proof_hex: Vec<String> =
        InclusionDocument::parse(&text).expect("parses").proof.iter().map(hex::encode).collect();
    assert!(proof_hex.len() >= 5);
    for hash in &proof_hex {
        for at in 0..hash.len() {
            let mut altered = hash.clone().into_bytes();
            altered[at] = if altered[at] == b'f' { b'e' } else { b'f' };
            let altered = String::from_utf8(altered).expect("hex");
            let edited = text.replacen(hash.as_str(), &altered, 1);
            assert_eq!(inclusion_report(&edited).issues, [ProofIssue::NotIncluded], "digit {at} of {hash}");
        }
    }
}

#[test]
fn keys_are_looked_up_once_per_version() {
    let mut ledger = Ledger::new(SIZE as i64);
    let text = ledger.inclusion(30, SIZE).to_string();
    let calls = Cell::new(0);
    let report = verify_inclusion_document(&text, |name, version| {
        calls.set(calls.get() + 1);
        keys(name, version)
    })
    .expect("parses");
    assert!(report.is_valid());
    assert_eq!(calls.get(), 1, "the entry and the head are both version 2");
    let text = ledger.consistency(3, 30).to_string();
    calls.set(0);
    let report = verify_consistency_document(&text, |name, version| {
        calls.set(calls.get() + 1);
        keys(name, version)
    })
    .expect("parses");
    assert!(report.is_valid());
    assert_eq!(calls.get(), 1);
}

// ---------------------------------------------------------------------------------------
// Consistency proofs

#[test]
fn every_consistency_proof_verifies_in_every_form() {
    let mut ledger = Ledger::new(SIZE as i64);
    for new_size in 1..=SIZE {
        for old_size in 1..=new_size {
            let document = ledger.consistency(old_size, new_size);
            let [compact, pretty, jsonb] = forms(&document);
            let case = format!("{old_size} to {new_size}");
            assert!(consistency_report(&compact).is_valid(), "{case}: {:?}", consistency_report(&compact));
            if old_size % 5 == 0 {
                assert!(consistency_report(&pretty).is_valid(), "{case}, pretty");
                assert!(consistency_report(&jsonb).is_valid(), "{case}, jsonb");
            }
        }
    }
    let document = ledger.consistency(6, 8);
    let mut names: Vec<&str> = document.as_object().expect("object").keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["format", "new_head", "old_head", "proof"]);
    assert_eq!(document["format"], "pg_warden-consistency-proof-v1");
    let parsed = ConsistencyDocument::parse(&document.to_string()).expect("parses");
    assert_eq!(parsed.old_head, ledger.head(6));
    assert_eq!(parsed.new_head, ledger.head(8));
    assert_eq!(parsed.proof, consistency_proof(&ledger.leaves, 6, 8).expect("proof"));
    assert!(ledger.consistency(5, 5)["proof"].as_array().expect("array").is_empty());
}

#[test]
fn every_alteration_of_a_consistency_proof_is_reported() {
    let mut ledger = Ledger::new(SIZE as i64);
    for (old_size, new_size) in [(1, 2), (2, 3), (3, 4), (4, 8), (6, 8), (7, 37), (20, 21), (16, 37), (37, 37)] {
        let text = ledger.consistency(old_size, new_size).to_string();
        let good = ConsistencyDocument::parse(&text).expect("parses");
        let case = format!("{old_size} to {new_size}");
        assert!(good.verify(keys).is_valid(), "{case}");
        let report_of = |edit: &dyn Fn(&mut ConsistencyDocument)| {
            let mut edited = good.clone();
            edit(&mut edited);
            edited.verify(keys).issues
        };
        for i in 0..good.proof.len() {
            for at in 0..HASH_LEN {
                assert_eq!(report_of(&|d| d.proof[i][at] ^= 1), [ProofIssue::NotConsistent], "{case}, [{i}] {at}");
            }
        }
        if let Some((_, shorter)) = good.proof.split_last() {
            assert_eq!(report_of(&|d| d.proof = shorter.to_vec()), [ProofIssue::NotConsistent], "{case}");
        }
        let old_root = good.old_head.root;
        assert_eq!(report_of(&|d| d.proof.push(old_root)), [ProofIssue::NotConsistent], "{case}, lengthened");
        for at in 0..HASH_LEN {
            let issues = report_of(&|d| d.old_head.signature[at] ^= 1);
            assert_eq!(issues, [ProofIssue::HeadBadSignature { head: HeadRole::Old }], "{case}");
            let issues = report_of(&|d| d.new_head.signature[at] ^= 1);
            assert_eq!(issues, [ProofIssue::HeadBadSignature { head: HeadRole::New }], "{case}");
            let issues = report_of(&|d| d.new_head.root[at] ^= 1);
            assert_eq!(issues, [ProofIssue::HeadBadSignature { head: HeadRole::New }, ProofIssue::NotConsistent]);
        }
        // Heads of the true tree at other sizes, properly signed: the proof is not theirs.
        for other in [old_size - 1, old_size + 1] {
            if other == 0 || other > new_size {
                continue;
            }
            let issues = report_of(&|d| d.old_head = ledger.head(other));
            assert_eq!(issues, [ProofIssue::NotConsistent], "{case}, from {other}");
        }
        if new_size < SIZE {
            let issues = report_of(&|d| d.new_head = ledger.head(new_size + 1));
            assert_eq!(issues, [ProofIssue::NotConsistent], "{case}, to {}", new_size + 1);
        }
        // The heads swapped.
        let issues = report_of(&|d| std::mem::swap(&mut d.old_head, &mut d.new_head));
        if old_size == new_size {
            assert!(issues.is_empty(), "{case}, swapped equal heads");
        } else {
            assert_eq!(issues, [ProofIssue::SizesOutOfOrder { old_size: new_size, new_size: old_size }], "{case}");
        }
        let unknown = report_of(&|d| d.old_head.key_version = 5);
        assert_eq!(
            unknown,
            [ProofIssue::HeadUnknownKey { head: HeadRole::Old, key_name: KEY_NAME.to_owned(), key_version: 5 }]
        );
    }
    // An empty old tree has no consistency proof worth checking.
    let empty = TreeHead::new_signed(0, ledger.roots[0], 0, KEY_NAME, 2, &key(2)).expect("head");
    let document = consistency_document(&empty, &ledger.head(5), &[]);
    assert_eq!(
        consistency_report(&document.to_string()).issues,
        [ProofIssue::SizesOutOfOrder { old_size: 0, new_size: 5 }]
    );
}

/// The point of the proof: a database that rewrote an entry its auditor's old head
/// covered cannot prove consistency with that head, even signing new heads with the key.
#[test]
fn a_rewritten_history_is_not_consistent_with_an_earlier_head() {
    let honest = Ledger::new(SIZE as i64);
    let mut rewritten = Ledger::with_content(SIZE as i64, |id| {
        let mut content = content(id);
        if id == 12 {
            content.actor = Some("nobody");
        }
        content
    });
    let kept = honest.head(20);
    for new_size in [20, 21, 30, SIZE] {
        let mut document = rewritten.consistency(20, new_size);
        document["old_head"] = kept.to_json_value();
        let issues = consistency_report(&document.to_string()).issues;
        assert_eq!(issues, [ProofIssue::NotConsistent], "to {new_size}");
    }
    // What came before the rewritten entry is still a common prefix.
    let mut document = rewritten.consistency(11, SIZE);
    document["old_head"] = honest.head(11).to_json_value();
    assert!(consistency_report(&document.to_string()).is_valid());
}

// ---------------------------------------------------------------------------------------
// Reading documents

#[test]
fn malformed_proof_documents_are_refused_with_a_location() {
    let mut ledger = Ledger::new(SIZE as i64);
    let inclusion = jsonb_text(&ledger.inclusion(5, 20));
    let consistency = jsonb_text(&ledger.consistency(5, 20));
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "expected '{'"),
        ("{}".to_owned(), "missing field format"),
        (
            inclusion.replace("pg_warden-inclusion-proof-v1", "pg_warden-inclusion-proof-v2"),
            "not a pg_warden-inclusion-proof-v1 document",
        ),
        (consistency.clone(), "not a pg_warden-inclusion-proof-v1 document"),
        (inclusion.replacen("\"leaf_index\": 5", "\"leaf_index\": -5", 1), "leaf_index: integer out of range"),
        (inclusion.replacen("\"leaf_index\": 5", "\"leaf_index\": 5.0", 1), "leaf_index: expected an integer"),
        (inclusion.replacen("\"tree_size\": 20, \"leaf_index\"", "\"leaf_index\"", 1), "missing field tree_size"),
        (inclusion.replacen(", \"leaf_index\": 5", "", 1), "missing field leaf_index"),
        (
            inclusion.replacen("\"leaf_index\": 5", "\"leaf_index\": 5, \"leaf_index\": 5", 1),
            "field leaf_index appears twice",
        ),
        (inclusion.replacen("\"leaf_index\": 5", "\"leaf_index\": 5, \"note\": 1", 1), "unknown inclusion proof field"),
        (inclusion.replacen("\"proof\": [\"", "\"proof\": [\"0", 1), "proof[0]: expected 64 hex digits"),
        (inclusion.replacen("\"proof\": [", "\"proof\": [1, ", 1), "proof[0]: expected a string"),
        (inclusion.replacen("\"id\": 6", "\"id\": 6, \"colour\": 1", 1), "entry: unknown column"),
        (inclusion.replacen("\"id\": 6, ", "", 1), "entry: missing column id"),
        (inclusion.replacen("\"actor\": \"", "\"actor\": 1, \"x\": \"", 1), "entry: actor: expected a string"),
        (
            inclusion.replacen("\"tree_size\": 20, \"key_version\"", "\"key_version\"", 1),
            "tree_head: a tree head needs",
        ),
        (
            inclusion.replacen("\"tree_size\": 20, \"key_version\"", "\"tree_size\": \"20\", \"key_version\"", 1),
            "tree_head: tree_size: expected an integer",
        ),
        (format!("{inclusion} {{}}"), "unexpected text after the document"),
    ];
    for (case, message) in cases {
        match InclusionDocument::parse(&case) {
            Ok(_) => panic!("accepted, expected {message}: {case}"),
            Err(e) => assert!(e.to_string().contains(message), "{message} not in {e}"),
        }
    }
    let cases: Vec<(String, &str)> = vec![
        (inclusion.clone(), "unknown consistency proof field"),
        (
            consistency.replace("pg_warden-consistency-proof-v1", "pg_warden-digest-v1"),
            "not a pg_warden-consistency-proof-v1 document",
        ),
        (consistency.replacen("\"old_head\"", "\"new_head\": {}, \"old_head\"", 1), "new_head: a tree head needs"),
        (consistency.replacen("\"old_head\"", "\"older_head\"", 1), "unknown consistency proof field"),
        (consistency.replacen("\"proof\": [", "\"proof\": [\"00\", ", 1), "proof[0]: expected 64 hex digits"),
        (consistency.replacen("\"proof\": [", "\"proof\": [], \"x\": [", 1), "unknown consistency proof field"),
        (consistency.replacen("\"format\"", "\"proof\": [], \"format\"", 1), "field proof appears twice"),
    ];
    for (case, message) in cases {
        match ConsistencyDocument::parse(&case) {
            Ok(_) => panic!("accepted, expected {message}: {case}"),
            Err(e) => assert!(e.to_string().contains(message), "{message} not in {e}"),
        }
    }
    // Errors point at their line.
    let pretty = serde_json::to_string_pretty(&ledger.inclusion(5, 20)).expect("JSON");
    let line = pretty.lines().position(|line| line.contains("\"leaf_index\"")).expect("line") + 1;
    let error = InclusionDocument::parse(&pretty.replacen("\"leaf_index\": 5", "\"leaf_index\": true", 1))
        .expect_err("refused");
    assert_eq!(error.line, line, "{error}");
}

#[test]
fn every_truncation_of_a_proof_document_is_refused_without_panic() {
    let mut ledger = Ledger::new(SIZE as i64);
    let inclusion = ledger.inclusion(5, 20).to_string();
    let consistency = ledger.consistency(5, 20).to_string();
    for end in 0..inclusion.len() {
        if inclusion.is_char_boundary(end) {
            assert!(InclusionDocument::parse(&inclusion[..end]).is_err(), "prefix of {end} bytes accepted");
        }
    }
    for end in 0..consistency.len() {
        assert!(ConsistencyDocument::parse(&consistency[..end]).is_err(), "prefix of {end} bytes accepted");
    }
}

#[test]
fn issues_say_what_failed() {
    let cases = [
        (
            ProofIssue::SizeMismatch { tree_size: 9, head_size: 8 },
            "tree_size 9 differs from the 8 leaves the tree head signs",
        ),
        (
            ProofIssue::LeafOutOfRange { leaf_index: 8, tree_size: 8 },
            "leaf_index 8 is not a leaf of the tree head's 8 leaves",
        ),
        (ProofIssue::NotIncluded, "the inclusion proof does not lead from the entry to the tree head's root"),
        (
            ProofIssue::HeadUnknownKey { head: HeadRole::Old, key_name: "audit".to_owned(), key_version: 3 },
            "old tree head signed with key audit version 3, which was not supplied",
        ),
        (ProofIssue::HeadBadSignature { head: HeadRole::New }, "new tree head signature does not verify"),
        (ProofIssue::HeadBadSignature { head: HeadRole::Head }, "tree head signature does not verify"),
        (ProofIssue::SizesOutOfOrder { old_size: 5, new_size: 4 }, "no consistency proof from 5 leaves to 4"),
        (ProofIssue::NotConsistent, "the consistency proof does not show the old tree to be a prefix of the new one"),
        (
            ProofIssue::Entry(Issue {
                entry_id: Some(4),
                chain_id: Some(1),
                chain_pos: Some(2),
                kind: IssueKind::BadSignature,
            }),
            "entry id 4 (chain 1, position 2): bad signature",
        ),
    ];
    for (issue, text) in cases {
        assert!(issue.to_string().starts_with(text), "{issue}");
    }
    assert!(ProofReport::default().is_valid());
    assert!(!ProofReport { issues: vec![ProofIssue::NotIncluded] }.is_valid());
}

/// ⌈log₂ n⌉, for `n >= 1`.
fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        (n - 1).ilog2() + 1
    }
}
