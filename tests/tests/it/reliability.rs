//! The promise under the conditions that break naive implementations:
//! every isolation level through `Retry`, a connection killed while it holds
//! a sequence, and hostile batch sizes. Each test ends by checking that the
//! committed values are exactly `initial..=last`.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, IsolationLevel, Statement, TransactionTrait};
use sequences_core::{Retry, Sequence, SequenceError};
use sequences_tests::load::{self, Load};
use sequences_tests::{
    Backend, assert_gapless, committed_values, connect_all, insert_row, locks, unique_name,
};

/// 16 concurrent writers with random rollbacks at READ COMMITTED, REPEATABLE
/// READ and SERIALIZABLE (SQLite: its one level, serializable), through
/// `Retry`: gapless, no duplicates, and the retries the database forced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn isolation_matrix_with_retries_stays_gapless() {
    for t in connect_all(16).await {
        let levels: &[Option<IsolationLevel>] = if t.backend.has_row_locks() {
            &[
                Some(IsolationLevel::ReadCommitted),
                Some(IsolationLevel::RepeatableRead),
                Some(IsolationLevel::Serializable),
            ]
        } else {
            &[None]
        };
        for &level in levels {
            let name = unique_name("isolation");
            let sequence = Sequence::new(name.clone()).initial_value(100);
            let shape = Load {
                isolation: level,
                ..Load::default()
            };
            let report = load::run(&t.db, &sequence, &shape).await;
            let values = committed_values(&t.db, &name).await;
            let last = sequence.last_value(&t.db).await.unwrap();
            let context = format!("{t:?} {level:?}");
            assert_eq!(values.len(), report.committed_values, "{context}");
            assert_eq!(report.committed + report.rolled_back, 16 * 10, "{context}");
            assert!(report.rolled_back > 0, "{context}: nothing rolled back");
            assert_gapless(&context, &values, 100, last);
            println!("{context}: {report}; 0 gaps, 0 duplicates");
        }
    }
}

/// READ UNCOMMITTED is refused by `Retry` before anything runs.
#[tokio::test]
async fn read_uncommitted_is_refused_before_anything_runs() {
    for t in connect_all(2).await {
        let name = unique_name("uncommitted");
        let mut ran = false;
        let error = Retry::new()
            .isolation_level(IsolationLevel::ReadUncommitted)
            .transaction::<DbErr, _, _, _>(&t.db, |txn| {
                ran = true;
                let name = name.clone();
                Box::pin(async move {
                    Sequence::new(name)
                        .next_value(txn)
                        .await
                        .map_err(DbErr::from)
                })
            })
            .await
            .unwrap_err();
        assert!(!ran, "{t:?}");
        assert!(
            matches!(
                SequenceError::from_db_err(&error),
                Some(SequenceError::ReadUncommitted)
            ),
            "{t:?}: {error:?}"
        );
        assert_eq!(Sequence::new(name).last_value(&t.db).await.unwrap(), None);
    }
}

/// Errors that a retry cannot cure are returned at once, after one attempt.
#[tokio::test]
async fn retry_returns_permanent_errors_at_once() {
    for t in connect_all(2).await {
        let mut attempts = 0;
        let error = Retry::new()
            .transaction::<DbErr, _, _, _>(&t.db, |txn| {
                attempts += 1;
                Box::pin(async move {
                    txn.execute_unprepared("SELECT * FROM no_such_table")
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap_err();
        assert_eq!(attempts, 1, "{t:?}: {error}");
        assert!(!sequences_core::is_retryable(&error), "{t:?}: {error}");
    }
}

/// A retryable error is retried until `max_attempts`, and the last error is
/// returned: a NOWAIT allocation against a transaction that holds the sequence.
#[tokio::test]
async fn retry_gives_up_after_max_attempts_with_the_last_error() {
    for t in connect_all(4).await {
        if !t.backend.has_row_locks() {
            continue;
        }
        let name = unique_name("gives-up");
        let sequence = Sequence::new(name.clone()).nowait(true);
        sequence.next_value(&t.db).await.unwrap();
        let holder = t.db.begin().await.unwrap();
        assert_eq!(sequence.next_value(&holder).await.unwrap(), 2);
        let mut attempts = 0;
        let error = Retry::new()
            .max_attempts(3)
            .backoff(Duration::from_millis(1), Duration::from_millis(5))
            .transaction::<DbErr, _, _, _>(&t.db, |txn| {
                attempts += 1;
                let sequence = sequence.clone();
                Box::pin(async move { sequence.next_value(txn).await.map_err(DbErr::from) })
            })
            .await
            .unwrap_err();
        assert_eq!(attempts, 3, "{t:?}");
        assert!(sequences_core::is_retryable(&error), "{t:?}: {error}");
        holder.rollback().await.unwrap();
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), Some(1), "{t:?}");
    }
}

/// The server kills the connection of a transaction holding a sequence
/// (`pg_terminate_backend`, MariaDB `KILL`): the writer waiting behind it
/// proceeds and gets the killed transaction's value; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connection_gives_its_value_back() {
    for t in connect_all(4).await {
        let (id_sql, kill_sql): (&str, fn(i64) -> String) = match t.backend {
            Backend::Postgres => ("SELECT pg_backend_pid()::bigint", |id| {
                format!("SELECT pg_terminate_backend({id})")
            }),
            Backend::MySql => ("SELECT CAST(CONNECTION_ID() AS SIGNED)", |id| {
                format!("KILL {id}")
            }),
            Backend::Sqlite => continue, // no server; see the process tests
        };
        let backend = t.db.get_database_backend();
        let name = unique_name("killed");
        let sequence = Sequence::new(name.clone());
        let first = sequence.next_value(&t.db).await.unwrap();
        insert_row(&t.db, &name, first).await.unwrap();

        let victim = t.db.begin().await.unwrap();
        let held = sequence.next_value(&victim).await.unwrap();
        insert_row(&victim, &name, held).await.unwrap();
        let id: i64 = victim
            .query_one_raw(Statement::from_string(backend, id_sql))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();

        let (s, n) = (sequence.clone(), name.clone());
        let (waiter, session) = locks::spawn_transaction(&t.db, move |txn| async move {
            let value = s.next_value(&txn).await.unwrap();
            insert_row(&txn, &n, value).await.unwrap();
            txn.commit().await.unwrap();
            value
        })
        .await;
        let session = session.expect("a server session");
        locks::wait_until_waiting(&t.db, session, &format!("{t:?} waiter")).await;
        assert!(
            !waiter.is_finished(),
            "{t:?}: the waiter must wait for the lock"
        );
        t.db.execute_raw(Statement::from_string(backend, kill_sql(id)))
            .await
            .unwrap();
        let reused = tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("the waiter proceeds once the holder is killed")
            .unwrap();
        assert_eq!(
            reused, held,
            "{t:?}: the killed transaction's value is reused"
        );
        assert!(
            victim.commit().await.is_err(),
            "{t:?}: the killed commit fails"
        );
        let values = committed_values(&t.db, &name).await;
        assert_gapless(
            &format!("{t:?} killed"),
            &values,
            1,
            sequence.last_value(&t.db).await.unwrap(),
        );
        assert_eq!(values.len(), 2, "{t:?}");
    }
}

/// Batches that cannot be served fail with the documented error and leave
/// the counter where it was, on a live sequence.
#[tokio::test]
async fn hostile_batches_change_nothing() {
    for t in connect_all(2).await {
        let top = i64::MAX - 100;
        let sequence = Sequence::new(unique_name("hostile-batch")).initial_value(top);
        assert_eq!(sequence.next_value(&t.db).await.unwrap(), top);
        // From top + 1, a batch of 100 would end (exclusive) past i64::MAX.
        for count in [u64::MAX, i64::MAX as u64, 1 << 40, 100] {
            let error = sequence.next_values(&t.db, count).await.unwrap_err();
            assert!(
                matches!(error, SequenceError::Overflow { .. }),
                "{t:?} {count}: {error}"
            );
            assert_eq!(
                sequence.last_value(&t.db).await.unwrap(),
                Some(top),
                "{t:?}"
            );
        }
        // The largest batch that fits still works, exactly.
        let range = sequence.next_values(&t.db, 99).await.unwrap();
        assert_eq!(range, top + 1..i64::MAX, "{t:?}");
        assert_eq!(sequence.next_value(&t.db).await.unwrap(), i64::MAX);
        assert!(matches!(
            sequence.next_value(&t.db).await,
            Err(SequenceError::Overflow { .. })
        ));
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), Some(i64::MAX));
        // A looping sequence whose reset is i64::MAX reaches i64::MAX - 1 and loops.
        let looping = Sequence::new(unique_name("loop-top"))
            .initial_value(i64::MAX - 3)
            .reset_value(i64::MAX);
        let got: Vec<i64> = {
            let mut got = Vec::new();
            for _ in 0..4 {
                got.push(looping.next_value(&t.db).await.unwrap());
            }
            got
        };
        assert_eq!(
            got,
            [i64::MAX - 3, i64::MAX - 2, i64::MAX - 1, i64::MAX - 3],
            "{t:?}"
        );
        if t.backend == Backend::Sqlite {
            let row =
                t.db.query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "SELECT typeof(last) FROM sequences WHERE name = ?",
                    [sequence.name().into()],
                ))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "integer");
        }
    }
}
