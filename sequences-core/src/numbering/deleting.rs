//! Deleting: the stored row read under its lock, and each field's delete
//! policy (refuse, void, give back the last number) applied to it.

use super::{DaySource, Numbering, OnDelete, Prepared};
use crate::column_value::{self, Read, current};
use crate::reference::{self};
use crate::sql::Dialect;
use crate::{Sequence, SequenceError};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait};

impl<K: ColumnTrait> Numbering<K> {
    /// Applies every delete policy to the stored row; its values, per field.
    #[allow(clippy::type_complexity)]
    pub(super) async fn release_all<A, D>(
        &self,
        model: &A,
        db: &D,
    ) -> Result<Vec<Vec<(K, Option<sea_orm::Value>)>>, SequenceError>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let guarded: Vec<&Prepared<K>> = self
            .checked()?
            .into_iter()
            .filter(|field| field.on_delete != OnDelete::Allow)
            .collect();
        if guarded.is_empty() {
            return Ok(Vec::new());
        }
        // The stored row, read by primary key and locked until the delete
        // commits: the in-memory model may be stale (a deferred number
        // assigned at commit, an edit behind its back) or built by hand.
        // The values are copied out before any further statement: the
        // hook's future must stay `Send`, whatever the model type is.
        let Some(stored) = stored_row(model, db, guarded[0]).await? else {
            return Ok(Vec::new()); // no such row: nothing will be deleted
        };
        let snapshots: Vec<_> = guarded
            .iter()
            .map(|field| field.snapshot(|c| Some(ModelTrait::get(&stored, c))))
            .collect();
        for (field, values) in guarded.into_iter().zip(&snapshots) {
            field.release(values, db).await?;
        }
        Ok(snapshots)
    }
}

impl<K: ColumnTrait> Prepared<K> {
    /// The columns a delete policy reads: the number, the sequence name's
    /// placeholders, the date.
    pub(super) fn stored_columns(&self) -> impl Iterator<Item = K> + '_ {
        let date = match self.day {
            Some(DaySource::Column(column)) => Some(column),
            _ => None,
        };
        let hash = self.chain.as_ref().map(|(hash, _)| *hash);
        std::iter::once(self.column)
            .chain(self.name_columns.iter().copied())
            .chain(date)
            .chain(hash)
    }

    /// The stored values of [`stored_columns`](Self::stored_columns).
    pub(super) fn snapshot(
        &self,
        read: impl Fn(K) -> Option<sea_orm::Value>,
    ) -> Vec<(K, Option<sea_orm::Value>)> {
        self.stored_columns().map(|c| (c, read(c))).collect()
    }

    /// Applies the delete policy to a stored row's values (a
    /// [`snapshot`](Self::snapshot)), before the DELETE: refuses, records the
    /// void, or (`revert_if_last`) checks under the counter's lock that the
    /// number is the last; the counter moves back in
    /// [`give_back`](Self::give_back), once the DELETE went through.
    pub(super) async fn release<D: ConnectionTrait>(
        &self,
        values: &[(K, Option<sea_orm::Value>)],
        db: &D,
    ) -> Result<(), SequenceError> {
        let Some((sequence, name, value)) = self.numbered(values)? else {
            return Ok(());
        };
        let read = |column: K| {
            values
                .iter()
                .find(|(c, _)| c.as_str() == column.as_str())
                .and_then(|(_, value)| value.clone())
        };
        match self.on_delete {
            OnDelete::Refuse => Err(SequenceError::DeleteRefused {
                name,
                value,
                target: self.target.clone(),
            }),
            OnDelete::Void => {
                // A chained record's void keeps its hash, so the chain runs on.
                let hash = self.chain.as_ref().and_then(|(hash, _)| {
                    match column_value::text(read(*hash)) {
                        Read::Value(text) => Some(text),
                        _ => None,
                    }
                });
                match &self.chain_key {
                    // A keyed chain's void carries the key holder's authenticator.
                    Some(key) => {
                        sequence
                            .void_keyed(db, value, "deleted", hash.as_deref(), key)
                            .await
                    }
                    None => {
                        sequence
                            .void_link(db, value, "deleted", hash.as_deref())
                            .await
                    }
                }
            }
            OnDelete::RevertIfLast => sequence.check_last(db, value).await,
            OnDelete::Allow => Ok(()),
        }
    }

    /// After the DELETE went through: a `revert_if_last` number is given back
    /// (the counter moves back, still under the lock [`release`](Self::release)
    /// took). Before it, a DELETE the database refuses (a foreign key) would
    /// leave the row holding a number handed out again.
    pub(super) async fn give_back<D: ConnectionTrait>(
        &self,
        values: &[(K, Option<sea_orm::Value>)],
        db: &D,
    ) -> Result<(), SequenceError> {
        match self.numbered(values)? {
            Some((sequence, _, value)) if self.on_delete == OnDelete::RevertIfLast => {
                sequence.revert_last(db, value).await
            }
            _ => Ok(()),
        }
    }

    /// The sequence, its name and the number of a row's values; `None` when
    /// the number is NULL.
    pub(super) fn numbered(
        &self,
        values: &[(K, Option<sea_orm::Value>)],
    ) -> Result<Option<(Sequence, String, i64)>, SequenceError> {
        let read = |column: K| {
            values
                .iter()
                .find(|(c, _)| c.as_str() == column.as_str())
                .and_then(|(_, value)| value.clone())
        };
        let (value, parsed) = match &self.format {
            None => match column_value::integer(read(self.column)) {
                Read::Value(value) => (value, None),
                Read::Missing => return Ok(None),
                Read::Unsupported(what) => {
                    return Err(self.invalid(format!("the number is {what}")));
                }
            },
            Some(format) => {
                let text = match column_value::text(read(self.column)) {
                    Read::Value(text) => text,
                    Read::Missing => return Ok(None),
                    Read::Unsupported(what) => {
                        return Err(self.invalid(format!("the reference is {what}")));
                    }
                };
                let parsed = format.pattern.read(&text).ok_or_else(|| {
                    self.invalid(format!(
                        "cannot read the reference {text:?} back with the format {:?}, so \
                         its number is unknown",
                        format.text
                    ))
                })?;
                (parsed.value, Some(parsed))
            }
        };
        let base = self.name.fill_name(|name| {
            let column = self.column_of(name);
            self.text(read(column), column, name, &self.template)
        })?;
        let name = match self.period {
            None => base,
            Some(period) => {
                let day = match self.day {
                    Some(DaySource::Column(column)) => self.day(read(column), column)?,
                    _ => parsed
                        .as_ref()
                        .and_then(|parsed| reference::period_day(period, |n| parsed.part(n)))
                        .ok_or_else(|| {
                            self.invalid(
                                "a delete policy needs the period of the number, and its day \
                                 came from the database: give the field a `date` column"
                                    .into(),
                            )
                        })?,
                };
                period.sequence_name(&base, day)
            }
        };
        Ok(Some((self.sequence.renamed(&name), name, value)))
    }
}

/// The stored row of `model`, found by its primary key and locked
/// (`FOR UPDATE`; on SQLite, the database's write lock).
pub(super) async fn stored_row<K, A, D>(
    model: &A,
    db: &D,
    field: &Prepared<K>,
) -> Result<Option<<A::Entity as EntityTrait>::Model>, SequenceError>
where
    K: ColumnTrait,
    A: ActiveModelTrait<Entity: EntityTrait<Column = K>>,
    D: ConnectionTrait,
{
    use sea_orm::{Iterable, PrimaryKeyToColumn, QueryFilter, QuerySelect};
    let mut query = <A::Entity as EntityTrait>::find();
    for key in <<A::Entity as EntityTrait>::PrimaryKey as Iterable>::iter() {
        let column = key.into_column();
        let value = current(model, column).ok_or_else(|| {
            field.invalid(format!(
                "the row to delete has no `{}` (its primary key) set",
                column.as_str()
            ))
        })?;
        query = query.filter(column.eq(value));
    }
    if let Ok(dialect) = Dialect::of(db.get_database_backend())
        && dialect == Dialect::Sqlite
    {
        // SQLite has no row locks: take the database's write lock first, so
        // no other writer changes the row between this read and the delete.
        db.execute_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "DELETE FROM \"sequences\" WHERE 0",
        ))
        .await
        .map_err(|source| SequenceError::Database {
            name: field.target.clone(),
            source,
        })?;
    }
    query
        .lock_exclusive()
        .one(db)
        .await
        .map_err(|source| SequenceError::Database {
            name: field.target.clone(),
            source,
        })
}
