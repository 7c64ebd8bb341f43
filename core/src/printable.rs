//! Text from a document made safe to print on a terminal.
//!
//! An export is written by whoever can write ledger entries, so anything read from it
//! (an actor, a key name, a field name in a parse error) may hold a newline that starts a
//! forged `VALID` line, an ANSI escape sequence that recolours or rewrites the screen, or a
//! bidi override that shows text in another order than it is stored. [`printable`]
//! escapes every such character, so one printed line is one line of the tool's own output.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is printed escaped: control characters (C0, DEL, C1), characters that
/// break lines (U+2028, U+2029), bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E,
/// U+2066–U+2069), invisible characters (zero-width U+200B–U+200D, U+2060–U+2064, the
/// byte order mark U+FEFF, interlinear annotation U+FFF9–U+FFFB), and the backslash that
/// starts an escape, so an escape in the output always stands for one character.
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\\'
            | '\u{61c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// `text` with every character of [`needs_escape`] written as JSON writes it: `\n`, `\r`,
/// `\t`, `\\`, others as `\u` and four lowercase hex digits (PostgreSQL's `jsonb` output
/// writes C0 controls the same way, so what is printed can be searched for in the export).
/// Borrows `text` when nothing needs escaping.
pub fn printable(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(needs_escape) else { return Cow::Borrowed(text) };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in ["", "alice", "entry id 7 (chain 1, position 2): ok", "é 中 😀 \"quoted\" /path/x.json"] {
            assert!(matches!(printable(text), Cow::Borrowed(t) if t == text), "{text}");
        }
    }

    #[test]
    fn controls_line_breaks_and_bidi_are_escaped() {
        let cases: &[(&str, &str)] = &[
            ("a\nVALID: ok\n", r"a\nVALID: ok\n"),
            ("\r\t", r"\r\t"),
            ("\u{1b}[32mgreen\u{1b}[0m", r"\u001b[32mgreen\u001b[0m"),
            ("\u{0}\u{7}\u{8}\u{c}\u{1f}", r"\u0000\u0007\u0008\u000c\u001f"),
            ("\u{7f}\u{80}\u{85}\u{9b}\u{9f}", r"\u007f\u0080\u0085\u009b\u009f"),
            ("x\u{202e}txt.exe", r"x\u202etxt.exe"),
            ("\u{202a}\u{202b}\u{202c}\u{202d}", r"\u202a\u202b\u202c\u202d"),
            ("\u{2066}\u{2067}\u{2068}\u{2069}", r"\u2066\u2067\u2068\u2069"),
            ("\u{61c}\u{200e}\u{200f}", r"\u061c\u200e\u200f"),
            ("\u{2028}\u{2029}", r"\u2028\u2029"),
            ("\u{200b}\u{200d}\u{2060}\u{feff}\u{fffb}", r"\u200b\u200d\u2060\ufeff\ufffb"),
            (r"a\nb", r"a\\nb"),
            ("é\n中", r"é\n中"),
        ];
        for (text, expected) in cases {
            assert_eq!(printable(text), *expected, "{text:?}");
        }
    }

    /// Reads an escaped text back: the escapes are unambiguous.
    fn unescape(shown: &str) -> String {
        let mut out = String::new();
        let mut chars = shown.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).expect("hex")).expect("char"));
                }
                other => panic!("unknown escape {other:?} in {shown:?}"),
            }
        }
        out
    }

    #[test]
    fn output_holds_nothing_a_terminal_acts_on_and_reads_back() {
        for c in (0u32..0x3_0000).filter_map(char::from_u32) {
            let text = format!("a{c}b\\");
            let shown = printable(&text);
            assert!(shown.chars().all(|s| s == '\\' || !needs_escape(s)), "U+{:04X} printed raw", u32::from(c));
            assert_eq!(shown.lines().count(), 1, "U+{:04X} broke the line", u32::from(c));
            assert_eq!(unescape(&shown), text, "U+{:04X}", u32::from(c));
        }
    }
}
