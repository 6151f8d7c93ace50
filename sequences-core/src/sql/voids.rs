//! Voids: numbers handed out that will never be on a document.

use sea_orm::{Statement, Value};

use super::Dialect;
use crate::entity::VOIDS_TABLE;

impl Dialect {
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
}
