//! The audit's statements, per backend: portable SQL over a base query
//! whose columns are the scope (`s0`, `s1`, ...: exact text, or an integer
//! column in its own type) and the number (`v`). The scope is read back as
//! text.

use sea_orm::Statement;

use super::Dialect;

/// The statements of an audit (see [`Dialect::audit`]).
#[derive(Debug, Clone)]
pub(crate) struct AuditStatements {
    /// Per scope, in one pass over the table: rows, distinct numbers,
    /// distinct numbers from `initial`, rows below `initial`, lowest and
    /// highest number, lowest from `initial`.
    pub(crate) summary: Statement,
}

/// The scope columns `s0`, `s1`, ... of an audit's base query.
fn scope_columns(scope_len: usize) -> Vec<String> {
    (0..scope_len).map(|i| format!("s{i}")).collect()
}

/// `PARTITION BY s0, .. ` (empty without scope).
fn partition(scope: &[String]) -> String {
    if scope.is_empty() {
        String::new()
    } else {
        format!("PARTITION BY {} ", scope.join(", "))
    }
}

/// `prefix s0, ..` (empty without scope).
fn listed(prefix: &str, scope: &[String]) -> String {
    if scope.is_empty() {
        String::new()
    } else {
        format!("{prefix}{}", scope.join(", "))
    }
}

impl Dialect {
    /// The scope columns as the audit reads them back: text (a column
    /// compared in its own type, an integer, is printed as the sequence
    /// name prints it), each followed by `, `.
    fn scope_out(self, scope: &[String]) -> String {
        let (_, text) = self.audit_cast_types();
        scope
            .iter()
            .map(|s| format!("CAST({s} AS {text}), "))
            .collect()
    }

    /// The summary of an audit, over `base`: a query whose columns are the
    /// scope (`s0`, `s1`, ...: exact text, or an integer column in its own
    /// type, so that an index on (scope, number) serves the sort) and the
    /// audited number as a 64-bit integer (`v`), rows with a NULL number
    /// excluded. One pass over the table: each row is compared with the one
    /// before it in its scope (a window function: PostgreSQL, MariaDB
    /// 10.2+, MySQL 8+, SQLite 3.25+). `base` carries the bound values of the
    /// caller's filter.
    pub(crate) fn audit(self, base: &Statement, scope_len: usize, initial: i64) -> AuditStatements {
        let scope = scope_columns(scope_len);
        let comma: String = scope.iter().map(|s| format!("{s}, ")).collect();
        let new = "(prev IS NULL OR v <> prev)";
        AuditStatements {
            summary: Statement {
                sql: format!(
                    "SELECT {}COUNT(*), COUNT(CASE WHEN {new} THEN 1 END), \
                     COUNT(CASE WHEN v >= {initial} AND {new} THEN 1 END), \
                     COUNT(CASE WHEN v < {initial} THEN 1 END), MIN(v), MAX(v), \
                     MIN(CASE WHEN v >= {initial} THEN v END) \
                     FROM (SELECT {comma}v, LAG(v) OVER ({}ORDER BY v) AS prev \
                     FROM ({}) b) w{}{}",
                    self.scope_out(&scope),
                    partition(&scope),
                    base.sql,
                    listed(" GROUP BY ", &scope),
                    listed(" ORDER BY ", &scope),
                ),
                values: base.values.clone(),
                db_backend: self.backend(),
            },
        }
    }

    /// The gaps and the duplicates of an audit over `base`, in the scopes
    /// `only` (each a value per scope column, `None` for NULL; every scope
    /// when `only` is `None`): each run of missing numbers from `initial`
    /// between two present ones, and each number present more than once
    /// with how often; `max_listed` of each.
    pub(crate) fn audit_details(
        self,
        base: &Statement,
        scope_len: usize,
        initial: i64,
        max_listed: u64,
        only: Option<&[Vec<Option<sea_orm::Value>>]>,
    ) -> (Statement, Statement) {
        let scope = scope_columns(scope_len);
        let comma: String = scope.iter().map(|s| format!("{s}, ")).collect();
        let out = self.scope_out(&scope);
        let mut values = base.values.clone().map(|v| v.0).unwrap_or_default();
        let mut filter = String::new();
        if let Some(only) = only.filter(|only| scope_len > 0 && !only.is_empty()) {
            let mut any = Vec::new();
            for one in only {
                let mut all = Vec::new();
                for (s, value) in scope.iter().zip(one) {
                    match value {
                        None => all.push(format!("{s} IS NULL")),
                        Some(value) => {
                            values.push(value.clone());
                            all.push(format!("{s} = {}", self.placeholder(values.len())));
                        }
                    }
                }
                any.push(format!("({})", all.join(" AND ")));
            }
            filter = format!(" WHERE {}", any.join(" OR "));
        }
        let values = Some(sea_orm::Values(values));
        let base = format!("SELECT * FROM ({}) f{filter}", base.sql);
        let statement = |sql: String| Statement {
            sql,
            values: values.clone(),
            db_backend: self.backend(),
        };
        (
            statement(format!(
                "SELECT {out}prev + 1, v - 1 FROM (\
                 SELECT {comma}v, LAG(v) OVER ({}ORDER BY v) AS prev \
                 FROM ({base}) b WHERE v >= {initial}) w \
                 WHERE v > prev + 1 ORDER BY {comma}v LIMIT {max_listed}",
                partition(&scope),
            )),
            statement(format!(
                "SELECT {out}v, COUNT(*) + 1 FROM (\
                 SELECT {comma}v, LAG(v) OVER ({}ORDER BY v) AS prev FROM ({base}) b) w \
                 WHERE v = prev GROUP BY {comma}v ORDER BY {comma}v LIMIT {max_listed}",
                partition(&scope),
            )),
        )
    }

    /// Date inversions of an audit over `base` (which has a date column `d`):
    /// per scope, how many numbers are dated earlier than the number before
    /// them, and the first `max_listed` of them with both dates as text.
    pub(crate) fn audit_inversions(
        self,
        base: &Statement,
        scope_len: usize,
        max_listed: u64,
    ) -> (Statement, Statement) {
        let scope = scope_columns(scope_len);
        let list = scope.iter().map(|s| format!("{s}, ")).collect::<String>();
        let partition = partition(&scope);
        let group_by = listed(" GROUP BY ", &scope);
        let (_, text) = self.audit_cast_types();
        let out = self.scope_out(&scope);
        let windowed = format!(
            "SELECT {list}v, d, LAG(d) OVER ({partition}ORDER BY v) AS prev FROM ({}) b \
             WHERE d IS NOT NULL",
            base.sql
        );
        let statement = |sql: String| Statement {
            sql,
            values: base.values.clone(),
            db_backend: self.backend(),
        };
        (
            statement(format!(
                "SELECT {out}COUNT(*) FROM ({windowed}) w WHERE d < prev{group_by}"
            )),
            statement(format!(
                "SELECT {out}v, CAST(d AS {text}), CAST(prev AS {text}) FROM ({windowed}) w \
                 WHERE d < prev ORDER BY {list}v LIMIT {max_listed}"
            )),
        )
    }

    /// Rows with a NULL number, over `base` (scope columns `s0`.., then key
    /// columns): their count per scope, and the first `max_listed`.
    pub(crate) fn audit_unnumbered(
        self,
        base: &Statement,
        scope_len: usize,
        max_listed: u64,
    ) -> (Statement, Statement) {
        let scope = scope_columns(scope_len);
        let list = scope.iter().map(|s| format!("{s}, ")).collect::<String>();
        let group_by = listed(" GROUP BY ", &scope);
        let statement = |sql: String| Statement {
            sql,
            values: base.values.clone(),
            db_backend: self.backend(),
        };
        (
            statement(format!(
                "SELECT {list}COUNT(*) FROM ({}) b{group_by} HAVING COUNT(*) > 0",
                base.sql
            )),
            statement(format!("SELECT * FROM ({}) b LIMIT {max_listed}", base.sql)),
        )
    }

    /// Which of `values` rows of `base` hold, per scope.
    pub(crate) fn audit_present(
        self,
        base: &Statement,
        scope_len: usize,
        values: &[i64],
    ) -> Statement {
        let list = self.scope_out(&scope_columns(scope_len));
        let values: Vec<String> = values.iter().map(i64::to_string).collect();
        Statement {
            sql: format!(
                "SELECT DISTINCT {list}v FROM ({}) b WHERE v IN ({})",
                base.sql,
                values.join(", ")
            ),
            values: base.values.clone(),
            db_backend: self.backend(),
        }
    }
}
