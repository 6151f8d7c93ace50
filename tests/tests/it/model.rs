//! A property test: random interleavings of allocate / commit / rollback /
//! delete across two connections, checked step by step against a model of
//! the sequence, on every backend.
//!
//! A second writer never waits: each transaction sets a zero (MariaDB) or
//! short (PostgreSQL) lock timeout, and SQLite's pool has no busy timeout, so
//! an allocation the model says would block must fail with
//! `LockNotAvailable`; the interpreter then rolls that transaction back.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};
use sequences_core::{Sequence, SequenceError};
use sequences_tests::{Backend, committed_values, connect_all, insert_row, unique_name};

#[derive(Debug, Clone, Copy)]
enum Op {
    Allocate { client: usize, count: u64 },
    Commit(usize),
    Rollback(usize),
    Delete,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 1..=3u64).prop_map(|(client, count)| Op::Allocate { client, count }),
        2 => (0..2usize).prop_map(Op::Commit),
        2 => (0..2usize).prop_map(Op::Rollback),
        1 => Just(Op::Delete),
    ]
}

/// What the database must hold.
#[derive(Debug, Default)]
struct Model {
    /// The committed `last` (None: no row).
    last: Option<i64>,
    /// Values of committed transactions since the last delete.
    committed: Vec<i64>,
    /// Per client: the values its open transaction took (it then holds the lock).
    pending: [Vec<i64>; 2],
}

const INITIAL: i64 = 10;

struct Client {
    txn: Option<DatabaseTransaction>,
}

async fn begin(db: &DatabaseConnection) -> DatabaseTransaction {
    let txn = db.begin().await.unwrap();
    let no_wait = match db.get_database_backend() {
        DbBackend::Postgres => Some("SET LOCAL lock_timeout = '50ms'"),
        DbBackend::MySql => Some("SET SESSION innodb_lock_wait_timeout = 0"),
        _ => None,
    };
    if let Some(sql) = no_wait {
        txn.execute_unprepared(sql).await.unwrap();
    }
    txn
}

async fn check(db: &DatabaseConnection, ops: &[Op]) -> Result<(), TestCaseError> {
    let name = unique_name("model");
    let sequence = Sequence::new(name.clone()).initial_value(INITIAL);
    let mut model = Model::default();
    let mut clients = [Client { txn: None }, Client { txn: None }];
    for (step, &op) in ops.iter().enumerate() {
        let at = format!("step {step} {op:?}");
        match op {
            Op::Allocate { client, count } => {
                let other = 1 - client;
                if clients[client].txn.is_none() {
                    clients[client].txn = Some(begin(db).await);
                }
                let txn = clients[client].txn.as_ref().unwrap();
                let result = sequence.next_values(txn, count).await;
                if !model.pending[other].is_empty() {
                    prop_assert!(
                        matches!(result, Err(SequenceError::LockNotAvailable { .. })),
                        "{at}: expected LockNotAvailable, got {result:?}"
                    );
                    clients[client]
                        .txn
                        .take()
                        .unwrap()
                        .rollback()
                        .await
                        .unwrap();
                    model.pending[client].clear();
                    continue;
                }
                let base = model.pending[client].last().copied().or(model.last);
                let first = base.map_or(INITIAL, |last| last + 1);
                let expected = first..first + count as i64;
                prop_assert_eq!(result.as_ref().ok(), Some(&expected), "{}", at);
                for value in expected {
                    insert_row(txn, &name, value).await.unwrap();
                    model.pending[client].push(value);
                }
            }
            Op::Commit(client) => {
                if let Some(txn) = clients[client].txn.take() {
                    txn.commit().await.unwrap();
                    let values = std::mem::take(&mut model.pending[client]);
                    if let Some(&last) = values.last() {
                        model.last = Some(last);
                    }
                    model.committed.extend(values);
                }
            }
            Op::Rollback(client) => {
                if let Some(txn) = clients[client].txn.take() {
                    txn.rollback().await.unwrap();
                    model.pending[client].clear();
                }
            }
            Op::Delete => {
                // Deleting waits for a holder, like an allocation; the model
                // only deletes when nobody holds the sequence.
                if model.pending.iter().all(Vec::is_empty) {
                    let existed = sequence.delete(db).await.unwrap();
                    prop_assert_eq!(existed, model.last.is_some(), "{}", at);
                    delete_rows(db, &name).await;
                    model.last = None;
                    model.committed.clear();
                }
            }
        }
        prop_assert_eq!(
            sequence.last_value(db).await.ok().flatten(),
            model.last,
            "{} (last_value)",
            at
        );
    }
    for client in &mut clients {
        if let Some(txn) = client.txn.take() {
            txn.rollback().await.unwrap();
        }
    }
    let mut stored = committed_values(db, &name).await;
    stored.sort_unstable();
    let mut expected = model.committed.clone();
    expected.sort_unstable();
    prop_assert_eq!(&stored, &expected);
    let gapless: Vec<i64> = model
        .last
        .map_or(Vec::new(), |last| (INITIAL..=last).collect());
    prop_assert_eq!(stored, gapless);
    Ok(())
}

async fn delete_rows(db: &DatabaseConnection, name: &str) {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "DELETE FROM test_rows WHERE sequence_name = $1",
        _ => "DELETE FROM test_rows WHERE sequence_name = ?",
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .unwrap();
}

#[test]
fn random_interleavings_match_the_model() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let backends = runtime.block_on(connect_all(4));
    for t in &backends {
        // SQLite: a pool of its own without busy timeout, so a second writer
        // fails at once instead of waiting.
        let db = if t.backend == Backend::Sqlite {
            let mut options = ConnectOptions::new(&t.url);
            options
                .max_connections(4)
                .sqlx_logging(false)
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .busy_timeout(Duration::ZERO)
                });
            runtime.block_on(Database::connect(options)).unwrap()
        } else {
            t.db.clone()
        };
        let mut runner = TestRunner::new(Config {
            cases: 40,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&proptest::collection::vec(op(), 1..30), |ops| {
                runtime.block_on(check(&db, &ops))
            })
            .unwrap_or_else(|error| panic!("{t:?}: {error}"));
        println!("{t:?}: 40 random interleavings match the model");
    }
}
