//! The database's clock.

use sea_orm::Statement;

use super::Dialect;

impl Dialect {
    /// The current UTC date and time as text, `YYYY-MM-DDTHH:MM:SS`
    /// (PostgreSQL: the transaction's start): the one spelling of the
    /// database's time the crate writes (voids, refusals) and reads (the
    /// day in a time zone).
    pub(crate) fn utc_now(self) -> &'static str {
        match self {
            Self::Postgres => {
                r#"to_char(CURRENT_TIMESTAMP AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')"#
            }
            Self::MySql => "DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%s')",
            Self::Sqlite => "strftime('%Y-%m-%dT%H:%M:%S', 'now')",
        }
    }

    /// [`utc_now`](Self::utc_now) with a `Z`: when a void or a refusal was
    /// recorded.
    pub(crate) fn utc_stamp(self) -> String {
        match self {
            Self::MySql => format!("CONCAT({}, 'Z')", self.utc_now()),
            _ => format!("({} || 'Z')", self.utc_now()),
        }
    }

    /// The current UTC date and time, for the current day in a time zone.
    pub(crate) fn current_utc(self) -> Statement {
        Statement::from_string(self.backend(), format!("SELECT {}", self.utc_now()))
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
