//! Every rule a user can break, each a compile error at the offending tokens.

use proc_macro2::Ident;
use syn::LitStr;

use sequences_template::Piece;

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
    /// `deferred`: numbered at commit.
    pub deferred: bool,
    /// `chain = "..."`: the hash field and the fields it covers.
    pub chain: Option<(&'a Ident, Vec<&'a Ident>)>,
    /// `chain_key_env = "..."`: the keyed chain's environment variable.
    pub chain_key_env: Option<LitStr>,
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
    pub pieces: Vec<FormatPiece>,
}

/// What a format prints, as far as the checks care.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FormatPiece {
    Text,
    Value,
    Year,
    Month,
    Day,
    /// The year's last two digits.
    Yy,
    /// `{fy}`, `{fy_start}` or `{fy_end}`.
    Fiscal,
    Field,
}

pub struct Valid<'a> {
    pub custom_behavior: bool,
    pub numbered: Vec<Numbered<'a>>,
}

pub fn validate<'a>(input: &'a Input<'a>) -> syn::Result<Valid<'a>> {
    let mut errors: Option<syn::Error> = None;
    let mut numbered = Vec::new();
    let mut raw = Vec::new();
    for (field, attrs) in input.numbered() {
        if let Some(target) = &attrs.value_of {
            match raw_field(input, field, attrs, target) {
                Ok(pair) => raw.push(pair),
                Err(error) => push(&mut errors, error),
            }
            continue;
        }
        match numbered_field(input, field, attrs) {
            Ok(valid) => numbered.push(valid),
            Err(error) => push(&mut errors, error),
        }
    }
    for (field, target) in raw {
        match numbered.iter_mut().find(|n| *n.field == target.value()) {
            Some(n) if n.format.is_some() => n.raw_fields.push(field),
            found => push(
                &mut errors,
                syn::Error::new(
                    target.span(),
                    if found.is_some() {
                        "`value_of` names a field without `format`; that field holds the value already"
                    } else {
                        "`value_of` must name a field numbered with #[gapless(..., format = \"...\")]"
                    },
                ),
            ),
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

/// `#[gapless(value_of = "reference")]`: an integer field beside a formatted one.
fn raw_field<'a>(
    _input: &'a Input<'a>,
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
        || attrs.chain.is_some()
        || attrs.chain_covers.is_some()
        || attrs.chain_key_env.is_some();
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

/// A field another template reads: it must exist and not be numbered itself.
fn source_field<'a>(
    input: &'a Input<'a>,
    template: &LitStr,
    name: &str,
    what: &str,
) -> syn::Result<&'a ast::Field<'a>> {
    let Some(source) = input.field(name) else {
        return Err(syn::Error::new(
            template.span(),
            format!("placeholder `{{{name}}}` in the {what} names no field of this struct"),
        ));
    };
    if source.gapless.is_some() {
        return Err(syn::Error::new(
            template.span(),
            format!(
                "placeholder `{{{name}}}` names a field numbered by #[gapless]; \
                 a {what} can only use fields the caller sets"
            ),
        ));
    }
    Ok(source)
}

fn numbered_field<'a>(
    input: &'a Input<'a>,
    field: &'a ast::Field<'a>,
    attrs: &'a FieldAttrs,
) -> syn::Result<Numbered<'a>> {
    let Some(template) = &attrs.sequence else {
        return Err(syn::Error::new_spanned(
            &attrs.attr,
            "missing `sequence = \"...\"` in #[gapless(...)]",
        ));
    };
    let number = ast::number_type(field.ty);
    match (&attrs.format, number) {
        (Some(_), _) if !ast::is_string(field.ty) => {
            return Err(syn::Error::new_spanned(
                field.ty,
                "a #[gapless] field with `format` must be a String or Option<String>; \
                 put the raw value in an integer field with #[gapless(value_of = \"...\")]",
            ));
        }
        (None, None) if ast::is_string(field.ty) => {
            return Err(syn::Error::new_spanned(
                field.ty,
                "a String #[gapless] field needs `format = \"...\"`, such as \"INV-{value:05}\"",
            ));
        }
        (None, None) => {
            return Err(syn::Error::new_spanned(
                field.ty,
                "a #[gapless] field must be i32, i64, u32, u64, or an Option of one of them \
                 (or a String with `format`)",
            ));
        }
        _ => {}
    }

    let pieces = ast::parse_template(template, "sequence name")?;
    if let Some(reason) = (sequences_template::Template {
        pieces: pieces.clone(),
    })
    .ambiguity()
    {
        return Err(syn::Error::new_spanned(
            template,
            format!("sequence name: {reason}"),
        ));
    }
    for piece in pieces {
        match piece {
            Piece::Text(_) => {}
            Piece::Placeholder { name, spec: None } => {
                source_field(input, template, &name, "sequence name")?;
            }
            Piece::Placeholder {
                name,
                spec: Some(spec),
            } => {
                return Err(syn::Error::new_spanned(
                    template,
                    format!(
                        "`{{{name}:{spec}}}`: a sequence name takes no width; write `{{{name}}}`"
                    ),
                ));
            }
        }
    }

    let period = match &attrs.period {
        None => None,
        Some(lit) => Some(match lit.value().as_str() {
            "year" => Period::Year,
            "month" => Period::Month,
            "day" => Period::Day,
            "fiscal_year" => {
                let Some(start) = &attrs.fiscal_year_start else {
                    return Err(syn::Error::new_spanned(
                        lit,
                        "`period = \"fiscal_year\"` needs `fiscal_year_start = M`, the month \
                         (1..=12) the fiscal year starts with",
                    ));
                };
                if !(1..=12).contains(&start.value) {
                    return Err(syn::Error::new_spanned(
                        &start.expr,
                        "`fiscal_year_start` is a month, 1..=12",
                    ));
                }
                Period::FiscalYear(start.value as u32)
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    lit,
                    "unknown period; expected \"year\", \"month\", \"day\" or \"fiscal_year\"",
                ));
            }
        }),
    };
    if let (Some(start), false) = (
        &attrs.fiscal_year_start,
        matches!(period, Some(Period::FiscalYear(_))),
    ) {
        return Err(syn::Error::new_spanned(
            &start.expr,
            "`fiscal_year_start` goes with `period = \"fiscal_year\"`",
        ));
    }
    let date_field = match &attrs.date {
        None => None,
        Some(lit) => {
            let Some(source) = input.field(&lit.value()) else {
                return Err(syn::Error::new_spanned(
                    lit,
                    format!(
                        "`date = \"{}\"` names no field of this struct; name a date or \
                         datetime field",
                        lit.value()
                    ),
                ));
            };
            if source.gapless.is_some() {
                return Err(syn::Error::new_spanned(
                    lit,
                    "`date` names a field numbered by #[gapless]; name a date or datetime field",
                ));
            }
            Some(source.ident)
        }
    };

    let format = match &attrs.format {
        None => None,
        Some(lit) => Some(format(input, lit)?),
    };
    let uses_date = format.as_ref().is_some_and(|f| {
        f.pieces.iter().any(|p| {
            matches!(
                p,
                FormatPiece::Year
                    | FormatPiece::Month
                    | FormatPiece::Day
                    | FormatPiece::Yy
                    | FormatPiece::Fiscal
            )
        })
    });
    if let Some(format) = &format
        && format.pieces.contains(&FormatPiece::Fiscal)
        && !matches!(period, Some(Period::FiscalYear(_)))
    {
        return Err(syn::Error::new_spanned(
            &format.template,
            "the format prints {fy}, {fy_start} or {fy_end}: add `period = \"fiscal_year\"` \
             and `fiscal_year_start = M`",
        ));
    }
    if let (Some(lit), false, true) = (
        &attrs.format,
        period.is_some() || date_field.is_some(),
        uses_date,
    ) {
        return Err(syn::Error::new_spanned(
            lit,
            "the format prints a date but the field has no date source; add \
             `date = \"<date field>\"`, or `period = \"...\"` to use the database's date",
        ));
    }
    if let (Some(lit), None, false, None) = (&attrs.date, period, uses_date, &attrs.chronological) {
        return Err(syn::Error::new_spanned(
            lit,
            "`date` is unused: add `period = \"year\"` (or month, day), print the date in \
             `format`, or number `chronological`ly",
        ));
    }
    if let (Some(period), Some(format)) = (period, &format) {
        let has = |wanted: &[fn(&FormatPiece) -> bool]| {
            wanted.iter().all(|test| format.pieces.iter().any(test))
        };
        let year: fn(&FormatPiece) -> bool = |p| matches!(p, FormatPiece::Year | FormatPiece::Yy);
        let month: fn(&FormatPiece) -> bool = |p| matches!(p, FormatPiece::Month);
        let day: fn(&FormatPiece) -> bool = |p| matches!(p, FormatPiece::Day);
        let fiscal: fn(&FormatPiece) -> bool = |p| matches!(p, FormatPiece::Fiscal);
        let (ok, needs) = match period {
            Period::FiscalYear(_) => (has(&[fiscal]), "{fy}, {fy_start} or {fy_end}"),
            Period::Year => (has(&[year]), "{year} (or {yy})"),
            Period::Month => (has(&[year, month]), "{year} (or {yy}) and {month}"),
            Period::Day => (
                has(&[year, month, day]),
                "{year} (or {yy}), {month} and {day}",
            ),
        };
        if !ok {
            return Err(syn::Error::new_spanned(
                &format.template,
                format!(
                    "the sequence restarts every period, so the format must print {needs}; \
                     otherwise two periods would print the same references"
                ),
            ));
        }
    }
    let day = match (date_field, period.is_some() || uses_date) {
        (Some(ident), _) => Some(DaySource::Field(ident)),
        (None, true) => Some(DaySource::Database),
        (None, false) => None,
    };
    if let (Some(path), None) = (&attrs.chronological, date_field) {
        return Err(syn::Error::new_spanned(
            path,
            "`chronological` needs `date = \"<date field>\"`: the date each number follows",
        ));
    }
    if let Some(zone) = &attrs.time_zone {
        if zone.value().parse::<chrono_tz::Tz>().is_err() {
            return Err(syn::Error::new_spanned(
                zone,
                format!(
                    "unknown time zone {:?}; use an IANA name such as \"Europe/Paris\"",
                    zone.value()
                ),
            ));
        }
        if day.is_none() {
            return Err(syn::Error::new_spanned(
                zone,
                "`time_zone` is unused: the field has no date and no period",
            ));
        }
    }
    if let (Some(path), None) = (&attrs.deferred, ast::option_inner(field.ty)) {
        return Err(syn::Error::new_spanned(
            path,
            "a `deferred` field is NULL until COMMIT: make it an `Option`, such as `Option<i64>`",
        ));
    }
    let chain = match (&attrs.chain, &attrs.chain_covers) {
        (None, None) => None,
        (None, Some(covers)) => {
            return Err(syn::Error::new_spanned(
                covers,
                "`chain_covers` goes with `chain = \"<hash field>\"`",
            ));
        }
        (Some(lit), covers) => {
            let Some(hash) = input.field(&lit.value()) else {
                return Err(syn::Error::new_spanned(
                    lit,
                    format!(
                        "`chain = \"{}\"` names no field of this struct",
                        lit.value()
                    ),
                ));
            };
            if !ast::is_string(hash.ty) || hash.gapless.is_some() {
                return Err(syn::Error::new_spanned(
                    lit,
                    "the chain's hash field must be a String or Option<String> of its own",
                ));
            }
            let mut covered = Vec::new();
            if let Some(covers) = covers {
                for name in covers
                    .value()
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                {
                    let Some(source) = input.field(name) else {
                        return Err(syn::Error::new_spanned(
                            covers,
                            format!("`chain_covers` names `{name}`, no field of this struct"),
                        ));
                    };
                    covered.push(source.ident);
                }
            }
            Some((hash.ident, covered))
        }
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

    if let (Some(key), None) = (&attrs.chain_key_env, &chain) {
        return Err(syn::Error::new_spanned(
            key,
            "`chain_key_env` keys a chain: add `chain = \"<hash field>\"`",
        ));
    }
    if let Some(key) = &attrs.chain_key_env
        && key.value().trim().is_empty()
    {
        return Err(syn::Error::new_spanned(
            key,
            "`chain_key_env` names the environment variable holding the key",
        ));
    }
    if let (Some(lit), Some(OnDelete::RevertIfLast), Some(_)) =
        (&attrs.on_delete, on_delete, &chain)
    {
        return Err(syn::Error::new_spanned(
            lit,
            "a chained number cannot be given back (`revert_if_last`): the chain's head \
             would stay on the deleted record; use `on_delete = \"void\"`",
        ));
    }

    let (min, max) = number.map_or((i64::MIN.into(), i64::MAX.into()), |n| n.range());
    let initial = attrs.initial_value.as_ref();
    let reset = attrs.reset_value.as_ref();
    if let Some(initial) = initial {
        let value = i128::from(initial.value);
        if value < min || value > max {
            return Err(syn::Error::new_spanned(
                &initial.expr,
                format!(
                    "initial_value {} does not fit the field's type",
                    initial.value
                ),
            ));
        }
    }
    let first = initial.map_or(1, |i| i.value);
    if let Some(reset) = reset {
        if reset.value <= first {
            return Err(syn::Error::new_spanned(
                &reset.expr,
                format!(
                    "reset_value ({}) must be greater than initial_value ({first})",
                    reset.value
                ),
            ));
        }
        if i128::from(reset.value) - 1 > max {
            return Err(syn::Error::new_spanned(
                &reset.expr,
                "reset_value - 1 does not fit the field's type",
            ));
        }
    }
    if let Some(max) = &attrs.max_value {
        if max.value < first {
            return Err(syn::Error::new_spanned(
                &max.expr,
                format!(
                    "max_value ({}) must be at least initial_value ({first})",
                    max.value
                ),
            ));
        }
        if reset.is_some() {
            return Err(syn::Error::new_spanned(
                &max.expr,
                "a looping sequence (`reset_value`) ends its range at reset_value - 1; \
                 drop `max_value`",
            ));
        }
    }
    if let (Some(warn), Some(max)) = (&attrs.warn_at, &attrs.max_value)
        && warn.value > max.value
    {
        return Err(syn::Error::new_spanned(
            &warn.expr,
            format!(
                "warn_at ({}) is past max_value ({}): it would never warn",
                warn.value, max.value
            ),
        ));
    }
    Ok(Numbered {
        field: field.ident,
        template: template.clone(),
        initial_value: initial.map(|i| i.value),
        max_value: attrs.max_value.as_ref().map(|m| m.value),
        warn_at: attrs.warn_at.as_ref().map(|w| w.value),
        reset_value: reset.map(|r| r.value),
        period,
        day,
        format,
        raw_fields: Vec::new(),
        chronological: attrs.chronological.is_some(),
        time_zone: attrs.time_zone.clone(),
        on_delete,
        deferred: attrs.deferred.is_some(),
        chain,
        chain_key_env: attrs.chain_key_env.clone(),
    })
}

/// `"{journal}-{year}-{value:05}"`: exactly one `{value}`, date parts, fields.
fn format<'a>(input: &'a Input<'a>, lit: &LitStr) -> syn::Result<Format> {
    let mut pieces = Vec::new();
    let mut values = 0;
    for piece in ast::parse_template(lit, "format")? {
        let (name, spec) = match piece {
            Piece::Text(_) => {
                pieces.push(FormatPiece::Text);
                continue;
            }
            Piece::Placeholder { name, spec } => (name, spec),
        };
        let piece = match (name.as_str(), spec.as_deref()) {
            ("value", None) => FormatPiece::Value,
            ("value", Some(spec)) => match spec.parse::<usize>() {
                Ok(width) if width <= 30 && spec.chars().all(|c| c.is_ascii_digit()) => {
                    FormatPiece::Value
                }
                _ => {
                    return Err(syn::Error::new_spanned(
                        lit,
                        format!(
                            "`{{value:{spec}}}`: expected a zero-padding width such as \
                             `{{value:05}}` (at most 30)"
                        ),
                    ));
                }
            },
            ("year", None) => FormatPiece::Year,
            ("month", None) => FormatPiece::Month,
            ("day", None) => FormatPiece::Day,
            ("yy", None) => FormatPiece::Yy,
            ("fy" | "fy_start" | "fy_end", None) => FormatPiece::Fiscal,
            (_, Some(spec)) => {
                return Err(syn::Error::new_spanned(
                    lit,
                    format!(
                        "`{{{name}:{spec}}}`: only `{{value}}` takes a width, as in `{{value:05}}`"
                    ),
                ));
            }
            (field, None) => {
                source_field(input, lit, field, "format").map_err(|_| {
                    syn::Error::new_spanned(
                        lit,
                        format!(
                            "unknown placeholder `{{{field}}}` in the format; expected \
                             `{{value}}`, `{{value:05}}`, `{{year}}`, `{{month}}`, `{{day}}`, \
                             `{{yy}}` or a field the caller sets"
                        ),
                    )
                })?;
                FormatPiece::Field
            }
        };
        values += usize::from(piece == FormatPiece::Value);
        pieces.push(piece);
    }
    if values != 1 {
        return Err(syn::Error::new_spanned(
            lit,
            "the format must print the number exactly once: `{value}` or `{value:05}`",
        ));
    }
    Ok(Format {
        template: lit.clone(),
        pieces,
    })
}
