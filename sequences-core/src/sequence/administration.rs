//! Reading the counter, closing and reopening it, moving it by hand,
//! deleting it: what an operator does.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};

use crate::entity::{self};
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
}
