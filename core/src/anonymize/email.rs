//! Pseudonymous e-mail addresses; the format is documented on
//! [`super::Pseudonymizer::email`].

use crate::mac::KeyedMac;

use super::domain::{is_valid_domain, FALLBACK_DOMAIN, LOCAL_LEN};
use super::strategy::{EmailDomain, EmailOptions};

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Inputs up to this length are lowercased on the stack.
const STACK_LEN: usize = 256;

/// The pseudonym of `value` under `mac` (the email subkey of one seed).
pub(super) fn pseudonymize(mac: &KeyedMac, value: &str, options: &EmailOptions) -> String {
    let tag = if options.case_sensitive { mac.tag(value.as_bytes()) } else { lowercase_tag(mac, value) };
    let domain = match &options.domain {
        EmailDomain::Replace(domain) => domain.as_str(),
        EmailDomain::Keep => match value.rsplit_once('@') {
            Some((_, domain)) if is_valid_domain(domain) => domain,
            _ => FALLBACK_DOMAIN,
        },
    };
    let mut out = String::with_capacity(LOCAL_LEN + 1 + domain.len());
    let head = u128::from_be_bytes(std::array::from_fn(|i| tag[i]));
    for i in 0..LOCAL_LEN {
        let index = (head >> (128 - 5 * (i + 1))) & 31;
        out.push(char::from(BASE32[index as usize]));
    }
    out.push('@');
    // A kept domain may carry capitals; a configured one was lowercased when parsed.
    out.extend(domain.chars().map(|c| c.to_ascii_lowercase()));
    out
}

/// HMAC of `value` lowercased, without allocating for the usual short ASCII address.
fn lowercase_tag(mac: &KeyedMac, value: &str) -> [u8; 32] {
    if value.is_ascii() && value.len() <= STACK_LEN {
        let mut buf = [0u8; STACK_LEN];
        let lowered = &mut buf[..value.len()];
        lowered.copy_from_slice(value.as_bytes());
        lowered.make_ascii_lowercase();
        mac.tag(lowered)
    } else {
        mac.tag(value.to_lowercase().as_bytes())
    }
}
