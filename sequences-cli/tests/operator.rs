//! The command as an operator (and a script) meets it at 3 a.m., run as a
//! process on each backend: one JSON document per outcome, errors included;
//! messages for people; an outdated schema named with its fix; bounded waits
//! that name who holds the sequence; SQLite waiting for a short writer.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use sea_orm_migration::{MigrationTrait, SchemaManager};
use sequences_core::Sequence;
use sequences_tests::{Backend, Scratch, connect_all, locks, migrate, open, unique_name};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sequences");

fn sequences(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run sequences")
}

/// The command on a thread of its own, so the test's transactions go on.
async fn sequences_later(url: &str, args: &[&str]) -> (Output, Duration) {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = sequences(&url, &args);
        (output, started.elapsed())
    })
    .await
    .expect("the command's thread")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// With `--json`, exactly one JSON document on stdout, nothing on stderr,
/// and the exit code.
#[track_caller]
fn json_outcome(output: &Output, code: i32, context: &str) -> Value {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(code),
        "{context}: {stdout}{stderr}"
    );
    assert_eq!(stderr, "", "{context}: nothing on stderr");
    assert_eq!(stdout.trim_end().lines().count(), 1, "{context}: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{context}: {e}: {stdout}"))
}

/// A `--json` error of `kind`; its message.
#[track_caller]
fn json_error(output: &Output, kind: &str, context: &str) -> String {
    let document = json_outcome(output, 2, context);
    assert_eq!(document["error"]["kind"], kind, "{context}: {document}");
    let message = document["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: {document}"))
        .to_owned();
    for rust in ["Some(", "None", "Custom Error", "force_last_value"] {
        assert!(!message.contains(rust), "{context}: {message}");
    }
    message
}

/// Without `--json`: exit 2, nothing on stdout, one line on stderr starting
/// `error: `; the line.
#[track_caller]
fn text_error(output: &Output, context: &str) -> String {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(2), "{context}: {stderr}");
    assert_eq!(stdout, "", "{context}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{context}: {stderr}");
    assert!(stderr.starts_with("error: "), "{context}: {stderr}");
    stderr
}

async fn sql(db: &DatabaseConnection, statement: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), statement))
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_is_one_json_document() {
    for t in connect_all(2).await {
        let url = t.url.as_str();
        let name = unique_name("cli-json");
        let context = |what: &str| format!("{:?}: {what}", t.backend);

        // Writes print JSON.
        let set = json_outcome(
            &sequences(url, &["--json", "set", &name, "5", "--create"]),
            0,
            &context("set --create"),
        );
        assert_eq!(
            (set["sequence"].as_str(), set["last"].as_i64()),
            (Some(name.as_str()), Some(5))
        );
        assert_eq!(set["previous"], Value::Null, "{set}");

        // Refusals: a kind, a sentence, the flag to pass.
        let message = json_error(
            &sequences(url, &["set", &name, "3", "--json"]),
            "refused",
            &context("set backwards"),
        );
        assert!(
            message.contains("refusing to move last from 5 back to 3")
                && message.contains("numbers 4..=5")
                && message.contains("--force"),
            "{message}"
        );
        let message = json_error(
            &sequences(url, &["--json", "set", &name, "3", "--force"]),
            "confirmation_required",
            &context("set --force without --yes"),
        );
        assert!(message.contains("--yes"), "{message}");
        assert_eq!(
            Sequence::new(&name).last_value(&t.db).await.unwrap(),
            Some(5),
            "{:?}: nothing changed",
            t.backend
        );
        let back = json_outcome(
            &sequences(url, &["--json", "set", &name, "3", "--force", "--yes"]),
            0,
            &context("set --force --yes"),
        );
        assert_eq!(back["previous"], 5, "{back}");
        assert_eq!(
            back["handed_out_again"],
            serde_json::json!([4, 5]),
            "{back}"
        );
        json_outcome(
            &sequences(url, &["--json", "set", &name, "5"]),
            0,
            "forward",
        );

        let message = json_error(
            &sequences(url, &["--json", "void", &name, "99", "--reason", "x"]),
            "refused",
            &context("void beyond last"),
        );
        assert!(
            message.contains("never handed out") && message.contains("the last number is 5"),
            "{message}"
        );
        let void = json_outcome(
            &sequences(
                url,
                &["--json", "void", &name, "2", "--reason", "cancelled"],
            ),
            0,
            &context("void"),
        );
        assert_eq!(
            (void["void"].as_i64(), void["hash_kept"].as_bool()),
            (Some(2), Some(false))
        );
        let message = json_error(
            &sequences(url, &["--json", "void", &name, "2", "--reason", "again"]),
            "refused",
            &context("void twice"),
        );
        assert!(message.contains("already void"), "{message}");
        let missing = unique_name("cli-json-missing");
        for args in [
            vec!["void", missing.as_str(), "1", "--reason", "x"],
            vec!["show", missing.as_str()],
            vec!["close", missing.as_str()],
            vec!["reopen", missing.as_str()],
            vec!["set", missing.as_str(), "4"],
        ] {
            let mut json = vec!["--json"];
            json.extend(&args);
            let message = json_error(&sequences(url, &json), "not_found", &context(args[0]));
            assert!(message.contains("does not exist"), "{message}");
            // The same without --json: one line on stderr.
            text_error(&sequences(url, &args), &context(args[0]));
        }

        let closed = json_outcome(
            &sequences(url, &["--json", "close", &name]),
            0,
            &context("close"),
        );
        assert_eq!(closed["closed"], true, "{closed}");
        let open = json_outcome(
            &sequences(url, &["--json", "reopen", &name]),
            0,
            &context("reopen"),
        );
        assert_eq!(open["closed"], false, "{open}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("checkpoint.json");
        let written = json_outcome(
            &sequences(
                url,
                &["--json", "checkpoint", "--out", file.to_str().unwrap()],
            ),
            0,
            &context("checkpoint --out"),
        );
        assert!(written["written"].is_string(), "{written}");
        let message = json_error(
            &sequences(
                url,
                &[
                    "--json",
                    "checkpoint",
                    "--out",
                    "/nonexistent/dir/checkpoint.json",
                ],
            ),
            "io",
            &context("checkpoint to a missing directory"),
        );
        assert!(message.contains("cannot write"), "{message}");

        // show previews the next number, taking nothing.
        let shown = json_outcome(
            &sequences(url, &["--json", "show", &name]),
            0,
            &context("show"),
        );
        assert_eq!(shown["next"], 6, "{shown}");
        let table = sequences(url, &["show", &name]);
        assert!(
            text(&table.stdout)
                .contains("next: 6 (a preview: another transaction may take it first)"),
            "{}",
            text(&table.stdout)
        );
        assert_eq!(
            Sequence::new(&name).last_value(&t.db).await.unwrap(),
            Some(5),
            "{:?}: show took nothing",
            t.backend
        );

        // --database-url before or after the subcommand.
        for args in [
            vec!["--database-url", url, "show", &name, "--json"],
            vec!["show", &name, "--database-url", url, "--json"],
            vec!["--json", "show", "--database-url", url, &name],
        ] {
            let output = Command::new(BIN)
                .env_remove("DATABASE_URL")
                .args(&args)
                .output()
                .unwrap();
            let shown = json_outcome(&output, 0, &context("--database-url placed anywhere"));
            assert_eq!(shown["last"], 5, "{shown}");
        }

        // Auditing a text column needs --format: one clear line.
        let table = format!("cli_text_ref_{}", std::process::id());
        sql(&t.db, &format!("DROP TABLE IF EXISTS {table}")).await;
        sql(
            &t.db,
            &format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, reference VARCHAR(20))"),
        )
        .await;
        sql(
            &t.db,
            &format!("INSERT INTO {table} VALUES (1, 'INV-2026-00001')"),
        )
        .await;
        let audit = ["audit", "--table", &table, "--column", "reference"];
        let line = text_error(&sequences(url, &audit), &context("audit of text"));
        assert!(
            line.contains("not an integer column") && line.contains("--format"),
            "{line}"
        );
        let mut json = vec!["--json"];
        json.extend(audit);
        let message = json_error(
            &sequences(url, &json),
            "bad_input",
            &context("audit of text"),
        );
        assert!(message.contains("--format"), "{message}");
        let mut formatted = audit.to_vec();
        formatted.extend(["--format", "INV-{year}-{value:05}", "--without-counter"]);
        let output = sequences(url, &formatted);
        assert_ne!(output.status.code(), Some(2), "{}", text(&output.stderr));
        let message = json_error(
            &sequences(
                url,
                &["--json", "audit", "--table", &table, "--column", "nope"],
            ),
            "not_found",
            &context("audit of a missing column"),
        );
        assert!(message.contains("no column `nope`"), "{message}");
        sql(&t.db, &format!("DROP TABLE {table}")).await;
    }
}

/// Errors that come before any database: the command line, the URL.
#[test]
fn errors_before_the_database_are_json_too() {
    let run = |args: &[&str]| {
        Command::new(BIN)
            .env_remove("DATABASE_URL")
            .args(args)
            .output()
            .unwrap()
    };
    let message = json_error(&run(&["--json", "list"]), "bad_input", "no URL");
    assert!(message.contains("DATABASE_URL"), "{message}");
    let message = json_error(
        &run(&[
            "--json",
            "--database-url",
            "sqlite::memory:",
            "set",
            "x",
            "NaN",
        ]),
        "bad_input",
        "a value that is not a number",
    );
    assert!(message.contains("NaN"), "{message}");
    json_error(
        &run(&[
            "--json",
            "--database-url",
            "sqlite::memory:",
            "void",
            "x",
            "1",
            "--reason",
            "r",
            "--lock-timeout",
            "soon",
        ]),
        "bad_input",
        "a lock timeout that is not a duration",
    );
    json_error(&run(&["--json"]), "bad_input", "no command");
    json_error(
        &run(&[
            "--json",
            "--database-url",
            "postgres://127.0.0.1:1/none",
            "list",
        ]),
        "connection",
        "nothing listens",
    );
    // Text mode: clap's own message, exit 2.
    let output = run(&[
        "--database-url",
        "sqlite::memory:",
        "void",
        "x",
        "1",
        "--reason",
        "r",
        "--lock-timeout",
        "0s",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("more than zero"),
        "{}",
        text(&output.stderr)
    );
}

/// A database with only the first migration (`sequences_migration::Migration`):
/// every command names the migration to apply, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_schema_names_the_migration_on_every_command() {
    for t in connect_all(1).await {
        let scratch = Scratch::new(&t, "sequences_cli_outdated").await;
        let db = open(&scratch.url, 1).await;
        sequences_migration::Migration
            .up(&SchemaManager::new(&db))
            .await
            .expect("the first migration");
        let url = scratch.url.as_str();
        let commands: [&[&str]; 10] = [
            &["list"],
            &["show", "invoice"],
            &["set", "invoice", "5", "--create"],
            &["void", "invoice", "1", "--reason", "x"],
            &["close", "invoice", "--create"],
            &["reopen", "invoice"],
            &["holders"],
            &["audit", "--table", "sequences", "--column", "last"],
            &[
                "verify",
                "--table",
                "sequences",
                "--number",
                "last",
                "--hash",
                "name",
                "--sequence",
                "x",
            ],
            &["checkpoint"],
        ];
        for args in commands {
            let context = format!("{:?}: {args:?}", t.backend);
            let line = text_error(&sequences(url, args), &context);
            assert!(
                line.contains("apply sequences_migration::migrations() (RegisterMigration)"),
                "{context}: {line}"
            );
            let mut json = vec!["--json"];
            json.extend(args);
            let message = json_error(&sequences(url, &json), "schema_outdated", &context);
            assert!(
                message.contains("RegisterMigration"),
                "{context}: {message}"
            );
        }
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM sequences",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.try_get_by_index::<i64>(0).unwrap(),
            0,
            "{:?}: nothing written",
            t.backend
        );
        // With RegisterMigration but not KeyedChainMigration: a keyed chain's
        // commands name the latter.
        sequences_migration::RegisterMigration
            .up(&SchemaManager::new(&db))
            .await
            .expect("the second migration");
        let output = Command::new(BIN)
            .args([
                "--json",
                "verify",
                "--table",
                "sequences",
                "--number",
                "last",
                "--hash",
                "name",
                "--sequence",
                "x",
                "--key-env",
                "SEQUENCES_CLI_OUTDATED_KEY",
            ])
            .env("DATABASE_URL", url)
            .env(
                "SEQUENCES_CLI_OUTDATED_KEY",
                "a-key-of-at-least-thirty-two-bytes",
            )
            .output()
            .unwrap();
        let message = json_error(
            &output,
            "schema_outdated",
            &format!("{:?}: keyed", t.backend),
        );
        assert!(message.contains("(KeyedChainMigration)"), "{message}");
        json_outcome(
            &sequences(url, &["--json", "list"]),
            0,
            "unkeyed work goes on",
        );
        // Without RangeMigration: a declared range is refused, naming it,
        // before any value is taken; an undeclared one goes on.
        sequences_migration::KeyedChainMigration
            .up(&SchemaManager::new(&db))
            .await
            .expect("the third migration");
        let refused = Sequence::new("bounded").max_value(9).next_value(&db).await;
        match refused {
            Err(error @ sequences_core::SequenceError::SchemaOutdated { .. }) => {
                assert!(error.to_string().contains("RangeMigration"), "{error}")
            }
            other => panic!("{:?}: {other:?}", t.backend),
        }
        assert!(Sequence::new("bounded").state(&db).await.unwrap().is_none());
        assert_eq!(Sequence::new("open").next_value(&db).await.unwrap(), 1);
        let document = json_outcome(
            &sequences(url, &["--json", "list"]),
            0,
            "a list without ranges",
        );
        assert_eq!(document[0]["max_value"], Value::Null, "{document}");
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// A transaction sits on the counter: every write gives up after
/// `--lock-timeout`, exit 2, naming the holder where the database can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_give_up_after_the_lock_timeout_and_name_the_holder() {
    for t in connect_all(2).await {
        let url = t.url.as_str();
        let name = unique_name("cli-held");
        let txn = t.db.begin().await.unwrap();
        Sequence::new(&name).next_value(&txn).await.unwrap();
        txn.commit().await.unwrap();

        // The holder: a transaction that took a number and sits idle.
        let holder = t.db.begin().await.unwrap();
        let session = locks::session_id(&holder).await;
        assert_eq!(Sequence::new(&name).next_value(&holder).await.unwrap(), 2);

        let runs: [(&[&str], bool); 5] = [
            (
                &["void", &name, "1", "--reason", "x", "--lock-timeout", "1s"],
                false,
            ),
            (
                &[
                    "--json",
                    "void",
                    &name,
                    "1",
                    "--reason",
                    "x",
                    "--lock-timeout",
                    "1s",
                ],
                true,
            ),
            (
                &["--json", "set", &name, "10", "--lock-timeout", "1s"],
                true,
            ),
            (&["--json", "close", &name, "--lock-timeout", "1s"], true),
            (&["--json", "reopen", &name, "--lock-timeout", "1s"], true),
        ];
        for (args, json) in runs {
            let context = format!("{:?}: {args:?}", t.backend);
            let (output, took) = sequences_later(url, args).await;
            let message = if json {
                json_error(&output, "lock_timeout", &context)
            } else {
                text_error(&output, &context)
            };
            assert!(message.contains("is held by"), "{context}: {message}");
            assert!(message.contains("gave up after 1s"), "{context}: {message}");
            match (t.backend, session) {
                (Backend::Sqlite, _) => {
                    assert!(message.contains("another writer"), "{context}: {message}")
                }
                (_, Some(session)) => assert!(
                    message.contains(&format!("session {session}")),
                    "{context}: the holder is named: {message}"
                ),
                (_, None) => unreachable!("servers have sessions"),
            }
            // About the timeout: not the default 5 s, not forever.
            assert!(
                took >= Duration::from_millis(900) && took < Duration::from_secs(4),
                "{context}: {took:?}"
            );
        }
        holder.rollback().await.unwrap();

        // Nothing changed: not void, not moved, not closed.
        let shown: Value =
            serde_json::from_slice(&sequences(url, &["--json", "show", &name]).stdout).unwrap();
        assert_eq!(
            (
                shown["last"].as_i64(),
                shown["closed"].as_bool(),
                shown["voids"].as_array().map(Vec::len)
            ),
            (Some(1), Some(false), Some(0)),
            "{:?}: {shown}",
            t.backend
        );
    }
}

/// SQLite: a write waits for another connection's short write transaction
/// (up to --lock-timeout) instead of failing at once; `holders` does not wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_wait_for_a_short_writer() {
    for t in connect_all(2).await {
        if t.backend != Backend::Sqlite {
            continue;
        }
        let scratch = Scratch::new(&t, "sequences_cli_busy").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let url = scratch.url.clone();
        let name = unique_name("cli-busy");
        Sequence::new(&name).next_value(&db).await.ok();
        let txn = db.begin().await.unwrap();
        Sequence::new(&name).next_value(&txn).await.unwrap();

        let (output, took) = sequences_later(&url, &["holders"]).await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert!(
            text(&output.stdout).contains("write lock"),
            "{}",
            text(&output.stdout)
        );
        assert!(took < Duration::from_secs(2), "holders waited: {took:?}");

        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            txn.commit().await.unwrap();
        });
        let (output, took) =
            sequences_later(&url, &["close", &name, "--lock-timeout", "10s"]).await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert!(
            took >= Duration::from_millis(1000),
            "it waited for the writer: {took:?}"
        );
        writer.await.unwrap();
        let state = Sequence::new(&name).state(&db).await.unwrap().unwrap();
        assert_eq!((state.last, state.closed), (2, true));
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// On a terminal (`script` gives the command one), going back asks for the
/// sequence's name: a wrong answer changes nothing, the right one goes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_back_on_a_terminal_asks_for_the_name() {
    use std::io::Write as _;
    if Command::new("script").arg("--version").output().is_err() {
        println!("skipping: no `script` to give the command a terminal");
        return;
    }
    for t in connect_all(1).await {
        let name = unique_name("cli-tty");
        let txn = t.db.begin().await.unwrap();
        Sequence::new(&name).next_values(&txn, 10).await.unwrap();
        txn.commit().await.unwrap();
        let on_terminal = |answer: &str| {
            let mut child = Command::new("script")
                .args(["-qec", &format!("{BIN} set {name} 7 --force"), "/dev/null"])
                .env("DATABASE_URL", &t.url)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run script");
            writeln!(child.stdin.take().unwrap(), "{answer}").unwrap();
            child.wait_with_output().unwrap()
        };
        let output = on_terminal("not-the-name");
        let shown = text(&output.stdout);
        assert_eq!(output.status.code(), Some(2), "{:?}: {shown}", t.backend);
        assert!(
            shown.contains("Type the sequence's name") && shown.contains("not confirmed"),
            "{:?}: {shown}",
            t.backend
        );
        assert_eq!(
            Sequence::new(&name).last_value(&t.db).await.unwrap(),
            Some(10)
        );
        let output = on_terminal(&name);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{:?}: {}",
            t.backend,
            text(&output.stdout)
        );
        assert_eq!(
            Sequence::new(&name).last_value(&t.db).await.unwrap(),
            Some(7)
        );
    }
}

/// A keyed chain (`KeyedChainMigration`): `void --table` refuses to write a
/// void without the key (it would break the chain); with `--key-env` the void
/// is authenticated and the keyed chain verifies once the record is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voids_of_a_keyed_chain_carry_the_key() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    use sequences_core::{ChainKey, NumberedField, Numbering, OnDelete};
    use sequences_tests::entities::proof_doc;
    const KEY: &str = "cli-operator-test-key-0123456789";
    const VAR: &str = "SEQUENCES_CLI_TEST_CHAIN_KEY";
    let keyed: Numbering<proof_doc::Column> = {
        use proof_doc::Column;
        Numbering::new().field_with(
            NumberedField::new(Column::Number, Sequence::new("cli-keyed-{company_id}"))
                .chain(Column::Hash, [Column::CompanyId, Column::AmountCents])
                .chain_key(ChainKey::new(KEY))
                .on_delete(OnDelete::Void),
        )
    };
    for t in connect_all(1).await {
        let scratch = Scratch::new(&t, "sequences_cli_keyed").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let txn = db.begin().await.unwrap();
        for amount in [10, 20, 30] {
            let doc = proof_doc::ActiveModel {
                company_id: Set(1),
                urgent: Set(false),
                amount_cents: Set(amount),
                ..Default::default()
            };
            let doc = keyed.fill(doc, &txn).await.unwrap();
            doc.insert(&txn).await.unwrap();
        }
        txn.commit().await.unwrap();
        let run = |args: &[&str], key: bool| {
            let mut command = Command::new(BIN);
            command.args(args).env("DATABASE_URL", &scratch.url);
            if key {
                command.env(VAR, KEY);
            } else {
                command.env_remove(VAR);
            }
            command.output().unwrap()
        };
        let table = [
            "--table",
            "proof_doc",
            "--number",
            "number",
            "--hash",
            "hash",
            "--scope",
            "company_id",
            "--sequence",
            "cli-keyed-{company_id}",
        ];
        let verify: Vec<&str> = [
            "verify",
            "--covers",
            "company_id,amount_cents",
            "--key-env",
            VAR,
        ]
        .into_iter()
        .chain(table)
        .collect();
        let context = format!("{:?}", t.backend);
        let output = run(&verify, true);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{context}: {}",
            text(&output.stdout)
        );

        let void: Vec<&str> = [
            "--json",
            "void",
            "cli-keyed-1",
            "3",
            "--reason",
            "cancelled",
        ]
        .into_iter()
        .chain(table)
        .collect();
        let message = json_error(&run(&void, false), "bad_input", &context);
        assert!(
            message.contains("keyed chain") && message.contains("--key-env"),
            "{message}"
        );
        let mut keyed_void = void.clone();
        keyed_void.extend(["--key-env", VAR]);
        let done = json_outcome(&run(&keyed_void, true), 0, &context);
        assert_eq!(
            (done["keyed"].as_bool(), done["hash_kept"].as_bool()),
            (Some(true), Some(true))
        );
        sql(
            &db,
            "DELETE FROM proof_doc WHERE company_id = 1 AND number = 3",
        )
        .await;
        let output = run(&verify, true);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{context}: the keyed void continues the chain: {}",
            text(&output.stdout)
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// `adopt`: a legacy table continues after its highest number; a table with
/// gaps or duplicates is refused, nothing changed, unless `--allow-defects`.
#[tokio::test]
async fn adopt_continues_a_legacy_table() {
    for t in connect_all(2).await {
        let url = t.url.as_str();
        let table = format!("legacy_{}", std::process::id());
        sql(&t.db, &format!("DROP TABLE IF EXISTS {table}")).await;
        sql(
            &t.db,
            &format!(
                "CREATE TABLE {table} (id INTEGER PRIMARY KEY, book VARCHAR(20), number INTEGER)"
            ),
        )
        .await;
        sql(
            &t.db,
            &format!(
                "INSERT INTO {table} VALUES (1, 'a', 1), (2, 'a', 2), (3, 'a', 3), \
                 (4, 'b', 1), (5, 'b', 3), (6, 'b', 3)"
            ),
        )
        .await;
        let context = |what: &str| format!("{t:?}: {what}");
        let (a, b) = (unique_name("legacy-a"), unique_name("legacy-b"));
        let run = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            sequences(url, &args)
        };
        let template_a = format!("{a}-{{book}}");
        let template_b = format!("{b}-{{book}}");
        let name_a = format!("{a}-a");
        let name_b = format!("{b}-b");
        let args = |name: &str, template: &str, extra: &[&str]| {
            let mut args: Vec<String> = [
                "--json",
                "adopt",
                name,
                "--table",
                &table,
                "--column",
                "number",
                "--scope",
                "book",
                "--sequence",
                template,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra.iter().map(|s| s.to_string()));
            args
        };
        // Book a: 1..=3, clean: the counter continues after 3.
        let done = json_outcome(
            &run(args(&name_a, &template_a, &[])),
            0,
            &context("adopt a"),
        );
        assert_eq!(
            (done["last"].clone(), done["previous"].clone()),
            (3.into(), Value::Null)
        );
        let txn = t.db.begin().await.unwrap();
        assert_eq!(Sequence::new(&name_a).next_value(&txn).await.unwrap(), 4);
        txn.rollback().await.unwrap();
        // Book b: 2 missing, 3 twice: refused, nothing changed.
        let message = json_error(
            &run(args(&name_b, &template_b, &[])),
            "refused",
            &context("b"),
        );
        assert!(
            message.contains("1 missing") && message.contains("--allow-defects"),
            "{message}"
        );
        assert_eq!(
            Sequence::new(&name_b).last_value(&t.db).await.unwrap(),
            None
        );
        let done = json_outcome(
            &run(args(&name_b, &template_b, &["--allow-defects"])),
            0,
            &context("b allowed"),
        );
        assert_eq!(done["last"], 3, "{done}");
        // Scope without a template: refused before anything.
        let message = json_error(
            &sequences(
                url,
                &[
                    "--json", "adopt", &name_a, "--table", &table, "--column", "number", "--scope",
                    "book",
                ],
            ),
            "bad_input",
            &context("no template"),
        );
        assert!(message.contains("--sequence"), "{message}");
        sql(&t.db, &format!("DROP TABLE {table}")).await;
    }
}

/// A declared range (`max_value`, `warn_at`) is recorded by each allocation:
/// `list` shows it and marks the sequence from `warn_at` on, then exhausted;
/// `--json` carries `max_value`, `warn_at` and `near_end`.
#[tokio::test]
async fn list_marks_a_sequence_near_the_end_of_its_range() {
    for t in connect_all(1).await {
        let url = t.url.as_str();
        let name = unique_name("range");
        let bounded = Sequence::new(&name).max_value(10).warn_at(8);
        let unbounded = Sequence::new(format!("{name}-open"));
        unbounded.next_value(&t.db).await.unwrap();
        let list = |expect_near: bool, mark: &str| {
            let context = format!("{:?}: {mark}", t.backend);
            let document = json_outcome(
                &sequences(url, &["--json", "list", "--prefix", &name]),
                0,
                &context,
            );
            let all = document.as_array().expect("an array");
            assert_eq!(all.len(), 2, "{context}: {document}");
            assert_eq!(all[0]["max_value"], 10, "{context}: {document}");
            assert_eq!(all[0]["warn_at"], 8, "{context}: {document}");
            assert_eq!(all[0]["near_end"], expect_near, "{context}: {document}");
            assert_eq!(all[1]["max_value"], Value::Null, "{context}: {document}");
            assert_eq!(all[1]["near_end"], false, "{context}: {document}");
            let output = sequences(url, &["list", "--prefix", &name]);
            let stdout = text(&output.stdout);
            let row = stdout
                .lines()
                .find(|line| line.contains(&name) && !line.contains("-open"))
                .unwrap_or_else(|| panic!("{context}: {stdout}"));
            assert!(row.contains(mark), "{context}: {row}");
            let open = stdout.lines().find(|line| line.contains("-open")).unwrap();
            assert!(!open.contains("up to") && !open.contains("NEAR"), "{open}");
        };
        bounded.next_values(&t.db, 7).await.unwrap();
        list(false, "up to 10");
        assert_eq!(bounded.next_value(&t.db).await.unwrap(), 8);
        list(true, "NEAR END, 2 left (up to 10)");
        bounded.next_values(&t.db, 2).await.unwrap();
        list(true, "EXHAUSTED (up to 10)");
        let refused = bounded.next_value(&t.db).await;
        assert!(
            matches!(
                refused,
                Err(sequences_core::SequenceError::Exhausted { .. })
            ),
            "{refused:?}"
        );
        assert_eq!(bounded.state(&t.db).await.unwrap().unwrap().last, 10);
    }
}
