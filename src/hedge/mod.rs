//! Hedged requests: when the first attempt is slow, send a second one and
//! take whichever acceptable answer comes first.
//!
//! A long-tail upstream (an LLM API whose p99 is ten times its median)
//! makes a few calls very slow for no reason the caller can fix. [`Hedge`]
//! sends the request; if no answer came after a [delay](HedgeDelay) (fixed,
//! or a percentile of recent calls' latencies), it sends a copy — a
//! *hedge* — to a clone of the same service or to an
//! [alternate](HedgeLayer::alternate) one (the next tier: another
//! provider), up to [`max_hedges`](HedgeConfigBuilder::max_hedges) times, a
//! delay apart, as long as no attempt has failed. The first acceptable
//! answer wins; every other attempt, and any failure kept so far, is
//! dropped (cancelled) at once.
//!
//! - **Acceptable** is what the [classifier](crate::classify) calls a
//!   success, or a failure that another attempt would only repeat (one
//!   that does not [fall back](crate::classify::FailureKind::may_fall_back):
//!   the caller's bad request). Any other failure (a 503, a rate limit, a
//!   timeout) is kept while another attempt is in flight, and the call
//!   waits for that one; from then on no further hedge is sent (hedging is
//!   for slow answers; retrying failed ones, with backoff and the server's
//!   hints, is the [retry layer](crate::retry)'s job).
//! - **When every attempt fails**, the call returns the most telling
//!   failure, deterministically whatever the order they finished in: a
//!   response (a 503) beats an error, an upstream's error beats this
//!   crate's own rejection (an open circuit), and between equals the
//!   earlier attempt's wins (the first attempt's before any hedge's). A
//!   first attempt that fails before any hedge was sent is returned at
//!   once.
//! - **The budget.** Each hedge withdraws one retry from a
//!   [`RetryBudget`](crate::retry::RetryBudget) when it is sent: after the
//!   delay, once the hedge's service is ready; a call that ends before then
//!   costs nothing, and with the budget spent the hedge is not sent (it
//!   counts as [suppressed](HedgeHandle::suppressed_by_budget)). With the
//!   layer's own budget ([`budget`](HedgeConfigBuilder::budget), or the
//!   default one), each call deposits one request, so hedges stay within
//!   `min_per_sec × ttl + ratio × calls` over the budget's window. Under a
//!   [`RetryLayer`](crate::retry::RetryLayer), give the retry policy's
//!   budget with [`shared_budget`](HedgeConfigBuilder::shared_budget)
//!   instead: the hedge layer then only withdraws, the retry layer deposits
//!   once per logical call, and retries and hedges *together* stay within
//!   `min_per_sec × ttl + ratio × logical calls`.
//! - **The deadline.** A hedge is not sent when the [`Deadline`] passes
//!   before the hedge's delay is over (it could not finish in time), nor
//!   when it has passed by the time the hedge's service is ready.
//! - **Idempotency.** A hedge sends the request twice, so only requests
//!   that may be sent twice are hedged: [`ShouldHedge`] decides, by default
//!   every `http::Request` that does not carry [`NoHedge`] in its
//!   extensions (for other request types, pass [`AlwaysHedge`] or a
//!   closure). A request that cannot be copied ([`Replay`]
//!   returns `None`) is sent once. An LLM chat completion is safe to hedge
//!   only if the caller accepts paying for it twice; behind an
//!   `llm::idempotency::IdempotencyLayer` (with the `llm` feature) both
//!   attempts carry one idempotency key, so an upstream that honours it
//!   does the work once.
//!
//! # The delay
//!
//! With [`HedgeDelay::Percentile`], the first hedge's delay counts from
//! the call (`Service::call`), the time the call's latency is measured
//! from. With [`HedgeDelay::Fixed`], calls are not timed (no clock read on
//! the happy path), so the first hedge's delay counts from the first poll
//! that finds the first attempt pending — the same instant when the future
//! is polled as soon as it is made, as `ServiceExt::oneshot`, `.await` and
//! the layers above do. Each further hedge is due a delay after the one
//! before was sent.
//!
//! The percentile is of successful calls' latencies, measured from the
//! call: the first attempt's, when it answers; when a hedge wins while the
//! first attempt is still in flight, the time elapsed so far, a lower
//! bound of the first attempt's latency (so that the share of calls slower
//! than the delay is kept, and the estimate is not dragged down by the
//! hedges it triggers); nothing when the first attempt failed. It is
//! recomputed when `min_samples` successes were recorded, then at every
//! 64th success or at the first success more than a second after the last
//! computation, whichever comes first.
//!
//! # Observability
//!
//! Every decision emits a `tracing` event at debug level with
//! `layer = "hedge"`, `outcome` and `attempt` (1 for the first attempt, 2
//! for the first hedge…):
//!
//! | `outcome` | when | other fields |
//! |---|---|---|
//! | `hedged` | a hedge was sent | `delay_ms` |
//! | `budget_exhausted` | a hedge was due, the budget was spent | `delay_ms` |
//! | `deadline` | a hedge could not finish before the deadline | `delay_ms` |
//! | `not_ready` | the hedge's service failed to get ready | |
//! | `won` | a hedge's answer was returned | |
//! | `all_failed` | every attempt failed; `attempt` is the one returned | `kind` |
//! | `not_hedgeable`, `not_replayable`, `deadline` | at the call, no hedge will be sent (no `attempt`) | |
//!
//! A [`HedgeHandle`] counts calls, hedges sent, hedges that won and hedges
//! the budget stopped.
//!
//! With the `metrics` feature, each layer also records, labelled `hedge` =
//! its [name](HedgeConfigBuilder::name) (see [`crate::metrics`]):
//!
//! - `tower_failover_hedges_total{outcome}`: `sent`, `won`,
//!   `budget_exhausted`, `deadline` and `not_ready`, counted where the
//!   events of the same outcome are emitted (`sent` is the event
//!   `hedged`). The call-time `not_hedgeable` and `not_replayable` are not
//!   counted: they say what a request is, not what became of a hedge.
//! - `tower_failover_hedge_delay_seconds`, a gauge: the delay a call made
//!   now would wait ([`HedgeHandle::current_delay`]), set when the config
//!   is built (the fixed delay, or a percentile's fallback) and each time
//!   a percentile delay is recomputed.
//!
//! Both are registered when the config is built: install the recorder
//! before building it.
//!
//! # Cost
//!
//! The happy path is cheap: a call answered before the delay allocates
//! nothing and arms no timer if the first poll finds the answer ready. A
//! call that may be hedged copies the request once (nothing for a `Copy`
//! request) and clones the hedge's service (the wrapped one, or the
//! [alternate](HedgeLayer::alternate)) — keep it cheap to clone, as tower
//! services usually are (an `Arc` or a handle). A hedge boxes its future.
//! With a percentile delay, a call also reads the clock twice and records
//! its latency in a lock-free histogram of atomic counters.
//!
//! With the `metrics` feature, a call answered before the delay records
//! nothing, unless the deadline was already shorter than the delay
//! (`deadline`); each hedge sent, won or given up increments a counter
//! registered with the config (no lookup, no allocation), and a
//! percentile delay's recomputation sets the gauge.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::hedge::{HedgeConfig, HedgeDelay, HedgeLayer};
//!
//! // An upstream whose first call takes 10 s, and the others 20 ms.
//! let calls = Arc::new(AtomicU32::new(0));
//! let upstream = service_fn({
//!     let calls = calls.clone();
//!     move |_: http::Request<()>| {
//!         let n = calls.fetch_add(1, Ordering::SeqCst);
//!         async move {
//!             let ms = if n == 0 { 10_000 } else { 20 };
//!             tokio::time::sleep(Duration::from_millis(ms)).await;
//!             Ok::<_, std::io::Error>(http::Response::new(n))
//!         }
//!     }
//! });
//!
//! let config = HedgeConfig::builder(HedgeDelay::Fixed(Duration::from_millis(100)))
//!     .build()
//!     .unwrap();
//! let handle = config.handle();
//! let service = ServiceBuilder::new().layer(HedgeLayer::new(config)).service(upstream);
//!
//! let start = tokio::time::Instant::now();
//! let response = service.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(*response.body(), 1); // the hedge's answer
//! assert_eq!(start.elapsed(), Duration::from_millis(120));
//! assert_eq!((handle.hedges_sent(), handle.hedges_won()), (1, 1));
//! # }
//! ```
//!
//! # Order
//!
//! Below `deadline::TimeoutBudgetLayer` (with the `timeout-budget`
//! feature; so the deadline is seen) and the [`RetryLayer`](crate::retry::RetryLayer)
//! (so each attempt is hedged, and retries and hedges share one budget:
//! see [`shared_budget`](HedgeConfigBuilder::shared_budget)),
//! above the `CircuitBreakerLayer` (with the `circuit-breaker` feature)
//! and `deadline::AttemptTimeoutLayer` (so each hedge passes the breaker and is timed on its own):
//!
//! ```text
//! TimeoutBudgetLayer
//!   RetryLayer
//!     HedgeLayer            a second attempt after the delay
//!       CircuitBreakerLayer
//!         AttemptTimeoutLayer
//!           client
//! ```
//!
//! # Errors
//!
//! `Hedge` returns its inner service's error type unchanged: the answer
//! that won, or the most telling failure (see above). An error from the
//! hedge service's `poll_ready` is that hedge's answer. The settings are
//! validated when the config is built ([`InvalidConfig`](crate::InvalidConfig)).

mod config;
#[cfg(feature = "serde")]
mod de;
mod future;
mod latency;
mod layer;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

pub use self::config::{
    AlwaysHedge, DefaultShouldHedge, HedgeConfig, HedgeConfigBuilder, HedgeDelay, HedgeHandle,
    MAX_HEDGES_LIMIT, NoHedge, ShouldHedge,
};
pub use self::future::ResponseFuture;
pub use self::layer::{Alternate, HedgeLayer, SameService};
use crate::classify::{Classify, DefaultClassifier};
use crate::deadline::Deadline;
use crate::retry::{CloneReplay, Replay};

/// What every clone of a [`Hedge`] and its futures share.
struct Shared<C, R, P> {
    config: HedgeConfig<C, P>,
    replay: R,
}

/// Sends a hedge when the first attempt is slow. See the
/// [module docs](self).
pub struct Hedge<S, A = S, C = DefaultClassifier, R = CloneReplay, P = DefaultShouldHedge> {
    inner: S,
    alternate: A,
    shared: Arc<Shared<C, R, P>>,
}

impl<S: Clone, C, P> Hedge<S, S, C, CloneReplay, P> {
    /// Wraps `inner`, hedging to a clone of it, copying requests by
    /// cloning them.
    pub fn new(inner: S, config: HedgeConfig<C, P>) -> Self {
        Self::from_parts(
            inner.clone(),
            inner,
            Arc::new(Shared {
                config,
                replay: CloneReplay,
            }),
        )
    }
}

impl<S, A, C, P> Hedge<S, A, C, CloneReplay, P> {
    /// Wraps `inner`, hedging to `alternate`, copying requests by cloning
    /// them.
    pub fn with_alternate(inner: S, alternate: A, config: HedgeConfig<C, P>) -> Self {
        Self::from_parts(
            inner,
            alternate,
            Arc::new(Shared {
                config,
                replay: CloneReplay,
            }),
        )
    }
}

impl<S, A, C, R, P> Hedge<S, A, C, R, P> {
    fn from_parts(inner: S, alternate: A, shared: Arc<Shared<C, R, P>>) -> Self {
        Self {
            inner,
            alternate,
            shared,
        }
    }

    /// The config.
    pub fn config(&self) -> &HedgeConfig<C, P> {
        &self.shared.config
    }

    /// A handle on the counters.
    pub fn handle(&self) -> HedgeHandle {
        self.shared.config.handle()
    }

    /// A reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, A: Clone, C, R, P> Clone for Hedge<S, A, C, R, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            alternate: self.alternate.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, A: fmt::Debug, C: fmt::Debug, R: fmt::Debug, P: fmt::Debug> fmt::Debug
    for Hedge<S, A, C, R, P>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("inner", &self.inner)
            .field("alternate", &self.alternate)
            .field("config", &self.shared.config)
            .field("replay", &self.shared.replay)
            .finish()
    }
}

impl<S, A, C, R, P, Req> Service<Req> for Hedge<S, A, C, R, P>
where
    S: Service<Req>,
    A: Service<Req, Response = S::Response, Error = S::Error> + Clone,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
    P: ShouldHedge<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, A, Req, C, R, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let shared = &*self.shared;
        let state = shared.config.state();
        state.calls.fetch_add(1, Ordering::Relaxed);
        if shared.config.deposits() {
            shared.config.budget().deposit();
        }
        let delay = state.delay();
        let skip = |reason: &'static str| {
            tracing::debug!(layer = "hedge", outcome = reason);
            None
        };
        let kept = if !shared.config.should_hedge().should_hedge(&request) {
            skip("not_hedgeable")
        } else if Deadline::current().is_some_and(|deadline| deadline.remaining() <= delay) {
            #[cfg(feature = "metrics")]
            state.metrics.deadline();
            skip("deadline")
        } else {
            match shared.replay.replay(&request) {
                Some(copy) => Some(copy),
                None => skip("not_replayable"),
            }
        };
        let alternate = kept.as_ref().map(|_| self.alternate.clone());
        let start = state.timed().then(Instant::now);
        let future = self.inner.call(request);
        ResponseFuture::new(future, kept, alternate, self.shared.clone(), delay, start)
    }
}
