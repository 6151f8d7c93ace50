//! The SeaORM entity of the `sequences` table: one row per sequence.
//!
//! The table is created by `sequences_migration::Migration`. Read it freely;
//! write it only through [`Sequence`](crate::Sequence), which takes the row
//! lock that keeps values gapless.

use sea_orm::entity::prelude::*;

/// The table's name.
pub const TABLE_NAME: &str = "sequences";

/// The longest sequence name, in characters (the `name` column is `VARCHAR(100)`).
pub const MAX_NAME_LENGTH: usize = 100;

/// One sequence: its name and the last value it handed out.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sequences")]
pub struct Model {
    /// The sequence's name, such as `invoice` or `invoice-7`.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(100))"
    )]
    pub name: String,
    /// The last value handed out (committed or not, as seen by the reader).
    pub last: i64,
}

/// The table has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
