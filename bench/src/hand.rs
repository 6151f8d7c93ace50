//! The new modes' anchors, written by hand as a careful developer would
//! without the library: the minimal trigger that numbers a row from its
//! counter row ("insert (database)"), and the minimal numberer that numbers
//! committed rows after COMMIT ("insert (after COMMIT)"). Neither has the
//! library's guards (no refusal, no frozen columns, no delete policy, no
//! heartbeat, no wake-up on PostgreSQL): the ratio library / by hand is the
//! price of those guards.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

/// The counter of the hand trigger: `bench-hand-db-{series}`.
pub const TRIGGER_HOT: &str = "bench-hand-db-hot";

/// The counter of the hand numberer (one series).
pub const NUMBERER_HOT: &str = "bench-hand-ac-hot";

/// Rows the hand numberer takes per batch (the library's batch).
const BATCH: usize = 500;

/// (Re)creates the hand trigger on `bench_hand_db_invoice`: take the counter
/// row by the same upsert the raw-SQL baseline uses, set the number.
pub async fn install_trigger<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let statements: &[&str] = match db.get_database_backend() {
        DbBackend::Postgres => &[
            "DROP TRIGGER IF EXISTS bench_hand_number ON bench_hand_db_invoice",
            "CREATE OR REPLACE FUNCTION bench_hand_number() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO sequences (name, last) VALUES ('bench-hand-db-' || NEW.series, 1)
                 ON CONFLICT (name) DO UPDATE SET last = sequences.last + 1
                 RETURNING last INTO NEW.number;
               RETURN NEW;
             END $$",
            "CREATE TRIGGER bench_hand_number BEFORE INSERT ON bench_hand_db_invoice \
             FOR EACH ROW WHEN (NEW.number IS NULL) EXECUTE FUNCTION bench_hand_number()",
        ],
        DbBackend::MySql => &[
            "DROP TRIGGER IF EXISTS bench_hand_number",
            "CREATE TRIGGER bench_hand_number BEFORE INSERT ON bench_hand_db_invoice \
             FOR EACH ROW BEGIN
               IF NEW.number IS NULL THEN
                 INSERT INTO sequences (name, last)
                   VALUES (CONCAT('bench-hand-db-', NEW.series), LAST_INSERT_ID(1))
                   ON DUPLICATE KEY UPDATE last = LAST_INSERT_ID(last + 1);
                 SET NEW.number = LAST_INSERT_ID();
               END IF;
             END",
        ],
        _ => &[
            "DROP TRIGGER IF EXISTS bench_hand_number",
            // SQLite cannot set NEW: the row is numbered just after its insert.
            "CREATE TRIGGER bench_hand_number AFTER INSERT ON bench_hand_db_invoice \
             FOR EACH ROW WHEN NEW.number IS NULL BEGIN
               INSERT INTO sequences (name, last) VALUES ('bench-hand-db-' || NEW.series, 1)
                 ON CONFLICT (name) DO UPDATE SET last = last + 1;
               UPDATE bench_hand_db_invoice
                 SET number = (SELECT last FROM sequences WHERE name = 'bench-hand-db-' || NEW.series)
                 WHERE id = NEW.id;
             END",
        ],
    };
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

/// One pass of the hand numberer: in one transaction, the oldest committed
/// unnumbered rows in key order, one counter update for the batch, one
/// `UPDATE` that numbers them. Returns the rows numbered. Minimal: correct
/// for one numberer at a time, as the benchmark runs it (two would number the
/// same rows twice; the library's numberers exclude each other).
pub async fn number_batch(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    let ids: Vec<i64> = txn
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT id FROM bench_hand_ac_invoice WHERE number IS NULL ORDER BY id \
                 LIMIT {BATCH}"
            ),
        ))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    let n = ids.len() as i64;
    let last = match backend {
        DbBackend::MySql => {
            let sql = "UPDATE sequences SET last = LAST_INSERT_ID(last + ?) WHERE name = ?";
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [n.into(), NUMBERER_HOT.into()],
            ))
            .await?
            .last_insert_id() as i64
        }
        _ => {
            let sql = match backend {
                DbBackend::Postgres => {
                    "UPDATE sequences SET last = last + $1 WHERE name = $2 RETURNING last"
                }
                _ => "UPDATE sequences SET last = last + ? WHERE name = ? RETURNING last",
            };
            txn.query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [n.into(), NUMBERER_HOT.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom(format!("no counter row {NUMBERER_HOT}")))?
            .try_get_by_index::<i64>(0)?
        }
    };
    let first = last - n + 1;
    let cases: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!(" WHEN {id} THEN {}", first + i as i64))
        .collect();
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    txn.execute_unprepared(&format!(
        "UPDATE bench_hand_ac_invoice SET number = CASE id{cases} END WHERE id IN ({list})"
    ))
    .await?;
    txn.commit().await?;
    Ok(ids.len())
}

/// The hand feed: the rows of series `hot` numbered after `last`, in
/// number order, `(id, number)`.
pub async fn read_after<C: ConnectionTrait>(db: &C, last: i64) -> Result<Vec<(i64, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT id, number FROM bench_hand_ac_invoice WHERE series = $1 AND number > $2 \
             ORDER BY number LIMIT 1000"
        }
        _ => {
            "SELECT id, number FROM bench_hand_ac_invoice WHERE series = ? AND number > ? \
             ORDER BY number LIMIT 1000"
        }
    };
    db.query_all_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [crate::scenarios::HOT.into(), last.into()],
    ))
    .await?
    .iter()
    .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
    .collect()
}
