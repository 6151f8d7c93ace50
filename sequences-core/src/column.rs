//! The columns audits and chain checks read: an entity's columns, or
//! columns known by name at run time (the `sequences` command), with what
//! their types mean for the text a sequence name prints.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ColumnType, ConnectionTrait};

use crate::column_value::Holder;
use crate::error::SequenceError;
use crate::sql::Dialect;

/// A column an audit reads: an entity's column (any `ColumnTrait`), or a
/// [`NamedColumn`] given by name at run time (the `sequences` command).
pub trait AuditColumn: Clone {
    /// The table's name.
    fn table_name(&self) -> String;
    /// The column's name.
    fn column_name(&self) -> &str;
    /// Whether the column holds integers, when known (checked before any query).
    fn is_integer(&self) -> Option<bool>;
    /// Whether the column holds booleans: a sequence name prints them
    /// `true`/`false`, which MariaDB and SQLite (storing 1/0) would not.
    fn is_boolean(&self) -> bool {
        false
    }
}

impl<C: ColumnTrait> AuditColumn for C {
    fn table_name(&self) -> String {
        sea_orm::EntityName::table_name(&C::EntityName::default()).to_owned()
    }

    fn column_name(&self) -> &str {
        sea_orm::IdenStatic::as_str(self)
    }

    fn is_integer(&self) -> Option<bool> {
        Some(matches!(
            Holder::of(self.def().get_column_type()),
            Some(Holder::Integer(_))
        ))
    }

    fn is_boolean(&self) -> bool {
        matches!(self.def().get_column_type(), ColumnType::Boolean)
    }
}

/// A column known only by its table's and its own name: the audit of any
/// table, without the application's entity types. The database checks that
/// they exist (the audit fails with its error otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedColumn {
    table: String,
    column: String,
    boolean: bool,
    integer: Option<bool>,
}

impl NamedColumn {
    /// Column `column` of table `table`.
    pub fn new(table: impl Into<String>, column: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            column: column.into(),
            boolean: false,
            integer: None,
        }
    }

    /// Column `column` of table `table`, its type read from the database's
    /// catalog (`information_schema`, SQLite's `pragma_table_info`): an
    /// integer column is checked as one, a boolean one read back as sequence
    /// names print it. A table or column that does not exist is an error
    /// naming it.
    pub async fn from_database<D: ConnectionTrait>(
        db: &D,
        table: impl Into<String>,
        column: impl Into<String>,
    ) -> Result<Self, SequenceError> {
        let mut named = Self::new(table, column);
        let target = format!("{}.{}", named.table, named.column);
        let database = |source| SequenceError::Database {
            name: target.clone(),
            source,
        };
        let dialect = Dialect::of(db.get_database_backend()).map_err(database)?;
        let row = db
            .query_one_raw(dialect.column_type(&named.table, &named.column))
            .await
            .map_err(database)?
            .ok_or_else(|| SequenceError::InvalidAudit {
                target: target.clone(),
                reason: format!(
                    "table `{}` has no column `{}` (or the table does not exist)",
                    named.table, named.column
                ),
            })?;
        let declared = row
            .try_get_by_index::<String>(0)
            .map_err(database)?
            .to_lowercase();
        named.boolean = declared.contains("bool") || declared.starts_with("tinyint(1)");
        named.integer = Some(!named.boolean && declared.contains("int"));
        Ok(named)
    }

    /// The column holds booleans (a scope column printed `true`/`false` in
    /// sequence names, as the library prints them).
    pub fn boolean(mut self) -> Self {
        self.boolean = true;
        self
    }
}

impl AuditColumn for NamedColumn {
    fn table_name(&self) -> String {
        self.table.clone()
    }

    fn column_name(&self) -> &str {
        &self.column
    }

    fn is_integer(&self) -> Option<bool> {
        self.integer
    }

    fn is_boolean(&self) -> bool {
        self.boolean
    }
}

/// A scope column as text; booleans as `true`/`false`, as sequence names
/// print them (MariaDB and SQLite store 1/0).
pub(crate) fn as_text<C: AuditColumn>(
    expr: sea_orm::sea_query::Expr,
    column: &C,
    dialect: Dialect,
) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{CaseStatement, ExprTrait};
    if column.is_boolean() {
        CaseStatement::new()
            .case(expr.clone().is_null(), Expr::cust("NULL"))
            .case(expr.eq(true), Expr::cust("'true'"))
            .finally(Expr::cust("'false'"))
            .into()
    } else {
        Expr::cust_with_expr(dialect.exact_text(&dialect.placeholder(1)), expr)
    }
}

/// Whether placeholder values read back from a sequence name can be the
/// scope's: an integer column's value is an integer (`invoice-all` is no
/// company's counter of `invoice-{company_id}`).
pub(crate) fn fits_scope<C: AuditColumn>(scope: &[C], values: &[(String, String)]) -> bool {
    values.iter().all(|(placeholder, value)| {
        scope
            .iter()
            .find(|c| c.column_name() == placeholder)
            .is_none_or(|c| c.is_integer() != Some(true) || value.parse::<i64>().is_ok())
    })
}
