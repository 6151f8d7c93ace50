//! A statement written once for both paths: the library binds its values,
//! the triggers' generators put in their row's expressions.
//!
//! A piece is SQL text with named holes (`{name}`); each hole is filled with
//! an [`Arg`]: a value, bound as a parameter in the order the holes appear
//! (so `?` placeholders line up on MariaDB and SQLite), or an expression,
//! written as it is (a trigger's variable, a column of its row, a literal).

use sea_orm::{Statement, Value};

use super::Dialect;

/// What fills a hole of a piece.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A value the library binds.
    Bind(Value),
    /// An expression a trigger writes.
    Sql(String),
}

impl Arg {
    /// A value to bind.
    pub(crate) fn bind(value: impl Into<Value>) -> Self {
        Self::Bind(value.into())
    }

    /// An expression, as it is.
    pub(crate) fn sql(expr: impl Into<String>) -> Self {
        Self::Sql(expr.into())
    }
}

/// A piece's text with its holes filled: the SQL and the values bound, in
/// order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filled {
    pub(crate) sql: String,
    pub(crate) values: Vec<Value>,
}

impl Filled {
    /// The statement the library runs.
    pub(crate) fn statement(self, d: Dialect) -> Statement {
        Statement::from_sql_and_values(d.backend(), self.sql, self.values)
    }

    /// The text a trigger writes: a piece whose holes are all expressions.
    pub(crate) fn text(self) -> String {
        assert!(
            self.values.is_empty(),
            "a trigger's piece binds nothing: {}",
            self.sql
        );
        self.sql
    }
}

/// Fills the holes of `text` with `args`, by name; `{{` and `}}` are
/// literal braces. A hole with no argument is a bug of the caller (panics).
pub(crate) fn fill(d: Dialect, text: &str, args: &[(&str, &Arg)]) -> Filled {
    let mut sql = String::with_capacity(text.len() + 32);
    let mut values = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        sql.push_str(&rest[..open]);
        let brace = rest.as_bytes()[open];
        let after = &rest[open + 1..];
        if after.as_bytes().first() == Some(&brace) {
            sql.push(brace as char);
            rest = &after[1..];
            continue;
        }
        assert!(brace == b'{', "an unmatched `}}` in {text}");
        let close = after.find('}').expect("a hole is closed");
        let name = &after[..close];
        let arg = args
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, arg)| *arg)
            .unwrap_or_else(|| panic!("no argument for hole `{name}` of {text}"));
        match arg {
            Arg::Bind(value) => {
                values.push(value.clone());
                sql.push_str(&d.placeholder(values.len()));
            }
            Arg::Sql(expr) => sql.push_str(expr),
        }
        rest = &after[close + 1..];
    }
    sql.push_str(rest);
    Filled { sql, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_filled_in_the_order_they_appear() {
        let a = Arg::bind(1i64);
        let b = Arg::sql("v_name");
        let c = Arg::bind("x");
        let filled = fill(
            Dialect::MySql,
            "SELECT {c}, {b}, {a}, {c} {{not a hole}}",
            &[("a", &a), ("b", &b), ("c", &c)],
        );
        assert_eq!(filled.sql, "SELECT ?, v_name, ?, ? {not a hole}");
        assert_eq!(
            filled.values,
            vec!["x".into(), Value::BigInt(Some(1)), "x".into()]
        );
        let filled = fill(Dialect::Postgres, "{a} + {a}", &[("a", &a)]);
        assert_eq!(filled.sql, "$1 + $2");
    }
}
