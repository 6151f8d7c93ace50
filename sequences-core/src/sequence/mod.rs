//! [`Sequence`]: a named gapless counter: its description (here), taking
//! values (`allocation`), reading and moving the counter (`administration`),
//! voids and giving the last value back (`voids`).

mod administration;
mod allocation;
mod voids;

use std::sync::Arc;
use std::time::Duration;

use crate::entity::{CounterTable, MAX_NAME_LENGTH};
use crate::error::SequenceError;
use crate::sql::Plan;

/// A named gapless sequence of `i64` values.
///
/// A `Sequence` is a cheap description (name, first value, optional reset
/// value, nowait); the state lives in one row of the `sequences` table. Taking
/// a value locks that row until the calling transaction ends: concurrent
/// callers of the same sequence wait their turn, a rollback gives the value
/// back, and distinct sequences never block each other.
///
/// The one rule: **take the value in the transaction that saves it.** Taken
/// in autocommit mode, a value is committed at once and lost if the save then
/// fails.
///
/// ```no_run
/// use sea_orm::{Database, TransactionTrait};
/// use sequences_core::Sequence;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect("sqlite::memory:").await?;
/// let invoices = Sequence::new("invoice");
/// let txn = db.begin().await?;
/// let number = invoices.next_value(&txn).await?; // 1, then 2, 3, ...
/// // ... insert the invoice with `number` through `txn` ...
/// txn.commit().await?;
/// # let _ = number;
/// # Ok(()) }
/// ```
///
/// The name is any string (`"invoice"`, `&name`, `format!("invoice-{id}")`);
/// the `Sequence` keeps its own shared copy, so it can outlive the string it
/// was built from and clones cheaply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sequence {
    name: Arc<str>,
    initial_value: i64,
    reset_value: Option<i64>,
    nowait: bool,
    lock_timeout: Option<Duration>,
    max_value: Option<i64>,
    warn_at: Option<i64>,
    /// `max_value` or `warn_at` set by the user (not only a column's cap):
    /// the allocation records the range on the row.
    range_declared: bool,
    /// The table its counter row lives in.
    table: CounterTable,
}

/// A [`Sequence`]'s settings, as [`Sequence::settings`] reads them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SequenceSettings {
    /// The first value ([`Sequence::initial_value`]; 1 by default).
    pub initial_value: i64,
    /// The value it loops back from ([`Sequence::reset_value`]), if it loops.
    pub reset_value: Option<i64>,
    /// The end of its range ([`Sequence::max_value`], or the numbered
    /// column's type's maximum), if any.
    pub max_value: Option<i64>,
    /// Its warning threshold ([`Sequence::warn_at`]), if any.
    pub warn_at: Option<i64>,
    /// Whether it fails at once when another transaction holds it
    /// ([`Sequence::nowait`]).
    pub nowait: bool,
    /// How long it waits for another transaction holding it
    /// ([`Sequence::lock_timeout`]), if bounded.
    pub lock_timeout: Option<Duration>,
    /// The table its counter lives in ([`Sequence::counter_table`]).
    pub counter_table: CounterTable,
}

impl Sequence {
    /// A sequence starting at 1, never looping, waiting for its lock.
    pub fn new(name: impl AsRef<str>) -> Self {
        Self {
            name: Arc::from(name.as_ref()),
            initial_value: 1,
            reset_value: None,
            nowait: false,
            lock_timeout: None,
            max_value: None,
            warn_at: None,
            range_declared: false,
            table: CounterTable::Sequences,
        }
    }

    /// The same settings under another name (a placeholder filled in, a
    /// period appended).
    pub fn renamed(&self, name: impl AsRef<str>) -> Self {
        Self {
            name: Arc::from(name.as_ref()),
            ..self.clone()
        }
    }

    /// The name, shared (no copy).
    pub(crate) fn shared_name(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    /// The first value, used only when the sequence's row is created (its first
    /// allocation). Default: 1.
    pub fn initial_value(mut self, value: i64) -> Self {
        self.initial_value = value;
        self
    }

    /// Makes the sequence loop: after `value - 1` comes `initial_value` again.
    /// Must be greater than `initial_value`, checked before any SQL.
    pub fn reset_value(mut self, value: i64) -> Self {
        self.reset_value = Some(value);
        self
    }

    /// With `true`, fail at once with [`SequenceError::LockNotAvailable`] when
    /// another transaction holds the sequence, instead of waiting for it
    /// (one extra `SELECT .. FOR UPDATE NOWAIT` on PostgreSQL and MariaDB/MySQL;
    /// SQLite has no row locks and fails after its busy timeout either way).
    pub fn nowait(mut self, nowait: bool) -> Self {
        self.nowait = nowait;
        self
    }

    /// Waits at most `timeout` for another transaction holding the
    /// sequence, then fails with [`SequenceError::LockNotAvailable`], instead
    /// of the database's default wait: for allocations, and for every other
    /// operation that takes the row lock (`close`, `reopen`, `void`,
    /// `set_last_value`, `revert_last`, `adopt`). Costs two statements around
    /// the operation when set, nothing otherwise:
    /// - PostgreSQL: `lock_timeout`, set for the allocation and restored;
    /// - MariaDB/MySQL: `innodb_lock_wait_timeout`, in whole seconds (rounded
    ///   up; zero fails at once), set and restored;
    /// - SQLite: the connection's busy timeout, set and restored (SQLite
    ///   locks the whole database: the wait is for any writer).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// The table the counter row lives in: `sequences` (the default), or
    /// django-sequences' `sequences_sequence`, to number one series from
    /// a Django application and this library side by side (see
    /// [`guide::django`](crate::guide::django)). Django's table must first be
    /// adopted by `sequences_migration::DjangoSequencesMigration`.
    ///
    /// On Django's table `last` is never negative (its column is a
    /// `PositiveBigIntegerField`): a negative `initial_value` is refused with
    /// [`SequenceError::SharedTable`] before any SQL.
    ///
    /// ```
    /// use sequences_core::{CounterTable, Sequence};
    /// let invoices = Sequence::new("invoice").counter_table(CounterTable::Django);
    /// assert_eq!(invoices.settings().counter_table, CounterTable::Django);
    /// ```
    pub fn counter_table(mut self, table: CounterTable) -> Self {
        self.table = table;
        self
    }

    /// The table the counter row lives in.
    pub(crate) fn table(&self) -> CounterTable {
        self.table
    }

    /// The end of the sequence's range: an allocation that would pass
    /// `max_value` is refused ([`SequenceError::Exhausted`]) by the
    /// allocating statement itself, nothing consumed. A
    /// [`Numbering`](crate::Numbering) sets it to the column type's maximum
    /// (`i32::MAX` for an `INTEGER` column), so a value that would not fit is
    /// never taken.
    ///
    /// A range set here (or a [`warn_at`](Self::warn_at)) is recorded on the
    /// sequence's row by each allocation, in the same statement, so `sequences
    /// list` can mark a sequence near its end: that needs
    /// `sequences_migration::RangeMigration` (without it the allocation fails
    /// with [`SequenceError::SchemaOutdated`], nothing consumed).
    pub fn max_value(mut self, max_value: i64) -> Self {
        self.max_value = Some(max_value);
        self.range_declared = true;
        self
    }

    /// `max_value` lowered to a column type's maximum: enforced like
    /// [`max_value`](Self::max_value), but not recorded as a declared range.
    pub(crate) fn capped_at(mut self, max_value: i64) -> Self {
        self.max_value = Some(self.max_value.map_or(max_value, |own| own.min(max_value)));
        self
    }

    /// The sequence, its range ended at `cap`'s maximum (or its own, if
    /// lower): a column narrower than `i64`.
    pub(crate) fn capped(self, cap: Option<crate::column_value::Int>) -> Self {
        use crate::column_value::IntColumn as _;
        match cap {
            Some(int) => self.capped_at(int.range().1),
            None => self,
        }
    }

    /// An allocation that reaches `warn_at` logs a `tracing` warning (target
    /// `sequences`, with the sequence, its last value and its maximum), so a
    /// range running out is seen before it is exhausted; `sequences list`
    /// marks it from then on (recorded as with [`max_value`](Self::max_value)).
    pub fn warn_at(mut self, warn_at: i64) -> Self {
        self.warn_at = Some(warn_at);
        self.range_declared = true;
        self
    }

    /// The range an allocation records on the row, when the sequence
    /// declares one (the same as the allocating statement records).
    pub(crate) fn declared_range(&self) -> Option<crate::sql::DeclaredRange> {
        self.range_declared.then_some(crate::sql::DeclaredRange {
            max_value: self.max_value,
            warn_at: self.warn_at,
        })
    }

    /// The sequence's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its settings, read back. The builder methods that set them share
    /// their names (`initial_value(1000)`, as django-sequences' keyword
    /// arguments), so they are read here: `seq.settings().initial_value`.
    pub fn settings(&self) -> SequenceSettings {
        SequenceSettings {
            initial_value: self.initial_value,
            reset_value: self.reset_value,
            max_value: self.max_value,
            warn_at: self.warn_at,
            nowait: self.nowait,
            lock_timeout: self.lock_timeout,
            counter_table: self.table,
        }
    }

    /// Checks the name and the reset value without touching the database.
    /// Every operation does this first; call it to fail early.
    pub fn validate(&self) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        if self.table == CounterTable::Django && self.initial_value < 0 {
            return Err(SequenceError::SharedTable {
                name: self.name.to_string(),
                reason: format!(
                    "initial_value {} is negative, and django-sequences' `last` column holds no \
                     negative value (PositiveBigIntegerField); start at 0 or above",
                    self.initial_value
                ),
            });
        }
        match self.reset_value {
            Some(reset_value) if reset_value <= self.initial_value => {
                Err(SequenceError::InvalidReset {
                    name: self.name.to_string(),
                    initial_value: self.initial_value,
                    reset_value,
                })
            }
            _ => Ok(()),
        }
    }
}

impl Sequence {
    /// One allocation of `count` values of this sequence, fully checked
    /// before any SQL runs (`batch`: for a `Range` result).
    pub(crate) fn plan(&self, count: u64, batch: bool) -> Result<Plan, SequenceError> {
        self.validate()?;
        Plan::new(
            &self.name,
            self.initial_value,
            self.reset_value,
            self.max_value,
            count,
            batch,
        )
    }
}

fn validate_name(name: &str) -> Result<(), SequenceError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.chars().count() > MAX_NAME_LENGTH {
        crate::entity::NAME_TOO_LONG
    } else if name.contains('\0') {
        "it contains a NUL character"
    } else {
        return Ok(());
    };
    Err(SequenceError::InvalidName {
        name: name.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Step;

    #[test]
    fn plain_plan() {
        let plan = Sequence::new("a").plan(1, false).unwrap();
        assert_eq!(plan.first, 1);
        assert_eq!(
            plan.step,
            Step::Add {
                count: 1,
                max_last: i64::MAX - 1
            }
        );
    }

    #[test]
    fn batch_plan_keeps_the_range_end_representable() {
        let plan = Sequence::new("a").initial_value(10).plan(5, true).unwrap();
        assert_eq!(plan.first, 14);
        assert_eq!(
            plan.step,
            Step::Add {
                count: 5,
                max_last: i64::MAX - 6
            }
        );
        let at_max = Sequence::new("a").initial_value(i64::MAX - 4);
        assert!(at_max.plan(4, true).is_ok());
        assert!(matches!(
            at_max.plan(5, true),
            Err(SequenceError::Overflow { count: 5, .. })
        ));
        assert!(at_max.plan(5, false).is_ok());
        assert!(matches!(
            Sequence::new("a").plan(u64::MAX, true),
            Err(SequenceError::Overflow { .. })
        ));
    }

    #[test]
    fn loop_plan() {
        let plan = Sequence::new("s")
            .initial_value(0)
            .reset_value(60)
            .plan(1, false)
            .unwrap();
        assert_eq!(
            plan.step,
            Step::Loop {
                initial: 0,
                last_before_reset: 59
            }
        );
        assert!(matches!(
            Sequence::new("s").reset_value(60).plan(2, true),
            Err(SequenceError::BatchOnLoopingSequence { count: 2, .. })
        ));
    }

    #[test]
    fn invalid_input_is_refused_before_sql() {
        for (sequence, expected) in [
            (Sequence::new(""), "it is empty"),
            (Sequence::new("x".repeat(101)), "longer than 100"),
            (Sequence::new("a\0b"), "NUL"),
        ] {
            let error = sequence.validate().unwrap_err();
            assert!(matches!(error, SequenceError::InvalidName { .. }));
            assert!(error.to_string().contains(expected), "{error}");
        }
        assert!(Sequence::new("é".repeat(100)).validate().is_ok());
        let error = Sequence::new("r").reset_value(1).validate().unwrap_err();
        assert!(matches!(error, SequenceError::InvalidReset { .. }));
        assert!(error.to_string().contains("\"r\""), "{error}");
    }
}
