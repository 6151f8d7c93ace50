//! Formatted references: printing `"{journal}-{year}-{value:05}"` as
//! `"SALES-2026-00042"`, and reading it back (journal `SALES`, year 2026,
//! value 42) for the audit of formatted columns.

use crate::period::{Day, Period, write_value};
use sequences_template::rules::{Format, FormatPiece as Piece};

/// A parsed format, the syntax of `#[gapless(format = "...")]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pieces: Vec<Piece>,
}

/// What a reference holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) value: i64,
    /// Every other placeholder, in format order: `(name, text)`.
    pub(crate) parts: Vec<(String, String)>,
}

impl Parsed {
    /// The text of placeholder `name`, if the format has it.
    pub(crate) fn part(&self, name: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| text.as_str())
    }
}

/// A day inside the period a reference prints (its first day when the format
/// does not print the day), from its parts: `{year}` (or `{yy}`, read as
/// 20yy), `{month}`, `{day}`, and for fiscal years `{fy}`, `{fy_start}` or
/// `{fy_end}`. `None` when the parts do not say.
pub(crate) fn period_day<'p>(
    period: Period,
    part: impl Fn(&str) -> Option<&'p str>,
) -> Option<Day> {
    let number = |name: &str| part(name)?.parse::<i32>().ok();
    if let Period::FiscalYear { start_month } = period {
        let start_month = start_month.clamp(1, 12);
        let start_year = number("fy_start")
            .or_else(|| part("fy")?.get(..4)?.parse().ok())
            .or_else(|| number("fy_end").map(|end| end - i32::from(start_month != 1)))?;
        return Some(Day {
            year: start_year,
            month: start_month,
            day: 1,
        });
    }
    let year = number("year").or_else(|| number("yy").map(|yy| 2000 + yy))?;
    Some(Day {
        year,
        month: number("month").unwrap_or(1) as u32,
        day: number("day").unwrap_or(1) as u32,
    })
}

impl Pattern {
    /// Parses `format` with the one format parser (`sequences_template::rules`),
    /// which the field's rules use too.
    pub(crate) fn parse(format: &str) -> Result<Self, String> {
        Format::parse(format).map(|format| Self {
            pieces: format.pieces,
        })
    }

    /// A format the field's rules parsed already.
    pub(crate) fn from_format(format: Format) -> Self {
        Self {
            pieces: format.pieces,
        }
    }

    /// Prints `value` on `day` (of `period`, for the fiscal year), fields
    /// from `field(name)`.
    pub(crate) fn render<E>(
        &self,
        value: i64,
        day: Day,
        period: Option<Period>,
        mut field: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<String, E> {
        let fiscal = period.unwrap_or(Period::Year).fiscal_year(day);
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Value(width) => write_value(&mut out, value, *width),
                Piece::Year => write_value(&mut out, day.year.into(), 4),
                Piece::Month => write_value(&mut out, day.month.into(), 2),
                Piece::Day => write_value(&mut out, day.day.into(), 2),
                Piece::Yy => write_value(&mut out, (day.year % 100).into(), 2),
                Piece::Fy => out.push_str(&fiscal.to_string()),
                Piece::FyStart => write_value(&mut out, fiscal.start_year.into(), 4),
                Piece::FyEnd => write_value(&mut out, fiscal.end_year().into(), 4),
                Piece::Field(name) => out.push_str(&field(name)?),
            }
        }
        Ok(out)
    }

    /// Its pieces, in order.
    pub(crate) fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The names of the placeholders other than `{value}`, in order.
    pub(crate) fn part_names(&self) -> Vec<&str> {
        self.pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Text(_) | Piece::Value(_) => None,
                Piece::Year => Some("year"),
                Piece::Month => Some("month"),
                Piece::Day => Some("day"),
                Piece::Yy => Some("yy"),
                Piece::Fy => Some("fy"),
                Piece::FyStart => Some("fy_start"),
                Piece::FyEnd => Some("fy_end"),
                Piece::Field(name) => Some(name.as_str()),
            })
            .collect()
    }

    /// Reads `text`, or `None` when it does not match the format.
    pub(crate) fn read(&self, text: &str) -> Option<Parsed> {
        let mut captures = Vec::new();
        if !self.matches(0, text, &mut captures) {
            return None;
        }
        let mut value = None;
        let mut parts = Vec::new();
        for (piece, capture) in self
            .pieces
            .iter()
            .filter(|p| !matches!(p, Piece::Text(_)))
            .zip(captures)
        {
            match piece {
                Piece::Value(_) => value = Some(capture.parse().ok()?),
                Piece::Year => parts.push(("year".to_owned(), capture)),
                Piece::Month => parts.push(("month".to_owned(), capture)),
                Piece::Day => parts.push(("day".to_owned(), capture)),
                Piece::Yy => parts.push(("yy".to_owned(), capture)),
                Piece::Fy => parts.push(("fy".to_owned(), capture)),
                Piece::FyStart => parts.push(("fy_start".to_owned(), capture)),
                Piece::FyEnd => parts.push(("fy_end".to_owned(), capture)),
                Piece::Field(name) => parts.push((name.clone(), capture)),
                Piece::Text(_) => unreachable!("filtered out"),
            }
        }
        Some(Parsed {
            value: value?,
            parts,
        })
    }

    /// Matches pieces `i..` against `rest`, pushing one capture per placeholder;
    /// backtracks over the lengths of `{value}` and field placeholders.
    fn matches(&self, i: usize, rest: &str, captures: &mut Vec<String>) -> bool {
        let Some(piece) = self.pieces.get(i) else {
            return rest.is_empty();
        };
        let fixed = |width: usize, captures: &mut Vec<String>| {
            let Some(head) = rest.get(..width) else {
                return false;
            };
            if !head.chars().all(|c| c.is_ascii_digit()) {
                return false;
            }
            captures.push(head.to_owned());
            if self.matches(i + 1, &rest[width..], captures) {
                return true;
            }
            captures.pop();
            false
        };
        match piece {
            Piece::Text(text) => rest
                .strip_prefix(text.as_str())
                .is_some_and(|after| self.matches(i + 1, after, captures)),
            Piece::Year | Piece::FyStart | Piece::FyEnd => fixed(4, captures),
            Piece::Month | Piece::Day | Piece::Yy => fixed(2, captures),
            // `2025-26` or `2025`.
            Piece::Fy => {
                let long = rest.get(..7).filter(|head| {
                    let b = head.as_bytes();
                    b[..4].iter().all(u8::is_ascii_digit)
                        && b[4] == b'-'
                        && b[5..].iter().all(u8::is_ascii_digit)
                });
                if let Some(head) = long {
                    captures.push(head.to_owned());
                    if self.matches(i + 1, &rest[7..], captures) {
                        return true;
                    }
                    captures.pop();
                }
                fixed(4, captures)
            }
            Piece::Value(_) | Piece::Field(_) => {
                let digits_only = matches!(piece, Piece::Value(_));
                let ends: Vec<usize> = rest
                    .char_indices()
                    .map(|(at, c)| at + c.len_utf8())
                    .collect();
                for end in ends.into_iter().rev() {
                    let head = &rest[..end];
                    if digits_only
                        && !(head.chars().all(|c| c.is_ascii_digit())
                            || head.strip_prefix('-').is_some_and(|d| {
                                !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
                            }))
                    {
                        continue;
                    }
                    captures.push(head.to_owned());
                    if self.matches(i + 1, &rest[end..], captures) {
                        return true;
                    }
                    captures.pop();
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_the_derive_prints() {
        let pattern = Pattern::parse("{journal}-{year}-{value:05}").unwrap();
        assert_eq!(pattern.part_names(), ["journal", "year"]);
        let parsed = pattern.read("SALES-EU-2026-00042").unwrap();
        assert_eq!(parsed.value, 42);
        assert_eq!(
            parsed.parts,
            [
                ("journal".to_owned(), "SALES-EU".to_owned()),
                ("year".to_owned(), "2026".to_owned())
            ]
        );
        assert_eq!(pattern.read("SALES-2026-100000").unwrap().value, 100_000);
        assert!(pattern.read("SALES-26-00042").is_none());
        assert!(pattern.read("SALES-2026-").is_none());
        let receipt = Pattern::parse("R{yy}{month}-{value:03}").unwrap();
        let parsed = receipt.read("R2611-007").unwrap();
        assert_eq!(parsed.value, 7);
        assert_eq!(parsed.parts[1], ("month".to_owned(), "11".to_owned()));
        assert!(Pattern::parse("INV-{journal}").is_err());
        assert!(Pattern::parse("INV-{value:x}").is_err());
        assert!(Pattern::parse("INV-{year:02}-{value}").is_err());
        let day = Day {
            year: 2026,
            month: 3,
            day: 5,
        };
        let printed = pattern
            .render(42, day, Some(Period::Year), |name| {
                Ok::<_, ()>(name.to_uppercase())
            })
            .unwrap();
        let fiscal = Pattern::parse("{fy}/{value:03}").unwrap();
        let april = Period::FiscalYear { start_month: 4 };
        let text = fiscal
            .render(7, day, Some(april), |_| Ok::<_, ()>(String::new()))
            .unwrap();
        assert_eq!(text, "2025-26/007");
        let read = fiscal.read(&text).unwrap();
        assert_eq!((read.value, read.parts[0].1.as_str()), (7, "2025-26"));
        assert_eq!(printed, "JOURNAL-2026-00042");
        assert_eq!(pattern.read(&printed).unwrap().value, 42);
    }
}
