//! Fall back along a short, explicit, ordered list of tiers: another
//! model, another provider, a cheap baseline, and optionally a static
//! degraded answer.
//!
//! [`Fallback`] sends each request to its inner service, the *primary*
//! (tier 1). If the [classifier](crate::classify) calls the result a
//! failure that may fall back, it sends a copy of the request to the next
//! [`Tier`], and so on down the list, until a tier succeeds. What moves on
//! is the "fall back" column of [`FailureKind`](crate::classify::FailureKind):
//!
//! - an open circuit ([`CircuitOpen`](crate::classify::FailureKind::CircuitOpen)) moves on
//!   at once, with no wait: the breaker answered without calling anyone;
//! - the caller's own fault ([`Invalid`](crate::classify::FailureKind::Invalid), a 400)
//!   would fail everywhere, so it is returned as it is;
//! - a [`ContextTooLong`](crate::classify::FailureKind::ContextTooLong) failure moves only to
//!   tiers whose [guard](Tier::guard) accepts the request (a larger window);
//! - a [`ContentFiltered`](crate::classify::FailureKind::ContentFiltered) failure is returned,
//!   unless [`fall_back_on_content_filter`](FallbackBuilder::fall_back_on_content_filter)
//!   is set;
//! - every other failure (5xx, rate limit, overload, timeout, quota, auth, a
//!   missing model) moves on;
//! - once the [`Deadline`](crate::deadline::Deadline) is spent, nothing
//!   moves on: the layer returns the most telling failure so far (an
//!   upstream's response before an error, an upstream's error before this
//!   crate's rejections), or [`DeadlineExceeded`](crate::deadline::DeadlineExceeded)
//!   when it has no response to show. The layer watches the deadline
//!   itself, so this holds even when a tier hangs past it: the tier's call
//!   is dropped and the answer is ready at the deadline, before the
//!   [`TimeoutBudget`](crate::deadline::TimeoutBudget) above gives up.
//!
//! When no tier is left, or the deadline is spent, the layer returns the
//! most telling failure, or the
//! [static response](FallbackBuilder::static_response) if there is one.
//!
//! The most telling failure is kept while later tiers run; a response keeps
//! its body (and, for a streamed body, its connection) until then. Put the
//! layer that reads error bodies inside each tier so that those bodies are
//! small and already buffered.
//!
//! Each tier may [rewrite](Tier::rewrite) its copy of the request (the
//! `model` field, the base URL, the auth header), have a
//! [timeout](Tier::timeout) for the whole tier (clipped by the deadline)
//! and a [guard](Tier::guard) that skips it for requests it cannot serve.
//! The list is capped at [`MAX_TIERS`]; a [`FallbackGraph`] builds the tiers
//! from a gateway's "model → fallbacks" configuration and rejects cycles.
//!
//! # Who served
//!
//! Every `http::Response` the layer returns carries a [`ServedBy`] in its
//! extensions: the tier's position and name, and how many calls the
//! request took (see [`RecordServedBy`] for other response types). A
//! [`FallbackHandle`] counts, per tier, the responses served, the failures
//! and the skips, and how many requests fell back at all. Every decision
//! after a failure emits a `tracing` event (`layer = "fallback"`, `tier`,
//! `name`, `outcome` = `failure`, `fallback`, `skipped`, `served`,
//! `returned`, `static`, `exhausted`, `deadline` or `no_route`, `kind` or `reason`,
//! `attempts`); a primary that serves at once emits nothing.
//!
//! # Readiness and cost
//!
//! `poll_ready` is the primary's alone: a backup never delays it. A tier is
//! made ready only when the request reaches it, on a clone of its service,
//! and its timeout counts the wait for readiness too. The primary's
//! service must be `Clone` for [`Fallback`] to be a `Service`, with or
//! without a [route](#routing): a route may put the primary after another
//! tier, and which order a request gets is known only at `call`.
//!
//! Following tower's contract, a primary that is not ready holds the
//! caller in `poll_ready`, and one whose `poll_ready` fails fails the
//! service: no request reaches the tiers. If the primary sits behind a
//! concurrency limit or a buffer, put `tower::load_shed` on it, so that a
//! saturated primary answers at once with an error (classified
//! [`Transient`](crate::classify::FailureKind::Transient)) and the request
//! falls back.
//!
//! The layer copies the request once before the primary's call (through a
//! [`Replay`], `Clone` by default; not at all without tiers) and once more
//! for each tier that may be followed by another. A request that cannot be
//! copied is served by the primary alone (or the static response); the
//! tiers count it as skipped and an event says so.
//!
//! On the happy path the layer adds one counter increment and no clock
//! read (the timer is armed only if a tier is still pending when polled).
//! Recording [`ServedBy`] in an `http::Response`'s extensions costs three
//! small allocations in `http`'s extension map (about 100 ns); turn it off
//! with [`record(())`](FallbackBuilder::record).
//!
//! # Routing
//!
//! By default every request tries the primary, then the tiers in the order
//! they were added. A [`Route`] set with
//! [`route`](FallbackBuilder::route) decides the order per request instead,
//! so that routing and fallback are one mechanism: the route picks the
//! first tier, and a failure that may fall back moves to the next in the
//! route's order. A route may also leave tiers out.
//!
//! | policy | first tier | left out | settings |
//! |---|---|---|---|
//! | [`Static`] (default) | the primary, then the configured order | none | — |
//! | [`Weighted`] | drawn by weight; the rest in configured order | none | one weight per tier, seedable |
//! | [`LeastLatency`] | the lowest latency estimate (peak EWMA); untried tiers first | none | half-life, failure penalty |
//! | [`CostAware`] | the cheapest that fits the request's budget | tiers over budget | cost per tier, budget and size per request |
//! | [`Capability`] | configured order | tiers whose [guard](Tier::guard) refuses the request, the primary's own guard included | a guard for the primary |
//!
//! Whatever the order:
//!
//! - the primary may come anywhere; when it is not first, the tier that is
//!   first is called at once. The primary's service that the caller's
//!   `poll_ready` made ready moves into the response future and is called
//!   when its turn comes, and a clone takes its place in the [`Fallback`],
//!   to be made ready for the next request. Whatever the ready service
//!   reserved (a `ConcurrencyLimit` permit, a `Buffer` slot) is therefore
//!   held while the tiers before it run, goes with the primary's call, and
//!   is released if the future is dropped first. An order that leaves the
//!   primary out leaves the ready service in the [`Fallback`], still
//!   holding what it reserved, for the next request. `poll_ready` is still
//!   the primary's alone: a backup never delays it;
//! - guards and [`ContextTooLong`](crate::classify::FailureKind::ContextTooLong)
//!   still apply on the way down (the primary counts as a tier without a
//!   guard), and the static response, if any, stays last;
//! - an order left empty (no tier fits the budget, none can serve the
//!   request) calls no one and answers [`NoRoute`] at once; the static
//!   response does not stand in, as no tier failed;
//! - [`ServedBy`] and the [`FallbackHandle`]'s counters keep the configured
//!   positions and names; [`fell_back`](FallbackHandle::fell_back) counts
//!   requests that moved past the first tier tried. A tier the route left
//!   out is not counted as [skipped](TierStats::skipped): that counter
//!   stays about the way down after a failure.
//!
//! [`Routing`] names the policies that need no code (static, weighted,
//! least latency) so that configuration can choose one; with the `serde`
//! feature it deserializes from `"static"`, `"least_latency"`,
//! `{ least_latency = { half_life, failure_penalty } }` or
//! `{ weighted = [3, 1] }`.
//!
//! What a route costs:
//!
//! - [`Static`] (or no route, or [`Routing::Static`]) is not kept at all:
//!   no order is computed, nothing extra is cloned or locked, and the happy
//!   path costs what it does without routing;
//! - any other route costs its [`order`](Route::order) call per request
//!   (tens of nanoseconds for the policies here, no allocation, no lock;
//!   [`LeastLatency`] reads the clock once there);
//! - a request whose first tier is not the primary clones the primary's
//!   service once, if the order holds it (see above: cheap for most
//!   services, but a `Buffer`'s clone allocates), and reaches its first
//!   tier as a fallback does: a clone of that tier's service, taken under
//!   the tier list's (uncontended) mutex;
//! - a route that [observes](Route::observes) latencies adds a clock read
//!   when each tier is entered and one when it finishes;
//!   [`LeastLatency`] reads it once more to time-stamp the sample.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use tower::{ServiceExt, service_fn, Layer};
//! use tower_failover::fallback::{CostAware, FallbackLayer, ServedBy, Tier};
//!
//! let client = service_fn(|request: http::Request<String>| async move {
//!     Ok::<_, std::io::Error>(http::Response::new(request.into_body()))
//! });
//! // Tokens in the body's length, a budget of $0.002 per request: the
//! // primary ($0.005 per 1k tokens) is too dear for long prompts.
//! let route = CostAware::new([0.005, 0.0002], |_: &http::Request<String>| Some(0.002))
//!     .unwrap()
//!     .size(|request: &http::Request<String>| request.body().len() as f64 / 1000.0);
//! let service = FallbackLayer::builder("gpt-4o")
//!     .tier(Tier::new("gpt-4o-mini", client.clone()))
//!     .route(route)
//!     .build()
//!     .unwrap()
//!     .layer(client);
//!
//! let long = http::Request::new("x".repeat(2_000));
//! let response = service.oneshot(long).await.unwrap();
//! let served = response.extensions().get::<ServedBy>().unwrap();
//! assert_eq!((served.tier(), served.name()), (2, "gpt-4o-mini"));
//! # }
//! ```
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};
//!
//! // One client type for every provider; the request says where it goes.
//! let client = service_fn(|request: http::Request<String>| async move {
//!     let status = if request.uri().host() == Some("down.example") { 503 } else { 200 };
//!     let response = http::Response::builder().status(status).body(request.into_body());
//!     Ok::<_, std::io::Error>(response.unwrap())
//! });
//!
//! let fallback = FallbackLayer::builder("primary")
//!     .primary_timeout(Duration::from_secs(20))
//!     .tier(
//!         Tier::new("backup", client.clone())
//!             .timeout(Duration::from_secs(12))
//!             .rewrite(|request: &mut http::Request<String>| {
//!                 *request.uri_mut() = "https://up.example/v1/chat/completions".parse().unwrap();
//!             }),
//!     )
//!     .build()
//!     .unwrap();
//! let service = ServiceBuilder::new().layer(fallback).service(client);
//!
//! let request = http::Request::post("https://down.example/v1/chat/completions")
//!     .body(String::from("{}"))
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! let served = response.extensions().get::<ServedBy>().unwrap();
//! assert_eq!((served.tier(), served.name(), served.attempts()), (2, "backup", 2));
//! # }
//! ```
//!
//! # Order
//!
//! Below [`TimeoutBudgetLayer`](crate::deadline::TimeoutBudgetLayer), so
//! that one deadline bounds every tier, and above each tier's own
//! [`RetryLayer`](crate::retry::RetryLayer) and circuit breaker: a tier
//! retries its own transient failures first (a hint beyond the retry cap
//! gives up at once, and the fallback moves on), and its open breaker sends
//! requests on to the next tier without a wait.
//!
//! ```text
//! TimeoutBudgetLayer
//!   FallbackLayer           tier 1 → tier 2 → tier 3 (→ static response)
//!     per tier: RetryLayer → CircuitBreakerLayer → AttemptTimeoutLayer → client
//! ```
//!
//! # Errors
//!
//! Errors are [`BoxError`]s: the tiers' own errors, unchanged inside the
//! box (downcast them as usual), [`AttemptTimedOut`](crate::deadline::AttemptTimedOut)
//! when a tier's timeout fired, [`DeadlineExceeded`](crate::deadline::DeadlineExceeded),
//! or [`NoRoute`] when a [route](#routing) left no tier.

mod config;
#[cfg(feature = "serde")]
mod de;
mod error;
mod future;
mod graph;
mod layer;
mod route;
mod served;
mod stats;
mod tier;

use std::task::{Context, Poll};
use std::{fmt, mem};

use tower_service::Service;

pub use self::config::{FallbackBuilder, STATIC_RESPONSE};
pub use self::error::NoRoute;
pub use self::future::ResponseFuture;
pub use self::graph::{DEFAULT_MAX_DEPTH, FallbackGraph, FallbackGraphBuilder, GraphChain};
pub use self::layer::FallbackLayer;
pub use self::route::{
    Capability, CostAware, LeastLatency, LeastLatencyBuilder, Observed, Order, Route, Routing,
    Static, Tiers, Weighted,
};
pub use self::served::{InExtensions, RecordServedBy, ServedBy};
pub use self::stats::{FallbackHandle, TierStats};
pub use self::tier::Tier;
use crate::BoxError;
use crate::classify::Classify;
use crate::retry::Replay;

/// The most tiers one fallback chain may have, the primary included.
pub const MAX_TIERS: usize = 16;

/// Falls back from its inner service (the primary) to the tiers after it.
/// See the [module docs](self).
pub struct Fallback<S, T, Req, Res, C, R, M> {
    primary: S,
    // The tiers, classifier, replay and recorder, shared with the layer.
    layer: FallbackLayer<T, Req, Res, C, R, M>,
}

impl<S, T, Req, Res, C, R, M> Fallback<S, T, Req, Res, C, R, M> {
    /// A handle on the counters, shared with the layer and every clone.
    pub fn handle(&self) -> FallbackHandle {
        self.layer.handle()
    }

    /// A reference to the primary.
    pub fn get_ref(&self) -> &S {
        &self.primary
    }

    /// A mutable reference to the primary.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.primary
    }

    /// The primary.
    pub fn into_inner(self) -> S {
        self.primary
    }
}

impl<S, T, Req, Res, C, R, M> Service<Req> for Fallback<S, T, Req, Res, C, R, M>
where
    S: Service<Req, Response = Res> + Clone,
    S::Error: Into<BoxError>,
    T: Service<Req, Response = Res> + Clone,
    T::Error: Into<BoxError>,
    C: Classify<Res, BoxError> + Clone,
    R: Replay<Req> + Clone,
    M: RecordServedBy<Res> + Clone,
{
    type Response = Res;
    type Error = BoxError;
    type Future = ResponseFuture<S, T, Req, Res, C, R, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.primary.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let FallbackLayer {
            chain,
            classifier,
            replay,
            record,
        } = &self.layer;
        let order = chain
            .route
            .as_ref()
            .map(|route| chain.order(&**route, &request));
        let later = match &order {
            None => !chain.tiers.is_empty(),
            Some(order) if order.first() == Some(0) => order.len() > 1,
            Some(order) => {
                // Another tier first, or none: nothing is called yet. If
                // the order holds the primary, the service made ready (with
                // whatever it reserved: a permit, a buffer slot) goes into
                // the future to be called when its turn comes, and a clone
                // takes its place here, to be made ready for the next call.
                let primary = order.contains(0).then(|| {
                    let clone = self.primary.clone();
                    mem::replace(&mut self.primary, clone)
                });
                return ResponseFuture::routed(
                    chain.clone(),
                    request,
                    primary,
                    *order,
                    classifier.clone(),
                    replay.clone(),
                    record.clone(),
                );
            }
        };
        let kept = if !later {
            None
        } else {
            let kept = replay.replay(&request);
            if kept.is_none() {
                tracing::debug!(layer = "fallback", outcome = "not_replayable");
            }
            kept
        };
        let primary = &mut self.primary;
        ResponseFuture::new(
            chain.primary_timeout,
            || primary.call(request),
            chain.clone(),
            kept,
            order,
            classifier.clone(),
            replay.clone(),
            record.clone(),
        )
    }
}

impl<S: Clone, T, Req, Res, C: Clone, R: Clone, M: Clone> Clone
    for Fallback<S, T, Req, Res, C, R, M>
{
    fn clone(&self) -> Self {
        Self {
            primary: self.primary.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, T, Req, Res, C: fmt::Debug, R: fmt::Debug, M: fmt::Debug> fmt::Debug
    for Fallback<S, T, Req, Res, C, R, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("primary", &self.primary)
            .field("layer", &self.layer)
            .finish()
    }
}
