//! Offline verifier of pg_warden audit exports.
//!
//! Exit status: 0 when every entry, checkpoint and the digest verify; 1 when anything was
//! tampered with; 2 on a usage error or a file that cannot be read or parsed.
//!
//! Every line it prints goes through [`say`] or [`complain`], which escape control, line
//! breaking and bidi characters ([`printable`]): text from an export (key names, field
//! names in parse errors) can neither forge a line of the verdict nor drive the terminal.

use std::collections::HashMap;
use std::process::ExitCode;

use warden_core::ledger::{parse_export, timestamp_to_iso, Digest, Report};
use warden_core::mac::KeyedMac;
use warden_core::printable::printable;

const USAGE: &str = "\
usage: warden-verify --export FILE (--key NAME:VERSION:HEXSECRET | --key-env NAME:VERSION:ENVVAR)...
                     [--digest FILE]

  --export FILE      audit export (format pg_warden-audit-export-v1)
  --key SPEC         a key version's secret, in hex; repeat for every version in use
  --key-env SPEC     the same, reading the hex secret from environment variable ENVVAR,
                     so it does not appear in the process list
  --digest FILE      a digest (format pg_warden-digest-v1) kept outside the database;
                     proves the chains were neither truncated nor rewritten since

exit status: 0 valid, 1 tampered, 2 usage or input error";

const EXIT_TAMPERED: u8 = 1;
const EXIT_USAGE: u8 = 2;

struct Options {
    export: String,
    digest: Option<String>,
    keys: HashMap<(String, i32), KeyedMac>,
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
            "--export" | "--digest" => return Err(format!("{arg} given twice")),
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
    let export = export.ok_or("--export is required")?;
    if keys.is_empty() {
        return Err("give at least one --key or --key-env".to_owned());
    }
    Ok(Command::Verify(Options { export, digest, keys }))
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
    let text = std::fs::read_to_string(&options.export).map_err(|e| format!("cannot read {}: {e}", options.export))?;
    let export = parse_export(&text).map_err(|e| format!("{}: {e}", options.export))?;
    let digest = match &options.digest {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            Some(Digest::parse(&text).map_err(|e| format!("{path}: {e}"))?)
        }
    };
    let report = export.verify(digest.as_ref(), |name, version| options.keys.get(&(name.to_owned(), version)).cloned());

    say(&format!(
        "export {}: {} entries, {} checkpoints",
        options.export,
        report.total_entries,
        export.checkpoints.len()
    ));
    if let (Some(path), Some(digest)) = (&options.digest, &digest) {
        say(&format!(
            "digest {path}: generated {}, {} chains, key {} version {}",
            timestamp_to_iso(digest.generated_at),
            digest.chains.len(),
            digest.key_name,
            digest.key_version
        ));
    }
    print_chains(&report);
    if report.is_valid() {
        say(&format!(
            "VALID: every entry, checkpoint{} verified",
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

/// Prints one line of the report on stdout, escaped.
fn say(line: &str) {
    println!("{}", printable(line));
}

/// Prints one error line on stderr, escaped: messages name paths and fields of the input.
fn complain(message: &str) {
    eprintln!("warden-verify: {}", printable(message));
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
        assert_eq!(options.export, "x.json");
        assert_eq!(options.digest.as_deref(), Some("d"));
        let mut names: Vec<_> = options.keys.keys().cloned().collect();
        names.sort();
        assert_eq!(names, vec![("audit".to_owned(), 2), ("ns:audit".to_owned(), 1)]);
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
    }

    #[test]
    fn usage_errors_never_echo_secrets() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "--export is required"),
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
