//! The hashes of the chain (see `chain` for the canonical encoding): a
//! leaf that the chain's writing and checking, the sequences and the
//! triggers' check of their own digests use, and nothing of SeaORM.

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The previous hash of a sequence's first link: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one link of a keyless chain (see the module docs for the encoding).
pub fn link_hash(
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
) -> String {
    let mut hasher = Sha256::new();
    encode(
        "sequences-chain-v1",
        previous,
        sequence,
        number,
        fields,
        |b| hasher.update(b),
    );
    hex(&hasher.finalize())
}

/// The hash of one link of a chain keyed with `key` (HMAC-SHA-256).
pub fn keyed_link_hash(
    key: &[u8],
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    encode(
        "sequences-chain-hmac-v1",
        previous,
        sequence,
        number,
        fields,
        |b| mac.update(b),
    );
    hex(&mac.finalize().into_bytes())
}

/// The seal of a keyed chain's head: an HMAC-SHA-256 under the key over the
/// head and the number of its link (items `sequences-chain-seal-v1`, the
/// head, the sequence, the number). Kept in `sequences.chain_seal`, it stops
/// anyone without the key from moving the head (to cut records off the end).
pub fn seal_hash(key: &[u8], sequence: &str, head: &str, number: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    encode(
        "sequences-chain-seal-v1",
        head,
        sequence,
        number,
        &[],
        |b| mac.update(b),
    );
    hex(&mac.finalize().into_bytes())
}

/// The authenticator of a void in a keyed chain: an HMAC-SHA-256 under the
/// key over the voided record's hash (`n` for none), the sequence, the value
/// and the reason (items `sequences-chain-void-v1`, the hash, the sequence,
/// the value, `reason`, `v<reason>`). Kept in `sequence_voids.chain_auth`, it
/// stops anyone without the key from explaining a deleted record away.
pub fn void_auth(
    key: &[u8],
    sequence: &str,
    value: i64,
    reason: &str,
    chain_hash: Option<&str>,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    encode(
        "sequences-chain-void-v1",
        chain_hash.unwrap_or("n"),
        sequence,
        value,
        &[("reason", Some(reason))],
        |b| mac.update(b),
    );
    hex(&mac.finalize().into_bytes())
}

/// A link's hash, keyed or not.
pub(crate) fn hash_link(
    key: Option<&[u8]>,
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
) -> String {
    match key {
        Some(key) => keyed_link_hash(key, previous, sequence, number, fields),
        None => link_hash(previous, sequence, number, fields),
    }
}

fn encode(
    version: &str,
    previous: &str,
    sequence: &str,
    number: i64,
    fields: &[(&str, Option<&str>)],
    mut update: impl FnMut(&[u8]),
) {
    let mut item = |text: &str| {
        update(text.len().to_string().as_bytes());
        update(b":");
        update(text.as_bytes());
        update(b";");
    };
    item(version);
    item(previous);
    item(sequence);
    item(&number.to_string());
    for (name, value) in fields {
        item(name);
        match value {
            Some(text) => item(&format!("v{text}")),
            None => item("n"),
        }
    }
}

/// Lower-case hexadecimal, as every digest of the crate is written.
pub(crate) fn hex(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_the_documented_one() {
        let fields = [("amount_cents", Some("1250")), ("customer", None)];
        let text = format!(
            "18:sequences-chain-v1;64:{GENESIS};9:invoice-7;1:1;12:amount_cents;5:v1250;8:customer;1:n;"
        );
        let expected: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(link_hash(GENESIS, "invoice-7", 1, &fields), expected);
        // A value's text and a NULL never collide; nor do shifted boundaries.
        assert_ne!(
            link_hash(GENESIS, "a", 1, &[("x", Some("n"))]),
            link_hash(GENESIS, "a", 1, &[("x", None)])
        );
        assert_ne!(
            link_hash(GENESIS, "ab", 1, &[]),
            link_hash(GENESIS, "a", 1, &[("b", None)])
        );
        // Keyed: another hash, and another for another key.
        let key = b"0123456789abcdef";
        let keyed = keyed_link_hash(key, GENESIS, "invoice-7", 1, &fields);
        assert_ne!(keyed, link_hash(GENESIS, "invoice-7", 1, &fields));
        assert_ne!(
            keyed,
            keyed_link_hash(b"0123456789abcdeX", GENESIS, "invoice-7", 1, &fields)
        );
        assert_eq!(keyed.len(), 64);
    }
}
