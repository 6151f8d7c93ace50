//! What an operator asks of the sequences as a whole: which exist (and
//! their state), and who holds or waits for one right now.

use sea_orm::{
    ConnectionTrait, DbErr, SqliteTransactionMode, TransactionOptions, TransactionSession,
    TransactionTrait,
};

use crate::period::Day;
use crate::sql::Dialect;

/// One sequence, as [`list_sequences`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SequenceInfo {
    /// Its name.
    pub name: String,
    /// The last value handed out.
    pub last: i64,
    /// Closed to allocations.
    pub closed: bool,
    /// The latest day numbered in date order, if any.
    pub last_day: Option<Day>,
    /// How many of its numbers are recorded void.
    pub voided: u64,
    /// Whether it has a hash chain.
    pub chained: bool,
    /// The end of its range, as its last allocation recorded it (a declared
    /// [`Sequence::max_value`](crate::Sequence::max_value), needs
    /// `RangeMigration`).
    pub max_value: Option<i64>,
    /// Its warning threshold, recorded the same way.
    pub warn_at: Option<i64>,
}

impl SequenceInfo {
    /// `last` has reached `warn_at` or `max_value`: the range is running
    /// out (or is exhausted).
    pub fn near_end(&self) -> bool {
        [self.warn_at, self.max_value]
            .into_iter()
            .flatten()
            .any(|end| self.last >= end)
    }

    /// `last` has reached `max_value`: the next allocation is refused.
    pub fn exhausted(&self) -> bool {
        self.max_value.is_some_and(|max| self.last >= max)
    }
}

/// Every sequence whose name starts with `prefix` (all with `None`), in name
/// order, with its count of voided numbers. One query.
pub async fn list_sequences<C: ConnectionTrait>(
    db: &C,
    prefix: Option<&str>,
) -> Result<Vec<SequenceInfo>, DbErr> {
    let dialect = Dialect::of(db.get_database_backend())?;
    // Ranges are read where `RangeMigration` added their columns.
    let ranges = db
        .query_one_raw(dialect.column_type(crate::TABLE_NAME, "max_value"))
        .await?
        .is_some();
    let rows = db.query_all_raw(dialect.list(prefix, ranges)).await?;
    rows.iter()
        .map(|row| {
            let last: i64 = row.try_get_by_index(1)?;
            let (max_value, warn_at) = if ranges {
                (
                    row.try_get_by_index::<Option<i64>>(6)?,
                    row.try_get_by_index::<Option<i64>>(7)?,
                )
            } else {
                (None, None)
            };
            Ok(SequenceInfo {
                max_value,
                warn_at,
                name: row.try_get_by_index(0)?,
                last,
                closed: row.try_get_by_index(2)?,
                last_day: row
                    .try_get_by_index::<Option<i32>>(3)?
                    .map(Day::from_number),
                voided: row.try_get_by_index::<i64>(4)? as u64,
                chained: row.try_get_by_index::<Option<String>>(5)?.is_some(),
            })
        })
        .collect()
}

/// A session holding or waiting for a sequence's row.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LockHolder {
    /// The sequence (`None` on SQLite, where the whole database is locked).
    pub sequence: Option<String>,
    /// The server's session id (PostgreSQL backend pid, MariaDB connection
    /// id); `None` on SQLite, which does not say.
    pub session: Option<i64>,
    /// Holding the lock, or waiting for it.
    pub holding: bool,
    /// Holding: how long its transaction has run; waiting: how long it has
    /// waited. Milliseconds.
    pub for_ms: f64,
    /// What the server says the session is doing (PostgreSQL's state and
    /// application name, MariaDB's transaction state), when it says.
    pub detail: Option<String>,
    /// The server cannot tell that this session holds the sequence's row,
    /// only that its open transaction holds row locks (MariaDB/MySQL list
    /// an uncontended row lock nowhere): a possible holder.
    pub inferred: bool,
}

/// Who holds or waits for the row of sequence `name` (every sequence with
/// `None`) right now: the answer to "why is numbering slow".
///
/// - PostgreSQL: the transaction that last locked the row (its `xmax`) and
///   its session in `pg_locks` and `pg_stat_activity`, and every session
///   it blocks (`pg_blocking_pids`).
/// - MariaDB/MySQL: InnoDB's lock waits (`INNODB_LOCK_WAITS`, `INNODB_LOCKS`,
///   `INNODB_TRX`): a holder shows once someone waits for it. A transaction
///   that holds row locks while nobody waits is listed too, as
///   [`inferred`](LockHolder::inferred): InnoDB does not say in which table
///   (its rows locked and modified are in `detail`). InnoDB refreshes these
///   views only when they were last read over 100 ms ago.
/// - SQLite: whether a writer holds the database (probed by `BEGIN
///   IMMEDIATE`, which fails at once with a busy timeout of zero; with a
///   longer one it waits for the writer to finish).
pub async fn lock_holders<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    name: Option<&str>,
) -> Result<Vec<LockHolder>, DbErr> {
    let dialect = Dialect::of(db.get_database_backend())?;
    if let Some(statement) = dialect.holders(name) {
        let rows = db.query_all_raw(statement).await?;
        let mut holders = rows
            .iter()
            .map(|row| {
                Ok(LockHolder {
                    sequence: row.try_get_by_index::<Option<String>>(0)?.map(unquote),
                    session: row.try_get_by_index(1)?,
                    holding: row.try_get_by_index::<i64>(2)? != 0,
                    for_ms: row.try_get_by_index::<Option<f64>>(3)?.unwrap_or(0.0),
                    detail: row.try_get_by_index(4)?,
                    inferred: false,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        if let Some(name) = name {
            holders.retain(|h| h.sequence.as_deref() == Some(name));
        }
        holders.dedup();
        if let Some(statement) = dialect.lock_owners() {
            for row in db.query_all_raw(statement).await? {
                let session: i64 = row.try_get_by_index(0)?;
                if holders.iter().any(|h| h.session == Some(session)) {
                    continue;
                }
                let (locked, modified): (i64, i64) =
                    (row.try_get_by_index(2)?, row.try_get_by_index(3)?);
                holders.push(LockHolder {
                    sequence: None,
                    session: Some(session),
                    holding: true,
                    for_ms: row.try_get_by_index::<Option<f64>>(1)?.unwrap_or(0.0),
                    detail: Some(format!(
                        "holds {locked} row lock(s), {modified} row(s) modified, in a table \
                         the server does not name: possibly the sequence"
                    )),
                    inferred: true,
                });
            }
        }
        return Ok(holders);
    }
    // SQLite: one writer for the whole database.
    let probe = db
        .begin_with_options(TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        })
        .await;
    match probe {
        Ok(txn) => {
            txn.rollback().await?;
            Ok(Vec::new())
        }
        Err(error) if crate::is_retryable(&error) => Ok(vec![LockHolder {
            sequence: None,
            session: None,
            holding: true,
            for_ms: 0.0,
            detail: Some("a connection holds the database's write lock".to_owned()),
            inferred: false,
        }]),
        Err(error) => Err(error),
    }
}

/// InnoDB prints a text key as `'invoice-7'`.
fn unquote(text: String) -> String {
    match text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        Some(inner) => inner.replace("\\'", "'"),
        None => text,
    }
}
