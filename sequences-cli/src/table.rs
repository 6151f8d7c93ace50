//! A table the command knows only from the database's catalog, as a SeaORM
//! entity: `sequences number` gives the library's [`Numbering`] this entity,
//! so the command numbers with the very code the application's `Numberer`
//! runs, not a copy of it.
//!
//! SeaORM wants an entity's names as `&'static str` and its columns as a
//! type: the process describes one table, once ([`Table::load`]), and the
//! entity reads that description.
//!
//! [`Numbering`]: sequences_core::Numbering

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ArrayType, StringLen};
use sea_orm::{ActiveValue, FromQueryResult, QueryResult, Value};

/// The one table this process describes.
static TABLE: OnceLock<Table> = OnceLock::new();

/// A table's name, and the columns the command can read, from the catalog.
#[derive(Debug)]
pub struct Table {
    name: &'static str,
    columns: Vec<Described>,
}

/// One column: its name, its type and whether it takes NULL.
#[derive(Debug)]
struct Described {
    name: &'static str,
    kind: Kind,
    nullable: bool,
    primary_key: bool,
}

/// The column types the command reads; any other column is left out (a
/// description naming it is refused as naming no column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SmallInt,
    Int,
    BigInt,
    UnsignedInt,
    BigUnsigned,
    Text,
    Bool,
    Date,
    DateTime,
    DateTimeWithTimeZone,
    /// MariaDB's `timestamp` (SeaORM's UTC date-time there).
    DateTimeUtc,
}

impl Kind {
    /// The kind of a type as the catalog spells it (`information_schema`
    /// on MariaDB, `format_type` on PostgreSQL, the declared type on
    /// SQLite, as SeaORM's schema writes them).
    pub fn of(type_name: &str) -> Option<Self> {
        let t = type_name.to_ascii_lowercase();
        // MariaDB's `COLUMN_TYPE`: `int(10) unsigned`, and `tinyint(1)` for
        // a boolean (a sequence name prints it `true`, not `1`).
        if t == "tinyint(1)" {
            return Some(Kind::Bool);
        }
        let unsigned = t.ends_with(" unsigned");
        let base = t.split(['(', ' ']).next().unwrap_or_default();
        Some(match base {
            "smallint" | "int2" | "tinyint" if !unsigned => Kind::SmallInt,
            "integer" | "int" | "int4" | "mediumint" | "serial" if !unsigned => Kind::Int,
            "bigint" | "int8" | "bigserial" if !unsigned => Kind::BigInt,
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" => Kind::UnsignedInt,
            "bigint" => Kind::BigUnsigned,
            "text" | "varchar" | "char" | "character" | "tinytext" | "mediumtext" | "longtext" => {
                Kind::Text
            }
            "boolean" | "bool" => Kind::Bool,
            "date" | "date_text" => Kind::Date,
            "timestamp" if t.contains("with time zone") => Kind::DateTimeWithTimeZone,
            "timestamptz" | "timestamp_with_timezone_text" => Kind::DateTimeWithTimeZone,
            "timestamp_utc" => Kind::DateTimeUtc,
            "timestamp" | "datetime" | "datetime_text" | "timestamp_text" => Kind::DateTime,
            _ => return None,
        })
    }

    fn column_type(self) -> ColumnType {
        match self {
            Kind::SmallInt => ColumnType::SmallInteger,
            Kind::Int => ColumnType::Integer,
            Kind::BigInt => ColumnType::BigInteger,
            Kind::UnsignedInt => ColumnType::Unsigned,
            Kind::BigUnsigned => ColumnType::BigUnsigned,
            Kind::Text => ColumnType::String(StringLen::None),
            Kind::Bool => ColumnType::Boolean,
            Kind::Date => ColumnType::Date,
            Kind::DateTime => ColumnType::DateTime,
            Kind::DateTimeWithTimeZone | Kind::DateTimeUtc => ColumnType::TimestampWithTimeZone,
        }
    }

    fn array_type(self) -> ArrayType {
        match self {
            Kind::SmallInt => ArrayType::SmallInt,
            Kind::Int => ArrayType::Int,
            Kind::BigInt => ArrayType::BigInt,
            Kind::UnsignedInt => ArrayType::Unsigned,
            Kind::BigUnsigned => ArrayType::BigUnsigned,
            Kind::Text => ArrayType::String,
            Kind::Bool => ArrayType::Bool,
            Kind::Date => ArrayType::ChronoDate,
            Kind::DateTime => ArrayType::ChronoDateTime,
            Kind::DateTimeWithTimeZone => ArrayType::ChronoDateTimeWithTimeZone,
            Kind::DateTimeUtc => ArrayType::ChronoDateTimeUtc,
        }
    }

    fn read(self, row: &QueryResult, column: &str) -> Result<Value, DbErr> {
        Ok(match self {
            Kind::SmallInt => Value::SmallInt(row.try_get("", column)?),
            Kind::Int => Value::Int(row.try_get("", column)?),
            Kind::BigInt => Value::BigInt(row.try_get("", column)?),
            Kind::UnsignedInt => Value::Unsigned(row.try_get("", column)?),
            Kind::BigUnsigned => Value::BigUnsigned(row.try_get("", column)?),
            Kind::Text => Value::String(row.try_get("", column)?),
            Kind::Bool => Value::Bool(row.try_get("", column)?),
            Kind::Date => Value::ChronoDate(row.try_get("", column)?),
            Kind::DateTime => Value::ChronoDateTime(row.try_get("", column)?),
            Kind::DateTimeWithTimeZone => {
                Value::ChronoDateTimeWithTimeZone(row.try_get("", column)?)
            }
            Kind::DateTimeUtc => Value::ChronoDateTimeUtc(row.try_get("", column)?),
        })
    }
}

/// A column as the catalog lists it.
#[derive(Debug)]
pub struct CatalogColumn {
    pub name: String,
    /// As the catalog spells it ([`Kind::of`]).
    pub type_name: String,
    pub nullable: bool,
    pub primary_key: bool,
}

impl Table {
    /// Describes `name` from its catalog columns, once per process; the
    /// columns of types the command cannot read are left out.
    pub fn load(name: &str, columns: Vec<CatalogColumn>) -> &'static Table {
        TABLE.get_or_init(|| Table {
            name: leak(name),
            columns: columns
                .into_iter()
                .filter_map(|c| {
                    Some(Described {
                        kind: Kind::of(&c.type_name)?,
                        name: leak(&c.name),
                        nullable: c.nullable,
                        primary_key: c.primary_key,
                    })
                })
                .collect(),
        })
    }

    /// The column `name`, if the command can read it.
    pub fn column(&self, name: &str) -> Option<Column> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .map(|index| Column(index as u16))
    }
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

fn table() -> &'static Table {
    TABLE
        .get()
        .expect("Table::load runs before the entity is used")
}

/// The table, as a SeaORM entity.
#[derive(Copy, Clone, Default, Debug)]
pub struct Entity;

impl sea_orm::Iden for Entity {
    fn unquoted(&self) -> &str {
        table().name
    }
}

impl IdenStatic for Entity {
    fn as_str(&self) -> &'static str {
        table().name
    }
}

impl EntityName for Entity {
    fn table_name(&self) -> &'static str {
        table().name
    }
}

impl EntityTrait for Entity {
    type Model = Model;
    type ModelEx = Model;
    type ActiveModel = ActiveModel;
    type ActiveModelEx = ActiveModel;
    type Column = Column;
    type Relation = Relation;
    type PrimaryKey = PrimaryKey;
}

/// A column of the table: its place in [`Table`]'s list.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Column(u16);

impl Column {
    fn described(self) -> &'static Described {
        &table().columns[self.0 as usize]
    }
}

impl sea_orm::Iden for Column {
    fn unquoted(&self) -> &str {
        self.described().name
    }
}

impl IdenStatic for Column {
    fn as_str(&self) -> &'static str {
        self.described().name
    }
}

impl sea_orm::Iterable for Column {
    type Iterator = std::vec::IntoIter<Column>;

    /// Every column, in the table's order.
    fn iter() -> Self::Iterator {
        (0..table().columns.len() as u16)
            .map(Column)
            .collect::<Vec<_>>()
            .into_iter()
    }
}

/// A name that is no column of the table.
#[derive(Debug)]
pub struct NoSuchColumn;

impl fmt::Display for NoSuchColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no such column")
    }
}

impl FromStr for Column {
    type Err = NoSuchColumn;

    fn from_str(name: &str) -> Result<Self, NoSuchColumn> {
        table().column(name).ok_or(NoSuchColumn)
    }
}

impl ColumnTrait for Column {
    type EntityName = Entity;

    fn def(&self) -> ColumnDef {
        let c = self.described();
        let def = c.kind.column_type().def();
        // A column definition is NOT NULL unless told otherwise.
        if c.nullable { def.null() } else { def }
    }
}

/// The primary key: the first of the table's key columns (the numberer
/// wants exactly one, and says so otherwise).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PrimaryKey(Column);

impl sea_orm::Iden for PrimaryKey {
    fn unquoted(&self) -> &str {
        self.0.described().name
    }
}

impl IdenStatic for PrimaryKey {
    fn as_str(&self) -> &'static str {
        self.0.described().name
    }
}

impl sea_orm::Iterable for PrimaryKey {
    type Iterator = std::vec::IntoIter<PrimaryKey>;

    /// The key columns.
    fn iter() -> Self::Iterator {
        Column::iter()
            .filter(|c| c.described().primary_key)
            .map(PrimaryKey)
            .collect::<Vec<_>>()
            .into_iter()
    }
}

impl PrimaryKeyTrait for PrimaryKey {
    /// Unused by the numberer, which finds rows by column.
    type ValueType = i64;

    fn auto_increment() -> bool {
        false
    }
}

impl PrimaryKeyToColumn for PrimaryKey {
    type Column = Column;

    fn into_column(self) -> Column {
        self.0
    }

    fn from_column(column: Column) -> Option<Self> {
        column.described().primary_key.then_some(PrimaryKey(column))
    }
}

/// No relations.
#[derive(Copy, Clone, Debug)]
pub enum Relation {}

impl sea_orm::Iterable for Relation {
    type Iterator = std::vec::IntoIter<Relation>;

    fn iter() -> Self::Iterator {
        Vec::new().into_iter()
    }
}

impl RelationTrait for Relation {
    fn def(&self) -> RelationDef {
        match *self {}
    }
}

/// A row: one value per column, in the table's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Model(Vec<Value>);

impl ModelTrait for Model {
    type Entity = Entity;

    fn get(&self, c: Column) -> Value {
        self.0[c.0 as usize].clone()
    }

    fn get_value_type(c: Column) -> ArrayType {
        c.described().kind.array_type()
    }

    fn try_set(&mut self, c: Column, v: Value) -> Result<(), DbErr> {
        self.0[c.0 as usize] = v;
        Ok(())
    }
}

impl FromQueryResult for Model {
    fn from_query_result(row: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        table()
            .columns
            .iter()
            .map(|c| c.kind.read(row, c.name))
            .collect::<Result<_, _>>()
            .map(Model)
    }
}

/// A row being written: one active value per column.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveModel(Vec<ActiveValue<Value>>);

impl ActiveModelTrait for ActiveModel {
    type Entity = Entity;

    fn take(&mut self, c: Column) -> ActiveValue<Value> {
        std::mem::replace(&mut self.0[c.0 as usize], ActiveValue::NotSet)
    }

    fn get(&self, c: Column) -> ActiveValue<Value> {
        self.0[c.0 as usize].clone()
    }

    fn set_if_not_equals(&mut self, c: Column, v: Value) {
        let slot = &mut self.0[c.0 as usize];
        if !matches!(slot, ActiveValue::Set(old) | ActiveValue::Unchanged(old) if *old == v) {
            *slot = ActiveValue::Set(v);
        }
    }

    fn try_set(&mut self, c: Column, v: Value) -> Result<(), DbErr> {
        self.0[c.0 as usize] = ActiveValue::Set(v);
        Ok(())
    }

    fn not_set(&mut self, c: Column) {
        self.0[c.0 as usize] = ActiveValue::NotSet;
    }

    fn is_not_set(&self, c: Column) -> bool {
        matches!(self.0[c.0 as usize], ActiveValue::NotSet)
    }

    fn default() -> Self {
        ActiveModel(vec![ActiveValue::NotSet; table().columns.len()])
    }

    fn default_values() -> Self {
        Self::default()
    }

    fn reset(&mut self, c: Column) {
        let slot = &mut self.0[c.0 as usize];
        if let ActiveValue::Unchanged(v) = slot.clone() {
            *slot = ActiveValue::Set(v);
        }
    }
}

impl ActiveModelBehavior for ActiveModel {}
