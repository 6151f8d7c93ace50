//! What deleting a numbered row does to its number: a leaf that the
//! description (`numbering`) and the triggers' generators (`triggers`) share.

#[allow(unused_imports)]
use crate::{Sequence, SequenceError};

/// What deleting a numbered row (`ActiveModel::delete`, which runs
/// `before_delete`) does to its number. `delete_many` and raw SQL run no
/// hooks: nothing stops them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OnDelete {
    /// The delete is refused ([`SequenceError::DeleteRefused`]): a numbered
    /// document is cancelled (a credit note), not deleted. The default: a
    /// number that vanishes is the gap an auditor asks about.
    #[default]
    Refuse,
    /// The delete goes through and the number is recorded void with the
    /// reason `deleted`, in the same transaction ([`Sequence::void`]): the
    /// gap is explained.
    Void,
    /// Only the sequence's last number may be deleted (checked under the row
    /// lock before the DELETE; [`SequenceError::NotLast`] otherwise), and once
    /// the DELETE went through (`after_delete`) the counter moves back by one,
    /// so the next document takes it again ([`Sequence::revert_last`]). Not
    /// for a chained field.
    RevertIfLast,
    /// Nothing checked, nothing recorded: the gap stays unexplained.
    Allow,
}
