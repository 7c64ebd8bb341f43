//! Timings of warden-core's pure-Rust paths, without a server: what each anonymization
//! strategy costs per value, and how fast ledger entries verify. Run in release, as
//! `bench/run core` does: `cargo run --release -p warden-core-bench [anonymize|ledger]`.

use std::hint::black_box;
use std::time::Instant;

use warden_core::anonymize::{
    partial, redact, EmailDomain, EmailOptions, PartialOptions, Pseudonymizer, RedactOptions,
};
use warden_core::ledger::{
    parse_export, verify_entries, ChainHead, ChainMaterial, EntryContent, EntryHasher, EntryRef, ExportWriter, Hash,
    LedgerEntry, Verifier,
};
use warden_core::mac::KeyedMac;

fn main() {
    let only = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if !matches!(only.as_str(), "all" | "anonymize" | "ledger") {
        eprintln!("usage: warden-core-bench [all|anonymize|ledger]");
        std::process::exit(2);
    }
    if only != "ledger" {
        anonymize_per_value();
    }
    if only != "anonymize" {
        verify_throughput();
    }
}

/// Per-value cost of each strategy over 1,000,000 values, against a String clone.
fn anonymize_per_value() {
    const N: usize = 1_000_000;
    println!("== anonymization: ns per value over {N} values ==");
    let master = KeyedMac::new(b"pg_warden anonymize bench key, 32");
    let p = Pseudonymizer::new(&master, 42);
    let emails: Vec<String> = (0..N).map(|i| format!("user{i}@corp.example.org")).collect();
    let phones: Vec<String> = (0..N).map(|i| format!("+1 (555) {:03}-{:04}", i / 10_000, i % 10_000)).collect();
    let tens: Vec<String> = (0..N).map(|i| format!("{:010}", i * 7919)).collect();
    let fours: Vec<String> = (0..N).map(|i| format!("{:04}", i % 10_000)).collect();
    let time = |label: &str, f: &mut dyn FnMut(usize) -> usize| {
        let start = Instant::now();
        let mut total = 0;
        for i in 0..N {
            total += f(i);
        }
        let ns = start.elapsed().as_nanos() as f64 / N as f64;
        println!("{label:<28} {ns:>8.1} ns/value   (checksum {total})");
    };
    let email_default = EmailOptions::default();
    let email_keep = EmailOptions { domain: EmailDomain::Keep, case_sensitive: false };
    let redact_opts = RedactOptions::default();
    let partial_opts = PartialOptions::default();
    time("floor: String clone", &mut |i| black_box(emails[i].clone()).len());
    time("hash", &mut |i| p.hash(&emails[i]).len());
    time("email (example.com)", &mut |i| p.email(&emails[i], &email_default).len());
    time("email (keep)", &mut |i| p.email(&emails[i], &email_keep).len());
    time("phone (+1 (555) ddd-dddd)", &mut |i| p.phone(&phones[i]).map_or(0, |s| s.len()));
    time("digits (10 digits, FF1)", &mut |i| p.digits(&tens[i]).map_or(0, |s| s.len()));
    time("digits (4 digits, Feistel)", &mut |i| p.digits(&fours[i]).map_or(0, |s| s.len()));
    time("bigint", &mut |i| p.bigint(i as i64 * 7919) as usize & 1);
    time("integer", &mut |i| p.integer(i as i32) as usize & 1);
    time("redact", &mut |i| redact(&emails[i], &redact_opts).len());
    time("partial", &mut |i| partial(&emails[i], &partial_opts).len());
    let start = Instant::now();
    for seed in 0..1000 {
        black_box(Pseudonymizer::new(&master, seed));
    }
    println!("Pseudonymizer::new            {:>8.1} µs", start.elapsed().as_nanos() as f64 / 1000.0 / 1000.0);
}

const KEY_NAME: &str = "audit";

/// One chained entry with small content, as the chain trigger would have written it.
struct Entry {
    id: i64,
    details: Option<String>,
    chain_id: i32,
    chain_pos: i64,
    prev_hash: Hash,
    entry_hash: Hash,
    signature: Hash,
}

impl Entry {
    fn content(&self) -> EntryContent<'_> {
        EntryContent {
            id: self.id,
            ts: Some(848_729_701_000_000 + self.id * 1_000),
            event_type: Some("dml"),
            action: Some(if self.id % 3 == 0 { "DELETE" } else { "UPDATE" }),
            actor: Some("alice"),
            resource_type: Some("table"),
            resource_id: Some("public.accounts"),
            details: self.details.as_deref(),
            client_addr: Some("192.0.2.1"),
            ..EntryContent::default()
        }
    }
}

impl LedgerEntry for Entry {
    fn entry(&self) -> EntryRef<'_> {
        EntryRef {
            content: self.content(),
            chain: ChainMaterial {
                chain_id: Some(self.chain_id),
                chain_pos: Some(self.chain_pos),
                prev_hash: Some(&self.prev_hash),
                entry_hash: Some(&self.entry_hash),
                key_name: Some(KEY_NAME),
                key_version: Some(1),
                signature: Some(&self.signature),
            },
        }
    }
}

/// `per_chain` entries on each of `chains` chains, written round-robin as concurrent
/// sessions would, in id order.
fn ledger(key: &KeyedMac, chains: i32, per_chain: usize) -> Vec<Entry> {
    let mut hasher = EntryHasher::new();
    let mut heads = vec![ChainHead::GENESIS; chains as usize];
    let mut entries = Vec::with_capacity(chains as usize * per_chain);
    for _ in 0..per_chain {
        for (chain_id, head) in (1..=chains).zip(heads.iter_mut()) {
            let id = entries.len() as i64 + 1;
            let details = (id % 2 == 0).then(|| format!(r#"{{"n": {id}, "tags": ["a", "b"]}}"#));
            let mut entry = Entry {
                id,
                details,
                chain_id,
                chain_pos: 0,
                prev_hash: [0; 32],
                entry_hash: [0; 32],
                signature: [0; 32],
            };
            let link = hasher.link(&entry.content(), chain_id, head, key).expect("link");
            (entry.chain_pos, entry.prev_hash, entry.entry_hash, entry.signature) =
                (link.chain_pos, link.prev_hash, link.entry_hash, link.signature);
            *head = ChainHead { pos: link.chain_pos, hash: link.entry_hash };
            entries.push(entry);
        }
    }
    entries
}

/// Verification of 1,000,000 small entries on 16 chains: from id order (best of 3), pushed
/// presorted, and read back from an export.
fn verify_throughput() {
    let key = KeyedMac::new(b"pg_warden ledger bench key, 0001");
    let keys = |name: &str, version: i32| (name == KEY_NAME && version == 1).then(|| key.clone());
    let mut entries = ledger(&key, 16, 62_500);
    let total = entries.len();
    println!("== ledger verification: {total} entries on 16 chains ==");
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let report = verify_entries(&entries, &[], None, keys);
        best = best.min(start.elapsed().as_secs_f64());
        assert!(report.is_valid());
    }
    println!("verify_entries: {total} entries in {best:.3} s = {:.0} entries/s", total as f64 / best);

    let mut out = ExportWriter::new(Vec::new()).expect("header");
    for entry in &entries {
        out.write_entry(&entry.entry()).expect("entry");
    }
    let document = String::from_utf8(out.finish(&[]).expect("finish")).expect("UTF-8");

    entries.sort_by_key(|e| (e.chain_id, e.chain_pos));
    let start = Instant::now();
    let mut verifier = Verifier::new(&[], None, keys);
    for entry in &entries {
        verifier.push(&entry.entry()).expect("in order");
    }
    assert!(verifier.finish().is_valid());
    println!("Verifier::push (presorted): {:.0} entries/s", total as f64 / start.elapsed().as_secs_f64());

    let start = Instant::now();
    let export = parse_export(&document).expect("parses");
    let parsed = start.elapsed().as_secs_f64();
    let report = export.verify(None, keys);
    let both = start.elapsed().as_secs_f64();
    assert!(report.is_valid());
    println!(
        "export of {} MB: parse {:.0} entries/s, parse + verify {:.0} entries/s",
        document.len() / 1_000_000,
        total as f64 / parsed,
        total as f64 / both
    );
}
