//! Rows waiting for a numberer ([`Audit::pending`]): watched by the audit
//! itself, never taken on the heartbeat's word.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::{Audit, AuditReport, PendingRows};
use crate::column::AuditColumn;
use crate::error::SequenceError;
use crate::sql::Dialect;

/// The waiting rows [`Audit::pending`] follows at most; more are reported
/// `unwatched`.
const WATCHED: u64 = 1_000_000;

/// How long the watch may last, in `max_wait`s, when rows it follows leave
/// under keys it cannot follow: each row it takes up then is watched for a
/// whole `max_wait`, within this limit.
const FOLLOWED: u32 = 3;

/// How far in the future (seconds) a numberer's heartbeat may be before it
/// is a defect: the database's clock is read on both sides, so only a
/// write by hand gets there.
const HEARTBEAT_SKEW: i64 = 5;

impl<C: AuditColumn> Audit<C> {
    /// The unnumbered rows of the report, as rows waiting for a numberer
    /// (taken out of the groups) and rows it refused.
    ///
    /// Every row whose number is NULL when the audit looks (refused ones
    /// too) is watched, by key, until it has waited `max_wait`: one still
    /// NULL then is overdue, or refused if a refusal names it at the end.
    /// A key leaves the watch when its row is no longer NULL there. When
    /// the field's triggers are intact and the key is the table's primary
    /// key, the update guard keeps a waiting row's key
    /// ([`SequenceError::KeyChanged`]): a key that left was numbered in
    /// place, or its row deleted. Otherwise the row may wait under another
    /// key now, and every NULL row not yet watched is watched from then on,
    /// each for a whole `max_wait` (the watch lasts at most three
    /// `max_wait`s: a row it could not watch that long is `unwatched`, as
    /// are the rows beyond the first million).
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
                "pending: give the table's one-column key (Audit::row_key, --key), by which the \
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
        // Whether a waiting row keeps its key: the update guard, intact, on
        // the table's primary key, which is the key the audit follows.
        let primary = texts(db.query_all_raw(dialect.primary_key(&table)).await?)?;
        let keys_kept = matches!(report.triggers, Some(crate::TriggerState::Intact))
            && primary.len() == 1
            && primary.contains(key.column_name());
        let column = self.value.column_name();
        let waiting_now =
            |limit: Option<u64>| dialect.audit_waiting(&table, column, key.column_name(), limit);
        let first = texts(db.query_all_raw(waiting_now(Some(WATCHED))).await?)?;
        let waiting = if first.len() as u64 == WATCHED {
            db.query_one_raw(dialect.audit_waiting_count(&table, column))
                .await?
                .map(|row| row.try_get_by_index::<i64>(0))
                .transpose()?
                .map_or(WATCHED, |n| Ord::max(n, 0) as u64)
        } else {
            first.len() as u64
        };
        let mut unwatched = waiting.saturating_sub(first.len() as u64);
        self.progress.stage(
            &format!(
                "watching the rows of {} waiting for a numberer (up to {} s)",
                self.target(),
                max_wait.as_secs()
            ),
            Some(first.len() as u64),
        );
        let started = Instant::now();
        let limit = started + max_wait * FOLLOWED;
        let mut watched: BTreeMap<String, Instant> =
            first.into_iter().map(|key| (key, started)).collect();
        let pause = (max_wait / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        while let Some(due) = watched.values().max().map(|since| *since + max_wait) {
            let end = due.min(limit);
            let now = Instant::now();
            if now >= end {
                break;
            }
            tokio::time::sleep(pause.min(end - now)).await;
            let still = texts(db.query_all_raw(waiting_now(None)).await?)?;
            let left: Vec<String> = watched
                .keys()
                .filter(|key| !still.contains(*key))
                .cloned()
                .collect();
            if left.is_empty() {
                continue;
            }
            for gone in &left {
                watched.remove(gone);
            }
            self.progress.advance(left.len() as u64);
            if !keys_kept {
                // A row left, and may wait under another key now.
                let now = Instant::now();
                for key in still {
                    if watched.len() as u64 >= WATCHED {
                        break;
                    }
                    watched.entry(key).or_insert(now);
                }
            }
        }
        let end = Instant::now();
        let refused: Vec<(String, String)> = db
            // Of the table: the audited column may be a reference's raw value.
            .query_all_raw(dialect.refusals(&table, None))
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
            .collect::<Result<_, DbErr>>()?;
        let refused_keys: BTreeSet<&str> = refused.iter().map(|(key, _)| key.as_str()).collect();
        let mut overdue = 0;
        for (key, since) in &watched {
            if refused_keys.contains(key.as_str()) {
                // Listed in `refused`.
            } else if end.duration_since(*since) >= max_wait {
                overdue += 1;
            } else {
                unwatched += 1;
            }
        }
        Ok(PendingRows {
            waiting,
            overdue,
            unwatched,
            keys_kept,
            refused,
            numberer_idle: idle.map(|s| Duration::from_secs(Ord::max(s, 0) as u64)),
            heartbeat_ahead: idle.is_some_and(|s| s < -HEARTBEAT_SKEW),
            max_wait,
        })
    }
}

fn texts(rows: Vec<QueryResult>) -> Result<BTreeSet<String>, DbErr> {
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}
