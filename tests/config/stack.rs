//! A whole stack's settings in an application's config struct, from the
//! fixture files, and where the errors point.

use std::time::Duration;

use serde::Deserialize;
use tower_failover::circuit_breaker::{BreakerConfig, OpenBackoff, Window};
use tower_failover::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};
use tower_failover::fallback::{FallbackGraph, Routing, Weighted};
use tower_failover::hedge::{HedgeConfig, HedgeDelay};
use tower_failover::rate_limit::RateLimitConfig;
use tower_failover::retry::{Backoff, Jitter, RetryBudget, RetryPolicy};

use super::{assert_mentions, same_in_all};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stack {
    budget: TimeoutBudgetLayer,
    attempt_timeout: AttemptTimeoutLayer,
    #[serde(default)]
    retry: RetryPolicy,
    #[serde(default)]
    breaker: BreakerConfig,
    fallback: FallbackGraph,
    #[serde(default)]
    routing: Routing,
    #[serde(default)]
    rate_limit: RateLimitConfig,
    // A hedge needs its delay: no default.
    hedge: Option<HedgeConfig>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read through `Debug` only
struct App {
    upstreams: Vec<Upstream>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read through `Debug` only
struct Upstream {
    name: String,
    #[serde(default)]
    retry: RetryPolicy,
    #[serde(default)]
    breaker: BreakerConfig,
}

fn debug<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[test]
fn the_same_stack_from_toml_json_and_yaml() {
    let stack: Stack = same_in_all(
        include_str!("fixtures/stack.toml"),
        include_str!("fixtures/stack.json"),
        include_str!("fixtures/stack.yaml"),
    );
    assert_eq!(
        debug(&stack.budget),
        debug(&TimeoutBudgetLayer::new(Duration::from_secs(45)))
    );
    assert_eq!(
        debug(&stack.attempt_timeout),
        debug(&AttemptTimeoutLayer::new(Duration::from_secs(12)))
    );
    assert_eq!(stack.retry.max_attempts(), 4);
    assert_eq!(
        stack.retry.backoff(),
        &Backoff::exponential(Duration::from_millis(250), Duration::from_secs(4))
            .with_jitter(Jitter::Equal)
    );
    assert_eq!(stack.retry.max_retry_after(), Duration::from_secs(20));
    assert_eq!(stack.retry.budget().unwrap().remaining(), 10);
    let breaker = BreakerConfig::builder()
        .name("openai")
        .window(Window::time(Duration::from_secs(30), 15))
        .minimum_calls(20)
        .failure_rate_threshold(0.4)
        .slow_calls(Duration::from_secs(20), 0.9)
        .consecutive_failures(6)
        .open_backoff(
            OpenBackoff::exponential(Duration::from_secs(2), Duration::from_secs(60))
                .multiplier(3.0)
                .jitter(0.1),
        )
        .half_open_permits(2)
        .max_half_open_duration(Duration::from_secs(90))
        .retry_after_cap(Duration::from_secs(300))
        .build()
        .unwrap();
    assert_eq!(debug(&stack.breaker), debug(&breaker));
    let chain: Vec<&str> = stack.fallback.chain("gpt-4o").unwrap().collect();
    assert_eq!(chain, ["claude-sonnet", "claude-haiku", "gpt-4o-mini"]);
    assert_eq!(
        debug(&stack.routing),
        debug(&Routing::Weighted(Weighted::new([6, 2, 1, 1]).unwrap()))
    );
    let rate_limit = RateLimitConfig::builder()
        .name("openai")
        .requests(500, Duration::from_secs(60))
        .burst(50)
        .tokens(30_000, Duration::from_secs(60))
        .token_burst(10_000)
        .max_wait(Duration::from_secs(2))
        .adapt(false)
        .build()
        .unwrap();
    assert_eq!(stack.rate_limit, rate_limit);
    let hedge = HedgeConfig::builder(HedgeDelay::Percentile {
        p: 95.0,
        min_samples: 100,
        fallback: Duration::from_millis(500),
    })
    .max_hedges(2)
    .latency_window(Duration::from_secs(30))
    .budget(RetryBudget::new(Duration::from_secs(5), 2, 0.1).unwrap())
    .build()
    .unwrap();
    assert_eq!(debug(&stack.hedge.unwrap()), debug(&hedge));
}

#[test]
fn missing_sections_take_the_defaults() {
    let stack: Stack = super::toml("budget = \"30s\"\nattempt_timeout = \"10s\"\n[fallback]");
    assert_eq!(debug(&stack.retry), debug(&RetryPolicy::default()));
    assert_eq!(debug(&stack.breaker), debug(&BreakerConfig::default()));
    assert!(matches!(stack.routing, Routing::Static));
    assert_eq!(stack.rate_limit, RateLimitConfig::default());
    assert!(stack.hedge.is_none());
}

#[test]
fn toml_errors_point_at_the_line() {
    let text = include_str!("fixtures/stack.toml").replace("max_attempts = 4", "max_attempts = 0");
    let message = toml::from_str::<Stack>(&text).unwrap_err().to_string();
    // A builder judges the whole table, so the error points at the table
    // and the message names the key.
    assert_mentions(
        &message,
        &[
            "invalid retry setting max_attempts: must be between 1 and 100",
            "line 6",
            "[retry]",
        ],
    );
    let text =
        include_str!("fixtures/stack.toml").replace("minimum_calls = 20", "minimum_calls = \"20\"");
    let message = toml::from_str::<Stack>(&text).unwrap_err().to_string();
    assert_mentions(
        &message,
        &["line 15", "minimum_calls", "invalid type: string \"20\""],
    );
    let text = include_str!("fixtures/stack.toml").replace("max_hedges = 2", "max_hedges = 5");
    let message = toml::from_str::<Stack>(&text).unwrap_err().to_string();
    assert_mentions(
        &message,
        &[
            "invalid hedge setting max_hedges: must be between 1 and 4",
            "line 39",
            "[hedge]",
        ],
    );
    let text = include_str!("fixtures/stack.toml").replace("burst = 50", "burst = 501");
    let message = toml::from_str::<Stack>(&text).unwrap_err().to_string();
    assert_mentions(
        &message,
        &[
            "invalid rate limit setting burst: must be between 1 and the count of requests",
            "line 30",
            "[rate_limit]",
        ],
    );
}

#[test]
fn serde_path_to_error_gives_the_path() {
    let text = r#"
[[upstreams]]
name = "openai"

[[upstreams]]
name = "anthropic"
retry = { max_attempts = 0 }
"#;
    let deserializer = toml::Deserializer::parse(text).unwrap();
    let error = serde_path_to_error::deserialize::<_, App>(deserializer).unwrap_err();
    assert_eq!(error.path().to_string(), "upstreams[1].retry");
    assert_mentions(
        &error.inner().to_string(),
        &["invalid retry setting max_attempts"],
    );

    let json = r#"{"upstreams": [{"name": "a", "breaker": {"window": {"calls": "many"}}}]}"#;
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    let error = serde_path_to_error::deserialize::<_, App>(deserializer).unwrap_err();
    assert_eq!(
        error.path().to_string(),
        "upstreams[0].breaker.window.calls"
    );
    assert_mentions(
        &error.inner().to_string(),
        &["invalid type: string \"many\""],
    );

    let yaml = "upstreams:\n  - name: a\n    retry:\n      backoff: {base: 1s, cap: 2x}\n";
    let error =
        serde_path_to_error::deserialize::<_, App>(serde_yaml::Deserializer::from_str(yaml))
            .unwrap_err();
    assert_eq!(error.path().to_string(), "upstreams[0].retry.backoff.cap");
    assert_mentions(&error.inner().to_string(), &["unknown duration unit \"x\""]);
}

/// The README's configuration example, as it is printed there.
#[test]
fn the_readme_example_deserializes() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Readme {
        budget: TimeoutBudgetLayer,
        attempt_timeout: AttemptTimeoutLayer,
        retry: RetryPolicy,
        breaker: BreakerConfig,
        fallbacks: FallbackGraph,
    }

    let readme = include_str!("../../README.md");
    let start = readme
        .find("```toml\n")
        .expect("a TOML block in the README")
        + 8;
    let length = readme[start..].find("```").unwrap();
    let config: Readme = super::toml(&readme[start..start + length]);
    assert_eq!(config.retry.max_attempts(), 3);
    assert_eq!(config.retry.max_retry_after(), Duration::from_secs(60));
    assert_eq!(
        config
            .fallbacks
            .chain("gpt-4o")
            .unwrap()
            .collect::<Vec<_>>(),
        ["claude-sonnet-4-5", "gpt-4o-mini"]
    );
    assert!(format!("{:?}", config.budget).contains("30s"));
    assert!(format!("{:?}", config.attempt_timeout).contains("10s"));
    assert!(format!("{:?}", config.breaker).contains("0.5"));
}
