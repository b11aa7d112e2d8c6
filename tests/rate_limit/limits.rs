//! The token bucket, failing fast, the deadline, cancellation and
//! classification.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_failover::BoxError;
use tower_failover::classify::{Classify, DefaultClassifier, FailureKind, classify_error};
use tower_failover::deadline::Deadline;
use tower_failover::rate_limit::{Limits, NoLimits, RateLimitConfig, RateLimitLayer, RateLimited};

use crate::support::Upstream;

/// A limiter whose requests cost their own value in tokens.
type Priced = RateLimitLayer<NoLimits, fn(&u32) -> u32>;

/// Requests that cost their own value in tokens.
fn priced(
    tokens: u64,
    max_wait: Duration,
) -> (
    Priced,
    impl Service<u32, Response = (), Error = std::io::Error, Future: Send> + Clone,
) {
    let config = RateLimitConfig::builder()
        .requests(1_000, Duration::from_secs(1))
        .tokens(tokens, Duration::from_secs(60))
        .max_wait(max_wait)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config)
        .limits_from(NoLimits)
        .cost((|cost: &u32| *cost) as fn(&u32) -> u32);
    let upstream = service_fn(|_: u32| async { Ok::<_, std::io::Error>(()) });
    (layer, upstream)
}

#[tokio::test(start_paused = true)]
async fn the_token_bucket_charges_each_requests_cost() {
    let (layer, upstream) = priced(1_000, Duration::ZERO);
    let handle = layer.handle();
    let mut service = layer.layer(upstream);
    service.ready().await.unwrap().call(600).await.unwrap();
    assert_eq!(handle.available_tokens(), Some(400));
    service.ready().await.unwrap().call(400).await.unwrap();
    let error = service.ready().await.unwrap().call(1).await.unwrap_err();
    // One token refills every 60 ms.
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_millis(60))
    );
    // The refused call took no request slot either.
    assert_eq!(handle.available_requests(), 998);
    tokio::time::sleep(Duration::from_secs(6)).await;
    service.ready().await.unwrap().call(100).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_cost_above_the_burst_is_refused_at_once_never_waited_on() {
    let (layer, upstream) = priced(1_000, Duration::from_secs(3_600));
    let handle = layer.handle();
    let mut service = layer.layer(upstream);
    let started = Instant::now();
    let error = service
        .ready()
        .await
        .unwrap()
        .call(1_001)
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    let limited = error.as_limited().unwrap();
    assert!(limited.is_over_capacity());
    assert_eq!(limited.retry_after(), None);
    assert!(limited.to_string().contains("exceeds"), "{limited}");
    assert_eq!(handle.available_requests(), 1_000);
    assert_eq!(handle.available_tokens(), Some(1_000));
    // Exactly the burst passes.
    service.ready().await.unwrap().call(1_000).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn max_wait_zero_fails_fast_with_the_wait_it_would_take() {
    let config = RateLimitConfig::builder()
        .name("openai")
        .requests(2, Duration::from_secs(1))
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config);
    let upstream = Upstream::new([]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    service.ready().await.unwrap().call(()).await.unwrap();
    let started = Instant::now();
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    let limited = error.as_limited().unwrap();
    assert_eq!(limited.name(), "openai");
    // The first slot frees 500 ms after the start, 400 ms from now.
    assert_eq!(limited.retry_after(), Some(Duration::from_millis(400)));
    assert_eq!(
        limited.to_string(),
        "rate limited by the caller-side limiter: openai"
    );
    assert_eq!(upstream.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_call_never_waits_past_the_deadline() {
    let config = RateLimitConfig::builder()
        .requests(1, Duration::from_secs(1))
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config);
    let upstream = Upstream::new([]);
    let service = layer.layer(upstream.service());
    service.clone().oneshot(()).await.unwrap();

    // Half a second left, a second to wait: refused at once.
    let started = Instant::now();
    let error = Deadline::after(Duration::from_millis(500))
        .scope(service.clone().oneshot(()))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(1))
    );

    // Two seconds left: it waits its second (the refusal reserved nothing).
    Deadline::after(Duration::from_secs(2))
        .scope(service.clone().oneshot(()))
        .await
        .unwrap();
    assert_eq!(upstream.offsets(), [0, 1].map(Duration::from_secs).to_vec());
}

#[tokio::test(start_paused = true)]
async fn a_waiting_call_dropped_gives_its_turn_back() {
    let config = RateLimitConfig::builder()
        .requests(1, Duration::from_secs(1))
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config);
    let upstream = Upstream::new([]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();

    // Waits for the slot at 1 s; dropped at 0.5 s.
    let waiting = service.ready().await.unwrap().call(());
    tokio::select! {
        _ = waiting => panic!("the call should be waiting"),
        () = tokio::time::sleep(Duration::from_millis(500)) => {}
    }
    // The next caller takes the slot at 1 s, not 2 s.
    service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(
        upstream.offsets(),
        [0, 1_000].map(Duration::from_millis).to_vec()
    );
    assert_eq!(layer.handle().available_requests(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_call_dropped_gives_its_tokens_and_its_hold_back() {
    let config = RateLimitConfig::builder()
        .requests(1, Duration::from_secs(1))
        .tokens(100, Duration::from_secs(1))
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let said = Arc::new(AtomicBool::new(false));
    let layer = RateLimitLayer::new(config)
        .limits_from(move |(): &()| {
            // The first response says 5 requests are left for a minute;
            // the others say nothing.
            if said.swap(true, Ordering::Relaxed) {
                Limits::NONE
            } else {
                Limits::NONE.with_requests(5, Duration::from_secs(60))
            }
        })
        .cost(|cost: &u32| *cost);
    let handle = layer.handle();
    let mut service = layer.layer(service_fn(|_: u32| async { Ok::<_, std::io::Error>(()) }));
    service.ready().await.unwrap().call(10).await.unwrap();
    assert_eq!(handle.available_tokens(), Some(90));

    let waiting = service.ready().await.unwrap().call(50);
    assert_eq!(handle.available_tokens(), Some(40));
    drop(waiting);
    assert_eq!(handle.available_tokens(), Some(90));
    // The hold learnt from the first response (5 left) is whole again:
    // five calls pass before the minute is over, not four.
    for _ in 0..5 {
        service.ready().await.unwrap().call(1).await.unwrap();
    }
    let started = Instant::now();
    service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_classified_rate_limited_with_its_wait_as_the_hint() {
    let (layer, upstream) = priced(1_000, Duration::ZERO);
    let mut service = layer.layer(upstream);
    service.ready().await.unwrap().call(1_000).await.unwrap();
    let result = service
        .ready()
        .await
        .unwrap()
        .call(1)
        .await
        .map(|()| http::Response::new(()));

    // Unboxed, through the classifier every layer uses.
    let outcome = DefaultClassifier.classify(&result);
    let failure = outcome.as_failure().expect("a failure");
    assert_eq!(failure.kind(), FailureKind::RateLimited);
    assert_eq!(failure.retry_after(), Some(Duration::from_millis(60)));
    // The upstream was never called: no breaker may count it.
    assert!(failure.is_caller_side());

    // Boxed, it is still a `RateLimited`.
    let boxed: BoxError = result.unwrap_err().into();
    let limited = boxed.downcast_ref::<RateLimited>().expect("a RateLimited");
    assert_eq!(classify_error(limited).kind(), FailureKind::RateLimited);

    // A cost that never fits: rate limited, and not worth retrying here.
    let boxed: BoxError = service
        .ready()
        .await
        .unwrap()
        .call(5_000)
        .await
        .unwrap_err()
        .into();
    let failure = classify_error(&*boxed);
    assert_eq!(failure.kind(), FailureKind::RateLimited);
    assert_eq!(failure.retry_after(), None);
    assert_eq!(failure.hint().should_retry(), Some(false));
    assert!(failure.is_caller_side());
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_with_others_behind_it_never_lets_two_share_a_slot() {
    let config = RateLimitConfig::builder()
        .requests(1, Duration::from_secs(1))
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config);
    let upstream = Upstream::new([]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();

    let first = service.ready().await.unwrap().call(()); // its turn: 1 s
    let second = tokio::spawn(service.clone().oneshot(())); // 2 s
    tokio::task::yield_now().await;
    drop(first);
    service.ready().await.unwrap().call(()).await.unwrap();
    second.await.unwrap().unwrap();
    // The second keeps its slot, the newcomer takes the next one.
    assert_eq!(
        upstream.offsets(),
        [0, 2, 3].map(Duration::from_secs).to_vec()
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_reports_the_longer_of_the_two_buckets_waits() {
    let config = RateLimitConfig::builder()
        .requests(1, Duration::from_secs(1))
        .tokens(100, Duration::from_secs(10))
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config)
        .limits_from(NoLimits)
        .cost(|cost: &u32| *cost);
    let handle = layer.handle();
    let mut service = layer.layer(service_fn(|_: u32| async { Ok::<_, std::io::Error>(()) }));
    service.ready().await.unwrap().call(100).await.unwrap();
    // The next request slot is a second away, the next 100 tokens ten.
    let error = service.ready().await.unwrap().call(100).await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(10))
    );
    // Refused by either bucket, it took nothing from the other.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(handle.available_requests(), 1);
    let error = service.ready().await.unwrap().call(100).await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(9))
    );
    assert_eq!(handle.available_requests(), 1);
    assert_eq!(handle.available_tokens(), Some(10));
}
