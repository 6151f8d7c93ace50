//! What the triggers read of the table and the database before they are
//! written (and checked): the schema, MariaDB's time zones and the
//! collation of the counter's name, the table's unique indexes, whether
//! SQLite's column takes a NULL. What a database cannot do is refused here.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::FieldPlan;
use crate::error::SequenceError;
use crate::sql::Dialect;

/// What only the database can tell: MariaDB's time zone tables and the
/// collation of the counter's name; whether SQLite's column takes a NULL.
pub(crate) async fn prepare<C: ConnectionTrait>(
    db: &C,
    dialect: Dialect,
    plan: &mut FieldPlan,
) -> Result<(), SequenceError> {
    let invalid = |reason: String| SequenceError::InvalidNumbering {
        target: plan.target.clone(),
        reason,
    };
    let failed = |source| SequenceError::Database {
        name: plan.target.clone(),
        source,
    };
    match dialect {
        Dialect::MySql => {
            if let Some(zone) = &plan.zone {
                let row = db
                    .query_one_raw(sea_orm::Statement::from_sql_and_values(
                        DbBackend::MySql,
                        "SELECT CONVERT_TZ('2000-01-01 00:00:00', '+00:00', ?) IS NOT NULL",
                        [zone.as_str().into()],
                    ))
                    .await
                    .map_err(failed)?;
                let known: bool = match row {
                    Some(row) => row.try_get_by_index::<i64>(0).map_err(failed)? == 1,
                    None => false,
                };
                if !known {
                    return Err(invalid(format!(
                        "time_zone = {zone:?} cannot be numbered by MariaDB/MySQL here: the \
                         server does not know the zone (its time zone tables are not loaded: \
                         mariadb-tzinfo-to-sql); load them, or number this field in the library"
                    )));
                }
            }
            // InnoDB runs no trigger for the rows a foreign key's action
            // changes: a cascaded rename of a frozen column would move
            // numbered rows to another sequence unguarded.
            let frozen: Vec<String> = plan
                .frozen_columns()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let rows = db
                .query_all_raw(sea_orm::Statement::from_sql_and_values(
                    DbBackend::MySql,
                    "SELECT CAST(k.COLUMN_NAME AS CHAR), CAST(r.CONSTRAINT_NAME AS CHAR) \
                     FROM information_schema.REFERENTIAL_CONSTRAINTS r \
                     JOIN information_schema.KEY_COLUMN_USAGE k \
                     ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME \
                     AND k.TABLE_NAME = r.TABLE_NAME \
                     WHERE r.CONSTRAINT_SCHEMA = DATABASE() AND r.TABLE_NAME = ? \
                     AND r.UPDATE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT')",
                    [plan.table.as_str().into()],
                ))
                .await
                .map_err(failed)?;
            for row in rows {
                let column: String = row.try_get_by_index(0).map_err(failed)?;
                let constraint: String = row.try_get_by_index(1).map_err(failed)?;
                if frozen.iter().any(|f| f.eq_ignore_ascii_case(&column)) {
                    return Err(invalid(format!(
                        "foreign key `{constraint}` of `{}` changes `{column}` ON UPDATE: \
                         MariaDB/MySQL run no trigger for the rows a foreign key's action \
                         changes, so a cascaded rename would move numbered rows to another \
                         sequence unguarded; make it ON UPDATE RESTRICT (or NO ACTION)",
                        plan.table
                    )));
                }
            }
        }
        Dialect::Sqlite => {
            let rows = db
                .query_all_raw(sea_orm::Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "SELECT \"notnull\" FROM pragma_table_info(?) WHERE \"name\" = ?",
                    [plan.table.as_str().into(), plan.column.as_str().into()],
                ))
                .await
                .map_err(failed)?;
            let not_null = match rows.first() {
                Some(row) => row.try_get_by_index::<i64>(0).map_err(failed)? != 0,
                None => {
                    return Err(invalid(format!(
                        "table `{}` has no column `{}` to number",
                        plan.table, plan.column
                    )));
                }
            };
            if not_null {
                return Err(invalid(format!(
                    "column `{}` is NOT NULL: SQLite's triggers cannot change a row before it \
                     is inserted, so the database numbers it just after, and the column must \
                     take a NULL until then; make it nullable (an Option field)",
                    plan.column
                )));
            }
            if let Some(index) = sqlite_unwatchable(db, &plan.table).await.map_err(failed)? {
                return Err(invalid(format!(
                    "unique index `{index}` of `{}` is partial or on an expression: a \
                     statement that replaces rows (INSERT OR REPLACE, UPDATE OR REPLACE) \
                     would delete the numbered rows it conflicts with, which the triggers \
                     cannot see; make it a plain unique index, or number this field in the \
                     library",
                    plan.table
                )));
            }
        }
        Dialect::Postgres => {}
    }
    let target = plan.target.clone();
    read_setting(db, dialect, plan)
        .await
        .map_err(|source| SequenceError::Database {
            name: target,
            source,
        })
}

/// What the triggers name from the database: the schema (PostgreSQL) or
/// database (MariaDB) of the crate's tables, and MariaDB's collation of
/// `sequences.name`.
pub(crate) async fn read_setting<C: ConnectionTrait>(
    db: &C,
    dialect: Dialect,
    plan: &mut FieldPlan,
) -> Result<(), DbErr> {
    let sql = match dialect {
        // Where the counter table is, found as every table is.
        Dialect::Postgres => &format!(
            "SELECT CAST(n.nspname AS TEXT) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = {}",
            dialect.table_oid(&format!("'{}'", crate::entity::TABLE_NAME))
        ),
        Dialect::MySql => "SELECT CAST(DATABASE() AS CHAR)",
        Dialect::Sqlite => {
            (plan.unique, plan.unique_collations) = sqlite_unique(db, &plan.table).await?;
            return Ok(());
        }
    };
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(dialect.backend(), sql))
        .await?;
    plan.schema = match row {
        Some(row) => row.try_get_by_index::<Option<String>>(0)?,
        None => None,
    };
    if dialect == Dialect::MySql {
        plan.name_collation = name_collation(db).await?;
    }
    if dialect == Dialect::Postgres {
        (plan.unique, plan.unique_collations, plan.unique_nulls_equal) =
            postgres_unique(db, &plan.table).await?;
    }
    Ok(())
}

/// PostgreSQL: the table's unique indexes other than its primary key: each
/// one's columns in order, their collations where an index column has its
/// own, and whether NULLs are equal in it (`NULLS NOT DISTINCT`). Partial
/// and expression indexes are left out, and so are deferrable constraints
/// (checked at COMMIT, they let the row in): the insert trigger cannot
/// foresee their conflicts, and the statement-level check refuses what
/// they make an `ON CONFLICT` skip.
#[allow(clippy::type_complexity)]
async fn postgres_unique<C: ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<(Vec<Vec<String>>, Vec<Vec<Option<String>>>, Vec<bool>), DbErr> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT CAST(i.indexrelid AS BIGINT), CAST(a.attname AS TEXT), \
             CASE WHEN c.oid IS NOT NULL AND c.oid <> a.attcollation THEN CAST(c.collname AS TEXT) END, \
             COALESCE(CAST(to_jsonb(i) ->> 'indnullsnotdistinct' AS BOOLEAN), FALSE) FROM pg_index i \
             CROSS JOIN LATERAL unnest(CAST(i.indkey AS int2[]), CAST(i.indcollation AS oid[])) WITH ORDINALITY AS k(attnum, coll, o) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             LEFT JOIN pg_collation c ON c.oid = k.coll \
             WHERE i.indrelid = {} AND i.indisunique AND NOT i.indisprimary \
             AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY 1, k.o",
            Dialect::Postgres.table_oid("$1")),
            [table.into()],
        ))
        .await?;
    let mut unique: Vec<(i64, Vec<String>, Vec<Option<String>>, bool)> = Vec::new();
    for row in rows {
        let index: i64 = row.try_get_by_index(0)?;
        let column: String = row.try_get_by_index(1)?;
        let collation: Option<String> = row.try_get_by_index(2)?;
        let nulls_equal: bool = row.try_get_by_index(3)?;
        match unique.last_mut() {
            Some((last, columns, collations, _)) if *last == index => {
                columns.push(column);
                collations.push(collation);
            }
            _ => unique.push((index, vec![column], vec![collation], nulls_equal)),
        }
    }
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (_, columns, collations, nulls_equal) in unique {
        out.0.push(columns);
        out.1.push(collations);
        out.2.push(nulls_equal);
    }
    Ok(out)
}

/// SQLite: the columns of the table's plain unique indexes (those its
/// UNIQUE constraints made included) and their collations, each index's
/// in order.
async fn sqlite_unique<C: ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<(Vec<Vec<String>>, Vec<Vec<Option<String>>>), DbErr> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT il.name, ii.name, ii.coll FROM pragma_index_list(?) AS il \
             JOIN pragma_index_xinfo(il.name) AS ii WHERE il.\"unique\" AND ii.\"key\" \
             AND NOT il.partial AND NOT EXISTS (SELECT 1 FROM pragma_index_xinfo(il.name) AS e \
             WHERE e.\"key\" AND e.cid < 0) ORDER BY il.name, ii.seqno",
            [table.into()],
        ))
        .await?;
    let mut unique: Vec<(String, Vec<String>, Vec<Option<String>>)> = Vec::new();
    for row in rows {
        let index: String = row.try_get_by_index(0)?;
        let column: String = row.try_get_by_index(1)?;
        let collation: Option<String> = row.try_get_by_index(2)?;
        match unique.last_mut() {
            Some((last, columns, collations)) if *last == index => {
                columns.push(column);
                collations.push(collation);
            }
            _ => unique.push((index, vec![column], vec![collation])),
        }
    }
    let mut out: (Vec<Vec<String>>, Vec<Vec<Option<String>>>) = unique
        .into_iter()
        .map(|(_, columns, collations)| (columns, collations))
        .unzip();
    // The rowid is a unique key of its own (unless the table is WITHOUT
    // ROWID): a REPLACE that names a row's rowid deletes that row too. It is
    // named by the first of its three names that no column took (a table
    // whose columns took all three has a rowid no statement can name).
    for alias in ["rowid", "_rowid_", "oid"] {
        let taken = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT 1 FROM pragma_table_xinfo(?) WHERE lower(name) = ?",
                [table.into(), alias.into()],
            ))
            .await?
            .is_some();
        if taken {
            continue;
        }
        let rowid = db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                format!(
                    "SELECT {alias} FROM {} LIMIT 0",
                    Dialect::Sqlite.quote(table)
                ),
            ))
            .await
            .is_ok();
        if rowid {
            out.0.push(vec![alias.to_owned()]);
            out.1.push(vec![None]);
        }
        break;
    }
    Ok(out)
}

/// SQLite: a unique index of the table that is partial or on an
/// expression, whose conflicts the triggers cannot tell.
async fn sqlite_unwatchable<C: ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<Option<String>, DbErr> {
    db.query_one_raw(sea_orm::Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "SELECT il.name FROM pragma_index_list(?) AS il WHERE il.\"unique\" AND (il.partial \
         OR EXISTS (SELECT 1 FROM pragma_index_xinfo(il.name) AS e WHERE e.\"key\" AND e.cid < 0))",
        [table.into()],
    ))
    .await?
    .map(|row| row.try_get_by_index(0))
    .transpose()
}

/// MariaDB/MySQL: the collation of `sequences.name`.
async fn name_collation<C: ConnectionTrait>(db: &C) -> Result<Option<String>, DbErr> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::MySql,
            "SELECT CAST(COLLATION_NAME AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'name'",
            [crate::entity::TABLE_NAME.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<Option<String>>(0)?,
        None => None,
    })
}
