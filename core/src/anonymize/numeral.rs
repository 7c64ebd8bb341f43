//! FF1 numeral strings held in two machine words.
//!
//! `fpe` runs FF1 over any type implementing its `NumeralString` trait. Its own
//! `FlexibleNumeralString` keeps numerals in a `Vec` and does every round's arithmetic in
//! `BigUint`, allocating each time. When each half of the string, read as a number, fits
//! in a `u64` (up to 19 decimal digits a half, so 38 digits in all), the same arithmetic
//! is a handful of integer operations; this type does exactly that and leaves the FF1
//! algorithm itself to `fpe`.

use fpe::ff1::{NumeralString, Operations};

/// Longest decimal string a [`WordNumeral`] holds: two halves of 19 digits, since
/// 10^19 < 2^64 < 10^20.
pub(super) const MAX_DECIMAL_LEN: usize = 38;

/// `len` numerals in base `radix`, read big-endian as the number `value`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Half {
    radix: u32,
    len: usize,
    value: u64,
}

/// A numeral string split the way FF1 splits it: `a` holds the first ⌊n/2⌋ numerals,
/// `b` the remaining ⌈n/2⌉.
///
/// Callers keep to lengths whose halves fit a `u64` (`radix^⌈n/2⌉ < 2^64`). That bounds
/// every modulus below, makes the sum of two half values fit a `u128`, and keeps FF1's
/// byte length b = ⌈⌈n/2⌉·log2(radix)/8⌉ at most 8. Lengths used: up to
/// [`MAX_DECIMAL_LEN`] in radix 10, 63 and 31 in radix 2 and, in tests, 19 in radix 36.
#[derive(Clone, Copy, Debug)]
pub(super) struct WordNumeral {
    a: Half,
    b: Half,
}

/// `radix^len` for a half length the callers keep within bounds (see [`WordNumeral`]).
fn power(radix: u32, len: usize) -> u64 {
    u32::try_from(len)
        .ok()
        .and_then(|len| u64::from(radix).checked_pow(len))
        .unwrap_or_else(|| unreachable!("halves hold at most 64 bits"))
}

impl WordNumeral {
    /// Reads `numerals`, each below `radix` (at most 256, as numerals are bytes).
    pub(super) fn from_numerals(radix: u32, numerals: &[u8]) -> Self {
        let (front, back) = numerals.split_at(numerals.len() / 2);
        let read = |part: &[u8]| Half {
            radix,
            len: part.len(),
            value: part.iter().fold(0u64, |acc, &n| acc * u64::from(radix) + u64::from(n)),
        };
        Self { a: read(front), b: read(back) }
    }

    /// Splits `value` as the `len`-numeral string that spells it in base `radix`
    /// (`value < radix^len`).
    pub(super) fn from_value(radix: u32, len: usize, value: u64) -> Self {
        let back_len = len - len / 2;
        let back_modulus = power(radix, back_len);
        Self {
            a: Half { radix, len: len / 2, value: value / back_modulus },
            b: Half { radix, len: back_len, value: value % back_modulus },
        }
    }

    /// The number this string spells; meaningful when it fits a `u64`, which the
    /// callers ensure by the lengths they use (at most 63 binary numerals).
    pub(super) fn value(&self) -> u64 {
        let back_modulus = power(self.b.radix, self.b.len);
        self.a.value * back_modulus + self.b.value
    }

    /// Writes the numerals, most significant first, into `out` (of the string's length).
    pub(super) fn write_numerals(&self, out: &mut [u8]) {
        let (front, back) = out.split_at_mut(self.a.len);
        for (half, slot) in [(self.a, front), (self.b, back)] {
            let mut rest = half.value;
            for numeral in slot.iter_mut().rev() {
                // A remainder modulo a radix of at most 256 fits a u8.
                *numeral = (rest % u64::from(half.radix)) as u8;
                rest /= u64::from(half.radix);
            }
        }
    }
}

/// `NUM(S) mod modulus` for the bytes `S` FF1 derives each round (big-endian).
fn reduce(bytes: impl Iterator<Item = u8>, modulus: u64) -> u64 {
    let modulus = u128::from(modulus);
    let mut acc = 0u128;
    for byte in bytes {
        // FF1 gives S at most 12 bytes for halves below 2^64, which never trips this;
        // reducing first keeps the shift exact for any length of S.
        if acc >> 112 != 0 {
            acc %= modulus;
        }
        acc = (acc << 8) | u128::from(byte);
    }
    // The remainder is below `modulus`, itself a u64.
    (acc % modulus) as u64
}

/// Big-endian bytes of a half, as FF1's `STR^b_256(NUM(B))`.
pub(super) struct BeBytes {
    word: [u8; 8],
    start: usize,
}

impl AsRef<[u8]> for BeBytes {
    fn as_ref(&self) -> &[u8] {
        &self.word[self.start..]
    }
}

impl Operations for Half {
    type Bytes = BeBytes;

    fn numeral_count(&self) -> usize {
        self.len
    }

    fn to_be_bytes(&self, _radix: u32, b: usize) -> BeBytes {
        // At most 8 for the lengths callers use (see `WordNumeral`).
        BeBytes { word: self.value.to_be_bytes(), start: 8 - b }
    }

    fn add_mod_exp(self, other: impl Iterator<Item = u8>, radix: u32, m: usize) -> Self {
        let modulus = power(radix, m);
        let y = reduce(other, modulus);
        let sum = u128::from(self.value) + u128::from(y);
        let value = if sum >= u128::from(modulus) { sum - u128::from(modulus) } else { sum };
        // Both terms are below `modulus`, so one subtraction brings the sum under it.
        Half { radix, len: m, value: value as u64 }
    }

    fn sub_mod_exp(self, other: impl Iterator<Item = u8>, radix: u32, m: usize) -> Self {
        let modulus = power(radix, m);
        let y = reduce(other, modulus);
        let value = if self.value >= y { self.value - y } else { self.value + (modulus - y) };
        Half { radix, len: m, value }
    }
}

impl NumeralString for WordNumeral {
    type Ops = Half;

    fn is_valid(&self, radix: u32) -> bool {
        self.a.radix == radix && self.b.radix == radix
    }

    fn numeral_count(&self) -> usize {
        self.a.len + self.b.len
    }

    fn split(&self) -> (Half, Half) {
        (self.a, self.b)
    }

    fn concat(a: Half, b: Half) -> Self {
        Self { a, b }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::{Aes128Enc, Aes256Enc};
    use fpe::ff1::{FlexibleNumeralString, FF1};

    const AES128_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const AES256_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f7f036d6f04fc6a94";
    const RADIX36_TWEAK: &[u8] = &[0x37, 0x37, 0x37, 0x37, 0x70, 0x71, 0x72, 0x73, 0x37, 0x37, 0x37];
    const DECIMAL_TWEAK: &[u8] = b"9876543210";

    fn numerals(text: &str, radix: u32) -> Vec<u8> {
        text.chars().map(|c| c.to_digit(radix).expect("sample numeral") as u8).collect()
    }

    fn check_sample<C>(key: &str, radix: u32, tweak: &[u8], plain: &str, cipher: &str)
    where
        C: aes::cipher::BlockCipherEncrypt + aes::cipher::KeyInit + Clone,
    {
        let ff1 = FF1::<C>::new(&hex::decode(key).expect("hex key"), radix).expect("radix");
        let pt = numerals(plain, radix);
        let ct = ff1.encrypt(tweak, &WordNumeral::from_numerals(radix, &pt)).expect("encrypts");
        let mut out = vec![0; pt.len()];
        ct.write_numerals(&mut out);
        assert_eq!(out, numerals(cipher, radix), "sample {plain} radix {radix}");
        let back = ff1.decrypt(tweak, &ct).expect("decrypts");
        back.write_numerals(&mut out);
        assert_eq!(out, pt);
    }

    /// NIST SP 800-38G FF1 samples (FF1samples.pdf): 1–3 with AES-128, 7–9 with AES-256.
    #[test]
    fn nist_ff1_samples() {
        check_sample::<Aes128Enc>(AES128_KEY, 10, b"", "0123456789", "2433477484");
        check_sample::<Aes128Enc>(AES128_KEY, 10, DECIMAL_TWEAK, "0123456789", "6124200773");
        check_sample::<Aes128Enc>(AES128_KEY, 36, RADIX36_TWEAK, "0123456789abcdefghi", "a9tv40mll9kdu509eum");
        check_sample::<Aes256Enc>(AES256_KEY, 10, b"", "0123456789", "6657667009");
        check_sample::<Aes256Enc>(AES256_KEY, 10, DECIMAL_TWEAK, "0123456789", "1001623463");
        check_sample::<Aes256Enc>(AES256_KEY, 36, RADIX36_TWEAK, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd");
    }

    /// The word representation must give exactly what `fpe`'s own numeral string gives.
    #[test]
    fn agrees_with_flexible_numeral_string() {
        let ff1 = FF1::<Aes256Enc>::new(&[0x5a; 32], 10).expect("radix 10");
        let mut state = 7;
        for len in 6..=MAX_DECIMAL_LEN {
            for _ in 0..20 {
                let digits: Vec<u8> =
                    (0..len).map(|_| (crate::anonymize::tests::splitmix(&mut state) % 10) as u8).collect();
                let word = ff1.encrypt(b"t", &WordNumeral::from_numerals(10, &digits)).expect("word");
                let mut fast = vec![0; len];
                word.write_numerals(&mut fast);
                let flexible: Vec<u16> = ff1
                    .encrypt(
                        b"t",
                        &FlexibleNumeralString::from(digits.iter().map(|&d| u16::from(d)).collect::<Vec<_>>()),
                    )
                    .expect("flexible")
                    .into();
                assert_eq!(fast.iter().map(|&d| u16::from(d)).collect::<Vec<_>>(), flexible, "length {len}");
            }
        }
        let binary = FF1::<Aes256Enc>::new(&[0xa5; 32], 2).expect("radix 2");
        for bits in [20, 31, 63] {
            for _ in 0..50 {
                let value = crate::anonymize::tests::splitmix(&mut state) >> (64 - bits);
                let word = binary.encrypt(b"+", &WordNumeral::from_value(2, bits, value)).expect("word").value();
                let as_bits: Vec<u16> = (0..bits).rev().map(|i| ((value >> i) & 1) as u16).collect();
                let flexible: Vec<u16> =
                    binary.encrypt(b"+", &FlexibleNumeralString::from(as_bits)).expect("flexible").into();
                let flexible_value = flexible.iter().fold(0u64, |acc, &bit| (acc << 1) | u64::from(bit));
                assert_eq!(word, flexible_value, "{bits} bits");
            }
        }
    }

    #[test]
    fn extremes_of_the_word_range_round_trip() {
        let ff1 = FF1::<Aes256Enc>::new(&[1; 32], 10).expect("radix 10");
        for digits in [[9u8; MAX_DECIMAL_LEN], [0u8; MAX_DECIMAL_LEN]] {
            let ct = ff1.encrypt(b"", &WordNumeral::from_numerals(10, &digits)).expect("encrypts");
            let mut out = [0u8; MAX_DECIMAL_LEN];
            ff1.decrypt(b"", &ct).expect("decrypts").write_numerals(&mut out);
            assert_eq!(out, digits);
        }
        let binary = FF1::<Aes256Enc>::new(&[1; 32], 2).expect("radix 2");
        for value in [0, 1, (1 << 63) - 1] {
            let ct = binary.encrypt(b"", &WordNumeral::from_value(2, 63, value)).expect("encrypts");
            assert!(ct.value() < 1 << 63);
            assert_eq!(binary.decrypt(b"", &ct).expect("decrypts").value(), value);
        }
    }
}
