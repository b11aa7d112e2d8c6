use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::config::RateLimitConfig;
use super::cost::{Cost, NoCost};
use super::error::{RateLimitError, RateLimited};
use super::future::ResponseFuture;
use super::handle::RateLimitHandle;
use super::limits::{HeaderLimits, ReadLimits};
use super::shared::Shared;
use crate::keyed::{self, Entry, Policy, second_chance};

/// The limiters of a keyed layer, created on first use.
type Registry<K> = keyed::Registry<K, Limiters>;

/// How the keyed layer makes limiters, forgets idle ones, and refuses a
/// new key when none is idle.
struct Limiters {
    config: RateLimitConfig,
}

impl Entry for Arc<Shared> {
    #[inline]
    fn touch(&self) {
        // Read first: in the steady state the flag is set and nobody writes.
        if !self.referenced.load(Ordering::Relaxed) {
            self.referenced.store(true, Ordering::Relaxed);
        }
    }

    fn untouch(&self) -> bool {
        self.referenced.swap(false, Ordering::Relaxed)
    }
}

impl<K> Policy<K> for Limiters {
    type Value = Arc<Shared>;
    type Refusal = RateLimited;

    /// Over the bound (it may have been lowered): forgets idle limiters
    /// until there is room, or refuses the new key.
    fn make_room(&self, map: &mut HashMap<K, Arc<Shared>>, max: usize) -> Result<(), RateLimited>
    where
        K: Hash + Eq + Clone,
    {
        let now = Instant::now();
        while map.len() >= max {
            match victim(map, now) {
                Ok(victim) => {
                    map.remove(&victim);
                }
                Err(retry_after) => {
                    #[cfg(feature = "metrics")]
                    crate::metrics::rate_limit_rejected(&self.config.name, "no_room");
                    tracing::debug!(
                        layer = "rate_limit",
                        name = self.config.name(),
                        outcome = "no_room",
                        retry_after_ms = retry_after.as_millis() as u64,
                        "no idle limiter to forget for a new key"
                    );
                    return Err(RateLimited::no_room(self.config.name.clone(), retry_after));
                }
            }
        }
        Ok(())
    }

    fn make(&self, _key: &K, _map: &HashMap<K, Arc<Shared>>) -> Arc<Shared> {
        Arc::new(Shared::new(self.config.clone()))
    }

    fn config(&self) -> &dyn fmt::Debug {
        &self.config
    }
}

/// Second chance (the CLOCK approximation of least-recently-used, as the
/// keyed breaker does) among the **idle** limiters only (full buckets,
/// nothing said by the upstream, no pause, no call or handle holding it):
/// the first not used since the previous sweep, clearing the use flag of
/// every idle limiter passed over. Forgetting an idle limiter changes
/// nothing; forgetting a busy one would start its key again with full
/// buckets, a second burst past the upstream's limit. If none is idle,
/// `Err` with how long until the first one could be (at least a
/// millisecond).
fn victim<K: Clone>(map: &HashMap<K, Arc<Shared>>, now: Instant) -> Result<K, Duration> {
    let idle = |shared: &Arc<Shared>| Arc::strong_count(shared) == 1 && shared.is_idle(now);
    second_chance(map, idle).ok_or_else(|| {
        let soonest = map
            .values()
            .map(|shared| shared.idle_in(now))
            .min()
            .unwrap_or_default();
        soonest.max(Duration::from_millis(1))
    })
}

/// Applies a [`KeyedRateLimit`]: one limiter per key extracted from the
/// request (a provider, a provider and model), created on first use with
/// the same [`RateLimitConfig`].
///
/// # Bounded
///
/// At most [`max_limiters`](Self::max_limiters) limiters (1,024 by
/// default). A new key beyond that forgets one **idle** limiter (full
/// buckets, nothing learnt from the upstream still running, no pause, no
/// call or [handle](KeyedRateLimitHandle::get) holding it), chosen by
/// second chance (an approximation of least recently used, as
/// [`KeyedCircuitBreakerLayer`](crate::circuit_breaker::KeyedCircuitBreakerLayer)
/// does): forgetting it changes nothing, since a new limiter for its key
/// starts as full as it was. A busy limiter is never forgotten (a fresh,
/// full one in its place would let a second burst through past the
/// upstream's limit). When no limiter is idle, the call with the new key is
/// **refused** with a [`RateLimited`] carrying the configured name (not the
/// key, which need not be printable), the message "no room for a new key in
/// the caller-side limiter", and how long until the first limiter could be
/// idle (at least a millisecond) as its `retry_after`: it is classified
/// like any other refusal. Keys already present are never refused for
/// room. Keep the bound above the number of keys in use at once (providers
/// and models are few), and never key by something a caller chooses
/// freely.
///
/// Finding a limiter to forget scans the map under its write lock, on a
/// new key's first use only.
///
/// # Cost
///
/// Each call computes its key and takes a read lock on the map (a
/// `std::sync::RwLock`, never held across an await) and clones the key's
/// `Arc`; then the limiter is the same lock-free one as
/// [`RateLimit`](super::RateLimit). Prefer a `&'static str` or an enum key
/// to a `String` cloned from each request.
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_failover::rate_limit::{KeyedRateLimitLayer, NoLimits, RateLimitConfig};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = RateLimitConfig::builder()
///     .requests(60, Duration::from_secs(60))
///     .build()
///     .unwrap();
/// let layer = KeyedRateLimitLayer::new(config, |model: &&'static str| *model)
///     .max_limiters(NonZeroUsize::new(16).unwrap())
///     .limits_from(NoLimits);
/// let handle = layer.handle();
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|_: &'static str| async { Ok::<_, std::io::Error>(()) }));
///
/// service.clone().oneshot("gpt-4o").await.unwrap();
/// assert_eq!(handle.get("gpt-4o").unwrap().available_requests(), 59);
/// assert!(handle.get("claude-sonnet").is_none()); // no call yet
/// # }
/// ```
pub struct KeyedRateLimitLayer<K, F, A = HeaderLimits, C = NoCost> {
    registry: Arc<Registry<K>>,
    key: F,
    limits: A,
    cost: C,
}

impl<K, F> KeyedRateLimitLayer<K, F> {
    /// One limiter per `key(&request)`, each with `config`.
    pub fn new<Req>(config: RateLimitConfig, key: F) -> Self
    where
        F: Fn(&Req) -> K,
    {
        Self {
            registry: Arc::new(Registry::new(Limiters { config })),
            key,
            limits: HeaderLimits,
            cost: NoCost,
        }
    }
}

impl<K, F, A, C> KeyedRateLimitLayer<K, F, A, C> {
    /// Keeps at most `max` limiters (default 1,024), forgetting idle ones
    /// or refusing new keys as described [above](Self#bounded). Changes the
    /// bound in place, for every clone, service and handle of this layer;
    /// a lowered bound applies at the next new key.
    #[must_use]
    pub fn max_limiters(self, max: NonZeroUsize) -> Self {
        self.registry.set_max(max);
        self
    }

    /// Reads the upstream's limits with `reader` (see
    /// [`RateLimitLayer::limits_from`](super::RateLimitLayer::limits_from)).
    pub fn limits_from<A2>(self, reader: A2) -> KeyedRateLimitLayer<K, F, A2, C> {
        KeyedRateLimitLayer {
            registry: self.registry,
            key: self.key,
            limits: reader,
            cost: self.cost,
        }
    }

    /// Estimates each request's token cost with `cost` (see
    /// [`RateLimitLayer::cost`](super::RateLimitLayer::cost)).
    pub fn cost<C2>(self, cost: C2) -> KeyedRateLimitLayer<K, F, A, C2> {
        KeyedRateLimitLayer {
            registry: self.registry,
            key: self.key,
            limits: self.limits,
            cost,
        }
    }

    /// A handle on the limiters of this layer.
    pub fn handle(&self) -> KeyedRateLimitHandle<K> {
        KeyedRateLimitHandle {
            registry: self.registry.clone(),
        }
    }
}

impl<K, F: Clone, A: Clone, C: Clone> Clone for KeyedRateLimitLayer<K, F, A, C> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            key: self.key.clone(),
            limits: self.limits.clone(),
            cost: self.cost.clone(),
        }
    }
}

impl<K, F, A, C> fmt::Debug for KeyedRateLimitLayer<K, F, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<S, K, F: Clone, A: Clone, C: Clone> Layer<S> for KeyedRateLimitLayer<K, F, A, C> {
    type Service = KeyedRateLimit<S, K, F, A, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimit {
            inner,
            registry: self.registry.clone(),
            key: self.key.clone(),
            limits: self.limits.clone(),
            cost: self.cost.clone(),
        }
    }
}

/// One [`RateLimit`](super::RateLimit) per key of the request: see
/// [`KeyedRateLimitLayer`].
///
/// Clones share the limiters.
pub struct KeyedRateLimit<S, K, F, A = HeaderLimits, C = NoCost> {
    inner: S,
    registry: Arc<Registry<K>>,
    key: F,
    limits: A,
    cost: C,
}

impl<S, K, F, A, C> KeyedRateLimit<S, K, F, A, C> {
    /// A handle on the limiters.
    pub fn handle(&self) -> KeyedRateLimitHandle<K> {
        KeyedRateLimitHandle {
            registry: self.registry.clone(),
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, K, F: Clone, A: Clone, C: Clone> Clone for KeyedRateLimit<S, K, F, A, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            registry: self.registry.clone(),
            key: self.key.clone(),
            limits: self.limits.clone(),
            cost: self.cost.clone(),
        }
    }
}

impl<S: fmt::Debug, K, F, A, C> fmt::Debug for KeyedRateLimit<S, K, F, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimit")
            .field("inner", &self.inner)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<S, K, F, A, C, Req> Service<Req> for KeyedRateLimit<S, K, F, A, C>
where
    S: Service<Req> + Clone,
    K: Hash + Eq + Clone,
    F: Fn(&Req) -> K,
    A: ReadLimits<S::Response> + Clone,
    C: Cost<Req>,
{
    type Response = S::Response;
    type Error = RateLimitError<S::Error>;
    type Future = ResponseFuture<S, Req, A>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(RateLimitError::Inner)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let shared = match self.registry.get_or_make((self.key)(&req)) {
            Ok(shared) => shared,
            Err(limited) => return ResponseFuture::limited(limited),
        };
        super::admit(&shared, &mut self.inner, req, &self.limits, &self.cost)
    }
}

/// Reads the limiters of a [`KeyedRateLimitLayer`].
pub struct KeyedRateLimitHandle<K> {
    registry: Arc<Registry<K>>,
}

impl<K: Hash + Eq + Clone> KeyedRateLimitHandle<K> {
    /// The limiter of `key`, if it exists (the first call with that key
    /// creates it).
    pub fn get<Q>(&self, key: &Q) -> Option<RateLimitHandle>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.registry.get(key).map(RateLimitHandle::new)
    }

    /// The keys that have a limiter.
    pub fn keys(&self) -> Vec<K> {
        self.registry.keys()
    }

    /// How many limiters there are.
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K> Clone for KeyedRateLimitHandle<K> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedRateLimitHandle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitHandle")
            .field("registry", &self.registry)
            .finish()
    }
}
