//! PostgreSQL is stopped hard and started again in the middle of a load:
//! writers fail, the pool reconnects, they continue, and the committed values
//! are gapless. It restarts the server, so it runs only when
//! `SEQUENCES_RESTART_POSTGRES=1` (`.ci/run` sets it); it is the only test of
//! this binary, so no other test sees the restart.

use std::process::Command;
use std::time::Duration;

use sequences_core::Sequence;
use sequences_tests::load::{self, Load};
use sequences_tests::{Backend, assert_gapless, committed_values, connect_all, unique_name};

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
    let shape = Load {
        tasks: 8,
        transactions: 60,
        tolerate_errors: true,
        ..Load::default()
    };
    let writers = {
        let (db, sequence) = (t.db.clone(), sequence.clone());
        tokio::spawn(async move { load::run(&db, &sequence, &shape).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = committed_values(&t.db, &name).await.len();
    tokio::task::spawn_blocking(|| {
        pg_ctlcluster("stop");
        std::thread::sleep(Duration::from_secs(1));
        pg_ctlcluster("start");
    })
    .await
    .unwrap();
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
