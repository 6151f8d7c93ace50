//! Checkpoints: where each sequence stood at a moment, kept outside the
//! database.

use sea_orm::{ConnectionTrait, DbErr};

use crate::entity;

/// Where a sequence stood at a moment: its `last` and, when chained, the
/// hash its chain had reached. Kept outside the database (printed, signed,
/// sent, archived: `sequences checkpoint`), it lets
/// [`ChainAudit::checkpoints`](crate::ChainAudit::checkpoints) tell whether the history up to `last` was
/// rewritten or cut since, even by someone holding the chain's key, and
/// [`Audit::checkpoints`](crate::Audit::checkpoints) whether a counter was
/// moved back or deleted (with its rows) since.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
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
pub(crate) async fn counters<C: ConnectionTrait>(
    db: &C,
    prefix: Option<&str>,
    chained: bool,
) -> Result<Vec<Checkpoint>, DbErr> {
    Ok(entity::counters_prefixed(db, prefix, chained)
        .await?
        .into_iter()
        .map(|row| Checkpoint {
            head: row.chain_head,
            sequence: row.name,
            last: row.last,
        })
        .collect())
}
