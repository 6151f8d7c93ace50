//! The migration that creates the `sequences` table used by `sequences-core`.
//!
//! Add it to your own migrator, before the migrations of the tables it numbers:
//!
//! ```
//! use sea_orm_migration::prelude::*;
//!
//! pub struct Migrator;
//!
//! #[async_trait::async_trait]
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!         vec![
//!             Box::new(sequences_migration::Migration),
//!             // Box::new(m20260101_000001_create_invoice::Migration),
//!         ]
//!     }
//! }
//! ```
//!
//! The table is `sequences (name VARCHAR(100) PRIMARY KEY, last BIGINT NOT NULL)`.
//! On MariaDB/MySQL the name column uses a binary, no-pad utf8mb4 collation, so
//! `Invoice`, `invoice` and `invoice ` are three sequences there too, as on
//! PostgreSQL and SQLite.
#![warn(missing_docs)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};
use sequences_core::entity::Column;

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
        let mut name = ColumnDef::new(Column::Name);
        let length = sequences_core::MAX_NAME_LENGTH;
        if manager.get_database_backend() == DbBackend::MySql {
            // The charset and collation must come before NOT NULL in MySQL's grammar.
            let collation = mysql_binary_collation(manager).await?;
            name.custom(Alias::new(format!("VARCHAR({length}) {collation}")));
        } else {
            name.string_len(length as u32);
        }
        name.not_null().primary_key();
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
