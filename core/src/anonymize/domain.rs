//! The host names e-mail pseudonyms end with: the defaults and the rule for a domain an
//! address may keep or a profile may configure. A leaf: the strategy options and the
//! e-mail pseudonymizer both use it.

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
