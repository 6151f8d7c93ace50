//! Gapless numbering on a three-node MariaDB Galera cluster (multi-master):
//! writers on every node at once, through `Retry` (Galera certifies at commit
//! and aborts the loser of a conflict with a deadlock error), a hot sequence
//! and per-writer sequences, then one node killed mid-load and rejoining.
//!
//! It builds the cluster (`scripts/galera`: ports 3307-3309, the main server
//! untouched) and removes it, so it runs only when `SEQUENCES_GALERA=1`
//! (`.ci/run` sets it), and is the only test of its binary.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use sequences_core::{Retry, Sequence};
use sequences_tests::ha::{Connect, Numbered, Stored, Writers};
use sequences_tests::{assert_gapless, insert_row, locks, migrate};

const NODES: [&str; 3] = [
    "mysql://root@127.0.0.1:3307/galera",
    "mysql://root@127.0.0.1:3308/galera",
    "mysql://root@127.0.0.1:3309/galera",
];
const WRITERS_PER_NODE: usize = 2;
/// Transactions per writer in the throughput phases.
const PER_WRITER: usize = 40;

fn script(args: &[&str]) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/galera");
    let output = Command::new(path)
        .args(args)
        .output()
        .expect("run scripts/galera");
    assert!(
        output.status.success(),
        "galera {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The cluster, torn down when the test ends, passed or failed.
struct Cluster;

impl Cluster {
    fn setup() -> Self {
        script(&["setup"]);
        Cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/galera");
        let _ = Command::new(path).arg("teardown").status();
    }
}

async fn connect(node: usize) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(NODES[node]);
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// A connection to `preferred`, or to the next node that answers and is synced.
async fn connect_live(preferred: usize) -> (usize, DatabaseConnection) {
    loop {
        for offset in 0..NODES.len() {
            let node = (preferred + offset) % NODES.len();
            let Ok(db) = connect(node).await else {
                continue;
            };
            let ready = db
                .query_one_raw(Statement::from_string(
                    DbBackend::MySql,
                    "SHOW STATUS LIKE 'wsrep_ready'",
                ))
                .await
                .ok()
                .flatten()
                .and_then(|row| row.try_get_by_index::<String>(1).ok());
            if ready.as_deref() == Some("ON") {
                return (node, db);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `writers` writers (their nodes given), `PER_WRITER` transactions each,
/// each taking a value of `sequence_of(writer)` and inserting its row:
/// committed transactions per second and retries.
async fn load(nodes: &[usize], sequence_of: impl Fn(usize) -> String) -> (f64, usize, Vec<String>) {
    let started = Instant::now();
    let retries = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let mut names = BTreeSet::new();
    for (writer, &node) in nodes.iter().enumerate() {
        let name = sequence_of(writer);
        names.insert(name.clone());
        let retries = retries.clone();
        tasks.push(tokio::spawn(async move {
            let db = connect(node).await.expect("a synced node");
            let retry = Retry::new().max_attempts(500);
            for _ in 0..PER_WRITER {
                let attempts = AtomicUsize::new(0);
                retry
                    .transaction::<DbErr, _, _, _>(&db, |txn| {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        let name = name.clone();
                        Box::pin(async move {
                            let value = Sequence::new(&name).next_value(txn).await?;
                            insert_row(txn, &name, value).await?;
                            Ok(())
                        })
                    })
                    .await
                    .unwrap_or_else(|e| panic!("node {node}: {e}"));
                retries.fetch_add(attempts.into_inner() - 1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = (nodes.len() * PER_WRITER) as f64 / started.elapsed().as_secs_f64();
    (
        rate,
        retries.load(Ordering::Relaxed),
        names.into_iter().collect(),
    )
}

/// Waits until every node has applied the same last write set.
async fn wait_in_sync() {
    locks::wait_for_async("the three nodes in sync", || async {
        let mut committed = BTreeSet::new();
        for node in 0..NODES.len() {
            let Ok(db) = connect(node).await else {
                return false;
            };
            let rows = db
                .query_all_raw(Statement::from_string(
                    DbBackend::MySql,
                    "SHOW STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_last_committed')",
                ))
                .await
                .unwrap_or_default();
            let values: BTreeMap<String, String> = rows
                .iter()
                .filter_map(|r| {
                    Some((r.try_get_by_index(0).ok()?, r.try_get_by_index(1).ok()?))
                })
                .collect();
            if values.get("wsrep_local_state_comment").map(String::as_str) != Some("Synced") {
                return false;
            }
            committed.insert(values.get("wsrep_last_committed").cloned());
        }
        committed.len() == 1
    })
    .await;
}

/// On every node: the committed values of each sequence are gapless, and
/// the counters are equal.
async fn assert_gapless_everywhere(names: &[String], context: &str) {
    wait_in_sync().await;
    for name in names {
        let mut lasts = BTreeSet::new();
        for node in 0..NODES.len() {
            let db = connect(node).await.unwrap();
            let values = sequences_tests::committed_values(&db, name).await;
            let last = Sequence::new(name).last_value(&db).await.unwrap();
            assert_gapless(&format!("{context} node {node} {name}"), &values, 1, last);
            lasts.insert(last);
        }
        assert_eq!(
            lasts.len(),
            1,
            "{context} {name}: counters differ: {lasts:?}"
        );
    }
}

/// Waits for `signal`, within the tests' patience.
async fn signalled(signal: &tokio::sync::Notify, what: &str) {
    tokio::time::timeout(locks::PATIENCE, signal.notified())
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting"));
}

/// Two nodes take the same sequence's next value at once: Galera lets both
/// proceed (row locks are local to a node), certifies the first commit, and
/// aborts the other with a deadlock error; `Retry` reruns it, which takes the
/// following value. Ordered by signals, not by timing.
async fn certification_conflict() {
    const NAME: &str = "galera-conflict";
    let loser = connect(1).await.unwrap();
    let winner = connect(0).await.unwrap();
    let holding = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let attempts = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let (holding, release, attempts) = (holding.clone(), release.clone(), attempts.clone());
        async move {
            Retry::new()
                .max_attempts(5)
                .transaction::<DbErr, _, _, _>(&loser, |txn| {
                    let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                    let (holding, release) = (holding.clone(), release.clone());
                    Box::pin(async move {
                        let value = Sequence::new(NAME).next_value(txn).await?;
                        insert_row(txn, NAME, value).await?;
                        if attempt == 1 {
                            holding.notify_one();
                            release.notified().await;
                        }
                        Ok(value)
                    })
                })
                .await
        }
    });
    signalled(&holding, "the first attempt holding its value").await;
    let txn = winner.begin().await.unwrap();
    let first = Sequence::new(NAME).next_value(&txn).await.unwrap();
    insert_row(&txn, NAME, first).await.unwrap();
    txn.commit().await.unwrap();
    release.notify_one();
    let second = task
        .await
        .unwrap()
        .expect("the retried transaction commits");
    assert_eq!(
        (first, second),
        (1, 2),
        "the loser retried after the winner"
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "one certification failure, one retry"
    );
    assert_gapless_everywhere(&[NAME.to_owned()], "certification conflict").await;
}

/// A node that refuses queries (`wsrep_reject_queries`, as while it is out
/// of quorum or rejoining) answers error 1047 to every statement, BEGIN and
/// ROLLBACK included; `Retry` waits and tries again, and the transaction
/// commits once the node is back, its first value given back. The refusal
/// strikes after the first attempt took its value (ordered by signals).
async fn not_ready_is_retried() {
    const NAME: &str = "galera-not-ready";
    let admin = connect(1).await.unwrap();
    let db = connect(1).await.unwrap();
    let holding = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let refused = Arc::new(tokio::sync::Notify::new());
    let attempts = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let (holding, release, refused, attempts) = (
            holding.clone(),
            release.clone(),
            refused.clone(),
            attempts.clone(),
        );
        async move {
            Retry::new()
                .max_attempts(1000)
                .transaction::<DbErr, _, _, _>(&db, |txn| {
                    let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                    let (holding, release, refused) =
                        (holding.clone(), release.clone(), refused.clone());
                    Box::pin(async move {
                        let value = Sequence::new(NAME).next_value(txn).await?;
                        if attempt == 1 {
                            holding.notify_one();
                            release.notified().await;
                        }
                        let inserted = insert_row(txn, NAME, value).await;
                        if let Err(error) = &inserted {
                            assert!(error.to_string().contains("WSREP"), "{error}");
                            refused.notify_one();
                        }
                        inserted.map(|_| value)
                    })
                })
                .await
        }
    });
    signalled(&holding, "the first attempt holding its value").await;
    admin
        .execute_unprepared("SET GLOBAL wsrep_reject_queries = ALL")
        .await
        .unwrap();
    release.notify_one();
    signalled(&refused, "the first attempt refused").await;
    admin
        .execute_unprepared("SET GLOBAL wsrep_reject_queries = NONE")
        .await
        .unwrap();
    let value = task
        .await
        .unwrap()
        .expect("committed once the node is back");
    assert_eq!(value, 1, "the refused attempt's value was given back");
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "one refused attempt, one retry"
    );
    assert_gapless_everywhere(&[NAME.to_owned()], "node not ready").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn galera_cluster_keeps_numbers_gapless() {
    if std::env::var("SEQUENCES_GALERA").as_deref() != Ok("1") {
        println!(
            "skipped: set SEQUENCES_GALERA=1 to build a three-node Galera cluster (3307-3309)"
        );
        return;
    }
    let _cluster = Cluster::setup();
    migrate(NODES[0]).await;

    // 1. One hot sequence, six writers on one node, then two on each node.
    let (one_node, one_retries, names) =
        load(&[0; 3 * WRITERS_PER_NODE], |_| "galera-hot-one".to_owned()).await;
    assert_gapless_everywhere(&names, "hot, one node").await;
    let spread: Vec<usize> = (0..3 * WRITERS_PER_NODE).map(|w| w % 3).collect();
    let (three_nodes, three_retries, names) =
        load(&spread, |_| "galera-hot-three".to_owned()).await;
    assert_gapless_everywhere(&names, "hot, three nodes").await;
    // 2. A sequence per writer, on three nodes.
    let (distinct, distinct_retries, names) = load(&spread, |w| format!("galera-writer-{w}")).await;
    assert_gapless_everywhere(&names, "a sequence per writer").await;
    println!(
        "galera throughput (6 writers, {PER_WRITER} transactions each): hot sequence on one node \
         {one_node:.0} tx/s ({one_retries} retries); hot sequence on three nodes {three_nodes:.0} \
         tx/s ({three_retries} retries); a sequence per writer on three nodes {distinct:.0} tx/s \
         ({distinct_retries} retries)"
    );
    certification_conflict().await;
    not_ready_is_retried().await;

    // 3. Node 3 killed mid-load, then back: writers on every node, numbering
    //    invoices on insert and at COMMIT; those on node 3 move to the next node.
    let kinds: Vec<Numbered> = (0..3 * WRITERS_PER_NODE)
        .map(|w| {
            if w % 2 == 0 {
                Numbered::OnInsert
            } else {
                Numbered::AtCommit
            }
        })
        .collect();
    let reconnect: Connect = Arc::new(|writer, failures| {
        Box::pin(async move { connect_live((writer + failures) % NODES.len()).await.1 })
    });
    let writers = Writers::start("galera", &kinds, Retry::new().max_attempts(500), reconnect);
    writers
        .wait_acknowledged(60, "commits before the kill")
        .await;
    tokio::task::spawn_blocking(|| script(&["kill", "3"]))
        .await
        .unwrap();
    let killed_at = Instant::now();
    // Every writer of node 3 has failed over and committed elsewhere.
    writers.wait_failed_over(|w| w % 3 == 2, 10).await;
    tokio::task::spawn_blocking(|| script(&["start", "3"]))
        .await
        .unwrap();
    let back_after = killed_at.elapsed();
    let after_rejoin = writers.acknowledged();
    writers
        .wait_acknowledged(after_rejoin + 60, "commits after the rejoin")
        .await;
    let ledger = writers.stop().await;
    wait_in_sync().await;

    let mut per_node = Vec::new();
    for node in 0..NODES.len() {
        let db = connect(node).await.unwrap();
        let context = format!("galera node {} after the kill", node + 1);
        let stored = Stored::read(&db, &context).await.unwrap();
        ledger.compare(&stored).assert_kept(&context);
        per_node.push(stored);
    }
    assert!(
        per_node.windows(2).all(|pair| pair[0] == pair[1]),
        "the three nodes hold the same invoices and counters"
    );
    let result = ledger.compare(&per_node[0]);
    assert!(result.failed > 0, "the kill interrupted node 3's writers");
    println!(
        "galera node kill: {} writers ({} per node, half numbering at COMMIT), {} transactions \
         acknowledged, {} failed when node 3 died ({} after taking their number, {} of those \
         committed), {} certification retries; node 3 back and synced after {:.1}s; longest \
         pause between commits {:.2}s; every node holds {} invoices, last {:?}, 0 lost, \
         0 renumbered, 0 handed out twice",
        kinds.len(),
        WRITERS_PER_NODE,
        result.acknowledged,
        result.failed,
        result.in_flight,
        result.in_flight_committed,
        result.retries,
        back_after.as_secs_f64(),
        result.longest_pause.as_secs_f64(),
        per_node[0].invoices.len(),
        per_node[0].lasts,
    );
}
