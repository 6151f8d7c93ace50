//! The `#[gapless(...)]` attributes, parsed into plain structs that keep
//! their tokens for error spans.

use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Lit, LitStr, UnOp};

/// `#[gapless(...)]` on the struct.
#[derive(Default)]
pub struct ContainerAttrs {
    /// `#[gapless(custom_behavior)]`: the user implements `ActiveModelBehavior`
    /// and calls `fill_gapless` from their own `before_save`.
    pub custom_behavior: bool,
}

/// `#[gapless(sequence = "...", initial_value = N, reset_value = M, period = "year",
/// fiscal_year_start = M, date = "field", time_zone = "...", chronological,
/// format = "...", on_delete = "...")]` or `#[gapless(value_of = "field")]` on a field.
pub struct FieldAttrs {
    /// The attribute itself, for errors about the whole of it.
    pub attr: Attribute,
    pub sequence: Option<LitStr>,
    pub initial_value: Option<IntLit>,
    /// `max_value = N`: the end of the sequence's range.
    pub max_value: Option<IntLit>,
    /// `warn_at = N`: a tracing warning from this value on.
    pub warn_at: Option<IntLit>,
    pub reset_value: Option<IntLit>,
    pub period: Option<LitStr>,
    pub date: Option<LitStr>,
    pub format: Option<LitStr>,
    pub value_of: Option<LitStr>,
    pub time_zone: Option<LitStr>,
    pub on_delete: Option<LitStr>,
    /// `chain = "hash_field"` and `chain_covers = "field, field"`.
    pub chain: Option<LitStr>,
    pub chain_covers: Option<LitStr>,
    /// `chain_key_env = "VAR"`: the chain is keyed with the key in `VAR`.
    pub chain_key_env: Option<LitStr>,
    /// `counter_table = "django"` (or `"sequences"`, the default).
    pub counter_table: Option<LitStr>,
    pub fiscal_year_start: Option<IntLit>,
    /// `chronological`, a flag; the path, for errors.
    pub chronological: Option<syn::Path>,
    /// `deferred`, a flag.
    pub deferred: Option<syn::Path>,
    /// `by_database`, a flag.
    pub by_database: Option<syn::Path>,
    /// `after_commit`, a flag.
    pub after_commit: Option<syn::Path>,
}

/// An integer literal, possibly negative, with its tokens.
pub struct IntLit {
    pub value: i64,
    pub expr: Expr,
}

pub fn container(attrs: &[Attribute]) -> syn::Result<ContainerAttrs> {
    let mut parsed = ContainerAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("gapless")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("custom_behavior") {
                if parsed.custom_behavior {
                    return Err(meta.error("duplicate `custom_behavior`"));
                }
                parsed.custom_behavior = true;
                Ok(())
            } else {
                Err(meta.error(
                    "unknown gapless option on a struct; the one option here is `custom_behavior`",
                ))
            }
        })?;
    }
    Ok(parsed)
}

/// The field's `#[gapless]` attribute, if any. Two of them are an error.
pub fn field(attrs: &[Attribute]) -> syn::Result<Option<FieldAttrs>> {
    let mut found: Option<FieldAttrs> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("gapless")) {
        if found.is_some() {
            return Err(syn::Error::new_spanned(
                attr,
                "duplicate #[gapless] attribute; put every option in one",
            ));
        }
        let mut parsed = FieldAttrs {
            attr: attr.clone(),
            sequence: None,
            initial_value: None,
            max_value: None,
            warn_at: None,
            reset_value: None,
            period: None,
            date: None,
            format: None,
            value_of: None,
            time_zone: None,
            on_delete: None,
            chain: None,
            chain_covers: None,
            chain_key_env: None,
            counter_table: None,
            fiscal_year_start: None,
            chronological: None,
            deferred: None,
            by_database: None,
            after_commit: None,
        };
        attr.parse_nested_meta(|meta| {
            let slot_name = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match slot_name.as_str() {
                "chronological" | "deferred" | "by_database" | "after_commit" => {
                    let slot = match slot_name.as_str() {
                        "deferred" => &mut parsed.deferred,
                        "by_database" => &mut parsed.by_database,
                        "after_commit" => &mut parsed.after_commit,
                        _ => &mut parsed.chronological,
                    };
                    if slot.is_some() {
                        return Err(meta.error(format!("duplicate `{slot_name}`")));
                    }
                    *slot = Some(meta.path.clone());
                }
                "sequence" | "period" | "date" | "format" | "value_of" | "time_zone"
                | "on_delete" | "chain" | "chain_covers" | "chain_key_env" | "counter_table" => {
                    let slot = match slot_name.as_str() {
                        "sequence" => &mut parsed.sequence,
                        "period" => &mut parsed.period,
                        "date" => &mut parsed.date,
                        "format" => &mut parsed.format,
                        "time_zone" => &mut parsed.time_zone,
                        "on_delete" => &mut parsed.on_delete,
                        "chain" => &mut parsed.chain,
                        "chain_covers" => &mut parsed.chain_covers,
                        "chain_key_env" => &mut parsed.chain_key_env,
                        "counter_table" => &mut parsed.counter_table,
                        _ => &mut parsed.value_of,
                    };
                    if slot.is_some() {
                        return Err(meta.error(format!("duplicate `{slot_name}`")));
                    }
                    *slot = Some(meta.value()?.parse()?);
                }
                "initial_value" | "reset_value" | "fiscal_year_start" | "max_value"
                | "warn_at" => {
                    let slot = match slot_name.as_str() {
                        "initial_value" => &mut parsed.initial_value,
                        "max_value" => &mut parsed.max_value,
                        "warn_at" => &mut parsed.warn_at,
                        "reset_value" => &mut parsed.reset_value,
                        _ => &mut parsed.fiscal_year_start,
                    };
                    if slot.is_some() {
                        return Err(meta.error(format!("duplicate `{slot_name}`")));
                    }
                    *slot = Some(int_lit(meta.value()?.parse()?)?);
                }
                _ => {
                    return Err(meta.error(
                        "unknown gapless option; expected `sequence`, `initial_value`, \
                         `max_value`, `warn_at`, \
                         `reset_value`, `period`, `fiscal_year_start`, `date`, `time_zone`, \
                         `chronological`, `deferred`, `by_database`, `after_commit`, `format`, `on_delete`, `chain`, \
                         `chain_covers`, `chain_key_env`, `counter_table` or `value_of`",
                    ));
                }
            }
            Ok(())
        })?;
        found = Some(parsed);
    }
    Ok(found)
}

fn int_lit(expr: Expr) -> syn::Result<IntLit> {
    let (negative, lit) = match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => (false, lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr: inner,
            ..
        }) => match inner.as_ref() {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => (true, lit),
            _ => return Err(syn::Error::new(expr.span(), "expected an integer literal")),
        },
        _ => return Err(syn::Error::new(expr.span(), "expected an integer literal")),
    };
    let magnitude: i128 = lit.base10_parse()?;
    let value = if negative { -magnitude } else { magnitude };
    let value = i64::try_from(value)
        .map_err(|_| syn::Error::new(expr.span(), "the value does not fit an i64"))?;
    Ok(IntLit { value, expr })
}
