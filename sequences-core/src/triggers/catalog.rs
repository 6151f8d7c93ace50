//! What is installed: the guards' register (`sequences_guards`, one row per
//! guarded field: the digest of the triggers the description gives, and of
//! the triggers as the catalog showed them once installed), and the
//! catalog's own text of a table's triggers, enabled state included, so a
//! trigger dropped, disabled or edited by hand no longer matches.

use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::dialect::Dialect;

/// The register of guarded fields.
pub(crate) const GUARDS_TABLE: &str = "sequences_guards";

/// Creates the register if it is missing.
pub(crate) fn create_register(d: Dialect) -> Statement {
    let sql = match d {
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS `{GUARDS_TABLE}` (`table_name` VARCHAR(191) NOT NULL, `column_name` VARCHAR(191) NOT NULL, `triggers` TEXT NOT NULL, `description` CHAR(64) NOT NULL, `installed` CHAR(64) NOT NULL, PRIMARY KEY (`table_name`, `column_name`))"
        ),
        Dialect::Postgres | Dialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS \"{GUARDS_TABLE}\" (\"table_name\" VARCHAR(191) NOT NULL, \"column_name\" VARCHAR(191) NOT NULL, \"triggers\" TEXT NOT NULL, \"description\" CHAR(64) NOT NULL, \"installed\" CHAR(64) NOT NULL, PRIMARY KEY (\"table_name\", \"column_name\"))"
        ),
    };
    Statement::from_string(d.backend(), sql)
}

/// Records (or replaces) a field's triggers and digests.
pub(crate) fn record(d: Dialect, entry: &Entry, table: &str, column: &str) -> Statement {
    let sql = match d {
        Dialect::MySql => format!(
            "INSERT INTO `{GUARDS_TABLE}` (`table_name`, `column_name`, `triggers`, `description`, `installed`) VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE `triggers` = VALUES(`triggers`), `description` = VALUES(`description`), `installed` = VALUES(`installed`)"
        ),
        Dialect::Postgres => format!(
            "INSERT INTO \"{GUARDS_TABLE}\" (\"table_name\", \"column_name\", \"triggers\", \"description\", \"installed\") VALUES ($1, $2, $3, $4, $5) ON CONFLICT (\"table_name\", \"column_name\") DO UPDATE SET \"triggers\" = EXCLUDED.\"triggers\", \"description\" = EXCLUDED.\"description\", \"installed\" = EXCLUDED.\"installed\""
        ),
        Dialect::Sqlite => format!(
            "INSERT INTO \"{GUARDS_TABLE}\" (\"table_name\", \"column_name\", \"triggers\", \"description\", \"installed\") VALUES (?, ?, ?, ?, ?) ON CONFLICT (\"table_name\", \"column_name\") DO UPDATE SET \"triggers\" = excluded.\"triggers\", \"description\" = excluded.\"description\", \"installed\" = excluded.\"installed\""
        ),
    };
    Statement::from_sql_and_values(
        d.backend(),
        sql,
        [
            table.into(),
            column.into(),
            entry.triggers.join(",").into(),
            entry.description.clone().into(),
            entry.installed.clone().into(),
        ],
    )
}

/// A guarded field's row of the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The names of its triggers.
    pub(crate) triggers: Vec<String>,
    /// The digest of the statements its description gave.
    pub(crate) description: String,
    /// The digest of the catalog's text of its triggers, once installed.
    pub(crate) installed: String,
}

/// Forgets a field.
pub(crate) fn forget(d: Dialect, table: &str, column: &str) -> Statement {
    let sql = match d {
        Dialect::MySql => {
            format!("DELETE FROM `{GUARDS_TABLE}` WHERE `table_name` = ? AND `column_name` = ?")
        }
        Dialect::Postgres => format!(
            "DELETE FROM \"{GUARDS_TABLE}\" WHERE \"table_name\" = $1 AND \"column_name\" = $2"
        ),
        Dialect::Sqlite => format!(
            "DELETE FROM \"{GUARDS_TABLE}\" WHERE \"table_name\" = ? AND \"column_name\" = ?"
        ),
    };
    Statement::from_sql_and_values(d.backend(), sql, [table.into(), column.into()])
}

/// A field's row of the register, if the register exists and holds it.
pub(crate) async fn recorded<C: ConnectionTrait>(
    db: &C,
    d: Dialect,
    table: &str,
    column: &str,
) -> Result<Option<Entry>, DbErr> {
    if !register_exists(db, d).await? {
        return Ok(None);
    }
    let sql = match d {
        Dialect::MySql => format!(
            "SELECT `triggers`, `description`, `installed` FROM `{GUARDS_TABLE}` WHERE `table_name` = ? AND `column_name` = ?"
        ),
        Dialect::Postgres => format!(
            "SELECT \"triggers\", \"description\", \"installed\" FROM \"{GUARDS_TABLE}\" WHERE \"table_name\" = $1 AND \"column_name\" = $2"
        ),
        Dialect::Sqlite => format!(
            "SELECT \"triggers\", \"description\", \"installed\" FROM \"{GUARDS_TABLE}\" WHERE \"table_name\" = ? AND \"column_name\" = ?"
        ),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            d.backend(),
            sql,
            [table.into(), column.into()],
        ))
        .await?;
    row.map(|row| {
        let triggers: String = row.try_get_by_index(0)?;
        Ok(Entry {
            triggers: triggers
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
            description: row.try_get_by_index::<String>(1)?.trim().to_owned(),
            installed: row.try_get_by_index::<String>(2)?.trim().to_owned(),
        })
    })
    .transpose()
}

async fn register_exists<C: ConnectionTrait>(db: &C, d: Dialect) -> Result<bool, DbErr> {
    let sql = match d {
        Dialect::Postgres => {
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
        }
        Dialect::MySql => {
            "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
        }
        Dialect::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    };
    Ok(db
        .query_one_raw(Statement::from_sql_and_values(
            d.backend(),
            sql,
            [GUARDS_TABLE.into()],
        ))
        .await?
        .is_some())
}

/// The catalog's text of each trigger of `table` named in `names` (with
/// its function's source and enabled state on PostgreSQL), by name.
pub(crate) async fn installed<C: ConnectionTrait>(
    db: &C,
    d: Dialect,
    table: &str,
    names: &[&str],
) -> Result<Vec<(String, String)>, DbErr> {
    let sql = match d {
        Dialect::Postgres => {
            "SELECT CAST(t.tgname AS TEXT), CAST(t.tgenabled AS TEXT) || ' ' || pg_get_triggerdef(t.oid) || ' ' || p.prosrc \
             FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_class c ON c.oid = t.tgrelid \
             WHERE c.relname = $1 AND pg_table_is_visible(c.oid) AND NOT t.tgisinternal"
        }
        Dialect::MySql => {
            "SELECT CAST(TRIGGER_NAME AS CHAR), CAST(CONCAT(EVENT_MANIPULATION, ' ', ACTION_TIMING, ' ', ACTION_STATEMENT) AS CHAR) \
             FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?"
        }
        Dialect::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            d.backend(),
            sql,
            [table.into()],
        ))
        .await?;
    let mut found = Vec::new();
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        if names.contains(&name.as_str()) {
            found.push((name, row.try_get_by_index(1)?));
        }
    }
    found.sort();
    Ok(found)
}

/// The state of a field's triggers: what the register recorded, against
/// what the catalog shows now, and (with `expected`, the register entry the
/// current description would write, its `installed` unknown) against the
/// description.
pub(crate) async fn state<C: ConnectionTrait>(
    db: &C,
    d: Dialect,
    table: &str,
    column: &str,
    expected: Option<&Entry>,
) -> Result<Option<super::TriggerState>, DbErr> {
    use super::TriggerState;
    let Some(entry) = recorded(db, d, table, column).await? else {
        return Ok(expected.map(|_| TriggerState::NotInstalled));
    };
    let names: Vec<&str> = entry.triggers.iter().map(String::as_str).collect();
    let found = installed(db, d, table, &names).await?;
    let missing: Vec<String> = entry
        .triggers
        .iter()
        .filter(|name| !found.iter().any(|(n, _)| n == *name))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Ok(Some(TriggerState::Missing { triggers: missing }));
    }
    if installed_digest(&found) != entry.installed {
        return Ok(Some(TriggerState::Altered));
    }
    if expected.is_some_and(|e| e.description != entry.description || e.triggers != entry.triggers)
    {
        return Ok(Some(TriggerState::Outdated));
    }
    Ok(Some(TriggerState::Intact))
}

/// The digest of the catalog's texts.
pub(crate) fn installed_digest(found: &[(String, String)]) -> String {
    super::digest(
        found
            .iter()
            .flat_map(|(name, text)| [name.as_str(), text.as_str()]),
    )
}
