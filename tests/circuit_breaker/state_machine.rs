//! Every transition and every setting, with paused time.

use std::io;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::time::advance;
use tower::Service;
use tower_failover::circuit_breaker::{
    BreakerConfig, BreakerError, CircuitBreaker, OpenBackoff, State, Transition, TransitionReason,
    Window,
};

use crate::support::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn open_with(
    result: Result<http::StatusCode, BreakerError<io::Error>>,
) -> tower_failover::circuit_breaker::CircuitOpen {
    match result {
        Err(BreakerError::Open(open)) => open,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

type Log = Arc<Mutex<Vec<(State, State, TransitionReason)>>>;

fn logged(builder: tower_failover::circuit_breaker::BreakerConfigBuilder) -> (BreakerConfig, Log) {
    let log: Log = Arc::default();
    let sink = log.clone();
    let config = builder
        .on_transition(move |t: &Transition| {
            sink.lock().unwrap().push((t.from(), t.to(), t.reason()))
        })
        .build()
        .unwrap();
    (config, log)
}

#[tokio::test(start_paused = true)]
async fn closed_stays_closed_below_minimum_calls() {
    let upstream = Upstream::new();
    upstream.then_n(3, status(503));
    let mut service = CircuitBreaker::new(upstream.clone(), base().build().unwrap());
    for _ in 0..3 {
        assert_eq!(call(&mut service).await.unwrap(), 503);
    }
    let metrics = service.handle().metrics();
    assert_eq!(metrics.state, State::Closed);
    assert_eq!((metrics.calls, metrics.failures), (3, 3));
    assert_eq!(metrics.failure_rate(), Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn failure_rate_at_threshold_opens() {
    let (config, log) = logged(base());
    let upstream = Upstream::new();
    upstream.then([ok(), status(500), ok(), status(502)]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..3 {
        call(&mut service).await.unwrap();
    }
    assert_eq!(service.handle().state(), State::Closed);
    call(&mut service).await.unwrap(); // 2 of 4 = 50%
    assert_eq!(service.handle().state(), State::Open);
    assert_eq!(
        *log.lock().unwrap(),
        [(State::Closed, State::Open, TransitionReason::FailureRate)]
    );
}

#[tokio::test(start_paused = true)]
async fn failure_rate_below_threshold_stays_closed() {
    let upstream = Upstream::new();
    upstream.then([
        ok(),
        status(500),
        ok(),
        ok(),
        status(500),
        ok(),
        ok(),
        ok(),
        ok(),
        ok(),
    ]);
    let config = base()
        .minimum_calls(10)
        .failure_rate_threshold(0.3)
        .build()
        .unwrap();
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..10 {
        call(&mut service).await.unwrap();
    }
    // 2 of 10 is 20% < 30%.
    assert_eq!(service.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_count_window_slides() {
    let upstream = Upstream::new();
    // Four failures, then ten successes push them out of the window.
    upstream
        .then_n(3, status(500))
        .then_n(10, ok())
        .then_n(3, status(500));
    let config = base().minimum_calls(10).build().unwrap();
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..16 {
        call(&mut service).await.unwrap();
    }
    let metrics = service.handle().metrics();
    assert_eq!((metrics.calls, metrics.failures), (10, 3));
    assert_eq!(metrics.state, State::Closed);
}

#[tokio::test(start_paused = true)]
async fn caller_faults_and_non_breaker_kinds_count_as_nothing() {
    let upstream = Upstream::new();
    upstream.then([status(400), status(413), status(422), status(501)]);
    upstream.then_n(6, status(400));
    let mut service = CircuitBreaker::new(upstream.clone(), base().build().unwrap());
    for _ in 0..10 {
        call(&mut service).await.unwrap();
    }
    let metrics = service.handle().metrics();
    assert_eq!(metrics.state, State::Closed);
    assert_eq!(metrics.calls, 0);
}

#[tokio::test(start_paused = true)]
async fn every_breaker_kind_counts() {
    // 429, 401, 404, 408, 529 and an I/O error all count (402 opens the
    // breaker at once: see below).
    let upstream = Upstream::new();
    upstream.then([
        status(429),
        status(401),
        status(404),
        status(408),
        status(529),
        Step::Io(io::ErrorKind::ConnectionReset),
    ]);
    let config = base()
        .window(Window::count(20))
        .minimum_calls(20)
        .build()
        .unwrap();
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..6 {
        let _ = call(&mut service).await;
    }
    assert_eq!(service.handle().metrics().failures, 6);
    assert_eq!(service.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_used_up_quota_opens_at_once() {
    let (config, log) = logged(base().window(Window::count(100)).minimum_calls(100));
    let upstream = Upstream::new();
    upstream.then([ok(), status(429), status(402)]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..2 {
        call(&mut service).await.unwrap();
    }
    // A rate limit counts, far below the minimum calls.
    assert_eq!(service.handle().state(), State::Closed);
    // A used-up quota will not pass until someone pays: no call will.
    assert_eq!(call(&mut service).await.unwrap(), 402);
    assert_eq!(service.handle().state(), State::Open);
    assert_eq!(
        log.lock().unwrap().last().copied(),
        Some((State::Closed, State::Open, TransitionReason::QuotaExhausted))
    );
    open_with(call(&mut service).await);
    assert_eq!(upstream.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_whatever_the_window() {
    let (config, log) = logged(
        base()
            .window(Window::count(100))
            .minimum_calls(100)
            .consecutive_failures(3),
    );
    let upstream = Upstream::new();
    upstream.then([status(500), status(500), ok(), status(500), status(500)]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..5 {
        call(&mut service).await.unwrap();
    }
    // The success broke the run.
    assert_eq!(service.handle().state(), State::Closed);
    assert_eq!(service.handle().metrics().consecutive_failures, 2);
    upstream.then_n(1, status(503));
    call(&mut service).await.unwrap();
    assert_eq!(service.handle().state(), State::Open);
    assert_eq!(
        log.lock().unwrap().last().unwrap().2,
        TransitionReason::ConsecutiveFailures
    );
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open() {
    let (config, log) = logged(base().slow_calls(secs(2), 0.5));
    let upstream = Upstream::new();
    upstream.then([
        slow(200, secs(1)),
        slow(200, secs(3)),
        ok(),
        slow(200, secs(2)),
    ]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        assert_eq!(call(&mut service).await.unwrap(), 200);
    }
    let metrics = service.handle().metrics();
    assert_eq!(metrics.state, State::Open);
    assert_eq!(
        (metrics.calls, metrics.failures, metrics.slow_calls),
        (4, 0, 2)
    );
    assert_eq!(
        *log.lock().unwrap(),
        [(State::Closed, State::Open, TransitionReason::SlowCallRate)]
    );
}

#[tokio::test(start_paused = true)]
async fn open_rejects_at_once_without_calling_upstream() {
    let upstream = Upstream::new();
    upstream.then_n(4, status(500));
    let mut service = CircuitBreaker::new(upstream.clone(), base().build().unwrap());
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    assert_eq!(upstream.calls(), 4);

    // poll_ready is the inner's: ready even though the breaker is open.
    assert!(matches!(
        std::future::poll_fn(|cx| Poll::Ready(Service::<()>::poll_ready(&mut service, cx))).await,
        Poll::Ready(Ok(()))
    ));
    // The rejection is ready on the first poll.
    let mut future = service.call(());
    let Poll::Ready(Err(BreakerError::Open(open))) = poll_once(&mut future) else {
        panic!("a rejection must be ready at once");
    };
    assert_eq!(open.name(), "test");
    assert_eq!(open.retry_after(), Some(secs(10)));
    assert_eq!(upstream.calls(), 4);

    advance(secs(4)).await;
    let open = open_with(call(&mut service).await);
    assert_eq!(open.retry_after(), Some(secs(6)));
    assert_eq!(service.handle().metrics().retry_after, Some(secs(6)));
    assert_eq!(upstream.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn open_moves_to_half_open_lazily_then_closes() {
    let (config, log) = logged(base());
    let upstream = Upstream::new();
    upstream.then_n(4, status(500));
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10) - Duration::from_millis(1)).await;
    open_with(call(&mut service).await);
    advance(Duration::from_millis(1)).await;
    // No timer: the state reads open until a call arrives.
    assert_eq!(service.handle().state(), State::Open);
    assert_eq!(call(&mut service).await.unwrap(), 200);
    let metrics = service.handle().metrics();
    assert_eq!(metrics.state, State::Closed);
    // The closed period starts with an empty window.
    assert_eq!(
        (metrics.calls, metrics.failures, metrics.consecutive_opens),
        (0, 0, 0)
    );
    assert_eq!(
        *log.lock().unwrap(),
        [
            (State::Closed, State::Open, TransitionReason::FailureRate),
            (State::Open, State::HalfOpen, TransitionReason::OpenElapsed),
            (
                State::HalfOpen,
                State::Closed,
                TransitionReason::ProbesSucceeded
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_n_probes_and_decides_when_all_are_in() {
    let config = base().half_open_permits(3).build().unwrap();
    let upstream = Upstream::new();
    upstream.then_n(4, status(500));
    upstream.then([slow(200, secs(1)), slow(200, secs(2)), slow(500, secs(3))]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10)).await;
    let probes: Vec<_> = (0..3).map(|_| tokio::spawn(service.call(()))).collect();
    tokio::task::yield_now().await;
    // Everything else is rejected meanwhile, with no known end.
    for _ in 0..5 {
        let open = open_with(call(&mut service).await);
        assert_eq!(open.retry_after(), None);
    }
    assert_eq!(upstream.calls(), 7);
    let metrics = service.handle().metrics();
    assert_eq!(
        (metrics.state, metrics.probes_in_flight),
        (State::HalfOpen, 3)
    );

    advance(secs(2)).await;
    tokio::task::yield_now().await;
    // Two of three answered: still undecided.
    let metrics = service.handle().metrics();
    assert_eq!(
        (metrics.state, metrics.probes_succeeded),
        (State::HalfOpen, 2)
    );
    for probe in probes {
        probe.await.unwrap().unwrap();
    }
    // 1 failure of 3 is under 50%: closed.
    assert_eq!(service.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn slow_probes_reopen_and_fast_ones_close() {
    // The slow-call threshold also judges the half-open probes: two slow
    // successes of three reopen the breaker (found by cargo-mutants: the
    // probes' slow count had no test).
    let (config, log) = logged(base().slow_calls(secs(2), 0.5).half_open_permits(3));
    let upstream = Upstream::new();
    upstream.then_n(4, status(500));
    upstream.then([slow(200, secs(3)), slow(200, secs(3)), ok()]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10)).await;
    let probes: Vec<_> = (0..3).map(|_| tokio::spawn(service.call(()))).collect();
    for probe in probes {
        assert_eq!(probe.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(service.handle().state(), State::Open);
    assert_eq!(
        log.lock().unwrap().last().unwrap(),
        &(State::HalfOpen, State::Open, TransitionReason::ProbesFailed)
    );
    // Next time the probes are quick (one slow of three): closed.
    advance(secs(10)).await;
    upstream.then([ok(), slow(200, secs(3)), ok()]);
    let probes: Vec<_> = (0..3).map(|_| tokio::spawn(service.call(()))).collect();
    for probe in probes {
        assert_eq!(probe.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(service.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn failed_probes_reopen_for_longer_and_closing_resets_the_backoff() {
    let backoff = OpenBackoff::exponential(secs(10), secs(25)).jitter(0.0);
    let (config, log) = logged(base().open_backoff(backoff));
    let upstream = Upstream::new();
    upstream.then_n(4, status(500));
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    let opens = [10, 20, 25, 25];
    for (i, expected) in opens.iter().enumerate() {
        let open = open_with(call(&mut service).await);
        assert_eq!(
            open.retry_after(),
            Some(secs(*expected)),
            "opening {}",
            i + 1
        );
        advance(secs(*expected)).await;
        if i + 1 < opens.len() {
            upstream.then([status(503)]);
            call(&mut service).await.unwrap(); // the failing probe
        }
    }
    call(&mut service).await.unwrap(); // a good probe closes
    assert_eq!(service.handle().state(), State::Closed);
    upstream.then_n(4, status(500));
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    // Back at the base.
    assert_eq!(
        open_with(call(&mut service).await).retry_after(),
        Some(secs(10))
    );
    let reasons: Vec<_> = log.lock().unwrap().iter().map(|t| t.2).collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|r| **r == TransitionReason::ProbesFailed)
            .count(),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn jittered_open_periods_stay_within_bounds() {
    let backoff = OpenBackoff::constant(secs(100)).jitter(0.5);
    for _ in 0..20 {
        let upstream = Upstream::new();
        upstream.then_n(4, status(500));
        let mut service = CircuitBreaker::new(
            upstream.clone(),
            base().open_backoff(backoff).build().unwrap(),
        );
        for _ in 0..4 {
            call(&mut service).await.unwrap();
        }
        let after = open_with(call(&mut service).await).retry_after().unwrap();
        assert!(after >= secs(50) && after <= secs(100), "{after:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_hung_probe_cannot_hold_half_open_forever() {
    let (config, log) = logged(base().max_half_open_duration(secs(30)));
    let upstream = Upstream::new();
    upstream.then_n(4, status(500)).then([Step::Hang]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10)).await;
    let mut hung = service.call(());
    assert!(poll_once(&mut hung).is_pending());
    advance(secs(29)).await;
    assert_eq!(open_with(call(&mut service).await).retry_after(), None);
    advance(secs(1)).await;
    // Past the cap: the next call opens the breaker again.
    let open = open_with(call(&mut service).await);
    assert_eq!(open.retry_after(), Some(secs(10)));
    assert_eq!(service.handle().state(), State::Open);
    assert_eq!(
        log.lock().unwrap().last().unwrap(),
        &(
            State::HalfOpen,
            State::Open,
            TransitionReason::HalfOpenTimeout
        )
    );
    drop(hung);
    // And recovers.
    advance(secs(10)).await;
    assert_eq!(call(&mut service).await.unwrap(), 200);
    assert_eq!(service.handle().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_idle_half_open_breaker_with_successful_probes_closes_on_its_next_successful_call() {
    let (config, log) = logged(base().half_open_permits(3).max_half_open_duration(secs(30)));
    let upstream = Upstream::new();
    upstream.then_n(4, status(500));
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10)).await;
    // Two of three probes succeed, then nobody calls past the cap.
    assert_eq!(call(&mut service).await.unwrap(), 200);
    assert_eq!(call(&mut service).await.unwrap(), 200);
    advance(secs(31)).await;
    let metrics = service.handle().metrics();
    assert_eq!(
        (
            metrics.state,
            metrics.probes_in_flight,
            metrics.probes_succeeded
        ),
        (State::HalfOpen, 0, 2)
    );
    // No probe hangs: the next call is the third probe, and closes.
    assert_eq!(call(&mut service).await.unwrap(), 200);
    assert_eq!(service.handle().state(), State::Closed);
    assert_eq!(upstream.calls(), 7);
    assert!(
        !log.lock()
            .unwrap()
            .iter()
            .any(|t| t.2 == TransitionReason::HalfOpenTimeout),
        "{:?}",
        log.lock().unwrap()
    );
}

#[tokio::test(start_paused = true)]
async fn a_probe_admitted_past_an_idle_cap_gets_a_fresh_cap() {
    let (config, log) = logged(base().half_open_permits(2).max_half_open_duration(secs(30)));
    let upstream = Upstream::new();
    upstream.then_n(4, status(500)).then([ok(), Step::Hang]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10)).await;
    assert_eq!(call(&mut service).await.unwrap(), 200);
    advance(secs(60)).await;
    // Idle past the cap: admitted as a probe (which hangs).
    let mut hung = service.call(());
    assert!(poll_once(&mut hung).is_pending());
    // A call right after must not reopen the breaker under the new probe.
    advance(secs(1)).await;
    assert_eq!(open_with(call(&mut service).await).retry_after(), None);
    assert_eq!(service.handle().state(), State::HalfOpen);
    advance(secs(28)).await;
    assert_eq!(open_with(call(&mut service).await).retry_after(), None);
    // 30 s after that probe was admitted, it is a hung probe: reopen.
    advance(secs(1)).await;
    assert_eq!(
        open_with(call(&mut service).await).retry_after(),
        Some(secs(10))
    );
    assert_eq!(
        log.lock().unwrap().last().unwrap(),
        &(
            State::HalfOpen,
            State::Open,
            TransitionReason::HalfOpenTimeout
        )
    );
    drop(hung);
    assert_eq!(service.handle().metrics().probes_in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_late_probe_result_only_updates_metrics() {
    let config = base().max_half_open_duration(secs(5)).build().unwrap();
    let upstream = Upstream::new();
    upstream.then_n(4, status(500)).then([slow(500, secs(8))]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10)).await;
    let probe = tokio::spawn(service.call(()));
    tokio::task::yield_now().await;
    advance(secs(5)).await;
    open_with(call(&mut service).await); // half-open timeout: open again until t+25
    advance(secs(3)).await;
    // The probe fails now, after the transition: it must not re-open (or
    // close) anything.
    assert_eq!(probe.await.unwrap().unwrap().status(), 500);
    let metrics = service.handle().metrics();
    assert_eq!(metrics.state, State::Open);
    assert_eq!(metrics.late_results, 1);
    assert_eq!(metrics.retry_after, Some(secs(7)));
}

#[tokio::test(start_paused = true)]
async fn a_late_closed_result_does_not_enter_the_new_window() {
    let upstream = Upstream::new();
    upstream.then([slow(500, secs(5))]);
    let mut service = CircuitBreaker::new(upstream.clone(), base().build().unwrap());
    let handle = service.handle();
    let in_flight = tokio::spawn(service.call(()));
    tokio::task::yield_now().await;
    handle.reset();
    advance(secs(5)).await;
    in_flight.await.unwrap().unwrap();
    let metrics = handle.metrics();
    assert_eq!((metrics.calls, metrics.late_results), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_hint_keeps_the_breaker_open_at_least_that_long() {
    let upstream = Upstream::new();
    upstream
        .then_n(3, status(500))
        .then([Step::RateLimited(secs(60))]);
    let config = base().build().unwrap();
    let mut service = CircuitBreaker::with_classifier(upstream.clone(), config, TestClassifier);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    assert_eq!(
        open_with(call(&mut service).await).retry_after(),
        Some(secs(60))
    );
    advance(secs(59)).await;
    open_with(call(&mut service).await);
    advance(secs(1)).await;
    assert_eq!(call(&mut service).await.unwrap(), 200);
}

#[tokio::test(start_paused = true)]
async fn hints_are_capped_or_ignored_as_configured() {
    for (builder, expected) in [
        (base().retry_after_cap(secs(30)), secs(30)),
        (base().ignore_retry_after(), secs(10)),
        (base().retry_after_cap(secs(3)), secs(10)), // shorter than the backoff
    ] {
        let upstream = Upstream::new();
        upstream
            .then_n(3, status(500))
            .then([Step::RateLimited(secs(3_600))]);
        let config = builder.build().unwrap();
        let mut service = CircuitBreaker::with_classifier(upstream.clone(), config, TestClassifier);
        for _ in 0..4 {
            call(&mut service).await.unwrap();
        }
        assert_eq!(
            open_with(call(&mut service).await).retry_after(),
            Some(expected)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_with_a_hint_reopens_until_the_hint() {
    let upstream = Upstream::new();
    upstream
        .then_n(4, status(500))
        .then([Step::RateLimited(secs(45))]);
    let config = base().build().unwrap();
    let mut service = CircuitBreaker::with_classifier(upstream.clone(), config, TestClassifier);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10)).await;
    call(&mut service).await.unwrap(); // the probe: 429 for 45 s
    assert_eq!(
        open_with(call(&mut service).await).retry_after(),
        Some(secs(45))
    );
}

#[tokio::test(start_paused = true)]
async fn the_time_window_forgets_old_calls() {
    let config = base()
        .window(Window::time(secs(10), 10))
        .minimum_calls(4)
        .build()
        .unwrap();
    let upstream = Upstream::new();
    upstream.then_n(3, status(500));
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..3 {
        call(&mut service).await.unwrap();
    }
    advance(secs(11)).await;
    assert_eq!(service.handle().metrics().calls, 0);
    upstream.then([status(500)]);
    call(&mut service).await.unwrap();
    // Only one recent failure: under the minimum, still closed.
    assert_eq!(service.handle().state(), State::Closed);
    upstream.then_n(3, status(500));
    for _ in 0..3 {
        advance(secs(1)).await;
        call(&mut service).await.unwrap();
    }
    assert_eq!(service.handle().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn forced_states_and_reset() {
    let (config, log) = logged(base());
    let upstream = Upstream::new();
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    let handle = service.handle();

    handle.force_open();
    handle.force_open(); // idempotent: one transition
    let open = open_with(call(&mut service).await);
    assert_eq!(open.retry_after(), None);
    advance(secs(3_600)).await;
    open_with(call(&mut service).await);
    assert_eq!(upstream.calls(), 0);

    handle.force_closed();
    handle.force_closed(); // idempotent too: no second transition
    upstream.then_n(10, status(500));
    for _ in 0..10 {
        call(&mut service).await.unwrap();
    }
    let metrics = handle.metrics();
    assert_eq!((metrics.state, metrics.failures), (State::ForcedClosed, 10));

    handle.reset();
    let metrics = handle.metrics();
    assert_eq!((metrics.state, metrics.calls), (State::Closed, 0));
    // A reset of a closed breaker still happens, and is still announced.
    handle.reset();
    assert_eq!(
        *log.lock().unwrap(),
        [
            (
                State::Closed,
                State::ForcedOpen,
                TransitionReason::ForcedOpen
            ),
            (
                State::ForcedOpen,
                State::ForcedClosed,
                TransitionReason::ForcedClosed
            ),
            (State::ForcedClosed, State::Closed, TransitionReason::Reset),
            (State::Closed, State::Closed, TransitionReason::Reset),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn reset_from_open_clears_the_backoff_and_hints() {
    let upstream = Upstream::new();
    upstream
        .then_n(3, status(500))
        .then([Step::RateLimited(secs(300))]);
    let config = base()
        .open_backoff(OpenBackoff::exponential(secs(10), secs(100)).jitter(0.0))
        .build()
        .unwrap();
    let mut service = CircuitBreaker::with_classifier(upstream.clone(), config, TestClassifier);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    service.handle().reset();
    assert_eq!(call(&mut service).await.unwrap(), 200);
    upstream.then_n(3, status(500));
    for _ in 0..3 {
        call(&mut service).await.unwrap();
    }
    // Neither the 300 s hint nor a grown backoff survived the reset.
    assert_eq!(
        open_with(call(&mut service).await).retry_after(),
        Some(secs(10))
    );
}

#[tokio::test(start_paused = true)]
async fn clones_and_layered_services_share_one_breaker() {
    use tower_layer::Layer;
    let layer = tower_failover::circuit_breaker::CircuitBreakerLayer::new(base().build().unwrap());
    let upstream = Upstream::new();
    upstream.then_n(4, status(500));
    let mut a = layer.layer(upstream.clone());
    let mut b = a.clone();
    let mut c = layer.layer(upstream.clone());
    call(&mut a).await.unwrap();
    call(&mut b).await.unwrap();
    call(&mut c).await.unwrap();
    call(&mut a).await.unwrap();
    assert_eq!(layer.handle().state(), State::Open);
    open_with(call(&mut c).await);
}

#[tokio::test(start_paused = true)]
async fn the_largest_durations_a_config_can_hold_do_not_overflow() {
    // A config file can ask for any duration; the breaker's deadlines
    // saturate rather than overflow.
    for builder in [
        base().max_half_open_duration(Duration::MAX),
        base().open_backoff(OpenBackoff::constant(Duration::MAX)),
        base().retry_after_cap(Duration::MAX),
    ] {
        let upstream = Upstream::new();
        upstream
            .then_n(3, status(500))
            .then([Step::RateLimited(secs(u64::MAX / 1_000))]);
        let config = builder.build().unwrap();
        let mut service = CircuitBreaker::with_classifier(upstream.clone(), config, TestClassifier);
        for _ in 0..4 {
            call(&mut service).await.unwrap();
        }
        assert!(open_with(call(&mut service).await).retry_after().is_some());
        // Past the default open period: half-open (whose cap is now
        // "forever") or still open, but never a panic.
        advance(secs(3_600)).await;
        let _ = call(&mut service).await;
        let _ = call(&mut service).await;
    }
}

// The time-based window's counts (found by cargo-mutants: its slow count and
// its reset had no test).

#[tokio::test(start_paused = true)]
async fn a_time_window_counts_calls_failures_and_slow_calls() {
    let config = base()
        .window(Window::time(secs(10), 10))
        .minimum_calls(100)
        .slow_calls(secs(2), 0.9)
        .build()
        .unwrap();
    let upstream = Upstream::new();
    upstream.then([
        status(500),
        slow(200, secs(3)),
        ok(),
        status(503),
        slow(500, secs(4)),
    ]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..5 {
        call(&mut service).await.unwrap();
    }
    let metrics = service.handle().metrics();
    assert_eq!(
        (
            metrics.state,
            metrics.calls,
            metrics.failures,
            metrics.slow_calls
        ),
        (State::Closed, 5, 3, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn reset_empties_a_time_window() {
    let config = base()
        .window(Window::time(secs(10), 10))
        .minimum_calls(100)
        .build()
        .unwrap();
    let upstream = Upstream::new();
    upstream.then_n(3, status(500));
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..3 {
        call(&mut service).await.unwrap();
    }
    assert_eq!(service.handle().metrics().failures, 3);
    service.handle().reset();
    let metrics = service.handle().metrics();
    assert_eq!((metrics.calls, metrics.failures), (0, 0));
    // The window records again after the reset.
    upstream.then([status(500)]);
    call(&mut service).await.unwrap();
    assert_eq!(service.handle().metrics().failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_transition_to_open_carries_its_open_period_and_no_other_does() {
    // Found by cargo-mutants: the hook's `retry_after` had no test.
    type Seen = Arc<Mutex<Vec<(State, Option<Duration>)>>>;
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let config = base()
        .on_transition(move |t: &Transition| sink.lock().unwrap().push((t.to(), t.retry_after())))
        .build()
        .unwrap();
    let upstream = Upstream::new();
    upstream.then_n(4, status(500));
    upstream.then([ok()]);
    let mut service = CircuitBreaker::new(upstream.clone(), config);
    for _ in 0..4 {
        call(&mut service).await.unwrap();
    }
    advance(secs(10)).await;
    call(&mut service).await.unwrap(); // the probe closes it
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (State::Open, Some(secs(10))),
            (State::HalfOpen, None),
            (State::Closed, None)
        ]
    );
}
