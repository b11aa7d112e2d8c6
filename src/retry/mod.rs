//! Retry with bounded, jittered exponential backoff that honours the
//! server's hints, draws on a shared budget and never sleeps past the
//! deadline.
//!
//! [`Retry`] sends a request; if the [classifier](crate::classify) calls the
//! result a retryable failure, it waits and sends it again, until one of
//! these stops it, each returning the last result as it came (a response
//! stays a response, an error stays the inner service's error):
//!
//! - the result is a success, or a failure that is not retryable (a 400, a
//!   quota error, an open circuit…), or the server said `x-should-retry: false`;
//! - [`max_attempts`](RetryPolicyBuilder::max_attempts) attempts were made
//!   (the first included);
//! - the request cannot be [replayed](Replay);
//! - the server's hint asks for a longer wait than
//!   [`max_retry_after`](RetryPolicyBuilder::max_retry_after): the caller (or
//!   a fallback layer above) is better served moving on now;
//! - the wait would end at or past the [`Deadline`](crate::deadline::Deadline):
//!   no attempt starts that cannot finish, and nobody sleeps past it;
//! - the [`RetryBudget`] is spent: an outage is not turned into a retry storm.
//!
//! The wait is the server's hint when it sent one (`retry-after-ms`,
//! `retry-after`, rate-limit resets…, see [`hint`](crate::hint)), otherwise
//! the [`Backoff`]. The failed response is dropped before the wait, so its
//! connection goes back to the pool at once. Every decision emits a
//! `tracing` event (`layer = "retry"`, `attempt`, `outcome`, `kind`,
//! `reason`, `delay_ms`, `retry_after_ms`).
//!
//! # Replay
//!
//! The same request is sent more than once, so the layer needs copies: see
//! [`Replay`]. `Clone` requests work as they are ([`CloneReplay`], the
//! default). Requests with streaming bodies become replayable behind a
//! [`ReplayBodyLayer`], which buffers bodies up to a limit. Copies cost: the
//! layer makes one before the first attempt (none when `max_attempts` is 1),
//! and one more before each retry that may be followed by another.
//!
//! Inner services can tell which attempt they serve with [`Attempt::current`].
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::retry::{RetryLayer, RetryPolicy};
//!
//! // An upstream that answers 503 twice, then 200.
//! let calls = Arc::new(AtomicU32::new(0));
//! let upstream = service_fn({
//!     let calls = calls.clone();
//!     move |_: http::Request<()>| {
//!         let n = calls.fetch_add(1, Ordering::SeqCst);
//!         async move {
//!             let status = if n < 2 { 503 } else { 200 };
//!             Ok::<_, std::io::Error>(http::Response::builder().status(status).body(()).unwrap())
//!         }
//!     }
//! });
//!
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .service(upstream);
//! let response = service.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! # }
//! ```
//!
//! # Order
//!
//! Below [`TimeoutBudgetLayer`](crate::deadline::TimeoutBudgetLayer) (so the
//! deadline bounds the retries) and a fallback layer (so each tier retries on
//! its own), above the circuit breaker (so an open circuit, which is not
//! retryable, moves on at once) and above
//! [`AttemptTimeoutLayer`](crate::deadline::AttemptTimeoutLayer) (so each
//! attempt is timed, not the whole loop).
//!
//! # Errors
//!
//! `Retry` returns its inner service's error type unchanged; an error from
//! the inner service's `poll_ready` between attempts is returned as it is.

mod attempt;
mod backoff;
mod body;
mod budget;
#[cfg(feature = "serde")]
mod de;
mod future;
mod layer;
mod policy;
mod replay;

use std::task::{Context, Poll};

use tower_service::Service;

pub use self::attempt::Attempt;
pub use self::backoff::{Backoff, Jitter};
pub use self::body::{BodyReplay, ReplayBody, ReplayBodyLayer, ReplayBodyService};
pub use self::budget::RetryBudget;
pub use self::future::ResponseFuture;
pub use self::layer::RetryLayer;
pub use self::policy::{MAX_ATTEMPTS_LIMIT, RetryPolicy, RetryPolicyBuilder};
#[cfg(feature = "reqwest")]
pub use self::replay::TryCloneReplay;
pub use self::replay::{CloneReplay, HttpReplay, Replay};
use crate::classify::{Classify, DefaultClassifier};

/// Retries failed requests as its [`RetryPolicy`] allows. See the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct Retry<S, C = DefaultClassifier, R = CloneReplay> {
    inner: S,
    policy: RetryPolicy<C>,
    replay: R,
}

impl<S, C> Retry<S, C> {
    /// Wraps `inner`, replaying requests by cloning them.
    pub fn new(inner: S, policy: RetryPolicy<C>) -> Self {
        Self::with_replay(inner, policy, CloneReplay)
    }
}

impl<S, C, R> Retry<S, C, R> {
    /// Wraps `inner`, replaying requests with `replay`.
    pub fn with_replay(inner: S, policy: RetryPolicy<C>, replay: R) -> Self {
        Self {
            inner,
            policy,
            replay,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<C> {
        &self.policy
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

impl<S, C, R, Req> Service<Req> for Retry<S, C, R>
where
    S: Service<Req> + Clone,
    C: Classify<S::Response, S::Error> + Clone,
    R: Replay<Req> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, C, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        self.policy.record_request();
        let kept = if self.policy.max_attempts() > 1 {
            let kept = self.replay.replay(&request);
            if kept.is_none() {
                tracing::debug!(layer = "retry", outcome = "not_replayable");
            }
            kept
        } else {
            None
        };
        // The service that was made ready serves this call; its clone serves
        // the next one (tower's clone-and-swap).
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        self.replay.prepare(&mut request, Attempt::FIRST);
        let future = Attempt::FIRST.scope(|| service.call(request));
        ResponseFuture::new(
            kept,
            service,
            self.policy.clone(),
            self.replay.clone(),
            future,
        )
    }
}
