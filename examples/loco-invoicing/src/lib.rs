//! A Loco application that numbers invoices with sea-orm-sequences, the way a
//! Loco user would: the entity under `models/_entities` is generated
//! (`cargo loco db entities`) and regenerated after every migration, so it
//! carries no attribute; the numbering lives in the hand-written
//! `models/invoices.rs`, through `sequences_core::Numbering`.

pub mod app;
pub mod controllers;
pub mod migration;
pub mod models;
