//! Dropping a call's future, at every await point, never leaves the breaker
//! stuck.

use std::time::Duration;

use tokio::time::advance;
use tower::Service;
use tower_failover::circuit_breaker::{BreakerError, CircuitBreaker, State};

use crate::support::*;

/// An upstream whose answer takes three awaits (three 1 s sleeps).
fn three_awaits() -> Step {
    Step::Stages {
        stages: 3,
        each: Duration::from_secs(1),
    }
}

async fn open_then_elapse<S>(service: &mut S, upstream: &Upstream)
where
    S: Service<(), Response = http::Response<()>>,
    S::Error: std::fmt::Debug,
{
    upstream.then_n(4, status(500));
    for _ in 0..4 {
        call(service).await.unwrap();
    }
    advance(Duration::from_secs(10)).await;
}

#[tokio::test(start_paused = true)]
async fn dropping_a_probe_at_every_await_point_releases_its_permit() {
    // Dropped before the first poll, then parked at each of the three awaits.
    for polls in 0..=3u64 {
        let upstream = Upstream::new();
        let mut service = CircuitBreaker::new(upstream.clone(), base().build().unwrap());
        open_then_elapse(&mut service, &upstream).await;
        upstream.then([three_awaits()]);
        let mut probe = service.call(());
        for step in 0..polls {
            assert!(poll_once(&mut probe).is_pending(), "poll {step} of {polls}");
            if step + 1 < polls {
                advance(Duration::from_secs(1)).await;
            }
        }
        let metrics = service.handle().metrics();
        assert_eq!(
            (metrics.state, metrics.probes_in_flight),
            (State::HalfOpen, 1)
        );
        // Meanwhile, the only permit is taken.
        assert!(matches!(
            call(&mut service).await,
            Err(BreakerError::Open(_))
        ));
        drop(probe);
        assert_eq!(
            service.handle().metrics().probes_in_flight,
            0,
            "after {polls} polls"
        );
        // The permit is free again: the next call probes and closes.
        upstream.then([ok()]);
        let mut next = service.call(());
        let status = loop {
            if let std::task::Poll::Ready(result) = poll_once(&mut next) {
                break result.unwrap().status();
            }
            advance(Duration::from_millis(500)).await;
        };
        assert_eq!(status, 200);
        assert_eq!(
            service.handle().state(),
            State::Closed,
            "after {polls} polls"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_caller_fault_probe_gives_its_permit_back() {
    let upstream = Upstream::new();
    let mut service = CircuitBreaker::new(upstream.clone(), base().build().unwrap());
    open_then_elapse(&mut service, &upstream).await;
    upstream.then([status(400), status(413)]);
    assert_eq!(call(&mut service).await.unwrap(), 400);
    assert_eq!(call(&mut service).await.unwrap(), 413);
    assert_eq!(service.handle().state(), State::HalfOpen);
    assert_eq!(call(&mut service).await.unwrap(), 200);
    assert_eq!(service.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn dropping_closed_calls_counts_nothing() {
    let upstream = Upstream::new();
    let mut service = CircuitBreaker::new(upstream.clone(), base().build().unwrap());
    upstream.then_n(10, slow(500, Duration::from_secs(1)));
    for _ in 0..10 {
        let mut future = service.call(());
        assert!(poll_once(&mut future).is_pending());
        drop(future);
    }
    let metrics = service.handle().metrics();
    assert_eq!((metrics.state, metrics.calls), (State::Closed, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_every_probe_of_many_then_recovering() {
    let config = base().half_open_permits(3).build().unwrap();
    let upstream = Upstream::new();
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    open_then_elapse(&mut service, &upstream).await;
    for round in 0..5 {
        upstream.then_n(3, Step::Hang);
        let probes: Vec<_> = (0..3).map(|_| service.call(())).collect();
        assert!(
            matches!(call(&mut service).await, Err(BreakerError::Open(_))),
            "round {round}"
        );
        drop(probes);
        assert_eq!(service.handle().metrics().probes_in_flight, 0);
    }
    for _ in 0..3 {
        assert_eq!(call(&mut service).await.unwrap(), 200);
    }
    assert_eq!(service.handle().state(), State::Closed);
}
