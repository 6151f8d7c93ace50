//! The application's migrator (in a Loco app, usually the `migration` crate):
//! the bundled migrations first, then the application's tables.

use sea_orm_migration::prelude::*;

mod m20261123_000001_invoices;

/// The migrator `create_app` converges the database with.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = sequences_migration::migrations();
        all.push(Box::new(m20261123_000001_invoices::Migration));
        all
    }
}
