//! Is this connection inside a transaction? Asked before a gapless fill,
//! because outside one a failed insert would leave a gap.

use std::any::type_name;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};

use crate::sql::Dialect;

/// Whether statements sent through `db` run inside a transaction (or savepoint).
///
/// `DatabaseTransaction` and `DatabaseConnection` are told apart by type, at no
/// cost. Any other connection type (`DatabaseExecutor`, `RestrictedConnection`,
/// a wrapper of your own) is asked in one statement:
/// - PostgreSQL: `SAVEPOINT ..; RELEASE SAVEPOINT ..` in one call fails (25P01)
///   only outside a transaction block, and leaves nothing behind either way;
/// - MariaDB: `@@in_transaction`;
/// - SQLite: `BEGIN; ROLLBACK` in one call fails only inside a transaction,
///   and outside one opens and closes an empty transaction on the same connection.
///
/// ```no_run
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sea_orm::TransactionTrait;
/// assert!(!sequences_core::in_transaction(db).await?);
/// let txn = db.begin().await?;
/// assert!(sequences_core::in_transaction(&txn).await?);
/// # Ok(()) }
/// ```
pub async fn in_transaction<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    let name = type_name::<C>().trim_start_matches('&');
    if name == type_name::<DatabaseTransaction>() {
        return Ok(true);
    }
    if name == type_name::<DatabaseConnection>() {
        return Ok(false);
    }
    Dialect::of(db.get_database_backend())?
        .probe_transaction(db)
        .await
}
