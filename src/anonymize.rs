//! Deterministic anonymization of single values: `warden.anonymize` and
//! `warden.pseudonymize`. The strategies themselves are `warden_core::anonymize`; this
//! module finds the key, caches what a (key, seed) pair needs and maps errors to
//! SQLSTATEs. Whole tables are masked by `crate::profile`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::prelude::*;
use warden_core::anonymize::{Pseudonymizer, Strategy};
use warden_core::mac::KeyedMac;

use crate::datum::{jsonb_bytes, parse_jsonb, Jsonb};
use crate::error::{SqlResult, WardenError};
use crate::keyring;

/// Pseudonymizers kept per backend before the cache is emptied: a query that passes a
/// different seed on every row must not grow it without bound.
const MAX_CACHED: usize = 64;

/// A pseudonymizer and the key it was derived from: a key recreated under the same
/// name and version (after a rollback, or DROP and CREATE EXTENSION) has other
/// material, and must not reuse it.
struct Cached {
    master: KeyedMac,
    pseudonymizer: Rc<Pseudonymizer>,
}

thread_local! {
    /// By (key name, seed). Building one costs tens of microseconds, using it one HMAC
    /// or one FF1 encryption.
    static PSEUDONYMIZERS: RefCell<HashMap<(String, i64), Rc<Cached>>> = RefCell::new(HashMap::new());
    /// The pseudonymizer used last, so a bulk query over one key and seed skips the map.
    static LAST: RefCell<Option<(String, i64, Rc<Cached>)>> = const { RefCell::new(None) };
    /// The strategy parsed last, by name and the stored bytes of its options (none for
    /// the form without options).
    static STRATEGY: RefCell<Option<ParsedStrategy>> = const { RefCell::new(None) };
}

/// A strategy's name, the stored bytes of its options and the strategy parsed from them.
type ParsedStrategy = (String, Vec<u8>, Rc<Strategy>);

/// A strategy's options: their raw jsonb bytes and a parser of the document they hold.
type StrategyOptions<'a> = (&'a [u8], &'a dyn Fn() -> Result<serde_json::Value, WardenError>);

/// The pseudonymizer of `seed` under the active version of key `key_name`.
pub(crate) fn pseudonymizer(key_name: &str, seed: i64) -> Result<Rc<Pseudonymizer>, WardenError> {
    keyring::with_key(key_name, |key| {
        let master = &key.active().mac;
        let last = LAST.with(|l| {
            l.borrow()
                .as_ref()
                .filter(|(name, s, cached)| *s == seed && name == key_name && cached.master.same_key(master))
                .map(|(_, _, cached)| Rc::clone(&cached.pseudonymizer))
        });
        if let Some(found) = last {
            return found;
        }
        let cached = PSEUDONYMIZERS.with(|map| {
            let mut map = map.borrow_mut();
            let id = (key_name.to_owned(), seed);
            if let Some(cached) = map.get(&id).filter(|cached| cached.master.same_key(master)) {
                return Rc::clone(cached);
            }
            if map.len() >= MAX_CACHED {
                map.clear();
            }
            let cached =
                Rc::new(Cached { master: master.clone(), pseudonymizer: Rc::new(Pseudonymizer::new(master, seed)) });
            map.insert(id, Rc::clone(&cached));
            cached
        });
        let found = Rc::clone(&cached.pseudonymizer);
        LAST.with(|l| *l.borrow_mut() = Some((key_name.to_owned(), seed, cached)));
        found
    })
}

/// The strategy `name` with `options` (raw jsonb bytes and the parsed document, parsed
/// only when they differ from the last call's).
fn strategy(name: &str, options: Option<StrategyOptions<'_>>) -> Result<Rc<Strategy>, WardenError> {
    let raw: &[u8] = options.as_ref().map_or(&[], |(raw, _)| raw);
    let last = STRATEGY.with(|s| {
        s.borrow()
            .as_ref()
            .filter(|(n, o, _)| n == name && o.as_slice() == raw)
            .map(|(_, _, strategy)| Rc::clone(strategy))
    });
    if let Some(strategy) = last {
        return Ok(strategy);
    }
    let parsed = match options {
        Some((_, parse)) => Strategy::parse(name, Some(&parse()?)),
        None => Strategy::parse(name, None),
    };
    let strategy = Rc::new(parsed?);
    STRATEGY.with(|s| *s.borrow_mut() = Some((name.to_owned(), raw.to_vec(), Rc::clone(&strategy))));
    Ok(strategy)
}

fn anonymize_value(value: &str, strategy: &Strategy, seed: i64, key_name: &str) -> Result<String, WardenError> {
    Ok(pseudonymizer(key_name, seed)?.anonymize(value, strategy)?)
}

/// Anonymizes `value` with a strategy under its default options; output depends only
/// on (value, strategy, seed, key).
#[pg_extern(stable, strict, parallel_safe, name = "anonymize")]
fn anonymize_text(
    value: &str,
    strategy: &str,
    seed: default!(i64, 0),
    key_name: default!(&str, "'default'"),
) -> SqlResult<String> {
    let parsed = self::strategy(strategy, None)?;
    Ok(anonymize_value(value, &parsed, seed, key_name)?)
}

/// `warden.anonymize(value, strategy, options jsonb, seed, key_name)`: a strategy with
/// options. Options come third: a bigint seed and a jsonb document never compete for one
/// argument, so each call resolves to one function.
#[pg_extern(stable, parallel_safe, name = "anonymize")]
fn anonymize_options(
    value: &str,
    strategy: &str,
    options: Jsonb,
    seed: default!(i64, 0),
    key_name: default!(&str, "'default'"),
) -> SqlResult<String> {
    let parse = || parse_jsonb(&options);
    let parsed = self::strategy(strategy, Some((jsonb_bytes(&options), &parse)))?;
    Ok(anonymize_value(value, &parsed, seed, key_name)?)
}

/// A keyed bijection of bigint that keeps the sign.
#[pg_extern(stable, strict, parallel_safe, name = "pseudonymize")]
fn pseudonymize_bigint(value: i64, seed: default!(i64, 0), key_name: default!(&str, "'default'")) -> SqlResult<i64> {
    Ok(pseudonymizer(key_name, seed)?.bigint(value))
}

/// A keyed bijection of integer that keeps the sign.
#[pg_extern(stable, strict, parallel_safe, name = "pseudonymize")]
fn pseudonymize_integer(value: i32, seed: default!(i64, 0), key_name: default!(&str, "'default'")) -> SqlResult<i32> {
    Ok(pseudonymizer(key_name, seed)?.integer(value))
}

extension_sql_file!(
    "../sql/anonymize.sql",
    name = "anonymize",
    requires = ["fingerprint", anonymize_text, anonymize_options, pseudonymize_bigint, pseudonymize_integer]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::outcome;
    use pgrx::prelude::*;

    const KEY: &str =
        "SELECT warden.create_key('t_anon', '\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')";

    fn one(query: &str) -> String {
        Spi::get_one::<String>(query).unwrap().unwrap()
    }

    #[pg_test]
    fn hash_follows_the_documented_derivation() {
        Spi::run(KEY).unwrap();
        // hash = first 32 hex of HMAC(HMAC(key, label || seed), value), label and seed as documented.
        let same = Spi::get_one::<bool>(
            "SELECT warden.anonymize('alice', 'hash', 7, 't_anon') = \
               left(encode(warden.hmac_sha256('alice', warden.hmac_sha256( \
                 'pg_warden/anonymize/v1/hash'::bytea || int8send(7), \
                 '\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')), 'hex'), 32)",
        )
        .unwrap();
        assert_eq!(same, Some(true));
    }

    #[pg_test]
    fn seeds_and_keys_separate_outputs() {
        Spi::run(KEY).unwrap();
        Spi::run("SELECT warden.create_key('t_anon2', '\\xffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100')")
            .unwrap();
        let a = one("SELECT warden.anonymize('+1 555 010 9999', 'phone', 0, 't_anon')");
        let b = one("SELECT warden.anonymize('+1 555 010 9999', 'phone', 1, 't_anon')");
        let c = one("SELECT warden.anonymize('+1 555 010 9999', 'phone', 0, 't_anon2')");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, one("SELECT warden.anonymize('+1 555 010 9999', 'phone', 0, 't_anon')"));
    }

    #[pg_test]
    fn a_recreated_key_is_not_served_from_the_cache() {
        // The key is created and used in a subtransaction that rolls back, then created
        // again with other material: the cached pseudonymizer must not be reused.
        let first = KEY.replace("t_anon", "t_anon_first");
        Spi::run(&first).unwrap();
        let under_first = one("SELECT warden.anonymize('x', 'hash', 0, 't_anon_first')");
        Spi::run(&format!(
            "DO $$ BEGIN PERFORM {}; PERFORM warden.anonymize('x', 'hash', 0, 't_anon'); \
             RAISE EXCEPTION 'undo'; EXCEPTION WHEN raise_exception THEN NULL; END $$",
            KEY.trim_start_matches("SELECT ")
        ))
        .unwrap();
        Spi::run("SELECT warden.create_key('t_anon', '\\x101112131415161718191a1b1c1d1e1f')").unwrap();
        assert_ne!(under_first, one("SELECT warden.anonymize('x', 'hash', 0, 't_anon')"));
    }

    #[pg_test]
    fn pseudonymize_keeps_the_sign_and_is_injective_on_a_range() {
        Spi::run(KEY).unwrap();
        let distinct = Spi::get_one::<i64>(
            "SELECT count(DISTINCT warden.pseudonymize(g, 0, 't_anon')) FROM generate_series(-500::bigint, 500) g",
        )
        .unwrap();
        assert_eq!(distinct, Some(1001));
        let signs = Spi::get_one::<bool>(
            "SELECT bool_and(sign(warden.pseudonymize(g, 0, 't_anon')) = sign(g) OR g = 0) \
               FROM generate_series(-100, 100) g",
        )
        .unwrap();
        assert_eq!(signs, Some(true));
    }

    #[pg_test]
    fn unknown_strategy_lists_the_allowed_names() {
        Spi::run(KEY).unwrap();
        assert_eq!(
            outcome("SELECT warden.anonymize('x', 'md5', 0, 't_anon')"),
            "22023: unknown anonymization strategy; allowed: hash, email, phone, digits, redact, partial"
        );
    }

    #[pg_test]
    fn deep_options_are_statement_too_complex() {
        Spi::run(KEY).unwrap();
        assert_eq!(
            outcome(
                "SELECT warden.anonymize('x', 'email', (repeat('[', 200) || repeat(']', 200))::jsonb, 0, 't_anon')"
            ),
            "54001: JSON nested deeper than 127 levels"
        );
    }
}
