//! The proof: audit a numbered column, verify hash chains, take checkpoints.
//! Reads only.

use std::path::Path;

use sea_orm::DatabaseConnection;
use sequences_core::{
    Audit, AuditColumn as _, ChainAudit, ChainKey, Checkpoint, NamedColumn, SequenceError, chain,
};
use serde_json::{Value, json};

use super::Outcome;
use crate::args::{AuditArgs, CheckpointArgs, VerifyArgs};
use crate::database::check_keyed_schema;
use crate::error::{CliError, Kind};
use crate::output::{self, Done, Out};
use crate::progress::Shown;

pub async fn audit(
    db: &DatabaseConnection,
    out: &Out,
    args: AuditArgs,
    counters: sequences_core::CounterTable,
) -> Result<Outcome, CliError> {
    let value = named_column(db, &args.table, &args.column).await?;
    if value.is_integer() == Some(false) && args.format.is_none() {
        return Err(CliError::bad_input(format!(
            "column `{}` of table `{}` is not an integer column: pass --format with the \
             references' pattern (such as '{{journal}}-{{year}}-{{value:05}}') to audit text \
             references",
            args.column, args.table
        )));
    }
    let scope = named_columns(db, &args.table, &args.scope).await?;
    // Without a counter, the audit cannot see numbers deleted after the last
    // row, nor a scope deleted whole: the operator says so explicitly.
    if args.sequence.is_none() && !args.without_counter {
        return Err(CliError::bad_input(
            "pass --sequence with the sequence name template (such as 'invoice-{company_id}'), \
             so that every number handed out is compared; or --without-counter to audit the \
             rows alone, which cannot see numbers deleted after the last row"
                .to_owned(),
        ));
    }
    // Rows waiting for a numberer are followed by the table's key: its
    // primary key unless one is named.
    let mut key = args.key.clone();
    if key.is_empty() && args.pending.is_some() {
        key = crate::database::catalog_columns(db, &args.table)
            .await?
            .into_iter()
            .filter(|c| c.primary_key)
            .map(|c| c.name)
            .collect();
    }
    let mut audit = Audit::new(value)
        .scope(scope)
        .row_key(named_columns(db, &args.table, &key).await?)
        .initial_value(args.initial)
        .counter_table(counters);
    for file in &args.against {
        audit = audit.checkpoints(read_checkpoints(file)?);
    }
    if let Some(sequence) = args.sequence {
        audit = audit.sequence(sequence);
    }
    if let Some(format) = args.format {
        audit = audit.format(format);
    }
    if let Some(period) = args.period {
        audit = audit.period(period);
    }
    if let Some(date) = &args.date {
        audit = audit.date(named_column(db, &args.table, date).await?);
    }
    if args.guarded {
        audit = audit.guarded();
    }
    if let Some(seconds) = args.pending {
        audit = audit.pending(std::time::Duration::from_secs(seconds));
    }
    let shown = Shown::new(out);
    if let Some(bar) = shown.hook() {
        audit = audit.progress(bar);
    }
    let report = audit.run(db).await?;
    drop(shown);
    out.print(&output::Audit {
        report: &report,
        scope: &args.scope,
        rows_only: args.without_counter,
    });
    Ok(if report.is_clean() {
        Outcome::Done
    } else {
        Outcome::Defect
    })
}

pub async fn verify(
    db: &DatabaseConnection,
    out: &Out,
    args: VerifyArgs,
) -> Result<Outcome, CliError> {
    let table = &args.table;
    let number = named_column(db, table, &args.number).await?;
    let hash = named_column(db, table, &args.hash).await?;
    let mut audit = ChainAudit::new(number, hash)
        .covers(named_columns(db, table, &args.covers).await?)
        .scope(named_columns(db, table, &args.scope).await?)
        .sequence(args.sequence)
        .initial_value(args.initial)
        .legacy_prefix(args.legacy_prefix);
    if let Some(var) = args.key_env {
        audit = audit.chain_key(chain_key(&var)?);
        check_keyed_schema(db).await?;
    }
    for file in &args.against {
        audit = audit.checkpoints(read_checkpoints(file)?);
    }
    let shown = Shown::new(out);
    if let Some(bar) = shown.hook() {
        audit = audit.progress(bar);
    }
    let report = audit.run(db).await?;
    drop(shown);
    out.print(&output::Chains(&report));
    Ok(if report.is_intact() {
        Outcome::Done
    } else {
        Outcome::Defect
    })
}

pub async fn checkpoint(
    db: &DatabaseConnection,
    out: &Out,
    args: CheckpointArgs,
) -> Result<Outcome, CliError> {
    let taken = chain::checkpoints(db, args.prefix.as_deref())
        .await
        .map_err(|e| CliError::database(&e))?;
    let document = json!({
        "format": "sequences-checkpoint-v1",
        "taken_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "sequences": taken,
    });
    let Some(file) = args.out else {
        // The document itself, with or without --json.
        out.print(&Done {
            text: document.to_string(),
            json: document,
        });
        return Ok(Outcome::Done);
    };
    let text = serde_json::to_string_pretty(&document).expect("a JSON value prints");
    std::fs::write(&file, text + "\n")
        .map_err(|e| CliError::new(Kind::Io, format!("cannot write {}: {e}", file.display())))?;
    out.print(&Done {
        text: format!(
            "checkpoint of {} sequence(s) written to {}",
            taken.len(),
            file.display()
        ),
        json: json!({"written": file.display().to_string(), "sequences": taken.len()}),
    });
    Ok(Outcome::Done)
}

/// The key of a keyed chain, from environment variable `var` (never from
/// the command line, where `ps` would show it).
pub(super) fn chain_key(var: &str) -> Result<ChainKey, CliError> {
    if std::env::var_os(var).is_none() {
        return Err(CliError::bad_input(format!(
            "--key-env {var}: the environment variable {var} is not set"
        )));
    }
    Ok(ChainKey::from_env(var))
}

/// Column `column` of `table`, its type read from the database (an unknown
/// one is an error naming it).
pub(super) async fn named_column(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
) -> Result<NamedColumn, CliError> {
    NamedColumn::from_database(db, table, column)
        .await
        .map_err(|error| match error {
            SequenceError::InvalidAudit { .. } => CliError::not_found(error.to_string()),
            other => other.into(),
        })
}

/// [`named_column`] for each of `columns`.
pub(super) async fn named_columns(
    db: &DatabaseConnection,
    table: &str,
    columns: &[String],
) -> Result<Vec<NamedColumn>, CliError> {
    let mut named = Vec::with_capacity(columns.len());
    for column in columns {
        named.push(named_column(db, table, column).await?);
    }
    Ok(named)
}

/// The checkpoints of a file written by `sequences checkpoint --out`.
fn read_checkpoints(file: &Path) -> Result<Vec<Checkpoint>, CliError> {
    let bad = |why: &str| {
        CliError::bad_input(format!("{}: not a checkpoint file ({why})", file.display()))
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::new(Kind::Io, format!("cannot read {}: {e}", file.display())))?;
    let document: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    if document["format"] != "sequences-checkpoint-v1" {
        return Err(bad("no \"format\": \"sequences-checkpoint-v1\""));
    }
    // Each entry as the library's `Checkpoint` (its `serde` form).
    serde_json::from_value(document["sequences"].clone())
        .map_err(|e| bad(&format!("its \"sequences\": {e}")))
}
