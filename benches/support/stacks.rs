//! The services every bench measures: the same upstream, bare and wrapped.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tower::{Layer, Service, service_fn};
use tower_failover::BoxError;
use tower_failover::circuit_breaker::{
    BreakerConfig, BreakerError, CircuitBreaker, OpenBackoff, Window,
};
use tower_failover::classify::{AsDynError, FailureKind, Outcome, classify_error};
use tower_failover::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};
use tower_failover::fallback::{FallbackLayer, LeastLatency, Route, Tier, Weighted};
use tower_failover::retry::{Backoff, RetryLayer, RetryPolicy};

/// The request: `Copy`, so a retry layer's copy is free.
pub type Request = u64;

/// An upstream that answers at once: `Ok(request + 1)`, or an error every
/// time when `fail` is set.
pub fn upstream(
    fail: bool,
) -> impl Service<Request, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>>
+ Clone {
    service_fn(move |request: Request| ready(Ok(if fail { u64::MAX } else { request + 1 })))
}

/// `u64::MAX` stands for a 503; an error is classified as the library's
/// default classifiers do (so an open breaker's rejection is `CircuitOpen`
/// and a fallback moves on to the next tier).
pub fn classify<E: AsDynError>(result: &Result<u64, E>) -> Outcome {
    match result {
        Ok(u64::MAX) => Outcome::failure(FailureKind::Transient),
        Ok(_) => Outcome::Success,
        Err(error) => match error.as_dyn_error() {
            Some(error) => Outcome::Failure(classify_error(error)),
            None => Outcome::failure(FailureKind::Transient),
        },
    }
}

/// A classifier as a plain function pointer.
pub type Classifier<E> = fn(&Result<u64, E>) -> Outcome;

pub fn retry_policy<E: AsDynError>(backoff: Backoff) -> RetryPolicy<Classifier<E>> {
    RetryPolicy::builder()
        .backoff(backoff)
        .classifier(classify::<E> as Classifier<E>)
        .build()
        .unwrap()
}

/// Our retry with the default policy (3 attempts, full jitter, budget on).
pub fn retry(fail: bool) -> impl Service<Request, Response = u64> + Clone {
    RetryLayer::new(retry_policy::<Infallible>(Backoff::none())).layer(upstream(fail))
}

/// Our retry without a budget: what the budget's bookkeeping costs.
pub fn retry_without_budget() -> impl Service<Request, Response = u64> + Clone {
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .no_budget()
        .classifier(classify::<Infallible> as Classifier<Infallible>)
        .build()
        .unwrap();
    RetryLayer::new(policy).layer(upstream(false))
}

pub fn timeout_budget() -> impl Service<Request, Response = u64> + Clone {
    TimeoutBudgetLayer::new(Duration::from_secs(30)).layer(upstream(false))
}

pub fn attempt_timeout() -> impl Service<Request, Response = u64> + Clone {
    AttemptTimeoutLayer::new(Duration::from_secs(10)).layer(upstream(false))
}

/// The recommended stack: budget → retry → breaker → attempt timeout → upstream.
pub fn stack() -> impl Service<Request, Response = u64> + Clone {
    let breaker = CircuitBreaker::with_classifier(
        AttemptTimeoutLayer::new(Duration::from_secs(10)).layer(upstream(false)),
        BreakerConfig::default(),
        classify::<BoxError> as Classifier<BoxError>,
    );
    TimeoutBudgetLayer::new(Duration::from_secs(30)).layer(
        RetryLayer::new(retry_policy::<BreakerError<BoxError>>(Backoff::none())).layer(breaker),
    )
}

/// One tier of the full stack: retry → breaker → attempt timeout → upstream.
fn tier(fail: bool) -> impl Service<Request, Response = u64, Error = BoxError> + Clone {
    let breaker = CircuitBreaker::with_classifier(
        AttemptTimeoutLayer::new(Duration::from_secs(10)).layer(upstream(fail)),
        BreakerConfig::default(),
        classify::<BoxError> as Classifier<BoxError>,
    );
    let retry = RetryLayer::new(retry_policy::<BreakerError<BoxError>>(Backoff::none()));
    tower::ServiceBuilder::new()
        .map_err(BoxError::from)
        .layer(retry)
        .service(breaker)
}

/// The full recommended stack: budget → fallback (two tiers) → per tier
/// retry → breaker → attempt timeout → upstream. With `fail`, the primary
/// always fails and tier 2 serves.
pub fn full_stack(fail: bool) -> impl Service<Request, Response = u64> + Clone {
    let fallback = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", tier(false)))
        .classifier(classify::<BoxError> as Classifier<BoxError>)
        .record(())
        .build()
        .unwrap();
    TimeoutBudgetLayer::new(Duration::from_secs(30)).layer(fallback.layer(tier(fail)))
}

/// The fallback layer alone, around the bare upstream, one tier behind it.
pub fn fallback(fail: bool) -> impl Service<Request, Response = u64> + Clone {
    FallbackLayer::builder("primary")
        .tier(Tier::new("backup", upstream(false)))
        .classifier(classify::<BoxError> as Classifier<BoxError>)
        .record(())
        .build()
        .unwrap()
        .layer(upstream(fail))
}

/// The fallback layer alone, as [`fallback`], with its tiers ordered per
/// request by `route`.
pub fn fallback_routed(
    route: impl Route<Request> + 'static,
) -> impl Service<Request, Response = u64> + Clone {
    FallbackLayer::builder("primary")
        .tier(Tier::new("backup", upstream(false)))
        .classifier(classify::<BoxError> as Classifier<BoxError>)
        .record(())
        .route(route)
        .build()
        .unwrap()
        .layer(upstream(false))
}

/// [`fallback_routed`] by least latency: both tiers answer at once, so each
/// request reads the clock twice and sorts two estimates.
pub fn fallback_least_latency() -> impl Service<Request, Response = u64> + Clone {
    fallback_routed(LeastLatency::default())
}

/// [`fallback_routed`] by equal weights: half the requests go to the
/// backup first (cloning its service, as a fallback does).
pub fn fallback_weighted() -> impl Service<Request, Response = u64> + Clone {
    fallback_routed(Weighted::new([1, 1]).unwrap())
}

/// An upstream answering an empty `http::Response` at once.
pub fn upstream_http()
-> impl Service<Request, Response = http::Response<()>, Error = Infallible> + Copy {
    service_fn(|_: Request| ready(Ok::<_, Infallible>(http::Response::new(()))))
}

/// The fallback layer recording `ServedBy` in an `http::Response`'s
/// extensions (the default): what the extension map costs.
pub fn fallback_http() -> impl Service<Request, Response = http::Response<()>> + Clone {
    let upstream = upstream_http();
    FallbackLayer::builder("primary")
        .tier(Tier::new("backup", upstream))
        .build()
        .unwrap()
        .layer(upstream)
}

/// A closed breaker around the upstream.
pub fn breaker_closed() -> impl Service<Request, Response = u64> + Clone {
    CircuitBreaker::with_classifier(
        upstream(false),
        BreakerConfig::default(),
        classify::<Infallible> as Classifier<Infallible>,
    )
}

/// A closed breaker with a time window of 1,000 buckets: recording must not
/// cost more than with a count window.
pub fn breaker_closed_time_window() -> impl Service<Request, Response = u64> + Clone {
    let config = BreakerConfig::builder()
        .window(Window::time(Duration::from_secs(60), 1_000))
        .build()
        .unwrap();
    CircuitBreaker::with_classifier(
        upstream(false),
        config,
        classify::<Infallible> as Classifier<Infallible>,
    )
}

/// A breaker that rejects every call: forced open (no clock read), or opened
/// by a failure for an hour (each rejection reads the clock).
pub fn breaker_open(forced: bool) -> impl Service<Request, Response = u64> + Clone {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_backoff(OpenBackoff::constant(Duration::from_secs(3600)))
        .build()
        .unwrap();
    let mut breaker = CircuitBreaker::with_classifier(
        upstream(!forced),
        config,
        classify::<Infallible> as Classifier<Infallible>,
    );
    if forced {
        breaker.handle().force_open();
    } else {
        let _ = call(&mut breaker, 0);
    }
    assert!(call(&mut breaker, 0).is_none(), "the breaker must be open");
    breaker
}

/// tower's own retry with an equivalent policy: 3 attempts, retry on failure.
#[derive(Clone, Copy, Debug)]
pub struct TowerAttempts(pub usize);

impl tower::retry::Policy<Request, u64, Infallible> for TowerAttempts {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _: &mut Request,
        result: &mut Result<u64, Infallible>,
    ) -> Option<Self::Future> {
        if classify(result).is_success() || self.0 <= 1 {
            return None;
        }
        self.0 -= 1;
        Some(ready(()))
    }

    fn clone_request(&mut self, request: &Request) -> Option<Request> {
        Some(*request)
    }
}

pub fn tower_retry(fail: bool) -> impl Service<Request, Response = u64> + Clone {
    tower::retry::RetryLayer::new(TowerAttempts(3)).layer(upstream(fail))
}

pub fn tower_timeout() -> impl Service<Request, Response = u64> + Clone {
    tower::timeout::TimeoutLayer::new(Duration::from_secs(30)).layer(upstream(false))
}

/// One call, driven to completion by polling with a no-op waker: every
/// service here is ready at once, so no executor is involved.
#[inline]
pub fn call<S: Service<Request>>(service: &mut S, request: Request) -> Option<S::Response> {
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => return None,
    }
    let mut future = std::pin::pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => Some(response),
        _ => None,
    }
}

// The peers' equivalents, around the same upstream (issue 7). Their
// classifiers read `u64::MAX` as a failure, like [`classify`].

/// `u64::MAX` stands for a 503: the peers' response predicate.
pub fn is_failure(response: &u64) -> bool {
    *response == u64::MAX
}

/// Polls `future` once with a no-op waker: `None` if it is pending.
pub fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Our retry without a budget (as `retry_fires/retry`): with `fail`, it
/// makes all three attempts.
pub fn retry_no_budget(fail: bool) -> impl Service<Request, Response = u64> + Clone {
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .no_budget()
        .classifier(classify::<Infallible> as Classifier<Infallible>)
        .build()
        .unwrap();
    RetryLayer::new(policy).layer(upstream(fail))
}

/// tower-resilience's retry: 3 attempts, zero backoff, retrying a failed
/// response, no budget (its default).
pub fn resilience_retry(fail: bool) -> impl Service<Request, Response = u64> + Clone {
    tower_resilience::retry::RetryLayer::<Request, u64, Infallible>::builder()
        .max_attempts(3)
        .fixed_backoff(Duration::ZERO)
        .retry_on_response(is_failure)
        .build()
        .layer(upstream(fail))
}

/// tower-resilience's time limiter, 30 s.
pub fn resilience_time_limiter() -> impl Service<Request, Response = u64> + Clone {
    tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(30))
        .build()
        .layer(upstream(false))
}

/// tower-resilience's fallback to a backup service, on a failed response.
pub fn resilience_fallback(fail: bool) -> impl Service<Request, Response = u64> + Clone {
    tower_resilience::fallback::FallbackLayer::<Request, u64, Infallible>::tower_service(upstream(
        false,
    ))
    .handle_response(is_failure)
    .layer(upstream(fail))
}

/// tower-resilience's circuit breaker (count window of 100, half failing
/// opens it), closed or forced open.
pub fn resilience_breaker(open: bool) -> impl Service<Request, Response = u64> + Clone {
    let layer = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .classify_response(is_failure)
        .build()
        .unwrap();
    let mut breaker = layer.layer(upstream(false));
    if open {
        poll_once(breaker.force_open()).expect("an uncontended lock");
        assert!(call(&mut breaker, 0).is_none(), "the breaker must be open");
    }
    breaker
}

/// The error of one tier of tower-resilience's stack.
type ResilienceError = tower_resilience::circuitbreaker::CircuitBreakerError<
    tower_resilience::timelimiter::TimeLimiterError<Infallible>,
>;

/// One tier of tower-resilience's stack: retry → breaker → time limiter
/// (10 s) → upstream. An open breaker's rejection is not retried.
fn resilience_tier(
    fail: bool,
) -> impl Service<Request, Response = u64, Error = ResilienceError, Future: Send + 'static>
+ Clone
+ Send
+ 'static {
    use tower_resilience::circuitbreaker::CircuitBreakerLayer;
    use tower_resilience::timelimiter::{TimeLimiterError, TimeLimiterLayer};
    type Error = ResilienceError;
    let limiter = TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(10))
        .build();
    let breaker = CircuitBreakerLayer::builder()
        .failure_classifier(|result: &Result<u64, TimeLimiterError<Infallible>>| {
            !matches!(result, Ok(response) if !is_failure(response))
        })
        .build()
        .unwrap();
    let retry = tower_resilience::retry::RetryLayer::<Request, u64, Error>::builder()
        .max_attempts(3)
        .fixed_backoff(Duration::ZERO)
        .retry_on(|error: &Error| !error.is_circuit_open())
        .retry_on_response(is_failure)
        .build();
    retry.layer(breaker.layer(limiter.layer(upstream(fail))))
}

/// tower-resilience's equivalent of [`full_stack`]: time limiter (30 s) →
/// fallback (to a second tier) → per tier retry → breaker → time limiter.
pub fn resilience_full_stack(fail: bool) -> impl Service<Request, Response = u64> + Clone {
    let fallback =
        tower_resilience::fallback::FallbackLayer::<Request, u64, ResilienceError>::tower_service(
            resilience_tier(false),
        )
        .handle_response(is_failure);
    tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(30))
        .build()
        .layer(fallback.layer(resilience_tier(fail)))
}

/// failsafe's breaker as a `Service`: its `futures::CircuitBreaker::call`
/// around the inner service's future (failsafe has no tower layer).
#[derive(Clone, Debug)]
pub struct Failsafe<S, B> {
    inner: S,
    breaker: B,
}

impl<S, B> Service<Request> for Failsafe<S, B>
where
    S: Service<Request>,
    B: failsafe::futures::CircuitBreaker,
{
    type Response = S::Response;
    type Error = failsafe::Error<S::Error>;
    type Future = failsafe::futures::ResponseFuture<
        S::Future,
        B::FailurePolicy,
        B::Instrument,
        failsafe::Any,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.breaker.call(self.inner.call(request))
    }
}

/// failsafe's breaker with its default policy, closed.
pub fn failsafe_closed() -> impl Service<Request, Response = u64> + Clone {
    Failsafe {
        inner: upstream(false),
        breaker: failsafe::Config::new().build(),
    }
}

/// failsafe's breaker opened by one failure for an hour.
pub fn failsafe_open() -> impl Service<Request, Response = u64> + Clone {
    use failsafe::futures::CircuitBreaker as _;
    let breaker = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_secs(3_600)),
        ))
        .build();
    let _ = poll_once(breaker.call(ready(Err::<(), ()>(()))));
    let mut service = Failsafe {
        inner: upstream(false),
        breaker,
    };
    assert!(call(&mut service, 0).is_none(), "the breaker must be open");
    service
}

/// Times `iters` sequential calls of `service` on `runtime`, each awaited
/// to its end (for services whose futures need the runtime).
pub fn time_calls<S>(
    runtime: &tokio::runtime::Runtime,
    service: &mut S,
    iters: u64,
) -> std::time::Duration
where
    S: Service<u64>,
{
    use tower::ServiceExt;
    runtime.block_on(async {
        let start = std::time::Instant::now();
        for i in 0..iters {
            let ready = match service.ready().await {
                Ok(ready) => ready,
                Err(_) => unreachable!("the bench services are always ready"),
            };
            let _ = std::hint::black_box(ready.call(std::hint::black_box(i)).await);
        }
        start.elapsed()
    })
}
