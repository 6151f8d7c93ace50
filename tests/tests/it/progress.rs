//! The progress hook ([`Progress`]) and the chain check that streams its
//! rows: every row read is reported, once, and a chain is walked whole
//! whatever order the scope columns are given in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, PaginatorTrait};
use sequences_core::{Audit, BreakKind, ChainAudit, ChainReport, Progress};
use sequences_tests::entities::{ac_receipt, chained_doc};
use sequences_tests::{Scratch, connect_all, execute, fresh_company};

/// A stage reported: what, its total, the steps done in it.
type Stage = (String, Option<u64>, u64);

/// Every stage reported, with the steps done in it.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Stage>>>);

impl Progress for Recorder {
    fn stage(&self, what: &str, total: Option<u64>) {
        self.0.lock().unwrap().push((what.to_owned(), total, 0));
    }

    fn advance(&self, steps: u64) {
        self.0
            .lock()
            .unwrap()
            .last_mut()
            .expect("a step is reported within a stage")
            .2 += steps;
    }
}

impl Recorder {
    fn stages(&self) -> Vec<Stage> {
        self.0.lock().unwrap().clone()
    }
}

fn chain_of(report: &ChainReport, company: i32) -> &sequences_core::ChainState {
    let name = format!("chained-{company}");
    let found: Vec<_> = report
        .chains
        .iter()
        .filter(|c| c.sequence == name)
        .collect();
    assert_eq!(found.len(), 1, "{name} is walked once: {report:?}");
    found[0]
}

#[tokio::test]
async fn interleaved_sequences_are_walked_whole_as_their_rows_stream() {
    for t in connect_all(2).await {
        let companies = [fresh_company(), fresh_company(), fresh_company()];
        // The companies' rows interleaved in the table.
        for round in 0..5i64 {
            for company in companies {
                sequences_core::transaction::<sea_orm::DbErr, _, _, _>(&t.db, |txn| {
                    Box::pin(async move {
                        chained_doc::ActiveModel {
                            company_id: Set(company),
                            amount_cents: Set(100 + round),
                            issued_on: Set("2026-11-23".parse().unwrap()),
                            ..Default::default()
                        }
                        .insert(txn)
                        .await?;
                        Ok(())
                    })
                })
                .await
                .unwrap();
            }
        }
        // The second company's third record, edited behind the library's back.
        execute(
            &t.db,
            "UPDATE chained_doc SET amount_cents = 999 WHERE company_id = ? AND number = 3",
            vec![companies[1].into()],
        )
        .await;
        use chained_doc::Column;
        // The scope in both orders: a column the template does not name
        // first must not cut a chain in parts.
        for scope in [
            vec![Column::CompanyId],
            vec![Column::AmountCents, Column::CompanyId],
        ] {
            let recorder = Recorder::default();
            let report = ChainAudit::new(Column::Number, Column::Hash)
                .covers([Column::CompanyId, Column::AmountCents, Column::IssuedOn])
                .scope(scope)
                .sequence("chained-{company_id}")
                .progress(recorder.clone())
                .run(&t.db)
                .await
                .unwrap();
            for (i, company) in companies.into_iter().enumerate() {
                let chain = chain_of(&report, company);
                assert_eq!(chain.ends_at, Some(5), "{t:?}: {chain:?}");
                if i == 1 {
                    let broken = chain.broken.as_ref().map(|b| (b.number, b.kind));
                    assert_eq!(broken, Some((3, BreakKind::Altered)), "{t:?}: {chain:?}");
                } else {
                    assert!(chain.breaks.is_empty(), "{t:?}: {chain:?}");
                    assert_eq!(chain.links, 5, "{t:?}: {chain:?}");
                }
            }
            let names: Vec<&str> = report.chains.iter().map(|c| c.sequence.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(names, sorted, "{t:?}: one state per sequence, by name");
            // One stage; every row of the snapshot counted, then read.
            let stages = recorder.stages();
            assert_eq!(stages.len(), 1, "{t:?}: {stages:?}");
            let (what, total, done) = &stages[0];
            assert!(what.contains("chained_doc.number"), "{t:?}: {what}");
            assert!(total.is_some_and(|n| n >= 15), "{t:?}: {stages:?}");
            assert_eq!(Some(*done), *total, "{t:?}: {stages:?}");
        }
    }
}

#[tokio::test]
async fn the_audit_and_the_numberer_report_their_progress() {
    for t in connect_all(1).await {
        let scratch = Scratch::new(&t, "progress").await;
        sequences_tests::migrate(&scratch.url).await;
        let db = sequences_tests::open(&scratch.url, 2).await;
        for _ in 0..3 {
            ac_receipt::ActiveModel {
                till: Set("P".to_owned()),
                ..Default::default()
            }
            .insert(&db)
            .await
            .unwrap();
        }
        // The audit watches the three waiting rows: one stage for the
        // rows, one for the watch, which ends without a numberer.
        let recorder = Recorder::default();
        let report = Audit::new(ac_receipt::Column::Number)
            .scope([ac_receipt::Column::Till])
            .sequence("acr-{till}")
            .row_key([ac_receipt::Column::Id])
            .pending(Duration::from_millis(300))
            .progress(recorder.clone())
            .run(&db)
            .await
            .unwrap();
        assert_eq!(report.pending.unwrap().overdue, 3, "{t:?}");
        let stages = recorder.stages();
        assert_eq!(stages.len(), 2, "{t:?}: {stages:?}");
        assert!(
            stages[0].0.contains("ac_receipt.number"),
            "{t:?}: {stages:?}"
        );
        assert_eq!(
            (stages[1].1, stages[1].2),
            (Some(3), 0),
            "{t:?}: {stages:?}"
        );

        // The numberer: one step per row numbered (PostgreSQL waits for
        // older transactions of the server first).
        let numbering = ac_receipt::ActiveModel::gapless_numbering();
        let recorder = Recorder::default();
        let mut numbered = 0;
        for _ in 0..1000 {
            numbered += numbering
                .number_pending_reporting(&db, &recorder)
                .await
                .unwrap();
            if numbered == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(numbered, 3, "{t:?}");
        let done: u64 = recorder.stages().iter().map(|s| s.2).sum();
        assert_eq!(done, 3, "{t:?}: {:?}", recorder.stages());
        assert!(recorder.stages().iter().all(|s| s.0.contains("ac_receipt")));
        assert_eq!(ac_receipt::Entity::find().count(&db).await.unwrap(), 3);
        db.close().await.unwrap();
        scratch.remove().await;
    }
}
