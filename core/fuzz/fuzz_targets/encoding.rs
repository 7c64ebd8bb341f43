//! The canonical entry encoding (version 1) and the entry hash over it.
//!
//! Invariants:
//! - encoding never panics or fails for values under 4 GiB;
//! - it is deterministic, and `encode_into` appends exactly `encode`'s bytes;
//! - it is injective: an independent decoder written from the documented layout reads
//!   every field back, NULL and empty text apart, and consumes every byte; two different
//!   entries never encode alike;
//! - `entry_hash` is SHA-256 over the encoding, chain id, position and previous hash,
//!   whether the hasher's buffer is fresh or reused;
//! - `link` signs that hash with the key and advances the position by one.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};
use warden_core::ledger::{
    sign_entry_hash, ChainHead, EntryContent, EntryHasher, Hash, CONTENT_COLUMNS, ENCODING_VERSION, ENTRY_DOMAIN,
};
use warden_core::mac::KeyedMac;

/// An entry's content columns, owned: `id`, `ts`, the 15 text columns in encoding order,
/// `txid`.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
struct Content {
    id: i64,
    ts: Option<i64>,
    texts: [Option<String>; 15],
    txid: Option<i64>,
}

impl Content {
    fn entry(&self) -> EntryContent<'_> {
        let t = |i: usize| self.texts[i].as_deref();
        EntryContent {
            id: self.id,
            ts: self.ts,
            event_type: t(0),
            action: t(1),
            actor: t(2),
            resource_type: t(3),
            resource_id: t(4),
            correlation_id: t(5),
            tenant: t(6),
            reason: t(7),
            confidence: t(8),
            details: t(9),
            before_state: t(10),
            after_state: t(11),
            session_user_name: t(12),
            application_name: t(13),
            client_addr: t(14),
            txid: self.txid,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    a: Content,
    b: Content,
    chain_id: i32,
    chain_pos: i64,
    prev_hash: Hash,
    prefix: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let Input { a, b, chain_id, chain_pos, prev_hash, prefix } = input;
    let encoded = a.entry().encode().expect("encodable");
    assert_eq!(a.entry().encode().expect("encodable"), encoded, "not deterministic");
    let mut appended = prefix.clone();
    a.entry().encode_into(&mut appended).expect("encodable");
    assert_eq!(&appended[..prefix.len()], prefix.as_slice(), "encode_into touched what was there");
    assert_eq!(&appended[prefix.len()..], encoded.as_slice(), "encode_into differs from encode");

    assert_eq!(decode(&encoded).as_ref(), Some(&a), "the encoding does not read back");
    let encoded_b = b.entry().encode().expect("encodable");
    assert_eq!(a == b, encoded == encoded_b, "distinct entries, same encoding (or the reverse)");

    let mut preimage = encoded.clone();
    preimage.extend_from_slice(&chain_id.to_be_bytes());
    preimage.extend_from_slice(&chain_pos.to_be_bytes());
    preimage.extend_from_slice(&prev_hash);
    let expected: Hash = Sha256::digest(&preimage).into();
    let mut hasher = EntryHasher::new();
    assert_eq!(hasher.entry_hash(&a.entry(), chain_id, chain_pos, &prev_hash), Ok(expected));
    // Reused after a different entry, the scratch buffer must not leak into the hash.
    let _ = hasher.entry_hash(&b.entry(), chain_id, chain_pos, &prev_hash);
    assert_eq!(hasher.entry_hash(&a.entry(), chain_id, chain_pos, &prev_hash), Ok(expected));

    let key = KeyedMac::new(b"fuzz encoding key");
    let head = ChainHead { pos: chain_pos, hash: prev_hash };
    match hasher.link(&a.entry(), chain_id, &head, &key) {
        Ok(link) => {
            assert_eq!(Some(link.chain_pos), chain_pos.checked_add(1));
            assert_eq!(link.prev_hash, prev_hash);
            let hash = hasher.entry_hash(&a.entry(), chain_id, link.chain_pos, &prev_hash).expect("encodable");
            assert_eq!(link.entry_hash, hash);
            assert_eq!(link.signature, sign_entry_hash(&key, &hash));
            assert!(key.verify(&link.entry_hash, &link.signature));
        }
        Err(_) => assert_eq!(chain_pos, i64::MAX, "link failed below the largest position"),
    }
});

/// Reads an encoding back by the layout in docs/audit.md, refusing anything else.
fn decode(bytes: &[u8]) -> Option<Content> {
    let mut r = Reader { bytes };
    if r.take(1)? != [ENCODING_VERSION] || r.len_prefixed()? != ENTRY_DOMAIN {
        return None;
    }
    let id = r.int()??;
    let ts = r.int()?;
    let mut texts: [Option<String>; 15] = Default::default();
    for text in &mut texts {
        *text = match r.take(1)? {
            [0] => None,
            [1] => Some(String::from_utf8(r.len_prefixed()?.to_vec()).ok()?),
            _ => return None,
        };
    }
    let txid = r.int()?;
    assert_eq!(2 + texts.len() + 1, CONTENT_COLUMNS.len());
    r.bytes.is_empty().then_some(Content { id, ts, texts, txid })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn len_prefixed(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
        self.take(usize::try_from(len).ok()?)
    }

    /// `Some(None)` for NULL, `Some(Some(v))` for a value, `None` when malformed.
    fn int(&mut self) -> Option<Option<i64>> {
        match self.take(1)? {
            [0] => Some(None),
            [1] => {
                let value = self.len_prefixed()?;
                Some(Some(i64::from_be_bytes(value.try_into().ok()?)))
            }
            _ => None,
        }
    }
}
