//! SQL statement text as the ledger records it: secret-looking literals replaced by
//! fingerprints, and a length limit.
//!
//! A DDL or role command's text can carry a secret: `CREATE ROLE app PASSWORD 'pw'`,
//! `CREATE USER MAPPING … OPTIONS (user 'u', password 'pw')`, a subscription's
//! `CONNECTION 'host=… password=pw'`, `SET warden.some_token = 'abc'`. The ledger keeps
//! the statement, so a string literal is replaced by `'fingerprint:<64 hex>'` (the
//! keyed fingerprint of its value, as `warden.fingerprint` computes it) when
//! - the word before it is `PASSWORD`, or a name the JSON scrubber treats as secret
//!   ([`crate::secrets::is_secret_name`]: `password`, `secret`, `token`, `api_key`,
//!   `…_key`, `…_token`, `…_secret`, compared case-insensitively; for a dotted name the
//!   last part), as in an `OPTIONS (name 'value')` list;
//! - the tokens before it are such a name and `=` or `TO` (`SET x.api_token = '…'`);
//! - its value holds `password=` or `passwd=` (a libpq connection string), whatever
//!   precedes it.
//!
//! Literals are every form PostgreSQL reads: `'…'` with `''`, `E'…'` with backslash
//! escapes, `U&'…'`, `B'…'`, `X'…'`, and dollar quotes `$tag$…$tag$`. Quoted identifiers
//! (`"…"`) and comments are skipped as such, so a quote inside them starts nothing. The
//! value fingerprinted is the literal's text between its quotes with `''` read as `'`
//! (backslash escapes are left as written). Text that does not lex (an unterminated
//! literal) is fingerprinted from that literal to the end: a statement PostgreSQL
//! accepted always lexes, so this only guards against a mistake here showing a secret.

use crate::secrets::is_secret_name;

/// What a scrubbed statement says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    /// The statement with secret literals replaced, cut to the limit.
    pub text: String,
    /// How many literals were replaced.
    pub fingerprinted: usize,
    /// Whether the text was cut at the limit.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word or a quoted identifier, lower-cased when bare.
    Word(String),
    /// `=` (the only operator that matters here).
    Equals,
    /// Any other punctuation or operator.
    Other,
}

/// Replaces secret-looking literals of `sql` by fingerprints (`fingerprint` maps the
/// literal's bytes to 64 hex characters) and cuts the result to at most `limit` bytes
/// (at a character boundary). `standard_strings` is the session's
/// `standard_conforming_strings`: off, a backslash escapes the next character in every
/// `'…'` literal, not only in `E'…'`.
pub fn scrub(
    sql: &str,
    limit: usize,
    standard_strings: bool,
    fingerprint: &mut dyn FnMut(&[u8]) -> String,
) -> Scrubbed {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len().min(limit) + 16);
    let mut fingerprinted = 0;
    // The last two significant tokens, newest last.
    let mut recent: Vec<Token> = Vec::with_capacity(2);
    let push = |recent: &mut Vec<Token>, token: Token| {
        if recent.len() == 2 {
            recent.remove(0);
        }
        recent.push(token);
    };
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        // Comments.
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            let end = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let end = block_comment_end(bytes, i);
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        if c.is_ascii_whitespace() {
            out.push(c as char);
            i += 1;
            continue;
        }
        // String literals, with their prefixes.
        if let Some((quote_start, e_prefix)) = literal_start(bytes, i) {
            let escapes = e_prefix || !standard_strings;
            let (mut value, mut end) = quoted_literal(sql, quote_start, escapes);
            // PostgreSQL joins literals separated by whitespace holding a newline.
            while let Some(next) = continuation(bytes, end) {
                let (more, more_end) = quoted_literal(sql, next, escapes);
                value.push_str(&more);
                end = more_end;
            }
            let literal = &sql[i..end];
            if is_secret_context(&recent) || holds_connection_password(&value) {
                if !e_prefix && value.contains('\\') {
                    // A backslash in a plain secret literal: whether it escapes depends on settings a
                    // statement earlier in the string may have changed. The rest of the
                    // statement goes, fingerprinted as one.
                    out.push_str(&format!("'fingerprint:{}'", fingerprint(&bytes[i..])));
                    fingerprinted += 1;
                    break;
                }
                out.push_str(&format!("'fingerprint:{}'", fingerprint(value.as_bytes())));
                fingerprinted += 1;
            } else {
                out.push_str(literal);
            }
            push(&mut recent, Token::Other);
            i = end;
            continue;
        }
        if c == b'$' {
            if let Some(tag_end) = dollar_tag_end(bytes, i) {
                let tag = &sql[i..tag_end];
                let (value, end) = match sql[tag_end..].find(tag) {
                    Some(n) => (&sql[tag_end..tag_end + n], tag_end + n + tag.len()),
                    None => (&sql[tag_end..], bytes.len()),
                };
                if is_secret_context(&recent) || holds_connection_password(value) {
                    out.push_str(&format!("'fingerprint:{}'", fingerprint(value.as_bytes())));
                    fingerprinted += 1;
                } else {
                    out.push_str(&sql[i..end]);
                }
                push(&mut recent, Token::Other);
                i = end;
                continue;
            }
        }
        if c == b'"' {
            let (name, end) = quoted_identifier(sql, i);
            out.push_str(&sql[i..end]);
            push(&mut recent, Token::Word(name));
            i = end;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let mut end = i;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric()
                    || matches!(bytes[end], b'_' | b'$' | b'.')
                    || bytes[end] >= 0x80)
            {
                end += 1;
            }
            let word = &sql[i..end];
            let lower = word.to_lowercase();
            // A bare value given to a secret-named setting: `SET x.api_token = abc`,
            // `ALTER ROLE r SET x.pin_secret TO 1234`.
            if is_setting_value_context(&recent) && !matches!(lower.as_str(), "default" | "null" | "local" | "session")
            {
                out.push_str(&format!("'fingerprint:{}'", fingerprint(word.as_bytes())));
                fingerprinted += 1;
                push(&mut recent, Token::Other);
            } else {
                out.push_str(word);
                push(&mut recent, if c.is_ascii_digit() { Token::Other } else { Token::Word(lower) });
            }
            i = end;
            continue;
        }
        // A signed number given to a secret-named setting (`= -1234`).
        if matches!(c, b'+' | b'-')
            && is_setting_value_context(&recent)
            && bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.')
        {
            let mut end = i + 1;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'.' | b'_')) {
                end += 1;
            }
            out.push_str(&format!("'fingerprint:{}'", fingerprint(&bytes[i..end])));
            fingerprinted += 1;
            push(&mut recent, Token::Other);
            i = end;
            continue;
        }
        // Punctuation: one character (UTF-8 safe: only ASCII reaches here).
        out.push(c as char);
        push(&mut recent, if c == b'=' { Token::Equals } else { Token::Other });
        i += 1;
    }
    let truncated = out.len() > limit;
    if truncated {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    Scrubbed { text: out, fingerprinted, truncated }
}

/// Whether a word names a secret: a secret name (its last dotted part), or one that
/// ends in `password` (`sslpassword`) or holds `passphrase` (`ssl_passphrase_command`).
fn secret_word(word: &str) -> bool {
    let last = word.rsplit('.').next().unwrap_or(word);
    last.ends_with("password")
        || last.contains("passphrase")
        || last.ends_with("apikey")
        || last.ends_with("credentials")
        || matches!(last, "passwd" | "pwd")
        || is_secret_name(last)
}

/// Where a literal ending at `end` continues: the next quote, when only whitespace
/// holding a newline lies between.
fn continuation(bytes: &[u8], end: usize) -> Option<usize> {
    let mut j = end;
    let mut newline = false;
    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
        newline |= matches!(bytes[j], b'\n' | b'\r');
        j += 1;
    }
    (newline && bytes.get(j) == Some(&b'\'')).then_some(j)
}

/// Whether the next token is the value of a secret-named setting (`name =`, `name TO`).
fn is_setting_value_context(recent: &[Token]) -> bool {
    match recent {
        [Token::Word(w), Token::Equals] => secret_word(w),
        [Token::Word(w), Token::Word(to)] if to == "to" => secret_word(w),
        _ => false,
    }
}

fn is_secret_context(recent: &[Token]) -> bool {
    match recent {
        [.., Token::Word(w)] if secret_word(w) => true,
        [Token::Word(w), Token::Equals] => secret_word(w),
        [Token::Word(w), Token::Word(to)] if to == "to" => secret_word(w),
        _ => false,
    }
}

/// A connection string or URI that can carry a password: `password=`, `passwd`,
/// `sslpassword`, a passphrase, or credentials in a URI (`scheme://user:pw@host`).
fn holds_connection_password(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if lower.contains("password") || lower.contains("passwd") || lower.contains("passphrase") {
        return true;
    }
    lower.match_indices("://").any(|(at, _)| {
        let rest = &lower[at + 3..];
        // libpq reads the user information up to the last '@' before the first '/'.
        let authority = rest.split('/').next().unwrap_or(rest);
        authority.rfind('@').is_some_and(|at| authority[..at].contains(':'))
    })
}

/// `(index of the opening quote, whether it is an E-string)` when a string literal
/// starts at `i`: `'`, `E'`/`e'`, `B'`, `X'`, `N'`, `U&'`. Only a prefix that starts a
/// token counts: the `E` ending `LIKE'…'` is not one.
fn literal_start(bytes: &[u8], i: usize) -> Option<(usize, bool)> {
    let at = |k: usize| bytes.get(i + k).copied();
    match at(0)? {
        b'\'' => Some((i, false)),
        c @ (b'e' | b'E' | b'b' | b'B' | b'x' | b'X' | b'n' | b'N')
            if at(1) == Some(b'\'') && !word_before(bytes, i) =>
        {
            Some((i + 1, matches!(c, b'e' | b'E')))
        }
        b'u' | b'U' if at(1) == Some(b'&') && at(2) == Some(b'\'') && !word_before(bytes, i) => Some((i + 2, false)),
        _ => None,
    }
}

/// Whether `i` continues a word (so `nE'…'` is not an E-string).
fn word_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
}

/// The value of the literal whose opening quote is at `quote` (`''` read as `'`; with
/// `escapes`, a backslash escapes the next character — both kept as written except
/// `''`), and the index after its closing quote.
fn quoted_literal(sql: &str, quote: usize, escapes: bool) -> (String, usize) {
    let bytes = sql.as_bytes();
    let mut value = String::new();
    let mut j = quote + 1;
    let mut start = j;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' if escapes => {
                j = (j + 2).min(bytes.len());
            }
            b'\'' if bytes.get(j + 1) == Some(&b'\'') => {
                value.push_str(&sql[start..=j]);
                j += 2;
                start = j;
            }
            b'\'' => {
                value.push_str(&sql[start..j]);
                return (value, j + 1);
            }
            _ => j += 1,
        }
    }
    value.push_str(&sql[start.min(bytes.len())..]);
    (value, bytes.len())
}

/// A quoted identifier's name (`""` read as `"`) and the index after it.
fn quoted_identifier(sql: &str, i: usize) -> (String, usize) {
    let bytes = sql.as_bytes();
    let mut name = String::new();
    let mut j = i + 1;
    let mut start = j;
    while j < bytes.len() {
        if bytes[j] == b'"' {
            if bytes.get(j + 1) == Some(&b'"') {
                name.push_str(&sql[start..=j]);
                j += 2;
                start = j;
                continue;
            }
            name.push_str(&sql[start..j]);
            return (name, j + 1);
        }
        j += 1;
    }
    name.push_str(&sql[start.min(bytes.len())..]);
    (name, bytes.len())
}

/// The end of a dollar-quote opening tag at `i` (`$$` or `$name$`), if one starts there.
fn dollar_tag_end(bytes: &[u8], i: usize) -> Option<usize> {
    if word_before(bytes, i) {
        return None;
    }
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'$' => return Some(j + 1),
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                // A tag does not start with a digit ($1 is a parameter).
                if j == i + 1 && c.is_ascii_digit() {
                    return None;
                }
                j += 1;
            }
            _ => return None,
        }
    }
    None
}

/// The index after a (nested) block comment starting at `i`.
fn block_comment_end(bytes: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < bytes.len() {
        if bytes[j] == b'/' && bytes[j + 1] == b'*' {
            depth += 1;
            j += 2;
        } else if bytes[j] == b'*' && bytes[j + 1] == b'/' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else {
            j += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(bytes: &[u8]) -> String {
        // A stand-in fingerprint: the value's length and first byte, enough to see which
        // value was fingerprinted.
        format!("{}:{}", bytes.len(), bytes.first().map_or('-', |b| *b as char))
    }

    fn run(sql: &str) -> Scrubbed {
        scrub(sql, 1 << 20, true, &mut fp)
    }

    #[test]
    fn role_passwords_are_fingerprinted() {
        let s = run("CREATE ROLE app LOGIN PASSWORD 'hunter2'");
        assert_eq!(s.text, "CREATE ROLE app LOGIN PASSWORD 'fingerprint:7:h'");
        assert_eq!(s.fingerprinted, 1);
        let s = run("alter user app with encrypted password 'it''s'");
        assert_eq!(s.text, "alter user app with encrypted password 'fingerprint:4:i'");
        assert!(!run("ALTER ROLE app PASSWORD NULL").text.contains("fingerprint"));
    }

    #[test]
    fn secret_options_and_connection_strings() {
        let s = run("CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password 'pw', api_key E'k\\'x')");
        assert_eq!(s.text, "CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password 'fingerprint:2:p', api_key 'fingerprint:4:k')");
        let s = run("CREATE SUBSCRIPTION s CONNECTION 'host=h password=pw dbname=d' PUBLICATION p");
        assert_eq!(s.text, "CREATE SUBSCRIPTION s CONNECTION 'fingerprint:27:h' PUBLICATION p");
        let s = run("SET app.auth_token = 'abc'; SET app.auth_token TO $$abc$$; SET app.mode = 'x'");
        assert_eq!(
            s.text,
            "SET app.auth_token = 'fingerprint:3:a'; SET app.auth_token TO 'fingerprint:3:a'; SET app.mode = 'x'"
        );
        assert_eq!(s.fingerprinted, 2);
    }

    #[test]
    fn other_literals_identifiers_and_comments_stay() {
        let sql = "COMMENT ON TABLE \"password\" IS 'the token table' -- password 'x'\n/* password 'y' */";
        let s = run(sql);
        // The quoted identifier "password" is a secret name: the literal after it... is
        // preceded by IS, so it stays.
        assert_eq!(s.text, sql);
        assert_eq!(s.fingerprinted, 0);
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1 $body$";
        assert_eq!(run(sql).text, sql);
        assert_eq!(run("SELECT $1, x$y, 'a'").text, "SELECT $1, x$y, 'a'");
    }

    #[test]
    fn unterminated_literal_is_fingerprinted_to_the_end() {
        let s = run("ALTER ROLE a PASSWORD 'abc");
        assert_eq!(s.text, "ALTER ROLE a PASSWORD 'fingerprint:3:a'");
        let s = run("ALTER ROLE a PASSWORD $q$abc");
        assert_eq!(s.text, "ALTER ROLE a PASSWORD 'fingerprint:3:a'");
    }

    #[test]
    fn cut_at_the_limit_on_a_character_boundary() {
        let s = scrub("COMMENT ON TABLE t IS 'ééé'", 24, true, &mut fp);
        assert!(s.truncated);
        assert!(s.text.len() <= 24);
        assert!(s.text.starts_with("COMMENT ON TABLE t IS '"));
        let s = scrub("SELECT 1", 24, true, &mut fp);
        assert!(!s.truncated);
    }

    #[test]
    fn uri_credentials_passphrases_and_bare_setting_values() {
        let s = run("CREATE SUBSCRIPTION s CONNECTION 'postgresql://rep:pw1@h:1/db' PUBLICATION p");
        assert_eq!(s.fingerprinted, 1, "{}", s.text);
        assert!(!s.text.contains("pw1"));
        assert_eq!(run("COMMENT ON TABLE t IS 'see https://example.com/a@b'").fingerprinted, 0);
        let s = run("ALTER SYSTEM SET ssl_passphrase_command = 'echo x'");
        assert_eq!(s.fingerprinted, 1, "{}", s.text);
        let s = run("ALTER USER MAPPING FOR b SERVER s OPTIONS (ADD sslpassword 'pw2')");
        assert!(!s.text.contains("pw2"), "{}", s.text);
        let s = run("ALTER ROLE bob SET app.api_token = BARE1; ALTER ROLE bob SET app.pin_secret TO 424242");
        assert_eq!(s.text, "ALTER ROLE bob SET app.api_token = 'fingerprint:5:B'; ALTER ROLE bob SET app.pin_secret TO 'fingerprint:6:4'");
        assert_eq!(run("SET app.api_token TO DEFAULT").fingerprinted, 0);
        // A column named like a secret keeps its type.
        assert_eq!(run("CREATE TABLE t (password text, api_key int)").fingerprinted, 0);
    }

    #[test]
    fn backslashes_escape_only_in_e_strings_unless_strings_are_not_standard() {
        // LIKE'x\' ends with its quote: the next statement's password is a literal of its own.
        let s = run("CREATE TABLE n (c text CHECK (c LIKE'x\\')); ALTER ROLE b PASSWORD 'pw3'");
        assert!(!s.text.contains("pw3"), "{}", s.text);
        let s = scrub("ALTER ROLE b PASSWORD 'ab\\' pw4'", 1 << 20, false, &mut fp);
        assert!(!s.text.contains("pw4"), "{}", s.text);
        assert_eq!(s.fingerprinted, 1);
    }

    #[test]
    fn continued_literals_signed_values_uri_fragments_and_more_names() {
        let s = run("CREATE ROLE r PASSWORD 'abc'\n  'LEAKA'");
        assert!(!s.text.contains("LEAKA"), "{}", s.text);
        let s = run("CREATE SUBSCRIPTION s CONNECTION 'host=h user=u pass'\n'word=LEAKE' PUBLICATION p");
        assert!(!s.text.contains("LEAKE"), "{}", s.text);
        // Without a newline they are two literals (and a syntax error PostgreSQL refuses).
        assert_eq!(run("COMMENT ON TABLE t IS 'a' 'b'").text, "COMMENT ON TABLE t IS 'a' 'b'");
        for uri in ["postgresql://u:pa?LEAKC@h/db", "postgresql://u:pa#LEAKD@h/db"] {
            let s = run(&format!("CREATE SUBSCRIPTION s CONNECTION '{uri}' PUBLICATION p"));
            assert!(!s.text.contains("LEAK"), "{}", s.text);
        }
        let s = run("ALTER ROLE r SET app.pin_secret = -424242; ALTER ROLE r SET app.pin_secret = +777888");
        assert!(!s.text.contains("424242") && !s.text.contains("777888"), "{}", s.text);
        for name in ["app.apikey", "app.pwd", "app.credentials"] {
            let s = run(&format!("SET {name} = 'LEAKF'"));
            assert!(!s.text.contains("LEAKF"), "{}", s.text);
        }
        // A backslash in a secret: the rest of the statement goes.
        let s = run("ALTER ROLE r PASSWORD 'x\\' LEAKI'");
        assert!(!s.text.contains("LEAKI"), "{}", s.text);
    }
}
