//! django-sequences' table shared with a Django application: the guards
//! `DjangoSequencesMigration` installs, and the move of a counter into
//! `sequences` (`sequences import-django`).
//!
//! Two guards, as database triggers, because Django's writers go around
//! the library:
//! - a name lives in one counter table: each of `sequences` and
//!   `sequences_sequence` refuses to create a counter whose name the other
//!   holds (so one series cannot be numbered from both by mistake);
//! - Django's own `last = last + 1` is refused on a closed counter and past
//!   a declared `max_value`, as the library's allocation refuses them.

use sea_orm::Statement;

use super::piece::{Arg, fill};

use super::Dialect;
use crate::entity::{DJANGO_TABLE, TABLE_NAME};

/// The guards' names: (trigger or function, the table it guards).
const NAME_GUARDS: [(&str, &str, &str); 2] = [
    ("sequences_name_in_django", TABLE_NAME, DJANGO_TABLE),
    (
        "sequences_sequence_name_in_sequences",
        DJANGO_TABLE,
        TABLE_NAME,
    ),
];

/// The guard of Django's writes on `sequences_sequence`.
const WRITE_GUARD: &str = "sequences_sequence_guard";

/// What a name-guard refusal says, after the name (PostgreSQL, MariaDB) or
/// alone (SQLite, whose `RAISE` takes a literal).
fn name_refusal(table: &str, other: &str) -> String {
    format!(
        "is numbered from {other}, so {table} refuses to create it: one series is numbered \
         from one counter table (Sequence::counter_table, #[gapless(counter_table = \"django\")] \
         for django-sequences' {DJANGO_TABLE}; `sequences import-django` moves a counter)"
    )
}

const CLOSED: &str =
    "is closed: reopen it (Sequence::reopen, `sequences reopen`) to number in it again";
const END: &str = "reached the end of its range (max_value)";

impl Dialect {
    /// The statements that install the guards (replacing older ones).
    pub(crate) fn django_guards(self) -> Vec<String> {
        let q = |name: &str| self.quote(name);
        let mut statements = self.drop_django_guards();
        match self {
            Self::Postgres => {
                for (guard, table, other) in NAME_GUARDS {
                    // The advisory lock per name orders two transactions
                    // creating the same name in the two tables; at READ
                    // COMMITTED the check then sees the other's commit.
                    statements.push(format!(
                        "CREATE FUNCTION {g}() RETURNS trigger LANGUAGE plpgsql AS $guard$\nBEGIN\n  PERFORM pg_advisory_xact_lock(hashtextextended('sequences-name:' || NEW.\"name\", 0));\n  IF EXISTS (SELECT 1 FROM {o} WHERE \"name\" = NEW.\"name\") THEN\n    RAISE EXCEPTION 'sequence % {msg}', quote_literal(NEW.\"name\") USING ERRCODE = 'P0001';\n  END IF;\n  RETURN NEW;\nEND\n$guard$",
                        g = q(guard),
                        o = q(other),
                        msg = name_refusal(table, other).replace('\'', "''"),
                    ));
                    statements.push(format!(
                        "CREATE TRIGGER {g} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {g}()",
                        g = q(guard),
                        t = q(table),
                    ));
                }
                statements.push(format!(
                    "CREATE FUNCTION {g}() RETURNS trigger LANGUAGE plpgsql AS $guard$\nBEGIN\n  IF OLD.\"closed\" AND NEW.\"last\" <> OLD.\"last\" THEN\n    RAISE EXCEPTION 'sequence % {CLOSED}', quote_literal(NEW.\"name\") USING ERRCODE = 'P0001';\n  END IF;\n  IF NEW.\"max_value\" IS NOT NULL AND NEW.\"last\" > NEW.\"max_value\" THEN\n    RAISE EXCEPTION 'sequence % {END}', quote_literal(NEW.\"name\") USING ERRCODE = 'P0001';\n  END IF;\n  RETURN NEW;\nEND\n$guard$",
                    g = q(WRITE_GUARD),
                ));
                statements.push(format!(
                    "CREATE TRIGGER {g} BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {g}()",
                    g = q(WRITE_GUARD),
                    t = q(DJANGO_TABLE),
                ));
            }
            Self::MySql => {
                for (guard, table, other) in NAME_GUARDS {
                    // A locking read sees the latest commit and locks the
                    // gap, so two creations of one name in the two tables
                    // cannot both pass.
                    statements.push(format!(
                        "CREATE TRIGGER {g} BEFORE INSERT ON {t} FOR EACH ROW BEGIN\n  DECLARE found INT DEFAULT 0;\n  DECLARE message VARCHAR(500);\n  SELECT COUNT(*) INTO found FROM {o} WHERE `name` = NEW.`name` LOCK IN SHARE MODE;\n  IF found > 0 THEN\n    SET message = CONCAT('sequence ', QUOTE(NEW.`name`), ' {msg}');\n    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = message;\n  END IF;\nEND",
                        g = q(guard),
                        t = q(table),
                        o = q(other),
                        msg = name_refusal(table, other).replace('\'', "''"),
                    ));
                }
                statements.push(format!(
                    "CREATE TRIGGER {g} BEFORE UPDATE ON {t} FOR EACH ROW BEGIN\n  DECLARE message VARCHAR(500);\n  IF OLD.`closed` AND NEW.`last` <> OLD.`last` THEN\n    SET message = CONCAT('sequence ', QUOTE(NEW.`name`), ' {CLOSED}');\n    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = message;\n  END IF;\n  IF NEW.`max_value` IS NOT NULL AND NEW.`last` > NEW.`max_value` THEN\n    SET message = CONCAT('sequence ', QUOTE(NEW.`name`), ' {END}');\n    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = message;\n  END IF;\nEND",
                    g = q(WRITE_GUARD),
                    t = q(DJANGO_TABLE),
                ));
            }
            Self::Sqlite => {
                for (guard, table, other) in NAME_GUARDS {
                    statements.push(format!(
                        "CREATE TRIGGER {g} BEFORE INSERT ON {t} WHEN EXISTS (SELECT 1 FROM {o} WHERE \"name\" = NEW.\"name\") BEGIN SELECT RAISE(ABORT, 'a sequence {msg}'); END",
                        g = q(guard),
                        t = q(table),
                        o = q(other),
                        msg = name_refusal(table, other).replace('\'', "''"),
                    ));
                }
                for (suffix, condition, message) in [
                    (
                        "closed",
                        "OLD.\"closed\" AND NEW.\"last\" <> OLD.\"last\"",
                        CLOSED,
                    ),
                    (
                        "end",
                        "NEW.\"max_value\" IS NOT NULL AND NEW.\"last\" > NEW.\"max_value\"",
                        END,
                    ),
                ] {
                    statements.push(format!(
                        "CREATE TRIGGER {g} BEFORE UPDATE ON {t} WHEN {condition} BEGIN SELECT RAISE(ABORT, 'the sequence {message}'); END",
                        g = q(&format!("{WRITE_GUARD}_{suffix}")),
                        t = q(DJANGO_TABLE),
                    ));
                }
            }
        }
        statements
    }

    /// The statements that remove the guards, if present.
    pub(crate) fn drop_django_guards(self) -> Vec<String> {
        let q = |name: &str| self.quote(name);
        let mut statements = Vec::new();
        for (guard, table, _) in NAME_GUARDS {
            match self {
                Self::Postgres => {
                    statements.push(format!(
                        "DROP TRIGGER IF EXISTS {} ON {}",
                        q(guard),
                        q(table)
                    ));
                    statements.push(format!("DROP FUNCTION IF EXISTS {}()", q(guard)));
                }
                _ => statements.push(format!("DROP TRIGGER IF EXISTS {}", q(guard))),
            }
        }
        match self {
            Self::Postgres => {
                statements.push(format!(
                    "DROP TRIGGER IF EXISTS {} ON {}",
                    q(WRITE_GUARD),
                    q(DJANGO_TABLE)
                ));
                statements.push(format!("DROP FUNCTION IF EXISTS {}()", q(WRITE_GUARD)));
            }
            Self::MySql => statements.push(format!("DROP TRIGGER IF EXISTS {}", q(WRITE_GUARD))),
            Self::Sqlite => {
                for suffix in ["closed", "end"] {
                    statements.push(format!(
                        "DROP TRIGGER IF EXISTS {}",
                        q(&format!("{WRITE_GUARD}_{suffix}"))
                    ));
                }
            }
        }
        statements
    }

    /// Whether the name guard on `sequences_sequence` is installed: one row
    /// when it is.
    pub(crate) fn django_guarded(self) -> Statement {
        let (guard, _, _) = NAME_GUARDS[1];
        let sql = match self {
            Self::Postgres => format!("SELECT 1 FROM pg_trigger WHERE tgname = '{guard}'"),
            Self::MySql => format!(
                "SELECT 1 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = '{guard}'"
            ),
            Self::Sqlite => {
                format!("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = '{guard}'")
            }
        };
        Statement::from_string(self.backend(), sql)
    }

    /// The names both counter tables hold, compared byte for byte (the
    /// collations may differ before the adoption).
    pub(crate) fn names_in_both(self) -> Statement {
        let q = |c: &str| self.quote(c);
        let name = |table: &str| match self {
            Self::MySql => format!("CAST({}.{} AS BINARY)", q(table), q("name")),
            _ => format!("{}.{}", q(table), q("name")),
        };
        Statement::from_string(
            self.backend(),
            format!(
                "SELECT {}.{} FROM {} JOIN {} ON {} = {} ORDER BY 1",
                q(TABLE_NAME),
                q("name"),
                q(TABLE_NAME),
                q(DJANGO_TABLE),
                name(TABLE_NAME),
                name(DJANGO_TABLE),
            ),
        )
    }

    /// Every counter of `sequences_sequence` (`name`, `last`, `closed`,
    /// `last_day`), locked, in
    /// name order: what `sequences import-django` moves.
    pub(crate) fn django_counters(self) -> Statement {
        let lock = if self == Self::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        Statement::from_string(
            self.backend(),
            format!(
                "SELECT {}, {}, {}, {} FROM {} ORDER BY {}{lock}",
                self.quote("name"),
                self.signed_last(crate::CounterTable::Django),
                self.quote("closed"),
                self.quote("last_day"),
                self.quote(DJANGO_TABLE),
                self.quote("name"),
            ),
        )
    }

    /// The counter `name` moved out of `sequences_sequence`: deleted there
    /// (the guard would otherwise refuse it in `sequences`), then, with
    /// `create` (`None` when it is already there with that value), created
    /// in `sequences` with its `last`, `closed` and `last_day`.
    pub(crate) fn django_move(
        self,
        name: &str,
        create: Option<(i64, bool, Option<i32>)>,
    ) -> Vec<Statement> {
        let mut statements = vec![self.delete_counter(crate::CounterTable::Django, name)];
        if let Some((last, closed, last_day)) = create {
            let q = |c: &str| self.quote(c);
            let text = format!(
                "INSERT INTO {} ({}, {}, {}, {}) VALUES ({{name}}, {{last}}, {{closed}}, {{day}})",
                q(TABLE_NAME),
                q("name"),
                q("last"),
                q("closed"),
                q("last_day"),
            );
            statements.push(
                fill(
                    self,
                    &text,
                    &[
                        ("name", &Arg::bind(name)),
                        ("last", &Arg::bind(last)),
                        ("closed", &Arg::bind(closed)),
                        ("day", &Arg::bind(sea_orm::Value::Int(last_day))),
                    ],
                )
                .statement(self),
            );
        }
        statements
    }
}
