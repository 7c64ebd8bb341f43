//! PostgreSQL's `jsonb` output text (`jsonb_out`) rebuilt from a parsed JSON value.
//!
//! The extension hashes the text PostgreSQL prints for a `jsonb` column; an export carries
//! the same value as embedded JSON. Rebuilding the exact text from the parsed value lets
//! the offline verifier recompute the hash. PostgreSQL's rules:
//! - object keys ordered by byte length, then bytewise (jsonb's storage order);
//! - `", "` between items and `": "` after keys, `{}` and `[]` when empty;
//! - strings escaped by `escape_json`: `\"` `\\` `\b` `\f` `\n` `\r` `\t`, other control
//!   characters below U+0020 as `\u00xx` (lowercase hex), everything else as is;
//! - numbers as `numeric_out` prints the `numeric` that `numeric_in` read: exponents
//!   expanded (`1e2` → `100`, `1E-2` → `0.01`), the scale kept (`1.50`, `100e-2` → `1.00`),
//!   no sign on zero (`-0.0` → `0.0`).

use serde_json::Value;

/// `numeric` refuses values with more integer digits than this (weight 32767 in base
/// 10000) or more fraction digits than `DSCALE_MAX`; such numbers cannot be in a jsonb.
const NUMERIC_MAX_INTEGER_DIGITS: i64 = 131_072;
const NUMERIC_DSCALE_MAX: i64 = 16_383;

/// The text PostgreSQL prints for `value` as `jsonb`.
pub fn jsonb_text(value: &Value) -> String {
    let mut out = String::new();
    write_jsonb_text(value, &mut out);
    out
}

enum Items<'v> {
    Array(std::slice::Iter<'v, Value>),
    Object(std::vec::IntoIter<(&'v str, &'v Value)>),
}

struct Frame<'v> {
    items: Items<'v>,
    first: bool,
}

/// Appends [`jsonb_text`] of `value` to `out`. Walks with its own stack, so a value of any
/// depth, however it was built, cannot overflow the thread's stack.
pub fn write_jsonb_text(value: &Value, out: &mut String) {
    let complete = write_jsonb_text_within(value, out, usize::MAX);
    debug_assert!(complete);
}

/// [`write_jsonb_text`], unless that would make `out` longer than `max_len` bytes: then
/// it stops early, leaving part of the text in `out`, and returns false. A number's
/// expanded length is known before it is written, so an exponent that would expand far
/// past `max_len` allocates nothing.
pub(crate) fn write_jsonb_text_within(value: &Value, out: &mut String, max_len: usize) -> bool {
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = value;
    loop {
        match next {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(number) => {
                let text = number.as_str();
                let decimal = Decimal::parse(text);
                let len = decimal.as_ref().map_or(text.len(), Decimal::written_len);
                if out.len().saturating_add(len) > max_len {
                    return false;
                }
                match decimal {
                    Some(decimal) => decimal.write(out),
                    None => out.push_str(text),
                }
            }
            Value::String(text) => write_escaped(text, out),
            Value::Array(items) => {
                out.push('[');
                stack.push(Frame { items: Items::Array(items.iter()), first: true });
            }
            Value::Object(map) => {
                let mut pairs: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                pairs.sort_unstable_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(b.0)));
                out.push('{');
                stack.push(Frame { items: Items::Object(pairs.into_iter()), first: true });
            }
        }
        if out.len() > max_len {
            return false;
        }
        loop {
            let Some(frame) = stack.last_mut() else { return out.len() <= max_len };
            let item = match &mut frame.items {
                Items::Array(items) => items.next().map(|v| (None, v)),
                Items::Object(pairs) => pairs.next().map(|(k, v)| (Some(k), v)),
            };
            match item {
                Some((key, value)) => {
                    if !frame.first {
                        out.push_str(", ");
                    }
                    frame.first = false;
                    if let Some(key) = key {
                        write_escaped(key, out);
                        out.push_str(": ");
                    }
                    next = value;
                    break;
                }
                None => {
                    out.push(match frame.items {
                        Items::Array(_) => ']',
                        Items::Object(_) => '}',
                    });
                    stack.pop();
                }
            }
        }
    }
}

/// Appends `text` as a JSON string escaped the way PostgreSQL's `escape_json` does.
pub(crate) fn write_escaped(text: &str, out: &mut String) {
    out.push('"');
    let mut clean_from = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `i` sits on a character boundary.
        out.push_str(&text[clean_from..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        } else {
            out.push_str(escape);
        }
        clean_from = i + 1;
    }
    out.push_str(&text[clean_from..]);
    out.push('"');
}

// A number is written as `numeric_out` prints it (`Decimal::write`). One outside
// `numeric`'s range is written as given: PostgreSQL could not have stored it, so its entry
// fails verification either way, and expanding a huge exponent would only waste memory.

/// A JSON number as the digit string `int_digits ++ frac_digits` with the decimal point
/// `point` digits from its start (negative or past its end after an exponent).
struct Decimal<'t> {
    negative: bool,
    int_digits: &'t [u8],
    frac_digits: &'t [u8],
    point: i64,
}

impl<'t> Decimal<'t> {
    fn parse(text: &'t str) -> Option<Self> {
        let bytes = text.as_bytes();
        let (negative, bytes) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let mantissa_end = bytes.iter().position(|b| matches!(b, b'e' | b'E')).unwrap_or(bytes.len());
        let (mantissa, exponent) = bytes.split_at(mantissa_end);
        let exponent = match exponent.split_first() {
            None => 0,
            Some((_, exp)) => parse_exponent(exp)?,
        };
        let (int_digits, frac_digits) = match mantissa.iter().position(|b| *b == b'.') {
            Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
            None => (mantissa, &[][..]),
        };
        if int_digits.is_empty() || !int_digits.iter().chain(frac_digits).all(u8::is_ascii_digit) {
            return None;
        }
        let point = i64::try_from(int_digits.len()).ok()? + exponent;
        let decimal = Decimal { negative, int_digits, frac_digits, point };
        let integer_digits = decimal.first_nonzero().map_or(0, |first| (point - first).max(0));
        (integer_digits <= NUMERIC_MAX_INTEGER_DIGITS && decimal.scale() <= NUMERIC_DSCALE_MAX).then_some(decimal)
    }

    fn len(&self) -> i64 {
        (self.int_digits.len() + self.frac_digits.len()) as i64
    }

    /// Digit `k` of the digit string; zeros beyond either end.
    fn digit(&self, k: i64) -> u8 {
        let Ok(k) = usize::try_from(k) else { return b'0' };
        match k.checked_sub(self.int_digits.len()) {
            None => self.int_digits[k],
            Some(f) => self.frac_digits.get(f).copied().unwrap_or(b'0'),
        }
    }

    fn first_nonzero(&self) -> Option<i64> {
        (0..self.len()).find(|k| self.digit(*k) != b'0')
    }

    /// `numeric_in` keeps as display scale the fraction digits written, less the
    /// exponent, never below zero.
    fn scale(&self) -> i64 {
        (self.len() - self.point).max(0)
    }

    /// How many bytes [`Decimal::write`] appends.
    fn written_len(&self) -> usize {
        let integer = match self.first_nonzero() {
            None => 1,
            Some(first) => {
                usize::from(self.negative) + usize::from(self.point <= first) + (self.point - first).max(0) as usize
            }
        };
        let scale = self.scale() as usize;
        integer + if scale > 0 { 1 + scale } else { 0 }
    }

    fn write(&self, out: &mut String) {
        match self.first_nonzero() {
            None => out.push('0'),
            Some(first) => {
                if self.negative {
                    out.push('-');
                }
                if self.point <= first {
                    out.push('0');
                }
                for k in first..self.point {
                    out.push(char::from(self.digit(k)));
                }
            }
        }
        let scale = self.scale();
        if scale > 0 {
            out.push('.');
            for k in self.point..self.point + scale {
                out.push(char::from(self.digit(k)));
            }
        }
    }
}

/// Reads an exponent, refusing any too large for `numeric` before it can overflow.
fn parse_exponent(exp: &[u8]) -> Option<i64> {
    let (sign, digits) = match exp.split_first() {
        Some((b'+', rest)) => (1, rest),
        Some((b'-', rest)) => (-1, rest),
        _ => (1, exp),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(sign * digits.iter().fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(json: &str) -> String {
        jsonb_text(&crate::json::parse(json).expect("test input is JSON"))
    }

    /// Input → what PostgreSQL 15 printed for `select '<input>'::jsonb`.
    #[test]
    fn matches_postgres_output() {
        let cases: &[(&str, &str)] = &[
            (r#"{}"#, r#"{}"#),
            (r#"[]"#, r#"[]"#),
            (r#"{"b":1,"aa":2,"a":3}"#, r#"{"a": 3, "b": 1, "aa": 2}"#),
            (r#"{"a":1,"bb":[1,2],"ccc":{"x":null}}"#, r#"{"a": 1, "bb": [1, 2], "ccc": {"x": null}}"#),
            (r#"[1,2,3]"#, r#"[1, 2, 3]"#),
            (r#""plain""#, r#""plain""#),
            (r#"42"#, r#"42"#),
            (r#"-0"#, r#"0"#),
            (r#"1.50"#, r#"1.50"#),
            (r#"1e2"#, r#"100"#),
            (r#"1E-2"#, r#"0.01"#),
            (r#"-1.0e+3"#, r#"-1000"#),
            (r#"0.5e1"#, r#"5"#),
            (r#"5e-1"#, r#"0.5"#),
            (r#"1.0E0"#, r#"1.0"#),
            (r#"0e5"#, r#"0"#),
            (r#"0e-5"#, r#"0.00000"#),
            (r#"0.000e3"#, r#"0"#),
            (r#"-0e-2"#, r#"0.00"#),
            (r#"1.23456e2"#, r#"123.456"#),
            (r#"123.456e-5"#, r#"0.00123456"#),
            (r#"-1.5E1"#, r#"-15"#),
            (r#"9.99e-1"#, r#"0.999"#),
            (r#"100e-2"#, r#"1.00"#),
            (r#"2.5E+3"#, r#"2500"#),
            (r#"-0.0"#, r#"0.0"#),
            (r#"0.000000000000000000001"#, r#"0.000000000000000000001"#),
            (r#"12345678901234567890123456789"#, r#"12345678901234567890123456789"#),
            (r#"-98765432109876543210.0123456789"#, r#"-98765432109876543210.0123456789"#),
            (r#"3.14159265358979323846264338327950288"#, r#"3.14159265358979323846264338327950288"#),
            (r#"1e30"#, r#"1000000000000000000000000000000"#),
            (r#"1.5e-30"#, r#"0.0000000000000000000000000000015"#),
            (r#"0.10"#, r#"0.10"#),
            (r#"10"#, r#"10"#),
            (r#"-7"#, r#"-7"#),
            (r#"true"#, r#"true"#),
            (r#"false"#, r#"false"#),
            (r#"null"#, r#"null"#),
            (r#"{"z":{"y":{"x":[[],{},[{}]]}}}"#, r#"{"z": {"y": {"x": [[], {}, [{}]]}}}"#),
            (r#"{"key with space":"v","":"empty key","é":"accent","ab":"ab","b":"b"}"#, r#"{"": "empty key", "b": "b", "ab": "ab", "é": "accent", "key with space": "v"}"#),
            (r#"{"s":"quote\" backslash\\ slash\/ tab\t nl\n cr\r bs\b ff\f"}"#, r#"{"s": "quote\" backslash\\ slash/ tab\t nl\n cr\r bs\b ff\f"}"#),
            (
                r#"{"c":"\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u000b\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\u007f\u0080"}"#,
                "{\"c\": \"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\u000b\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\u{7f}\u{80}\"}",
            ),
            (r#"{"u":"\u00e9\u4e2d\ud83d\ude00 \u2028\u2029 \ufeff"}"#, "{\"u\": \"é中😀 \u{2028}\u{2029} \u{feff}\"}"),
            (r#"{"nested":[{"b":2,"a":1},{"d":[true,false,null]}]}"#, r#"{"nested": [{"a": 1, "b": 2}, {"d": [true, false, null]}]}"#),
            (r#"{"a":"x","a":"y"}"#, r#"{"a": "y"}"#),
            (r#"{"aaa":1,"bb":2,"c":3,"B":4,"A":5,"ba":6}"#, r#"{"A": 5, "B": 4, "c": 3, "ba": 6, "bb": 2, "aaa": 1}"#),
            (r#"[{"k":"v"},"s",1,null,[]]"#, r#"[{"k": "v"}, "s", 1, null, []]"#),
            (r#""\u001b[31mred""#, r#""\u001b[31mred""#),
            (r#"{"é":1,"z":2,"zz":3,"中":4,"ab":5}"#, r#"{"z": 2, "ab": 5, "zz": 3, "é": 1, "中": 4}"#),
            (r#"{"user":{"id":42,"roles":["admin","audit"],"email":"a@example.com"},"ip":"192.0.2.1","ok":true}"#, r#"{"ip": "192.0.2.1", "ok": true, "user": {"id": 42, "email": "a@example.com", "roles": ["admin", "audit"]}}"#),
            (r#"[[[[[["deep"]]]]]]"#, r#"[[[[[["deep"]]]]]]"#),
            (r#"{"a b":{"c\"d":{"e\\f":["g\nh"]}}}"#, r#"{"a b": {"c\"d": {"e\\f": ["g\nh"]}}}"#),
            (r#""  spaces  ""#, r#""  spaces  ""#),
            (r#""""#, r#""""#),
            (r#"{"emoji 😀":"😀","k":"<script>alert('x')</script>"}"#, r#"{"k": "<script>alert('x')</script>", "emoji 😀": "😀"}"#),
            (r#"[1.0,1.00,1.000,-1.10]"#, r#"[1.0, 1.00, 1.000, -1.10]"#),
            (r#"{"AA":1,"Ab":2,"aA":3,"ab":4,"a":5,"B":6}"#, r#"{"B": 6, "a": 5, "AA": 1, "Ab": 2, "aA": 3, "ab": 4}"#),
        ];
        for (input, expected) in cases {
            assert_eq!(render(input), *expected, "{input}");
            // PostgreSQL's output read back prints the same.
            assert_eq!(render(expected), *expected, "{expected}");
        }
    }

    #[test]
    fn numbers_outside_numeric_range_are_kept_as_read() {
        // serde_json spells every exponent `e` with a sign; the digits are untouched.
        for (text, kept) in [
            ("1e131072", "1e+131072"),
            ("1E-16384", "1e-16384"),
            ("1e999999999", "1e+999999999"),
            ("-1e-999999999", "-1e-999999999"),
            ("1e1234567890123", "1e+1234567890123"),
            ("10e131071", "10e+131071"),
        ] {
            let rendered = render(text);
            assert!(rendered == kept, "{text} gave {} bytes", rendered.len());
        }
        // The limits themselves are still expanded, as PostgreSQL does.
        assert_eq!(render("1e131071").len(), 131_072);
        assert_eq!(render("1e-16383").len(), 16_385);
        assert_eq!(render("0.1e131072").len(), 131_072);
    }

    #[test]
    fn written_len_is_what_write_appends() {
        let numbers = "0 -0 -0.0 0e5 0e-5 -0e-2 0.000e3 1.50 1e2 1E-2 -1.0e+3 0.5e1 5e-1 1.0E0 123.456e-5 \
                       -98765432109876543210.0123456789 1e131071 1e-16383 0.1e131072 -7";
        for text in numbers.split_whitespace() {
            let decimal = Decimal::parse(text).expect("within numeric's range");
            let mut out = String::new();
            decimal.write(&mut out);
            assert_eq!(decimal.written_len(), out.len(), "{text}");
        }
    }

    /// Found while writing the `export` fuzz target's memory bound: the export reader
    /// checked a `jsonb` value's rebuilt length only after rebuilding it, so 90 KB of
    /// `1e131071` took 1.3 GB before being refused.
    #[test]
    fn bounded_rendering_stops_before_expanding_an_exponent() {
        let many = format!("[{}]", vec!["1e131071"; 1000].join(","));
        let value = crate::json::parse(&many).expect("JSON");
        let mut out = String::new();
        assert!(!write_jsonb_text_within(&value, &mut out, 4 * many.len() + 64));
        assert!(out.capacity() < 64, "allocated {} bytes", out.capacity());
        // The bound is exact: a text of max_len bytes fits, one byte less does not.
        for json in [r#"{"b": [1e2, "x"], "a": null}"#, "1e131071", "[]", r#""s""#] {
            let full = render(json);
            let value = crate::json::parse(json).expect("JSON");
            let mut out = String::new();
            assert!(write_jsonb_text_within(&value, &mut out, full.len()), "{json}");
            assert_eq!(out, full);
            assert!(!write_jsonb_text_within(&value, &mut String::new(), full.len() - 1), "{json}");
        }
    }

    #[test]
    fn depth_beyond_the_parser_limit_is_rendered_without_recursion() {
        let mut value = Value::Null;
        for _ in 0..1000 {
            value = Value::Array(vec![value]);
        }
        let text = jsonb_text(&value);
        assert_eq!(text, format!("{}null{}", "[".repeat(1000), "]".repeat(1000)));
    }
}
