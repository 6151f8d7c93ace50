//! The Django side of the shared-table tests (`tests/tests/django.rs`,
//! `tests/tests/attack_django.rs`): the real Django and django-sequences,
//! driven through `tests/django/harness.py` in the virtual environment
//! `scripts/test-databases` makes (`SEQUENCES_DJANGO_PYTHON`), and a scratch
//! database adopted as an application would adopt it.

use std::process::Command;

use sea_orm::{ConnectionTrait, DatabaseConnection, Schema};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use sequences_core::{CounterTable, Sequence};
use sequences_migration::DjangoSequencesMigration;

use crate::{Scratch, TestDb, open};

/// The table both applications write: Django's model maps the same columns
/// (`harness.py`).
pub mod invoice {
    use sea_orm::entity::prelude::*;
    use sequences_core::Gapless;

    /// One invoice, numbered from Django's table by either side.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Gapless)]
    #[sea_orm(table_name = "mixed_invoice")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub series: String,
        #[gapless(sequence = "shared-{series}", counter_table = "django")]
        pub number: i64,
        pub source: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// This library's migrations, then the adoption of Django's table.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = sequences_migration::migrations();
        all.push(Box::new(DjangoSequencesMigration));
        all
    }
}

const HARNESS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/django");

/// The Django side: `harness.py` run by the environment's Python.
#[derive(Clone)]
pub struct Django {
    /// The environment's Python.
    pub python: String,
    /// The database Django connects to.
    pub url: String,
}

impl Django {
    /// Django on `url`; `None` (a `skipping` line) without the environment,
    /// a panic when `SEQUENCES_REQUIRE_BACKENDS=1`.
    pub fn new(url: &str) -> Option<Self> {
        let python = match std::env::var("SEQUENCES_DJANGO_PYTHON") {
            Ok(python) if !python.is_empty() => python,
            _ if std::env::var("SEQUENCES_REQUIRE_BACKENDS").is_ok_and(|v| v == "1") => panic!(
                "SEQUENCES_DJANGO_PYTHON is not set and SEQUENCES_REQUIRE_BACKENDS=1: \
                 `eval \"$(scripts/test-databases)\"` creates the Django environment"
            ),
            _ => {
                println!("skipping: SEQUENCES_DJANGO_PYTHON is not set");
                return None;
            }
        };
        Some(Self {
            python,
            url: url.to_owned(),
        })
    }

    /// One harness command; its one line of JSON.
    pub fn run(&self, args: &[&str]) -> Json {
        let output = Command::new(&self.python)
            .arg(format!("{HARNESS_DIR}/harness.py"))
            .arg(&self.url)
            .args(args)
            .output()
            .expect("run the Django harness");
        assert!(
            output.status.success(),
            "harness {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Json(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Runs `body` (Python) after the harness's Django setup, with
    /// `transaction`, `get_next_value` and `get_next_values` imported; it
    /// prints one JSON line (an exception becomes `{"error": ...}`).
    pub fn python(&self, body: &str) -> Json {
        let code = format!(
            "import sys, json\nsys.path.insert(0, {dir:?})\nimport harness\nharness.setup({url:?})\nfrom django.db import transaction\nfrom sequences import get_next_value, get_next_values\ntry:\n{body}\nexcept Exception as error:\n    print(json.dumps({{'error': f'{{type(error).__name__}}: {{error}}'}}))\n",
            dir = HARNESS_DIR,
            url = self.url,
            body = body
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        let output = Command::new(&self.python)
            .arg("-c")
            .arg(&code)
            .output()
            .expect("run python");
        assert!(
            output.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Json(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Django's own `migrate sequences`.
    pub fn migrate(&self) {
        self.run(&["migrate"]);
    }

    /// One `get_next_value` committed by Django: its value, or its error.
    pub fn next(&self, name: &str, initial: i64, reset: Option<i64>) -> Result<i64, String> {
        let initial = initial.to_string();
        let reset = reset.map(|r| r.to_string());
        let mut args = vec!["next", name, "--initial", &initial];
        if let Some(reset) = &reset {
            args.extend(["--reset", reset]);
        }
        self.run(&args).value()
    }
}

/// Just enough JSON reading for the harness's one-line answers.
#[derive(Debug, Clone)]
pub struct Json(pub String);

impl Json {
    /// The integer after `"key": `.
    pub fn number(&self, key: &str) -> Option<i64> {
        let at = self.0.find(&format!("\"{key}\": "))? + key.len() + 4;
        let digits: String = self.0[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse().ok()
    }

    /// `"value"`, or the whole answer as the error.
    pub fn value(self) -> Result<i64, String> {
        self.number("value").ok_or(self.0)
    }

    /// The integers of the array after `"key": `.
    pub fn numbers(&self, key: &str) -> Vec<i64> {
        let Some(at) = self.0.find(&format!("\"{key}\": [")) else {
            return Vec::new();
        };
        let rest = &self.0[at + key.len() + 5..];
        let end = rest.find(']').unwrap_or(rest.len());
        rest[..end]
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    }

    /// Whether the array after `"key": ` is empty.
    pub fn empty(&self, key: &str) -> bool {
        self.0.contains(&format!("\"{key}\": []"))
    }
}

/// A scratch database with Django's table (Django's own migration), this
/// library's migrations and the adoption, and the shared invoice table;
/// `None` without the Django environment (see [`Django::new`]).
pub async fn adopted(
    t: &TestDb,
    tag: &str,
    pool: u32,
) -> Option<(Scratch, DatabaseConnection, Django)> {
    let scratch = Scratch::new(t, tag).await;
    let Some(django) = Django::new(&scratch.url) else {
        scratch.remove().await;
        return None;
    };
    django.migrate();
    let db = open(&scratch.url, pool).await;
    Migrator::up(&db, None).await.expect("the migrations apply");
    let schema = Schema::new(db.get_database_backend());
    let backend = db.get_database_backend();
    db.execute_raw(backend.build(&schema.create_table_from_entity(invoice::Entity)))
        .await
        .expect("create mixed_invoice");
    Some((scratch, db, django))
}

/// Closes the pool and removes the scratch database.
pub async fn done(scratch: Scratch, db: DatabaseConnection) {
    db.close().await.unwrap();
    scratch.remove().await;
}

/// A sequence of Django's table.
pub fn django_seq(name: &str) -> Sequence {
    Sequence::new(name).counter_table(CounterTable::Django)
}
