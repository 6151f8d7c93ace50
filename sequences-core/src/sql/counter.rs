//! The counter row: the allocating upsert, the read that tells a refusal
//! apart, closing, giving the last value back, locking, the chain head.

use sea_orm::{DbBackend, Statement, Value};

use super::Dialect;
use crate::entity::TABLE_NAME;

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

impl Dialect {
    pub(crate) fn returning(self) -> Returning {
        match self {
            Self::Postgres | Self::Sqlite => Returning::Row,
            Self::MySql => Returning::LastInsertId,
        }
    }

    /// The single statement that creates the row with `first` or moves it by `step`,
    /// handing back the new `last`. The same statement refuses, without
    /// writing, a closed sequence and (with `days`) a first day earlier than
    /// the sequence's `last_day`, and moves `last_day` forward: a refusal
    /// returns no row (PostgreSQL, SQLite) or raises MySQL's BIGINT
    /// out-of-range error, and [`Dialect::refusal`] then tells why.
    ///
    /// With a declared `range`, the same statement records it on the row
    /// (`max_value`, `warn_at`: `RangeMigration`'s columns), for `sequences
    /// list`; without one, the row's range columns are not touched.
    pub(crate) fn allocate(
        self,
        name: &str,
        first: i64,
        step: Step,
        days: Days,
        range: Option<DeclaredRange>,
    ) -> Statement {
        let t = TABLE_NAME;
        let (first_day, last_day) = (Value::Int(days.first), Value::Int(days.last));
        let range_values = range
            .map(|r| vec![Value::BigInt(r.max_value), Value::BigInt(r.warn_at)])
            .unwrap_or_default();
        let (range_columns, range_set) = match (self, range.is_some()) {
            (_, false) => ("", ""),
            (Self::MySql, true) => (
                ", `max_value`, `warn_at`",
                ", `max_value` = VALUES(`max_value`), `warn_at` = VALUES(`warn_at`)",
            ),
            (Self::Postgres, true) => (
                r#", "max_value", "warn_at""#,
                r#", "max_value" = EXCLUDED."max_value", "warn_at" = EXCLUDED."warn_at""#,
            ),
            (Self::Sqlite, true) => (
                r#", "max_value", "warn_at""#,
                r#", "max_value" = excluded."max_value", "warn_at" = excluded."warn_at""#,
            ),
        };
        let range_params = |placeholders: &str| {
            if range.is_some() {
                placeholders.to_owned()
            } else {
                String::new()
            }
        };
        let (sql, values): (String, Vec<Value>) = match (self, step) {
            (Self::Postgres, _) => {
                let (set, guard, mut values) = match step {
                    Step::Add { count, max_last } => (
                        format!(r#""{t}"."last" + $6"#),
                        format!(r#" AND "{t}"."last" <= $7"#),
                        vec![count.into(), max_last.into()],
                    ),
                    Step::Loop {
                        initial,
                        last_before_reset,
                    } => (
                        format!(
                            r#"CASE WHEN "{t}"."last" >= $6 THEN $7 ELSE "{t}"."last" + 1 END"#
                        ),
                        String::new(),
                        vec![last_before_reset.into(), initial.into()],
                    ),
                };
                let mut all = vec![
                    name.into(),
                    first.into(),
                    last_day,
                    first_day.clone(),
                    first_day,
                ];
                all.append(&mut values);
                // Seven values so far in both steps: the range is $8, $9.
                all.extend(range_values);
                let range_params = range_params(", $8, $9");
                (
                    format!(
                        r#"INSERT INTO "{t}" ("name", "last", "last_day"{range_columns}) VALUES ($1, $2, $3{range_params}) ON CONFLICT ("name") DO UPDATE SET "last" = {set}, "last_day" = GREATEST("{t}"."last_day", EXCLUDED."last_day"){range_set} WHERE NOT "{t}"."closed" AND ("{t}"."last_day" IS NULL OR CAST($4 AS INTEGER) IS NULL OR "{t}"."last_day" <= $5){guard} RETURNING "last""#
                    ),
                    all,
                )
            }
            // SQLite turns an overflowing integer expression into a REAL; the
            // WHERE guard keeps `last + count` from ever overflowing.
            (Self::Sqlite, _) => {
                let (set, guard, guard_values, set_values) = match step {
                    Step::Add { count, max_last } => (
                        format!(r#""{t}"."last" + ?"#),
                        format!(r#" AND "{t}"."last" <= ?"#),
                        vec![max_last.into()],
                        vec![count.into()],
                    ),
                    Step::Loop {
                        initial,
                        last_before_reset,
                    } => (
                        format!(r#"CASE WHEN "{t}"."last" >= ? THEN ? ELSE "{t}"."last" + 1 END"#),
                        String::new(),
                        vec![],
                        vec![last_before_reset.into(), initial.into()],
                    ),
                };
                let mut all = vec![name.into(), first.into(), last_day];
                all.extend(range_values);
                all.extend(set_values);
                all.extend([first_day.clone(), first_day]);
                all.extend(guard_values);
                let range_params = range_params(", ?, ?");
                (
                    format!(
                        r#"INSERT INTO "{t}" ("name", "last", "last_day"{range_columns}) VALUES (?, ?, ?{range_params}) ON CONFLICT ("name") DO UPDATE SET "last" = {set}, "last_day" = COALESCE(max("{t}"."last_day", excluded."last_day"), "{t}"."last_day", excluded."last_day"){range_set} WHERE NOT "{t}"."closed" AND ("{t}"."last_day" IS NULL OR ? IS NULL OR "{t}"."last_day" <= ?){guard} RETURNING "last""#
                    ),
                    all,
                )
            }
            // ON DUPLICATE KEY UPDATE has no WHERE. When the guard fails, the
            // new value is `last + (MAX or MIN by last's sign) + (1 or -1)`, which
            // overflows for every `last`, so the server raises its own BIGINT
            // out-of-range error (1690) instead of writing, in every sql_mode.
            (Self::MySql, _) => {
                let ok_sql =
                    "(NOT `closed` AND (`last_day` IS NULL OR ? IS NULL OR `last_day` <= ?)";
                let refuse = "`last` + IF(`last` >= 0, 9223372036854775807, -9223372036854775808) + IF(`last` >= 0, 1, -1)";
                let ok_values = || -> Vec<Value> { vec![first_day.clone(), first_day.clone()] };
                let (new_last, values) = match step {
                    Step::Add { count, max_last } => {
                        let ok = format!("{ok_sql} AND `last` <= ?)");
                        let mut values = ok_values();
                        values.extend([max_last.into(), count.into()]);
                        values.extend(ok_values());
                        values.push(max_last.into());
                        (
                            format!(
                                "`last` + IF({ok}, ?, IF(`last` >= 0, 9223372036854775807, -9223372036854775808)) + IF({ok}, 0, IF(`last` >= 0, 1, -1))"
                            ),
                            values,
                        )
                    }
                    Step::Loop {
                        initial,
                        last_before_reset,
                    } => {
                        let mut values = ok_values();
                        values.extend([last_before_reset.into(), initial.into()]);
                        (
                            format!("IF({ok_sql}), IF(`last` >= ?, ?, `last` + 1), {refuse})"),
                            values,
                        )
                    }
                };
                let mut all = vec![name.into(), first.into(), last_day.clone()];
                all.extend(range_values);
                all.extend(values);
                all.extend([last_day.clone(), last_day]);
                let range_params = range_params(", ?, ?");
                (
                    format!(
                        "INSERT INTO `{t}` (`name`, `last`, `last_day`{range_columns}) VALUES (?, CAST(LAST_INSERT_ID(?) AS SIGNED), ?{range_params}) ON DUPLICATE KEY UPDATE `last` = CAST(LAST_INSERT_ID({new_last}) AS SIGNED), `last_day` = COALESCE(GREATEST(`last_day`, ?), `last_day`, ?){range_set}"
                    ),
                    all,
                )
            }
        };
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// After a refused allocation: the row as it is now (`last`, `closed`,
    /// `last_day`), read under its lock, to tell a closed sequence, a date out
    /// of order and an overflow apart. Only on the refusal path.
    pub(crate) fn refusal(self, name: &str) -> Statement {
        let sql = match self {
            Self::Postgres => format!(
                r#"SELECT "last", "closed", "last_day" FROM "{TABLE_NAME}" WHERE "name" = $1 FOR UPDATE"#
            ),
            Self::MySql => format!(
                "SELECT `last`, `closed`, `last_day` FROM `{TABLE_NAME}` WHERE `name` = ? FOR UPDATE"
            ),
            Self::Sqlite => format!(
                r#"SELECT "last", "closed", "last_day" FROM "{TABLE_NAME}" WHERE "name" = ?"#
            ),
        };
        Statement::from_sql_and_values(self.backend(), sql, [name.into()])
    }

    /// Closes (`closed = true`) or reopens a sequence under its row lock. Closing
    /// creates a missing sequence with `last = empty_last` (nothing handed out);
    /// reopening a missing one changes nothing.
    pub(crate) fn set_closed(self, name: &str, closed: bool, empty_last: i64) -> Statement {
        let t = TABLE_NAME;
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

    /// Moves `last` back by one if it is `value` and the sequence is not
    /// hash-chained, under the row lock; one row affected when it did.
    pub(crate) fn revert_last(self, name: &str, value: i64) -> Statement {
        let sql = match self {
            Self::Postgres => format!(
                r#"UPDATE "{TABLE_NAME}" SET "last" = "last" - 1 WHERE "name" = $1 AND "last" = $2 AND "chain_head" IS NULL"#
            ),
            Self::MySql => format!(
                "UPDATE `{TABLE_NAME}` SET `last` = `last` - 1 WHERE `name` = ? AND `last` = ? AND `chain_head` IS NULL"
            ),
            Self::Sqlite => format!(
                r#"UPDATE "{TABLE_NAME}" SET "last" = "last" - 1 WHERE "name" = ? AND "last" = ? AND "chain_head" IS NULL"#
            ),
        };
        Statement::from_sql_and_values(self.backend(), sql, [name.into(), value.into()])
    }

    /// The sequence's chain head (its row is locked by the caller's allocation).
    pub(crate) fn chain_head(self, name: &str) -> Statement {
        let sql = match self {
            Self::Postgres => {
                format!(r#"SELECT "chain_head" FROM "{TABLE_NAME}" WHERE "name" = $1"#)
            }
            Self::MySql => format!("SELECT `chain_head` FROM `{TABLE_NAME}` WHERE `name` = ?"),
            Self::Sqlite => format!(r#"SELECT "chain_head" FROM "{TABLE_NAME}" WHERE "name" = ?"#),
        };
        Statement::from_sql_and_values(self.backend(), sql, [name.into()])
    }

    /// Moves the sequence's chain head.
    pub(crate) fn set_chain_head(self, name: &str, head: &str, seal: Option<&str>) -> Statement {
        if let Some(seal) = seal {
            // A keyed chain's head is sealed (KeyedChainMigration).
            let sql = match self {
                Self::Postgres => format!(
                    r#"UPDATE "{TABLE_NAME}" SET "chain_head" = $1, "chain_seal" = $2 WHERE "name" = $3"#
                ),
                Self::MySql => format!(
                    "UPDATE `{TABLE_NAME}` SET `chain_head` = ?, `chain_seal` = ? WHERE `name` = ?"
                ),
                Self::Sqlite => format!(
                    r#"UPDATE "{TABLE_NAME}" SET "chain_head" = ?, "chain_seal" = ? WHERE "name" = ?"#
                ),
            };
            return Statement::from_sql_and_values(
                self.backend(),
                sql,
                [head.into(), seal.into(), name.into()],
            );
        }
        let sql = match self {
            Self::Postgres => {
                format!(r#"UPDATE "{TABLE_NAME}" SET "chain_head" = $1 WHERE "name" = $2"#)
            }
            Self::MySql => format!("UPDATE `{TABLE_NAME}` SET `chain_head` = ? WHERE `name` = ?"),
            Self::Sqlite => {
                format!(r#"UPDATE "{TABLE_NAME}" SET "chain_head" = ? WHERE "name" = ?"#)
            }
        };
        Statement::from_sql_and_values(self.backend(), sql, [head.into(), name.into()])
    }

    /// Takes the row lock without waiting, before the allocation (`nowait`).
    /// SQLite has no row locks: `None`, the allocation itself takes the database lock.
    pub(crate) fn lock_nowait(self, name: &str) -> Option<Statement> {
        let sql = match self {
            Self::Postgres => {
                format!(r#"SELECT 1 FROM "{TABLE_NAME}" WHERE "name" = $1 FOR UPDATE NOWAIT"#)
            }
            Self::MySql => {
                format!("SELECT 1 FROM `{TABLE_NAME}` WHERE `name` = ? FOR UPDATE NOWAIT")
            }
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
    pub(crate) fn lock_for_write(self, name: &str) -> Option<Statement> {
        (self == Self::Sqlite).then(|| {
            Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!(r#"UPDATE "{TABLE_NAME}" SET "last" = "last" WHERE "name" = ?"#),
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
                let statement = dialect.allocate(hostile, 1, step, Days::default(), None);
                assert!(!statement.sql.contains("DROP"), "{}", statement.sql);
                let values = statement.values.expect("bound values");
                assert_eq!(values.0[0], Value::from(hostile));
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
            assert!(sql.starts_with("INSERT INTO "), "{sql}");
            assert_eq!(sql.matches("INSERT INTO").count(), 1, "{sql}");
            assert!(!sql.contains(';'), "{sql}");
            match dialect.returning() {
                Returning::Row => assert!(sql.ends_with(r#"RETURNING "last""#), "{sql}"),
                Returning::LastInsertId => assert!(sql.contains("LAST_INSERT_ID("), "{sql}"),
            }
        }
    }

    #[test]
    fn sqlite_has_no_nowait_statement() {
        assert!(Dialect::Sqlite.lock_nowait("x").is_none());
        assert!(
            Dialect::Postgres
                .lock_nowait("x")
                .unwrap()
                .sql
                .ends_with("NOWAIT")
        );
        assert!(
            Dialect::MySql
                .lock_nowait("x")
                .unwrap()
                .sql
                .ends_with("NOWAIT")
        );
    }
}
