//! The invoice's numbering: a counter per company, and a yearly formatted
//! reference per journal with its raw value beside it.

use std::sync::LazyLock;

use sea_orm::entity::prelude::*;
use sequences_core::{NumberedField, Numbering, Period, Sequence};

pub use crate::generated::generated_invoice::*;

/// Built and checked once.
pub static NUMBERING: LazyLock<Numbering<Column>> = LazyLock::new(|| {
    Numbering::new()
        .field(Column::Number, Sequence::new("generated-{company_id}"))
        .field_with(
            NumberedField::new(Column::Reference, Sequence::new("generated-{journal}"))
                .period(Period::Year)
                .date(Column::IssuedOn)
                .format("{journal}-{year}-{value:05}")
                .raw_value(Column::ReferenceNumber),
        )
});

#[sea_orm::prelude::async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(self, db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        NUMBERING.before_save(self, db, insert).await
    }
}
