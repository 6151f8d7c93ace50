//! Connecting, and refusing a database whose schema is older than the
//! library before any command runs.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, EntityTrait, QuerySelect, RuntimeErr,
};
use sequences_cli::connect::probe;
use sequences_cli::redact::Secrets;
use sequences_core::entity::{self, void};

use crate::error::{CliError, Kind, schema_outdated};

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

/// Whether the server answered with an error (rather than the connection failing).
fn raised_by_the_server(error: &DbErr) -> bool {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), sea_orm::sqlx::Error::Database(_))
        }
        _ => false,
    }
}
