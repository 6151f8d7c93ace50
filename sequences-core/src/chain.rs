//! A tamper-evident chain per sequence: each numbered record carries a
//! SHA-256 (or, keyed, an HMAC-SHA-256) over the previous record's hash, its
//! sequence, its number and the fields it covers. Editing a covered field,
//! deleting a record, or swapping numbers breaks the chain at that record,
//! and [`ChainAudit`] reports every broken link.
//!
//! # What each form proves
//!
//! | chain | an edit is found when it was made by | it cannot find |
//! |---|---|---|
//! | keyless (`chain`, SHA-256) | anyone who did not recompute the hashes: an application bug, a hand edit in SQL, a restored backup of one table | a rewrite by someone who recomputes the hashes (the encoding is public) and moves `chain_head` |
//! | keyed ([`ChainKey`], HMAC-SHA-256) | anyone without the key, however they edit | a rewrite by someone holding the key |
//! | checkpointed ([`checkpoints`], kept outside the database) | anyone, key or not, for every record up to the checkpoint's `last` | changes after the last checkpoint (by someone with the key, when keyed) |
//!
//! A keyed chain needs the key at every insert and at every verification;
//! it is never stored in the database.
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
//! A keyed chain hashes the same items, the first one being
//! `sequences-chain-hmac-v1`, with HMAC-SHA-256 under the key.
//!
//! For example the first link of `invoice-7`, number 1, covering
//! `amount_cents = 1250` and `customer = NULL`, hashes
//! `18:sequences-chain-v1;64:0000…0000;9:invoice-7;1:1;12:amount_cents;5:v1250;8:customer;1:n;`.
//!
//! The sequence's row keeps the latest link (`chain_head`), read and moved
//! under the row lock of the allocation, so the chain is linear under any
//! concurrency. A number recorded void (`on_delete = "void"`) keeps the hash
//! of the record it replaces (`sequence_voids.chain_hash`), so the chain runs
//! on through it; a void with no hash (a number that never had a record) is
//! passed over. A chain starts at the sequence's initial value; a chain
//! added to a table that already has rows starts at its first hashed record,
//! whose previous hash is [`GENESIS`], and is verified so only when the
//! audit is told ([`ChainAudit::legacy_prefix`]).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use crate::column::{AuditColumn, as_text, fits_scope};
use crate::dialect::Dialect;
use crate::{SequenceError, entity};
use sequences_template::{Piece, Template};

/// The previous hash of a sequence's first link: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The shortest key a keyed chain accepts, in bytes.
pub const MIN_KEY_LENGTH: usize = 16;

/// The secret of a keyed chain (HMAC-SHA-256), held by the application
/// outside the database: given as bytes (from a secret store), or read from
/// an environment variable when it is used. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ChainKey(KeySource);

#[derive(Clone)]
enum KeySource {
    Bytes(Arc<[u8]>),
    Env(Arc<str>),
}

impl ChainKey {
    /// A key of these bytes (at least [`MIN_KEY_LENGTH`]).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(KeySource::Bytes(bytes.into().into()))
    }

    /// The key is the value of environment variable `var`, read each time
    /// it is needed (a missing or short key is refused before any value is
    /// taken).
    pub fn from_env(var: impl AsRef<str>) -> Self {
        Self(KeySource::Env(var.as_ref().into()))
    }

    /// The key's bytes, or why there are none.
    pub(crate) fn bytes(&self) -> Result<Arc<[u8]>, String> {
        let bytes: Arc<[u8]> = match &self.0 {
            KeySource::Bytes(bytes) => Arc::clone(bytes),
            KeySource::Env(var) => match std::env::var_os(&**var) {
                Some(value) => value.as_encoded_bytes().into(),
                None => {
                    return Err(format!(
                        "the chain key's environment variable {var} is not set"
                    ));
                }
            },
        };
        if bytes.len() < MIN_KEY_LENGTH {
            return Err(format!(
                "the chain key is {} bytes long; a key has at least {MIN_KEY_LENGTH}",
                bytes.len()
            ));
        }
        Ok(bytes)
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeySource::Bytes(_) => f.write_str("ChainKey(<hidden>)"),
            KeySource::Env(var) => write!(f, "ChainKey(env {var})"),
        }
    }
}

/// The hash of one link of a keyless chain (see the module docs for the encoding).
pub fn link_hash(
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
) -> String {
    let mut hasher = Sha256::new();
    encode(
        "sequences-chain-v1",
        previous,
        sequence,
        number,
        fields,
        |b| hasher.update(b),
    );
    hex(&hasher.finalize())
}

/// The hash of one link of a chain keyed with `key` (HMAC-SHA-256).
pub fn keyed_link_hash(
    key: &[u8],
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    encode(
        "sequences-chain-hmac-v1",
        previous,
        sequence,
        number,
        fields,
        |b| mac.update(b),
    );
    hex(&mac.finalize().into_bytes())
}

/// The seal of a keyed chain's head: an HMAC-SHA-256 under the key over the
/// head and the number of its link (items `sequences-chain-seal-v1`, the
/// head, the sequence, the number). Kept in `sequences.chain_seal`, it stops
/// anyone without the key from moving the head (to cut records off the end).
pub fn seal_hash(key: &[u8], sequence: &str, head: &str, number: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    encode(
        "sequences-chain-seal-v1",
        head,
        sequence,
        number,
        &[],
        |b| mac.update(b),
    );
    hex(&mac.finalize().into_bytes())
}

/// The authenticator of a void in a keyed chain: an HMAC-SHA-256 under the
/// key over the voided record's hash (`n` for none), the sequence, the value
/// and the reason (items `sequences-chain-void-v1`, the hash, the sequence,
/// the value, `reason`, `v<reason>`). Kept in `sequence_voids.chain_auth`, it
/// stops anyone without the key from explaining a deleted record away.
pub fn void_auth(
    key: &[u8],
    sequence: &str,
    value: i64,
    reason: &str,
    chain_hash: Option<&str>,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    encode(
        "sequences-chain-void-v1",
        chain_hash.unwrap_or("n"),
        sequence,
        value,
        &[("reason", Some(reason))],
        |b| mac.update(b),
    );
    hex(&mac.finalize().into_bytes())
}

/// A link's hash, keyed or not.
fn hash_link(
    key: Option<&[u8]>,
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
) -> String {
    match key {
        Some(key) => keyed_link_hash(key, previous, sequence, number, fields),
        None => link_hash(previous, sequence, number, fields),
    }
}

fn encode(
    version: &str,
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
    mut update: impl FnMut(&[u8]),
) {
    let mut item = |text: &str| {
        update(text.len().to_string().as_bytes());
        update(b":");
        update(text.as_bytes());
        update(b";");
    };
    item(version);
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
}

/// Lower-case hexadecimal, as every digest of the crate is written.
pub(crate) fn hex(digest: &[u8]) -> String {
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
    name: &str,
    links: &[Link<'_>],
    key: Option<&[u8]>,
) -> Result<Vec<String>, SequenceError> {
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
        previous = hash_link(key, &previous, name, link.number, &fields);
        hashes.push(previous.clone());
    }
    let seal = match (key, links.last()) {
        (Some(key), Some(last)) => Some(seal_hash(key, name, &previous, last.number)),
        _ => None,
    };
    db.execute_raw(dialect.set_chain_head(name, &previous, seal.as_deref()))
        .await
        .map_err(|source| match dialect.classify(&source) {
            crate::db_error::ErrorKind::SchemaOutdated => SequenceError::SchemaOutdated {
                name: name.to_owned(),
                source,
            },
            _ => error(source),
        })?;
    Ok(hashes)
}

/// Where a sequence stood at a moment: its `last` and, when chained, the
/// hash its chain had reached. Kept outside the database (printed, signed,
/// sent, archived: `sequences checkpoint`), it lets
/// [`ChainAudit::checkpoints`] tell whether the history up to `last` was
/// rewritten or cut since, even by someone holding the chain's key, and
/// [`Audit::checkpoints`](crate::Audit::checkpoints) whether a counter was
/// moved back or deleted (with its rows) since.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Checkpoint {
    /// The sequence.
    pub sequence: String,
    /// Its `last` then.
    pub last: i64,
    /// Its chain head then, if chained: the hash after the link of `last`
    /// (or of the last chained number before it).
    pub head: Option<String>,
}

/// A checkpoint of every sequence whose name starts with `prefix` (all with
/// `None`), in name order: one read of the `sequences` table, each
/// sequence's `last` and chain head from the same row.
pub async fn checkpoints<C: ConnectionTrait>(
    db: &C,
    prefix: Option<&str>,
) -> Result<Vec<Checkpoint>, DbErr> {
    counters(db, prefix, false).await
}

/// Every counter whose name starts with `prefix` (only the chained ones with
/// `chained`), as checkpoints.
async fn counters<C: ConnectionTrait>(
    db: &C,
    prefix: Option<&str>,
    chained: bool,
) -> Result<Vec<Checkpoint>, DbErr> {
    use sea_orm::QueryOrder;
    let mut query = entity::Entity::find().order_by_asc(entity::Column::Name);
    if chained {
        query = query.filter(entity::Column::ChainHead.is_not_null());
    }
    if let Some(prefix) = prefix {
        query = query.filter(entity::name_starts_with(prefix));
    }
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .filter(|row| prefix.is_none_or(|prefix| row.name.starts_with(prefix)))
        .map(|row| Checkpoint {
            head: row.chain_head,
            sequence: row.name,
            last: row.last,
        })
        .collect())
}

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
}

/// The chains of one audit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ChainReport {
    /// One per sequence, in name order.
    pub chains: Vec<ChainState>,
}

/// The chain of one sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    pub fn key(mut self, key: ChainKey) -> Self {
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

    /// Checkpoints taken earlier ([`checkpoints`], kept outside the
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

    /// Reads the rows (in number order per scope), the voids and the chain
    /// heads, and verifies every chain.
    pub async fn run<D>(&self, db: &D) -> Result<ChainReport, SequenceError>
    where
        D: ConnectionTrait + sea_orm::TransactionTrait,
    {
        let failed = |error| SequenceError::of_audit(&self.target(), error);
        // Rows, voids and heads as of one moment (see `Audit::run`).
        let snapshot = crate::audit::snapshot(db).await.map_err(failed)?;
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

    async fn run_chains<D: ConnectionTrait>(&self, db: &D) -> Result<ChainReport, DbErr> {
        let dialect = Dialect::of(db.get_database_backend())?;
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
        for column in &self.scope {
            query.order_by_expr(col(column), Order::Asc);
        }
        query.order_by_expr(col(&self.number), Order::Asc);
        let n = self.scope.len();
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for row in db
            .query_all_raw(db.get_database_backend().build(&query))
            .await?
        {
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
            let group = groups.entry(sequence).or_default();
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
        // Sequences whose rows are all gone: chained counters the template
        // names, and checkpointed sequences.
        let prefix = match template.pieces.first() {
            Some(Piece::Text(text)) => Some(text.as_str()),
            _ => None,
        };
        // A placeholder of an integer scope column reads back as an integer
        // (`invoice-all` is no company's counter of `invoice-{company_id}`).
        let fits = |name: &str| {
            template
                .read_name(name)
                .is_some_and(|values| fits_scope(&self.scope, &values))
        };
        for checkpoint in counters(db, prefix, true).await? {
            if fits(&checkpoint.sequence) {
                groups.entry(checkpoint.sequence).or_default();
            }
        }
        for checkpoint in self.checkpoints.iter().filter(|c| c.head.is_some()) {
            if template.read_name(&checkpoint.sequence).is_some() {
                groups.entry(checkpoint.sequence.clone()).or_default();
            }
        }
        let names: Vec<String> = groups.keys().cloned().collect();
        let mut voids: BTreeMap<String, BTreeMap<i64, Void>> = BTreeMap::new();
        let mut counters: BTreeMap<String, entity::Model> = BTreeMap::new();
        let mut seals: BTreeMap<String, Option<String>> = BTreeMap::new();
        for chunk in names.chunks(500) {
            for void in entity::void::Entity::find()
                .filter(entity::void::Column::Sequence.is_in(chunk.iter().cloned()))
                .all(db)
                .await?
            {
                voids.entry(void.sequence).or_default().insert(
                    void.value,
                    Void {
                        hash: void.chain_hash,
                        reason: void.reason,
                        auth: None,
                    },
                );
            }
            for row in entity::Entity::find()
                .filter(entity::Column::Name.is_in(chunk.iter().cloned()))
                .all(db)
                .await?
            {
                counters.insert(row.name.clone(), row);
            }
            if key.is_some() {
                // A keyed chain's authenticators (KeyedChainMigration).
                let keyed = |error: DbErr| match dialect.classify(&error) {
                    crate::db_error::ErrorKind::SchemaOutdated => SequenceError::SchemaOutdated {
                        name: chunk[0].clone(),
                        source: error,
                    }
                    .into(),
                    _ => error,
                };
                let query = Query::select()
                    .column(Alias::new("name"))
                    .column(Alias::new("chain_seal"))
                    .from(Alias::new(entity::TABLE_NAME))
                    .and_where(Expr::col(Alias::new("name")).is_in(chunk.iter().cloned()))
                    .to_owned();
                for row in db
                    .query_all_raw(db.get_database_backend().build(&query))
                    .await
                    .map_err(keyed)?
                {
                    seals.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
                }
                let query = Query::select()
                    .column(Alias::new("sequence"))
                    .column(Alias::new("value"))
                    .column(Alias::new("chain_auth"))
                    .from(Alias::new(entity::VOIDS_TABLE))
                    .and_where(Expr::col(Alias::new("sequence")).is_in(chunk.iter().cloned()))
                    .to_owned();
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
            }
        }
        let cover_names: Vec<&str> = self.covers.iter().map(AuditColumn::column_name).collect();
        let walk = Walk {
            key: key.as_deref(),
            covers: &cover_names,
            initial: self.initial_value,
            legacy_prefix: self.legacy_prefix,
        };
        let chains = groups
            .into_iter()
            .map(|(sequence, group)| {
                let voided = voids.remove(&sequence).unwrap_or_default();
                let counter = counters.remove(&sequence);
                let seal = seals.remove(&sequence).flatten();
                let marks: Vec<&Checkpoint> = self
                    .checkpoints
                    .iter()
                    .filter(|c| c.sequence == sequence && c.head.is_some())
                    .collect();
                walk.verify(
                    sequence,
                    &group,
                    &voided,
                    Counter {
                        row: counter.as_ref(),
                        seal: seal.as_deref(),
                    },
                    &marks,
                )
            })
            .collect();
        Ok(ChainReport { chains })
    }
}

/// A void, as read for the chain.
struct Void {
    /// The voided record's hash, if it had one.
    hash: Option<String>,
    reason: String,
    /// A keyed chain's authenticator of the void.
    auth: Option<String>,
}

/// A sequence's counter row, as read for the chain.
#[derive(Clone, Copy)]
struct Counter<'a> {
    row: Option<&'a entity::Model>,
    /// A keyed chain's seal of its head.
    seal: Option<&'a str>,
}

/// One sequence's rows, as read for the chain.
#[derive(Default)]
struct Group {
    rows: Vec<Row>,
    unnumbered: u64,
}

/// One numbered row, as read for the chain.
struct Row {
    number: i64,
    hash: Option<String>,
    covered: Vec<Option<String>>,
}

/// How chains are walked.
struct Walk<'a> {
    key: Option<&'a [u8]>,
    covers: &'a [&'a str],
    initial: i64,
    legacy_prefix: bool,
}

impl Walk<'_> {
    /// Walks one sequence's chain.
    fn verify(
        &self,
        sequence: String,
        group: &Group,
        voids: &BTreeMap<i64, Void>,
        counter: Counter<'_>,
        checkpoints: &[&Checkpoint],
    ) -> ChainState {
        let rows = &group.rows;
        let (seal, counter) = (counter.seal, counter.row);
        let head = counter.and_then(|c| c.chain_head.clone());
        let mut state = ChainState {
            sequence,
            starts_at: None,
            ends_at: None,
            links: 0,
            unnumbered: group.unnumbered,
            breaks: Vec::new(),
            broken: None,
        };
        // Every row is walked or reported: one below the initial value is
        // no link of any chain of this sequence (a legacy prefix starts at
        // the initial value too).
        for row in rows.iter().filter(|row| row.number < self.initial) {
            push(&mut state.breaks, row.number, BreakKind::Outside);
        }
        let first_hashed = rows
            .iter()
            .filter(|row| row.number >= self.initial)
            .find(|row| row.hash.is_some())
            .map(|r| r.number);
        let start = if self.legacy_prefix {
            match first_hashed {
                Some(first) => first,
                // Nothing hashed: a chain only if something says there was one.
                None if head.is_some() || seal.is_some() || !checkpoints.is_empty() => self.initial,
                None => {
                    state.broken = state.breaks.first().cloned();
                    return state;
                }
            }
        } else {
            self.initial
        };
        let upper = [
            rows.last().map(|row| row.number),
            voids.keys().next_back().copied(),
            counter.map(|c| c.last),
            checkpoints.iter().map(|c| c.last).max(),
        ]
        .into_iter()
        .flatten()
        .max();
        let Some(upper) = upper.filter(|&upper| upper >= start) else {
            if head.is_some() {
                state.starts_at = Some(start);
                push(&mut state.breaks, start, BreakKind::Head);
            }
            state.broken = state.breaks.first().cloned();
            return state;
        };
        state.starts_at = Some(start);
        state.ends_at = Some(upper);
        let mut by_number: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
        for row in rows.iter().filter(|row| row.number >= start) {
            by_number.entry(row.number).or_default().push(row);
        }
        // A checkpoint whose `last` is before the walk's start (a legacy
        // prefix whose hashes were erased up to past it): the history it
        // holds a head of is gone.
        for mark in checkpoints.iter().filter(|c| c.last < start) {
            push(&mut state.breaks, mark.last, BreakKind::Checkpoint);
        }
        // The numbers something stands at, in order: what lies between two
        // of them is missing, reported as one range (the walk's cost
        // follows the rows and voids, not the distance between numbers).
        let mut points: std::collections::BTreeSet<i64> = by_number.keys().copied().collect();
        points.extend(voids.keys().copied().filter(|&n| n >= start && n <= upper));
        points.extend(
            checkpoints
                .iter()
                .map(|c| c.last)
                .filter(|&n| n >= start && n <= upper),
        );
        points.insert(upper);
        let mut previous = GENESIS.to_owned();
        // The number whose link the head is (a keyed chain's seal covers it).
        let mut head_number = start.saturating_sub(1);
        // After a missing or unhashed link, the next record cannot be checked
        // against its predecessor: its stored hash is taken as it is.
        let mut resync = false;
        let mut expected = Some(start);
        for number in points {
            if let Some(from) = expected
                && from < number
            {
                push_range(&mut state.breaks, from, number - 1, BreakKind::Missing);
                resync = true;
            }
            expected = number.checked_add(1);
            match by_number.get(&number).map(Vec::as_slice) {
                None | Some([]) => match voids.get(&number) {
                    Some(void) => {
                        // In a keyed chain, only the key holder can void.
                        if let Some(key) = self.key {
                            let expected = void_auth(
                                key,
                                &state.sequence,
                                number,
                                &void.reason,
                                void.hash.as_deref(),
                            );
                            if void.auth.as_deref() != Some(expected.as_str()) {
                                push(&mut state.breaks, number, BreakKind::Void);
                            }
                        }
                        // A void without a hash: a number that never had a
                        // record (voided by hand), passed over.
                        if let Some(hash) = &void.hash {
                            previous = hash.clone();
                            head_number = number;
                            resync = false;
                        }
                        state.links += 1;
                    }
                    None => {
                        push(&mut state.breaks, number, BreakKind::Missing);
                        resync = true;
                    }
                },
                Some([row]) => match &row.hash {
                    None => {
                        push(&mut state.breaks, number, BreakKind::Unhashed);
                        resync = true;
                    }
                    Some(stored) => {
                        if resync {
                            resync = false;
                        } else if self.hash(&previous, &state.sequence, row) == *stored {
                            state.links += 1;
                        } else {
                            push(&mut state.breaks, number, BreakKind::Altered);
                        }
                        previous = stored.clone();
                        head_number = number;
                    }
                },
                Some(several) => {
                    push(&mut state.breaks, number, BreakKind::Duplicate);
                    let expected = several
                        .iter()
                        .find(|row| {
                            !resync
                                && row.hash.as_deref()
                                    == Some(self.hash(&previous, &state.sequence, row).as_str())
                        })
                        .or_else(|| several.iter().find(|row| row.hash.is_some()));
                    match expected.and_then(|row| row.hash.clone()) {
                        Some(hash) => {
                            previous = hash;
                            resync = false;
                        }
                        None => resync = true,
                    }
                }
            }
            for mark in checkpoints.iter().filter(|c| c.last == number) {
                if mark.head.as_deref() != Some(previous.as_str()) {
                    push(&mut state.breaks, number, BreakKind::Checkpoint);
                }
            }
        }
        state.breaks.sort_by_key(|b| b.number);
        // A keyed chain's head must carry the key holder's seal.
        let sealed = match (self.key, &head) {
            (Some(key), Some(head)) => {
                seal == Some(seal_hash(key, &state.sequence, head, head_number).as_str())
            }
            _ => true,
        };
        if head.as_deref() != Some(previous.as_str()) || !sealed {
            push(&mut state.breaks, upper.saturating_add(1), BreakKind::Head);
        }
        state.broken = state.breaks.first().cloned();
        state
    }

    fn hash(&self, previous: &str, sequence: &str, row: &Row) -> String {
        let fields: Vec<(&str, Option<&str>)> = self
            .covers
            .iter()
            .zip(&row.covered)
            .map(|(name, value)| (*name, value.as_deref()))
            .collect();
        hash_link(self.key, previous, sequence, row.number, &fields)
    }
}

/// Adds a break, merged with the previous one when it continues it.
fn push(breaks: &mut Vec<ChainBreak>, number: i64, kind: BreakKind) {
    push_range(breaks, number, number, kind);
}

/// Adds a break over `number..=through`, merged with the previous one when
/// it continues it.
fn push_range(breaks: &mut Vec<ChainBreak>, number: i64, through: i64, kind: BreakKind) {
    if let Some(last) = breaks.last_mut()
        && last.kind == kind
        && last.through.checked_add(1) == Some(number)
    {
        last.through = through;
        return;
    }
    breaks.push(ChainBreak {
        number,
        through,
        kind,
    });
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
        // Keyed: another hash, and another for another key.
        let key = b"0123456789abcdef";
        let keyed = keyed_link_hash(key, GENESIS, "invoice-7", 1, &fields);
        assert_ne!(keyed, link_hash(GENESIS, "invoice-7", 1, &fields));
        assert_ne!(
            keyed,
            keyed_link_hash(b"0123456789abcdeX", GENESIS, "invoice-7", 1, &fields)
        );
        assert_eq!(keyed.len(), 64);
        assert!(ChainKey::new(*b"short").bytes().is_err());
        assert_eq!(format!("{:?}", ChainKey::new(*key)), "ChainKey(<hidden>)");
    }
}
