//! A concurrent write load on one sequence: tasks that each run transactions
//! taking one value or a small batch, inserting a `test_rows` row per value,
//! and rolling back a share of them on purpose. Used in-process by the tests
//! and, through the `sequences-worker` binary, by several OS processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use sea_orm::{DatabaseConnection, IsolationLevel};
use sequences_core::{Retry, Sequence};

use crate::{Attempt, insert_row};

/// The shape of a load.
#[derive(Debug, Clone)]
pub struct Load {
    /// Concurrent tasks (each uses the pool).
    pub tasks: usize,
    /// Transactions per task.
    pub transactions: usize,
    /// Share of transactions rolled back on purpose, 0.0..=1.0.
    pub rollback_rate: f64,
    /// Isolation level of every transaction (`None`: the database's default).
    pub isolation: Option<IsolationLevel>,
    /// Attempts per transaction given to [`Retry`].
    pub max_attempts: u32,
    /// Count errors that survive the retries (a server restart) instead of
    /// panicking, and go on after a short pause.
    pub tolerate_errors: bool,
}

impl Default for Load {
    fn default() -> Self {
        Self {
            tasks: 16,
            transactions: 10,
            rollback_rate: 0.3,
            isolation: None,
            max_attempts: 200,
            tolerate_errors: false,
        }
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Values in committed transactions.
    pub committed_values: usize,
    /// Transactions committed.
    pub committed: usize,
    /// Transactions rolled back on purpose.
    pub rolled_back: usize,
    /// Attempts the database aborted and [`Retry`] ran again.
    pub retries: usize,
    /// Transactions that failed for good (only with `tolerate_errors`); their
    /// commit may or may not have happened.
    pub failed: usize,
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, other: Self) {
        self.committed_values += other.committed_values;
        self.committed += other.committed;
        self.rolled_back += other.rolled_back;
        self.retries += other.retries;
        self.failed += other.failed;
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "committed {} values in {} transactions, rolled back {}, retried {}, failed {}",
            self.committed_values, self.committed, self.rolled_back, self.retries, self.failed
        )
    }
}

impl std::str::FromStr for Report {
    type Err = String;

    /// Parses what `Display` printed.
    fn from_str(text: &str) -> Result<Self, String> {
        let numbers: Vec<usize> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|part| !part.is_empty())
            .map(|part| part.parse().map_err(|e| format!("{e}")))
            .collect::<Result<_, _>>()?;
        match numbers[..] {
            [committed_values, committed, rolled_back, retries, failed] => Ok(Self {
                committed_values,
                committed,
                rolled_back,
                retries,
                failed,
            }),
            _ => Err(format!("not a report: {text:?}")),
        }
    }
}

/// Watches and ends a running load: tests that inject a fault mid-load wait
/// for its progress and stop it when they have seen enough, so the fault
/// always lands while writers are busy, however fast the machine is.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    committed: AtomicUsize,
    failed: AtomicUsize,
}

impl Control {
    /// Transactions committed so far, by every task.
    pub fn committed(&self) -> usize {
        self.committed.load(Ordering::SeqCst)
    }

    /// Transactions failed for good so far (with `tolerate_errors`).
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// Asks every task to finish its current transaction and stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Runs `load` against `sequence` through `db` and reports what happened.
pub async fn run(db: &DatabaseConnection, sequence: &Sequence, load: &Load) -> Report {
    run_controlled(db, sequence, load, Arc::default()).await
}

/// [`run`], stopping early when `control` says so; `load.transactions` is
/// then only a bound per task.
pub async fn run_controlled(
    db: &DatabaseConnection,
    sequence: &Sequence,
    load: &Load,
    control: Arc<Control>,
) -> Report {
    let mut tasks = Vec::new();
    for _ in 0..load.tasks {
        let (db, sequence, load) = (db.clone(), sequence.clone(), load.clone());
        let control = control.clone();
        tasks.push(tokio::spawn(async move {
            let mut report = Report::default();
            let mut retry = Retry::new().max_attempts(load.max_attempts);
            if let Some(level) = load.isolation {
                retry = retry.isolation_level(level);
            }
            for _ in 0..load.transactions {
                if control.stop.load(Ordering::SeqCst) {
                    break;
                }
                let (batch, rollback) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(1..=3u64),
                        rng.random_bool(load.rollback_rate),
                    )
                };
                let attempts = Arc::new(AtomicUsize::new(0));
                let result = retry
                    .transaction::<Attempt, _, _, _>(&db, |txn| {
                        let (sequence, attempts) = (sequence.clone(), attempts.clone());
                        Box::pin(async move {
                            attempts.fetch_add(1, Ordering::Relaxed);
                            let values = sequence.next_values(txn, batch).await?;
                            for value in values.clone() {
                                insert_row(txn, sequence.name(), value).await?;
                            }
                            if rollback {
                                return Err(Attempt::RolledBack);
                            }
                            Ok(values.count())
                        })
                    })
                    .await;
                report.retries += attempts.load(Ordering::Relaxed).saturating_sub(1);
                match result {
                    Ok(count) => {
                        report.committed += 1;
                        report.committed_values += count;
                        control.committed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(Attempt::RolledBack) => report.rolled_back += 1,
                    Err(_) if load.tolerate_errors => {
                        report.failed += 1;
                        control.failed.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(error) => panic!("sequence {:?}: {error}", sequence.name()),
                }
            }
            report
        }));
    }
    let mut total = Report::default();
    for task in tasks {
        total += task.await.expect("a load task panicked");
    }
    total
}
