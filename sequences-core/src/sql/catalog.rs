//! What the database's catalog says of a table.

use sea_orm::Statement;

use super::Dialect;

impl Dialect {
    /// PostgreSQL: the table named by `param` (a placeholder or a literal),
    /// resolved as an unqualified name in a statement is, through the search
    /// path: the one way the crate finds a table in the catalog.
    pub(crate) fn table_oid(self, param: &str) -> String {
        format!("to_regclass(quote_ident({param}))")
    }

    /// The columns of a table's primary key, one row each (as text).
    pub(crate) fn primary_key(self, table: &str) -> Statement {
        let sql: &str = match self {
            Self::Postgres => &format!(
                "SELECT CAST(a.attname AS TEXT) FROM pg_index i JOIN pg_attribute a \
                 ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = {} AND i.indisprimary",
                self.table_oid("$1")
            ),
            Self::MySql => {
                "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY'"
            }
            Self::Sqlite => "SELECT name FROM pragma_table_info(?) WHERE pk > 0",
        };
        Statement::from_sql_and_values(self.backend(), sql, [table.into()])
    }

    /// The declared type of a table's column, as the catalog spells it; no
    /// row when there is no such column.
    pub(crate) fn column_type(self, table: &str, column: &str) -> Statement {
        let sql: &str = match self {
            Self::Postgres => &format!(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = {} AND attname = $2 AND attnum > 0 AND NOT attisdropped",
                self.table_oid("$1")
            ),
            Self::MySql => {
                "SELECT CAST(COLUMN_TYPE AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?"
            }
            Self::Sqlite => "SELECT type FROM pragma_table_info(?) WHERE name = ?",
        };
        Statement::from_sql_and_values(self.backend(), sql, [table.into(), column.into()])
    }
}
