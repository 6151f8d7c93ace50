//! What the attack rounds (`attack_r31`, `attack_r32`, `attack_r33`) share:
//! a `check!` that collects broken promises, raw SQL helpers, and a
//! migrated scratch database of its own per backend.

use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection};
use sequences_core::Sequence;
use sequences_tests::entities::ac_receipt;
use sequences_tests::{Backend, statement};

macro_rules! check {
    ($failures:ident, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            $failures.push(format!($($arg)+));
        }
    };
}

pub(crate) use check;

pub(crate) fn verdict(failures: Vec<String>) {
    assert!(failures.is_empty(), "HOLES:\n  {}", failures.join("\n  "));
}

pub(crate) async fn ok<C: ConnectionTrait>(db: &C, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `CAST(.. AS BIGINT)` reads `CAST(.. AS SIGNED)` on MariaDB.
pub(crate) fn portable(db: &impl ConnectionTrait, sql: &str) -> String {
    match db.get_database_backend() {
        sea_orm::DbBackend::MySql => sql.replace(" AS BIGINT)", " AS SIGNED)"),
        _ => sql.to_owned(),
    }
}

pub(crate) async fn scalar<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Option<i64> {
    let sql = &portable(db, sql);
    db.query_one_raw(statement(db.get_database_backend(), sql, values))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .and_then(|row| row.try_get_by_index::<Option<i64>>(0).unwrap())
}

/// A migrated database of its own per backend (`{tag}_{pid}`; SQLite: a
/// file in a temporary directory), as `attack_db.rs` makes them.
pub(crate) struct Atk {
    pub(crate) backend: Backend,
    pub(crate) db: DatabaseConnection,
    #[allow(dead_code)]
    pub(crate) url: String,
    drop: Option<(DatabaseConnection, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Atk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.backend)
    }
}

pub(crate) const ALL: &[Backend] = &[Backend::Postgres, Backend::MySql, Backend::Sqlite];

pub(crate) async fn scratch_all(tag: &str, only: &[Backend], connections: u32) -> Vec<Atk> {
    let require = std::env::var("SEQUENCES_REQUIRE_BACKENDS").is_ok_and(|v| v == "1");
    let name = format!("{tag}_{}", std::process::id());
    let mut all = Vec::new();
    for &backend in only {
        let (url, drop, dir) = match backend.env_var() {
            Some(var) => {
                let url = match std::env::var(var) {
                    Ok(url) if !url.is_empty() => url,
                    _ if require => panic!("{var} is not set and SEQUENCES_REQUIRE_BACKENDS=1"),
                    _ => continue,
                };
                let admin = sequences_tests::open(&url, 1).await;
                let (drop, create) = match backend {
                    Backend::Postgres => (
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                        format!("CREATE DATABASE {name}"),
                    ),
                    _ => (
                        format!("DROP DATABASE IF EXISTS {name}"),
                        format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
                    ),
                };
                ok(&admin, &drop).await;
                ok(&admin, &create).await;
                let (base, _) = url.rsplit_once('/').expect("a URL with a database");
                (format!("{base}/{name}"), Some((admin, drop)), None)
            }
            None => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join(format!("{name}.db")).display()
                );
                (url, None, Some(dir))
            }
        };
        sequences_tests::migrate(&url).await;
        let db = sequences_tests::open(&url, connections).await;
        all.push(Atk {
            backend,
            db,
            url,
            drop,
            _dir: dir,
        });
    }
    all
}

impl Atk {
    pub(crate) async fn done(self) {
        self.db.close().await.unwrap();
        if let Some((admin, drop)) = self.drop {
            ok(&admin, &drop).await;
            admin.close().await.unwrap();
        }
    }
}

pub(crate) async fn counter<C: ConnectionTrait>(db: &C, name: &str) -> Option<i64> {
    Sequence::new(name).last_value(db).await.unwrap()
}

/// The rows of `table` the numberers refused.
pub(crate) async fn refusals<C: ConnectionTrait>(db: &C, table: &str) -> i64 {
    scalar(
        db,
        "SELECT COUNT(*) FROM sequence_refusals WHERE table_name = ?",
        vec![table.into()],
    )
    .await
    .unwrap_or(0)
}

/// A receipt of `till`, numbered after COMMIT.
pub(crate) fn receipt(till: &str) -> ac_receipt::ActiveModel {
    ac_receipt::ActiveModel {
        till: Set(till.into()),
        ..Default::default()
    }
}
