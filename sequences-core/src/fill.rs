//! What `#[derive(Gapless)]` calls: plan every value a batch of models needs,
//! check everything, then allocate with one statement per sequence.
//!
//! Reached by generated code through `__private`; not a public API.

use std::collections::BTreeMap;
use std::sync::Arc;

use sea_orm::ConnectionTrait;

use crate::dialect::Dialect;
use crate::period::Day;
use crate::{Sequence, SequenceError, in_transaction};

/// The values a set of active models needs, collected before any allocation.
#[derive(Debug)]
pub struct Requests {
    entity: &'static str,
    items: Vec<Request>,
}

#[derive(Debug)]
struct Request {
    model: usize,
    field: usize,
    field_name: &'static str,
    sequence: Sequence,
    day: Option<Day>,
}

/// One allocated value and where it goes.
#[derive(Debug)]
pub struct Allocated {
    /// Index of the model in the batch.
    pub model: usize,
    /// Index of the numbered field in the derive's field list.
    pub field: usize,
    /// The value.
    pub value: i64,
    /// Shared by every value of one sequence; the error texts are built only on error.
    sequence: Arc<str>,
    entity: &'static str,
    field_name: &'static str,
    day: Option<Day>,
}

impl Requests {
    /// Requests for the models of `entity` (a path such as `app::invoice::Model`).
    pub fn new(entity: &'static str) -> Self {
        Self {
            entity,
            items: Vec::new(),
        }
    }

    /// `model`'s numbered field `field` needs a value of `sequence`.
    /// Checks the sequence now, so that a bad one is refused before any allocation.
    pub fn push(
        &mut self,
        model: usize,
        field: usize,
        field_name: &'static str,
        sequence: Sequence,
        day: Option<Day>,
    ) -> Result<(), SequenceError> {
        sequence.validate()?;
        self.items.push(Request {
            model,
            field,
            field_name,
            sequence,
            day,
        });
        Ok(())
    }

    /// The error for a `{field}` placeholder whose field is not set.
    pub fn missing_placeholder(
        &self,
        template: &'static str,
        placeholder: &'static str,
        field_name: &'static str,
    ) -> SequenceError {
        missing_placeholder(self.entity, template, placeholder, field_name)
    }

    fn target(&self, field_name: &str) -> String {
        target(self.entity, field_name)
    }

    /// Allocates every requested value: refuses outside a transaction before
    /// consuming anything, then takes one batch per distinct sequence (one
    /// statement each; a looping sequence one statement per value), in name
    /// order so that concurrent fills always lock sequences in the same order.
    pub async fn allocate<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> Result<Vec<Allocated>, SequenceError> {
        let Some(first) = self.items.first() else {
            return Ok(Vec::new());
        };
        let inside = in_transaction(db)
            .await
            .map_err(|source| SequenceError::Database {
                name: first.sequence.name().to_string(),
                source,
            })?;
        if !inside {
            return Err(SequenceError::NotInTransaction {
                name: first.sequence.name().to_string(),
                target: self.target(first.field_name),
            });
        }
        let mut groups: BTreeMap<&str, Vec<&Request>> = BTreeMap::new();
        for item in &self.items {
            groups.entry(item.sequence.name()).or_default().push(item);
        }
        let mut allocated = Vec::with_capacity(self.items.len());
        for items in groups.into_values() {
            let sequence = &items[0].sequence;
            let name: Arc<str> = Arc::from(sequence.name());
            let mut values = Vec::with_capacity(items.len());
            if sequence.get_reset_value().is_some() || items.len() == 1 {
                for _ in &items {
                    values.push(sequence.next_value(db).await?);
                }
            } else {
                values.extend(sequence.next_values(db, items.len() as u64).await?);
            }
            for (item, value) in items.into_iter().zip(values) {
                allocated.push(Allocated {
                    model: item.model,
                    field: item.field,
                    value,
                    sequence: Arc::clone(&name),
                    entity: self.entity,
                    field_name: item.field_name,
                    day: item.day,
                });
            }
        }
        Ok(allocated)
    }
}

impl Allocated {
    /// The day of the value's period (a default day when the field has none).
    pub fn day(&self) -> Day {
        self.day.unwrap_or_default()
    }

    /// The error for a format placeholder whose field is not set.
    pub fn missing_placeholder(
        &self,
        template: &'static str,
        placeholder: &'static str,
        field_name: &'static str,
    ) -> SequenceError {
        missing_placeholder(self.entity, template, placeholder, field_name)
    }

    /// The value as the field's type, or [`SequenceError::ValueOutOfRange`].
    pub fn convert<T: GaplessField>(&self) -> Result<T, SequenceError> {
        T::from_sequence_value(self.value).ok_or_else(|| SequenceError::ValueOutOfRange {
            name: self.sequence.to_string(),
            value: self.value,
            target: target(self.entity, self.field_name),
            type_name: T::TYPE_NAME,
        })
    }
}

/// The database's current date, for a periodic field without a date field:
/// asked through `db`, so inside the caller's transaction.
pub async fn database_day<C: ConnectionTrait>(
    db: &C,
    field_name: &'static str,
) -> Result<Day, SequenceError> {
    let error = |source| SequenceError::Database {
        name: format!("(the period of {field_name})"),
        source,
    };
    let dialect = Dialect::of(db.get_database_backend()).map_err(error)?;
    let row = db
        .query_one_raw(dialect.current_date())
        .await
        .map_err(error)?
        .ok_or_else(|| {
            error(sea_orm::DbErr::Custom(
                "the current date query returned no row".into(),
            ))
        })?;
    let text: String = row.try_get_by_index(0).map_err(error)?;
    Day::parse(&text).ok_or_else(|| {
        error(sea_orm::DbErr::Custom(format!(
            "the database's current date {text:?} is not YYYY-MM-DD"
        )))
    })
}

fn missing_placeholder(
    entity: &str,
    template: &'static str,
    placeholder: &'static str,
    field_name: &str,
) -> SequenceError {
    SequenceError::MissingPlaceholder {
        template,
        field: placeholder,
        target: target(entity, field_name),
    }
}

/// How errors name a field: `app::invoice::Model::number`.
fn target(entity: &str, field_name: &str) -> String {
    format!("{entity}::{field_name}")
}

/// A field type that can hold a sequence value.
pub trait GaplessField: Sized {
    /// The type's name, for errors.
    const TYPE_NAME: &'static str;
    /// The value as `Self`, or `None` if it does not fit.
    fn from_sequence_value(value: i64) -> Option<Self>;
}

macro_rules! gapless_int {
    ($($ty:ty),*) => {$(
        impl GaplessField for $ty {
            const TYPE_NAME: &'static str = stringify!($ty);
            fn from_sequence_value(value: i64) -> Option<Self> {
                <$ty>::try_from(value).ok()
            }
        }
        impl GaplessField for Option<$ty> {
            const TYPE_NAME: &'static str = concat!("Option<", stringify!($ty), ">");
            fn from_sequence_value(value: i64) -> Option<Self> {
                <$ty>::try_from(value).ok().map(Some)
            }
        }
    )*};
}

gapless_int!(i32, i64, u32, u64);
