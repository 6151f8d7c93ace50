use sea_orm::entity::prelude::*;
use sequences_core::Gapless;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
#[sea_orm(table_name = "invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[gapless(sequence = "invoice", counter_table = "django", by_database)]
    pub number: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
