//! The commands, one module per group: what each asks of the library and
//! what it prints. Connecting and the schema check come first, for all.

mod audit;
mod holders;
mod number;
mod sequences;

use std::process::ExitCode;

use sequences_core::CounterTable;

use crate::args::{Args, Command};
use crate::database::connect;
use crate::error::CliError;
use crate::output::Out;

/// How a command ends when it does not fail.
pub enum Outcome {
    /// Done (for `audit` and `verify`: clean).
    Done,
    /// A check found a defect.
    Defect,
}

impl Outcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Done => ExitCode::SUCCESS,
            Self::Defect => ExitCode::from(1),
        }
    }
}

pub async fn run(args: Args, out: &Out) -> Result<Outcome, CliError> {
    let url = args.database_url.as_deref().ok_or_else(|| {
        CliError::bad_input("no database given: pass --database-url URL or set DATABASE_URL")
    })?;
    let counters = CounterTable::from(args.counter_table);
    if counters != CounterTable::Sequences
        && let Some(command) = args.command.counters_of_sequences_only()
    {
        return Err(CliError::bad_input(format!(
            "`sequences {command}` reads the counters of `sequences` only: django-sequences' \
             table numbers on insert (no chain, no after-COMMIT numberer); drop --counter-table"
        )));
    }
    let db = connect(url, out.secrets(), args.command.lock_wait()).await?;
    let outcome = match args.command {
        Command::List(list) => sequences::list(&db, out, list).await,
        Command::Show(show) => sequences::show(&db, out, show, counters).await,
        Command::Set(set) => sequences::set(&db, out, set, counters).await,
        Command::Void(void) => sequences::void(&db, out, void, counters).await,
        Command::Close(close) => sequences::close(&db, out, close, counters).await,
        Command::Reopen(reopen) => sequences::reopen(&db, out, reopen, counters).await,
        Command::Adopt(adopt) => sequences::adopt(&db, out, adopt, counters).await,
        Command::Audit(audit) => audit::audit(&db, out, audit, counters).await,
        Command::ImportDjango => sequences::import_django(&db, out).await,
        Command::Verify(verify) => audit::verify(&db, out, verify).await,
        Command::Checkpoint(checkpoint) => audit::checkpoint(&db, out, checkpoint).await,
        Command::Holders(holders) => holders::holders(&db, out, holders).await,
        Command::Number(number) => number::number(&db, out, number).await,
    };
    // The command's own error first; closing is a courtesy.
    let _ = db.close().await;
    outcome
}
