//! Stored profiles: what `warden.save_profile` stores a profile under, its hash, and how
//! `warden.apply_profile(text)` tells a stored profile's name from a profile document.
//!
//! - A profile is stored under its `name` ([`Profile::name`]), with the SHA-256 of its
//!   canonical form ([`sha256_hex`]): two documents meaning the same profile have the
//!   same hash, on every server.
//! - `apply_profile(text)` reads its argument as a document when it starts, after JSON
//!   white space, with `{` ([`is_document`]); anything else is a stored profile's name.
//!   So a name that would read as a document can never be stored ([`name_problem`]):
//!   `apply_profile` could not reach it by name.

use sha2::{Digest, Sha256};

use super::{Problem, Profile};

/// Whether `text` is a profile document rather than a stored profile's name: its first
/// character that is not JSON white space (space, tab, line feed, carriage return, the
/// only white space PostgreSQL's JSON parser skips) is `{`.
pub fn is_document(text: &str) -> bool {
    text.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{')
}

/// The problem, at `$.name`, that keeps `profile` from being stored under its name: a
/// name that [`is_document`] reads as a document.
pub fn name_problem(profile: &Profile) -> Option<Problem> {
    is_document(&profile.name).then(|| Problem {
        path: "$.name".into(),
        problem: "a stored profile's name cannot start with \"{\": warden.apply_profile(text) reads such text as a \
                  profile document, not as a name"
            .into(),
    })
}

/// SHA-256 of the profile's canonical text ([`Profile::canonical_text`]), as 64
/// lowercase hex digits: what the ledger and the profile store record of a profile.
pub fn sha256_hex(profile: &Profile) -> String {
    hex::encode(Sha256::digest(profile.canonical_text().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::validate;
    use serde_json::json;

    fn profile(doc: serde_json::Value) -> Profile {
        let (profile, problems) = validate(&doc, |_| None);
        assert_eq!(problems, vec![]);
        profile.unwrap()
    }

    #[test]
    fn documents_start_with_a_brace_after_json_white_space() {
        for text in ["{}", "{\"name\": \"p\"}", "  {", "\n\t\r {x", "{"] {
            assert!(is_document(text), "{text:?}");
        }
        for text in ["", "staging", " staging", "[{}]", "x{", "\u{a0}{", "\u{2003}{\"name\": 1}", "\"{\""] {
            assert!(!is_document(text), "{text:?}");
        }
    }

    #[test]
    fn names_that_read_as_documents_cannot_be_stored() {
        let doc = |name: &str| json!({"name": name, "version": 1, "strategies": {}, "tables": {}});
        assert_eq!(name_problem(&profile(doc("staging"))), None);
        assert_eq!(name_problem(&profile(doc("a{b}"))), None);
        for name in ["{", " {staging}", "\n{"] {
            let problem = name_problem(&profile(doc(name))).expect(name);
            assert_eq!(problem.path, "$.name");
            assert!(problem.problem.contains("cannot start with \"{\""), "{}", problem.problem);
        }
    }

    #[test]
    fn the_hash_is_of_the_canonical_text() {
        let p = profile(json!({"name": "p", "version": 1, "strategies": {},
                               "tables": {"public.t": [{"column": "email", "strategy": "email"}]}}));
        let expected = hex::encode(Sha256::digest(p.canonical_text().as_bytes()));
        assert_eq!(sha256_hex(&p), expected);
        assert_eq!(sha256_hex(&p).len(), 64);
        assert!(sha256_hex(&p).bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn documents_meaning_the_same_profile_hash_alike() {
        let written =
            profile(json!({"name": "p", "version": "1.0", "strategies": {"m": {"type": "email", "config": {}}},
                                     "tables": {"public.t": {"rules": [{"column": "b", "strategy": "m"},
                                                                      {"column": "a", "strategy": "hash"}]}}}));
        let spelled_out = profile(json!({"tables": {"public.t": [{"column": "a", "strategy": "hash", "seed": 0},
                                                                 {"column": "b", "strategy": "m"}]},
                                         "strategies": {"m": {"type": "email"}}, "key": "default",
                                         "global_seed": 0, "version": 1, "name": "p"}));
        assert_eq!(sha256_hex(&written), sha256_hex(&spelled_out));
        let other_version = profile(json!({"name": "p", "version": 2, "strategies": {"m": {"type": "email"}},
                                           "tables": {"public.t": [{"column": "a", "strategy": "hash"},
                                                                   {"column": "b", "strategy": "m"}]}}));
        assert_ne!(sha256_hex(&written), sha256_hex(&other_version));
        let other_seed = profile(json!({"name": "p", "version": 1, "global_seed": 5,
                                        "strategies": {"m": {"type": "email"}},
                                        "tables": {"public.t": [{"column": "a", "strategy": "hash"},
                                                                {"column": "b", "strategy": "m"}]}}));
        assert_ne!(sha256_hex(&written), sha256_hex(&other_seed));
    }

    #[test]
    fn the_hash_names_seed_variables_not_their_values() {
        let doc = json!({"name": "p", "version": 1, "strategies": {},
                         "tables": {"public.t": [{"column": "a", "strategy": "hash", "seed_env_var": "WARDEN_S"}]}});
        let here = validate(&doc, |_| Some("1".into())).0.unwrap();
        let there = validate(&doc, |_| Some("2".into())).0.unwrap();
        assert_ne!(here.tables[0].columns[0].seed, there.tables[0].columns[0].seed);
        assert_eq!(sha256_hex(&here), sha256_hex(&there));
    }
}
