use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::scope::{self, Current, Origin};

/// The point in time by which a logical call must be finished.
///
/// Set by [`TimeoutBudgetLayer`](super::TimeoutBudgetLayer) and readable by
/// every layer below it, whatever the request type, through
/// [`Deadline::current`]; for `http::Request`s it can also travel in the
/// request's extensions (see [`HttpDeadline`](super::HttpDeadline)).
///
/// Uses tokio's clock, so paused time in tests moves it too.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::deadline::Deadline;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let deadline = Deadline::after(Duration::from_secs(2));
/// assert_eq!(deadline.remaining(), Duration::from_secs(2));
/// // A per-attempt timeout never outlives the deadline.
/// assert_eq!(deadline.clip(Duration::from_secs(10)), Duration::from_secs(2));
/// assert_eq!(deadline.clip(Duration::from_secs(1)), Duration::from_secs(1));
///
/// // Code running inside the scope sees it, whatever the request type.
/// deadline
///     .scope(async {
///         assert_eq!(Deadline::current(), Some(deadline));
///     })
///     .await;
/// assert_eq!(Deadline::current(), None);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

/// About thirty years: a budget longer than this is treated as "no limit"
/// rather than overflowing the clock.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

impl Deadline {
    /// A deadline at `instant`.
    pub const fn at(instant: Instant) -> Self {
        Self { at: instant }
    }

    /// A deadline `budget` from now. An absurdly large budget saturates at
    /// about thirty years instead of overflowing.
    pub fn after(budget: Duration) -> Self {
        Self::after_from(Instant::now(), budget)
    }

    /// A layer's own limit of `limit` from `now`, or the current deadline if
    /// that is earlier: the deadline, and whether it is the current one
    /// (when it passes, the logical call's budget is spent, not the
    /// layer's own limit).
    #[cfg(feature = "llm")]
    #[inline]
    pub(crate) fn limit_from(now: Instant, limit: Duration) -> (Self, bool) {
        let (deadline, current) = Self::limit_with_origin(now, limit);
        (deadline, current.is_some())
    }

    /// Like `limit_from`, telling where the current deadline came from when
    /// it is the earlier one: the logical call's budget, or a fallback
    /// tier's own timeout.
    #[cfg(any(feature = "timeout-budget", feature = "llm"))]
    #[inline]
    pub(crate) fn limit_with_origin(now: Instant, limit: Duration) -> (Self, Option<Origin>) {
        let own = Self::after_from(now, limit);
        match scope::current() {
            Some(current) if current.at < own.at => (Self::at(current.at), Some(current.origin)),
            _ => (own, None),
        }
    }

    /// A deadline `budget` after `now`, saturating like [`Deadline::after`].
    #[inline]
    pub(crate) fn after_from(now: Instant, budget: Duration) -> Self {
        let at = now
            .checked_add(budget.min(FAR_FUTURE))
            .unwrap_or_else(|| now + Duration::from_secs(24 * 60 * 60));
        Self { at }
    }

    /// The instant of the deadline.
    pub const fn instant(&self) -> Instant {
        self.at
    }

    /// Time left until the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// `min(limit, remaining)`: how long one attempt may take if its own
    /// limit is `limit`.
    pub fn clip(&self, limit: Duration) -> Duration {
        limit.min(self.remaining())
    }

    /// The earlier of two deadlines.
    #[must_use]
    pub fn min(self, other: Self) -> Self {
        std::cmp::min(self, other)
    }

    /// The deadline of the logical call the current code runs in, if a
    /// [`TimeoutBudget`](super::TimeoutBudget) (or [`Deadline::scope`]) above
    /// set one.
    ///
    /// Readable in an inner service's `call` and while its future is polled.
    /// It does not follow work handed to another task (a `tower::buffer`
    /// worker, `tokio::spawn`): carry it in the request (for HTTP, the
    /// extensions) across such a boundary.
    #[inline]
    pub fn current() -> Option<Self> {
        scope::current().map(|current| Self::at(current.at))
    }

    /// Runs `future` with this deadline as [`Deadline::current`].
    ///
    /// The deadline is only made visible; nothing is timed out. Use
    /// [`TimeoutBudgetLayer`](super::TimeoutBudgetLayer) to enforce it.
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped {
            future,
            deadline: self,
        }
    }

    /// Runs `f` with this deadline as [`Deadline::current`].
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        let current = Current {
            at: self.at,
            origin: Origin::Budget,
        };
        scope::with_current(Some(current), f)
    }

    /// The current deadline, and whether it is a fallback tier's own
    /// timeout (`true`) rather than the logical call's deadline.
    #[cfg(feature = "fallback")]
    #[inline]
    pub(crate) fn current_tier() -> Option<(Self, bool)> {
        scope::current().map(|current| (Self::at(current.at), current.origin == Origin::Tier))
    }

    /// Runs `f` with this deadline as [`Deadline::current`], marked as a
    /// fallback tier's own timeout (`tier`) or as the logical call's
    /// deadline.
    #[cfg(feature = "fallback")]
    #[inline]
    pub(crate) fn sync_scope_tier<R>(self, tier: bool, f: impl FnOnce() -> R) -> R {
        let origin = if tier { Origin::Tier } else { Origin::Budget };
        scope::with_current(
            Some(Current {
                at: self.at,
                origin,
            }),
            f,
        )
    }

    /// Counts that a fallback layer ran out of time: a tier's own timeout
    /// (`tier`), or the logical call's deadline.
    #[cfg(all(feature = "fallback", feature = "metrics"))]
    #[cold]
    pub(crate) fn count_fallback_expiry(tier: bool) {
        use super::future::Expiry;
        if tier { Expiry::Tier } else { Expiry::Fallback }.record();
    }
}

pin_project! {
    /// A future that runs with a [`Deadline`] visible; see [`Deadline::scope`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Scoped<F> {
        #[pin]
        future: F,
        deadline: Deadline,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        this.deadline.sync_scope(|| future.poll(cx))
    }
}
