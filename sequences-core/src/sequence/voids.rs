//! Voids, and giving the last value back (`revert_if_last`).

use sea_orm::ConnectionTrait;

use crate::error::SequenceError;

use super::{Sequence, validate_name};

impl Sequence {
    /// Records that `value`, handed out by this sequence, is void (a
    /// cancelled document whose row had to go, a number lost to another
    /// system), with `reason`, in the `sequence_voids` table.
    /// [`Audit`](crate::Audit) then reports the gap as explained.
    ///
    /// Under the row lock, in a transaction ([`SequenceError::NotInTransaction`]
    /// otherwise). Refuses a value that was never handed out
    /// ([`SequenceError::NotAllocated`]), one already void
    /// ([`SequenceError::AlreadyVoid`]) and an empty reason.
    pub async fn void<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
        reason: &str,
    ) -> Result<(), SequenceError> {
        self.void_link(db, value, reason, None).await
    }

    /// [`void_link`](Self::void_link) in a chain keyed with `key`: the void
    /// carries an authenticator (HMAC-SHA-256 over the sequence, the value,
    /// the reason and the record's hash), so that a void written without the
    /// key, to hide a deleted record, breaks the keyed chain
    /// ([`BreakKind::Void`](crate::BreakKind::Void)). Needs
    /// `sequences_migration::KeyedChainMigration`.
    pub async fn void_keyed<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
        reason: &str,
        chain_hash: Option<&str>,
        key: &crate::ChainKey,
    ) -> Result<(), SequenceError> {
        let key = key
            .bytes()
            .map_err(|reason| SequenceError::InvalidNumbering {
                target: self.name.to_string(),
                reason,
            })?;
        let auth = crate::chain::void_auth(&key, &self.name, value, reason, chain_hash);
        self.insert_void(db, value, reason, chain_hash, Some(&auth))
            .await
    }

    /// [`void`](Self::void), keeping `chain_hash`, the hash of the chained
    /// record the void replaces (what the `void` delete policy does, and the
    /// `sequences void` command when told the record's table), so the chain
    /// runs on through the void. A wrong hash breaks the chain at the next
    /// record, or at the head.
    pub async fn void_link<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
        reason: &str,
        chain_hash: Option<&str>,
    ) -> Result<(), SequenceError> {
        self.insert_void(db, value, reason, chain_hash, None).await
    }

    pub(super) async fn insert_void<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
        reason: &str,
        chain_hash: Option<&str>,
        chain_auth: Option<&str>,
    ) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        if reason.trim().is_empty() {
            return Err(SequenceError::EmptyReason {
                name: self.name.to_string(),
            });
        }
        let (dialect, row) = self.lock_row(db, "Sequence::void").await?;
        let last = row.map(|row| row.last);
        if last.is_none_or(|last| value > last) || value < self.initial_value {
            return Err(SequenceError::NotAllocated {
                name: self.name.to_string(),
                value,
                last,
            });
        }
        let error = |source| self.database_error(source);
        if let Some(found) = db
            .query_one_raw(dialect.find_void(&self.name, value))
            .await
            .map_err(error)?
        {
            return Err(SequenceError::AlreadyVoid {
                name: self.name.to_string(),
                value,
                reason: found.try_get_by_index(0).map_err(error)?,
            });
        }
        db.execute_raw(dialect.insert_void(&self.name, value, reason, chain_hash, chain_auth))
            .await
            .map(drop)
            .map_err(|source| self.classify(dialect, source, 0))
    }

    /// Gives back `value` if it is the sequence's last (the counter moves
    /// back by one, under the row lock): what the `revert_if_last` delete
    /// policy does. Otherwise [`SequenceError::NotLast`], nothing changed; a
    /// hash-chained sequence is never moved back ([`SequenceError::Chained`]).
    ///
    /// The next allocation hands `value` out again: if a row still holds it,
    /// that is a duplicate. Meant for the row being deleted in the same
    /// transaction.
    pub async fn revert_last<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
    ) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        if !crate::in_transaction(db)
            .await
            .map_err(|source| self.database_error(source))?
        {
            return Err(self.not_in_transaction("Sequence::revert_last"));
        }
        if self
            .execute(db, |d| d.revert_last(&self.name, value, self.table()))
            .await?
            == 1
        {
            return Ok(());
        }
        let state = self.state(db).await?;
        if state.as_ref().is_some_and(|s| s.chain_head.is_some()) {
            return Err(SequenceError::Chained {
                name: self.name.to_string(),
                operation: "moving the counter back",
            });
        }
        Err(SequenceError::NotLast {
            name: self.name.to_string(),
            value,
            last: state.map(|s| s.last),
        })
    }

    /// Under the row lock (in a transaction), whether `value` is the
    /// sequence's last: what `revert_if_last` checks before the DELETE.
    /// [`SequenceError::NotLast`] or [`SequenceError::Chained`] otherwise.
    pub(crate) async fn check_last<C: ConnectionTrait>(
        &self,
        db: &C,
        value: i64,
    ) -> Result<(), SequenceError> {
        validate_name(&self.name)?;
        let (_, row) = self.lock_row(db, "Sequence::revert_last").await?;
        match row {
            Some(row) if row.chain_head.is_some() => Err(SequenceError::Chained {
                name: self.name.to_string(),
                operation: "moving the counter back",
            }),
            Some(row) if row.last == value => Ok(()),
            row => Err(SequenceError::NotLast {
                name: self.name.to_string(),
                value,
                last: row.map(|row| row.last),
            }),
        }
    }
}
