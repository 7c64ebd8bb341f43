//! Which tables, column types and strategies go together: the rules the extension
//! applies to what the catalog says of each table and column a profile names.
//!
//! - Tables in `pg_catalog`, `information_schema`, `warden` or a `pg_toast*` schema are
//!   never masked ([`is_protected_schema`]); only ordinary, permanent tables of the heap
//!   access method are ([`table_problem`]).
//! - `text`, `varchar(n)` and `char(n)` columns take the string strategies, as long as the
//!   strategy's longest output ([`max_output_chars`]) fits in `n` characters; `integer`
//!   and `bigint` columns take `hash` or `digits`, both applied as a keyed bijection of the
//!   type; no other type is masked ([`column_problem`]).
//! - A column under a unique index of its own refuses `redact` and `partial`, which give
//!   equal outputs for distinct values.
//! - Both columns of a foreign key are masked, or neither, and alike: the same strategy and
//!   seed, and for integers the same width ([`KeyMasking`], [`key_mismatch`]).
//! - A masked string is stored as its column stores text: `char(n)` values are read
//!   without their trailing blanks and written blank-padded, and no value longer than `n`
//!   is written ([`ColumnType::significant`], [`ColumnType::fit`]).

use crate::anonymize::{
    AnonError, EmailDomain, Pseudonymizer, Strategy, HASH_HEX_LEN, LOCAL_LEN, MAX_DOMAIN_LEN, REDACT_LEN,
};

/// Schemas whose tables are never masked, besides every `pg_toast*` schema.
pub const PROTECTED_SCHEMAS: [&str; 3] = ["pg_catalog", "information_schema", "warden"];

/// Whether tables of `schema` are pg_warden's own or the system's, never masked.
pub fn is_protected_schema(schema: &str) -> bool {
    PROTECTED_SCHEMAS.contains(&schema) || schema.starts_with("pg_toast")
}

/// Why a relation cannot be masked, from its catalog `relkind`, whether it is temporary
/// and whether it uses the heap access method; `None` for a table that can.
pub fn table_problem(relkind: &str, temporary: bool, heap: bool) -> Option<String> {
    let problem = match relkind {
        "r" if temporary => "temporary tables cannot be masked".to_owned(),
        "r" if !heap => "only tables of the heap access method can be masked".to_owned(),
        "r" => return None,
        "p" => "is a partitioned table, which holds no rows itself: list each of its partitions".to_owned(),
        "v" => not_a_table("a view"),
        "m" => not_a_table("a materialized view"),
        "f" => not_a_table("a foreign table"),
        _ => "is not a table".to_owned(),
    };
    Some(problem)
}

fn not_a_table(what: &str) -> String {
    format!("is {what}, not a table: mask the tables it reads from")
}

/// How a column stores the values a strategy masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `text`, `varchar(n)` or `char(n)`: `max_chars` is `n`; `char(n)` values are
    /// blank-padded.
    Text {
        /// `n` of `varchar(n)` and `char(n)`; `None` for `text` and unlimited `varchar`.
        max_chars: Option<usize>,
        /// `char(n)`: stored padded with blanks to `n` characters.
        blank_padded: bool,
    },
    /// `integer`, masked as a keyed bijection of 32-bit integers.
    Integer,
    /// `bigint`, masked as a keyed bijection of 64-bit integers.
    Bigint,
}

/// What a foreign key compares: text-like columns with each other, integers by width
/// (integer and bigint pseudonyms of one value differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinClass {
    /// `text`, `varchar(n)` and `char(n)`, whatever `n`.
    Text,
    /// `integer`.
    Integer,
    /// `bigint`.
    Bigint,
}

impl ColumnType {
    /// Which columns of a foreign key mask alike.
    pub fn join_class(self) -> JoinClass {
        match self {
            ColumnType::Text { .. } => JoinClass::Text,
            ColumnType::Integer => JoinClass::Integer,
            ColumnType::Bigint => JoinClass::Bigint,
        }
    }

    /// The text a strategy masks of a stored value: `char(n)` compares without its
    /// trailing blanks, and so do the strategies.
    pub fn significant(self, stored: &str) -> &str {
        match self {
            ColumnType::Text { blank_padded: true, .. } => stored.trim_end_matches(' '),
            _ => stored,
        }
    }

    /// `masked` as the column stores it, blank-padded for `char(n)`; when it is longer
    /// than the column holds, the error is the type's name as PostgreSQL writes it
    /// (`character varying(8)`).
    pub fn fit(self, mut masked: String) -> Result<String, String> {
        let ColumnType::Text { max_chars: Some(limit), blank_padded } = self else { return Ok(masked) };
        let chars = masked.chars().count();
        if chars > limit {
            let type_name = if blank_padded { "character" } else { "character varying" };
            return Err(format!("{type_name}({limit})"));
        }
        if blank_padded {
            masked.extend(std::iter::repeat_n(' ', limit - chars));
        }
        Ok(masked)
    }
}

/// Why a stored string could not be masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskError {
    /// The strategy refused the value.
    Strategy(AnonError),
    /// The masked value is longer than the column holds; the type's name as PostgreSQL
    /// writes it (`character varying(8)`).
    TooLong(String),
}

impl ColumnType {
    /// The stored string `stored` of a column of this type masked with `strategy`, as the
    /// column stores it: read as [`Self::significant`], written as [`Self::fit`].
    pub fn mask_text(
        self,
        pseudonymizer: &Pseudonymizer,
        strategy: &Strategy,
        stored: &str,
    ) -> Result<String, MaskError> {
        let masked = pseudonymizer.anonymize(self.significant(stored), strategy).map_err(MaskError::Strategy)?;
        self.fit(masked).map_err(MaskError::TooLong)
    }
}

/// The longest output of a string strategy, in characters, or `None` when it writes as
/// many characters as its input has.
pub fn max_output_chars(strategy: &Strategy) -> Option<usize> {
    match strategy {
        Strategy::Hash => Some(HASH_HEX_LEN),
        Strategy::Email(options) => Some(match &options.domain {
            EmailDomain::Replace(domain) => LOCAL_LEN + 1 + domain.len(),
            EmailDomain::Keep => LOCAL_LEN + 1 + MAX_DOMAIN_LEN,
        }),
        Strategy::Redact(options) if !options.keep_length => Some(REDACT_LEN),
        Strategy::Phone | Strategy::Digits | Strategy::Redact(_) | Strategy::Partial(_) => None,
    }
}

/// Why a column cannot be masked with `strategy`: `column` is its type as masking sees
/// it (`None`: a type no strategy takes), `type_name` the catalog's name for it, `unique`
/// whether a unique index covers it alone. An unusable type is reported whatever the
/// strategy; `strategy` is `None` when the profile defines none usable (reported there).
pub fn column_problem(
    column: Option<ColumnType>,
    type_name: &str,
    unique: bool,
    strategy: Option<&Strategy>,
) -> Option<String> {
    let Some(column) = column else {
        return Some(format!(
            "type {type_name} cannot be masked: string strategies take text, varchar or char, and integer or bigint columns take hash or digits"
        ));
    };
    let strategy = strategy?;
    match column {
        ColumnType::Integer | ColumnType::Bigint => {
            if !matches!(strategy, Strategy::Hash | Strategy::Digits) {
                return Some(format!(
                    "a column of type {type_name} takes hash or digits (both applied as warden.pseudonymize, a keyed bijection of the type), not {}",
                    strategy.name()
                ));
            }
        }
        ColumnType::Text { max_chars, .. } => {
            if let (Some(limit), Some(longest)) = (max_chars, max_output_chars(strategy)) {
                if longest > limit {
                    return Some(format!(
                        "type {type_name} holds at most {limit} characters; the {} strategy writes up to {longest}",
                        strategy.name()
                    ));
                }
            }
        }
    }
    if unique && matches!(strategy, Strategy::Redact(_) | Strategy::Partial(_)) {
        return Some(format!(
            "the column has a unique index of its own, and the {} strategy gives equal outputs for distinct values",
            strategy.name()
        ));
    }
    None
}

/// How a masked column's values are rewritten, as far as a foreign key compares them:
/// two columns masked alike map equal values to equal values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMasking {
    /// The column's strategy.
    pub strategy: Strategy,
    /// The column's effective seed.
    pub seed: i64,
    /// What its values compare with.
    pub class: JoinClass,
}

impl KeyMasking {
    /// How a column of type `column` is masked with `strategy` and `seed`.
    pub fn new(column: ColumnType, strategy: Strategy, seed: i64) -> Self {
        KeyMasking { strategy, seed, class: column.join_class() }
    }
}

/// How a pair of foreign-key columns would stop matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMismatch {
    /// The referencing column is masked, the referenced one is not.
    ReferencedUnmasked,
    /// The referenced column is masked, the referencing one is not.
    ReferencingUnmasked,
    /// Both are masked, differently.
    MaskedDifferently,
}

/// Whether masking breaks the pair of columns `referencing` → `referenced` of a foreign
/// key. For each side: `None` when the profile does not mask it, `Some(None)` when it
/// masks it with a strategy the document does not define properly (reported there: any
/// masking then matches), `Some(Some(masking))` otherwise.
pub fn key_mismatch(
    referencing: Option<Option<&KeyMasking>>,
    referenced: Option<Option<&KeyMasking>>,
) -> Option<KeyMismatch> {
    match (referencing, referenced) {
        (Some(_), None) => Some(KeyMismatch::ReferencedUnmasked),
        (None, Some(_)) => Some(KeyMismatch::ReferencingUnmasked),
        (Some(Some(fk)), Some(Some(pk))) if fk != pk => Some(KeyMismatch::MaskedDifferently),
        _ => None,
    }
}

impl KeyMismatch {
    /// Whether the problem is reported at the referencing column (naming the referenced
    /// one), else at the referenced column (naming the referencing one).
    pub fn at_referencing(self) -> bool {
        self != KeyMismatch::ReferencingUnmasked
    }

    /// The problem, for foreign key `key`; `other_column` is the column of the other side.
    pub fn problem(self, key: &str, other_column: &str) -> String {
        match self {
            KeyMismatch::ReferencedUnmasked => format!(
                "foreign key \"{key}\" references {other_column}, which the profile does not mask: masked values would no longer match"
            ),
            KeyMismatch::ReferencingUnmasked => format!(
                "foreign key \"{key}\" of {other_column} references this column, which the profile does not mask: its values would no longer match"
            ),
            KeyMismatch::MaskedDifferently => format!(
                "foreign key \"{key}\" references {other_column}, which the profile masks with another strategy, seed or integer width: use the same on both"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anonymize::{EmailOptions, PartialOptions, RedactOptions};
    use crate::anonymize::{Pseudonymizer, STRATEGY_NAMES};
    use crate::mac::KeyedMac;

    fn varchar(n: usize) -> ColumnType {
        ColumnType::Text { max_chars: Some(n), blank_padded: false }
    }

    fn char_n(n: usize) -> ColumnType {
        ColumnType::Text { max_chars: Some(n), blank_padded: true }
    }

    const TEXT: ColumnType = ColumnType::Text { max_chars: None, blank_padded: false };

    fn every_strategy() -> Vec<Strategy> {
        STRATEGY_NAMES.iter().map(|name| Strategy::parse(name, None).expect("defaults parse")).collect()
    }

    #[test]
    fn protected_schemas() {
        for schema in ["pg_catalog", "information_schema", "warden", "pg_toast", "pg_toast_temp_3"] {
            assert!(is_protected_schema(schema), "{schema}");
        }
        for schema in ["public", "Warden", "pg_temp_3", "warden2", "my_pg_toast"] {
            assert!(!is_protected_schema(schema), "{schema}");
        }
    }

    #[test]
    fn only_permanent_heap_tables_are_masked() {
        assert_eq!(table_problem("r", false, true), None);
        let problem = |relkind, temporary, heap| table_problem(relkind, temporary, heap).expect("a problem");
        assert_eq!(problem("r", true, true), "temporary tables cannot be masked");
        assert_eq!(problem("r", false, false), "only tables of the heap access method can be masked");
        // The kind is reported first.
        assert_eq!(
            problem("p", true, false),
            "is a partitioned table, which holds no rows itself: list each of its partitions"
        );
        assert_eq!(problem("v", false, false), "is a view, not a table: mask the tables it reads from");
        assert_eq!(problem("m", false, true), "is a materialized view, not a table: mask the tables it reads from");
        assert_eq!(problem("f", false, false), "is a foreign table, not a table: mask the tables it reads from");
        for relkind in ["S", "i", "c", "t", "I"] {
            assert_eq!(problem(relkind, false, true), "is not a table");
        }
    }

    #[test]
    fn longest_outputs() {
        assert_eq!(max_output_chars(&Strategy::Hash), Some(32));
        assert_eq!(max_output_chars(&Strategy::Email(EmailOptions::default())), Some(20 + 1 + "example.com".len()));
        let keep = Strategy::Email(EmailOptions { domain: EmailDomain::Keep, case_sensitive: false });
        assert_eq!(max_output_chars(&keep), Some(254));
        assert_eq!(max_output_chars(&Strategy::Redact(RedactOptions::default())), Some(8));
        let keep_length = Strategy::Redact(RedactOptions { keep_length: true, ..RedactOptions::default() });
        assert_eq!(max_output_chars(&keep_length), None);
        for strategy in [Strategy::Phone, Strategy::Digits, Strategy::Partial(PartialOptions::default())] {
            assert_eq!(max_output_chars(&strategy), None, "{strategy:?}");
        }
    }

    /// The bounds hold for what the strategies write, at the worst inputs for each.
    #[test]
    fn longest_outputs_bound_what_strategies_write() {
        let pseudonymizer = Pseudonymizer::new(&KeyedMac::new(&[7u8; 32]), 1);
        let long_domain = format!("a@{}.example", "d".repeat(230));
        let keep = Strategy::Email(EmailOptions { domain: EmailDomain::Keep, case_sensitive: false });
        let mut strategies = every_strategy();
        strategies.push(keep);
        for strategy in &strategies {
            let Some(longest) = max_output_chars(strategy) else { continue };
            for input in ["", "x", "user@corp.example", long_domain.as_str(), "0123456789"] {
                if let Ok(output) = pseudonymizer.anonymize(input, strategy) {
                    assert!(output.chars().count() <= longest, "{strategy:?} {input:?} -> {output:?}");
                }
            }
        }
    }

    #[test]
    fn integer_columns_take_hash_or_digits() {
        for column in [ColumnType::Integer, ColumnType::Bigint] {
            for strategy in every_strategy() {
                let problem = column_problem(Some(column), "bigint", false, Some(&strategy));
                if matches!(strategy, Strategy::Hash | Strategy::Digits) {
                    assert_eq!(problem, None, "{strategy:?}");
                } else {
                    assert_eq!(
                        problem.expect("a problem"),
                        format!(
                            "a column of type bigint takes hash or digits (both applied as warden.pseudonymize, a keyed bijection of the type), not {}",
                            strategy.name()
                        )
                    );
                }
            }
        }
        // Unique integer columns take both: they are bijections.
        assert_eq!(column_problem(Some(ColumnType::Integer), "integer", true, Some(&Strategy::Digits)), None);
    }

    #[test]
    fn string_columns_take_strategies_whose_output_fits() {
        for strategy in every_strategy() {
            assert_eq!(column_problem(Some(TEXT), "text", false, Some(&strategy)), None, "{strategy:?}");
        }
        assert_eq!(column_problem(Some(varchar(32)), "character varying(32)", false, Some(&Strategy::Hash)), None);
        assert_eq!(
            column_problem(Some(varchar(31)), "character varying(31)", false, Some(&Strategy::Hash))
                .expect("a problem"),
            "type character varying(31) holds at most 31 characters; the hash strategy writes up to 32"
        );
        assert_eq!(
            column_problem(Some(char_n(8)), "character(8)", false, Some(&Strategy::Email(EmailOptions::default())))
                .expect("a problem"),
            "type character(8) holds at most 8 characters; the email strategy writes up to 32"
        );
        // Length-keeping strategies fit any width.
        assert_eq!(column_problem(Some(char_n(1)), "character(1)", false, Some(&Strategy::Phone)), None);
    }

    #[test]
    fn unique_columns_refuse_strategies_with_collisions() {
        for strategy in every_strategy() {
            let problem = column_problem(Some(TEXT), "text", true, Some(&strategy));
            if matches!(strategy, Strategy::Redact(_) | Strategy::Partial(_)) {
                assert_eq!(
                    problem.expect("a problem"),
                    format!(
                        "the column has a unique index of its own, and the {} strategy gives equal outputs for distinct values",
                        strategy.name()
                    )
                );
            } else {
                assert_eq!(problem, None, "{strategy:?}");
            }
        }
        // A length problem is reported first.
        assert_eq!(
            column_problem(
                Some(varchar(4)),
                "character varying(4)",
                true,
                Some(&Strategy::Redact(RedactOptions::default()))
            )
            .expect("a problem"),
            "type character varying(4) holds at most 4 characters; the redact strategy writes up to 8"
        );
    }

    #[test]
    fn unusable_types_are_reported_whatever_the_strategy() {
        let expected = "type numeric cannot be masked: string strategies take text, varchar or char, and integer or bigint columns take hash or digits";
        assert_eq!(column_problem(None, "numeric", false, None).as_deref(), Some(expected));
        assert_eq!(column_problem(None, "numeric", true, Some(&Strategy::Hash)).as_deref(), Some(expected));
        // Without a usable strategy nothing else is checked.
        assert_eq!(column_problem(Some(varchar(1)), "character varying(1)", true, None), None);
    }

    #[test]
    fn stored_text_is_read_and_written_as_the_column_holds_it() {
        assert_eq!(char_n(6).significant("ab    "), "ab");
        assert_eq!(varchar(6).significant("ab  "), "ab  ");
        assert_eq!(TEXT.significant(" ab "), " ab ");
        assert_eq!(char_n(6).fit("abc".into()), Ok("abc   ".into()));
        assert_eq!(char_n(3).fit("abc".into()), Ok("abc".into()));
        assert_eq!(varchar(6).fit("abc".into()), Ok("abc".into()));
        assert_eq!(TEXT.fit("x".repeat(1000)), Ok("x".repeat(1000)));
        // Characters, not bytes.
        assert_eq!(varchar(2).fit("éé".into()), Ok("éé".into()));
        assert_eq!(char_n(3).fit("éé".into()), Ok("éé ".into()));
        assert_eq!(varchar(2).fit("abc".into()), Err("character varying(2)".into()));
        assert_eq!(char_n(2).fit("abc".into()), Err("character(2)".into()));
    }

    #[test]
    fn stored_strings_are_masked_as_the_column_holds_them() {
        let pseudonymizer = Pseudonymizer::new(&KeyedMac::new(&[7u8; 32]), 1);
        let partial = Strategy::Partial(PartialOptions { prefix: 1, suffix: 1, mask_char: '*' });
        // char(n): the blanks are not part of the value, and come back as padding.
        assert_eq!(char_n(6).mask_text(&pseudonymizer, &partial, "abcd  "), Ok("a**d  ".into()));
        assert_eq!(varchar(6).mask_text(&pseudonymizer, &partial, "abcd  "), Ok("a**** ".into()));
        let hash = pseudonymizer.hash("ab");
        assert_eq!(char_n(40).mask_text(&pseudonymizer, &Strategy::Hash, "ab"), Ok(format!("{hash:<40}")));
        assert_eq!(char_n(40).mask_text(&pseudonymizer, &Strategy::Hash, "ab   "), Ok(format!("{hash:<40}")));
        assert_eq!(
            varchar(8).mask_text(&pseudonymizer, &Strategy::Hash, "ab"),
            Err(MaskError::TooLong("character varying(8)".into()))
        );
        assert_eq!(
            TEXT.mask_text(&pseudonymizer, &Strategy::Digits, "12a"),
            Err(MaskError::Strategy(AnonError::NotDigits))
        );
    }

    #[test]
    fn foreign_keys_compare_text_with_text_and_integers_by_width() {
        assert_eq!(TEXT.join_class(), varchar(3).join_class());
        assert_eq!(char_n(3).join_class(), JoinClass::Text);
        assert_eq!(ColumnType::Integer.join_class(), JoinClass::Integer);
        assert_eq!(ColumnType::Bigint.join_class(), JoinClass::Bigint);
        assert_eq!(KeyMasking::new(TEXT, Strategy::Hash, 1), KeyMasking::new(char_n(40), Strategy::Hash, 1));
        assert_ne!(
            KeyMasking::new(ColumnType::Integer, Strategy::Hash, 1),
            KeyMasking::new(ColumnType::Bigint, Strategy::Hash, 1)
        );
    }

    #[test]
    fn foreign_key_columns_are_masked_alike_or_not_at_all() {
        let hash = KeyMasking::new(ColumnType::Integer, Strategy::Hash, 1);
        let other_seed = KeyMasking::new(ColumnType::Integer, Strategy::Hash, 2);
        let digits = KeyMasking::new(ColumnType::Integer, Strategy::Digits, 1);
        let bigint = KeyMasking::new(ColumnType::Bigint, Strategy::Hash, 1);
        assert_eq!(key_mismatch(None, None), None);
        assert_eq!(key_mismatch(Some(Some(&hash)), Some(Some(&hash.clone()))), None);
        assert_eq!(key_mismatch(Some(Some(&hash)), None), Some(KeyMismatch::ReferencedUnmasked));
        assert_eq!(key_mismatch(Some(None), None), Some(KeyMismatch::ReferencedUnmasked));
        assert_eq!(key_mismatch(None, Some(Some(&hash))), Some(KeyMismatch::ReferencingUnmasked));
        assert_eq!(key_mismatch(None, Some(None)), Some(KeyMismatch::ReferencingUnmasked));
        for other in [&other_seed, &digits, &bigint] {
            assert_eq!(key_mismatch(Some(Some(&hash)), Some(Some(other))), Some(KeyMismatch::MaskedDifferently));
        }
        // A side whose strategy is malformed is reported there, not again here.
        assert_eq!(key_mismatch(Some(None), Some(Some(&hash))), None);
        assert_eq!(key_mismatch(Some(Some(&hash)), Some(None)), None);
    }

    #[test]
    fn foreign_key_problems_name_the_other_side() {
        assert!(KeyMismatch::ReferencedUnmasked.at_referencing());
        assert!(KeyMismatch::MaskedDifferently.at_referencing());
        assert!(!KeyMismatch::ReferencingUnmasked.at_referencing());
        assert_eq!(
            KeyMismatch::ReferencedUnmasked.problem("fk", "public.a.id"),
            "foreign key \"fk\" references public.a.id, which the profile does not mask: masked values would no longer match"
        );
        assert_eq!(
            KeyMismatch::ReferencingUnmasked.problem("fk", "public.b.a_id"),
            "foreign key \"fk\" of public.b.a_id references this column, which the profile does not mask: its values would no longer match"
        );
        assert_eq!(
            KeyMismatch::MaskedDifferently.problem("fk", "public.a.id"),
            "foreign key \"fk\" references public.a.id, which the profile masks with another strategy, seed or integer width: use the same on both"
        );
    }
}
