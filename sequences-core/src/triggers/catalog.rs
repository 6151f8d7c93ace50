//! What is installed: the guards' register (`sequences_guards`, one row per
//! guarded field: the digest of the triggers the description gives, and of
//! the triggers as the catalog showed them once installed), and the
//! catalog's own text of a table's triggers, enabled state included, so a
//! trigger dropped, disabled or edited by hand no longer matches.

use sea_orm::sea_query::{
    Alias, ColumnDef, Condition, Expr, ExprTrait, Index, OnConflict, Query, Table,
};
use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::sql::Dialect;

/// The register of guarded fields.
pub(crate) const GUARDS_TABLE: &str = "sequences_guards";

/// Creates the register if it is missing.
pub(crate) fn create_register(d: Dialect) -> Statement {
    let create = Table::create()
        .table(Alias::new(GUARDS_TABLE))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("table_name"))
                .string_len(191)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("column_name"))
                .string_len(191)
                .not_null(),
        )
        .col(ColumnDef::new(Alias::new("triggers")).text().not_null())
        .col(
            ColumnDef::new(Alias::new("description"))
                .char_len(64)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("installed"))
                .char_len(64)
                .not_null(),
        )
        .primary_key(
            Index::create()
                .col(Alias::new("table_name"))
                .col(Alias::new("column_name")),
        )
        .to_owned();
    d.backend().build(&create)
}

/// SQLite: creates the table of rows a statement is about to replace
/// (`entity::REPLACED_TABLE`), if it is missing.
pub(crate) fn create_replaced(d: Dialect) -> Option<&'static str> {
    (d == Dialect::Sqlite).then_some(
        "CREATE TABLE IF NOT EXISTS \"sequences_replaced\" (\"target\" TEXT NOT NULL, \"op\" TEXT NOT NULL, \"value\" INTEGER, \"name\" TEXT NOT NULL); \
         CREATE INDEX IF NOT EXISTS \"sequences_replaced_target\" ON \"sequences_replaced\" (\"target\", \"op\")",
    )
}

/// Records (or replaces) a field's triggers and digests.
pub(crate) fn record(d: Dialect, entry: &Entry, table: &str, column: &str) -> Statement {
    let [name, field, triggers, description, installed] = [
        "table_name",
        "column_name",
        "triggers",
        "description",
        "installed",
    ]
    .map(Alias::new);
    let insert = Query::insert()
        .into_table(Alias::new(GUARDS_TABLE))
        .columns([
            name.clone(),
            field.clone(),
            triggers.clone(),
            description.clone(),
            installed.clone(),
        ])
        .values_panic([
            table.into(),
            column.into(),
            entry.triggers.join(",").into(),
            entry.description.clone().into(),
            entry.installed.clone().into(),
        ])
        .on_conflict(
            OnConflict::columns([name, field])
                .update_columns([triggers, description, installed])
                .to_owned(),
        )
        .to_owned();
    d.backend().build(&insert)
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
    let delete = Query::delete()
        .from_table(Alias::new(GUARDS_TABLE))
        .cond_where(field_is(table, column))
        .to_owned();
    d.backend().build(&delete)
}

/// The register's row of `table.column`.
fn field_is(table: &str, column: &str) -> Condition {
    Condition::all()
        .add(Expr::col(Alias::new("table_name")).eq(table))
        .add(Expr::col(Alias::new("column_name")).eq(column))
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
    let select = Query::select()
        .columns(["triggers", "description", "installed"].map(Alias::new))
        .from(Alias::new(GUARDS_TABLE))
        .cond_where(field_is(table, column))
        .to_owned();
    let row = db.query_one_raw(d.backend().build(&select)).await?;
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
    let pg = format!("SELECT 1 WHERE {} IS NOT NULL", d.table_oid("$1"));
    let sql = match d {
        Dialect::Postgres => pg.as_str(),
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

/// The catalog's text of every trigger of `table` (on PostgreSQL with its
/// enabled state, its function's source, settings, security, owner and
/// schema), by name: ours and any other, so that a trigger added beside
/// ours (one that rewrites the number after ours) shows too.
pub(crate) async fn installed<C: ConnectionTrait>(
    db: &C,
    d: Dialect,
    table: &str,
) -> Result<Vec<(String, String)>, DbErr> {
    let pg = format!(
        "SELECT CAST(t.tgname AS TEXT), CAST(t.tgenabled AS TEXT) || ' ' || pg_get_triggerdef(t.oid) || ' ' || p.prosrc \
         || ' ' || COALESCE(array_to_string(p.proconfig, ','), '') || ' ' || CAST(p.prosecdef AS TEXT) \
         || ' ' || CAST(p.proowner AS TEXT) || ' ' || CAST(p.pronamespace AS TEXT) \
         FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE t.tgrelid = {} AND NOT t.tgisinternal",
        d.table_oid("$1")
    );
    let sql = match d {
        Dialect::Postgres => pg.as_str(),
        Dialect::MySql => {
            "SELECT CAST(TRIGGER_NAME AS CHAR), CAST(CONCAT(EVENT_MANIPULATION, ' ', ACTION_TIMING, ' ', ACTION_STATEMENT) AS CHAR) \
             FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?"
        }
        // And its unique indexes: a REPLACE on one added since the
        // triggers were installed deletes rows they do not watch.
        Dialect::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1 \
             UNION ALL SELECT 'unique index ' || il.name, COALESCE(m.sql, il.origin) \
             FROM pragma_index_list(?1) AS il LEFT JOIN sqlite_master AS m ON m.name = il.name \
             WHERE il.\"unique\""
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
        found.push((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
    }
    found.sort();
    Ok(found)
}

/// Records, for every guarded field of `table`, the digest of the table's
/// triggers as they are now.
pub(crate) async fn seal<C: ConnectionTrait>(db: &C, d: Dialect, table: &str) -> Result<(), DbErr> {
    let digest = installed_digest(&installed(db, d, table).await?);
    let sql = match d {
        Dialect::MySql => {
            format!("UPDATE `{GUARDS_TABLE}` SET `installed` = ? WHERE `table_name` = ?")
        }
        Dialect::Postgres => {
            format!("UPDATE \"{GUARDS_TABLE}\" SET \"installed\" = $1 WHERE \"table_name\" = $2")
        }
        Dialect::Sqlite => {
            format!("UPDATE \"{GUARDS_TABLE}\" SET \"installed\" = ? WHERE \"table_name\" = ?")
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        d.backend(),
        sql,
        [digest.into(), table.into()],
    ))
    .await?;
    Ok(())
}

/// The bodies of `table`'s triggers as the catalog keeps them verbatim
/// (PostgreSQL: each function's source; MariaDB: each trigger's statement;
/// SQLite: each trigger's `CREATE` text), by trigger (or function) name.
pub(crate) async fn bodies<C: ConnectionTrait>(
    db: &C,
    d: Dialect,
    table: &str,
) -> Result<Vec<(String, String)>, DbErr> {
    let pg = format!(
        "SELECT CAST(p.proname AS TEXT), p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE t.tgrelid = {} AND NOT t.tgisinternal",
        d.table_oid("$1")
    );
    let sql = match d {
        Dialect::Postgres => pg.as_str(),
        Dialect::MySql => {
            "SELECT CAST(TRIGGER_NAME AS CHAR), CAST(ACTION_STATEMENT AS CHAR) FROM information_schema.TRIGGERS \
             WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?"
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
    rows.into_iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// The bodies the install statements give, as [`bodies`] reads them back.
pub(crate) fn expected_bodies(d: Dialect, install: &[String]) -> Vec<(String, String)> {
    let name_after = |statement: &str, keyword: &str| -> Option<String> {
        let rest = &statement[statement.find(keyword)? + keyword.len()..];
        let quote = if d == Dialect::MySql { '`' } else { '"' };
        let rest = rest.trim_start().strip_prefix(quote)?;
        Some(rest[..rest.find(quote)?].to_owned())
    };
    install
        .iter()
        .filter_map(|statement| match d {
            Dialect::Postgres if statement.starts_with("CREATE OR REPLACE FUNCTION") => {
                let body = statement
                    .split_once("$sequences$")?
                    .1
                    .rsplit_once("$sequences$")?
                    .0;
                Some((name_after(statement, "FUNCTION")?, body.to_owned()))
            }
            Dialect::MySql if statement.starts_with("CREATE TRIGGER") => Some((
                name_after(statement, "TRIGGER")?,
                statement.split_once("FOR EACH ROW\n")?.1.to_owned(),
            )),
            Dialect::Sqlite if statement.starts_with("CREATE TRIGGER") => {
                Some((name_after(statement, "TRIGGER")?, statement.clone()))
            }
            _ => None,
        })
        .collect()
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
    let found = installed(db, d, table).await?;
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
