//! HTTP controllers.

pub mod invoices;
