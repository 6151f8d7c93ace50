//! A tamper-evident chain per sequence: each numbered record carries a
//! SHA-256 over the previous record's hash, its sequence, its number and the
//! fields it covers. Editing a covered field, deleting a record, or swapping
//! numbers breaks the chain at that record, and [`ChainAudit`] finds the
//! first broken link.
//!
//! # The canonical encoding (version 1)
//!
//! A link's hash is the lowercase hex SHA-256 of the concatenation of these
//! items, each written as `<byte length>:<UTF-8 bytes>;`:
//!
//! 1. `sequences-chain-v1`;
//! 2. the previous link's hash (64 hex digits; [`GENESIS`], 64 zeros, for
//!    the first link of a sequence);
//! 3. the sequence's name (`invoice-7`);
//! 4. the number, in decimal (`42`);
//! 5. for each covered field, in the declared order, its column name, then
//!    `v` followed by its text (integers in decimal, strings as they are,
//!    dates as `YYYY-MM-DD`), or `n` for NULL.
//!
//! For example the first link of `invoice-7`, number 1, covering
//! `amount_cents = 1250` and `customer = NULL`, hashes
//! `18:sequences-chain-v1;64:0000…0000;9:invoice-7;1:1;12:amount_cents;5:v1250;8:customer;1:n;`.
//!
//! The sequence's row keeps the latest link (`chain_head`), read and moved
//! under the row lock of the allocation, so the chain is linear under any
//! concurrency. A number recorded void (`on_delete = "void"`) keeps the hash
//! of the record it replaces (`sequence_voids.chain_hash`), so the chain runs
//! on through it. A chain added to a table that already has rows starts at
//! its first hashed record, whose previous hash is [`GENESIS`]: the older
//! rows are outside it, and the audit says where it starts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use crate::audit::AuditColumn;
use crate::dialect::Dialect;
use crate::{Sequence, SequenceError, entity};
use sequences_template::Template;

/// The previous hash of a sequence's first link: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one link (see the module docs for the encoding).
pub fn link_hash(
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
) -> String {
    let mut hasher = Sha256::new();
    let mut item = |text: &str| {
        hasher.update(text.len().to_string().as_bytes());
        hasher.update(b":");
        hasher.update(text.as_bytes());
        hasher.update(b";");
    };
    item("sequences-chain-v1");
    item(previous);
    item(sequence);
    item(&number.to_string());
    for (name, value) in fields {
        item(name);
        match value {
            Some(text) => item(&format!("v{text}")),
            None => item("n"),
        }
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// A record to chain: its number and the texts of its covered columns.
pub(crate) struct Link<'a> {
    pub(crate) number: i64,
    pub(crate) covered: Vec<(&'a str, Option<String>)>,
}

/// Extends the chain of `sequence` by one link per record of `links`, under
/// the row lock the caller's allocation holds; returns the hashes and moves
/// the sequence's `chain_head`.
pub(crate) async fn extend<C: ConnectionTrait>(
    db: &C,
    sequence: &Sequence,
    links: &[Link<'_>],
) -> Result<Vec<String>, SequenceError> {
    let name = sequence.name();
    let error = |source| SequenceError::Database {
        name: name.to_owned(),
        source,
    };
    let dialect = Dialect::of(db.get_database_backend()).map_err(error)?;
    let head: Option<String> = db
        .query_one_raw(dialect.chain_head(name))
        .await
        .map_err(error)?
        .map(|row| row.try_get_by_index::<Option<String>>(0))
        .transpose()
        .map_err(error)?
        .flatten();
    let mut previous = head.unwrap_or_else(|| GENESIS.to_owned());
    let mut hashes = Vec::with_capacity(links.len());
    for link in links {
        let fields: Vec<(&str, Option<&str>)> = link
            .covered
            .iter()
            .map(|(name, value)| (*name, value.as_deref()))
            .collect();
        previous = link_hash(&previous, name, link.number, &fields);
        hashes.push(previous.clone());
    }
    db.execute_raw(dialect.set_chain_head(name, &previous))
        .await
        .map_err(error)?;
    Ok(hashes)
}

/// Verifies the chains of a numbered column: recomputes every link and
/// reports the first broken one per sequence.
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
}

/// The chains of one audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// One per sequence, in name order.
    pub chains: Vec<ChainState>,
}

/// The chain of one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    /// The sequence.
    pub sequence: String,
    /// The first hashed number (where the chain starts), `None` when no row
    /// is hashed.
    pub starts_at: Option<i64>,
    /// Links verified before the first break (all of them when intact),
    /// voided numbers included.
    pub links: u64,
    /// The first broken link, if any.
    pub broken: Option<ChainBreak>,
}

/// Where and how a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The number of the first link that does not verify.
    pub number: i64,
    /// What is wrong there.
    pub kind: BreakKind,
}

/// What is wrong at a broken link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The stored hash is not the hash of this record after the previous one:
    /// a covered field or the number was edited, or a record was inserted or
    /// swapped out of order.
    Altered,
    /// No record and no void carries this number: a record was deleted.
    Missing,
    /// Several records carry this number.
    Duplicate,
    /// A record after the chain's start has no hash: written behind the
    /// library's back.
    Unhashed,
    /// The last record is not the sequence's `chain_head`: records at the end
    /// were deleted, or the head was moved.
    Head,
}

impl ChainReport {
    /// Every chain verifies to its head.
    pub fn is_intact(&self) -> bool {
        self.chains.iter().all(|chain| chain.broken.is_none())
    }

    /// The first break, over all chains (sequence and break).
    pub fn first_break(&self) -> Option<(&str, &ChainBreak)> {
        self.chains
            .iter()
            .find_map(|chain| Some((chain.sequence.as_str(), chain.broken.as_ref()?)))
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

    /// Reads the rows (in number order per scope), the voids and the chain
    /// heads, and verifies every chain.
    pub async fn run<D: ConnectionTrait>(&self, db: &D) -> Result<ChainReport, DbErr> {
        let dialect = Dialect::of(db.get_database_backend())?;
        let (_, text) = dialect.audit_cast_types();
        let template = Template::parse(&self.sequence).map_err(|reason| {
            DbErr::Custom(format!(
                "chain audit: sequence name {:?}: {reason}",
                self.sequence
            ))
        })?;
        let scope_names: Vec<&str> = self.scope.iter().map(AuditColumn::column_name).collect();
        for placeholder in template.placeholders() {
            if !scope_names.contains(&placeholder) {
                return Err(DbErr::Custom(format!(
                    "chain audit: placeholder `{{{placeholder}}}` of {:?} must name a scope \
                     column ({scope_names:?})",
                    self.sequence
                )));
            }
        }
        let table = Alias::new(self.number.table_name());
        let col = |c: &C| Expr::col((table.clone(), Alias::new(c.column_name())));
        let mut query = Query::select();
        for column in &self.scope {
            query.expr(Func::cast_as(col(column), text));
        }
        query
            .expr(col(&self.number))
            .expr(Func::cast_as(col(&self.hash), text));
        for column in &self.covers {
            query.expr(Func::cast_as(col(column), text));
        }
        query
            .from(table.clone())
            .and_where(col(&self.number).is_not_null());
        for column in &self.scope {
            query.order_by_expr(col(column), Order::Asc);
        }
        query.order_by_expr(col(&self.number), Order::Asc);
        let n = self.scope.len();
        let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for row in db
            .query_all_raw(db.get_database_backend().build(&query))
            .await?
        {
            let scope: Vec<Option<String>> = (0..n)
                .map(|i| row.try_get_by_index(i))
                .collect::<Result<_, _>>()?;
            let sequence = template
                .fill(|name| {
                    let i = scope_names
                        .iter()
                        .position(|n| *n == name)
                        .expect("checked");
                    scope[i].clone().ok_or(())
                })
                .unwrap_or_default();
            let covered = (0..self.covers.len())
                .map(|i| row.try_get_by_index::<Option<String>>(n + 2 + i))
                .collect::<Result<_, _>>()?;
            groups.entry(sequence).or_default().push(Row {
                number: row.try_get_by_index(n)?,
                hash: row.try_get_by_index(n + 1)?,
                covered,
            });
        }
        let names: Vec<String> = groups.keys().cloned().collect();
        let mut voids: BTreeMap<String, BTreeMap<i64, Option<String>>> = BTreeMap::new();
        let mut heads: BTreeMap<String, Option<String>> = BTreeMap::new();
        for chunk in names.chunks(500) {
            for void in entity::void::Entity::find()
                .filter(sea_orm::ColumnTrait::is_in(
                    &entity::void::Column::Sequence,
                    chunk.iter().cloned(),
                ))
                .all(db)
                .await?
            {
                voids
                    .entry(void.sequence)
                    .or_default()
                    .insert(void.value, void.chain_hash);
            }
            for row in entity::Entity::find()
                .filter(sea_orm::ColumnTrait::is_in(
                    &entity::Column::Name,
                    chunk.iter().cloned(),
                ))
                .all(db)
                .await?
            {
                heads.insert(row.name, row.chain_head);
            }
        }
        let cover_names: Vec<&str> = self.covers.iter().map(AuditColumn::column_name).collect();
        let chains = groups
            .into_iter()
            .map(|(sequence, rows)| {
                let voided = voids.remove(&sequence).unwrap_or_default();
                let head = heads.remove(&sequence).flatten();
                verify(sequence, &rows, &voided, head.as_deref(), &cover_names)
            })
            .collect();
        Ok(ChainReport { chains })
    }
}

/// One numbered row, as read for the chain.
struct Row {
    number: i64,
    hash: Option<String>,
    covered: Vec<Option<String>>,
}

/// Walks one sequence's chain from its first hashed row.
fn verify(
    sequence: String,
    rows: &[Row],
    voids: &BTreeMap<i64, Option<String>>,
    head: Option<&str>,
    covers: &[&str],
) -> ChainState {
    let mut state = ChainState {
        sequence,
        starts_at: None,
        links: 0,
        broken: None,
    };
    let Some(start) = rows.iter().position(|row| row.hash.is_some()) else {
        return state;
    };
    let first = rows[start].number;
    state.starts_at = Some(first);
    let last = rows.last().map_or(first, |row| row.number);
    let mut by_number: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for row in &rows[start..] {
        by_number.entry(row.number).or_default().push(row);
    }
    let mut previous = GENESIS.to_owned();
    let broken = |number, kind| Some(ChainBreak { number, kind });
    for number in first..=last {
        match by_number.get(&number).map(Vec::as_slice) {
            None | Some([]) => match voids.get(&number) {
                Some(Some(hash)) => previous = hash.clone(),
                _ => {
                    state.broken = broken(number, BreakKind::Missing);
                    return state;
                }
            },
            Some([row]) => {
                let Some(stored) = &row.hash else {
                    state.broken = broken(number, BreakKind::Unhashed);
                    return state;
                };
                let fields: Vec<(&str, Option<&str>)> = covers
                    .iter()
                    .zip(&row.covered)
                    .map(|(name, value)| (*name, value.as_deref()))
                    .collect();
                if link_hash(&previous, &state.sequence, number, &fields) != *stored {
                    state.broken = broken(number, BreakKind::Altered);
                    return state;
                }
                previous = stored.clone();
            }
            Some(_) => {
                state.broken = broken(number, BreakKind::Duplicate);
                return state;
            }
        }
        state.links += 1;
    }
    if head != Some(previous.as_str()) {
        state.broken = broken(last + 1, BreakKind::Head);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_the_documented_one() {
        let fields = [("amount_cents", Some("1250")), ("customer", None)];
        let text = format!(
            "18:sequences-chain-v1;64:{GENESIS};9:invoice-7;1:1;12:amount_cents;5:v1250;8:customer;1:n;"
        );
        let expected: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(link_hash(GENESIS, "invoice-7", 1, &fields), expected);
        // A value's text and a NULL never collide; nor do shifted boundaries.
        assert_ne!(
            link_hash(GENESIS, "a", 1, &[("x", Some("n"))]),
            link_hash(GENESIS, "a", 1, &[("x", None)])
        );
        assert_ne!(
            link_hash(GENESIS, "ab", 1, &[]),
            link_hash(GENESIS, "a", 1, &[("b", None)])
        );
    }
}
