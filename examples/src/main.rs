//! An invoicing program: concurrent workers create invoices through
//! `#[derive(Gapless)]`, one transaction each, and roll back a share of them
//! on purpose, as a failed payment would. At the end it checks that every
//! company's invoice numbers run 1..=N with no gap and no duplicate.
//!
//! `cargo run -p sequences-examples --bin invoicing-demo` runs it on a SQLite
//! file; `--database-url postgres://...` or `mysql://...` on a server.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::Rng;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, EntityTrait, Set, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

mod invoice;
mod migrator;

/// Creates invoices from concurrent workers with random rollbacks, then
/// audits the numbers: gapless and unique per company.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Database to use; a SQLite file is created when it does not exist.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://invoicing-demo.db?mode=rwc"
    )]
    database_url: String,
    /// Concurrent workers, each with its own connection from the pool.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Invoices each worker tries to create (committed or rolled back).
    #[arg(long, default_value_t = 50)]
    invoices: usize,
    /// Companies; each has its own gapless counter.
    #[arg(long, default_value_t = 3)]
    companies: i32,
    /// Share of transactions rolled back on purpose, from 0.0 to 1.0.
    #[arg(long, default_value_t = 0.25)]
    rollback_rate: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.rollback_rate) {
        eprintln!("error: --rollback-rate must be between 0.0 and 1.0");
        return ExitCode::from(2);
    }
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<bool, DbErr> {
    let mut options = ConnectOptions::new(&args.database_url);
    options
        .max_connections(args.workers.max(1) as u32)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
        });
    let db = Database::connect(options).await?;
    migrator::Migrator::up(&db, None).await?;
    // A fresh run each time: the demo owns these tables.
    invoice::Entity::delete_many().exec(&db).await?;
    for company in 1..=args.companies {
        sequences_core::delete(&db, format!("invoice-{company}")).await?;
    }

    println!(
        "{} workers x {} invoices, {} companies, {:.0}% rolled back on purpose ({})",
        args.workers,
        args.invoices,
        args.companies,
        args.rollback_rate * 100.0,
        backend_name(&db)
    );
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.workers {
        let db = db.clone();
        let (invoices, companies, rate) = (args.invoices, args.companies, args.rollback_rate);
        workers.push(tokio::spawn(async move {
            worker(db, invoices, companies, rate).await
        }));
    }
    let mut rolled_back: BTreeMap<i32, usize> = BTreeMap::new();
    for worker in workers {
        let counts = worker.await.map_err(|e| DbErr::Custom(e.to_string()))??;
        for (company, count) in counts {
            *rolled_back.entry(company).or_default() += count;
        }
    }
    let elapsed = started.elapsed();

    let mut numbers: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for row in invoice::Entity::find().all(&db).await? {
        numbers.entry(row.company_id).or_default().push(row.number);
    }
    println!("\n company | committed | rolled back | first | last | gaps | duplicates");
    let (mut total, mut gaps, mut duplicates) = (0, 0, 0);
    for company in 1..=args.companies {
        let mut list = numbers.remove(&company).unwrap_or_default();
        list.sort_unstable();
        let unique = {
            let mut u = list.clone();
            u.dedup();
            u.len()
        };
        let (first, last) = (list.first().copied(), list.last().copied());
        // Numbers start at 1: every number of 1..=last not present is a gap.
        let company_gaps = last
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0)
            .saturating_sub(unique);
        let company_duplicates = list.len() - unique;
        println!(
            " {company:>7} | {:>9} | {:>11} | {:>5} | {:>4} | {company_gaps:>4} | {company_duplicates:>10}",
            list.len(),
            rolled_back.get(&company).copied().unwrap_or(0),
            first.map_or("-".into(), |v| v.to_string()),
            last.map_or("-".into(), |v| v.to_string()),
        );
        total += list.len();
        gaps += company_gaps;
        duplicates += company_duplicates;
    }
    println!(
        "\n{total} invoices committed in {:.2}s ({:.0} transactions/s): {gaps} gaps, {duplicates} duplicates",
        elapsed.as_secs_f64(),
        (args.workers * args.invoices) as f64 / elapsed.as_secs_f64()
    );
    Ok(gaps == 0 && duplicates == 0)
}

/// Creates `invoices` invoices, one transaction each; returns the rollbacks per company.
async fn worker(
    db: DatabaseConnection,
    invoices: usize,
    companies: i32,
    rollback_rate: f64,
) -> Result<BTreeMap<i32, usize>, DbErr> {
    use sea_orm::ActiveModelTrait;
    let mut rolled_back = BTreeMap::new();
    for _ in 0..invoices {
        let (company, fail, amount) = {
            let mut rng = rand::rng();
            (
                rng.random_range(1..=companies),
                rng.random_bool(rollback_rate),
                rng.random_range(100..100_000),
            )
        };
        let txn = db.begin().await?;
        invoice::ActiveModel {
            company_id: Set(company),
            amount_cents: Set(amount),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        if fail {
            txn.rollback().await?;
            *rolled_back.entry(company).or_default() += 1;
        } else {
            txn.commit().await?;
        }
    }
    Ok(rolled_back)
}

fn backend_name(db: &DatabaseConnection) -> &'static str {
    use sea_orm::DbBackend;
    match db.get_database_backend() {
        DbBackend::Postgres => "PostgreSQL",
        DbBackend::MySql => "MariaDB/MySQL",
        _ => "SQLite",
    }
}
