//! Numbered by the database itself (`Numbering::install_triggers`), on the
//! three databases: raw SQL and `insert_many` numbered with no hook, side by
//! side with the derive; formats and periods as the library prints them; the
//! delete policies and the number guard against raw `DELETE` and `UPDATE`;
//! refusals typed back into `SequenceError`; concurrent writers with
//! rollbacks; another language's client; the audit of the triggers.

use rand::Rng;
use sea_orm::prelude::Date;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, Statement, TransactionTrait,
};
use sequences_core::{Audit, Day, Sequence, SequenceError, TriggerState};
use sequences_tests::entities::{db_deferred, db_doc, db_invoice, db_slot};
use sequences_tests::{
    Backend, TestDb, assert_gapless, connect_all, statement, try_execute as raw, unique_name,
};

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

/// A journal (or book, kind) no other test uses.
fn fresh(prefix: &str) -> String {
    unique_name(prefix).replace('-', "")
}

/// The refusal a database error carries, or a panic naming the error.
fn refusal(t: &TestDb, error: DbErr) -> SequenceError {
    SequenceError::from_database(&error)
        .unwrap_or_else(|| panic!("{t:?}: not a refusal the library reads: {error}"))
}

async fn invoice_numbers(t: &TestDb, journal: &str) -> Vec<i64> {
    db_invoice::Entity::find()
        .filter(db_invoice::Column::Journal.eq(journal))
        .order_by_asc(db_invoice::Column::Number)
        .all(&t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            row.number
                .unwrap_or_else(|| panic!("{t:?}: a row left unnumbered"))
        })
        .collect()
}

#[tokio::test]
async fn raw_sql_insert_many_and_the_derive_number_the_same_sequence() {
    for t in connect_all(4).await {
        let journal = fresh("J");
        // Raw SQL, number omitted.
        raw(
            &t.db,
            "INSERT INTO db_invoice (journal, issued_on) VALUES (?, ?)",
            vec![journal.clone().into(), date("2026-03-01").into()],
        )
        .await
        .unwrap();
        // Raw SQL, number NULL.
        raw(
            &t.db,
            "INSERT INTO db_invoice (journal, issued_on, number) VALUES (?, ?, NULL)",
            vec![journal.clone().into(), date("2026-03-02").into()],
        )
        .await
        .unwrap();
        // The derive, in a transaction: the library takes the next value.
        let txn = t.db.begin().await.unwrap();
        let model = db_invoice::ActiveModel {
            journal: Set(journal.clone()),
            issued_on: Set(date("2026-03-03")),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(model.number, Some(3), "{t:?}");
        // insert_many with no hook and no fill_gapless_many.
        let many: Vec<db_invoice::ActiveModel> = (4..=6)
            .map(|day| db_invoice::ActiveModel {
                journal: Set(journal.clone()),
                issued_on: Set(date(&format!("2026-03-0{day}"))),
                ..Default::default()
            })
            .collect();
        db_invoice::Entity::insert_many(many)
            .exec(&t.db)
            .await
            .unwrap();
        // A row inserted with its number set keeps it (a legacy import).
        let kept = Sequence::new(format!("dbinv-{journal}@2026"));
        let txn = t.db.begin().await.unwrap();
        let next = kept.next_value(&txn).await.unwrap();
        raw(
            &txn,
            "INSERT INTO db_invoice (journal, issued_on, number) VALUES (?, ?, ?)",
            vec![
                journal.clone().into(),
                date("2026-03-07").into(),
                next.into(),
            ],
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let numbers = invoice_numbers(&t, &journal).await;
        assert_gapless(&format!("{t:?}"), &numbers, 1, Some(7));
        assert_eq!(kept.last_value(&t.db).await.unwrap(), Some(7), "{t:?}");

        // SeaORM sees the number the database gave: RETURNING on
        // PostgreSQL, the re-read on MariaDB.
        if t.backend != Backend::Sqlite {
            let inserted = db_invoice::Entity::insert(db_invoice::ActiveModel {
                journal: Set(journal.clone()),
                issued_on: Set(date("2026-03-08")),
                number: NotSet,
                ..Default::default()
            })
            .exec_with_returning(&t.db)
            .await
            .unwrap();
            assert_eq!(inserted.number, Some(8), "{t:?}");
        }
    }
}

#[tokio::test]
async fn the_database_prints_formats_and_periods_as_the_library() {
    for t in connect_all(2).await {
        let book = fresh("B");
        for (day, by_database) in [
            ("2025-12-31", true),
            ("2026-01-01", false),
            ("2026-06-15", true),
            ("2026-12-31", true),
            ("2027-01-01", true),
        ] {
            if by_database {
                raw(
                    &t.db,
                    "INSERT INTO db_doc (book, issued_on) VALUES (?, ?)",
                    vec![book.clone().into(), date(day).into()],
                )
                .await
                .unwrap();
            } else {
                let txn = t.db.begin().await.unwrap();
                db_doc::ActiveModel {
                    book: Set(book.clone()),
                    issued_on: Set(date(day)),
                    ..Default::default()
                }
                .insert(&txn)
                .await
                .unwrap();
                txn.commit().await.unwrap();
            }
        }
        let rows = db_doc::Entity::find()
            .filter(db_doc::Column::Book.eq(&book))
            .order_by_asc(db_doc::Column::Id)
            .all(&t.db)
            .await
            .unwrap();
        let got: Vec<(Option<String>, Option<i64>)> =
            rows.into_iter().map(|r| (r.reference, r.raw)).collect();
        let want = [
            (format!("{book}/2025/0001"), 1),
            (format!("{book}/2026/0001"), 1),
            (format!("{book}/2026/0002"), 2),
            (format!("{book}/2026/0003"), 3),
            (format!("{book}/2027/0001"), 1),
        ];
        let want: Vec<(Option<String>, Option<i64>)> =
            want.into_iter().map(|(r, v)| (Some(r), Some(v))).collect();
        assert_eq!(got, want, "{t:?}");
        let audit = Audit::new(db_doc::Column::Reference)
            .format("{book}/{year}/{value:04}")
            .scope([db_doc::Column::Book])
            .sequence("dbdoc-{book}")
            .period(sequences_core::Period::Year)
            .filter(db_doc::Column::Book.eq(&book))
            .run(&t.db)
            .await
            .unwrap();
        assert!(audit.is_clean(), "{t:?}: {audit:?}");
    }
}

#[tokio::test]
async fn refusals_come_back_typed_and_take_nothing() {
    for t in connect_all(2).await {
        let journal = fresh("R");
        let insert = |day: &'static str| {
            let journal = journal.clone();
            let db = t.db.clone();
            async move {
                raw(
                    &db,
                    "INSERT INTO db_invoice (journal, issued_on) VALUES (?, ?)",
                    vec![journal.into(), date(day).into()],
                )
                .await
            }
        };
        insert("2026-05-10").await.unwrap();
        // Date order: an earlier date is refused, nothing taken.
        let error = refusal(&t, insert("2026-05-01").await.unwrap_err());
        assert!(
            matches!(&error, SequenceError::OutOfOrder { name, day, latest }
                if *name == format!("dbinv-{journal}@2026")
                    && *day == Day::from(date("2026-05-01"))
                    && *latest == Day::from(date("2026-05-10"))),
            "{t:?}: {error}"
        );
        // A closed period.
        let sequence = Sequence::new(format!("dbinv-{journal}@2026"));
        sequence.close(&t.db).await.unwrap();
        let error = refusal(&t, insert("2026-06-01").await.unwrap_err());
        assert!(
            matches!(&error, SequenceError::Closed { .. }),
            "{t:?}: {error}"
        );
        sequence.reopen(&t.db).await.unwrap();
        insert("2026-06-01").await.unwrap();
        assert_eq!(invoice_numbers(&t, &journal).await, [1, 2], "{t:?}");
        // A missing placeholder (SQLite checks the NOT NULL column before
        // its AFTER trigger runs: refused all the same).
        let error = raw(
            &t.db,
            "INSERT INTO db_invoice (journal, issued_on) VALUES (?, NULL)",
            vec![journal.clone().into()],
        )
        .await
        .unwrap_err();
        if t.backend != Backend::Sqlite {
            assert!(
                matches!(refusal(&t, error), SequenceError::MissingPlaceholder { field, .. } if field == "issued_on"),
                "{t:?}"
            );
        }
        assert_eq!(invoice_numbers(&t, &journal).await, [1, 2], "{t:?}");

        // The end of a declared range: five slots, then refused.
        let kind = fresh("K");
        for _ in 0..5 {
            raw(
                &t.db,
                "INSERT INTO db_slot (kind) VALUES (?)",
                vec![kind.clone().into()],
            )
            .await
            .unwrap();
        }
        let error = raw(
            &t.db,
            "INSERT INTO db_slot (kind) VALUES (?)",
            vec![kind.clone().into()],
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                refusal(&t, error),
                SequenceError::Exhausted {
                    max_value: 5,
                    last: 5,
                    ..
                }
            ),
            "{t:?}"
        );
        assert_eq!(
            Sequence::new(format!("dbslot-{kind}"))
                .last_value(&t.db)
                .await
                .unwrap(),
            Some(5),
            "{t:?}"
        );
    }
}

#[tokio::test]
async fn raw_delete_and_update_obey_the_policies() {
    for t in connect_all(2).await {
        // void: the delete goes through and the number is recorded void.
        let journal = fresh("V");
        for day in ["2026-01-01", "2026-01-02"] {
            raw(
                &t.db,
                "INSERT INTO db_invoice (journal, issued_on) VALUES (?, ?)",
                vec![journal.clone().into(), date(day).into()],
            )
            .await
            .unwrap();
        }
        let deleted = raw(
            &t.db,
            "DELETE FROM db_invoice WHERE journal = ? AND number = 1",
            vec![journal.clone().into()],
        )
        .await
        .unwrap();
        assert_eq!(deleted, 1, "{t:?}");
        let audit = Audit::new(db_invoice::Column::Number)
            .scope([db_invoice::Column::Journal])
            .sequence("dbinv-{journal}@2026")
            .filter(db_invoice::Column::Journal.eq(&journal))
            .run(&t.db)
            .await
            .unwrap();
        assert!(
            audit.is_clean(),
            "{t:?}: the void explains the gap: {audit:?}"
        );
        assert_eq!(audit.groups[0].voided, [1], "{t:?}");

        // refuse: a raw DELETE and delete_many are refused, nothing deleted.
        let book = fresh("D");
        raw(
            &t.db,
            "INSERT INTO db_doc (book, issued_on) VALUES (?, ?)",
            vec![book.clone().into(), date("2026-02-02").into()],
        )
        .await
        .unwrap();
        let error = db_doc::Entity::delete_many()
            .filter(db_doc::Column::Book.eq(&book))
            .exec(&t.db)
            .await
            .unwrap_err();
        assert!(
            matches!(refusal(&t, error), SequenceError::DeleteRefused { value: 1, name, target }
                if name == format!("dbdoc-{book}@2026") && target == "db_doc.reference"),
            "{t:?}"
        );
        // An UPDATE of the number, or of its raw value, is refused.
        for sql in [
            "UPDATE db_doc SET reference = 'X' WHERE book = ?",
            "UPDATE db_doc SET raw = 7 WHERE book = ?",
            "UPDATE db_doc SET reference = NULL WHERE book = ?",
        ] {
            let error = raw(&t.db, sql, vec![book.clone().into()])
                .await
                .unwrap_err();
            assert!(
                matches!(refusal(&t, error), SequenceError::NumberChanged { target, .. } if target == "db_doc.reference"),
                "{t:?}: {sql}"
            );
        }
        // So is a change of what names its sequence and period (the date,
        // a placeholder), which would move the number to another sequence.
        for sql in [
            "UPDATE db_doc SET issued_on = '2027-02-03' WHERE book = ?",
            "UPDATE db_doc SET book = 'elsewhere' WHERE book = ?",
        ] {
            let error = raw(&t.db, sql, vec![book.clone().into()])
                .await
                .unwrap_err();
            assert!(
                matches!(refusal(&t, error), SequenceError::NumberChanged { .. }),
                "{t:?}: {sql}"
            );
        }

        // revert_if_last: only the last slot goes, and its number is taken again.
        let kind = fresh("S");
        for _ in 0..3 {
            raw(
                &t.db,
                "INSERT INTO db_slot (kind) VALUES (?)",
                vec![kind.clone().into()],
            )
            .await
            .unwrap();
        }
        let error = raw(
            &t.db,
            "DELETE FROM db_slot WHERE kind = ? AND number = 2",
            vec![kind.clone().into()],
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                refusal(&t, error),
                SequenceError::NotLast {
                    value: 2,
                    last: Some(3),
                    ..
                }
            ),
            "{t:?}"
        );
        raw(
            &t.db,
            "DELETE FROM db_slot WHERE kind = ? AND number = 3",
            vec![kind.clone().into()],
        )
        .await
        .unwrap();
        raw(
            &t.db,
            "INSERT INTO db_slot (kind) VALUES (?)",
            vec![kind.clone().into()],
        )
        .await
        .unwrap();
        let slots: Vec<i32> = db_slot::Entity::find()
            .filter(db_slot::Column::Kind.eq(&kind))
            .order_by_asc(db_slot::Column::Number)
            .all(&t.db)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|r| r.number)
            .collect();
        assert_eq!(slots, [1, 2, 3], "{t:?}");
        // Deleting two rows in one statement: the first refusal undoes the statement.
        let error = raw(
            &t.db,
            "DELETE FROM db_slot WHERE kind = ?",
            vec![kind.clone().into()],
        )
        .await
        .unwrap_err();
        assert!(
            matches!(refusal(&t, error), SequenceError::NotLast { .. }),
            "{t:?}"
        );
        let left = db_slot::Entity::find()
            .filter(db_slot::Column::Kind.eq(&kind))
            .all(&t.db)
            .await
            .unwrap()
            .len();
        assert_eq!(left, 3, "{t:?}: nothing deleted");
    }
}

#[tokio::test]
async fn concurrent_raw_and_derive_writers_with_rollbacks_stay_gapless() {
    for t in connect_all(8).await {
        let journal = fresh("C");
        let mut tasks = Vec::new();
        for writer in 0..6 {
            let db = t.db.clone();
            let journal = journal.clone();
            tasks.push(tokio::spawn(async move {
                let mut committed = 0u32;
                for _ in 0..15 {
                    let (rollback, through_derive) = {
                        let mut rng = rand::rng();
                        (rng.random_bool(0.3), writer % 2 == 0)
                    };
                    let txn = db.begin().await.unwrap();
                    let result = if through_derive {
                        db_invoice::ActiveModel {
                            journal: Set(journal.clone()),
                            issued_on: Set(date("2026-04-01")),
                            ..Default::default()
                        }
                        .insert(&txn)
                        .await
                        .map(drop)
                    } else {
                        raw(
                            &txn,
                            "INSERT INTO db_invoice (journal, issued_on) VALUES (?, ?)",
                            vec![journal.clone().into(), date("2026-04-01").into()],
                        )
                        .await
                        .map(drop)
                    };
                    match result {
                        Ok(()) if rollback => txn.rollback().await.unwrap(),
                        Ok(()) => {
                            txn.commit().await.unwrap();
                            committed += 1;
                        }
                        // A deadlock (MariaDB, when the transaction that
                        // created the counter rolls back) is a rollback the
                        // caller retries; nothing is taken.
                        Err(error) if sequences_core::is_retryable(&error) => {
                            let _ = txn.rollback().await;
                        }
                        Err(error) => panic!("writer {writer}: {error}"),
                    }
                }
                committed
            }));
        }
        let mut committed = 0;
        for task in tasks {
            committed += task.await.unwrap();
        }
        let numbers = invoice_numbers(&t, &journal).await;
        assert_eq!(numbers.len() as u32, committed, "{t:?}");
        assert_gapless(&format!("{t:?}"), &numbers, 1, Some(i64::from(committed)));
    }
}

#[tokio::test]
async fn postgres_numbers_deferred_rows_at_commit_for_any_client() {
    for t in connect_all(8).await {
        if t.backend != Backend::Postgres {
            // Refused before anything is installed, naming the option.
            let error = db_deferred::ActiveModel::gapless_numbering()
                .install_triggers(&t.db)
                .await
                .unwrap_err();
            assert!(
                matches!(&error, SequenceError::InvalidNumbering { reason, .. } if reason.starts_with("deferred")),
                "{t:?}: {error}"
            );
            continue;
        }
        let journal = fresh("P");
        let mut tasks = Vec::new();
        for writer in 0..6 {
            let db = t.db.clone();
            let journal = journal.clone();
            tasks.push(tokio::spawn(async move {
                let mut committed = 0u32;
                for _ in 0..10 {
                    let rollback = rand::rng().random_bool(0.3);
                    let txn = db.begin().await.unwrap();
                    for _ in 0..2 {
                        raw(
                            &txn,
                            "INSERT INTO db_deferred (journal) VALUES (?)",
                            vec![journal.clone().into()],
                        )
                        .await
                        .unwrap();
                    }
                    // Still unnumbered inside the transaction: the lock waits for COMMIT.
                    let unnumbered = txn
                        .query_one_raw(statement(
                            DbBackend::Postgres,
                            "SELECT COUNT(*) FROM db_deferred WHERE journal = ? AND number IS NULL",
                            vec![journal.clone().into()],
                        ))
                        .await
                        .unwrap()
                        .unwrap()
                        .try_get_by_index::<i64>(0)
                        .unwrap();
                    assert!(unnumbered >= 2, "writer {writer}");
                    if rollback {
                        txn.rollback().await.unwrap();
                    } else {
                        txn.commit().await.unwrap();
                        committed += 2;
                    }
                }
                committed
            }));
        }
        let mut committed = 0;
        for task in tasks {
            committed += task.await.unwrap();
        }
        let numbers: Vec<i64> = db_deferred::Entity::find()
            .filter(db_deferred::Column::Journal.eq(&journal))
            .order_by_asc(db_deferred::Column::Number)
            .all(&t.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.number.expect("numbered at COMMIT"))
            .collect();
        assert_eq!(numbers.len() as u32, committed);
        assert_gapless(
            "deferred by PostgreSQL",
            &numbers,
            1,
            Some(i64::from(committed)),
        );
    }
}

#[tokio::test]
async fn the_audit_reports_triggers_dropped_disabled_or_outdated() {
    for t in connect_all(2).await {
        // Installed by the migrator, as the derive describes them.
        let states = db_invoice::ActiveModel::gapless_numbering()
            .check_triggers(&t.db)
            .await
            .unwrap();
        assert_eq!(
            states,
            [("db_invoice.number".to_owned(), TriggerState::Intact)],
            "{t:?}"
        );
        let audit = Audit::new(db_slot::Column::Number)
            .scope([db_slot::Column::Kind])
            .sequence("dbslot-{kind}")
            .run(&t.db)
            .await
            .unwrap();
        assert_eq!(audit.triggers, Some(TriggerState::Intact), "{t:?}");
    }
}

/// A client in another language (psql, the mariadb client, the sqlite3
/// shell, which runs SQLite 3.40 here) inserts rows that come out numbered,
/// and sees a refusal as an error.
#[tokio::test]
async fn another_client_inserts_numbered_rows() {
    for t in connect_all(2).await {
        let journal = fresh("L");
        let run = |sql: String| {
            let mut command = match t.backend {
                Backend::Postgres => {
                    let mut c = std::process::Command::new("psql");
                    c.args([t.url.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", &sql]);
                    c
                }
                Backend::MySql => {
                    let url = t.url.strip_prefix("mysql://").expect("a mysql URL");
                    let (user_host, database) = url.rsplit_once('/').expect("a database");
                    let (user, host) = user_host.split_once('@').expect("user@host");
                    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
                    let mut c = std::process::Command::new("mariadb");
                    c.args([
                        "--protocol=tcp",
                        &format!("--host={host}"),
                        &format!("--port={port}"),
                        &format!("--user={user}"),
                        database,
                        "-e",
                        &sql,
                    ]);
                    c
                }
                Backend::Sqlite => {
                    let path = t
                        .url
                        .strip_prefix("sqlite://")
                        .and_then(|u| u.split('?').next())
                        .expect("a sqlite URL");
                    let mut c = std::process::Command::new("sqlite3");
                    c.args(["-cmd", ".timeout 10000", path, &sql]);
                    c
                }
            };
            command.output().expect("the database's own client runs")
        };
        for day in ["2026-09-01", "2026-09-02", "2026-09-03"] {
            let output = run(format!(
                "INSERT INTO db_invoice (journal, issued_on) VALUES ('{journal}', '{day}')"
            ));
            assert!(
                output.status.success(),
                "{t:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert_eq!(invoice_numbers(&t, &journal).await, [1, 2, 3], "{t:?}");
        // Out of date order: the client sees the refusal, nothing is taken.
        let output = run(format!(
            "INSERT INTO db_invoice (journal, issued_on) VALUES ('{journal}', '2026-08-01')"
        ));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success()
                && stderr.contains("sequences:out_of_order:20260801:20260903:"),
            "{t:?}: {stderr}"
        );
        assert_eq!(invoice_numbers(&t, &journal).await, [1, 2, 3], "{t:?}");
    }
}

/// The audit and `check_triggers` against someone who drops, disables,
/// replaces or reinstalls a table's triggers behind the library's back, on
/// a database of its own (the other tests keep their triggers).
#[tokio::test]
async fn the_trigger_checks_are_not_fooled() {
    use sequences_core::{NumberedField, Numbering, OnDelete};
    use sequences_tests::Scratch;
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "guards").await;
        sequences_tests::migrate(&scratch.url).await;
        let db = sequences_tests::open(&scratch.url, 1).await;
        let numbering = db_slot::ActiveModel::gapless_numbering();
        let state = || async {
            let checked = numbering.check_triggers(&db).await.unwrap();
            let audited = Audit::new(db_slot::Column::Number)
                .scope([db_slot::Column::Kind])
                .sequence("dbslot-{kind}")
                .run(&db)
                .await
                .unwrap();
            (checked[0].1.clone(), audited)
        };
        let (checked, audited) = state().await;
        assert_eq!(checked, TriggerState::Intact, "{t:?}");
        assert!(audited.is_clean(), "{t:?}");

        // Dropped by hand.
        let on_table = if t.backend == Backend::Postgres {
            " ON db_slot"
        } else {
            ""
        };
        db.execute_unprepared(&format!("DROP TRIGGER sq_db_slot_number_del{on_table}"))
            .await
            .unwrap();
        let (checked, audited) = state().await;
        let missing = TriggerState::Missing {
            triggers: vec!["sq_db_slot_number_del".into()],
        };
        assert_eq!(checked, missing, "{t:?}");
        assert_eq!(audited.triggers, Some(missing), "{t:?}");
        assert!(!audited.is_clean(), "{t:?}");
        numbering.install_triggers(&db).await.unwrap();
        assert_eq!(state().await.0, TriggerState::Intact, "{t:?}");

        // Replaced by one that numbers nothing, under the same name.
        let replace = match t.backend {
            Backend::Postgres => "CREATE OR REPLACE FUNCTION sq_db_slot_number_ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$".to_owned(),
            Backend::MySql | Backend::Sqlite => {
                db.execute_unprepared("DROP TRIGGER sq_db_slot_number_ins").await.unwrap();
                let body = if t.backend == Backend::MySql { "SET @x = 1;" } else { "SELECT 1;" };
                format!("CREATE TRIGGER sq_db_slot_number_ins AFTER INSERT ON db_slot FOR EACH ROW BEGIN {body} END")
            }
        };
        db.execute_unprepared(&replace).await.unwrap();
        let (checked, audited) = state().await;
        assert_eq!(checked, TriggerState::Altered, "{t:?}");
        assert!(!audited.is_clean(), "{t:?}");
        numbering.install_triggers(&db).await.unwrap();

        // Disabled (PostgreSQL can switch a trigger off without dropping it).
        if t.backend == Backend::Postgres {
            db.execute_unprepared("ALTER TABLE db_slot DISABLE TRIGGER sq_db_slot_number_upd")
                .await
                .unwrap();
            let (checked, audited) = state().await;
            assert_eq!(checked, TriggerState::Altered, "{t:?}");
            assert!(!audited.is_clean(), "{t:?}");
            numbering.install_triggers(&db).await.unwrap();
        }

        // Installed from another description: check_triggers, which knows
        // the current one, calls it outdated.
        let older = Numbering::new().field_with(
            NumberedField::new(
                db_slot::Column::Number,
                Sequence::new("dbslot-{kind}").max_value(9),
            )
            .on_delete(OnDelete::RevertIfLast),
        );
        older.install_triggers(&db).await.unwrap();
        assert_eq!(state().await.0, TriggerState::Outdated, "{t:?}");
        numbering.install_triggers(&db).await.unwrap();
        assert_eq!(state().await.0, TriggerState::Intact, "{t:?}");

        // Removed: no longer guarded, and the description says it should be.
        numbering.remove_triggers(&db).await.unwrap();
        let (checked, audited) = state().await;
        assert_eq!(checked, TriggerState::NotInstalled, "{t:?}");
        assert_eq!(audited.triggers, None, "{t:?}");
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// The two paths on the same random dates: the references the database
/// prints for one book are the library's for another, book aside.
#[tokio::test]
async fn the_two_paths_agree_on_random_dates() {
    for t in connect_all(2).await {
        let (by_library, by_database) = (fresh("A"), fresh("Z"));
        let days: Vec<Date> = {
            let mut rng = rand::rng();
            (0..40)
                .map(|_| {
                    let start = date("2023-01-01");
                    start + chrono::Duration::days(rng.random_range(0..1500))
                })
                .collect()
        };
        for day in &days {
            let txn = t.db.begin().await.unwrap();
            db_doc::ActiveModel {
                book: Set(by_library.clone()),
                issued_on: Set(*day),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
            txn.commit().await.unwrap();
            raw(
                &t.db,
                "INSERT INTO db_doc (book, issued_on) VALUES (?, ?)",
                vec![by_database.clone().into(), (*day).into()],
            )
            .await
            .unwrap();
        }
        let references = |book: String| {
            let db = t.db.clone();
            async move {
                db_doc::Entity::find()
                    .filter(db_doc::Column::Book.eq(&book))
                    .order_by_asc(db_doc::Column::Id)
                    .all(&db)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| {
                        (
                            r.reference.unwrap().replacen(&book, "BOOK", 1),
                            r.raw.unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            references(by_database).await,
            references(by_library).await,
            "{t:?}: {days:?}"
        );
    }
}

/// The chain on insert, by PostgreSQL's `sha256()` and MariaDB's `SHA2()`,
/// links the same chain as the library: raw inserts between the derive's,
/// a raw DELETE voided with its hash, and the chain audit intact; an edit of
/// a covered field is refused.
#[tokio::test]
async fn the_database_chains_records_as_the_library() {
    use sequences_tests::entities::db_chained;
    for t in connect_all(2).await {
        if t.backend == Backend::Sqlite {
            let error = db_chained::ActiveModel::gapless_numbering()
                .install_triggers(&t.db)
                .await
                .unwrap_err();
            assert!(
                matches!(&error, SequenceError::InvalidNumbering { reason, .. } if reason.starts_with("chain")),
                "{error}"
            );
            continue;
        }
        let company = sequences_tests::fresh_company();
        for i in 0..6i64 {
            let (customer, day) = (
                (i % 3 != 0).then(|| format!("client é{i}")),
                date(&format!("2026-10-0{}", i + 1)),
            );
            if i % 2 == 0 {
                raw(
                    &t.db,
                    "INSERT INTO db_chained (company_id, customer, amount_cents, issued_on) VALUES (?, ?, ?, ?)",
                    vec![company.into(), customer.into(), (100 * i).into(), day.into()],
                )
                .await
                .unwrap();
            } else {
                let txn = t.db.begin().await.unwrap();
                db_chained::ActiveModel {
                    company_id: Set(company),
                    customer: Set(customer),
                    amount_cents: Set(100 * i),
                    issued_on: Set(day),
                    ..Default::default()
                }
                .insert(&txn)
                .await
                .unwrap();
                txn.commit().await.unwrap();
            }
        }
        let audit = || async { db_chained::chain_audit().run(&t.db).await.unwrap() };
        let report = audit().await;
        let ours = report
            .chains
            .iter()
            .find(|c| c.sequence == format!("dbchain-{company}"))
            .unwrap_or_else(|| panic!("{t:?}: {report:?}"));
        assert!(
            ours.breaks.is_empty() && ours.unnumbered == 0 && ours.links == 6,
            "{t:?}: {ours:?}"
        );

        // An edit of a covered field is refused; the hash too.
        for sql in [
            "UPDATE db_chained SET amount_cents = 1 WHERE company_id = ? AND number = 2",
            "UPDATE db_chained SET hash = 'x' WHERE company_id = ? AND number = 2",
        ] {
            let error = raw(&t.db, sql, vec![company.into()]).await.unwrap_err();
            assert!(
                matches!(refusal(&t, error), SequenceError::NumberChanged { .. }),
                "{t:?}: {sql}"
            );
        }
        // A raw DELETE is voided with the record's hash: the chain runs on.
        raw(
            &t.db,
            "DELETE FROM db_chained WHERE company_id = ? AND number = 3",
            vec![company.into()],
        )
        .await
        .unwrap();
        let report = audit().await;
        let ours = report
            .chains
            .iter()
            .find(|c| c.sequence == format!("dbchain-{company}"))
            .unwrap();
        assert!(
            ours.breaks.is_empty() && ours.ends_at == Some(6),
            "{t:?}: {ours:?}"
        );
    }
}

/// `by_database`: `ActiveModel::insert` leaves the number to the database
/// (no transaction needed, the number commits with the row) and returns the
/// model with it, on SQLite too; with no triggers, the insert is refused.
#[tokio::test]
async fn by_database_models_come_back_numbered() {
    use sequences_tests::entities::{db_receipt, db_unguarded};
    for t in connect_all(2).await {
        let till = fresh("T");
        for n in 1..=3i64 {
            let model = db_receipt::ActiveModel {
                till: Set(till.clone()),
                ..Default::default()
            }
            .insert(&t.db)
            .await
            .unwrap();
            assert_eq!(model.reference, Some(format!("R-{till}-{n:03}")), "{t:?}");
            assert_eq!(model.number, Some(n), "{t:?}");
        }
        // insert_many: numbered too, in order.
        let many = (0..2).map(|_| db_receipt::ActiveModel {
            till: Set(till.clone()),
            ..Default::default()
        });
        db_receipt::Entity::insert_many(many)
            .exec(&t.db)
            .await
            .unwrap();
        let numbers: Vec<i64> = db_receipt::Entity::find()
            .filter(db_receipt::Column::Till.eq(&till))
            .order_by_asc(db_receipt::Column::Id)
            .all(&t.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.number.unwrap())
            .collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5], "{t:?}");

        let txn = t.db.begin().await.unwrap();
        let error = <db_unguarded::ActiveModel as Default>::default()
            .insert(&txn)
            .await
            .unwrap_err();
        assert!(
            matches!(SequenceError::from_database(&error), Some(SequenceError::InvalidNumbering { reason, .. }) if reason.contains("triggers are not installed")),
            "{t:?}: {error}"
        );
        txn.rollback().await.unwrap();
    }
}

/// A random description: its period, date column, time zone and format.
#[derive(Debug, Clone)]
struct Case {
    period: Option<sequences_core::Period>,
    instant: bool,
    zone: Option<&'static str>,
    format: String,
    days: Vec<chrono::DateTime<chrono::Utc>>,
}

fn random_case(rng: &mut impl Rng, zones: bool) -> Case {
    use sequences_core::Period;
    let period = match rng.random_range(0..5) {
        0 => None,
        1 => Some(Period::Year),
        2 => Some(Period::Month),
        3 => Some(Period::Day),
        _ => Some(Period::FiscalYear {
            start_month: rng.random_range(2..=12),
        }),
    };
    let sep = ["-", "/", ".", "", "_"];
    fn pick(rng: &mut impl Rng, options: &[&'static str]) -> &'static str {
        options[rng.random_range(0..options.len())]
    }
    let mut parts: Vec<String> = vec![pick(rng, &["INV", "F", "", "№", "a'b", "x\\y"]).to_owned()];
    if pick(rng, &["book", ""]) == "book" {
        parts.push("{book}".into());
    }
    let period_parts: &[&str] = match period {
        None => &[],
        Some(Period::Year) => &["{year}", "{yy}"],
        Some(Period::Month) => &["{year}{month}", "{yy}.{month}"],
        Some(Period::Day) => &["{year}-{month}-{day}", "{day}{month}{yy}"],
        Some(_) => &["{fy}", "{fy_start}/{fy_end}", "{fy_start}"],
    };
    if !period_parts.is_empty() {
        parts.push(pick(rng, period_parts).to_owned());
    }
    let width = rng.random_range(0..7usize);
    parts.push(if width == 0 {
        "{value}".into()
    } else {
        format!("{{value:0{width}}}")
    });
    let joiner = pick(rng, &sep);
    let format = parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(joiner);
    let instant = rng.random_bool(0.5);
    let zone = (zones && instant && rng.random_bool(0.6)).then(|| {
        ["Europe/Paris", "Pacific/Kiritimati", "America/Los_Angeles"][rng.random_range(0..3)]
    });
    let start = chrono::DateTime::parse_from_rfc3339("2024-12-25T00:00:00Z")
        .unwrap()
        .to_utc();
    let days = (0..8)
        .map(|_| {
            start
                + chrono::Duration::hours(rng.random_range(0..24 * 500))
                + chrono::Duration::minutes(rng.random_range(0..60))
        })
        .collect();
    Case {
        period,
        instant,
        zone,
        format,
        days,
    }
}

fn numbering_of(
    case: &Case,
) -> sequences_core::Numbering<sequences_tests::entities::db_prop::Column> {
    use sequences_core::{NumberedField, Numbering, OnDelete};
    use sequences_tests::entities::db_prop::Column;
    let mut field = NumberedField::new(Column::Reference, Sequence::new("prop-{book}"))
        .format(case.format.clone())
        .raw_value(Column::Raw)
        .on_delete(OnDelete::Allow)
        .date(if case.instant {
            Column::At
        } else {
            Column::IssuedOn
        });
    if let Some(period) = case.period {
        field = field.period(period);
    }
    if let Some(zone) = case.zone {
        field = field.time_zone(zone);
    }
    Numbering::new().field_with(field)
}

/// The property: for random periods, date columns, time zones and formats
/// on random dates, the references the database prints are the library's,
/// row for row (the two paths number two books, the book aside).
#[tokio::test]
async fn the_two_paths_agree_on_random_descriptions() {
    use sequences_tests::Scratch;
    use sequences_tests::entities::db_prop;
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "by_database_prop").await;
        sequences_tests::migrate(&scratch.url).await;
        let db = sequences_tests::open(&scratch.url, 1).await;
        let mut rng = rand::rng();
        let mut cases = 0;
        while cases < 16 {
            let case = random_case(&mut rng, t.backend == Backend::Postgres);
            let numbering = numbering_of(&case);
            if numbering.validate().is_err() {
                continue; // a description the rules refuse: not a case
            }
            cases += 1;
            numbering
                .install_triggers(&db)
                .await
                .unwrap_or_else(|e| panic!("{t:?}: {case:?}: {e}"));
            let (library, database) = (fresh("L"), fresh("D"));
            for at in &case.days {
                let row = |book: &str| db_prop::ActiveModel {
                    book: Set(book.to_owned()),
                    issued_on: Set(at.date_naive()),
                    at: Set(*at),
                    ..Default::default()
                };
                let txn = db.begin().await.unwrap();
                let filled = numbering.fill(row(&library), &txn).await.unwrap();
                db_prop::Entity::insert(filled).exec(&txn).await.unwrap();
                txn.commit().await.unwrap();
                db_prop::Entity::insert(row(&database))
                    .exec(&db)
                    .await
                    .unwrap_or_else(|e| panic!("{t:?}: {case:?}: {e}"));
            }
            let references = |book: String| {
                let db = db.clone();
                async move {
                    db_prop::Entity::find()
                        .filter(db_prop::Column::Book.eq(&book))
                        .order_by_asc(db_prop::Column::Id)
                        .all(&db)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|r| (r.reference.map(|s| s.replace(&book, "BOOK")), r.raw))
                        .collect::<Vec<_>>()
                }
            };
            assert_eq!(
                references(database).await,
                references(library).await,
                "{t:?}: {case:?}"
            );
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// A time zone where the database has none (SQLite), or does not know the
/// zone (MariaDB without its time zone tables, as here), is refused before
/// anything is installed, naming the option and the database.
#[tokio::test]
async fn a_time_zone_the_database_lacks_is_refused() {
    use sequences_core::{NumberedField, Numbering, OnDelete};
    use sequences_tests::entities::db_prop::Column;
    for t in connect_all(1).await {
        let numbering = Numbering::new().field_with(
            NumberedField::new(Column::Raw, Sequence::new("zoned-{book}"))
                .period(sequences_core::Period::Year)
                .date(Column::At)
                .time_zone("Europe/Paris")
                .on_delete(OnDelete::Allow),
        );
        let result = numbering.install_triggers(&t.db).await;
        match t.backend {
            Backend::Postgres => {
                result.unwrap();
                numbering.remove_triggers(&t.db).await.unwrap();
            }
            backend => {
                let error = result.unwrap_err();
                let database = if backend == Backend::Sqlite {
                    "SQLite"
                } else {
                    "MariaDB/MySQL"
                };
                assert!(
                    matches!(&error, SequenceError::InvalidNumbering { reason, .. }
                        if reason.starts_with("time_zone") && reason.contains(database)),
                    "{t:?}: {error}"
                );
                let installed =
                    t.db.query_one_raw(Statement::from_string(
                        t.db.get_database_backend(),
                        "SELECT COUNT(*) FROM sequences_guards WHERE table_name = 'db_prop'",
                    ))
                    .await;
                // Nothing recorded (the register may not even exist yet).
                if let Ok(Some(row)) = installed {
                    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 0, "{t:?}");
                }
            }
        }
    }
}
