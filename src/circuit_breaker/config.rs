use std::borrow::Cow;
use std::fmt;

use crate::InvalidConfig;
use std::sync::Arc;
use std::time::Duration;

use super::handle::Transition;
use crate::name::Name;

/// The largest count-based window, in calls.
pub(super) const MAX_WINDOW_CALLS: u32 = 100_000;
/// The largest number of buckets of a time-based window.
pub(super) const MAX_BUCKETS: u32 = 1_000;
/// The largest number of half-open probes.
pub(super) const MAX_HALF_OPEN_PERMITS: u32 = 4_095;

/// The default open duration of a first opening.
pub(super) const DEFAULT_OPEN_BASE: Duration = Duration::from_secs(5);
/// The default longest open duration.
pub(super) const DEFAULT_OPEN_MAX: Duration = Duration::from_secs(300);

pub(super) type Hook = Arc<dyn Fn(&Transition) + Send + Sync>;

/// Which recent calls the breaker looks at to decide whether to open.
///
/// - [`Window::count`]: the last `n` calls, whenever they happened. Recording
///   is one slot swap in a ring of atomics; no clock read.
/// - [`Window::time`]: the calls of the last `span`, in `buckets` buckets of
///   `span / buckets` each (the window slides by one bucket at a time).
///   Recording reads the clock and updates one bucket with one
///   compare-and-swap. Each bucket counts up to 16,383 calls; beyond that,
///   the bucket keeps the proportions of its first 16,383 calls.
///
/// Both record in O(1). The window is summed only after a failed or slow
/// call: one load for a count window, one per bucket for a time window.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::circuit_breaker::{BreakerConfig, Window};
///
/// let by_count = BreakerConfig::builder().window(Window::count(50)).build();
/// assert!(by_count.is_ok());
/// let by_time = BreakerConfig::builder()
///     .window(Window::time(Duration::from_secs(60), 12))
///     .build();
/// assert!(by_time.is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub(super) kind: WindowKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WindowKind {
    Count(u32),
    Time { span: Duration, buckets: u32 },
}

impl Window {
    /// The last `calls` calls (at most 100,000).
    pub const fn count(calls: u32) -> Self {
        Self {
            kind: WindowKind::Count(calls),
        }
    }

    /// The calls of the last `span`, in `buckets` buckets (at most 1,000,
    /// each at least a millisecond wide).
    pub const fn time(span: Duration, buckets: u32) -> Self {
        Self {
            kind: WindowKind::Time { span, buckets },
        }
    }

    /// Checks the window on its own (its size against `minimum_calls` is
    /// the builder's check).
    pub(crate) fn validate(&self) -> Result<(), InvalidConfig> {
        match self.kind {
            WindowKind::Count(calls) => {
                if calls == 0 || calls > MAX_WINDOW_CALLS {
                    return Err(InvalidConfig::new(
                        "circuit breaker",
                        "window",
                        "a count window holds between 1 and 100000 calls",
                    ));
                }
            }
            WindowKind::Time { span, buckets } => {
                if buckets == 0 || buckets > MAX_BUCKETS {
                    return Err(InvalidConfig::new(
                        "circuit breaker",
                        "window",
                        "a time window has between 1 and 1000 buckets",
                    ));
                }
                if span.as_millis() < u128::from(buckets) {
                    return Err(InvalidConfig::new(
                        "circuit breaker",
                        "window",
                        "each bucket of a time window must be at least a millisecond wide",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How long the breaker stays open: a duration that grows with each
/// consecutive opening (without a successful close in between), capped,
/// with optional jitter so that many breakers do not probe in lockstep.
///
/// The `n`th consecutive opening lasts `min(base × multiplier^(n-1), max)`,
/// then jitter takes a uniformly random fraction of up to `jitter` off it:
/// the result lies in `[d × (1 − jitter), d]`. A server hint
/// (`retry-after`) can only make it longer (see
/// [`BreakerConfigBuilder::retry_after_cap`]).
///
/// ```
/// use std::time::Duration;
/// use tower_failover::circuit_breaker::OpenBackoff;
///
/// let backoff = OpenBackoff::exponential(Duration::from_secs(5), Duration::from_secs(300))
///     .multiplier(2.0)
///     .jitter(0.0);
/// assert_eq!(backoff.duration(1), Duration::from_secs(5));
/// assert_eq!(backoff.duration(3), Duration::from_secs(20));
/// assert_eq!(backoff.duration(30), Duration::from_secs(300));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenBackoff {
    base: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
}

impl OpenBackoff {
    /// Always open for `duration`, without jitter.
    pub const fn constant(duration: Duration) -> Self {
        Self {
            base: duration,
            max: duration,
            multiplier: 1.0,
            jitter: 0.0,
        }
    }

    /// Open for `base`, doubling with each consecutive opening up to `max`,
    /// with 20% jitter.
    pub const fn exponential(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            multiplier: 2.0,
            jitter: 0.2,
        }
    }

    /// The growth factor between consecutive openings (at least 1).
    #[must_use]
    pub const fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The largest fraction (0 to 1) of each duration taken off at random.
    #[must_use]
    pub const fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The duration of the `n`th consecutive opening (1-based) before
    /// jitter. Saturates at `max`; never panics.
    pub fn duration(&self, n: u32) -> Duration {
        let exponent = n.saturating_sub(1).min(1_000) as i32;
        let secs = self.base.as_secs_f64() * self.multiplier.powi(exponent);
        if secs.is_nan() || secs <= self.base.as_secs_f64() {
            return self.base.min(self.max);
        }
        if secs >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(secs)
    }

    pub(super) fn jitter_enabled(&self) -> bool {
        self.jitter > 0.0
    }

    /// The jittered duration, given a uniform random `unit` in `[0, 1)`.
    pub(super) fn jittered(&self, n: u32, unit: f64) -> Duration {
        let duration = self.duration(n);
        let factor = 1.0 - self.jitter * unit;
        if !(factor > 0.0 && factor < 1.0) {
            return duration;
        }
        duration.mul_f64(factor)
    }

    /// Checks the backoff on its own, as the builder does.
    pub(crate) fn validate(&self) -> Result<(), InvalidConfig> {
        if self.base.is_zero() {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "open_backoff",
                "the open duration must be positive",
            ));
        }
        if self.max < self.base {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "open_backoff",
                "the maximum open duration is shorter than the base",
            ));
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "open_backoff",
                "the open backoff multiplier must be a finite number of at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "open_backoff",
                "the open backoff jitter must be between 0 and 1",
            ));
        }
        if self.jitter >= 1.0 {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "open_backoff",
                "a jitter of 1 could make the open duration zero",
            ));
        }
        Ok(())
    }
}

/// The settings of a circuit breaker, validated: build one with
/// [`BreakerConfig::builder`].
///
/// Cheap to clone (the transition hook is shared).
///
/// ```
/// use std::time::Duration;
/// use tower_failover::circuit_breaker::{BreakerConfig, OpenBackoff, Window};
///
/// let config = BreakerConfig::builder()
///     .name("anthropic")
///     .window(Window::count(50))
///     .minimum_calls(10)
///     .failure_rate_threshold(0.5)
///     .slow_calls(Duration::from_secs(30), 0.8)
///     .consecutive_failures(5)
///     .open_backoff(OpenBackoff::exponential(Duration::from_secs(5), Duration::from_secs(300)))
///     .half_open_permits(3)
///     .max_half_open_duration(Duration::from_secs(120))
///     .build()?;
/// assert_eq!(config.name(), "anthropic");
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Clone)]
pub struct BreakerConfig {
    pub(super) name: Name,
    pub(super) window: WindowKind,
    pub(super) minimum_calls: u32,
    pub(super) failure_rate_threshold: f64,
    pub(super) slow_call: Option<(Duration, f64)>,
    pub(super) consecutive_failures: Option<u32>,
    pub(super) open_backoff: OpenBackoff,
    pub(super) half_open_permits: u32,
    pub(super) max_half_open_duration: Option<Duration>,
    pub(super) retry_after_cap: Option<Duration>,
    pub(super) on_transition: Option<Hook>,
}

impl BreakerConfig {
    /// A builder starting from the [defaults](BreakerConfigBuilder).
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder::default()
    }

    /// The breaker's name, as carried by [`CircuitOpen`](super::CircuitOpen)
    /// and events.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    pub(super) fn set_name(&mut self, name: Name) {
        self.name = name;
    }
}

impl Default for BreakerConfig {
    /// The [defaults](BreakerConfigBuilder), which are valid.
    fn default() -> Self {
        BreakerConfigBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("the default config is valid"))
    }
}

impl fmt::Debug for BreakerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerConfig")
            .field("name", &self.name)
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("failure_rate_threshold", &self.failure_rate_threshold)
            .field("slow_call", &self.slow_call)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("open_backoff", &self.open_backoff)
            .field("half_open_permits", &self.half_open_permits)
            .field("max_half_open_duration", &self.max_half_open_duration)
            .field("retry_after_cap", &self.retry_after_cap)
            .field("on_transition", &self.on_transition.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Builds a [`BreakerConfig`]; [`build`](Self::build) checks every setting
/// and rejects contradictory ones.
///
/// Defaults, chosen for LLM APIs (a few calls per second, long calls,
/// upstreams that rate-limit):
///
/// | setting | default |
/// |---|---|
/// | [`name`](Self::name) | `"circuit_breaker"` |
/// | [`window`](Self::window) | the last 50 calls |
/// | [`minimum_calls`](Self::minimum_calls) | 10 |
/// | [`failure_rate_threshold`](Self::failure_rate_threshold) | 0.5 |
/// | [`slow_calls`](Self::slow_calls) | off |
/// | [`consecutive_failures`](Self::consecutive_failures) | off |
/// | [`open_backoff`](Self::open_backoff) | 5 s, doubling to 5 min, 20% jitter |
/// | [`half_open_permits`](Self::half_open_permits) | 3 |
/// | [`max_half_open_duration`](Self::max_half_open_duration) | 2 min |
/// | [`retry_after_cap`](Self::retry_after_cap) | 10 min |
///
/// ```
/// use tower_failover::circuit_breaker::{BreakerConfig, Window};
///
/// // Contradictory: a verdict would need more calls than the window holds.
/// let error = BreakerConfig::builder()
///     .window(Window::count(10))
///     .minimum_calls(20)
///     .build()
///     .unwrap_err();
/// assert_eq!(error.field(), "minimum_calls");
/// ```
#[derive(Clone)]
pub struct BreakerConfigBuilder {
    config: BreakerConfig,
}

impl Default for BreakerConfigBuilder {
    fn default() -> Self {
        Self {
            config: BreakerConfig {
                name: Name::Static("circuit_breaker"),
                window: WindowKind::Count(50),
                minimum_calls: 10,
                failure_rate_threshold: 0.5,
                slow_call: None,
                consecutive_failures: None,
                open_backoff: OpenBackoff::exponential(DEFAULT_OPEN_BASE, DEFAULT_OPEN_MAX),
                half_open_permits: 3,
                max_half_open_duration: Some(Duration::from_secs(120)),
                retry_after_cap: Some(Duration::from_secs(600)),
                on_transition: None,
            },
        }
    }
}

impl fmt::Debug for BreakerConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BreakerConfigBuilder")
            .field(&self.config)
            .finish()
    }
}

impl BreakerConfigBuilder {
    /// The breaker's name (an upstream, a model, a host), carried by
    /// [`CircuitOpen`](super::CircuitOpen) and by events. A `&'static str` is
    /// stored as is; a `String` once, shared by every rejection.
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.config.name = Name::from(name.into());
        self
    }

    /// Which recent calls decide whether to open.
    #[must_use]
    pub fn window(mut self, window: Window) -> Self {
        self.config.window = window.kind;
        self
    }

    /// How many calls the window must hold before the failure and slow-call
    /// rates can open the breaker (at least 1, at most a count window's
    /// size). The consecutive-failure trip does not wait for it.
    #[must_use]
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// The failure rate (above 0, at most 1) at or above which the breaker
    /// opens, over the window when closed and over the probes when
    /// half-open.
    #[must_use]
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.config.failure_rate_threshold = rate;
        self
    }

    /// Calls that take `duration` or longer are slow; at a slow-call rate of
    /// `rate` or more (above 0, at most 1) the breaker opens, like a failure
    /// rate. Measuring it reads the clock twice per call.
    #[must_use]
    pub fn slow_calls(mut self, duration: Duration, rate: f64) -> Self {
        self.config.slow_call = Some((duration, rate));
        self
    }

    /// Opens after `failures` consecutive failures (at least 1), whatever
    /// the window says.
    #[must_use]
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.config.consecutive_failures = Some(failures);
        self
    }

    /// How long the breaker stays open.
    #[must_use]
    pub fn open_backoff(mut self, backoff: OpenBackoff) -> Self {
        self.config.open_backoff = backoff;
        self
    }

    /// How many probe calls the half-open breaker lets through (1 to 4,095).
    /// It decides when all of them have answered: closed if the probes'
    /// failure and slow-call rates are under the thresholds, open again
    /// otherwise. Every other call is rejected meanwhile. A probe that is
    /// dropped, or whose outcome does not count (a caller fault), gives its
    /// permit back.
    #[must_use]
    pub fn half_open_permits(mut self, permits: u32) -> Self {
        self.config.half_open_permits = permits;
        self
    }

    /// The longest the breaker waits for its probes: past it, the next call
    /// opens the breaker again if a probe is still in flight (and that
    /// probe's late answer is ignored), so that a hung probe cannot keep it
    /// half-open forever. Keep it above the upstream's attempt timeout.
    ///
    /// The cap punishes hung probes, not idleness: if no probe is in flight
    /// when it elapses (some answered, none is out, a permit is free), the
    /// next call is admitted as a probe, the probes that already answered
    /// still count, and the cap starts again from that call.
    #[must_use]
    pub fn max_half_open_duration(mut self, duration: Duration) -> Self {
        self.config.max_half_open_duration = Some(duration);
        self
    }

    /// Waits for the probes however long they take. Only safe with an
    /// attempt timeout below the breaker.
    #[must_use]
    pub fn unbounded_half_open(mut self) -> Self {
        self.config.max_half_open_duration = None;
        self
    }

    /// Honours server hints up to `cap`: when a failure that counts carries
    /// a `retry-after` (a 429, a quota error, a 503), an opening breaker
    /// stays open at least until then (a longer hint counts as `cap`).
    #[must_use]
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.config.retry_after_cap = Some(cap);
        self
    }

    /// Ignores server hints: the open duration comes from the backoff only.
    #[must_use]
    pub fn ignore_retry_after(mut self) -> Self {
        self.config.retry_after_cap = None;
        self
    }

    /// Calls `hook` on every state transition, synchronously, on the task
    /// that caused it (keep it short; do not block). Transitions are also
    /// `tracing` events.
    #[must_use]
    pub fn on_transition<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Transition) + Send + Sync + 'static,
    {
        self.config.on_transition = Some(Arc::new(hook));
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    ///
    /// A [`InvalidConfig`] naming the first invalid or contradictory setting.
    pub fn build(self) -> Result<BreakerConfig, InvalidConfig> {
        let config = self.config;
        Window {
            kind: config.window,
        }
        .validate()?;
        if matches!(config.window, WindowKind::Count(calls) if config.minimum_calls > calls) {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "minimum_calls",
                "minimum_calls exceeds the size of the count window",
            ));
        }
        if config.minimum_calls == 0 {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "minimum_calls",
                "minimum_calls must be at least 1",
            ));
        }
        if !(config.failure_rate_threshold > 0.0 && config.failure_rate_threshold <= 1.0) {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "failure_rate_threshold",
                "the failure rate threshold must be above 0 and at most 1",
            ));
        }
        if let Some((duration, rate)) = config.slow_call {
            if duration.is_zero() {
                return Err(InvalidConfig::new(
                    "circuit breaker",
                    "slow_calls",
                    "the slow-call duration must be positive",
                ));
            }
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(InvalidConfig::new(
                    "circuit breaker",
                    "slow_calls",
                    "the slow-call rate threshold must be above 0 and at most 1",
                ));
            }
        }
        if config.consecutive_failures == Some(0) {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "consecutive_failures",
                "consecutive_failures must be at least 1",
            ));
        }
        config.open_backoff.validate()?;
        if config.half_open_permits == 0 || config.half_open_permits > MAX_HALF_OPEN_PERMITS {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "half_open_permits",
                "half_open_permits must be between 1 and 4095",
            ));
        }
        if config
            .max_half_open_duration
            .is_some_and(|d| d.as_millis() == 0)
        {
            return Err(InvalidConfig::new(
                "circuit breaker",
                "max_half_open_duration",
                "max_half_open_duration must be at least a millisecond",
            ));
        }
        Ok(config)
    }
}
