//! Adapting to what the upstream says: OpenAI's and Anthropic's headers, a
//! 429's `retry-after`, garbage.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_failover::rate_limit::{
    Limits, RateLimitConfig, RateLimitError, RateLimitHandle, RateLimitLayer,
};

use crate::support::{Upstream, rfc3339, with_headers};

fn config(max_wait: Duration) -> RateLimitConfig {
    RateLimitConfig::builder()
        .requests(100, Duration::from_secs(1))
        .max_wait(max_wait)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn no_request_left_waits_for_the_reset_then_resumes() {
    let layer = RateLimitLayer::new(config(Duration::from_secs(10)));
    let upstream = Upstream::new([with_headers(&[
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "3s"),
    ])]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(layer.handle().paused_for(), Some(Duration::from_secs(3)));
    assert_eq!(layer.handle().available_requests(), 0);

    // The next calls wait for the reset, then pass at the configured rate.
    for _ in 0..3 {
        service.ready().await.unwrap().call(()).await.unwrap();
    }
    assert_eq!(
        upstream.offsets(),
        [0, 3_000, 3_000, 3_000].map(Duration::from_millis).to_vec()
    );
    assert_eq!(layer.handle().paused_for(), None);
}

#[tokio::test(start_paused = true)]
async fn no_request_left_fails_fast_with_the_time_until_the_reset() {
    let layer = RateLimitLayer::new(config(Duration::ZERO));
    let upstream = Upstream::new([with_headers(&[
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "1m30s"),
    ])]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();

    tokio::time::sleep(Duration::from_secs(30)).await;
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    let limited = error.as_limited().unwrap();
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(upstream.count(), 1);

    tokio::time::sleep(Duration::from_secs(60)).await;
    service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(upstream.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_few_requests_left_pass_and_no_more_before_the_reset() {
    let layer = RateLimitLayer::new(config(Duration::ZERO));
    let upstream = Upstream::new([with_headers(&[
        ("x-ratelimit-remaining-requests", "2"),
        ("x-ratelimit-reset-requests", "10s"),
        ("x-ratelimit-remaining-tokens", "1000"),
        ("x-ratelimit-reset-tokens", "10s"),
    ])]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();
    service.ready().await.unwrap().call(()).await.unwrap();
    service.ready().await.unwrap().call(()).await.unwrap();
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(10))
    );
    assert_eq!(upstream.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn anthropic_headers_stop_the_bucket_until_the_reset() {
    let layer = RateLimitLayer::new(config(Duration::ZERO));
    // RFC 3339 resets are read against the wall clock; whole seconds, so
    // the wait is between 30 and 31 seconds.
    let reset = rfc3339(SystemTime::now() + Duration::from_secs(31));
    let upstream = Upstream::new([with_headers(&[
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", &reset),
    ])]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();
    let paused = layer.handle().paused_for().expect("paused until the reset");
    assert!(
        paused > Duration::from_secs(29) && paused <= Duration::from_secs(31),
        "{paused:?}"
    );
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(error.as_limited().unwrap().retry_after(), Some(paused));

    tokio::time::sleep(paused).await;
    service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(upstream.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_429s_retry_after_pauses_every_request() {
    let layer = RateLimitLayer::new(config(Duration::ZERO));
    let upstream = Upstream::new([(429, vec![("retry-after", "7".to_owned())])]);
    let mut service = layer.layer(upstream.service());
    let response = service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(layer.handle().paused_for(), Some(Duration::from_secs(7)));
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(7))
    );
    assert_eq!(upstream.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_on_a_success_is_not_a_pause() {
    let layer = RateLimitLayer::new(config(Duration::ZERO));
    let upstream = Upstream::new([with_headers(&[("retry-after", "7")])]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(layer.handle().paused_for(), None);
    service.ready().await.unwrap().call(()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn garbage_headers_are_ignored() {
    let garbage = [
        ("x-ratelimit-remaining-requests", "soon"),
        ("x-ratelimit-remaining-requests", "-1"),
        ("x-ratelimit-remaining-requests", "+0"),
        ("x-ratelimit-remaining-requests", "0.0"),
        ("x-ratelimit-remaining-requests", ""),
    ];
    for (name, value) in garbage {
        let layer = RateLimitLayer::new(config(Duration::ZERO));
        let upstream = Upstream::new([with_headers(&[
            (name, value),
            ("x-ratelimit-reset-requests", "10s"),
        ])]);
        let mut service = layer.layer(upstream.service());
        service.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(layer.handle().paused_for(), None, "{name}: {value}");
        assert_eq!(layer.handle().available_requests(), 99, "{name}: {value}");
    }
    for reset in [
        "forever",
        "1e3",
        "-3s",
        "25h",
        "NaN",
        "9999999999999999999s",
    ] {
        let layer = RateLimitLayer::new(config(Duration::ZERO));
        let upstream = Upstream::new([with_headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", reset),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2024-02-30T00:00:00Z"),
        ])]);
        let mut service = layer.layer(upstream.service());
        service.ready().await.unwrap().call(()).await.unwrap();
        assert_eq!(layer.handle().paused_for(), None, "{reset}");
        service.ready().await.unwrap().call(()).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn adapting_can_be_turned_off() {
    let config = RateLimitConfig::builder()
        .requests(100, Duration::from_secs(1))
        .max_wait(Duration::ZERO)
        .adapt(false)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config);
    let upstream = Upstream::new([with_headers(&[
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "3s"),
    ])]);
    let mut service = layer.layer(upstream.service());
    service.ready().await.unwrap().call(()).await.unwrap();
    service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(layer.handle().paused_for(), None);
}

#[tokio::test(start_paused = true)]
async fn a_custom_reader_adapts_any_response() {
    let config = RateLimitConfig::builder()
        .requests(100, Duration::from_secs(1))
        .tokens(1_000, Duration::from_secs(60))
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config)
        .limits_from(|tokens_left: &u64| {
            Limits::NONE.with_tokens(*tokens_left, Duration::from_secs(5))
        })
        .cost(|_: &()| 10);
    let handle = layer.handle();
    let mut service = layer.layer(tower::service_fn(|(): ()| async {
        Ok::<_, std::io::Error>(0_u64)
    }));
    service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(handle.available_tokens(), Some(0));
    let started = Instant::now();
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(5))
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
}

/// A limiter whose upstream answers each call with the [`Limits`] sent
/// through its gate, when the test says: calls stay in flight meanwhile.
fn gated(
    max_wait: Duration,
) -> (
    RateLimitHandle,
    impl Service<oneshot::Receiver<Limits>, Response = Limits, Error = RateLimitError<Infallible>>
    + Clone,
) {
    let layer = RateLimitLayer::new(config(max_wait)).limits_from(|limits: &Limits| *limits);
    let handle = layer.handle();
    let service = layer.layer(tower::service_fn(
        |gate: oneshot::Receiver<Limits>| async move {
            Ok::<_, Infallible>(gate.await.unwrap_or(Limits::NONE))
        },
    ));
    (handle, service)
}

/// Sends a call through `service` and returns its gate and its future
/// (admitted, not yet answered).
async fn in_flight<S>(service: &mut S) -> (oneshot::Sender<Limits>, S::Future)
where
    S: Service<oneshot::Receiver<Limits>>,
    S::Error: std::fmt::Debug,
{
    let (gate, receiver) = oneshot::channel();
    let future = service.ready().await.unwrap().call(receiver);
    (gate, future)
}

/// Sends two calls, then answers the first with `first` and the second with
/// `second`, in that order.
async fn two_answered_in_order<S>(service: &mut S, first: Limits, second: Limits)
where
    S: Service<oneshot::Receiver<Limits>>,
    S::Error: std::fmt::Debug,
{
    let (gate_a, a) = in_flight(service).await;
    let (gate_b, b) = in_flight(service).await;
    gate_a.send(first).unwrap();
    a.await.unwrap();
    gate_b.send(second).unwrap();
    b.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_pause_outlives_a_later_response_with_requests_left() {
    let (handle, mut service) = gated(Duration::ZERO);
    // A 429 asking for 20 s, then the 200 of a call that was in flight,
    // saying 400 requests are left for a second.
    two_answered_in_order(
        &mut service,
        Limits::NONE.with_retry_after(Duration::from_secs(20)),
        Limits::NONE.with_requests(400, Duration::from_secs(1)),
    )
    .await;
    assert_eq!(handle.paused_for(), Some(Duration::from_secs(20)));
    let (_, refused) = in_flight(&mut service).await;
    let error = refused.await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(20))
    );
}

#[tokio::test(start_paused = true)]
async fn a_short_retry_after_never_ends_a_longer_no_request_left() {
    let (handle, mut service) = gated(Duration::ZERO);
    two_answered_in_order(
        &mut service,
        Limits::NONE.with_requests(0, Duration::from_secs(20)),
        Limits::NONE.with_retry_after(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(handle.paused_for(), Some(Duration::from_secs(20)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, refused) = in_flight(&mut service).await;
    let error = refused.await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(18))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stricter_count_that_ends_later_is_kept() {
    let (handle, mut service) = gated(Duration::ZERO);
    two_answered_in_order(
        &mut service,
        Limits::NONE.with_requests(0, Duration::from_secs(20)),
        Limits::NONE.with_requests(400, Duration::from_secs(1)),
    )
    .await;
    assert_eq!(handle.paused_for(), Some(Duration::from_secs(20)));
    assert_eq!(handle.available_requests(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_handle_pause_never_shortens_a_running_one() {
    let (handle, _) = gated(Duration::ZERO);
    handle.pause(Duration::from_secs(20));
    handle.pause(Duration::from_secs(1));
    assert_eq!(handle.paused_for(), Some(Duration::from_secs(20)));
    handle.pause(Duration::from_secs(30));
    assert_eq!(handle.paused_for(), Some(Duration::from_secs(30)));
}

#[tokio::test(start_paused = true)]
async fn calls_in_flight_are_charged_against_a_remaining_count() {
    let (handle, mut service) = gated(Duration::ZERO);
    let (gate_a, a) = in_flight(&mut service).await;
    let (gate_b, b) = in_flight(&mut service).await;
    let (gate_c, c) = in_flight(&mut service).await;
    // The upstream counted the first call only: 2 left, and the two calls
    // still in flight will take them.
    gate_a
        .send(Limits::NONE.with_requests(2, Duration::from_secs(10)))
        .unwrap();
    a.await.unwrap();
    assert_eq!(handle.available_requests(), 0);
    let (_, refused) = in_flight(&mut service).await;
    let error = refused.await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_secs(10))
    );
    drop((gate_b, gate_c));
    b.await.unwrap();
    c.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_older_response_never_loosens_a_newer_count() {
    let (handle, mut service) = gated(Duration::ZERO);
    let (gate_a, a) = in_flight(&mut service).await;
    let (gate_b, b) = in_flight(&mut service).await;
    // The second call's answer arrives first: 2 left (other clients of the
    // key took some). The first call's answer, older, arrives last and
    // would say 6 left, until a little later.
    gate_b
        .send(Limits::NONE.with_requests(2, Duration::from_secs(10)))
        .unwrap();
    b.await.unwrap();
    gate_a
        .send(Limits::NONE.with_requests(6, Duration::from_secs(11)))
        .unwrap();
    a.await.unwrap();
    assert_eq!(handle.available_requests(), 2);
    for _ in 0..2 {
        let (gate, call) = in_flight(&mut service).await;
        drop(gate);
        call.await.unwrap();
    }
    let (_, refused) = in_flight(&mut service).await;
    assert!(refused.await.unwrap_err().is_limited());
}
