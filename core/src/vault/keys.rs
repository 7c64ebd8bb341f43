//! The master key, the key-encryption key derived from it, data keys, and the sealed
//! layout they share.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::kdf::argon2id;
use super::{
    fill_random, Aad, KdfParams, VaultError, CHECK_VALUE_LEN, FORMAT_VERSION, KEY_LEN, NONCE_LEN, SEAL_OVERHEAD,
    TAG_LEN, WRAPPED_KEY_LEN,
};

/// HKDF info of the key-encryption key.
pub const KEK_INFO: &[u8] = b"pg_warden/vault/kek/v1";
/// HKDF info of the check key, and the message its check value authenticates.
pub const CHECK_INFO: &[u8] = b"pg_warden/vault/check/v1";

const HEX_PREFIX: &str = "hex:";
const BASE64_PREFIX: &str = "base64:";
/// Standard base64 of 32 bytes, with its one `=`.
const BASE64_KEY_CHARS: usize = 44;

/// The vault's master key: 32 bytes, zeroized on drop, never printed.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    /// Reads a raw key, `hex:<64 hex digits>` or `base64:<standard base64 of 32 bytes>`,
    /// whitespace around it ignored. `variable` names where it came from, for the error;
    /// no error repeats any of `text`.
    pub fn parse(variable: &'static str, text: &str) -> Result<MasterKey, VaultError> {
        let malformed = |reason: String| VaultError::MasterKeyMalformed { variable, reason };
        let text = text.trim();
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if let Some(digits) = text.strip_prefix(HEX_PREFIX) {
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(malformed(format!(
                    "only hex digits (0-9, a-f, A-F) may follow \"{HEX_PREFIX}\", and it holds other characters"
                )));
            }
            if digits.len() != 2 * KEY_LEN {
                return Err(malformed(format!(
                    "\"{HEX_PREFIX}\" must be followed by {} hex digits (32 bytes), not {}",
                    2 * KEY_LEN,
                    digits.len()
                )));
            }
            hex::decode_to_slice(digits, &mut key[..])
                .unwrap_or_else(|_| unreachable!("64 hex digits decode to 32 bytes"));
        } else if let Some(encoded) = text.strip_prefix(BASE64_PREFIX) {
            let chars = encoded.chars().count();
            if chars != BASE64_KEY_CHARS {
                return Err(malformed(format!(
                    "\"{BASE64_PREFIX}\" must be followed by {BASE64_KEY_CHARS} characters of standard base64 \
                     (32 bytes, '=' padding included), not {chars}"
                )));
            }
            let mut decoded = Zeroizing::new([0u8; 48]);
            let len = STANDARD.decode_slice(encoded, &mut decoded[..]).map_err(|_| {
                malformed(format!(
                    "the text after \"{BASE64_PREFIX}\" is not standard base64 (A-Z, a-z, 0-9, '+', '/', '=' padding)"
                ))
            })?;
            if len != KEY_LEN {
                return Err(malformed(format!(
                    "the text after \"{BASE64_PREFIX}\" decodes to {len} bytes, not {KEY_LEN}"
                )));
            }
            key.copy_from_slice(&decoded[..KEY_LEN]);
        } else {
            return Err(malformed(format!(
                "it must start with \"{HEX_PREFIX}\" followed by 64 hex digits, or \"{BASE64_PREFIX}\" followed by \
                 the standard base64 of 32 bytes"
            )));
        }
        Ok(MasterKey(key))
    }

    /// Stretches a passphrase with Argon2id under `params`, which must lie within the
    /// floor and bounds [`KdfParams::decode`] enforces. An empty passphrase is refused.
    pub fn from_passphrase(
        variable: &'static str,
        passphrase: &[u8],
        params: &KdfParams,
    ) -> Result<MasterKey, VaultError> {
        params.check_bounds()?;
        Self::stretch(variable, passphrase, params)
    }

    /// [`MasterKey::from_passphrase`] without the bounds.
    pub(super) fn stretch(
        variable: &'static str,
        passphrase: &[u8],
        params: &KdfParams,
    ) -> Result<MasterKey, VaultError> {
        if passphrase.is_empty() {
            return Err(VaultError::MasterKeyMalformed { variable, reason: "the passphrase is empty".to_owned() });
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        argon2id(passphrase, params, &mut key)?;
        Ok(MasterKey(key))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// The key-encryption key and the check key, derived from a master key; both zeroized on
/// drop, never printed.
pub struct Kek {
    kek: Zeroizing<[u8; KEY_LEN]>,
    check_key: Zeroizing<[u8; KEY_LEN]>,
}

impl Kek {
    /// Derives both keys with HKDF-SHA256 ([`KEK_INFO`], [`CHECK_INFO`]).
    pub fn derive(master: &MasterKey) -> Kek {
        let hkdf = Hkdf::<Sha256>::new(None, &master.0[..]);
        let mut kek = Zeroizing::new([0u8; KEY_LEN]);
        let mut check_key = Zeroizing::new([0u8; KEY_LEN]);
        for (info, okm) in [(KEK_INFO, &mut kek), (CHECK_INFO, &mut check_key)] {
            hkdf.expand(info, &mut okm[..]).unwrap_or_else(|_| unreachable!("HKDF-SHA256 expands to 32 bytes"));
        }
        Kek { kek, check_key }
    }

    /// The value stored in `warden.vault_state` that identifies the master key without
    /// revealing it: HMAC-SHA256(check key, [`CHECK_INFO`]).
    pub fn check_value(&self) -> [u8; CHECK_VALUE_LEN] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.check_key[..])
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of any length"));
        mac.update(CHECK_INFO);
        mac.finalize().into_bytes().into()
    }

    /// Whether `stored` is this master key's check value, compared in constant time. A
    /// stored value of another length never matches.
    pub fn matches(&self, stored: &[u8]) -> bool {
        self.check_value()[..].ct_eq(stored).into()
    }

    /// Wraps a data key: `0x01 nonce[24] ciphertext[32] tag[16]`, [`WRAPPED_KEY_LEN`]
    /// bytes, bound to `aad`.
    pub fn wrap(&self, key: &DataKey, aad: &Aad) -> Result<Vec<u8>, VaultError> {
        seal_with(&self.kek, &key.0[..], &aad.encode())
    }

    /// Unwraps a data key wrapped under this KEK for `aad`. Any failure (length, version,
    /// authentication) is [`VaultError::Tampered`].
    pub fn unwrap(&self, wrapped: &[u8], aad: &Aad) -> Result<DataKey, VaultError> {
        if wrapped.len() != WRAPPED_KEY_LEN {
            return Err(VaultError::Tampered);
        }
        let plain = open_with(&self.kek, wrapped, &aad.encode())?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&plain);
        Ok(DataKey(key))
    }

    /// The KEK's bytes, for the known-answer test.
    #[cfg(test)]
    pub(super) fn kek_bytes(&self) -> &[u8; KEY_LEN] {
        &self.kek
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(..)")
    }
}

/// A secret's (or a keyring key version's) data key: 32 random bytes, zeroized on drop,
/// never printed.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<DataKey, VaultError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(&mut key[..])?;
        Ok(DataKey(key))
    }

    /// Encrypts a value: `0x01 nonce[24] ciphertext tag[16]`, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<Vec<u8>, VaultError> {
        seal_with(&self.0, plaintext, &aad.encode())
    }

    /// Decrypts a value sealed under this key for `aad`; the plaintext is zeroized when
    /// dropped. Any failure is [`VaultError::Tampered`].
    pub fn open(&self, sealed: &[u8], aad: &Aad) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        open_with(&self.0, sealed, &aad.encode())
    }

    /// The key's bytes, for tests.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

fn seal_with(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    Ok(seal_with_nonce(key, &nonce, plaintext, aad))
}

/// The sealed layout for a given nonce. The plaintext is copied into the output and
/// encrypted there, so no other copy of it is left behind.
pub(super) fn seal_with_nonce(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    let tag = XChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, &mut out[1 + NONCE_LEN..])
        .expect("XChaCha20-Poly1305 refuses only messages of 256 GiB or more");
    out.extend_from_slice(&tag);
    out
}

pub(super) fn open_with(key: &[u8; KEY_LEN], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < SEAL_OVERHEAD || sealed[0] != FORMAT_VERSION {
        return Err(VaultError::Tampered);
    }
    let (nonce, rest) = sealed[1..].split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, &mut plain[..], Tag::from_slice(tag))
        .map_err(|_| VaultError::Tampered)?;
    Ok(plain)
}
