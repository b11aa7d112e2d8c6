//! Counters, gauges and histograms through the [`metrics`](https://docs.rs/metrics)
//! facade (the `metrics` feature).
//!
//! With the feature on, the layers record what they decide: every attempt
//! and its outcome, every retry and why retries stopped, every fallback and
//! which tier served, every breaker transition and rejection, every
//! deadline that ran out, how long each fallback tier took, every call a
//! rate limiter refused or made wait, and every hedge sent, won or given
//! up. Install any
//! `metrics` recorder (a Prometheus exporter, StatsD, the debugging recorder
//! of `metrics-util`…) to collect them; with none installed they cost next
//! to nothing (see *Cost* below). With the feature off none of this code
//! exists.
//!
//! # The metrics
//!
//! Names and labels are stable: renaming one is a breaking change. Names
//! follow Prometheus' conventions (`_total` for counters, base units in the
//! name). Label values are bounded: a [`FailureKind`](crate::classify::FailureKind)
//! as its [snake_case name](crate::classify::FailureKind::as_str), a
//! configured breaker or tier name, or one of the fixed words listed here;
//! never anything read from a request or a response, with one exception
//! that is yours to bound: a keyed breaker named with
//! [`name_with`](crate::circuit_breaker::KeyedCircuitBreakerLayer::name_with)
//! is labelled with what that function makes of the request's key, so it
//! must map keys onto a bounded set of names (see *Keyed breakers* below).
//!
//! | name | type | labels | recorded when | unit |
//! |---|---|---|---|---|
//! | [`tower_failover_attempts_total`](ATTEMPTS) | counter | `outcome` = `success`, a failure kind (`circuit_open` included: a breaker below rejected it), or `cancelled` | a [`Retry`](crate::retry::Retry) layer's attempt ends (the first one included), or the retry future is dropped while an attempt is in flight | attempts |
//! | [`tower_failover_retries_total`](RETRIES) | counter | `kind` = the failure kind retried | a `Retry` layer decides to send the request again | retries |
//! | [`tower_failover_retries_given_up_total`](RETRIES_GIVEN_UP) | counter | `reason` = `not_retryable`, `max_attempts`, `not_replayable`, `hint_above_cap`, `deadline`, `budget_exhausted` | a `Retry` layer returns a failure without retrying it | decisions |
//! | [`tower_failover_fallbacks_total`](FALLBACKS) | counter | `from`, `to` = tier names (`to` may be `static`), `kind` = the failure kind | a [`Fallback`](crate::fallback::Fallback) layer moves on to another tier or to its static response | fallbacks |
//! | [`tower_failover_served_total`](SERVED) | counter | `tier` = the tier's name, or `static` | a tier's result is a success (or the static response is returned) | responses |
//! | [`tower_failover_tier_duration_seconds`](TIER_DURATION) | histogram | `tier` (never `static`), `outcome` = `success`, `failure` or `cancelled` | a tier's result is known, its timeout fired, the deadline ended it, or the fallback future was dropped while it was in flight | seconds |
//! | [`tower_failover_breaker_state`](BREAKER_STATE) | gauge | `breaker` = the breaker's name | the breaker is built (0, unless a live keyed breaker shares the name), and at every transition (best-effort, see below) | 0 closed, 1 half-open, 2 open, 3 forced open, 4 forced closed |
//! | [`tower_failover_breaker_transitions_total`](BREAKER_TRANSITIONS) | counter | `breaker`, `from`, `to` = [`State`](crate::circuit_breaker::State) names, `reason` = a [`TransitionReason`](crate::circuit_breaker::TransitionReason) name | the breaker changes state | transitions |
//! | [`tower_failover_breaker_rejections_total`](BREAKER_REJECTIONS) | counter | `breaker` | an open (or forced-open, or saturated half-open) breaker rejects a call | calls |
//! | [`tower_failover_deadline_exceeded_total`](DEADLINE_EXCEEDED) | counter | `layer` = `timeout_budget`, `attempt_timeout`, `fallback` or `fallback_tier` | that layer returns [`DeadlineExceeded`](crate::deadline::DeadlineExceeded) (or gives up because the deadline is spent); `fallback_tier`: a fallback tier's own timeout ended the tier | calls |
//! | [`tower_failover_attempt_timeouts_total`](ATTEMPT_TIMEOUTS) | counter | none | an [`AttemptTimeout`](crate::deadline::AttemptTimeout) returns [`AttemptTimedOut`](crate::deadline::AttemptTimedOut) | attempts |
//! | [`tower_failover_rate_limit_rejections_total`](RATE_LIMIT_REJECTIONS) | counter | `limiter` = the limiter's name, `reason` = `limited` (its turn is past `max_wait` or the deadline), `over_capacity` (its cost exceeds the burst) or `no_room` (a keyed limiter full of busy keys) | a [`RateLimit`](crate::rate_limit::RateLimit) refuses a call with [`RateLimited`](crate::rate_limit::RateLimited) | calls |
//! | [`tower_failover_rate_limit_wait_seconds`](RATE_LIMIT_WAIT) | histogram | `limiter` | a `RateLimit` admits a call that has to wait for its turn (the wait it is given; calls that pass at once are not recorded) | seconds |
//! | [`tower_failover_hedges_total`](HEDGES) | counter | `hedge` = the layer's [name](crate::hedge::HedgeConfigBuilder::name), `outcome` = `sent`, `won` (its answer was returned), `budget_exhausted` (due, the budget was spent), `deadline` (the deadline left no time for it: at the call, before it was due, or once its service was ready), `not_ready` (its service failed to get ready) | a [`Hedge`](crate::hedge::Hedge) layer sends a hedge or gives one up; at most one `budget_exhausted` or `deadline` per call, never for a call answered before its delay unless the deadline was already shorter than the delay | hedges |
//! | [`tower_failover_hedge_delay_seconds`](HEDGE_DELAY) | gauge | `hedge` | the config is built (the fixed delay, or a percentile's fallback), and when a percentile delay is recomputed | seconds |
//!
//! A few things worth knowing when reading them:
//!
//! - **Budget rejections.** A spent [retry budget](crate::retry::RetryBudget)
//!   is `tower_failover_retries_given_up_total{reason="budget_exhausted"}`;
//!   a retry not attempted because its wait would end past the deadline is
//!   `{reason="deadline"}` (the failure itself is returned, so no
//!   `deadline_exceeded` is counted for it).
//! - **Amplification.** Attempts rejected by an open breaker below the
//!   `Retry` layer (`attempts_total{outcome="circuit_open"}`) never reached
//!   the upstream, so `(sum(attempts_total) -
//!   sum(attempts_total{outcome="circuit_open"})) / sum(served_total)` is
//!   roughly the upstream calls per served request when every call goes
//!   through one `Retry` per tier; `retries_total / attempts_total` is the
//!   retry rate.
//! - **Cancelled** attempts and tiers were in flight when their future was
//!   dropped: the caller went away, or a timer above them ended them (a
//!   `TimeoutBudget`'s, a fallback tier's timeout, the deadline at a
//!   fallback layer) without an `AttemptTimeout` below firing first. They
//!   are the slowest calls, so they stay in the counts: a cancelled tier's
//!   duration is recorded as `outcome="cancelled"`.
//! - **Deadlines by origin.** A fallback tier's timeout is made the current
//!   deadline for the tier's inner layers. When it, not the logical
//!   call's deadline, is what ends the tier (the fallback layer's timer, or
//!   an `AttemptTimeout` or `TimeoutBudget` below clipped by it), the count
//!   is `deadline_exceeded_total{layer="fallback_tier"}`: that tier's time
//!   is spent, the call's budget is not. The logical deadline keeps the
//!   label of the layer whose timer ended the call. Each expiry is counted
//!   once, by the layer that saw it first.
//! - **Tier latency** is measured from the first time the tier is found
//!   waiting (for readiness or for its answer) to its result. A tier that
//!   answers within its first poll, without waiting on anything, records
//!   `0`: it did not wait, and the layer does not read the clock for it.
//! - **Keyed breakers** are labelled with their names. Without
//!   [`name_with`](crate::circuit_breaker::KeyedCircuitBreakerLayer::name_with)
//!   they all share the configured name, so one gauge (the state of
//!   whichever breaker changed state last; a new key does not reset it)
//!   and one series of each counter. With it, each name is a label value:
//!   `name_with` must map keys onto a bounded set (a provider per host, a
//!   model family), never pass through something a caller chooses, and
//!   `max_breakers` bounds the live breakers, not the names ever seen. An
//!   evicted breaker's series stay in the recorder with their last values
//!   (its gauge keeps its last state) until the recorder drops them; a
//!   breaker created later under the same name sets the gauge to closed if
//!   no live breaker shares the name.
//! - **The breaker-state gauge is best-effort.** It is set after each
//!   transition is decided, so transitions racing on different threads may
//!   set it in another order than they happened, and it may show for a
//!   moment a state the breaker has already left. The transition counters
//!   are exact; the [`BreakerHandle`](crate::circuit_breaker::BreakerHandle)
//!   reads the state itself.
//!
//! # Install the recorder before building the layers
//!
//! The metrics recorded on hot paths, or labelled with a configured name,
//! are registered once, when the layer is built: a breaker's state gauge
//! and rejection counter when its [`CircuitBreakerLayer`](crate::circuit_breaker::CircuitBreakerLayer)
//! is created (a keyed breaker when its key is first seen), a fallback
//! tier's `served_total` counter and duration histograms (none for the
//! static response) when its `FallbackLayer` is built, a hedge layer's
//! counters and delay gauge when its `HedgeConfig` is built. They stay
//! bound to the recorder that was in
//! place then (the global one, or a thread's local one). The others are
//! looked up at the moment they are recorded. So install the recorder
//! first, then build the layers.
//!
//! Call [`describe`] once after installing the recorder to give every
//! metric its unit and help text (exporters show them, e.g. as
//! Prometheus' `# HELP` lines).
//!
//! # Cost
//!
//! Nothing allocates on a success path: labels are `&'static str` in
//! static keys, and names are shared (an `Arc<str>` or a `&'static str`,
//! passed to the facade without copying). A successful call through the
//! four-layer stack records one counter (`attempts_total{outcome="success"}`),
//! looked up through the facade: with no recorder installed that is a
//! thread-local read and a call into the no-op recorder, a few
//! nanoseconds (see `BENCHMARKS.md`). A fallback layer adds a
//! pre-registered counter increment and a histogram record, each a branch
//! when no recorder was installed. A tier that answers within its first
//! poll reads no clock; a tier that has to wait reads it twice, when it is
//! first found waiting and when its result is known (only with the
//! feature on: without it the layer reads no clock for latency). Telling a
//! cancelled call from a finished one costs a flag store per attempt and
//! per fallback call, and a branch when the future is dropped. The
//! deadline's origin (budget or tier) is set once per scope, with the
//! deadline. A hedged call that is answered before its delay records
//! nothing; a rate limiter records only refusals and waits. Failures,
//! retries, cancellations and transitions are cold
//! paths; the ones labelled with names build their key there (one small
//! allocation).
//!
//! # Examples
//!
//! A retried call, recorded by the debugging recorder of `metrics-util`
//! (installed for this thread only, so the example runs alongside others):
//!
//! ```
//! # #[cfg(feature = "retry")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::metrics::{ATTEMPTS, RETRIES};
//! use tower_failover::retry::{RetryLayer, RetryPolicy};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! let _local = metrics::set_default_local_recorder(&recorder);
//! tower_failover::metrics::describe();
//!
//! // An upstream that answers 503, then 200.
//! let calls = std::sync::atomic::AtomicU32::new(0);
//! let upstream = service_fn(|_: ()| {
//!     let status = if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 { 503 } else { 200 };
//!     async move { Ok::<_, std::io::Error>(http::Response::builder().status(status).body(()).unwrap()) }
//! });
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .service(upstream);
//! assert_eq!(service.oneshot(()).await.unwrap().status(), 200);
//!
//! let mut counters = Vec::new();
//! for (key, _unit, _help, value) in snapshotter.snapshot().into_vec() {
//!     if let DebugValue::Counter(n) = value {
//!         let key = key.key();
//!         let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
//!         counters.push((key.name().to_owned(), labels.join(","), n));
//!     }
//! }
//! counters.sort();
//! assert_eq!(counters, [
//!     (ATTEMPTS.to_owned(), "outcome=success".to_owned(), 1),
//!     (ATTEMPTS.to_owned(), "outcome=transient".to_owned(), 1),
//!     (RETRIES.to_owned(), "kind=transient".to_owned(), 1),
//! ]);
//! # }
//! # #[cfg(not(feature = "retry"))]
//! # fn main() {}
//! ```

#[allow(unused_imports)] // which ones are used depends on the features
use ::metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, SharedString, Unit};

/// `tower_failover_attempts_total`: attempts a retry layer sent, by
/// `outcome` (`success`, the failure kind, or `cancelled`).
pub const ATTEMPTS: &str = "tower_failover_attempts_total";
/// `tower_failover_retries_total`: retries, by the `kind` of failure retried.
pub const RETRIES: &str = "tower_failover_retries_total";
/// `tower_failover_retries_given_up_total`: failures a retry layer returned
/// without retrying, by `reason`.
pub const RETRIES_GIVEN_UP: &str = "tower_failover_retries_given_up_total";
/// `tower_failover_fallbacks_total`: moves from one tier to another (or to
/// the static response), by `from`, `to` and the failure `kind`.
pub const FALLBACKS: &str = "tower_failover_fallbacks_total";
/// `tower_failover_served_total`: successful results, by the `tier` that
/// served them.
pub const SERVED: &str = "tower_failover_served_total";
/// `tower_failover_tier_duration_seconds`: how long each tier took, by
/// `tier` and `outcome` (`success`, `failure` or `cancelled`).
pub const TIER_DURATION: &str = "tower_failover_tier_duration_seconds";
/// `tower_failover_breaker_state`: each `breaker`'s state (0 closed, 1
/// half-open, 2 open, 3 forced open, 4 forced closed).
pub const BREAKER_STATE: &str = "tower_failover_breaker_state";
/// `tower_failover_breaker_transitions_total`: state changes, by `breaker`,
/// `from`, `to` and `reason`.
pub const BREAKER_TRANSITIONS: &str = "tower_failover_breaker_transitions_total";
/// `tower_failover_breaker_rejections_total`: calls a `breaker` rejected
/// without sending them.
pub const BREAKER_REJECTIONS: &str = "tower_failover_breaker_rejections_total";
/// `tower_failover_deadline_exceeded_total`: calls ended by the logical
/// deadline, by the `layer` that ended them, and tiers ended by a fallback
/// tier's own timeout (`layer="fallback_tier"`).
pub const DEADLINE_EXCEEDED: &str = "tower_failover_deadline_exceeded_total";
/// `tower_failover_attempt_timeouts_total`: attempts cut short by their
/// per-attempt limit.
pub const ATTEMPT_TIMEOUTS: &str = "tower_failover_attempt_timeouts_total";

/// Gives every metric of this module its unit and help text, through the
/// recorder in place (call it once, after installing the recorder).
///
/// Exporters use them for their help lines; recording works without.
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        ATTEMPTS,
        Unit::Count,
        "Attempts sent by a retry layer, by outcome (success, failure kind, or cancelled)."
    );
    describe_counter!(
        RETRIES,
        Unit::Count,
        "Retries, by the kind of failure retried."
    );
    describe_counter!(
        RETRIES_GIVEN_UP,
        Unit::Count,
        "Failures returned without a retry, by reason."
    );
    describe_counter!(
        FALLBACKS,
        Unit::Count,
        "Moves from one fallback tier to the next, by from, to and failure kind."
    );
    describe_counter!(
        SERVED,
        Unit::Count,
        "Successful results, by the fallback tier that served them."
    );
    describe_histogram!(
        TIER_DURATION,
        Unit::Seconds,
        "Time each fallback tier took, by tier and outcome."
    );
    describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker state: 0 closed, 1 half-open, 2 open, 3 forced open, 4 forced closed."
    );
    describe_counter!(
        BREAKER_TRANSITIONS,
        Unit::Count,
        "Circuit breaker state changes, by breaker, from, to and reason."
    );
    describe_counter!(
        BREAKER_REJECTIONS,
        Unit::Count,
        "Calls a circuit breaker rejected without sending them."
    );
    describe_counter!(
        DEADLINE_EXCEEDED,
        Unit::Count,
        "Calls ended by their deadline, by the layer that ended them (fallback_tier: a tier's own timeout)."
    );
    describe_counter!(
        ATTEMPT_TIMEOUTS,
        Unit::Count,
        "Attempts cut short by their per-attempt limit."
    );
    describe_counter!(
        RATE_LIMIT_REJECTIONS,
        Unit::Count,
        "Calls a caller-side rate limiter refused, by limiter and reason."
    );
    describe_histogram!(
        RATE_LIMIT_WAIT,
        Unit::Seconds,
        "How long calls waited for their turn at a caller-side rate limiter, by limiter."
    );
    describe_counter!(
        HEDGES,
        Unit::Count,
        "What became of the hedges a hedge layer had due, by hedge and outcome."
    );
    describe_gauge!(
        HEDGE_DELAY,
        Unit::Seconds,
        "The delay a hedge layer waits before hedging a call made now, by hedge."
    );
}

// ---- shared plumbing --------------------------------------------------------

#[allow(dead_code)] // unused when only `metrics` is on
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// An array of static keys for `$name`, one per value of the label `$label`.
#[allow(unused_macros)]
macro_rules! keys {
    ($name:expr, $label:literal: [$($value:expr),* $(,)?]) => {
        [$({
            static LABELS: [Label; 1] = [Label::from_static_parts($label, $value)];
            Key::from_static_parts($name, &LABELS)
        }),*]
    };
}

/// Increments the counter `key` of the recorder in place now.
#[allow(dead_code)]
#[inline]
pub(crate) fn increment(key: &'static Key) {
    ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
}

/// Increments a counter whose labels are built at run time (cold paths).
#[allow(dead_code)]
#[cold]
fn increment_labelled(name: &'static str, labels: Vec<Label>) {
    let key = Key::from_parts(name, labels);
    ::metrics::with_recorder(|recorder| recorder.register_counter(&key, &METADATA).increment(1));
}

/// A configured name as a label value, without copying it.
#[cfg(any(feature = "circuit-breaker", feature = "fallback"))]
fn shared(name: &crate::name::Name) -> SharedString {
    match name {
        crate::name::Name::Static(name) => SharedString::const_str(name),
        crate::name::Name::Shared(name) => SharedString::from_shared(name.clone()),
    }
}

#[cfg(any(feature = "circuit-breaker", feature = "fallback", feature = "hedge"))]
fn register_counter(name: &'static str, labels: Vec<Label>) -> Counter {
    let key = Key::from_parts(name, labels);
    ::metrics::with_recorder(|recorder| recorder.register_counter(&key, &METADATA))
}

/// Where a failure kind sits in [`FailureKind::ALL`](crate::classify::FailureKind::ALL).
#[cfg(any(feature = "retry", test))]
const fn kind_index(kind: crate::classify::FailureKind) -> usize {
    use crate::classify::FailureKind as K;
    match kind {
        K::Transient => 0,
        K::RateLimited => 1,
        K::Overloaded => 2,
        K::Timeout => 3,
        K::QuotaExhausted => 4,
        K::Auth => 5,
        K::ModelNotFound => 6,
        K::ContextTooLong => 7,
        K::ContentFiltered => 8,
        K::Invalid => 9,
        K::CircuitOpen => 10,
        K::BudgetExhausted => 11,
    }
}

// ---- retry ------------------------------------------------------------------

#[cfg(feature = "retry")]
mod retry {
    use super::{Key, Label, increment, kind_index};
    use crate::classify::FailureKind;

    const fn kind(i: usize) -> &'static str {
        FailureKind::ALL[i].as_str()
    }

    // The failure kinds in the order of `FailureKind::ALL`, then `success`
    // and `cancelled`.
    static ATTEMPT_KEYS: [Key; 14] = keys!(super::ATTEMPTS, "outcome": [
        kind(0), kind(1), kind(2), kind(3), kind(4), kind(5), kind(6),
        kind(7), kind(8), kind(9), kind(10), kind(11), "success", "cancelled",
    ]);
    static RETRY_KEYS: [Key; 12] = keys!(super::RETRIES, "kind": [
        kind(0), kind(1), kind(2), kind(3), kind(4), kind(5), kind(6),
        kind(7), kind(8), kind(9), kind(10), kind(11),
    ]);

    /// An attempt succeeded (the hot path: a static key, no allocation).
    #[inline]
    pub(crate) fn attempt_succeeded() {
        increment(&ATTEMPT_KEYS[12]);
    }

    /// An attempt failed with `kind`.
    #[inline]
    pub(crate) fn attempt_failed(kind: FailureKind) {
        increment(&ATTEMPT_KEYS[kind_index(kind)]);
    }

    /// An attempt in flight was dropped with the retry future.
    #[cold]
    pub(crate) fn attempt_cancelled() {
        increment(&ATTEMPT_KEYS[13]);
    }

    /// A retry layer retries a failure of `kind`.
    pub(crate) fn retried(kind: FailureKind) {
        increment(&RETRY_KEYS[kind_index(kind)]);
    }
}

#[cfg(feature = "retry")]
pub(crate) use self::retry::{attempt_cancelled, attempt_failed, attempt_succeeded, retried};

// ---- circuit breaker --------------------------------------------------------

/// One breaker's handles, registered when the breaker is created.
#[cfg(feature = "circuit-breaker")]
pub(crate) struct BreakerMetrics {
    name: SharedString,
    state: Gauge,
    rejections: Counter,
}

#[cfg(feature = "circuit-breaker")]
impl BreakerMetrics {
    /// Registers the handles of a breaker named `name`. `fresh` when no
    /// other live breaker reports under that name: only then is the state
    /// gauge set to closed, so that a new keyed breaker sharing a name does
    /// not hide another one's open state.
    pub(crate) fn new(name: &crate::name::Name, fresh: bool) -> Self {
        let name = shared(name);
        let label = || vec![Label::new("breaker", name.clone())];
        let key = Key::from_parts(BREAKER_STATE, label());
        let state = ::metrics::with_recorder(|recorder| recorder.register_gauge(&key, &METADATA));
        if fresh {
            state.set(0.0);
        }
        Self {
            rejections: register_counter(BREAKER_REJECTIONS, label()),
            state,
            name,
        }
    }

    /// The breaker rejected a call (no allocation: a registered handle).
    #[inline]
    pub(crate) fn rejected(&self) {
        self.rejections.increment(1);
    }

    /// The breaker moved from `from` to `to`.
    #[cold]
    pub(crate) fn transition(
        &self,
        from: crate::circuit_breaker::State,
        to: crate::circuit_breaker::State,
        reason: crate::circuit_breaker::TransitionReason,
    ) {
        use crate::circuit_breaker::State;
        self.state.set(match to {
            State::Closed => 0.0,
            State::HalfOpen => 1.0,
            State::Open => 2.0,
            State::ForcedOpen => 3.0,
            State::ForcedClosed => 4.0,
        });
        increment_labelled(
            BREAKER_TRANSITIONS,
            vec![
                Label::new("breaker", self.name.clone()),
                Label::from_static_parts("from", from.as_str()),
                Label::from_static_parts("to", to.as_str()),
                Label::from_static_parts("reason", reason.as_str()),
            ],
        );
    }
}

#[cfg(feature = "circuit-breaker")]
impl std::fmt::Debug for BreakerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerMetrics")
            .field("breaker", &&*self.name)
            .finish_non_exhaustive()
    }
}

// ---- fallback ---------------------------------------------------------------

/// One fallback tier's handles, registered when the layer is built.
#[cfg(feature = "fallback")]
pub(crate) struct TierMetrics {
    name: SharedString,
    served: Counter,
    success: Histogram,
    failure: Histogram,
    cancelled: Histogram,
}

#[cfg(feature = "fallback")]
impl TierMetrics {
    /// Registers the handles of the tier `name`; its duration histograms
    /// only if it is `timed` (not the static response, which takes no time).
    pub(crate) fn new(name: &crate::name::Name, timed: bool) -> Self {
        let name = shared(name);
        let histogram = |outcome: &'static str| {
            if !timed {
                return Histogram::noop();
            }
            let key = Key::from_parts(
                TIER_DURATION,
                vec![
                    Label::new("tier", name.clone()),
                    Label::from_static_parts("outcome", outcome),
                ],
            );
            ::metrics::with_recorder(|recorder| recorder.register_histogram(&key, &METADATA))
        };
        Self {
            served: register_counter(SERVED, vec![Label::new("tier", name.clone())]),
            success: histogram("success"),
            failure: histogram("failure"),
            cancelled: histogram("cancelled"),
            name,
        }
    }

    /// The tier served a request.
    #[inline]
    pub(crate) fn served(&self) {
        self.served.increment(1);
    }

    /// The tier's result is known: it took from `started` (the first time
    /// it was found waiting) to now, or no time if it never waited.
    #[inline]
    pub(crate) fn finished(&self, success: bool, started: Option<tokio::time::Instant>) {
        let seconds = seconds_since(started);
        if success {
            self.success.record(seconds);
        } else {
            self.failure.record(seconds);
        }
    }

    /// The fallback future was dropped while this tier was in flight.
    #[cold]
    pub(crate) fn cancelled(&self, started: Option<tokio::time::Instant>) {
        self.cancelled.record(seconds_since(started));
    }

    /// A request moved on from this tier to `to` after a failure of `kind`.
    #[cold]
    pub(crate) fn fell_back(&self, to: &TierMetrics, kind: crate::classify::FailureKind) {
        increment_labelled(
            FALLBACKS,
            vec![
                Label::new("from", self.name.clone()),
                Label::new("to", to.name.clone()),
                Label::from_static_parts("kind", kind.as_str()),
            ],
        );
    }
}

#[cfg(feature = "fallback")]
#[inline]
fn seconds_since(started: Option<tokio::time::Instant>) -> f64 {
    started.map_or(0.0, |started| started.elapsed().as_secs_f64())
}

#[cfg(feature = "fallback")]
impl std::fmt::Debug for TierMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TierMetrics")
            .field("tier", &&*self.name)
            .finish_non_exhaustive()
    }
}

// ---- rate limit -------------------------------------------------------------

/// `tower_failover_rate_limit_rejections_total`: calls a caller-side
/// rate `limiter` refused, by `reason` (`limited`, `over_capacity`,
/// `no_room`).
pub const RATE_LIMIT_REJECTIONS: &str = "tower_failover_rate_limit_rejections_total";
/// `tower_failover_rate_limit_wait_seconds`: how long each call that had
/// to wait for its turn at a caller-side rate `limiter` waited.
pub const RATE_LIMIT_WAIT: &str = "tower_failover_rate_limit_wait_seconds";

/// A rate limiter named `limiter` refused a call for `reason` (a cold
/// path: the key is built here).
#[cfg(feature = "rate-limit")]
#[cold]
pub(crate) fn rate_limit_rejected(limiter: &std::sync::Arc<str>, reason: &'static str) {
    increment_labelled(
        RATE_LIMIT_REJECTIONS,
        vec![
            Label::new("limiter", SharedString::from_shared(limiter.clone())),
            Label::from_static_parts("reason", reason),
        ],
    );
}

/// A rate limiter named `limiter` gave a call `wait` before its turn (a
/// cold path: the call is about to wait).
#[cfg(feature = "rate-limit")]
#[cold]
pub(crate) fn rate_limit_waited(limiter: &std::sync::Arc<str>, wait: std::time::Duration) {
    let key = Key::from_parts(
        RATE_LIMIT_WAIT,
        vec![Label::new(
            "limiter",
            SharedString::from_shared(limiter.clone()),
        )],
    );
    ::metrics::with_recorder(|recorder| {
        recorder
            .register_histogram(&key, &METADATA)
            .record(wait.as_secs_f64());
    });
}

// ---- hedge ------------------------------------------------------------------

/// `tower_failover_hedges_total`: what became of the hedges a `hedge`
/// layer had due, by `outcome` (`sent`, `won`, `budget_exhausted`,
/// `deadline`, `not_ready`).
pub const HEDGES: &str = "tower_failover_hedges_total";
/// `tower_failover_hedge_delay_seconds`: the delay a `hedge` layer waits
/// before hedging a call made now.
pub const HEDGE_DELAY: &str = "tower_failover_hedge_delay_seconds";

/// One hedge layer's handles (one config's, shared by its clones),
/// registered when its config is built.
#[cfg(feature = "hedge")]
pub(crate) struct HedgeMetrics {
    name: SharedString,
    delay: Gauge,
    // `sent`, `won`, `budget_exhausted`, `deadline`, `not_ready`.
    outcomes: [Counter; 5],
}

#[cfg(feature = "hedge")]
impl HedgeMetrics {
    /// Registers the handles of the hedge layer `name`, and sets its delay
    /// gauge to `delay`.
    pub(crate) fn new(name: &std::sync::Arc<str>, delay: std::time::Duration) -> Self {
        let name = SharedString::from_shared(name.clone());
        let counter = |outcome: &'static str| {
            register_counter(
                HEDGES,
                vec![
                    Label::new("hedge", name.clone()),
                    Label::from_static_parts("outcome", outcome),
                ],
            )
        };
        let outcomes = [
            counter("sent"),
            counter("won"),
            counter("budget_exhausted"),
            counter("deadline"),
            counter("not_ready"),
        ];
        let key = Key::from_parts(HEDGE_DELAY, vec![Label::new("hedge", name.clone())]);
        let gauge = ::metrics::with_recorder(|recorder| recorder.register_gauge(&key, &METADATA));
        gauge.set(delay.as_secs_f64());
        Self {
            name,
            delay: gauge,
            outcomes,
        }
    }

    /// A hedge was sent.
    #[inline]
    pub(crate) fn sent(&self) {
        self.outcomes[0].increment(1);
    }

    /// A hedge's answer was returned.
    #[inline]
    pub(crate) fn won(&self) {
        self.outcomes[1].increment(1);
    }

    /// A hedge was due, and the budget was spent.
    #[cold]
    pub(crate) fn budget_exhausted(&self) {
        self.outcomes[2].increment(1);
    }

    /// The deadline left no time for a hedge.
    #[cold]
    pub(crate) fn deadline(&self) {
        self.outcomes[3].increment(1);
    }

    /// The hedge's service failed to get ready.
    #[cold]
    pub(crate) fn not_ready(&self) {
        self.outcomes[4].increment(1);
    }

    /// The delay was recomputed (a percentile delay's refresh).
    #[cold]
    pub(crate) fn delay(&self, delay: std::time::Duration) {
        self.delay.set(delay.as_secs_f64());
    }
}

#[cfg(feature = "hedge")]
impl std::fmt::Debug for HedgeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HedgeMetrics")
            .field("hedge", &&*self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::classify::FailureKind;

    #[test]
    fn kind_index_follows_all() {
        for (i, kind) in FailureKind::ALL.into_iter().enumerate() {
            assert_eq!(super::kind_index(kind), i);
        }
    }
}
