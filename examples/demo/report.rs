//! The side-by-side table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::drive::Samples;

/// Everything one run measured.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) label: &'static str,
    pub(crate) samples: Samples,
    /// Chat requests each provider received (every attempt), tier order.
    pub(crate) attempts: Vec<u64>,
    /// Requests the primary received while it was down.
    pub(crate) while_down: u64,
    /// Breaker openings per tier, for the stack.
    pub(crate) openings: Option<[u64; 3]>,
}

impl Run {
    fn requests(&self) -> usize {
        self.samples.samples.len().max(1)
    }

    fn success(&self) -> f64 {
        let ok = self
            .samples
            .samples
            .iter()
            .filter(|s| s.served_by.is_some())
            .count();
        100.0 * ok as f64 / self.requests() as f64
    }

    fn percentile(&self, sorted: &[Duration], p: f64) -> String {
        let Some(last) = sorted.len().checked_sub(1) else {
            return "–".to_owned();
        };
        let value = sorted[(last as f64 * p).round() as usize];
        format!("{} ms", value.as_millis())
    }

    fn served_by(&self, provider: usize) -> u64 {
        let count = self
            .samples
            .samples
            .iter()
            .filter(|s| s.served_by == Some(provider));
        count.count() as u64
    }
}

/// A Markdown table: one row per measure, one column per run.
pub(crate) fn table(runs: &[Run], providers: &[String]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, cell: &dyn Fn(&Run) -> String| {
        rows.push((name.to_owned(), runs.iter().map(cell).collect()));
    };
    row("success", &|run| format!("{:.1} %", run.success()));
    for (name, p) in [
        ("p50 latency", 0.50),
        ("p95 latency", 0.95),
        ("p99 latency", 0.99),
    ] {
        row(name, &|run| {
            let mut sorted: Vec<Duration> = run.samples.samples.iter().map(|s| s.latency).collect();
            sorted.sort_unstable();
            run.percentile(&sorted, p)
        });
    }
    row("upstream attempts / request", &|run| {
        format!(
            "{:.2}",
            run.attempts.iter().sum::<u64>() as f64 / run.requests() as f64
        )
    });
    for (index, provider) in providers.iter().enumerate() {
        let tier = if index == 0 { "primary" } else { "fallback" };
        row(&format!("served by {provider} ({tier})"), &|run| {
            run.served_by(index).to_string()
        });
    }
    row("breaker openings", &|run| match run.openings {
        Some(openings) => openings.map(|o| o.to_string()).join(" / "),
        None => "–".to_owned(),
    });
    row(
        &format!("requests to {} while down", providers[0]),
        &|run| run.while_down.to_string(),
    );
    row("wall time", &|run| {
        format!("{:.1} s", run.samples.wall.as_secs_f64())
    });

    let mut out = String::new();
    let header: Vec<&str> = runs.iter().map(|run| run.label).collect();
    let _ = writeln!(out, "| | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(runs.len()));
    for (name, cells) in rows {
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }
    out
}
