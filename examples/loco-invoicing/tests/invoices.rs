//! The Loco application's own test: invoices created through the controller,
//! a fifth of them refused after their number was taken, come out numbered
//! 1, 2, 3... per company with no gap.

use loco_invoicing::app::App;
use loco_rs::testing::prelude::*;
use serde_json::{Value, json};

#[tokio::test]
async fn invoices_are_numbered_gaplessly_per_company() {
    request::<App, _, _>(|request, _ctx| async move {
        let mut refused = 0;
        for i in 0..30 {
            let company = 1 + i % 2;
            let amount = if i % 5 == 4 { -1 } else { 100 + i };
            let response = request
                .post("/api/invoices")
                .json(&json!({ "company_id": company, "amount_cents": amount }))
                .await;
            if amount < 0 {
                assert_eq!(response.status_code(), 400, "{}", response.text());
                refused += 1;
            } else {
                assert_eq!(response.status_code(), 200, "{}", response.text());
            }
        }
        assert_eq!(refused, 6);

        let listed: Vec<Value> = request.get("/api/invoices").await.json();
        assert_eq!(listed.len(), 24);
        for company in [1, 2] {
            let numbers: Vec<i64> = listed
                .iter()
                .filter(|invoice| invoice["company_id"] == company)
                .map(|invoice| invoice["number"].as_i64().expect("a number"))
                .collect();
            assert_eq!(numbers, (1..=12).collect::<Vec<i64>>(), "company {company}");
        }
    })
    .await;
}
