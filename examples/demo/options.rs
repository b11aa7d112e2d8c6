//! The command line.

use std::ops::Range;
use std::time::Duration;

use crate::schedule::Preset;

pub(crate) const USAGE: &str = "\
usage: cargo run --example demo -- [options]

  --requests N          chat requests per run (default 2000)
  --rate R              arrival rate, requests per second (default 250)
  --in-flight N         cap on requests in flight per run (default 256)
  --seed N              seed of the providers' fault rolls (default 7)
  --schedule NAME       default | calm | outage | storm
  --outage START..END   move the primary's outage, in seconds from the
                        start of each run (e.g. 4..9; 0..0 for none)
  --help                this text";

/// What the demo was asked to do.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) requests: u64,
    pub(crate) rate: f64,
    pub(crate) in_flight: usize,
    pub(crate) seed: u64,
    pub(crate) schedule: Preset,
    pub(crate) outage: Option<Range<Duration>>,
}

impl Options {
    /// How long a run's arrivals last.
    pub(crate) fn run_length(&self) -> Duration {
        Duration::from_secs_f64(self.requests as f64 / self.rate)
    }
}

/// Parses the arguments; `Err` holds what to print (the usage for `--help`).
pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        requests: 2000,
        rate: 250.0,
        in_flight: 256,
        seed: 7,
        schedule: Preset::Default,
        outage: None,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value; try --help"))?;
        let bad = |what: &str| format!("{flag} takes {what}, not {value:?}");
        match flag.as_str() {
            "--requests" => {
                options.requests = value.parse().map_err(|_| bad("a whole number"))?;
                if !(1..=1_000_000).contains(&options.requests) {
                    return Err(bad("a number from 1 to 1000000"));
                }
            }
            "--rate" => {
                options.rate = value.parse().map_err(|_| bad("a number"))?;
                if !(1.0..=5000.0).contains(&options.rate) {
                    return Err(bad("a rate from 1 to 5000 requests per second"));
                }
            }
            "--in-flight" => {
                options.in_flight = value.parse().map_err(|_| bad("a whole number"))?;
                if !(1..=4096).contains(&options.in_flight) {
                    return Err(bad("a number from 1 to 4096"));
                }
            }
            "--seed" => options.seed = value.parse().map_err(|_| bad("a whole number"))?,
            "--schedule" => {
                options.schedule = Preset::from_name(&value)
                    .ok_or_else(|| bad("default, calm, outage or storm"))?;
            }
            "--outage" => {
                options.outage =
                    Some(seconds_range(&value).ok_or_else(|| bad("START..END in seconds"))?)
            }
            _ => return Err(format!("unknown flag {flag}; try --help")),
        }
    }
    Ok(options)
}

fn seconds_range(text: &str) -> Option<Range<Duration>> {
    let (start, end) = text.split_once("..")?;
    let seconds = |s: &str| {
        let s: f64 = s.trim().parse().ok()?;
        (0.0..=3600.0)
            .contains(&s)
            .then(|| Duration::from_secs_f64(s))
    };
    let (start, end) = (seconds(start)?, seconds(end)?);
    (start <= end).then_some(start..end)
}
