//! `sequences`: the operator's command for sea-orm-sequences. Every
//! operation is the library's own, each write in one transaction; bad input
//! gets one line on stderr and changes nothing.
//!
//! Exit codes: 0 done (and, for `audit` and `verify`, clean); 1 a check found
//! a defect; 2 bad input or an error.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use comfy_table::Table;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use sequences_cli::connect::probe;
use sequences_cli::redact::Secrets;
use sequences_core::{
    Audit, AuditReport, BreakKind, ChainAudit, ChainKey, ChainReport, Checkpoint, NamedColumn,
    Period, Sequence, SequenceError, chain, list_sequences, lock_holders,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "sequences",
    version,
    about = "Operate the gapless sequences of sea-orm-sequences",
    after_help = "Exit codes: 0 done (audit, verify: clean); 1 a check found a defect; 2 bad input or an error."
)]
struct Args {
    /// The database: postgres://..., mysql://..., sqlite://...
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Print JSON instead of a table (read commands).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every sequence: name, last value, closed, voided numbers.
    List {
        /// Only names starting with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// One sequence and its voided numbers.
    Show { name: String },
    /// Continue a sequence after VALUE (forward only).
    Set {
        name: String,
        #[arg(allow_negative_numbers = true)]
        value: i64,
        /// Also go backwards (a repair: committed numbers after VALUE will be handed out again).
        #[arg(long)]
        force: bool,
        /// Create the sequence if it does not exist.
        #[arg(long)]
        create: bool,
    },
    /// Record that VALUE, handed out, is void.
    Void {
        name: String,
        #[arg(allow_negative_numbers = true)]
        value: i64,
        /// Why (kept with the void).
        #[arg(long)]
        reason: String,
        /// A hash-chained record's table: the void keeps the record's hash (read
        /// from its row, which must still exist), so the chain runs on once the
        /// record is deleted. With --number, --hash, and --scope/--sequence as for verify.
        #[arg(long, requires_all = ["number", "hash", "sequence"])]
        table: Option<String>,
        /// With --table: the numbered column.
        #[arg(long)]
        number: Option<String>,
        /// With --table: the column holding the hashes.
        #[arg(long)]
        hash: Option<String>,
        /// With --table: the scope columns.
        #[arg(long, num_args = 1..)]
        scope: Vec<String>,
        /// With --table: the sequence name template.
        #[arg(long)]
        sequence: Option<String>,
    },
    /// Close a sequence: every allocation is refused until it is reopened.
    Close {
        name: String,
        /// Close a sequence that does not exist yet (a period before its first number).
        #[arg(long)]
        create: bool,
        /// With --create: the first value the sequence will hand out once reopened
        /// (the application's `initial_value`). Default 1.
        #[arg(long, allow_negative_numbers = true)]
        initial: Option<i64>,
    },
    /// Reopen a closed sequence.
    Reopen { name: String },
    /// Audit a numbered column of any table: gaps (explained by voids or not), duplicates, date order.
    Audit {
        #[arg(long)]
        table: String,
        #[arg(long)]
        column: String,
        /// Columns whose values each have a sequence of their own.
        #[arg(long, num_args = 1..)]
        scope: Vec<String>,
        /// The sequence name template, such as 'invoice-{company_id}'.
        #[arg(long)]
        sequence: Option<String>,
        /// The references' format, such as '{journal}-{year}-{value:05}'.
        #[arg(long)]
        format: Option<String>,
        /// With --format: year, month, day, or fiscal_year:M.
        #[arg(long)]
        period: Option<String>,
        /// A date column: also report date inversions.
        #[arg(long)]
        date: Option<String>,
        /// The sequences' first value.
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
        initial: i64,
        /// The table's key columns: rows whose number is NULL are listed by them.
        #[arg(long, num_args = 1..)]
        key: Vec<String>,
        /// Checkpoints written by `sequences checkpoint --out FILE`: a counter moved
        /// back or deleted (with its rows) since is a defect.
        #[arg(long, value_name = "FILE")]
        against: Vec<std::path::PathBuf>,
    },
    /// Who holds or waits for a sequence right now.
    Holders { name: Option<String> },
    /// Verify the hash chains of a numbered column.
    Verify {
        #[arg(long)]
        table: String,
        /// The numbered column.
        #[arg(long)]
        number: String,
        /// The column holding the hashes.
        #[arg(long)]
        hash: String,
        /// The covered columns, in their declared order.
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        covers: Vec<String>,
        #[arg(long, num_args = 1..)]
        scope: Vec<String>,
        /// The sequence name template.
        #[arg(long)]
        sequence: String,
        /// The sequences' first value, where every chain starts.
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
        initial: i64,
        /// The chain was added to a table that already had rows: rows before the
        /// first hashed one are outside it.
        #[arg(long)]
        legacy_prefix: bool,
        /// A keyed chain: the environment variable holding its key (never the key
        /// itself on the command line).
        #[arg(long, value_name = "VAR")]
        key_env: Option<String>,
        /// Checkpoints written by `sequences checkpoint --out FILE`: each chain must
        /// still pass through its checkpoint's head.
        #[arg(long, value_name = "FILE")]
        against: Vec<std::path::PathBuf>,
    },
    /// Print (or write) each sequence's last value and chain head, with the time: a
    /// checkpoint to sign, send or archive outside the database, for
    /// `verify --against` and `audit --against`.
    Checkpoint {
        /// Only names starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Write the checkpoint to FILE (it is printed otherwise).
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

/// How a command ends.
enum Outcome {
    Done,
    Defect,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return usage_error(error),
    };
    let out = Out {
        secrets: Secrets::of_url(&args.database_url),
    };
    match run(args, &out).await {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Defect) => ExitCode::from(1),
        Err(message) => {
            out.warn(format_args!("error: {}", message.replace('\n', " ")));
            ExitCode::from(2)
        }
    }
}

/// clap's own message (usage, `--help`, `--version`), with any URL found in
/// the arguments or `DATABASE_URL` hidden: a mistyped command line may echo it.
fn usage_error(error: clap::Error) -> ExitCode {
    let urls = std::env::args()
        .skip(1)
        .chain(std::env::var("DATABASE_URL"))
        .flat_map(|arg| {
            // `--database-url=URL` as well as a URL on its own.
            let value = arg.split_once('=').map(|(_, v)| v.to_owned());
            [Some(arg), value]
        })
        .flatten()
        .map(|text| Secrets::of_url(&text));
    let text = urls.fold(error.render().to_string(), |text, secrets| {
        secrets.scrub(&text)
    });
    if error.use_stderr() {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
}

/// Everything the command prints, on stdout or stderr, with the database
/// URL's secrets hidden: a driver or database message may repeat them.
struct Out {
    secrets: Secrets,
}

impl Out {
    fn line(&self, text: std::fmt::Arguments<'_>) {
        println!("{}", self.secrets.scrub(&text.to_string()));
    }

    fn warn(&self, text: std::fmt::Arguments<'_>) {
        eprintln!("{}", self.secrets.scrub(&text.to_string()));
    }

    /// Secrets hidden in the values, so that the JSON stays valid whatever
    /// the password's characters.
    fn json(&self, mut value: Value) {
        self.scrub_json(&mut value);
        self.line(format_args!("{value}"));
    }

    fn scrub_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.secrets.scrub(text),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            Value::Object(map) => {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(key, mut v)| {
                        self.scrub_json(&mut v);
                        (self.secrets.scrub(&key), v)
                    })
                    .collect();
            }
            _ => {}
        }
    }
}

async fn run(args: Args, out: &Out) -> Result<Outcome, String> {
    let db = connect(&args.database_url, &out.secrets).await?;
    let json = args.json;
    let outcome = match args.command {
        Command::List { prefix } => {
            let all = list_sequences(&db, prefix.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let rows: Vec<Value> = all
                    .iter()
                    .map(|s| {
                        json!({"name": s.name, "last": s.last, "closed": s.closed,
                               "last_day": s.last_day.map(|d| d.to_string()),
                               "voided": s.voided, "chained": s.chained})
                    })
                    .collect();
                out.json(Value::Array(rows));
            } else {
                let mut table = table(["name", "last", "closed", "last day", "voided", "chain"]);
                for s in &all {
                    table.add_row([
                        s.name.clone(),
                        s.last.to_string(),
                        yes(s.closed),
                        s.last_day.map(|d| d.to_string()).unwrap_or_default(),
                        s.voided.to_string(),
                        yes(s.chained),
                    ]);
                }
                out.line(format_args!("{table}"));
            }
            Outcome::Done
        }
        Command::Show { name } => {
            let sequence = Sequence::new(&name);
            let state = sequence
                .state(&db)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("sequence {name:?} does not exist"))?;
            let voids = voids_of(&db, &name).await.map_err(|e| e.to_string())?;
            if json {
                let voids: Vec<Value> = voids
                    .iter()
                    .map(
                        |v| json!({"value": v.value, "reason": v.reason, "voided_at": v.voided_at}),
                    )
                    .collect();
                out.json(json!({"name": name, "last": state.last, "closed": state.closed,
                           "last_day": state.last_day.map(|d| sequences_core::Day::from_number(d).to_string()),
                           "chain_head": state.chain_head, "voids": voids}));
            } else {
                let mut table = table(["", ""]);
                table.add_row(["name".to_owned(), name.clone()]);
                table.add_row(["last".to_owned(), state.last.to_string()]);
                table.add_row(["closed".to_owned(), yes(state.closed)]);
                if let Some(day) = state.last_day {
                    table.add_row([
                        "last day".to_owned(),
                        sequences_core::Day::from_number(day).to_string(),
                    ]);
                }
                if let Some(head) = &state.chain_head {
                    table.add_row(["chain head".to_owned(), head.clone()]);
                }
                out.line(format_args!("{table}"));
                if !voids.is_empty() {
                    let mut list = table_of(["void", "reason", "at"]);
                    for v in &voids {
                        list.add_row([v.value.to_string(), v.reason.clone(), v.voided_at.clone()]);
                    }
                    out.line(format_args!("{list}"));
                }
            }
            Outcome::Done
        }
        Command::Set {
            name,
            value,
            force,
            create,
        } => {
            let sequence = Sequence::new(&name);
            let before = exists(&db, &sequence, create).await?;
            write(&db, |txn| {
                let sequence = sequence.clone();
                Box::pin(async move {
                    if force {
                        sequence.force_last_value(txn, value).await?;
                    } else {
                        sequence.set_last_value(txn, value).await?;
                    }
                    Ok(())
                })
            })
            .await?;
            if let Some(before) = before.filter(|&before| before > value) {
                out.warn(format_args!(
                    "warning: sequence {name:?} moved back from {before} to {value}: numbers \
                     {}..={before} will be handed out again",
                    value + 1
                ));
            }
            out.line(format_args!("sequence {name:?}: last is {value}"));
            Outcome::Done
        }
        Command::Void {
            name,
            value,
            reason,
            table,
            number,
            hash,
            scope,
            sequence: template,
        } => {
            let record_hash = match (table, number, hash, template) {
                (Some(table), Some(number), Some(hash), Some(template)) => {
                    let number = NamedColumn::from_database(&db, &table, &number)
                        .await
                        .map_err(|e| e.to_string())?;
                    let hash = NamedColumn::from_database(&db, &table, &hash)
                        .await
                        .map_err(|e| e.to_string())?;
                    let scope = named_columns(&db, &table, &scope).await?;
                    let found = ChainAudit::new(number, hash)
                        .scope(scope)
                        .sequence(template)
                        .record_hash(&db, &name, value)
                        .await
                        .map_err(|e| e.to_string())?;
                    Some(found.ok_or_else(|| {
                        format!(
                            "no hashed record numbered {value} of sequence {name:?} in table \
                             `{table}`: void it before deleting the record, or void it without \
                             --table (the chain then shows the deleted record)"
                        )
                    })?)
                }
                _ => None,
            };
            let sequence = Sequence::new(&name);
            write(&db, |txn| {
                let (sequence, reason, hash) =
                    (sequence.clone(), reason.clone(), record_hash.clone());
                Box::pin(async move {
                    Ok(sequence
                        .void_link(txn, value, &reason, hash.as_deref())
                        .await?)
                })
            })
            .await?;
            out.line(format_args!(
                "sequence {name:?}: {value} is void ({reason}){}",
                if record_hash.is_some() {
                    "; the record's hash is kept: delete the record now"
                } else {
                    ""
                }
            ));
            Outcome::Done
        }
        Command::Close {
            name,
            create,
            initial,
        } => {
            let sequence = Sequence::new(&name).initial_value(initial.unwrap_or(1));
            exists(&db, &sequence, create).await?;
            write(&db, |txn| {
                let (sequence, name) = (sequence.clone(), name.clone());
                Box::pin(async move {
                    // Read in the transaction that closes: an --initial that would
                    // be ignored is refused, not dropped.
                    if let Some(initial) = initial
                        && let Some(last) = sequence.last_value(txn).await?
                        && initial.checked_sub(1) != Some(last)
                    {
                        return Err(DbErr::Custom(format!(
                            "sequence {name:?} exists (last is {last}): --initial {initial} \
                             applies only to a sequence that close --create creates; \
                             use set to move it"
                        )));
                    }
                    Ok(sequence.close(txn).await?)
                })
            })
            .await?;
            out.line(format_args!("sequence {name:?} is closed"));
            Outcome::Done
        }
        Command::Reopen { name } => {
            let sequence = Sequence::new(&name);
            let existed = write(&db, |txn| {
                let sequence = sequence.clone();
                Box::pin(async move { Ok(sequence.reopen(txn).await?) })
            })
            .await?;
            if !existed {
                return Err(format!("sequence {name:?} does not exist"));
            }
            out.line(format_args!("sequence {name:?} is open"));
            Outcome::Done
        }
        Command::Audit {
            table,
            column,
            scope,
            sequence,
            format,
            period,
            date,
            initial,
            key,
            against,
        } => {
            // Bad input is refused before any query.
            let period = period.as_deref().map(parse_period).transpose()?;
            let value = NamedColumn::from_database(&db, &table, &column)
                .await
                .map_err(|e| e.to_string())?;
            let mut audit = Audit::new(value)
                .scope(named_columns(&db, &table, &scope).await?)
                .key(named_columns(&db, &table, &key).await?)
                .initial_value(initial);
            for file in &against {
                audit = audit.checkpoints(read_checkpoints(file)?);
            }
            if let Some(sequence) = sequence {
                audit = audit.sequence(sequence);
            }
            if let Some(format) = format {
                audit = audit.format(format);
            }
            if let Some(period) = period {
                audit = audit.period(period);
            }
            if let Some(date) = date {
                audit = audit.date(
                    NamedColumn::from_database(&db, &table, &date)
                        .await
                        .map_err(|e| e.to_string())?,
                );
            }
            let report = audit.run(&db).await.map_err(|e| e.to_string())?;
            print_audit(out, &report, &scope, json);
            if report.is_clean() {
                Outcome::Done
            } else {
                Outcome::Defect
            }
        }
        Command::Holders { name } => {
            let holders = lock_holders(&db, name.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let rows: Vec<Value> = holders
                    .iter()
                    .map(|h| {
                        json!({"sequence": h.sequence, "session": h.session,
                               "role": if h.holding { "holding" } else { "waiting" },
                               "for_ms": (h.for_ms * 10.0).round() / 10.0, "detail": h.detail})
                    })
                    .collect();
                out.json(Value::Array(rows));
            } else if holders.is_empty() {
                out.line(format_args!("no session holds or waits for a sequence"));
            } else {
                let mut table = table(["sequence", "session", "role", "for", "detail"]);
                for h in &holders {
                    table.add_row([
                        h.sequence
                            .clone()
                            .unwrap_or_else(|| "(database)".to_owned()),
                        h.session.map(|s| s.to_string()).unwrap_or_default(),
                        if h.holding { "holding" } else { "waiting" }.to_owned(),
                        format!("{:.1} s", h.for_ms / 1000.0),
                        h.detail.clone().unwrap_or_default(),
                    ]);
                }
                out.line(format_args!("{table}"));
            }
            Outcome::Done
        }
        Command::Verify {
            table,
            number,
            hash,
            covers,
            scope,
            sequence,
            initial,
            legacy_prefix,
            key_env,
            against,
        } => {
            let number = NamedColumn::from_database(&db, &table, &number)
                .await
                .map_err(|e| e.to_string())?;
            let hash = NamedColumn::from_database(&db, &table, &hash)
                .await
                .map_err(|e| e.to_string())?;
            let mut audit = ChainAudit::new(number, hash)
                .covers(named_columns(&db, &table, &covers).await?)
                .scope(named_columns(&db, &table, &scope).await?)
                .sequence(sequence)
                .initial_value(initial)
                .legacy_prefix(legacy_prefix);
            if let Some(var) = key_env {
                if std::env::var_os(&var).is_none() {
                    return Err(format!(
                        "--key-env {var}: the environment variable {var} is not set"
                    ));
                }
                audit = audit.key(ChainKey::from_env(var));
            }
            for file in &against {
                audit = audit.checkpoints(read_checkpoints(file)?);
            }
            let report = audit.run(&db).await.map_err(|e| e.to_string())?;
            print_chains(out, &report, json);
            if report.is_intact() {
                Outcome::Done
            } else {
                Outcome::Defect
            }
        }
        Command::Checkpoint { prefix, out: file } => {
            let taken = chain::checkpoints(&db, prefix.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            let document = json!({
                "format": "sequences-checkpoint-v1",
                "taken_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "sequences": taken.iter().map(|c| json!({
                    "sequence": c.sequence, "last": c.last, "head": c.head,
                })).collect::<Vec<_>>(),
            });
            match file {
                Some(file) => {
                    let text = serde_json::to_string_pretty(&document).expect("JSON");
                    std::fs::write(&file, text + "\n")
                        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                    if json {
                        out.json(json!({"written": file.display().to_string(),
                                        "sequences": taken.len()}));
                    } else {
                        out.line(format_args!(
                            "checkpoint of {} sequence(s) written to {}",
                            taken.len(),
                            file.display()
                        ));
                    }
                }
                None => out.json(document),
            }
            Outcome::Done
        }
    };
    db.close().await.map_err(|e| e.to_string())?;
    Ok(outcome)
}

/// Columns of `table`, their types read from the database (an unknown one is
/// an error naming it).
async fn named_columns(
    db: &DatabaseConnection,
    table: &str,
    columns: &[String],
) -> Result<Vec<NamedColumn>, String> {
    let mut named = Vec::with_capacity(columns.len());
    for column in columns {
        named.push(
            NamedColumn::from_database(db, table, column)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(named)
}

/// The checkpoints of a file written by `sequences checkpoint --out`.
fn read_checkpoints(file: &std::path::Path) -> Result<Vec<Checkpoint>, String> {
    let bad = |why: String| format!("{}: not a checkpoint file ({why})", file.display());
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let document: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if document["format"] != "sequences-checkpoint-v1" {
        return Err(bad("no \"format\": \"sequences-checkpoint-v1\"".into()));
    }
    let entries = document["sequences"]
        .as_array()
        .ok_or_else(|| bad("no \"sequences\" list".into()))?;
    entries
        .iter()
        .map(|entry| {
            Ok(Checkpoint {
                sequence: entry["sequence"]
                    .as_str()
                    .ok_or_else(|| bad("an entry without \"sequence\"".into()))?
                    .to_owned(),
                last: entry["last"]
                    .as_i64()
                    .ok_or_else(|| bad("an entry without \"last\"".into()))?,
                head: match &entry["head"] {
                    Value::Null => None,
                    Value::String(head) => Some(head.clone()),
                    _ => return Err(bad("a \"head\" that is not a string".into())),
                },
            })
        })
        .collect()
}

async fn connect(url: &str, secrets: &Secrets) -> Result<DatabaseConnection, String> {
    let cannot =
        |error: &dyn std::fmt::Display| format!("cannot connect to {}: {error}", secrets.url());
    probe(url, CONNECT_TIMEOUT)
        .await
        .map_err(|error| cannot(&error))?;
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(2)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // `holders` on SQLite probes the write lock: it must not wait for it.
        .map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::ZERO).create_if_missing(false));
    Database::connect(options)
        .await
        .map_err(|error| cannot(&error))
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One write, in its own transaction, committed only if it succeeds.
async fn write<T: Send>(
    db: &DatabaseConnection,
    work: impl for<'c> FnMut(&'c sea_orm::DatabaseTransaction) -> sequences_core::WorkFuture<'c, T>
    + Send,
) -> Result<T, String> {
    sequences_core::transaction(db, work)
        .await
        .map_err(|error| match error {
            // The library's own refusals carry their whole message.
            DbErr::Custom(message) => message,
            other => other.to_string(),
        })
}

/// The sequence's last value if it exists; an error if not, unless `create`.
async fn exists(
    db: &DatabaseConnection,
    sequence: &Sequence,
    create: bool,
) -> Result<Option<i64>, String> {
    let last = sequence.last_value(db).await.map_err(error)?;
    if last.is_none() && !create {
        return Err(format!(
            "sequence {:?} does not exist; pass --create to create it",
            sequence.name()
        ));
    }
    Ok(last)
}

fn error(error: SequenceError) -> String {
    error.to_string()
}

async fn voids_of(
    db: &DatabaseConnection,
    name: &str,
) -> Result<Vec<sequences_core::entity::void::Model>, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use sequences_core::entity::void;
    void::Entity::find()
        .filter(void::Column::Sequence.eq(name))
        .order_by_asc(void::Column::Value)
        .all(db)
        .await
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
            _ => Err(format!(
                "invalid --period {text:?}: expected year, month, day or fiscal_year:M (1..=12)"
            )),
        },
    }
}

fn print_audit(out: &Out, report: &AuditReport, scope: &[String], json: bool) {
    if json {
        let groups: Vec<Value> = report
            .groups
            .iter()
            .map(|g| {
                json!({
                    "scope": scope.iter().zip(&g.scope).map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    "sequence": g.sequence, "rows": g.rows, "first": g.first, "last": g.last,
                    "sequence_last": g.sequence_last, "missing": g.missing,
                    "gaps": g.gaps.iter().map(|r| [*r.start(), *r.end()]).collect::<Vec<_>>(),
                    "voided": g.voided, "voided_but_present": g.voided_but_present,
                    "duplicate_rows": g.duplicate_rows,
                    "duplicates": g.duplicates.iter().map(|(v, n)| [*v, *n as i64]).collect::<Vec<_>>(),
                    "below_initial": g.below_initial, "ahead_of_sequence": g.ahead_of_sequence,
                    "inversions": g.inversions, "unnumbered": g.unnumbered,
                    "checkpoint_last": g.checkpoint_last, "rewound": g.rewound,
                    "unnamed": g.unnamed,
                    "unnumbered_keys": g.unnumbered_keys, "clean": g.is_clean(),
                })
            })
            .collect();
        out.json(
            json!({"clean": report.is_clean(), "unreadable": report.unreadable, "groups": groups}),
        );
        return;
    }
    let mut table = table([
        "scope",
        "sequence",
        "rows",
        "first",
        "last",
        "seq. last",
        "missing",
        "voided",
        "duplicates",
        "inversions",
        "unnumbered",
        "",
    ]);
    for g in &report.groups {
        let scope = g
            .scope
            .iter()
            .map(|v| v.clone().unwrap_or_else(|| "NULL".to_owned()))
            .collect::<Vec<_>>()
            .join(", ");
        let missing = if g.gaps.is_empty() {
            g.missing.to_string()
        } else {
            let ranges: Vec<String> = g
                .gaps
                .iter()
                .take(5)
                .map(|r| {
                    if r.start() == r.end() {
                        r.start().to_string()
                    } else {
                        format!("{}..={}", r.start(), r.end())
                    }
                })
                .collect();
            format!("{} ({})", g.missing, ranges.join(", "))
        };
        table.add_row([
            scope,
            g.sequence.clone().unwrap_or_default(),
            g.rows.to_string(),
            opt(g.first),
            opt(g.last),
            opt(g.sequence_last),
            missing,
            g.voided.len().to_string(),
            g.duplicate_rows.to_string(),
            g.inversions.to_string(),
            g.unnumbered.to_string(),
            if g.is_clean() { "clean" } else { "DEFECT" }.to_owned(),
        ]);
    }
    out.line(format_args!("{table}"));
    if report.unreadable > 0 {
        out.line(format_args!(
            "{} reference(s) do not match the format",
            report.unreadable
        ));
    }
    out.line(format_args!(
        "{}",
        if report.is_clean() {
            "clean: every number accounted for"
        } else {
            "DEFECTS found"
        }
    ));
}

fn print_chains(out: &Out, report: &ChainReport, json: bool) {
    let kind = |kind: BreakKind| match kind {
        BreakKind::Altered => {
            "altered (a covered field or the number was edited, or a record was inserted or swapped)"
        }
        BreakKind::Missing => "missing (deleted, and not recorded void)",
        BreakKind::Duplicate => "duplicated",
        BreakKind::Unhashed => "unhashed (written behind the library's back)",
        BreakKind::Head => {
            "the chain does not end at its head (records at the end deleted, or the head moved)"
        }
        BreakKind::Checkpoint => {
            "does not reach the checkpoint's head (rewritten or cut since the checkpoint)"
        }
        _ => "broken",
    };
    if json {
        let chains: Vec<Value> = report
            .chains
            .iter()
            .map(|c| {
                let breaks: Vec<Value> = c
                    .breaks
                    .iter()
                    .map(|b| {
                        json!({"number": b.number, "through": b.through,
                               "kind": format!("{:?}", b.kind).to_lowercase()})
                    })
                    .collect();
                json!({"sequence": c.sequence, "starts_at": c.starts_at, "ends_at": c.ends_at,
                       "links": c.links, "unnumbered": c.unnumbered,
                       "intact": c.breaks.is_empty() && c.unnumbered == 0, "breaks": breaks})
            })
            .collect();
        out.json(json!({"intact": report.is_intact(), "chains": chains}));
        return;
    }
    let mut table = table(["sequence", "starts at", "links", "unnumbered", "breaks"]);
    for c in &report.chains {
        let breaks: Vec<String> = c
            .breaks
            .iter()
            .take(5)
            .map(|b| {
                let at = if b.number == b.through {
                    b.number.to_string()
                } else {
                    format!("{}..={}", b.number, b.through)
                };
                format!("{at}: {}", kind(b.kind))
            })
            .collect();
        let more = c.breaks.len().saturating_sub(5);
        table.add_row([
            c.sequence.clone(),
            opt(c.starts_at),
            c.links.to_string(),
            c.unnumbered.to_string(),
            if c.breaks.is_empty() && c.unnumbered == 0 {
                "intact".to_owned()
            } else if more > 0 {
                format!("{}; and {more} more", breaks.join("; "))
            } else {
                breaks.join("; ")
            },
        ]);
    }
    out.line(format_args!("{table}"));
    out.line(format_args!(
        "{}",
        if report.is_intact() {
            "intact: every chain verifies to its head"
        } else {
            "BROKEN chain(s)"
        }
    ));
}

fn table<const N: usize>(header: [&str; N]) -> Table {
    table_of(header)
}

fn table_of<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    table.set_header(header);
    table
}

fn yes(flag: bool) -> String {
    if flag { "yes" } else { "" }.to_owned()
}

fn opt(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}
