//! The demo's invoice: one gapless counter per company.

use sea_orm::entity::prelude::*;
use sequences_core::Gapless;

/// An invoice; `number` is filled on insert from the sequence `invoice-{company_id}`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
#[sea_orm(table_name = "demo_invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub company_id: i32,
    #[gapless(sequence = "invoice-{company_id}")]
    pub number: i64,
    pub amount_cents: i64,
}
