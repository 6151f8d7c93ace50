//! django-sequences' table shared with a Django application: the guards
//! `DjangoSequencesMigration` installs, and the move of a counter into
//! `sequences` (`sequences import-django`).
//!
//! Two guards, as database triggers, because Django's writers go around
//! the library:
//! - a name lives in one counter table: `sequences_names` records which
//!   table each name belongs to, claimed by the first creation (a unique key,
//!   so two creations of one name in the two tables cannot both pass, at any
//!   isolation level: the second waits for the first, then reads its claim or
//!   fails to serialize), and each counter table refuses a name another one
//!   owns;
//! - Django's own `last = last + 1` is refused on a closed counter and past
//!   a declared `max_value`, as the library's allocation refuses them; a
//!   counter `sequences import-django` moved is closed in Django's table and
//!   cannot be reopened there.

use sea_orm::Statement;

use super::piece::{Arg, fill};

use super::Dialect;
use crate::entity::{DJANGO_TABLE, TABLE_NAME};

/// The registry of names: which counter table each name belongs to.
pub(crate) const NAMES_TABLE: &str = "sequences_names";

/// The name guards: (trigger or function, the table it guards).
const NAME_GUARDS: [(&str, &str); 2] = [
    ("sequences_name_owner", TABLE_NAME),
    ("sequences_sequence_name_owner", DJANGO_TABLE),
];

/// The guard of Django's writes on `sequences_sequence`.
const WRITE_GUARD: &str = "sequences_sequence_guard";

/// What a name-guard refusal says, after the name and the owner's table.
const NOT_OURS: &str = ": one series is numbered from one counter table \
    (Sequence::counter_table, #[gapless(counter_table = \"django\")] for django-sequences' \
    sequences_sequence; `sequences import-django` moves a counter)";

const CLOSED: &str =
    "is closed: reopen it (Sequence::reopen, `sequences reopen`) to number in it again";
const MOVED: &str = "was moved to sequences by `sequences import-django`: number it from there";
const END: &str = "reached the end of its range (max_value)";

impl Dialect {
    /// The statements that create the registry of names (if missing) and
    /// record every existing counter's table in it.
    pub(crate) fn names_registry(self) -> Vec<String> {
        let q = |name: &str| self.quote(name);
        let name_type = match self {
            Self::MySql => "VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
            _ => "VARCHAR(100)",
        };
        let mut statements = vec![format!(
            "CREATE TABLE IF NOT EXISTS {} ({} {name_type} NOT NULL PRIMARY KEY, {} VARCHAR(30) NOT NULL)",
            q(NAMES_TABLE),
            q("name"),
            q("counter_table"),
        )];
        for table in [TABLE_NAME, DJANGO_TABLE] {
            let insert = match self {
                Self::Postgres => "INSERT INTO",
                Self::MySql => "INSERT IGNORE INTO",
                Self::Sqlite => "INSERT OR IGNORE INTO",
            };
            let tail = match self {
                Self::Postgres => " ON CONFLICT DO NOTHING",
                _ => "",
            };
            statements.push(format!(
                "{insert} {} ({}, {}) SELECT {}, '{table}' FROM {}{tail}",
                q(NAMES_TABLE),
                q("name"),
                q("counter_table"),
                q("name"),
                q(table),
            ));
        }
        statements
    }

    /// The statement that drops the registry of names.
    pub(crate) fn drop_names_registry(self) -> String {
        format!("DROP TABLE IF EXISTS {}", self.quote(NAMES_TABLE))
    }

    /// The statements that install the guards (replacing older ones).
    pub(crate) fn django_guards(self) -> Vec<String> {
        let q = |name: &str| self.quote(name);
        let mut statements = self.drop_django_guards();
        let names = q(NAMES_TABLE);
        match self {
            Self::Postgres => {
                for (guard, table) in NAME_GUARDS {
                    // The claim is a unique key: a concurrent claim of the
                    // same name is waited for, then read (READ COMMITTED) or
                    // a serialization failure (REPEATABLE READ and above).
                    // A name only ever passes from Django's table to
                    // `sequences` (the import), so `sequences` may trust a
                    // plain read of its own claim; Django's table reads it
                    // under a lock, which sees (or fails to serialize on) a
                    // move made after the transaction's snapshot.
                    let lock = if table == TABLE_NAME {
                        ""
                    } else {
                        " FOR SHARE"
                    };
                    statements.push(format!(
                        "CREATE FUNCTION {g}() RETURNS trigger LANGUAGE plpgsql AS $guard$\nDECLARE owner text;\nBEGIN\n  SELECT \"counter_table\" INTO owner FROM {names} WHERE \"name\" = NEW.\"name\"{lock};\n  IF owner IS NULL THEN\n    INSERT INTO {names} (\"name\", \"counter_table\") VALUES (NEW.\"name\", '{table}') ON CONFLICT (\"name\") DO UPDATE SET \"counter_table\" = {names}.\"counter_table\" RETURNING \"counter_table\" INTO owner;\n  END IF;\n  IF owner <> '{table}' THEN\n    RAISE EXCEPTION 'sequence % is numbered from %, so {table} refuses to create it{msg}', quote_literal(NEW.\"name\"), owner USING ERRCODE = 'P0001';\n  END IF;\n  RETURN NEW;\nEND\n$guard$",
                        g = q(guard),
                        msg = NOT_OURS.replace('\'', "''"),
                    ));
                    statements.push(format!(
                        "CREATE TRIGGER {g} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {g}()",
                        g = q(guard),
                        t = q(table),
                    ));
                }
                statements.push(format!(
                    "CREATE FUNCTION {g}() RETURNS trigger LANGUAGE plpgsql AS $guard$\nBEGIN\n  IF OLD.\"closed\" AND (NEW.\"last\" <> OLD.\"last\" OR NOT NEW.\"closed\") THEN\n    IF EXISTS (SELECT 1 FROM {names} WHERE \"name\" = NEW.\"name\" AND \"counter_table\" <> '{DJANGO_TABLE}') THEN\n      RAISE EXCEPTION 'sequence % {MOVED}', quote_literal(NEW.\"name\") USING ERRCODE = 'P0001';\n    END IF;\n    IF NEW.\"last\" <> OLD.\"last\" THEN\n      RAISE EXCEPTION 'sequence % {CLOSED}', quote_literal(NEW.\"name\") USING ERRCODE = 'P0001';\n    END IF;\n  END IF;\n  IF NEW.\"max_value\" IS NOT NULL AND NEW.\"last\" > NEW.\"max_value\" THEN\n    RAISE EXCEPTION 'sequence % {END}', quote_literal(NEW.\"name\") USING ERRCODE = 'P0001';\n  END IF;\n  RETURN NEW;\nEND\n$guard$",
                    g = q(WRITE_GUARD),
                ));
                statements.push(format!(
                    "CREATE TRIGGER {g} BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {g}()",
                    g = q(WRITE_GUARD),
                    t = q(DJANGO_TABLE),
                ));
            }
            Self::MySql => {
                for (guard, table) in NAME_GUARDS {
                    // The claim takes the registry row's lock: a concurrent
                    // claim of the same name is waited for, and the locking
                    // read sees it, at any isolation level. `sequences`
                    // first trusts a plain read of its own claim (a name
                    // never passes from `sequences` to another table).
                    let trusted = if table == TABLE_NAME {
                        format!(
                            "  SELECT `counter_table` INTO owner FROM {names} WHERE `name` = NEW.`name`;\n  IF owner = '{table}' THEN\n    LEAVE guard;\n  END IF;\n"
                        )
                    } else {
                        String::new()
                    };
                    statements.push(format!(
                        "CREATE TRIGGER {g} BEFORE INSERT ON {t} FOR EACH ROW guard: BEGIN\n  DECLARE owner VARCHAR(30) DEFAULT NULL;\n  DECLARE message VARCHAR(500);\n{trusted}  INSERT INTO {names} (`name`, `counter_table`) VALUES (NEW.`name`, '{table}') ON DUPLICATE KEY UPDATE `counter_table` = `counter_table`;\n  SELECT `counter_table` INTO owner FROM {names} WHERE `name` = NEW.`name` LOCK IN SHARE MODE;\n  IF owner <> '{table}' THEN\n    SET message = CONCAT('sequence ', QUOTE(NEW.`name`), ' is numbered from ', owner, ', so {table} refuses to create it{msg}');\n    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = message;\n  END IF;\nEND",
                        g = q(guard),
                        t = q(table),
                        msg = NOT_OURS.replace('\'', "''"),
                    ));
                }
                statements.push(format!(
                    "CREATE TRIGGER {g} BEFORE UPDATE ON {t} FOR EACH ROW BEGIN\n  DECLARE message VARCHAR(500);\n  IF OLD.`closed` AND (NEW.`last` <> OLD.`last` OR NOT NEW.`closed`) THEN\n    IF EXISTS (SELECT 1 FROM {names} WHERE `name` = NEW.`name` AND `counter_table` <> '{DJANGO_TABLE}') THEN\n      SET message = CONCAT('sequence ', QUOTE(NEW.`name`), ' {MOVED}');\n      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = message;\n    END IF;\n    IF NEW.`last` <> OLD.`last` THEN\n      SET message = CONCAT('sequence ', QUOTE(NEW.`name`), ' {CLOSED}');\n      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = message;\n    END IF;\n  END IF;\n  IF NEW.`max_value` IS NOT NULL AND NEW.`last` > NEW.`max_value` THEN\n    SET message = CONCAT('sequence ', QUOTE(NEW.`name`), ' {END}');\n    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = message;\n  END IF;\nEND",
                    g = q(WRITE_GUARD),
                    t = q(DJANGO_TABLE),
                ));
            }
            Self::Sqlite => {
                for (guard, table) in NAME_GUARDS {
                    // SQLite has one writer at a time.
                    statements.push(format!(
                        "CREATE TRIGGER {g} BEFORE INSERT ON {t} BEGIN INSERT OR IGNORE INTO {names} (\"name\", \"counter_table\") VALUES (NEW.\"name\", '{table}'); SELECT RAISE(ABORT, 'a sequence is numbered from another counter table, so {table} refuses to create it{msg}') WHERE (SELECT \"counter_table\" FROM {names} WHERE \"name\" = NEW.\"name\") <> '{table}'; END",
                        g = q(guard),
                        t = q(table),
                        msg = NOT_OURS.replace('\'', "''"),
                    ));
                }
                for (suffix, condition, message) in [
                    (
                        "moved",
                        format!(
                            "OLD.\"closed\" AND (NEW.\"last\" <> OLD.\"last\" OR NOT NEW.\"closed\") AND EXISTS (SELECT 1 FROM {names} WHERE \"name\" = NEW.\"name\" AND \"counter_table\" <> '{DJANGO_TABLE}')"
                        ),
                        MOVED,
                    ),
                    (
                        "closed",
                        format!(
                            "OLD.\"closed\" AND NEW.\"last\" <> OLD.\"last\" AND NOT EXISTS (SELECT 1 FROM {names} WHERE \"name\" = NEW.\"name\" AND \"counter_table\" <> '{DJANGO_TABLE}')"
                        ),
                        CLOSED,
                    ),
                    (
                        "end",
                        "NEW.\"max_value\" IS NOT NULL AND NEW.\"last\" > NEW.\"max_value\""
                            .to_owned(),
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
        for (guard, table) in NAME_GUARDS {
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
                for suffix in ["moved", "closed", "end"] {
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
        let (guard, _) = NAME_GUARDS[1];
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
    /// `last_day`, and the table the registry says it belongs to), locked,
    /// in name order: what `sequences import-django` moves.
    pub(crate) fn django_counters(self) -> Statement {
        let q = |c: &str| self.quote(c);
        let lock = if self == Self::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        Statement::from_string(
            self.backend(),
            format!(
                "SELECT {name}, {last}, {closed}, {day}, (SELECT {owner} FROM {names} WHERE {names}.{name} = {django}.{name}) FROM {django} ORDER BY {name}{lock}",
                name = q("name"),
                last = self.signed_last(crate::CounterTable::Django),
                closed = q("closed"),
                day = q("last_day"),
                owner = q("counter_table"),
                names = q(NAMES_TABLE),
                django = q(DJANGO_TABLE),
            ),
        )
    }

    /// The counter `name` moved out of `sequences_sequence`: the registry
    /// gives the name to `sequences`; with `create` (`None` when it is
    /// already there with that value), it is created in `sequences` with its
    /// `last`, `closed` and `last_day`; Django's row is closed and kept, so a
    /// Django writer waiting on it is refused (by the write guard) instead
    /// of creating it again at its first value.
    pub(crate) fn django_move(
        self,
        name: &str,
        create: Option<(i64, bool, Option<i32>)>,
    ) -> Vec<Statement> {
        let q = |c: &str| self.quote(c);
        let claim = match self {
            Self::Postgres | Self::Sqlite => format!(
                "INSERT INTO {n} ({name}, {owner}) VALUES ({{name}}, '{TABLE_NAME}') ON CONFLICT ({name}) DO UPDATE SET {owner} = '{TABLE_NAME}'",
                n = q(NAMES_TABLE),
                name = q("name"),
                owner = q("counter_table"),
            ),
            Self::MySql => format!(
                "INSERT INTO {n} ({name}, {owner}) VALUES ({{name}}, '{TABLE_NAME}') ON DUPLICATE KEY UPDATE {owner} = '{TABLE_NAME}'",
                n = q(NAMES_TABLE),
                name = q("name"),
                owner = q("counter_table"),
            ),
        };
        let close = format!(
            "UPDATE {} SET {} = TRUE WHERE {} = {{name}}",
            q(DJANGO_TABLE),
            q("closed"),
            q("name"),
        );
        let mut texts = vec![claim];
        if create.is_some() {
            texts.push(format!(
                "INSERT INTO {} ({}, {}, {}, {}) VALUES ({{name}}, {{last}}, {{closed}}, {{day}})",
                q(TABLE_NAME),
                q("name"),
                q("last"),
                q("closed"),
                q("last_day"),
            ));
        }
        texts.push(close);
        let (last, closed, last_day) = create.unwrap_or_default();
        texts
            .iter()
            .map(|text| {
                fill(
                    self,
                    text,
                    &[
                        ("name", &Arg::bind(name)),
                        ("last", &Arg::bind(last)),
                        ("closed", &Arg::bind(closed)),
                        ("day", &Arg::bind(sea_orm::Value::Int(last_day))),
                    ],
                )
                .statement(self)
            })
            .collect()
    }
}
