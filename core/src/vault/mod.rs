//! Secrets vault: an envelope of keys under one master key, its byte layouts, the
//! associated data that binds each ciphertext to its row, and the input rules.
//!
//! # Envelope
//!
//! ```text
//! master key (32 bytes)       WARDEN_MASTER_KEY, or Argon2id(WARDEN_MASTER_PASSPHRASE)
//!   └─ HKDF-SHA256 ─┬─ KEK        key-encryption key: wraps data keys, nothing else
//!                   └─ check key  computes the check value, nothing else
//! data key (32 random bytes)  one per secret, and one per keyring key version
//!   └─ wrapped under the KEK, bound to where it belongs
//!   └─ seals that secret's values (every version) or that keyring key's material
//! ```
//!
//! The master key never reaches the database. Changing it rewraps each data key (73
//! bytes) under the new KEK and leaves every sealed value as it is; a value is only
//! decrypted by the one data key of its secret, so a data key seen in memory exposes one
//! secret, not the vault.
//!
//! # Master key
//!
//! A raw key is written `hex:` followed by 64 hex digits (either case), or `base64:`
//! followed by the standard base64 of 32 bytes (44 characters, `=` padding included),
//! e.g. from `openssl rand -base64 32`. Whitespace around the whole text is ignored;
//! anything else is refused, without the text in the message.
//!
//! A passphrase is stretched with Argon2id (version 0x13, no secret, no associated data,
//! 32-byte output) under the parameters and salt stored with the vault ([`KdfParams`]),
//! taken byte for byte as given. The cost is paid each time a backend derives the key,
//! so a backend derives it once and keeps the [`Kek`].
//!
//! # Key derivation
//!
//! ```text
//! prk         = HKDF-Extract(salt = none (32 zero bytes), master_key)
//! kek         = HKDF-Expand(prk, "pg_warden/vault/kek/v1", 32)
//! check_key   = HKDF-Expand(prk, "pg_warden/vault/check/v1", 32)
//! check_value = HMAC-SHA256(check_key, "pg_warden/vault/check/v1")
//! ```
//!
//! The master key is already uniform (random, or Argon2id output), so HKDF needs no salt.
//! The check value, stored once in `warden.vault_state`, identifies the master key
//! without revealing it or the KEK: it is a PRF output under a key used for nothing else.
//! Against a passphrase it offers no shortcut: each guess still costs one Argon2id.
//!
//! # Wrong master key or tampered ciphertext
//!
//! Both make decryption fail, and they call for different actions, so the extension tells
//! them apart before decrypting anything:
//!
//! 1. It derives the KEK and compares [`Kek::check_value`] with the stored one
//!    ([`Kek::matches`], constant time). A mismatch is [`VaultError::WrongMasterKey`]:
//!    the server runs with another key than the one the vault was created with; no
//!    ciphertext was looked at.
//! 2. With the check value matching, the key is right, so an authentication failure in
//!    [`Kek::unwrap`] or [`DataKey::open`] is [`VaultError::Tampered`]: the wrapped key,
//!    the ciphertext, or a column bound into the associated data (reference, tenant, name,
//!    version) was changed, or a ciphertext was copied to another row.
//!
//! # Byte layouts, version 1
//!
//! ```text
//! wrapped_key = 0x01 nonce[24] XChaCha20-Poly1305(kek, nonce, data_key[32], aad)
//!             = 0x01 nonce[24] ciphertext[32] tag[16]          73 bytes
//! sealed      = 0x01 nonce[24] XChaCha20-Poly1305(data_key, nonce, value, aad)
//!             = 0x01 nonce[24] ciphertext[len] tag[16]         41 + len bytes
//! ```
//!
//! The nonce is 24 bytes from the operating system's CSPRNG, drawn for every seal and
//! every wrap. A first byte other than 0x01, or a wrong length, fails as
//! [`VaultError::Tampered`]; a future layout gets a new first byte. That byte lies outside
//! the AEAD, yet it is bound all the same: the associated data's domain names the version
//! (`…/v1`), and a future layout gets new domains too.
//!
//! # Why XChaCha20-Poly1305 with random nonces
//!
//! A nonce must never repeat under one key. A counter would be state shared between
//! every backend, and it cannot stay unique across a promoted standby, a restored backup
//! or a `pg_dump` loaded into another cluster with the same master key: each carries on
//! from the same point. Random nonces need no state, so they must be long enough never to
//! collide by chance. AES-GCM's 96-bit random nonces allow about 2^32 messages under one
//! key (NIST SP 800-38D) before a key change is due. XChaCha20-Poly1305's 192-bit nonces
//! make a collision negligible: after 2^48 messages under one key, its probability is
//! about 2^-97. ChaCha20 is also constant time in software, with or without AES
//! instructions.
//!
//! # Associated data, version 1
//!
//! Every wrap and seal authenticates, unencrypted, where its output belongs. The encoding
//! is canonical and length-prefixed, as the ledger's entry encoding (integers big-endian):
//!
//! ```text
//! aad   = u32(len) domain  field ...
//! field = 0x00                     SQL NULL
//!       | 0x01 u32(len) bytes      a value
//! ```
//!
//! | variant | domain | fields, in order |
//! | --- | --- | --- |
//! | [`Aad::SecretKey`] | `pg_warden/vault/secret-key/v1` | secret_ref, tenant, name |
//! | [`Aad::SecretValue`] | `pg_warden/vault/secret-value/v1` | secret_ref, tenant, name, version |
//! | [`Aad::KeyringKey`] | `pg_warden/keyring/key/v1` | name, version |
//! | [`Aad::KeyringMaterial`] | `pg_warden/keyring/material/v1` | name, version |
//!
//! `secret_ref` is the uuid's 16 bytes in RFC 9562 order (PostgreSQL's binary form);
//! `tenant` and `name` are UTF-8 text, `tenant` NULL when there is none; `version` is an
//! `int4` (len 4). The domain keeps a wrapped key from passing for a sealed value and a
//! secret's ciphertext from passing for a keyring key's, even where the other fields agree.
//!
//! # Argon2id parameters
//!
//! [`KdfParams::recommended`] gives RFC 9106's second recommended option (section 4),
//! meant for settings where memory is limited: Argon2id, t=3, m=64 MiB, p=4, a 128-bit
//! salt, a 256-bit output. A database server derives the key inside a backend, beside
//! `shared_buffers` and other backends; the first option's 2 GiB per derivation is not
//! available there. OWASP's minimum for Argon2id (m=19 MiB, t=2, p=1) is the floor below
//! which stored parameters are refused. The parameters are stored as text
//! (`argon2id$v=19$m=65536,t=3,p=4$<salt>`) so they can be raised later: a new salt and
//! new parameters give a new master key, and the data keys are rewrapped under it.
//!
//! # Input rules
//!
//! A secret's name and tenant are 1 to [`MAX_NAME_CHARS`] characters without control
//! characters; no tenant is NULL, never the empty string. A value is at most
//! [`MAX_VALUE_BYTES`]. Refusals explain the rule and never repeat the value.

mod aad;
mod kdf;
mod keys;

#[cfg(test)]
mod tests;

use std::fmt;

pub use aad::{Aad, KEYRING_KEY_DOMAIN, KEYRING_MATERIAL_DOMAIN, SECRET_KEY_DOMAIN, SECRET_VALUE_DOMAIN};
pub use kdf::{
    KdfParams, KDF_ALGORITHM, KDF_VERSION, MAX_M_COST_KIB, MAX_P_COST, MAX_T_COST, MIN_M_COST_KIB, MIN_P_COST,
    MIN_T_COST, SALT_LEN,
};
pub use keys::{DataKey, Kek, MasterKey, CHECK_INFO, KEK_INFO};

/// First byte of a wrapped key and of a sealed value.
pub const FORMAT_VERSION: u8 = 1;
/// Length of every key of the vault: master key, KEK, check key, data key.
pub const KEY_LEN: usize = 32;
/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext: version, nonce and tag.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// Length of a wrapped data key.
pub const WRAPPED_KEY_LEN: usize = SEAL_OVERHEAD + KEY_LEN;
/// Length of a check value.
pub const CHECK_VALUE_LEN: usize = 32;

/// Longest secret name or tenant, in characters, as PostgreSQL's `char_length` counts
/// them.
pub const MAX_NAME_CHARS: usize = 255;

/// Largest secret value, in bytes: 1 MiB.
///
/// A credential (password, token, API key, certificate chain, private key) is a few KiB at
/// most, so the bound refuses only mistakes, such as a file stored by accident. It bounds
/// the memory of one call, which holds the value several times over (argument, plaintext,
/// ciphertext, result), to a few MiB per backend. It is far below the 1 GB limit of a
/// `bytea`, and TOAST stores such a value out of line without strain (a ciphertext does not
/// compress, so it is kept in about 500 chunks).
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Why the vault could not do what was asked. No message contains key material, a
/// passphrase, a secret's value or the text of a malformed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultError {
    /// The master key setting could not be read as a key. SQLSTATE 22023
    /// (`invalid_parameter_value`).
    MasterKeyMalformed {
        /// The environment variable that held it.
        variable: &'static str,
        /// What is wrong with it, without its value.
        reason: String,
    },
    /// The master key does not match the vault's stored check value: the server runs with
    /// another master key than the one the vault was created with. SQLSTATE 55000
    /// (`object_not_in_prerequisite_state`).
    WrongMasterKey,
    /// A wrapped key or sealed value failed authentication while the master key is the
    /// right one: it, or a column bound into its associated data, was changed or moved.
    /// SQLSTATE XX001 (`data_corrupted`); the extension names the secret reference.
    Tampered,
    /// The stored Argon2id parameters are unreadable, unsupported, below the floor or
    /// beyond the bounds. SQLSTATE 22023 (`invalid_parameter_value`).
    KdfParams(String),
    /// The operating system's random number generator failed. SQLSTATE 58000
    /// (`system_error`).
    Random(String),
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultError::MasterKeyMalformed { variable, reason } => {
                write!(f, "the master key in {variable} is malformed: {reason}")
            }
            VaultError::WrongMasterKey => {
                f.write_str("the master key does not match the vault: it is not the key the vault was created with")
            }
            VaultError::Tampered => f.write_str("a vault ciphertext failed authentication: it was altered or moved"),
            VaultError::KdfParams(reason) => write!(f, "the vault's stored Argon2id parameters are refused: {reason}"),
            VaultError::Random(reason) => write!(f, "the operating system's random number generator failed: {reason}"),
        }
    }
}

impl std::error::Error for VaultError {}

/// Fills `dest` from the operating system's CSPRNG.
pub(crate) fn fill_random(dest: &mut [u8]) -> Result<(), VaultError> {
    getrandom::fill(dest).map_err(|e| VaultError::Random(e.to_string()))
}

/// A random (version 4) UUID, as its 16 bytes in RFC 9562 order.
pub fn random_uuid_v4() -> Result<[u8; 16], VaultError> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(bytes)
}

/// Checks a secret's name: 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a secret name must not be empty".to_owned());
    }
    check_text("a secret name", name)
}

/// Checks a secret's tenant: `None` for no tenant, or 1 to [`MAX_NAME_CHARS`] characters
/// without control characters.
pub fn check_tenant(tenant: Option<&str>) -> Result<(), String> {
    match tenant {
        None => Ok(()),
        Some("") => Err("a tenant must not be the empty string: use NULL for no tenant".to_owned()),
        Some(tenant) => check_text("a tenant", tenant),
    }
}

/// Checks a secret value's length: at most [`MAX_VALUE_BYTES`].
pub fn check_value_len(len: usize) -> Result<(), String> {
    if len > MAX_VALUE_BYTES {
        return Err(format!("a secret value is at most {MAX_VALUE_BYTES} bytes (1 MiB); this one has {len} bytes"));
    }
    Ok(())
}

fn check_text(what: &str, text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(format!("{what} is at most {MAX_NAME_CHARS} characters; this one has {chars}"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{what} must not contain control characters, such as a newline or a tab"));
    }
    Ok(())
}
