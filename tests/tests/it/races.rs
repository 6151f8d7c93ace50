//! Races against the triggers of "Numbered by the database", run as the
//! attack ran them: two (or three) real connections, one transaction held
//! open while the other's statement waits behind it, then released.
//!
//! Each asserts the promise on the counter and the rows (no gap, no NULL,
//! no duplicate, nothing consumed by a row that was not inserted) and that
//! the audit agrees, on every database where the race applies. SQLite lets
//! one writer in at a time, so its "race" is the same statements in turn;
//! it runs for the same assertions.

use std::time::Duration;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IsolationLevel,
    QueryFilter, QueryOrder, TransactionTrait,
};
use sequences_core::{Audit, Retry, Sequence, SequenceError};
use sequences_tests::entities::{db_deferred, db_slot};
use sequences_tests::locks::{spawn_transaction, wait_until_waiting};
use sequences_tests::{Backend, TestDb, connect_all, try_execute, unique_name};
use tokio::sync::oneshot;

/// A kind (the sequence's scope) no other test uses.
fn fresh_kind(prefix: &str) -> String {
    unique_name(prefix).replace('-', "")
}

/// A primary key no other test's row takes (the identity column counts up
/// from 1; these are far above it).
fn fresh_id() -> i32 {
    1_000_000_000 + rand::random_range(0..1_000_000_000)
}

async fn slots<C: ConnectionTrait>(db: &C, kind: &str) -> Vec<Option<i32>> {
    db_slot::Entity::find()
        .filter(db_slot::Column::Kind.eq(kind))
        .order_by_asc(db_slot::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|slot| slot.number)
        .collect()
}

async fn slot_last<C: ConnectionTrait>(db: &C, kind: &str) -> Option<i64> {
    Sequence::new(format!("dbslot-{kind}"))
        .last_value(db)
        .await
        .unwrap()
}

/// The audit of `kind`'s slots, which must be clean.
async fn assert_slots_clean(t: &TestDb, kind: &str, what: &str) {
    let report = Audit::new(db_slot::Column::Number)
        .scope([db_slot::Column::Kind])
        .sequence("dbslot-{kind}")
        .filter(db_slot::Column::Kind.eq(kind))
        .run(&t.db)
        .await
        .unwrap();
    assert!(report.is_clean(), "{:?} {what}: {report:?}", t.backend);
}

/// The statements that insert a row of `db_slot` unless its key is taken:
/// skipping it, or updating the row that holds the key.
fn skipping(backend: Backend) -> [&'static str; 2] {
    match backend {
        Backend::Postgres => [
            "INSERT INTO db_slot (id, kind) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            "INSERT INTO db_slot (id, kind) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind",
        ],
        Backend::MySql => [
            "INSERT IGNORE INTO db_slot (id, kind) VALUES (?, ?)",
            "INSERT INTO db_slot (id, kind) VALUES (?, ?) ON DUPLICATE KEY UPDATE kind = VALUES(kind)",
        ],
        Backend::Sqlite => [
            "INSERT OR IGNORE INTO db_slot (id, kind) VALUES (?, ?)",
            "INSERT INTO db_slot (id, kind) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind",
        ],
    }
}

/// Holds a transaction open on a connection of its own: `first` runs in
/// it, then it waits for the returned sender before committing.
async fn hold(
    db: &DatabaseConnection,
    first: Vec<(String, Vec<sea_orm::Value>)>,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let (task, _) = spawn_transaction(db, move |txn| async move {
        for (sql, values) in first {
            try_execute(&txn, &sql, values)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        done_tx.send(()).unwrap();
        go_rx.await.unwrap();
        txn.commit().await.unwrap();
    })
    .await;
    done_rx.await.unwrap();
    (go_tx, task)
}

/// Runs `sql` in a transaction of its own (at `isolation`, if given) on a
/// task; returns the task and its session, to wait until it waits.
async fn attempt(
    db: &DatabaseConnection,
    isolation: Option<IsolationLevel>,
    sql: &'static str,
    values: Vec<sea_orm::Value>,
) -> (tokio::task::JoinHandle<Result<u64, DbErr>>, Option<i64>) {
    let (session_tx, session_rx) = oneshot::channel();
    let db = db.clone();
    let task = tokio::spawn(async move {
        let txn = db.begin_with_config(isolation, None).await?;
        session_tx
            .send(sequences_tests::locks::session_id(&txn).await)
            .unwrap();
        match try_execute(&txn, sql, values).await {
            Ok(rows) => {
                txn.commit().await?;
                Ok(rows)
            }
            Err(error) => {
                txn.rollback().await?;
                Err(error)
            }
        }
    });
    (task, session_rx.await.unwrap())
}

/// Waits until the session waits for a lock; SQLite, which has no
/// sessions to look at, waits on its busy handler: give it time to start.
async fn until_blocked(t: &TestDb, session: Option<i64>, what: &str) {
    match session {
        Some(id) => wait_until_waiting(&t.db, id, what).await,
        None => tokio::time::sleep(Duration::from_millis(300)).await,
    }
}

/// An insert that skips its row (`ON CONFLICT`, `INSERT IGNORE`) when the
/// row's key turns out to be taken by a transaction that was still running
/// when the insert began: it must take no number. Two cases: the running
/// transaction numbered a row of the same sequence (the skipping insert
/// waits for the counter first), and of another sequence (it waits at the
/// key only).
///
/// Reproduction on PostgreSQL before the fix: A `BEGIN; INSERT INTO db_slot
/// (id, kind) VALUES (X, 'K')`; B `INSERT ... VALUES (X, 'K') ON CONFLICT
/// (id) DO NOTHING` waits; A commits; B inserts nothing, and the counter of
/// K is at 2 with one row numbered 1.
#[tokio::test]
async fn an_insert_skipped_behind_an_insert_in_flight_takes_no_number() {
    for t in connect_all(6).await {
        for same_sequence in [true, false] {
            for (i, sql) in skipping(t.backend).into_iter().enumerate() {
                let kind = fresh_kind("RACEA");
                let other = fresh_kind("RACEB");
                let id = fresh_id();
                let (go, holder) = hold(
                    &t.db,
                    vec![(
                        "INSERT INTO db_slot (id, kind) VALUES (?, ?)".into(),
                        vec![
                            id.into(),
                            if same_sequence { &kind } else { &other }.clone().into(),
                        ],
                    )],
                )
                .await;
                let (skipper, session) =
                    attempt(&t.db, None, sql, vec![id.into(), kind.clone().into()]).await;
                until_blocked(&t, session, "the skipping insert").await;
                go.send(()).unwrap();
                holder.await.unwrap();
                let result = skipper.await.unwrap();
                let what = format!("{:?} same sequence {same_sequence}, `{sql}`", t.backend);
                let moved = matches!(
                    result.as_ref().err().and_then(SequenceError::from_database),
                    Some(SequenceError::NumberChanged { .. })
                );
                // DO UPDATE of the other sequence's row would move it into
                // K: the update guard refuses that, as it should.
                assert!(!moved || (!same_sequence && i == 1), "{what}: {result:?}");
                if let (Err(error), false) = (&result, moved) {
                    // Refused as a serialization failure: run again, it goes
                    // through (the key is now seen taken).
                    assert!(
                        sequences_core::is_retryable(error),
                        "{what}: refused with a non-retryable error: {error}"
                    );
                    let retried = kind.clone();
                    Retry::new()
                        .transaction::<DbErr, _, _, _>(&t.db, move |txn| {
                            let kind = retried.clone();
                            Box::pin(async move {
                                try_execute(txn, sql, vec![id.into(), kind.into()]).await
                            })
                        })
                        .await
                        .unwrap_or_else(|e| panic!("{what}: run again: {e}"));
                }
                // Whatever the statement did, K's counter holds exactly its rows.
                let kind_rows = slots(&t.db, &kind).await;
                let numbered: Vec<i32> = kind_rows.iter().flatten().copied().collect();
                assert!(
                    !kind_rows.contains(&None),
                    "{what}: a row of K is unnumbered: {kind_rows:?} ({result:?})"
                );
                let last = slot_last(&t.db, &kind).await;
                assert_eq!(
                    last.map(|l| l as usize).unwrap_or(0),
                    numbered.len(),
                    "{what}: K's counter is at {last:?} with rows {kind_rows:?}: a number taken by a row that was not inserted ({result:?})"
                );
                if i == 1 && same_sequence {
                    // DO UPDATE rewrote the row's kind to itself: still one row.
                    assert_eq!(kind_rows, [Some(1)], "{what}");
                }
                // The series goes on with the next number.
                try_execute(
                    &t.db,
                    "INSERT INTO db_slot (kind) VALUES (?)",
                    vec![kind.clone().into()],
                )
                .await
                .unwrap();
                let after = slots(&t.db, &kind).await;
                let mut numbers: Vec<i32> = after.iter().flatten().copied().collect();
                numbers.sort_unstable();
                assert_eq!(
                    numbers,
                    (1..=numbers.len() as i32).collect::<Vec<_>>(),
                    "{what}: {after:?}"
                );
                assert_slots_clean(&t, &kind, &what).await;
            }
        }
    }
}

/// An insert whose number is left to the trigger, behind a DELETE in flight
/// of the row holding its key: once the DELETE commits, the key is free and
/// the row is inserted, so it must be numbered.
///
/// Reproduction on PostgreSQL before the fix: A `BEGIN; DELETE FROM db_slot
/// WHERE id = X` (the last slot of K, so `revert_if_last` lets it go); B
/// `INSERT INTO db_slot (id, kind) VALUES (X, 'K')` waits; A commits; B's
/// row is committed with its number NULL (the trigger saw the key taken).
#[tokio::test]
async fn an_insert_behind_a_delete_in_flight_of_its_key_is_numbered() {
    for t in connect_all(6).await {
        for same_sequence in [true, false] {
            let kind = fresh_kind("RACED");
            let other = fresh_kind("RACEE");
            let id = fresh_id();
            try_execute(
                &t.db,
                "INSERT INTO db_slot (id, kind) VALUES (?, ?)",
                vec![id.into(), kind.clone().into()],
            )
            .await
            .unwrap();
            let (go, holder) = hold(
                &t.db,
                vec![("DELETE FROM db_slot WHERE id = ?".into(), vec![id.into()])],
            )
            .await;
            let inserted = if same_sequence { &kind } else { &other }.clone();
            let (insert, session) = attempt(
                &t.db,
                None,
                "INSERT INTO db_slot (id, kind) VALUES (?, ?)",
                vec![id.into(), inserted.clone().into()],
            )
            .await;
            until_blocked(&t, session, "the insert behind the delete").await;
            go.send(()).unwrap();
            holder.await.unwrap();
            let what = format!("{:?} same sequence {same_sequence}", t.backend);
            let result = insert.await.unwrap();
            assert!(result.is_ok(), "{what}: {result:?}");
            assert_eq!(
                slots(&t.db, &inserted).await,
                [Some(1)],
                "{what}: the row inserted after the delete must be numbered"
            );
            if !same_sequence {
                assert_eq!(slots(&t.db, &kind).await, [], "{what}");
                assert_eq!(slot_last(&t.db, &kind).await, Some(0), "{what}");
            }
            assert_slots_clean(&t, &inserted, &what).await;
        }
    }
}

/// Three connections: the skipping insert takes its decision first, then
/// waits for the counter (held by a third transaction) while another
/// transaction inserts and commits the same key. At READ COMMITTED no gap
/// lock keeps that other insert out, so the key is taken by the time the
/// row is written: the number must not be lost either.
#[tokio::test]
async fn an_insert_skipped_for_a_key_taken_while_it_waited_takes_no_number() {
    for t in connect_all(8).await {
        if t.backend == Backend::Sqlite {
            // One writer at a time: nothing can be inserted while it waits.
            continue;
        }
        for isolation in [
            IsolationLevel::ReadCommitted,
            IsolationLevel::RepeatableRead,
        ] {
            let kind = fresh_kind("RACEF");
            let other = fresh_kind("RACEG");
            let id = fresh_id();
            let what = format!("{:?} at {isolation:?}", t.backend);
            // C holds K's counter.
            let (release_c, holder_c) = hold(
                &t.db,
                vec![(
                    "INSERT INTO db_slot (kind) VALUES (?)".into(),
                    vec![kind.clone().into()],
                )],
            )
            .await;
            // B decides (the key is free), then waits for the counter.
            let (skipper, session) = attempt(
                &t.db,
                Some(isolation),
                skipping(t.backend)[0],
                vec![id.into(), kind.clone().into()],
            )
            .await;
            until_blocked(&t, session, "the skipping insert behind the counter").await;
            // A takes the key meanwhile (unless B's decision keeps it out).
            let (a, a_session) = attempt(
                &t.db,
                None,
                "INSERT INTO db_slot (id, kind) VALUES (?, ?)",
                vec![id.into(), other.clone().into()],
            )
            .await;
            // Either A commits at once, or it waits for B (a gap lock).
            let a_waits = tokio::time::timeout(Duration::from_millis(500), async {
                if let Some(session) = a_session {
                    wait_until_waiting(&t.db, session, "A").await;
                }
            })
            .await
            .is_ok();
            if !a_waits {
                assert!(a.is_finished(), "{what}: A neither committed nor waited");
            }
            release_c.send(()).unwrap();
            holder_c.await.unwrap();
            let b = skipper.await.unwrap();
            let a = a.await.unwrap();
            let rows = slots(&t.db, &kind).await;
            let last = slot_last(&t.db, &kind).await.unwrap_or(0);
            let numbered: Vec<i32> = rows.iter().flatten().copied().collect();
            assert!(!rows.contains(&None), "{what}: {rows:?} (A {a:?}, B {b:?})");
            assert_eq!(
                last as usize,
                numbered.len(),
                "{what}: K's counter at {last}, rows {rows:?}: a number lost (A {a:?}, B {b:?})"
            );
            if let Err(error) = &b {
                assert!(sequences_core::is_retryable(error), "{what}: B {error}");
            }
            assert_slots_clean(&t, &kind, &what).await;
        }
    }
}

/// PostgreSQL numbers a `deferred` field at COMMIT. A row whose key changes
/// between its insert and the COMMIT must still be numbered.
///
/// Reproduction before the fix: `BEGIN; INSERT INTO db_deferred (journal)
/// VALUES ('J') RETURNING id; UPDATE db_deferred SET id = <new> WHERE id =
/// <old>; COMMIT`: the row is committed with its number NULL (the COMMIT
/// trigger looked it up by the key it had at insert).
#[tokio::test]
async fn a_deferred_row_whose_key_changed_before_commit_is_numbered() {
    for t in connect_all(2).await {
        if t.backend != Backend::Postgres {
            continue;
        }
        let journal = fresh_kind("RACEJ");
        let txn = t.db.begin().await.unwrap();
        let row = txn
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "INSERT INTO db_deferred (journal) VALUES ($1) RETURNING id",
                [journal.clone().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        let old: i32 = row.try_get_by_index(0).unwrap();
        let new = fresh_id();
        try_execute(
            &txn,
            "UPDATE db_deferred SET id = ? WHERE id = ?",
            vec![new.into(), old.into()],
        )
        .await
        .unwrap();
        // A second row, inserted with the old key after the first left it.
        try_execute(
            &txn,
            "INSERT INTO db_deferred (id, journal) VALUES (?, ?)",
            vec![old.into(), journal.clone().into()],
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let rows: Vec<(i32, Option<i64>)> = db_deferred::Entity::find()
            .filter(db_deferred::Column::Journal.eq(&journal))
            .order_by_asc(db_deferred::Column::Number)
            .all(&t.db)
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.id, row.number))
            .collect();
        let mut numbers: Vec<Option<i64>> = rows.iter().map(|(_, n)| *n).collect();
        numbers.sort();
        assert_eq!(numbers, [Some(1), Some(2)], "{rows:?}");
        let report = Audit::new(db_deferred::Column::Number)
            .scope([db_deferred::Column::Journal])
            .sequence("dbdef-{journal}")
            .filter(db_deferred::Column::Journal.eq(&journal))
            .run(&t.db)
            .await
            .unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
}
