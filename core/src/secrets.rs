//! Replaces secret-named fields of a JSON document by fingerprints.
//!
//! A field is secret-named when its name, compared case-insensitively, is `api_key`,
//! `token`, `password`, `secret` or `credential`, or ends in `_secret`, `_key` or
//! `_token`. Such a field `name` is removed and `name_fingerprint` is set instead:
//! - a string secret is fingerprinted over its UTF-8 bytes, so the result equals
//!   `warden.fingerprint(value)` and `warden.fingerprint_matches` accepts it;
//! - a number, boolean, array or object is fingerprinted over its canonical JSON text
//!   (compact, keys sorted), e.g. the PIN `1234` as the text `1234`;
//! - `null` stays `null`: there was no secret to protect;
//! - if the object already holds a `name_fingerprint` field, the computed fingerprint
//!   replaces it: a supplied value cannot be trusted and must not pass for ours.
//!
//! Secret values are replaced whole (their content is not walked); every other value is
//! walked at any depth, arrays included.

use serde_json::{Map, Value};

use crate::json::canonical_text;

/// Suffix of the field that replaces a secret-named one.
pub const FINGERPRINT_SUFFIX: &str = "_fingerprint";

/// Whether a field of this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    matches!(lower.as_str(), "api_key" | "token" | "password" | "secret" | "credential")
        || lower.ends_with("_secret")
        || lower.ends_with("_key")
        || lower.ends_with("_token")
}

/// Whether a JSON document's text could hold a secret-named field: a cheap test that
/// lets callers skip parsing documents that certainly hold none. Every secret name
/// contains one of these words. Non-ASCII text is always parsed, since some non-ASCII
/// letters lower-case to ASCII ones, and so is text with a `\u` escape, which can spell
/// any letter (`"api_\u006bey"` is the field `api_key`); JSON's other escapes stand for
/// punctuation and control characters, never letters.
pub fn may_contain_secret_names(json_text: &str) -> bool {
    if !json_text.is_ascii() || json_text.contains("\\u") {
        return true;
    }
    let lower = json_text.to_ascii_lowercase();
    ["key", "token", "password", "secret", "credential"].iter().any(|word| lower.contains(word))
}

/// The bytes a secret value is fingerprinted over, or `None` for JSON null.
pub fn secret_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        other => Some(canonical_text(other).into_bytes()),
    }
}

/// Replaces every secret-named field in `value`, at any depth, using `fingerprint`
/// (bytes → 64 hex characters). Returns how many fields were replaced.
pub fn fingerprint_secrets(value: &mut Value, fingerprint: &mut dyn FnMut(&[u8]) -> String) -> usize {
    match value {
        Value::Object(map) => fingerprint_object(map, fingerprint),
        Value::Array(items) => items.iter_mut().map(|item| fingerprint_secrets(item, fingerprint)).sum(),
        _ => 0,
    }
}

fn fingerprint_object(map: &mut Map<String, Value>, fingerprint: &mut dyn FnMut(&[u8]) -> String) -> usize {
    let secret_names: Vec<String> = map.keys().filter(|k| is_secret_name(k)).cloned().collect();
    let mut replacements = Vec::with_capacity(secret_names.len());
    for name in secret_names {
        if let Some(secret) = map.remove(&name) {
            let replacement = match secret_bytes(&secret) {
                Some(bytes) => Value::String(fingerprint(&bytes)),
                None => Value::Null,
            };
            replacements.push((format!("{name}{FINGERPRINT_SUFFIX}"), replacement));
        }
    }
    let mut count = replacements.len();
    for nested in map.values_mut() {
        count += fingerprint_secrets(nested, fingerprint);
    }
    for (name, replacement) in replacements {
        map.insert(name, replacement);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;
    use crate::mac::KeyedMac;

    fn walk(doc: &str) -> (Value, usize) {
        let key = KeyedMac::new(b"walker test key 0123456789");
        let mut value = parse(doc).unwrap();
        let n = fingerprint_secrets(&mut value, &mut |b| key.fingerprint(b));
        (value, n)
    }

    fn fp(data: &[u8]) -> String {
        KeyedMac::new(b"walker test key 0123456789").fingerprint(data)
    }

    #[test]
    fn secret_names() {
        for name in [
            "api_key",
            "API_KEY",
            "Token",
            "password",
            "secret",
            "credential",
            "stripe_secret",
            "aws_access_key",
            "refresh_token",
            "Refresh_TOKEN",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "key",
            "tokens",
            "passwords",
            "secretary",
            "keys",
            "password_fingerprint",
            "token_count",
            "user",
            "_keyring",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn nested_objects_and_arrays() {
        let (v, n) = walk(
            r#"{"user": "ann", "password": "hunter2",
            "integrations": [{"name": "s3", "aws_secret": "xyz", "meta": {"api_key": "k1"}},
                             [{"token": "t"}]]}"#,
        );
        assert_eq!(n, 4);
        assert_eq!(v["user"], "ann");
        assert!(v.get("password").is_none());
        assert_eq!(v["password_fingerprint"], fp(b"hunter2").as_str());
        assert_eq!(v["integrations"][0]["name"], "s3");
        assert_eq!(v["integrations"][0]["aws_secret_fingerprint"], fp(b"xyz").as_str());
        assert_eq!(v["integrations"][0]["meta"]["api_key_fingerprint"], fp(b"k1").as_str());
        assert_eq!(v["integrations"][1][0]["token_fingerprint"], fp(b"t").as_str());
        assert!(!v.to_string().contains("hunter2"));
    }

    #[test]
    fn non_string_secrets() {
        let (v, n) = walk(r#"{"pin_key": 1234, "password": null, "secret": {"b": 2, "a": [1]}, "flag_token": true}"#);
        assert_eq!(n, 4);
        assert_eq!(v["pin_key_fingerprint"], fp(b"1234").as_str());
        assert_eq!(v["password_fingerprint"], Value::Null);
        assert_eq!(v["secret_fingerprint"], fp(br#"{"a":[1],"b":2}"#).as_str());
        assert_eq!(v["flag_token_fingerprint"], fp(b"true").as_str());
    }

    #[test]
    fn supplied_fingerprint_field_is_overwritten() {
        let (v, _) = walk(r#"{"password": "real", "password_fingerprint": "forged"}"#);
        assert_eq!(v["password_fingerprint"], fp(b"real").as_str());
        assert_eq!(v.as_object().unwrap().len(), 1);
        // Without a secret next to it, such a field is left alone.
        let (v, n) = walk(r#"{"password_fingerprint": "kept"}"#);
        assert_eq!((v["password_fingerprint"].as_str(), n), (Some("kept"), 0));
    }

    #[test]
    fn prefilter_never_skips_a_document_with_secrets() {
        for doc in [r#"{"a": {"Api_Key": 1}}"#, r#"[{"x_TOKEN": 2}]"#, r#"{"PassWord": 3}"#, "{\"\u{212a}ey_x\": 1}"] {
            assert!(may_contain_secret_names(doc), "{doc}");
        }
        assert!(!may_contain_secret_names(r#"{"ip": "192.0.2.1", "n": [1, 2]}"#));
    }

    /// Found by the `secrets` fuzz target: an escaped letter hid a secret name from the
    /// prefilter, so a caller trusting it skipped a document holding a secret.
    #[test]
    fn prefilter_sees_secret_names_spelled_with_escapes() {
        for doc in [r#"{"api_\u006bey": "s"}"#, r#"{"x_\u004bEY": [1]}"#, r#"{"\u0070assword": 1}"#] {
            assert!(may_contain_secret_names(doc), "{doc}");
            assert_eq!(walk(doc).1, 1, "{doc}");
        }
        // Escapes other than \u never spell a letter.
        assert!(!may_contain_secret_names(r#"{"note": "a\"b\\c\/d\n"}"#));
    }

    #[test]
    fn scalars_and_empty_documents() {
        assert_eq!(walk("\"password\"").1, 0);
        assert_eq!(walk("[]").1, 0);
        assert_eq!(walk("{}").0, parse("{}").unwrap());
    }
}
