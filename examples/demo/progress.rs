//! A progress bar on stderr: redrawn in place on a terminal, a line every
//! 10 % otherwise (logs, CI).

use std::io::{IsTerminal, Write};

const WIDTH: u64 = 30;

/// Progress of one run.
#[derive(Debug)]
pub(crate) struct Progress {
    label: &'static str,
    total: u64,
    terminal: bool,
    /// The last step drawn: a percent on a terminal, a tenth otherwise.
    drawn: Option<u64>,
}

impl Progress {
    pub(crate) fn new(label: &'static str, total: u64) -> Self {
        let mut progress = Progress {
            label,
            total: total.max(1),
            terminal: std::io::stderr().is_terminal(),
            drawn: None,
        };
        progress.update(0, 0);
        progress
    }

    /// Shows `done` requests finished, `failed` of them failed.
    pub(crate) fn update(&mut self, done: u64, failed: u64) {
        let percent = done.min(self.total) * 100 / self.total;
        let step = if self.terminal { percent } else { percent / 10 };
        if self.drawn == Some(step) {
            return;
        }
        self.drawn = Some(step);
        let filled = (WIDTH * percent / 100) as usize;
        let bar = format!(
            "{}{}",
            "#".repeat(filled),
            ".".repeat(WIDTH as usize - filled)
        );
        let line = format!(
            "{:<15} [{bar}] {percent:>3}% {done}/{} ({failed} failed)",
            self.label, self.total
        );
        let mut stderr = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(stderr, "\r{line}\x1b[K")
        } else {
            writeln!(stderr, "{line}")
        };
        let _ = stderr.flush();
    }

    /// Ends the bar's line.
    pub(crate) fn finish(self) {
        if self.terminal {
            eprintln!();
        }
    }
}
