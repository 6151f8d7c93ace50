//! django-sequences' two-connection scenarios with real concurrent
//! connections, and a stress test of many writers with random rollbacks.
//!
//! In each scenario, transaction "one" takes a value and holds it; then "two"
//! starts. "One" ends as soon as "two" is done, or as soon as the server shows
//! "two" waiting for a lock, so the logged order shows whether "two" waited
//! for "one", whatever the machine's speed. SQLite has no sessions to inspect
//! and a single writer: there "one" ends when "two" is done or after `HOLD`,
//! and every SQLite scenario expects "two" to wait, which a slow machine
//! cannot turn into another order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sequences_core::{Sequence, SequenceError};
use sequences_tests::locks::{self, PATIENCE};
use sequences_tests::{
    Backend, assert_gapless, committed_values, connect_all, insert_row, unique_name,
};
use tokio::sync::oneshot;

/// SQLite only: how long "one" holds the database lock while "two" waits.
const HOLD: Duration = Duration::from_millis(1000);

#[derive(Clone, Copy, PartialEq)]
enum End {
    Commit,
    Rollback,
}

type Log = Arc<Mutex<Vec<String>>>;

fn log(log: &Log, who: &str, what: impl ToString) {
    log.lock()
        .unwrap()
        .push(format!("{who} {}", what.to_string()));
}

/// Runs one scenario and returns the log.
async fn scenario(
    db: &DatabaseConnection,
    one_seq: Sequence,
    one_end: End,
    two_seq: Sequence,
) -> Vec<String> {
    let events: Log = Arc::default();
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let (session_tx, session_rx) = oneshot::channel::<Option<i64>>();
    let (done_tx, mut done_rx) = oneshot::channel::<()>();

    let one = {
        let (db, events) = (db.clone(), events.clone());
        async move {
            log(&events, "one", "begin");
            let txn = db.begin().await.unwrap();
            let value = one_seq.next_value(&txn).await.unwrap();
            log(&events, "one", value);
            started_tx.send(()).unwrap();
            let two_session = session_rx.await.unwrap();
            // Two is done, or provably waiting for us.
            let two_waits = async {
                match two_session {
                    Some(id) => locks::wait_until_waiting(&db, id, "two").await,
                    None => tokio::time::sleep(HOLD).await,
                }
            };
            tokio::select! {
                _ = &mut done_rx => {}
                () = two_waits => {}
            }
            match one_end {
                End::Commit => {
                    log(&events, "one", "commit");
                    txn.commit().await.unwrap();
                }
                End::Rollback => {
                    log(&events, "one", "rollback");
                    txn.rollback().await.unwrap();
                }
            }
        }
    };
    let two = {
        let (db, events) = (db.clone(), events.clone());
        async move {
            started_rx.await.unwrap();
            log(&events, "two", "begin");
            let txn = db.begin().await.unwrap();
            session_tx.send(locks::session_id(&txn).await).unwrap();
            match two_seq.next_value(&txn).await {
                Ok(value) => {
                    log(&events, "two", value);
                    log(&events, "two", "commit");
                    txn.commit().await.unwrap();
                }
                Err(SequenceError::LockNotAvailable { .. }) => {
                    log(&events, "two", "locked");
                    txn.rollback().await.unwrap();
                }
                Err(other) => panic!("two: {other}"),
            }
            let _ = done_tx.send(());
        }
    };
    let (one, two) = tokio::time::timeout(PATIENCE, async {
        tokio::join!(tokio::spawn(one), tokio::spawn(two))
    })
    .await
    .expect("the scenario ends");
    one.unwrap();
    two.unwrap();
    Arc::try_unwrap(events).unwrap().into_inner().unwrap()
}

fn expect(events: &[&str]) -> Vec<String> {
    events.iter().map(|e| e.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_and_later_access_with_commit() {
    for t in connect_all(4).await {
        let name = unique_name("commit");
        let got = scenario(
            &t.db,
            Sequence::new(name.clone()),
            End::Commit,
            Sequence::new(name.clone()),
        )
        .await;
        let want = expect(&[
            "one begin",
            "one 1",
            "two begin",
            "one commit",
            "two 2",
            "two commit",
        ]);
        assert_eq!(got, want, "{t:?} first access");
        let got = scenario(
            &t.db,
            Sequence::new(name.clone()),
            End::Commit,
            Sequence::new(name),
        )
        .await;
        let want = expect(&[
            "one begin",
            "one 3",
            "two begin",
            "one commit",
            "two 4",
            "two commit",
        ]);
        assert_eq!(got, want, "{t:?} later access");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_and_later_access_with_rollback() {
    for t in connect_all(4).await {
        let name = unique_name("rollback");
        let got = scenario(
            &t.db,
            Sequence::new(name.clone()),
            End::Rollback,
            Sequence::new(name.clone()),
        )
        .await;
        let want = expect(&[
            "one begin",
            "one 1",
            "two begin",
            "one rollback",
            "two 1",
            "two commit",
        ]);
        assert_eq!(got, want, "{t:?} first access");
        let got = scenario(
            &t.db,
            Sequence::new(name.clone()),
            End::Rollback,
            Sequence::new(name),
        )
        .await;
        let want = expect(&[
            "one begin",
            "one 2",
            "two begin",
            "one rollback",
            "two 2",
            "two commit",
        ]);
        assert_eq!(got, want, "{t:?} later access");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_access_nowait() {
    for t in connect_all(4).await {
        if !t.backend.has_row_locks() {
            continue;
        }
        let name = unique_name("nowait-first");
        let got = scenario(
            &t.db,
            Sequence::new(name.clone()),
            End::Commit,
            Sequence::new(name).nowait(true),
        )
        .await;
        // The row does not exist yet, so there is no row to lock without waiting:
        // PostgreSQL waits for the inserting transaction; InnoDB's NOWAIT meets
        // the uncommitted row's lock and fails. Both as in django-sequences.
        let want = match t.backend {
            Backend::Postgres => expect(&[
                "one begin",
                "one 1",
                "two begin",
                "one commit",
                "two 2",
                "two commit",
            ]),
            _ => expect(&[
                "one begin",
                "one 1",
                "two begin",
                "two locked",
                "one commit",
            ]),
        };
        assert_eq!(got, want, "{t:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn later_access_nowait() {
    for t in connect_all(4).await {
        if !t.backend.has_row_locks() {
            continue;
        }
        let name = unique_name("nowait-later");
        Sequence::new(name.clone()).next_value(&t.db).await.unwrap();
        let got = scenario(
            &t.db,
            Sequence::new(name.clone()),
            End::Commit,
            Sequence::new(name.clone()).nowait(true),
        )
        .await;
        let want = expect(&[
            "one begin",
            "one 2",
            "two begin",
            "two locked",
            "one commit",
        ]);
        assert_eq!(got, want, "{t:?}");
        // The refused transaction consumed nothing.
        assert_eq!(
            Sequence::new(name).next_value(&t.db).await.unwrap(),
            3,
            "{t:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn different_sequences_do_not_block() {
    for t in connect_all(4).await {
        if !t.backend.has_row_locks() {
            continue;
        }
        let (a, b) = (unique_name("one"), unique_name("two"));
        let got = scenario(
            &t.db,
            Sequence::new(a.clone()),
            End::Commit,
            Sequence::new(b.clone()),
        )
        .await;
        let want = expect(&[
            "one begin",
            "one 1",
            "two begin",
            "two 1",
            "two commit",
            "one commit",
        ]);
        assert_eq!(got, want, "{t:?} first access");
        let got = scenario(&t.db, Sequence::new(a), End::Commit, Sequence::new(b)).await;
        let want = expect(&[
            "one begin",
            "one 2",
            "two begin",
            "two 2",
            "two commit",
            "one commit",
        ]);
        assert_eq!(got, want, "{t:?} later access");
    }
}

/// Many concurrent writers; each transaction takes one value or a small batch,
/// inserts a row per value, then commits or (about a third of the time) rolls
/// back. The committed values must be exactly initial..=last.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stress_random_rollbacks_stay_gapless() {
    const TASKS: usize = 16;
    const TRANSACTIONS: usize = 25;
    for t in connect_all(8).await {
        let name = unique_name("stress");
        let initial = 1000;
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (db, name) = (t.db.clone(), name.clone());
            tasks.push(tokio::spawn(async move {
                let sequence = Sequence::new(name.clone()).initial_value(initial);
                let (mut committed, mut rolled_back, mut retries) = (0usize, 0usize, 0usize);
                for _ in 0..TRANSACTIONS {
                    let (batch, rollback) = {
                        let mut rng = rand::rng();
                        (rng.random_range(1..=3u64), rng.random_bool(0.35))
                    };
                    // InnoDB may pick a deadlock victim while the sequence row is first
                    // created and rolled back (see README); retry, as applications must.
                    let (txn, values) = loop {
                        let txn = db.begin().await.unwrap();
                        let taken = if batch == 1 {
                            sequence.next_value(&txn).await.map(|v| v..v + 1)
                        } else {
                            sequence.next_values(&txn, batch).await
                        };
                        match taken {
                            Ok(values) => break (txn, values),
                            Err(error)
                                if error.db_err().is_some_and(sequences_core::is_retryable) =>
                            {
                                txn.rollback().await.unwrap();
                                retries += 1;
                            }
                            Err(error) => panic!("{error}"),
                        }
                    };
                    for value in values.clone() {
                        insert_row(&txn, &name, value).await.unwrap();
                    }
                    if rollback {
                        txn.rollback().await.unwrap();
                        rolled_back += 1;
                    } else {
                        txn.commit().await.unwrap();
                        committed += values.count();
                    }
                }
                (committed, rolled_back, retries)
            }));
        }
        let (mut committed, mut rolled_back, mut retries) = (0, 0, 0);
        for task in tasks {
            let (c, r, d) = task.await.unwrap();
            committed += c;
            rolled_back += r;
            retries += d;
        }
        let values = committed_values(&t.db, &name).await;
        let last = Sequence::new(name.clone()).last_value(&t.db).await.unwrap();
        assert_eq!(values.len(), committed, "{t:?}");
        assert!(
            rolled_back > 0,
            "{t:?}: the test must roll back some transactions"
        );
        assert_gapless(&format!("{t:?} stress"), &values, initial, last);
        println!(
            "{t:?}: {committed} values committed, {rolled_back} transactions rolled back, {retries} retried after a deadlock, 0 gaps, 0 duplicates"
        );
    }
}
