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
    // The recorder is the process's, shared with the other tests: these
    // model names are this test's alone, so the counts are exact.
    let down = FakeProvider::start(ProviderConfig::down("down"))
        .await
        .unwrap();
    let backup = FakeProvider::start(ProviderConfig::healthy("backup"))
        .await
        .unwrap();
    let toml = format!(
        r#"
[providers.down]
base_url = "{}"
models = ["metrics-probe", "metrics-failing"]
retry = {{ max_attempts = 1 }}

[providers.backup]
base_url = "{}"
models = ["metrics-backup"]

[fallbacks]
"metrics-probe" = ["metrics-backup"]
"#,
        down.base_url(),
        backup.base_url()
    );
    let gateway = TestGateway::start(&toml).await;
    let response = gateway.chat(&chat_body("metrics-probe", false)).await;
    assert_eq!(response.status(), 200);
    // A failed request is counted under its model, not `-`.
    let response = gateway.chat(&chat_body("metrics-failing", false)).await;
    assert_eq!(response.status(), 502);

    let response = reqwest::get(gateway.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let has_line = |line: &str| text.lines().any(|l| l == line);
    assert!(
        has_line(
            r#"gateway_requests_total{route="chat_completions",model="metrics-probe",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        has_line(
            r#"gateway_requests_total{route="chat_completions",model="metrics-failing",status="502"} 1"#
        ),
        "{text}"
    );
    // The crate's own, recorded by the layers (the `metrics` feature).
    assert!(
        text.lines().any(|l| l.starts_with(
            r#"tower_failover_fallbacks_total{from="metrics-probe",to="metrics-backup""#
        ) && l.ends_with(" 1")),
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

/// A gateway in front of one provider at `url` serving `gpt-4o` as
/// `gpt-4o-internal`, sending every request once.
async fn single_attempt_gateway(url: &str) -> TestGateway {
    let toml = format!(
        r#"
[providers.primary]
base_url = "{url}"
api_key_env = "PRIMARY_KEY"
models = {{ "gpt-4o" = "gpt-4o-internal" }}
retry = {{ max_attempts = 1 }}
"#
    );
    TestGateway::start(&toml).await
}

/// Headers an OpenAI response carries that are the gateway's account's
/// business, or the upstream connection's.
const PRIVATE_HEADERS: [(&str, &str); 6] = [
    ("set-cookie", "__cf_bm=secret; path=/; HttpOnly"),
    ("openai-organization", "org-gateway-owner"),
    ("openai-project", "proj_gateway"),
    ("x-ratelimit-remaining-requests", "499"),
    ("x-ratelimit-remaining-tokens", "29000"),
    ("keep-alive", "timeout=5"),
];

fn assert_no_private_headers(headers: &reqwest::header::HeaderMap) {
    for (name, _) in PRIVATE_HEADERS {
        assert!(headers.get(name).is_none(), "{name} reached the caller");
    }
}

#[tokio::test]
async fn only_harmless_upstream_headers_reach_the_caller() {
    let mut headers = PRIVATE_HEADERS.to_vec();
    headers.extend([
        ("x-request-id", "req_123"),
        ("openai-processing-ms", "42"),
        ("cache-control", "no-cache"),
        // Named in `Connection`: hop-by-hop, even though it is harmless.
        ("connection", "openai-processing-ms"),
    ]);
    let upstream = Recorder::json_with_headers(200, completion("primary"), &headers).await;
    let gateway = single_attempt_gateway(&upstream.base_url()).await;

    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_no_private_headers(headers);
    assert!(headers.get("openai-processing-ms").is_none(), "{headers:?}");
    assert_eq!(headers["x-request-id"], "req_123");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-served-by"], "primary/gpt-4o");
    assert_eq!(json_of(response).await["model"], "primary");
}

#[tokio::test]
async fn upstream_errors_that_are_not_the_callers_fault_become_the_gateways_own() {
    let openai_error = |message: &str, kind: &str, code: &str| json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    let cases = [
        // (upstream status, its body, its extra headers,
        //  the caller's status, code, retry-after, x-should-retry)
        (
            401,
            openai_error(
                "Incorrect API key provided: sk-upstr*****ream. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            ),
            &[][..],
            502,
            "upstream_auth_failed",
            None,
            Some("false"),
        ),
        (
            403,
            openai_error(
                "Project `proj_gateway` is not allowed to use this API.",
                "invalid_request_error",
                "forbidden",
            ),
            &[],
            502,
            "upstream_auth_failed",
            None,
            Some("false"),
        ),
        (
            402,
            openai_error(
                "Payment required for org-gateway-owner.",
                "billing",
                "billing",
            ),
            &[],
            503,
            "upstream_quota_exhausted",
            None,
            Some("false"),
        ),
        (
            429,
            openai_error(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            ),
            &[],
            503,
            "upstream_quota_exhausted",
            None,
            Some("false"),
        ),
        (
            404,
            openai_error(
                "The model `gpt-4o-internal` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            ),
            &[],
            502,
            "upstream_model_not_found",
            None,
            Some("false"),
        ),
        (
            500,
            openai_error(
                "The server had an error processing your request (org-gateway-owner).",
                "server_error",
                "",
            ),
            &[],
            502,
            "upstream_unavailable",
            None,
            Some("false"),
        ),
        (
            429,
            openai_error(
                "Rate limit reached for gpt-4o-internal in organization org-gateway-owner on requests per min (RPM): Limit 500, Used 500, Requested 1.",
                "requests",
                "rate_limit_exceeded",
            ),
            &[("retry-after", "2")][..],
            429,
            "rate_limit_exceeded",
            Some("2"),
            None,
        ),
    ];
    for (upstream_status, body, extra, status, code, retry_after, should_retry) in cases {
        let mut headers = PRIVATE_HEADERS.to_vec();
        headers.extend_from_slice(extra);
        let upstream = Recorder::json_with_headers(upstream_status, body, &headers).await;
        let gateway = single_attempt_gateway(&upstream.base_url()).await;

        let response = gateway.chat(&chat_body("gpt-4o", false)).await;
        let case = format!("upstream {upstream_status} {code}");
        assert_eq!(response.status(), status, "{case}");
        assert_no_private_headers(response.headers());
        let header = |name: &str| {
            let value = response.headers().get(name)?;
            Some(value.to_str().unwrap().to_owned())
        };
        assert_eq!(header("retry-after").as_deref(), retry_after, "{case}");
        assert_eq!(header("x-should-retry").as_deref(), should_retry, "{case}");
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["code"], code, "{case}: {text}");
        assert!(body["error"]["type"].is_string(), "{case}: {text}");
        // Nothing of the upstream's body: not the key, the organization,
        // the project or the upstream's name of the model.
        for secret in ["sk-", "org-", "proj_", "gpt-4o-internal"] {
            assert!(!text.contains(secret), "{case}: {secret} leaked: {text}");
        }
        assert_eq!(upstream.seen().len(), 1, "{case}");
    }
}

#[tokio::test]
async fn the_callers_own_faults_pass_through() {
    let too_long = json!({"error": {"message": "This model's maximum context length is 128000 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}});
    let filtered = json!({"error": {"message": "The response was filtered due to the prompt triggering content management policy.", "type": null, "param": "prompt", "code": "content_filter", "status": 400}});
    for answer in [too_long, filtered] {
        let upstream = Recorder::json_with_headers(400, answer.clone(), &PRIVATE_HEADERS).await;
        let gateway = single_attempt_gateway(&upstream.base_url()).await;

        let response = gateway.chat(&chat_body("gpt-4o", false)).await;
        assert_eq!(response.status(), 400);
        assert_no_private_headers(response.headers());
        assert!(response.headers().get("x-should-retry").is_none());
        assert_eq!(json_of(response).await, answer);
    }
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
    // The gateway has retried already: the SDK must not multiply it.
    assert_eq!(response.headers()["x-should-retry"], "false");
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
    // Worth retrying after the wait: the SDK stays free to.
    assert!(response.headers().get("x-should-retry").is_none());
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
    assert_eq!(response.headers()["x-should-retry"], "false");
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
async fn a_body_over_the_configured_limit_is_a_413_in_openais_shape() {
    let primary = FakeProvider::start(ProviderConfig::healthy("primary").models(["gpt-4o"]))
        .await
        .unwrap();
    // A small limit, so that the whole body is written before the gateway
    // answers (a large one can meet a reset while it is still being sent).
    let toml = format!(
        "max_request_body = 1024\n[providers.primary]\nbase_url = \"{}\"\nmodels = [\"gpt-4o\"]\n",
        primary.base_url()
    );
    let gateway = TestGateway::start(&toml).await;
    let body = |size: usize| {
        let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": ""}]});
        let padding = size - body.to_string().len();
        body["messages"][0]["content"] = Value::from("x".repeat(padding));
        assert_eq!(body.to_string().len(), size);
        body
    };

    let response = gateway.chat(&body(1024)).await;
    assert_eq!(response.status(), 200, "a body at the limit is served");

    let response = gateway.chat(&body(1025)).await;
    assert_eq!(response.status(), 413);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "request_too_large");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("1024"),
        "{body}"
    );
    assert_eq!(primary.stats().received, 1);
}

#[tokio::test]
async fn every_route_answers_in_openais_shape() {
    let (_primary, _backup, gateway) = providers(ProviderConfig::healthy("primary")).await;
    let client = reqwest::Client::new();

    let response = client
        .post(gateway.url("/v1/embeddings"))
        .body(r#"{"model": "text-embedding-3-small", "input": "hi"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "unknown_url");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "Invalid URL (POST /v1/embeddings)"
    );

    let response = client
        .get(gateway.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // models.retrieve
    let model = gateway.get_json("/v1/models/claude-sonnet").await;
    assert_eq!(
        model,
        json!({"id": "claude-sonnet", "object": "model", "created": 0, "owned_by": "backup"})
    );
    let response = reqwest::get(gateway.url("/v1/models/meta-llama/Llama-3"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`meta-llama/Llama-3`"),
        "{body}"
    );
}

#[test]
fn an_upstream_url_that_does_not_parse_is_an_error() {
    let base: http::Uri = "https://api.example/v1".parse().unwrap();
    let path: http::Uri = "/chat/completions?x=1".parse().unwrap();
    let joined = crate::stack::join(&base, &path).unwrap();
    assert_eq!(joined, "https://api.example/v1/chat/completions?x=1");

    // Each part is a URI; together they are too long for one.
    let long = format!("/{}", "a".repeat(40_000));
    let base: http::Uri = format!("https://api.example{long}").parse().unwrap();
    let path: http::Uri = long.parse().unwrap();
    assert!(crate::stack::join(&base, &path).is_err());
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
