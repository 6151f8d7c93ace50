//! Taking over a legacy table: the counter continues after the highest
//! number the table already holds.

use sea_orm::ConnectionTrait;

use crate::audit::{Audit, GroupAudit};
use crate::column::AuditColumn;
use crate::error::NotAdoptable;
use crate::{Sequence, SequenceError};

/// What [`Sequence::adopt`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Adoption {
    /// The counter's `last` before (`None`: it did not exist).
    pub previous: Option<i64>,
    /// The counter's `last` now: the table's highest number.
    pub last: i64,
    /// The audit of the table's numbers for this sequence.
    pub audit: GroupAudit,
}

impl Sequence {
    /// Continues a legacy table: sets the counter to the highest number the
    /// table already holds for this sequence, so the next document takes the
    /// number after it, with no gap and no duplicate.
    ///
    /// `audit` describes the table (the numbered column, its scope, and a
    /// [`sequence`](Audit::sequence) template that names this sequence);
    /// the group whose sequence is this one is adopted. Under the counter's
    /// row lock, in a transaction ([`SequenceError::NotInTransaction`]
    /// otherwise). Refused ([`SequenceError::AdoptRefused`], nothing changed)
    /// when the table has no number of it, when its numbers have gaps,
    /// duplicates, NULLs or numbers below the initial value (unless
    /// `allow_defects`), or when the counter is already past them. Stop the
    /// legacy writers first: rows they insert meanwhile are not seen.
    pub async fn adopt<C: ConnectionTrait + sea_orm::TransactionTrait, K: AuditColumn>(
        &self,
        db: &C,
        audit: &Audit<K>,
        allow_defects: bool,
    ) -> Result<Adoption, SequenceError> {
        self.validate()?;
        let (_, row) = self.lock_row(db, "Sequence::adopt").await?;
        let previous = row.map(|row| row.last);
        let report = audit.run(db).await?;
        let refused = |reason| SequenceError::AdoptRefused {
            name: self.name().to_owned(),
            reason,
        };
        let group = report
            .groups
            .into_iter()
            .find(|g| g.sequence.as_deref() == Some(self.name()))
            .ok_or_else(|| refused(NotAdoptable::NoRows))?;
        let highest = group.last.ok_or_else(|| refused(NotAdoptable::NoRows))?;
        if let Some(last) = previous.filter(|&last| last > highest) {
            return Err(refused(NotAdoptable::Behind { last, highest }));
        }
        // The counter is not past the highest row here: every missing
        // number is a gap between the table's rows.
        let missing = group.missing;
        let defects = missing + group.duplicate_rows + group.unnumbered + group.below_initial;
        if defects > 0 && !allow_defects {
            return Err(refused(NotAdoptable::Defects {
                missing,
                duplicate_rows: group.duplicate_rows,
                unnumbered: group.unnumbered,
                below_initial: group.below_initial,
            }));
        }
        self.store_last(db, highest, false).await?;
        Ok(Adoption {
            previous,
            last: highest,
            audit: group,
        })
    }
}
