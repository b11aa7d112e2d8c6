use tower_layer::Layer;

use super::{CloneReplay, Retry, RetryPolicy};
use crate::classify::DefaultClassifier;

/// Applies [`Retry`] to a service. See the [module docs](super).
#[derive(Clone, Debug)]
pub struct RetryLayer<C = DefaultClassifier, R = CloneReplay> {
    policy: RetryPolicy<C>,
    replay: R,
}

impl<C> RetryLayer<C> {
    /// Retries with `policy`, replaying requests by cloning them.
    pub fn new(policy: RetryPolicy<C>) -> Self {
        Self {
            policy,
            replay: CloneReplay,
        }
    }
}

impl<C, R> RetryLayer<C, R> {
    /// Replays requests with `replay` instead: a [`Replay`](super::Replay)
    /// such as [`HttpReplay`](super::HttpReplay) or a
    /// `Fn(&Req) -> Option<Req>`.
    pub fn replay<R2>(self, replay: R2) -> RetryLayer<C, R2> {
        RetryLayer {
            policy: self.policy,
            replay,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<C> {
        &self.policy
    }
}

impl<S, C: Clone, R: Clone> Layer<S> for RetryLayer<C, R> {
    type Service = Retry<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::with_replay(inner, self.policy.clone(), self.replay.clone())
    }
}
