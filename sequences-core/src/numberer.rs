//! The numberer: a task on the application's tokio runtime that runs
//! [`Numbering::number_pending`] again and again, so rows of an
//! [`after_commit`](crate::NumberedField::after_commit) field get their
//! numbers a few milliseconds after they commit.

use std::time::Duration;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, TransactionTrait};
use tokio::sync::watch;
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

impl Numberer {
    /// Spawns a numberer of `numbering` on the current tokio runtime, with
    /// its own handle on the pool `db`. Idle, it looks again after 1 ms,
    /// then less and less often, up to every 20 ms; after a failure (the
    /// database restarting), it logs a warning and tries again.
    pub fn spawn<K, C>(numbering: &'static Numbering<K>, db: C) -> Self
    where
        K: ColumnTrait + Send + Sync,
        K::EntityName: EntityTrait<Column = K>,
        <K::EntityName as EntityTrait>::Model: Sync,
        C: ConnectionTrait + TransactionTrait + Send + Sync + 'static,
    {
        Self::spawn_with(numbering, db, IDLE)
    }

    /// [`spawn`](Self::spawn), looking again at most every `idle` when idle.
    pub fn spawn_with<K, C>(numbering: &'static Numbering<K>, db: C, idle: Duration) -> Self
    where
        K: ColumnTrait + Send + Sync,
        K::EntityName: EntityTrait<Column = K>,
        <K::EntityName as EntityTrait>::Model: Sync,
        C: ConnectionTrait + TransactionTrait + Send + Sync + 'static,
    {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut total = 0;
            let first = Duration::from_millis(1).min(idle);
            let mut pause = first;
            loop {
                if *stopped.borrow() {
                    break;
                }
                match numbering.number_pending(&db).await {
                    Ok(0) => {}
                    Ok(numbered) => {
                        total += numbered;
                        pause = first;
                        continue;
                    }
                    Err(error) => tracing::warn!(
                        target: "sequences",
                        %error,
                        "the numberer failed; it tries again",
                    ),
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(idle);
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
