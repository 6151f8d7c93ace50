//! Gapless integer sequences for SeaORM 2.0: invoice numbers, receipts, case
//! files, legal registers. Committed values are exactly `initial..=last`, no
//! gap, no duplicate, under any concurrency and rollback; what cannot hold is
//! refused before a value is consumed. The rule: allocate and save in the same
//! transaction.
//!
//! # Where to start
//!
//! | to | start at |
//! |---|---|
//! | number a field of an entity you write | [`Gapless`] (`#[derive(Gapless)]`, `#[gapless(sequence = "invoice-{company_id}")]`) |
//! | number a field of a generated entity (sea-orm-cli, Loco), or describe it at run time | [`Numbering`] and [`NumberedField`] |
//! | choose when the number is given (on insert, at COMMIT, by the database, after COMMIT) | [`Moment`], [`guide::moments`]; [`transaction`], [`Numbering::install_triggers`], [`Numberer`] |
//! | use a counter by hand (django-sequences' API) | [`Sequence`] |
//! | keep a legal register (voids, delete policies, date order, closing) | [`OnDelete`], [`Sequence::void`], [`Sequence::close`], [`guide::register`] |
//! | print references and count per period | [`Period`], [`FiscalYear`], [`Zone`], [`guide::formats`] |
//! | retry what the database asks to retry | [`Retry`], [`SequenceError::is_retryable`] |
//! | prove it on the data | [`Audit`], [`ChainAudit`], [`Checkpoint`] |
//! | operate it (list, show, close, void, audit, who holds a counter) | the `sequences` command (crate `sequences-cli`); [`list_sequences`], [`lock_holders`] |
//! | create the tables | `sequences_migration::migrations()`, or [`entity::register`] entity-first |
//!
//! The [`guide`] has one chapter per job, every example compiled. The
//! README holds the quickstart; the changes are in `CHANGELOG.md`.
#![warn(missing_docs)]

mod adopt;
mod audit;
pub mod chain;
mod column;
mod column_value;
mod counters;
mod deferred;
pub mod django;
pub mod entity;
mod error;
mod fill;
pub mod guide;
mod hash;
mod inventory;
mod numberer;
mod numbering;
mod period;
mod policy;
mod progress;
mod reference;
mod retry;
mod sequence;
mod session;
mod sql;
pub mod trace;
mod transaction;
mod triggers;

// Describing a numbered field (the derive, below, expands to these).
pub use numbering::{NumberedField, Numbering};
pub use period::{Day, FiscalYear, Period, Zone};
pub use policy::OnDelete;
pub use sequences_template::rules::Moment;

// Numbering at COMMIT, by the database, after COMMIT.
pub use numberer::Numberer;
pub use transaction::in_transaction;
pub use triggers::TriggerState;

// A counter by hand.
pub use adopt::Adoption;
pub use entity::{CounterTable, DJANGO_TABLE, MAX_NAME_LENGTH, TABLE_NAME};
pub use sequence::{Sequence, SequenceSettings};

// Errors and retries.
pub use error::{NotAdoptable, SequenceError};
pub use retry::{Retry, TransactionError, WorkFuture, is_retryable, transaction};

// Proving it.
pub use audit::{Audit, AuditReport, DateInversion, GroupAudit, PendingRows};
pub use chain::{BreakKind, ChainAudit, ChainBreak, ChainKey, ChainReport, ChainState, Checkpoint};
pub use column::{AuditColumn, NamedColumn};
pub use progress::Progress;

// Operating it.
pub use inventory::{LockHolder, SequenceInfo, list_sequences, lock_holders};

/// The README's examples, compiled and run as doctests (the README is the
/// crate's page on crates.io, not its documentation here).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Numbers fields of a SeaORM model from gapless sequences, on insert, inside
/// the caller's transaction.
///
/// ```
/// mod invoice {
///     use sea_orm::entity::prelude::*;
///     use sequences_core::Gapless;
///
///     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
///     #[sea_orm(table_name = "invoice")]
///     pub struct Model {
///         #[sea_orm(primary_key)]
///         pub id: i32,
///         pub journal: String,
///         pub company_id: Option<i32>,
///         #[gapless(sequence = "invoice-{journal}-{company_id}")]
///         pub number: i64,
///         #[gapless(sequence = "slot", initial_value = 0, reset_value = 60)]
///         pub slot: Option<u32>,
///     }
///
///     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
///     pub enum Relation {}
/// }
/// ```
///
/// Works with the 2.0 entity format (`#[sea_orm::model]`) and the classic one.
///
/// # Field options: `#[gapless(...)]`
/// - `sequence = "..."` (required): the sequence name. `{field}` takes the value of
///   another field of the model (integers, strings, booleans as `true`/`false`,
///   chrono dates; an `Option` field must be `Some`). With two placeholders
///   or more, `%` and the characters between placeholders are escaped
///   inside values (`%2D` for `-`), so two rows never share a counter by
///   accident; two placeholders with nothing between them are refused;
///   `{{` and `}}` are literal braces. A placeholder field that is not set at insert
///   is [`SequenceError::MissingPlaceholder`], raised before any value is taken.
/// - `initial_value = N`: the first value (default 1), used when the sequence is created.
/// - `reset_value = M`: loop back to `initial_value` after `M - 1`. Must be greater
///   than `initial_value`.
///
/// - `period = "year" | "month" | "day"`: one counter per period, named
///   `<sequence>@2026` (`@2026-03`, `@2026-03-15`); a new period starts at
///   `initial_value`.
/// - `date = "field"`: the day of the period, from a chrono date or datetime
///   field of the model; without it, a periodic field takes
///   the database's current date, in the same transaction.
/// - `format = "..."`: the field is a `String` (or `Option<String>`) reference:
///   `{value}` or `{value:05}` (zero-padded), `{year}`, `{month}`, `{day}`,
///   `{yy}`, and `{field}` of the model. A format must print `{value}` once and
///   every part of its period.
/// - `value_of = "field"` (alone): this integer field receives the raw value
///   of the formatted field it names.
/// - `period = "fiscal_year", fiscal_year_start = M`: one counter per fiscal
///   year starting with month `M`, named `<sequence>@FY2025`; the format
///   prints it with `{fy}` (`2025-26`), `{fy_start}` or `{fy_end}`.
/// - `time_zone = "Europe/Paris"`: the day of a UTC or offset datetime, and the
///   database's current time, are taken in that IANA zone.
/// - `chronological` (with `date`): a number dated before the latest one
///   already numbered in its sequence is refused
///   ([`SequenceError::OutOfOrder`]), nothing consumed.
/// - `on_delete = "refuse" | "void" | "revert_if_last" | "allow"`: what
///   `ActiveModel::delete` does to a numbered row (see [`OnDelete`]; default
///   `refuse`). A chained field cannot `revert_if_last`.
/// - `by_database`: the database numbers the field itself, its triggers
///   installed by a migration (`Numbering::install_triggers`,
///   `sequences_migration::numbered_by_database`): `before_save` leaves it
///   unset, and the model `insert` returns carries the number the database
///   gave (see [`NumberedField::by_database`]).
/// - `chain = "hash_field", chain_covers = "a, b"`: a hash chain (see
///   [`chain`]); `chain_key_env = "VAR"` keys it (HMAC-SHA-256) with the key
///   held in environment variable `VAR`, read at every fill.
///
/// Field types: `i32`, `i64`, `u32`, `u64` and `Option` of them; `String` and
/// `Option<String>` with `format`. A value that does not
/// fit the field is [`SequenceError::ValueOutOfRange`], never a truncation.
///
/// # What it generates
/// The derive checks the options at compile time and expands to a
/// [`Numbering`] (the runtime builder, `ActiveModel::gapless_numbering()`),
/// so both share one implementation:
/// - `ActiveModel::fill_gapless(self, &db)`: gives every `NotSet` numbered field the
///   next value of its sequence; fields the caller set are kept. Refuses with
///   [`SequenceError::NotInTransaction`] (as a `DbErr`) outside a transaction, before
///   any value is taken (see [`in_transaction`]).
/// - `ActiveModel::fill_gapless_many(models, &db)`: the same for a batch, one
///   statement per distinct sequence (a looping sequence: one per value), for
///   `insert_many` and `Entity::insert(..).exec(..)`, which run no hooks.
/// - `impl ActiveModelBehavior for ActiveModel`, whose `before_save` calls
///   `fill_gapless` on insert and nothing on update, whose
///   `before_delete` applies the delete policies to the stored row, and whose
///   `after_delete` gives a `revert_if_last` number back once the DELETE went
///   through.
///
/// # Your own `before_save`
/// Put `#[gapless(custom_behavior)]` on the struct: the derive then leaves
/// `ActiveModelBehavior` to you, and your hook calls the fill:
///
/// ```
/// mod note {
///     use sea_orm::entity::prelude::*;
///     use sequences_core::Gapless;
///
///     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
///     #[sea_orm(table_name = "note")]
///     #[gapless(custom_behavior)]
///     pub struct Model {
///         #[sea_orm(primary_key)]
///         pub id: i32,
///         pub title: String,
///         #[gapless(sequence = "note")]
///         pub number: i64,
///     }
///
///     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
///     pub enum Relation {}
///
///     #[async_trait::async_trait]
///     impl ActiveModelBehavior for ActiveModel {
///         async fn before_save<C>(mut self, db: &C, insert: bool) -> Result<Self, DbErr>
///         where
///             C: ConnectionTrait,
///         {
///             if let sea_orm::ActiveValue::Set(title) = &self.title {
///                 self.title = sea_orm::ActiveValue::Set(title.trim().to_owned());
///             }
///             if insert { self.fill_gapless(db).await } else { Ok(self) }
///         }
///     }
/// }
/// ```
///
/// Misuse (an unknown option, an unsupported type, a missing `sequence`, a
/// placeholder that names no field, `reset_value <= initial_value`) is a compile
/// error at your tokens.
#[cfg(feature = "derive")]
pub use sequences_derive::Gapless;

/// What `#[derive(Gapless)]` expands to names; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::{
        ChainKey, CounterTable, Moment, NumberedField, Numbering, OnDelete, Period, Sequence,
    };
    pub use sea_orm;
    pub use sea_orm::prelude::async_trait::async_trait;
}
