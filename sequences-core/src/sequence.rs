//! [`Sequence`]: a named gapless counter and its operations.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};

use std::time::Instant;

use tracing::Span;

use crate::entity::{self, MAX_NAME_LENGTH};
use crate::error::SequenceError;
use crate::error::database::ErrorKind;
use crate::period::Day;
use crate::sql::{Days, Dialect, Plan, Refused, Returning};
use crate::trace;

/// A named gapless sequence of `i64` values.
///
/// A `Sequence` is a cheap description (name, first value, optional reset
/// value, nowait); the state lives in one row of the `sequences` table. Taking
/// a value locks that row until the calling transaction ends: concurrent
/// callers of the same sequence wait their turn, a rollback gives the value
/// back, and distinct sequences never block each other.
///
/// The one rule: **take the value in the transaction that saves it.** Taken
/// in autocommit mode, a value is committed at once and lost if the save then
/// fails.
///
/// ```no_run
/// use sea_orm::{Database, TransactionTrait};
/// use sequences_core::Sequence;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect("sqlite::memory:").await?;
/// let invoices = Sequence::new("invoice");
/// let txn = db.begin().await?;
/// let number = invoices.next_value(&txn).await?; // 1, then 2, 3, ...
/// // ... insert the invoice with `number` through `txn` ...
/// txn.commit().await?;
/// # let _ = number;
/// # Ok(()) }
/// ```
///
/// The name is any string (`"invoice"`, `&name`, `format!("invoice-{id}")`);
/// the `Sequence` keeps its own shared copy, so it can outlive the string it
/// was built from and clones cheaply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sequence {
    name: Arc<str>,
    initial_value: i64,
    reset_value: Option<i64>,
    nowait: bool,
    lock_timeout: Option<Duration>,
    max_value: Option<i64>,
    warn_at: Option<i64>,
    /// `max_value` or `warn_at` set by the user (not only a column's cap):
    /// the allocation records the range on the row.
    range_declared: bool,
}

impl Sequence {
    /// A sequence starting at 1, never looping, waiting for its lock.
    pub fn new(name: impl AsRef<str>) -> Self {
        Self {
            name: Arc::from(name.as_ref()),
            initial_value: 1,
            reset_value: None,
            nowait: false,
            lock_timeout: None,
            max_value: None,
            warn_at: None,
            range_declared: false,
        }
    }

    /// The same settings under another name (a placeholder filled in, a
    /// period appended).
    pub fn renamed(&self, name: impl AsRef<str>) -> Self {
        Self {
            name: Arc::from(name.as_ref()),
            ..self.clone()
        }
    }

    /// The name, shared (no copy).
    pub(crate) fn shared_name(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    /// The first value, used only when the sequence's row is created (its first
    /// allocation). Default: 1.
    pub fn initial_value(mut self, value: i64) -> Self {
        self.initial_value = value;
        self
    }

    /// Makes the sequence loop: after `value - 1` comes `initial_value` again.
    /// Must be greater than `initial_value`, checked before any SQL.
    pub fn reset_value(mut self, value: i64) -> Self {
        self.reset_value = Some(value);
        self
    }

    /// With `true`, fail at once with [`SequenceError::LockNotAvailable`] when
    /// another transaction holds the sequence, instead of waiting for it
    /// (one extra `SELECT .. FOR UPDATE NOWAIT` on PostgreSQL and MariaDB/MySQL;
    /// SQLite has no row locks and fails after its busy timeout either way).
    pub fn nowait(mut self, nowait: bool) -> Self {
        self.nowait = nowait;
        self
    }

    /// Waits at most `timeout` for another transaction holding the
    /// sequence, then fails with [`SequenceError::LockNotAvailable`], instead
    /// of the database's default wait: for allocations, and for every other
    /// operation that takes the row lock (`close`, `reopen`, `void`,
    /// `set_last_value`, `revert_last`, `adopt`). Costs two statements around
    /// the operation when set, nothing otherwise:
    /// - PostgreSQL: `lock_timeout`, set for the allocation and restored;
    /// - MariaDB/MySQL: `innodb_lock_wait_timeout`, in whole seconds (rounded
    ///   up; zero fails at once), set and restored;
    /// - SQLite: the connection's busy timeout, set and restored (SQLite
    ///   locks the whole database: the wait is for any writer).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// The end of the sequence's range: an allocation that would pass
    /// `max_value` is refused ([`SequenceError::Exhausted`]) by the
    /// allocating statement itself, nothing consumed. A
    /// [`Numbering`](crate::Numbering) sets it to the column type's maximum
    /// (`i32::MAX` for an `INTEGER` column), so a value that would not fit is
    /// never taken.
    ///
    /// A range set here (or a [`warn_at`](Self::warn_at)) is recorded on the
    /// sequence's row by each allocation, in the same statement, so `sequences
    /// list` can mark a sequence near its end: that needs
    /// `sequences_migration::RangeMigration` (without it the allocation fails
    /// with [`SequenceError::SchemaOutdated`], nothing consumed).
    pub fn max_value(mut self, max_value: i64) -> Self {
        self.max_value = Some(max_value);
        self.range_declared = true;
        self
    }

    /// `max_value` lowered to a column type's maximum: enforced like
    /// [`max_value`](Self::max_value), but not recorded as a declared range.
    pub(crate) fn capped_at(mut self, max_value: i64) -> Self {
        self.max_value = Some(self.max_value.map_or(max_value, |own| own.min(max_value)));
        self
    }

    /// The sequence, its range ended at `cap`'s maximum (or its own, if
    /// lower): a column narrower than `i64`.
    pub(crate) fn capped(self, cap: Option<crate::column_value::Int>) -> Self {
        use crate::column_value::IntColumn as _;
        match cap {
            Some(int) => self.capped_at(int.range().1),
            None => self,
        }
    }

    /// An allocation that reaches `warn_at` logs a `tracing` warning (target
    /// `sequences`, with the sequence, its last value and its maximum), so a
    /// range running out is seen before it is exhausted; `sequences list`
    /// marks it from then on (recorded as with [`max_value`](Self::max_value)).
    pub fn warn_at(mut self, warn_at: i64) -> Self {
        self.warn_at = Some(warn_at);
        self.range_declared = true;
        self
    }

    /// The range an allocation records on the row, when the sequence
    /// declares one (the same as the allocating statement records).
    pub(crate) fn declared_range(&self) -> Option<crate::sql::DeclaredRange> {
        self.range_declared.then_some(crate::sql::DeclaredRange {
            max_value: self.max_value,
            warn_at: self.warn_at,
        })
    }

    /// The warning threshold, if set ([`warn_at`](Self::warn_at)).
    pub fn get_warn_at(&self) -> Option<i64> {
        self.warn_at
    }

    /// The end of the range, if set ([`max_value`](Self::max_value)).
    pub fn get_max_value(&self) -> Option<i64> {
        self.max_value
    }

    /// The sequence's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configured first value.
    pub fn get_initial_value(&self) -> i64 {
        self.initial_value
    }

    /// The configured reset value, if the sequence loops.
    pub fn get_reset_value(&self) -> Option<i64> {
        self.reset_value
    }

    /// Checks the name and the reset value without touching the database.
    /// Every operation does this first; call it to fail early.
    pub fn validate(&self) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        match self.reset_value {
            Some(reset_value) if reset_value <= self.initial_value => {
                Err(SequenceError::InvalidReset {
                    name: self.name.to_string(),
                    initial_value: self.initial_value,
                    reset_value,
                })
            }
            _ => Ok(()),
        }
    }

    /// Takes the next value, in one statement.
    ///
    /// The row stays locked until `db`'s transaction ends; in autocommit mode
    /// the value is committed at once (see the rule above).
    ///
    /// Traced as a `sequences.next_value` span (see [`crate::trace`]).
    pub async fn next_value<C: ConnectionTrait>(&self, db: &C) -> Result<i64, SequenceError> {
        self.next_value_with(db, Days::default()).await
    }

    /// [`next_value`](Self::next_value) for a document dated `day`, in
    /// chronological order: refused with [`SequenceError::OutOfOrder`] (nothing
    /// consumed) when `day` is earlier than the latest day already numbered
    /// in the sequence, which then becomes `day`. The check rides on the
    /// allocating statement: still one statement, race-free under the row lock.
    pub async fn next_value_on<C: ConnectionTrait>(
        &self,
        db: &C,
        day: impl Into<Day>,
    ) -> Result<i64, SequenceError> {
        let day = day.into().number();
        self.next_value_with(
            db,
            Days {
                first: Some(day),
                last: Some(day),
            },
        )
        .await
    }

    pub(crate) async fn next_value_with<C: ConnectionTrait>(
        &self,
        db: &C,
        days: Days,
    ) -> Result<i64, SequenceError> {
        let span = trace::allocation_span!("sequences.next_value", self.name(), 1u64);
        trace::traced(&span, async {
            let plan = self.plan(1, false)?;
            let value = self.allocate(db, plan, days).await?;
            Span::current().record("value", value);
            Ok(value)
        })
        .await
    }

    /// Takes the next `count` values at once, in one statement, as a half-open
    /// range: `1..11`, then `11..21`. `count == 0` runs no SQL and returns the
    /// empty range `0..0`.
    ///
    /// A batch never wraps, so a looping sequence refuses batches of more than
    /// one value ([`SequenceError::BatchOnLoopingSequence`]), and as the range
    /// end is exclusive, a batch cannot include `i64::MAX`.
    ///
    /// Traced as a `sequences.next_values` span (see [`crate::trace`]).
    pub async fn next_values<C: ConnectionTrait>(
        &self,
        db: &C,
        count: u64,
    ) -> Result<Range<i64>, SequenceError> {
        self.next_values_with(db, count, Days::default()).await
    }

    /// [`next_values`](Self::next_values) for documents all dated `day`, in
    /// chronological order (see [`next_value_on`](Self::next_value_on)).
    pub async fn next_values_on<C: ConnectionTrait>(
        &self,
        db: &C,
        count: u64,
        day: impl Into<Day>,
    ) -> Result<Range<i64>, SequenceError> {
        let day = day.into().number();
        self.next_values_with(
            db,
            count,
            Days {
                first: Some(day),
                last: Some(day),
            },
        )
        .await
    }

    pub(crate) async fn next_values_with<C: ConnectionTrait>(
        &self,
        db: &C,
        count: u64,
        days: Days,
    ) -> Result<Range<i64>, SequenceError> {
        if count == 0 {
            self.validate()?;
            return Ok(0..0);
        }
        let span = trace::allocation_span!("sequences.next_values", self.name(), count);
        trace::traced(&span, async {
            let plan = self.plan(count, true)?;
            let last = self.allocate(db, plan, days).await?;
            let first = last - (plan.count - 1);
            Span::current().record("value", first);
            Ok(first..last + 1)
        })
        .await
    }

    /// The last value handed out, `None` before the first. Reads without a lock,
    /// so under concurrency it may be outdated by the time it is used.
    pub async fn last_value<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Option<i64>, SequenceError> {
        validate_name(&self.name)?;
        let row = entity::Entity::find_by_id(self.name.to_string())
            .one(db)
            .await
            .map_err(|source| self.database_error(source))?;
        Ok(row.map(|row| row.last))
    }

    /// The sequence's row (`last`, `closed`, `last_day`), `None` before the
    /// first allocation. A plain read, like [`last_value`](Self::last_value).
    pub async fn state<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Option<entity::Model>, SequenceError> {
        validate_name(&self.name)?;
        entity::Entity::find_by_id(self.name.to_string())
            .one(db)
            .await
            .map_err(|source| self.database_error(source))
    }

    /// Closes the sequence: every allocation is then refused with
    /// [`SequenceError::Closed`], nothing consumed, until
    /// [`reopen`](Self::reopen). This is how a period is closed: with
    /// per-period counters, close `invoice-SALES@2025`.
    ///
    /// It takes the row lock like an allocation, so it waits for every
    /// transaction numbering in the sequence: once the closing transaction
    /// commits, nothing can still be numbering there. A sequence that was
    /// never used is created closed, with nothing handed out.
    pub async fn close<C: ConnectionTrait>(&self, db: &C) -> Result<(), SequenceError> {
        self.validate()?;
        let empty = self
            .initial_value
            .checked_sub(1)
            .ok_or_else(|| self.overflow(0))?;
        self.execute(db, |d| d.set_closed(&self.name, true, empty))
            .await
            .map(drop)
    }

    /// Reopens a closed sequence. Returns whether the sequence exists.
    pub async fn reopen<C: ConnectionTrait>(&self, db: &C) -> Result<bool, SequenceError> {
        validate_name(&self.name)?;
        self.execute(db, |d| d.set_closed(&self.name, false, 0))
            .await
            .map(|affected| affected > 0)
    }

    /// Records that `value`, handed out by this sequence, is void (a
    /// cancelled document whose row had to go, a number lost to another
    /// system), with `reason`, in the `sequence_voids` table.
    /// [`Audit`](crate::Audit) then reports the gap as explained.
    ///
    /// Under the row lock, in a transaction ([`SequenceError::NotInTransaction`]
    /// otherwise). Refuses a value that was never handed out
    /// ([`SequenceError::NotAllocated`]), one already void
    /// ([`SequenceError::AlreadyVoid`]) and an empty reason.
    pub async fn void<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
        reason: &str,
    ) -> Result<(), SequenceError> {
        self.void_link(db, value, reason, None).await
    }

    /// [`void_link`](Self::void_link) in a chain keyed with `key`: the void
    /// carries an authenticator (HMAC-SHA-256 over the sequence, the value,
    /// the reason and the record's hash), so that a void written without the
    /// key, to hide a deleted record, breaks the keyed chain
    /// ([`BreakKind::Void`](crate::BreakKind::Void)). Needs
    /// `sequences_migration::KeyedChainMigration`.
    pub async fn void_keyed<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
        reason: &str,
        chain_hash: Option<&str>,
        key: &crate::ChainKey,
    ) -> Result<(), SequenceError> {
        let key = key
            .bytes()
            .map_err(|reason| SequenceError::InvalidNumbering {
                target: self.name.to_string(),
                reason,
            })?;
        let auth = crate::chain::void_auth(&key, &self.name, value, reason, chain_hash);
        self.insert_void(db, value, reason, chain_hash, Some(&auth))
            .await
    }

    /// [`void`](Self::void), keeping `chain_hash`, the hash of the chained
    /// record the void replaces (what the `void` delete policy does, and the
    /// `sequences void` command when told the record's table), so the chain
    /// runs on through the void. A wrong hash breaks the chain at the next
    /// record, or at the head.
    pub async fn void_link<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
        reason: &str,
        chain_hash: Option<&str>,
    ) -> Result<(), SequenceError> {
        self.insert_void(db, value, reason, chain_hash, None).await
    }

    async fn insert_void<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
        reason: &str,
        chain_hash: Option<&str>,
        chain_auth: Option<&str>,
    ) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        if reason.trim().is_empty() {
            return Err(SequenceError::EmptyReason {
                name: self.name.to_string(),
            });
        }
        let (dialect, row) = self.lock_row(db, "Sequence::void").await?;
        let last = row.map(|row| row.last);
        if last.is_none_or(|last| value > last) || value < self.initial_value {
            return Err(SequenceError::NotAllocated {
                name: self.name.to_string(),
                value,
                last,
            });
        }
        let error = |source| self.database_error(source);
        if let Some(found) = db
            .query_one_raw(dialect.find_void(&self.name, value))
            .await
            .map_err(error)?
        {
            return Err(SequenceError::AlreadyVoid {
                name: self.name.to_string(),
                value,
                reason: found.try_get_by_index(0).map_err(error)?,
            });
        }
        db.execute_raw(dialect.insert_void(&self.name, value, reason, chain_hash, chain_auth))
            .await
            .map(drop)
            .map_err(|source| self.classify(dialect, source, 0))
    }

    /// Gives back `value` if it is the sequence's last (the counter moves
    /// back by one, under the row lock): what the `revert_if_last` delete
    /// policy does. Otherwise [`SequenceError::NotLast`], nothing changed; a
    /// hash-chained sequence is never moved back ([`SequenceError::Chained`]).
    ///
    /// The next allocation hands `value` out again: if a row still holds it,
    /// that is a duplicate. Meant for the row being deleted in the same
    /// transaction.
    pub async fn revert_last<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
    ) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        if !crate::in_transaction(db)
            .await
            .map_err(|source| self.database_error(source))?
        {
            return Err(self.not_in_transaction("Sequence::revert_last"));
        }
        if self
            .execute(db, |d| d.revert_last(&self.name, value))
            .await?
            == 1
        {
            return Ok(());
        }
        let state = self.state(db).await?;
        if state.as_ref().is_some_and(|s| s.chain_head.is_some()) {
            return Err(SequenceError::Chained {
                name: self.name.to_string(),
                operation: "moving the counter back",
            });
        }
        Err(SequenceError::NotLast {
            name: self.name.to_string(),
            value,
            last: state.map(|s| s.last),
        })
    }

    /// Under the row lock (in a transaction), whether `value` is the
    /// sequence's last: what `revert_if_last` checks before the DELETE.
    /// [`SequenceError::NotLast`] or [`SequenceError::Chained`] otherwise.
    pub(crate) async fn check_last<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
    ) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        let (_, row) = self.lock_row(db, "Sequence::revert_last").await?;
        match row {
            Some(row) if row.chain_head.is_some() => Err(SequenceError::Chained {
                name: self.name.to_string(),
                operation: "moving the counter back",
            }),
            Some(row) if row.last == value => Ok(()),
            row => Err(SequenceError::NotLast {
                name: self.name.to_string(),
                value,
                last: row.map(|row| row.last),
            }),
        }
    }

    /// Runs one statement of the dialect; rows affected.
    async fn execute<C: ConnectionTrait>(
        &self,
        db: &C,
        statement: impl FnOnce(Dialect) -> sea_orm::Statement,
    ) -> Result<u64, SequenceError> {
        let dialect =
            Dialect::of(db.get_database_backend()).map_err(|source| self.database_error(source))?;
        let statement = statement(dialect);
        self.bounded(db, dialect, async {
            db.execute_raw(statement)
                .await
                .map(|result| result.rows_affected())
                .map_err(|source| self.classify(dialect, source, 0))
        })
        .await
    }

    /// In a transaction, takes the row lock (as an allocation would) and
    /// reads the row.
    pub(crate) async fn lock_row<C: ConnectionTrait>(
        &self,
        db: &C,
        operation: &str,
    ) -> Result<(Dialect, Option<entity::Model>), SequenceError> {
        let error = |source| self.database_error(source);
        if !crate::in_transaction(db).await.map_err(error)? {
            return Err(self.not_in_transaction(operation));
        }
        let dialect = Dialect::of(db.get_database_backend()).map_err(error)?;
        let row = self
            .bounded(db, dialect, async {
                if let Some(lock) = dialect.lock_for_write(&self.name) {
                    db.execute_raw(lock)
                        .await
                        .map_err(|source| self.classify(dialect, source, 0))?;
                }
                entity::Entity::find_by_id(self.name.to_string())
                    .lock_exclusive()
                    .one(db)
                    .await
                    .map_err(|source| self.classify(dialect, source, 0))
            })
            .await?;
        Ok((dialect, row))
    }

    fn not_in_transaction(&self, operation: &str) -> SequenceError {
        SequenceError::NotInTransaction {
            name: self.name.to_string(),
            target: operation.to_owned(),
        }
    }

    /// Deletes the sequence; the next allocation starts again at
    /// `initial_value`. Returns whether it existed.
    pub async fn delete<C: ConnectionTrait>(&self, db: &C) -> Result<bool, SequenceError> {
        validate_name(&self.name)?;
        let result = entity::Entity::delete_by_id(self.name.to_string())
            .exec(db)
            .await
            .map_err(|source| self.database_error(source))?;
        Ok(result.rows_affected > 0)
    }

    /// Sets the last value, so that the next value is `last + 1`: for the
    /// operator who moves numbering over from a legacy system ("continue
    /// after 4711"). Creates the sequence if needed.
    ///
    /// Takes the counter's row lock like an allocation, so it waits for
    /// transactions holding the sequence, and must run inside a transaction
    /// ([`SequenceError::NotInTransaction`] otherwise). Refuses to go
    /// backwards ([`SequenceError::WouldGoBackwards`], nothing changed);
    /// setting the current value again is a no-op.
    ///
    /// Moving forward skips the values in between: that is a gap, by
    /// intent. This and [`force_last_value`](Self::force_last_value) are the
    /// only operations that can break the promise when misused.
    pub async fn set_last_value<C: ConnectionTrait>(
        &self,
        db: &C,
        last: i64,
    ) -> Result<(), SequenceError> {
        self.store_last(db, last, false).await
    }

    /// [`set_last_value`](Self::set_last_value) that may also go backwards.
    /// Values after `last` that were already committed will be handed out
    /// again: duplicates, unless the rows holding them are gone. Meant for
    /// repairs, such as undoing a mistaken `set_last_value`.
    pub async fn force_last_value<C: ConnectionTrait>(
        &self,
        db: &C,
        last: i64,
    ) -> Result<(), SequenceError> {
        self.store_last(db, last, true).await
    }

    pub(crate) async fn store_last<C: ConnectionTrait>(
        &self,
        db: &C,
        last: i64,
        force: bool,
    ) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        let error = |source| self.database_error(source);
        let (_, current) = self.lock_row(db, "Sequence::set_last_value").await?;
        match current {
            Some(row) if row.last > last && !force => Err(SequenceError::WouldGoBackwards {
                name: self.name.to_string(),
                last: row.last,
                requested: last,
            }),
            Some(row) if row.last == last => Ok(()),
            Some(_) => entity::Entity::update_many()
                .col_expr(entity::Column::Last, Expr::value(last))
                .filter(entity::Column::Name.eq(self.name.as_ref()))
                .exec(db)
                .await
                .map(drop)
                .map_err(error),
            None => entity::Entity::insert(entity::ActiveModel {
                name: Set(self.name.to_string()),
                last: Set(last),
                ..Default::default()
            })
            .exec_without_returning(db)
            .await
            .map(drop)
            .map_err(error),
        }
    }

    /// Runs `plan` and returns the new `last`, within the lock timeout if set.
    async fn allocate<C: ConnectionTrait>(
        &self,
        db: &C,
        plan: Plan,
        days: Days,
    ) -> Result<i64, SequenceError> {
        let dialect =
            Dialect::of(db.get_database_backend()).map_err(|source| self.database_error(source))?;
        let last = self
            .bounded(db, dialect, self.allocate_now(db, dialect, plan, days))
            .await?;
        if let Some(warn_at) = self.warn_at.filter(|&warn_at| last >= warn_at) {
            tracing::warn!(
                target: "sequences",
                sequence = self.name(),
                last,
                warn_at,
                max_value = self.max_value,
                "sequence {:?} is near the end of its range: last {last}",
                self.name()
            );
        }
        Ok(last)
    }

    /// Runs `work` (statements that take the sequence's row lock) within the
    /// lock timeout, if set: the session's lock wait is set before and
    /// restored after.
    async fn bounded<C: ConnectionTrait, T>(
        &self,
        db: &C,
        dialect: Dialect,
        work: impl std::future::Future<Output = Result<T, SequenceError>>,
    ) -> Result<T, SequenceError> {
        let Some(timeout) = self.lock_timeout else {
            return work.await;
        };
        let restore = dialect
            .set_lock_timeout(db, timeout)
            .await
            .map_err(|source| self.database_error(source))?;
        let result = work.await;
        // After a failure, PostgreSQL's transaction is aborted and undoes the
        // setting itself; elsewhere this restores it.
        let restored = db.execute_raw(restore).await;
        match (result, restored) {
            (Ok(_), Err(source)) => Err(self.database_error(source)),
            (result, _) => result,
        }
    }

    /// The value the next allocation would hand out, read without taking
    /// or locking anything: a preview, which another transaction may take
    /// first (only [`next_value`](Self::next_value) in your transaction
    /// reserves it). A closed sequence would refuse it until reopened
    /// ([`state`](Self::state) tells); past [`max_value`](Self::max_value),
    /// [`SequenceError::Exhausted`].
    pub async fn peek<C: ConnectionTrait>(&self, db: &C) -> Result<i64, SequenceError> {
        self.validate()?;
        let next = match self.state(db).await? {
            None => self.initial_value,
            Some(row) => match self.reset_value {
                Some(reset) if row.last >= reset - 1 => self.initial_value,
                _ => row.last.checked_add(1).ok_or_else(|| self.overflow(1u64))?,
            },
        };
        match self.max_value {
            Some(max_value) if next > max_value => Err(SequenceError::Exhausted {
                name: self.name.to_string(),
                max_value,
                last: next - 1,
                count: 1,
            }),
            _ => Ok(next),
        }
    }

    async fn allocate_now<C: ConnectionTrait>(
        &self,
        db: &C,
        dialect: Dialect,
        plan: Plan,
        days: Days,
    ) -> Result<i64, SequenceError> {
        if self.nowait
            && let Some(lock) = dialect.lock_nowait(&self.name)
        {
            db.query_one_raw(lock)
                .await
                .map_err(|source| self.classify(dialect, source, plan.count))?;
        }
        let range = self.declared_range();
        let statement = dialect.allocate(&self.name, plan.first, plan.step, days, range);
        // Under contention this is the wait for the row lock.
        let started = Instant::now();
        let _waited = trace::RecordWait(started);
        let last = match dialect.returning() {
            Returning::Row => {
                let row = db
                    .query_one_raw(statement)
                    .await
                    .map_err(|source| self.classify(dialect, source, plan.count))?;
                match row {
                    Some(row) => row
                        .try_get_by_index::<i64>(0)
                        .map_err(|source| self.database_error(source))?,
                    // The row exists and a guard refused the update.
                    None => return Err(self.refusal(db, dialect, plan, days).await),
                }
            }
            // The server reports LAST_INSERT_ID as u64; the bits are the i64 value.
            Returning::LastInsertId => match db.execute_raw(statement).await {
                Ok(result) => result.last_insert_id() as i64,
                Err(source) => match self.classify(dialect, source, plan.count) {
                    // A guard forced the out-of-range error: which one?
                    SequenceError::Overflow { .. } => {
                        return Err(self.refusal(db, dialect, plan, days).await);
                    }
                    other => return Err(other),
                },
            },
        };
        Ok(last)
    }

    /// Why the allocation statement refused to write: the sequence is
    /// closed, the day is out of order, or the value would pass the end of
    /// the range (`Dialect::refusal_kind`, the triggers' decision too).
    async fn refusal<C: ConnectionTrait>(
        &self,
        db: &C,
        dialect: Dialect,
        plan: Plan,
        days: Days,
    ) -> SequenceError {
        let statement = dialect.refusal(&self.name, plan.step, days.first);
        let row = match db.query_one_raw(statement).await {
            Ok(Some(row)) => row,
            Ok(None) => return self.overflow(plan.count),
            Err(source) => return self.classify(dialect, source, plan.count),
        };
        let last = row.try_get_by_index::<i64>(0).ok();
        let latest = row.try_get_by_index::<Option<i32>>(2).ok().flatten();
        let decision = row.try_get_by_index::<Option<String>>(3).ok().flatten();
        match decision.as_deref().and_then(Refused::of) {
            Some(Refused::Closed) => SequenceError::Closed {
                name: self.name.to_string(),
            },
            Some(Refused::OutOfOrder) => match (days.first, latest) {
                (Some(day), Some(latest)) => SequenceError::OutOfOrder {
                    name: self.name.to_string(),
                    day: Day::from_number(day),
                    latest: Day::from_number(latest),
                },
                _ => self.overflow(plan.count),
            },
            // The end of the range: the declared one, or i64's.
            Some(Refused::End) | None => match (self.max_value, last) {
                (Some(max_value), Some(last))
                    if last
                        .checked_add(plan.count)
                        .is_none_or(|next| next > max_value) =>
                {
                    SequenceError::Exhausted {
                        name: self.name.to_string(),
                        max_value,
                        last,
                        count: plan.count as u64,
                    }
                }
                _ => self.overflow(plan.count),
            },
        }
    }

    fn classify(&self, dialect: Dialect, source: DbErr, count: i64) -> SequenceError {
        match dialect.classify(&source) {
            ErrorKind::LockNotAvailable => SequenceError::LockNotAvailable {
                name: self.name.to_string(),
                source,
            },
            ErrorKind::Overflow => self.overflow(count),
            ErrorKind::SchemaOutdated => SequenceError::SchemaOutdated {
                name: self.name.to_string(),
                source,
            },
            ErrorKind::Other => self.database_error(source),
        }
    }

    fn overflow(&self, count: impl TryInto<u64>) -> SequenceError {
        SequenceError::Overflow {
            name: self.name.to_string(),
            count: count.try_into().unwrap_or(u64::MAX),
        }
    }

    fn database_error(&self, source: DbErr) -> SequenceError {
        SequenceError::Database {
            name: self.name.to_string(),
            source,
        }
    }
}

impl Sequence {
    /// One allocation of `count` values of this sequence, fully checked
    /// before any SQL runs (`batch`: for a `Range` result).
    pub(crate) fn plan(&self, count: u64, batch: bool) -> Result<Plan, SequenceError> {
        self.validate()?;
        Plan::new(
            &self.name,
            self.initial_value,
            self.reset_value,
            self.max_value,
            count,
            batch,
        )
    }
}

fn validate_name(name: &str) -> Result<(), SequenceError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.chars().count() > MAX_NAME_LENGTH {
        "it is longer than 100 characters"
    } else if name.contains('\0') {
        "it contains a NUL character"
    } else {
        return Ok(());
    };
    Err(SequenceError::InvalidName {
        name: name.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Step;

    #[test]
    fn plain_plan() {
        let plan = Sequence::new("a").plan(1, false).unwrap();
        assert_eq!(plan.first, 1);
        assert_eq!(
            plan.step,
            Step::Add {
                count: 1,
                max_last: i64::MAX - 1
            }
        );
    }

    #[test]
    fn batch_plan_keeps_the_range_end_representable() {
        let plan = Sequence::new("a").initial_value(10).plan(5, true).unwrap();
        assert_eq!(plan.first, 14);
        assert_eq!(
            plan.step,
            Step::Add {
                count: 5,
                max_last: i64::MAX - 6
            }
        );
        let at_max = Sequence::new("a").initial_value(i64::MAX - 4);
        assert!(at_max.plan(4, true).is_ok());
        assert!(matches!(
            at_max.plan(5, true),
            Err(SequenceError::Overflow { count: 5, .. })
        ));
        assert!(at_max.plan(5, false).is_ok());
        assert!(matches!(
            Sequence::new("a").plan(u64::MAX, true),
            Err(SequenceError::Overflow { .. })
        ));
    }

    #[test]
    fn loop_plan() {
        let plan = Sequence::new("s")
            .initial_value(0)
            .reset_value(60)
            .plan(1, false)
            .unwrap();
        assert_eq!(
            plan.step,
            Step::Loop {
                initial: 0,
                last_before_reset: 59
            }
        );
        assert!(matches!(
            Sequence::new("s").reset_value(60).plan(2, true),
            Err(SequenceError::BatchOnLoopingSequence { count: 2, .. })
        ));
    }

    #[test]
    fn invalid_input_is_refused_before_sql() {
        for (sequence, expected) in [
            (Sequence::new(""), "it is empty"),
            (Sequence::new("x".repeat(101)), "longer than 100"),
            (Sequence::new("a\0b"), "NUL"),
        ] {
            let error = sequence.validate().unwrap_err();
            assert!(matches!(error, SequenceError::InvalidName { .. }));
            assert!(error.to_string().contains(expected), "{error}");
        }
        assert!(Sequence::new("é".repeat(100)).validate().is_ok());
        let error = Sequence::new("r").reset_value(1).validate().unwrap_err();
        assert!(matches!(error, SequenceError::InvalidReset { .. }));
        assert!(error.to_string().contains("\"r\""), "{error}");
    }
}
