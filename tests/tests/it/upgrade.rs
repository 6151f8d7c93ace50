//! Upgrading a live database: one that has only the first bundled migration
//! and counters in use takes the second (closed periods, date order, voids)
//! and keeps every counter, on the three backends; and the second applies
//! only what is missing (run twice, after half a run, after an entity-first
//! `sync`).

use sea_orm::TransactionTrait;
use sea_orm_migration::prelude::*;
use sequences_core::{Day, Sequence, SequenceError};
use sequences_tests::{Scratch, connect_all, open};

/// What an application had before the register existed.
struct FirstOnly;

#[async_trait::async_trait]
impl MigratorTrait for FirstOnly {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(sequences_migration::Migration)]
    }
}

/// The same application, upgraded: the first migration stays first.
struct Upgraded;

#[async_trait::async_trait]
impl MigratorTrait for Upgraded {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        sequences_migration::migrations()
    }
}

#[tokio::test]
async fn the_second_migration_keeps_live_counters() {
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "sequences_upgrade").await;
        let db = open(&scratch.url, 2).await;
        FirstOnly::up(&db, None).await.unwrap();
        // Live counters, the old way (no `closed`, no `last_day` columns yet).
        db.execute_unprepared(
            "INSERT INTO sequences (name, last) VALUES ('invoice', 41), ('receipt', 7)",
        )
        .await
        .unwrap();

        Upgraded::up(&db, None).await.unwrap();
        assert_eq!(
            Upgraded::get_pending_migrations(&db).await.unwrap().len(),
            0,
            "{t:?}"
        );
        let invoice = Sequence::new("invoice");
        let state = invoice.state(&db).await.unwrap().unwrap();
        assert_eq!(
            (state.last, state.closed, state.last_day),
            (41, false, None),
            "{t:?}"
        );
        let txn = db.begin().await.unwrap();
        assert_eq!(invoice.next_value(&txn).await.unwrap(), 42, "{t:?}");
        assert_eq!(
            Sequence::new("receipt")
                .next_value_on(
                    &txn,
                    Day {
                        year: 2026,
                        month: 11,
                        day: 23
                    }
                )
                .await
                .unwrap(),
            8,
            "{t:?}"
        );
        invoice.void(&txn, 41, "upgrade test").await.unwrap();
        Sequence::new("receipt").close(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert!(
            Sequence::new("receipt").next_value(&db).await.is_err(),
            "{t:?}"
        );

        // And back down (the refusals' migration, the range's, the keyed chain's, then the
        // register's), then up again: the counters survive both ways.
        Upgraded::down(&db, Some(4)).await.unwrap();
        let error = invoice.next_value(&db).await.unwrap_err();
        assert!(
            matches!(&error, SequenceError::SchemaOutdated { name, .. } if name == invoice.name()),
            "{t:?}: {error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("sequences_migration::migrations()"),
            "{t:?}: a library ahead of its tables says which migration to apply: {error}"
        );
        Upgraded::up(&db, None).await.unwrap();
        assert_eq!(invoice.last_value(&db).await.unwrap(), Some(42), "{t:?}");
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// A working register: a number handed out, then voided, in one transaction.
async fn allocates_and_voids(db: &sea_orm::DatabaseConnection, context: &str) {
    let sequence = Sequence::new(sequences_tests::unique_name("upgrade"));
    let txn = db.begin().await.unwrap();
    let value = sequence.next_value(&txn).await.unwrap();
    assert_eq!(value, 1, "{context}");
    sequence.void(&txn, value, "upgrade test").await.unwrap();
    txn.commit().await.unwrap();
    let state = sequence.state(db).await.unwrap().unwrap();
    assert_eq!((state.last, state.closed), (1, false), "{context}");
}

/// The register migration's own `up`, outside the migrator's bookkeeping: as
/// a run that failed before it was recorded is run again.
async fn register_up(db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    sequences_migration::RegisterMigration
        .up(&SchemaManager::new(db))
        .await
}

#[tokio::test]
async fn the_register_migration_applies_only_what_is_missing() {
    for t in connect_all(2).await {
        // (a) Twice over the first migration's table, the second run finding
        // everything in place; then the migrator, which has recorded neither.
        let scratch = Scratch::new(&t, "sequences_upgrade_twice").await;
        let db = open(&scratch.url, 2).await;
        FirstOnly::up(&db, None).await.unwrap();
        for run in 0..2 {
            register_up(&db)
                .await
                .unwrap_or_else(|e| panic!("{t:?}: run {run}: {e}"));
        }
        Upgraded::up(&db, None)
            .await
            .unwrap_or_else(|e| panic!("{t:?}: the migrator after two runs: {e}"));
        allocates_and_voids(&db, &format!("{t:?}: twice")).await;
        db.close().await.unwrap();
        scratch.remove().await;

        // (b) A run that stopped halfway (MariaDB commits each ALTER TABLE):
        // `closed` and `last_day` are there, `chain_head` and the voids are not.
        let scratch = Scratch::new(&t, "sequences_upgrade_half").await;
        let db = open(&scratch.url, 2).await;
        FirstOnly::up(&db, None).await.unwrap();
        db.execute_unprepared("INSERT INTO sequences (name, last) VALUES ('invoice', 41)")
            .await
            .unwrap();
        for column in [
            "closed BOOLEAN NOT NULL DEFAULT FALSE",
            "last_day INTEGER NULL",
        ] {
            db.execute_unprepared(&format!("ALTER TABLE sequences ADD COLUMN {column}"))
                .await
                .unwrap();
        }
        Upgraded::up(&db, None)
            .await
            .unwrap_or_else(|e| panic!("{t:?}: after half a run: {e}"));
        assert_eq!(
            Sequence::new("invoice").last_value(&db).await.unwrap(),
            Some(41),
            "{t:?}"
        );
        allocates_and_voids(&db, &format!("{t:?}: half-applied")).await;
        // `down` too drops only what is there: here `chain_head` is gone already
        // (four steps: the refusals' migration, the range's, the keyed chain's, then the
        // register's).
        db.execute_unprepared("ALTER TABLE sequences DROP COLUMN chain_head")
            .await
            .unwrap();
        Upgraded::down(&db, Some(4))
            .await
            .unwrap_or_else(|e| panic!("{t:?}: down with a column gone: {e}"));
        Upgraded::up(&db, None).await.unwrap();
        allocates_and_voids(&db, &format!("{t:?}: down and up again")).await;
        db.close().await.unwrap();
        scratch.remove().await;

        // (c) Entity-first: `sync` made the tables, the migrations come later.
        let scratch = Scratch::new(&t, "sequences_upgrade_sync").await;
        let db = open(&scratch.url, 2).await;
        sequences_core::entity::register(db.get_schema_builder())
            .sync(&db)
            .await
            .unwrap_or_else(|e| panic!("{t:?}: sync: {e}"));
        Upgraded::up(&db, None)
            .await
            .unwrap_or_else(|e| panic!("{t:?}: the migrations after sync: {e}"));
        assert_eq!(
            Upgraded::get_pending_migrations(&db).await.unwrap().len(),
            0,
            "{t:?}"
        );
        allocates_and_voids(&db, &format!("{t:?}: after sync")).await;
        db.close().await.unwrap();
        scratch.remove().await;
    }
}
