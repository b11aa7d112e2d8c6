//! RetryLayer against a scripted upstream, in paused time.

#[path = "../support/mod.rs"]
mod support;

mod backoff;
mod budget;
mod replay;

use std::io::ErrorKind;
use std::time::Duration;

use support::{Step, Upstream, cancel_at_every_poll, io_error, ok, poll_once, request, status};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_failover::BoxError;
use tower_failover::deadline::{AttemptTimeoutLayer, DeadlineExceeded, TimeoutBudgetLayer};
use tower_failover::retry::{Backoff, HttpReplay, Jitter, Retry, RetryLayer, RetryPolicy};

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(max_attempts)
        .backoff(Backoff::constant(Duration::from_millis(100)).with_jitter(Jitter::None))
        .no_budget()
        .build()
        .unwrap()
}

fn retry(upstream: &Upstream, policy: RetryPolicy) -> Retry<Upstream> {
    RetryLayer::new(policy).layer(upstream.clone())
}

async fn send(upstream: &Upstream, policy: RetryPolicy) -> Result<u16, BoxError> {
    retry(upstream, policy)
        .oneshot(request())
        .await
        .map(|response| response.status().as_u16())
}

#[tokio::test(start_paused = true)]
async fn retries_exactly_the_retryable_statuses() {
    let retryable = [408, 409, 429, 500, 502, 503, 504, 529, 599];
    let final_ = [400, 401, 402, 403, 404, 405, 413, 422, 451, 501, 505];
    for code in retryable {
        let upstream = Upstream::new([status(code)]);
        assert_eq!(send(&upstream, policy(3)).await.unwrap(), code);
        assert_eq!(upstream.call_count(), 3, "status {code} should be retried");
    }
    for code in final_ {
        let upstream = Upstream::new([status(code)]);
        assert_eq!(send(&upstream, policy(3)).await.unwrap(), code);
        assert_eq!(
            upstream.call_count(),
            1,
            "status {code} must not be retried"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn retries_transport_errors_and_returns_the_last_one() {
    for kind in [
        ErrorKind::ConnectionRefused,
        ErrorKind::ConnectionReset,
        ErrorKind::TimedOut,
    ] {
        let upstream = Upstream::new([io_error(kind)]);
        let error = send(&upstream, policy(4)).await.unwrap_err();
        assert_eq!(error.downcast_ref::<std::io::Error>().unwrap().kind(), kind);
        assert_eq!(upstream.call_count(), 4);
    }
}

#[tokio::test(start_paused = true)]
async fn stops_at_the_first_success() {
    let upstream = Upstream::new([status(503), status(502), ok(), status(500)]);
    assert_eq!(send(&upstream, policy(10)).await.unwrap(), 200);
    assert_eq!(upstream.call_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn attempts_never_exceed_max_attempts() {
    for max_attempts in 1..=8 {
        let upstream = Upstream::new([status(503)]);
        send(&upstream, policy(max_attempts)).await.unwrap();
        assert_eq!(upstream.call_count(), max_attempts as usize);
    }
}

#[tokio::test(start_paused = true)]
async fn a_400_is_never_retried() {
    let upstream = Upstream::new([status(400), ok()]);
    assert_eq!(send(&upstream, policy(5)).await.unwrap(), 400);
    assert_eq!(upstream.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn waits_the_backoff_between_attempts() {
    let upstream = Upstream::new([status(503), status(503), ok()]);
    let policy = RetryPolicy::builder()
        .backoff(
            Backoff::exponential(Duration::from_millis(500), Duration::from_secs(8))
                .with_jitter(Jitter::None),
        )
        .no_budget()
        .build()
        .unwrap();
    send(&upstream, policy).await.unwrap();
    let offsets = upstream.call_offsets();
    assert_eq!(
        offsets,
        [
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_millis(1500)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_ms_waits_the_hint_not_the_backoff() {
    let upstream = Upstream::new([status(429).header("retry-after-ms", "1500"), ok()]);
    assert_eq!(send(&upstream, policy(3)).await.unwrap(), 200);
    assert_eq!(
        upstream.call_offsets(),
        [Duration::ZERO, Duration::from_millis(1500)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_in_seconds_is_honoured() {
    let upstream = Upstream::new([status(503).header("retry-after", "3"), ok()]);
    send(&upstream, policy(3)).await.unwrap();
    assert_eq!(
        upstream.call_offsets(),
        [Duration::ZERO, Duration::from_secs(3)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_hint_above_the_cap_gives_up_at_once() {
    let upstream = Upstream::new([status(429).header("retry-after", "120"), ok()]);
    let start = Instant::now();
    let policy = RetryPolicy::builder()
        .max_retry_after(Duration::from_secs(60))
        .no_budget()
        .build()
        .unwrap();
    assert_eq!(send(&upstream, policy).await.unwrap(), 429);
    assert_eq!(upstream.call_count(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_hint_equal_to_the_cap_is_still_honoured() {
    // "Up to the cap" includes the cap (a mutant of `>` into `>=` survived).
    let upstream = Upstream::new([status(429).header("retry-after", "60"), ok()]);
    let start = Instant::now();
    let policy = RetryPolicy::builder()
        .max_retry_after(Duration::from_secs(60))
        .no_budget()
        .build()
        .unwrap();
    assert_eq!(send(&upstream, policy).await.unwrap(), 200);
    assert_eq!(upstream.call_count(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn x_should_retry_false_stops_a_retry_of_a_503() {
    let upstream = Upstream::new([status(503).header("x-should-retry", "false"), ok()]);
    assert_eq!(send(&upstream, policy(3)).await.unwrap(), 503);
    assert_eq!(upstream.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn x_should_retry_true_retries_what_the_status_would_not() {
    let upstream = Upstream::new([status(400).header("x-should-retry", "true"), ok()]);
    assert_eq!(send(&upstream, policy(3)).await.unwrap(), 200);
    assert_eq!(upstream.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_quota_error_is_never_retried() {
    let upstream = Upstream::new([status(402), ok()]);
    assert_eq!(send(&upstream, policy(3)).await.unwrap(), 402);
    assert_eq!(upstream.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_after_the_deadline_and_the_call_ends_by_it() {
    // Each attempt takes 700 ms and fails; the budget is 2 s.
    let upstream = Upstream::new([status(503).after(Duration::from_millis(700))]);
    let service = TimeoutBudgetLayer::new(Duration::from_secs(2))
        .layer(RetryLayer::new(policy(10)).layer(upstream.clone()));
    let start = Instant::now();
    let result = service.oneshot(request()).await;
    let elapsed = start.elapsed();

    assert!(elapsed <= Duration::from_secs(2), "ended after {elapsed:?}");
    let offsets = upstream.call_offsets();
    assert!(
        offsets.len() >= 2,
        "it should still retry within the budget"
    );
    assert!(
        offsets.iter().all(|&at| at < Duration::from_secs(2)),
        "{offsets:?}"
    );
    // 0 → 700 ms fail, sleep 100 ms, 800 → 1500 fail, sleep 100 ms,
    // 1600 → cut at 2000 by the deadline.
    assert_eq!(
        offsets,
        [
            Duration::ZERO,
            Duration::from_millis(800),
            Duration::from_millis(1600)
        ]
    );
    assert!(result.unwrap_err().is::<DeadlineExceeded>());
}

#[tokio::test(start_paused = true)]
async fn never_sleeps_past_the_deadline() {
    // A hint of 5 s inside a 2 s budget: retrying would sleep past it, so the
    // 503 comes back at once.
    let upstream = Upstream::new([status(503).header("retry-after", "5"), ok()]);
    let service = TimeoutBudgetLayer::new(Duration::from_secs(2))
        .layer(RetryLayer::new(policy(3)).layer(upstream.clone()));
    let start = Instant::now();
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(upstream.call_count(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn attempt_timeouts_are_retried_and_the_deadline_clips_them() {
    // Every attempt hangs. Per-try 1 s, budget 2.5 s, 100 ms backoff:
    // 0 → 1000 timed out, 1100 → 2100 timed out, 2200 → 2500 cut by the deadline.
    let upstream = Upstream::new([Step::Hang]);
    let service = TimeoutBudgetLayer::new(Duration::from_millis(2500)).layer(
        RetryLayer::new(policy(10))
            .layer(AttemptTimeoutLayer::new(Duration::from_secs(1)).layer(upstream.clone())),
    );
    let start = Instant::now();
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    assert_eq!(start.elapsed(), Duration::from_millis(2500));
    assert_eq!(
        upstream.call_offsets(),
        [
            Duration::ZERO,
            Duration::from_millis(1100),
            Duration::from_millis(2200)
        ]
    );
    assert_eq!(upstream.live_futures(), 0, "timed-out attempts are dropped");
}

#[tokio::test(start_paused = true)]
async fn the_failed_response_is_dropped_before_the_backoff_sleep() {
    let upstream = Upstream::new([status(503), ok()]);
    let mut service = retry(&upstream, policy(3));
    service.ready().await.unwrap();
    let mut future = Box::pin(service.call(request()));
    // First poll: the 503 arrives and the retry layer starts sleeping.
    assert!(poll_once(&mut future).await.is_none());
    assert_eq!(upstream.call_count(), 1);
    assert_eq!(
        upstream.live_responses(),
        0,
        "the 503 must not be held during the sleep"
    );
    let response = future.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.live_responses(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_backoff_leaves_nothing_running() {
    let upstream = Upstream::new([status(503), ok()]);
    let mut service = retry(&upstream, policy(3));
    service.ready().await.unwrap();
    let mut future = Box::pin(service.call(request()));
    assert!(poll_once(&mut future).await.is_none());
    drop(future);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(upstream.call_count(), 1, "no attempt after the drop");
    assert_eq!(upstream.live_futures(), 0);
    assert_eq!(upstream.live_responses(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_attempt_drops_the_attempt() {
    let upstream = Upstream::new([Step::Hang]);
    let mut service = retry(&upstream, policy(3));
    service.ready().await.unwrap();
    let mut future = Box::pin(service.call(request()));
    assert!(poll_once(&mut future).await.is_none());
    assert_eq!(upstream.live_futures(), 1);
    drop(future);
    assert_eq!(upstream.live_futures(), 0);
}

#[tokio::test(start_paused = true)]
async fn inner_services_see_the_attempt_number() {
    let upstream = Upstream::new([status(503), status(503), ok()]);
    let service = RetryLayer::new(policy(3))
        .replay(HttpReplay)
        .layer(upstream.clone());
    service.oneshot(request()).await.unwrap();
    let calls = upstream.calls();
    let seen: Vec<_> = calls
        .iter()
        .map(|c| (c.attempt, c.attempt_extension))
        .collect();
    assert_eq!(
        seen,
        [(Some(1), Some(1)), (Some(2), Some(2)), (Some(3), Some(3))]
    );
    assert!(calls.iter().all(|c| c.body == request().into_body()));
}

#[tokio::test(start_paused = true)]
async fn one_attempt_means_no_copy_and_no_retry() {
    let upstream = Upstream::new([status(503), ok()]);
    let service = RetryLayer::new(policy(1))
        .replay(
            |_: &http::Request<String>| -> Option<http::Request<String>> {
                panic!("a policy of one attempt must not copy the request")
            },
        )
        .layer(upstream.clone());
    assert_eq!(service.oneshot(request()).await.unwrap().status(), 503);
    assert_eq!(upstream.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_replayed_is_sent_once() {
    let upstream = Upstream::new([status(503), ok()]);
    let service = RetryLayer::new(policy(3))
        .replay(|_: &http::Request<String>| None)
        .layer(upstream.clone());
    assert_eq!(service.oneshot(request()).await.unwrap().status(), 503);
    assert_eq!(upstream.call_count(), 1);
}

#[test]
fn invalid_policies_are_rejected_with_the_field_named() {
    let error = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(error.field(), "max_attempts");
    let error = RetryPolicy::builder()
        .max_attempts(1000)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "max_attempts");
    let error = RetryPolicy::builder()
        .backoff(Backoff::exponential(
            Duration::from_secs(2),
            Duration::from_secs(1),
        ))
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "backoff");
    assert_eq!(error.layer(), "retry");
    assert!(
        error
            .to_string()
            .starts_with("invalid retry setting backoff: ")
    );
}

#[test]
fn the_default_policy_matches_the_llm_sdks() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.max_attempts(), 3);
    assert_eq!(policy.backoff().base(), Duration::from_millis(500));
    assert_eq!(policy.backoff().cap(), Duration::from_secs(8));
    assert_eq!(policy.backoff().jitter(), Jitter::Full);
    assert_eq!(policy.max_retry_after(), Duration::from_secs(60));
    assert!(policy.budget().is_some());
}

#[tokio::test(start_paused = true)]
async fn cancelling_at_every_await_point_leaves_nothing_behind() {
    // A script that visits every state: attempt in flight, backoff sleep,
    // attempt again; slow attempts so that each poll lands somewhere new.
    let script = || {
        Upstream::new([
            status(503).after(Duration::from_millis(50)),
            status(429)
                .header("retry-after-ms", "70")
                .after(Duration::from_millis(50)),
            ok().after(Duration::from_millis(50)),
        ])
    };
    cancel_at_every_poll(|| {
        let upstream = script();
        (retry(&upstream, policy(3)), vec![upstream])
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_policys_accessors_return_what_was_built() {
    // Not the defaults: the accessors must not fall back to them.
    let backoff = Backoff::constant(Duration::from_millis(250)).with_jitter(Jitter::Equal);
    let budget = tower_failover::retry::RetryBudget::new(Duration::from_secs(10), 3, 0.5).unwrap();
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(backoff)
        .budget(budget)
        .build()
        .unwrap();
    assert_eq!(*policy.backoff(), backoff);
    assert_ne!(*policy.backoff(), Backoff::default());
    // 3 retries a second over 10 s in reserve, the default's being 100.
    assert_eq!(policy.budget().map(|budget| budget.remaining()), Some(30));
}

#[tokio::test(start_paused = true)]
async fn the_last_attempt_takes_the_kept_request_instead_of_a_copy() {
    // Copies are made only when another attempt may follow: with three
    // attempts in all, two copies, and the third attempt sends the original.
    let copies = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = copies.clone();
    let replay = move |request: &http::Request<String>| {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut copy = http::Request::new(request.body().clone());
        *copy.uri_mut() = request.uri().clone();
        Some(copy)
    };
    let upstream = Upstream::new([status(503), status(503), status(503)]);
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .build()
        .unwrap();
    let service = RetryLayer::new(policy)
        .replay(replay)
        .layer(upstream.clone());
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(upstream.call_count(), 3);
    assert_eq!(copies.load(std::sync::atomic::Ordering::Relaxed), 2);
}
