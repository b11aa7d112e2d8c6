//! The limiter and a circuit breaker: above it, refusals never reach the
//! breaker; below it, the breaker does not count them (caller-side
//! failures).
#![cfg(feature = "circuit-breaker")]

use std::time::Duration;

use tower::{Layer, ServiceExt};
use tower_failover::BoxError;
use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreakerLayer, State};
use tower_failover::rate_limit::{RateLimitConfig, RateLimitLayer, RateLimited};

use crate::support::Upstream;

fn limiter() -> RateLimitLayer {
    let config = RateLimitConfig::builder()
        .requests(1, Duration::from_secs(1))
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    RateLimitLayer::new(config)
}

fn breaker() -> CircuitBreakerLayer {
    let config = BreakerConfig::builder()
        .consecutive_failures(3)
        .build()
        .unwrap();
    CircuitBreakerLayer::new(config)
}

#[tokio::test(start_paused = true)]
async fn refusals_of_a_limiter_above_the_breaker_never_trip_it() {
    let (limiter, breaker) = (limiter(), breaker());
    let state = breaker.handle();
    let upstream = Upstream::new([]);
    let service = limiter.layer(breaker.layer(upstream.service()));
    service.clone().oneshot(()).await.unwrap();
    for _ in 0..10 {
        let error: BoxError = service.clone().oneshot(()).await.unwrap_err().into();
        assert!(error.is::<RateLimited>(), "{error}");
    }
    assert_eq!(state.state(), State::Closed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    service.clone().oneshot(()).await.unwrap();
    assert_eq!(upstream.count(), 2);
}

/// A breaker above the limiter does not count its refusals either: they
/// are caller-side failures, and the upstream was never called.
#[tokio::test(start_paused = true)]
async fn a_breaker_above_the_limiter_does_not_count_its_refusals() {
    let (limiter, breaker) = (limiter(), breaker());
    let state = breaker.handle();
    let upstream = Upstream::new([]);
    let service = breaker.layer(limiter.layer(upstream.service()));
    service.clone().oneshot(()).await.unwrap();
    for _ in 0..10 {
        let error: BoxError = service.clone().oneshot(()).await.unwrap_err().into();
        assert!(error.is::<RateLimited>(), "{error}");
    }
    assert_eq!(state.state(), State::Closed);
    assert_eq!(state.metrics().failures, 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    service.clone().oneshot(()).await.unwrap();
    assert_eq!(upstream.count(), 2);
}
