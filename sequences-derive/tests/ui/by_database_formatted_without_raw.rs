use sea_orm::entity::prelude::*;
use sequences_core::Gapless;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
#[sea_orm(table_name = "receipt")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub till: String,
    #[gapless(sequence = "receipt-{till}", format = "R-{value:03}", by_database, on_delete = "void")]
    pub reference: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
