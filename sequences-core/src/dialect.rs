//! The SQL statements of the crate, per backend: allocation, the register
//! and the inventory. The audit's own statements live with the audit
//! (`audit::sql`).
//!
//! Allocation is one statement on every backend:
//! - PostgreSQL and SQLite: `INSERT .. ON CONFLICT .. DO UPDATE .. RETURNING`;
//! - MariaDB/MySQL: `INSERT .. ON DUPLICATE KEY UPDATE` that stores the new
//!   value through `LAST_INSERT_ID(expr)`, which the server sends back in the
//!   statement's OK packet, so no second `SELECT` is needed. `LAST_INSERT_ID`
//!   returns BIGINT UNSIGNED, so its result is cast back to SIGNED before it is
//!   stored (a negative value would otherwise be out of range).
//!
//! Values are always bound parameters; the table and column names are fixed.
//! The statements that run on the caller's session (a bounded lock wait, the
//! transaction probe) are in `session.rs`.

use sea_orm::{DbBackend, DbErr, Statement, Value};

use crate::db_error::{self, ErrorKind};
use crate::entity::{TABLE_NAME, VOIDS_TABLE};

/// The SQL dialect of one backend, chosen once from [`DbBackend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    // Chosen only with the `sqlx-mysql` feature (see `Dialect::of`).
    #[cfg_attr(not(feature = "sqlx-mysql"), allow(dead_code))]
    MySql,
    Sqlite,
}

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
    pub(crate) fn of(backend: DbBackend) -> Result<Self, DbErr> {
        match backend {
            DbBackend::Postgres => Ok(Self::Postgres),
            #[cfg(feature = "sqlx-mysql")]
            DbBackend::MySql => Ok(Self::MySql),
            // Its lock timeouts are told by vendor number (see `is_transient`).
            #[cfg(not(feature = "sqlx-mysql"))]
            DbBackend::MySql => Err(DbErr::BackendNotSupported {
                db: "MariaDB/MySQL",
                ctx: "sequences-core needs its `sqlx-mysql` feature for MariaDB/MySQL, to \
                      recognise lock timeouts by their error number: add \
                      `features = [\"sqlx-mysql\"]` to the sequences-core dependency",
            }),
            DbBackend::Sqlite => Ok(Self::Sqlite),
            #[allow(unreachable_patterns)]
            other => Err(DbErr::BackendNotSupported {
                db: backend_name(other),
                ctx: "sequences-core supports PostgreSQL, MariaDB/MySQL and SQLite",
            }),
        }
    }

    pub(crate) fn backend(self) -> DbBackend {
        match self {
            Self::Postgres => DbBackend::Postgres,
            Self::MySql => DbBackend::MySql,
            Self::Sqlite => DbBackend::Sqlite,
        }
    }

    /// Classifies a database error by SQLSTATE or vendor code, never by
    /// message ([`db_error::classify`]).
    pub(crate) fn classify(self, error: &DbErr) -> ErrorKind {
        db_error::classify(self.backend(), error)
    }

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

    /// Whether `value` of sequence `name` is recorded void.
    pub(crate) fn find_void(self, name: &str, value: i64) -> Statement {
        let sql = match self {
            Self::Postgres => format!(
                r#"SELECT "reason" FROM "{VOIDS_TABLE}" WHERE "sequence" = $1 AND "value" = $2"#
            ),
            Self::MySql => {
                format!("SELECT `reason` FROM `{VOIDS_TABLE}` WHERE `sequence` = ? AND `value` = ?")
            }
            Self::Sqlite => format!(
                r#"SELECT "reason" FROM "{VOIDS_TABLE}" WHERE "sequence" = ? AND "value" = ?"#
            ),
        };
        Statement::from_sql_and_values(self.backend(), sql, [name.into(), value.into()])
    }

    /// Records `value` of `name` void (with the hash of the chained record
    /// it replaces, if any), with the database's current UTC time as text.
    pub(crate) fn insert_void(
        self,
        name: &str,
        value: i64,
        reason: &str,
        chain_hash: Option<&str>,
        chain_auth: Option<&str>,
    ) -> Statement {
        // A keyed chain's void carries its authenticator too (a column of
        // KeyedChainMigration, named only then: older schemas keep working).
        let (auth_column, auth_value) = match (self, chain_auth) {
            (_, None) => ("", ""),
            (Self::MySql, Some(_)) => (", `chain_auth`", ", ?"),
            (Self::Postgres, Some(_)) => (r#", "chain_auth""#, ", $5"),
            (Self::Sqlite, Some(_)) => (r#", "chain_auth""#, ", ?"),
        };
        let sql = match self {
            Self::Postgres => format!(
                r#"INSERT INTO "{VOIDS_TABLE}" ("sequence", "value", "reason", "chain_hash"{auth_column}, "voided_at") VALUES ($1, $2, $3, $4{auth_value}, to_char(CURRENT_TIMESTAMP AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))"#
            ),
            Self::MySql => format!(
                "INSERT INTO `{VOIDS_TABLE}` (`sequence`, `value`, `reason`, `chain_hash`{auth_column}, `voided_at`) VALUES (?, ?, ?, ?{auth_value}, DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%sZ'))"
            ),
            Self::Sqlite => format!(
                r#"INSERT INTO "{VOIDS_TABLE}" ("sequence", "value", "reason", "chain_hash"{auth_column}, "voided_at") VALUES (?, ?, ?, ?{auth_value}, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"#
            ),
        };
        let mut values: Vec<Value> = vec![
            name.into(),
            value.into(),
            reason.into(),
            Value::String(chain_hash.map(str::to_owned)),
        ];
        values.extend(chain_auth.map(Value::from));
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// Every sequence (whose name starts with `prefix`), with its void count,
    /// and its recorded range when the `ranges` columns exist.
    pub(crate) fn list(self, prefix: Option<&str>, ranges: bool) -> Statement {
        let t = TABLE_NAME;
        let v = VOIDS_TABLE;
        let (filter, values): (String, Vec<Value>) = match (self, prefix) {
            (_, None) => (String::new(), vec![]),
            (Self::Postgres, Some(p)) => (
                r#" WHERE left(s."name", length($1)) = $1"#.to_owned(),
                vec![p.into()],
            ),
            (Self::MySql, Some(p)) => (
                " WHERE LEFT(s.`name`, CHAR_LENGTH(?)) = ?".to_owned(),
                vec![p.into(), p.into()],
            ),
            (Self::Sqlite, Some(p)) => (
                r#" WHERE substr(s."name", 1, length(?)) = ?"#.to_owned(),
                vec![p.into(), p.into()],
            ),
        };
        let sql = match (self, ranges) {
            (Self::MySql, _) => format!(
                "SELECT s.`name`, s.`last`, s.`closed`, s.`last_day`, \
                 (SELECT COUNT(*) FROM `{v}` x WHERE x.`sequence` = s.`name`), s.`chain_head`{} \
                 FROM `{t}` s{filter} ORDER BY s.`name`",
                if ranges {
                    ", s.`max_value`, s.`warn_at`"
                } else {
                    ""
                }
            ),
            (_, ranges) => format!(
                r#"SELECT s."name", s."last", s."closed", s."last_day", (SELECT COUNT(*) FROM "{v}" x WHERE x."sequence" = s."name"), s."chain_head"{} FROM "{t}" s{filter} ORDER BY s."name""#,
                if ranges {
                    r#", s."max_value", s."warn_at""#
                } else {
                    ""
                }
            ),
        };
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// Sessions holding or waiting for sequence rows: (sequence, session,
    /// holding 1/0, milliseconds, detail). `None` on SQLite (no sessions to see).
    pub(crate) fn holders(self, _name: Option<&str>) -> Option<Statement> {
        let t = TABLE_NAME;
        let sql = match self {
            Self::Postgres => format!(
                r#"WITH held AS (
                    SELECT s."name", l.pid FROM "{t}" s
                    JOIN pg_locks l ON l.locktype = 'transactionid' AND l.granted
                        AND l.transactionid::text = s.xmax::text
                    WHERE s.xmax::text <> '0')
                SELECT h."name", CAST(h.pid AS BIGINT), CAST(1 AS BIGINT),
                    CAST(EXTRACT(EPOCH FROM clock_timestamp() - a.xact_start) * 1000 AS DOUBLE PRECISION),
                    a.state || COALESCE(' (' || NULLIF(a.application_name, '') || ')', '')
                FROM held h JOIN pg_stat_activity a ON a.pid = h.pid
                UNION ALL
                SELECT h."name", CAST(w.pid AS BIGINT), CAST(0 AS BIGINT),
                    CAST(EXTRACT(EPOCH FROM clock_timestamp() - w.query_start) * 1000 AS DOUBLE PRECISION),
                    w.state || COALESCE(' (' || NULLIF(w.application_name, '') || ')', '')
                FROM held h JOIN pg_stat_activity w ON h.pid = ANY(pg_blocking_pids(w.pid))
                ORDER BY 1, 3 DESC, 2"#
            ),
            Self::MySql => format!(
                "SELECT l.lock_data, CAST(t.trx_mysql_thread_id AS SIGNED), \
                    CAST(l.lock_trx_id = w.blocking_trx_id AS SIGNED), \
                    CAST(TIMESTAMPDIFF(MICROSECOND, IF(l.lock_trx_id = w.blocking_trx_id, \
                        t.trx_started, t.trx_wait_started), NOW(6)) / 1000 AS DOUBLE), \
                    t.trx_state \
                 FROM information_schema.INNODB_LOCK_WAITS w \
                 JOIN information_schema.INNODB_LOCKS l \
                    ON l.lock_id = w.requested_lock_id OR l.lock_id = w.blocking_lock_id \
                 JOIN information_schema.INNODB_TRX t ON t.trx_id = l.lock_trx_id \
                 WHERE l.lock_table LIKE '%`{t}`' \
                 ORDER BY 1, 3 DESC, 2"
            ),
            Self::Sqlite => return None,
        };
        Some(Statement::from_string(self.backend(), sql))
    }

    /// MariaDB/MySQL: the other sessions whose open transaction holds row
    /// locks (thread, milliseconds since it started, rows locked, rows
    /// modified): InnoDB lists an uncontended row lock nowhere else.
    pub(crate) fn lock_owners(self) -> Option<Statement> {
        (self == Self::MySql).then(|| {
            Statement::from_string(
                self.backend(),
                "SELECT CAST(trx_mysql_thread_id AS SIGNED), \
                    CAST(TIMESTAMPDIFF(MICROSECOND, trx_started, NOW(6)) / 1000 AS DOUBLE), \
                    CAST(trx_rows_locked AS SIGNED), CAST(trx_rows_modified AS SIGNED) \
                 FROM information_schema.INNODB_TRX \
                 WHERE (trx_rows_locked > 0 OR trx_rows_modified > 0) \
                    AND trx_mysql_thread_id <> CONNECTION_ID() \
                 ORDER BY trx_started",
            )
        })
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

    /// The current UTC date and time as `YYYY-MM-DDTHH:MM:SS` (PostgreSQL:
    /// the transaction's start), for the current day in a time zone.
    pub(crate) fn current_utc(self) -> Statement {
        let sql = match self {
            Self::Postgres => {
                r#"SELECT to_char(CURRENT_TIMESTAMP AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')"#
            }
            Self::MySql => "SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%s')",
            Self::Sqlite => "SELECT strftime('%Y-%m-%dT%H:%M:%S', 'now')",
        };
        Statement::from_string(self.backend(), sql)
    }

    /// Takes the lock that numberers of one table take turns through: a row
    /// of `sequences` named `numberer:<table>.<column>`, locked by an upsert that
    /// stamps its `last` with the database's clock (seconds since 1970), so
    /// the audit can tell how long ago a numberer last ran; on SQLite, the
    /// database's write lock.
    pub(crate) fn lock_numberer(self, name: &str) -> Statement {
        let t = TABLE_NAME;
        let now = self.epoch_seconds();
        let sql = match self {
            Self::Postgres => format!(
                r#"INSERT INTO "{t}" ("name", "last") VALUES ($1, {now}) ON CONFLICT ("name") DO UPDATE SET "last" = EXCLUDED."last""#
            ),
            Self::MySql => format!(
                "INSERT INTO `{t}` (`name`, `last`) VALUES (?, {now}) ON DUPLICATE KEY UPDATE `last` = VALUES(`last`)"
            ),
            Self::Sqlite => format!(
                r#"INSERT INTO "{t}" ("name", "last") VALUES (?, {now}) ON CONFLICT ("name") DO UPDATE SET "last" = excluded."last""#
            ),
        };
        Statement::from_sql_and_values(self.backend(), sql, [name.into()])
    }

    /// Marks this transaction (PostgreSQL), session (MariaDB) or connection
    /// (SQLite) as the numberer of `target` (`table.column`): the update
    /// guard of an `after_commit` field lets only it number a waiting row.
    /// `None`: what ends the mark, where the transaction's end does not.
    pub(crate) fn numbering_mark(self, target: &str, on: bool) -> Option<Statement> {
        let sql = match (self, on) {
            (Self::Postgres, true) => {
                "SELECT set_config('sequences.numbering', $1, true)".to_owned()
            }
            (Self::Postgres, false) => return None,
            (Self::MySql, true) => "SET @sequences_numbering = ?".to_owned(),
            (Self::MySql, false) => "SET @sequences_numbering = NULL".to_owned(),
            (Self::Sqlite, true) => format!(
                "CREATE TEMP TABLE IF NOT EXISTS \"{}\" (\"x\" INTEGER)",
                numbering_mark_table(target)
            ),
            (Self::Sqlite, false) => format!(
                "DROP TABLE IF EXISTS temp.\"{}\"",
                numbering_mark_table(target)
            ),
        };
        let values: Vec<sea_orm::Value> = match (self, on) {
            (Self::Postgres | Self::MySql, true) => vec![target.into()],
            _ => Vec::new(),
        };
        Some(Statement::from_sql_and_values(self.backend(), sql, values))
    }

    /// An idle numberer's pass: stamps `last` of the numberer's row `name`
    /// with the database's clock, at most once a second (the statement
    /// changes nothing, and writes nothing, within the same second), so the
    /// audit can tell a live numberer with nothing to do from none.
    pub(crate) fn numberer_heartbeat(self, name: &str) -> Statement {
        let t = TABLE_NAME;
        let now = self.epoch_seconds();
        let sql = match self {
            Self::Postgres => {
                format!(r#"UPDATE "{t}" SET "last" = {now} WHERE "name" = $1 AND "last" < {now}"#)
            }
            Self::MySql => {
                format!("UPDATE `{t}` SET `last` = {now} WHERE `name` = ? AND `last` < {now}")
            }
            Self::Sqlite => {
                format!(r#"UPDATE "{t}" SET "last" = {now} WHERE "name" = ? AND "last" < {now}"#)
            }
        };
        Statement::from_sql_and_values(self.backend(), sql, [name.into()])
    }

    /// PostgreSQL: records that a numberer sleeps until notified (`asleep`:
    /// the row `name` of `entity::numberer_asleep`, its `last` the time, in
    /// seconds since 1970, which a sleeper renews every second), or that it
    /// woke (`last` 0). The insert trigger of an after_commit table notifies
    /// only while the row was renewed within two seconds, so busy writers
    /// never pay for NOTIFY (PostgreSQL commits notifying transactions one at
    /// a time), and a numberer killed asleep stops costing them in seconds.
    #[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
    pub(crate) fn numberer_asleep(self, name: &str, asleep: bool) -> Statement {
        let t = TABLE_NAME;
        let now = self.epoch_seconds();
        let sql = if asleep {
            format!(
                r#"INSERT INTO "{t}" ("name", "last") VALUES ($1, {now}) ON CONFLICT ("name") DO UPDATE SET "last" = EXCLUDED."last""#
            )
        } else {
            format!(r#"UPDATE "{t}" SET "last" = 0 WHERE "name" = $1"#)
        };
        Statement::from_sql_and_values(self.backend(), sql, [name.into()])
    }

    /// How many seconds ago the numberer of `name` last took its lock; no
    /// row when none ever ran.
    pub(crate) fn numberer_idle(self, name: &str) -> Statement {
        let t = TABLE_NAME;
        let now = self.epoch_seconds();
        let sql = match self {
            Self::Postgres => format!(r#"SELECT {now} - "last" FROM "{t}" WHERE "name" = $1"#),
            Self::MySql => format!("SELECT {now} - `last` FROM `{t}` WHERE `name` = ?"),
            Self::Sqlite => format!(r#"SELECT {now} - "last" FROM "{t}" WHERE "name" = ?"#),
        };
        Statement::from_sql_and_values(self.backend(), sql, [name.into()])
    }

    /// The database's clock, in whole seconds since 1970, as a SQL expression.
    pub(crate) fn epoch_seconds(self) -> &'static str {
        match self {
            Self::Postgres => "CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) AS BIGINT)",
            Self::MySql => "CAST(UNIX_TIMESTAMP() AS SIGNED)",
            Self::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
        }
    }

    /// Records a row a numberer refused, with the database's UTC time and
    /// the digest of its values; a row refused again gets the new reason,
    /// time and digest.
    pub(crate) fn insert_refusal(
        self,
        table: &str,
        column: &str,
        key: &str,
        reason: &str,
        digest: &str,
    ) -> Statement {
        let r = crate::entity::REFUSALS_TABLE;
        let sql = match self {
            Self::Postgres => format!(
                r#"INSERT INTO "{r}" ("table_name", "column_name", "row_key", "reason", "refused_at", "row_digest") VALUES ($1, $2, $3, $4, to_char(CURRENT_TIMESTAMP AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), $5) ON CONFLICT ("table_name", "column_name", "row_key") DO UPDATE SET "reason" = EXCLUDED."reason", "refused_at" = EXCLUDED."refused_at", "row_digest" = EXCLUDED."row_digest""#
            ),
            Self::MySql => format!(
                "INSERT INTO `{r}` (`table_name`, `column_name`, `row_key`, `reason`, `refused_at`, `row_digest`) VALUES (?, ?, ?, ?, DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%sZ'), ?) ON DUPLICATE KEY UPDATE `reason` = VALUES(`reason`), `refused_at` = VALUES(`refused_at`), `row_digest` = VALUES(`row_digest`)"
            ),
            Self::Sqlite => format!(
                r#"INSERT INTO "{r}" ("table_name", "column_name", "row_key", "reason", "refused_at", "row_digest") VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?) ON CONFLICT ("table_name", "column_name", "row_key") DO UPDATE SET "reason" = excluded."reason", "refused_at" = excluded."refused_at", "row_digest" = excluded."row_digest""#
            ),
        };
        Statement::from_sql_and_values(
            self.backend(),
            sql,
            [
                table.into(),
                column.into(),
                key.into(),
                reason.into(),
                digest.into(),
            ],
        )
    }

    /// Forgets the refusal of row `key` (it changed, or is gone).
    pub(crate) fn delete_refusal(self, table: &str, column: &str, key: &str) -> Statement {
        let r = crate::entity::REFUSALS_TABLE;
        let sql = match self {
            Self::Postgres => format!(
                r#"DELETE FROM "{r}" WHERE "table_name" = $1 AND "column_name" = $2 AND {} = {}"#,
                self.exact_text(r#""row_key""#),
                self.exact_text("$3")
            ),
            Self::MySql => format!(
                "DELETE FROM `{r}` WHERE `table_name` = ? AND `column_name` = ? AND {} = {}",
                self.exact_text("`row_key`"),
                self.exact_text("?")
            ),
            Self::Sqlite => format!(
                r#"DELETE FROM "{r}" WHERE "table_name" = ? AND "column_name" = ? AND {} = {}"#,
                self.exact_text(r#""row_key""#),
                self.exact_text("?")
            ),
        };
        Statement::from_sql_and_values(
            self.backend(),
            sql,
            [table.into(), column.into(), key.into()],
        )
    }

    /// The refusals of `table` (of its `column` only, if given): the row's
    /// key, the reason and the row's digest.
    pub(crate) fn refusals(self, table: &str, column: Option<&str>) -> Statement {
        let r = crate::entity::REFUSALS_TABLE;
        let (sql, values): (String, Vec<Value>) = match (self, column) {
            (Self::Postgres, Some(column)) => (
                format!(
                    r#"SELECT "row_key", "reason", "row_digest" FROM "{r}" WHERE "table_name" = $1 AND "column_name" = $2"#
                ),
                vec![table.into(), column.into()],
            ),
            (Self::Postgres, None) => (
                format!(
                    r#"SELECT "row_key", "reason", "row_digest" FROM "{r}" WHERE "table_name" = $1"#
                ),
                vec![table.into()],
            ),
            (Self::MySql, Some(column)) => (
                format!(
                    "SELECT `row_key`, `reason`, `row_digest` FROM `{r}` WHERE `table_name` = ? AND `column_name` = ?"
                ),
                vec![table.into(), column.into()],
            ),
            (Self::MySql, None) => (
                format!(
                    "SELECT `row_key`, `reason`, `row_digest` FROM `{r}` WHERE `table_name` = ?"
                ),
                vec![table.into()],
            ),
            (Self::Sqlite, Some(column)) => (
                format!(
                    r#"SELECT "row_key", "reason", "row_digest" FROM "{r}" WHERE "table_name" = ? AND "column_name" = ?"#
                ),
                vec![table.into(), column.into()],
            ),
            (Self::Sqlite, None) => (
                format!(
                    r#"SELECT "row_key", "reason", "row_digest" FROM "{r}" WHERE "table_name" = ?"#
                ),
                vec![table.into()],
            ),
        };
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// PostgreSQL: the condition that a row of `table` was written by a
    /// transaction older than every transaction still running (its `xmin`
    /// precedes the snapshot's): no transaction that could still commit a
    /// row before it is in flight. `None` elsewhere.
    pub(crate) fn settled(self, table: &str) -> Option<String> {
        match self {
            Self::Postgres => Some(format!(
                r#"age("{table}"."xmin") > age(CAST(CAST(txid_snapshot_xmin(txid_current_snapshot()) % 4294967296 AS TEXT) AS xid))"#
            )),
            Self::MySql | Self::Sqlite => None,
        }
    }

    /// The rows of `table` the numberer has not refused (no row of
    /// `sequence_refusals` for the column and the row's key, compared as
    /// text), as a condition with two values (`$1`, `$2` on PostgreSQL, `?`
    /// elsewhere, as `Expr::cust_with_values` takes them): the table's and
    /// the column's names.
    pub(crate) fn not_refused(self, table: &str, key: &str) -> String {
        let r = crate::entity::REFUSALS_TABLE;
        let key = self.key_text(table, key);
        match self {
            Self::MySql => format!(
                "NOT EXISTS (SELECT 1 FROM `{r}` WHERE `{r}`.`table_name` = ? AND `{r}`.`column_name` = ? \
                 AND {} = {key})",
                self.exact_text(&format!("`{r}`.`row_key`"))
            ),
            Self::Postgres => format!(
                r#"NOT EXISTS (SELECT 1 FROM "{r}" WHERE "{r}"."table_name" = $1 AND "{r}"."column_name" = $2 AND {} = {key})"#,
                self.exact_text(&format!(r#""{r}"."row_key""#))
            ),
            Self::Sqlite => format!(
                r#"NOT EXISTS (SELECT 1 FROM "{r}" WHERE "{r}"."table_name" = ? AND "{r}"."column_name" = ? AND {} = {key})"#,
                self.exact_text(&format!(r#""{r}"."row_key""#))
            ),
        }
    }

    /// The keys (as text) of `table`'s rows whose `column` is NULL and that
    /// no numberer refused (for any column of the table), in key order, the
    /// first `limit`: the rows the audit watches.
    pub(crate) fn audit_waiting(
        self,
        table: &str,
        column: &str,
        key: &str,
        limit: Option<u64>,
    ) -> Statement {
        let r = crate::entity::REFUSALS_TABLE;
        let q = |name: &str| match self {
            Self::MySql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        };
        let key_text = self.key_text(table, key);
        let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let param = match self {
            Self::Postgres => "$1",
            _ => "?",
        };
        let sql = format!(
            "SELECT {key_text} FROM {t} WHERE {t}.{c} IS NULL AND NOT EXISTS (SELECT 1 FROM {r} WHERE {r}.{tn} = {param} AND {} = {key_text}) ORDER BY {t}.{k}{limit}",
            self.exact_text(&format!("{}.{}", q(r), q("row_key"))),
            t = q(table),
            c = q(column),
            k = q(key),
            r = q(r),
            tn = q("table_name"),
        );
        Statement::from_sql_and_values(self.backend(), sql, [table.into()])
    }

    /// A row's key column as text, as `sequence_refusals` keeps it,
    /// compared byte for byte (`exact_text`).
    pub(crate) fn key_text(self, table: &str, key: &str) -> String {
        match self {
            Self::MySql => self.exact_text(&format!("`{table}`.`{key}`")),
            Self::Postgres | Self::Sqlite => self.exact_text(&format!(r#""{table}"."{key}""#)),
        }
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

    /// The database's current date as `YYYY-MM-DD`. PostgreSQL's is the
    /// transaction's start date (stable within it); MariaDB's the statement's,
    /// in the session time zone; SQLite's is UTC.
    pub(crate) fn current_date(self) -> Statement {
        let sql = match self {
            Self::Postgres => "SELECT CAST(CURRENT_DATE AS TEXT)",
            Self::MySql => "SELECT CAST(CURDATE() AS CHAR)",
            Self::Sqlite => "SELECT date('now')",
        };
        Statement::from_string(self.backend(), sql)
    }

    /// The `CAST` target types of an audit: a signed 64-bit integer, and text.
    pub(crate) fn audit_cast_types(self) -> (&'static str, &'static str) {
        match self {
            Self::Postgres => ("BIGINT", "TEXT"),
            Self::MySql => ("SIGNED", "CHAR"),
            Self::Sqlite => ("INTEGER", "TEXT"),
        }
    }

    /// The `n`th placeholder of a custom expression (sea-query's `Expr::cust_with_exprs`).
    pub(crate) fn placeholder(self, n: usize) -> String {
        match self {
            Self::Postgres => format!("${n}"),
            Self::MySql | Self::Sqlite => "?".to_owned(),
        }
    }

    /// `expr` as text that compares, groups and sorts byte for byte, as
    /// sequence names do: whatever the column's collation (MariaDB's
    /// default ones ignore case and trailing spaces, SQLite's NOCASE the
    /// case), `a`, `A` and `a ` stay three values. MariaDB reads the first
    /// versioned comment, MySQL 8 the second.
    pub(crate) fn exact_text(self, expr: &str) -> String {
        match self {
            Self::Postgres => format!("CAST({expr} AS TEXT) COLLATE \"C\""),
            Self::MySql => format!(
                "CAST({expr} AS CHAR CHARACTER SET utf8mb4) /*M!100000 COLLATE utf8mb4_nopad_bin */ /*!80000 COLLATE utf8mb4_0900_bin */"
            ),
            Self::Sqlite => format!("CAST({expr} AS TEXT) COLLATE BINARY"),
        }
    }

    /// The declared type of a table's column, as the catalog spells it; no
    /// row when there is no such column.
    pub(crate) fn column_type(self, table: &str, column: &str) -> Statement {
        let sql = match self {
            Self::Postgres => {
                "SELECT CAST(data_type AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
            }
            Self::MySql => {
                "SELECT CAST(COLUMN_TYPE AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?"
            }
            Self::Sqlite => "SELECT type FROM pragma_table_info(?) WHERE name = ?",
        };
        Statement::from_sql_and_values(self.backend(), sql, [table.into(), column.into()])
    }
}

fn backend_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "PostgreSQL",
        DbBackend::MySql => "MySQL",
        DbBackend::Sqlite => "SQLite",
        #[allow(unreachable_patterns)]
        _ => "this backend",
    }
}

/// SQLite: the temporary table whose presence marks a connection as the
/// numberer of `target` (its triggers cannot read a temporary table's
/// rows, only that it exists).
pub(crate) fn numbering_mark_table(target: &str) -> String {
    use sha2::Digest;
    format!(
        "sequences_numbering_{}",
        &crate::chain::hex(&sha2::Sha256::digest(target.as_bytes()))[..16]
    )
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
