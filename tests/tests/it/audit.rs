//! `Audit` against real servers: planted gaps, duplicates, NULLs, numbers
//! below the initial value and ahead of the sequence must be found exactly;
//! a table numbered through the derive must come out clean.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, TransactionTrait};
use sequences_core::{Audit, GroupAudit, Sequence, SequenceError};
use sequences_tests::entities::{invoice, ledger_entry};
use sequences_tests::{connect_all, unique_name};

async fn plant(db: &sea_orm::DatabaseConnection, ledger: &str, numbers: &[Option<i32>]) {
    let rows = numbers.iter().map(|&number| ledger_entry::ActiveModel {
        ledger: Set(ledger.to_owned()),
        number: Set(number),
        ..Default::default()
    });
    ledger_entry::Entity::insert_many(rows)
        .exec(db)
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_finds_planted_gaps_and_duplicates_exactly() {
    for t in connect_all(2).await {
        let prefix = unique_name("ledger");
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|l| format!("{prefix}-{l}"));
        // a: 4, 7, 8, 11 missing inside, 13..=14 after the last row (handed out
        // by the sequence), 9 three times, 1 twice; a NULL that does not count.
        plant(
            &t.db,
            &a,
            &[
                Some(1),
                Some(1),
                Some(2),
                Some(3),
                Some(5),
                Some(6),
                Some(9),
                Some(9),
                Some(9),
                Some(10),
                Some(12),
                None,
            ],
        )
        .await;
        Sequence::new(format!("entry-{a}"))
            .next_values(&t.db, 14)
            .await
            .unwrap();
        // b: 1..=2 missing before the first row, 4 twice, and no sequence at all.
        plant(&t.db, &b, &[Some(4), Some(3), Some(4)]).await;
        // c: clean, 1..=5, sequence at 5.
        plant(&t.db, &c, &[Some(3), Some(1), Some(2), Some(5), Some(4)]).await;
        Sequence::new(format!("entry-{c}"))
            .next_values(&t.db, 5)
            .await
            .unwrap();
        // d: two rows below the initial value, and rows ahead of the sequence (at 1).
        plant(&t.db, &d, &[Some(0), Some(-1), Some(1), Some(2)]).await;
        Sequence::new(format!("entry-{d}"))
            .next_value(&t.db)
            .await
            .unwrap();

        let report = Audit::new(ledger_entry::Column::Number)
            .scope([ledger_entry::Column::Ledger])
            .sequence("entry-{ledger}")
            .filter(ledger_entry::Column::Ledger.starts_with(&prefix))
            .run(&t.db)
            .await
            .unwrap();
        let group = |ledger: &str| -> &GroupAudit {
            report
                .groups
                .iter()
                .find(|g| g.scope == [Some(ledger.to_owned())])
                .unwrap_or_else(|| panic!("{t:?}: no group {ledger}"))
        };
        assert_eq!(report.groups.len(), 4, "{t:?}: {report:#?}");

        let ga = group(&a);
        assert_eq!(ga.sequence.as_deref(), Some(format!("entry-{a}").as_str()));
        assert_eq!(
            (ga.rows, ga.distinct, ga.first, ga.last),
            (11, 8, Some(1), Some(12)),
            "{t:?}"
        );
        assert_eq!(ga.sequence_last, Some(14), "{t:?}");
        assert_eq!(ga.missing, 6, "{t:?}");
        assert_eq!(ga.gaps, [4..=4, 7..=8, 11..=11, 13..=14], "{t:?}");
        assert_eq!(ga.duplicate_rows, 3, "{t:?}");
        assert_eq!(ga.duplicates, [(1, 2), (9, 3)], "{t:?}");
        assert!(!ga.ahead_of_sequence && ga.below_initial == 0, "{t:?}");

        let gb = group(&b);
        assert_eq!((gb.missing, gb.duplicate_rows), (2, 1), "{t:?}");
        assert_eq!(gb.gaps, [1..=2], "{t:?}");
        assert_eq!(gb.duplicates, [(4, 2)], "{t:?}");
        assert_eq!(gb.sequence_last, None, "{t:?}");
        assert!(
            gb.ahead_of_sequence,
            "{t:?}: rows exist but the sequence does not"
        );

        let gc = group(&c);
        assert!(gc.is_clean(), "{t:?}: {gc:#?}");
        assert_eq!((gc.rows, gc.sequence_last), (5, Some(5)), "{t:?}");

        let gd = group(&d);
        assert_eq!(gd.below_initial, 2, "{t:?}");
        assert_eq!(
            (gd.missing, gd.first, gd.last),
            (0, Some(-1), Some(2)),
            "{t:?}"
        );
        assert!(
            gd.ahead_of_sequence,
            "{t:?}: 2 is beyond the sequence's last, 1"
        );

        assert!(!report.is_clean());
        assert_eq!(report.missing(), 8, "{t:?}");
        assert_eq!(report.duplicate_rows(), 4, "{t:?}");
        assert_eq!(report.rows(), 23, "{t:?}");

        // Without scope: one group over the filtered rows.
        let whole = Audit::new(ledger_entry::Column::Number)
            .filter(ledger_entry::Column::Ledger.eq(c.clone()))
            .run(&t.db)
            .await
            .unwrap();
        assert_eq!(whole.groups.len(), 1, "{t:?}");
        assert!(whole.is_clean(), "{t:?}: {whole:#?}");
        // max_listed bounds the lists, not the counts.
        let short = Audit::new(ledger_entry::Column::Number)
            .scope([ledger_entry::Column::Ledger])
            .filter(ledger_entry::Column::Ledger.eq(a.clone()))
            .max_listed(1)
            .run(&t.db)
            .await
            .unwrap();
        assert_eq!(
            short.groups[0].missing, 4,
            "{t:?}: no sequence, so 13..=14 are not due"
        );
        assert_eq!(short.groups[0].gaps, [4..=4], "{t:?}");
        assert_eq!(short.groups[0].duplicates, [(1, 2)], "{t:?}");
        // Without scope, over a dirty group: every gap and duplicate listed.
        let unscoped = Audit::new(ledger_entry::Column::Number)
            .filter(ledger_entry::Column::Ledger.eq(a.clone()))
            .run(&t.db)
            .await
            .unwrap();
        assert_eq!(unscoped.groups.len(), 1, "{t:?}");
        assert_eq!(unscoped.groups[0].gaps, [4..=4, 7..=8, 11..=11], "{t:?}");
        assert_eq!(unscoped.groups[0].duplicates, [(1, 2), (9, 3)], "{t:?}");
    }
}

#[tokio::test]
async fn audit_refuses_bad_input_before_any_query() {
    for t in connect_all(1).await {
        let error = Audit::new(ledger_entry::Column::Ledger)
            .run(&t.db)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SequenceError::InvalidAudit { target, reason }
                if target == "ledger_entry.ledger" && reason.contains("not an integer column")),
            "{t:?}: {error:?}"
        );
        let error = Audit::new(ledger_entry::Column::Number)
            .scope([ledger_entry::Column::Ledger])
            .sequence("entry-{journal}")
            .run(&t.db)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SequenceError::InvalidAudit { target, reason }
                if target == "ledger_entry.number"
                    && reason.contains("unknown placeholder `{journal}`")
                    && reason.contains("ledger")),
            "{t:?}: {error:?}"
        );
        let error = Audit::new(ledger_entry::Column::Number)
            .period(sequences_core::Period::Year)
            .run(&t.db)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SequenceError::InvalidAudit { target, reason }
                if target == "ledger_entry.number" && reason.contains("`period` needs `format`")),
            "{t:?}: {error:?}"
        );
    }
}

/// Invoices numbered through the derive, with rollbacks: clean, and the
/// sequence's last equals the highest number.
#[tokio::test]
async fn audit_of_derive_numbered_invoices_is_clean() {
    for t in connect_all(2).await {
        // A company no earlier run used (the tables may be reused).
        let company = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
            % 2_000_000_000) as i32;
        for i in 0..12 {
            let txn = t.db.begin().await.unwrap();
            invoice::ActiveModel {
                company_id: Set(company),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .unwrap();
            if i % 3 == 0 {
                txn.rollback().await.unwrap();
            } else {
                txn.commit().await.unwrap();
            }
        }
        let report = Audit::new(invoice::Column::Number)
            .scope([invoice::Column::CompanyId])
            .sequence("invoice-{company_id}")
            .filter(invoice::Column::CompanyId.eq(company))
            .run(&t.db)
            .await
            .unwrap();
        let group = &report.groups[0];
        assert!(report.is_clean(), "{t:?}: {report:#?}");
        assert_eq!(
            (group.rows, group.last, group.sequence_last),
            (8, Some(8), Some(8)),
            "{t:?}"
        );
    }
}

/// An integer scope is compared in its own type (so that an index on
/// (scope, number) serves the audit) and read back as the sequence name
/// prints it; gaps and duplicates are listed only for the scopes the
/// one-pass summary shows dirty, by their values (up to a hundred scopes)
/// or by reading the table (more): both must list exactly what is there,
/// beside a NULL scope and under a filter with a bound value of its own.
#[tokio::test]
async fn audit_by_an_integer_scope_lists_every_dirty_scope_exactly() {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait};
    use sea_orm::{ConnectionTrait, DbBackend};
    use sequences_core::NamedColumn;
    for t in connect_all(2).await {
        let who = format!("{:?}", t.backend);
        let who = who.as_str();
        let table = unique_name("audit_int").replace('-', "_");
        let create = match t.db.get_database_backend() {
            DbBackend::Postgres => format!(
                "CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, company_id BIGINT, number BIGINT)"
            ),
            DbBackend::MySql => format!(
                "CREATE TABLE {table} (id BIGINT AUTO_INCREMENT PRIMARY KEY, company_id BIGINT, number BIGINT)"
            ),
            _ => format!(
                "CREATE TABLE {table} (id INTEGER PRIMARY KEY, company_id INTEGER, number INTEGER)"
            ),
        };
        t.db.execute_unprepared(&create).await.unwrap();
        // Companies 1..=120 numbered 1..=3; 1..=105 lack their 2; 7 has its
        // 3 twice; NULL has 1 twice.
        let mut values = Vec::new();
        for company in 1..=120 {
            for number in [1, 2, 3] {
                if !(number == 2 && company <= 105) {
                    values.push(format!("({company}, {number})"));
                }
            }
        }
        values.extend(["(7, 3)".to_owned(), "(NULL, 1)".into(), "(NULL, 1)".into()]);
        t.db.execute_unprepared(&format!(
            "INSERT INTO {table} (company_id, number) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
        let number = NamedColumn::from_database(&t.db, &table, "number")
            .await
            .unwrap();
        let company = NamedColumn::from_database(&t.db, &table, "company_id")
            .await
            .unwrap();
        let check = |report: &sequences_core::AuditReport, companies: i64| {
            let group = |scope: Option<&str>| {
                report
                    .groups
                    .iter()
                    .find(|g| g.scope == vec![scope.map(str::to_owned)])
                    .unwrap_or_else(|| panic!("{}: no group {scope:?}", who))
            };
            for c in 1..=companies {
                let g = group(Some(&c.to_string()));
                let gaps: Vec<_> = if c <= 105 { vec![2..=2] } else { vec![] };
                assert_eq!(g.gaps, gaps, "{}: company {c}", who);
                assert_eq!(g.missing, u64::from(c <= 105), "{}: company {c}", who);
                let duplicates: Vec<(i64, u64)> = if c == 7 { vec![(3, 2)] } else { vec![] };
                assert_eq!(g.duplicates, duplicates, "{}: company {c}", who);
            }
            assert_eq!(report.missing(), std::cmp::Ord::min(companies, 105) as u64);
        };
        // 106 dirty scopes (105 companies and NULL): the table is read.
        let report = Audit::new(number.clone())
            .scope([company.clone()])
            .max_listed(1000)
            .run(&t.db)
            .await
            .unwrap();
        check(&report, 120);
        assert_eq!(report.groups.len(), 121, "{}", who);
        assert_eq!(report.duplicate_rows(), 2, "{}", who);
        let null = report
            .groups
            .iter()
            .find(|g| g.scope == vec![None])
            .unwrap();
        assert_eq!(null.duplicates, vec![(1, 2)], "{}", who);
        // Under a filter with a bound value: 50 dirty scopes, by their values.
        let report = Audit::new(number)
            .scope([company])
            .filter(Expr::col(Alias::new("company_id")).lte(50))
            .max_listed(1000)
            .run(&t.db)
            .await
            .unwrap();
        check(&report, 50);
        assert_eq!(report.groups.len(), 50, "{}", who);
        assert_eq!(report.duplicate_rows(), 1, "{}", who);
        t.db.execute_unprepared(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }
}
