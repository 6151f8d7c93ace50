//! An adversary's tests, written by a colleague asked to make the audit, the
//! chain or a refusal lie: each performs an attack (raw SQL by someone with
//! write access to the tables) or a careless developer's mistake, and
//! asserts the promise the README makes. Each was written failing (the
//! "HOLE" comments say what it showed); each now passes because the hole is
//! closed, or, where the database keeps no trace of what was done, because a
//! checkpoint kept outside it catches it, as the README says.

use std::sync::LazyLock;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, TransactionTrait,
};
use sequences_core::{
    Audit, AuditReport, ChainAudit, ChainKey, ChainState, Checkpoint, GroupAudit, NamedColumn,
    NumberedField, Numbering, OnDelete, Sequence, chain,
};
use sequences_tests::entities::proof_doc;
use sequences_tests::{connect_all, execute, fresh_company};

/// Records a broken promise on one database and goes on with the next, so
/// that a failing test names every database where the hole is.
macro_rules! check {
    ($failures:ident, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            $failures.push(format!($($arg)+));
        }
    };
}

static KEY: &[u8] = b"attack-test-key-0123456789abcdef";

/// A keyed chain, as an application holding `KEY` numbers it.
static KEYED: LazyLock<Numbering<proof_doc::Column>> = LazyLock::new(|| {
    use proof_doc::Column;
    Numbering::new().field_with(
        NumberedField::new(Column::Number, Sequence::new("attack-keyed-{company_id}"))
            .chain(Column::Hash, [Column::CompanyId, Column::AmountCents])
            .chain_key(ChainKey::new(KEY))
            .on_delete(OnDelete::Void),
    )
});

fn doc(company: i32, amount: i64) -> proof_doc::ActiveModel {
    proof_doc::ActiveModel {
        company_id: Set(company),
        urgent: Set(false),
        amount_cents: Set(amount),
        ..Default::default()
    }
}

/// Three keyed documents of `company`, numbered by the application (with the key).
async fn keyed_docs(db: &DatabaseConnection, company: i32) -> Vec<proof_doc::Model> {
    let txn = db.begin().await.unwrap();
    let mut docs = Vec::new();
    for amount in [10, 20, 30] {
        let model = KEYED.fill(doc(company, amount), &txn).await.unwrap();
        docs.push(model.insert(&txn).await.unwrap());
    }
    txn.commit().await.unwrap();
    docs
}

fn keyed_chain_audit() -> ChainAudit<proof_doc::Column> {
    use proof_doc::Column;
    ChainAudit::new(Column::Number, Column::Hash)
        .covers([Column::CompanyId, Column::AmountCents])
        .scope([Column::CompanyId])
        .sequence("attack-keyed-{company_id}")
        .chain_key(ChainKey::new(KEY))
}

async fn keyed_audit(db: &DatabaseConnection) -> AuditReport {
    use proof_doc::Column;
    Audit::new(Column::Number)
        .scope([Column::CompanyId])
        .sequence("attack-keyed-{company_id}")
        .run(db)
        .await
        .unwrap()
}

fn chain_named(report: &sequences_core::ChainReport, name: &str) -> Option<ChainState> {
    report.chains.iter().find(|c| c.sequence == name).cloned()
}

fn group_named<'r>(report: &'r AuditReport, name: &str) -> Option<&'r GroupAudit> {
    report
        .groups
        .iter()
        .find(|g| g.sequence.as_deref() == Some(name))
}

fn intact(state: &ChainState) -> bool {
    state.breaks.is_empty() && state.unnumbered == 0
}

async fn checkpoint(db: &DatabaseConnection, sequence: &str) -> Checkpoint {
    chain::checkpoints(db, Some(sequence))
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.sequence == sequence)
        .expect("a chained sequence")
}

async fn hash_of(db: &DatabaseConnection, id: i32) -> String {
    proof_doc::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .hash
        .unwrap()
}

/// HOLE 1. A keyed, checkpointed chain: an attacker WITHOUT the key deletes a
/// record in the middle (before the checkpoint) and inserts into
/// `sequence_voids` a void carrying the deleted record's stored hash (read
/// before deleting). Nothing in `sequences` is touched. Voids are not
/// authenticated by the key (no MAC), so the keyed chain with the checkpoint
/// verifies intact and the audit is clean: a document vanished without the
/// key, before the checkpoint. Promise broken: "keyed: an edit is evident when
/// made by anyone without the key, however they edit"; "checkpointed: nothing
/// before the checkpoint".
#[tokio::test]
async fn a_forged_void_breaks_a_keyed_chain() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("attack-keyed-{company}");
        let docs = keyed_docs(&t.db, company).await;
        let before = checkpoint(&t.db, &name).await;
        assert_eq!(before.last, 3);
        // The attack: read record 2's hash, delete it, record a "void".
        let hash = hash_of(&t.db, docs[1].id).await;
        execute(
            &t.db,
            "DELETE FROM proof_doc WHERE id = ?",
            vec![docs[1].id.into()],
        )
        .await;
        execute(
            &t.db,
            "INSERT INTO sequence_voids (sequence, value, reason, voided_at, chain_hash) \
             VALUES (?, 2, 'deleted', '2026-12-01T00:00:00Z', ?)",
            vec![name.clone().into(), hash.into()],
        )
        .await;
        let report = keyed_chain_audit()
            .checkpoints([before])
            .run(&t.db)
            .await
            .unwrap();
        let state = chain_named(&report, &name).unwrap();
        check!(
            failures,
            !intact(&state),
            "{t:?}: a record deleted without the key, before the checkpoint, verifies \
             intact with the key and the checkpoint: {state:?}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// HOLE 2. A keyed chain: an attacker WITHOUT the key cuts the last record off
/// and moves `last` and `chain_head` back (no hash to compute: the head
/// becomes the previous record's stored hash). The keyed chain verifies
/// intact and the audit is clean. The README's table says a keyed chain
/// shows an edit "made by anyone without the key, however they edit"; only a
/// checkpoint catches this (and the hashless-void variant: the record
/// replaced by a void with no hash, `last` untouched, is passed over the same
/// way).
#[tokio::test]
async fn a_keyed_chain_cut_without_the_key_breaks() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("attack-keyed-{company}");
        let docs = keyed_docs(&t.db, company).await;
        execute(
            &t.db,
            "DELETE FROM proof_doc WHERE id = ?",
            vec![docs[2].id.into()],
        )
        .await;
        // Variant: a void with no hash for 3 ("never had a record"), `last` kept.
        execute(
            &t.db,
            "INSERT INTO sequence_voids (sequence, value, reason, voided_at) \
             VALUES (?, 3, 'lost', '2026-12-01T00:00:00Z')",
            vec![name.clone().into()],
        )
        .await;
        execute(
            &t.db,
            "UPDATE sequences SET chain_head = ? WHERE name = ?",
            vec![docs[1].hash.clone().into(), name.clone().into()],
        )
        .await;
        let report = keyed_chain_audit().run(&t.db).await.unwrap();
        let state = chain_named(&report, &name).unwrap();
        check!(
            failures,
            !intact(&state),
            "{t:?}: the last record deleted without the key verifies intact: {state:?}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// HOLE 3. The counter row deleted together with all its rows (and the flag
/// counter): `DELETE FROM proof_doc WHERE company_id = X; DELETE FROM
/// sequences WHERE name = ...`. Nothing is left in the database to say the
/// sequence existed (a limit the README states): a checkpoint kept outside
/// it is what tells, to the audit and to the chain.
#[tokio::test]
async fn a_counter_deleted_with_its_rows_is_caught_by_a_checkpoint() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("attack-keyed-{company}");
        keyed_docs(&t.db, company).await;
        let taken = checkpoint(&t.db, &name).await;
        execute(
            &t.db,
            "DELETE FROM proof_doc WHERE company_id = ?",
            vec![company.into()],
        )
        .await;
        execute(
            &t.db,
            "DELETE FROM sequences WHERE name = ?",
            vec![name.clone().into()],
        )
        .await;
        use proof_doc::Column;
        let report = Audit::new(Column::Number)
            .scope([Column::CompanyId])
            .sequence("attack-keyed-{company_id}")
            .checkpoints([taken.clone()])
            .run(&t.db)
            .await
            .unwrap();
        let chains = keyed_chain_audit()
            .checkpoints([taken])
            .run(&t.db)
            .await
            .unwrap();
        let audited = group_named(&report, &name).is_some_and(|g| !g.is_clean());
        let chained = chain_named(&chains, &name).is_some_and(|c| !intact(&c));
        check!(
            failures,
            audited && chained,
            "{t:?}: three committed documents and their counter deleted: the audit \
             and the keyed chain see nothing"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The audit of a scratch table's `number`, per `company_id`, for one company.
async fn audit_table(
    db: &DatabaseConnection,
    table: &str,
    template: &str,
    company: i32,
) -> AuditReport {
    let named = |column: &'static str| NamedColumn::from_database(db, table, column);
    let mut report = Audit::new(named("number").await.unwrap())
        .scope([named("company_id").await.unwrap()])
        .sequence(template)
        .run(db)
        .await
        .unwrap();
    let name = template.replace("{company_id}", &company.to_string());
    report
        .groups
        .retain(|g| g.sequence.as_deref() == Some(name.as_str()));
    report
}

/// Drops and creates a scratch table of this file (no other test uses it).
async fn scratch_table(db: &DatabaseConnection, table: &str, columns: &str) {
    execute(db, &format!("DROP TABLE IF EXISTS {table}"), vec![]).await;
    execute(db, &format!("CREATE TABLE {table} ({columns})"), vec![]).await;
}

/// HOLE 4. Rows whose scope column is NULL, numbered by hand (a raw INSERT, a
/// hook-less `insert_many`): no counter ever handed these numbers out, yet
/// the NULL group gets no sequence, so "ahead of its sequence" is never
/// checked and the audit is clean. The same rows with a scope value that has
/// no counter (company 7) are correctly reported ahead.
#[tokio::test]
async fn numbered_rows_with_a_null_scope_are_a_defect() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let table = "attack_null_scope";
        scratch_table(
            &t.db,
            table,
            "id BIGINT NOT NULL PRIMARY KEY, company_id INTEGER NULL, number BIGINT NULL",
        )
        .await;
        let prefix = format!("attack-null-{}", fresh_company());
        for (id, number) in [(1, 1), (2, 2), (3, 3)] {
            execute(
                &t.db,
                &format!("INSERT INTO {table} (id, company_id, number) VALUES (?, NULL, ?)"),
                vec![sea_orm::Value::from(id as i64), (number as i64).into()],
            )
            .await;
        }
        let audit = Audit::new(
            NamedColumn::from_database(&t.db, table, "number")
                .await
                .unwrap(),
        )
        .scope([NamedColumn::from_database(&t.db, table, "company_id")
            .await
            .unwrap()])
        .sequence(format!("{prefix}-{{company_id}}"));
        let report = audit.run(&t.db).await.unwrap();
        check!(
            failures,
            !report.is_clean(),
            "{t:?}: three numbers no counter handed out (scope NULL) audit clean: {report:#?}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A numbered column declared narrower in the database than in the model (a
/// stale model: `i32` in Rust, `SMALLINT` in the table).
mod small_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "attack_small")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub company_id: i32,
        #[gapless(sequence = "attack-small-{company_id}")]
        pub number: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// HOLE 6. A value that does not fit the column is refused AFTER it was
/// consumed when the column is narrower in the database than in the model
/// (the cap is the Rust type's): the INSERT fails, the application swallows
/// the error and commits, the number is gone. On MariaDB (strict mode: the
/// failed statement alone is rolled back), not on PostgreSQL (the transaction
/// is aborted) nor SQLite (stores it).
#[tokio::test]
async fn a_swallowed_out_of_range_insert_shows_in_the_audit() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        scratch_table(
            &t.db,
            "attack_small",
            "id BIGINT NOT NULL PRIMARY KEY, company_id INTEGER NOT NULL, number SMALLINT NOT NULL",
        )
        .await;
        let company = fresh_company();
        let name = format!("attack-small-{company}");
        let txn = t.db.begin().await.unwrap();
        Sequence::new(&name)
            .set_last_value(&txn, 32767)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let txn = t.db.begin().await.unwrap();
        let inserted = small_doc::ActiveModel {
            id: Set(1),
            company_id: Set(company),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        // The application swallows the error and commits.
        let _ = txn.commit().await;
        // A write the database refused, then COMMIT anyway: the rule ("allocate
        // and save in the same transaction", so never commit a failed save) is
        // broken by the application; PostgreSQL refuses the COMMIT itself. The
        // number taken for the failed INSERT is then a gap, which the audit
        // must report.
        let last = Sequence::new(&name).last_value(&t.db).await.unwrap();
        let report = audit_table(&t.db, "attack_small", "attack-small-{company_id}", company).await;
        check!(
            failures,
            last == Some(32767) || !report.is_clean(),
            "{t:?}: insert {inserted:?}, then commit: last is {last:?}, and the audit is clean"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Caught: a formatted, per-year reference whose whole period (2025) was
/// deleted is reported from its counter.
#[tokio::test]
async fn caught_formatted_deleted_period() {
    use sequences_core::Period;
    use sequences_tests::entities::document;
    let failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let journal = format!("ATK{}", fresh_company());
        let txn = t.db.begin().await.unwrap();
        for (y, m) in [(2025, 3), (2025, 4), (2026, 1)] {
            document::ActiveModel {
                journal: Set(journal.clone()),
                issued_on: Set(chrono::NaiveDate::from_ymd_opt(y, m, 1).unwrap()),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        execute(
            &t.db,
            "DELETE FROM document WHERE journal = ? AND issued_on < ?",
            vec![
                journal.clone().into(),
                chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().into(),
            ],
        )
        .await;
        let report = Audit::new(document::Column::Reference)
            .format("{journal}-{year}-{value:05}")
            .sequence("invoice-{journal}")
            .period(Period::Year)
            .run(&t.db)
            .await
            .unwrap();
        let name = format!("invoice-{journal}@2025");
        let group = group_named(&report, &name).expect("the deleted period is a group");
        assert_eq!(group.missing, 2, "{t:?}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Caught: voids above `last`, for a sequence that does not exist, and a
/// forged void with no hash in the middle of a chain.
#[tokio::test]
async fn caught_odd_voids() {
    let failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("attack-keyed-{company}");
        let docs = keyed_docs(&t.db, company).await;
        for (sequence, value) in [(name.clone(), 9), (format!("nope-{company}"), 1)] {
            execute(
                &t.db,
                "INSERT INTO sequence_voids (sequence, value, reason, voided_at) \
                 VALUES (?, ?, 'x', '2026-12-01T00:00:00Z')",
                vec![sequence.into(), (value as i64).into()],
            )
            .await;
        }
        let report = keyed_audit(&t.db).await;
        assert!(group_named(&report, &name).unwrap().is_clean(), "{t:?}");
        // A void above `last` extends the chain... and passes (no record ever had 9?);
        // the chain walks 4..=8 as missing.
        let chains = keyed_chain_audit().run(&t.db).await.unwrap();
        assert!(!intact(&chain_named(&chains, &name).unwrap()), "{t:?}");
        // A middle record replaced by a hashless void: the next link breaks.
        let company = fresh_company();
        let name = format!("attack-keyed-{company}");
        let docs2 = keyed_docs(&t.db, company).await;
        execute(
            &t.db,
            "DELETE FROM proof_doc WHERE id = ?",
            vec![docs2[1].id.into()],
        )
        .await;
        execute(
            &t.db,
            "INSERT INTO sequence_voids (sequence, value, reason, voided_at) \
             VALUES (?, 2, 'x', '2026-12-01T00:00:00Z')",
            vec![name.clone().into()],
        )
        .await;
        let chains = keyed_chain_audit().run(&t.db).await.unwrap();
        assert!(!intact(&chain_named(&chains, &name).unwrap()), "{t:?}");
        let _ = docs;
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The revert_if_last register of this file, on its scratch table.
mod rev_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "attack_rev")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub company_id: i32,
        #[gapless(sequence = "attack-rev-{company_id}", on_delete = "revert_if_last")]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// HOLE 8. `on_delete = "revert_if_last"`: the policy moves the counter back
/// in `before_delete`, then the DELETE itself is refused by the database (a
/// foreign key from another table: an ordinary schema). The application
/// swallows the error and commits: the row is still there with the last
/// number, the counter was moved back, and the next document takes the same
/// number again (a duplicate). On MariaDB and SQLite (a failed statement does
/// not abort the transaction); PostgreSQL aborts it.
#[tokio::test]
async fn a_refused_delete_leaves_revert_if_last_untouched() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        execute(&t.db, "DROP TABLE IF EXISTS attack_rev_child", vec![]).await;
        scratch_table(
            &t.db,
            "attack_rev",
            "id BIGINT NOT NULL PRIMARY KEY, company_id INTEGER NOT NULL, number BIGINT NULL",
        )
        .await;
        execute(
            &t.db,
            "CREATE TABLE attack_rev_child (id BIGINT NOT NULL PRIMARY KEY, \
             parent_id BIGINT NOT NULL, FOREIGN KEY (parent_id) REFERENCES attack_rev (id))",
            vec![],
        )
        .await;
        let company = fresh_company();
        let name = format!("attack-rev-{company}");
        let txn = t.db.begin().await.unwrap();
        let mut docs = Vec::new();
        for id in [1i64, 2] {
            docs.push(
                rev_doc::ActiveModel {
                    id: Set(id),
                    company_id: Set(company),
                    ..Default::default()
                }
                .insert(&txn)
                .await
                .unwrap(),
            );
        }
        txn.commit().await.unwrap();
        execute(
            &t.db,
            "INSERT INTO attack_rev_child (id, parent_id) VALUES (1, 2)",
            vec![],
        )
        .await;
        let txn = t.db.begin().await.unwrap();
        let deleted = sea_orm::ModelTrait::delete(docs[1].clone(), &txn).await;
        let _ = txn.commit().await; // the error swallowed
        let last = Sequence::new(&name).last_value(&t.db).await.unwrap();
        let still_there = rev_doc::Entity::find_by_id(2i64).one(&t.db).await.unwrap();
        check!(
            failures,
            still_there.is_none() || last == Some(2),
            "{t:?}: delete {deleted:?}; row 2 is still there and the counter was moved back \
             to {last:?}: the next document is numbered 2 again"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// HOLE 9. An odd but legal template whose fixed text contains a backslash
/// (`atk\bs-{company_id}`): the counters are found with `LIKE 'atk\bs-%'`
/// unescaped, and PostgreSQL and MariaDB read `\` as LIKE's escape
/// character, so the pattern is `atkbs-%` and no counter matches. A company
/// whose documents were all deleted is then not audited at all (clean), and
/// `chain::checkpoints` (`sequences checkpoint --prefix`) leaves its chain out
/// of the checkpoint. SQLite has no default LIKE escape: caught there.
#[tokio::test]
async fn a_backslash_in_a_template_hides_no_counter() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let table = "attack_backslash";
        scratch_table(
            &t.db,
            table,
            "id BIGINT NOT NULL PRIMARY KEY, company_id INTEGER NOT NULL, number BIGINT NULL",
        )
        .await;
        let company = fresh_company();
        let name = format!("atk\\bs-{company}");
        let txn = t.db.begin().await.unwrap();
        for id in 1..=3i64 {
            let n = Sequence::new(&name).next_value(&txn).await.unwrap();
            execute(
                &txn,
                &format!("INSERT INTO {table} (id, company_id, number) VALUES (?, ?, ?)"),
                vec![id.into(), company.into(), n.into()],
            )
            .await;
        }
        txn.commit().await.unwrap();
        // The attack: every document of the company deleted, the counter kept.
        execute(&t.db, &format!("DELETE FROM {table}"), vec![]).await;
        let report = Audit::new(
            NamedColumn::from_database(&t.db, table, "number")
                .await
                .unwrap(),
        )
        .scope([NamedColumn::from_database(&t.db, table, "company_id")
            .await
            .unwrap()])
        .sequence("atk\\bs-{company_id}")
        .run(&t.db)
        .await
        .unwrap();
        check!(
            failures,
            group_named(&report, &name).is_some_and(|g| g.missing == 3),
            "{t:?}: three documents of {name} deleted, the counter at 3: not audited, \
             clean = {}",
            report.is_clean()
        );
        execute(
            &t.db,
            "UPDATE sequences SET chain_head = ? WHERE name = ?",
            vec![chain::GENESIS.into(), name.clone().into()],
        )
        .await;
        let taken = chain::checkpoints(&t.db, Some("atk\\bs-")).await.unwrap();
        check!(
            failures,
            taken.iter().any(|c| c.sequence == name),
            "{t:?}: the checkpoint of prefix `atk\\bs-` leaves out {name}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

mod uniq_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "attack_uniq")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub company_id: i32,
        pub code: String,
        #[gapless(sequence = "attack-uniq-{company_id}")]
        pub number: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// HOLE 6b. The same class as HOLE 6, with an ordinary schema: the INSERT is
/// refused by the database for another reason (a UNIQUE customer code here;
/// a NOT NULL, CHECK or foreign key would do) after the fill took the number.
/// The application swallows the error and commits: the number is lost (an
/// unexplained gap) on MariaDB and SQLite, where a failed statement does not
/// abort the transaction. No savepoint around a single-sequence fill + insert.
#[tokio::test]
async fn a_swallowed_refused_insert_shows_in_the_audit() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        scratch_table(
            &t.db,
            "attack_uniq",
            "id BIGINT NOT NULL PRIMARY KEY, company_id INTEGER NOT NULL, \
             code VARCHAR(20) NOT NULL UNIQUE, number BIGINT NOT NULL",
        )
        .await;
        let company = fresh_company();
        let name = format!("attack-uniq-{company}");
        let row = |id: i64| uniq_doc::ActiveModel {
            id: Set(id),
            company_id: Set(company),
            code: Set("SAME".to_owned()),
            ..Default::default()
        };
        let txn = t.db.begin().await.unwrap();
        row(1).insert(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let txn = t.db.begin().await.unwrap();
        let refused = row(2).insert(&txn).await;
        let _ = txn.commit().await; // the error swallowed
        // As HOLE 6: the application committed a failed save; the audit must
        // report the number taken for it.
        let last = Sequence::new(&name).last_value(&t.db).await.unwrap();
        let report = audit_table(&t.db, "attack_uniq", "attack-uniq-{company_id}", company).await;
        check!(
            failures,
            last == Some(1) || !report.is_clean(),
            "{t:?}: insert {refused:?}, then commit: last is {last:?}, and the audit is clean"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// HOLE 10. `legacy_prefix` (`verify --legacy-prefix`), which an auditor must
/// pass for a table whose chain started on existing rows: an attacker
/// WITHOUT the key erases every hash of a company's records and its
/// `chain_head` (two UPDATEs), then edits an amount at will. The chain now
/// "never started": the keyed verification reports it intact (no break, no
/// link). Without the head erased it is a break ("a sequence with a head
/// whose rows carry no hash is broken either way"); with the head erased
/// too, nothing says a chain existed.
#[tokio::test]
async fn an_erased_legacy_chain_is_caught_by_a_checkpoint() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("attack-keyed-{company}");
        keyed_docs(&t.db, company).await;
        execute(
            &t.db,
            "UPDATE proof_doc SET hash = NULL, amount_cents = 999999 WHERE company_id = ?",
            vec![company.into()],
        )
        .await;
        // The head and its seal erased too: nothing left in the database says
        // a chain existed (a limit the README states); a checkpoint does.
        let taken = checkpoint(&t.db, &name).await;
        execute(
            &t.db,
            "UPDATE sequences SET chain_head = NULL, chain_seal = NULL WHERE name = ?",
            vec![name.clone().into()],
        )
        .await;
        let report = keyed_chain_audit()
            .legacy_prefix(true)
            .checkpoints([taken])
            .run(&t.db)
            .await
            .unwrap();
        let state = chain_named(&report, &name);
        check!(
            failures,
            state.as_ref().is_some_and(|s| !intact(s)),
            "{t:?}: every hash and the head erased, amounts edited, keyed + legacy_prefix: \
             {state:?}, intact = {}",
            report.is_intact()
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Class 6 of #31: every row is walked or reported. A forged record
/// numbered below the sequence's initial value (0, or negative) was never
/// looked at: the keyed check said intact over it.
#[tokio::test]
async fn a_record_numbered_below_the_initial_value_is_reported() {
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("attack-keyed-{company}");
        keyed_docs(&t.db, company).await;
        for number in [0, -5] {
            execute(
                &t.db,
                "INSERT INTO proof_doc (company_id, urgent, amount_cents, number, hash) VALUES (?, ?, ?, ?, ?)",
                vec![
                    company.into(),
                    false.into(),
                    1.into(),
                    number.into(),
                    "0".repeat(64).into(),
                ],
            )
            .await;
        }
        let report = keyed_chain_audit().run(&t.db).await.unwrap();
        let state = chain_named(&report, &name).expect("the company's chain");
        let outside: Vec<(i64, i64)> = state
            .breaks
            .iter()
            .filter(|b| b.kind == sequences_core::BreakKind::Outside)
            .map(|b| (b.number, b.through))
            .collect();
        check!(
            failures,
            !report.is_intact() && outside == [(-5, -5), (0, 0)],
            "{t:?}: records numbered 0 and -5: {state:?}"
        );
        // The legacy prefix starts at the initial value too.
        let report = keyed_chain_audit()
            .legacy_prefix(true)
            .run(&t.db)
            .await
            .unwrap();
        check!(
            failures,
            !report.is_intact(),
            "{t:?}: legacy prefix over records numbered 0 and -5: {report:?}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// With `legacy_prefix`, the walk starts at the first hashed record. A
/// history whose hashes were erased up to past a checkpoint and recomputed
/// from the genesis (by anyone, on a keyless chain) started the walk after
/// the checkpoint's `last`, so the checkpoint was never compared: intact
/// over exactly the rewrite checkpoints exist to catch.
#[tokio::test]
async fn a_legacy_rewrite_past_a_checkpoint_is_caught() {
    use proof_doc::Column;
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("proof-{company}");
        let numbering = proof_doc::ActiveModel::gapless_numbering();
        let add = |amount: i64| {
            let db = t.db.clone();
            async move {
                let txn = db.begin().await.unwrap();
                let model = numbering.fill(doc(company, amount), &txn).await.unwrap();
                model.insert(&txn).await.unwrap();
                txn.commit().await.unwrap();
            }
        };
        for amount in [10, 20, 30] {
            add(amount).await;
        }
        let taken = checkpoint(&t.db, &name).await;
        for amount in [40, 50, 60] {
            add(amount).await;
        }
        // The attack: hashes 1..=3 erased (a "legacy prefix"), 4..=6 and the
        // head recomputed from the genesis with amounts edited.
        execute(
            &t.db,
            "UPDATE proof_doc SET hash = NULL WHERE company_id = ? AND number <= 3",
            vec![company.into()],
        )
        .await;
        let mut previous = chain::GENESIS.to_owned();
        for number in 4..=6i64 {
            let amount = (number * 1000).to_string();
            let company_text = company.to_string();
            let hash = chain::link_hash(
                &previous,
                &name,
                number,
                &[
                    ("company_id", Some(company_text.as_str())),
                    ("amount_cents", Some(amount.as_str())),
                ],
            );
            execute(
                &t.db,
                "UPDATE proof_doc SET amount_cents = ?, hash = ? WHERE company_id = ? AND number = ?",
                vec![
                    (number * 1000).into(),
                    hash.clone().into(),
                    company.into(),
                    number.into(),
                ],
            )
            .await;
            previous = hash;
        }
        execute(
            &t.db,
            "UPDATE sequences SET chain_head = ? WHERE name = ?",
            vec![previous.into(), name.clone().into()],
        )
        .await;
        let audit = ChainAudit::new(Column::Number, Column::Hash)
            .covers([Column::CompanyId, Column::AmountCents])
            .scope([Column::CompanyId])
            .sequence("proof-{company_id}")
            .legacy_prefix(true);
        // Without the checkpoint, a keyless rewrite verifies (the limit the
        // README states)...
        let report = audit.clone().run(&t.db).await.unwrap();
        check!(
            failures,
            chain_named(&report, &name).is_some_and(|s| intact(&s)),
            "{t:?}: the rewrite without a checkpoint: {report:?}"
        );
        // ...with it, never: the checkpoint is compared whatever the options.
        let report = audit.checkpoints([taken]).run(&t.db).await.unwrap();
        let state = chain_named(&report, &name);
        check!(
            failures,
            state.as_ref().is_some_and(|s| s
                .breaks
                .iter()
                .any(|b| b.kind == sequences_core::BreakKind::Checkpoint && b.number == 3)),
            "{t:?}: legacy prefix + checkpoint over a rewrite from the genesis: {state:?}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// One forged record numbered near the end of `i64` made the check step
/// towards it one number at a time, for ever: the walk's cost must follow
/// the records and voids that exist.
#[tokio::test]
async fn a_record_numbered_near_i64_max_is_walked_at_once() {
    use sequences_tests::entities::chained_doc;
    let mut failures: Vec<String> = Vec::new();
    for t in connect_all(2).await {
        let company = fresh_company();
        let name = format!("chained-{company}");
        let txn = t.db.begin().await.unwrap();
        for amount in [10, 20] {
            chained_doc::ActiveModel {
                company_id: Set(company),
                amount_cents: Set(amount),
                issued_on: Set("2026-12-01".parse().unwrap()),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        execute(
            &t.db,
            "INSERT INTO chained_doc (company_id, amount_cents, issued_on, number, hash) VALUES (?, ?, ?, ?, ?)",
            vec![
                company.into(),
                1.into(),
                sea_orm::prelude::Date::from_ymd_opt(2026, 12, 1).unwrap().into(),
                (i64::MAX - 1).into(),
                "0".repeat(64).into(),
            ],
        )
        .await;
        let check = chained_doc::Column::Number;
        let audit = ChainAudit::new(check, chained_doc::Column::Hash)
            .covers([
                chained_doc::Column::CompanyId,
                chained_doc::Column::AmountCents,
                chained_doc::Column::IssuedOn,
            ])
            .scope([chained_doc::Column::CompanyId])
            .sequence("chained-{company_id}");
        let report = tokio::time::timeout(std::time::Duration::from_secs(120), audit.run(&t.db))
            .await
            .expect("the walk ends")
            .unwrap();
        let state = chain_named(&report, &name).expect("the company's chain");
        let missing = state
            .breaks
            .iter()
            .find(|b| b.kind == sequences_core::BreakKind::Missing)
            .map(|b| (b.number, b.through));
        check!(
            failures,
            !report.is_intact() && missing == Some((3, i64::MAX - 2)),
            "{t:?}: a record at i64::MAX - 1: {state:?}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
