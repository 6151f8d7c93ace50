//! Reading and writing an active model's columns as SeaORM `Value`s: the
//! text a placeholder prints, the day a date column gives, and the `Value`
//! a numbered column receives, and the cap a narrow column puts on its
//! sequence. Works on any entity, generated or not.

use sea_orm::sea_query::ColumnType;
use sea_orm::{ActiveModelTrait, ActiveValue, EntityTrait, Value};
use sequences_template::rules::IntType;

use crate::error::SequenceError;
use crate::period::Day;

/// How a numbered column holds its value, from its SeaORM column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// An integer column; the value is checked against the Rust type's range.
    Integer(Int),
    /// A string column, for formatted references.
    Text,
}

/// The Rust integer types SeaORM maps integer columns to: the rules' own
/// ([`IntType`]), read here as `i64` ranges and SeaORM values.
pub(crate) type Int = IntType;

impl Holder {
    /// The holder of a column of `column_type`, or `None` for a type that
    /// cannot hold a number.
    pub(crate) fn of(column_type: &ColumnType) -> Option<Self> {
        Some(match column_type {
            ColumnType::TinyInteger => Self::integer("i8"),
            ColumnType::SmallInteger => Self::integer("i16"),
            ColumnType::Integer => Self::integer("i32"),
            ColumnType::BigInteger => Self::integer("i64"),
            ColumnType::TinyUnsigned => Self::integer("u8"),
            ColumnType::SmallUnsigned => Self::integer("u16"),
            ColumnType::Unsigned => Self::integer("u32"),
            ColumnType::BigUnsigned => Self::integer("u64"),
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => Self::Text,
            _ => return None,
        })
    }
}

impl Holder {
    fn integer(name: &str) -> Self {
        Self::Integer(IntType::named(name).expect("a Rust integer type"))
    }
}

/// An integer type as a numbered column holds it.
pub(crate) trait IntColumn {
    /// The Rust type's name, for errors.
    fn type_name(self) -> &'static str;
    /// The type's range, within `i64`'s.
    fn range(self) -> (i64, i64);
    /// `value` as this type's `Value`, or `None` when it does not fit.
    fn value(self, value: i64) -> Option<Value>;
}

impl IntColumn for IntType {
    fn type_name(self) -> &'static str {
        self.name
    }

    fn range(self) -> (i64, i64) {
        let clamp = |v: i128| v.clamp(i64::MIN.into(), i64::MAX.into()) as i64;
        (clamp(self.min), clamp(self.max))
    }

    fn value(self, value: i64) -> Option<Value> {
        Some(match self.name {
            "i8" => Value::TinyInt(Some(value.try_into().ok()?)),
            "i16" => Value::SmallInt(Some(value.try_into().ok()?)),
            "i32" => Value::Int(Some(value.try_into().ok()?)),
            "u8" => Value::TinyUnsigned(Some(value.try_into().ok()?)),
            "u16" => Value::SmallUnsigned(Some(value.try_into().ok()?)),
            "u32" => Value::Unsigned(Some(value.try_into().ok()?)),
            "u64" => Value::BigUnsigned(Some(value.try_into().ok()?)),
            _ => Value::BigInt(Some(value)),
        })
    }
}

/// What reading a column gave.
pub(crate) enum Read<T> {
    /// The column is set to a value.
    Value(T),
    /// The column is not set, or NULL.
    Missing,
    /// The column's type cannot give a `T`; the type's description.
    Unsupported(&'static str),
}

/// The active model's value of `column`, if set (`Set` or `Unchanged`).
pub(crate) fn current<A: ActiveModelTrait>(
    model: &A,
    column: <A::Entity as EntityTrait>::Column,
) -> Option<Value> {
    match model.get(column) {
        ActiveValue::Set(value) | ActiveValue::Unchanged(value) => Some(value),
        ActiveValue::NotSet => None,
    }
}

/// The text a `{placeholder}` prints for a column's value: integers and
/// strings as they are, booleans, characters, floats and chrono dates by
/// `Display`.
pub(crate) fn text(value: Option<Value>) -> Read<String> {
    let Some(value) = value else {
        return Read::Missing;
    };
    fn shown<T: ToString>(value: Option<T>) -> Read<String> {
        value.map_or(Read::Missing, |v| Read::Value(v.to_string()))
    }
    match value {
        Value::Bool(v) => shown(v),
        Value::TinyInt(v) => shown(v),
        Value::SmallInt(v) => shown(v),
        Value::Int(v) => shown(v),
        Value::BigInt(v) => shown(v),
        Value::TinyUnsigned(v) => shown(v),
        Value::SmallUnsigned(v) => shown(v),
        Value::Unsigned(v) => shown(v),
        Value::BigUnsigned(v) => shown(v),
        Value::Float(v) => shown(v),
        Value::Double(v) => shown(v),
        Value::String(v) => shown(v),
        Value::Char(v) => shown(v),
        #[cfg(feature = "chrono")]
        Value::ChronoDate(v) => shown(v),
        _ => Read::Unsupported("a type a sequence name cannot print"),
    }
}

/// A stored number: an integer column's value as `i64`.
pub(crate) fn integer(value: Option<Value>) -> Read<i64> {
    let Some(value) = value else {
        return Read::Missing;
    };
    fn int<T: TryInto<i64>>(value: Option<T>) -> Read<i64> {
        match value {
            None => Read::Missing,
            Some(v) => v
                .try_into()
                .map_or(Read::Unsupported("out of i64's range"), Read::Value),
        }
    }
    match value {
        Value::TinyInt(v) => int(v),
        Value::SmallInt(v) => int(v),
        Value::Int(v) => int(v),
        Value::BigInt(v) => int(v),
        Value::TinyUnsigned(v) => int(v),
        Value::SmallUnsigned(v) => int(v),
        Value::Unsigned(v) => int(v),
        Value::BigUnsigned(v) => int(v),
        _ => Read::Unsupported("not an integer"),
    }
}

/// The calendar day of a date or datetime value: a chrono `Date`,
/// `DateTime`, `DateTimeUtc`, `DateTimeLocal` or `DateTimeWithTimeZone`, the
/// last three taken in `zone` when given, else in the value's own offset.
pub(crate) fn day(value: Option<Value>, zone: Option<&crate::period::Zone>) -> Read<Day> {
    let Some(value) = value else {
        return Read::Missing;
    };
    day_of_value(value, zone)
}

/// The day of a date or datetime `Value` (see [`day`]).
fn day_of_value(value: sea_orm::Value, zone: Option<&crate::period::Zone>) -> Read<Day> {
    #[cfg(feature = "chrono")]
    {
        use chrono::{DateTime, NaiveDate, TimeZone};
        use sea_orm::Value;
        fn day(date: NaiveDate) -> Read<Day> {
            Read::Value(Day::from(date))
        }
        fn zoned<Tz: TimeZone>(
            value: Option<DateTime<Tz>>,
            zone: Option<&crate::period::Zone>,
        ) -> Read<Day> {
            match (value, zone) {
                (None, _) => Read::Missing,
                (Some(at), Some(zone)) => day(at.with_timezone(zone).date_naive()),
                (Some(at), None) => day(at.date_naive()),
            }
        }
        match value {
            Value::ChronoDate(v) => v.map_or(Read::Missing, day),
            Value::ChronoDateTime(v) => v.map_or(Read::Missing, |at| day(at.date())),
            Value::ChronoDateTimeUtc(v) => zoned(v, zone),
            Value::ChronoDateTimeLocal(v) => zoned(v, zone),
            Value::ChronoDateTimeWithTimeZone(v) => zoned(v, zone),
            _ => Read::Unsupported("not a chrono date or datetime"),
        }
    }
    #[cfg(not(feature = "chrono"))]
    {
        let _ = (value, zone);
        Read::Unsupported("a date, which needs the `chrono` feature of sequences-core")
    }
}

/// The narrowest integer type of a numbered column and its raw-value
/// columns, when narrower than `i64`.
pub(crate) fn column_cap(columns: impl Iterator<Item = (String, Int)>) -> Option<(String, Int)> {
    columns
        .filter(|(_, int)| int.range().1 < i64::MAX)
        .min_by_key(|(_, int)| int.range().1)
}

/// A sequence exhausted at a column type's maximum is a value that does not
/// fit that column: [`SequenceError::ValueOutOfRange`], naming it.
pub(crate) fn out_of_range(
    error: SequenceError,
    caps: impl Iterator<Item = (String, Int)>,
) -> SequenceError {
    let SequenceError::Exhausted {
        name,
        max_value,
        last,
        ..
    } = &error
    else {
        return error;
    };
    for (target, int) in caps {
        if int.range().1 == *max_value {
            return SequenceError::ValueOutOfRange {
                name: name.clone(),
                value: last.saturating_add(1),
                target,
                type_name: int.type_name(),
            };
        }
    }
    error
}
