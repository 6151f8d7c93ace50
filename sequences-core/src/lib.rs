#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod dialect;
pub mod entity;
mod error;
mod functions;
mod sequence;
mod transaction;

pub use entity::{MAX_NAME_LENGTH, TABLE_NAME};
pub use error::SequenceError;
pub use functions::{delete, last_value, next_value, next_values};
pub use sequence::Sequence;
pub use transaction::in_transaction;
