//! The routes over TCP: completions (plain and streamed), fallback, the
//! breaker in `/health`, `/v1/models`, `/metrics`, credentials, limits and
//! errors in OpenAI's shape.

use serde_json::{Value, json};

use crate::fake_provider::{FakeProvider, ProviderConfig};
use crate::support::{Recorder, TestGateway, chat_body, completion, json_of};

/// Two providers: `primary` serves `gpt-4o` (falling back to
/// `claude-sonnet`), `backup` serves `claude-sonnet` as `claude-sonnet-4-5`.
/// Retries and breakers are quick to give up, so that a provider that is
/// down shows in a couple of calls.
fn two_providers(primary: &str, backup: &str) -> String {
    format!(
        r#"
budget = "10s"

[providers.primary]
base_url = "{primary}"
api_key_env = "PRIMARY_KEY"
models = ["gpt-4o"]
retry = {{ max_attempts = 2, backoff = {{ base = "1ms", cap = "2ms" }} }}
breaker = {{ consecutive_failures = 2 }}

[providers.backup]
base_url = "{backup}"
api_key_env = "BACKUP_KEY"
models = {{ "claude-sonnet" = "claude-sonnet-4-5" }}
retry = {{ max_attempts = 2, backoff = {{ base = "1ms", cap = "2ms" }} }}

[fallbacks]
"gpt-4o" = ["claude-sonnet"]
"#
    )
}

async fn providers(primary: ProviderConfig) -> (FakeProvider, FakeProvider, TestGateway) {
    let primary = FakeProvider::start(primary.models(["gpt-4o"]))
        .await
        .unwrap();
    let backup = ProviderConfig::healthy("backup").models(["claude-sonnet-4-5"]);
    let backup = FakeProvider::start(backup).await.unwrap();
    let gateway = TestGateway::start(&two_providers(&primary.base_url(), &backup.base_url())).await;
    (primary, backup, gateway)
}

/// The content of a stream's `data:` chunks, and whether it ended with
/// `[DONE]`.
fn stream_content(text: &str) -> (String, bool) {
    let mut content = String::new();
    let mut done = false;
    for data in text.lines().filter_map(|line| line.strip_prefix("data: ")) {
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(delta);
        }
    }
    (content, done)
}

/// Reads a response body frame by frame: the text and the frame count.
async fn read_frames(mut response: reqwest::Response) -> (String, usize) {
    let mut text = Vec::new();
    let mut frames = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        frames += 1;
        text.extend_from_slice(&chunk);
    }
    (String::from_utf8(text).unwrap(), frames)
}

#[tokio::test]
async fn non_streaming_completion_is_served_by_the_primary() {
    let (primary, backup, gateway) = providers(ProviderConfig::healthy("primary")).await;

    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-served-by"], "primary/gpt-4o");
    assert_eq!(response.headers()["x-served-tier"], "1");
    let body = json_of(response).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "hello from primary (gpt-4o)"
    );
    assert_eq!((primary.stats().ok, backup.stats().chat), (1, 0));
}

#[tokio::test]
async fn streaming_completion_arrives_in_chunks_and_ends_with_done() {
    let slow_chunks =
        ProviderConfig::healthy("primary").chunk_interval(std::time::Duration::from_millis(5));
    let (primary, _backup, gateway) = providers(slow_chunks).await;

    let response = gateway.chat(&chat_body("gpt-4o", true)).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    assert_eq!(response.headers()["x-served-by"], "primary/gpt-4o");
    let (text, frames) = read_frames(response).await;
    // Passed on as the upstream sent it, not gathered into one piece.
    assert!(frames > 1, "one frame: the stream was buffered");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let (content, done) = stream_content(&text);
    assert_eq!(content, "hello from primary (gpt-4o)");
    assert!(done);
    assert_eq!(primary.stats().streamed, 1);
}

#[tokio::test]
async fn falls_back_when_the_primary_is_down_and_its_breaker_opens() {
    let (primary, backup, gateway) = providers(ProviderConfig::down("primary")).await;

    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-served-by"], "backup/claude-sonnet");
    assert_eq!(response.headers()["x-served-tier"], "2");
    let body = json_of(response).await;
    // The backup was asked for its own name of the model.
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "hello from backup (claude-sonnet-4-5)"
    );
    assert_eq!(primary.stats().dropped, 2, "two attempts at the primary");

    let health = gateway.get_json("/health").await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["providers"]["primary"]["gpt-4o"]["state"], "open");
    assert_eq!(
        health["providers"]["primary"]["gpt-4o"]["breaker"],
        "primary/gpt-4o"
    );
    assert_eq!(
        health["providers"]["backup"]["claude-sonnet"]["state"],
        "closed"
    );

    // With the breaker open, the next call goes to the backup at once.
    let response = gateway.chat(&chat_body("gpt-4o", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-served-by"], "backup/claude-sonnet");
    let (text, _) = read_frames(response).await;
    assert_eq!(
        stream_content(&text),
        ("hello from backup (claude-sonnet-4-5)".to_owned(), true)
    );
    assert_eq!(primary.stats().chat, 2, "nothing more sent to the primary");
    assert_eq!(backup.stats().ok, 2);
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_event_falls_back() {
    let error_event = "data: {\"error\": {\"message\": \"The server is overloaded\", \"type\": \"server_error\"}}\n\n";
    let primary = Recorder::start(200, "text/event-stream", error_event.to_owned()).await;
    let backup = FakeProvider::start(ProviderConfig::healthy("backup"))
        .await
        .unwrap();
    let gateway = TestGateway::start(&two_providers(&primary.base_url(), &backup.base_url())).await;

    let response = gateway.chat(&chat_body("gpt-4o", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-served-by"], "backup/claude-sonnet");
    let (text, _) = read_frames(response).await;
    assert_eq!(
        stream_content(&text),
        ("hello from backup (claude-sonnet-4-5)".to_owned(), true)
    );
    assert!(
        !text.contains("overloaded"),
        "the primary's error event leaked: {text}"
    );
    assert_eq!(primary.seen().len(), 2, "retried once, then fell back");
}

#[tokio::test]
async fn models_lists_the_configured_models() {
    let (_primary, _backup, gateway) = providers(ProviderConfig::healthy("primary")).await;

    let models = gateway.get_json("/v1/models").await;
    assert_eq!(models["object"], "list");
    let mut listed: Vec<(String, String)> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| {
            assert_eq!(model["object"], "model");
            let text = |field: &str| model[field].as_str().unwrap().to_owned();
            (text("id"), text("owned_by"))
        })
        .collect();
    listed.sort();
    let expected = [("claude-sonnet", "backup"), ("gpt-4o", "primary")];
    assert_eq!(listed, expected.map(|(m, p)| (m.to_owned(), p.to_owned())));
}

#[tokio::test]
async fn metrics_expose_the_gateways_and_the_layers_counters() {
    let (_primary, _backup, gateway) = providers(ProviderConfig::down("primary")).await;
    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 200);

    let response = reqwest::get(gateway.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("gateway_requests_total{"), "{text}");
    assert!(text.contains(r#"model="gpt-4o",status="200""#), "{text}");
    // The crate's own, recorded by the layers (the `metrics` feature).
    assert!(text.contains("tower_failover_attempts_total"), "{text}");
    assert!(
        text.contains(r#"tower_failover_fallbacks_total{from="gpt-4o",to="claude-sonnet""#),
        "{text}"
    );
}

#[tokio::test]
async fn the_providers_key_is_sent_and_the_callers_is_not() {
    let bearer = Recorder::json(200, completion("bearer")).await;
    let azure = Recorder::json(200, completion("azure")).await;
    let toml = format!(
        r#"
[providers.bearer]
base_url = "{}"
api_key_env = "BEARER_KEY"
models = ["gpt-4o"]

[providers.azure]
base_url = "{}"
api_key_env = "AZURE_KEY"
api_key_header = "api-key"
models = {{ "azure-gpt-4o" = "gpt-4o-deployment" }}
"#,
        bearer.base_url(),
        azure.base_url()
    );
    let gateway = TestGateway::start(&toml).await;
    let client = reqwest::Client::new();
    for model in ["gpt-4o", "azure-gpt-4o"] {
        let response = client
            .post(gateway.url("/v1/chat/completions"))
            .header("authorization", "Bearer caller-secret")
            .header("idempotency-key", format!("caller-key-{model}"))
            .body(chat_body(model, false).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let seen = bearer.seen();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    assert_eq!(headers["authorization"], "Bearer sk-upstream");
    assert_eq!(headers["idempotency-key"], "caller-key-gpt-4o");
    assert_eq!(headers["x-attempt-count"], "1");
    assert_eq!(body["model"], "gpt-4o");

    let seen = azure.seen();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    assert_eq!(headers["api-key"], "sk-upstream");
    assert!(
        headers.get("authorization").is_none(),
        "the caller's key went upstream"
    );
    assert_eq!(body["model"], "gpt-4o-deployment");
    for (headers, _) in bearer.seen().iter().chain(azure.seen().iter()) {
        let leaked = headers
            .values()
            .any(|v| v.as_bytes().ends_with(b"caller-secret"));
        assert!(!leaked, "the caller's key went upstream: {headers:?}");
    }
}

#[tokio::test]
async fn an_upstream_error_response_passes_through_unchanged() {
    let invalid = json!({"error": {"message": "'messages' is a required property", "type": "invalid_request_error", "param": "messages", "code": null}});
    let primary = Recorder::json(400, invalid.clone()).await;
    let backup = FakeProvider::start(ProviderConfig::healthy("backup"))
        .await
        .unwrap();
    let gateway = TestGateway::start(&two_providers(&primary.base_url(), &backup.base_url())).await;

    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await, invalid);
    // The caller's fault: not retried, no fallback.
    assert_eq!(primary.seen().len(), 1);
    assert_eq!(backup.stats().chat, 0);
}

#[tokio::test]
async fn gateway_errors_are_in_openais_shape_with_retry_after() {
    let primary = FakeProvider::start(ProviderConfig::down("primary"))
        .await
        .unwrap();
    let toml = format!(
        r#"
[providers.primary]
base_url = "{}"
models = ["gpt-4o"]
retry = {{ max_attempts = 2, backoff = {{ base = "1ms", cap = "2ms" }} }}
breaker = {{ consecutive_failures = 2 }}
"#,
        primary.base_url()
    );
    let gateway = TestGateway::start(&toml).await;

    // Unreachable: the connection is closed without an answer.
    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 502);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert_eq!(body["error"]["type"], "server_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(body["error"]["param"], Value::Null);

    // Now the breaker is open: 503 at once, with the wait.
    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert!(response.headers().contains_key("retry-after-ms"));
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "circuit_open");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("primary/gpt-4o"),
        "{body}"
    );
    assert_eq!(primary.stats().chat, 2);
}

#[tokio::test]
async fn a_spent_budget_is_a_504_deadline_exceeded() {
    let slow = ProviderConfig::healthy("primary").latency(std::time::Duration::from_secs(30));
    let primary = FakeProvider::start(slow).await.unwrap();
    let toml = format!(
        "budget = \"100ms\"\n[providers.primary]\nbase_url = \"{}\"\nmodels = [\"gpt-4o\"]\n",
        primary.base_url()
    );
    let gateway = TestGateway::start(&toml).await;

    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 504);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "deadline_exceeded");
    assert_eq!(body["error"]["type"], "timeout");
    assert_eq!(primary.stats().chat, 1);
}

#[tokio::test]
async fn unknown_model_is_a_404_model_not_found() {
    let (primary, _backup, gateway) = providers(ProviderConfig::healthy("primary")).await;

    let response = gateway.chat(&chat_body("gpt-5-ultra", false)).await;
    assert_eq!(response.status(), 404);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "model");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gpt-5-ultra")
    );

    let response = gateway.chat(&json!({"messages": []})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"]["param"], "model");
    assert_eq!(primary.stats().received, 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_in_openais_shape() {
    let (primary, _backup, gateway) = providers(ProviderConfig::healthy("primary")).await;

    let prompt = "x".repeat(crate::routes::MAX_BODY);
    let response = gateway
        .chat(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]}))
        .await;
    assert_eq!(response.status(), 413);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "request_too_large");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(primary.stats().received, 0);
}

#[tokio::test]
async fn local_mode_serves_the_shipped_config_without_network_or_keys() {
    let mut config =
        crate::config::Config::load("examples/gateway.toml", &|_| Some(String::from("local")))
            .unwrap();
    let fakes = crate::local::start(&mut config).await.unwrap();
    assert_eq!(fakes.len(), config.providers.len());
    assert!(
        config
            .providers
            .iter()
            .all(|p| p.base_url.host() == Some("127.0.0.1"))
    );
    assert!(config.providers.iter().all(|p| p.api_key.is_none()));
    let gateway = TestGateway::from_config(&config).await;

    // `openai` is flaky (down at first), so gpt-4o falls back to Anthropic.
    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-served-by"], "anthropic/claude-sonnet");
    let body = json_of(response).await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "hello from anthropic (claude-sonnet-4-5)"
    );
}
