//! Offline checker and converter of pg_warden anonymization profiles, for CI: a profile
//! file in YAML or JSON is checked as `warden.validate_profile` checks it, without a
//! database, and YAML is converted to the JSON that `warden.apply_profile` takes.
//!
//! `check FILE` reports every problem core finds (structure, fields, versions,
//! strategies and their options, aliases, table names, duplicate columns, seeds and
//! `seed_env_var`s), each with its JSON path; what only the database knows (tables,
//! columns and their types, indexes, partitions, foreign keys, the keyring key,
//! privileges) is left to `warden.validate_profile`. A `seed_env_var` is read from this
//! process's environment, which is the server's when run beside it: run where the
//! variables are set, or expect them reported missing.
//!
//! `convert FILE` prints the document as compact JSON with its keys sorted, as written
//! (`seed_env_var`s named, not read) and without checking it.
//!
//! A file is YAML when its name ends in `.yaml` or `.yml`, JSON when it ends in `.json`;
//! any other file (and `-`, standard input) is JSON when it parses as JSON, otherwise
//! YAML. Exit status: 0 valid (or converted), 1 problems found, 2 usage, read or parse
//! error. Every line goes through [`printable`]: names from the file cannot forge a line
//! or drive the terminal.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;
use warden_core::printable::printable;
use warden_core::profile::{self, SEED_ENV_PREFIX};
use warden_core::{json, yaml};

const USAGE: &str = "\
usage: warden-profile check FILE
       warden-profile convert FILE

  check FILE    checks an anonymization profile (YAML or JSON) without a database: every
                problem with its JSON path. Tables, columns, types and the key are
                checked against the database by warden.validate_profile. seed_env_var
                variables are read from this process's environment.
  convert FILE  prints the profile as the JSON warden.apply_profile takes: compact, keys
                sorted, not checked
  FILE          .yaml or .yml: YAML; .json: JSON; otherwise (or - for standard input)
                JSON if it parses as JSON, else YAML

exit status: 0 valid or converted, 1 problems found, 2 usage, read or parse error";

const EXIT_PROBLEMS: u8 = 1;
const EXIT_USAGE: u8 = 2;

enum Command {
    Help,
    Check(String),
    Convert(String),
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            complain(&message);
            eprintln!("\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let outcome = match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Check(file) => read_document(&file).map(|doc| check(&file, &doc)),
        Command::Convert(file) => read_document(&file).map(|doc| {
            println!("{}", json::canonical_text(&doc));
            true
        }),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_PROBLEMS),
        Err(message) => {
            complain(&message);
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn parse_args(args: impl Iterator<Item = std::ffi::OsString>) -> Result<Command, String> {
    let args: Vec<String> = args
        .map(|arg| arg.into_string().map_err(|_| "arguments must be UTF-8".to_owned()))
        .collect::<Result<_, _>>()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => Err("give a command: check or convert".to_owned()),
        [help] if matches!(*help, "-h" | "--help" | "help") => Ok(Command::Help),
        ["check", file] => Ok(Command::Check((*file).to_owned())),
        ["convert", file] => Ok(Command::Convert((*file).to_owned())),
        ["check" | "convert"] => Err(format!("{} needs a FILE", args[0])),
        ["check" | "convert", ..] => Err(format!("{} takes one FILE", args[0])),
        [other, ..] => Err(format!("unknown command {other}")),
    }
}

/// The profile document in `file`, as JSON.
fn read_document(file: &str) -> Result<Value, String> {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read standard input: {e}"))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?
    };
    let extension = Path::new(file).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let as_yaml = |text: &str| yaml::parse(text).map_err(|e| format!("{file}: invalid YAML: {e}"));
    match extension.as_deref() {
        Some("json") => json::parse(&text).map_err(|e| format!("{file}: {e}")),
        Some("yaml" | "yml") => as_yaml(&text),
        _ => json::parse(&text).or_else(|_| as_yaml(&text)),
    }
}

/// Checks `doc`, printing every problem or a one-line summary; whether it is valid.
fn check(file: &str, doc: &Value) -> bool {
    let reading = profile::read(doc, server_variable);
    let Some(profile) = reading.profile else {
        for problem in &reading.problems {
            say(&problem.to_string());
        }
        say(&format!("{file}: {}", counted(reading.problems.len(), "problem", "problems")));
        return false;
    };
    let columns = profile.tables.iter().map(|t| t.columns.len()).sum();
    say(&format!(
        "{file}: profile {} version {} is valid offline ({}, {}, {}); warden.validate_profile checks it against \
         the database",
        Value::from(profile.name.as_str()),
        profile.version,
        counted(profile.tables.len(), "table", "tables"),
        counted(columns, "column", "columns"),
        counted(profile.strategies.len(), "alias", "aliases"),
    ));
    true
}

/// `1 table`, `2 tables`.
fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// A `WARDEN_*` variable of this process, as the extension reads the server's.
fn server_variable(name: &str) -> Option<String> {
    name.starts_with(SEED_ENV_PREFIX)
        .then(|| std::env::var_os(name))
        .flatten()
        .map(|value| value.to_string_lossy().into_owned())
}

/// Prints one line of the result, escaped: problems quote names from the file.
fn say(line: &str) {
    println!("{}", printable(line));
}

/// Prints one error line on stderr, escaped.
fn complain(message: &str) {
    eprintln!("warden-profile: {}", printable(message));
}
