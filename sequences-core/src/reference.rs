//! Reading formatted references back: `"SALES-2026-00042"` against
//! `"{journal}-{year}-{value:05}"` gives journal `SALES`, year 2026, value 42.
//! Used by the audit of formatted columns.

/// One piece of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value,
    Year,
    Month,
    Day,
    Yy,
    Field(String),
}

/// A parsed format, the same syntax as `#[gapless(format = "...")]`.
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

impl Pattern {
    pub(crate) fn parse(format: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err("unclosed `{` (write `{{` for a brace)".into()),
                        }
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    let head = name.split(':').next().unwrap_or_default().trim();
                    pieces.push(match head {
                        "value" => Piece::Value,
                        "year" => Piece::Year,
                        "month" => Piece::Month,
                        "day" => Piece::Day,
                        "yy" => Piece::Yy,
                        "" => return Err("empty `{}`".into()),
                        field => Piece::Field(field.to_owned()),
                    });
                }
                '}' => return Err("unmatched `}` (write `}}` for a brace)".into()),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        if pieces.iter().filter(|p| **p == Piece::Value).count() != 1 {
            return Err("the format must contain `{value}` exactly once".into());
        }
        Ok(Self { pieces })
    }

    /// The names of the placeholders other than `{value}`, in order.
    pub(crate) fn part_names(&self) -> Vec<&str> {
        self.pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Text(_) | Piece::Value => None,
                Piece::Year => Some("year"),
                Piece::Month => Some("month"),
                Piece::Day => Some("day"),
                Piece::Yy => Some("yy"),
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
                Piece::Value => value = Some(capture.parse().ok()?),
                Piece::Year => parts.push(("year".to_owned(), capture)),
                Piece::Month => parts.push(("month".to_owned(), capture)),
                Piece::Day => parts.push(("day".to_owned(), capture)),
                Piece::Yy => parts.push(("yy".to_owned(), capture)),
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
            Piece::Year => fixed(4, captures),
            Piece::Month | Piece::Day | Piece::Yy => fixed(2, captures),
            Piece::Value | Piece::Field(_) => {
                let digits_only = matches!(piece, Piece::Value);
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
    }
}
