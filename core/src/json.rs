//! Bounded JSON parsing and canonical text.

use serde_json::Value;

/// Deepest nesting of arrays and objects pg_warden accepts in a document: serde_json
/// refuses a 128th level on its own, so every walker over a parsed value recurses at
/// most this far.
pub const MAX_DEPTH: usize = 127;

/// Why a JSON document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Not JSON at all; the message is the parser's (it never quotes the input).
    Syntax(String),
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::TooDeep => write!(f, "JSON nested deeper than {MAX_DEPTH} levels"),
            JsonError::Syntax(msg) => write!(f, "invalid JSON: {msg}"),
        }
    }
}

/// Parses `text`, refusing documents nested deeper than [`MAX_DEPTH`].
pub fn parse(text: &str) -> Result<Value, JsonError> {
    serde_json::from_str(text).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            JsonError::TooDeep
        } else {
            JsonError::Syntax(format!("line {} column {}: {:?}", e.line(), e.column(), e.classify()))
        }
    })
}

/// Compact text with object keys in sorted order: the same value always gives the
/// same bytes, whatever order its producer wrote the keys in.
pub fn canonical_text(value: &Value) -> String {
    // serde_json's default map is ordered by key, and numbers keep their exact text
    // (feature `arbitrary_precision`), so compact serialization is canonical.
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_limit_is_reported_as_such() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(&deep), Err(JsonError::TooDeep));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn syntax_errors_do_not_echo_input() {
        match parse("{\"password\": hunter2}") {
            Err(JsonError::Syntax(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn canonical_text_sorts_keys_and_keeps_numbers() {
        let v = parse(r#"{"b": 1.50, "a": [12345678901234567890123, true]}"#).unwrap();
        assert_eq!(canonical_text(&v), r#"{"a":[12345678901234567890123,true],"b":1.50}"#);
    }
}
