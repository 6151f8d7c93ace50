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
use crate::column_value::{self, Holder, Int, Read, column_cap, current, out_of_range};
use crate::deferred::{self, Pending, PendingDay};
use crate::fill::{self, Requests};
use crate::period::{Day, Period, Zone};
use crate::reference::{self, Pattern};
use crate::sql::Dialect;
use crate::{Sequence, SequenceError, trace};
use sequences_template::Template;
use sequences_template::rules::{self, Facts, FieldSpec, Kind, PeriodKind};

pub(crate) use crate::policy::OnDelete;

mod after_commit;
mod by_database;
mod deleting;
mod filling;

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
    by_database: bool,
    after_commit: bool,
    chain: Option<(K, Vec<K>)>,
    chain_key: Option<ChainKey>,
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
            by_database: false,
            after_commit: false,
            chain: None,
            chain_key: None,
        }
    }

    /// The number is given after COMMIT: the row is inserted and committed
    /// with the column NULL (so it must be nullable), by any client, with no
    /// lock on the counter, and a numberer ([`Numbering::number_pending`],
    /// the [`Numberer`](crate::Numberer) task, `sequences number --follow`)
    /// numbers the committed rows in batches, in the order they became
    /// visible. Everything else applies when the number is given: periods
    /// (from the row's date, or the database's date then), formats, date
    /// order (a row that would break it is left unnumbered and reported),
    /// closed periods, the chain. Writers never wait for each other.
    pub fn after_commit(mut self) -> Self {
        self.after_commit = true;
        self
    }

    /// The database numbers the field itself: its triggers are installed
    /// ([`Numbering::install_triggers`], from a migration), so `before_save`
    /// and the fills leave it unset and the INSERT saves one round trip. The
    /// model `ActiveModel::insert` returns carries the number the database
    /// gave: `after_save` reads it back where the database does not return
    /// it (SQLite), and refuses a row that came back unnumbered (the
    /// triggers are missing). A description the database cannot take is
    /// [`SequenceError::InvalidNumbering`] at the first fill.
    pub fn by_database(mut self) -> Self {
        self.by_database = true;
        self
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
            for field in fields.iter().filter(|f| f.deferred && !f.by_database) {
                // (`after_commit` and `deferred` never go together: the rules refuse it.)
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
    time_zone_name: Option<String>,
    chronological: bool,
    on_delete: OnDelete,
    deferred: bool,
    by_database: bool,
    after_commit: bool,
    /// Why the database's triggers cannot take the field, whatever the
    /// database (`rules::database_refusal`).
    database_refusal: Option<String>,
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
        Some(Holder::Integer(int)) => Kind::Integer(int),
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
        spec.by_database = field.by_database;
        spec.after_commit = field.after_commit;
        spec.delete_guarded = field.on_delete != OnDelete::Allow;
        spec.chain = field.chain.as_ref().map(|(hash, _)| hash.as_str());
        spec.chain_covers = field
            .chain
            .as_ref()
            .map(|(_, covers)| covers.iter().map(|c| c.as_str()).collect());
        spec.chain_key = field.chain_key.is_some();
        spec.raw_values = field.raw_values.iter().map(|c| c.as_str()).collect();
        let checked = rules::check(&spec).map_err(|broken| invalid(broken.message))?;
        let database_refusal = rules::database_refusal(&spec).map(|broken| broken.message);

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
            time_zone_name: field.time_zone.clone(),
            chronological: field.chronological,
            on_delete: field.on_delete,
            deferred: field.deferred,
            by_database: field.by_database,
            after_commit: field.after_commit,
            database_refusal,
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
        self.sequence
            .renamed(name)
            .capped(self.cap().map(|(_, int)| int))
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
