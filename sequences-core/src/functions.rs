//! The operations as free functions, named as in django-sequences
//! (`get_next_value`, `get_next_values`, `get_last_value`, `delete`), for a
//! sequence with the default settings: starts at 1, never loops, waits.

use std::borrow::Cow;
use std::ops::Range;

use sea_orm::ConnectionTrait;

use crate::{Sequence, SequenceError};

/// [`Sequence::next_value`] of `Sequence::new(name)`.
pub async fn next_value<C: ConnectionTrait>(
    db: &C,
    name: impl Into<Cow<'static, str>>,
) -> Result<i64, SequenceError> {
    Sequence::new(name).next_value(db).await
}

/// [`Sequence::next_values`] of `Sequence::new(name)`.
pub async fn next_values<C: ConnectionTrait>(
    db: &C,
    name: impl Into<Cow<'static, str>>,
    count: u64,
) -> Result<Range<i64>, SequenceError> {
    Sequence::new(name).next_values(db, count).await
}

/// [`Sequence::last_value`] of `Sequence::new(name)`.
pub async fn last_value<C: ConnectionTrait>(
    db: &C,
    name: impl Into<Cow<'static, str>>,
) -> Result<Option<i64>, SequenceError> {
    Sequence::new(name).last_value(db).await
}

/// [`Sequence::delete`] of `Sequence::new(name)`.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    name: impl Into<Cow<'static, str>>,
) -> Result<bool, SequenceError> {
    Sequence::new(name).delete(db).await
}
