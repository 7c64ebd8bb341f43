//! The JSON secret walker on arbitrary JSON text.
//!
//! Invariants:
//! - the walker never panics;
//! - the prefilter never skips a document with secrets: when `may_contain_secret_names`
//!   is false for the text, the walker replaces nothing;
//! - afterwards no secret-named field is left at any depth;
//! - the count returned is the number of secret-named fields outside secret values (an
//!   independent count over the input), and the fingerprint function was called once per
//!   non-null secret, each with the bytes `secret_bytes` gives;
//! - every replacement sits next to where the secret was, as a string of 64 hex digits
//!   or null;
//! - walking the result again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use warden_core::json;
use warden_core::mac::KeyedMac;
use warden_core::secrets::{fingerprint_secrets, is_secret_name, may_contain_secret_names, FINGERPRINT_SUFFIX};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(original) = json::parse(text) else { return };
    let key = KeyedMac::new(b"fuzz secrets key");

    let mut calls = 0usize;
    let mut doc = original.clone();
    let count = fingerprint_secrets(&mut doc, &mut |bytes| {
        calls += 1;
        key.fingerprint(bytes)
    });
    if !may_contain_secret_names(text) {
        assert_eq!(count, 0, "prefilter skipped a document with {count} secret(s): {text}");
    }
    let (expected_count, expected_calls) = count_secrets(&original);
    assert_eq!(count, expected_count, "count");
    assert_eq!(calls, expected_calls, "fingerprint calls");
    assert!(!has_secret_name(&doc), "a secret-named field survived: {doc}");
    check_replacements(&original, &doc, &key);

    let mut again = doc.clone();
    assert_eq!(fingerprint_secrets(&mut again, &mut |bytes| key.fingerprint(bytes)), 0);
    assert_eq!(again, doc, "a second walk changed the document");
});

/// (secret-named fields outside secret values, how many of them are not null).
fn count_secrets(value: &Value) -> (usize, usize) {
    match value {
        Value::Object(map) => map.iter().fold((0, 0), |(count, calls), (name, nested)| {
            if is_secret_name(name) {
                (count + 1, calls + usize::from(!nested.is_null()))
            } else {
                let (c, k) = count_secrets(nested);
                (count + c, calls + k)
            }
        }),
        Value::Array(items) => items.iter().map(count_secrets).fold((0, 0), |(a, b), (c, d)| (a + c, b + d)),
        _ => (0, 0),
    }
}

fn has_secret_name(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(name, nested)| is_secret_name(name) || has_secret_name(nested)),
        Value::Array(items) => items.iter().any(has_secret_name),
        _ => false,
    }
}

/// Every secret of `before` is replaced in `after` by its fingerprint (or null), at the
/// same place; every field that was neither a secret nor overwritten by a fingerprint
/// keeps its name.
fn check_replacements(before: &Value, after: &Value, key: &KeyedMac) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for (name, value) in old {
                if is_secret_name(name) {
                    assert!(!new.contains_key(name), "{name} kept");
                    let replacement = &new[&format!("{name}{FINGERPRINT_SUFFIX}")];
                    match warden_core::secrets::secret_bytes(value) {
                        None => assert_eq!(replacement, &Value::Null),
                        Some(bytes) => {
                            let fingerprint = replacement.as_str().expect("a fingerprint string");
                            assert_eq!(fingerprint.len(), 64);
                            assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
                            assert_eq!(fingerprint, key.fingerprint(&bytes));
                        }
                    }
                } else if !is_replaced_by_fingerprint(old, name) {
                    check_replacements(value, new.get(name).expect("non-secret field kept"), key);
                }
            }
            for name in new.keys() {
                assert!(old.contains_key(name) || is_replaced_by_fingerprint(old, name), "{name} appeared");
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            assert_eq!(old.len(), new.len());
            for (a, b) in old.iter().zip(new) {
                check_replacements(a, b, key);
            }
        }
        (a, b) => assert_eq!(a, b, "a non-secret value changed"),
    }
}

/// Whether `name` is `<secret>_fingerprint` for a secret-named field of `object`.
fn is_replaced_by_fingerprint(object: &serde_json::Map<String, Value>, name: &str) -> bool {
    name.strip_suffix(FINGERPRINT_SUFFIX).is_some_and(|secret| is_secret_name(secret) && object.contains_key(secret))
}
