//! Caller-side rate limiting: a shared token bucket on requests and on a
//! per-request cost (LLM tokens) that learns the upstream's own limits from
//! its responses.
//!
//! An LLM provider limits each API key to so many requests and so many
//! tokens a minute, and answers a 429 past that. Sending calls that will be
//! refused wastes the deadline, the retry budget and, with a breaker below,
//! the upstream's standing. A [`RateLimit`] keeps the caller under the
//! limit instead:
//!
//! - **Shared.** The buckets live in the layer: every service it builds and
//!   every clone of those draws from the same budget (`tower::limit::RateLimit`
//!   gives each clone its own bucket, so N clones send N times the rate).
//!   Build one layer per provider key, or key one by provider and model with
//!   [`KeyedRateLimitLayer`].
//! - **Requests and tokens.** [`requests`](RateLimitConfigBuilder::requests)
//!   limits calls; [`tokens`](RateLimitConfigBuilder::tokens) adds a second
//!   bucket charged by the layer's [cost function](RateLimitLayer::cost)
//!   (say, prompt length / 4 + `max_tokens`). A call passes when both
//!   buckets have room. A call that costs more than the token bucket's
//!   burst can never pass and is refused at once.
//! - **Wait, up to a bound, or fail fast.** A call that cannot pass at once
//!   reserves its turn and waits for it, if that turn comes within
//!   [`max_wait`](RateLimitConfigBuilder::max_wait) **and** before the
//!   [current deadline](crate::deadline::Deadline::current); otherwise it is
//!   refused at once with [`RateLimited`], carrying how long until it could
//!   pass. `max_wait(Duration::ZERO)` always fails fast. Dropping the last
//!   waiting call gives its turn back: the next caller is not delayed by
//!   it. (A dropped call with others waiting after it leaves its slot
//!   unused rather than let two calls share one.)
//! - **Adapting** (on by default, see [below](#adapting)): the upstream's
//!   rate-limit headers tell the bucket what the provider will accept, so
//!   that it does not send what the provider said it would refuse.
//!
//! Each bucket is GCRA (the generic cell rate algorithm, a token bucket kept
//! as one "theoretical arrival time"): `count` units per `per` spread evenly,
//! with up to `burst` (default: `count`) at once after a quiet spell. Over
//! any long window the bucket admits `burst + window × count / per` units at
//! most, and exactly that many when callers keep it busy.
//!
//! # Adapting
//!
//! After each successful response (an `Ok`, whatever its status), the layer's
//! [`ReadLimits`] reader says what the upstream said; [`HeaderLimits`], the
//! default, reads:
//!
//! | header | effect |
//! |---|---|
//! | `x-ratelimit-remaining-requests` + `x-ratelimit-reset-requests` (OpenAI, Go durations like `6m0s`) | at most *remaining* requests until the reset |
//! | `x-ratelimit-remaining-tokens` + `x-ratelimit-reset-tokens` | at most *remaining* tokens until the reset |
//! | `anthropic-ratelimit-requests-remaining` + `-requests-reset` (RFC 3339) | as OpenAI's |
//! | `anthropic-ratelimit-tokens-remaining` + `-tokens-reset` (else `-input-tokens-`) | as OpenAI's |
//! | `retry-after` and the other [hints](crate::hint) of a **429** | no request at all until then |
//!
//! A remaining count of `0` stops the bucket until the reset; a count of
//! *r* lets at most *r* more through before it (on top of, never instead
//! of, the configured rate); after the reset the configured rate applies
//! again. A 429's `retry-after` **pauses** every request until then, on its
//! own: a later response cannot shorten a pause, nor a pause end a count.
//!
//! What exactly holds:
//!
//! - **Calls in flight are counted.** The upstream's count was made when it
//!   answered a call; every call the limiter admitted after that call (in
//!   flight, waiting, or answered already) is taken off it. So after a
//!   response says *r*, at most *r* calls admitted after the one it
//!   answered pass while its count runs, counting those already sent.
//! - **The strictest word wins.** A new count replaces the running one
//!   unless the running one leaves as few or fewer and ends as late or
//!   later; a response to a call admitted *before* the one whose response
//!   set the running count (an out-of-order answer) only replaces it if it
//!   is stricter in both. Pauses only ever grow.
//! - **Best effort beyond that.** The limiter cannot see other clients of
//!   the same key, nor calls it did not admit; two responses applied at
//!   the same instant on two threads may keep the looser one. Calls
//!   admitted and then given up (dropped, or refused by the token bucket)
//!   still count against later responses: more cautious, never less.
//!
//! A remaining count above 134,217,727 counts as that many. Waits are
//! capped at [`MAX_HINT`](crate::hint::MAX_HINT), and a count learnt more
//! than four years after the limiter was built ends at once (the
//! configured rate applies). **Garbage is ignored**: a limit whose
//! remaining count is not plain digits, or whose reset does not parse (or
//! is absurd), is read as absent, and the bucket keeps its configured rate.
//! Turn adapting off with [`adapt(false)`](RateLimitConfigBuilder::adapt),
//! or read other responses with [`limits_from`](RateLimitLayer::limits_from).
//!
//! **Clocks.** The buckets run on tokio's clock (so paused time in tests
//! moves them), but Anthropic's RFC 3339 resets are absolute times, read
//! against the wall clock ([`SystemTime::now`](std::time::SystemTime::now))
//! when the response arrives and turned into a wait from then. With tokio's
//! time paused, that wait is fixed at arrival and then runs on paused time;
//! a test that needs an exact reset builds its [`Limits`] with
//! [`Limits::from_headers_at`] and a reader of its own.
//!
//! # Examples
//!
//! Three calls a second, shared by two clones, failing fast:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower_failover::BoxError> {
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::rate_limit::{RateLimitConfig, RateLimitLayer};
//!
//! let config = RateLimitConfig::builder()
//!     .name("openai")
//!     .requests(3, Duration::from_secs(1))
//!     .max_wait(Duration::ZERO)
//!     .build()?;
//! let layer = RateLimitLayer::new(config);
//! let upstream = service_fn(|_: ()| async {
//!     Ok::<_, std::io::Error>(http::Response::new(()))
//! });
//! let mut a = ServiceBuilder::new().layer(layer.clone()).service(upstream);
//! let mut b = a.clone();
//!
//! a.ready().await?.call(()).await?;
//! b.ready().await?.call(()).await?;
//! a.ready().await?.call(()).await?;
//! let error = b.ready().await?.call(()).await.unwrap_err();
//! let limited = error.as_limited().expect("refused by the limiter");
//! assert_eq!(limited.retry_after(), Some(Duration::from_nanos(333_333_334)));
//! # Ok(())
//! # }
//! ```
//!
//! Adapting to an OpenAI response that says no request is left for two
//! seconds:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower_failover::BoxError> {
//! use std::time::Duration;
//! use tower::{ServiceExt, service_fn};
//! use tower_failover::rate_limit::{RateLimitConfig, RateLimitLayer};
//! use tower_layer::Layer;
//!
//! let config = RateLimitConfig::builder()
//!     .requests(100, Duration::from_secs(1))
//!     .max_wait(Duration::from_secs(5))
//!     .build()?;
//! let layer = RateLimitLayer::new(config);
//! let handle = layer.handle();
//! let service = layer.layer(service_fn(|_: ()| async {
//!     let response = http::Response::builder()
//!         .header("x-ratelimit-remaining-requests", "0")
//!         .header("x-ratelimit-reset-requests", "2s")
//!         .body(())
//!         .unwrap();
//!     Ok::<_, std::io::Error>(response)
//! }));
//!
//! service.clone().oneshot(()).await?;
//! assert_eq!(handle.paused_for(), Some(Duration::from_secs(2)));
//! let started = tokio::time::Instant::now();
//! service.oneshot(()).await?; // waits for the reset
//! assert_eq!(started.elapsed(), Duration::from_secs(2));
//! # Ok(())
//! # }
//! ```
//!
//! # Order
//!
//! Per tier (provider), below retry and above the circuit breaker:
//!
//! ```text
//! TimeoutBudgetLayer
//!   FallbackLayer
//!     RetryLayer
//!       RateLimitLayer          one per provider key, or keyed by model
//!         CircuitBreakerLayer
//!           AttemptTimeoutLayer
//!             client
//! ```
//!
//! Below the deadline, a call never waits past it. Below retry, each
//! attempt takes its turn, and a [`RateLimited`] refusal is classified
//! [`RateLimited`](crate::classify::FailureKind::RateLimited) with its wait
//! as the hint: the retry layer waits that long (or, above its cap, gives
//! up) and the fallback moves on at once. Above the breaker, a refusal never
//! reaches it, and the responses the limiter reads are the upstream's.
//!
//! Below a circuit breaker the limiter works too: its refusals are
//! classified as [caller-side](crate::classify::Failure::caller_side)
//! failures, which no breaker counts (the upstream was never called), so a
//! breaker above does not open on a healthy upstream
//! ([`Failure::is_caller_side`](crate::classify::Failure::is_caller_side)
//! tells them apart). A [`LeastLatency`](crate::fallback::LeastLatency)
//! route does count them against the tier: it could not take the call.
//! The two orders differ in one thing: above the breaker, a call that the
//! open breaker then rejects has already taken its slot of the bucket (the
//! limiter errs towards sending less); below it, the breaker's rejections
//! cost nothing.
//!
//! Waiting happens in the response future, after `poll_ready`: the inner
//! service made ready is moved into the future (and a clone left in its
//! place), so a service that reserves capacity in `poll_ready` keeps it
//! while the call waits.
//!
//! # Errors
//!
//! The service's error is [`RateLimitError<E>`]: [`RateLimitError::Limited`]
//! with a [`RateLimited`], or [`RateLimitError::Inner`] with the inner
//! service's error. It converts into a [`BoxError`](crate::BoxError) by
//! unwrapping itself, so `downcast_ref::<RateLimited>()` works on the box.
//!
//! # Cost
//!
//! A call that passes at once costs one clock read (tokio's, so that paused
//! time in tests moves the bucket), one load of the pause and one
//! compare-and-swap per bucket (with a token bucket, both buckets are
//! first checked without writing); no lock, no allocation, no reference
//! count unless the limiter adapts. When it adapts (and its reader is not
//! [`NoLimits`]), each bucket also counts what it admitted (one atomic
//! add), each call clones the limiter's `Arc` into its future and each
//! response's headers are scanned once for the rate-limit names (no
//! lookup, no allocation); the clock is read again only when a limit was
//! found. A waiting call also reads the deadline, clones the inner service
//! and allocates its timer (it is about to wait milliseconds anyway).

mod bucket;
mod config;
mod cost;
#[cfg(feature = "serde")]
mod de;
mod error;
mod future;
mod handle;
mod keyed;
mod layer;
mod limits;
mod shared;

use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

pub use self::config::{RateLimitConfig, RateLimitConfigBuilder};
pub use self::cost::{Cost, NoCost};
pub use self::error::{RateLimitError, RateLimited};
pub use self::future::ResponseFuture;
pub use self::handle::RateLimitHandle;
pub use self::keyed::{KeyedRateLimit, KeyedRateLimitHandle, KeyedRateLimitLayer};
pub use self::layer::RateLimitLayer;
pub use self::limits::{HeaderLimits, Limits, NoLimits, ReadLimits};

use self::future::Reservation;
use self::shared::{Admission, Shared};

/// Keeps calls under a shared rate: see the [module docs](self).
///
/// Clones share the limiter.
#[derive(Clone)]
pub struct RateLimit<S, A = HeaderLimits, K = NoCost> {
    inner: S,
    shared: Arc<Shared>,
    limits: A,
    cost: K,
}

impl<S> RateLimit<S> {
    /// A new limiter with `config` around `inner`, reading HTTP headers.
    pub fn new(inner: S, config: RateLimitConfig) -> Self {
        Self::from_parts(inner, Arc::new(Shared::new(config)), HeaderLimits, NoCost)
    }
}

impl<S, A, K> RateLimit<S, A, K> {
    fn from_parts(inner: S, shared: Arc<Shared>, limits: A, cost: K) -> Self {
        Self {
            inner,
            shared,
            limits,
            cost,
        }
    }

    /// A handle on this limiter.
    pub fn handle(&self) -> RateLimitHandle {
        RateLimitHandle::new(self.shared.clone())
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the limiter (which lives on in its
    /// other clones and handles).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: std::fmt::Debug, A, K> std::fmt::Debug for RateLimit<S, A, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl<S, A, K, Req> Service<Req> for RateLimit<S, A, K>
where
    S: Service<Req> + Clone,
    A: ReadLimits<S::Response> + Clone,
    K: Cost<Req>,
{
    type Response = S::Response;
    type Error = RateLimitError<S::Error>;
    type Future = ResponseFuture<S, Req, A>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(RateLimitError::Inner)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        admit(&self.shared, &mut self.inner, req, &self.limits, &self.cost)
    }
}

/// Admits (or refuses) one call to `inner` under `shared`.
#[inline]
fn admit<S, A, K, Req>(
    shared: &Arc<Shared>,
    inner: &mut S,
    req: Req,
    limits: &A,
    cost: &K,
) -> ResponseFuture<S, Req, A>
where
    S: Service<Req> + Clone,
    A: ReadLimits<S::Response> + Clone,
    K: Cost<Req>,
{
    let adapting = shared.adapt && limits.enabled();
    let admission = match shared.admit(cost.cost(&req), adapting) {
        Ok(admission) => admission,
        Err(limited) => return ResponseFuture::limited(limited),
    };
    let adapt = |stamps| adapting.then(|| (shared.clone(), limits.clone(), stamps));
    match admission {
        Admission::Now { stamps } => ResponseFuture::calling(inner.call(req), adapt(stamps)),
        Admission::At { at, reserved } => {
            let adapt = adapt([reserved[0].stamp, reserved[1].stamp]);
            // Clone-and-swap: the service made ready goes into the future.
            let clone = inner.clone();
            let ready = std::mem::replace(inner, clone);
            ResponseFuture::waiting(
                Box::pin(tokio::time::sleep_until(at)),
                ready,
                req,
                Reservation::new(shared.clone(), reserved),
                adapt,
            )
        }
    }
}
