//! Timing: `connections` tasks repeat one operation until a deadline. For
//! numbering after COMMIT, a numberer and a reader of the feed run beside
//! them, on their own connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sequences_core::Numberer;

use crate::hand;
use crate::scenarios::{self, Commits, Scenario, Variant};
use crate::schema::ac_invoice;

/// One timed run.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Operations per second, over all connections.
    pub ops_per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Operations that failed (they do not count in `ops_per_sec`); for
    /// numbering after COMMIT, also every row the feed's reader saw out of
    /// order and every row left unnumbered.
    pub errors: u64,
    /// Numbering after COMMIT: from COMMIT to the number, as the feed's
    /// reader sees it, p50 and p99 over the rows committed in the window.
    pub delay: Option<(Duration, Duration)>,
}

/// Runs `scenario` by `variant` on `connections` concurrent tasks for
/// `duration`, after a warm-up of a fifth of it. `aux` (two connections of
/// their own): the numberer and the feed's reader of "insert (after COMMIT)".
#[allow(clippy::too_many_arguments)]
pub async fn sample(
    db: &DatabaseConnection,
    aux: &DatabaseConnection,
    scenario: Scenario,
    variant: Variant,
    connections: usize,
    duration: Duration,
    many: u32,
    lines: usize,
) -> Sample {
    let feed = match variant {
        Variant::AfterCommit | Variant::HandNumberer => {
            let feed = Feed::start(aux, variant == Variant::HandNumberer).await;
            // As in an application, the numberer runs before the writers
            // start: its connection to LISTEN on is open (a new backend on
            // PostgreSQL, slow to start on a loaded machine).
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some(feed)
        }
        _ => None,
    };
    let commits: Arc<Commits> = Arc::default();
    let warm_up = duration / 5;
    let started = Instant::now();
    let (measure_from, deadline) = (started + warm_up, started + warm_up + duration);
    let mut tasks = Vec::new();
    for task in 0..connections {
        let db = db.clone();
        let commits = commits.clone();
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            loop {
                let begun = Instant::now();
                if begun >= deadline {
                    break;
                }
                let result =
                    scenarios::run(scenario, variant, &db, task, many, lines, &commits).await;
                if begun >= measure_from {
                    match result {
                        Ok(()) => latencies.push(begun.elapsed()),
                        Err(error) => {
                            errors += 1;
                            if errors == 1 {
                                eprintln!("{scenario:?} {variant:?}: {error}");
                            }
                        }
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.expect("a benchmark task panicked");
        latencies.extend(l);
        errors += e;
    }
    // Operations that began in the window, over the window plus the tail
    // of the last ones (they may end after the deadline).
    let window = Instant::now().duration_since(measure_from);
    latencies.sort_unstable();
    let ops_per_sec = latencies.len() as f64 / window.as_secs_f64();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    let delay = match feed {
        Some(feed) => {
            let commits = std::mem::take(&mut *commits.lock().expect("the writers are done"));
            let (delay, defects) = feed.finish(commits, measure_from).await;
            errors += defects;
            Some(delay)
        }
        None => None,
    };
    Sample {
        ops_per_sec,
        p50,
        p99,
        errors,
        delay,
    }
}

/// Who numbers the rows of one "insert (after COMMIT)" sample.
enum Numbering {
    /// The library's `Numberer`.
    Library(Numberer),
    /// The loop written by hand (`hand::number_batch`), polling every 2 ms
    /// when it found nothing, until `Feed::stop`.
    Hand(tokio::task::JoinHandle<()>),
}

/// The numberer and the feed's reader of one "insert (after COMMIT)" sample.
struct Feed {
    numberer: Numbering,
    reader: tokio::task::JoinHandle<Vec<(i64, Instant)>>,
    /// Rows the reader has seen.
    seen: Arc<AtomicU64>,
    /// Rows it saw out of order (a number not `last + 1`).
    skipped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Feed {
    /// Starts a numberer and a reader that follows the feed from the
    /// highest number already given (earlier samples are numbered whole):
    /// the library's, or (`by_hand`) the same design written by hand.
    async fn start(aux: &DatabaseConnection, by_hand: bool) -> Self {
        let numbering = ac_invoice::ActiveModel::gapless_numbering();
        let table = if by_hand {
            "bench_hand_ac_invoice"
        } else {
            "bench_ac_invoice"
        };
        let mut last = highest_number(aux, table).await;
        let (seen, skipped, stop) = (
            Arc::<AtomicU64>::default(),
            Arc::<AtomicU64>::default(),
            Arc::<AtomicBool>::default(),
        );
        let numberer = if by_hand {
            let (aux, stop) = (aux.clone(), stop.clone());
            Numbering::Hand(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match hand::number_batch(&aux).await {
                        Ok(0) => tokio::time::sleep(Duration::from_millis(2)).await,
                        Ok(_) => {}
                        Err(error) => {
                            eprintln!("the hand numberer: {error}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }))
        } else {
            Numbering::Library(Numberer::spawn(numbering, aux.clone()))
        };
        let reader = {
            let (aux, seen, skipped, stop) =
                (aux.clone(), seen.clone(), skipped.clone(), stop.clone());
            tokio::spawn(async move {
                let mut read = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let rows = if by_hand {
                        hand::read_after(&aux, last).await
                    } else {
                        numbering
                            .read_after_in(
                                &aux,
                                [(ac_invoice::Column::Series, scenarios::HOT)],
                                last,
                                1000,
                            )
                            .await
                            .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))
                            .map(|rows| {
                                rows.into_iter()
                                    .map(|row| {
                                        (
                                            row.id,
                                            row.number.expect("the feed returns numbered rows"),
                                        )
                                    })
                                    .collect()
                            })
                    };
                    let rows: Vec<(i64, i64)> = match rows {
                        Ok(rows) => rows,
                        Err(error) => {
                            eprintln!("the feed's reader: {error}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let now = Instant::now();
                    for &(id, number) in &rows {
                        if number != last + 1 {
                            skipped.fetch_add(1, Ordering::Relaxed);
                            eprintln!("the feed skipped: {number} after {last}");
                        }
                        last = number;
                        read.push((id, now));
                    }
                    seen.fetch_add(rows.len() as u64, Ordering::Relaxed);
                    if rows.is_empty() {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                read
            })
        };
        Self {
            numberer,
            reader,
            seen,
            skipped,
            stop,
        }
    }

    /// Waits (a minute at most) until the reader has seen every committed
    /// row numbered, stops both, and returns the delays from COMMIT to the
    /// number of the rows begun in the window, and the defects: rows skipped
    /// by the feed or never numbered.
    async fn finish(
        self,
        commits: Vec<(i64, Instant)>,
        measure_from: Instant,
    ) -> ((Duration, Duration), u64) {
        let waited = Instant::now();
        while self.seen.load(Ordering::Relaxed) < commits.len() as u64
            && waited.elapsed() < Duration::from_secs(60)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        match self.numberer {
            Numbering::Library(numberer) => drop(numberer.shutdown().await),
            Numbering::Hand(task) => task.await.expect("the hand numberer panicked"),
        }
        let seen: HashMap<i64, Instant> = self
            .reader
            .await
            .expect("the feed's reader panicked")
            .into_iter()
            .collect();
        let mut missing = 0;
        let mut delays: Vec<Duration> = Vec::new();
        for (id, committed) in &commits {
            match seen.get(id) {
                Some(numbered) if *committed >= measure_from => {
                    delays.push(numbered.saturating_duration_since(*committed))
                }
                Some(_) => {}
                None => missing += 1,
            }
        }
        if missing > 0 {
            eprintln!("{missing} rows committed were not numbered within a minute");
        }
        delays.sort_unstable();
        let delay = (percentile(&delays, 0.5), percentile(&delays, 0.99));
        (delay, missing + self.skipped.load(Ordering::Relaxed))
    }
}

/// The highest number given in `table`.
async fn highest_number(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COALESCE(MAX(number), 0) FROM {table}"),
        ))
        .await
        .expect("the highest number")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

/// The `q` quantile of `sorted` (zero when empty).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
