//! Checking the chain: [`ChainAudit`] reads the rows, voids and heads of a
//! numbered column and walks each sequence's chain (`walk`).

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, StreamTrait};

use super::walk::{Counter, Group, Row, Void, Walk};
use super::{ChainKey, Checkpoint};
use crate::column::{AuditColumn, as_text, fits_scope};
use crate::sql::Dialect;
use crate::{SequenceError, entity};
use sequences_template::{Piece, Template};

/// Verifies the chains of a numbered column: recomputes every link and
/// reports every broken one, per sequence.
///
/// Every sequence the template names is verified: those with rows, and
/// those with a chain head or a [checkpoint](Self::checkpoints) whose rows
/// are all gone. Each chain is walked from the sequence's initial value to
/// the highest of its last row, its last void, its `last` and its
/// checkpoints; every number on the way is a record, a void, or a break.
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
/// #         pub amount_cents: i64,
/// #         pub hash: Option<String>,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sequences_core::ChainAudit;
///
/// let report = ChainAudit::new(invoice::Column::Number, invoice::Column::Hash)
///     .covers([invoice::Column::AmountCents])
///     .scope([invoice::Column::CompanyId])
///     .sequence("invoice-{company_id}")
///     .run(db)
///     .await?;
/// assert!(report.is_intact(), "{:?}", report.first_break());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ChainAudit<C> {
    number: C,
    hash: C,
    covers: Vec<C>,
    scope: Vec<C>,
    sequence: String,
    initial_value: i64,
    key: Option<ChainKey>,
    legacy_prefix: bool,
    checkpoints: Vec<Checkpoint>,
    progress: crate::progress::Hook,
}

/// The chains of one audit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ChainReport {
    /// One per sequence, in name order.
    pub chains: Vec<ChainState>,
}

/// The chain of one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ChainState {
    /// The sequence.
    pub sequence: String,
    /// Where the walk starts: the initial value (or, with
    /// [`ChainAudit::legacy_prefix`], the first hashed number); `None` when
    /// there is nothing to verify.
    pub starts_at: Option<i64>,
    /// Where it ends: the highest of the last row, the last void, the
    /// sequence's `last` and its checkpoints.
    pub ends_at: Option<i64>,
    /// Links that verify against the link before them, voids included.
    pub links: u64,
    /// Rows of this sequence's scope whose number is NULL.
    pub unnumbered: u64,
    /// Every break, in number order (consecutive numbers with the same
    /// fault as one break).
    pub breaks: Vec<ChainBreak>,
    /// The first break, if any (`breaks[0]`).
    pub broken: Option<ChainBreak>,
}

/// Where and how a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ChainBreak {
    /// The number of the first link that does not verify.
    pub number: i64,
    /// The last number of this break (the same, for one link).
    pub through: i64,
    /// What is wrong there.
    pub kind: BreakKind,
}

/// What is wrong at a broken link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum BreakKind {
    /// The stored hash is not the hash of this record after the previous one:
    /// a covered field or the number was edited, a record was inserted or
    /// swapped out of order, or the chain was recomputed (with another key,
    /// or none).
    Altered,
    /// No record and no void carries this number: a record was deleted.
    Missing,
    /// Several records carry this number.
    Duplicate,
    /// A record of the chain has no hash: written behind the library's back,
    /// or its hash was erased.
    Unhashed,
    /// The chain does not end at the sequence's `chain_head`: records at the
    /// end were deleted, or the head was moved or erased.
    Head,
    /// The chain no longer passes through a checkpoint's head at its `last`:
    /// the history before the checkpoint was rewritten or cut since.
    Checkpoint,
    /// In a keyed chain, a void without the key holder's authenticator: a
    /// record deleted and explained away by someone without the key.
    Void,
    /// A record numbered below the sequence's initial value, which no chain
    /// of it passes through: forged, or the initial value given to the
    /// check is not the sequence's.
    Outside,
}

impl ChainReport {
    /// Every chain verifies to its head, and no row is unnumbered.
    pub fn is_intact(&self) -> bool {
        self.chains
            .iter()
            .all(|chain| chain.breaks.is_empty() && chain.unnumbered == 0)
    }

    /// The first break, over all chains (sequence and break).
    pub fn first_break(&self) -> Option<(&str, &ChainBreak)> {
        self.chains
            .iter()
            .find_map(|chain| Some((chain.sequence.as_str(), chain.breaks.first()?)))
    }
}

impl<C: AuditColumn> ChainAudit<C> {
    /// The chain of `number`, with its links in `hash`.
    pub fn new(number: C, hash: C) -> Self {
        Self {
            number,
            hash,
            covers: Vec::new(),
            scope: Vec::new(),
            sequence: String::new(),
            initial_value: 1,
            key: None,
            legacy_prefix: false,
            checkpoints: Vec::new(),
            progress: crate::progress::Hook::default(),
        }
    }

    /// The fields the hash covers, in the order declared where it is written.
    pub fn covers(mut self, columns: impl IntoIterator<Item = C>) -> Self {
        self.covers = columns.into_iter().collect();
        self
    }

    /// One chain per distinct value of these columns (a sequence per company).
    pub fn scope(mut self, columns: impl IntoIterator<Item = C>) -> Self {
        self.scope = columns.into_iter().collect();
        self
    }

    /// The sequence name template (`invoice-{company_id}`), its placeholders
    /// naming scope columns.
    pub fn sequence(mut self, template: impl Into<String>) -> Self {
        self.sequence = template.into();
        self
    }

    /// The sequences' first value (default 1), where every chain starts.
    pub fn initial_value(mut self, initial_value: i64) -> Self {
        self.initial_value = initial_value;
        self
    }

    /// The chain is keyed (HMAC-SHA-256) with `key`. Without it, a keyed
    /// chain does not verify (every link is [`BreakKind::Altered`]); with it,
    /// a chain recomputed without the key does not either.
    pub fn chain_key(mut self, key: ChainKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The chain was added to a table that already had rows: rows numbered
    /// before the first hashed one are outside it, and not breaks. Without
    /// this, every row from the initial value on must be hashed (so erasing
    /// every hash is a break, not a chain that never started).
    pub fn legacy_prefix(mut self, legacy_prefix: bool) -> Self {
        self.legacy_prefix = legacy_prefix;
        self
    }

    /// Checkpoints taken earlier ([`checkpoints`](crate::chain::checkpoints), kept outside the
    /// database): each sequence's chain must still pass through the
    /// checkpoint's head at its `last` ([`BreakKind::Checkpoint`] otherwise),
    /// and a checkpointed sequence whose rows and counter are gone is
    /// verified too.
    pub fn checkpoints(mut self, checkpoints: impl IntoIterator<Item = Checkpoint>) -> Self {
        self.checkpoints.extend(checkpoints);
        self
    }

    /// The stored hash of the record numbered `number` in sequence
    /// `sequence` (found through the scope and the template), if there is
    /// one: what a void of that record keeps
    /// ([`Sequence::void_link`](crate::Sequence::void_link)), so the chain
    /// runs on through it once the record is deleted.
    pub async fn record_hash<D: ConnectionTrait>(
        &self,
        db: &D,
        sequence: &str,
        number: i64,
    ) -> Result<Option<String>, SequenceError> {
        self.record_hash_of(db, sequence, number)
            .await
            .map_err(|error| SequenceError::of_audit(&self.target(), error))
    }

    /// The chained column, as errors name it: `table.number`.
    fn target(&self) -> String {
        format!("{}.{}", self.number.table_name(), self.number.column_name())
    }

    async fn record_hash_of<D: ConnectionTrait>(
        &self,
        db: &D,
        sequence: &str,
        number: i64,
    ) -> Result<Option<String>, DbErr> {
        let dialect = Dialect::of(db.get_database_backend())?;
        let (_, text) = dialect.audit_cast_types();
        let template = self.template()?;
        let table = Alias::new(self.number.table_name());
        let col = |c: &C| Expr::col((table.clone(), Alias::new(c.column_name())));
        let mut query = Query::select();
        for column in &self.scope {
            query.expr(as_text(col(column), column, dialect));
        }
        query
            .expr(Func::cast_as(col(&self.hash), text))
            .from(table.clone())
            .and_where(col(&self.number).eq(number));
        let names: Vec<&str> = self.scope.iter().map(AuditColumn::column_name).collect();
        let n = self.scope.len();
        for row in db
            .query_all_raw(db.get_database_backend().build(&query))
            .await?
        {
            let scope: Vec<Option<String>> = (0..n)
                .map(|i| row.try_get_by_index(i))
                .collect::<Result<_, _>>()?;
            let name = template.fill_name(|placeholder| {
                names
                    .iter()
                    .position(|n| *n == placeholder)
                    .and_then(|i| scope[i].clone())
                    .ok_or(())
            });
            if name.as_deref() == Ok(sequence) {
                return row.try_get_by_index(n);
            }
        }
        Ok(None)
    }

    /// Reports the walk to `progress`: one stage, one step per row read
    /// (the rows are counted first, for its length).
    pub fn progress(mut self, progress: impl crate::Progress + 'static) -> Self {
        self.progress = crate::progress::Hook::new(progress);
        self
    }

    /// Reads the counters, voids and chain heads, then streams the rows
    /// sequence by sequence and walks each sequence's chain once its rows
    /// are read. Its time follows the rows and voids; the memory it holds
    /// is one sequence's rows (a number, a hash and the covered fields
    /// each), plus the voids and counters of the sequences the template
    /// can name.
    pub async fn run<D>(&self, db: &D) -> Result<ChainReport, SequenceError>
    where
        D: ConnectionTrait + sea_orm::TransactionTrait,
        D::Transaction: StreamTrait,
    {
        let failed = |error| SequenceError::of_audit(&self.target(), error);
        // Rows, voids and heads as of one moment (see `Audit::run`).
        let snapshot = crate::session::snapshot(db).await.map_err(failed)?;
        let report = self.run_chains(&snapshot).await.map_err(failed)?;
        sea_orm::TransactionSession::commit(snapshot)
            .await
            .map_err(failed)?;
        Ok(report)
    }

    /// The sequence template, parsed, its placeholders naming scope columns.
    fn template(&self) -> Result<Template, DbErr> {
        let template = Template::parse(&self.sequence).map_err(|reason| {
            SequenceError::invalid_audit(
                &self.target(),
                format!("sequence name {:?}: {reason}", self.sequence),
            )
        })?;
        let scope_names: Vec<&str> = self.scope.iter().map(AuditColumn::column_name).collect();
        for placeholder in template.placeholders() {
            if !scope_names.contains(&placeholder) {
                return Err(SequenceError::invalid_audit(
                    &self.target(),
                    format!(
                        "placeholder `{{{placeholder}}}` of {:?} must name a scope column \
                         ({scope_names:?})",
                        self.sequence
                    ),
                ));
            }
        }
        Ok(template)
    }

    async fn run_chains<D>(&self, db: &D) -> Result<ChainReport, DbErr>
    where
        D: ConnectionTrait + StreamTrait,
    {
        let backend = ConnectionTrait::get_database_backend(db);
        let dialect = Dialect::of(backend)?;
        let (integer, text) = dialect.audit_cast_types();
        let key = match &self.key {
            None => None,
            Some(key) => Some(
                key.bytes()
                    .map_err(|reason| SequenceError::invalid_audit(&self.target(), reason))?,
            ),
        };
        let template = self.template()?;
        let scope_names: Vec<&str> = self.scope.iter().map(AuditColumn::column_name).collect();
        let prefix = match template.pieces.first() {
            Some(Piece::Text(text)) => Some(text.as_str()),
            _ => None,
        };
        // What the chains are walked against, read before the rows stream
        // (the stream holds the connection): the counters, voids and seals
        // of every sequence the template's prefix can name.
        let mut counters: BTreeMap<String, entity::Model> =
            entity::counters_prefixed(db, prefix, false)
                .await?
                .into_iter()
                .map(|row| (row.name.clone(), row))
                .collect();
        let mut voids: BTreeMap<String, BTreeMap<i64, Void>> = BTreeMap::new();
        for (sequence, found) in entity::voids_prefixed(db, prefix).await? {
            let voided = voids.entry(sequence).or_default();
            for void in found {
                voided.insert(
                    void.value,
                    Void {
                        hash: void.chain_hash,
                        reason: void.reason,
                        auth: None,
                    },
                );
            }
        }
        let mut seals: BTreeMap<String, Option<String>> = BTreeMap::new();
        if key.is_some() {
            self.read_keyed(db, prefix, &mut seals, &mut voids).await?;
        }
        // Sequences walked even without rows: chained counters the template
        // names (a placeholder of an integer scope column reads back as an
        // integer: `invoice-all` is no company's counter of
        // `invoice-{company_id}`), and checkpointed sequences.
        let fits = |name: &str| {
            template
                .read_name(name)
                .is_some_and(|values| fits_scope(&self.scope, &values))
        };
        let mut named: std::collections::BTreeSet<String> = counters
            .values()
            .filter(|c| c.chain_head.is_some() && fits(&c.name))
            .map(|c| c.name.clone())
            .collect();
        for checkpoint in self.checkpoints.iter().filter(|c| c.head.is_some()) {
            if template.read_name(&checkpoint.sequence).is_some() {
                named.insert(checkpoint.sequence.clone());
            }
        }
        let cover_names: Vec<&str> = self.covers.iter().map(AuditColumn::column_name).collect();
        let walk = Walk {
            key: key.as_deref(),
            covers: &cover_names,
            initial: self.initial_value,
            legacy_prefix: self.legacy_prefix,
        };
        let mut chains: BTreeMap<String, ChainState> = BTreeMap::new();
        let mut walk_one = |sequence: String, group: &Group| -> (String, ChainState) {
            let marks: Vec<&Checkpoint> = self
                .checkpoints
                .iter()
                .filter(|c| c.sequence == sequence && c.head.is_some())
                .collect();
            let state = walk.verify(
                sequence.clone(),
                group,
                &voids.remove(&sequence).unwrap_or_default(),
                Counter {
                    row: counters.get(&sequence),
                    seal: seals.remove(&sequence).flatten().as_deref(),
                },
                &marks,
            );
            counters.remove(&sequence);
            (sequence, state)
        };

        // The rows, streamed in the order of the template's values, so that
        // each sequence's rows come together and its chain is walked once
        // they are read: the memory held is one sequence's rows.
        let table = Alias::new(self.number.table_name());
        let col = |c: &C| Expr::col((table.clone(), Alias::new(c.column_name())));
        let mut query = Query::select();
        for column in &self.scope {
            query.expr(as_text(col(column), column, dialect));
        }
        query
            .expr(Func::cast_as(col(&self.number), integer))
            .expr(Func::cast_as(col(&self.hash), text));
        for column in &self.covers {
            query.expr(Func::cast_as(col(column), text));
        }
        query.from(table.clone());
        for placeholder in template.placeholders() {
            let column = self
                .scope
                .iter()
                .find(|c| c.column_name() == placeholder)
                .expect("the template names scope columns (checked)");
            query.order_by_expr(as_text(col(column), column, dialect), Order::Asc);
        }
        query.order_by_expr(col(&self.number), Order::Asc);
        let total = if self.progress_counts() {
            let count = Query::select()
                .expr(Func::count(Expr::cust("*")))
                .from(table.clone())
                .to_owned();
            db.query_one_raw(backend.build(&count))
                .await?
                .map(|row| row.try_get_by_index::<i64>(0))
                .transpose()?
                .map(|n| Ord::max(n, 0) as u64)
        } else {
            None
        };
        self.progress
            .stage(&format!("verifying the chains of {}", self.target()), total);
        let n = self.scope.len();
        // Rows whose template cannot be filled (a NULL placeholder value)
        // are one group, wherever they come in the order.
        let mut unnamed: Option<Group> = None;
        let mut current: Option<(String, Group)> = None;
        let mut read = 0u64;
        {
            let stream = db.stream_raw(backend.build(&query)).await?;
            futures_util::pin_mut!(stream);
            while let Some(row) = futures_util::TryStreamExt::try_next(&mut stream).await? {
                let scope: Vec<Option<String>> = (0..n)
                    .map(|i| row.try_get_by_index(i))
                    .collect::<Result<_, _>>()?;
                let sequence = template
                    .fill_name(|name| {
                        let i = scope_names
                            .iter()
                            .position(|n| *n == name)
                            .expect("checked");
                        scope[i].clone().ok_or(())
                    })
                    .unwrap_or_default();
                let group = if sequence.is_empty() {
                    unnamed.get_or_insert_with(Group::default)
                } else {
                    if current.as_ref().is_none_or(|(name, _)| *name != sequence) {
                        if let Some((name, group)) = current.take() {
                            let (name, state) = walk_one(name, &group);
                            chains.insert(name, state);
                        }
                        if chains.contains_key(&sequence) {
                            // The order above makes this impossible; were it
                            // not, a chain walked in parts would lie.
                            return Err(DbErr::Custom(format!(
                                "the rows of sequence {sequence:?} did not come together: \
                                 the chain check stops rather than walk it in parts"
                            )));
                        }
                        current = Some((sequence, Group::default()));
                    }
                    &mut current.as_mut().expect("set above").1
                };
                read += 1;
                if read.is_multiple_of(10_000) {
                    self.progress.advance(10_000);
                }
                let Some(number) = row.try_get_by_index::<Option<i64>>(n)? else {
                    group.unnumbered += 1;
                    continue;
                };
                let covered = (0..self.covers.len())
                    .map(|i| row.try_get_by_index::<Option<String>>(n + 2 + i))
                    .collect::<Result<_, _>>()?;
                group.rows.push(Row {
                    number,
                    hash: row.try_get_by_index(n + 1)?,
                    covered,
                });
            }
        }
        self.progress.advance(read % 10_000);
        let last = current.take().map(|(name, group)| walk_one(name, &group));
        chains.extend(last);
        let unnamed = unnamed.map(|group| walk_one(String::new(), &group));
        chains.extend(unnamed);
        for sequence in named {
            if !chains.contains_key(&sequence) {
                let (name, state) = walk_one(sequence, &Group::default());
                chains.insert(name, state);
            }
        }
        Ok(ChainReport {
            chains: chains.into_values().collect(),
        })
    }

    /// A keyed chain's seals of its heads and authenticators of its voids
    /// (`KeyedChainMigration`), for the sequences starting with `prefix`.
    async fn read_keyed<D: ConnectionTrait>(
        &self,
        db: &D,
        prefix: Option<&str>,
        seals: &mut BTreeMap<String, Option<String>>,
        voids: &mut BTreeMap<String, BTreeMap<i64, Void>>,
    ) -> Result<(), DbErr> {
        let dialect = Dialect::of(db.get_database_backend())?;
        let keyed = |error: DbErr| {
            SequenceError::schema_outdated(prefix.unwrap_or_default(), dialect.backend(), error)
        };
        let prefixed = |column: &str| {
            prefix
                .filter(|p| !p.is_empty())
                .map(|p| entity::starts_with(Expr::col(Alias::new(column)), p))
        };
        let mut query = Query::select()
            .column(Alias::new("name"))
            .column(Alias::new("chain_seal"))
            .from(Alias::new(entity::TABLE_NAME))
            .to_owned();
        if let Some(condition) = prefixed("name") {
            query.and_where(condition);
        }
        for row in db
            .query_all_raw(db.get_database_backend().build(&query))
            .await
            .map_err(keyed)?
        {
            seals.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        }
        let mut query = Query::select()
            .column(Alias::new("sequence"))
            .column(Alias::new("value"))
            .column(Alias::new("chain_auth"))
            .from(Alias::new(entity::VOIDS_TABLE))
            .to_owned();
        if let Some(condition) = prefixed("sequence") {
            query.and_where(condition);
        }
        for row in db
            .query_all_raw(db.get_database_backend().build(&query))
            .await
            .map_err(keyed)?
        {
            let sequence: String = row.try_get_by_index(0)?;
            let value: i64 = row.try_get_by_index(1)?;
            if let Some(void) = voids.get_mut(&sequence).and_then(|v| v.get_mut(&value)) {
                void.auth = row.try_get_by_index(2)?;
            }
        }
        Ok(())
    }

    /// Whether the rows are counted first, for a progress bar's length.
    fn progress_counts(&self) -> bool {
        !self.progress.is_silent()
    }
}
