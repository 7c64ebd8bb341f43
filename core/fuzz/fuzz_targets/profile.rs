//! Profile text, parsed as the extension parses it, then validated.
//!
//! Invariants:
//! - parsing and validation never panic, whatever the bytes;
//! - `validate` returns either a profile and no problem, or problems and no profile, and
//!   every problem has a JSON path from `$` and a message;
//! - validation is deterministic, and asks the environment only for `WARDEN_*` names;
//! - a valid profile's canonical text is JSON that parses back to its canonical value,
//!   validates without problems, means the same profile (same strategies, seeds and
//!   columns) and has the same canonical text: the canonical form is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_core::json;
use warden_core::profile::{validate, Profile, SEED_ENV_PREFIX};

/// A server environment with one seed variable set and one that is not an integer.
fn environment(name: &str) -> Option<String> {
    assert!(name.starts_with(SEED_ENV_PREFIX), "looked up {name:?}");
    match name {
        "WARDEN_FUZZ_SEED" => Some("7".to_owned()),
        "WARDEN_FUZZ_TEXT" => Some("seven".to_owned()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(doc) = json::parse(text) else { return };
    let (profile, problems) = validate(&doc, environment);
    assert_eq!(validate(&doc, environment), (profile.clone(), problems.clone()), "validation is not deterministic");
    let Some(profile) = profile else {
        assert!(!problems.is_empty(), "no profile and no problem");
        for problem in &problems {
            assert!(problem.path.starts_with('$'), "path {:?}", problem.path);
            assert!(!problem.problem.is_empty(), "empty message at {}", problem.path);
        }
        return;
    };
    assert!(problems.is_empty(), "a profile returned with problems: {problems:?}");

    let canonical = profile.canonical_text();
    let reparsed = json::parse(&canonical).expect("canonical text is JSON");
    assert_eq!(reparsed, profile.canonical_json(), "canonical text does not parse back to the canonical value");
    let (again, problems) = validate(&reparsed, environment);
    assert!(problems.is_empty(), "canonical form of a valid profile has problems: {problems:?}\n{canonical}");
    let again = again.expect("valid");
    assert_eq!(again.canonical_text(), canonical, "canonical form is not a fixed point");
    assert_eq!(meaning(&again), meaning(&profile), "canonical form changed the profile's meaning\n{canonical}");
});

/// What a profile does, independent of how its document spelled it: column order within
/// a table does not matter.
fn meaning(profile: &Profile) -> Profile {
    let mut profile = profile.clone();
    for table in &mut profile.tables {
        table.columns.sort_by(|a, b| a.column.cmp(&b.column));
    }
    profile
}
