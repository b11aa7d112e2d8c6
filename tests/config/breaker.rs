//! `BreakerConfig`, `Window` and `OpenBackoff`.

use std::time::Duration;

use serde::Deserialize;
use tower_failover::circuit_breaker::{BreakerConfig, OpenBackoff, Window};

use super::{assert_mentions, json, json_error, same_in_all, toml, toml_error, yaml_error};

fn debug<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[test]
fn an_empty_table_is_the_default() {
    let config: BreakerConfig = same_in_all("", "{}", "{}");
    assert_eq!(debug(&config), debug(&BreakerConfig::default()));
}

#[test]
fn every_field_matches_the_builder() {
    let config: BreakerConfig = same_in_all(
        r#"
        name = "anthropic"
        window = { span = "1m", buckets = 12 }
        minimum_calls = 5
        failure_rate_threshold = 0.25
        slow_calls = { duration = "30s", rate = 0.75 }
        consecutive_failures = 4
        open_backoff = { base = "1s", max = "2m", multiplier = 3.0, jitter = 0.1 }
        half_open_permits = 7
        max_half_open_duration = "45s"
        retry_after_cap = "3m"
        "#,
        r#"{
            "name": "anthropic",
            "window": {"span": "1m", "buckets": 12},
            "minimum_calls": 5,
            "failure_rate_threshold": 0.25,
            "slow_calls": {"duration": "30s", "rate": 0.75},
            "consecutive_failures": 4,
            "open_backoff": {"base": "1s", "max": "2m", "multiplier": 3.0, "jitter": 0.1},
            "half_open_permits": 7,
            "max_half_open_duration": "45s",
            "retry_after_cap": "3m"
        }"#,
        "
        name: anthropic
        window: {span: 1m, buckets: 12}
        minimum_calls: 5
        failure_rate_threshold: 0.25
        slow_calls: {duration: 30s, rate: 0.75}
        consecutive_failures: 4
        open_backoff: {base: 1s, max: 2m, multiplier: 3.0, jitter: 0.1}
        half_open_permits: 7
        max_half_open_duration: 45s
        retry_after_cap: 3m
        ",
    );
    let expected = BreakerConfig::builder()
        .name("anthropic")
        .window(Window::time(Duration::from_secs(60), 12))
        .minimum_calls(5)
        .failure_rate_threshold(0.25)
        .slow_calls(Duration::from_secs(30), 0.75)
        .consecutive_failures(4)
        .open_backoff(
            OpenBackoff::exponential(Duration::from_secs(1), Duration::from_secs(120))
                .multiplier(3.0)
                .jitter(0.1),
        )
        .half_open_permits(7)
        .max_half_open_duration(Duration::from_secs(45))
        .retry_after_cap(Duration::from_secs(180))
        .build()
        .unwrap();
    assert_eq!(debug(&config), debug(&expected));
}

#[test]
fn unbounded_half_open_and_ignored_hints() {
    let config: BreakerConfig = toml("unbounded_half_open = true\nignore_retry_after = true");
    let expected = BreakerConfig::builder()
        .unbounded_half_open()
        .ignore_retry_after()
        .build()
        .unwrap();
    assert_eq!(debug(&config), debug(&expected));
    // `false` is the default, not a contradiction.
    let config: BreakerConfig = toml(
        "unbounded_half_open = false\nignore_retry_after = false\nmax_half_open_duration = \"1m\"",
    );
    let expected = BreakerConfig::builder()
        .max_half_open_duration(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(debug(&config), debug(&expected));
}

#[test]
fn window_forms() {
    assert_eq!(json::<Window>(r#"{"calls": 100}"#), Window::count(100));
    assert_eq!(
        json::<Window>(r#"{"span": "30s", "buckets": 10}"#),
        Window::time(Duration::from_secs(30), 10)
    );
    assert_eq!(
        json::<Window>(r#"{"span": "30s"}"#),
        Window::time(Duration::from_secs(30), 10)
    );
    let config: BreakerConfig = toml("window = { calls = 100 }\nminimum_calls = 100");
    let expected = BreakerConfig::builder()
        .window(Window::count(100))
        .minimum_calls(100)
        .build()
        .unwrap();
    assert_eq!(debug(&config), debug(&expected));
}

#[test]
fn a_window_alone_is_checked_like_the_builder_does() {
    // Each message is the builder's own.
    let builder = |window: Window| {
        BreakerConfig::builder()
            .window(window)
            .minimum_calls(1)
            .build()
            .unwrap_err()
            .to_string()
    };
    let cases = [
        (r#"{"calls": 0}"#, Window::count(0)),
        (r#"{"calls": 100001}"#, Window::count(100_001)),
        (
            r#"{"span": "1s", "buckets": 0}"#,
            Window::time(Duration::from_secs(1), 0),
        ),
        (
            r#"{"span": "1s", "buckets": 1001}"#,
            Window::time(Duration::from_secs(1), 1001),
        ),
        (
            r#"{"span": "9ms", "buckets": 10}"#,
            Window::time(Duration::from_millis(9), 10),
        ),
    ];
    for (text, window) in cases {
        let message = json_error::<Window>(text);
        assert!(message.starts_with(&builder(window)), "{text}: {message}");
    }
    // A count window smaller than the default minimum_calls is fine alone.
    assert_eq!(json::<Window>(r#"{"calls": 5}"#), Window::count(5));
}

#[test]
fn the_open_backoff_defaults_are_the_builder_s() {
    let config: BreakerConfig = toml("open_backoff = {}");
    assert_eq!(debug(&config), debug(&BreakerConfig::default()));
    // Each field defaults on its own.
    let config: BreakerConfig = toml("open_backoff = { multiplier = 2.0 }");
    assert_eq!(debug(&config), debug(&BreakerConfig::default()));
}

#[test]
fn open_backoff_forms() {
    #[derive(Debug, Deserialize)]
    struct S {
        open_backoff: OpenBackoff,
    }
    let backoff = |text: &str| toml::<S>(&format!("open_backoff = {text}")).open_backoff;
    assert_eq!(
        backoff(r#"{ constant = "30s" }"#),
        OpenBackoff::constant(Duration::from_secs(30))
    );
    assert_eq!(
        backoff(r#"{ constant = "30s", jitter = 0.5 }"#),
        OpenBackoff::constant(Duration::from_secs(30)).jitter(0.5)
    );
    assert_eq!(
        backoff("{}"),
        OpenBackoff::exponential(Duration::from_secs(5), Duration::from_secs(300))
    );
    assert_eq!(
        backoff(r#"{ base = "5s", max = "5m", multiplier = 2.0, jitter = 0.1 }"#),
        OpenBackoff::exponential(Duration::from_secs(5), Duration::from_secs(300)).jitter(0.1)
    );
}

#[test]
fn unknown_fields_are_errors() {
    let message = toml_error::<BreakerConfig>("failure_rate = 0.5");
    assert_mentions(
        &message,
        &[
            "unknown field `failure_rate`",
            "`failure_rate_threshold`",
            "line 1",
        ],
    );
    let message = toml_error::<BreakerConfig>("window = { size = 10 }");
    assert_mentions(&message, &["unknown field `size`"]);
    let message = toml_error::<BreakerConfig>("open_backoff = { min = \"1s\" }");
    assert_mentions(&message, &["unknown field `min`"]);
    let message =
        toml_error::<BreakerConfig>("slow_calls = { duration = \"1s\", rate = 0.5, x = 1 }");
    assert_mentions(&message, &["unknown field `x`"]);
    let message = json_error::<BreakerConfig>(r#"{"on_transition": "log"}"#);
    assert_mentions(&message, &["unknown field `on_transition`"]);
    let message = yaml_error::<BreakerConfig>("permits: 3");
    assert_mentions(&message, &["unknown field `permits`"]);
}

#[test]
fn wrong_types_and_bad_durations_name_the_field() {
    let message = toml_error::<BreakerConfig>(r#"minimum_calls = "ten""#);
    assert_mentions(&message, &["invalid type: string \"ten\"", "minimum_calls"]);
    let message = toml_error::<BreakerConfig>("window = 50");
    assert_mentions(&message, &["invalid type: integer `50`", "window"]);
    let message = toml_error::<BreakerConfig>("slow_calls = { rate = 0.5 }");
    assert_mentions(&message, &["missing field `duration`", "slow_calls"]);
    let message = toml_error::<BreakerConfig>("max_half_open_duration = 120");
    assert_mentions(
        &message,
        &["a duration needs a unit", "max_half_open_duration = 120"],
    );
    let message = toml_error::<BreakerConfig>(r#"open_backoff = { constant = "30 seconds" }"#);
    assert_mentions(&message, &["unknown duration unit", "open_backoff"]);
    let message = toml_error::<BreakerConfig>(r#"unbounded_half_open = "yes""#);
    assert_mentions(&message, &["invalid type", "unbounded_half_open"]);
}

#[test]
fn builder_rejections_are_the_message() {
    let cases = [
        (
            "window = { calls = 10 }\nminimum_calls = 20",
            "invalid circuit breaker setting minimum_calls: minimum_calls exceeds the size of the count window",
        ),
        (
            "window = { calls = 0 }",
            "invalid circuit breaker setting window: a count window holds between 1 and 100000 calls",
        ),
        (
            "window = { span = \"5ms\", buckets = 10 }",
            "invalid circuit breaker setting window: each bucket of a time window must be at least a millisecond wide",
        ),
        (
            "window = {}",
            "invalid circuit breaker setting window: needs either calls",
        ),
        (
            "window = { calls = 10, span = \"1s\" }",
            "invalid circuit breaker setting window: a count window (calls) has no span or buckets",
        ),
        (
            "minimum_calls = 0",
            "invalid circuit breaker setting minimum_calls",
        ),
        (
            "failure_rate_threshold = 1.5",
            "invalid circuit breaker setting failure_rate_threshold",
        ),
        (
            "slow_calls = { duration = \"0s\", rate = 0.5 }",
            "invalid circuit breaker setting slow_calls: the slow-call duration must be positive",
        ),
        (
            "consecutive_failures = 0",
            "invalid circuit breaker setting consecutive_failures",
        ),
        (
            "open_backoff = { constant = \"0s\" }",
            "invalid circuit breaker setting open_backoff: the open duration must be positive",
        ),
        (
            "open_backoff = { base = \"1m\", max = \"1s\" }",
            "invalid circuit breaker setting open_backoff: the maximum open duration is shorter than the base",
        ),
        (
            "open_backoff = { multiplier = 0.5 }",
            "invalid circuit breaker setting open_backoff: the open backoff multiplier",
        ),
        (
            "open_backoff = { jitter = 1.0 }",
            "invalid circuit breaker setting open_backoff",
        ),
        (
            "open_backoff = { constant = \"1s\", base = \"1s\" }",
            "invalid circuit breaker setting open_backoff: a constant open backoff has no base, max or multiplier",
        ),
        (
            "half_open_permits = 0",
            "invalid circuit breaker setting half_open_permits",
        ),
        (
            "max_half_open_duration = \"0s\"",
            "invalid circuit breaker setting max_half_open_duration",
        ),
        (
            "max_half_open_duration = \"1m\"\nunbounded_half_open = true",
            "invalid circuit breaker setting unbounded_half_open: cannot be true together with max_half_open_duration",
        ),
        (
            "retry_after_cap = \"1m\"\nignore_retry_after = true",
            "invalid circuit breaker setting ignore_retry_after: cannot be true together with retry_after_cap",
        ),
    ];
    for (text, expected) in cases {
        assert_mentions(&toml_error::<BreakerConfig>(text), &[expected]);
    }
    let message = json_error::<BreakerConfig>(r#"{"half_open_permits": 5000}"#);
    assert_mentions(
        &message,
        &["invalid circuit breaker setting half_open_permits"],
    );
    let message = yaml_error::<BreakerConfig>("half_open_permits: 0");
    assert_mentions(
        &message,
        &["invalid circuit breaker setting half_open_permits"],
    );
}

#[test]
fn nan_and_infinity_are_rejected() {
    let cases = [
        (
            "failure_rate_threshold = nan",
            "invalid circuit breaker setting failure_rate_threshold",
        ),
        (
            "slow_calls = { duration = \"1s\", rate = nan }",
            "invalid circuit breaker setting slow_calls",
        ),
        (
            "open_backoff = { multiplier = inf }",
            "invalid circuit breaker setting open_backoff",
        ),
        (
            "open_backoff = { multiplier = nan }",
            "invalid circuit breaker setting open_backoff",
        ),
        (
            "open_backoff = { jitter = nan }",
            "invalid circuit breaker setting open_backoff",
        ),
    ];
    for (text, expected) in cases {
        assert_mentions(&toml_error::<BreakerConfig>(text), &[expected]);
    }
}
