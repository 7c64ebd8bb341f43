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
//!     "last4": {"type": "partial", "options": {"suffix": 4}}
//!   },
//!   "tables": {
//!     "public.users": [
//!       {"column": "email", "strategy": "pii_email"},
//!       {"column": "phone", "strategy": "phone", "seed": 7}
//!     ]
//!   }
//! }
//! ```
//!
//! - `name` (non-empty string), `version` (integer ≥ 1), `strategies` and `tables` are
//!   required; `global_seed` (integer, default 0) and `key` (keyring key name, default
//!   `"default"`) are optional. Unknown fields are refused at every level.
//! - `strategies` maps aliases to `{"type", "options"?}`; options are checked as
//!   [`Strategy::parse`] checks them.
//! - A column's `strategy` names an alias; a name that is not an alias but is a strategy
//!   type stands for that type with default options. An alias named like a type shadows
//!   it, so `"email": {"type": "email", "options": {"domain": "keep"}}` redefines what
//!   `email` means throughout the profile.
//! - A column's seed is its own `seed`, else `global_seed`, else 0.
//! - Table keys are `schema.table` as the catalog stores the names: exactly one '.',
//!   no quotes, no case folding. Whether tables and columns exist, and their types, is
//!   for the extension to look up in the database; [`compat`] says what it accepts.
//!
//! [`validate`] reports every problem at once, each with the JSON path where it lies
//! (`$.tables."public.users"[0].strategy`). [`read`] also returns what the document names
//! however many problems it has ([`Reading::targets`], [`Reading::key`]), so that the
//! extension checks every table, column and key against the database in the same pass;
//! [`compat`] says which tables, column types and strategies go together.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::anonymize::{kind_of, AnonError, Strategy, STRATEGY_NAMES};
use crate::json::canonical_text;

pub mod compat;

/// Keyring key used when a profile names none.
pub const DEFAULT_KEY_NAME: &str = "default";

const PROFILE_FIELDS: &[&str] = &["name", "version", "global_seed", "key", "strategies", "tables"];
const ALIAS_FIELDS: &[&str] = &["type", "options"];
const COLUMN_FIELDS: &[&str] = &["column", "strategy", "seed"];

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
    /// `version`, at least 1.
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
    /// Effective seed: the column's, else the profile's global seed, else 0.
    pub seed: i64,
}

impl Profile {
    /// The profile as a JSON value that says only what the profile means: defaults
    /// written out (key, global seed, every option), each column's effective seed, and
    /// columns sorted by name. Two documents meaning the same profile give the same
    /// value, and validating it gives this profile back.
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
                        column.insert("seed".into(), Value::from(c.seed));
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
    /// included; none when the entries are not an array.
    pub columns: Vec<TargetColumn>,
}

/// A column the document names, read past any problem in its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    /// `$.tables."schema.table"[i].column`, where the column's problems are reported.
    pub path: String,
    /// Column name, as the catalog stores it.
    pub name: String,
    /// The strategy its `strategy` names, resolved as for a valid profile (against the
    /// aliases, or the types alone when `$.strategies` is unusable); `None` when it names
    /// nothing usable.
    pub strategy: Option<Strategy>,
    /// Its seed as for a valid profile; a malformed seed counts as absent.
    pub seed: i64,
}

/// Reads `doc` once: every problem, the profile when there is none, and the targets and
/// key it names either way.
pub fn read(doc: &Value) -> Reading {
    let mut checker = Checker { problems: Vec::new(), targets: Vec::new(), key: Some(DEFAULT_KEY_NAME.to_owned()) };
    let profile = checker.profile(doc).filter(|_| checker.problems.is_empty());
    Reading { profile, problems: checker.problems, targets: checker.targets, key: checker.key }
}

/// Checks `doc` against the profile format. Returns the profile when there is no
/// problem, otherwise every problem found, in document order (object keys sorted).
pub fn validate(doc: &Value) -> (Option<Profile>, Vec<Problem>) {
    let reading = read(doc);
    (reading.profile, reading.problems)
}

/// `parent.key`, quoting the key unless it is a plain identifier.
fn member_path(parent: &str, key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}.{}", Value::from(key))
    }
}

fn element_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// Aliases as defined: `None` for one whose definition has problems (already reported),
/// so columns using it are not reported again.
type Aliases = BTreeMap<String, Option<Strategy>>;

struct Checker {
    problems: Vec<Problem>,
    targets: Vec<Target>,
    key: Option<String>,
}

impl Checker {
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

    fn profile(&mut self, doc: &Value) -> Option<Profile> {
        let root = self.object("$", doc)?;
        self.unknown_fields("$", root, PROFILE_FIELDS);
        let name = self.required("$", root, "name").and_then(|v| self.text("$.name", v));
        let version = self
            .required("$", root, "version")
            .and_then(|v| self.integer("$.version", v, 1, "an integer of at least 1"));
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
            aliases?.into_iter().map(|(alias, strategy)| Some((alias, strategy?))).collect::<Option<_>>()?;
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
            let strategy = self.alias(&path, definition);
            aliases.insert(alias.clone(), strategy);
        }
        Some(aliases)
    }

    fn alias(&mut self, path: &str, definition: &Value) -> Option<Strategy> {
        let definition = self.object(path, definition)?;
        self.unknown_fields(path, definition, ALIAS_FIELDS);
        let type_path = member_path(path, "type");
        let name = self.required(path, definition, "type").and_then(|v| self.text(&type_path, v))?;
        let options_path = member_path(path, "options");
        match Strategy::parse(&name, definition.get("options")) {
            Ok(strategy) => Some(strategy),
            Err(AnonError::UnknownStrategy) => {
                self.report(
                    &type_path,
                    format!("unknown strategy type {}; allowed: {}", Value::from(name), STRATEGY_NAMES.join(", ")),
                );
                None
            }
            Err(AnonError::InvalidOptions { problems, .. }) => {
                for problem in problems {
                    let at = match &problem.option {
                        Some(option) => member_path(&options_path, option),
                        None => options_path.clone(),
                    };
                    self.report(&at, problem.message);
                }
                None
            }
            Err(other) => {
                self.report(path, other.to_string());
                None
            }
        }
    }

    fn tables(&mut self, value: &Value, aliases: Option<&Aliases>, global_seed: i64) -> Option<Vec<TableRule>> {
        let tables = self.object("$.tables", value)?;
        let mut rules = Vec::with_capacity(tables.len());
        let mut all_valid = true;
        for (key, columns) in tables {
            let path = member_path("$.tables", key);
            let name = self.table_name(&path, key);
            let (columns, targets) = self.columns(&path, columns, aliases, global_seed);
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

    fn columns(
        &mut self,
        table_path: &str,
        value: &Value,
        aliases: Option<&Aliases>,
        global_seed: i64,
    ) -> (Option<Vec<ColumnRule>>, Vec<TargetColumn>) {
        let Some(entries) = value.as_array() else {
            self.report(table_path, format!("expected an array of columns, found {}", kind_of(value)));
            return (None, Vec::new());
        };
        let mut rules = Vec::with_capacity(entries.len());
        let mut targets = Vec::new();
        let mut all_valid = true;
        let mut first_index: HashMap<&str, usize> = HashMap::new();
        let no_aliases = Aliases::new();
        for (index, entry) in entries.iter().enumerate() {
            let path = element_path(table_path, index);
            let rule = self.column(&path, entry, aliases, global_seed);
            if let Some(name) = entry.get("column").and_then(Value::as_str).filter(|name| !name.is_empty()) {
                let column_path = member_path(&path, "column");
                if let Some(first) = first_index.get(name) {
                    self.report(&column_path, format!("duplicate column (first at index {first})"));
                    all_valid = false;
                } else {
                    first_index.insert(name, index);
                }
                let strategy = entry
                    .get("strategy")
                    .and_then(Value::as_str)
                    .and_then(|alias| resolve_quietly(alias, aliases.unwrap_or(&no_aliases)));
                let seed = entry.get("seed").and_then(Value::as_i64).unwrap_or(global_seed);
                targets.push(TargetColumn { path: column_path, name: name.to_owned(), strategy, seed });
            }
            match rule {
                Some(rule) => rules.push(rule),
                None => all_valid = false,
            }
        }
        (all_valid.then_some(rules), targets)
    }

    fn column(&mut self, path: &str, entry: &Value, aliases: Option<&Aliases>, global_seed: i64) -> Option<ColumnRule> {
        let fields = self.object(path, entry)?;
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
        let seed = match fields.get("seed") {
            Some(v) => self.integer(&member_path(path, "seed"), v, i64::MIN, SEED_RANGE),
            None => Some(global_seed),
        };
        Some(ColumnRule { column: column?, alias: alias?, strategy: strategy?, seed: seed? })
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
        Some(defined) => defined.clone(),
        None if STRATEGY_NAMES.contains(&name) => Strategy::parse(name, None).ok(),
        None => None,
    }
}

/// How seeds are described in messages.
const SEED_RANGE: &str = "an integer from -9223372036854775808 to 9223372036854775807";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anonymize::{EmailDomain, EmailOptions, PartialOptions};
    use serde_json::json;

    fn problems(doc: &Value) -> Vec<(String, String)> {
        let (profile, problems) = validate(doc);
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
        let (profile, problems) = validate(&valid());
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
        let (profile, problems) = validate(&doc);
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
                "public.orders": {"column": "id"}
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
            ("$.strategies.extra.comment", "unknown field; allowed: type, options"),
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
            ("$.tables.\"public.orders\"", "expected an array of columns, found an object"),
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
            ("$.tables.\"public.users\"[4].mask", "unknown field; allowed: column, strategy, seed"),
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
        let doc = json!({"name": 1, "version": "1", "key": "", "strategies": {}, "tables": {}});
        assert_eq!(
            problems(&doc),
            [
                ("$.name".to_owned(), "expected a string, found a number".to_owned()),
                ("$.version".to_owned(), "expected an integer of at least 1, found a string".to_owned()),
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
        let (a, _) = validate(&valid());
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
        let (b, problems) = validate(&b);
        assert!(problems.is_empty(), "{problems:?}");
        let b = b.expect("valid");
        assert_eq!(a.canonical_text(), b.canonical_text());
        assert!(a.canonical_text().starts_with(r#"{"global_seed":42,"key":"anon","name":"staging","#));
        assert!(a.canonical_text().contains(
            r#""public.users":[{"column":"card","seed":-1,"strategy":"last4"},{"column":"email","seed":42,"#
        ));

        // The canonical form is itself a valid profile with the same canonical form.
        let (again, problems) = validate(&a.canonical_json());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(again.expect("valid").canonical_text(), a.canonical_text());

        // A change of meaning changes it.
        let mut c = valid();
        c["tables"]["public.users"][1]["seed"] = json!(8);
        let (c, _) = validate(&c);
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
        let reading = read(&valid());
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
        assert_eq!(validate(&valid()), (Some(profile), Vec::new()));
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
        let reading = read(&doc);
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
            let reading = read(&doc);
            let columns: Vec<Option<&str>> =
                reading.targets[0].columns.iter().map(|c| c.strategy.as_ref().map(Strategy::name)).collect();
            assert_eq!(columns, [Some("email"), None]);
            // Only "$.strategies" is a problem: the columns are not reported again.
            assert_eq!(paths(&doc), ["$.strategies"]);
        }
    }

    #[test]
    fn the_key_to_look_up() {
        let key = |doc: Value| read(&doc).key;
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
            assert!(read(&doc).targets.is_empty(), "{doc}");
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

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        assert_eq!(member_path("$", "name"), "$.name");
        assert_eq!(member_path("$", "_x1"), "$._x1");
        assert_eq!(member_path("$", "1x"), "$.\"1x\"");
        assert_eq!(member_path("$", "public.users"), "$.\"public.users\"");
        assert_eq!(member_path("$", "a\"b"), "$.\"a\\\"b\"");
        assert_eq!(element_path("$.t", 3), "$.t[3]");
    }
}
