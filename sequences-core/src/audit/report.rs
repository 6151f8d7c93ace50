//! What an audit found: per group, the gaps, duplicates, voids, unnumbered
//! rows and date inversions, and whether that is clean.

use super::Scope;
use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// The result of an [`Audit`](crate::Audit): one entry per scope group (with rows, with
/// unnumbered rows, or a counter the template names).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct AuditReport {
    /// The initial value the audit assumed.
    pub initial_value: i64,
    /// Per group, ordered by scope.
    pub groups: Vec<GroupAudit>,
    /// With [`Audit::format`](crate::Audit::format): texts that do not match the format.
    pub unreadable: u64,
    /// With [`Audit::pending`](crate::Audit::pending) (a field numbered
    /// [`after_commit`](crate::NumberedField::after_commit)): the rows
    /// waiting for their number, counted here and not as unnumbered.
    pub pending: Option<PendingRows>,
    /// When the column is [numbered by the database](crate::Numbering::install_triggers)
    /// (recorded in `sequences_guards`): whether its triggers are still
    /// there as installed. `None`: the column was never guarded.
    pub triggers: Option<crate::TriggerState>,
}

impl AuditReport {
    /// No number missing, none duplicated, none below the initial value,
    /// none ahead of its sequence's `last`, in any group; and, for a column
    /// numbered by the database, its triggers intact.
    pub fn is_clean(&self) -> bool {
        self.unreadable == 0
            && self.groups.iter().all(GroupAudit::is_clean)
            && self
                .triggers
                .as_ref()
                .is_none_or(crate::TriggerState::is_intact)
            && self.pending.as_ref().is_none_or(PendingRows::is_fine)
    }

    /// Missing numbers, over all groups.
    pub fn missing(&self) -> u64 {
        self.groups.iter().map(|g| g.missing).sum()
    }

    /// Rows whose number another row of the same group also has, beyond the
    /// first (three rows numbered 7 count 2), over all groups.
    pub fn duplicate_rows(&self) -> u64 {
        self.groups.iter().map(|g| g.duplicate_rows).sum()
    }

    /// Rows audited, over all groups.
    pub fn rows(&self) -> u64 {
        self.groups.iter().map(|g| g.rows).sum()
    }
}

/// The rows of an `after_commit` field still waiting for their number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PendingRows {
    /// Rows whose number was NULL when the audit looked (refused ones
    /// included), which the audit then watched.
    pub waiting: u64,
    /// Rows still unnumbered after waiting `max_wait` under the audit's
    /// eyes, and not refused: a defect (no numberer runs, or it is too far
    /// behind).
    pub overdue: u64,
    /// Rows waiting that the audit could not watch for `max_wait`: beyond
    /// the first 1,000,000, or taken up too late after a watched row left
    /// under a key it could not follow (its key changed, or it was deleted,
    /// while the audit watched). Not a verdict either way, so not fine: run
    /// the audit again.
    pub unwatched: u64,
    /// Whether a waiting row keeps its key while the audit watches: the
    /// field's triggers are intact and guard the key the audit follows
    /// (the table's primary key). Without it, a row that leaves the
    /// waiting rows makes the audit watch every row waiting from then on,
    /// which a busy table may end as `unwatched`.
    pub keys_kept: bool,
    /// Rows a numberer refused (row key, reason): they stay unnumbered, a
    /// defect an auditor must see (`sequence_refusals`).
    pub refused: Vec<(String, String)>,
    /// How long ago a numberer of the column last stamped its heartbeat
    /// (`None`: never). Shown, never trusted: anyone who can write
    /// `sequences` can write it.
    pub numberer_idle: Option<std::time::Duration>,
    /// The heartbeat is dated in the future, which no numberer writes: a
    /// defect (written by hand, or the database's clock went back).
    pub heartbeat_ahead: bool,
    /// The longest a row may wait ([`Audit::pending`](crate::Audit::pending)).
    pub max_wait: std::time::Duration,
}

impl PendingRows {
    /// No row refused, none waiting longer than `max_wait` while the audit
    /// watched, none it could not watch, and no heartbeat from the future.
    pub fn is_fine(&self) -> bool {
        self.refused.is_empty() && self.overdue == 0 && self.unwatched == 0 && !self.heartbeat_ahead
    }
}

/// The audit of one scope group (the whole table when there is no scope).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupAudit {
    /// The group's scope values as text, in [`Audit::scope`](crate::Audit::scope) order (`None`: NULL).
    pub scope: Vec<Option<String>>,
    /// Its sequence's name, when [`Audit::sequence`](crate::Audit::sequence) was given.
    pub sequence: Option<String>,
    /// Rows with a number.
    pub rows: u64,
    /// Distinct numbers.
    pub distinct: u64,
    /// The lowest number.
    pub first: Option<i64>,
    /// The highest number.
    pub last: Option<i64>,
    /// The sequence's `last` (`None`: no sequence given, or it does not exist).
    pub sequence_last: Option<i64>,
    /// Numbers of `initial..=max(last, sequence_last)` that no row has and
    /// that are not recorded void: unexplained gaps, the defect.
    pub missing: u64,
    /// The unexplained missing numbers as ranges, in order (the first
    /// [`Audit::max_listed`](crate::Audit::max_listed) between present numbers, plus the head and tail).
    /// Serialized as `[first, last]` pairs.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ranges"))]
    pub gaps: Vec<RangeInclusive<i64>>,
    /// Missing numbers recorded void (`Sequence::void`, the `void` delete
    /// policy): gaps that are explained, not defects.
    pub voided: Vec<i64>,
    /// Numbers a row holds although they are recorded void: a defect (the
    /// void was recorded for the wrong number, or the row came back).
    pub voided_but_present: Vec<i64>,
    /// With [`Audit::date`](crate::Audit::date): numbers dated earlier than the number before
    /// them, counted...
    pub inversions: u64,
    /// ...and listed (the first [`Audit::max_listed`](crate::Audit::max_listed)).
    pub inversions_listed: Vec<DateInversion>,
    /// Rows beyond the first for each duplicated number.
    pub duplicate_rows: u64,
    /// Each duplicated number and how many rows have it (the first
    /// [`Audit::max_listed`](crate::Audit::max_listed)).
    pub duplicates: Vec<(i64, u64)>,
    /// Rows numbered below the initial value.
    pub below_initial: u64,
    /// The highest number is above the sequence's `last` (or the sequence
    /// does not exist): the sequence will hand out numbers that rows already
    /// have. Only checked when [`Audit::sequence`](crate::Audit::sequence) was given.
    pub ahead_of_sequence: bool,
    /// With [`Audit::checkpoints`](crate::Audit::checkpoints): the highest `last` a checkpoint recorded
    /// for this sequence. Numbers up to it are audited too.
    pub checkpoint_last: Option<i64>,
    /// The counter is behind its checkpoint, or gone: it was moved back or
    /// deleted since the checkpoint. A defect.
    pub rewound: bool,
    /// With [`Audit::sequence`](crate::Audit::sequence): the group has numbered rows but its scope
    /// names no sequence (a NULL placeholder, which the library refuses to
    /// number): numbered behind the library's back. A defect.
    pub unnamed: bool,
    /// Rows of the group whose number is NULL: never numbered (a deferred
    /// number that was not assigned, an insert that bypassed the library). A
    /// defect: a document without its number.
    pub unnumbered: u64,
    /// The keys of the first [`Audit::max_listed`](crate::Audit::max_listed) unnumbered rows, as text
    /// in [`Audit::row_key`](crate::Audit::row_key) order (empty without [`Audit::row_key`](crate::Audit::row_key)).
    pub unnumbered_keys: Vec<Vec<Option<String>>>,
    /// Formatted audits: the numbers present, for [`GroupAudit::explain`].
    #[cfg_attr(feature = "serde", serde(skip))]
    pub(super) present: BTreeSet<i64>,
}

/// Ranges as `[first, last]` pairs.
#[cfg(feature = "serde")]
fn ranges<S: serde::Serializer>(
    ranges: &[RangeInclusive<i64>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(ranges.iter().map(|range| [*range.start(), *range.end()]))
}

/// A number dated earlier than the number before it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DateInversion {
    /// The number.
    pub number: i64,
    /// Its date, as the database prints it.
    pub date: String,
    /// The date of the number before it, later than `date`.
    pub previous_date: String,
}

impl GroupAudit {
    /// Every gap explained by a void, nothing duplicated, below the initial
    /// value, ahead of the sequence, void yet present, or out of date order.
    pub fn is_clean(&self) -> bool {
        self.missing == 0
            && self.unnumbered == 0
            && !self.rewound
            && !self.unnamed
            && self.duplicate_rows == 0
            && self.below_initial == 0
            && !self.ahead_of_sequence
            && self.voided_but_present.is_empty()
            && self.inversions == 0
    }

    /// A group with no numbered row (yet).
    pub(super) fn empty(scope: Scope) -> Self {
        let mut budget = (0, 0);
        Self::from_values(scope, Vec::new(), 0, &mut budget)
    }

    /// Takes the sequence's voids into account: a missing number that is
    /// void is explained; a present one that is void is a defect.
    pub(super) fn explain(&mut self, voids: &[i64], present: &BTreeSet<i64>, initial: i64) {
        let upper = self.last.max(self.sequence_last).max(self.checkpoint_last);
        for &value in voids {
            if present.contains(&value) {
                self.voided_but_present.push(value);
            } else if value >= initial && upper.is_some_and(|upper| value <= upper) {
                self.voided.push(value);
            }
        }
        self.missing -= self.voided.len() as u64;
        let mut gaps = Vec::with_capacity(self.gaps.len());
        for gap in std::mem::take(&mut self.gaps) {
            let mut from = *gap.start();
            for &value in self.voided.iter().filter(|&&v| gap.contains(&v)) {
                if value > from {
                    gaps.push(from..=value - 1);
                }
                from = value + 1;
            }
            if from <= *gap.end() {
                gaps.push(from..=*gap.end());
            }
        }
        self.gaps = gaps;
    }

    /// A group from its numbers, read by the application (formatted
    /// references). `budget`: gap ranges and duplicates still to list.
    pub(super) fn from_values(
        scope: Vec<Option<String>>,
        mut values: Vec<i64>,
        initial: i64,
        budget: &mut (u64, u64),
    ) -> Self {
        values.sort_unstable();
        let mut group = GroupAudit {
            scope,
            sequence: None,
            rows: values.len() as u64,
            distinct: 0,
            first: values.first().copied(),
            last: values.last().copied(),
            sequence_last: None,
            missing: 0,
            gaps: Vec::new(),
            duplicate_rows: 0,
            duplicates: Vec::new(),
            below_initial: values.iter().filter(|&&v| v < initial).count() as u64,
            ahead_of_sequence: false,
            voided: Vec::new(),
            voided_but_present: Vec::new(),
            inversions: 0,
            inversions_listed: Vec::new(),
            unnumbered: 0,
            unnumbered_keys: Vec::new(),
            checkpoint_last: None,
            rewound: false,
            unnamed: false,
            present: values.iter().copied().collect(),
        };
        let mut previous: Option<i64> = None;
        for run in values.chunk_by(|a, b| a == b) {
            let value = run[0];
            group.distinct += 1;
            if run.len() > 1 && budget.1 > 0 {
                budget.1 -= 1;
                group.duplicates.push((value, run.len() as u64));
            }
            if value < initial {
                continue;
            }
            // Until `finish`, `missing` counts the distinct numbers from `initial`.
            group.missing += 1;
            let from = previous.map_or(initial, |p| p + 1);
            if value > from && budget.0 > 0 {
                budget.0 -= 1;
                group.gaps.push(from..=value - 1);
            }
            previous = Some(value);
        }
        group
    }

    pub(super) fn finish(&mut self, initial: i64) {
        let in_range = self.missing;
        self.duplicate_rows = self.rows - self.distinct;
        // What was handed out: the counter's last, or a checkpoint's if the
        // counter was moved back (or deleted) since.
        let handed_out = self.sequence_last.max(self.checkpoint_last);
        self.rewound = self.checkpoint_last.is_some() && self.sequence_last < self.checkpoint_last;
        let upper = self.last.max(handed_out);
        self.missing = match upper {
            Some(upper) if upper >= initial => {
                (upper as i128 - initial as i128 + 1 - in_range as i128) as u64
            }
            _ => 0,
        };
        // The tail: after the highest number, up to the sequence's last.
        match (self.last, handed_out) {
            (Some(last), Some(handed_out)) if handed_out > last => {
                self.gaps.push((last + 1).max(initial)..=handed_out);
            }
            // No numbered row at all: everything handed out is missing.
            (None, Some(handed_out)) if handed_out >= initial => {
                self.gaps.push(initial..=handed_out);
            }
            _ => {}
        }
        if self.sequence.is_some() {
            self.ahead_of_sequence = self.last > self.sequence_last;
        }
    }
}
