//! A progress bar on stderr: redrawn in place on a terminal, one line per
//! step otherwise (logs stay readable).

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    total: usize,
    done: usize,
    start: Instant,
    tty: bool,
    what: String,
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

impl Progress {
    /// A bar for `total` steps of `what`.
    pub fn new(what: &str, total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            start: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            what: what.to_string(),
        }
    }

    /// Shows that step `label` starts.
    pub fn start(&mut self, label: &str) {
        if self.tty {
            self.draw(label);
        }
    }

    /// Marks a step done, with a note on how it went.
    pub fn finish(&mut self, label: &str, note: &str) {
        self.done += 1;
        if self.tty {
            self.draw(label);
        } else {
            eprintln!(
                "{} [{}/{}] {label}: {note}",
                self.what, self.done, self.total
            );
        }
    }

    fn draw(&self, label: &str) {
        const WIDTH: usize = 30;
        let filled = WIDTH * self.done / self.total.max(1);
        let elapsed = self.start.elapsed().as_secs_f64();
        let eta = if self.done > 0 {
            clock(elapsed / self.done as f64 * (self.total - self.done) as f64)
        } else {
            "?".to_string()
        };
        let mut label = label.to_string();
        label.truncate(40);
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r\x1b[2K{} [{}{}] {}/{} {label:<40} {} elapsed, eta {eta}",
            self.what,
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            self.done,
            self.total,
            clock(elapsed),
        );
        let _ = e.flush();
    }

    /// Clears the bar (on a terminal) and prints a closing line.
    pub fn close(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!(
            "{}: {} steps in {}",
            self.what,
            self.done,
            clock(self.start.elapsed().as_secs_f64())
        );
    }
}
