//! `warden-profile` run as a process on the profiles under `tests/data/profiles`: `check`
//! reports every problem at its path and exits 1, or prints one summary line and exits 0;
//! `convert` prints the JSON form, the same for a YAML file and its JSON twin; usage,
//! read and parse errors exit 2. Each run gets only the environment the test gives it,
//! so `seed_env_var` lookups are the test's.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/profiles").join(name)
}

/// Runs `warden-profile ARGS` with only `environment` set, feeding `stdin` if given.
fn run(args: &[&str], environment: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warden-profile"));
    command.args(args).env_clear().envs(environment.iter().copied());
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("run warden-profile");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("write stdin");
    drop(input);
    let output = child.wait_with_output().expect("wait");
    Run {
        status: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8"),
    }
}

fn run_on(args: &[&str], file: &Path, environment: &[(&str, &str)]) -> Run {
    let file = file.to_str().expect("UTF-8 path");
    let mut all: Vec<&str> = args.to_vec();
    all.push(file);
    run(&all, environment, None)
}

/// A file holding `text`, named `name` in this test binary's temporary directory.
fn temporary(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("warden_profile_{}_{name}", std::process::id()));
    std::fs::write(&path, text).expect("write");
    path
}

const STAGING_SEEDS: [(&str, &str); 2] = [("WARDEN_STAGING_MAIL_SEED", "4"), ("WARDEN_STAGING_ID_SEED", "9")];

#[test]
fn a_valid_profile_gets_one_summary_line() {
    for file in ["staging.yaml", "staging.json"] {
        let path = data(file);
        let run = run_on(&["check"], &path, &STAGING_SEEDS);
        assert_eq!(run.status, Some(0), "{file}: {}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stdout,
            format!(
                "{}: profile \"staging\" version 1 is valid offline (2 tables, 6 columns, 3 aliases); \
                 warden.validate_profile checks it against the database\n",
                path.display()
            )
        );
        assert_eq!(run.stderr, "");
    }
}

#[test]
fn seed_variables_come_from_the_environment_of_the_process() {
    let path = data("staging.yaml");
    let run = run_on(&["check"], &path, &[("WARDEN_STAGING_MAIL_SEED", "4"), ("WARDEN_STAGING_ID_SEED", "nine")]);
    assert_eq!(run.status, Some(1));
    assert_eq!(
        run.stdout,
        format!(
            "$.tables.\"public.users\".rules[3].seed_env_var: environment variable WARDEN_STAGING_ID_SEED does not \
             hold an integer from -9223372036854775808 to 9223372036854775807\n{}: 1 problem\n",
            path.display()
        )
    );
    let run = run_on(&["check"], &path, &[]);
    assert_eq!(run.status, Some(1));
    let problems: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        problems[..3],
        [
            "$.strategies.backup_mail.config.seed_env_var: environment variable WARDEN_STAGING_MAIL_SEED is not set",
            "$.strategies.mail.config.seed_env_var: environment variable WARDEN_STAGING_MAIL_SEED is not set",
            "$.tables.\"public.users\".rules[3].seed_env_var: environment variable WARDEN_STAGING_ID_SEED is not set",
        ]
    );
}

#[test]
fn every_problem_is_printed_with_its_path() {
    let path = data("broken.yaml");
    // HOME is set, but a profile may not name it; the wordy variable's value is never printed.
    let run = run_on(&["check"], &path, &[("HOME", "12"), ("WARDEN_BROKEN_WORDY", "hunter2")]);
    assert_eq!(run.status, Some(1), "{}", run.stderr);
    let expected = [
        "$.owner: unknown field; allowed: name, version, global_seed, key, strategies, tables",
        "$.version: expected an integer of at least 1",
        "$.strategies.home.options.seed_env_var: expected the name of an environment variable starting with \
         WARDEN_, then letters, digits and '_', found \"HOME\"",
        "$.strategies.loud.config.seed_env_var: environment variable WARDEN_BROKEN_WORDY does not hold an integer \
         from -9223372036854775808 to 9223372036854775807",
        // YAML 1.2: `no` is a string, so it is refused rather than read as false.
        "$.strategies.loud.config.case_sensitive: expected true or false, found a string",
        "$.strategies.mail.config: options are given too: give a strategy's parameters once, as options or as config",
        "$.tables.\"public.users\".comment: unknown field; allowed: rules",
        "$.tables.\"public.users\".rules[0].seed_env_var: environment variable WARDEN_BROKEN_UNSET is not set",
        "$.tables.\"public.users\".rules[1].column: duplicate column (first at index 0)",
        "$.tables.\"public.users\".rules[2].strategy: \"fone\" is neither an alias defined in $.strategies nor a \
         strategy type (hash, email, phone, digits, redact, partial)",
        "$.tables.users: table names are written schema.table as the catalog stores them: exactly one '.', both \
         parts non-empty, without quotes or surrounding spaces",
    ];
    let mut lines: Vec<String> = expected.iter().map(|line| (*line).to_owned()).collect();
    lines.push(format!("{}: 11 problems", path.display()));
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), lines);
    assert!(!run.stdout.contains("hunter2"));
    assert_eq!(run.stderr, "");
}

#[test]
fn yaml_converts_to_the_json_form() {
    let from_yaml = run_on(&["convert"], &data("staging.yaml"), &[]);
    let from_json = run_on(&["convert"], &data("staging.json"), &[]);
    assert_eq!((from_yaml.status, from_json.status), (Some(0), Some(0)), "{}{}", from_yaml.stderr, from_json.stderr);
    assert_eq!(from_yaml.stdout, from_json.stdout);
    // One line of compact JSON, keys sorted, seed variables named and not read.
    let expected = warden_core::json::canonical_text(
        &warden_core::json::parse(&std::fs::read_to_string(data("staging.json")).expect("read")).expect("JSON"),
    );
    assert_eq!(from_yaml.stdout, format!("{expected}\n"));
    assert!(from_yaml.stdout.starts_with(r#"{"global_seed":11,"key":"anon","name":"staging","strategies":{"#));
    assert!(from_yaml.stdout.contains(r#"{"column":"no","strategy":"hash"}"#), "{}", from_yaml.stdout);
    // The converted JSON checks as the YAML does.
    let converted = temporary("converted.json", &from_yaml.stdout);
    assert_eq!(run_on(&["check"], &converted, &STAGING_SEEDS).status, Some(0));
}

#[test]
fn an_unquoted_version_keeps_its_text() {
    let path = temporary("version.yaml", "name: n\nversion: 2.0\nstrategies: {}\ntables: {}\n");
    let converted = run_on(&["convert"], &path, &[]);
    assert_eq!(converted.stdout, "{\"name\":\"n\",\"strategies\":{},\"tables\":{},\"version\":2.0}\n");
    let checked = run_on(&["check"], &path, &[]);
    assert_eq!(checked.status, Some(0), "{}", checked.stdout);
    assert!(checked.stdout.contains("profile \"n\" version 2 is valid offline"), "{}", checked.stdout);
}

#[test]
fn the_format_follows_the_extension_or_the_content() {
    let yaml_text = "name: n\nversion: 1\nstrategies: {}\ntables: {}\n";
    let json_text = r#"{"name": "n", "version": 1, "strategies": {}, "tables": {}}"#;
    // No extension: JSON when it parses as JSON, else YAML.
    for (name, text) in [("sniffed-yaml", yaml_text), ("sniffed-json", json_text), ("profile.YML", yaml_text)] {
        let checked = run_on(&["check"], &temporary(name, text), &[]);
        assert_eq!(checked.status, Some(0), "{name}: {}{}", checked.stdout, checked.stderr);
    }
    // A .json file is JSON only.
    let checked = run_on(&["check"], &temporary("yaml-in.json", yaml_text), &[]);
    assert_eq!(checked.status, Some(2));
    assert!(checked.stderr.contains("invalid JSON"), "{}", checked.stderr);
    // Standard input, as `-`.
    let converted = run(&["convert", "-"], &[], Some(yaml_text));
    let expected = "{\"name\":\"n\",\"strategies\":{},\"tables\":{},\"version\":1}\n";
    assert_eq!((converted.status, converted.stdout.as_str()), (Some(0), expected));
}

#[test]
fn unreadable_input_exits_2() {
    let cases = [
        (
            "duplicate.yaml",
            "name: a\nname: b\n",
            "line 2 column 1 (at $): duplicate key \"name\": YAML allows each key once",
        ),
        ("alias.yaml", "strategies:\n  s: {type: redact, options: {mask_char: *}}\n", "line 2 column"),
        ("two.yaml", "name: a\n---\nname: b\n", "a second YAML document"),
        ("key.yaml", "tables:\n  1: []\n", "(at $.tables): the key \"1\" is not a string"),
        ("deep.yaml", &format!("{}x\n", "- ".repeat(10_000)), "nested deeper than 127 levels"),
    ];
    for (name, text, fragment) in cases {
        let path = temporary(name, text);
        for command in ["check", "convert"] {
            let run = run_on(&[command], &path, &[]);
            assert_eq!(run.status, Some(2), "{name} {command}: {}", run.stdout);
            assert_eq!(run.stdout, "");
            assert!(
                run.stderr.starts_with(&format!("warden-profile: {}: invalid YAML: ", path.display())),
                "{}",
                run.stderr
            );
            assert!(run.stderr.contains(fragment), "{name}: {}", run.stderr);
        }
    }
    let missing = data("missing.yaml");
    let run = run_on(&["check"], &missing, &[]);
    assert_eq!(run.status, Some(2));
    assert!(run.stderr.starts_with(&format!("warden-profile: cannot read {}", missing.display())), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_2() {
    for args in [&[][..], &["check"][..], &["verify", "x"][..], &["check", "a", "b"][..], &["--file", "x"][..]] {
        let run = run(args, &[], None);
        assert_eq!(run.status, Some(2), "{args:?}");
        assert!(run.stderr.contains("usage: warden-profile check FILE"), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    let help = run(&["--help"], &[], None);
    assert_eq!(help.status, Some(0));
    assert!(help.stdout.starts_with("usage: warden-profile check FILE"));
}

/// Names from the file are printed escaped: one problem is one line.
#[test]
fn hostile_names_cannot_forge_a_line() {
    let hostile = "public.t\\nprofile \\\"x\\\" version 1 is valid offline\\u001b[32m";
    let path = temporary(
        "hostile.yaml",
        &format!("name: n\nversion: 1\nstrategies: {{}}\ntables:\n  \"{hostile}\": [{{column: c, strategy: nope}}]\n"),
    );
    let run = run_on(&["check"], &path, &[]);
    assert_eq!(run.status, Some(1));
    // Two problems (the name is malformed, the strategy unknown) and the count, no more.
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    for problem in &lines[..2] {
        assert!(problem.starts_with("$.tables.\"public.t\\\\nprofile \\\\\"x"), "{problem}");
    }
    assert!(lines[2].ends_with(": 2 problems"));
    assert!(!run.stdout.contains('\u{1b}'));
}
