use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::{AttemptTimedOut, DeadlineExceeded, scope};
use crate::BoxError;

/// What the timer means when it fires.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expiry {
    /// The logical call's deadline: [`DeadlineExceeded`].
    Deadline,
    /// [`AttemptTimeout`](super::AttemptTimeout)'s limit when the logical
    /// call's deadline was the tighter one: [`DeadlineExceeded`].
    AttemptDeadline,
    /// Only this attempt's own limit: [`AttemptTimedOut`].
    Attempt,
}

impl Expiry {
    fn error(self) -> BoxError {
        #[cfg(feature = "metrics")]
        crate::metrics::expired(match self {
            Self::Deadline => crate::metrics::Expired::TimeoutBudget,
            Self::AttemptDeadline => crate::metrics::Expired::AttemptDeadline,
            Self::Attempt => crate::metrics::Expired::Attempt,
        });
        // Both are zero-sized: boxing them does not allocate.
        match self {
            Self::Deadline | Self::AttemptDeadline => Box::new(DeadlineExceeded::new()),
            Self::Attempt => Box::new(AttemptTimedOut::new()),
        }
    }
}

pin_project! {
    /// Response future of [`TimeoutBudget`](super::TimeoutBudget) and
    /// [`AttemptTimeout`](super::AttemptTimeout).
    ///
    /// The timer is only armed if the inner future does not complete on its
    /// first poll, so a call that is ready at once never touches tokio's
    /// timer wheel.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        // `None` when the deadline had already passed at `call`.
        #[pin]
        inner: Option<F>,
        #[pin]
        sleep: Option<Sleep>,
        at: Instant,
        expiry: Expiry,
        // The deadline made current while the inner future is polled.
        scope: Option<Instant>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, at: Instant, expiry: Expiry, scope: Option<Instant>) -> Self {
        Self {
            inner: Some(inner),
            sleep: None,
            at,
            expiry,
            scope,
        }
    }

    pub(super) fn expired(at: Instant, expiry: Expiry) -> Self {
        Self {
            inner: None,
            sleep: None,
            at,
            expiry,
            scope: None,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(this.expiry.error()));
        };
        let polled = match this.scope {
            Some(deadline) => scope::with_current(Some(*deadline), || inner.poll(cx)),
            None => inner.poll(cx),
        };
        if let Poll::Ready(result) = polled {
            return Poll::Ready(result.map_err(Into::into));
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep_until(*this.at)));
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(this.expiry.error())),
            _ => Poll::Pending,
        }
    }
}
