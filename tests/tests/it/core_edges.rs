//! Round trips per call, the edges of the i64 range, and the table's key.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sequences_core::{Sequence, SequenceError};
use sequences_tests::{Backend, connect_all, counting::Counting, unique_name};

/// One statement per allocation (plain, looping, batch) on every backend;
/// nowait adds one on the backends with row locks.
#[tokio::test]
async fn one_statement_per_allocation() {
    for t in connect_all(2).await {
        let txn = t.db.begin().await.unwrap();
        let db = Counting::new(&txn);
        let plain = Sequence::new(unique_name("count"));
        let looping = Sequence::new(unique_name("count-loop")).reset_value(3);
        for _ in 0..3 {
            let before = db.count();
            plain.next_value(&db).await.unwrap();
            assert_eq!(db.count() - before, 1, "{t:?} plain: {:?}", db.statements());
            let before = db.count();
            looping.next_value(&db).await.unwrap();
            assert_eq!(
                db.count() - before,
                1,
                "{t:?} looping: {:?}",
                db.statements()
            );
            let before = db.count();
            plain.next_values(&db, 10).await.unwrap();
            assert_eq!(db.count() - before, 1, "{t:?} batch: {:?}", db.statements());
        }
        let before = db.count();
        plain.clone().nowait(true).next_value(&db).await.unwrap();
        let expected = if t.backend.has_row_locks() { 2 } else { 1 };
        assert_eq!(db.count() - before, expected, "{t:?} nowait");
        txn.rollback().await.unwrap();
    }
}

/// MariaDB counts what the session really sent, beyond what the client wrapper sees.
#[tokio::test]
async fn mariadb_server_counts_one_statement() {
    for t in connect_all(1).await {
        if t.backend != Backend::MySql {
            continue;
        }
        let txn = t.db.begin().await.unwrap();
        let sequence = Sequence::new(unique_name("questions"));
        sequence.next_value(&txn).await.unwrap();
        let before = questions(&txn).await;
        for _ in 0..10 {
            sequence.next_value(&txn).await.unwrap();
        }
        let after = questions(&txn).await;
        // The SHOW itself counts once.
        assert_eq!(after - before - 1, 10, "ten allocations, ten statements");
        txn.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn overflow_is_refused_and_changes_nothing() {
    for t in connect_all(2).await {
        let db = &t.db;
        // Single values up to and including i64::MAX, then a refusal.
        let top = Sequence::new(unique_name("top")).initial_value(i64::MAX - 1);
        assert_eq!(top.next_value(db).await.unwrap(), i64::MAX - 1, "{t:?}");
        assert_eq!(top.next_value(db).await.unwrap(), i64::MAX, "{t:?}");
        let err = top.next_value(db).await.unwrap_err();
        assert!(
            matches!(&err, SequenceError::Overflow { name, count: 1 } if name == top.name()),
            "{t:?}: {err}"
        );
        // The message names the sequence.
        assert!(err.to_string().contains(top.name()), "{err}");
        assert_eq!(
            top.last_value(db).await.unwrap(),
            Some(i64::MAX),
            "{t:?}: unchanged"
        );
        // The refusal does not break the transaction it ran in.
        let txn = db.begin().await.unwrap();
        assert!(top.next_value(&txn).await.is_err());
        let other = Sequence::new(unique_name("after-overflow"));
        assert_eq!(
            other.next_value(&txn).await.unwrap(),
            1,
            "{t:?}: transaction still usable"
        );
        txn.commit().await.unwrap();

        // A batch's exclusive end must fit: up to i64::MAX - 1 inclusive.
        let batch = Sequence::new(unique_name("batch-top")).initial_value(i64::MAX - 10);
        assert_eq!(
            batch.next_values(db, 5).await.unwrap(),
            i64::MAX - 10..i64::MAX - 5,
            "{t:?}"
        );
        let err = batch.next_values(db, 6).await.unwrap_err();
        assert!(
            matches!(err, SequenceError::Overflow { count: 6, .. }),
            "{t:?}: {err}"
        );
        assert_eq!(
            batch.last_value(db).await.unwrap(),
            Some(i64::MAX - 6),
            "{t:?}: unchanged"
        );
        assert_eq!(
            batch.next_values(db, 5).await.unwrap(),
            i64::MAX - 5..i64::MAX,
            "{t:?}"
        );
        let err = batch.next_values(db, 1).await.unwrap_err();
        assert!(
            matches!(err, SequenceError::Overflow { .. }),
            "{t:?}: {err}"
        );
        assert_eq!(
            batch.next_value(db).await.unwrap(),
            i64::MAX,
            "{t:?}: single value still fits"
        );

        // A first batch that cannot fit is refused before any SQL.
        let fresh = Sequence::new(unique_name("fresh-top")).initial_value(i64::MAX - 2);
        assert!(matches!(
            fresh.next_values(db, 3).await,
            Err(SequenceError::Overflow { .. })
        ));
        assert_eq!(fresh.last_value(db).await.unwrap(), None, "{t:?}");
        // A huge batch from a negative start is fine.
        let wide = Sequence::new(unique_name("wide")).initial_value(-(1 << 62));
        assert_eq!(
            wide.next_values(db, 1 << 62).await.unwrap(),
            -(1 << 62)..0,
            "{t:?}"
        );
        assert_eq!(wide.next_value(db).await.unwrap(), 0, "{t:?}");
        // SQLite must not have turned anything into a REAL.
        if t.backend == Backend::Sqlite {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "SELECT typeof(last) FROM sequences WHERE name = ?",
                    [top.name().into()],
                ))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "integer");
        }
    }
}

/// Names are compared byte for byte on every backend: case, trailing spaces,
/// accents and emoji make distinct sequences; hostile text is just a name.
#[tokio::test]
async fn names_are_exact_keys() {
    for t in connect_all(2).await {
        let base = unique_name("Key");
        let names = [
            base.clone(),
            base.to_lowercase(),
            format!("{base} "),
            format!("{base}é"),
            format!("{base}e\u{301}"),
            format!("{base}🧾"),
            format!("{base}'; DROP TABLE sequences; --"),
            format!("{base}%_\\\"`"),
            format!("{base}\u{202e}עברית"),
        ];
        for (i, name) in names.iter().enumerate() {
            let sequence = Sequence::new(name.clone()).initial_value(i as i64 * 10);
            assert_eq!(
                sequence.next_value(&t.db).await.unwrap(),
                i as i64 * 10,
                "{t:?} {name:?}"
            );
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                Sequence::new(name.clone()).last_value(&t.db).await.unwrap(),
                Some(i as i64 * 10),
                "{t:?} {name:?}"
            );
        }
        // The longest name fits the column, in characters, multi-byte too.
        let longest: String =
            "é".repeat(sequences_core::MAX_NAME_LENGTH - 8) + &unique_name("")[..8];
        assert_eq!(
            Sequence::new(longest.clone())
                .next_value(&t.db)
                .await
                .unwrap(),
            1,
            "{t:?}"
        );
        assert!(Sequence::new(longest).delete(&t.db).await.unwrap());
    }
}

async fn questions(txn: &sea_orm::DatabaseTransaction) -> i64 {
    let stmt = Statement::from_string(DbBackend::MySql, "SHOW SESSION STATUS LIKE 'Questions'");
    let row = txn.query_one_raw(stmt).await.unwrap().unwrap();
    row.try_get_by_index::<String>(1)
        .unwrap()
        .parse::<i64>()
        .unwrap()
}
