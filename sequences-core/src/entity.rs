//! The SeaORM entity of the `sequences` table: one row per sequence.
//!
//! The table is created by `sequences_migration::migrations()`, or, entity-first
//! (SeaORM 2.0's `schema-sync`), by [`register`]. Read it freely; write it
//! only through [`Sequence`](crate::Sequence), which takes the row lock that
//! keeps values gapless.

use sea_orm::entity::prelude::*;
use sea_orm::schema::SchemaBuilder;

/// The table's name.
pub const TABLE_NAME: &str = "sequences";

/// The table of voided numbers (see [`void`]).
pub const VOIDS_TABLE: &str = "sequence_voids";

/// The table of rows a numberer refused (see [`refusal`]).
pub const REFUSALS_TABLE: &str = "sequence_refusals";

/// django-sequences' table (`sequences_sequence (name, last)`), which a
/// [`Sequence`](crate::Sequence) numbers from with
/// [`CounterTable::Django`] once `sequences_migration::DjangoSequencesMigration`
/// has adopted it.
pub const DJANGO_TABLE: &str = "sequences_sequence";

/// Where a sequence's counter row lives: the library's own `sequences`
/// table (the default), or django-sequences' `sequences_sequence`, shared
/// with a Django application that numbers the same series (see
/// [`guide::django`](crate::guide::django)).
///
/// A name lives in one table only: once `DjangoSequencesMigration` has
/// adopted Django's table, each table refuses to create a counter whose name
/// the other holds, so one series cannot be numbered from both by mistake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CounterTable {
    /// `sequences`, this library's table.
    #[default]
    Sequences,
    /// `sequences_sequence`, django-sequences' table, adopted by
    /// `DjangoSequencesMigration`.
    Django,
}

impl CounterTable {
    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            CounterTable::Sequences => TABLE_NAME,
            CounterTable::Django => DJANGO_TABLE,
        }
    }
}

/// The longest sequence name, in characters (the `name` column is `VARCHAR(100)`).
pub const MAX_NAME_LENGTH: usize = 100;

/// Why a name longer than [`MAX_NAME_LENGTH`] is refused, as
/// [`SequenceError::InvalidName`](crate::SequenceError::InvalidName) says
/// it (a `&'static str`: spelled out, checked against the constant by a
/// test).
pub(crate) const NAME_TOO_LONG: &str = "it is longer than 100 characters";

/// SQLite: the numbered rows a statement is about to replace, noted by the
/// triggers before the new row is written and checked once it is
/// (`Numbering::install_triggers` creates it). Empty between statements.
pub(crate) const REPLACED_TABLE: &str = "sequences_replaced";

/// One sequence: its name and the last value it handed out.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sequences")]
pub struct Model {
    /// The sequence's name, such as `invoice` or `invoice-7`.
    ///
    /// Names compare byte for byte everywhere: on MariaDB/MySQL the column
    /// needs a binary, no-pad collation (the default ones make `Invoice`,
    /// `invoice` and `invoice ` one key). The `extra` holds two versioned
    /// comments: MariaDB executes the first (`COLLATE utf8mb4_nopad_bin`) and
    /// ignores the second; MySQL 8 ignores the first and executes the second
    /// (`COLLATE utf8mb4_0900_bin`); PostgreSQL and SQLite ignore both. MySQL
    /// 5.7 executes neither: there, create the table with
    /// `sequences_migration`.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(MAX_NAME_LENGTH as u32))",
        extra = "/*M!100000 COLLATE utf8mb4_nopad_bin */ /*!80000 COLLATE utf8mb4_0900_bin */"
    )]
    pub name: String,
    /// The last value handed out (committed or not, as seen by the reader).
    pub last: i64,
    /// Closed sequences refuse every allocation
    /// ([`Sequence::close`](crate::Sequence::close)).
    #[sea_orm(default_value = false)]
    pub closed: bool,
    /// The latest day numbered by a chronological allocation, as `YYYYMMDD`
    /// (see [`Day::number`](crate::Day::number)); `None` before the first.
    pub last_day: Option<i32>,
    /// The hash of the latest link of the sequence's chain (see
    /// [`crate::chain`]); `None` for a sequence without one.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub chain_head: Option<String>,
}

/// The table has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Registers the crate's tables with an entity-first schema, for SeaORM 2.0's
/// `SchemaBuilder::sync` (feature `schema-sync` of `sea-orm`). A registry
/// built with `get_schema_registry("my_app::*")` keeps only the
/// application's own module path, so the crate's tables are added here:
///
/// ```no_run
/// # mod invoice {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "invoice")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// sequences_core::entity::register(db.get_schema_builder())
///     .register(invoice::Entity)
///     .sync(db)
///     .await?;
/// # Ok(()) }
/// ```
///
/// On MariaDB and MySQL 8 the `name` column gets its binary collation from
/// the entity (see [`Model::name`]).
pub fn register(builder: SchemaBuilder) -> SchemaBuilder {
    builder
        .register(Entity)
        .register(void::Entity)
        .register(refusal::Entity)
}

/// The `sequence_refusals` table: rows of an
/// [`after_commit`](crate::NumberedField::after_commit) field that a
/// numberer could not number (dated before a number already given, in a
/// closed period, at the end of the range), left unnumbered and reported
/// here, so the numberer goes on with the rows after them and the audit and
/// `wait_for_number` can say why. Deleting a row here lets the numberer try
/// it again.
pub mod refusal {
    use sea_orm::entity::prelude::*;

    /// One refused row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sequence_refusals")]
    pub struct Model {
        /// The numbered row's table.
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(100))"
        )]
        pub table_name: String,
        /// The numbered column.
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(100))"
        )]
        pub column_name: String,
        /// The row's primary key, as text.
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(100))",
            extra = "/*M!100000 COLLATE utf8mb4_nopad_bin */ /*!80000 COLLATE utf8mb4_0900_bin */"
        )]
        pub row_key: String,
        /// Why, as the library's error says it.
        #[sea_orm(column_type = "Text")]
        pub reason: String,
        /// When, in UTC, as `YYYY-MM-DDTHH:MM:SSZ` (the database's clock).
        #[sea_orm(column_type = "String(StringLen::N(24))")]
        pub refused_at: String,
        /// The digest (SHA-256, hex) of the values the numbering read from
        /// the row when it refused it. A row whose values differ now (it
        /// was corrected, or it is another row with the same key) is no
        /// longer refused: the numberer tries it again.
        #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
        pub row_digest: Option<String>,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `sequence_voids` table: numbers that were handed out and are void
/// (a cancelled document whose row had to go, a number lost to another
/// system), each with its reason and when. Written only by
/// [`Sequence::void`](crate::Sequence::void) and the `void` delete policy.
pub mod void {
    use super::MAX_NAME_LENGTH;
    use sea_orm::entity::prelude::*;

    /// One voided number.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sequence_voids")]
    pub struct Model {
        /// The sequence (the name of its row in `sequences`).
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(MAX_NAME_LENGTH as u32))",
            extra = "/*M!100000 COLLATE utf8mb4_nopad_bin */ /*!80000 COLLATE utf8mb4_0900_bin */"
        )]
        pub sequence: String,
        /// The voided value.
        #[sea_orm(primary_key, auto_increment = false)]
        pub value: i64,
        /// Why, as given to `Sequence::void` (`deleted` for the delete policy).
        #[sea_orm(column_type = "Text")]
        pub reason: String,
        /// When, in UTC, as `YYYY-MM-DDTHH:MM:SSZ` (the database's clock).
        #[sea_orm(column_type = "String(StringLen::N(24))")]
        pub voided_at: String,
        /// For a chained sequence, the hash of the record the void replaces,
        /// so that the chain runs on through it (see [`crate::chain`]).
        #[sea_orm(column_type = "String(StringLen::N(64))")]
        pub chain_hash: Option<String>,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The row of `sequences` the numberers of `table` take turns through
/// (`after_commit` fields); its `last` is when one last ran, in seconds
/// since 1970.
pub(crate) fn numberer_lock(table: &str, column: &str) -> String {
    format!("numberer:{table}.{column}")
}

/// The row of `sequences` that exists while a numberer of `table` sleeps
/// until notified (PostgreSQL): the table's insert trigger notifies only then.
pub(crate) fn numberer_asleep(table: &str) -> String {
    format!("numberer-asleep:{table}")
}

/// Names starting with `prefix`, compared as text (`SUBSTR(name, 1, n) =
/// prefix`), not with `LIKE`, whose wildcards and escape character (`\` on
/// PostgreSQL and MariaDB) a prefix may contain.
pub fn name_starts_with(prefix: &str) -> sea_orm::sea_query::SimpleExpr {
    starts_with(
        sea_orm::sea_query::Expr::col((Entity, Column::Name)),
        prefix,
    )
}

/// `column` starts with `prefix` (see [`name_starts_with`]).
pub(crate) fn starts_with(
    column: sea_orm::sea_query::Expr,
    prefix: &str,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    Expr::expr(Func::cust("SUBSTR").arg(column).arg(1).arg(length)).eq(prefix)
}

/// How many names one read of the counters or voids takes.
pub(crate) const NAMES_PER_READ: usize = 500;

/// The counters whose name starts with `prefix` (every one with `None`; only
/// the hash-chained ones with `chained`), in name order: what the audits
/// and checkpoints enumerate.
pub(crate) async fn counters_prefixed<C: ConnectionTrait>(
    db: &C,
    prefix: Option<&str>,
    chained: bool,
) -> Result<Vec<Model>, DbErr> {
    use sea_orm::QueryOrder;
    let mut query = Entity::find().order_by_asc(Column::Name);
    if chained {
        query = query.filter(Column::ChainHead.is_not_null());
    }
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        query = query.filter(name_starts_with(prefix));
    }
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .filter(|row| prefix.is_none_or(|prefix| row.name.starts_with(prefix)))
        .collect())
}

/// The counters of `names`, by name, read in batches.
pub(crate) async fn counters_named<C: ConnectionTrait>(
    db: &C,
    names: &[String],
) -> Result<std::collections::BTreeMap<String, Model>, DbErr> {
    let mut found = std::collections::BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_READ) {
        for row in Entity::find()
            .filter(Column::Name.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(row.name.clone(), row);
        }
    }
    Ok(found)
}

/// The voids of the sequences `names`, by sequence, read in batches; a
/// missing `sequence_voids` is the migration to apply (`SchemaOutdated`).
pub(crate) async fn voids_named<C: ConnectionTrait>(
    db: &C,
    names: &[String],
) -> Result<std::collections::BTreeMap<String, Vec<void::Model>>, DbErr> {
    let mut found: std::collections::BTreeMap<String, Vec<void::Model>> =
        std::collections::BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_READ) {
        for row in void::Entity::find()
            .filter(void::Column::Sequence.is_in(chunk.iter().cloned()))
            .all(db)
            .await
            .map_err(|error| {
                crate::SequenceError::schema_outdated(&chunk[0], db.get_database_backend(), error)
            })?
        {
            found.entry(row.sequence.clone()).or_default().push(row);
        }
    }
    Ok(found)
}

/// The voids of the sequences whose name starts with `prefix` (every void
/// with `None`), by sequence; a missing `sequence_voids` is the migration to
/// apply (`SchemaOutdated`).
pub(crate) async fn voids_prefixed<C: ConnectionTrait>(
    db: &C,
    prefix: Option<&str>,
) -> Result<std::collections::BTreeMap<String, Vec<void::Model>>, DbErr> {
    let mut query = void::Entity::find();
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        query = query.filter(starts_with(
            sea_orm::sea_query::Expr::col((void::Entity, void::Column::Sequence)),
            prefix,
        ));
    }
    let mut found: std::collections::BTreeMap<String, Vec<void::Model>> =
        std::collections::BTreeMap::new();
    for row in query.all(db).await.map_err(|error| {
        crate::SequenceError::schema_outdated(
            prefix.unwrap_or_default(),
            db.get_database_backend(),
            error,
        )
    })? {
        // The comparison above follows the column's collation.
        if prefix.is_none_or(|prefix| row.sequence.starts_with(prefix)) {
            found.entry(row.sequence.clone()).or_default().push(row);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_of_a_long_name_says_the_limit() {
        let limit = format!(" {} ", super::MAX_NAME_LENGTH);
        assert!(super::NAME_TOO_LONG.contains(&limit));
    }
}
