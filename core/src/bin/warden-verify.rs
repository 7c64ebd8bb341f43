//! Offline verifier of pg_warden audit exports, and of the inclusion and consistency
//! proofs the extension gives for its ledger's Merkle tree.
//!
//! Exit status: 0 when everything checked verifies (every entry, checkpoint and the
//! digest of an export; the entry, proof and tree head of an inclusion proof; both tree
//! heads and the proof of a consistency proof); 1 when anything was tampered with; 2 on a
//! usage error or a file that cannot be read or parsed.
//!
//! Every line it prints goes through [`say`] or [`complain`], which escape control, line
//! breaking and bidi characters ([`printable`]): text from an export (key names, field
//! names in parse errors) can neither forge a line of the verdict nor drive the terminal.

use std::collections::HashMap;
use std::process::ExitCode;

use warden_core::ledger::{
    parse_export, timestamp_to_iso, ConsistencyDocument, Digest, InclusionDocument, LedgerEntry, ProofReport, Report,
    TreeHead,
};
use warden_core::mac::KeyedMac;
use warden_core::printable::printable;

const USAGE: &str = "\
usage: warden-verify --export FILE KEYS... [--digest FILE]
       warden-verify --proof FILE KEYS...
       warden-verify --consistency FILE KEYS...
where KEYS is (--key NAME:VERSION:HEXSECRET | --key-env NAME:VERSION:ENVVAR)

  --export FILE       audit export (format pg_warden-audit-export-v1, or -v2 with
                      redacted entries and their redaction records)
  --digest FILE       a digest (format pg_warden-digest-v1) kept outside the database;
                      proves the chains were neither truncated nor rewritten since
  --proof FILE        an entry's inclusion proof (format pg_warden-inclusion-proof-v1,
                      from warden.audit_proof): the entry, its place in the Merkle tree
                      and the signed tree head
  --consistency FILE  a consistency proof (format pg_warden-consistency-proof-v1, from
                      warden.audit_consistency): the later signed tree head extends the
                      earlier one; compare its old head with one kept outside the database
  --key SPEC          a key version's secret, in hex; repeat for every version in use
  --key-env SPEC      the same, reading the hex secret from environment variable ENVVAR,
                      so it does not appear in the process list

exit status: 0 valid, 1 tampered, 2 usage or input error";

const EXIT_TAMPERED: u8 = 1;
const EXIT_USAGE: u8 = 2;

struct Options {
    input: Input,
    keys: HashMap<(String, i32), KeyedMac>,
}

/// What to verify: one document, of one of three kinds.
#[derive(Debug, PartialEq, Eq)]
enum Input {
    /// An export, and the digest to check it against.
    Export { path: String, digest: Option<String> },
    /// An inclusion proof document.
    Proof(String),
    /// A consistency proof document.
    Consistency(String),
}

enum Command {
    Help,
    Verify(Options),
}

fn main() -> ExitCode {
    let command = parse_args(std::env::args_os().skip(1), |name| std::env::var(name).ok());
    match command {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Verify(options)) => match run(&options) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(EXIT_TAMPERED),
            Err(message) => {
                complain(&message);
                ExitCode::from(EXIT_USAGE)
            }
        },
        Err(message) => {
            complain(&message);
            eprintln!("\n{USAGE}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn parse_args(
    args: impl Iterator<Item = std::ffi::OsString>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut export = None;
    let mut digest = None;
    let mut proof = None;
    let mut consistency = None;
    let mut keys = HashMap::new();
    let mut args = args.map(|a| a.into_string().map_err(|_| "arguments must be UTF-8".to_owned()));
    while let Some(arg) = args.next() {
        let arg = arg?;
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let mut value = || args.next().unwrap_or_else(|| Err(format!("{arg} needs a value")));
        match arg.as_str() {
            "--export" if export.is_none() => export = Some(value()?),
            "--digest" if digest.is_none() => digest = Some(value()?),
            "--proof" if proof.is_none() => proof = Some(value()?),
            "--consistency" if consistency.is_none() => consistency = Some(value()?),
            "--export" | "--digest" | "--proof" | "--consistency" => return Err(format!("{arg} given twice")),
            "--key" => {
                let spec = value()?;
                let (name, version, secret) = parse_key_spec(&spec, "--key")?;
                add_key(&mut keys, name, version, secret)?;
            }
            "--key-env" => {
                let spec = value()?;
                let (name, version, variable) = parse_key_spec(&spec, "--key-env")?;
                let secret = env(variable).ok_or_else(|| format!("environment variable {variable} is not set"))?;
                add_key(&mut keys, name, version, &secret)?;
            }
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let input = match (export, proof, consistency) {
        (Some(path), None, None) => Input::Export { path, digest },
        (None, Some(path), None) if digest.is_none() => Input::Proof(path),
        (None, None, Some(path)) if digest.is_none() => Input::Consistency(path),
        (None, None, None) => return Err("--export, --proof or --consistency is required".to_owned()),
        (None, Some(_), None) | (None, None, Some(_)) => return Err("--digest goes with --export only".to_owned()),
        _ => return Err("give only one of --export, --proof and --consistency".to_owned()),
    };
    if keys.is_empty() {
        return Err("give at least one --key or --key-env".to_owned());
    }
    Ok(Command::Verify(Options { input, keys }))
}

/// Splits `NAME:VERSION:LAST`; the name may itself hold colons.
fn parse_key_spec<'s>(spec: &'s str, flag: &str) -> Result<(&'s str, i32, &'s str), String> {
    let mut parts = spec.rsplitn(3, ':');
    let (Some(last), Some(version), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{flag} expects NAME:VERSION:{}", if flag == "--key" { "HEXSECRET" } else { "ENVVAR" }));
    };
    let version = version.parse().map_err(|_| format!("{flag} {name}: version must be an integer"))?;
    if name.is_empty() {
        return Err(format!("{flag}: key name is empty"));
    }
    Ok((name, version, last))
}

fn add_key(
    keys: &mut HashMap<(String, i32), KeyedMac>,
    name: &str,
    version: i32,
    hex_secret: &str,
) -> Result<(), String> {
    // Messages name the key version, never the secret.
    let secret =
        hex::decode(hex_secret.trim()).map_err(|_| format!("secret of key {name} version {version} is not hex"))?;
    if secret.is_empty() {
        return Err(format!("secret of key {name} version {version} is empty"));
    }
    match keys.insert((name.to_owned(), version), KeyedMac::new(&secret)) {
        Some(_) => Err(format!("key {name} version {version} given twice")),
        None => Ok(()),
    }
}

/// Verifies and prints the outcome; `Ok(valid)`, or `Err` when an input is unusable.
fn run(options: &Options) -> Result<bool, String> {
    let keys = |name: &str, version| options.keys.get(&(name.to_owned(), version)).cloned();
    match &options.input {
        Input::Export { path, digest } => run_export(path, digest.as_deref(), keys),
        Input::Proof(path) => run_proof(path, keys),
        Input::Consistency(path) => run_consistency(path, keys),
    }
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn run_export(
    path: &str,
    digest_path: Option<&str>,
    keys: impl FnMut(&str, i32) -> Option<KeyedMac>,
) -> Result<bool, String> {
    let text = read(path)?;
    let export = parse_export(&text).map_err(|e| format!("{path}: {e}"))?;
    let digest = match digest_path {
        None => None,
        Some(path) => Some(Digest::parse(&read(path)?).map_err(|e| format!("{path}: {e}"))?),
    };
    let report = export.verify(digest.as_ref(), keys);

    let records = match export.redaction_records.len() {
        0 => String::new(),
        n => format!(", {n} redaction records"),
    };
    say(&format!("export {path}: {} entries, {} checkpoints{records}", report.total_entries, export.checkpoints.len()));
    if let (Some(path), Some(digest)) = (digest_path, &digest) {
        say(&format!(
            "digest {path}: generated {}, {} chains, key {} version {}",
            timestamp_to_iso(digest.generated_at),
            digest.chains.len(),
            digest.key_name,
            digest.key_version
        ));
    }
    print_chains(&report);
    print_redacted(&report);
    if report.is_valid() {
        let redacted = match report.redacted_entries {
            0 => String::new(),
            n => format!("; {n} entries redacted under signed redaction records"),
        };
        say(&format!(
            "VALID: every entry, checkpoint{} verified{redacted}",
            if digest.is_some() { " and the digest" } else { "" }
        ));
    } else {
        say(&format!(
            "TAMPERED: {} of {} entries invalid, {} issues",
            report.invalid_entries,
            report.total_entries,
            report.issues.len()
        ));
        for issue in &report.issues {
            say(&format!("  {issue}"));
        }
    }
    Ok(report.is_valid())
}

fn run_proof(path: &str, keys: impl FnMut(&str, i32) -> Option<KeyedMac>) -> Result<bool, String> {
    let text = read(path)?;
    let document = InclusionDocument::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let report = document.verify(keys);
    let entry = document.entry.entry();
    let position = match (entry.chain.chain_id, entry.chain.chain_pos) {
        (Some(chain), Some(pos)) => format!("chain {chain}, position {pos}"),
        _ => "no chain position".to_owned(),
    };
    say(&format!(
        "proof {path}: entry id {} ({position}), leaf {} of {}",
        entry.content.id, document.leaf_index, document.tree_size
    ));
    print_head("tree head", &document.tree_head);
    print_verdict(&report, "the entry, its inclusion proof and the tree head verified")
}

fn run_consistency(path: &str, keys: impl FnMut(&str, i32) -> Option<KeyedMac>) -> Result<bool, String> {
    let text = read(path)?;
    let document = ConsistencyDocument::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let report = document.verify(keys);
    say(&format!(
        "consistency {path}: from {} leaves to {}, {} proof hashes",
        document.old_head.tree_size,
        document.new_head.tree_size,
        document.proof.len()
    ));
    print_head("old tree head", &document.old_head);
    print_head("new tree head", &document.new_head);
    print_verdict(&report, "both tree heads and the consistency proof verified")
}

fn print_head(role: &str, head: &TreeHead) {
    say(&format!(
        "{role}: {} leaves, root {}, made {}, key {} version {}",
        head.tree_size,
        hex::encode(head.root),
        timestamp_to_iso(head.timestamp),
        head.key_name,
        head.key_version
    ));
}

fn print_verdict(report: &ProofReport, what_verified: &str) -> Result<bool, String> {
    if report.is_valid() {
        say(&format!("VALID: {what_verified}"));
    } else {
        say(&format!("TAMPERED: {} issues", report.issues.len()));
        for issue in &report.issues {
            say(&format!("  {issue}"));
        }
    }
    Ok(report.is_valid())
}

/// Prints one line of the report on stdout, escaped.
fn say(line: &str) {
    println!("{}", printable(line));
}

/// Prints one error line on stderr, escaped: messages name paths and fields of the input.
fn complain(message: &str) {
    eprintln!("warden-verify: {}", printable(message));
}

/// Lists the valid entries whose content was partly erased, and what was erased.
fn print_redacted(report: &Report) {
    for entry in &report.redacted {
        say(&format!(
            "redacted: entry id {} (chain {}, position {}): {}",
            entry.entry_id, entry.chain_id, entry.chain_pos, entry.fields
        ));
    }
}

fn print_chains(report: &Report) {
    for chain in &report.chains {
        let head = chain.head_hash.map_or_else(|| "malformed".to_owned(), hex::encode);
        say(&format!(
            "chain {}: positions {}..{} ({} held), head {}",
            chain.chain_id, chain.first_pos, chain.head_pos, chain.positions, head
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = std::ffi::OsString> {
        list.iter().map(std::ffi::OsString::from).collect::<Vec<_>>().into_iter()
    }

    fn parse(list: &[&str]) -> Result<Command, String> {
        parse_args(args(list), |name| (name == "AUDIT_KEY").then(|| "0a0b".to_owned()))
    }

    #[test]
    fn accepts_keys_inline_and_from_the_environment() {
        let Ok(Command::Verify(options)) = parse(&[
            "--export",
            "x.json",
            "--key",
            "ns:audit:1:00ff",
            "--key-env",
            "audit:2:AUDIT_KEY",
            "--digest",
            "d",
        ]) else {
            panic!("expected options");
        };
        assert_eq!(options.input, Input::Export { path: "x.json".to_owned(), digest: Some("d".to_owned()) });
        let mut names: Vec<_> = options.keys.keys().cloned().collect();
        names.sort();
        assert_eq!(names, vec![("audit".to_owned(), 2), ("ns:audit".to_owned(), 1)]);
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
    }

    #[test]
    fn accepts_one_proof_document() {
        for (flag, expected) in
            [("--proof", Input::Proof("p.json".to_owned())), ("--consistency", Input::Consistency("p.json".to_owned()))]
        {
            let Ok(Command::Verify(options)) = parse(&[flag, "p.json", "--key-env", "audit:2:AUDIT_KEY"]) else {
                panic!("expected options for {flag}");
            };
            assert_eq!(options.input, expected);
            assert_eq!(options.keys.len(), 1);
        }
        let Ok(Command::Verify(options)) = parse(&["--export", "x.json", "--key", "audit:1:00"]) else {
            panic!("expected options");
        };
        assert_eq!(options.input, Input::Export { path: "x.json".to_owned(), digest: None });
    }

    #[test]
    fn usage_errors_never_echo_secrets() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "--export, --proof or --consistency is required"),
            (&["--key", "audit:1:00"], "--export, --proof or --consistency is required"),
            (&["--proof", "p", "--export", "x", "--key", "audit:1:00"], "only one of"),
            (&["--proof", "p", "--consistency", "c", "--key", "audit:1:00"], "only one of"),
            (&["--proof", "p", "--digest", "d", "--key", "audit:1:00"], "--digest goes with --export only"),
            (&["--consistency", "c", "--digest", "d", "--key", "audit:1:00"], "--digest goes with --export only"),
            (&["--digest", "d", "--key", "audit:1:00"], "--export, --proof or --consistency is required"),
            (&["--proof", "p", "--proof", "q"], "given twice"),
            (&["--consistency"], "--consistency needs a value"),
            (&["--proof", "p"], "at least one --key"),
            (&["--proof", "p", "--key", "audit:1:hunter2"], "is not hex"),
            (&["--export", "x"], "at least one --key"),
            (&["--export"], "--export needs a value"),
            (&["--export", "x", "--export", "y"], "given twice"),
            (&["--export", "x", "--key", "audit:1"], "NAME:VERSION:HEXSECRET"),
            (&["--export", "x", "--key", "audit:v1:00"], "version must be an integer"),
            (&["--export", "x", "--key", ":1:00"], "key name is empty"),
            (&["--export", "x", "--key", "audit:1:hunter2"], "is not hex"),
            (&["--export", "x", "--key", "audit:1:"], "is empty"),
            (&["--export", "x", "--key", "audit:1:00", "--key", "audit:1:01"], "given twice"),
            (&["--export", "x", "--key-env", "audit:1:MISSING"], "MISSING is not set"),
            (&["--export", "x", "--verbose"], "unknown argument"),
        ];
        for (list, expected) in cases {
            match parse(list) {
                Err(message) => {
                    assert!(message.contains(expected), "{message}");
                    assert!(!message.contains("hunter2"), "{message}");
                }
                Ok(_) => panic!("accepted {list:?}"),
            }
        }
    }
}
