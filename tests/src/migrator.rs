//! The migrations of the test databases: the bundled `sequences` table and the
//! tables the tests write numbered rows into.

use sea_orm_migration::prelude::*;

/// Applies `sequences_migration::Migration`, then the test tables.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(sequences_migration::Migration),
            Box::new(CreateTestRows),
        ]
    }
}

/// `test_rows (id, sequence_name, value)`: one row per committed value.
#[derive(DeriveMigrationName)]
struct CreateTestRows;

#[derive(DeriveIden)]
enum TestRows {
    Table,
    Id,
    SequenceName,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTestRows {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TestRows::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(TestRows::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TestRows::SequenceName)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(TestRows::Value).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }
}
