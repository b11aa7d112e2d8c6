//! The three providers and their fault schedules, on a clock that restarts
//! for each run. Windows are placed as fractions of the run, so a shorter
//! or longer run meets the same story.

use std::ops::Range;
use std::time::Duration;

use crate::fake_provider::{Fault, Flavour, ProviderConfig, When};
use crate::options::Options;

/// A named fault schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Preset {
    /// A realistic bad day at the primary: an outage, 429 bursts, 503s,
    /// latency spikes; the second provider overloaded now and then.
    Default,
    /// A good day: a few 503s.
    Calm,
    /// Only the primary's outage, longer.
    Outage,
    /// Everything worse, both big providers struggling at once.
    Storm,
}

impl Preset {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "default" => Preset::Default,
            "calm" => Preset::Calm,
            "outage" => Preset::Outage,
            "storm" => Preset::Storm,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Preset::Default => "default",
            Preset::Calm => "calm",
            Preset::Outage => "outage",
            Preset::Storm => "storm",
        }
    }
}

/// A provider of the demo: its config and the model the stack asks it for.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    pub(crate) config: ProviderConfig,
    pub(crate) model: &'static str,
}

/// The primary (OpenAI-like), the second provider (Anthropic-flavoured
/// errors) and the cheap baseline, with the schedule `options` asks for.
pub(crate) fn upstreams(options: &Options) -> [Upstream; 3] {
    let run = options.run_length();
    let at = |fraction: f64| run.mul_f64(fraction);
    let between = |from: f64, to: f64| When::Between(at(from), at(to));
    let outage = |from: f64, to: f64| -> Range<Duration> {
        options.outage.clone().unwrap_or(at(from)..at(to))
    };
    let ms = Duration::from_millis;
    let bursts = |every: f64, length: f64| When::Every {
        start: at(every / 2.0),
        period: at(every),
        length: at(length),
    };

    let primary = ProviderConfig::healthy("openai")
        .models(["gpt-4o"])
        .latency(ms(30))
        .seed(options.seed);
    let second = ProviderConfig::healthy("anthropic")
        .flavour(Flavour::Anthropic)
        .models(["claude-sonnet-4-5"])
        .latency(ms(45))
        .seed(options.seed ^ 0x5eed);
    let baseline = ProviderConfig::healthy("local")
        .models(["llama-3.1-8b"])
        .latency(ms(10))
        .seed(options.seed ^ 0xba5e);

    let with_outage = |config: ProviderConfig, window: Range<Duration>| {
        config.fault(When::Between(window.start, window.end), 1.0, Fault::Outage)
    };
    let (primary, second, baseline) = match options.schedule {
        Preset::Default => (
            with_outage(primary, outage(0.30, 0.55))
                .fault(
                    bursts(0.20, 0.04),
                    0.9,
                    Fault::RateLimited {
                        retry_after: ms(400),
                    },
                )
                .fault(When::Always, 0.05, Fault::ServerError)
                .fault(When::Always, 0.02, Fault::Slow(ms(2000))),
            second
                .fault(
                    between(0.60, 0.65),
                    0.5,
                    Fault::RateLimited {
                        retry_after: ms(1000),
                    },
                )
                .fault(When::Always, 0.04, Fault::Overloaded)
                .fault(When::Always, 0.01, Fault::InternalError)
                .fault(When::Always, 0.01, Fault::Slow(ms(2000))),
            baseline.fault(When::Always, 0.01, Fault::ServerError),
        ),
        Preset::Calm => (
            with_outage(primary, options.outage.clone().unwrap_or_default()).fault(
                When::Always,
                0.01,
                Fault::ServerError,
            ),
            second.fault(When::Always, 0.01, Fault::Overloaded),
            baseline,
        ),
        Preset::Outage => (with_outage(primary, outage(0.20, 0.80)), second, baseline),
        Preset::Storm => (
            with_outage(primary, outage(0.25, 0.60))
                .fault(
                    bursts(0.10, 0.04),
                    0.9,
                    Fault::RateLimited {
                        retry_after: ms(800),
                    },
                )
                .fault(When::Always, 0.15, Fault::ServerError)
                .fault(When::Always, 0.05, Fault::Slow(ms(2000))),
            second
                .fault(between(0.40, 0.50), 1.0, Fault::Overloaded)
                .fault(When::Always, 0.10, Fault::Overloaded)
                .fault(When::Always, 0.02, Fault::Slow(ms(2000))),
            baseline.fault(When::Always, 0.03, Fault::ServerError),
        ),
    };
    [
        Upstream {
            config: primary,
            model: "gpt-4o",
        },
        Upstream {
            config: second,
            model: "claude-sonnet-4-5",
        },
        Upstream {
            config: baseline,
            model: "llama-3.1-8b",
        },
    ]
}

/// One line per provider saying what its schedule holds.
pub(crate) fn describe(options: &Options) -> String {
    let run = options.run_length().as_secs_f64();
    let window = |from: f64, to: f64| match &options.outage {
        Some(w) => format!("{:.1}–{:.1} s", w.start.as_secs_f64(), w.end.as_secs_f64()),
        None => format!("{:.1}–{:.1} s", from * run, to * run),
    };
    match options.schedule {
        Preset::Default => format!(
            "  openai     (gpt-4o): outage {}, 429 bursts (retry-after 400 ms) every {:.1} s, 5% 503, 2% 2 s stalls\n  \
             anthropic  (claude-sonnet-4-5): 4% 529 overloaded, 1% 500, 1% 2 s stalls, 429s (retry-after 1 s) at {:.1}–{:.1} s\n  \
             local      (llama-3.1-8b): 1% 503",
            window(0.30, 0.55),
            0.20 * run,
            0.60 * run,
            0.65 * run
        ),
        Preset::Calm => "  openai: 1% 503; anthropic: 1% 529; local: healthy".to_owned(),
        Preset::Outage => format!(
            "  openai: outage {}; anthropic, local: healthy",
            window(0.20, 0.80)
        ),
        Preset::Storm => format!(
            "  openai: outage {}, 429 bursts (retry-after 800 ms) every {:.1} s, 15% 503, 5% 2 s stalls\n  \
             anthropic: overloaded (529) {:.1}–{:.1} s and 10% otherwise, 2% stalls\n  local: 3% 503",
            window(0.25, 0.60),
            0.10 * run,
            0.40 * run,
            0.50 * run
        ),
    }
}
