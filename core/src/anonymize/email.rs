//! Pseudonymous e-mail addresses; the format is documented on
//! [`super::Pseudonymizer::email`].

use crate::mac::KeyedMac;

use super::strategy::{EmailDomain, EmailOptions};

/// Domain of pseudonyms unless the options say otherwise: reserved for documentation by
/// RFC 2606, and its null MX record (RFC 7505) makes mail to it undeliverable.
pub const DEFAULT_DOMAIN: &str = "example.com";
/// Domain used under `"domain": "keep"` when the input has no valid domain to keep.
/// `.invalid` is reserved by RFC 2606 for names that can never resolve.
pub const FALLBACK_DOMAIN: &str = "example.invalid";
/// Characters in a pseudonym's local part.
pub const LOCAL_LEN: usize = 20;
/// Longest domain kept or configured: an address is at most 254 characters (RFC 5321
/// path limit) and the local part and '@' take 21.
pub const MAX_DOMAIN_LEN: usize = 254 - LOCAL_LEN - 1;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Inputs up to this length are lowercased on the stack.
const STACK_LEN: usize = 256;

/// Whether `domain` is a host name an address can end with: dot-separated labels of
/// 1–63 ASCII letters, digits and hyphens, no label starting or ending with a hyphen, at
/// least two labels, a top-level label not all digits (that would be an IP address),
/// and at most [`MAX_DOMAIN_LEN`] characters.
pub fn is_valid_domain(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN {
        return false;
    }
    let mut labels = 0;
    let mut last_label = "";
    for label in domain.split('.') {
        let valid = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return false;
        }
        labels += 1;
        last_label = label;
    }
    labels >= 2 && !last_label.bytes().all(|b| b.is_ascii_digit())
}

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
