//! The gapless feed of a field numbered after COMMIT: its rows in number
//! order after the last one a reader saw (`read_after`, `read_after_in`).
//! Batches commit one after the other, so a reader of `number > n` never
//! sees `n + 2` before `n + 1`.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
};

use super::{Numbering, Prepared};
use crate::SequenceError;
use crate::sql::Dialect;

impl<K: ColumnTrait> Numbering<K>
where
    K::EntityName: EntityTrait<Column = K>,
{
    /// The rows numbered after `last_seen`, in number order, at most
    /// `limit`: a feed whose reader never skips a row. Numbers are given in
    /// batches that commit one after the other, so what a read returns is
    /// always `last_seen + 1, last_seen + 2, ...` with no hole.
    ///
    /// A feed reads one sequence. A field with placeholders has one per
    /// scope: read it with [`read_after_in`](Self::read_after_in). A field
    /// with a period starts again each period, so its numbers do not order
    /// its rows: it is refused ([`SequenceError::InvalidNumbering`]), as is
    /// a field with placeholders here.
    pub async fn read_after<C: ConnectionTrait>(
        &self,
        db: &C,
        last_seen: i64,
        limit: u64,
    ) -> Result<Vec<<K::EntityName as EntityTrait>::Model>, SequenceError> {
        self.read_after_in(db, std::iter::empty::<(K, Value)>(), last_seen, limit)
            .await
    }

    /// [`read_after`](Self::read_after) in the sequence of one scope: a
    /// value for each column the sequence name's placeholders take
    /// (`[(Column::Till, "A")]` for `receipt-{till}`), no more, no fewer, or
    /// [`SequenceError::InvalidNumbering`].
    pub async fn read_after_in<C, V>(
        &self,
        db: &C,
        scope: impl IntoIterator<Item = (K, V)>,
        last_seen: i64,
        limit: u64,
    ) -> Result<Vec<<K::EntityName as EntityTrait>::Model>, SequenceError>
    where
        C: ConnectionTrait,
        V: Into<Value>,
    {
        let field = self.first_after_commit()?;
        let number = field.number_column()?;
        let scope: Vec<(K, Value)> = scope.into_iter().map(|(k, v)| (k, v.into())).collect();
        field.one_sequence(&scope)?;
        let dialect =
            Dialect::of(db.get_database_backend()).map_err(|source| field.failed(source))?;
        let mut query = <K::EntityName as EntityTrait>::find();
        for (column, value) in scope {
            // Byte for byte, as the sequence's name took it: a column whose
            // collation ignores case or trailing spaces would mix scopes.
            if matches!(value, Value::String(_)) {
                query = query.filter(sea_orm::sea_query::Expr::cust_with_exprs(
                    format!(
                        "{} = {}",
                        dialect.exact_text(&dialect.placeholder(1)),
                        dialect.exact_text(&dialect.placeholder(2))
                    ),
                    [
                        sea_orm::sea_query::Expr::col((column.entity_name(), column)),
                        sea_orm::sea_query::Expr::val(value.clone()),
                    ],
                ));
            }
            query = query.filter(column.eq(value));
        }
        query
            .filter(number.gt(last_seen))
            .order_by_asc(number)
            .limit(limit)
            .all(db)
            .await
            .map_err(|source| SequenceError::Database {
                name: field.target.clone(),
                source,
            })
    }
}

impl<K: ColumnTrait> Prepared<K>
where
    K::EntityName: EntityTrait<Column = K>,
{
    /// Refuses a feed that would read more than one sequence: a period, or
    /// a scope that is not exactly the placeholders' columns.
    fn one_sequence(&self, scope: &[(K, Value)]) -> Result<(), SequenceError> {
        if self.period.is_some() {
            return Err(self.invalid(
                "a feed reads one sequence, and this field's starts again each period (its \
                 numbers do not order its rows): read_after takes fields without a period"
                    .into(),
            ));
        }
        let mut wanted: Vec<&str> = self.name_columns.iter().map(|c| c.as_str()).collect();
        let mut given: Vec<&str> = scope.iter().map(|(c, _)| c.as_str()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        given.sort_unstable();
        if wanted != given {
            return Err(self.invalid(format!(
                "a feed reads one sequence of `{}`: give read_after_in a value for each of its \
                 placeholders' columns ({}), and no other column (given: {})",
                self.template,
                if wanted.is_empty() {
                    "none".to_owned()
                } else {
                    wanted.join(", ")
                },
                if given.is_empty() {
                    "none".to_owned()
                } else {
                    given.join(", ")
                },
            )));
        }
        Ok(())
    }

    /// The integer column the number is read from: the field, or its first
    /// raw value beside a reference.
    fn number_column(&self) -> Result<K, SequenceError> {
        match (&self.format, self.raw_values.first()) {
            (None, _) => Ok(self.column),
            (Some(_), Some(&(raw, _))) => Ok(raw),
            (Some(_), None) => Err(self.invalid(
                "reading in number order needs an integer column: give the formatted field a \
                 raw_value column"
                    .into(),
            )),
        }
    }
}
