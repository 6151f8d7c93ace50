//! django-sequences' single-connection scenarios, ported: defaults, several
//! names, initial value, reset, batches, invalid arguments, the object API.
//! Each runs in autocommit mode and inside a transaction, on every backend.

use sea_orm::{ConnectionTrait, TransactionTrait};
use sequences_core::{Sequence, SequenceError};
use sequences_tests::{TestDb, connect_all, unique_name};

/// Runs `scenario` on every backend, once in autocommit and once in a
/// transaction (rolled back, as django's `TestCase` does).
macro_rules! both_modes {
    ($scenario:ident) => {
        for t in connect_all(4).await {
            $scenario(&t, &t.db).await;
            let txn = t.db.begin().await.expect("begin");
            $scenario(&t, &txn).await;
            txn.rollback().await.expect("rollback");
        }
    };
}

/// A sequence with the default settings: starts at 1, never loops; a
/// delete starts it again.
async fn defaults<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let n = unique_name("default");
    let ctx = format!("{t:?}");
    assert_eq!(
        Sequence::new(&n).last_value(db).await.unwrap(),
        None,
        "{ctx}"
    );
    assert_eq!(Sequence::new(&n).next_value(db).await.unwrap(), 1, "{ctx}");
    assert_eq!(
        Sequence::new(&n).last_value(db).await.unwrap(),
        Some(1),
        "{ctx}"
    );
    assert_eq!(Sequence::new(&n).next_value(db).await.unwrap(), 2, "{ctx}");
    assert_eq!(
        Sequence::new(&n).last_value(db).await.unwrap(),
        Some(2),
        "{ctx}"
    );
    assert!(Sequence::new(&n).delete(db).await.unwrap(), "{ctx}");
    assert_eq!(
        Sequence::new(&n).last_value(db).await.unwrap(),
        None,
        "{ctx}"
    );
    assert!(!Sequence::new(&n).delete(db).await.unwrap(), "{ctx}");
    assert_eq!(
        Sequence::new(&n).last_value(db).await.unwrap(),
        None,
        "{ctx}"
    );
    // After a delete the sequence starts again.
    assert_eq!(Sequence::new(&n).next_value(db).await.unwrap(), 1, "{ctx}");
}

#[tokio::test]
async fn defaults_all_backends() {
    both_modes!(defaults);
}

async fn functions_sequence_name<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let (cases, invoices) = (unique_name("cases"), unique_name("invoices"));
    for name in [&cases, &invoices] {
        assert_eq!(
            Sequence::new(name.clone()).last_value(db).await.unwrap(),
            None,
            "{t:?}"
        );
        assert_eq!(
            Sequence::new(name.clone()).next_value(db).await.unwrap(),
            1,
            "{t:?}"
        );
        assert_eq!(
            Sequence::new(name.clone()).last_value(db).await.unwrap(),
            Some(1),
            "{t:?}"
        );
        assert_eq!(
            Sequence::new(name.clone()).next_value(db).await.unwrap(),
            2,
            "{t:?}"
        );
    }
}

#[tokio::test]
async fn functions_sequence_name_all_backends() {
    both_modes!(functions_sequence_name);
}

async fn initial_value<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let n = unique_name("customers");
    let customers = Sequence::new(n.clone()).initial_value(1000);
    assert_eq!(customers.next_value(db).await.unwrap(), 1000, "{t:?}");
    assert_eq!(customers.next_value(db).await.unwrap(), 1001, "{t:?}");
    // initial_value only matters when the row is created.
    assert_eq!(
        Sequence::new(n.clone()).next_value(db).await.unwrap(),
        1002,
        "{t:?}"
    );
    assert_eq!(
        Sequence::new(n).next_value(db).await.unwrap(),
        1003,
        "{t:?}"
    );
    // Zero and negative first values.
    let zero = Sequence::new(unique_name("zero")).initial_value(0);
    assert_eq!(zero.next_value(db).await.unwrap(), 0, "{t:?}");
    assert_eq!(zero.next_value(db).await.unwrap(), 1, "{t:?}");
    let negative = Sequence::new(unique_name("negative")).initial_value(-2);
    assert_eq!(negative.next_value(db).await.unwrap(), -2, "{t:?}");
    assert_eq!(negative.next_value(db).await.unwrap(), -1, "{t:?}");
    assert_eq!(negative.next_value(db).await.unwrap(), 0, "{t:?}");
    assert_eq!(negative.next_value(db).await.unwrap(), 1, "{t:?}");
}

#[tokio::test]
async fn initial_value_all_backends() {
    both_modes!(initial_value);
}

async fn reset_value<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let reference = Sequence::new(unique_name("reference")).reset_value(3);
    let got: Vec<i64> = {
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(reference.next_value(db).await.unwrap());
        }
        got
    };
    assert_eq!(got, [1, 2, 1, 2, 1], "{t:?}");

    let seconds = Sequence::new(unique_name("seconds"))
        .initial_value(0)
        .reset_value(60);
    let mut got = Vec::new();
    for _ in 0..125 {
        got.push(seconds.next_value(db).await.unwrap());
    }
    let expected: Vec<i64> = (0..60).chain(0..60).chain(0..5).collect();
    assert_eq!(got, expected, "{t:?}");

    // reset = initial + 1: always the initial value.
    let constant = Sequence::new(unique_name("constant"))
        .initial_value(7)
        .reset_value(8);
    for _ in 0..3 {
        assert_eq!(constant.next_value(db).await.unwrap(), 7, "{t:?}");
    }

    // A looping sequence at the top of the i64 range never overflows.
    let top = Sequence::new(unique_name("top"))
        .initial_value(i64::MAX - 2)
        .reset_value(i64::MAX);
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(top.next_value(db).await.unwrap());
    }
    assert_eq!(
        got,
        [
            i64::MAX - 2,
            i64::MAX - 1,
            i64::MAX - 2,
            i64::MAX - 1,
            i64::MAX - 2
        ],
        "{t:?}"
    );

    // A looping batch of one is a plain next_value.
    let one = Sequence::new(unique_name("loop-batch")).reset_value(3);
    assert_eq!(one.next_values(db, 1).await.unwrap(), 1..2, "{t:?}");
    assert_eq!(one.next_values(db, 1).await.unwrap(), 2..3, "{t:?}");
    assert_eq!(one.next_values(db, 1).await.unwrap(), 1..2, "{t:?}");
}

#[tokio::test]
async fn reset_value_all_backends() {
    both_modes!(reset_value);
}

async fn batches<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let n = unique_name("receipt");
    let receipts = Sequence::new(n.clone());
    assert_eq!(receipts.next_values(db, 10).await.unwrap(), 1..11, "{t:?}");
    assert_eq!(receipts.next_values(db, 10).await.unwrap(), 11..21, "{t:?}");
    assert_eq!(receipts.next_value(db).await.unwrap(), 21, "{t:?}");
    assert_eq!(
        Sequence::new(n.clone()).next_values(db, 3).await.unwrap(),
        22..25,
        "{t:?}"
    );
    // Zero values: an empty range, nothing consumed, no SQL.
    assert!(
        receipts.next_values(db, 0).await.unwrap().is_empty(),
        "{t:?}"
    );
    assert_eq!(receipts.last_value(db).await.unwrap(), Some(24), "{t:?}");
    // A first batch honours initial_value.
    let from_100 = Sequence::new(unique_name("batch-initial")).initial_value(100);
    assert_eq!(
        from_100.next_values(db, 5).await.unwrap(),
        100..105,
        "{t:?}"
    );
    assert_eq!(from_100.next_value(db).await.unwrap(), 105, "{t:?}");
}

#[tokio::test]
async fn batches_all_backends() {
    both_modes!(batches);
}

async fn invalid_arguments<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let n = unique_name("error");
    let err = Sequence::new(n.clone())
        .reset_value(1)
        .next_value(db)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SequenceError::InvalidReset { name, initial_value: 1, reset_value: 1 }
            if *name == n),
        "{t:?}: {err}"
    );
    // The message names the sequence.
    assert!(err.to_string().contains(&n), "{err}");
    let err = Sequence::new(n.clone())
        .initial_value(5)
        .reset_value(2)
        .next_value(db)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SequenceError::InvalidReset { .. }),
        "{t:?}: {err}"
    );
    let err = Sequence::new(n.clone())
        .reset_value(10)
        .next_values(db, 2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SequenceError::BatchOnLoopingSequence { .. }),
        "{t:?}: {err}"
    );
    for bad in [String::new(), "x".repeat(101), "nul\0byte".to_string()] {
        let err = Sequence::new(bad.clone()).next_value(db).await.unwrap_err();
        assert!(
            matches!(err, SequenceError::InvalidName { .. }),
            "{t:?}: {err}"
        );
        let err = Sequence::new(bad).last_value(db).await.unwrap_err();
        assert!(
            matches!(err, SequenceError::InvalidName { .. }),
            "{t:?}: {err}"
        );
    }
    // Nothing was consumed by any of the refusals.
    assert_eq!(
        Sequence::new(n).last_value(db).await.unwrap(),
        None,
        "{t:?}"
    );
}

#[tokio::test]
async fn invalid_arguments_all_backends() {
    both_modes!(invalid_arguments);
}

async fn object_api<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let cases = Sequence::new(unique_name("cases"));
    let invoices = Sequence::new(unique_name("invoices"));
    assert_eq!(cases.last_value(db).await.unwrap(), None, "{t:?}");
    assert_eq!(cases.next_value(db).await.unwrap(), 1, "{t:?}");
    assert_eq!(cases.last_value(db).await.unwrap(), Some(1), "{t:?}");
    assert_eq!(cases.next_value(db).await.unwrap(), 2, "{t:?}");
    assert_eq!(invoices.last_value(db).await.unwrap(), None, "{t:?}");
    assert_eq!(invoices.next_value(db).await.unwrap(), 1, "{t:?}");
    assert_eq!(invoices.next_value(db).await.unwrap(), 2, "{t:?}");
    assert!(cases.delete(db).await.unwrap(), "{t:?}");
    assert_eq!(cases.last_value(db).await.unwrap(), None, "{t:?}");
    assert!(invoices.delete(db).await.unwrap(), "{t:?}");
    assert_eq!(invoices.last_value(db).await.unwrap(), None, "{t:?}");
    assert!(!invoices.delete(db).await.unwrap(), "{t:?}");
}

#[tokio::test]
async fn object_api_all_backends() {
    both_modes!(object_api);
}

/// The operator's tools: a preview that takes nothing, the end of a range,
/// a bounded wait for every locking operation, and the adoption of a legacy
/// table's numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peek_max_value_lock_timeout_and_adopt() {
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait};
    use sequences_core::{Audit, NotAdoptable};
    use sequences_tests::entities::ledger_entry;
    use std::time::{Duration, Instant};
    for t in connect_all(4).await {
        // peek: the next value, nothing taken, no lock waited for.
        let name = unique_name("peek");
        let sequence = Sequence::new(&name).initial_value(10);
        assert_eq!(sequence.peek(&t.db).await.unwrap(), 10, "{t:?}");
        assert_eq!(sequence.next_value(&t.db).await.unwrap(), 10, "{t:?}");
        let holder = t.db.begin().await.unwrap();
        assert_eq!(sequence.next_value(&holder).await.unwrap(), 11, "{t:?}");
        let started = Instant::now();
        assert_eq!(sequence.peek(&t.db).await.unwrap(), 11, "{t:?}: a preview");
        assert!(started.elapsed() < Duration::from_secs(1), "{t:?}: no wait");

        // lock_timeout bounds void (and every locking operation) too.
        let started = Instant::now();
        let txn = t.db.begin().await.unwrap();
        let error = sequence
            .clone()
            .lock_timeout(Duration::from_millis(200))
            .void(&txn, 10, "cancelled")
            .await
            .unwrap_err();
        assert!(
            matches!(error, SequenceError::LockNotAvailable { .. }),
            "{t:?}: {error}"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{t:?}");
        drop(txn);
        holder.rollback().await.unwrap();
        let looping = Sequence::new(unique_name("peek-loop")).reset_value(3);
        looping.next_values(&t.db, 1).await.unwrap();
        looping.next_value(&t.db).await.unwrap();
        assert_eq!(looping.peek(&t.db).await.unwrap(), 1, "{t:?}: wraps");

        // max_value: refused by the allocating statement, nothing consumed.
        let bounded = Sequence::new(unique_name("max")).max_value(3);
        assert_eq!(bounded.next_values(&t.db, 2).await.unwrap(), 1..3, "{t:?}");
        let error = bounded.next_values(&t.db, 2).await.unwrap_err();
        assert!(
            matches!(
                error,
                SequenceError::Exhausted {
                    last: 2,
                    max_value: 3,
                    ..
                }
            ),
            "{t:?}: {error}"
        );
        assert_eq!(bounded.next_value(&t.db).await.unwrap(), 3, "{t:?}");
        assert!(bounded.next_value(&t.db).await.is_err(), "{t:?}");
        assert_eq!(bounded.last_value(&t.db).await.unwrap(), Some(3), "{t:?}");
        assert!(bounded.peek(&t.db).await.is_err(), "{t:?}");

        // adopt: a legacy ledger continues after its highest number.
        let plant = |ledger: &str, numbers: &[i32]| {
            ledger_entry::Entity::insert_many(numbers.iter().map(|&n| ledger_entry::ActiveModel {
                ledger: Set(ledger.to_owned()),
                number: Set(Some(n)),
                ..Default::default()
            }))
        };
        let audit_of = |ledger: &str| {
            Audit::new(ledger_entry::Column::Number)
                .scope([ledger_entry::Column::Ledger])
                .sequence("entry-{ledger}")
                .filter(ledger_entry::Column::Ledger.eq(ledger))
        };
        let (clean, holed) = (unique_name("legacy"), unique_name("legacy"));
        plant(&clean, &[3, 1, 2, 5, 4]).exec(&t.db).await.unwrap();
        plant(&holed, &[1, 2, 4, 4]).exec(&t.db).await.unwrap();
        let adopted = Sequence::new(format!("entry-{clean}"));
        let txn = t.db.begin().await.unwrap();
        let adoption = adopted.adopt(&txn, &audit_of(&clean), false).await.unwrap();
        assert_eq!((adoption.previous, adoption.last), (None, 5), "{t:?}");
        assert_eq!(adopted.next_value(&txn).await.unwrap(), 6, "{t:?}");
        txn.commit().await.unwrap();
        // Already past the table: refused.
        let txn = t.db.begin().await.unwrap();
        let error = adopted
            .adopt(&txn, &audit_of(&clean), false)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &error,
                SequenceError::AdoptRefused {
                    reason: NotAdoptable::Behind {
                        last: 6,
                        highest: 5
                    },
                    ..
                }
            ),
            "{t:?}: {error}"
        );
        txn.rollback().await.unwrap();
        // Gaps and duplicates: refused and reported, nothing changed, unless allowed.
        let legacy = Sequence::new(format!("entry-{holed}"));
        let txn = t.db.begin().await.unwrap();
        let error = legacy
            .adopt(&txn, &audit_of(&holed), false)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &error,
                SequenceError::AdoptRefused {
                    reason: NotAdoptable::Defects {
                        missing: 1,
                        duplicate_rows: 1,
                        ..
                    },
                    ..
                }
            ),
            "{t:?}: {error}"
        );
        assert_eq!(legacy.last_value(&txn).await.unwrap(), None, "{t:?}");
        let adoption = legacy.adopt(&txn, &audit_of(&holed), true).await.unwrap();
        assert_eq!(adoption.last, 4, "{t:?}");
        txn.commit().await.unwrap();
        // No rows: refused; outside a transaction: refused.
        let nothing = unique_name("legacy");
        let txn = t.db.begin().await.unwrap();
        let error = Sequence::new(format!("entry-{nothing}"))
            .adopt(&txn, &audit_of(&nothing), false)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &error,
                SequenceError::AdoptRefused {
                    reason: NotAdoptable::NoRows,
                    ..
                }
            ),
            "{t:?}: {error}"
        );
        txn.rollback().await.unwrap();
        let error = legacy
            .adopt(&t.db, &audit_of(&holed), true)
            .await
            .unwrap_err();
        assert!(
            matches!(error, SequenceError::NotInTransaction { .. }),
            "{t:?}: {error}"
        );
    }
}

/// MariaDB lists an uncontended row lock nowhere: the transaction holding a
/// counter while nobody waits is shown as an inferred holder.
#[tokio::test]
async fn an_uncontended_holder_is_inferred_on_mariadb() {
    use sea_orm::Statement;
    for t in connect_all(2).await {
        if t.backend != sequences_tests::Backend::MySql {
            continue;
        }
        let name = unique_name("held");
        let holder = t.db.begin().await.unwrap();
        Sequence::new(&name).next_value(&holder).await.unwrap();
        let session: i64 = holder
            .query_one_raw(Statement::from_string(
                t.db.get_database_backend(),
                "SELECT CAST(CONNECTION_ID() AS SIGNED)",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        // InnoDB refreshes its views only when last read over 100 ms ago (by
        // anyone: reads go through the process's gate): ask until they show
        // the holder (bounded).
        let deadline = std::time::Instant::now() + sequences_tests::locks::PATIENCE;
        let found = loop {
            let read = sequences_core::lock_holders(&t.db, Some(&name));
            let holders = sequences_tests::locks::read_innodb_views(read)
                .await
                .unwrap();
            if let Some(found) = holders.into_iter().find(|h| h.session == Some(session)) {
                break found;
            }
            assert!(std::time::Instant::now() < deadline, "{t:?}: never listed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(found.inferred && found.holding, "{t:?}: {found:?}");
        holder.rollback().await.unwrap();
    }
}
