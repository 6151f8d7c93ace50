//! Upgrading a live database: one that has only the first bundled migration
//! and counters in use takes the second (closed periods, date order, voids)
//! and keeps every counter, on the three backends.

use sea_orm::TransactionTrait;
use sea_orm_migration::prelude::*;
use sequences_core::{Day, Sequence};
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

        // And back down, then up again: the counters survive both ways.
        Upgraded::down(&db, Some(1)).await.unwrap();
        let error = invoice.next_value(&db).await.unwrap_err();
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
