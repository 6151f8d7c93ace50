//! Numbering by the database itself: a [`Numbering`](crate::Numbering)
//! compiled into functions and triggers, so every insert from any client is
//! numbered and every delete and number change is guarded, with the counter
//! row, the lock and the guards of the library's own allocation.
//!
//! `plan` (in `numbering::by_database`) turns a checked field into a
//! [`FieldPlan`]; `expr` writes the expressions every backend shares (the
//! sequence name, the period, the reference); `postgres`, `mysql` and
//! `sqlite` write each backend's triggers; `catalog` reads back what is
//! installed, for the audit; `refusal` is the one spelling of a trigger's
//! refusals and their way back to [`SequenceError`].

use sha2::{Digest, Sha256};

use crate::entity::{MAX_NAME_LENGTH, TABLE_NAME, VOIDS_TABLE};
use crate::error::wire::{Kind, PREFIX};
use crate::hash::hex;
use crate::period::Period;
use crate::policy::OnDelete;
use crate::sql::piece::Arg;
use crate::sql::{DeclaredRange, Dialect};
use crate::sql::{Plan, Step};
use sequences_template::Template;
use sequences_template::rules::{FormatPiece, Moment};

pub(crate) mod catalog;
pub(crate) mod expr;
mod mysql;
mod postgres;
mod sqlite;
pub(crate) mod table;

/// How a column's value prints as a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    Integer,
    Text,
    Bool,
    Date,
}

/// What a date column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateKind {
    /// A calendar day.
    Date,
    /// A date and time with no zone: its date.
    Naive,
    /// An instant (`timestamptz`, MariaDB `TIMESTAMP`, RFC 3339 text): its
    /// day in UTC, or in the field's time zone.
    Instant,
}

/// Where a field's day comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DayPlan {
    Column { name: String, kind: DateKind },
    Database,
}

/// Why an `Add` sequence stops: its maximum, and whether that maximum is a
/// column type's (refused as a value that does not fit the column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct End {
    pub(crate) max_value: Option<i64>,
    pub(crate) cap: Option<(String, &'static str)>,
}

/// A keyless hash chain: the hash column and the covered columns, in order.
#[derive(Debug, Clone)]
pub(crate) struct ChainPlan {
    pub(crate) hash: String,
    pub(crate) covers: Vec<(String, TextKind)>,
}

/// One numbered field, as the database numbers and guards it.
#[derive(Debug, Clone)]
pub(crate) struct FieldPlan {
    pub(crate) table: String,
    pub(crate) keys: Vec<String>,
    /// The table's other unique indexes and constraints (their columns),
    /// read from the catalog when installing: a row that conflicts with one
    /// is not inserted.
    pub(crate) unique: Vec<Vec<String>>,
    /// The collation of each column of `unique` (`None`: the column's
    /// own), and whether each index takes NULLs as equal (PostgreSQL's
    /// `NULLS NOT DISTINCT`).
    pub(crate) unique_collations: Vec<Vec<Option<String>>>,
    pub(crate) unique_nulls_equal: Vec<bool>,
    pub(crate) column: String,
    /// `table.column`.
    pub(crate) target: String,
    pub(crate) template: String,
    pub(crate) name: Template,
    /// Placeholder name, column, how it prints.
    pub(crate) placeholders: Vec<(String, String, TextKind)>,
    /// One value of the sequence: a new counter's `last`, and the step.
    pub(crate) plan: Plan,
    pub(crate) end: End,
    pub(crate) range: Option<DeclaredRange>,
    pub(crate) period: Option<Period>,
    pub(crate) day: Option<DayPlan>,
    pub(crate) zone: Option<String>,
    pub(crate) chronological: bool,
    /// The template the format's placeholders are reported in.
    pub(crate) format_text: Option<String>,
    pub(crate) format: Option<Vec<FormatPiece>>,
    /// The format's fields: their name in the format, their column, how
    /// they print.
    pub(crate) format_fields: Vec<(String, String, TextKind)>,
    pub(crate) raw_values: Vec<String>,
    pub(crate) on_delete: OnDelete,
    /// When the number is given: after COMMIT, the triggers guard the
    /// field but number nothing at insert; at COMMIT, PostgreSQL numbers it
    /// with a deferred constraint trigger.
    pub(crate) moment: Moment,
    pub(crate) chain: Option<ChainPlan>,
    /// MariaDB/MySQL: the collation of the counter's `name` column, which
    /// the trigger's name variable takes (read when installing).
    pub(crate) name_collation: Option<String>,
    /// The schema (PostgreSQL) or database (MariaDB) of the crate's tables,
    /// read when installing: the triggers name `sequences` with it, so that
    /// a session's temporary table of that name is never the counter.
    pub(crate) schema: Option<String>,
}

impl FieldPlan {
    /// The column a format field names, and how it prints.
    pub(crate) fn format_field(&self, name: &str) -> (&str, TextKind) {
        self.format_fields
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, column, kind)| (column.as_str(), *kind))
            .expect("format fields are resolved when the plan is made")
    }

    pub(crate) fn placeholder(&self, name: &str) -> (&str, TextKind) {
        self.placeholders
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, column, kind)| (column.as_str(), *kind))
            .expect("placeholders are resolved when the plan is made")
    }

    fn fiscal_start_month(&self) -> u32 {
        match self.period {
            Some(Period::FiscalYear { start_month }) if (2..=12).contains(&start_month) => {
                start_month
            }
            _ => 1,
        }
    }

    /// The columns an UPDATE of a numbered row must not change: the number,
    /// its raw values, what names its sequence and period and what its
    /// reference prints (placeholders, date, format fields) and, for a
    /// chained field, the hash and what it covers.
    pub(crate) fn frozen_columns(&self) -> Vec<&str> {
        let mut frozen: Vec<&str> = std::iter::once(self.column.as_str())
            .chain(self.raw_values.iter().map(String::as_str))
            .chain(
                self.placeholders
                    .iter()
                    .map(|(_, column, _)| column.as_str()),
            )
            .collect();
        if let Some(DayPlan::Column { name, .. }) = &self.day {
            frozen.push(name);
        }
        frozen.extend(
            self.format_fields
                .iter()
                .map(|(_, column, _)| column.as_str()),
        );
        if let Some(chain) = &self.chain {
            frozen.push(&chain.hash);
            frozen.extend(chain.covers.iter().map(|(c, _)| c.as_str()));
        }
        let mut seen = Vec::new();
        frozen.retain(|c| {
            let new = !seen.contains(c);
            seen.push(*c);
            new
        });
        frozen
    }

    /// The columns an unnumbered row gets from the library alone, which
    /// no UPDATE may set: the number and its raw values. A waiting row of
    /// an `after_commit` field is numbered by its numberer, a deferred one
    /// by the COMMIT-time trigger (both mark their transaction,
    /// `Dialect::numbering_mark`), a row numbered on insert by the insert
    /// trigger (SQLite's, an UPDATE in the inserting statement, leaves a
    /// note while it runs). Any other writer's number would be given again.
    pub(crate) fn numberer_columns(&self) -> Vec<&str> {
        std::iter::once(self.column.as_str())
            .chain(self.raw_values.iter().map(String::as_str))
            .collect()
    }

    /// The update guard's checks, each a condition over `OLD` and `NEW` and
    /// the refusal it raises. The guard runs AFTER UPDATE, on the row as
    /// written, once every BEFORE trigger (the application's too) has had
    /// its say. `marked`: the dialect's condition that the library numbers
    /// the row (`Dialect::numbering_mark`, SQLite's note).
    ///
    /// - A numbered row keeps its frozen columns ([`Kind::NumberChanged`]).
    /// - An unnumbered row gets its number and raw values from the library
    ///   alone ([`Kind::NumberSet`]), and the UPDATE that numbers it leaves
    ///   what its sequence was computed from as it was
    ///   ([`Kind::NumberChanged`]): a trigger of the application that
    ///   renames the scope meanwhile would give it another sequence's
    ///   number.
    /// - A row waiting for its numberer keeps its key
    ///   ([`Kind::KeyChanged`]): the numberer, its refusals and the audit
    ///   follow it by key.
    pub(super) fn update_checks(&self, d: Dialect, marked: &str) -> Vec<(String, Kind, String)> {
        let col = expr::ident(d, &self.column);
        let differs = |c: &str| {
            let c = expr::ident(d, c);
            let (new, old) = (format!("NEW.{c}"), format!("OLD.{c}"));
            match d {
                Dialect::Postgres => format!(
                    "{} IS DISTINCT FROM {}",
                    d.exact_text(&new),
                    d.exact_text(&old)
                ),
                Dialect::MySql => format!("NOT (BINARY {new} <=> BINARY {old})"),
                Dialect::Sqlite => format!("{} IS NOT {}", d.exact_text(&new), d.exact_text(&old)),
            }
        };
        let written: Vec<&str> = self
            .numberer_columns()
            .into_iter()
            .chain(self.chain.as_ref().map(|chain| chain.hash.as_str()))
            .collect();
        let mut checks = Vec::new();
        for column in self.frozen_columns() {
            checks.push((
                format!("OLD.{col} IS NOT NULL AND {}", differs(column)),
                Kind::NumberChanged,
                column.to_owned(),
            ));
        }
        for column in self.numberer_columns() {
            checks.push((
                format!(
                    "OLD.{col} IS NULL AND {} AND NOT ({marked})",
                    differs(column)
                ),
                Kind::NumberSet,
                column.to_owned(),
            ));
        }
        for column in self.frozen_columns() {
            if !written.contains(&column) {
                checks.push((
                    format!(
                        "OLD.{col} IS NULL AND NEW.{col} IS NOT NULL AND {}",
                        differs(column)
                    ),
                    Kind::NumberChanged,
                    column.to_owned(),
                ));
            }
        }
        if self.moment == Moment::AfterCommit {
            for key in &self.keys {
                checks.push((
                    format!("OLD.{col} IS NULL AND {}", differs(key)),
                    Kind::KeyChanged,
                    key.clone(),
                ));
            }
        }
        checks
    }

    /// The holes of the counter's pieces (`sql::counter`) as this field's
    /// triggers fill them: its counter table, the sequence name and the day
    /// (`YYYYMMDD`, or NULL) as `name` and `day` write them (variables, or
    /// expressions of the row), the step and the declared range as
    /// literals.
    pub(crate) fn counter_args(
        &self,
        d: Dialect,
        name: &str,
        day: &str,
    ) -> Vec<(&'static str, Arg)> {
        let int = |value: Option<i64>| {
            Arg::sql(match (value, d) {
                (Some(value), _) => value.to_string(),
                (None, Dialect::Postgres) => "CAST(NULL AS BIGINT)".to_owned(),
                (None, _) => "NULL".to_owned(),
            })
        };
        let mut args = vec![
            ("table", Arg::sql(self.crate_table(d, TABLE_NAME))),
            ("name", Arg::sql(name)),
            // PostgreSQL's setting that remembers the counter row's TID,
            // computed once per row into `v_slot` (`Dialect::hot_slot_sql`).
            ("slot", Arg::sql("v_slot")),
            ("first", Arg::sql(self.plan.first.to_string())),
            ("new_day", Arg::sql(day)),
            ("day", Arg::sql(day)),
            ("max_value", int(self.range.and_then(|r| r.max_value))),
            ("warn_at", int(self.range.and_then(|r| r.warn_at))),
        ];
        args.extend(self.plan.step.args(false));
        args
    }

    /// The holes of the delete policy's pieces (`sql::voids`' insert,
    /// `sql::counter`'s revert) for the stored row `e` (`OLD`, or a record),
    /// whose number is `value` and sequence `name` (expressions): a chained
    /// record's void keeps its hash, so the chain runs on.
    fn delete_args(&self, e: &expr::Expr, name: &str, value: &str) -> Vec<(&'static str, Arg)> {
        let hash = self
            .chain
            .as_ref()
            .map_or("NULL".to_owned(), |chain| e.col(&chain.hash));
        let mut args = self.counter_args(e.d, name, "NULL");
        args.extend([
            ("voids", Arg::sql(self.crate_table(e.d, VOIDS_TABLE))),
            ("sequence", Arg::sql(name)),
            ("value", Arg::sql(value)),
            ("reason", Arg::sql("'deleted'")),
            ("hash", Arg::sql(hash)),
        ]);
        args
    }

    /// `key1 = row.key1 AND ...`: the row of the table whose primary key
    /// is the key of `row` (`NEW`, `OLD`, a record).
    fn key_match(&self, d: Dialect, row: &str) -> String {
        self.keys
            .iter()
            .map(|k| format!("{} = {row}.{}", expr::ident(d, k), expr::ident(d, k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The step of one value.
    pub(crate) fn step(&self) -> Step {
        self.plan.step
    }

    /// The refusal at the end of the range, with its parts over `last` (the
    /// counter's last, an expression) and `name`: the column type's
    /// maximum (a value that does not fit), the declared maximum, or the end
    /// of `i64`.
    pub(crate) fn end_refusal(&self, d: Dialect, last: &str, name: &str) -> (Kind, Vec<String>) {
        match (&self.end.max_value, &self.end.cap) {
            (Some(_), Some((target, type_name))) => (
                Kind::OutOfRange,
                vec![
                    expr::int_text(d, &format!("{last} + 1")),
                    expr::lit(d, type_name),
                    expr::lit(d, target),
                    name.to_owned(),
                ],
            ),
            (Some(max), None) => (
                Kind::Exhausted,
                vec![
                    expr::lit(d, &max.to_string()),
                    expr::int_text(d, last),
                    name.to_owned(),
                ],
            ),
            (None, _) => (Kind::Overflow, vec![name.to_owned()]),
        }
    }

    /// The condition that a sequence name is too long (`name` an expression).
    pub(crate) fn name_too_long(&self, d: Dialect, name: &str) -> String {
        format!("{} > {MAX_NAME_LENGTH}", expr::length(d, name))
    }

    /// The column a stored row's number is read from: the field, or the
    /// raw value beside a reference (the delete guards need an integer).
    pub(crate) fn stored_number(&self) -> &str {
        match self.raw_values.first() {
            Some(raw) if self.format.is_some() => raw,
            _ => &self.column,
        }
    }

    /// One of the crate's tables, qualified by the schema read when
    /// installing.
    pub(crate) fn crate_table(&self, d: Dialect, table: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", expr::ident(d, schema), expr::ident(d, table)),
            None => expr::ident(d, table),
        }
    }

    /// The columns whose NULL leaves the sequence name (or the reference)
    /// unknown, each with the placeholder and the template a
    /// [`MissingPlaceholder`](crate::SequenceError::MissingPlaceholder)
    /// names: the name's placeholders (in the name template), the format's
    /// fields and the date column (in the format, or the name template).
    fn needed_columns(&self) -> Vec<(String, String, String)> {
        let other = self.format_text.as_ref().unwrap_or(&self.template);
        let mut needed: Vec<(String, String, String)> = self
            .placeholders
            .iter()
            .map(|(name, column, _)| (column.clone(), name.clone(), self.template.clone()))
            .collect();
        let mut add = |column: &String| {
            if !needed.iter().any(|(c, _, _)| c == column) {
                needed.push((column.clone(), column.clone(), other.clone()));
            }
        };
        for (_, column, _) in &self.format_fields {
            add(column);
        }
        if let Some(DayPlan::Column { name, .. }) = &self.day {
            add(name);
        }
        needed
    }

    /// The names of its triggers (and PostgreSQL functions): `sq_<table>_<column>`
    /// with a suffix per job, cut with a hash to fit 63 characters.
    pub(crate) fn names(&self) -> Names {
        let base = format!("sq_{}_{}", self.table, self.column);
        let base = if base.len() <= 52 {
            base
        } else {
            let digest = hex(&Sha256::digest(base.as_bytes()))[..8].to_owned();
            let cut: String = base.chars().take(40).collect();
            format!("{cut}_{digest}")
        };
        Names {
            insert: format!("{base}_ins"),
            commit: format!("{base}_com"),
            delete: format!("{base}_del"),
            update: format!("{base}_upd"),
            truncate: format!("{base}_trn"),
            replace: format!("{base}_rep"),
            settle: format!("{base}_set"),
            replaced: format!("{base}_rpu"),
            noted: format!("{base}_upn"),
        }
    }
}

/// The names of one field's triggers.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) insert: String,
    pub(crate) commit: String,
    pub(crate) delete: String,
    pub(crate) update: String,
    /// PostgreSQL: the TRUNCATE guard.
    pub(crate) truncate: String,
    /// SQLite: the guard of statements that replace rows.
    pub(crate) replace: String,
    /// What runs once the row is in: PostgreSQL's statement-level check
    /// that every row numbered was inserted, MariaDB's move of the counter.
    pub(crate) settle: String,
    /// SQLite: the check, once an UPDATE wrote its row, that it replaced
    /// no numbered row.
    pub(crate) replaced: String,
    /// SQLite: the note, before an UPDATE writes its row, of the numbered
    /// rows it would replace.
    pub(crate) noted: String,
}

impl Names {
    /// `DROP TRIGGER IF EXISTS` each of them (MariaDB and SQLite, where a
    /// trigger's name is the schema's, not the table's).
    fn drop_all(&self, d: Dialect) -> Vec<String> {
        self.all()
            .iter()
            .map(|name| format!("DROP TRIGGER IF EXISTS {}", expr::ident(d, name)))
            .collect()
    }

    pub(crate) fn all(&self) -> [&str; 9] {
        [
            &self.insert,
            &self.commit,
            &self.delete,
            &self.update,
            &self.truncate,
            &self.replace,
            &self.settle,
            &self.replaced,
            &self.noted,
        ]
    }
}

/// The statements that install one field's triggers (replacing older ones),
/// and those that remove them.
pub(crate) struct Ddl {
    pub(crate) install: Vec<String>,
    pub(crate) remove: Vec<String>,
}

/// The DDL of `field` on `dialect`; what a database cannot do was refused
/// before (`numbering::by_database`).
pub(crate) fn ddl(dialect: Dialect, field: &FieldPlan) -> Ddl {
    match dialect {
        Dialect::Postgres => postgres::ddl(field),
        Dialect::MySql => mysql::ddl(field),
        Dialect::Sqlite => sqlite::ddl(field),
    }
}

/// What an audit finds of a field's triggers (see
/// [`Numbering::install_triggers`](crate::Numbering::install_triggers)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum TriggerState {
    /// Installed as recorded, and (when checked against a description) as
    /// the description gives them.
    Intact,
    /// The description says the field is numbered by the database, but no
    /// triggers were ever recorded for it.
    NotInstalled,
    /// Recorded, but these triggers are gone (dropped by hand).
    Missing {
        /// Their names.
        triggers: Vec<String>,
    },
    /// Present, but not as installed: edited or disabled by hand.
    Altered,
    /// Installed from another (older) description: run the migration that
    /// installs the current one.
    Outdated,
}

impl TriggerState {
    /// Whether the field is guarded as it should be.
    pub fn is_intact(&self) -> bool {
        matches!(self, Self::Intact)
    }
}

impl std::fmt::Display for TriggerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Intact => write!(f, "triggers intact"),
            Self::NotInstalled => write!(
                f,
                "triggers NOT INSTALLED: run the migration that calls Numbering::install_triggers"
            ),
            Self::Missing { triggers } => write!(
                f,
                "triggers MISSING ({}): dropped by hand; run the migration again",
                triggers.join(", ")
            ),
            Self::Altered => write!(
                f,
                "triggers ALTERED: edited or disabled since they were installed; run the migration again"
            ),
            Self::Outdated => write!(
                f,
                "triggers OUTDATED: installed from another description; run a migration that installs the current one"
            ),
        }
    }
}

/// A refusal's message (`error::wire`) as a SQL expression over `parts` (SQL expressions), the
/// last one preceded by its length.
pub(crate) fn message(d: Dialect, kind: Kind, parts: &[String]) -> String {
    let mut pieces = vec![expr::lit(d, &format!("{PREFIX}{}:", kind.word()))];
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            pieces.push(expr::lit(d, ":"));
        }
        if i + 1 == parts.len() {
            pieces.push(expr::int_text(d, &expr::length(d, part)));
            pieces.push(expr::lit(d, ":"));
        }
        pieces.push(part.clone());
    }
    expr::concat(d, &pieces)
}

/// The digest of a list of statements (or catalog texts), as lowercase hex.
pub(crate) fn digest<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    for text in texts {
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    }
    hex(&hasher.finalize())
}
