//! The OpenAI-compatible routes:
//!
//! - `POST /v1/chat/completions`: streaming (`"stream": true`, the
//!   upstream's `text/event-stream` passed on as it arrives) and not;
//! - `GET /v1/models`: the configured models, in OpenAI's list shape;
//! - `GET /health`: 200 and each provider's breakers' states;
//! - `GET /metrics`: Prometheus text (the crate's counters and the
//!   gateway's own).

use std::sync::OnceLock;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_failover::circuit_breaker::State as BreakerState;
use tower_failover::fallback::ServedBy;
use tower_failover::llm::model::model_of;

use crate::errors::ApiError;
use crate::stack::Gateway;

/// The largest request body the gateway accepts (4 MiB); larger ones get a
/// 413 in OpenAI's error shape.
pub(crate) const MAX_BODY: usize = 4 << 20;

/// Which provider and model served a response: `<provider>/<model>`.
pub(crate) const SERVED_BY: &str = "x-served-by";
/// The position of the tier that served (1 for the requested model).
pub(crate) const SERVED_TIER: &str = "x-served-tier";

/// Request headers passed on to the upstream; everything else (the
/// caller's `Authorization` above all) stays here.
const FORWARDED: [header::HeaderName; 2] = [header::ACCEPT, header::USER_AGENT];

/// What the handlers share.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    /// The models' stacks.
    pub(crate) gateway: Gateway,
    /// The Prometheus recorder's handle.
    pub(crate) metrics: PrometheusHandle,
}

/// The gateway's router.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (response, model) = match complete(&state, headers, body).await {
        Ok((response, model)) => (response, model),
        Err(error) => (error.into_response(), String::from("-")),
    };
    record("chat_completions", &model, response.status(), started);
    response
}

async fn complete(
    state: &AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Response, String), ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(MAX_BODY)
        } else {
            ApiError::invalid_request(rejection.body_text(), None)
        }
    })?;
    let Some(model) = model_of(&body) else {
        return Err(ApiError::invalid_request(
            "The request body must be a JSON object with a `model` string.",
            Some("model"),
        ));
    };
    let model = model.into_owned();
    let Some(service) = state.gateway.model(&model) else {
        return Err(ApiError::model_not_found(&model));
    };

    let mut request = Request::post("/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|error| ApiError::invalid_request(error.to_string(), None))?;
    for name in FORWARDED {
        if let Some(value) = headers.get(&name) {
            request.headers_mut().insert(name, value.clone());
        }
    }
    // A caller's idempotency key is kept across retries and tiers.
    if let Some(key) = headers.get("idempotency-key") {
        request.headers_mut().insert("idempotency-key", key.clone());
    }

    let mut response = match service.oneshot(request).await {
        Ok(response) => response,
        Err(error) => return Err(ApiError::from_stack(&error)),
    };
    strip_hop_by_hop(response.headers_mut());
    let served = response.extensions().get::<ServedBy>().map(|served| {
        let provider = state.gateway.provider_of(served.name()).unwrap_or("-");
        (format!("{provider}/{}", served.name()), served.tier())
    });
    if let Some((name, tier)) = served {
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::try_from(name) {
            headers.insert(SERVED_BY, value);
        }
        headers.insert(SERVED_TIER, HeaderValue::from(tier));
    }
    Ok((response, model))
}

/// Connection-level headers belong to the upstream's connection, not ours.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

async fn models(State(state): State<AppState>) -> Response {
    let data: Vec<Value> = state
        .gateway
        .models()
        .iter()
        .map(|(model, provider)| {
            json!({"id": model, "object": "model", "created": 0, "owned_by": provider})
        })
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    let mut providers = serde_json::Map::new();
    let mut all_closed = true;
    for breaker in state.gateway.breakers() {
        let breaker_state = breaker.handle.state();
        all_closed &= matches!(
            breaker_state,
            BreakerState::Closed | BreakerState::ForcedClosed
        );
        let entry = providers
            .entry(breaker.provider.clone())
            .or_insert_with(|| json!({}));
        entry[breaker.model.as_str()] = json!({
            "breaker": breaker.handle.name(),
            "state": breaker_state.as_str(),
        });
    }
    let status = if all_closed { "ok" } else { "degraded" };
    Json(json!({"status": status, "providers": providers})).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// The gateway's own counter and histogram, beside the crate's.
fn record(route: &'static str, model: &str, status: StatusCode, started: Instant) {
    let status = status.as_u16().to_string();
    metrics::counter!("gateway_requests_total", "route" => route, "model" => model.to_owned(), "status" => status)
        .increment(1);
    metrics::histogram!("gateway_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
}

/// The process's Prometheus recorder, installed on first use (tests start
/// several gateways in one process; they share it).
pub(crate) fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (an embedding
            // application's); then this handle renders nothing of the layers.
            if metrics::set_global_recorder(recorder).is_ok() {
                // Units and help lines for the layers' metrics.
                tower_failover::metrics::describe();
                metrics::describe_counter!(
                    "gateway_requests_total",
                    "Chat completion requests answered, by model and status."
                );
                metrics::describe_histogram!(
                    "gateway_request_duration_seconds",
                    metrics::Unit::Seconds,
                    "Time to a chat completion's response headers."
                );
            }
            handle
        })
        .clone()
}
