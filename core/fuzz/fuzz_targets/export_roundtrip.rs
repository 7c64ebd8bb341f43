//! Arbitrary entries chained as the extension chains them, exported, read back and
//! verified offline.
//!
//! Invariants:
//! - whatever the extension can write, the offline verifier reads back exactly (every
//!   text, timestamp, integer and `jsonb` value) and finds valid, including after the
//!   oldest positions of a chain were purged behind a checkpoint, and against a digest of
//!   the chain heads;
//! - editing one content column of one entry is reported as exactly one issue, a hash
//!   mismatch at that entry.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use warden_core::json;
use warden_core::ledger::{
    jsonb_text, parse_export, ChainHead, ChainMaterial, Checkpoint, Digest, EntryContent, EntryHasher, EntryRef,
    ExportWriter, Issue, IssueKind, LedgerEntry as _, NewLink,
};
use warden_core::mac::KeyedMac;

const KEY_NAME: &str = "audit";

fn keys(name: &str, version: i32) -> Option<KeyedMac> {
    (name == KEY_NAME && (1..=2).contains(&version))
        .then(|| KeyedMac::new(format!("{name}/{version}/0123456789abcdef").as_bytes()))
}

#[derive(Arbitrary, Debug)]
struct Row {
    /// Which of three chains the entry goes to.
    chain: u8,
    /// Key version 1 or 2.
    second_key: bool,
    ts: Option<i64>,
    /// `event_type` … `confidence`, then `session_user_name`, `application_name`,
    /// `client_addr`.
    texts: [Option<String>; 12],
    /// `details`, `before_state`, `after_state` as JSON text; kept only when it parses,
    /// then stored as PostgreSQL would print it.
    jsonb: [Option<String>; 3],
    txid: Option<i64>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    rows: Vec<Row>,
    /// Positions of chain 1 purged behind a checkpoint.
    purge: u8,
    /// Entry (by index, modulo the count) whose `action` is edited after signing.
    tamper: Option<u16>,
}

struct Stored {
    id: i64,
    content: Content,
    chain_id: i32,
    link: NewLink,
    key_version: i32,
}

struct Content {
    ts: Option<i64>,
    texts: [Option<String>; 12],
    jsonb: [Option<String>; 3],
    txid: Option<i64>,
}

impl Stored {
    fn entry(&self) -> EntryRef<'_> {
        let c = &self.content;
        let t = |i: usize| c.texts[i].as_deref();
        let j = |i: usize| c.jsonb[i].as_deref();
        EntryRef {
            content: EntryContent {
                id: self.id,
                ts: c.ts,
                event_type: t(0),
                action: t(1),
                actor: t(2),
                resource_type: t(3),
                resource_id: t(4),
                correlation_id: t(5),
                tenant: t(6),
                reason: t(7),
                confidence: t(8),
                details: j(0),
                before_state: j(1),
                after_state: j(2),
                session_user_name: t(9),
                application_name: t(10),
                client_addr: t(11),
                txid: c.txid,
            },
            chain: ChainMaterial {
                chain_id: Some(self.chain_id),
                chain_pos: Some(self.link.chain_pos),
                prev_hash: Some(&self.link.prev_hash),
                entry_hash: Some(&self.link.entry_hash),
                key_name: Some(KEY_NAME),
                key_version: Some(self.key_version),
                signature: Some(&self.link.signature),
            },
        }
    }
}

fuzz_target!(|input: Input| {
    let mut heads = [ChainHead::GENESIS; 3];
    let mut hasher = EntryHasher::new();
    let mut stored: Vec<Stored> = Vec::new();
    for (i, row) in input.rows.into_iter().enumerate() {
        let jsonb = row.jsonb.map(|text| text.and_then(|t| json::parse(&t).ok()).map(|v| jsonb_text(&v)));
        let content = Content { ts: row.ts, texts: row.texts, jsonb, txid: row.txid };
        let chain = usize::from(row.chain % 3);
        let key_version = if row.second_key { 2 } else { 1 };
        let mut entry = Stored {
            id: i as i64 + 1,
            content,
            chain_id: chain as i32 + 1,
            link: NewLink { chain_pos: 0, prev_hash: [0; 32], entry_hash: [0; 32], signature: [0; 32] },
            key_version,
        };
        let key = keys(KEY_NAME, key_version).expect("known");
        entry.link = hasher.link(&entry.entry().content, entry.chain_id, &heads[chain], &key).expect("link");
        heads[chain] = ChainHead { pos: entry.link.chain_pos, hash: entry.link.entry_hash };
        stored.push(entry);
    }

    // Retention: chain 1's first positions deleted, a checkpoint at the last one.
    let key = keys(KEY_NAME, 1).expect("known");
    let purge = i64::from(input.purge).min(heads[0].pos);
    let mut checkpoints = Vec::new();
    if purge > 0 {
        let last = stored.iter().find(|s| s.chain_id == 1 && s.link.chain_pos == purge).expect("purged entry");
        checkpoints
            .push(Checkpoint::new_signed(1, purge, last.link.entry_hash, 0, KEY_NAME, 1, &key).expect("checkpoint"));
        stored.retain(|s| s.chain_id != 1 || s.link.chain_pos > purge);
    }

    let tampered = input.tamper.filter(|_| !stored.is_empty()).map(|t| usize::from(t) % stored.len());
    if let Some(index) = tampered {
        let action = &mut stored[index].content.texts[1];
        *action = Some(match action.take() {
            Some(text) => text + "x",
            None => String::new(),
        });
    }

    let mut writer = ExportWriter::new(Vec::new()).expect("header");
    for entry in &stored {
        writer.write_entry(&entry.entry()).expect("the writer takes what the extension stores");
    }
    let text = String::from_utf8(writer.finish(&checkpoints).expect("finish")).expect("UTF-8");
    let export = parse_export(&text).expect("a written export reads back");
    assert_eq!(export.entries.len(), stored.len());
    for (read, written) in export.entries.iter().zip(&stored) {
        assert_eq!(read.entry(), written.entry(), "entry read back differs\n{text}");
    }
    assert_eq!(export.checkpoints, checkpoints);

    let report = export.verify(None, keys);
    assert_eq!(report.total_entries, stored.len() as u64);
    match tampered {
        None => assert!(report.is_valid(), "{:?}\n{text}", report.issues),
        Some(index) => {
            let entry = &stored[index];
            let expected = Issue {
                entry_id: Some(entry.id),
                chain_id: Some(entry.chain_id),
                chain_pos: Some(entry.link.chain_pos),
                kind: IssueKind::HashMismatch,
            };
            assert_eq!(report.issues, vec![expected]);
            return;
        }
    }
    let heads = report.digest_heads();
    let digest = Digest::new_signed(0, heads, report.total_entries, KEY_NAME, 1, &key).expect("digest");
    let digest = Digest::parse(&digest.to_json()).expect("digest reads back");
    assert!(export.verify(Some(&digest), keys).is_valid());
});
