//! Entity-first (SeaORM 2.0 `schema-sync`): the crate's table is created by
//! `SchemaBuilder::sync` from `sequences_core::entity::register`, on a fresh
//! database of each backend, and names stay exact there too: `Invoice`,
//! `invoice` and `invoice ` are three sequences, on MariaDB included.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sequences_core::Sequence;
use sequences_tests::entities::ledger_entry;
use sequences_tests::{Backend, connect_all, open};

/// A fresh database beside the test one (dropped by `drop_database`).
async fn create_database(admin: &DatabaseConnection, url: &str, name: &str) -> String {
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    let create = match admin.get_database_backend() {
        DbBackend::MySql => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
        _ => format!("CREATE DATABASE {name}"),
    };
    admin.execute_unprepared(&create).await.unwrap();
    let (base, _) = url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

async fn drop_database(admin: &DatabaseConnection, name: &str) {
    let sql = match admin.get_database_backend() {
        DbBackend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        _ => format!("DROP DATABASE IF EXISTS {name}"),
    };
    admin.execute_unprepared(&sql).await.unwrap();
}

#[tokio::test]
async fn sync_creates_a_table_that_keeps_names_apart() {
    for t in connect_all(2).await {
        let name = format!("sequences_sync_{}", std::process::id());
        let url = match t.backend {
            Backend::Sqlite => t.url.replace("test.db", "sync.db"),
            _ => create_database(&t.db, &t.url, &name).await,
        };
        let db = open(&url, 2).await;
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
        if t.backend == Backend::MySql {
            let row = db
                .query_one_raw(Statement::from_string(
                    DbBackend::MySql,
                    "SELECT COLLATION_NAME FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'sequences' \
                     AND COLUMN_NAME = 'name'",
                ))
                .await
                .unwrap()
                .unwrap();
            let collation: String = row.try_get_by_index(0).unwrap();
            assert_eq!(collation, "utf8mb4_nopad_bin", "{t:?}");
        }
        db.close().await.unwrap();
        if t.backend != Backend::Sqlite {
            drop_database(&t.db, &name).await;
        }
    }
}
