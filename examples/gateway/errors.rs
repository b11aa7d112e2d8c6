//! The gateway's own errors, answered in OpenAI's error shape so that the
//! official clients parse them and their retry logic behaves:
//!
//! ```json
//! {"error": {"message": "…", "type": "…", "param": null, "code": "…"}}
//! ```
//!
//! The gateway's own errors go through here (an unknown model or URL, a
//! body too large, every tier failed with an error, an open circuit, a
//! spent deadline or retry budget, an unreachable upstream), and so do the
//! upstream error *responses* that are not the caller's business: a
//! provider that rejects the gateway's key (OpenAI's 401 shows the key's
//! last characters), a spent quota, an unknown upstream model, a rate limit
//! (OpenAI's names the organization) or a 5xx are answered with the
//! gateway's own error, without the upstream's body. Only the caller's own
//! faults ([`FailureKind::Invalid`], [`FailureKind::ContextTooLong`],
//! [`FailureKind::ContentFiltered`]) pass through as the upstream sent them
//! (see [`ApiError::from_upstream`]).
//!
//! The official SDKs retry 408, 409, 429 and 5xx twice more on their own,
//! which multiplies the gateway's retries. An error after which an
//! immediate retry cannot help (the deadline, every tier failed, the retry
//! budget, the gateway's key or quota, a model error, a request too large
//! for a provider's token limit ever to pass) carries
//! `x-should-retry: false`, which the SDKs obey; an open circuit and a rate
//! limit carry `retry-after` and leave the SDK free to retry.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::json;
use tower_failover::BoxError;
use tower_failover::circuit_breaker::CircuitOpen;
use tower_failover::classify::{Failure, FailureKind, classify_error};
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
    /// Sends `x-should-retry: false`: retrying at once cannot help.
    final_answer: bool,
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
            final_answer: false,
        }
    }

    /// The same error with `x-should-retry: false`.
    fn final_answer(mut self) -> Self {
        self.final_answer = true;
        self
    }

    /// 404 `model_not_found`, worded like OpenAI's.
    pub(crate) fn model_not_found(model: &str) -> Self {
        // The name is the caller's: echo a bounded part of it.
        let model = bounded(model);
        let mut error = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("The model `{model}` does not exist or you do not have access to it."),
        );
        error.param = Some("model");
        error.final_answer()
    }

    /// 404 `unknown_url`: no route has this path, worded like OpenAI's.
    pub(crate) fn unknown_url(method: &http::Method, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_url",
            format!("Invalid URL ({method} {})", bounded(path)),
        )
    }

    /// 405 `method_not_allowed`: the path exists, with another method.
    pub(crate) fn method_not_allowed(method: &http::Method, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            format!("Invalid method for URL ({method} {})", bounded(path)),
        )
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
        let mut api = match failure.kind() {
            FailureKind::CircuitOpen => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "circuit_open",
                message,
            ),
            FailureKind::BudgetExhausted if find::<DeadlineExceeded>(error) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "deadline_exceeded",
                message,
            )
            .final_answer(),
            FailureKind::BudgetExhausted => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "retry_budget_exhausted",
                message,
            )
            .final_answer(),
            kind => Self::upstream(kind, message),
        };
        if failure.hint().should_retry() == Some(false) {
            // e.g. a request whose cost is over the caller-side rate
            // limiter's burst: it can never pass, so the SDK must not retry.
            api = api.final_answer();
        }
        api.retry_after = failure.retry_after().or_else(|| {
            // An open breaker knows when it will let a probe through.
            let open = find_ref::<CircuitOpen>(error)?;
            open.retry_after()
        });
        api
    }

    /// The answer to an upstream's error response that the last tier
    /// returned, or `None` when it is the caller's own fault
    /// ([`Invalid`](FailureKind::Invalid),
    /// [`ContextTooLong`](FailureKind::ContextTooLong),
    /// [`ContentFiltered`](FailureKind::ContentFiltered)) and passes through
    /// as it is. Nothing of the upstream's body is repeated: it may name the
    /// gateway's key, organization or upstream model.
    pub(crate) fn from_upstream(failure: &Failure, status: StatusCode) -> Option<Self> {
        let message = match failure.kind() {
            FailureKind::Invalid | FailureKind::ContextTooLong | FailureKind::ContentFiltered => {
                return None;
            }
            FailureKind::Auth => {
                "The upstream provider rejected this gateway's credentials; the gateway's configuration must be fixed.".to_owned()
            }
            FailureKind::QuotaExhausted => {
                "The upstream provider's quota for this gateway is used up.".to_owned()
            }
            FailureKind::ModelNotFound => {
                "The upstream provider does not know the model this gateway sends your request to.".to_owned()
            }
            FailureKind::RateLimited => {
                "The upstream provider is rate limiting this gateway; retry after `retry-after`.".to_owned()
            }
            _ => format!(
                "The upstream provider answered {} and no fallback could serve the request.",
                status.as_u16()
            ),
        };
        let mut api = Self::upstream(failure.kind(), message);
        api.retry_after = failure.retry_after();
        Some(api)
    }

    /// The answer to an upstream's failure of `kind`, after the gateway's
    /// retries and fallbacks.
    fn upstream(kind: FailureKind, message: String) -> Self {
        // (status, type, code, whether retrying at once is pointless)
        let (status, kind, code, final_answer) = match kind {
            // Worth retrying once the hint has passed.
            FailureKind::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                false,
            ),
            FailureKind::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "upstream_timeout",
                true,
            ),
            // Not a 429: a spent quota does not come back in a retry's wait.
            FailureKind::QuotaExhausted => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "upstream_quota_exhausted",
                true,
            ),
            FailureKind::Auth => (
                StatusCode::BAD_GATEWAY,
                "server_error",
                "upstream_auth_failed",
                true,
            ),
            FailureKind::ModelNotFound => (
                StatusCode::BAD_GATEWAY,
                "server_error",
                "upstream_model_not_found",
                true,
            ),
            FailureKind::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "upstream_overloaded",
                true,
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "server_error",
                "upstream_unavailable",
                true,
            ),
        };
        let mut error = Self::new(status, kind, code, message);
        error.final_answer = final_answer;
        error
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
        if self.final_answer {
            response
                .headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
        }
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

/// At most [`MAX_ECHOED_CHARS`] of a caller's text.
fn bounded(text: &str) -> &str {
    match text.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
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
