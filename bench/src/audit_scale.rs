//! "audit, N rows": the audit of a large table, as an auditor runs it
//! (`sequences audit --scope company_id --sequence 'scale-{company_id}'`),
//! beside the SQL an expert writes for the same answer (one `GROUP BY` for
//! the counts, one window function for the gaps and the duplicates).
//!
//! The table: 100 companies, numbers 1..=N/100 each, an index on
//! `(company_id, number)` (as the guide asks), three numbers removed and two
//! duplicated; each company's counter at N/100. Both must find the same five
//! defects. Time is wall time of one run each (the median of `runs` for
//! tables up to a million rows); memory is the client process's peak
//! resident set while the audit runs (`/proc/self/clear_refs`).

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use sequences_core::{Audit, NamedColumn};

/// Companies in the table.
const COMPANIES: i64 = 100;

/// One measurement of the audit of `rows` rows.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub backend: &'static str,
    pub rows: i64,
    /// `Audit::run`, seconds.
    pub library_s: f64,
    /// The hand-written SQL, seconds.
    pub hand_s: f64,
    /// The client's peak resident set during `Audit::run`, above the one
    /// before it, in MiB.
    pub library_mib: f64,
}

/// Creates and fills `bench_audit` with `rows` rows (see the module), and
/// the counters `scale-1..=100`.
async fn fill(db: &DatabaseConnection, rows: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let per = rows / COMPANIES;
    db.execute_unprepared("DROP TABLE IF EXISTS bench_audit")
        .await?;
    let (create, insert) = match backend {
        DbBackend::Postgres => (
            "CREATE TABLE bench_audit (id BIGSERIAL PRIMARY KEY, company_id BIGINT NOT NULL, \
             number BIGINT)"
                .to_owned(),
            format!(
                "INSERT INTO bench_audit (company_id, number) \
                 SELECT c, n FROM generate_series(1, {COMPANIES}) c, generate_series(1, {per}) n"
            ),
        ),
        _ => (
            "CREATE TABLE bench_audit (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             company_id BIGINT NOT NULL, number BIGINT)"
                .to_owned(),
            // MariaDB's sequence engine: seq_1_to_N.
            format!(
                "INSERT INTO bench_audit (company_id, number) \
                 SELECT c.seq, n.seq FROM seq_1_to_{COMPANIES} c, seq_1_to_{per} n"
            ),
        ),
    };
    db.execute_unprepared(&create).await?;
    db.execute_unprepared(&insert).await?;
    for sql in [
        "CREATE INDEX bench_audit_scope ON bench_audit (company_id, number)",
        // Three numbers removed, two duplicated.
        "DELETE FROM bench_audit WHERE (company_id = 7 AND number = 10) \
         OR (company_id = 42 AND number = 11) OR (company_id = 99 AND number = 12)",
        "INSERT INTO bench_audit (company_id, number) VALUES (3, 5), (64, 6)",
    ] {
        db.execute_unprepared(sql).await?;
    }
    db.execute_unprepared("DELETE FROM sequences WHERE name LIKE 'scale-%'")
        .await?;
    let counters = (1..=COMPANIES)
        .map(|c| format!("('scale-{c}', {per})"))
        .collect::<Vec<_>>()
        .join(", ");
    db.execute_unprepared(&format!(
        "INSERT INTO sequences (name, last) VALUES {counters}"
    ))
    .await?;
    let analyze = match backend {
        DbBackend::Postgres => "VACUUM ANALYZE bench_audit",
        _ => "ANALYZE TABLE bench_audit",
    };
    db.execute_unprepared(analyze).await?;
    Ok(())
}

/// The library's audit; (missing, duplicate rows).
async fn library(db: &DatabaseConnection) -> Result<(u64, u64), String> {
    let number = NamedColumn::from_database(db, "bench_audit", "number")
        .await
        .map_err(|e| e.to_string())?;
    let company = NamedColumn::from_database(db, "bench_audit", "company_id")
        .await
        .map_err(|e| e.to_string())?;
    let report = Audit::new(number)
        .scope([company])
        .sequence("scale-{company_id}")
        .run(db)
        .await
        .map_err(|e| e.to_string())?;
    Ok((report.missing(), report.duplicate_rows()))
}

/// The expert's SQL: the counts per company against its counter, then the
/// gaps and duplicates by one window function; (missing, duplicate rows).
async fn by_hand(db: &DatabaseConnection) -> Result<(u64, u64), DbErr> {
    let backend = db.get_database_backend();
    let name = match backend {
        DbBackend::Postgres => "'scale-' || a.company_id",
        _ => "CONCAT('scale-', a.company_id)",
    };
    let counts = db
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT a.company_id, a.n, a.d, s.last FROM (SELECT company_id, COUNT(*) AS n, \
                 COUNT(DISTINCT number) AS d FROM bench_audit GROUP BY company_id) a \
                 LEFT JOIN sequences s ON s.name = {name}"
            ),
        ))
        .await?;
    let (mut missing, mut duplicates) = (0u64, 0u64);
    for row in &counts {
        let n: i64 = row.try_get_by_index(1)?;
        let distinct: i64 = row.try_get_by_index(2)?;
        let last: Option<i64> = row.try_get_by_index(3)?;
        missing += (last.unwrap_or(0) - distinct).max(0) as u64;
        duplicates += (n - distinct) as u64;
    }
    // Where each gap and duplicate is (what an auditor lists).
    let listed = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT company_id, prev, number FROM (SELECT company_id, number, \
             LAG(number) OVER (PARTITION BY company_id ORDER BY number) AS prev \
             FROM bench_audit) w WHERE number <> prev + 1",
        ))
        .await?;
    if listed.is_empty() && missing + duplicates > 0 {
        return Err(DbErr::Custom("the window found nothing".into()));
    }
    Ok((missing, duplicates))
}

/// Resets the client's peak resident set (`VmHWM`) to the current one.
pub(crate) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A figure of `/proc/self/status` in KiB (`VmHWM`: the peak resident set;
/// `VmRSS`: the current one); 0 where there is none.
pub(crate) fn status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0.0)
}

/// Fills the table with `rows` rows, runs both audits `runs` times (once
/// above a million rows), checks that both find the five defects, and
/// drops the table.
pub async fn measure(
    db: &DatabaseConnection,
    backend: &'static str,
    rows: i64,
    runs: usize,
) -> Result<AuditRow, String> {
    let filled = Instant::now();
    fill(db, rows).await.map_err(|e| format!("fill: {e}"))?;
    println!(
        "  audit, {rows} rows: table filled in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let runs = if rows > 1_000_000 { 1 } else { runs.max(1) };
    let (mut library_times, mut hand_times, mut mib) = (Vec::new(), Vec::new(), 0f64);
    for _ in 0..runs {
        reset_peak();
        let before = status_kib("VmRSS:");
        let started = Instant::now();
        let found = library(db).await?;
        library_times.push(started.elapsed());
        mib = mib.max((status_kib("VmHWM:") - before).max(0.0) / 1024.0);
        let started = Instant::now();
        let by_hand = by_hand(db).await.map_err(|e| e.to_string())?;
        hand_times.push(started.elapsed());
        if found != (3, 2) || by_hand != (3, 2) {
            return Err(format!(
                "audit, {rows} rows: expected 3 missing and 2 duplicated; the library found \
                 {found:?}, the SQL by hand {by_hand:?}"
            ));
        }
    }
    db.execute_unprepared("DROP TABLE bench_audit")
        .await
        .map_err(|e| e.to_string())?;
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2].as_secs_f64()
    };
    let row = AuditRow {
        backend,
        rows,
        library_s: median(&mut library_times),
        hand_s: median(&mut hand_times),
        library_mib: mib,
    };
    println!(
        "  audit, {rows} rows: library {:.2} s, by hand {:.2} s, ratio {:.2}, client peak +{:.1} MiB",
        row.library_s,
        row.hand_s,
        row.library_s / row.hand_s,
        row.library_mib
    );
    Ok(row)
}
