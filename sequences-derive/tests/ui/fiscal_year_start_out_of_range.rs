use sea_orm::entity::prelude::*;
use sequences_core::Gapless;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
#[sea_orm(table_name = "invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub journal: String,
    pub issued_on: Date,
    #[gapless(sequence = "invoice", period = "fiscal_year", fiscal_year_start = 13, date = "issued_on")]
    pub number: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
