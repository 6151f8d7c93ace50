//! Verifying the promise on the data: missing and duplicate numbers in an
//! entity's column, computed by the database.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{Condition, ConnectionTrait, DbErr, QueryResult, TransactionTrait};

use crate::column::{AuditColumn, fits_scope};
use crate::entity;
use crate::error::SequenceError;
use crate::period::Period;
use crate::sql::Dialect;
use sequences_template::Template;

mod formatted;
mod numbers;
mod pending;
mod report;

pub use report::{AuditReport, DateInversion, GroupAudit, PendingRows};

/// Audits a numbered column: which numbers are missing, which appear twice,
/// and whether the highest one agrees with its sequence's `last`.
///
/// The work is done by the database, in three queries (window functions and
/// `GROUP BY`), whatever the size of the table: only the per-scope summaries
/// and the first gaps and duplicates (by default 1,000 of each, see
/// [`max_listed`](Self::max_listed)) come back. Counts are always exact.
///
/// A number is *missing* when it lies in `initial_value..=upper` and no row has
/// it, where `upper` is the highest number present or the sequence's `last`,
/// whichever is greater: a value the sequence handed out and a committed row
/// does not hold is a gap too.
///
/// ```no_run
/// # mod invoice {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "invoice")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         pub company_id: i32,
/// #         pub number: i64,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sequences_core::Audit;
///
/// let report = Audit::new(invoice::Column::Number)
///     .scope([invoice::Column::CompanyId])
///     .sequence("invoice-{company_id}")
///     .run(db)
///     .await?;
/// for group in &report.groups {
///     println!(
///         "company {:?}: {} invoices, {} missing, {} duplicated",
///         group.scope[0], group.rows, group.missing, group.duplicate_rows
///     );
/// }
/// assert!(report.is_clean());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Audit<C> {
    value: C,
    scope: Vec<C>,
    sequence: Option<String>,
    initial_value: i64,
    filter: Condition,
    max_listed: u64,
    format: Option<String>,
    period: Option<Period>,
    date: Option<C>,
    key: Vec<C>,
    filtered: bool,
    checkpoints: Vec<crate::chain::Checkpoint>,
    guarded: bool,
    pending: Option<std::time::Duration>,
    progress: crate::progress::Hook,
    table: entity::CounterTable,
}

impl<C: AuditColumn> Audit<C> {
    /// Audits the numbers of column `value` (an integer column).
    pub fn new(value: C) -> Self {
        Self {
            value,
            scope: Vec::new(),
            sequence: None,
            initial_value: 1,
            filter: Condition::all(),
            max_listed: 1000,
            format: None,
            period: None,
            date: None,
            key: Vec::new(),
            guarded: false,
            pending: None,
            filtered: false,
            checkpoints: Vec::new(),
            progress: crate::progress::Hook::default(),
            table: entity::CounterTable::Sequences,
        }
    }

    /// The table the sequences' counters live in (`sequences` by default;
    /// django-sequences' `sequences_sequence` for a series shared with a
    /// Django application, see [`Sequence::counter_table`](crate::Sequence::counter_table)).
    pub fn counter_table(mut self, table: entity::CounterTable) -> Self {
        self.table = table;
        self
    }

    /// Checkpoints taken earlier ([`crate::chain::checkpoints`], kept outside
    /// the database): a sequence the template names must still exist with
    /// at least the checkpoint's `last` ([`GroupAudit::rewound`] otherwise),
    /// and its numbers up to it are audited even if the counter and every
    /// row were deleted since, which leaves no trace in the database itself.
    pub fn checkpoints(
        mut self,
        checkpoints: impl IntoIterator<Item = crate::chain::Checkpoint>,
    ) -> Self {
        self.checkpoints.extend(checkpoints);
        self
    }

    /// The columns that identify a row (its primary key): rows whose number
    /// is NULL are listed by them in [`GroupAudit::unnumbered_keys`]. Without
    /// it they are counted, not listed.
    pub fn row_key(mut self, columns: impl IntoIterator<Item = C>) -> Self {
        self.key = columns.into_iter().collect();
        self
    }

    /// The column holding each row's date: the audit also reports date
    /// inversions, a higher number on an earlier date than the number
    /// before it (what a chronological sequence refuses).
    pub fn date(mut self, column: C) -> Self {
        self.date = Some(column);
        self
    }

    /// The column holds references printed with this format (as
    /// `#[gapless(format = "...")]` prints them, say
    /// `"{journal}-{year}-{value:05}"`): the audit reads each one back and
    /// audits the numbers per value of the other placeholders (per journal and
    /// year), instead of per [`scope`](Self::scope). The texts are read by the
    /// application, one row at a time; a text that does not match the format
    /// is counted in [`AuditReport::unreadable`]. [`sequence`](Self::sequence)
    /// placeholders then name format placeholders.
    pub fn format(mut self, format: impl Into<String>) -> Self {
        self.format = Some(format.into());
        self
    }

    /// With [`format`](Self::format): the sequence is per period, so its name
    /// is the [`sequence`](Self::sequence) name plus `@2026` (`@2026-03`,
    /// `@2026-03-15`), from the reference's `{year}` (or `{yy}`, read as
    /// 20yy), `{month}` and `{day}`.
    pub fn period(mut self, period: Period) -> Self {
        self.period = Some(period);
        self
    }

    /// Numbers are independent per distinct value of these columns (a
    /// sequence per company, say), and audited per group.
    pub fn scope(mut self, columns: impl IntoIterator<Item = C>) -> Self {
        self.scope = columns.into_iter().collect();
        self
    }

    /// The sequence (name template) that numbers the column: `{column}` is
    /// replaced by the group's value of a scope column, `{{`/`}}` are braces,
    /// as in `#[gapless(sequence = "...")]`. Its `last` is then compared
    /// with the highest number of each group.
    pub fn sequence(mut self, template: impl Into<String>) -> Self {
        self.sequence = Some(template.into());
        self
    }

    /// The sequence's first value (default 1): numbers below it are counted
    /// apart, not as gaps.
    pub fn initial_value(mut self, initial_value: i64) -> Self {
        self.initial_value = initial_value;
        self
    }

    /// Audits only the rows matching `condition` (say, one fiscal year).
    ///
    /// Without a filter, every sequence whose name the
    /// [`sequence`](Self::sequence) template can produce is audited, rows or
    /// not: a sequence whose rows were all deleted is all missing. With a
    /// filter, only the groups that have rows in it are (the audit cannot
    /// tell which sequences the filter excludes).
    pub fn filter(mut self, condition: impl Into<Condition>) -> Self {
        self.filter = condition.into();
        self.filtered = true;
        self
    }

    /// How many gap ranges and duplicate numbers to list, for each kind
    /// across all groups (default 1,000). Counts are exact regardless.
    pub fn max_listed(mut self, max_listed: u64) -> Self {
        self.max_listed = max_listed;
        self
    }

    /// The column is numbered [`after_commit`](crate::NumberedField::after_commit):
    /// rows whose number is NULL wait for a numberer, and are reported in
    /// [`AuditReport::pending`] rather than as unnumbered. The audit watches
    /// the rows waiting when it looks (the first 1,000,000 in key order) for
    /// `max_wait`: one still unnumbered then is a defect (`overdue`). A row
    /// that leaves the watch under a key it cannot follow makes it watch
    /// every row waiting from then on (up to three `max_wait`s in all). The
    /// rows a numberer refused (`sequence_refusals`, any numbered column of
    /// the table) are defects too, and so is a numberer's heartbeat dated in
    /// the future. The verdict never rests on the heartbeat, which anyone
    /// who can write `sequences` can write. Needs the table's one-column
    /// key ([`row_key`](Self::row_key)), which the waiting rows are followed by.
    pub fn pending(mut self, max_wait: std::time::Duration) -> Self {
        self.pending = Some(max_wait);
        self
    }

    /// The column must be [numbered by the database](crate::Numbering::install_triggers):
    /// a column whose triggers were never recorded (or whose record was
    /// deleted with them) is [`TriggerState::NotInstalled`](crate::TriggerState::NotInstalled),
    /// a defect. Without it, such a column reads as never guarded
    /// (`triggers: None`), since nothing in the database says otherwise.
    pub fn guarded(mut self) -> Self {
        self.guarded = true;
        self
    }

    /// Reports what the audit is doing to `progress`: reading the rows, then
    /// watching the rows waiting for a numberer (one step per row that
    /// leaves the wait), which may last [`pending`](Self::pending)'s
    /// `max_wait`.
    pub fn progress(mut self, progress: impl crate::Progress + 'static) -> Self {
        self.progress = crate::progress::Hook::new(progress);
        self
    }

    /// Runs the audit. Fails, before any query, when the column is not an
    /// integer or the template names a column that is not in the scope.
    pub async fn run<D>(&self, db: &D) -> Result<AuditReport, SequenceError>
    where
        D: ConnectionTrait + TransactionTrait,
    {
        let failed = |error| SequenceError::of_audit(&self.target(), error);
        self.progress
            .stage(&format!("auditing {}", self.target()), None);
        // Rows, counters, voids and triggers as of one moment: read apart,
        // a commit between two reads would show a counter ahead of its rows.
        let snapshot = crate::session::snapshot(db).await.map_err(failed)?;
        let result = match &self.format {
            Some(format) => self.run_formatted(&snapshot, format).await,
            None => self.run_numbers(&snapshot).await,
        };
        let mut report = result.map_err(failed)?;
        report.triggers = self.triggers(&snapshot).await.map_err(failed)?;
        sea_orm::TransactionSession::commit(snapshot)
            .await
            .map_err(failed)?;
        // The rows waiting are watched as they change: outside the snapshot.
        if let Some(max_wait) = self.pending {
            report.pending = Some(
                self.pending_rows(db, &mut report, max_wait)
                    .await
                    .map_err(failed)?,
            );
        }
        Ok(report)
    }

    /// The state of the column's triggers, if it was ever numbered by the
    /// database.
    async fn triggers<D: ConnectionTrait>(
        &self,
        db: &D,
    ) -> Result<Option<crate::TriggerState>, DbErr> {
        let dialect = Dialect::of(db.get_database_backend())?;
        let state = crate::triggers::catalog::state(
            db,
            dialect,
            &self.value.table_name(),
            self.value.column_name(),
            None,
        )
        .await?;
        Ok(match state {
            None if self.guarded => Some(crate::TriggerState::NotInstalled),
            state => state,
        })
    }

    /// The audited column, as errors name it: `table.column`.
    fn target(&self) -> String {
        format!("{}.{}", self.value.table_name(), self.value.column_name())
    }

    fn check(&self) -> Result<(), DbErr> {
        let target = self.target();
        if self.period.is_some() {
            return Err(SequenceError::invalid_audit(
                &target,
                "`period` needs `format`: the period is read from the references' \
                 {year}/{month}/{day}; for an integer column, audit per period with `scope` \
                 and `filter`",
            ));
        }
        if self.value.is_integer() == Some(false) {
            return Err(SequenceError::invalid_audit(
                &target,
                "the column is not an integer column; audit the column the sequence numbers",
            ));
        }
        if let Some(template) = &self.sequence {
            let scope: Vec<Option<String>> = self
                .scope
                .iter()
                .map(|c| Some(c.column_name().to_owned()))
                .collect();
            fill_template(template, &self.scope_names(), &scope).map_err(|reason| {
                SequenceError::invalid_audit(
                    &target,
                    format!(
                        "sequence name {template:?}: {reason}; placeholders must name scope \
                         columns ({:?})",
                        self.scope_names()
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// Every existing sequence the template can name, with its `last`.
    async fn counters<D: ConnectionTrait>(
        &self,
        db: &D,
        template: &str,
    ) -> Result<Vec<(String, i64)>, DbErr> {
        let parsed = parse_template(template)?;
        Ok(counters_of(db, &parsed, self.table)
            .await?
            .into_iter()
            .filter(|(name, _)| self.read_back(&parsed, name).is_some())
            .collect())
    }

    /// The placeholder values of `name`, when the template (and, for a
    /// formatted audit, the period) can produce it and they fit the scope's
    /// columns; `None` otherwise.
    fn read_back(&self, parsed: &Template, name: &str) -> Option<Vec<(String, String)>> {
        let base = match self.period.filter(|_| self.format.is_some()) {
            None => name,
            Some(period) => {
                let (base, suffix) = name.rsplit_once('@')?;
                period.reads_suffix(suffix).then_some(base)?
            }
        };
        parsed
            .read_name(base)
            .filter(|values| fits_scope(&self.scope, values))
    }

    /// Adds an empty group (scope read back from its name) for each sequence
    /// of `names` that names no group yet: its rows are gone, or it only
    /// appears in a checkpoint.
    fn add_named(
        &self,
        template: &str,
        names: impl IntoIterator<Item = String>,
        groups: &mut BTreeMap<Scope, GroupAudit>,
    ) -> Result<(), DbErr> {
        let parsed = parse_template(template)?;
        let known: BTreeSet<String> = groups
            .keys()
            .filter_map(|scope| self.sequence_name(template, scope))
            .collect();
        let columns = self.scope_names();
        for name in names {
            if known.contains(&name) {
                continue;
            }
            let Some(values) = self.read_back(&parsed, &name) else {
                continue;
            };
            let scope: Scope = columns
                .iter()
                .map(|column| {
                    values
                        .iter()
                        .find(|(placeholder, _)| placeholder == column)
                        .map(|(_, value)| value.clone())
                })
                .collect();
            groups
                .entry(scope.clone())
                .or_insert_with(|| GroupAudit::empty(scope));
        }
        Ok(())
    }

    fn scope_names(&self) -> Vec<&str> {
        self.scope.iter().map(|c| c.column_name()).collect()
    }

    /// The sequence of a group; none when a placeholder's value is NULL (the
    /// derive refuses to number such a row).
    fn sequence_name(&self, template: &str, scope: &[Option<String>]) -> Option<String> {
        fill_template(template, &self.scope_names(), scope).ok()
    }
}

/// A group's scope values, as text (`None`: NULL).
type Scope = Vec<Option<String>>;

/// The voids of the groups' sequences, by sequence, in value order.
async fn group_voids<'g, D: ConnectionTrait>(
    db: &D,
    groups: impl Iterator<Item = &'g GroupAudit>,
) -> Result<BTreeMap<String, Vec<i64>>, DbErr> {
    let names: Vec<String> = groups.filter_map(|g| g.sequence.clone()).collect();
    Ok(entity::voids_named(db, &names)
        .await?
        .into_iter()
        .map(|(name, voids)| {
            let mut values: Vec<i64> = voids.into_iter().map(|v| v.value).collect();
            values.sort_unstable();
            (name, values)
        })
        .collect())
}

/// Rows (sorted by number) dated earlier than the row before them.
fn date_inversions(rows: &[(i64, Option<String>)]) -> Vec<DateInversion> {
    let mut inversions = Vec::new();
    let mut previous: Option<&str> = None;
    for (number, date) in rows {
        let Some(date) = date.as_deref() else {
            continue;
        };
        if let Some(before) = previous.filter(|before| date < *before) {
            inversions.push(DateInversion {
                number: *number,
                date: date.to_owned(),
                previous_date: before.to_owned(),
            });
        }
        previous = Some(date);
    }
    inversions
}

/// `template` parsed, or the audit's error naming it.
fn parse_template(template: &str) -> Result<Template, DbErr> {
    Template::parse(template).map_err(|e| {
        SequenceError::invalid_audit(template, format!("sequence name {template:?}: {e}"))
    })
}

/// Every counter the template's leading text can name, with its `last`.
async fn counters_of<D: ConnectionTrait>(
    db: &D,
    template: &Template,
    table: entity::CounterTable,
) -> Result<Vec<(String, i64)>, DbErr> {
    let prefix = match template.pieces.first() {
        Some(sequences_template::Piece::Text(text)) => Some(text.as_str()),
        _ => None,
    };
    Ok(crate::counters::prefixed(db, prefix, table)
        .await?
        .into_iter()
        .map(|model| (model.name, model.last))
        .collect())
}

/// The `last` of each of `names` that exists.
async fn sequence_lasts<D: ConnectionTrait>(
    db: &D,
    names: &[String],
    table: entity::CounterTable,
) -> Result<BTreeMap<String, i64>, DbErr> {
    Ok(crate::counters::named(db, names, table)
        .await?
        .into_iter()
        .map(|(name, model)| (name, model.last))
        .collect())
}

fn scope_of(row: &QueryResult, n: usize) -> Result<Vec<Option<String>>, DbErr> {
    (0..n)
        .map(|i| row.try_get_by_index::<Option<String>>(i))
        .collect()
}

/// Fills `{column}` placeholders of a sequence name template.
fn fill_template(
    template: &str,
    names: &[&str],
    values: &[Option<String>],
) -> Result<String, String> {
    Template::parse(template)
        .map_err(|e| e.to_string())?
        .fill_name(|name| {
            let index = names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| format!("unknown placeholder `{{{name}}}`"))?;
            values[index]
                .clone()
                .ok_or_else(|| format!("`{name}` is NULL"))
        })
}

#[cfg(test)]
mod tests {
    use super::fill_template;

    #[test]
    fn templates_fill_scope_values_and_escape_braces() {
        let names = ["company_id", "journal"];
        let values = [Some("42".to_owned()), None];
        assert_eq!(
            fill_template("inv-{company_id}-{{x}}", &names, &values).unwrap(),
            "inv-42-{x}"
        );
        assert!(fill_template("inv-{journal}", &names, &values).is_err());
        assert!(fill_template("inv-{nope}", &names, &values).is_err());
        assert!(fill_template("inv-}", &names, &values).is_err());
    }
}
