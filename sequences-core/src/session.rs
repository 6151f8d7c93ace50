//! Statements that run on the caller's session rather than build one: a
//! bounded lock wait set and restored around the work, and the probe that
//! asks a connection whether it is inside a transaction.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::error::database::{database_error, sqlite_code, sqlstate};
use crate::sql::Dialect;

impl Dialect {
    /// Sets the wait for a row (SQLite: database) lock to `timeout` for the
    /// next statements, and returns the statement that restores it.
    pub(crate) async fn set_lock_timeout<C: ConnectionTrait>(
        self,
        db: &C,
        timeout: Duration,
    ) -> Result<Statement, DbErr> {
        let millis = timeout.as_millis().min(i32::MAX as u128) as i64;
        match self {
            Self::Postgres => {
                // The old value and the new setting in one round trip; session
                // level, so that it also works in autocommit (a transaction
                // that aborts undoes it).
                let row = db
                    .query_one_raw(Statement::from_sql_and_values(
                        self.backend(),
                        "SELECT current_setting('lock_timeout'), set_config('lock_timeout', $1, false)",
                        [format!("{millis}ms").into()],
                    ))
                    .await?
                    .ok_or_else(|| DbErr::Custom("set_config returned no row".into()))?;
                let old: String = row.try_get_by_index(0)?;
                Ok(Statement::from_sql_and_values(
                    self.backend(),
                    "SELECT set_config('lock_timeout', $1, false)",
                    [old.into()],
                ))
            }
            Self::MySql => {
                let seconds = (millis as u64).div_ceil(1000);
                db.execute_raw(Statement::from_sql_and_values(
                    self.backend(),
                    "SET @sequences_lock_wait = @@SESSION.innodb_lock_wait_timeout, SESSION innodb_lock_wait_timeout = ?",
                    [seconds.into()],
                ))
                .await?;
                Ok(Statement::from_string(
                    self.backend(),
                    "SET SESSION innodb_lock_wait_timeout = @sequences_lock_wait",
                ))
            }
            Self::Sqlite => {
                let row = db
                    .query_one_raw(Statement::from_string(
                        self.backend(),
                        "PRAGMA busy_timeout",
                    ))
                    .await?
                    .ok_or_else(|| DbErr::Custom("PRAGMA busy_timeout returned no row".into()))?;
                let old: i64 = row.try_get_by_index(0)?;
                // PRAGMA takes no parameters; both values are integers.
                db.execute_unprepared(&format!("PRAGMA busy_timeout = {millis}"))
                    .await?;
                Ok(Statement::from_string(
                    self.backend(),
                    format!("PRAGMA busy_timeout = {old}"),
                ))
            }
        }
    }

    /// Asks the server whether `db` is inside a transaction (see
    /// [`in_transaction`](crate::in_transaction) for why each statement tells).
    pub(crate) async fn probe_transaction<C: ConnectionTrait>(self, db: &C) -> Result<bool, DbErr> {
        let sql = match self {
            // One simple query: outside a transaction block SAVEPOINT fails with
            // 25P01 and leaves nothing behind; inside, it is released at once.
            Self::Postgres => {
                return match db
                    .execute_unprepared(
                        "SAVEPOINT sequences_probe; RELEASE SAVEPOINT sequences_probe",
                    )
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(error) if sqlstate(&error).as_deref() == Some("25P01") => Ok(false),
                    Err(error) => Err(error),
                };
            }
            Self::MySql => "SELECT @@in_transaction <> 0",
            Self::Sqlite => {
                return match db.execute_unprepared("BEGIN; ROLLBACK").await {
                    Ok(_) => Ok(false),
                    // SQLITE_ERROR "cannot start a transaction within a transaction".
                    Err(error) if database_error(&error).and_then(sqlite_code) == Some(1) => {
                        Ok(true)
                    }
                    Err(error) => Err(error),
                };
            }
        };
        let row = db
            .query_one_raw(Statement::from_string(self.backend(), sql))
            .await?
            .ok_or_else(|| DbErr::Custom(format!("`{sql}` returned no row")))?;
        row.try_get_by_index::<bool>(0)
    }
}

/// A read-only transaction that sees the database as of one moment
/// (REPEATABLE READ on PostgreSQL and MariaDB, a read transaction on
/// SQLite), or a savepoint of the caller's transaction, which sees what the
/// caller's isolation level lets it see.
pub(crate) async fn snapshot<D>(db: &D) -> Result<D::Transaction, sea_orm::DbErr>
where
    D: sea_orm::ConnectionTrait + sea_orm::TransactionTrait,
{
    if crate::in_transaction(db).await? {
        return db.begin().await;
    }
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => db.begin().await,
        _ => {
            db.begin_with_config(
                Some(sea_orm::IsolationLevel::RepeatableRead),
                Some(sea_orm::AccessMode::ReadOnly),
            )
            .await
        }
    }
}
