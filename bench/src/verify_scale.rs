//! "verify, N rows": the chain check of a large chained table
//! (`sequences verify`, `ChainAudit::run`): its time, and the client's
//! peak memory while it runs, which follows the largest sequence's rows
//! (the rows stream, each sequence's chain is walked once they are read).
//!
//! The table: 100 companies, numbers 1..=N/100 each, every record hashed
//! over its company and amount as the library writes it
//! (`chain::link_hash`), each company's counter at its last number with its
//! chain head. The check must find every chain intact.

use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use sequences_core::{ChainAudit, NamedColumn, chain};

use crate::audit_scale::{reset_peak, status_kib};

/// Companies in the table.
const COMPANIES: i64 = 100;

/// One measurement of the chain check of `rows` rows.
#[derive(Debug, Clone)]
pub struct VerifyRow {
    pub backend: &'static str,
    pub rows: i64,
    /// `ChainAudit::run`, seconds.
    pub seconds: f64,
    /// The client's peak resident set during the check, above the one
    /// before it, in MiB.
    pub peak_mib: f64,
}

/// Creates and fills `bench_chain` (see the module) and its counters.
async fn fill(db: &DatabaseConnection, rows: i64) -> Result<(), DbErr> {
    let per = rows / COMPANIES;
    db.execute_unprepared("DROP TABLE IF EXISTS bench_chain")
        .await?;
    db.execute_unprepared(
        "CREATE TABLE bench_chain (id BIGINT PRIMARY KEY, company_id BIGINT NOT NULL, \
         amount BIGINT NOT NULL, number BIGINT, hash VARCHAR(64))",
    )
    .await?;
    db.execute_unprepared("DELETE FROM sequences WHERE name LIKE 'vscale-%'")
        .await?;
    let mut id = 0i64;
    let mut heads = Vec::new();
    for company in 1..=COMPANIES {
        let sequence = format!("vscale-{company}");
        let company_text = company.to_string();
        let mut previous = chain::GENESIS.to_owned();
        let mut values = Vec::with_capacity(1000);
        for number in 1..=per {
            let amount = (number * 7919) % 100_000;
            let amount_text = amount.to_string();
            let hash = chain::link_hash(
                &previous,
                &sequence,
                number,
                &[
                    ("company_id", Some(&company_text)),
                    ("amount", Some(&amount_text)),
                ],
            );
            id += 1;
            values.push(format!("({id}, {company}, {amount}, {number}, '{hash}')"));
            previous = hash;
            if values.len() == 1000 || number == per {
                db.execute_unprepared(&format!(
                    "INSERT INTO bench_chain (id, company_id, amount, number, hash) VALUES {}",
                    values.join(", ")
                ))
                .await?;
                values.clear();
            }
        }
        heads.push(format!("('{sequence}', {per}, '{previous}')"));
    }
    db.execute_unprepared(&format!(
        "INSERT INTO sequences (name, last, chain_head) VALUES {}",
        heads.join(", ")
    ))
    .await?;
    let analyze = match db.get_database_backend() {
        DbBackend::Postgres => "VACUUM ANALYZE bench_chain",
        DbBackend::MySql => "ANALYZE TABLE bench_chain",
        _ => "ANALYZE bench_chain",
    };
    db.execute_unprepared(analyze).await?;
    Ok(())
}

/// Fills the table with `rows` rows, checks its chains once, and drops it.
pub async fn measure(
    db: &DatabaseConnection,
    backend: &'static str,
    rows: i64,
) -> Result<VerifyRow, String> {
    let filled = Instant::now();
    fill(db, rows).await.map_err(|e| format!("fill: {e}"))?;
    println!(
        "  verify, {rows} rows: table filled in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let column = |name: &'static str| NamedColumn::from_database(db, "bench_chain", name);
    let (number, hash) = (column("number").await, column("hash").await);
    let (company, amount) = (column("company_id").await, column("amount").await);
    let (number, hash, company, amount) = (
        number.map_err(|e| e.to_string())?,
        hash.map_err(|e| e.to_string())?,
        company.map_err(|e| e.to_string())?,
        amount.map_err(|e| e.to_string())?,
    );
    reset_peak();
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    let report = ChainAudit::new(number, hash)
        .covers([company.clone(), amount])
        .scope([company])
        .sequence("vscale-{company_id}")
        .run(db)
        .await
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_mib = (status_kib("VmHWM:") - before).max(0.0) / 1024.0;
    let links: u64 = report.chains.iter().map(|c| c.links).sum();
    if !report.is_intact() || links != rows as u64 || report.chains.len() != COMPANIES as usize {
        return Err(format!(
            "verify, {rows} rows: expected {COMPANIES} intact chains of {rows} links in all; \
             found {} chains, {links} links, first break {:?}",
            report.chains.len(),
            report.first_break()
        ));
    }
    db.execute_unprepared("DROP TABLE bench_chain")
        .await
        .map_err(|e| e.to_string())?;
    db.execute_unprepared("DELETE FROM sequences WHERE name LIKE 'vscale-%'")
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "  verify, {rows} rows: {seconds:.2} s ({:.0} rows/s), client peak +{peak_mib:.1} MiB",
        rows as f64 / seconds
    );
    Ok(VerifyRow {
        backend,
        rows,
        seconds,
        peak_mib,
    })
}
