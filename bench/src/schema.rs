//! The benchmark's tables: an invoice numbered by the derive, the same
//! invoice without it (numbered by hand, or by its auto-increment key), one
//! numbered by the database's triggers, and the migrator that creates them
//! beside the bundled `sequences` table.

use sea_orm_migration::prelude::*;

/// Numbered by `#[derive(Gapless)]` from the sequence `bench-{series}`.
pub mod invoice {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "bench_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        #[gapless(sequence = "bench-{series}")]
        pub number: i64,
        pub amount_cents: i64,
    }
}

/// The same columns, no derive: the raw-SQL baseline sets `number` by hand,
/// the auto-increment baseline leaves it 0 and uses `id`.
pub mod plain {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_plain_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        pub number: i64,
        pub amount_cents: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Numbered at commit (`deferred`): NULL until the transaction's work is done.
pub mod deferred {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "bench_deferred_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        #[gapless(sequence = "bench-deferred-{series}", deferred, on_delete = "allow")]
        pub number: Option<i64>,
        pub amount_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// The deferred invoice's table without the derive, for the by-hand deferred
/// baseline: the same SeaORM insert, the number set by an UPDATE.
pub mod plain_deferred {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_deferred_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        pub number: Option<i64>,
        pub amount_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Numbered by the database: the same field as `invoice`'s (sequence
/// `bench-db-{series}`, its own counter), whose description
/// (`ActiveModel::gapless_numbering()`) is installed as triggers
/// (`Numbering::install_triggers`) at setup. The benchmark inserts with
/// `Entity::insert`, which runs no hook, the number omitted: the trigger
/// numbers the row. Nullable, as SQLite's trigger numbers the row just after
/// its insert (PostgreSQL's and MariaDB's number it before).
pub mod db_invoice {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "bench_db_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        #[gapless(sequence = "bench-db-{series}")]
        pub number: Option<i64>,
        pub amount_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Numbered after COMMIT (`after_commit`): inserted with its number NULL,
/// with no lock on the counter, and numbered by a [`sequences_core::Numberer`]
/// running beside the writers (sequence `bench-ac-{series}`).
pub mod ac_invoice {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "bench_ac_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        /// Indexed, as README asks: the numberer looks for `number IS NULL`.
        #[sea_orm(indexed)]
        #[gapless(sequence = "bench-ac-{series}", after_commit, on_delete = "allow")]
        pub number: Option<i64>,
        pub amount_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// The by-hand anchor of "insert (database)": the same columns, no derive,
/// numbered by the minimal trigger a user would write (take the counter row
/// `bench-hand-db-{series}`, set the number; no guards), created at setup.
pub mod hand_db_invoice {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_hand_db_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        pub number: Option<i64>,
        pub amount_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The by-hand anchor of "insert (after COMMIT)": rows inserted with their
/// number NULL and numbered by a loop written by hand (`measure::HandNumberer`)
/// from the counter row `bench-hand-ac-hot`.
pub mod hand_ac_invoice {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_hand_ac_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        #[sea_orm(indexed)]
        pub number: Option<i64>,
        pub amount_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The lines of every invoice scenario: the work a real invoice transaction
/// does after (immediate) or before (deferred) taking its number.
pub mod line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_line")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub invoice_id: i64,
        pub amount_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = sequences_migration::migrations();
        all.push(Box::new(CreateTables));
        all.push(Box::new(CreateLineTables));
        all.push(Box::new(CreateDatabaseNumberedTable));
        all.push(Box::new(CreateAfterCommitTable));
        all.push(Box::new(CreateHandTables));
        all
    }
}

struct CreateTables;

impl MigrationName for CreateTables {
    fn name(&self) -> &str {
        "m20261122_000200_create_bench_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        for mut table in [
            schema.create_table_from_entity(invoice::Entity),
            schema.create_table_from_entity(plain::Entity),
        ] {
            manager
                .create_table(table.if_not_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The invoice-with-lines scenario's tables.
struct CreateLineTables;

impl MigrationName for CreateLineTables {
    fn name(&self) -> &str {
        "m20261123_000201_create_bench_line_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateLineTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        for mut table in [
            schema.create_table_from_entity(deferred::Entity),
            schema.create_table_from_entity(line::Entity),
        ] {
            manager
                .create_table(table.if_not_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The table of the "insert (database)" scenario (its triggers are installed
/// by the benchmark's setup, after emptying it).
struct CreateDatabaseNumberedTable;

impl MigrationName for CreateDatabaseNumberedTable {
    fn name(&self) -> &str {
        "m20261202_000202_create_bench_db_invoice_table"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDatabaseNumberedTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(db_invoice::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

/// The table of the "insert (after COMMIT)" scenario.
struct CreateAfterCommitTable;

impl MigrationName for CreateAfterCommitTable {
    fn name(&self) -> &str {
        "m20261203_000203_create_bench_ac_invoice_table"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateAfterCommitTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(ac_invoice::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        for index in schema.create_index_from_entity(ac_invoice::Entity) {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}

/// The tables of the by-hand anchors of "insert (database)" and "insert
/// (after COMMIT)" (the trigger is created by the benchmark's setup).
struct CreateHandTables;

impl MigrationName for CreateHandTables {
    fn name(&self) -> &str {
        "m20261207_000204_create_bench_hand_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateHandTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = sea_orm::Schema::new(manager.get_database_backend());
        for mut table in [
            schema.create_table_from_entity(hand_db_invoice::Entity),
            schema.create_table_from_entity(hand_ac_invoice::Entity),
        ] {
            manager
                .create_table(table.if_not_exists().to_owned())
                .await?;
        }
        for index in schema.create_index_from_entity(hand_ac_invoice::Entity) {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}
