use std::sync::Arc;

use tower_layer::Layer;

use super::RateLimit;
use super::config::RateLimitConfig;
use super::cost::NoCost;
use super::handle::RateLimitHandle;
use super::limits::HeaderLimits;
use super::shared::Shared;

/// Applies a [`RateLimit`] around a service.
///
/// The layer owns **one** limiter: every service it builds, and every clone
/// of those, shares its buckets, so the limit holds for all the traffic
/// that goes through them together (unlike `tower::limit::RateLimit`, whose
/// clones each get a bucket of their own). Build one layer per upstream
/// budget, or use the [keyed form](super::KeyedRateLimitLayer). See the
/// [module docs](super).
///
/// ```
/// use std::time::Duration;
/// use tower::{ServiceBuilder, service_fn};
/// use tower_failover::rate_limit::{RateLimitConfig, RateLimitLayer};
///
/// struct Completion { prompt: String, max_tokens: u32 }
///
/// let config = RateLimitConfig::builder()
///     .requests(500, Duration::from_secs(60))
///     .tokens(30_000, Duration::from_secs(60))
///     .build()?;
/// let layer = RateLimitLayer::new(config)
///     .cost(|req: &Completion| req.prompt.len() as u32 / 4 + req.max_tokens);
/// let handle = layer.handle();
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|_: Completion| async {
///         Ok::<_, std::io::Error>(http::Response::new(()))
///     }));
/// assert_eq!(handle.available_tokens(), Some(30_000));
/// # drop(service);
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Clone)]
pub struct RateLimitLayer<A = HeaderLimits, K = NoCost> {
    shared: Arc<Shared>,
    limits: A,
    cost: K,
}

impl RateLimitLayer {
    /// A new limiter with `config`, reading the upstream's limits from HTTP
    /// response headers ([`HeaderLimits`]); requests cost no tokens.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(config)),
            limits: HeaderLimits,
            cost: NoCost,
        }
    }
}

impl<A, K> RateLimitLayer<A, K> {
    /// Reads the upstream's limits from responses with `reader` instead (any
    /// [`ReadLimits`](super::ReadLimits), such as a closure
    /// `Fn(&Res) -> Limits`, or [`NoLimits`](super::NoLimits) for responses
    /// that are not HTTP).
    pub fn limits_from<A2>(self, reader: A2) -> RateLimitLayer<A2, K> {
        RateLimitLayer {
            shared: self.shared,
            limits: reader,
            cost: self.cost,
        }
    }

    /// Estimates each request's cost in the token bucket with `cost` (any
    /// [`Cost`](super::Cost), such as a closure `Fn(&Req) -> u32`).
    pub fn cost<K2>(self, cost: K2) -> RateLimitLayer<A, K2> {
        RateLimitLayer {
            shared: self.shared,
            limits: self.limits,
            cost,
        }
    }

    /// A handle on the limiter this layer applies.
    pub fn handle(&self) -> RateLimitHandle {
        RateLimitHandle::new(self.shared.clone())
    }
}

impl<A, K> std::fmt::Debug for RateLimitLayer<A, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl<S, A: Clone, K: Clone> Layer<S> for RateLimitLayer<A, K> {
    type Service = RateLimit<S, A, K>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::from_parts(
            inner,
            self.shared.clone(),
            self.limits.clone(),
            self.cost.clone(),
        )
    }
}
