//! Argon2id parameters, their stored text form, and the stretching of a passphrase.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::{fill_random, VaultError, KEY_LEN};

/// Algorithm label of the text form.
pub const KDF_ALGORITHM: &str = "argon2id";
/// Argon2 version of the text form: 19 (0x13), the only one accepted.
pub const KDF_VERSION: u32 = 19;
/// Length of the salt.
pub const SALT_LEN: usize = 16;

/// Least memory accepted, in KiB: OWASP's minimum for Argon2id, 19 MiB.
pub const MIN_M_COST_KIB: u32 = 19 * 1024;
/// Fewest passes accepted: OWASP's minimum for Argon2id at 19 MiB.
pub const MIN_T_COST: u32 = 2;
/// Fewest lanes accepted.
pub const MIN_P_COST: u32 = 1;
/// Most memory accepted, in KiB: 4 GiB, more than a backend should ever take.
pub const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
/// Most passes accepted.
pub const MAX_T_COST: u32 = 100;
/// Most lanes accepted.
pub const MAX_P_COST: u32 = 64;

/// Argon2id parameters and salt of a passphrase-derived master key, stored beside the
/// ciphertexts as `argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>`, the salt in
/// standard base64 without padding (22 characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub m_cost_kib: u32,
    /// Passes over the memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// Random salt, drawn when the vault is created or its parameters are raised.
    pub salt: [u8; SALT_LEN],
}

impl KdfParams {
    /// RFC 9106's second recommended option (t=3, m=64 MiB, p=4; see the module
    /// documentation) with a fresh random salt.
    pub fn recommended() -> Result<KdfParams, VaultError> {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        Ok(KdfParams { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 4, salt })
    }

    /// The text form, e.g. `argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA`.
    pub fn encode(&self) -> String {
        format!(
            "{KDF_ALGORITHM}$v={KDF_VERSION}$m={},t={},p={}${}",
            self.m_cost_kib,
            self.t_cost,
            self.p_cost,
            STANDARD_NO_PAD.encode(self.salt)
        )
    }

    /// Reads the text form [`KdfParams::encode`] writes, exactly: numbers in decimal
    /// without sign or leading zeros, parameters in the order m, t, p. Refuses parameters
    /// below the floor ([`MIN_M_COST_KIB`], [`MIN_T_COST`], [`MIN_P_COST`]) or beyond the
    /// bounds ([`MAX_M_COST_KIB`], [`MAX_T_COST`], [`MAX_P_COST`]).
    pub fn decode(text: &str) -> Result<KdfParams, VaultError> {
        let parts: Vec<&str> = text.split('$').collect();
        let [algorithm, version, costs, salt] = parts[..] else {
            return Err(refuse(format!(
                "expected four parts separated by '$' ({KDF_ALGORITHM}$v={KDF_VERSION}$m=...,t=...,p=...$salt)"
            )));
        };
        if algorithm != KDF_ALGORITHM {
            return Err(refuse(format!("the algorithm is not {KDF_ALGORITHM}")));
        }
        if version != format!("v={KDF_VERSION}") {
            return Err(refuse(format!("the Argon2 version is not v={KDF_VERSION}")));
        }
        let costs: Vec<&str> = costs.split(',').collect();
        let [m, t, p] = costs[..] else {
            return Err(refuse("expected three parameters, m=...,t=...,p=...".to_owned()));
        };
        let params = KdfParams {
            m_cost_kib: cost(m, "m")?,
            t_cost: cost(t, "t")?,
            p_cost: cost(p, "p")?,
            salt: decode_salt(salt)?,
        };
        params.check_bounds()?;
        Ok(params)
    }

    /// Refuses parameters below the floor or beyond the bounds.
    pub(super) fn check_bounds(&self) -> Result<(), VaultError> {
        let checks = [
            ("m", self.m_cost_kib, MIN_M_COST_KIB, MAX_M_COST_KIB, " KiB"),
            ("t", self.t_cost, MIN_T_COST, MAX_T_COST, ""),
            ("p", self.p_cost, MIN_P_COST, MAX_P_COST, ""),
        ];
        for (name, value, min, max, unit) in checks {
            if value < min {
                return Err(refuse(format!("{name}={value}{unit} is below the floor of {min}{unit}")));
            }
            if value > max {
                return Err(refuse(format!("{name}={value}{unit} is above the bound of {max}{unit}")));
            }
        }
        Ok(())
    }

    /// Fast parameters for unit tests, far below the floor: only the unchecked derivation
    /// accepts them.
    #[cfg(test)]
    pub(super) fn fast_for_tests(salt: [u8; SALT_LEN]) -> KdfParams {
        KdfParams { m_cost_kib: 256, t_cost: 2, p_cost: 2, salt }
    }
}

fn refuse(reason: String) -> VaultError {
    VaultError::KdfParams(reason)
}

/// One `name=value` parameter, the value a canonical decimal `u32`.
fn cost(part: &str, name: &str) -> Result<u32, VaultError> {
    let digits = part
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or_else(|| refuse("expected the parameters m=...,t=...,p=... in that order".to_owned()))?;
    let canonical =
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return Err(refuse(format!("{name} is not a decimal number without sign or leading zeros")));
    }
    digits.parse().map_err(|_| refuse(format!("{name} does not fit in 32 bits")))
}

fn decode_salt(text: &str) -> Result<[u8; SALT_LEN], VaultError> {
    let bytes = STANDARD_NO_PAD
        .decode(text)
        .map_err(|_| refuse("the salt is not standard base64 without padding".to_owned()))?;
    bytes.try_into().map_err(|bytes: Vec<u8>| refuse(format!("the salt is {} bytes, not {SALT_LEN}", bytes.len())))
}

/// Argon2id of `passphrase` under `params`, without the floor: [`super::MasterKey`]
/// checks the bounds first. The working memory is zeroized before it is freed.
pub(super) fn argon2id(passphrase: &[u8], params: &KdfParams, out: &mut [u8; KEY_LEN]) -> Result<(), VaultError> {
    let argon_params = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(KEY_LEN))
        .map_err(|e| refuse(e.to_string()))?;
    let block_count = argon_params.block_count();
    let mut memory: Zeroizing<Vec<Block>> = Zeroizing::new(Vec::new());
    // Up to 4 GiB: failing to allocate is an error to report, not a reason to abort the
    // backend.
    memory
        .try_reserve_exact(block_count)
        .map_err(|_| refuse(format!("cannot allocate m={} KiB for Argon2id", params.m_cost_kib)))?;
    memory.resize(block_count, Block::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into_with_memory(passphrase, &params.salt, out, &mut *memory)
        .map_err(|e| refuse(e.to_string()))
}
