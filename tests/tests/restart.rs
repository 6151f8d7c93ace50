//! PostgreSQL is stopped hard and started again in the middle of a load:
//! writers fail, the pool reconnects, they continue, and the committed values
//! are gapless. The load runs until the test has seen commits on both sides
//! of the restart, and the server is stopped while a writer provably waits
//! inside a statement, so the outcome does not depend on the machine's speed. It restarts the server, so it runs only when
//! `SEQUENCES_RESTART_POSTGRES=1` (`.ci/run` sets it); it is the only test of
//! this binary, so no other test sees the restart.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sequences_core::Sequence;
use sequences_tests::load::{self, Control, Load};
use sequences_tests::{
    Backend, assert_gapless, committed_values, connect_all, locks, open, unique_name,
};

fn pg_ctlcluster(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("a Debian PostgreSQL cluster")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .next()
        .expect("a PostgreSQL version");
    let mut command = Command::new("pg_ctlcluster");
    command.args(["--skip-systemctl-redirect", &version, "main", action]);
    if action == "stop" {
        command.args(["-m", "immediate"]); // like a crash: no clean shutdown
    }
    let status = command.status().expect("run pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_mid_load_stays_gapless() {
    if std::env::var("SEQUENCES_RESTART_POSTGRES").as_deref() != Ok("1") {
        println!("skipped: set SEQUENCES_RESTART_POSTGRES=1 to let this test restart PostgreSQL");
        return;
    }
    let t = connect_all(8)
        .await
        .into_iter()
        .find(|t| t.backend == Backend::Postgres)
        .expect("PostgreSQL is configured");
    let name = unique_name("restart");
    let sequence = Sequence::new(name.clone());
    // Writers run until told to stop; `transactions` is only a bound.
    let shape = Load {
        tasks: 8,
        transactions: 100_000,
        tolerate_errors: true,
        ..Load::default()
    };
    let control = Arc::new(Control::default());
    let writers = {
        let (db, sequence, control) = (t.db.clone(), sequence.clone(), control.clone());
        tokio::spawn(async move { load::run_controlled(&db, &sequence, &shape, control).await })
    };
    locks::wait_for("commits before the restart", || control.committed() >= 50).await;

    // Take the sequence from a connection of our own and wait until a writer
    // waits for it: the server then dies under writers that are inside a
    // statement, which must fail, however fast the machine is.
    let holder_db = open(&t.url, 1).await;
    let holder = holder_db.begin().await.unwrap();
    sequence.next_value(&holder).await.unwrap();
    locks::wait_for_async("a writer waiting for the held sequence", || async {
        let row = holder
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_locks WHERE NOT granted",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap() > 0
    })
    .await;
    // Through our own transaction: every pooled connection waits for us.
    let before = committed_values(&holder, &name).await.len();
    let committed_at_stop = control.committed();
    tokio::task::spawn_blocking(|| {
        pg_ctlcluster("stop");
        std::thread::sleep(Duration::from_secs(1));
        pg_ctlcluster("start");
    })
    .await
    .unwrap();
    // Its connection died with the server; the rollback has nothing to do.
    let _ = holder.rollback().await;
    locks::wait_for("commits after the restart", || {
        control.committed() >= committed_at_stop + 50
    })
    .await;
    control.stop();
    let report = writers.await.unwrap();
    let values = committed_values(&t.db, &name).await;
    let last = sequence.last_value(&t.db).await.unwrap();
    println!(
        "restart: {before} values committed before the stop; after the run: {report}; \
         {} values in the table",
        values.len()
    );
    assert!(before > 0, "the load was running before the restart");
    assert!(report.failed > 0, "the restart made some transactions fail");
    assert!(values.len() > before, "writers continued after the restart");
    assert_gapless("Postgres restart", &values, 1, last);
}
