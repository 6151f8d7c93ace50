//! The one parser of `{placeholder}` templates in sea-orm-sequences: sequence
//! names (`invoice-{company_id}`), formats (`{journal}-{year}-{value:05}`) and
//! the audit's sequence names. `{{` and `}}` are literal braces.
//!
//! `sequences-core` parses templates at run time (`Numbering`, `Audit`,
//! `ChainAudit`, formatted references) and `sequences-derive` at compile time,
//! with this same parser, so the two can never read a template differently.
//!
//! ```
//! use sequences_template::{Piece, Template};
//!
//! let template = Template::parse("INV-{company_id}-{value:05}").unwrap();
//! assert_eq!(template.placeholders().collect::<Vec<_>>(), ["company_id", "value"]);
//! assert_eq!(
//!     template.pieces[3],
//!     Piece::Placeholder { name: "value".into(), spec: Some("05".into()) }
//! );
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod rules;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text, braces unescaped.
    Text(String),
    /// `{name}` or `{name:spec}`, both trimmed.
    Placeholder {
        /// What the placeholder names: a column, `value`, a date part.
        name: String,
        /// What follows the first `:`, such as a width (`05`).
        spec: Option<String>,
    },
}

/// What is wrong with a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}`.
    #[error("unclosed `{{` (write `{{{{` for a brace)")]
    Unclosed,
    /// A `}` without its `{`.
    #[error("unmatched `}}` (write `}}}}` for a brace)")]
    Unmatched,
    /// `{}`.
    #[error("empty `{{}}`; name a column, as in `{{company_id}}`")]
    EmptyPlaceholder,
    /// No text at all.
    #[error("it is empty")]
    Empty,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Its pieces, in order; never empty.
    pub pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => return Err(TemplateError::Unclosed),
                        }
                    }
                    let (name, spec) = match inner.split_once(':') {
                        Some((name, spec)) => (name.trim(), Some(spec.trim().to_owned())),
                        None => (inner.trim(), None),
                    };
                    if name.is_empty() {
                        return Err(TemplateError::EmptyPlaceholder);
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Placeholder {
                        name: name.to_owned(),
                        spec,
                    });
                }
                '}' => return Err(TemplateError::Unmatched),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if pieces.is_empty() {
            return Err(TemplateError::Empty);
        }
        Ok(Self { pieces })
    }

    /// The placeholders' names, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Placeholder { name, .. } => Some(name.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// The text with every placeholder replaced by `value(name)`, as it is:
    /// for formats, which are printed, not read back as names.
    pub fn fill<E>(&self, mut value: impl FnMut(&str) -> Result<String, E>) -> Result<String, E> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Placeholder { name, .. } => out.push_str(&value(name)?),
            }
        }
        Ok(out)
    }

    /// Two placeholders with no text between them (`{a}{b}`): no escaping
    /// can tell where one value ends. `Some(message)` when that is so; a
    /// sequence name template must not be.
    pub fn ambiguity(&self) -> Option<String> {
        self.pieces.windows(2).find_map(|pair| match pair {
            [
                Piece::Placeholder { name: a, .. },
                Piece::Placeholder { name: b, .. },
            ] => Some(format!(
                "`{{{a}}}` and `{{{b}}}` follow each other with no text between them, so two \
                 different rows could get the same sequence name; separate them, as in \
                 `{{{a}}}-{{{b}}}`"
            )),
            _ => None,
        })
    }

    /// The characters escaped inside values of a sequence name: with two
    /// placeholders or more, `%` and every character of the text between
    /// placeholders; with fewer, none (a single value between a fixed prefix
    /// and suffix is read back unambiguously).
    pub fn escaped_chars(&self) -> Vec<char> {
        if self.placeholders().count() < 2 {
            return Vec::new();
        }
        let first = self
            .pieces
            .iter()
            .position(|p| matches!(p, Piece::Placeholder { .. }));
        let last = self
            .pieces
            .iter()
            .rposition(|p| matches!(p, Piece::Placeholder { .. }));
        let (Some(first), Some(last)) = (first, last) else {
            return Vec::new();
        };
        let mut chars = vec!['%'];
        for piece in &self.pieces[first..last] {
            if let Piece::Text(text) = piece {
                chars.extend(text.chars());
            }
        }
        chars.sort_unstable();
        chars.dedup();
        chars
    }

    /// A sequence name: the template with every placeholder replaced by
    /// `value(name)`, escaped so that two different sets of values never
    /// give the same name. With two placeholders or more, `%` and the
    /// characters of the text between placeholders are written `%XX` (their
    /// UTF-8 bytes) inside values: `c-{a}-{b}` gives `c-x%2Dy-z` for
    /// (`x-y`, `z`) and `c-x-y%2Dz` for (`x`, `y-z`). A template with one
    /// placeholder prints its value as it is. [`read_name`](Self::read_name)
    /// reads the values back.
    pub fn fill_name<E>(
        &self,
        mut value: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<String, E> {
        let escaped = self.escaped_chars();
        self.fill(|name| {
            let text = value(name)?;
            Ok(escape(&text, &escaped))
        })
    }

    /// The placeholder values a name made by [`fill_name`](Self::fill_name)
    /// was filled with, in placeholder order; `None` when the name does not
    /// come from this template.
    pub fn read_name(&self, name: &str) -> Option<Vec<(String, String)>> {
        let escaped = self.escaped_chars();
        let mut rest = name;
        let mut values = Vec::new();
        let count = self.pieces.len();
        for (i, piece) in self.pieces.iter().enumerate() {
            match piece {
                Piece::Text(text) => rest = rest.strip_prefix(text.as_str())?,
                Piece::Placeholder { name, .. } => {
                    let raw = match self.pieces.get(i + 1) {
                        None => std::mem::take(&mut rest),
                        // The last text: the value ends where it starts, from the end.
                        Some(Piece::Text(next)) if i + 2 == count => {
                            let value = rest.strip_suffix(next.as_str())?;
                            rest = &rest[value.len()..];
                            value
                        }
                        Some(Piece::Text(next)) => {
                            let at = rest.find(next.as_str())?;
                            let value = &rest[..at];
                            rest = &rest[at..];
                            value
                        }
                        Some(Piece::Placeholder { .. }) => return None,
                    };
                    values.push((name.clone(), unescape(raw, &escaped)?));
                }
            }
        }
        rest.is_empty().then_some(values)
    }
}

fn escape(text: &str, escaped: &[char]) -> String {
    if escaped.is_empty() || !text.chars().any(|c| escaped.contains(&c)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if escaped.contains(&c) {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`escape`]; `None` for text `escape` cannot have written.
fn unescape(text: &str, escaped: &[char]) -> Option<String> {
    if escaped.is_empty() {
        return Some(text.to_owned());
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let hex: String = chars.by_ref().take(2).collect();
            bytes.push(
                u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)?,
            );
        } else if escaped.contains(&c) {
            return None;
        } else {
            let mut buffer = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
        }
    }
    let value = String::from_utf8(bytes).ok()?;
    // Only the one spelling `escape` writes (no `%41` for `A`).
    (escape(&value, escaped) == text).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_specs_and_braces() {
        let template = Template::parse("inv-{{x}}-{ company_id }-{value:05}").unwrap();
        assert_eq!(
            template.pieces,
            [
                Piece::Text("inv-{x}-".into()),
                Piece::Placeholder {
                    name: "company_id".into(),
                    spec: None
                },
                Piece::Text("-".into()),
                Piece::Placeholder {
                    name: "value".into(),
                    spec: Some("05".into())
                },
            ]
        );
        assert_eq!(
            template.fill(|name| Ok::<_, ()>(name.to_uppercase())),
            Ok("inv-{x}-COMPANY_ID-VALUE".to_owned())
        );
        assert_eq!(Template::parse("a{"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("a}"), Err(TemplateError::Unmatched));
        assert_eq!(Template::parse("{ }"), Err(TemplateError::EmptyPlaceholder));
        assert_eq!(Template::parse(""), Err(TemplateError::Empty));
    }

    #[test]
    fn names_are_injective_and_read_back() {
        let template = Template::parse("c-{a}-{b}").unwrap();
        let name = |a: &str, b: &str| {
            template
                .fill_name(|n| Ok::<_, ()>(if n == "a" { a } else { b }.to_owned()))
                .unwrap()
        };
        assert_eq!(name("x-y", "z"), "c-x%2Dy-z");
        assert_eq!(name("x", "y-z"), "c-x-y%2Dz");
        assert_ne!(name("x-y", "z"), name("x", "y-z"));
        assert_eq!(name("5%", "é-"), "c-5%25-é%2D");
        for (a, b) in [
            ("x-y", "z"),
            ("x", "y-z"),
            ("", ""),
            ("%2D", "-%-"),
            ("é", "ü-"),
        ] {
            let read = template.read_name(&name(a, b)).unwrap();
            assert_eq!(read, [("a".into(), a.into()), ("b".into(), b.into())]);
        }
        assert_eq!(template.read_name("c-x-y-z"), None);
        assert_eq!(template.read_name("d-x-y"), None);
        // One placeholder: printed as it is, read back between prefix and suffix.
        let one = Template::parse("invoice-{company}!").unwrap();
        assert_eq!(
            one.fill_name(|_| Ok::<_, ()>("a-b%".into())).unwrap(),
            "invoice-a-b%!"
        );
        assert_eq!(
            one.read_name("invoice-a-b%!").unwrap(),
            [("company".into(), "a-b%".into())]
        );
        assert_eq!(Template::parse("x").unwrap().read_name("x"), Some(vec![]));
        assert!(Template::parse("{a}{b}").unwrap().ambiguity().is_some());
        assert!(Template::parse("{a}-{b}").unwrap().ambiguity().is_none());
    }
}
