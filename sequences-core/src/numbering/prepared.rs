//! A field checked against every rule ([`Prepared`]), as the fills, the
//! numberer and the triggers use it.

use super::{NumberedField, OnDelete};
use crate::chain::ChainKey;
use crate::column_value::{self, Holder, Int, Read, column_cap};
use crate::fill;
use crate::period::{Day, Period, Zone};
use crate::reference::Pattern;
use crate::{Sequence, SequenceError};
use sea_orm::{ColumnTrait, EntityName, EntityTrait, ModelTrait};
use sequences_template::Template;
use sequences_template::rules::{self, Facts, FieldSpec, Kind, Moment, PeriodKind};
use std::sync::Arc;

/// Where a field's day comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum DaySource<K> {
    Column(K),
    Database,
}

/// A format, parsed, with the columns its placeholders read.
pub(super) struct Format<K> {
    pub(super) text: String,
    pub(super) pattern: Pattern,
    pub(super) fields: Vec<(String, K)>,
}

impl<K: Copy> Format<K> {
    pub(super) fn column_of(&self, name: &str) -> K {
        column_named(&self.fields, name)
    }
}

/// A field, checked once when it is added to its numbering.
pub(super) struct Prepared<K: ColumnTrait> {
    pub(super) column: K,
    pub(super) target: String,
    pub(super) sequence: Sequence,
    pub(super) template: String,
    pub(super) name: Template,
    /// The placeholders of the sequence name and their columns.
    pub(super) name_fields: Vec<(String, K)>,
    pub(super) name_columns: Vec<K>,
    pub(super) holder: Holder,
    pub(super) period: Option<Period>,
    pub(super) day: Option<DaySource<K>>,
    pub(super) zone: Option<Zone>,
    pub(super) time_zone_name: Option<String>,
    pub(super) chronological: bool,
    pub(super) on_delete: OnDelete,
    /// When the number is given.
    pub(super) moment: Moment,
    /// Why the database's triggers cannot take the field, whatever the
    /// database (`rules::database_refusal`).
    pub(super) database_refusal: Option<String>,
    pub(super) chain: Option<(K, Vec<K>)>,
    pub(super) chain_key: Option<ChainKey>,
    pub(super) format: Option<Format<K>>,
    pub(super) raw_values: Vec<(K, Int)>,
}

/// The table of the entity `K` belongs to.
pub(super) fn entity_name<K: ColumnTrait>() -> &'static str {
    K::EntityName::default().table_name()
}

/// What the rules know of a column: its type.
pub(super) fn kind_of<K: ColumnTrait>(column: K) -> Kind {
    let column_type = column.def().get_column_type().clone();
    match Holder::of(&column_type) {
        Some(Holder::Integer(int)) => Kind::Integer(int),
        Some(Holder::Text) => Kind::Text,
        None if column_type == sea_orm::sea_query::ColumnType::Date => Kind::Date,
        None => Kind::Other,
    }
}

pub(super) fn column_named<K: Copy>(fields: &[(String, K)], name: &str) -> K {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|&(_, column)| column)
        .expect("placeholders are resolved when the field is prepared")
}

impl<K: ColumnTrait> Prepared<K> {
    /// Describes the field to the rules of `sequences_template::rules` (the
    /// derive's rules too) and keeps what they checked. The column types are
    /// the facts only the runtime has; the rules using them are written there.
    pub(super) fn new(field: NumberedField<K>) -> Result<Self, SequenceError> {
        let entity = entity_name::<K>();
        let target = fill::target(entity, field.column.as_str());
        let invalid = |reason: String| SequenceError::InvalidNumbering {
            target: target.clone(),
            reason,
        };
        #[cfg(not(feature = "chrono"))]
        if let Some(name) = &field.time_zone {
            return Err(invalid(format!(
                "time zone {name:?}: time zones need the `chrono` feature of sequences-core"
            )));
        }
        let facts = |name: &str| {
            K::from_str(name).ok().map(|column| Facts {
                kind: kind_of(column),
                numbered: false, // other fields are known in `Numbering::checked`
            })
        };
        let template = field.sequence.name().to_owned();
        let zone = field
            .time_zone
            .as_deref()
            .map(|name| (name, parse_zone(name)));
        let (period, fiscal_year_start) = match field.period {
            None => (None, None),
            Some(Period::Year) => (Some(PeriodKind::Year), None),
            Some(Period::Month) => (Some(PeriodKind::Month), None),
            Some(Period::Day) => (Some(PeriodKind::Day), None),
            Some(Period::FiscalYear { start_month }) => {
                (Some(PeriodKind::FiscalYear), Some(i64::from(start_month)))
            }
        };
        let mut spec = FieldSpec::new(kind_of(field.column), &template, &facts);
        spec.nullable = field.column.def().is_null();
        spec.initial_value = field.sequence.settings().initial_value;
        spec.reset_value = field.sequence.settings().reset_value;
        spec.max_value = field.sequence.settings().max_value;
        spec.warn_at = field.sequence.settings().warn_at;
        spec.django_table = field.sequence.settings().counter_table == crate::CounterTable::Django;
        spec.period = period;
        spec.fiscal_year_start = fiscal_year_start;
        spec.date = field.date.map(|column| column.as_str());
        spec.format = field.format.as_deref();
        spec.chronological = field.chronological;
        spec.time_zone = zone.as_ref().map(|(name, parsed)| (*name, parsed.is_ok()));
        spec.revert_if_last = field.on_delete == OnDelete::RevertIfLast;
        let moment = rules::one_moment(&field.moments).map_err(|broken| invalid(broken.message))?;
        spec.moment = moment;
        spec.delete_guarded = field.on_delete != OnDelete::Allow;
        spec.chain = field.chain.as_ref().map(|(hash, _)| hash.as_str());
        spec.chain_covers = field
            .chain
            .as_ref()
            .map(|(_, covers)| covers.iter().map(|c| c.as_str()).collect());
        spec.chain_key = field.chain_key.is_some();
        spec.raw_values = field.raw_values.iter().map(|c| c.as_str()).collect();
        let checked = rules::check(&spec).map_err(|broken| invalid(broken.message))?;
        let database_refusal = rules::database_refusal(&spec).map(|broken| broken.message);

        // The rules checked that every name resolves and every type fits.
        let column = |name: &str| K::from_str(name).ok().expect("checked by the rules");
        let holder =
            Holder::of(field.column.def().get_column_type()).expect("checked by the rules");
        let name_fields: Vec<(String, K)> = checked
            .name
            .placeholders()
            .map(|n| (n.to_owned(), column(n)))
            .collect();
        let format = match (checked.format, &field.format) {
            (Some(parsed), Some(text)) => Some(Format {
                text: text.clone(),
                fields: parsed.fields().map(|n| (n.to_owned(), column(n))).collect(),
                pattern: Pattern::from_format(parsed),
            }),
            _ => None,
        };
        let day = checked.day.map(|day| match (day, field.date) {
            (rules::DaySource::Field, Some(column)) => DaySource::Column(column),
            _ => DaySource::Database,
        });
        let zone = zone
            .map(|(_, parsed)| parsed)
            .transpose()
            .map_err(invalid)?;
        let raw_values = field
            .raw_values
            .iter()
            .map(|&column| match Holder::of(column.def().get_column_type()) {
                Some(Holder::Integer(int)) => (column, int),
                _ => unreachable!("the rules checked raw values are integer columns"),
            })
            .collect();
        let name_columns = name_fields.iter().map(|&(_, column)| column).collect();
        Ok(Self {
            column: field.column,
            target,
            sequence: field.sequence,
            template,
            name: checked.name,
            name_fields,
            name_columns,
            holder,
            period: field.period,
            day,
            zone,
            time_zone_name: field.time_zone.clone(),
            chronological: field.chronological,
            on_delete: field.on_delete,
            moment,
            database_refusal,
            chain: field.chain,
            chain_key: field.chain_key,
            format,
            raw_values,
        })
    }

    /// The key of a keyed chain, read now.
    pub(super) fn key(&self) -> Result<Option<Arc<[u8]>>, SequenceError> {
        self.chain_key
            .as_ref()
            .map(|key| key.bytes().map_err(|reason| self.invalid(reason)))
            .transpose()
    }

    /// The narrowest integer column the value goes to, when narrower than
    /// `i64`: its type, whose maximum caps the sequence, so that a value
    /// that would not fit is refused by the allocation, not taken.
    pub(super) fn cap(&self) -> Option<(String, Int)> {
        let numbered = match self.holder {
            Holder::Integer(int) => Some((self.target.clone(), int)),
            Holder::Text => None,
        };
        let entity = entity_name::<K>();
        column_cap(
            numbered.into_iter().chain(
                self.raw_values
                    .iter()
                    .map(|&(column, int)| (fill::target(entity, column.as_str()), int)),
            ),
        )
    }

    /// The sequence of `name`, capped by the narrowest column.
    pub(super) fn sequence_named(&self, name: String) -> Sequence {
        self.sequence
            .renamed(name)
            .capped(self.cap().map(|(_, int)| int))
    }

    pub(super) fn invalid(&self, reason: String) -> SequenceError {
        SequenceError::InvalidNumbering {
            target: self.target.clone(),
            reason,
        }
    }

    pub(super) fn column_of(&self, name: &str) -> K {
        column_named(&self.name_fields, name)
    }

    pub(super) fn holder_int(&self) -> Int {
        match self.holder {
            Holder::Integer(int) => int,
            Holder::Text => unreachable!("a text column always has a format"),
        }
    }

    pub(super) fn missing(&self, template: &str, name: &str) -> SequenceError {
        SequenceError::MissingPlaceholder {
            template: template.to_owned(),
            field: name.to_owned(),
            target: self.target.clone(),
        }
    }

    /// The text of placeholder `name` (column `column`, whose value is
    /// `value`) of `template`.
    pub(super) fn text(
        &self,
        value: Option<sea_orm::Value>,
        column: K,
        name: &str,
        template: &str,
    ) -> Result<String, SequenceError> {
        match column_value::text(value) {
            Read::Value(text) => Ok(text),
            Read::Missing => Err(self.missing(template, name)),
            Read::Unsupported(what) => Err(self.invalid(format!(
                "placeholder `{{{name}}}`: column `{}` is {what}",
                column.as_str()
            ))),
        }
    }

    /// The day of the date column `column`, whose value is `value`.
    pub(super) fn day(
        &self,
        value: Option<sea_orm::Value>,
        column: K,
    ) -> Result<Day, SequenceError> {
        match column_value::day(value, self.zone.as_ref()) {
            Read::Value(day) => Ok(day),
            Read::Missing => Err(self.missing(
                self.format.as_ref().map_or(&self.template, |f| &f.text),
                column.as_str(),
            )),
            Read::Unsupported(what) => {
                Err(self.invalid(format!("date column `{}` is {what}", column.as_str())))
            }
        }
    }

    /// The text a chain covers for a column's value (`None` for NULL).
    pub(super) fn cover_text(&self, value: Option<sea_orm::Value>) -> Option<String> {
        match column_value::text(value) {
            Read::Value(text) => Some(text),
            _ => None,
        }
    }
}

/// An IANA time zone by name.
#[cfg(feature = "chrono")]
pub(super) fn parse_zone(name: &str) -> Result<Zone, String> {
    name.parse::<Zone>().map_err(|_| {
        format!("unknown time zone {name:?}; use an IANA name such as \"Europe/Paris\"")
    })
}

/// Time zones need the `chrono` feature.
#[cfg(not(feature = "chrono"))]
pub(super) fn parse_zone(name: &str) -> Result<Zone, String> {
    Err(format!(
        "time zone {name:?}: time zones need the `chrono` feature of sequences-core"
    ))
}

/// The primary key of `model`: column names and values.
pub(super) fn primary_key<M: ModelTrait>(model: &M) -> Vec<(&'static str, sea_orm::Value)> {
    use sea_orm::{IdenStatic, Iterable, PrimaryKeyToColumn};
    <<M::Entity as EntityTrait>::PrimaryKey as Iterable>::iter()
        .map(|key| {
            let column = key.into_column();
            (column.as_str(), model.get(column))
        })
        .collect()
}
