//! The inventory: every sequence with its state, and who holds or waits
//! for a counter row's lock.

use sea_orm::{Statement, Value};

use super::Dialect;
use crate::entity::{TABLE_NAME, VOIDS_TABLE};

impl Dialect {
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
}
