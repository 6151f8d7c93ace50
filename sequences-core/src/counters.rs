//! The counter rows of either counter table, as the audits read them:
//! `sequences` through its entity, django-sequences' `sequences_sequence`
//! (whose `last` MariaDB holds unsigned) through the SQL of `sql`.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use crate::entity::{self, CounterTable, Model, NAMES_PER_READ};
use crate::sql::Dialect;

/// The counters of `table` whose name starts with `prefix` (every one with
/// `None`), in name order (see [`entity::counters_prefixed`]).
pub(crate) async fn prefixed<C: ConnectionTrait>(
    db: &C,
    prefix: Option<&str>,
    table: CounterTable,
) -> Result<Vec<Model>, DbErr> {
    if table == CounterTable::Sequences {
        return entity::counters_prefixed(db, prefix, false).await;
    }
    let column = Expr::col((Alias::new(table.name()), Alias::new("name")));
    let filter = prefix
        .filter(|p| !p.is_empty())
        .map(|prefix| entity::starts_with(column, prefix));
    Ok(read(db, table, filter)
        .await?
        .into_iter()
        .filter(|row| prefix.is_none_or(|prefix| row.name.starts_with(prefix)))
        .collect())
}

/// The counters of `names` in `table`, by name, read in batches.
pub(crate) async fn named<C: ConnectionTrait>(
    db: &C,
    names: &[String],
    table: CounterTable,
) -> Result<BTreeMap<String, Model>, DbErr> {
    if table == CounterTable::Sequences {
        return entity::counters_named(db, names).await;
    }
    let mut found = BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_READ) {
        let filter =
            Expr::col((Alias::new(table.name()), Alias::new("name"))).is_in(chunk.iter().cloned());
        for row in read(db, table, Some(filter)).await? {
            found.insert(row.name.clone(), row);
        }
    }
    Ok(found)
}

/// The rows of `table` that pass `filter`, in name order.
async fn read<C: ConnectionTrait>(
    db: &C,
    table: CounterTable,
    filter: Option<SimpleExpr>,
) -> Result<Vec<Model>, DbErr> {
    let backend = db.get_database_backend();
    let dialect = Dialect::of(backend)?;
    let mut query = Query::select();
    query
        .column(Alias::new("name"))
        .expr_as(Expr::cust(dialect.signed_last(table)), Alias::new("last"))
        .columns([
            Alias::new("closed"),
            Alias::new("last_day"),
            Alias::new("chain_head"),
        ])
        .from(Alias::new(table.name()))
        .order_by(Alias::new("name"), Order::Asc);
    if let Some(filter) = filter {
        query.and_where(filter);
    }
    db.query_all_raw(backend.build(&query))
        .await?
        .iter()
        .map(|row| Model::from_query_result(row, ""))
        .collect()
}
