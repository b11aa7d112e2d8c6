//! A provider's `rate_limit` (the gateway's own limit on its calls) and a
//! model's `routing`, over TCP.

use serde_json::{Value, json};

use crate::support::{Recorder, TestGateway, chat_body, completion, json_of};

/// One provider at `url` serving `gpt-4o`, with `rate_limit`.
fn limited(url: &str, rate_limit: &str) -> String {
    format!(
        r#"
[providers.openai]
base_url = "{url}"
models = ["gpt-4o"]
rate_limit = {rate_limit}
"#
    )
}

/// The `retry-after` header in whole seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_spent_rate_limit_is_a_429_with_retry_after_and_sends_nothing() {
    let upstream = Recorder::json(200, completion("openai")).await;
    let toml = limited(
        &upstream.base_url(),
        r#"{ requests = { count = 1, per = "1h" }, max_wait = "0s" }"#,
    );
    let gateway = TestGateway::start(&toml).await;

    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 200);

    // The next request's turn is an hour away: refused at once, not sent.
    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 429);
    let wait = retry_after(&response);
    assert!((3500..=3601).contains(&wait), "retry-after: {wait}");
    assert!(response.headers().contains_key("retry-after-ms"));
    // Worth retrying after the wait: the SDK stays free to.
    assert!(response.headers().get("x-should-retry").is_none());
    let body = json_of(response).await;
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("openai"), "{message}");
    assert_eq!(upstream.seen().len(), 1, "the refused request was not sent");
}

#[tokio::test]
async fn the_rate_limit_adapts_to_the_providers_headers() {
    // Plenty configured, but the provider says nothing is left for 30 min.
    let upstream = Recorder::json_with_headers(
        200,
        completion("openai"),
        &[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "30m0s"),
        ],
    )
    .await;
    let toml = limited(
        &upstream.base_url(),
        r#"{ requests = { count = 100, per = "1s" }, max_wait = "0s" }"#,
    );
    let gateway = TestGateway::start(&toml).await;

    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 200);
    // The shared key's headers are not the caller's business.
    assert!(
        response
            .headers()
            .get("x-ratelimit-remaining-requests")
            .is_none()
    );
    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.status(), 429);
    let wait = retry_after(&response);
    assert!((1700..=1810).contains(&wait), "retry-after: {wait}");
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test]
async fn a_request_costing_more_tokens_than_the_bucket_holds_is_refused() {
    let upstream = Recorder::json(200, completion("openai")).await;
    let toml = limited(
        &upstream.base_url(),
        r#"{ requests = { count = 100, per = "1s" }, tokens = { count = 1000, per = "1m" }, max_wait = "0s" }"#,
    );
    let gateway = TestGateway::start(&toml).await;

    // A short prompt and 100 tokens of completion: within the bucket.
    let mut body = chat_body("gpt-4o", false);
    body["max_tokens"] = json!(100);
    assert_eq!(gateway.chat(&body).await.status(), 200);

    // 2000 tokens of completion can never pass a bucket of 1000.
    body["max_completion_tokens"] = json!(2000);
    let response = gateway.chat(&body).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_none());
    // It can never pass: the SDKs are told not to retry it.
    assert_eq!(response.headers()["x-should-retry"], "false");
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(upstream.seen().len(), 1);
}

#[test]
fn the_token_estimate_is_prompt_bytes_over_four_plus_the_completion() {
    use crate::stack::estimated_tokens;

    let request = |body: Value| http::Request::new(bytes::Bytes::from(body.to_string()));
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let bytes = body.to_string().len() as u32;
    assert_eq!(estimated_tokens(&request(body.clone())), bytes / 4);

    let mut with_max = body.clone();
    with_max["max_tokens"] = json!(500);
    let bytes = with_max.to_string().len() as u32;
    assert_eq!(
        estimated_tokens(&request(with_max.clone())),
        bytes / 4 + 500
    );

    // The newer name wins over the older.
    with_max["max_completion_tokens"] = json!(70);
    let bytes = with_max.to_string().len() as u32;
    assert_eq!(estimated_tokens(&request(with_max)), bytes / 4 + 70);

    // Garbage is the body's size alone.
    let garbage = http::Request::new(bytes::Bytes::from_static(b"{\"max_tokens\": \"lots\"}"));
    assert_eq!(estimated_tokens(&garbage), 22 / 4);
}

#[tokio::test]
async fn a_models_routing_is_honoured() {
    let primary = Recorder::json(200, completion("primary")).await;
    let backup = Recorder::json(200, completion("backup")).await;
    let toml = format!(
        r#"
[providers.primary]
base_url = "{}"
models = ["gpt-4o"]

[providers.backup]
base_url = "{}"
models = {{ "claude-sonnet" = "claude-sonnet-4-5" }}

[fallbacks]
"gpt-4o" = ["claude-sonnet"]

# The primary's weight is 0: never tried first, only as a fallback.
[routing]
"gpt-4o" = {{ weighted = [0, 1] }}
"#,
        primary.base_url(),
        backup.base_url()
    );
    let gateway = TestGateway::start(&toml).await;

    for _ in 0..3 {
        let response = gateway.chat(&chat_body("gpt-4o", false)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-served-by"], "backup/claude-sonnet");
    }
    assert_eq!(primary.seen().len(), 0);
    let seen = backup.seen();
    assert_eq!(seen.len(), 3);
    // The backup was asked for its own name of the model.
    assert_eq!(seen[0].1["model"], "claude-sonnet-4-5");

    // Without a routing, the configured order: the primary first.
    let plain = toml.replace("\"gpt-4o\" = { weighted = [0, 1] }", "");
    let gateway = TestGateway::start(&plain).await;
    let response = gateway.chat(&chat_body("gpt-4o", false)).await;
    assert_eq!(response.headers()["x-served-by"], "primary/gpt-4o");
    assert_eq!(primary.seen().len(), 1);
}
