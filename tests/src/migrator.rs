//! The migrations of the test databases: the bundled `sequences` table and the
//! tables the tests write numbered rows into.

use sea_orm_migration::prelude::*;

use crate::entities::{
    ac_doc, ac_receipt, chained_deferred, chained_doc, db_chained, db_deferred, db_doc, db_invoice,
    db_prop, db_receipt, db_slot, db_unguarded, deferred_invoice, deferred_line, document,
    failover_deferred, failover_invoice, fiscal_doc, keyed_doc, ledger_entry, proof_doc,
    register_doc, zoned_receipt,
};
use crate::generated::generated_invoice;

/// Applies `sequences_migration::migrations()`, then the test tables.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = sequences_migration::migrations();
        let tables: Vec<Box<dyn MigrationTrait>> = vec![
            Box::new(CreateTestRows),
            Box::new(CreateEntityTables),
            // The audit tests' table.
            Box::new(CreateEntityTable {
                name: "m20261122_000004_create_ledger_entry",
                table: |schema| schema.create_table_from_entity(ledger_entry::Entity),
            }),
            // The formats tests' table.
            Box::new(CreateEntityTable {
                name: "m20261122_000005_create_document",
                table: |schema| schema.create_table_from_entity(document::Entity),
            }),
            // The failover test's table.
            Box::new(CreateEntityTable {
                name: "m20261122_000006_create_failover_invoice",
                table: |schema| schema.create_table_from_entity(failover_invoice::Entity),
            }),
            // The generated entity numbered through `Numbering`.
            Box::new(CreateEntityTable {
                name: "m20261123_000007_create_generated_invoice",
                table: |schema| schema.create_table_from_entity(generated_invoice::Entity),
            }),
            // The register tests' tables.
            Box::new(CreateEntityTable {
                name: "m20261123_000008_create_register_doc",
                table: |schema| schema.create_table_from_entity(register_doc::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261123_000009_create_fiscal_doc",
                table: |schema| schema.create_table_from_entity(fiscal_doc::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261123_000010_create_zoned_receipt",
                table: |schema| schema.create_table_from_entity(zoned_receipt::Entity),
            }),
            // The deferred numbering tests' tables.
            Box::new(CreateEntityTable {
                name: "m20261123_000011_create_deferred_invoice",
                table: |schema| schema.create_table_from_entity(deferred_invoice::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261123_000012_create_deferred_line",
                table: |schema| schema.create_table_from_entity(deferred_line::Entity),
            }),
            // The hash chain tests' tables.
            Box::new(CreateEntityTable {
                name: "m20261123_000013_create_chained_doc",
                table: |schema| schema.create_table_from_entity(chained_doc::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261123_000014_create_chained_deferred",
                table: |schema| schema.create_table_from_entity(chained_deferred::Entity),
            }),
            // The high-availability tests' deferred invoices.
            Box::new(CreateEntityTable {
                name: "m20261123_000015_create_failover_deferred",
                table: |schema| schema.create_table_from_entity(failover_deferred::Entity),
            }),
            // The proof tests' tables.
            Box::new(CreateEntityTable {
                name: "m20261201_000016_create_proof_doc",
                table: |schema| schema.create_table_from_entity(proof_doc::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261201_000017_create_keyed_doc",
                table: |schema| schema.create_table_from_entity(keyed_doc::Entity),
            }),
            // Numbered by the database: the tables, then their triggers.
            Box::new(CreateEntityTable {
                name: "m20261202_000018_create_db_invoice",
                table: |schema| schema.create_table_from_entity(db_invoice::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261202_000019_create_db_doc",
                table: |schema| schema.create_table_from_entity(db_doc::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261202_000020_create_db_slot",
                table: |schema| schema.create_table_from_entity(db_slot::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261202_000021_create_db_deferred",
                table: |schema| schema.create_table_from_entity(db_deferred::Entity),
            }),
            Box::new(
                sequences_migration::numbered_by_database(
                    db_invoice::ActiveModel::gapless_numbering(),
                )
                .named("m20261202_000022_db_invoice_numbered_by_database"),
            ),
            Box::new(
                sequences_migration::numbered_by_database(db_doc::ActiveModel::gapless_numbering())
                    .named("m20261202_000023_db_doc_numbered_by_database"),
            ),
            Box::new(
                sequences_migration::numbered_by_database(
                    db_slot::ActiveModel::gapless_numbering(),
                )
                .named("m20261202_000024_db_slot_numbered_by_database"),
            ),
            Box::new(DeferredByPostgres),
            Box::new(CreateEntityTable {
                name: "m20261202_000026_create_db_chained",
                table: |schema| schema.create_table_from_entity(db_chained::Entity),
            }),
            Box::new(ChainedByServers),
            Box::new(CreateEntityTable {
                name: "m20261202_000028_create_db_receipt",
                table: |schema| schema.create_table_from_entity(db_receipt::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261202_000029_create_db_unguarded",
                table: |schema| schema.create_table_from_entity(db_unguarded::Entity),
            }),
            Box::new(
                sequences_migration::numbered_by_database(
                    db_receipt::ActiveModel::gapless_numbering(),
                )
                .named("m20261202_000030_db_receipt_numbered_by_database"),
            ),
            Box::new(CreateEntityTable {
                name: "m20261202_000031_create_db_prop",
                table: |schema| schema.create_table_from_entity(db_prop::Entity),
            }),
            // Numbered after COMMIT.
            Box::new(CreateEntityTable {
                name: "m20261203_000032_create_ac_receipt",
                table: |schema| schema.create_table_from_entity(ac_receipt::Entity),
            }),
            Box::new(CreateEntityTable {
                name: "m20261203_000033_create_ac_doc",
                table: |schema| schema.create_table_from_entity(ac_doc::Entity),
            }),
        ];
        all.extend(tables);
        all
    }
}

/// `test_rows (id, sequence_name, value)`: one row per committed value.
struct CreateTestRows;

impl MigrationName for CreateTestRows {
    fn name(&self) -> &str {
        "m20261122_000002_create_test_rows"
    }
}

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

/// The tables of [`crate::entities`], from the entities themselves.
struct CreateEntityTables;

impl MigrationName for CreateEntityTables {
    fn name(&self) -> &str {
        "m20261122_000003_create_entity_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEntityTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use crate::entities::{invoice, note, ticket};
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        for mut table in [
            schema.create_table_from_entity(invoice::Entity),
            schema.create_table_from_entity(ticket::Entity),
            schema.create_table_from_entity(note::Entity),
        ] {
            manager
                .create_table(table.if_not_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// A table created from an entity, as a migration of its own name.
struct CreateEntityTable {
    name: &'static str,
    table: fn(&sea_orm::Schema) -> TableCreateStatement,
}

impl MigrationName for CreateEntityTable {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEntityTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        let mut table = (self.table)(&schema);
        manager.create_table(table.if_not_exists().to_owned()).await
    }
}

/// PostgreSQL alone numbers at COMMIT by itself: `db_deferred`'s triggers
/// there (the other databases refuse them, as a test checks).
struct DeferredByPostgres;

impl MigrationName for DeferredByPostgres {
    fn name(&self) -> &str {
        "m20261202_000025_db_deferred_numbered_by_postgres"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DeferredByPostgres {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        Ok(db_deferred::ActiveModel::gapless_numbering()
            .install_triggers(manager.get_connection())
            .await?)
    }
}

/// PostgreSQL and MariaDB chain records by themselves (SHA-256); SQLite
/// refuses, as a test checks.
struct ChainedByServers;

impl MigrationName for ChainedByServers {
    fn name(&self) -> &str {
        "m20261202_000027_db_chained_numbered_by_servers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ChainedByServers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DbBackend::Sqlite {
            return Ok(());
        }
        Ok(db_chained::ActiveModel::gapless_numbering()
            .install_triggers(manager.get_connection())
            .await?)
    }
}
