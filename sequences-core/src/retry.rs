//! Running a unit of work in a transaction that is retried when the
//! database aborts it for a transient reason (serialization failure,
//! deadlock, lock timeout, SQLite busy).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use sea_orm::{
    ConnectionTrait, DbErr, IsolationLevel, SqliteTransactionMode, TransactionOptions,
    TransactionSession, TransactionTrait,
};

use crate::deferred;
use crate::error::SequenceError;
use crate::error::database as db_error;
use crate::sql::Dialect;

/// What a [`Retry::transaction`] closure returns: its work as a boxed future
/// borrowing the transaction (the shape of SeaORM's `TransactionTrait::transaction`),
/// failing with `E` (your own error type, or `DbErr`).
pub type WorkFuture<'c, T, E = DbErr> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>;

/// An error type a [`Retry::transaction`] closure may fail with: built from
/// the database's errors (`From<DbErr>`), and showing the database's error
/// it carries, if any, so that [`Retry`] can tell a deadlock (run it again)
/// from your own refusal (return it at once). Implemented for `DbErr`; for
/// your application's error type:
///
/// ```
/// use sea_orm::DbErr;
///
/// #[derive(Debug)]
/// enum AppError {
///     Db(DbErr),
///     PaymentFailed,
/// }
///
/// impl From<DbErr> for AppError {
///     fn from(error: DbErr) -> Self {
///         Self::Db(error)
///     }
/// }
///
/// impl sequences_core::TransactionError for AppError {
///     fn db_err(&self) -> Option<&DbErr> {
///         match self {
///             Self::Db(error) => Some(error),
///             Self::PaymentFailed => None,
///         }
///     }
/// }
/// ```
pub trait TransactionError: From<DbErr> {
    /// The database's error this one carries, if it is one.
    fn db_err(&self) -> Option<&DbErr>;
}

impl TransactionError for DbErr {
    fn db_err(&self) -> Option<&DbErr> {
        Some(self)
    }
}

/// Runs a closure in a fresh transaction and runs it again, in a new
/// transaction, when the database aborts it for a reason that a retry cures.
///
/// django-sequences leaves this loop to its users; at REPEATABLE READ and
/// SERIALIZABLE, on SQLite when writers collide, and on MariaDB when several
/// transactions create the same sequence at once, the database aborts some
/// transactions, and the only correct answer is to run the whole transaction
/// again. A rolled-back attempt gives its values back, so retrying keeps the
/// numbering gapless.
///
/// What is retried (recognised by SQLSTATE or vendor code, never by message
/// text; see [`is_retryable`]):
///
/// | Backend    | Retried on |
/// |------------|------------|
/// | PostgreSQL | `40001` serialization failure, `40P01` deadlock, `55P03` lock not available (`lock_timeout`, `NOWAIT`) |
/// | MariaDB / MySQL | `1213` deadlock (and a Galera certification failure), `1205` lock wait timeout (and MariaDB's `NOWAIT`), `3572` MySQL's `NOWAIT`, `1020` record changed (MariaDB snapshot isolation), `1047` a Galera node not ready (out of quorum, rejoining) |
/// | SQLite     | `SQLITE_BUSY` (5, with its extended codes), `SQLITE_LOCKED` (6) |
///
/// Anything else (a constraint violation, a [`SequenceError`](crate::SequenceError)
/// raised before any value was taken, a lost connection) is returned at once:
/// a lost connection in particular may have lost the commit's answer, and
/// running the work again could insert the same document twice. After
/// `max_attempts` attempts the last error is returned.
///
/// Between attempts it waits an exponential, jittered delay (by default from
/// 2 ms, doubling, at most 200 ms), so that colliding writers do not collide
/// again in lockstep. On SQLite, transactions begin `IMMEDIATE` by default: a
/// transaction that takes a gapless number writes anyway, and taking the write
/// lock at `BEGIN` lets the busy timeout wait for it instead of failing at the
/// first write.
///
/// READ UNCOMMITTED is refused before anything runs
/// ([`SequenceError::ReadUncommitted`](crate::SequenceError::ReadUncommitted),
/// inside the `DbErr`): the gapless promise is only claimed at READ
/// COMMITTED and above.
///
/// The closure fails with an error type of your choice, `E`: `DbErr`, or
/// your application's own (see [`TransactionError`]); the type is named
/// at the call, as with SeaORM's `transaction::<_, _, DbErr>`.
///
/// ```no_run
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sea_orm::{DbErr, IsolationLevel};
/// use sequences_core::{Retry, Sequence};
///
/// let number = Retry::new()
///     .isolation_level(IsolationLevel::Serializable)
///     .transaction::<DbErr, _, _, _>(db, |txn| {
///         Box::pin(async move {
///             let number = Sequence::new("invoice").next_value(txn).await?;
///             // ... insert the invoice with `number` through `txn` ...
///             Ok(number)
///         })
///     })
///     .await?;
/// # let _ = number; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Retry {
    max_attempts: u32,
    min_delay: Duration,
    max_delay: Duration,
    isolation_level: Option<IsolationLevel>,
    sqlite_mode: Option<SqliteTransactionMode>,
    lock_timeout: Option<Duration>,
}

impl Default for Retry {
    fn default() -> Self {
        Self::new()
    }
}

impl Retry {
    /// Ten attempts, backoff from 2 ms to 200 ms with jitter, the database's
    /// default isolation level, `BEGIN IMMEDIATE` on SQLite.
    pub fn new() -> Self {
        Self {
            max_attempts: 10,
            min_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(200),
            isolation_level: None,
            sqlite_mode: Some(SqliteTransactionMode::Immediate),
            lock_timeout: None,
        }
    }

    /// Bounds the wait of each deferred number's allocation at commit (see
    /// [`Sequence::lock_timeout`](crate::Sequence::lock_timeout)); a timeout
    /// is [`LockNotAvailable`](crate::SequenceError::LockNotAvailable),
    /// which is retried like a lock timeout the database chose.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// How many times the closure may run in all (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay before the first retry and the cap of the growing delay.
    pub fn backoff(mut self, min_delay: Duration, max_delay: Duration) -> Self {
        self.min_delay = min_delay;
        self.max_delay = max_delay.max(min_delay);
        self
    }

    /// The isolation level of every attempt's transaction.
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation_level = Some(level);
        self
    }

    /// On SQLite, how each attempt's transaction begins (default `IMMEDIATE`;
    /// `None` for SeaORM's plain `BEGIN`, which is `DEFERRED`).
    pub fn sqlite_mode(mut self, mode: Option<SqliteTransactionMode>) -> Self {
        self.sqlite_mode = mode;
        self
    }

    /// Runs `work` in a new transaction of `db`, commits it, and returns what
    /// `work` returned. When `work` or the commit fails with a retryable error,
    /// the transaction is rolled back and `work` runs again in a new one.
    ///
    /// Rows `work` inserted with a deferred number (`#[gapless(..., deferred)]`,
    /// [`NumberedField::deferred`](crate::NumberedField::deferred)) are
    /// numbered after `work` returns, just before COMMIT, in the same
    /// transaction (see [`transaction`](crate::transaction)).
    ///
    /// `work` must do all of its database work through the transaction it is
    /// given, and be safe to run again: side effects outside the database
    /// (an e-mail, a value pushed to a list) may happen once per attempt.
    pub async fn transaction<E, C, F, T>(&self, db: &C, mut work: F) -> Result<T, E>
    where
        E: TransactionError,
        C: TransactionTrait,
        F: for<'c> FnMut(&'c C::Transaction) -> WorkFuture<'c, T, E> + Send,
        T: Send,
    {
        if matches!(self.isolation_level, Some(IsolationLevel::ReadUncommitted)) {
            return Err(E::from(SequenceError::ReadUncommitted.into()));
        }
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .without_max_times()
            .build();
        let mut attempt = 1;
        loop {
            let error = match self.attempt(db, &mut work).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let retryable = error.db_err().filter(|error| is_retryable(error));
            let Some(cause) = retryable.filter(|_| attempt < self.max_attempts) else {
                return Err(error);
            };
            let delay = delays.next().unwrap_or(self.max_delay);
            tracing::info!(
                target: "sequences::retry",
                attempt,
                code = db_error::error_code(cause).as_deref().unwrap_or(""),
                delay_ms = delay.as_secs_f64() * 1000.0,
                "the database aborted the transaction; running it again"
            );
            attempt += 1;
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt<E, C, F, T>(&self, db: &C, work: &mut F) -> Result<T, E>
    where
        E: TransactionError,
        C: TransactionTrait,
        F: for<'c> FnMut(&'c C::Transaction) -> WorkFuture<'c, T, E> + Send,
        T: Send,
    {
        let txn = db
            .begin_with_options(TransactionOptions {
                isolation_level: self.isolation_level,
                access_mode: None,
                sqlite_transaction_mode: self.sqlite_mode,
            })
            .await?;
        // A backend this build cannot handle fails before any work.
        if let Err(error) = Dialect::of(txn.get_database_backend()) {
            let _ = txn.rollback().await;
            return Err(error.into());
        }
        let (result, deferred) = deferred::collect(work(&txn)).await;
        let result = match result {
            Ok(value) => deferred::assign(&txn, deferred, self.lock_timeout)
                .await
                .map(|()| value)
                .map_err(|error| E::from(error.into())),
            Err(error) => Err(error),
        };
        match result {
            Ok(value) => {
                txn.commit().await?;
                Ok(value)
            }
            Err(error) => {
                // The error to report is the work's; a failed rollback (the
                // connection may be gone) changes nothing for the caller.
                let _ = txn.rollback().await;
                Err(error)
            }
        }
    }
}

/// Whether `error` is one a retry of the whole transaction can cure:
/// serialization failure, deadlock, lock timeout or `NOWAIT` refusal, SQLite
/// busy or locked. Recognised by SQLSTATE or vendor code (see [`Retry`] for the
/// list), so it also works on errors of your own statements in the same
/// transaction.
pub fn is_retryable(error: &DbErr) -> bool {
    db_error::is_transient(error)
}

/// Runs `work` in a new transaction of `db` and commits it, numbering the
/// rows it inserted with a deferred number just before COMMIT, in the same
/// transaction: every deferred number the closure created is taken then
/// (sequences in name order, so two such transactions cannot deadlock each
/// other; one statement per sequence) and written (one UPDATE per table and
/// column), in insertion order. A rollback (an error from `work`, or during
/// assignment, or at commit) gives every number back.
///
/// The sequence's row lock is held for the assignment and the commit only,
/// instead of from the insert to the end of the transaction: an invoice with
/// its lines no longer makes the next invoice wait for the lines.
///
/// `Retry::new().max_attempts(1).transaction(db, work)`: use
/// [`Retry`] itself to retry on serialization failures and deadlocks.
///
/// ```no_run
/// # mod invoice {
/// #     use sea_orm::entity::prelude::*;
/// #     use sequences_core::Gapless;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
/// #     #[sea_orm(table_name = "invoice")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         pub company_id: i32,
/// #         #[gapless(sequence = "invoice-{company_id}", deferred)]
/// #         pub number: Option<i64>,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sea_orm::{ActiveModelTrait, Set};
///
/// let id = sequences_core::transaction::<sea_orm::DbErr, _, _, _>(db, |txn| {
///     Box::pin(async move {
///         let invoice = invoice::ActiveModel { company_id: Set(7), ..Default::default() }
///             .insert(txn)
///             .await?; // number: None until COMMIT
///         // ... insert the lines, the payment ...
///         Ok(invoice.id)
///     })
/// })
/// .await?; // numbered just before COMMIT
/// # let _ = id; Ok(()) }
/// ```
pub async fn transaction<E, C, F, T>(db: &C, work: F) -> Result<T, E>
where
    E: TransactionError,
    C: TransactionTrait,
    F: for<'c> FnMut(&'c C::Transaction) -> WorkFuture<'c, T, E> + Send,
    T: Send,
{
    Retry::new().max_attempts(1).transaction(db, work).await
}
