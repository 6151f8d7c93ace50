//! Writers for the high-availability tests (`galera.rs`, `patroni.rs`): tasks
//! that number invoices without pause, on insert (`failover_invoice`) or at
//! COMMIT (`failover_deferred`), each under a token that names the attempt, so
//! that after a fault every number can be traced to the transaction that was
//! told it committed. A writer whose connection fails gets a new one from the
//! test (the next node, the new leader) and goes on; the test stops them once
//! the fault is behind every writer, so a fast machine and a slow one see the
//! same fault.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};
use sequences_core::{Retry, Sequence};
use tokio::task::JoinHandle;

use crate::entities::{failover_deferred, failover_invoice};
use crate::{assert_gapless, locks};

/// When a writer's invoices are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbered {
    /// On insert (`failover_invoice`, sequence `failover`).
    OnInsert,
    /// Just before COMMIT (`failover_deferred`, sequence `failover-deferred`).
    AtCommit,
}

/// A connection for `writer` after `failures` failures of its own (the test
/// chooses the node: the next one, the current leader).
pub type Connect = Arc<
    dyn Fn(usize, usize) -> Pin<Box<dyn Future<Output = DatabaseConnection> + Send>> + Send + Sync,
>;

/// What the writers were told.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Token → number, for commits the server acknowledged (`None`: numbered
    /// at COMMIT, and the connection failed before the number was read back).
    pub acknowledged: BTreeMap<String, Option<i64>>,
    /// Token → number, for transactions that failed after taking their number
    /// (on insert): committed once, or not at all.
    pub in_flight: BTreeMap<String, i64>,
    /// Transactions that failed for good (the connection lost, the node gone).
    pub failed: usize,
    /// Attempts the database aborted and `Retry` ran again.
    pub retries: usize,
    /// Per writer: commits acknowledged since its first failure.
    after_failure: Vec<Option<usize>>,
    /// When each commit was acknowledged.
    ack_times: Vec<Instant>,
}

impl Ledger {
    /// The longest pause between two acknowledged commits: the outage as the
    /// application saw it.
    pub fn longest_pause(&self) -> Duration {
        let mut times = self.ack_times.clone();
        times.sort();
        times
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .max()
            .unwrap_or_default()
    }

    /// This ledger against what `db` holds.
    pub fn compare(&self, stored: &Stored) -> Comparison {
        let by_number: BTreeMap<(bool, i64), &String> = stored
            .invoices
            .iter()
            .filter_map(|(token, &(deferred, number))| Some(((deferred, number?), token)))
            .collect();
        let deferred = |token: &str| token.contains("-deferred-");
        let mut comparison = Comparison {
            acknowledged: self.acknowledged.len(),
            failed: self.failed,
            in_flight: self.in_flight.len(),
            retries: self.retries,
            longest_pause: self.longest_pause(),
            ..Comparison::default()
        };
        for (token, number) in &self.acknowledged {
            match stored.invoices.get(token) {
                None => comparison.lost.push(token.clone()),
                Some(&(_, held)) if number.is_some() && held != *number => {
                    comparison.renumbered.push(token.clone());
                }
                Some(_) => {}
            }
            if let Some(number) = number
                && by_number
                    .get(&(deferred(token), *number))
                    .is_some_and(|holder| *holder != token)
            {
                comparison.reissued += 1;
            }
        }
        for (token, number) in &self.in_flight {
            match stored.invoices.get(token) {
                Some(&(_, Some(held))) if held == *number => comparison.in_flight_committed += 1,
                Some(_) => comparison.renumbered.push(token.clone()),
                None => {}
            }
        }
        comparison
    }
}

/// A ledger compared with a server's invoices.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Transactions acknowledged.
    pub acknowledged: usize,
    /// Transactions that failed for good.
    pub failed: usize,
    /// Of those, the ones that had taken their number.
    pub in_flight: usize,
    /// Of those, the ones committed after all.
    pub in_flight_committed: usize,
    /// `Retry`'s reruns.
    pub retries: usize,
    /// Acknowledged invoices missing on the server.
    pub lost: Vec<String>,
    /// Invoices stored under another number than the writer was told.
    pub renumbered: Vec<String>,
    /// Acknowledged numbers now held by another invoice.
    pub reissued: usize,
    /// The longest pause between two acknowledged commits.
    pub longest_pause: Duration,
}

impl Comparison {
    /// Nothing acknowledged was lost, renumbered or handed out twice.
    pub fn assert_kept(&self, context: &str) {
        assert!(
            self.lost.is_empty(),
            "{context}: acknowledged invoices lost: {:?}",
            self.lost
        );
        assert!(
            self.renumbered.is_empty(),
            "{context}: invoices stored with another number: {:?}",
            self.renumbered
        );
        assert_eq!(self.reissued, 0, "{context}: numbers handed out twice");
    }
}

/// What a server holds of the writers' invoices: token → (numbered at
/// COMMIT, number), and the two sequences' last values.
#[derive(Debug, PartialEq, Eq)]
pub struct Stored {
    /// Token → (numbered at COMMIT, number).
    pub invoices: BTreeMap<String, (bool, Option<i64>)>,
    /// Last value of `failover`, then of `failover-deferred`.
    pub lasts: (Option<i64>, Option<i64>),
}

impl Stored {
    /// Reads both tables and both counters, and asserts each table gapless
    /// (every committed number in 1..=last once, none left NULL).
    pub async fn read(db: &DatabaseConnection, context: &str) -> Result<Self, DbErr> {
        let mut invoices = BTreeMap::new();
        let immediate = failover_invoice::Entity::find().all(db).await?;
        let numbers: Vec<i64> = immediate.iter().map(|r| r.number).collect();
        let last = Sequence::new("failover").last_value(db).await?;
        assert_gapless(&format!("{context}: numbered on insert"), &numbers, 1, last);
        invoices.extend(
            immediate
                .into_iter()
                .map(|r| (r.token, (false, Some(r.number)))),
        );
        let deferred = failover_deferred::Entity::find().all(db).await?;
        let numbers: Vec<i64> = deferred.iter().filter_map(|r| r.number).collect();
        assert_eq!(
            numbers.len(),
            deferred.len(),
            "{context}: a deferred invoice left unnumbered"
        );
        let last_deferred = Sequence::new("failover-deferred").last_value(db).await?;
        assert_gapless(
            &format!("{context}: numbered at COMMIT"),
            &numbers,
            1,
            last_deferred,
        );
        invoices.extend(deferred.into_iter().map(|r| (r.token, (true, r.number))));
        Ok(Self {
            invoices,
            lasts: (last, last_deferred),
        })
    }
}

/// Writers numbering invoices until stopped.
pub struct Writers {
    ledger: Arc<Mutex<Ledger>>,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

/// A bound on each writer, never reached when the test works.
const MAX_PER_WRITER: usize = 100_000;

impl Writers {
    /// Starts one writer per entry of `kinds`, with tokens
    /// `{prefix}-{immediate|deferred}-w{writer}-{attempt}`, each transaction
    /// through `retry`.
    pub fn start(prefix: &str, kinds: &[Numbered], retry: Retry, connect: Connect) -> Self {
        let ledger = Arc::new(Mutex::new(Ledger {
            after_failure: vec![None; kinds.len()],
            ..Ledger::default()
        }));
        let acked = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = kinds
            .iter()
            .enumerate()
            .map(|(writer, &kind)| {
                let (ledger, acked, stop) = (ledger.clone(), acked.clone(), stop.clone());
                let (retry, connect) = (retry.clone(), connect.clone());
                let prefix = match kind {
                    Numbered::OnInsert => format!("{prefix}-immediate-w{writer}"),
                    Numbered::AtCommit => format!("{prefix}-deferred-w{writer}"),
                };
                tokio::spawn(async move {
                    let mut failures = 0;
                    let mut db = connect(writer, failures).await;
                    let mut attempt = 0;
                    while !stop.load(Ordering::SeqCst) && attempt < MAX_PER_WRITER {
                        attempt += 1;
                        let token = format!("{prefix}-{attempt}");
                        let outcome = number_one(&db, &retry, kind, &token).await;
                        let failed = {
                            let mut ledger = ledger.lock().unwrap();
                            ledger.retries += outcome.retries;
                            if let Some(number) = outcome.acknowledged {
                                ledger.acknowledged.insert(token.clone(), number);
                                ledger.ack_times.push(Instant::now());
                                if let Some(count) = &mut ledger.after_failure[writer] {
                                    *count += 1;
                                }
                                acked.fetch_add(1, Ordering::SeqCst);
                            }
                            if outcome.failed {
                                if let (None, Some(number)) = (outcome.acknowledged, outcome.taken)
                                {
                                    ledger.in_flight.insert(token, number);
                                }
                                ledger.failed += 1;
                                ledger.after_failure[writer].get_or_insert(0);
                            }
                            outcome.failed
                        };
                        if failed {
                            failures += 1;
                            db = connect(writer, failures).await;
                        }
                    }
                })
            })
            .collect();
        Self {
            ledger,
            acked,
            stop,
            tasks,
        }
    }

    /// Commits acknowledged so far, all writers.
    pub fn acknowledged(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Waits until `count` commits were acknowledged in all.
    pub async fn wait_acknowledged(&self, count: usize, what: &str) {
        locks::wait_for(what, || self.acknowledged() >= count).await;
    }

    /// Waits until every writer `affected` selects has failed and then
    /// committed `count` invoices on its new connection.
    pub async fn wait_failed_over(&self, affected: impl Fn(usize) -> bool, count: usize) {
        locks::wait_for("the interrupted writers committing again", || {
            let ledger = self.ledger.lock().unwrap();
            ledger
                .after_failure
                .iter()
                .enumerate()
                .filter(|(writer, _)| affected(*writer))
                .all(|(_, after)| after.is_some_and(|after| after >= count))
        })
        .await;
    }

    /// Stops the writers and returns what they were told.
    pub async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("a writer panicked");
        }
        Arc::try_unwrap(self.ledger)
            .expect("the writers are done")
            .into_inner()
            .unwrap()
    }
}

/// One invoice's transaction.
struct Outcome {
    /// The commit was acknowledged, with the number if known.
    acknowledged: Option<Option<i64>>,
    /// The number the transaction took, if it failed after taking it.
    taken: Option<i64>,
    /// The connection should be replaced.
    failed: bool,
    retries: usize,
}

async fn number_one(
    db: &DatabaseConnection,
    retry: &Retry,
    kind: Numbered,
    token: &str,
) -> Outcome {
    let attempts = AtomicUsize::new(0);
    let taken = Arc::new(Mutex::new(None));
    let result = retry
        .transaction::<DbErr, _, _, _>(db, |txn| {
            attempts.fetch_add(1, Ordering::Relaxed);
            let (token, taken) = (token.to_owned(), taken.clone());
            Box::pin(async move {
                match kind {
                    Numbered::OnInsert => {
                        let model = failover_invoice::ActiveModel {
                            token: Set(token),
                            ..Default::default()
                        }
                        .insert(txn)
                        .await?;
                        *taken.lock().unwrap() = Some(model.number);
                        Ok(Some(model.number))
                    }
                    Numbered::AtCommit => {
                        failover_deferred::ActiveModel {
                            token: Set(token),
                            ..Default::default()
                        }
                        .insert(txn)
                        .await?;
                        Ok(None)
                    }
                }
            })
        })
        .await;
    let retries = attempts.into_inner().saturating_sub(1);
    let taken = *taken.lock().unwrap();
    match result {
        Ok(Some(number)) => Outcome {
            acknowledged: Some(Some(number)),
            taken,
            failed: false,
            retries,
        },
        // Numbered at COMMIT: read the number back.
        Ok(None) => match read_back(db, token).await {
            Ok(number) => Outcome {
                acknowledged: Some(Some(number)),
                taken,
                failed: false,
                retries,
            },
            Err(_) => Outcome {
                acknowledged: Some(None),
                taken,
                failed: true,
                retries,
            },
        },
        Err(_) => Outcome {
            acknowledged: None,
            taken,
            failed: true,
            retries,
        },
    }
}

async fn read_back(db: &DatabaseConnection, token: &str) -> Result<i64, DbErr> {
    let row = failover_deferred::Entity::find()
        .filter(failover_deferred::Column::Token.eq(token))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("the committed invoice {token}")))?;
    row.number
        .ok_or_else(|| DbErr::Custom(format!("the committed invoice {token} has no number")))
}
