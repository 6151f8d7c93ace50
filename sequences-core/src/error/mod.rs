//! The one error type of the crate.

pub(crate) mod database;
mod not_adoptable;
pub(crate) mod wire;

pub use not_adoptable::NotAdoptable;

use sea_orm::DbErr;

/// Why a sequence operation failed.
///
/// Every variant names the sequence (or the field) it is about, and every variant except
/// [`Database`](SequenceError::Database) and
/// [`LockNotAvailable`](SequenceError::LockNotAvailable) is raised before any
/// statement that could change the counter: on error, no value is consumed.
///
/// `SequenceError` converts into [`DbErr`], so `?` works inside SeaORM code
/// such as `ActiveModelBehavior::before_save` or a transaction closure, and
/// [`SequenceError::from_db_err`] gets it back, typed, from the `DbErr` a
/// SeaORM call returns: match on the variant, never on the message.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SequenceError {
    /// The name is empty, longer than [`MAX_NAME_LENGTH`](crate::MAX_NAME_LENGTH)
    /// characters, or contains a NUL character (which PostgreSQL cannot store).
    #[error("invalid sequence name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// `reset_value` is not greater than `initial_value`, so the sequence
    /// could never produce a value before looping.
    #[error(
        "sequence {name:?}: reset_value ({reset_value}) must be greater than \
         initial_value ({initial_value})"
    )]
    InvalidReset {
        /// The sequence.
        name: String,
        /// The configured first value.
        initial_value: i64,
        /// The configured reset value.
        reset_value: i64,
    },

    /// A batch of more than one value was asked of a looping sequence; a
    /// batch is one contiguous range and cannot wrap around `reset_value`.
    #[error(
        "sequence {name:?}: a batch of {count} values cannot be taken from a looping \
         sequence (reset_value is set); take the values one at a time"
    )]
    BatchOnLoopingSequence {
        /// The sequence.
        name: String,
        /// The requested batch size.
        count: u64,
    },

    /// The next value (or the end of the requested batch) would pass
    /// `i64::MAX`. The sequence is left unchanged; it never wraps.
    #[error(
        "sequence {name:?}: taking {count} more value(s) would pass i64::MAX; \
         the sequence is exhausted (use reset_value for a looping sequence)"
    )]
    Overflow {
        /// The sequence.
        name: String,
        /// How many values were asked for.
        count: u64,
    },

    /// Another transaction holds the sequence: with `nowait(true)` the lock
    /// was not free at once; otherwise the database's lock timeout expired
    /// (on SQLite: the busy timeout, as SQLite locks the whole database).
    #[error(
        "sequence {name:?} is locked by another transaction; retry after it commits \
         or rolls back: {source}"
    )]
    LockNotAvailable {
        /// The sequence.
        name: String,
        /// The database's own error.
        source: DbErr,
    },

    /// A gapless fill was attempted outside a transaction, where a failed
    /// insert would leave a gap. Nothing was consumed.
    #[error(
        "sequence {name:?} for {target}: refusing to allocate outside a transaction, \
         a failed insert would leave a gap; insert within a transaction \
         (db.begin() ... txn.commit())"
    )]
    NotInTransaction {
        /// The sequence.
        name: String,
        /// What asked for the value, such as `invoice::Model::number`.
        target: String,
    },

    /// A value was allocated but does not fit the field it is meant for
    /// (an `i32` field past `i32::MAX`). Returned inside the transaction, which
    /// the caller rolls back, so the value is given back.
    #[error(
        "sequence {name:?}: value {value} does not fit {target} ({type_name}); \
         use a wider integer type"
    )]
    ValueOutOfRange {
        /// The sequence.
        name: String,
        /// The value that does not fit.
        value: i64,
        /// The field, such as `invoice::Model::number`.
        target: String,
        /// The field's Rust type.
        type_name: &'static str,
    },

    /// A `{field}` placeholder of a sequence name or format, or the date
    /// field of a periodic sequence, is not set (or `None`) on the model
    /// being inserted. Nothing was consumed.
    #[error(
        "sequence name {template:?} for {target} needs field `{field}`, which is not set; \
         set it before inserting"
    )]
    MissingPlaceholder {
        /// The sequence name template or format, such as `invoice-{company_id}`.
        template: String,
        /// The field that fills the placeholder.
        field: String,
        /// The field being numbered, as `table.column`.
        target: String,
    },

    /// A [`Numbering`](crate::Numbering) describes something that cannot
    /// work: a placeholder that names no column, a format without `{value}`,
    /// a numbered column that is neither an integer nor (with a format) a
    /// string... Raised before any statement, at the first fill.
    #[error("numbering of {target}: {reason}")]
    InvalidNumbering {
        /// The numbered field, as `table.column`.
        target: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// An [`Audit`](crate::Audit) or [`ChainAudit`](crate::ChainAudit)
    /// describes something that cannot be checked: a column that is not an
    /// integer, a template placeholder that names no scope column, a format
    /// or template that does not parse, a key too short, a table or column
    /// that does not exist. Raised before any row is read.
    #[error("audit of {target}: {reason}")]
    InvalidAudit {
        /// The audited column, as `table.column`.
        target: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// [`Retry`](crate::Retry) was asked for READ UNCOMMITTED, under which a
    /// transaction can read another's uncommitted sequence value: the
    /// promise is only claimed at READ COMMITTED and above. Nothing ran.
    #[error(
        "refusing READ UNCOMMITTED, under which a transaction can read another's uncommitted \
         sequence value; use READ COMMITTED or stricter"
    )]
    ReadUncommitted,

    /// [`Sequence::set_last_value`](crate::Sequence::set_last_value) was asked
    /// to move the counter backwards, which would hand out committed values
    /// again. Nothing was changed.
    #[error(
        "sequence {name:?}: refusing to move last from {last} back to {requested}, which would \
         hand out values again; use force_last_value if that is intended"
    )]
    WouldGoBackwards {
        /// The sequence.
        name: String,
        /// Its current last value.
        last: i64,
        /// The requested last value.
        requested: i64,
    },

    /// The sequence is closed ([`Sequence::close`](crate::Sequence::close)):
    /// it hands out no more values until reopened. Nothing was consumed.
    #[error(
        "sequence {name:?} is closed; reopen it (Sequence::reopen, `sequences reopen`) \
         to number in it again"
    )]
    Closed {
        /// The sequence.
        name: String,
    },

    /// A chronological allocation's date is earlier than the latest date
    /// already numbered in the sequence: numbering it would put a later
    /// number on an earlier date. Nothing was consumed.
    #[error(
        "sequence {name:?} is chronological: a number dated {day} would follow one dated \
         {latest}; date the document {latest} or later"
    )]
    OutOfOrder {
        /// The sequence.
        name: String,
        /// The date of the refused allocation.
        day: crate::Day,
        /// The latest date already numbered.
        latest: crate::Day,
    },

    /// [`Sequence::void`](crate::Sequence::void) was given a value the
    /// sequence never handed out (above `last`, below `initial_value`, or no
    /// sequence at all). Nothing was recorded.
    #[error(
        "sequence {name:?}: {value} was never handed out (last is {last:?}); only an \
         allocated value can be void"
    )]
    NotAllocated {
        /// The sequence.
        name: String,
        /// The value.
        value: i64,
        /// The sequence's last value, `None` if it does not exist.
        last: Option<i64>,
    },

    /// The value is already recorded void. Nothing was recorded.
    #[error("sequence {name:?}: {value} is already void ({reason})")]
    AlreadyVoid {
        /// The sequence.
        name: String,
        /// The value.
        value: i64,
        /// The reason recorded the first time.
        reason: String,
    },

    /// A void needs a reason an auditor can read.
    #[error("sequence {name:?}: a void needs a reason, such as \"cancelled by credit note 12\"")]
    EmptyReason {
        /// The sequence.
        name: String,
    },

    /// The `revert_if_last` delete policy (or
    /// [`Sequence::revert_last`](crate::Sequence::revert_last)) was asked to
    /// give back a value that is not the sequence's last: giving it back
    /// would leave a gap. Nothing was changed.
    #[error(
        "sequence {name:?}: {value} is not the last number ({last:?}); only the last one can \
         be given back. Void it instead, or issue a credit note"
    )]
    NotLast {
        /// The sequence.
        name: String,
        /// The value.
        value: i64,
        /// The sequence's last value, `None` if it does not exist.
        last: Option<i64>,
    },

    /// A numbered row's delete was refused by its delete policy
    /// (`on_delete = "refuse"`, the default). Nothing was deleted.
    #[error(
        "{target} {value} of sequence {name:?}: refusing to delete a numbered row, which \
         would leave an unexplained gap; cancel it by a credit note, or number the field with \
         on_delete = \"void\" (the number is recorded void) or \"revert_if_last\""
    )]
    DeleteRefused {
        /// The sequence.
        name: String,
        /// The number of the row.
        value: i64,
        /// The numbered field, as `table.column`.
        target: String,
    },

    /// A deferred field was inserted outside the helpers that assign
    /// deferred numbers at commit. Nothing was written.
    #[error(
        "numbering of {target} is deferred: run the transaction through \
         sequences_core::transaction or Retry::transaction, which assign deferred numbers \
         just before COMMIT"
    )]
    DeferredOutsideTransaction {
        /// The numbered field, as `table.column`.
        target: String,
    },

    /// At commit, the rows inserted with a deferred number were not all
    /// found as they were inserted: deleted during the transaction, changed
    /// since (a placeholder, the date, a format field or a covered column:
    /// the number would be another sequence's), or inserted through
    /// another connection. The transaction is rolled back.
    #[error(
        "deferred numbering of {target}: {expected} inserted row(s) to number, {found} found in \
         the transaction as inserted; insert and keep them through the helper's transaction, and \
         do not change what names their sequence before COMMIT"
    )]
    DeferredRowsMissing {
        /// The numbered field, as `table.column`.
        target: String,
        /// Rows the transaction inserted.
        expected: u64,
        /// Rows the UPDATE found.
        found: u64,
    },

    /// The allocation would pass the sequence's
    /// [`max_value`](crate::Sequence::max_value) (for a numbered column,
    /// its type's maximum). Refused by the allocating statement: nothing
    /// consumed.
    #[error(
        "sequence {name:?}: taking {count} more value(s) after {last} would pass its maximum \
         {max_value}; the range is exhausted"
    )]
    Exhausted {
        /// The sequence.
        name: String,
        /// Its maximum.
        max_value: i64,
        /// Its last value.
        last: i64,
        /// How many values were asked for.
        count: u64,
    },

    /// [`Sequence::adopt`](crate::Sequence::adopt) refused: nothing changed.
    #[error("sequence {name:?}: refusing to adopt the table's numbers: {reason}")]
    AdoptRefused {
        /// The sequence.
        name: String,
        /// Why.
        reason: NotAdoptable,
    },

    /// Inserts left a deferred number NULL (`before_save` ran) but were never
    /// recorded to be numbered at commit (`after_save` or `defer_many` did
    /// not run): committing would leave documents without numbers. The
    /// helper refuses to commit; the transaction rolls back.
    #[error(
        "deferred numbering of {target}: {expected} insert(s) left the number to COMMIT, but \
         only {recorded} were recorded; refusing to commit rows without numbers: call \
         Numbering::after_save from your after_save hook (or defer_many after a bulk insert)"
    )]
    DeferredNotRecorded {
        /// The numbered field, as `table.column`.
        target: String,
        /// Inserts that left the number NULL.
        expected: u64,
        /// Rows recorded to be numbered.
        recorded: u64,
    },

    /// The operation would break the sequence's hash chain: moving a
    /// chained counter back ([`Sequence::revert_last`](crate::Sequence::revert_last))
    /// would leave the chain's head on a number handed out again. Nothing
    /// was changed; void the number instead.
    #[error(
        "sequence {name:?} is hash-chained: {operation} would leave its chain head on a number \
         handed out again; record the number void instead"
    )]
    Chained {
        /// The sequence.
        name: String,
        /// What was refused.
        operation: &'static str,
    },

    /// A numbered row's number (or the raw value beside a reference) was
    /// changed by an `UPDATE`, which the database refuses once the field is
    /// [numbered by the database](crate::Numbering::install_triggers): a
    /// number, once given, stays. Nothing was changed.
    #[error(
        "{target}: refusing to change `{column}` of a numbered row, which would leave a gap \
         and a number given twice; void the number (Sequence::void) and number a new row \
         instead"
    )]
    NumberChanged {
        /// The numbered field, as `table.column`.
        target: String,
        /// The column whose change was refused.
        column: String,
    },

    /// An `UPDATE` set the number (or a raw value) of an unnumbered row,
    /// which the database refuses once the field's triggers are installed:
    /// only the library numbers a row, from the counter (on insert, at
    /// COMMIT, or by its numberer after COMMIT), and a number chosen here
    /// would be given again. Nothing was changed.
    #[error(
        "{target}: refusing to set `{column}` of an unnumbered row: numbers are given by \
         sea-orm-sequences alone (on insert, at COMMIT, or after COMMIT by the numberer: \
         Numberer, `sequences number`), and a number chosen here would be given again"
    )]
    NumberSet {
        /// The numbered field, as `table.column`.
        target: String,
        /// The column whose change was refused.
        column: String,
    },

    /// An `UPDATE` changed the primary key of a row that waits for its
    /// numberer ([`after_commit`](crate::NumberedField::after_commit)),
    /// which the database refuses once the field's triggers are installed:
    /// the numberer, its refusals and [`Audit::pending`](crate::Audit::pending)
    /// follow a waiting row by its key. Nothing was changed.
    #[error(
        "{target}: refusing to change `{column}` of a row that waits for its numberer: the \
         numberer, its refusals and the audit follow a waiting row by its key; change it once \
         the row is numbered (sequences_core::Numbering::wait_for_number), or delete the row and \
         insert it again"
    )]
    KeyChanged {
        /// The numbered field, as `table.column`.
        target: String,
        /// The key column whose change was refused.
        column: String,
    },

    /// A numberer refused to number this row of an
    /// [`after_commit`](crate::NumberedField::after_commit) field (dated
    /// before a number already given, a closed period, the end of the
    /// range): it stays unnumbered, recorded in `sequence_refusals`.
    #[error("{target}: the numberer refused row {key}, which stays unnumbered: {reason}")]
    NumberRefused {
        /// The numbered field, as `table.column`.
        target: String,
        /// The row's primary key, as text.
        key: String,
        /// Why, as the numberer's error said it.
        reason: String,
    },

    /// [`wait_for_number`](crate::Numbering::wait_for_number) waited its
    /// whole timeout and the row has no number yet: no numberer is running,
    /// or it is behind (or, `exists == false`, no such row is committed).
    #[error(
        "{target}: row {key} has no number after {waited:?} ({}); is a numberer running \
         (Numberer, `sequences number --follow`)?",
        if *exists { "it waits" } else { "no such row is committed" }
    )]
    NotNumberedYet {
        /// The numbered field, as `table.column`.
        target: String,
        /// The row's primary key, as text.
        key: String,
        /// How long it waited.
        waited: std::time::Duration,
        /// Whether the row exists (committed and visible).
        exists: bool,
    },

    /// The sequence numbers from django-sequences' table
    /// ([`CounterTable::Django`](crate::CounterTable::Django)), which cannot
    /// do what was asked (the reason says why), or the name is held by the
    /// other counter table. Nothing was consumed.
    #[error("sequence {name:?}: {reason}")]
    SharedTable {
        /// The sequence.
        name: String,
        /// Why, and what to do.
        reason: String,
    },

    /// The database lacks a table or column this version of the crate uses:
    /// a bundled migration is not applied.
    #[error(
        "sequence {name:?}: the database lacks the crate's tables or columns; apply \
         sequences_migration::migrations() (RegisterMigration adds `closed`, `last_day` and \
         `sequence_voids`; KeyedChainMigration adds `chain_seal` and `chain_auth`, for keyed \
         chains; RangeMigration adds `max_value` and `warn_at`, for a declared max_value or \
         warn_at): {source}"
    )]
    SchemaOutdated {
        /// The sequence.
        name: String,
        /// The database's own error.
        source: DbErr,
    },

    /// The database failed for a reason of its own (connection lost,
    /// deadlock, serialization failure...).
    #[error("sequence {name:?}: {source}")]
    Database {
        /// The sequence.
        name: String,
        /// The database's own error.
        source: DbErr,
    },
}

impl SequenceError {
    /// The name of the sequence the error is about (for
    /// [`MissingPlaceholder`](SequenceError::MissingPlaceholder), its template;
    /// for [`InvalidNumbering`](SequenceError::InvalidNumbering) and
    /// [`InvalidAudit`](SequenceError::InvalidAudit), the field; empty for
    /// [`ReadUncommitted`](SequenceError::ReadUncommitted), which is about no
    /// sequence).
    pub fn sequence_name(&self) -> &str {
        match self {
            Self::InvalidName { name, .. }
            | Self::InvalidReset { name, .. }
            | Self::BatchOnLoopingSequence { name, .. }
            | Self::Overflow { name, .. }
            | Self::LockNotAvailable { name, .. }
            | Self::NotInTransaction { name, .. }
            | Self::ValueOutOfRange { name, .. }
            | Self::WouldGoBackwards { name, .. }
            | Self::Closed { name }
            | Self::OutOfOrder { name, .. }
            | Self::NotAllocated { name, .. }
            | Self::AlreadyVoid { name, .. }
            | Self::EmptyReason { name }
            | Self::NotLast { name, .. }
            | Self::DeleteRefused { name, .. }
            | Self::SchemaOutdated { name, .. }
            | Self::SharedTable { name, .. }
            | Self::Chained { name, .. }
            | Self::NumberChanged { target: name, .. }
            | Self::NumberSet { target: name, .. }
            | Self::KeyChanged { target: name, .. }
            | Self::NumberRefused { target: name, .. }
            | Self::NotNumberedYet { target: name, .. }
            | Self::Exhausted { name, .. }
            | Self::AdoptRefused { name, .. }
            | Self::Database { name, .. } => name,
            Self::MissingPlaceholder { template, .. } => template,
            Self::ReadUncommitted => "",
            Self::InvalidNumbering { target, .. }
            | Self::InvalidAudit { target, .. }
            | Self::DeferredOutsideTransaction { target }
            | Self::DeferredNotRecorded { target, .. }
            | Self::DeferredRowsMissing { target, .. } => target,
        }
    }

    /// How a trace names the failure (see [`crate::trace`]).
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::LockNotAvailable { .. } => "lock_not_available",
            Self::Overflow { .. } => "overflow",
            Self::Closed { .. } => "closed",
            Self::OutOfOrder { .. } => "out_of_order",
            Self::Database { .. } => "database_error",
            _ => "refused",
        }
    }

    /// The database error behind this one, if the database raised it.
    pub fn db_err(&self) -> Option<&DbErr> {
        match self {
            Self::LockNotAvailable { source, .. }
            | Self::Database { source, .. }
            | Self::SchemaOutdated { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Errors the database raised keep their original `DbErr` (so SQLSTATE-based
/// retry logic still recognises them); the others travel inside the `DbErr`
/// whole, typed, and come back with [`SequenceError::from_db_err`].
///
/// SeaORM's only `DbErr` variant that carries an error of another crate is
/// [`DbErr::TryIntoErr`]: a refusal is wrapped there, its message printed
/// after `Error converting \`the model\` into \`a gapless-numbered row\``.
impl From<SequenceError> for DbErr {
    fn from(error: SequenceError) -> Self {
        match error {
            SequenceError::LockNotAvailable { source, .. }
            | SequenceError::Database { source, .. } => source,
            other => DbErr::TryIntoErr {
                from: "the model",
                into: "a gapless-numbered row",
                source: std::sync::Arc::new(other),
            },
        }
    }
}

impl SequenceError {
    /// The refusal a `DbErr` carries, typed, when the library raised it
    /// through SeaORM (a hook such as `before_save`, `?` in a transaction
    /// closure): the way back from [`From<SequenceError> for
    /// DbErr`](#impl-From%3CSequenceError%3E-for-DbErr), as SeaORM's own
    /// [`DbErr::sql_err`] recovers a constraint violation. `None` for
    /// errors the database itself raised (they are the database's own
    /// `DbErr`) and for others.
    ///
    /// ```
    /// # use sequences_core::SequenceError;
    /// let refused: sea_orm::DbErr = SequenceError::Closed { name: "invoice".into() }.into();
    /// assert!(matches!(
    ///     SequenceError::from_db_err(&refused),
    ///     Some(SequenceError::Closed { name }) if name == "invoice"
    /// ));
    /// ```
    pub fn from_db_err(error: &DbErr) -> Option<&SequenceError> {
        match error {
            DbErr::TryIntoErr { source, .. } => source.downcast_ref::<SequenceError>(),
            _ => None,
        }
    }

    /// The refusal a [`DbErr`] carries, owned: the library's own (as
    /// [`from_db_err`](Self::from_db_err)), or one the database's triggers
    /// raised for a field [numbered by the database](crate::Numbering::install_triggers),
    /// whatever statement hit them (`insert_many`, raw SQL, a
    /// `DELETE`): [`Closed`](Self::Closed), [`OutOfOrder`](Self::OutOfOrder),
    /// [`Exhausted`](Self::Exhausted), [`ValueOutOfRange`](Self::ValueOutOfRange),
    /// [`MissingPlaceholder`](Self::MissingPlaceholder),
    /// [`DeleteRefused`](Self::DeleteRefused), [`NotLast`](Self::NotLast),
    /// [`NumberChanged`](Self::NumberChanged), [`NumberSet`](Self::NumberSet),
    /// [`KeyChanged`](Self::KeyChanged).
    pub fn from_database(error: &DbErr) -> Option<SequenceError> {
        Self::from_db_err(error)
            .cloned()
            .or_else(|| wire::decode(error))
    }

    /// Whether running the whole transaction again may succeed: a
    /// serialization failure, a deadlock, a lock timeout or a `NOWAIT`
    /// refusal, SQLite busy or locked (what [`Retry`](crate::Retry) runs
    /// again): [`LockNotAvailable`](Self::LockNotAvailable), or a
    /// [`Database`](Self::Database) error that is one of those. A refusal
    /// of the library (closed, out of order, exhausted, ...) is not: it
    /// would be refused again. For a `DbErr`, [`is_retryable`](crate::is_retryable).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::LockNotAvailable { .. } => true,
            Self::Database { source, .. } => crate::is_retryable(source),
            _ => false,
        }
    }

    /// An error from inside an audit of `target` (`table.column`): the
    /// refusal it carries, or the database's own error under that name.
    pub(crate) fn of_audit(target: &str, error: DbErr) -> Self {
        match Self::from_db_err(&error) {
            Some(refusal) => refusal.clone(),
            None => Self::Database {
                name: target.to_owned(),
                source: error,
            },
        }
    }

    /// A database error of an operation on `name`: a missing table or column
    /// is [`SchemaOutdated`](Self::SchemaOutdated) (a migration to apply),
    /// anything else [`Database`](Self::Database).
    pub(crate) fn of_database(name: &str, backend: sea_orm::DbBackend, source: DbErr) -> Self {
        match database::classify(backend, &source) {
            database::ErrorKind::SchemaOutdated => Self::SchemaOutdated {
                name: name.to_owned(),
                source,
            },
            _ => Self::Database {
                name: name.to_owned(),
                source,
            },
        }
    }

    /// [`of_database`](Self::of_database), as it travels through an
    /// audit's queries: only a missing table or column becomes the refusal.
    pub(crate) fn schema_outdated(name: &str, backend: sea_orm::DbBackend, source: DbErr) -> DbErr {
        match Self::of_database(name, backend, source) {
            Self::Database { source, .. } => source,
            outdated => outdated.into(),
        }
    }

    /// [`InvalidAudit`](Self::InvalidAudit) as it travels through an
    /// audit's queries.
    pub(crate) fn invalid_audit(target: &str, reason: impl Into<String>) -> DbErr {
        Self::InvalidAudit {
            target: target.to_owned(),
            reason: reason.into(),
        }
        .into()
    }
}
