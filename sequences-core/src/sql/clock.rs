//! The database's clock.

use sea_orm::Statement;

use super::Dialect;

impl Dialect {
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

    /// The database's clock, in whole seconds since 1970, as a SQL expression.
    pub(crate) fn epoch_seconds(self) -> &'static str {
        match self {
            Self::Postgres => "CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) AS BIGINT)",
            Self::MySql => "CAST(UNIX_TIMESTAMP() AS SIGNED)",
            Self::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
        }
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
}
