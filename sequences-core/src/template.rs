//! The one parser of `{placeholder}` templates: sequence names
//! (`invoice-{company_id}`), formats (`{journal}-{year}-{value:05}`) and the
//! audit's sequence names. `{{` and `}}` are literal braces.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text, braces unescaped.
    Text(String),
    /// `{name}` or `{name:spec}`.
    Placeholder { name: String, spec: Option<String> },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`; the error says what is wrong, for a message that names
    /// the template.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
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
                            None => return Err("unclosed `{` (write `{{` for a brace)".into()),
                        }
                    }
                    let (name, spec) = match inner.split_once(':') {
                        Some((name, spec)) => (name.trim(), Some(spec.trim().to_owned())),
                        None => (inner.trim(), None),
                    };
                    if name.is_empty() {
                        return Err("empty `{}`; name a column, as in `{company_id}`".into());
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Placeholder {
                        name: name.to_owned(),
                        spec,
                    });
                }
                '}' => return Err("unmatched `}` (write `}}` for a brace)".into()),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if pieces.is_empty() {
            return Err("it is empty".into());
        }
        Ok(Self { pieces })
    }

    /// The placeholders' names, in order.
    pub(crate) fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Placeholder { name, .. } => Some(name.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// The text with every placeholder replaced by `value(name)`.
    pub(crate) fn fill<E>(
        &self,
        mut value: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<String, E> {
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
        for bad in ["a{", "a}", "{}", ""] {
            assert!(Template::parse(bad).is_err(), "{bad:?}");
        }
    }
}
