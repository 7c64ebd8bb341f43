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

/// Deepest nesting of arrays and objects in JSON `text`: the most `[` and `{` open at
/// once, brackets inside strings not counted (`[]` is 1, a scalar 0). One pass over the
/// bytes without recursion or allocation, so text of any depth is measured safely and
/// before anything parses it; for text that is not JSON it is still the most brackets
/// open at once.
pub fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text.as_bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Compact text with object keys in sorted order: the same value always gives the
/// same bytes, whatever order its producer wrote the keys in.
pub fn canonical_text(value: &Value) -> String {
    // serde_json's default map is ordered by key, and numbers keep their exact text
    // (feature `arbitrary_precision`), so compact serialization is canonical.
    value.to_string()
}

/// The JSON path `parent.key`, quoting the key unless it is a plain identifier: how
/// problems in a document say where they lie (`$.tables."public.users"`).
pub(crate) fn member_path(parent: &str, key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}.{}", Value::from(key))
    }
}

/// The JSON path `parent[index]`.
pub(crate) fn element_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
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
    fn nesting_depth_counts_open_containers_outside_strings() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("1", 0),
            (r#""[{[{""#, 0),
            ("[]", 1),
            ("{}", 1),
            ("[[], {}, []]", 2),
            (r#"{"a": [1, {"b": []}], "c": {}}"#, 4),
            (r#"["\"[[", "]]]\\", [[]]]"#, 3),
            (r#"{"k\\": "v\\\"{"}"#, 1),
            (r#"["é中😀 [", {"😀": [[]]}]"#, 4),
        ];
        for (text, depth) in cases {
            assert_eq!(nesting_depth(text), *depth, "{text}");
        }
    }

    #[test]
    fn nesting_depth_agrees_with_the_parser_limit() {
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
            let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let objects = format!("{}1{}", r#"{"a": "#.repeat(depth), "}".repeat(depth));
            for text in [arrays, objects] {
                assert_eq!(nesting_depth(&text), depth);
                assert_eq!(parse(&text).is_ok(), depth <= MAX_DEPTH, "{depth}");
            }
        }
    }

    #[test]
    fn nesting_depth_measures_any_depth_without_recursion() {
        let deep = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
        assert_eq!(nesting_depth(&deep), 1_000_000);
        // Unbalanced text is measured too.
        assert_eq!(nesting_depth("]]]][["), 2);
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

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        assert_eq!(member_path("$", "name"), "$.name");
        assert_eq!(member_path("$", "_x1"), "$._x1");
        assert_eq!(member_path("$", "1x"), "$.\"1x\"");
        assert_eq!(member_path("$", "public.users"), "$.\"public.users\"");
        assert_eq!(member_path("$", "a\"b"), "$.\"a\\\"b\"");
        assert_eq!(element_path("$.t", 3), "$.t[3]");
    }
}
