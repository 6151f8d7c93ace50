//! The `sequences` command, run as a process against an empty database of
//! each backend: every command, its JSON, its exit codes, and bad input that
//! changes nothing.

use std::process::{Command, Output};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, Statement,
    TransactionTrait,
};
use sequences_core::Sequence;
use sequences_tests::entities::chained_doc;
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

/// Runs a command on a terminal (util-linux's `script` gives it one, for
/// stdout and stderr alike); what the terminal showed.
fn on_terminal(url: &str, args: &[&str]) -> String {
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|arg| format!("'{}'", arg.replace('\'', "'\\''")))
        .collect();
    let output = Command::new("script")
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .env("DATABASE_URL", url)
        .output()
        .expect("run script (util-linux)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a command that must succeed with exit code `code`; its stdout.
fn ok(url: &str, args: &[&str], code: i32) -> String {
    let output = sequences(url, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert_eq!(
        output.status.code(),
        Some(code),
        "sequences {args:?}: {stdout}{stderr}"
    );
    stdout
}

/// Runs a command that must fail: with `--json`, an error of `kind` (what a
/// script matches on); without, a one-line error whose sentence, for the
/// operator, contains `expected`.
fn fails(url: &str, args: &[&str], kind: &str, expected: &str) {
    let mut json_args = vec!["--json"];
    json_args.extend(args);
    let output = sequences(url, &json_args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(2),
        "sequences {json_args:?}: {stdout}"
    );
    assert_eq!(
        json(&stdout)["error"]["kind"],
        kind,
        "sequences {json_args:?}: {stdout}"
    );
    let output = sequences(url, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "sequences {args:?}: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(expected),
        "sequences {args:?}: expected {expected:?} in {stderr}"
    );
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn sql(db: &DatabaseConnection, statement: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), statement))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_end_to_end() {
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "sequences_cli").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 4).await;
        let url = scratch.url.as_str();

        // Numbers 1..=5 of `invoice-7`, a closed year, a chained register.
        let txn = db.begin().await.unwrap();
        Sequence::new("invoice-7")
            .next_values(&txn, 5)
            .await
            .unwrap();
        Sequence::new("receipt").next_value(&txn).await.unwrap();
        txn.commit().await.unwrap();

        // list, show
        let list = json(&ok(url, &["--json", "list", "--prefix", "invoice-"], 0));
        assert_eq!(list.as_array().unwrap().len(), 1, "{t:?}: {list}");
        assert_eq!(list[0]["name"], "invoice-7");
        assert_eq!(list[0]["last"], 5);
        let table = ok(url, &["list"], 0);
        assert!(
            table.contains("invoice-7") && table.contains("receipt"),
            "{t:?}: {table}"
        );
        let shown = json(&ok(url, &["show", "invoice-7", "--json"], 0));
        assert_eq!(
            (shown["last"].clone(), shown["closed"].clone()),
            (5.into(), false.into())
        );

        // set: forward; backward refused; --force warns.
        ok(url, &["set", "invoice-7", "10"], 0);
        fails(
            url,
            &["set", "invoice-7", "7"],
            "refused",
            "refusing to move last from 10 back to 7",
        );
        // Going back without a terminal needs --yes, and changes nothing without it.
        fails(
            url,
            &["set", "invoice-7", "8", "--force"],
            "confirmation_required",
            "pass --yes",
        );
        assert_eq!(
            Sequence::new("invoice-7").last_value(&db).await.unwrap(),
            Some(10)
        );
        let output = sequences(url, &["set", "invoice-7", "8", "--force", "--yes"]);
        assert_eq!(output.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("warning"),
            "{t:?}"
        );
        ok(url, &["set", "invoice-7", "10"], 0);

        // void: once, with a reason; never-handed-out and repeated refused.
        ok(
            url,
            &[
                "void",
                "invoice-7",
                "3",
                "--reason",
                "cancelled by credit note 12",
            ],
            0,
        );
        fails(
            url,
            &["void", "invoice-7", "3", "--reason", "again"],
            "refused",
            "already void",
        );
        fails(
            url,
            &["void", "invoice-7", "99", "--reason", "x"],
            "refused",
            "never handed out",
        );
        let shown = json(&ok(url, &["--json", "show", "invoice-7"], 0));
        assert_eq!(shown["voids"][0]["value"], 3, "{t:?}: {shown}");

        // close / reopen, seen by the library.
        ok(url, &["close", "invoice-7"], 0);
        assert!(
            Sequence::new("invoice-7").next_value(&db).await.is_err(),
            "{t:?}: closed"
        );
        ok(url, &["reopen", "invoice-7"], 0);
        assert_eq!(
            Sequence::new("invoice-7").next_value(&db).await.unwrap(),
            11
        );
        ok(url, &["close", "invoice-8", "--create"], 0);

        // A name that is not there: one line, nothing created.
        fails(url, &["show", "nope"], "not_found", "does not exist");
        fails(url, &["close", "nope"], "not_found", "does not exist");
        fails(url, &["reopen", "nope"], "not_found", "does not exist");
        fails(url, &["set", "nope", "5"], "not_found", "does not exist");
        assert_eq!(Sequence::new("nope").last_value(&db).await.unwrap(), None);

        // audit of a table the command knows only by name.
        sql(&db, "CREATE TABLE cli_invoice (id INTEGER PRIMARY KEY, company_id INTEGER NOT NULL, number BIGINT, issued_on DATE)").await;
        let rows = [
            (1, 7, 1, "2026-01-01"),
            (2, 7, 2, "2026-01-02"),
            (3, 7, 4, "2026-01-03"),
            (4, 7, 5, "2026-01-04"),
            (5, 7, 6, "2026-01-05"),
            (6, 7, 7, "2026-01-06"),
            (7, 7, 8, "2026-01-07"),
            (8, 7, 9, "2026-01-08"),
            (9, 7, 10, "2026-01-09"),
            (10, 7, 11, "2026-01-10"),
        ];
        for (id, company, number, issued) in rows {
            sql(
                &db,
                &format!("INSERT INTO cli_invoice VALUES ({id}, {company}, {number}, '{issued}')"),
            )
            .await;
        }
        let audit = [
            "--json",
            "audit",
            "--table",
            "cli_invoice",
            "--column",
            "number",
            "--scope",
            "company_id",
            "--sequence",
            "invoice-{company_id}",
            "--date",
            "issued_on",
        ];
        let report = json(&ok(url, &audit, 0));
        assert_eq!(report["clean"], true, "{t:?}: 3 is void: {report}");
        assert_eq!(report["groups"][0]["voided"][0], 3);
        // Plant a gap nobody explains and a date inversion: exit code 1.
        sql(&db, "UPDATE cli_invoice SET number = 12 WHERE id = 10").await;
        sql(
            &db,
            "UPDATE cli_invoice SET issued_on = '2025-12-31' WHERE id = 9",
        )
        .await;
        let report = json(&ok(url, &audit, 1));
        let group = &report["groups"][0];
        assert_eq!(group["missing"], 1, "{t:?}: {report}");
        assert_eq!(group["gaps"][0], serde_json::json!([11, 11]));
        assert_eq!(group["inversions"], 1);
        let human = ok(url, &audit[1..], 1);
        assert!(human.contains("DEFECT"), "{t:?}: {human}");
        let drawn = on_terminal(url, &audit[1..]);
        assert!(
            drawn.contains("auditing cli_invoice.number") && drawn.contains("DEFECT"),
            "{t:?}: {drawn}"
        );
        fails(
            url,
            &["audit", "--table", "no_such_table", "--column", "number"],
            "not_found",
            "no_such_table",
        );
        fails(
            url,
            &["audit", "--table", "cli_invoice", "--column", "nope"],
            "not_found",
            "nope",
        );

        // verify: a chained register written by the library, then tampered with.
        let txn = db.begin().await.unwrap();
        for amount in [100, 200, 300] {
            chained_doc::ActiveModel {
                company_id: Set(7),
                amount_cents: Set(amount),
                issued_on: Set("2026-11-23".parse().unwrap()),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        let verify = [
            "--json",
            "verify",
            "--table",
            "chained_doc",
            "--number",
            "number",
            "--hash",
            "hash",
            "--covers",
            "company_id,amount_cents,issued_on",
            "--scope",
            "company_id",
            "--sequence",
            "chained-{company_id}",
        ];
        let report = json(&ok(url, &verify, 0));
        assert_eq!(report["intact"], true, "{t:?}: {report}");
        assert_eq!(report["chains"][0]["links"], 3);
        // On a terminal, the progress is drawn on stderr; never under
        // --json, nor when stderr is not a terminal.
        let drawn = on_terminal(url, &verify[1..]);
        assert!(
            drawn.contains("verifying the chains of chained_doc.number"),
            "{t:?}: {drawn}"
        );
        let quiet = on_terminal(url, &verify);
        assert!(
            !quiet.contains("verifying") && quiet.contains("\"intact\""),
            "{t:?}: {quiet}"
        );
        let piped = sequences(url, &verify[1..]);
        assert!(piped.stderr.is_empty(), "{t:?}: {piped:?}");
        sql(
            &db,
            "UPDATE chained_doc SET amount_cents = 250 WHERE number = 2",
        )
        .await;
        let report = json(&ok(url, &verify, 1));
        assert_eq!(
            report["chains"][0]["breaks"][0]["number"], 2,
            "{t:?}: {report}"
        );
        assert_eq!(report["chains"][0]["breaks"][0]["kind"], "altered");

        // holders: a transaction holds invoice-7; on the servers a second one waits.
        let holder = db.begin().await.unwrap();
        Sequence::new("invoice-7")
            .next_value(&holder)
            .await
            .unwrap();
        let waiter = if t.backend.has_row_locks() {
            let (waiter, session) = locks::spawn_transaction(&db, |txn| async move {
                Sequence::new("invoice-7").next_value(&txn).await.unwrap();
                txn.rollback().await.unwrap();
            })
            .await;
            let session = session.unwrap();
            locks::wait_until_waiting(&db, session, "the waiter").await;
            Some((waiter, session))
        } else {
            None
        };
        let url_owned = url.to_owned();
        let holders = tokio::task::spawn_blocking(move || {
            json(&ok(&url_owned, &["--json", "holders", "invoice-7"], 0))
        })
        .await
        .unwrap();
        let roles: Vec<&str> = holders
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["role"].as_str().unwrap())
            .collect();
        match t.backend {
            Backend::Sqlite => assert_eq!(roles, ["holding"], "{t:?}: {holders}"),
            _ => {
                assert_eq!(roles, ["holding", "waiting"], "{t:?}: {holders}");
                assert_eq!(holders[0]["sequence"], "invoice-7");
                let (_, session) = waiter.as_ref().unwrap();
                assert_eq!(holders[1]["session"], *session, "{t:?}: {holders}");
            }
        }
        holder.rollback().await.unwrap();
        if let Some((waiter, _)) = waiter {
            waiter.await.unwrap();
        }
        if t.backend == Backend::MySql {
            // InnoDB refreshes its lock views only when last read over 100 ms
            // ago; nothing else reads them now.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let free = ok(url, &["holders"], 0);
        assert!(free.contains("no session"), "{t:?}: {free}");

        db.close().await.unwrap();
        scratch.remove().await;
    }

    // An unreachable database: one line, the password not printed.
    fails(
        "postgres://user:secret@127.0.0.1:1/none",
        &["list"],
        "connection",
        "cannot connect to postgres://user:***@127.0.0.1:1/none",
    );
    let output = sequences("postgres://user:secret@127.0.0.1:1/none", &["list"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("secret"));
}

/// `close --create --initial N` prepares a period before its first number
/// so that the application's `initial_value(N)` still starts at N.
#[tokio::test]
async fn close_create_keeps_the_initial_value() {
    for t in connect_all(2).await {
        let url = t.url.as_str();
        let name = unique_name("cli-initial");
        ok(url, &["close", &name, "--create", "--initial", "1000"], 0);
        // Again: the sequence is as that command left it, so nothing to refuse.
        ok(url, &["close", &name, "--create", "--initial", "1000"], 0);
        let state = Sequence::new(&name).state(&t.db).await.unwrap().unwrap();
        assert_eq!((state.last, state.closed), (999, true), "{t:?}");
        ok(url, &["reopen", &name], 0);
        let txn = t.db.begin().await.unwrap();
        let first = Sequence::new(&name)
            .initial_value(1000)
            .next_value(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(first, 1000, "{t:?}");

        // Now in use: an --initial that would be ignored is refused, with or
        // without --create, and nothing changes.
        for args in [
            ["close", name.as_str(), "--initial", "1000", "--create"].as_slice(),
            &["close", &name, "--initial", "1"],
        ] {
            fails(
                url,
                args,
                "bad_input",
                "applies only to a sequence that close --create creates",
            );
        }
        let state = Sequence::new(&name).state(&t.db).await.unwrap().unwrap();
        assert_eq!((state.last, state.closed), (1000, false), "{t:?}");
        // Without --create on a sequence that does not exist: as before.
        let missing = unique_name("cli-initial-missing");
        fails(
            url,
            &["close", &missing, "--initial", "5"],
            "not_found",
            "does not exist",
        );
        assert_eq!(
            Sequence::new(&missing).last_value(&t.db).await.unwrap(),
            None
        );
        // Without --initial: created at 0, the first number 1, as before.
        let plain = unique_name("cli-initial-default");
        ok(url, &["close", &plain, "--create"], 0);
        ok(url, &["reopen", &plain], 0);
        assert_eq!(
            Sequence::new(&plain).next_value(&t.db).await.unwrap(),
            1,
            "{t:?}"
        );
    }
}

#[test]
fn usage_errors_exit_with_2() {
    // clap's own errors, before any connection.
    let output = Command::new(BIN)
        .args([
            "--database-url",
            "sqlite::memory:",
            "set",
            "invoice",
            "not-a-number",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = Command::new(BIN)
        .args([
            "--database-url",
            "sqlite::memory:",
            "audit",
            "--table",
            "t",
            "--column",
            "c",
            "--period",
            "week",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid value 'week' for '--period"));
}

/// The attacks of the proof tests (tests/tests/it/proof.rs), seen by the command:
/// `audit` and `verify` exit 1 on each of them, and the checkpoint and the
/// keyed chain catch what a keyless chain alone cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_and_verify_are_not_fooled() {
    use sequences_tests::entities::proof_doc;
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "sequences_cli_proof").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 4).await;
        let url = scratch.url.as_str();
        let insert = |company: i32, count: i64| {
            let db = db.clone();
            async move {
                let txn = db.begin().await.unwrap();
                for amount in 0..count {
                    proof_doc::ActiveModel {
                        company_id: Set(company),
                        urgent: Set(company % 2 == 0),
                        amount_cents: Set(amount),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await
                    .unwrap();
                }
                txn.commit().await.unwrap();
            }
        };
        let audit = [
            "audit",
            "--table",
            "proof_doc",
            "--column",
            "number",
            "--scope",
            "company_id",
            "--sequence",
            "proof-{company_id}",
            "--key",
            "id",
        ];
        let verify = [
            "verify",
            "--table",
            "proof_doc",
            "--number",
            "number",
            "--hash",
            "hash",
            "--covers",
            "company_id,amount_cents",
            "--scope",
            "company_id",
            "--sequence",
            "proof-{company_id}",
        ];
        let with = |base: &[&str], more: &[&str]| -> Vec<String> {
            base.iter().chain(more).map(|s| s.to_string()).collect()
        };
        let run = |args: Vec<String>, code: i32| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(url, &args, code)
        };
        insert(1, 3).await;
        insert(2, 2).await;
        run(with(&audit, &[]), 0);
        run(with(&verify, &[]), 0);
        // Booleans read back as the library prints them (MariaDB, SQLite: 1/0).
        run(
            with(
                &[
                    "audit",
                    "--table",
                    "proof_doc",
                    "--column",
                    "flag_number",
                    "--scope",
                    "urgent",
                    "company_id",
                    "--sequence",
                    "proof-flag-{urgent}-{company_id}",
                ],
                &[],
            ),
            0,
        );

        // A checkpoint kept outside the database.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("checkpoint.json");
        let file = file.to_str().unwrap();
        run(with(&["checkpoint", "--out", file], &[]), 0);
        let written = json(&std::fs::read_to_string(file).unwrap());
        let chained = written["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["head"].is_string())
            .count();
        assert_eq!(chained, 2, "{t:?}: {written}");
        run(with(&verify, &["--against", file]), 0);
        run(with(&audit, &["--against", file]), 0);

        // The last record voided through the command, its hash kept, then
        // deleted: the chain is whole; the audit explains the gap.
        run(
            with(
                &[
                    "void",
                    "proof-1",
                    "3",
                    "--reason",
                    "cancelled",
                    "--table",
                    "proof_doc",
                    "--number",
                    "number",
                    "--hash",
                    "hash",
                    "--scope",
                    "company_id",
                    "--sequence",
                    "proof-{company_id}",
                ],
                &[],
            ),
            0,
        );
        sql(
            &db,
            "DELETE FROM proof_doc WHERE company_id = 1 AND number = 3",
        )
        .await;
        run(with(&verify, &[]), 0);
        run(with(&audit, &[]), 0);

        // A whole scope deleted: both exit 1.
        sql(&db, "DELETE FROM proof_doc WHERE company_id = 2").await;
        let report = json(&run(with(&audit, &["--json"]), 1));
        let gone = report["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["sequence"] == "proof-2")
            .unwrap_or_else(|| panic!("{t:?}: {report}"));
        assert_eq!(
            (gone["rows"].clone(), gone["missing"].clone()),
            (0.into(), 2.into())
        );
        let chains = json(&run(with(&verify, &["--json"]), 1));
        assert_eq!(chains["intact"], false, "{t:?}: {chains}");
        run(with(&verify, &["--against", file]), 1);
        // The counter deleted with its rows: only a checkpoint tells.
        sql(&db, "DELETE FROM sequences WHERE name = 'proof-2'").await;
        let report = json(&run(with(&audit, &["--json"]), 0));
        assert!(
            report["groups"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["sequence"] != "proof-2"),
            "{t:?}: no trace left: {report}"
        );
        let report = json(&run(with(&audit, &["--json", "--against", file]), 1));
        let gone = report["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["sequence"] == "proof-2")
            .unwrap_or_else(|| panic!("{t:?}: {report}"));
        assert_eq!(
            (gone["rewound"].clone(), gone["missing"].clone()),
            (true.into(), 2.into()),
            "{t:?}: {gone}"
        );

        // Unnumbered rows: counted and listed by key.
        insert(3, 1).await;
        sql(
            &db,
            "INSERT INTO proof_doc (company_id, urgent, amount_cents) VALUES (3, FALSE, 7)",
        )
        .await;
        let report = json(&run(with(&audit, &["--json"]), 1));
        let group = report["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["sequence"] == "proof-3")
            .unwrap();
        assert_eq!(group["unnumbered"], 1, "{t:?}: {group}");
        assert_eq!(
            group["unnumbered_keys"].as_array().unwrap().len(),
            1,
            "{t:?}"
        );

        // Hashes erased with one UPDATE: broken.
        insert(5, 2).await;
        sql(&db, "UPDATE proof_doc SET hash = NULL WHERE company_id = 5").await;
        let chains = json(&run(with(&verify, &["--json"]), 1));
        let five = chains["chains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["sequence"] == "proof-5")
            .unwrap();
        assert_eq!(five["breaks"][0]["kind"], "unhashed", "{t:?}: {five}");

        // A key in the environment, never on the command line: the message
        // names the variable to set.
        let unset = with(&verify, &["--key-env", "PROOF_UNSET_KEY_VAR"]);
        let unset: Vec<&str> = unset.iter().map(String::as_str).collect();
        fails(url, &unset, "bad_input", "PROOF_UNSET_KEY_VAR is not set");

        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// `audit` without `--sequence` compares with no counter, so it cannot see
/// the last invoice deleted: it is refused unless the operator says
/// `--without-counter`, and then its output says what was not compared.
/// (Found by the attack tests: it used to exit 0, "every number accounted for".)
#[tokio::test]
async fn audit_without_a_counter_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    migrate(&url).await;
    let db = open(&url, 1).await;
    sql(
        &db,
        "CREATE TABLE inv (id BIGINT NOT NULL PRIMARY KEY, company_id INTEGER NOT NULL, number BIGINT NULL)",
    )
    .await;
    let txn = db.begin().await.unwrap();
    Sequence::new("inv-1").next_values(&txn, 3).await.unwrap();
    txn.commit().await.unwrap();
    sql(&db, "INSERT INTO inv VALUES (1, 1, 1), (2, 1, 2)").await; // 3 deleted
    db.close().await.unwrap();
    let audit = [
        "audit",
        "--table",
        "inv",
        "--column",
        "number",
        "--scope",
        "company_id",
    ];
    fails(&url, &audit, "bad_input", "--sequence");
    let mut rows_only = audit.to_vec();
    rows_only.push("--without-counter");
    let text = ok(&url, &rows_only, 0);
    assert!(text.contains("compared with no counter"), "{text}");
    let mut compared = audit.to_vec();
    compared.extend(["--sequence", "inv-{company_id}"]);
    let text = ok(&url, &compared, 1);
    assert!(text.contains("DEFECT"), "{text}");
}

/// `sequences audit` of a column numbered by the database: its triggers
/// reported intact, then a trigger dropped by hand is a defect (exit 1),
/// named in the JSON and in the operator's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reports_a_guarded_columns_triggers() {
    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "sequences_cli_guards").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 1).await;
        let url = scratch.url.as_str();
        for kind in ["a", "a", "b"] {
            sql(
                &db,
                &format!("INSERT INTO db_slot (kind) VALUES ('{kind}')"),
            )
            .await;
        }
        let audit = [
            "--json",
            "audit",
            "--table",
            "db_slot",
            "--column",
            "number",
            "--scope",
            "kind",
            "--sequence",
            "dbslot-{kind}",
        ];
        let report = json(&ok(url, &audit, 0));
        assert_eq!(report["clean"], true, "{t:?}: {report}");
        assert_eq!(report["triggers"], "Intact", "{t:?}: {report}");
        let on_table = if t.backend == Backend::Postgres {
            " ON db_slot"
        } else {
            ""
        };
        sql(
            &db,
            &format!("DROP TRIGGER sq_db_slot_number_del{on_table}"),
        )
        .await;
        let report = json(&ok(url, &audit, 1));
        assert_eq!(report["clean"], false, "{t:?}: {report}");
        assert_eq!(
            report["triggers"]["Missing"]["triggers"][0], "sq_db_slot_number_del",
            "{t:?}: {report}"
        );
        let human = ok(url, &audit[1..], 1);
        assert!(
            human.contains("triggers MISSING (sq_db_slot_number_del)") && human.contains("DEFECTS"),
            "{t:?}: {human}"
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// `sequences number`: rows committed unnumbered by any client (raw SQL
/// here) are numbered by the command as the application's description
/// says, with the library's own code: the same counters (the library goes on
/// with the command's series), the same refusals (recorded, reported by
/// `wait_for_number`). `--follow` numbers rows as they commit until SIGTERM.
/// A description the rules refuse numbers nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_numbers_what_any_client_committed() {
    use sequences_core::SequenceError;
    use sequences_tests::entities::{ac_doc, ac_receipt};
    use std::time::Duration;

    for t in connect_all(2).await {
        let scratch = Scratch::new(&t, "sequences_cli_number").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 2).await;
        let url = scratch.url.as_str();
        sql(
            &db,
            "INSERT INTO ac_doc (book, issued_on) VALUES ('B', '2026-03-01'), \
             ('B', '2026-03-02'), ('B', '2026-01-15'), ('C', '2026-03-02')",
        )
        .await;
        let doc = [
            "--json",
            "number",
            "--table",
            "ac_doc",
            "--column",
            "reference",
            "--sequence",
            "acd-{book}",
            "--period",
            "year",
            "--date",
            "issued_on",
            "--chronological",
            "--format",
            "{book}-{year}-{value:04}",
            "--raw-value",
            "number",
        ];
        let done = json(&ok(url, &doc, 0));
        assert_eq!(done["numbered"], 3, "{t:?}: {done}");
        let references = |rows: Vec<ac_doc::Model>| -> Vec<(i32, Option<String>, Option<i64>)> {
            rows.into_iter()
                .map(|r| (r.id, r.reference, r.number))
                .collect()
        };
        use sea_orm::{EntityTrait, QueryOrder};
        let rows = ac_doc::Entity::find()
            .order_by_asc(ac_doc::Column::Id)
            .all(&db)
            .await
            .unwrap();
        assert_eq!(
            references(rows),
            vec![
                (1, Some("B-2026-0001".into()), Some(1)),
                (2, Some("B-2026-0002".into()), Some(2)),
                (3, None, None),
                (4, Some("C-2026-0001".into()), Some(1)),
            ],
            "{t:?}"
        );
        // The refusal is the library's: `wait_for_number` reports it.
        let numbering = ac_doc::ActiveModel::gapless_numbering();
        let refused = numbering
            .wait_for_number(&db, 3, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, SequenceError::NumberRefused { .. }),
            "{t:?}: {refused}"
        );
        // The library goes on with the command's series.
        sql(
            &db,
            "INSERT INTO ac_doc (book, issued_on) VALUES ('B', '2026-04-01')",
        )
        .await;
        assert_eq!(numbering.number_pending(&db).await.unwrap(), 1, "{t:?}");
        let fifth = ac_doc::Entity::find_by_id(5)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fifth.reference.as_deref(), Some("B-2026-0003"), "{t:?}");
        // Nothing left: a second pass numbers nothing.
        assert_eq!(json(&ok(url, &doc, 0))["numbered"], 0, "{t:?}");

        // Refused before any row is read.
        fails(
            url,
            &[
                "number",
                "--table",
                "nope",
                "--column",
                "number",
                "--sequence",
                "x",
            ],
            "not_found",
            "no table `nope`",
        );
        fails(
            url,
            &[
                "number",
                "--table",
                "ac_doc",
                "--column",
                "numbr",
                "--sequence",
                "x",
            ],
            "not_found",
            "has no column `numbr`",
        );
        sql(&db, "INSERT INTO ac_receipt (till) VALUES ('T')").await;
        fails(
            url,
            &[
                "number",
                "--table",
                "ac_receipt",
                "--column",
                "id",
                "--sequence",
                "acr-{till}",
            ],
            "refused",
            "after_commit",
        );
        // A chained sequence under the template: the command has no chain.
        sql(
            &db,
            "INSERT INTO sequences (name, last, chain_head) VALUES ('acr-Z', 0, 'abc')",
        )
        .await;
        fails(
            url,
            &[
                "number",
                "--table",
                "ac_receipt",
                "--column",
                "number",
                "--sequence",
                "acr-{till}",
            ],
            "bad_input",
            "is hash-chained",
        );
        sql(&db, "DELETE FROM sequences WHERE name = 'acr-Z'").await;
        let receipts = ac_receipt::Entity::find().all(&db).await.unwrap();
        assert!(
            receipts.iter().all(|r| r.number.is_none()),
            "{t:?}: nothing numbered"
        );

        // --follow: a numberer process, stopped by SIGTERM between batches.
        let follower = Command::new(BIN)
            .args([
                "number",
                "--table",
                "ac_receipt",
                "--column",
                "number",
                "--sequence",
                "acr-{till}",
                "--follow",
            ])
            .env("DATABASE_URL", url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run sequences number --follow");
        for _ in 0..4 {
            sql(&db, "INSERT INTO ac_receipt (till) VALUES ('T')").await;
        }
        let mut waited = 0;
        loop {
            let rows = ac_receipt::Entity::find().all(&db).await.unwrap();
            if rows.iter().all(|r| r.number.is_some()) {
                let mut numbers: Vec<i64> = rows.iter().map(|r| r.number.unwrap()).collect();
                numbers.sort_unstable();
                assert_eq!(numbers, vec![1, 2, 3, 4, 5], "{t:?}");
                break;
            }
            waited += 1;
            assert!(waited < 500, "{t:?}: --follow numbered nothing in 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let killed = Command::new("kill")
            .args(["-TERM", &follower.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let output = follower.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{t:?}: {stdout}");
        assert_eq!(
            stdout.trim(),
            "numbered 5 rows of ac_receipt.number",
            "{t:?}"
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// django-sequences' table, adopted, through the command: `--counter-table
/// django` for show, set and audit; refused where it cannot apply; and
/// `import-django`, the way out. (The real Django is in
/// `tests/tests/django.rs`; here its table is made by hand, as Django's
/// migration makes it.)
#[tokio::test]
async fn the_django_table_through_the_command() {
    use sea_orm_migration::{MigrationTrait, SchemaManager};
    for t in connect_all(1).await {
        let scratch = Scratch::new(&t, "cli_django").await;
        migrate(&scratch.url).await;
        let db = open(&scratch.url, 1).await;
        let django_table = match t.backend {
            Backend::Postgres => {
                "CREATE TABLE sequences_sequence (name varchar(100) NOT NULL PRIMARY KEY, last bigint NOT NULL CHECK (last >= 0))"
            }
            Backend::MySql => {
                "CREATE TABLE sequences_sequence (name varchar(100) NOT NULL PRIMARY KEY, last bigint UNSIGNED NOT NULL)"
            }
            Backend::Sqlite => {
                "CREATE TABLE \"sequences_sequence\" (\"name\" varchar(100) NOT NULL PRIMARY KEY, \"last\" bigint unsigned NOT NULL CHECK (\"last\" >= 0))"
            }
        };
        sql(&db, django_table).await;
        sql(
            &db,
            "INSERT INTO sequences_sequence (name, last) VALUES ('inv', 3)",
        )
        .await;
        sequences_migration::DjangoSequencesMigration
            .up(&SchemaManager::new(&db))
            .await
            .unwrap();
        sql(
            &db,
            "CREATE TABLE django_doc (id INTEGER PRIMARY KEY, number BIGINT NOT NULL)",
        )
        .await;
        sql(
            &db,
            "INSERT INTO django_doc (id, number) VALUES (1, 1), (2, 2), (3, 3)",
        )
        .await;
        let url = scratch.url.as_str();

        let shown = json(&ok(
            url,
            &["--json", "--counter-table", "django", "show", "inv"],
            0,
        ));
        assert_eq!(shown["last"], 3, "{t:?}: {shown}");
        fails(url, &["show", "inv"], "not_found", "does not exist");
        let audit = [
            "--counter-table",
            "django",
            "audit",
            "--table",
            "django_doc",
            "--column",
            "number",
            "--sequence",
            "inv",
        ];
        ok(url, &audit, 0);
        ok(url, &["--counter-table", "django", "set", "inv", "4"], 0);
        // Number 4, handed out and never saved, is a gap: the audit read
        // Django's counter.
        ok(url, &audit, 1);
        for refused in [&["list"][..], &["holders", "inv"][..]] {
            let mut args = vec!["--counter-table", "django"];
            args.extend(refused);
            fails(
                url,
                &args,
                "bad_input",
                "reads the counters of `sequences` only",
            );
        }

        let moved = json(&ok(url, &["--json", "import-django"], 0));
        assert_eq!(moved["moved"][0]["sequence"], "inv", "{t:?}: {moved}");
        assert_eq!(moved["moved"][0]["last"], 4, "{t:?}: {moved}");
        let shown = json(&ok(url, &["--json", "show", "inv"], 0));
        assert_eq!(shown["last"], 4, "{t:?}: {shown}");
        let again = json(&ok(url, &["--json", "import-django"], 0));
        assert_eq!(again["moved"], serde_json::json!([]), "{t:?}: {again}");
        // Without the adoption's guard, the way out is refused.
        sequences_core::django::remove_guards(&db).await.unwrap();
        fails(
            url,
            &["import-django"],
            "refused",
            "apply sequences_migration::DjangoSequencesMigration",
        );
        db.close().await.unwrap();
        scratch.remove().await;
    }
}

/// `sequences audit --counter-table django` over a table filled at once by
/// Django's writers (the real django-sequences, with rollbacks) and the
/// derive: clean, then a number Django handed out and never saved is a gap.
#[tokio::test]
async fn the_command_audits_a_table_django_and_seaorm_filled() {
    use sequences_tests::django::{adopted, done, invoice};
    for t in connect_all(1).await {
        let Some((scratch, db, django)) = adopted(&t, "cli_django_mixed", 4).await else {
            return;
        };
        let writer = {
            let django = django.clone();
            std::thread::spawn(move || {
                django.run(&[
                    "write",
                    "--table",
                    "mixed_invoice",
                    "--series",
                    "cli",
                    "--threads",
                    "2",
                    "--count",
                    "10",
                    "--rollback-every",
                    "3",
                ])
            })
        };
        for i in 0..12 {
            // A deadlock InnoDB picks among creators of the new counter row
            // is run again, as the guide says (the harness does the same).
            let txn = loop {
                let txn = db.begin().await.unwrap();
                match (invoice::ActiveModel {
                    series: Set("cli".to_owned()),
                    source: Set("rust".to_owned()),
                    ..Default::default()
                })
                .insert(&txn)
                .await
                {
                    Ok(_) => break txn,
                    Err(e) if sequences_core::is_retryable(&e) => txn.rollback().await.unwrap(),
                    Err(e) => panic!("{t:?}: {e}"),
                }
            };
            if i % 4 == 3 {
                txn.rollback().await.unwrap();
            } else {
                txn.commit().await.unwrap();
            }
        }
        let written = writer.join().unwrap();
        assert!(written.empty("errors"), "{t:?}: {}", written.0);
        let audit = [
            "--counter-table",
            "django",
            "audit",
            "--table",
            "mixed_invoice",
            "--column",
            "number",
            "--scope",
            "series",
            "--sequence",
            "shared-{series}",
        ];
        let url = scratch.url.as_str();
        ok(url, &audit, 0);
        django.next("shared-cli", 1, None).unwrap();
        let report = ok(url, &audit, 1);
        assert!(report.contains("missing"), "{t:?}: {report}");
        done(scratch, db).await;
    }
}
