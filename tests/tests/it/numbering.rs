//! `Numbering`, the runtime builder, on an entity laid out as sea-orm-cli
//! generates it (no field attributes; the `ActiveModelBehavior` written by
//! hand in another file), against the three databases: the same guarantees
//! and errors as the derive.

use sea_orm::prelude::Date;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use sequences_core::{NumberedField, Numbering, Period, Retry, Sequence, SequenceError};
use sequences_tests::counting::Counting;
use sequences_tests::models::generated_invoice as invoice;
use sequences_tests::{Attempt, assert_gapless, connect_all, fresh_company, unique_name};

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

fn new_invoice(company: i32, journal: &str, issued_on: &str) -> invoice::ActiveModel {
    invoice::ActiveModel {
        company_id: Set(company),
        journal: Set(journal.to_owned()),
        issued_on: Set(date(issued_on)),
        ..Default::default()
    }
}

/// A journal name no other test uses (short enough for a sequence name).
fn fresh_journal() -> String {
    unique_name("J").replace('-', "")
}

#[tokio::test]
async fn a_generated_entity_is_numbered_per_company_and_year() {
    for t in connect_all(4).await {
        let (a, b) = (fresh_company(), fresh_company());
        let journal = fresh_journal();
        let txn = t.db.begin().await.unwrap();
        let first = new_invoice(a, &journal, "2026-12-31")
            .insert(&txn)
            .await
            .unwrap();
        let second = new_invoice(a, &journal, "2027-01-01")
            .insert(&txn)
            .await
            .unwrap();
        let other = new_invoice(b, &journal, "2027-01-02")
            .insert(&txn)
            .await
            .unwrap();
        // A number the caller sets is kept (a legacy import).
        let imported = invoice::ActiveModel {
            number: Set(4711),
            reference: Set(Some("LEGACY-1".into())),
            ..new_invoice(b, &journal, "2027-01-03")
        }
        .insert(&txn)
        .await
        .unwrap();
        txn.commit().await.unwrap();

        assert_eq!(
            (first.number, second.number, other.number, imported.number),
            (1, 2, 1, 4711),
            "{t:?}"
        );
        assert_eq!(
            [&first.reference, &second.reference, &other.reference],
            [
                &Some(format!("{journal}-2026-00001")),
                &Some(format!("{journal}-2027-00001")),
                &Some(format!("{journal}-2027-00002")),
            ],
            "{t:?}"
        );
        assert_eq!(
            (first.reference_number, other.reference_number),
            (Some(1), Some(2)),
            "{t:?}"
        );
        assert_eq!(imported.reference.as_deref(), Some("LEGACY-1"), "{t:?}");
        assert_eq!(imported.reference_number, None, "{t:?}");

        // Updates never take a number.
        let txn = t.db.begin().await.unwrap();
        let mut edit: invoice::ActiveModel = second.clone().into();
        edit.journal = Set(format!("{journal}x"));
        let edited = edit.update(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(edited.number, second.number, "{t:?}");
        assert_eq!(
            Sequence::new(format!("generated-{a}"))
                .last_value(&t.db)
                .await
                .unwrap(),
            Some(2),
            "{t:?}"
        );
    }
}

#[tokio::test]
async fn refusals_consume_nothing() {
    for t in connect_all(4).await {
        let company = fresh_company();
        let journal = fresh_journal();
        let counter = Sequence::new(format!("generated-{company}"));
        let txn = t.db.begin().await.unwrap();
        new_invoice(company, &journal, "2026-05-01")
            .insert(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();

        // Outside a transaction: refused before any value is taken.
        let error = new_invoice(company, &journal, "2026-05-02")
            .insert(&t.db)
            .await
            .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::NotInTransaction { target, .. })
                    if target == "generated_invoice.number"),
            "{t:?}: {error:?}"
        );

        // A placeholder column or the date not set: MissingPlaceholder.
        let txn = t.db.begin().await.unwrap();
        let no_company = invoice::ActiveModel {
            journal: Set(journal.clone()),
            issued_on: Set(date("2026-05-02")),
            ..Default::default()
        };
        let error = invoice::NUMBERING.fill(no_company, &txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::MissingPlaceholder { field, .. }) if field == "company_id"),
            "{t:?}: {error:?}"
        );
        let no_date = invoice::ActiveModel {
            company_id: Set(company),
            journal: Set(journal.clone()),
            ..Default::default()
        };
        let error = invoice::NUMBERING.fill(no_date, &txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::MissingPlaceholder { field, .. }) if field == "issued_on"),
            "{t:?}: {error:?}"
        );
        txn.rollback().await.unwrap();
        assert_eq!(counter.last_value(&t.db).await.unwrap(), Some(1), "{t:?}");

        // A value that does not fit the column (an i32 raw value): an error
        // inside the transaction, whose rollback gives the value back.
        let big = Sequence::new(format!("generated-{journal}@2030"));
        let txn = t.db.begin().await.unwrap();
        big.set_last_value(&txn, i64::from(i32::MAX)).await.unwrap();
        txn.commit().await.unwrap();
        let txn = t.db.begin().await.unwrap();
        let error = new_invoice(company, &journal, "2030-01-01")
            .insert(&txn)
            .await
            .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::ValueOutOfRange { name, value, target, type_name: "i32" })
                    if name == big.name() && *value == i64::from(i32::MAX) + 1
                        && target == "generated_invoice.reference_number"),
            "{t:?}: {error:?}"
        );
        txn.rollback().await.unwrap();
        assert_eq!(
            big.last_value(&t.db).await.unwrap(),
            Some(i64::from(i32::MAX)),
            "{t:?}"
        );
        assert_eq!(counter.last_value(&t.db).await.unwrap(), Some(1), "{t:?}");
    }
}

/// A numbering that cannot work is refused at the first fill, before any
/// statement reaches the database, with a message naming the field.
#[tokio::test]
async fn invalid_numberings_send_no_statement() {
    use invoice::Column;
    let seq = || Sequence::new(unique_name("invalid"));
    let cases: Vec<(Numbering<Column>, &str)> = vec![
        (
            Numbering::new().field(Column::Number, Sequence::new("x-{customer}")),
            "placeholder `{customer}` in the sequence name names no field of the model",
        ),
        (
            Numbering::new().field(Column::Number, Sequence::new("x-{company_id:05}")),
            "`{company_id:05}`: a sequence name takes no width",
        ),
        (
            Numbering::new().field(Column::Reference, seq()),
            "a string field needs a `format`",
        ),
        (
            Numbering::new()
                .field_with(NumberedField::new(Column::Number, seq()).format("{value}")),
            "a field with a `format` holds the printed reference, so it must be a string",
        ),
        (
            Numbering::new()
                .field_with(NumberedField::new(Column::Reference, seq()).format("INV-{journal}")),
            "exactly once",
        ),
        (
            Numbering::new().field_with(
                NumberedField::new(Column::Reference, seq())
                    .period(Period::Month)
                    .format("{year}-{value}"),
            ),
            "must print {year} (or {yy}) and {month}",
        ),
        (
            Numbering::new()
                .field_with(NumberedField::new(Column::Number, seq()).date(Column::IssuedOn)),
            "`date` is unused",
        ),
        (
            Numbering::new().field_with(
                NumberedField::new(Column::Number, seq()).raw_value(Column::ReferenceNumber),
            ),
            "a raw value goes with a `format`",
        ),
        (
            Numbering::new()
                .field(Column::Number, Sequence::new("x-{reference_number}"))
                .field_with(
                    NumberedField::new(Column::Reference, seq())
                        .format("{value}")
                        .raw_value(Column::ReferenceNumber),
                )
                .field(Column::ReferenceNumber, seq()),
            "names a numbered field",
        ),
        (
            Numbering::new().field_with(
                NumberedField::new(Column::Number, seq())
                    .period(Period::Year)
                    .date(Column::Journal),
            ),
            "date column `journal` is not a chrono date",
        ),
        (
            Numbering::new().field(
                Column::Number,
                Sequence::new("x-{company_id}").reset_value(0),
            ),
            "reset_value (0) must be greater than initial_value (1)",
        ),
    ];
    for t in connect_all(2).await {
        for (numbering, expected) in &cases {
            let txn = t.db.begin().await.unwrap();
            let counting = Counting::new(&txn);
            let model = new_invoice(fresh_company(), "J", "2026-01-01");
            let error = numbering.fill(model, &counting).await.unwrap_err();
            assert_eq!(counting.count(), 0, "{t:?}: {expected}: {error}");
            assert!(
                matches!(SequenceError::from_db_err(&error),
                    Some(SequenceError::InvalidNumbering { target, .. })
                        if target.starts_with("generated_invoice.")),
                "{t:?}: {expected}: {error:?}"
            );
            // The message names the field and says what is wrong.
            let message = error.to_string();
            assert!(
                message.contains(expected) && message.contains("generated_invoice."),
                "{t:?}: expected {expected:?} in {message}"
            );
            txn.rollback().await.unwrap();
        }
    }
    // The typed error, before any connection is involved.
    let numbering: Numbering<Column> =
        Numbering::new().field(Column::Number, Sequence::new("x-{customer}"));
    let error = numbering.validate().unwrap_err();
    assert!(
        matches!(&error, SequenceError::InvalidNumbering { target, .. }
            if target == "generated_invoice.number"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("names no field of the model"),
        "{error}"
    );
}

/// Concurrent writers with rollbacks, through `Retry`: every company's
/// committed numbers are exactly 1..=last.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_stay_gapless_per_company() {
    for t in connect_all(8).await {
        let companies = [fresh_company(), fresh_company()];
        let journal = fresh_journal();
        let mut tasks = Vec::new();
        for task in 0..8 {
            let (db, journal) = (t.db.clone(), journal.clone());
            tasks.push(tokio::spawn(async move {
                let retry = Retry::new().max_attempts(200);
                for i in 0..10 {
                    let company = companies[(task + i) % 2];
                    let rollback = (task * 10 + i) % 3 == 0;
                    let journal = journal.clone();
                    let result = retry
                        .transaction::<Attempt, _, _, _>(&db, |txn| {
                            let journal = journal.clone();
                            Box::pin(async move {
                                new_invoice(company, &journal, "2026-06-01")
                                    .insert(txn)
                                    .await?;
                                if rollback {
                                    return Err(Attempt::RolledBack);
                                }
                                Ok(())
                            })
                        })
                        .await;
                    match result {
                        Ok(()) => {}
                        Err(Attempt::RolledBack) => {}
                        Err(error) => panic!("{error}"),
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        for company in companies {
            let rows = invoice::Entity::find()
                .filter(invoice::Column::CompanyId.eq(company))
                .all(&t.db)
                .await
                .unwrap();
            let numbers: Vec<i64> = rows.iter().map(|r| r.number).collect();
            let last = Sequence::new(format!("generated-{company}"))
                .last_value(&t.db)
                .await
                .unwrap();
            assert_gapless(&format!("{t:?} company {company}"), &numbers, 1, last);
        }
        let references: Vec<i64> = invoice::Entity::find()
            .filter(invoice::Column::Journal.eq(journal.clone()))
            .all(&t.db)
            .await
            .unwrap()
            .iter()
            .map(|r| i64::from(r.reference_number.unwrap()))
            .collect();
        let last = Sequence::new(format!("generated-{journal}@2026"))
            .last_value(&t.db)
            .await
            .unwrap();
        assert_gapless(&format!("{t:?} references"), &references, 1, last);
    }
}

/// The bulk path numbers a batch in order, with one statement per sequence.
#[tokio::test]
async fn fill_many_numbers_a_batch_in_order() {
    for t in connect_all(2).await {
        let company = fresh_company();
        let journal = fresh_journal();
        let batch: Vec<_> = (0..5)
            .map(|_| new_invoice(company, &journal, "2026-02-01"))
            .collect();
        let txn = t.db.begin().await.unwrap();
        let counting = Counting::new(&txn);
        let filled = invoice::NUMBERING
            .fill_many(batch, &counting)
            .await
            .unwrap();
        // Two sequences, one allocation each (the transaction is known by type
        // only through the wrapper's SQL probe, one statement).
        let allocations = counting
            .statements()
            .iter()
            // (PostgreSQL's first tries the row's version by TID.)
            .filter(|sql| sql.starts_with("INSERT INTO") || sql.starts_with(r#"WITH "hot""#))
            .count();
        assert_eq!(allocations, 2, "{t:?}: {:?}", counting.statements());
        let numbers: Vec<i64> = filled.iter().map(|m| *m.number.as_ref()).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5], "{t:?}");
        invoice::Entity::insert_many(filled)
            .exec(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert!(matches!(
            invoice::NUMBERING
                .fill(new_invoice(company, &journal, "2026-02-01"), &t.db)
                .await
                .as_ref()
                .map_err(SequenceError::from_db_err),
            Err(Some(SequenceError::NotInTransaction { .. }))
        ));
    }
}
