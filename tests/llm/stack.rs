//! Provider semantics through a whole stack: fallback → per tier retry →
//! breaker → error-body layer → a scripted provider, in paused time.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_failover::circuit_breaker::{
    BreakerConfig, BreakerError, BreakerHandle, CircuitBreakerLayer, State, Window,
};
use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};
use tower_failover::llm::error_body::{ErrorBodyLayer, ResponseBody};
use tower_failover::retry::{Backoff, RetryLayer, RetryPolicy};

/// One scripted answer: status, headers, body.
type Answer = (u16, &'static [(&'static str, &'static str)], &'static str);

const OK: Answer = (200, &[], r#"{"id":"msg_1"}"#);

/// A provider answering each call with the next scripted answer (the last
/// one forever), logging when it was called.
#[derive(Clone)]
struct Provider {
    script: Arc<Mutex<VecDeque<Answer>>>,
    calls: Arc<Mutex<Vec<Instant>>>,
}

impl Provider {
    fn new(script: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> Vec<Duration> {
        let calls = self.calls.lock().unwrap();
        calls.iter().map(|at| at.duration_since(calls[0])).collect()
    }
}

impl Service<http::Request<String>> for Provider {
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<String>) -> Self::Future {
        self.calls.lock().unwrap().push(Instant::now());
        let mut script = self.script.lock().unwrap();
        let (status, headers, body) = if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            *script.front().unwrap()
        };
        let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        for (name, value) in headers {
            response.headers_mut().insert(*name, value.parse().unwrap());
        }
        std::future::ready(Ok(response))
    }
}

type Res = http::Response<ResponseBody<Full<Bytes>>>;

/// Retry (4 attempts, 1 s constant backoff) → breaker (opens on a rate of
/// failures only after 100 calls) → error-body layer → `provider`.
fn tier(
    provider: &Provider,
    name: &'static str,
) -> (
    impl Service<http::Request<String>, Response = Res, Error = BreakerError<Infallible>, Future: Send>
    + Clone,
    BreakerHandle,
) {
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(Backoff::constant(Duration::from_secs(1)))
        .no_budget()
        .build()
        .unwrap();
    let breaker = CircuitBreakerLayer::new(
        BreakerConfig::builder()
            .name(name)
            .window(Window::count(100))
            .minimum_calls(100)
            .build()
            .unwrap(),
    );
    let handle = breaker.handle();
    let service = tower::ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(breaker)
        .layer(ErrorBodyLayer::new())
        .service(provider.clone());
    (service, handle)
}

async fn body(response: Res) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

fn served(response: &Res) -> (usize, String, u32) {
    let served = response.extensions().get::<ServedBy>().unwrap();
    (served.tier(), served.name().to_owned(), served.attempts())
}

const OPENAI_QUOTA: Answer = (
    429,
    &[("x-request-id", "req_1"), ("retry-after", "20")],
    r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#,
);

#[tokio::test(start_paused = true)]
async fn a_used_up_quota_is_not_retried_opens_the_breaker_and_falls_back_at_once() {
    let openai = Provider::new([OPENAI_QUOTA]);
    let anthropic = Provider::new([OK]);
    let (primary, openai_breaker) = tier(&openai, "openai");
    let (backup, _) = tier(&anthropic, "anthropic");
    let service = FallbackLayer::builder("anthropic-tier")
        .tier(Tier::new("anthropic", backup))
        .build()
        .unwrap()
        .layer(primary);

    let started = Instant::now();
    let response = service
        .clone()
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    // No retry, no wait for the 20 s `retry-after`: the quota will not
    // come back.
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(openai.calls().len(), 1);
    assert_eq!(served(&response), (2, "anthropic".to_owned(), 2));
    assert_eq!(body(response).await, OK.2.as_bytes());
    assert_eq!(openai_breaker.state(), State::Open);

    // The next call does not even reach OpenAI.
    let response = service
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(openai.calls().len(), 1);
    assert_eq!(served(&response).0, 2);
}

const OPENAI_RATE_LIMIT: Answer = (
    429,
    &[
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "3s"),
    ],
    r#"{"error": {"message": "Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 3s.", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}"#,
);

const GEMINI_RATE_LIMIT: Answer = (
    429,
    &[("content-type", "application/json; charset=UTF-8")],
    r#"{"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing details.", "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"}, "quotaValue": "15"}]}, {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}, {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}}"#,
);

#[tokio::test(start_paused = true)]
async fn a_rate_limit_is_retried_after_the_hint_from_headers_or_body() {
    // OpenAI: the hint is in the headers (3 s).
    let openai = Provider::new([OPENAI_RATE_LIMIT, OK]);
    let (service, breaker) = tier(&openai, "openai");
    let response = service
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(openai.calls(), [Duration::ZERO, Duration::from_secs(3)]);
    assert_eq!(breaker.state(), State::Closed);

    // Gemini: "You exceeded your current quota" per minute is a rate limit;
    // the wait is only in the body's RetryInfo (7 s).
    let gemini = Provider::new([GEMINI_RATE_LIMIT, OK]);
    let (service, breaker) = tier(&gemini, "gemini");
    let response = service
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(gemini.calls(), [Duration::ZERO, Duration::from_secs(7)]);
    assert_eq!(breaker.state(), State::Closed);
}

const ANTHROPIC_OVERLOADED: Answer = (
    529,
    &[("request-id", "req_011")],
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011"}"#,
);

const ANTHROPIC_TOO_LONG: Answer = (
    400,
    &[],
    r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#,
);

const ANTHROPIC_BAD_REQUEST: Answer = (
    400,
    &[],
    r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate between \"user\" and \"assistant\""}}"#,
);

#[tokio::test(start_paused = true)]
async fn overload_is_retried_context_length_falls_back_a_bad_request_is_returned() {
    // 529 overloaded: retried on the same tier, then served there.
    let anthropic = Provider::new([ANTHROPIC_OVERLOADED, ANTHROPIC_OVERLOADED, OK]);
    let (service, _) = tier(&anthropic, "anthropic");
    let response = service
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(anthropic.calls().len(), 3);

    // A prompt too long: not retried, not counted by the breaker, and the
    // fallback moves on to the larger-context tier.
    let small = Provider::new([ANTHROPIC_TOO_LONG]);
    let large = Provider::new([OK]);
    let (primary, small_breaker) = tier(&small, "small");
    let (backup, _) = tier(&large, "large");
    let response = FallbackLayer::builder("small")
        // Only tiers that say the prompt fits are tried after a context
        // error.
        .tier(
            Tier::new("large", backup)
                .guard(|request: &http::Request<String>| request.body().len() < 4_000_000),
        )
        .build()
        .unwrap()
        .layer(primary)
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(served(&response), (2, "large".to_owned(), 2));
    assert_eq!(small.calls().len(), 1);
    assert_eq!(small_breaker.metrics().failures, 0);

    // The caller's own mistake: returned as it is, byte for byte, with no
    // fallback.
    let strict = Provider::new([ANTHROPIC_BAD_REQUEST]);
    let spare = Provider::new([OK]);
    let (primary, _) = tier(&strict, "strict");
    let (backup, _) = tier(&spare, "spare");
    let response = FallbackLayer::builder("strict")
        .tier(Tier::new("spare", backup))
        .build()
        .unwrap()
        .layer(primary)
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(spare.calls().is_empty());
    assert_eq!(body(response).await, ANTHROPIC_BAD_REQUEST.2.as_bytes());
}
