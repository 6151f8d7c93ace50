//! Why `Sequence::adopt` refused.

/// Why [`Sequence::adopt`](crate::Sequence::adopt) refused, nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotAdoptable {
    /// The table holds no number of this sequence.
    NoRows,
    /// The table's numbers are not `initial..=highest` exactly (gaps,
    /// duplicates, NULL numbers, numbers below the initial value): adopting
    /// would make them the sequence's. Pass `allow_defects` to adopt anyway.
    Defects {
        /// Missing numbers.
        missing: u64,
        /// Rows beyond the first for each duplicated number.
        duplicate_rows: u64,
        /// Rows whose number is NULL.
        unnumbered: u64,
        /// Rows numbered below the initial value.
        below_initial: u64,
    },
    /// The counter is already past the table's highest number: moving it
    /// back would hand numbers out again.
    Behind {
        /// The counter's `last`.
        last: i64,
        /// The table's highest number.
        highest: i64,
    },
}

impl std::fmt::Display for NotAdoptable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoRows => f.write_str("the table holds no number of it"),
            Self::Defects {
                missing,
                duplicate_rows,
                unnumbered,
                below_initial,
            } => write!(
                f,
                "the table's numbers have {missing} missing, {duplicate_rows} duplicated, \
                 {unnumbered} unnumbered and {below_initial} below the initial value; audit \
                 them, or adopt them as they are (allow defects)"
            ),
            Self::Behind { last, highest } => write!(
                f,
                "the counter is already at {last}, past the table's highest number {highest}; \
                 nothing to adopt"
            ),
        }
    }
}
