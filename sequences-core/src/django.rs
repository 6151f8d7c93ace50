//! Sharing a series with a Django application that numbers it with
//! django-sequences (see [`guide::django`](crate::guide::django)): the
//! guards on the shared table, and the move of its counters into
//! `sequences` on the day the Django writers stop.

use sea_orm::{ConnectionTrait, DbErr, TransactionSession, TransactionTrait};

use crate::entity::{CounterTable, DJANGO_TABLE, TABLE_NAME};
use crate::sql::Dialect;

/// Installs (or replaces) the guards of a shared `sequences_sequence`: the
/// registry `sequences_names` of which counter table each name belongs to
/// (filled from both tables), through which each of `sequences` and
/// `sequences_sequence` refuses a name the other owns; and Django's writes
/// refused on a closed counter and past a declared `max_value`, as the
/// library's are.
/// `sequences_migration::DjangoSequencesMigration` calls it.
pub async fn install_guards<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let dialect = Dialect::of(db.get_database_backend())?;
    for statement in dialect
        .names_registry()
        .into_iter()
        .chain(dialect.django_guards())
    {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

/// Removes the guards [`install_guards`] installed, if present (the
/// registry of names stays; [`remove_registry`] drops it).
pub async fn remove_guards<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let dialect = Dialect::of(db.get_database_backend())?;
    for statement in dialect.drop_django_guards() {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

/// The names both `sequences` and `sequences_sequence` hold (compared byte
/// for byte): what the adoption refuses, since one series must be numbered
/// from one table.
pub async fn names_in_both<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    let dialect = Dialect::of(db.get_database_backend())?;
    db.query_all_raw(dialect.names_in_both())
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}

/// Drops `sequences_names`, the registry of which counter table each name
/// belongs to, that [`install_guards`] creates.
pub async fn remove_registry<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let dialect = Dialect::of(db.get_database_backend())?;
    db.execute_unprepared(&dialect.drop_names_registry())
        .await?;
    Ok(())
}

/// One counter [`import`] moved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// The sequence.
    pub name: String,
    /// Its last value, as Django left it.
    pub last: i64,
    /// `sequences` already held it with the same `last`: only the registry
    /// and Django's row (closed) changed.
    pub already_there: bool,
}

/// Moves every counter of django-sequences' `sequences_sequence` into
/// `sequences`, in one transaction, for the day the Django writers stop:
/// each keeps its `last`, `closed` and `last_day`; the registry gives its
/// name to `sequences`, and its row in Django's table is closed and kept, so
/// a Django writer still running (or waiting on the row) is refused instead
/// of starting the series again at 1. A counter already moved is skipped.
///
/// Refused, nothing moved: when the guards are not installed
/// (`DjangoSequencesMigration`), and when `sequences` already holds one of
/// the names with another `last` (the message names it and both values).
/// It waits for the Django transactions numbering (it locks Django's rows).
pub async fn import<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<Vec<Imported>, DbErr> {
    let refused = |reason: String| {
        DbErr::Custom(format!(
            "sequences import-django: {reason}; nothing was moved"
        ))
    };
    let dialect = Dialect::of(db.get_database_backend())?;
    let txn = db.begin().await?;
    if txn.query_one_raw(dialect.django_guarded()).await?.is_none() {
        return Err(refused(format!(
            "{DJANGO_TABLE} is not adopted: apply sequences_migration::DjangoSequencesMigration \
             first, whose guard refuses a Django writer still running once its counter has moved"
        )));
    }
    let mut moved = Vec::new();
    for row in txn.query_all_raw(dialect.django_counters()).await? {
        let name: String = row.try_get_by_index(0)?;
        let last: i64 = row.try_get_by_index(1)?;
        let closed: bool = row.try_get_by_index(2)?;
        let last_day: Option<i32> = row.try_get_by_index(3)?;
        let owner: Option<String> = row.try_get_by_index(4)?;
        if owner.as_deref() == Some(TABLE_NAME) {
            continue;
        }
        if last < 0 {
            return Err(refused(format!(
                "sequence {name:?} has last = {last} in {DJANGO_TABLE}, which `sequences` cannot \
                 continue"
            )));
        }
        let ours = txn
            .query_one_raw(dialect.counter_row(CounterTable::Sequences, &name, true))
            .await?;
        let already_there = match ours {
            None => false,
            Some(ours) => {
                let their_last: i64 = ours.try_get_by_index(1)?;
                if their_last != last {
                    return Err(refused(format!(
                        "sequence {name:?} exists in both tables with different values \
                         ({DJANGO_TABLE}: last = {last}, {TABLE_NAME}: last = {their_last}); \
                         decide which is right and delete the other"
                    )));
                }
                true
            }
        };
        let create = (!already_there).then_some((last, closed, last_day));
        for statement in dialect.django_move(&name, create) {
            txn.execute_raw(statement).await?;
        }
        moved.push(Imported {
            name,
            last,
            already_there,
        });
    }
    txn.commit().await?;
    Ok(moved)
}
