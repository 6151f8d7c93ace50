//! Voids: numbers handed out that will never be on a document.

use sea_orm::{Statement, Value};

use super::Dialect;
use super::piece::{Arg, fill};
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

    /// Records `{value}` of `{sequence}` void with `{reason}` and
    /// `{hash}` (the chained record's hash, or NULL), and with `auth` a
    /// keyed chain's `{auth}` (KeyedChainMigration's column, named only
    /// then: older schemas keep working), at the database's UTC time.
    /// `again` lets a number already void stay as it is (the triggers'
    /// delete policy); the library refuses it before (`AlreadyVoid`).
    pub(crate) fn insert_void_text(self, auth: bool, again: bool) -> String {
        let q = |c: &str| self.quote(c);
        let (auth_column, auth_value) = if auth {
            (format!(", {}", q("chain_auth")), ", {auth}")
        } else {
            (String::new(), "")
        };
        let again = match (again, self) {
            (false, _) => String::new(),
            (true, Self::MySql) => format!(" ON DUPLICATE KEY UPDATE {s} = {s}", s = q("sequence")),
            (true, _) => " ON CONFLICT DO NOTHING".to_owned(),
        };
        format!(
            "INSERT INTO {{voids}} ({}, {}, {}, {}{auth_column}, {}) VALUES ({{sequence}}, {{value}}, {{reason}}, {{hash}}{auth_value}, {}){again}",
            q("sequence"),
            q("value"),
            q("reason"),
            q("chain_hash"),
            q("voided_at"),
            self.utc_stamp(),
        )
    }

    /// [`insert_void_text`](Self::insert_void_text), bound.
    pub(crate) fn insert_void(
        self,
        name: &str,
        value: i64,
        reason: &str,
        chain_hash: Option<&str>,
        chain_auth: Option<&str>,
    ) -> Statement {
        fill(
            self,
            &self.insert_void_text(chain_auth.is_some(), false),
            &[
                ("voids", &Arg::sql(self.quote(VOIDS_TABLE))),
                ("sequence", &Arg::bind(name)),
                ("value", &Arg::bind(value)),
                ("reason", &Arg::bind(reason)),
                (
                    "hash",
                    &Arg::bind(Value::String(chain_hash.map(str::to_owned))),
                ),
                ("auth", &Arg::bind(chain_auth)),
            ],
        )
        .statement(self)
    }
}
