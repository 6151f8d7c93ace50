//! The numberer's rows: its lock and heartbeat in `sequences`, its mark on
//! the transaction, and the rows it refused (`sequence_refusals`).

use sea_orm::{Statement, Value};

use super::Dialect;
use crate::entity::TABLE_NAME;

impl Dialect {
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

    /// Marks this transaction as the numberer of `target` (`table.column`),
    /// or (`on == false`) ends the mark: the update guard of an
    /// `after_commit` field lets only it number a waiting row. The mark
    /// lives and dies with the transaction, rolled back with it if the batch
    /// is cancelled: PostgreSQL's setting local to the transaction (reset at
    /// the end, for a batch that ran in a savepoint of the caller's),
    /// MariaDB's row in a temporary table of the session (InnoDB's are
    /// transactional) shadowing the empty `sequences_numbering`, SQLite's
    /// temporary table named after the field (created in the transaction).
    pub(crate) fn numbering_mark(self, target: &str, on: bool) -> Vec<Statement> {
        let t = NUMBERING_TABLE;
        let (sql, bind): (Vec<String>, bool) = match (self, on) {
            (Self::Postgres, true) => (
                vec!["SELECT set_config('sequences.numbering', $1, true)".to_owned()],
                true,
            ),
            (Self::Postgres, false) => (
                vec!["SELECT set_config('sequences.numbering', '', true)".to_owned()],
                false,
            ),
            (Self::MySql, true) => (
                vec![
                    format!(
                        "CREATE TEMPORARY TABLE IF NOT EXISTS `{t}` (`target` VARBINARY(512) NOT NULL PRIMARY KEY) ENGINE = InnoDB"
                    ),
                    format!("INSERT IGNORE INTO `{t}` (`target`) VALUES (?)"),
                ],
                true,
            ),
            (Self::MySql, false) => (vec![format!("DELETE FROM `{t}` WHERE `target` = ?")], true),
            (Self::Sqlite, true) => (
                vec![format!(
                    "CREATE TEMP TABLE IF NOT EXISTS \"{}\" (\"x\" INTEGER)",
                    numbering_mark_table(target)
                )],
                false,
            ),
            (Self::Sqlite, false) => (
                vec![format!(
                    "DROP TABLE IF EXISTS temp.\"{}\"",
                    numbering_mark_table(target)
                )],
                false,
            ),
        };
        sql.into_iter()
            .map(|sql| {
                let values: Vec<sea_orm::Value> = if bind && sql.contains(['?', '$']) {
                    vec![target.into()]
                } else {
                    Vec::new()
                };
                Statement::from_sql_and_values(self.backend(), sql, values)
            })
            .collect()
    }

    /// MariaDB/MySQL: creates the empty table that numberers' temporary
    /// tables shadow (`numbering_mark`), so the guard of every other session
    /// reads no mark.
    pub(crate) fn create_numbering_table(self) -> Option<String> {
        (self == Self::MySql).then(|| {
            format!(
                "CREATE TABLE IF NOT EXISTS `{NUMBERING_TABLE}` (`target` VARBINARY(512) NOT NULL PRIMARY KEY) ENGINE = InnoDB"
            )
        })
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
        let now = self.utc_stamp();
        let sql = match self {
            Self::Postgres => format!(
                r#"INSERT INTO "{r}" ("table_name", "column_name", "row_key", "reason", "refused_at", "row_digest") VALUES ($1, $2, $3, $4, {now}, $5) ON CONFLICT ("table_name", "column_name", "row_key") DO UPDATE SET "reason" = EXCLUDED."reason", "refused_at" = EXCLUDED."refused_at", "row_digest" = EXCLUDED."row_digest""#
            ),
            Self::MySql => format!(
                "INSERT INTO `{r}` (`table_name`, `column_name`, `row_key`, `reason`, `refused_at`, `row_digest`) VALUES (?, ?, ?, ?, {now}, ?) ON DUPLICATE KEY UPDATE `reason` = VALUES(`reason`), `refused_at` = VALUES(`refused_at`), `row_digest` = VALUES(`row_digest`)"
            ),
            Self::Sqlite => format!(
                r#"INSERT INTO "{r}" ("table_name", "column_name", "row_key", "reason", "refused_at", "row_digest") VALUES (?, ?, ?, ?, {now}, ?) ON CONFLICT ("table_name", "column_name", "row_key") DO UPDATE SET "reason" = excluded."reason", "refused_at" = excluded."refused_at", "row_digest" = excluded."row_digest""#
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
        let q = |name: &str| self.quote(name);
        let mut sql = format!(
            "SELECT {}, {}, {} FROM {} WHERE {} = {}",
            q("row_key"),
            q("reason"),
            q("row_digest"),
            q(crate::entity::REFUSALS_TABLE),
            q("table_name"),
            self.placeholder(1)
        );
        let mut values: Vec<Value> = vec![table.into()];
        if let Some(column) = column {
            sql += &format!(" AND {} = {}", q("column_name"), self.placeholder(2));
            values.push(column.into());
        }
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

    /// The keys (as text) of `table`'s rows whose `column` is NULL, in key
    /// order, the first `limit`: the rows the audit watches (refused ones
    /// too: a refusal may be deleted while the audit watches).
    pub(crate) fn audit_waiting(
        self,
        table: &str,
        column: &str,
        key: &str,
        limit: Option<u64>,
    ) -> Statement {
        let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let sql = format!(
            "SELECT {} FROM {t} WHERE {t}.{c} IS NULL ORDER BY {t}.{k}{limit}",
            self.key_text(table, key),
            t = self.quote(table),
            c = self.quote(column),
            k = self.quote(key),
        );
        Statement::from_string(self.backend(), sql)
    }

    /// How many rows of `table` have `column` NULL.
    pub(crate) fn audit_waiting_count(self, table: &str, column: &str) -> Statement {
        let sql = format!(
            "SELECT COUNT(*) FROM {t} WHERE {t}.{c} IS NULL",
            t = self.quote(table),
            c = self.quote(column),
        );
        Statement::from_string(self.backend(), sql)
    }

    /// A row's key column as text, as `sequence_refusals` keeps it,
    /// compared byte for byte (`exact_text`).
    pub(crate) fn key_text(self, table: &str, key: &str) -> String {
        self.exact_text(&format!("{}.{}", self.quote(table), self.quote(key)))
    }
}

/// MariaDB/MySQL: the table of numberers' marks (see `numbering_mark`).
pub(crate) const NUMBERING_TABLE: &str = "sequences_numbering";

/// SQLite: the temporary table whose presence marks a connection as the
/// numberer of `target` (its triggers cannot read a temporary table's
/// rows, only that it exists).
pub(crate) fn numbering_mark_table(target: &str) -> String {
    use sha2::Digest;
    format!(
        "sequences_numbering_{}",
        &crate::hash::hex(&sha2::Sha256::digest(target.as_bytes()))[..16]
    )
}
