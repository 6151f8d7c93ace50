//! The operations as free functions, named as in django-sequences
//! (`get_next_value`, `get_next_values`, `get_last_value`, `delete`), for a
//! sequence with the default settings: starts at 1, never loops, waits.
//!
//! Names are any string: `"invoice"`, `&name`, `format!("invoice-{company}")`.

use std::ops::Range;

use sea_orm::ConnectionTrait;

use crate::{Sequence, SequenceError};

/// [`Sequence::next_value`] of `Sequence::new(name)`.
pub async fn next_value<C: ConnectionTrait>(
    db: &C,
    name: impl AsRef<str>,
) -> Result<i64, SequenceError> {
    Sequence::new(name.as_ref()).next_value(db).await
}

/// [`Sequence::next_values`] of `Sequence::new(name)`.
pub async fn next_values<C: ConnectionTrait>(
    db: &C,
    name: impl AsRef<str>,
    count: u64,
) -> Result<Range<i64>, SequenceError> {
    Sequence::new(name.as_ref()).next_values(db, count).await
}

/// [`Sequence::last_value`] of `Sequence::new(name)`.
pub async fn last_value<C: ConnectionTrait>(
    db: &C,
    name: impl AsRef<str>,
) -> Result<Option<i64>, SequenceError> {
    Sequence::new(name.as_ref()).last_value(db).await
}

/// [`Sequence::delete`] of `Sequence::new(name)`.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    name: impl AsRef<str>,
) -> Result<bool, SequenceError> {
    Sequence::new(name.as_ref()).delete(db).await
}
