use sea_orm::entity::prelude::*;
use sequences_core::Gapless;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Gapless)]
#[sea_orm(table_name = "invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub amount: f64,
    pub hash: Option<String>,
    #[gapless(sequence = "invoice", chain = "hash", chain_covers = "amount")]
    pub number: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
