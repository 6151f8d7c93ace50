//! The counters themselves: list, show, set, void, close, reopen. Each write
//! is one transaction of its own, its lock wait bounded (see [`crate::write`]).

use std::io::IsTerminal as _;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use sequences_core::entity::void;
use sequences_core::{ChainAudit, CounterTable, Sequence, SequenceError, list_sequences};
use serde_json::json;

use super::Outcome;
use super::audit::{chain_key, named_column, named_columns};
use crate::args::{AdoptArgs, CloseArgs, ListArgs, ReopenArgs, SetArgs, ShowArgs, VoidArgs};
use crate::database::{check_keyed_schema, is_sealed};
use crate::error::{CliError, Kind, numbers};
use crate::output::{Done, Out, SequenceDetail, SequenceList};
use crate::write::write;

pub async fn list(db: &DatabaseConnection, out: &Out, args: ListArgs) -> Result<Outcome, CliError> {
    let all = list_sequences(db, args.prefix.as_deref())
        .await
        .map_err(|e| CliError::database(&e))?;
    out.print(&SequenceList(&all));
    Ok(Outcome::Done)
}

pub async fn show(
    db: &DatabaseConnection,
    out: &Out,
    args: ShowArgs,
    counters: CounterTable,
) -> Result<Outcome, CliError> {
    let name = args.name;
    let sequence = Sequence::new(&name).counter_table(counters);
    let state = sequence
        .state(db)
        .await?
        .ok_or_else(|| does_not_exist(&name))?;
    // A preview: nothing taken or locked.
    let next = match sequence.peek(db).await {
        Ok(next) => Some(next),
        Err(SequenceError::Exhausted { .. } | SequenceError::Overflow { .. }) => None,
        Err(other) => return Err(other.into()),
    };
    let voids = void::Entity::find()
        .filter(void::Column::Sequence.eq(&name))
        .order_by_asc(void::Column::Value)
        .all(db)
        .await
        .map_err(|e| CliError::database(&e))?;
    out.print(&SequenceDetail {
        name,
        state,
        voids,
        next,
    });
    Ok(Outcome::Done)
}

pub async fn set(
    db: &DatabaseConnection,
    out: &Out,
    args: SetArgs,
    counters: CounterTable,
) -> Result<Outcome, CliError> {
    let SetArgs {
        name,
        value,
        force,
        yes,
        create,
        wait,
    } = args;
    let sequence = Sequence::new(&name).counter_table(counters);
    let before = exists(db, &sequence, create).await?;
    // Going back hands numbers out again: the operator says so first.
    let agreed_from = match before {
        Some(before) if force && before > value => {
            confirm_backwards(out, &name, before, value, yes)?;
            Some(before)
        }
        _ => None,
    };
    let last = write(db, &name, wait.lock_timeout, async |w| {
        let last = match w
            .attempt(&name, sequence.set_last_value(w.txn(), value))
            .await?
        {
            Ok(()) => return Ok(None),
            // Read under the lock: what going back really hands out again.
            Err(SequenceError::WouldGoBackwards { last, .. }) if force => last,
            Err(other) => return Err(other.into()),
        };
        if agreed_from.is_none_or(|agreed| last > agreed) {
            return Err(CliError::new(
                Kind::ConfirmationRequired,
                format!(
                    "sequence {name:?} moved on to {last} meanwhile: going back to {value} \
                     would hand out {} again; run the command again to confirm; nothing changed",
                    numbers(value + 1, last)
                ),
            ));
        }
        w.run(&name, sequence.force_last_value(w.txn(), value))
            .await?;
        Ok(Some(last))
    })
    .await?;
    // `last` is the value under the lock, known only when going back.
    let back = last.filter(|&last| last > value);
    let warning = back.map(|last| {
        format!(
            "sequence {name:?} moved back from {last} to {value}: {} will be handed out again",
            numbers(value + 1, last)
        )
    });
    if let Some(warning) = &warning
        && !out.is_json()
    {
        out.warn(format!("warning: {warning}"));
    }
    out.print(&Done {
        text: format!("sequence {name:?}: last is {value}"),
        json: json!({
            "sequence": name, "last": value, "previous": last.or(before),
            "handed_out_again": back.map(|last| [value + 1, last]),
            "warning": warning,
        }),
    });
    Ok(Outcome::Done)
}

/// On a terminal, the operator types the sequence's name; elsewhere `--yes`
/// stands for it.
fn confirm_backwards(
    out: &Out,
    name: &str,
    before: i64,
    value: i64,
    yes: bool,
) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    let what = format!(
        "sequence {name:?} would move back from {before} to {value}: {} would be handed out \
         again (duplicates, unless their rows are gone)",
        numbers(value + 1, before)
    );
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            Kind::ConfirmationRequired,
            format!("{what}; without a terminal to confirm on, pass --yes too; nothing changed"),
        ));
    }
    out.ask(format!("{what}.\nType the sequence's name to go ahead: "));
    let mut typed = String::new();
    std::io::stdin()
        .read_line(&mut typed)
        .map_err(|e| CliError::new(Kind::Io, format!("cannot read the answer: {e}")))?;
    if typed.trim_end_matches(['\r', '\n']) == name {
        Ok(())
    } else {
        Err(CliError::new(
            Kind::ConfirmationRequired,
            format!("not confirmed (the name typed is not {name:?}); nothing changed"),
        ))
    }
}

/// Where `void --table` finds the chained record whose hash the void keeps.
struct ChainedRecord {
    table: String,
    number: String,
    hash: String,
    scope: Vec<String>,
    template: String,
}

pub async fn void(
    db: &DatabaseConnection,
    out: &Out,
    args: VoidArgs,
    counters: CounterTable,
) -> Result<Outcome, CliError> {
    let VoidArgs {
        name,
        value,
        reason,
        table,
        number,
        hash,
        scope,
        sequence: template,
        key_env,
        wait,
    } = args;
    // A keyed chain's void carries an authenticator; one without it breaks the chain.
    let key = match key_env {
        Some(var) => {
            let key = chain_key(&var)?;
            check_keyed_schema(db).await?;
            Some(key)
        }
        None if is_sealed(db, &name).await? => {
            return Err(CliError::bad_input(format!(
                "sequence {name:?} has a keyed chain: pass --key-env with the variable holding \
                 its key, or the void would break the chain; nothing changed"
            )));
        }
        None => None,
    };
    let record = match (table, number, hash, template) {
        (Some(table), Some(number), Some(hash), Some(template)) => Some(ChainedRecord {
            table,
            number,
            hash,
            scope,
            template,
        }),
        _ => None,
    };
    let record_hash = match record {
        Some(record) => Some(record_hash(db, &name, value, record).await?),
        None => None,
    };
    let sequence = Sequence::new(&name).counter_table(counters);
    write(db, &name, wait.lock_timeout, async |w| {
        let hash = record_hash.as_deref();
        match &key {
            Some(key) => {
                let void = sequence.void_keyed(w.txn(), value, &reason, hash, key);
                w.run(&name, void).await
            }
            None => {
                w.run(&name, sequence.void_link(w.txn(), value, &reason, hash))
                    .await
            }
        }
    })
    .await?;
    let kept = if record_hash.is_some() {
        "; the record's hash is kept: delete the record now"
    } else {
        ""
    };
    out.print(&Done {
        text: format!("sequence {name:?}: {value} is void ({reason}){kept}"),
        json: json!({"sequence": name, "void": value, "reason": reason,
                     "hash_kept": record_hash.is_some(), "keyed": key.is_some()}),
    });
    Ok(Outcome::Done)
}

/// The stored hash of the record numbered `value`, which must still exist.
async fn record_hash(
    db: &DatabaseConnection,
    name: &str,
    value: i64,
    record: ChainedRecord,
) -> Result<String, CliError> {
    let table = &record.table;
    let number = named_column(db, table, &record.number).await?;
    let hash = named_column(db, table, &record.hash).await?;
    let scope = named_columns(db, table, &record.scope).await?;
    let found = ChainAudit::new(number, hash)
        .scope(scope)
        .sequence(record.template)
        .record_hash(db, name, value)
        .await?;
    found.ok_or_else(|| {
        CliError::not_found(format!(
            "no hashed record numbered {value} of sequence {name:?} in table `{table}`: void \
             it before deleting the record, or void it without --table (the chain then shows \
             the deleted record)"
        ))
    })
}

pub async fn close(
    db: &DatabaseConnection,
    out: &Out,
    args: CloseArgs,
    counters: CounterTable,
) -> Result<Outcome, CliError> {
    let CloseArgs {
        name,
        create,
        initial,
        wait,
    } = args;
    let sequence = Sequence::new(&name)
        .counter_table(counters)
        .initial_value(initial.unwrap_or(1));
    exists(db, &sequence, create).await?;
    write(db, &name, wait.lock_timeout, async |w| {
        // Read in the transaction that closes: an --initial that would be
        // ignored is refused, not dropped.
        if let Some(initial) = initial
            && let Some(last) = w.run(&name, sequence.last_value(w.txn())).await?
            && initial.checked_sub(1) != Some(last)
        {
            return Err(CliError::bad_input(format!(
                "sequence {name:?} exists (its last number is {last}): --initial {initial} \
                 applies only to a sequence that close --create creates; use set to move it"
            )));
        }
        w.run(&name, sequence.close(w.txn())).await
    })
    .await?;
    out.print(&Done {
        text: format!("sequence {name:?} is closed"),
        json: json!({"sequence": name, "closed": true}),
    });
    Ok(Outcome::Done)
}

pub async fn adopt(
    db: &DatabaseConnection,
    out: &Out,
    args: AdoptArgs,
    counters: CounterTable,
) -> Result<Outcome, CliError> {
    let AdoptArgs {
        name,
        table,
        column,
        scope,
        sequence: template,
        initial,
        allow_defects,
        wait,
    } = args;
    let template = match (template, scope.is_empty()) {
        (Some(template), _) => template,
        // The whole table numbers one sequence: the name, braces as braces.
        (None, true) => name.replace('{', "{{").replace('}', "}}"),
        (None, false) => {
            return Err(CliError::bad_input(
                "with --scope, pass --sequence with the name template (such as \
                 'invoice-{company_id}'), so that the rows of NAME can be told apart",
            ));
        }
    };
    let mut audit = sequences_core::Audit::new(named_column(db, &table, &column).await?)
        .scope(named_columns(db, &table, &scope).await?)
        .sequence(template)
        .initial_value(initial)
        .counter_table(counters);
    let shown = crate::progress::Shown::new(out);
    if let Some(bar) = shown.hook() {
        audit = audit.progress(bar);
    }
    let sequence = Sequence::new(&name)
        .counter_table(counters)
        .initial_value(initial);
    let adoption = write(db, &name, wait.lock_timeout, async |w| {
        w.run(&name, sequence.adopt(w.txn(), &audit, allow_defects))
            .await
    })
    .await?;
    drop(shown);
    let group = &adoption.audit;
    let defects = format!(
        "{} missing, {} duplicated, {} unnumbered",
        group.missing, group.duplicate_rows, group.unnumbered
    );
    out.print(&Done {
        text: format!(
            "sequence {name:?}: last is {} (was {}); the next number is {}{}",
            adoption.last,
            adoption
                .previous
                .map_or_else(|| "not created".to_owned(), |p| p.to_string()),
            adoption.last.saturating_add(1),
            if allow_defects && group.missing + group.duplicate_rows + group.unnumbered > 0 {
                format!(" (adopted with defects: {defects})")
            } else {
                String::new()
            }
        ),
        json: json!({
            "sequence": name, "last": adoption.last, "previous": adoption.previous,
            "rows": group.rows, "missing": group.missing,
            "duplicate_rows": group.duplicate_rows, "unnumbered": group.unnumbered,
        }),
    });
    Ok(Outcome::Done)
}

pub async fn reopen(
    db: &DatabaseConnection,
    out: &Out,
    args: ReopenArgs,
    counters: CounterTable,
) -> Result<Outcome, CliError> {
    let ReopenArgs { name, wait } = args;
    let sequence = Sequence::new(&name).counter_table(counters);
    write(db, &name, wait.lock_timeout, async |w| {
        match w.run(&name, sequence.reopen(w.txn())).await? {
            true => Ok(()),
            false => Err(does_not_exist(&name)),
        }
    })
    .await?;
    out.print(&Done {
        text: format!("sequence {name:?} is open"),
        json: json!({"sequence": name, "closed": false}),
    });
    Ok(Outcome::Done)
}

/// The sequence's last value if it exists; an error if not, unless `create`.
async fn exists(
    db: &DatabaseConnection,
    sequence: &Sequence,
    create: bool,
) -> Result<Option<i64>, CliError> {
    let last = sequence.last_value(db).await?;
    if last.is_none() && !create {
        return Err(CliError::not_found(format!(
            "sequence {:?} does not exist; pass --create to create it",
            sequence.name()
        )));
    }
    Ok(last)
}

fn does_not_exist(name: &str) -> CliError {
    CliError::not_found(format!("sequence {name:?} does not exist"))
}

/// `sequences import-django`: django-sequences' counters moved into `sequences`.
pub async fn import_django(db: &DatabaseConnection, out: &Out) -> Result<Outcome, CliError> {
    let moved = sequences_core::django::import(db).await.map_err(|e| {
        if let sea_orm::DbErr::Custom(message) = &e {
            CliError::new(Kind::Refused, message.clone())
        } else {
            CliError::database(&e)
        }
    })?;
    let lines: Vec<String> = moved
        .iter()
        .map(|m| {
            let note = if m.already_there {
                " (already in sequences)"
            } else {
                ""
            };
            format!("  {:?}: last = {}{note}", m.name, m.last)
        })
        .collect();
    let text = if moved.is_empty() {
        "sequences_sequence holds no counter left to move".to_owned()
    } else {
        format!(
            "moved {} counter(s) from sequences_sequence into sequences:\n{}",
            moved.len(),
            lines.join("\n")
        )
    };
    let json = json!({
        "moved": moved
            .iter()
            .map(|m| json!({"sequence": m.name, "last": m.last, "already_there": m.already_there}))
            .collect::<Vec<_>>(),
    });
    out.print(&Done { text, json });
    Ok(Outcome::Done)
}
