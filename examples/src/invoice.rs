//! The demo's invoice: one gapless counter per company.

use sea_orm::entity::prelude::*;
use sequences_core::Gapless;

/// An invoice; `number` is filled on insert from the sequence
/// `invoice-{company_id}`, and `hash` chains each invoice to the one before
/// it (SHA-256 over the previous hash, the number, the company and the amount).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
#[sea_orm(table_name = "demo_invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub company_id: i32,
    #[gapless(
        sequence = "invoice-{company_id}",
        chain = "hash",
        chain_covers = "company_id, amount_cents"
    )]
    pub number: i64,
    pub amount_cents: i64,
    pub hash: Option<String>,
}

/// The same invoice as most applications number it today: by an
/// auto-increment primary key. Inserted beside each gapless invoice, in the
/// same transaction, for comparison.
pub mod plain {
    use sea_orm::entity::prelude::*;

    /// A plain invoice; its number is `id`.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "demo_plain_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub company_id: i32,
        pub amount_cents: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
