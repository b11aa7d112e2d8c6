use tower_layer::Layer;

use super::CircuitBreaker;
use super::config::BreakerConfig;
use super::handle::BreakerHandle;
use super::state::Shared;
use super::sync::Arc;
use crate::classify::DefaultClassifier;

/// Applies a [`CircuitBreaker`] around a service.
///
/// The layer owns **one** breaker: every service it builds, and every clone
/// of those, shares it, so the breaker sees all the traffic to its
/// upstream. Build one layer per upstream (or use the
/// [keyed form](super::KeyedCircuitBreakerLayer)). See the
/// [module docs](super).
///
/// ```
/// use tower::ServiceBuilder;
/// use tower::service_fn;
/// use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreakerLayer, State};
///
/// let layer = CircuitBreakerLayer::new(BreakerConfig::builder().name("openai").build()?);
/// let handle = layer.handle();
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|_: ()| async { Ok::<_, std::io::Error>(()) }));
/// assert_eq!(handle.state(), State::Closed);
/// # drop(service);
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    shared: Arc<Shared>,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A new breaker with `config`, classifying results with
    /// [`DefaultClassifier`].
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(config)),
            classifier: DefaultClassifier,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Classifies results with `classifier` instead (any
    /// [`Classify`](crate::classify::Classify) implementation, such as a
    /// closure `Fn(&Result<Res, E>) -> Outcome`).
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            shared: self.shared,
            classifier,
        }
    }

    /// A handle on the breaker this layer applies.
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle::new(self.shared.clone())
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::from_parts(inner, self.shared.clone(), self.classifier.clone())
    }
}
