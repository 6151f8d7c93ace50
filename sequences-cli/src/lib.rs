#![doc = include_str!("../README.md")]
//!
//! # This crate's library
//!
//! The library half of the `sequences` command: what it shares with the
//! other programs of the workspace (the invoicing demo). The command itself
//! is `src/main.rs`.

pub mod connect;
pub mod redact;
