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

async fn functions_defaults<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let n = unique_name("default");
    let ctx = format!("{t:?}");
    assert_eq!(
        sequences_core::last_value(db, n.clone()).await.unwrap(),
        None,
        "{ctx}"
    );
    assert_eq!(
        sequences_core::next_value(db, n.clone()).await.unwrap(),
        1,
        "{ctx}"
    );
    assert_eq!(
        sequences_core::last_value(db, n.clone()).await.unwrap(),
        Some(1),
        "{ctx}"
    );
    assert_eq!(
        sequences_core::next_value(db, n.clone()).await.unwrap(),
        2,
        "{ctx}"
    );
    assert_eq!(
        sequences_core::last_value(db, n.clone()).await.unwrap(),
        Some(2),
        "{ctx}"
    );
    assert!(
        sequences_core::delete(db, n.clone()).await.unwrap(),
        "{ctx}"
    );
    assert_eq!(
        sequences_core::last_value(db, n.clone()).await.unwrap(),
        None,
        "{ctx}"
    );
    assert!(
        !sequences_core::delete(db, n.clone()).await.unwrap(),
        "{ctx}"
    );
    assert_eq!(
        sequences_core::last_value(db, n.clone()).await.unwrap(),
        None,
        "{ctx}"
    );
    // After a delete the sequence starts again.
    assert_eq!(
        sequences_core::next_value(db, n.clone()).await.unwrap(),
        1,
        "{ctx}"
    );
}

#[tokio::test]
async fn functions_defaults_all_backends() {
    both_modes!(functions_defaults);
}

async fn functions_sequence_name<C: ConnectionTrait>(t: &TestDb, db: &C) {
    let (cases, invoices) = (unique_name("cases"), unique_name("invoices"));
    for name in [&cases, &invoices] {
        assert_eq!(
            sequences_core::last_value(db, name.clone()).await.unwrap(),
            None,
            "{t:?}"
        );
        assert_eq!(
            sequences_core::next_value(db, name.clone()).await.unwrap(),
            1,
            "{t:?}"
        );
        assert_eq!(
            sequences_core::last_value(db, name.clone()).await.unwrap(),
            Some(1),
            "{t:?}"
        );
        assert_eq!(
            sequences_core::next_value(db, name.clone()).await.unwrap(),
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
        sequences_core::next_value(db, n).await.unwrap(),
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
        sequences_core::next_values(db, n.clone(), 3).await.unwrap(),
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
        matches!(err, SequenceError::InvalidReset { .. }),
        "{t:?}: {err}"
    );
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
