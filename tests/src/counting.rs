//! A connection wrapper that counts the statements sent through it, to pin
//! "one round trip per allocation" on a live server.

use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::prelude::async_trait::async_trait;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement};

/// Forwards to `inner` and counts every statement. Being neither a
/// `DatabaseTransaction` nor a `DatabaseConnection` by type, it also exercises
/// the SQL probe of `sequences_core::in_transaction`.
pub struct Counting<'a, C> {
    inner: &'a C,
    count: AtomicUsize,
    log: std::sync::Mutex<Vec<String>>,
}

impl<'a, C: ConnectionTrait> Counting<'a, C> {
    /// Wraps `inner` with a zero count.
    pub fn new(inner: &'a C) -> Self {
        Self {
            inner,
            count: AtomicUsize::new(0),
            log: Default::default(),
        }
    }

    /// Statements sent so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The statements sent so far, as SQL text.
    pub fn statements(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    fn record(&self, sql: &str) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.log.lock().expect("log lock").push(sql.to_owned());
    }
}

#[async_trait]
impl<C: ConnectionTrait> ConnectionTrait for Counting<'_, C> {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.record(&stmt.sql);
        self.inner.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.record(sql);
        self.inner.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.record(&stmt.sql);
        self.inner.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.record(&stmt.sql);
        self.inner.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.inner.support_returning()
    }
}
