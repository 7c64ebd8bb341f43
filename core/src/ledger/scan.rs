//! A strict reader for pg_warden's own JSON documents (exports and digests).
//!
//! Their outer shape is fixed, so it is read field by field straight from the text:
//! unescaped strings are borrowed, nothing builds a tree, and depth stays constant. Only
//! embedded `jsonb` values go through serde_json, whose recursion limit bounds them.

use std::borrow::Cow;

use serde_json::Value;

use super::encoding::{Hash, HASH_LEN};

/// Why a document was refused: where, and what was wrong. Messages name fields and
/// expectations, never the offending value, since exports hold audit data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line of the document, from 1.
    pub line: usize,
    /// Column in that line, from 1.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// Prefixes the message with the path of the field being read.
    pub(crate) fn within(mut self, path: impl std::fmt::Display) -> Self {
        self.message = format!("{path}: {}", self.message);
        self
    }
}

pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    pub(crate) fn error_at(&self, at: usize, message: impl Into<String>) -> ParseError {
        let before = &self.text.as_bytes()[..at.min(self.text.len())];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // Columns count characters, as editors do.
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        ParseError { line, column, message: message.into() }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), ParseError> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.error(format!("expected '{}'", char::from(byte))))
        }
    }

    /// Only whitespace may follow the document.
    pub(crate) fn end(&mut self) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("unexpected text after the document")),
        }
    }

    /// Reads an object, calling `field(self, key)` with the scanner before each value.
    /// `field` must consume the value.
    pub(crate) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, Cow<'a, str>) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a field name"));
            }
            let key = self.string()?;
            self.expect(b':')?;
            field(self, key)?;
            if self.eat(b'}') {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err(self.error("expected ',' or '}'"));
            }
        }
    }

    /// Reads an array, calling `item(self, index)` for each element; `item` must consume
    /// the element.
    pub(crate) fn array(
        &mut self,
        mut item: impl FnMut(&mut Self, usize) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        self.expect(b'[')?;
        if self.eat(b']') {
            return Ok(());
        }
        let mut index = 0;
        loop {
            item(self, index)?;
            index += 1;
            if self.eat(b']') {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err(self.error("expected ',' or ']'"));
            }
        }
    }

    /// Consumes a `null` literal if one comes next.
    pub(crate) fn null(&mut self) -> bool {
        self.skip_whitespace();
        if self.text.as_bytes()[self.pos..].starts_with(b"null") {
            self.pos += 4;
            true
        } else {
            false
        }
    }

    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, ParseError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a string"));
        }
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            match bytes.get(i) {
                None => return Err(self.error_at(start, "unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += 2;
                }
                Some(0x00..=0x1f) => return Err(self.error_at(i, "control character inside a string")),
                Some(_) => i += 1,
            }
        }
        self.pos = i + 1;
        if !escaped {
            // Both ends are ASCII quotes, so the slice is on character boundaries.
            return Ok(Cow::Borrowed(&self.text[start + 1..i]));
        }
        serde_json::from_str::<String>(&self.text[start..=i])
            .map(Cow::Owned)
            .map_err(|e| self.error_at(start, format!("invalid string escape ({:?})", e.classify())))
    }

    pub(crate) fn opt_string(&mut self) -> Result<Option<Cow<'a, str>>, ParseError> {
        if self.null() {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// The text of a JSON integer (no fraction, no exponent).
    fn integer_text(&mut self) -> Result<&'a str, ParseError> {
        self.skip_whitespace();
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut i = start;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &bytes[digits_start..i];
        let leading_zero = digits.len() > 1 && digits[0] == b'0';
        if digits.is_empty() || leading_zero || matches!(bytes.get(i), Some(b'.' | b'e' | b'E')) {
            return Err(self.error("expected an integer"));
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    pub(crate) fn integer<T: std::str::FromStr>(&mut self) -> Result<T, ParseError> {
        let start = self.offset();
        let text = self.integer_text()?;
        text.parse().map_err(|_| self.error_at(start, "integer out of range"))
    }

    pub(crate) fn opt_integer<T: std::str::FromStr>(&mut self) -> Result<Option<T>, ParseError> {
        if self.null() {
            Ok(None)
        } else {
            self.integer().map(Some)
        }
    }

    /// A 32-byte hash from 64 hex digits.
    pub(crate) fn hash(&mut self) -> Result<Hash, ParseError> {
        let start = self.offset();
        let text = self.string()?;
        let mut hash = [0u8; HASH_LEN];
        if !decode_hex(text.as_bytes(), &mut hash) {
            return Err(self.error_at(start, "expected 64 hex digits"));
        }
        Ok(hash)
    }

    /// Any JSON value, parsed by serde_json (numbers keep their text). Returns it with
    /// the length of text it took.
    pub(crate) fn json_value(&mut self) -> Result<(Value, usize), ParseError> {
        self.skip_whitespace();
        let start = self.pos;
        let mut stream = serde_json::Deserializer::from_str(&self.text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let consumed = stream.byte_offset();
                self.pos = start + consumed;
                Ok((value, consumed))
            }
            Some(Err(e)) if e.to_string().contains("recursion limit") => {
                Err(self.error_at(start, format!("JSON value nested deeper than {} levels", crate::json::MAX_DEPTH)))
            }
            Some(Err(e)) => Err(self.error_at(start, format!("invalid JSON value ({:?})", e.classify()))),
            None => Err(self.error_at(start, "expected a JSON value")),
        }
    }
}

/// Value of each byte as a hex digit (either case), or `INVALID`.
const HEX_VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xff;

/// Decodes `hex` into `out` when it holds exactly `2 * out.len()` hex digits. Exports
/// carry three hashes per entry, which makes this a hot path: a table beats the
/// general-purpose decoder.
pub(crate) fn decode_hex(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != 2 * out.len() {
        return false;
    }
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (high, low) = (HEX_VALUES[usize::from(pair[0])], HEX_VALUES[usize::from(pair[1])]);
        bad |= (high | low) & 0xf0;
        *byte = (high << 4) | (low & 0x0f);
    }
    bad == 0
}
