//! Gapless numbering on PostgreSQL under Patroni: three members, an etcd,
//! and HAProxy routing to whichever member answers 200 on Patroni's `/primary`
//! (`scripts/patroni`; the main server untouched). Writers number invoices on
//! insert and at COMMIT through HAProxy, as applications do, while the leader
//! changes:
//!
//! 1. `synchronous_mode`: a planned `patronictl switchover`;
//! 2. `synchronous_mode`: the leader's postmaster (and backends) SIGKILLed:
//!    Patroni, still holding the leader key, recovers it in place;
//! 3. `synchronous_mode`: the leader's machine crashes (Patroni, the
//!    postmaster and its backends killed at once, its WAL senders first frozen
//!    300 ms as a slow link would leave the standbys behind): a replica is
//!    promoted once the leader key expires;
//! 4. `synchronous_mode_strict`: the same machine crash;
//! 5. asynchronous replication: the postmaster killed, then the machine crash.
//!
//! Writers do not stop on their own: each numbers invoices until it has been
//! cut off from the old leader and committed again on the new one, so the
//! fault interrupts them on a fast machine as on a slow one.
//!
//! In synchronous modes every acknowledged number is on the new leader, under
//! its invoice, once; a number in flight is there once or not at all. In
//! asynchronous mode acknowledged numbers can be lost and handed out again:
//! measured and printed. In every mode the new leader's numbers are gapless
//! (a replica holds a prefix of the leader's history).
//!
//! It builds the cluster and removes it, so it runs only when
//! `SEQUENCES_PATRONI=1` (`.ci/run` sets it), and is the only test of its binary.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use sequences_core::Retry;
use sequences_tests::ha::{Comparison, Connect, Numbered, Stored, Writers};
use sequences_tests::migrate;

/// HAProxy, in front of the leader.
const PRIMARY: &str = "postgres://postgres@127.0.0.1:5440/patroni";
const KINDS: [Numbered; 4] = [
    Numbered::OnInsert,
    Numbered::AtCommit,
    Numbered::OnInsert,
    Numbered::AtCommit,
];
/// Acknowledged commits (all writers) before the fault.
const FAULT_AFTER: usize = 80;
/// Commits per writer on the new leader before the writers stop.
const AFTER_FAULT: usize = 40;
/// The leader's WAL senders are frozen this long before it crashes.
const LAG_MS: &str = "300";

fn script(args: &[&str]) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/patroni");
    let output = Command::new(path)
        .args(args)
        .output()
        .expect("run scripts/patroni");
    assert!(
        output.status.success(),
        "patroni {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

async fn script_async(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        script(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

/// The cluster, torn down when the test ends, passed or failed.
struct Cluster;

impl Drop for Cluster {
    fn drop(&mut self) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/patroni");
        let _ = Command::new(path).arg("teardown").status();
    }
}

/// A single connection to the leader through HAProxy, checked writable (for
/// a moment after a switchover HAProxy may still route to the old leader).
/// `test_before_acquire` off: a connection cut by the fault fails the
/// writer's next statement instead of being replaced silently, so every
/// writer sees the fault.
async fn connect_primary() -> DatabaseConnection {
    loop {
        let mut options = ConnectOptions::new(PRIMARY);
        options
            .max_connections(1)
            .connect_timeout(Duration::from_secs(1))
            .acquire_timeout(Duration::from_secs(2))
            .test_before_acquire(false)
            .sqlx_logging(false);
        if let Ok(db) = Database::connect(options).await {
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

#[derive(Clone, Copy)]
enum Fault {
    /// `patronictl switchover`.
    Switchover,
    /// SIGKILL of the leader's postmaster and backends.
    PostgresCrash,
    /// SIGKILL of the leader's Patroni, postmaster and backends, after its
    /// WAL senders were frozen.
    MachineCrash,
}

/// Writers through HAProxy, `fault` mid-load, the crashed member back;
/// returns the writers' ledger compared with the new leader.
async fn scenario(name: &str, fault: Fault) -> Comparison {
    let connect: Connect = Arc::new(|_, _| Box::pin(connect_primary()));
    let writers = Writers::start(name, &KINDS, Retry::new(), connect);
    writers
        .wait_acknowledged(FAULT_AFTER, "commits before the fault")
        .await;
    let crashed = match fault {
        Fault::Switchover => {
            script_async(&["switchover"]).await;
            None
        }
        Fault::PostgresCrash => {
            script_async(&["kill-postgres"]).await;
            None
        }
        Fault::MachineCrash => Some(script_async(&["kill", LAG_MS]).await),
    };
    writers.wait_failed_over(|_| true, AFTER_FAULT).await;
    let ledger = writers.stop().await;
    match crashed {
        // The crashed member rejoins (rewound if it had diverged) before the
        // next scenario.
        Some(member) => script_async(&["start", &member]).await,
        None => script_async(&["healthy"]).await,
    };
    let db = connect_primary().await;
    let stored = Stored::read(&db, name).await.unwrap();
    let comparison = ledger.compare(&stored);
    assert!(
        comparison.failed > 0,
        "{name}: the fault interrupted no writer"
    );
    println!(
        "patroni {name}: {} writers (half numbering at COMMIT), {} acknowledged, {} failed \
         ({} after taking their number, {} of those committed), outage {:.2}s; acknowledged \
         but lost: {}, numbers handed out twice: {}; the leader holds {} invoices, last {:?}",
        KINDS.len(),
        comparison.acknowledged,
        comparison.failed,
        comparison.in_flight,
        comparison.in_flight_committed,
        comparison.longest_pause.as_secs_f64(),
        comparison.lost.len(),
        comparison.reissued,
        stored.invoices.len(),
        stored.lasts,
    );
    comparison
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patroni_failovers_keep_numbers_gapless() {
    if std::env::var("SEQUENCES_PATRONI").as_deref() != Ok("1") {
        println!(
            "skipped: set SEQUENCES_PATRONI=1 to build a three-member Patroni cluster \
             (etcd 2479, PostgreSQL 5441-5443, HAProxy 5440)"
        );
        return;
    }
    script(&["setup"]);
    let _cluster = Cluster;
    migrate(PRIMARY).await;

    scenario("sync-switchover", Fault::Switchover)
        .await
        .assert_kept("synchronous mode, switchover");
    scenario("sync-postgres-crash", Fault::PostgresCrash)
        .await
        .assert_kept("synchronous mode, postmaster killed");
    scenario("sync-machine-crash", Fault::MachineCrash)
        .await
        .assert_kept("synchronous mode, leader's machine crash");
    script_async(&["mode", "strict"]).await;
    scenario("strict-machine-crash", Fault::MachineCrash)
        .await
        .assert_kept("synchronous_mode_strict, leader's machine crash");
    script_async(&["mode", "async"]).await;
    // Recovered in place from its own WAL: nothing acknowledged is lost,
    // even without a standby.
    scenario("async-postgres-crash", Fault::PostgresCrash)
        .await
        .assert_kept("asynchronous mode, postmaster killed");
    scenario("async-machine-crash", Fault::MachineCrash).await;
}
