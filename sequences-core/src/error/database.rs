//! What a database error means, told by its SQLSTATE, SQLite result code
//! or MySQL vendor number, never by its message (as sqlx keeps each
//! driver's `error.rs`).

use sea_orm::sqlx::error::DatabaseError;
use sea_orm::{DbBackend, DbErr};

/// What a database error means for a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    LockNotAvailable,
    Overflow,
    /// A column or table the statement names is missing: a migration is not applied.
    SchemaOutdated,
    Other,
}

/// Classifies a database error of `backend` by SQLSTATE or vendor code,
/// never by message.
pub(crate) fn classify(backend: DbBackend, error: &DbErr) -> ErrorKind {
    let Some(db) = database_error(error) else {
        return ErrorKind::Other;
    };
    {
        match backend {
            DbBackend::Postgres => match db.code().as_deref() {
                Some("55P03") => ErrorKind::LockNotAvailable,
                Some("22003") => ErrorKind::Overflow,
                // undefined_column, undefined_table.
                Some("42703" | "42P01") => ErrorKind::SchemaOutdated,
                _ => ErrorKind::Other,
            },
            DbBackend::MySql => match mysql_number(db) {
                // 1205: lock wait timeout (MariaDB's NOWAIT too); 3572: MySQL's NOWAIT.
                Some(1205 | 3572) => ErrorKind::LockNotAvailable,
                // 1690: BIGINT value is out of range.
                Some(1690) => ErrorKind::Overflow,
                // Unknown column, unknown table.
                Some(1054 | 1146) => ErrorKind::SchemaOutdated,
                _ => ErrorKind::Other,
            },
            // 5 SQLITE_BUSY, 6 SQLITE_LOCKED; 1 SQLITE_ERROR, which for the
            // crate's own fixed statements means "no such column/table".
            DbBackend::Sqlite => match sqlite_code(db) {
                Some(5 | 6) => ErrorKind::LockNotAvailable,
                Some(1) => ErrorKind::SchemaOutdated,
                _ => ErrorKind::Other,
            },
            #[allow(unreachable_patterns)]
            _ => ErrorKind::Other,
        }
    }
}

/// Whether a retry of the whole transaction can cure `error`, told by its
/// SQLSTATE, SQLite result code or MySQL vendor number, never by its message.
///
/// `DatabaseError::code()` tells the backends apart without their driver
/// types: a SQLSTATE has exactly five characters, a SQLite (extended) result
/// code is a decimal number of at most four digits. MySQL reports lock wait
/// timeouts under the generic SQLSTATE `HY000`, so those need the vendor
/// number, hence the `sqlx-mysql` feature (which [`Dialect::of`] demands
/// before any MySQL work).
pub(crate) fn is_transient(error: &DbErr) -> bool {
    let Some(db) = database_error(error) else {
        return false;
    };
    if let Some(number) = mysql_number(db) {
        // ER_LOCK_DEADLOCK (also Galera's certification failure and brute-force
        // abort), ER_LOCK_WAIT_TIMEOUT (also MariaDB's NOWAIT), ER_LOCK_NOWAIT
        // (MySQL), ER_CHECKREAD (MariaDB snapshot isolation), and Galera's
        // ER_UNKNOWN_COM_ERROR "WSREP has not yet prepared node for application
        // use" (a node rejoining or out of quorum: nothing was done).
        return matches!(number, 1213 | 1205 | 3572 | 1020 | 1047);
    }
    if let Some(code) = sqlite_code(db) {
        // SQLITE_BUSY and SQLITE_LOCKED, whatever their extended code.
        return matches!(code, 5 | 6);
    }
    // serialization_failure (MySQL's deadlock too), deadlock_detected, lock_not_available.
    matches!(db.code().as_deref(), Some("40001" | "40P01" | "55P03"))
}

/// The message of a refusal raised by the crate's own triggers (see
/// `error::wire`), told by its SQLSTATE or vendor number first: on
/// PostgreSQL SQLSTATE `SQ001`, on MariaDB/MySQL a `SIGNAL` (1644, SQLSTATE
/// `45000`), on SQLite a `RAISE` (a constraint error) or the JSON path error
/// its triggers raise with the row's values, unquoted. The message starts
/// with `sequences:`; any other error (one that merely echoes such a text,
/// as a failed cast does) is `None`.
pub(crate) fn trigger_message(error: &DbErr) -> Option<String> {
    let db = database_error(error)?;
    let message = db.message();
    let text = if let Some(number) = mysql_number(db) {
        (number == 1644).then(|| message.to_owned())?
    } else if let Some(code) = sqlite_code(db) {
        match code {
            // SQLITE_CONSTRAINT: RAISE(ABORT, '<literal>').
            19 => message.to_owned(),
            // SQLITE_ERROR: json_extract's path error, the path quoted as
            // SQL quotes it (`%Q`: a quote doubled).
            1 => ["bad JSON path: '", "JSON path error near '"]
                .iter()
                .find_map(|prefix| message.strip_prefix(prefix))?
                .strip_suffix('\'')?
                .replace("''", "'"),
            _ => return None,
        }
    } else {
        (db.code().as_deref() == Some(super::wire::PG_SQLSTATE)).then(|| message.to_owned())?
    };
    text.starts_with("sequences:").then_some(text)
}

/// SQLite's primary result code (the low byte of the extended code), if the
/// error is SQLite's: its code is a number of at most four digits, where a
/// SQLSTATE has five characters.
pub(crate) fn sqlite_code(db: &dyn DatabaseError) -> Option<i32> {
    let code = db.code()?;
    if code.len() > 4 {
        return None;
    }
    code.parse::<i32>().ok().map(|c| c & 0xff)
}

/// MySQL's vendor error number, if the error is MySQL's.
#[cfg(feature = "sqlx-mysql")]
fn mysql_number(db: &dyn DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

/// Without `sqlx-mysql` no MySQL work starts ([`Dialect::of`] refuses it).
#[cfg(not(feature = "sqlx-mysql"))]
fn mysql_number(_: &dyn DatabaseError) -> Option<u16> {
    None
}

/// How traces name a database error: MySQL's error number, or the SQLSTATE
/// (SQLite: the extended result code).
pub(crate) fn error_code(error: &DbErr) -> Option<String> {
    let db = database_error(error)?;
    match mysql_number(db) {
        Some(number) => Some(number.to_string()),
        None => db.code().map(|code| code.into_owned()),
    }
}

/// The SQLSTATE (or SQLite result code) of a database error.
pub(crate) fn sqlstate(error: &DbErr) -> Option<String> {
    database_error(error)?.code().map(|code| code.into_owned())
}

/// The driver's database error inside a `DbErr`, if the server raised one.
pub(crate) fn database_error(error: &DbErr) -> Option<&(dyn DatabaseError + 'static)> {
    use sea_orm::RuntimeErr;
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sea_orm::sqlx::Error::Database(db) => Some(db.as_ref()),
                _ => None,
            }
        }
        _ => None,
    }
}
