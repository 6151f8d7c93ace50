//! An invoicing program: concurrent workers create invoices through
//! `#[derive(Gapless)]`, one transaction each, and roll back a share of them
//! on purpose, as a failed payment would. Beside each invoice the same
//! transaction inserts a "plain" one numbered by an auto-increment key, as
//! most applications do today. At the end `sequences_core::Audit` checks both.
//!
//! `cargo run -p sequences-examples --bin invoicing-demo` runs it on a SQLite
//! file; `--database-url postgres://...` or `mysql://...` on a server.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ConnectOptions, Database, DatabaseConnection, DbErr, EntityTrait, Set,
};
use sea_orm_migration::MigratorTrait;
use sequences_cli::connect::probe;
use sequences_cli::redact::{Secrets, redact_url};
use sequences_core::{Audit, AuditReport, ChainAudit, Retry};

mod invoice;
mod migrator;

/// Creates invoices from concurrent workers with random rollbacks, numbered
/// by a gapless sequence per company and, for comparison, by an auto-increment
/// key; then audits both for gaps and duplicates.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Database to use: postgres://..., mysql://... or sqlite://... (a SQLite
    /// file is created when it does not exist). The demo's tables are emptied
    /// at the start of every run.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://invoicing-demo.db?mode=rwc"
    )]
    database_url: String,
    /// Concurrent workers, each with its own connection from the pool.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: u32,
    /// Invoices each worker tries to create (committed or rolled back).
    #[arg(long, default_value_t = 50)]
    invoices: u32,
    /// Companies; each has its own gapless counter (`invoice-<company>`).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
    companies: i32,
    /// Share of transactions rolled back on purpose, from 0.0 to 1.0.
    #[arg(long, default_value_t = 0.25, value_parser = rate)]
    rollback_rate: f64,
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("{text:?} is not a number from 0.0 to 1.0")),
    }
}

/// How a worker's transaction fails: the database, or a payment that
/// failed on purpose (the transaction rolls back, its number with it).
#[derive(Debug)]
enum Work {
    Db(DbErr),
    PaymentFailed,
}

impl From<DbErr> for Work {
    fn from(error: DbErr) -> Self {
        Self::Db(error)
    }
}

/// Lets `Retry` run a deadlocked attempt again, and return a failed payment.
impl sequences_core::TransactionError for Work {
    fn db_err(&self) -> Option<&DbErr> {
        match self {
            Self::Db(error) => Some(error),
            Self::PaymentFailed => None,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let secrets = Secrets::of_url(&args.database_url);
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            // A refusal of the library in its own words, typed; the rest as is.
            let message = match sequences_core::SequenceError::from_db_err(&error) {
                Some(refusal) => refusal.to_string(),
                None => match error {
                    DbErr::Custom(message) => message,
                    other => other.to_string(),
                },
            };
            // A driver's message may repeat the URL, password included.
            eprintln!("error: {}", secrets.scrub(&one_line(&message)));
            ExitCode::FAILURE
        }
    }
}

/// What the workers did.
#[derive(Default)]
struct Counts {
    committed: AtomicUsize,
    rolled_back: AtomicUsize,
    retries: AtomicUsize,
}

async fn run(args: Args) -> Result<bool, DbErr> {
    let db = connect(&args).await?;
    migrator::Migrator::up(&db, None).await?;
    // A fresh run each time: the demo owns these tables and sequences.
    invoice::Entity::delete_many().exec(&db).await?;
    invoice::plain::Entity::delete_many().exec(&db).await?;
    for company in 1..=args.companies {
        sequences_core::Sequence::new(format!("invoice-{company}"))
            .delete(&db)
            .await?;
    }

    let total = u64::from(args.workers) * u64::from(args.invoices);
    println!(
        "{} workers x {} invoices, {} companies, {:.0}% of transactions rolled back on purpose, on {}",
        args.workers,
        args.invoices,
        args.companies,
        args.rollback_rate * 100.0,
        backend_name(&db)
    );
    let progress = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} transactions {per_sec} {msg}")
            .expect("a valid template"),
    );
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.workers {
        let (db, counts, progress) = (db.clone(), counts.clone(), progress.clone());
        let (invoices, companies, rate) = (args.invoices, args.companies, args.rollback_rate);
        workers.push(tokio::spawn(async move {
            worker(&db, invoices, companies, rate, &counts, &progress).await
        }));
    }
    for worker in workers {
        worker
            .await
            .map_err(|e| DbErr::Custom(format!("a worker stopped: {e}")))??;
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();

    let gapless = Audit::new(invoice::Column::Number)
        .scope([invoice::Column::CompanyId])
        .sequence("invoice-{company_id}")
        .run(&db)
        .await?;
    let plain = Audit::new(invoice::plain::Column::Id)
        .scope([invoice::plain::Column::CompanyId])
        .run(&db)
        .await?;
    let plain_table = Audit::new(invoice::plain::Column::Id).run(&db).await?;
    print_summary(&gapless, &plain);

    let committed = counts.committed.load(Ordering::Relaxed);
    println!(
        "\n{} transactions in {:.2}s ({:.0}/s): {committed} committed, {} rolled back on purpose, {} retried by the database",
        total,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        counts.rolled_back.load(Ordering::Relaxed),
        counts.retries.load(Ordering::Relaxed),
    );
    let plain_gaps: u64 = plain.groups.iter().map(gaps_from_first).sum();
    let table_gaps: u64 = plain_table.groups.iter().map(gaps_from_first).sum();
    if table_gaps == 0 && db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        println!(
            "(SQLite gives a rolled-back AUTOINCREMENT key back, as it runs one writer at a time; \
             PostgreSQL and MariaDB do not. An auto-increment key is one counter for the whole \
             table, so no company's invoices are numbered 1, 2, 3... on any database.)"
        );
    }
    println!(
        "auto-increment:     {plain_gaps} gaps in the companies' numbers \
         ({table_gaps} in the table-wide key itself), {} duplicates",
        plain.duplicate_rows()
    );
    let chains = ChainAudit::new(invoice::Column::Number, invoice::Column::Hash)
        .covers([invoice::Column::CompanyId, invoice::Column::AmountCents])
        .scope([invoice::Column::CompanyId])
        .sequence("invoice-{company_id}")
        .run(&db)
        .await?;
    let links: u64 = chains.chains.iter().map(|c| c.links).sum();
    println!(
        "hash chains:        {} companies, {links} links, {}",
        chains.chains.len(),
        if chains.is_intact() {
            "intact"
        } else {
            "BROKEN"
        }
    );
    println!(
        "sea-orm-sequences:  {} invoices committed: {} gaps, {} duplicates",
        gapless.rows(),
        gapless.missing(),
        gapless.duplicate_rows()
    );
    Ok(gapless.is_clean() && gapless.rows() == committed as u64 && chains.is_intact())
}

async fn connect(args: &Args) -> Result<DatabaseConnection, DbErr> {
    let timeout = Duration::from_secs(5);
    let cannot = |error: &dyn std::fmt::Display| {
        DbErr::Custom(format!(
            "cannot connect to {}: {error}",
            redact_url(&args.database_url)
        ))
    };
    // At once when the server refuses, not after the pool's acquire timeout.
    probe(&args.database_url, timeout)
        .await
        .map_err(|error| cannot(&error))?;
    let mut options = ConnectOptions::new(&args.database_url);
    options
        .max_connections(args.workers)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
        });
    Database::connect(options)
        .await
        .map_err(|error| cannot(&error))
}

/// Creates `invoices` invoices, one transaction each, through [`Retry`] (a
/// transaction the database aborts, say an InnoDB deadlock victim, runs again).
async fn worker(
    db: &DatabaseConnection,
    invoices: u32,
    companies: i32,
    rollback_rate: f64,
    counts: &Counts,
    progress: &ProgressBar,
) -> Result<(), DbErr> {
    let retry = Retry::new();
    for _ in 0..invoices {
        let (company, fail, amount) = {
            let mut rng = rand::rng();
            (
                rng.random_range(1..=companies),
                rng.random_bool(rollback_rate),
                rng.random_range(100..100_000),
            )
        };
        let attempts = AtomicUsize::new(0);
        let result = retry
            .transaction::<Work, _, _, _>(db, |txn| {
                attempts.fetch_add(1, Ordering::Relaxed);
                Box::pin(async move {
                    // Numbered by before_save, inside this transaction.
                    invoice::ActiveModel {
                        company_id: Set(company),
                        amount_cents: Set(amount),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    invoice::plain::ActiveModel {
                        company_id: Set(company),
                        amount_cents: Set(amount),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    if fail {
                        return Err(Work::PaymentFailed);
                    }
                    Ok(())
                })
            })
            .await;
        counts
            .retries
            .fetch_add(attempts.into_inner() - 1, Ordering::Relaxed);
        match result {
            Ok(()) => counts.committed.fetch_add(1, Ordering::Relaxed),
            Err(Work::PaymentFailed) => counts.rolled_back.fetch_add(1, Ordering::Relaxed),
            Err(Work::Db(error)) => return Err(error),
        };
        progress.inc(1);
    }
    Ok(())
}

/// Missing numbers between a group's first and last number.
fn gaps_from_first(group: &sequences_core::GroupAudit) -> u64 {
    match (group.first, group.last) {
        (Some(first), Some(last)) => (last - first + 1) as u64 - group.distinct,
        _ => 0,
    }
}

fn print_summary(gapless: &AuditReport, plain: &AuditReport) {
    println!(
        "\n company | invoices | first | last | gaps | duplicates | sequence last || auto-increment: first | last | gaps"
    );
    for group in &gapless.groups {
        let company = group.scope[0].as_deref().unwrap_or("-");
        let other = plain.groups.iter().find(|g| g.scope == group.scope);
        let show = |value: Option<i64>| value.map_or("-".into(), |v| v.to_string());
        println!(
            " {company:>7} | {:>8} | {:>5} | {:>4} | {:>4} | {:>10} | {:>13} || {:>21} | {:>4} | {:>4}",
            group.rows,
            show(group.first),
            show(group.last),
            group.missing,
            group.duplicate_rows,
            show(group.sequence_last),
            show(other.and_then(|g| g.first)),
            show(other.and_then(|g| g.last)),
            other.map_or(0, gaps_from_first),
        );
    }
}

fn backend_name(db: &DatabaseConnection) -> &'static str {
    use sea_orm::DbBackend;
    match db.get_database_backend() {
        DbBackend::Postgres => "PostgreSQL",
        DbBackend::MySql => "MariaDB/MySQL",
        _ => "SQLite",
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
