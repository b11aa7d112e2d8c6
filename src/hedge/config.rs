use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::latency::Latencies;
use crate::InvalidConfig;
use crate::classify::DefaultClassifier;
use crate::retry::RetryBudget;

/// How old the cached percentile delay may grow before a record refreshes
/// it (besides every 64th record).
const REFRESH: Duration = Duration::from_secs(1);
const REFRESH_NANOS: u64 = REFRESH.as_nanos() as u64;

/// The most hedges a call may send on top of its first attempt.
pub const MAX_HEDGES_LIMIT: u32 = 4;

/// How long [`Hedge`](super::Hedge) waits for an answer before sending a
/// hedge.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum HedgeDelay {
    /// Always the same delay.
    Fixed(Duration),
    /// The `p`th percentile (0 < `p` < 100, e.g. `95.0`) of the latencies
    /// of recent successful calls, once at least `min_samples` of them were
    /// seen; `fallback` until then. Recent means the last one to two
    /// [`latency_window`](HedgeConfigBuilder::latency_window)s. The
    /// percentile is computed when the `min_samples`th call is recorded,
    /// then at every 64th or at the first more than a second after the last
    /// computation, whichever comes first, so reading it costs one atomic
    /// load. What is recorded: see the [module docs](super#the-delay).
    Percentile {
        /// The percentile, strictly between 0 and 100.
        p: f64,
        /// Calls to observe before the percentile is trusted (1 to 1,000,000).
        min_samples: u32,
        /// The delay until then.
        fallback: Duration,
    },
}

impl HedgeDelay {
    /// The delay before anything was recorded.
    #[cfg(feature = "metrics")]
    fn initial(&self) -> Duration {
        match *self {
            Self::Fixed(delay)
            | Self::Percentile {
                fallback: delay, ..
            } => delay,
        }
    }

    pub(super) fn validate(&self) -> Result<(), InvalidConfig> {
        let positive = |d: Duration, field| {
            if d.is_zero() || d > Duration::from_secs(3600) {
                Err(InvalidConfig::new(
                    "hedge",
                    field,
                    "must be above zero and at most one hour",
                ))
            } else {
                Ok(())
            }
        };
        match *self {
            Self::Fixed(delay) => positive(delay, "delay"),
            Self::Percentile {
                p,
                min_samples,
                fallback,
            } => {
                // `!(..)` so that NaN is rejected too.
                if !(p > 0.0 && p < 100.0) {
                    return Err(InvalidConfig::new(
                        "hedge",
                        "delay.p",
                        "must be strictly between 0 and 100",
                    ));
                }
                if !(1..=1_000_000).contains(&min_samples) {
                    return Err(InvalidConfig::new(
                        "hedge",
                        "delay.min_samples",
                        "must be between 1 and 1000000",
                    ));
                }
                positive(fallback, "delay.fallback")
            }
        }
    }
}

/// Decides which requests may be hedged: sent twice, to be answered once.
///
/// Implemented for every `Fn(&Req) -> bool`, by [`DefaultShouldHedge`]
/// (HTTP requests not marked [`NoHedge`]) and by [`AlwaysHedge`].
pub trait ShouldHedge<Req> {
    /// Whether `request` may be sent more than once.
    fn should_hedge(&self, request: &Req) -> bool;
}

impl<F, Req> ShouldHedge<Req> for F
where
    F: Fn(&Req) -> bool,
{
    #[inline]
    fn should_hedge(&self, request: &Req) -> bool {
        self(request)
    }
}

/// Marks an `http::Request` as not to be hedged (it is not idempotent):
/// insert it in the request's extensions. [`DefaultShouldHedge`] honours it.
///
/// ```
/// use tower_failover::hedge::{DefaultShouldHedge, NoHedge, ShouldHedge};
///
/// let mut request = http::Request::new(());
/// assert!(DefaultShouldHedge.should_hedge(&request));
/// request.extensions_mut().insert(NoHedge);
/// assert!(!DefaultShouldHedge.should_hedge(&request));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoHedge;

/// The default [`ShouldHedge`]: every `http::Request<B>` except those with
/// [`NoHedge`] in their extensions. For other request types, use
/// [`AlwaysHedge`] or a closure.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultShouldHedge;

impl<B> ShouldHedge<http::Request<B>> for DefaultShouldHedge {
    #[inline]
    fn should_hedge(&self, request: &http::Request<B>) -> bool {
        request.extensions().get::<NoHedge>().is_none()
    }
}

/// A [`ShouldHedge`] that hedges every request, of any type.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysHedge;

impl<Req> ShouldHedge<Req> for AlwaysHedge {
    #[inline]
    fn should_hedge(&self, _: &Req) -> bool {
        true
    }
}

/// The settings of a [`HedgeLayer`](super::HedgeLayer): when to hedge, how
/// often, what it may cost, and what a good answer is.
///
/// Build one with [`HedgeConfig::builder`]; the builder validates every
/// setting. Cloning a config shares its budget, its latency history and its
/// counters (read them with [`handle`](Self::handle)).
///
/// ```
/// use std::time::Duration;
/// use tower_failover::hedge::{HedgeConfig, HedgeDelay};
///
/// let config = HedgeConfig::builder(HedgeDelay::Percentile {
///     p: 95.0,
///     min_samples: 100,
///     fallback: Duration::from_millis(500),
/// })
/// .max_hedges(1)
/// .build()
/// .expect("valid config");
/// assert_eq!(config.max_hedges(), 1);
///
/// let error = HedgeConfig::builder(HedgeDelay::Fixed(Duration::ZERO)).build().unwrap_err();
/// assert_eq!(error.field(), "delay");
/// ```
#[derive(Clone)]
pub struct HedgeConfig<C = DefaultClassifier, P = DefaultShouldHedge> {
    budget: RetryBudget,
    // Whether each call deposits into the budget (it is the layer's own).
    deposits: bool,
    classifier: C,
    should_hedge: P,
    max_hedges: u32,
    state: Arc<State>,
}

/// What every clone of a config shares: the delay, the latencies, the
/// counters.
pub(super) struct State {
    pub(super) name: Arc<str>,
    pub(super) delay: HedgeDelay,
    pub(super) latencies: Option<Latencies>,
    // The percentile delay last computed, in nanoseconds (0: not yet).
    cached: AtomicU64,
    // When it was computed, in nanoseconds since `refresh_origin`.
    refreshed: AtomicU64,
    refresh_origin: Instant,
    records: AtomicU64,
    pub(super) calls: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) won: AtomicU64,
    pub(super) suppressed: AtomicU64,
    #[cfg(feature = "metrics")]
    pub(super) metrics: crate::metrics::HedgeMetrics,
}

impl State {
    /// The delay before the next hedge.
    #[inline]
    pub(super) fn delay(&self) -> Duration {
        match self.delay {
            HedgeDelay::Fixed(delay) => delay,
            HedgeDelay::Percentile { fallback, .. } => match self.cached.load(Ordering::Relaxed) {
                0 => fallback,
                nanos => Duration::from_nanos(nanos),
            },
        }
    }

    /// Whether calls are timed (the delay is a percentile).
    #[inline]
    pub(super) fn timed(&self) -> bool {
        self.latencies.is_some()
    }

    /// Records a successful call's latency, and refreshes the delay at
    /// `min_samples`, then every 64th call or when it is older than
    /// [`REFRESH`], whichever comes first.
    pub(super) fn record(&self, start: Instant) {
        let (Some(latencies), HedgeDelay::Percentile { p, min_samples, .. }) =
            (&self.latencies, self.delay)
        else {
            return;
        };
        let now = Instant::now();
        latencies.record(now, now.saturating_duration_since(start));
        let n = self.records.fetch_add(1, Ordering::Relaxed) + 1;
        let since = |instant: Instant| {
            u64::try_from(
                instant
                    .saturating_duration_since(self.refresh_origin)
                    .as_nanos(),
            )
            .unwrap_or(u64::MAX)
        };
        let at = since(now);
        let stale = at.saturating_sub(self.refreshed.load(Ordering::Relaxed)) > REFRESH_NANOS;
        if n % 64 == 0 || n == u64::from(min_samples) || (stale && n > u64::from(min_samples)) {
            self.refreshed.store(at, Ordering::Relaxed);
            let nanos = latencies.percentile(now, p, min_samples).map_or(0, |d| {
                u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
            });
            self.cached.store(nanos, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            self.metrics.delay(self.delay());
        }
    }
}

impl HedgeConfig {
    /// A builder with `delay` and the defaults: one hedge at most, a
    /// default [`RetryBudget`] of its own (10 s window, 10 per second, 20 %),
    /// [`DefaultClassifier`], [`DefaultShouldHedge`], a 10 s latency window.
    pub fn builder(delay: HedgeDelay) -> HedgeConfigBuilder {
        HedgeConfigBuilder {
            name: Arc::from("hedge"),
            delay,
            max_hedges: 1,
            budget: None,
            deposits: true,
            classifier: DefaultClassifier,
            should_hedge: DefaultShouldHedge,
            latency_window: Duration::from_secs(10),
        }
    }
}

impl<C, P> HedgeConfig<C, P> {
    /// The layer's name, the `hedge` label of its
    /// [metrics](super#observability).
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// How the delay is chosen.
    pub fn delay(&self) -> HedgeDelay {
        self.state.delay
    }

    /// The most hedges one call sends.
    pub fn max_hedges(&self) -> u32 {
        self.max_hedges
    }

    /// The budget hedges draw from.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// Whether each call deposits one request into the [budget](Self::budget):
    /// `false` for a budget given with
    /// [`shared_budget`](HedgeConfigBuilder::shared_budget).
    pub fn deposits(&self) -> bool {
        self.deposits
    }

    /// The classifier.
    pub fn classifier(&self) -> &C {
        &self.classifier
    }

    /// The predicate that says which requests may be hedged.
    pub fn should_hedge(&self) -> &P {
        &self.should_hedge
    }

    /// A handle on the counters every service built from this config (or a
    /// clone of it) shares.
    pub fn handle(&self) -> HedgeHandle {
        HedgeHandle {
            state: self.state.clone(),
        }
    }

    pub(super) fn state(&self) -> &State {
        &self.state
    }
}

impl<C: fmt::Debug, P: fmt::Debug> fmt::Debug for HedgeConfig<C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeConfig")
            .field("name", &self.state.name)
            .field("delay", &self.state.delay)
            .field("max_hedges", &self.max_hedges)
            .field("budget", &self.budget)
            .field("deposits", &self.deposits)
            .field("classifier", &self.classifier)
            .field("should_hedge", &self.should_hedge)
            .finish()
    }
}

/// Builds a validated [`HedgeConfig`]; see there for an example.
#[derive(Clone, Debug)]
#[must_use = "call `build` to get a config"]
pub struct HedgeConfigBuilder<C = DefaultClassifier, P = DefaultShouldHedge> {
    name: Arc<str>,
    delay: HedgeDelay,
    max_hedges: u32,
    budget: Option<RetryBudget>,
    deposits: bool,
    classifier: C,
    should_hedge: P,
    latency_window: Duration,
}

impl<C, P> HedgeConfigBuilder<C, P> {
    /// The layer's name (an upstream, a model), the `hedge` label of its
    /// [metrics](super#observability); not empty, default `"hedge"`. Each
    /// name is a label value: give each layer its own, from a fixed set,
    /// never anything a caller chooses.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Arc::from(name.into().as_ref());
        self
    }

    /// The most hedges one call sends after its first attempt, each a
    /// delay after the one before; from 1 to [`MAX_HEDGES_LIMIT`], default 1.
    pub fn max_hedges(mut self, max_hedges: u32) -> Self {
        self.max_hedges = max_hedges;
        self
    }

    /// The layer's own budget: each call through the layer deposits one
    /// request, each hedge withdraws one retry; with none left, no hedge is
    /// sent. Over the budget's window, hedges stay within
    /// `min_per_sec × ttl + ratio × calls`. By default the layer has a
    /// [`RetryBudget::default`] of its own.
    ///
    /// Do not pass a budget a [`RetryLayer`](crate::retry::RetryLayer)
    /// deposits into too: each attempt would deposit again. Use
    /// [`shared_budget`](Self::shared_budget) for that.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self.deposits = true;
        self
    }

    /// A budget shared with the [`RetryLayer`](crate::retry::RetryLayer)
    /// above (pass a clone of the retry policy's): each hedge withdraws one
    /// retry from it, but calls deposit nothing, since the retry layer
    /// deposits once per logical call. Over the budget's window, retries
    /// and hedges *together* stay within `min_per_sec × ttl + ratio ×
    /// logical calls`.
    ///
    /// With no layer depositing into it, only the floor (`min_per_sec`)
    /// pays for hedges.
    pub fn shared_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self.deposits = false;
        self
    }

    /// How long one generation of the latency history lasts (the
    /// percentile covers one to two of them); 1 s to 1 hour, default 10 s.
    pub fn latency_window(mut self, window: Duration) -> Self {
        self.latency_window = window;
        self
    }

    /// The classifier that decides which answers are acceptable; default
    /// [`DefaultClassifier`].
    pub fn classifier<C2>(self, classifier: C2) -> HedgeConfigBuilder<C2, P> {
        HedgeConfigBuilder {
            name: self.name,
            delay: self.delay,
            max_hedges: self.max_hedges,
            budget: self.budget,
            deposits: self.deposits,
            classifier,
            should_hedge: self.should_hedge,
            latency_window: self.latency_window,
        }
    }

    /// Which requests may be hedged; default [`DefaultShouldHedge`].
    pub fn should_hedge<P2>(self, should_hedge: P2) -> HedgeConfigBuilder<C, P2> {
        HedgeConfigBuilder {
            name: self.name,
            delay: self.delay,
            max_hedges: self.max_hedges,
            budget: self.budget,
            deposits: self.deposits,
            classifier: self.classifier,
            should_hedge,
            latency_window: self.latency_window,
        }
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// [`InvalidConfig`] naming the setting at fault: `delay` (zero or above
    /// an hour), `delay.p`, `delay.min_samples`, `delay.fallback`,
    /// `max_hedges` or `latency_window` out of range, `name` empty.
    pub fn build(self) -> Result<HedgeConfig<C, P>, InvalidConfig> {
        self.delay.validate()?;
        if !(1..=MAX_HEDGES_LIMIT).contains(&self.max_hedges) {
            return Err(InvalidConfig::new(
                "hedge",
                "max_hedges",
                "must be between 1 and 4",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.latency_window) {
            return Err(InvalidConfig::new(
                "hedge",
                "latency_window",
                "must be between 1s and 1h",
            ));
        }
        if self.name.is_empty() {
            return Err(InvalidConfig::new("hedge", "name", "must not be empty"));
        }
        let latencies = matches!(self.delay, HedgeDelay::Percentile { .. })
            .then(|| Latencies::new(self.latency_window));
        Ok(HedgeConfig {
            budget: self.budget.unwrap_or_default(),
            deposits: self.deposits,
            classifier: self.classifier,
            should_hedge: self.should_hedge,
            max_hedges: self.max_hedges,
            state: Arc::new(State {
                #[cfg(feature = "metrics")]
                metrics: crate::metrics::HedgeMetrics::new(&self.name, self.delay.initial()),
                name: self.name,
                delay: self.delay,
                latencies,
                cached: AtomicU64::new(0),
                refreshed: AtomicU64::new(0),
                refresh_origin: Instant::now(),
                records: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                sent: AtomicU64::new(0),
                won: AtomicU64::new(0),
                suppressed: AtomicU64::new(0),
            }),
        })
    }
}

/// Reads the counters of every [`Hedge`](super::Hedge) built from one
/// [`HedgeConfig`] (and its clones).
#[derive(Clone)]
pub struct HedgeHandle {
    state: Arc<State>,
}

impl HedgeHandle {
    /// Calls made.
    pub fn calls(&self) -> u64 {
        self.state.calls.load(Ordering::Relaxed)
    }

    /// Hedges sent.
    pub fn hedges_sent(&self) -> u64 {
        self.state.sent.load(Ordering::Relaxed)
    }

    /// Calls answered by a hedge rather than the first attempt.
    pub fn hedges_won(&self) -> u64 {
        self.state.won.load(Ordering::Relaxed)
    }

    /// Hedges not sent because the budget was spent.
    pub fn suppressed_by_budget(&self) -> u64 {
        self.state.suppressed.load(Ordering::Relaxed)
    }

    /// The delay a call made now would wait before hedging.
    pub fn current_delay(&self) -> Duration {
        self.state.delay()
    }
}

impl fmt::Debug for HedgeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeHandle")
            .field("calls", &self.calls())
            .field("hedges_sent", &self.hedges_sent())
            .field("hedges_won", &self.hedges_won())
            .field("suppressed_by_budget", &self.suppressed_by_budget())
            .field("current_delay", &self.current_delay())
            .finish()
    }
}
