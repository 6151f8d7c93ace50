//! PostgreSQL: the counter row's version a transaction wrote last, found by
//! its TID instead of by name.
//!
//! Every write of a row makes a new version of it, and until the
//! transaction ends every version stays; a lookup by name walks them all,
//! so a transaction that moves one counter N times (a bulk load, the
//! triggers over `INSERT ... SELECT`, the derive in a loop) paid N²/2
//! version visits. The allocation, and the chain head's read and write,
//! remember the version they wrote in a transaction-local setting and go
//! to it first (`Dialect::allocate`, the triggers' `allocate`); the lookup
//! by name runs only when that finds nothing.

use super::Dialect;
use super::counter::Step;
use super::piece::Arg;

/// PostgreSQL: the name of the transaction-local setting that remembers
/// where this transaction last wrote the counter row of `name` (its TID;
/// `Dialect::upsert`): one of 1,024, by the first ten bits of the name's
/// SHA-256. Few enough that a connection creates them all in well under a
/// second on PostgreSQL 15 (whose settings are a sorted array), many enough
/// that the sequences of one bulk load rarely share one; two that do each
/// fall back to the lookup by name. The triggers compute the same name in SQL
/// (`Dialect::hot_slot_sql`).
pub(crate) fn hot_slot(name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let slot = (u16::from(digest[0]) << 2) | u16::from(digest[1] >> 6);
    format!("sequences.hot_{slot}")
}

impl Dialect {
    /// The `{slot}` argument for `name`'s counter row: its setting
    /// ([`hot_slot`]) on PostgreSQL; elsewhere no statement names it, and no
    /// hash is computed.
    pub(super) fn hot_slot_arg(self, name: &str) -> Arg {
        match self {
            Self::Postgres => Arg::bind(hot_slot(name)),
            _ => Arg::sql("NULL"),
        }
    }

    /// PostgreSQL: the allocation's write of the counter row's version at
    /// TID `tid` (a hole, or a trigger's variable), with the decision and
    /// the write of `upsert`, returning `last` and
    /// remembering the new version's TID; no row when the version is not
    /// there (see `hot_row`) or the decision refuses.
    pub(crate) fn hot_update(self, step: Step, range: bool, tid: &str) -> String {
        assert!(self == Self::Postgres, "PostgreSQL only");
        let col = |c: &str| format!("{{table}}.\"{c}\"");
        let range_set = if range {
            ", \"max_value\" = {max_value}, \"warn_at\" = {warn_at}"
        } else {
            ""
        };
        format!(
            "UPDATE {{table}} SET \"last\" = {}, \"last_day\" = {}{range_set} WHERE ctid = {tid} AND \"name\" = {{name}} AND ({}) IS NULL RETURNING \"last\", {}",
            self.next_last(&col("last"), step),
            self.later_day(&col("last_day"), "{new_day}"),
            self.refusal_kind(&col("closed"), &col("last_day"), &col("last"), step),
            self.remember_hot_row(),
        )
    }

    /// PostgreSQL: the TID remembered in the setting `{slot}`, or NULL.
    pub(crate) fn hot_tid(self) -> &'static str {
        "NULLIF(current_setting({slot}, true), '')::tid"
    }

    /// PostgreSQL: the SQL of the setting's name for the counter row of
    /// `name` (an expression of the trigger's variable `name`), the same as
    /// [`hot_slot`] computes in Rust.
    pub(crate) fn hot_slot_sql(name: &str) -> String {
        format!(
            "'sequences.hot_' || (get_byte(sha256(convert_to({name}, 'UTF8')), 0) * 4 + get_byte(sha256(convert_to({name}, 'UTF8')), 1) / 64)"
        )
    }

    /// PostgreSQL: the condition "this is the version of `{name}`'s counter
    /// row this transaction wrote last", by the TID remembered in the
    /// transaction-local setting `{slot}` ([`hot_slot`]), a TID scan (why:
    /// the module's documentation).
    ///
    /// Only a hint: the TID must also hold a row of that name visible now, and a version
    /// the transaction has since replaced is invisible to it, so a missing,
    /// stale or colliding slot (another name's TID, another table's) matches
    /// nothing, and the caller falls back to the lookup by name. A
    /// subtransaction's rollback restores the setting with the row. Under
    /// READ COMMITTED a concurrent update's new version fails the TID
    /// recheck; at REPEATABLE READ it fails to serialize, as by name.
    pub(super) fn hot_row(self) -> String {
        format!("ctid = {} AND \"name\" = {{name}}", self.hot_tid())
    }

    /// PostgreSQL: records the written version's TID in the setting
    /// `{slot}` ([`hot_slot`]; for a `RETURNING` list).
    pub(super) fn remember_hot_row(self) -> &'static str {
        "set_config({slot}, ctid::text, true)"
    }
}
