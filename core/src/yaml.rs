//! YAML documents read as the JSON values pg_warden takes: profiles kept as YAML files
//! and checked or converted by `warden-profile`.
//!
//! YAML 1.2 and its core schema, so none of YAML 1.1's surprises: `yes`, `no`, `on`, `off`,
//! `y` and `n` are strings (a column called `no` stays `"no"`, and `case_sensitive: no` is
//! a string the profile check refuses rather than a silent `false`); only `true` and
//! `false` (also `True`, `TRUE`, …) are booleans; `017` is the integer 17, `0o17` is 15.
//! A number written as JSON writes numbers is read as JSON reads it, digits kept, so an
//! unquoted `version: 1.0` is the number `1.0`, never `1`, and `1.10` is not `1.1`; other
//! numbers become the JSON number of their value (`0x1f` is 31, `.5` is 0.5, `+3` is 3). Quoted scalars
//! are strings. Anchors and aliases are expanded; `<<` is an ordinary key (merge keys are
//! YAML 1.1).
//!
//! Refused, with the line and column and, where there is one, the JSON path: text that is
//! not YAML; no document or more than one; a key given twice in one mapping (YAML forbids
//! it, and JSON's last-one-wins would hide the first); keys that are not strings (`1:`,
//! `true:`, `~:`: quote them) or are collections; tags other than the core schema's
//! (`!!str`, `!!int`, …), and values that do not match their core tag; `.inf` and `.nan`,
//! which JSON cannot write; more than [`MAX_ALIAS_NODES`] nodes added by aliases; nesting
//! deeper than [`MAX_DEPTH`], as the extension refuses it. The document is read as a
//! stream of events, so no depth of input can exhaust the stack.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::Scalar;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Number, Value};

use crate::json::{element_path, member_path, MAX_DEPTH};

/// Most nodes that aliases may add to a document by repeating their anchors: enough for
/// any profile, far from the billions a few nested anchors expand to.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Why a YAML document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Line of the input, from 1.
    pub line: usize,
    /// Column of the input, in characters, from 1.
    pub column: usize,
    /// The JSON path of the node concerned, when the problem is with a node.
    pub path: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for YamlError {
    /// `line L column C (at PATH): problem`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)?;
        if let Some(path) = &self.path {
            write!(f, " (at {path})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// The one document of YAML `text`, as JSON.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(syntax_error)?;
        builder.event(event, span)?;
    }
    builder.document.ok_or_else(|| YamlError {
        line: 1,
        column: 1,
        path: None,
        problem: "the file holds no YAML document".into(),
    })
}

fn syntax_error(error: ScanError) -> YamlError {
    let marker = error.marker();
    YamlError { line: marker.line(), column: marker.col() + 1, path: None, problem: error.info().to_owned() }
}

/// A collection being read.
enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
    },
    /// `key` is the key read whose value comes next.
    Mapping {
        members: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
    },
}

/// An anchored node, kept for its aliases.
struct Anchored {
    value: Value,
    /// Containers nested in it, [`crate::json::nesting_depth`]'s count.
    depth: usize,
    /// Nodes in it, itself included.
    nodes: usize,
}

#[derive(Default)]
struct Builder {
    frames: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    alias_nodes: usize,
    document: Option<Value>,
}

impl Builder {
    /// The JSON path of the node read next.
    fn path(&self) -> String {
        let mut path = String::from("$");
        for frame in &self.frames {
            path = match frame {
                Frame::Sequence { items, .. } => element_path(&path, items.len()),
                Frame::Mapping { key: Some(key), .. } => member_path(&path, key),
                Frame::Mapping { key: None, .. } => path,
            };
        }
        path
    }

    fn refuse(&self, span: Span, problem: impl Into<String>) -> YamlError {
        YamlError {
            line: span.start.line(),
            column: span.start.col() + 1,
            path: Some(self.path()),
            problem: problem.into(),
        }
    }

    /// Whether the node read next is a mapping's key.
    fn at_key(&self) -> bool {
        matches!(self.frames.last(), Some(Frame::Mapping { key: None, .. }))
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(_) if self.document.is_some() => {
                Err(self.refuse(span, "a second YAML document: a profile file holds one"))
            }
            Event::Scalar(text, style, anchor, tag) => {
                refuse_foreign_tag(tag.as_deref()).map_err(|problem| self.refuse(span, problem))?;
                if self.at_key() {
                    let key = self.key(text, style, tag.as_ref()).map_err(|problem| self.refuse(span, problem))?;
                    if let Some(Frame::Mapping { members, key: next, .. }) = self.frames.last_mut() {
                        if members.contains_key(&key) {
                            let problem = format!("duplicate key {}: YAML allows each key once", Value::from(key));
                            return Err(self.refuse(span, problem));
                        }
                        *next = Some(key);
                    }
                    return Ok(());
                }
                let value = scalar(&text, style, tag.as_ref()).map_err(|problem| self.refuse(span, problem))?;
                self.complete(value, anchor, span)
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                refuse_foreign_tag(tag.as_deref()).map_err(|problem| self.refuse(span, problem))?;
                if self.at_key() {
                    return Err(self.refuse(span, "a key that is a sequence or mapping: JSON keys are strings"));
                }
                if self.frames.len() >= MAX_DEPTH {
                    return Err(self.refuse(span, format!("nested deeper than {MAX_DEPTH} levels")));
                }
                let is_sequence = matches!(event, Event::SequenceStart(..));
                self.frames.push(if is_sequence {
                    Frame::Sequence { items: Vec::new(), anchor }
                } else {
                    Frame::Mapping { members: Map::new(), key: None, anchor }
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.frames.pop() {
                    Some(Frame::Sequence { items, anchor }) => (Value::Array(items), anchor),
                    Some(Frame::Mapping { members, anchor, .. }) => (Value::Object(members), anchor),
                    None => return Ok(()),
                };
                self.complete(value, anchor, span)
            }
            Event::Alias(id) => {
                if self.at_key() {
                    return Err(self.refuse(span, "an alias as a key: JSON keys are strings"));
                }
                let Some(anchored) = self.anchors.get(&id) else {
                    // The parser knows the anchor, but its node is still open: `&a [*a]`.
                    return Err(self.refuse(span, "an alias inside the node it refers to"));
                };
                if self.frames.len() + anchored.depth > MAX_DEPTH {
                    return Err(
                        self.refuse(span, format!("nested deeper than {MAX_DEPTH} levels once aliases are expanded"))
                    );
                }
                self.alias_nodes += anchored.nodes;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    let problem = format!("aliases add more than {MAX_ALIAS_NODES} nodes to the document");
                    return Err(self.refuse(span, problem));
                }
                let value = anchored.value.clone();
                self.complete(value, 0, span)
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {
                Ok(())
            }
        }
    }

    /// A mapping key: a string, however it is written.
    fn key(&self, text: Cow<'_, str>, style: ScalarStyle, tag: Option<&Cow<'_, Tag>>) -> Result<String, String> {
        match Scalar::parse_from_cow_and_metadata(text.clone(), style, tag) {
            Some(Scalar::String(key)) => Ok(key.into_owned()),
            Some(_) => Err(format!(
                "the key {} is not a string in YAML (a number, boolean or null): quote it, as JSON keys are strings",
                Value::from(text.as_ref())
            )),
            None => Err(mismatched_tag(tag)),
        }
    }

    /// Places a finished node in its collection, or as the document.
    fn complete(&mut self, value: Value, anchor: usize, span: Span) -> Result<(), YamlError> {
        if anchor > 0 {
            let (depth, nodes) = measure(&value);
            self.anchors.insert(anchor, Anchored { value: value.clone(), depth, nodes });
        }
        match self.frames.last_mut() {
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping { members, key, .. }) => {
                if let Some(key) = key.take() {
                    members.insert(key, value);
                }
            }
            None if self.document.is_some() => {
                return Err(self.refuse(span, "a second YAML document: a profile file holds one"));
            }
            None => self.document = Some(value),
        }
        Ok(())
    }
}

/// A scalar value as JSON.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Cow<'_, Tag>>) -> Result<Value, String> {
    let resolved =
        Scalar::parse_from_cow_and_metadata(Cow::Borrowed(text), style, tag).ok_or_else(|| mismatched_tag(tag))?;
    Ok(match resolved {
        Scalar::Null => Value::Null,
        Scalar::Boolean(boolean) => Value::Bool(boolean),
        Scalar::String(string) => Value::String(string.into_owned()),
        Scalar::Integer(integer) => Value::from(integer),
        Scalar::FloatingPoint(float) => match json_number(text) {
            Some(number) => number,
            None => Number::from_f64(float.into_inner())
                .map(Value::Number)
                .ok_or_else(|| format!("{} has no JSON form", Value::from(text)))?,
        },
    })
}

/// `text` as a JSON number, keeping its digits, when it is JSON number text.
fn json_number(text: &str) -> Option<Value> {
    serde_json::from_str::<Number>(text).ok().map(Value::Number)
}

/// Tags outside the core schema have no JSON meaning: refused rather than dropped.
fn refuse_foreign_tag(tag: Option<&Tag>) -> Result<(), String> {
    match tag {
        Some(tag) if !tag.is_yaml_core_schema() => {
            Err(format!("the YAML tag {}{} has no JSON form", tag.handle, tag.suffix))
        }
        _ => Ok(()),
    }
}

fn mismatched_tag(tag: Option<&Cow<'_, Tag>>) -> String {
    let suffix = tag.map_or("?", |tag| tag.suffix.as_str());
    format!("the value does not match its tag !!{suffix}")
}

/// Containers nested in `value` and nodes in it. Values built here nest at most
/// [`MAX_DEPTH`] deep, so the recursion is bounded.
fn measure(value: &Value) -> (usize, usize) {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(members) => Box::new(members.values()),
        _ => return (0, 1),
    };
    children.map(measure).fold((1, 1), |(depth, nodes), (d, n)| (depth.max(d + 1), nodes + n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(text: &str) -> Value {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn refused(text: &str) -> YamlError {
        match parse(text) {
            Ok(value) => panic!("{text:?} was read as {value}"),
            Err(error) => error,
        }
    }

    #[test]
    fn a_profile_in_yaml_is_its_json() {
        let text = "\
# staging
name: staging
version: \"1.0\"
global_seed: 42
strategies:
  mail: {type: email, config: {domain: keep}}
  last4:
    type: partial
    options:
      suffix: 4
      mask_char: '#'
tables:
  public.users:
    rules:
      - column: email
        strategy: mail
      - {column: card, strategy: last4, seed: -1}
";
        let expected = json!({
            "name": "staging", "version": "1.0", "global_seed": 42,
            "strategies": {
                "mail": {"type": "email", "config": {"domain": "keep"}},
                "last4": {"type": "partial", "options": {"suffix": 4, "mask_char": "#"}}
            },
            "tables": {"public.users": {"rules": [
                {"column": "email", "strategy": "mail"},
                {"column": "card", "strategy": "last4", "seed": -1}
            ]}}
        });
        assert_eq!(yaml(text), expected);
        // JSON is YAML: a JSON document reads as the same value.
        let as_json = expected.to_string();
        assert_eq!(yaml(&as_json), crate::json::parse(&as_json).expect("JSON"));
    }

    /// YAML 1.1 read these as booleans, so `column: no` became `false`.
    #[test]
    fn yaml_1_1_booleans_are_strings() {
        for word in ["no", "No", "NO", "yes", "on", "off", "On", "y", "n", "Y", "N"] {
            assert_eq!(yaml(&format!("column: {word}")), json!({"column": word}), "{word}");
            assert_eq!(yaml(&format!("{word}: 1")), json!({word: 1}), "{word} as a key");
        }
        for (word, boolean) in [("true", true), ("True", true), ("TRUE", true), ("false", false), ("FALSE", false)] {
            assert_eq!(yaml(&format!("case_sensitive: {word}")), json!({"case_sensitive": boolean}));
        }
    }

    #[test]
    fn numbers_keep_their_text_when_it_is_json() {
        let number_text = |text: &str| yaml(&format!("v: {text}"))["v"].to_string();
        for (text, json) in [
            ("1.0", "1.0"),
            ("1.10", "1.10"),
            ("3", "3"),
            ("-7", "-7"),
            // serde_json's own spelling of the JSON number 1e3.
            ("1e3", "1e+3"),
            ("99999999999999999999", "99999999999999999999"),
            // YAML 1.2: decimal, not YAML 1.1's octal 15.
            ("017", "17"),
            ("0o17", "15"),
            ("0x1f", "31"),
            ("+3", "3"),
            (".5", "0.5"),
            ("+1.5", "1.5"),
        ] {
            assert_eq!(number_text(text), json, "{text}");
        }
        // Quoted, they are strings.
        assert_eq!(yaml("version: '1.0'"), json!({"version": "1.0"}));
        assert_eq!(yaml("version: \"3\""), json!({"version": "3"}));
        for null in ["v: ~", "v: null", "v: Null", "v:"] {
            assert_eq!(yaml(null), json!({"v": null}), "{null}");
        }
    }

    #[test]
    fn values_without_a_json_form_are_refused() {
        for text in ["seed: .inf", "seed: -.Inf", "seed: .nan"] {
            let error = refused(text);
            assert_eq!(error.path.as_deref(), Some("$.seed"), "{text}");
            assert!(error.problem.ends_with("has no JSON form"), "{error}");
        }
        let error = refused("a:\n  b: !secret x\n");
        assert_eq!((error.line, error.column, error.path.as_deref()), (2, 6, Some("$.a.b")));
        assert_eq!(error.problem, "the YAML tag !secret has no JSON form");
        assert_eq!(refused("!thing {a: 1}").path.as_deref(), Some("$"));
        // Core schema tags are honoured, and checked.
        assert_eq!(yaml("v: !!str 12"), json!({"v": "12"}));
        assert_eq!(yaml("v: !!int 12"), json!({"v": 12}));
        assert_eq!(refused("v: !!int twelve").problem, "the value does not match its tag !!int");
    }

    #[test]
    fn keys_are_strings_given_once() {
        let error = refused("tables:\n  public.t: []\n  public.t: [1]\n");
        assert_eq!((error.line, error.path.as_deref()), (3, Some("$.tables")));
        assert_eq!(error.problem, "duplicate key \"public.t\": YAML allows each key once");
        for (text, key) in [("1: a", "1"), ("true: a", "true"), ("~: a", "~"), ("1.0: a", "1.0")] {
            let error = refused(text);
            assert!(error.problem.starts_with(&format!("the key \"{key}\" is not a string")), "{error}");
        }
        assert_eq!(yaml("'1': a"), json!({"1": "a"}));
        assert!(refused("? [a]\n: b\n").problem.starts_with("a key that is a sequence or mapping"));
        assert!(refused("a: &x k\n*x : b\n").problem.starts_with("an alias as a key"));
        // A merge key is a key like any other (the profile check refuses it as unknown).
        assert_eq!(yaml("base: &b {x: 1}\nt:\n  <<: *b\n"), json!({"base": {"x": 1}, "t": {"<<": {"x": 1}}}));
    }

    #[test]
    fn one_document_per_file() {
        for empty in ["", "# nothing\n", "\n\n"] {
            assert_eq!(refused(empty).problem, "the file holds no YAML document", "{empty:?}");
        }
        let error = refused("name: a\n---\nname: b\n");
        assert_eq!((error.line, error.problem.as_str()), (2, "a second YAML document: a profile file holds one"));
        assert_eq!(yaml("---\nname: a\n...\n"), json!({"name": "a"}));
    }

    #[test]
    fn aliases_are_expanded_within_a_budget() {
        assert_eq!(
            yaml("strategies:\n  mail: &mail {type: email}\n  other: *mail\n"),
            json!({"strategies": {"mail": {"type": "email"}, "other": {"type": "email"}}})
        );
        // Each level doubles the one before: 2^30 nodes if expanded.
        let mut laughs = String::from("a0: &a0 [x, x]\n");
        for level in 1..30 {
            laughs.push_str(&format!("a{level}: &a{level} [*a{}, *a{}]\n", level - 1, level - 1));
        }
        assert_eq!(refused(&laughs).problem, format!("aliases add more than {MAX_ALIAS_NODES} nodes to the document"));
        let error = refused("a: *nowhere");
        assert_eq!((error.line, error.column), (1, 4), "{error}");
        let error = refused("a: &x [1, *x]");
        assert_eq!(
            (error.path.as_deref(), error.problem.as_str()),
            (Some("$.a[1]"), "an alias inside the node it refers to")
        );
    }

    #[test]
    fn nesting_is_limited_as_json_s() {
        for (depth, ok) in [(MAX_DEPTH, true), (MAX_DEPTH + 1, false)] {
            let flow = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            let block = format!("{}x\n", "- ".repeat(depth));
            for text in [flow, block] {
                match parse(&text) {
                    Ok(value) => {
                        assert!(ok, "{depth}");
                        assert_eq!(crate::json::nesting_depth(&value.to_string()), depth);
                    }
                    Err(error) => {
                        assert!(!ok, "{depth}: {error}");
                        assert_eq!(error.problem, format!("nested deeper than {MAX_DEPTH} levels"));
                    }
                }
            }
        }
        // Far deeper input is refused without exhausting the test thread's stack.
        assert!(parse(&format!("{}x\n", "- ".repeat(200_000))).is_err());
        // An alias may not carry a document past the limit either.
        let deep = format!("a: &deep {}1{}\nb: [*deep]\n", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(refused(&deep).problem.ends_with("once aliases are expanded"));
    }

    #[test]
    fn syntax_errors_say_where() {
        // An unquoted `*` starts an alias: mask characters must be quoted.
        let error = refused("options:\n  mask_char: *\n");
        assert_eq!((error.line, error.path.as_deref()), (2, None));
        let error = refused("a: [1, 2\n");
        assert!(error.line >= 1 && !error.problem.is_empty(), "{error}");
        assert_eq!(
            YamlError { line: 3, column: 7, path: Some("$.a".into()), problem: "p".into() }.to_string(),
            "line 3 column 7 (at $.a): p"
        );
        assert_eq!(YamlError { line: 1, column: 1, path: None, problem: "p".into() }.to_string(), "line 1 column 1: p");
    }
}
