//! A separate OS process for the process-level tests: runs a write load on
//! one sequence with its own pool, or takes a value and holds its transaction
//! open until it is killed, or numbers rows after COMMIT until it is killed.

use std::io::Write;

use clap::{Parser, Subcommand};
use sea_orm::TransactionTrait;
use sequences_core::Sequence;
use sequences_tests::{insert_row, load, open};

#[derive(Parser)]
struct Args {
    /// Database URL (already migrated).
    #[arg(long)]
    url: String,
    /// The sequence to use.
    #[arg(long)]
    sequence: String,
    /// The sequence's initial value.
    #[arg(long, default_value_t = 1)]
    initial: i64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a load and print its report on the last line.
    Run {
        #[arg(long, default_value_t = 4)]
        tasks: usize,
        #[arg(long, default_value_t = 10)]
        transactions: usize,
        #[arg(long, default_value_t = 0.3)]
        rollback_rate: f64,
    },
    /// Take a value, insert its row, print `HOLDING <value>` and wait forever
    /// inside the transaction.
    Hold,
    /// Run a numberer of `ac_receipt` (numbered after COMMIT), print
    /// `NUMBERING`, and keep numbering until killed.
    Number,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let sequence = Sequence::new(args.sequence).initial_value(args.initial);
    match args.command {
        Command::Run {
            tasks,
            transactions,
            rollback_rate,
        } => {
            let db = open(&args.url, tasks as u32).await;
            let shape = load::Load {
                tasks,
                transactions,
                rollback_rate,
                ..Default::default()
            };
            let report = load::run(&db, &sequence, &shape).await;
            println!("{report}");
        }
        Command::Hold => {
            let db = open(&args.url, 1).await;
            let txn = db.begin().await.expect("begin");
            let value = sequence.next_value(&txn).await.expect("a value");
            insert_row(&txn, sequence.name(), value)
                .await
                .expect("insert");
            println!("HOLDING {value}");
            std::io::stdout().flush().expect("stdout");
            std::future::pending::<()>().await;
        }
        Command::Number => {
            let db = open(&args.url, 2).await;
            let _numberer = sequences_core::Numberer::spawn(
                sequences_tests::entities::ac_receipt::ActiveModel::gapless_numbering(),
                db,
            );
            println!("NUMBERING");
            std::io::stdout().flush().expect("stdout");
            std::future::pending::<()>().await;
        }
    }
}
