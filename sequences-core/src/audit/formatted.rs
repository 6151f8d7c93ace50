//! The audit of formatted references (`INV-2026-00042`): the numbers and
//! their periods read back from the text through the format.

use sea_orm::ConnectionTrait;

use super::{
    Audit, AuditReport, GroupAudit, Scope, date_inversions, fill_template, group_voids,
    parse_template, sequence_lasts,
};
use crate::column::AuditColumn;
use crate::error::SequenceError;
use crate::reference::{self, Pattern};
use crate::sql::Dialect;
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::{Condition, DbErr};
use std::collections::{BTreeMap, BTreeSet};

impl<C: AuditColumn> Audit<C> {
    /// The audit of formatted references (see [`format`](Self::format)).
    pub(super) async fn run_formatted<D: ConnectionTrait>(
        &self,
        db: &D,
        format: &str,
    ) -> Result<AuditReport, DbErr> {
        use sea_orm::sea_query::ExprTrait;
        let target = self.target();
        let pattern = Pattern::parse(format).map_err(|reason| {
            SequenceError::invalid_audit(&target, format!("format {format:?}: {reason}"))
        })?;
        let names = pattern.part_names();
        if let Some(template) = &self.sequence {
            let probe: Vec<Option<String>> = names.iter().map(|n| Some((*n).to_owned())).collect();
            fill_template(template, &names, &probe).map_err(|reason| {
                SequenceError::invalid_audit(
                    &target,
                    format!(
                        "sequence name {template:?}: {reason}; placeholders must name \
                         placeholders of the format ({names:?})"
                    ),
                )
            })?;
        }
        let dialect = Dialect::of(db.get_database_backend())?;
        let (_, text) = dialect.audit_cast_types();
        let table = Alias::new(self.value.table_name());
        let col = |c: &C| Expr::col((table.clone(), Alias::new(c.column_name())));
        let mut query = Query::select();
        query.expr(Func::cast_as(col(&self.value), text));
        if let Some(date) = &self.date {
            query.expr(Func::cast_as(col(date), text));
        }
        let query = query
            .from(table.clone())
            .cond_where(
                Condition::all()
                    .add(col(&self.value).is_not_null())
                    .add(self.filter.clone()),
            )
            .to_owned();
        let unnumbered = self.unnumbered_query(db, &[], dialect);
        let mut groups: BTreeMap<Scope, Vec<(i64, Option<String>)>> = BTreeMap::new();
        let mut unreadable = 0;
        for row in db
            .query_all_raw(db.get_database_backend().build(&query))
            .await?
        {
            let text: String = row.try_get_by_index(0)?;
            let date: Option<String> = if self.date.is_some() {
                row.try_get_by_index(1)?
            } else {
                None
            };
            match pattern.read(&text) {
                Some(parsed) => groups
                    .entry(parsed.parts.into_iter().map(|(_, v)| Some(v)).collect())
                    .or_default()
                    .push((parsed.value, date)),
                None => unreadable += 1,
            }
        }
        let mut budget = (self.max_listed, self.max_listed);
        let mut audited = Vec::with_capacity(groups.len());
        for (scope, mut rows) in groups {
            rows.sort_by_key(|(value, _)| *value);
            let inversions = date_inversions(&rows);
            let values = rows.into_iter().map(|(value, _)| value).collect();
            let mut group = GroupAudit::from_values(scope, values, self.initial_value, &mut budget);
            group.inversions = inversions.len() as u64;
            group.inversions_listed = inversions
                .into_iter()
                .take(self.max_listed as usize)
                .collect();
            if let Some(template) = &self.sequence {
                group.sequence = self.formatted_sequence_name(template, &names, &group.scope);
            }
            audited.push(group);
        }
        // Unnumbered rows have no reference to read a group from: they are
        // reported in a group of their own, with no scope.
        let mut nulls: BTreeMap<Scope, GroupAudit> = BTreeMap::new();
        self.add_unnumbered(db, dialect, &unnumbered, 0, &mut nulls)
            .await?;
        audited.extend(nulls.into_values().map(|mut group| {
            group.scope = vec![None; names.len()];
            group
        }));
        if let Some(template) = &self.sequence {
            let mut known: BTreeSet<String> =
                audited.iter().filter_map(|g| g.sequence.clone()).collect();
            let counters = if self.filtered {
                Vec::new()
            } else {
                self.counters(db, template).await?
            };
            let parsed = parse_template(template)?;
            let checkpointed = self
                .checkpoints
                .iter()
                .map(|c| (c.sequence.clone(), c.last))
                .filter(|(name, _)| self.read_back(&parsed, name).is_some());
            for (name, _) in counters.into_iter().chain(checkpointed) {
                if known.insert(name.clone()) {
                    let mut group = GroupAudit::empty(vec![None; names.len()]);
                    group.sequence = Some(name);
                    audited.push(group);
                }
            }
            for group in audited.iter_mut().filter(|g| g.rows > 0) {
                group.unnamed = group.sequence.is_none();
            }
        }
        let names_wanted: Vec<String> = audited.iter().filter_map(|g| g.sequence.clone()).collect();
        let lasts = sequence_lasts(db, &names_wanted, self.table).await?;
        for group in &mut audited {
            group.sequence_last = group.sequence.as_ref().and_then(|n| lasts.get(n).copied());
            group.checkpoint_last = self
                .checkpoints
                .iter()
                .filter(|c| group.sequence.as_deref() == Some(c.sequence.as_str()))
                .map(|c| c.last)
                .max();
            group.finish(self.initial_value);
        }
        let voids = group_voids(db, audited.iter()).await?;
        for group in &mut audited {
            if let Some(voided) = group.sequence.as_ref().and_then(|name| voids.get(name)) {
                let present = group.present.clone();
                group.explain(voided, &present, self.initial_value);
            }
        }
        Ok(AuditReport {
            initial_value: self.initial_value,
            groups: audited,
            unreadable,
            triggers: None,
            pending: None,
        })
    }

    /// The sequence of a group of formatted references, period included.
    fn formatted_sequence_name(
        &self,
        template: &str,
        names: &[&str],
        scope: &[Option<String>],
    ) -> Option<String> {
        let base = fill_template(template, names, scope).ok()?;
        let Some(period) = self.period else {
            return Some(base);
        };
        let part = |name: &str| {
            names
                .iter()
                .position(|n| *n == name)
                .and_then(|i| scope[i].as_deref())
        };
        Some(period.sequence_name(&base, reference::period_day(period, part)?))
    }
}
