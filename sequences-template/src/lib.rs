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

    /// The text with every placeholder replaced by `value(name)`.
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
}
