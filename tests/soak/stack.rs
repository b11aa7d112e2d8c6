//! The full recommended stack, as the module docs of `llm` order it:
//!
//! ```text
//! TimeoutBudgetLayer (20 s)
//!   FallbackLayer: primary (10 s) → secondary (8 s) → tertiary (8 s)
//!     per tier:
//!     RetryLayer              3 attempts, 100 ms → 2 s, one shared RetryBudget
//!       (Keyed)CircuitBreaker the primary keeps one breaker per model (at most 8)
//!         AttemptTimeoutLayer 2 s
//!           SseGuardLayer     first event 1 s, idle 1 s
//!             ErrorBodyLayer
//!               Provider      seeded random faults
//! ```

use std::num::NonZeroUsize;
use std::time::Duration;

use tower::util::BoxCloneService;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_failover::BoxError;
use tower_failover::circuit_breaker::{
    BreakerConfig, BreakerHandle, CircuitBreakerLayer, KeyedCircuitBreakerLayer, KeyedHandle,
    OpenBackoff, Window,
};
use tower_failover::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};
use tower_failover::fallback::{FallbackHandle, FallbackLayer, Tier};
use tower_failover::llm::error_body::{ErrorBodyLayer, ResponseBody};
use tower_failover::llm::sse::{SseBody, SseGuardLayer};
use tower_failover::retry::{Backoff, HttpReplay, Jitter, RetryBudget, RetryLayer, RetryPolicy};

use crate::upstream::{MockBody, Provider};

pub(crate) type Request = http::Request<String>;
pub(crate) type Response = http::Response<SseBody<ResponseBody<MockBody>>>;
/// One tier, boxed so that the primary (keyed) and the other tiers share a
/// type and the whole stack can be cloned into every caller.
pub(crate) type TierService = BoxCloneService<Request, Response, BoxError>;
pub(crate) type Stack = BoxCloneService<Request, Response, BoxError>;

pub(crate) const MODELS: u64 = 12;
pub(crate) const MAX_BREAKERS: usize = 8;
pub(crate) const PERMITS: u32 = 3;
/// The longest a breaker stays open: the backoff's cap, or a capped hint.
pub(crate) const MAX_OPEN: Duration = Duration::from_secs(30);
pub(crate) const MAX_HALF_OPEN: Duration = Duration::from_secs(10);
pub(crate) const BUDGET_TTL: Duration = Duration::from_secs(10);
pub(crate) const BUDGET_FLOOR: u32 = 10;
pub(crate) const BUDGET_RATIO: f32 = 0.2;

/// The model a request names (the keyed breaker's key).
pub(crate) fn model_of(request: &Request) -> String {
    request
        .headers()
        .get("x-model")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("none")
        .to_owned()
}

fn breaker_config(name: &'static str) -> BreakerConfig {
    BreakerConfig::builder()
        .name(name)
        .window(Window::count(20))
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
        .consecutive_failures(5)
        .open_backoff(OpenBackoff::exponential(Duration::from_secs(1), MAX_OPEN).jitter(0.0))
        .half_open_permits(PERMITS)
        .max_half_open_duration(MAX_HALF_OPEN)
        .retry_after_cap(MAX_OPEN)
        .build()
        .unwrap()
}

fn policy(budget: &RetryBudget) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(3)
        .backoff(
            Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2))
                .with_jitter(Jitter::None),
        )
        .max_retry_after(Duration::from_secs(5))
        .budget(budget.clone())
        .build()
        .unwrap()
}

/// Attempt timeout → SSE guard → error bodies → the provider.
fn bottom(
    provider: &Provider,
) -> impl tower::Service<Request, Response = Response, Error = BoxError, Future: Send + 'static>
+ Clone
+ Send
+ 'static {
    ServiceBuilder::new()
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(2)))
        .layer(
            SseGuardLayer::builder()
                .first_event_timeout(Duration::from_secs(1))
                .idle_timeout(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .layer(ErrorBodyLayer::new())
        .service(provider.clone())
}

/// Everything the soak reads at the end.
pub(crate) struct Handles {
    pub(crate) keyed: KeyedHandle<String>,
    pub(crate) tiers: Vec<BreakerHandle>,
    pub(crate) fallback: FallbackHandle,
    pub(crate) budget: RetryBudget,
    /// Each tier alone (retry and below), to drive recovery per breaker.
    pub(crate) primary: TierService,
    pub(crate) others: Vec<TierService>,
}

pub(crate) fn build(providers: &[Provider; 3]) -> (Stack, Handles) {
    let budget = RetryBudget::new(BUDGET_TTL, BUDGET_FLOOR, BUDGET_RATIO).unwrap();

    let keyed = KeyedCircuitBreakerLayer::new(
        breaker_config("primary"),
        model_of as fn(&Request) -> String,
    )
    .max_breakers(NonZeroUsize::new(MAX_BREAKERS).unwrap());
    let keyed_handle = keyed.handle();
    let primary: TierService = BoxCloneService::new(
        ServiceBuilder::new()
            .layer(RetryLayer::new(policy(&budget)).replay(HttpReplay))
            .layer(keyed)
            .service(bottom(&providers[0]))
            .map_err(BoxError::from),
    );

    let mut others = Vec::new();
    let mut tiers = Vec::new();
    for (name, provider) in [("secondary", &providers[1]), ("tertiary", &providers[2])] {
        let breaker = CircuitBreakerLayer::new(breaker_config(name));
        tiers.push(breaker.handle());
        others.push(BoxCloneService::new(
            ServiceBuilder::new()
                .layer(RetryLayer::new(policy(&budget)).replay(HttpReplay))
                .layer(breaker)
                .service(bottom(provider))
                .map_err(BoxError::from),
        ));
    }

    let fallback = FallbackLayer::builder("primary")
        .primary_timeout(Duration::from_secs(10))
        .tier(Tier::new("secondary", others[0].clone()).timeout(Duration::from_secs(8)))
        .tier(Tier::new("tertiary", others[1].clone()).timeout(Duration::from_secs(8)))
        .replay(HttpReplay)
        .build()
        .unwrap();
    let fallback_handle = fallback.handle();
    let stack = BoxCloneService::new(
        TimeoutBudgetLayer::new(Duration::from_secs(20)).layer(fallback.layer(primary.clone())),
    );
    (
        stack,
        Handles {
            keyed: keyed_handle,
            tiers,
            fallback: fallback_handle,
            budget,
            primary,
            others,
        },
    )
}
