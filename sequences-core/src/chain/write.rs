//! Writing the chain: the next links of a sequence, under the row lock of
//! the caller's allocation.

use sea_orm::ConnectionTrait;

use crate::SequenceError;
use crate::hash::{GENESIS, hash_link, seal_hash};
use crate::sql::Dialect;

/// A record to chain: its number and the texts of its covered columns.
pub(crate) struct Link<'a> {
    pub(crate) number: i64,
    pub(crate) covered: Vec<(&'a str, Option<String>)>,
}

/// Extends the chain of `sequence` by one link per record of `links`, under
/// the row lock the caller's allocation holds; returns the hashes and moves
/// the sequence's `chain_head`.
pub(crate) async fn extend<C: ConnectionTrait>(
    db: &C,
    name: &str,
    links: &[Link<'_>],
    key: Option<&[u8]>,
) -> Result<Vec<String>, SequenceError> {
    let error = |source| SequenceError::Database {
        name: name.to_owned(),
        source,
    };
    let dialect = Dialect::of(db.get_database_backend()).map_err(error)?;
    let head: Option<String> = db
        .query_one_raw(dialect.chain_head(name))
        .await
        .map_err(error)?
        .map(|row| row.try_get_by_index::<Option<String>>(0))
        .transpose()
        .map_err(error)?
        .flatten();
    let mut previous = head.unwrap_or_else(|| GENESIS.to_owned());
    let mut hashes = Vec::with_capacity(links.len());
    for link in links {
        let fields: Vec<(&str, Option<&str>)> = link
            .covered
            .iter()
            .map(|(name, value)| (*name, value.as_deref()))
            .collect();
        previous = hash_link(key, &previous, name, link.number, &fields);
        hashes.push(previous.clone());
    }
    let seal = match (key, links.last()) {
        (Some(key), Some(last)) => Some(seal_hash(key, name, &previous, last.number)),
        _ => None,
    };
    db.execute_raw(dialect.set_chain_head(name, &previous, seal.as_deref()))
        .await
        .map_err(|source| SequenceError::of_database(name, dialect.backend(), source))?;
    Ok(hashes)
}
