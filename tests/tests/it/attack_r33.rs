//! A hostile auditor's third round (#33): the fixes of the second attack
//! round (#32) and the code around them: the pending audit's watch that
//! follows a key only to a row holding a number newer than the watch, the
//! update guard and its marks, the row compared as written on every frozen
//! column, and the statement check of PostgreSQL's insert trigger. Each
//! attack uses ordinary application privileges only (raw SQL, concurrent
//! transactions, the library's own API, objects of the application's own
//! such as its triggers), never the library's triggers, functions or table
//! definitions, and asserts the SAFE behaviour, so that it FAILS while the
//! hole is there.
//!
//! Everything runs in scratch databases of its own (tag `r33_*`), removed
//! at the end. A `check!` collects the broken promises per database.

use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, TransactionTrait,
};
use sequences_core::{Audit, Numbering, Sequence, SequenceError};
use sequences_tests::entities::{ac_receipt, col_doc, db_deferred, db_slot, deferred_invoice};
use sequences_tests::{Backend, fresh_company, statement, try_execute as raw};

use super::attack_support::*;

async fn rows_of<C: ConnectionTrait>(db: &C, sql: &str) -> Vec<(String, Option<i64>)> {
    let sql = &portable(db, sql);
    db.query_all_raw(statement(db.get_database_backend(), sql, vec![]))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).unwrap(),
                r.try_get_by_index::<Option<i64>>(1).unwrap(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- helpers

/// Byte for byte: MariaDB's default collation takes 'W' for 'w'.
fn exactly(backend: Backend, column: &str, value: &str) -> String {
    match backend {
        Backend::MySql => format!("BINARY {column} = '{value}'"),
        _ => format!("{column} = '{value}'"),
    }
}

/// The application's trigger that upper-cases a scope column on every
/// UPDATE, as an application normalizes what it stores, created after
/// `install_triggers` (PostgreSQL runs a table's triggers in name order,
/// `zz_` after `sq_`; MariaDB in creation order). SQLite's BEFORE triggers
/// cannot change NEW: the application's BEFORE UPDATE trigger UPDATEs the
/// row itself.
async fn upper_on_update<C: ConnectionTrait>(db: &C, backend: Backend, table: &str, column: &str) {
    match backend {
        Backend::Postgres => {
            ok(db, &format!("CREATE FUNCTION app_upper_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.{column} := upper(NEW.{column}); RETURN NEW; END $$")).await;
            ok(db, &format!("CREATE TRIGGER zz_app_upper BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION app_upper_{table}()")).await;
        }
        Backend::MySql => {
            ok(db, &format!("CREATE TRIGGER app_upper_{table} BEFORE UPDATE ON {table} FOR EACH ROW SET NEW.{column} = UPPER(NEW.{column})")).await;
        }
        Backend::Sqlite => {
            ok(db, &format!("CREATE TRIGGER app_upper_{table} BEFORE UPDATE ON {table} FOR EACH ROW WHEN NEW.{column} <> upper(NEW.{column}) BEGIN UPDATE {table} SET {column} = upper({column}) WHERE id = NEW.id; END")).await;
        }
    }
}

// ------------------------------------------- Audit::pending: the watch

/// #32's fix: a key that leaves the waiting rows counts as numbered only
/// if the row now holding it has a number newer than the newest of its
/// scope when the watch began (each such number once). But a new number
/// is not the waiting row's number: any row numbered during the watch
/// (here, by the library's own immediate path, `Sequence::next_value` and
/// an insert with the number set, in the same transaction, gapless and
/// legitimate) can be put under the waiting row's key while the waiting
/// row moves to a key never watched. The audit counts the key as
/// numbered, follows nothing, and says clean; the waiting row waits for
/// ever (no numberer runs at all). Every other number is in order: the
/// counter `acr-A` is at 1 and row 1 holds it.
///
/// Reproduction (any database): receipt W of till A waiting, no numberer,
/// no numbered row; `Audit::new(ac_receipt::Column::Number).scope([Till])
/// .sequence("acr-{till}").row_key([Id]).pending(3 s).run(&db)`; 1 s later, in
/// one transaction: `UPDATE ac_receipt SET id = 1000000 WHERE id = W`;
/// `n = Sequence::new("acr-A").next_value(&txn)` (1); `INSERT INTO
/// ac_receipt (id, till, number) VALUES (W, 'A', n)`. The audit: `waiting:
/// 1, overdue: 0, unwatched: 0`, `is_clean()`; row 1000000 is NULL.
///
/// Cause: `Audit::pending_rows` (sequences-core/src/audit/pending.rs): a
/// fresh number under a key that left is taken for the waiting row's own
/// number; the waiting rows that appear under other keys meanwhile are
/// watched only when a key leaves unexplained.
#[tokio::test]
async fn a_waiting_row_whose_key_goes_to_a_freshly_numbered_row_is_still_overdue() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_freshkey", ALL, 3).await {
        let db = t.db.clone();
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        // Fixed: the update guard keeps a waiting row's key (KeyChanged),
        // and the audit trusts a key only then. With the triggers removed,
        // the audit must still not say clean.
        for guarded in [true, false] {
            if !guarded {
                receipts.remove_triggers(&db).await.unwrap();
            }
            let waiting = receipt("A").insert(&db).await.unwrap();
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
            // The audit's first look is long done.
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let txn = db.begin().await.unwrap();
            let moved = raw(
                &txn,
                "UPDATE ac_receipt SET id = 1000000 WHERE id = ?",
                vec![waiting.id.into()],
            )
            .await;
            if guarded {
                txn.rollback().await.unwrap();
                check!(
                    failures,
                    matches!(
                        moved.as_ref().err().and_then(SequenceError::from_database),
                        Some(SequenceError::KeyChanged { .. })
                    ),
                    "{t:?}: REFUSAL MISSING: a waiting row's key changed: {moved:?}"
                );
                audit.abort();
                raw(
                    &db,
                    "DELETE FROM ac_receipt WHERE id = ?",
                    vec![waiting.id.into()],
                )
                .await
                .unwrap();
                continue;
            }
            moved.unwrap();
            // The library's own immediate path: a number taken and saved in
            // the same transaction.
            let number = Sequence::new("acr-A").next_value(&txn).await.unwrap();
            raw(
                &txn,
                "INSERT INTO ac_receipt (id, till, number) VALUES (?, 'A', ?)",
                vec![waiting.id.into(), number.into()],
            )
            .await
            .unwrap();
            txn.commit().await.unwrap();
            let report = audit.await.unwrap();
            let unnumbered = scalar(
                &db,
                "SELECT COUNT(*) FROM ac_receipt WHERE id = 1000000 AND number IS NULL",
                vec![],
            )
            .await;
            assert_eq!(unnumbered, Some(1), "{t:?}");
            assert_eq!(counter(&db, "acr-A").await, Some(1), "{t:?}");
            check!(
                failures,
                !report.is_clean(),
                "{t:?}: AUDIT LIES: clean while no numberer runs and the row that waited since before the watch waits under a new key (its old key holds a number given during the watch): pending {:?}",
                report.pending
            );
        }
        t.done().await;
    }
    verdict(failures);
}

// ------------- PostgreSQL: the statement check is a sum of 32-bit hashes

/// #32's fix compares the rows PostgreSQL inserted with the rows its insert
/// trigger numbered, on every frozen column: `settle` sums
/// `hashtext(frozen_text(row))` over the statement's rows and compares the
/// sum with the one the insert trigger counted. A sum of 32-bit hashes is
/// not a comparison: two rows whose changes add up to zero pass. The
/// application's everyday trigger that upper-cases the scope after ours
/// (the very case the fix refuses for one row) goes through for a pair of
/// scope values chosen so that the two hash differences cancel; finding
/// such a pair is a birthday search over a few hundred thousand strings,
/// done by PostgreSQL in one aggregate query (about a second). Scope values
/// are what users type (journal names, till codes): no privilege is needed
/// beyond inserting two rows in one statement.
///
/// Reproduction (PostgreSQL): `CREATE TRIGGER zz_app_upper BEFORE INSERT
/// ON db_slot ... NEW.kind := upper(NEW.kind)`; `INSERT INTO db_slot (kind)
/// VALUES ('w')` is refused (NumberChanged); find k1, k2 with
/// `hashtext(f(1, upper(k1))) - hashtext(f(1, k1)) = -(hashtext(f(1,
/// upper(k2))) - hashtext(f(1, k2)))` where f(n, k) = '1:' || n || ';' ||
/// octet_length(k) || ':' || k || ';' (the frozen text of number n, kind
/// k); `INSERT INTO db_slot (kind) VALUES (k1), (k2)`: no error; rows
/// (upper(k1), 1) and (upper(k2), 1), counters `dbslot-k1` and `dbslot-k2`
/// at 1, none for the upper-case scopes: the next insert of either takes 1
/// again (a duplicate), and k1, k2 each have a number no row of theirs
/// holds (a gap).
///
/// Cause: `triggers::postgres::settle` and `count`
/// (sequences-core/src/triggers/postgres.rs): the rows are compared by the
/// sum of `hashtext` (32 bits) of their frozen text, not row by row.
#[tokio::test]
async fn postgres_two_rows_renamed_by_a_trigger_of_the_application_are_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_hashsum", &[Backend::Postgres], 1).await {
        let db = t.db.clone();
        ok(&db, "CREATE FUNCTION app_upper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.kind := upper(NEW.kind); RETURN NEW; END $$").await;
        ok(&db, "CREATE TRIGGER zz_app_upper BEFORE INSERT ON db_slot FOR EACH ROW EXECUTE FUNCTION app_upper()").await;
        // The fix of #32 holds for one row.
        let one = raw(&db, "INSERT INTO db_slot (kind) VALUES ('w')", vec![]).await;
        assert!(
            matches!(
                one.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::NumberChanged { .. })
            ),
            "{t:?}: one row renamed after numbering: {one:?}"
        );
        // Two scope values whose hash differences cancel.
        let started = Instant::now();
        let pair = db
            .query_one_raw(statement(
                db.get_database_backend(),
                "WITH d AS (SELECT k, CAST(hashtext('1:1;' || octet_length(upper(k)) || ':' || upper(k) || ';') AS BIGINT) \
                 - hashtext('1:1;' || octet_length(k) || ':' || k || ';') AS delta \
                 FROM (SELECT 'k' || i || 'q' AS k FROM generate_series(1, 400000) AS i) AS c) \
                 SELECT min(k) FILTER (WHERE delta > 0), min(k) FILTER (WHERE delta < 0) FROM d \
                 WHERE delta <> 0 GROUP BY abs(delta) HAVING bool_or(delta > 0) AND bool_or(delta < 0) LIMIT 1",
                vec![],
            ))
            .await
            .unwrap()
            .map(|row| {
                (
                    row.try_get_by_index::<String>(0).unwrap(),
                    row.try_get_by_index::<String>(1).unwrap(),
                )
            })
            .expect("a pair of scope values whose hash differences cancel");
        println!("{t:?}: pair {pair:?} found in {:?}", started.elapsed());
        let (k1, k2) = pair;
        let result = raw(
            &db,
            "INSERT INTO db_slot (kind) VALUES (?), (?)",
            vec![k1.clone().into(), k2.clone().into()],
        )
        .await;
        let rows = rows_of(
            &db,
            "SELECT kind, CAST(number AS BIGINT) FROM db_slot ORDER BY id",
        )
        .await;
        let (c1, c2) = (
            counter(&db, &format!("dbslot-{k1}")).await,
            counter(&db, &format!("dbslot-{k2}")).await,
        );
        check!(
            failures,
            matches!(
                result.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::NumberChanged { .. })
            ) && rows.is_empty(),
            "{t:?}: REFUSAL MISSING: two rows renamed by the application's trigger after ours numbered them: {result:?}; rows {rows:?}; counters dbslot-{k1} = {c1:?}, dbslot-{k2} = {c2:?}, dbslot-{} = {:?}",
            k1.to_uppercase(),
            counter(&db, &format!("dbslot-{}", k1.to_uppercase())).await
        );
        t.done().await;
    }
    verdict(failures);
}

// --------------------------- the update guard and the row as written

/// "Update: once a row is numbered, an UPDATE may not change ... the
/// columns that name its sequence ... A trigger of the application that
/// runs after the library's and changes the number or the columns its
/// sequence was computed from (say, upper-casing the scope) is refused
/// too (`NumberChanged`): the row is compared as written with the row
/// numbered." That comparison exists for the INSERT only. The update
/// guard is a BEFORE UPDATE row trigger that compares NEW with OLD when it
/// runs; a BEFORE UPDATE trigger of the application that runs after it
/// (PostgreSQL: any name after `sq_`, such as `trg_...` or `zz_...`;
/// MariaDB: any trigger created after `install_triggers`) changes NEW
/// unseen. The application normalizes its scope column on every save (a
/// migration added the trigger after rows were numbered): the first
/// re-save of a numbered row moves it to another sequence. SQLite holds
/// (its application trigger must UPDATE the numbered row itself, which
/// the guard refuses).
///
/// Reproduction (PostgreSQL, MariaDB): `INSERT INTO db_slot (kind) VALUES
/// ('w')` (number 1 of `dbslot-w`); then `CREATE TRIGGER zz_app_upper
/// BEFORE UPDATE ON db_slot ... NEW.kind := upper(NEW.kind)` (MariaDB:
/// `CREATE TRIGGER app_upper BEFORE UPDATE ON db_slot FOR EACH ROW SET
/// NEW.kind = UPPER(NEW.kind)`); `UPDATE db_slot SET kind = 'w' WHERE id =
/// 1` (SeaORM's save of the whole model): no error, the row is (W, 1);
/// `INSERT INTO db_slot (kind) VALUES ('W')` takes 1 of `dbslot-W`: two
/// rows (W, 1), and `dbslot-w`'s 1 is held by no row of kind w.
///
/// Cause: `triggers::postgres::ddl` and `triggers::mysql::ddl`
/// (sequences-core/src/triggers/{postgres,mysql}.rs), the update guard:
/// a BEFORE row trigger, with no check of the row as written (nothing like
/// the insert's `settle`) after the application's triggers ran.
#[tokio::test]
async fn a_trigger_of_the_application_that_renames_the_scope_on_update_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_updscope", ALL, 1).await {
        let db = t.db.clone();
        raw(&db, "INSERT INTO db_slot (kind) VALUES ('w')", vec![])
            .await
            .unwrap();
        let id = scalar(&db, "SELECT CAST(MAX(id) AS BIGINT) FROM db_slot", vec![])
            .await
            .unwrap();
        upper_on_update(&db, t.backend, "db_slot", "kind").await;
        let saved = raw(
            &db,
            "UPDATE db_slot SET kind = 'w' WHERE id = ?",
            vec![id.into()],
        )
        .await;
        let second = raw(&db, "INSERT INTO db_slot (kind) VALUES ('W')", vec![]).await;
        let still_lower = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM db_slot WHERE id = {id} AND {}",
                exactly(t.backend, "kind", "w")
            ),
            vec![],
        )
        .await;
        let duplicates = scalar(
            &db,
            // Byte for byte: MariaDB's default collation takes 'W' for 'w'.
            if t.backend == Backend::MySql {
                "SELECT COUNT(*) FROM (SELECT BINARY kind, number FROM db_slot WHERE number IS NOT NULL GROUP BY BINARY kind, number HAVING COUNT(*) > 1) AS d"
            } else {
                "SELECT COUNT(*) FROM (SELECT kind, number FROM db_slot WHERE number IS NOT NULL GROUP BY kind, number HAVING COUNT(*) > 1) AS d"
            },
            vec![],
        )
        .await
        .unwrap_or(0);
        let rows = rows_of(
            &db,
            "SELECT kind, CAST(number AS BIGINT) FROM db_slot ORDER BY id",
        )
        .await;
        check!(
            failures,
            still_lower == Some(1) && duplicates == 0,
            "{t:?}: REFUSAL MISSING: a numbered row's scope renamed by the application's UPDATE trigger: update {saved:?}, then insert of 'W' {second:?}; rows {rows:?}, dbslot-w = {:?}, dbslot-W = {:?}, {duplicates} duplicated number(s)",
            counter(&db, "dbslot-w").await,
            counter(&db, "dbslot-W").await
        );
        t.done().await;
    }
    verdict(failures);
}

/// The same trigger of the application, and the numberer of an
/// `after_commit` field. The numberer reads the waiting row (till `w`),
/// takes number 1 of `acr-w`, and writes it with an UPDATE; the update
/// guard lets it through (the row is unnumbered, the numberer's mark is
/// on), and the application's BEFORE UPDATE trigger, which runs after the
/// guard, upper-cases the till in the same UPDATE. No check of the row as
/// written follows (PostgreSQL's COMMIT-time trigger has one, RETURNING;
/// the numberer has none). The receipt of till `W` holds `acr-w`'s 1: a
/// gap in till w, and till W's first receipt takes 1 again. SQLite too:
/// the application's BEFORE UPDATE trigger UPDATEs the row while it is
/// still unnumbered (allowed), and SQLite then writes the numberer's
/// number over the row as that trigger left it.
///
/// Reproduction (any database): `install_triggers` of `ac_receipt`; a
/// receipt of till `w` waiting; the application's `BEFORE UPDATE` trigger
/// upper-casing `till` (PostgreSQL `zz_app_upper` with `NEW.till :=
/// upper(NEW.till)`; MariaDB `SET NEW.till = UPPER(NEW.till)`; SQLite
/// `BEGIN UPDATE ac_receipt SET till = upper(till) WHERE id = NEW.id;
/// END`); `number_pending`: no error, the row is (W, 1), `acr-w` = 1, no
/// `acr-W`.
///
/// Cause: `Numbering::number_batch` (sequences-core/src/numbering/
/// after_commit.rs) and `deferred::update_one` / `update_many`
/// (sequences-core/src/deferred.rs): the UPDATE that writes the number
/// checks only the row count, not the row as written; the update guard's
/// frozen-column check applies to rows numbered before the UPDATE.
#[tokio::test]
async fn the_numberers_update_renamed_by_a_trigger_of_the_application_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_acscope", ALL, 2).await {
        let db = t.db.clone();
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        let waiting = receipt("w").insert(&db).await.unwrap();
        upper_on_update(&db, t.backend, "ac_receipt", "till").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut errors = Vec::new();
        loop {
            if let Err(e) = receipts.number_pending(&db).await {
                errors.push(e.to_string());
            }
            let done = scalar(
                &db,
                "SELECT COUNT(*) FROM ac_receipt WHERE id = ? AND number IS NOT NULL",
                vec![waiting.id.into()],
            )
            .await;
            if done == Some(1) || Instant::now() > deadline || errors.len() > 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rows = rows_of(
            &db,
            "SELECT till, CAST(number AS BIGINT) FROM ac_receipt ORDER BY id",
        )
        .await;
        let (lower, upper) = (counter(&db, "acr-w").await, counter(&db, "acr-W").await);
        let written_upper = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM ac_receipt WHERE number IS NOT NULL AND {}",
                exactly(t.backend, "till", "W")
            ),
            vec![],
        )
        .await
        .unwrap_or(0);
        // Safe: the row numbered in the scope it is written with, or left
        // unnumbered (refused).
        check!(
            failures,
            written_upper == 0 || (upper == Some(1) && lower.is_none()),
            "{t:?}: REFUSAL MISSING: the numberer's UPDATE renamed by the application's trigger: rows {rows:?}, acr-w = {lower:?}, acr-W = {upper:?}, errors {errors:?}"
        );
        t.done().await;
    }
    verdict(failures);
}

// ---------------------------- deferred numbering: placeholders at insert

/// Deferred numbering through the helper (`sequences_core::transaction`):
/// the sequence name is computed from the row at insert (`Pending::
/// base_name`), and the number is written at COMMIT by key alone (`WHERE
/// id = k AND number IS NULL`). An ordinary edit of the still-unnumbered
/// draft in the same transaction (the user changes the invoice's company
/// before saving; a row whose number is NULL may be edited freely, the
/// update guard included) is then numbered from the company it no longer
/// belongs to: company c2's invoice holds `deferred-c1`'s number 1, c1 has
/// a number no row holds (a gap), and c2's next invoice takes 1 again (a
/// duplicate). No refusal, on the three databases; with PostgreSQL's
/// triggers installed (`db_deferred`) as well: the helper numbers the row
/// before the COMMIT-time trigger, which then finds it numbered.
///
/// Reproduction (any database): `sequences_core::transaction(&db, |txn|
/// { let saved = deferred_invoice::ActiveModel { company_id: Set(c1), ..
/// }.insert(txn)?; let mut edit: ActiveModel = saved.into(); edit.
/// company_id = Set(c2); edit.update(txn)? })`: committed; the row is
/// (c2, number 1, reference `D{c1}-YYYY-0001`), `deferred-{c1}` = 1,
/// `deferred-{c2}` absent.
///
/// Cause: `deferred::assign_all` / `update_one` / `update_many`
/// (sequences-core/src/deferred.rs): the placeholders read at insert are
/// trusted at COMMIT; neither the UPDATE nor a read before it checks that
/// the row still names the sequence its number comes from.
#[tokio::test]
async fn a_deferred_draft_moved_to_another_scope_before_commit_is_numbered_in_its_new_scope() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_defscope", ALL, 2).await {
        let db = t.db.clone();
        let (c1, c2) = (fresh_company(), fresh_company());
        let result = sequences_core::transaction::<DbErr, _, _, _>(&db, |txn| {
            Box::pin(async move {
                let saved = deferred_invoice::ActiveModel {
                    company_id: Set(c1),
                    ..Default::default()
                }
                .insert(txn)
                .await?;
                let id = saved.id;
                let mut edit: deferred_invoice::ActiveModel = saved.into();
                edit.company_id = Set(c2);
                edit.update(txn).await?;
                Ok(id)
            })
        })
        .await;
        let row = match &result {
            Ok(id) => Some((
                scalar(
                    &db,
                    "SELECT CAST(company_id AS BIGINT) FROM deferred_invoice WHERE id = ?",
                    vec![(*id).into()],
                )
                .await,
                scalar(
                    &db,
                    "SELECT CAST(number AS BIGINT) FROM deferred_invoice WHERE id = ?",
                    vec![(*id).into()],
                )
                .await,
                deferred_invoice::Entity::find_by_id(*id)
                    .one(&db)
                    .await
                    .unwrap()
                    .and_then(|r| r.reference),
            )),
            Err(_) => None,
        };
        let (n1, n2) = (
            counter(&db, &format!("deferred-{c1}")).await,
            counter(&db, &format!("deferred-{c2}")).await,
        );
        check!(
            failures,
            result.is_err()
                || (n1.is_none() && n2.is_some() && row.as_ref().and_then(|r| r.1) == n2),
            "{t:?}: NUMBERED FROM THE WRONG SEQUENCE: a deferred draft moved from company {c1} to {c2} before COMMIT: {result:?}, row {row:?}, deferred-{c1} = {n1:?}, deferred-{c2} = {n2:?}"
        );

        if t.backend == Backend::Postgres {
            // Numbered by the database at COMMIT too: the helper comes first.
            let (j1, j2) = (format!("J{c1}"), format!("J{c2}"));
            let result = sequences_core::transaction::<DbErr, _, _, _>(&db, |txn| {
                let (a, b) = (j1.clone(), j2.clone());
                Box::pin(async move {
                    let saved = db_deferred::ActiveModel {
                        journal: Set(a),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    let id = saved.id;
                    let mut edit: db_deferred::ActiveModel = saved.into();
                    edit.journal = Set(b);
                    edit.update(txn).await?;
                    Ok(id)
                })
            })
            .await;
            let (n1, n2) = (
                counter(&db, &format!("dbdef-{j1}")).await,
                counter(&db, &format!("dbdef-{j2}")).await,
            );
            check!(
                failures,
                result.is_err() || (n1.is_none() && n2 == Some(1)),
                "{t:?} (triggers installed): NUMBERED FROM THE WRONG SEQUENCE: a deferred draft moved from journal {j1} to {j2} before COMMIT: {result:?}, dbdef-{j1} = {n1:?}, dbdef-{j2} = {n2:?}"
            );
        }
        t.done().await;
    }
    verdict(failures);
}

/// The derive's own path, with the triggers installed side by side ("the
/// derive (`ActiveModel::insert`) and the triggers can number the same
/// table side by side, in one gapless series"): the derive takes the
/// number from the sequence the model names (`dbslot-w`) and inserts the
/// row with its number set; the application's everyday trigger that
/// upper-cases the scope on insert (the one #32's fix refuses for a row
/// the trigger numbers) then writes it as kind `W`. The insert trigger
/// counts the row as "not numbered here" (its number was set), so
/// `settle` compares nothing; the derive does not look at the row SeaORM
/// reads back (RETURNING shows `W`). Two rows (W, 1) after the next insert
/// of kind W. SQLite holds (the application's AFTER trigger UPDATEs a
/// numbered row: refused).
///
/// Reproduction (PostgreSQL, MariaDB): the application's BEFORE INSERT
/// trigger `NEW.kind := upper(NEW.kind)` (PostgreSQL: named `zz_...`;
/// MariaDB: created after `install_triggers`); in a transaction,
/// `db_slot::ActiveModel { kind: Set("w"), .. }.insert(&txn)`: returns
/// (W, 1), committed; `dbslot-w` = 1, no `dbslot-W`; the same with kind
/// "W": (W, 1) again.
///
/// Cause: `triggers::postgres::settle` checks the row as written only when
/// the insert trigger numbered it (`split_part(v_state, ':', 3) = '1'`),
/// `triggers::mysql::ddl` runs `settle` only for a row it numbered; and
/// `Numbering::after_save` (sequences-core/src/numbering/mod.rs) does not
/// compare the saved model's placeholders with the ones the number was
/// taken for.
#[tokio::test]
async fn a_derive_numbered_row_renamed_by_a_trigger_of_the_application_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_derivescope", ALL, 1).await {
        let db = t.db.clone();
        match t.backend {
            Backend::Postgres => {
                ok(&db, "CREATE FUNCTION app_upper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.kind := upper(NEW.kind); RETURN NEW; END $$").await;
                ok(&db, "CREATE TRIGGER zz_app_upper BEFORE INSERT ON db_slot FOR EACH ROW EXECUTE FUNCTION app_upper()").await;
            }
            Backend::MySql => {
                ok(&db, "CREATE TRIGGER app_upper BEFORE INSERT ON db_slot FOR EACH ROW SET NEW.kind = UPPER(NEW.kind)").await;
            }
            Backend::Sqlite => {
                ok(&db, "CREATE TRIGGER app_upper AFTER INSERT ON db_slot FOR EACH ROW WHEN NEW.kind <> upper(NEW.kind) BEGIN UPDATE db_slot SET kind = upper(kind) WHERE id = NEW.id; END").await;
            }
        }
        let mut results = Vec::new();
        for kind in ["w", "W"] {
            let txn = db.begin().await.unwrap();
            let saved = db_slot::ActiveModel {
                kind: Set(kind.into()),
                ..Default::default()
            }
            .insert(&txn)
            .await;
            match saved {
                Ok(model) => {
                    txn.commit().await.unwrap();
                    results.push(Ok((model.kind, model.number)));
                }
                Err(e) => {
                    txn.rollback().await.unwrap();
                    results.push(Err(e.to_string()));
                }
            }
        }
        let duplicates = scalar(
            &db,
            // Byte for byte: MariaDB's default collation takes 'W' for 'w'.
            if t.backend == Backend::MySql {
                "SELECT COUNT(*) FROM (SELECT BINARY kind, number FROM db_slot WHERE number IS NOT NULL GROUP BY BINARY kind, number HAVING COUNT(*) > 1) AS d"
            } else {
                "SELECT COUNT(*) FROM (SELECT kind, number FROM db_slot WHERE number IS NOT NULL GROUP BY kind, number HAVING COUNT(*) > 1) AS d"
            },
            vec![],
        )
        .await
        .unwrap_or(0);
        let lower = counter(&db, "dbslot-w").await.unwrap_or(0);
        let rows_lower = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM db_slot WHERE {} AND number IS NOT NULL",
                exactly(t.backend, "kind", "w")
            ),
            vec![],
        )
        .await
        .unwrap_or(0);
        check!(
            failures,
            duplicates == 0 && lower == rows_lower,
            "{t:?}: REFUSAL MISSING: a row the derive numbered renamed by the application's trigger: results {results:?}, counter dbslot-w = {lower}, {rows_lower} row(s) of kind w, {duplicates} duplicated number(s)"
        );
        t.done().await;
    }
    verdict(failures);
}

// -------------------- SQLite: the rowid under another name

/// #32's fix adds the rowid to the unique keys the replacement guard
/// watches, "unless the table is WITHOUT ROWID, or a column took its
/// name" (`triggers::table::sqlite_unique`). A column named `rowid` takes
/// that name only: the table's rowid is still there, as `_rowid_` and
/// `oid`, and a REPLACE that names it deletes the numbered row holding it,
/// with no DELETE trigger and no note: the default policy (`refuse`) is
/// bypassed, the number is gone without a trace.
///
/// Reproduction (SQLite): `CREATE TABLE col_doc (id INT PRIMARY KEY NOT
/// NULL, kind TEXT NOT NULL, number INTEGER, hash TEXT, "rowid" TEXT)`,
/// triggers of `Numbering::new().field(Number, Sequence::new("col-{kind}"))`;
/// `INSERT INTO col_doc (id, kind) VALUES (1, 'a')` (number 1); `INSERT OR
/// REPLACE INTO col_doc (_rowid_, id, kind) VALUES ((SELECT _rowid_ FROM
/// col_doc WHERE id = 1), 1000, 'a')`: no error, row 1 is gone.
///
/// Cause: `triggers::table::sqlite_unique` (sequences-core/src/triggers/
/// table.rs) leaves the rowid out when a column is named `rowid`, and
/// `triggers::sqlite::note` matches only `rowid`, which then names the
/// column.
#[tokio::test]
async fn sqlite_a_replacement_on_the_rowid_under_another_name_obeys_the_delete_policy() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_oid", &[Backend::Sqlite], 1).await {
        let db = t.db.clone();
        ok(&db, "CREATE TABLE col_doc (id INT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, number INTEGER, hash TEXT, \"rowid\" TEXT)").await;
        let numbering: Numbering<col_doc::Column> =
            Numbering::new().field(col_doc::Column::Number, Sequence::new("col-{kind}"));
        numbering.install_triggers(&db).await.unwrap();
        raw(
            &db,
            "INSERT INTO col_doc (id, kind) VALUES (1, 'a')",
            vec![],
        )
        .await
        .unwrap();
        let before = scalar(
            &db,
            "SELECT COUNT(*) FROM col_doc WHERE id = 1 AND number = 1",
            vec![],
        )
        .await;
        assert_eq!(before, Some(1), "{t:?}");
        let result = raw(
            &db,
            "INSERT OR REPLACE INTO col_doc (_rowid_, id, kind) VALUES ((SELECT _rowid_ FROM col_doc WHERE id = 1), 1000, 'a')",
            vec![],
        )
        .await;
        let after = scalar(&db, "SELECT COUNT(*) FROM col_doc WHERE id = 1", vec![]).await;
        check!(
            failures,
            matches!(
                result.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::DeleteRefused { .. })
            ) && after == Some(1),
            "{t:?}: REFUSAL MISSING: a REPLACE on `_rowid_` deleted numbered row 1 of col-a ({result:?}; row 1 left: {after:?})"
        );
        t.done().await;
    }
    verdict(failures);
}

// ------------------- MariaDB: a foreign key's ON UPDATE CASCADE

/// "Update: once a row is numbered, an UPDATE may not change ... the
/// columns that name its sequence and period". The Pitfalls list what
/// MariaDB's triggers cannot stop: TRUNCATE and `ON DELETE CASCADE`. `ON
/// UPDATE CASCADE` is the same case and is not listed: InnoDB runs no
/// trigger for a cascaded UPDATE, so renaming a referenced code (a
/// journal, a till, a kind: the scope of a sequence, as the application's
/// own foreign key says) moves every numbered row to another sequence,
/// silently. The next row of the new code takes 1 again: duplicates.
/// PostgreSQL and SQLite run the update guard for the cascaded change and
/// refuse the rename (`NumberChanged`).
///
/// Reproduction (MariaDB): `CREATE TABLE app_kind (code VARCHAR(100)
/// PRIMARY KEY)`, `('w')`; `CREATE TABLE col_doc (id INT AUTO_INCREMENT
/// PRIMARY KEY, kind VARCHAR(100) NOT NULL, number BIGINT, hash TEXT,
/// FOREIGN KEY (kind) REFERENCES app_kind (code) ON UPDATE CASCADE)`;
/// triggers of `Numbering::new().field(Number, Sequence::new("col-{kind}"))`;
/// `INSERT INTO col_doc (kind) VALUES ('w')` (1 of `col-w`); `UPDATE
/// app_kind SET code = 'v'`: no error, the row is (v, 1); `INSERT INTO
/// col_doc (kind) VALUES ('v')` takes 1 of `col-v`: two rows (v, 1).
///
/// Cause: `triggers::mysql::ddl` (sequences-core/src/triggers/mysql.rs):
/// the update guard is a trigger, which InnoDB's cascaded updates do not
/// fire; install neither refuses nor reports a cascading foreign key on a
/// frozen column, and the README does not name the case.
#[tokio::test]
async fn a_cascaded_rename_of_a_numbered_rows_scope_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_cascade", ALL, 1).await {
        let db = t.db.clone();
        let (key, big) = match t.backend {
            Backend::MySql => ("INT AUTO_INCREMENT PRIMARY KEY", "BIGINT"),
            Backend::Postgres => ("SERIAL PRIMARY KEY", "BIGINT"),
            Backend::Sqlite => ("INTEGER PRIMARY KEY", "INTEGER"),
        };
        ok(
            &db,
            "CREATE TABLE app_kind (code VARCHAR(100) NOT NULL PRIMARY KEY)",
        )
        .await;
        ok(&db, "INSERT INTO app_kind (code) VALUES ('w'), ('x')").await;
        let numbering: Numbering<col_doc::Column> =
            Numbering::new().field(col_doc::Column::Number, Sequence::new("col-{kind}"));
        if t.backend == Backend::MySql {
            // Fixed: MariaDB's install refuses the cascading foreign key it
            // cannot guard ...
            ok(&db, &format!("CREATE TABLE col_doc (id {key}, kind VARCHAR(100) NOT NULL, number {big}, hash TEXT, CONSTRAINT fk_kind FOREIGN KEY (kind) REFERENCES app_kind (code) ON UPDATE CASCADE)")).await;
            let refused = numbering.install_triggers(&db).await;
            check!(
                failures,
                matches!(refused, Err(SequenceError::InvalidNumbering { .. })),
                "{t:?}: REFUSAL MISSING: install over an ON UPDATE CASCADE foreign key: {refused:?}"
            );
            // ... and one added after the install is a limit of the
            // database (README, Pitfalls) whose effect the audit reports.
            ok(&db, "ALTER TABLE col_doc DROP FOREIGN KEY fk_kind").await;
            numbering.install_triggers(&db).await.unwrap();
            ok(&db, "ALTER TABLE col_doc ADD CONSTRAINT fk_kind FOREIGN KEY (kind) REFERENCES app_kind (code) ON UPDATE CASCADE").await;
            raw(&db, "INSERT INTO col_doc (kind) VALUES ('w')", vec![])
                .await
                .unwrap();
            raw(
                &db,
                "UPDATE app_kind SET code = 'v' WHERE code = 'w'",
                vec![],
            )
            .await
            .unwrap();
            raw(&db, "INSERT INTO col_doc (kind) VALUES ('v')", vec![])
                .await
                .unwrap();
            let report = Audit::new(col_doc::Column::Number)
                .scope([col_doc::Column::Kind])
                .sequence("col-{kind}")
                .run(&db)
                .await
                .unwrap();
            check!(
                failures,
                !report.is_clean() && report.duplicate_rows() > 0,
                "{t:?}: AUDIT LIES: a cascaded rename made a duplicate: {report:?}"
            );
            t.done().await;
            continue;
        }
        ok(&db, &format!("CREATE TABLE col_doc (id {key}, kind VARCHAR(100) NOT NULL, number {big}, hash TEXT, FOREIGN KEY (kind) REFERENCES app_kind (code) ON UPDATE CASCADE)")).await;
        numbering.install_triggers(&db).await.unwrap();
        raw(&db, "INSERT INTO col_doc (kind) VALUES ('w')", vec![])
            .await
            .unwrap();
        // The guard itself refuses the direct rename.
        let direct = raw(&db, "UPDATE col_doc SET kind = 'x'", vec![]).await;
        assert!(direct.is_err(), "{t:?}: direct rename {direct:?}");
        let renamed = raw(
            &db,
            "UPDATE app_kind SET code = 'v' WHERE code = 'w'",
            vec![],
        )
        .await;
        let next = raw(&db, "INSERT INTO col_doc (kind) VALUES ('v')", vec![]).await;
        let rows = rows_of(
            &db,
            "SELECT kind, CAST(number AS BIGINT) FROM col_doc ORDER BY id",
        )
        .await;
        let duplicates = scalar(
            &db,
            "SELECT COUNT(*) FROM (SELECT kind, number FROM col_doc GROUP BY kind, number HAVING COUNT(*) > 1) AS d",
            vec![],
        )
        .await
        .unwrap_or(0);
        check!(
            failures,
            renamed.is_err() && duplicates == 0,
            "{t:?}: REFUSAL MISSING: ON UPDATE CASCADE renamed a numbered row's scope: rename {renamed:?}, next insert {next:?}; rows {rows:?}; col-w = {:?}, col-v = {:?}",
            counter(&db, "col-w").await,
            counter(&db, "col-v").await
        );
        t.done().await;
    }
    verdict(failures);
}

// ------------- SQLite: the numbering UPDATE and a BEFORE UPDATE trigger

/// "On SQLite the numbering UPDATE finds the row as it was inserted or
/// nothing" (#32): the insert trigger numbers the row with `UPDATE ..
/// SET number = .. WHERE key = NEW.key AND number IS NULL AND kind IS
/// NEW.kind`, then refuses when `changes() = 0`. The WHERE is evaluated
/// before the UPDATE's BEFORE triggers run; a BEFORE UPDATE trigger of the
/// application that normalizes the row by updating it (the way to change
/// a row from a trigger in SQLite) changes `kind` while the row is still
/// unnumbered (no frozen column yet: allowed), and SQLite then writes the
/// number over the row as the trigger left it (it reloads the columns the
/// UPDATE does not set). `changes()` is 1: no refusal. The row is (W, 1)
/// with `dbslot-w` at 1; the next insert of kind W takes 1 again.
///
/// Reproduction (SQLite): `CREATE TRIGGER app_upper BEFORE UPDATE ON
/// db_slot FOR EACH ROW WHEN NEW.kind <> upper(NEW.kind) BEGIN UPDATE
/// db_slot SET kind = upper(kind) WHERE id = NEW.id; END`; `INSERT INTO
/// db_slot (kind) VALUES ('w')`, then `('W')`: two rows (W, 1), `dbslot-w`
/// = 1, `dbslot-W` = 1.
///
/// Cause: `triggers::sqlite::ddl` (sequences-core/src/triggers/sqlite.rs):
/// the row is compared with NEW in the UPDATE's WHERE (before the BEFORE
/// triggers), not as written; nothing reads it back after the UPDATE.
#[tokio::test]
async fn sqlite_a_before_update_trigger_of_the_application_cannot_rename_the_row_being_numbered() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_sqlbefore", &[Backend::Sqlite], 1).await {
        let db = t.db.clone();
        ok(&db, "CREATE TRIGGER app_upper BEFORE UPDATE ON db_slot FOR EACH ROW WHEN NEW.kind <> upper(NEW.kind) BEGIN UPDATE db_slot SET kind = upper(kind) WHERE id = NEW.id; END").await;
        let mut results = Vec::new();
        for kind in ["w", "W"] {
            results.push(
                raw(
                    &db,
                    "INSERT INTO db_slot (kind) VALUES (?)",
                    vec![kind.into()],
                )
                .await,
            );
        }
        let rows = rows_of(
            &db,
            "SELECT kind, CAST(number AS BIGINT) FROM db_slot ORDER BY id",
        )
        .await;
        let duplicates = scalar(
            &db,
            // Byte for byte: MariaDB's default collation takes 'W' for 'w'.
            if t.backend == Backend::MySql {
                "SELECT COUNT(*) FROM (SELECT BINARY kind, number FROM db_slot WHERE number IS NOT NULL GROUP BY BINARY kind, number HAVING COUNT(*) > 1) AS d"
            } else {
                "SELECT COUNT(*) FROM (SELECT kind, number FROM db_slot WHERE number IS NOT NULL GROUP BY kind, number HAVING COUNT(*) > 1) AS d"
            },
            vec![],
        )
        .await
        .unwrap_or(0);
        let lower = counter(&db, "dbslot-w").await.unwrap_or(0);
        let rows_lower = scalar(
            &db,
            "SELECT COUNT(*) FROM db_slot WHERE kind = 'w' AND number IS NOT NULL",
            vec![],
        )
        .await
        .unwrap_or(0);
        check!(
            failures,
            duplicates == 0 && lower == rows_lower,
            "{t:?}: REFUSAL MISSING: the row being numbered renamed by the application's BEFORE UPDATE trigger: {results:?}; rows {rows:?}; dbslot-w = {lower}, {duplicates} duplicated number(s)"
        );
        t.done().await;
    }
    verdict(failures);
}

// ------------------------------------------------------ guards that hold

/// Held (regression guard), SQLite: the replacement guard compares a new
/// row's unique values as the index will, after the column's affinity: an
/// integer given for a TEXT unique column (`5` for `'5'`) is noted and the
/// REPLACE of the numbered row holding it refused; the same through
/// `UPDATE OR REPLACE`.
#[tokio::test]
async fn sqlite_a_replacement_through_affinity_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("r33_affinity", &[Backend::Sqlite], 1).await {
        let db = t.db.clone();
        ok(&db, "CREATE TABLE col_doc (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, number INTEGER, hash TEXT, code TEXT UNIQUE)").await;
        let numbering: Numbering<col_doc::Column> =
            Numbering::new().field(col_doc::Column::Number, Sequence::new("col-{kind}"));
        numbering.install_triggers(&db).await.unwrap();
        raw(
            &db,
            "INSERT INTO col_doc (kind, code) VALUES ('a', '5')",
            vec![],
        )
        .await
        .unwrap();
        raw(
            &db,
            "INSERT INTO col_doc (kind, code) VALUES ('a', '6')",
            vec![],
        )
        .await
        .unwrap();
        for statement in [
            "INSERT OR REPLACE INTO col_doc (kind, code) VALUES ('a', 5)",
            "UPDATE OR REPLACE col_doc SET code = 5 WHERE code = '6'",
        ] {
            let result = raw(&db, statement, vec![]).await;
            let left = scalar(
                &db,
                "SELECT COUNT(*) FROM col_doc WHERE number IS NOT NULL",
                vec![],
            )
            .await;
            check!(
                failures,
                matches!(
                    result.as_ref().err().and_then(SequenceError::from_database),
                    Some(SequenceError::DeleteRefused { .. })
                ) && left == Some(2),
                "{t:?}: `{statement}`: {result:?}, {left:?} numbered row(s) left"
            );
        }
        t.done().await;
    }
    verdict(failures);
}
