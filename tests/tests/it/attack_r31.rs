//! A hostile auditor's tests of the fixes of #31 ("Races and forgeries
//! closed") and their neighbours: each attack uses ordinary application
//! privileges only (raw SQL, concurrent transactions, objects of the
//! application's own: tables, collations, triggers on its own behalf), never
//! the library's triggers or tables' definitions, and asserts the SAFE
//! behaviour (nothing consumed, a refusal, or the audit reporting the
//! defect), so that it FAILS while the hole is there.
//!
//! Everything runs in scratch databases of its own (tag `r31_*`), removed
//! at the end. A `check!` collects the broken promises per database, so a
//! failing test names every database where the hole is.

use std::time::{Duration, Instant};

use sea_orm::prelude::Date;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, TransactionTrait,
};
use sequences_core::{Audit, Numbering, Retry, Sequence, SequenceError};
use sequences_tests::entities::{ac_doc, ac_receipt, col_doc, db_deferred, db_slot};
use sequences_tests::locks::wait_until_waiting;
use sequences_tests::{Backend, statement, try_execute as raw};

use super::attack_support::*;

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

// ---------------------------------------------------------------- helpers

// ------------------------------------ Audit::pending and a refusal meanwhile

/// `Audit::pending` reads the refusals once, then watches the rows it found
/// waiting; a row drops out of the watch as soon as the watch's query no
/// longer returns it, and that query leaves out the refused rows. So a row
/// the numberer refuses WHILE the audit watches looks numbered: not
/// overdue, and not in `refused` (read before): the audit says clean over a
/// row that has no number and never will.
///
/// Reproduction (any database): rows of `ac_doc` in book B dated
/// 2026-05-10 (numbered 1) and 2026-05-01 (waiting: the numberer will
/// refuse it, chronological). Start `Audit::new(ac_doc::Column::Number)
/// .scope([Book]).row_key([Id]).pending(30 s).run(&db)`; 300 ms later run
/// `number_pending` once. The audit returns at once: `refused: []`,
/// `waiting: 1, overdue: 0`, `is_clean() == true`.
///
/// Cause: `Audit::pending_rows` (sequences-core/src/audit/mod.rs) reads
/// `refused` before the watch, and `Dialect::audit_waiting` excludes
/// refused rows, so `watched.retain(|k| still.contains(k))` takes a refusal
/// for a number.
#[tokio::test]
async fn a_row_refused_while_the_pending_audit_watches_is_a_defect() {
    let mut failures = Vec::new();
    for t in scratch_all("r31_refwatch", ALL, 3).await {
        let db = t.db.clone();
        let docs = ac_doc::ActiveModel::gapless_numbering();
        let doc = |day: &str| ac_doc::ActiveModel {
            book: Set("B".into()),
            issued_on: Set(date(day)),
            ..Default::default()
        };
        let first = doc("2026-05-10").insert(&db).await.unwrap();
        // Numbered (PostgreSQL waits for every older transaction of the server).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            docs.number_pending(&db).await.unwrap();
            let numbered = scalar(
                &db,
                "SELECT number FROM ac_doc WHERE id = ?",
                vec![first.id.into()],
            )
            .await;
            if numbered == Some(1) {
                break;
            }
            assert!(Instant::now() < deadline, "{t:?}: never numbered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Dated before number 1: the numberer will refuse it.
        doc("2026-05-01").insert(&db).await.unwrap();
        assert_eq!(refusals(&db, "ac_doc").await, 0);
        let audit = {
            let db = db.clone();
            tokio::spawn(async move {
                let report = Audit::new(ac_doc::Column::Number)
                    .scope([ac_doc::Column::Book])
                    .row_key([ac_doc::Column::Id])
                    .pending(Duration::from_secs(30))
                    .run(&db)
                    .await
                    .unwrap();
                (report, Instant::now())
            })
        };
        // The audit's first look (refusals, then the waiting rows) is done
        // long before; then the numberer refuses the row.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let deadline = Instant::now() + Duration::from_secs(25);
        let refused_at = loop {
            docs.number_pending(&db).await.unwrap();
            if refusals(&db, "ac_doc").await > 0 {
                break Instant::now();
            }
            assert!(Instant::now() < deadline, "{t:?}: never refused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let (report, ended) = audit.await.unwrap();
        assert!(
            ended >= refused_at - Duration::from_millis(200),
            "{t:?}: inconclusive, the audit ended before the refusal"
        );
        let unnumbered = scalar(
            &db,
            "SELECT COUNT(*) FROM ac_doc WHERE number IS NULL",
            vec![],
        )
        .await;
        assert_eq!(unnumbered, Some(1), "{t:?}");
        check!(
            failures,
            !report.is_clean(),
            "{t:?}: AUDIT LIES: clean while a row is refused and unnumbered: pending {:?}",
            report.pending
        );
        t.done().await;
    }
    verdict(failures);
}

/// The same watch follows rows by their key, as text: a waiting row whose
/// key changes while the audit watches (an UPDATE of the key is allowed on
/// a waiting row: nothing of it is frozen yet) drops out of the watch as if
/// numbered. With no numberer running at all, the audit says clean over a
/// row that waits for ever.
///
/// Reproduction (any database): one waiting `ac_receipt`, no numberer;
/// start `Audit::new(ac_receipt::Column::Number).scope([Till])
/// .sequence("acr-{till}").row_key([Id]).pending(3 s)`; 300 ms later `UPDATE
/// ac_receipt SET id = id + 1000000 WHERE number IS NULL`: `waiting: 1,
/// overdue: 0`, clean.
///
/// Cause: `Audit::pending_rows` (audit/mod.rs) treats "key no longer
/// returned by `audit_waiting`" as "numbered".
#[tokio::test]
async fn a_waiting_row_whose_key_changes_is_still_overdue() {
    let mut failures = Vec::new();
    for t in scratch_all("r31_keywatch", ALL, 3).await {
        let db = t.db.clone();
        ac_receipt::ActiveModel {
            till: Set("W".into()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let audit = {
            let db = db.clone();
            tokio::spawn(async move {
                Audit::new(ac_receipt::Column::Number)
                    .scope([ac_receipt::Column::Till])
                    .sequence("acr-{till}")
                    .row_key([ac_receipt::Column::Id])
                    .pending(Duration::from_secs(3))
                    .run(&db)
                    .await
                    .unwrap()
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        raw(
            &db,
            "UPDATE ac_receipt SET id = id + 1000000 WHERE number IS NULL",
            vec![],
        )
        .await
        .unwrap();
        let report = audit.await.unwrap();
        check!(
            failures,
            !report.is_clean(),
            "{t:?}: AUDIT LIES: clean while no numberer runs and a row waits: pending {:?}",
            report.pending
        );
        t.done().await;
    }
    verdict(failures);
}

// ---------------------- MariaDB: the numberer's mark outlives its batch

/// The update guard lets a session number a waiting row once it says it is
/// the numberer (`SET @sequences_numbering = 'table.column'`, a session
/// variable on MariaDB, which a ROLLBACK does not undo). The batch sets it
/// and unsets it at its end; a batch whose future is dropped between the
/// two (a `tokio::time::timeout` around `number_pending`, a request
/// cancelled, a task aborted) leaves the mark on the pooled connection, and
/// the next careless `UPDATE ... SET number = ...` of a waiting row through
/// that pool is no longer refused.
///
/// Reproduction (MariaDB): a pool of one connection; another session holds
/// a waiting receipt's row lock (`SELECT ... FOR UPDATE`); `number_pending`
/// on the pool waits in its locking read: abort it; release the lock; then
/// `UPDATE ac_receipt SET number = 7 WHERE id = <another waiting row>`
/// through the pool goes through (`SELECT @sequences_numbering` is still
/// `ac_receipt.number`).
///
/// Cause: `number_batch` (sequences-core/src/numbering/after_commit.rs)
/// relies on reaching its `numbering_mark(.., false)`; `Dialect::numbering_mark`
/// (dialect.rs) uses a session variable on MariaDB, which neither the
/// rollback of the dropped transaction nor the pool resets.
#[tokio::test]
async fn a_cancelled_batch_leaves_no_numberer_mark_behind() {
    let mut failures = Vec::new();
    for t in scratch_all(
        "r31_mark",
        &[Backend::MySql, Backend::Postgres, Backend::Sqlite],
        1,
    )
    .await
    {
        if t.backend == Backend::Sqlite {
            // One writer: the batch cannot be made to wait mid-way on a row.
            t.done().await;
            continue;
        }
        let db = t.db.clone();
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        let other = sequences_tests::open(&t.url, 2).await;
        let held = ac_receipt::ActiveModel {
            till: Set("M".into()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let victim = ac_receipt::ActiveModel {
            till: Set("M".into()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let session = sequences_tests::locks::session_id(&db).await.unwrap();
        let holder = other.begin().await.unwrap();
        raw(
            &holder,
            "SELECT id FROM ac_receipt WHERE id = ? FOR UPDATE",
            vec![held.id.into()],
        )
        .await
        .unwrap();
        let batch = {
            let db = db.clone();
            tokio::spawn(async move { receipts.number_pending(&db).await })
        };
        // PostgreSQL numbers only rows older than every running transaction:
        // the holder's own keeps them back, so it never waits there; the
        // batch may just find nothing.
        let waited = tokio::time::timeout(
            Duration::from_secs(if t.backend == Backend::MySql { 60 } else { 3 }),
            wait_until_waiting(&other, session, "the numberer's locking read"),
        )
        .await
        .is_ok();
        batch.abort();
        let _ = batch.await;
        holder.commit().await.unwrap();
        if !waited {
            println!("{t:?}: the batch never waited on the held row: nothing to check");
            other.close().await.unwrap();
            t.done().await;
            continue;
        }
        let result = raw(
            &db,
            "UPDATE ac_receipt SET number = 7 WHERE id = ?",
            vec![victim.id.into()],
        )
        .await;
        let mark = match t.backend {
            Backend::MySql => db
                .query_one_raw(statement(
                    DbBackend::MySql,
                    "SELECT CAST(@sequences_numbering AS CHAR)",
                    vec![],
                ))
                .await
                .unwrap()
                .and_then(|r| r.try_get_by_index::<Option<String>>(0).unwrap()),
            _ => None,
        };
        check!(
            failures,
            matches!(
                result.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::NumberSet { .. })
            ),
            "{t:?}: REFUSAL MISSING: a careless UPDATE numbered a waiting row after a cancelled batch ({result:?}; the session's mark: {mark:?})"
        );
        other.close().await.unwrap();
        t.done().await;
    }
    verdict(failures);
}

// --------------------- the update guard and collations that merge values

/// Once a row is numbered, an UPDATE may not move it to another sequence:
/// the columns that name its sequence are frozen. The sequence name takes
/// the value byte for byte (`col-a` and `col-A` are two sequences), but
/// the guard compares in the column's collation: SQLite's `IS NOT` under
/// `COLLATE NOCASE`, PostgreSQL's `IS DISTINCT FROM` under a
/// nondeterministic (ICU, case-insensitive) collation, find `a` and `A`
/// equal. MariaDB compares BINARY: refused there.
///
/// Reproduction (SQLite): `CREATE TABLE col_doc (id INTEGER PRIMARY KEY,
/// kind TEXT NOT NULL COLLATE NOCASE, number INTEGER, hash TEXT)`, triggers
/// of `Numbering::new().field(Number, Sequence::new("col-{kind}"))`
/// installed; `INSERT INTO col_doc (kind) VALUES ('a')` (col-a 1); `UPDATE
/// col_doc SET kind = 'A'`: no error, the row of sequence col-A now holds
/// col-a's number 1. PostgreSQL: the same with `kind VARCHAR(20) COLLATE
/// ci`, `CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2',
/// deterministic = false)`.
///
/// Cause: `triggers::sqlite::ddl` (`NEW.c IS NOT OLD.c`) and
/// `triggers::postgres::ddl` (`NEW.c IS DISTINCT FROM OLD.c`) compare
/// frozen text columns in their own collation.
#[tokio::test]
async fn a_scope_change_the_collation_calls_equal_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("r31_guardcoll", ALL, 1).await {
        let db = t.db.clone();
        match t.backend {
            Backend::Postgres => {
                ok(
                    &db,
                    "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
                )
                .await;
                ok(&db, "CREATE TABLE col_doc (id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, kind VARCHAR(20) COLLATE ci NOT NULL, number BIGINT, hash VARCHAR(64))").await;
            }
            Backend::MySql => {
                ok(&db, "CREATE TABLE col_doc (id INT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(20) NOT NULL, number BIGINT, hash VARCHAR(64)) COLLATE utf8mb4_general_ci").await;
            }
            Backend::Sqlite => {
                ok(&db, "CREATE TABLE col_doc (id INTEGER PRIMARY KEY, kind TEXT NOT NULL COLLATE NOCASE, number INTEGER, hash TEXT)").await;
            }
        }
        let numbering: Numbering<col_doc::Column> =
            Numbering::new().field(col_doc::Column::Number, Sequence::new("col-{kind}"));
        numbering.install_triggers(&db).await.unwrap();
        raw(&db, "INSERT INTO col_doc (kind) VALUES ('a')", vec![])
            .await
            .unwrap();
        let updates: &[&str] = match t.backend {
            Backend::MySql => &["A", "a "],
            _ => &["A"],
        };
        for to in updates {
            let result = raw(
                &db,
                "UPDATE col_doc SET kind = ? WHERE number = 1",
                vec![(*to).into()],
            )
            .await;
            check!(
                failures,
                matches!(
                    result.as_ref().err().and_then(SequenceError::from_database),
                    Some(SequenceError::NumberChanged { .. })
                ),
                "{t:?}: REFUSAL MISSING: numbered row of col-a moved to kind {to:?}: {result:?}"
            );
            if result.is_ok() {
                // The audit at least sees it.
                let report = Audit::new(col_doc::Column::Number)
                    .scope([col_doc::Column::Kind])
                    .sequence("col-{kind}")
                    .run(&db)
                    .await
                    .unwrap();
                check!(
                    failures,
                    !report.is_clean(),
                    "{t:?}: AUDIT LIES: {report:?}"
                );
                raw(
                    &db,
                    "UPDATE col_doc SET kind = 'a' WHERE number = 1",
                    vec![],
                )
                .await
                .unwrap();
            }
        }
        t.done().await;
    }
    verdict(failures);
}

/// `number_pending` takes any `ConnectionTrait + TransactionTrait`: called
/// with the application's own transaction, its batch is a savepoint of it.
/// On PostgreSQL the numberer's mark is a setting local to the transaction
/// (`set_config('sequences.numbering', .., true)`), never unset: it
/// outlives the savepoint, and the rest of the caller's transaction is
/// "the numberer": a careless `UPDATE ... SET number = ...` of a waiting
/// row in it is no longer refused. (MariaDB and SQLite unset their mark at
/// the batch's end.)
///
/// Reproduction (PostgreSQL): a waiting receipt; `BEGIN`;
/// `number_pending(&txn)` numbers it; `INSERT INTO ac_receipt (till)
/// VALUES ('P')`; `UPDATE ac_receipt SET number = 9 WHERE id = <that row>`
/// goes through; COMMIT.
///
/// Cause: `Dialect::numbering_mark(.., false)` is `None` on PostgreSQL
/// (dialect.rs), on the assumption that the batch's transaction is a
/// transaction of its own (`number_batch`, numbering/after_commit.rs).
#[tokio::test]
async fn the_numberer_mark_ends_with_a_batch_run_in_the_callers_transaction() {
    let mut failures = Vec::new();
    for t in scratch_all("r31_markin", ALL, 2).await {
        let db = t.db.clone();
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        let first = ac_receipt::ActiveModel {
            till: Set("P".into()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let txn = loop {
            let txn = db.begin().await.unwrap();
            receipts.number_pending(&txn).await.unwrap();
            let numbered = scalar(
                &txn,
                "SELECT number FROM ac_receipt WHERE id = ?",
                vec![first.id.into()],
            )
            .await;
            if numbered.is_some() {
                break txn;
            }
            txn.rollback().await.unwrap();
            assert!(Instant::now() < deadline, "{t:?}: never numbered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let second = ac_receipt::ActiveModel {
            till: Set("P".into()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        let result = raw(
            &txn,
            "UPDATE ac_receipt SET number = 9 WHERE id = ?",
            vec![second.id.into()],
        )
        .await;
        check!(
            failures,
            matches!(
                result.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::NumberSet { .. })
            ),
            "{t:?}: REFUSAL MISSING: after number_pending in the caller's transaction, its UPDATE of a waiting row's number went through: {result:?}"
        );
        txn.rollback().await.unwrap();
        t.done().await;
    }
    verdict(failures);
}

// ------------------------- another trigger of the application's own

/// "Only an inserted row takes a number ... another trigger cancelling or
/// renumbering the row" (CHANGELOG #31). An application's own trigger that
/// keeps drafts unnumbered, or that ignores some updates, is an ordinary
/// object of the application; it must not make a number leak silently.
///
/// - MariaDB: `CREATE TRIGGER app_drafts BEFORE INSERT ON db_slot FOR EACH
///   ROW FOLLOWS sq_db_slot_number_ins SET NEW.number = IF(NEW.kind LIKE
///   'draft%', NULL, NEW.number)`; `INSERT INTO db_slot (kind) VALUES
///   ('draft1')`: the row is unnumbered, the counter `dbslot-draft1` is at
///   1: a number taken by a row that holds none, no error (the AFTER INSERT
///   `settle` moves the counter to the number the BEFORE trigger chose,
///   without looking at the row as written).
/// - SQLite: `CREATE TRIGGER app_frozen BEFORE UPDATE ON db_slot WHEN
///   OLD.kind LIKE 'draft%' BEGIN SELECT RAISE(IGNORE); END`; the same
///   insert: the library's AFTER INSERT trigger moves the counter, its
///   `UPDATE db_slot SET number = ...` is silently skipped: counter 1, row
///   NULL, no error.
/// - PostgreSQL, a `deferred` field: a BEFORE UPDATE trigger that returns
///   NULL for drafts; `INSERT INTO db_deferred (journal) VALUES ('draft1')`
///   and COMMIT: the COMMIT trigger takes the number, its UPDATE changes
///   nothing: counter 1, row NULL, the COMMIT succeeds.
/// - PostgreSQL, numbered on insert: a BEFORE INSERT trigger firing after
///   the library's that sets `NEW.number := NULL`: refused (40001, as
///   promised, nothing taken), but as a serialization failure that `Retry`
///   runs again ten times for nothing: it can never succeed.
///
/// Causes: `triggers::mysql::settle` trusts the session variables, not
/// `NEW.<column>`; `triggers::sqlite::ddl` and `triggers::postgres::ddl`
/// (deferred) do not check that their numbering UPDATE changed the row.
#[tokio::test]
async fn a_trigger_of_the_application_that_unnumbers_a_row_takes_no_number() {
    let mut failures = Vec::new();
    for t in scratch_all("r31_apptrig", ALL, 1).await {
        let db = t.db.clone();
        let (table, insert, name, what) = match t.backend {
            Backend::MySql => {
                ok(&db, "CREATE TRIGGER app_drafts BEFORE INSERT ON db_slot FOR EACH ROW FOLLOWS sq_db_slot_number_ins SET NEW.number = IF(NEW.kind LIKE 'draft%', NULL, NEW.number)").await;
                (
                    "db_slot",
                    "INSERT INTO db_slot (kind) VALUES ('draft1')",
                    "dbslot-draft1",
                    "a BEFORE INSERT trigger after the library's",
                )
            }
            Backend::Sqlite => {
                ok(&db, "CREATE TRIGGER app_frozen BEFORE UPDATE ON db_slot FOR EACH ROW WHEN OLD.kind LIKE 'draft%' BEGIN SELECT RAISE(IGNORE); END").await;
                (
                    "db_slot",
                    "INSERT INTO db_slot (kind) VALUES ('draft1')",
                    "dbslot-draft1",
                    "a BEFORE UPDATE trigger that ignores updates of drafts",
                )
            }
            Backend::Postgres => {
                ok(&db, "CREATE FUNCTION app_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF OLD.journal LIKE 'draft%' THEN RETURN NULL; END IF; RETURN NEW; END $$").await;
                ok(&db, "CREATE TRIGGER app_frozen BEFORE UPDATE ON db_deferred FOR EACH ROW EXECUTE FUNCTION app_frozen()").await;
                (
                    "db_deferred",
                    "INSERT INTO db_deferred (journal) VALUES ('draft1')",
                    "dbdef-draft1",
                    "a BEFORE UPDATE trigger that ignores updates of drafts (deferred field)",
                )
            }
        };
        let result = raw(&db, insert, vec![]).await;
        let last = counter(&db, name).await.unwrap_or(0);
        let numbered = scalar(
            &db,
            &format!("SELECT COUNT(number) FROM {table} WHERE number IS NOT NULL"),
            vec![],
        )
        .await
        .unwrap_or(0);
        check!(
            failures,
            result.is_err() || last == numbered,
            "{t:?}: NUMBER LOST: {what}: `{insert}` succeeded ({result:?}), counter {name} at {last}, {numbered} numbered row(s)"
        );
        if t.backend == Backend::Postgres {
            // On insert: refused, as a serialization failure to run again.
            ok(&db, "CREATE FUNCTION app_drafts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.kind LIKE 'draft%' THEN NEW.number := NULL; END IF; RETURN NEW; END $$").await;
            ok(&db, "CREATE TRIGGER zz_app_drafts BEFORE INSERT ON db_slot FOR EACH ROW EXECUTE FUNCTION app_drafts()").await;
            let result = Retry::new()
                .transaction::<DbErr, _, _, _>(&db, |txn| {
                    Box::pin(async move {
                        raw(txn, "INSERT INTO db_slot (kind) VALUES ('draft2')", vec![]).await
                    })
                })
                .await;
            let last = counter(&db, "dbslot-draft2").await.unwrap_or(0);
            check!(failures, last == 0, "{t:?}: NUMBER LOST on insert: {last}");
            check!(
                failures,
                result
                    .as_ref()
                    .err()
                    .is_none_or(|e| !sequences_core::is_retryable(e)),
                "{t:?}: REFUSAL LIES: a draft insert that can never succeed is refused as retryable (Retry ran it again for nothing): {result:?}"
            );
        }
        t.done().await;
    }
    verdict(failures);
}

// --------- PostgreSQL: unique indexes the insert trigger misreads

/// The insert trigger decides that a row "will not be inserted" by looking
/// its key and unique values up with `=` (`taken`), skipping NULLs; the
/// statement-level check then refuses, as a retryable serialization failure
/// (40001), any statement where that guess was wrong. For a unique index
/// declared `NULLS NOT DISTINCT` (PostgreSQL 15) the guess is always wrong
/// for a NULL: an `ON CONFLICT (code) DO NOTHING` of a row whose code is
/// NULL, while a row with a NULL code exists, is refused every time: the
/// promise "a conflict on any unique index takes no number" becomes a
/// statement that never goes through, and `Retry` runs it ten times.
///
/// Reproduction: `CREATE TABLE db_code (id INTEGER GENERATED BY DEFAULT AS
/// IDENTITY PRIMARY KEY, code VARCHAR(20), batch VARCHAR(20) NOT NULL,
/// number BIGINT, UNIQUE NULLS NOT DISTINCT (code))`, triggers of
/// `Numbering::new().field(Number, Sequence::new("code-{batch}"))`; `INSERT
/// INTO db_code (batch) VALUES ('b')`; `INSERT INTO db_code (batch) VALUES
/// ('b') ON CONFLICT (code) DO NOTHING`: SQLSTATE 40001, again and again.
///
/// Cause: `triggers::postgres::taken` (`NEW.c IS NOT NULL AND ...`), and
/// `postgres_unique` (numbering/by_database.rs) does not read
/// `indnullsnotdistinct`.
#[tokio::test]
async fn an_on_conflict_skip_on_a_nulls_not_distinct_index_goes_through() {
    use sequences_tests::entities::db_code;
    let mut failures = Vec::new();
    for t in scratch_all("r31_nnd", &[Backend::Postgres], 2).await {
        let db = t.db.clone();
        ok(&db, "CREATE TABLE db_code (id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, code VARCHAR(20), batch VARCHAR(20) NOT NULL, number BIGINT, UNIQUE NULLS NOT DISTINCT (code))").await;
        let numbering: Numbering<db_code::Column> =
            Numbering::new().field(db_code::Column::Number, Sequence::new("code-{batch}"));
        numbering.install_triggers(&db).await.unwrap();
        raw(&db, "INSERT INTO db_code (batch) VALUES ('b')", vec![])
            .await
            .unwrap();
        let result = Retry::new()
            .transaction::<DbErr, _, _, _>(&db, |txn| {
                Box::pin(async move {
                    raw(
                        txn,
                        "INSERT INTO db_code (batch) VALUES ('b') ON CONFLICT (code) DO NOTHING",
                        vec![],
                    )
                    .await
                })
            })
            .await;
        check!(
            failures,
            result.is_ok(),
            "{t:?}: REFUSAL LIES: an ON CONFLICT DO NOTHING skip is refused as retryable, for ever: {result:?}"
        );
        check!(
            failures,
            counter(&db, "code-b").await == Some(1),
            "{t:?}: number taken"
        );
        t.done().await;
    }
    verdict(failures);
}

// ------------------------------------------------------ guards that hold

/// Held (regression guard): MERGE on PostgreSQL fires the insert trigger
/// and the statement-level check; a MERGE whose rows are numbered by the
/// triggers stays gapless, and a MERGE over rows that exist takes nothing.
#[tokio::test]
async fn merge_numbers_what_it_inserts_only() {
    let mut failures = Vec::new();
    for t in scratch_all("r31_merge", &[Backend::Postgres], 1).await {
        let db = t.db.clone();
        raw(
            &db,
            "INSERT INTO db_slot (id, kind) VALUES (1000001, 'M')",
            vec![],
        )
        .await
        .unwrap();
        let merge = "MERGE INTO db_slot t USING (VALUES (1000001, 'M'), (1000002, 'M')) s(id, kind) ON t.id = s.id \
                     WHEN MATCHED THEN UPDATE SET kind = s.kind WHEN NOT MATCHED THEN INSERT (id, kind) VALUES (s.id, s.kind)";
        let result = raw(&db, merge, vec![]).await;
        check!(failures, result.is_ok(), "{t:?}: {result:?}");
        let result = raw(&db, merge, vec![]).await;
        check!(failures, result.is_ok(), "{t:?}: {result:?}");
        check!(
            failures,
            counter(&db, "dbslot-M").await == Some(2),
            "{t:?}: counter {:?}",
            counter(&db, "dbslot-M").await
        );
        let report = Audit::new(db_slot::Column::Number)
            .scope([db_slot::Column::Kind])
            .sequence("dbslot-{kind}")
            .run(&db)
            .await
            .unwrap();
        check!(failures, report.is_clean(), "{t:?}: {report:?}");
        t.done().await;
    }
    verdict(failures);
}

/// Held (regression guard): a deferred row inserted and then deleted in the
/// same transaction, and one inserted, deleted and inserted again with the
/// same key, leave the counter equal to the committed rows.
#[tokio::test]
async fn a_deferred_row_deleted_before_commit_takes_nothing() {
    let mut failures = Vec::new();
    for t in scratch_all("r31_defdel", &[Backend::Postgres], 1).await {
        let db = t.db.clone();
        let txn = db.begin().await.unwrap();
        raw(
            &txn,
            "INSERT INTO db_deferred (id, journal) VALUES (1000001, 'D')",
            vec![],
        )
        .await
        .unwrap();
        raw(&txn, "DELETE FROM db_deferred WHERE id = 1000001", vec![])
            .await
            .unwrap();
        raw(
            &txn,
            "INSERT INTO db_deferred (id, journal) VALUES (1000001, 'D')",
            vec![],
        )
        .await
        .unwrap();
        raw(
            &txn,
            "INSERT INTO db_deferred (id, journal) VALUES (1000002, 'D')",
            vec![],
        )
        .await
        .unwrap();
        raw(&txn, "DELETE FROM db_deferred WHERE id = 1000002", vec![])
            .await
            .unwrap();
        txn.commit().await.unwrap();
        check!(
            failures,
            counter(&db, "dbdef-D").await == Some(1),
            "{t:?}: counter {:?}",
            counter(&db, "dbdef-D").await
        );
        let report = Audit::new(db_deferred::Column::Number)
            .scope([db_deferred::Column::Journal])
            .sequence("dbdef-{journal}")
            .run(&db)
            .await
            .unwrap();
        check!(failures, report.is_clean(), "{t:?}: {report:?}");
        t.done().await;
    }
    verdict(failures);
}
