//! SQL expressions shared by the three backends' triggers: a column's text,
//! the sequence name, the period's suffix and the formatted reference, each
//! written once over a few per-backend primitives (quoting, concatenation,
//! casts), so the database prints exactly what the library prints.

use crate::sql::Dialect;

use super::{DateKind, DayPlan, FieldPlan, TextKind};
use sequences_template::rules::FormatPiece as FmtPiece;

/// The expressions of one trigger, over the row variable `row` (`NEW`,
/// `OLD`, or a PL/pgSQL record).
pub(super) struct Expr<'a> {
    pub(super) d: Dialect,
    pub(super) row: &'a str,
}

/// A quoted identifier.
pub(super) fn ident(d: Dialect, name: &str) -> String {
    match d {
        Dialect::MySql => format!("`{}`", name.replace('`', "``")),
        Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// A string literal. MariaDB/MySQL read backslashes as escapes unless
/// `NO_BACKSLASH_ESCAPES`: text holding one is written in hex, read the same
/// under every `sql_mode`.
pub(super) fn lit(d: Dialect, text: &str) -> String {
    if d == Dialect::MySql && text.contains('\\') {
        let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
        return format!("CONVERT(X'{hex}' USING utf8mb4)");
    }
    format!("'{}'", text.replace('\'', "''"))
}

/// `a || b || ...` (`CONCAT(a, b, ...)` on MariaDB/MySQL, where `||` is OR).
pub(super) fn concat(d: Dialect, parts: &[String]) -> String {
    match (d, parts) {
        (_, []) => lit(d, ""),
        (_, [one]) => one.clone(),
        (Dialect::MySql, parts) => format!("CONCAT({})", parts.join(", ")),
        (_, parts) => format!("({})", parts.join(" || ")),
    }
}

/// An integer expression as text.
pub(super) fn int_text(d: Dialect, e: &str) -> String {
    match d {
        Dialect::MySql => format!("CAST({e} AS CHAR)"),
        Dialect::Postgres | Dialect::Sqlite => format!("CAST({e} AS TEXT)"),
    }
}

/// The length of a text in characters.
pub(super) fn length(d: Dialect, e: &str) -> String {
    match d {
        Dialect::MySql => format!("CHAR_LENGTH({e})"),
        Dialect::Postgres => format!("char_length({e})"),
        Dialect::Sqlite => format!("length({e})"),
    }
}

/// An integer printed as Rust's `{:0width$}` prints it: zero-padded to
/// `width` characters, the sign included, never cut.
pub(super) fn padded(d: Dialect, e: &str, width: usize) -> String {
    if width <= 1 {
        return int_text(d, e);
    }
    let pad = |text: String, width: usize| {
        if width == 0 {
            return text;
        }
        let zeros = lit(d, &"0".repeat(width));
        let right = match d {
            Dialect::Sqlite => format!("substr({}, -{width})", concat(d, &[zeros, text.clone()])),
            _ => format!("RIGHT({}, {width})", concat(d, &[zeros, text.clone()])),
        };
        format!(
            "CASE WHEN {} >= {width} THEN {text} ELSE {right} END",
            length(d, &text)
        )
    };
    format!(
        "CASE WHEN {e} < 0 THEN {} ELSE {} END",
        concat(
            d,
            &[lit(d, "-"), pad(int_text(d, &format!("-({e})")), width - 1)]
        ),
        pad(int_text(d, e), width)
    )
}

/// A day's year, month and day of month, as integers.
pub(super) fn day_parts(d: Dialect, day: &str) -> [String; 3] {
    match d {
        Dialect::Postgres => ["YEAR", "MONTH", "DAY"]
            .map(|part| format!("CAST(EXTRACT({part} FROM {day}) AS INTEGER)")),
        Dialect::MySql => ["YEAR", "MONTH", "DAYOFMONTH"].map(|f| format!("{f}({day})")),
        Dialect::Sqlite => {
            ["%Y", "%m", "%d"].map(|part| format!("CAST(strftime('{part}', {day}) AS INTEGER)"))
        }
    }
}

/// A day as the `YYYYMMDD` number the counter's `last_day` holds.
pub(super) fn day_number(d: Dialect, day: &str) -> String {
    let [y, m, dd] = day_parts(d, day);
    format!("({y} * 10000 + {m} * 100 + {dd})")
}

impl Expr<'_> {
    /// A column of the row.
    pub(super) fn col(&self, name: &str) -> String {
        format!("{}.{}", self.row, ident(self.d, name))
    }

    /// The text a placeholder prints for a column, as the library prints the
    /// SeaORM value (`column_value::text`).
    pub(super) fn text(&self, name: &str, kind: TextKind) -> String {
        let col = self.col(name);
        match (kind, self.d) {
            (TextKind::Integer, d) => int_text(d, &col),
            (TextKind::Text, Dialect::Postgres) => format!("CAST({col} AS TEXT)"),
            (TextKind::Text, _) => col,
            (TextKind::Bool, _) => format!("CASE WHEN {col} THEN 'true' ELSE 'false' END"),
            (TextKind::Date, Dialect::Postgres) => format!("to_char({col}, 'YYYY-MM-DD')"),
            (TextKind::Date, Dialect::MySql) => format!("DATE_FORMAT({col}, '%Y-%m-%d')"),
            (TextKind::Date, Dialect::Sqlite) => format!("date({col})"),
        }
    }

    /// The sequence name before its period: the template with each
    /// placeholder's text escaped as `Template::fill_name` escapes it.
    pub(super) fn base_name(&self, field: &FieldPlan) -> String {
        let escaped = field.name.escaped_chars();
        let parts: Vec<String> = field
            .name
            .pieces
            .iter()
            .map(|piece| match piece {
                sequences_template::Piece::Text(text) => lit(self.d, text),
                sequences_template::Piece::Placeholder { name, .. } => {
                    let (column, kind) = field.placeholder(name);
                    let mut text = self.text(column, kind);
                    // `%` first: the others' escapes write a `%` of their own.
                    for c in &escaped {
                        let mut bytes = [0; 4];
                        let code: String = c
                            .encode_utf8(&mut bytes)
                            .bytes()
                            .map(|b| format!("%{b:02X}"))
                            .collect();
                        text = format!(
                            "REPLACE({text}, {}, {})",
                            lit(self.d, &c.to_string()),
                            lit(self.d, &code)
                        );
                    }
                    text
                }
            })
            .collect();
        concat(self.d, &parts)
    }

    /// The day of the row, as a SQL date (text `YYYY-MM-DD` on SQLite).
    pub(super) fn day(&self, field: &FieldPlan) -> Option<String> {
        let zone = field.zone.as_deref();
        let d = self.d;
        Some(match field.day.as_ref()? {
            DayPlan::Column { name, kind } => {
                let col = self.col(name);
                match (d, kind, zone) {
                    (_, DateKind::Date, _) if d != Dialect::Sqlite => col,
                    (Dialect::Sqlite, DateKind::Date | DateKind::Naive, _) => {
                        format!("date({col})")
                    }
                    // The day in the value's own offset, as stored (RFC 3339).
                    (Dialect::Sqlite, DateKind::Instant, _) => {
                        format!("date(substr({col}, 1, 10))")
                    }
                    (Dialect::Postgres, DateKind::Naive, _) => format!("CAST({col} AS DATE)"),
                    (Dialect::Postgres, DateKind::Instant, zone) => format!(
                        "CAST(({col} AT TIME ZONE {}) AS DATE)",
                        lit(d, zone.unwrap_or("UTC"))
                    ),
                    (Dialect::MySql, DateKind::Naive, _) => format!("DATE({col})"),
                    // A TIMESTAMP reads in the session's zone: back to UTC (or the zone).
                    (Dialect::MySql, DateKind::Instant, zone) => format!(
                        "DATE(CONVERT_TZ({col}, @@session.time_zone, {}))",
                        lit(d, zone.unwrap_or("+00:00"))
                    ),
                    (_, DateKind::Date, _) => unreachable!("matched above"),
                }
            }
            // What `fill::database_day` asks, in the statement itself.
            DayPlan::Database => match (d, zone) {
                (Dialect::Postgres, None) => "CURRENT_DATE".to_owned(),
                (Dialect::Postgres, Some(zone)) => {
                    format!(
                        "CAST((CURRENT_TIMESTAMP AT TIME ZONE {}) AS DATE)",
                        lit(d, zone)
                    )
                }
                (Dialect::MySql, None) => "UTC_DATE()".to_owned(),
                (Dialect::MySql, Some(zone)) => format!(
                    "DATE(CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', {}))",
                    lit(d, zone)
                ),
                (Dialect::Sqlite, _) => "date('now')".to_owned(),
            },
        })
    }

    /// What follows the base name: `@2026`, `@2026-03`, `@2026-03-15`,
    /// `@FY2025` (`Period::sequence_name`).
    pub(super) fn period_suffix(&self, field: &FieldPlan, day: &str) -> Option<String> {
        use crate::Period;
        let d = self.d;
        let [y, m, dd] = day_parts(d, day);
        let parts = match field.period? {
            Period::Year => vec![lit(d, "@"), padded(d, &y, 4)],
            Period::Month => vec![lit(d, "@"), padded(d, &y, 4), lit(d, "-"), padded(d, &m, 2)],
            Period::Day => vec![
                lit(d, "@"),
                padded(d, &y, 4),
                lit(d, "-"),
                padded(d, &m, 2),
                lit(d, "-"),
                padded(d, &dd, 2),
            ],
            Period::FiscalYear { .. } => {
                vec![lit(d, "@FY"), padded(d, &self.fiscal_start(field, day), 4)]
            }
        };
        Some(concat(d, &parts))
    }

    /// The calendar year the fiscal year of `day` starts in.
    fn fiscal_start(&self, field: &FieldPlan, day: &str) -> String {
        let [y, m, _] = day_parts(self.d, day);
        match field.fiscal_start_month() {
            1 => y,
            start => format!("(CASE WHEN {m} >= {start} THEN {y} ELSE {y} - 1 END)"),
        }
    }

    /// The full sequence name.
    pub(super) fn name(&self, field: &FieldPlan, day: Option<&str>) -> String {
        let base = self.base_name(field);
        match day.and_then(|day| self.period_suffix(field, day)) {
            Some(suffix) => concat(self.d, &[base, suffix]),
            None => base,
        }
    }

    /// The value the numbered column receives: `value` itself, or the
    /// reference the format prints (`reference::Pattern::render`).
    pub(super) fn number(&self, field: &FieldPlan, value: &str, day: Option<&str>) -> String {
        let Some(format) = &field.format else {
            return value.to_owned();
        };
        let d = self.d;
        let parts = day.map(|day| day_parts(d, day));
        let part = |i: usize| parts.as_ref().map(|p| p[i].clone()).unwrap_or_default();
        let fiscal = || {
            day.map(|day| self.fiscal_start(field, day))
                .unwrap_or_default()
        };
        let start_month = field.fiscal_start_month();
        let pieces: Vec<String> = format
            .iter()
            .map(|piece| match piece {
                FmtPiece::Text(text) => lit(d, text),
                FmtPiece::Value(width) => padded(d, value, *width),
                FmtPiece::Year => padded(d, &part(0), 4),
                FmtPiece::Month => padded(d, &part(1), 2),
                FmtPiece::Day => padded(d, &part(2), 2),
                FmtPiece::Yy => padded(d, &format!("({} % 100)", part(0)), 2),
                FmtPiece::FyStart => padded(d, &fiscal(), 4),
                FmtPiece::FyEnd => padded(
                    d,
                    &format!("({} + {})", fiscal(), i32::from(start_month != 1)),
                    4,
                ),
                FmtPiece::Fy if start_month == 1 => padded(d, &fiscal(), 4),
                FmtPiece::Fy => concat(
                    d,
                    &[
                        padded(d, &fiscal(), 4),
                        lit(d, "-"),
                        padded(d, &format!("((({} + 1) % 100 + 100) % 100)", fiscal()), 2),
                    ],
                ),
                FmtPiece::Field(name) => {
                    let (column, kind) = field.format_field(name);
                    self.text(column, kind)
                }
            })
            .collect();
        concat(d, &pieces)
    }
}

/// The length of a text in bytes (its UTF-8 encoding).
fn octet_length(d: Dialect, e: &str) -> String {
    match d {
        Dialect::MySql => format!("LENGTH({e})"),
        Dialect::Postgres | Dialect::Sqlite => format!("octet_length({e})"),
    }
}

/// One item of the chain's canonical encoding: `<byte length>:<bytes>;`.
fn item(d: Dialect, e: &str) -> String {
    concat(
        d,
        &[
            int_text(d, &octet_length(d, e)),
            lit(d, ":"),
            e.to_owned(),
            lit(d, ";"),
        ],
    )
}

impl Expr<'_> {
    /// The row's frozen columns (`FieldPlan::frozen_columns`: the number,
    /// what its sequence and reference were computed from, the chain) as
    /// one text, byte for byte and NULL-safe: two rows give the same text
    /// exactly when those columns hold the same values. Compared before
    /// and after the row is written, it tells that a trigger of the
    /// application changed the row after ours numbered it.
    pub(super) fn frozen_text(&self, field: &FieldPlan) -> String {
        let d = self.d;
        let items: Vec<String> = field
            .frozen_columns()
            .into_iter()
            .map(|column| {
                let col = self.col(column);
                format!(
                    "CASE WHEN {col} IS NULL THEN {} ELSE {} END",
                    lit(d, "n;"),
                    item(d, &int_text(d, &col))
                )
            })
            .collect();
        concat(d, &items)
    }

    /// The keyless link hash of `crate::chain::link_hash`: lowercase hex
    /// SHA-256 over the canonical encoding (version 1), from `previous`, the
    /// sequence `name` and the number `value`, and the covered columns.
    pub(super) fn link_hash(
        &self,
        chain: &super::ChainPlan,
        previous: &str,
        name: &str,
        value: &str,
    ) -> String {
        let d = self.d;
        let mut items = vec![
            item(d, &lit(d, "sequences-chain-v1")),
            item(d, previous),
            item(d, name),
            item(d, &int_text(d, value)),
        ];
        for (column, kind) in &chain.covers {
            items.push(item(d, &lit(d, column)));
            items.push(format!(
                "CASE WHEN {} IS NULL THEN {} ELSE {} END",
                self.col(column),
                item(d, &lit(d, "n")),
                item(d, &concat(d, &[lit(d, "v"), self.text(column, *kind)]))
            ));
        }
        let encoded = concat(d, &items);
        match d {
            Dialect::Postgres => format!("encode(sha256(convert_to({encoded}, 'UTF8')), 'hex')"),
            Dialect::MySql => format!("SHA2({encoded}, 256)"),
            Dialect::Sqlite => unreachable!("SQLite has no SHA-256: refused before"),
        }
    }
}
