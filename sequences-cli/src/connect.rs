//! Failing fast on a server that cannot be reached.

use std::time::Duration;

use sea_orm::sqlx::{self, Connection as _};

/// Opens one connection to the server of `url`, outside any pool, and closes
/// it: sqlx's pool retries a refused connection until its acquire timeout,
/// this fails at once with the driver's reason ("Connection refused"). Call it
/// before `Database::connect`. SQLite and URLs the driver cannot read pass
/// (the pool's own error says why); the error may hold the URL's secrets.
pub async fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        once::<sqlx::postgres::PgConnectOptions>(url, timeout).await
    } else if url.starts_with("mysql://") {
        once::<sqlx::mysql::MySqlConnectOptions>(url, timeout).await
    } else {
        Ok(())
    }
}

async fn once<O>(url: &str, timeout: Duration) -> Result<(), String>
where
    O: sqlx::ConnectOptions,
    O::Connection: Sized,
{
    let Ok(options) = O::from_str(url) else {
        return Ok(());
    };
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(connection)) => {
            // Closing is a courtesy: the pool opens connections of its own.
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}
