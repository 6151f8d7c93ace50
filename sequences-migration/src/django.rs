//! [`DjangoSequencesMigration`]: adopting django-sequences' table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};
use sequences_core::{DJANGO_TABLE, TABLE_NAME};

use super::{add_missing, drop_present, mysql_binary_collation};

/// Adopts django-sequences' `sequences_sequence (name, last)` so that a
/// Django application and this library number the same series side by side
/// (`Sequence::counter_table(CounterTable::Django)`,
/// `#[gapless(counter_table = "django")]`; see the guide's `django` chapter).
///
/// `up`, after [`migrations`](crate::migrations) and Django's own
/// `migrate sequences`:
/// - adds the columns the library reads and writes (`closed`, `last_day`,
///   `chain_head`, `chain_seal`, `max_value`, `warn_at`), each with a default
///   that django-sequences' `INSERT (name, last)` leaves alone; it never
///   rewrites `name` or `last`;
/// - on MariaDB/MySQL, gives `name` the binary, no-pad collation of
///   `sequences` (Django creates it with the database's default, under which
///   `Invoice`, `invoice` and `invoice ` are one counter); the names stay as
///   they are;
/// - on MariaDB/MySQL, keeps Django's unsigned `last` within `i64` (a check);
/// - installs the guards ([`sequences_core::django::install_guards`]): the
///   registry `sequences_names` of which counter table each name belongs to
///   (a name lives in one), and Django's `last + 1` refused on a closed
///   counter or past a declared `max_value`.
///
/// It refuses, changing nothing, when `sequences_sequence` or `sequences` is
/// missing, and when a name is a counter in both (say which is right first). `down` removes only what `up` added (the name's collation goes
/// back to the table's default, which is what Django created).
#[derive(Debug, Clone, Copy, Default)]
pub struct DjangoSequencesMigration;

impl MigrationName for DjangoSequencesMigration {
    fn name(&self) -> &str {
        "m20261207_000006_adopt_django_sequences"
    }
}

/// MariaDB/MySQL: the check that keeps Django's unsigned `last` within i64.
const FITS: &str = "sequences_sequence_last_fits_i64";

/// The columns the migration adds to `sequences_sequence`.
fn columns() -> [ColumnDef; 6] {
    let text = |name: &str| {
        ColumnDef::new(Alias::new(name))
            .string_len(64)
            .null()
            .to_owned()
    };
    let big = |name: &str| {
        ColumnDef::new(Alias::new(name))
            .big_integer()
            .null()
            .to_owned()
    };
    [
        ColumnDef::new(Alias::new("closed"))
            .boolean()
            .not_null()
            .default(false)
            .to_owned(),
        ColumnDef::new(Alias::new("last_day"))
            .integer()
            .null()
            .to_owned(),
        text("chain_head"),
        text("chain_seal"),
        big("max_value"),
        big("warn_at"),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for DjangoSequencesMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, why) in [
            (
                DJANGO_TABLE,
                "django-sequences' table; run Django's `manage.py migrate sequences` first",
            ),
            (
                TABLE_NAME,
                "this library's table; list DjangoSequencesMigration after sequences_migration::migrations()",
            ),
        ] {
            if !manager.has_table(table).await? {
                return Err(DbErr::Migration(format!(
                    "DjangoSequencesMigration: the database has no `{table}` ({why}); nothing was changed"
                )));
            }
        }
        let both = sequences_core::django::names_in_both(manager.get_connection()).await?;
        if !both.is_empty() {
            return Err(DbErr::Migration(format!(
                "DjangoSequencesMigration: {both:?} are counters in both `{TABLE_NAME}` and \
                 `{DJANGO_TABLE}`, and one series is numbered from one table: decide which \
                 counter is right for each and delete the other; nothing was changed"
            )));
        }
        add_missing(manager, columns().map(|column| (DJANGO_TABLE, column))).await?;
        if manager.get_database_backend() == DbBackend::MySql {
            let collation = mysql_binary_collation(manager).await?;
            name_collation(manager, &collation).await?;
            // Django's `last` is unsigned there: past i64::MAX this library
            // could not read it, so neither side may go there.
            let connection = manager.get_connection();
            for statement in [
                format!("ALTER TABLE `{DJANGO_TABLE}` DROP CONSTRAINT IF EXISTS `{FITS}`"),
                format!(
                    "ALTER TABLE `{DJANGO_TABLE}` ADD CONSTRAINT `{FITS}` CHECK (`last` <= 9223372036854775807)"
                ),
            ] {
                connection.execute_unprepared(&statement).await?;
            }
        }
        sequences_core::django::install_guards(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        if !manager.has_table(DJANGO_TABLE).await? {
            sequences_core::django::remove_guards(connection).await?;
            return sequences_core::django::remove_registry(connection).await;
        }
        if manager.get_database_backend() == DbBackend::MySql {
            // First, so that a failure leaves the guards in place: the
            // table's default collation (what Django created the column
            // with) may merge names this one tells apart.
            name_collation(manager, "").await.map_err(|error| {
                DbErr::Migration(format!(
                    "DjangoSequencesMigration down: `{DJANGO_TABLE}.name` cannot go back to the \
                     table's default collation, which would merge names that differ only by case \
                     or trailing spaces; rename or delete one of each pair first; nothing else \
                     was removed ({error})"
                ))
            })?;
            connection
                .execute_unprepared(&format!(
                    "ALTER TABLE `{DJANGO_TABLE}` DROP CONSTRAINT IF EXISTS `{FITS}`"
                ))
                .await?;
        }
        sequences_core::django::remove_guards(connection).await?;
        sequences_core::django::remove_registry(connection).await?;
        let names: Vec<(&str, String)> = columns()
            .iter()
            .map(|c| (DJANGO_TABLE, c.get_column_name()))
            .collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|(t, c)| (*t, c.as_str())).collect();
        drop_present(manager, pairs).await
    }
}

/// MariaDB/MySQL: gives Django's `name` column the `collation` clause (empty:
/// the table's default), its values unchanged.
async fn name_collation(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    let length = sequences_core::MAX_NAME_LENGTH;
    manager
        .get_connection()
        .execute_raw(Statement::from_string(
            DbBackend::MySql,
            format!(
                "ALTER TABLE `{DJANGO_TABLE}` MODIFY `name` VARCHAR({length}) {collation} NOT NULL"
            ),
        ))
        .await
        .map(drop)
}
