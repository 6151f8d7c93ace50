//! The rules of a numbered field, written once.
//!
//! `#[derive(Gapless)]` and the runtime builder (`Numbering`, `NumberedField`)
//! describe a field the same plain way, as a [`FieldSpec`], and ask
//! [`check`]: the first rule the field breaks comes back as a [`Broken`],
//! naming the option at fault ([`At`]) and carrying the one message both
//! report. The derive turns it into a compile error at that option's tokens,
//! the runtime into `SequenceError::InvalidNumbering`.
//!
//! What each side knows about types is passed in as facts ([`Kind`], the
//! `nullable` flag, whether a time zone name is known), so the rule using a
//! fact is still written here only.
//!
//! ```
//! use sequences_template::rules::{self, At, FieldSpec, Kind, PeriodKind};
//!
//! let no_fields = |_: &str| None;
//! let mut spec = FieldSpec::new(Kind::Text, "invoice", &no_fields);
//! spec.format = Some("INV-{year}-{value:05}");
//! let broken = rules::check(&spec).unwrap_err();
//! assert_eq!(broken.at, At::Format);
//! spec.period = Some(PeriodKind::Year);
//! assert!(rules::check(&spec).is_ok());
//! ```

use crate::{Piece, Template};

/// A numbered field as both the derive and the runtime describe it.
#[non_exhaustive]
pub struct FieldSpec<'a> {
    /// The type of the numbered field (its Rust type; its column type).
    pub kind: Kind,
    /// Whether the field may be NULL (`Option<..>`; a nullable column).
    pub nullable: bool,
    /// The sequence name template, `invoice-{company_id}`.
    pub sequence: &'a str,
    /// The first value (1 unless set).
    pub initial_value: i64,
    /// `reset_value`: the sequence loops before it.
    pub reset_value: Option<i64>,
    /// `max_value`: the end of the range.
    pub max_value: Option<i64>,
    /// `warn_at`: a warning from this value on.
    pub warn_at: Option<i64>,
    /// `period`.
    pub period: Option<PeriodKind>,
    /// The month a fiscal year starts with (`fiscal_year_start`; the
    /// runtime's `Period::FiscalYear { start_month }`).
    pub fiscal_year_start: Option<i64>,
    /// `date`: the field the day comes from.
    pub date: Option<&'a str>,
    /// `format`: the printed reference.
    pub format: Option<&'a str>,
    /// `chronological`.
    pub chronological: bool,
    /// `time_zone`: its name, and whether the caller knows it (the IANA
    /// database is the caller's: chrono-tz at compile time or at run time).
    pub time_zone: Option<(&'a str, bool)>,
    /// `on_delete = "revert_if_last"` (`OnDelete::RevertIfLast`).
    pub revert_if_last: bool,
    /// When the number is given (`deferred`, `by_database`, `after_commit`,
    /// or none of them: on insert).
    pub moment: Moment,
    /// A delete policy that guards deletes (any but `on_delete = "allow"`).
    pub delete_guarded: bool,
    /// `chain`: the hash field.
    pub chain: Option<&'a str>,
    /// `chain_covers`: the fields the chain covers (`None`: not given).
    pub chain_covers: Option<Vec<&'a str>>,
    /// A chain key (`chain_key_env`; `chain_key`).
    pub chain_key: bool,
    /// The integer fields that also receive the raw value (`value_of`
    /// naming this field; `raw_value`).
    pub raw_values: Vec<&'a str>,
    /// `counter_table = "django"`: the counter lives in django-sequences'
    /// `sequences_sequence`, shared with a Django application.
    pub django_table: bool,
    /// What the caller knows of another field of the model, by name
    /// (a struct field; a column by field or column name): `None` when the
    /// model has no such field.
    pub fields: &'a dyn Fn(&str) -> Option<Facts>,
}

impl<'a> FieldSpec<'a> {
    /// A field of `kind` numbered from `sequence`, with no option; the
    /// other fields of the model as `fields` knows them.
    pub fn new(kind: Kind, sequence: &'a str, fields: &'a dyn Fn(&str) -> Option<Facts>) -> Self {
        Self {
            kind,
            nullable: false,
            sequence,
            initial_value: 1,
            reset_value: None,
            max_value: None,
            warn_at: None,
            period: None,
            fiscal_year_start: None,
            date: None,
            format: None,
            chronological: false,
            time_zone: None,
            revert_if_last: false,
            moment: Moment::OnInsert,
            delete_guarded: true,
            chain: None,
            chain_covers: None,
            chain_key: false,
            raw_values: Vec::new(),
            django_table: false,
            fields,
        }
    }
}

/// When a numbered field's number is given: one of four moments, the
/// derive's options `deferred`, `by_database` and `after_commit` (or none:
/// on insert), the runtime's `NumberedField` methods of the same names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Moment {
    /// On insert, in `before_save`, by the library: the number is known
    /// at once, and the sequence stays locked until COMMIT.
    #[default]
    OnInsert,
    /// Just before COMMIT, by the library's transaction helper (or, on
    /// PostgreSQL, by the database's COMMIT trigger for any client): the
    /// sequence is locked for the COMMIT only.
    AtCommit,
    /// In the INSERT itself, by the database's triggers: the application
    /// leaves the field unset.
    ByDatabase,
    /// After COMMIT, by a numberer: writers never wait for each other.
    AfterCommit,
}

impl Moment {
    /// The option that chooses it (`None`: the default).
    pub fn option(self) -> Option<&'static str> {
        match self {
            Moment::OnInsert => None,
            Moment::AtCommit => Some("deferred"),
            Moment::ByDatabase => Some("by_database"),
            Moment::AfterCommit => Some("after_commit"),
        }
    }

    fn at(self) -> At {
        match self {
            Moment::AtCommit => At::Deferred,
            Moment::ByDatabase => At::ByDatabase,
            _ => At::AfterCommit,
        }
    }
}

/// The one moment the options name (`OnInsert` for none), or the second
/// one named: a number is given at one moment.
pub fn one_moment(chosen: &[Moment]) -> Result<Moment, Broken> {
    match chosen {
        [] => Ok(Moment::OnInsert),
        [one] => Ok(*one),
        [first, second, ..] => Err(broken(
            second.at(),
            format!(
                "`{}` and `{}` are two moments, and a number is given at one: on insert (the \
                 default), at COMMIT (`deferred`), by the database (`by_database`) or after \
                 COMMIT (`after_commit`); keep one",
                first.option().unwrap_or("on insert"),
                second.option().unwrap_or("on insert"),
            ),
        )),
    }
}

/// What a field's type is, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer type.
    Integer(IntType),
    /// A string.
    Text,
    /// A calendar date (no time).
    Date,
    /// A type the rules know to be none of the above.
    Other,
    /// A type the caller cannot classify (a type alias, at compile time):
    /// rules on types let it through, for the runtime to check.
    Unknown,
}

/// An integer type: its name and range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntType {
    /// The Rust type's name, `u32`.
    pub name: &'static str,
    /// Its smallest value.
    pub min: i128,
    /// Its largest value.
    pub max: i128,
}

impl IntType {
    /// The integer type named `name` (`i8` to `u64`), or `None`.
    pub fn named(name: &str) -> Option<Self> {
        let (name, min, max): (&'static str, i128, i128) = match name {
            "i8" => ("i8", i8::MIN.into(), i8::MAX.into()),
            "i16" => ("i16", i16::MIN.into(), i16::MAX.into()),
            "i32" => ("i32", i32::MIN.into(), i32::MAX.into()),
            "i64" => ("i64", i64::MIN.into(), i64::MAX.into()),
            "u8" => ("u8", 0, u8::MAX.into()),
            "u16" => ("u16", 0, u16::MAX.into()),
            "u32" => ("u32", 0, u32::MAX.into()),
            "u64" => ("u64", 0, u64::MAX.into()),
            _ => return None,
        };
        Some(Self { name, min, max })
    }
}

/// Another field of the model, as a placeholder, a date, a chain or a raw
/// value names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Its type.
    pub kind: Kind,
    /// Whether it is numbered itself (and so cannot be read by a template).
    pub numbered: bool,
}

/// `period`, without the fiscal year's start month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    /// A sequence per calendar year.
    Year,
    /// A sequence per month.
    Month,
    /// A sequence per day.
    Day,
    /// A sequence per fiscal year.
    FiscalYear,
}

/// The option a broken rule is about: where the derive points its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The numbered field's type.
    Type,
    /// `sequence`.
    Sequence,
    /// `initial_value`.
    InitialValue,
    /// `reset_value`.
    ResetValue,
    /// `max_value`.
    MaxValue,
    /// `warn_at`.
    WarnAt,
    /// `period`.
    Period,
    /// `fiscal_year_start`.
    FiscalYearStart,
    /// `date`.
    Date,
    /// `format`.
    Format,
    /// `chronological`.
    Chronological,
    /// `time_zone`.
    TimeZone,
    /// `on_delete`.
    OnDelete,
    /// `deferred`.
    Deferred,
    /// `by_database`.
    ByDatabase,
    /// `after_commit`.
    AfterCommit,
    /// `chain`.
    Chain,
    /// `chain_covers`.
    ChainCovers,
    /// The chain key.
    ChainKey,
    /// The raw-value field at this index of [`FieldSpec::raw_values`].
    RawValue(usize),
    /// `counter_table`.
    CounterTable,
}

/// A rule the field breaks: where, and the message both sides report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The option at fault.
    pub at: At,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn broken(at: At, message: impl Into<String>) -> Broken {
    Broken {
        at,
        message: message.into(),
    }
}

/// Where a field's day comes from, when it needs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaySource {
    /// The `date` field.
    Field,
    /// The database's current date, in the same transaction.
    Database,
}

/// A field that keeps every rule: its templates, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The sequence name template.
    pub name: Template,
    /// The format, if any.
    pub format: Option<Format>,
    /// Where the day comes from, if the field needs one.
    pub day: Option<DaySource>,
}

/// Why the database's triggers cannot number and guard the field, whatever
/// the database (what only one database lacks is its own refusal, when the
/// triggers are installed): a keyed chain, whose key must stay out of the
/// database; a delete policy that needs a stored row's number or period
/// where the row cannot say it.
pub fn database_refusal(spec: &FieldSpec<'_>) -> Option<Broken> {
    if spec.chain_key {
        return Some(broken(
            At::ChainKey,
            "a keyed chain's key must stay out of the database, so the database cannot number \
             this field itself; number it in the library",
        ));
    }
    if spec.delete_guarded && spec.format.is_some() && spec.raw_values.is_empty() {
        return Some(broken(
            At::OnDelete,
            "numbered by the database, the delete policy reads a deleted row's number from a raw \
             value field; give the formatted field one (`value_of`, `raw_value`), or \
             `on_delete = \"allow\"`",
        ));
    }
    if spec.delete_guarded && spec.period.is_some() && spec.date.is_none() {
        return Some(broken(
            At::OnDelete,
            "numbered by the database, the delete policy reads a deleted row's period from its \
             date field; give the periodic field a `date`, or `on_delete = \"allow\"`",
        ));
    }
    None
}

/// Checks every rule, in a fixed order; the first one broken.
pub fn check(spec: &FieldSpec<'_>) -> Result<Checked, Broken> {
    match (spec.format.is_some(), spec.kind) {
        (true, Kind::Text | Kind::Unknown) | (false, Kind::Integer(_) | Kind::Unknown) => {}
        (true, _) => {
            return Err(broken(
                At::Type,
                "a field with a `format` holds the printed reference, so it must be a string; \
                 put the raw value in an integer field beside it",
            ));
        }
        (false, Kind::Text) => {
            return Err(broken(
                At::Type,
                "a string field needs a `format`, such as \"INV-{value:05}\"",
            ));
        }
        (false, _) => {
            return Err(broken(
                At::Type,
                "a numbered field must be an integer, or a string with a `format`",
            ));
        }
    }
    let name = sequence_name(spec)?;
    match (spec.period, spec.fiscal_year_start) {
        (Some(PeriodKind::FiscalYear), None) => {
            return Err(broken(
                At::Period,
                "`period = \"fiscal_year\"` needs `fiscal_year_start = M`, the month (1..=12) \
                 the fiscal year starts with",
            ));
        }
        (Some(PeriodKind::FiscalYear), Some(start)) if !(1..=12).contains(&start) => {
            return Err(broken(
                At::FiscalYearStart,
                format!("a fiscal year starts with a month, 1..=12, not {start}"),
            ));
        }
        (Some(PeriodKind::FiscalYear), Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err(broken(
                At::FiscalYearStart,
                "`fiscal_year_start` goes with `period = \"fiscal_year\"`",
            ));
        }
    }
    if let Some(date) = spec.date {
        match (spec.fields)(date) {
            None => {
                return Err(broken(
                    At::Date,
                    format!(
                        "`date = \"{date}\"` names no field of the model; name a date or \
                         datetime field"
                    ),
                ));
            }
            Some(facts) if facts.numbered => {
                return Err(broken(
                    At::Date,
                    "`date` names a numbered field; name a date or datetime field",
                ));
            }
            Some(_) => {}
        }
    }
    let format = spec
        .format
        .map(|text| {
            let format = Format::parse(text).map_err(|message| broken(At::Format, message))?;
            for name in format.fields() {
                if (spec.fields)(name).is_none() {
                    return Err(broken(
                        At::Format,
                        format!(
                            "unknown placeholder `{{{name}}}` in the format; expected \
                             `{{value}}`, `{{value:05}}`, `{{year}}`, `{{month}}`, `{{day}}`, \
                             `{{yy}}`, `{{fy}}`, `{{fy_start}}`, `{{fy_end}}` or a field the \
                             caller sets"
                        ),
                    ));
                }
                numbered_placeholder(spec, name, "format")?;
            }
            Ok(format)
        })
        .transpose()?;
    let prints_date = format.as_ref().is_some_and(Format::prints_date);
    if format.as_ref().is_some_and(Format::prints_fiscal_year)
        && spec.period != Some(PeriodKind::FiscalYear)
    {
        return Err(broken(
            At::Format,
            "the format prints {fy}, {fy_start} or {fy_end}: add `period = \"fiscal_year\"` \
             and `fiscal_year_start = M`",
        ));
    }
    if prints_date && spec.period.is_none() && spec.date.is_none() {
        return Err(broken(
            At::Format,
            "the format prints a date but the field has no date source; add `date = \"<date \
             field>\"`, or `period = \"...\"` to use the database's date",
        ));
    }
    if spec.date.is_some() && spec.period.is_none() && !prints_date && !spec.chronological {
        return Err(broken(
            At::Date,
            "`date` is unused: add `period = \"year\"` (or month, day), print the date in \
             `format`, or number `chronological`ly",
        ));
    }
    if let (Some(period), Some(format)) = (spec.period, &format)
        && let Some(needs) = format.missing_period_parts(period)
    {
        return Err(broken(
            At::Format,
            format!(
                "the sequence restarts every period, so the format must print {needs}; \
                 otherwise two periods would print the same references"
            ),
        ));
    }
    let day = match (spec.date, spec.period.is_some() || prints_date) {
        (Some(_), _) => Some(DaySource::Field),
        (None, true) => Some(DaySource::Database),
        (None, false) => None,
    };
    if spec.chronological && spec.date.is_none() {
        return Err(broken(
            At::Chronological,
            "`chronological` needs `date = \"<date field>\"`: the date each number follows",
        ));
    }
    if let Some((zone, known)) = spec.time_zone {
        if !known {
            return Err(broken(
                At::TimeZone,
                format!("unknown time zone {zone:?}; use an IANA name such as \"Europe/Paris\""),
            ));
        }
        if day.is_none() {
            return Err(broken(
                At::TimeZone,
                "`time_zone` is unused: the field has no date and no period",
            ));
        }
    }
    if spec.moment == Moment::AtCommit && !spec.nullable {
        return Err(broken(
            At::Deferred,
            "a `deferred` field is NULL until COMMIT: make it nullable, an `Option` such as \
             `Option<i64>`",
        ));
    }
    if spec.moment == Moment::AfterCommit && !spec.nullable {
        return Err(broken(
            At::AfterCommit,
            "an `after_commit` field is NULL until a numberer numbers it: make it nullable, an \
             `Option` such as `Option<i64>`",
        ));
    }
    chain(spec)?;
    shared_table(spec)?;
    raw_values(spec, format.is_some())?;
    ranges(spec)?;
    if spec.moment == Moment::ByDatabase
        && let Some(broken) = database_refusal(spec)
    {
        return Err(broken);
    }
    Ok(Checked { name, format, day })
}

/// A placeholder of a `what` must read a field the caller sets.
fn numbered_placeholder(spec: &FieldSpec<'_>, name: &str, what: &str) -> Result<(), Broken> {
    match (spec.fields)(name) {
        Some(facts) if facts.numbered => Err(broken(
            if what == "format" {
                At::Format
            } else {
                At::Sequence
            },
            numbered_placeholder_message(name, what),
        )),
        _ => Ok(()),
    }
}

/// The message of a placeholder naming a numbered field, for a caller that
/// learns which fields are numbered only after [`check`] (the runtime, once
/// every field of a `Numbering` is known). `what`: "sequence name" or "format".
pub fn numbered_placeholder_message(name: &str, what: &str) -> String {
    format!(
        "placeholder `{{{name}}}` names a numbered field; a {what} can only use fields the \
         caller sets"
    )
}

/// `invoice-{company_id}`: parses, unambiguous, no width, fields of the model.
fn sequence_name(spec: &FieldSpec<'_>) -> Result<Template, Broken> {
    let name = Template::parse(spec.sequence)
        .map_err(|error| broken(At::Sequence, format!("invalid sequence name: {error}")))?;
    if let Some(reason) = name.ambiguity() {
        return Err(broken(At::Sequence, format!("sequence name: {reason}")));
    }
    for piece in &name.pieces {
        match piece {
            Piece::Text(_) => {}
            Piece::Placeholder {
                name,
                spec: Some(width),
            } => {
                return Err(broken(
                    At::Sequence,
                    format!(
                        "`{{{name}:{width}}}`: a sequence name takes no width; write `{{{name}}}`"
                    ),
                ));
            }
            Piece::Placeholder { name, spec: None } => {
                if (spec.fields)(name).is_none() {
                    return Err(broken(
                        At::Sequence,
                        format!(
                            "placeholder `{{{name}}}` in the sequence name names no field of \
                             the model"
                        ),
                    ));
                }
                numbered_placeholder(spec, name, "sequence name")?;
            }
        }
    }
    Ok(name)
}

/// What a counter shared with django-sequences cannot do: Django numbers on
/// insert, in the writer's transaction, and writes nothing else.
fn shared_table(spec: &FieldSpec<'_>) -> Result<(), Broken> {
    if !spec.django_table {
        return Ok(());
    }
    if spec.moment != Moment::OnInsert {
        return Err(broken(
            At::CounterTable,
            "a counter in django-sequences' table is numbered on insert, as Django's \
             `get_next_value` does; the other moments keep their counters in `sequences` (drop \
             `deferred`, `by_database` or `after_commit`, or `counter_table`)",
        ));
    }
    if spec.chain.is_some() {
        return Err(broken(
            At::CounterTable,
            "Django's writers do not chain their rows, so a chain over a series shared with \
             Django would break at its first Django row; chain a series numbered only here",
        ));
    }
    if spec.chronological {
        return Err(broken(
            At::CounterTable,
            "Django's writers do not record the day they number, so the date order of a series \
             shared with Django cannot hold; drop `chronological`, or number the series here only",
        ));
    }
    if spec.initial_value < 0 {
        return Err(broken(
            At::CounterTable,
            "django-sequences' `last` column holds no negative value (PositiveBigIntegerField); \
             start at 0 or above",
        ));
    }
    Ok(())
}

/// `chain`, `chain_covers`, the key, and the delete policy a chain forbids.
fn chain(spec: &FieldSpec<'_>) -> Result<(), Broken> {
    let Some(hash) = spec.chain else {
        if spec.chain_covers.is_some() {
            return Err(broken(
                At::ChainCovers,
                "`chain_covers` goes with `chain = \"<hash field>\"`",
            ));
        }
        if spec.chain_key {
            return Err(broken(
                At::ChainKey,
                "a chain key keys a chain: name the chain's hash field with `chain`",
            ));
        }
        return Ok(());
    };
    match (spec.fields)(hash) {
        None => {
            return Err(broken(
                At::Chain,
                format!("`chain = \"{hash}\"` names no field of the model"),
            ));
        }
        Some(Facts {
            kind: Kind::Text | Kind::Unknown,
            numbered: false,
        }) => {}
        Some(_) => {
            return Err(broken(
                At::Chain,
                format!(
                    "the chain's hash field `{hash}` must be a string field of its own (it \
                     holds 64 hex digits)"
                ),
            ));
        }
    }
    for &covered in spec.chain_covers.iter().flatten() {
        match (spec.fields)(covered) {
            None => {
                return Err(broken(
                    At::ChainCovers,
                    format!("`chain_covers` names `{covered}`, no field of the model"),
                ));
            }
            Some(Facts {
                kind: Kind::Other, ..
            }) => {
                return Err(broken(
                    At::ChainCovers,
                    format!(
                        "the chain covers `{covered}`, of a type whose text the database may \
                         print differently; cover integer, string and date fields"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if spec.revert_if_last {
        return Err(broken(
            At::OnDelete,
            "a chained number cannot be given back (`revert_if_last`): the chain's head would \
             stay on the deleted record; void it instead (`on_delete = \"void\"`)",
        ));
    }
    Ok(())
}

/// The integer fields that receive the raw value beside a format.
fn raw_values(spec: &FieldSpec<'_>, formatted: bool) -> Result<(), Broken> {
    for (index, &name) in spec.raw_values.iter().enumerate() {
        let at = At::RawValue(index);
        if !formatted {
            return Err(broken(
                at,
                "a raw value goes with a `format`: without one, the numbered field holds the \
                 value already",
            ));
        }
        match (spec.fields)(name) {
            None => {
                return Err(broken(
                    at,
                    format!("the raw value goes to `{name}`, no field of the model"),
                ));
            }
            Some(Facts {
                kind: Kind::Integer(_) | Kind::Unknown,
                ..
            }) => {}
            Some(_) => {
                return Err(broken(
                    at,
                    format!("the raw value goes to `{name}`, which must be an integer field"),
                ));
            }
        }
    }
    Ok(())
}

/// `initial_value`, `reset_value`, `max_value`, `warn_at`, and the integer
/// types the value goes to (the numbered field, the raw values).
fn ranges(spec: &FieldSpec<'_>) -> Result<(), Broken> {
    let ints: Vec<IntType> = std::iter::once(spec.kind)
        .chain(
            spec.raw_values
                .iter()
                .filter_map(|name| (spec.fields)(name).map(|facts| facts.kind)),
        )
        .filter_map(|kind| match kind {
            Kind::Integer(int) => Some(int),
            _ => None,
        })
        .collect();
    let first = spec.initial_value;
    if let Some(int) = ints
        .iter()
        .find(|int| !(int.min..=int.max).contains(&i128::from(first)))
    {
        return Err(broken(
            At::InitialValue,
            format!("initial_value {first} does not fit {}", int.name),
        ));
    }
    if let Some(reset) = spec.reset_value {
        if reset <= first {
            return Err(broken(
                At::ResetValue,
                format!("reset_value ({reset}) must be greater than initial_value ({first})"),
            ));
        }
        if let Some(int) = ints.iter().find(|int| i128::from(reset) - 1 > int.max) {
            return Err(broken(
                At::ResetValue,
                format!("reset_value - 1 does not fit {}", int.name),
            ));
        }
    }
    if let Some(max) = spec.max_value {
        if max < first {
            return Err(broken(
                At::MaxValue,
                format!("max_value ({max}) must be at least initial_value ({first})"),
            ));
        }
        if spec.reset_value.is_some() {
            return Err(broken(
                At::MaxValue,
                "a looping sequence (`reset_value`) ends its range at reset_value - 1; drop \
                 `max_value`",
            ));
        }
    }
    if let (Some(warn), Some(max)) = (spec.warn_at, spec.max_value)
        && warn > max
    {
        return Err(broken(
            At::WarnAt,
            format!("warn_at ({warn}) is past max_value ({max}): it would never warn"),
        ));
    }
    Ok(())
}

/// One piece of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatPiece {
    /// Literal text.
    Text(String),
    /// `{value}` or `{value:05}`: the width to zero-pad to.
    Value(usize),
    /// `{year}`.
    Year,
    /// `{month}`.
    Month,
    /// `{day}`.
    Day,
    /// `{yy}`: the year's last two digits.
    Yy,
    /// `{fy}`: the fiscal year, `2025-26` (or `2025` when it is a calendar year).
    Fy,
    /// `{fy_start}`: the calendar year the fiscal year starts in.
    FyStart,
    /// `{fy_end}`: the calendar year the fiscal year ends in.
    FyEnd,
    /// `{field}`: a field of the model.
    Field(String),
}

/// A parsed format, `"{journal}-{year}-{value:05}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Its pieces, in order; exactly one [`FormatPiece::Value`].
    pub pieces: Vec<FormatPiece>,
}

impl Format {
    /// Parses `text`: the template syntax, widths on `{value}` only, the
    /// number printed exactly once.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let template = Template::parse(text).map_err(|error| format!("invalid format: {error}"))?;
        for piece in template.pieces {
            let (name, spec) = match piece {
                Piece::Text(text) => {
                    pieces.push(FormatPiece::Text(text));
                    continue;
                }
                Piece::Placeholder { name, spec } => (name, spec),
            };
            pieces.push(match (name.as_str(), spec.as_deref()) {
                ("value", None) => FormatPiece::Value(0),
                ("value", Some(spec)) => match spec.parse::<usize>() {
                    Ok(width) if width <= 30 && spec.chars().all(|c| c.is_ascii_digit()) => {
                        FormatPiece::Value(width)
                    }
                    _ => {
                        return Err(format!(
                            "`{{value:{spec}}}`: expected a zero-padding width such as \
                             `{{value:05}}` (at most 30)"
                        ));
                    }
                },
                (_, Some(spec)) => {
                    return Err(format!(
                        "`{{{name}:{spec}}}`: only `{{value}}` takes a width, as in `{{value:05}}`"
                    ));
                }
                ("year", None) => FormatPiece::Year,
                ("month", None) => FormatPiece::Month,
                ("day", None) => FormatPiece::Day,
                ("yy", None) => FormatPiece::Yy,
                ("fy", None) => FormatPiece::Fy,
                ("fy_start", None) => FormatPiece::FyStart,
                ("fy_end", None) => FormatPiece::FyEnd,
                (_, None) => FormatPiece::Field(name),
            });
        }
        let values = pieces
            .iter()
            .filter(|p| matches!(p, FormatPiece::Value(_)))
            .count();
        if values != 1 {
            return Err(
                "the format must print the number exactly once: `{value}` or `{value:05}`".into(),
            );
        }
        Ok(Self { pieces })
    }

    /// The fields of the model the format prints.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            FormatPiece::Field(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether the format prints a part of the date.
    pub fn prints_date(&self) -> bool {
        self.prints_fiscal_year()
            || self.pieces.iter().any(|p| {
                matches!(
                    p,
                    FormatPiece::Year | FormatPiece::Month | FormatPiece::Day | FormatPiece::Yy
                )
            })
    }

    /// Whether the format prints the fiscal year, which needs a fiscal-year period.
    pub fn prints_fiscal_year(&self) -> bool {
        self.pieces.iter().any(|p| {
            matches!(
                p,
                FormatPiece::Fy | FormatPiece::FyStart | FormatPiece::FyEnd
            )
        })
    }

    /// What a per-`period` counter needs printed so that two periods never
    /// print the same reference, or `None` when the format prints it.
    pub fn missing_period_parts(&self, period: PeriodKind) -> Option<&'static str> {
        let has = |test: fn(&FormatPiece) -> bool| self.pieces.iter().any(test);
        let year = has(|p| matches!(p, FormatPiece::Year | FormatPiece::Yy));
        let month = has(|p| matches!(p, FormatPiece::Month));
        let day = has(|p| matches!(p, FormatPiece::Day));
        match period {
            PeriodKind::Year if !year => Some("{year} (or {yy})"),
            PeriodKind::Month if !(year && month) => Some("{year} (or {yy}) and {month}"),
            PeriodKind::Day if !(year && month && day) => {
                Some("{year} (or {yy}), {month} and {day}")
            }
            PeriodKind::FiscalYear if !self.prints_fiscal_year() => {
                Some("{fy}, {fy_start} or {fy_end}")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(name: &str) -> Option<Facts> {
        let kind = match name {
            "journal" => Kind::Text,
            "issued_on" => Kind::Date,
            "amount" => Kind::Other,
            "raw" => Kind::Integer(IntType::named("i32").unwrap()),
            "number" => {
                return Some(Facts {
                    kind: Kind::Integer(IntType::named("i64").unwrap()),
                    numbered: true,
                });
            }
            _ => return None,
        };
        Some(Facts {
            kind,
            numbered: false,
        })
    }

    fn spec(kind: Kind) -> FieldSpec<'static> {
        FieldSpec::new(kind, "invoice-{journal}", &fields)
    }

    #[test]
    fn a_printed_date_needs_a_source() {
        let mut field = spec(Kind::Text);
        field.format = Some("{year}-{value}");
        assert_eq!(check(&field).unwrap_err().at, At::Format);
        field.date = Some("issued_on");
        assert_eq!(check(&field).unwrap().day, Some(DaySource::Field));
        field.date = None;
        field.period = Some(PeriodKind::Year);
        assert_eq!(check(&field).unwrap().day, Some(DaySource::Database));
    }

    #[test]
    fn ranges_cover_the_raw_values() {
        let mut field = spec(Kind::Text);
        field.format = Some("{value}");
        field.raw_values = vec!["raw"];
        field.reset_value = Some(i64::from(i32::MAX) + 2);
        let broken = check(&field).unwrap_err();
        assert_eq!(
            (broken.at, broken.message.as_str()),
            (At::ResetValue, "reset_value - 1 does not fit i32")
        );
    }

    #[test]
    fn chains_cover_printable_types_only() {
        let mut field = spec(Kind::Integer(IntType::named("i64").unwrap()));
        field.chain = Some("journal");
        field.chain_covers = Some(vec!["issued_on", "amount"]);
        assert_eq!(check(&field).unwrap_err().at, At::ChainCovers);
        field.chain_covers = Some(vec!["issued_on"]);
        assert!(check(&field).is_ok());
        field.chain = Some("number");
        assert_eq!(check(&field).unwrap_err().at, At::Chain);
    }

    #[test]
    fn formats_parse_once() {
        assert!(Format::parse("INV-{journal}").is_err());
        assert!(Format::parse("INV-{value:x}").is_err());
        assert_eq!(
            Format::parse("INV-{year:02}-{value}").unwrap_err(),
            "`{year:02}`: only `{value}` takes a width, as in `{value:05}`"
        );
        let format = Format::parse("{fy}/{value:03}").unwrap();
        assert_eq!(format.missing_period_parts(PeriodKind::FiscalYear), None);
        assert!(format.missing_period_parts(PeriodKind::Year).is_some());
    }

    #[test]
    fn a_counter_shared_with_django_numbers_on_insert_only() {
        let integer = || spec(Kind::Integer(IntType::named("i64").unwrap()));
        let mut field = integer();
        field.django_table = true;
        assert!(check(&field).is_ok());
        let refused = |change: &dyn Fn(&mut FieldSpec<'static>), expected: &str| {
            let mut field = integer();
            field.django_table = true;
            field.nullable = true;
            change(&mut field);
            let broken = check(&field).unwrap_err();
            assert_eq!(broken.at, At::CounterTable, "{}", broken.message);
            assert!(broken.message.contains(expected), "{}", broken.message);
            // The same description on this library's own table is fine.
            field.django_table = false;
            assert!(check(&field).is_ok(), "{expected}");
        };
        for moment in [Moment::AtCommit, Moment::ByDatabase, Moment::AfterCommit] {
            refused(&|f| f.moment = moment, "numbered on insert");
        }
        refused(&|f| f.chain = Some("journal"), "do not chain");
        refused(
            &|f| {
                f.chronological = true;
                f.date = Some("issued_on");
            },
            "date order",
        );
        refused(&|f| f.initial_value = -1, "no negative value");
    }
}
