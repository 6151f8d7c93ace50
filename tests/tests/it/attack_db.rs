//! An adversary's tests of "Numbered by the database": each attack (raw SQL
//! by someone with write access, or a careless colleague's statement) tries
//! to make the triggers, their refusals, `Numbering::check_triggers` or the
//! `Audit` lie, and asserts the SAFE behaviour: refused with an error before
//! anything is consumed, or reported by the audit.
//!
//! Fifteen of them found holes when written; ten were closed and pass now.
//! The five left are marked `#[ignore = "..."]` with why: `limit:` where the
//! database gives no hook (MariaDB's TRUNCATE, its cascades, its temporary
//! tables) and `by design:` where the writer chose the number; each leaves a
//! defect the audit of the numbers reports, and the README's Pitfalls list
//! them. The others pass: the defence holds, and they guard it against
//! regressions.
//!
//! Whatever leaves a defect behind or touches triggers runs on a scratch
//! database of its own (`Scratch`, tag `atk_*`), removed at the end; the
//! shared tables only get rows of a fresh journal / book / company.

use sea_orm::{ColumnTrait, prelude::Date};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use sequences_core::{Audit, AuditReport, SequenceError, TriggerState};
use sequences_tests::entities::{db_deferred, db_doc, db_invoice, db_slot};
use sequences_tests::{Backend, statement, try_execute as raw, unique_name};

use super::attack_support::{ALL, check, ok, scratch_all, verdict};

/// One connection per scratch database: a SQLite connection whose schema
/// is stale refuses `CREATE TRIGGER` over a trigger another connection just
/// dropped.
const ONE: u32 = 1;

// ---------------------------------------------------------------- helpers

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

/// A journal (or book, kind) no other test uses.
fn fresh(prefix: &str) -> String {
    unique_name(prefix).replace('-', "")
}

async fn scalar_i64<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
    db.query_one_raw(statement(db.get_database_backend(), sql, values))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn slot_numbers<C: ConnectionTrait>(db: &C, kind: &str) -> Vec<Option<i32>> {
    db_slot::Entity::find()
        .filter(db_slot::Column::Kind.eq(kind))
        .order_by_asc(db_slot::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.number)
        .collect()
}

async fn slot_last<C: ConnectionTrait>(db: &C, kind: &str) -> Option<i64> {
    sequences_core::Sequence::new(format!("dbslot-{kind}"))
        .last_value(db)
        .await
        .unwrap()
}

async fn insert_slot<C: ConnectionTrait>(db: &C, kind: &str) {
    try_insert_slot(db, kind).await.unwrap();
}

async fn try_insert_slot<C: ConnectionTrait>(db: &C, kind: &str) -> Result<u64, sea_orm::DbErr> {
    raw(
        db,
        "INSERT INTO db_slot (kind) VALUES (?)",
        vec![kind.into()],
    )
    .await
}

async fn slot_id<C: ConnectionTrait>(db: &C, kind: &str, number: i32) -> i32 {
    db_slot::Entity::find()
        .filter(db_slot::Column::Kind.eq(kind))
        .filter(db_slot::Column::Number.eq(number))
        .one(db)
        .await
        .unwrap()
        .expect("the numbered slot")
        .id
}

/// Every db_slot counter and row of the database.
async fn slot_audit<C: ConnectionTrait + TransactionTrait>(db: &C) -> AuditReport {
    Audit::new(db_slot::Column::Number)
        .scope([db_slot::Column::Kind])
        .sequence("dbslot-{kind}")
        .run(db)
        .await
        .unwrap()
}

/// Every db_doc counter and row of the database.
async fn doc_audit<C: ConnectionTrait + TransactionTrait>(db: &C) -> AuditReport {
    Audit::new(db_doc::Column::Reference)
        .format("{book}/{year}/{value:04}")
        .scope([db_doc::Column::Book])
        .sequence("dbdoc-{book}")
        .period(sequences_core::Period::Year)
        .run(db)
        .await
        .unwrap()
}

/// Every 2026 db_invoice counter and row of the database, in date order.
async fn invoice_audit<C: ConnectionTrait + TransactionTrait>(db: &C, year: i32) -> AuditReport {
    Audit::new(db_invoice::Column::Number)
        .scope([db_invoice::Column::Journal])
        .sequence(format!("dbinv-{{journal}}@{year}"))
        .date(db_invoice::Column::IssuedOn)
        .run(db)
        .await
        .unwrap()
}

async fn slot_state<C: ConnectionTrait>(db: &C) -> TriggerState {
    db_slot::ActiveModel::gapless_numbering()
        .check_triggers(db)
        .await
        .unwrap()[0]
        .1
        .clone()
}

/// `Numbering`'s register digest (`triggers::digest`), as anyone can
/// recompute it: SHA-256 over each text's length (u64, big endian) and bytes.
fn digest<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for text in texts {
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The catalog's text of `table`'s triggers named in the register, as
/// `triggers::catalog::installed` reads it (the query is in the source).
async fn catalog_digest<C: ConnectionTrait>(db: &C, table: &str, names: &[String]) -> String {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT CAST(t.tgname AS TEXT), CAST(t.tgenabled AS TEXT) || ' ' || pg_get_triggerdef(t.oid) || ' ' || p.prosrc \
             FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_class c ON c.oid = t.tgrelid \
             WHERE c.relname = ? AND pg_table_is_visible(c.oid) AND NOT t.tgisinternal"
        }
        DbBackend::MySql => {
            "SELECT CAST(TRIGGER_NAME AS CHAR), CAST(CONCAT(EVENT_MANIPULATION, ' ', ACTION_TIMING, ' ', ACTION_STATEMENT) AS CHAR) \
             FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?"
        }
        _ => "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
    };
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            sql,
            vec![table.into()],
        ))
        .await
        .unwrap();
    let mut found: Vec<(String, String)> = rows
        .into_iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).unwrap(),
                r.try_get_by_index::<String>(1).unwrap(),
            )
        })
        .filter(|(name, _)| names.contains(name))
        .collect();
    found.sort();
    digest(found.iter().flat_map(|(n, t)| [n.as_str(), t.as_str()]))
}

async fn register_of<C: ConnectionTrait>(db: &C, table: &str) -> (Vec<String>, String) {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT triggers, description FROM sequences_guards WHERE table_name = ?",
            vec![table.into()],
        ))
        .await
        .unwrap()
        .expect("a register row");
    let triggers: String = row.try_get_by_index(0).unwrap();
    (
        triggers.split(',').map(str::to_owned).collect(),
        row.try_get_by_index::<String>(1).unwrap(),
    )
}

// ------------------------------------------------- inserts that insert nothing

/// An "upsert" that ends up inserting nothing (the row's key exists) must not
/// consume a number.
///
/// Reproduction (PostgreSQL): `INSERT INTO db_slot (kind) VALUES ('K')` (gets 1),
/// then `INSERT INTO db_slot (id, kind) VALUES (<that id>, 'K') ON CONFLICT (id)
/// DO NOTHING` (0 rows, no error), then `INSERT INTO db_slot (kind) VALUES ('K')`
/// gets 3: the BEFORE INSERT trigger ran (and moved the counter) for the
/// proposed row before the conflict was found. Same with `ON CONFLICT (id) DO
/// UPDATE SET kind = EXCLUDED.kind`. MariaDB: `INSERT IGNORE` and `INSERT ...
/// ON DUPLICATE KEY UPDATE` likewise (its BEFORE INSERT trigger runs before the
/// duplicate is found). SQLite numbers in an AFTER INSERT trigger, which an
/// ignored or upserted row never fires: no gap there.
async fn upsert_that_inserts_nothing(only: &[Backend]) {
    let mut failures = Vec::new();
    for t in scratch_all("atk_upsert", only, ONE).await {
        let db = t.db.clone();
        let kind = fresh("U");
        insert_slot(&db, &kind).await;
        let id = slot_id(&db, &kind, 1).await;
        let (nothing, update) = match t.backend {
            Backend::Postgres => (
                "INSERT INTO db_slot (id, kind) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                "INSERT INTO db_slot (id, kind) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind",
            ),
            Backend::MySql => (
                "INSERT IGNORE INTO db_slot (id, kind) VALUES (?, ?)",
                "INSERT INTO db_slot (id, kind) VALUES (?, ?) ON DUPLICATE KEY UPDATE kind = VALUES(kind)",
            ),
            Backend::Sqlite => (
                "INSERT OR IGNORE INTO db_slot (id, kind) VALUES (?, ?)",
                "INSERT INTO db_slot (id, kind) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind",
            ),
        };
        for sql in [nothing, update] {
            let before = slot_last(&db, &kind).await;
            let result = raw(&db, sql, vec![id.into(), kind.clone().into()]).await;
            let after = slot_last(&db, &kind).await;
            check!(
                failures,
                before == after,
                "{t:?}: `{sql}` ({result:?}) inserted no row but moved the counter {before:?} -> {after:?}: a gap, no error"
            );
        }
        insert_slot(&db, &kind).await;
        let numbers = slot_numbers(&db, &kind).await;
        let audit = slot_audit(&db).await;
        if numbers != [Some(1), Some(2)] {
            failures.push(format!("{t:?}: numbers {numbers:?}, want [1, 2]"));
            // The audit must at least see the gap.
            check!(
                failures,
                !audit.is_clean(),
                "{t:?}: AUDIT LIES: clean over {numbers:?}"
            );
        } else {
            check!(failures, audit.is_clean(), "{t:?}: {audit:?}");
        }
        t.done().await;
    }
    verdict(failures);
}

#[tokio::test]
async fn sqlite_upsert_that_inserts_nothing_takes_no_number() {
    upsert_that_inserts_nothing(&[Backend::Sqlite]).await;
}

#[tokio::test]
async fn server_upsert_that_inserts_nothing_takes_no_number() {
    upsert_that_inserts_nothing(&[Backend::Postgres, Backend::MySql]).await;
}

// ----------------------------------------------- deletes that run no trigger

/// `REPLACE` (MariaDB) and `INSERT OR REPLACE` (SQLite) delete the numbered
/// row that holds the key: the delete policy must apply (db_doc: refuse).
///
/// Reproduction (SQLite): `INSERT INTO db_doc (book, issued_on) VALUES ('B',
/// '2026-02-02')` (B/2026/0001), then `INSERT OR REPLACE INTO db_doc (id, book,
/// issued_on) VALUES (<its id>, 'B', '2026-02-02')`: no error, the row is now
/// B/2026/0002 and 0001 vanished, not voided, not refused. SQLite runs no
/// DELETE trigger for a REPLACE conflict unless `PRAGMA recursive_triggers`
/// is on. (MariaDB's REPLACE does fire the BEFORE DELETE trigger.)
async fn replace_obeys_the_delete_policy(only: &[Backend]) {
    let mut failures = Vec::new();
    for t in scratch_all("atk_replace", only, ONE).await {
        let db = t.db.clone();
        let book = fresh("R");
        raw(
            &db,
            "INSERT INTO db_doc (book, issued_on) VALUES (?, ?)",
            vec![book.clone().into(), date("2026-02-02").into()],
        )
        .await
        .unwrap();
        let id = db_doc::Entity::find()
            .filter(db_doc::Column::Book.eq(&book))
            .one(&db)
            .await
            .unwrap()
            .expect("the doc")
            .id;
        let sql = match t.backend {
            Backend::MySql => "REPLACE INTO db_doc (id, book, issued_on) VALUES (?, ?, ?)",
            _ => "INSERT OR REPLACE INTO db_doc (id, book, issued_on) VALUES (?, ?, ?)",
        };
        let result = raw(
            &db,
            sql,
            vec![id.into(), book.clone().into(), date("2026-02-02").into()],
        )
        .await;
        let refused = match &result {
            Err(e) => matches!(
                SequenceError::from_database(e),
                Some(SequenceError::DeleteRefused { .. })
            ),
            Ok(_) => false,
        };
        let references: Vec<Option<String>> = db_doc::Entity::find()
            .filter(db_doc::Column::Book.eq(&book))
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.reference)
            .collect();
        check!(
            failures,
            refused && references == [Some(format!("{book}/2026/0001"))],
            "{t:?}: `{sql}` -> {result:?}; rows now {references:?} (0001 deleted despite on_delete = refuse)"
        );
        let audit = doc_audit(&db).await;
        if references != [Some(format!("{book}/2026/0001"))] {
            check!(
                failures,
                !audit.is_clean(),
                "{t:?}: AUDIT LIES: clean over {references:?}"
            );
        }
        t.done().await;
    }
    verdict(failures);
}

#[tokio::test]
async fn mariadb_replace_obeys_the_delete_policy() {
    replace_obeys_the_delete_policy(&[Backend::MySql]).await;
}

#[tokio::test]
async fn sqlite_insert_or_replace_obeys_the_delete_policy() {
    replace_obeys_the_delete_policy(&[Backend::Sqlite]).await;
}

/// TRUNCATE (PostgreSQL, MariaDB) and a bare `DELETE FROM` (SQLite's
/// truncate optimization) must obey on_delete = refuse.
///
/// Reproduction (PostgreSQL, MariaDB): insert a db_doc row (numbered 0001),
/// then `TRUNCATE db_doc` / `TRUNCATE TABLE db_doc`: no error, every numbered
/// row gone. Row-level DELETE triggers do not fire for TRUNCATE; PostgreSQL
/// offers a statement-level `BEFORE TRUNCATE` trigger that could refuse it,
/// MariaDB has none (revoke DROP, which TRUNCATE needs there). The audit,
/// which also lists counters without rows, reports the missing numbers.
async fn truncate_is_refused(only: &[Backend]) {
    let mut failures = Vec::new();
    for t in scratch_all("atk_truncate", only, ONE).await {
        let db = t.db.clone();
        let book = fresh("T");
        raw(
            &db,
            "INSERT INTO db_doc (book, issued_on) VALUES (?, ?)",
            vec![book.clone().into(), date("2026-02-02").into()],
        )
        .await
        .unwrap();
        let sql = match t.backend {
            Backend::Postgres => "TRUNCATE db_doc",
            Backend::MySql => "TRUNCATE TABLE db_doc",
            Backend::Sqlite => "DELETE FROM db_doc",
        };
        let result = db.execute_unprepared(sql).await;
        let left = scalar_i64(&db, "SELECT COUNT(*) FROM db_doc", vec![]).await;
        check!(
            failures,
            result.is_err() && left == 1,
            "{t:?}: `{sql}` -> {:?}; {left} rows left (on_delete = refuse bypassed)",
            result.map(|r| r.rows_affected())
        );
        if left == 0 {
            let audit = doc_audit(&db).await;
            check!(
                failures,
                !audit.is_clean(),
                "{t:?}: AUDIT LIES: clean after truncate"
            );
        }
        t.done().await;
    }
    verdict(failures);
}

#[tokio::test]
async fn sqlite_delete_all_is_refused() {
    truncate_is_refused(&[Backend::Sqlite]).await;
}

#[tokio::test]
async fn postgres_truncate_is_refused() {
    truncate_is_refused(&[Backend::Postgres]).await;
}

/// MariaDB has no TRUNCATE trigger: TRUNCATE TABLE (which needs the DROP
/// privilege) empties the table, a limitation the README lists; the audit
/// reports every number gone.
#[tokio::test]
#[ignore = "limit: MariaDB has no TRUNCATE trigger (TRUNCATE needs DROP privilege); the audit reports the numbers gone"]
async fn mariadb_truncate_is_refused() {
    truncate_is_refused(&[Backend::MySql]).await;
}

/// A numbered row deleted by `ON DELETE CASCADE` from a parent row must obey
/// its delete policy (db_doc: refuse).
///
/// Reproduction (MariaDB): `CREATE TABLE atk_parent (id INT PRIMARY KEY)`;
/// `ALTER TABLE db_doc ADD COLUMN parent_id INT NULL, ADD CONSTRAINT
/// atk_fk FOREIGN KEY (parent_id) REFERENCES atk_parent (id) ON DELETE
/// CASCADE`; insert parent 1 and a db_doc row with parent_id 1 (numbered
/// 0001); `DELETE FROM atk_parent WHERE id = 1`: no error, the numbered row is
/// gone. InnoDB's cascaded actions do not fire triggers (a documented MariaDB
/// and MySQL limitation). PostgreSQL and SQLite fire the row trigger: refused.
async fn cascade_obeys_the_delete_policy(only: &[Backend]) {
    let mut failures = Vec::new();
    for t in scratch_all("atk_cascade", only, ONE).await {
        let db = t.db.clone();
        match t.backend {
            Backend::MySql => {
                ok(
                    &db,
                    "CREATE TABLE atk_parent (id INT PRIMARY KEY) ENGINE=InnoDB",
                )
                .await;
                ok(&db, "ALTER TABLE db_doc ADD COLUMN parent_id INT NULL, ADD CONSTRAINT atk_fk FOREIGN KEY (parent_id) REFERENCES atk_parent (id) ON DELETE CASCADE").await;
            }
            _ => {
                ok(&db, "CREATE TABLE atk_parent (id INTEGER PRIMARY KEY)").await;
                ok(&db, "ALTER TABLE db_doc ADD COLUMN parent_id INTEGER REFERENCES atk_parent (id) ON DELETE CASCADE").await;
            }
        }
        ok(&db, "INSERT INTO atk_parent (id) VALUES (1)").await;
        let book = fresh("C");
        raw(
            &db,
            "INSERT INTO db_doc (book, issued_on, parent_id) VALUES (?, ?, 1)",
            vec![book.clone().into(), date("2026-02-02").into()],
        )
        .await
        .unwrap();
        let result = db
            .execute_unprepared("DELETE FROM atk_parent WHERE id = 1")
            .await;
        let refused = match &result {
            Err(e) => matches!(
                SequenceError::from_database(e),
                Some(SequenceError::DeleteRefused { .. })
            ),
            Ok(_) => false,
        };
        let left = scalar_i64(&db, "SELECT COUNT(*) FROM db_doc", vec![]).await;
        check!(
            failures,
            refused && left == 1,
            "{t:?}: cascaded delete -> {:?}; {left} numbered rows left",
            result.map(|r| r.rows_affected())
        );
        if left == 0 {
            let audit = doc_audit(&db).await;
            check!(
                failures,
                !audit.is_clean(),
                "{t:?}: AUDIT LIES: clean after the cascade"
            );
        }
        t.done().await;
    }
    verdict(failures);
}

#[tokio::test]
async fn cascade_obeys_the_delete_policy_on_postgres_and_sqlite() {
    cascade_obeys_the_delete_policy(&[Backend::Postgres, Backend::Sqlite]).await;
}

#[tokio::test]
#[ignore = "limit: InnoDB cascades fire no triggers, so ON DELETE CASCADE bypasses the delete policy on MariaDB (README, Pitfalls); the audit reports the numbers gone"]
async fn mariadb_cascade_obeys_the_delete_policy() {
    cascade_obeys_the_delete_policy(&[Backend::MySql]).await;
}

// ------------------------------------------------------ updates that renumber

/// An UPDATE that moves a numbered row to another sequence (its placeholder
/// column, or its date into another period) or back-dates it before its
/// predecessor, changes what the number means exactly as changing the number
/// would: it must be refused.
///
/// Reproduction (all three): `INSERT INTO db_invoice (journal, issued_on)
/// VALUES ('A', '2026-03-01'), ('A', '2026-03-02'), ('B', '2026-03-01')`
/// (A 1, A 2, B 1); then
/// - `UPDATE db_invoice SET journal = 'B' WHERE journal = 'A' AND number = 2`:
///   no error; A's counter says 2 but A holds [1], B holds [1, 2] while B's
///   counter says 1;
/// - `UPDATE db_invoice SET issued_on = '2027-01-05' WHERE journal = 'A'`:
///   no error; dbinv-A@2026 has no row any more, the row claims 2027;
/// - `UPDATE db_invoice SET issued_on = '2026-01-01' WHERE journal = 'B' AND
///   number = 2`: no error, a date inversion `chronological` exists to refuse.
/// The frozen columns are only the number, its raw values and a chain's
/// columns (`FieldPlan::frozen_columns`), not the placeholders or the date.
/// The audit reports each defect.
#[tokio::test]
async fn moving_a_numbered_row_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("atk_move", ALL, ONE).await {
        let db = t.db.clone();
        let (a, b) = (fresh("A"), fresh("B"));
        let mut moved = false;
        for (journal, day) in [(&a, "2026-03-01"), (&a, "2026-03-02"), (&b, "2026-03-01")] {
            raw(
                &db,
                "INSERT INTO db_invoice (journal, issued_on) VALUES (?, ?)",
                vec![journal.clone().into(), date(day).into()],
            )
            .await
            .unwrap();
        }
        for (sql, values) in [
            (
                "UPDATE db_invoice SET journal = ? WHERE journal = ? AND number = 2",
                vec![b.clone().into(), a.clone().into()],
            ),
            (
                "UPDATE db_invoice SET issued_on = ? WHERE journal = ?",
                vec![date("2027-01-05").into(), a.clone().into()],
            ),
            (
                "UPDATE db_invoice SET issued_on = ? WHERE journal = ? AND number = 2",
                vec![date("2026-01-01").into(), a.clone().into()],
            ),
        ] {
            let result = raw(&db, sql, values).await;
            let refused = matches!(&result, Err(e) if SequenceError::from_database(e).is_some());
            moved |= !refused;
            check!(
                failures,
                refused,
                "{t:?}: `{sql}` -> {result:?} (not refused)"
            );
        }
        let audit = invoice_audit(&db, 2026).await;
        check!(
            failures,
            audit.is_clean() != moved,
            "{t:?}: AUDIT LIES: clean = {} after the moves (moved: {moved}): {audit:?}",
            audit.is_clean()
        );
        t.done().await;
    }
    verdict(failures);
}

/// A row inserted with its number set "keeps it" (README), even one that
/// another row of the same sequence already holds, or one the counter never
/// handed out.
///
/// Reproduction (all three): `INSERT INTO db_slot (kind) VALUES ('K')` (1),
/// then `INSERT INTO db_slot (kind, number) SELECT kind, number FROM db_slot
/// WHERE kind = 'K'` (a careless copy): a second row numbered 1, no error;
/// `INSERT INTO db_slot (kind, number) VALUES ('K', 4)`: a row ahead of the
/// counter (last = 1), no error; the next trigger-numbered row takes 2, and
/// later 4 again. The trigger skips every check when the number is set
/// (`WHEN (NEW.number IS NULL)`). The audit reports the duplicate and the row
/// ahead.
#[tokio::test]
#[ignore = "by design: a row inserted with its number set keeps it (the library's own path, legacy imports); the audit reports duplicates and numbers ahead of the counter"]
async fn an_insert_with_a_taken_or_unissued_number_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("atk_explicit", ALL, ONE).await {
        let db = t.db.clone();
        let kind = fresh("E");
        insert_slot(&db, &kind).await;
        for (sql, values) in [
            (
                "INSERT INTO db_slot (kind, number) SELECT kind, number FROM db_slot WHERE kind = ?",
                vec![kind.clone().into()],
            ),
            (
                "INSERT INTO db_slot (kind, number) VALUES (?, 4)",
                vec![kind.clone().into()],
            ),
        ] {
            let result = raw(&db, sql, values).await;
            check!(
                failures,
                result.is_err(),
                "{t:?}: `{sql}` -> {result:?}; rows {:?}, counter {:?}",
                slot_numbers(&db, &kind).await,
                slot_last(&db, &kind).await
            );
        }
        let audit = slot_audit(&db).await;
        if slot_numbers(&db, &kind).await != [Some(1)] {
            check!(failures, !audit.is_clean(), "{t:?}: AUDIT LIES: {audit:?}");
        }
        t.done().await;
    }
    verdict(failures);
}

/// PostgreSQL's deferred field: a row is NULL until COMMIT. Setting its
/// number by hand before COMMIT must be refused (or the COMMIT must number
/// it anyway); deleting it before COMMIT, or changing its journal, must take
/// nothing / number it in its final journal.
///
/// Reproduction: `BEGIN; INSERT INTO db_deferred (journal) VALUES ('J');
/// UPDATE db_deferred SET number = 42 WHERE journal = 'J'; COMMIT;`: no error,
/// the row keeps 42, the counter never moved. The update guard only looks at
/// rows whose OLD number is NOT NULL, and the commit trigger skips a row whose
/// number is set. The audit reports the row ahead of its (missing) counter.
#[tokio::test]
#[ignore = "by design: a number set by the writer before COMMIT is kept, as one set at insert; the audit reports numbers ahead of the counter"]
async fn postgres_deferred_number_cannot_be_chosen_before_commit() {
    let mut failures = Vec::new();
    for t in scratch_all("atk_deferred", &[Backend::Postgres], ONE).await {
        let db = t.db.clone();
        let journal = fresh("D");
        let txn = db.begin().await.unwrap();
        raw(
            &txn,
            "INSERT INTO db_deferred (journal) VALUES (?)",
            vec![journal.clone().into()],
        )
        .await
        .unwrap();
        let update = raw(
            &txn,
            "UPDATE db_deferred SET number = 42 WHERE journal = ?",
            vec![journal.clone().into()],
        )
        .await;
        let commit = match update {
            Ok(_) => txn.commit().await,
            Err(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
        };
        let numbers: Vec<Option<i64>> = db_deferred::Entity::find()
            .filter(db_deferred::Column::Journal.eq(&journal))
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.number)
            .collect();
        check!(
            failures,
            commit.is_err() || numbers == [Some(1)],
            "{t:?}: update then commit -> {commit:?}; rows {numbers:?}"
        );
        let audit = Audit::new(db_deferred::Column::Number)
            .scope([db_deferred::Column::Journal])
            .sequence("dbdef-{journal}")
            .run(&db)
            .await
            .unwrap();
        if numbers == [Some(42)] {
            check!(failures, !audit.is_clean(), "{t:?}: AUDIT LIES: {audit:?}");
        }
        t.done().await;
    }
    verdict(failures);
}

/// The defences that hold for deferred rows: deleted before COMMIT takes no
/// number; a journal changed before COMMIT is numbered in its final journal.
#[tokio::test]
async fn postgres_deferred_rows_changed_before_commit_stay_gapless() {
    for t in scratch_all("atk_deferred2", &[Backend::Postgres], ONE).await {
        let (j1, j2) = (fresh("D"), fresh("D"));
        let txn = t.db.begin().await.unwrap();
        for j in [&j1, &j1, &j1] {
            raw(
                &txn,
                "INSERT INTO db_deferred (journal) VALUES (?)",
                vec![j.clone().into()],
            )
            .await
            .unwrap();
        }
        let first = scalar_i64(
            &txn,
            "SELECT CAST(MIN(id) AS BIGINT) FROM db_deferred WHERE journal = ?",
            vec![j1.clone().into()],
        )
        .await;
        raw(
            &txn,
            "DELETE FROM db_deferred WHERE id = ?",
            vec![first.into()],
        )
        .await
        .unwrap();
        raw(
            &txn,
            "UPDATE db_deferred SET journal = ? WHERE id = (SELECT MAX(id) FROM db_deferred WHERE journal = ?)",
            vec![j2.clone().into(), j1.clone().into()],
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        for (j, want) in [(&j1, vec![Some(1)]), (&j2, vec![Some(1)])] {
            let got: Vec<Option<i64>> = db_deferred::Entity::find()
                .filter(db_deferred::Column::Journal.eq(j))
                .all(&t.db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.number)
                .collect();
            assert_eq!(got, want, "{t:?}: {j}");
            let last = sequences_core::Sequence::new(format!("dbdef-{j}"))
                .last_value(&t.db)
                .await
                .unwrap();
            assert_eq!(last, Some(1), "{t:?}: {j}");
        }
        t.done().await;
    }
}

/// A savepoint rolled back after a numbering insert gives the number back,
/// on all three (the counter's update is in the savepoint too).
#[tokio::test]
async fn a_rolled_back_savepoint_gives_its_number_back() {
    for t in scratch_all("atk_savepoint", ALL, ONE).await {
        let journal = fresh("S");
        let insert = |day: &'static str| {
            (
                "INSERT INTO db_invoice (journal, issued_on) VALUES (?, ?)",
                vec![journal.clone().into(), date(day).into()],
            )
        };
        let txn = t.db.begin().await.unwrap();
        let (sql, v) = insert("2026-03-01");
        raw(&txn, sql, v).await.unwrap();
        let savepoint = txn.begin().await.unwrap();
        let (sql, v) = insert("2026-03-02");
        raw(&savepoint, sql, v).await.unwrap();
        savepoint.rollback().await.unwrap();
        let (sql, v) = insert("2026-03-02");
        raw(&txn, sql, v).await.unwrap();
        txn.commit().await.unwrap();
        let numbers: Vec<Option<i64>> = db_invoice::Entity::find()
            .filter(db_invoice::Column::Journal.eq(&journal))
            .order_by_asc(db_invoice::Column::Id)
            .all(&t.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.number)
            .collect();
        assert_eq!(numbers, [Some(1), Some(2)], "{t:?}");
        let audit = Audit::new(db_invoice::Column::Number)
            .scope([db_invoice::Column::Journal])
            .sequence("dbinv-{journal}@2026")
            .filter(db_invoice::Column::Journal.eq(&journal))
            .run(&t.db)
            .await
            .unwrap();
        assert!(audit.is_clean(), "{t:?}: {audit:?}");
        t.done().await;
    }
}

/// MariaDB compares with the column's collation: `utf8mb4_general_ci` is
/// case-insensitive and PAD SPACE, so `NOT (NEW.c <=> OLD.c)` misses edits.
///
/// Reproduction (MariaDB): insert a db_doc row (`B/2026/0001`), then
/// `UPDATE db_doc SET reference = LOWER(reference)` and `UPDATE db_doc SET
/// reference = CONCAT(reference, '  ')`: no error, the printed reference
/// changed. Same for a chained field's covered text column (`UPDATE
/// db_chained SET customer = UPPER(customer)`): not refused (the chain audit
/// sees the edit). Fix: compare `BINARY NEW.c <=> BINARY OLD.c` (or
/// `CAST(.. AS BINARY)`) for text columns.
#[tokio::test]
async fn a_case_or_padding_edit_of_a_frozen_column_is_refused() {
    let mut failures = Vec::new();
    for t in scratch_all("atk_case", ALL, ONE).await {
        let book = fresh("P");
        raw(
            &t.db,
            "INSERT INTO db_doc (book, issued_on) VALUES (?, ?)",
            vec![book.clone().into(), date("2026-02-02").into()],
        )
        .await
        .unwrap();
        let concat = if t.backend == Backend::MySql {
            "UPDATE db_doc SET reference = CONCAT(reference, '  ') WHERE book = ?"
        } else {
            "UPDATE db_doc SET reference = reference || '  ' WHERE book = ?"
        };
        for sql in [
            "UPDATE db_doc SET reference = LOWER(reference) WHERE book = ?",
            concat,
        ] {
            let result = raw(&t.db, sql, vec![book.clone().into()]).await;
            check!(
                failures,
                matches!(&result, Err(e) if matches!(SequenceError::from_database(e), Some(SequenceError::NumberChanged { .. }))),
                "{t:?}: `{sql}` -> {result:?} (reference edited)"
            );
        }
        if t.backend == Backend::Sqlite {
            t.done().await;
            continue;
        }
        let company = sequences_tests::fresh_company();
        raw(
            &t.db,
            "INSERT INTO db_chained (company_id, customer, amount_cents, issued_on) VALUES (?, 'Acme', 100, ?)",
            vec![company.into(), date("2026-10-01").into()],
        )
        .await
        .unwrap();
        let sql = "UPDATE db_chained SET customer = UPPER(customer) WHERE company_id = ?";
        let result = raw(&t.db, sql, vec![company.into()]).await;
        check!(
            failures,
            matches!(&result, Err(e) if matches!(SequenceError::from_database(e), Some(SequenceError::NumberChanged { .. }))),
            "{t:?}: `{sql}` -> {result:?} (covered column edited)"
        );
        t.done().await;
    }
    verdict(failures);
}

// ------------------------------------------------------ redirected counters

/// A session's TEMPORARY table named `sequences` must not become the
/// trigger's counter.
///
/// Reproduction (PostgreSQL): `INSERT INTO db_slot (kind) VALUES ('K')` (1);
/// then in one session `CREATE TEMP TABLE sequences (LIKE public.sequences
/// INCLUDING ALL); INSERT INTO db_slot (kind) VALUES ('K');`: the row is
/// numbered 1 again (a duplicate), from the temporary counter; the real
/// counter stays at 1. pg_temp comes first in the search path, and the
/// function names `"sequences"` unqualified with no `SET search_path`.
/// MariaDB: `CREATE TEMPORARY TABLE sequences (name VARCHAR(100) ... PRIMARY
/// KEY, last BIGINT NOT NULL, ...)` shadows the table inside the trigger the
/// same way. SQLite binds a non-TEMP trigger's
/// tables to its own schema: not fooled. Fix: qualify the register's tables
/// with the schema/database at install time (`"public"."sequences"`,
/// `` `db`.`sequences` ``) and give the PostgreSQL functions `SET search_path
/// = pg_catalog, <schema>` (pg_temp last).
async fn a_temporary_sequences_table_is_not_the_counter(only: &[Backend]) {
    let mut failures = Vec::new();
    for t in scratch_all("atk_temp", only, ONE).await {
        let db = t.db.clone();
        let kind = fresh("M");
        insert_slot(&db, &kind).await;
        let txn = db.begin().await.unwrap();
        let create = match t.backend {
            Backend::Postgres => {
                "CREATE TEMP TABLE sequences (LIKE public.sequences INCLUDING ALL) ON COMMIT DROP"
            }
            Backend::MySql => {
                "CREATE TEMPORARY TABLE sequences (`name` VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY, `last` BIGINT NOT NULL, `closed` TINYINT(1) NOT NULL DEFAULT 0, `last_day` INT NULL, `chain_head` VARCHAR(64) NULL, `chain_seal` VARCHAR(64) NULL, `max_value` BIGINT NULL, `warn_at` BIGINT NULL)"
            }
            Backend::Sqlite => {
                "CREATE TEMP TABLE sequences (\"name\" TEXT PRIMARY KEY, \"last\" INTEGER NOT NULL, \"closed\" BOOLEAN NOT NULL DEFAULT 0, \"last_day\" INTEGER, \"chain_head\" TEXT, \"chain_seal\" TEXT, \"max_value\" INTEGER, \"warn_at\" INTEGER)"
            }
        };
        ok(&txn, create).await;
        let result = raw(
            &txn,
            "INSERT INTO db_slot (kind) VALUES (?)",
            vec![kind.clone().into()],
        )
        .await;
        if t.backend == Backend::MySql {
            ok(&txn, "DROP TEMPORARY TABLE sequences").await;
        } else if t.backend == Backend::Sqlite {
            ok(&txn, "DROP TABLE temp.sequences").await;
        }
        txn.commit().await.unwrap();
        let numbers = slot_numbers(&db, &kind).await;
        check!(
            failures,
            result.is_err() || numbers == [Some(1), Some(2)],
            "{t:?}: insert in a session with a temporary `sequences` -> {result:?}; rows {numbers:?}, real counter {:?}",
            slot_last(&db, &kind).await
        );
        if numbers != [Some(1), Some(2)] && numbers != [Some(1)] {
            let audit = slot_audit(&db).await;
            check!(failures, !audit.is_clean(), "{t:?}: AUDIT LIES: {audit:?}");
            check!(
                failures,
                slot_state(&db).await == TriggerState::Intact,
                "{t:?}: (the triggers themselves are untouched)"
            );
        }
        t.done().await;
    }
    verdict(failures);
}

#[tokio::test]
async fn sqlite_a_temporary_sequences_table_is_not_the_counter() {
    a_temporary_sequences_table_is_not_the_counter(&[Backend::Sqlite]).await;
}

#[tokio::test]
async fn postgres_a_temporary_sequences_table_is_not_the_counter() {
    a_temporary_sequences_table_is_not_the_counter(&[Backend::Postgres]).await;
}

/// MariaDB resolves a TEMPORARY table before the base table of the same
/// name even when the trigger names it with its database: a session that may
/// create temporary tables can point its own inserts at a counter of its
/// own. Left as a documented limitation (README, Pitfalls): the duplicate
/// numbers it makes are what the audit reports.
#[tokio::test]
#[ignore = "limit: MariaDB resolves a session's TEMPORARY `sequences` before the base table, even qualified; the audit reports the duplicates"]
async fn mariadb_a_temporary_sequences_table_is_not_the_counter() {
    a_temporary_sequences_table_is_not_the_counter(&[Backend::MySql]).await;
}

/// PostgreSQL: `ALTER FUNCTION sq_db_slot_number_ins() SET search_path =
/// atk, public` (with `atk.sequences` a copy of the register) redirects the
/// trigger to another counter: the catalog digest (tgenabled, triggerdef,
/// prosrc) does not include `proconfig`, `prosecdef` or the owner, so
/// check_triggers and the audit's `triggers` still say Intact.
///
/// Reproduction: `CREATE SCHEMA atk; CREATE TABLE atk.sequences (LIKE
/// public.sequences INCLUDING ALL); ALTER FUNCTION sq_db_slot_number_ins()
/// SET search_path = atk, public;` then inserts: numbered from atk.sequences
/// (duplicates of the real series); `check_triggers` -> Intact. (The number
/// audit sees the duplicates; the `triggers` field does not see the cause.)
/// Fix: add `proconfig`, `prosecdef`, `proowner`, `provolatile`, the
/// function's schema to the catalog text, and qualify the tables.
#[tokio::test]
async fn postgres_a_function_setting_is_an_alteration() {
    let mut failures = Vec::new();
    for t in scratch_all("atk_search_path", &[Backend::Postgres], ONE).await {
        let db = t.db.clone();
        let kind = fresh("P");
        insert_slot(&db, &kind).await;
        ok(&db, "CREATE SCHEMA atk").await;
        ok(
            &db,
            "CREATE TABLE atk.sequences (LIKE public.sequences INCLUDING ALL)",
        )
        .await;
        ok(
            &db,
            "ALTER FUNCTION sq_db_slot_number_ins() SET search_path = atk, public",
        )
        .await;
        insert_slot(&db, &kind).await;
        let numbers = slot_numbers(&db, &kind).await;
        let state = slot_state(&db).await;
        let audit = slot_audit(&db).await;
        check!(
            failures,
            state != TriggerState::Intact,
            "{t:?}: check_triggers says {state:?}; rows now {numbers:?}"
        );
        check!(
            failures,
            audit.triggers.as_ref().is_some_and(|s| !s.is_intact()),
            "{t:?}: audit.triggers says {:?}",
            audit.triggers
        );
        check!(failures, !audit.is_clean(), "{t:?}: AUDIT LIES: {audit:?}");
        t.done().await;
    }
    verdict(failures);
}

// -------------------------------------------------- tampering with the guard

/// Another trigger on the table, which runs after ours and overwrites the
/// number (PostgreSQL fires BEFORE triggers in name order; MariaDB `FOLLOWS`),
/// or moves the counter (SQLite), must make the field "not intact".
///
/// Reproduction (PostgreSQL): `CREATE FUNCTION atk() RETURNS trigger LANGUAGE
/// plpgsql AS $$ BEGIN NEW.number := 1; RETURN NEW; END $$; CREATE TRIGGER
/// zz_atk BEFORE INSERT ON db_slot FOR EACH ROW EXECUTE FUNCTION atk();`.
/// MariaDB: `CREATE TRIGGER zz_atk BEFORE INSERT ON db_slot FOR EACH ROW
/// FOLLOWS sq_db_slot_number_ins SET NEW.number = 1`. SQLite: `CREATE TRIGGER
/// zz_atk AFTER INSERT ON db_slot BEGIN UPDATE sequences SET last = last + 1
/// WHERE name = 'dbslot-' || NEW.kind; END`. Every insert now gets 1 (or
/// burns a number), and `check_triggers` says Intact: the catalog check reads
/// only the triggers named in the register. (The number audit sees the
/// duplicates / gaps.) Fix: digest every trigger of the table (or refuse
/// foreign BEFORE INSERT/UPDATE triggers ordered after ours), i.e. report
/// `Altered` when the table has triggers the description did not install.
#[tokio::test]
async fn a_foreign_trigger_undoing_ours_is_reported() {
    let mut failures = Vec::new();
    for t in scratch_all("atk_foreign", ALL, ONE).await {
        let db = t.db.clone();
        match t.backend {
            Backend::Postgres => {
                ok(&db, "CREATE FUNCTION atk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.number := 1; RETURN NEW; END $$").await;
                ok(&db, "CREATE TRIGGER zz_atk BEFORE INSERT ON db_slot FOR EACH ROW EXECUTE FUNCTION atk()").await;
            }
            Backend::MySql => {
                ok(&db, "CREATE TRIGGER zz_atk BEFORE INSERT ON db_slot FOR EACH ROW FOLLOWS sq_db_slot_number_ins SET NEW.number = 1").await;
            }
            Backend::Sqlite => {
                ok(&db, "CREATE TRIGGER zz_atk AFTER INSERT ON db_slot FOR EACH ROW BEGIN UPDATE sequences SET last = last + 1 WHERE name = 'dbslot-' || NEW.kind; END").await;
            }
        }
        let kind = fresh("F");
        for _ in 0..3 {
            // PostgreSQL's check at the end of the INSERT and MariaDB's
            // AFTER INSERT trigger see the number changed after the insert
            // trigger gave it, and refuse the insert (NumberChanged).
            if let Err(error) = try_insert_slot(&db, &kind).await {
                check!(
                    failures,
                    t.backend != Backend::Sqlite
                        && matches!(
                            SequenceError::from_database(&error),
                            Some(SequenceError::NumberChanged { .. })
                        ),
                    "{t:?}: {error}"
                );
            }
        }
        let numbers = slot_numbers(&db, &kind).await;
        let state = slot_state(&db).await;
        let audit = slot_audit(&db).await;
        check!(
            failures,
            state != TriggerState::Intact,
            "{t:?}: check_triggers says Intact; rows {numbers:?}, counter {:?}",
            slot_last(&db, &kind).await
        );
        check!(
            failures,
            audit.triggers.as_ref().is_some_and(|s| !s.is_intact()),
            "{t:?}: audit.triggers says {:?}",
            audit.triggers
        );
        check!(failures, !audit.is_clean(), "{t:?}: AUDIT LIES: {audit:?}");
        t.done().await;
    }
    verdict(failures);
}

/// The register (`sequences_guards`) lives in the database the attacker
/// writes: it must not be enough to edit it so that tampered triggers read
/// Intact.
///
/// Reproduction, all three:
/// (a) Swap in a weaker description: save `description` of db_slot's
///     register row; install an older/weaker `Numbering` (here max_value 9:
///     slots 6..9 now accepted) with `install_triggers`; `UPDATE
///     sequences_guards SET description = '<saved>' WHERE table_name =
///     'db_slot'`: `check_triggers` -> Intact (it should say Outdated).
/// (b) Edit by hand: `CREATE OR REPLACE FUNCTION sq_db_slot_number_ins() ...
///     BEGIN RETURN NEW; END` (PostgreSQL; MariaDB/SQLite: drop and recreate
///     `sq_db_slot_number_ins` as a no-op), then recompute the public digest
///     (SHA-256 over length-prefixed name/catalog text pairs, the catalog
///     query is in `triggers/catalog.rs`) and `UPDATE sequences_guards SET
///     installed = '<digest>'`: `check_triggers` and `Audit.triggers` ->
///     Intact (inserts now unnumbered; the number audit sees NULLs).
/// The `installed` digest is only compared with itself, never with what the
/// description would install. Fix: `check_triggers` can derive the expected
/// catalog text from the description (SQLite stores the CREATE TRIGGER text
/// verbatim, MariaDB the body, PostgreSQL `prosrc` is the function body
/// written) and compare against that, not against the register; the audit
/// could take the `Numbering`; or the register rows get a keyed MAC / are
/// checkpointed outside the database like the chain heads.
#[tokio::test]
async fn an_edited_register_does_not_bless_tampered_triggers() {
    use sequences_core::{NumberedField, Numbering, OnDelete, Sequence};
    let mut failures = Vec::new();
    for t in scratch_all("atk_register", ALL, ONE).await {
        let db = t.db.clone();
        let numbering = db_slot::ActiveModel::gapless_numbering();
        assert_eq!(slot_state(&db).await, TriggerState::Intact, "{t:?}");

        // (a) a weaker description, the register's description put back.
        let (_, description) = register_of(&db, "db_slot").await;
        let weaker = Numbering::new().field_with(
            NumberedField::new(
                db_slot::Column::Number,
                Sequence::new("dbslot-{kind}").max_value(9),
            )
            .on_delete(OnDelete::RevertIfLast),
        );
        weaker.install_triggers(&db).await.unwrap();
        assert_eq!(slot_state(&db).await, TriggerState::Outdated, "{t:?}");
        raw(
            &db,
            "UPDATE sequences_guards SET description = ? WHERE table_name = 'db_slot'",
            vec![description.into()],
        )
        .await
        .unwrap();
        let state = slot_state(&db).await;
        check!(
            failures,
            state != TriggerState::Intact,
            "{t:?}: (a) max_value 9 installed, description swapped back: check_triggers says Intact"
        );
        numbering.install_triggers(&db).await.unwrap();

        // (b) a trigger edited by hand, the installed digest recomputed.
        match t.backend {
            Backend::Postgres => ok(&db, "CREATE OR REPLACE FUNCTION sq_db_slot_number_ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$").await,
            Backend::MySql => {
                ok(&db, "DROP TRIGGER sq_db_slot_number_ins").await;
                ok(&db, "CREATE TRIGGER sq_db_slot_number_ins BEFORE INSERT ON db_slot FOR EACH ROW SET @atk = 1").await;
            }
            Backend::Sqlite => {
                ok(&db, "DROP TRIGGER sq_db_slot_number_ins").await;
                ok(&db, "CREATE TRIGGER sq_db_slot_number_ins AFTER INSERT ON db_slot FOR EACH ROW BEGIN SELECT 1; END").await;
            }
        }
        assert_eq!(slot_state(&db).await, TriggerState::Altered, "{t:?}");
        let (names, _) = register_of(&db, "db_slot").await;
        let forged = catalog_digest(&db, "db_slot", &names).await;
        raw(
            &db,
            "UPDATE sequences_guards SET installed = ? WHERE table_name = 'db_slot'",
            vec![forged.into()],
        )
        .await
        .unwrap();
        let kind = fresh("G");
        // PostgreSQL's check at the end of the INSERT, which the edit left
        // in place, refuses the unnumbered row.
        let refused = try_insert_slot(&db, &kind).await.is_err();
        check!(
            failures,
            refused == (t.backend == Backend::Postgres),
            "{t:?}: (b) the insert through the no-op trigger: refused {refused}"
        );
        let state = slot_state(&db).await;
        let audit = slot_audit(&db).await;
        check!(
            failures,
            state != TriggerState::Intact,
            "{t:?}: (b) no-op insert trigger, digest recomputed: check_triggers says Intact (rows {:?})",
            slot_numbers(&db, &kind).await
        );
        // The audit alone (no description) trusts the register, which whoever
        // rewrites the triggers can rewrite too: what it still sees is the
        // rows (the unnumbered one inserted above, where it was not refused).
        check!(
            failures,
            refused || !audit.is_clean(),
            "{t:?}: AUDIT LIES: {audit:?}"
        );
        t.done().await;
    }
    verdict(failures);
}

/// Dropping the triggers together with their register row: `Audit` (which
/// knows no description) then reports `triggers: None`, "never guarded", and
/// `is_clean()` holds; the README promises the audit "reports a guarded
/// column whose triggers were dropped".
///
/// Reproduction (all three): `DROP TRIGGER sq_db_slot_number_ins [ON
/// db_slot]` (and `_del`, `_upd`), `DELETE FROM sequences_guards WHERE
/// table_name = 'db_slot'` (or `DROP TABLE sequences_guards`); then
/// `Audit::new(db_slot::Column::Number)...run()` -> `triggers: None`,
/// `is_clean() == true`. `check_triggers` (with the description) says
/// NotInstalled, correctly. Rows inserted afterwards with correct numbers by
/// hand, or deleted as the last number, leave no trace. Fix: never delete a
/// register row (mark it removed, with when), so the audit can tell "removed"
/// from "never guarded"; or have `sequences audit` take the expectation
/// (entities / a checkpoint listing guarded columns) and report a guarded
/// column gone from the register.
#[tokio::test]
/// Fixed: an auditor who knows the column is guarded says so
/// (`Audit::guarded`, `sequences audit --guarded`): no record is then
/// `NotInstalled`, a defect.
async fn dropping_triggers_and_their_register_row_is_reported() {
    let mut failures = Vec::new();
    for t in scratch_all("atk_unregister", ALL, ONE).await {
        let db = t.db.clone();
        let kind = fresh("N");
        insert_slot(&db, &kind).await;
        let on = if t.backend == Backend::Postgres {
            " ON db_slot"
        } else {
            ""
        };
        for suffix in ["ins", "del", "upd"] {
            ok(&db, &format!("DROP TRIGGER sq_db_slot_number_{suffix}{on}")).await;
        }
        ok(
            &db,
            "DELETE FROM sequences_guards WHERE table_name = 'db_slot'",
        )
        .await;
        // Unguarded now: a row deleted and written again by hand.
        raw(
            &db,
            "DELETE FROM db_slot WHERE kind = ?",
            vec![kind.clone().into()],
        )
        .await
        .unwrap();
        raw(
            &db,
            "INSERT INTO db_slot (kind, number) VALUES (?, 1)",
            vec![kind.clone().into()],
        )
        .await
        .unwrap();
        let audit = Audit::new(db_slot::Column::Number)
            .scope([db_slot::Column::Kind])
            .sequence("dbslot-{kind}")
            .guarded()
            .run(&db)
            .await
            .unwrap();
        let state = slot_state(&db).await;
        check!(
            failures,
            state == TriggerState::NotInstalled,
            "{t:?}: check_triggers says {state:?}"
        );
        check!(
            failures,
            !audit.is_clean(),
            "{t:?}: AUDIT LIES: triggers {:?}, is_clean() true over an unguarded column",
            audit.triggers
        );
        t.done().await;
    }
    verdict(failures);
}

/// Tampering the audit does see (regression guards): a renamed trigger is
/// Missing; PostgreSQL `ENABLE REPLICA TRIGGER` (fires only under
/// `session_replication_role = replica`) and `DISABLE TRIGGER ALL` are
/// Altered.
#[tokio::test]
async fn renamed_or_replica_only_triggers_are_reported() {
    // SQLite cannot rename a trigger.
    for t in scratch_all("atk_rename", &[Backend::Postgres, Backend::MySql], ONE).await {
        let db = t.db.clone();
        let numbering = db_slot::ActiveModel::gapless_numbering();
        if t.backend == Backend::Postgres {
            ok(
                &db,
                "ALTER TRIGGER sq_db_slot_number_del ON db_slot RENAME TO sq_db_slot_number_dex",
            )
            .await;
            assert!(
                matches!(slot_state(&db).await, TriggerState::Missing { .. }),
                "{t:?}"
            );
            ok(&db, "DROP TRIGGER sq_db_slot_number_dex ON db_slot").await;
            numbering.install_triggers(&db).await.unwrap();
            ok(
                &db,
                "ALTER TABLE db_slot ENABLE REPLICA TRIGGER sq_db_slot_number_ins",
            )
            .await;
            assert_eq!(slot_state(&db).await, TriggerState::Altered, "{t:?}");
            numbering.install_triggers(&db).await.unwrap();
            ok(&db, "ALTER TABLE db_slot DISABLE TRIGGER ALL").await;
            assert_eq!(slot_state(&db).await, TriggerState::Altered, "{t:?}");
            assert!(!slot_audit(&db).await.is_clean(), "{t:?}");
        } else {
            // MariaDB has no RENAME TRIGGER; moving the table's triggers
            // away by renaming the table leaves this one unguarded.
            ok(&db, "RENAME TABLE db_slot TO db_slot_old").await;
            ok(&db, "CREATE TABLE db_slot LIKE db_slot_old").await;
            assert!(
                matches!(slot_state(&db).await, TriggerState::Missing { .. }),
                "{t:?}"
            );
        }
        t.done().await;
    }
}

// ------------------------------------------------------------- the messages

/// Names with quotes, backslashes, colons and percent signs are numbered,
/// and their refusals (closed, not last, > 100 characters) read back with
/// the exact sequence name.
///
/// Reproduction (SQLite): `INSERT INTO db_slot (kind) VALUES ('O''Brien')`
/// (numbered 1); close `dbslot-O'Brien`; insert again: the refusal's typed
/// error is `Closed { name: "dbslot-O''Brie" }`: SQLite's json_extract error
/// quotes the path with `%Q`, doubling each `'`, and the length prefix then
/// cuts the name short. Every refusal carrying a row's value (Closed,
/// OutOfOrder, Exhausted, OutOfRange, InvalidName, DeleteRefused, NotLast)
/// names the wrong sequence when the name holds a quote. Fix: in `decode`,
/// undo the `''` doubling when the message came through the `bad JSON path:
/// '...'` form (or escape `'` in the SQL before raising, e.g. as `%27`, and
/// unescape in `decode`).
async fn hostile_names(only: &[Backend]) {
    let mut failures = Vec::new();
    for t in scratch_all("atk_hostile", only, ONE).await {
        let base = fresh("H");
        let hostile = format!("{base}'\\:%\"`;--é");
        let name = format!("dbslot-{hostile}");
        insert_slot(&t.db, &hostile).await;
        assert_eq!(slot_numbers(&t.db, &hostile).await, [Some(1)], "{t:?}");
        assert_eq!(slot_last(&t.db, &hostile).await, Some(1), "{t:?}");
        let insert = || {
            raw(
                &t.db,
                "INSERT INTO db_slot (kind) VALUES (?)",
                vec![hostile.clone().into()],
            )
        };
        // Closed.
        let sequence = sequences_core::Sequence::new(name.clone());
        sequence.close(&t.db).await.unwrap();
        let error = insert().await.unwrap_err();
        let decoded = SequenceError::from_database(&error);
        check!(
            failures,
            matches!(&decoded, Some(SequenceError::Closed { name: n }) if *n == name),
            "{t:?}: closed: {decoded:?} from `{error}`"
        );
        sequence.reopen(&t.db).await.unwrap();
        insert().await.unwrap();
        // Not last.
        let error = raw(
            &t.db,
            "DELETE FROM db_slot WHERE kind = ? AND number = 1",
            vec![hostile.clone().into()],
        )
        .await
        .unwrap_err();
        let decoded = SequenceError::from_database(&error);
        check!(
            failures,
            matches!(&decoded, Some(SequenceError::NotLast { value: 1, last: Some(2), name: n }) if *n == name),
            "{t:?}: not last: {decoded:?} from `{error}`"
        );
        // More than 100 characters.
        let long = format!("{hostile}{}", ":x".repeat(60));
        let error = raw(
            &t.db,
            "INSERT INTO db_slot (kind) VALUES (?)",
            vec![long.clone().into()],
        )
        .await
        .unwrap_err();
        let decoded = SequenceError::from_database(&error);
        check!(
            failures,
            matches!(&decoded, Some(SequenceError::InvalidName { name: n, .. }) if *n == format!("dbslot-{long}")),
            "{t:?}: invalid name: {decoded:?} from `{error}`"
        );
        assert_eq!(
            slot_numbers(&t.db, &hostile).await,
            [Some(1), Some(2)],
            "{t:?}"
        );
        t.done().await;
    }
    verdict(failures);
}

#[tokio::test]
async fn server_hostile_names_number_and_refuse_exactly() {
    hostile_names(&[Backend::Postgres, Backend::MySql]).await;
}

#[tokio::test]
async fn sqlite_hostile_names_refuse_exactly() {
    hostile_names(&[Backend::Sqlite]).await;
}

/// `SequenceError::from_database` must read only the triggers' refusals, not
/// any error whose text happens to hold `sequences:<kind>:...`.
///
/// Reproduction (PostgreSQL): `SELECT CAST($1 AS INTEGER)` with $1 =
/// `'sequences:closed:3:abc'` fails with `invalid input syntax for type
/// integer: "sequences:closed:3:abc"`, and `from_database` returns
/// `Some(Closed { name: "abc" })`. MariaDB: `INSERT INTO db_slot (kind,
/// number) VALUES ('x', 'sequences:closed:3:abc')` -> `Incorrect integer
/// value: 'sequences:closed:3:abc' for column ...` -> `Closed { name: "abc"
/// }` (a `Duplicate entry '<value>'` error does the same). Any user-supplied
/// text echoed in an error becomes a typed refusal ("the period is closed").
/// Fix: decode only errors with SQLSTATE SQ001 (PostgreSQL), 45000/1644
/// (MariaDB), and on SQLite only the json_extract path error / RAISE
/// message forms, with the message *starting* with the prefix.
#[tokio::test]
async fn from_database_reads_only_trigger_refusals() {
    let mut failures = Vec::new();
    for t in scratch_all("atk_decode", &[Backend::Postgres, Backend::MySql], ONE).await {
        let planted = "sequences:closed:3:abc";
        let error = match t.backend {
            Backend::Postgres => raw(&t.db, "SELECT CAST(? AS INTEGER)", vec![planted.into()])
                .await
                .unwrap_err(),
            Backend::MySql => {
                let txn = t.db.begin().await.unwrap();
                let e = raw(
                    &txn,
                    "INSERT INTO db_slot (kind, number) VALUES ('x', ?)",
                    vec![planted.into()],
                )
                .await
                .unwrap_err();
                txn.rollback().await.unwrap();
                e
            }
            Backend::Sqlite => unreachable!(),
        };
        let decoded = SequenceError::from_database(&error);
        check!(
            failures,
            decoded.is_none(),
            "{t:?}: `{error}` decoded as {decoded:?}"
        );
        t.done().await;
    }
    verdict(failures);
}
