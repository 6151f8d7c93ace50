//! The numberer: a task on the application's tokio runtime that runs
//! [`Numbering::number_pending`] again and again, so rows of an
//! [`after_commit`](crate::NumberedField::after_commit) field get their
//! numbers a few milliseconds after they commit.
//!
//! It wakes on PostgreSQL's LISTEN/NOTIFY where it can (the `sqlx-postgres`
//! feature, and the table's triggers installed: each INSERT notifies at its
//! COMMIT), and polls with backoff otherwise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityName, EntityTrait};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::Numbering;

/// A running numberer; [`shutdown`](Self::shutdown) stops it between two
/// batches (a batch is never cut: it commits whole or not at all).
///
/// ```no_run
/// # mod receipt {
/// #     use sea_orm::entity::prelude::*;
/// #     use sequences_core::Gapless;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
/// #     #[sea_orm(table_name = "receipt")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         #[gapless(sequence = "receipt", after_commit, on_delete = "allow")]
/// #         pub number: Option<i64>,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// # async fn demo(db: sea_orm::DatabaseConnection) {
/// use sequences_core::Numberer;
///
/// let numberer = Numberer::spawn(receipt::ActiveModel::gapless_numbering(), db);
/// // ... the application runs; receipts commit unnumbered and get numbers ...
/// let numbered = numberer.shutdown().await;
/// # let _ = numbered; }
/// ```
#[derive(Debug)]
pub struct Numberer {
    stop: watch::Sender<bool>,
    task: JoinHandle<u64>,
}

/// How long an idle numberer waits before looking again, at most.
const IDLE: Duration = Duration::from_millis(20);

/// Listening, how long a numberer with nothing to do for a while waits for a
/// notification before looking anyway (a notification lost while its
/// connection was down, a row held back by a long transaction).
const LISTENING_IDLE: Duration = Duration::from_secs(1);

/// How long after its last work a listening numberer still polls every
/// `idle`: rows committed behind a transaction still running are taken once
/// it ends, which notifies nobody if it inserted nothing.
const RECENT: Duration = Duration::from_secs(1);

impl Numberer {
    /// Spawns a numberer of `numbering` on the current tokio runtime, with
    /// its own handle on the pool `db`. Idle, it looks again after 1 ms,
    /// then less and less often, up to every 20 ms; after a failure (the
    /// database restarting), it logs a warning and tries again.
    ///
    /// On PostgreSQL, with this crate's `sqlx-postgres` feature, it also
    /// LISTENs on its own connection (not one of the pool's) for the
    /// notification the table's triggers send at an insert's COMMIT
    /// ([`Numbering::install_triggers`]). A second after its last work it
    /// sleeps: it asks the inserts to notify it (a row in `sequences`,
    /// `numberer-asleep:<table>`, renewed at each look), wakes at the first,
    /// and otherwise looks once a second. While it works, inserts do not
    /// notify (PostgreSQL commits notifying transactions one at a time): it
    /// polls. A request nobody renews lapses in two seconds.
    pub fn spawn<K>(numbering: &'static Numbering<K>, db: DatabaseConnection) -> Self
    where
        K: ColumnTrait + Send + Sync,
        K::EntityName: EntityTrait<Column = K>,
        <K::EntityName as EntityTrait>::Model: Sync,
    {
        Self::spawn_with(numbering, db, IDLE)
    }

    /// [`spawn`](Self::spawn), looking again at most every `idle` when idle.
    pub fn spawn_with<K>(
        numbering: &'static Numbering<K>,
        db: DatabaseConnection,
        idle: Duration,
    ) -> Self
    where
        K: ColumnTrait + Send + Sync,
        K::EntityName: EntityTrait<Column = K>,
        <K::EntityName as EntityTrait>::Model: Sync,
    {
        let (stop, mut stopped) = watch::channel(false);
        let table = K::EntityName::default().table_name();
        let task = tokio::spawn(async move {
            let wake = Arc::new(Notify::new());
            let listener = listen::spawn(&db, table, wake.clone()).await;
            let asleep = crate::entity::numberer_asleep(table);
            // A request left by a numberer killed asleep: withdrawn (another
            // one asleep renews it within a second).
            if listener.is_some() {
                listen::ask(&db, &asleep, false).await;
            }
            let mut sleeping = false;
            let mut total = 0;
            let first = Duration::from_millis(1).min(idle);
            let mut pause = first;
            let mut worked = Instant::now();
            loop {
                if *stopped.borrow() {
                    break;
                }
                match numbering.number_pending(&db).await {
                    Ok(0) => {}
                    Ok(numbered) => {
                        total += numbered;
                        pause = first;
                        worked = Instant::now();
                        continue;
                    }
                    Err(error) => tracing::warn!(
                        target: "sequences",
                        %error,
                        "the numberer failed; it tries again",
                    ),
                }
                // Listening, with nothing to do for a while: it asks the
                // inserts to notify it, looks once more (a row committed
                // before they saw the request), then sleeps until notified,
                // renewing the request at each look (other numberers of the
                // table share it). Awake again, it withdraws it.
                let long = listener.is_some() && worked.elapsed() > RECENT;
                if long && listen::ask(&db, &asleep, true).await {
                    let first_look = !sleeping;
                    sleeping = true;
                    if first_look {
                        continue;
                    }
                } else if !long && sleeping && listen::ask(&db, &asleep, false).await {
                    sleeping = false;
                }
                let cap = if sleeping {
                    LISTENING_IDLE.max(idle)
                } else {
                    idle
                };
                pause = pause.min(cap);
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = wake.notified() => {
                        pause = first;
                        worked = Instant::now();
                        continue;
                    }
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(cap);
            }
            // A request left on stopping lapses in two seconds; withdrawn,
            // it would silence the inserts for another numberer asleep.
            if let Some(listener) = listener {
                listener.abort();
            }
            total
        });
        Self { stop, task }
    }

    /// Stops the numberer once its current batch is committed (or rolled
    /// back), and returns how many rows it numbered in all.
    pub async fn shutdown(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(0)
    }
}

/// The channel the triggers of a table numbered after COMMIT notify on
/// PostgreSQL at each insert's COMMIT, with the table's name as payload.
pub(crate) const CHANNEL: &str = "sequences_numberer";

#[cfg(feature = "sqlx-postgres")]
mod listen {
    use super::*;
    use sea_orm::DbBackend;
    use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};

    /// Asks the inserts to notify (`asleep`) or not; whether it was recorded.
    pub(super) async fn ask(db: &DatabaseConnection, name: &str, asleep: bool) -> bool {
        use sea_orm::ConnectionTrait;
        let statement = crate::sql::Dialect::Postgres.numberer_asleep(name, asleep);
        match db.execute_raw(statement).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(
                    target: "sequences",
                    %error,
                    name,
                    "the numberer cannot record whether it sleeps",
                );
                false
            }
        }
    }

    /// LISTENs on a connection of its own (the pool's are the numberer's
    /// and the application's) and wakes the numberer for each notification
    /// about `table`, and after its connection was lost (notifications may
    /// be gone with it). `None` off PostgreSQL, or when it cannot listen.
    pub(super) async fn spawn(
        db: &DatabaseConnection,
        table: &'static str,
        wake: Arc<Notify>,
    ) -> Option<JoinHandle<()>> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let options = db.get_postgres_connection_pool().connect_options();
        let listening = async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_with((*options).clone())
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let mut listener = match listening.await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(
                    target: "sequences",
                    %error,
                    table,
                    "the numberer cannot LISTEN; it polls",
                );
                return None;
            }
        };
        Some(tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) if notification.payload() != table => {}
                    Ok(_) => wake.notify_one(),
                    Err(error) => {
                        tracing::warn!(
                            target: "sequences",
                            %error,
                            table,
                            "the numberer's LISTEN failed; it polls meanwhile",
                        );
                        tokio::time::sleep(IDLE).await;
                        wake.notify_one();
                    }
                }
            }
        }))
    }
}

#[cfg(not(feature = "sqlx-postgres"))]
mod listen {
    use super::*;

    /// Never called without a listener.
    pub(super) async fn ask(_db: &DatabaseConnection, _name: &str, _asleep: bool) -> bool {
        false
    }

    /// Without the `sqlx-postgres` feature the numberer polls.
    pub(super) async fn spawn(
        _db: &DatabaseConnection,
        _table: &'static str,
        _wake: Arc<Notify>,
    ) -> Option<JoinHandle<()>> {
        None
    }
}
