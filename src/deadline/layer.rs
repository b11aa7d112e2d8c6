use std::time::Duration;

use tower_layer::Layer;

use super::{AttemptTimeout, TimeoutBudget};

/// Applies [`TimeoutBudget`]: one deadline for the whole logical call.
///
/// See the [module docs](super).
#[derive(Clone, Debug)]
pub struct TimeoutBudgetLayer<P = ()> {
    budget: Duration,
    propagate: P,
}

impl TimeoutBudgetLayer {
    /// A budget of `budget` for each call, starting when `call` is invoked
    /// (time spent waiting in `poll_ready` is not counted).
    pub const fn new(budget: Duration) -> Self {
        Self {
            budget,
            propagate: (),
        }
    }
}

impl<P> TimeoutBudgetLayer<P> {
    /// Also carries the deadline in the request, e.g. with
    /// [`HttpDeadline`](super::HttpDeadline).
    pub fn propagate<P2>(self, propagate: P2) -> TimeoutBudgetLayer<P2> {
        TimeoutBudgetLayer {
            budget: self.budget,
            propagate,
        }
    }
}

impl<S, P: Clone> Layer<S> for TimeoutBudgetLayer<P> {
    type Service = TimeoutBudget<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutBudget::with_propagation(inner, self.budget, self.propagate.clone())
    }
}

/// Applies [`AttemptTimeout`]: each attempt gets `min(per_try, remaining)`.
///
/// See the [module docs](super).
#[derive(Clone, Debug)]
pub struct AttemptTimeoutLayer<P = ()> {
    per_try: Duration,
    propagate: P,
}

impl AttemptTimeoutLayer {
    /// Each call below gets at most `per_try`, and never more than the
    /// deadline leaves.
    pub const fn new(per_try: Duration) -> Self {
        Self {
            per_try,
            propagate: (),
        }
    }
}

impl<P> AttemptTimeoutLayer<P> {
    /// Also tells the upstream each attempt's deadline, e.g. with
    /// [`HttpDeadline`](super::HttpDeadline).
    pub fn propagate<P2>(self, propagate: P2) -> AttemptTimeoutLayer<P2> {
        AttemptTimeoutLayer {
            per_try: self.per_try,
            propagate,
        }
    }
}

impl<S, P: Clone> Layer<S> for AttemptTimeoutLayer<P> {
    type Service = AttemptTimeout<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        AttemptTimeout::with_propagation(inner, self.per_try, self.propagate.clone())
    }
}
