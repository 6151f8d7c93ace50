//! The tests that can share a process, in one binary (cargo's own test-suite
//! layout): linking sea-orm with three drivers once instead of once per file.
//! Run one file's tests with `cargo test -p sequences-tests --test it audit::`.
//!
//! They share the test databases and run in parallel threads, so each keeps
//! to names of its own ([`sequences_tests::unique_name`],
//! [`sequences_tests::fresh_company`], scratch tables and databases named by
//! its module) and reads InnoDB's lock views through
//! [`sequences_tests::locks::read_innodb_views`], which spaces those reads for
//! the whole process.
//!
//! Binaries of their own (`tests/tests/*.rs`), because they need a process to
//! themselves: `tracing` installs the global subscriber, `processes` spawns
//! worker processes and kills one, `restart` stops PostgreSQL under every
//! other test's feet, `patroni` and `galera` build and remove clusters.

mod after_commit;
mod attack;
mod attack_ac;
mod attack_db;
mod attack_r31;
mod attack_r32;
mod attack_r33;
mod attack_support;
mod audit;
mod by_database;
mod chain;
mod collations;
mod conflicts;
mod core_api;
mod core_concurrency;
mod core_edges;
mod deferred;
mod derive;
mod formats;
mod long_transactions;
mod model;
mod numbering;
mod progress;
mod proof;
mod races;
mod register;
mod reliability;
mod schema_sync;
mod two_paths;
mod upgrade;
