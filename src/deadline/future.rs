use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::scope::{self, Current};
use super::{AttemptTimedOut, DeadlineExceeded};
use crate::BoxError;

/// What the timer means when it fires, and how it is counted (the
/// `metrics` feature): the value of `deadline_exceeded_total`'s `layer`
/// label, or `attempt_timeouts_total` for an attempt's own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// [`TimeoutBudget`](super::TimeoutBudget): the logical call's deadline
    /// ([`DeadlineExceeded`]).
    Deadline,
    /// [`AttemptTimeout`](super::AttemptTimeout)'s limit when the logical
    /// call's deadline was the tighter one: [`DeadlineExceeded`].
    AttemptDeadline,
    /// Only this attempt's own limit: [`AttemptTimedOut`].
    Attempt,
    /// A fallback tier's own timeout, whichever timer fired for it (the
    /// fallback layer's, or one below it clipped by the tier's deadline).
    /// Below the fallback layer the error is [`DeadlineExceeded`] (that
    /// tier may not retry); the fallback layer itself moves on.
    Tier,
    /// A fallback layer, out of the logical call's time between or during
    /// tiers (only counted, never a timer's meaning).
    #[cfg_attr(not(all(feature = "fallback", feature = "metrics")), allow(dead_code))]
    Fallback,
}

impl Expiry {
    /// The `layer` label of `tower_failover_deadline_exceeded_total`
    /// (for [`Expiry::Attempt`], the layer of
    /// `tower_failover_attempt_timeouts_total`, which has no label).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Self::Deadline => "timeout_budget",
            Self::AttemptDeadline | Self::Attempt => "attempt_timeout",
            Self::Tier => "fallback_tier",
            Self::Fallback => "fallback",
        }
    }

    /// Counts the expiry (the `metrics` feature).
    #[cfg(feature = "metrics")]
    #[cold]
    pub(crate) fn record(self) {
        use crate::metrics::{ATTEMPT_TIMEOUTS, DEADLINE_EXCEEDED};
        use ::metrics::{Key, Label};
        static LABELS: [[Label; 1]; 4] = [
            [Label::from_static_parts("layer", Expiry::Deadline.label())],
            [Label::from_static_parts(
                "layer",
                Expiry::AttemptDeadline.label(),
            )],
            [Label::from_static_parts("layer", Expiry::Tier.label())],
            [Label::from_static_parts("layer", Expiry::Fallback.label())],
        ];
        static KEYS: [Key; 4] = [
            Key::from_static_parts(DEADLINE_EXCEEDED, &LABELS[0]),
            Key::from_static_parts(DEADLINE_EXCEEDED, &LABELS[1]),
            Key::from_static_parts(DEADLINE_EXCEEDED, &LABELS[2]),
            Key::from_static_parts(DEADLINE_EXCEEDED, &LABELS[3]),
        ];
        static ATTEMPT: Key = Key::from_static_name(ATTEMPT_TIMEOUTS);
        crate::metrics::increment(match self {
            Self::Deadline => &KEYS[0],
            Self::AttemptDeadline => &KEYS[1],
            Self::Tier => &KEYS[2],
            Self::Fallback => &KEYS[3],
            Self::Attempt => &ATTEMPT,
        });
    }

    fn error(self) -> BoxError {
        #[cfg(feature = "metrics")]
        self.record();
        // Both are zero-sized: boxing them does not allocate.
        match self {
            Self::Attempt => Box::new(AttemptTimedOut::new()),
            Self::Deadline | Self::AttemptDeadline | Self::Tier | Self::Fallback => {
                Box::new(DeadlineExceeded::new())
            }
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
        scope: Option<Current>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, at: Instant, expiry: Expiry, scope: Option<Current>) -> Self {
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
            Some(current) => scope::with_current(Some(*current), || inner.poll(cx)),
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
