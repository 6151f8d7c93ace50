//! One operation of each scenario, done by the library and by hand.
//!
//! The raw-SQL baseline is what a careful developer writes without the
//! library: the same single-statement upsert (without the library's overflow
//! guard), sent through the same SeaORM pool, and the same SeaORM insert with
//! the number set by hand.

use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, Statement, TransactionTrait,
};
use sequences_core::Sequence;

use crate::schema::{invoice, plain};

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// `next_value` alone, in autocommit, on one hot sequence.
    NextValue,
    /// Begin, number an invoice, insert it, commit; one hot sequence.
    Insert,
    /// `next_values(100)` in autocommit.
    Batch,
    /// Begin, number 100 invoices in one statement, `insert_many`, commit.
    Bulk,
    /// As `Insert`, but each connection numbers from a sequence of its own.
    Distinct,
    /// `next_value` in autocommit on a random one of many existing sequences.
    Many,
}

impl Scenario {
    /// The scenarios measured at every connection count.
    pub const CONCURRENT: [Scenario; 5] = [
        Scenario::NextValue,
        Scenario::Insert,
        Scenario::Batch,
        Scenario::Bulk,
        Scenario::Distinct,
    ];

    /// Short name, for tables and the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::NextValue => "next_value",
            Scenario::Insert => "insert (derive)",
            Scenario::Batch => "next_values(100)",
            Scenario::Bulk => "bulk insert 100",
            Scenario::Distinct => "insert, own sequence",
            Scenario::Many => "many sequences",
        }
    }

    /// The variants measured for this scenario.
    pub fn variants(self) -> &'static [Variant] {
        match self {
            Scenario::Insert | Scenario::Bulk => {
                &[Variant::Library, Variant::Raw, Variant::AutoIncrement]
            }
            _ => &[Variant::Library, Variant::Raw],
        }
    }
}

/// Who does the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// sea-orm-sequences.
    Library,
    /// The same statements by hand.
    Raw,
    /// An auto-increment key instead of a gapless number (gaps included).
    AutoIncrement,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Library => "library",
            Variant::Raw => "raw SQL",
            Variant::AutoIncrement => "auto-increment",
        }
    }
}

/// The hot sequence's series (sequence `bench-hot`).
const HOT: &str = "hot";
const BATCH: u64 = 100;

/// The sequence a scenario uses for task `task`.
pub fn sequence_name(scenario: Scenario, task: usize, many: u32) -> String {
    match scenario {
        Scenario::Distinct => format!("bench-task-{task}"),
        Scenario::Many => format!("many-{}", rand::rng().random_range(1..=many)),
        Scenario::Batch => "bench-batch".to_owned(),
        _ => format!("bench-{HOT}"),
    }
}

/// Runs one operation.
pub async fn run(
    scenario: Scenario,
    variant: Variant,
    db: &DatabaseConnection,
    task: usize,
    many: u32,
) -> Result<(), DbErr> {
    let name = sequence_name(scenario, task, many);
    let amount = 4711;
    match (scenario, variant) {
        (Scenario::NextValue | Scenario::Many, Variant::Library) => {
            Sequence::new(name).next_value(db).await.map(drop)?;
        }
        (Scenario::NextValue | Scenario::Many, Variant::Raw) => {
            raw_upsert(db, &name, 1).await?;
        }
        (Scenario::Batch, Variant::Library) => {
            Sequence::new(name).next_values(db, BATCH).await.map(drop)?;
        }
        (Scenario::Batch, Variant::Raw) => {
            raw_upsert(db, &name, BATCH as i64).await?;
        }
        (Scenario::Insert | Scenario::Distinct, Variant::Library) => {
            let series = match scenario {
                Scenario::Distinct => format!("task-{task}"),
                _ => HOT.to_owned(),
            };
            let txn = db.begin().await?;
            invoice::ActiveModel {
                series: Set(series),
                amount_cents: Set(amount),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            txn.commit().await?;
        }
        (Scenario::Insert | Scenario::Distinct, Variant::Raw) => {
            let txn = db.begin().await?;
            let number = raw_upsert(&txn, &name, 1).await?;
            plain_invoice(number, amount).insert(&txn).await?;
            txn.commit().await?;
        }
        (Scenario::Insert | Scenario::Distinct, Variant::AutoIncrement) => {
            let txn = db.begin().await?;
            plain_invoice(0, amount).insert(&txn).await?;
            txn.commit().await?;
        }
        (Scenario::Bulk, Variant::Library) => {
            let txn = db.begin().await?;
            let models = (0..BATCH)
                .map(|_| invoice::ActiveModel {
                    series: Set(HOT.to_owned()),
                    amount_cents: Set(amount),
                    ..Default::default()
                })
                .collect();
            let models = invoice::ActiveModel::fill_gapless_many(models, &txn).await?;
            invoice::Entity::insert_many(models).exec(&txn).await?;
            txn.commit().await?;
        }
        (Scenario::Bulk, Variant::Raw) => {
            let txn = db.begin().await?;
            let last = raw_upsert(&txn, &name, BATCH as i64).await?;
            let first = last - BATCH as i64 + 1;
            let models = (first..=last).map(|number| plain_invoice(number, amount));
            plain::Entity::insert_many(models).exec(&txn).await?;
            txn.commit().await?;
        }
        (Scenario::Bulk, Variant::AutoIncrement) => {
            let txn = db.begin().await?;
            let models = (0..BATCH).map(|_| plain_invoice(0, amount));
            plain::Entity::insert_many(models).exec(&txn).await?;
            txn.commit().await?;
        }
        (_, Variant::AutoIncrement) => unreachable!("no auto-increment variant for {scenario:?}"),
    }
    Ok(())
}

fn plain_invoice(number: i64, amount: i64) -> plain::ActiveModel {
    plain::ActiveModel {
        series: Set(HOT.to_owned()),
        number: Set(number),
        amount_cents: Set(amount),
        ..Default::default()
    }
}

/// Adds `count` to sequence `name` (creating it at `count`) in one statement,
/// by hand; returns the new last value.
pub async fn raw_upsert<C: ConnectionTrait>(db: &C, name: &str, count: i64) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let values = [name.into(), count.into(), count.into()];
    match backend {
        DbBackend::MySql => {
            let sql = "INSERT INTO sequences (name, last) VALUES (?, LAST_INSERT_ID(?)) \
                       ON DUPLICATE KEY UPDATE last = LAST_INSERT_ID(last + ?)";
            let result = db
                .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            Ok(result.last_insert_id() as i64)
        }
        _ => {
            let sql = if backend == DbBackend::Postgres {
                "INSERT INTO sequences (name, last) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET last = sequences.last + $3 RETURNING last"
            } else {
                "INSERT INTO sequences (name, last) VALUES (?, ?) \
                 ON CONFLICT (name) DO UPDATE SET last = sequences.last + ? RETURNING last"
            };
            let row = db
                .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?
                .ok_or_else(|| DbErr::Custom("the upsert returned no row".into()))?;
            row.try_get_by_index::<i64>(0)
        }
    }
}

/// Creates `count` sequences `many-1` ..= `many-<count>` in one statement.
pub async fn seed_many(db: &DatabaseConnection, count: u32) -> Result<(), DbErr> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "INSERT INTO sequences (name, last) SELECT 'many-' || g, 0 \
             FROM generate_series(1, {count}) g ON CONFLICT (name) DO NOTHING"
        ),
        DbBackend::MySql => format!(
            "INSERT IGNORE INTO sequences (name, last) \
             WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count}) \
             SELECT CONCAT('many-', n), 0 FROM g"
        ),
        _ => format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count}) \
             INSERT OR IGNORE INTO sequences (name, last) SELECT 'many-' || n, 0 FROM g"
        ),
    };
    db.execute_unprepared(&sql).await.map(drop)
}
