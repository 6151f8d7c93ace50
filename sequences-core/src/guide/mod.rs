//! The guide: one chapter per job, each starting with what you want to do.
//! Documentation only: nothing here is code you call. Every Rust example
//! in it is compiled as a doctest (`no_run` where it needs a server).
//!
//! Start with the README's quickstart (the derive on an entity, the bundled
//! migrations, an insert in a transaction), then read the chapter of the
//! job at hand:
//!
//! | chapter | read it when you want to |
//! |---|---|
//! | [`describing`] | say which field is numbered, from which sequence: the derive, [`Numbering`](crate::Numbering) for generated entities (sea-orm-cli, Loco), entity-first |
//! | [`formats`] | print `INV-2026-00042`, restart each year, month or fiscal year, take the day in a time zone |
//! | [`register`] | keep a legal register: delete policies, voids, date order, closing a period, what is refused before anything is consumed |
//! | [`moments`] | choose when the number is given: on insert, at COMMIT, by the database's triggers, after COMMIT with a gapless feed |
//! | [`auditing`] | prove it on the data: [`Audit`](crate::Audit), the hash chain and [`ChainAudit`](crate::ChainAudit), checkpoints, what each proves and cannot |
//! | [`imports`] | load many rows at once: a year of invoices, a legacy table, `COPY` and `INSERT .. SELECT`; which path keeps the cost per row constant |
//! | [`django`] | number one series from a Django application (django-sequences) and this library side by side, then leave Django |
//! | [`counters`] | use a counter by hand ([`Sequence`](crate::Sequence), beside django-sequences), adopt a legacy table |
//! | [`errors`] | tell a refusal from a failure, retry what the database asks to retry, at any isolation level |
//! | [`operating`] | find the hot sequence (tracing); the `sequences` command (its own crate, `sequences-cli`) |
//! | [`high_availability`] | run under Patroni or Galera, and know what a failover can hand out twice |
//! | [`pitfalls`] | know what can still go wrong, and what the audit reports of it |
//! | [`reliability`] | see the evidence: what the tests do to the library, on real servers |
//! | [`how_it_works`] | know the statements, the tables, what each database can do, and where each part lives |
//!
//! The benchmark's figures and their method are in the repository, in
//! `docs/bench/README.md`; the changes, in `CHANGELOG.md`.

#[doc = include_str!("describing.md")]
pub mod describing {}

#[doc = include_str!("formats.md")]
pub mod formats {}

#[doc = include_str!("register.md")]
pub mod register {}

#[doc = include_str!("moments.md")]
pub mod moments {}

#[doc = include_str!("auditing.md")]
pub mod auditing {}

#[doc = include_str!("imports.md")]
pub mod imports {}

#[doc = include_str!("django.md")]
pub mod django {}

#[doc = include_str!("counters.md")]
pub mod counters {}

#[doc = include_str!("errors.md")]
pub mod errors {}

#[doc = include_str!("operating.md")]
pub mod operating {}

#[doc = include_str!("high_availability.md")]
pub mod high_availability {}

#[doc = include_str!("pitfalls.md")]
pub mod pitfalls {}

#[doc = include_str!("reliability.md")]
pub mod reliability {}

#[doc = include_str!("how_it_works.md")]
pub mod how_it_works {}
