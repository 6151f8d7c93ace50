//! The counter row, written once per backend for both paths: the library
//! binds its values to these pieces, the triggers' generators fill them
//! with their row's expressions (`sql::piece`). The allocating upsert, the
//! arithmetic of the next value, the decision to refuse, giving the last
//! value back; closing and locking, which only the library does. The chain
//! head is in `chain`, the PostgreSQL TID shortcut in `hot`.

use sea_orm::{DbBackend, Statement, Value};

use super::Dialect;
use super::piece::{Arg, fill};
use crate::entity::CounterTable;
use crate::error::SequenceError;

/// What one allocation does to the counter row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Add `count` to `last`, refusing (without writing) when `last > max_last`.
    Add { count: i64, max_last: i64 },
    /// Add one, going back to `initial` once `last >= reset - 1`.
    Loop {
        initial: i64,
        last_before_reset: i64,
    },
}

/// One allocation, fully checked before any SQL runs: how many values, the
/// `last` of a counter this allocation creates, and the step of an existing
/// one. The library's calls and the triggers (one value) share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// How many values are taken.
    pub(crate) count: i64,
    /// `last` when the row is created by this allocation.
    pub(crate) first: i64,
    /// What happens to `last` when the row exists.
    pub(crate) step: Step,
}

impl Plan {
    /// `count` values of a sequence starting at `initial`, looping before
    /// `reset`, ending at `max_value`; `batch` plans for a `Range` result,
    /// whose exclusive end must fit an i64. `name` names the sequence in a
    /// refusal.
    pub(crate) fn new(
        name: &str,
        initial: i64,
        reset: Option<i64>,
        max_value: Option<i64>,
        count: u64,
        batch: bool,
    ) -> Result<Self, SequenceError> {
        let overflow = || SequenceError::Overflow {
            name: name.to_owned(),
            count,
        };
        if let Some(reset) = reset {
            if count > 1 {
                return Err(SequenceError::BatchOnLoopingSequence {
                    name: name.to_owned(),
                    count,
                });
            }
            // initial < reset, so neither the first value nor `reset - 1` overflows.
            return Ok(Self {
                count: 1,
                first: initial,
                step: Step::Loop {
                    initial,
                    last_before_reset: reset - 1,
                },
            });
        }
        let count = i64::try_from(count).map_err(|_| overflow())?;
        // A batch's exclusive end is last + 1, so its last value stays below i64::MAX.
        let span = count.checked_add(i64::from(batch)).ok_or_else(overflow)?;
        let first = initial.checked_add(count - 1).ok_or_else(overflow)?;
        if batch {
            first.checked_add(1).ok_or_else(overflow)?;
        }
        let mut max_last = i64::MAX - span;
        if let Some(max_value) = max_value {
            let exhausted = || SequenceError::Exhausted {
                name: name.to_owned(),
                max_value,
                last: initial - 1,
                count: count as u64,
            };
            // A new sequence's first values must fit too.
            if first > max_value {
                return Err(exhausted());
            }
            max_last = max_last.min(max_value.checked_sub(count).ok_or_else(exhausted)?);
        }
        Ok(Self {
            count,
            first,
            step: Step::Add { count, max_last },
        })
    }
}

/// The days a chronological allocation checks and records, as `YYYYMMDD`
/// numbers (`None`: not chronological): the first must not be earlier than
/// the sequence's `last_day`, which becomes the last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Days {
    pub(crate) first: Option<i32>,
    pub(crate) last: Option<i32>,
}

/// A sequence's declared range, recorded on its row by the allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeclaredRange {
    pub(crate) max_value: Option<i64>,
    pub(crate) warn_at: Option<i64>,
}

/// How the new `last` comes back from the allocation statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returning {
    /// A one-column row; no row means the overflow guard refused the update.
    Row,
    /// The statement's last-insert-id (MariaDB/MySQL `LAST_INSERT_ID(expr)`).
    LastInsertId,
}

/// Why an allocation is refused, as [`Dialect::refusal_kind`] spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The sequence is closed.
    Closed,
    /// The day is before the sequence's latest.
    OutOfOrder,
    /// The step would pass the end of the range (`max_last`).
    End,
}

impl Refused {
    /// The word the refusal decision returns.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Refused::Closed => "closed",
            Refused::OutOfOrder => "out_of_order",
            Refused::End => "end",
        }
    }

    /// The refusal a decision's word names.
    pub(crate) fn of(word: &str) -> Option<Self> {
        [Refused::Closed, Refused::OutOfOrder, Refused::End]
            .into_iter()
            .find(|r| r.word() == word)
    }
}

impl Step {
    /// The step's numbers as the holes `{count}` and `{max_last}` (adding)
    /// or `{initial}` and `{reset}` (looping) take them: bound values (the
    /// library), or literals (the triggers).
    pub(crate) fn args(self, bind: bool) -> Vec<(&'static str, Arg)> {
        let arg = |value: i64| {
            if bind {
                Arg::bind(value)
            } else {
                Arg::sql(value.to_string())
            }
        };
        match self {
            Step::Add { count, max_last } => {
                vec![("count", arg(count)), ("max_last", arg(max_last))]
            }
            Step::Loop {
                initial,
                last_before_reset,
            } => vec![("initial", arg(initial)), ("reset", arg(last_before_reset))],
        }
    }
}

/// `args` as [`fill`] takes them.
pub(crate) fn refs<'a>(args: &'a [(&'a str, Arg)]) -> Vec<(&'a str, &'a Arg)> {
    args.iter().map(|(name, arg)| (*name, arg)).collect()
}

impl Dialect {
    pub(crate) fn returning(self) -> Returning {
        match self {
            Self::Postgres | Self::Sqlite => Returning::Row,
            Self::MySql => Returning::LastInsertId,
        }
    }

    /// The next `last` after the template `last` (a column of the counter
    /// row, or a hole for a variable): `last + {count}`, or back to
    /// `{initial}` once `last >= {reset}`.
    pub(crate) fn next_last(self, last: &str, step: Step) -> String {
        match (step, self) {
            (Step::Add { .. }, _) => format!("{last} + {{count}}"),
            (Step::Loop { .. }, Self::MySql) => {
                format!("IF({last} >= {{reset}}, {{initial}}, {last} + 1)")
            }
            (Step::Loop { .. }, _) => {
                format!("CASE WHEN {last} >= {{reset}} THEN {{initial}} ELSE {last} + 1 END")
            }
        }
    }

    /// The decision to refuse an allocation, over the counter row's
    /// `closed`, `last_day` and `last` (columns, or holes for variables), the
    /// hole `{day}` (the allocation's `YYYYMMDD`, or NULL) and the step's
    /// `{max_last}`: NULL when it may go on, else the word of a [`Refused`]
    /// (closed first, then the day, then the end of the range). The library
    /// reads it after a refused allocation, the triggers before they
    /// allocate.
    pub(crate) fn refusal_kind(
        self,
        closed: &str,
        last_day: &str,
        last: &str,
        step: Step,
    ) -> String {
        let end = match step {
            Step::Add { .. } => format!(" WHEN {last} > {{max_last}} THEN 'end'"),
            Step::Loop { .. } => String::new(),
        };
        format!(
            "CASE WHEN {closed} THEN 'closed' WHEN {last_day} IS NOT NULL AND {{day}} IS NOT NULL AND {last_day} > {{day}} THEN 'out_of_order'{end} END"
        )
    }

    /// The `last_day` a counter moves to: the later of `last_day` and `day`.
    pub(crate) fn later_day(self, last_day: &str, day: &str) -> String {
        match self {
            Self::Postgres => format!("GREATEST({last_day}, {day})"),
            Self::MySql => format!("COALESCE(GREATEST({last_day}, {day}), {last_day}, {day})"),
            Self::Sqlite => format!("COALESCE(max({last_day}, {day}), {last_day}, {day})"),
        }
    }

    /// The allocating upsert of PostgreSQL and SQLite, with the holes
    /// `{table}`, `{name}`, `{first}` (a new counter's `last`), `{new_day}`
    /// (the `last_day` it records), `{day}` (the day checked), the
    /// step's, and with a declared `range` `{max_value}` and `{warn_at}`:
    /// creates the counter or moves it by the step, records the day and the
    /// range, in one statement. A closed sequence, a day before the latest
    /// or the end of the range write nothing (no row returned;
    /// `refusal_kind` tells which). `returning` adds `RETURNING "last"`
    /// (SQLite's triggers cannot return).
    ///
    /// On PostgreSQL `RETURNING` also remembers the written version's TID,
    /// and the allocation tries that version first ([`hot_update`](Self::hot_update)).
    pub(crate) fn upsert(self, step: Step, range: bool, returning: bool) -> String {
        self.upsert_from(step, range, returning, None)
    }

    /// [`upsert`](Self::upsert), whose row comes from `VALUES`, or (with
    /// `only_if`) from a `SELECT` under that condition. On PostgreSQL,
    /// `RETURNING` also remembers the written version's TID (`hot_row`).
    fn upsert_from(
        self,
        step: Step,
        range: bool,
        returning: bool,
        only_if: Option<&str>,
    ) -> String {
        assert!(self != Self::MySql, "MariaDB/MySQL allocates its own way");
        let new = match self {
            Self::Postgres => "EXCLUDED",
            _ => "excluded",
        };
        let col = |c: &str| format!("{{table}}.\"{c}\"");
        let (range_columns, range_values, range_set) = if range {
            (
                ", \"max_value\", \"warn_at\"",
                ", {max_value}, {warn_at}",
                format!(", \"max_value\" = {new}.\"max_value\", \"warn_at\" = {new}.\"warn_at\""),
            )
        } else {
            ("", "", String::new())
        };
        let source = match only_if {
            None => format!("VALUES ({{name}}, {{first}}, {{new_day}}{range_values})"),
            Some(condition) => {
                format!("SELECT {{name}}, {{first}}, {{new_day}}{range_values} WHERE {condition}")
            }
        };
        let returning = match (returning, self) {
            (false, _) => String::new(),
            (true, Self::Postgres) => format!(" RETURNING \"last\", {}", self.remember_hot_row()),
            (true, _) => " RETURNING \"last\"".to_owned(),
        };
        format!(
            "INSERT INTO {{table}} (\"name\", \"last\", \"last_day\"{range_columns}) {source} ON CONFLICT (\"name\") DO UPDATE SET \"last\" = {}, \"last_day\" = {}{range_set} WHERE ({}) IS NULL{returning}",
            self.next_last(&col("last"), step),
            self.later_day(&col("last_day"), &format!("{new}.\"last_day\"")),
            self.refusal_kind(&col("closed"), &col("last_day"), &col("last"), step),
        )
    }

    /// The single statement that creates the row with `first` or moves it
    /// by `step`, handing back the new `last`. The same statement refuses,
    /// without writing, a closed sequence and (with `days`) a first day
    /// earlier than the sequence's `last_day`, and moves `last_day` forward:
    /// a refusal returns no row (PostgreSQL, SQLite) or raises MySQL's
    /// BIGINT out-of-range error, and [`Dialect::refusal`] then tells why.
    ///
    /// With a declared `range`, the same statement records it on the row
    /// (`max_value`, `warn_at`: `RangeMigration`'s columns), for `sequences
    /// list`; without one, the row's range columns are not touched.
    ///
    /// On PostgreSQL the statement first writes the version of the row this
    /// transaction wrote last, by its TID ([`hot_row`](Self::hot_row)), and
    /// runs the upsert only when that writes nothing: the same write under
    /// the same decision, at a cost that does not grow with the times the
    /// transaction already moved the counter.
    pub(crate) fn allocate(
        self,
        name: &str,
        first: i64,
        step: Step,
        days: Days,
        range: Option<DeclaredRange>,
        table: CounterTable,
    ) -> Statement {
        let text = match self {
            // The version this transaction wrote last, by its TID; the
            // upsert only when that writes nothing (`hot_row`).
            Self::Postgres => format!(
                "WITH \"hot\" AS ({}), \"new\" AS ({}) SELECT \"last\" FROM \"hot\" UNION ALL SELECT \"last\" FROM \"new\"",
                self.hot_update(step, range.is_some(), self.hot_tid()),
                self.upsert_from(
                    step,
                    range.is_some(),
                    true,
                    Some("NOT EXISTS (SELECT 1 FROM \"hot\")")
                ),
            ),
            Self::Sqlite => self.upsert(step, range.is_some(), true),
            // ON DUPLICATE KEY UPDATE has no WHERE. When the decision
            // refuses, the new value is `last + (MAX or MIN by last's sign) +
            // (1 or -1)`, which overflows for every `last`, so the server
            // raises its own BIGINT out-of-range error (1690) instead of
            // writing, in every sql_mode. The value goes back through
            // LAST_INSERT_ID(expr), in the statement's OK packet.
            Self::MySql => {
                let refused = self.refusal_kind("`closed`", "`last_day`", "`last`", step);
                let (range_columns, range_values, range_set) = if range.is_some() {
                    (
                        ", `max_value`, `warn_at`",
                        ", {max_value}, {warn_at}",
                        ", `max_value` = VALUES(`max_value`), `warn_at` = VALUES(`warn_at`)",
                    )
                } else {
                    ("", "", "")
                };
                // Django's `last` is BIGINT UNSIGNED: there, only passing
                // the unsigned maximum overflows.
                let overflow = match table {
                    CounterTable::Sequences => {
                        "`last` + IF(`last` >= 0, 9223372036854775807, -9223372036854775808) + IF(`last` >= 0, 1, -1)"
                    }
                    CounterTable::Django => "`last` + 18446744073709551615 + 1",
                };
                format!(
                    "INSERT INTO {{table}} (`name`, `last`, `last_day`{range_columns}) VALUES ({{name}}, CAST(LAST_INSERT_ID({{first}}) AS SIGNED), {{new_day}}{range_values}) ON DUPLICATE KEY UPDATE `last` = CAST(LAST_INSERT_ID(IF(({refused}) IS NULL, {}, {overflow})) AS SIGNED), `last_day` = {}{range_set}",
                    self.next_last("`last`", step),
                    self.later_day("`last_day`", "{new_day}"),
                )
            }
        };
        let mut args = vec![
            ("table", self.counter_table(table)),
            ("name", Arg::bind(name)),
            ("slot", self.hot_slot_arg(name)),
            ("first", Arg::bind(first)),
            // The counter's new `last_day` is the allocation's last day; its
            // check, the first.
            ("new_day", Arg::bind(Value::Int(days.last))),
            ("day", Arg::bind(Value::Int(days.first))),
            (
                "max_value",
                Arg::bind(Value::BigInt(range.and_then(|r| r.max_value))),
            ),
            (
                "warn_at",
                Arg::bind(Value::BigInt(range.and_then(|r| r.warn_at))),
            ),
        ];
        args.extend(step.args(true));
        fill(self, &text, &refs(&args)).statement(self)
    }

    /// After a refused allocation (or, in a trigger, before it): the row
    /// as it is now (`last`, `closed`, `last_day`) and the decision
    /// (`refusal_kind`, as `kind`), read under its lock; holes `{table}`,
    /// `{name}`, `{day}` and the step's. `into` follows the select list (a
    /// trigger's variables).
    pub(crate) fn refusal_text(self, step: Step, into: &str) -> String {
        let lock = match self {
            Self::Sqlite => "",
            _ => " FOR UPDATE",
        };
        let q = |c: &str| self.quote(c);
        format!(
            "SELECT {}, {}, {}, {} AS {}{into} FROM {{table}} WHERE {} = {{name}}{lock}",
            q("last"),
            q("closed"),
            q("last_day"),
            self.refusal_kind(&q("closed"), &q("last_day"), &q("last"), step),
            q("kind"),
            q("name"),
        )
    }

    /// [`refusal_text`](Self::refusal_text), bound. Only on the refusal path.
    pub(crate) fn refusal(
        self,
        name: &str,
        step: Step,
        day: Option<i32>,
        table: CounterTable,
    ) -> Statement {
        let mut args = vec![
            ("table", self.counter_table(table)),
            ("name", Arg::bind(name)),
            ("day", Arg::bind(Value::Int(day))),
        ];
        args.extend(step.args(true));
        let text =
            self.refusal_text(step, "")
                .replacen(&self.quote("last"), &self.signed_last(table), 1);
        fill(self, &text, &refs(&args)).statement(self)
    }

    /// The counter table, quoted.
    pub(crate) fn counter_table(self, table: CounterTable) -> Arg {
        Arg::sql(self.quote(table.name()))
    }

    /// `last` as a signed integer: Django's column is BIGINT UNSIGNED on
    /// MariaDB/MySQL, which the driver will not read as an `i64`.
    pub(crate) fn signed_last(self, table: CounterTable) -> String {
        match (self, table) {
            (Self::MySql, CounterTable::Django) => "CAST(`last` AS SIGNED)".to_owned(),
            _ => self.quote("last"),
        }
    }

    /// The counter rows of `table` (`name`, `last`, `closed`, `last_day`,
    /// `chain_head`, as [`crate::entity::Model`] reads them) whose name is
    /// `{name}` (`lock`: under the row lock), with the hole `{table}`.
    pub(crate) fn counter_row_text(self, table: CounterTable, lock: bool) -> String {
        let q = |c: &str| self.quote(c);
        let lock = if lock && self != Self::Sqlite {
            " FOR UPDATE"
        } else {
            ""
        };
        format!(
            "SELECT {}, {} AS {}, {}, {}, {} FROM {{table}} WHERE {} = {{name}}{lock}",
            q("name"),
            self.signed_last(table),
            q("last"),
            q("closed"),
            q("last_day"),
            q("chain_head"),
            q("name"),
        )
    }

    /// [`counter_row_text`](Self::counter_row_text), bound.
    pub(crate) fn counter_row(self, table: CounterTable, name: &str, lock: bool) -> Statement {
        fill(
            self,
            &self.counter_row_text(table, lock),
            &[
                ("table", &self.counter_table(table)),
                ("name", &Arg::bind(name)),
            ],
        )
        .statement(self)
    }

    /// Sets `last` of `{name}` in `table` (`insert`: creates the row).
    pub(crate) fn store_last(
        self,
        table: CounterTable,
        name: &str,
        last: i64,
        insert: bool,
    ) -> Statement {
        let q = |c: &str| self.quote(c);
        let text = if insert {
            format!(
                "INSERT INTO {{table}} ({}, {}) VALUES ({{name}}, {{last}})",
                q("name"),
                q("last")
            )
        } else {
            format!(
                "UPDATE {{table}} SET {} = {{last}} WHERE {} = {{name}}",
                q("last"),
                q("name")
            )
        };
        fill(
            self,
            &text,
            &[
                ("table", &self.counter_table(table)),
                ("name", &Arg::bind(name)),
                ("last", &Arg::bind(last)),
            ],
        )
        .statement(self)
    }

    /// Deletes the counter `{name}` of `table`.
    pub(crate) fn delete_counter(self, table: CounterTable, name: &str) -> Statement {
        fill(
            self,
            &format!(
                "DELETE FROM {{table}} WHERE {} = {{name}}",
                self.quote("name")
            ),
            &[
                ("table", &self.counter_table(table)),
                ("name", &Arg::bind(name)),
            ],
        )
        .statement(self)
    }

    /// Gives `{value}` of `{name}` back: moves `last` back by one if it is
    /// that value and the sequence is not hash-chained, under the row lock.
    /// One row affected when it did (the triggers refuse otherwise).
    pub(crate) fn revert_text(self) -> String {
        let q = |c: &str| self.quote(c);
        format!(
            "UPDATE {{table}} SET {last} = {last} - 1 WHERE {} = {{name}} AND {last} = {{value}} AND {} IS NULL",
            q("name"),
            q("chain_head"),
            last = q("last"),
        )
    }

    /// [`revert_text`](Self::revert_text), bound.
    pub(crate) fn revert_last(self, name: &str, value: i64, table: CounterTable) -> Statement {
        fill(
            self,
            &self.revert_text(),
            &[
                ("table", &self.counter_table(table)),
                ("name", &Arg::bind(name)),
                ("value", &Arg::bind(value)),
            ],
        )
        .statement(self)
    }

    /// Closes (`closed = true`) or reopens a sequence under its row lock. Closing
    /// creates a missing sequence with `last = empty_last` (nothing handed out);
    /// reopening a missing one changes nothing.
    pub(crate) fn set_closed(
        self,
        name: &str,
        closed: bool,
        empty_last: i64,
        table: CounterTable,
    ) -> Statement {
        let t = table.name();
        let (sql, values): (String, Vec<Value>) = match (self, closed) {
            (Self::Postgres, true) => (
                format!(
                    r#"INSERT INTO "{t}" ("name", "last", "closed") VALUES ($1, $2, TRUE) ON CONFLICT ("name") DO UPDATE SET "closed" = TRUE"#
                ),
                vec![name.into(), empty_last.into()],
            ),
            (Self::Sqlite, true) => (
                format!(
                    r#"INSERT INTO "{t}" ("name", "last", "closed") VALUES (?, ?, TRUE) ON CONFLICT ("name") DO UPDATE SET "closed" = TRUE"#
                ),
                vec![name.into(), empty_last.into()],
            ),
            (Self::MySql, true) => (
                format!(
                    "INSERT INTO `{t}` (`name`, `last`, `closed`) VALUES (?, ?, TRUE) ON DUPLICATE KEY UPDATE `closed` = TRUE"
                ),
                vec![name.into(), empty_last.into()],
            ),
            (Self::Postgres, false) => (
                format!(r#"UPDATE "{t}" SET "closed" = FALSE WHERE "name" = $1"#),
                vec![name.into()],
            ),
            (Self::Sqlite, false) => (
                format!(r#"UPDATE "{t}" SET "closed" = FALSE WHERE "name" = ?"#),
                vec![name.into()],
            ),
            (Self::MySql, false) => (
                format!("UPDATE `{t}` SET `closed` = FALSE WHERE `name` = ?"),
                vec![name.into()],
            ),
        };
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// Takes the row lock without waiting, before the allocation (`nowait`).
    /// SQLite has no row locks: `None`, the allocation itself takes the database lock.
    pub(crate) fn lock_nowait(self, name: &str, table: CounterTable) -> Option<Statement> {
        let t = table.name();
        let sql = match self {
            Self::Postgres => {
                format!(r#"SELECT 1 FROM "{t}" WHERE "name" = $1 FOR UPDATE NOWAIT"#)
            }
            Self::MySql => format!("SELECT 1 FROM `{t}` WHERE `name` = ? FOR UPDATE NOWAIT"),
            Self::Sqlite => return None,
        };
        Some(Statement::from_sql_and_values(
            self.backend(),
            sql,
            [name.into()],
        ))
    }

    /// On SQLite, a write that changes nothing, to take the database's write
    /// lock before reading a counter that is about to be replaced (SQLite has
    /// no `SELECT .. FOR UPDATE`). `None` elsewhere.
    pub(crate) fn lock_for_write(self, name: &str, table: CounterTable) -> Option<Statement> {
        (self == Self::Sqlite).then(|| {
            Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!(
                    r#"UPDATE "{}" SET "last" = "last" WHERE "name" = ?"#,
                    table.name()
                ),
                [name.into()],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bound_never_spliced() {
        let hostile = "x'; DROP TABLE sequences; --";
        for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
            for step in [
                Step::Add {
                    count: 1,
                    max_last: i64::MAX - 1,
                },
                Step::Loop {
                    initial: 1,
                    last_before_reset: 9,
                },
            ] {
                let statement = dialect.allocate(
                    hostile,
                    1,
                    step,
                    Days::default(),
                    None,
                    CounterTable::Sequences,
                );
                assert!(!statement.sql.contains("DROP"), "{}", statement.sql);
                let values = statement.values.expect("bound values");
                assert!(values.0.contains(&Value::from(hostile)), "{values:?}");
            }
        }
    }

    #[test]
    fn allocation_is_one_statement_per_backend() {
        let range = DeclaredRange {
            max_value: Some(999),
            warn_at: None,
        };
        for (dialect, range) in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite]
            .into_iter()
            .flat_map(|d| [(d, None), (d, Some(range))])
        {
            let statement = dialect.allocate(
                "invoice",
                1,
                Step::Add {
                    count: 1,
                    max_last: 0,
                },
                Days::default(),
                range,
                CounterTable::Sequences,
            );
            let sql = statement.sql;
            let values = statement.values.expect("bound values").0;
            // Every value bound, none left over; the range only when declared.
            let placeholders = match dialect {
                Dialect::Postgres => (1..=values.len())
                    .filter(|i| sql.contains(&format!("${i}")))
                    .count(),
                _ => sql.matches('?').count(),
            };
            assert_eq!(placeholders, values.len(), "{sql}");
            assert_eq!(sql.contains("max_value"), range.is_some(), "{sql}");
            assert_eq!(values.contains(&Value::BigInt(Some(999))), range.is_some());
            assert_eq!(sql.matches("INSERT INTO").count(), 1, "{sql}");
            assert!(!sql.contains(';'), "{sql}");
            match dialect {
                // The version this transaction wrote last, by TID, else
                // the upsert (`hot_row`).
                Dialect::Postgres => {
                    assert!(sql.starts_with(r#"WITH "hot" AS (UPDATE "#), "{sql}");
                    assert!(sql.contains("::tid AND "), "{sql}");
                    assert!(sql.ends_with(r#"SELECT "last" FROM "new""#), "{sql}");
                }
                Dialect::Sqlite => {
                    assert!(sql.starts_with("INSERT INTO "), "{sql}");
                    assert!(sql.ends_with(r#"RETURNING "last""#), "{sql}");
                }
                Dialect::MySql => {
                    assert!(sql.starts_with("INSERT INTO "), "{sql}");
                    assert!(sql.contains("LAST_INSERT_ID("), "{sql}");
                }
            }
        }
    }

    #[test]
    fn sqlite_has_no_nowait_statement() {
        assert!(
            Dialect::Sqlite
                .lock_nowait("x", CounterTable::Sequences)
                .is_none()
        );
        assert!(
            Dialect::Postgres
                .lock_nowait("x", CounterTable::Sequences)
                .unwrap()
                .sql
                .ends_with("NOWAIT")
        );
        assert!(
            Dialect::MySql
                .lock_nowait("x", CounterTable::Sequences)
                .unwrap()
                .sql
                .ends_with("NOWAIT")
        );
    }
}
