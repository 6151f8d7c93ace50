//! The audit of an integer column, by the database: counts, gaps and
//! duplicates per scope (`sql::audit`), unnumbered rows, every counter.

use super::{
    Audit, AuditReport, DateInversion, GroupAudit, Scope, group_voids, scope_of, sequence_lasts,
};
use crate::column::{AuditColumn, as_text};
use crate::sql::Dialect;
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::{Condition, ConnectionTrait, DbErr};
use std::collections::{BTreeMap, BTreeSet};

/// A scope read back as text, as values to compare its columns with: an
/// integer for a column compared in its own type (`typed`), text otherwise.
fn scope_values(scope: &Scope, typed: &[bool]) -> Result<Vec<Option<sea_orm::Value>>, DbErr> {
    scope
        .iter()
        .zip(typed)
        .map(|(value, &typed)| match value {
            None => Ok(None),
            Some(text) if typed => text.parse::<i64>().map(|v| Some(v.into())).map_err(|_| {
                DbErr::Custom(format!(
                    "audit: the integer scope value {text:?} reads back as no integer"
                ))
            }),
            Some(text) => Ok(Some(text.clone().into())),
        })
        .collect()
}

impl<C: AuditColumn> Audit<C> {
    /// The audit of an integer column.
    pub(super) async fn run_numbers<D: ConnectionTrait>(
        &self,
        db: &D,
    ) -> Result<AuditReport, DbErr> {
        use sea_orm::sea_query::ExprTrait;
        self.check()?;
        let dialect = Dialect::of(db.get_database_backend())?;
        let (integer, _) = dialect.audit_cast_types();
        let table = Alias::new(self.value.table_name());
        let col = |c: &C| Expr::col((table.clone(), Alias::new(c.column_name())));
        let mut base = Query::select();
        // An integer scope column is compared in its own type on the
        // servers, so that an index on (scope, number) serves the audit's
        // sort; any other as exact text. SQLite's columns may hold any type
        // whatever their declaration: text there.
        let typed: Vec<bool> = self
            .scope
            .iter()
            .map(|c| c.is_integer() == Some(true) && dialect != Dialect::Sqlite)
            .collect();
        for (i, column) in self.scope.iter().enumerate() {
            let expr = if typed[i] {
                col(column)
            } else {
                as_text(col(column), column, dialect)
            };
            base.expr_as(expr, Alias::new(format!("s{i}")));
        }
        base.expr_as(Func::cast_as(col(&self.value), integer), Alias::new("v"));
        if let Some(date) = &self.date {
            base.expr_as(col(date), Alias::new("d"));
        }
        base.from(table.clone()).cond_where(
            Condition::all()
                .add(col(&self.value).is_not_null())
                .add(self.filter.clone()),
        );
        // Rows whose number is NULL: never numbered, a defect.
        let unnumbered = self.unnumbered_query(db, &self.scope, dialect);
        let base = db.get_database_backend().build(&base);
        let statements = dialect.audit(&base, self.scope.len(), self.initial_value);
        let n = self.scope.len();

        let mut groups: BTreeMap<Vec<Option<String>>, GroupAudit> = BTreeMap::new();
        for row in db.query_all_raw(statements.summary).await? {
            let scope = scope_of(&row, n)?;
            let get = |i: usize| row.try_get_by_index::<i64>(n + i);
            let mut group = GroupAudit {
                rows: get(0)? as u64,
                distinct: get(1)? as u64,
                first: row.try_get_by_index::<Option<i64>>(n + 4)?,
                last: row.try_get_by_index::<Option<i64>>(n + 5)?,
                below_initial: get(3)? as u64,
                ..GroupAudit::empty(scope.clone())
            };
            // Until `finish`, `missing` holds the count of distinct numbers
            // from `initial`; the head gap is known now.
            group.missing = get(2)? as u64;
            let lowest = row.try_get_by_index::<Option<i64>>(n + 6)?;
            if let Some(lowest) = lowest.filter(|&lowest| lowest > self.initial_value) {
                group.gaps.push(self.initial_value..=lowest - 1);
            }
            groups.insert(scope, group);
        }
        // Gaps and duplicates are listed only where the summary shows some,
        // so that a clean table is read once: an inner gap when the distinct
        // numbers from the lowest one up fall short of its range, duplicates
        // when rows outnumber distinct numbers.
        let dirty: Vec<Scope> = groups
            .iter()
            .filter(|(_, g)| {
                let inner_gap = match (g.gaps.first(), g.last) {
                    _ if g.missing == 0 => false,
                    (Some(head), Some(last)) => {
                        (last as i128 - *head.end() as i128) > g.missing as i128
                    }
                    (None, Some(last)) => {
                        (last as i128 - self.initial_value as i128 + 1) > g.missing as i128
                    }
                    _ => false,
                };
                inner_gap || g.rows > g.distinct
            })
            .map(|(scope, _)| scope.clone())
            .collect();
        let only: Vec<Vec<Option<sea_orm::Value>>> = dirty
            .iter()
            .map(|scope| scope_values(scope, &typed))
            .collect::<Result<_, _>>()?;
        let (gaps, duplicates) = dialect.audit_details(
            &base,
            n,
            self.initial_value,
            self.max_listed,
            // A few scopes by their values; many, by reading the table.
            (only.len() <= 100).then_some(only.as_slice()),
        );
        let (gaps, duplicates) = if dirty.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (
                db.query_all_raw(gaps).await?,
                db.query_all_raw(duplicates).await?,
            )
        };
        for row in gaps {
            let scope = scope_of(&row, n)?;
            let range = row.try_get_by_index::<i64>(n)?..=row.try_get_by_index::<i64>(n + 1)?;
            if let Some(group) = groups.get_mut(&scope) {
                group.gaps.push(range);
            }
        }
        for row in duplicates {
            let scope = scope_of(&row, n)?;
            let value = row.try_get_by_index::<i64>(n)?;
            let count = row.try_get_by_index::<i64>(n + 1)? as u64;
            if let Some(group) = groups.get_mut(&scope) {
                group.duplicates.push((value, count));
            }
        }

        if self.date.is_some() {
            let (count, list) = dialect.audit_inversions(&base, n, self.max_listed);
            for row in db.query_all_raw(count).await? {
                let scope = scope_of(&row, n)?;
                if let Some(group) = groups.get_mut(&scope) {
                    group.inversions = row.try_get_by_index::<i64>(n)? as u64;
                }
            }
            for row in db.query_all_raw(list).await? {
                let scope = scope_of(&row, n)?;
                let inversion = DateInversion {
                    number: row.try_get_by_index(n)?,
                    date: row.try_get_by_index(n + 1)?,
                    previous_date: row.try_get_by_index(n + 2)?,
                };
                if let Some(group) = groups.get_mut(&scope) {
                    group.inversions_listed.push(inversion);
                }
            }
        }
        self.add_unnumbered(db, dialect, &unnumbered, n, &mut groups)
            .await?;
        if let Some(template) = &self.sequence {
            // Sequences whose rows are all gone: counters the template names
            // (not under a filter, which may exclude them), and checkpoints.
            let counters = if self.filtered {
                Vec::new()
            } else {
                self.counters(db, template).await?
            };
            let checkpointed = self.checkpoints.iter().map(|c| c.sequence.clone());
            let named = counters
                .into_iter()
                .map(|(name, _)| name)
                .chain(checkpointed);
            self.add_named(template, named, &mut groups)?;
            let names: Vec<(Vec<Option<String>>, String)> = groups
                .keys()
                .filter_map(|scope| Some((scope.clone(), self.sequence_name(template, scope)?)))
                .collect();
            let wanted: Vec<String> = names.iter().map(|(_, name)| name.clone()).collect();
            let lasts = sequence_lasts(db, &wanted, self.table).await?;
            for (scope, name) in names {
                let group = groups.get_mut(&scope).expect("named from a group");
                group.sequence_last = lasts.get(&name).copied();
                group.checkpoint_last = self
                    .checkpoints
                    .iter()
                    .filter(|c| c.sequence == name)
                    .map(|c| c.last)
                    .max();
                group.sequence = Some(name);
            }
            // Numbered rows whose scope names no sequence (a NULL placeholder
            // the library would have refused): numbered behind its back.
            for group in groups.values_mut().filter(|g| g.sequence.is_none()) {
                group.unnamed = group.rows > 0;
            }
        }
        for group in groups.values_mut() {
            group.finish(self.initial_value);
        }
        // Voids explain gaps: read them, and which of them a row still holds.
        let voids = group_voids(db, groups.values()).await?;
        let wanted: Vec<i64> = voids.values().flatten().copied().collect();
        let mut present: BTreeMap<Vec<Option<String>>, BTreeSet<i64>> = BTreeMap::new();
        for chunk in wanted.chunks(500) {
            for row in db
                .query_all_raw(dialect.audit_present(&base, n, chunk))
                .await?
            {
                present
                    .entry(scope_of(&row, n)?)
                    .or_default()
                    .insert(row.try_get_by_index(n)?);
            }
        }
        for (scope, group) in &mut groups {
            if let Some(name) = &group.sequence
                && let Some(voided) = voids.get(name)
            {
                let present = present.remove(scope).unwrap_or_default();
                group.explain(voided, &present, self.initial_value);
            }
        }
        Ok(AuditReport {
            initial_value: self.initial_value,
            groups: groups.into_values().collect(),
            unreadable: 0,
            triggers: None,
            pending: None,
        })
    }
    /// The rows whose number is NULL (within the filter): `scope` columns as
    /// text (`s0`..), then the key columns (`k0`..).
    pub(super) fn unnumbered_query<D: ConnectionTrait>(
        &self,
        db: &D,
        scope: &[C],
        dialect: Dialect,
    ) -> sea_orm::Statement {
        use sea_orm::sea_query::ExprTrait;
        let text = dialect.audit_cast_types().1;
        let table = Alias::new(self.value.table_name());
        let col = |c: &C| Expr::col((table.clone(), Alias::new(c.column_name())));
        let mut query = Query::select();
        for (i, column) in scope.iter().enumerate() {
            query.expr_as(
                as_text(col(column), column, dialect),
                Alias::new(format!("s{i}")),
            );
        }
        for (i, column) in self.key.iter().enumerate() {
            query.expr_as(
                Func::cast_as(col(column), text),
                Alias::new(format!("k{i}")),
            );
        }
        // A column even without scope and key.
        query.expr_as(Expr::cust("1"), Alias::new("u"));
        query.from(table.clone()).cond_where(
            Condition::all()
                .add(col(&self.value).is_null())
                .add(self.filter.clone()),
        );
        db.get_database_backend().build(&query)
    }
    /// Rows whose number is NULL, counted per scope (and listed by key, the
    /// first [`max_listed`](Self::max_listed)) into `groups`.
    pub(super) async fn add_unnumbered<D: ConnectionTrait>(
        &self,
        db: &D,
        dialect: Dialect,
        unnumbered: &sea_orm::Statement,
        n: usize,
        groups: &mut BTreeMap<Scope, GroupAudit>,
    ) -> Result<(), DbErr> {
        let (count, list) = dialect.audit_unnumbered(unnumbered, n, self.max_listed);
        for row in db.query_all_raw(count).await? {
            let scope = scope_of(&row, n)?;
            let group = groups
                .entry(scope.clone())
                .or_insert_with(|| GroupAudit::empty(scope));
            group.unnumbered = row.try_get_by_index::<i64>(n)? as u64;
        }
        if self.key.is_empty() {
            return Ok(());
        }
        for row in db.query_all_raw(list).await? {
            let scope = scope_of(&row, n)?;
            let key = (0..self.key.len())
                .map(|i| row.try_get_by_index::<Option<String>>(n + i))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(group) = groups.get_mut(&scope) {
                group.unnumbered_keys.push(key);
            }
        }
        Ok(())
    }
}
