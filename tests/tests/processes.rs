//! Several OS processes, each with its own pool, on one sequence (how users
//! scale out: many app servers, one database), and a process killed with
//! SIGKILL in the middle of a transaction. Both run the `sequences-worker`
//! binary of this package.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use sea_orm::TransactionTrait;
use sequences_core::Sequence;
use sequences_tests::load::Report;
use sequences_tests::{assert_gapless, committed_values, connect_all, insert_row, unique_name};

const WORKER: &str = env!("CARGO_BIN_EXE_sequences-worker");

/// Four processes × four tasks × 15 transactions, 30% rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_processes_share_one_sequence() {
    const PROCESSES: usize = 4;
    for t in connect_all(2).await {
        let name = unique_name("processes");
        let children: Vec<_> = (0..PROCESSES)
            .map(|_| {
                Command::new(WORKER)
                    .args(["--url", &t.url, "--sequence", &name, "--initial", "7"])
                    .args(["run", "--tasks", "4", "--transactions", "15"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start a worker process")
            })
            .collect();
        let mut total = Report::default();
        for child in children {
            let output = tokio::task::spawn_blocking(move || child.wait_with_output())
                .await
                .unwrap()
                .expect("worker output");
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success(), "{t:?}: worker failed: {text}");
            total += text
                .lines()
                .last()
                .expect("a report")
                .parse::<Report>()
                .unwrap();
        }
        let values = committed_values(&t.db, &name).await;
        assert_eq!(values.len(), total.committed_values, "{t:?}");
        assert!(total.rolled_back > 0, "{t:?}");
        let last = Sequence::new(name.clone()).last_value(&t.db).await.unwrap();
        assert_gapless(&format!("{t:?} processes"), &values, 7, last);
        println!("{t:?}: {PROCESSES} processes: {total}; 0 gaps, 0 duplicates");
    }
}

/// A process takes a value and is killed with SIGKILL before it commits: the
/// database rolls its transaction back, and the next writer gets that value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_transaction_loses_nothing() {
    for t in connect_all(2).await {
        let name = unique_name("sigkill");
        let sequence = Sequence::new(name.clone());
        let first = sequence.next_value(&t.db).await.unwrap();
        insert_row(&t.db, &name, first).await.unwrap();

        let mut child = Command::new(WORKER)
            .args(["--url", &t.url, "--sequence", &name, "hold"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a worker process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let held: i64 = line
            .trim()
            .strip_prefix("HOLDING ")
            .unwrap_or_else(|| panic!("{t:?}: unexpected worker output {line:?}"))
            .parse()
            .unwrap();
        assert_eq!(held, 2, "{t:?}");
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        let txn = t.db.begin().await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(30), sequence.next_value(&txn))
            .await
            .expect("the killed process's lock is released")
            .unwrap();
        assert_eq!(next, held, "{t:?}: the killed process's value is reused");
        insert_row(&txn, &name, next).await.unwrap();
        txn.commit().await.unwrap();
        let values = committed_values(&t.db, &name).await;
        assert_eq!(values.len(), 2, "{t:?}");
        assert_gapless(
            &format!("{t:?} sigkill"),
            &values,
            1,
            sequence.last_value(&t.db).await.unwrap(),
        );
    }
}

/// Two numberer processes number rows committed unnumbered (`after_commit`);
/// one is killed with SIGKILL while it numbers: its batch, numbered whole or
/// not at all, rolls back, and the other numbers every row once, gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numberer_killed_mid_batch_leaves_nothing_half_numbered() {
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    use sequences_tests::entities::ac_receipt;
    for t in connect_all(2).await {
        let till = unique_name("K").replace('-', "");
        // 1,200 rows committed unnumbered, in a few transactions.
        for _ in 0..4 {
            let rows = (0..300).map(|_| ac_receipt::ActiveModel {
                till: Set(till.clone()),
                ..Default::default()
            });
            ac_receipt::Entity::insert_many(rows)
                .exec(&t.db)
                .await
                .unwrap();
        }
        let start = || {
            let mut child = Command::new(WORKER)
                .args(["--url", &t.url, "--sequence", "unused", "number"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a numberer process");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "NUMBERING", "{t:?}");
            child
        };
        let mut doomed = start();
        let mut survivor = start();
        // Killed while the two take turns batch after batch.
        tokio::time::sleep(Duration::from_millis(rand::random_range(5..60))).await;
        doomed.kill().unwrap();
        doomed.wait().unwrap();
        let mut numbers = Vec::new();
        for _ in 0..600 {
            let rows = ac_receipt::Entity::find()
                .filter(ac_receipt::Column::Till.eq(&till))
                .all(&t.db)
                .await
                .unwrap();
            if rows.iter().all(|r| r.number.is_some()) {
                numbers = rows.into_iter().map(|r| r.number.unwrap()).collect();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        survivor.kill().unwrap();
        survivor.wait().unwrap();
        assert_eq!(
            numbers.len(),
            1200,
            "{t:?}: every row numbered by the survivor"
        );
        numbers.sort_unstable();
        assert_gapless(&format!("{t:?} numberer killed"), &numbers, 1, Some(1200));
    }
}
