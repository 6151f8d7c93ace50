//! A proof an auditor cannot be fooled by: each test performs an attack or a
//! careless mistake exactly as an adversarial user would (raw SQL behind the
//! library's back, a stale or hand-built model, a recomputed chain, an
//! application that swallows an error and commits) on the three databases,
//! and asserts that the audit, the chain check or the refusal catches it,
//! with nothing consumed and nothing lost.

use std::sync::LazyLock;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, TransactionTrait,
};
use sequences_core::{
    Audit, AuditReport, BreakKind, ChainAudit, ChainKey, ChainState, Checkpoint, GroupAudit,
    NumberedField, Numbering, OnDelete, Sequence, SequenceError, chain, entity,
};
use sequences_tests::entities::{deferred_invoice, keyed_doc, proof_doc, ticket};
use sequences_tests::{connect_all, execute, fresh_company};

fn doc(company: i32, amount: i64) -> proof_doc::ActiveModel {
    proof_doc::ActiveModel {
        company_id: Set(company),
        urgent: Set(false),
        amount_cents: Set(amount),
        ..Default::default()
    }
}

/// Numbers documents of `company` through the derive, in one transaction.
async fn insert_docs(
    db: &DatabaseConnection,
    company: i32,
    amounts: &[i64],
) -> Vec<proof_doc::Model> {
    let txn = db.begin().await.unwrap();
    let mut docs = Vec::new();
    for &amount in amounts {
        docs.push(doc(company, amount).insert(&txn).await.unwrap());
    }
    txn.commit().await.unwrap();
    docs
}

async fn audit(db: &DatabaseConnection) -> AuditReport {
    use proof_doc::Column;
    Audit::new(Column::Number)
        .scope([Column::CompanyId])
        .sequence("proof-{company_id}")
        .row_key([Column::Id])
        .run(db)
        .await
        .unwrap()
}

fn group<'r>(report: &'r AuditReport, sequence: &str) -> &'r GroupAudit {
    report
        .groups
        .iter()
        .find(|g| g.sequence.as_deref() == Some(sequence))
        .unwrap_or_else(|| panic!("no group for {sequence}: {report:#?}"))
}

fn chain_audit(template: &str) -> ChainAudit<proof_doc::Column> {
    use proof_doc::Column;
    ChainAudit::new(Column::Number, Column::Hash)
        .covers([Column::CompanyId, Column::AmountCents])
        .scope([Column::CompanyId])
        .sequence(template)
}

/// The chain of `sequence` as `audit` sees it.
async fn chain_of(
    db: &DatabaseConnection,
    audit: ChainAudit<proof_doc::Column>,
    sequence: &str,
) -> ChainState {
    let report = audit.run(db).await.unwrap();
    report
        .chains
        .into_iter()
        .find(|c| c.sequence == sequence)
        .unwrap_or_else(|| panic!("no chain {sequence}"))
}

/// The breaks of a chain as (first, last, kind).
fn breaks(state: &ChainState) -> Vec<(i64, i64, BreakKind)> {
    state
        .breaks
        .iter()
        .map(|b| (b.number, b.through, b.kind))
        .collect()
}

fn intact(state: &ChainState) -> bool {
    state.breaks.is_empty() && state.unnumbered == 0
}

/// Recomputes a company's chain as an attacker would, with `key` (or none),
/// after the caller's edits, and moves the head: the rows in number order.
async fn recompute(db: &DatabaseConnection, company: i32, sequence: &str, key: Option<&[u8]>) {
    let rows = proof_doc::Entity::find()
        .filter(proof_doc::Column::CompanyId.eq(company))
        .order_by_asc(proof_doc::Column::Number)
        .all(db)
        .await
        .unwrap();
    let mut previous = chain::GENESIS.to_owned();
    let mut number = 0;
    for row in rows {
        let company = row.company_id.to_string();
        let amount = row.amount_cents.to_string();
        let fields = [
            ("company_id", Some(company.as_str())),
            ("amount_cents", Some(amount.as_str())),
        ];
        number = i64::from(row.number.unwrap());
        previous = match key {
            Some(key) => chain::keyed_link_hash(key, &previous, sequence, number, &fields),
            None => chain::link_hash(&previous, sequence, number, &fields),
        };
        execute(
            db,
            "UPDATE proof_doc SET hash = ? WHERE id = ?",
            vec![previous.clone().into(), row.id.into()],
        )
        .await;
    }
    // With the key, the head's seal too (a keyed chain's head is sealed).
    let seal = key.map(|key| chain::seal_hash(key, sequence, &previous, number));
    execute(
        db,
        "UPDATE sequences SET chain_head = ?, chain_seal = COALESCE(?, chain_seal) WHERE name = ?",
        vec![previous.into(), seal.into(), sequence.into()],
    )
    .await;
}

/// The checkpoint of one sequence, as `sequences checkpoint` takes it.
async fn checkpoint(db: &DatabaseConnection, sequence: &str) -> Checkpoint {
    let checkpoint = chain::checkpoints(db, Some(sequence))
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.sequence == sequence)
        .expect("a sequence");
    assert!(checkpoint.head.is_some(), "chained");
    checkpoint
}

/// 1. A whole scope deleted: its sequence is audited from the counter, all missing.
#[tokio::test]
async fn a_deleted_scope_is_all_missing() {
    for t in connect_all(2).await {
        let (kept, deleted) = (fresh_company(), fresh_company());
        insert_docs(&t.db, kept, &[10, 20, 30]).await;
        insert_docs(&t.db, deleted, &[40, 50]).await;
        execute(
            &t.db,
            "DELETE FROM proof_doc WHERE company_id = ?",
            vec![deleted.into()],
        )
        .await;

        let report = audit(&t.db).await;
        assert!(report.groups.len() >= 2, "{t:?}");
        assert!(group(&report, &format!("proof-{kept}")).is_clean(), "{t:?}");
        let gone = group(&report, &format!("proof-{deleted}"));
        assert_eq!(
            (
                gone.rows,
                gone.missing,
                gone.gaps.clone(),
                gone.sequence_last
            ),
            (0, 2, vec![1..=2], Some(2)),
            "{t:?}"
        );
        assert_eq!(gone.scope, [Some(deleted.to_string())], "{t:?}");
        assert!(!gone.is_clean() && !report.is_clean(), "{t:?}");
        // `proof-flag-...` counters are not companies of `proof-{company_id}`.
        assert!(
            report
                .groups
                .iter()
                .all(|g| !g.sequence.as_deref().unwrap_or("").contains("flag")),
            "{t:?}"
        );

        let template = "proof-{company_id}";
        let kept_chain = chain_of(&t.db, chain_audit(template), &format!("proof-{kept}")).await;
        assert!(intact(&kept_chain), "{t:?}: {kept_chain:?}");
        let gone_chain = chain_of(&t.db, chain_audit(template), &format!("proof-{deleted}")).await;
        assert_eq!(
            breaks(&gone_chain),
            [(1, 2, BreakKind::Missing), (3, 3, BreakKind::Head)],
            "{t:?}"
        );
    }
}

/// 2. Rows whose number is NULL are counted and listed, never invisible.
#[tokio::test]
async fn unnumbered_rows_are_defects() {
    for t in connect_all(2).await {
        let company = fresh_company();
        insert_docs(&t.db, company, &[1, 2]).await;
        for amount in [3, 4] {
            execute(
                &t.db,
                "INSERT INTO proof_doc (company_id, urgent, amount_cents) VALUES (?, ?, ?)",
                vec![company.into(), false.into(), amount.into()],
            )
            .await;
        }
        let report = audit(&t.db).await;
        let g = group(&report, &format!("proof-{company}"));
        assert_eq!((g.rows, g.missing, g.unnumbered), (2, 0, 2), "{t:?}");
        assert_eq!(g.unnumbered_keys.len(), 2, "{t:?}");
        assert!(!g.is_clean(), "{t:?}");

        let state = chain_of(
            &t.db,
            chain_audit("proof-{company_id}"),
            &format!("proof-{company}"),
        )
        .await;
        assert_eq!((state.unnumbered, state.breaks.len()), (2, 0), "{t:?}");
        assert!(!intact(&state), "{t:?}");
    }
}

/// 3. Erasing every hash (and editing the amounts) is a break, not "no chain".
#[tokio::test]
async fn an_erased_chain_is_broken() {
    for t in connect_all(2).await {
        let company = fresh_company();
        insert_docs(&t.db, company, &[1, 2, 3]).await;
        execute(
            &t.db,
            "UPDATE proof_doc SET hash = NULL, amount_cents = 999999 WHERE company_id = ?",
            vec![company.into()],
        )
        .await;
        let name = format!("proof-{company}");
        let state = chain_of(&t.db, chain_audit("proof-{company_id}"), &name).await;
        assert_eq!(
            breaks(&state),
            [(1, 3, BreakKind::Unhashed), (4, 4, BreakKind::Head)],
            "{t:?}"
        );
        // Even when told the table had rows before its chain: the sequence
        // has a head, so its records must be hashed.
        let legacy = chain_audit("proof-{company_id}").legacy_prefix(true);
        let state = chain_of(&t.db, legacy, &name).await;
        assert!(!intact(&state), "{t:?}: {state:?}");
    }
}

/// 4. A recomputed chain: keyless it verifies (what it cannot prove); keyed,
/// only the key holder can recompute it; a checkpoint catches both, and a
/// truncation.
#[tokio::test]
async fn a_recomputed_chain_needs_the_key_and_a_checkpoint_catches_all() {
    static KEY: &[u8] = b"proof-test-key-0123456789";
    static KEYED: LazyLock<Numbering<proof_doc::Column>> = LazyLock::new(|| {
        use proof_doc::Column;
        Numbering::new().field_with(
            NumberedField::new(Column::Number, Sequence::new("proof-keyed-{company_id}"))
                .chain(Column::Hash, [Column::CompanyId, Column::AmountCents])
                .chain_key(ChainKey::new(KEY))
                .on_delete(OnDelete::Void),
        )
    });
    for t in connect_all(2).await {
        // Keyless: an edit with the hashes recomputed verifies...
        let company = fresh_company();
        let name = format!("proof-{company}");
        insert_docs(&t.db, company, &[10, 20, 30]).await;
        let before = checkpoint(&t.db, &name).await;
        assert_eq!(before.last, 3, "{t:?}");
        execute(
            &t.db,
            "UPDATE proof_doc SET amount_cents = 1 WHERE company_id = ? AND number = 2",
            vec![company.into()],
        )
        .await;
        let state = chain_of(&t.db, chain_audit("proof-{company_id}"), &name).await;
        assert_eq!(breaks(&state), [(2, 2, BreakKind::Altered)], "{t:?}");
        recompute(&t.db, company, &name, None).await;
        let state = chain_of(&t.db, chain_audit("proof-{company_id}"), &name).await;
        assert!(intact(&state), "{t:?}: what a keyless chain cannot prove");
        // ...but not against a checkpoint kept outside the database.
        let checked = chain_audit("proof-{company_id}").checkpoints([before.clone()]);
        let state = chain_of(&t.db, checked, &name).await;
        assert_eq!(breaks(&state), [(3, 3, BreakKind::Checkpoint)], "{t:?}");

        // Truncation: the last record cut off, `last` and the head moved back.
        let company = fresh_company();
        let name = format!("proof-{company}");
        let docs = insert_docs(&t.db, company, &[10, 20, 30]).await;
        let before = checkpoint(&t.db, &name).await;
        execute(
            &t.db,
            "DELETE FROM proof_doc WHERE id = ?",
            vec![docs[2].id.into()],
        )
        .await;
        execute(
            &t.db,
            "UPDATE sequences SET last = 2, chain_head = ? WHERE name = ?",
            vec![docs[1].hash.clone().into(), name.clone().into()],
        )
        .await;
        let state = chain_of(&t.db, chain_audit("proof-{company_id}"), &name).await;
        assert!(
            intact(&state),
            "{t:?}: a consistent truncation, undetectable alone"
        );
        let checked = chain_audit("proof-{company_id}").checkpoints([before]);
        let state = chain_of(&t.db, checked, &name).await;
        assert_eq!(
            breaks(&state),
            [(3, 3, BreakKind::Missing), (3, 3, BreakKind::Checkpoint)],
            "{t:?}"
        );

        // Keyed: verifies with the key only.
        let company = fresh_company();
        let name = format!("proof-keyed-{company}");
        let keyed = |key: Option<&'static [u8]>| {
            let audit = chain_audit("proof-keyed-{company_id}");
            match key {
                Some(key) => audit.chain_key(ChainKey::new(key)),
                None => audit,
            }
        };
        let txn = t.db.begin().await.unwrap();
        for amount in [10, 20, 30] {
            let model = KEYED.fill(doc(company, amount), &txn).await.unwrap();
            model.insert(&txn).await.unwrap();
        }
        txn.commit().await.unwrap();
        let state = chain_of(&t.db, keyed(Some(KEY)), &name).await;
        assert!(intact(&state), "{t:?}: {state:?}");
        assert_eq!(state.links, 3, "{t:?}");
        let state = chain_of(&t.db, keyed(None), &name).await;
        assert_eq!(state.breaks[0].kind, BreakKind::Altered, "{t:?}");
        let before = checkpoint(&t.db, &name).await;
        // An attacker without the key edits and recomputes, keyless or with a guess.
        execute(
            &t.db,
            "UPDATE proof_doc SET amount_cents = 1 WHERE company_id = ? AND number = 2",
            vec![company.into()],
        )
        .await;
        for guess in [None, Some(&b"not-the-key-0123456789"[..])] {
            recompute(&t.db, company, &name, guess).await;
            let state = chain_of(&t.db, keyed(Some(KEY)), &name).await;
            // Every link, and the head: its seal needs the key too.
            assert_eq!(
                breaks(&state),
                [(1, 3, BreakKind::Altered), (4, 4, BreakKind::Head)],
                "{t:?}"
            );
        }
        // An insider with the key: only the checkpoint tells.
        recompute(&t.db, company, &name, Some(KEY)).await;
        let state = chain_of(&t.db, keyed(Some(KEY)), &name).await;
        assert!(intact(&state), "{t:?}");
        let state = chain_of(&t.db, keyed(Some(KEY)).checkpoints([before]), &name).await;
        assert_eq!(breaks(&state), [(3, 3, BreakKind::Checkpoint)], "{t:?}");

        // A key from an unset environment variable: refused, nothing taken.
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        let error = keyed_doc::ActiveModel {
            company_id: Set(company),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::InvalidNumbering { target, .. }) if target == "keyed_doc.number"),
            "{t:?}: {error:?}"
        );
        // The message names the variable to set.
        assert!(
            error
                .to_string()
                .contains("SEQUENCES_TEST_UNSET_CHAIN_KEY is not set"),
            "{t:?}: {error}"
        );
        txn.commit().await.unwrap();
        let last = Sequence::new(format!("keyed-{company}"))
            .last_value(&t.db)
            .await
            .unwrap();
        assert_eq!(last, None, "{t:?}");
    }
}

/// 5. Voids keep a chain whole, every break is reported, and a chained
/// counter is never moved back.
#[tokio::test]
async fn voids_and_every_break_of_a_chain() {
    for t in connect_all(2).await {
        let template = "proof-{company_id}";
        // The last record deleted under the `void` policy.
        let company = fresh_company();
        let name = format!("proof-{company}");
        let docs = insert_docs(&t.db, company, &[10, 20, 30]).await;
        let txn = t.db.begin().await.unwrap();
        docs[2]
            .clone()
            .into_active_model()
            .delete(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let state = chain_of(&t.db, chain_audit(template), &name).await;
        assert!(intact(&state), "{t:?}: {state:?}");
        assert_eq!((state.links, state.ends_at), (3, Some(3)), "{t:?}");
        // A number taken without a record, voided by hand: passed over.
        let txn = t.db.begin().await.unwrap();
        let sequence = Sequence::new(&name);
        assert_eq!(sequence.next_value(&txn).await.unwrap(), 4, "{t:?}");
        sequence.void(&txn, 4, "lost").await.unwrap();
        txn.commit().await.unwrap();
        let state = chain_of(&t.db, chain_audit(template), &name).await;
        assert!(intact(&state), "{t:?}: {state:?}");
        // A chained counter is not moved back.
        let txn = t.db.begin().await.unwrap();
        let error = sequence.revert_last(&txn, 4).await.unwrap_err();
        assert!(
            matches!(error, SequenceError::Chained { .. }),
            "{t:?}: {error}"
        );
        txn.rollback().await.unwrap();
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), Some(4), "{t:?}");
        // Nor can a numbering say it would.
        let reverting = Numbering::new().field_with(
            NumberedField::new(
                proof_doc::Column::Number,
                Sequence::new("proof-{company_id}"),
            )
            .chain(proof_doc::Column::Hash, [proof_doc::Column::AmountCents])
            .on_delete(OnDelete::RevertIfLast),
        );
        let txn = t.db.begin().await.unwrap();
        let error = reverting.fill(doc(company, 1), &txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::InvalidNumbering { target, reason })
                    if target == "proof_doc.number" && reason.contains("revert_if_last")),
            "{t:?}: {error:?}"
        );
        txn.rollback().await.unwrap();
        assert_eq!(sequence.last_value(&t.db).await.unwrap(), Some(4), "{t:?}");

        // Two edits: two breaks, each where it is, the links between verified.
        let company = fresh_company();
        let name = format!("proof-{company}");
        insert_docs(&t.db, company, &[1, 2, 3, 4, 5]).await;
        execute(
            &t.db,
            "UPDATE proof_doc SET amount_cents = 0 WHERE company_id = ? AND number IN (2, 4)",
            vec![company.into()],
        )
        .await;
        let state = chain_of(&t.db, chain_audit(template), &name).await;
        assert_eq!(
            breaks(&state),
            [(2, 2, BreakKind::Altered), (4, 4, BreakKind::Altered)],
            "{t:?}"
        );
        assert_eq!(state.links, 3, "{t:?}");
    }
}

/// 6. The delete policy reads the stored row: a stale or hand-built model
/// neither bypasses it nor voids the wrong number.
#[tokio::test]
async fn a_stale_or_hand_built_model_cannot_bypass_the_delete_policy() {
    static REFUSING: LazyLock<Numbering<deferred_invoice::Column>> = LazyLock::new(|| {
        Numbering::new().field_with(
            NumberedField::new(
                deferred_invoice::Column::Number,
                Sequence::new("deferred-{company_id}"),
            )
            .deferred(),
        )
    });
    for t in connect_all(2).await {
        // A deferred model, returned by insert with its number still NULL.
        let company = fresh_company();
        let stale = sequences_core::transaction::<sea_orm::DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                deferred_invoice::ActiveModel {
                    company_id: Set(company),
                    ..Default::default()
                }
                .insert(txn)
                .await
            })
        })
        .await
        .unwrap();
        assert_eq!(stale.number, None, "{t:?}");
        let txn = t.db.begin().await.unwrap();
        let error = REFUSING
            .before_delete(stale.clone().into_active_model(), &txn)
            .await
            .unwrap_err();
        assert!(
            matches!(
                SequenceError::from_db_err(&error),
                Some(SequenceError::DeleteRefused { .. })
            ),
            "{t:?}: {error:?}"
        );
        txn.rollback().await.unwrap();

        // A hand-built model claiming number 1 for the row numbered 3.
        let company = fresh_company();
        let name = format!("proof-{company}");
        let docs = insert_docs(&t.db, company, &[10, 20, 30]).await;
        let txn = t.db.begin().await.unwrap();
        proof_doc::ActiveModel {
            id: Set(docs[2].id),
            company_id: Set(company),
            number: Set(Some(1)),
            hash: Set(None),
            ..Default::default()
        }
        .delete(&txn)
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let voids = entity::void::Entity::find()
            .filter(entity::void::Column::Sequence.eq(name.clone()))
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(voids.len(), 1, "{t:?}");
        assert_eq!(voids[0].value, 3, "{t:?}");
        assert_eq!(voids[0].chain_hash, docs[2].hash, "{t:?}");
        let state = chain_of(&t.db, chain_audit("proof-{company_id}"), &name).await;
        assert!(intact(&state), "{t:?}: {state:?}");
        assert!(group(&audit(&t.db).await, &name).is_clean(), "{t:?}");
    }
}

/// 7. The helper refuses to commit an insert whose deferred number was never
/// recorded; a bulk insert that bypasses it is visible to the audit.
#[tokio::test]
async fn unnumbered_deferred_rows_are_refused_or_seen() {
    static NUMBERING: LazyLock<Numbering<deferred_invoice::Column>> = LazyLock::new(|| {
        Numbering::new().field_with(
            NumberedField::new(
                deferred_invoice::Column::Number,
                Sequence::new("deferred-{company_id}"),
            )
            .deferred()
            .on_delete(OnDelete::Allow),
        )
    });
    for t in connect_all(2).await {
        let company = fresh_company();
        // A hand-written hook that runs before_save but forgets after_save.
        let error = sequences_core::transaction::<sea_orm::DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                let model = deferred_invoice::ActiveModel {
                    company_id: Set(company),
                    ..Default::default()
                };
                let model = NUMBERING.before_save(model, txn, true).await?;
                deferred_invoice::Entity::insert(model)
                    .exec_without_returning(txn)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::DeferredNotRecorded { target, expected: 1, recorded: 0 })
                    if target == "deferred_invoice.number"),
            "{t:?}: {error:?}"
        );
        let rows = deferred_invoice::Entity::find()
            .filter(deferred_invoice::Column::CompanyId.eq(company))
            .all(&t.db)
            .await
            .unwrap();
        assert!(rows.is_empty(), "{t:?}: nothing committed");

        // insert_many without defer_many commits NULLs: the audit sees them.
        sequences_core::transaction::<sea_orm::DbErr, _, _, _>(&t.db, |txn| {
            Box::pin(async move {
                deferred_invoice::Entity::insert_many([
                    deferred_invoice::ActiveModel {
                        company_id: Set(company),
                        ..Default::default()
                    },
                    deferred_invoice::ActiveModel {
                        company_id: Set(company),
                        ..Default::default()
                    },
                ])
                .exec_without_returning(txn)
                .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        use deferred_invoice::Column;
        let report = Audit::new(Column::Number)
            .scope([Column::CompanyId])
            .sequence("deferred-{company_id}")
            .filter(Column::CompanyId.eq(company))
            .row_key([Column::Id])
            .run(&t.db)
            .await
            .unwrap();
        assert_eq!(report.groups.len(), 1, "{t:?}: {report:?}");
        assert_eq!(report.groups[0].unnumbered, 2, "{t:?}");
        assert!(!report.is_clean(), "{t:?}");
    }
}

/// 8. A refusal on a second field, or a value too wide for its column, gives
/// the values already taken back, even when the application swallows the
/// error and commits.
#[tokio::test]
async fn a_refusal_after_a_first_value_loses_nothing() {
    for t in connect_all(2).await {
        // `proof-C` is taken before `proof-flag-false-C`, which is closed.
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        Sequence::new(format!("proof-flag-false-{company}"))
            .close(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let txn = t.db.begin().await.unwrap();
        let error = doc(company, 1).insert(&txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::Closed { name }) if *name == format!("proof-flag-false-{company}")),
            "{t:?}: {error:?}"
        );
        txn.commit().await.unwrap(); // the application goes on
        let first = Sequence::new(format!("proof-{company}"));
        assert_eq!(first.state(&t.db).await.unwrap(), None, "{t:?}");

        // The chained INTEGER number overflows its column after the flag's
        // number was taken.
        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        Sequence::new(format!("proof-{company}"))
            .set_last_value(&txn, i64::from(i32::MAX))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let txn = t.db.begin().await.unwrap();
        let error = doc(company, 1).insert(&txn).await.unwrap_err();
        assert!(
            matches!(SequenceError::from_db_err(&error),
                Some(SequenceError::ValueOutOfRange { name, value, type_name: "i32", .. })
                    if *name == format!("proof-{company}") && *value == i64::from(i32::MAX) + 1),
            "{t:?}: {error:?}"
        );
        txn.commit().await.unwrap();
        let numbered = Sequence::new(format!("proof-{company}"));
        assert_eq!(
            numbered.last_value(&t.db).await.unwrap(),
            Some(i64::from(i32::MAX)),
            "{t:?}"
        );
        let flag = Sequence::new(format!("proof-flag-false-{company}"));
        assert_eq!(flag.last_value(&t.db).await.unwrap(), None, "{t:?}");
        assert_eq!(
            numbered.state(&t.db).await.unwrap().unwrap().chain_head,
            None,
            "{t:?}"
        );
    }
}

/// 9. Sequence names are injective, and booleans read back as the library
/// prints them.
#[tokio::test]
async fn names_never_collide_and_booleans_read_back() {
    for t in connect_all(2).await {
        let u = fresh_company();
        let txn = t.db.begin().await.unwrap();
        let ticket = |desk: String, region: &str| ticket::ActiveModel {
            desk: Set(desk),
            region: Set(Some(region.to_owned())),
            ..Default::default()
        };
        let a = ticket(format!("{u}x-y"), "z").insert(&txn).await.unwrap();
        let b = ticket(format!("{u}x"), "y-z").insert(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!((a.number, b.number), (Some(1), Some(1)), "{t:?}");
        for name in [format!("ticket-{u}x%2Dy-z"), format!("ticket-{u}x-y%2Dz")] {
            let last = Sequence::new(&name).last_value(&t.db).await.unwrap();
            assert_eq!(last, Some(1), "{t:?}: {name}");
        }

        let company = fresh_company();
        let txn = t.db.begin().await.unwrap();
        for amount in [1, 2] {
            let mut urgent = doc(company, amount);
            urgent.urgent = Set(true);
            urgent.insert(&txn).await.unwrap();
        }
        txn.commit().await.unwrap();
        use proof_doc::Column;
        let report = Audit::new(Column::FlagNumber)
            .scope([Column::Urgent, Column::CompanyId])
            .sequence("proof-flag-{urgent}-{company_id}")
            .filter(Column::CompanyId.eq(company))
            .run(&t.db)
            .await
            .unwrap();
        let name = format!("proof-flag-true-{company}");
        let g = group(&report, &name);
        assert_eq!((g.rows, g.sequence_last), (2, Some(2)), "{t:?}");
        assert!(report.is_clean(), "{t:?}: {report:?}");
    }
}

/// A counter deleted together with all its rows leaves no trace in the
/// database: a checkpoint kept outside it still tells. And a numbered row
/// whose scope names no sequence (a NULL placeholder, which the library
/// refuses to number) is a defect, not a group without a counter.
#[tokio::test]
async fn a_deleted_counter_and_an_unnamed_row_are_caught() {
    for t in connect_all(2).await {
        let (kept, erased) = (fresh_company(), fresh_company());
        insert_docs(&t.db, kept, &[1]).await;
        insert_docs(&t.db, erased, &[1, 2]).await;
        let taken: Vec<Checkpoint> = chain::checkpoints(&t.db, Some("proof-"))
            .await
            .unwrap()
            .into_iter()
            .filter(|c| [format!("proof-{kept}"), format!("proof-{erased}")].contains(&c.sequence))
            .collect();
        assert_eq!(taken.len(), 2, "{t:?}");
        let name = format!("proof-{erased}");
        execute(
            &t.db,
            "DELETE FROM proof_doc WHERE company_id = ?",
            vec![erased.into()],
        )
        .await;
        execute(
            &t.db,
            "DELETE FROM sequences WHERE name = ?",
            vec![name.clone().into()],
        )
        .await;

        let report = audit(&t.db).await;
        assert!(
            report
                .groups
                .iter()
                .all(|g| g.sequence.as_deref() != Some(name.as_str())),
            "{t:?}: no trace left without a checkpoint"
        );
        use proof_doc::Column;
        let checked = Audit::new(Column::Number)
            .scope([Column::CompanyId])
            .sequence("proof-{company_id}")
            .checkpoints(taken.clone())
            .run(&t.db)
            .await
            .unwrap();
        let gone = group(&checked, &name);
        assert_eq!(
            (
                gone.rewound,
                gone.missing,
                gone.gaps.clone(),
                gone.checkpoint_last
            ),
            (true, 2, vec![1..=2], Some(2)),
            "{t:?}"
        );
        assert!(!gone.is_clean(), "{t:?}");
        assert!(
            group(&checked, &format!("proof-{kept}")).is_clean(),
            "{t:?}"
        );
        let state = chain_of(
            &t.db,
            chain_audit("proof-{company_id}").checkpoints(taken),
            &name,
        )
        .await;
        assert_eq!(
            breaks(&state),
            [
                (1, 2, BreakKind::Missing),
                (2, 2, BreakKind::Checkpoint),
                (3, 3, BreakKind::Head)
            ],
            "{t:?}: the head went with the counter"
        );

        // A numbered ticket whose region is NULL: its scope names no sequence.
        let desk = format!("desk{}", fresh_company());
        execute(
            &t.db,
            "INSERT INTO ticket (desk, region, number, slot) VALUES (?, NULL, 1, 0)",
            vec![desk.clone().into()],
        )
        .await;
        let report = Audit::new(ticket::Column::Number)
            .scope([ticket::Column::Desk, ticket::Column::Region])
            .sequence("ticket-{desk}-{region}")
            .filter(ticket::Column::Desk.eq(desk.clone()))
            .run(&t.db)
            .await
            .unwrap();
        assert_eq!(report.groups.len(), 1, "{t:?}: {report:?}");
        assert!(report.groups[0].unnamed && !report.is_clean(), "{t:?}");
    }
}

/// A keyed chain's own voids (the `void` policy of a keyed numbering) carry
/// the key holder's authenticator and keep the chain intact; a void written
/// without the key (`Sequence::void`, or raw SQL) is a break.
#[tokio::test]
async fn keyed_voids_verify_and_unkeyed_ones_break() {
    static KEY: &[u8] = b"proof-void-key-0123456789";
    static KEYED: LazyLock<Numbering<proof_doc::Column>> = LazyLock::new(|| {
        use proof_doc::Column;
        Numbering::new().field_with(
            NumberedField::new(Column::Number, Sequence::new("proof-kv-{company_id}"))
                .chain(Column::Hash, [Column::CompanyId, Column::AmountCents])
                .chain_key(ChainKey::new(KEY))
                .on_delete(OnDelete::Void),
        )
    });
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("proof-kv-{company}");
        let txn = t.db.begin().await.unwrap();
        let mut docs = Vec::new();
        for amount in [10, 20, 30, 40] {
            let model = KEYED.fill(doc(company, amount), &txn).await.unwrap();
            docs.push(model.insert(&txn).await.unwrap());
        }
        txn.commit().await.unwrap();
        let keyed = || chain_audit("proof-kv-{company_id}").chain_key(ChainKey::new(KEY));
        // The middle and the last record deleted through the keyed numbering.
        let txn = t.db.begin().await.unwrap();
        for doc in [&docs[1], &docs[3]] {
            let model = KEYED
                .before_delete(doc.clone().into_active_model(), &txn)
                .await
                .unwrap();
            proof_doc::Entity::delete_by_id(doc.id)
                .exec(&txn)
                .await
                .unwrap();
            KEYED.after_delete(model, &txn).await.unwrap();
        }
        txn.commit().await.unwrap();
        let state = chain_of(&t.db, keyed(), &name).await;
        assert!(intact(&state), "{t:?}: {state:?}");
        assert_eq!(state.links, 4, "{t:?}");
        // A number voided without the key (a record that never was).
        let txn = t.db.begin().await.unwrap();
        let sequence = Sequence::new(&name);
        assert_eq!(sequence.next_value(&txn).await.unwrap(), 5, "{t:?}");
        sequence.void(&txn, 5, "lost").await.unwrap();
        txn.commit().await.unwrap();
        let state = chain_of(&t.db, keyed(), &name).await;
        assert_eq!(breaks(&state), [(5, 5, BreakKind::Void)], "{t:?}");
    }
}
