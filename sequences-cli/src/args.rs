//! The command line, as clap reads it: every flag of every command, and
//! nothing else.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sequences_core::Period;

#[derive(Parser)]
#[command(
    name = "sequences",
    version,
    about = "Operate the gapless sequences of sea-orm-sequences",
    after_help = "Exit codes: 0 done (audit, verify: clean); 1 a check found a defect; 2 bad input or an error.\n\
                  With --json, every outcome is one JSON document on stdout, errors as {\"error\": {\"kind\": ..., \"message\": ...}}."
)]
pub struct Args {
    /// The database: postgres://..., mysql://..., sqlite://...
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// Print one JSON document (errors too) instead of a table or a sentence.
    #[arg(long, global = true)]
    pub json: bool,
    /// The table the counters live in: `sequences` (this library's), or
    /// `django` (django-sequences' `sequences_sequence`, adopted by
    /// DjangoSequencesMigration and shared with a Django application). For
    /// show, set, void, close, reopen, adopt and audit.
    #[arg(long, global = true, value_enum, default_value = "sequences")]
    pub counter_table: Counters,
    #[command(subcommand)]
    pub command: Command,
}

/// How long a writing command waits for a transaction holding the sequence.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct Wait {
    /// Give up after waiting this long for another transaction holding the
    /// sequence (SQLite: any writer), such as 500ms, 5s or 2m.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

/// `--counter-table`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counters {
    /// `sequences`.
    Sequences,
    /// django-sequences' `sequences_sequence`.
    Django,
}

impl From<Counters> for sequences_core::CounterTable {
    fn from(counters: Counters) -> Self {
        match counters {
            Counters::Sequences => Self::Sequences,
            Counters::Django => Self::Django,
        }
    }
}

/// The wait of the commands that take no `--lock-timeout`.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Subcommand)]
pub enum Command {
    /// Every sequence: name, last value, closed, voided numbers.
    List(ListArgs),
    /// One sequence and its voided numbers.
    Show(ShowArgs),
    /// Continue a sequence after VALUE (forward only).
    Set(SetArgs),
    /// Record that VALUE, handed out, is void.
    Void(VoidArgs),
    /// Close a sequence: every allocation is refused until it is reopened.
    Close(CloseArgs),
    /// Continue a legacy table: set the counter to the highest number the table
    /// already holds (refused when its numbers have gaps or duplicates, unless
    /// --allow-defects).
    Adopt(AdoptArgs),
    /// Reopen a closed sequence.
    Reopen(ReopenArgs),
    /// Audit a numbered column of any table: gaps (explained by voids or not), duplicates, date order.
    Audit(AuditArgs),
    /// Who holds or waits for a sequence right now (never waits itself).
    Holders(HoldersArgs),
    /// Verify the hash chains of a numbered column.
    Verify(VerifyArgs),
    /// Number the committed rows of a column numbered after COMMIT
    /// (`after_commit`): one pass, or --follow to keep numbering as rows
    /// commit. The numbering is described as the application describes it.
    Number(NumberArgs),
    /// Print (or write) each sequence's last value and chain head, with the time: a
    /// checkpoint to sign, send or archive outside the database, for
    /// `verify --against` and `audit --against`.
    Checkpoint(CheckpointArgs),
    /// Move every counter of django-sequences' table (`sequences_sequence`)
    /// into `sequences`, in one transaction, for the day the Django writers
    /// stop: refused when a name is in both with another value, or when the
    /// table is not adopted (DjangoSequencesMigration), nothing moved.
    ImportDjango,
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only names starting with this.
    #[arg(long)]
    pub prefix: Option<String>,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    pub name: String,
}

#[derive(clap::Args)]
pub struct SetArgs {
    pub name: String,
    #[arg(allow_negative_numbers = true)]
    pub value: i64,
    /// Also go backwards (a repair: committed numbers after VALUE will be
    /// handed out again). Asks for the sequence's name on a terminal.
    #[arg(long)]
    pub force: bool,
    /// With --force, going backwards without a terminal to confirm on.
    #[arg(long, requires = "force")]
    pub yes: bool,
    /// Create the sequence if it does not exist.
    #[arg(long)]
    pub create: bool,
    #[command(flatten)]
    pub wait: Wait,
}

#[derive(clap::Args)]
pub struct VoidArgs {
    pub name: String,
    #[arg(allow_negative_numbers = true)]
    pub value: i64,
    /// Why (kept with the void).
    #[arg(long)]
    pub reason: String,
    /// A hash-chained record's table: the void keeps the record's hash (read
    /// from its row, which must still exist), so the chain runs on once the
    /// record is deleted. With --number, --hash, and --scope/--sequence as for verify.
    #[arg(long, requires_all = ["number", "hash", "sequence"])]
    pub table: Option<String>,
    /// With --table: the numbered column.
    #[arg(long)]
    pub number: Option<String>,
    /// With --table: the column holding the hashes.
    #[arg(long)]
    pub hash: Option<String>,
    /// With --table: the scope columns.
    #[arg(long, num_args = 1..)]
    pub scope: Vec<String>,
    /// With --table: the sequence name template.
    #[arg(long)]
    pub sequence: Option<String>,
    /// A keyed chain: the environment variable holding its key (never the key
    /// itself on the command line); the void carries its authenticator.
    #[arg(long, value_name = "VAR")]
    pub key_env: Option<String>,
    #[command(flatten)]
    pub wait: Wait,
}

#[derive(clap::Args)]
pub struct CloseArgs {
    pub name: String,
    /// Close a sequence that does not exist yet (a period before its first number).
    #[arg(long)]
    pub create: bool,
    /// With --create: the first value the sequence will hand out once reopened
    /// (the application's `initial_value`). Default 1.
    #[arg(long, allow_negative_numbers = true)]
    pub initial: Option<i64>,
    #[command(flatten)]
    pub wait: Wait,
}

#[derive(clap::Args)]
pub struct AdoptArgs {
    pub name: String,
    /// The legacy table.
    #[arg(long)]
    pub table: String,
    /// Its numbered column.
    #[arg(long)]
    pub column: String,
    /// Columns whose values each have a sequence of their own.
    #[arg(long, num_args = 1..)]
    pub scope: Vec<String>,
    /// With --scope: the sequence name template, such as 'invoice-{company_id}'
    /// (NAME must be one of its names). Without scope, NAME numbers the whole table.
    #[arg(long)]
    pub sequence: Option<String>,
    /// The sequence's first value.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub initial: i64,
    /// Adopt even when the table's numbers have gaps, duplicates, NULLs or numbers
    /// below the initial value (they are reported).
    #[arg(long)]
    pub allow_defects: bool,
    #[command(flatten)]
    pub wait: Wait,
}

#[derive(clap::Args)]
pub struct ReopenArgs {
    pub name: String,
    #[command(flatten)]
    pub wait: Wait,
}

#[derive(clap::Args)]
pub struct AuditArgs {
    #[arg(long)]
    pub table: String,
    #[arg(long)]
    pub column: String,
    /// Columns whose values each have a sequence of their own.
    #[arg(long, num_args = 1..)]
    pub scope: Vec<String>,
    /// The sequence name template, such as 'invoice-{company_id}': each group is
    /// compared with its counter, and every counter it names is audited, rows or
    /// not. Required, unless --without-counter.
    #[arg(long)]
    pub sequence: Option<String>,
    /// Audit the rows alone, compared with no counter: numbers deleted after the
    /// last row, and scopes deleted whole, are then not seen.
    #[arg(long, conflicts_with = "sequence")]
    pub without_counter: bool,
    /// The references' format, such as '{journal}-{year}-{value:05}' (needed
    /// for a text column).
    #[arg(long)]
    pub format: Option<String>,
    /// With --format: year, month, day, or fiscal_year:M.
    #[arg(long, value_parser = parse_period)]
    pub period: Option<Period>,
    /// A date column: also report date inversions.
    #[arg(long)]
    pub date: Option<String>,
    /// The sequences' first value.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub initial: i64,
    /// The table's key columns: rows whose number is NULL are listed by them.
    #[arg(long, num_args = 1..)]
    pub key: Vec<String>,
    /// Checkpoints written by `sequences checkpoint --out FILE`: a counter moved
    /// back or deleted (with its rows) since is a defect.
    #[arg(long, value_name = "FILE")]
    pub against: Vec<PathBuf>,
    /// The column is numbered by the database: triggers missing, or never
    /// recorded (their record deleted with them), are a defect.
    #[arg(long)]
    pub guarded: bool,
    /// The column is numbered after COMMIT: rows whose number is NULL wait for
    /// a numberer. The audit watches those waiting when it looks (followed by
    /// --key, or the primary key) for up to SECONDS: one still waiting then is
    /// a defect, as are rows a numberer refused.
    #[arg(long, value_name = "SECONDS")]
    pub pending: Option<u64>,
}

#[derive(clap::Args)]
pub struct NumberArgs {
    #[arg(long)]
    pub table: String,
    /// The numbered column, NULL until numbered (the application's
    /// `after_commit` field). The table needs a one-column primary key.
    #[arg(long)]
    pub column: String,
    /// The sequence name template, as the application's, such as
    /// 'receipt-{till}' ({column} takes the row's value).
    #[arg(long)]
    pub sequence: String,
    /// The sequences' first value.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub initial: i64,
    /// The sequences' last value: a row past it is refused (left unnumbered,
    /// reported).
    #[arg(long, allow_negative_numbers = true)]
    pub max_value: Option<i64>,
    /// The references' format, such as '{till}-{year}-{value:05}' (a text column).
    #[arg(long)]
    pub format: Option<String>,
    /// With --format: an integer column that also receives the number.
    #[arg(long)]
    pub raw_value: Vec<String>,
    /// year, month, day, or fiscal_year:M: one sequence per period.
    #[arg(long, value_parser = parse_period)]
    pub period: Option<Period>,
    /// The row's date column, for --period, --format's date fields and --chronological.
    #[arg(long)]
    pub date: Option<String>,
    /// The time zone the database's date is taken in, such as 'Europe/Paris'.
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Dates never go backwards: a row dated before one already numbered is
    /// refused (left unnumbered, reported).
    #[arg(long)]
    pub chronological: bool,
    /// Keep numbering as rows commit, until interrupted (Ctrl-C, SIGTERM);
    /// on PostgreSQL it wakes on the inserts' notification.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: when idle, look again at most this often.
    #[arg(long, value_name = "DURATION", default_value = "20ms", value_parser = parse_duration, requires = "follow")]
    pub idle: Duration,
}

#[derive(clap::Args)]
pub struct HoldersArgs {
    pub name: Option<String>,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub table: String,
    /// The numbered column.
    #[arg(long)]
    pub number: String,
    /// The column holding the hashes.
    #[arg(long)]
    pub hash: String,
    /// The covered columns, in their declared order.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub covers: Vec<String>,
    #[arg(long, num_args = 1..)]
    pub scope: Vec<String>,
    /// The sequence name template.
    #[arg(long)]
    pub sequence: String,
    /// The sequences' first value, where every chain starts.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub initial: i64,
    /// The chain was added to a table that already had rows: rows before the
    /// first hashed one are outside it.
    #[arg(long)]
    pub legacy_prefix: bool,
    /// A keyed chain: the environment variable holding its key (never the key
    /// itself on the command line).
    #[arg(long, value_name = "VAR")]
    pub key_env: Option<String>,
    /// Checkpoints written by `sequences checkpoint --out FILE`: each chain must
    /// still pass through its checkpoint's head.
    #[arg(long, value_name = "FILE")]
    pub against: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct CheckpointArgs {
    /// Only names starting with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Write the checkpoint to FILE (it is printed otherwise).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl Command {
    /// How long the command waits for a writer (SQLite's busy timeout): the
    /// writing commands their `--lock-timeout`, `holders` not at all (it
    /// probes SQLite's write lock and must see it held, not wait for it).
    /// The command's name, when it reads the counters of `sequences` only
    /// (`--counter-table django` is refused for it).
    pub fn counters_of_sequences_only(&self) -> Option<&'static str> {
        match self {
            Self::List(_) => Some("list"),
            Self::Verify(_) => Some("verify"),
            Self::Checkpoint(_) => Some("checkpoint"),
            Self::Holders(_) => Some("holders"),
            Self::Number(_) => Some("number"),
            Self::ImportDjango => Some("import-django"),
            _ => None,
        }
    }

    pub fn lock_wait(&self) -> Duration {
        match self {
            Self::Set(SetArgs { wait, .. })
            | Self::Void(VoidArgs { wait, .. })
            | Self::Close(CloseArgs { wait, .. })
            | Self::Adopt(AdoptArgs { wait, .. })
            | Self::Reopen(ReopenArgs { wait, .. }) => wait.lock_timeout,
            Self::Holders(_) => Duration::ZERO,
            _ => DEFAULT_LOCK_TIMEOUT,
        }
    }
}

fn parse_period(text: &str) -> Result<Period, String> {
    match text {
        "year" => Ok(Period::Year),
        "month" => Ok(Period::Month),
        "day" => Ok(Period::Day),
        _ => match text.strip_prefix("fiscal_year:").map(str::parse::<u32>) {
            Some(Ok(month)) if (1..=12).contains(&month) => {
                Ok(Period::FiscalYear { start_month: month })
            }
            _ => Err("expected year, month, day or fiscal_year:M (1..=12)".to_owned()),
        },
    }
}

/// `500ms`, `5s` or `2m`: a whole number and its unit, more than zero (a zero
/// lock timeout means "wait forever" to PostgreSQL).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = || format!("{text:?} is not a duration such as 500ms, 5s or 2m");
    let digits = text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text.trim()[digits.len()..];
    let amount: u64 = digits.parse().map_err(|_| expected())?;
    let duration = match unit {
        "ms" => Duration::from_millis(amount),
        "s" => Duration::from_secs(amount),
        "m" => Duration::from_secs(amount.checked_mul(60).ok_or_else(expected)?),
        _ => return Err(expected()),
    };
    if duration.is_zero() {
        return Err(format!("{text:?}: the timeout must be more than zero"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "5", "s", "5h", "-1s", "1.5s", "0s", "0ms"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
