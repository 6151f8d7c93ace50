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

/// An IANA time zone (`Europe/Paris`), in which datetimes are turned into
/// days (`chrono-tz`).
#[cfg(feature = "chrono")]
pub type Zone = chrono_tz::Tz;

/// Time zones need the `chrono` feature.
#[cfg(not(feature = "chrono"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {}

/// The day of a date or datetime `Value` (see [`crate::column_value::day`]).
pub(crate) fn day_of_value(
    value: sea_orm::Value,
    zone: Option<&Zone>,
) -> crate::column_value::Read<Day> {
    use crate::column_value::Read;
    #[cfg(feature = "chrono")]
    {
        use chrono::{DateTime, Datelike, NaiveDate, TimeZone};
        use sea_orm::Value;
        fn day(date: NaiveDate) -> Read<Day> {
            Read::Value(Day {
                year: date.year(),
                month: date.month(),
                day: date.day(),
            })
        }
        fn zoned<Tz: TimeZone>(value: Option<DateTime<Tz>>, zone: Option<&Zone>) -> Read<Day> {
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

/// Writes `value` zero-padded to `width` digits (a negative value keeps its
/// sign in front; a wider value prints all its digits).
pub(crate) fn write_value(out: &mut String, value: i64, width: usize) {
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
