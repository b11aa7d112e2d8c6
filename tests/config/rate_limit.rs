//! `RateLimitConfig`.

use std::time::Duration;

use tower_failover::rate_limit::RateLimitConfig;

use super::{assert_mentions, json_error, same_in_all, toml, toml_error, yaml, yaml_error};

#[test]
fn an_empty_table_is_the_default() {
    let config: RateLimitConfig = same_in_all("", "{}", "{}");
    assert_eq!(config, RateLimitConfig::default());
}

#[test]
fn every_field_matches_the_builder() {
    let config: RateLimitConfig = same_in_all(
        r#"
        name = "openai"
        requests = { count = 500, per = "1m" }
        burst = 50
        tokens = { count = 30000, per = "1m" }
        token_burst = 6000
        max_wait = "2s500ms"
        adapt = false
        "#,
        r#"{
            "name": "openai",
            "requests": {"count": 500, "per": "1m"},
            "burst": 50,
            "tokens": {"count": 30000, "per": "1m"},
            "token_burst": 6000,
            "max_wait": "2s500ms",
            "adapt": false
        }"#,
        "
        name: openai
        requests: {count: 500, per: 1m}
        burst: 50
        tokens: {count: 30000, per: 1m}
        token_burst: 6000
        max_wait: 2s500ms
        adapt: false
        ",
    );
    let expected = RateLimitConfig::builder()
        .name("openai")
        .requests(500, Duration::from_secs(60))
        .burst(50)
        .tokens(30_000, Duration::from_secs(60))
        .token_burst(6000)
        .max_wait(Duration::from_millis(2500))
        .adapt(false)
        .build()
        .unwrap();
    assert_eq!(config, expected);
    // And not the default: the comparison sees every field.
    assert_ne!(config, RateLimitConfig::default());
}

#[test]
fn each_field_alone_changes_only_itself() {
    let builder = RateLimitConfig::builder;
    let cases = [
        ("name = \"anthropic\"", builder().name("anthropic")),
        (
            "requests = { count = 3, per = \"1s\" }",
            builder().requests(3, Duration::from_secs(1)),
        ),
        ("burst = 4", builder().burst(4)),
        (
            "tokens = { count = 1000, per = \"1h\" }",
            builder().tokens(1000, Duration::from_secs(3600)),
        ),
        ("max_wait = \"0s\"", builder().max_wait(Duration::ZERO)),
        (
            "max_wait = \"24h\"",
            builder().max_wait(Duration::from_secs(86_400)),
        ),
        ("adapt = true", builder()),
        ("adapt = false", builder().adapt(false)),
    ];
    for (text, expected) in cases {
        assert_eq!(
            toml::<RateLimitConfig>(text),
            expected.build().unwrap(),
            "{text}"
        );
    }
    // The rates' periods are humane durations of any unit.
    let config: RateLimitConfig = yaml("requests: {count: 100, per: 1500ms}");
    let expected = builder()
        .requests(100, Duration::from_millis(1500))
        .build()
        .unwrap();
    assert_eq!(config, expected);
}

#[test]
fn unknown_fields_are_errors() {
    let message = toml_error::<RateLimitConfig>("request = { count = 1, per = \"1s\" }");
    assert_mentions(
        &message,
        &["unknown field `request`", "`requests`", "line 1"],
    );
    let message =
        toml_error::<RateLimitConfig>("requests = { count = 1, per = \"1s\", burst = 1 }");
    assert_mentions(
        &message,
        &["unknown field `burst`", "expected `count` or `per`"],
    );
    let message = json_error::<RateLimitConfig>(r#"{"tokens": {"count": 1, "period": "1s"}}"#);
    assert_mentions(&message, &["unknown field `period`"]);
    let message = json_error::<RateLimitConfig>(r#"{"cost": 1}"#);
    assert_mentions(&message, &["unknown field `cost`"]);
    let message = yaml_error::<RateLimitConfig>("maxwait: 1s");
    assert_mentions(&message, &["unknown field `maxwait`", "`max_wait`"]);
}

#[test]
fn wrong_types_and_bad_durations_name_the_field() {
    let message = toml_error::<RateLimitConfig>(r#"burst = "ten""#);
    assert_mentions(&message, &["invalid type: string \"ten\"", "burst"]);
    let message = toml_error::<RateLimitConfig>("requests = 600");
    assert_mentions(&message, &["invalid type: integer `600`", "requests"]);
    // No "600/min" shorthand: the table says what is counted over what.
    let message = toml_error::<RateLimitConfig>(r#"requests = "600/min""#);
    assert_mentions(&message, &["invalid type: string \"600/min\"", "requests"]);
    let message = toml_error::<RateLimitConfig>(r#"requests = { per = "1s" }"#);
    assert_mentions(&message, &["missing field `count`", "requests"]);
    let message = toml_error::<RateLimitConfig>("tokens = { count = 10 }");
    assert_mentions(&message, &["missing field `per`", "tokens"]);
    let message = toml_error::<RateLimitConfig>("requests = { count = -1, per = \"1s\" }");
    assert_mentions(&message, &["invalid value: integer `-1`", "requests"]);
    let message = toml_error::<RateLimitConfig>("max_wait = 2");
    assert_mentions(&message, &["a duration needs a unit", "max_wait = 2"]);
    let message = toml_error::<RateLimitConfig>(r#"requests = { count = 1, per = "1 minute" }"#);
    assert_mentions(&message, &["unknown duration unit", "requests"]);
    let message = toml_error::<RateLimitConfig>(r#"tokens = { count = 10, per = "2d" }"#);
    assert_mentions(&message, &["unknown duration unit \"d\"", "tokens"]);
    let message = json_error::<RateLimitConfig>(r#"{"max_wait": "-1s"}"#);
    assert_mentions(&message, &["a duration cannot be negative"]);
    let message = yaml_error::<RateLimitConfig>("adapt: sometimes");
    assert_mentions(&message, &["invalid type", "adapt"]);
}

#[test]
fn builder_rejections_are_the_message() {
    let cases = [
        (
            "requests = { count = 0, per = \"1s\" }",
            "invalid rate limit setting requests: the count must be between 1 and 2^40",
        ),
        (
            "requests = { count = 1099511627777, per = \"1s\" }",
            "invalid rate limit setting requests: the count must be between 1 and 2^40",
        ),
        (
            "requests = { count = 1, per = \"0s\" }",
            "invalid rate limit setting requests: the period must be longer than zero and at most a day",
        ),
        (
            "requests = { count = 1, per = \"25h\" }",
            "invalid rate limit setting requests: the period must be longer than zero and at most a day",
        ),
        (
            "requests = { count = 1001, per = \"1us\" }",
            "invalid rate limit setting requests: at most one unit per nanosecond",
        ),
        (
            "burst = 0",
            "invalid rate limit setting burst: must be between 1 and the count of requests",
        ),
        (
            "burst = 11",
            "invalid rate limit setting burst: must be between 1 and the count of requests",
        ),
        (
            "tokens = { count = 0, per = \"1m\" }",
            "invalid rate limit setting tokens: the count must be between 1 and 2^40",
        ),
        (
            "tokens = { count = 10, per = \"48h\" }",
            "invalid rate limit setting tokens: the period must be longer than zero",
        ),
        (
            "tokens = { count = 10, per = \"1m\" }\ntoken_burst = 11",
            "invalid rate limit setting token_burst: must be between 1 and the count of tokens",
        ),
        (
            "tokens = { count = 10, per = \"1m\" }\ntoken_burst = 0",
            "invalid rate limit setting token_burst: must be between 1 and the count of tokens",
        ),
        (
            "token_burst = 5",
            "invalid rate limit setting token_burst: needs a token bucket: set tokens first",
        ),
        (
            "max_wait = \"24h1s\"",
            "invalid rate limit setting max_wait: must be at most a day",
        ),
        (
            "name = \"\"",
            "invalid rate limit setting name: must not be empty",
        ),
    ];
    for (text, expected) in cases {
        assert_mentions(&toml_error::<RateLimitConfig>(text), &[expected]);
    }
    // The same from JSON and YAML.
    let message = json_error::<RateLimitConfig>(r#"{"burst": 0}"#);
    assert_mentions(&message, &["invalid rate limit setting burst"]);
    let message = yaml_error::<RateLimitConfig>("token_burst: 1");
    assert_mentions(&message, &["invalid rate limit setting token_burst"]);
    // A burst within a larger count is fine.
    let config: RateLimitConfig = toml("requests = { count = 100, per = \"1m\" }\nburst = 100");
    let expected = RateLimitConfig::builder()
        .requests(100, Duration::from_secs(60))
        .burst(100)
        .build()
        .unwrap();
    assert_eq!(config, expected);
}

#[test]
fn serde_path_to_error_names_the_nested_key() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read through `Debug` only
    struct Provider {
        rate_limit: RateLimitConfig,
    }

    let json = r#"{"rate_limit": {"tokens": {"count": "lots", "per": "1m"}}}"#;
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    let error = serde_path_to_error::deserialize::<_, Provider>(deserializer).unwrap_err();
    assert_eq!(error.path().to_string(), "rate_limit.tokens.count");
    let yaml = "rate_limit:\n  requests: {count: 1, per: 1x}\n";
    let error =
        serde_path_to_error::deserialize::<_, Provider>(serde_yaml::Deserializer::from_str(yaml))
            .unwrap_err();
    assert_eq!(error.path().to_string(), "rate_limit.requests.per");
    assert_mentions(&error.inner().to_string(), &["unknown duration unit \"x\""]);
}
