//! SQLite: its BEFORE triggers cannot change the row, so an AFTER INSERT
//! trigger numbers it with an UPDATE, in the inserting statement. SQLite has
//! one writer at a time: the checks before the upsert see the counter as the
//! upsert will. A refusal whose message holds the row's values is raised
//! through `json_extract`'s path error, since `RAISE` takes a literal only
//! before SQLite 3.47 (which other clients, such as the `sqlite3` shell, may
//! still run).

use crate::entity::{REPLACED_TABLE, TABLE_NAME, VOIDS_TABLE};
use crate::policy::OnDelete;
use crate::sql::Dialect;
use sequences_template::rules::Moment;

use super::expr::{Expr, day_number, ident, lit};
use super::{Ddl, FieldPlan};
use crate::error::wire::{self, Kind};
use crate::sql::piece::fill;
use crate::sql::refs;

const D: Dialect = Dialect::Sqlite;

/// A refusal with the row's values in its message.
fn refuse(kind: Kind, parts: &[String], from_where: &str) -> String {
    format!(
        "  SELECT json_extract('{{}}', {}){from_where};\n",
        super::message(D, kind, parts)
    )
}

/// A refusal whose message is known when the trigger is written.
fn raise(kind: Kind, parts: &[&str], condition: &str) -> String {
    format!(
        "  SELECT RAISE(ABORT, {}) WHERE {condition};\n",
        lit(D, &wire::literal(kind, parts))
    )
}

pub(super) fn ddl(field: &FieldPlan) -> Ddl {
    let names = field.names();
    let table = ident(D, &field.table);
    let col = ident(D, &field.column);
    let t = ident(D, TABLE_NAME);
    let remove = names.drop_all(D);
    let mut install = remove.clone();

    let e = Expr { d: D, row: "NEW" };
    let mut body = String::new();
    for (column, placeholder, template) in field.needed_columns() {
        body += &raise(
            Kind::MissingPlaceholder,
            &[&placeholder, &field.target, &template],
            &format!("{} IS NULL", e.col(&column)),
        );
    }
    let day = e.day(field);
    if let Some(day) = &day {
        // A text that is no date reads as NULL: the date is missing.
        if let Some(super::DayPlan::Column { name, .. }) = &field.day {
            let template = field
                .format_text
                .clone()
                .unwrap_or_else(|| field.template.clone());
            body += &raise(
                Kind::MissingPlaceholder,
                &[name, &field.target, &template],
                &format!("{day} IS NULL"),
            );
        }
    }
    let name = e.name(field, day.as_deref());
    body += &refuse(
        Kind::InvalidName,
        std::slice::from_ref(&name),
        &format!(" WHERE {}", field.name_too_long(D, &name)),
    );
    let day_no = match (&day, field.chronological) {
        (Some(day), true) => day_number(D, day),
        _ => "NULL".to_owned(),
    };
    // The library's read of the counter and of the decision to refuse
    // (`sql::counter`), then its upsert: SQLite has one writer at a time,
    // so the upsert sees the counter as the read did.
    let args = field.counter_args(D, &name, &day_no);
    let step = field.step();
    let piece = |text: &str| fill(D, text, &refs(&args)).text();
    let (end, end_parts) = field.end_refusal(D, "r.\"last\"", &name);
    body += &format!(
        "  SELECT json_extract('{{}}', CASE r.\"kind\" WHEN 'closed' THEN {} WHEN 'out_of_order' THEN {} ELSE {} END) FROM ({}) AS r WHERE r.\"kind\" IS NOT NULL;\n",
        super::message(D, Kind::Closed, std::slice::from_ref(&name)),
        super::message(
            D,
            Kind::OutOfOrder,
            &[
                format!("CAST({day_no} AS TEXT)"),
                "CAST(r.\"last_day\" AS TEXT)".into(),
                name.clone(),
            ]
        ),
        super::message(D, end, &end_parts),
        piece(&D.refusal_text(step, "")),
    );
    body += &format!(
        "  {};\n",
        piece(&D.upsert(step, field.range.is_some(), false))
    );
    let value = format!("(SELECT \"last\" FROM {t} WHERE \"name\" = {name})");
    let mut sets = vec![format!(
        "{col} = {}",
        e.number(field, &value, day.as_deref())
    )];
    for raw in &field.raw_values {
        let r = ident(D, raw);
        sets.push(format!("{r} = COALESCE({r}, {value})"));
    }
    // The row is updated as it is now only if it is still the row named
    // from NEW: a trigger of the application that ran before this one and
    // changed what the sequence is computed from (or numbered it) makes the
    // UPDATE find nothing. While it runs, a note tells the update guard
    // that the library numbers the row.
    let set: Vec<&str> = std::iter::once(field.column.as_str())
        .chain(field.raw_values.iter().map(String::as_str))
        .collect();
    let mut same = vec![field.key_match(D, "NEW"), format!("{col} IS NULL")];
    for column in field.frozen_columns() {
        if !set.contains(&column) {
            let c = ident(D, column);
            same.push(format!(
                "{} IS {}",
                D.exact_text(&format!("{table}.{c}")),
                D.exact_text(&format!("NEW.{c}"))
            ));
        }
    }
    let notes = ident(D, REPLACED_TABLE);
    let target = lit(D, &field.target);
    body += &format!(
        "  INSERT INTO {notes} (\"target\", \"op\", \"value\", \"name\") VALUES ({target}, 'number', NULL, '');\n  UPDATE {table} SET {} WHERE {};\n",
        sets.join(", "),
        same.join(" AND ")
    );
    // An UPDATE that found the row changed, or that a trigger of the
    // application skipped (RAISE(IGNORE)), would leave the row unnumbered
    // (or numbered from another sequence) and the counter moved.
    body += &raise(
        Kind::NumberChanged,
        &[&field.column, &field.target],
        "changes() = 0",
    );
    body += &format!("  DELETE FROM {notes} WHERE \"target\" = {target} AND \"op\" = 'number';\n");
    // After COMMIT, a numberer numbers the rows: nothing at insert.
    if field.moment != Moment::AfterCommit {
        install.push(format!(
            "CREATE TRIGGER {} AFTER INSERT ON {table} FOR EACH ROW WHEN NEW.{col} IS NULL\nBEGIN\n{body}END",
            ident(D, &names.insert)
        ));
    }

    if field.on_delete != OnDelete::Allow {
        install.push(format!(
            "CREATE TRIGGER {} BEFORE DELETE ON {table} FOR EACH ROW WHEN OLD.{col} IS NOT NULL\nBEGIN\n{}END",
            ident(D, &names.delete),
            delete_body(field)
        ));
        // A statement that replaces rows (INSERT OR REPLACE, REPLACE,
        // UPDATE OR REPLACE, a constraint declared ON CONFLICT REPLACE)
        // deletes the rows its new row conflicts with, on the key or any
        // other unique index, without their DELETE trigger (unless
        // recursive_triggers is on). Before the row is written, the numbered
        // rows it conflicts with are noted; once it is written, a note left
        // means they were deleted: refused, or voided under `void`. An
        // ignored or upserted row is never written, and its notes are
        // cleared by the next statement.
        install.push(format!(
            "CREATE TRIGGER {} BEFORE INSERT ON {table} FOR EACH ROW\nBEGIN\n{}END",
            ident(D, &names.replace),
            note(field, "insert", None)
        ));
        install.push(format!(
            "CREATE TRIGGER {} AFTER INSERT ON {table} FOR EACH ROW\nBEGIN\n{}END",
            ident(D, &names.settle),
            replaced(field, "insert")
        ));
        install.push(format!(
            "CREATE TRIGGER {} AFTER UPDATE ON {table} FOR EACH ROW\nBEGIN\n{}END",
            ident(D, &names.replaced),
            replaced(field, "update")
        ));
    }

    // The update guard, on the row as written (`FieldPlan::update_checks`).
    // An unnumbered row is numbered by the library alone: after COMMIT by
    // its numberer, whose connection says so with a temporary table
    // (`Dialect::numbering_mark`); on insert by the insert trigger, which
    // leaves a note while it runs.
    let marked = if field.moment == Moment::AfterCommit {
        format!(
            "EXISTS (SELECT 1 FROM pragma_table_list WHERE \"schema\" = 'temp' AND \"name\" = {})",
            lit(D, &crate::sql::numbering_mark_table(&field.target))
        )
    } else {
        format!(
            "EXISTS (SELECT 1 FROM {} WHERE \"target\" = {} AND \"op\" = 'number')",
            ident(D, REPLACED_TABLE),
            lit(D, &field.target)
        )
    };
    let checks: String = field
        .update_checks(D, &marked)
        .into_iter()
        .map(|(when, kind, column)| raise(kind, &[&column, &field.target], &when))
        .collect();
    install.push(format!(
        "CREATE TRIGGER {} AFTER UPDATE ON {table} FOR EACH ROW\nBEGIN\n{checks}END",
        ident(D, &names.update)
    ));
    if field.on_delete != OnDelete::Allow {
        install.push(format!(
            "CREATE TRIGGER {} BEFORE UPDATE ON {table} FOR EACH ROW\nBEGIN\n{}END",
            ident(D, &names.noted),
            note(field, "update", Some("OLD"))
        ));
    }
    Ddl { install, remove }
}

/// Notes the numbered rows the row `NEW` is about to replace: those holding
/// its key or another of its unique values (`op`: the statement, `insert`
/// or `update`; `other`: the row being updated, which does not count).
fn note(field: &FieldPlan, op: &str, other: Option<&str>) -> String {
    let table = ident(D, &field.table);
    let notes = ident(D, REPLACED_TABLE);
    let e = Expr {
        d: D,
        row: "OLD_ROW",
    };
    let value = e.col(field.stored_number());
    let day = e.day(field);
    let name = format!("COALESCE({}, '')", e.name(field, day.as_deref()));
    let sets: Vec<String> = std::iter::once((field.keys.as_slice(), Vec::new()))
        .chain(
            field
                .unique_collations
                .iter()
                .zip(&field.unique)
                .map(|(collations, columns)| (columns.as_slice(), collations.clone())),
        )
        .map(|(columns, collations)| {
            let matches: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let collate = collations
                        .get(i)
                        .and_then(|c: &Option<String>| c.as_ref())
                        .map(|c| format!(" COLLATE {}", ident(D, c)))
                        .unwrap_or_default();
                    format!("OLD_ROW.{} = NEW.{}{collate}", ident(D, c), ident(D, c))
                })
                .collect();
            format!("({})", matches.join(" AND "))
        })
        .collect();
    let itself = match other {
        Some(row) => {
            let keys: Vec<String> = field
                .keys
                .iter()
                .map(|k| format!("OLD_ROW.{} = {row}.{}", ident(D, k), ident(D, k)))
                .collect();
            format!(" AND NOT ({})", keys.join(" AND "))
        }
        None => String::new(),
    };
    format!(
        "  DELETE FROM {notes} WHERE \"target\" = {target} AND \"op\" = {op};\n  INSERT INTO {notes} (\"target\", \"op\", \"value\", \"name\") SELECT {target}, {op}, {value}, {name} FROM {table} AS OLD_ROW WHERE OLD_ROW.{col} IS NOT NULL AND ({}){itself};\n",
        sets.join(" OR "),
        target = lit(D, &field.target),
        op = lit(D, op),
        col = ident(D, &field.column),
    )
}

/// Once the row is written: the numbered rows noted before were deleted
/// by the statement's REPLACE; the delete policy applies to them.
fn replaced(field: &FieldPlan, op: &str) -> String {
    let notes = ident(D, REPLACED_TABLE);
    let noted = format!(
        " FROM {notes} WHERE \"target\" = {} AND \"op\" = {}",
        lit(D, &field.target),
        lit(D, op)
    );
    let apply = match field.on_delete {
        OnDelete::Void => format!(
            "  INSERT INTO {} (\"sequence\", \"value\", \"reason\", \"chain_hash\", \"voided_at\") SELECT \"name\", \"value\", 'deleted', NULL, {}{noted} ON CONFLICT DO NOTHING;\n",
            ident(D, VOIDS_TABLE),
            D.utc_stamp()
        ),
        // A number given back by a REPLACE would be taken again by the row
        // replacing it, or not, depending on the order the triggers run in:
        // refused, as `refuse` refuses it.
        OnDelete::Refuse | OnDelete::RevertIfLast => refuse(
            Kind::DeleteRefused,
            &[
                "COALESCE(CAST(\"value\" AS TEXT), '')".into(),
                lit(D, &field.target),
                "\"name\"".into(),
            ],
            &format!("{noted} LIMIT 1"),
        ),
        OnDelete::Allow => String::new(),
    };
    format!("{apply}  DELETE{noted};\n")
}

fn delete_body(field: &FieldPlan) -> String {
    let e = Expr { d: D, row: "OLD" };
    let value = e.col(field.stored_number());
    let day = e.day(field);
    let name = format!("COALESCE({}, '')", e.name(field, day.as_deref()));
    let t = ident(D, TABLE_NAME);
    let value_text = format!("COALESCE(CAST({value} AS TEXT), '')");
    let args = field.delete_args(&e, &name, &value);
    let piece = |text: &str| fill(D, text, &refs(&args)).text();
    match field.on_delete {
        OnDelete::Refuse => refuse(
            Kind::DeleteRefused,
            &[value_text, lit(D, &field.target), name],
            "",
        ),
        OnDelete::Void => format!("  {};\n", piece(&D.insert_void_text(false, true))),
        // The library's revert; when it moves nothing, the number was not
        // the last.
        OnDelete::RevertIfLast => {
            let last = format!("(SELECT \"last\" FROM {t} WHERE \"name\" = {name})");
            format!("  {};\n", piece(&D.revert_text()))
                + &refuse(
                    Kind::NotLast,
                    &[
                        value_text,
                        format!("COALESCE(CAST({last} AS TEXT), '')"),
                        lit(D, &field.target),
                        name.clone(),
                    ],
                    " WHERE changes() = 0",
                )
        }
        OnDelete::Allow => String::new(),
    }
}
