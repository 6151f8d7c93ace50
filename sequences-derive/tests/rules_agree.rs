//! The derive and the runtime builder keep the same rules with the same
//! messages: every UI case that breaks a rule of a numbered field is built
//! again with `Numbering`, which must refuse it with `InvalidNumbering` and
//! the message of the case's `.stderr`. A new UI case needs a twin here, or
//! a place in `DERIVE_ONLY` with the reason the runtime cannot express it.

use std::path::Path;

use sequences_core::{
    ChainKey, CounterTable, NumberedField, Numbering, OnDelete, Period, Sequence, SequenceError,
};

mod invoice {
    use sea_orm::entity::prelude::*;

    /// One column of every type the UI cases use.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub company_id: i32,
        pub journal: String,
        pub issued_on: Date,
        pub amount_cents: i64,
        pub hash: Option<String>,
        pub number: i64,
        pub other: i64,
        pub copy: i64,
        pub unsigned_number: u32,
        pub amount: f64,
        pub reference: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use invoice::Column;

/// UI cases the runtime cannot express, and why.
const DERIVE_ONLY: &[(&str, &str)] = &[
    (
        "bad_counter_table",
        "the runtime takes `CounterTable`, an enum: no unknown table",
    ),
    (
        "bad_on_delete",
        "the runtime takes `OnDelete`, an enum: no unknown policy",
    ),
    (
        "bad_period",
        "the runtime takes `Period`, an enum: no unknown period",
    ),
    (
        "chain_covers_unknown_field",
        "the runtime names covered columns by `Column`: they exist",
    ),
    (
        "fiscal_year_without_start",
        "`Period::FiscalYear` always carries its start month",
    ),
    (
        "format_missing_date_field",
        "the runtime names the date by `Column`: it exists",
    ),
    (
        "missing_sequence",
        "attribute syntax: `NumberedField::new` takes a Sequence",
    ),
    (
        "no_numbered_field",
        "the struct, not a field: a Numbering of no field numbers nothing",
    ),
    (
        "not_an_integer",
        "attribute syntax: the runtime takes an i64",
    ),
    (
        "unknown_option",
        "attribute syntax: the runtime has methods",
    ),
];

type Twin = fn() -> Numbering<Column>;

fn field(column: Column, name: &str) -> NumberedField<Column> {
    NumberedField::new(column, Sequence::new(name))
}

fn one(field: NumberedField<Column>) -> Numbering<Column> {
    Numbering::new().field_with(field)
}

/// Each UI case that breaks a rule, described to the runtime builder.
const TWINS: &[(&str, Twin)] = &[
    ("ambiguous_sequence_name", || {
        one(field(Column::Number, "invoice-{journal}{company_id}"))
    }),
    ("bad_time_zone", || {
        one(field(Column::Number, "invoice")
            .period(Period::Year)
            .date(Column::IssuedOn)
            .time_zone("Europe/Pariss"))
    }),
    ("after_commit_not_option", || {
        one(field(Column::Number, "receipt").after_commit())
    }),
    ("by_database_formatted_without_raw", || {
        one(field(Column::Reference, "receipt-{journal}")
            .format("R-{value:03}")
            .by_database()
            .on_delete(OnDelete::Void))
    }),
    ("chain_covers_unprintable_type", || {
        one(field(Column::Number, "invoice").chain(Column::Hash, [Column::Amount]))
    }),
    ("chain_key_without_chain", || {
        one(field(Column::Number, "invoice").chain_key(ChainKey::from_env("INVOICE_CHAIN_KEY")))
    }),
    ("chain_not_a_string", || {
        one(field(Column::Number, "invoice").chain(Column::AmountCents, []))
    }),
    ("chain_revert_if_last", || {
        one(field(Column::Number, "invoice")
            .chain(Column::Hash, [Column::AmountCents])
            .on_delete(OnDelete::RevertIfLast))
    }),
    ("chronological_without_date", || {
        one(field(Column::Number, "invoice").chronological())
    }),
    ("django_table_by_database", || {
        one(NumberedField::new(
            Column::Number,
            Sequence::new("invoice").counter_table(CounterTable::Django),
        )
        .by_database())
    }),
    ("deferred_not_option", || {
        one(field(Column::Number, "invoice").deferred())
    }),
    ("fiscal_period_not_printed", || {
        one(field(Column::Reference, "invoice")
            .period(Period::FiscalYear { start_month: 4 })
            .date(Column::IssuedOn)
            .format("{year}-{value}"))
    }),
    ("fiscal_placeholder_without_fiscal_period", || {
        one(field(Column::Reference, "invoice")
            .period(Period::Year)
            .date(Column::IssuedOn)
            .format("{year}/{fy}-{value}"))
    }),
    ("fiscal_year_start_out_of_range", || {
        one(field(Column::Number, "invoice")
            .period(Period::FiscalYear { start_month: 13 })
            .date(Column::IssuedOn))
    }),
    ("format_date_without_source", || {
        one(field(Column::Reference, "invoice").format("INV-{year}-{value}"))
    }),
    ("format_period_not_printed", || {
        one(field(Column::Reference, "invoice")
            .period(Period::Month)
            .date(Column::IssuedOn)
            .format("{year}-{value:04}"))
    }),
    ("format_unknown_placeholder", || {
        one(field(Column::Reference, "invoice").format("{journal}-{branch}-{value}"))
    }),
    ("format_value_count", || {
        one(field(Column::Reference, "invoice").format("INV-{journal}"))
    }),
    ("negative_initial_unsigned", || {
        one(NumberedField::new(
            Column::UnsignedNumber,
            Sequence::new("a").initial_value(-1),
        ))
    }),
    ("placeholder_names_numbered_field", || {
        Numbering::new()
            .field(Column::Number, Sequence::new("a"))
            .field(Column::Other, Sequence::new("b-{number}"))
    }),
    ("reset_not_above_initial", || {
        one(NumberedField::new(
            Column::Number,
            Sequence::new("slot").initial_value(10).reset_value(10),
        ))
    }),
    ("string_without_format", || {
        one(field(Column::Reference, "invoice-{journal}"))
    }),
    ("unbalanced_braces", || {
        one(field(Column::Number, "invoice-{company_id"))
    }),
    ("unknown_placeholder", || {
        one(field(Column::Number, "invoice-{company}"))
    }),
    ("unsupported_type", || one(field(Column::Amount, "invoice"))),
    ("value_of_without_format", || {
        one(field(Column::Number, "invoice").raw_value(Column::Copy))
    }),
    ("warn_at_past_max_value", || {
        one(NumberedField::new(
            Column::Number,
            Sequence::new("invoice").max_value(9999).warn_at(10000),
        ))
    }),
    ("width_in_sequence_name", || {
        one(field(Column::Number, "invoice-{company_id:05}"))
    }),
];

/// The first error message of a UI case's `.stderr`.
fn derive_message(case: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/ui/{case}.stderr"));
    let stderr = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or_else(|| panic!("{path:?} holds no error"))
        .to_owned()
}

#[test]
fn every_rule_case_is_refused_by_the_runtime_with_the_same_message() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let mut cases: Vec<String> = std::fs::read_dir(&ui)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        let derive_only = DERIVE_ONLY.iter().any(|(name, _)| name == case);
        let twin = TWINS.iter().find(|(name, _)| name == case);
        let twin = match (twin, derive_only) {
            (Some(_), true) => {
                failures.push(format!("{case}: both in TWINS and in DERIVE_ONLY"));
                continue;
            }
            (None, true) => continue,
            (None, false) => {
                failures.push(format!(
                    "{case}: a new UI case; add its runtime twin to TWINS, or say in \
                     DERIVE_ONLY why the runtime cannot express it"
                ));
                continue;
            }
            (Some((_, twin)), false) => twin,
        };
        let expected = derive_message(case);
        match twin().validate() {
            Err(SequenceError::InvalidNumbering { reason, .. }) if reason == expected => {}
            Err(SequenceError::InvalidNumbering { reason, .. }) => failures.push(format!(
                "{case}: the runtime says {reason:?}, the derive {expected:?}"
            )),
            other => failures.push(format!(
                "{case}: the runtime gives {other:?}, the derive {expected:?}"
            )),
        }
    }
    let listed = TWINS
        .iter()
        .map(|(name, _)| *name)
        .chain(DERIVE_ONLY.iter().map(|(name, _)| *name));
    for name in listed {
        if !cases.iter().any(|case| case == name) {
            failures.push(format!("{name}: listed here, but no tests/ui/{name}.rs"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
