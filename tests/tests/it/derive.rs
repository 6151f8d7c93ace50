//! `#[derive(Gapless)]` against real servers: the hooks fill fields inside the
//! caller's transaction, refuse outside one, and stay gapless under load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseExecutor, EntityTrait, QueryFilter,
    TransactionTrait, prelude::*,
};
use sequences_core::{Retry, Sequence, SequenceError};
use sequences_tests::entities::{invoice, note, ticket};
use sequences_tests::{
    Attempt, Scratch, assert_gapless, connect_all, counting::Counting, fresh_company, migrate,
    open, unique_name,
};

fn new_invoice(company_id: i32) -> invoice::ActiveModel {
    invoice::ActiveModel {
        company_id: Set(company_id),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_readme_example_numbers_per_company() {
    for t in connect_all(4).await {
        let (a, b) = (fresh_company(), fresh_company());
        let global_before = Sequence::new("invoice-all")
            .last_value(&t.db)
            .await
            .unwrap();
        let txn = t.db.begin().await.unwrap();
        let first = new_invoice(a).insert(&txn).await.unwrap();
        let second = new_invoice(a).insert(&txn).await.unwrap();
        let other = new_invoice(b).insert(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(
            (first.number, second.number, other.number),
            (1, 2, 1),
            "{t:?}"
        );
        // The global counter starts at 1000 and is shared by every company.
        assert!(first.global_number >= 1000, "{t:?}");
        assert_eq!(second.global_number, first.global_number + 1, "{t:?}");
        assert_eq!(other.global_number, first.global_number + 2, "{t:?}");
        if global_before.is_none() {
            assert_eq!(first.global_number, 1000, "{t:?}");
        }
        // `save` inserts through the same hook.
        let txn = t.db.begin().await.unwrap();
        let saved = new_invoice(a).save(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(saved.number, sea_orm::ActiveValue::Unchanged(3), "{t:?}");
    }
}

#[tokio::test]
async fn rollback_gives_the_number_back() {
    for t in connect_all(4).await {
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        assert_eq!(
            new_invoice(company).insert(&txn).await.unwrap().number,
            1,
            "{t:?}"
        );
        txn.rollback().await.unwrap();
        let txn = t.db.begin().await.unwrap();
        assert_eq!(
            new_invoice(company).insert(&txn).await.unwrap().number,
            1,
            "{t:?}"
        );
        txn.commit().await.unwrap();
    }
}

#[tokio::test]
async fn explicit_values_are_kept_and_updates_do_not_allocate() {
    for t in connect_all(4).await {
        let company = fresh_company();
        let name = format!("invoice-{company}");
        let txn = t.db.begin().await.unwrap();
        let legacy = invoice::ActiveModel {
            number: Set(4711),
            global_number: Set(-1),
            ..new_invoice(company)
        };
        let legacy = legacy.insert(&txn).await.unwrap();
        assert_eq!((legacy.number, legacy.global_number), (4711, -1), "{t:?}");
        assert_eq!(
            Sequence::new(name.clone()).last_value(&txn).await.unwrap(),
            None,
            "{t:?}: nothing allocated"
        );
        let numbered = new_invoice(company).insert(&txn).await.unwrap();
        assert_eq!(numbered.number, 1, "{t:?}");
        // An update never allocates, even for a field set back to NotSet.
        let mut active: invoice::ActiveModel = numbered.clone().into();
        active.company_id = Set(company);
        active.number = sea_orm::ActiveValue::NotSet;
        active.update(&txn).await.unwrap();
        let mut active: invoice::ActiveModel = numbered.into();
        active.number = Set(99);
        let updated = active.save(&txn).await.unwrap();
        assert_eq!(updated.number, sea_orm::ActiveValue::Unchanged(99), "{t:?}");
        assert_eq!(
            Sequence::new(name).last_value(&txn).await.unwrap(),
            Some(1),
            "{t:?}"
        );
        txn.commit().await.unwrap();
    }
}

/// Outside a transaction the insert is refused before anything is consumed,
/// whether the connection is known by type or has to be asked in SQL; inside
/// one, wrappers are recognised too (no false refusal).
#[tokio::test]
async fn outside_a_transaction_is_refused_before_allocating() {
    for t in connect_all(4).await {
        // `invoice-all` numbers every invoice of every test sharing the
        // server, so this test, which asserts that it did not move, has a
        // database of its own.
        let scratch = Scratch::new(&t, "sequences_refusal").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 4).await;
        let company = fresh_company();
        let name = format!("invoice-{company}");
        let global = Sequence::new("invoice-all").last_value(&db).await.unwrap();

        let err = new_invoice(company).insert(&db).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&err),
                Some(SequenceError::NotInTransaction { name: n, target })
                    if *n == name && target == "invoice.number"),
            "{t:?}: {err:?}"
        );
        // Through wrappers the backend is asked in SQL.
        let wrapped = Counting::new(&db);
        assert!(
            new_invoice(company).insert(&wrapped).await.is_err(),
            "{t:?}: wrapped connection"
        );
        let executor = DatabaseExecutor::Connection(&db);
        assert!(
            new_invoice(company).insert(&executor).await.is_err(),
            "{t:?}: executor"
        );
        assert!(
            !sequences_core::in_transaction(&wrapped).await.unwrap(),
            "{t:?}"
        );

        assert_eq!(
            Sequence::new(name.clone()).last_value(&db).await.unwrap(),
            None,
            "{t:?}"
        );
        assert_eq!(
            Sequence::new("invoice-all").last_value(&db).await.unwrap(),
            global,
            "{t:?}"
        );
        let rows = invoice::Entity::find()
            .filter(invoice::Column::CompanyId.eq(company))
            .all(&db)
            .await
            .unwrap();
        assert!(rows.is_empty(), "{t:?}: no row half-written");

        // Inside a transaction, every way of passing it works.
        let txn = t.db.begin().await.unwrap();
        assert_eq!(
            new_invoice(company).insert(&txn).await.unwrap().number,
            1,
            "{t:?}"
        );
        let wrapped = Counting::new(&txn);
        assert!(
            sequences_core::in_transaction(&wrapped).await.unwrap(),
            "{t:?}"
        );
        assert_eq!(
            new_invoice(company).insert(&wrapped).await.unwrap().number,
            2,
            "{t:?}"
        );
        let executor = DatabaseExecutor::Transaction(&txn);
        assert_eq!(
            new_invoice(company).insert(&executor).await.unwrap().number,
            3,
            "{t:?}"
        );
        // A nested transaction (savepoint) is a transaction too, and its rollback gives back.
        let nested = txn.begin().await.unwrap();
        assert_eq!(
            new_invoice(company).insert(&nested).await.unwrap().number,
            4,
            "{t:?}"
        );
        nested.rollback().await.unwrap();
        assert_eq!(
            new_invoice(company).insert(&txn).await.unwrap().number,
            4,
            "{t:?}"
        );
        txn.commit().await.unwrap();
        // The probe left no transaction open on the pool's connections.
        assert!(
            !sequences_core::in_transaction(&Counting::new(&db))
                .await
                .unwrap(),
            "{t:?}"
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

#[tokio::test]
async fn placeholders_types_and_looping_fields() {
    for t in connect_all(4).await {
        let desk = unique_name("desk");
        let txn = t.db.begin().await.unwrap();
        let ticket = |region: Option<&str>| ticket::ActiveModel {
            desk: Set(desk.clone()),
            region: Set(region.map(str::to_string)),
            ..Default::default()
        };
        let first = ticket(Some("north")).insert(&txn).await.unwrap();
        let second = ticket(Some("north")).insert(&txn).await.unwrap();
        let south = ticket(Some("south")).insert(&txn).await.unwrap();
        assert_eq!(
            (first.number, second.number, south.number),
            (Some(1), Some(2), Some(1)),
            "{t:?}"
        );
        // The looping slot: 0, 1, 2, 0 ...
        let fourth = ticket(Some("east")).insert(&txn).await.unwrap();
        assert_eq!(
            [first.slot, second.slot, south.slot, fourth.slot],
            [0, 1, 2, 0],
            "{t:?}"
        );
        // A placeholder field that is NULL or not set: a clear error, nothing consumed.
        let err = ticket(None).insert(&txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&err),
                Some(SequenceError::MissingPlaceholder { field, target, .. })
                    if field == "region" && target == "ticket.number"),
            "{t:?}: {err:?}"
        );
        let err = ticket::ActiveModel {
            region: Set(Some("x".into())),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&err),
                Some(SequenceError::MissingPlaceholder { field, .. }) if field == "desk"),
            "{t:?}: {err:?}"
        );
        assert_eq!(
            Sequence::new(format!("ticket-slot-{desk}"))
                .last_value(&txn)
                .await
                .unwrap(),
            Some(0),
            "{t:?}"
        );
        txn.commit().await.unwrap();

        // A value that does not fit the field: an error inside the transaction,
        // whose rollback gives the value back.
        // Two placeholders: a `-` inside a value is escaped in the name.
        let big = format!("ticket-{}-big", desk.replace('-', "%2D"));
        Sequence::new(big.clone())
            .initial_value(i32::MAX as i64)
            .next_value(&t.db)
            .await
            .unwrap();
        let txn = t.db.begin().await.unwrap();
        let err = ticket(Some("big")).insert(&txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&err),
                Some(SequenceError::ValueOutOfRange { name, value, target, type_name: "i32" })
                    if *name == big && *value == i64::from(i32::MAX) + 1
                        && target == "ticket.number"),
            "{t:?}: {err:?}"
        );
        txn.rollback().await.unwrap();
        assert_eq!(
            Sequence::new(big).last_value(&t.db).await.unwrap(),
            Some(i32::MAX as i64),
            "{t:?}"
        );
    }
}

#[tokio::test]
async fn custom_behavior_calls_the_fill() {
    for t in connect_all(2).await {
        let txn = t.db.begin().await.unwrap();
        let before = Sequence::new("note")
            .last_value(&txn)
            .await
            .unwrap()
            .unwrap_or(0);
        let saved = note::ActiveModel {
            title: Set("  hello ".into()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        assert_eq!(saved.title, "hello", "{t:?}: the user's hook ran");
        assert_eq!(saved.number, before + 1, "{t:?}: the fill ran");
        txn.rollback().await.unwrap();
        assert!(
            note::ActiveModel {
                title: Set("x".into()),
                ..Default::default()
            }
            .insert(&t.db)
            .await
            .is_err(),
            "{t:?}"
        );
    }
}

/// `insert_many` bypasses hooks: `fill_gapless_many` numbers a whole batch
/// with one statement per sequence (plus one transaction check).
#[tokio::test]
async fn bulk_fill_is_one_statement_per_sequence() {
    for t in connect_all(4).await {
        let (a, b) = (fresh_company(), fresh_company());
        let txn = t.db.begin().await.unwrap();
        let batch: Vec<_> = (0..50)
            .map(|i| new_invoice(if i % 5 == 0 { b } else { a }))
            .collect();
        let counted = Counting::new(&txn);
        let filled = invoice::ActiveModel::fill_gapless_many(batch, &counted)
            .await
            .unwrap();
        // invoice-A, invoice-B, invoice-all, and the probe (the wrapper is not a
        // known type); three sequences run in a savepoint (SAVEPOINT, RELEASE),
        // so that a refusal of one gives the others' values back.
        assert_eq!(counted.count(), 6, "{t:?}: {:?}", counted.statements());
        invoice::Entity::insert_many(filled)
            .exec(&txn)
            .await
            .unwrap();
        // Without the counting wrapper, no probe: three statements.
        let more: Vec<_> = (0..10).map(|_| new_invoice(a)).collect();
        let filled = invoice::ActiveModel::fill_gapless_many(more, &txn)
            .await
            .unwrap();
        invoice::Entity::insert_many(filled)
            .exec(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();

        for (company, count) in [(a, 50), (b, 10)] {
            let numbers: Vec<i64> = invoice::Entity::find()
                .filter(invoice::Column::CompanyId.eq(company))
                .all(&t.db)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.number)
                .collect();
            assert_eq!(numbers.len(), count, "{t:?}");
            assert_gapless(
                &format!("{t:?} bulk company {company}"),
                &numbers,
                1,
                Some(count as i64),
            );
        }
        // Outside a transaction the bulk path refuses too.
        assert!(
            invoice::ActiveModel::fill_gapless_many(vec![new_invoice(a)], &t.db)
                .await
                .is_err()
        );
    }
}

/// Many tasks insert invoices for a few companies through the derive, rolling
/// back about a third; each company's numbers end gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_with_rollbacks_stay_gapless_per_company() {
    const TASKS: usize = 12;
    const TRANSACTIONS: usize = 20;
    for t in connect_all(8).await {
        let companies: Vec<i32> = (0..3).map(|_| fresh_company()).collect();
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (db, companies) = (t.db.clone(), companies.clone());
            tasks.push(tokio::spawn(async move {
                let (mut rolled_back, mut retries) = (0, 0);
                for _ in 0..TRANSACTIONS {
                    let (company, rollback) = {
                        let mut rng = rand::rng();
                        (
                            companies[rng.random_range(0..companies.len())],
                            rng.random_bool(0.3),
                        )
                    };
                    // MariaDB may pick a deadlock victim while a sequence row is first
                    // created by one transaction and rolled back; `Retry` runs it again.
                    let attempts = Arc::new(AtomicUsize::new(0));
                    let result = Retry::new()
                        .transaction::<Attempt, _, _, _>(&db, |txn| {
                            let attempts = attempts.clone();
                            Box::pin(async move {
                                attempts.fetch_add(1, Ordering::Relaxed);
                                new_invoice(company).insert(txn).await?;
                                if rollback {
                                    return Err(Attempt::RolledBack);
                                }
                                Ok(())
                            })
                        })
                        .await;
                    retries += attempts.load(Ordering::Relaxed) - 1;
                    match result {
                        Ok(()) => {}
                        Err(Attempt::RolledBack) => rolled_back += 1,
                        Err(error) => panic!("{error}"),
                    }
                }
                (rolled_back, retries)
            }));
        }
        let (mut rolled_back, mut retries) = (0, 0);
        for task in tasks {
            let (r, d) = task.await.unwrap();
            rolled_back += r;
            retries += d;
        }
        println!("{t:?}: {rolled_back} rolled back on purpose, {retries} retried after a deadlock");
        assert!(rolled_back > 0, "{t:?}");
        let rows = invoice::Entity::find()
            .filter(invoice::Column::CompanyId.is_in(companies.clone()))
            .all(&t.db)
            .await
            .unwrap();
        let mut per_company: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for row in &rows {
            per_company
                .entry(row.company_id)
                .or_default()
                .push(row.number);
        }
        for (company, numbers) in per_company {
            let last = Sequence::new(format!("invoice-{company}"))
                .last_value(&t.db)
                .await
                .unwrap();
            assert_gapless(&format!("{t:?} company {company}"), &numbers, 1, last);
        }
        assert_eq!(rows.len(), TASKS * TRANSACTIONS - rolled_back, "{t:?}");
    }
}
