//! Associated data: the canonical encoding that binds a ciphertext to its row.

/// Domain of a secret's wrapped data key.
pub const SECRET_KEY_DOMAIN: &str = "pg_warden/vault/secret-key/v1";
/// Domain of one version of a secret's value.
pub const SECRET_VALUE_DOMAIN: &str = "pg_warden/vault/secret-value/v1";
/// Domain of a keyring key version's wrapped data key.
pub const KEYRING_KEY_DOMAIN: &str = "pg_warden/keyring/key/v1";
/// Domain of a keyring key version's sealed material.
pub const KEYRING_MATERIAL_DOMAIN: &str = "pg_warden/keyring/material/v1";

const NULL_FIELD: u8 = 0;
const PRESENT_FIELD: u8 = 1;

/// Where a wrapped key or a sealed value belongs; see the module documentation for the
/// encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aad<'a> {
    /// The wrapped data key of a secret.
    SecretKey {
        /// The secret's reference, the uuid's 16 bytes.
        secret_ref: [u8; 16],
        /// Its tenant; `None` for no tenant.
        tenant: Option<&'a str>,
        /// Its name.
        name: &'a str,
    },
    /// One version of a secret's value.
    SecretValue {
        /// The secret's reference, the uuid's 16 bytes.
        secret_ref: [u8; 16],
        /// Its tenant; `None` for no tenant.
        tenant: Option<&'a str>,
        /// Its name.
        name: &'a str,
        /// The version.
        version: i32,
    },
    /// A keyring key version's wrapped data key.
    KeyringKey {
        /// The keyring key's name.
        name: &'a str,
        /// Its version.
        version: i32,
    },
    /// A keyring key version's sealed material.
    KeyringMaterial {
        /// The keyring key's name.
        name: &'a str,
        /// Its version.
        version: i32,
    },
}

impl Aad<'_> {
    /// The version-1 encoding.
    ///
    /// Every length is a `u32`; text from PostgreSQL is at most 1 GB, and the vault's
    /// names are at most 255 characters, so no field comes near the limit.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        match *self {
            Aad::SecretKey { secret_ref, tenant, name } => {
                put_prefixed(&mut out, SECRET_KEY_DOMAIN.as_bytes());
                put_field(&mut out, Some(&secret_ref));
                put_field(&mut out, tenant.map(str::as_bytes));
                put_field(&mut out, Some(name.as_bytes()));
            }
            Aad::SecretValue { secret_ref, tenant, name, version } => {
                put_prefixed(&mut out, SECRET_VALUE_DOMAIN.as_bytes());
                put_field(&mut out, Some(&secret_ref));
                put_field(&mut out, tenant.map(str::as_bytes));
                put_field(&mut out, Some(name.as_bytes()));
                put_field(&mut out, Some(&version.to_be_bytes()));
            }
            Aad::KeyringKey { name, version } => {
                put_prefixed(&mut out, KEYRING_KEY_DOMAIN.as_bytes());
                put_field(&mut out, Some(name.as_bytes()));
                put_field(&mut out, Some(&version.to_be_bytes()));
            }
            Aad::KeyringMaterial { name, version } => {
                put_prefixed(&mut out, KEYRING_MATERIAL_DOMAIN.as_bytes());
                put_field(&mut out, Some(name.as_bytes()));
                put_field(&mut out, Some(&version.to_be_bytes()));
            }
        }
        out
    }
}

fn put_field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(NULL_FIELD),
        Some(bytes) => {
            out.push(PRESENT_FIELD);
            put_prefixed(out, bytes);
        }
    }
}

fn put_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // A field of 4 GiB or more would need a longer prefix; nothing the vault is given can
    // be that long (see `Aad::encode`), and truncating the length would break injectivity.
    let len = u32::try_from(bytes.len()).expect("an associated-data field is shorter than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}
