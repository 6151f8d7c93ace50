//! Numbering after COMMIT: the committed rows an
//! [`after_commit`](crate::NumberedField::after_commit) field left NULL, numbered
//! in batches by a numberer (`number_pending`), waited for
//! (`wait_for_number`); read back in number order in `feed`.
//!
//! A batch runs in one transaction: the numberers of the table take turns
//! through one lock (a row of `sequences`), the batch's rows are read and
//! locked in the order they became visible, their numbers taken in one
//! allocation per sequence and written in one UPDATE, then committed. So a
//! batch is numbered whole or not at all, and since batches commit one after
//! the other, a reader of `number > n` never sees `n + 2` before `n + 1`.

use sequences_template::rules::Moment;
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, Iterable, PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait, Value,
};

use super::{Numbering, Prepared, entity_name, filling};
use crate::SequenceError;
use crate::column_value::{self, Read};
use crate::deferred;
use crate::sql::Dialect;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, ModelTrait};

/// How many rows one batch numbers at most.
pub(crate) const BATCH: u64 = 500;

/// What one batch did.
struct Batch {
    /// Rows read (a full batch means more may wait).
    read: u64,
    /// Rows numbered.
    numbered: u64,
}

impl<K: ColumnTrait> Numbering<K>
where
    K::EntityName: EntityTrait<Column = K>,
{
    /// One pass of the numberer: numbers every committed row whose
    /// [`after_commit`](crate::NumberedField::after_commit) field waits, in batches
    /// of up to 500 (one transaction each), and returns how many it
    /// numbered. Run it from several processes if you like: they take turns.
    ///
    /// On PostgreSQL only rows written by transactions older than every
    /// transaction still running are taken, so a slow transaction that has
    /// written its row is never overtaken by a later one. A row the sequence
    /// refuses (dated before a number already given, a closed period, the
    /// end of the range) is left unnumbered and recorded in
    /// `sequence_refusals` (`AfterCommitMigration`) with the reason and a
    /// digest of its values; the rows after it are numbered. Once the row
    /// changes (or is gone, or another row takes its key), the refusal is
    /// forgotten and the row tried again.
    ///
    /// Index the column: the pass looks for it `IS NULL`, in key order.
    pub async fn number_pending<C>(&self, db: &C) -> Result<u64, SequenceError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        self.number_pending_reporting(db, &crate::progress::Silent)
            .await
    }

    /// [`number_pending`](Self::number_pending), reporting to `progress`:
    /// one stage per field with rows waiting, one step per row numbered.
    pub async fn number_pending_reporting<C>(
        &self,
        db: &C,
        progress: &dyn crate::Progress,
    ) -> Result<u64, SequenceError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let fields: Vec<&Prepared<K>> = self
            .checked()?
            .into_iter()
            .filter(|field| field.moment == Moment::AfterCommit)
            .collect();
        let mut total = 0;
        for field in fields {
            field.forget_changed_refusals(db).await?;
            // A look without a transaction or a lock first: an idle
            // numberer reads, and writes its heartbeat once a second at most.
            if !field.anything_waits(db).await? {
                continue;
            }
            // MariaDB: a batch of our own runs at READ COMMITTED (see
            // `number_batch`); one in the caller's transaction runs at the
            // caller's level.
            let isolate = db.get_database_backend() == sea_orm::DbBackend::MySql
                && !crate::in_transaction(db)
                    .await
                    .map_err(|source| field.failed(source))?;
            let mut careful = false;
            progress.stage(&format!("numbering {}", field.target), None);
            loop {
                match field.number_batch(db, BATCH, careful, isolate).await? {
                    Some(batch) => {
                        total += batch.numbered;
                        progress.advance(batch.numbered);
                        careful = false;
                        if batch.read < BATCH {
                            break;
                        }
                    }
                    // The sequence refused a row of the batch, rolled back:
                    // the same rows again, one by one.
                    None => careful = true,
                }
            }
        }
        Ok(total)
    }

    /// Waits until the row whose primary key is `key` has its number, and
    /// returns it (the column's value: an integer, or the reference); polls
    /// every few milliseconds. A row the numberer refused is
    /// [`SequenceError::NumberRefused`] with the reason; no number within
    /// `timeout` (is a numberer running?) is [`SequenceError::NotNumberedYet`].
    pub async fn wait_for_number<C: ConnectionTrait>(
        &self,
        db: &C,
        key: impl Into<Value>,
        timeout: Duration,
    ) -> Result<Value, SequenceError> {
        let field = self.first_after_commit()?;
        let key = key.into();
        let key_text = key_text(&key).ok_or_else(|| field.invalid(NOT_A_KEY.into()))?;
        let pk = field.single_key()?;
        let failed = |source| SequenceError::Database {
            name: field.target.clone(),
            source,
        };
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let row = <K::EntityName as EntityTrait>::find()
                .filter(pk.eq(key.clone()))
                .one(db)
                .await
                .map_err(failed)?;
            if let Some(row) = &row {
                let value = ModelTrait::get(row, field.column);
                if value != value.as_null() {
                    return Ok(value);
                }
            }
            // A refusal made for this row as it is now (a changed row, or
            // another with its key, waits for the numberer's next try).
            if let Some(row) = &row
                && let Some(refusal) = field
                    .refusals(db)
                    .await?
                    .into_iter()
                    .find(|r| r.key == key_text)
                && refusal.digest == Some(field.digest(&|c| ModelTrait::get(row, c)))
            {
                return Err(SequenceError::NumberRefused {
                    target: field.target.clone(),
                    key: key_text,
                    reason: refusal.reason,
                });
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(SequenceError::NotNumberedYet {
                    target: field.target.clone(),
                    key: key_text,
                    waited,
                    exists: row.is_some(),
                });
            }
            tokio::time::sleep(pause.min(timeout - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    pub(super) fn first_after_commit(&self) -> Result<&Prepared<K>, SequenceError> {
        self.checked()?
            .into_iter()
            .find(|field| field.moment == Moment::AfterCommit)
            .ok_or_else(|| SequenceError::InvalidNumbering {
                target: entity_name::<K>().to_owned(),
                reason: "no field is numbered after_commit".into(),
            })
    }
}

impl<K: ColumnTrait> Prepared<K>
where
    K::EntityName: EntityTrait<Column = K>,
{
    /// The one-column primary key a numberer finds rows by.
    fn single_key(&self) -> Result<K, SequenceError> {
        let keys: Vec<K> = <<K::EntityName as EntityTrait>::PrimaryKey as Iterable>::iter()
            .map(|key| key.into_column())
            .collect();
        match keys.as_slice() {
            [key] => Ok(*key),
            _ => Err(self.invalid(
                "after_commit needs a one-column primary key, which the numberer and \
                 wait_for_number find rows by"
                    .into(),
            )),
        }
    }

    /// Every row of this field the numberer refused.
    async fn refusals<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<Refusal>, SequenceError> {
        let dialect =
            Dialect::of(db.get_database_backend()).map_err(|source| self.failed(source))?;
        let rows = db
            .query_all_raw(dialect.refusals(entity_name::<K>(), Some(self.column.as_str())))
            .await
            .map_err(|source| self.schema(source, dialect))?;
        rows.into_iter()
            .map(|row| {
                Ok(Refusal {
                    key: row.try_get_by_index(0)?,
                    reason: row.try_get_by_index(1)?,
                    digest: row.try_get_by_index(2)?,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(|source| self.failed(source))
    }

    /// The digest of the values the numbering reads from a row (`get`):
    /// what a refusal was made for.
    fn digest(&self, get: &dyn Fn(K) -> Value) -> String {
        use sha2::{Digest, Sha256};
        let read = std::cell::RefCell::new(Vec::new());
        let recording = |column: K| {
            let value = get(column);
            let text = match column_value::text(Some(value.clone())) {
                Read::Value(text) => format!("={text}"),
                Read::Missing => " NULL".to_owned(),
                Read::Unsupported(_) => format!("~{value:?}"),
            };
            read.borrow_mut().push(format!("{}{text}", column.as_str()));
            Some(value)
        };
        // Its outcome does not matter: what it read does.
        let _ = self.pending(&recording, Vec::new());
        let mut read = read.into_inner();
        read.sort_unstable();
        read.dedup();
        let mut hasher = Sha256::new();
        for line in &read {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        crate::hash::hex(&hasher.finalize())
    }

    /// Forgets the refusals whose row is gone, numbered, or changed since
    /// (a date corrected, another row with the same key): the numberer
    /// tries those rows again.
    async fn forget_changed_refusals<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<(), SequenceError> {
        let refusals = self.refusals(db).await?;
        if refusals.is_empty() {
            return Ok(());
        }
        let dialect =
            Dialect::of(db.get_database_backend()).map_err(|source| self.failed(source))?;
        let table = entity_name::<K>();
        let pk = self.single_key()?;
        let keys: Vec<String> = refusals.iter().map(|r| r.key.clone()).collect();
        let rows = <K::EntityName as EntityTrait>::find()
            .filter(sea_orm::sea_query::ExprTrait::is_in(
                sea_orm::sea_query::Expr::cust(dialect.key_text(table, pk.as_str())),
                keys,
            ))
            .all(db)
            .await
            .map_err(|source| self.failed(source))?;
        for refusal in refusals {
            let row = rows
                .iter()
                .find(|row| key_text(&ModelTrait::get(*row, pk)).as_ref() == Some(&refusal.key));
            let holds = row.is_some_and(|row| {
                ModelTrait::get(row, self.column) == ModelTrait::get(row, self.column).as_null()
                    && refusal.digest.as_deref()
                        == Some(self.digest(&|c| ModelTrait::get(row, c)).as_str())
            });
            if !holds {
                db.execute_raw(dialect.delete_refusal(table, self.column.as_str(), &refusal.key))
                    .await
                    .map_err(|source| self.failed(source))?;
            }
        }
        Ok(())
    }

    pub(super) fn failed(&self, source: DbErr) -> SequenceError {
        SequenceError::Database {
            name: self.target.clone(),
            source,
        }
    }

    /// A missing `sequence_refusals` is the migration to apply.
    fn schema(&self, source: DbErr, dialect: Dialect) -> SequenceError {
        SequenceError::of_database(&self.target, dialect.backend(), source)
    }

    /// Whether a row waits (settled, not refused); stamps the numberer's
    /// heartbeat when none does.
    async fn anything_waits<C: ConnectionTrait>(&self, db: &C) -> Result<bool, SequenceError> {
        let dialect =
            Dialect::of(db.get_database_backend()).map_err(|source| self.failed(source))?;
        let waiting = self
            .waiting(dialect, self.single_key()?, 1)
            .one(db)
            .await
            .map_err(|source| self.schema(source, dialect))?;
        if waiting.is_none() {
            for name in self.numberer_rows() {
                db.execute_raw(dialect.numberer_heartbeat(&name))
                    .await
                    .map_err(|source| self.failed(source))?;
            }
        }
        Ok(waiting.is_some())
    }

    /// The rows of `sequences` that say when this field's numberer last ran:
    /// its column's (the first, its lock) and its raw values' (a reference
    /// is audited by its raw value).
    fn numberer_rows(&self) -> Vec<String> {
        let table = entity_name::<K>();
        std::iter::once(self.column)
            .chain(self.raw_values.iter().map(|&(column, _)| column))
            .map(|column| crate::entity::numberer_lock(table, column.as_str()))
            .collect()
    }

    /// One batch, in one transaction: `None` when the sequence refused one
    /// of its rows and it was rolled back, to be run again `careful`ly (each
    /// row in a savepoint, the refused ones recorded).
    ///
    /// `isolate` (MariaDB, outside the caller's transaction): the batch runs
    /// at READ COMMITTED. At REPEATABLE READ, InnoDB's locking reads and
    /// UPDATEs lock the gaps of the index they scan: a scan of the column's
    /// NULL entries locked the gap where every writer inserts its NULL, while
    /// it waited for a writer's row still in flight, and writers died in
    /// deadlocks (1213). At READ COMMITTED no gap is locked, so a writer never
    /// waits for the numberer.
    async fn number_batch<C>(
        &self,
        db: &C,
        limit: u64,
        careful: bool,
        isolate: bool,
    ) -> Result<Option<Batch>, SequenceError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let dialect =
            Dialect::of(db.get_database_backend()).map_err(|source| self.failed(source))?;
        let pk = self.single_key()?;
        let txn = if isolate {
            db.begin_with_config(Some(sea_orm::IsolationLevel::ReadCommitted), None)
                .await
        } else {
            db.begin().await
        }
        .map_err(|source| self.failed(source))?;
        let result = async {
            // Numberers of this column take turns here; the stamp says
            // when one last ran.
            for name in self.numberer_rows() {
                txn.execute_raw(dialect.lock_numberer(&name))
                    .await
                    .map_err(|source| self.failed(source))?;
            }
            // The update guard lets the numberer alone number a waiting row.
            for mark in dialect.numbering_mark(&self.target, true) {
                txn.execute_raw(mark)
                    .await
                    .map_err(|source| self.failed(source))?;
            }
            let query = self.waiting(dialect, pk, limit);
            // The rows are locked and read as they are now, so that no
            // other client changes a placeholder or a date between this read
            // and the UPDATE (the number would come from the wrong sequence).
            // PostgreSQL locks what it reads (rows of transactions still
            // running are not in its snapshot). InnoDB's locking read of the
            // range would wait on every insert still in flight: MariaDB picks
            // the rows from its snapshot, then locks them by key alone (so
            // that the primary key serves the read, not the column's index
            // of NULLs, where writers insert) and keeps those still waiting,
            // as they are now.
            let rows = match dialect {
                Dialect::Postgres => query.lock_exclusive().all(&txn).await,
                Dialect::MySql => {
                    let keys: Vec<Value> = query
                        .all(&txn)
                        .await
                        .map_err(|source| self.schema(source, dialect))?
                        .iter()
                        .map(|row| ModelTrait::get(row, pk))
                        .collect();
                    <K::EntityName as EntityTrait>::find()
                        .filter(pk.is_in(keys))
                        .order_by_asc(pk)
                        .lock_exclusive()
                        .all(&txn)
                        .await
                        .map(|rows| {
                            rows.into_iter()
                                .filter(|row| {
                                    let value = ModelTrait::get(row, self.column);
                                    value == value.as_null()
                                })
                                .collect()
                        })
                }
                Dialect::Sqlite => query.all(&txn).await,
            }
            .map_err(|source| self.schema(source, dialect))?;
            let read = rows.len() as u64;
            let mut pending = Vec::with_capacity(rows.len());
            // Careful, the digest of each row, for the refusals.
            let mut digests = Vec::new();
            for row in &rows {
                let keys = vec![(pk.as_str(), ModelTrait::get(row, pk))];
                match self.pending(&|c| Some(ModelTrait::get(row, c)), keys) {
                    Ok(one) => {
                        pending.push(one);
                        if careful {
                            digests.push(self.digest(&|c| ModelTrait::get(row, c)));
                        }
                    }
                    // A placeholder left NULL: this row waits, recorded.
                    Err(error) if refuses_rows(&error) => {
                        let key = key_text(&ModelTrait::get(row, pk))
                            .ok_or_else(|| self.invalid(NOT_A_KEY.into()))?;
                        let digest = self.digest(&|c| ModelTrait::get(row, c));
                        self.refuse(&txn, dialect, &key, &error, &digest).await?;
                    }
                    Err(error) => return Err(error),
                }
            }
            // The rows are locked (PostgreSQL, MariaDB) or read in the
            // transaction that writes them (SQLite, whose write fails if
            // another one wrote since): nothing changes them before the
            // UPDATE, which need not compare their columns again (on
            // MariaDB that comparison cost 3.5 times the UPDATE itself).
            for row in &mut pending {
                row.as_inserted.clear();
            }
            let numbered = if careful {
                self.assign_one_by_one(&txn, dialect, pending.into_iter().zip(digests))
                    .await?
            } else {
                let count = pending.len() as u64;
                match deferred::assign_all(&txn, pending, None, false).await {
                    Ok(()) => count,
                    Err(error) if refuses_rows(&error) => return Ok(None),
                    Err(error) => return Err(error),
                }
            };
            Ok::<_, SequenceError>(Some(Batch { read, numbered }))
        }
        .await;
        // The mark ends with the batch (PostgreSQL's, with the transaction).
        for unmark in dialect.numbering_mark(&self.target, false) {
            let unmarked = txn.execute_raw(unmark).await;
            if let (Ok(_), Err(source)) = (&result, unmarked) {
                let _ = txn.rollback().await;
                return Err(self.failed(source));
            }
        }
        match result {
            Ok(Some(batch)) => {
                txn.commit().await.map_err(|source| self.failed(source))?;
                Ok(Some(batch))
            }
            Ok(None) => {
                let _ = txn.rollback().await;
                Ok(None)
            }
            Err(error) => {
                let _ = txn.rollback().await;
                Err(error)
            }
        }
    }

    /// The rows that wait for a number, in key order, at most `limit`: NULL,
    /// settled (PostgreSQL), not refused.
    fn waiting(&self, dialect: Dialect, pk: K, limit: u64) -> sea_orm::Select<K::EntityName> {
        let table = entity_name::<K>();
        let mut query = <K::EntityName as EntityTrait>::find()
            .filter(self.column.is_null())
            .filter(sea_orm::sea_query::Expr::cust_with_values(
                dialect.not_refused(table, pk.as_str()),
                [table, self.column.as_str()],
            ))
            .order_by_asc(pk)
            .limit(limit);
        if let Some(settled) = dialect.settled(table) {
            query = query.filter(sea_orm::sea_query::Expr::cust(settled));
        }
        query
    }

    /// Numbers the rows one by one, each in a savepoint, recording the
    /// rows the sequence refuses.
    async fn assign_one_by_one<C: ConnectionTrait>(
        &self,
        txn: &C,
        dialect: Dialect,
        pending: impl IntoIterator<Item = (deferred::Pending, String)>,
    ) -> Result<u64, SequenceError> {
        let mut numbered = 0;
        for (row, digest) in pending {
            let key = row
                .keys
                .first()
                .and_then(|(_, value)| key_text(value))
                .ok_or_else(|| self.invalid(NOT_A_KEY.into()))?;
            filling::savepoint(txn, "SAVEPOINT sequences_row", &self.target).await?;
            match deferred::assign_all(txn, vec![row], None, false).await {
                Ok(()) => {
                    filling::savepoint(txn, "RELEASE SAVEPOINT sequences_row", &self.target)
                        .await?;
                    numbered += 1;
                }
                Err(error) if refuses_rows(&error) => {
                    filling::savepoint(txn, "ROLLBACK TO SAVEPOINT sequences_row", &self.target)
                        .await?;
                    self.refuse(txn, dialect, &key, &error, &digest).await?;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(numbered)
    }
}

impl<K: ColumnTrait> Prepared<K> {
    /// Records that the row `key` stays unnumbered, and why.
    async fn refuse<C: ConnectionTrait>(
        &self,
        txn: &C,
        dialect: Dialect,
        key: &str,
        error: &SequenceError,
        digest: &str,
    ) -> Result<(), SequenceError> {
        tracing::warn!(
            target: "sequences",
            field = %self.target,
            key = %key,
            reason = %error,
            "a row numbered after COMMIT was refused and stays unnumbered",
        );
        txn.execute_raw(dialect.insert_refusal(
            entity_name::<K>(),
            self.column.as_str(),
            key,
            &error.to_string(),
            digest,
        ))
        .await
        .map(drop)
        .map_err(|source| SequenceError::of_database(&self.target, dialect.backend(), source))
    }
}

/// A row the numberer refused, as `sequence_refusals` keeps it.
struct Refusal {
    key: String,
    reason: String,
    /// The digest of the row's values then (`None`: recorded before
    /// digests were, never taken as current).
    digest: Option<String>,
}

const NOT_A_KEY: &str = "after_commit needs a primary key that is an integer or a string";

/// A primary key's value as the refusals table keeps it.
fn key_text(value: &Value) -> Option<String> {
    match column_value::text(Some(value.clone())) {
        Read::Value(text) => Some(text),
        _ => None,
    }
}

/// The refusals that concern rows, not the numberer: the row waits, recorded.
fn refuses_rows(error: &SequenceError) -> bool {
    matches!(
        error,
        SequenceError::OutOfOrder { .. }
            | SequenceError::Closed { .. }
            | SequenceError::Exhausted { .. }
            | SequenceError::ValueOutOfRange { .. }
            | SequenceError::Overflow { .. }
            | SequenceError::InvalidName { .. }
            | SequenceError::MissingPlaceholder { .. }
    )
}
