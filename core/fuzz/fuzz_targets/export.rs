//! The export and digest readers on arbitrary text, and verification of whatever they
//! accept.
//!
//! Invariants:
//! - `parse_export`, `Digest::parse` and verification never panic: any input gives a
//!   document or an error, and any document a report;
//! - what either reader accepts is JSON (or nested too deep for the generic parser);
//! - an accepted export written again by `ExportWriter` is accepted, reads back to the
//!   same entries and checkpoints, and verifies to the same report: every `jsonb` value
//!   the reader rebuilds is text the writer recognizes as PostgreSQL's;
//! - a report counts every entry, no more invalid entries than entries, and is valid
//!   exactly when it lists no issue;
//! - a digest signed over a report's own chain heads adds no issue when verifying the
//!   same export with it;
//! - an accepted digest written out by `to_json` reads back to the same digest;
//! - reading takes memory in proportion to the input: at most `MEMORY_PER_BYTE` bytes
//!   allocated at once per input byte, plus `MEMORY_SLACK`, whether it accepts or
//!   refuses it (serde_json's trees for embedded `jsonb` values cost the most, about
//!   100 bytes per input byte for small objects).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use warden_core::json::{self, JsonError};
use warden_core::ledger::{
    parse_export, verify_entries, Digest, EntryRef, Export, ExportWriter, LedgerEntry as _, Report,
};
use warden_core::mac::KeyedMac;

const KEY_NAME: &str = "audit";

/// The fixed test key the seed corpus is signed with: versions 1 and 2 of `audit` are
/// known, every other version is not.
fn keys(name: &str, version: i32) -> Option<KeyedMac> {
    (name == KEY_NAME && (1..=2).contains(&version))
        .then(|| KeyedMac::new(format!("{name}/{version}/0123456789abcdef").as_bytes()))
}

const MEMORY_PER_BYTE: usize = 512;
const MEMORY_SLACK: usize = 256 << 10;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let bound = MEMORY_PER_BYTE * text.len() + MEMORY_SLACK;
    let (parsed, peak) = peak_allocation(|| parse_export(text).map(drop));
    assert!(peak <= bound, "parse_export held {peak} bytes for {} input bytes ({parsed:?})", text.len());
    let (parsed, peak) = peak_allocation(|| Digest::parse(text).map(drop));
    assert!(peak <= bound, "Digest::parse held {peak} bytes for {} input bytes ({parsed:?})", text.len());

    if let Ok(export) = parse_export(text) {
        assert_ne!(json_syntax(text), Some(false), "accepted an export that is not JSON");
        check_export(&export);
    }
    if let Ok(digest) = Digest::parse(text) {
        assert_ne!(json_syntax(text), Some(false), "accepted a digest that is not JSON");
        let written = digest.to_json();
        assert_eq!(Digest::parse(&written).as_ref(), Ok(&digest), "digest does not read back\n{written}");
        for key in [keys(&digest.key_name, digest.key_version), Some(KeyedMac::new(b"other"))].iter().flatten() {
            let _ = digest.signature_valid(key);
        }
        let report = verify_entries::<EntryRef<'_>, _>(&[], &[], Some(&digest), keys);
        check_report(&report, 0);
    }
});

/// `Some(true)` for JSON, `Some(false)` for a syntax error, `None` when only the
/// generic parser's depth limit refused it.
fn json_syntax(text: &str) -> Option<bool> {
    match json::parse(text) {
        Ok(_) => Some(true),
        Err(JsonError::TooDeep) => None,
        Err(JsonError::Syntax(_)) => Some(false),
    }
}

fn check_export(export: &Export<'_>) {
    let report = export.verify(None, keys);
    check_report(&report, export.entries.len());
    // Without any key, verification still completes.
    check_report(&export.verify(None, |_: &str, _: i32| None), export.entries.len());

    let mut writer = ExportWriter::new(Vec::new()).expect("header");
    for entry in &export.entries {
        writer.write_entry(&entry.entry()).expect("an entry read from an export can be written again");
    }
    let bytes = writer.finish(&export.checkpoints).expect("finish");
    let text = String::from_utf8(bytes).expect("the writer writes UTF-8");
    let again = parse_export(&text).expect("a written export reads back");
    assert_eq!(again.entries, export.entries, "entries changed through writing and reading\n{text}");
    assert_eq!(again.checkpoints, export.checkpoints, "checkpoints changed through writing and reading");
    assert_eq!(again.verify(None, keys), report, "the written export verifies differently");

    let key = keys(KEY_NAME, 1).expect("known");
    let digest = Digest::new_signed(0, report.digest_heads(), report.total_entries, KEY_NAME, 1, &key)
        .expect("a report lists each chain once");
    assert_eq!(Digest::parse(&digest.to_json()).as_ref(), Ok(&digest));
    let with_digest = export.verify(Some(&digest), keys);
    assert_eq!(with_digest, report, "a digest of the export's own heads changed its report");
}

fn check_report(report: &Report, entries: usize) {
    assert_eq!(report.total_entries, entries as u64);
    assert!(report.invalid_entries <= report.total_entries);
    assert_eq!(report.is_valid(), report.issues.is_empty());
    assert!(report.chains.windows(2).all(|w| w[0].chain_id < w[1].chain_id), "chains out of order");
    for chain in &report.chains {
        assert!(chain.first_pos <= chain.head_pos);
        assert!(chain.positions >= 1);
    }
    for issue in &report.issues {
        assert!(!issue.to_string().is_empty());
    }
}

/// Counts the bytes the Rust allocator hands out, to bound what the readers hold at once.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            // Old and new blocks both exist while the contents move.
            grow(new_size);
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

fn grow(size: usize) {
    let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result and the most memory it held at once beyond what was
/// allocated before.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = f();
    (result, PEAK.load(Ordering::Relaxed) - before)
}
