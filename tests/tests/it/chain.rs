//! The hash chain on the three databases: linear under concurrent writers,
//! computed at assignment for deferred numbers, carried through voids, and
//! broken, exactly where it was, by edits, deletes and swaps made behind the
//! library's back.

use sea_orm::prelude::Date;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, TransactionTrait,
};
use sequences_core::{BreakKind, ChainAudit, ChainReport, Retry, chain};
use sequences_tests::entities::{chained_deferred, chained_doc};
use sequences_tests::{connect_all, execute, fresh_company};

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

fn doc(company: i32, amount: i64) -> chained_doc::ActiveModel {
    chained_doc::ActiveModel {
        company_id: Set(company),
        amount_cents: Set(amount),
        issued_on: Set(date("2026-11-23")),
        ..Default::default()
    }
}

async fn verify<C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
    company: i32,
) -> ChainReport {
    use chained_doc::Column;
    let mut report = ChainAudit::new(Column::Number, Column::Hash)
        .covers([Column::CompanyId, Column::AmountCents, Column::IssuedOn])
        .scope([Column::CompanyId])
        .sequence("chained-{company_id}")
        .run(db)
        .await
        .unwrap();
    report
        .chains
        .retain(|c| c.sequence == format!("chained-{company}"));
    report
}

/// The first broken link of the company's chain, as (number, kind).
async fn first_break<C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
    company: i32,
) -> Option<(i64, BreakKind)> {
    let report = verify(db, company).await;
    report.chains[0].broken.as_ref().map(|b| (b.number, b.kind))
}

/// Gives the rows `a` and `b` each other's numbers, behind the library's back.
async fn swap_numbers<C: ConnectionTrait>(db: &C, a: (i32, i64), b: (i32, i64)) {
    let set = "UPDATE chained_doc SET number = ? WHERE id = ?";
    execute(db, set, vec![(-1i64).into(), a.0.into()]).await;
    execute(db, set, vec![a.1.into(), b.0.into()]).await;
    execute(db, set, vec![b.1.into(), a.0.into()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chain_is_linear_under_concurrent_writers() {
    for t in connect_all(8).await {
        let company = fresh_company();
        let mut tasks = Vec::new();
        for task in 0..6i64 {
            let db = t.db.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..8i64 {
                    Retry::new()
                        .max_attempts(200)
                        .transaction::<sea_orm::DbErr, _, _, _>(&db, |txn| {
                            Box::pin(async move {
                                doc(company, task * 100 + i).insert(txn).await?;
                                Ok(())
                            })
                        })
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let report = verify(&t.db, company).await;
        assert!(report.is_intact(), "{t:?}: {report:?}");
        assert_eq!(report.chains[0].links, 48, "{t:?}");
        assert_eq!(report.chains[0].starts_at, Some(1), "{t:?}");

        // The first link is the documented encoding over GENESIS.
        let first = chained_doc::Entity::find()
            .filter(chained_doc::Column::CompanyId.eq(company))
            .filter(chained_doc::Column::Number.eq(1))
            .one(&t.db)
            .await
            .unwrap()
            .unwrap();
        let company_text = company.to_string();
        let amount_text = first.amount_cents.to_string();
        let expected = chain::link_hash(
            chain::GENESIS,
            &format!("chained-{company}"),
            1,
            &[
                ("company_id", Some(&company_text)),
                ("amount_cents", Some(&amount_text)),
                ("issued_on", Some("2026-11-23")),
            ],
        );
        assert_eq!(first.hash.as_deref(), Some(expected.as_str()), "{t:?}");
    }
}

#[tokio::test]
async fn deferred_numbers_are_chained_at_assignment() {
    for t in connect_all(2).await {
        let company = fresh_company();
        sequences_core::transaction::<sea_orm::DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                for amount in [10, 20, 30] {
                    let saved = chained_deferred::ActiveModel {
                        company_id: Set(company),
                        amount_cents: Set(amount),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    assert_eq!(saved.hash, None);
                }
                Ok(())
            })
        })
        .await
        .unwrap();
        use chained_deferred::Column;
        let report = ChainAudit::new(Column::Number, Column::Hash)
            .covers([Column::AmountCents])
            .scope([Column::CompanyId])
            .sequence("chained-deferred-{company_id}")
            .run(&t.db)
            .await
            .unwrap();
        let chain = report
            .chains
            .iter()
            .find(|c| c.sequence == format!("chained-deferred-{company}"))
            .unwrap();
        assert_eq!((chain.links, chain.broken.clone()), (3, None), "{t:?}");
    }
}

/// Tampering behind the library's back is found at the exact record.
#[tokio::test]
async fn tampering_breaks_the_chain_where_it_happened() {
    for t in connect_all(2).await {
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        for amount in 1..=6 {
            doc(company, amount * 100).insert(&txn).await.unwrap();
        }
        txn.commit().await.unwrap();
        let rows = chained_doc::Entity::find()
            .filter(chained_doc::Column::CompanyId.eq(company))
            .order_by_asc(chained_doc::Column::Number)
            .all(&t.db)
            .await
            .unwrap();
        let id = |number: i64| rows[number as usize - 1].id;
        assert!(verify(&t.db, company).await.is_intact(), "{t:?}");

        // A void in the right place (the delete policy) keeps the chain whole.
        let txn = t.db.begin().await.unwrap();
        rows[1]
            .clone()
            .into_active_model()
            .delete(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let report = verify(&t.db, company).await;
        assert!(
            report.is_intact(),
            "{t:?}: a voided number is a link: {report:?}"
        );

        // An edited covered field: broken at that record.
        execute(
            &t.db,
            "UPDATE chained_doc SET amount_cents = 9999 WHERE id = ?",
            vec![id(4).into()],
        )
        .await;
        assert_eq!(
            first_break(&t.db, company).await,
            Some((4, BreakKind::Altered)),
            "{t:?}"
        );
        execute(
            &t.db,
            "UPDATE chained_doc SET amount_cents = 400 WHERE id = ?",
            vec![id(4).into()],
        )
        .await;
        assert!(verify(&t.db, company).await.is_intact(), "{t:?}: restored");

        // Two numbers swapped: broken at the first of them.
        swap_numbers(&t.db, (id(3), 3), (id(5), 5)).await;
        assert_eq!(
            first_break(&t.db, company).await,
            Some((3, BreakKind::Altered)),
            "{t:?}"
        );
        swap_numbers(&t.db, (id(5), 3), (id(3), 5)).await;
        assert!(verify(&t.db, company).await.is_intact(), "{t:?}: restored");

        // A row inserted out of order (a forged number 7 copying 6's hash): the
        // head no longer matches.
        execute(
            &t.db,
            "INSERT INTO chained_doc (company_id, amount_cents, issued_on, number, hash) \
             VALUES (?, 1, ?, 7, ?)",
            vec![
                company.into(),
                date("2026-11-23").into(),
                rows[5].hash.clone().into(),
            ],
        )
        .await;
        assert_eq!(
            first_break(&t.db, company).await,
            Some((7, BreakKind::Altered)),
            "{t:?}"
        );
        execute(
            &t.db,
            "DELETE FROM chained_doc WHERE company_id = ? AND number = 7",
            vec![company.into()],
        )
        .await;

        // A record deleted behind the library's back (no void): broken there.
        execute(
            &t.db,
            "DELETE FROM chained_doc WHERE id = ?",
            vec![id(5).into()],
        )
        .await;
        assert_eq!(
            first_break(&t.db, company).await,
            Some((5, BreakKind::Missing)),
            "{t:?}"
        );

        // The last record deleted: the walk goes on to the counter's last,
        // which finds it missing, and the head tells too.
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        for amount in 1..=3 {
            doc(company, amount).insert(&txn).await.unwrap();
        }
        txn.commit().await.unwrap();
        execute(
            &t.db,
            "DELETE FROM chained_doc WHERE company_id = ? AND number = 3",
            vec![company.into()],
        )
        .await;
        let report = verify(&t.db, company).await;
        let breaks: Vec<(i64, BreakKind)> = report.chains[0]
            .breaks
            .iter()
            .map(|b| (b.number, b.kind))
            .collect();
        assert_eq!(
            breaks,
            [(3, BreakKind::Missing), (4, BreakKind::Head)],
            "{t:?}"
        );
    }
}
