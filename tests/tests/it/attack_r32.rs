//! A hostile auditor's second round (#32): the fixes of #31 and the code
//! that changed with them (the triggers built from the library's pieces,
//! the numberer's mark, the pending audit's own watch, the audits'
//! snapshot). Each attack uses ordinary application privileges only (raw
//! SQL, concurrent transactions, objects of the application's own), never
//! the library's triggers or tables' definitions, and asserts the SAFE
//! behaviour, so that it FAILS while the hole is there.
//!
//! Everything runs in scratch databases of its own (tag `r32_*`), removed
//! at the end. A `check!` collects the broken promises per database.

use std::time::{Duration, Instant};

use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, TransactionTrait};
use sequences_core::{Audit, Numbering, Sequence, SequenceError};
use sequences_tests::entities::{ac_receipt, col_doc, db_doc, db_slot};
use sequences_tests::{Backend, statement, try_execute as raw};

use super::attack_support::*;

// ---------------------------------------------------------------- helpers

/// Runs the numberer until row `id` of `table` is numbered (PostgreSQL
/// numbers only rows older than every transaction of the server).
async fn number_until<K>(db: &DatabaseConnection, numbering: &Numbering<K>, table: &str, id: i32)
where
    K: sea_orm::ColumnTrait,
    K::EntityName: sea_orm::EntityTrait<Column = K>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        numbering.number_pending(db).await.unwrap();
        let numbered = scalar(
            db,
            &format!("SELECT COUNT(*) FROM {table} WHERE id = ? AND number IS NOT NULL"),
            vec![id.into()],
        )
        .await;
        if numbered == Some(1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "row {id} of {table} never numbered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------- Audit::pending: the watch

/// The watch follows waiting rows by key; a watched key that leaves the
/// waiting rows while a row still holds it is taken for "numbered or
/// refused" (`keys_present`), and only a key that vanished makes the audit
/// watch the rows that arrived since. So: move the waiting row to a new
/// key and, in the same transaction, give its old key to a numbered row.
/// The key is present (a numbered row holds it), the waiting row under its
/// new key is never watched: with no numberer running at all, the audit
/// says clean over a row that waits for ever.
///
/// Reproduction (any database): receipt N of till A numbered (1), receipt
/// W of till A waiting, no numberer; `Audit::new(ac_receipt::Column::Number)
/// .scope([Till]).sequence("acr-{till}").row_key([Id]).pending(3 s).run(&db)`;
/// 300 ms later, in one transaction: `UPDATE ac_receipt SET id = 1000000
/// WHERE id = W; UPDATE ac_receipt SET id = W WHERE id = N`. The audit:
/// `waiting: 1, overdue: 0`, `is_clean()`.
///
/// Cause: `Audit::pending_rows` (sequences-core/src/audit/pending.rs): a
/// key found present is trusted to be the same row, numbered.
#[tokio::test]
async fn a_waiting_row_whose_key_goes_to_a_numbered_row_is_still_overdue() {
    let mut failures = Vec::new();
    for t in scratch_all("r32_keyswap", ALL, 3).await {
        let db = t.db.clone();
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        let numbered = receipt("A").insert(&db).await.unwrap();
        number_until(&db, receipts, "ac_receipt", numbered.id).await;
        // Fixed (round 3): the update guard keeps a waiting row's key
        // (KeyChanged). With the triggers removed, the audit cannot trust
        // keys, and must still not say clean.
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
                        .pending(Duration::from_secs(5))
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
            raw(
                &txn,
                "UPDATE ac_receipt SET id = ? WHERE id = ?",
                vec![waiting.id.into(), numbered.id.into()],
            )
            .await
            .unwrap();
            txn.commit().await.unwrap();
            let report = audit.await.unwrap();
            let unnumbered = scalar(
                &db,
                "SELECT COUNT(*) FROM ac_receipt WHERE number IS NULL",
                vec![],
            )
            .await;
            assert_eq!(unnumbered, Some(1), "{t:?}");
            check!(
                failures,
                !report.is_clean(),
                "{t:?}: AUDIT LIES: clean while no numberer runs and a row waits under a new key: pending {:?}",
                report.pending
            );
        }
        t.done().await;
    }
    verdict(failures);
}

/// The waiting rows the watch starts from leave out the refused ones
/// (`audit_waiting`), and the refusals are read once the watch is over. A
/// refusal deleted meanwhile (the README's way to let the numberer try a
/// row again) leaves a row that was in neither list: never watched, not
/// refused at the end, and not unnumbered either (`pending_rows` sets every
/// group's `unnumbered` to 0). With no numberer to try it again, the audit
/// says clean over a row that waits for ever.
///
/// Reproduction (any database): `Sequence::new("acr-B").close(&txn)`; a
/// receipt K of till B; `number_pending` refuses it (closed); a receipt W
/// of till A waiting. Start the pending audit (3 s); `number_pending`
/// numbers W (and skips K, still refused); `DELETE FROM sequence_refusals`.
/// The audit: `waiting: 1, overdue: 0, refused: []`, clean; K is NULL.
///
/// Cause: `Audit::pending_rows` (audit/pending.rs): the rows waiting are
/// read once, before the watch, without the refused ones; the refusals
/// once, after it: a row that moves from one to the other in between is
/// in neither.
#[tokio::test]
async fn a_refusal_deleted_while_the_pending_audit_watches_leaves_no_row_unaccounted() {
    let mut failures = Vec::new();
    for t in scratch_all("r32_refgone", ALL, 3).await {
        let db = t.db.clone();
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        let txn = db.begin().await.unwrap();
        Sequence::new("acr-B").close(&txn).await.unwrap();
        txn.commit().await.unwrap();
        let refused = receipt("B").insert(&db).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while refusals(&db, "ac_receipt").await == 0 {
            receipts.number_pending(&db).await.unwrap();
            assert!(Instant::now() < deadline, "{t:?}: never refused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let waiting = receipt("A").insert(&db).await.unwrap();
        let audit = {
            let db = db.clone();
            tokio::spawn(async move {
                Audit::new(ac_receipt::Column::Number)
                    .scope([ac_receipt::Column::Till])
                    .sequence("acr-{till}")
                    .row_key([ac_receipt::Column::Id])
                    .pending(Duration::from_secs(5))
                    .run(&db)
                    .await
                    .unwrap()
            })
        };
        // The audit's first look is long done.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        number_until(&db, receipts, "ac_receipt", waiting.id).await;
        // "Deleting a refusal also lets it try again" (README).
        raw(
            &db,
            "DELETE FROM sequence_refusals WHERE table_name = 'ac_receipt'",
            vec![],
        )
        .await
        .unwrap();
        let report = audit.await.unwrap();
        let still = scalar(
            &db,
            "SELECT COUNT(*) FROM ac_receipt WHERE id = ? AND number IS NULL",
            vec![refused.id.into()],
        )
        .await;
        assert_eq!(still, Some(1), "{t:?}");
        println!("{t:?}: {:?}", report.pending);
        check!(
            failures,
            !report.is_clean(),
            "{t:?}: AUDIT LIES: clean while row {} is unnumbered, neither watched nor refused: pending {:?}",
            refused.id,
            report.pending
        );
        t.done().await;
    }
    verdict(failures);
}

// ------------------------------- SQLite: a replacement on the rowid

/// "Every statement that deletes a row by replacing it obeys the delete
/// policy ... on SQLite ... the triggers note the numbered rows a
/// statement's new row conflicts with (the key and every plain unique
/// index)". A table whose primary key is not an alias of the rowid
/// (`id INT PRIMARY KEY`, `INTEGER PRIMARY KEY DESC`, a text key) still has
/// a rowid, itself a unique key: `INSERT OR REPLACE` or `UPDATE OR REPLACE`
/// naming the rowid of a numbered row deletes it, with no DELETE trigger
/// and no note. The default policy (`refuse`) is bypassed silently.
///
/// Reproduction (SQLite): `CREATE TABLE col_doc (id INT PRIMARY KEY NOT
/// NULL, kind TEXT NOT NULL, number INTEGER, hash TEXT)`, triggers of
/// `Numbering::new().field(Number, Sequence::new("col-{kind}"))`; `INSERT
/// INTO col_doc (id, kind) VALUES (1, 'a')` (number 1); `INSERT OR REPLACE
/// INTO col_doc (rowid, id, kind) VALUES ((SELECT rowid FROM col_doc WHERE
/// id = 1), 2, 'a')`: no error, row 1 (number 1) is gone, the new row has
/// number 2.
///
/// Cause: `triggers::sqlite::note` matches the key columns and the unique
/// indexes (`numbering::by_database::sqlite_unique`), never the rowid.
#[tokio::test]
async fn sqlite_a_replacement_on_the_rowid_obeys_the_delete_policy() {
    let mut failures = Vec::new();
    for t in scratch_all("r32_rowid", &[Backend::Sqlite], 1).await {
        let db = t.db.clone();
        ok(&db, "CREATE TABLE col_doc (id INT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, number INTEGER, hash TEXT)").await;
        let numbering: Numbering<col_doc::Column> =
            Numbering::new().field(col_doc::Column::Number, Sequence::new("col-{kind}"));
        numbering.install_triggers(&db).await.unwrap();
        for (i, statement) in [
            "INSERT OR REPLACE INTO col_doc (rowid, id, kind) VALUES ((SELECT rowid FROM col_doc WHERE number = 1), 1000, 'a')",
            "UPDATE OR REPLACE col_doc SET rowid = (SELECT rowid FROM col_doc WHERE number = 1) WHERE id = 2000",
        ]
        .into_iter()
        .enumerate()
        {
            // A fresh start: no rows, no counter.
            numbering.remove_triggers(&db).await.unwrap();
            ok(&db, "DELETE FROM col_doc").await;
            ok(&db, "DELETE FROM sequences").await;
            numbering.install_triggers(&db).await.unwrap();
            raw(&db, "INSERT INTO col_doc (id, kind) VALUES (1, 'a')", vec![])
                .await
                .unwrap();
            if i == 1 {
                // An unnumbered row of another kind (its own counter).
                raw(&db, "INSERT INTO col_doc (id, kind) VALUES (2000, 'b')", vec![])
                    .await
                    .unwrap();
            }
            let before = scalar(&db, "SELECT COUNT(*) FROM col_doc WHERE id = 1 AND number = 1", vec![]).await;
            assert_eq!(before, Some(1), "{t:?}");
            let result = raw(&db, statement, vec![]).await;
            let after = scalar(&db, "SELECT COUNT(*) FROM col_doc WHERE id = 1", vec![]).await;
            check!(
                failures,
                matches!(
                    result.as_ref().err().and_then(SequenceError::from_database),
                    Some(SequenceError::DeleteRefused { .. })
                ) && after == Some(1),
                "{t:?}: REFUSAL MISSING: `{statement}` deleted numbered row 1 of col-a ({result:?}; row 1 left: {after:?})"
            );
        }
        t.done().await;
    }
    verdict(failures);
}

// ------------- another trigger of the application, on the scope this time

/// #31 closed "a trigger of the application that clears or skips the
/// number after ours" by checking the row as written: its NUMBER. A
/// trigger of the application that normalizes the scope after ours (an
/// everyday `NEW.kind := upper(trim(NEW.kind))`, created after
/// `install_triggers`, so it runs after the library's on MariaDB, or named
/// after `sq_...` on PostgreSQL, which runs triggers in name order) changes
/// the SEQUENCE the number belongs to: the library took number 1 of
/// `dbslot-w`, the row says it is number 1 of `dbslot-W`. No refusal; a
/// second insert takes number 1 of `dbslot-w` again for another row of
/// kind `W`: two rows of kind W numbered 1, counter dbslot-W absent.
///
/// Reproduction (PostgreSQL): `CREATE FUNCTION app_upper() ... NEW.kind :=
/// upper(NEW.kind)`; `CREATE TRIGGER zz_app_upper BEFORE INSERT ON db_slot
/// ...`; `INSERT INTO db_slot (kind) VALUES ('w')` twice: rows (W, 1),
/// (W, 2) but counters `dbslot-w` = 2, no `dbslot-W`; `INSERT ... ('W')`
/// then takes dbslot-W's 1: a duplicate. MariaDB: `CREATE TRIGGER
/// app_upper BEFORE INSERT ON db_slot FOR EACH ROW SET NEW.kind =
/// UPPER(NEW.kind)` (after install), the same.
///
/// SQLite, whose BEFORE triggers cannot change a row, normalizes in an
/// AFTER INSERT trigger (`UPDATE db_slot SET kind = upper(kind) WHERE id =
/// NEW.id`): created after the library's, it runs first, while the row is
/// still unnumbered (no frozen column yet), and the library's AFTER
/// trigger then names the sequence from `NEW.kind` (the row as inserted,
/// 'w'), not from the row as it now is ('W'): the same result.
///
/// Cause: `triggers::postgres::settle` compares the numbers' hashes only,
/// `triggers::mysql::settle` the number only; neither checks the columns
/// the sequence name was computed from (the frozen columns the UPDATE
/// guard protects). `triggers::sqlite::ddl` computes the name from `NEW`
/// and updates the row by key without re-reading it.
#[tokio::test]
async fn a_trigger_of_the_application_that_changes_the_scope_after_ours_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("r32_appscope", ALL, 1).await {
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
                // SQLite's BEFORE triggers cannot change NEW; an AFTER
                // trigger's UPDATE of the scope is refused by the guard.
                ok(&db, "CREATE TRIGGER app_upper AFTER INSERT ON db_slot FOR EACH ROW BEGIN UPDATE db_slot SET kind = upper(kind) WHERE id = NEW.id; END").await;
            }
        }
        let mut results = Vec::new();
        for kind in ["w", "w", "W"] {
            results.push(
                raw(
                    &db,
                    "INSERT INTO db_slot (kind) VALUES (?)",
                    vec![kind.into()],
                )
                .await,
            );
        }
        let duplicates = scalar(
            &db,
            "SELECT COUNT(*) FROM (SELECT kind, number FROM db_slot WHERE number IS NOT NULL GROUP BY kind, number HAVING COUNT(*) > 1) AS d",
            vec![],
        )
        .await
        .unwrap_or(0);
        let lower = counter(&db, "dbslot-w").await.unwrap_or(0);
        // Byte for byte: MariaDB's default collation takes 'W' for 'w'.
        let lower_kind = match t.backend {
            Backend::MySql => "BINARY kind = 'w'",
            _ => "kind = 'w'",
        };
        let rows_lower = scalar(
            &db,
            &format!("SELECT COUNT(*) FROM db_slot WHERE {lower_kind} AND number IS NOT NULL"),
            vec![],
        )
        .await
        .unwrap_or(0);
        let rows: Vec<(String, Option<i32>)> = db
            .query_all_raw(statement(
                db.get_database_backend(),
                "SELECT kind, number FROM db_slot ORDER BY id",
                vec![],
            ))
            .await
            .ok()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        (
                            r.try_get_by_index(0).unwrap(),
                            r.try_get_by_index(1).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        check!(
            failures,
            duplicates == 0 && lower == rows_lower,
            "{t:?}: REFUSAL MISSING: an application trigger renamed the scope after the library numbered: results {results:?}, rows {rows:?}, counter dbslot-w = {lower}, {duplicates} duplicated number(s)"
        );
        t.done().await;
    }
    verdict(failures);
}

/// The watch covers "the first 10,000 in key order" of the waiting rows,
/// and `pending_rows` sets every group's `unnumbered` to 0: a waiting row
/// past the first 10,000 is counted nowhere. When those 10,000 are
/// numbered within `max_wait` and the 10,001st is held back for ever
/// (PostgreSQL: by a transaction left open on the server, which the README
/// says "count as waiting"; MariaDB: by a row lock the numberer waits
/// behind), the audit says clean: `waiting: 10000, overdue: 0`, and
/// nothing in the report says that a row was left out.
///
/// Reproduction (PostgreSQL): 10,000 receipts committed; another session
/// `BEGIN; SELECT txid_current();` and stays open; one more receipt; a
/// numberer running; `Audit::...pending(20 s)`: clean, with receipt 10,001
/// unnumbered. MariaDB: the same with the session holding `SELECT id FROM
/// ac_receipt WHERE id = 10001 FOR UPDATE`.
///
/// Cause: `Audit::pending_rows` (audit/pending.rs, `WATCHED`): the rows
/// past the limit are neither watched, nor counted unnumbered, nor
/// reported as not watched.
///
/// Fixed: the watch covers 1,000,000 rows and reports the rest as
/// `PendingRows::unwatched` (not clean); here the held row is watched, and
/// overdue.
#[tokio::test]
async fn a_row_past_the_watched_ten_thousand_that_waits_for_ever_is_a_defect() {
    let mut failures = Vec::new();
    for t in scratch_all("r32_tenk", &[Backend::Postgres, Backend::MySql], 4).await {
        let db = t.db.clone();
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
        ok(&db, &format!("INSERT INTO ac_receipt (till) SELECT 'T' FROM {digits} a, {digits} b, {digits} c, {digits} d")).await;
        let other = sequences_tests::open(&t.url, 1).await;
        let holder = other.begin().await.unwrap();
        if t.backend == Backend::Postgres {
            raw(&holder, "SELECT txid_current()", vec![]).await.unwrap();
        }
        let last = receipt("T").insert(&db).await.unwrap();
        if t.backend == Backend::MySql {
            raw(
                &holder,
                "SELECT id FROM ac_receipt WHERE id = ? FOR UPDATE",
                vec![last.id.into()],
            )
            .await
            .unwrap();
        }
        let audit = {
            let db = db.clone();
            tokio::spawn(async move {
                Audit::new(ac_receipt::Column::Number)
                    .scope([ac_receipt::Column::Till])
                    .sequence("acr-{till}")
                    .row_key([ac_receipt::Column::Id])
                    .pending(Duration::from_secs(12))
                    .run(&db)
                    .await
                    .unwrap()
            })
        };
        // The audit's first look (10,001 rows waiting) is long done: then
        // a numberer starts.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let numberer = {
            let db = db.clone();
            tokio::spawn(async move {
                loop {
                    let _ = receipts.number_pending(&db).await;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let report = audit.await.unwrap();
        let held = scalar(
            &db,
            "SELECT COUNT(*) FROM ac_receipt WHERE id = ? AND number IS NULL",
            vec![last.id.into()],
        )
        .await;
        numberer.abort();
        let _ = numberer.await;
        holder.rollback().await.unwrap();
        other.close().await.unwrap();
        println!("{t:?}: {:?}", report.pending);
        assert_eq!(
            held,
            Some(1),
            "{t:?}: inconclusive, row {} was numbered",
            last.id
        );
        check!(
            failures,
            !report.is_clean(),
            "{t:?}: AUDIT LIES: clean while receipt {} (the 10,001st waiting) is held back for ever: pending {:?}",
            last.id,
            report.pending
        );
        t.done().await;
    }
    verdict(failures);
}

// ------------------- MariaDB: a skipped row's number leaks through VALUES()

/// "Only rows that are inserted take a number, whatever skips the others:
/// ... ON DUPLICATE KEY UPDATE ... MariaDB moves the counter in an AFTER
/// INSERT trigger, which runs only for a row written." The counter does not
/// move; but the BEFORE INSERT trigger has already written the number into
/// the row that is skipped, and `VALUES(number)` hands it to the UPDATE of
/// the conflicting row: an "upsert every column" (what SeaORM's
/// `OnConflict::update_columns` writes) over a row whose number is NULL (a
/// row from before the triggers, an import) numbers it with the next
/// number, counter unmoved. The next insert takes the same number: a
/// duplicate, no refusal. PostgreSQL (the insert trigger skips a row whose
/// key is taken) and SQLite (numbered after the row is written) hold.
///
/// Reproduction (MariaDB): a row (100, 'q', NULL) of `db_slot` written
/// before `install_triggers`; `INSERT INTO db_slot (id, kind) VALUES (100,
/// 'q') ON DUPLICATE KEY UPDATE kind = VALUES(kind), number =
/// VALUES(number)`: row 100 has number 1, counter `dbslot-q` still 0;
/// `INSERT INTO db_slot (kind) VALUES ('q')`: number 1 again.
///
/// Cause: `triggers::mysql::ddl` numbers `NEW` in the BEFORE INSERT
/// trigger and only moves the counter in `settle`; the UPDATE guard does
/// not check a number given to an unnumbered row of a field numbered on
/// insert.
#[tokio::test]
async fn an_upsert_of_every_column_gives_no_number_the_counter_did_not_move() {
    let mut failures = Vec::new();
    for t in scratch_all("r32_values", ALL, 1).await {
        let db = t.db.clone();
        let slots = db_slot::ActiveModel::gapless_numbering();
        slots.remove_triggers(&db).await.unwrap();
        raw(
            &db,
            "INSERT INTO db_slot (id, kind, number) VALUES (100, 'q', NULL)",
            vec![],
        )
        .await
        .unwrap();
        slots.install_triggers(&db).await.unwrap();
        let upsert = match t.backend {
            Backend::MySql => {
                "INSERT INTO db_slot (id, kind) VALUES (100, 'q') ON DUPLICATE KEY UPDATE kind = VALUES(kind), number = VALUES(number)"
            }
            _ => {
                "INSERT INTO db_slot (id, kind) VALUES (100, 'q') ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, number = excluded.number"
            }
        };
        let upserted = raw(&db, upsert, vec![]).await;
        let inserted = raw(&db, "INSERT INTO db_slot (kind) VALUES ('q')", vec![]).await;
        let duplicates = scalar(
            &db,
            "SELECT COUNT(*) FROM (SELECT number FROM db_slot WHERE kind = 'q' AND number IS NOT NULL GROUP BY number HAVING COUNT(*) > 1) AS d",
            vec![],
        )
        .await
        .unwrap_or(0);
        let numbered = scalar(
            &db,
            "SELECT COUNT(number) FROM db_slot WHERE kind = 'q'",
            vec![],
        )
        .await
        .unwrap_or(0);
        let last = counter(&db, "dbslot-q").await.unwrap_or(0);
        check!(
            failures,
            duplicates == 0 && numbered == last,
            "{t:?}: NUMBER LEAKED: `{upsert}` ({upserted:?}) then an insert ({inserted:?}): {numbered} numbered row(s) of q, counter {last}, {duplicates} duplicated number(s)"
        );
        t.done().await;
    }
    verdict(failures);
}

// ------------------------------------------------------ guards that hold

/// Held (regression guard): PostgreSQL, one query with two data-modifying
/// CTEs inserting into the same numbered table (the same key twice under
/// `ON CONFLICT DO NOTHING`, and two rows): the statement check counts
/// both, nothing leaks. MariaDB: `DELETE IGNORE` does not turn the delete
/// policy's refusal into a warning.
#[tokio::test]
async fn odd_statements_that_hold() {
    let mut failures = Vec::new();
    for t in scratch_all("r32_odd", &[Backend::Postgres, Backend::MySql], 1).await {
        let db = t.db.clone();
        match t.backend {
            Backend::Postgres => {
                ok(&db, "WITH a AS (INSERT INTO db_slot (kind) VALUES ('c') RETURNING id) INSERT INTO db_slot (kind) SELECT 'c' FROM a").await;
                ok(&db, "WITH a AS (INSERT INTO db_slot (id, kind) VALUES (500, 'd') ON CONFLICT DO NOTHING RETURNING id) INSERT INTO db_slot (id, kind) VALUES (500, 'd') ON CONFLICT DO NOTHING").await;
                for (kind, rows) in [("c", 2), ("d", 1)] {
                    let last = counter(&db, &format!("dbslot-{kind}")).await;
                    check!(
                        failures,
                        last == Some(rows),
                        "{t:?}: dbslot-{kind} at {last:?}, {rows} row(s)"
                    );
                }
            }
            _ => {
                db_doc::ActiveModel::gapless_numbering()
                    .install_triggers(&db)
                    .await
                    .ok();
                ok(&db, "INSERT INTO db_doc (book, issued_on) VALUES ('b', '2026-01-02'), ('b', '2026-01-03')").await;
                let result = raw(&db, "DELETE IGNORE FROM db_doc", vec![]).await;
                let left = scalar(&db, "SELECT COUNT(*) FROM db_doc", vec![]).await;
                check!(
                    failures,
                    result.is_err() && left == Some(2),
                    "{t:?}: DELETE IGNORE of refused rows: {result:?}, {left:?} left"
                );
            }
        }
        t.done().await;
    }
    verdict(failures);
}

// ------------------------- the same classes, beyond the attack's instances

/// The round's fix for `VALUES(number)` refuses every UPDATE that gives an
/// unnumbered row a number, whatever the moment: a legacy row (from before
/// the triggers) given a number by hand would take one the counter hands
/// out again. On PostgreSQL, a `deferred` row waiting for COMMIT is the
/// same case: an UPDATE of its number in its own transaction made the
/// COMMIT-time trigger skip it. And the COMMIT-time trigger checks the row
/// as its UPDATE wrote it: a trigger of the application that changes what
/// the sequence was computed from is refused, as it is at insert.
#[tokio::test]
async fn an_unnumbered_row_gets_its_number_from_the_library_alone() {
    let mut failures = Vec::new();
    for t in scratch_all("r32_unnumbered", ALL, 1).await {
        let db = t.db.clone();
        let slots = db_slot::ActiveModel::gapless_numbering();
        slots.remove_triggers(&db).await.unwrap();
        raw(
            &db,
            "INSERT INTO db_slot (id, kind, number) VALUES (200, 'L', NULL)",
            vec![],
        )
        .await
        .unwrap();
        slots.install_triggers(&db).await.unwrap();
        let set = raw(&db, "UPDATE db_slot SET number = 1 WHERE id = 200", vec![]).await;
        check!(
            failures,
            matches!(
                set.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::NumberSet { .. })
            ),
            "{t:?}: REFUSAL MISSING: a legacy row given number 1 by hand: {set:?}"
        );
        raw(&db, "INSERT INTO db_slot (kind) VALUES ('L')", vec![])
            .await
            .unwrap();
        let ones = scalar(
            &db,
            "SELECT COUNT(*) FROM db_slot WHERE kind = 'L' AND number = 1",
            vec![],
        )
        .await;
        check!(
            failures,
            ones == Some(1) && counter(&db, "dbslot-L").await == Some(1),
            "{t:?}: number 1 of dbslot-L on {ones:?} row(s)"
        );

        if t.backend == Backend::Postgres {
            // A deferred row's number chosen before its COMMIT.
            let txn = db.begin().await.unwrap();
            let id = scalar(
                &txn,
                "INSERT INTO db_deferred (journal) VALUES ('D') RETURNING CAST(id AS BIGINT)",
                vec![],
            )
            .await
            .unwrap();
            let set = raw(
                &txn,
                "UPDATE db_deferred SET number = 5 WHERE id = ?",
                vec![id.into()],
            )
            .await;
            txn.rollback().await.unwrap();
            check!(
                failures,
                matches!(
                    set.as_ref().err().and_then(SequenceError::from_database),
                    Some(SequenceError::NumberSet { .. })
                ),
                "{t:?}: REFUSAL MISSING: a deferred row's number set before COMMIT: {set:?}"
            );
            // A trigger of the application that changes the scope of the
            // row the COMMIT-time trigger numbers.
            ok(&db, "CREATE FUNCTION app_upper_journal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.journal := upper(NEW.journal); RETURN NEW; END $$").await;
            ok(&db, "CREATE TRIGGER zz_app_upper BEFORE UPDATE ON db_deferred FOR EACH ROW EXECUTE FUNCTION app_upper_journal()").await;
            let txn = db.begin().await.unwrap();
            raw(
                &txn,
                "INSERT INTO db_deferred (journal) VALUES ('d')",
                vec![],
            )
            .await
            .unwrap();
            let committed = txn.commit().await;
            let rows = scalar(&db, "SELECT COUNT(*) FROM db_deferred", vec![]).await;
            check!(
                failures,
                matches!(
                    committed
                        .as_ref()
                        .err()
                        .and_then(SequenceError::from_database),
                    Some(SequenceError::NumberChanged { .. })
                ) && rows == Some(0)
                    && counter(&db, "dbdef-d").await.unwrap_or(0) == 0,
                "{t:?}: REFUSAL MISSING: the COMMIT-time trigger's row renamed by the application: {committed:?}, {rows:?} row(s)"
            );
        }
        t.done().await;
    }
    verdict(failures);
}
