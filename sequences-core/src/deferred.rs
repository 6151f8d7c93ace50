//! Deferred numbering: rows are inserted with their number NULL while a
//! transaction run by [`transaction`](crate::transaction) or
//! [`Retry::transaction`](crate::Retry::transaction) does its work; just
//! before COMMIT, in the same transaction, every number is taken (one
//! statement per sequence, sequences in name order) and written (one UPDATE
//! per table and column, whatever the row count). The sequence's row lock is
//! then held for the assignment and the commit only.
//!
//! The rows a transaction inserted are collected in a task-local list that
//! the helper opens around its closure: a deferred insert anywhere else
//! finds no list and is refused before anything is written.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use sea_orm::sea_query::{Alias, CaseStatement, Condition, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr, Value};
use tracing::Span;

use crate::column_value::{Holder, Int};
use crate::fill::{self, Requests};
use crate::period::{Day, Period, Zone};
use crate::reference::Pattern;
use crate::{Sequence, SequenceError, chain, trace};

tokio::task_local! {
    static PENDING: RefCell<Collected>;
}

/// What a transaction helper collected while its closure ran.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// The rows to number, in insertion order.
    pending: Vec<Pending>,
    /// Per numbered column (`table.column`), how many inserts left it NULL
    /// to be numbered at commit (counted in `before_save`): each must be
    /// recorded (`after_save`, `defer_many`) before the helper commits.
    expected: BTreeMap<String, u64>,
}

/// Where the day of a deferred number comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PendingDay {
    /// No period, no date printed.
    None,
    /// The row's date column, read at insert.
    Known(Day),
    /// The database's current date at assignment, in this zone (if any).
    Database(Option<Zone>),
}

/// A deferred field's format: parsed, as written, and the texts of its
/// field placeholders.
pub(crate) type PendingFormat = (Pattern, String, Vec<(String, String)>);

/// The new values of deferred rows, per table and set of columns: (row, values).
type Updates<'p> = BTreeMap<(&'p str, Vec<&'p str>), Vec<(usize, Vec<Value>)>>;

/// One number to assign: a row inserted with its numbered column NULL.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The row: its table and primary key.
    pub(crate) table: &'static str,
    pub(crate) keys: Vec<(&'static str, Value)>,
    /// The columns the number is taken for (placeholders, the date, the
    /// format's fields, the chain's covered columns) as the row was
    /// inserted: a row changed since is not numbered from them.
    pub(crate) as_inserted: Vec<(&'static str, Value)>,
    /// The numbered column, as `table.column` for errors.
    pub(crate) target: String,
    pub(crate) column: &'static str,
    pub(crate) holder: Holder,
    /// The sequence's settings and its name, placeholders filled, before the period.
    pub(crate) sequence: Sequence,
    pub(crate) base_name: String,
    pub(crate) period: Option<Period>,
    pub(crate) day: PendingDay,
    pub(crate) chronological: bool,
    /// The format (parsed, and as written), with the texts of its field
    /// placeholders read at insert.
    pub(crate) format: Option<PendingFormat>,
    /// Integer columns that also receive the raw value.
    pub(crate) raw_values: Vec<(&'static str, Int)>,
    /// A chain: the hash column, and the covered columns' texts read at insert.
    pub(crate) chain: Option<PendingChain>,
    /// The key of a keyed chain, read at insert.
    pub(crate) chain_key: Option<std::sync::Arc<[u8]>>,
}

impl Pending {
    /// The narrowest integer column the value goes to, if narrower than `i64`.
    fn cap(&self) -> Option<(String, Int)> {
        let numbered = match self.holder {
            Holder::Integer(int) => Some((self.target.clone(), int)),
            Holder::Text => None,
        };
        crate::column_value::column_cap(
            numbered.into_iter().chain(
                self.raw_values
                    .iter()
                    .map(|&(column, int)| (fill::target(self.table, column), int)),
            ),
        )
    }
}

/// A deferred field's chain: the hash column, and the covered columns'
/// names and texts.
pub(crate) type PendingChain = (&'static str, Vec<(&'static str, Option<String>)>);

/// Whether the current task runs inside a deferring transaction helper.
pub(crate) fn in_scope() -> bool {
    PENDING.try_with(|_| ()).is_ok()
}

/// Records a row to number at commit; outside a helper,
/// [`SequenceError::DeferredOutsideTransaction`].
pub(crate) fn push(pending: Pending) -> Result<(), SequenceError> {
    let target = pending.target.clone();
    let mut slot = Some(pending);
    PENDING
        .try_with(|list| list.borrow_mut().pending.extend(slot.take()))
        .map_err(|_| SequenceError::DeferredOutsideTransaction { target })
}

/// Counts an insert that leaves `target` NULL for a number at commit; the
/// helper refuses to commit until as many rows were recorded.
pub(crate) fn expect(target: &str) {
    let _ = PENDING.try_with(|list| {
        *list
            .borrow_mut()
            .expected
            .entry(target.to_owned())
            .or_default() += 1;
    });
}

/// Runs `work` with an empty list of deferred rows, and returns what it
/// returned with the rows it inserted, in insertion order.
pub(crate) async fn collect<F: Future>(work: F) -> (F::Output, Collected) {
    PENDING
        .scope(RefCell::new(Collected::default()), async move {
            let output = work.await;
            let pending = PENDING.with(|list| list.take());
            (output, pending)
        })
        .await
}

/// Takes every deferred number and writes it, through `db` (the
/// transaction about to commit). `lock_timeout` bounds each allocation's
/// wait (see [`Sequence::lock_timeout`]).
pub(crate) async fn assign<C: ConnectionTrait>(
    db: &C,
    collected: Collected,
    lock_timeout: Option<Duration>,
) -> Result<(), SequenceError> {
    let Collected { pending, expected } = collected;
    // An insert whose deferred number was never recorded would commit NULL.
    for (target, expected) in expected {
        let recorded = pending.iter().filter(|p| p.target == target).count() as u64;
        if recorded < expected {
            return Err(SequenceError::DeferredNotRecorded {
                target,
                expected,
                recorded,
            });
        }
    }
    let span = tracing::info_span!(
        "sequences.assign",
        rows = pending.len(),
        outcome = tracing::field::Empty,
    );
    // PostgreSQL's COMMIT-time trigger guards a deferred field: its update
    // guard lets only a transaction marked as the field's numberer number
    // an unnumbered row (`Dialect::numbering_mark`).
    let mark = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    trace::traced(&span, assign_all(db, pending, lock_timeout, mark)).await
}

/// Takes and writes the numbers of `pending`, in its order within each
/// sequence: what [`assign`] runs at COMMIT, and a numberer after it
/// (marked already). With `mark`, each field's rows are written under its
/// numberer's mark.
pub(crate) async fn assign_all<C: ConnectionTrait>(
    db: &C,
    pending: Vec<Pending>,
    lock_timeout: Option<Duration>,
    mark: bool,
) -> Result<(), SequenceError> {
    let Some(first) = pending.first() else {
        return Ok(());
    };
    // The database's day, asked once per time zone, at assignment.
    let mut today = fill::Today::default();
    let mut days = Vec::with_capacity(pending.len());
    for row in &pending {
        days.push(match row.day {
            PendingDay::None => None,
            PendingDay::Known(day) => Some(day),
            PendingDay::Database(zone) => Some(today.day(db, &row.target, zone.as_ref()).await?),
        });
    }
    let mut requests = Requests::new(first.table);
    for (index, (row, day)) in pending.iter().zip(&days).enumerate() {
        let name = fill::period_name(&row.base_name, row.period, *day);
        let cap = row.cap().map(|(_, int)| int);
        let mut sequence = row.sequence.renamed(name).capped(cap);
        if let Some(timeout) = lock_timeout {
            sequence = sequence.lock_timeout(timeout);
        }
        requests.push(index, 0, row.column, sequence, *day, row.chronological)?;
    }
    // In name order, one statement per sequence (`Requests::allocate`).
    let allocated = requests.allocate(db).await.map_err(|error| {
        crate::column_value::out_of_range(error, pending.iter().filter_map(Pending::cap))
    })?;
    Span::current().record("outcome", "allocated");

    // Chains, per sequence, in allocation order, under the row lock.
    let mut hashes: BTreeMap<usize, String> = BTreeMap::new();
    for run in fill::chain_runs(&allocated, |a| pending[a.model].chain.is_some()) {
        let links: Vec<chain::Link<'_>> = run
            .rows
            .iter()
            .map(|&(model, number)| {
                let (_, covered) = pending[model].chain.as_ref().expect("chained");
                chain::Link {
                    number,
                    covered: covered.clone(),
                }
            })
            .collect();
        let key = pending[run.rows[0].0].chain_key.as_deref();
        let digests = chain::extend(db, &run.sequence, &links, key).await?;
        for (&(model, _), digest) in run.rows.iter().zip(digests) {
            hashes.insert(model, digest);
        }
    }

    // The new values of each (table, column set), by row.
    let mut updates: Updates<'_> = BTreeMap::new();
    for value in allocated {
        let row = &pending[value.model];
        let mut columns = vec![row.column];
        let mut values = Vec::with_capacity(2 + row.raw_values.len());
        match (&row.format, row.holder) {
            (Some((pattern, format, fields)), _) => {
                let day = value.day.unwrap_or_default();
                let text = pattern.render(value.value, day, row.period, |name| {
                    fields
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, text)| text.clone())
                        .ok_or_else(|| SequenceError::MissingPlaceholder {
                            template: format.clone(),
                            field: name.to_owned(),
                            target: row.target.clone(),
                        })
                })?;
                values.push(Value::String(Some(text)));
                for &(column, int) in &row.raw_values {
                    columns.push(column);
                    values.push(convert(int, &value, row, column)?);
                }
            }
            (None, Holder::Integer(int)) => values.push(convert(int, &value, row, row.column)?),
            (None, Holder::Text) => unreachable!("a text column always has a format"),
        }
        if let (Some((hash_column, _)), Some(digest)) = (&row.chain, hashes.remove(&value.model)) {
            columns.push(hash_column);
            values.push(Value::String(Some(digest)));
        }
        updates
            .entry((row.table, columns))
            .or_default()
            .push((value.model, values));
    }
    let dialect = crate::sql::Dialect::of(db.get_database_backend())
        .map_err(|source| database_error(first, source))?;
    for ((table, columns), rows) in updates {
        let row = &pending[rows[0].0];
        if mark {
            for statement in dialect.numbering_mark(&row.target, true) {
                db.execute_raw(statement)
                    .await
                    .map_err(|source| database_error(row, source))?;
            }
        }
        let single_key = rows
            .iter()
            .all(|(index, _)| pending[*index].keys.len() == 1);
        if single_key && rows.len() > 1 {
            update_many(db, &pending, table, &columns, &rows).await?;
        } else {
            for (index, values) in &rows {
                update_one(db, &pending[*index], table, &columns, values).await?;
            }
        }
        if mark {
            for statement in dialect.numbering_mark(&row.target, false) {
                db.execute_raw(statement)
                    .await
                    .map_err(|source| database_error(row, source))?;
            }
        }
    }
    Ok(())
}

/// The value as the integer column's type.
fn convert(
    int: Int,
    value: &fill::Allocated,
    row: &Pending,
    column: &str,
) -> Result<Value, SequenceError> {
    fill::int_value(int, value, || fill::target(row.table, column))
}

/// `UPDATE table SET col = v, ... WHERE key = k`, for one row.
async fn update_one<C: ConnectionTrait>(
    db: &C,
    row: &Pending,
    table: &str,
    columns: &[&str],
    values: &[Value],
) -> Result<(), SequenceError> {
    let mut update = Query::update();
    update.table(Alias::new(table));
    for (column, value) in columns.iter().zip(values) {
        update.value(Alias::new(*column), value.clone());
    }
    for (key, value) in &row.keys {
        update.and_where(Expr::col(Alias::new(*key)).eq(value.clone()));
    }
    // Never renumber a row numbered elsewhere meanwhile, nor one whose
    // sequence changed since its insert.
    update.and_where(still_waiting(db, row, row.column)?);
    update.cond_where(as_inserted(db, row)?);
    let statement = db.get_database_backend().build(&update);
    let affected = db
        .execute_raw(statement)
        .await
        .map_err(|source| database_error(row, source))?
        .rows_affected();
    if affected != 1 {
        return Err(gone(row, 1, affected));
    }
    Ok(())
}

/// One `UPDATE table SET col = CASE key WHEN k1 THEN v1 ... END, ... WHERE
/// key IN (k1, ...)` for the rows of one table with a one-column key.
async fn update_many<C: ConnectionTrait>(
    db: &C,
    pending: &[Pending],
    table: &str,
    columns: &[&str],
    rows: &[(usize, Vec<Value>)],
) -> Result<(), SequenceError> {
    let key = pending[rows[0].0].keys[0].0;
    let mut update = Query::update();
    update.table(Alias::new(table));
    for (i, column) in columns.iter().enumerate() {
        let mut case = CaseStatement::new();
        for (index, values) in rows {
            let key_value = pending[*index].keys[0].1.clone();
            case = case.case(
                Expr::col(Alias::new(key)).eq(key_value),
                Expr::val(values[i].clone()),
            );
        }
        update.value(Alias::new(*column), case);
    }
    update.and_where(
        Expr::col(Alias::new(key)).is_in(
            rows.iter()
                .map(|(index, _)| pending[*index].keys[0].1.clone()),
        ),
    );
    update.and_where(still_waiting(db, &pending[rows[0].0], columns[0])?);
    // Each row as it was inserted, where that is to be compared (a
    // numberer's rows are locked: nothing to compare).
    if rows
        .iter()
        .any(|(index, _)| !pending[*index].as_inserted.is_empty())
    {
        let mut each = Condition::any();
        for (index, _) in rows {
            let row = &pending[*index];
            each = each.add(
                Condition::all()
                    .add(Expr::col(Alias::new(key)).eq(row.keys[0].1.clone()))
                    .add(as_inserted(db, row)?),
            );
        }
        update.cond_where(each);
    }
    let first = &pending[rows[0].0];
    let statement = db.get_database_backend().build(&update);
    let affected = db
        .execute_raw(statement)
        .await
        .map_err(|source| database_error(first, source))?
        .rows_affected();
    if affected != rows.len() as u64 {
        return Err(gone(first, rows.len() as u64, affected));
    }
    Ok(())
}

/// The row still waits for its number (`column IS NULL`), as a condition
/// that leaves the choice of rows to the keys (`Dialect::is_null_by_key`).
fn still_waiting<C: ConnectionTrait>(
    db: &C,
    row: &Pending,
    column: &str,
) -> Result<Expr, SequenceError> {
    let dialect = crate::sql::Dialect::of(db.get_database_backend())
        .map_err(|source| database_error(row, source))?;
    Ok(Expr::cust_with_expr(
        dialect.is_null_by_key(&dialect.placeholder(1)),
        Expr::col(Alias::new(column)),
    ))
}

/// The row's columns are as it was inserted with: compared byte for byte
/// (a text column's collation may call `w` and `W` equal).
fn as_inserted<C: ConnectionTrait>(db: &C, row: &Pending) -> Result<Condition, SequenceError> {
    let dialect = crate::sql::Dialect::of(db.get_database_backend())
        .map_err(|source| database_error(row, source))?;
    let mut all = Condition::all();
    for (column, value) in &row.as_inserted {
        let col = Expr::col((Alias::new(row.table), Alias::new(*column)));
        let same = match value {
            Value::String(_) | Value::Char(_) => Expr::cust_with_exprs(
                format!(
                    "{} = {}",
                    dialect.exact_text(&dialect.placeholder(1)),
                    dialect.exact_text(&dialect.placeholder(2))
                ),
                [col, Expr::val(value.clone())],
            ),
            Value::Bool(_)
            | Value::TinyInt(_)
            | Value::SmallInt(_)
            | Value::Int(_)
            | Value::BigInt(_)
            | Value::TinyUnsigned(_)
            | Value::SmallUnsigned(_)
            | Value::Unsigned(_)
            | Value::BigUnsigned(_) => col.eq(value.clone()),
            #[cfg(feature = "chrono")]
            Value::ChronoDate(_) => col.eq(value.clone()),
            // A time, a float, a decimal: stored with the column's own
            // precision, which may not compare equal to the value sent.
            _ => continue,
        };
        all = all.add(same);
    }
    Ok(all)
}

fn database_error(row: &Pending, source: DbErr) -> SequenceError {
    SequenceError::Database {
        name: row.target.clone(),
        source,
    }
}

/// Deferred rows the UPDATE did not find: deleted in the transaction, or
/// inserted through another connection.
fn gone(row: &Pending, expected: u64, found: u64) -> SequenceError {
    SequenceError::DeferredRowsMissing {
        target: row.target.clone(),
        expected,
        found,
    }
}
