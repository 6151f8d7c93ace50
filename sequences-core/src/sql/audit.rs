//! The audit's statements, per backend: portable SQL over a base query
//! whose columns are the scope as text (`s0`, `s1`, ...) and the number
//! (`v`).

use sea_orm::Statement;

use super::Dialect;

/// The statements of an audit (see [`Dialect::audit`]).
#[derive(Debug, Clone)]
pub(crate) struct AuditStatements {
    /// Per scope: rows, distinct numbers, distinct numbers from `initial`,
    /// rows below `initial`, lowest and highest number, lowest from `initial`.
    pub(crate) summary: Statement,
    /// Per scope: each run of missing numbers between two present ones.
    pub(crate) gaps: Statement,
    /// Per scope: each number present more than once, and how often.
    pub(crate) duplicates: Statement,
}

impl Dialect {
    /// The three statements of an audit, over `base`: a query whose columns
    /// are the scope as text (`s0`, `s1`, ...) and the audited number as a
    /// 64-bit integer (`v`), rows with a NULL number excluded. Portable SQL
    /// (window functions: PostgreSQL, MariaDB 10.2+, MySQL 8+, SQLite 3.25+);
    /// `base` carries the bound values of the caller's filter.
    pub(crate) fn audit(
        self,
        base: &Statement,
        scope_len: usize,
        initial: i64,
        max_listed: u64,
    ) -> AuditStatements {
        let scope: Vec<String> = (0..scope_len).map(|i| format!("s{i}")).collect();
        let list = |suffix: &str| {
            scope
                .iter()
                .map(|s| format!("{s}{suffix}"))
                .collect::<String>()
        };
        let group_by = if scope.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", scope.join(", "))
        };
        let partition = if scope.is_empty() {
            String::new()
        } else {
            format!("PARTITION BY {} ", scope.join(", "))
        };
        let order_by = if scope.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", scope.join(", "))
        };
        let base_sql = &base.sql;
        let statement = |sql: String| Statement {
            sql,
            values: base.values.clone(),
            db_backend: self.backend(),
        };
        AuditStatements {
            summary: statement(format!(
                "SELECT {}COUNT(*), COUNT(DISTINCT v), \
                 COUNT(DISTINCT CASE WHEN v >= {initial} THEN v END), \
                 COUNT(CASE WHEN v < {initial} THEN 1 END), MIN(v), MAX(v), \
                 MIN(CASE WHEN v >= {initial} THEN v END) \
                 FROM ({base_sql}) b{group_by}{order_by}",
                list(", "),
            )),
            gaps: statement(format!(
                "SELECT {}prev + 1, v - 1 FROM (\
                 SELECT {}v, LAG(v) OVER ({partition}ORDER BY v) AS prev \
                 FROM (SELECT DISTINCT {}v FROM ({base_sql}) b WHERE v >= {initial}) d) w \
                 WHERE v > prev + 1 ORDER BY {}v LIMIT {max_listed}",
                list(", "),
                list(", "),
                list(", "),
                list(", "),
            )),
            duplicates: statement(format!(
                "SELECT {}v, COUNT(*) FROM ({base_sql}) b \
                 GROUP BY {}v HAVING COUNT(*) > 1 ORDER BY {}v LIMIT {max_listed}",
                list(", "),
                list(", "),
                list(", "),
            )),
        }
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
        let scope: Vec<String> = (0..scope_len).map(|i| format!("s{i}")).collect();
        let list = scope.iter().map(|s| format!("{s}, ")).collect::<String>();
        let partition = if scope.is_empty() {
            String::new()
        } else {
            format!("PARTITION BY {} ", scope.join(", "))
        };
        let group_by = if scope.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", scope.join(", "))
        };
        let (_, text) = self.audit_cast_types();
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
                "SELECT {list}COUNT(*) FROM ({windowed}) w WHERE d < prev{group_by}"
            )),
            statement(format!(
                "SELECT {list}v, CAST(d AS {text}), CAST(prev AS {text}) FROM ({windowed}) w \
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
        let scope: Vec<String> = (0..scope_len).map(|i| format!("s{i}")).collect();
        let list = scope.iter().map(|s| format!("{s}, ")).collect::<String>();
        let group_by = if scope.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", scope.join(", "))
        };
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
        let list = (0..scope_len)
            .map(|i| format!("s{i}, "))
            .collect::<String>();
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
