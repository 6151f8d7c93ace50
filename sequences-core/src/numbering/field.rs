//! [`NumberedField`]: one numbered column and its options.

use super::OnDelete;
use crate::Sequence;
use crate::chain::ChainKey;
use crate::period::Period;
use sea_orm::ColumnTrait;
use sequences_template::rules::Moment;

/// One numbered column and its options, for [`Numbering::field_with`](crate::Numbering::field_with).
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
    pub(super) column: K,
    pub(super) sequence: Sequence,
    pub(super) period: Option<Period>,
    pub(super) date: Option<K>,
    pub(super) format: Option<String>,
    pub(super) raw_values: Vec<K>,
    pub(super) chronological: bool,
    pub(super) time_zone: Option<String>,
    pub(super) on_delete: OnDelete,
    /// The moments chosen, in order (one, or none: on insert; the rules
    /// refuse a second).
    pub(super) moments: Vec<Moment>,
    pub(super) chain: Option<(K, Vec<K>)>,
    pub(super) chain_key: Option<ChainKey>,
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
            moments: Vec::new(),
            chain: None,
            chain_key: None,
        }
    }

    /// The number is given after COMMIT: the row is inserted and committed
    /// with the column NULL (so it must be nullable), by any client, with no
    /// lock on the counter, and a numberer ([`Numbering::number_pending`](crate::Numbering::number_pending),
    /// the [`Numberer`](crate::Numberer) task, `sequences number --follow`)
    /// numbers the committed rows in batches, in the order they became
    /// visible. Everything else applies when the number is given: periods
    /// (from the row's date, or the database's date then), formats, date
    /// order (a row that would break it is left unnumbered and reported),
    /// closed periods, the chain. Writers never wait for each other.
    pub fn after_commit(self) -> Self {
        self.moment(Moment::AfterCommit)
    }

    /// When the number is given ([`Moment`]): what [`after_commit`](Self::after_commit),
    /// [`by_database`](Self::by_database) and [`deferred`](Self::deferred)
    /// choose, the derive's options of the same names. One moment per field:
    /// a second one is [`SequenceError::InvalidNumbering`](crate::SequenceError::InvalidNumbering) at the first fill.
    pub fn moment(mut self, moment: Moment) -> Self {
        if moment != Moment::OnInsert || !self.moments.is_empty() {
            self.moments.push(moment);
        }
        self
    }

    /// The database numbers the field itself: its triggers are installed
    /// ([`Numbering::install_triggers`](crate::Numbering::install_triggers), from a migration), so `before_save`
    /// and the fills leave it unset and the INSERT saves one round trip. The
    /// model `ActiveModel::insert` returns carries the number the database
    /// gave: `after_save` reads it back where the database does not return
    /// it (SQLite), and refuses a row that came back unnumbered (the
    /// triggers are missing). A description the database cannot take is
    /// [`SequenceError::InvalidNumbering`](crate::SequenceError::InvalidNumbering) at the first fill.
    pub fn by_database(self) -> Self {
        self.moment(Moment::ByDatabase)
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
    /// short key is [`SequenceError::InvalidNumbering`](crate::SequenceError::InvalidNumbering) at the fill, before
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
    pub fn deferred(self) -> Self {
        self.moment(Moment::AtCommit)
    }

    /// Numbers follow the [`date`](Self::date) column: a document dated
    /// before the latest one already numbered in its sequence is refused with
    /// [`SequenceError::OutOfOrder`](crate::SequenceError::OutOfOrder), nothing consumed (see
    /// [`Sequence::next_value_on`]).
    pub fn chronological(mut self) -> Self {
        self.chronological = true;
        self
    }

    /// The IANA time zone (`"Europe/Paris"`) in which a `DateTimeUtc` /
    /// `DateTimeWithTimeZone` date column, or the database's current time, is
    /// turned into a day: 23:30 UTC on 31 December is already the next year
    /// in Paris. An unknown name is [`SequenceError::InvalidNumbering`](crate::SequenceError::InvalidNumbering).
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
