use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use tower_service::Service;

use super::future::{Expiry, ResponseFuture};
use super::scope::Origin;
use super::{Deadline, PropagateDeadline};
use crate::BoxError;

/// Times out each call after `min(per_try, remaining)`, where `remaining` is
/// what the current [`Deadline`] leaves.
///
/// Put it below [`Retry`](crate::retry::Retry) so that each attempt has its
/// own limit. When the per-attempt limit fires the error is
/// [`AttemptTimedOut`](super::AttemptTimedOut) (retryable); when the
/// deadline was the tighter of the two it is
/// [`DeadlineExceeded`](super::DeadlineExceeded) (not retryable), and so it
/// is when a fallback tier's timeout (`Tier::timeout`) was the tighter
/// one (that tier's time is spent). The limit counts from
/// `call`; time in `poll_ready` is not counted.
#[derive(Clone, Debug)]
pub struct AttemptTimeout<S, P = ()> {
    inner: S,
    per_try: Duration,
    propagate: P,
}

impl<S> AttemptTimeout<S> {
    /// Wraps `inner` with a per-attempt limit of `per_try`.
    pub const fn new(inner: S, per_try: Duration) -> Self {
        Self::with_propagation(inner, per_try, ())
    }
}

impl<S, P> AttemptTimeout<S, P> {
    /// Wraps `inner`, also telling the upstream each attempt's deadline with
    /// `propagate`.
    pub const fn with_propagation(inner: S, per_try: Duration, propagate: P) -> Self {
        Self {
            inner,
            per_try,
            propagate,
        }
    }

    /// The per-attempt limit.
    pub fn per_try(&self) -> Duration {
        self.per_try
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

impl<S, P, Req> Service<Req> for AttemptTimeout<S, P>
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
        let (deadline, origin) = Deadline::limit_with_origin(now, self.per_try);
        // A tighter deadline from above is the logical call's or a fallback
        // tier's.
        let expiry = match origin {
            None => Expiry::Attempt,
            Some(Origin::Budget) => Expiry::AttemptDeadline,
            Some(Origin::Tier) => Expiry::Tier,
        };
        if deadline.instant() <= now {
            return ResponseFuture::expired(deadline.instant(), expiry);
        }
        self.propagate.propagate(&mut request, deadline);
        ResponseFuture::new(self.inner.call(request), deadline.instant(), expiry, None)
    }
}
