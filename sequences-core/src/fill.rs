//! Allocating for a batch of models: every value a fill needs is requested
//! (and checked) first, then taken with one statement per sequence, in name
//! order. Used by [`Numbering`](crate::Numbering) when a row is inserted and
//! by the deferred numbering at commit; the steps from an allocated value to
//! its columns that both take are here too: the database's day (asked once
//! per zone), an integer column's value, and the chain runs.

use crate::column_value::IntColumn as _;
use std::collections::BTreeMap;
use std::sync::Arc;

use sea_orm::ConnectionTrait;

use crate::period::{Day, Period, Zone};
use crate::sql::{Days, Dialect};
use crate::{Sequence, SequenceError, in_transaction};

/// The values a set of active models needs, collected before any allocation.
#[derive(Debug)]
pub(crate) struct Requests<'e> {
    entity: &'e str,
    items: Vec<Request<'e>>,
    /// The connection was already found inside a transaction.
    in_transaction: bool,
}

#[derive(Debug)]
struct Request<'e> {
    model: usize,
    field: usize,
    field_name: &'e str,
    sequence: Sequence,
    day: Option<Day>,
    /// Numbers must follow `day` (see `Sequence::next_value_on`).
    chronological: bool,
}

/// One allocated value and where it goes.
#[derive(Debug)]
pub(crate) struct Allocated {
    /// Index of the model in the batch.
    pub(crate) model: usize,
    /// Index of the numbered field in the numbering's field list.
    pub(crate) field: usize,
    /// The value.
    pub(crate) value: i64,
    /// Shared by every value of one sequence; the error texts are built only on error.
    pub(crate) sequence: Arc<str>,
    /// The day of the value's period, if the field has one.
    pub(crate) day: Option<Day>,
}

impl<'e> Requests<'e> {
    /// Requests for the models of `entity` (its table name).
    pub(crate) fn new(entity: &'e str) -> Self {
        Self {
            entity,
            items: Vec::new(),
            in_transaction: false,
        }
    }

    /// `model`'s numbered field `field` needs a value of `sequence`.
    /// Checks the sequence now, so that a bad one is refused before any allocation.
    pub(crate) fn push(
        &mut self,
        model: usize,
        field: usize,
        field_name: &'e str,
        sequence: Sequence,
        day: Option<Day>,
        chronological: bool,
    ) -> Result<(), SequenceError> {
        sequence.validate()?;
        self.items.push(Request {
            model,
            field,
            field_name,
            sequence,
            day,
            chronological,
        });
        Ok(())
    }

    /// How many distinct sequences the requests take values from.
    pub(crate) fn sequences(&self) -> usize {
        let mut names: Vec<&str> = self.items.iter().map(|i| i.sequence.name()).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    }

    /// Whether `db` runs in a transaction (free for SeaORM's own types).
    pub(crate) async fn in_transaction<C: ConnectionTrait>(
        &mut self,
        db: &C,
    ) -> Result<bool, SequenceError> {
        let Some(first) = self.items.first() else {
            return Ok(true);
        };
        self.in_transaction =
            in_transaction(db)
                .await
                .map_err(|source| SequenceError::Database {
                    name: first.sequence.name().to_string(),
                    source,
                })?;
        Ok(self.in_transaction)
    }

    /// The refusal of a fill outside a transaction.
    pub(crate) fn not_in_transaction(&self) -> SequenceError {
        let first = &self.items[0];
        SequenceError::NotInTransaction {
            name: first.sequence.name().to_string(),
            target: self.target(first.field_name),
        }
    }

    fn target(&self, field_name: &str) -> String {
        target(self.entity, field_name)
    }

    /// Allocates every requested value: refuses outside a transaction before
    /// consuming anything, then takes one batch per distinct sequence (one
    /// statement each; a looping sequence one statement per value), in name
    /// order so that concurrent fills always lock sequences in the same order.
    pub(crate) async fn allocate<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> Result<Vec<Allocated>, SequenceError> {
        let Some(first) = self.items.first() else {
            return Ok(Vec::new());
        };
        let inside = self.in_transaction
            || in_transaction(db)
                .await
                .map_err(|source| SequenceError::Database {
                    name: first.sequence.name().to_string(),
                    source,
                })?;
        if !inside {
            return Err(SequenceError::NotInTransaction {
                name: first.sequence.name().to_string(),
                target: self.target(first.field_name),
            });
        }
        let mut groups: BTreeMap<&str, Vec<&Request>> = BTreeMap::new();
        for item in &self.items {
            groups.entry(item.sequence.name()).or_default().push(item);
        }
        // Chronological numbers are handed out in the batch's order: its dates
        // must not go backwards either. Checked before anything is taken.
        let mut plans = Vec::with_capacity(groups.len());
        for items in groups.into_values() {
            let days = chronological_days(&items)?;
            plans.push((items, days));
        }
        let mut allocated = Vec::with_capacity(self.items.len());
        for (items, days) in plans {
            let sequence = &items[0].sequence;
            let name = sequence.shared_name();
            let mut values = Vec::with_capacity(items.len());
            if sequence.settings().reset_value.is_some() || items.len() == 1 {
                for item in &items {
                    values.push(sequence.next_value_with(db, item_days(item)).await?);
                }
            } else {
                values.extend(
                    sequence
                        .next_values_with(db, items.len() as u64, days)
                        .await?,
                );
            }
            for (item, value) in items.into_iter().zip(values) {
                allocated.push(Allocated {
                    model: item.model,
                    field: item.field,
                    value,
                    sequence: Arc::clone(&name),
                    day: item.day,
                });
            }
        }
        Ok(allocated)
    }
}

/// The days one chronological request checks and records.
fn item_days(item: &Request<'_>) -> Days {
    match (item.chronological, item.day) {
        (true, Some(day)) => Days {
            first: Some(day.number()),
            last: Some(day.number()),
        },
        _ => Days::default(),
    }
}

/// The days of a sequence's batch: its first day, checked against the
/// sequence, and its last, recorded; `OutOfOrder` if the batch's own dates go
/// backwards.
fn chronological_days(items: &[&Request<'_>]) -> Result<Days, SequenceError> {
    let mut days = Days::default();
    for item in items {
        let Days { first, last } = item_days(item);
        if let (Some(day), Some(latest)) = (first, days.last)
            && day < latest
        {
            return Err(SequenceError::OutOfOrder {
                name: item.sequence.name().to_owned(),
                day: Day::from_number(day),
                latest: Day::from_number(latest),
            });
        }
        days.first = days.first.or(first);
        days.last = last.or(days.last);
    }
    Ok(days)
}

/// The database's day per time zone, asked once per fill (or commit).
#[derive(Debug, Default)]
pub(crate) struct Today(Vec<(Option<Zone>, Day)>);

impl Today {
    /// The database's day in `zone`, asked the first time only.
    pub(crate) async fn day<C: ConnectionTrait>(
        &mut self,
        db: &C,
        field_name: &str,
        zone: Option<&Zone>,
    ) -> Result<Day, SequenceError> {
        if let Some(&(_, day)) = self.0.iter().find(|(z, _)| z.as_ref() == zone) {
            return Ok(day);
        }
        let day = database_day(db, field_name, zone).await?;
        self.0.push((zone.copied(), day));
        Ok(day)
    }
}

/// `value` as a value of the integer type `int` of column `target`
/// (`table.column`), or [`SequenceError::ValueOutOfRange`].
pub(crate) fn int_value(
    int: crate::column_value::Int,
    value: &Allocated,
    target: impl FnOnce() -> String,
) -> Result<sea_orm::Value, SequenceError> {
    int.value(value.value)
        .ok_or_else(|| SequenceError::ValueOutOfRange {
            name: value.sequence.to_string(),
            value: value.value,
            target: target(),
            type_name: int.type_name(),
        })
}

/// The sequence a value is taken from: `base`, with the period of `day`
/// appended when the field has one (`invoice@2026`).
pub(crate) fn period_name(base: &str, period: Option<Period>, day: Option<Day>) -> String {
    match (period, day) {
        (Some(period), Some(day)) => period.sequence_name(base, day),
        _ => base.to_owned(),
    }
}

/// The values of one field and one sequence to chain together, in
/// allocation order: `(model, value)`.
#[derive(Debug)]
pub(crate) struct ChainRun {
    pub(crate) field: usize,
    pub(crate) sequence: Arc<str>,
    pub(crate) rows: Vec<(usize, i64)>,
}

/// The allocated values that `chained` says are chained, grouped in runs of
/// one field and one sequence, in allocation order (sequences come in name
/// order, so each sequence is one run per field).
pub(crate) fn chain_runs(
    allocated: &[Allocated],
    chained: impl Fn(&Allocated) -> bool,
) -> Vec<ChainRun> {
    let mut runs: Vec<ChainRun> = Vec::new();
    for value in allocated.iter().filter(|value| chained(value)) {
        match runs.last_mut() {
            Some(run) if run.field == value.field && run.sequence == value.sequence => {
                run.rows.push((value.model, value.value));
            }
            _ => runs.push(ChainRun {
                field: value.field,
                sequence: Arc::clone(&value.sequence),
                rows: vec![(value.model, value.value)],
            }),
        }
    }
    runs
}

/// The database's current date, for a periodic field without a date field:
/// asked through `db`, so inside the caller's transaction.
/// In `zone`, the day of the database's current UTC time.
pub(crate) async fn database_day<C: ConnectionTrait>(
    db: &C,
    field_name: &str,
    zone: Option<&Zone>,
) -> Result<Day, SequenceError> {
    let error = |source| SequenceError::Database {
        name: format!("(the period of {field_name})"),
        source,
    };
    let dialect = Dialect::of(db.get_database_backend()).map_err(error)?;
    if let Some(zone) = zone {
        let row = db
            .query_one_raw(dialect.current_utc())
            .await
            .map_err(error)?
            .ok_or_else(|| {
                error(sea_orm::DbErr::Custom(
                    "the clock query returned no row".into(),
                ))
            })?;
        let text: String = row.try_get_by_index(0).map_err(error)?;
        return crate::period::day_in_zone(&text, zone).ok_or_else(|| {
            error(sea_orm::DbErr::Custom(format!(
                "the database's UTC time {text:?} is not YYYY-MM-DDTHH:MM:SS"
            )))
        });
    }
    let row = db
        .query_one_raw(dialect.current_date())
        .await
        .map_err(error)?
        .ok_or_else(|| {
            error(sea_orm::DbErr::Custom(
                "the current date query returned no row".into(),
            ))
        })?;
    let text: String = row.try_get_by_index(0).map_err(error)?;
    Day::parse(&text).ok_or_else(|| {
        error(sea_orm::DbErr::Custom(format!(
            "the database's current date {text:?} is not YYYY-MM-DD"
        )))
    })
}

/// How errors name a field: `invoice.number`.
pub(crate) fn target(entity: &str, field_name: &str) -> String {
    format!("{entity}.{field_name}")
}
