//! The only place that writes `quote!`: the generated `ActiveModel` methods
//! and, unless `custom_behavior`, its `ActiveModelBehavior`.

use heck::ToUpperCamelCase;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::DeriveInput;

use sequences_template::rules::Moment;
use syn::ext::IdentExt;

use crate::ast::Input;
use crate::valid::{self, DaySource, Numbered, OnDelete, Period, Valid};

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
    let _ = input;
    let fields = valid.numbered.iter().map(numbered_field);
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
    let behavior = (!valid.custom_behavior).then(|| {
        quote! {
            #[#private::async_trait]
            impl #private::sea_orm::ActiveModelBehavior for ActiveModel {
                async fn before_save<C>(self, db: &C, insert: bool) -> ::core::result::Result<Self, #private::sea_orm::DbErr>
                where
                    C: #private::sea_orm::ConnectionTrait,
                {
                    Self::gapless_numbering().before_save(self, db, insert).await
                }

                async fn after_save<C>(
                    model: Model,
                    db: &C,
                    insert: bool,
                ) -> ::core::result::Result<Model, #private::sea_orm::DbErr>
                where
                    C: #private::sea_orm::ConnectionTrait,
                {
                    Self::gapless_numbering().after_save(model, db, insert).await
                }

                async fn before_delete<C>(self, db: &C) -> ::core::result::Result<Self, #private::sea_orm::DbErr>
                where
                    C: #private::sea_orm::ConnectionTrait,
                {
                    Self::gapless_numbering().before_delete(self, db).await
                }

                async fn after_delete<C>(self, db: &C) -> ::core::result::Result<Self, #private::sea_orm::DbErr>
                where
                    C: #private::sea_orm::ConnectionTrait,
                {
                    Self::gapless_numbering().after_delete(self, db).await
                }
            }
        }
    });

    quote! {
        impl ActiveModel {
            /// The numbering the `#[gapless]` attributes describe, built and
            /// checked once: what `fill_gapless` runs.
            pub fn gapless_numbering() -> &'static #private::Numbering<Column> {
                static NUMBERING: ::std::sync::OnceLock<#private::Numbering<Column>> =
                    ::std::sync::OnceLock::new();
                NUMBERING.get_or_init(|| #private::Numbering::new() #(.field_with(#fields))*)
            }

            #[doc = #fill_doc]
            pub async fn fill_gapless<C>(self, db: &C) -> ::core::result::Result<Self, #private::sea_orm::DbErr>
            where
                C: #private::sea_orm::ConnectionTrait,
            {
                Self::gapless_numbering().fill(self, db).await
            }

            /// The bulk path of deferred fields: records rows already inserted
            /// (by `insert_many(..).exec_with_returning(..)`, which runs no hooks)
            /// to be numbered just before COMMIT by `sequences_core::transaction`
            /// or `Retry::transaction`.
            pub async fn defer_gapless_many<C>(
                models: &[Model],
                db: &C,
            ) -> ::core::result::Result<(), #private::sea_orm::DbErr>
            where
                C: #private::sea_orm::ConnectionTrait,
            {
                Self::gapless_numbering().defer_many(models, db).await
            }

            #[doc = #fill_many_doc]
            pub async fn fill_gapless_many<C>(
                models: ::std::vec::Vec<Self>,
                db: &C,
            ) -> ::core::result::Result<::std::vec::Vec<Self>, #private::sea_orm::DbErr>
            where
                C: #private::sea_orm::ConnectionTrait,
            {
                Self::gapless_numbering().fill_many(models, db).await
            }
        }

        #behavior
    }
}

/// The entity's `Column` variant of a field, as `DeriveEntityModel` names it.
fn column(field: &Ident) -> TokenStream {
    let variant = format_ident!(
        "{}",
        field.unraw().to_string().to_upper_camel_case(),
        span = field.span()
    );
    quote!(Column::#variant)
}

/// The `NumberedField` of one `#[gapless]` field.
fn numbered_field(numbered: &Numbered) -> TokenStream {
    let private = quote!(::sequences_core::__private);
    let target = column(numbered.field);
    let template = &numbered.template;
    let initial = numbered
        .initial_value
        .map(|value| quote!(.initial_value(#value)));
    let reset = numbered
        .reset_value
        .map(|value| quote!(.reset_value(#value)));
    let max = numbered.max_value.map(|value| quote!(.max_value(#value)));
    let warn = numbered.warn_at.map(|value| quote!(.warn_at(#value)));
    let table = numbered
        .django_table
        .then(|| quote!(.counter_table(#private::CounterTable::Django)));
    let period = numbered.period.map(|period| {
        let period = match period {
            Period::Year => quote!(Year),
            Period::Month => quote!(Month),
            Period::Day => quote!(Day),
            Period::FiscalYear(start_month) => quote!(FiscalYear { start_month: #start_month }),
        };
        quote!(.period(#private::Period::#period))
    });
    let date = match &numbered.day {
        Some(DaySource::Field(date)) => {
            let date = column(date);
            Some(quote!(.date(#date)))
        }
        Some(DaySource::Database) | None => None,
    };
    let format = numbered.format.as_ref().map(|format| {
        let text = &format.template;
        quote!(.format(#text))
    });
    let raw = numbered.raw_fields.iter().map(|raw| {
        let raw = column(raw);
        quote!(.raw_value(#raw))
    });
    let chronological = numbered.chronological.then(|| quote!(.chronological()));
    let moment = match numbered.moment {
        Moment::OnInsert => None,
        Moment::AtCommit => Some(quote!(.moment(#private::Moment::AtCommit))),
        Moment::ByDatabase => Some(quote!(.moment(#private::Moment::ByDatabase))),
        Moment::AfterCommit => Some(quote!(.moment(#private::Moment::AfterCommit))),
    };
    let chain = numbered.chain.as_ref().map(|(hash, covers)| {
        let hash = column(hash);
        let covers = covers.iter().map(|c| column(c));
        quote!(.chain(#hash, [#(#covers),*]))
    });
    let chain_key = numbered
        .chain_key_env
        .as_ref()
        .map(|var| quote!(.chain_key(#private::ChainKey::from_env(#var))));
    let zone = numbered
        .time_zone
        .as_ref()
        .map(|zone| quote!(.time_zone(#zone)));
    let on_delete = numbered.on_delete.map(|policy| {
        let policy = match policy {
            OnDelete::Refuse => quote!(Refuse),
            OnDelete::Void => quote!(Void),
            OnDelete::RevertIfLast => quote!(RevertIfLast),
            OnDelete::Allow => quote!(Allow),
        };
        quote!(.on_delete(#private::OnDelete::#policy))
    });
    quote! {
        #private::NumberedField::new(#target, #private::Sequence::new(#template) #initial #reset #max #warn #table)
            #period #date #zone #chronological #format #(#raw)* #on_delete #moment #chain #chain_key
    }
}
