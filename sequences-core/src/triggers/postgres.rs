//! PostgreSQL: PL/pgSQL functions and their triggers. The insert trigger runs
//! BEFORE INSERT and sets the row's number, so `RETURNING` shows it; a
//! deferred field is numbered by a constraint trigger deferred to COMMIT.

use sha2::Digest;

use crate::entity::TABLE_NAME;
use crate::policy::OnDelete;
use crate::sql::Dialect;
use sequences_template::rules::Moment;

use super::expr::{Expr, day_number, ident, lit};
use super::{Ddl, FieldPlan, Names};
use crate::error::wire::{Kind, PG_SQLSTATE};
use crate::sql::piece::{Arg, fill};
use crate::sql::refs;

const D: Dialect = Dialect::Postgres;

fn raise(kind: Kind, parts: &[String]) -> String {
    format!(
        "RAISE EXCEPTION USING ERRCODE = '{PG_SQLSTATE}', MESSAGE = {}, HINT = 'raised by sea-orm-sequences'' triggers; SequenceError::from_database reads it';",
        super::message(D, kind, parts)
    )
}

fn function(name: &str, declare: &str, body: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $sequences$\nDECLARE\n{declare}\nBEGIN\n{body}\nEND\n$sequences$",
        ident(D, name)
    )
}

const DECLARE: &str = "  v_day date;\n  v_day_number integer;\n  v_name text;\n  v_value bigint;\n  v_last bigint;\n  v_closed boolean;\n  v_last_day integer;\n  v_kind text;\n  v_head text;\n  v_hash text;\n  v_slot text;\n  v_tid tid;\n  v_seen text;";

/// Checks the row's columns, computes the sequence name and takes the value
/// into `v_value`, with the guards and refusals of the library's allocation.
fn allocate(field: &FieldPlan, e: &Expr) -> String {
    let mut out = String::new();
    for (column, placeholder, template) in field.needed_columns() {
        out += &format!(
            "  IF {} IS NULL THEN\n    {}\n  END IF;\n",
            e.col(&column),
            raise(
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
        out += &format!("  v_day := {day};\n");
    }
    let day_var = day.as_ref().map(|_| "v_day");
    if field.chronological && day.is_some() {
        out += &format!("  v_day_number := {};\n", day_number(D, "v_day"));
    }
    out += &format!("  v_name := {};\n", e.name(field, day_var));
    out += &format!("  v_slot := {};\n", Dialect::hot_slot_sql("v_name"));
    out += &format!(
        "  IF {} THEN\n    {}\n  END IF;\n",
        field.name_too_long(D, "v_name"),
        raise(Kind::InvalidName, &["v_name".into()])
    );
    let args = field.counter_args(D, "v_name", "v_day_number");
    let piece = |text: &str| fill(D, text, &refs(&args)).text();
    let step = field.step();
    // The library's allocation: on the version this transaction wrote last,
    // by its TID, when it remembers one (`sql::hot`), else (or when that
    // writes nothing) the upsert by name, so a transaction's first row
    // costs what it did. When neither writes, the library's read of why
    // (`sql::counter`), under the row's lock. `v_seen` takes the
    // remembered TID, which the trigger does not need.
    out += &format!(
        "  v_tid := {};\n  IF v_tid IS NOT NULL THEN\n    {} INTO v_value, v_seen;\n  END IF;\n  IF v_tid IS NULL OR NOT FOUND THEN\n    {} INTO v_value, v_seen;\n  END IF;\n",
        piece(D.hot_tid()),
        piece(&D.hot_update(step, field.range.is_some(), "v_tid")),
        piece(&D.upsert(step, field.range.is_some(), true))
    );
    let (end, end_parts) = field.end_refusal(D, "v_last", "v_name");
    out += &format!(
        "  IF NOT FOUND THEN\n    {};\n    IF v_kind = 'closed' THEN\n      {}\n    ELSIF v_kind = 'out_of_order' THEN\n      {}\n    END IF;\n    {}\n  END IF;\n",
        piece(&D.refusal_text(step, " INTO v_last, v_closed, v_last_day, v_kind")),
        raise(Kind::Closed, &["v_name".into()]),
        raise(
            Kind::OutOfOrder,
            &[
                "CAST(v_day_number AS TEXT)".into(),
                "CAST(v_last_day AS TEXT)".into(),
                "v_name".into()
            ]
        ),
        raise(end, &end_parts),
    );
    if let Some(chain) = &field.chain {
        // The next link, under the row lock the allocation holds.
        let mut args = args.clone();
        args.push(("head", Arg::sql("v_hash")));
        out += &format!(
            "  {};\n  v_hash := {};\n  {};\n",
            fill(D, &D.chain_head_text(" INTO v_head"), &refs(&args)).text(),
            e.link_hash(
                chain,
                &format!("COALESCE(v_head, '{}')", crate::hash::GENESIS),
                "v_name",
                "v_value"
            ),
            fill(
                D,
                &D.set_chain_head_text(false, " INTO v_seen"),
                &refs(&args)
            )
            .text(),
        );
    }
    out
}

/// `column = value` pairs for the number and its raw values, over `e`'s row.
fn assignments(field: &FieldPlan, e: &Expr) -> Vec<(String, String)> {
    let day = e.day(field).map(|_| "v_day");
    let mut out = vec![(field.column.clone(), e.number(field, "v_value", day))];
    for raw in &field.raw_values {
        out.push((raw.clone(), format!("COALESCE({}, v_value)", e.col(raw))));
    }
    if let Some(chain) = &field.chain {
        out.push((chain.hash.clone(), "v_hash".to_owned()));
    }
    out
}

pub(super) fn ddl(field: &FieldPlan) -> Ddl {
    let names = field.names();
    let table = ident(D, &field.table);
    let col = ident(D, &field.column);
    let mut install = remove(&names, &table);
    let remove_all = install.clone();

    if field.moment == Moment::AfterCommit {
        // A numberer numbers the committed rows. The insert only wakes it
        // when one sleeps (its row renewed within two seconds): a
        // notification delivered at COMMIT (none at a rollback), collapsed
        // per transaction. A busy numberer polls, and its writers' commits
        // are not serialized by NOTIFY.
        install.push(function(
            &names.insert,
            "",
            &format!(
                "  IF EXISTS (SELECT 1 FROM {} WHERE \"name\" = {} AND \"last\" >= {} - 2) THEN\n    PERFORM pg_notify({}, TG_TABLE_NAME);\n  END IF;\n  RETURN NULL;",
                ident(D, TABLE_NAME),
                lit(D, &crate::entity::numberer_asleep(&field.table)),
                D.epoch_seconds(),
                lit(D, crate::numberer::CHANNEL)
            ),
        ));
        install.push(format!(
            "CREATE TRIGGER {} AFTER INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {}()",
            ident(D, &names.insert),
            ident(D, &names.insert)
        ));
    } else if field.moment == Moment::AtCommit {
        // Numbered at COMMIT, in the order of the inserts, as
        // `sequences_core::transaction` numbers its deferred rows. The row
        // is found by its key as the event saw it: an UPDATE of a waiting
        // row (its key changed, say) queues an event of its own, with the
        // row as it is then, so the last event of every row finds it.
        let e = Expr { d: D, row: "r" };
        let assigned = assignments(field, &e);
        let values: String = assigned
            .iter()
            .map(|(column, value)| format!("  r.{} := {value};\n", ident(D, column)))
            .collect();
        let sets: Vec<String> = assigned
            .iter()
            .map(|(column, _)| format!("{} = r.{}", ident(D, column), ident(D, column)))
            .collect();
        // The row as written (RETURNING, after every BEFORE trigger) must
        // be the row numbered: a trigger of the application that changes
        // the number or what its sequence was computed from is refused.
        // The UPDATE is this field's numberer (`numbering_mark`).
        let written = Expr { d: D, row: &table }.frozen_text(field);
        let body = format!(
            "  SELECT * INTO r FROM {table} WHERE {keys} FOR UPDATE;\n  IF NOT FOUND OR r.{col} IS NOT NULL THEN\n    RETURN NULL;\n  END IF;\n{alloc}{values}  v_mark := current_setting('sequences.numbering', true);\n  PERFORM set_config('sequences.numbering', {target}, true);\n  UPDATE {table} SET {sets} WHERE {keys} RETURNING {written} INTO v_written;\n  PERFORM set_config('sequences.numbering', COALESCE(v_mark, ''), true);\n  IF NOT FOUND OR v_written IS DISTINCT FROM {expected} THEN\n    {changed}\n  END IF;\n  RETURN NULL;",
            changed = raise(
                Kind::NumberChanged,
                &[lit(D, &field.column), lit(D, &field.target)]
            ),
            keys = field.key_match(D, "NEW"),
            alloc = allocate(field, &e),
            sets = sets.join(", "),
            target = lit(D, &field.target),
            expected = e.frozen_text(field),
        );
        install.push(function(
            &names.commit,
            &format!("  r {table}%ROWTYPE;\n  v_mark text;\n  v_written text;\n{DECLARE}"),
            &body,
        ));
        install.push(format!(
            "CREATE CONSTRAINT TRIGGER {} AFTER INSERT OR UPDATE ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.{col} IS NULL) EXECUTE FUNCTION {}()",
            ident(D, &names.commit),
            ident(D, &names.commit)
        ));
    } else {
        let e = Expr { d: D, row: "NEW" };
        let sets: String = assignments(field, &e)
            .into_iter()
            .map(|(column, value)| format!("  NEW.{} := {value};\n", ident(D, &column)))
            .collect();
        // Every row goes through here: a row whose key (or other unique
        // value) a row already holds will not be inserted and takes no
        // number; the others are counted, numbered or not, so that the
        // statement's end can tell that every row numbered here was
        // inserted as numbered (`settle`).
        let body = format!(
            "{}  IF NEW.{col} IS NULL THEN\n{}{sets}    v_flag := '1';\n  END IF;\n{}  RETURN NEW;",
            taken(field, &table),
            indent(&allocate(field, &e)),
            count(field, "NEW", "v_flag"),
        );
        install.push(function(
            &names.insert,
            &format!("{DECLARE}\n  v_flag text := '0';\n  v_state text;"),
            &body,
        ));
        install.push(format!(
            "CREATE TRIGGER {} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {}()",
            ident(D, &names.insert),
            ident(D, &names.insert)
        ));
        install.push(function(
            &names.settle,
            &format!("  r {table}%ROWTYPE;\n  v_state text;\n  v_count bigint;\n  v_digest text;\n  v_null boolean;"),
            &settle(field),
        ));
        install.push(format!(
            "CREATE TRIGGER {} AFTER INSERT ON {table} REFERENCING NEW TABLE AS sq_inserted FOR EACH STATEMENT EXECUTE FUNCTION {}()",
            ident(D, &names.settle),
            ident(D, &names.settle)
        ));
    }

    if field.on_delete != OnDelete::Allow {
        install.push(function(
            &names.delete,
            DECLARE,
            &(delete_body(field, "OLD") + "  RETURN OLD;"),
        ));
        // TRUNCATE deletes every row at once, with no row trigger.
        install.push(function(
            &names.truncate,
            &format!("  r {table}%ROWTYPE;\n{DECLARE}"),
            &format!(
                "  SELECT * INTO r FROM {table} WHERE {col} IS NOT NULL LIMIT 1;\n  IF FOUND THEN\n{}  END IF;\n  RETURN NULL;",
                delete_body(field, "r")
            ),
        ));
        install.push(format!(
            "CREATE TRIGGER {} BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {}()",
            ident(D, &names.truncate),
            ident(D, &names.truncate)
        ));
        install.push(format!(
            "CREATE TRIGGER {} BEFORE DELETE ON {table} FOR EACH ROW WHEN (OLD.{col} IS NOT NULL) EXECUTE FUNCTION {}()",
            ident(D, &names.delete),
            ident(D, &names.delete)
        ));
    }

    // The update guard, on the row as written (`FieldPlan::update_checks`).
    // The numberer's transaction, and the COMMIT-time trigger's UPDATE, are
    // marked (`Dialect::numbering_mark`).
    let marked = format!(
        "COALESCE(current_setting('sequences.numbering', true), '') = {}",
        lit(D, &field.target)
    );
    let checks: String = field
        .update_checks(D, &marked)
        .into_iter()
        .map(|(when, kind, column)| {
            format!(
                "  IF {when} THEN\n    {}\n  END IF;\n",
                raise(kind, &[lit(D, &column), lit(D, &field.target)])
            )
        })
        .collect();
    install.push(function(
        &names.update,
        "",
        &format!("{checks}  RETURN NULL;"),
    ));
    install.push(format!(
        "CREATE TRIGGER {} AFTER UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {}()",
        ident(D, &names.update),
        ident(D, &names.update)
    ));
    Ddl {
        install,
        remove: remove_all,
    }
}

/// The delete policy on the stored row (`numbering::deleting`), in the
/// DELETE's own statement.
fn delete_body(field: &FieldPlan, row: &str) -> String {
    let e = Expr { d: D, row };
    let value = e.col(field.stored_number());
    let mut out = format!("  v_value := {value};\n");
    let day = e.day(field);
    if let Some(day) = &day {
        out += &format!("  v_day := {day};\n");
    }
    out += &format!(
        "  v_name := COALESCE({}, '');\n",
        e.name(field, day.as_ref().map(|_| "v_day"))
    );
    let value_text = "COALESCE(CAST(v_value AS TEXT), '')".to_owned();
    // TRUNCATE (`row` is a record then) can neither void nor give back.
    let policy = if row == "OLD" {
        field.on_delete
    } else {
        OnDelete::Refuse
    };
    let args = field.delete_args(&e, "v_name", "v_value");
    let piece = |text: &str| fill(D, text, &refs(&args)).text();
    out += &match policy {
        OnDelete::Refuse => format!(
            "  {}\n",
            raise(
                Kind::DeleteRefused,
                &[value_text, lit(D, &field.target), "v_name".into()]
            )
        ),
        OnDelete::Void => format!("  {};\n", piece(&D.insert_void_text(false, true))),
        // The library's revert; when it moves nothing, the number was not
        // the last.
        OnDelete::RevertIfLast => format!(
            "  {};\n  IF NOT FOUND THEN\n    SELECT \"last\" INTO v_last FROM {} WHERE \"name\" = v_name;\n    {}\n  END IF;\n",
            piece(&D.revert_text()),
            field.crate_table(D, TABLE_NAME),
            raise(
                Kind::NotLast,
                &[
                    value_text,
                    "COALESCE(CAST(v_last AS TEXT), '')".into(),
                    lit(D, &field.target),
                    "v_name".into()
                ]
            )
        ),
        OnDelete::Allow => String::new(),
    };
    out
}

/// Returns the row unnumbered and uncounted when a row holding its key or
/// another of its unique values is there: the insert will fail, or an
/// `ON CONFLICT` skip it. The row found is locked (`FOR KEY SHARE`): a
/// DELETE or a change of its key in flight is waited for, and a row it
/// removed no longer counts. A conflict with a row inserted by a
/// transaction still running is not seen here; `settle` refuses the
/// statement it makes skip a numbered row.
fn taken(field: &FieldPlan, table: &str) -> String {
    let key = (&field.keys, None, false);
    let others = field.unique.iter().enumerate().map(|(i, columns)| {
        (
            columns,
            field.unique_collations.get(i),
            field.unique_nulls_equal.get(i).copied().unwrap_or(false),
        )
    });
    let mut out = String::new();
    for (columns, collations, nulls_equal) in std::iter::once(key).chain(others) {
        // Compared as the index compares: in its collation, and NULLs
        // equal under NULLS NOT DISTINCT (where they may conflict).
        let matches: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let c = ident(D, k);
                let collate = collations
                    .and_then(|c| c.get(i).cloned().flatten())
                    .map(|c| format!(" COLLATE {}", ident(D, &c)))
                    .unwrap_or_default();
                if nulls_equal {
                    format!("({c}{collate} = NEW.{c} OR ({c} IS NULL AND NEW.{c} IS NULL))")
                } else {
                    format!("{c}{collate} = NEW.{c}")
                }
            })
            .collect();
        let lookup = format!(
            "    PERFORM 1 FROM {table} WHERE {} FOR KEY SHARE;\n    IF FOUND THEN\n      RETURN NEW;\n    END IF;\n",
            matches.join(" AND ")
        );
        // A NULL conflicts only where NULLs are equal.
        let present: Vec<String> = if nulls_equal {
            vec!["TRUE".to_owned()]
        } else {
            columns
                .iter()
                .map(|k| format!("NEW.{} IS NOT NULL", ident(D, k)))
                .collect()
        };
        out += &format!("  IF {} THEN\n{lookup}  END IF;\n", present.join(" AND "));
    }
    out
}

/// The key of this statement's count (a setting local to the transaction,
/// one per field and trigger depth).
fn state_key(field: &FieldPlan) -> String {
    format!(
        "'sequences.s{}_' || pg_trigger_depth()",
        &crate::hash::hex(&sha2::Sha256::digest(field.target.as_bytes()))[..12]
    )
}

/// A row's link in the statement's digest: the digest so far (`digest`,
/// hex) followed by the row's frozen columns (the number and what its
/// sequence was computed from), hashed, so that a trigger of the
/// application running after ours cannot change either unseen. The rows
/// are chained in the order they are inserted, which is the order the
/// transition table returns them in.
fn link(field: &FieldPlan, digest: &str, row: &str) -> String {
    format!(
        "encode(sha256(convert_to({digest} || {}, 'UTF8')), 'hex')",
        Expr { d: D, row }.frozen_text(field)
    )
}

/// Adds the row `row` to the statement's count: rows, the digest of their
/// frozen columns, whether one was numbered here (`flag`).
fn count(field: &FieldPlan, row: &str, flag: &str) -> String {
    let key = state_key(field);
    format!(
        "  v_state := COALESCE(NULLIF(current_setting({key}, true), ''), '0::0');\n  PERFORM set_config({key}, CAST(CAST(split_part(v_state, ':', 1) AS BIGINT) + 1 AS TEXT) || ':' || {} || ':' || GREATEST(split_part(v_state, ':', 3), {flag}), true);\n",
        link(field, "split_part(v_state, ':', 2)", row)
    )
}

/// At the end of the INSERT: the rows inserted must be the rows counted,
/// as they were counted (every row, numbered here or by the library). A
/// numbered row that was not inserted (skipped by `ON CONFLICT` for a row a
/// transaction still running inserted, cancelled or renumbered by another
/// trigger) would be a gap, and a row inserted after it was found taken
/// would stay unnumbered: the statement is refused as a serialization
/// failure, and nothing is taken. A row whose number or scope changed after
/// the count (a trigger of the application after ours) is refused.
fn settle(field: &FieldPlan) -> String {
    let key = state_key(field);
    let col = ident(D, &field.column);
    let retry = |what: &str| {
        format!(
            "RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = {}, HINT = 'raised by sea-orm-sequences'' triggers: run the statement (its transaction) again';",
            lit(
                D,
                &format!(
                    "sea-orm-sequences: {}: {what}; the statement is refused, nothing is numbered",
                    field.target
                )
            )
        )
    };
    format!(
        "  v_state := COALESCE(NULLIF(current_setting({key}, true), ''), '0::0');\n  PERFORM set_config({key}, '', true);\n  v_count := 0;\n  v_digest := '';\n  v_null := false;\n  FOR r IN SELECT * FROM sq_inserted LOOP\n    v_count := v_count + 1;\n    v_digest := {};\n    v_null := v_null OR r.{col} IS NULL;\n  END LOOP;\n  IF v_count = CAST(split_part(v_state, ':', 1) AS BIGINT) THEN\n    IF v_null OR v_digest <> split_part(v_state, ':', 2) THEN\n      {}\n    END IF;\n  ELSIF v_null OR split_part(v_state, ':', 3) = '1' THEN\n    {}\n  END IF;\n  RETURN NULL;",
        link(field, "v_digest", "r"),
        // The rows counted were inserted, one of them with another number,
        // none, or another scope: a trigger after ours changed it. It would
        // do it again.
        raise(
            Kind::NumberChanged,
            &[lit(D, &field.column), lit(D, &field.target)]
        ),
        // Not the rows counted: a numbered row skipped by an ON CONFLICT for
        // a row another transaction inserted meanwhile, or a row whose key
        // looked taken inserted after the row holding it went. Run again,
        // the trigger sees what is committed now.
        retry(
            "the rows inserted are not the rows the insert trigger numbered (an ON CONFLICT skipped one for a row another transaction inserted meanwhile, a row whose key looked taken was inserted after all, or another trigger cancelled one)"
        ),
    )
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

fn remove(names: &Names, table: &str) -> Vec<String> {
    let mut out: Vec<String> = names
        .all()
        .iter()
        .map(|name| format!("DROP TRIGGER IF EXISTS {} ON {table}", ident(D, name)))
        .collect();
    out.extend(
        names
            .all()
            .iter()
            .map(|name| format!("DROP FUNCTION IF EXISTS {}()", ident(D, name))),
    );
    out
}
