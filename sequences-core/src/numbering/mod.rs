//! [`Numbering`]: which columns of an entity are numbered, from which
//! sequences, described at run time. `#[derive(Gapless)]` expands to one, so
//! the derive and a hand-written `before_save` share every rule and every
//! statement.

use sequences_template::rules::Moment;
use std::fmt;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ModelTrait};

use crate::column_value::current;
use crate::deferred::{self};
use crate::{Sequence, SequenceError, trace};
use sequences_template::rules::{self};

pub(crate) use crate::policy::OnDelete;

mod after_commit;
mod by_database;
mod deleting;
mod feed;
mod field;
mod filling;
mod prepared;

pub use field::NumberedField;
use prepared::{DaySource, Prepared, entity_name, primary_key};

/// The gapless numbering of an entity's columns, for entities whose files are
/// generated (`sea-orm-cli generate entity`, `cargo loco db entities`) and
/// cannot carry `#[derive(Gapless)]`: call it from a hand-written
/// `before_save`.
///
/// ```
/// # mod invoice {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "invoice")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         pub company_id: i32,
/// #         pub number: i64,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// use sea_orm::entity::prelude::*;
/// use sequences_core::{Numbering, Sequence};
///
/// #[async_trait::async_trait]
/// impl ActiveModelBehavior for invoice::ActiveModel {
///     async fn before_save<C: ConnectionTrait>(self, db: &C, insert: bool) -> Result<Self, DbErr> {
///         Numbering::new()
///             .field(invoice::Column::Number, Sequence::new("invoice-{company_id}"))
///             .before_save(self, db, insert)
///             .await
///     }
/// }
/// ```
///
/// Same rules as the derive:
/// - `{column}` in a sequence name (or a format) takes the value of that
///   column of the model (its snake_case field name or its column name):
///   integers, strings, booleans, characters, floats, chrono dates. A column
///   that is not set, or NULL, is [`SequenceError::MissingPlaceholder`],
///   raised before any value is taken.
/// - Only columns that are `NotSet` are numbered: a value the caller set is
///   kept. [`before_save`](Self::before_save) numbers on insert only.
/// - Outside a transaction the fill is refused before any value is taken
///   ([`SequenceError::NotInTransaction`]).
/// - The numbered column is an integer column (`i8` to `u64`; a value that
///   does not fit is [`SequenceError::ValueOutOfRange`]) or, with a
///   [`format`](NumberedField::format), a string column.
/// - A description that cannot work (a placeholder naming no column, a
///   format without `{value}`, a numbered text column without a format, a
///   format printing `{year}` with no date and no period) is
///   [`SequenceError::InvalidNumbering`], at the first fill, before any SQL.
///   The rules are the derive's own (`sequences_template::rules`), with the
///   same messages; only the type facts differ (column types here, Rust
///   types in the derive).
///
/// A `Numbering` holds no connection; building one is cheap, and keeping one
/// in a `static` (`std::sync::LazyLock`) checks it once.
pub struct Numbering<K: ColumnTrait> {
    fields: Vec<Result<Prepared<K>, SequenceError>>,
}

impl<K: ColumnTrait> Default for Numbering<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: ColumnTrait> fmt::Debug for Numbering<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|field| match field {
                Ok(prepared) => format!("{} <- {:?}", prepared.target, prepared.template),
                Err(error) => error.to_string(),
            })
            .collect();
        f.debug_struct("Numbering")
            .field("fields", &fields)
            .finish()
    }
}

impl<K: ColumnTrait> Numbering<K> {
    /// A numbering of no column yet.
    pub fn new() -> Self {
        Self { fields: Vec::new() }
    }

    /// Checks every field without touching the database, as the first fill
    /// does: [`SequenceError::InvalidNumbering`] for a description that
    /// cannot work. Call it to fail early (a test, or application start).
    pub fn validate(&self) -> Result<(), SequenceError> {
        self.checked().map(drop)
    }

    /// Numbers `column` from `sequence` (see [`NumberedField::new`]).
    pub fn field(self, column: K, sequence: Sequence) -> Self {
        self.field_with(NumberedField::new(column, sequence))
    }

    /// Numbers a column with options (period, date, format).
    pub fn field_with(mut self, field: NumberedField<K>) -> Self {
        self.fields.push(Prepared::new(field));
        self
    }

    /// What `ActiveModelBehavior::before_save` should return: on insert,
    /// the model with its numbers; on update, the model unchanged (updates
    /// never take a number).
    pub async fn before_save<A, D>(&self, model: A, db: &D, insert: bool) -> Result<A, DbErr>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        if insert {
            self.fill(model, db).await
        } else {
            Ok(model)
        }
    }

    /// What `ActiveModelBehavior::before_delete` should return: applies each
    /// numbered field's delete policy ([`OnDelete`], default
    /// [`Refuse`](OnDelete::Refuse)) to the stored row's number, in `db`'s
    /// transaction. The row is always read back by primary key and locked
    /// (`FOR UPDATE`; SQLite's write lock): the model may be stale or built
    /// by hand. A row whose number is NULL (never numbered) is deleted
    /// freely. The model returned carries the stored values, for
    /// [`after_delete`](Self::after_delete).
    pub async fn before_delete<A, D>(&self, model: A, db: &D) -> Result<A, DbErr>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let entity = entity_name::<K>();
        let span =
            tracing::info_span!("sequences.delete", entity, outcome = tracing::field::Empty,);
        let stored = trace::traced(&span, self.release_all(&model, db))
            .await
            .map_err(DbErr::from)?;
        // The stored values go on to `after_delete`, which gives a
        // `revert_if_last` number back once the DELETE went through.
        let mut model = model;
        for (column, value) in stored.into_iter().flatten() {
            if let Some(value) = value {
                model.try_set(column, value)?;
            }
        }
        Ok(model)
    }

    /// What `ActiveModelBehavior::after_delete` should return: once the
    /// DELETE went through, gives `revert_if_last` numbers back (the counter
    /// moves back by one, under the lock `before_delete` took). Call it from
    /// your own `after_delete` when you call [`before_delete`](Self::before_delete);
    /// without it, a `revert_if_last` number stays a gap (which the audit
    /// reports), never a duplicate.
    pub async fn after_delete<A, D>(&self, model: A, db: &D) -> Result<A, DbErr>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let reverting: Vec<&Prepared<K>> = self
            .checked()?
            .into_iter()
            .filter(|field| field.on_delete == OnDelete::RevertIfLast)
            .collect();
        for field in reverting {
            let values = field.snapshot(|c| current(&model, c));
            field.give_back(&values, db).await.map_err(DbErr::from)?;
        }
        Ok(model)
    }

    /// Gives every `NotSet` numbered column of `model` the next value of its
    /// sequence, through `db`, which must be a transaction.
    pub async fn fill<A, D>(&self, model: A, db: &D) -> Result<A, DbErr>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let mut models = self.fill_many(vec![model], db).await?;
        Ok(models.pop().expect("one model in, one model out"))
    }

    /// [`fill`](Self::fill) for a batch, with one statement per distinct
    /// sequence (a looping sequence: one per value), for `insert_many` and
    /// `Entity::insert(..).exec(..)`, which run no hooks. Values follow the
    /// order of `models`.
    pub async fn fill_many<A, D>(&self, models: Vec<A>, db: &D) -> Result<Vec<A>, DbErr>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let entity = entity_name::<K>();
        let span = tracing::info_span!(
            "sequences.fill",
            entity,
            models = models.len(),
            values = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        trace::traced(&span, self.fill_checked(models, db))
            .await
            .map_err(DbErr::from)
    }

    /// What `ActiveModelBehavior::after_save` should return: on insert,
    /// records the model's [`deferred`](NumberedField::deferred) fields that
    /// are NULL, to be numbered just before COMMIT by
    /// [`transaction`](crate::transaction) or [`Retry::transaction`](crate::Retry::transaction).
    pub async fn after_save<M, D>(&self, model: M, db: &D, insert: bool) -> Result<M, DbErr>
    where
        M: ModelTrait<Entity: EntityTrait<Column = K>>,
        D: ConnectionTrait,
    {
        if !insert {
            return Ok(model);
        }
        self.defer_many(std::slice::from_ref(&model), db).await?;
        self.read_database_numbers(model, db).await
    }

    /// The bulk path of deferred numbering: records rows already inserted
    /// (say by `insert_many(..).exec_with_returning(..)`, which runs no
    /// hooks) whose deferred fields are NULL, to be numbered at commit, in
    /// the order given. Outside the helpers,
    /// [`SequenceError::DeferredOutsideTransaction`].
    pub async fn defer_many<M, D>(&self, models: &[M], _db: &D) -> Result<(), DbErr>
    where
        M: ModelTrait<Entity: EntityTrait<Column = K>>,
        D: ConnectionTrait,
    {
        let fields = self.checked()?;
        for model in models {
            for field in fields.iter().filter(|f| f.moment == Moment::AtCommit) {
                let value = ModelTrait::get(model, field.column);
                if value != value.as_null() {
                    continue; // numbered already (set by the caller)
                }
                let keys = primary_key(model);
                let pending = field.pending(&|c| Some(ModelTrait::get(model, c)), keys)?;
                deferred::push(pending)?;
            }
        }
        Ok(())
    }

    /// Every field, checked, or the first error.
    fn checked(&self) -> Result<Vec<&Prepared<K>>, SequenceError> {
        let fields: Vec<&Prepared<K>> = self
            .fields
            .iter()
            .map(|field| field.as_ref().map_err(Clone::clone))
            .collect::<Result<_, _>>()?;
        // A placeholder must read a column the caller sets, not one this
        // numbering fills: the rule's message, once every field is known.
        for field in &fields {
            let read =
                field
                    .name_columns
                    .iter()
                    .map(|column| (column, "sequence name"))
                    .chain(field.format.iter().flat_map(|format| {
                        format.fields.iter().map(|(_, column)| (column, "format"))
                    }));
            for (column, what) in read {
                if fields
                    .iter()
                    .any(|other| other.column.as_str() == column.as_str())
                {
                    return Err(
                        field.invalid(rules::numbered_placeholder_message(column.as_str(), what))
                    );
                }
            }
        }
        Ok(fields)
    }
}
