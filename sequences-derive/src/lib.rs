//! `#[derive(Gapless)]`: numbers SeaORM model fields from gapless sequences.
//!
//! Use it through `sequences_core::Gapless`; the documentation lives there.
//!
//! ```
//! use sea_orm::entity::prelude::*;
//! use sequences_core::Gapless;
//!
//! #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
//! #[sea_orm(table_name = "invoice")]
//! pub struct Model {
//!     #[sea_orm(primary_key)]
//!     pub id: i32,
//!     pub journal: String,
//!     pub issued_on: Date,
//!     #[gapless(sequence = "invoice-{journal}", period = "year", date = "issued_on",
//!               format = "{journal}-{year}-{value:05}")]
//!     pub reference: String,
//! }
//!
//! #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! pub enum Relation {}
//! # fn main() {}
//! ```
//!
//! All SQL and allocation logic is in `sequences-core`: the generated code
//! only wires the annotated fields to it.

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// See `sequences_core::Gapless`.
#[proc_macro_derive(Gapless, attributes(gapless))]
pub fn derive_gapless(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
