//! Bad configs: every error names the full key, on one line.

use crate::config::{Config, ConfigError};

const BASE: &str = r#"
[providers.openai]
base_url = "http://127.0.0.1:9/v1"
api_key_env = "OPENAI_API_KEY"
models = ["gpt-4o", "gpt-4o-mini"]
"#;

fn with_keys(var: &str) -> Option<String> {
    Some(format!("sk-{var}"))
}

fn config_error(toml: &str) -> ConfigError {
    let error = Config::from_toml(toml, &with_keys).unwrap_err();
    assert!(!error.to_string().contains('\n'), "not one line: {error}");
    error
}

/// `BASE` with `extra` lines added to the provider's table.
fn provider_with(extra: &str) -> String {
    format!("{BASE}{extra}\n")
}

#[test]
fn the_shipped_example_config_is_valid() {
    let config = Config::load("examples/gateway.toml", &with_keys).unwrap();
    let chain: Vec<&str> = config.graph.chain("gpt-4o").unwrap().collect();
    assert_eq!(chain, ["claude-sonnet", "gpt-4o-mini"]);
    let anthropic = config
        .providers
        .iter()
        .find(|p| p.name == "anthropic")
        .unwrap();
    assert_eq!(anthropic.models[0].exposed, "claude-sonnet");
    assert_eq!(anthropic.models[0].upstream, "claude-sonnet-4-5");
    assert_eq!(
        anthropic.models[0].breaker.name(),
        "anthropic/claude-sonnet"
    );
    assert_eq!(anthropic.retry.max_attempts(), 2);
    let (header, value) = anthropic.api_key.as_ref().unwrap();
    assert_eq!(
        (header.as_str(), value.to_str().unwrap()),
        ("authorization", "Bearer sk-ANTHROPIC_API_KEY")
    );
    assert_eq!(config.budget, std::time::Duration::from_secs(120));
}

#[test]
fn a_minimal_config_takes_the_defaults() {
    let config = Config::from_toml(BASE, &with_keys).unwrap();
    assert_eq!(config.listen.to_string(), crate::config::DEFAULT_LISTEN);
    assert_eq!(config.budget, crate::config::DEFAULT_BUDGET);
    let openai = &config.providers[0];
    assert_eq!(openai.retry.max_attempts(), 3);
    assert_eq!(
        openai.attempt_timeout,
        crate::config::DEFAULT_ATTEMPT_TIMEOUT
    );
    assert_eq!(openai.attempt_timeout, std::time::Duration::from_secs(60));
    assert_eq!(
        openai.connect_timeout,
        crate::config::DEFAULT_CONNECT_TIMEOUT
    );
    assert_eq!(
        openai.stream_idle_timeout,
        crate::config::DEFAULT_STREAM_IDLE_TIMEOUT
    );
    assert_eq!(config.max_request_body, 32 << 20);
    assert_eq!(openai.models[1].breaker.name(), "openai/gpt-4o-mini");
    assert_eq!(config.graph.chain("gpt-4o").unwrap().len(), 0);
}

#[test]
fn an_unknown_field_is_named() {
    let error = config_error(&provider_with("retyr = { max_attempts = 2 }"));
    assert_eq!(error.key(), "providers.openai.retyr");
    assert!(error.message().contains("unknown field `retyr`"), "{error}");
    assert_eq!(error.line(), Some(6));

    let error = config_error(&format!("listn = \"127.0.0.1:1\"\n{BASE}"));
    assert_eq!(error.key(), "listn");
    assert!(error.message().contains("unknown field `listn`"), "{error}");
}

#[test]
fn an_unknown_field_inside_a_layers_settings_is_named() {
    let error = config_error(&provider_with("retry = { max_atempts = 2 }"));
    assert!(error.key().starts_with("providers.openai.retry"), "{error}");
    assert!(error.message().contains("max_atempts"), "{error}");

    let error = config_error(&provider_with("breaker = { minimum_cals = 2 }"));
    assert!(
        error.key().starts_with("providers.openai.breaker"),
        "{error}"
    );
    assert!(error.message().contains("minimum_cals"), "{error}");
}

#[test]
fn a_bad_duration_is_named() {
    let error = config_error(&provider_with("attempt_timeout = \"30 parsecs\""));
    assert_eq!(error.key(), "providers.openai.attempt_timeout");
    assert!(!error.message().is_empty());

    let error = config_error(&format!("budget = 30\n{BASE}"));
    assert_eq!(error.key(), "budget");
    assert!(error.message().contains("unit"), "{error}");
}

#[test]
fn a_setting_the_layer_rejects_is_named() {
    let error = config_error(&provider_with("retry = { max_attempts = 0 }"));
    assert!(error.key().starts_with("providers.openai.retry"), "{error}");
    assert!(error.to_string().contains("max_attempts"), "{error}");

    let error = config_error(&provider_with("breaker = { failure_rate_threshold = 2.0 }"));
    assert!(
        error.key().starts_with("providers.openai.breaker"),
        "{error}"
    );
    assert!(
        error.to_string().contains("failure_rate_threshold"),
        "{error}"
    );

    let error = config_error(&provider_with("breaker = { name = \"mine\" }"));
    assert_eq!(error.key(), "providers.openai.breaker.name");
}

#[test]
fn a_missing_environment_variable_is_named() {
    let error = Config::from_toml(BASE, &|_| None).unwrap_err();
    assert_eq!(error.key(), "providers.openai.api_key_env");
    assert!(error.message().contains("OPENAI_API_KEY"), "{error}");
    assert_eq!(
        error.to_string(),
        "providers.openai.api_key_env: the environment variable OPENAI_API_KEY is not set"
    );
}

#[test]
fn a_fallback_to_a_model_no_provider_serves_is_named() {
    let error = config_error(&format!(
        "{BASE}\n[fallbacks]\n\"gpt-4o\" = [\"claude-sonnet\"]\n"
    ));
    assert_eq!(error.key(), "fallbacks.gpt-4o");
    assert!(error.message().contains("`claude-sonnet`"), "{error}");

    let error = config_error(&format!("{BASE}\n[fallbacks]\n\"gpt-5\" = [\"gpt-4o\"]\n"));
    assert_eq!(error.key(), "fallbacks.gpt-5");
    assert!(error.message().contains("no provider serves"), "{error}");
}

#[test]
fn a_fallback_cycle_is_rejected() {
    let error = config_error(&format!(
        "{BASE}\n[fallbacks]\n\"gpt-4o\" = [\"gpt-4o-mini\"]\n\"gpt-4o-mini\" = [\"gpt-4o\"]\n"
    ));
    assert_eq!(error.key(), "fallbacks");
    assert!(error.message().contains("cycle"), "{error}");
}

#[test]
fn a_model_served_twice_is_named() {
    let toml = format!(
        "{BASE}\n[providers.other]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"gpt-4o\"]\n"
    );
    let error = config_error(&toml);
    // Providers are checked in name order: `openai` first, then `other`.
    assert_eq!(error.key(), "providers.other.models.gpt-4o");
    assert!(
        error.message().contains("also served by provider `openai`"),
        "{error}"
    );
}

#[test]
fn bad_values_are_named() {
    let error = config_error(&BASE.replace("http://127.0.0.1:9/v1", "ftp://example.com"));
    assert_eq!(error.key(), "providers.openai.base_url");

    let error = config_error(&BASE.replace("[\"gpt-4o\", \"gpt-4o-mini\"]", "3"));
    assert_eq!(error.key(), "providers.openai.models");
    assert!(error.message().contains("a list of model names"), "{error}");

    let error = config_error(&provider_with("api_key_header = \"not a header\""));
    assert_eq!(error.key(), "providers.openai.api_key_header");

    let error = config_error(&format!("listen = \"localhost\"\n{BASE}"));
    assert_eq!(error.key(), "listen");

    let error = config_error("");
    assert_eq!(error.key(), "providers");
}

#[test]
fn a_syntax_error_has_its_line() {
    let error = config_error(&format!("{BASE}models = [\n"));
    assert!(error.line().is_some(), "{error}");
}

#[test]
fn a_zero_timeout_is_named() {
    for field in ["attempt_timeout", "connect_timeout", "stream_idle_timeout"] {
        let error = config_error(&provider_with(&format!("{field} = \"0s\"")));
        assert_eq!(error.key(), format!("providers.openai.{field}"));
        assert!(error.message().contains("zero"), "{error}");
    }
    let error = config_error(&format!("max_request_body = 0\n{BASE}"));
    assert_eq!(error.key(), "max_request_body");
}

#[test]
fn an_attempt_timeout_longer_than_the_budget_is_named() {
    let error = config_error(&format!(
        "budget = \"30s\"\n{BASE}attempt_timeout = \"45s\"\n"
    ));
    assert_eq!(error.key(), "providers.openai.attempt_timeout");
    assert!(error.message().contains("budget"), "{error}");

    // Left out, the default (60 s) is clipped by a shorter budget instead.
    let config = Config::from_toml(&format!("budget = \"30s\"\n{BASE}"), &with_keys).unwrap();
    assert_eq!(
        config.providers[0].attempt_timeout,
        crate::config::DEFAULT_ATTEMPT_TIMEOUT
    );
    let config = Config::from_toml(
        &format!("budget = \"30s\"\n{BASE}attempt_timeout = \"30s\"\nconnect_timeout = \"2s\"\n"),
        &with_keys,
    )
    .unwrap();
    assert_eq!(
        config.providers[0].attempt_timeout,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(
        config.providers[0].connect_timeout,
        std::time::Duration::from_secs(2)
    );
}

#[test]
fn an_api_key_header_without_a_key_is_named() {
    let toml = BASE.replace(
        "api_key_env = \"OPENAI_API_KEY\"\n",
        "api_key_header = \"api-key\"\n",
    );
    assert!(toml.contains("api_key_header") && !toml.contains("api_key_env"));
    let error = config_error(&toml);
    assert_eq!(error.key(), "providers.openai.api_key_header");
    assert!(error.message().contains("api_key_env"), "{error}");
}

#[test]
fn a_rate_limit_is_read_and_named_after_its_provider() {
    let config = Config::from_toml(
        &provider_with(
            "rate_limit = { requests = { count = 500, per = \"1m\" }, tokens = { count = 30000, per = \"1m\" }, max_wait = \"0s\" }",
        ),
        &with_keys,
    )
    .unwrap();
    let limit = config.providers[0].rate_limit.as_ref().unwrap();
    let expected = tower_failover::rate_limit::RateLimitConfig::builder()
        .name("openai")
        .requests(500, std::time::Duration::from_secs(60))
        .tokens(30_000, std::time::Duration::from_secs(60))
        .max_wait(std::time::Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(limit.config, expected);
    assert!(limit.tokens);
    let config = Config::from_toml(
        &provider_with("rate_limit = { requests = { count = 5, per = \"1s\" } }"),
        &with_keys,
    )
    .unwrap();
    assert!(!config.providers[0].rate_limit.as_ref().unwrap().tokens);
    // None unless configured.
    let config = Config::from_toml(BASE, &with_keys).unwrap();
    assert!(config.providers[0].rate_limit.is_none());
}

#[test]
fn a_bad_rate_limit_is_named() {
    let error = config_error(&provider_with(
        "rate_limit = { requests = { count = 0, per = \"1s\" } }",
    ));
    assert_eq!(error.key(), "providers.openai.rate_limit");
    assert!(
        error
            .message()
            .contains("invalid rate limit setting requests: the count must be between 1 and 2^40"),
        "{error}"
    );

    let error = config_error(&provider_with(
        "rate_limit = { requests = { count = 10, per = \"1 minute\" } }",
    ));
    assert_eq!(error.key(), "providers.openai.rate_limit.requests.per");
    assert!(error.message().contains("unknown duration unit"), "{error}");

    let error = config_error(&provider_with(
        "rate_limit = { requests = { count = 10, per = \"1s\" }, token_burst = 5 }",
    ));
    assert_eq!(error.key(), "providers.openai.rate_limit");
    assert!(error.message().contains("token_burst"), "{error}");

    let error = config_error(&provider_with("rate_limit = { request = 10 }"));
    assert_eq!(error.key(), "providers.openai.rate_limit.request");
    assert!(
        error.message().contains("unknown field `request`"),
        "{error}"
    );

    let error = config_error(&provider_with("rate_limit = { max_wait = 1 }"));
    assert_eq!(error.key(), "providers.openai.rate_limit.max_wait");
    assert!(error.message().contains("unit"), "{error}");

    let error = config_error(&provider_with("rate_limit = { name = \"mine\" }"));
    assert_eq!(error.key(), "providers.openai.rate_limit.name");
    assert!(error.message().contains("remove this field"), "{error}");

    let error = config_error(&provider_with("rate_limit = 600"));
    assert_eq!(error.key(), "providers.openai.rate_limit");
}

/// `BASE` with `gpt-4o` falling back to `gpt-4o-mini`, and `routing`.
fn with_routing(routing: &str) -> String {
    format!("{BASE}\n[fallbacks]\n\"gpt-4o\" = [\"gpt-4o-mini\"]\n\n[routing]\n{routing}\n")
}

#[test]
fn a_routing_is_read_per_model() {
    use tower_failover::fallback::Routing;

    let config = Config::from_toml(
        &with_routing("\"gpt-4o\" = \"least_latency\"\n\"gpt-4o-mini\" = \"static\""),
        &with_keys,
    )
    .unwrap();
    assert!(matches!(
        *config.routing["gpt-4o"],
        Routing::LeastLatency(_)
    ));
    assert!(matches!(*config.routing["gpt-4o-mini"], Routing::Static));
    let config = Config::from_toml(
        &with_routing("\"gpt-4o\" = { weighted = [3, 1] }"),
        &with_keys,
    )
    .unwrap();
    assert!(matches!(*config.routing["gpt-4o"], Routing::Weighted(_)));
    let config = Config::from_toml(BASE, &with_keys).unwrap();
    assert!(config.routing.is_empty());
}

#[test]
fn a_bad_routing_is_named() {
    let error = config_error(&with_routing("\"gpt-5\" = \"least_latency\""));
    assert_eq!(error.key(), "routing.gpt-5");
    assert!(error.message().contains("no provider serves"), "{error}");

    // One weight per tier: gpt-4o and gpt-4o-mini.
    let error = config_error(&with_routing("\"gpt-4o\" = { weighted = [3, 1, 1] }"));
    assert_eq!(error.key(), "routing.gpt-4o");
    assert!(
        error
            .message()
            .contains("has 3 weights, but the model has 2 tiers"),
        "{error}"
    );
    let error = config_error(&with_routing("\"gpt-4o-mini\" = { weighted = [3, 1] }"));
    assert_eq!(error.key(), "routing.gpt-4o-mini");
    assert!(
        error
            .message()
            .contains("has 2 weights, but the model has 1 tier (itself: it has no fallback)"),
        "{error}"
    );

    let error = config_error(&with_routing("\"gpt-4o\" = \"fastest\""));
    assert_eq!(error.key(), "routing.gpt-4o");
    assert!(error.message().contains("\"fastest\""), "{error}");

    let error = config_error(&with_routing(
        "\"gpt-4o\" = { least_latency = { half_life = \"0s\" } }",
    ));
    assert_eq!(error.key(), "routing.gpt-4o");
    assert!(
        error
            .message()
            .contains("invalid fallback setting half_life"),
        "{error}"
    );
}
