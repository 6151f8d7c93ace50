//! What the database's catalog says of a table.

use sea_orm::Statement;

use super::Dialect;

impl Dialect {
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
