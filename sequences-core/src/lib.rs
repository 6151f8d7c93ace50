#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod dialect;
pub mod entity;
mod error;
mod fill;
mod functions;
mod sequence;
mod transaction;

pub use entity::{MAX_NAME_LENGTH, TABLE_NAME};
pub use error::SequenceError;
pub use functions::{delete, last_value, next_value, next_values};
pub use sequence::Sequence;
pub use transaction::in_transaction;

#[cfg(feature = "derive")]
pub use sequences_derive::Gapless;

/// What `#[derive(Gapless)]` expands to calls; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::fill::{Allocated, GaplessField, Requests};
    pub use crate::{Sequence, SequenceError};
    pub use sea_orm;
    pub use sea_orm::prelude::async_trait::async_trait;
}
