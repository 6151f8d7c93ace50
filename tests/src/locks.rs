//! Seeing lock waits from outside: tests that claim "this transaction waits
//! for that one" ask the server whether it does, instead of sleeping and
//! hoping the machine was fast enough.
//!
//! - PostgreSQL: a lock of the session that `pg_locks` shows as not granted;
//! - MariaDB/MySQL: the session's InnoDB transaction in state `LOCK WAIT`;
//! - SQLite has no sessions to inspect: [`session_id`] is `None` there, and
//!   callers fall back to what SQLite can show (a writer that has not
//!   finished).

use std::time::{Duration, Instant};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    TransactionTrait,
};
use tokio::task::JoinHandle;

/// How long a test waits for something that must happen before it calls it
/// a failure. Only a hung server or a real bug reaches it; the outcome of a
/// passing test never depends on it.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// More than InnoDB's `CACHE_MIN_IDLE_TIME_US` (100 ms, trx0i_s.cc).
const INNODB_CACHE_IDLE: Duration = Duration::from_millis(150);

/// The server's id of the session behind `db` (PostgreSQL backend pid,
/// MariaDB connection id), or `None` on SQLite.
pub async fn session_id<C: ConnectionTrait>(db: &C) -> Option<i64> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT CAST(pg_backend_pid() AS BIGINT)",
        DbBackend::MySql => "SELECT CAST(CONNECTION_ID() AS SIGNED)",
        _ => return None,
    };
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("ask the session id")
        .expect("a session id row");
    Some(row.try_get_by_index(0).expect("a session id"))
}

/// Begins a transaction on a task of its own and runs `work` on it; returns
/// the task and the server's id of the transaction's session (`None` on
/// SQLite), known before `work` starts, so the caller can
/// [`wait_until_waiting`] for it. `work` ends the transaction.
pub async fn spawn_transaction<T, F, Fut>(
    db: &DatabaseConnection,
    work: F,
) -> (JoinHandle<T>, Option<i64>)
where
    F: FnOnce(DatabaseTransaction) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    let (session_tx, session_rx) = tokio::sync::oneshot::channel();
    let db = db.clone();
    let task = tokio::spawn(async move {
        let txn = db.begin().await.expect("begin");
        session_tx
            .send(session_id(&txn).await)
            .expect("the spawner waits for the session id");
        work(txn).await
    });
    let session = session_rx.await.expect("the task sends its session id");
    (task, session)
}

/// Whether session `id` is waiting for a lock right now.
pub async fn is_waiting(observer: &DatabaseConnection, id: i64) -> bool {
    let backend = observer.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_locks WHERE pid = $1 AND NOT granted"
        }
        DbBackend::MySql => {
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.INNODB_TRX \
             WHERE trx_mysql_thread_id = ? AND trx_state = 'LOCK WAIT'"
        }
        _ => panic!("SQLite has no sessions to inspect"),
    };
    let read = observer.query_one_raw(Statement::from_sql_and_values(backend, sql, [id.into()]));
    let row = if backend == DbBackend::MySql {
        read_innodb_views(read).await
    } else {
        read.await
    }
    .expect("ask about lock waits")
    .expect("a count");
    row.try_get_by_index::<i64>(0).expect("a count") > 0
}

/// Runs `read`, a query of InnoDB's lock views (`INNODB_TRX`, `INNODB_LOCKS`,
/// `INNODB_LOCK_WAITS`, as [`sequences_core::lock_holders`] does), at least
/// 150 ms after the previous one of this process. InnoDB
/// refreshes those views only when they were last read over 100 ms ago, by
/// anyone: reads closer together see a stale snapshot, forever if they keep
/// coming, so one test polling them would blind another that waits for a lock
/// wait to show. Every read of them in the tests goes through here (the tests
/// that share a process share one gate; test binaries run one at a time).
pub async fn read_innodb_views<T>(read: impl std::future::Future<Output = T>) -> T {
    static LAST_READ: tokio::sync::Mutex<Option<Instant>> = tokio::sync::Mutex::const_new(None);
    let mut last_read = LAST_READ.lock().await;
    if let Some(at) = *last_read {
        tokio::time::sleep_until((at + INNODB_CACHE_IDLE).into()).await;
    }
    let result = read.await;
    *last_read = Some(Instant::now());
    result
}

/// Waits until session `id` waits for a lock; panics with `what` after
/// [`PATIENCE`].
pub async fn wait_until_waiting(observer: &DatabaseConnection, id: i64, what: &str) {
    let start = Instant::now();
    while !is_waiting(observer, id).await {
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: session {id} never waited for a lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `condition` every 10 ms until it holds; panics with `what` after
/// [`PATIENCE`].
pub async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "{what}: still waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`wait_for`] with a condition that asks the database.
pub async fn wait_for_async<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(start.elapsed() < PATIENCE, "{what}: still waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
