//! Attacks on numbering after COMMIT (`after_commit`): a hostile auditor's
//! tests. A test that shows a defect asserts the correct behaviour (so it
//! fails while the defect is there) and says what goes wrong in a comment.
//!
//! Each test works in scratch databases of its own.

use std::time::{Duration, Instant};

use sea_orm::prelude::Date;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use sequences_core::SequenceError;
use sequences_tests::entities::{ac_doc, ac_receipt};
use sequences_tests::{Backend, Scratch, TestDb, connect_all, execute};

fn date(text: &str) -> Date {
    text.parse().expect("a YYYY-MM-DD date")
}

async fn scratch(t: &TestDb, tag: &str, connections: u32) -> (Scratch, DatabaseConnection) {
    let scratch = Scratch::new(t, tag).await;
    sequences_tests::migrate(&scratch.url).await;
    let db = sequences_tests::open(&scratch.url, connections).await;
    (scratch, db)
}

async fn receipt<C: ConnectionTrait>(db: &C, till: &str) -> ac_receipt::Model {
    ac_receipt::ActiveModel {
        till: Set(till.into()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
}

async fn doc<C: ConnectionTrait>(db: &C, id: Option<i32>, book: &str, day: &str) -> ac_doc::Model {
    let mut model = ac_doc::ActiveModel {
        book: Set(book.into()),
        issued_on: Set(date(day)),
        ..Default::default()
    };
    if let Some(id) = id {
        model.id = Set(id);
    }
    model.insert(db).await.unwrap()
}

async fn scalar<C: ConnectionTrait>(db: &C, sql: &str) -> Option<i64> {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap()
    .and_then(|row| row.try_get_by_index::<Option<i64>>(0).unwrap())
}

/// Passes of `number_pending` until `done` holds (PostgreSQL waits for
/// every older transaction of the server, other tests' too), at most ~20 s.
async fn pass_until<F, Fut>(db: &DatabaseConnection, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let receipts = ac_receipt::ActiveModel::gapless_numbering();
    let docs = ac_doc::ActiveModel::gapless_numbering();
    for _ in 0..1000 {
        receipts.number_pending(db).await.unwrap();
        docs.number_pending(db).await.unwrap();
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the rows were never numbered");
}

/// Waits until a transaction of this database waits for a lock.
async fn until_a_lock_wait<T>(db: &DatabaseConnection, task: &tokio::task::JoinHandle<T>) {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'"
        }
        // A statement on `sequences` running (not sleeping) on another
        // connection of this database: the batch's allocation, waiting.
        _ => {
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() \
             AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep' AND INFO LIKE '%`sequences`%'"
        }
    };
    let started = Instant::now();
    while scalar(db, sql).await.unwrap_or(0) == 0 {
        assert!(!task.is_finished(), "the numberer finished without waiting");
        if started.elapsed() > Duration::from_secs(20) {
            let dump = match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    "SELECT CONCAT(datname, ' | ', state, ' | ', COALESCE(wait_event_type, '-'), ' | ', query) \
                     FROM pg_stat_activity WHERE backend_type = 'client backend'"
                }
                _ => {
                    "SELECT CONCAT(COALESCE(DB, '-'), ' | ', COMMAND, ' | ', COALESCE(STATE, '-'), ' | ', \
                     COALESCE(INFO, '-')) FROM information_schema.PROCESSLIST"
                }
            };
            for row in db
                .query_all_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    dump,
                ))
                .await
                .unwrap()
            {
                eprintln!("{}", row.try_get_by_index::<String>(0).unwrap());
            }
            panic!(
                "{:?}: nothing ever waited for the lock",
                db.get_database_backend()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let it settle in its wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// PostgreSQL: whether the row `id` of `ac_receipt` is old enough for the
/// numberer (its condition `settled`, copied here).
async fn settled(db: &DatabaseConnection, id: i32) -> bool {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return true;
    }
    let sql = format!(
        r#"SELECT COUNT(*) FROM ac_receipt WHERE id = {id} AND age("ac_receipt"."xmin") > age(CAST(CAST(txid_snapshot_xmin(txid_current_snapshot()) % 4294967296 AS TEXT) AS xid))"#
    );
    scalar(db, &sql).await == Some(1)
}

/// Was a defect (MariaDB), fixed: MariaDB now locks the rows a batch picked,
/// by key, and reads them as they are. The numberer reads the pending rows from its snapshot
/// without locking them, takes their numbers from the sequences their
/// placeholders named then, and writes them with `WHERE key = k AND number
/// IS NULL`, which does not look at the placeholder. A client that moves a
/// still-unnumbered receipt from till A to till B (and commits, the row
/// being NULL then) between the numberer's read and its UPDATE gets the row
/// numbered from `acr-A`: till B's row holds A's number 2, `acr-A` is at 2
/// with no row of till A holding 2 (a gap in A), `acr-B` never advanced.
///
/// On PostgreSQL the numberer locks the rows it read (FOR UPDATE): the
/// client's conditional UPDATE waits, then finds the row numbered and
/// changes nothing, a consistent outcome this test accepts. SQLite has one
/// writer at a time, so the interleaving cannot happen there.
///
/// Correct: a row in till B is numbered from `acr-B` (or left for the next
/// pass), and `acr-A` is not advanced for it.
#[tokio::test]
async fn a_placeholder_changed_under_the_numberer_is_numbered_in_its_new_scope() {
    for t in connect_all(1).await {
        if t.backend == Backend::Sqlite {
            continue;
        }
        let (scratch, db) = scratch(&t, "attack_ac_till", 4).await;
        let numbering = ac_receipt::ActiveModel::gapless_numbering();
        // acr-A exists, at 1.
        let first = receipt(&db, "A").await;
        pass_until(&db, || async {
            ac_receipt::Entity::find_by_id(first.id)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .number
                .is_some()
        })
        .await;
        let row = receipt(&db, "A").await;
        while !settled(&db, row.id).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Hold acr-A: the numberer will read the row, then wait here.
        let locker = db.begin().await.unwrap();
        execute(
            &locker,
            "SELECT last FROM sequences WHERE name = 'acr-A' FOR UPDATE",
            vec![],
        )
        .await;
        let numberer = {
            let db = db.clone();
            tokio::spawn(async move { numbering.number_pending(&db).await })
        };
        until_a_lock_wait(&db, &numberer).await;
        // A client moves the row, still unnumbered, to till B.
        let mover = {
            let db = db.clone();
            let id = row.id;
            tokio::spawn(async move {
                execute(
                    &db,
                    "UPDATE ac_receipt SET till = 'B' WHERE id = ? AND number IS NULL",
                    vec![id.into()],
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        locker.rollback().await.unwrap();
        numberer.await.unwrap().unwrap();
        let moved = mover.await.unwrap();
        let after = ac_receipt::Entity::find_by_id(row.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let last_a = scalar(&db, "SELECT last FROM sequences WHERE name = 'acr-A'").await;
        let last_b = scalar(&db, "SELECT last FROM sequences WHERE name = 'acr-B'").await;
        db.close().await.unwrap();
        scratch.remove().await;
        if moved == 0 {
            // The numberer went first (PostgreSQL): the row stays in A, #2.
            assert_eq!(
                (after.till.as_str(), after.number, last_a),
                ("A", Some(2), Some(2)),
                "{t:?}"
            );
        } else {
            // The client went first: the row is in B when it is numbered,
            // so its number is acr-B's 1 (or none yet), and acr-A stays at 1.
            assert_eq!(after.till, "B", "{t:?}");
            let consistent = last_a == Some(1)
                && (after.number.is_none() || (after.number == Some(1) && last_b == Some(1)));
            assert!(
                consistent,
                "{t:?}: the row moved to till B before it was numbered holds {:?}; \
                 acr-A at {last_a:?}, acr-B at {last_b:?}",
                after.number
            );
        }
    }
}

/// A numberer's task aborted while its batch waits for the sequence (a
/// crash mid-batch, with a pool of one connection that is then reused):
/// nothing half-numbered, nothing consumed, the next pass numbers the rows
/// once. The library withstood this on PostgreSQL and MariaDB.
#[tokio::test]
async fn a_batch_aborted_mid_way_leaves_nothing_behind() {
    for t in connect_all(1).await {
        if t.backend == Backend::Sqlite {
            continue; // no row lock to stop the batch on
        }
        let (scratch, db) = scratch(&t, "attack_ac_abort", 4).await;
        let numbering = ac_receipt::ActiveModel::gapless_numbering();
        let first = receipt(&db, "A").await;
        pass_until(&db, || async {
            ac_receipt::Entity::find_by_id(first.id)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .number
                .is_some()
        })
        .await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(receipt(&db, "A").await.id);
        }
        while !settled(&db, *ids.last().unwrap()).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let single = sequences_tests::open(&scratch.url, 1).await;
        let locker = db.begin().await.unwrap();
        execute(
            &locker,
            "SELECT last FROM sequences WHERE name = 'acr-A' FOR UPDATE",
            vec![],
        )
        .await;
        let task = {
            let single = single.clone();
            tokio::spawn(async move { numbering.number_pending(&single).await })
        };
        until_a_lock_wait(&db, &task).await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        locker.rollback().await.unwrap();
        // The same (only) connection numbers again.
        let mut numbered = 0;
        for _ in 0..500 {
            match numbering.number_pending(&single).await {
                Ok(n) => numbered += n,
                Err(error) => panic!("{t:?}: after the abort: {error}"),
            }
            if numbered >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let rows = ac_receipt::Entity::find()
            .order_by_asc(ac_receipt::Column::Id)
            .all(&db)
            .await
            .unwrap();
        let numbers: Vec<Option<i64>> = rows.iter().map(|r| r.number).collect();
        assert_eq!(
            numbers,
            (1..=6).map(Some).collect::<Vec<_>>(),
            "{t:?}: rows {rows:?}"
        );
        assert_eq!(
            scalar(&db, "SELECT last FROM sequences WHERE name = 'acr-A'").await,
            Some(6),
            "{t:?}"
        );
        single.close().await.unwrap();
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// Reads a feed to its end, `limit` rows at a time, as a consumer does:
/// the ids delivered.
async fn consume<F, Fut>(mut read: F, limit: u64) -> Result<Vec<i32>, SequenceError>
where
    F: FnMut(i64, u64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(i32, i64)>, SequenceError>>,
{
    let mut last_seen = 0;
    let mut delivered = Vec::new();
    for _ in 0..100 {
        let rows = read(last_seen, limit).await?;
        if rows.is_empty() {
            return Ok(delivered);
        }
        for (id, number) in rows {
            delivered.push(id);
            last_seen = number;
        }
    }
    panic!("the feed never ended");
}

/// Was a defect (all backends), fixed: `read_after` refuses a field with
/// placeholders; `read_after_in` takes the scope.
/// `read_after` on a field whose sequence has a
/// placeholder (`acr-{till}`: one series per till) orders every till's
/// numbers together: two tills of two receipts each read as 1, 1, 2, 2. A
/// consumer reading one row at a time delivers 1, then asks for numbers
/// after 1, and never gets the other till's receipt 1 (nor its 2): two of
/// four rows skipped, silently. The README's own example calls
/// `read_after` on `receipt-{till}` and promises "numbers 101, 102, ...
/// with no hole". The doc comment of `read_after` says to use
/// `read_after_where` for such a field, but nothing refuses it.
///
/// Correct: refuse (`InvalidNumbering`) a field with placeholders, or
/// deliver every row.
#[tokio::test]
async fn read_after_refuses_a_field_with_a_sequence_per_scope() {
    let mut lies = Vec::new();
    for t in connect_all(1).await {
        let (scratch, db) = scratch(&t, "attack_ac_feed", 2).await;
        let numbering = ac_receipt::ActiveModel::gapless_numbering();
        for till in ["A", "B", "A", "B"] {
            receipt(&db, till).await;
        }
        pass_until(&db, || async {
            ac_receipt::Entity::find()
                .filter(ac_receipt::Column::Number.is_null())
                .all(&db)
                .await
                .unwrap()
                .is_empty()
        })
        .await;
        let delivered = consume(
            |last_seen, limit| {
                let db = db.clone();
                async move {
                    Ok(numbering
                        .read_after(&db, last_seen, limit)
                        .await?
                        .into_iter()
                        .map(|r| (r.id, r.number.unwrap()))
                        .collect())
                }
            },
            1,
        )
        .await;
        match delivered {
            Err(SequenceError::InvalidNumbering { .. }) => {}
            Err(error) => panic!("{t:?}: {error}"),
            Ok(ids) if ids.len() == 4 => {}
            Ok(ids) => lies.push(format!(
                "{t:?}: the feed delivered rows {ids:?} of 4, and ended"
            )),
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
    assert!(lies.is_empty(), "{lies:#?}");
}

/// Was a defect (all backends), fixed: a periodic field's feed is refused.
/// `read_after_where` (now `read_after_in`) with the scope the README
/// prescribes (one book) still mixes the periods of a per-year sequence
/// (`acd-{book}`, `period = "year"`): 2025's numbers 1, 2 and 2026's 1 read
/// as 1, 1, 2. A consumer reading one row at a time skips one of the two
/// rows numbered 1, silently, and nothing refuses a periodic field.
///
/// Correct: refuse a field with a period (or demand its period in the
/// filter), or deliver every row.
#[tokio::test]
async fn read_after_in_refuses_a_field_with_a_sequence_per_period() {
    let mut lies = Vec::new();
    for t in connect_all(1).await {
        let (scratch, db) = scratch(&t, "attack_ac_period", 2).await;
        let numbering = ac_doc::ActiveModel::gapless_numbering();
        for day in ["2025-06-01", "2025-06-02", "2026-01-05"] {
            doc(&db, None, "X", day).await;
        }
        pass_until(&db, || async {
            ac_doc::Entity::find()
                .filter(ac_doc::Column::Number.is_null())
                .all(&db)
                .await
                .unwrap()
                .is_empty()
        })
        .await;
        let delivered = consume(
            |last_seen, limit| {
                let db = db.clone();
                async move {
                    Ok(numbering
                        .read_after_in(&db, [(ac_doc::Column::Book, "X")], last_seen, limit)
                        .await?
                        .into_iter()
                        .map(|r| (r.id, r.number.unwrap()))
                        .collect())
                }
            },
            1,
        )
        .await;
        match delivered {
            Err(SequenceError::InvalidNumbering { .. }) => {}
            Err(error) => panic!("{t:?}: {error}"),
            Ok(ids) if ids.len() == 3 => {}
            Ok(ids) => lies.push(format!(
                "{t:?}: the feed delivered rows {ids:?} of 3, and ended"
            )),
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
    assert!(lies.is_empty(), "{lies:#?}");
}

/// Was a defect (all backends), fixed: a refusal keeps the digest of the
/// row's values, and is forgotten when the row changed or is another.
/// A refusal was keyed by the row's key only. The
/// refused row (dated before a number already given) is deleted, as an
/// unnumbered row may be, and a new, valid row comes with the same key (a
/// natural key sent again, an explicit id, a reused rowid): the numberer
/// skips it for ever (its query excludes every key with a refusal), and
/// `wait_for_number` answers `NumberRefused` "chronological" for a row
/// dated after every number given, which the sequence never refused.
///
/// Correct: the new row is numbered 2 (a refusal belongs to the row it
/// was made for, and dies with it).
#[tokio::test]
async fn a_new_row_with_a_refused_rows_key_is_numbered() {
    let mut lies = Vec::new();
    for t in connect_all(1).await {
        let (scratch, db) = scratch(&t, "attack_ac_reuse", 2).await;
        let numbering = ac_doc::ActiveModel::gapless_numbering();
        doc(&db, Some(1001), "R", "2026-05-10").await;
        doc(&db, Some(1002), "R", "2026-05-01").await; // before #1: refused
        pass_until(&db, || async {
            scalar(
                &db,
                "SELECT COUNT(*) FROM sequence_refusals WHERE row_key = '1002'",
            )
            .await
                == Some(1)
        })
        .await;
        execute(&db, "DELETE FROM ac_doc WHERE id = 1002", vec![]).await;
        doc(&db, Some(1002), "R", "2026-05-20").await; // a valid row
        let outcome = {
            // Passes (PostgreSQL settles the new row first), then the wait.
            for _ in 0..100 {
                numbering.number_pending(&db).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            numbering
                .wait_for_number(&db, 1002, Duration::from_secs(2))
                .await
        };
        match outcome {
            Ok(value) => assert_eq!(
                value,
                sea_orm::Value::String(Some("R-2026-0002".into())),
                "{t:?}"
            ),
            Err(error) => lies.push(format!(
                "{t:?}: the new row 1002, dated 2026-05-20: {error}"
            )),
        }
        db.close().await.unwrap();
        scratch.remove().await;
    }
    assert!(lies.is_empty(), "{lies:#?}");
}

/// With the triggers installed, the number of a row that waits for its
/// numberer (and a reference's raw value) can be set by the numberer alone:
/// an UPDATE from anyone else is refused (`NumberSet`), through SeaORM or
/// raw SQL, and the numberer then numbers the row from its counter.
///
/// Reproduction before the fix: receipts 1 and 2 numbered, a third waiting;
/// `UPDATE ac_receipt SET number = 2 WHERE id = <third>` succeeds, the
/// numberer passes over the third (it has a number), and the feed returns
/// 1, 2, 2.
#[tokio::test]
async fn a_waiting_rows_number_is_set_by_its_numberer_alone() {
    for t in connect_all(2).await {
        let (scratch, db) = scratch(&t, "atk_ac_set", 2).await;
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        let docs = ac_doc::ActiveModel::gapless_numbering();
        docs.install_triggers(&db).await.unwrap();
        let first = receipt(&db, "T").await;
        receipt(&db, "T").await;
        receipts.number_pending(&db).await.unwrap();
        let third = receipt(&db, "T").await;
        let what = format!("{:?}", t.backend);
        let refused = |result: Result<u64, sea_orm::DbErr>| {
            matches!(
                result.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::NumberSet { .. })
            )
        };
        for sql in [
            "UPDATE ac_receipt SET number = 2 WHERE id = ?",
            "UPDATE ac_receipt SET number = 3 WHERE id = ?",
        ] {
            let result = sequences_tests::try_execute(&db, sql, vec![third.id.into()]).await;
            assert!(refused(result.clone()), "{what}: `{sql}`: {result:?}");
        }
        // Through SeaORM, the same.
        let mut model: ac_receipt::ActiveModel = third.clone().into();
        model.number = Set(Some(2));
        let result = model.update(&db).await;
        assert!(
            matches!(
                result.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::NumberSet { .. })
            ),
            "{what}: {result:?}"
        );
        // A transaction marked as the numberer of another column is not
        // this column's (PostgreSQL's mark is the transaction's).
        if t.backend == Backend::Postgres {
            let txn = db.begin().await.unwrap();
            execute(
                &txn,
                "SELECT set_config('sequences.numbering', 'ac_doc.number', true)",
                vec![],
            )
            .await;
            let result = sequences_tests::try_execute(
                &txn,
                "UPDATE ac_receipt SET number = 2 WHERE id = ?",
                vec![third.id.into()],
            )
            .await;
            assert!(refused(result.clone()), "{what}: another mark: {result:?}");
            txn.rollback().await.unwrap();
        }
        // Changing what the row will be numbered by is not numbering it.
        execute(
            &db,
            "UPDATE ac_receipt SET till = 'T' WHERE id = ?",
            vec![third.id.into()],
        )
        .await;
        // A reference's raw value and the reference itself are the
        // numberer's too.
        let pending_doc = doc(&db, None, "B", "2026-03-01").await;
        for sql in [
            "UPDATE ac_doc SET number = 1 WHERE id = ?",
            "UPDATE ac_doc SET reference = 'B-2026-0001' WHERE id = ?",
        ] {
            let result = sequences_tests::try_execute(&db, sql, vec![pending_doc.id.into()]).await;
            assert!(refused(result.clone()), "{what}: `{sql}`: {result:?}");
        }
        // The numberer numbers them, from the counter (PostgreSQL: once
        // every older transaction of the server, other tests' too, ended).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            receipts.number_pending(&db).await.unwrap();
            docs.number_pending(&db).await.unwrap();
            let receipts_left = ac_receipt::Entity::find()
                .filter(ac_receipt::Column::Number.is_null())
                .count(&db)
                .await
                .unwrap();
            let docs_left = ac_doc::Entity::find()
                .filter(ac_doc::Column::Number.is_null())
                .count(&db)
                .await
                .unwrap();
            if receipts_left + docs_left == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{what}: never numbered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let feed: Vec<Option<i64>> = receipts
            .read_after_in(&db, [(ac_receipt::Column::Till, "T")], 0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.number)
            .collect();
        assert_eq!(feed, [Some(1), Some(2), Some(3)], "{what}");
        let doc_now = ac_doc::Entity::find_by_id(pending_doc.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(doc_now.number, Some(1), "{what}");
        // Once numbered, the number is frozen as any other.
        let result = sequences_tests::try_execute(
            &db,
            "UPDATE ac_receipt SET number = 9 WHERE id = ?",
            vec![first.id.into()],
        )
        .await;
        assert!(
            matches!(
                result.as_ref().err().and_then(SequenceError::from_database),
                Some(SequenceError::NumberChanged { .. })
            ),
            "{what}: {result:?}"
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// What stays open, the writer choosing a number at insert (as imports and
/// the library's own path do), and a session that imitates the numberer's
/// mark: the audit reports the number given twice.
#[tokio::test]
async fn a_number_chosen_behind_the_numberer_is_reported_by_the_audit() {
    for t in connect_all(2).await {
        let (scratch, db) = scratch(&t, "atk_ac_mark", 2).await;
        let receipts = ac_receipt::ActiveModel::gapless_numbering();
        receipts.install_triggers(&db).await.unwrap();
        let first = receipt(&db, "M").await;
        // PostgreSQL numbers only rows older than every transaction of the
        // server (other tests' too): until it is numbered.
        let deadline = Instant::now() + Duration::from_secs(60);
        while ac_receipt::Entity::find_by_id(first.id)
            .one(&db)
            .await
            .unwrap()
            .and_then(|row| row.number)
            .is_none()
        {
            assert!(Instant::now() < deadline, "{:?}: never numbered", t.backend);
            receipts.number_pending(&db).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let waiting = receipt(&db, "M").await;
        let mark = match t.backend {
            Backend::Postgres => {
                "SELECT set_config('sequences.numbering', 'ac_receipt.number', true)"
            }
            // The numberer's temporary table, shadowing the empty one.
            Backend::MySql => {
                "CREATE TEMPORARY TABLE IF NOT EXISTS sequences_numbering (target VARBINARY(512) NOT NULL PRIMARY KEY) ENGINE = InnoDB; \
                 INSERT IGNORE INTO sequences_numbering (target) VALUES ('ac_receipt.number')"
            }
            Backend::Sqlite => "SELECT 1",
        };
        let txn = db.begin().await.unwrap();
        for statement in mark.split("; ") {
            execute(&txn, statement, vec![]).await;
        }
        let result = sequences_tests::try_execute(
            &txn,
            "UPDATE ac_receipt SET number = 1 WHERE id = ?",
            vec![waiting.id.into()],
        )
        .await;
        if result.is_ok() {
            if t.backend == Backend::MySql {
                execute(&txn, "DELETE FROM sequences_numbering", vec![]).await;
            }
            txn.commit().await.unwrap();
        } else {
            txn.rollback().await.unwrap();
            // SQLite's mark is a temporary table named after the field: not
            // imitated here; the insert below chooses the number instead.
            execute(
                &db,
                "INSERT INTO ac_receipt (till, number) VALUES ('M', 1)",
                vec![],
            )
            .await;
        }
        let report = sequences_core::Audit::new(ac_receipt::Column::Number)
            .scope([ac_receipt::Column::Till])
            .sequence("acr-{till}")
            .filter(ac_receipt::Column::Till.eq("M"))
            .row_key([ac_receipt::Column::Id])
            .pending(Duration::from_secs(2))
            .run(&db)
            .await
            .unwrap();
        assert!(
            !report.is_clean() && report.duplicate_rows() > 0,
            "{:?}: {report:?}",
            t.backend
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// The audit's verdict on rows waiting for a numberer must not rest on
/// anything the application's role can write. One `INSERT` of the
/// numberer's heartbeat row, dated in 2100, used to make the audit of rows
/// no numberer ever touched say clean, for ever; a heartbeat renewed every
/// second by hand did the same. Now the audit watches the rows themselves:
/// still waiting after `max_wait`, they are a defect, whatever the
/// heartbeat; and a heartbeat from the future is a defect of its own.
#[tokio::test]
async fn a_forged_heartbeat_does_not_make_the_audit_clean() {
    for t in connect_all(2).await {
        let (scratch, db) = scratch(&t, "atk_ac_heart", 2).await;
        receipt(&db, "H").await;
        receipt(&db, "H").await;
        let audit = || async {
            sequences_core::Audit::new(ac_receipt::Column::Number)
                .scope([ac_receipt::Column::Till])
                .sequence("acr-{till}")
                .row_key([ac_receipt::Column::Id])
                .pending(Duration::from_millis(500))
                .run(&db)
                .await
                .unwrap()
        };
        let what = format!("{:?}", t.backend);
        // A heartbeat in 2100.
        execute(
            &db,
            "INSERT INTO sequences (name, last) VALUES ('numberer:ac_receipt.number', 4102444800)",
            vec![],
        )
        .await;
        let report = audit().await;
        let pending = report.pending.clone().unwrap();
        assert!(pending.heartbeat_ahead, "{what}: {pending:?}");
        assert_eq!(pending.overdue, 2, "{what}: {pending:?}");
        assert!(!report.is_clean(), "{what}: AUDIT LIES: {report:?}");
        // A heartbeat kept fresh by hand, while no numberer runs.
        let now = match t.backend {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) AS BIGINT)",
            Backend::MySql => "CAST(UNIX_TIMESTAMP() AS SIGNED)",
            Backend::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
        };
        let fresh =
            format!("UPDATE sequences SET last = {now} WHERE name = 'numberer:ac_receipt.number'");
        execute(&db, &fresh, vec![]).await;
        let forger = {
            let db = db.clone();
            tokio::spawn(async move {
                loop {
                    let _ = sequences_tests::try_execute(&db, &fresh, vec![]).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let report = audit().await;
        forger.abort();
        let pending = report.pending.clone().unwrap();
        assert!(!pending.heartbeat_ahead, "{what}: {pending:?}");
        assert!(
            pending
                .numberer_idle
                .is_some_and(|idle| idle < Duration::from_secs(5)),
            "{what}: {pending:?}"
        );
        assert_eq!(pending.overdue, 2, "{what}: {pending:?}");
        assert!(!report.is_clean(), "{what}: AUDIT LIES: {report:?}");
        // A refusal deleted by hand: the row it was about waits again, and
        // the audit watching it sees it wait.
        let docs = ac_doc::ActiveModel::gapless_numbering();
        doc(&db, None, "R", "2026-05-10").await;
        doc(&db, None, "R", "2026-05-01").await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            docs.number_pending(&db).await.unwrap();
            let refused = sequences_tests::try_execute(
                &db,
                "DELETE FROM sequence_refusals WHERE table_name = 'ac_doc'",
                vec![],
            )
            .await
            .unwrap();
            if refused > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{what}: never refused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let report = sequences_core::Audit::new(ac_doc::Column::Number)
            .scope([ac_doc::Column::Book])
            .row_key([ac_doc::Column::Id])
            .filter(ac_doc::Column::Book.eq("R"))
            .pending(Duration::from_millis(300))
            .run(&db)
            .await
            .unwrap();
        let pending = report.pending.clone().unwrap();
        assert!(
            pending.refused.is_empty() && pending.overdue == 1,
            "{what}: {pending:?}"
        );
        assert!(!report.is_clean(), "{what}: AUDIT LIES: {report:?}");
        db.close().await.unwrap();
        scratch.remove().await;
    }
}
