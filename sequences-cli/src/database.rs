//! Connecting, and refusing a database whose schema is older than the
//! library before any command runs.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    QuerySelect, RuntimeErr, Statement,
};
use sequences_cli::connect::probe;
use sequences_cli::redact::Secrets;
use sequences_core::entity::{self, void};

use crate::error::{CliError, KEYED_FIX, Kind, schema_outdated};
use crate::table::CatalogColumn;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of two connections (a write's transaction, and the look at who
/// holds the sequence when it waits too long). `busy` is SQLite's busy
/// timeout: how long a statement waits for another writer.
pub async fn connect(
    url: &str,
    secrets: &Secrets,
    busy: Duration,
) -> Result<DatabaseConnection, CliError> {
    let cannot = |error: &dyn std::fmt::Display| {
        CliError::new(
            Kind::Connection,
            format!("cannot connect to {}: {error}", secrets.url()),
        )
    };
    probe(url, CONNECT_TIMEOUT)
        .await
        .map_err(|error| cannot(&error))?;
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(2)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| o.busy_timeout(busy).create_if_missing(false));
    let db = Database::connect(options)
        .await
        .map_err(|error| cannot(&error))?;
    check_schema(&db).await?;
    Ok(db)
}

/// Reads no row of `sequences` (every column the library uses) and of
/// `sequence_voids`: a database the server says lacks one is outdated, the
/// same message on every command.
async fn check_schema(db: &DatabaseConnection) -> Result<(), CliError> {
    let sequences = entity::Entity::find().limit(0).all(db).await.map(drop);
    let voids = match sequences {
        Ok(()) => void::Entity::find().limit(0).all(db).await.map(drop),
        Err(error) => Err(error),
    };
    match voids {
        Ok(()) => Ok(()),
        Err(error) if raised_by_the_server(&error) => {
            Err(CliError::new(Kind::SchemaOutdated, schema_outdated()))
        }
        Err(error) => Err(CliError::database(&error)),
    }
}

/// Refuses a keyed chain's work on a database without
/// `KeyedChainMigration` (`sequences.chain_seal`, `sequence_voids.chain_auth`).
pub async fn check_keyed_schema(db: &DatabaseConnection) -> Result<(), CliError> {
    for (table, column) in [
        (entity::TABLE_NAME, "chain_seal"),
        (entity::VOIDS_TABLE, "chain_auth"),
    ] {
        // Qualified: SQLite reads an unknown "column" alone as a string.
        let query = Query::select()
            .column((Alias::new(table), Alias::new(column)))
            .from(Alias::new(table))
            .limit(0)
            .to_owned();
        match db
            .query_all_raw(db.get_database_backend().build(&query))
            .await
        {
            Ok(_) => {}
            Err(error) if raised_by_the_server(&error) => {
                return Err(CliError::new(
                    Kind::SchemaOutdated,
                    format!(
                        "a keyed chain needs `{table}`.`{column}`, which the database lacks: \
                         {KEYED_FIX}"
                    ),
                ));
            }
            Err(error) => return Err(CliError::database(&error)),
        }
    }
    Ok(())
}

/// Whether sequence `name`'s chain is keyed (its head is sealed); `false` on
/// a database without `KeyedChainMigration`, where no chain can be.
pub async fn is_sealed(db: &DatabaseConnection, name: &str) -> Result<bool, CliError> {
    let table = Alias::new(entity::TABLE_NAME);
    let query = Query::select()
        .column((table.clone(), Alias::new("chain_seal")))
        .from(table.clone())
        .and_where(Expr::col((table, Alias::new("name"))).eq(name))
        .to_owned();
    match db
        .query_one_raw(db.get_database_backend().build(&query))
        .await
    {
        Ok(row) => Ok(row
            .map(|row| row.try_get_by_index::<Option<String>>(0))
            .transpose()
            .map_err(|e| CliError::database(&e))?
            .flatten()
            .is_some()),
        Err(error) if raised_by_the_server(&error) => Ok(false),
        Err(error) => Err(CliError::database(&error)),
    }
}

/// Whether the server answered with an error (rather than the connection failing).
fn raised_by_the_server(error: &DbErr) -> bool {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), sea_orm::sqlx::Error::Database(_))
        }
        _ => false,
    }
}

/// The columns of `table` as the catalog lists them, in the table's order;
/// an empty list when there is no such table.
pub async fn catalog_columns(
    db: &DatabaseConnection,
    table: &str,
) -> Result<Vec<CatalogColumn>, CliError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT CAST(a.attname AS TEXT), format_type(a.atttypid, a.atttypmod), \
                    CAST(CAST(NOT a.attnotnull AS INTEGER) AS BIGINT), \
                    CAST(CAST(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid \
                                 AND i.indisprimary AND a.attnum = ANY(i.indkey)) AS INTEGER) AS BIGINT) \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 \
               AND NOT a.attisdropped \
             ORDER BY a.attnum"
        }
        DbBackend::MySql => {
            // A `timestamp` is UTC there (SeaORM's `DateTimeUtc`).
            "SELECT CAST(COLUMN_NAME AS CHAR), \
                    CAST(CASE WHEN DATA_TYPE = 'timestamp' THEN 'timestamp_utc' ELSE COLUMN_TYPE END AS CHAR), \
                    CAST(IS_NULLABLE = 'YES' AS SIGNED), CAST(COLUMN_KEY = 'PRI' AS SIGNED) \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION"
        }
        _ => {
            "SELECT name, type, CAST(\"notnull\" = 0 AS INTEGER), CAST(pk > 0 AS INTEGER) \
             FROM pragma_table_info(?) ORDER BY cid"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [table.into()]))
        .await
        .map_err(|e| CliError::database(&e))?;
    rows.iter()
        .map(|row| {
            Ok(CatalogColumn {
                name: row.try_get_by_index(0)?,
                type_name: row.try_get_by_index(1)?,
                nullable: row.try_get_by_index::<i64>(2)? != 0,
                primary_key: row.try_get_by_index::<i64>(3)? != 0,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(|e| CliError::database(&e))
}

/// A hash-chained sequence whose name starts with `prefix`, if any: the
/// sequences a template may name (`receipt-` for `receipt-{till}`, with its
/// periods), compared as text.
pub async fn chained_sequence(
    db: &DatabaseConnection,
    prefix: &str,
) -> Result<Option<String>, CliError> {
    let table = Alias::new(entity::TABLE_NAME);
    let query = Query::select()
        .column((table.clone(), Alias::new("name")))
        .from(table.clone())
        .and_where(entity::name_starts_with(prefix))
        .and_where(Expr::col((table, Alias::new("chain_head"))).is_not_null())
        .limit(1)
        .to_owned();
    let row = db
        .query_one_raw(db.get_database_backend().build(&query))
        .await
        .map_err(|e| CliError::database(&e))?;
    row.map(|row| row.try_get_by_index::<String>(0))
        .transpose()
        .map_err(|e| CliError::database(&e))
}
