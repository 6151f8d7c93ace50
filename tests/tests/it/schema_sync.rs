//! Entity-first (SeaORM 2.0 `schema-sync`): the crate's tables are created by
//! `SchemaBuilder::sync` from `sequences_core::entity::register`, on a fresh
//! database of each backend, and names stay exact there too: `Invoice`,
//! `invoice` and `invoice ` are three sequences, on MariaDB included.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sequences_core::Sequence;
use sequences_tests::entities::ledger_entry;
use sequences_tests::{Backend, Scratch, connect_all, open};

#[tokio::test]
async fn sync_creates_tables_that_keep_names_apart() {
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "sequences_sync").await;
        let db = open(&scratch.url, 2).await;
        for _ in 0..2 {
            // Twice: a second sync finds everything in place.
            sequences_core::entity::register(db.get_schema_builder())
                .register(ledger_entry::Entity)
                .sync(&db)
                .await
                .unwrap_or_else(|e| panic!("{t:?}: sync: {e}"));
        }
        for (sequence, expected) in [
            ("Invoice", 1),
            ("invoice", 1),
            ("invoice ", 1),
            ("Invoice", 2),
        ] {
            assert_eq!(
                Sequence::new(sequence).next_value(&db).await.unwrap(),
                expected,
                "{t:?}: {sequence:?}"
            );
        }
        // The register's table is there too.
        let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
        Sequence::new("Invoice")
            .void(&txn, 1, "test")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        if t.backend == Backend::MySql {
            for (table, column) in [("sequences", "name"), ("sequence_voids", "sequence")] {
                let row = db
                    .query_one_raw(Statement::from_string(
                        DbBackend::MySql,
                        format!(
                            "SELECT COLLATION_NAME FROM information_schema.COLUMNS \
                             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' \
                             AND COLUMN_NAME = '{column}'"
                        ),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                let collation: String = row.try_get_by_index(0).unwrap();
                assert_eq!(collation, "utf8mb4_nopad_bin", "{t:?} {table}");
            }
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
}
