use std::borrow::Borrow;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::config::BreakerConfig;
use super::error::BreakerError;
use super::future::ResponseFuture;
use super::handle::{BreakerHandle, State};
use super::state::Shared;
use super::sync::{Arc, Ordering};
use crate::keyed::{self, Entry, Policy, second_chance};
use crate::name::Name;

// The registry and its naming hook are not model-checked: plain `std` `Arc`.
type StdArc<T> = std::sync::Arc<T>;
use crate::classify::{Classify, DefaultClassifier};

type NameFn<K> = StdArc<dyn Fn(&K) -> String + Send + Sync>;

/// The breakers of a keyed layer, created on first use.
type Registry<K> = keyed::Registry<K, Breakers<K>>;

/// How the keyed layer makes and evicts breakers.
///
/// The naming hook sits behind its own lock, read only when a breaker is
/// created, so that a layer's setters act on the one registry its handles
/// and services already share.
struct Breakers<K> {
    config: BreakerConfig,
    name_with: Mutex<Option<NameFn<K>>>,
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

impl<K> Policy<K> for Breakers<K> {
    type Value = Arc<Shared>;
    type Refusal = Infallible;

    /// Evicts one breaker (even if the bound was lowered below the count):
    /// a breaker is never refused.
    fn make_room(&self, map: &mut HashMap<K, Arc<Shared>>, _max: usize) -> Result<(), Infallible>
    where
        K: Hash + Eq + Clone,
    {
        if let Some(victim) = victim(map) {
            map.remove(&victim);
        }
        Ok(())
    }

    fn make(&self, key: &K, map: &HashMap<K, Arc<Shared>>) -> Arc<Shared> {
        let mut config = self.config.clone();
        let name_with = self
            .name_with
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(name_with) = &*name_with {
            config.set_name(Name::Shared(name_with(key).into()));
        }
        // Breakers may share a name (without `name_with` they all do): a
        // new one must not report its closed state over a live one's
        // gauge. Without `name_with` the first breaker ends the scan; with
        // it, a key's first use scans at most `max` names.
        #[cfg(feature = "metrics")]
        let fresh = !map
            .values()
            .any(|other| other.config().name() == config.name());
        #[cfg(not(feature = "metrics"))]
        let fresh = {
            let _ = map;
            true
        };
        Arc::new(Shared::named(config, fresh))
    }

    fn config(&self) -> &dyn fmt::Debug {
        &self.config
    }
}

/// Second chance (the CLOCK approximation of least-recently-used): the
/// first closed breaker not used since the previous sweep, clearing the
/// use flag of every closed breaker passed over. Open, half-open and forced
/// breakers are kept (forgetting one would forget an outage) unless there
/// is nothing else to evict.
fn victim<K: Clone>(map: &HashMap<K, Arc<Shared>>) -> Option<K> {
    second_chance(map, |shared| shared.state() == State::Closed)
        .or_else(|| second_chance(map, |_| true))
        .or_else(|| map.keys().next().cloned())
}

/// Applies a [`KeyedCircuitBreaker`]: one breaker per key extracted from
/// the request (a model name, a host), created on first use with the same
/// [`BreakerConfig`].
///
/// # Bounded, with eviction
///
/// At most [`max_breakers`](Self::max_breakers) breakers (1,024 by
/// default). A new key beyond that evicts one breaker, by *second chance*
/// (an approximation of least recently used): the first **closed** breaker
/// not used since the previous eviction sweep. Open, half-open and forced
/// breakers are evicted only when every breaker is in one of those states.
/// A call in flight on an evicted breaker finishes normally; the next call
/// with that key starts a fresh, closed breaker.
///
/// # Cost
///
/// Each call computes its key and takes a read lock on the map (a
/// `std::sync::RwLock`; never held across an await) to find the breaker;
/// the breaker itself is the same lock-free one as
/// [`CircuitBreaker`](super::CircuitBreaker). A key that allocates (a
/// `String` cloned from the request) allocates on every call: prefer a
/// `&'static str`, an enum or an interned key.
///
/// ```
/// use std::num::NonZeroUsize;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_failover::circuit_breaker::{BreakerConfig, KeyedCircuitBreakerLayer, State};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = KeyedCircuitBreakerLayer::new(BreakerConfig::default(), |host: &&'static str| *host)
///     .max_breakers(NonZeroUsize::new(2).unwrap())
///     .name_with(|host: &&'static str| format!("upstream:{host}"));
/// let handle = layer.handle();
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|_: &'static str| async {
///         Ok::<_, std::io::Error>(http::Response::new(()))
///     }));
///
/// service.clone().oneshot("api.openai.com").await.unwrap();
/// let breaker = handle.get("api.openai.com").unwrap();
/// assert_eq!(breaker.name(), "upstream:api.openai.com");
/// assert_eq!(breaker.state(), State::Closed);
/// assert_eq!(handle.len(), 1);
/// # }
/// ```
pub struct KeyedCircuitBreakerLayer<K, F, C = DefaultClassifier> {
    registry: StdArc<Registry<K>>,
    key: F,
    classifier: C,
}

impl<K, F> KeyedCircuitBreakerLayer<K, F> {
    /// One breaker per `key(&request)`, each with `config` (the config's
    /// name names them all, unless [`name_with`](Self::name_with) is set).
    pub fn new<Req>(config: BreakerConfig, key: F) -> Self
    where
        F: Fn(&Req) -> K,
    {
        Self {
            registry: StdArc::new(Registry::new(Breakers {
                config,
                name_with: Mutex::new(None),
            })),
            key,
            classifier: DefaultClassifier,
        }
    }
}

impl<K, F, C> KeyedCircuitBreakerLayer<K, F, C> {
    fn name_fn(&self) -> MutexGuard<'_, Option<NameFn<K>>> {
        self.registry
            .policy()
            .name_with
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps at most `max` breakers (default 1,024), evicting as described
    /// [above](Self#bounded-with-eviction).
    #[must_use]
    pub fn max_breakers(self, max: NonZeroUsize) -> Self {
        self.registry.set_max(max);
        self
    }

    /// Names each key's breaker `name(&key)` (in [`CircuitOpen`](super::CircuitOpen),
    /// events and handles). Called once per breaker created.
    ///
    /// With the `metrics` feature the name is also the `breaker` label of
    /// the breaker metrics, so map the keys onto a **bounded** set of names
    /// (a provider per host, a model family): a name made from anything a
    /// caller controls lets callers grow the recorder without limit.
    /// Breakers that share a name share its series (see
    /// [`crate::metrics`]); an evicted breaker's series stay in the recorder
    /// with their last values.
    #[must_use]
    pub fn name_with<N>(self, name: N) -> Self
    where
        N: Fn(&K) -> String + Send + Sync + 'static,
    {
        *self.name_fn() = Some(StdArc::new(name));
        self
    }

    /// Classifies results with `classifier` instead of [`DefaultClassifier`].
    pub fn classifier<C2>(self, classifier: C2) -> KeyedCircuitBreakerLayer<K, F, C2> {
        KeyedCircuitBreakerLayer {
            registry: self.registry,
            key: self.key,
            classifier,
        }
    }

    /// A handle on the breakers of this layer.
    pub fn handle(&self) -> KeyedHandle<K> {
        KeyedHandle {
            registry: self.registry.clone(),
        }
    }
}

impl<K, F: Clone, C: Clone> Clone for KeyedCircuitBreakerLayer<K, F, C> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<K, F, C: fmt::Debug> fmt::Debug for KeyedCircuitBreakerLayer<K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("registry", &self.registry)
            .field("classifier", &self.classifier)
            .finish_non_exhaustive()
    }
}

impl<S, K, F: Clone, C: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, F, C> {
    type Service = KeyedCircuitBreaker<S, K, F, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreaker {
            inner,
            registry: self.registry.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// One [`CircuitBreaker`](super::CircuitBreaker) per key of the request:
/// see [`KeyedCircuitBreakerLayer`].
///
/// Clones share the breakers.
pub struct KeyedCircuitBreaker<S, K, F, C = DefaultClassifier> {
    inner: S,
    registry: StdArc<Registry<K>>,
    key: F,
    classifier: C,
}

impl<S, K, F, C> KeyedCircuitBreaker<S, K, F, C> {
    /// A handle on the breakers.
    pub fn handle(&self) -> KeyedHandle<K> {
        KeyedHandle {
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

impl<S: Clone, K, F: Clone, C: Clone> Clone for KeyedCircuitBreaker<S, K, F, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            registry: self.registry.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S: fmt::Debug, K, F, C: fmt::Debug> fmt::Debug for KeyedCircuitBreaker<S, K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("inner", &self.inner)
            .field("registry", &self.registry)
            .field("classifier", &self.classifier)
            .finish_non_exhaustive()
    }
}

impl<S, K, F, C, Req> Service<Req> for KeyedCircuitBreaker<S, K, F, C>
where
    S: Service<Req>,
    K: Hash + Eq + Clone,
    F: Fn(&Req) -> K,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let Ok(shared) = self.registry.get_or_make((self.key)(&req));
        super::admit(shared, &mut self.inner, req, &self.classifier)
    }
}

/// Reads and steers the breakers of a [`KeyedCircuitBreakerLayer`].
pub struct KeyedHandle<K> {
    registry: StdArc<Registry<K>>,
}

impl<K: Hash + Eq + Clone> KeyedHandle<K> {
    /// The breaker of `key`, if it exists (it is created by the first call
    /// with that key).
    pub fn get<Q>(&self, key: &Q) -> Option<BreakerHandle>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.registry.get(key).map(BreakerHandle::new)
    }

    /// The keys that have a breaker.
    pub fn keys(&self) -> Vec<K> {
        self.registry.keys()
    }

    /// How many breakers there are.
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the breaker of `key` (the next call starts a fresh one).
    /// Returns whether there was one.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.registry.remove(key)
    }
}

impl<K> Clone for KeyedHandle<K> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedHandle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedHandle")
            .field("registry", &self.registry)
            .finish()
    }
}
