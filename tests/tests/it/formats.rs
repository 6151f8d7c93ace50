//! Formatted references with per-period counters, on the three backends:
//! year rollover by the document's date, monthly receipts by the database's
//! date, scope plus period, padding overflow, concurrency across periods, and
//! moving a counter with `set_last_value`.

use std::collections::BTreeMap;

use rand::Rng;
use sea_orm::prelude::Date;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    Statement, TransactionTrait,
};
use sequences_core::{Retry, Sequence, SequenceError};
use sequences_tests::entities::document;
use sequences_tests::{Attempt, assert_gapless, connect_all, locks, unique_name};

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

fn new_document(journal: &str, issued_on: &str) -> document::ActiveModel {
    document::ActiveModel {
        journal: Set(journal.to_owned()),
        issued_on: Set(date(issued_on)),
        ..Default::default()
    }
}

async fn insert(
    db: &sea_orm::DatabaseConnection,
    journal: &str,
    issued_on: &str,
) -> document::Model {
    let txn = db.begin().await.unwrap();
    let model = new_document(journal, issued_on).insert(&txn).await.unwrap();
    txn.commit().await.unwrap();
    model
}

/// A journal name no other test or run uses (short: it is part of references).
fn journal() -> String {
    unique_name("J").replace('-', "")
}

#[tokio::test]
async fn year_rollover_follows_the_document_date() {
    for t in connect_all(2).await {
        let j = journal();
        let mut got = Vec::new();
        for day in [
            "2026-12-31",
            "2027-01-01",
            "2026-12-31",
            "2027-01-01",
            "2027-06-30",
        ] {
            let model = insert(&t.db, &j, day).await;
            got.push((model.reference, model.number));
        }
        let want = [
            (format!("{j}-2026-00001"), 1),
            (format!("{j}-2027-00001"), 1),
            (format!("{j}-2026-00002"), 2),
            (format!("{j}-2027-00002"), 2),
            (format!("{j}-2027-00003"), 3),
        ];
        assert_eq!(got, want, "{t:?}");
        assert_eq!(
            Sequence::new(format!("invoice-{j}@2026"))
                .last_value(&t.db)
                .await
                .unwrap(),
            Some(2),
            "{t:?}: one sequence per journal and year"
        );
        // Another journal, same years: its own counters.
        let other = journal();
        assert_eq!(
            insert(&t.db, &other, "2026-12-31").await.reference,
            format!("{other}-2026-00001")
        );
    }
}

#[tokio::test]
async fn monthly_receipts_use_the_database_date() {
    for t in connect_all(2).await {
        let backend = t.db.get_database_backend();
        let sql = match backend {
            sea_orm::DbBackend::Postgres => "SELECT CAST(CURRENT_DATE AS TEXT)",
            sea_orm::DbBackend::MySql => "SELECT CAST(CURDATE() AS CHAR)",
            _ => "SELECT date('now')",
        };
        let today: String =
            t.db.query_one_raw(Statement::from_string(backend, sql))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index(0)
                .unwrap();
        let (yy, month) = (&today[2..4], &today[5..7]);
        let j = journal();
        let first = insert(&t.db, &j, "2001-01-01").await;
        let second = insert(&t.db, &j, "2001-01-01").await;
        assert_eq!(first.receipt, Some(format!("R{yy}{month}-001")), "{t:?}");
        assert_eq!(second.receipt, Some(format!("R{yy}{month}-002")), "{t:?}");
        let name = format!("receipt-{j}@{}", &today[..7]);
        assert_eq!(
            Sequence::new(name).last_value(&t.db).await.unwrap(),
            Some(2),
            "{t:?}"
        );
    }
}

#[tokio::test]
async fn padding_widens_instead_of_truncating() {
    for t in connect_all(2).await {
        let j = journal();
        let txn = t.db.begin().await.unwrap();
        Sequence::new(format!("invoice-{j}@2026"))
            .set_last_value(&txn, 99_998)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(
            insert(&t.db, &j, "2026-05-01").await.reference,
            format!("{j}-2026-99999")
        );
        let wide = insert(&t.db, &j, "2026-05-01").await;
        assert_eq!(wide.reference, format!("{j}-2026-100000"), "{t:?}");
        assert_eq!(wide.number, 100_000, "{t:?}");
    }
}

#[tokio::test]
async fn missing_date_is_refused_before_any_value_is_taken() {
    for t in connect_all(2).await {
        let j = journal();
        let txn = t.db.begin().await.unwrap();
        let error = document::ActiveModel {
            journal: Set(j.clone()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap_err();
        txn.rollback().await.unwrap();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::MissingPlaceholder { field, .. }) if field == "issued_on"),
            "{t:?}: {error:?}"
        );
        // The receipt (database date) comes before nothing was taken either:
        // the whole fill is checked before any allocation.
        let receipts =
            t.db.query_one_raw(Statement::from_string(
                t.db.get_database_backend(),
                format!("SELECT COUNT(*) FROM sequences WHERE name LIKE 'receipt-{j}%'"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(receipts, 0, "{t:?}");
    }
}

/// Writers insert documents dated in two years at random, rolling back a
/// third: per year, the committed numbers are gapless and the references
/// agree with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_across_two_periods_stay_gapless() {
    for t in connect_all(8).await {
        let j = journal();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (db, j) = (t.db.clone(), j.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..12 {
                    let (day, rollback) = {
                        let mut rng = rand::rng();
                        (
                            if rng.random_bool(0.5) {
                                "2026-12-31"
                            } else {
                                "2027-01-01"
                            },
                            rng.random_bool(0.3),
                        )
                    };
                    let result = Retry::new()
                        .transaction::<Attempt, _, _, _>(&db, |txn| {
                            let model = new_document(&j, day);
                            Box::pin(async move {
                                model.insert(txn).await?;
                                if rollback {
                                    return Err(Attempt::RolledBack);
                                }
                                Ok(())
                            })
                        })
                        .await;
                    match result {
                        Ok(()) | Err(Attempt::RolledBack) => {}
                        Err(error) => panic!("{error}"),
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let rows = document::Entity::find()
            .filter(document::Column::Journal.eq(j.clone()))
            .all(&t.db)
            .await
            .unwrap();
        let mut per_year: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for row in &rows {
            let year = row.issued_on.to_string()[..4].to_owned();
            assert_eq!(
                row.reference,
                format!("{j}-{year}-{:05}", row.number),
                "{t:?}"
            );
            per_year.entry(year).or_default().push(row.number);
        }
        assert_eq!(per_year.len(), 2, "{t:?}");
        for (year, numbers) in per_year {
            let last = Sequence::new(format!("invoice-{j}@{year}"))
                .last_value(&t.db)
                .await
                .unwrap();
            assert_gapless(&format!("{t:?} {year}"), &numbers, 1, last);
        }
    }
}

#[tokio::test]
async fn set_last_value_moves_forward_and_refuses_backward() {
    for t in connect_all(2).await {
        let sequence = Sequence::new(unique_name("legacy"));
        // Outside a transaction: refused, nothing created.
        assert!(matches!(
            sequence.set_last_value(&t.db, 4711).await,
            Err(SequenceError::NotInTransaction { .. })
        ));
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), None);
        // "Continue after 4711" on a new sequence.
        let txn = t.db.begin().await.unwrap();
        sequence.set_last_value(&txn, 4711).await.unwrap();
        assert_eq!(sequence.next_value(&txn).await.unwrap(), 4712);
        txn.commit().await.unwrap();
        // Backward is refused and changes nothing; the same value is a no-op.
        let txn = t.db.begin().await.unwrap();
        let error = sequence.set_last_value(&txn, 100).await.unwrap_err();
        assert!(
            matches!(
                error,
                SequenceError::WouldGoBackwards {
                    last: 4712,
                    requested: 100,
                    ..
                }
            ),
            "{t:?}: {error}"
        );
        sequence.set_last_value(&txn, 4712).await.unwrap();
        assert_eq!(sequence.next_value(&txn).await.unwrap(), 4713);
        txn.commit().await.unwrap();
        // Forward again, then forced back (a repair); a rollback undoes it all.
        let txn = t.db.begin().await.unwrap();
        sequence.set_last_value(&txn, 9000).await.unwrap();
        txn.rollback().await.unwrap();
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), Some(4713));
        let txn = t.db.begin().await.unwrap();
        sequence.force_last_value(&txn, 10).await.unwrap();
        assert_eq!(sequence.next_value(&txn).await.unwrap(), 11);
        txn.commit().await.unwrap();
    }
}

/// `set_last_value` waits for a transaction that holds the sequence, like
/// an allocation (PostgreSQL and MariaDB; SQLite locks the whole database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_last_value_takes_the_row_lock() {
    for t in connect_all(4).await {
        if !t.backend.has_row_locks() {
            continue;
        }
        let sequence = Sequence::new(unique_name("legacy-lock"));
        sequence.next_value(&t.db).await.unwrap();
        let holder = t.db.begin().await.unwrap();
        assert_eq!(sequence.next_value(&holder).await.unwrap(), 2);
        let s = sequence.clone();
        let (setter, session) = locks::spawn_transaction(&t.db, move |txn| async move {
            let result = s.set_last_value(&txn, 1).await;
            txn.rollback().await.unwrap();
            result
        })
        .await;
        let session = session.expect("a server session");
        locks::wait_until_waiting(&t.db, session, &format!("{t:?} setter")).await;
        assert!(
            !setter.is_finished(),
            "{t:?}: the setter must wait for the holder"
        );
        holder.commit().await.unwrap();
        let error = setter.await.unwrap().unwrap_err();
        // It saw the committed 2, not the 1 it read before waiting.
        assert!(
            matches!(error, SequenceError::WouldGoBackwards { last: 2, .. }),
            "{t:?}: {error}"
        );
    }
}

/// The audit reads formatted references back, per journal and year, and
/// finds planted gaps, duplicates and unreadable texts exactly; a journal
/// numbered through the derive comes out clean.
#[tokio::test]
async fn audit_reads_formatted_references_per_period() {
    use sequences_core::{Audit, Period};
    for t in connect_all(2).await {
        let j = journal();
        let planted = [
            ("2026-01-05", format!("{j}-2026-00001")),
            ("2026-02-05", format!("{j}-2026-00002")),
            ("2026-03-05", format!("{j}-2026-00004")),
            ("2026-03-06", format!("{j}-2026-00004")),
            ("2027-01-05", format!("{j}-2027-00002")),
            ("2027-01-06", format!("{j}-2027-00003")),
            ("2027-01-07", "typed by hand".to_owned()),
        ];
        let rows = planted
            .iter()
            .map(|(day, reference)| document::ActiveModel {
                journal: Set(j.clone()),
                issued_on: Set(date(day)),
                reference: Set(reference.clone()),
                number: Set(0),
                receipt: Set(None),
                ..Default::default()
            });
        document::Entity::insert_many(rows)
            .exec(&t.db)
            .await
            .unwrap();
        let txn = t.db.begin().await.unwrap();
        Sequence::new(format!("invoice-{j}@2026"))
            .set_last_value(&txn, 5)
            .await
            .unwrap();
        txn.commit().await.unwrap();

        let audit = Audit::new(document::Column::Reference)
            .format("{journal}-{year}-{value:05}")
            .sequence("invoice-{journal}")
            .period(Period::Year)
            .filter(document::Column::Journal.eq(j.clone()));
        let report = audit.clone().run(&t.db).await.unwrap();
        assert_eq!(report.unreadable, 1, "{t:?}");
        assert_eq!(report.groups.len(), 2, "{t:?}: {report:#?}");
        let y2026 = &report.groups[0];
        assert_eq!(y2026.scope, [Some(j.clone()), Some("2026".to_owned())]);
        assert_eq!(
            y2026.sequence.as_deref(),
            Some(format!("invoice-{j}@2026").as_str())
        );
        assert_eq!(
            (y2026.rows, y2026.distinct, y2026.sequence_last),
            (4, 3, Some(5)),
            "{t:?}"
        );
        assert_eq!(y2026.missing, 2, "{t:?}");
        assert_eq!(y2026.gaps, [3..=3, 5..=5], "{t:?}");
        assert_eq!(y2026.duplicates, [(4, 2)], "{t:?}");
        assert!(!y2026.ahead_of_sequence, "{t:?}");
        let y2027 = &report.groups[1];
        assert_eq!(
            (y2027.missing, y2027.gaps.clone()),
            (1, vec![1..=1]),
            "{t:?}"
        );
        assert!(
            y2027.ahead_of_sequence,
            "{t:?}: no sequence for 2027 exists"
        );
        assert!(!report.is_clean());

        // Numbered by the derive across a year boundary: clean.
        let clean = journal();
        for day in ["2026-12-31", "2027-01-01", "2026-12-30", "2027-01-02"] {
            insert(&t.db, &clean, day).await;
        }
        let report = Audit::new(document::Column::Reference)
            .format("{journal}-{year}-{value:05}")
            .sequence("invoice-{journal}")
            .period(Period::Year)
            .filter(document::Column::Journal.eq(clean.clone()))
            .run(&t.db)
            .await
            .unwrap();
        assert_eq!(report.groups.len(), 2, "{t:?}");
        assert!(report.is_clean(), "{t:?}: {report:#?}");
        // The raw numbers beside the references agree.
        let raw = Audit::new(document::Column::Number)
            .filter(document::Column::Journal.eq(clean))
            .run(&t.db)
            .await
            .unwrap();
        assert_eq!(
            raw.groups[0].duplicate_rows, 2,
            "{t:?}: 1 and 2 once per year"
        );
    }
}
