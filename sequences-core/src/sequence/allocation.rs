//! Taking values: one, several, on a day; the allocation statement and
//! the read of why it refused.

use std::ops::Range;

use sea_orm::{ConnectionTrait, DbErr};

use std::time::Instant;

use tracing::Span;

use crate::entity::CounterTable;
use crate::error::SequenceError;
use crate::error::database::ErrorKind;
use crate::period::Day;
use crate::sql::{Days, Dialect, Plan, Refused, Returning};
use crate::trace;

use super::Sequence;

impl Sequence {
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

    /// Runs `plan` and returns the new `last`, within the lock timeout if set.
    pub(super) async fn allocate<C: ConnectionTrait>(
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
    pub(super) async fn bounded<C: ConnectionTrait, T>(
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

    pub(super) async fn allocate_now<C: ConnectionTrait>(
        &self,
        db: &C,
        dialect: Dialect,
        plan: Plan,
        days: Days,
    ) -> Result<i64, SequenceError> {
        // MariaDB/MySQL read a counter of Django's table back after the
        // upsert: exact under the row lock, so only in a transaction.
        if dialect == Dialect::MySql
            && self.table() == CounterTable::Django
            && !crate::in_transaction(db)
                .await
                .map_err(|source| self.database_error(source))?
        {
            return Err(
                self.not_in_transaction("a counter of django-sequences' table on MariaDB/MySQL")
            );
        }
        if self.nowait
            && let Some(lock) = dialect.lock_nowait(&self.name, self.table())
        {
            db.query_one_raw(lock)
                .await
                .map_err(|source| self.classify(dialect, source, plan.count))?;
        }
        let range = self.declared_range();
        let statement =
            dialect.allocate(&self.name, plan.first, plan.step, days, range, self.table());
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
                Ok(result) if result.last_insert_id() != 0 => result.last_insert_id() as i64,
                // 0 in the OK packet: a true 0, or a trigger on the counter
                // table (the guards of a table shared with Django) cleared
                // it. A created row holds the plan's first `last` (as does
                // a loop that stays on its initial value)...
                Ok(result) if result.rows_affected() == 1 => plan.first,
                // ... `sequences` has no update trigger, so its 0 is true...
                Ok(_) if self.table() == CounterTable::Sequences => 0,
                // ... and Django's table (whose update trigger always clears
                // it) is read back under the row lock this transaction holds.
                Ok(_) => self
                    .state(db)
                    .await?
                    .map(|row| row.last)
                    .ok_or_else(|| self.overflow(plan.count))?,
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
    pub(super) async fn refusal<C: ConnectionTrait>(
        &self,
        db: &C,
        dialect: Dialect,
        plan: Plan,
        days: Days,
    ) -> SequenceError {
        let statement = dialect.refusal(&self.name, plan.step, days.first, self.table());
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

    pub(super) fn classify(&self, dialect: Dialect, source: DbErr, count: i64) -> SequenceError {
        match dialect.classify(&source) {
            ErrorKind::LockNotAvailable => SequenceError::LockNotAvailable {
                name: self.name.to_string(),
                source,
            },
            ErrorKind::Overflow => self.overflow(count),
            ErrorKind::SchemaOutdated | ErrorKind::Other => {
                SequenceError::of_database(&self.name, dialect.backend(), source)
            }
        }
    }

    pub(super) fn overflow(&self, count: impl TryInto<u64>) -> SequenceError {
        SequenceError::Overflow {
            name: self.name.to_string(),
            count: count.try_into().unwrap_or(u64::MAX),
        }
    }

    pub(super) fn database_error(&self, source: DbErr) -> SequenceError {
        SequenceError::Database {
            name: self.name.to_string(),
            source,
        }
    }
}
