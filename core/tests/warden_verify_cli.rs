//! `warden-verify` run as a process: whatever an export carries reaches the terminal
//! escaped, so no field can forge a line of the verdict or drive the terminal.

use std::path::PathBuf;
use std::process::Command;

use warden_core::ledger::{ChainHead, EntryContent, EntryHasher, EntryRef, ExportWriter};
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
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("warden_verify_cli_{name}_{}.json", std::process::id()));
    std::fs::write(&path, document).expect("write export");
    let result = Command::new(env!("CARGO_BIN_EXE_warden-verify"))
        .arg("--export")
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
