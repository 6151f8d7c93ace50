//! The database password never reaches the terminal: the `sequences` binary,
//! run as a process with URLs a driver refuses, cannot parse or cannot reach,
//! given by `--database-url` or `DATABASE_URL`, with and without `--json`; and,
//! connected to each backend, in the output and errors of later commands.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use sequences_tests::{Backend, connect_all, unique_name};

const BIN: &str = env!("CARGO_BIN_EXE_sequences");
const PASSWORD: &str = "S3cretPW";

/// How the URL reaches the command.
#[derive(Debug, Clone, Copy)]
enum Given {
    Flag,
    Env,
}

fn sequences(url: &str, given: Given, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.env_remove("DATABASE_URL");
    match given {
        Given::Flag => command.arg("--database-url").arg(url),
        Given::Env => command.env("DATABASE_URL", url),
    };
    command.args(args).output().expect("run sequences")
}

/// Neither stream holds the password, in any form; returns (stdout, stderr).
#[track_caller]
fn hidden(output: &Output, context: &str) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(PASSWORD) && !text.contains("S3cret%50W"),
            "{context}: the password is printed:\n{stdout}\n{stderr}"
        );
    }
    (stdout, stderr)
}

/// Fails with exit code 2, the password hidden: one line on stderr, or with
/// `--json` one JSON error on stdout; returns the message.
#[track_caller]
fn fails(output: &Output, json: bool, context: &str) -> String {
    let (stdout, stderr) = hidden(output, context);
    assert_eq!(output.status.code(), Some(2), "{context}: {stdout}{stderr}");
    if json {
        assert_eq!(stderr, "", "{context}");
        assert_eq!(stdout.trim_end().lines().count(), 1, "{context}: {stdout}");
        let document: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{context}: {e}: {stdout}"));
        let message = document["error"]["message"].as_str();
        assert!(
            document["error"]["kind"].is_string() && message.is_some(),
            "{context}: {stdout}"
        );
        return format!("error: {}", message.unwrap_or_default());
    }
    assert_eq!(stdout, "", "{context}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{context}: {stderr}");
    assert!(stderr.starts_with("error: "), "{context}: {stderr}");
    stderr
}

#[test]
fn unusable_urls_never_print_the_password() {
    let urls = [
        // No driver for the scheme: the driver's message repeats the URL.
        "foo://admin:S3cretPW@127.0.0.1/db",
        // Unparsable: a port that is not a number, an unclosed IPv6 address.
        "postgres://admin:S3cretPW@127.0.0.1:notaport/db",
        "postgres://admin:S3cretPW@[::1/db",
        // The password as a query parameter.
        "postgres://127.0.0.1:5999/db?user=admin&password=S3cretPW",
        // Nothing listens: refused.
        "postgres://admin:S3cretPW@127.0.0.1:1/none",
        "mysql://admin:S3cretPW@127.0.0.1:1/none",
        // Percent-encoded (%50 is P): neither form is printed.
        "postgres://admin:S3cret%50W@127.0.0.1:1/none",
        "sqlite:///nonexistent/sequences.db?password=S3cretPW",
    ];
    for url in urls {
        for given in [Given::Flag, Given::Env] {
            for json in [false, true] {
                let args: &[&str] = if json { &["--json", "list"] } else { &["list"] };
                let context = format!("{url} ({given:?}, json: {json})");
                let started = Instant::now();
                let output = sequences(url, given, args);
                let stderr = fails(&output, json, &context);
                assert!(
                    stderr.starts_with("error: cannot connect to ") && stderr.contains("***"),
                    "{context}: {stderr}"
                );
                // A refused connection fails at once, not after the pool's acquire timeout.
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "{context}: {:?}",
                    started.elapsed()
                );
            }
        }
    }
}

#[test]
fn usage_errors_and_help_never_print_the_password() {
    let url = "postgres://admin:S3cretPW@127.0.0.1:1/none";
    // The URL mistaken for a subcommand, then `--database-url=URL` with none.
    let output = Command::new(BIN)
        .env_remove("DATABASE_URL")
        .args([url, "list"])
        .output()
        .unwrap();
    let (_, stderr) = hidden(&output, "a URL as subcommand");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let output = Command::new(BIN)
        .env_remove("DATABASE_URL")
        .arg(format!("--database-url={url}"))
        .output()
        .unwrap();
    hidden(&output, "no subcommand");
    assert_eq!(output.status.code(), Some(2));
    let output = Command::new(BIN)
        .env("DATABASE_URL", url)
        .arg("--help")
        .output()
        .unwrap();
    hidden(&output, "--help");
    assert_eq!(output.status.code(), Some(0));
}

/// Connected with a password (PostgreSQL: the test server trusts any;
/// MariaDB: a user of its own), later commands' output and errors hide it too.
#[tokio::test]
async fn connected_commands_never_print_the_password() {
    for t in connect_all(1).await {
        let url = match t.backend {
            Backend::Postgres => with_password(&t.url, None),
            Backend::MySql => {
                let user = "sequences_secret";
                let (_, database) = t.url.rsplit_once('/').unwrap();
                for host in ["%", "localhost"] {
                    for statement in [
                        format!("DROP USER IF EXISTS '{user}'@'{host}'"),
                        format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY '{PASSWORD}'"),
                        format!("GRANT ALL ON {database}.* TO '{user}'@'{host}'"),
                    ] {
                        t.db.execute_unprepared(&statement).await.unwrap();
                    }
                }
                with_password(&t.url, Some(user))
            }
            // No password in a SQLite URL (sqlx refuses unknown parameters).
            Backend::Sqlite => continue,
        };
        // A sequence whose name holds the password's text, to see it hidden.
        let name = unique_name(&format!("{PASSWORD}-cli"));
        for given in [Given::Flag, Given::Env] {
            let context = format!("{:?} ({given:?})", t.backend);
            let output = sequences(&url, given, &["set", &name, "5", "--create"]);
            let (stdout, stderr) = hidden(&output, &context);
            assert_eq!(output.status.code(), Some(0), "{context}: {stderr}");
            assert!(stdout.contains("***-cli"), "{context}: {stdout}");
            for json in [false, true] {
                let args: &[&str] = if json { &["--json", "list"] } else { &["list"] };
                let output = sequences(&url, given, args);
                let (stdout, stderr) = hidden(&output, &context);
                assert_eq!(output.status.code(), Some(0), "{context}: {stderr}");
                assert!(stdout.contains("***-cli"), "{context}: {stdout}");
                if json {
                    serde_json::from_str::<serde_json::Value>(&stdout)
                        .unwrap_or_else(|e| panic!("{context}: {e}: {stdout}"));
                }
                // Errors of later commands, not only of connecting.
                let mut args = Vec::from(args);
                args.pop();
                args.extend(["show", "S3cretPW-none"]);
                let output = sequences(&url, given, &args);
                let stderr = fails(&output, json, &context);
                if json {
                    let document: serde_json::Value =
                        serde_json::from_slice(&output.stdout).unwrap();
                    assert_eq!(
                        document["error"]["kind"], "not_found",
                        "{context}: {document}"
                    );
                }
                // Without --json the sentence is all there is: it says why.
                assert!(stderr.contains("does not exist"), "{context}: {stderr}");
                let missing = format!("{PASSWORD}-missing");
                let stderr = fails(
                    &sequences(&url, given, &["void", &missing, "1", "--reason", PASSWORD]),
                    false,
                    &context,
                );
                assert!(stderr.contains("***"), "{context}: {stderr}");
            }
        }
    }
}

/// `scheme://user@host/db` with `user` (or its own) and the password.
fn with_password(url: &str, user: Option<&str>) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (own, host) = rest.split_once('@').expect("a URL with a user");
    format!("{scheme}://{}:{PASSWORD}@{host}", user.unwrap_or(own))
}

/// A keyword/value connection string (`host=... password=...`, what `psql`
/// accepts) is no URL: the driver refuses it and repeats it; the password is
/// hidden all the same, as a table and as JSON. (Found by the attack tests.)
#[test]
fn keyword_value_connection_strings_are_redacted() {
    let dsn = "host=127.0.0.1 user=postgres password=TopS3cretPw dbname=sequences_test";
    for json in [false, true] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sequences"));
        command.args(["--database-url", dsn]);
        if json {
            command.arg("--json");
        }
        let output = command.arg("list").output().unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(2), "{printed}");
        assert!(
            !printed.contains("TopS3cretPw"),
            "the password is printed (json: {json}): {printed}"
        );
    }
}
