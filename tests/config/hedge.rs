//! `HedgeConfig` and `HedgeDelay`.

use std::time::Duration;

use serde::Deserialize;
use tower_failover::hedge::{HedgeConfig, HedgeDelay};
use tower_failover::retry::RetryBudget;

use super::{assert_mentions, json, json_error, same_in_all, toml, toml_error, yaml, yaml_error};

fn debug<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

fn fixed(ms: u64) -> HedgeDelay {
    HedgeDelay::Fixed(Duration::from_millis(ms))
}

#[test]
fn only_the_delay_is_required() {
    let config: HedgeConfig = same_in_all(
        r#"delay = "150ms""#,
        r#"{"delay": "150ms"}"#,
        "delay: 150ms",
    );
    let expected = HedgeConfig::builder(fixed(150)).build().unwrap();
    assert_eq!(debug(&config), debug(&expected));
    assert_eq!(config.delay(), fixed(150));
    assert_eq!(config.max_hedges(), 1);
    // The default budget: 10 per second over 10 s.
    assert_eq!(config.budget().remaining(), 100);

    let message = toml_error::<HedgeConfig>("max_hedges = 2");
    assert_mentions(&message, &["missing field `delay`"]);
    let message = json_error::<HedgeConfig>("{}");
    assert_mentions(&message, &["missing field `delay`"]);
}

#[test]
fn every_field_matches_the_builder() {
    let config: HedgeConfig = same_in_all(
        r#"
        delay = { percentile = 99.5, min_samples = 200, fallback = "750ms" }
        max_hedges = 3
        latency_window = "1m"
        budget = { ttl = "5s", min_per_sec = 2, ratio = 0.1 }
        "#,
        r#"{
            "delay": {"percentile": 99.5, "min_samples": 200, "fallback": "750ms"},
            "max_hedges": 3,
            "latency_window": "1m",
            "budget": {"ttl": "5s", "min_per_sec": 2, "ratio": 0.1}
        }"#,
        "
        delay: {percentile: 99.5, min_samples: 200, fallback: 750ms}
        max_hedges: 3
        latency_window: 1m
        budget: {ttl: 5s, min_per_sec: 2, ratio: 0.1}
        ",
    );
    let delay = HedgeDelay::Percentile {
        p: 99.5,
        min_samples: 200,
        fallback: Duration::from_millis(750),
    };
    let expected = HedgeConfig::builder(delay)
        .max_hedges(3)
        .latency_window(Duration::from_secs(60))
        .budget(RetryBudget::new(Duration::from_secs(5), 2, 0.1).unwrap())
        .build()
        .unwrap();
    assert_eq!(debug(&config), debug(&expected));
    assert_eq!(config.delay(), delay);
    assert_eq!(config.max_hedges(), 3);
    // 2 per second over 5 s, not the default budget's 100.
    assert_eq!(config.budget().remaining(), 10);
    // Until min_samples calls were seen, the delay is the fallback.
    assert_eq!(config.handle().current_delay(), Duration::from_millis(750));
}

#[test]
fn delay_forms() {
    assert_eq!(json::<HedgeDelay>(r#""150ms""#), fixed(150));
    assert_eq!(json::<HedgeDelay>(r#""1m30s""#), fixed(90_000));
    assert_eq!(yaml::<HedgeDelay>("2s"), fixed(2000));
    // An integer percentile is a percent too.
    assert_eq!(
        json::<HedgeDelay>(r#"{"percentile": 95, "min_samples": 100, "fallback": "500ms"}"#),
        HedgeDelay::Percentile {
            p: 95.0,
            min_samples: 100,
            fallback: Duration::from_millis(500),
        }
    );
    #[derive(Debug, Deserialize)]
    struct S {
        delay: HedgeDelay,
    }
    let delay = |text: &str| toml::<S>(&format!("delay = {text}")).delay;
    assert_eq!(
        delay(r#""1h""#),
        HedgeDelay::Fixed(Duration::from_secs(3600))
    );
    assert_eq!(
        delay(r#"{ percentile = 1, min_samples = 1, fallback = "1ms" }"#),
        HedgeDelay::Percentile {
            p: 1.0,
            min_samples: 1,
            fallback: Duration::from_millis(1),
        }
    );
}

#[test]
fn unknown_fields_are_errors() {
    let message = toml_error::<HedgeConfig>("delay = \"1s\"\nmax_hedge = 2");
    assert_mentions(
        &message,
        &["unknown field `max_hedge`", "`max_hedges`", "line 2"],
    );
    let message = toml_error::<HedgeConfig>(
        r#"delay = { p = 95, percentile = 95, min_samples = 1, fallback = "1s" }"#,
    );
    assert_mentions(&message, &["unknown field `p`", "`percentile`"]);
    let message = toml_error::<HedgeConfig>("delay = \"1s\"\nbudget = { ratio = 0.1, burst = 1 }");
    assert_mentions(&message, &["unknown field `burst`"]);
    let message = json_error::<HedgeConfig>(r#"{"delay": "1s", "should_hedge": "always"}"#);
    assert_mentions(&message, &["unknown field `should_hedge`"]);
    let message = yaml_error::<HedgeConfig>("delay: 1s\nclassifier: default");
    assert_mentions(&message, &["unknown field `classifier`"]);
}

#[test]
fn wrong_types_and_bad_durations_name_the_field() {
    let message = toml_error::<HedgeConfig>("delay = 150");
    assert_mentions(&message, &["a duration needs a unit", "delay = 150"]);
    let message = toml_error::<HedgeConfig>("delay = 1.5");
    assert_mentions(&message, &["a duration needs a unit", "delay"]);
    let message = toml_error::<HedgeConfig>(r#"delay = "150 ms""#);
    assert_mentions(&message, &["unknown duration unit", "delay"]);
    let message = toml_error::<HedgeConfig>("delay = true");
    assert_mentions(
        &message,
        &["invalid type: boolean `true`", "a duration such as"],
    );
    let message = toml_error::<HedgeConfig>(r#"delay = { percentile = 95, min_samples = 10 }"#);
    assert_mentions(&message, &["missing field `fallback`", "delay"]);
    let message = toml_error::<HedgeConfig>(
        r#"delay = { percentile = 95, min_samples = 10, fallback = 500 }"#,
    );
    assert_mentions(&message, &["a duration needs a unit", "delay"]);
    let message = toml_error::<HedgeConfig>(
        r#"delay = { percentile = "p95", min_samples = 10, fallback = "1s" }"#,
    );
    assert_mentions(&message, &["invalid type: string \"p95\"", "delay"]);
    let message = toml_error::<HedgeConfig>("delay = \"1s\"\nmax_hedges = \"two\"");
    assert_mentions(&message, &["invalid type: string \"two\"", "max_hedges"]);
    let message = toml_error::<HedgeConfig>("delay = \"1s\"\nlatency_window = 10");
    assert_mentions(&message, &["a duration needs a unit", "latency_window"]);
    let message = json_error::<HedgeConfig>(r#"{"delay": "-1s"}"#);
    assert_mentions(&message, &["a duration cannot be negative"]);
    let message = json_error::<HedgeConfig>(r#"{"delay": "1s", "budget": true}"#);
    assert_mentions(&message, &["invalid type: boolean `true`"]);
}

#[test]
fn builder_rejections_are_the_message() {
    let cases = [
        (
            r#"delay = "0s""#,
            "invalid hedge setting delay: must be above zero and at most one hour",
        ),
        (
            r#"delay = "1h1ms""#,
            "invalid hedge setting delay: must be above zero and at most one hour",
        ),
        (
            r#"delay = { percentile = 95, min_samples = 0, fallback = "1s" }"#,
            "invalid hedge setting delay.min_samples: must be between 1 and 1000000",
        ),
        (
            r#"delay = { percentile = 95, min_samples = 1000001, fallback = "1s" }"#,
            "invalid hedge setting delay.min_samples: must be between 1 and 1000000",
        ),
        (
            r#"delay = { percentile = 95, min_samples = 10, fallback = "0s" }"#,
            "invalid hedge setting delay.fallback: must be above zero and at most one hour",
        ),
        (
            r#"delay = { percentile = 95, min_samples = 10, fallback = "2h" }"#,
            "invalid hedge setting delay.fallback: must be above zero and at most one hour",
        ),
        (
            "delay = \"1s\"\nmax_hedges = 0",
            "invalid hedge setting max_hedges: must be between 1 and 4",
        ),
        (
            "delay = \"1s\"\nmax_hedges = 5",
            "invalid hedge setting max_hedges: must be between 1 and 4",
        ),
        (
            "delay = \"1s\"\nlatency_window = \"999ms\"",
            "invalid hedge setting latency_window: must be between 1s and 1h",
        ),
        (
            "delay = \"1s\"\nlatency_window = \"1h1s\"",
            "invalid hedge setting latency_window: must be between 1s and 1h",
        ),
        (
            "delay = \"1s\"\nbudget = { ttl = \"2m\" }",
            "invalid retry setting budget.ttl: must be between 1s and 60s",
        ),
    ];
    for (text, expected) in cases {
        assert_mentions(&toml_error::<HedgeConfig>(text), &[expected]);
    }
    // The edges are accepted.
    let config: HedgeConfig = toml("delay = \"1h\"\nmax_hedges = 4\nlatency_window = \"1h\"");
    assert_eq!(config.max_hedges(), 4);
    let config: HedgeConfig = toml("delay = \"1ns\"\nlatency_window = \"1s\"");
    assert_eq!(config.delay(), HedgeDelay::Fixed(Duration::from_nanos(1)));
    // The same from JSON and YAML.
    let message = json_error::<HedgeConfig>(r#"{"delay": "1s", "max_hedges": 9}"#);
    assert_mentions(&message, &["invalid hedge setting max_hedges"]);
    let message = yaml_error::<HedgeConfig>("delay: 0s");
    assert_mentions(&message, &["invalid hedge setting delay"]);
}

#[test]
fn the_percentile_is_in_percent() {
    let percentile = |p: &str| {
        toml_error::<HedgeConfig>(&format!(
            "delay = {{ percentile = {p}, min_samples = 10, fallback = \"1s\" }}"
        ))
    };
    // A fraction written for a percentage is caught, not read as p0.95.
    for p in ["0.95", "0.5", "0", "-5", "100", "150", "nan", "inf"] {
        assert_mentions(
            &percentile(p),
            &[
                "invalid hedge setting delay.percentile",
                "95 for the 95th percentile, not 0.95",
            ],
        );
    }
    let message =
        json_error::<HedgeDelay>(r#"{"percentile": 0.99, "min_samples": 10, "fallback": "1s"}"#);
    assert!(
        message.starts_with("invalid hedge setting delay.percentile"),
        "{message}"
    );
    let delay: HedgeDelay = yaml("{percentile: 99.99, min_samples: 10, fallback: 1s}");
    assert!(matches!(delay, HedgeDelay::Percentile { p, .. } if p == 99.99));
}

#[test]
fn serde_path_to_error_names_the_nested_key() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // read through `Debug` only
    struct Upstream {
        hedge: HedgeConfig,
    }

    let json =
        r#"{"hedge": {"delay": {"percentile": 95, "min_samples": "many", "fallback": "1s"}}}"#;
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    let error = serde_path_to_error::deserialize::<_, Upstream>(deserializer).unwrap_err();
    assert_eq!(error.path().to_string(), "hedge.delay.min_samples");
    let yaml = "hedge:\n  delay: 1s\n  budget: {ttl: 5x}\n";
    let error =
        serde_path_to_error::deserialize::<_, Upstream>(serde_yaml::Deserializer::from_str(yaml))
            .unwrap_err();
    assert_eq!(error.path().to_string(), "hedge.budget.ttl");
    assert_mentions(&error.inner().to_string(), &["unknown duration unit \"x\""]);
}

#[test]
fn the_name_is_read_and_must_not_be_empty() {
    let config: HedgeConfig = same_in_all(
        "name = \"openai\"\ndelay = \"150ms\"",
        r#"{"name": "openai", "delay": "150ms"}"#,
        "name: openai\ndelay: 150ms",
    );
    assert_eq!(config.name(), "openai");
    let expected = HedgeConfig::builder(fixed(150))
        .name("openai")
        .build()
        .unwrap();
    assert_eq!(debug(&config), debug(&expected));
    // Without it, the default.
    assert_eq!(toml::<HedgeConfig>(r#"delay = "150ms""#).name(), "hedge");

    let message = toml_error::<HedgeConfig>("name = \"\"\ndelay = \"150ms\"");
    assert_mentions(&message, &["invalid hedge setting name: must not be empty"]);
    let message = json_error::<HedgeConfig>(r#"{"name": 7, "delay": "150ms"}"#);
    assert_mentions(&message, &["invalid type: integer `7`", "a string"]);
}
