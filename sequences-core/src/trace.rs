//! What the crate reports to [`tracing`]: where numbering spends its time.
//!
//! The crate depends on `tracing` alone and installs no subscriber: the
//! spans go wherever the application already sends its traces (a `fmt`
//! layer, OpenTelemetry, `tokio-console`). With SeaORM's `tracing-spans`
//! feature, SeaORM's statement spans (`sea_orm.execute`, `sea_orm.query_one`)
//! nest under these.
//!
//! | span (INFO) | when | fields |
//! |---|---|---|
//! | `sequences.next_value` | [`Sequence::next_value`](crate::Sequence::next_value) | `sequence`, `count` (1), `wait_ms`, `value`, `outcome` |
//! | `sequences.next_values` | [`Sequence::next_values`](crate::Sequence::next_values) | `sequence`, `count`, `wait_ms`, `value` (the first), `outcome` |
//! | `sequences.fill` | a [`Numbering`](crate::Numbering) fill (so every `#[derive(Gapless)]` insert) | `entity`, `models`, `values`, `outcome`; the allocations above nest under it |
//!
//! - `wait_ms` is the time the allocating statement took. A statement that
//!   takes a free row lock runs in well under a millisecond; anything longer
//!   is the wait for another transaction holding the same sequence, which is
//!   what "numbering is slow when many users save at once" looks like.
//! - `outcome` is `ok`, `lock_not_available`, `overflow`, `database_error`
//!   or `refused` (a check that fails before any statement).
//!
//! [`Retry`](crate::Retry) emits an INFO event (target `sequences::retry`)
//! per retried attempt, with `attempt`, `code` (the SQLSTATE, SQLite result
//! code or MySQL error number) and `delay_ms`.

use std::future::Future;
use std::time::Instant;

use tracing::{Instrument, Span};

use crate::SequenceError;

/// The span of one allocation: `$name` must be a literal (tracing's rule).
macro_rules! allocation_span {
    ($name:literal, $sequence:expr, $count:expr) => {
        ::tracing::info_span!(
            $name,
            sequence = %$sequence,
            count = $count,
            wait_ms = ::tracing::field::Empty,
            value = ::tracing::field::Empty,
            outcome = ::tracing::field::Empty,
        )
    };
}
pub(crate) use allocation_span;

/// Runs `work` inside `span` and records its outcome there.
pub(crate) async fn traced<T>(
    span: &Span,
    work: impl Future<Output = Result<T, SequenceError>>,
) -> Result<T, SequenceError> {
    let result = work.instrument(span.clone()).await;
    span.record(
        "outcome",
        match &result {
            Ok(_) => "ok",
            Err(error) => error.outcome(),
        },
    );
    result
}

/// Records `wait_ms` on the current span when dropped, on success and on error.
pub(crate) struct RecordWait(pub(crate) Instant);

impl Drop for RecordWait {
    fn drop(&mut self) {
        Span::current().record("wait_ms", self.0.elapsed().as_secs_f64() * 1000.0);
    }
}
