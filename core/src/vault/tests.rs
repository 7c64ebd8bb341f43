use super::keys::{open_with, seal_with_nonce};
use super::*;

const VAR: &str = "WARDEN_MASTER_KEY";
/// The master key 00 01 02 … 1f.
const KEY_HEX: &str = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// The same 32 bytes in standard base64.
const KEY_BASE64: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY_HEX: &str = "hex:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn kek(text: &str) -> Kek {
    Kek::derive(&MasterKey::parse(VAR, text).expect("test key parses"))
}

fn malformed_reason(text: &str) -> String {
    let err = MasterKey::parse(VAR, text).expect_err("a malformed key was accepted");
    let VaultError::MasterKeyMalformed { variable, reason } = &err else {
        panic!("expected MasterKeyMalformed, got {err:?}");
    };
    assert_eq!(*variable, VAR);
    format!("{err} / {reason}")
}

// ---- master key text ----

#[test]
fn hex_and_base64_of_the_same_bytes_give_the_same_key() {
    let reference = kek(KEY_HEX).check_value();
    for text in [
        KEY_HEX.to_owned(),
        KEY_HEX.to_uppercase().replacen("HEX:", "hex:", 1),
        format!("  \t{KEY_HEX}\n"),
        KEY_BASE64.to_owned(),
        format!("\n{KEY_BASE64}  \r\n"),
    ] {
        assert_eq!(kek(&text).check_value(), reference, "{text:?}");
    }
    assert_ne!(kek(OTHER_KEY_HEX).check_value(), reference);
}

#[test]
fn malformed_master_keys_are_refused_without_their_text() {
    let digits = &KEY_HEX["hex:".len()..];
    let encoded = &KEY_BASE64["base64:".len()..];
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "must start with"),
        ("   ".to_owned(), "must start with"),
        (digits.to_owned(), "must start with"),
        (format!("HEX:{digits}"), "must start with"),
        (format!("key:{digits}"), "must start with"),
        (format!("hex: {digits}"), "only hex digits"),
        (format!("hex:{}", &digits[..63]), "not 63"),
        (format!("hex:{digits}0"), "not 65"),
        (format!("hex:{}", &digits[..62]), "not 62"),
        (format!("hex:{}g", &digits[..63]), "only hex digits"),
        (format!("hex:{}é", &digits[..62]), "only hex digits"),
        (format!("hex:{digits}{digits}"), "not 128"),
        (format!("base64:{digits}"), "not 64"),
        (format!("base64:{}", &encoded[..43]), "not 43"),
        (format!("base64:{encoded}A"), "not 45"),
        (format!("base64:{}-_", &encoded[..42]), "not standard base64"),
        (format!("base64:{}", encoded.replace('=', "A")), "decodes to 33 bytes"),
        (format!("base64:{}HA==", &encoded[..40]), "decodes to 31 bytes"),
        (format!("base64:{}", encoded.replace('=', "!")), "not standard base64"),
    ];
    for (text, expected) in cases {
        let message = malformed_reason(&text);
        assert!(message.contains(expected), "{text:?}: {message}");
        assert!(message.contains(VAR), "{message}");
        let body = text.trim().split_once(':').map_or(text.trim(), |(_, body)| body).trim();
        if body.len() >= 8 {
            for window in body.as_bytes().windows(8) {
                let window = std::str::from_utf8(window).unwrap_or("");
                assert!(window.is_empty() || !message.contains(window), "{text:?} leaks into: {message}");
            }
        }
    }
}

#[test]
fn keys_never_print_their_bytes() {
    let master = MasterKey::parse(VAR, KEY_HEX).unwrap();
    let kek = Kek::derive(&master);
    let data_key = DataKey::generate().unwrap();
    let printed = format!("{master:?} {kek:?} {data_key:?} {:?}", VaultError::Tampered);
    assert_eq!(printed, "MasterKey(..) Kek(..) DataKey(..) Tampered");
}

// ---- key derivation ----

#[test]
fn hkdf_and_check_value_known_answer() {
    // Computed independently with Python's `cryptography` (HKDF-SHA256 without salt,
    // HMAC-SHA256); a change here changes every vault's keys.
    let kek = kek(KEY_HEX);
    assert_eq!(hex::encode(kek.kek_bytes()), "2bace25fd6245f323293a16ee270fa5d27053653ec5849d2cdba602ed02e4126");
    assert_eq!(hex::encode(kek.check_value()), "af550debd9dc9f287cab5f16f49ac25bc305d7fd4cf7117296c34c8415511cc5");
}

#[test]
fn check_value_is_stable_for_one_master_key_and_differs_for_another() {
    let stored = kek(KEY_HEX).check_value();
    assert_eq!(kek(KEY_HEX).check_value(), stored);
    assert_eq!(kek(KEY_BASE64).check_value(), stored);
    let other = kek(OTHER_KEY_HEX);
    assert_ne!(other.check_value(), stored);
    assert_ne!(&kek(KEY_HEX).kek_bytes()[..], &stored[..], "the KEK is not the check value");

    let same = kek(KEY_HEX);
    assert!(same.matches(&stored));
    assert!(!other.matches(&stored));
    assert!(!same.matches(&stored[..31]));
    assert!(!same.matches(&[stored.as_slice(), &[0]].concat()));
    assert!(!same.matches(&[]));
    let mut flipped = stored;
    flipped[31] ^= 1;
    assert!(!same.matches(&flipped));
}

// ---- Argon2id parameters ----

const SALT: [u8; 16] = [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f];

#[test]
fn kdf_params_round_trip() {
    let params = KdfParams { m_cost_kib: 65536, t_cost: 3, p_cost: 4, salt: SALT };
    let text = params.encode();
    assert_eq!(text, "argon2id$v=19$m=65536,t=3,p=4$EBESExQVFhcYGRobHB0eHw");
    assert_eq!(KdfParams::decode(&text), Ok(params));

    let recommended = KdfParams::recommended().unwrap();
    assert_eq!((recommended.m_cost_kib, recommended.t_cost, recommended.p_cost), (65536, 3, 4));
    assert_eq!(KdfParams::decode(&recommended.encode()), Ok(recommended));
    assert_ne!(KdfParams::recommended().unwrap().salt, recommended.salt, "each call draws a fresh salt");

    for (m, t, p) in [(MIN_M_COST_KIB, MIN_T_COST, MIN_P_COST), (MAX_M_COST_KIB, MAX_T_COST, MAX_P_COST)] {
        let params = KdfParams { m_cost_kib: m, t_cost: t, p_cost: p, salt: [0; 16] };
        assert_eq!(KdfParams::decode(&params.encode()), Ok(params), "bounds are inclusive");
    }
}

#[test]
fn kdf_params_refusals() {
    let salt = "EBESExQVFhcYGRobHB0eHw";
    let cases = [
        (String::new(), "four parts"),
        (format!("$argon2id$v=19$m=65536,t=3,p=4${salt}"), "four parts"),
        (format!("argon2id$v=19$m=65536,t=3,p=4${salt}$"), "four parts"),
        (format!("argon2i$v=19$m=65536,t=3,p=4${salt}"), "algorithm"),
        (format!("Argon2id$v=19$m=65536,t=3,p=4${salt}"), "algorithm"),
        (format!("argon2id$v=16$m=65536,t=3,p=4${salt}"), "version"),
        (format!("argon2id$m=65536,t=3,p=4${salt}"), "four parts"),
        (format!("argon2id$v=19$m=65536,t=3${salt}"), "three parameters"),
        (format!("argon2id$v=19$m=65536,t=3,p=4,x=1${salt}"), "three parameters"),
        (format!("argon2id$v=19$t=3,m=65536,p=4${salt}"), "in that order"),
        (format!("argon2id$v=19$m=065536,t=3,p=4${salt}"), "leading zeros"),
        (format!("argon2id$v=19$m=+65536,t=3,p=4${salt}"), "without sign"),
        (format!("argon2id$v=19$m=,t=3,p=4${salt}"), "decimal"),
        (format!("argon2id$v=19$m= 65536,t=3,p=4${salt}"), "decimal"),
        (format!("argon2id$v=19$m=4294967296,t=3,p=4${salt}"), "32 bits"),
        (format!("argon2id$v=19$m=19455,t=3,p=4${salt}"), "m=19455 KiB is below the floor of 19456 KiB"),
        (format!("argon2id$v=19$m=65536,t=1,p=4${salt}"), "t=1 is below the floor of 2"),
        (format!("argon2id$v=19$m=65536,t=3,p=0${salt}"), "p=0 is below the floor of 1"),
        (format!("argon2id$v=19$m=4194305,t=3,p=4${salt}"), "m=4194305 KiB is above the bound of 4194304 KiB"),
        (format!("argon2id$v=19$m=65536,t=101,p=4${salt}"), "t=101 is above the bound of 100"),
        (format!("argon2id$v=19$m=65536,t=3,p=65${salt}"), "p=65 is above the bound of 64"),
        (format!("argon2id$v=19$m=65536,t=3,p=4${salt}=="), "salt is not standard base64"),
        ("argon2id$v=19$m=65536,t=3,p=4$EBESExQVFhcYGRobHB0e".to_owned(), "salt is 15 bytes"),
        ("argon2id$v=19$m=65536,t=3,p=4$EBESExQVFhcYGRobHB0eHx8".to_owned(), "salt is 17 bytes"),
        ("argon2id$v=19$m=65536,t=3,p=4$EBESExQVFhcYGRobHB0eH-".to_owned(), "salt is not standard base64"),
        ("argon2id$v=19$m=65536,t=3,p=4$".to_owned(), "salt is 0 bytes"),
    ];
    for (text, expected) in cases {
        match KdfParams::decode(&text) {
            Err(VaultError::KdfParams(reason)) => assert!(reason.contains(expected), "{text:?}: {reason}"),
            other => panic!("{text:?}: expected a KdfParams error, got {other:?}"),
        }
    }
}

#[test]
fn passphrase_derivation_is_deterministic_and_depends_on_every_input() {
    let fast = KdfParams::fast_for_tests(SALT);
    let derive = |passphrase: &[u8], params: &KdfParams| {
        Kek::derive(&MasterKey::stretch(VAR, passphrase, params).unwrap()).check_value()
    };
    let reference = derive(b"correct horse battery staple", &fast);
    assert_eq!(derive(b"correct horse battery staple", &fast), reference);

    let mut other_salt = fast;
    other_salt.salt[0] ^= 1;
    let variants = [
        derive(b"correct horse battery stapler", &fast),
        derive(b"correct horse battery staple", &other_salt),
        derive(b"correct horse battery staple", &KdfParams { m_cost_kib: 512, ..fast }),
        derive(b"correct horse battery staple", &KdfParams { t_cost: 3, ..fast }),
        derive(b"correct horse battery staple", &KdfParams { p_cost: 1, ..fast }),
    ];
    for (i, variant) in variants.iter().enumerate() {
        assert_ne!(*variant, reference, "variant {i}");
    }
}

#[test]
fn argon2id_known_answer() {
    // Argon2id v=19, m=256 KiB, t=2, p=2, salt 10..1f, computed independently with
    // Python's `cryptography`.
    let master = MasterKey::stretch(VAR, b"correct horse battery staple", &KdfParams::fast_for_tests(SALT)).unwrap();
    let expected = kek("hex:42d368c061d80a37749b298ce2b6a20619f383c1216d262de30d52cbf213b8c7");
    assert_eq!(Kek::derive(&master).check_value(), expected.check_value());
}

#[test]
fn from_passphrase_enforces_the_floor_and_refuses_an_empty_passphrase() {
    match MasterKey::from_passphrase(VAR, b"passphrase", &KdfParams::fast_for_tests(SALT)) {
        Err(VaultError::KdfParams(reason)) => assert!(reason.contains("below the floor"), "{reason}"),
        other => panic!("weak parameters accepted: {other:?}"),
    }
    let floor = KdfParams { m_cost_kib: MIN_M_COST_KIB, t_cost: MIN_T_COST, p_cost: MIN_P_COST, salt: SALT };
    match MasterKey::from_passphrase(VAR, b"", &floor) {
        Err(VaultError::MasterKeyMalformed { variable, reason }) => {
            assert_eq!(variable, VAR);
            assert!(reason.contains("empty"), "{reason}");
        }
        other => panic!("empty passphrase accepted: {other:?}"),
    }
    let at_floor = MasterKey::from_passphrase(VAR, b"passphrase", &floor).unwrap();
    let below = MasterKey::stretch(VAR, b"passphrase", &KdfParams::fast_for_tests(SALT)).unwrap();
    assert_ne!(Kek::derive(&at_floor).check_value(), Kek::derive(&below).check_value());
}

// ---- wrapping and sealing ----

const REF: [u8; 16] = [0xa1; 16];

fn value_aad(version: i32) -> Aad<'static> {
    Aad::SecretValue { secret_ref: REF, tenant: Some("acme"), name: "stripe_api_key", version }
}

fn key_aad() -> Aad<'static> {
    Aad::SecretKey { secret_ref: REF, tenant: Some("acme"), name: "stripe_api_key" }
}

#[test]
fn wrap_and_unwrap_round_trip() {
    let kek = kek(KEY_HEX);
    let data_key = DataKey::generate().unwrap();
    let wrapped = kek.wrap(&data_key, &key_aad()).unwrap();
    assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
    assert_eq!(WRAPPED_KEY_LEN, 73);
    assert_eq!(wrapped[0], FORMAT_VERSION);
    let unwrapped = kek.unwrap(&wrapped, &key_aad()).unwrap();
    assert_eq!(unwrapped.bytes(), data_key.bytes());
    assert!(!wrapped.windows(8).any(|w| data_key.bytes().windows(8).any(|k| k == w)), "key bytes in the clear");

    // A value sealed under the original key opens under the unwrapped one.
    let sealed = data_key.seal(b"sk_live_123", &value_aad(1)).unwrap();
    assert_eq!(&unwrapped.open(&sealed, &value_aad(1)).unwrap()[..], b"sk_live_123");

    let keyring = Aad::KeyringKey { name: "default", version: 3 };
    let wrapped = kek.wrap(&data_key, &keyring).unwrap();
    assert_eq!(kek.unwrap(&wrapped, &keyring).unwrap().bytes(), data_key.bytes());
}

#[test]
fn seal_and_open_round_trip() {
    let data_key = DataKey::generate().unwrap();
    for len in [0, 1, 15, 16, 17, 64, 1000, MAX_VALUE_BYTES] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let sealed = data_key.seal(&plaintext, &value_aad(1)).unwrap();
        assert_eq!(sealed.len(), SEAL_OVERHEAD + len);
        assert_eq!(sealed[0], FORMAT_VERSION);
        assert_eq!(&data_key.open(&sealed, &value_aad(1)).unwrap()[..], &plaintext[..], "len {len}");
    }
    let material = Aad::KeyringMaterial { name: "default", version: 1 };
    let sealed = data_key.seal(&[0x5a; 32], &material).unwrap();
    assert_eq!(&data_key.open(&sealed, &material).unwrap()[..], &[0x5a; 32]);
}

#[test]
fn sealed_output_never_contains_the_plaintext() {
    let data_key = DataKey::generate().unwrap();
    let plaintext = b"postgres://app:hunter2-very-secret-password@db.internal:5432/app?sslmode=verify-full";
    let sealed = data_key.seal(plaintext, &value_aad(1)).unwrap();
    for window in plaintext.windows(8) {
        assert!(!sealed.windows(8).any(|w| w == window), "plaintext bytes {window:?} appear in the ciphertext");
    }
}

#[test]
fn two_seals_of_one_value_use_different_nonces() {
    let data_key = DataKey::generate().unwrap();
    let first = data_key.seal(b"same value", &value_aad(1)).unwrap();
    let second = data_key.seal(b"same value", &value_aad(1)).unwrap();
    assert_ne!(first[1..1 + NONCE_LEN], second[1..1 + NONCE_LEN]);
    assert_ne!(first[1 + NONCE_LEN..], second[1 + NONCE_LEN..]);

    let kek = kek(KEY_HEX);
    let first = kek.wrap(&data_key, &key_aad()).unwrap();
    let second = kek.wrap(&data_key, &key_aad()).unwrap();
    assert_ne!(first[1..1 + NONCE_LEN], second[1..1 + NONCE_LEN]);
}

#[test]
fn every_associated_data_field_is_bound() {
    let data_key = DataKey::generate().unwrap();
    let sealed = data_key.seal(b"value", &value_aad(2)).unwrap();
    assert!(data_key.open(&sealed, &value_aad(2)).is_ok());
    let mut other_ref = REF;
    other_ref[15] ^= 1;
    let value_variants = [
        Aad::SecretValue { secret_ref: other_ref, tenant: Some("acme"), name: "stripe_api_key", version: 2 },
        Aad::SecretValue { secret_ref: REF, tenant: None, name: "stripe_api_key", version: 2 },
        Aad::SecretValue { secret_ref: REF, tenant: Some("acme2"), name: "stripe_api_key", version: 2 },
        Aad::SecretValue { secret_ref: REF, tenant: Some("acme"), name: "stripe_api_kez", version: 2 },
        Aad::SecretValue { secret_ref: REF, tenant: Some("acme"), name: "stripe_api_key", version: 1 },
        Aad::SecretValue { secret_ref: REF, tenant: Some("acme"), name: "stripe_api_key", version: -2 },
        Aad::SecretKey { secret_ref: REF, tenant: Some("acme"), name: "stripe_api_key" },
    ];
    for aad in value_variants {
        assert_eq!(data_key.open(&sealed, &aad).unwrap_err(), VaultError::Tampered, "{aad:?}");
    }

    // No tenant and a tenant are told apart in the other direction too.
    let untenanted = Aad::SecretValue { secret_ref: REF, tenant: None, name: "n", version: 1 };
    let sealed = data_key.seal(b"value", &untenanted).unwrap();
    let empty_tenant = Aad::SecretValue { secret_ref: REF, tenant: Some(""), name: "n", version: 1 };
    assert_eq!(data_key.open(&sealed, &empty_tenant).unwrap_err(), VaultError::Tampered);

    let kek = kek(KEY_HEX);
    let wrapped = kek.wrap(&data_key, &key_aad()).unwrap();
    assert!(kek.unwrap(&wrapped, &key_aad()).is_ok());
    let key_variants = [
        Aad::SecretKey { secret_ref: other_ref, tenant: Some("acme"), name: "stripe_api_key" },
        Aad::SecretKey { secret_ref: REF, tenant: None, name: "stripe_api_key" },
        Aad::SecretKey { secret_ref: REF, tenant: Some("acm"), name: "stripe_api_key" },
        Aad::SecretKey { secret_ref: REF, tenant: Some("acme"), name: "stripe_api_ke" },
        Aad::SecretValue { secret_ref: REF, tenant: Some("acme"), name: "stripe_api_key", version: 1 },
    ];
    for aad in key_variants {
        assert_eq!(kek.unwrap(&wrapped, &aad).unwrap_err(), VaultError::Tampered, "{aad:?}");
    }

    // Keyring: the domain alone separates a wrapped key from sealed material.
    let keyring_key = Aad::KeyringKey { name: "default", version: 1 };
    let wrapped = kek.wrap(&data_key, &keyring_key).unwrap();
    for aad in [
        Aad::KeyringMaterial { name: "default", version: 1 },
        Aad::KeyringKey { name: "default", version: 2 },
        Aad::KeyringKey { name: "other", version: 1 },
    ] {
        assert_eq!(kek.unwrap(&wrapped, &aad).unwrap_err(), VaultError::Tampered, "{aad:?}");
    }
    let material = Aad::KeyringMaterial { name: "default", version: 1 };
    let sealed = data_key.seal(&[7; 32], &material).unwrap();
    assert_eq!(data_key.open(&sealed, &keyring_key).unwrap_err(), VaultError::Tampered);
}

#[test]
fn associated_data_encoding() {
    let aad = Aad::SecretValue { secret_ref: [0xab; 16], tenant: None, name: "db", version: 258 };
    let mut expected = Vec::new();
    expected.extend_from_slice(&31u32.to_be_bytes());
    expected.extend_from_slice(b"pg_warden/vault/secret-value/v1");
    expected.extend_from_slice(&[1, 0, 0, 0, 16]);
    expected.extend_from_slice(&[0xab; 16]);
    expected.push(0);
    expected.extend_from_slice(&[1, 0, 0, 0, 2, b'd', b'b']);
    expected.extend_from_slice(&[1, 0, 0, 0, 4, 0, 0, 1, 2]);
    assert_eq!(aad.encode(), expected);

    let keyring = Aad::KeyringMaterial { name: "k", version: -1 };
    let mut expected = Vec::new();
    expected.extend_from_slice(&29u32.to_be_bytes());
    expected.extend_from_slice(b"pg_warden/keyring/material/v1");
    expected.extend_from_slice(&[1, 0, 0, 0, 1, b'k']);
    expected.extend_from_slice(&[1, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(keyring.encode(), expected);

    // Moving a boundary between tenant and name changes the bytes.
    let a = Aad::SecretKey { secret_ref: REF, tenant: Some("ab"), name: "c" };
    let b = Aad::SecretKey { secret_ref: REF, tenant: Some("a"), name: "bc" };
    assert_ne!(a.encode(), b.encode());
    let none = Aad::SecretKey { secret_ref: REF, tenant: None, name: "c" };
    let empty = Aad::SecretKey { secret_ref: REF, tenant: Some(""), name: "c" };
    assert_ne!(none.encode(), empty.encode());
}

#[test]
fn any_changed_byte_fails_authentication() {
    let data_key = DataKey::generate().unwrap();
    let sealed = data_key.seal(b"a short secret", &value_aad(1)).unwrap();
    for i in 0..sealed.len() {
        for bit in [0x01, 0x80] {
            let mut altered = sealed.clone();
            altered[i] ^= bit;
            assert_eq!(data_key.open(&altered, &value_aad(1)).unwrap_err(), VaultError::Tampered, "byte {i}");
        }
    }
    let extended = [sealed.as_slice(), &[0]].concat();
    let resized: [&[u8]; 4] = [&sealed[..sealed.len() - 1], &sealed[..SEAL_OVERHEAD - 1], &[], &extended];
    for altered in resized {
        assert_eq!(data_key.open(altered, &value_aad(1)).unwrap_err(), VaultError::Tampered, "len {}", altered.len());
    }

    let kek = kek(KEY_HEX);
    let wrapped = kek.wrap(&data_key, &key_aad()).unwrap();
    for i in 0..wrapped.len() {
        let mut altered = wrapped.clone();
        altered[i] ^= 0x01;
        assert_eq!(kek.unwrap(&altered, &key_aad()).unwrap_err(), VaultError::Tampered, "byte {i}");
    }
    assert_eq!(kek.unwrap(&wrapped[..72], &key_aad()).unwrap_err(), VaultError::Tampered);
    assert_eq!(kek.unwrap(&[wrapped.as_slice(), &[0]].concat(), &key_aad()).unwrap_err(), VaultError::Tampered);
}

#[test]
fn another_key_fails() {
    let data_key = DataKey::generate().unwrap();
    let wrapped = kek(KEY_HEX).wrap(&data_key, &key_aad()).unwrap();
    assert_eq!(kek(OTHER_KEY_HEX).unwrap(&wrapped, &key_aad()).unwrap_err(), VaultError::Tampered);

    let sealed = data_key.seal(b"value", &value_aad(1)).unwrap();
    let other = DataKey::generate().unwrap();
    assert_ne!(other.bytes(), data_key.bytes());
    assert_eq!(other.open(&sealed, &value_aad(1)).unwrap_err(), VaultError::Tampered);
}

/// The procedure of the module documentation: the check value decides "wrong master key"
/// before any ciphertext is opened, because a wrong key and an altered ciphertext fail
/// decryption alike.
#[test]
fn wrong_master_key_is_told_apart_from_tampering() {
    let created_with = kek(KEY_HEX);
    let stored_check = created_with.check_value();
    let data_key = DataKey::generate().unwrap();
    let wrapped = created_with.wrap(&data_key, &key_aad()).unwrap();

    let restarted_with_another = kek(OTHER_KEY_HEX);
    assert!(!restarted_with_another.matches(&stored_check), "step 1 reports WrongMasterKey");
    assert_eq!(
        restarted_with_another.unwrap(&wrapped, &key_aad()).unwrap_err(),
        VaultError::Tampered,
        "decryption alone cannot tell a wrong key from tampering"
    );

    let restarted_with_same = kek(KEY_BASE64);
    assert!(restarted_with_same.matches(&stored_check));
    let mut altered = wrapped.clone();
    altered[40] ^= 0x04;
    assert_eq!(restarted_with_same.unwrap(&altered, &key_aad()).unwrap_err(), VaultError::Tampered);
    assert!(restarted_with_same.unwrap(&wrapped, &key_aad()).is_ok());

    assert_ne!(VaultError::WrongMasterKey.to_string(), VaultError::Tampered.to_string());
}

#[test]
fn sealed_layout_matches_the_xchacha20poly1305_test_vector() {
    // draft-irtf-cfrg-xchacha-03, appendix A.1.
    let key: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
    let nonce: [u8; 24] = std::array::from_fn(|i| 0x40 + i as u8);
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let plaintext: &[u8] = b"Ladies and Gentlemen of the class of '99: \
        If I could offer you only one tip for the future, sunscreen would be it.";
    let ciphertext = hex::decode(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c670\
         8c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768\
         812f615c68b13b52e",
    )
    .unwrap();
    let tag = hex::decode("c0875924c1c7987947deafd8780acf49").unwrap();
    let expected = [&[FORMAT_VERSION][..], &nonce, &ciphertext, &tag].concat();

    assert_eq!(seal_with_nonce(&key, &nonce, plaintext, &aad), expected);
    assert_eq!(&open_with(&key, &expected, &aad).unwrap()[..], plaintext);
    let mut other_version = expected.clone();
    other_version[0] = 2;
    assert_eq!(open_with(&key, &other_version, &aad).unwrap_err(), VaultError::Tampered);
}

// ---- identifiers and input rules ----

#[test]
fn random_uuids_are_version_4() {
    let a = random_uuid_v4().unwrap();
    let b = random_uuid_v4().unwrap();
    assert_ne!(a, b);
    for uuid in [a, b] {
        assert_eq!(uuid[6] >> 4, 4, "version 4");
        assert_eq!(uuid[8] >> 6, 0b10, "RFC 9562 variant");
    }
}

#[test]
fn name_rules() {
    assert!(check_name("").unwrap_err().contains("empty"));
    assert_eq!(check_name("a"), Ok(()));
    assert_eq!(check_name(&"n".repeat(MAX_NAME_CHARS)), Ok(()));
    assert!(check_name(&"n".repeat(MAX_NAME_CHARS + 1)).unwrap_err().contains("at most 255 characters"));
    assert_eq!(check_name(&"é".repeat(MAX_NAME_CHARS)), Ok(()), "characters, not bytes");
    assert!(check_name(&"é".repeat(MAX_NAME_CHARS + 1)).is_err());
    for name in ["confidential\nname", "confidential\tname", "confidential\u{7f}", "confidential\u{85}", "\0"] {
        let reason = check_name(name).unwrap_err();
        assert!(reason.contains("control characters"), "{name:?}: {reason}");
        assert!(!reason.contains("confidential"), "{reason}");
    }
    assert_eq!(check_name("stripe api key (prod) — ünïcode"), Ok(()));
}

#[test]
fn tenant_rules() {
    assert_eq!(check_tenant(None), Ok(()));
    assert!(check_tenant(Some("")).unwrap_err().contains("use NULL for no tenant"));
    assert_eq!(check_tenant(Some("acme")), Ok(()));
    assert_eq!(check_tenant(Some(&"t".repeat(MAX_NAME_CHARS))), Ok(()));
    assert!(check_tenant(Some(&"t".repeat(MAX_NAME_CHARS + 1))).unwrap_err().contains("at most 255 characters"));
    let reason = check_tenant(Some("acme\r\n")).unwrap_err();
    assert!(reason.contains("control characters") && !reason.contains("acme"), "{reason}");
}

#[test]
fn value_length_rule() {
    assert_eq!(check_value_len(0), Ok(()));
    assert_eq!(check_value_len(MAX_VALUE_BYTES), Ok(()));
    assert_eq!(MAX_VALUE_BYTES, 1_048_576);
    assert!(check_value_len(MAX_VALUE_BYTES + 1).unwrap_err().contains("at most 1048576 bytes"));
}

#[test]
fn errors_are_std_errors_with_distinct_messages() {
    let errors = [
        VaultError::MasterKeyMalformed { variable: VAR, reason: "r".to_owned() },
        VaultError::WrongMasterKey,
        VaultError::Tampered,
        VaultError::KdfParams("r".to_owned()),
        VaultError::Random("r".to_owned()),
    ];
    let messages: Vec<String> = errors.iter().map(|e| (e as &dyn std::error::Error).to_string()).collect();
    for (i, a) in messages.iter().enumerate() {
        for b in &messages[i + 1..] {
            assert_ne!(a, b);
        }
    }
}
