//! Attacks on the Django shared-table feature (`CounterTable::Django`,
//! `DjangoSequencesMigration`, the guards, `django::import`, the audit), on
//! real PostgreSQL, MariaDB and SQLite, with the real Django/django-sequences
//! (`tests/django/harness.py`). Each test works in scratch databases of its
//! own and removes them.

use std::time::Duration;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, IsolationLevel, TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, SchemaManager};
use sequences_core::{Audit, CounterTable, Sequence, SequenceError};
use sequences_migration::DjangoSequencesMigration;
use sequences_tests::django::{adopted, django_seq, done, invoice};
use sequences_tests::{Backend, TestDb, connect_all};

/// `last` of `name` in each table (`sequences`, `sequences_sequence`).
async fn lasts(db: &DatabaseConnection, name: &str) -> (Option<i64>, Option<i64>) {
    (
        Sequence::new(name).last_value(db).await.unwrap(),
        django_seq(name).last_value(db).await.unwrap(),
    )
}

async fn raw(db: &impl ConnectionTrait, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

// ---------------------------------------------------------------------------
// 1. One name, one table: creation in both tables from two transactions.
// ---------------------------------------------------------------------------

/// A transaction whose snapshot predates the other table's creation of the
/// name creates it in its own table (REPEATABLE READ). PostgreSQL: the
/// advisory lock orders the two, but the check reads the transaction's old
/// snapshot. MariaDB: the check is a locking read (latest commit).
async fn snapshot_race(
    t: &TestDb,
    db: &DatabaseConnection,
    name: &str,
    django_first: bool,
) -> bool {
    let late = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), None::<AccessMode>)
        .await
        .unwrap();
    // Take the snapshot (PostgreSQL: first statement; MariaDB: consistent read).
    raw(&late, "SELECT COUNT(*) FROM mixed_invoice").await;
    // The other side creates the name and commits.
    let early = db.begin().await.unwrap();
    let first = if django_first {
        django_seq(name).next_value(&early).await
    } else {
        Sequence::new(name).next_value(&early).await
    };
    assert_eq!(first.unwrap(), 1, "{t:?}");
    early.commit().await.unwrap();
    // The late transaction creates it in the other table.
    let second = if django_first {
        Sequence::new(name).next_value(&late).await
    } else {
        django_seq(name).next_value(&late).await
    };
    let created = second.is_ok();
    if created {
        late.commit().await.unwrap();
    } else {
        println!("{t:?} {name}: refused: {}", second.unwrap_err());
        late.rollback().await.unwrap();
    }
    created
}

async fn snapshot_case(only: Backend) {
    let mut broken = Vec::new();
    for t in connect_all(2).await {
        if t.backend != only {
            continue;
        }
        let Some((scratch, db, _django)) = adopted(&t, "atk_rr_snapshot", 4).await else {
            return;
        };
        let mut both = Vec::new();
        for (name, django_first) in [("rr-a", true), ("rr-b", false)] {
            snapshot_race(&t, &db, name, django_first).await;
            let (ours, theirs) = lasts(&db, name).await;
            if ours.is_some() && theirs.is_some() {
                both.push(format!(
                    "{name}: sequences={ours:?} sequences_sequence={theirs:?}"
                ));
            }
        }
        let in_both = sequences_core::django::names_in_both(&db).await.unwrap();
        done(scratch, db).await;
        if !both.is_empty() {
            broken.push(format!(
                "{t:?}: a name created in BOTH counter tables (each numbers from 1): {both:?}; names_in_both = {in_both:?}"
            ));
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[tokio::test]
async fn guard_holds_postgres_repeatable_read_snapshot() {
    snapshot_case(Backend::Postgres).await;
}

#[tokio::test]
async fn guard_holds_mariadb_repeatable_read_snapshot() {
    snapshot_case(Backend::MySql).await;
}

/// Many names created at the same moment in both tables from two
/// connections, each at `level`.
async fn creation_stress(
    t: &TestDb,
    db: &DatabaseConnection,
    level: IsolationLevel,
    rounds: usize,
    prefix: &str,
) -> Vec<String> {
    let mut both = Vec::new();
    for round in 0..rounds {
        let name = format!("{prefix}-{round}");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for django in [false, true] {
            let db = db.clone();
            let name = name.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                let txn = db
                    .begin_with_config(Some(level), None::<AccessMode>)
                    .await
                    .unwrap();
                let sequence = if django {
                    django_seq(&name)
                } else {
                    Sequence::new(name.as_str())
                };
                barrier.wait().await;
                match sequence.next_value(&txn).await {
                    Ok(v) => txn.commit().await.map(|_| v).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }));
        }
        let mut oks = 0;
        for task in tasks {
            if task.await.unwrap().is_ok() {
                oks += 1;
            }
        }
        let (ours, theirs) = lasts(db, &name).await;
        if oks == 2 || (ours.is_some() && theirs.is_some()) {
            both.push(format!(
                "{name}: sequences={ours:?} sequences_sequence={theirs:?}"
            ));
        }
    }
    println!(
        "{t:?} {level:?}: {} of {rounds} names in both tables",
        both.len()
    );
    both
}

/// `tag` names the scratch databases: each test its own, as they run at
/// once in one process.
async fn stress_case(tag: &str, cases: &[(Backend, IsolationLevel, usize)]) {
    let mut broken = Vec::new();
    for t in connect_all(2).await {
        let mine: Vec<_> = cases.iter().filter(|c| c.0 == t.backend).collect();
        if mine.is_empty() {
            continue;
        }
        let Some((scratch, db, _django)) = adopted(&t, tag, 6).await else {
            return;
        };
        let mut both = Vec::new();
        for (_, level, rounds) in mine {
            let prefix = format!("{level:?}");
            both.extend(creation_stress(&t, &db, *level, *rounds, &prefix).await);
        }
        done(scratch, db).await;
        if !both.is_empty() {
            broken.push(format!("{t:?}: names created in BOTH tables: {both:?}"));
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[tokio::test]
async fn guard_holds_concurrent_creation_postgres_rc_mariadb_rr() {
    stress_case(
        "atk_race_rc_rr",
        &[
            (Backend::Postgres, IsolationLevel::ReadCommitted, 150),
            (Backend::MySql, IsolationLevel::RepeatableRead, 150),
        ],
    )
    .await;
}

#[tokio::test]
async fn guard_holds_postgres_repeatable_read_concurrent_creation() {
    stress_case(
        "atk_race_pg_rr",
        &[(Backend::Postgres, IsolationLevel::RepeatableRead, 20)],
    )
    .await;
}

#[tokio::test]
async fn guard_holds_mariadb_read_committed_concurrent_creation() {
    stress_case(
        "atk_race_my_rc",
        &[(Backend::MySql, IsolationLevel::ReadCommitted, 500)],
    )
    .await;
}

// ---------------------------------------------------------------------------
// 2. Django's other code paths on a closed counter and past max_value.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn django_orm_paths_obey_closing_and_max_value() {
    for t in connect_all(2).await {
        let Some((scratch, db, django)) = adopted(&t, "atk_orm_paths", 2).await else {
            return;
        };
        let mut failures = Vec::new();
        assert_eq!(django.next("c", 1, None), Ok(1), "{t:?}");
        let txn = db.begin().await.unwrap();
        django_seq("c").close(&txn).await.unwrap();
        txn.commit().await.unwrap();
        // reset_value: select_for_update + save(); nowait; a batch.
        let attempts = [
            ("reset_value", django.next("c", 1, Some(100))),
            (
                "nowait",
                django.python(
                    "with transaction.atomic():\n    v = get_next_value('c', nowait=True)\nprint(json.dumps({'value': v}))",
                ).value(),
            ),
            (
                "get_next_values",
                django.python(
                    "with transaction.atomic():\n    v = get_next_values(3, 'c')\nprint(json.dumps({'value': v[-1]}))",
                ).value(),
            ),
            (
                "nowait batch",
                django.python(
                    "with transaction.atomic():\n    v = get_next_values(3, 'c', nowait=True)\nprint(json.dumps({'value': v[-1]}))",
                ).value(),
            ),
        ];
        for (path, result) in attempts {
            match result {
                Err(e) if e.contains("is closed") => {}
                other => failures.push(format!("closed, {path}: {other:?}")),
            }
        }
        let last = django_seq("c").last_value(&db).await.unwrap();
        if last != Some(1) {
            failures.push(format!("closed counter moved: last = {last:?}"));
        }

        // max_value 3 declared by the library (recorded on the row).
        let bounded = django_seq("m").max_value(3);
        let txn = db.begin().await.unwrap();
        assert_eq!(bounded.next_value(&txn).await.unwrap(), 1);
        assert_eq!(bounded.next_value(&txn).await.unwrap(), 2);
        txn.commit().await.unwrap();
        // A batch of 2 from Django would reach 4.
        let batch = django.python(
            "with transaction.atomic():\n    v = get_next_values(2, 'm', nowait=True)\nprint(json.dumps({'value': v[-1]}))",
        ).value();
        if !matches!(&batch, Err(e) if e.contains("max_value")) {
            failures.push(format!("max 3, batch of 2 from last 2: {batch:?}"));
        }
        assert_eq!(
            django.next("m", 1, Some(100)),
            Ok(3),
            "{t:?}: 3 is in range"
        );
        for (path, result) in [
            ("upsert", django.next("m", 1, None)),
            ("reset_value", django.next("m", 1, Some(100))),
        ] {
            if !matches!(&result, Err(e) if e.contains("max_value")) {
                failures.push(format!("max 3, {path}: {result:?}"));
            }
        }
        let last = django_seq("m").last_value(&db).await.unwrap();
        if last != Some(3) {
            failures.push(format!("bounded counter at {last:?}, expected 3"));
        }
        // The library's own refusal on that counter, and after the range
        // is widened by the library, Django goes on.
        let txn = db.begin().await.unwrap();
        let refused = bounded.next_value(&txn).await;
        txn.rollback().await.unwrap();
        if !matches!(refused, Err(SequenceError::Exhausted { .. })) {
            failures.push(format!("library past max: {refused:?}"));
        }
        done(scratch, db).await;
        assert!(failures.is_empty(), "{t:?}: {failures:#?}");
    }
}

// ---------------------------------------------------------------------------
// 3. The import racing a Django writer.
// ---------------------------------------------------------------------------

/// A Django writer (the real harness, READ COMMITTED on MariaDB as Django
/// configures it) arrives on counter `a` while the import holds its row
/// lock: the import moves `a`; the writer must be refused, not restart `a`
/// at 1 in Django's table.
#[tokio::test]
async fn import_racing_a_django_writer_holds_on_postgres() {
    import_race(Backend::Postgres).await;
}

#[tokio::test]
async fn import_racing_a_django_writer_holds_on_mariadb() {
    import_race(Backend::MySql).await;
}

#[tokio::test]
async fn import_racing_a_library_writer_holds_on_mariadb() {
    import_race_with(Backend::MySql, true).await;
}

#[tokio::test]
async fn import_racing_a_library_writer_holds_on_postgres() {
    import_race_with(Backend::Postgres, true).await;
}

async fn import_race(only: Backend) {
    import_race_with(only, false).await;
}

/// Django's ORM path (reset_value: select_for_update + get_or_create +
/// save) waiting on the import's lock.
#[tokio::test]
async fn import_racing_a_django_orm_writer_holds() {
    for backend in [Backend::Postgres, Backend::MySql] {
        import_race_full(backend, Writer::DjangoOrm).await;
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Writer {
    DjangoUpsert,
    DjangoOrm,
    Rust,
}

async fn import_race_with(only: Backend, rust_writer: bool) {
    let writer = if rust_writer {
        Writer::Rust
    } else {
        Writer::DjangoUpsert
    };
    import_race_full(only, writer).await;
}

async fn import_race_full(only: Backend, kind: Writer) {
    let rust_writer = kind;
    for t in connect_all(2).await {
        if t.backend != only {
            continue;
        }
        let tag = format!("atk_import_race_{kind:?}").to_lowercase();
        let Some((scratch, db, django)) = adopted(&t, &tag, 4).await else {
            return;
        };
        assert_eq!(django.next("a", 1, None), Ok(1));
        assert_eq!(django.next("a", 1, None), Ok(2));
        assert_eq!(django.next("x", 1, None), Ok(1));
        // Hold `x`, so that the import locks `a` and then waits.
        let holder = db.begin().await.unwrap();
        raw(
            &holder,
            &match t.backend {
                Backend::Postgres => {
                    "SELECT 1 FROM sequences_sequence WHERE name = 'x' FOR UPDATE".to_owned()
                }
                _ => "SELECT 1 FROM sequences_sequence WHERE name = 'x' FOR UPDATE".to_owned(),
            },
        )
        .await;
        let import = {
            let db = db.clone();
            tokio::spawn(async move { sequences_core::django::import(&db).await })
        };
        tokio::time::sleep(Duration::from_millis(800)).await;
        let writer = if kind == Writer::Rust {
            let db = db.clone();
            tokio::spawn(async move {
                // As Django configures MariaDB: READ COMMITTED.
                let txn = db
                    .begin_with_config(Some(IsolationLevel::ReadCommitted), None::<AccessMode>)
                    .await
                    .unwrap();
                let v = django_seq("a")
                    .next_value(&txn)
                    .await
                    .map_err(|e| e.to_string());
                if v.is_ok() {
                    txn.commit().await.unwrap();
                }
                v
            })
        } else {
            let django = django.clone();
            let reset = (kind == Writer::DjangoOrm).then_some(1000);
            tokio::task::spawn_blocking(move || django.next("a", 1, reset))
        };
        // Django's start-up, then its upsert waits on the import's lock of `a`.
        tokio::time::sleep(Duration::from_secs(5)).await;
        holder.commit().await.unwrap();
        let imported = import.await.unwrap();
        let wrote = writer.await.unwrap();
        let (ours, theirs) = lasts(&db, "a").await;
        let django_row = django_seq("a").state(&db).await.unwrap();
        println!(
            "{t:?}: import {imported:?}; writer ({rust_writer:?}) {wrote:?}; a: sequences={ours:?} sequences_sequence={theirs:?}"
        );
        done(scratch, db).await;
        match (&imported, &wrote) {
            // The writer numbered after the import moved the counter.
            (Ok(_), Ok(v)) => panic!(
                "{t:?}: import moved `a` (last 2) and a writer ({rust_writer:?}) then got {v} from \
                 Django's table: a duplicate; a: sequences={ours:?} sequences_sequence={theirs:?}"
            ),
            // Moved: `sequences` continues at 2; Django's row is kept, closed.
            (Ok(_), Err(_)) => {
                assert_eq!(ours, Some(2), "{t:?}");
                let row = django_row.expect("Django's row is kept");
                assert!(row.closed && row.last == 2, "{t:?}: {row:?}");
            }
            // The import failed (a deadlock on PostgreSQL): nothing moved.
            (Err(_), _) => assert_eq!(ours, None, "{t:?}: {imported:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// 4. MariaDB: the OK packet's value after other statements in the
//    transaction.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn mariadb_values_are_right_after_an_auto_increment_insert() {
    for t in connect_all(2).await {
        let Some((scratch, db, django)) = adopted(&t, "atk_ok_packet", 2).await else {
            return;
        };
        let mut wrong = Vec::new();
        let insert = "INSERT INTO mixed_invoice (series, number, source) VALUES ('z', 0, 'z')";
        // Auto-increment ids 1..=40.
        for _ in 0..40 {
            raw(&db, insert).await;
        }
        assert_eq!(django.next("ok", 1, None), Ok(1));
        // In one transaction: an auto-increment insert, then each allocation.
        let cases: Vec<(&str, Sequence, u64)> = vec![
            ("django update", django_seq("ok"), 1),
            ("django batch", django_seq("ok"), 3),
            ("django create", django_seq("ok-new").initial_value(5), 1),
            ("django create batch", django_seq("ok-new2"), 4),
            (
                "django loop",
                django_seq("ok-loop").initial_value(0).reset_value(3),
                1,
            ),
            ("sequences update", Sequence::new("own"), 1),
            (
                "sequences create",
                Sequence::new("own-new").initial_value(-2),
                1,
            ),
            ("sequences batch", Sequence::new("own"), 2),
            ("django nowait", django_seq("ok").nowait(true), 1),
        ];
        for round in 0..4 {
            for (what, sequence, count) in &cases {
                let before = if *what == "django loop" {
                    None
                } else {
                    sequence.last_value(&db).await.unwrap()
                };
                let txn = db.begin().await.unwrap();
                raw(&txn, insert).await;
                if round % 2 == 1 && t.backend == Backend::MySql {
                    raw(&txn, "SELECT LAST_INSERT_ID(777)").await;
                }
                let got = if *count == 1 {
                    sequence.next_value(&txn).await.map(|v| v..v + 1)
                } else {
                    sequence.next_values(&txn, *count).await
                };
                txn.commit().await.unwrap();
                let after = sequence.last_value(&db).await.unwrap();
                let got = got.unwrap_or_else(|e| panic!("{t:?} {what}: {e}"));
                if Some(got.end - 1) != after {
                    wrong.push(format!(
                        "round {round} {what}: returned {got:?}, counter before {before:?} after {after:?}"
                    ));
                } else if let Some(before) = before
                    && *what != "django loop"
                    && got.start != before + 1
                {
                    wrong.push(format!(
                        "round {round} {what}: returned {got:?}, counter before {before}"
                    ));
                }
            }
        }
        done(scratch, db).await;
        assert!(wrong.is_empty(), "{t:?}: {wrong:#?}");
    }
}

// ---------------------------------------------------------------------------
// 5. Administration on Django's table.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn administration_on_the_django_table() {
    for t in connect_all(2).await {
        let Some((scratch, db, django)) = adopted(&t, "atk_admin", 2).await else {
            return;
        };
        let mut failures = Vec::new();
        assert_eq!(django.next("adm", 1, None), Ok(1));
        // set_last_value forward, then Django continues.
        let txn = db.begin().await.unwrap();
        django_seq("adm").set_last_value(&txn, 10).await.unwrap();
        txn.commit().await.unwrap();
        if django.next("adm", 1, None) != Ok(11) {
            failures.push("Django after set_last_value(10) is not 11".to_owned());
        }
        // backwards refused, negative refused, nothing changed.
        let txn = db.begin().await.unwrap();
        let back = django_seq("adm").set_last_value(&txn, 3).await;
        let neg = django_seq("adm").force_last_value(&txn, -1).await;
        txn.rollback().await.unwrap();
        if !matches!(back, Err(SequenceError::WouldGoBackwards { .. })) {
            failures.push(format!("backwards: {back:?}"));
        }
        if !matches!(neg, Err(SequenceError::SharedTable { .. })) {
            failures.push(format!("negative force: {neg:?}"));
        }
        // set_last_value creating a name `sequences` holds: refused by the guard.
        let txn = db.begin().await.unwrap();
        Sequence::new("ours").next_value(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let txn = db.begin().await.unwrap();
        let created = django_seq("ours").set_last_value(&txn, 50).await;
        if created.is_ok() {
            txn.commit().await.unwrap();
            failures.push("set_last_value created in Django a name `sequences` holds".into());
        } else {
            txn.rollback().await.unwrap();
        }
        // close on Django's table of a name `sequences` holds (creates a row).
        let txn = db.begin().await.unwrap();
        let closed = django_seq("ours").close(&txn).await;
        if closed.is_ok() {
            txn.commit().await.unwrap();
            failures.push("close created in Django a name `sequences` holds".into());
        } else {
            txn.rollback().await.unwrap();
        }
        // set_last_value past a declared max: Django refused after.
        let txn = db.begin().await.unwrap();
        let bounded = django_seq("b").max_value(5);
        bounded.next_value(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let txn = db.begin().await.unwrap();
        let past = bounded.set_last_value(&txn, 9).await;
        if past.is_ok() {
            txn.commit().await.ok();
        } else {
            txn.rollback().await.unwrap();
        }
        println!("{t:?}: set_last_value(9) past max_value 5: {past:?}");
        let (ours, theirs) = lasts(&db, "ours").await;
        if ours.is_some() && theirs.is_some() {
            failures.push(format!("`ours` in both tables: {ours:?} {theirs:?}"));
        }
        done(scratch, db).await;
        assert!(failures.is_empty(), "{t:?}: {failures:#?}");
    }
}

// ---------------------------------------------------------------------------
// 6. The audit pointed at the wrong counter table.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn audit_with_the_wrong_counter_table_is_not_clean() {
    for t in connect_all(2).await {
        let Some((scratch, db, django)) = adopted(&t, "atk_audit", 2).await else {
            return;
        };
        // Rows numbered 1..=3 from Django's counter, then one number taken
        // and never saved (a gap at the tail).
        for _ in 0..3 {
            let txn = db.begin().await.unwrap();
            use sea_orm::{ActiveModelTrait, ActiveValue::Set};
            invoice::ActiveModel {
                series: Set("s".into()),
                source: Set("rust".into()),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
            txn.commit().await.unwrap();
        }
        django.next("shared-s", 1, None).unwrap();
        let right = Audit::new(invoice::Column::Number)
            .scope([invoice::Column::Series])
            .sequence("shared-{series}")
            .counter_table(CounterTable::Django)
            .run(&db)
            .await
            .unwrap();
        let wrong = Audit::new(invoice::Column::Number)
            .scope([invoice::Column::Series])
            .sequence("shared-{series}")
            .run(&db)
            .await;
        println!("{t:?}: right {right:?}\nwrong {wrong:?}");
        done(scratch, db).await;
        assert!(!right.is_clean(), "{t:?}: the tail gap is seen");
        if let Ok(wrong) = wrong {
            assert!(
                !wrong.is_clean(),
                "{t:?}: the audit against `sequences` (no counter there) reports clean \
                 over a series with a gap: {wrong:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 7. The adoption: twice, down then up, names differing by case on MariaDB.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn adoption_twice_and_down_then_up_postgres_sqlite() {
    adoption_case(&[Backend::Postgres, Backend::Sqlite]).await;
}

#[tokio::test]
async fn mariadb_down_refuses_before_removing_the_guards() {
    adoption_case(&[Backend::MySql]).await;
}

async fn adoption_case(only: &[Backend]) {
    for t in connect_all(2).await {
        if !only.contains(&t.backend) {
            continue;
        }
        let Some((scratch, db, django)) = adopted(&t, "atk_adopt", 2).await else {
            return;
        };
        let manager = SchemaManager::new(&db);
        let mut failures = Vec::new();
        assert_eq!(django.next("n", 1, None), Ok(1));
        // Up again (adopted already): must not change anything.
        if let Err(e) = DjangoSequencesMigration.up(&manager).await {
            failures.push(format!("up twice: {e}"));
        }
        assert_eq!(django.next("n", 1, None), Ok(2));
        if t.backend == Backend::MySql {
            // Under the adoption's binary collation, `N` and `n ` are other names.
            assert_eq!(django.next("N", 1, None), Ok(1));
            assert_eq!(django.next("n ", 1, None), Ok(1));
        }
        let txn = db.begin().await.unwrap();
        django_seq("n").close(&txn).await.unwrap();
        txn.commit().await.unwrap();
        // Down with names that the default collation merges.
        let down = DjangoSequencesMigration.down(&manager).await;
        let guarded = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                match db.get_database_backend() {
                    DbBackend::Postgres => "SELECT 1 FROM pg_trigger WHERE tgname = 'sequences_sequence_guard'",
                    DbBackend::MySql => "SELECT 1 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = 'sequences_sequence_guard'",
                    _ => "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'sequences_sequence_guard_closed'",
                },
            ))
            .await
            .unwrap()
            .is_some();
        let has_closed = manager
            .has_column("sequences_sequence", "closed")
            .await
            .unwrap();
        println!(
            "{t:?}: down = {down:?}; guard still installed: {guarded}; closed column: {has_closed}"
        );
        if let Err(error) = &down
            && !guarded
            && has_closed
        {
            // The closed counter is now unguarded while still marked closed.
            let after = django.next("n", 1, None);
            failures.push(format!(
                "down failed ({error}) after removing the guards: columns left, Django numbers the \
                 closed counter `n`: {after:?}"
            ));
        }
        // Up again after down.
        let up = DjangoSequencesMigration.up(&manager).await;
        if let Err(e) = &up {
            failures.push(format!("up after down: {e}"));
        }
        done(scratch, db).await;
        assert!(failures.is_empty(), "{t:?}: {failures:#?}");
    }
}

// ---------------------------------------------------------------------------
// 8. MariaDB: Django's BIGINT UNSIGNED `last` beyond i64::MAX.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn mariadb_unsigned_last_beyond_i64_is_refused() {
    for t in connect_all(2).await {
        if t.backend != Backend::MySql {
            continue;
        }
        let Some((scratch, db, django)) = adopted(&t, "atk_unsigned", 2).await else {
            return;
        };
        let mut failures = Vec::new();
        // Django's PositiveBigIntegerField: i64::MAX, then its upsert goes past.
        assert_eq!(django.next("big", i64::MAX, None), Ok(i64::MAX));
        let past = django.next("big", i64::MAX, None);
        println!("{t:?}: Django past i64::MAX: {past:?}");
        // The adoption's check keeps Django's unsigned `last` within i64.
        if past.is_ok() {
            failures.push(format!("Django went past i64::MAX: {past:?}"));
        }
        let last = django_seq("big").last_value(&db).await;
        println!("{t:?}: library last_value: {last:?}");
        if matches!(last, Ok(Some(v)) if v < 0) {
            failures.push(format!(
                "last_value reads Django's last as negative: {last:?}"
            ));
        }
        let txn = db.begin().await.unwrap();
        let next = django_seq("big").next_value(&txn).await;
        txn.rollback().await.unwrap();
        println!("{t:?}: library next_value: {next:?}");
        if matches!(next, Ok(v) if v < 0) {
            failures.push(format!("next_value hands out a negative value: {next:?}"));
        }
        let imported = sequences_core::django::import(&db).await;
        println!("{t:?}: import: {imported:?}");
        if let Ok(moved) = &imported
            && moved.iter().any(|m| m.last < 0)
        {
            let ours = Sequence::new("big").last_value(&db).await.unwrap();
            let txn = db.begin().await.unwrap();
            let then = Sequence::new("big").next_value(&txn).await;
            txn.rollback().await.unwrap();
            failures.push(format!(
                "import moved Django's unsigned last as a negative one: {moved:?}; sequences last = {ours:?}; next_value there = {then:?}"
            ));
        }
        done(scratch, db).await;
        assert!(failures.is_empty(), "{t:?}: {failures:#?}");
    }
}

// ---------------------------------------------------------------------------
// 9. Closing while a Django writer waits; nowait while Django holds the row.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn closing_while_a_django_writer_waits_refuses_it() {
    for t in connect_all(2).await {
        if t.backend == Backend::Sqlite {
            continue;
        }
        let Some((scratch, db, django)) = adopted(&t, "atk_close_wait", 2).await else {
            return;
        };
        assert_eq!(django.next("cw", 1, None), Ok(1));
        let mut results = Vec::new();
        for reset in [None, Some(1000)] {
            let txn = db.begin().await.unwrap();
            django_seq("cw").close(&txn).await.unwrap();
            let writer = {
                let django = django.clone();
                tokio::task::spawn_blocking(move || django.next("cw", 1, reset))
            };
            tokio::time::sleep(Duration::from_secs(4)).await;
            txn.commit().await.unwrap();
            results.push(writer.await.unwrap());
            let txn = db.begin().await.unwrap();
            django_seq("cw").reopen(&txn).await.unwrap();
            txn.commit().await.unwrap();
        }
        let last = django_seq("cw").last_value(&db).await.unwrap();
        done(scratch, db).await;
        for r in &results {
            assert!(
                matches!(r, Err(e) if e.contains("is closed")),
                "{t:?}: a Django writer that waited on the closing got {r:?}"
            );
        }
        assert_eq!(last, Some(1), "{t:?}");
    }
}

#[tokio::test]
async fn library_nowait_while_django_holds_the_row_takes_nothing() {
    for t in connect_all(2).await {
        if t.backend == Backend::Sqlite {
            continue;
        }
        let Some((scratch, db, django)) = adopted(&t, "atk_nowait", 2).await else {
            return;
        };
        assert_eq!(django.next("nw", 1, None), Ok(1));
        let holder = {
            let django = django.clone();
            tokio::task::spawn_blocking(move || {
                django.python(
                    "import time\nwith transaction.atomic():\n    v = get_next_value('nw')\n    time.sleep(6)\nprint(json.dumps({'value': v}))",
                ).value()
            })
        };
        tokio::time::sleep(Duration::from_secs(4)).await;
        let txn = db.begin().await.unwrap();
        let got = django_seq("nw").nowait(true).next_value(&txn).await;
        txn.rollback().await.unwrap();
        let held = holder.await.unwrap();
        let last = django_seq("nw").last_value(&db).await.unwrap();
        done(scratch, db).await;
        assert!(
            matches!(got, Err(SequenceError::LockNotAvailable { .. })),
            "{t:?}: nowait while Django holds the row: {got:?}"
        );
        assert_eq!(held, Ok(2), "{t:?}");
        assert_eq!(last, Some(2), "{t:?}");
    }
}

// ---------------------------------------------------------------------------
// 10. A closed counter whose Django loop leaves `last` unchanged.
// ---------------------------------------------------------------------------

/// The write guard refuses a closed counter only when `last` changes.
/// Django's reset path with `reset_value = initial_value + 1` (a loop of
/// one value) saves `last` unchanged, and hands the value out from a closed
/// counter; the library refuses the same allocation (`Closed`).
#[tokio::test]
#[ignore = "hole: a closed counter is numbered by Django's reset path when the loop leaves `last` unchanged (reset_value = initial_value + 1); the library refuses the same call"]
async fn hole_closed_counter_numbered_by_a_one_value_django_loop() {
    let mut broken = Vec::new();
    for t in connect_all(2).await {
        let Some((scratch, db, django)) = adopted(&t, "atk_loop1", 2).await else {
            return;
        };
        assert_eq!(django.next("one", 5, Some(6)), Ok(5));
        let looping = django_seq("one").initial_value(5).reset_value(6);
        let txn = db.begin().await.unwrap();
        looping.close(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let txn = db.begin().await.unwrap();
        let ours = looping.next_value(&txn).await;
        txn.rollback().await.unwrap();
        let theirs = django.next("one", 5, Some(6));
        done(scratch, db).await;
        assert!(
            matches!(ours, Err(SequenceError::Closed { .. })),
            "{t:?}: {ours:?}"
        );
        if !matches!(&theirs, Err(e) if e.contains("is closed")) {
            broken.push(format!(
                "{t:?}: library refuses (Closed), Django numbers the closed counter: {theirs:?}"
            ));
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}
