//! Runs the invoicing demo as a newcomer would, on SQLite and on the servers
//! (`SEQUENCES_DEMO_POSTGRES_URL`, `SEQUENCES_DEMO_MYSQL_URL`; required when
//! `SEQUENCES_REQUIRE_BACKENDS=1`), and checks its verdict.

use std::process::Command;

const DEMO: &str = env!("CARGO_BIN_EXE_invoicing-demo");

fn run(url: &str) -> (bool, String, String) {
    let output = Command::new(DEMO)
        .args(["--database-url", url, "--workers", "4", "--invoices", "25"])
        .output()
        .expect("run the demo");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn urls(dir: &tempfile::TempDir) -> Vec<String> {
    let mut urls = vec![format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("demo.db").display()
    )];
    let require = std::env::var("SEQUENCES_REQUIRE_BACKENDS").is_ok_and(|v| v == "1");
    for var in ["SEQUENCES_DEMO_POSTGRES_URL", "SEQUENCES_DEMO_MYSQL_URL"] {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => urls.push(url),
            _ if require => panic!("{var} is not set and SEQUENCES_REQUIRE_BACKENDS=1"),
            _ => println!("skipping: {var} is not set"),
        }
    }
    urls
}

#[test]
fn demo_ends_gapless_and_shows_auto_increment_gaps() {
    let dir = tempfile::tempdir().unwrap();
    for url in urls(&dir) {
        // Twice: a second run on the same database starts afresh.
        for round in 0..2 {
            let (ok, stdout, stderr) = run(&url);
            assert!(ok, "{url} round {round}: {stdout}\n{stderr}");
            let last = stdout.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("sea-orm-sequences:") && last.ends_with(": 0 gaps, 0 duplicates"),
                "{url}: {stdout}"
            );
            let plain = stdout
                .lines()
                .find(|line| line.starts_with("auto-increment:"))
                .unwrap_or_else(|| panic!("{url}: {stdout}"));
            let gaps: u64 = plain
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{url}: {plain}"));
            assert!(gaps > 0, "{url}: auto-increment showed no gaps: {plain}");
        }
    }
}

#[test]
fn bad_input_gets_one_line_errors() {
    let (ok, _, stderr) = run("postgres://nobody:secret@127.0.0.1:1/none");
    assert!(!ok);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot connect to"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is not printed: {stderr}"
    );

    let output = Command::new(DEMO)
        .args(["--rollback-rate", "1.5"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: invalid value '1.5'"), "{stderr}");
}
