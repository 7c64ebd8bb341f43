//! HMAC-SHA256 fingerprints: prove that the same secret was used without storing it.

use pgrx::prelude::*;
use pgrx::JsonB;
use warden_core::mac::{self, KeyedMac, FINGERPRINT_HEX_LEN};
use warden_core::secrets;

use crate::datum::{parse_jsonb, varlena_bytes, Jsonb};
use crate::error::{SqlResult, WardenError};
use crate::keyring;

/// HMAC-SHA256 of `data` under an explicit key (RFC 2104); same bytes as pgcrypto's
/// `hmac(data, key, 'sha256')`.
#[pg_extern(immutable, strict, parallel_safe)]
fn hmac_sha256(data: &[u8], key: &[u8]) -> Vec<u8> {
    mac::hmac_sha256(key, data).to_vec()
}

/// `warden.fingerprint(text|bytea, key_name)`, the hot path of bulk fingerprinting,
/// written as a plain V1 function: it reads its inline arguments in place and builds
/// the 64-digit text result in one allocation, so a call makes a single call into the
/// server instead of one per argument and one for the result. Declared in
/// sql/fingerprint.sql for both argument types (both are varlenas).
///
/// # Safety
/// Called by PostgreSQL's function manager with two non-NULL varlena arguments (the
/// SQL declaration is STRICT).
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn warden_fingerprint(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let (value, key_name) = unsafe {
        let args = (*fcinfo).args.as_slice(2);
        (varlena_bytes(args[0].value), varlena_bytes(args[1].value))
    };
    let result = std::str::from_utf8(key_name)
        .map_err(|_| WardenError::invalid("key name is not valid UTF-8"))
        .and_then(|key_name| {
            keyring::with_key(key_name, |key| unsafe {
                let size = pg_sys::VARHDRSZ + FINGERPRINT_HEX_LEN;
                let text = pg_sys::palloc(size).cast::<u8>();
                pgrx::varlena::set_varsize_4b(text.cast(), size as i32);
                let digits = &mut *text.add(pg_sys::VARHDRSZ).cast::<[u8; FINGERPRINT_HEX_LEN]>();
                key.active().mac.fingerprint_into(value, digits);
                pg_sys::Datum::from(text)
            })
        });
    result.unwrap_or_else(|error| error.raise())
}

/// Version-1 calling convention marker for `warden_fingerprint`.
#[no_mangle]
pub extern "C" fn pg_finfo_warden_fingerprint() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

fn matches(value: &[u8], fingerprint: &str, key_name: &str) -> Result<bool, WardenError> {
    let tag = mac::parse_fingerprint(fingerprint).ok_or_else(|| {
        WardenError::invalid_with_hint(
            "fingerprint must be 64 hexadecimal digits",
            "Pass a value returned by warden.fingerprint.",
        )
    })?;
    // Every version is tried so that fingerprints made before a rotation still match;
    // each comparison is constant-time.
    keyring::with_key(key_name, |key| key.versions().iter().any(|v| v.mac.verify(value, &tag)))
}

#[pg_extern(stable, strict, parallel_safe, name = "fingerprint_matches")]
fn fingerprint_matches_text(value: &str, fingerprint: &str, key_name: default!(&str, "'default'")) -> SqlResult<bool> {
    Ok(matches(value.as_bytes(), fingerprint, key_name)?)
}

#[pg_extern(stable, strict, parallel_safe, name = "fingerprint_matches")]
fn fingerprint_matches_bytea(
    value: &[u8],
    fingerprint: &str,
    key_name: default!(&str, "'default'"),
) -> SqlResult<bool> {
    Ok(matches(value, fingerprint, key_name)?)
}

/// Replaces every secret-named field of `doc` by `<name>_fingerprint`; the rules are in
/// `warden_core::secrets`.
pub(crate) fn fingerprint_secrets_value(
    mut doc: serde_json::Value,
    key_name: &str,
) -> Result<serde_json::Value, WardenError> {
    keyring::with_key(key_name, |key| {
        let active: &KeyedMac = &key.active().mac;
        secrets::fingerprint_secrets(&mut doc, &mut |bytes| active.fingerprint(bytes));
    })?;
    Ok(doc)
}

/// `warden.fingerprint_secrets(doc, key_name)`: secret-named fields replaced by their
/// fingerprints.
#[pg_extern(stable, parallel_safe)]
fn fingerprint_secrets(doc: Jsonb, key_name: default!(&str, "'default'")) -> SqlResult<JsonB> {
    let value = parse_jsonb(&doc)?;
    Ok(JsonB(fingerprint_secrets_value(value, key_name)?))
}

extension_sql_file!(
    "../sql/fingerprint.sql",
    name = "fingerprint",
    requires = ["keyring", hmac_sha256, fingerprint_matches_text, fingerprint_matches_bytea, fingerprint_secrets]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::outcome;
    use pgrx::prelude::*;

    const KEY: &str = "SELECT warden.create_key('t_fp', '\\x000102030405060708090a0b0c0d0e0f')";

    #[pg_test]
    fn hmac_matches_rfc4231_case_2() {
        let tag =
            Spi::get_one::<String>("SELECT encode(warden.hmac_sha256('what do ya want for nothing?', 'Jefe'), 'hex')")
                .unwrap()
                .unwrap();
        assert_eq!(tag, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[pg_test]
    fn fingerprint_is_hmac_under_the_active_key() {
        Spi::run(KEY).unwrap();
        let same = Spi::get_one::<bool>(
            "SELECT warden.fingerprint('hunter2', 't_fp') = \
                    encode(warden.hmac_sha256('hunter2', '\\x000102030405060708090a0b0c0d0e0f'), 'hex')",
        )
        .unwrap();
        assert_eq!(same, Some(true));
        let bytea_same = Spi::get_one::<bool>(
            "SELECT warden.fingerprint('hunter2'::bytea, 't_fp') = warden.fingerprint('hunter2'::text, 't_fp')",
        )
        .unwrap();
        assert_eq!(bytea_same, Some(true));
    }

    #[pg_test]
    fn old_fingerprints_match_after_rotation() {
        Spi::run(KEY).unwrap();
        let before = Spi::get_one::<String>("SELECT warden.fingerprint('s3cret', 't_fp')").unwrap().unwrap();
        Spi::run("SELECT warden.rotate_key('t_fp')").unwrap();
        let after = Spi::get_one::<String>("SELECT warden.fingerprint('s3cret', 't_fp')").unwrap().unwrap();
        assert_ne!(before, after, "the new version must be used after rotation");
        for fp in [&before, &after] {
            let ok = Spi::get_one::<bool>(&format!("SELECT warden.fingerprint_matches('s3cret', '{fp}', 't_fp')"));
            assert_eq!(ok.unwrap(), Some(true));
            let wrong = Spi::get_one::<bool>(&format!("SELECT warden.fingerprint_matches('s3cre7', '{fp}', 't_fp')"));
            assert_eq!(wrong.unwrap(), Some(false));
        }
    }

    #[pg_test]
    fn unknown_key_is_undefined_object() {
        assert_eq!(outcome("SELECT warden.fingerprint('x', 'nope')"), "42704: key \"nope\" does not exist");
    }

    #[pg_test]
    fn malformed_fingerprint_is_refused() {
        Spi::run(KEY).unwrap();
        assert_eq!(
            outcome("SELECT warden.fingerprint_matches('x', 'abc', 't_fp')"),
            "22023: fingerprint must be 64 hexadecimal digits"
        );
    }

    #[pg_test]
    fn secrets_are_replaced_at_any_depth() {
        Spi::run(KEY).unwrap();
        let ok = Spi::get_one::<bool>(
            "SELECT warden.fingerprint_secrets('{\"user\": \"ann\", \"items\": [{\"api_key\": \"k\"}]}', 't_fp') \
             = jsonb_build_object('user', 'ann', 'items', \
                 jsonb_build_array(jsonb_build_object('api_key_fingerprint', warden.fingerprint('k', 't_fp'))))",
        )
        .unwrap();
        assert_eq!(ok, Some(true));
    }

    #[pg_test]
    fn deep_json_is_statement_too_complex() {
        Spi::run(KEY).unwrap();
        assert_eq!(
            outcome("SELECT warden.fingerprint_secrets((repeat('[', 200) || repeat(']', 200))::jsonb, 't_fp')"),
            "54001: JSON nested deeper than 127 levels"
        );
    }
}
