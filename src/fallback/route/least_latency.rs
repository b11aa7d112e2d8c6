use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{Observed, Order, Route, Tiers};
use crate::InvalidConfig;
use crate::fallback::MAX_TIERS;

/// The default of [`LeastLatencyBuilder::half_life`].
const HALF_LIFE: Duration = Duration::from_secs(10);
/// The default of [`LeastLatencyBuilder::failure_penalty`].
const PENALTY: Duration = Duration::from_secs(10);

/// Tries the tier that has been fastest lately first, then the others from
/// faster to slower (ties keep the configured order).
///
/// The layer times every tier it enters, readiness included, and this
/// policy keeps one estimate per tier, a peak-sensitive moving average in
/// the manner of Finagle's and tower's peak EWMA:
///
/// - a sample slower than the estimate replaces it at once (a tier that
///   turns slow sinks on its first slow answer);
/// - a faster sample moves the estimate halfway toward it;
/// - between samples the estimate decays toward zero with the
///   [half-life](LeastLatencyBuilder::half_life), so a tier passed over
///   because it was slow is tried first again once its estimate falls below
///   the others' — a tier that recovered moves back to the front, one that
///   did not sinks again on that one call;
/// - a failure that counts against the tier (see
///   [`Observed::Failed`](super::Observed::Failed)) is a sample of the
///   [failure penalty](LeastLatencyBuilder::failure_penalty) (or its
///   latency, if longer), so a failing tier sinks.
///
/// A tier with no sample yet has an estimate of zero: it is tried first to
/// get one (several such keep their configured order, so a new layer starts
/// in the configured order). Estimates are best effort: two samples landing
/// at the same moment on different threads may lose one.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::fallback::{FallbackLayer, LeastLatency, Tier};
///
/// let backup = tower::service_fn(|_: u32| async { Ok::<_, std::io::Error>(2u32) });
/// let layer = FallbackLayer::builder("primary")
///     .tier(Tier::new("backup", backup))
///     .route(LeastLatency::builder().half_life(Duration::from_secs(30)).build()?)
///     .build()?;
/// # let _ = layer;
///
/// let error = LeastLatency::builder().half_life(Duration::ZERO).build().unwrap_err();
/// assert_eq!(error.field(), "half_life");
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Debug)]
pub struct LeastLatency {
    half_life_ns: f64,
    penalty: Duration,
    epoch: Instant,
    estimates: [Estimate; MAX_TIERS],
}

/// One tier's estimate: nanoseconds (an `f64`'s bits), and when it was
/// last updated (nanoseconds since the policy's epoch).
#[derive(Debug, Default)]
struct Estimate {
    ns: AtomicU64,
    at: AtomicU64,
}

impl LeastLatency {
    /// A builder with a half-life of 10 s and a failure penalty of 10 s.
    pub fn builder() -> LeastLatencyBuilder {
        LeastLatencyBuilder {
            half_life: HALF_LIFE,
            penalty: PENALTY,
        }
    }

    /// The current estimate of the tier at `position`, decayed to now;
    /// `None` before its first sample.
    pub fn estimate(&self, position: usize) -> Option<Duration> {
        let estimate = self.estimates.get(position)?;
        if estimate.at.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let ns = self.decayed(estimate, self.now());
        Some(Duration::from_nanos(ns as u64))
    }

    /// Nanoseconds since the epoch, at least 1 (0 means "no sample").
    fn now(&self) -> u64 {
        let ns = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_nanos();
        u64::try_from(ns).unwrap_or(u64::MAX).max(1)
    }

    fn decayed(&self, estimate: &Estimate, now: u64) -> f64 {
        let ns = f64::from_bits(estimate.ns.load(Ordering::Relaxed));
        let at = estimate.at.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(at) as f64;
        ns * (-elapsed / self.half_life_ns).exp2()
    }

    fn record(&self, position: usize, sample: Duration) {
        let Some(estimate) = self.estimates.get(position) else {
            return;
        };
        let now = self.now();
        let sample = sample.as_nanos() as f64;
        let current = self.decayed(estimate, now);
        let next = if sample >= current {
            sample
        } else {
            (current + sample) / 2.0
        };
        estimate.ns.store(next.to_bits(), Ordering::Relaxed);
        estimate.at.store(now, Ordering::Relaxed);
    }
}

impl Default for LeastLatency {
    fn default() -> Self {
        Self::builder().build().expect("the defaults are valid")
    }
}

impl<Req> Route<Req> for LeastLatency {
    fn order(&self, _: &Req, tiers: &Tiers<'_, Req>, order: &mut Order) {
        let now = self.now();
        let mut keys = [0.0f64; MAX_TIERS];
        for (position, key) in keys.iter_mut().enumerate().take(tiers.len()) {
            *key = self.decayed(&self.estimates[position], now);
        }
        order.sort_by(|a, b| keys[a].total_cmp(&keys[b]));
    }

    fn observes(&self) -> bool {
        true
    }

    fn observe(&self, position: usize, observed: Observed) {
        match observed {
            Observed::Served { latency } => self.record(position, latency),
            Observed::Failed { latency } => self.record(position, latency.max(self.penalty)),
        }
    }
}

/// Builds a [`LeastLatency`] policy.
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until built"]
pub struct LeastLatencyBuilder {
    half_life: Duration,
    penalty: Duration,
}

impl LeastLatencyBuilder {
    /// How fast an estimate decays toward zero between samples: it halves
    /// every `half_life`. Shorter retries slow tiers sooner. Must not be
    /// zero; 10 s by default.
    pub fn half_life(mut self, half_life: Duration) -> Self {
        self.half_life = half_life;
        self
    }

    /// The latency a failure counts as (its own latency if longer); 10 s by
    /// default.
    pub fn failure_penalty(mut self, penalty: Duration) -> Self {
        self.penalty = penalty;
        self
    }

    /// Checks the settings and builds the policy. Its epoch is now.
    ///
    /// # Errors
    ///
    /// A zero half-life (field `half_life`).
    pub fn build(self) -> Result<LeastLatency, InvalidConfig> {
        if self.half_life.is_zero() {
            return Err(InvalidConfig::new(
                "fallback",
                "half_life",
                "must not be zero",
            ));
        }
        Ok(LeastLatency {
            half_life_ns: self.half_life.as_nanos() as f64,
            penalty: self.penalty,
            epoch: Instant::now(),
            estimates: Default::default(),
        })
    }
}
