//! Why a value could not be anonymized.
//!
//! No message quotes the value being anonymized, nor anything derived from a key: the
//! extension raises these as SQLSTATE 22023 and they may reach logs. Option names are
//! quoted (they come from the caller's options document, not from the data); an unknown
//! strategy name is not, in case a value was passed where the name belongs.

use std::fmt;

/// Every strategy name, in the order error messages list them (re-exported by
/// `strategy`, which parses them).
pub const STRATEGY_NAMES: [&str; 6] = ["hash", "email", "phone", "digits", "redact", "partial"];

/// One thing wrong with a strategy's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionProblem {
    /// The option concerned, or `None` when the options document as a whole is wrong
    /// (not an object).
    pub option: Option<String>,
    /// What is wrong, without the option's name.
    pub message: String,
}

/// Why a value could not be anonymized, or a strategy not built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnonError {
    /// The strategy name is not one of [`STRATEGY_NAMES`].
    UnknownStrategy,
    /// The options given to a strategy are wrong; every problem found is listed.
    InvalidOptions {
        /// The strategy whose options they are.
        strategy: &'static str,
        /// Every problem found, in the order the options were checked.
        problems: Vec<OptionProblem>,
    },
    /// `digits` was given a character other than 0–9.
    NotDigits,
    /// `phone` was given a non-empty value without any digit 0–9.
    NoDigits,
    /// A numeric character other than 0–9 (another script's digits, fractions,
    /// superscripts): passing it through unchanged could leak a number.
    NonAsciiDigit,
    /// More digits than a digit permutation accepts.
    TooManyDigits {
        /// The most digits accepted.
        max: usize,
    },
}

impl AnonError {
    /// What the caller can do about it, for the error's HINT.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            AnonError::UnknownStrategy | AnonError::InvalidOptions { .. } => None,
            AnonError::NotDigits => Some("Use the phone strategy to keep separators such as spaces, '+' or '-'."),
            AnonError::NoDigits => Some("Use redact or partial for values that hold no digits."),
            AnonError::NonAsciiDigit => Some("Convert digits to 0-9 first, or use redact or hash."),
            AnonError::TooManyDigits { .. } => Some("Use hash for longer values."),
        }
    }
}

impl fmt::Display for AnonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnonError::UnknownStrategy => {
                write!(f, "unknown anonymization strategy; allowed: {}", STRATEGY_NAMES.join(", "))
            }
            AnonError::InvalidOptions { strategy, problems } => {
                write!(f, "invalid options for strategy {strategy}: ")?;
                for (i, problem) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    match &problem.option {
                        Some(option) => write!(f, "option {option:?}: {}", problem.message)?,
                        None => f.write_str(&problem.message)?,
                    }
                }
                Ok(())
            }
            AnonError::NotDigits => f.write_str("the digits strategy accepts only the characters 0-9"),
            AnonError::NoDigits => f.write_str("the phone strategy needs a value with at least one digit 0-9"),
            AnonError::NonAsciiDigit => {
                f.write_str("value holds numeric characters other than 0-9, which cannot be anonymized as digits")
            }
            AnonError::TooManyDigits { max } => write!(f, "value holds more than {max} digits"),
        }
    }
}

impl std::error::Error for AnonError {}
