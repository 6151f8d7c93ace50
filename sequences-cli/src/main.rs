//! `sequences`: the operator's command for sea-orm-sequences. Parse, run,
//! exit: the commands are in `commands/`, what they print in `output.rs`.
//!
//! Exit codes: 0 done (and, for `audit` and `verify`, clean); 1 a check found
//! a defect; 2 bad input or an error. With `--json`, every outcome is one JSON
//! document on stdout.

mod args;
mod commands;
mod database;
mod error;
mod output;
mod progress;
mod table;
mod write;

use std::process::ExitCode;

use clap::Parser as _;
use sequences_cli::redact::Secrets;

use crate::args::Args;
use crate::output::Out;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return output::usage_error(error),
    };
    let out = Out::new(
        Secrets::of_url(args.database_url.as_deref().unwrap_or_default()),
        args.json,
    );
    match commands::run(args, &out).await {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            out.error(&error);
            error.exit_code()
        }
    }
}
