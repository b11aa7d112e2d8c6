//! The fault models: what the primary and the backup do at each moment of
//! a run, as a pure function of the virtual time and two uniform rolls.

use std::ops::Range;
use std::time::Duration;

/// How long every scenario lasts (arrivals are spread evenly over it).
pub(crate) const RUN: Duration = Duration::from_secs(100);

/// A named fault schedule for the primary (the backup is the same in all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// Connection refused from 20 s to 60 s, healthy again after.
    Outage,
    /// 30 % of calls answer 503, all run long.
    Degraded,
    /// From 30 s to 60 s, 70 % of calls answer 429 with `retry-after: 2`.
    Storm,
    /// From 20 s to 60 s, 10 % of calls take 10 s (then succeed).
    Spikes,
    /// From 20 s on, every call answers 429 `insufficient_quota`, for good.
    Quota,
    /// Latency grows from 20 s to 50 s by up to 8 s, then refused for good.
    SlowThenDead,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 6] = [
        Scenario::Outage,
        Scenario::Degraded,
        Scenario::Storm,
        Scenario::Spikes,
        Scenario::Quota,
        Scenario::SlowThenDead,
    ];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Outage => "outage",
            Scenario::Degraded => "degraded",
            Scenario::Storm => "storm",
            Scenario::Spikes => "spikes",
            Scenario::Quota => "quota",
            Scenario::SlowThenDead => "slow_then_dead",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Scenario::Outage => "primary refuses connections from 20 s to 60 s",
            Scenario::Degraded => "30 % of the primary's calls answer 503, all run long",
            Scenario::Storm => {
                "from 30 s to 60 s, 70 % of the primary's calls answer 429 with `retry-after: 2`"
            }
            Scenario::Spikes => "from 20 s to 60 s, 10 % of the primary's calls take 10 s",
            Scenario::Quota => "from 20 s on, the primary answers 429 `insufficient_quota`",
            Scenario::SlowThenDead => {
                "the primary slows down by up to 8 s from 20 s to 50 s, then refuses connections"
            }
        }
    }

    /// When the primary is down (counted as "attempts while down"), if ever.
    pub(crate) fn down(self) -> Option<Range<Duration>> {
        let s = Duration::from_secs;
        match self {
            Scenario::Outage => Some(s(20)..s(60)),
            Scenario::Quota => Some(s(20)..RUN * 10),
            Scenario::SlowThenDead => Some(s(50)..RUN * 10),
            Scenario::Degraded | Scenario::Storm | Scenario::Spikes => None,
        }
    }

    /// When the primary comes back, if it does within the run.
    pub(crate) fn recovery(self) -> Option<Duration> {
        match self {
            Scenario::Outage => Some(Duration::from_secs(60)),
            _ => None,
        }
    }

    /// What the primary does with a call that starts at `at`.
    pub(crate) fn primary(self, at: Duration, roll: f64, spread: f64) -> Fault {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let normal = ms(600) + ms(800).mul_f64(spread);
        let within = |from: u64, to: u64| (s(from)..s(to)).contains(&at);
        match self {
            Scenario::Outage if within(20, 60) => Fault::Refused(ms(10)),
            Scenario::Degraded if roll < 0.3 => Fault::Status(503, ms(200)),
            Scenario::Storm if within(30, 60) && roll < 0.7 => Fault::RateLimited(ms(50)),
            Scenario::Spikes if within(20, 60) && roll < 0.1 => Fault::Answer(s(10)),
            Scenario::Quota if at >= s(20) => Fault::Quota(ms(50)),
            Scenario::SlowThenDead if at >= s(50) => Fault::Refused(ms(10)),
            Scenario::SlowThenDead if at >= s(20) => {
                let progress = (at - s(20)).as_secs_f64() / 30.0;
                Fault::Answer(normal + s(8).mul_f64(progress))
            }
            _ => Fault::Answer(normal),
        }
    }

    /// What the backup (another provider, slower) does: 2 % 503s.
    pub(crate) fn backup(self, roll: f64, spread: f64) -> Fault {
        let ms = Duration::from_millis;
        if roll < 0.02 {
            return Fault::Status(503, ms(300));
        }
        Fault::Answer(ms(1000) + ms(1000).mul_f64(spread))
    }
}

/// What one call meets, with how long it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A 200 after this long.
    Answer(Duration),
    /// A bare status (with an OpenAI-shaped error body) after this long.
    Status(u16, Duration),
    /// A 429 `rate_limit_exceeded` with `retry-after: 2`.
    RateLimited(Duration),
    /// A 429 `insufficient_quota`: not worth retrying.
    Quota(Duration),
    /// A transport error (connection refused) after this long.
    Refused(Duration),
}

/// splitmix64 over the inputs: a uniform `u64` that depends only on them.
pub(crate) fn mix(parts: &[u64]) -> u64 {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for part in parts {
        x ^= part.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
    }
    x
}

/// [`mix`] as a float in `[0, 1)`.
pub(crate) fn unit(parts: &[u64]) -> f64 {
    (mix(parts) >> 11) as f64 / (1u64 << 53) as f64
}
