//! The only place that writes `quote!`: the generated `ActiveModel` methods
//! and, unless `custom_behavior`, its `ActiveModelBehavior`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::DeriveInput;

use crate::ast::Input;
use crate::valid::{self, DaySource, FormatPiece, Numbered, Period, Valid, ValidSegment};

pub fn derive(input: &DeriveInput) -> TokenStream {
    // `#[sea_orm::model]` copies the derives of `Model` onto a `ModelEx`
    // struct; the hooks belong to `ActiveModel` once, so `ModelEx` gets nothing.
    if input.ident == "ModelEx" {
        return TokenStream::new();
    }
    let expanded = Input::from_syn(input).and_then(|parsed| {
        let valid = valid::validate(&parsed)?;
        Ok(expand(input, &valid))
    });
    expanded.unwrap_or_else(|error| {
        let mut tokens = error.into_compile_error();
        tokens.extend(fallback(input));
        tokens
    })
}

/// On error, still implement `ActiveModelBehavior` (doing nothing), so that the
/// user sees our error alone and not a cascade about the missing impl.
fn fallback(input: &DeriveInput) -> Option<TokenStream> {
    let custom_behavior = crate::attr::container(&input.attrs).map_or(true, |a| a.custom_behavior);
    (!custom_behavior).then(|| {
        quote! {
            impl ::sequences_core::__private::sea_orm::ActiveModelBehavior for ActiveModel {}
        }
    })
}

fn expand(input: &DeriveInput, valid: &Valid) -> TokenStream {
    let private = quote!(::sequences_core::__private);
    let model = &input.ident;
    let plans = valid
        .numbered
        .iter()
        .enumerate()
        .map(|(index, numbered)| plan(index, numbered));
    let assignments = valid
        .numbered
        .iter()
        .enumerate()
        .map(|(index, numbered)| assignment(index, numbered));
    let field_list = valid
        .numbered
        .iter()
        .map(|n| format!("`{}`", n.field))
        .collect::<Vec<_>>()
        .join(", ");
    let fill_doc = format!(
        "Gives every `NotSet` gapless field ({field_list}) the next value of its sequence, \
         through `db`, which must be a transaction. Fields the caller set are kept."
    );
    let fill_many_doc = format!(
        "[`Self::fill_gapless`] for a batch: one statement per distinct sequence, for \
         `insert_many` and `Entity::insert(..).exec(..)`, which do not run hooks. Fields: {field_list}."
    );

    // The database's date, asked at most once per fill, when a field needs it.
    let today = valid
        .numbered
        .iter()
        .any(|n| matches!(n.day, Some(DaySource::Database)))
        .then(|| quote!(let mut __today: ::core::option::Option<#private::Day> = ::core::option::Option::None;));
    let behavior = (!valid.custom_behavior).then(|| {
        quote! {
            #[#private::async_trait]
            impl #private::sea_orm::ActiveModelBehavior for ActiveModel {
                async fn before_save<C>(self, db: &C, insert: bool) -> ::core::result::Result<Self, #private::sea_orm::DbErr>
                where
                    C: #private::sea_orm::ConnectionTrait,
                {
                    if insert { self.fill_gapless(db).await } else { ::core::result::Result::Ok(self) }
                }
            }
        }
    });

    quote! {
        impl ActiveModel {
            #[doc = #fill_doc]
            pub async fn fill_gapless<C>(self, db: &C) -> ::core::result::Result<Self, #private::sea_orm::DbErr>
            where
                C: #private::sea_orm::ConnectionTrait,
            {
                let mut __models = Self::fill_gapless_many(::std::vec![self], db).await?;
                ::core::result::Result::Ok(__models.pop().expect("one model in, one model out"))
            }

            #[doc = #fill_many_doc]
            pub async fn fill_gapless_many<C>(
                mut models: ::std::vec::Vec<Self>,
                db: &C,
            ) -> ::core::result::Result<::std::vec::Vec<Self>, #private::sea_orm::DbErr>
            where
                C: #private::sea_orm::ConnectionTrait,
            {
                #today
                let mut __requests = #private::Requests::new(
                    ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#model)),
                );
                for (__index, __model) in models.iter().enumerate() {
                    #(#plans)*
                }
                for __value in __requests.allocate(db).await? {
                    let __model = &mut models[__value.model];
                    match __value.field {
                        #(#assignments)*
                        _ => ::core::unreachable!("a field index the derive did not emit"),
                    }
                }
                ::core::result::Result::Ok(models)
            }
        }

        #behavior
    }
}

/// For one numbered field of `__model`: if it is not set, build its sequence
/// (filling `{field}` placeholders) and request a value.
fn plan(index: usize, numbered: &Numbered) -> TokenStream {
    let private = quote!(::sequences_core::__private);
    let field = numbered.field;
    let field_name = field.to_string();
    let template = numbered.template.value();
    let name = if numbered
        .segments
        .iter()
        .all(|s| matches!(s, ValidSegment::Text(_)))
    {
        // Braces were unescaped by the parser.
        let text: String = numbered
            .segments
            .iter()
            .map(|s| match s {
                ValidSegment::Text(text) => text.as_str(),
                ValidSegment::Field { .. } => unreachable!(),
            })
            .collect();
        quote!(#text)
    } else {
        let pieces = numbered.segments.iter().enumerate().map(|(i, segment)| match segment {
            ValidSegment::Text(text) => quote!(__name.push_str(#text);),
            ValidSegment::Field { ident, optional } => {
                let placeholder = ident.to_string();
                write_field(
                    ident,
                    *optional,
                    &format_ident!("__name"),
                    &format_ident!("__placeholder_{}", i),
                    &quote!(__requests.missing_placeholder(#template, #placeholder, #field_name)),
                )
            }
        });
        quote!({
            let mut __name = ::std::string::String::new();
            #(#pieces)*
            __name
        })
    };
    let initial = numbered
        .initial_value
        .map(|value| quote!(.initial_value(#value)));
    let reset = numbered
        .reset_value
        .map(|value| quote!(.reset_value(#value)));
    let what = numbered
        .format
        .as_ref()
        .map_or_else(|| template.clone(), |f| f.template.value());
    let day = match &numbered.day {
        None => quote!(::core::option::Option::None),
        Some(DaySource::Field(date)) => {
            let date_name = date.to_string();
            quote! {
                match __model.#date.try_as_ref().and_then(#private::PeriodDate::period_day) {
                    ::core::option::Option::Some(__day) => ::core::option::Option::Some(__day),
                    ::core::option::Option::None => {
                        return ::core::result::Result::Err(
                            __requests.missing_placeholder(#what, #date_name, #field_name).into(),
                        );
                    }
                }
            }
        }
        Some(DaySource::Database) => quote! {
            ::core::option::Option::Some(match __today {
                ::core::option::Option::Some(__day) => __day,
                ::core::option::Option::None => {
                    let __day = #private::database_day(db, #field_name).await?;
                    __today = ::core::option::Option::Some(__day);
                    __day
                }
            })
        },
    };
    let name = match numbered.period {
        None => name,
        Some(period) => {
            let period = match period {
                Period::Year => quote!(#private::Period::Year),
                Period::Month => quote!(#private::Period::Month),
                Period::Day => quote!(#private::Period::Day),
            };
            quote!(#period.sequence_name(&#name, __day.unwrap_or_default()))
        }
    };
    // Fields the format prints must be set too, checked before any allocation.
    let format_checks = numbered.format.iter().flat_map(|format| {
        format.pieces.iter().filter_map(|piece| match piece {
            FormatPiece::Field { ident, optional } => {
                let placeholder = ident.to_string();
                let set = if *optional {
                    quote!(::core::matches!(__model.#ident.try_as_ref(), ::core::option::Option::Some(::core::option::Option::Some(_))))
                } else {
                    quote!(__model.#ident.try_as_ref().is_some())
                };
                Some(quote! {
                    if !#set {
                        return ::core::result::Result::Err(
                            __requests.missing_placeholder(#what, #placeholder, #field_name).into(),
                        );
                    }
                })
            }
            _ => None,
        })
    });
    quote! {
        if __model.#field.is_not_set() {
            #(#format_checks)*
            let __day: ::core::option::Option<#private::Day> = #day;
            let __sequence = #private::Sequence::new(#name) #initial #reset;
            __requests.push(__index, #index, #field_name, __sequence, __day)?;
        }
    }
}

/// Stores one allocated value into `__model`: the number itself, or the
/// formatted reference plus the raw value for its `value_of` fields.
fn assignment(index: usize, numbered: &Numbered) -> TokenStream {
    let private = quote!(::sequences_core::__private);
    let field = numbered.field;
    let Some(format) = &numbered.format else {
        return quote!(#index => __model.#field = #private::sea_orm::ActiveValue::Set(__value.convert()?),);
    };
    let field_name = field.to_string();
    let what = format.template.value();
    let pieces = format
        .pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| match piece {
            FormatPiece::Text(text) => quote!(__text.push_str(#text);),
            FormatPiece::Value(width) => {
                quote!(#private::write_value(&mut __text, __value.value, #width);)
            }
            FormatPiece::Year => quote!(#private::write_value(&mut __text, __day.year.into(), 4);),
            FormatPiece::Month => {
                quote!(#private::write_value(&mut __text, __day.month.into(), 2);)
            }
            FormatPiece::Day => quote!(#private::write_value(&mut __text, __day.day.into(), 2);),
            FormatPiece::Yy => {
                quote!(#private::write_value(&mut __text, (__day.year % 100).into(), 2);)
            }
            FormatPiece::Field { ident, optional } => {
                let placeholder = ident.to_string();
                write_field(
                    ident,
                    *optional,
                    &format_ident!("__text"),
                    &format_ident!("__format_{}", i),
                    &quote!(__value.missing_placeholder(#what, #placeholder, #field_name)),
                )
            }
        });
    let raw = numbered.raw_fields.iter().map(|raw| {
        quote! {
            if __model.#raw.is_not_set() {
                __model.#raw = #private::sea_orm::ActiveValue::Set(__value.convert()?);
            }
        }
    });
    quote! {
        #index => {
            let __day = __value.day();
            let mut __text = ::std::string::String::new();
            #(#pieces)*
            __model.#field = #private::sea_orm::ActiveValue::Set(#private::ReferenceField::from_reference(__text));
            #(#raw)*
        }
    }
}

/// Writes field `ident` of `__model` (its `Display`) into the `String` named
/// `out`; when the field is not set (or `None`), returns the error `missing`.
fn write_field(
    ident: &syn::Ident,
    optional: bool,
    out: &syn::Ident,
    value: &syn::Ident,
    missing: &TokenStream,
) -> TokenStream {
    let pattern = if optional {
        quote!(::core::option::Option::Some(::core::option::Option::Some(#value)))
    } else {
        quote!(::core::option::Option::Some(#value))
    };
    quote! {
        match __model.#ident.try_as_ref() {
            #pattern => {
                ::std::fmt::Write::write_fmt(&mut #out, ::core::format_args!("{}", #value))
                    .expect("formatting into a String");
            }
            _ => return ::core::result::Result::Err(#missing.into()),
        }
    }
}
