//! Keyed permutations of digit strings and of integers.
//!
//! A digit string of length n is mapped to another of length n, bijectively: two
//! distinct strings of one length never meet.
//! - n ≥ 6: FF1 (NIST SP 800-38G) with AES-256, radix 10, empty tweak. FF1 needs a
//!   domain of at least 10^6 values, hence the lower bound.
//! - 1 ≤ n ≤ 5: a balanced Feistel network on 2h bits, h the smallest with
//!   2^(2h) ≥ 10^n, restricted to [0, 10^n) by cycle walking. Its ten round functions
//!   are tables of uniformly random values drawn from AES-256 in counter mode under
//!   their own subkey, 13.8 KB in all per seed. Feistel rounds are invertible whatever
//!   the round function, so the network permutes [0, 2^(2h)); cycle walking (applying it
//!   again until the value is below 10^n) then permutes [0, 10^n) and, as 10^n is at
//!   least 38% of 2^(2h), takes at most 2.6 applications on average.
//! - n > [`MAX_DIGITS`] is refused, bounding the big-number arithmetic FF1 then does.
//!
//! Integers use FF1 in radix 2 over the 63 bits of a non-negative `bigint` (31 of a
//! non-negative `integer`). A negative x is mapped through its complement !x (−1 ↔ 0,
//! MIN ↔ MAX) under another tweak, so signs are kept and the map is a bijection of the
//! whole type.

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use aes::Aes256Enc;
use fpe::ff1::{FlexibleNumeralString, FF1};

use super::numeral::{WordNumeral, MAX_DECIMAL_LEN};
use super::AnonError;

/// Longest digit string accepted: the largest precision PostgreSQL lets a `numeric`
/// column declare.
pub const MAX_DIGITS: usize = 1000;

/// Lengths below FF1's minimum domain of 10^6, served by the Feistel network.
const SHORT_MAX_DIGITS: usize = 5;
/// FF1 over two machine words, then over `fpe`'s big-number numeral strings.
const WORD_MIN_DIGITS: usize = SHORT_MAX_DIGITS + 1;
const FLEXIBLE_MIN_DIGITS: usize = MAX_DECIMAL_LEN + 1;
const SHORT_ROUNDS: usize = 10;
/// Bits per Feistel half for 1, 2, 3, 4 and 5 digits: 2^4 ≥ 10, 2^8 ≥ 100, 2^10 ≥ 1000,
/// 2^14 ≥ 10^4, 2^18 ≥ 10^5.
const SHORT_HALF_BITS: [u32; SHORT_MAX_DIGITS] = [2, 4, 5, 7, 9];
const SHORT_LIMITS: [u32; SHORT_MAX_DIGITS] = [10, 100, 1_000, 10_000, 100_000];

/// Where the round tables of each length start in the shared table array.
const fn short_offsets() -> [usize; SHORT_MAX_DIGITS + 1] {
    let mut offsets = [0; SHORT_MAX_DIGITS + 1];
    let mut i = 0;
    while i < SHORT_MAX_DIGITS {
        offsets[i + 1] = offsets[i] + SHORT_ROUNDS * (1 << SHORT_HALF_BITS[i]);
        i += 1;
    }
    offsets
}
const SHORT_OFFSETS: [usize; SHORT_MAX_DIGITS + 1] = short_offsets();
const SHORT_TABLE_LEN: usize = SHORT_OFFSETS[SHORT_MAX_DIGITS];

/// Tweaks of the integer permutation: one per sign, so the two halves of the type are
/// permuted independently.
const TWEAK_NON_NEGATIVE: &[u8] = b"+";
const TWEAK_NEGATIVE: &[u8] = b"-";

/// Bits of the non-negative range of `i64` and `i32`.
const I64_BITS: usize = 63;
const I32_BITS: usize = 31;

/// The keyed permutation of digit strings of every length.
pub(super) struct DigitPermutation {
    ff1: FF1<Aes256Enc>,
    short_rounds: Box<[u16]>,
}

impl DigitPermutation {
    /// `ff1_key` keys FF1 (lengths ≥ 6); `short_key` draws the Feistel round tables.
    pub(super) fn new(ff1_key: &[u8; 32], short_key: &[u8; 32]) -> Self {
        Self { ff1: new_ff1(ff1_key, 10), short_rounds: short_round_tables(short_key) }
    }

    /// Replaces `digits` (values 0–9) by their image among strings of the same length.
    pub(super) fn permute(&self, digits: &mut [u8]) -> Result<(), AnonError> {
        match digits.len() {
            0 => Ok(()),
            len @ 1..=SHORT_MAX_DIGITS => {
                let value = digits.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d));
                let mut rest = self.permute_short(len, value);
                for digit in digits.iter_mut().rev() {
                    // A remainder modulo 10.
                    *digit = (rest % 10) as u8;
                    rest /= 10;
                }
                Ok(())
            }
            WORD_MIN_DIGITS..=MAX_DECIMAL_LEN => {
                let numeral = WordNumeral::from_numerals(10, digits);
                encrypt(&self.ff1, b"", &numeral).write_numerals(digits);
                Ok(())
            }
            FLEXIBLE_MIN_DIGITS..=MAX_DIGITS => {
                let numerals: Vec<u16> = digits.iter().map(|&d| u16::from(d)).collect();
                let image: Vec<u16> = encrypt(&self.ff1, b"", &FlexibleNumeralString::from(numerals)).into();
                for (digit, numeral) in digits.iter_mut().zip(image) {
                    // FF1 in radix 10 yields numerals 0–9.
                    *digit = numeral as u8;
                }
                Ok(())
            }
            _ => Err(AnonError::TooManyDigits { max: MAX_DIGITS }),
        }
    }

    fn permute_short(&self, len: usize, value: u32) -> u32 {
        let half_bits = SHORT_HALF_BITS[len - 1];
        let mask = (1u32 << half_bits) - 1;
        let tables = &self.short_rounds[SHORT_OFFSETS[len - 1]..SHORT_OFFSETS[len]];
        let mut x = value;
        loop {
            let (mut left, mut right) = (x >> half_bits, x & mask);
            for round in tables.chunks_exact(1 << half_bits) {
                let f = u32::from(round[right as usize]) & mask;
                (left, right) = (right, left ^ f);
            }
            x = (left << half_bits) | right;
            if x < SHORT_LIMITS[len - 1] {
                return x;
            }
        }
    }
}

/// The keyed permutation of `bigint` and `integer` values.
pub(super) struct IntPermutation {
    ff1: FF1<Aes256Enc>,
}

impl IntPermutation {
    pub(super) fn new(key: &[u8; 32]) -> Self {
        Self { ff1: new_ff1(key, 2) }
    }

    pub(super) fn permute_i64(&self, value: i64) -> i64 {
        // Both branches feed FF1 a value in [0, 2^63) and get one back, so the casts
        // between i64 and u64 are exact.
        if value >= 0 {
            self.permute_bits(I64_BITS, TWEAK_NON_NEGATIVE, value as u64) as i64
        } else {
            !(self.permute_bits(I64_BITS, TWEAK_NEGATIVE, !value as u64) as i64)
        }
    }

    pub(super) fn permute_i32(&self, value: i32) -> i32 {
        // As above, within [0, 2^31).
        if value >= 0 {
            self.permute_bits(I32_BITS, TWEAK_NON_NEGATIVE, value as u64) as i32
        } else {
            !(self.permute_bits(I32_BITS, TWEAK_NEGATIVE, !value as u64) as i32)
        }
    }

    fn permute_bits(&self, bits: usize, tweak: &[u8], value: u64) -> u64 {
        encrypt(&self.ff1, tweak, &WordNumeral::from_value(2, bits, value)).value()
    }
}

fn new_ff1(key: &[u8; 32], radix: u32) -> FF1<Aes256Enc> {
    FF1::new(key, radix).unwrap_or_else(|_| unreachable!("radix {radix} is within FF1's 2..=65536"))
}

fn encrypt<NS: fpe::ff1::NumeralString>(ff1: &FF1<Aes256Enc>, tweak: &[u8], numerals: &NS) -> NS {
    // FF1 fails only on numerals outside the radix or lengths outside its bounds; the
    // callers build numerals from digits or bits and dispatch on length.
    ff1.encrypt(tweak, numerals).unwrap_or_else(|e| unreachable!("FF1 input is checked before encryption: {e}"))
}

/// The Feistel round tables: AES-256 in counter mode, eight 16-bit values a block.
fn short_round_tables(key: &[u8; 32]) -> Box<[u16]> {
    let cipher = Aes256Enc::new(&Array::from(*key));
    let mut tables = Vec::with_capacity(SHORT_TABLE_LEN);
    let mut counter = 0u128;
    while tables.len() < SHORT_TABLE_LEN {
        let mut block = Array::from(counter.to_be_bytes());
        cipher.encrypt_block(&mut block);
        tables.extend(block.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])));
        counter += 1;
    }
    tables.truncate(SHORT_TABLE_LEN);
    tables.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anonymize::tests::splitmix;
    use std::collections::HashSet;

    fn permutation() -> DigitPermutation {
        DigitPermutation::new(&[3; 32], &[4; 32])
    }

    fn integers() -> IntPermutation {
        IntPermutation::new(&[5; 32])
    }

    fn digits_of(mut value: u64, len: usize) -> Vec<u8> {
        let mut digits = vec![0; len];
        for d in digits.iter_mut().rev() {
            *d = (value % 10) as u8;
            value /= 10;
        }
        digits
    }

    fn value_of(digits: &[u8]) -> u64 {
        digits.iter().fold(0, |acc, &d| acc * 10 + u64::from(d))
    }

    /// Every string of `len` digits, permuted: returns how many images were seen twice.
    fn exhaustive_collisions(p: &DigitPermutation, len: usize) -> usize {
        let size = 10usize.pow(len as u32);
        let mut seen = vec![false; size];
        let mut repeats = 0;
        for value in 0..size as u64 {
            let mut digits = digits_of(value, len);
            p.permute(&mut digits).expect("permutes");
            assert_eq!(digits.len(), len);
            let image = value_of(&digits) as usize;
            repeats += usize::from(seen[image]);
            seen[image] = true;
        }
        repeats
    }

    #[test]
    fn short_lengths_are_permutations() {
        let p = permutation();
        for len in 1..=SHORT_MAX_DIGITS {
            assert_eq!(exhaustive_collisions(&p, len), 0, "length {len}");
        }
    }

    #[test]
    fn short_lengths_are_not_the_identity() {
        let p = permutation();
        for len in 1..=SHORT_MAX_DIGITS {
            let size = 10u64.pow(len as u32);
            let fixed = (0..size)
                .filter(|&v| {
                    let mut digits = digits_of(v, len);
                    p.permute(&mut digits).expect("permutes");
                    value_of(&digits) == v
                })
                .count();
            // A random permutation has one fixed point on average.
            assert!(fixed <= 5, "length {len}: {fixed} fixed points");
        }
    }

    /// 10^6 FF1 encryptions: about 30 s unoptimized, 1 s in release; run with `--ignored`.
    #[test]
    #[ignore]
    fn six_digits_exhaustive() {
        assert_eq!(exhaustive_collisions(&permutation(), 6), 0);
    }

    fn sampled_collisions(p: &DigitPermutation, len: usize, samples: usize) -> usize {
        let mut state = 11;
        let mut inputs = HashSet::with_capacity(samples);
        let mut images = HashSet::with_capacity(samples);
        let modulus = 10u64.pow(len as u32);
        while inputs.len() < samples {
            let value = splitmix(&mut state) % modulus;
            if inputs.insert(value) {
                let mut digits = digits_of(value, len);
                p.permute(&mut digits).expect("permutes");
                images.insert(value_of(&digits));
            }
        }
        samples - images.len()
    }

    #[test]
    fn ten_digits_100k_distinct_inputs_give_distinct_outputs() {
        assert_eq!(sampled_collisions(&permutation(), 10, 100_000), 0);
    }

    /// About 30 s unoptimized, 1 s in release; run with `--ignored`.
    #[test]
    #[ignore]
    fn ten_digits_1m_distinct_inputs_give_distinct_outputs() {
        assert_eq!(sampled_collisions(&permutation(), 10, 1_000_000), 0);
    }

    #[test]
    fn every_length_keeps_its_length_and_is_deterministic() {
        let p = permutation();
        let mut state = 5;
        for len in (0..=60).chain([MAX_DECIMAL_LEN + 1, 200, MAX_DIGITS]) {
            let input: Vec<u8> = (0..len).map(|_| (splitmix(&mut state) % 10) as u8).collect();
            let mut first = input.clone();
            p.permute(&mut first).expect("permutes");
            let mut second = input.clone();
            p.permute(&mut second).expect("permutes");
            assert_eq!(first, second, "length {len}");
            assert_eq!(first.len(), len);
            assert!(first.iter().all(|&d| d < 10));
            if len >= 6 {
                assert_ne!(first, input, "length {len}");
            }
        }
    }

    /// Lengths served by `fpe`'s big-number path are a bijection too: decrypting gives
    /// the input back, so no two inputs share an image.
    #[test]
    fn long_lengths_invert() {
        let p = permutation();
        let mut state = 9;
        for len in [MAX_DECIMAL_LEN + 1, 100, MAX_DIGITS] {
            let input: Vec<u8> = (0..len).map(|_| (splitmix(&mut state) % 10) as u8).collect();
            let mut image = input.clone();
            p.permute(&mut image).expect("permutes");
            let back: Vec<u16> = p
                .ff1
                .decrypt(b"", &FlexibleNumeralString::from(image.iter().map(|&d| u16::from(d)).collect::<Vec<_>>()))
                .expect("decrypts")
                .into();
            assert_eq!(back, input.iter().map(|&d| u16::from(d)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn too_many_digits_is_an_error() {
        let mut digits = vec![1; MAX_DIGITS + 1];
        assert_eq!(permutation().permute(&mut digits), Err(AnonError::TooManyDigits { max: MAX_DIGITS }));
    }

    fn unpermute_i64(p: &IntPermutation, value: i64) -> i64 {
        let invert = |tweak: &[u8], v: u64| {
            p.ff1.decrypt(tweak, &WordNumeral::from_value(2, I64_BITS, v)).expect("decrypts").value()
        };
        if value >= 0 {
            invert(TWEAK_NON_NEGATIVE, value as u64) as i64
        } else {
            !(invert(TWEAK_NEGATIVE, !value as u64) as i64)
        }
    }

    fn unpermute_i32(p: &IntPermutation, value: i32) -> i32 {
        let invert = |tweak: &[u8], v: u64| {
            p.ff1.decrypt(tweak, &WordNumeral::from_value(2, I32_BITS, v)).expect("decrypts").value()
        };
        if value >= 0 {
            invert(TWEAK_NON_NEGATIVE, value as u64) as i32
        } else {
            !(invert(TWEAK_NEGATIVE, !value as u64) as i32)
        }
    }

    /// Edges of the type and runs of consecutive keys (the usual serial ids): each image
    /// keeps the sign, decrypts back to its input, and none repeats.
    #[test]
    fn bigint_is_a_sign_keeping_bijection() {
        let p = integers();
        let edges = [0, 1, 2, i64::MAX, i64::MAX - 1, -1, -2, i64::MIN, i64::MIN + 1];
        let runs = (0..5_000).chain(i64::MAX - 5_000..=i64::MAX).chain(i64::MIN..i64::MIN + 5_000).chain(-5_000..0);
        let mut inputs = HashSet::new();
        let mut images = HashSet::new();
        for value in edges.into_iter().chain(runs) {
            let image = p.permute_i64(value);
            assert_eq!(image < 0, value < 0, "{value}");
            assert_eq!(unpermute_i64(&p, image), value);
            if inputs.insert(value) {
                assert!(images.insert(image), "{value}");
            }
        }
        assert_eq!(images.len(), 20_001);
        assert_ne!(p.permute_i64(1), 1);
        assert_ne!(p.permute_i64(i64::MAX), i64::MAX);
    }

    #[test]
    fn bigint_sampled_round_trips() {
        let p = integers();
        let mut state = 3;
        for _ in 0..5_000 {
            let value = splitmix(&mut state) as i64;
            let image = p.permute_i64(value);
            assert_eq!(image < 0, value < 0);
            assert_eq!(unpermute_i64(&p, image), value);
        }
    }

    #[test]
    fn integer_is_a_sign_keeping_bijection() {
        let p = integers();
        let values = [0, 1, i32::MAX, -1, i32::MIN]
            .into_iter()
            .chain(0..5_000)
            .chain(i32::MIN..i32::MIN + 5_000)
            .chain((0..5_000).map(|i| i32::MAX - i))
            .chain(-5_000..0);
        let mut images = HashSet::new();
        let mut inputs = HashSet::new();
        for value in values {
            let image = p.permute_i32(value);
            assert_eq!(image < 0, value < 0, "{value}");
            assert_eq!(unpermute_i32(&p, image), value);
            if inputs.insert(value) {
                assert!(images.insert(image), "{value}");
            }
        }
    }
}
