//! The walk of one sequence's chain, from number to number.

use std::collections::BTreeMap;

use super::Checkpoint;
use super::verify::{BreakKind, ChainBreak, ChainState};
use crate::entity;
use crate::hash::{GENESIS, hash_link, seal_hash, void_auth};

/// A void, as read for the chain.
pub(super) struct Void {
    /// The voided record's hash, if it had one.
    pub(super) hash: Option<String>,
    pub(super) reason: String,
    /// A keyed chain's authenticator of the void.
    pub(super) auth: Option<String>,
}

/// A sequence's counter row, as read for the chain.
#[derive(Clone, Copy)]
pub(super) struct Counter<'a> {
    pub(super) row: Option<&'a entity::Model>,
    /// A keyed chain's seal of its head.
    pub(super) seal: Option<&'a str>,
}

/// One sequence's rows, as read for the chain.
#[derive(Default)]
pub(super) struct Group {
    pub(super) rows: Vec<Row>,
    pub(super) unnumbered: u64,
}

/// One numbered row, as read for the chain.
pub(super) struct Row {
    pub(super) number: i64,
    pub(super) hash: Option<String>,
    pub(super) covered: Vec<Option<String>>,
}

/// How chains are walked.
pub(super) struct Walk<'a> {
    pub(super) key: Option<&'a [u8]>,
    pub(super) covers: &'a [&'a str],
    pub(super) initial: i64,
    pub(super) legacy_prefix: bool,
}

impl Walk<'_> {
    /// Walks one sequence's chain.
    pub(super) fn verify(
        &self,
        sequence: String,
        group: &Group,
        voids: &BTreeMap<i64, Void>,
        counter: Counter<'_>,
        checkpoints: &[&Checkpoint],
    ) -> ChainState {
        let rows = &group.rows;
        let (seal, counter) = (counter.seal, counter.row);
        let head = counter.and_then(|c| c.chain_head.clone());
        let mut state = ChainState {
            sequence,
            starts_at: None,
            ends_at: None,
            links: 0,
            unnumbered: group.unnumbered,
            breaks: Vec::new(),
            broken: None,
        };
        // Every row is walked or reported: one below the initial value is
        // no link of any chain of this sequence (a legacy prefix starts at
        // the initial value too).
        for row in rows.iter().filter(|row| row.number < self.initial) {
            push(&mut state.breaks, row.number, BreakKind::Outside);
        }
        let first_hashed = rows
            .iter()
            .filter(|row| row.number >= self.initial)
            .find(|row| row.hash.is_some())
            .map(|r| r.number);
        let start = if self.legacy_prefix {
            match first_hashed {
                Some(first) => first,
                // Nothing hashed: a chain only if something says there was one.
                None if head.is_some() || seal.is_some() || !checkpoints.is_empty() => self.initial,
                None => {
                    state.broken = state.breaks.first().cloned();
                    return state;
                }
            }
        } else {
            self.initial
        };
        let upper = [
            rows.last().map(|row| row.number),
            voids.keys().next_back().copied(),
            counter.map(|c| c.last),
            checkpoints.iter().map(|c| c.last).max(),
        ]
        .into_iter()
        .flatten()
        .max();
        let Some(upper) = upper.filter(|&upper| upper >= start) else {
            if head.is_some() {
                state.starts_at = Some(start);
                push(&mut state.breaks, start, BreakKind::Head);
            }
            state.broken = state.breaks.first().cloned();
            return state;
        };
        state.starts_at = Some(start);
        state.ends_at = Some(upper);
        let mut by_number: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
        for row in rows.iter().filter(|row| row.number >= start) {
            by_number.entry(row.number).or_default().push(row);
        }
        // A checkpoint whose `last` is before the walk's start (a legacy
        // prefix whose hashes were erased up to past it): the history it
        // holds a head of is gone.
        for mark in checkpoints.iter().filter(|c| c.last < start) {
            push(&mut state.breaks, mark.last, BreakKind::Checkpoint);
        }
        // The numbers something stands at, in order: what lies between two
        // of them is missing, reported as one range (the walk's cost
        // follows the rows and voids, not the distance between numbers).
        let mut points: std::collections::BTreeSet<i64> = by_number.keys().copied().collect();
        points.extend(voids.keys().copied().filter(|&n| n >= start && n <= upper));
        points.extend(
            checkpoints
                .iter()
                .map(|c| c.last)
                .filter(|&n| n >= start && n <= upper),
        );
        points.insert(upper);
        let mut previous = GENESIS.to_owned();
        // The number whose link the head is (a keyed chain's seal covers it).
        let mut head_number = start.saturating_sub(1);
        // After a missing or unhashed link, the next record cannot be checked
        // against its predecessor: its stored hash is taken as it is.
        let mut resync = false;
        let mut expected = Some(start);
        for number in points {
            if let Some(from) = expected
                && from < number
            {
                push_range(&mut state.breaks, from, number - 1, BreakKind::Missing);
                resync = true;
            }
            expected = number.checked_add(1);
            match by_number.get(&number).map(Vec::as_slice) {
                None | Some([]) => match voids.get(&number) {
                    Some(void) => {
                        // In a keyed chain, only the key holder can void.
                        if let Some(key) = self.key {
                            let expected = void_auth(
                                key,
                                &state.sequence,
                                number,
                                &void.reason,
                                void.hash.as_deref(),
                            );
                            if void.auth.as_deref() != Some(expected.as_str()) {
                                push(&mut state.breaks, number, BreakKind::Void);
                            }
                        }
                        // A void without a hash: a number that never had a
                        // record (voided by hand), passed over.
                        if let Some(hash) = &void.hash {
                            previous = hash.clone();
                            head_number = number;
                            resync = false;
                        }
                        state.links += 1;
                    }
                    None => {
                        push(&mut state.breaks, number, BreakKind::Missing);
                        resync = true;
                    }
                },
                Some([row]) => match &row.hash {
                    None => {
                        push(&mut state.breaks, number, BreakKind::Unhashed);
                        resync = true;
                    }
                    Some(stored) => {
                        if resync {
                            resync = false;
                        } else if self.hash(&previous, &state.sequence, row) == *stored {
                            state.links += 1;
                        } else {
                            push(&mut state.breaks, number, BreakKind::Altered);
                        }
                        previous = stored.clone();
                        head_number = number;
                    }
                },
                Some(several) => {
                    push(&mut state.breaks, number, BreakKind::Duplicate);
                    let expected = several
                        .iter()
                        .find(|row| {
                            !resync
                                && row.hash.as_deref()
                                    == Some(self.hash(&previous, &state.sequence, row).as_str())
                        })
                        .or_else(|| several.iter().find(|row| row.hash.is_some()));
                    match expected.and_then(|row| row.hash.clone()) {
                        Some(hash) => {
                            previous = hash;
                            resync = false;
                        }
                        None => resync = true,
                    }
                }
            }
            for mark in checkpoints.iter().filter(|c| c.last == number) {
                if mark.head.as_deref() != Some(previous.as_str()) {
                    push(&mut state.breaks, number, BreakKind::Checkpoint);
                }
            }
        }
        state.breaks.sort_by_key(|b| b.number);
        // A keyed chain's head must carry the key holder's seal.
        let sealed = match (self.key, &head) {
            (Some(key), Some(head)) => {
                seal == Some(seal_hash(key, &state.sequence, head, head_number).as_str())
            }
            _ => true,
        };
        if head.as_deref() != Some(previous.as_str()) || !sealed {
            push(&mut state.breaks, upper.saturating_add(1), BreakKind::Head);
        }
        state.broken = state.breaks.first().cloned();
        state
    }

    fn hash(&self, previous: &str, sequence: &str, row: &Row) -> String {
        let fields: Vec<(&str, Option<&str>)> = self
            .covers
            .iter()
            .zip(&row.covered)
            .map(|(name, value)| (*name, value.as_deref()))
            .collect();
        hash_link(self.key, previous, sequence, row.number, &fields)
    }
}

/// Adds a break, merged with the previous one when it continues it.
fn push(breaks: &mut Vec<ChainBreak>, number: i64, kind: BreakKind) {
    push_range(breaks, number, number, kind);
}

/// Adds a break over `number..=through`, merged with the previous one when
/// it continues it.
fn push_range(breaks: &mut Vec<ChainBreak>, number: i64, through: i64, kind: BreakKind) {
    if let Some(last) = breaks.last_mut()
        && last.kind == kind
        && last.through.checked_add(1) == Some(number)
    {
        last.through = through;
        return;
    }
    breaks.push(ChainBreak {
        number,
        through,
        kind,
    });
}
