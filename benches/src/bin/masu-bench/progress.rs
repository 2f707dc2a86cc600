//! Progress on stderr with `indicatif`: a bar redrawn in place on a
//! terminal; elsewhere (logs, CI) indicatif draws nothing, so each step
//! prints one line and logs stay readable.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// The progress of one mode's steps.
pub struct Progress {
    bar: ProgressBar,
    what: String,
}

impl Progress {
    /// A bar for `total` steps of `what`.
    pub fn new(what: &str, total: usize) -> Progress {
        let bar = ProgressBar::new(total as u64);
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {msg:40!} {elapsed} elapsed, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>.");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        Progress {
            bar,
            what: what.to_string(),
        }
    }

    /// Shows that step `label` starts.
    pub fn start(&mut self, label: &str) {
        self.bar.set_message(label.to_string());
    }

    /// Marks a step done, with a note on how it went.
    pub fn finish(&mut self, label: &str, note: &str) {
        self.bar.inc(1);
        if self.bar.is_hidden() {
            eprintln!(
                "{} [{}/{}] {label}: {note}",
                self.what,
                self.bar.position(),
                self.bar.length().unwrap_or(0)
            );
        }
    }

    /// Clears the bar and prints a closing line.
    pub fn close(&self) {
        self.bar.finish_and_clear();
        let secs = self.bar.elapsed().as_secs();
        eprintln!(
            "{}: {} steps in {}",
            self.what,
            self.bar.position(),
            clock(Duration::from_secs(secs))
        );
    }
}

/// `m:ss`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}
