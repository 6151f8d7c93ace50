//! Written by hand (Loco keeps this file when it regenerates `_entities`):
//! invoices are numbered per company, gaplessly, in the transaction that
//! saves them.

use std::sync::LazyLock;

use sea_orm::entity::prelude::*;
use sequences_core::{Numbering, Sequence};

pub use super::_entities::invoices::{ActiveModel, Column, Entity, Model};

/// The numbering of invoices, checked once.
static NUMBERING: LazyLock<Numbering<Column>> =
    LazyLock::new(|| Numbering::new().field(Column::Number, Sequence::new("invoice-{company_id}")));

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(self, db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        NUMBERING.before_save(self, db, insert).await
    }
}
