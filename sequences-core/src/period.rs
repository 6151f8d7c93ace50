//! Per-period counters: a sequence per year, month or day, named after its
//! period (`invoice-SALES@2026`), so a new period starts at the initial value
//! with no job to run; and the formatting of numbered references.

/// How often a periodic sequence starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Period {
    /// One sequence per calendar year: `name@2026`.
    Year,
    /// One sequence per month: `name@2026-03`.
    Month,
    /// One sequence per day: `name@2026-03-15`.
    Day,
    /// One sequence per fiscal year starting on the first day of month
    /// `start_month` (1..=12), named by the calendar year it starts in: with
    /// `start_month: 4`, April 2025 to March 2026 is `name@FY2025`.
    FiscalYear {
        /// The month the fiscal year starts with, 1..=12.
        start_month: u32,
    },
}

impl Period {
    /// The sequence name of `base` for the period containing `day`.
    pub fn sequence_name(self, base: &str, day: Day) -> String {
        match self {
            Period::Year => format!("{base}@{:04}", day.year),
            Period::Month => format!("{base}@{:04}-{:02}", day.year, day.month),
            Period::Day => format!("{base}@{:04}-{:02}-{:02}", day.year, day.month, day.day),
            Period::FiscalYear { .. } => {
                format!("{base}@FY{:04}", self.fiscal_year(day).start_year)
            }
        }
    }

    /// Whether `suffix` (what follows the last `@` of a sequence name) is
    /// one this period writes: `2026`, `2026-03`, `2026-03-15`, `FY2025`.
    pub fn reads_suffix(self, suffix: &str) -> bool {
        let digits =
            |text: &str, n: usize| text.len() == n && text.bytes().all(|b| b.is_ascii_digit());
        let parts: Vec<&str> = suffix.split('-').collect();
        match (self, parts.as_slice()) {
            (Period::Year, [year]) => digits(year, 4),
            (Period::Month, [year, month]) => digits(year, 4) && digits(month, 2),
            (Period::Day, [year, month, day]) => {
                digits(year, 4) && digits(month, 2) && digits(day, 2)
            }
            (Period::FiscalYear { .. }, [fy]) => {
                fy.strip_prefix("FY").is_some_and(|year| digits(year, 4))
            }
            _ => false,
        }
    }

    /// The fiscal year containing `day` (for the other periods, as if the
    /// fiscal year were the calendar year).
    pub fn fiscal_year(self, day: Day) -> FiscalYear {
        let start_month = match self {
            Period::FiscalYear { start_month } if (2..=12).contains(&start_month) => start_month,
            _ => 1,
        };
        let start_year = if day.month >= start_month {
            day.year
        } else {
            day.year - 1
        };
        FiscalYear {
            start_year,
            start_month,
        }
    }
}

/// A fiscal year, as a format prints it: `{fy}`, `{fy_start}`, `{fy_end}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiscalYear {
    /// The calendar year it starts in.
    pub start_year: i32,
    /// The month it starts with, 1..=12.
    pub start_month: u32,
}

impl FiscalYear {
    /// The calendar year it ends in (its start year when it starts in January).
    pub fn end_year(self) -> i32 {
        if self.start_month == 1 {
            self.start_year
        } else {
            self.start_year + 1
        }
    }
}

impl std::fmt::Display for FiscalYear {
    /// `2025-26`, or `2025` for a fiscal year that is a calendar year.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.start_month == 1 {
            write!(f, "{:04}", self.start_year)
        } else {
            write!(
                f,
                "{:04}-{:02}",
                self.start_year,
                self.end_year().rem_euclid(100)
            )
        }
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
    /// The day as the number `YYYYMMDD` (20261231), ordered as days are: how
    /// the `sequences` table keeps the latest day of a chronological sequence.
    pub fn number(self) -> i32 {
        self.year * 10_000 + self.month as i32 * 100 + self.day as i32
    }

    /// The day of a `YYYYMMDD` number.
    pub fn from_number(number: i32) -> Self {
        Self {
            year: number / 10_000,
            month: (number / 100 % 100) as u32,
            day: (number % 100) as u32,
        }
    }

    /// Parses `YYYY-MM-DD` (what the databases print for a date).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '-');
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        let day = parts.next()?.get(..2)?.parse().ok()?;
        ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(Self { year, month, day })
    }
}

/// As `YYYY-MM-DD`.
#[cfg(feature = "serde")]
impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for Day {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(feature = "chrono")]
impl From<chrono::NaiveDate> for Day {
    fn from(date: chrono::NaiveDate) -> Self {
        use chrono::Datelike;
        Self {
            year: date.year(),
            month: date.month(),
            day: date.day(),
        }
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

/// The day in `zone` of a UTC time printed `YYYY-MM-DDTHH:MM:SS`.
#[cfg(feature = "chrono")]
pub(crate) fn day_in_zone(utc: &str, zone: &Zone) -> Option<Day> {
    let at = chrono::NaiveDateTime::parse_from_str(utc.trim(), "%Y-%m-%dT%H:%M:%S").ok()?;
    Some(Day::from(at.and_utc().with_timezone(zone).date_naive()))
}

/// Time zones need the `chrono` feature.
#[cfg(not(feature = "chrono"))]
pub(crate) fn day_in_zone(_utc: &str, zone: &Zone) -> Option<Day> {
    match *zone {}
}

/// Writes `value` zero-padded to `width` digits (a negative value keeps its
/// sign in front; a wider value prints all its digits).
pub(crate) fn write_value(out: &mut String, value: i64, width: usize) {
    use std::fmt::Write as _;
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
        let april = Period::FiscalYear { start_month: 4 };
        assert_eq!(april.sequence_name("inv", day), "inv@FY2025");
        let fy = april.fiscal_year(day);
        assert_eq!(
            (fy.to_string(), fy.end_year()),
            ("2025-26".to_owned(), 2026)
        );
        let first_of_april = Day {
            year: 2026,
            month: 4,
            day: 1,
        };
        assert_eq!(april.sequence_name("inv", first_of_april), "inv@FY2026");
        let january = Period::FiscalYear { start_month: 1 };
        assert_eq!(january.fiscal_year(day).to_string(), "2026");
        assert_eq!(Day::from_number(day.number()), day);
        assert_eq!(day.number(), 20_260_305);
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
