//! Numbering by the database: the description compiled into triggers
//! (`crate::triggers`), installed, removed and checked. What a database
//! cannot do is refused here, before any statement runs.

use crate::column_value::{Holder, IntColumn as _};
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ConnectionTrait, DbBackend, Iterable, PrimaryKeyToColumn, TransactionSession, TransactionTrait,
};
use sequences_template::rules::Moment;

use super::{DaySource, Numbering, Prepared, entity_name};
use crate::SequenceError;
use crate::sql::Dialect;
use crate::triggers::catalog::{self, Entry};
use crate::triggers::{self, ChainPlan, DateKind, DayPlan, End, FieldPlan, TextKind, TriggerState};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, ModelTrait};

impl<K: ColumnTrait> Numbering<K>
where
    K::EntityName: EntityTrait<Column = K>,
{
    /// Makes the database number and guard this description's fields
    /// itself, for every client: installs (or replaces) functions and
    /// triggers on the entity's table, so that
    /// - an insert whose number is NULL or omitted (`insert_many`, raw SQL,
    ///   another language's client) is numbered in its own statement, with
    ///   the counter row, the lock, the guards and the refusals of the
    ///   library's allocation (sequence name, period, format, date order,
    ///   closed sequences, range); a row inserted with its number set keeps
    ///   it, so the library and the database number side by side;
    /// - a DELETE of a numbered row obeys the field's [`OnDelete`](crate::OnDelete) policy;
    /// - an UPDATE that changes a number (or its raw value) is refused
    ///   ([`SequenceError::NumberChanged`]).
    ///
    /// A refusal reaches a Rust caller as a `DbErr` that
    /// [`SequenceError::from_database`] reads back. On PostgreSQL a
    /// [`deferred`](crate::NumberedField::deferred) field is numbered at COMMIT by a
    /// deferred constraint trigger. The triggers are recorded in the table
    /// `sequences_guards` (created if missing), for [`check_triggers`](Self::check_triggers)
    /// and the audit.
    ///
    /// A [`chain`](crate::NumberedField::chain) is extended on insert by
    /// PostgreSQL's `sha256()` and MariaDB's `SHA2()`, with the library's
    /// encoding and the same `chain_head`; an UPDATE of a covered column or
    /// of the hash of a numbered row is refused.
    ///
    /// Refused before anything is installed ([`SequenceError::InvalidNumbering`],
    /// naming the option and the database): a keyed chain (its key must stay
    /// out of the database); a chain on SQLite (no SHA-256); a time zone on
    /// SQLite (or on MariaDB/MySQL without its time zone tables); deferred
    /// numbering off PostgreSQL; a placeholder or covered column of a type
    /// the database cannot print as the library does (floats); a delete
    /// policy that needs the stored row's number or period where the row
    /// cannot say it (a formatted field needs a
    /// [`raw_value`](crate::NumberedField::raw_value) column, a periodic field a
    /// [`date`](crate::NumberedField::date) column); on SQLite, a numbered column
    /// declared NOT NULL (its trigger numbers the row just after the
    /// insert).
    ///
    /// Call it from a migration (`sequences_migration::numbered_by_database`).
    /// PostgreSQL and SQLite install everything in one transaction; MariaDB
    /// commits each `CREATE TRIGGER`, and on a failure the ones created are
    /// dropped again.
    pub async fn install_triggers<C>(&self, db: &C) -> Result<(), SequenceError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let dialect = dialect_of(db, &self.description_target())?;
        let mut plans = self.plans(dialect)?;
        for plan in &mut plans {
            triggers::table::prepare(db, dialect, plan).await?;
        }
        let failed = |plan: &FieldPlan| {
            let target = plan.target.clone();
            move |source| SequenceError::Database {
                name: target.clone(),
                source,
            }
        };
        let txn = db.begin().await.map_err(failed(&plans[0]))?;
        let result = async {
            txn.execute_raw(catalog::create_register(dialect))
                .await
                .map_err(failed(&plans[0]))?;
            if let Some(create) = dialect.create_numbering_table() {
                txn.execute_unprepared(&create)
                    .await
                    .map_err(failed(&plans[0]))?;
            }
            if let Some(create) = catalog::create_replaced(dialect) {
                txn.execute_unprepared(create)
                    .await
                    .map_err(failed(&plans[0]))?;
            }
            for plan in &plans {
                let ddl = triggers::ddl(dialect, plan);
                for statement in &ddl.install {
                    txn.execute_unprepared(statement)
                        .await
                        .map_err(failed(plan))?;
                }
                txn.execute_raw(catalog::record(
                    dialect,
                    &entry(dialect, plan),
                    &plan.table,
                    &plan.column,
                ))
                .await
                .map_err(failed(plan))?;
            }
            // Every trigger of the table as it is now, for every guarded
            // field of it: a trigger added, edited or disabled later shows.
            catalog::seal(&txn, dialect, &plans[0].table)
                .await
                .map_err(failed(&plans[0]))?;
            Ok::<_, SequenceError>(())
        }
        .await;
        match result {
            Ok(()) => txn.commit().await.map_err(failed(&plans[0])),
            Err(error) => {
                let _ = txn.rollback().await;
                if dialect == Dialect::MySql {
                    // Its DDL committed as it ran: take it back.
                    for plan in &plans {
                        for statement in triggers::ddl(dialect, plan).remove {
                            let _ = db.execute_unprepared(&statement).await;
                        }
                    }
                }
                Err(error)
            }
        }
    }

    /// Removes what [`install_triggers`](Self::install_triggers) installed
    /// (the migration's `down`): the fields are numbered by the library
    /// alone again.
    pub async fn remove_triggers<C>(&self, db: &C) -> Result<(), SequenceError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let dialect = dialect_of(db, &self.description_target())?;
        let plans = self.plans_unchecked()?;
        for plan in &plans {
            let failed = |source| SequenceError::Database {
                name: plan.target.clone(),
                source,
            };
            for statement in triggers::ddl(dialect, plan).remove {
                db.execute_unprepared(&statement).await.map_err(failed)?;
            }
            if catalog::recorded(db, dialect, &plan.table, &plan.column)
                .await
                .map_err(failed)?
                .is_some()
            {
                db.execute_raw(catalog::forget(dialect, &plan.table, &plan.column))
                    .await
                    .map_err(failed)?;
                catalog::seal(db, dialect, &plan.table)
                    .await
                    .map_err(failed)?;
            }
        }
        Ok(())
    }

    /// The statements [`install_triggers`](Self::install_triggers) runs on
    /// `backend`, for review (MariaDB's `name` collation aside, read from
    /// the database when installing).
    pub fn trigger_sql(&self, backend: DbBackend) -> Result<Vec<String>, SequenceError> {
        let dialect = Dialect::of(backend).map_err(|source| SequenceError::Database {
            name: self.description_target(),
            source,
        })?;
        Ok(self
            .plans(dialect)?
            .iter()
            .flat_map(|plan| triggers::ddl(dialect, plan).install)
            .collect())
    }

    /// Whether each field's triggers are installed as this description gives
    /// them: [`TriggerState::NotInstalled`], `Missing` (dropped), `Altered`
    /// (edited or disabled by hand), `Outdated` (installed from another
    /// description) or `Intact`; `(table.column, state)` per field.
    pub async fn check_triggers<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Vec<(String, TriggerState)>, SequenceError> {
        let dialect = dialect_of(db, &self.description_target())?;
        let mut out = Vec::new();
        for mut plan in self.plans(dialect)? {
            let target = plan.target.clone();
            let failed = |source| SequenceError::Database {
                name: target.clone(),
                source,
            };
            triggers::table::read_setting(db, dialect, &mut plan)
                .await
                .map_err(failed)?;
            let expected = entry(dialect, &plan);
            let mut state = catalog::state(db, dialect, &plan.table, &plan.column, Some(&expected))
                .await
                .map_err(failed)?
                .unwrap_or(TriggerState::NotInstalled);
            // The catalog against what this description installs, not only
            // against the register (which whoever edits the triggers can
            // edit too).
            if matches!(state, TriggerState::Intact | TriggerState::Altered) {
                let installed = catalog::bodies(db, dialect, &plan.table)
                    .await
                    .map_err(failed)?;
                let ddl = triggers::ddl(dialect, &plan);
                let differs = catalog::expected_bodies(dialect, &ddl.install)
                    .into_iter()
                    .any(|(name, body)| !installed.iter().any(|(n, b)| *n == name && *b == body));
                if differs {
                    state = TriggerState::Altered;
                }
            }
            out.push((plan.target.clone(), state));
        }
        Ok(out)
    }

    fn description_target(&self) -> String {
        self.fields
            .iter()
            .find_map(|f| f.as_ref().ok().map(|f| f.target.clone()))
            .unwrap_or_else(|| entity_name::<K>().to_owned())
    }

    /// Every field's plan, with what `dialect` cannot do refused.
    fn plans(&self, dialect: Dialect) -> Result<Vec<FieldPlan>, SequenceError> {
        let fields = self.checked()?;
        if fields.is_empty() {
            return Err(SequenceError::InvalidNumbering {
                target: entity_name::<K>().to_owned(),
                reason: "the numbering has no field to install triggers for".into(),
            });
        }
        fields
            .into_iter()
            .map(|field| field.plan(dialect))
            .collect()
    }

    /// The plans with no backend's refusals, to remove whatever was installed.
    fn plans_unchecked(&self) -> Result<Vec<FieldPlan>, SequenceError> {
        self.checked()?
            .into_iter()
            .map(|field| field.plan_of())
            .collect()
    }
}

/// The register entry a plan gives (its `installed` digest is read back
/// once installed).
fn entry(dialect: Dialect, plan: &FieldPlan) -> Entry {
    let ddl = triggers::ddl(dialect, plan);
    let triggers = plan
        .names()
        .all()
        .iter()
        .filter(|name| {
            let quoted = match dialect {
                Dialect::MySql => format!("TRIGGER `{name}`"),
                _ => format!("TRIGGER \"{name}\""),
            };
            ddl.install
                .iter()
                .any(|s| s.starts_with("CREATE") && s.contains(&quoted))
        })
        .map(|name| name.to_string())
        .collect();
    Entry {
        triggers,
        description: triggers::digest(ddl.install.iter().map(String::as_str)),
        installed: String::new(),
    }
}

fn dialect_of<C: ConnectionTrait>(db: &C, target: &str) -> Result<Dialect, SequenceError> {
    Dialect::of(db.get_database_backend()).map_err(|source| SequenceError::Database {
        name: target.to_owned(),
        source,
    })
}

/// How a placeholder column prints, or `None` when the database cannot
/// print it as the library does.
fn text_kind(column_type: &ColumnType) -> Option<TextKind> {
    Some(match column_type {
        ColumnType::Boolean => TextKind::Bool,
        ColumnType::Date => TextKind::Date,
        other => match Holder::of(other)? {
            Holder::Integer(_) => TextKind::Integer,
            Holder::Text => TextKind::Text,
        },
    })
}

fn date_kind(column_type: &ColumnType) -> Option<DateKind> {
    Some(match column_type {
        ColumnType::Date => DateKind::Date,
        ColumnType::DateTime | ColumnType::Timestamp => DateKind::Naive,
        ColumnType::TimestampWithTimeZone => DateKind::Instant,
        _ => return None,
    })
}

fn backend_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "PostgreSQL",
        Dialect::MySql => "MariaDB/MySQL",
        Dialect::Sqlite => "SQLite",
    }
}

impl<K: ColumnTrait> Prepared<K>
where
    K::EntityName: EntityTrait<Column = K>,
{
    /// The field as `dialect`'s triggers number and guard it, or why they
    /// cannot.
    fn plan(&self, dialect: Dialect) -> Result<FieldPlan, SequenceError> {
        let db = backend_name(dialect);
        let refuse = |reason: String| Err(self.invalid(reason));
        if let Some(reason) = &self.database_refusal {
            return refuse(reason.clone());
        }
        if self.chain.is_some() && dialect == Dialect::Sqlite {
            return refuse(
                "chain: SQLite has no SHA-256, so its triggers cannot chain the records; number \
                 this field in the library"
                    .into(),
            );
        }
        if self.moment == Moment::AtCommit && dialect != Dialect::Postgres {
            return refuse(format!(
                "deferred: numbering at COMMIT by the database needs PostgreSQL's deferred \
                 constraint triggers, which {db} lacks; on {db} number deferred fields with \
                 sequences_core::transaction"
            ));
        }
        if self.zone.is_some() && dialect == Dialect::Sqlite {
            return refuse(
                "time_zone: SQLite has no time zones, so its triggers cannot take the day in \
                 one; number this field in the library"
                    .into(),
            );
        }
        self.plan_of()
    }

    /// The field's plan, whatever the backend.
    fn plan_of(&self) -> Result<FieldPlan, SequenceError> {
        let table = entity_name::<K>().to_owned();
        let keys: Vec<String> = <<K::EntityName as EntityTrait>::PrimaryKey as Iterable>::iter()
            .map(|key| key.into_column().as_str().to_owned())
            .collect();
        let printable = |column: K, what: &str| {
            text_kind(column.def().get_column_type()).ok_or_else(|| {
                self.invalid(format!(
                    "{what} `{}`: the database cannot print a {:?} column as the library \
                     does; number this field in the library",
                    column.as_str(),
                    column.def().get_column_type()
                ))
            })
        };
        let placeholders = self
            .name_fields
            .iter()
            .map(|(name, column)| {
                Ok((
                    name.clone(),
                    column.as_str().to_owned(),
                    printable(*column, "placeholder")?,
                ))
            })
            .collect::<Result<Vec<_>, SequenceError>>()?;
        let format = self.format.as_ref().map(|f| f.pattern.pieces().to_vec());
        let mut format_fields = Vec::new();
        let names = self.format.iter().flat_map(|f| {
            f.pattern.pieces().iter().filter_map(|piece| match piece {
                sequences_template::rules::FormatPiece::Field(name) => Some(name.as_str()),
                _ => None,
            })
        });
        for name in names {
            let column = self.format.as_ref().expect("a format").column_of(name);
            if !format_fields
                .iter()
                .any(|(n, _, _): &(String, String, TextKind)| n == name)
            {
                format_fields.push((
                    name.to_owned(),
                    column.as_str().to_owned(),
                    printable(column, "format field")?,
                ));
            }
        }
        let day = match self.day {
            None => None,
            Some(DaySource::Database) => Some(DayPlan::Database),
            Some(DaySource::Column(column)) => {
                let kind = date_kind(column.def().get_column_type()).ok_or_else(|| {
                    self.invalid(format!(
                        "date column `{}` is {:?}, which the database cannot take a day of",
                        column.as_str(),
                        column.def().get_column_type()
                    ))
                })?;
                Some(DayPlan::Column {
                    name: column.as_str().to_owned(),
                    kind,
                })
            }
        };
        // The sequence as the library allocates it: capped by the column.
        let sequence = self.sequence_named(self.template.clone());
        let cap = self.cap();
        if let Some(max) = sequence.settings().max_value
            && sequence.settings().initial_value > max
        {
            return Err(self.invalid(format!(
                "initial_value {} is above the maximum {max}",
                sequence.settings().initial_value
            )));
        }
        // One value, as the library's allocation plans it.
        let plan = crate::sql::Plan::new(
            &self.target,
            sequence.settings().initial_value,
            sequence.settings().reset_value,
            sequence.settings().max_value,
            1,
            false,
        )?;
        let end = End {
            max_value: sequence.settings().max_value,
            cap: cap
                .filter(|(_, int)| Some(int.range().1) == sequence.settings().max_value)
                .map(|(target, int)| (target, int.type_name())),
        };
        Ok(FieldPlan {
            table,
            keys,
            unique: Vec::new(),
            unique_collations: Vec::new(),
            unique_nulls_equal: Vec::new(),
            column: self.column.as_str().to_owned(),
            target: self.target.clone(),
            template: self.template.clone(),
            name: self.name.clone(),
            placeholders,
            plan,
            end,
            range: sequence.declared_range(),
            period: self.period,
            day,
            zone: self.zone.as_ref().map(|_| {
                self.time_zone_name
                    .clone()
                    .expect("a zone is parsed from its name")
            }),
            chronological: self.chronological,
            format_text: self.format.as_ref().map(|f| f.text.clone()),
            format,
            format_fields,
            raw_values: self
                .raw_values
                .iter()
                .map(|(column, _)| column.as_str().to_owned())
                .collect(),
            on_delete: self.on_delete,
            moment: self.moment,
            chain: match &self.chain {
                None => None,
                Some((hash, covers)) => Some(ChainPlan {
                    hash: hash.as_str().to_owned(),
                    covers: covers
                        .iter()
                        .map(|&column| {
                            Ok((
                                column.as_str().to_owned(),
                                printable(column, "chain_covers")?,
                            ))
                        })
                        .collect::<Result<Vec<_>, SequenceError>>()?,
                }),
            },
            name_collation: None,
            schema: None,
        })
    }
}

impl<K: ColumnTrait> Numbering<K> {
    /// After an insert: a [`by_database`](NumberedField::by_database) field
    /// that came back NULL (SQLite's `RETURNING` does not show what its
    /// AFTER trigger wrote) is read back, with the whole row; one still NULL
    /// means no trigger numbered it, which is refused.
    pub(super) async fn read_database_numbers<M, D>(&self, mut model: M, db: &D) -> Result<M, DbErr>
    where
        M: ModelTrait<Entity: EntityTrait<Column = K>>,
        D: ConnectionTrait,
    {
        use sea_orm::QueryFilter;
        // Every insert through the derive passes here: nothing to do unless
        // a field is numbered by the database.
        if !self
            .fields
            .iter()
            .any(|field| field.as_ref().is_ok_and(|f| f.moment == Moment::ByDatabase))
        {
            return Ok(model);
        }
        let fields = self.checked()?;
        let unnumbered = |model: &M, field: &&Prepared<K>| {
            let value = ModelTrait::get(model, field.column);
            field.moment == Moment::ByDatabase && value == value.as_null()
        };
        if !fields.iter().any(|field| unnumbered(&model, field)) {
            return Ok(model);
        }
        let mut query = <M::Entity as EntityTrait>::find();
        for key in <<M::Entity as EntityTrait>::PrimaryKey as Iterable>::iter() {
            let column = key.into_column();
            query = query.filter(column.eq(ModelTrait::get(&model, column)));
        }
        if let Some(stored) = query.one(db).await? {
            for column in K::iter() {
                model.set(column, ModelTrait::get(&stored, column));
            }
        }
        match fields.iter().find(|field| unnumbered(&model, field)) {
            Some(field) => Err(field
                .invalid(
                    "numbered by the database (`by_database`), but the row came back without a \
                     number: the table's triggers are not installed; run the migration that \
                     installs them (sequences_migration::numbered_by_database)"
                        .into(),
                )
                .into()),
            None => Ok(model),
        }
    }
}
