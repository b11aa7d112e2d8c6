use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use tower_service::Service;

use super::future::{Expiry, ResponseFuture};
use super::scope::{self, Current, Origin};
use super::{Deadline, PropagateDeadline};
use crate::BoxError;

/// Enforces one deadline for a whole logical call, and makes it visible to
/// every layer below.
///
/// The deadline is the earlier of `now + budget` (taken when `call` is
/// invoked) and any deadline already in force: one set by an outer
/// `TimeoutBudget` ([`Deadline::current`]) or carried by the request
/// ([`PropagateDeadline::inherited`]). If it has already passed, the inner
/// service is not called at all.
///
/// Errors: the inner service's error, boxed, or [`DeadlineExceeded`](super::DeadlineExceeded)
/// when the deadline passes first. Time spent in `poll_ready` is not counted.
#[derive(Clone, Debug)]
pub struct TimeoutBudget<S, P = ()> {
    inner: S,
    budget: Duration,
    propagate: P,
}

impl<S> TimeoutBudget<S> {
    /// Wraps `inner` with a budget of `budget` per call.
    pub const fn new(inner: S, budget: Duration) -> Self {
        Self::with_propagation(inner, budget, ())
    }
}

impl<S, P> TimeoutBudget<S, P> {
    /// Wraps `inner`, also carrying the deadline in the request with `propagate`.
    pub const fn with_propagation(inner: S, budget: Duration, propagate: P) -> Self {
        Self {
            inner,
            budget,
            propagate,
        }
    }

    /// The budget each call gets.
    pub fn budget(&self) -> Duration {
        self.budget
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

impl<S, P, Req> Service<Req> for TimeoutBudget<S, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    P: PropagateDeadline<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        let now = Instant::now();
        let mut deadline = Deadline::after_from(now, self.budget);
        if let Some(carried) = self.propagate.inherited(&request) {
            deadline = deadline.min(carried);
        }
        // The scope above keeps its origin (a fallback tier's timeout) if
        // it is the tightest.
        let mut current = Current {
            at: deadline.instant(),
            origin: Origin::Budget,
        };
        if let Some(outer) = scope::current() {
            if outer.at < current.at {
                current = outer;
                deadline = Deadline::at(outer.at);
            }
        }
        let expiry = match current.origin {
            Origin::Budget => Expiry::Deadline,
            Origin::Tier => Expiry::Tier,
        };
        let at = current.at;
        if at <= now {
            tracing::debug!(layer = "timeout_budget", outcome = "expired_before_call");
            return ResponseFuture::expired(at, expiry);
        }
        self.propagate.propagate(&mut request, deadline);
        let inner = &mut self.inner;
        let future = scope::with_current(Some(current), || inner.call(request));
        ResponseFuture::new(future, at, expiry, Some(current))
    }
}
