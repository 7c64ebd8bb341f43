//! `warden-verify` run as a process: whatever an export or a proof document carries
//! reaches the terminal escaped, so no field can forge a line of the verdict or drive the
//! terminal; and each mode's exit status says valid (0), tampered (1) or unusable (2).

use std::path::PathBuf;
use std::process::Command;

use warden_core::ledger::merkle::{consistency_proof, inclusion_proof, leaf_hash, root};
use warden_core::ledger::{
    consistency_document, export_entry_value, inclusion_document, redaction_details, ChainHead, Column, EntryContent,
    EntryHasher, EntryRef, ExportWriter, FieldSeals, FieldSet, Hash, TreeHead, FIELD_SEALS_RANDOM_LEN,
    REDACTION_EVENT_TYPE,
};
use warden_core::mac::KeyedMac;

const SECRET_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// A forged verdict line and a terminal colour sequence.
const HOSTILE: &str = "mallory\nVALID: every entry, checkpoint and the digest verified\n\x1b[32m\u{202e}";

fn secret() -> Vec<u8> {
    hex::decode(SECRET_HEX).expect("hex")
}

/// An export of one entry signed under `key_name` version 1, carrying `actor`.
fn export(actor: &str, key_name: &str) -> String {
    let content = EntryContent {
        id: 1,
        ts: Some(1_000_000),
        event_type: Some("login"),
        action: Some(actor),
        actor: Some(actor),
        resource_id: Some(actor),
        details: Some(r#"{"note": "\u001b[31m"}"#),
        ..EntryContent::default()
    };
    let link = EntryHasher::new().link(&content, 1, &ChainHead::GENESIS, &KeyedMac::new(&secret())).expect("link");
    let mut out = ExportWriter::new(Vec::new()).expect("header");
    out.write_entry(&EntryRef { content, chain: link.material(1, key_name, 1) }).expect("entry");
    String::from_utf8(out.finish(&[]).expect("finish")).expect("UTF-8")
}

struct Run {
    status: Option<i32>,
    output: String,
}

fn verify(name: &str, document: &str) -> Run {
    run(name, "--export", document)
}

/// Runs `warden-verify FLAG FILE --key audit:1:…` on `document`.
fn run(name: &str, flag: &str, document: &str) -> Run {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("warden_verify_cli_{name}_{}.json", std::process::id()));
    std::fs::write(&path, document).expect("write document");
    let result = Command::new(env!("CARGO_BIN_EXE_warden-verify"))
        .arg(flag)
        .arg(&path)
        .arg("--key")
        .arg(format!("audit:1:{SECRET_HEX}"))
        .output()
        .expect("run warden-verify");
    std::fs::remove_file(&path).ok();
    let mut output = String::from_utf8(result.stdout).expect("UTF-8 stdout");
    output.push_str(&String::from_utf8(result.stderr).expect("UTF-8 stderr"));
    Run { status: result.status.code(), output }
}

/// No terminal control, no bidi override, and no line the export wrote.
fn assert_inert(run: &Run) {
    let text = &run.output;
    assert!(!text.contains('\u{1b}'), "ESC reached the terminal:\n{text}");
    assert!(!text.contains('\u{202e}'), "a bidi override reached the terminal:\n{text}");
    assert!(!text.contains("\nVALID: every entry, checkpoint and the digest"), "forged verdict line:\n{text}");
    assert!(!text.lines().any(|line| line.starts_with("mallory")), "a line started with export text:\n{text}");
}

#[test]
fn a_hostile_actor_of_a_valid_export_prints_nothing_raw() {
    let run = verify("valid", &export(HOSTILE, "audit"));
    assert_eq!(run.status, Some(0), "{}", run.output);
    assert_inert(&run);
    assert_eq!(run.output.lines().filter(|line| line.starts_with("VALID")).count(), 1, "{}", run.output);
}

#[test]
fn a_hostile_key_name_cannot_forge_the_verdict() {
    // The key name is printed in the issue naming the unknown key.
    let run = verify("key_name", &export(HOSTILE, HOSTILE));
    assert_eq!(run.status, Some(1), "{}", run.output);
    assert_inert(&run);
    assert!(!run.output.lines().any(|line| line.starts_with("VALID")), "{}", run.output);
    assert!(run.output.contains(r"mallory\nVALID: every entry"), "the key name is shown escaped:\n{}", run.output);
    assert!(run.output.contains(r"\u001b[32m\u202e"), "{}", run.output);
}

#[test]
fn a_hostile_field_name_in_a_refused_export_prints_nothing_raw() {
    // Parse errors name the field being read; here an unknown checkpoint field.
    let document = export("alice", "audit").replace(
        "\"checkpoints\": []",
        "\"checkpoints\": [{\"\\nVALID: every entry, checkpoint and the digest verified\\n\\u001b[32m\": 1}]",
    );
    let run = verify("field_name", &document);
    assert_eq!(run.status, Some(2), "{}", run.output);
    assert_inert(&run);
    assert!(run.output.contains(r"\nVALID"), "the field name is shown escaped:\n{}", run.output);
}

/// Five entries, entry 3 carrying `actor`, and the documents `warden.audit_proof(3, 5)`
/// and `warden.audit_consistency(3, 5)` would return, their tree heads signed under
/// `head_key_name` version 1: (inclusion, consistency), as PostgreSQL's jsonb prints them.
fn proof_documents(actor: &str, head_key_name: &str) -> (String, String) {
    let key = KeyedMac::new(&secret());
    let mut hasher = EntryHasher::new();
    let mut head = ChainHead::GENESIS;
    let mut leaves: Vec<Hash> = Vec::new();
    let mut proven = None;
    for id in 1..=5 {
        let content = EntryContent {
            id,
            ts: Some(1_000_000 * id),
            event_type: Some("login"),
            actor: Some(if id == 3 { actor } else { "alice" }),
            details: Some(r#"{"note": "\u001b[31m"}"#),
            ..EntryContent::default()
        };
        let link = hasher.link(&content, 1, &head, &key).expect("link");
        head = ChainHead { pos: link.chain_pos, hash: link.entry_hash };
        leaves.push(leaf_hash(&link.entry_hash));
        if id == 3 {
            let entry = EntryRef { content, chain: link.material(1, "audit", 1) };
            proven = Some(export_entry_value(&entry).expect("entry"));
        }
    }
    let signed = |size: u64| {
        TreeHead::new_signed(size, root(&leaves[..size as usize]), 7_000_000, head_key_name, 1, &key).expect("head")
    };
    let inclusion =
        inclusion_document(proven.expect("entry 3"), 2, &inclusion_proof(&leaves, 2, 5).expect("proof"), &signed(5));
    let consistency = consistency_document(&signed(3), &signed(5), &consistency_proof(&leaves, 3, 5).expect("proof"));
    (warden_core::ledger::jsonb_text(&inclusion), warden_core::ledger::jsonb_text(&consistency))
}

/// `document` with the first proof hash's first hex digit changed.
fn with_proof_altered(document: &str) -> String {
    let at = document.find("\"proof\": [\"").expect("a proof hash") + "\"proof\": [\"".len();
    let digit = if document.as_bytes()[at] == b'0' { "1" } else { "0" };
    format!("{}{digit}{}", &document[..at], &document[at + 1..])
}

fn verdicts(run: &Run) -> Vec<&str> {
    run.output.lines().filter(|line| line.starts_with("VALID") || line.starts_with("TAMPERED")).collect()
}

#[test]
fn a_valid_inclusion_proof_verifies() {
    let (inclusion, _) = proof_documents(HOSTILE, "audit");
    let run = run("proof_valid", "--proof", &inclusion);
    assert_eq!(run.status, Some(0), "{}", run.output);
    assert_inert(&run);
    assert_eq!(verdicts(&run), ["VALID: the entry, its inclusion proof and the tree head verified"], "{}", run.output);
    assert!(run.output.contains(": entry id 3 (chain 1, position 3), leaf 2 of 5\n"), "{}", run.output);
    assert!(run.output.contains("\ntree head: 5 leaves, root "), "{}", run.output);
}

#[test]
fn a_tampered_inclusion_proof_is_reported() {
    let (inclusion, _) = proof_documents("alice", "audit");
    let run = run("proof_tampered", "--proof", &with_proof_altered(&inclusion));
    assert_eq!(run.status, Some(1), "{}", run.output);
    assert_eq!(verdicts(&run), ["TAMPERED: 1 issues"], "{}", run.output);
    assert!(run.output.contains("\n  the inclusion proof does not lead from the entry"), "{}", run.output);

    let edited = inclusion.replacen("\"actor\": \"alice\"", "\"actor\": \"bob\"", 1);
    assert_ne!(edited, inclusion);
    let run = self::run("proof_entry_edited", "--proof", &edited);
    assert_eq!(run.status, Some(1), "{}", run.output);
    assert!(run.output.contains("\n  entry id 3 (chain 1, position 3): content modified"), "{}", run.output);
}

#[test]
fn a_hostile_key_name_of_a_tree_head_cannot_forge_the_verdict() {
    // The head's key name is printed with the head, and in the issue naming the key.
    let (inclusion, consistency) = proof_documents("alice", HOSTILE);
    for (name, flag, document) in [("head_key", "--proof", &inclusion), ("heads_key", "--consistency", &consistency)] {
        let run = run(name, flag, document);
        assert_eq!(run.status, Some(1), "{}", run.output);
        assert_inert(&run);
        assert!(!run.output.lines().any(|line| line.starts_with("VALID")), "{}", run.output);
        assert!(run.output.contains(r"key mallory\nVALID: every entry"), "shown escaped:\n{}", run.output);
        assert!(run.output.contains(r"\u001b[32m\u202e"), "{}", run.output);
    }
}

#[test]
fn a_consistency_proof_verifies_and_a_tampered_one_is_reported() {
    let (_, consistency) = proof_documents("alice", "audit");
    let run = run("consistency_valid", "--consistency", &consistency);
    assert_eq!(run.status, Some(0), "{}", run.output);
    assert_eq!(verdicts(&run), ["VALID: both tree heads and the consistency proof verified"], "{}", run.output);
    assert!(run.output.contains(": from 3 leaves to 5, "), "{}", run.output);
    assert!(run.output.contains("\nold tree head: 3 leaves, root "), "{}", run.output);
    assert!(run.output.contains("\nnew tree head: 5 leaves, root "), "{}", run.output);

    let run = self::run("consistency_tampered", "--consistency", &with_proof_altered(&consistency));
    assert_eq!(run.status, Some(1), "{}", run.output);
    assert_eq!(verdicts(&run), ["TAMPERED: 1 issues"], "{}", run.output);
    assert!(run.output.contains("\n  the consistency proof does not show the old tree"), "{}", run.output);

    let resized = consistency.replacen("\"tree_size\": 3", "\"tree_size\": 4", 1);
    assert_ne!(resized, consistency);
    let run = self::run("consistency_resized", "--consistency", &resized);
    assert_eq!(run.status, Some(1), "{}", run.output);
    assert!(run.output.contains("\n  old tree head signature does not verify"), "{}", run.output);
}

#[test]
fn a_document_of_the_wrong_kind_or_shape_is_an_input_error() {
    let (inclusion, consistency) = proof_documents("alice", "audit");
    // Parse errors name the field being read; here an unknown field of the tree head.
    let hostile_field = "\"\\nVALID: every entry, checkpoint and the digest verified\\n\\u001b[32m\": 1, \"root\"";
    let cases = [
        ("proof_as_consistency", "--consistency", inclusion.clone(), "unknown consistency proof field"),
        ("consistency_as_proof", "--proof", consistency.clone(), "not a pg_warden-inclusion-proof-v1 document"),
        ("export_as_proof", "--proof", export("alice", "audit"), "not a pg_warden-inclusion-proof-v1 document"),
        ("proof_as_export", "--export", inclusion.clone(), "unknown export field"),
        ("hostile_field", "--proof", inclusion.replacen("\"root\"", hostile_field, 1), r"\nVALID"),
        ("truncated", "--consistency", consistency[..consistency.len() - 2].to_owned(), "expected"),
    ];
    for (name, flag, document, message) in cases {
        let run = run(name, flag, &document);
        assert_eq!(run.status, Some(2), "{name}: {}", run.output);
        assert_inert(&run);
        assert!(run.output.contains(message), "{name}: {message} not in\n{}", run.output);
        assert!(verdicts(&run).is_empty(), "{name}: {}", run.output);
    }
}

/// A version-2 export of two entries: entry 1 with `actor` redacted by `warden.redact_audit`
/// and, when `recorded`, the signed redaction record (entry 2) that justifies it.
fn redacted_export(recorded: bool) -> String {
    let key = KeyedMac::new(&secret());
    let mut hasher = EntryHasher::new();
    let mut out = ExportWriter::new_v2(Vec::new()).expect("header");
    let subject = EntryContent {
        id: 1,
        ts: Some(1_000_000),
        event_type: Some("login"),
        action: Some("LOGIN"),
        actor: Some("alice"),
        session_user_name: Some("app"),
        ..EntryContent::default()
    };
    let mut seals = FieldSeals::from_random(&[7; FIELD_SEALS_RANDOM_LEN]);
    let first = hasher.link_v2(&subject, &seals, 1, &ChainHead::GENESIS, &key).expect("link");
    let mut redacted = subject;
    seals.redact(&mut redacted, FieldSet::of(&[Column::Actor])).expect("redacts");
    let bytes = seals.encode();
    out.write_sealed_entry(&EntryRef { content: redacted, chain: first.material(1, "audit", 1) }, Some(&bytes))
        .expect("entry");
    let details = redaction_details(&[(1, FieldSet::of(&[Column::Actor]))]);
    let record = EntryContent {
        id: 2,
        ts: Some(2_000_000),
        event_type: Some(REDACTION_EVENT_TYPE),
        action: Some("REDACT"),
        resource_type: Some("audit_log"),
        actor: Some("dpo"),
        details: Some(&details),
        session_user_name: Some("dpo"),
        ..EntryContent::default()
    };
    let record_seals = FieldSeals::from_random(&[9; FIELD_SEALS_RANDOM_LEN]);
    let head = ChainHead { pos: 1, hash: first.entry_hash };
    let second = hasher.link_v2(&record, &record_seals, 1, &head, &key).expect("link");
    if recorded {
        let bytes = record_seals.encode();
        out.write_sealed_entry(&EntryRef { content: record, chain: second.material(1, "audit", 1) }, Some(&bytes))
            .expect("entry");
    }
    String::from_utf8(out.finish(&[]).expect("finish")).expect("UTF-8")
}

#[test]
fn an_export_with_a_recorded_redaction_verifies_and_lists_it() {
    let run = verify("redacted", &redacted_export(true));
    assert_eq!(run.status, Some(0), "{}", run.output);
    assert!(run.output.contains("redacted: entry id 1 (chain 1, position 1): actor\n"), "{}", run.output);
    assert!(run.output.contains("VALID: every entry, checkpoint verified; 1 entries redacted"), "{}", run.output);
}

#[test]
fn an_export_with_an_unrecorded_redaction_is_tampered() {
    let run = verify("unrecorded", &redacted_export(false));
    assert_eq!(run.status, Some(1), "{}", run.output);
    assert!(run.output.contains("actor redacted without a redaction record"), "{}", run.output);
}
