//! `POST /api/invoices` creates an invoice in a transaction (its number is
//! taken there); `GET /api/invoices` lists them.

use axum::extract::State;
use loco_rs::prelude::*;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QueryOrder, TransactionTrait};
use serde::Deserialize;

use crate::models::invoices;

/// A new invoice.
#[derive(Debug, Deserialize)]
pub struct NewInvoice {
    /// The company issuing it: one counter per company.
    pub company_id: i32,
    /// Its amount; not positive is refused, after the number was taken, so the
    /// rollback gives the number back.
    pub amount_cents: i64,
}

async fn create(State(ctx): State<AppContext>, Json(new): Json<NewInvoice>) -> Result<Response> {
    let txn = ctx.db.begin().await?;
    let invoice = invoices::ActiveModel {
        company_id: Set(new.company_id),
        amount_cents: Set(new.amount_cents),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if new.amount_cents <= 0 {
        txn.rollback().await?;
        return bad_request("amount_cents must be positive");
    }
    txn.commit().await?;
    format::json(invoice)
}

async fn list(State(ctx): State<AppContext>) -> Result<Response> {
    let all = invoices::Entity::find()
        .order_by_asc(invoices::Column::Id)
        .all(&ctx.db)
        .await?;
    format::json(all)
}

/// The invoice routes.
pub fn routes() -> Routes {
    Routes::new()
        .prefix("api/invoices")
        .add("/", post(create))
        .add("/", get(list))
}
