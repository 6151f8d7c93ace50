//! Models: the generated entities and the hand-written behaviour beside them.

pub mod _entities;
pub mod invoices;
