//! Entities laid out as `sea-orm-cli generate entity --impl-active-model-behavior=false`
//! writes them (and Loco's `src/models/_entities`): regenerated after every
//! migration, so they carry no `#[gapless]` attribute. The numbering lives in
//! a hand-written file beside them, [`crate::models`].

pub mod generated_invoice;
