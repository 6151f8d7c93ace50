//! A property test of the one layer of SQL: the same random description
//! and the same rows go through the library (`Numbering::fill`, then the
//! insert) and through the database's triggers (a plain insert, the number
//! left out), on two books of one table, and every row must come out the
//! same on both: its number and reference, or the same refusal (a closed
//! period, a date out of order, the end of the range), on the three
//! databases.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::prelude::Date;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use sequences_core::{NumberedField, Numbering, OnDelete, Period, Sequence, SequenceError};
use sequences_tests::entities::db_prop::{self, Column};
use sequences_tests::{Backend, Scratch, connect_all, unique_name};

/// A description: the library's options a trigger must reproduce.
#[derive(Debug, Clone)]
struct Description {
    initial: i64,
    reset: Option<i64>,
    max_value: Option<i64>,
    period: Option<Period>,
    chronological: bool,
    /// A formatted reference (with its raw value), or the number alone.
    formatted: bool,
}

/// One step: insert a row dated `day`, or close the sequence of `day`'s
/// period on both books first.
#[derive(Debug, Clone)]
struct Step {
    day: Date,
    close_first: bool,
}

fn description() -> impl Strategy<Value = Description> {
    (
        prop_oneof![Just(1i64), Just(0), Just(100)],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(Period::Year)),
            Just(Some(Period::Month))
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(initial, looping, bounded, period, chronological, formatted)| Description {
                initial,
                // A loop and a maximum do not go together (the rules).
                reset: looping.then_some(initial + 3),
                max_value: (bounded && !looping).then_some(initial + 4),
                period,
                chronological,
                formatted,
            },
        )
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (0..400i64, proptest::bool::weighted(0.1)).prop_map(|(offset, close_first)| Step {
            day: Date::from_ymd_opt(2025, 11, 1).unwrap() + chrono::Duration::days(offset),
            close_first,
        }),
        1..12,
    )
}

fn numbering_of(d: &Description) -> Numbering<Column> {
    let mut sequence = Sequence::new("tp-{book}").initial_value(d.initial);
    if let Some(reset) = d.reset {
        sequence = sequence.reset_value(reset);
    }
    if let Some(max) = d.max_value {
        sequence = sequence.max_value(max);
    }
    let mut field = if d.formatted {
        let mut format = "{book}".to_owned();
        format += match d.period {
            Some(Period::Month) => "/{year}-{month}",
            Some(_) => "/{year}",
            None => "",
        };
        format += "/{value:03}";
        NumberedField::new(Column::Reference, sequence)
            .format(format)
            .raw_value(Column::Raw)
    } else {
        NumberedField::new(Column::Raw, sequence)
    }
    .on_delete(OnDelete::Allow)
    .date(Column::IssuedOn);
    if let Some(period) = d.period {
        field = field.period(period);
    }
    if d.chronological {
        field = field.chronological();
    }
    Numbering::new().field_with(field)
}

/// What became of a row: its reference (the book replaced) and raw value,
/// or the refusal.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Numbered(Option<String>, Option<i64>),
    Refused(String),
}

/// A refusal as both paths must agree on it: its kind and its numbers,
/// the sequence's name with the book replaced.
fn refusal(error: &SequenceError, book: &str) -> String {
    let text = match error {
        SequenceError::Closed { name } => format!("closed {name}"),
        SequenceError::OutOfOrder { day, latest, name } => {
            format!("out of order {day:?} {latest:?} {name}")
        }
        SequenceError::Exhausted {
            max_value,
            last,
            name,
            ..
        } => format!("exhausted {max_value} {last} {name}"),
        other => format!("other {other}"),
    };
    text.replace(book, "BOOK")
}

/// The name of the sequence of `day` for `book`.
fn sequence_name(d: &Description, book: &str, day: Date) -> String {
    let base = format!("tp-{book}");
    match d.period {
        Some(period) => period.sequence_name(&base, day.into()),
        None => base,
    }
}

async fn run_case(
    db: &DatabaseConnection,
    d: &Description,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let numbering = numbering_of(d);
    if numbering.validate().is_err() {
        return Ok(()); // a description the rules refuse: not a case
    }
    // The other column's triggers, from an earlier case, go first.
    let other = numbering_of(&Description {
        formatted: !d.formatted,
        ..d.clone()
    });
    if other.validate().is_ok() {
        other.remove_triggers(db).await.unwrap();
    }
    numbering
        .install_triggers(db)
        .await
        .map_err(|e| TestCaseError::fail(format!("install: {e}")))?;
    let (library, database) = (
        unique_name("L").replace('-', ""),
        unique_name("D").replace('-', ""),
    );
    let row = |book: &str, day: Date| db_prop::ActiveModel {
        book: Set(book.to_owned()),
        issued_on: Set(day),
        at: Set(day.and_hms_opt(12, 0, 0).unwrap().and_utc()),
        ..Default::default()
    };
    let mut outcomes: Vec<(Outcome, Outcome)> = Vec::new();
    for step in steps {
        if step.close_first {
            let txn = db.begin().await.unwrap();
            for book in [&library, &database] {
                Sequence::new(sequence_name(d, book, step.day))
                    .close(&txn)
                    .await
                    .unwrap();
            }
            txn.commit().await.unwrap();
        }
        // The library: fill, then insert, in one transaction.
        let txn = db.begin().await.unwrap();
        let by_library = match numbering.fill(row(&library, step.day), &txn).await {
            Ok(filled) => {
                let id = db_prop::Entity::insert(filled)
                    .exec(&txn)
                    .await
                    .unwrap()
                    .last_insert_id;
                txn.commit().await.unwrap();
                Some(id)
            }
            Err(error) => {
                txn.rollback().await.unwrap();
                let error = SequenceError::from_db_err(&error)
                    .cloned()
                    .unwrap_or_else(|| panic!("not a refusal: {error}"));
                outcomes.push((
                    Outcome::Refused(refusal(&error, &library)),
                    Outcome::Refused(String::new()),
                ));
                None
            }
        };
        // The database: a plain insert, the number left out.
        let by_database = db_prop::Entity::insert(row(&database, step.day))
            .exec(db)
            .await;
        let database_outcome = match by_database {
            Ok(_) => None,
            Err(error) => Some(Outcome::Refused(refusal(
                &SequenceError::from_database(&error)
                    .unwrap_or_else(|| panic!("not a refusal: {error}")),
                &database,
            ))),
        };
        match (by_library, database_outcome) {
            (Some(_), None) => {
                outcomes.push((Outcome::Numbered(None, None), Outcome::Numbered(None, None)))
            }
            (None, Some(refused)) => {
                let last = outcomes.last_mut().unwrap();
                last.1 = refused;
            }
            (Some(_), Some(refused)) => {
                outcomes.push((Outcome::Numbered(None, None), refused));
            }
            (None, None) => {
                outcomes.last_mut().unwrap().1 = Outcome::Numbered(None, None);
            }
        }
    }
    // The numbered rows, as each path numbered them, in insertion order.
    let rows = |book: String| {
        let db = db.clone();
        async move {
            db_prop::Entity::find()
                .filter(db_prop::Column::Book.eq(&book))
                .order_by_asc(db_prop::Column::Id)
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| Outcome::Numbered(r.reference.map(|s| s.replace(&book, "BOOK")), r.raw))
                .collect::<Vec<_>>()
        }
    };
    let (mut by_library, mut by_database) = (
        rows(library).await.into_iter(),
        rows(database).await.into_iter(),
    );
    for (library_outcome, database_outcome) in &mut outcomes {
        if *library_outcome == Outcome::Numbered(None, None) {
            *library_outcome = by_library.next().expect("a row per numbered outcome");
        }
        if *database_outcome == Outcome::Numbered(None, None) {
            *database_outcome = by_database.next().expect("a row per numbered outcome");
        }
    }
    for (i, (library_outcome, database_outcome)) in outcomes.iter().enumerate() {
        prop_assert_eq!(
            library_outcome,
            database_outcome,
            "row {} of {:?} with {:?}",
            i,
            d,
            steps
        );
    }
    Ok(())
}

#[test]
fn the_library_and_the_triggers_number_and_refuse_alike() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for t in runtime.block_on(connect_all(2)) {
        let scratch = runtime.block_on(Scratch::new(&t, "two_paths"));
        runtime.block_on(sequences_tests::migrate(&scratch.url));
        let db = runtime.block_on(sequences_tests::open(&scratch.url, 2));
        let mut runner = TestRunner::new(Config {
            cases: 24,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&(description(), steps()), |(d, steps)| {
                runtime.block_on(run_case(&db, &d, &steps))
            })
            .unwrap_or_else(|error| panic!("{t:?}: {error}"));
        runtime.block_on(db.close()).unwrap();
        runtime.block_on(scratch.remove());
        let _ = (Backend::Sqlite, Duration::ZERO);
    }
}
