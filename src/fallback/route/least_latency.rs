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
/// The layer times every tier it enters and this policy keeps one
/// estimate per tier, a peak-sensitive moving average in the manner of
/// Finagle's and tower's peak EWMA:
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
///   [`Observed::Failed`](super::Observed::Failed), which includes the
///   call's deadline passing while the tier was at work) is a sample of the
///   [failure penalty](LeastLatencyBuilder::failure_penalty) (or its
///   latency, if longer), so a failing or hanging tier sinks. A call the
///   caller drops is not a sample.
///
/// What a sample times: for a tier reached after another (a fallback, or
/// any tier a route put before the first one), from entering the tier,
/// before its `poll_ready`, to its result, so readiness is included; for
/// the primary when it is tried first, from the layer's `call`, after the
/// caller's `poll_ready`, to its result, so a wait for the primary's
/// readiness is not included. Either way, a deadline that stops the tier
/// ends its sample.
///
/// A tier with no sample yet has an estimate of zero: it is tried first to
/// get one (several such keep their configured order, so a new layer starts
/// in the configured order).
///
/// Each estimate is one atomic word, updated with a compare-and-swap loop:
/// no lock, and no torn read or lost update. The word packs the estimate
/// (an `f32` of nanoseconds rounded to 16 significant bits, a relative
/// precision of about 0.003 %) and the time of its last sample
/// (milliseconds since the policy was built, for some 69 years, then
/// saturating). Decay therefore advances in millisecond steps: a half-life
/// of a few milliseconds or less decays in coarse steps.
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
    // The half-life in milliseconds, the unit of the timestamps.
    half_life_ms: f64,
    penalty: Duration,
    epoch: Instant,
    estimates: [AtomicU64; MAX_TIERS],
}

/// Bits of a packed estimate that hold the latency; the rest (the high
/// 41) hold the time of the last sample.
const LATENCY_BITS: u32 = 23;
const LATENCY_MASK: u64 = (1 << LATENCY_BITS) - 1;
/// The latest timestamp a word can hold (milliseconds, plus one).
const MAX_AT: u64 = (1 << (64 - LATENCY_BITS)) - 1;

/// Packs an estimate of `ns` nanoseconds sampled at `at` (milliseconds
/// since the epoch, plus one: a word of 0 means "no sample").
///
/// The latency is a positive `f32` (sign bit clear) rounded to its top 23
/// bits: 8 of exponent, 15 of mantissa.
fn pack(ns: f64, at: u64) -> u64 {
    let bits = (ns.max(0.0) as f32).to_bits();
    // Round to nearest; an `f32::MAX` would round into the infinities,
    // which is still the largest estimate there is.
    let latency = (u64::from(bits) + 0x80) >> 8;
    (at.min(MAX_AT) << LATENCY_BITS) | latency.min(LATENCY_MASK)
}

/// The estimate in nanoseconds and its timestamp.
fn unpack(word: u64) -> (f64, u64) {
    let bits = ((word & LATENCY_MASK) as u32) << 8;
    (f64::from(f32::from_bits(bits)), word >> LATENCY_BITS)
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
        let word = self.estimates.get(position)?.load(Ordering::Relaxed);
        if word == 0 {
            return None;
        }
        let ns = self.decayed(word, self.now());
        Some(Duration::from_nanos(ns as u64))
    }

    /// Milliseconds since the epoch, plus one (a stored 0 means "no
    /// sample"), saturating at what a word holds.
    fn now(&self) -> u64 {
        let ms = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_millis();
        u64::try_from(ms)
            .unwrap_or(MAX_AT)
            .saturating_add(1)
            .min(MAX_AT)
    }

    /// The estimate in `word`, in nanoseconds, decayed to `now`.
    fn decayed(&self, word: u64, now: u64) -> f64 {
        if word == 0 {
            return 0.0;
        }
        let (ns, at) = unpack(word);
        let elapsed = now.saturating_sub(at) as f64;
        ns * (-elapsed / self.half_life_ms).exp2()
    }

    fn record(&self, position: usize, sample: Duration) {
        let Some(estimate) = self.estimates.get(position) else {
            return;
        };
        let now = self.now();
        let sample = sample.as_nanos() as f64;
        let mut word = estimate.load(Ordering::Relaxed);
        loop {
            let current = self.decayed(word, now);
            let next = if sample >= current {
                sample
            } else {
                (current + sample) / 2.0
            };
            match estimate.compare_exchange_weak(
                word,
                pack(next, now),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
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
            *key = self.decayed(self.estimates[position].load(Ordering::Relaxed), now);
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

    /// The latency a failure counts as (its own latency if longer). Must
    /// not be zero (a failure would then count as a fast answer); 10 s by
    /// default.
    pub fn failure_penalty(mut self, penalty: Duration) -> Self {
        self.penalty = penalty;
        self
    }

    /// Checks the settings and builds the policy. Its epoch is now.
    ///
    /// # Errors
    ///
    /// A zero half-life (field `half_life`) or failure penalty (field
    /// `failure_penalty`).
    pub fn build(self) -> Result<LeastLatency, InvalidConfig> {
        if self.half_life.is_zero() {
            return Err(InvalidConfig::new(
                "fallback",
                "half_life",
                "must not be zero",
            ));
        }
        if self.penalty.is_zero() {
            return Err(InvalidConfig::new(
                "fallback",
                "failure_penalty",
                "must not be zero",
            ));
        }
        Ok(LeastLatency {
            half_life_ms: self.half_life.as_nanos() as f64 / 1e6,
            penalty: self.penalty,
            epoch: Instant::now(),
            estimates: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_estimate_keeps_its_value_and_time() {
        for ns in [0.0, 1.0, 999.0, 2e9, 1e10, 3.6e12, 1.8e19] {
            for at in [1, 1_000, MAX_AT] {
                let (back, when) = unpack(pack(ns, at));
                assert_eq!(when, at);
                assert!((back - ns).abs() <= ns * 2f64.powi(-15), "{ns} → {back}");
            }
        }
        assert_ne!(pack(0.0, 1), 0, "a sample of zero is still a sample");
        assert_eq!(unpack(pack(1.0, MAX_AT + 5)).1, MAX_AT, "saturates");
    }
}
