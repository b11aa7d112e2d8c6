//! The OpenAI-compatible routes:
//!
//! - `POST /v1/chat/completions`: streaming (`"stream": true`, the
//!   upstream's `text/event-stream` passed on as it arrives) and not;
//! - `GET /v1/models`: the configured models, in OpenAI's list shape, and
//!   `GET /v1/models/{id}` one of them (`models.retrieve`);
//! - `GET /health`: 200 and each provider's breakers' states;
//! - `GET /metrics`: Prometheus text (the crate's counters and the
//!   gateway's own);
//! - anything else: OpenAI's 404 (`unknown_url`) or 405 in its error shape.
//!
//! Of an upstream's response, the body and a few headers describing it
//! are passed on ([`PASSED_ON`]); never its cookies, its account's
//! headers (`openai-organization`, `openai-project`), the shared key's
//! `x-ratelimit-*` or its connection's headers. An upstream's error
//! response is passed on only when it is the caller's fault; the others
//! become the gateway's own errors (see the `errors` module).

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{Listener, ListenerExt as _};
use axum::{Json, Router};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_failover::circuit_breaker::State as BreakerState;
use tower_failover::classify::{Classify as _, DefaultClassifier};
use tower_failover::fallback::ServedBy;
use tower_failover::llm::model::model_of;

use crate::errors::ApiError;
use crate::stack::{Gateway, ModelService};

/// Which provider and model served a response: `<provider>/<model>`.
pub(crate) const SERVED_BY: &str = "x-served-by";
/// The position of the tier that served (1 for the requested model).
pub(crate) const SERVED_TIER: &str = "x-served-tier";

/// Request headers passed on to the upstream; everything else (the
/// caller's `Authorization` above all) stays here.
const FORWARDED: [header::HeaderName; 2] = [header::ACCEPT, header::USER_AGENT];

/// The upstream's response headers passed on to the caller: those that
/// describe the body (`content-encoding` too, or a compressed body would be
/// unreadable), the wait it asks for, and harmless request ids. Everything
/// else stays here, above all `set-cookie`, `openai-organization`,
/// `openai-project`, the shared key's `x-ratelimit-*` and hop-by-hop
/// headers; one listed in the upstream's `Connection` is hop-by-hop too.
const PASSED_ON: [HeaderName; 7] = [
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CACHE_CONTROL,
    header::RETRY_AFTER,
    HeaderName::from_static("retry-after-ms"),
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("openai-processing-ms"),
];

/// What the handlers share.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    /// The models' stacks.
    pub(crate) gateway: Gateway,
    /// The Prometheus recorder's handle.
    pub(crate) metrics: PrometheusHandle,
    /// The largest request body accepted (config `max_request_body`);
    /// larger ones get a 413 in OpenAI's error shape.
    pub(crate) max_request_body: usize,
}

/// The gateway's router.
pub(crate) fn router(state: AppState) -> Router {
    let limit = state.max_request_body;
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        // Model ids may have a `/` (`meta-llama/Llama-3.1-8B`).
        .route("/v1/models/{*id}", get(model))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(unknown_url)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The listener with `TCP_NODELAY` set on every accepted connection, so
/// that a streamed token goes out at once instead of waiting for Nagle's
/// algorithm to gather more.
pub(crate) fn nodelay(
    listener: tokio::net::TcpListener,
) -> impl Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    listener.tap_io(|stream| {
        // Only latency is lost if it fails: serve anyway.
        let _ = stream.set_nodelay(true);
    })
}

async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    // Labelled with the model when it is a configured one (a bounded set),
    // `-` otherwise.
    let (model, response) = match route(&state, body) {
        Ok((model, service, body)) => {
            let response = forward(&state, service, &headers, body).await;
            (Some(model), response)
        }
        Err(error) => (None, error.into_response()),
    };
    record(
        "chat_completions",
        model.unwrap_or_else(|| String::from("-")),
        response.status(),
        started,
    );
    response
}

/// The request's model, its service and the body, or why there is none.
fn route(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, ModelService, Bytes), ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(state.max_request_body)
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
    let Some(service) = state.gateway.model(&model) else {
        return Err(ApiError::model_not_found(&model));
    };
    Ok((model.into_owned(), service, body))
}

/// Sends the request through the model's stack; the answer, an upstream's
/// or the gateway's own.
async fn forward(
    state: &AppState,
    service: ModelService,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = Uri::from_static("/chat/completions");
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
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
        Err(error) => return ApiError::from_stack(&error).into_response(),
    };
    let served = response.extensions().get::<ServedBy>().map(|served| {
        let provider = state.gateway.provider_of(served.name()).unwrap_or("-");
        (format!("{provider}/{}", served.name()), served.tier())
    });
    let mut response = if response.status().as_u16() >= 400 {
        upstream_error(response)
    } else {
        keep_passed_on(response.headers_mut());
        response
    };
    if let Some((name, tier)) = served {
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::try_from(name) {
            headers.insert(SERVED_BY, value);
        }
        headers.insert(SERVED_TIER, HeaderValue::from(tier));
    }
    response
}

/// An upstream's error response (the last tier's, after retries and
/// fallbacks): passed on if it is the caller's fault, else the gateway's
/// own error. The kind is the crate's classification, refined by the
/// provider's error body (`ErrorBodyLayer` left it in the extensions).
fn upstream_error(response: Response) -> Response {
    let result: Result<Response, Infallible> = Ok(response);
    let outcome = DefaultClassifier.classify(&result);
    let Ok(mut response) = result;
    let status = response.status();
    match outcome
        .as_failure()
        .and_then(|failure| ApiError::from_upstream(failure, status))
    {
        Some(error) => error.into_response(),
        None => {
            keep_passed_on(response.headers_mut());
            response
        }
    }
}

/// Removes every header but [`PASSED_ON`]'s, and those of them that the
/// upstream's `Connection` names. In place and without allocating: a
/// response has a few dozen headers at most.
fn keep_passed_on(headers: &mut HeaderMap) {
    for name in &PASSED_ON {
        if named_in_connection(headers, name) {
            headers.remove(name);
        }
    }
    // Removing reorders the map: look again from the start each time.
    while let Some(name) = headers
        .keys()
        .find(|name| !PASSED_ON.contains(name))
        .cloned()
    {
        headers.remove(&name);
    }
}

/// Whether `Connection` lists `name` (a hop-by-hop header).
fn named_in_connection(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case(name.as_str()))
}

/// One configured model in OpenAI's shape.
fn model_object(model: &str, provider: &str) -> Value {
    json!({"id": model, "object": "model", "created": 0, "owned_by": provider})
}

async fn models(State(state): State<AppState>) -> Response {
    let data: Vec<Value> = state
        .gateway
        .models()
        .iter()
        .map(|(model, provider)| model_object(model, provider))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

async fn model(State(state): State<AppState>, id: Result<Path<String>, PathRejection>) -> Response {
    let id = match id {
        Ok(Path(id)) => id,
        Err(rejection) => {
            return ApiError::invalid_request(rejection.body_text(), None).into_response();
        }
    };
    match state.gateway.provider_of(&id) {
        Some(provider) => Json(model_object(&id, provider)).into_response(),
        None => ApiError::model_not_found(&id).into_response(),
    }
}

async fn unknown_url(method: Method, uri: Uri) -> Response {
    ApiError::unknown_url(&method, uri.path()).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::method_not_allowed(&method, uri.path()).into_response()
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
fn record(route: &'static str, model: String, status: StatusCode, started: Instant) {
    let status = status.as_u16().to_string();
    metrics::counter!("gateway_requests_total", "route" => route, "model" => model, "status" => status)
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
