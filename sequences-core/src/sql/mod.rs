//! Every SQL statement of the crate, per backend, each written once: the
//! counter row (`counter`) and its chain head (`chain`), voids (`voids`),
//! the inventory (`inventory`), the clock (`clock`), the catalog
//! (`catalog`), the numberer's rows (`numberer`) and the audit's queries
//! (`audit`); on PostgreSQL, the counter row's version a transaction wrote
//! last, by TID (`hot`). The triggers' generators (`crate::triggers`) build
//! on the same pieces.
//!
//! Allocation is one statement on every backend:
//! - PostgreSQL and SQLite: `INSERT .. ON CONFLICT .. DO UPDATE .. RETURNING`;
//! - MariaDB/MySQL: `INSERT .. ON DUPLICATE KEY UPDATE` that stores the new
//!   value through `LAST_INSERT_ID(expr)`, which the server sends back in the
//!   statement's OK packet, so no second `SELECT` is needed. `LAST_INSERT_ID`
//!   returns BIGINT UNSIGNED, so its result is cast back to SIGNED before it is
//!   stored (a negative value would otherwise be out of range).
//!
//! Values are always bound parameters; the table and column names are fixed.
//! The statements that run on the caller's session (a bounded lock wait, the
//! transaction probe) are in `session.rs`.

use sea_orm::{DbBackend, DbErr};

use crate::error::database::{self as db_error, ErrorKind};

mod audit;
mod catalog;
mod chain;
mod clock;
mod counter;
mod django;
mod hot;
mod inventory;
mod numberer;
pub(crate) mod piece;
mod voids;

pub(crate) use counter::{Days, DeclaredRange, Plan, Refused, Returning, Step, refs};
pub(crate) use numberer::{NUMBERING_TABLE, numbering_mark_table};

/// The SQL dialect of one backend, chosen once from [`DbBackend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    // Chosen only with the `sqlx-mysql` feature (see `Dialect::of`).
    #[cfg_attr(not(feature = "sqlx-mysql"), allow(dead_code))]
    MySql,
    Sqlite,
}

impl Dialect {
    pub(crate) fn of(backend: DbBackend) -> Result<Self, DbErr> {
        match backend {
            DbBackend::Postgres => Ok(Self::Postgres),
            #[cfg(feature = "sqlx-mysql")]
            DbBackend::MySql => Ok(Self::MySql),
            // Its lock timeouts are told by vendor number (see `is_transient`).
            #[cfg(not(feature = "sqlx-mysql"))]
            DbBackend::MySql => Err(DbErr::BackendNotSupported {
                db: "MariaDB/MySQL",
                ctx: "sequences-core needs its `sqlx-mysql` feature for MariaDB/MySQL, to \
                      recognise lock timeouts by their error number: add \
                      `features = [\"sqlx-mysql\"]` to the sequences-core dependency",
            }),
            DbBackend::Sqlite => Ok(Self::Sqlite),
            #[allow(unreachable_patterns)]
            other => Err(DbErr::BackendNotSupported {
                db: backend_name(other),
                ctx: "sequences-core supports PostgreSQL, MariaDB/MySQL and SQLite",
            }),
        }
    }

    pub(crate) fn backend(self) -> DbBackend {
        match self {
            Self::Postgres => DbBackend::Postgres,
            Self::MySql => DbBackend::MySql,
            Self::Sqlite => DbBackend::Sqlite,
        }
    }

    /// Classifies a database error by SQLSTATE or vendor code, never by
    /// message ([`db_error::classify`]).
    pub(crate) fn classify(self, error: &DbErr) -> ErrorKind {
        db_error::classify(self.backend(), error)
    }

    /// The `CAST` target types of an audit: a signed 64-bit integer, and text.
    pub(crate) fn audit_cast_types(self) -> (&'static str, &'static str) {
        match self {
            Self::Postgres => ("BIGINT", "TEXT"),
            Self::MySql => ("SIGNED", "CHAR"),
            Self::Sqlite => ("INTEGER", "TEXT"),
        }
    }

    /// A quoted identifier.
    pub(crate) fn quote(self, name: &str) -> String {
        match self {
            Self::MySql => format!("`{}`", name.replace('`', "``")),
            Self::Postgres | Self::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// The `n`th placeholder of a custom expression (sea-query's `Expr::cust_with_exprs`).
    pub(crate) fn placeholder(self, n: usize) -> String {
        match self {
            Self::Postgres => format!("${n}"),
            Self::MySql | Self::Sqlite => "?".to_owned(),
        }
    }

    /// `expr IS NULL`, written so that no index on `expr` serves it: a
    /// statement that names its rows by key reads the key, not the
    /// column's index of NULLs, where every writer of a table numbered
    /// later inserts. Given `expr IS NULL`, MariaDB read that index alone
    /// and PostgreSQL both, in a bitmap AND (`EXPLAIN`, #34).
    pub(crate) fn is_null_by_key(self, expr: &str) -> String {
        format!("COALESCE({expr}, NULL) IS NULL")
    }

    /// `expr` as text that compares, groups and sorts byte for byte, as
    /// sequence names do: whatever the column's collation (MariaDB's
    /// default ones ignore case and trailing spaces, SQLite's NOCASE the
    /// case), `a`, `A` and `a ` stay three values. MariaDB reads the first
    /// versioned comment, MySQL 8 the second.
    pub(crate) fn exact_text(self, expr: &str) -> String {
        match self {
            Self::Postgres => format!("CAST({expr} AS TEXT) COLLATE \"C\""),
            Self::MySql => format!(
                "CAST({expr} AS CHAR CHARACTER SET utf8mb4) /*M!100000 COLLATE utf8mb4_nopad_bin */ /*!80000 COLLATE utf8mb4_0900_bin */"
            ),
            Self::Sqlite => format!("CAST({expr} AS TEXT) COLLATE BINARY"),
        }
    }
}

fn backend_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "PostgreSQL",
        DbBackend::MySql => "MySQL",
        DbBackend::Sqlite => "SQLite",
        #[allow(unreachable_patterns)]
        _ => "this backend",
    }
}
