//! One run's measures and the per-scenario Markdown table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::strategies::Strategy;

/// One logical request's fate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// From its arrival to its answer (or failure, or the 30 s deadline).
    pub(crate) latency: Duration,
    /// `Some(true)` served by the backup, `Some(false)` by the primary,
    /// `None` failed.
    pub(crate) backup: Option<bool>,
}

/// What one strategy did in one scenario.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) strategy: Strategy,
    pub(crate) samples: Vec<Sample>,
    /// Upstream attempts: primary, backup.
    pub(crate) attempts: [u64; 2],
    /// Attempts the primary received while down, if it goes down.
    pub(crate) while_down: Option<u64>,
    /// Of those, retries (a request's second or later attempt there).
    pub(crate) retries_while_down: Option<u64>,
    /// From the primary's recovery to the start of its first success.
    pub(crate) recovery: Option<Option<Duration>>,
}

impl Run {
    pub(crate) fn success(&self) -> f64 {
        let ok = self.samples.iter().filter(|s| s.backup.is_some()).count();
        100.0 * ok as f64 / self.samples.len().max(1) as f64
    }

    pub(crate) fn amplification(&self) -> f64 {
        (self.attempts[0] + self.attempts[1]) as f64 / self.samples.len().max(1) as f64
    }

    fn backup_share(&self) -> f64 {
        let backup = self
            .samples
            .iter()
            .filter(|s| s.backup == Some(true))
            .count();
        100.0 * backup as f64 / self.samples.len().max(1) as f64
    }

    fn percentile(&self, p: f64) -> String {
        let mut sorted: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        sorted.sort_unstable();
        let Some(last) = sorted.len().checked_sub(1) else {
            return "–".to_owned();
        };
        let value = sorted[(last as f64 * p).round() as usize];
        format!("{:.2} s", value.as_secs_f64())
    }
}

/// A Markdown table: one row per strategy.
pub(crate) fn table(runs: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| strategy | success | p50 | p99 | attempts / request | to primary while down (retries) | recovery detected after | served by backup |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for run in runs {
        let down = match (run.while_down, run.retries_while_down) {
            (Some(all), Some(retries)) => format!("{all} ({retries})"),
            _ => "–".to_owned(),
        };
        let recovery = match run.recovery {
            None => "–".to_owned(),
            Some(None) => "never".to_owned(),
            Some(Some(after)) => format!("{:.2} s", after.as_secs_f64()),
        };
        let backup = if run.strategy.falls_back() {
            format!("{:.1} %", run.backup_share())
        } else {
            "– (no fallback)".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} % | {} | {} | {:.2} | {down} | {recovery} | {backup} |",
            run.strategy.label(),
            run.success(),
            run.percentile(0.50),
            run.percentile(0.99),
            run.amplification(),
        );
    }
    out
}
