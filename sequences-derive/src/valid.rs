//! Every rule a user can break, each a compile error at the offending tokens.

use proc_macro2::Ident;
use syn::LitStr;

use crate::ast::{self, Input, Segment};

/// A numbered field, checked and ready to expand.
pub struct Numbered<'a> {
    pub field: &'a Ident,
    pub template: LitStr,
    pub segments: Vec<ValidSegment<'a>>,
    pub initial_value: Option<i64>,
    pub reset_value: Option<i64>,
}

pub enum ValidSegment<'a> {
    Text(String),
    /// A placeholder: the field it reads, and whether that field is an `Option`.
    Field {
        ident: &'a Ident,
        optional: bool,
    },
}

pub struct Valid<'a> {
    pub custom_behavior: bool,
    pub numbered: Vec<Numbered<'a>>,
}

pub fn validate<'a>(input: &'a Input<'a>) -> syn::Result<Valid<'a>> {
    let mut errors: Option<syn::Error> = None;
    let mut numbered = Vec::new();
    for (field, attrs) in input.numbered() {
        match numbered_field(input, field, attrs) {
            Ok(valid) => numbered.push(valid),
            Err(error) => push(&mut errors, error),
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

fn numbered_field<'a>(
    input: &'a Input<'a>,
    field: &'a ast::Field<'a>,
    attrs: &'a crate::attr::FieldAttrs,
) -> syn::Result<Numbered<'a>> {
    let Some(template) = &attrs.sequence else {
        return Err(syn::Error::new_spanned(
            &attrs.attr,
            "missing `sequence = \"...\"` in #[gapless(...)]",
        ));
    };
    let Some(number) = ast::number_type(field.ty) else {
        return Err(syn::Error::new_spanned(
            field.ty,
            "a #[gapless] field must be i32, i64, u32, u64, or an Option of one of them",
        ));
    };

    let mut segments = Vec::new();
    for segment in ast::parse_template(template)? {
        match segment {
            Segment::Text(text) => segments.push(ValidSegment::Text(text)),
            Segment::Field(name) => {
                let Some(source) = input.field(&name) else {
                    return Err(syn::Error::new(
                        template.span(),
                        format!("placeholder `{{{name}}}` names no field of this struct"),
                    ));
                };
                if source.gapless.is_some() {
                    return Err(syn::Error::new(
                        template.span(),
                        format!(
                            "placeholder `{{{name}}}` names a field numbered by #[gapless]; \
                             a sequence name can only use fields the caller sets"
                        ),
                    ));
                }
                segments.push(ValidSegment::Field {
                    ident: source.ident,
                    optional: ast::option_inner(source.ty).is_some(),
                });
            }
        }
    }

    let (min, max) = number.range();
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
    Ok(Numbered {
        field: field.ident,
        template: template.clone(),
        segments,
        initial_value: initial.map(|i| i.value),
        reset_value: reset.map(|r| r.value),
    })
}
