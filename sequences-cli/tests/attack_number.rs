//! Attacks on `sequences number`, the numberer's LISTEN/NOTIFY wake-up and
//! its heartbeat (what the audit takes for "a numberer is alive").
//!
//! Each test asserts the promised behaviour; its comment says what the
//! command did before it was fixed (all seven failed on the first run).

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sequences_tests::{Backend, Scratch, connect_all, migrate, open};

const BIN: &str = env!("CARGO_BIN_EXE_sequences");

fn sequences(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run sequences")
}

fn follow(url: &str, args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .arg("--follow")
        .env("DATABASE_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sequences number --follow")
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}; stdout: {}; stderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn sql(db: &DatabaseConnection, statement: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), statement))
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

async fn count(db: &DatabaseConnection, query: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), query))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn numbers(db: &DatabaseConnection, query: &str) -> Vec<Option<i64>> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), query))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<Option<i64>>(0).unwrap())
        .collect()
}

/// A composite primary key whose other column is of a type the command
/// cannot read (DECIMAL): `Table::load` leaves that column out, so the
/// remaining key column passes for a one-column primary key. The numberer
/// then finds rows by `id` alone, which is not unique: the UPDATE for
/// (site 1, id 1) also writes (site 2, id 1).
///
/// Expected: refused before any row is read, as the library refuses an
/// entity with a two-column key ("after_commit needs a one-column primary
/// key"), and nothing numbered. Observed (all backends): see the assertion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_refuses_a_composite_key_with_a_column_it_cannot_read() {
    let mut lies = Vec::new();
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "atk_number_ck").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let url = scratch.url.as_str();
        sql(
            &db,
            "CREATE TABLE ck_doc (site DECIMAL(10,0) NOT NULL, id INTEGER NOT NULL, \
             number BIGINT NULL, PRIMARY KEY (site, id))",
        )
        .await;
        sql(
            &db,
            "INSERT INTO ck_doc (site, id) VALUES (1, 1), (2, 1), (1, 2), (2, 2)",
        )
        .await;
        let output = sequences(
            url,
            &[
                "--json",
                "number",
                "--table",
                "ck_doc",
                "--column",
                "number",
                "--sequence",
                "ck",
            ],
        );
        let numbered = numbers(&db, "SELECT number FROM ck_doc ORDER BY site, id").await;
        let counter = numbers(&db, "SELECT last FROM sequences WHERE name = 'ck'").await;
        if !(output.status.code() == Some(2) && numbered.iter().all(Option::is_none)) {
            lies.push(format!(
                "{t:?}: a two-column key must be refused, nothing numbered; got {} \
                 numbers (site, id order) {numbered:?}, counter `ck` {counter:?}",
                text(&output)
            ));
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
    assert!(lies.is_empty(), "{}", lies.join("\n"));
}

/// `--follow` swallows what the single pass reports: a description the
/// numberer cannot run (here a two-column key) is a typed error, exit 2, for
/// `number`; with `--follow` every pass fails into a `tracing` warning, and
/// the command installs no subscriber. It runs silently and, at SIGTERM,
/// says "numbered 0 rows" with exit 0.
///
/// Expected: `--follow` refuses the same description as the single pass
/// (exit 2, the reason on stderr). Observed (all backends): see assertion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_reports_the_error_the_single_pass_reports() {
    let mut lies = Vec::new();
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "atk_number_follow_err").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let url = scratch.url.as_str();
        sql(
            &db,
            "CREATE TABLE ck2 (k1 INTEGER NOT NULL, k2 INTEGER NOT NULL, number BIGINT NULL, \
             PRIMARY KEY (k1, k2))",
        )
        .await;
        sql(&db, "INSERT INTO ck2 (k1, k2) VALUES (1, 1), (1, 2)").await;
        let args = [
            "number",
            "--table",
            "ck2",
            "--column",
            "number",
            "--sequence",
            "ck2",
        ];
        // The single pass: a clear, typed refusal.
        let once = sequences(url, &args);
        assert_eq!(once.status.code(), Some(2), "{t:?}: {}", text(&once));
        assert!(
            String::from_utf8_lossy(&once.stderr).contains("primary key"),
            "{t:?}: {}",
            text(&once)
        );
        // --follow: the same description.
        let child = follow(url, &args);
        let started = Instant::now();
        let mut child = child;
        let exited = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > Duration::from_secs(2) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if exited.is_none() {
            signal(&child, "-TERM");
        }
        let output = child.wait_with_output().unwrap();
        if !(exited.is_some()
            && output.status.code() == Some(2)
            && String::from_utf8_lossy(&output.stderr).contains("primary key"))
        {
            lies.push(format!(
                "{t:?}: --follow should refuse what the single pass refuses; it ran {} \
                 until SIGTERM: {}",
                if exited.is_some() {
                    "and exited"
                } else {
                    "2 s"
                },
                text(&output)
            ));
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
    assert!(lies.is_empty(), "{}", lies.join("\n"));
}

/// The heartbeat is per table (`numberer:<table>`), the audit's
/// `numberer_idle` reads that row: a numberer of column `a` keeps the audit
/// of column `b` of the same table clean while no numberer of `b` runs and
/// its rows wait for ever.
///
/// Control: with no numberer at all for 3 s the audit of `b --pending 2` is
/// a defect (exit 1). Then `sequences number --follow` runs for column `a`
/// only. Expected: the audit of `b` still exit 1 (no numberer of `b` ran
/// within 2 s). Observed (all backends): see the assertion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_pending_is_not_clean_when_only_another_column_has_a_numberer() {
    let mut lies = Vec::new();
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "atk_number_hb").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let url = scratch.url.as_str();
        sql(
            &db,
            "CREATE TABLE hb_doc (id INTEGER NOT NULL PRIMARY KEY, a BIGINT NULL, b BIGINT NULL)",
        )
        .await;
        sql(&db, "INSERT INTO hb_doc (id) VALUES (1), (2)").await;
        let a = [
            "number",
            "--table",
            "hb_doc",
            "--column",
            "a",
            "--sequence",
            "hb-a",
        ];
        let b = [
            "number",
            "--table",
            "hb_doc",
            "--column",
            "b",
            "--sequence",
            "hb-b",
        ];
        for args in [&a, &b] {
            let once = sequences(url, args);
            assert_eq!(once.status.code(), Some(0), "{t:?}: {}", text(&once));
        }
        // Two rows waiting for both columns.
        sql(&db, "INSERT INTO hb_doc (id) VALUES (3), (4)").await;
        let audit_b = [
            "--json",
            "audit",
            "--table",
            "hb_doc",
            "--column",
            "b",
            "--sequence",
            "hb-b",
            "--pending",
            "2",
        ];
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let control = sequences(url, &audit_b);
        assert_eq!(
            control.status.code(),
            Some(1),
            "{t:?}: control, no numberer for 3 s: {}",
            text(&control)
        );
        // A numberer of column `a` only.
        let child = follow(url, &a);
        let mut waited = 0;
        while count(&db, "SELECT COUNT(*) FROM hb_doc WHERE a IS NULL").await > 0 {
            waited += 1;
            assert!(waited < 500, "{t:?}: --follow numbered nothing of `a`");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let audit = sequences(url, &audit_b);
        let still_waiting = count(&db, "SELECT COUNT(*) FROM hb_doc WHERE b IS NULL").await;
        signal(&child, "-TERM");
        let stopped = child.wait_with_output().unwrap();
        assert_eq!(stopped.status.code(), Some(0), "{t:?}: {}", text(&stopped));
        if audit.status.code() != Some(1) {
            lies.push(format!(
                "{t:?}: {still_waiting} rows wait for `b` and no numberer of `b` ran for 3 s, \
                 yet the audit of `b --pending 2` says: {}",
                text(&audit)
            ));
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
    assert!(lies.is_empty(), "{}", lies.join("\n"));
}

mod tz_lib {
    use sea_orm::entity::prelude::*;

    /// The application's entity: a UTC date-time, which SeaORM writes as
    /// `timestamp` on MariaDB.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tz_lib")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub at: Option<DateTimeUtc>,
        pub reference: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A `DateTimeUtc` column as SeaORM's schema writes it on each backend
/// (MariaDB `timestamp`, PostgreSQL `timestamp with time zone`, SQLite
/// `timestamp_with_timezone_text`), and a value as the driver writes it.
fn utc_column(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::MySql => ("TIMESTAMP NULL", "'2024-12-31 12:00:00'"),
        Backend::Postgres => ("TIMESTAMPTZ NULL", "'2024-12-31 12:00:00+00'"),
        Backend::Sqlite => (
            "timestamp_with_timezone_text NULL",
            "'2024-12-31T12:00:00+00:00'",
        ),
    }
}

fn id_column(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => "id INT AUTO_INCREMENT PRIMARY KEY",
        Backend::Postgres => "id SERIAL PRIMARY KEY",
        Backend::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
    }
}

/// The application's date column is a `DateTimeUtc`, `--time-zone
/// Pacific/Auckland`, `--format '{year}-{value}'`: 2024-12-31 12:00 UTC is
/// 2025-01-01 01:00 in Auckland, so the library writes `2025-1`. The command,
/// with the same description, must write the same.
///
/// MariaDB: `Kind::of("timestamp")` is a naive `DateTime`, and sqlx refuses
/// to decode a `TIMESTAMP` as `NaiveDateTime`: the command fails with a raw
/// decode error (exit 2) after reading the rows, and numbers nothing. Had
/// it read the value, a naive date-time's day ignores `time_zone`, so the
/// year would have been 2024. Expected: the library's `2025-1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_takes_a_utc_date_in_the_time_zone_as_the_library_does() {
    use sequences_core::{NumberedField, Numbering, Sequence};
    let mut lies = Vec::new();
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "atk_number_tz").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let url = scratch.url.as_str();
        let (kind, value) = utc_column(t.backend);
        for table in ["tz_lib", "tz_cli"] {
            sql(
                &db,
                &format!(
                    "CREATE TABLE {table} ({}, at {kind}, reference VARCHAR(40) NULL)",
                    id_column(t.backend)
                ),
            )
            .await;
            sql(&db, &format!("INSERT INTO {table} (at) VALUES ({value})")).await;
        }
        // The application's numberer.
        let numbering = Numbering::new().field_with(
            NumberedField::new(tz_lib::Column::Reference, Sequence::new("tz-lib"))
                .after_commit()
                .format("{year}-{value}")
                .date(tz_lib::Column::At)
                .time_zone("Pacific/Auckland"),
        );
        assert_eq!(numbering.number_pending(&db).await.unwrap(), 1, "{t:?}");
        // The command, with the same description.
        let output = sequences(
            url,
            &[
                "number",
                "--table",
                "tz_cli",
                "--column",
                "reference",
                "--sequence",
                "tz-cli",
                "--format",
                "{year}-{value}",
                "--date",
                "at",
                "--time-zone",
                "Pacific/Auckland",
            ],
        );
        let reference = |table: &str| {
            let db = &db;
            let query = format!("SELECT reference FROM {table}");
            async move {
                db.query_one_raw(Statement::from_string(db.get_database_backend(), query))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get_by_index::<Option<String>>(0)
                    .unwrap()
            }
        };
        let library = reference("tz_lib").await;
        let command = reference("tz_cli").await;
        if command != library || output.status.code() != Some(0) {
            lies.push(format!(
                "{t:?}: the library wrote {library:?}, the command {command:?}: {}",
                text(&output)
            ));
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
    assert!(lies.is_empty(), "{}", lies.join("\n"));
}

/// A column the description does not name still breaks the command when
/// its type is one `Kind::of` claims but cannot decode: every column the
/// command "reads" is selected. On MariaDB a `created_at` `DateTimeUtc`
/// (SeaORM: `timestamp`) makes `sequences number` fail on any table that
/// has one. Expected (all backends): exit 0, both rows numbered 1, 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_ignores_an_unnamed_utc_column() {
    let mut lies = Vec::new();
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "atk_number_ts").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let url = scratch.url.as_str();
        let (kind, value) = utc_column(t.backend);
        sql(
            &db,
            &format!(
                "CREATE TABLE ts_doc ({}, created_at {kind}, number BIGINT NULL)",
                id_column(t.backend)
            ),
        )
        .await;
        sql(
            &db,
            &format!("INSERT INTO ts_doc (created_at) VALUES ({value}), ({value})"),
        )
        .await;
        let output = sequences(
            url,
            &[
                "number",
                "--table",
                "ts_doc",
                "--column",
                "number",
                "--sequence",
                "ts",
            ],
        );
        let numbered = numbers(&db, "SELECT number FROM ts_doc ORDER BY id").await;
        if output.status.code() != Some(0) || numbered != [Some(1), Some(2)] {
            lies.push(format!("{t:?}: numbers {numbered:?}: {}", text(&output)));
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
    assert!(lies.is_empty(), "{}", lies.join("\n"));
}

async fn asleep_row(db: &DatabaseConnection) -> bool {
    count(
        db,
        "SELECT COUNT(*) FROM sequences WHERE name = 'numberer-asleep:ac_receipt'",
    )
    .await
        == 1
}

async fn receipt(db: &DatabaseConnection) -> i64 {
    sql(db, "INSERT INTO ac_receipt (till) VALUES ('T')").await;
    count(db, "SELECT CAST(MAX(id) AS BIGINT) FROM ac_receipt").await
}

/// PostgreSQL, two numberers of one table ("several numberers, in several
/// processes, take turns"), both asleep. The first stops cleanly: it
/// deletes `numberer-asleep:<table>`, the row shared by every sleeper of the
/// table. The other still sleeps, but inserts no longer notify, so it is
/// not woken; it looks again only at its next timed look (up to a second
/// with `spawn`, up to `idle` with `spawn_with`; 30 s here, as in the
/// library's own wake-up test, so that only a notification can number the
/// row within 500 ms).
///
/// Control: both asleep, the row exists. Expected: the insert after the
/// first numberer stopped is numbered within 500 ms, as it is with one
/// sleeping numberer (`a_sleeping_numberer_wakes_on_the_insert_notification_on_postgres`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_numberer_is_still_woken_after_another_numberer_stops() {
    use sequences_core::Numberer;
    use sequences_tests::entities::ac_receipt;
    for t in connect_all(2).await {
        if t.backend != Backend::Postgres {
            continue;
        }
        let scratch = Scratch::new(&t, "atk_number_two_sleepers").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let numbering = ac_receipt::ActiveModel::gapless_numbering();
        numbering.install_triggers(&db).await.unwrap();
        let idle = Duration::from_secs(30);
        let first = Numberer::spawn_with(numbering, open(&scratch.url, 2).await, idle);
        let second = Numberer::spawn_with(numbering, open(&scratch.url, 2).await, idle);
        // Both idle for well over a second: both asleep.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(asleep_row(&db).await, "{t:?}: control: the numberers sleep");
        assert_eq!(first.shutdown().await, 0);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let row_left = asleep_row(&db).await;
        let id = receipt(&db).await;
        let woken = numbering
            .wait_for_number(&db, id, Duration::from_millis(500))
            .await;
        second.shutdown().await;
        assert!(
            woken.is_ok(),
            "{t:?}: the sleeping numberer was not woken by the insert (the row \
             `numberer-asleep:ac_receipt` {} after the other numberer stopped): {woken:?}",
            if row_left { "exists" } else { "is gone" }
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// PostgreSQL: a `sequences number --follow` killed (SIGKILL) while asleep
/// leaves `numberer-asleep:<table>` behind. A new numberer starts awake and,
/// kept busy, never asks for anything (it deletes the row only after it has
/// slept once): every insert keeps sending a NOTIFY, which PostgreSQL
/// commits one transaction at a time. The README: "While it is busy,
/// inserts do not notify".
///
/// Expected: once the new numberer runs, busy, the inserts send no
/// notification. Observed: see the assertion (notifications counted by a
/// LISTEN of the test's own during 2 s of inserts every 200 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_numberer_stops_the_notifications_a_killed_one_asked_for() {
    use sea_orm::sqlx::postgres::PgListener;
    use sequences_core::Numberer;
    use sequences_tests::entities::ac_receipt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    for t in connect_all(2).await {
        if t.backend != Backend::Postgres {
            continue;
        }
        let scratch = Scratch::new(&t, "atk_number_stale_asleep").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let url = scratch.url.as_str();
        let numbering = ac_receipt::ActiveModel::gapless_numbering();
        numbering.install_triggers(&db).await.unwrap();
        let child = follow(
            url,
            &[
                "number",
                "--table",
                "ac_receipt",
                "--column",
                "number",
                "--sequence",
                "acr-{till}",
            ],
        );
        let mut waited = 0;
        while !asleep_row(&db).await {
            waited += 1;
            assert!(waited < 500, "{t:?}: the --follow numberer never slept");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal(&child, "-KILL");
        let _ = child.wait_with_output();
        assert!(
            asleep_row(&db).await,
            "{t:?}: the killed numberer's row stays"
        );

        let numberer = Numberer::spawn(numbering, open(url, 2).await);
        let mut listener = PgListener::connect(url).await.unwrap();
        listener.listen("sequences_numberer").await.unwrap();
        let heard = Arc::new(AtomicUsize::new(0));
        let counting = {
            let heard = heard.clone();
            tokio::spawn(async move {
                while listener.recv().await.is_ok() {
                    heard.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        // Busy: a receipt every 200 ms; the first second to settle.
        let mut counted_from = None;
        for i in 0..15 {
            if i == 5 {
                counted_from = Some(heard.load(Ordering::SeqCst));
            }
            receipt(&db).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let notified = heard.load(Ordering::SeqCst) - counted_from.unwrap();
        let row_left = asleep_row(&db).await;
        counting.abort();
        let numbered = numberer.shutdown().await;
        assert!(numbered >= 14, "{t:?}: the numberer numbered {numbered}");
        assert_eq!(
            notified,
            0,
            "{t:?}: 10 inserts under a busy numberer sent {notified} notifications \
             (`numberer-asleep:ac_receipt` {} at the end)",
            if row_left { "still exists" } else { "is gone" }
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}
