//! Reading the counter, closing and reopening it, moving it by hand,
//! deleting it: what an operator does.

use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, QuerySelect};

use crate::entity::{self, CounterTable};
use crate::error::SequenceError;
use crate::sql::Dialect;

use super::{Sequence, validate_name};

impl Sequence {
    /// The last value handed out, `None` before the first. Reads without a lock,
    /// so under concurrency it may be outdated by the time it is used.
    pub async fn last_value<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Option<i64>, SequenceError> {
        Ok(self.state(db).await?.map(|row| row.last))
    }

    /// The sequence's row (`last`, `closed`, `last_day`), `None` before the
    /// first allocation. A plain read, like [`last_value`](Self::last_value).
    pub async fn state<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Option<entity::Model>, SequenceError> {
        validate_name(&self.name)?;
        self.read_row(db, false)
            .await
            .map_err(|source| self.database_error(source))
    }

    /// The counter row, from the sequence's table (`lock`: under the row
    /// lock).
    async fn read_row<C: ConnectionTrait>(
        &self,
        db: &C,
        lock: bool,
    ) -> Result<Option<entity::Model>, sea_orm::DbErr> {
        if self.table() == CounterTable::Sequences {
            let query = entity::Entity::find_by_id(self.name.to_string());
            return if lock {
                query.lock_exclusive().one(db).await
            } else {
                query.one(db).await
            };
        }
        let dialect = Dialect::of(db.get_database_backend())?;
        match db
            .query_one_raw(dialect.counter_row(self.table(), &self.name, lock))
            .await?
        {
            Some(row) => entity::Model::from_query_result(&row, "").map(Some),
            None => Ok(None),
        }
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
        self.execute(db, |d| d.set_closed(&self.name, true, empty, self.table()))
            .await
            .map(drop)
    }

    /// Reopens a closed sequence. Returns whether the sequence exists.
    pub async fn reopen<C: ConnectionTrait>(&self, db: &C) -> Result<bool, SequenceError> {
        validate_name(&self.name)?;
        self.execute(db, |d| d.set_closed(&self.name, false, 0, self.table()))
            .await
            .map(|affected| affected > 0)
    }

    /// Runs one statement of the dialect; rows affected.
    pub(super) async fn execute<C: ConnectionTrait>(
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
                if let Some(lock) = dialect.lock_for_write(&self.name, self.table()) {
                    db.execute_raw(lock)
                        .await
                        .map_err(|source| self.classify(dialect, source, 0))?;
                }
                self.read_row(db, true)
                    .await
                    .map_err(|source| self.classify(dialect, source, 0))
            })
            .await?;
        Ok((dialect, row))
    }

    pub(super) fn not_in_transaction(&self, operation: &str) -> SequenceError {
        SequenceError::NotInTransaction {
            name: self.name.to_string(),
            target: operation.to_owned(),
        }
    }

    /// Deletes the sequence; the next allocation starts again at
    /// `initial_value`. Returns whether it existed.
    pub async fn delete<C: ConnectionTrait>(&self, db: &C) -> Result<bool, SequenceError> {
        validate_name(&self.name)?;
        let dialect =
            Dialect::of(db.get_database_backend()).map_err(|source| self.database_error(source))?;
        let result = db
            .execute_raw(dialect.delete_counter(self.table(), &self.name))
            .await
            .map_err(|source| self.database_error(source))?;
        Ok(result.rows_affected() > 0)
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
        if self.table() == CounterTable::Django && last < 0 {
            return Err(SequenceError::SharedTable {
                name: self.name.to_string(),
                reason: format!(
                    "{last} is negative, and django-sequences' `last` column holds no negative value"
                ),
            });
        }
        let (dialect, current) = self.lock_row(db, "Sequence::set_last_value").await?;
        match current {
            Some(row) if row.last > last && !force => Err(SequenceError::WouldGoBackwards {
                name: self.name.to_string(),
                last: row.last,
                requested: last,
            }),
            Some(row) if row.last == last => Ok(()),
            current => db
                .execute_raw(dialect.store_last(self.table(), &self.name, last, current.is_none()))
                .await
                .map(drop)
                .map_err(error),
        }
    }
}
