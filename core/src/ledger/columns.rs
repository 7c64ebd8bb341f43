//! The columns of `warden.audit_log`: the one list from which the entry encoding's field
//! order, the export's field set and the extension's SELECT list and attribute lookups
//! are derived. `sql/audit.sql` creates the table; a unit test holds the two together.

/// A column's SQL type, as the ledger declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlType {
    /// `integer`.
    Int4,
    /// `bigint`.
    Int8,
    /// `timestamptz`.
    Timestamptz,
    /// `text`.
    Text,
    /// `numeric(precision, scale)`.
    Numeric {
        /// Significant digits in all.
        precision: u8,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// `jsonb`.
    Jsonb,
    /// `inet`.
    Inet,
    /// `bytea`.
    Bytea,
}

impl SqlType {
    /// The type as `pg_catalog.format_type(atttypid, atttypmod)` prints it.
    pub fn format_type(self) -> String {
        match self {
            SqlType::Int4 => "integer".into(),
            SqlType::Int8 => "bigint".into(),
            SqlType::Timestamptz => "timestamp with time zone".into(),
            SqlType::Text => "text".into(),
            SqlType::Numeric { precision, scale } => format!("numeric({precision},{scale})"),
            SqlType::Jsonb => "jsonb".into(),
            SqlType::Inet => "inet".into(),
            SqlType::Bytea => "bytea".into(),
        }
    }
}

/// Who sets a column's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// What the writer says happened, stored as given (`actor` defaults to the session
    /// user). Hashed.
    Event,
    /// Recorded by the chain trigger whatever the client sends: the id, the time and the
    /// session facts. Hashed.
    Recorded,
    /// Chain material computed by the chain trigger over the hashed columns; not hashed
    /// itself.
    Chain,
}

/// One column of the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The column this describes.
    pub column: Column,
    /// Its name in the table.
    pub name: &'static str,
    /// Its declared type.
    pub sql_type: SqlType,
    /// Whether it is declared NOT NULL (or is the primary key).
    pub not_null: bool,
    /// Who sets its value.
    pub role: Role,
}

impl ColumnSpec {
    /// Whether the entry encoding covers the column (its content, as opposed to its
    /// chain material).
    pub const fn is_content(&self) -> bool {
        !matches!(self.role, Role::Chain)
    }

    /// The SELECT expression reading the column in the form the encoding takes:
    /// `numeric` and `jsonb` as their output text, `inet` through `inet_out`, anything
    /// else as stored.
    pub fn select_expr(&self) -> String {
        let name = self.name;
        match self.sql_type {
            SqlType::Numeric { .. } | SqlType::Jsonb => format!("{name}::pg_catalog.text"),
            SqlType::Inet => format!("pg_catalog.inet_out({name})::pg_catalog.text"),
            _ => name.to_owned(),
        }
    }
}

macro_rules! ledger_columns {
    ($($column:ident: $name:literal, $sql_type:expr, $not_null:expr, $role:expr;)*) => {
        /// A column of the ledger; its discriminant is its place in [`COLUMNS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Column {
            $(#[doc = concat!("`", $name, "`")] $column,)*
        }

        /// The ledger's columns in table order: the content columns in encoding order,
        /// then the chain columns.
        pub const COLUMNS: [ColumnSpec; [$($name),*].len()] = [
            $(ColumnSpec { column: Column::$column, name: $name, sql_type: $sql_type, not_null: $not_null, role: $role },)*
        ];
    };
}

use Role::{Chain, Event, Recorded};
use SqlType::*;

ledger_columns! {
    Id:               "id",                Int8,                                   true,  Recorded;
    Ts:               "ts",                Timestamptz,                            true,  Recorded;
    EventType:        "event_type",        Text,                                   true,  Event;
    Action:           "action",            Text,                                   true,  Event;
    Actor:            "actor",             Text,                                   false, Event;
    ResourceType:     "resource_type",     Text,                                   false, Event;
    ResourceId:       "resource_id",       Text,                                   false, Event;
    CorrelationId:    "correlation_id",    Text,                                   false, Event;
    Tenant:           "tenant",            Text,                                   false, Event;
    Reason:           "reason",            Text,                                   false, Event;
    Confidence:       "confidence",        Numeric { precision: 5, scale: 4 },     false, Event;
    Details:          "details",           Jsonb,                                  false, Event;
    BeforeState:      "before_state",      Jsonb,                                  false, Event;
    AfterState:       "after_state",       Jsonb,                                  false, Event;
    SessionUserName:  "session_user_name", Text,                                   false, Recorded;
    ApplicationName:  "application_name",  Text,                                   false, Recorded;
    ClientAddr:       "client_addr",       Inet,                                   false, Recorded;
    Txid:             "txid",              Int8,                                   true,  Recorded;
    ChainId:          "chain_id",          Int4,                                   true,  Chain;
    ChainPos:         "chain_pos",         Int8,                                   true,  Chain;
    PrevHash:         "prev_hash",         Bytea,                                  true,  Chain;
    EntryHash:        "entry_hash",        Bytea,                                  true,  Chain;
    KeyName:          "key_name",          Text,                                   true,  Chain;
    KeyVersion:       "key_version",       Int4,                                   true,  Chain;
    Signature:        "signature",         Bytea,                                  true,  Chain;
}

/// The column after [`COLUMNS`]: a version-2 entry's seals (`bytea`, NULL for a
/// version-1 entry), neither content nor chain material; see [`super::redaction`].
pub const FIELD_SEALS_COLUMN: &str = "field_seals";

impl Column {
    /// The column's place in [`COLUMNS`] (0-based).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The column's entry in [`COLUMNS`].
    pub const fn spec(self) -> &'static ColumnSpec {
        &COLUMNS[self as usize]
    }

    /// The column's name in the table.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }
}

/// How many of [`COLUMNS`] the encoding covers; they come first.
pub const CONTENT_COLUMN_COUNT: usize = {
    let mut n = 0;
    while n < COLUMNS.len() && COLUMNS[n].is_content() {
        n += 1;
    }
    let mut rest = n;
    while rest < COLUMNS.len() {
        assert!(!COLUMNS[rest].is_content(), "content columns must precede the chain columns");
        rest += 1;
    }
    n
};

/// Content columns of `warden.audit_log`, in encoding order.
pub const CONTENT_COLUMNS: [&str; CONTENT_COLUMN_COUNT] = {
    let mut names = [""; CONTENT_COLUMN_COUNT];
    let mut i = 0;
    while i < names.len() {
        names[i] = COLUMNS[i].name;
        i += 1;
    }
    names
};

const _: () = {
    let mut i = 0;
    while i < COLUMNS.len() {
        assert!(COLUMNS[i].column as usize == i, "COLUMNS must be in Column order");
        i += 1;
    }
};

/// Every column's [`ColumnSpec::select_expr`] in table order, comma-separated: a SELECT
/// list whose column `i` (0-based) is `COLUMNS[i]`.
pub fn select_list() -> String {
    COLUMNS.iter().map(ColumnSpec::select_expr).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CREATE TABLE of `sql/audit.sql`, column by column: (name, type as written,
    /// NOT NULL or PRIMARY KEY).
    fn declared_columns() -> Vec<(String, String, bool)> {
        let script = include_str!("../../../sql/audit.sql");
        let body = script
            .split_once("CREATE TABLE warden.audit_log (")
            .and_then(|(_, rest)| rest.split_once("\n);"))
            .map(|(body, _)| body)
            .expect("sql/audit.sql creates warden.audit_log");
        body.lines()
            .map(|line| line.split("--").next().unwrap_or("").trim().trim_end_matches(','))
            .filter(|line| !line.is_empty() && !line.starts_with("UNIQUE") && !line.starts_with("PRIMARY KEY"))
            .map(|line| {
                let (name, rest) = line.split_once(char::is_whitespace).expect("a column has a type");
                let rest = rest.trim();
                let ty = rest.split_whitespace().next().unwrap_or("").to_owned();
                let not_null = rest.contains("NOT NULL") || rest.contains("PRIMARY KEY");
                (name.to_owned(), ty, not_null)
            })
            .collect()
    }

    /// A type as CREATE TABLE spells it.
    fn declared_type(sql_type: SqlType) -> String {
        match sql_type {
            SqlType::Timestamptz => "timestamptz".into(),
            other => other.format_type(),
        }
    }

    #[test]
    fn the_list_is_the_table_of_sql_audit_sql() {
        let mut listed: Vec<(String, String, bool)> =
            COLUMNS.iter().map(|c| (c.name.to_owned(), declared_type(c.sql_type), c.not_null)).collect();
        listed.push((FIELD_SEALS_COLUMN.to_owned(), "bytea".to_owned(), false));
        assert_eq!(listed, declared_columns());
    }

    #[test]
    fn content_columns_are_the_hashed_prefix() {
        assert_eq!(CONTENT_COLUMNS.len(), 18);
        assert_eq!(CONTENT_COLUMNS[0], "id");
        assert_eq!(CONTENT_COLUMNS[17], "txid");
        assert!(COLUMNS[18..].iter().all(|c| c.role == Role::Chain));
    }

    #[test]
    fn select_list_reads_what_the_encoding_takes() {
        assert_eq!(
            select_list(),
            "id, ts, event_type, action, actor, resource_type, resource_id, correlation_id, tenant, reason, \
             confidence::pg_catalog.text, details::pg_catalog.text, before_state::pg_catalog.text, \
             after_state::pg_catalog.text, session_user_name, application_name, \
             pg_catalog.inet_out(client_addr)::pg_catalog.text, txid, \
             chain_id, chain_pos, prev_hash, entry_hash, key_name, key_version, signature"
        );
    }

    #[test]
    fn columns_know_their_place() {
        for (i, spec) in COLUMNS.iter().enumerate() {
            assert_eq!(spec.column.index(), i);
            assert_eq!(spec.column.name(), spec.name);
        }
    }
}
