//! Test support: one helper that connects to every configured backend.
//!
//! - PostgreSQL: `SEQUENCES_POSTGRES_URL`; MariaDB/MySQL: `SEQUENCES_MYSQL_URL`;
//!   SQLite always runs, on a fresh file per [`connect_all`] call.
//! - An unset URL skips that backend with a printed line, unless
//!   `SEQUENCES_REQUIRE_BACKENDS=1`, which makes it a failure.
//!
//! Every test uses its own sequence names ([`unique_name`]), so tests share
//! one database per server and run in parallel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use sea_orm_migration::MigratorTrait;
use tempfile::TempDir;

pub mod counting;
pub mod django;
pub mod entities;
pub mod generated;
pub mod ha;
pub mod load;
pub mod locks;
pub mod migrator;
pub mod models;

/// A backend the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, from `SEQUENCES_POSTGRES_URL`.
    Postgres,
    /// MariaDB or MySQL, from `SEQUENCES_MYSQL_URL`.
    MySql,
    /// SQLite, a temporary file.
    Sqlite,
}

impl Backend {
    /// The environment variable holding the URL (none for SQLite).
    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some("SEQUENCES_POSTGRES_URL"),
            Backend::MySql => Some("SEQUENCES_MYSQL_URL"),
            Backend::Sqlite => None,
        }
    }

    /// Whether the backend has row locks (and so `nowait` and non-blocking
    /// distinct sequences); SQLite locks the whole database.
    pub fn has_row_locks(self) -> bool {
        self != Backend::Sqlite
    }
}

/// A connected, migrated database.
pub struct TestDb {
    /// Which backend.
    pub backend: Backend,
    /// A pool of connections to it.
    pub db: DatabaseConnection,
    /// Its URL, for connections of another pool or process.
    pub url: String,
    _dir: Option<TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.backend)
    }
}

/// Every configured backend, connected with a pool of up to `max_connections`
/// and migrated (the bundled migration plus the test tables).
pub async fn connect_all(max_connections: u32) -> Vec<TestDb> {
    let require = std::env::var("SEQUENCES_REQUIRE_BACKENDS").is_ok_and(|v| v == "1");
    let mut all = Vec::new();
    for backend in [Backend::Postgres, Backend::MySql] {
        let var = backend
            .env_var()
            .expect("server backends have a URL variable");
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => {
                migrate(&url).await;
                let db = open(&url, max_connections).await;
                all.push(TestDb {
                    backend,
                    db,
                    url,
                    _dir: None,
                });
            }
            _ if require => panic!("{var} is not set and SEQUENCES_REQUIRE_BACKENDS=1"),
            _ => println!("skipping {backend:?}: {var} is not set"),
        }
    }
    let dir = tempfile::tempdir().expect("a temporary directory for SQLite");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    migrate(&url).await;
    let db = open(&url, max_connections).await;
    all.push(TestDb {
        backend: Backend::Sqlite,
        db,
        url,
        _dir: Some(dir),
    });
    all
}

/// Opens a pool. SQLite gets WAL and a generous busy timeout, so that
/// writers queue for the database lock instead of failing with "database is locked".
pub async fn open(url: &str, max_connections: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(60))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(60))
        });
    Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// Applies the test migrator through one connection of its own. Servers are
/// shared by tests running in parallel, so PostgreSQL and MariaDB serialize it
/// with a session lock (held by that one connection).
pub async fn migrate(url: &str) {
    let db = open(url, 1).await;
    let lock = match db.get_database_backend() {
        DbBackend::Postgres => Some((
            "SELECT pg_advisory_lock(4711)",
            "SELECT pg_advisory_unlock(4711)",
        )),
        DbBackend::MySql => Some((
            "SELECT GET_LOCK('sequences_tests', 60)",
            "SELECT RELEASE_LOCK('sequences_tests')",
        )),
        _ => None,
    };
    if let Some((lock, _)) = lock {
        db.execute_unprepared(lock).await.expect("migration lock");
    }
    migrator::Migrator::up(&db, None)
        .await
        .expect("test migrations apply");
    if let Some((_, unlock)) = lock {
        db.execute_unprepared(unlock)
            .await
            .expect("migration unlock");
    }
}

/// A company id no other test (or earlier run, most likely) uses, so the
/// counters named after it start fresh. Within a process the ids are
/// distinct (one start drawn from the clock, then a counter): the tests of
/// `tests/tests/it` share one process and call this hundreds of times.
pub fn fresh_company() -> i32 {
    static START: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
    let start = *START.get_or_init(|| {
        let base = (std::process::id() as i32 % 10_000) * 100_000;
        let nanos = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos()
            % 1000) as i32;
        base + nanos * 97
    });
    start + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A sequence name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
        % 1_000_000_000_000;
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Checks the promise: `values` (committed, in any order) are exactly
/// `initial..=last`, each once.
pub fn assert_gapless(context: &str, values: &[i64], initial: i64, last: Option<i64>) {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let expected: Vec<i64> = match last {
        Some(last) => (initial..=last).collect(),
        None => Vec::new(),
    };
    if sorted != expected {
        let mut duplicates = sorted.clone();
        duplicates.dedup();
        panic!(
            "{context}: committed values are not exactly {initial}..={last:?}: \
             {} values, {} duplicates, first {:?}, last {:?}",
            sorted.len(),
            sorted.len() - duplicates.len(),
            sorted.first(),
            sorted.last()
        );
    }
}

/// Inserts a row of `test_rows` holding `value` for sequence `name`.
pub async fn insert_row<C: ConnectionTrait>(
    db: &C,
    name: &str,
    value: i64,
) -> Result<(), sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "INSERT INTO test_rows (sequence_name, value) VALUES ($1, $2)",
        _ => "INSERT INTO test_rows (sequence_name, value) VALUES (?, ?)",
    };
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [name.into(), value.into()],
    ))
    .await
    .map(|_| ())
}

/// The committed values of `test_rows` for sequence `name`.
pub async fn committed_values<C: ConnectionTrait>(db: &C, name: &str) -> Vec<i64> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT value FROM test_rows WHERE sequence_name = $1",
        _ => "SELECT value FROM test_rows WHERE sequence_name = ?",
    };
    db.query_all_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [name.into()],
    ))
    .await
    .expect("read test_rows")
    .iter()
    .map(|row| row.try_get_by_index::<i64>(0).expect("value column"))
    .collect()
}

/// An empty database beside the test one, for tests that must start from
/// nothing (entity-first sync, migration upgrades): created fresh, removed by
/// [`Scratch::remove`].
pub struct Scratch {
    /// Its URL.
    pub url: String,
    name: String,
    admin: Option<DatabaseConnection>,
}

impl Scratch {
    /// A fresh database named `{tag}_{pid}` on `t`'s server (SQLite: a file
    /// beside `t`'s).
    pub async fn new(t: &TestDb, tag: &str) -> Self {
        let name = format!("{tag}_{}", std::process::id());
        if t.backend == Backend::Sqlite {
            let url = t.url.replace("test.db", &format!("{name}.db"));
            return Self {
                url,
                name,
                admin: None,
            };
        }
        let admin = t.db.clone();
        Self::drop_database(&admin, &name).await;
        let create = match admin.get_database_backend() {
            DbBackend::MySql => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
            _ => format!("CREATE DATABASE {name}"),
        };
        admin
            .execute_unprepared(&create)
            .await
            .expect("create a scratch database");
        let (base, _) = t.url.rsplit_once('/').expect("a URL with a database");
        Self {
            url: format!("{base}/{name}"),
            name,
            admin: Some(admin),
        }
    }

    /// Drops the database (connections to it must be closed).
    pub async fn remove(self) {
        if let Some(admin) = &self.admin {
            Self::drop_database(admin, &self.name).await;
        }
    }

    async fn drop_database(admin: &DatabaseConnection, name: &str) {
        let sql = match admin.get_database_backend() {
            DbBackend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        admin
            .execute_unprepared(&sql)
            .await
            .expect("drop a scratch database");
    }
}

/// `sql`, written with `?` placeholders, as a statement of `backend` (`$1`,
/// `$2`... on PostgreSQL).
pub fn statement(backend: DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    let mut numbered = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' && backend == DbBackend::Postgres {
            n += 1;
            numbered.push_str(&format!("${n}"));
        } else {
            numbered.push(c);
        }
    }
    sea_orm::Statement::from_sql_and_values(backend, numbered, values)
}

/// Runs `sql` (see [`statement`]) on any backend: raw SQL behind the
/// library's back. The rows it affected, or the database's error.
pub async fn try_execute<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<u64, DbErr> {
    Ok(db
        .execute_raw(statement(db.get_database_backend(), sql, values))
        .await?
        .rows_affected())
}

/// [`try_execute`], which must succeed.
pub async fn execute<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<sea_orm::Value>) -> u64 {
    try_execute(db, sql, values)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// How a test's transaction fails: the database, or a rollback the test
/// asks for on purpose (told apart by type, never by message).
#[derive(Debug)]
pub enum Attempt {
    /// The database's error.
    Db(DbErr),
    /// Rolled back on purpose.
    RolledBack,
}

impl From<DbErr> for Attempt {
    fn from(error: DbErr) -> Self {
        Self::Db(error)
    }
}

impl From<sequences_core::SequenceError> for Attempt {
    fn from(error: sequences_core::SequenceError) -> Self {
        Self::Db(error.into())
    }
}

impl sequences_core::TransactionError for Attempt {
    fn db_err(&self) -> Option<&DbErr> {
        match self {
            Self::Db(error) => Some(error),
            Self::RolledBack => None,
        }
    }
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Db(error) => write!(f, "{error}"),
            Self::RolledBack => f.write_str("rolled back on purpose"),
        }
    }
}
