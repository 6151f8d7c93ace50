//! One series numbered by a Django application (the real Django and
//! django-sequences, `tests/django/harness.py`) and by this library side by
//! side, from django-sequences' `sequences_sequence`, on the three
//! databases: adopted by `DjangoSequencesMigration`, written at the same
//! time by both with rollbacks, continued from either side, looping the
//! same, audited, and moved out on the day Django stops.
//!
//! The Django side runs in the virtual environment `scripts/test-databases`
//! creates (`SEQUENCES_DJANGO_PYTHON`); with `SEQUENCES_REQUIRE_BACKENDS=1`
//! a missing one fails. Each test works in a scratch database of its own
//! (`sequences_sequence` has a fixed name) and removes it.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, SchemaManager};
use sequences_core::{Audit, CounterTable, Sequence, SequenceError};
use sequences_migration::DjangoSequencesMigration;
use sequences_tests::django::{Django, adopted, done, invoice};
use sequences_tests::{Backend, Scratch, assert_gapless, connect_all, open};

async fn numbers_of(db: &DatabaseConnection, series: &str) -> (Vec<i64>, Vec<i64>) {
    use sea_orm::ColumnTrait;
    let rows = invoice::Entity::find()
        .filter(invoice::Column::Series.eq(series))
        .all(db)
        .await
        .unwrap();
    let side = |source: &str| {
        rows.iter()
            .filter(|r| r.source == source)
            .map(|r| r.number)
            .collect::<Vec<_>>()
    };
    (side("django"), side("rust"))
}

#[tokio::test]
async fn django_and_the_library_continue_each_others_series() {
    for t in connect_all(2).await {
        let Some((scratch, db, django)) = adopted(&t, "django_continue", 8).await else {
            return;
        };
        let ours = Sequence::new("continued").counter_table(CounterTable::Django);
        // Started by Django, continued by the library, and back.
        assert_eq!(django.next("continued", 1, None), Ok(1), "{t:?}");
        assert_eq!(django.next("continued", 1, None), Ok(2), "{t:?}");
        let txn = db.begin().await.unwrap();
        assert_eq!(ours.next_value(&txn).await.unwrap(), 3, "{t:?}");
        txn.commit().await.unwrap();
        assert_eq!(django.next("continued", 1, None), Ok(4), "{t:?}");
        // A rollback on the library's side gives the value back to Django.
        let txn = db.begin().await.unwrap();
        assert_eq!(ours.next_value(&txn).await.unwrap(), 5, "{t:?}");
        txn.rollback().await.unwrap();
        assert_eq!(django.next("continued", 1, None), Ok(5), "{t:?}");
        assert_eq!(ours.last_value(&db).await.unwrap(), Some(5), "{t:?}");

        // Started by the library (from initial_value 100), continued by Django.
        let started = Sequence::new("started")
            .counter_table(CounterTable::Django)
            .initial_value(100);
        let txn = db.begin().await.unwrap();
        assert_eq!(started.next_value(&txn).await.unwrap(), 100, "{t:?}");
        txn.commit().await.unwrap();
        assert_eq!(django.next("started", 100, None), Ok(101), "{t:?}");

        // reset_value loops the same on both sides: 1, 2, 3, 1, 2, 3, 1.
        let looping = Sequence::new("looping")
            .counter_table(CounterTable::Django)
            .reset_value(4);
        let mut seen = Vec::new();
        for turn in 0..7 {
            let value = if turn % 2 == 0 {
                django.next("looping", 1, Some(4)).unwrap()
            } else {
                let txn = db.begin().await.unwrap();
                let value = looping.next_value(&txn).await.unwrap();
                txn.commit().await.unwrap();
                value
            };
            seen.push(value);
        }
        assert_eq!(seen, [1, 2, 3, 1, 2, 3, 1], "{t:?}");

        // Zeros, which the guards' triggers make ambiguous on MariaDB (they
        // clear the value the server sends back): a loop through 0 on
        // Django's table, and a first value 0 created in `sequences`.
        for (sequence, expected) in [
            (
                Sequence::new("zero-loop")
                    .counter_table(CounterTable::Django)
                    .initial_value(0)
                    .reset_value(2),
                [0, 1, 0, 1],
            ),
            (Sequence::new("zero-first").initial_value(0), [0, 1, 2, 3]),
        ] {
            let mut got = Vec::new();
            for _ in 0..4 {
                let txn = db.begin().await.unwrap();
                got.push(sequence.next_value(&txn).await.unwrap());
                txn.commit().await.unwrap();
            }
            assert_eq!(got, expected, "{t:?}: {}", sequence.name());
        }

        // One series, one table: the library's own table refuses the name
        // Django's holds, and Django's refuses a name `sequences` holds.
        let txn = db.begin().await.unwrap();
        let error = Sequence::new("continued")
            .next_value(&txn)
            .await
            .unwrap_err();
        drop(txn);
        assert!(
            error
                .to_string()
                .contains("so sequences refuses to create it"),
            "{t:?}: {error}"
        );
        let txn = db.begin().await.unwrap();
        Sequence::new("ours-only").next_value(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let refused = django.next("ours-only", 1, None).unwrap_err();
        assert!(
            refused.contains("so sequences_sequence refuses to create it"),
            "{t:?}: {refused}"
        );
        assert_eq!(
            Sequence::new("continued").last_value(&db).await.unwrap(),
            None,
            "{t:?}: nothing created in `sequences`"
        );

        // Closing from the library stops Django's writers too, nothing taken.
        let txn = db.begin().await.unwrap();
        ours.close(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let refused = django.next("continued", 1, None).unwrap_err();
        assert!(refused.contains("is closed"), "{t:?}: {refused}");
        let txn = db.begin().await.unwrap();
        assert!(
            matches!(
                ours.next_value(&txn).await,
                Err(SequenceError::Closed { .. })
            ),
            "{t:?}"
        );
        drop(txn);
        assert_eq!(ours.last_value(&db).await.unwrap(), Some(5), "{t:?}");
        let txn = db.begin().await.unwrap();
        ours.reopen(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(django.next("continued", 1, None), Ok(6), "{t:?}");

        // On MariaDB a counter of Django's table is read back under its row
        // lock, so outside a transaction it is refused, nothing taken.
        if t.backend == Backend::MySql {
            assert!(
                matches!(
                    ours.next_value(&db).await,
                    Err(SequenceError::NotInTransaction { .. })
                ),
                "{t:?}"
            );
            assert_eq!(ours.last_value(&db).await.unwrap(), Some(6), "{t:?}");
        }

        // What a shared table cannot hold is refused before any SQL.
        let negative = Sequence::new("negative")
            .counter_table(CounterTable::Django)
            .initial_value(-5);
        assert!(matches!(
            negative.validate(),
            Err(SequenceError::SharedTable { .. })
        ));
        done(scratch, db).await;
    }
}

#[tokio::test]
async fn django_and_seaorm_writers_at_once_leave_one_gapless_series() {
    const RUST_WRITERS: usize = 4;
    const PER_WRITER: usize = 25;
    for t in connect_all(2).await {
        let Some((scratch, db, django)) = adopted(&t, "django_mixed", 8).await else {
            return;
        };
        let series = "mixed";
        // Django: 4 threads x 25 transactions, every 5th rolled back; at the
        // same time the library: 4 tasks x 25, every 4th rolled back.
        let python = django.python.clone();
        let url = django.url.clone();
        let django_side = tokio::task::spawn_blocking(move || {
            Django { python, url }.run(&[
                "write",
                "--table",
                "mixed_invoice",
                "--series",
                series,
                "--threads",
                "4",
                "--count",
                "25",
                "--rollback-every",
                "5",
            ])
        });
        let mut tasks = Vec::new();
        for writer in 0..RUST_WRITERS {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let (mut rolled_back, mut retried) = (0, 0);
                for i in 0..PER_WRITER {
                    // What the database asks to run again (InnoDB's deadlock
                    // when several transactions create the new counter row
                    // and the first rolls back) is run again, whole, as
                    // the guide says; anything else fails the test.
                    let (txn, row) = loop {
                        let txn = db.begin().await.unwrap();
                        match (invoice::ActiveModel {
                            series: Set(series.to_owned()),
                            source: Set("rust".to_owned()),
                            ..Default::default()
                        })
                        .insert(&txn)
                        .await
                        {
                            Ok(row) => break (txn, row),
                            Err(e) if sequences_core::is_retryable(&e) => {
                                txn.rollback().await.unwrap();
                                retried += 1;
                            }
                            Err(e) => panic!("writer {writer}: {e}"),
                        }
                    };
                    assert!(row.number >= 1);
                    if (i + writer) % 4 == 3 {
                        txn.rollback().await.unwrap();
                        rolled_back += 1;
                    } else {
                        txn.commit().await.unwrap();
                    }
                }
                (rolled_back, retried)
            }));
        }
        let (mut rust_rolled_back, mut rust_retried) = (0, 0);
        for task in tasks {
            let (rolled_back, retried) = task.await.unwrap();
            rust_rolled_back += rolled_back;
            rust_retried += retried;
        }
        let out = django_side.await.unwrap();
        assert!(
            out.empty("errors"),
            "{t:?}: Django's writers failed: {}",
            out.0
        );
        let (from_django, from_rust) = numbers_of(&db, series).await;
        let mut told = out.numbers("committed");
        told.sort_unstable();
        let mut stored = from_django.clone();
        stored.sort_unstable();
        assert_eq!(told, stored, "{t:?}: Django's commits are its rows");
        let all: Vec<i64> = from_django.iter().chain(&from_rust).copied().collect();
        let last = Sequence::new(format!("shared-{series}"))
            .counter_table(CounterTable::Django)
            .last_value(&db)
            .await
            .unwrap();
        assert_gapless(&format!("{t:?} mixed"), &all, 1, last);
        assert_eq!(
            from_rust.len(),
            RUST_WRITERS * PER_WRITER - rust_rolled_back,
            "{t:?}"
        );
        println!(
            "{:?}: Django committed {} (rolled back {}, run again {}), SeaORM committed {} \
             (rolled back {}, run again {}); numbers 1..={} gapless, no duplicate",
            t.backend,
            from_django.len(),
            out.number("rolled_back").unwrap_or(-1),
            out.number("retried").unwrap_or(-1),
            from_rust.len(),
            rust_rolled_back,
            rust_retried,
            last.unwrap_or(0)
        );

        // The audit over the table both filled, against Django's counter.
        let audit = Audit::new(invoice::Column::Number)
            .scope([invoice::Column::Series])
            .sequence("shared-{series}")
            .counter_table(CounterTable::Django);
        let report = audit.run(&db).await.unwrap();
        assert!(report.is_clean(), "{t:?}: {report:?}");
        // It reads Django's counter: a number handed out by Django and
        // never saved is a gap it reports.
        django.next("shared-mixed", 1, None).unwrap();
        let report = audit.run(&db).await.unwrap();
        assert_eq!(report.groups[0].missing, 1, "{t:?}: {report:?}");
        done(scratch, db).await;
    }
}

#[tokio::test]
async fn the_adoption_keeps_django_working_and_comes_off_cleanly() {
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "django_adopt").await;
        let Some(django) = Django::new(&scratch.url) else {
            return;
        };
        django.migrate();
        let db = open(&scratch.url, 2).await;
        // Refused, nothing changed, before this library's own tables exist.
        let manager = SchemaManager::new(&db);
        let error = DjangoSequencesMigration.up(&manager).await.unwrap_err();
        assert!(
            error.to_string().contains("no `sequences`"),
            "{t:?}: {error}"
        );
        assert!(
            !manager
                .has_column("sequences_sequence", "closed")
                .await
                .unwrap()
        );

        assert_eq!(django.next("kept", 1, None), Ok(1));
        // A name in both tables before the adoption, with different values.
        for migration in sequences_migration::migrations() {
            migration.up(&manager).await.unwrap();
        }
        let txn = db.begin().await.unwrap();
        Sequence::new("kept").set_last_value(&txn, 7).await.unwrap();
        txn.commit().await.unwrap();
        let error = DjangoSequencesMigration.up(&manager).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("[\"kept\"] are counters in both"),
            "{t:?}: {error}"
        );
        assert!(
            !manager
                .has_column("sequences_sequence", "closed")
                .await
                .unwrap()
        );
        let txn = db.begin().await.unwrap();
        Sequence::new("kept").delete(&txn).await.unwrap();
        txn.commit().await.unwrap();
        DjangoSequencesMigration.up(&manager).await.unwrap();
        assert!(
            manager
                .has_column("sequences_sequence", "closed")
                .await
                .unwrap()
        );
        assert_eq!(django.next("kept", 1, None), Ok(2), "{t:?}: Django goes on");
        if t.backend == Backend::MySql {
            // The binary collation: `Kept` is another series, as everywhere.
            assert_eq!(django.next("Kept", 1, None), Ok(1), "{t:?}");
            assert_eq!(django.next("kept ", 1, None), Ok(1), "{t:?}");
        }

        // The way out refuses a name in both tables with other values (made
        // behind the guards' back).
        sequences_core::django::remove_guards(&db).await.unwrap();
        let txn = db.begin().await.unwrap();
        Sequence::new("kept").set_last_value(&txn, 7).await.unwrap();
        txn.commit().await.unwrap();
        sequences_core::django::install_guards(&db).await.unwrap();
        let error = sequences_core::django::import(&db).await.unwrap_err();
        assert!(
            error.to_string().contains("\"kept\" exists in both tables"),
            "{t:?}: {error}"
        );
        assert_eq!(
            Sequence::new("kept")
                .counter_table(CounterTable::Django)
                .last_value(&db)
                .await
                .unwrap(),
            Some(2),
            "{t:?}: nothing moved"
        );
        let txn = db.begin().await.unwrap();
        Sequence::new("kept").delete(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(django.next("moved", 1, None), Ok(1));
        let closed = Sequence::new("moved-closed").counter_table(CounterTable::Django);
        let txn = db.begin().await.unwrap();
        closed.next_value(&txn).await.unwrap();
        closed.close(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let moved = sequences_core::django::import(&db).await.unwrap();
        let names: Vec<&str> = moved.iter().map(|m| m.name.as_str()).collect();
        assert!(
            names.contains(&"kept") && names.contains(&"moved"),
            "{t:?}: {moved:?}"
        );
        // In `sequences` now, with their values and their closing; a Django
        // writer still running is refused instead of starting again at 1.
        assert_eq!(
            Sequence::new("kept").last_value(&db).await.unwrap(),
            Some(2)
        );
        let state = Sequence::new("moved-closed")
            .state(&db)
            .await
            .unwrap()
            .unwrap();
        assert!(state.closed, "{t:?}");
        let refused = django.next("moved", 1, None).unwrap_err();
        // Refused by the name guard (Django's upsert), or by the closed row
        // (its ORM path on SQLite; a writer waiting on the row: `attack_django`).
        assert!(
            refused.contains("so sequences_sequence refuses to create it")
                || refused.contains("was moved to sequences"),
            "{t:?}: {refused}"
        );
        let txn = db.begin().await.unwrap();
        assert_eq!(Sequence::new("moved").next_value(&txn).await.unwrap(), 2);
        txn.commit().await.unwrap();
        // Run twice: nothing left to move.
        assert!(
            sequences_core::django::import(&db)
                .await
                .unwrap()
                .is_empty()
        );

        // A moved counter cannot be reopened in Django's table.
        let txn = db.begin().await.unwrap();
        let refused = Sequence::new("moved-closed")
            .counter_table(CounterTable::Django)
            .reopen(&txn)
            .await
            .unwrap_err();
        drop(txn);
        assert!(
            refused.to_string().contains("was moved to sequences"),
            "{t:?}: {refused}"
        );
        if t.backend == Backend::MySql {
            // Django's collation would merge `Kept`, `kept` and `kept `:
            // `down` refuses first, the guards still in place.
            let error = DjangoSequencesMigration.down(&manager).await.unwrap_err();
            assert!(
                error.to_string().contains("nothing else was removed"),
                "{error}"
            );
            assert!(
                manager
                    .has_column("sequences_sequence", "closed")
                    .await
                    .unwrap()
            );
            for name in ["Kept", "kept "] {
                let sequence = Sequence::new(name).counter_table(CounterTable::Django);
                assert!(sequence.delete(&db).await.unwrap(), "{name:?}");
            }
        }

        // `down` removes what `up` added; Django still works on its table.
        DjangoSequencesMigration.down(&manager).await.unwrap();
        for column in [
            "closed",
            "last_day",
            "chain_head",
            "chain_seal",
            "max_value",
            "warn_at",
        ] {
            assert!(
                !manager
                    .has_column("sequences_sequence", column)
                    .await
                    .unwrap(),
                "{t:?}: {column} left behind"
            );
        }
        assert_eq!(django.next("after-down", 1, None), Ok(1), "{t:?}");
        done(scratch, db).await;
    }
}
