//! [`Numbering`]: which columns of an entity are numbered, from which
//! sequences, described at run time. `#[derive(Gapless)]` expands to one, so
//! the derive and a hand-written `before_save` share every rule and every
//! statement.

use std::fmt;
use std::sync::Arc;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityName, EntityTrait, ModelTrait,
};
use tracing::Span;

use crate::chain::{self, ChainKey};
use crate::column_value::{self, Holder, Int, Read, capped, column_cap, current, out_of_range};
use crate::deferred::{self, Pending, PendingDay};
use crate::dialect::Dialect;
use crate::fill::{self, Requests};
use crate::period::{Day, Period, Zone};
use crate::reference::{self, Pattern};
use crate::{Sequence, SequenceError, trace};
use sequences_template::Template;
use sequences_template::rules::{self, Facts, FieldSpec, IntType, Kind, PeriodKind};

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

/// One numbered column and its options, for [`Numbering::field_with`].
///
/// ```
/// # mod invoice {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "invoice")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         pub journal: String,
/// #         pub issued_on: Date,
/// #         pub reference: String,
/// #         pub number: i64,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// use sequences_core::{NumberedField, Numbering, Period, Sequence};
///
/// let numbering = Numbering::new().field_with(
///     NumberedField::new(invoice::Column::Reference, Sequence::new("invoice-{journal}"))
///         .period(Period::Year)
///         .date(invoice::Column::IssuedOn)
///         .format("{journal}-{year}-{value:05}") // "SALES-2026-00001"
///         .raw_value(invoice::Column::Number),   // 1
/// );
/// ```
pub struct NumberedField<K: ColumnTrait> {
    column: K,
    sequence: Sequence,
    period: Option<Period>,
    date: Option<K>,
    format: Option<String>,
    raw_values: Vec<K>,
    chronological: bool,
    time_zone: Option<String>,
    on_delete: OnDelete,
    deferred: bool,
    chain: Option<(K, Vec<K>)>,
    chain_key: Option<ChainKey>,
}

/// What deleting a numbered row (`ActiveModel::delete`, which runs
/// `before_delete`) does to its number. `delete_many` and raw SQL run no
/// hooks: nothing stops them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OnDelete {
    /// The delete is refused ([`SequenceError::DeleteRefused`]): a numbered
    /// document is cancelled (a credit note), not deleted. The default: a
    /// number that vanishes is the gap an auditor asks about.
    #[default]
    Refuse,
    /// The delete goes through and the number is recorded void with the
    /// reason `deleted`, in the same transaction ([`Sequence::void`]): the
    /// gap is explained.
    Void,
    /// Only the sequence's last number may be deleted (checked under the row
    /// lock before the DELETE; [`SequenceError::NotLast`] otherwise), and once
    /// the DELETE went through (`after_delete`) the counter moves back by one,
    /// so the next document takes it again ([`Sequence::revert_last`]). Not
    /// for a chained field.
    RevertIfLast,
    /// Nothing checked, nothing recorded: the gap stays unexplained.
    Allow,
}

impl<K: ColumnTrait> NumberedField<K> {
    /// `column` takes its values from `sequence`, whose name may hold
    /// `{column}` placeholders (`"invoice-{company_id}"`).
    pub fn new(column: K, sequence: Sequence) -> Self {
        Self {
            column,
            sequence,
            period: None,
            date: None,
            format: None,
            raw_values: Vec::new(),
            chronological: false,
            time_zone: None,
            on_delete: OnDelete::default(),
            deferred: false,
            chain: None,
            chain_key: None,
        }
    }

    /// A tamper-evident chain (see [`crate::chain`]): string column `hash`
    /// receives a SHA-256 over the previous record's hash, the number, and
    /// the `covers` columns (integers, strings, dates), taken under the
    /// sequence's row lock. Costs two statements per sequence and fill.
    pub fn chain(mut self, hash: K, covers: impl IntoIterator<Item = K>) -> Self {
        self.chain = Some((hash, covers.into_iter().collect()));
        self
    }

    /// With [`chain`](Self::chain): the chain is keyed, an HMAC-SHA-256
    /// under `key` (see [`crate::chain`]), so rewriting it needs the key,
    /// which the application holds outside the database
    /// ([`ChainKey::from_env`], or bytes from a secret store). A missing or
    /// short key is [`SequenceError::InvalidNumbering`] at the fill, before
    /// any value is taken.
    pub fn chain_key(mut self, key: ChainKey) -> Self {
        self.chain_key = Some(key);
        self
    }

    /// The number is taken at the end of the transaction instead of at
    /// insert: the row is inserted with the column NULL (so it must be
    /// nullable, an `Option`), and [`transaction`](crate::transaction) or
    /// [`Retry::transaction`](crate::Retry::transaction) number it just
    /// before COMMIT, in the same transaction. The sequence's lock is then
    /// held for the commit only. Formats, periods and the register's checks
    /// apply at assignment; placeholders are read at insert.
    pub fn deferred(mut self) -> Self {
        self.deferred = true;
        self
    }

    /// Numbers follow the [`date`](Self::date) column: a document dated
    /// before the latest one already numbered in its sequence is refused with
    /// [`SequenceError::OutOfOrder`], nothing consumed (see
    /// [`Sequence::next_value_on`]).
    pub fn chronological(mut self) -> Self {
        self.chronological = true;
        self
    }

    /// The IANA time zone (`"Europe/Paris"`) in which a `DateTimeUtc` /
    /// `DateTimeWithTimeZone` date column, or the database's current time, is
    /// turned into a day: 23:30 UTC on 31 December is already the next year
    /// in Paris. An unknown name is [`SequenceError::InvalidNumbering`].
    pub fn time_zone(mut self, zone: impl Into<String>) -> Self {
        self.time_zone = Some(zone.into());
        self
    }

    /// What deleting a numbered row does (default [`OnDelete::Refuse`]).
    pub fn on_delete(mut self, policy: OnDelete) -> Self {
        self.on_delete = policy;
        self
    }

    /// One counter per period: the sequence is named `<name>@2026` (`@2026-03`,
    /// `@2026-03-15`), so a new period starts at the initial value. The day
    /// comes from [`date`](Self::date), or else from the database, in the
    /// same transaction.
    pub fn period(mut self, period: Period) -> Self {
        self.period = Some(period);
        self
    }

    /// The column whose day places the value in its period and prints
    /// `{year}`, `{month}`, `{day}`: a chrono `Date`, `DateTime`,
    /// `DateTimeUtc`, `DateTimeLocal` or `DateTimeWithTimeZone` (the day in
    /// the value's own offset).
    pub fn date(mut self, column: K) -> Self {
        self.date = Some(column);
        self
    }

    /// The column is a string reference printed with `format`: `{value}` or
    /// `{value:05}` (zero-padded), `{year}`, `{month}`, `{day}`, `{yy}`, and
    /// `{column}` of the model.
    pub fn format(mut self, format: impl Into<String>) -> Self {
        self.format = Some(format.into());
        self
    }

    /// With [`format`](Self::format): `column` (an integer column) also
    /// receives the raw value, unless the caller set it.
    pub fn raw_value(mut self, column: K) -> Self {
        self.raw_values.push(column);
        self
    }
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

    /// Applies every delete policy to the stored row; its values, per field.
    #[allow(clippy::type_complexity)]
    async fn release_all<A, D>(
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
        if insert {
            self.defer_many(std::slice::from_ref(&model), db).await?;
        }
        Ok(model)
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
            for field in fields.iter().filter(|f| f.deferred) {
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

    async fn fill_checked<A, D>(&self, mut models: Vec<A>, db: &D) -> Result<Vec<A>, SequenceError>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let fields = self.checked()?;
        let entity = entity_name::<K>();
        let mut requests = Requests::new(entity);
        // The database's day, asked once per fill and time zone.
        let mut today = fill::Today::default();
        let mut deferring = None;
        let mut expected = Vec::new();
        for (index, model) in models.iter().enumerate() {
            for (number, field) in fields.iter().enumerate() {
                if !model.is_not_set(field.column) {
                    continue;
                }
                if let Some(format) = &field.format {
                    for (name, column) in &format.fields {
                        field.text(current(model, *column), *column, name, &format.text)?;
                    }
                }
                if field.deferred {
                    // Checked now, numbered at commit (`after_save`, `defer_many`).
                    field.pending(&|c| current(model, c), Vec::new())?;
                    deferring.get_or_insert(field);
                    expected.push(field.target.as_str());
                    continue;
                }
                let day = match field.day {
                    None => None,
                    Some(DaySource::Column(column)) => {
                        Some(field.day(current(model, column), column)?)
                    }
                    Some(DaySource::Database) => {
                        Some(today.day(db, &field.target, field.zone.as_ref()).await?)
                    }
                };
                let base = field.name.fill_name(|name| {
                    let column = field.column_of(name);
                    field.text(current(model, column), column, name, &field.template)
                })?;
                let name = match (field.period, day) {
                    (Some(period), Some(day)) => period.sequence_name(&base, day),
                    _ => base,
                };
                requests.push(
                    index,
                    number,
                    field.column.as_str(),
                    field.sequence_named(name),
                    day,
                    field.chronological,
                )?;
            }
        }
        if let Some(field) = deferring {
            if !deferred::in_scope() {
                return Err(SequenceError::DeferredOutsideTransaction {
                    target: field.target.clone(),
                });
            }
            let inside =
                crate::in_transaction(db)
                    .await
                    .map_err(|source| SequenceError::Database {
                        name: field.target.clone(),
                        source,
                    })?;
            if !inside {
                return Err(SequenceError::NotInTransaction {
                    name: field.template.clone(),
                    target: field.target.clone(),
                });
            }
        }
        for target in expected {
            deferred::expect(target);
        }
        // Keys of keyed chains, read before anything is taken.
        let keys = fields
            .iter()
            .map(|field| field.key())
            .collect::<Result<Vec<_>, _>>()?;
        // A refusal of a second sequence (closed, out of date order, at the
        // end of its range) must give the first one's values back even if
        // the caller swallows the error and commits: such fills run in a
        // savepoint. One sequence refuses in its own statement, taking nothing.
        let guarded = requests.sequences() > 1;
        if guarded && !requests.in_transaction(db).await? {
            return Err(requests.not_in_transaction());
        }
        if !guarded {
            self.assign(&mut models, &fields, &keys, requests, db)
                .await?;
            return Ok(models);
        }
        savepoint(db, "SAVEPOINT sequences_fill", &fields[0].target).await?;
        match self.assign(&mut models, &fields, &keys, requests, db).await {
            Ok(()) => {
                savepoint(db, "RELEASE SAVEPOINT sequences_fill", &fields[0].target).await?;
                Ok(models)
            }
            Err(error) => {
                // A deadlock or a lost connection may have ended the whole
                // transaction (and its savepoint) already: the original
                // error is the one to report either way.
                if savepoint(
                    db,
                    "ROLLBACK TO SAVEPOINT sequences_fill",
                    &fields[0].target,
                )
                .await
                .is_ok()
                {
                    let _ =
                        savepoint(db, "RELEASE SAVEPOINT sequences_fill", &fields[0].target).await;
                }
                Err(error)
            }
        }
    }

    /// Takes the requested values and sets them (and chain hashes) on the models.
    async fn assign<A, D>(
        &self,
        models: &mut [A],
        fields: &[&Prepared<K>],
        keys: &[Option<Arc<[u8]>>],
        requests: Requests<'_>,
        db: &D,
    ) -> Result<(), SequenceError>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let allocated = requests
            .allocate(db)
            .await
            .map_err(|error| out_of_range(error, fields.iter().filter_map(|f| f.cap())))?;
        Span::current().record("values", allocated.len());
        // Chains: per field and sequence, in allocation order.
        let runs = fill::chain_runs(&allocated, |value| fields[value.field].chain.is_some());
        for value in allocated {
            let field = &fields[value.field];
            let model = &mut models[value.model];
            match &field.format {
                None => field.store(model, field.column, field.holder_int(), &value)?,
                Some(format) => {
                    let day = value.day.unwrap_or_default();
                    let text = format
                        .pattern
                        .render(value.value, day, field.period, |name| {
                            let column = format.column_of(name);
                            field.text(current(model, column), column, name, &format.text)
                        })?;
                    set(
                        model,
                        field.column,
                        sea_orm::Value::String(Some(text)),
                        field,
                    )?;
                    for &(column, int) in &field.raw_values {
                        if model.is_not_set(column) {
                            field.store(model, column, int, &value)?;
                        }
                    }
                }
            }
        }
        // Under the row lock the allocation took.
        for run in runs {
            let field = fields[run.field];
            let (hash, covers) = field.chain.as_ref().expect("chained");
            let links: Vec<chain::Link<'_>> = run
                .rows
                .iter()
                .map(|&(model, number)| chain::Link {
                    number,
                    covered: covers
                        .iter()
                        .map(|c| (c.as_str(), field.cover_text(current(&models[model], *c))))
                        .collect(),
                })
                .collect();
            let sequence = field.sequence.renamed(&*run.sequence);
            let hashes =
                chain::extend(db, sequence.name(), &links, keys[run.field].as_deref()).await?;
            for ((model, _), digest) in run.rows.iter().zip(hashes) {
                set(
                    &mut models[*model],
                    *hash,
                    sea_orm::Value::String(Some(digest)),
                    field,
                )?;
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

/// Where a field's day comes from.
#[derive(Debug, Clone, Copy)]
enum DaySource<K> {
    Column(K),
    Database,
}

/// A format, parsed, with the columns its placeholders read.
struct Format<K> {
    text: String,
    pattern: Pattern,
    fields: Vec<(String, K)>,
}

impl<K: Copy> Format<K> {
    fn column_of(&self, name: &str) -> K {
        column_named(&self.fields, name)
    }
}

/// A field, checked once when it is added to its numbering.
struct Prepared<K: ColumnTrait> {
    column: K,
    target: String,
    sequence: Sequence,
    template: String,
    name: Template,
    /// The placeholders of the sequence name and their columns.
    name_fields: Vec<(String, K)>,
    name_columns: Vec<K>,
    holder: Holder,
    period: Option<Period>,
    day: Option<DaySource<K>>,
    zone: Option<Zone>,
    chronological: bool,
    on_delete: OnDelete,
    deferred: bool,
    chain: Option<(K, Vec<K>)>,
    chain_key: Option<ChainKey>,
    format: Option<Format<K>>,
    raw_values: Vec<(K, Int)>,
}

/// The table of the entity `K` belongs to.
fn entity_name<K: ColumnTrait>() -> &'static str {
    K::EntityName::default().table_name()
}

/// What the rules know of a column: its type.
fn kind_of<K: ColumnTrait>(column: K) -> Kind {
    let column_type = column.def().get_column_type().clone();
    match Holder::of(&column_type) {
        Some(Holder::Integer(int)) => {
            Kind::Integer(IntType::named(int.type_name()).expect("an integer type"))
        }
        Some(Holder::Text) => Kind::Text,
        None if column_type == sea_orm::sea_query::ColumnType::Date => Kind::Date,
        None => Kind::Other,
    }
}

fn column_named<K: Copy>(fields: &[(String, K)], name: &str) -> K {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|&(_, column)| column)
        .expect("placeholders are resolved when the field is prepared")
}

impl<K: ColumnTrait> Prepared<K> {
    /// Describes the field to the rules of `sequences_template::rules` (the
    /// derive's rules too) and keeps what they checked. The column types are
    /// the facts only the runtime has; the rules using them are written there.
    fn new(field: NumberedField<K>) -> Result<Self, SequenceError> {
        let entity = entity_name::<K>();
        let target = fill::target(entity, field.column.as_str());
        let invalid = |reason: String| SequenceError::InvalidNumbering {
            target: target.clone(),
            reason,
        };
        #[cfg(not(feature = "chrono"))]
        if let Some(name) = &field.time_zone {
            return Err(invalid(format!(
                "time zone {name:?}: time zones need the `chrono` feature of sequences-core"
            )));
        }
        let facts = |name: &str| {
            K::from_str(name).ok().map(|column| Facts {
                kind: kind_of(column),
                numbered: false, // other fields are known in `Numbering::checked`
            })
        };
        let template = field.sequence.name().to_owned();
        let zone = field
            .time_zone
            .as_deref()
            .map(|name| (name, parse_zone(name)));
        let (period, fiscal_year_start) = match field.period {
            None => (None, None),
            Some(Period::Year) => (Some(PeriodKind::Year), None),
            Some(Period::Month) => (Some(PeriodKind::Month), None),
            Some(Period::Day) => (Some(PeriodKind::Day), None),
            Some(Period::FiscalYear { start_month }) => {
                (Some(PeriodKind::FiscalYear), Some(i64::from(start_month)))
            }
        };
        let mut spec = FieldSpec::new(kind_of(field.column), &template, &facts);
        spec.nullable = field.column.def().is_null();
        spec.initial_value = field.sequence.get_initial_value();
        spec.reset_value = field.sequence.get_reset_value();
        spec.max_value = field.sequence.get_max_value();
        spec.warn_at = field.sequence.get_warn_at();
        spec.period = period;
        spec.fiscal_year_start = fiscal_year_start;
        spec.date = field.date.map(|column| column.as_str());
        spec.format = field.format.as_deref();
        spec.chronological = field.chronological;
        spec.time_zone = zone.as_ref().map(|(name, parsed)| (*name, parsed.is_ok()));
        spec.revert_if_last = field.on_delete == OnDelete::RevertIfLast;
        spec.deferred = field.deferred;
        spec.chain = field.chain.as_ref().map(|(hash, _)| hash.as_str());
        spec.chain_covers = field
            .chain
            .as_ref()
            .map(|(_, covers)| covers.iter().map(|c| c.as_str()).collect());
        spec.chain_key = field.chain_key.is_some();
        spec.raw_values = field.raw_values.iter().map(|c| c.as_str()).collect();
        let checked = rules::check(&spec).map_err(|broken| invalid(broken.message))?;

        // The rules checked that every name resolves and every type fits.
        let column = |name: &str| K::from_str(name).ok().expect("checked by the rules");
        let holder =
            Holder::of(field.column.def().get_column_type()).expect("checked by the rules");
        let name_fields: Vec<(String, K)> = checked
            .name
            .placeholders()
            .map(|n| (n.to_owned(), column(n)))
            .collect();
        let format = match (checked.format, &field.format) {
            (Some(parsed), Some(text)) => Some(Format {
                text: text.clone(),
                fields: parsed.fields().map(|n| (n.to_owned(), column(n))).collect(),
                pattern: Pattern::from_format(parsed),
            }),
            _ => None,
        };
        let day = checked.day.map(|day| match (day, field.date) {
            (rules::DaySource::Field, Some(column)) => DaySource::Column(column),
            _ => DaySource::Database,
        });
        let zone = zone
            .map(|(_, parsed)| parsed)
            .transpose()
            .map_err(invalid)?;
        let raw_values = field
            .raw_values
            .iter()
            .map(|&column| match Holder::of(column.def().get_column_type()) {
                Some(Holder::Integer(int)) => (column, int),
                _ => unreachable!("the rules checked raw values are integer columns"),
            })
            .collect();
        let name_columns = name_fields.iter().map(|&(_, column)| column).collect();
        Ok(Self {
            column: field.column,
            target,
            sequence: field.sequence,
            template,
            name: checked.name,
            name_fields,
            name_columns,
            holder,
            period: field.period,
            day,
            zone,
            chronological: field.chronological,
            on_delete: field.on_delete,
            deferred: field.deferred,
            chain: field.chain,
            chain_key: field.chain_key,
            format,
            raw_values,
        })
    }

    /// The key of a keyed chain, read now.
    fn key(&self) -> Result<Option<Arc<[u8]>>, SequenceError> {
        self.chain_key
            .as_ref()
            .map(|key| key.bytes().map_err(|reason| self.invalid(reason)))
            .transpose()
    }

    /// The narrowest integer column the value goes to, when narrower than
    /// `i64`: its type, whose maximum caps the sequence, so that a value
    /// that would not fit is refused by the allocation, not taken.
    fn cap(&self) -> Option<(String, Int)> {
        let numbered = match self.holder {
            Holder::Integer(int) => Some((self.target.clone(), int)),
            Holder::Text => None,
        };
        let entity = entity_name::<K>();
        column_cap(
            numbered.into_iter().chain(
                self.raw_values
                    .iter()
                    .map(|&(column, int)| (fill::target(entity, column.as_str()), int)),
            ),
        )
    }

    /// The sequence of `name`, capped by the narrowest column.
    fn sequence_named(&self, name: String) -> Sequence {
        capped(self.sequence.renamed(name), self.cap().map(|(_, int)| int))
    }

    fn invalid(&self, reason: String) -> SequenceError {
        SequenceError::InvalidNumbering {
            target: self.target.clone(),
            reason,
        }
    }

    fn column_of(&self, name: &str) -> K {
        column_named(&self.name_fields, name)
    }

    fn holder_int(&self) -> Int {
        match self.holder {
            Holder::Integer(int) => int,
            Holder::Text => unreachable!("a text column always has a format"),
        }
    }

    fn missing(&self, template: &str, name: &str) -> SequenceError {
        SequenceError::MissingPlaceholder {
            template: template.to_owned(),
            field: name.to_owned(),
            target: self.target.clone(),
        }
    }

    /// The text of placeholder `name` (column `column`, whose value is
    /// `value`) of `template`.
    fn text(
        &self,
        value: Option<sea_orm::Value>,
        column: K,
        name: &str,
        template: &str,
    ) -> Result<String, SequenceError> {
        match column_value::text(value) {
            Read::Value(text) => Ok(text),
            Read::Missing => Err(self.missing(template, name)),
            Read::Unsupported(what) => Err(self.invalid(format!(
                "placeholder `{{{name}}}`: column `{}` is {what}",
                column.as_str()
            ))),
        }
    }

    /// The day of the date column `column`, whose value is `value`.
    fn day(&self, value: Option<sea_orm::Value>, column: K) -> Result<Day, SequenceError> {
        match column_value::day(value, self.zone.as_ref()) {
            Read::Value(day) => Ok(day),
            Read::Missing => Err(self.missing(
                self.format.as_ref().map_or(&self.template, |f| &f.text),
                column.as_str(),
            )),
            Read::Unsupported(what) => {
                Err(self.invalid(format!("date column `{}` is {what}", column.as_str())))
            }
        }
    }

    /// The text a chain covers for a column's value (`None` for NULL).
    fn cover_text(&self, value: Option<sea_orm::Value>) -> Option<String> {
        match column_value::text(value) {
            Read::Value(text) => Some(text),
            _ => None,
        }
    }

    /// A deferred number of the row `read` gives the columns of, with key
    /// `keys`: everything but the value (and a database day), checked now.
    fn pending(
        &self,
        read: &dyn Fn(K) -> Option<sea_orm::Value>,
        keys: Vec<(&'static str, sea_orm::Value)>,
    ) -> Result<Pending, SequenceError> {
        let base_name = self.name.fill_name(|name| {
            let column = self.column_of(name);
            self.text(read(column), column, name, &self.template)
        })?;
        let day = match self.day {
            None => PendingDay::None,
            Some(DaySource::Column(column)) => PendingDay::Known(self.day(read(column), column)?),
            Some(DaySource::Database) => PendingDay::Database(self.zone),
        };
        let format = match &self.format {
            None => None,
            Some(format) => {
                let fields = format
                    .fields
                    .iter()
                    .map(|(name, column)| {
                        Ok((
                            name.clone(),
                            self.text(read(*column), *column, name, &format.text)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, SequenceError>>()?;
                Some((format.pattern.clone(), format.text.clone(), fields))
            }
        };
        Ok(Pending {
            table: entity_name::<K>(),
            keys,
            target: self.target.clone(),
            column: self.column.as_str(),
            holder: self.holder,
            sequence: self.sequence.clone(),
            base_name,
            period: self.period,
            day,
            chronological: self.chronological,
            format,
            raw_values: self
                .raw_values
                .iter()
                .map(|&(column, int)| (column.as_str(), int))
                .collect(),
            chain: self.chain.as_ref().map(|(hash, covers)| {
                let covered = covers
                    .iter()
                    .map(|c| (c.as_str(), self.cover_text(read(*c))))
                    .collect();
                (hash.as_str(), covered)
            }),
            chain_key: self.key()?,
        })
    }

    /// The columns a delete policy reads: the number, the sequence name's
    /// placeholders, the date.
    fn stored_columns(&self) -> impl Iterator<Item = K> + '_ {
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
    fn snapshot(
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
    async fn release<D: ConnectionTrait>(
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
    async fn give_back<D: ConnectionTrait>(
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
    fn numbered(
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

    /// Stores the allocated value in integer column `column`.
    fn store<A: ActiveModelTrait<Entity: EntityTrait<Column = K>>>(
        &self,
        model: &mut A,
        column: K,
        int: Int,
        value: &fill::Allocated,
    ) -> Result<(), SequenceError> {
        let converted = fill::int_value(int, value, || {
            fill::target(entity_name::<K>(), column.as_str())
        })?;
        set(model, column, converted, self)
    }
}

/// Sets `column`; a model whose field type disagrees with its column type
/// (a `column_type` override) is refused, not panicked on.
fn set<K: ColumnTrait, A: ActiveModelTrait<Entity: EntityTrait<Column = K>>>(
    model: &mut A,
    column: K,
    value: sea_orm::Value,
    field: &Prepared<K>,
) -> Result<(), SequenceError> {
    model.try_set(column, value).map_err(|error| {
        field.invalid(format!(
            "cannot store the value in column `{}`: {error}",
            column.as_str()
        ))
    })
}

/// Runs a savepoint statement of a fill.
async fn savepoint<D: ConnectionTrait>(
    db: &D,
    sql: &str,
    target: &str,
) -> Result<(), SequenceError> {
    db.execute_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .map(drop)
    .map_err(|source| SequenceError::Database {
        name: target.to_owned(),
        source,
    })
}

/// An IANA time zone by name.
#[cfg(feature = "chrono")]
fn parse_zone(name: &str) -> Result<Zone, String> {
    name.parse::<Zone>().map_err(|_| {
        format!("unknown time zone {name:?}; use an IANA name such as \"Europe/Paris\"")
    })
}

/// Time zones need the `chrono` feature.
#[cfg(not(feature = "chrono"))]
fn parse_zone(name: &str) -> Result<Zone, String> {
    Err(format!(
        "time zone {name:?}: time zones need the `chrono` feature of sequences-core"
    ))
}

/// The stored row of `model`, found by its primary key and locked
/// (`FOR UPDATE`; on SQLite, the database's write lock).
async fn stored_row<K, A, D>(
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

/// The primary key of `model`: column names and values.
fn primary_key<M: ModelTrait>(model: &M) -> Vec<(&'static str, sea_orm::Value)> {
    use sea_orm::{IdenStatic, Iterable, PrimaryKeyToColumn};
    <<M::Entity as EntityTrait>::PrimaryKey as Iterable>::iter()
        .map(|key| {
            let column = key.into_column();
            (column.as_str(), model.get(column))
        })
        .collect()
}
