//! The benchmark of sea-orm-sequences: for each backend and connection
//! count, the library against the same work done by hand (raw SQL through the
//! same SeaORM pool) and against an auto-increment key, measured back to back
//! in the same run. Prints a table and the targets, writes a CSV and an SVG chart.
//!
//! ```sh
//! eval "$(scripts/test-databases)"
//! cargo run --release -p sequences-bench -- --out docs/bench        # full run, ~10 min
//! cargo run --release -p sequences-bench -- --quick                 # smoke run, < 1 min
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    Statement,
};
use sea_orm_migration::MigratorTrait;

mod audit_scale;
mod bulk;
mod hand;
mod measure;
mod report;
mod scenarios;
mod schema;
mod verify_scale;

use report::Row;
use scenarios::{Scenario, Variant};

#[derive(Parser, Debug)]
#[command(about = "Benchmarks sea-orm-sequences against raw SQL and auto-increment")]
struct Args {
    /// PostgreSQL database for the benchmark (its tables are created and emptied).
    #[arg(long, env = "SEQUENCES_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// MariaDB/MySQL database for the benchmark.
    #[arg(long, env = "SEQUENCES_BENCH_MYSQL_URL")]
    mysql_url: Option<String>,
    /// Skip SQLite (by default a temporary file, WAL, synchronous=FULL).
    #[arg(long)]
    no_sqlite: bool,
    /// Fail unless PostgreSQL, MariaDB and SQLite all run.
    #[arg(long)]
    require_all: bool,
    /// Smoke run: short samples, one run, 10,000 "many" sequences (< 1 minute).
    #[arg(long)]
    quick: bool,
    /// Length of one sample in milliseconds (default 1500; --quick: 150).
    #[arg(long)]
    sample_ms: Option<u64>,
    /// Runs per measurement; the median is reported (default 3; --quick: 1).
    #[arg(long)]
    runs: Option<usize>,
    /// Connection counts.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    connections: Vec<usize>,
    /// Existing sequences for the "many sequences" scenario (default 100000; --quick: 10000).
    #[arg(long)]
    many: Option<u32>,
    /// Lines per invoice in the "invoice + lines" scenario.
    #[arg(long, default_value_t = 10)]
    lines: usize,
    /// Table sizes of the "audit, N rows" scenario on PostgreSQL and MariaDB
    /// (default 1000000,10000000; --quick: 10000; 0 skips it).
    #[arg(long, value_delimiter = ',')]
    audit_rows: Option<Vec<i64>>,
    /// Sizes of the "bulk load, N rows" scenario (default 5000,10000,20000;
    /// --quick: 500; 0 skips it).
    #[arg(long, value_delimiter = ',')]
    bulk_rows: Option<Vec<i64>>,
    /// Table sizes of the "verify, N rows" scenario (the chain check; default
    /// 1000000; --quick: 10000; 0 skips it).
    #[arg(long, value_delimiter = ',')]
    verify_rows: Option<Vec<i64>>,
    /// Directory for results.csv and chart.svg (default target/bench).
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

struct Backend {
    name: &'static str,
    url: String,
    db: DatabaseConnection,
    /// Two connections beside the writers': the numberer's and the feed
    /// reader's ("insert (after COMMIT)").
    aux: DatabaseConnection,
    version: String,
    _dir: Option<tempfile::TempDir>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let sample =
        Duration::from_millis(
            args.sample_ms
                .unwrap_or(if args.quick { 150 } else { 1500 }),
        );
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let many = args
        .many
        .unwrap_or(if args.quick { 10_000 } else { 100_000 })
        .max(1);
    let max_connections = args.connections.iter().copied().max().unwrap_or(1);
    let backends = connect_all(&args, max_connections as u32).await?;
    if args.require_all && backends.len() < 3 {
        return Err("--require-all: PostgreSQL, MariaDB and SQLite must all be configured".into());
    }

    // Table sizes: the ones given (0 skips), or the defaults of the run.
    let sizes = |given: &Option<Vec<i64>>, quick: &[i64], full: &[i64]| -> Vec<i64> {
        given
            .clone()
            .unwrap_or_else(|| if args.quick { quick } else { full }.to_vec())
            .into_iter()
            .filter(|&n| n > 0)
            .collect()
    };
    let audit_rows = sizes(&args.audit_rows, &[10_000], &[1_000_000, 10_000_000]);
    let bulk_rows = sizes(&args.bulk_rows, &[500], &[5_000, 10_000, 20_000]);
    let verify_rows = sizes(&args.verify_rows, &[10_000], &[1_000_000]);
    let mut verifies = Vec::new();
    let mut rows = Vec::new();
    let mut bulks = Vec::new();
    let mut audits = Vec::new();
    let mut notes = Vec::new();
    for backend in &backends {
        println!("== {} ({})", backend.name, backend.version);
        prepare(&backend.db, many, max_connections)
            .await
            .map_err(|e| format!("{}: {e}", backend.name))?;
        for &connections in &args.connections {
            for scenario in Scenario::CONCURRENT {
                rows.extend(
                    measure(
                        backend,
                        scenario,
                        connections,
                        sample,
                        runs,
                        many,
                        args.lines,
                    )
                    .await,
                );
            }
        }
        rows.extend(measure(backend, Scenario::Many, 1, sample, runs, many, args.lines).await);
        if backend.db.get_database_backend() == DbBackend::MySql {
            notes.push(
                statements_per_transaction(backend)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        for (scenario, table, sequence) in [
            (
                Scenario::InsertDatabase,
                "bench_db_invoice",
                scenarios::DATABASE_HOT,
            ),
            (
                Scenario::InsertAfterCommit,
                "bench_ac_invoice",
                scenarios::AFTER_COMMIT_HOT,
            ),
            (
                Scenario::InsertDatabase,
                "bench_hand_db_invoice",
                hand::TRIGGER_HOT,
            ),
            (
                Scenario::InsertAfterCommit,
                "bench_hand_ac_invoice",
                hand::NUMBERER_HOT,
            ),
        ] {
            let n = scenarios::verify_numbering(&backend.db, scenario, table, sequence)
                .await
                .map_err(|e| format!("{}: {e}", backend.name))?;
            println!(
                "  verified {} ({table}): {n} rows numbered 1..={n}, no gap, no duplicate",
                scenario.name()
            );
        }
        bulks.extend(
            bulk::measure(&backend.db, backend.name, &bulk_rows)
                .await
                .map_err(|e| format!("{}: bulk load: {e}", backend.name))?,
        );
        for &n in &verify_rows {
            verifies.push(
                verify_scale::measure(&backend.db, backend.name, n)
                    .await
                    .map_err(|e| format!("{}: {e}", backend.name))?,
            );
        }
        if backend.name != "SQLite" {
            for &n in &audit_rows {
                audits.push(
                    audit_scale::measure(&backend.db, backend.name, n, runs)
                        .await
                        .map_err(|e| format!("{}: {e}", backend.name))?,
                );
            }
        }
    }

    println!("\n{}", report::table(&rows));
    let names: Vec<&'static str> = backends.iter().map(|b| b.name).collect();
    let mut met = true;
    println!("targets:");
    for (line, ok) in report::targets(&rows, &names, &args.connections)
        .into_iter()
        .chain(report::bulk_targets(&bulks))
        .chain(report::audit_targets(&audits))
        .chain(report::verify_lines(&verifies))
    {
        met &= ok;
        println!("  [{}] {line}", if ok { "met" } else { "NOT MET" });
    }
    for note in &notes {
        println!("{note}");
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let csv = args.out.join("results.csv");
    report::write_csv(&rows, &csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    if !bulks.is_empty() {
        let path = args.out.join("bulk.csv");
        report::write_bulk_csv(&bulks, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if !audits.is_empty() {
        let path = args.out.join("audit.csv");
        report::write_audit_csv(&audits, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if !verifies.is_empty() {
        let path = args.out.join("verify.csv");
        report::write_verify_csv(&verifies, &path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let versions: Vec<String> = backends
        .iter()
        .map(|b| format!("{} {}", b.name, b.version))
        .collect();
    let title = format!(
        "sea-orm-sequences, {} cores; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        versions.join(", ")
    );
    let chart = args.out.join("chart.svg");
    report::chart(&rows, &names, &args.connections, &title, &chart)?;
    println!(
        "\n{}; wrote {} and {}; every target {}",
        title,
        csv.display(),
        chart.display(),
        if met {
            "met"
        } else {
            "listed above as NOT MET is missed"
        }
    );
    Ok(())
}

async fn connect_all(args: &Args, max_connections: u32) -> Result<Vec<Backend>, String> {
    let mut backends = Vec::new();
    let servers = [
        ("PostgreSQL", &args.postgres_url, "SELECT version()"),
        ("MariaDB", &args.mysql_url, "SELECT VERSION()"),
    ];
    for (name, url, version) in servers {
        if let Some(url) = url {
            let db = open(url, max_connections)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let aux = open(url, 2).await.map_err(|e| format!("{name}: {e}"))?;
            let version = query_string(&db, version)
                .await
                .map_err(|e| e.to_string())?;
            // "PostgreSQL 15.19 (Debian ...) on x86_64 ..." -> "15.19".
            let version = version
                .trim_start_matches("PostgreSQL ")
                .split([' ', '-'])
                .next()
                .unwrap_or_default()
                .to_owned();
            backends.push(Backend {
                name,
                url: url.clone(),
                db,
                aux,
                version,
                _dir: None,
            });
        } else {
            println!("skipping {name}: no URL (see --help)");
        }
    }
    if !args.no_sqlite {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        let db = open(&url, max_connections).await?;
        let aux = open(&url, 2).await?;
        let version = query_string(&db, "SELECT sqlite_version()")
            .await
            .map_err(|e| e.to_string())?;
        backends.push(Backend {
            name: "SQLite",
            url,
            db,
            aux,
            version,
            _dir: Some(dir),
        });
    }
    Ok(backends)
}

async fn open(url: &str, max_connections: u32) -> Result<DatabaseConnection, String> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(max_connections)
        .acquire_timeout(Duration::from_secs(60))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(60))
        });
    let db = Database::connect(options)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    schema::Migrator::up(&db, None)
        .await
        .map_err(|e| format!("migrations: {e}"))?;
    Ok(db)
}

async fn query_string(db: &DatabaseConnection, sql: &str) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("{sql}: no row")))?;
    row.try_get_by_index(0)
}

/// Empties the benchmark tables, creates every sequence the scenarios use,
/// so that no measurement includes a sequence's creation, and installs the
/// triggers of "insert (database)".
async fn prepare(db: &DatabaseConnection, many: u32, max_connections: usize) -> Result<(), DbErr> {
    let numbering = schema::db_invoice::ActiveModel::gapless_numbering();
    // The triggers refuse a DELETE of a numbered row (the derive's default
    // policy): taken off while the table is emptied, installed again below.
    numbering
        .remove_triggers(db)
        .await
        .map_err(|e| DbErr::Custom(format!("remove_triggers: {e}")))?;
    schema::db_invoice::Entity::delete_many().exec(db).await?;
    schema::ac_invoice::Entity::delete_many().exec(db).await?;
    schema::hand_db_invoice::Entity::delete_many()
        .exec(db)
        .await?;
    schema::hand_ac_invoice::Entity::delete_many()
        .exec(db)
        .await?;
    db.execute_unprepared(&format!(
        "DELETE FROM {}",
        sequences_core::entity::REFUSALS_TABLE
    ))
    .await?;
    schema::invoice::Entity::delete_many().exec(db).await?;
    schema::plain::Entity::delete_many().exec(db).await?;
    schema::deferred::Entity::delete_many().exec(db).await?;
    schema::line::Entity::delete_many().exec(db).await?;
    db.execute_unprepared("DELETE FROM sequences").await?;
    scenarios::seed_many(db, many).await?;
    for task in 0..max_connections {
        for scenario in [Scenario::NextValue, Scenario::Batch, Scenario::Distinct] {
            let name = scenarios::sequence_name(scenario, task, many);
            scenarios::raw_upsert(db, &name, 1).await?;
        }
    }
    scenarios::raw_upsert(db, scenarios::DEFERRED_HOT, 1).await?;
    // At 0, so that the rows are numbered from 1 (checked after the run).
    for name in [
        scenarios::DATABASE_HOT,
        scenarios::AFTER_COMMIT_HOT,
        hand::TRIGGER_HOT,
        hand::NUMBERER_HOT,
    ] {
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                DbBackend::Postgres => "INSERT INTO sequences (name, last) VALUES ($1, 0)",
                _ => "INSERT INTO sequences (name, last) VALUES (?, 0)",
            },
            [name.into()],
        ))
        .await?;
    }
    numbering
        .install_triggers(db)
        .await
        .map_err(|e| DbErr::Custom(format!("install_triggers: {e}")))?;
    hand::install_trigger(db).await?;
    // The after-COMMIT table's guards, and on PostgreSQL the notification
    // that wakes its numberer at each insert's COMMIT.
    schema::ac_invoice::ActiveModel::gapless_numbering()
        .install_triggers(db)
        .await
        .map_err(|e| DbErr::Custom(format!("install_triggers: {e}")))?;
    Ok(())
}

/// Measures every variant of `scenario` and of its companions `runs` times,
/// back to back (the order rotates between runs), and aggregates by median.
async fn measure(
    backend: &Backend,
    scenario: Scenario,
    connections: usize,
    sample: Duration,
    runs: usize,
    many: u32,
    lines: usize,
) -> Vec<Row> {
    let arms: Vec<(Scenario, Variant)> = std::iter::once(scenario)
        .chain(scenario.companions().iter().copied())
        .flat_map(|s| s.variants().iter().map(move |&v| (s, v)))
        .collect();
    let mut samples: Vec<Vec<measure::Sample>> = vec![Vec::new(); arms.len()];
    for run in 0..runs {
        for k in 0..arms.len() {
            let i = (k + run) % arms.len();
            let (arm_scenario, variant) = arms[i];
            let s = measure::sample(
                &backend.db,
                &backend.aux,
                arm_scenario,
                variant,
                connections,
                sample,
                many,
                lines,
            )
            .await;
            samples[i].push(s);
        }
    }
    // The median over runs of this arm / another, measured in the same run.
    let ratio = |i: usize, j: usize| {
        measure::median(
            &mut samples[i]
                .iter()
                .zip(&samples[j])
                .map(|(s, r)| s.ops_per_sec / r.ops_per_sec)
                .collect::<Vec<_>>(),
        )
    };
    let rows: Vec<Row> = arms
        .iter()
        .enumerate()
        .map(|(i, &(scenario, variant))| {
            // The by-hand baseline of the same scenario, or of the group.
            let raw = arms
                .iter()
                .position(|&a| a == (scenario, variant.baseline()))
                .or_else(|| arms.iter().position(|&(_, v)| v == variant.baseline()))
                .expect("every scenario has its by-hand baseline");
            let position = |other| {
                arms.iter()
                    .position(|&a| a == other)
                    .expect("a compared variant is measured in the same group")
            };
            let compared = scenario.compared_to(variant).map(position);
            let hand = scenario.by_hand(variant).map(position);
            let med = |f: &dyn Fn(&measure::Sample) -> f64| {
                measure::median(&mut samples[i].iter().map(f).collect::<Vec<_>>())
            };
            Row {
                backend: backend.name,
                scenario,
                connections,
                variant,
                ops_per_sec: med(&|s| s.ops_per_sec),
                p50_ms: med(&|s| s.p50.as_secs_f64() * 1000.0),
                p99_ms: med(&|s| s.p99.as_secs_f64() * 1000.0),
                ratio_to_raw: ratio(i, raw),
                ratio_to_derive: compared.map(|j| ratio(i, j)),
                ratio_to_hand: hand.map(|j| ratio(i, j)),
                errors: samples[i].iter().map(|s| s.errors).sum(),
                delay_ms: samples[i].iter().all(|s| s.delay.is_some()).then(|| {
                    (
                        med(&|s| s.delay.map_or(0.0, |d| d.0.as_secs_f64() * 1000.0)),
                        med(&|s| s.delay.map_or(0.0, |d| d.1.as_secs_f64() * 1000.0)),
                    )
                }),
            }
        })
        .collect();
    for r in &rows {
        println!(
            "  {:<21} x{:<2} {:<15} {:>9.0} ops/s  p50 {:>6.2} ms  p99 {:>6.2} ms  vs {} {:.3}{}{}{}",
            r.scenario.name(),
            connections,
            r.variant.name(),
            r.ops_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.variant.baseline().name(),
            r.ratio_to_raw,
            r.ratio_to_derive
                .map_or(String::new(), |x| format!("  vs derive {x:.3}")),
            r.ratio_to_hand
                .map_or(String::new(), |x| format!("  vs by hand {x:.3}")),
            r.delay_ms.map_or(String::new(), |(p50, p99)| format!(
                "  COMMIT->number p50 {p50:.2} ms p99 {p99:.2} ms"
            ))
        );
    }
    rows
}

/// Statements per numbered-insert transaction on MariaDB, from the server's
/// own `Questions` counter on one connection: library, raw SQL and the
/// database's trigger (the statements the client sends).
async fn statements_per_transaction(backend: &Backend) -> Result<String, DbErr> {
    const N: u64 = 20;
    let mut counts = Vec::new();
    for (scenario, variant) in [
        (Scenario::Insert, Variant::Library),
        (Scenario::Insert, Variant::Raw),
        (Scenario::InsertDatabase, Variant::Database),
    ] {
        let db = Database::connect(
            ConnectOptions::new(&backend.url)
                .max_connections(1)
                .sqlx_logging(false)
                .to_owned(),
        )
        .await?;
        scenarios::run(scenario, variant, &db, 0, 1, 0, &Default::default()).await?; // warm the statement cache
        let before = questions(&db).await?;
        for _ in 0..N {
            scenarios::run(scenario, variant, &db, 0, 1, 0, &Default::default()).await?;
        }
        let after = questions(&db).await?;
        counts.push((after - before - 1) as f64 / N as f64);
    }
    Ok(format!(
        "MariaDB statements per numbered insert transaction (server's Questions counter): library {:.1}, raw SQL {:.1}, database trigger {:.1}",
        counts[0], counts[1], counts[2]
    ))
}

async fn questions(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            "SHOW SESSION STATUS LIKE 'Questions'",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no Questions".into()))?;
    Ok(row
        .try_get_by_index::<String>(1)?
        .parse()
        .unwrap_or_default())
}
