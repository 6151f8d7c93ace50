//! `sequences number`: the numberer of a column numbered after COMMIT, as a
//! process of its own. The table is read from the catalog
//! ([`crate::table`]) and numbered by the library's own
//! `Numbering::number_pending` and `Numberer`.

use sea_orm::DatabaseConnection;
use sequences_core::{NumberedField, Numberer, Numbering, Sequence};
use serde_json::json;

use super::Outcome;
use crate::args::NumberArgs;
use crate::database::{catalog_columns, chained_sequence};
use crate::error::CliError;
use crate::output::{Done, Out};
use crate::table::{self, CatalogColumn, Table};

pub async fn number(
    db: &DatabaseConnection,
    out: &Out,
    args: NumberArgs,
) -> Result<Outcome, CliError> {
    let columns = catalog_columns(db, &args.table).await?;
    if columns.is_empty() {
        return Err(CliError::not_found(format!(
            "no table `{}` in this database",
            args.table
        )));
    }
    // The command has no chain options: numbering a chained sequence
    // without its chain would leave rows without hashes.
    let prefix = args.sequence.split('{').next().unwrap_or_default();
    if let Some(name) = chained_sequence(db, prefix).await? {
        return Err(CliError::bad_input(format!(
            "sequence {name:?} is hash-chained, and the command numbers without a chain: number \
             `{}` with the application's Numberer, whose description carries the chain",
            args.table
        )));
    }
    // The numberer finds rows by a one-column key, which the command must
    // read: a key column it leaves out would make several rows one.
    let keys: Vec<&CatalogColumn> = columns.iter().filter(|c| c.primary_key).collect();
    match keys.as_slice() {
        [key] if table::Kind::of(&key.type_name).is_some() => {}
        [key] => {
            return Err(CliError::bad_input(format!(
                "the primary key of `{}` is `{}` ({}), a type the command does not read: number \
                 it with the application's Numberer",
                args.table, key.name, key.type_name
            )));
        }
        _ => {
            return Err(CliError::bad_input(format!(
                "after_commit needs a one-column primary key, which the numberer finds rows by; \
                 `{}` has {}",
                args.table,
                if keys.is_empty() {
                    "none".to_owned()
                } else {
                    keys.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
    }
    let table = Table::load(&args.table, columns);
    let numbering: &'static Numbering<table::Column> = Box::leak(Box::new(describe(table, &args)?));
    // Every rule of the application's description, before any row is read.
    numbering.validate()?;
    let target = format!("{}.{}", args.table, args.column);
    // One pass first: what it refuses, --follow refuses too, at once.
    let shown = crate::progress::Shown::new(out);
    let mut numbered = match shown.hook() {
        Some(bar) => numbering.number_pending_reporting(db, &bar).await?,
        None => numbering.number_pending(db).await?,
    };
    drop(shown);
    if args.follow {
        out.warn(format!(
            "numbering {target} as rows commit; Ctrl-C (or SIGTERM) stops between two batches"
        ));
        let numberer = Numberer::spawn_with(numbering, db.clone(), args.idle);
        stopped().await;
        numbered += numberer.shutdown().await;
    }
    out.print(&Done {
        text: format!("numbered {numbered} rows of {target}"),
        json: json!({ "table": args.table, "column": args.column, "numbered": numbered }),
    });
    Ok(Outcome::Done)
}

/// The application's description, from the arguments.
fn describe(table: &Table, args: &NumberArgs) -> Result<Numbering<table::Column>, CliError> {
    let column = |name: &str| {
        table.column(name).ok_or_else(|| {
            CliError::not_found(format!(
                "table `{}` has no column `{name}` of a type the command reads (integers, \
                 text, booleans, dates and date-times)",
                args.table
            ))
        })
    };
    let mut sequence = Sequence::new(&args.sequence).initial_value(args.initial);
    if let Some(max) = args.max_value {
        sequence = sequence.max_value(max);
    }
    let mut field = NumberedField::new(column(&args.column)?, sequence).after_commit();
    if let Some(format) = &args.format {
        field = field.format(format);
    }
    for raw in &args.raw_value {
        field = field.raw_value(column(raw)?);
    }
    if let Some(period) = args.period {
        field = field.period(period);
    }
    if let Some(date) = &args.date {
        field = field.date(column(date)?);
    }
    if let Some(zone) = &args.time_zone {
        field = field.time_zone(zone);
    }
    if args.chronological {
        field = field.chronological();
    }
    Ok(Numbering::new().field_with(field))
}

/// Until Ctrl-C, or SIGTERM on Unix.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
