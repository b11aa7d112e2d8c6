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
use tower_failover::classify::{FailureKind, Outcome};
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

/// `u64::MAX` stands for a 503.
pub fn classify<E>(result: &Result<u64, E>) -> Outcome {
    match result {
        Ok(u64::MAX) => Outcome::failure(FailureKind::Transient),
        _ => Outcome::Success,
    }
}

/// A classifier as a plain function pointer.
pub type Classifier<E> = fn(&Result<u64, E>) -> Outcome;

pub fn retry_policy<E>(backoff: Backoff) -> RetryPolicy<Classifier<E>> {
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
