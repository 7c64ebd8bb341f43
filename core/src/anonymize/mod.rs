//! Deterministic, format-preserving anonymization.
//!
//! Output depends only on (value, strategy, seed, key). A [`Pseudonymizer`] holds
//! everything one (key, seed) pair needs, derived once: HMAC subkeys, AES key schedules
//! and the small-domain round tables. Each value then costs one HMAC or one FF1
//! encryption and the output string.
//!
//! Subkeys are `HMAC(master, "pg_warden/anonymize/v1/" || purpose || seed as 8 bytes
//! big-endian)`. The seed separates domains (the same value under two seeds gives
//! unrelated outputs) and nothing can be recomputed without the key. Purposes are
//! distinct strings and the seed has a fixed length, so no two (purpose, seed) pairs
//! give the same HMAC input.
//!
//! | strategy | output | edge cases |
//! |---|---|---|
//! | `hash` | 32 lowercase hex characters (128 bits of HMAC) | any text, "" included |
//! | `email` | `<20 × [a-z2-7]>@<domain>`, see [`Pseudonymizer::email`] | any text gets a valid address |
//! | `phone` | same characters, each digit 0–9 replaced, see [`Pseudonymizer::digits`] | "" → ""; no digit → [`AnonError::NoDigits`] |
//! | `digits` | a digit string of the same length | "" → ""; other characters → [`AnonError::NotDigits`] |
//! | `redact` | 8 mask characters, or one per character | — |
//! | `partial` | prefix and suffix kept, the rest masked | prefix + suffix ≥ length → all masked |
//!
//! `phone` and `digits` share one permutation: the digits of a value come out
//! the same whether it is written `+1 (555) 010-9999` under `phone` or `15550109999`
//! under `digits`, so a number stays joinable across tables that format it differently.
//! Characters that are numeric but not 0–9 (Arabic-Indic digits, superscripts) are
//! refused by both rather than passed through.

mod digits;
mod domain;
mod email;
mod error;
mod mask;
mod numeral;
mod strategy;

pub use digits::MAX_DIGITS;
pub use domain::{is_valid_domain, DEFAULT_DOMAIN, FALLBACK_DOMAIN, LOCAL_LEN, MAX_DOMAIN_LEN};
pub use error::{AnonError, OptionProblem};
pub use mask::{partial, redact, REDACT_LEN};
pub(crate) use strategy::kind_of;
pub use strategy::{
    EmailDomain, EmailOptions, PartialOptions, RedactOptions, Strategy, DEFAULT_MASK_CHAR, DEFAULT_PARTIAL_SUFFIX,
    STRATEGY_NAMES,
};

use crate::mac::{hex_into, hex_string, KeyedMac, FINGERPRINT_HEX_LEN, TAG_LEN};
use digits::{DigitPermutation, IntPermutation};

/// Hex characters in a `hash` token: 128 bits.
pub const HASH_HEX_LEN: usize = 32;

/// Domain-separation prefix of every anonymization subkey.
const SUBKEY_LABEL: &[u8] = b"pg_warden/anonymize/v1/";

/// Digits held on the stack while permuting; longer strings use the heap.
const STACK_DIGITS: usize = 64;

/// Everything needed to anonymize under one key and seed, precomputed.
pub struct Pseudonymizer {
    hash: KeyedMac,
    email: KeyedMac,
    digits: DigitPermutation,
    integers: IntPermutation,
}

fn subkey(master: &KeyedMac, purpose: &str, seed: i64) -> [u8; TAG_LEN] {
    master.tag_parts(&[SUBKEY_LABEL, purpose.as_bytes(), &seed.to_be_bytes()])
}

impl Pseudonymizer {
    /// Derives the subkeys of `seed` from `master` (a keyring key). Costs tens of
    /// microseconds: build it once per (key, seed) and reuse it.
    pub fn new(master: &KeyedMac, seed: i64) -> Self {
        Self {
            hash: KeyedMac::new(&subkey(master, "hash", seed)),
            email: KeyedMac::new(&subkey(master, "email", seed)),
            digits: DigitPermutation::new(&subkey(master, "digits/ff1", seed), &subkey(master, "digits/short", seed)),
            integers: IntPermutation::new(&subkey(master, "integer", seed)),
        }
    }

    /// Applies `strategy` to `value`.
    pub fn anonymize(&self, value: &str, strategy: &Strategy) -> Result<String, AnonError> {
        match strategy {
            Strategy::Hash => Ok(self.hash(value)),
            Strategy::Email(options) => Ok(self.email(value, options)),
            Strategy::Phone => self.phone(value),
            Strategy::Digits => self.digits(value),
            Strategy::Redact(options) => Ok(redact(value, options)),
            Strategy::Partial(options) => Ok(partial(value, options)),
        }
    }

    /// `hash`: the first [`HASH_HEX_LEN`] lowercase hex characters of
    /// HMAC(hash subkey, value).
    pub fn hash(&self, value: &str) -> String {
        let mut hex = [0u8; FINGERPRINT_HEX_LEN];
        hex_into(&self.hash.tag(value.as_bytes()), &mut hex);
        hex_string(&hex[..HASH_HEX_LEN])
    }

    /// `email`: `<local>@<domain>`, always a valid address of at most 254 characters,
    /// whatever the input (no '@', several, empty).
    ///
    /// The local part is 20 characters of base32 (`a-z`, `2-7`) spelling the first 100
    /// bits of HMAC(email subkey, input lowercased whole, or as is with
    /// `case_sensitive`). A collision among 10^9 distinct inputs is about as likely as
    /// 2^-41, so pseudonyms can fill a UNIQUE column. The local part ignores the domain
    /// option: one address gets the same local part whether its domain is kept or not.
    ///
    /// The domain is [`DEFAULT_DOMAIN`] unless the options name another; with
    /// `"domain": "keep"` it is the input's text after its last '@', lowercased, when that
    /// is a valid host name ([`is_valid_domain`]), else [`FALLBACK_DOMAIN`].
    pub fn email(&self, value: &str, options: &EmailOptions) -> String {
        email::pseudonymize(&self.email, value, options)
    }

    /// `phone`: each ASCII digit replaced, every other character kept in place.
    pub fn phone(&self, value: &str) -> Result<String, AnonError> {
        if value.is_empty() {
            return Ok(String::new());
        }
        if !value.is_ascii() && value.chars().any(|c| c.is_numeric() && !c.is_ascii_digit()) {
            return Err(AnonError::NonAsciiDigit);
        }
        let count = value.bytes().filter(u8::is_ascii_digit).count();
        if count == 0 {
            return Err(AnonError::NoDigits);
        }
        self.with_permuted_digits(value, count, |digits| {
            // There are exactly as many permuted digits as digit characters.
            let mut permuted = digits.iter().map(|d| char::from(b'0' + d));
            value.chars().map(|c| if c.is_ascii_digit() { permuted.next().unwrap_or(c) } else { c }).collect()
        })
    }

    /// `digits`: a string of ASCII digits replaced by one of the same length, through a
    /// keyed permutation of the strings of that length (two distinct inputs of one length
    /// never share an output):
    /// - 6 to [`MAX_DIGITS`] digits: FF1 (NIST SP 800-38G), AES-256, radix 10, no tweak;
    /// - 1 to 5 digits, below FF1's minimum domain of 10^6: a 10-round Feistel network
    ///   with keyed random round tables, cycle-walked onto [0, 10^n);
    /// - more than [`MAX_DIGITS`]: [`AnonError::TooManyDigits`].
    ///
    /// Leading zeros are digits like any other: `0042` may become `7305`, `1234` may
    /// become `0815`.
    pub fn digits(&self, value: &str) -> Result<String, AnonError> {
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(if value.chars().any(|c| c.is_numeric() && !c.is_ascii_digit()) {
                AnonError::NonAsciiDigit
            } else {
                AnonError::NotDigits
            });
        }
        self.with_permuted_digits(value, value.len(), |digits| digits.iter().map(|d| char::from(b'0' + d)).collect())
    }

    /// A keyed bijection of `bigint`: non-negative values to non-negative values,
    /// negative to negative (FF1 in radix 2 over 63 bits, a negative `x` going through
    /// `!x`), so unique keys stay unique. Small ids get large images.
    pub fn bigint(&self, value: i64) -> i64 {
        self.integers.permute_i64(value)
    }

    /// A keyed bijection of `integer`, keeping the sign like [`Self::bigint`].
    pub fn integer(&self, value: i32) -> i32 {
        self.integers.permute_i32(value)
    }

    /// Collects the `count` ASCII digits of `value`, permutes them and hands them (as
    /// values 0–9) to `build`.
    fn with_permuted_digits(
        &self,
        value: &str,
        count: usize,
        build: impl FnOnce(&[u8]) -> String,
    ) -> Result<String, AnonError> {
        if count > MAX_DIGITS {
            return Err(AnonError::TooManyDigits { max: MAX_DIGITS });
        }
        let mut stack = [0u8; STACK_DIGITS];
        let mut heap = Vec::new();
        let digits = if count <= STACK_DIGITS {
            &mut stack[..count]
        } else {
            heap.resize(count, 0);
            &mut heap[..]
        };
        for (slot, byte) in digits.iter_mut().zip(value.bytes().filter(u8::is_ascii_digit)) {
            *slot = byte - b'0';
        }
        self.digits.permute(digits)?;
        Ok(build(digits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> KeyedMac {
        KeyedMac::new(b"pg_warden anonymize test key, 32b")
    }

    /// SplitMix64: a small deterministic generator for test inputs.
    pub(in crate::anonymize) fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn strategy(name: &str, options: &str) -> Strategy {
        let options: serde_json::Value = serde_json::from_str(options).expect("test options are JSON");
        Strategy::parse(name, Some(&options)).expect("test strategy is valid")
    }

    /// The output shape the email strategy promises.
    fn assert_valid_email(address: &str) {
        assert_eq!(address.matches('@').count(), 1, "{address}");
        let (local, domain) = address.split_once('@').expect("one @");
        assert!(!local.is_empty(), "{address}");
        assert!(
            local.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)),
            "{address}"
        );
        assert!(is_valid_domain(domain), "{address}");
        assert!(address.len() <= 254, "{address}");
    }

    const PINNED: [&str; 7] = [
        "79ebc7877231d9266635548b153f2b0a",
        "hiqapgqavois2ywzrzkc@example.com",
        "+9 (908) 106-8414",
        "3880412518884023",
        "2622",
        "5874635091206716151",
        "133053878",
    ];

    /// One value through every strategy that accepts it.
    fn all_outputs(p: &Pseudonymizer) -> Vec<String> {
        let email = EmailOptions::default();
        vec![
            p.hash("alice@example.org"),
            p.email("alice@example.org", &email),
            p.phone("+1 (555) 010-9999").expect("phone"),
            p.digits("4111111111111111").expect("digits"),
            p.digits("0042").expect("short digits"),
            p.bigint(1).to_string(),
            p.integer(1).to_string(),
        ]
    }

    #[test]
    fn pseudonymizer_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Pseudonymizer>();
    }

    /// The subkey derivation is part of the output format: tools outside the database
    /// must be able to reproduce it from the key.
    #[test]
    fn hash_follows_the_documented_derivation() {
        let seed: i64 = -5;
        let mut label = b"pg_warden/anonymize/v1/hash".to_vec();
        label.extend_from_slice(&seed.to_be_bytes());
        let subkey = crate::mac::hmac_sha256(b"pg_warden anonymize test key, 32b", &label);
        let expected = hex::encode(crate::mac::hmac_sha256(&subkey, b"alice"));
        assert_eq!(Pseudonymizer::new(&master(), seed).hash("alice"), expected[..HASH_HEX_LEN]);
    }

    /// Outputs pinned so that a change to any derivation shows up: pseudonyms must stay
    /// the same across releases for tables masked at different times to stay joinable.
    #[test]
    fn outputs_are_stable_across_releases() {
        assert_eq!(all_outputs(&Pseudonymizer::new(&master(), 7)), PINNED);
    }

    #[test]
    fn outputs_are_deterministic() {
        let a = Pseudonymizer::new(&master(), 7);
        let b = Pseudonymizer::new(&master(), 7);
        assert_eq!(all_outputs(&a), all_outputs(&b));
        assert_eq!(all_outputs(&a), all_outputs(&a));
    }

    #[test]
    fn seeds_separate_outputs() {
        let zero = all_outputs(&Pseudonymizer::new(&master(), 0));
        let one = all_outputs(&Pseudonymizer::new(&master(), 1));
        let negative = all_outputs(&Pseudonymizer::new(&master(), -1));
        for i in 0..zero.len() {
            assert_ne!(zero[i], one[i], "output {i}");
            assert_ne!(zero[i], negative[i], "output {i}");
        }
    }

    #[test]
    fn keys_separate_outputs() {
        let ours = all_outputs(&Pseudonymizer::new(&master(), 0));
        let theirs = all_outputs(&Pseudonymizer::new(&KeyedMac::new(b"another key"), 0));
        for i in 0..ours.len() {
            assert_ne!(ours[i], theirs[i], "output {i}");
        }
    }

    #[test]
    fn hash_is_32_lowercase_hex_and_not_the_fingerprint() {
        let p = Pseudonymizer::new(&master(), 0);
        for value in ["", "a", "alice@example.org", "é€𝄞", &"x".repeat(10_000)] {
            let token = p.hash(value);
            assert_eq!(token.len(), HASH_HEX_LEN);
            assert!(token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{token}");
            // The subkey keeps tokens unrelated to warden.fingerprint of the same value.
            assert!(!master().fingerprint(value.as_bytes()).starts_with(&token));
        }
        assert_ne!(p.hash("a"), p.hash("A"));
    }

    #[test]
    fn email_defaults_to_the_reserved_domain() {
        let p = Pseudonymizer::new(&master(), 0);
        let out = p.email("Alice.Smith@Corp.Example.ORG", &EmailOptions::default());
        assert_valid_email(&out);
        assert!(out.ends_with("@example.com"), "{out}");
        assert_eq!(out.find('@'), Some(LOCAL_LEN));
        assert!(out[..LOCAL_LEN].bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
    }

    #[test]
    fn email_case_handling() {
        let p = Pseudonymizer::new(&master(), 0);
        let insensitive = EmailOptions::default();
        assert_eq!(p.email("Alice@Example.org", &insensitive), p.email("alice@example.org", &insensitive));
        assert_eq!(p.email("ÉLODIE@example.org", &insensitive), p.email("élodie@example.org", &insensitive));
        let sensitive = EmailOptions { case_sensitive: true, ..EmailOptions::default() };
        assert_ne!(p.email("Alice@Example.org", &sensitive), p.email("alice@example.org", &sensitive));
        // Lowercase input reads the same either way.
        assert_eq!(p.email("alice@example.org", &sensitive), p.email("alice@example.org", &insensitive));
        // Long inputs take the allocating path and must agree with the stack path's rule.
        let long = format!("{}@example.org", "A".repeat(300));
        assert_eq!(p.email(&long, &insensitive), p.email(&long.to_lowercase(), &insensitive));
    }

    #[test]
    fn email_domain_options() {
        let p = Pseudonymizer::new(&master(), 0);
        let keep = strategy("email", r#"{"domain": "keep"}"#);
        let replace = strategy("email", r#"{"domain": "Test.Internal.Example"}"#);
        let kept = p.anonymize("bob@Mail.Example.NET", &keep).expect("email");
        assert!(kept.ends_with("@mail.example.net"), "{kept}");
        let replaced = p.anonymize("bob@mail.example.net", &replace).expect("email");
        assert!(replaced.ends_with("@test.internal.example"), "{replaced}");
        // The local part depends on the address only, not on the domain option.
        assert_eq!(kept[..LOCAL_LEN], replaced[..LOCAL_LEN]);
        for odd in [
            "",
            "no at sign",
            "@",
            "bob@",
            "bob@localhost",
            "bob@-bad-.com",
            "bob@1.2.3.4",
            "a@b@c.org",
            "bob@bücher.de",
        ] {
            for s in [&keep, &replace, &Strategy::Email(EmailOptions::default())] {
                assert_valid_email(&p.anonymize(odd, s).expect("email"));
            }
        }
        // "a@b@c.org" keeps what follows the last '@'; unusable domains fall back.
        assert!(p.anonymize("a@b@c.org", &keep).expect("email").ends_with("@c.org"));
        for unusable in ["no at sign", "bob@", "bob@localhost", "bob@1.2.3.4", "bob@bücher.de"] {
            let out = p.anonymize(unusable, &keep).expect("email");
            assert!(out.ends_with(&format!("@{FALLBACK_DOMAIN}")), "{unusable} → {out}");
        }
        let label = "d".repeat(63);
        let longest = format!("{label}.{label}.{label}.{}", "e".repeat(41));
        assert_eq!(longest.len(), MAX_DOMAIN_LEN);
        let out = p.anonymize(&format!("a@{longest}"), &keep).expect("email");
        assert_eq!(out.len(), 254);
        assert_valid_email(&out);
        let too_long = p.anonymize(&format!("a@e{longest}"), &keep).expect("email");
        assert!(too_long.ends_with(&format!("@{FALLBACK_DOMAIN}")), "{too_long}");
    }

    fn email_collisions(count: usize) -> usize {
        let p = Pseudonymizer::new(&master(), 0);
        let options = EmailOptions::default();
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut address = String::new();
        for i in 0..count {
            address.clear();
            std::fmt::Write::write_fmt(&mut address, format_args!("user{i}@example.org")).expect("formats");
            let out = p.email(&address, &options);
            if i % 1000 == 0 {
                assert_valid_email(&out);
            }
            seen.insert(out);
        }
        count - seen.len()
    }

    #[test]
    fn email_100k_distinct_inputs_give_distinct_valid_outputs() {
        assert_eq!(email_collisions(100_000), 0);
    }

    /// About 8 s unoptimized, 0.3 s in release: run with `--ignored` (or `--include-ignored`).
    #[test]
    #[ignore]
    fn email_1m_distinct_inputs_give_distinct_valid_outputs() {
        assert_eq!(email_collisions(1_000_000), 0);
    }

    #[test]
    fn phone_keeps_the_shape() {
        let p = Pseudonymizer::new(&master(), 0);
        for value in ["+1 (555) 010-9999", "06 12 34 56 78", "5", "+33", "ext. 12 – tél", "0"] {
            let out = p.phone(value).expect("phone");
            assert_eq!(out.chars().count(), value.chars().count());
            for (a, b) in value.chars().zip(out.chars()) {
                assert_eq!(a.is_ascii_digit(), b.is_ascii_digit(), "{value} → {out}");
                if !a.is_ascii_digit() {
                    assert_eq!(a, b);
                }
            }
        }
        assert_ne!(p.phone("+1 (555) 010-9999").expect("phone"), "+1 (555) 010-9999");
    }

    #[test]
    fn phone_digits_do_not_depend_on_formatting() {
        let p = Pseudonymizer::new(&master(), 0);
        let formatted = p.phone("+1 (555) 010-9999").expect("phone");
        let bare = p.digits("15550109999").expect("digits");
        let formatted_digits: String = formatted.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(formatted_digits, bare);
        assert_eq!(p.phone("15550109999").expect("phone"), bare);
    }

    #[test]
    fn phone_edge_cases() {
        let p = Pseudonymizer::new(&master(), 0);
        assert_eq!(p.phone(""), Ok(String::new()));
        assert_eq!(p.phone("unknown"), Err(AnonError::NoDigits));
        assert_eq!(p.phone("+--"), Err(AnonError::NoDigits));
        assert_eq!(p.phone("+1 ٥٥٥ 0109"), Err(AnonError::NonAsciiDigit));
        assert_eq!(p.phone("tel²"), Err(AnonError::NonAsciiDigit));
        let many = "1-".repeat(MAX_DIGITS + 1);
        assert_eq!(p.phone(&many), Err(AnonError::TooManyDigits { max: MAX_DIGITS }));
        // More digits than the stack buffer holds.
        let long = "12-".repeat(100);
        let out = p.phone(&long).expect("phone");
        assert_eq!(out.len(), long.len());
        assert_eq!(out.matches('-').count(), 100);
    }

    #[test]
    fn digits_edge_cases() {
        let p = Pseudonymizer::new(&master(), 0);
        assert_eq!(p.digits(""), Ok(String::new()));
        assert_eq!(p.digits("12 34"), Err(AnonError::NotDigits));
        assert_eq!(p.digits("-12"), Err(AnonError::NotDigits));
        assert_eq!(p.digits("١٢٣"), Err(AnonError::NonAsciiDigit));
        assert_eq!(p.digits(&"9".repeat(MAX_DIGITS + 1)), Err(AnonError::TooManyDigits { max: MAX_DIGITS }));
        for len in [1, 5, 6, 16, 38, 39, 64, 65, 200] {
            let value = "7".repeat(len);
            let out = p.digits(&value).expect("digits");
            assert_eq!(out.len(), len);
            assert!(out.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    /// Every 4- and every 5-digit string, through the text API.
    #[test]
    fn digits_exhaustive_on_four_and_five_digits() {
        let p = Pseudonymizer::new(&master(), 3);
        for len in [4, 5] {
            let mut seen = std::collections::HashSet::new();
            for value in 0..10u32.pow(len) {
                let out = p.digits(&format!("{value:0width$}", width = len as usize)).expect("digits");
                assert_eq!(out.len(), len as usize);
                assert!(seen.insert(out));
            }
        }
    }

    #[test]
    fn redact_reveals_nothing() {
        let fixed = RedactOptions::default();
        assert_eq!(redact("hunter2", &fixed), "********");
        assert_eq!(redact("", &fixed), "********");
        assert_eq!(redact(&"x".repeat(100), &fixed), "********");
        let keep = RedactOptions { mask_char: '#', keep_length: true };
        assert_eq!(redact("héllo 𝄞", &keep), "#######");
        assert_eq!(redact("", &keep), "");
    }

    #[test]
    fn partial_keeps_only_the_ends() {
        let card = PartialOptions::default();
        assert_eq!(partial("4111111111111111", &card), "************1111");
        let both = PartialOptions { prefix: 2, suffix: 1, mask_char: '•' };
        assert_eq!(partial("Élodie𝄞", &both), "Él••••𝄞");
        // Short enough to show whole: masked whole instead.
        assert_eq!(partial("abc", &both), "•••");
        assert_eq!(partial("1234", &card), "****");
        assert_eq!(partial("", &card), "");
        let huge = PartialOptions { prefix: usize::MAX, suffix: usize::MAX, mask_char: '*' };
        assert_eq!(partial("abc", &huge), "***");
        let prefix_only = PartialOptions { prefix: 3, suffix: 0, mask_char: '*' };
        assert_eq!(partial("abcdef", &prefix_only), "abc***");
    }

    #[test]
    fn anonymize_dispatches_every_strategy() {
        let p = Pseudonymizer::new(&master(), 0);
        assert_eq!(p.anonymize("v", &Strategy::Hash), Ok(p.hash("v")));
        assert_eq!(p.anonymize("555-1234", &Strategy::Phone), p.phone("555-1234"));
        assert_eq!(p.anonymize("5551234", &Strategy::Digits), p.digits("5551234"));
        assert_eq!(p.anonymize("secret", &strategy("redact", "{}")), Ok("********".to_owned()));
        assert_eq!(
            p.anonymize("secret", &strategy("partial", r#"{"prefix": 1, "suffix": 1}"#)),
            Ok("s****t".to_owned())
        );
        assert_eq!(
            p.anonymize("a@b.org", &strategy("email", "null")),
            Ok(p.email("a@b.org", &EmailOptions::default()))
        );
    }

    #[test]
    fn every_strategy_parses_with_defaults_and_round_trips_its_options() {
        for name in STRATEGY_NAMES {
            let plain = Strategy::parse(name, None).expect("defaults are valid");
            assert_eq!(plain.name(), name);
            assert_eq!(Strategy::parse(name, Some(&serde_json::Value::Null)), Ok(plain.clone()));
            assert_eq!(Strategy::parse(name, Some(&serde_json::json!({}))), Ok(plain.clone()));
            assert_eq!(Strategy::parse(name, Some(&plain.options_json())), Ok(plain));
        }
        let custom = strategy("partial", r##"{"prefix": 2, "suffix": 0, "mask_char": "#"}"##);
        assert_eq!(custom, Strategy::Partial(PartialOptions { prefix: 2, suffix: 0, mask_char: '#' }));
        assert_eq!(Strategy::parse("partial", Some(&custom.options_json())), Ok(custom));
        let keep = strategy("email", r#"{"domain": "keep", "case_sensitive": true}"#);
        assert_eq!(keep, Strategy::Email(EmailOptions { domain: EmailDomain::Keep, case_sensitive: true }));
        assert_eq!(Strategy::parse("email", Some(&keep.options_json())), Ok(keep));
    }

    #[test]
    fn unknown_strategies_are_refused_without_echo() {
        for name in ["md5", "Hash", "", "alice@example.org"] {
            let err = Strategy::parse(name, None).expect_err("unknown");
            assert_eq!(err, AnonError::UnknownStrategy);
            let message = err.to_string();
            assert!(message.contains("hash, email, phone, digits, redact, partial"), "{message}");
            if !name.is_empty() {
                assert!(!message.contains(name), "{message}");
            }
        }
    }

    #[test]
    fn option_problems_are_all_reported() {
        let options = serde_json::json!({"prefx": 1, "suffix": "4", "mask_char": "ab", "prefix": -1});
        let err = Strategy::parse("partial", Some(&options)).expect_err("invalid");
        let AnonError::InvalidOptions { strategy, problems } = &err else { panic!("{err:?}") };
        assert_eq!(*strategy, "partial");
        let by_option: Vec<(Option<&str>, &str)> =
            problems.iter().map(|p| (p.option.as_deref(), p.message.as_str())).collect();
        assert_eq!(
            by_option,
            [
                (Some("prefx"), "unknown option; allowed: prefix, suffix, mask_char"),
                (Some("prefix"), "expected a non-negative integer"),
                (Some("suffix"), "expected a non-negative integer, found a string"),
                (Some("mask_char"), "expected a string of one printable character"),
            ]
        );
        let message = err.to_string();
        assert!(
            message.starts_with("invalid options for strategy partial: option \"prefx\": unknown option"),
            "{message}"
        );

        let cases: [(&str, serde_json::Value, Option<&str>, &str); 7] = [
            ("hash", serde_json::json!({"length": 8}), Some("length"), "unknown option; hash takes no options"),
            ("phone", serde_json::json!([]), None, "options must be a JSON object, found an array"),
            (
                "email",
                serde_json::json!({"domain": "not a domain"}),
                Some("domain"),
                "expected \"keep\" or a host name",
            ),
            ("email", serde_json::json!({"domain": 3}), Some("domain"), "found a number"),
            ("email", serde_json::json!({"case_sensitive": "yes"}), Some("case_sensitive"), "expected true or false"),
            (
                "redact",
                serde_json::json!({"keep_length": 1}),
                Some("keep_length"),
                "expected true or false, found a number",
            ),
            ("redact", serde_json::json!({"mask_char": "\u{0}"}), Some("mask_char"), "one printable character"),
        ];
        for (name, options, option, fragment) in cases {
            match Strategy::parse(name, Some(&options)) {
                Err(AnonError::InvalidOptions { problems, .. }) => {
                    assert_eq!(problems.len(), 1, "{name} {options}");
                    assert_eq!(problems[0].option.as_deref(), option, "{name} {options}");
                    assert!(problems[0].message.contains(fragment), "{}", problems[0].message);
                }
                other => panic!("{name} {options}: {other:?}"),
            }
        }
    }

    #[test]
    fn value_errors_never_quote_the_value() {
        let p = Pseudonymizer::new(&master(), 0);
        let secret = "s3cr3t-4242";
        let errors = [
            p.digits(secret).expect_err("not digits"),
            p.phone("s3cr3t-٤٢").expect_err("non-ascii digits"),
            p.phone("secret").expect_err("no digits"),
        ];
        for err in errors {
            let text = format!("{err} {}", err.hint().unwrap_or_default());
            assert!(!text.contains("s3cr3t") && !text.contains("secret") && !text.contains("4242"), "{text}");
        }
    }
}
