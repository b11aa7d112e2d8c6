use std::time::Duration;

use tower_failover::circuit_breaker::{BreakerConfig, OpenBackoff, Window};

#[test]
fn defaults_are_valid() {
    let config = BreakerConfig::default();
    assert_eq!(config.name(), "circuit_breaker");
    assert!(BreakerConfig::builder().build().is_ok());
}

#[test]
fn every_invalid_setting_is_an_error_not_a_panic() {
    let secs = Duration::from_secs;
    let cases = [
        (
            "window 0",
            "window",
            BreakerConfig::builder().window(Window::count(0)),
        ),
        (
            "window too big",
            "window",
            BreakerConfig::builder().window(Window::count(100_001)),
        ),
        (
            "minimum above window",
            "minimum_calls",
            BreakerConfig::builder()
                .window(Window::count(5))
                .minimum_calls(6),
        ),
        (
            "minimum 0",
            "minimum_calls",
            BreakerConfig::builder().minimum_calls(0),
        ),
        (
            "0 buckets",
            "window",
            BreakerConfig::builder().window(Window::time(secs(10), 0)),
        ),
        (
            "too many buckets",
            "window",
            BreakerConfig::builder().window(Window::time(secs(10), 1_001)),
        ),
        (
            "sub-millisecond buckets",
            "window",
            BreakerConfig::builder().window(Window::time(Duration::from_millis(5), 10)),
        ),
        (
            "rate 0",
            "failure_rate_threshold",
            BreakerConfig::builder().failure_rate_threshold(0.0),
        ),
        (
            "rate above 1",
            "failure_rate_threshold",
            BreakerConfig::builder().failure_rate_threshold(1.5),
        ),
        (
            "rate NaN",
            "failure_rate_threshold",
            BreakerConfig::builder().failure_rate_threshold(f64::NAN),
        ),
        (
            "slow duration 0",
            "slow_calls",
            BreakerConfig::builder().slow_calls(Duration::ZERO, 0.5),
        ),
        (
            "slow rate 0",
            "slow_calls",
            BreakerConfig::builder().slow_calls(secs(1), 0.0),
        ),
        (
            "slow rate NaN",
            "slow_calls",
            BreakerConfig::builder().slow_calls(secs(1), f64::NAN),
        ),
        (
            "consecutive 0",
            "consecutive_failures",
            BreakerConfig::builder().consecutive_failures(0),
        ),
        (
            "open 0",
            "open_backoff",
            BreakerConfig::builder().open_backoff(OpenBackoff::constant(Duration::ZERO)),
        ),
        (
            "max below base",
            "open_backoff",
            BreakerConfig::builder().open_backoff(OpenBackoff::exponential(secs(10), secs(5))),
        ),
        (
            "multiplier below 1",
            "open_backoff",
            BreakerConfig::builder()
                .open_backoff(OpenBackoff::exponential(secs(1), secs(5)).multiplier(0.5)),
        ),
        (
            "multiplier infinite",
            "open_backoff",
            BreakerConfig::builder()
                .open_backoff(OpenBackoff::exponential(secs(1), secs(5)).multiplier(f64::INFINITY)),
        ),
        (
            "jitter 1",
            "open_backoff",
            BreakerConfig::builder().open_backoff(OpenBackoff::constant(secs(1)).jitter(1.0)),
        ),
        (
            "jitter negative",
            "open_backoff",
            BreakerConfig::builder().open_backoff(OpenBackoff::constant(secs(1)).jitter(-0.1)),
        ),
        (
            "permits 0",
            "half_open_permits",
            BreakerConfig::builder().half_open_permits(0),
        ),
        (
            "permits too many",
            "half_open_permits",
            BreakerConfig::builder().half_open_permits(4_096),
        ),
        (
            "half-open 0",
            "max_half_open_duration",
            BreakerConfig::builder().max_half_open_duration(Duration::from_micros(10)),
        ),
    ];
    for (what, field, builder) in cases {
        let error = builder.build().expect_err(what);
        assert_eq!(error.layer(), "circuit breaker", "{what}");
        assert_eq!(error.field(), field, "{what}: {error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("invalid circuit breaker setting {field}: ")),
            "{what}: {error}"
        );
    }
}

#[test]
fn boundary_settings_are_accepted() {
    let ok = [
        BreakerConfig::builder()
            .window(Window::count(1))
            .minimum_calls(1),
        BreakerConfig::builder().window(Window::count(100_000)),
        BreakerConfig::builder().window(Window::time(Duration::from_millis(10), 10)),
        BreakerConfig::builder().failure_rate_threshold(1.0),
        BreakerConfig::builder().half_open_permits(4_095),
        BreakerConfig::builder().open_backoff(OpenBackoff::constant(Duration::from_millis(1))),
    ];
    for builder in ok {
        assert!(builder.build().is_ok());
    }
}

#[test]
fn backoff_grows_and_saturates_without_panicking() {
    let backoff =
        OpenBackoff::exponential(Duration::from_secs(1), Duration::from_secs(60)).jitter(0.0);
    let durations: Vec<_> = (1..=8).map(|n| backoff.duration(n).as_secs()).collect();
    assert_eq!(durations, [1, 2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(backoff.duration(0), Duration::from_secs(1));
    assert_eq!(backoff.duration(u32::MAX), Duration::from_secs(60));
    // An unvalidated backoff still never panics.
    let odd =
        OpenBackoff::exponential(Duration::from_secs(10), Duration::from_secs(1)).multiplier(-3.0);
    for n in 1..5 {
        assert!(odd.duration(n) <= Duration::from_secs(10));
    }
}
