//! Filling: the values a batch of models needs, checked, then taken with
//! one statement per sequence and set on the models (or, for a deferred
//! field, recorded for the commit).

use super::{DaySource, Numbering, Prepared, entity_name};
use crate::SequenceError;
use crate::chain::{self};
use crate::column_value::{Int, current, out_of_range};
use crate::deferred::{self, Pending, PendingDay};
use crate::fill::{self, Requests};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait};
use sequences_template::rules::Moment;
use std::sync::Arc;
use tracing::Span;

impl<K: ColumnTrait> Numbering<K> {
    pub(super) async fn fill_checked<A, D>(
        &self,
        mut models: Vec<A>,
        db: &D,
    ) -> Result<Vec<A>, SequenceError>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let fields = self.checked()?;
        let entity = entity_name::<K>();
        let mut requests = Requests::new(entity);
        // The database's day, asked once per fill and time zone.
        let mut today = fill::Today::default();
        let mut deferring = None;
        let mut expected = Vec::new();
        for (index, model) in models.iter().enumerate() {
            for (number, field) in fields.iter().enumerate() {
                if !model.is_not_set(field.column)
                    || matches!(field.moment, Moment::ByDatabase | Moment::AfterCommit)
                {
                    continue; // set by the caller, numbered by the database or after COMMIT
                }
                if let Some(format) = &field.format {
                    for (name, column) in &format.fields {
                        field.text(current(model, *column), *column, name, &format.text)?;
                    }
                }
                if field.moment == Moment::AtCommit {
                    // Checked now, numbered at commit (`after_save`, `defer_many`).
                    field.pending(&|c| current(model, c), Vec::new())?;
                    deferring.get_or_insert(field);
                    expected.push(field.target.as_str());
                    continue;
                }
                let day = match field.day {
                    None => None,
                    Some(DaySource::Column(column)) => {
                        Some(field.day(current(model, column), column)?)
                    }
                    Some(DaySource::Database) => {
                        Some(today.day(db, &field.target, field.zone.as_ref()).await?)
                    }
                };
                let base = field.name.fill_name(|name| {
                    let column = field.column_of(name);
                    field.text(current(model, column), column, name, &field.template)
                })?;
                let name = fill::period_name(&base, field.period, day);
                requests.push(
                    index,
                    number,
                    field.column.as_str(),
                    field.sequence_named(name),
                    day,
                    field.chronological,
                )?;
            }
        }
        if let Some(field) = deferring {
            if !deferred::in_scope() {
                return Err(SequenceError::DeferredOutsideTransaction {
                    target: field.target.clone(),
                });
            }
            let inside =
                crate::in_transaction(db)
                    .await
                    .map_err(|source| SequenceError::Database {
                        name: field.target.clone(),
                        source,
                    })?;
            if !inside {
                return Err(SequenceError::NotInTransaction {
                    name: field.template.clone(),
                    target: field.target.clone(),
                });
            }
        }
        for target in expected {
            deferred::expect(target);
        }
        // Keys of keyed chains, read before anything is taken.
        let keys = fields
            .iter()
            .map(|field| field.key())
            .collect::<Result<Vec<_>, _>>()?;
        // A refusal of a second sequence (closed, out of date order, at the
        // end of its range) must give the first one's values back even if
        // the caller swallows the error and commits: such fills run in a
        // savepoint. One sequence refuses in its own statement, taking nothing.
        let guarded = requests.sequences() > 1;
        if guarded && !requests.in_transaction(db).await? {
            return Err(requests.not_in_transaction());
        }
        if !guarded {
            self.assign(&mut models, &fields, &keys, requests, db)
                .await?;
            return Ok(models);
        }
        savepoint(db, "SAVEPOINT sequences_fill", &fields[0].target).await?;
        match self.assign(&mut models, &fields, &keys, requests, db).await {
            Ok(()) => {
                savepoint(db, "RELEASE SAVEPOINT sequences_fill", &fields[0].target).await?;
                Ok(models)
            }
            Err(error) => {
                // A deadlock or a lost connection may have ended the whole
                // transaction (and its savepoint) already: the original
                // error is the one to report either way.
                if savepoint(
                    db,
                    "ROLLBACK TO SAVEPOINT sequences_fill",
                    &fields[0].target,
                )
                .await
                .is_ok()
                {
                    let _ =
                        savepoint(db, "RELEASE SAVEPOINT sequences_fill", &fields[0].target).await;
                }
                Err(error)
            }
        }
    }

    /// Takes the requested values and sets them (and chain hashes) on the models.
    pub(super) async fn assign<A, D>(
        &self,
        models: &mut [A],
        fields: &[&Prepared<K>],
        keys: &[Option<Arc<[u8]>>],
        requests: Requests<'_>,
        db: &D,
    ) -> Result<(), SequenceError>
    where
        A: ActiveModelTrait<Entity: EntityTrait<Column = K>> + Send,
        D: ConnectionTrait,
    {
        let allocated = requests
            .allocate(db)
            .await
            .map_err(|error| out_of_range(error, fields.iter().filter_map(|f| f.cap())))?;
        Span::current().record("values", allocated.len());
        // Chains: per field and sequence, in allocation order.
        let runs = fill::chain_runs(&allocated, |value| fields[value.field].chain.is_some());
        for value in allocated {
            let field = &fields[value.field];
            let model = &mut models[value.model];
            match &field.format {
                None => field.store(model, field.column, field.holder_int(), &value)?,
                Some(format) => {
                    let day = value.day.unwrap_or_default();
                    let text = format
                        .pattern
                        .render(value.value, day, field.period, |name| {
                            let column = format.column_of(name);
                            field.text(current(model, column), column, name, &format.text)
                        })?;
                    set(
                        model,
                        field.column,
                        sea_orm::Value::String(Some(text)),
                        field,
                    )?;
                    for &(column, int) in &field.raw_values {
                        if model.is_not_set(column) {
                            field.store(model, column, int, &value)?;
                        }
                    }
                }
            }
        }
        // Under the row lock the allocation took.
        for run in runs {
            let field = fields[run.field];
            let (hash, covers) = field.chain.as_ref().expect("chained");
            let links: Vec<chain::Link<'_>> = run
                .rows
                .iter()
                .map(|&(model, number)| chain::Link {
                    number,
                    covered: covers
                        .iter()
                        .map(|c| (c.as_str(), field.cover_text(current(&models[model], *c))))
                        .collect(),
                })
                .collect();
            let sequence = field.sequence.renamed(&*run.sequence);
            let hashes =
                chain::extend(db, sequence.name(), &links, keys[run.field].as_deref()).await?;
            for ((model, _), digest) in run.rows.iter().zip(hashes) {
                set(
                    &mut models[*model],
                    *hash,
                    sea_orm::Value::String(Some(digest)),
                    field,
                )?;
            }
        }
        Ok(())
    }
}

impl<K: ColumnTrait> Prepared<K> {
    /// A deferred number of the row `read` gives the columns of, with key
    /// `keys`: everything but the value (and a database day), checked now.
    pub(super) fn pending(
        &self,
        read: &dyn Fn(K) -> Option<sea_orm::Value>,
        keys: Vec<(&'static str, sea_orm::Value)>,
    ) -> Result<Pending, SequenceError> {
        let base_name = self.name.fill_name(|name| {
            let column = self.column_of(name);
            self.text(read(column), column, name, &self.template)
        })?;
        let day = match self.day {
            None => PendingDay::None,
            Some(DaySource::Column(column)) => PendingDay::Known(self.day(read(column), column)?),
            Some(DaySource::Database) => PendingDay::Database(self.zone),
        };
        let format = match &self.format {
            None => None,
            Some(format) => {
                let fields = format
                    .fields
                    .iter()
                    .map(|(name, column)| {
                        Ok((
                            name.clone(),
                            self.text(read(*column), *column, name, &format.text)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, SequenceError>>()?;
                Some((format.pattern.clone(), format.text.clone(), fields))
            }
        };
        // What the number is taken for, as inserted: the COMMIT-time UPDATE
        // finds the row only if these are still the same.
        let mut read_columns: Vec<K> = self.name_columns.clone();
        if let Some(DaySource::Column(column)) = self.day {
            read_columns.push(column);
        }
        if let Some(format) = &self.format {
            read_columns.extend(format.fields.iter().map(|(_, column)| *column));
        }
        if let Some((_, covers)) = &self.chain {
            read_columns.extend(covers.iter().copied());
        }
        let mut as_inserted: Vec<(&'static str, sea_orm::Value)> = Vec::new();
        for column in read_columns {
            if as_inserted.iter().any(|(c, _)| *c == column.as_str()) {
                continue;
            }
            if let Some(value) = read(column) {
                as_inserted.push((column.as_str(), value));
            }
        }
        Ok(Pending {
            table: entity_name::<K>(),
            keys,
            as_inserted,
            target: self.target.clone(),
            column: self.column.as_str(),
            holder: self.holder,
            sequence: self.sequence.clone(),
            base_name,
            period: self.period,
            day,
            chronological: self.chronological,
            format,
            raw_values: self
                .raw_values
                .iter()
                .map(|&(column, int)| (column.as_str(), int))
                .collect(),
            chain: self.chain.as_ref().map(|(hash, covers)| {
                let covered = covers
                    .iter()
                    .map(|c| (c.as_str(), self.cover_text(read(*c))))
                    .collect();
                (hash.as_str(), covered)
            }),
            chain_key: self.key()?,
        })
    }

    /// Stores the allocated value in integer column `column`.
    pub(super) fn store<A: ActiveModelTrait<Entity: EntityTrait<Column = K>>>(
        &self,
        model: &mut A,
        column: K,
        int: Int,
        value: &fill::Allocated,
    ) -> Result<(), SequenceError> {
        let converted = fill::int_value(int, value, || {
            fill::target(entity_name::<K>(), column.as_str())
        })?;
        set(model, column, converted, self)
    }
}

/// Sets `column`; a model whose field type disagrees with its column type
/// (a `column_type` override) is refused, not panicked on.
pub(super) fn set<K: ColumnTrait, A: ActiveModelTrait<Entity: EntityTrait<Column = K>>>(
    model: &mut A,
    column: K,
    value: sea_orm::Value,
    field: &Prepared<K>,
) -> Result<(), SequenceError> {
    model.try_set(column, value).map_err(|error| {
        field.invalid(format!(
            "cannot store the value in column `{}`: {error}",
            column.as_str()
        ))
    })
}

/// Runs a savepoint statement of a fill.
pub(super) async fn savepoint<D: ConnectionTrait>(
    db: &D,
    sql: &str,
    target: &str,
) -> Result<(), SequenceError> {
    db.execute_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .map(drop)
    .map_err(|source| SequenceError::Database {
        name: target.to_owned(),
        source,
    })
}
