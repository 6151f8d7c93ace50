//! One transaction that moves a counter many times (a bulk load, the
//! triggers over `INSERT ... SELECT`, the derive in a loop), on the three
//! databases.
//!
//! On PostgreSQL every write of the counter row leaves a version of it
//! until the transaction ends, so the lookup by name grew with each write;
//! the allocation now goes to the version this transaction wrote last by
//! its TID, remembered in a transaction-local setting (`sequences-core`'s
//! `sql::hot`), and falls back to the lookup by name whenever that finds
//! nothing. These tests prove the numbers stay exact through everything
//! that can make the remembered TID wrong: savepoints rolled back and
//! released, administration of the row in the same transaction, two names
//! sharing one setting, another table's row, a waiting writer; and that the
//! TID is used (no index scan of `sequences` per allocation).

use sea_orm::prelude::Date;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, Statement, TransactionTrait,
};
use sequences_core::{Sequence, SequenceError};
use sequences_tests::entities::{db_chained, db_invoice};
use sequences_tests::{assert_gapless, connect_all, try_execute as raw, unique_name};

/// PostgreSQL: index scans of `sequences` in this transaction so far.
async fn index_scans(txn: &DatabaseTransaction) -> i64 {
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COALESCE(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'sequences'",
        ))
        .await
        .unwrap()
        .expect("sequences is a table");
    row.try_get_by_index::<i64>(0).unwrap()
}

/// PostgreSQL: the setting that remembers `name`'s row (the library's
/// `hot_slot`), and the row's TID now, as text.
async fn remembered_and_actual(txn: &DatabaseTransaction, name: &str) -> (String, String) {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT COALESCE(current_setting('sequences.hot_' || (get_byte(sha256(convert_to($1, 'UTF8')), 0) * 4 + get_byte(sha256(convert_to($1, 'UTF8')), 1) / 64), true), ''), (SELECT ctid::text FROM sequences WHERE name = $1)",
            [name.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get_by_index(0).unwrap(),
        row.try_get_by_index(1).unwrap(),
    )
}

/// PostgreSQL: a name other than `name` whose remembered TID shares
/// `name`'s setting.
async fn sharing_the_setting(db: &impl ConnectionTrait, name: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT $1 || '-' || i FROM generate_series(1, 100000) i WHERE get_byte(sha256(convert_to($1 || '-' || i, 'UTF8')), 0) = get_byte(sha256(convert_to($1, 'UTF8')), 0) AND get_byte(sha256(convert_to($1 || '-' || i, 'UTF8')), 1) / 64 = get_byte(sha256(convert_to($1, 'UTF8')), 1) / 64 LIMIT 1",
            [name.into()],
        ))
        .await
        .unwrap()
        .expect("1,024 settings: one in 100,000 names shares it");
    row.try_get_by_index(0).unwrap()
}

#[tokio::test]
async fn one_transaction_moves_a_counter_hundreds_of_times_exactly() {
    for t in connect_all(2).await {
        let postgres = t.backend == sequences_tests::Backend::Postgres;
        let a = Sequence::new(unique_name("long-a"));
        // On PostgreSQL, a name whose TID is remembered in the same setting
        // as `a`'s: each overwrites the other's, so both fall back by name.
        let b = Sequence::new(if postgres {
            sharing_the_setting(&t.db, a.name()).await
        } else {
            unique_name("long-b")
        });
        let c = Sequence::new(unique_name("long-c"));
        let txn = t.db.begin().await.unwrap();
        let (mut next_a, mut next_b, mut next_c) = (1, 1, 1);
        for i in 0..120 {
            assert_eq!(a.next_value(&txn).await.unwrap(), next_a, "{t:?}");
            next_a += 1;
            if i % 3 == 0 {
                assert_eq!(b.next_value(&txn).await.unwrap(), next_b, "{t:?}");
                next_b += 1;
            }
            let values = c.next_values(&txn, 2).await.unwrap();
            assert_eq!(values, next_c..next_c + 2, "{t:?}");
            next_c += 2;
        }
        if postgres {
            // The TID is remembered, and used: a hundred more allocations
            // of one name scan no index of `sequences`.
            let (remembered, actual) = remembered_and_actual(&txn, c.name()).await;
            assert_eq!(remembered, actual, "{t:?}");
            let before = index_scans(&txn).await;
            for _ in 0..100 {
                assert_eq!(c.next_value(&txn).await.unwrap(), next_c, "{t:?}");
                next_c += 1;
            }
            assert_eq!(
                index_scans(&txn).await,
                before,
                "{t:?}: by name, not by TID"
            );
        }

        // A savepoint rolled back gives its values back, and the setting
        // goes back with the row.
        let savepoint = txn.begin().await.unwrap();
        for _ in 0..5 {
            a.next_value(&savepoint).await.unwrap();
            b.next_value(&savepoint).await.unwrap();
        }
        savepoint.rollback().await.unwrap();
        assert_eq!(a.next_value(&txn).await.unwrap(), next_a, "{t:?}");
        next_a += 1;
        assert_eq!(b.next_value(&txn).await.unwrap(), next_b, "{t:?}");
        next_b += 1;
        // ... released, it keeps them.
        let savepoint = txn.begin().await.unwrap();
        for _ in 0..3 {
            assert_eq!(a.next_value(&savepoint).await.unwrap(), next_a, "{t:?}");
            next_a += 1;
        }
        savepoint.commit().await.unwrap();
        assert_eq!(a.next_value(&txn).await.unwrap(), next_a, "{t:?}");

        // The row written by administration in the same transaction: the
        // next allocation sees it.
        a.set_last_value(&txn, 1000).await.unwrap();
        assert_eq!(a.next_value(&txn).await.unwrap(), 1001, "{t:?}");
        a.close(&txn).await.unwrap();
        assert!(
            matches!(a.next_value(&txn).await, Err(SequenceError::Closed { .. })),
            "{t:?}"
        );
        assert!(a.reopen(&txn).await.unwrap(), "{t:?}");
        assert_eq!(a.next_value(&txn).await.unwrap(), 1002, "{t:?}");
        // A bounded sequence's end, reached in the long transaction.
        let bounded = Sequence::new(c.name()).max_value(next_c + 1);
        assert_eq!(bounded.next_value(&txn).await.unwrap(), next_c, "{t:?}");
        assert_eq!(bounded.next_value(&txn).await.unwrap(), next_c + 1, "{t:?}");
        assert!(
            matches!(
                bounded.next_value(&txn).await,
                Err(SequenceError::Exhausted { .. })
            ),
            "{t:?}"
        );

        // A writer of another connection waits for the long transaction,
        // then continues from what it committed.
        let waiter = {
            let (db, a) = (t.db.clone(), a.clone());
            tokio::spawn(async move {
                let txn = db.begin().await.unwrap();
                let value = a.next_value(&txn).await.unwrap();
                let again = a.next_value(&txn).await.unwrap();
                txn.commit().await.unwrap();
                (value, again)
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        txn.commit().await.unwrap();
        assert_eq!(waiter.await.unwrap(), (1003, 1004), "{t:?}");
        assert_eq!(a.last_value(&t.db).await.unwrap(), Some(1004), "{t:?}");
        assert_eq!(b.last_value(&t.db).await.unwrap(), Some(next_b - 1));
    }
}

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

/// One `INSERT ... SELECT` of `rows` invoices over `journals`, numbered by
/// the triggers.
fn insert_select(backend: DbBackend, journals: &[String], rows: i64) -> String {
    let list = journals
        .iter()
        .map(|j| format!("'{j}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let count = journals.len();
    match backend {
        DbBackend::Postgres => format!(
            "INSERT INTO db_invoice (journal, issued_on) SELECT (ARRAY[{list}])[1 + k % {count}], DATE '2026-03-01' FROM generate_series(1, {rows}) k"
        ),
        DbBackend::MySql => format!(
            "INSERT INTO db_invoice (journal, issued_on) SELECT ELT(1 + seq % {count}, {list}), DATE '2026-03-01' FROM seq_1_to_{rows}"
        ),
        _ => format!(
            "WITH RECURSIVE g(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM g WHERE k < {rows}) INSERT INTO db_invoice (journal, issued_on) SELECT CASE k % {count} {} END, '2026-03-01' FROM g",
            journals
                .iter()
                .enumerate()
                .map(|(i, j)| format!("WHEN {i} THEN '{j}'"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[tokio::test]
async fn the_triggers_number_long_statements_and_savepoints_exactly() {
    for t in connect_all(2).await {
        let journals: Vec<String> = (0..3)
            .map(|i| unique_name(&format!("lt{i}")).replace('-', ""))
            .collect();
        let txn = t.db.begin().await.unwrap();
        let backend = t.db.get_database_backend();
        raw(&txn, &insert_select(backend, &journals, 600), vec![])
            .await
            .unwrap();
        let savepoint = txn.begin().await.unwrap();
        raw(&savepoint, &insert_select(backend, &journals, 90), vec![])
            .await
            .unwrap();
        savepoint.rollback().await.unwrap();
        raw(&txn, &insert_select(backend, &journals, 150), vec![])
            .await
            .unwrap();
        if t.backend == sequences_tests::Backend::Postgres {
            // The triggers remember the TID under the setting the library
            // computes for the name (one formula in Rust, one in SQL).
            let name: String = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT name FROM sequences WHERE name LIKE 'dbinv-' || $1 || '%'",
                    [journals[0].clone().into()],
                ))
                .await
                .unwrap()
                .expect("the journal's counter")
                .try_get_by_index(0)
                .unwrap();
            let (remembered, actual) = remembered_and_actual(&txn, &name).await;
            assert_eq!(remembered, actual, "{t:?} {name}");
        }
        // The derive, in the same transaction, after the triggers.
        for journal in &journals {
            db_invoice::ActiveModel {
                journal: sea_orm::ActiveValue::Set(journal.clone()),
                issued_on: sea_orm::ActiveValue::Set(date("2026-03-02")),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        for journal in &journals {
            let numbers: Vec<i64> = db_invoice::Entity::find()
                .filter(db_invoice::Column::Journal.eq(journal))
                .order_by_asc(db_invoice::Column::Number)
                .all(&t.db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.number.expect("numbered"))
                .collect();
            assert_gapless(&format!("{t:?} {journal}"), &numbers, 1, Some(251));
        }

        // Chained by the triggers (PostgreSQL and MariaDB): one long
        // statement over three companies, then the chain check.
        if t.backend == sequences_tests::Backend::Sqlite {
            continue;
        }
        let companies: Vec<i32> = (0..3).map(|_| sequences_tests::fresh_company()).collect();
        let txn = t.db.begin().await.unwrap();
        let (list, count) = (
            companies
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            companies.len(),
        );
        let sql = match backend {
            DbBackend::Postgres => format!(
                "INSERT INTO db_chained (company_id, customer, amount_cents, issued_on) SELECT (ARRAY[{list}])[1 + k % {count}], 'c' || k, k, DATE '2026-03-01' FROM generate_series(1, 300) k"
            ),
            _ => format!(
                "INSERT INTO db_chained (company_id, customer, amount_cents, issued_on) SELECT ELT(1 + seq % {count}, {list}), CONCAT('c', seq), seq, DATE '2026-03-01' FROM seq_1_to_300"
            ),
        };
        raw(&txn, &sql, vec![]).await.unwrap();
        txn.commit().await.unwrap();
        let report = db_chained::chain_audit().run(&t.db).await.unwrap();
        for company in companies {
            let chain = report
                .chains
                .iter()
                .find(|c| c.sequence == format!("dbchain-{company}"))
                .unwrap_or_else(|| panic!("{t:?}: {report:?}"));
            assert!(
                chain.breaks.is_empty() && chain.unnumbered == 0 && chain.links == 100,
                "{t:?}: {chain:?}"
            );
        }
    }
}
