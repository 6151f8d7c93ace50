//! A write in a transaction of its own, whose waits for another transaction
//! holding the sequence end after `--lock-timeout`: the command calls the
//! library on it directly, so it keeps the library's typed refusals.

use std::future::Future;
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use sequences_core::{LockHolder, SequenceError, lock_holders};

use crate::error::{CliError, Kind};
use crate::output::holder_phrase;

/// An open transaction with the session's lock wait bounded.
pub struct Write<'a> {
    db: &'a DatabaseConnection,
    txn: DatabaseTransaction,
    /// The wait the database applies (MariaDB's is in whole seconds).
    wait: Duration,
    /// The statement that restores MariaDB's session setting.
    restore: Option<&'static str>,
}

impl<'a> Write<'a> {
    /// Begins the transaction and bounds its lock waits to `timeout`:
    /// - PostgreSQL: `lock_timeout`, set local to the transaction;
    /// - MariaDB/MySQL: the session's `innodb_lock_wait_timeout` (whole seconds,
    ///   at least one), restored before the transaction ends;
    /// - SQLite: `BEGIN IMMEDIATE` takes the database's write lock at once,
    ///   waiting for another writer up to the connection's busy timeout
    ///   (set to `timeout` by [`connect`](crate::database::connect)).
    pub async fn begin(
        db: &'a DatabaseConnection,
        name: &str,
        timeout: Duration,
    ) -> Result<Self, CliError> {
        let backend = db.get_database_backend();
        let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as u64;
        let txn = match backend {
            DbBackend::Sqlite => db
                .begin_with_options(TransactionOptions {
                    isolation_level: None,
                    access_mode: None,
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                })
                .await
                .map_err(|error| {
                    if sequences_core::is_retryable(&error) {
                        held(backend, name, timeout, &[])
                    } else {
                        CliError::database(&error)
                    }
                })?,
            _ => db.begin().await.map_err(|e| CliError::database(&e))?,
        };
        let (wait, restore) = match backend {
            DbBackend::Postgres => {
                // `SET LOCAL`, with the value bound: the transaction's end undoes it.
                txn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT set_config('lock_timeout', $1, true)",
                    [format!("{millis}ms").into()],
                ))
                .await
                .map_err(|e| CliError::database(&e))?;
                (timeout, None)
            }
            DbBackend::MySql => {
                let seconds = millis.div_ceil(1000).max(1);
                txn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    "SET @sequences_cli_lock_wait = @@SESSION.innodb_lock_wait_timeout, \
                     SESSION innodb_lock_wait_timeout = ?",
                    [seconds.into()],
                ))
                .await
                .map_err(|e| CliError::database(&e))?;
                (
                    Duration::from_secs(seconds),
                    Some("SET SESSION innodb_lock_wait_timeout = @sequences_cli_lock_wait"),
                )
            }
            _ => (timeout, None),
        };
        Ok(Self {
            db,
            txn,
            wait,
            restore,
        })
    }

    /// The transaction, for the library's calls.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Runs one of the library's operations on sequence `name` in the
    /// transaction: its refusals become the command's errors.
    pub async fn run<T>(
        &self,
        name: &str,
        operation: impl Future<Output = Result<T, SequenceError>>,
    ) -> Result<T, CliError> {
        self.attempt(name, operation).await?.map_err(CliError::from)
    }

    /// [`run`](Self::run), the library's refusals kept typed; only a lock
    /// timeout is an error here. If the operation waits for longer than half
    /// the timeout, looks (on the pool's other connection) at who holds the
    /// sequence, while the database can still tell (InnoDB lists a holder
    /// only while someone waits): the lock timeout then names it.
    pub async fn attempt<T>(
        &self,
        name: &str,
        operation: impl Future<Output = Result<T, SequenceError>>,
    ) -> Result<Result<T, SequenceError>, CliError> {
        let look = async {
            tokio::time::sleep(self.wait / 2).await;
            self.holders(name).await
        };
        tokio::pin!(operation, look);
        let mut seen: Option<Vec<LockHolder>> = None;
        let result = loop {
            tokio::select! {
                result = &mut operation => break result,
                holders = &mut look, if seen.is_none() => seen = Some(holders),
            }
        };
        match result {
            Err(SequenceError::LockNotAvailable { name, .. }) => {
                let holders = match seen {
                    Some(holders) if !holders.is_empty() => holders,
                    _ => self.holders(&name).await,
                };
                let backend = self.db.get_database_backend();
                Err(held(backend, &name, self.wait, &holders))
            }
            other => Ok(other),
        }
    }

    /// Who holds sequence `name`, as far as the database tells (never on
    /// SQLite, whose probe would wait for the writer).
    async fn holders(&self, name: &str) -> Vec<LockHolder> {
        if self.db.get_database_backend() == DbBackend::Sqlite {
            return Vec::new();
        }
        let holders = lock_holders(self.db, Some(name)).await.unwrap_or_default();
        holders.into_iter().filter(|h| h.holding).collect()
    }

    /// Restores the session and commits.
    pub async fn commit(self) -> Result<(), CliError> {
        if let Some(restore) = self.restore {
            self.txn
                .execute_unprepared(restore)
                .await
                .map_err(|e| CliError::database(&e))?;
        }
        self.txn.commit().await.map_err(|e| CliError::database(&e))
    }

    /// Restores the session and rolls back; `error` is what the caller reports.
    pub async fn abandon(self, error: CliError) -> CliError {
        if let Some(restore) = self.restore {
            // A failed statement leaves MariaDB's transaction usable.
            let _ = self.txn.execute_unprepared(restore).await;
        }
        let _ = self.txn.rollback().await;
        error
    }
}

/// Runs `work` on a bounded write for sequence `name` and commits it, or
/// rolls it back if `work` fails.
pub async fn write<T>(
    db: &DatabaseConnection,
    name: &str,
    timeout: Duration,
    work: impl AsyncFnOnce(&Write<'_>) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let write = Write::begin(db, name, timeout).await?;
    match work(&write).await {
        Ok(value) => {
            write.commit().await?;
            Ok(value)
        }
        Err(error) => Err(write.abandon(error).await),
    }
}

/// The lock timeout's error: who held the sequence, when the database said.
fn held(backend: DbBackend, name: &str, wait: Duration, holders: &[LockHolder]) -> CliError {
    let who = match (backend, holders) {
        (DbBackend::Sqlite, _) => {
            "another writer (SQLite locks the whole database for a write)".to_owned()
        }
        (_, []) => "another transaction (the database did not say which)".to_owned(),
        (_, holders) => format!(
            "another transaction: {}",
            holders
                .iter()
                .map(holder_phrase)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    CliError::new(
        Kind::LockTimeout,
        format!(
            "sequence {name:?} is held by {who}; gave up after {}, nothing changed: retry once \
             it commits or rolls back, or pass a longer --lock-timeout",
            human(wait)
        ),
    )
}

/// `500ms`, `5s`.
fn human(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}
