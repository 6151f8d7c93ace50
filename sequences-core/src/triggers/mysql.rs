//! MariaDB/MySQL: BEFORE triggers, which set the row's number (`SET NEW.x`).
//! The counter row is locked by an upsert that changes nothing, read, checked
//! and moved, inside the inserting statement.

use crate::entity::TABLE_NAME;
use crate::policy::OnDelete;
use crate::sql::Dialect;
use sequences_template::rules::Moment;

use super::expr::{Expr, day_number, ident, lit};
use super::{Ddl, FieldPlan};
use crate::error::wire::Kind;
use crate::sql::piece::{Arg, fill};
use crate::sql::refs;

const D: Dialect = Dialect::MySql;

fn signal(kind: Kind, parts: &[String]) -> String {
    format!(
        "SET v_msg = {}; SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_msg;",
        super::message(D, kind, parts)
    )
}

fn declare(field: &FieldPlan) -> String {
    let collate = field
        .name_collation
        .as_ref()
        .map(|c| format!(" COLLATE {c}"))
        .unwrap_or_default();
    format!(
        "  DECLARE v_day DATE;\n  DECLARE v_day_number INT;\n  DECLARE v_name VARCHAR(512) CHARACTER SET utf8mb4{collate};\n  DECLARE v_value BIGINT;\n  DECLARE v_last BIGINT;\n  DECLARE v_closed BOOLEAN;\n  DECLARE v_last_day INT;\n  DECLARE v_kind VARCHAR(16);\n  DECLARE v_head CHAR(64);\n  DECLARE v_hash CHAR(64);\n  DECLARE v_msg VARCHAR(512) CHARACTER SET utf8mb4;\n"
    )
}

fn allocate(field: &FieldPlan, e: &Expr) -> String {
    let mut out = String::new();
    for (column, placeholder, template) in field.needed_columns() {
        out += &format!(
            "    IF {} IS NULL THEN {} END IF;\n",
            e.col(&column),
            signal(
                Kind::MissingPlaceholder,
                &[
                    lit(D, &placeholder),
                    lit(D, &field.target),
                    lit(D, &template)
                ]
            )
        );
    }
    let day = e.day(field);
    if let Some(day) = &day {
        out += &format!("    SET v_day = {day};\n");
    }
    if field.chronological && day.is_some() {
        out += &format!("    SET v_day_number = {};\n", day_number(D, "v_day"));
    }
    out += &format!(
        "    SET v_name = {};\n",
        e.name(field, day.as_ref().map(|_| "v_day"))
    );
    out += &format!(
        "    IF {} THEN {} END IF;\n",
        field.name_too_long(D, "v_name"),
        signal(Kind::InvalidName, &["v_name".into()])
    );
    let t = field.crate_table(D, TABLE_NAME);
    // Creates the counter with nothing handed out, or locks the existing
    // one; then the library's read of its state and of the decision
    // (`sql::counter`), and the library's next value.
    out += &format!(
        "    INSERT INTO {t} (`name`, `last`) VALUES (v_name, {}) ON DUPLICATE KEY UPDATE `name` = `name`;\n",
        i128::from(field.plan.first) - 1
    );
    let args = field.counter_args(D, "v_name", "v_day_number");
    let step = field.step();
    let piece = |text: &str| fill(D, text, &refs(&args)).text();
    let (end, end_parts) = field.end_refusal(D, "v_last", "v_name");
    out += &format!(
        "    {};\n    IF v_kind = 'closed' THEN {} ELSEIF v_kind = 'out_of_order' THEN {} ELSEIF v_kind = 'end' THEN {} END IF;\n",
        piece(&D.refusal_text(step, " INTO v_last, v_closed, v_last_day, v_kind")),
        signal(Kind::Closed, &["v_name".into()]),
        signal(
            Kind::OutOfOrder,
            &[
                "CAST(v_day_number AS CHAR)".into(),
                "CAST(v_last_day AS CHAR)".into(),
                "v_name".into()
            ]
        ),
        signal(end, &end_parts),
    );
    let mut next = args.clone();
    next.push(("last", Arg::sql("v_last")));
    out += &format!(
        "    SET v_value = {};\n",
        fill(D, &D.next_last("{last}", step), &refs(&next)).text()
    );
    if let Some(chain) = &field.chain {
        // The next link, under the row lock taken above.
        out += &format!(
            "    {};\n    SET v_hash = {};\n",
            piece(&D.chain_head_text(" INTO v_head")),
            e.link_hash(
                chain,
                &format!("COALESCE(v_head, '{}')", crate::hash::GENESIS),
                "v_name",
                "v_value"
            )
        );
    }
    // The counter moves once the row is in (`settle`): a row that an
    // INSERT IGNORE or ON DUPLICATE KEY UPDATE skips takes nothing.
    let v = vars(field);
    out += &format!(
        "    SET {} = v_name, {} = v_value, {} = v_last, {} = v_day_number, {} = v_hash;\n",
        v.name, v.value, v.last, v.day, v.hash
    );
    out
}

/// The session variables through which the insert trigger hands the row's
/// number to `settle`, which runs just after the row is written (MariaDB
/// runs a row's BEFORE trigger, writes it, runs its AFTER trigger, then
/// goes on with the next row).
struct Vars {
    name: String,
    /// The row's frozen columns as numbered (`Expr::frozen_text`).
    number: String,
    value: String,
    last: String,
    day: String,
    hash: String,
}

fn vars(field: &FieldPlan) -> Vars {
    use sha2::Digest;
    let tag = &crate::hash::hex(&sha2::Sha256::digest(field.target.as_bytes()))[..12];
    let var = |suffix: &str| format!("@sq_{tag}{suffix}");
    Vars {
        name: var(""),
        number: var("_n"),
        value: var("_v"),
        last: var("_p"),
        day: var("_d"),
        hash: var("_h"),
    }
}

/// Once the row is written: checks that it was written as numbered (a
/// trigger of the application after ours may have changed its number, or
/// what its sequence was computed from), then moves
/// the counter to the row's number, its latest day and declared range, and
/// its chain head, provided nothing moved it since the number was taken.
/// Only the statement itself can have (a REPLACE whose deleted row gave its
/// number back): refused.
fn settle(field: &FieldPlan) -> String {
    let v = vars(field);
    let mut args = field.counter_args(D, "v_name", &v.day);
    args.extend([
        ("last", Arg::sql(v.last.clone())),
        ("value", Arg::sql(v.value.clone())),
        ("head", Arg::sql(v.hash.clone())),
    ]);
    let range = if field.range.is_some() {
        ", `max_value` = {max_value}, `warn_at` = {warn_at}"
    } else {
        ""
    };
    let moved = format!(
        "UPDATE {{table}} SET `last` = {{value}}, `last_day` = {}{range} WHERE `name` = {{name}} AND `last` = {{last}}",
        D.later_day("`last_day`", "{day}")
    );
    let piece = |text: &str| fill(D, text, &refs(&args)).text();
    let chain = if field.chain.is_some() {
        format!("    {};\n", piece(&D.set_chain_head_text(false, "")))
    } else {
        String::new()
    };
    format!(
        "  IF {number} IS NOT NULL AND NOT (BINARY {written} <=> BINARY {number}) THEN {} END IF;\n  SET {number} = NULL;\n  IF {name} IS NOT NULL THEN\n    SET v_name = {name};\n    SET {name} = NULL;\n    {};\n    IF ROW_COUNT() = 0 THEN {} END IF;\n{chain}  END IF;\n",
        signal(
            Kind::NumberChanged,
            &[lit(D, &field.column), lit(D, &field.target)]
        ),
        piece(&moved),
        signal(
            Kind::DeleteRefused,
            &[
                format!("CAST({} AS CHAR)", v.last),
                lit(D, &field.target),
                "v_name".into()
            ]
        ),
        name = v.name,
        number = v.number,
        written = Expr { d: D, row: "NEW" }.frozen_text(field),
    )
}

pub(super) fn ddl(field: &FieldPlan) -> Ddl {
    let names = field.names();
    let table = ident(D, &field.table);
    let col = ident(D, &field.column);
    let remove = names.drop_all(D);
    let mut install = remove.clone();

    let e = Expr { d: D, row: "NEW" };
    let day = e.day(field).map(|_| "v_day");
    let mut sets = format!("    SET NEW.{col} = {};\n", e.number(field, "v_value", day));
    for raw in &field.raw_values {
        let r = ident(D, raw);
        sets += &format!("    SET NEW.{r} = COALESCE(NEW.{r}, v_value);\n");
    }
    if let Some(chain) = &field.chain {
        sets += &format!("    SET NEW.{} = v_hash;\n", ident(D, &chain.hash));
    }
    // After COMMIT, a numberer numbers the rows: nothing at insert.
    if field.moment != Moment::AfterCommit {
        install.push(format!(
            "CREATE TRIGGER {} BEFORE INSERT ON {table} FOR EACH ROW\nBEGIN\n{}  SET {} = NULL;\n  IF NEW.{col} IS NULL THEN\n{}{sets}  END IF;\n  SET {} = {};\nEND",
            ident(D, &names.insert),
            declare(field),
            vars(field).name,
            allocate(field, &e),
            // Every row, numbered here or by the library: `settle` checks
            // it was written as it leaves here.
            vars(field).number,
            e.frozen_text(field),
        ));
        install.push(format!(
            "CREATE TRIGGER {} AFTER INSERT ON {table} FOR EACH ROW\nBEGIN\n{}{}END",
            ident(D, &names.settle),
            declare(field),
            settle(field)
        ));
    }

    if field.on_delete != OnDelete::Allow {
        install.push(format!(
            "CREATE TRIGGER {} BEFORE DELETE ON {table} FOR EACH ROW\nBEGIN\n{}  IF OLD.{col} IS NOT NULL THEN\n{}  END IF;\nEND",
            ident(D, &names.delete),
            declare(field),
            delete_body(field)
        ));
    }

    // The update guard, on the row as written (`FieldPlan::update_checks`):
    // an AFTER trigger, which sees what the application's BEFORE triggers
    // (run after ours) left. A numberer marks its transaction
    // (`Dialect::numbering_mark`). (An ON DUPLICATE KEY UPDATE that hands a
    // skipped row's number to the row it conflicts with, by VALUES(), is
    // refused here.)
    let marked = format!(
        "EXISTS (SELECT 1 FROM {} WHERE `target` = {})",
        field.crate_table(D, crate::sql::NUMBERING_TABLE),
        lit(D, &field.target)
    );
    let checks: String = field
        .update_checks(D, &marked)
        .into_iter()
        .map(|(when, kind, column)| {
            format!(
                "  IF {when} THEN {} END IF;\n",
                signal(kind, &[lit(D, &column), lit(D, &field.target)])
            )
        })
        .collect();
    install.push(format!(
        "CREATE TRIGGER {} AFTER UPDATE ON {table} FOR EACH ROW\nBEGIN\n  DECLARE v_msg VARCHAR(512) CHARACTER SET utf8mb4;\n{checks}END",
        ident(D, &names.update)
    ));
    Ddl { install, remove }
}

fn delete_body(field: &FieldPlan) -> String {
    let e = Expr { d: D, row: "OLD" };
    let value = e.col(field.stored_number());
    let mut out = format!("    SET v_value = {value};\n");
    let day = e.day(field);
    if let Some(day) = &day {
        out += &format!("    SET v_day = {day};\n");
    }
    out += &format!(
        "    SET v_name = COALESCE({}, '');\n",
        e.name(field, day.as_ref().map(|_| "v_day"))
    );
    let value_text = "COALESCE(CAST(v_value AS CHAR), '')".to_owned();
    let args = field.delete_args(&e, "v_name", "v_value");
    let piece = |text: &str| fill(D, text, &refs(&args)).text();
    out + &match field.on_delete {
        OnDelete::Refuse => format!(
            "    {}\n",
            signal(
                Kind::DeleteRefused,
                &[value_text, lit(D, &field.target), "v_name".into()]
            )
        ),
        OnDelete::Void => format!("    {};\n", piece(&D.insert_void_text(false, true))),
        // The library's revert; when it moves nothing, the number was not
        // the last.
        OnDelete::RevertIfLast => format!(
            "    {};\n    IF ROW_COUNT() = 0 THEN SELECT `last` INTO v_last FROM {} WHERE `name` = v_name; {} END IF;\n",
            piece(&D.revert_text()),
            field.crate_table(D, TABLE_NAME),
            signal(
                Kind::NotLast,
                &[
                    value_text,
                    "COALESCE(CAST(v_last AS CHAR), '')".into(),
                    lit(D, &field.target),
                    "v_name".into()
                ]
            )
        ),
        OnDelete::Allow => String::new(),
    }
}
