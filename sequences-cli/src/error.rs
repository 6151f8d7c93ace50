//! The command's one error type: a kind a script can match on, a sentence for
//! the operator, and the exit code.

use std::fmt;
use std::process::ExitCode;

use sea_orm::DbErr;
use sequences_core::SequenceError;

/// What went wrong, as `--json` names it (`{"error": {"kind": ...}}`). The
/// names are stable: scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The command line or its values make no sense; nothing was done.
    BadInput,
    /// A sequence, table, column or file that does not exist.
    NotFound,
    /// The database cannot be reached.
    Connection,
    /// The library refused the operation (it would go backwards, the number
    /// is already void or was never handed out...); nothing changed.
    Refused,
    /// Another transaction held the sequence longer than `--lock-timeout`.
    LockTimeout,
    /// The database lacks the tables or columns of the bundled migrations.
    SchemaOutdated,
    /// Going backwards needs the operator's confirmation, which was not given.
    ConfirmationRequired,
    /// A file could not be read or written.
    Io,
    /// The database failed for a reason of its own.
    Database,
}

impl Kind {
    /// The snake_case name of the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadInput => "bad_input",
            Self::NotFound => "not_found",
            Self::Connection => "connection",
            Self::Refused => "refused",
            Self::LockTimeout => "lock_timeout",
            Self::SchemaOutdated => "schema_outdated",
            Self::ConfirmationRequired => "confirmation_required",
            Self::Io => "io",
            Self::Database => "database",
        }
    }
}

/// Why a command failed: nothing it was asked to write was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// For scripts.
    pub kind: Kind,
    /// For people: one sentence (or a few), no Rust syntax.
    pub message: String,
}

impl CliError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(Kind::BadInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    /// Every error exits with 2 (1 is a defect found, which is no error).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(2)
    }

    /// The error of a query, with the library's own message when it raised one.
    pub fn database(error: &DbErr) -> Self {
        Self::new(Kind::Database, db_message(error))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The fix for a database without the register's columns.
pub const SCHEMA_FIX: &str = "apply sequences_migration::migrations() (RegisterMigration)";

/// The fix for a keyed chain on a database without its columns.
pub const KEYED_FIX: &str = "apply sequences_migration::migrations() (KeyedChainMigration)";

/// A `DbErr` as a person reads it: a refusal of the library in its own
/// words (without SeaORM's prefix), anything else as the driver says it.
pub fn db_message(error: &DbErr) -> String {
    match SequenceError::from_db_err(error) {
        Some(refusal) => refusal.to_string(),
        None => error.to_string(),
    }
}

/// The library's refusals, said as the command's: what to pass, never which
/// function to call, and no `Some(5)`.
impl From<SequenceError> for CliError {
    fn from(error: SequenceError) -> Self {
        use SequenceError as E;
        match error {
            E::InvalidName { .. } | E::InvalidAudit { .. } => Self::bad_input(error.to_string()),
            E::EmptyReason { name } => Self::bad_input(format!(
                "sequence {name:?}: a void needs a reason an auditor can read, such as \
                 --reason \"cancelled by credit note 12\""
            )),
            E::WouldGoBackwards {
                name,
                last,
                requested,
            } => Self::new(
                Kind::Refused,
                format!(
                    "sequence {name:?}: refusing to move last from {last} back to {requested}, \
                     which would hand out {} again; pass --force if that is intended (a repair); \
                     nothing changed",
                    numbers(requested.saturating_add(1), last)
                ),
            ),
            E::NotAllocated {
                name, last: None, ..
            } => Self::not_found(format!(
                "sequence {name:?} does not exist: it has handed out nothing to void"
            )),
            E::NotAllocated {
                name,
                value,
                last: Some(last),
            } => Self::new(
                Kind::Refused,
                format!(
                    "sequence {name:?}: {value} was never handed out (the last number is \
                     {last}); only a handed-out number can be void"
                ),
            ),
            E::NotLast { name, value, last } => Self::new(
                Kind::Refused,
                match last {
                    Some(last) => format!(
                        "sequence {name:?}: {value} is not the last number ({last}); only the \
                         last one can be given back: void it instead"
                    ),
                    None => format!("sequence {name:?} does not exist"),
                },
            ),
            E::Closed { name } => Self::new(
                Kind::Refused,
                format!("sequence {name:?} is closed; reopen it first (sequences reopen {name})"),
            ),
            E::LockNotAvailable { name, .. } => Self::new(
                Kind::LockTimeout,
                format!(
                    "sequence {name:?} is held by another transaction; nothing changed: retry \
                     once it commits or rolls back (see sequences holders)"
                ),
            ),
            E::SchemaOutdated { .. } => Self::new(Kind::SchemaOutdated, schema_outdated()),
            E::AdoptRefused {
                ref name,
                reason: sequences_core::NotAdoptable::Defects { .. },
            } => Self::new(
                Kind::Refused,
                format!(
                    "sequence {name:?}: {}; nothing changed: audit the table (sequences audit), \
                     or pass --allow-defects to adopt its numbers as they are",
                    error_reason(&error)
                ),
            ),
            E::Database { name, source } => Self::new(
                Kind::Database,
                format!("sequence {name:?}: {}", db_message(&source)),
            ),
            // The others say what to do in the library's words, which fit.
            other => Self::new(Kind::Refused, other.to_string()),
        }
    }
}

/// The reason of a refused adoption, as the library words it.
fn error_reason(error: &SequenceError) -> String {
    match error {
        SequenceError::AdoptRefused {
            reason:
                sequences_core::NotAdoptable::Defects {
                    missing,
                    duplicate_rows,
                    unnumbered,
                    below_initial,
                },
            ..
        } => format!(
            "the table's numbers have {missing} missing, {duplicate_rows} duplicated, \
             {unnumbered} unnumbered and {below_initial} below the initial value"
        ),
        other => other.to_string(),
    }
}

/// The message of an outdated (or missing) schema, the same on every command.
pub fn schema_outdated() -> String {
    format!(
        "the database lacks the tables or columns of sea-orm-sequences (the `sequences` table \
         with `closed`, `last_day` and `chain_head`, and `sequence_voids`): {SCHEMA_FIX}"
    )
}

/// `9` or `9..=12`.
pub fn numbers(first: i64, last: i64) -> String {
    if first == last {
        format!("number {first}")
    } else {
        format!("numbers {first}..={last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_sentences() {
        let backwards = CliError::from(SequenceError::WouldGoBackwards {
            name: "invoice-7".into(),
            last: 10,
            requested: 7,
        });
        assert_eq!(backwards.kind, Kind::Refused);
        assert!(backwards.message.contains("numbers 8..=10"));
        assert!(backwards.message.contains("--force"));
        assert!(!backwards.message.contains("force_last_value"));
        let never = CliError::from(SequenceError::NotAllocated {
            name: "invoice-7".into(),
            value: 99,
            last: Some(5),
        });
        assert!(!never.message.contains("Some("), "{never}");
        assert!(never.message.contains("never handed out"), "{never}");
        let missing = CliError::from(SequenceError::NotAllocated {
            name: "invoice-7".into(),
            value: 1,
            last: None,
        });
        assert_eq!(missing.kind, Kind::NotFound);
        assert!(!missing.message.contains("None"), "{missing}");
    }

    #[test]
    fn custom_errors_lose_the_prefix() {
        let closed = SequenceError::Closed { name: "x".into() };
        assert_eq!(db_message(&closed.clone().into()), closed.to_string());
    }
}
