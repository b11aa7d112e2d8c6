//! Adapting to what the upstream says: OpenAI's and Anthropic's headers, a
//! 429's `retry-after`, garbage.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_failover::rate_limit::{Limits, RateLimitConfig, RateLimitLayer};

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
    assert!(service.ready().await.unwrap().call(()).await.is_err());
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
