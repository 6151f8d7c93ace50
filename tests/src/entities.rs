//! Entities numbered by `#[derive(Gapless)]`, in both SeaORM entity formats.

/// The 2.0 entity format: one counter per company, and a global one from 1000.
pub mod invoice {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub company_id: i32,
        #[gapless(sequence = "invoice-{company_id}")]
        pub number: i64,
        #[gapless(sequence = "invoice-all", initial_value = 1000)]
        pub global_number: i64,
    }
}

/// The classic compact format; optional and narrow fields, a looping counter,
/// and a sequence name built from a string field.
pub mod ticket {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "ticket")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub desk: String,
        pub region: Option<String>,
        #[gapless(sequence = "ticket-{desk}-{region}")]
        pub number: Option<i32>,
        #[gapless(sequence = "ticket-slot-{desk}", initial_value = 0, reset_value = 3)]
        pub slot: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// `custom_behavior`: the user's own `before_save` calls the fill.
pub mod note {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "note")]
    #[gapless(custom_behavior)]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub title: String,
        #[gapless(sequence = "note")]
        pub number: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[async_trait::async_trait]
    impl ActiveModelBehavior for ActiveModel {
        async fn before_save<C>(mut self, db: &C, insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            if let sea_orm::ActiveValue::Set(title) = &self.title {
                self.title = sea_orm::ActiveValue::Set(title.trim().to_string());
            }
            if insert {
                self.fill_gapless(db).await
            } else {
                Ok(self)
            }
        }
    }
}

/// A plain table for the audit tests: rows are planted by hand, with gaps,
/// duplicates and NULLs, one ledger per scope.
pub mod ledger_entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger_entry")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub ledger: String,
        pub number: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Formatted references with per-period counters: a yearly reference by the
/// document's own date (with its raw number beside it), and a monthly receipt
/// by the database's date.
pub mod document {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "document")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub journal: String,
        pub issued_on: Date,
        #[gapless(
            sequence = "invoice-{journal}",
            period = "year",
            date = "issued_on",
            format = "{journal}-{year}-{value:05}"
        )]
        pub reference: String,
        #[gapless(value_of = "reference")]
        pub number: i64,
        #[gapless(
            sequence = "receipt-{journal}",
            period = "month",
            format = "R{yy}{month}-{value:03}"
        )]
        pub receipt: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// The high-availability tests' invoice numbered on insert: `token` names the
/// writer's attempt, so a number can be traced to the transaction that was
/// told it committed.
pub mod failover_invoice {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "failover_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub token: String,
        #[gapless(sequence = "failover")]
        pub number: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// The high-availability tests' invoice numbered at COMMIT (deferred), with
/// its lines, and a token that identifies it across failovers.
pub mod failover_deferred {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "failover_deferred")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub token: String,
        #[gapless(sequence = "failover-deferred", deferred)]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A register of documents numbered in date order per book; deleting one
/// records its number void.
pub mod register_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "register_doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub book: String,
        pub issued_on: Date,
        #[gapless(
            sequence = "register-{book}",
            date = "issued_on",
            chronological,
            on_delete = "void"
        )]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Fiscal years starting in April: `BOOK/2025-26/0001`.
pub mod fiscal_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "fiscal_doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub book: String,
        pub issued_on: Date,
        #[gapless(
            sequence = "fiscal-{book}",
            period = "fiscal_year",
            fiscal_year_start = 4,
            date = "issued_on",
            format = "{book}/{fy}/{value:04}"
        )]
        pub reference: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Till receipts: the year of a UTC timestamp taken in Paris, and a daily
/// counter by the database's clock in the time zone furthest ahead of UTC.
pub mod zoned_receipt {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "zoned_receipt")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub till: String,
        pub at: DateTimeUtc,
        #[gapless(
            sequence = "till-{till}",
            period = "year",
            date = "at",
            time_zone = "Europe/Paris",
            format = "{till}-{year}-{value}"
        )]
        pub reference: String,
        #[gapless(
            sequence = "till-day-{till}",
            period = "day",
            time_zone = "Pacific/Kiritimati",
            format = "{year}{month}{day}-{value}"
        )]
        pub daily: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Deferred numbering: the number is NULL until the transaction's work is
/// done, and taken just before COMMIT.
pub mod deferred_invoice {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "deferred_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub company_id: i32,
        #[gapless(sequence = "deferred-{company_id}", deferred, on_delete = "allow")]
        pub number: Option<i64>,
        #[gapless(
            sequence = "deferred-ref-{company_id}",
            period = "year",
            format = "D{company_id}-{year}-{value:04}",
            deferred,
            on_delete = "allow"
        )]
        pub reference: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// The lines of a deferred invoice: the work done while the number waits.
pub mod deferred_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deferred_line")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub invoice_id: i32,
        pub amount_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A hash-chained register: each record's `hash` covers its number, company,
/// amount and date, after the previous record's hash.
pub mod chained_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "chained_doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub company_id: i32,
        pub amount_cents: i64,
        pub issued_on: Date,
        #[gapless(
            sequence = "chained-{company_id}",
            chain = "hash",
            chain_covers = "company_id, amount_cents, issued_on",
            on_delete = "void"
        )]
        pub number: Option<i64>,
        pub hash: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// The same register numbered at commit: its chain is computed at assignment.
pub mod chained_deferred {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "chained_deferred")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub company_id: i32,
        pub amount_cents: i64,
        #[gapless(
            sequence = "chained-deferred-{company_id}",
            deferred,
            chain = "hash",
            chain_covers = "amount_cents",
            on_delete = "allow"
        )]
        pub number: Option<i64>,
        pub hash: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// The proof tests' register: a chained `INTEGER` number per company (voided
/// on delete) and a second number per urgency flag and company (a boolean
/// placeholder).
pub mod proof_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "proof_doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub company_id: i32,
        pub urgent: bool,
        pub amount_cents: i64,
        #[gapless(
            sequence = "proof-{company_id}",
            chain = "hash",
            chain_covers = "company_id, amount_cents",
            on_delete = "void"
        )]
        pub number: Option<i32>,
        pub hash: Option<String>,
        #[gapless(sequence = "proof-flag-{urgent}-{company_id}", on_delete = "allow")]
        pub flag_number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A chain keyed from an environment variable the tests never set: every
/// insert is refused before a value is taken.
pub mod keyed_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "keyed_doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub company_id: i32,
        #[gapless(
            sequence = "keyed-{company_id}",
            max_value = 1_000_000,
            warn_at = 900_000,
            chain = "hash",
            chain_covers = "company_id",
            chain_key_env = "SEQUENCES_TEST_UNSET_CHAIN_KEY",
            on_delete = "void"
        )]
        pub number: Option<i64>,
        pub hash: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Numbered by the database (`Numbering::install_triggers`, installed by the
/// test migrator): invoices per journal and year, in date order, whose
/// deleted numbers are recorded void. The derive numbers the same table
/// through `ActiveModel::insert`, side by side with the triggers.
pub mod db_invoice {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "db_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub journal: String,
        pub issued_on: Date,
        #[gapless(
            sequence = "dbinv-{journal}",
            period = "year",
            date = "issued_on",
            chronological,
            on_delete = "void"
        )]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Numbered by the database: formatted references (`BOOK/2026/0001`) with
/// their raw value, whose delete is refused (the default policy).
pub mod db_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "db_doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub book: String,
        pub issued_on: Date,
        #[gapless(
            sequence = "dbdoc-{book}",
            period = "year",
            date = "issued_on",
            format = "{book}/{year}/{value:04}"
        )]
        pub reference: Option<String>,
        #[gapless(value_of = "reference")]
        pub raw: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Numbered by the database: five slots per kind, in an `INTEGER` column;
/// only the last one may be deleted, and its number is taken again.
pub mod db_slot {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "db_slot")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub kind: String,
        #[gapless(
            sequence = "dbslot-{kind}",
            max_value = 5,
            on_delete = "revert_if_last"
        )]
        pub number: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Numbered by the database at COMMIT (PostgreSQL's deferred constraint
/// trigger), for any client.
pub mod db_deferred {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "db_deferred")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub journal: String,
        #[gapless(sequence = "dbdef-{journal}", deferred, on_delete = "allow")]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Numbered and hash-chained by the database (PostgreSQL and MariaDB, which
/// have SHA-256), side by side with the derive.
pub mod db_chained {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "db_chained")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub company_id: i32,
        pub customer: Option<String>,
        pub amount_cents: i64,
        pub issued_on: Date,
        #[gapless(
            sequence = "dbchain-{company_id}",
            chain = "hash",
            chain_covers = "company_id, customer, amount_cents, issued_on",
            on_delete = "void"
        )]
        pub number: Option<i64>,
        pub hash: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    /// The chain check of this table, one chain per company, as its
    /// description says.
    pub fn chain_audit() -> sequences_core::ChainAudit<Column> {
        sequences_core::ChainAudit::new(Column::Number, Column::Hash)
            .covers([
                Column::CompanyId,
                Column::Customer,
                Column::AmountCents,
                Column::IssuedOn,
            ])
            .scope([Column::CompanyId])
            .sequence("dbchain-{company_id}")
    }
}

/// Numbered by the database in `ActiveModel::insert` too (`by_database`):
/// the application leaves the number to the triggers.
pub mod db_receipt {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "db_receipt")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub till: String,
        #[gapless(
            sequence = "dbrec-{till}",
            format = "R-{till}-{value:03}",
            by_database,
            on_delete = "allow"
        )]
        pub reference: Option<String>,
        #[gapless(value_of = "reference")]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// `by_database` on a table whose triggers were never installed: every
/// insert through the model is refused after the fact.
pub mod db_unguarded {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "db_unguarded")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[gapless(sequence = "dbunguarded", by_database)]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A table for the property test of numbering by the database: each case
/// installs triggers of a random description on it (in a database of its
/// own), and the library numbers it through `Numbering::fill`.
pub mod db_prop {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "db_prop")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub book: String,
        pub issued_on: Date,
        pub at: DateTimeUtc,
        pub reference: Option<String>,
        pub raw: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Numbered after COMMIT by a numberer (`after_commit`): till receipts,
/// inserted unnumbered by any client with no lock on the counter.
pub mod ac_receipt {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "ac_receipt")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub till: String,
        #[gapless(sequence = "acr-{till}", after_commit, on_delete = "allow")]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Numbered after COMMIT in date order: a row dated before a number already
/// given is refused by the numberer and stays unnumbered, recorded.
pub mod ac_doc {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "ac_doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub book: String,
        pub issued_on: Date,
        #[gapless(
            sequence = "acd-{book}",
            period = "year",
            date = "issued_on",
            chronological,
            format = "{book}-{year}-{value:04}",
            after_commit,
            on_delete = "allow"
        )]
        pub reference: Option<String>,
        #[gapless(value_of = "reference")]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A table with a unique code beside its key, numbered by the database
/// under a description each test installs (`Numbering`): the statements
/// that replace rows conflict on either. Its tests create it themselves,
/// with the constraints they need, in a database of their own.
pub mod db_code {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "db_code")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub code: String,
        pub batch: String,
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Rows whose scope is text in a column that may ignore case or trailing
/// spaces (MariaDB's default collations, SQLite's NOCASE): the collation
/// tests create the table themselves and number it through a `Numbering`.
pub mod col_doc {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "col_doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub kind: String,
        pub number: Option<i64>,
        pub hash: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Numbered after COMMIT in date order, with a text primary key that tells
/// case apart (its tests create the table): refusals are matched to rows
/// by that key, byte for byte.
pub mod ac_tag {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "ac_tag")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub book: String,
        pub issued_on: Date,
        #[gapless(
            sequence = "act-{book}",
            date = "issued_on",
            chronological,
            after_commit,
            on_delete = "allow"
        )]
        pub number: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}
