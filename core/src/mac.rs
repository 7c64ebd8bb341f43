//! HMAC-SHA256 with the key's pad states computed once.
//!
//! `Hmac<Sha256>` absorbs `key ^ ipad` and `key ^ opad` when it is created; cloning it
//! copies those two compressed states, so each message then costs only its own blocks
//! plus one outer compression. A key is turned into a [`KeyedMac`] once per backend and
//! reused for every value.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of an HMAC-SHA256 tag in bytes.
pub const TAG_LEN: usize = 32;
/// Length of a fingerprint in hex characters.
pub const FINGERPRINT_HEX_LEN: usize = 2 * TAG_LEN;

/// A key ready to authenticate messages.
#[derive(Clone)]
pub struct KeyedMac {
    primed: HmacSha256,
}

impl KeyedMac {
    /// Precomputes the pad states of `key` (any length, as RFC 2104 allows).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of every length (long keys are hashed first), so this
        // constructor cannot fail for Hmac<Sha256>.
        let primed = <HmacSha256 as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of any length"));
        Self { primed }
    }

    /// HMAC-SHA256 of `data`.
    pub fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.primed.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 over the concatenation of `parts`, without joining them first.
    pub fn tag_parts(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut mac = self.primed.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `expected` is the tag of `data`, compared in constant time.
    pub fn verify(&self, data: &[u8], expected: &[u8; TAG_LEN]) -> bool {
        let mut mac = self.primed.clone();
        mac.update(data);
        mac.verify_slice(expected).is_ok()
    }

    /// The tag of `data` as 64 lowercase hex characters, written into `out`.
    pub fn fingerprint_into<'a>(&self, data: &[u8], out: &'a mut [u8; FINGERPRINT_HEX_LEN]) -> &'a str {
        let tag = self.tag(data);
        hex_into(&tag, out)
    }

    /// The tag of `data` as 64 lowercase hex characters.
    pub fn fingerprint(&self, data: &[u8]) -> String {
        let mut buf = [0u8; FINGERPRINT_HEX_LEN];
        self.fingerprint_into(data, &mut buf).to_owned()
    }

    /// A short key check value: the first four bytes of HMAC(key, "check") in hex.
    /// It tells two keys apart without revealing either.
    pub fn check_value(&self) -> String {
        hex::encode(&self.tag(b"check")[..4])
    }
}

/// One-shot HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; TAG_LEN] {
    KeyedMac::new(key).tag(data)
}

/// Lowercase hex of a tag into a fixed buffer.
pub fn hex_into<'a>(tag: &[u8; TAG_LEN], out: &'a mut [u8; FINGERPRINT_HEX_LEN]) -> &'a str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in tag.iter().enumerate() {
        out[2 * i] = DIGITS[(byte >> 4) as usize];
        out[2 * i + 1] = DIGITS[(byte & 0x0f) as usize];
    }
    // Only ASCII hex digits were written.
    std::str::from_utf8(out).unwrap_or_else(|_| unreachable!("hex digits are ASCII"))
}

/// Parses a fingerprint (64 hex characters, either case) into a tag.
pub fn parse_fingerprint(text: &str) -> Option<[u8; TAG_LEN]> {
    if text.len() != FINGERPRINT_HEX_LEN {
        return None;
    }
    let mut tag = [0u8; TAG_LEN];
    hex::decode_to_slice(text, &mut tag).ok()?;
    Some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector is hex")
    }

    /// RFC 4231 section 4 test cases (case 5, truncated output, is checked on its prefix).
    #[test]
    fn rfc4231_vectors() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
                "4869205468657265",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                "4a656665",
                "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                &"dd".repeat(50),
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                "0102030405060708090a0b0c0d0e0f10111213141516171819",
                &"cd".repeat(50),
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
                "546573742057697468205472756e636174696f6e",
                "a3b6167473100ee06e0c796c2955552b",
            ),
            (
                &"aa".repeat(131),
                "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &"aa".repeat(131),
                "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e6720757365642062792074686520484d414320616c676f726974686d2e",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, expected) in cases {
            let tag = hmac_sha256(&unhex(key), &unhex(data));
            assert!(hex::encode(tag).starts_with(expected), "key {key}");
        }
    }

    #[test]
    fn primed_key_is_reusable() {
        let k = KeyedMac::new(b"k");
        assert_eq!(k.tag(b"a"), hmac_sha256(b"k", b"a"));
        assert_eq!(k.tag(b"b"), hmac_sha256(b"k", b"b"));
        assert_eq!(k.tag_parts(&[b"ab", b"c"]), k.tag(b"abc"));
    }

    #[test]
    fn fingerprint_is_lower_hex_and_verifies() {
        let k = KeyedMac::new(b"0123456789abcdef");
        let fp = k.fingerprint(b"hunter2");
        assert_eq!(fp.len(), 64);
        assert!(fp.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        let tag = parse_fingerprint(&fp.to_uppercase()).expect("uppercase parses");
        assert!(k.verify(b"hunter2", &tag));
        assert!(!k.verify(b"hunter3", &tag));
        assert!(!KeyedMac::new(b"another key").verify(b"hunter2", &tag));
    }

    #[test]
    fn malformed_fingerprints_are_rejected() {
        assert!(parse_fingerprint("").is_none());
        assert!(parse_fingerprint(&"a".repeat(63)).is_none());
        assert!(parse_fingerprint(&"g".repeat(64)).is_none());
        assert!(parse_fingerprint(&"é".repeat(32)).is_none());
    }

    #[test]
    fn check_value_separates_keys() {
        let a = KeyedMac::new(b"a").check_value();
        assert_eq!(a.len(), 8);
        assert_ne!(a, KeyedMac::new(b"b").check_value());
    }
}
