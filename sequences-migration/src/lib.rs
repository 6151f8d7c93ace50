//! The migrations that create the tables used by `sequences-core`.
//!
//! Add them to your own migrator, before the migrations of the tables they
//! number; [`migrations`] lists them all, in order:
//!
//! ```
//! use sea_orm_migration::prelude::*;
//!
//! pub struct Migrator;
//!
//! #[async_trait::async_trait]
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!         let mut all = sequences_migration::migrations();
//!         // all.push(Box::new(m20260101_000001_create_invoice::Migration));
//!         all
//!     }
//! }
//! ```
//!
//! 1. [`Migration`] creates `sequences (name VARCHAR(100) PRIMARY KEY, last
//!    BIGINT NOT NULL)`.
//! 2. [`RegisterMigration`] adds `closed`, `last_day` and `chain_head` to it
//!    (closed periods, date order, hash chains) and creates `sequence_voids
//!    (sequence, value, reason, voided_at, chain_hash)`. A database that has only the first keeps every counter:
//!    list the second after it (or switch to [`migrations`]). It adds only what
//!    is missing, so it also applies over tables made by an entity-first `sync`
//!    or left halfway by a failed run (MariaDB/MySQL do not roll back DDL).
//! 3. [`KeyedChainMigration`] adds `chain_seal` to `sequences` and
//!    `chain_auth` to `sequence_voids`: what a keyed chain (HMAC) writes, so
//!    that neither its head nor its voids can be forged without the key. Only
//!    keyed chains need it; until it is applied they fail with
//!    `SequenceError::SchemaOutdated`, which names it.
//! 4. [`RangeMigration`] adds `max_value` and `warn_at` to `sequences`: the
//!    range a sequence declares (`Sequence::max_value`, `warn_at`,
//!    `#[gapless(max_value = N, warn_at = M)]`), recorded by its allocations
//!    so that `sequences list` marks a sequence near the end of its range.
//!    Only sequences that declare a range need it (the same refusal until
//!    then).
//! 5. [`AfterCommitMigration`] creates `sequence_refusals`: the rows of an
//!    `after_commit` field a numberer could not number, and why. Only
//!    `after_commit` fields need it.
//!
//! On MariaDB/MySQL name columns use a binary, no-pad utf8mb4 collation, so
//! `Invoice`, `invoice` and `invoice ` are three sequences there too, as on
//! PostgreSQL and SQLite.
//!
//! [`DjangoSequencesMigration`] is not in [`migrations`]: list it after them
//! when a Django application numbers the same series with django-sequences
//! (it adopts Django's `sequences_sequence`).
#![warn(missing_docs)]

mod django;

pub use django::DjangoSequencesMigration;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, IdenStatic, Statement};
use sequences_core::entity::{Column, void};

/// Every migration of the crate, in order.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(Migration),
        Box::new(RegisterMigration),
        Box::new(KeyedChainMigration),
        Box::new(RangeMigration),
        Box::new(AfterCommitMigration),
    ]
}

/// Creates (`up`) or drops (`down`) the `sequences` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_create_sequences_table"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut name = name_column(manager, Column::Name).await?;
        name.primary_key();
        manager
            .create_table(
                Table::create()
                    .table(Alias::new(sequences_core::TABLE_NAME))
                    .if_not_exists()
                    .col(name)
                    .col(ColumnDef::new(Column::Last).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(sequences_core::TABLE_NAME))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

/// Adds `closed`, `last_day` and `chain_head` to `sequences` and creates `sequence_voids`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegisterMigration;

impl MigrationName for RegisterMigration {
    fn name(&self) -> &str {
        "m20261123_000002_sequences_register"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RegisterMigration {
    /// Adds only what is missing: the tables may come from an entity-first
    /// `sync`, or from a run that stopped halfway (MariaDB/MySQL commit each
    /// `ALTER TABLE` at once, so a failure leaves the columns added before it).
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = sequences_core::TABLE_NAME;
        add_missing(
            manager,
            [
                ColumnDef::new(Column::Closed)
                    .boolean()
                    .not_null()
                    .default(false)
                    .to_owned(),
                ColumnDef::new(Column::LastDay).integer().null().to_owned(),
                ColumnDef::new(Column::ChainHead)
                    .string_len(64)
                    .null()
                    .to_owned(),
            ]
            .map(|column| (table, column)),
        )
        .await?;
        let voids = sequences_core::entity::VOIDS_TABLE;
        if manager.has_table(voids).await? {
            return Ok(());
        }
        let sequence = name_column(manager, void::Column::Sequence).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new(voids))
                    .if_not_exists()
                    .col(sequence)
                    .col(ColumnDef::new(void::Column::Value).big_integer().not_null())
                    .col(ColumnDef::new(void::Column::Reason).text().not_null())
                    .col(
                        ColumnDef::new(void::Column::VoidedAt)
                            .string_len(24)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(void::Column::ChainHash)
                            .string_len(64)
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(void::Column::Sequence)
                            .col(void::Column::Value),
                    )
                    .to_owned(),
            )
            .await
    }

    /// Drops only what is there, for the same reasons.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(sequences_core::entity::VOIDS_TABLE))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        let table = sequences_core::TABLE_NAME;
        drop_present(
            manager,
            [Column::ChainHead, Column::LastDay, Column::Closed].map(|c| (table, c.as_str())),
        )
        .await
    }
}

/// Adds `sequences.chain_seal` and `sequence_voids.chain_auth`, the keyed
/// chain's authenticators of its head and of its voids.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyedChainMigration;

impl MigrationName for KeyedChainMigration {
    fn name(&self) -> &str {
        "m20261201_000003_keyed_chain"
    }
}

/// The columns of [`KeyedChainMigration`]: (table, column).
fn keyed_chain_columns() -> [(&'static str, &'static str); 2] {
    [
        (sequences_core::TABLE_NAME, "chain_seal"),
        (sequences_core::entity::VOIDS_TABLE, "chain_auth"),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for KeyedChainMigration {
    /// Adds only what is missing (see [`RegisterMigration`]).
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = keyed_chain_columns().map(|(table, column)| {
            let def = ColumnDef::new(Alias::new(column))
                .string_len(64)
                .null()
                .to_owned();
            (table, def)
        });
        add_missing(manager, columns).await
    }

    /// Drops only what is there.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_present(manager, keyed_chain_columns()).await
    }
}

/// Adds `sequences.max_value` and `sequences.warn_at`, a declared range as
/// its allocations record it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeMigration;

impl MigrationName for RangeMigration {
    fn name(&self) -> &str {
        "m20261202_000004_sequence_range"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RangeMigration {
    /// Adds only what is missing (see [`RegisterMigration`]).
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = RANGE_COLUMNS.map(|column| {
            let def = ColumnDef::new(Alias::new(column))
                .big_integer()
                .null()
                .to_owned();
            (sequences_core::TABLE_NAME, def)
        });
        add_missing(manager, columns).await
    }

    /// Drops only what is there.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_present(
            manager,
            RANGE_COLUMNS.map(|c| (sequences_core::TABLE_NAME, c)),
        )
        .await
    }
}

/// Creates (`up`) or drops (`down`) `sequence_refusals`: the rows of an
/// `after_commit` field a numberer could not number, and why. Only
/// `after_commit` fields need it: until it is applied, their numberer fails
/// with `SequenceError::SchemaOutdated`, which names it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AfterCommitMigration;

impl MigrationName for AfterCommitMigration {
    fn name(&self) -> &str {
        "m20261203_000005_sequence_refusals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AfterCommitMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm_migration::sea_orm::Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(sequences_core::entity::refusal::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(sequences_core::entity::REFUSALS_TABLE))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

/// The columns of [`RangeMigration`], on `sequences`.
const RANGE_COLUMNS: [&str; 2] = ["max_value", "warn_at"];

/// Adds each `(table, column)` that is not there yet, one statement per
/// column (SQLite alters one at a time): the tables may come from an
/// entity-first `sync`, or from a run that stopped halfway (MariaDB/MySQL
/// commit each `ALTER TABLE` at once).
async fn add_missing(
    manager: &SchemaManager<'_>,
    columns: impl IntoIterator<Item = (&str, ColumnDef)>,
) -> Result<(), DbErr> {
    for (table, column) in columns {
        if manager.has_column(table, column.get_column_name()).await? {
            continue;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drops each `(table, column)` that is there, for the same reasons.
async fn drop_present(
    manager: &SchemaManager<'_>,
    columns: impl IntoIterator<Item = (&str, &str)>,
) -> Result<(), DbErr> {
    for (table, column) in columns {
        if !manager.has_column(table, column).await? {
            continue;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// A `VARCHAR(100) NOT NULL` sequence name, with the binary collation on MariaDB/MySQL.
async fn name_column(
    manager: &SchemaManager<'_>,
    column: impl IntoIden,
) -> Result<ColumnDef, DbErr> {
    let mut name = ColumnDef::new(column);
    let length = sequences_core::MAX_NAME_LENGTH;
    if manager.get_database_backend() == DbBackend::MySql {
        // The charset and collation must come before NOT NULL in MySQL's grammar.
        let collation = mysql_binary_collation(manager).await?;
        name.custom(Alias::new(format!("VARCHAR({length}) {collation}")));
    } else {
        name.string_len(length as u32);
    }
    name.not_null();
    Ok(name)
}

/// A case-sensitive collation that does not ignore trailing spaces: the default
/// ones would make `Invoice` and `invoice ` the same primary key.
async fn mysql_binary_collation(manager: &SchemaManager<'_>) -> Result<String, DbErr> {
    let version: String = manager
        .get_connection()
        .query_one_raw(Statement::from_string(DbBackend::MySql, "SELECT VERSION()"))
        .await?
        .ok_or_else(|| DbErr::Migration("SELECT VERSION() returned no row".into()))?
        .try_get_by_index(0)?;
    let collation = if version.contains("MariaDB") {
        "utf8mb4_nopad_bin"
    } else if version.starts_with("5.") {
        // MySQL 5.7 has no NO PAD binary collation: trailing spaces still compare equal.
        "utf8mb4_bin"
    } else {
        "utf8mb4_0900_bin"
    };
    Ok(format!("CHARACTER SET utf8mb4 COLLATE {collation}"))
}

/// A migration that makes the database number and guard a table's fields
/// itself ([`Numbering::install_triggers`](sequences_core::Numbering::install_triggers)),
/// for every client: `up` installs (or replaces) the triggers, `down`
/// removes them.
///
/// ```
/// # mod invoice {
/// #     use sea_orm::entity::prelude::*;
/// #     use sequences_core::Gapless;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
/// #     #[sea_orm(table_name = "invoice")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         pub journal: String,
/// #         #[gapless(sequence = "invoice-{journal}")]
/// #         pub number: Option<i64>,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// use sea_orm_migration::prelude::*;
///
/// fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///     let mut all = sequences_migration::migrations();
///     // ... the migration that creates `invoice` ...
///     all.push(Box::new(
///         sequences_migration::numbered_by_database(invoice::ActiveModel::gapless_numbering())
///             .named("m20261202_000001_invoice_numbered_by_database"),
///     ));
///     all
/// }
/// ```
///
/// A changed description (a new format, another delete policy) is a new
/// migration, with a new name, that installs it again; the audit reports
/// triggers installed from an older description as outdated. A
/// `Numbering` built by hand is kept in a `static` (`std::sync::LazyLock`)
/// and passed as `&*NUMBERING`.
pub fn numbered_by_database<K>(
    numbering: &'static sequences_core::Numbering<K>,
) -> NumberedByDatabase<K>
where
    K: sea_orm_migration::sea_orm::ColumnTrait,
{
    let table = <K::EntityName as Default>::default();
    let table = sea_orm_migration::sea_orm::EntityName::table_name(&table).to_owned();
    NumberedByDatabase {
        name: format!("m_sequences_numbered_by_database_{table}"),
        numbering,
    }
}

/// What [`numbered_by_database`] returns: a migration for your migrator.
pub struct NumberedByDatabase<K: sea_orm_migration::sea_orm::ColumnTrait> {
    name: String,
    numbering: &'static sequences_core::Numbering<K>,
}

impl<K: sea_orm_migration::sea_orm::ColumnTrait> NumberedByDatabase<K> {
    /// The migration's name, as your migrator records it (default
    /// `m_sequences_numbered_by_database_<table>`): give each one its own,
    /// like any migration.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl<K: sea_orm_migration::sea_orm::ColumnTrait> MigrationName for NumberedByDatabase<K> {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl<K> MigrationTrait for NumberedByDatabase<K>
where
    K: sea_orm_migration::sea_orm::ColumnTrait + Send + Sync,
    K::EntityName: sea_orm_migration::sea_orm::EntityTrait<Column = K>,
{
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        Ok(self.numbering.install_triggers(db).await?)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        Ok(self.numbering.remove_triggers(db).await?)
    }
}
