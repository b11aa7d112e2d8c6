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

    /// The latencies of the successful requests, sorted.
    fn success_latencies(&self) -> Vec<Duration> {
        let mut sorted: Vec<Duration> = (self.samples.samples.iter())
            .filter(|s| s.served_by.is_some())
            .map(|s| s.latency)
            .collect();
        sorted.sort_unstable();
        sorted
    }

    /// Share of all requests, failures included, that took over a second.
    fn over_a_second(&self) -> f64 {
        let slow = (self.samples.samples.iter())
            .filter(|s| s.latency > Duration::from_secs(1))
            .count();
        100.0 * slow as f64 / self.requests() as f64
    }

    fn shed(&self) -> usize {
        self.samples.samples.iter().filter(|s| s.shed).count()
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

/// The `p` quantile (nearest rank) of `sorted`, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> String {
    let Some(last) = sorted.len().checked_sub(1) else {
        return "–".to_owned();
    };
    let value = sorted[(last as f64 * p).round() as usize];
    format!("{} ms", value.as_millis())
}

/// A Markdown table: one row per measure, one column per run.
pub(crate) fn table(runs: &[Run], providers: &[String]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, cell: &dyn Fn(&Run) -> String| {
        rows.push((name.to_owned(), runs.iter().map(cell).collect()));
    };
    row("success", &|run| format!("{:.1} %", run.success()));
    row("shed at the in-flight cap", &|run| run.shed().to_string());
    for (name, p) in [
        ("p50 latency (successes)", 0.50),
        ("p95 latency (successes)", 0.95),
        ("p99 latency (successes)", 0.99),
    ] {
        row(name, &|run| percentile(&run.success_latencies(), p));
    }
    row("over 1 s (all requests)", &|run| {
        format!("{:.1} %", run.over_a_second())
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::Sample;

    fn sample(millis: u64, served_by: Option<usize>) -> Sample {
        Sample {
            latency: Duration::from_millis(millis),
            served_by,
            shed: false,
        }
    }

    fn cells<'t>(table: &'t str, row: &str) -> Vec<&'t str> {
        let line = table
            .lines()
            .find(|line| line.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("no row {row:?} in\n{table}"));
        line.trim_matches('|')
            .split('|')
            .skip(1)
            .map(str::trim)
            .collect()
    }

    #[test]
    fn latency_percentiles_count_successes_only_and_slow_failures_show() {
        // Fast failures (closed connections) must not pull the latency of
        // the successes down; a slow failure shows in the share over 1 s.
        let mut samples = vec![sample(1, None); 6];
        samples.extend([
            sample(100, Some(0)),
            sample(120, Some(0)),
            sample(140, Some(0)),
        ]);
        samples.push(sample(1500, None));
        samples.push(Sample {
            latency: Duration::ZERO,
            served_by: None,
            shed: true,
        });
        let run = Run {
            label: "bare",
            samples: Samples {
                samples,
                wall: Duration::from_secs(1),
            },
            attempts: vec![10, 0, 0],
            while_down: 0,
            openings: None,
        };
        let providers = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let table = table(&[run], &providers);
        assert_eq!(cells(&table, "p50 latency (successes)"), ["120 ms"]);
        assert_eq!(cells(&table, "p99 latency (successes)"), ["140 ms"]);
        assert_eq!(cells(&table, "over 1 s (all requests)"), ["9.1 %"]);
        assert_eq!(cells(&table, "success"), ["27.3 %"]);
        assert_eq!(cells(&table, "shed at the in-flight cap"), ["1"]);
    }
}
