//! Anonymization profiles: which strategy masks which column.
//!
//! A profile is a JSON document:
//!
//! ```json
//! {
//!   "name": "staging",
//!   "version": 3,
//!   "global_seed": 42,
//!   "key": "anon",
//!   "strategies": {
//!     "pii_email": {"type": "email", "options": {"domain": "keep"}},
//!     "last4": {"type": "partial", "config": {"suffix": 4, "seed_env_var": "WARDEN_CARD_SEED"}}
//!   },
//!   "tables": {
//!     "public.users": [
//!       {"column": "email", "strategy": "pii_email"},
//!       {"column": "phone", "strategy": "phone", "seed": 7}
//!     ],
//!     "public.cards": {"rules": [{"column": "pan", "strategy": "last4"}]}
//!   }
//! }
//! ```
//!
//! - `name` (non-empty string), `version`, `strategies` and `tables` are required;
//!   `global_seed` (integer, default 0) and `key` (keyring key name, default `"default"`)
//!   are optional. Unknown fields are refused at every level.
//! - `version` is an integer of at least 1, or the same as a string, `"3"` or `"3.0"`
//!   (as profiles of the system pg_warden replaces write it); a number written `3.0`
//!   (what YAML makes of an unquoted `3.0`) is 3 too. Any other fraction, sign, leading
//!   zero, exponent or text is a problem.
//! - `strategies` maps aliases to `{"type", "options"?}`; the parameters may be named
//!   `config` instead of `options`, never both. They are checked as [`Strategy::parse`]
//!   checks them, except `seed_env_var`, which is the alias's seed (below).
//! - A column's `strategy` names an alias; a name that is not an alias but is a strategy
//!   type stands for that type with default options. An alias named like a type shadows
//!   it, so `"email": {"type": "email", "options": {"domain": "keep"}}` redefines what
//!   `email` means throughout the profile.
//! - A table's columns are an array of rules, or an object `{"rules": [...]}`.
//! - A column's seed is, in this order: its own `seed`; its own `seed_env_var`; the
//!   `seed_env_var` of the alias it uses; `global_seed`; 0. The most specific wins, as
//!   `seed` wins over `global_seed`. A `seed_env_var` names an environment variable of
//!   the server, starting with [`SEED_ENV_PREFIX`], holding a decimal integer seed
//!   (surrounding white space ignored). Every `seed_env_var` written is checked, even one
//!   that a more specific seed overrides: a missing, unnamed or non-integer variable is a
//!   problem at its path, and no problem quotes a variable's value. The variables holding
//!   the vault's master key ([`KEY_MATERIAL_VARIABLES`]) are refused without being read.
//!   This module reads no environment: [`read`] and [`validate`] take the lookup.
//! - Table keys are `schema.table` as the catalog stores the names: exactly one '.',
//!   no quotes, no case folding. Whether tables and columns exist, and their types, is
//!   for the extension to look up in the database; [`compat`] says what it accepts.
//!
//! [`validate`] reports every problem at once, each with the JSON path where it lies
//! (`$.tables."public.users"[0].strategy`, `$.tables."public.cards".rules[0].column`).
//! [`read`] also returns what the document names however many problems it has
//! ([`Reading::targets`], [`Reading::key`]), so that the extension checks every table,
//! column and key against the database in the same pass; [`compat`] says which tables,
//! column types and strategies go together.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::anonymize::{kind_of, AnonError, Strategy, STRATEGY_NAMES};
use crate::json::{canonical_text, element_path, member_path};

pub mod compat;
pub mod store;

/// Keyring key used when a profile names none.
pub const DEFAULT_KEY_NAME: &str = "default";

/// What the name of every `seed_env_var` starts with: the server's own variables for
/// pg_warden, never an unrelated one such as `HOME` or `PGPASSWORD`.
pub const SEED_ENV_PREFIX: &str = "WARDEN_";

/// Variables of the server that hold the vault's master key material (see the vault
/// module of the extension): never read as a seed, whatever they hold, since a seed is
/// recorded in the audit ledger and compared across foreign keys by checks anyone may run.
pub const KEY_MATERIAL_VARIABLES: [&str; 4] = [
    "WARDEN_MASTER_KEY",
    "WARDEN_MASTER_PASSPHRASE",
    "WARDEN_MASTER_KEY_PREVIOUS",
    "WARDEN_MASTER_PASSPHRASE_PREVIOUS",
];

const PROFILE_FIELDS: &[&str] = &["name", "version", "global_seed", "key", "strategies", "tables"];
const ALIAS_FIELDS: &[&str] = &["type", "options", "config"];
/// The two names of a strategy's parameters: pg_warden's, then the replaced system's.
const PARAMETER_FIELDS: [&str; 2] = ["options", "config"];
const TABLE_FIELDS: &[&str] = &["rules"];
const COLUMN_FIELDS: &[&str] = &["column", "strategy", "seed", SEED_ENV_VAR];
const SEED_ENV_VAR: &str = "seed_env_var";

/// One thing wrong with a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a JSON path from the document root `$`.
    pub path: String,
    /// What is wrong there.
    pub problem: String,
}

impl std::fmt::Display for Problem {
    /// `path: problem`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// The message refusing a profile with `problems`: how many, then each as
/// `path: problem`, separated by `; `.
pub fn refusal(problems: &[Problem]) -> String {
    let listed: Vec<String> = problems.iter().map(Problem::to_string).collect();
    let plural = if problems.len() == 1 { "" } else { "s" };
    format!("anonymization profile is not valid ({} problem{plural}): {}", problems.len(), listed.join("; "))
}

/// A valid profile, with every column's strategy and seed resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `name`.
    pub name: String,
    /// `version`, at least 1 (`"3"` and `"3.0"` are 3).
    pub version: i64,
    /// Keyring key name.
    pub key: String,
    /// `global_seed`, 0 when absent.
    pub global_seed: i64,
    /// Aliases, by name.
    pub strategies: BTreeMap<String, Strategy>,
    /// Tables in order of their `schema.table` key.
    pub tables: Vec<TableRule>,
}

/// The columns of one table to anonymize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRule {
    /// Schema name as the catalog stores it.
    pub schema: String,
    /// Table name as the catalog stores it.
    pub table: String,
    /// In profile order.
    pub columns: Vec<ColumnRule>,
}

/// How one column is anonymized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRule {
    /// Column name as the catalog stores it.
    pub column: String,
    /// The name the profile used: an alias, or a strategy type.
    pub alias: String,
    /// The strategy that name resolves to, with its options.
    pub strategy: Strategy,
    /// Effective seed: the column's `seed`, else its `seed_env_var`'s, else its alias's
    /// `seed_env_var`'s, else the profile's global seed, else 0.
    pub seed: i64,
    /// The environment variable [`Self::seed`] was read from, when it was.
    pub seed_env_var: Option<String>,
}

impl Profile {
    /// The profile as a JSON value that says only what the profile means: defaults
    /// written out (key, global seed, every option), each column's effective seed, or
    /// the variable it is read from, and columns sorted by name. Two documents meaning
    /// the same profile give the same value, and validating it (in the same environment)
    /// gives this profile back. Variables are named, never their values, so the form is
    /// the same on every server.
    pub fn canonical_json(&self) -> Value {
        let strategies: Map<String, Value> = self
            .strategies
            .iter()
            .map(|(alias, strategy)| {
                let mut definition = Map::new();
                definition.insert("type".into(), Value::from(strategy.name()));
                definition.insert("options".into(), strategy.options_json());
                (alias.clone(), Value::Object(definition))
            })
            .collect();
        let tables: Map<String, Value> = self
            .tables
            .iter()
            .map(|rule| {
                let mut columns: Vec<&ColumnRule> = rule.columns.iter().collect();
                columns.sort_by(|a, b| a.column.cmp(&b.column));
                let columns = columns
                    .into_iter()
                    .map(|c| {
                        let mut column = Map::new();
                        column.insert("column".into(), Value::from(c.column.as_str()));
                        column.insert("strategy".into(), Value::from(c.alias.as_str()));
                        match &c.seed_env_var {
                            Some(variable) => column.insert(SEED_ENV_VAR.into(), Value::from(variable.as_str())),
                            None => column.insert("seed".into(), Value::from(c.seed)),
                        };
                        Value::Object(column)
                    })
                    .collect();
                (format!("{}.{}", rule.schema, rule.table), Value::Array(columns))
            })
            .collect();
        let mut root = Map::new();
        root.insert("name".into(), Value::from(self.name.as_str()));
        root.insert("version".into(), Value::from(self.version));
        root.insert("key".into(), Value::from(self.key.as_str()));
        root.insert("global_seed".into(), Value::from(self.global_seed));
        root.insert("strategies".into(), Value::Object(strategies));
        root.insert("tables".into(), Value::Object(tables));
        Value::Object(root)
    }

    /// [`Self::canonical_json`] as compact text with sorted keys: the bytes to hash.
    pub fn canonical_text(&self) -> String {
        canonical_text(&self.canonical_json())
    }
}

/// A profile document as read: the profile or its problems, and what it names whatever
/// its problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The profile, when the document has no problem.
    pub profile: Option<Profile>,
    /// Every problem, in document order (object keys sorted); empty when valid.
    pub problems: Vec<Problem>,
    /// Every table the document names as `schema.table`, in key order, even when its
    /// columns or the rest of the document have problems.
    pub targets: Vec<Target>,
    /// The keyring key to look up: `$.key`, [`DEFAULT_KEY_NAME`] when the document names
    /// none (a document that is not an object names none), `None` when `$.key` is not a
    /// non-empty string.
    pub key: Option<String>,
}

/// A table the document names, read past any problem in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `$.tables."schema.table"`, where the table's problems are reported.
    pub path: String,
    /// Schema name, as the catalog stores it.
    pub schema: String,
    /// Table name, as the catalog stores it.
    pub table: String,
    /// Every entry with a non-empty `column` string, in document order, duplicates
    /// included; none when the entries are neither an array nor an object whose `rules`
    /// is one.
    pub columns: Vec<TargetColumn>,
}

/// A column the document names, read past any problem in its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    /// `$.tables."schema.table"[i].column` (or `…".rules[i].column`), where the column's
    /// problems are reported.
    pub path: String,
    /// Column name, as the catalog stores it.
    pub name: String,
    /// The strategy its `strategy` names, resolved as for a valid profile (against the
    /// aliases, or the types alone when `$.strategies` is unusable); `None` when it names
    /// nothing usable.
    pub strategy: Option<Strategy>,
    /// Its seed as for a valid profile; a malformed seed, or a `seed_env_var` with a
    /// problem, counts as absent.
    pub seed: i64,
}

/// Reads `doc` once: every problem, the profile when there is none, and the targets and
/// key it names either way. `environment` gives the value of an environment variable of
/// the server, `None` when it is not set; it is asked only for names starting with
/// [`SEED_ENV_PREFIX`], outside [`KEY_MATERIAL_VARIABLES`], once each.
pub fn read(doc: &Value, environment: impl Fn(&str) -> Option<String>) -> Reading {
    let mut checker = Checker {
        problems: Vec::new(),
        targets: Vec::new(),
        key: Some(DEFAULT_KEY_NAME.to_owned()),
        environment: &environment,
        variables: HashMap::new(),
    };
    let profile = checker.profile(doc).filter(|_| checker.problems.is_empty());
    Reading { profile, problems: checker.problems, targets: checker.targets, key: checker.key }
}

/// Checks `doc` against the profile format, reading `seed_env_var`s through
/// `environment` as [`read`] does. Returns the profile when there is no problem,
/// otherwise every problem found, in document order (object keys sorted).
pub fn validate(doc: &Value, environment: impl Fn(&str) -> Option<String>) -> (Option<Profile>, Vec<Problem>) {
    let reading = read(doc, environment);
    (reading.profile, reading.problems)
}

/// A `seed_env_var` where one is written.
#[derive(Debug, Clone)]
enum SeedVariable {
    /// The variable and the seed it holds.
    Usable { name: String, seed: i64 },
    /// It has a problem, reported where it is written.
    Unusable,
}

impl SeedVariable {
    fn usable(&self) -> Option<(i64, &str)> {
        match self {
            SeedVariable::Usable { name, seed } => Some((*seed, name)),
            SeedVariable::Unusable => None,
        }
    }
}

/// An alias as defined.
#[derive(Debug, Clone)]
struct Alias {
    /// `None` when its definition has problems (already reported), so columns using it
    /// are not reported again.
    strategy: Option<Strategy>,
    /// Its parameters' `seed_env_var`, when written.
    seed_variable: Option<SeedVariable>,
}

impl Alias {
    /// An alias whose definition has problems.
    const BROKEN: Alias = Alias { strategy: None, seed_variable: None };
}

type Aliases = BTreeMap<String, Alias>;

/// Where a column's seed may come from, most specific first.
struct SeedSources<'a> {
    /// The column's `seed`, when written: `None` inside when malformed.
    seed: Option<Option<i64>>,
    /// The column's `seed_env_var`, when written.
    column_variable: Option<&'a SeedVariable>,
    /// Its alias's `seed_env_var`, when written.
    strategy_variable: Option<&'a SeedVariable>,
    global_seed: i64,
}

impl SeedSources<'_> {
    /// The seed that applies and the variable it is read from, if any; `None` when the
    /// source that applies has a problem.
    fn effective(&self) -> Option<(i64, Option<String>)> {
        if let Some(seed) = self.seed {
            return seed.map(|seed| (seed, None));
        }
        match self.column_variable.or(self.strategy_variable) {
            Some(variable) => variable.usable().map(|(seed, name)| (seed, Some(name.to_owned()))),
            None => Some((self.global_seed, None)),
        }
    }

    /// The first usable seed in the same order: a source with a problem counts as absent.
    fn past_problems(&self) -> i64 {
        let variables = [self.column_variable, self.strategy_variable];
        self.seed
            .flatten()
            .or_else(|| variables.into_iter().flatten().find_map(|v| v.usable().map(|(seed, _)| seed)))
            .unwrap_or(self.global_seed)
    }
}

/// A column entry as read: its rule when it has no problem, and what a target needs.
struct ColumnReading {
    rule: Option<ColumnRule>,
    strategy: Option<Strategy>,
    seed: i64,
}

struct Checker<'e> {
    problems: Vec<Problem>,
    targets: Vec<Target>,
    key: Option<String>,
    environment: &'e dyn Fn(&str) -> Option<String>,
    /// Each variable read once: its seed, or why it gives none.
    variables: HashMap<String, Result<i64, String>>,
}

impl Checker<'_> {
    fn report(&mut self, path: &str, problem: impl Into<String>) {
        self.problems.push(Problem { path: path.to_owned(), problem: problem.into() });
    }

    fn object<'v>(&mut self, path: &str, value: &'v Value) -> Option<&'v Map<String, Value>> {
        let object = value.as_object();
        if object.is_none() {
            self.report(path, format!("expected an object, found {}", kind_of(value)));
        }
        object
    }

    fn unknown_fields(&mut self, path: &str, object: &Map<String, Value>, allowed: &[&str]) {
        for field in object.keys().filter(|field| !allowed.contains(&field.as_str())) {
            self.report(&member_path(path, field), format!("unknown field; allowed: {}", allowed.join(", ")));
        }
    }

    fn required<'v>(&mut self, path: &str, object: &'v Map<String, Value>, field: &str) -> Option<&'v Value> {
        let value = object.get(field);
        if value.is_none() {
            self.report(&member_path(path, field), "required field is missing");
        }
        value
    }

    fn text(&mut self, path: &str, value: &Value) -> Option<String> {
        match value.as_str() {
            Some(text) if !text.is_empty() => Some(text.to_owned()),
            Some(_) => {
                self.report(path, "must not be empty");
                None
            }
            None => {
                self.report(path, format!("expected a string, found {}", kind_of(value)));
                None
            }
        }
    }

    /// An integer from `min` to `i64::MAX`; `what` names the range in the message.
    fn integer(&mut self, path: &str, value: &Value, min: i64, what: &str) -> Option<i64> {
        let integer = value.as_i64().filter(|n| *n >= min);
        if integer.is_none() {
            let found = if value.is_number() { String::new() } else { format!(", found {}", kind_of(value)) };
            self.report(path, format!("expected {what}{found}"));
        }
        integer
    }

    fn version(&mut self, value: &Value) -> Option<i64> {
        let version = match value {
            Value::Number(number) => parse_version(&number.to_string()),
            Value::String(text) => parse_version(text),
            _ => None,
        };
        if version.is_none() {
            let problem = match value {
                Value::Number(_) => "expected an integer of at least 1".to_owned(),
                Value::String(text) => format!(
                    "version strings are a whole number of at least 1, optionally followed by \".0\" \
                     (\"3\", \"3.0\"), found {}",
                    Value::from(text.as_str())
                ),
                other => {
                    format!("expected an integer of at least 1 or a string such as \"3.0\", found {}", kind_of(other))
                }
            };
            self.report("$.version", problem);
        }
        version
    }

    /// The `seed_env_var` at `path`: its variable and seed, or what is wrong reported.
    fn seed_variable(&mut self, path: &str, value: &Value) -> SeedVariable {
        let Some(name) = self.text(path, value) else { return SeedVariable::Unusable };
        let problem = if !is_seed_variable_name(&name) {
            Some(format!(
                "expected the name of an environment variable starting with {SEED_ENV_PREFIX}, then letters, digits \
                 and '_', found {}",
                Value::from(name.as_str())
            ))
        } else if KEY_MATERIAL_VARIABLES.contains(&name.as_str()) {
            Some(format!(
                "{name} holds the vault's master key material, never a seed: give the seed a variable of its own"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            self.report(path, problem);
            return SeedVariable::Unusable;
        }
        let environment = self.environment;
        let seed = self.variables.entry(name.clone()).or_insert_with(|| seed_from(&name, environment(&name))).clone();
        match seed {
            Ok(seed) => SeedVariable::Usable { name, seed },
            Err(problem) => {
                self.report(path, problem);
                SeedVariable::Unusable
            }
        }
    }

    fn profile(&mut self, doc: &Value) -> Option<Profile> {
        let root = self.object("$", doc)?;
        self.unknown_fields("$", root, PROFILE_FIELDS);
        let name = self.required("$", root, "name").and_then(|v| self.text("$.name", v));
        let version = self.required("$", root, "version").and_then(|v| self.version(v));
        if let Some(v) = root.get("key") {
            self.key = self.text("$.key", v);
        }
        let key = self.key.clone();
        let global_seed = match root.get("global_seed") {
            Some(v) => self.integer("$.global_seed", v, i64::MIN, SEED_RANGE),
            None => Some(0),
        };
        let aliases = self.required("$", root, "strategies").and_then(|v| self.aliases(v));
        let tables =
            self.required("$", root, "tables").and_then(|v| self.tables(v, aliases.as_ref(), global_seed.unwrap_or(0)));
        // Every alias defined, each definition valid.
        let strategies =
            aliases?.into_iter().map(|(alias, defined)| Some((alias, defined.strategy?))).collect::<Option<_>>()?;
        Some(Profile {
            name: name?,
            version: version?,
            key: key?,
            global_seed: global_seed?,
            strategies,
            tables: tables?,
        })
    }

    fn aliases(&mut self, value: &Value) -> Option<Aliases> {
        let definitions = self.object("$.strategies", value)?;
        let mut aliases = Aliases::new();
        for (alias, definition) in definitions {
            let path = member_path("$.strategies", alias);
            if alias.is_empty() {
                self.report(&path, "alias names must not be empty");
            }
            // An empty alias name is a problem, so the profile is not returned; a target
            // naming it still resolves to its definition.
            let defined = self.alias(&path, definition);
            aliases.insert(alias.clone(), defined);
        }
        Some(aliases)
    }

    fn alias(&mut self, path: &str, definition: &Value) -> Alias {
        let Some(definition) = self.object(path, definition) else { return Alias::BROKEN };
        self.unknown_fields(path, definition, ALIAS_FIELDS);
        let type_path = member_path(path, "type");
        let Some(name) = self.required(path, definition, "type").and_then(|v| self.text(&type_path, v)) else {
            return Alias::BROKEN;
        };
        let written: Vec<(String, &Value)> = PARAMETER_FIELDS
            .iter()
            .filter_map(|field| definition.get(*field).map(|parameters| (member_path(path, field), parameters)))
            .collect();
        if written.is_empty() {
            return self.parameters(&type_path, &member_path(path, "options"), &name, None);
        }
        // Both are checked, so that every problem in either is reported at once.
        let mut defined: Vec<Alias> =
            written.iter().map(|(at, parameters)| self.parameters(&type_path, at, &name, Some(parameters))).collect();
        if defined.len() > 1 {
            self.report(
                &written[1].0,
                "options are given too: give a strategy's parameters once, as options or as config",
            );
            return Alias::BROKEN;
        }
        defined.pop().unwrap_or(Alias::BROKEN)
    }

    /// Strategy `name` with `parameters` (at `at`), their `seed_env_var` taken out first.
    fn parameters(&mut self, type_path: &str, at: &str, name: &str, parameters: Option<&Value>) -> Alias {
        let mut seed_variable = None;
        let without_variable;
        let options = match parameters {
            Some(Value::Object(fields)) if fields.contains_key(SEED_ENV_VAR) => {
                let mut rest = fields.clone();
                if let Some(variable) = rest.remove(SEED_ENV_VAR) {
                    seed_variable = Some(self.seed_variable(&member_path(at, SEED_ENV_VAR), &variable));
                }
                without_variable = Value::Object(rest);
                Some(&without_variable)
            }
            other => other,
        };
        let strategy = match Strategy::parse(name, options) {
            Ok(strategy) => Some(strategy),
            Err(AnonError::UnknownStrategy) => {
                self.report(
                    type_path,
                    format!("unknown strategy type {}; allowed: {}", Value::from(name), STRATEGY_NAMES.join(", ")),
                );
                None
            }
            Err(AnonError::InvalidOptions { problems, .. }) => {
                for problem in problems {
                    let path = match &problem.option {
                        Some(option) => member_path(at, option),
                        None => at.to_owned(),
                    };
                    self.report(&path, problem.message);
                }
                None
            }
            Err(other) => {
                self.report(at, other.to_string());
                None
            }
        };
        Alias { strategy, seed_variable }
    }

    fn tables(&mut self, value: &Value, aliases: Option<&Aliases>, global_seed: i64) -> Option<Vec<TableRule>> {
        let tables = self.object("$.tables", value)?;
        let mut rules = Vec::with_capacity(tables.len());
        let mut all_valid = true;
        for (key, columns) in tables {
            let path = member_path("$.tables", key);
            let name = self.table_name(&path, key);
            let (columns, targets) = match self.column_entries(&path, columns) {
                Some((entries_path, entries)) => self.columns(&entries_path, entries, aliases, global_seed),
                None => (None, Vec::new()),
            };
            if let Some((schema, table)) = &name {
                let (schema, table) = (schema.clone(), table.clone());
                self.targets.push(Target { path, schema, table, columns: targets });
            }
            match (name, columns) {
                (Some((schema, table)), Some(columns)) => rules.push(TableRule { schema, table, columns }),
                _ => all_valid = false,
            }
        }
        all_valid.then_some(rules)
    }

    fn table_name(&mut self, path: &str, key: &str) -> Option<(String, String)> {
        let well_formed = |part: &str| !part.is_empty() && part.trim() == part && !part.contains(['.', '"']);
        match key.split_once('.') {
            Some((schema, table)) if well_formed(schema) && well_formed(table) => {
                Some((schema.to_owned(), table.to_owned()))
            }
            _ => {
                self.report(
                    path,
                    "table names are written schema.table as the catalog stores them: exactly one '.', \
                     both parts non-empty, without quotes or surrounding spaces",
                );
                None
            }
        }
    }

    /// A table's column entries, written as an array or as `{"rules": [...]}`: where they
    /// are and the array; `None` when they are neither (reported).
    fn column_entries<'v>(&mut self, table_path: &str, value: &'v Value) -> Option<(String, &'v [Value])> {
        let fields = match value {
            Value::Array(entries) => return Some((table_path.to_owned(), entries)),
            Value::Object(fields) => fields,
            other => {
                let problem = format!("expected an array of columns or an object with rules, found {}", kind_of(other));
                self.report(table_path, problem);
                return None;
            }
        };
        self.unknown_fields(table_path, fields, TABLE_FIELDS);
        let rules_path = member_path(table_path, "rules");
        let rules = self.required(table_path, fields, "rules")?;
        match rules.as_array() {
            Some(entries) => Some((rules_path, entries)),
            None => {
                self.report(&rules_path, format!("expected an array of columns, found {}", kind_of(rules)));
                None
            }
        }
    }

    fn columns(
        &mut self,
        entries_path: &str,
        entries: &[Value],
        aliases: Option<&Aliases>,
        global_seed: i64,
    ) -> (Option<Vec<ColumnRule>>, Vec<TargetColumn>) {
        let mut rules = Vec::with_capacity(entries.len());
        let mut targets = Vec::new();
        let mut all_valid = true;
        let mut first_index: HashMap<&str, usize> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let path = element_path(entries_path, index);
            let reading = self.column(&path, entry, aliases, global_seed);
            if let Some(name) = entry.get("column").and_then(Value::as_str).filter(|name| !name.is_empty()) {
                let column_path = member_path(&path, "column");
                if let Some(first) = first_index.get(name) {
                    self.report(&column_path, format!("duplicate column (first at index {first})"));
                    all_valid = false;
                } else {
                    first_index.insert(name, index);
                }
                let (strategy, seed) = (reading.strategy, reading.seed);
                targets.push(TargetColumn { path: column_path, name: name.to_owned(), strategy, seed });
            }
            match reading.rule {
                Some(rule) => rules.push(rule),
                None => all_valid = false,
            }
        }
        (all_valid.then_some(rules), targets)
    }

    fn column(&mut self, path: &str, entry: &Value, aliases: Option<&Aliases>, global_seed: i64) -> ColumnReading {
        let Some(fields) = self.object(path, entry) else {
            return ColumnReading { rule: None, strategy: None, seed: global_seed };
        };
        self.unknown_fields(path, fields, COLUMN_FIELDS);
        let column_path = member_path(path, "column");
        let column = self.required(path, fields, "column").and_then(|v| self.text(&column_path, v));
        let strategy_path = member_path(path, "strategy");
        let alias = self.required(path, fields, "strategy").and_then(|v| self.text(&strategy_path, v));
        let strategy = match (&alias, aliases) {
            (Some(alias), Some(aliases)) => self.resolve(&strategy_path, alias, aliases),
            // `strategies` itself is missing or malformed, as already reported.
            _ => None,
        };
        let seed = fields.get("seed").map(|v| self.integer(&member_path(path, "seed"), v, i64::MIN, SEED_RANGE));
        let column_variable = fields.get(SEED_ENV_VAR).map(|v| self.seed_variable(&member_path(path, SEED_ENV_VAR), v));
        let named = fields.get("strategy").and_then(Value::as_str);
        let defined = named.zip(aliases).and_then(|(name, aliases)| aliases.get(name));
        let sources = SeedSources {
            seed,
            column_variable: column_variable.as_ref(),
            strategy_variable: defined.and_then(|alias| alias.seed_variable.as_ref()),
            global_seed,
        };
        let no_aliases = Aliases::new();
        let target_strategy = named.and_then(|name| resolve_quietly(name, aliases.unwrap_or(&no_aliases)));
        let target_seed = sources.past_problems();
        let rule = (|| {
            let (seed, seed_env_var) = sources.effective()?;
            Some(ColumnRule { column: column?, alias: alias?, strategy: strategy?, seed, seed_env_var })
        })();
        ColumnReading { rule, strategy: target_strategy, seed: target_seed }
    }

    fn resolve(&mut self, path: &str, name: &str, aliases: &Aliases) -> Option<Strategy> {
        let strategy = resolve_quietly(name, aliases);
        // An alias whose definition has problems has them reported already; a type's
        // defaults always parse.
        if strategy.is_none() && !aliases.contains_key(name) {
            self.report(
                path,
                format!(
                    "{} is neither an alias defined in $.strategies nor a strategy type ({})",
                    Value::from(name),
                    STRATEGY_NAMES.join(", ")
                ),
            );
        }
        strategy
    }
}

/// What a column's `strategy` name stands for: the alias's strategy (`None` when its
/// definition has problems), else the strategy type of that name with default options.
fn resolve_quietly(name: &str, aliases: &Aliases) -> Option<Strategy> {
    match aliases.get(name) {
        Some(defined) => defined.strategy.clone(),
        None if STRATEGY_NAMES.contains(&name) => Strategy::parse(name, None).ok(),
        None => None,
    }
}

/// A version written as a whole number of at least 1, optionally followed by `.0`.
fn parse_version(text: &str) -> Option<i64> {
    let whole = text.strip_suffix(".0").unwrap_or(text);
    let digits = !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && !whole.starts_with('0');
    digits.then(|| whole.parse().ok()).flatten()
}

/// Whether `name` may be a `seed_env_var`: [`SEED_ENV_PREFIX`], then one or more ASCII
/// letters, digits and '_' (no '=' or NUL, which no environment lookup can take).
fn is_seed_variable_name(name: &str) -> bool {
    name.strip_prefix(SEED_ENV_PREFIX)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// The seed variable `name` gives, from its value: never quoted in a problem, as it may
/// be anything.
fn seed_from(name: &str, value: Option<String>) -> Result<i64, String> {
    let value = value.ok_or_else(|| format!("environment variable {name} is not set"))?;
    value.trim().parse().map_err(|_| format!("environment variable {name} does not hold {SEED_RANGE}"))
}

/// How seeds are described in messages.
const SEED_RANGE: &str = "an integer from -9223372036854775808 to 9223372036854775807";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anonymize::{EmailDomain, EmailOptions, PartialOptions};
    use serde_json::json;

    /// An environment without any variable.
    fn unset(_: &str) -> Option<String> {
        None
    }

    fn problems(doc: &Value) -> Vec<(String, String)> {
        let (profile, problems) = validate(doc, unset);
        assert!(profile.is_none(), "a profile with problems must not be returned");
        problems.into_iter().map(|p| (p.path, p.problem)).collect()
    }

    fn paths(doc: &Value) -> Vec<String> {
        problems(doc).into_iter().map(|(path, _)| path).collect()
    }

    fn valid() -> Value {
        json!({
            "name": "staging",
            "version": 3,
            "global_seed": 42,
            "key": "anon",
            "strategies": {
                "pii_email": {"type": "email", "options": {"domain": "keep"}},
                "last4": {"type": "partial"},
                "phone": {"type": "partial", "options": {"prefix": 3, "suffix": 0}}
            },
            "tables": {
                "public.users": [
                    {"column": "email", "strategy": "pii_email"},
                    {"column": "phone", "strategy": "phone", "seed": 7},
                    {"column": "card", "strategy": "last4", "seed": -1},
                    {"column": "id_hash", "strategy": "hash"}
                ],
                "billing.Invoices": []
            }
        })
    }

    #[test]
    fn valid_profile_resolves_strategies_and_seeds() {
        let (profile, problems) = validate(&valid(), unset);
        assert!(problems.is_empty(), "{problems:?}");
        let profile = profile.expect("valid");
        assert_eq!((profile.name.as_str(), profile.version, profile.key.as_str()), ("staging", 3, "anon"));
        assert_eq!(profile.global_seed, 42);
        assert_eq!(profile.strategies.len(), 3);
        // Tables come in key order; names keep their case.
        let names: Vec<(&str, &str)> = profile.tables.iter().map(|t| (t.schema.as_str(), t.table.as_str())).collect();
        assert_eq!(names, [("billing", "Invoices"), ("public", "users")]);
        let users = &profile.tables[1].columns;
        let summary: Vec<(&str, &str, i64)> =
            users.iter().map(|c| (c.column.as_str(), c.alias.as_str(), c.seed)).collect();
        assert_eq!(
            summary,
            [("email", "pii_email", 42), ("phone", "phone", 7), ("card", "last4", -1), ("id_hash", "hash", 42)]
        );
        assert_eq!(
            users[0].strategy,
            Strategy::Email(EmailOptions { domain: EmailDomain::Keep, case_sensitive: false })
        );
        // The alias "phone" shadows the phone type.
        assert_eq!(users[1].strategy, Strategy::Partial(PartialOptions { prefix: 3, suffix: 0, mask_char: '*' }));
        assert_eq!(users[2].strategy, Strategy::Partial(PartialOptions::default()));
        // A bare type name stands for the type with default options.
        assert_eq!(users[3].strategy, Strategy::Hash);
    }

    #[test]
    fn optional_fields_take_their_defaults() {
        let doc = json!({
            "name": "n",
            "version": 1,
            "strategies": {},
            "tables": {"s.t": [{"column": "c", "strategy": "email"}, {"column": "d", "strategy": "digits", "seed": 5}]}
        });
        let (profile, problems) = validate(&doc, unset);
        assert!(problems.is_empty(), "{problems:?}");
        let profile = profile.expect("valid");
        assert_eq!(profile.key, DEFAULT_KEY_NAME);
        assert_eq!(profile.global_seed, 0);
        let seeds: Vec<i64> = profile.tables[0].columns.iter().map(|c| c.seed).collect();
        assert_eq!(seeds, [0, 5]);
        assert_eq!(profile.tables[0].columns[0].strategy, Strategy::Email(EmailOptions::default()));
    }

    /// One document with every kind of problem: all are reported, each at its path.
    #[test]
    fn every_problem_is_reported_at_its_path() {
        let doc = json!({
            "name": "",
            "version": 0,
            "global_seed": "1",
            "owner": "me",
            "strategies": {
                "bad_type": {"type": "md5"},
                "bad_options": {"type": "partial", "options": {"prefx": 1, "suffix": -4}},
                "no_type": {"options": {}},
                "extra": {"type": "hash", "comment": "x"},
                "not_object": "hash",
                "": {"type": "hash"},
                "options_array": {"type": "redact", "options": [1]}
            },
            "tables": {
                "public.users": [
                    {"column": "email", "strategy": "undefined_alias"},
                    {"column": "email", "strategy": "hash"},
                    {"column": "ssn", "strategy": "bad_options"},
                    {"strategy": "hash", "seed": 1.5},
                    {"column": "x", "strategy": "hash", "mask": true},
                    "name",
                    {"column": 3, "strategy": ""}
                ],
                "users": [],
                "a.b.c": [],
                "\"Public\".users": [],
                "public.orders": {"column": "id"},
                "public.items": "id"
            }
        });
        let expected: Vec<(&str, &str)> = vec![
            ("$.owner", "unknown field; allowed: name, version, global_seed, key, strategies, tables"),
            ("$.name", "must not be empty"),
            ("$.version", "expected an integer of at least 1"),
            ("$.global_seed", "expected an integer from -9223372036854775808 to 9223372036854775807, found a string"),
            ("$.strategies.\"\"", "alias names must not be empty"),
            ("$.strategies.bad_options.options.prefx", "unknown option; allowed: prefix, suffix, mask_char"),
            ("$.strategies.bad_options.options.suffix", "expected a non-negative integer"),
            (
                "$.strategies.bad_type.type",
                "unknown strategy type \"md5\"; allowed: hash, email, phone, digits, redact, partial",
            ),
            ("$.strategies.extra.comment", "unknown field; allowed: type, options, config"),
            ("$.strategies.no_type.type", "required field is missing"),
            ("$.strategies.not_object", "expected an object, found a string"),
            ("$.strategies.options_array.options", "options must be a JSON object, found an array"),
            (
                "$.tables.\"\\\"Public\\\".users\"",
                "table names are written schema.table as the catalog stores them: exactly one '.', both parts \
                 non-empty, without quotes or surrounding spaces",
            ),
            (
                "$.tables.\"a.b.c\"",
                "table names are written schema.table as the catalog stores them: exactly one '.', both parts \
                 non-empty, without quotes or surrounding spaces",
            ),
            ("$.tables.\"public.items\"", "expected an array of columns or an object with rules, found a string"),
            ("$.tables.\"public.orders\".column", "unknown field; allowed: rules"),
            ("$.tables.\"public.orders\".rules", "required field is missing"),
            (
                "$.tables.\"public.users\"[0].strategy",
                "\"undefined_alias\" is neither an alias defined in $.strategies nor a strategy type (hash, email, \
                 phone, digits, redact, partial)",
            ),
            ("$.tables.\"public.users\"[1].column", "duplicate column (first at index 0)"),
            ("$.tables.\"public.users\"[3].column", "required field is missing"),
            (
                "$.tables.\"public.users\"[3].seed",
                "expected an integer from -9223372036854775808 to 9223372036854775807",
            ),
            ("$.tables.\"public.users\"[4].mask", "unknown field; allowed: column, strategy, seed, seed_env_var"),
            ("$.tables.\"public.users\"[5]", "expected an object, found a string"),
            ("$.tables.\"public.users\"[6].column", "expected a string, found a number"),
            ("$.tables.\"public.users\"[6].strategy", "must not be empty"),
            (
                "$.tables.users",
                "table names are written schema.table as the catalog stores them: exactly one '.', both parts \
                 non-empty, without quotes or surrounding spaces",
            ),
        ];
        let found = problems(&doc);
        let found: Vec<(&str, &str)> = found.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn missing_and_malformed_top_level() {
        assert_eq!(problems(&json!([])), [("$".to_owned(), "expected an object, found an array".to_owned())]);
        assert_eq!(paths(&json!({})), ["$.name", "$.version", "$.strategies", "$.tables"]);
        // Without a usable "strategies", columns are not reported as using undefined aliases.
        let doc = json!({"name": "n", "version": 1, "tables": {"s.t": [{"column": "c", "strategy": "mine"}]}});
        assert_eq!(paths(&doc), ["$.strategies"]);
        let doc = json!({"name": "n", "version": 1, "strategies": [], "tables": []});
        assert_eq!(
            problems(&doc),
            [
                ("$.strategies".to_owned(), "expected an object, found an array".to_owned()),
                ("$.tables".to_owned(), "expected an object, found an array".to_owned()),
            ]
        );
        let doc = json!({"name": 1, "version": true, "key": "", "strategies": {}, "tables": {}});
        assert_eq!(
            problems(&doc),
            [
                ("$.name".to_owned(), "expected a string, found a number".to_owned()),
                (
                    "$.version".to_owned(),
                    "expected an integer of at least 1 or a string such as \"3.0\", found a boolean".to_owned()
                ),
                ("$.key".to_owned(), "must not be empty".to_owned()),
            ]
        );
    }

    #[test]
    fn columns_using_an_invalid_alias_are_not_reported_twice() {
        let doc = json!({
            "name": "n",
            "version": 1,
            "strategies": {"broken": {"type": "email", "options": {"domain": "nope"}}},
            "tables": {"s.t": [{"column": "c", "strategy": "broken"}]}
        });
        assert_eq!(paths(&doc), ["$.strategies.broken.options.domain"]);
    }

    #[test]
    fn canonical_form_ignores_spelling() {
        let (a, _) = validate(&valid(), unset);
        let a = a.expect("valid");
        // Same meaning: columns reordered, defaults spelled out, key order changed.
        let b = json!({
            "tables": {
                "billing.Invoices": [],
                "public.users": [
                    {"strategy": "hash", "column": "id_hash"},
                    {"column": "card", "strategy": "last4", "seed": -1},
                    {"column": "phone", "strategy": "phone", "seed": 7},
                    {"column": "email", "strategy": "pii_email", "seed": 42}
                ]
            },
            "strategies": {
                "phone": {"options": {"suffix": 0, "prefix": 3, "mask_char": "*"}, "type": "partial"},
                "last4": {"type": "partial", "options": {"suffix": 4}},
                "pii_email": {"type": "email", "options": {"domain": "keep", "case_sensitive": false}}
            },
            "key": "anon",
            "global_seed": 42,
            "version": 3,
            "name": "staging"
        });
        let (b, problems) = validate(&b, unset);
        assert!(problems.is_empty(), "{problems:?}");
        let b = b.expect("valid");
        assert_eq!(a.canonical_text(), b.canonical_text());
        assert!(a.canonical_text().starts_with(r#"{"global_seed":42,"key":"anon","name":"staging","#));
        assert!(a.canonical_text().contains(
            r#""public.users":[{"column":"card","seed":-1,"strategy":"last4"},{"column":"email","seed":42,"#
        ));

        // The canonical form is itself a valid profile with the same canonical form.
        let (again, problems) = validate(&a.canonical_json(), unset);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(again.expect("valid").canonical_text(), a.canonical_text());

        // A change of meaning changes it.
        let mut c = valid();
        c["tables"]["public.users"][1]["seed"] = json!(8);
        let (c, _) = validate(&c, unset);
        assert_ne!(c.expect("valid").canonical_text(), a.canonical_text());
    }

    /// Each target as "path schema.table", with its columns as (path, name, strategy, seed).
    type TargetSummary = Vec<(String, Vec<(String, String, Option<&'static str>, i64)>)>;

    fn target_summary(reading: &Reading) -> TargetSummary {
        reading
            .targets
            .iter()
            .map(|t| {
                let columns = t
                    .columns
                    .iter()
                    .map(|c| (c.path.clone(), c.name.clone(), c.strategy.as_ref().map(Strategy::name), c.seed))
                    .collect();
                (format!("{} {}.{}", t.path, t.schema, t.table), columns)
            })
            .collect()
    }

    #[test]
    fn a_valid_profile_names_the_targets_it_masks() {
        let reading = read(&valid(), unset);
        assert!(reading.problems.is_empty(), "{:?}", reading.problems);
        let profile = reading.profile.clone().expect("valid");
        assert_eq!(reading.key.as_deref(), Some("anon"));
        assert_eq!(
            target_summary(&reading),
            [
                ("$.tables.\"billing.Invoices\" billing.Invoices".to_owned(), vec![]),
                (
                    "$.tables.\"public.users\" public.users".to_owned(),
                    vec![
                        ("$.tables.\"public.users\"[0].column".into(), "email".into(), Some("email"), 42),
                        ("$.tables.\"public.users\"[1].column".into(), "phone".into(), Some("partial"), 7),
                        ("$.tables.\"public.users\"[2].column".into(), "card".into(), Some("partial"), -1),
                        ("$.tables.\"public.users\"[3].column".into(), "id_hash".into(), Some("hash"), 42),
                    ]
                ),
            ]
        );
        // Targets say what the profile says.
        for (target, rule) in reading.targets.iter().zip(&profile.tables) {
            assert_eq!((&target.schema, &target.table), (&rule.schema, &rule.table));
            for (column, rule) in target.columns.iter().zip(&rule.columns) {
                assert_eq!(
                    (&column.name, column.strategy.as_ref(), column.seed),
                    (&rule.column, Some(&rule.strategy), rule.seed)
                );
            }
        }
        assert_eq!(validate(&valid(), unset), (Some(profile), Vec::new()));
    }

    /// Targets are read past every problem, so the database checks run beside them.
    #[test]
    fn targets_are_read_past_problems() {
        let doc = json!({
            "name": "n",
            "version": 1,
            "global_seed": 9,
            "strategies": {
                "broken": {"type": "email", "options": {"domain": "nope"}},
                "": {"type": "hash"},
                "chatty": {"type": "digits", "comment": "unknown field"}
            },
            "tables": {
                "public.users": [
                    {"column": "a", "strategy": "broken"},
                    {"column": "a", "strategy": "redact", "seed": 1.5},
                    {"column": "b", "strategy": "undefined", "seed": 3},
                    {"column": "c", "strategy": ""},
                    {"column": "d", "strategy": "chatty", "extra": 1},
                    {"column": "", "strategy": "hash"},
                    {"strategy": "hash"},
                    "e"
                ],
                "public.orders": {"column": "id"},
                "bad name": [{"column": "x", "strategy": "hash"}]
            }
        });
        let reading = read(&doc, unset);
        assert!(reading.profile.is_none());
        assert!(!reading.problems.is_empty());
        assert_eq!(reading.key.as_deref(), Some(DEFAULT_KEY_NAME));
        let users = "$.tables.\"public.users\"";
        assert_eq!(
            target_summary(&reading),
            [
                ("$.tables.\"public.orders\" public.orders".to_owned(), vec![]),
                (
                    format!("{users} public.users"),
                    vec![
                        (format!("{users}[0].column"), "a".into(), None, 9),
                        // Duplicates stay, each at its own path; a malformed seed counts as absent.
                        (format!("{users}[1].column"), "a".into(), Some("redact"), 9),
                        (format!("{users}[2].column"), "b".into(), None, 3),
                        // The empty alias is a problem, but defined.
                        (format!("{users}[3].column"), "c".into(), Some("hash"), 9),
                        (format!("{users}[4].column"), "d".into(), Some("digits"), 9),
                    ]
                ),
            ]
        );
    }

    #[test]
    fn targets_resolve_types_without_usable_aliases() {
        for strategies in [None, Some(json!([])), Some(json!("hash"))] {
            let mut doc = json!({
                "name": "n", "version": 1,
                "tables": {"s.t": [{"column": "c", "strategy": "email"}, {"column": "d", "strategy": "mine"}]}
            });
            if let Some(strategies) = strategies {
                doc["strategies"] = strategies;
            }
            let reading = read(&doc, unset);
            let columns: Vec<Option<&str>> =
                reading.targets[0].columns.iter().map(|c| c.strategy.as_ref().map(Strategy::name)).collect();
            assert_eq!(columns, [Some("email"), None]);
            // Only "$.strategies" is a problem: the columns are not reported again.
            assert_eq!(paths(&doc), ["$.strategies"]);
        }
    }

    #[test]
    fn the_key_to_look_up() {
        let key = |doc: Value| read(&doc, unset).key;
        assert_eq!(key(json!({"key": "mine"})).as_deref(), Some("mine"));
        assert_eq!(key(json!({})).as_deref(), Some(DEFAULT_KEY_NAME));
        // A document that is not an object names no key: the default one is looked up.
        assert_eq!(key(json!([])).as_deref(), Some(DEFAULT_KEY_NAME));
        assert_eq!(key(json!("x")).as_deref(), Some(DEFAULT_KEY_NAME));
        for malformed in [json!(""), json!(1), json!(null), json!({"name": "k"})] {
            assert_eq!(key(json!({"key": malformed})), None);
        }
    }

    #[test]
    fn no_targets_without_a_tables_object() {
        for doc in [json!([]), json!({}), json!({"tables": []}), json!({"tables": "public.t"})] {
            assert!(read(&doc, unset).targets.is_empty(), "{doc}");
        }
    }

    #[test]
    fn refusals_list_every_problem() {
        let problem = |path: &str, problem: &str| Problem { path: path.into(), problem: problem.into() };
        assert_eq!(problem("$.name", "must not be empty").to_string(), "$.name: must not be empty");
        assert_eq!(
            refusal(&[problem("$.name", "must not be empty")]),
            "anonymization profile is not valid (1 problem): $.name: must not be empty"
        );
        assert_eq!(
            refusal(&[problem("$.name", "a"), problem("$.tables", "b")]),
            "anonymization profile is not valid (2 problems): $.name: a; $.tables: b"
        );
    }

    /// An environment holding `variables`. It fails the test when asked for a variable
    /// that no profile may read, so every test also checks that none is ever looked up.
    fn holding(variables: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let variables: Vec<(String, String)> =
            variables.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        move |name: &str| {
            assert!(is_seed_variable_name(name), "looked up {name:?}");
            assert!(!KEY_MATERIAL_VARIABLES.contains(&name), "looked up {name}");
            variables.iter().find(|(n, _)| n == name).map(|(_, value)| value.clone())
        }
    }

    /// A one-table profile with `strategies` and the columns of `public.t` as given.
    fn profile_of(strategies: Value, columns: Value) -> Value {
        json!({"name": "n", "version": 1, "strategies": strategies, "tables": {"public.t": columns}})
    }

    fn problems_in(doc: &Value, environment: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let (profile, problems) = validate(doc, environment);
        assert!(profile.is_none(), "a profile with problems must not be returned");
        problems.into_iter().map(|p| (p.path, p.problem)).collect()
    }

    fn valid_in(doc: &Value, environment: impl Fn(&str) -> Option<String>) -> Profile {
        let (profile, problems) = validate(doc, environment);
        assert!(problems.is_empty(), "{problems:?}");
        profile.expect("valid")
    }

    #[test]
    fn versions_may_be_strings() {
        for (version, expected) in [
            (json!(3), 3),
            (json!("3"), 3),
            (json!("3.0"), 3),
            (json!("1"), 1),
            (json!("1.0"), 1),
            // YAML reads an unquoted 1.0 as a number: its text stays "1.0".
            (json!(1.0), 1),
            (json!(12.0), 12),
            (json!("9223372036854775807"), i64::MAX),
        ] {
            let mut doc = valid();
            doc["version"] = version.clone();
            assert_eq!(valid_in(&doc, unset).version, expected, "{version}");
        }
        // The same profile whichever way its version is written.
        let mut string = valid();
        string["version"] = json!("3.0");
        assert_eq!(valid_in(&string, unset).canonical_text(), valid_in(&valid(), unset).canonical_text());
    }

    #[test]
    fn version_strings_other_than_whole_numbers_are_problems() {
        for bad in
            ["1.5", "1.00", "1.0.0", "0", "0.0", "01", "-1", "+1", " 1", "1 ", "1e0", "v1", "", "9223372036854775808"]
        {
            let mut doc = valid();
            doc["version"] = json!(bad);
            let expected = format!(
                "version strings are a whole number of at least 1, optionally followed by \".0\" (\"3\", \"3.0\"), \
                 found {}",
                Value::from(bad)
            );
            assert_eq!(problems(&doc), [("$.version".to_owned(), expected)], "{bad:?}");
        }
        let exponent = crate::json::parse("1e3").expect("JSON");
        for bad in [json!(1.5), json!(0), json!(0.0), json!(-3), json!(1.25), exponent] {
            let mut doc = valid();
            doc["version"] = bad.clone();
            assert_eq!(
                problems(&doc),
                [("$.version".to_owned(), "expected an integer of at least 1".to_owned())],
                "{bad}"
            );
        }
        for (bad, kind) in [(json!(null), "null"), (json!([1]), "an array"), (json!({"major": 1}), "an object")] {
            let mut doc = valid();
            doc["version"] = bad;
            let expected = format!("expected an integer of at least 1 or a string such as \"3.0\", found {kind}");
            assert_eq!(problems(&doc), [("$.version".to_owned(), expected)]);
        }
    }

    #[test]
    fn parameters_may_be_called_config() {
        let with_options = valid();
        let mut with_config = valid();
        for alias in ["pii_email", "phone"] {
            let definition = with_config["strategies"][alias].as_object_mut().expect("object");
            let options = definition.remove("options").expect("options");
            definition.insert("config".into(), options);
        }
        let (a, b) = (valid_in(&with_options, unset), valid_in(&with_config, unset));
        assert_eq!(a, b);
        assert_eq!(a.canonical_text(), b.canonical_text());
        // Their problems are reported under config.
        let doc = profile_of(json!({"p": {"type": "partial", "config": {"prefx": 1}}}), json!([]));
        assert_eq!(
            problems(&doc),
            [(
                "$.strategies.p.config.prefx".to_owned(),
                "unknown option; allowed: prefix, suffix, mask_char".to_owned()
            )]
        );
    }

    #[test]
    fn options_and_config_together_are_a_problem() {
        let doc = profile_of(
            json!({
                "p": {"type": "partial", "options": {"suffix": 2}, "config": {"suffix": 2}},
                "q": {"type": "partial", "options": {"suffix": -1}, "config": {"prefx": 1}}
            }),
            json!([{"column": "c", "strategy": "p"}]),
        );
        // Both are checked: every problem of either is reported, then the conflict. The
        // column using the alias is not reported again.
        let both = "options are given too: give a strategy's parameters once, as options or as config";
        assert_eq!(
            problems(&doc),
            [
                ("$.strategies.p.config".to_owned(), both.to_owned()),
                ("$.strategies.q.options.suffix".to_owned(), "expected a non-negative integer".to_owned()),
                (
                    "$.strategies.q.config.prefx".to_owned(),
                    "unknown option; allowed: prefix, suffix, mask_char".to_owned()
                ),
                ("$.strategies.q.config".to_owned(), both.to_owned()),
            ]
        );
    }

    #[test]
    fn a_column_reads_its_seed_from_a_variable() {
        let doc = profile_of(
            json!({}),
            json!([{"column": "c", "strategy": "hash", "seed_env_var": "WARDEN_SEED"}, {"column": "d", "strategy": "hash"}]),
        );
        for (value, seed) in [("42", 42), ("-7", -7), (" 19\n", 19), ("+5", 5), ("-9223372036854775808", i64::MIN)] {
            let profile = valid_in(&doc, holding(&[("WARDEN_SEED", value)]));
            let columns = &profile.tables[0].columns;
            assert_eq!((columns[0].seed, columns[0].seed_env_var.as_deref()), (seed, Some("WARDEN_SEED")), "{value:?}");
            assert_eq!((columns[1].seed, columns[1].seed_env_var.as_deref()), (0, None));
        }
    }

    #[test]
    fn a_strategy_reads_its_seed_from_a_variable() {
        for parameters in ["options", "config"] {
            let doc = profile_of(
                json!({"mail": {"type": "email", parameters: {"domain": "keep", "seed_env_var": "WARDEN_MAIL_SEED"}}}),
                json!([{"column": "c", "strategy": "mail"}, {"column": "d", "strategy": "email"}]),
            );
            let profile = valid_in(&doc, holding(&[("WARDEN_MAIL_SEED", "11")]));
            // seed_env_var is no option of the strategy.
            assert_eq!(
                profile.strategies["mail"],
                Strategy::Email(EmailOptions { domain: EmailDomain::Keep, case_sensitive: false })
            );
            let seeds: Vec<(i64, Option<&str>)> =
                profile.tables[0].columns.iter().map(|c| (c.seed, c.seed_env_var.as_deref())).collect();
            // A bare type has no variable of its own.
            assert_eq!(seeds, [(11, Some("WARDEN_MAIL_SEED")), (0, None)], "{parameters}");
        }
        // A strategy without options still takes one.
        let doc = profile_of(
            json!({"h": {"type": "hash", "config": {"seed_env_var": "WARDEN_H"}}}),
            json!([{"column": "c", "strategy": "h"}]),
        );
        assert_eq!(valid_in(&doc, holding(&[("WARDEN_H", "3")])).tables[0].columns[0].seed, 3);
    }

    /// Column `seed`, then column `seed_env_var`, then the strategy's, then `global_seed`,
    /// then 0.
    #[test]
    fn seed_precedence() {
        let environment = [("WARDEN_COLUMN", "200"), ("WARDEN_STRATEGY", "300")];
        let column = |fields: Value| {
            let mut entry = json!({"column": "c", "strategy": "s"});
            entry.as_object_mut().expect("object").extend(fields.as_object().expect("object").clone());
            entry
        };
        let cases = [
            (json!({"seed": 100, "seed_env_var": "WARDEN_COLUMN"}), true, Some(9), (100, None)),
            (json!({"seed": 100}), true, Some(9), (100, None)),
            (json!({"seed_env_var": "WARDEN_COLUMN"}), true, Some(9), (200, Some("WARDEN_COLUMN"))),
            (json!({}), true, Some(9), (300, Some("WARDEN_STRATEGY"))),
            (json!({}), false, Some(9), (9, None)),
            (json!({}), false, None, (0, None)),
            (json!({"seed_env_var": "WARDEN_COLUMN"}), false, None, (200, Some("WARDEN_COLUMN"))),
        ];
        for (fields, strategy_variable, global_seed, expected) in cases {
            let options = if strategy_variable { json!({"seed_env_var": "WARDEN_STRATEGY"}) } else { json!({}) };
            let mut doc =
                profile_of(json!({"s": {"type": "hash", "options": options}}), json!([column(fields.clone())]));
            if let Some(global_seed) = global_seed {
                doc["global_seed"] = json!(global_seed);
            }
            let profile = valid_in(&doc, holding(&environment));
            let rule = &profile.tables[0].columns[0];
            assert_eq!(
                (rule.seed, rule.seed_env_var.as_deref()),
                expected,
                "{fields} {strategy_variable} {global_seed:?}"
            );
            // A target gets the same seed.
            assert_eq!(read(&doc, holding(&environment)).targets[0].columns[0].seed, expected.0);
        }
    }

    #[test]
    fn seed_variables_with_problems() {
        let doc = profile_of(
            json!({
                "unset": {"type": "hash", "options": {"seed_env_var": "WARDEN_UNSET"}},
                "wordy": {"type": "partial", "config": {"seed_env_var": "WARDEN_WORDY", "suffix": 2}}
            }),
            json!([
                {"column": "a", "strategy": "hash", "seed_env_var": "WARDEN_UNSET"},
                {"column": "b", "strategy": "hash", "seed_env_var": "WARDEN_WORDY"},
                {"column": "c", "strategy": "hash", "seed_env_var": "WARDEN_HUGE"},
                {"column": "d", "strategy": "hash", "seed_env_var": "HOME"},
                {"column": "e", "strategy": "hash", "seed_env_var": "WARDEN_"},
                {"column": "f", "strategy": "hash", "seed_env_var": "WARDEN_A=B"},
                {"column": "g", "strategy": "hash", "seed_env_var": "warden_lower"},
                {"column": "h", "strategy": "hash", "seed_env_var": "WARDEN_MASTER_PASSPHRASE"},
                {"column": "i", "strategy": "hash", "seed_env_var": 7},
                {"column": "j", "strategy": "hash", "seed_env_var": ""},
                // Checked even where the column's own seed wins.
                {"column": "k", "strategy": "hash", "seed": 1, "seed_env_var": "WARDEN_UNSET"},
                {"column": "l", "strategy": "hash", "seed_env_var": "WARDEN_EMPTY"}
            ]),
        );
        let environment = holding(&[
            ("WARDEN_WORDY", "hunter2-secret"),
            ("WARDEN_HUGE", "9223372036854775808"),
            ("WARDEN_EMPTY", ""),
            ("HOME", "55"),
            ("WARDEN_MASTER_PASSPHRASE", "1234"),
        ]);
        let not_set = |name: &str| format!("environment variable {name} is not set");
        let not_integer = |name: &str| format!("environment variable {name} does not hold {SEED_RANGE}");
        let bad_name = |name: &str| {
            format!(
                "expected the name of an environment variable starting with WARDEN_, then letters, digits and '_', \
                 found \"{name}\""
            )
        };
        let users = "$.tables.\"public.t\"";
        let expected: Vec<(String, String)> = vec![
            ("$.strategies.unset.options.seed_env_var".into(), not_set("WARDEN_UNSET")),
            ("$.strategies.wordy.config.seed_env_var".into(), not_integer("WARDEN_WORDY")),
            (format!("{users}[0].seed_env_var"), not_set("WARDEN_UNSET")),
            (format!("{users}[1].seed_env_var"), not_integer("WARDEN_WORDY")),
            (format!("{users}[2].seed_env_var"), not_integer("WARDEN_HUGE")),
            (format!("{users}[3].seed_env_var"), bad_name("HOME")),
            (format!("{users}[4].seed_env_var"), bad_name("WARDEN_")),
            (format!("{users}[5].seed_env_var"), bad_name("WARDEN_A=B")),
            (format!("{users}[6].seed_env_var"), bad_name("warden_lower")),
            (
                format!("{users}[7].seed_env_var"),
                "WARDEN_MASTER_PASSPHRASE holds the vault's master key material, never a seed: give the seed a \
                 variable of its own"
                    .into(),
            ),
            (format!("{users}[8].seed_env_var"), "expected a string, found a number".into()),
            (format!("{users}[9].seed_env_var"), "must not be empty".into()),
            (format!("{users}[10].seed_env_var"), not_set("WARDEN_UNSET")),
            (format!("{users}[11].seed_env_var"), not_integer("WARDEN_EMPTY")),
        ];
        let found = problems_in(&doc, environment);
        assert_eq!(found, expected);
        for (_, problem) in &found {
            assert!(!problem.contains("hunter2") && !problem.contains("1234"), "a value is quoted: {problem}");
        }
    }

    #[test]
    fn every_key_material_variable_is_refused_unread() {
        for name in KEY_MATERIAL_VARIABLES {
            let doc = profile_of(json!({}), json!([{"column": "c", "strategy": "hash", "seed_env_var": name}]));
            // `holding` fails the test if the variable is looked up.
            let found = problems_in(&doc, holding(&[(name, "1")]));
            assert_eq!(found.len(), 1, "{name}");
            assert!(found[0].1.contains("master key material"), "{found:?}");
        }
    }

    #[test]
    fn each_variable_is_looked_up_once() {
        let lookups = std::cell::RefCell::new(Vec::new());
        let environment = |name: &str| {
            lookups.borrow_mut().push(name.to_owned());
            (name == "WARDEN_A").then(|| "1".to_owned())
        };
        let doc = profile_of(
            json!({"s": {"type": "hash", "options": {"seed_env_var": "WARDEN_A"}}}),
            json!([
                {"column": "a", "strategy": "s", "seed_env_var": "WARDEN_A"},
                {"column": "b", "strategy": "s", "seed_env_var": "WARDEN_B"},
                {"column": "c", "strategy": "hash", "seed_env_var": "WARDEN_B"}
            ]),
        );
        let reading = read(&doc, environment);
        // An unset variable is reported wherever it is named.
        let paths: Vec<&str> = reading.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["$.tables.\"public.t\"[1].seed_env_var", "$.tables.\"public.t\"[2].seed_env_var"]);
        assert_eq!(*lookups.borrow(), ["WARDEN_A", "WARDEN_B"]);
    }

    #[test]
    fn targets_read_seeds_past_unusable_variables() {
        let doc = json!({
            "name": "n", "version": 1, "global_seed": 5,
            "strategies": {"s": {"type": "hash", "options": {"seed_env_var": "WARDEN_S"}}},
            "tables": {"public.t": [
                {"column": "a", "strategy": "s", "seed_env_var": "WARDEN_UNSET"},
                {"column": "b", "strategy": "hash", "seed_env_var": "WARDEN_UNSET"},
                {"column": "c", "strategy": "hash", "seed_env_var": "WARDEN_C"}
            ]}
        });
        let reading = read(&doc, holding(&[("WARDEN_S", "8"), ("WARDEN_C", "21")]));
        assert!(reading.profile.is_none());
        let seeds: Vec<i64> = reading.targets[0].columns.iter().map(|c| c.seed).collect();
        // An unusable column variable counts as absent: the strategy's, else global_seed.
        assert_eq!(seeds, [8, 5, 21]);
    }

    #[test]
    fn canonical_form_names_variables_not_their_values() {
        let at_strategy = profile_of(
            json!({"s": {"type": "hash", "config": {"seed_env_var": "WARDEN_S"}}}),
            json!([{"column": "c", "strategy": "s"}, {"column": "d", "strategy": "s", "seed": 4}]),
        );
        let at_column = profile_of(
            json!({"s": {"type": "hash"}}),
            json!([{"column": "d", "strategy": "s", "seed": 4}, {"column": "c", "strategy": "s", "seed_env_var": "WARDEN_S"}]),
        );
        let one = valid_in(&at_strategy, holding(&[("WARDEN_S", "1")]));
        let other_server = valid_in(&at_strategy, holding(&[("WARDEN_S", "2")]));
        let moved = valid_in(&at_column, holding(&[("WARDEN_S", "1")]));
        // The seed differs with the server's variable; the canonical form does not.
        assert_ne!(one, other_server);
        assert_eq!(one.canonical_text(), other_server.canonical_text());
        assert_eq!(one.canonical_text(), moved.canonical_text());
        assert!(
            one.canonical_text().contains(
                r#""public.t":[{"column":"c","seed_env_var":"WARDEN_S","strategy":"s"},{"column":"d","seed":4,"#
            ),
            "{}",
            one.canonical_text()
        );
        // It validates back to the same profile in the same environment.
        let again = valid_in(&one.canonical_json(), holding(&[("WARDEN_S", "1")]));
        assert_eq!(again.canonical_text(), one.canonical_text());
        assert_eq!(again.tables, one.tables);
    }

    #[test]
    fn columns_may_be_listed_under_rules() {
        let mut doc = valid();
        let users = doc["tables"]["public.users"].take();
        doc["tables"]["public.users"] = json!({"rules": users});
        doc["tables"]["billing.Invoices"] = json!({"rules": []});
        let (array, rules) = (valid_in(&valid(), unset), valid_in(&doc, unset));
        assert_eq!(array, rules);
        assert_eq!(array.canonical_text(), rules.canonical_text());
        // Problems and targets are at paths under rules.
        let doc = profile_of(
            json!({}),
            json!({"rules": [{"column": "c", "strategy": "nope"}, {"column": "c", "strategy": "hash"}]}),
        );
        let reading = read(&doc, unset);
        let paths: Vec<&str> = reading.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["$.tables.\"public.t\".rules[0].strategy", "$.tables.\"public.t\".rules[1].column"]);
        assert_eq!(reading.targets[0].path, "$.tables.\"public.t\"");
        let columns: Vec<&str> = reading.targets[0].columns.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(columns, ["$.tables.\"public.t\".rules[0].column", "$.tables.\"public.t\".rules[1].column"]);
    }

    #[test]
    fn rules_objects_with_problems() {
        for (columns, expected) in [
            (
                json!({"rules": {"column": "c"}}),
                vec![("$.tables.\"public.t\".rules", "expected an array of columns, found an object")],
            ),
            (json!({}), vec![("$.tables.\"public.t\".rules", "required field is missing")]),
            (
                json!({"rules": [], "columns": []}),
                vec![("$.tables.\"public.t\".columns", "unknown field; allowed: rules")],
            ),
            (
                json!(7),
                vec![("$.tables.\"public.t\"", "expected an array of columns or an object with rules, found a number")],
            ),
        ] {
            let doc = profile_of(json!({}), columns.clone());
            let found = problems(&doc);
            let found: Vec<(&str, &str)> = found.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            assert_eq!(found, expected, "{columns}");
        }
    }

    /// Each addition to the format accepts only its own field: anything else is refused
    /// where it stands.
    #[test]
    fn unknown_fields_are_still_refused_beside_the_new_ones() {
        let doc = json!({
            "name": "n", "version": "1.0", "seed_env_var": "WARDEN_S",
            "strategies": {
                "s": {"type": "partial", "config": {"seed_env_var": "WARDEN_S", "seed": 1}},
                "t": {"type": "hash", "parameters": {}}
            },
            "tables": {
                "public.t": {"rules": [{"column": "c", "strategy": "s", "seed_env": "WARDEN_S"}], "name": "t"}
            }
        });
        assert_eq!(
            problems_in(&doc, holding(&[("WARDEN_S", "1")])),
            [
                ("$.seed_env_var".to_owned(), format!("unknown field; allowed: {}", PROFILE_FIELDS.join(", "))),
                (
                    "$.strategies.s.config.seed".to_owned(),
                    "unknown option; allowed: prefix, suffix, mask_char".to_owned()
                ),
                ("$.strategies.t.parameters".to_owned(), "unknown field; allowed: type, options, config".to_owned()),
                ("$.tables.\"public.t\".name".to_owned(), "unknown field; allowed: rules".to_owned()),
                (
                    "$.tables.\"public.t\".rules[0].seed_env".to_owned(),
                    "unknown field; allowed: column, strategy, seed, seed_env_var".to_owned()
                ),
            ]
        );
    }
}
