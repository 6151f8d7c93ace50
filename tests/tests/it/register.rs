//! The register an auditor signs off, on the three databases: voided
//! numbers, delete policies (and a delete racing an allocation), date order,
//! closed periods (and a close racing an allocation), fiscal years, time
//! zones, and the audit of voids and date inversions.

use std::collections::BTreeMap;

use rand::Rng;
use sea_orm::prelude::{Date, DateTimeUtc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, TransactionTrait,
};
use sequences_core::{
    Audit, Day, NumberedField, Numbering, OnDelete, Period, Retry, Sequence, SequenceError,
};
use sequences_tests::entities::{fiscal_doc, invoice, register_doc, zoned_receipt};
use sequences_tests::models::generated_invoice;
use sequences_tests::{assert_gapless, connect_all, fresh_company, locks, unique_name};

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

fn day(text: &str) -> Day {
    Day::from(date(text))
}

/// A book name no other test uses.
fn fresh_book() -> String {
    unique_name("B").replace('-', "")
}

fn doc(book: &str, issued_on: &str) -> register_doc::ActiveModel {
    register_doc::ActiveModel {
        book: Set(book.to_owned()),
        issued_on: Set(date(issued_on)),
        ..Default::default()
    }
}

#[tokio::test]
async fn voids_are_recorded_once_with_their_reason() {
    for t in connect_all(2).await {
        let sequence = Sequence::new(unique_name("void"));
        let txn = t.db.begin().await.unwrap();
        assert_eq!(sequence.next_values(&txn, 5).await.unwrap(), 1..6);
        txn.commit().await.unwrap();

        let error = sequence.void(&t.db, 3, "x").await.unwrap_err();
        assert!(
            matches!(error, SequenceError::NotInTransaction { .. }),
            "{t:?}: {error}"
        );

        let txn = t.db.begin().await.unwrap();
        sequence
            .void(&txn, 3, "cancelled by credit note 12")
            .await
            .unwrap();
        let error = sequence.void(&txn, 3, "again").await.unwrap_err();
        assert!(
            matches!(&error, SequenceError::AlreadyVoid { name, value: 3, reason }
                if name == sequence.name() && reason == "cancelled by credit note 12"),
            "{t:?}: {error}"
        );
        for value in [6, 0] {
            let error = sequence.void(&txn, value, "never").await.unwrap_err();
            assert!(
                matches!(&error, SequenceError::NotAllocated { name, value: v, last: Some(5) }
                    if name == sequence.name() && *v == value),
                "{t:?}: {error}"
            );
        }
        let error = sequence.void(&txn, 4, "  ").await.unwrap_err();
        assert!(
            matches!(&error, SequenceError::EmptyReason { name } if name == sequence.name()),
            "{t:?}: {error}"
        );
        let unknown = Sequence::new(unique_name("never-used"));
        assert!(matches!(
            unknown.void(&txn, 1, "x").await,
            Err(SequenceError::NotAllocated { last: None, .. })
        ));
        txn.commit().await.unwrap();

        // A void rolled back is not recorded.
        let txn = t.db.begin().await.unwrap();
        sequence.void(&txn, 4, "changed my mind").await.unwrap();
        txn.rollback().await.unwrap();

        let voids = sequences_core::entity::void::Entity::find()
            .filter(sequences_core::entity::void::Column::Sequence.eq(sequence.name()))
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(voids.len(), 1, "{t:?}: {voids:?}");
        assert_eq!(
            (voids[0].value, voids[0].reason.as_str()),
            (3, "cancelled by credit note 12"),
            "{t:?}"
        );
        let at = &voids[0].voided_at;
        assert!(
            at.len() == 20 && at.starts_with("20") && at.ends_with('Z') && &at[10..11] == "T",
            "{t:?}: {at}"
        );
        // The counter is untouched by voids.
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), Some(5), "{t:?}");
    }
}

#[tokio::test]
async fn delete_policies() {
    for t in connect_all(2).await {
        // refuse (the default): the row stays, even deleted by its key alone.
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        let kept = invoice::ActiveModel {
            company_id: Set(company),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let txn = t.db.begin().await.unwrap();
        let error = kept
            .clone()
            .into_active_model()
            .delete(&txn)
            .await
            .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::DeleteRefused { value, target, .. })
                    if *value == kept.number && target == "invoice.number"),
            "{t:?}: {error}"
        );
        let by_key = invoice::ActiveModel {
            id: Set(kept.id),
            ..Default::default()
        };
        assert!(by_key.delete(&txn).await.is_err(), "{t:?}");
        txn.rollback().await.unwrap();
        assert!(
            invoice::Entity::find_by_id(kept.id)
                .one(&t.db)
                .await
                .unwrap()
                .is_some(),
            "{t:?}"
        );

        // void: the delete goes through, the number is recorded void.
        let book = fresh_book();
        let txn = t.db.begin().await.unwrap();
        let mut docs = Vec::new();
        for issued in ["2026-01-02", "2026-01-03", "2026-01-04"] {
            docs.push(doc(&book, issued).insert(&txn).await.unwrap());
        }
        // A draft without a number is deleted freely.
        let draft = register_doc::ActiveModel {
            number: Set(None),
            ..doc(&book, "2026-01-05")
        }
        .insert(&txn)
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let middle = register_doc::ActiveModel {
            id: Set(docs[1].id),
            ..Default::default()
        };
        assert!(
            middle.clone().delete(&t.db).await.is_err(),
            "{t:?}: outside a transaction"
        );
        let txn = t.db.begin().await.unwrap();
        middle.delete(&txn).await.unwrap();
        draft.into_active_model().delete(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let void =
            sequences_core::entity::void::Entity::find_by_id((format!("register-{book}"), 2))
                .one(&t.db)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{t:?}: number 2 recorded void"));
        assert_eq!(void.reason, "deleted", "{t:?}");
        let report = Audit::new(register_doc::Column::Number)
            .scope([register_doc::Column::Book])
            .filter(register_doc::Column::Book.eq(book.clone()))
            .sequence("register-{book}")
            .run(&t.db)
            .await
            .unwrap();
        assert!(report.is_clean(), "{t:?}: {report:?}");
        assert_eq!(report.groups[0].voided, [2], "{t:?}");

        // revert_if_last: only the last number goes, and is handed out again.
        let numbering = Numbering::new().field_with(
            NumberedField::new(
                generated_invoice::Column::Number,
                Sequence::new("generated-{company_id}"),
            )
            .on_delete(OnDelete::RevertIfLast),
        );
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        let mut rows = Vec::new();
        for _ in 0..3 {
            rows.push(
                generated_invoice::ActiveModel {
                    company_id: Set(company),
                    journal: Set("J".into()),
                    issued_on: Set(date("2026-01-01")),
                    ..Default::default()
                }
                .insert(&txn)
                .await
                .unwrap(),
            );
        }
        let error = numbering
            .before_delete(rows[1].clone().into_active_model(), &txn)
            .await
            .unwrap_err();
        assert!(
            matches!(
                SequenceError::from_db_err(&error),
                Some(SequenceError::NotLast {
                    value: 2,
                    last: Some(3),
                    ..
                })
            ),
            "{t:?}: {error}"
        );
        // The hooks around a hook-less delete: checked before, given back after.
        let model = numbering
            .before_delete(rows[2].clone().into_active_model(), &txn)
            .await
            .unwrap();
        generated_invoice::Entity::delete_by_id(rows[2].id)
            .exec(&txn)
            .await
            .unwrap();
        numbering.after_delete(model, &txn).await.unwrap();
        let again = generated_invoice::ActiveModel {
            company_id: Set(company),
            journal: Set("J".into()),
            issued_on: Set(date("2026-01-01")),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        assert_eq!(again.number, 3, "{t:?}");
        txn.commit().await.unwrap();

        // allow: nothing checked, nothing recorded.
        let allow = Numbering::new().field_with(
            NumberedField::new(
                generated_invoice::Column::Number,
                Sequence::new("generated-{company_id}"),
            )
            .on_delete(OnDelete::Allow),
        );
        let txn = t.db.begin().await.unwrap();
        allow
            .before_delete(rows[0].clone().into_active_model(), &txn)
            .await
            .unwrap();
        txn.rollback().await.unwrap();
    }
}

/// A delete of the last number races an allocation, in both orders: the
/// loser waits for the row lock, and the result is gapless either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_if_last_races_an_allocation() {
    for t in connect_all(4).await {
        let sequence = Sequence::new(unique_name("race"));
        let txn = t.db.begin().await.unwrap();
        sequence.next_values(&txn, 3).await.unwrap();
        txn.commit().await.unwrap();

        // The allocation first: the revert waits, then finds 3 no longer last.
        let allocator = t.db.begin().await.unwrap();
        assert_eq!(sequence.next_value(&allocator).await.unwrap(), 4);
        let s = sequence.clone();
        let (reverter, session) = locks::spawn_transaction(&t.db, move |txn| async move {
            let result = s.revert_last(&txn, 3).await;
            txn.commit().await.unwrap();
            result
        })
        .await;
        if let Some(session) = session {
            locks::wait_until_waiting(&t.db, session, &format!("{t:?} reverter")).await;
        }
        allocator.commit().await.unwrap();
        assert!(
            matches!(
                reverter.await.unwrap(),
                Err(SequenceError::NotLast {
                    value: 3,
                    last: Some(4),
                    ..
                })
            ),
            "{t:?}"
        );

        // The revert first: the allocation waits, then takes 4 again.
        let reverter = t.db.begin().await.unwrap();
        sequence.revert_last(&reverter, 4).await.unwrap();
        let s = sequence.clone();
        let (allocator, session) = locks::spawn_transaction(&t.db, move |txn| async move {
            let value = s.next_value(&txn).await.unwrap();
            txn.commit().await.unwrap();
            value
        })
        .await;
        if let Some(session) = session {
            locks::wait_until_waiting(&t.db, session, &format!("{t:?} allocator")).await;
        }
        reverter.commit().await.unwrap();
        assert_eq!(allocator.await.unwrap(), 4, "{t:?}");
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), Some(4), "{t:?}");
    }
}

#[tokio::test]
async fn chronological_numbers_follow_their_dates() {
    for t in connect_all(2).await {
        let sequence = Sequence::new(unique_name("chrono"));
        let txn = t.db.begin().await.unwrap();
        assert_eq!(
            sequence
                .next_value_on(&txn, day("2026-03-01"))
                .await
                .unwrap(),
            1
        );
        let error = sequence
            .next_value_on(&txn, day("2026-02-28"))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SequenceError::OutOfOrder { day: d, latest, .. }
                if *d == day("2026-02-28") && *latest == day("2026-03-01")),
            "{t:?}: {error}"
        );
        assert_eq!(
            sequence
                .next_value_on(&txn, day("2026-03-01"))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            sequence
                .next_values_on(&txn, 2, day("2026-03-05"))
                .await
                .unwrap(),
            3..5
        );
        // A plain allocation does not care about dates, and moves none.
        assert_eq!(sequence.next_value(&txn).await.unwrap(), 5);
        txn.commit().await.unwrap();
        let state = sequence.state(&t.db).await.unwrap().unwrap();
        assert_eq!((state.last, state.last_day), (5, Some(20_260_305)), "{t:?}");

        // Through the derive: an earlier document is refused, nothing consumed.
        let book = fresh_book();
        let txn = t.db.begin().await.unwrap();
        doc(&book, "2026-05-10").insert(&txn).await.unwrap();
        let error = doc(&book, "2026-05-09").insert(&txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::OutOfOrder { day: d, latest, .. })
                    if *d == day("2026-05-09") && *latest == day("2026-05-10")),
            "{t:?}: {error}"
        );
        // A batch whose own dates go backwards is refused before anything is taken.
        let batch = vec![doc(&book, "2026-05-12"), doc(&book, "2026-05-11")];
        let error = register_doc::ActiveModel::fill_gapless_many(batch, &txn)
            .await
            .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::OutOfOrder { day: d, latest, .. })
                    if *d == day("2026-05-11") && *latest == day("2026-05-12")),
            "{t:?}: {error}"
        );
        txn.commit().await.unwrap();
        assert_eq!(
            Sequence::new(format!("register-{book}"))
                .last_value(&t.db)
                .await
                .unwrap(),
            Some(1),
            "{t:?}"
        );
    }
}

/// Writers with random dates: late ones are refused, and what commits is
/// gapless and in date order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chronology_holds_under_concurrent_writers() {
    for t in connect_all(8).await {
        let book = fresh_book();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (db, book) = (t.db.clone(), book.clone());
            tasks.push(tokio::spawn(async move {
                let mut refused = 0;
                for i in 0..15 {
                    // Dates move forward with the load, give or take two days.
                    let offset = i + rand::rng().random_range(0..=4);
                    let issued = (date("2026-06-01") + chrono::Days::new(offset))
                        .format("%Y-%m-%d")
                        .to_string();
                    let book = book.clone();
                    let result = Retry::new()
                        .max_attempts(200)
                        .transaction::<DbErr, _, _, _>(&db, |txn| {
                            let (book, issued) = (book.clone(), issued.clone());
                            Box::pin(async move {
                                doc(&book, &issued).insert(txn).await?;
                                Ok(())
                            })
                        })
                        .await;
                    match result {
                        Ok(()) => {}
                        Err(error)
                            if matches!(
                                SequenceError::from_db_err(&error),
                                Some(SequenceError::OutOfOrder { .. })
                            ) =>
                        {
                            refused += 1
                        }
                        Err(error) => panic!("{error}"),
                    }
                }
                refused
            }));
        }
        let mut refused = 0;
        for task in tasks {
            refused += task.await.unwrap();
        }
        let rows = register_doc::Entity::find()
            .filter(register_doc::Column::Book.eq(book.clone()))
            .order_by_asc(register_doc::Column::Number)
            .all(&t.db)
            .await
            .unwrap();
        let numbers: Vec<i64> = rows.iter().map(|r| r.number.unwrap()).collect();
        let last = Sequence::new(format!("register-{book}"))
            .last_value(&t.db)
            .await
            .unwrap();
        assert_gapless(&format!("{t:?} chronology"), &numbers, 1, last);
        assert!(
            rows.windows(2)
                .all(|pair| pair[0].issued_on <= pair[1].issued_on),
            "{t:?}: dates out of order"
        );
        assert!(refused > 0, "{t:?}: random dates must meet a later one");
        let report = Audit::new(register_doc::Column::Number)
            .scope([register_doc::Column::Book])
            .filter(register_doc::Column::Book.eq(book.clone()))
            .sequence("register-{book}")
            .date(register_doc::Column::IssuedOn)
            .run(&t.db)
            .await
            .unwrap();
        assert!(report.is_clean(), "{t:?}: {report:?}");
        println!(
            "{t:?}: {} committed in date order, {refused} refused as out of order",
            rows.len()
        );
    }
}

/// Closing waits for the transaction numbering in the sequence; then every
/// allocation is refused, nothing consumed, until it is reopened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_numbering_then_refuses() {
    for t in connect_all(4).await {
        let sequence = Sequence::new(unique_name("close"));
        let holder = t.db.begin().await.unwrap();
        assert_eq!(sequence.next_value(&holder).await.unwrap(), 1);
        let s = sequence.clone();
        let (closer, session) = locks::spawn_transaction(&t.db, move |txn| async move {
            s.close(&txn).await.unwrap();
            txn.commit().await.unwrap();
        })
        .await;
        if let Some(session) = session {
            locks::wait_until_waiting(&t.db, session, &format!("{t:?} closer")).await;
            assert!(!closer.is_finished(), "{t:?}");
        }
        holder.commit().await.unwrap();
        closer.await.unwrap();

        let txn = t.db.begin().await.unwrap();
        let error = sequence.next_value(&txn).await.unwrap_err();
        assert!(
            matches!(error, SequenceError::Closed { .. }),
            "{t:?}: {error}"
        );
        assert!(matches!(
            sequence.next_values(&txn, 3).await,
            Err(SequenceError::Closed { .. })
        ));
        txn.rollback().await.unwrap();
        let state = sequence.state(&t.db).await.unwrap().unwrap();
        assert_eq!((state.last, state.closed), (1, true), "{t:?}");
        assert!(sequence.reopen(&t.db).await.unwrap(), "{t:?}");
        assert_eq!(sequence.next_value(&t.db).await.unwrap(), 2, "{t:?}");

        // Closing a year before anything was numbered in it.
        let book = fresh_book();
        let txn = t.db.begin().await.unwrap();
        Sequence::new(format!("fiscal-{book}@FY2025"))
            .close(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let txn = t.db.begin().await.unwrap();
        let error = fiscal(&book, "2026-03-31").insert(&txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::Closed { name }) if *name == format!("fiscal-{book}@FY2025")),
            "{t:?}: {error}"
        );
        let open = fiscal(&book, "2026-04-01").insert(&txn).await.unwrap();
        assert_eq!(open.reference, format!("{book}/2026-27/0001"), "{t:?}");
        txn.commit().await.unwrap();
        assert!(
            !Sequence::new(unique_name("never"))
                .reopen(&t.db)
                .await
                .unwrap(),
            "{t:?}: reopening a missing sequence changes nothing"
        );
    }
}

fn fiscal(book: &str, issued_on: &str) -> fiscal_doc::ActiveModel {
    fiscal_doc::ActiveModel {
        book: Set(book.to_owned()),
        issued_on: Set(date(issued_on)),
        ..Default::default()
    }
}

#[tokio::test]
async fn fiscal_years_roll_over_on_their_first_day() {
    for t in connect_all(2).await {
        let book = fresh_book();
        let txn = t.db.begin().await.unwrap();
        let mut references = Vec::new();
        for issued in [
            "2025-04-01",
            "2026-03-31",
            "2026-03-31",
            "2026-04-01",
            "2027-03-31",
        ] {
            references.push(fiscal(&book, issued).insert(&txn).await.unwrap().reference);
        }
        txn.commit().await.unwrap();
        assert_eq!(
            references,
            [
                format!("{book}/2025-26/0001"),
                format!("{book}/2025-26/0002"),
                format!("{book}/2025-26/0003"),
                format!("{book}/2026-27/0001"),
                format!("{book}/2026-27/0002"),
            ],
            "{t:?}"
        );
        for (year, last) in [(2025, 3), (2026, 2)] {
            assert_eq!(
                Sequence::new(format!("fiscal-{book}@FY{year}"))
                    .last_value(&t.db)
                    .await
                    .unwrap(),
                Some(last),
                "{t:?}"
            );
        }
        let report = Audit::new(fiscal_doc::Column::Reference)
            .filter(fiscal_doc::Column::Book.eq(book.clone()))
            .format("{book}/{fy}/{value:04}")
            .period(Period::FiscalYear { start_month: 4 })
            .sequence("fiscal-{book}")
            .run(&t.db)
            .await
            .unwrap();
        assert!(report.is_clean(), "{t:?}: {report:?}");
        assert_eq!(report.groups.len(), 2, "{t:?}");
    }
}

#[tokio::test]
async fn time_zones_move_the_day() {
    use chrono::{Duration, TimeZone, Utc};
    for t in connect_all(2).await {
        let till = fresh_book();
        let receipt = |at: DateTimeUtc| zoned_receipt::ActiveModel {
            till: Set(till.clone()),
            at: Set(at),
            ..Default::default()
        };
        // Kiritimati is UTC+14: its day is the UTC day 14 hours on.
        let kiritimati = || {
            (Utc::now() + Duration::hours(14))
                .format("%Y%m%d")
                .to_string()
        };
        let before = kiritimati();
        let txn = t.db.begin().await.unwrap();
        let new_years_eve = receipt(Utc.with_ymd_and_hms(2026, 12, 31, 22, 59, 59).unwrap())
            .insert(&txn)
            .await
            .unwrap();
        let new_year = receipt(Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap())
            .insert(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let after = kiritimati();
        // 23:59:59 in Paris is still 2026; one second later it is 2027.
        assert_eq!(new_years_eve.reference, format!("{till}-2026-1"), "{t:?}");
        assert_eq!(new_year.reference, format!("{till}-2027-1"), "{t:?}");
        let printed = &new_year.daily[..8];
        assert!(
            printed == before || printed == after,
            "{t:?}: the database's day in Kiritimati {printed}, expected {before} or {after}"
        );
    }
    // An unknown zone is refused by the builder, before any statement.
    let numbering: Numbering<zoned_receipt::Column> = Numbering::new().field_with(
        NumberedField::new(zoned_receipt::Column::Reference, Sequence::new("x"))
            .period(Period::Year)
            .date(zoned_receipt::Column::At)
            .time_zone("Mars/Olympus")
            .format("{year}-{value}"),
    );
    let error = numbering.validate().unwrap_err();
    assert!(
        matches!(&error, SequenceError::InvalidNumbering { target, .. }
            if target == "zoned_receipt.reference"),
        "{error:?}"
    );
    // The message names the zone it does not know.
    let described = error.to_string();
    assert!(
        described.contains("unknown time zone") && described.contains("Mars/Olympus"),
        "{described}"
    );
}

/// Planted rows, voids and dates: the audit tells explained gaps from
/// unexplained ones, finds a void that a row still holds, and date inversions.
#[tokio::test]
async fn audit_tells_explained_gaps_and_inversions_apart() {
    for t in connect_all(2).await {
        let book = fresh_book();
        let name = format!("register-{book}");
        // Numbers 1..=10: 3 and 4 missing and void, 7 missing (unexplained),
        // 9 present and void; 6 dated before 5.
        let dates: BTreeMap<i64, &str> = [
            (1, "2026-01-01"),
            (2, "2026-01-02"),
            (5, "2026-01-05"),
            (6, "2026-01-04"),
            (8, "2026-01-08"),
            (9, "2026-01-09"),
            (10, "2026-01-10"),
        ]
        .into();
        let rows: Vec<register_doc::ActiveModel> = dates
            .iter()
            .map(|(number, issued)| register_doc::ActiveModel {
                number: Set(Some(*number)),
                ..doc(&book, issued)
            })
            .collect();
        // insert_many runs no hooks: rows planted as they are.
        register_doc::Entity::insert_many(rows)
            .exec(&t.db)
            .await
            .unwrap();
        let txn = t.db.begin().await.unwrap();
        let sequence = Sequence::new(&name);
        sequence.set_last_value(&txn, 10).await.unwrap();
        for value in [3, 4, 9] {
            sequence.void(&txn, value, "planted").await.unwrap();
        }
        txn.commit().await.unwrap();

        let report = Audit::new(register_doc::Column::Number)
            .scope([register_doc::Column::Book])
            .filter(register_doc::Column::Book.eq(book.clone()))
            .sequence("register-{book}")
            .date(register_doc::Column::IssuedOn)
            .run(&t.db)
            .await
            .unwrap();
        let group = &report.groups[0];
        assert_eq!(group.missing, 1, "{t:?}: {group:?}");
        assert_eq!(group.gaps, [7..=7], "{t:?}");
        assert_eq!(group.voided, [3, 4], "{t:?}");
        assert_eq!(group.voided_but_present, [9], "{t:?}");
        assert_eq!(group.inversions, 1, "{t:?}");
        assert_eq!(group.inversions_listed[0].number, 6, "{t:?}");
        assert!(
            group.inversions_listed[0].date.starts_with("2026-01-04"),
            "{t:?}"
        );
        assert!(
            group.inversions_listed[0]
                .previous_date
                .starts_with("2026-01-05"),
            "{t:?}"
        );
        assert!(!report.is_clean(), "{t:?}");
    }
}
