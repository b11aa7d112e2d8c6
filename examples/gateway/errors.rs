//! The gateway's own errors, answered in OpenAI's error shape so that the
//! official clients parse them and their retry logic behaves:
//!
//! ```json
//! {"error": {"message": "…", "type": "…", "param": null, "code": "…"}}
//! ```
//!
//! Only errors the gateway produces go through here (an unknown model, a
//! body too large, every tier failed with an error, an open circuit, a
//! spent deadline or retry budget, an unreachable upstream). An upstream's
//! own error *response* is passed through unchanged by the routes.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::json;
use tower_failover::BoxError;
use tower_failover::circuit_breaker::CircuitOpen;
use tower_failover::classify::{FailureKind, classify_error};
use tower_failover::deadline::DeadlineExceeded;

/// How much of a caller's model name an error message repeats.
const MAX_ECHOED_CHARS: usize = 200;

/// An error answered in OpenAI's shape, with a status and, when the gateway
/// knows one, how long the client should wait (`retry-after`,
/// `retry-after-ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<&'static str>,
    code: &'static str,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: String) -> Self {
        Self {
            status,
            message,
            kind,
            param: None,
            code,
            retry_after: None,
        }
    }

    /// 404 `model_not_found`, worded like OpenAI's.
    pub(crate) fn model_not_found(model: &str) -> Self {
        // The name is the caller's: echo a bounded part of it.
        let model = match model.char_indices().nth(MAX_ECHOED_CHARS) {
            Some((end, _)) => &model[..end],
            None => model,
        };
        let mut error = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("The model `{model}` does not exist or you do not have access to it."),
        );
        error.param = Some("model");
        error
    }

    /// 400 for a body the gateway cannot route (not JSON, no `model`).
    pub(crate) fn invalid_request(message: impl Into<String>, param: Option<&'static str>) -> Self {
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            message.into(),
        );
        error.param = param;
        error
    }

    /// 413: the request body is over the gateway's limit.
    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("The request body is larger than this gateway's limit of {limit} bytes."),
        )
    }

    /// The answer to an error out of a model's stack: every tier failed
    /// without a response, a breaker was open, the deadline or the retry
    /// budget was spent, or the upstream could not be reached.
    pub(crate) fn from_stack(error: &BoxError) -> Self {
        let failure = classify_error(&**error);
        let message = describe(error);
        let (status, kind, code) = match failure.kind() {
            FailureKind::CircuitOpen => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "circuit_open",
            ),
            FailureKind::BudgetExhausted if find::<DeadlineExceeded>(error) => {
                (StatusCode::GATEWAY_TIMEOUT, "timeout", "deadline_exceeded")
            }
            FailureKind::BudgetExhausted => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "retry_budget_exhausted",
            ),
            FailureKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout", "upstream_timeout"),
            FailureKind::RateLimited | FailureKind::QuotaExhausted => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
            ),
            FailureKind::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "upstream_overloaded",
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "server_error",
                "upstream_unavailable",
            ),
        };
        let mut api = Self::new(status, kind, code, message);
        api.retry_after = failure.retry_after().or_else(|| {
            // An open breaker knows when it will let a probe through.
            let open = find_ref::<CircuitOpen>(error)?;
            open.retry_after()
        });
        api
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(wait) = self.retry_after {
            let headers = response.headers_mut();
            // Whole seconds, rounded up, for every client; milliseconds for
            // the OpenAI and Anthropic SDKs, which read them first.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert("retry-after", HeaderValue::from(seconds));
            let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            headers.insert("retry-after-ms", HeaderValue::from(millis));
        }
        response
    }
}

/// The error's message and its sources', joined by `: `, bounded.
fn describe(error: &BoxError) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    // A few levels say what happened; the chain is short in practice.
    for _ in 0..4 {
        let Some(next) = source else { break };
        let text = next.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = next.source();
    }
    message
}

fn find<E: std::error::Error + 'static>(error: &BoxError) -> bool {
    find_ref::<E>(error).is_some()
}

fn find_ref<E: std::error::Error + 'static>(error: &BoxError) -> Option<&E> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(&**error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}
