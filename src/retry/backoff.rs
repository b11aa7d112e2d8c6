use std::time::Duration;

use crate::InvalidConfig;

/// How the random part of a backoff delay is drawn.
///
/// With `d = min(cap, base × 2^(retry − 1))` for exponential backoff (or
/// `d = base` for constant backoff), the delay before a retry is:
///
/// | jitter | delay |
/// |---|---|
/// | [`None`](Self::None) | `d` |
/// | [`Full`](Self::Full) | uniform in `[0, d]` |
/// | [`Equal`](Self::Equal) | `d / 2` + uniform in `[0, d / 2]` |
/// | [`Decorrelated`](Self::Decorrelated) | `min(cap, uniform in [base, 3 × previous])`, `previous` starting at `base` |
///
/// Full jitter spreads a herd of clients best and is the default, as in the
/// official LLM SDKs (see the AWS architecture blog's "Exponential Backoff
/// And Jitter" for the comparison).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// No randomness: every client retries in lockstep. Only for tests and
    /// single clients.
    None,
    /// Uniform between zero and the exponential delay.
    #[default]
    Full,
    /// Half the exponential delay, plus uniform over the other half.
    Equal,
    /// Each delay drawn from `[base, 3 × previous delay]`, capped.
    Decorrelated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Growth {
    Constant,
    Exponential,
}

/// The delay before each retry: constant or exponential, capped, jittered.
///
/// All arithmetic saturates: no attempt number, base or cap overflows or
/// panics.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::retry::{Backoff, Jitter};
///
/// let backoff = Backoff::exponential(Duration::from_millis(500), Duration::from_secs(8))
///     .with_jitter(Jitter::None);
/// let previous = Duration::ZERO; // only decorrelated jitter looks at it
/// assert_eq!(backoff.delay(1, previous, 0), Duration::from_millis(500));
/// assert_eq!(backoff.delay(2, previous, 0), Duration::from_secs(1));
/// assert_eq!(backoff.delay(9, previous, 0), Duration::from_secs(8)); // capped
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Backoff {
    growth: Growth,
    base: Duration,
    cap: Duration,
    jitter: Jitter,
}

impl Default for Backoff {
    /// Exponential from 0.5 s, capped at 8 s, full jitter: what the official
    /// OpenAI and Anthropic SDKs do.
    fn default() -> Self {
        Self::exponential(Duration::from_millis(500), Duration::from_secs(8))
    }
}

impl Backoff {
    /// The same delay before every retry, with full jitter unless
    /// [`with_jitter`](Self::with_jitter) says otherwise.
    pub const fn constant(delay: Duration) -> Self {
        Self {
            growth: Growth::Constant,
            base: delay,
            cap: delay,
            jitter: Jitter::Full,
        }
    }

    /// `base × 2^(retry − 1)`, never more than `cap`, with full jitter unless
    /// [`with_jitter`](Self::with_jitter) says otherwise. A `cap` below
    /// `base` is rejected when the policy is built.
    pub const fn exponential(base: Duration, cap: Duration) -> Self {
        Self {
            growth: Growth::Exponential,
            base,
            cap,
            jitter: Jitter::Full,
        }
    }

    /// No delay at all: retries go out at once. For tests and benchmarks.
    pub const fn none() -> Self {
        Self::constant(Duration::ZERO).with_jitter(Jitter::None)
    }

    /// The same backoff with another jitter.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The first delay, before jitter.
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// The largest delay.
    pub const fn cap(&self) -> Duration {
        self.cap
    }

    /// The jitter.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// Checks the backoff on its own, as the policy builder does: a cap
    /// below the base is an error naming `backoff`.
    pub(crate) fn validate(&self) -> Result<(), InvalidConfig> {
        if self.cap < self.base {
            return Err(InvalidConfig::new(
                "retry",
                "backoff",
                "cap must not be below base",
            ));
        }
        Ok(())
    }

    /// The delay before retry number `retry` (1 for the first retry, i.e.
    /// the second attempt), given the `previous` delay (used by decorrelated
    /// jitter only; pass [`Duration::ZERO`] before the first retry) and a
    /// uniformly random `random`. Pure: the same inputs give the same delay.
    pub fn delay(&self, retry: u32, previous: Duration, random: u64) -> Duration {
        let cap = nanos(self.cap);
        let base = nanos(self.base).min(cap);
        let ceiling = match self.growth {
            Growth::Constant => base,
            Growth::Exponential => {
                let shift = retry.saturating_sub(1).min(63);
                base.saturating_mul(1 << shift).min(cap)
            }
        };
        let delay = match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => uniform(random, 0, ceiling),
            Jitter::Equal => {
                let half = ceiling / 2;
                uniform(random, ceiling - half, ceiling)
            }
            Jitter::Decorrelated => {
                let previous = nanos(previous).max(base);
                uniform(random, base, previous.saturating_mul(3)).min(cap)
            }
        };
        Duration::from_nanos(delay)
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (about 584 years).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A value uniform in `[low, high]` (inclusive) from a uniform `random`,
/// without division and without bias worth caring about for jitter.
fn uniform(random: u64, low: u64, high: u64) -> u64 {
    if high <= low {
        return low;
    }
    let span = u128::from(high - low) + 1;
    let offset = (u128::from(random) * span) >> 64;
    // `offset < span`, so this never exceeds `high`.
    low + offset as u64
}
