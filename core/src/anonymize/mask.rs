//! Masks: `redact` and `partial`. They use no key. Lengths count characters (Unicode
//! scalar values), so a mask never splits a multi-byte character; a base letter and a
//! combining accent count as two.

use super::strategy::{PartialOptions, RedactOptions};

/// Length of the `redact` mask without `keep_length`: fixed, so it reveals not even the
/// input's length.
pub const REDACT_LEN: usize = 8;

/// `redact`: [`REDACT_LEN`] mask characters, or one per input character with
/// `keep_length` (so "" stays "").
pub fn redact(value: &str, options: &RedactOptions) -> String {
    let len = if options.keep_length { value.chars().count() } else { REDACT_LEN };
    std::iter::repeat_n(options.mask_char, len).collect()
}

/// `partial`: the first `prefix` and last `suffix` characters kept, each one between
/// replaced by the mask character, so the length is kept. When `prefix + suffix` reaches
/// the length, nothing is kept: a value short enough to be shown whole is masked whole.
pub fn partial(value: &str, options: &PartialOptions) -> String {
    let len = value.chars().count();
    if options.prefix.saturating_add(options.suffix) >= len {
        return std::iter::repeat_n(options.mask_char, len).collect();
    }
    let masked_end = len - options.suffix;
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i < options.prefix || i >= masked_end { c } else { options.mask_char })
        .collect()
}
