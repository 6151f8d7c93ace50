//! Per-period counters: a sequence per year, month or day, named after its
//! period (`invoice-SALES@2026`), so a new period starts at the initial value
//! with no job to run; and the formatting of numbered references.

use std::fmt::Write as _;

/// How often a periodic sequence starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// One sequence per calendar year: `name@2026`.
    Year,
    /// One sequence per month: `name@2026-03`.
    Month,
    /// One sequence per day: `name@2026-03-15`.
    Day,
}

impl Period {
    /// The sequence name of `base` for the period containing `day`.
    pub fn sequence_name(self, base: &str, day: Day) -> String {
        let mut name = format!("{base}@{:04}", day.year);
        if self >= Period::Month {
            let _ = write!(name, "-{:02}", day.month);
        }
        if self == Period::Day {
            let _ = write!(name, "-{:02}", day.day);
        }
        name
    }
}

/// A calendar day, as the period and the format see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    /// The year, such as 2026.
    pub year: i32,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
}

impl Day {
    /// Parses `YYYY-MM-DD` (what the databases print for a date).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '-');
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        let day = parts.next()?.get(..2)?.parse().ok()?;
        ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(Self { year, month, day })
    }
}

/// A model field that gives the day of a periodic sequence (`date = "..."`).
///
/// Implemented for the chrono types SeaORM maps dates to: `Date`
/// (`NaiveDate`), `DateTime` (`NaiveDateTime`), `DateTimeUtc`,
/// `DateTimeWithTimeZone` and `DateTimeLocal` (the day in the value's own
/// offset), and `Option`s of them (`None` is refused like an unset field).
pub trait PeriodDate {
    /// The day, or `None` for a `None` value.
    fn period_day(&self) -> Option<Day>;
}

#[cfg(feature = "chrono")]
mod chrono_dates {
    use chrono::Datelike;

    use super::{Day, PeriodDate};

    fn day(date: chrono::NaiveDate) -> Day {
        Day {
            year: date.year(),
            month: date.month(),
            day: date.day(),
        }
    }

    impl PeriodDate for chrono::NaiveDate {
        fn period_day(&self) -> Option<Day> {
            Some(day(*self))
        }
    }

    impl PeriodDate for chrono::NaiveDateTime {
        fn period_day(&self) -> Option<Day> {
            Some(day(self.date()))
        }
    }

    impl<Tz: chrono::TimeZone> PeriodDate for chrono::DateTime<Tz> {
        fn period_day(&self) -> Option<Day> {
            Some(day(self.date_naive()))
        }
    }
}

impl<T: PeriodDate> PeriodDate for Option<T> {
    fn period_day(&self) -> Option<Day> {
        self.as_ref().and_then(PeriodDate::period_day)
    }
}

/// A `String` field that can hold a formatted reference.
pub trait ReferenceField: Sized {
    /// The text as `Self`.
    fn from_reference(text: String) -> Self;
}

impl ReferenceField for String {
    fn from_reference(text: String) -> Self {
        text
    }
}

impl ReferenceField for Option<String> {
    fn from_reference(text: String) -> Self {
        Some(text)
    }
}

/// Writes `value` zero-padded to `width` digits (a negative value keeps its
/// sign in front; a wider value prints all its digits).
pub fn write_value(out: &mut String, value: i64, width: usize) {
    let _ = write!(out, "{value:0width$}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_padding() {
        let day = Day {
            year: 2026,
            month: 3,
            day: 5,
        };
        assert_eq!(Period::Year.sequence_name("inv", day), "inv@2026");
        assert_eq!(Period::Month.sequence_name("inv", day), "inv@2026-03");
        assert_eq!(Period::Day.sequence_name("inv", day), "inv@2026-03-05");
        let mut out = String::new();
        write_value(&mut out, 42, 5);
        out.push(' ');
        write_value(&mut out, 100_000, 5);
        out.push(' ');
        write_value(&mut out, -7, 3);
        assert_eq!(out, "00042 100000 -07");
        assert_eq!(
            Day::parse("2026-12-31"),
            Some(Day {
                year: 2026,
                month: 12,
                day: 31
            })
        );
        assert_eq!(
            Day::parse("2026-12-31 00:00:00"),
            Some(Day {
                year: 2026,
                month: 12,
                day: 31
            })
        );
        assert_eq!(Day::parse("nonsense"), None);
    }
}
