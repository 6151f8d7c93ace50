//! One operation of each scenario, done by the library and by hand.
//!
//! The raw-SQL baseline is what a careful developer writes without the
//! library: the same single-statement upsert (without the library's overflow
//! guard), sent through the same SeaORM pool, and the same SeaORM insert with
//! the number set by hand.
//!
//! "insert (database)" is the derive's insert with the number taken by the
//! database's triggers instead of the library, and "insert (after COMMIT)"
//! the derive's insert of a row numbered after COMMIT by a numberer running
//! beside the writers: both measured back to back with "insert (derive)" and
//! its auto-increment baseline (see `Scenario::companions`).

use std::sync::Mutex;
use std::time::Instant;

use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use sequences_core::Sequence;

use crate::schema::{
    ac_invoice, db_invoice, deferred, hand_ac_invoice, hand_db_invoice, invoice, line, plain,
    plain_deferred,
};

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
    /// Begin, an invoice and its lines (`--lines`), commit; one hot sequence.
    /// Numbered first (immediate) or just before COMMIT (deferred).
    Lines,
    /// As `Insert`, but the row is inserted with its number omitted and the
    /// database's triggers number it (its own table and hot sequence).
    /// Measured with `Insert`, not alone.
    InsertDatabase,
    /// As `Insert`, but the row commits with its number NULL and a numberer
    /// numbers it after COMMIT (its own table and hot sequence). Measured
    /// with `Insert`, not alone; also reports the delay from COMMIT to the
    /// number, as a reader of the feed sees it.
    InsertAfterCommit,
}

impl Scenario {
    /// The scenarios measured at every connection count.
    pub const CONCURRENT: [Scenario; 6] = [
        Scenario::NextValue,
        Scenario::Insert,
        Scenario::Batch,
        Scenario::Bulk,
        Scenario::Distinct,
        Scenario::Lines,
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
            Scenario::Lines => "invoice + lines",
            Scenario::InsertDatabase => "insert (database)",
            Scenario::InsertAfterCommit => "insert (after COMMIT)",
        }
    }

    /// The variants measured for this scenario.
    pub fn variants(self) -> &'static [Variant] {
        match self {
            Scenario::Insert | Scenario::Bulk => {
                &[Variant::Library, Variant::Raw, Variant::AutoIncrement]
            }
            Scenario::Lines => &[
                Variant::Library,
                Variant::Raw,
                Variant::Deferred,
                Variant::RawDeferred,
            ],
            Scenario::InsertDatabase => &[Variant::Database, Variant::HandTrigger],
            Scenario::InsertAfterCommit => &[Variant::AfterCommit, Variant::HandNumberer],
            _ => &[Variant::Library, Variant::Raw],
        }
    }

    /// The scenarios whose variants are measured back to back with this
    /// one's, in the same rotation, so that their ratios are taken run by run.
    pub fn companions(self) -> &'static [Scenario] {
        match self {
            Scenario::Insert => &[Scenario::InsertDatabase, Scenario::InsertAfterCommit],
            _ => &[],
        }
    }

    /// The (scenario, variant) a variant of this scenario is also compared
    /// with (`Row::ratio_to_derive`), beside its by-hand baseline.
    pub fn compared_to(self, variant: Variant) -> Option<(Scenario, Variant)> {
        match (self, variant) {
            (Scenario::InsertDatabase, Variant::Database)
            | (Scenario::InsertAfterCommit, Variant::AfterCommit) => {
                Some((Scenario::Insert, Variant::Library))
            }
            _ => None,
        }
    }

    /// The same design written by hand that a variant of this scenario is
    /// measured against (`Row::ratio_to_hand`), in the same rotation.
    pub fn by_hand(self, variant: Variant) -> Option<(Scenario, Variant)> {
        match (self, variant) {
            (Scenario::InsertDatabase, Variant::Database) => {
                Some((Scenario::InsertDatabase, Variant::HandTrigger))
            }
            (Scenario::InsertAfterCommit, Variant::AfterCommit) => {
                Some((Scenario::InsertAfterCommit, Variant::HandNumberer))
            }
            _ => None,
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
    /// sea-orm-sequences, deferred numbering through `sequences_core::transaction`.
    Deferred,
    /// Deferred by hand: the row inserted without its number, the number
    /// taken and set by an UPDATE as the last statements before COMMIT.
    RawDeferred,
    /// The database's triggers (`Numbering::install_triggers`).
    Database,
    /// Numbered after COMMIT by a `Numberer`.
    AfterCommit,
    /// The minimal trigger written by hand (`hand::install_trigger`).
    HandTrigger,
    /// The minimal numberer written by hand (`hand::number_batch`).
    HandNumberer,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Library => "library",
            Variant::Raw => "raw SQL",
            Variant::AutoIncrement => "auto-increment",
            Variant::Deferred => "library, deferred",
            Variant::RawDeferred => "raw, deferred",
            Variant::Database => "db trigger",
            Variant::AfterCommit => "numberer",
            Variant::HandTrigger => "hand trigger",
            Variant::HandNumberer => "hand numberer",
        }
    }

    /// What this variant's ratio is measured against: the same shape by
    /// hand, or for numbering after COMMIT, the auto-increment insert it
    /// means to match.
    pub fn baseline(self) -> Variant {
        match self {
            Variant::Deferred | Variant::RawDeferred => Variant::RawDeferred,
            Variant::AfterCommit | Variant::HandNumberer => Variant::AutoIncrement,
            _ => Variant::Raw,
        }
    }
}

/// The hot sequence's series (sequence `bench-hot`).
pub const HOT: &str = "hot";
const BATCH: u64 = 100;

/// The sequence a scenario uses for task `task` (its immediate variants).
pub fn sequence_name(scenario: Scenario, task: usize, many: u32) -> String {
    match scenario {
        Scenario::Distinct => format!("bench-task-{task}"),
        Scenario::Many => format!("many-{}", rand::rng().random_range(1..=many)),
        Scenario::Batch => "bench-batch".to_owned(),
        _ => format!("bench-{HOT}"),
    }
}

/// The hot sequence of the deferred variants.
pub const DEFERRED_HOT: &str = "bench-deferred-hot";

/// The hot sequence of "insert (database)" (`db_invoice`: `bench-db-{series}`).
pub const DATABASE_HOT: &str = "bench-db-hot";

/// The hot sequence of "insert (after COMMIT)" (`ac_invoice`: `bench-ac-{series}`).
pub const AFTER_COMMIT_HOT: &str = "bench-ac-hot";

/// The rows "insert (after COMMIT)" committed: key and the instant COMMIT
/// returned.
pub type Commits = Mutex<Vec<(i64, Instant)>>;

/// Runs one operation; `lines`: the lines of an invoice (`Scenario::Lines`);
/// `commits`: where "insert (after COMMIT)" records its rows.
pub async fn run(
    scenario: Scenario,
    variant: Variant,
    db: &DatabaseConnection,
    task: usize,
    many: u32,
    lines: usize,
    commits: &Commits,
) -> Result<(), DbErr> {
    let name = sequence_name(scenario, task, many);
    let amount = 4711;
    match (scenario, variant) {
        (Scenario::Lines, Variant::Library) => {
            let txn = db.begin().await?;
            let saved = invoice::ActiveModel {
                series: Set(HOT.to_owned()),
                amount_cents: Set(amount),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            insert_lines(&txn, saved.id, lines).await?;
            txn.commit().await?;
        }
        (Scenario::Lines, Variant::Raw) => {
            let txn = db.begin().await?;
            let number = raw_upsert(&txn, &name, 1).await?;
            let saved = plain_invoice(number, amount).insert(&txn).await?;
            insert_lines(&txn, saved.id, lines).await?;
            txn.commit().await?;
        }
        (Scenario::Lines, Variant::Deferred) => {
            sequences_core::transaction::<DbErr, _, _, _>(db, |txn| {
                Box::pin(async move {
                    let saved = deferred::ActiveModel {
                        series: Set(HOT.to_owned()),
                        amount_cents: Set(amount),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    insert_lines(txn, saved.id, lines).await
                })
            })
            .await?;
        }
        (Scenario::Lines, Variant::RawDeferred) => {
            let txn = db.begin().await?;
            // The same SeaORM insert as the library's, the number left NULL.
            let saved = plain_deferred::ActiveModel {
                series: Set(HOT.to_owned()),
                number: Set(None),
                amount_cents: Set(amount),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            insert_lines(&txn, saved.id, lines).await?;
            let number = raw_upsert(&txn, DEFERRED_HOT, 1).await?;
            plain_deferred::Entity::update_many()
                .col_expr(
                    plain_deferred::Column::Number,
                    sea_orm::sea_query::Expr::value(number),
                )
                .filter(plain_deferred::Column::Id.eq(saved.id))
                .exec(&txn)
                .await?;
            txn.commit().await?;
        }
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
        (Scenario::InsertDatabase, Variant::Database) => {
            let txn = db.begin().await?;
            // `Entity::insert` runs no hook: the number is left out of the
            // INSERT and the trigger takes it.
            db_invoice::Entity::insert(db_invoice::ActiveModel {
                series: Set(HOT.to_owned()),
                amount_cents: Set(amount),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
            txn.commit().await?;
        }
        (Scenario::InsertDatabase, Variant::HandTrigger) => {
            let txn = db.begin().await?;
            // The number left out, as in "insert (database)".
            hand_db_invoice::Entity::insert(hand_db_invoice::ActiveModel {
                series: Set(HOT.to_owned()),
                amount_cents: Set(amount),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
            txn.commit().await?;
        }
        (Scenario::InsertAfterCommit, Variant::HandNumberer) => {
            let txn = db.begin().await?;
            let saved = hand_ac_invoice::ActiveModel {
                series: Set(HOT.to_owned()),
                number: Set(None),
                amount_cents: Set(amount),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            txn.commit().await?;
            let committed = Instant::now();
            commits
                .lock()
                .expect("no writer panics holding the list")
                .push((saved.id, committed));
        }
        (Scenario::InsertAfterCommit, Variant::AfterCommit) => {
            let txn = db.begin().await?;
            // The derive's insert: the number stays NULL, no counter is touched.
            let saved = ac_invoice::ActiveModel {
                series: Set(HOT.to_owned()),
                amount_cents: Set(amount),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            txn.commit().await?;
            let committed = Instant::now();
            commits
                .lock()
                .expect("no writer panics holding the list")
                .push((saved.id, committed));
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
        (Scenario::Lines, Variant::AutoIncrement)
        | (Scenario::InsertDatabase | Scenario::InsertAfterCommit, _)
        | (
            _,
            Variant::Deferred
            | Variant::RawDeferred
            | Variant::AutoIncrement
            | Variant::Database
            | Variant::AfterCommit
            | Variant::HandTrigger
            | Variant::HandNumberer,
        ) => {
            unreachable!("no {variant:?} variant for {scenario:?}")
        }
    }
    Ok(())
}

/// The lines of invoice `invoice_id`, one insert each, as an application
/// saving a document line by line does.
async fn insert_lines<C: ConnectionTrait>(
    db: &C,
    invoice_id: i64,
    lines: usize,
) -> Result<(), DbErr> {
    for n in 0..lines {
        line::ActiveModel {
            invoice_id: Set(invoice_id),
            amount_cents: Set(100 + n as i64),
            ..Default::default()
        }
        .insert(db)
        .await?;
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

/// Checks that a scenario numbered the rows of `table` 1..=n from the
/// sequence `sequence`, with no gap, no duplicate and no row left
/// unnumbered, and that its counter is at n; returns n.
pub async fn verify_numbering(
    db: &DatabaseConnection,
    scenario: Scenario,
    table: &str,
    sequence: &str,
) -> Result<i64, String> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            format!(
                "SELECT COUNT(*), COUNT(number), COUNT(DISTINCT number), MIN(number), MAX(number) \
                 FROM {table}"
            ),
        ))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no row")?;
    let get = |i| {
        row.try_get_by_index::<Option<i64>>(i)
            .map_err(|e| e.to_string())
    };
    let (rows, numbered, distinct, min, max) = (get(0)?, get(1)?, get(2)?, get(3)?, get(4)?);
    let counter = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                DbBackend::Postgres => "SELECT last FROM sequences WHERE name = $1",
                _ => "SELECT last FROM sequences WHERE name = ?",
            },
            [sequence.into()],
        ))
        .await
        .map_err(|e| e.to_string())?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()
        .map_err(|e| e.to_string())?;
    let n = rows.unwrap_or(0);
    let found = format!(
        "{n} rows, {} numbered, {} distinct numbers, from {min:?} to {max:?}, counter {counter:?}",
        numbered.unwrap_or(0),
        distinct.unwrap_or(0)
    );
    let ok = n > 0
        && numbered == Some(n)
        && distinct == Some(n)
        && min == Some(1)
        && max == Some(n)
        && counter == Some(n);
    if ok {
        Ok(n)
    } else {
        Err(format!(
            "{} is not numbered 1..=n without gap or duplicate: {found}",
            scenario.name()
        ))
    }
}
