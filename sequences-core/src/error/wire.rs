//! The one spelling of a trigger's refusals, and the way back from the
//! database's error to [`SequenceError`]. The triggers write the same
//! message in SQL (`triggers::message`).
//!
//! A trigger refuses with the message `sequences:<kind>:<field>:...`, the
//! sequence name (or template) last, since it may hold any character, after
//! its length in characters (`closed:12:invoice@2026`), so that what a
//! driver adds after the message (PostgreSQL's ` at line N`, SQLite's
//! closing quote) is never read as part of it:
//! PostgreSQL raises it with SQLSTATE `SQ001`, MariaDB/MySQL signal it with
//! SQLSTATE `45000`, SQLite aborts with it. Whatever client ran the
//! statement sees the message; a Rust caller gets the typed error back with
//! [`SequenceError::from_database`].

use sea_orm::DbErr;

use super::SequenceError;
use crate::period::Day;

/// What a trigger refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `field`, `target`, template.
    MissingPlaceholder,
    /// name.
    InvalidName,
    /// name.
    Closed,
    /// day, latest day (`YYYYMMDD`), name.
    OutOfOrder,
    /// max value, last, name.
    Exhausted,
    /// value, type, target, name.
    OutOfRange,
    /// name.
    Overflow,
    /// value, target, name.
    DeleteRefused,
    /// value, last (empty: none), target, name.
    NotLast,
    /// column, target.
    NumberChanged,
    /// column, target.
    NumberSet,
    /// column, target.
    KeyChanged,
}

impl Kind {
    /// The word the message spells the refusal with.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Kind::MissingPlaceholder => "missing_placeholder",
            Kind::InvalidName => "invalid_name",
            Kind::Closed => "closed",
            Kind::OutOfOrder => "out_of_order",
            Kind::Exhausted => "exhausted",
            Kind::OutOfRange => "out_of_range",
            Kind::Overflow => "overflow",
            Kind::DeleteRefused => "delete_refused",
            Kind::NotLast => "not_last",
            Kind::NumberChanged => "number_changed",
            Kind::NumberSet => "number_set",
            Kind::KeyChanged => "key_changed",
        }
    }

    const ALL: [Kind; 12] = [
        Kind::MissingPlaceholder,
        Kind::InvalidName,
        Kind::Closed,
        Kind::OutOfOrder,
        Kind::Exhausted,
        Kind::OutOfRange,
        Kind::Overflow,
        Kind::DeleteRefused,
        Kind::NotLast,
        Kind::NumberChanged,
        Kind::NumberSet,
        Kind::KeyChanged,
    ];
}

/// What every refusal's message starts with.
pub(crate) const PREFIX: &str = "sequences:";

/// The PostgreSQL SQLSTATE of a refusal.
pub(crate) const PG_SQLSTATE: &str = "SQ001";

/// The message as text, for a refusal whose parts are all known when the
/// trigger is written (SQLite's `RAISE` takes a literal only).
pub(crate) fn literal(kind: Kind, parts: &[&str]) -> String {
    let (last, first) = parts.split_last().expect("a refusal names something");
    let mut fields: Vec<String> = first.iter().map(|p| p.to_string()).collect();
    fields.push(format!("{}:{last}", last.chars().count()));
    format!("{PREFIX}{}:{}", kind.word(), fields.join(":"))
}

/// The refusal a database error carries, if a trigger raised it (told by
/// its SQLSTATE or vendor number: `db_error::trigger_message`).
pub(crate) fn decode(error: &DbErr) -> Option<SequenceError> {
    parse(&super::database::trigger_message(error)?)
}

/// The refusal a trigger's message spells.
fn parse(text: &str) -> Option<SequenceError> {
    let rest = text.strip_prefix(PREFIX)?;
    let (word, rest) = rest.split_once(':')?;
    let kind = Kind::ALL.into_iter().find(|k| k.word() == word)?;
    // The fields, then the last one's length and the last one itself.
    let fields = |n: usize| -> Option<Vec<&str>> {
        let mut parts: Vec<&str> = rest.splitn(n + 1, ':').collect();
        if parts.len() != n + 1 {
            return None;
        }
        let tail = parts.pop()?;
        let length: usize = parts.pop()?.parse().ok()?;
        let end = tail
            .char_indices()
            .nth(length)
            .map_or(tail.len(), |(i, _)| i);
        let last = &tail[..end];
        if last.chars().count() != length {
            return None;
        }
        parts.push(last);
        Some(parts)
    };
    let last = || fields(1).map(|f| f[0].to_owned());
    let int = |text: &str| text.parse::<i64>().ok();
    let day = |text: &str| text.parse::<i32>().ok().map(Day::from_number);
    Some(match kind {
        Kind::MissingPlaceholder => {
            let f = fields(3)?;
            SequenceError::MissingPlaceholder {
                field: f[0].to_owned(),
                target: f[1].to_owned(),
                template: f[2].to_owned(),
            }
        }
        Kind::InvalidName => SequenceError::InvalidName {
            name: last()?,
            reason: crate::entity::NAME_TOO_LONG,
        },
        Kind::Closed => SequenceError::Closed { name: last()? },
        Kind::OutOfOrder => {
            let f = fields(3)?;
            SequenceError::OutOfOrder {
                day: day(f[0])?,
                latest: day(f[1])?,
                name: f[2].to_owned(),
            }
        }
        Kind::Exhausted => {
            let f = fields(3)?;
            SequenceError::Exhausted {
                max_value: int(f[0])?,
                last: int(f[1])?,
                count: 1,
                name: f[2].to_owned(),
            }
        }
        Kind::OutOfRange => {
            let f = fields(4)?;
            SequenceError::ValueOutOfRange {
                value: int(f[0])?,
                type_name: sequences_template::rules::IntType::named(f[1])?.name,
                target: f[2].to_owned(),
                name: f[3].to_owned(),
            }
        }
        Kind::Overflow => SequenceError::Overflow {
            name: last()?,
            count: 1,
        },
        Kind::DeleteRefused => {
            let f = fields(3)?;
            SequenceError::DeleteRefused {
                value: int(f[0])?,
                target: f[1].to_owned(),
                name: f[2].to_owned(),
            }
        }
        Kind::NotLast => {
            let f = fields(4)?;
            SequenceError::NotLast {
                value: int(f[0])?,
                last: int(f[1]),
                name: f[3].to_owned(),
            }
        }
        Kind::NumberChanged => {
            let f = fields(2)?;
            SequenceError::NumberChanged {
                column: f[0].to_owned(),
                target: f[1].to_owned(),
            }
        }
        Kind::NumberSet => {
            let f = fields(2)?;
            SequenceError::NumberSet {
                column: f[0].to_owned(),
                target: f[1].to_owned(),
            }
        }
        Kind::KeyChanged => {
            let f = fields(2)?;
            SequenceError::KeyChanged {
                column: f[0].to_owned(),
                target: f[1].to_owned(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_reads_back() {
        let closed = parse(&literal(Kind::Closed, &["invoice:x@2026"])).unwrap();
        assert!(matches!(closed, SequenceError::Closed { name } if name == "invoice:x@2026"));
        // What a driver adds after the message is not read.
        let order = parse("sequences:out_of_order:20260101:20260315:3:inv at line 3907").unwrap();
        assert!(
            matches!(order, SequenceError::OutOfOrder { day, latest, name }
            if day.number() == 20260101 && latest.number() == 20260315 && name == "inv")
        );
        // Only an error the database raised is read, not one echoing the text.
        let echoed = DbErr::Custom("invalid input syntax: \"sequences:closed:3:abc\"".into());
        assert!(decode(&echoed).is_none());
        let range = parse("sequences:out_of_range:2147483648:i32:t.n:1:s").unwrap();
        assert!(matches!(
            range,
            SequenceError::ValueOutOfRange {
                type_name: "i32",
                ..
            }
        ));
        let last = parse("sequences:not_last:4::t.n:2:s:").unwrap();
        assert!(
            matches!(last, SequenceError::NotLast { last: None, value: 4, name, .. } if name == "s:")
        );
        let long = literal(Kind::MissingPlaceholder, &["day", "t.n", "é{day}:x"]);
        assert!(
            matches!(parse(&long), Some(SequenceError::MissingPlaceholder { template, .. }) if template == "é{day}:x")
        );
        assert!(parse("sequences:unknown:x").is_none());
        assert!(parse("duplicate key").is_none());
        assert!(parse("x sequences:closed:1:a").is_none());
    }
}
