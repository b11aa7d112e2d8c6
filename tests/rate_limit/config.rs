//! Invalid settings are errors at build time, naming the setting.

use std::time::Duration;

use tower_failover::rate_limit::RateLimitConfig;

#[test]
fn invalid_settings_name_their_field() {
    let second = Duration::from_secs(1);
    let cases = [
        (RateLimitConfig::builder().requests(0, second), "requests"),
        (
            RateLimitConfig::builder().requests(1 << 41, Duration::from_secs(3_600)),
            "requests",
        ),
        (
            RateLimitConfig::builder().requests(10, Duration::ZERO),
            "requests",
        ),
        (
            RateLimitConfig::builder().requests(10, Duration::from_secs(86_401)),
            "requests",
        ),
        (
            RateLimitConfig::builder().requests(10, Duration::from_nanos(5)),
            "requests",
        ),
        (RateLimitConfig::builder().burst(0), "burst"),
        (
            RateLimitConfig::builder().requests(10, second).burst(11),
            "burst",
        ),
        (RateLimitConfig::builder().tokens(0, second), "tokens"),
        (
            RateLimitConfig::builder().tokens(10, Duration::ZERO),
            "tokens",
        ),
        (
            RateLimitConfig::builder()
                .tokens(10, second)
                .token_burst(11),
            "token_burst",
        ),
        (RateLimitConfig::builder().token_burst(5), "token_burst"),
        (
            RateLimitConfig::builder().max_wait(Duration::from_secs(86_401)),
            "max_wait",
        ),
        (RateLimitConfig::builder().name(""), "name"),
    ];
    for (builder, field) in cases {
        let debug = format!("{builder:?}");
        let error = builder.build().expect_err(&debug);
        assert_eq!(error.layer(), "rate limit", "{debug}");
        assert_eq!(error.field(), field, "{debug}");
        assert!(
            error.to_string().starts_with("invalid rate limit setting"),
            "{error}"
        );
    }
}

#[test]
fn the_edges_are_valid() {
    let config = RateLimitConfig::builder()
        .requests(1, Duration::from_secs(86_400))
        .burst(1)
        .tokens(1 << 40, Duration::from_secs(86_400))
        .token_burst(1)
        .max_wait(Duration::from_secs(86_400))
        .build();
    assert!(config.is_ok(), "{config:?}");
    assert!(
        RateLimitConfig::builder()
            .requests(1_000_000_000, Duration::from_secs(1))
            .max_wait(Duration::ZERO)
            .build()
            .is_ok()
    );
    assert_eq!(RateLimitConfig::default().name(), "rate_limit");
}

/// 3 a second is one every 333,333,334 ns, never 333,333,333: rounded
/// down, the bucket would admit a little faster than configured.
#[tokio::test(start_paused = true)]
async fn the_interval_rounds_up() {
    use tower::{Layer, Service, ServiceExt, service_fn};
    use tower_failover::rate_limit::RateLimitLayer;

    let config = RateLimitConfig::builder()
        .requests(3, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config);
    let mut service = layer.layer(service_fn(|(): ()| async {
        Ok::<_, std::io::Error>(http::Response::new(()))
    }));
    service.ready().await.unwrap().call(()).await.unwrap();
    let error = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(
        error.as_limited().unwrap().retry_after(),
        Some(Duration::from_nanos(333_333_334))
    );
}

#[test]
fn debug_shows_durations_and_state() {
    use tower_failover::rate_limit::RateLimitLayer;

    let config = RateLimitConfig::builder()
        .name("openai")
        .requests(100, Duration::from_secs(1))
        .max_wait(Duration::from_millis(250))
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let handle = RateLimitLayer::new(config).handle();
        handle.pause(Duration::from_secs(5));
        let debug = format!("{handle:?}");
        for part in [
            "name: \"openai\"",
            "per_unit: 10ms",
            "burst: 100",
            "max_wait: 250ms",
            "paused_for: Some(5s)",
        ] {
            assert!(debug.contains(part), "{part} in {debug}");
        }
    });
}
