//! Rows waiting for a numberer ([`Audit::pending`]): watched by the audit
//! itself, never taken on the heartbeat's word.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::{Audit, AuditReport, PendingRows};
use crate::column::AuditColumn;
use crate::error::SequenceError;
use crate::sql::Dialect;

/// The waiting rows [`Audit::pending`] follows at most.
const WATCHED: u64 = 10_000;

/// How far in the future (seconds) a numberer's heartbeat may be before it
/// is a defect: the database's clock is read on both sides, so only a
/// write by hand gets there.
const HEARTBEAT_SKEW: i64 = 5;

impl<C: AuditColumn> Audit<C> {
    /// The unnumbered rows of the report, as rows waiting for a numberer
    /// (taken out of the groups) and rows it refused. The rows waiting when
    /// the audit looks are watched for up to `max_wait`, by key: one still
    /// waiting then is overdue. A watched row that leaves the waiting rows
    /// without being numbered or refused, and without its key being found
    /// (deleted, or its key changed), may be a row that now waits under
    /// another key: the rows waiting that the audit had not seen are then
    /// watched too, for up to `max_wait` more (twice `max_wait` in all).
    /// Refusals are read once the watch is over, so a row refused while it
    /// was watched is reported refused.
    pub(super) async fn pending_rows<D: ConnectionTrait>(
        &self,
        db: &D,
        report: &mut AuditReport,
        max_wait: Duration,
    ) -> Result<PendingRows, DbErr> {
        let dialect = Dialect::of(db.get_database_backend())?;
        let table = self.value.table_name();
        let [key] = self.key.as_slice() else {
            return Err(SequenceError::invalid_audit(
                &self.target(),
                "pending: give the table's one-column key (Audit::key, --key), by which the \
                 rows waiting for a numberer are followed"
                    .to_owned(),
            ));
        };
        for group in &mut report.groups {
            group.unnumbered = 0;
            group.unnumbered_keys.clear();
        }
        let idle = db
            // The numberer of this column (a reference's raw value is
            // stamped with it), not another column's.
            .query_one_raw(dialect.numberer_idle(&crate::entity::numberer_lock(
                &table,
                self.value.column_name(),
            )))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?;
        let waiting_now = |limit: Option<u64>| {
            dialect.audit_waiting(&table, self.value.column_name(), key.column_name(), limit)
        };
        let mut watched = texts(db.query_all_raw(waiting_now(Some(WATCHED))).await?)?;
        let mut seen = watched.clone();
        let waiting = watched.len() as u64;
        let started = Instant::now();
        let mut deadline = max_wait;
        let pause = (max_wait / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        while !watched.is_empty() && started.elapsed() < deadline {
            tokio::time::sleep(pause.min(deadline.saturating_sub(started.elapsed()))).await;
            let still = texts(db.query_all_raw(waiting_now(None)).await?)?;
            let left: Vec<String> = watched.difference(&still).cloned().collect();
            watched.retain(|key| still.contains(key));
            if left.is_empty() {
                continue;
            }
            // Numbered or refused rows are still there under their key.
            let found = self.keys_present(db, dialect, &table, key, &left).await?;
            if left.iter().any(|k| !found.contains(k)) {
                let arrived: Vec<String> = still.difference(&seen).cloned().collect();
                if !arrived.is_empty() {
                    seen.extend(arrived.iter().cloned());
                    watched.extend(arrived);
                    deadline = (started.elapsed() + max_wait).min(max_wait * 2);
                }
            }
        }
        let refused: Vec<(String, String)> = db
            // Of the table: the audited column may be a reference's raw value.
            .query_all_raw(dialect.refusals(&table, None))
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
            .collect::<Result<_, DbErr>>()?;
        Ok(PendingRows {
            waiting,
            overdue: watched.len() as u64,
            refused,
            numberer_idle: idle.map(|s| Duration::from_secs(s.max(0) as u64)),
            heartbeat_ahead: idle.is_some_and(|s| s < -HEARTBEAT_SKEW),
            max_wait,
        })
    }

    /// Which of `keys` (as text) a row of `table` still has.
    async fn keys_present<D: ConnectionTrait>(
        &self,
        db: &D,
        dialect: Dialect,
        table: &str,
        key: &C,
        keys: &[String],
    ) -> Result<BTreeSet<String>, DbErr> {
        let mut found = BTreeSet::new();
        for chunk in keys.chunks(500) {
            let values: Vec<sea_orm::Value> = chunk
                .iter()
                .map(|k| match (key.is_integer(), k.parse::<i64>()) {
                    (Some(true), Ok(n)) => n.into(),
                    _ => k.clone().into(),
                })
                .collect();
            let rows = db
                .query_all_raw(dialect.audit_keys_present(table, key.column_name(), values))
                .await?;
            found.extend(texts(rows)?);
        }
        Ok(found)
    }
}

fn texts(rows: Vec<QueryResult>) -> Result<BTreeSet<String>, DbErr> {
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}
