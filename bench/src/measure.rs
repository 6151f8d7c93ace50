//! Timing: `connections` tasks repeat one operation until a deadline.

use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

use crate::scenarios::{self, Scenario, Variant};

/// One timed run.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Operations per second, over all connections.
    pub ops_per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Operations that failed (they do not count in `ops_per_sec`).
    pub errors: u64,
}

/// Runs `scenario` by `variant` on `connections` concurrent tasks for
/// `duration`, after a warm-up of a fifth of it.
pub async fn sample(
    db: &DatabaseConnection,
    scenario: Scenario,
    variant: Variant,
    connections: usize,
    duration: Duration,
    many: u32,
    lines: usize,
) -> Sample {
    let warm_up = duration / 5;
    let started = Instant::now();
    let (measure_from, deadline) = (started + warm_up, started + warm_up + duration);
    let mut tasks = Vec::new();
    for task in 0..connections {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            loop {
                let begun = Instant::now();
                if begun >= deadline {
                    break;
                }
                let result = scenarios::run(scenario, variant, &db, task, many, lines).await;
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
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Sample {
        ops_per_sec: latencies.len() as f64 / window.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
        errors,
    }
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
