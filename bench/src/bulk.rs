//! "bulk load, N rows": an import, as a user loads a year of invoices.
//!
//! - In one statement (`INSERT .. SELECT`), numbered by the database's
//!   triggers: the library's (`bench_db_invoice`), the minimal trigger by
//!   hand (`bench_hand_db_invoice`), and an auto-increment key (no number).
//! - In one transaction, one insert per row: the derive's insert, and the
//!   same by hand (the upsert, then the insert with the number); and the
//!   import the guide recommends, `fill_gapless_many` and `insert_many` a
//!   thousand rows at a time.
//!
//! Reported as time per row at each N, so that a cost per row that grows
//! with N (the counter row updated again and again in one transaction) shows.

use std::time::Instant;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, TransactionTrait,
};

use crate::scenarios::raw_upsert;

/// Rows per `fill_gapless_many` and `insert_many` in the import the guide
/// recommends.
const IMPORT_BATCH: i64 = 1_000;
use crate::schema::{invoice, plain};

/// One measurement.
#[derive(Debug, Clone)]
pub struct BulkRow {
    pub backend: &'static str,
    /// "one statement" or "one transaction".
    pub shape: &'static str,
    pub who: &'static str,
    pub rows: i64,
    pub seconds: f64,
}

impl BulkRow {
    /// Microseconds per row.
    pub fn per_row_us(&self) -> f64 {
        self.seconds * 1e6 / self.rows as f64
    }
}

/// `INSERT INTO table (series, amount_cents) SELECT series, k FOR k IN
/// 1..=rows`; the number left out, or 0 (`zero`: the plain table's number is
/// NOT NULL).
fn insert_select(backend: DbBackend, table: &str, series: &str, rows: i64, zero: bool) -> String {
    let (columns, values) = if zero {
        ("series, amount_cents, number", "k, 0")
    } else {
        ("series, amount_cents", "k")
    };
    match backend {
        DbBackend::Postgres => format!(
            "INSERT INTO {table} ({columns}) \
             SELECT '{series}', {values} FROM generate_series(1, {rows}) k"
        ),
        DbBackend::MySql => format!(
            "INSERT INTO {table} ({columns}) SELECT '{series}', {values} \
             FROM (SELECT seq AS k FROM seq_1_to_{rows}) g"
        ),
        _ => format!(
            "WITH RECURSIVE g(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM g WHERE k < {rows}) \
             INSERT INTO {table} ({columns}) SELECT '{series}', {values} FROM g"
        ),
    }
}

/// Times `work` in a transaction of its own.
async fn timed<F>(db: &DatabaseConnection, work: F) -> Result<f64, DbErr>
where
    F: AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<(), DbErr>,
{
    let started = Instant::now();
    let txn = db.begin().await?;
    work(&txn).await?;
    txn.commit().await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Every shape at every size in `sizes`, on `backend`'s `db` (whose triggers
/// of "insert (database)" and the hand trigger are installed). Each load
/// uses a series of its own (`bulk-<who>-<n>`), so each starts a counter.
pub async fn measure(
    db: &DatabaseConnection,
    backend: &'static str,
    sizes: &[i64],
) -> Result<Vec<BulkRow>, DbErr> {
    let dialect = db.get_database_backend();
    let mut out = Vec::new();
    for &n in sizes {
        let mut row = |shape, who, seconds| {
            let r = BulkRow {
                backend,
                shape,
                who,
                rows: n,
                seconds,
            };
            println!(
                "  bulk load, {n} rows, {shape}, {who}: {seconds:.2} s, {:.1} us per row",
                r.per_row_us()
            );
            out.push(r);
        };
        for (who, table) in [
            ("library triggers", "bench_db_invoice"),
            ("hand trigger", "bench_hand_db_invoice"),
            ("auto-increment", "bench_plain_invoice"),
        ] {
            let series = format!("bulk-{}-{n}", who.replace(' ', "-"));
            let sql = insert_select(dialect, table, &series, n, table == "bench_plain_invoice");
            let seconds =
                timed(db, async |txn| txn.execute_unprepared(&sql).await.map(drop)).await?;
            row("one statement", who, seconds);
        }
        let series = format!("bulk-derive-{n}");
        let seconds = timed(db, async |txn| {
            for k in 0..n {
                invoice::ActiveModel {
                    series: Set(series.clone()),
                    amount_cents: Set(k),
                    ..Default::default()
                }
                .insert(txn)
                .await?;
            }
            Ok(())
        })
        .await?;
        row("one transaction", "library (derive)", seconds);
        // The import path the guide gives: one allocation per batch.
        let series = format!("bulk-many-{n}");
        let seconds = timed(db, async |txn| {
            let mut k = 0;
            while k < n {
                let batch: Vec<invoice::ActiveModel> = (k..n.min(k + IMPORT_BATCH))
                    .map(|k| invoice::ActiveModel {
                        series: Set(series.clone()),
                        amount_cents: Set(k),
                        ..Default::default()
                    })
                    .collect();
                k += batch.len() as i64;
                let filled = invoice::ActiveModel::fill_gapless_many(batch, txn).await?;
                invoice::Entity::insert_many(filled).exec(txn).await?;
            }
            Ok(())
        })
        .await?;
        row(
            "one transaction",
            "library (fill_gapless_many, 1,000 a batch)",
            seconds,
        );
        let name = format!("bench-bulk-hand-{n}");
        let seconds = timed(db, async |txn| {
            for k in 0..n {
                let number = raw_upsert(txn, &name, 1).await?;
                plain::ActiveModel {
                    series: Set(name.clone()),
                    number: Set(number),
                    amount_cents: Set(k),
                    ..Default::default()
                }
                .insert(txn)
                .await?;
            }
            Ok(())
        })
        .await?;
        row("one transaction", "by hand", seconds);
    }
    Ok(out)
}
