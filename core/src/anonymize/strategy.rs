//! The closed list of strategies and the strict parsing of their options.

use serde_json::{Map, Value};

use super::domain::{is_valid_domain, DEFAULT_DOMAIN, MAX_DOMAIN_LEN};
use super::error::{AnonError, OptionProblem};

pub use super::error::STRATEGY_NAMES;

/// Default mask character of `redact` and `partial`.
pub const DEFAULT_MASK_CHAR: char = '*';
/// Characters `partial` leaves visible at the end by default, as card receipts do.
pub const DEFAULT_PARTIAL_SUFFIX: usize = 4;

/// An anonymization strategy with its options resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// 32 lowercase hex characters of a keyed HMAC. No options.
    Hash,
    /// A pseudonymous address `<20 chars>@<domain>`.
    Email(EmailOptions),
    /// Digits replaced by a keyed permutation, every other character kept. No options.
    Phone,
    /// A string of digits replaced by one of the same length. No options.
    Digits,
    /// A mask revealing nothing, or only the length.
    Redact(RedactOptions),
    /// First and last characters kept, the rest masked.
    Partial(PartialOptions),
}

/// Domain of `email` pseudonyms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailDomain {
    /// The input's own domain (after its last '@'), lowercased, when it is a valid
    /// host name; otherwise [`super::domain::FALLBACK_DOMAIN`].
    Keep,
    /// This domain (stored lowercased) for every pseudonym.
    Replace(String),
}

/// Options of `email`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailOptions {
    /// `"keep"` or a domain name; default `"example.com"`.
    pub domain: EmailDomain,
    /// Whether addresses differing only in case get distinct pseudonyms; default false,
    /// as mail systems treat them as one mailbox.
    pub case_sensitive: bool,
}

impl Default for EmailOptions {
    fn default() -> Self {
        Self { domain: EmailDomain::Replace(DEFAULT_DOMAIN.to_owned()), case_sensitive: false }
    }
}

/// Options of `redact`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactOptions {
    /// Default `'*'`.
    pub mask_char: char,
    /// One mask character per input character instead of a fixed-length mask;
    /// default false.
    pub keep_length: bool,
}

impl Default for RedactOptions {
    fn default() -> Self {
        Self { mask_char: DEFAULT_MASK_CHAR, keep_length: false }
    }
}

/// Options of `partial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialOptions {
    /// Characters kept at the start; default 0.
    pub prefix: usize,
    /// Characters kept at the end; default 4.
    pub suffix: usize,
    /// Default `'*'`.
    pub mask_char: char,
}

impl Default for PartialOptions {
    fn default() -> Self {
        Self { prefix: 0, suffix: DEFAULT_PARTIAL_SUFFIX, mask_char: DEFAULT_MASK_CHAR }
    }
}

impl Strategy {
    /// The strategy called `name` (exact, lowercase) with `options` applied over its
    /// defaults. `options` may be absent, JSON null or an object; unknown option names,
    /// wrong types and invalid values are all reported in one
    /// [`AnonError::InvalidOptions`].
    pub fn parse(name: &str, options: Option<&Value>) -> Result<Strategy, AnonError> {
        let name = STRATEGY_NAMES.into_iter().find(|known| *known == name).ok_or(AnonError::UnknownStrategy)?;
        let mut reader = OptionReader::new(name, options);
        let strategy = match name {
            "hash" => Strategy::Hash,
            "phone" => Strategy::Phone,
            "digits" => Strategy::Digits,
            "email" => {
                let defaults = EmailOptions::default();
                Strategy::Email(EmailOptions {
                    domain: reader.domain("domain", defaults.domain),
                    case_sensitive: reader.boolean("case_sensitive", defaults.case_sensitive),
                })
            }
            "redact" => {
                let defaults = RedactOptions::default();
                Strategy::Redact(RedactOptions {
                    mask_char: reader.mask_char("mask_char", defaults.mask_char),
                    keep_length: reader.boolean("keep_length", defaults.keep_length),
                })
            }
            // "partial", the one name left.
            _ => {
                let defaults = PartialOptions::default();
                Strategy::Partial(PartialOptions {
                    prefix: reader.count("prefix", defaults.prefix),
                    suffix: reader.count("suffix", defaults.suffix),
                    mask_char: reader.mask_char("mask_char", defaults.mask_char),
                })
            }
        };
        reader.finish(strategy)
    }

    /// The strategy's name, as [`Strategy::parse`] takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Hash => "hash",
            Strategy::Email(_) => "email",
            Strategy::Phone => "phone",
            Strategy::Digits => "digits",
            Strategy::Redact(_) => "redact",
            Strategy::Partial(_) => "partial",
        }
    }

    /// Every option with its value, defaults included: parsing it back gives the same
    /// strategy, and two spellings of one strategy give the same object.
    pub fn options_json(&self) -> Value {
        let mut options = Map::new();
        match self {
            Strategy::Hash | Strategy::Phone | Strategy::Digits => {}
            Strategy::Email(email) => {
                let domain = match &email.domain {
                    EmailDomain::Keep => KEEP_DOMAIN.to_owned(),
                    EmailDomain::Replace(domain) => domain.clone(),
                };
                options.insert("domain".into(), Value::String(domain));
                options.insert("case_sensitive".into(), Value::Bool(email.case_sensitive));
            }
            Strategy::Redact(redact) => {
                options.insert("mask_char".into(), Value::String(redact.mask_char.to_string()));
                options.insert("keep_length".into(), Value::Bool(redact.keep_length));
            }
            Strategy::Partial(partial) => {
                options.insert("prefix".into(), Value::from(partial.prefix));
                options.insert("suffix".into(), Value::from(partial.suffix));
                options.insert("mask_char".into(), Value::String(partial.mask_char.to_string()));
            }
        }
        Value::Object(options)
    }
}

/// The `domain` value that keeps each input's domain.
const KEEP_DOMAIN: &str = "keep";

fn allowed_options(strategy: &str) -> &'static [&'static str] {
    match strategy {
        "email" => &["domain", "case_sensitive"],
        "redact" => &["mask_char", "keep_length"],
        "partial" => &["prefix", "suffix", "mask_char"],
        _ => &[],
    }
}

/// How a JSON value is named in messages ("found a string").
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "expected …", naming what was found unless it was already the right JSON type and
/// only its value was wrong.
fn expected(what: &str, found: &Value, right_type: bool) -> String {
    if right_type {
        format!("expected {what}")
    } else {
        format!("expected {what}, found {}", kind_of(found))
    }
}

/// Reads options, collecting every problem instead of stopping at the first.
struct OptionReader<'a> {
    strategy: &'static str,
    options: Option<&'a Map<String, Value>>,
    problems: Vec<OptionProblem>,
}

impl<'a> OptionReader<'a> {
    fn new(strategy: &'static str, options: Option<&'a Value>) -> Self {
        let mut reader = Self { strategy, options: None, problems: Vec::new() };
        match options {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                reader.options = Some(map);
                let allowed = allowed_options(strategy);
                for name in map.keys().filter(|name| !allowed.contains(&name.as_str())) {
                    let message = if allowed.is_empty() {
                        format!("unknown option; {strategy} takes no options")
                    } else {
                        format!("unknown option; allowed: {}", allowed.join(", "))
                    };
                    reader.problems.push(OptionProblem { option: Some(name.clone()), message });
                }
            }
            Some(other) => reader.problems.push(OptionProblem {
                option: None,
                message: format!("options must be a JSON object, found {}", kind_of(other)),
            }),
        }
        reader
    }

    /// The value of option `name`, or `default` if absent; when `read` refuses the
    /// value, records its message and returns `default`.
    fn read<T>(&mut self, name: &str, default: T, read: impl FnOnce(&Value) -> Result<T, String>) -> T {
        let Some(value) = self.options.and_then(|map| map.get(name)) else {
            return default;
        };
        match read(value) {
            Ok(parsed) => parsed,
            Err(message) => {
                self.problems.push(OptionProblem { option: Some(name.to_owned()), message });
                default
            }
        }
    }

    fn boolean(&mut self, name: &str, default: bool) -> bool {
        self.read(name, default, |value| value.as_bool().ok_or_else(|| expected("true or false", value, false)))
    }

    fn count(&mut self, name: &str, default: usize) -> usize {
        self.read(name, default, |value| {
            value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| expected("a non-negative integer", value, value.is_number()))
        })
    }

    fn mask_char(&mut self, name: &str, default: char) -> char {
        self.read(name, default, |value| {
            let mut chars = value.as_str().unwrap_or_default().chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if !c.is_control() => Ok(c),
                _ => Err(expected("a string of one printable character", value, value.is_string())),
            }
        })
    }

    fn domain(&mut self, name: &str, default: EmailDomain) -> EmailDomain {
        self.read(name, default, |value| match value.as_str() {
            Some(KEEP_DOMAIN) => Ok(EmailDomain::Keep),
            Some(domain) if is_valid_domain(domain) => Ok(EmailDomain::Replace(domain.to_ascii_lowercase())),
            _ => Err(expected(
                &format!(
                    "\"{KEEP_DOMAIN}\" or a host name such as {DEFAULT_DOMAIN} (labels of letters, digits and \
                     hyphens, at most {MAX_DOMAIN_LEN} characters)"
                ),
                value,
                value.is_string(),
            )),
        })
    }

    fn finish(self, strategy: Strategy) -> Result<Strategy, AnonError> {
        if self.problems.is_empty() {
            Ok(strategy)
        } else {
            Err(AnonError::InvalidOptions { strategy: self.strategy, problems: self.problems })
        }
    }
}
