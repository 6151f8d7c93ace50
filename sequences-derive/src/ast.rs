//! A typed model of the derive input: the struct, its fields, and for each
//! numbered field its sequence template and integer type.

use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, LitStr, PathArguments, Type};

use sequences_template::{Piece, Template};

use crate::attr::{self, ContainerAttrs, FieldAttrs};

pub struct Input<'a> {
    pub ident: &'a Ident,
    pub attrs: ContainerAttrs,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    /// `Some` for the fields numbered by `#[gapless]`.
    pub gapless: Option<FieldAttrs>,
}

/// The integer types a numbered field may have.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum IntType {
    I32,
    I64,
    U32,
    U64,
}

impl IntType {
    pub fn range(self) -> (i128, i128) {
        match self {
            IntType::I32 => (i32::MIN.into(), i32::MAX.into()),
            IntType::I64 => (i64::MIN.into(), i64::MAX.into()),
            IntType::U32 => (0, u32::MAX.into()),
            IntType::U64 => (0, u64::MAX.into()),
        }
    }
}

impl<'a> Input<'a> {
    pub fn from_syn(input: &'a DeriveInput) -> syn::Result<Self> {
        let Data::Struct(data) = &input.data else {
            return Err(syn::Error::new_spanned(
                input,
                "#[derive(Gapless)] goes on a SeaORM `Model` struct",
            ));
        };
        let Fields::Named(named) = &data.fields else {
            return Err(syn::Error::new_spanned(
                &data.fields,
                "#[derive(Gapless)] needs a struct with named fields",
            ));
        };
        let fields = named
            .named
            .iter()
            .map(|field| {
                Ok(Field {
                    ident: field.ident.as_ref().expect("named field"),
                    ty: &field.ty,
                    gapless: attr::field(&field.attrs)?,
                })
            })
            .collect::<syn::Result<_>>()?;
        Ok(Input {
            ident: &input.ident,
            attrs: attr::container(&input.attrs)?,
            fields,
        })
    }

    pub fn numbered(&self) -> impl Iterator<Item = (&Field<'a>, &FieldAttrs)> {
        self.fields
            .iter()
            .filter_map(|field| field.gapless.as_ref().map(|attrs| (field, attrs)))
    }

    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|field| field.ident == name)
    }
}

/// The integer of `i32`, `Option<u64>`, ... or `None` for any other type.
pub fn number_type(ty: &Type) -> Option<IntType> {
    let int = |ty: &Type| -> Option<IntType> {
        let Type::Path(path) = ty else { return None };
        if path.qself.is_some() {
            return None;
        }
        match path.path.get_ident()?.to_string().as_str() {
            "i32" => Some(IntType::I32),
            "i64" => Some(IntType::I64),
            "u32" => Some(IntType::U32),
            "u64" => Some(IntType::U64),
            _ => None,
        }
    };
    int(ty).or_else(|| option_inner(ty).and_then(int))
}

/// Whether the type is `String` or `Option<String>`.
pub fn is_string(ty: &Type) -> bool {
    let string = |ty: &Type| matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "String"));
    string(ty) || option_inner(ty).is_some_and(string)
}

/// `T` of `Option<T>` (also `std::option::Option<T>`).
pub fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// Splits `invoice-{company_id}` into text and placeholders with the parser
/// the runtime uses (`sequences-template`). `what` names the template in
/// errors ("sequence name", "format").
pub fn parse_template(template: &LitStr, what: &str) -> syn::Result<Vec<Piece>> {
    Template::parse(&template.value())
        .map(|template| template.pieces)
        .map_err(|error| syn::Error::new(template.span(), format!("invalid {what}: {error}")))
}
