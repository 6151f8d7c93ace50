//! `#[derive(Gapless)]`: numbers SeaORM model fields from gapless sequences.
//!
//! Use it through `sequences_core::Gapless`; the documentation lives there.
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
