//! A typed model of the derive input: the struct, its fields, and for each
//! numbered field its sequence template and integer type.

use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, PathArguments, Type};

use sequences_template::rules::{IntType, Kind};

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

/// The integer of `i32`, `Option<u64>`, ... or `None` for any other type:
/// the four types the expansion stores a number into.
pub fn number_type(ty: &Type) -> Option<IntType> {
    let int = |ty: &Type| -> Option<IntType> {
        let Type::Path(path) = ty else { return None };
        if path.qself.is_some() {
            return None;
        }
        match path.path.get_ident()?.to_string().as_str() {
            name @ ("i32" | "i64" | "u32" | "u64") => IntType::named(name),
            _ => None,
        }
    };
    int(ty).or_else(|| option_inner(ty).and_then(int))
}

/// What the shared rules know of a field's type, from its tokens: the last
/// path segment, through an `Option`. A name the derive cannot place (a type
/// alias) is `Kind::Unknown`, which type rules let through for the runtime's
/// check of the column type.
pub fn kind(ty: &Type) -> Kind {
    let ty = option_inner(ty).unwrap_or(ty);
    let Type::Path(path) = ty else {
        return Kind::Other;
    };
    let Some(last) = path.path.segments.last() else {
        return Kind::Other;
    };
    let name = last.ident.to_string();
    if let Some(int) = IntType::named(&name) {
        return Kind::Integer(int);
    }
    match name.as_str() {
        "String" => Kind::Text,
        "Date" | "NaiveDate" => Kind::Date,
        "f32"
        | "f64"
        | "bool"
        | "char"
        | "i128"
        | "u128"
        | "Decimal"
        | "DateTime"
        | "DateTimeUtc"
        | "DateTimeLocal"
        | "DateTimeWithTimeZone"
        | "NaiveDateTime"
        | "NaiveTime"
        | "Time"
        | "Uuid"
        | "Json"
        | "Vec" => Kind::Other,
        _ => Kind::Unknown,
    }
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
