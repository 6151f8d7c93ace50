//! Gapless numbering across a PostgreSQL failover, on a real streaming
//! replica: `scripts/pg-failover` makes a primary (5433) and a standby (5434)
//! beside the main server; writers number invoices through the derive; mid-run
//! the primary is stopped hard and the standby promoted; writers reconnect to
//! whichever server is writable and go on.
//!
//! In both modes the primary's WAL sender is first frozen for 300 ms (a slow
//! link), then the primary is stopped hard.
//!
//! Writers do not stop on their own: they number invoices until every one of
//! them has failed over and committed on the new primary, so the fault always
//! interrupts them, on a fast machine as on a slow one.
//!
//! - synchronous mode (`synchronous_standby_names`, `synchronous_commit = on`):
//!   every number a writer was told is committed is on the new primary, once,
//!   and the whole set is gapless; a number in flight is there once or not at all.
//! - asynchronous mode: measured and printed, not asserted
//!   beyond the new primary's own consistency (its numbers are gapless, as a
//!   replica holds a prefix of the primary's history), because acknowledged
//!   numbers can be lost and handed out again.
//!
//! It creates and drops PostgreSQL clusters, so it runs only when
//! `SEQUENCES_FAILOVER=1` (`.ci/run` sets it), and is the only test of its binary.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, DbBackend, EntityTrait, Statement, TransactionTrait,
};
use sequences_core::Sequence;
use sequences_tests::entities::failover_invoice;
use sequences_tests::{assert_gapless, locks, migrate};

const URLS: [&str; 2] = [
    "postgres://postgres@127.0.0.1:5433/failover",
    "postgres://postgres@127.0.0.1:5434/failover",
];
const WRITERS: usize = 4;
/// Acknowledged commits (all writers) before the fault.
const FAIL_OVER_AFTER: usize = 80;
/// Acknowledged commits per writer on the new primary before the writers stop.
const AFTER_FAILOVER: usize = 40;
/// A bound on each writer, never reached when the test works.
const MAX_PER_WRITER: usize = 100_000;
/// The primary's WAL sender is frozen this long before the primary stops, as
/// a slow link would leave the standby behind (both modes, same fault).
const LAG_MS: &str = "300";

fn script(args: &[&str]) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg-failover");
    let output = Command::new(path)
        .args(args)
        .output()
        .expect("run scripts/pg-failover");
    assert!(
        output.status.success(),
        "pg-failover {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A single connection to whichever server accepts writes, found by asking
/// each one `pg_is_in_recovery()`. sqlx 0.9 has no multi-host URL nor
/// `target_session_attrs`, so this is the application's job (or a proxy's).
async fn connect_writable() -> DatabaseConnection {
    loop {
        for url in URLS {
            let mut options = ConnectOptions::new(url);
            options
                .max_connections(1)
                .connect_timeout(Duration::from_secs(1))
                .acquire_timeout(Duration::from_secs(2))
                .sqlx_logging(false);
            let Ok(db) = Database::connect(options).await else {
                continue;
            };
            let writable = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT NOT pg_is_in_recovery()",
                ))
                .await
                .ok()
                .flatten()
                .and_then(|row| row.try_get_by_index::<bool>(0).ok());
            if writable == Some(true) {
                return db;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Default)]
struct Seen {
    /// token -> number, for commits the server acknowledged.
    acknowledged: BTreeMap<String, i64>,
    /// token -> number, for commits whose answer was lost.
    in_flight: BTreeMap<String, i64>,
    failed: usize,
    /// Per writer: commits acknowledged since its first failure (`None`
    /// before it failed).
    after_failure: [Option<usize>; WRITERS],
    /// When each commit was acknowledged.
    ack_times: Vec<Instant>,
}

async fn run(mode: &'static str) {
    script(&["setup", mode]);
    migrate(URLS[0]).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (seen, acked, stop) = (seen.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut db = connect_writable().await;
            let mut attempt = 0;
            while !stop.load(Ordering::SeqCst) && attempt < MAX_PER_WRITER {
                attempt += 1;
                let token = format!("{mode}-w{w}-{attempt}");
                let inserted = async {
                    let txn = db.begin().await.map_err(|e| (None, e))?;
                    let model = failover_invoice::ActiveModel {
                        token: Set(token.clone()),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await
                    .map_err(|e| (None, e))?;
                    txn.commit().await.map_err(|e| (Some(model.number), e))?;
                    Ok::<i64, (Option<i64>, sea_orm::DbErr)>(model.number)
                }
                .await;
                let failed = {
                    let mut seen = seen.lock().unwrap();
                    match inserted {
                        Ok(number) => {
                            seen.acknowledged.insert(token, number);
                            seen.ack_times.push(Instant::now());
                            if let Some(count) = &mut seen.after_failure[w] {
                                *count += 1;
                            }
                            acked.fetch_add(1, Ordering::SeqCst);
                            false
                        }
                        Err((number, _)) => {
                            if let Some(number) = number {
                                seen.in_flight.insert(token, number);
                            }
                            seen.failed += 1;
                            seen.after_failure[w].get_or_insert(0);
                            true
                        }
                    }
                };
                if failed {
                    db = connect_writable().await;
                }
            }
        }));
    }
    locks::wait_for("commits before the failover", || {
        acked.load(Ordering::SeqCst) >= FAIL_OVER_AFTER
    })
    .await;
    tokio::task::spawn_blocking(|| script(&["failover", LAG_MS]))
        .await
        .unwrap();
    // Every writer was cut off from the old primary and committed on the new one.
    locks::wait_for("every writer committing on the new primary", || {
        seen.lock()
            .unwrap()
            .after_failure
            .iter()
            .all(|count| count.is_some_and(|count| count >= AFTER_FAILOVER))
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    // Failover time: the longest pause between two acknowledged commits.
    let failover_time = {
        let mut times = seen.lock().unwrap().ack_times.clone();
        times.sort();
        times
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .max()
            .unwrap_or_default()
    };

    let db = connect_writable().await;
    let rows = failover_invoice::Entity::find().all(&db).await.unwrap();
    let last = Sequence::new("failover").last_value(&db).await.unwrap();
    script(&["teardown"]);

    let stored: BTreeMap<String, i64> = rows.iter().map(|r| (r.token.clone(), r.number)).collect();
    let numbers: Vec<i64> = rows.iter().map(|r| r.number).collect();
    let seen = seen.lock().unwrap();
    let lost: Vec<&String> = seen
        .acknowledged
        .keys()
        .filter(|token| !stored.contains_key(*token))
        .collect();
    // Numbers acknowledged for one invoice and now held by another.
    let by_number: BTreeMap<i64, &String> = rows.iter().map(|r| (r.number, &r.token)).collect();
    let reissued = seen
        .acknowledged
        .iter()
        .filter(|(token, number)| by_number.get(number).is_some_and(|holder| holder != token))
        .count();
    let in_flight_kept = seen
        .in_flight
        .iter()
        .filter(|(token, number)| stored.get(*token) == Some(number))
        .count();
    let distinct: BTreeSet<i64> = numbers.iter().copied().collect();
    println!(
        "{mode}: {WRITERS} writers, {} transactions acknowledged, {} failed during the failover \
         ({} with the commit's answer lost, {in_flight_kept} of them committed after all), \
         failover in {:.2}s; new primary holds {} numbers, last {last:?}, {} duplicates; \
         acknowledged but lost: {}, numbers handed out twice: {reissued}",
        seen.acknowledged.len(),
        seen.failed,
        seen.in_flight.len(),
        failover_time.as_secs_f64(),
        numbers.len(),
        numbers.len() - distinct.len(),
        lost.len(),
    );
    // A replica holds a prefix of the primary's history: gapless in both modes.
    assert_gapless(&format!("{mode} new primary"), &numbers, 1, last);
    assert!(
        seen.failed > 0,
        "{mode}: the failover interrupted no writer"
    );
    if mode == "sync" {
        assert!(lost.is_empty(), "sync: acknowledged commits lost: {lost:?}");
        assert_eq!(reissued, 0, "sync: numbers handed out twice");
        for (token, number) in &seen.acknowledged {
            assert_eq!(stored.get(token), Some(number), "sync: {token}");
        }
        for (token, number) in &seen.in_flight {
            assert!(
                stored.get(token).is_none_or(|stored| stored == number),
                "sync: in-flight {token} stored with another number"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_keeps_acknowledged_numbers_in_sync_mode() {
    if std::env::var("SEQUENCES_FAILOVER").as_deref() != Ok("1") {
        println!(
            "skipped: set SEQUENCES_FAILOVER=1 to create a primary/standby pair (root, Debian PostgreSQL)"
        );
        return;
    }
    run("sync").await;
    run("async").await;
}
