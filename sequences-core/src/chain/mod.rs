//! A tamper-evident chain per sequence: each numbered record carries a
//! SHA-256 (or, keyed, an HMAC-SHA-256) over the previous record's hash, its
//! sequence, its number and the fields it covers. Editing a covered field,
//! deleting a record, or swapping numbers breaks the chain at that record,
//! and [`ChainAudit`] reports every broken link.
//!
//! # What each form proves
//!
//! | chain | an edit is found when it was made by | it cannot find |
//! |---|---|---|
//! | keyless (`chain`, SHA-256) | anyone who did not recompute the hashes: an application bug, a hand edit in SQL, a restored backup of one table | a rewrite by someone who recomputes the hashes (the encoding is public) and moves `chain_head` |
//! | keyed ([`ChainKey`], HMAC-SHA-256) | anyone without the key, however they edit | a rewrite by someone holding the key |
//! | checkpointed ([`checkpoints`], kept outside the database) | anyone, key or not, for every record up to the checkpoint's `last` | changes after the last checkpoint (by someone with the key, when keyed) |
//!
//! A keyed chain needs the key at every insert and at every verification;
//! it is never stored in the database.
//!
//! # The canonical encoding (version 1)
//!
//! A link's hash is the lowercase hex SHA-256 of the concatenation of these
//! items, each written as `<byte length>:<UTF-8 bytes>;`:
//!
//! 1. `sequences-chain-v1`;
//! 2. the previous link's hash (64 hex digits; [`GENESIS`], 64 zeros, for
//!    the first link of a sequence);
//! 3. the sequence's name (`invoice-7`);
//! 4. the number, in decimal (`42`);
//! 5. for each covered field, in the declared order, its column name, then
//!    `v` followed by its text (integers in decimal, strings as they are,
//!    dates as `YYYY-MM-DD`), or `n` for NULL.
//!
//! A keyed chain hashes the same items, the first one being
//! `sequences-chain-hmac-v1`, with HMAC-SHA-256 under the key.
//!
//! For example the first link of `invoice-7`, number 1, covering
//! `amount_cents = 1250` and `customer = NULL`, hashes
//! `18:sequences-chain-v1;64:0000…0000;9:invoice-7;1:1;12:amount_cents;5:v1250;8:customer;1:n;`.
//!
//! The sequence's row keeps the latest link (`chain_head`), read and moved
//! under the row lock of the allocation, so the chain is linear under any
//! concurrency. A number recorded void (`on_delete = "void"`) keeps the hash
//! of the record it replaces (`sequence_voids.chain_hash`), so the chain runs
//! on through it; a void with no hash (a number that never had a record) is
//! passed over. A chain starts at the sequence's initial value; a chain
//! added to a table that already has rows starts at its first hashed record,
//! whose previous hash is [`GENESIS`], and is verified so only when the
//! audit is told ([`ChainAudit::legacy_prefix`]).

mod checkpoint;
mod verify;
mod walk;
mod write;

use std::fmt;
use std::sync::Arc;

pub use crate::hash::{GENESIS, keyed_link_hash, link_hash, seal_hash, void_auth};
pub use checkpoint::{Checkpoint, checkpoints};
pub use verify::{BreakKind, ChainAudit, ChainBreak, ChainReport, ChainState};
pub(crate) use write::{Link, extend};

/// The shortest key a keyed chain accepts, in bytes.
pub const MIN_KEY_LENGTH: usize = 16;

/// The secret of a keyed chain (HMAC-SHA-256), held by the application
/// outside the database: given as bytes (from a secret store), or read from
/// an environment variable when it is used. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ChainKey(KeySource);

#[derive(Clone)]
enum KeySource {
    Bytes(Arc<[u8]>),
    Env(Arc<str>),
}

impl ChainKey {
    /// A key of these bytes (at least [`MIN_KEY_LENGTH`]).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(KeySource::Bytes(bytes.into().into()))
    }

    /// The key is the value of environment variable `var`, read each time
    /// it is needed (a missing or short key is refused before any value is
    /// taken).
    pub fn from_env(var: impl AsRef<str>) -> Self {
        Self(KeySource::Env(var.as_ref().into()))
    }

    /// The key's bytes, or why there are none.
    pub(crate) fn bytes(&self) -> Result<Arc<[u8]>, String> {
        let bytes: Arc<[u8]> = match &self.0 {
            KeySource::Bytes(bytes) => Arc::clone(bytes),
            KeySource::Env(var) => match std::env::var_os(&**var) {
                Some(value) => value.as_encoded_bytes().into(),
                None => {
                    return Err(format!(
                        "the chain key's environment variable {var} is not set"
                    ));
                }
            },
        };
        if bytes.len() < MIN_KEY_LENGTH {
            return Err(format!(
                "the chain key is {} bytes long; a key has at least {MIN_KEY_LENGTH}",
                bytes.len()
            ));
        }
        Ok(bytes)
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeySource::Bytes(_) => f.write_str("ChainKey(<hidden>)"),
            KeySource::Env(var) => write!(f, "ChainKey(env {var})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ChainKey;

    #[test]
    fn a_key_is_long_enough_and_never_shown() {
        assert!(ChainKey::new(*b"short").bytes().is_err());
        assert_eq!(
            format!("{:?}", ChainKey::new(*b"0123456789abcdef")),
            "ChainKey(<hidden>)"
        );
    }
}
