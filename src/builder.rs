//! [`ServiceBuilderExt`]: the layers as `tower::ServiceBuilder` methods.

use tower::ServiceBuilder;
use tower_layer::Stack;

#[cfg(feature = "circuit-breaker")]
use crate::circuit_breaker::{BreakerConfig, CircuitBreakerLayer};
#[cfg(feature = "timeout-budget")]
use crate::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};
#[cfg(feature = "fallback")]
use crate::fallback::FallbackLayer;
#[cfg(feature = "hedge")]
use crate::hedge::{HedgeConfig, HedgeLayer};
#[cfg(feature = "llm")]
use crate::llm::error_body::ErrorBodyLayer;
#[cfg(feature = "rate-limit")]
use crate::rate_limit::{RateLimitConfig, RateLimitLayer};
#[cfg(feature = "retry")]
use crate::retry::{RetryLayer, RetryPolicy};
#[cfg(feature = "timeout-budget")]
use std::time::Duration;

/// The crate's layers as [`ServiceBuilder`](tower::ServiceBuilder) methods,
/// so that a stack reads in its order, outermost first, the way
/// `tower_http::ServiceBuilderExt` reads:
///
/// ```
/// # #[cfg(feature = "full")] {
/// use std::time::Duration;
/// use tower::{ServiceBuilder, service_fn};
/// use tower_failover::ServiceBuilderExt;
/// use tower_failover::circuit_breaker::BreakerConfig;
/// use tower_failover::retry::RetryPolicy;
///
/// # let client = service_fn(|_: http::Request<String>| async {
/// #     Ok::<_, std::io::Error>(http::Response::new(String::new()))
/// # });
/// let service = ServiceBuilder::new()
///     .timeout_budget(Duration::from_secs(30))
///     .retry_policy(RetryPolicy::default())
///     .circuit_breaker(BreakerConfig::default())
///     .attempt_timeout(Duration::from_secs(10))
///     .service(client);
/// # }
/// ```
///
/// Each method is `.layer(…)` with the layer built from its argument; a
/// layer with settings the method does not take (a retry's replay, a
/// breaker's classifier) goes in with `.layer(…)` as usual.
///
/// The trait is sealed: it is implemented for `ServiceBuilder` only.
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// Adds a [`TimeoutBudgetLayer`]: one deadline for the whole logical
    /// call, every retry, backoff sleep and fallback tier inside it.
    #[cfg(feature = "timeout-budget")]
    fn timeout_budget(self, budget: Duration) -> ServiceBuilder<Stack<TimeoutBudgetLayer, L>>;

    /// Adds an [`AttemptTimeoutLayer`]: each attempt gets `per_try` or what
    /// the deadline leaves, whichever is less.
    #[cfg(feature = "timeout-budget")]
    fn attempt_timeout(self, per_try: Duration) -> ServiceBuilder<Stack<AttemptTimeoutLayer, L>>;

    /// Adds a [`RetryLayer`] with `policy`.
    ///
    /// Not named `retry`: `tower::ServiceBuilder` has an inherent `retry`
    /// method (with tower's `retry` feature, which many applications
    /// enable) that adds *tower's* retry layer, and an inherent method
    /// always wins over a trait's, so `.retry(policy)` would silently build
    /// the wrong stack.
    #[cfg(feature = "retry")]
    fn retry_policy<C>(self, policy: RetryPolicy<C>) -> ServiceBuilder<Stack<RetryLayer<C>, L>>;

    /// Adds a [`CircuitBreakerLayer`] with `config`.
    #[cfg(feature = "circuit-breaker")]
    fn circuit_breaker(
        self,
        config: BreakerConfig,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>>;

    /// Adds a built [`FallbackLayer`]: the service below is tier 1, the
    /// layer's tiers come after it.
    #[cfg(feature = "fallback")]
    #[allow(clippy::type_complexity)] // the layer's own six parameters
    fn fallback<T, Req, Res, C, R, M>(
        self,
        layer: FallbackLayer<T, Req, Res, C, R, M>,
    ) -> ServiceBuilder<Stack<FallbackLayer<T, Req, Res, C, R, M>, L>>;

    /// Adds an [`ErrorBodyLayer`] with its default limit: failed responses'
    /// bodies are read so that classification sees what the provider said.
    #[cfg(feature = "llm")]
    fn error_body(self) -> ServiceBuilder<Stack<ErrorBodyLayer, L>>;

    /// Adds a [`HedgeLayer`] with `config`: after its delay, a second
    /// attempt to a clone of the service below. (`tower::ServiceBuilder`
    /// has no inherent `hedge`.)
    #[cfg(feature = "hedge")]
    fn hedge<C, P>(
        self,
        config: HedgeConfig<C, P>,
    ) -> ServiceBuilder<Stack<HedgeLayer<C, crate::retry::CloneReplay, P>, L>>;

    /// Adds a [`RateLimitLayer`] with `config`: one bucket shared by every
    /// clone of the service.
    ///
    /// Not named `rate_limit`: `tower::ServiceBuilder` has an inherent
    /// `rate_limit(num, per)` method (with tower's `limit` feature) that
    /// adds *tower's* per-clone limiter, and an inherent method always wins
    /// over a trait's.
    #[cfg(feature = "rate-limit")]
    fn shared_rate_limit(self, config: RateLimitConfig)
    -> ServiceBuilder<Stack<RateLimitLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "timeout-budget")]
    fn timeout_budget(self, budget: Duration) -> ServiceBuilder<Stack<TimeoutBudgetLayer, L>> {
        self.layer(TimeoutBudgetLayer::new(budget))
    }

    #[cfg(feature = "timeout-budget")]
    fn attempt_timeout(self, per_try: Duration) -> ServiceBuilder<Stack<AttemptTimeoutLayer, L>> {
        self.layer(AttemptTimeoutLayer::new(per_try))
    }

    #[cfg(feature = "retry")]
    fn retry_policy<C>(self, policy: RetryPolicy<C>) -> ServiceBuilder<Stack<RetryLayer<C>, L>> {
        self.layer(RetryLayer::new(policy))
    }

    #[cfg(feature = "circuit-breaker")]
    fn circuit_breaker(
        self,
        config: BreakerConfig,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>> {
        self.layer(CircuitBreakerLayer::new(config))
    }

    #[cfg(feature = "fallback")]
    #[allow(clippy::type_complexity)] // the layer's own six parameters
    fn fallback<T, Req, Res, C, R, M>(
        self,
        layer: FallbackLayer<T, Req, Res, C, R, M>,
    ) -> ServiceBuilder<Stack<FallbackLayer<T, Req, Res, C, R, M>, L>> {
        self.layer(layer)
    }

    #[cfg(feature = "llm")]
    fn error_body(self) -> ServiceBuilder<Stack<ErrorBodyLayer, L>> {
        self.layer(ErrorBodyLayer::new())
    }

    #[cfg(feature = "hedge")]
    fn hedge<C, P>(
        self,
        config: HedgeConfig<C, P>,
    ) -> ServiceBuilder<Stack<HedgeLayer<C, crate::retry::CloneReplay, P>, L>> {
        self.layer(HedgeLayer::new(config))
    }

    #[cfg(feature = "rate-limit")]
    fn shared_rate_limit(
        self,
        config: RateLimitConfig,
    ) -> ServiceBuilder<Stack<RateLimitLayer, L>> {
        self.layer(RateLimitLayer::new(config))
    }
}

mod sealed {
    pub trait Sealed {}

    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

#[cfg(all(test, feature = "full"))]
mod tests {
    use std::time::Duration;

    use tower::ServiceBuilder;
    use tower::layer::util::Identity;

    use super::*;

    /// Compiles only if both builders have the same type, layer for layer.
    fn same_type<T>(_: &T, _: &T) {}

    #[test]
    fn each_method_adds_its_layer_in_call_order() {
        let by_name = ServiceBuilder::new()
            .timeout_budget(Duration::from_secs(30))
            .error_body()
            .retry_policy(RetryPolicy::default())
            .circuit_breaker(BreakerConfig::default())
            .attempt_timeout(Duration::from_secs(10));
        let by_layer = ServiceBuilder::new()
            .layer(TimeoutBudgetLayer::new(Duration::from_secs(30)))
            .layer(ErrorBodyLayer::new())
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(CircuitBreakerLayer::new(BreakerConfig::default()))
            .layer(AttemptTimeoutLayer::new(Duration::from_secs(10)));
        same_type(&by_name, &by_layer);

        // The settings reach the layers: the outermost is the budget, the
        // innermost the attempt timeout.
        let layers = format!("{:?}", by_name.into_inner());
        let budget = layers.find("30s").expect("the budget is in the stack");
        let per_try = layers
            .find("10s")
            .expect("the attempt timeout is in the stack");
        assert!(budget < per_try, "{layers}");
        let _: ServiceBuilder<Identity> = ServiceBuilder::new();
    }
}
