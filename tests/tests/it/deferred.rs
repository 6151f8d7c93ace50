//! Deferred numbering on the three databases: numbers taken just before
//! COMMIT by `sequences_core::transaction` / `Retry::transaction`, in
//! insertion order, with a fixed lock order, given back by every kind of
//! rollback (including a failure during assignment), refused outside the
//! helpers; and `lock_timeout`.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, IsolationLevel, QueryFilter, QueryOrder, Statement, TransactionTrait,
};
use sequences_core::{NumberedField, Numbering, Retry, Sequence, SequenceError};
use sequences_tests::entities::{deferred_invoice as invoice, deferred_line as line};
use sequences_tests::{Attempt, Backend, assert_gapless, connect_all, fresh_company, open};
use tokio::sync::Barrier;

fn new_invoice(company: i32) -> invoice::ActiveModel {
    invoice::ActiveModel {
        company_id: Set(company),
        ..Default::default()
    }
}

async fn numbers_of<C: ConnectionTrait>(db: &C, company: i32) -> Vec<i64> {
    invoice::Entity::find()
        .filter(invoice::Column::CompanyId.eq(company))
        .order_by_asc(invoice::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.number.expect("numbered at commit"))
        .collect()
}

#[tokio::test]
async fn numbers_are_taken_at_commit_in_insertion_order() {
    for t in connect_all(2).await {
        let company = fresh_company();
        let ids = sequences_core::transaction::<DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                let mut ids = Vec::new();
                for amount in [100, 200, 300] {
                    let saved = new_invoice(company).insert(txn).await?;
                    // Inside the transaction the number is not there yet, and
                    // the sequence has not been touched.
                    assert_eq!(saved.number, None);
                    assert_eq!(saved.reference, None);
                    line::ActiveModel {
                        invoice_id: Set(saved.id),
                        amount_cents: Set(amount),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    ids.push(saved.id);
                }
                let untouched = Sequence::new(format!("deferred-{company}"))
                    .last_value(txn)
                    .await?;
                assert_eq!(untouched, None);
                Ok(ids)
            })
        })
        .await
        .unwrap();
        let rows = invoice::Entity::find()
            .filter(invoice::Column::CompanyId.eq(company))
            .order_by_asc(invoice::Column::Id)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), ids, "{t:?}");
        assert_eq!(numbers_of(&t.db, company).await, [1, 2, 3], "{t:?}");
        let references: Vec<String> = rows.iter().map(|r| r.reference.clone().unwrap()).collect();
        assert!(
            references[0].starts_with(&format!("D{company}-20"))
                && references[0].ends_with("-0001")
                && references[2].ends_with("-0003"),
            "{t:?}: {references:?}"
        );
    }
}

#[tokio::test]
async fn a_deferred_insert_outside_the_helpers_is_refused_before_writing() {
    for t in connect_all(2).await {
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        let error = new_invoice(company).insert(&txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::DeferredOutsideTransaction { target })
                    if target == "deferred_invoice.number"),
            "{t:?}: {error}"
        );
        // The message says what to do.
        assert!(
            error.to_string().contains("sequences_core::transaction"),
            "{t:?}: {error}"
        );
        txn.commit().await.unwrap();
        assert!(numbers_of(&t.db, company).await.is_empty(), "{t:?}");
        // Inside the helper, through another connection than its transaction:
        // refused too (not in a transaction).
        let db = t.db.clone();
        let error = sequences_core::transaction::<DbErr, _, _, _>(&t.db, move |_txn| {
            let db = db.clone();
            Box::pin(async move {
                new_invoice(company).insert(&db).await?;
                Ok(())
            })
        })
        .await
        .unwrap_err();
        assert!(
            matches!(
                SequenceError::from_db_err(&error),
                Some(SequenceError::NotInTransaction { .. })
            ),
            "{t:?}: {error:?}"
        );
        assert!(numbers_of(&t.db, company).await.is_empty(), "{t:?}");
    }
}

/// A row given a number behind the helper's back (raw SQL in the same
/// transaction) is never numbered again: the UPDATE at COMMIT keeps only the
/// rows still NULL (`Dialect::is_null_by_key`), finds fewer rows than it
/// numbers, and the whole transaction is rolled back, its numbers given back.
/// Two rows go through the batch UPDATE, one row through the single one.
#[tokio::test]
async fn a_row_numbered_behind_the_helpers_back_is_not_numbered_again() {
    for t in connect_all(2).await {
        for (rows, expected, found) in [(2, 2, 1), (1, 1, 0)] {
            let company = fresh_company();
            let sequence = Sequence::new(format!("deferred-{company}"));
            let backend = t.db.get_database_backend();
            let error = sequences_core::transaction::<DbErr, _, _, _>(&t.db, |txn| {
                Box::pin(async move {
                    let mut last = None;
                    for _ in 0..rows {
                        last = Some(new_invoice(company).insert(txn).await?.id);
                    }
                    let sql = match backend {
                        DbBackend::Postgres => {
                            "UPDATE deferred_invoice SET number = 99 WHERE id = $1"
                        }
                        _ => "UPDATE deferred_invoice SET number = 99 WHERE id = ?",
                    };
                    txn.execute_raw(Statement::from_sql_and_values(backend, sql, [last.into()]))
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap_err();
            assert!(
                matches!(SequenceError::from_db_err(&error),
                    Some(SequenceError::DeferredRowsMissing { target, expected: e, found: f })
                        if target == "deferred_invoice.number" && *e == expected && *f == found),
                "{t:?}, {rows} rows: {error:?}"
            );
            assert_eq!(sequence.last_value(&t.db).await.unwrap(), None, "{t:?}");
            assert!(numbers_of(&t.db, company).await.is_empty(), "{t:?}");
        }
    }
}

#[tokio::test]
async fn every_rollback_gives_the_numbers_back() {
    for t in connect_all(2).await {
        let company = fresh_company();
        let sequence = Sequence::new(format!("deferred-{company}"));
        // The closure fails.
        let error = sequences_core::transaction::<Attempt, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                new_invoice(company).insert(txn).await?;
                Err::<(), _>(Attempt::RolledBack)
            })
        })
        .await
        .unwrap_err();
        assert!(matches!(error, Attempt::RolledBack), "{t:?}: {error}");
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), None, "{t:?}");

        // The assignment fails after the closure returned: a numbered row was
        // deleted behind the helper's back.
        let backend = t.db.get_database_backend();
        let error = sequences_core::transaction::<DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                new_invoice(company).insert(txn).await?;
                let gone = new_invoice(company).insert(txn).await?;
                let sql = match backend {
                    DbBackend::Postgres => "DELETE FROM deferred_invoice WHERE id = $1",
                    _ => "DELETE FROM deferred_invoice WHERE id = ?",
                };
                txn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [gone.id.into()],
                ))
                .await?;
                Ok(())
            })
        })
        .await
        .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::DeferredRowsMissing { target, expected: 2, found: 1 })
                    if target == "deferred_invoice.number"),
            "{t:?}: {error:?}"
        );
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), None, "{t:?}");
        assert!(numbers_of(&t.db, company).await.is_empty(), "{t:?}");

        // The assignment is refused: the sequence was closed meanwhile.
        let txn = t.db.begin().await.unwrap();
        sequence.close(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let error = sequences_core::transaction::<DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                new_invoice(company).insert(txn).await?;
                Ok(())
            })
        })
        .await
        .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::Closed { name }) if name == sequence.name()),
            "{t:?}: {error:?}"
        );
        assert!(numbers_of(&t.db, company).await.is_empty(), "{t:?}");
        assert!(sequence.reopen(&t.db).await.unwrap());

        // And then it works, from 1.
        sequences_core::transaction::<DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                new_invoice(company).insert(txn).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        assert_eq!(numbers_of(&t.db, company).await, [1], "{t:?}");
    }
}

/// Two transactions insert invoices of two companies in opposite orders,
/// both before either takes a number: at commit both take the two sequences
/// in name order, so neither deadlocks (taken at insert, they would).
/// PostgreSQL and MariaDB: SQLite has one writer, and no second transaction
/// to deadlock with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_insertion_orders_do_not_deadlock() {
    for t in connect_all(4).await {
        if !t.backend.has_row_locks() {
            continue;
        }
        let (a, b) = (fresh_company(), fresh_company());
        let barrier = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for order in [[a, b], [b, a]] {
            let (db, barrier) = (t.db.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                Retry::new()
                    .max_attempts(1)
                    .transaction::<DbErr, _, _, _>(&db, |txn| {
                        let barrier = barrier.clone();
                        Box::pin(async move {
                            new_invoice(order[0]).insert(txn).await?;
                            new_invoice(order[1]).insert(txn).await?;
                            // Both have inserted both rows before either commits.
                            barrier.wait().await;
                            Ok(())
                        })
                    })
                    .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap_or_else(|e| panic!("{t:?}: {e}"));
        }
        for company in [a, b] {
            // The transaction that commits first has 1 for both companies.
            let mut numbers = numbers_of(&t.db, company).await;
            numbers.sort_unstable();
            assert_eq!(numbers, [1, 2], "{t:?}");
        }
    }
}

/// Concurrent writers, invoices with lines, a third rolled back, through
/// `Retry` at each isolation level: gapless per company.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_rollbacks_stay_gapless() {
    for t in connect_all(8).await {
        let levels: &[Option<IsolationLevel>] = if t.backend.has_row_locks() {
            &[
                None,
                Some(IsolationLevel::RepeatableRead),
                Some(IsolationLevel::Serializable),
            ]
        } else {
            &[None]
        };
        for &level in levels {
            let companies = [fresh_company(), fresh_company()];
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let db = t.db.clone();
                tasks.push(tokio::spawn(async move {
                    let mut retry = Retry::new().max_attempts(200);
                    if let Some(level) = level {
                        retry = retry.isolation_level(level);
                    }
                    let mut rolled_back = 0;
                    for _ in 0..8 {
                        let (company, rollback) = {
                            let mut rng = rand::rng();
                            (companies[rng.random_range(0..2)], rng.random_bool(0.3))
                        };
                        let result = retry
                            .transaction::<Attempt, _, _, _>(&db, |txn| {
                                Box::pin(async move {
                                    let saved = new_invoice(company).insert(txn).await?;
                                    for amount in 1..=3 {
                                        line::ActiveModel {
                                            invoice_id: Set(saved.id),
                                            amount_cents: Set(amount),
                                            ..Default::default()
                                        }
                                        .insert(txn)
                                        .await?;
                                    }
                                    if rollback {
                                        return Err(Attempt::RolledBack);
                                    }
                                    Ok(())
                                })
                            })
                            .await;
                        match result {
                            Ok(()) => {}
                            Err(Attempt::RolledBack) => rolled_back += 1,
                            Err(error) => panic!("{error}"),
                        }
                    }
                    rolled_back
                }));
            }
            let mut rolled_back = 0;
            for task in tasks {
                rolled_back += task.await.unwrap();
            }
            for company in companies {
                let numbers = numbers_of(&t.db, company).await;
                let last = Sequence::new(format!("deferred-{company}"))
                    .last_value(&t.db)
                    .await
                    .unwrap();
                assert_gapless(&format!("{t:?} {level:?} {company}"), &numbers, 1, last);
            }
            assert!(rolled_back > 0, "{t:?}");
        }
    }
}

/// The bulk path: rows inserted by `insert_many` (no hooks), recorded for
/// numbering at commit, in the order given.
#[tokio::test]
async fn the_bulk_path_defers_too() {
    for t in connect_all(2).await {
        // The rows are read back (portable; `exec_with_returning` would do
        // where the database returns them).
        let company = fresh_company();
        sequences_core::transaction::<DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                invoice::Entity::insert_many((0..4).map(|_| new_invoice(company)))
                    .exec(txn)
                    .await?;
                let inserted = invoice::Entity::find()
                    .filter(invoice::Column::CompanyId.eq(company))
                    .order_by_asc(invoice::Column::Id)
                    .all(txn)
                    .await?;
                invoice::ActiveModel::defer_gapless_many(&inserted, txn).await
            })
        })
        .await
        .unwrap();
        assert_eq!(numbers_of(&t.db, company).await, [1, 2, 3, 4], "{t:?}");
    }
}

#[tokio::test]
async fn a_deferred_column_must_be_nullable() {
    use sequences_tests::generated::generated_invoice::Column;
    let numbering = Numbering::new()
        .field_with(NumberedField::new(Column::Number, Sequence::new("x")).deferred());
    let error = numbering.validate().unwrap_err();
    assert!(
        matches!(&error, SequenceError::InvalidNumbering { target, .. }
            if target == "generated_invoice.number"),
        "{error:?}"
    );
    // The message says what to do.
    assert!(error.to_string().contains("make it nullable"), "{error}");
}

/// `lock_timeout` bounds the wait for a held sequence, then fails with
/// `LockNotAvailable`, and leaves the session's own setting as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_timeout_bounds_the_wait() {
    for t in connect_all(2).await {
        let sequence = Sequence::new(format!("deferred-{}", fresh_company()));
        sequence.next_value(&t.db).await.unwrap();
        let holder = t.db.begin().await.unwrap();
        sequence.next_value(&holder).await.unwrap();
        // One connection, so the session whose setting is checked is the one that waited.
        let waiter_db = match t.backend {
            Backend::Sqlite => {
                let mut options = sea_orm::ConnectOptions::new(&t.url);
                options.max_connections(1).map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .busy_timeout(Duration::from_secs(60))
                });
                sea_orm::Database::connect(options).await.unwrap()
            }
            _ => open(&t.url, 1).await,
        };
        let setting = match t.backend {
            Backend::Postgres => "SHOW lock_timeout",
            Backend::MySql => "SELECT CAST(@@SESSION.innodb_lock_wait_timeout AS CHAR)",
            Backend::Sqlite => "PRAGMA busy_timeout",
        };
        let read_setting = |db: sea_orm::DatabaseConnection| async move {
            let row = db
                .query_one_raw(Statement::from_string(db.get_database_backend(), setting))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
                .unwrap()
        };
        let before = read_setting(waiter_db.clone()).await;
        let txn = waiter_db.begin().await.unwrap();
        let error = sequence
            .clone()
            .lock_timeout(Duration::from_millis(200))
            .next_value(&txn)
            .await
            .unwrap_err();
        assert!(
            matches!(error, SequenceError::LockNotAvailable { .. }),
            "{t:?}: {error}"
        );
        txn.rollback().await.unwrap();
        holder.rollback().await.unwrap();
        assert_eq!(
            read_setting(waiter_db.clone()).await,
            before,
            "{t:?}: setting restored"
        );
        // Free again: the same bounded call succeeds.
        let txn = waiter_db.begin().await.unwrap();
        sequence
            .clone()
            .lock_timeout(Duration::from_millis(200))
            .next_value(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(read_setting(waiter_db).await, before, "{t:?}");
    }
}
