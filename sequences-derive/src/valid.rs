//! Every rule a user can break, each a compile error at the offending tokens.

use proc_macro2::Ident;
use quote::ToTokens;
use syn::LitStr;

use sequences_template::rules::{self, At, Broken, Facts, FieldSpec, Kind, Moment, PeriodKind};

use crate::ast::{self, Input};
use crate::attr::FieldAttrs;

/// A numbered field, checked and ready to expand.
pub struct Numbered<'a> {
    pub field: &'a Ident,
    pub template: LitStr,
    pub initial_value: Option<i64>,
    /// `max_value = N`, checked.
    pub max_value: Option<i64>,
    /// `warn_at = N`.
    pub warn_at: Option<i64>,
    pub reset_value: Option<i64>,
    /// `period = "..."`: a sequence per year, month or day.
    pub period: Option<Period>,
    /// Where the day comes from, when the field needs one.
    pub day: Option<DaySource<'a>>,
    /// `format = "..."`: the field is a `String` reference.
    pub format: Option<Format>,
    /// Integer fields that receive the raw value (`value_of = "<this field>"`).
    pub raw_fields: Vec<&'a Ident>,
    /// `chronological`: numbers follow the date field.
    pub chronological: bool,
    /// `time_zone = "Europe/Paris"`, checked.
    pub time_zone: Option<LitStr>,
    /// `on_delete = "..."`; `None` for the default.
    pub on_delete: Option<OnDelete>,
    /// When the number is given (`deferred`, `by_database`, `after_commit`).
    pub moment: Moment,
    /// `chain = "..."`: the hash field and the fields it covers.
    pub chain: Option<(&'a Ident, Vec<&'a Ident>)>,
    /// `chain_key_env = "..."`: the keyed chain's environment variable.
    pub chain_key_env: Option<LitStr>,
    /// `counter_table = "django"`: the counter lives in django-sequences' table.
    pub django_table: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Year,
    Month,
    Day,
    /// The month it starts with, 1..=12.
    FiscalYear(u32),
}

/// `on_delete = "..."`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    Refuse,
    Void,
    RevertIfLast,
    Allow,
}

pub enum DaySource<'a> {
    /// `date = "field"`.
    Field(&'a Ident),
    /// The database's current date, in the same transaction.
    Database,
}

pub struct Format {
    pub template: LitStr,
}

pub struct Valid<'a> {
    pub custom_behavior: bool,
    pub numbered: Vec<Numbered<'a>>,
}

pub fn validate<'a>(input: &'a Input<'a>) -> syn::Result<Valid<'a>> {
    let mut errors: Option<syn::Error> = None;
    // `value_of` fields first: each numbered field's rules cover its raw values.
    let mut raw = Vec::new();
    for (field, attrs) in input.numbered() {
        if let Some(target) = &attrs.value_of {
            match raw_field(field, attrs, target) {
                Ok(pair) => raw.push(pair),
                Err(error) => push(&mut errors, error),
            }
        }
    }
    let mut numbered = Vec::new();
    for (field, attrs) in input.numbered() {
        if attrs.value_of.is_some() {
            continue;
        }
        let raw_fields: Vec<(&Ident, &LitStr)> = raw
            .iter()
            .filter(|(_, target)| *field.ident == target.value())
            .copied()
            .collect();
        match numbered_field(input, field, attrs, &raw_fields) {
            Ok(valid) => numbered.push(valid),
            Err(error) => push(&mut errors, error),
        }
    }
    for (_, target) in raw {
        let numbered = input
            .numbered()
            .any(|(f, a)| a.value_of.is_none() && *f.ident == target.value());
        if !numbered {
            push(
                &mut errors,
                syn::Error::new(
                    target.span(),
                    "`value_of` must name a field numbered with #[gapless(..., format = \"...\")]",
                ),
            );
        }
    }
    if numbered.is_empty() && errors.is_none() {
        push(
            &mut errors,
            syn::Error::new_spanned(
                input.ident,
                "#[derive(Gapless)] needs at least one field with #[gapless(sequence = \"...\")]",
            ),
        );
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(Valid {
            custom_behavior: input.attrs.custom_behavior,
            numbered,
        }),
    }
}

/// Collects every error, so the user sees them all at once.
fn push(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(all) => all.combine(error),
        None => *errors = Some(error),
    }
}

/// `#[gapless(value_of = "reference")]`: an integer field beside a formatted
/// one. Derive-only: how the attribute is written, and the four integer types
/// the expansion stores into (the shared rules check the raw value's range).
fn raw_field<'a>(
    field: &'a ast::Field<'a>,
    attrs: &'a FieldAttrs,
    target: &'a LitStr,
) -> syn::Result<(&'a Ident, &'a LitStr)> {
    let others = attrs.sequence.is_some()
        || attrs.initial_value.is_some()
        || attrs.max_value.is_some()
        || attrs.warn_at.is_some()
        || attrs.reset_value.is_some()
        || attrs.period.is_some()
        || attrs.date.is_some()
        || attrs.format.is_some()
        || attrs.time_zone.is_some()
        || attrs.on_delete.is_some()
        || attrs.fiscal_year_start.is_some()
        || attrs.chronological.is_some()
        || attrs.deferred.is_some()
        || attrs.by_database.is_some()
        || attrs.after_commit.is_some()
        || attrs.chain.is_some()
        || attrs.chain_covers.is_some()
        || attrs.chain_key_env.is_some()
        || attrs.counter_table.is_some();
    if others {
        return Err(syn::Error::new_spanned(
            &attrs.attr,
            "`value_of` stands alone: the field takes the value of the field it names, \
             with that field's sequence and options",
        ));
    }
    if ast::number_type(field.ty).is_none() {
        return Err(syn::Error::new_spanned(
            field.ty,
            "a `value_of` field must be i32, i64, u32, u64, or an Option of one of them",
        ));
    }
    Ok((field.ident, target))
}

/// What the rules know of a field: its type, from its tokens, and whether
/// #[gapless] numbers it.
fn facts(field: &ast::Field<'_>) -> Facts {
    Facts {
        kind: ast::kind(field.ty),
        numbered: field.gapless.is_some(),
    }
}

/// Describes the field to the shared rules (`sequences_template::rules`,
/// which the runtime's `Numbering` uses too) and points a broken rule at its
/// option's tokens. What stays here is how attributes are written: a missing
/// `sequence`, the names of periods and delete policies (typed enums at run
/// time), an empty `chain_key_env`.
fn numbered_field<'a>(
    input: &'a Input<'a>,
    field: &'a ast::Field<'a>,
    attrs: &'a FieldAttrs,
    raw_fields: &[(&'a Ident, &'a LitStr)],
) -> syn::Result<Numbered<'a>> {
    let Some(template) = &attrs.sequence else {
        return Err(syn::Error::new_spanned(
            &attrs.attr,
            "missing `sequence = \"...\"` in #[gapless(...)]",
        ));
    };
    let kind = match ast::number_type(field.ty) {
        Some(int) => Kind::Integer(int),
        None if ast::is_string(field.ty) => Kind::Text,
        None => Kind::Other,
    };
    let period = match &attrs.period {
        None => None,
        Some(lit) => Some(match lit.value().as_str() {
            "year" => PeriodKind::Year,
            "month" => PeriodKind::Month,
            "day" => PeriodKind::Day,
            "fiscal_year" => PeriodKind::FiscalYear,
            _ => {
                return Err(syn::Error::new_spanned(
                    lit,
                    "unknown period; expected \"year\", \"month\", \"day\" or \"fiscal_year\"",
                ));
            }
        }),
    };
    let on_delete = match &attrs.on_delete {
        None => None,
        Some(lit) => Some(match lit.value().as_str() {
            "refuse" => OnDelete::Refuse,
            "void" => OnDelete::Void,
            "revert_if_last" => OnDelete::RevertIfLast,
            "allow" => OnDelete::Allow,
            _ => {
                return Err(syn::Error::new_spanned(
                    lit,
                    "unknown delete policy; expected \"refuse\" (the default), \"void\", \
                     \"revert_if_last\" or \"allow\"",
                ));
            }
        }),
    };
    if let Some(key) = &attrs.chain_key_env
        && key.value().trim().is_empty()
    {
        return Err(syn::Error::new_spanned(
            key,
            "`chain_key_env` names the environment variable holding the key",
        ));
    }

    let fields = |name: &str| input.field(name).map(facts);
    let template_text = template.value();
    let date = attrs.date.as_ref().map(LitStr::value);
    let format_text = attrs.format.as_ref().map(LitStr::value);
    let zone = attrs.time_zone.as_ref().map(LitStr::value);
    let chain = attrs.chain.as_ref().map(LitStr::value);
    let covers = attrs.chain_covers.as_ref().map(LitStr::value);
    let raw_names: Vec<String> = raw_fields.iter().map(|(f, _)| f.to_string()).collect();
    let mut spec = FieldSpec::new(kind, &template_text, &fields);
    spec.nullable = ast::option_inner(field.ty).is_some();
    spec.initial_value = attrs.initial_value.as_ref().map_or(1, |i| i.value);
    spec.reset_value = attrs.reset_value.as_ref().map(|r| r.value);
    spec.max_value = attrs.max_value.as_ref().map(|m| m.value);
    spec.warn_at = attrs.warn_at.as_ref().map(|w| w.value);
    spec.period = period;
    spec.fiscal_year_start = attrs.fiscal_year_start.as_ref().map(|s| s.value);
    spec.date = date.as_deref();
    spec.format = format_text.as_deref();
    spec.chronological = attrs.chronological.is_some();
    spec.time_zone = zone
        .as_deref()
        .map(|name| (name, name.parse::<chrono_tz::Tz>().is_ok()));
    spec.revert_if_last = on_delete == Some(OnDelete::RevertIfLast);
    let moments: Vec<Moment> = [
        (&attrs.deferred, Moment::AtCommit),
        (&attrs.by_database, Moment::ByDatabase),
        (&attrs.after_commit, Moment::AfterCommit),
    ]
    .into_iter()
    .filter(|(flag, _)| flag.is_some())
    .map(|(_, moment)| moment)
    .collect();
    spec.moment =
        rules::one_moment(&moments).map_err(|broken| spanned(field, attrs, raw_fields, broken))?;
    spec.delete_guarded = on_delete != Some(OnDelete::Allow);
    spec.chain = chain.as_deref();
    spec.chain_covers = covers.as_deref().map(|covers| {
        covers
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect()
    });
    spec.chain_key = attrs.chain_key_env.is_some();
    spec.raw_values = raw_names.iter().map(String::as_str).collect();
    spec.django_table = match &attrs.counter_table {
        None => false,
        Some(table) => match table.value().as_str() {
            "django" => true,
            "sequences" => false,
            _ => {
                return Err(syn::Error::new_spanned(
                    table,
                    "`counter_table` is \"django\" (django-sequences' `sequences_sequence`) or \
                     \"sequences\" (the default)",
                ));
            }
        },
    };
    let checked =
        rules::check(&spec).map_err(|broken| spanned(field, attrs, raw_fields, broken))?;

    let period = period.map(|period| match period {
        PeriodKind::Year => Period::Year,
        PeriodKind::Month => Period::Month,
        PeriodKind::Day => Period::Day,
        PeriodKind::FiscalYear => Period::FiscalYear(
            attrs
                .fiscal_year_start
                .as_ref()
                .map_or(1, |start| start.value as u32),
        ),
    });
    let named = |name: &str| input.field(name).expect("checked by the rules").ident;
    let day = checked.day.map(|day| match (day, &date) {
        (rules::DaySource::Field, Some(date)) => DaySource::Field(named(date)),
        _ => DaySource::Database,
    });
    let chain = chain.as_deref().map(|hash| {
        let covered = spec
            .chain_covers
            .iter()
            .flatten()
            .map(|c| named(c))
            .collect();
        (named(hash), covered)
    });
    Ok(Numbered {
        field: field.ident,
        template: template.clone(),
        initial_value: attrs.initial_value.as_ref().map(|i| i.value),
        max_value: attrs.max_value.as_ref().map(|m| m.value),
        warn_at: attrs.warn_at.as_ref().map(|w| w.value),
        reset_value: attrs.reset_value.as_ref().map(|r| r.value),
        period,
        day,
        format: attrs.format.as_ref().map(|lit| Format {
            template: lit.clone(),
        }),
        raw_fields: raw_fields.iter().map(|(f, _)| *f).collect(),
        chronological: attrs.chronological.is_some(),
        time_zone: attrs.time_zone.clone(),
        on_delete,
        moment: spec.moment,
        chain,
        chain_key_env: attrs.chain_key_env.clone(),
        django_table: spec.django_table,
    })
}

/// A broken rule as a compile error at the tokens of the option at fault
/// (the whole attribute when the option was not written).
fn spanned(
    field: &ast::Field<'_>,
    attrs: &FieldAttrs,
    raw_fields: &[(&Ident, &LitStr)],
    broken: Broken,
) -> syn::Error {
    let message = broken.message;
    let at = |tokens: Option<&dyn ToTokens>| match tokens {
        Some(tokens) => syn::Error::new_spanned(tokens, &message),
        None => syn::Error::new_spanned(&attrs.attr, &message),
    };
    fn int(lit: &Option<crate::attr::IntLit>) -> Option<&dyn ToTokens> {
        lit.as_ref().map(|i| &i.expr as &dyn ToTokens)
    }
    fn text(lit: &Option<LitStr>) -> Option<&dyn ToTokens> {
        lit.as_ref().map(|l| l as &dyn ToTokens)
    }
    fn path(path: &Option<syn::Path>) -> Option<&dyn ToTokens> {
        path.as_ref().map(|p| p as &dyn ToTokens)
    }
    match broken.at {
        At::Type => at(Some(field.ty)),
        At::Sequence => at(text(&attrs.sequence)),
        At::InitialValue => at(int(&attrs.initial_value)),
        At::ResetValue => at(int(&attrs.reset_value)),
        At::MaxValue => at(int(&attrs.max_value)),
        At::WarnAt => at(int(&attrs.warn_at)),
        At::Period => at(text(&attrs.period)),
        At::FiscalYearStart => at(int(&attrs.fiscal_year_start)),
        At::Date => at(text(&attrs.date)),
        At::Format => at(text(&attrs.format)),
        At::Chronological => at(path(&attrs.chronological)),
        At::TimeZone => at(text(&attrs.time_zone)),
        At::OnDelete => at(text(&attrs.on_delete)),
        At::Deferred => at(path(&attrs.deferred)),
        At::ByDatabase => at(path(&attrs.by_database)),
        At::AfterCommit => at(path(&attrs.after_commit)),
        At::Chain => at(text(&attrs.chain)),
        At::ChainCovers => at(text(&attrs.chain_covers)),
        At::ChainKey => at(text(&attrs.chain_key_env)),
        At::CounterTable => at(text(&attrs.counter_table)),
        At::RawValue(index) => at(raw_fields.get(index).map(|(_, lit)| *lit as &dyn ToTokens)),
    }
}
