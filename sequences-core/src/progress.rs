//! How far along long work is: [`Progress`], the hook that [`Audit`],
//! [`ChainAudit`] and [`Numbering::number_pending_reporting`] report to, and
//! that the `sequences` command draws as a progress bar.
//!
//! [`Audit`]: crate::Audit
//! [`ChainAudit`]: crate::ChainAudit
//! [`Numbering::number_pending_reporting`]: crate::Numbering::number_pending_reporting

use std::fmt;
use std::sync::Arc;

/// Receives the progress of long work: a stage begins, steps of it are done.
///
/// Called from the task that does the work, between two reads: keep it
/// cheap (a counter, a progress bar). It changes nothing the work does.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use sequences_core::Progress;
///
/// /// Counts the rows walked.
/// #[derive(Default)]
/// struct Rows(AtomicU64);
///
/// impl Progress for Rows {
///     fn stage(&self, what: &str, total: Option<u64>) {
///         eprintln!("{what} ({total:?} steps)");
///     }
///     fn advance(&self, steps: u64) {
///         self.0.fetch_add(steps, Ordering::Relaxed);
///     }
/// }
/// # let rows = Rows::default();
/// # rows.stage("walking the chains", Some(2));
/// # rows.advance(2);
/// # assert_eq!(rows.0.load(Ordering::Relaxed), 2);
/// ```
pub trait Progress: Send + Sync {
    /// A stage begins: what it does (a phrase, such as "walking the
    /// chains"), and how many steps it takes when that is known (rows,
    /// usually; `None`: it is not known in advance).
    fn stage(&self, what: &str, total: Option<u64>);

    /// `steps` more steps of the current stage are done.
    fn advance(&self, steps: u64);
}

/// No one is told: the default of every builder.
pub(crate) struct Silent;

impl Progress for Silent {
    fn stage(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

/// A builder's hook (none by default): shared, and shown by `Debug` by
/// name only.
#[derive(Clone, Default)]
pub(crate) struct Hook(Option<Arc<dyn Progress>>);

impl Hook {
    /// The hook a builder keeps of `progress`.
    pub(crate) fn new(progress: impl Progress + 'static) -> Self {
        Self(Some(Arc::new(progress)))
    }

    /// No one listens: work that only a progress bar needs is skipped.
    pub(crate) fn is_silent(&self) -> bool {
        self.0.is_none()
    }
}

impl std::ops::Deref for Hook {
    type Target = dyn Progress;

    fn deref(&self) -> &Self::Target {
        match &self.0 {
            Some(progress) => &**progress,
            None => &Silent,
        }
    }
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress")
    }
}
