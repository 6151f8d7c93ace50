//! Rows waiting for a numberer ([`Audit::pending`]): watched by the audit
//! itself, never taken on the heartbeat's word.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Func, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::{Audit, AuditReport, PendingRows, Scope};
use crate::column::{AuditColumn, as_text};
use crate::error::SequenceError;
use crate::reference::Pattern;
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
    /// A key leaves the watch when its row is gone from the NULL rows. It
    /// counts as numbered only if the row now holding it has a number that
    /// did not exist when the watch began (no other writer than a numberer
    /// can give one), each such number once; otherwise the row may be
    /// waiting under another key, and every NULL row not yet watched is
    /// watched from then on, each for a whole `max_wait` (the watch lasts
    /// at most three `max_wait`s: a row it could not watch that long is
    /// `unwatched`, as are the rows beyond the first million).
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
        let column = self.value.column_name();
        let waiting_now =
            |limit: Option<u64>| dialect.audit_waiting(&table, column, key.column_name(), limit);
        // The newest number of each sequence before the watch: a number
        // above it was given since.
        let newest = self.newest_numbers(db, dialect).await?;
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
        let started = Instant::now();
        let limit = started + max_wait * FOLLOWED;
        let mut watched: BTreeMap<String, Instant> =
            first.into_iter().map(|key| (key, started)).collect();
        let mut explained: BTreeSet<(Scope, i64)> = BTreeSet::new();
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
            let mut numbered = 0;
            for chunk in left.chunks(500) {
                for row in self.numbers_of(db, dialect, Some((key, chunk))).await? {
                    let fresh = newest.get(&row.0).is_none_or(|newest| row.1 > *newest);
                    if fresh && explained.insert(row) {
                        numbered += 1;
                    }
                }
            }
            if numbered < left.len() {
                // A row left under a key that holds no new number: it may
                // wait under another key now.
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
            refused,
            numberer_idle: idle.map(|s| Duration::from_secs(Ord::max(s, 0) as u64)),
            heartbeat_ahead: idle.is_some_and(|s| s < -HEARTBEAT_SKEW),
            max_wait,
        })
    }

    /// The newest number of each sequence (as the audit groups rows: by
    /// scope, or by the parts of the reference), over the whole table.
    async fn newest_numbers<D: ConnectionTrait>(
        &self,
        db: &D,
        dialect: Dialect,
    ) -> Result<BTreeMap<Scope, i64>, DbErr> {
        let mut newest = BTreeMap::new();
        if self.format.is_some() {
            for (scope, number) in self.numbers_of(db, dialect, None).await? {
                let entry = newest.entry(scope).or_insert(number);
                *entry = Ord::max(number, *entry);
            }
            return Ok(newest);
        }
        let (integer, _) = dialect.audit_cast_types();
        let mut query = self.scope_select(dialect);
        query.expr(Func::max(Func::cast_as(self.column(&self.value), integer)));
        for i in 0..self.scope.len() {
            query.add_group_by([Expr::col(Alias::new(format!("s{i}")))]);
        }
        let n = self.scope.len();
        for row in db
            .query_all_raw(db.get_database_backend().build(&query))
            .await?
        {
            if let Some(number) = row.try_get_by_index::<Option<i64>>(n)? {
                newest.insert(super::scope_of(&row, n)?, number);
            }
        }
        Ok(newest)
    }

    /// The sequence and number of the numbered rows whose key is one of
    /// `keys` (all numbered rows without it); a reference the format cannot
    /// read is left out.
    async fn numbers_of<D: ConnectionTrait>(
        &self,
        db: &D,
        dialect: Dialect,
        keys: Option<(&C, &[String])>,
    ) -> Result<Vec<(Scope, i64)>, DbErr> {
        let (integer, text) = dialect.audit_cast_types();
        let mut query = match &self.format {
            Some(_) => Query::select()
                .expr(Func::cast_as(self.column(&self.value), text))
                .from(Alias::new(self.value.table_name()))
                .and_where(self.column(&self.value).is_not_null())
                .to_owned(),
            None => {
                let mut query = self.scope_select(dialect);
                query.expr(Func::cast_as(self.column(&self.value), integer));
                query
            }
        };
        if let Some((key, keys)) = keys {
            let values = keys
                .iter()
                .map(|k| match (key.is_integer(), k.parse::<i64>()) {
                    (Some(true), Ok(n)) => sea_orm::Value::from(n),
                    _ => k.clone().into(),
                });
            query.and_where(self.column(key).is_in(values));
        }
        let rows = db
            .query_all_raw(db.get_database_backend().build(&query))
            .await?;
        match &self.format {
            Some(format) => {
                let pattern = Pattern::parse(format).map_err(|reason| {
                    SequenceError::invalid_audit(
                        &self.target(),
                        format!("format {format:?}: {reason}"),
                    )
                })?;
                let mut numbers = Vec::new();
                for row in rows {
                    let reference: String = row.try_get_by_index(0)?;
                    if let Some(parsed) = pattern.read(&reference) {
                        let scope = parsed.parts.into_iter().map(|(_, v)| Some(v)).collect();
                        numbers.push((scope, parsed.value));
                    }
                }
                Ok(numbers)
            }
            None => {
                let n = self.scope.len();
                rows.iter()
                    .map(|row| Ok((super::scope_of(row, n)?, row.try_get_by_index::<i64>(n)?)))
                    .collect()
            }
        }
    }

    /// `SELECT` the scope values as text (`s0`, `s1`, ...) of the numbered
    /// rows of the table.
    fn scope_select(&self, dialect: Dialect) -> SelectStatement {
        let mut query = Query::select();
        for (i, column) in self.scope.iter().enumerate() {
            query.expr_as(
                as_text(self.column(column), column, dialect),
                Alias::new(format!("s{i}")),
            );
        }
        query
            .from(Alias::new(self.value.table_name()))
            .and_where(self.column(&self.value).is_not_null())
            .to_owned()
    }

    /// A column of the audited table, qualified.
    fn column(&self, column: &C) -> Expr {
        Expr::col((
            Alias::new(self.value.table_name()),
            Alias::new(column.column_name()),
        ))
    }
}

fn texts(rows: Vec<QueryResult>) -> Result<BTreeSet<String>, DbErr> {
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}
