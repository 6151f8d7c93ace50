//! The demo's migrations: the bundled ones, then its own.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = sequences_migration::migrations();
        all.push(Box::new(CreateInvoice));
        all.push(Box::new(CreatePlainInvoice));
        all.push(Box::new(AddInvoiceHash));
        all
    }
}

/// The hash chain's column, for a demo database made before it existed
/// (a new one has it from the entity already).
struct AddInvoiceHash;

impl MigrationName for AddInvoiceHash {
    fn name(&self) -> &str {
        "m20261123_000102_add_demo_invoice_hash"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddInvoiceHash {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("demo_invoice", "hash").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table("demo_invoice")
                    .add_column(ColumnDef::new("hash").string_len(64).null())
                    .to_owned(),
            )
            .await
    }
}

struct CreateInvoice;

impl MigrationName for CreateInvoice {
    fn name(&self) -> &str {
        "m20261122_000100_create_demo_invoice"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInvoice {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        let mut table = schema.create_table_from_entity(crate::invoice::Entity);
        manager.create_table(table.if_not_exists().to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("demo_invoice").to_owned())
            .await
    }
}

struct CreatePlainInvoice;

impl MigrationName for CreatePlainInvoice {
    fn name(&self) -> &str {
        "m20261122_000101_create_demo_plain_invoice"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePlainInvoice {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        let mut table = schema.create_table_from_entity(crate::invoice::plain::Entity);
        manager.create_table(table.if_not_exists().to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("demo_plain_invoice").to_owned())
            .await
    }
}
