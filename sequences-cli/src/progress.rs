//! The progress of long commands (`audit`, `verify`, `adopt`, `number`): a
//! bar on stderr, fed by the library's [`Progress`] hook. Drawn only when
//! stderr is a terminal, and never under `--json`: a script reads the
//! output alone.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sequences_core::Progress;

use crate::output::Out;

/// The bar of one command, cleared when the command ends (done or failed).
pub struct Shown(Option<ProgressBar>);

impl Shown {
    /// A bar for this run, or none: under `--json`, or when stderr is not
    /// a terminal.
    pub fn new(out: &Out) -> Self {
        if out.is_json() || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar))
    }

    /// The hook to give the library, if a bar is shown.
    pub fn hook(&self) -> Option<Bar> {
        self.0.clone().map(Bar)
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// The library's [`Progress`], drawn on the bar.
pub struct Bar(ProgressBar);

impl Progress for Bar {
    fn stage(&self, what: &str, total: Option<u64>) {
        let template = match total {
            Some(_) => "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} ({elapsed}, {eta} left)",
            None => "{spinner} {msg}: {human_pos} ({elapsed})",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.reset();
        match total {
            Some(total) => self.0.set_length(total),
            None => self.0.unset_length(),
        }
        self.0.set_message(what.to_owned());
    }

    fn advance(&self, steps: u64) {
        self.0.inc(steps);
    }
}
