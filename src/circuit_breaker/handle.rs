use std::fmt;
use std::time::Duration;

use super::state::Shared;
use super::sync::Arc;
use crate::name::Name;

/// The state of a circuit breaker.
///
/// `#[non_exhaustive]`: match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls go through and are counted.
    Closed,
    /// Calls are rejected until the open period ends; the first call after it
    /// moves the breaker to [`HalfOpen`](Self::HalfOpen) (there is no timer:
    /// the state reads `Open` until then).
    Open,
    /// A few probe calls go through; the rest are rejected until the probes
    /// have answered.
    HalfOpen,
    /// Every call is rejected until [`BreakerHandle::reset`] or
    /// [`BreakerHandle::force_closed`].
    ForcedOpen,
    /// Every call goes through and is counted, but the breaker never opens
    /// on its own.
    ForcedClosed,
}

impl State {
    /// A stable, lowercase name for events and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::ForcedClosed => "forced_closed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a breaker changed state.
///
/// `#[non_exhaustive]`: match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransitionReason {
    /// The window's failure rate reached the threshold.
    FailureRate,
    /// The window's slow-call rate reached the threshold.
    SlowCallRate,
    /// Too many failures in a row.
    ConsecutiveFailures,
    /// The upstream's quota or spend limit is used up
    /// ([`FailureKind::QuotaExhausted`](crate::classify::FailureKind::QuotaExhausted)):
    /// one such failure opens the breaker, since no call will pass until
    /// someone pays.
    QuotaExhausted,
    /// The open period ended and a call arrived.
    OpenElapsed,
    /// Every probe answered, under the thresholds.
    ProbesSucceeded,
    /// Every probe answered, at or over a threshold.
    ProbesFailed,
    /// The probes took longer than the maximum half-open duration.
    HalfOpenTimeout,
    /// [`BreakerHandle::force_open`].
    ForcedOpen,
    /// [`BreakerHandle::force_closed`].
    ForcedClosed,
    /// [`BreakerHandle::reset`].
    Reset,
}

impl TransitionReason {
    /// A stable, lowercase name for events and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FailureRate => "failure_rate",
            Self::SlowCallRate => "slow_call_rate",
            Self::ConsecutiveFailures => "consecutive_failures",
            Self::QuotaExhausted => "quota_exhausted",
            Self::OpenElapsed => "open_elapsed",
            Self::ProbesSucceeded => "probes_succeeded",
            Self::ProbesFailed => "probes_failed",
            Self::HalfOpenTimeout => "half_open_timeout",
            Self::ForcedOpen => "forced_open",
            Self::ForcedClosed => "forced_closed",
            Self::Reset => "reset",
        }
    }
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state change, as passed to the
/// [`on_transition`](super::BreakerConfigBuilder::on_transition) hook.
///
/// Every transition is also a `tracing` event (`warn` when opening, `info`
/// otherwise) with the fields `layer = "circuit_breaker"`, `name`, `state`
/// (the new state), `from`, `reason` and, when opening, `retry_after_ms`.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreakerLayer, State};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let config = BreakerConfig::builder()
///     .name("gemini")
///     .on_transition(move |t| log.lock().unwrap().push((t.from(), t.to())))
///     .build()
///     .unwrap();
/// let layer = CircuitBreakerLayer::new(config);
/// layer.handle().force_open();
/// assert_eq!(*seen.lock().unwrap(), [(State::Closed, State::ForcedOpen)]);
/// ```
#[derive(Clone)]
pub struct Transition {
    name: Name,
    from: State,
    to: State,
    reason: TransitionReason,
    retry_after: Option<Duration>,
}

impl Transition {
    pub(super) fn new(
        name: Name,
        from: State,
        to: State,
        reason: TransitionReason,
        retry_after: Option<Duration>,
    ) -> Self {
        Self {
            name,
            from,
            to,
            reason,
            retry_after,
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The state before.
    pub fn from(&self) -> State {
        self.from
    }

    /// The state after.
    pub fn to(&self) -> State {
        self.to
    }

    /// Why.
    pub fn reason(&self) -> TransitionReason {
        self.reason
    }

    /// When opening: how long the breaker stays open.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Debug for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transition")
            .field("name", &self.name)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("reason", &self.reason)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

/// A snapshot of a breaker: its state and the counts of its current window.
///
/// Read with [`BreakerHandle::metrics`]. Each field is read atomically, the
/// snapshot as a whole is not (concurrent calls may land between two reads).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The state.
    pub state: State,
    /// Counted calls in the window.
    pub calls: u32,
    /// Failed calls in the window.
    pub failures: u32,
    /// Slow calls in the window (failed or not).
    pub slow_calls: u32,
    /// Failures in a row, up to now.
    pub consecutive_failures: u32,
    /// Openings since the breaker was last closed by its probes (what the
    /// open backoff grows with).
    pub consecutive_opens: u32,
    /// Half-open probes sent and not yet answered.
    pub probes_in_flight: u32,
    /// Half-open probes that succeeded in this half-open period.
    pub probes_succeeded: u32,
    /// Half-open probes that failed in this half-open period.
    pub probes_failed: u32,
    /// Results that arrived after the state they were admitted in had
    /// ended, since the breaker was created: counted here, never in a
    /// window.
    pub late_results: u64,
    /// While open: how long until the next call may probe.
    pub retry_after: Option<Duration>,
}

impl Metrics {
    /// `failures / calls`, or `None` for an empty window.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| f64::from(self.failures) / f64::from(self.calls))
    }

    /// `slow_calls / calls`, or `None` for an empty window.
    pub fn slow_call_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| f64::from(self.slow_calls) / f64::from(self.calls))
    }
}

/// Reads and steers one breaker from outside the service: from an admin
/// endpoint, a health check, a test.
///
/// Cheap to clone; every clone steers the same breaker. Get one from
/// [`CircuitBreakerLayer::handle`](super::CircuitBreakerLayer::handle),
/// [`CircuitBreaker::handle`](super::CircuitBreaker::handle) or, for the
/// keyed form, [`KeyedHandle::get`](super::KeyedHandle::get).
///
/// ```
/// use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreakerLayer, State};
///
/// let layer = CircuitBreakerLayer::new(BreakerConfig::default());
/// let handle = layer.handle();
/// assert_eq!(handle.state(), State::Closed);
/// handle.force_open();
/// assert_eq!(handle.state(), State::ForcedOpen);
/// handle.reset();
/// assert_eq!(handle.metrics().calls, 0);
/// assert_eq!(handle.state(), State::Closed);
/// ```
#[derive(Clone)]
pub struct BreakerHandle {
    pub(super) shared: Arc<Shared>,
}

impl BreakerHandle {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.shared.config().name()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.shared.state()
    }

    /// The state and the counts of the current window.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Rejects every call until [`reset`](Self::reset) or
    /// [`force_closed`](Self::force_closed). Calls in flight finish; their
    /// results only count as late.
    pub fn force_open(&self) {
        self.shared.force(State::ForcedOpen);
    }

    /// Lets every call through until [`reset`](Self::reset) or
    /// [`force_open`](Self::force_open), still counting them (the window
    /// starts empty), but never opens.
    pub fn force_closed(&self) {
        self.shared.force(State::ForcedClosed);
    }

    /// Back to closed with an empty window, no failures in a row, no
    /// pending hint, and the open backoff back at its start.
    pub fn reset(&self) {
        self.shared.force(State::Closed);
    }
}

impl fmt::Debug for BreakerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerHandle")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}
