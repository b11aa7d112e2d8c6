//! A lock-free, sliding-window circuit breaker with safe half-open probes.
//!
//! When an upstream is down, sending it more calls only adds latency for
//! the caller and load for the upstream. A [`CircuitBreaker`] watches the
//! outcomes of recent calls and, once too many fail, *opens*: calls are
//! rejected at once with [`CircuitOpen`] (a fallback layer moves on to the
//! next tier without waiting). After a while it lets a few *probe* calls
//! through (*half-open*); if they succeed it closes, otherwise it opens
//! again, for longer.
//!
//! ```text
//!            failure rate, slow-call rate            open period over,
//!            or failures in a row                    next call probes
//!   Closed ─────────────────────────────▶ Open ─────────────────────────▶ HalfOpen
//!     ▲                                     ▲                                │
//!     │                                     └──── probes fail, or take ──────┤
//!     │                                           longer than allowed        │
//!     └──────────────────── every probe answered, under the thresholds ──────┘
//! ```
//!
//! - **What counts** is decided by the shared [classifier](crate::classify):
//!   only failures whose kind
//!   [counts against the breaker](crate::classify::FailureKind::counts_against_breaker)
//!   count as failures (a 5xx, a timeout, a 429, a quota error, an auth
//!   error); a caller's fault (`Invalid`, `ContextTooLong`, …) counts as
//!   nothing at all, and neither does a call whose future was dropped.
//! - **The window** ([`Window`]) is the last *n* calls or the calls of the
//!   last *d*, in buckets; both record in O(1) without a lock, and the
//!   window is only summed after a failed or slow call. Once it holds
//!   [`minimum_calls`](BreakerConfigBuilder::minimum_calls), a failure rate
//!   or a slow-call rate at its threshold opens the breaker;
//!   [`consecutive_failures`](BreakerConfigBuilder::consecutive_failures)
//!   opens it whatever the window says. One
//!   [`QuotaExhausted`](crate::classify::FailureKind::QuotaExhausted)
//!   failure (a 402, or a 429 whose body says `insufficient_quota`, read by
//!   the `llm` feature's error-body layer) opens it at once
//!   ([`TransitionReason::QuotaExhausted`]): no call will pass until
//!   someone pays, so sending more only delays the fallback.
//! - **The open period** grows with each consecutive opening
//!   ([`OpenBackoff`]: exponential, capped, jittered). When a failure that
//!   counts carried a server hint (`retry-after` on a 429, a quota error, a
//!   503), the breaker stays open at least until the hint, up to
//!   [`retry_after_cap`](BreakerConfigBuilder::retry_after_cap).
//! - **Half-open** is entered lazily, by the first call after the open
//!   period (no timer, no background task). It lets
//!   [`half_open_permits`](BreakerConfigBuilder::half_open_permits) probes
//!   through and rejects everything else until all of them have answered.
//!   A probe whose future is dropped, or whose outcome does not count,
//!   gives its permit back at once (an RAII guard in the response future).
//!   A probe that hangs cannot hold the breaker half-open forever: after
//!   [`max_half_open_duration`](BreakerConfigBuilder::max_half_open_duration)
//!   the next call opens it again if a probe is still in flight. An idle
//!   breaker is not punished for its idleness: past the cap with no probe
//!   in flight, the next call is admitted as a probe (the probes that
//!   already answered still count) under a fresh cap.
//! - **Races**: every transition is one compare-and-swap on a word that
//!   holds the state and a generation number, so exactly one caller wins
//!   each transition. Each admitted call remembers the generation it was
//!   admitted in; a result that arrives after the state moved on only
//!   counts in [`Metrics::late_results`], never in a window or a verdict.
//! - **Observing and steering**: a [`BreakerHandle`] reads the state and
//!   the window ([`Metrics`]), forces the breaker open or closed, and
//!   resets it. Every transition is a `tracing` event (fields
//!   `layer = "circuit_breaker"`, `name`, `state`, `from`, `reason`) and
//!   calls the [`on_transition`](BreakerConfigBuilder::on_transition) hook.
//!
//! Admission happens in `call`, never in `poll_ready`: the breaker never
//! makes a caller wait, and `poll_ready` is the inner service's. (A
//! rejected call does not use the readiness it was given; a service that
//! reserves capacity in `poll_ready` keeps it for the next call.)
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::circuit_breaker::{
//!     BreakerConfig, CircuitBreakerLayer, OpenBackoff, State, Window,
//! };
//!
//! let config = BreakerConfig::builder()
//!     .name("openai")
//!     .window(Window::count(20))
//!     .minimum_calls(4)
//!     .failure_rate_threshold(0.5)
//!     .open_backoff(OpenBackoff::constant(Duration::from_secs(30)))
//!     .half_open_permits(1)
//!     .build()?;
//! let layer = CircuitBreakerLayer::new(config);
//! let handle = layer.handle();
//!
//! // An upstream that answers 503.
//! let upstream = service_fn(|_: ()| async {
//!     let response = http::Response::builder().status(503).body(()).unwrap();
//!     Ok::<_, std::io::Error>(response)
//! });
//! let mut service = ServiceBuilder::new().layer(layer).service(upstream);
//!
//! for _ in 0..4 {
//!     let response = service.ready().await?.call(()).await?;
//!     assert_eq!(response.status(), 503);
//! }
//! assert_eq!(handle.state(), State::Open);
//!
//! // Open: rejected at once, without calling the upstream.
//! let error = service.ready().await?.call(()).await.unwrap_err();
//! let open = error.as_open().expect("the breaker rejected the call");
//! assert_eq!(open.name(), "openai");
//! assert_eq!(open.retry_after(), Some(Duration::from_secs(30)));
//! # Ok(())
//! # }
//! ```
//!
//! A breaker per model (or host), created on first use:
//!
//! ```
//! use std::num::NonZeroUsize;
//! use tower::ServiceBuilder;
//! use tower::service_fn;
//! use tower_failover::circuit_breaker::{BreakerConfig, KeyedCircuitBreakerLayer};
//!
//! struct Completion { model: &'static str }
//!
//! let layer = KeyedCircuitBreakerLayer::new(BreakerConfig::default(), |req: &Completion| req.model)
//!     .max_breakers(NonZeroUsize::new(64).unwrap());
//! let handle = layer.handle();
//! let service = ServiceBuilder::new()
//!     .layer(layer)
//!     .service(service_fn(|_: Completion| async {
//!         Ok::<_, std::io::Error>(http::Response::new(()))
//!     }));
//! assert!(handle.get("gpt-4o").is_none()); // no call yet
//! # drop(service);
//! ```
//!
//! # Order
//!
//! Below retry, above the attempt timeout:
//!
//! ```text
//! TimeoutBudgetLayer
//!   FallbackLayer
//!     RetryLayer
//!       CircuitBreakerLayer     one per tier (upstream), or keyed by model
//!         AttemptTimeoutLayer   so that a hung call becomes a counted timeout
//!           client
//! ```
//!
//! Below retry, every attempt is counted, and a [`CircuitOpen`] is never
//! retried on the same tier (it is classified
//! [`CircuitOpen`](crate::classify::FailureKind::CircuitOpen)); the retry
//! layer gives up and the fallback moves on at once.
//!
//! # Errors
//!
//! The service's error is [`BreakerError<E>`]: [`BreakerError::Open`] with
//! a [`CircuitOpen`] (the breaker's name and, while open, how long until it
//! lets a call through), or [`BreakerError::Inner`] with the inner
//! service's error.
//!
//! Why an enum, not a [`BoxError`](crate::BoxError): boxing a
//! `CircuitOpen` (it is not zero-sized) would allocate on every rejection,
//! exactly when the system is under stress. With the enum, a rejection
//! costs no allocation at all: the `CircuitOpen` holds the name as a
//! `&'static str` or a shared `Arc<str>` (one reference-count increment)
//! and an `Option<Duration>`. `BreakerError` converts into a `BoxError` by
//! unwrapping itself (so downcasting to `CircuitOpen` or to the inner error
//! works as if there were no wrapper), and implements
//! [`AsDynError`](crate::classify::AsDynError) so that classifiers see
//! through it without boxing.
//!
//! # Cost
//!
//! A successful call through a closed breaker with a count window costs: at
//! admission, one atomic load and one reference-count increment (the
//! permit); on completion, one load of the state, a `fetch_add` and a
//! `swap` on the window (plus a second `fetch_add` only when the outcome
//! entering the window differs from the one leaving it), one load of the
//! consecutive-failure count, and the permit's reference-count decrement.
//! No clock read, no lock, no allocation. A time window adds a clock read
//! and a compare-and-swap; slow-call tracking adds two clock reads. Only a
//! failed or slow call sums the window (one load for a count window, one
//! per bucket for a time window). The keyed form adds a read lock on its
//! map per call.
//!
//! # Testing with loom
//!
//! The permit and window accounting is model-checked with
//! [loom](https://docs.rs/loom):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --lib circuit_breaker::loom
//! ```
//!
//! (`--cfg loom` switches the breaker's atomics to loom's; it is not part
//! of the normal `cargo test`.)

mod config;
#[cfg(feature = "serde")]
mod de;
mod error;
mod future;
mod handle;
mod keyed;
mod layer;
mod state;
mod sync;
mod window;

#[cfg(all(test, loom))]
mod loom;

use std::task::{Context, Poll};

use tower_service::Service;

pub use self::config::{BreakerConfig, BreakerConfigBuilder, OpenBackoff, Window};
pub use self::error::{BreakerError, CircuitOpen};
pub use self::future::ResponseFuture;
pub use self::handle::{BreakerHandle, Metrics, State, Transition, TransitionReason};
pub use self::keyed::{KeyedCircuitBreaker, KeyedCircuitBreakerLayer, KeyedHandle};
pub use self::layer::CircuitBreakerLayer;

use self::future::Permit;
use self::state::Shared;
use self::sync::Arc;
use crate::classify::{Classify, DefaultClassifier};

/// Fails fast while the upstream is down: see the [module docs](self).
///
/// Clones share the breaker.
#[derive(Clone, Debug)]
pub struct CircuitBreaker<S, C = DefaultClassifier> {
    inner: S,
    shared: Arc<Shared>,
    classifier: C,
}

impl<S> CircuitBreaker<S> {
    /// A new breaker with `config` around `inner`, classifying results with
    /// [`DefaultClassifier`].
    pub fn new(inner: S, config: BreakerConfig) -> Self {
        Self::from_parts(inner, Arc::new(Shared::new(config)), DefaultClassifier)
    }
}

impl<S, C> CircuitBreaker<S, C> {
    /// A new breaker with `config` around `inner`, classifying results with
    /// `classifier`.
    pub fn with_classifier(inner: S, config: BreakerConfig, classifier: C) -> Self {
        Self::from_parts(inner, Arc::new(Shared::new(config)), classifier)
    }

    fn from_parts(inner: S, shared: Arc<Shared>, classifier: C) -> Self {
        Self {
            inner,
            shared,
            classifier,
        }
    }

    /// A handle on this breaker.
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle::new(self.shared.clone())
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the breaker (the breaker lives on in
    /// its other clones and handles).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, Req> Service<Req> for CircuitBreaker<S, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        admit(&self.shared, &mut self.inner, req, &self.classifier)
    }
}

/// A breaker's state as `admit` gets it: borrowed (a single breaker, whose
/// `Arc` is cloned for the permit only when the call is admitted) or owned
/// (a keyed breaker, just looked up, moved into the permit).
trait SharedArc {
    fn get(&self) -> &Shared;
    fn into_arc(self) -> Arc<Shared>;
}

impl SharedArc for &Arc<Shared> {
    #[inline]
    fn get(&self) -> &Shared {
        self
    }

    #[inline]
    fn into_arc(self) -> Arc<Shared> {
        self.clone()
    }
}

impl SharedArc for Arc<Shared> {
    #[inline]
    fn get(&self) -> &Shared {
        self
    }

    #[inline]
    fn into_arc(self) -> Arc<Shared> {
        self
    }
}

/// Admits (or rejects) one call to `inner` under `shared`.
#[inline]
fn admit<S, C, Req>(
    shared: impl SharedArc,
    inner: &mut S,
    req: Req,
    classifier: &C,
) -> ResponseFuture<S::Future, C>
where
    S: Service<Req>,
    C: Clone,
{
    match shared.get().acquire() {
        Ok(ticket) => {
            let permit = Permit::new(shared.into_arc(), ticket);
            ResponseFuture::calling(inner.call(req), permit, classifier.clone())
        }
        Err(open) => ResponseFuture::rejected(open, classifier.clone()),
    }
}
