//! The chain head on the counter row (`chain_head`, and `chain_seal` of
//! `KeyedChainMigration`): read and moved under the row lock the
//! allocation holds, by the library and by the triggers of PostgreSQL and
//! MariaDB/MySQL. On PostgreSQL both go to the version the allocation just
//! wrote, by its TID (`hot`).

use sea_orm::Statement;

use super::Dialect;
use super::piece::{Arg, fill};
use crate::entity::CounterTable;

impl Dialect {
    /// The chain head of `{name}` (its row is locked by the allocation);
    /// `into` follows the select list (a trigger's variable).
    pub(crate) fn chain_head_text(self, into: &str) -> String {
        if self == Self::Postgres {
            // The version the allocation just wrote, by its TID; by name
            // only when that finds nothing (see `hot_row`).
            return format!(
                "WITH \"hot\" AS (SELECT \"chain_head\" FROM {{table}} WHERE {}) SELECT \"chain_head\"{into} FROM \"hot\" UNION ALL SELECT \"chain_head\" FROM {{table}} WHERE \"name\" = {{name}} AND NOT EXISTS (SELECT 1 FROM \"hot\")",
                self.hot_row()
            );
        }
        format!(
            "SELECT {}{into} FROM {{table}} WHERE {} = {{name}}",
            self.quote("chain_head"),
            self.quote("name")
        )
    }

    /// [`chain_head_text`](Self::chain_head_text), bound.
    pub(crate) fn chain_head(self, name: &str) -> Statement {
        fill(
            self,
            &self.chain_head_text(""),
            &[
                ("table", &self.counter_table(CounterTable::Sequences)),
                ("name", &Arg::bind(name)),
                ("slot", &self.hot_slot_arg(name)),
            ],
        )
        .statement(self)
    }

    /// Moves the chain head of `{name}` to `{head}` (and, `sealed`, its seal
    /// to `{seal}`: KeyedChainMigration's column, named only then). On
    /// PostgreSQL it writes the version the allocation wrote, by its TID,
    /// and remembers the new one (see `hot_row`); it returns a row, and
    /// `into` follows its select list (a trigger's variable).
    pub(crate) fn set_chain_head_text(self, sealed: bool, into: &str) -> String {
        let seal = if sealed {
            format!(", {} = {{seal}}", self.quote("chain_seal"))
        } else {
            String::new()
        };
        if self == Self::Postgres {
            return format!(
                "WITH \"hot\" AS (UPDATE {{table}} SET \"chain_head\" = {{head}}{seal} WHERE {hot} RETURNING {remember}), \"cold\" AS (UPDATE {{table}} SET \"chain_head\" = {{head}}{seal} WHERE \"name\" = {{name}} AND NOT EXISTS (SELECT 1 FROM \"hot\") RETURNING {remember}) SELECT 1{into} FROM \"hot\" UNION ALL SELECT 1 FROM \"cold\"",
                hot = self.hot_row(),
                remember = self.remember_hot_row(),
            );
        }
        format!(
            "UPDATE {{table}} SET {} = {{head}}{seal} WHERE {} = {{name}}",
            self.quote("chain_head"),
            self.quote("name")
        )
    }

    /// [`set_chain_head_text`](Self::set_chain_head_text), bound.
    pub(crate) fn set_chain_head(self, name: &str, head: &str, seal: Option<&str>) -> Statement {
        fill(
            self,
            &self.set_chain_head_text(seal.is_some(), ""),
            &[
                ("table", &self.counter_table(CounterTable::Sequences)),
                ("name", &Arg::bind(name)),
                ("slot", &self.hot_slot_arg(name)),
                ("head", &Arg::bind(head)),
                ("seal", &Arg::bind(seal)),
            ],
        )
        .statement(self)
    }
}
