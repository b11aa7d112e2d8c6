//! Fake OpenAI-compatible LLM providers on 127.0.0.1, with a scripted fault
//! schedule: the demo's upstreams, and the gateway example's and tests'.
//!
//! ```text
//! #[path = "../support/fake_provider.rs"]
//! mod fake_provider;
//!
//! let primary = FakeProvider::start(
//!     ProviderConfig::healthy("openai-like")
//!         .models(["gpt-4o"])
//!         .fault(When::Between(secs(5), secs(10)), 1.0, Fault::Outage)
//!         .fault(When::Always, 0.05, Fault::ServerError),
//! ).await?;
//! let url = format!("{}/chat/completions", primary.base_url());
//! ```
//!
//! Endpoints:
//! - `POST /v1/chat/completions`: a `chat.completion` whose content is
//!   `"hello from <name> (<model>)"`, or with `"stream": true` a
//!   `text/event-stream` of `chat.completion.chunk` events ending in
//!   `data: [DONE]` (and a usage chunk if `stream_options.include_usage`),
//!   shaped as the official OpenAI clients parse them. The fault schedule
//!   applies here.
//! - `GET /v1/models`: the provider's models. Only an outage fails it.
//!
//! Every response carries `x-fake-provider: <name>`, so a client can tell
//! who answered.
//!
//! The schedule is a list of rules read in order on a clock that starts
//! with the server and restarts with [`FakeProvider::restart`]: a rule
//! applies to a request when its [`When`] holds at the request's arrival and
//! a seeded roll for that request falls under the rule's share. The first
//! rule that applies decides the [`Fault`]. Rolls depend only on the seed
//! and the request's arrival number, so a run is deterministic given the
//! seed and the order requests arrive in.
//!
//! Self-contained on purpose (hyper, hyper-util, tokio, serde_json, bytes,
//! http): it is included with `#[path]` by several targets.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The largest request body the provider reads; larger ones get a 413.
const MAX_REQUEST_BODY: usize = 1 << 20;

/// How error bodies look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// `{"error": {"message", "type", "param", "code"}}`, `retry-after-ms`
    /// and `x-ratelimit-*` headers.
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}`, `retry-after` in
    /// whole seconds and `anthropic-ratelimit-*` headers.
    Anthropic,
}

/// What the provider does with a chat request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// 429 rate limit, with the hint in `retry-after-ms` (OpenAI flavour
    /// only), `retry-after` (whole seconds, rounded up) and the
    /// rate-limit headers.
    RateLimited {
        /// What the headers ask the client to wait.
        retry_after: Duration,
    },
    /// 429 `insufficient_quota` (OpenAI), 400 "credit balance is too low"
    /// (Anthropic): never worth retrying.
    QuotaExhausted,
    /// 503 `server_error` ("the server is overloaded or not ready yet").
    ServerError,
    /// 500 `server_error` / `api_error`.
    InternalError,
    /// 529 `overloaded_error`, Anthropic's way (in either flavour).
    Overloaded,
    /// The answer, after this much extra time before the headers.
    Slow(Duration),
    /// A hard outage: the request is read, counted, and the connection is
    /// closed without a response, as a crashed backend behind a proxy does.
    Outage,
}

/// When a rule holds, on the provider's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// Always.
    Always,
    /// From the first instant (inclusive) to the second (exclusive).
    Between(Duration, Duration),
    /// For `length` at the start of every `period`, the first one starting
    /// at `start`.
    Every {
        /// When the first burst starts.
        start: Duration,
        /// Time from one burst's start to the next.
        period: Duration,
        /// How long each burst lasts.
        length: Duration,
    },
}

impl When {
    fn holds(self, at: Duration) -> bool {
        match self {
            When::Always => true,
            When::Between(from, to) => from <= at && at < to,
            When::Every {
                start,
                period,
                length,
            } => {
                at >= start && {
                    let since = (at - start).as_nanos();
                    period.is_zero() || since % period.as_nanos() < length.as_nanos()
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Rule {
    when: When,
    share: f64,
    fault: Fault,
}

/// A provider's name, flavour, models, timing and fault schedule.
#[derive(Clone, Debug)]
pub(crate) struct ProviderConfig {
    name: String,
    flavour: Flavour,
    models: Vec<String>,
    seed: u64,
    latency: Duration,
    chunk_interval: Duration,
    rules: Vec<Rule>,
}

impl ProviderConfig {
    /// A provider that never fails: OpenAI flavour, model `gpt-4o-mini`,
    /// answering at once.
    pub(crate) fn healthy(name: &str) -> Self {
        ProviderConfig {
            name: name.to_owned(),
            flavour: Flavour::OpenAi,
            models: vec!["gpt-4o-mini".to_owned()],
            seed: 0,
            latency: Duration::ZERO,
            chunk_interval: Duration::ZERO,
            rules: Vec::new(),
        }
    }

    /// A provider in a hard outage: every request is read and its
    /// connection closed without a response ([`Fault::Outage`]).
    pub(crate) fn down(name: &str) -> Self {
        Self::healthy(name).fault(When::Always, 1.0, Fault::Outage)
    }

    /// Error bodies and rate-limit headers in this provider's style.
    pub(crate) fn flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = flavour;
        self
    }

    /// The models `GET /v1/models` lists (chat requests for any model are
    /// answered; the answer names the model asked for).
    pub(crate) fn models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.models = models.into_iter().map(Into::into).collect();
        self
    }

    /// The seed of the per-request rolls.
    pub(crate) fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Time before every successful answer's headers (a model's time to
    /// first token).
    pub(crate) fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Time between a stream's chunks.
    pub(crate) fn chunk_interval(mut self, interval: Duration) -> Self {
        self.chunk_interval = interval;
        self
    }

    /// Adds a rule: while `when` holds, a share (0.0 to 1.0) of chat
    /// requests get `fault`. Rules are read in the order they were added.
    pub(crate) fn fault(mut self, when: When, share: f64, fault: Fault) -> Self {
        self.rules.push(Rule {
            when,
            share: share.clamp(0.0, 1.0),
            fault,
        });
        self
    }

    /// The provider's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether an outage rule's window holds at `at` (whatever its share):
    /// the provider counts as down then.
    pub(crate) fn is_down_at(&self, at: Duration) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.fault == Fault::Outage && rule.when.holds(at))
    }

    /// The fault for the `n`-th request (from 0) arriving at `at`.
    pub(crate) fn fault_for(&self, n: u64, at: Duration) -> Option<Fault> {
        self.rules.iter().enumerate().find_map(|(index, rule)| {
            let applies = rule.when.holds(at)
                && (rule.share >= 1.0 || unit_roll(self.seed, n, index as u64) < rule.share);
            applies.then_some(rule.fault)
        })
    }
}

/// A uniform roll in [0, 1) from the seed, the request number and the rule.
fn unit_roll(seed: u64, n: u64, rule: u64) -> f64 {
    let x = splitmix(seed ^ splitmix(n ^ splitmix(rule)));
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What a provider has seen since it started or was last restarted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Every request received, on every endpoint.
    pub(crate) received: u64,
    /// Chat completion requests received.
    pub(crate) chat: u64,
    /// Chat completions answered with 200 (streams included).
    pub(crate) ok: u64,
    /// Of those, answered as a stream.
    pub(crate) streamed: u64,
    /// Of those, answered after a latency spike.
    pub(crate) slow: u64,
    /// Error responses by status.
    pub(crate) errors: BTreeMap<u16, u64>,
    /// Connections closed without a response (outage).
    pub(crate) dropped: u64,
    /// Requests that arrived while an outage window held, whatever
    /// happened to them.
    pub(crate) received_while_down: u64,
}

impl Stats {
    /// Error responses of every status.
    pub(crate) fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[derive(Debug)]
struct Shared {
    config: ProviderConfig,
    epoch: Mutex<Instant>,
    arrivals: AtomicU64,
    stats: Mutex<Stats>,
    /// Set while the schedule is held off: no faults, never down.
    held: AtomicBool,
}

impl Shared {
    fn record(&self, update: impl FnOnce(&mut Stats)) {
        update(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn elapsed(&self) -> Duration {
        self.epoch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }
}

/// A running fake provider on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub(crate) struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeProvider {
    /// Binds 127.0.0.1:0 and starts serving; its clock starts now.
    pub(crate) async fn start(config: ProviderConfig) -> std::io::Result<FakeProvider> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            epoch: Mutex::new(Instant::now()),
            arrivals: AtomicU64::new(0),
            stats: Mutex::new(Stats::default()),
            held: AtomicBool::new(false),
        });
        let server = tokio::spawn(accept(listener, shared.clone()));
        Ok(FakeProvider {
            addr,
            shared,
            server,
        })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The provider's name.
    pub(crate) fn name(&self) -> &str {
        self.shared.config.name()
    }

    /// Its configuration.
    pub(crate) fn config(&self) -> &ProviderConfig {
        &self.shared.config
    }

    /// A snapshot of what it has seen.
    pub(crate) fn stats(&self) -> Stats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Restarts the schedule's clock and the request numbering, and zeroes
    /// the stats: the next run faces the same schedule.
    pub(crate) fn restart(&self) {
        *self.shared.epoch.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.shared.arrivals.store(0, Ordering::Relaxed);
        self.shared.record(|stats| *stats = Stats::default());
    }

    /// Holds the fault schedule off (`true`: every request is answered,
    /// nothing counts as down) or lets it apply again (`false`). For
    /// checks before a run; the clock keeps going.
    pub(crate) fn hold_faults(&self, hold: bool) {
        self.shared.held.store(hold, Ordering::Relaxed);
    }

    /// Stops serving (dropping does the same).
    pub(crate) fn shutdown(&self) {
        self.server.abort();
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    // Connections live in the set, so aborting this task closes them all.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(shared.clone(), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type ResponseBody = BoxBody<Bytes, Infallible>;

/// The error hyper gets to close a connection without a response.
#[derive(Debug)]
struct Outage;

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated outage: connection closed")
    }
}

impl std::error::Error for Outage {}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Outage> {
    let at = shared.elapsed();
    let n = shared.arrivals.fetch_add(1, Ordering::Relaxed);
    let config = &shared.config;
    let held = shared.held.load(Ordering::Relaxed);
    let down = !held && config.is_down_at(at);
    shared.record(|stats| {
        stats.received += 1;
        stats.received_while_down += u64::from(down);
    });
    let chat = request.method() == Method::POST && request.uri().path() == "/v1/chat/completions";
    let fault = if held {
        None
    } else if chat {
        config.fault_for(n, at)
    } else if down {
        Some(Fault::Outage)
    } else {
        None
    };
    if chat {
        shared.record(|stats| stats.chat += 1);
    }
    if fault == Some(Fault::Outage) {
        // Read the request first, as a proxy in front of a dead backend does.
        let _ = Limited::new(request.into_body(), MAX_REQUEST_BODY)
            .collect()
            .await;
        shared.record(|stats| stats.dropped += 1);
        return Err(Outage);
    }
    let mut response = match (request.method(), request.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => chat_completion(&shared, request, fault).await,
        (&Method::GET, "/v1/models") => json_response(StatusCode::OK, models(config)),
        _ => error_response(
            config.flavour,
            StatusCode::NOT_FOUND,
            "not_found_error",
            "unknown_url",
            "Unknown request URL.",
        ),
    };

    if let Ok(name) = HeaderValue::from_str(&config.name) {
        response.headers_mut().insert("x-fake-provider", name);
    }
    let status = response.status();
    if status.is_success() {
        if chat {
            shared.record(|stats| stats.ok += 1);
        }
    } else {
        shared.record(|stats| *stats.errors.entry(status.as_u16()).or_default() += 1);
    }
    Ok(response)
}

async fn chat_completion(
    shared: &Shared,
    request: Request<Incoming>,
    fault: Option<Fault>,
) -> Response<ResponseBody> {
    let config = &shared.config;
    let body = match Limited::new(request.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return error_response(
                config.flavour,
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
                "Request body too large.",
            );
        }
    };
    if let Some(fault) = fault {
        if let Some(response) = fault_response(config, fault) {
            return response;
        }
    }
    let Some(request) = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|request| request["model"].is_string())
    else {
        return error_response(
            config.flavour,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            "The request body must be JSON with a string `model`.",
        );
    };
    let mut delay = config.latency;
    if let Some(Fault::Slow(extra)) = fault {
        delay += extra;
        shared.record(|stats| stats.slow += 1);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let model = request["model"].as_str().unwrap_or_default();
    let content = format!("hello from {} ({model})", config.name);
    let prompt_tokens = prompt_tokens(&request);
    if request["stream"] == Value::Bool(true) {
        shared.record(|stats| stats.streamed += 1);
        let include_usage = request["stream_options"]["include_usage"] == Value::Bool(true);
        return stream_response(
            model,
            &content,
            prompt_tokens,
            include_usage,
            config.chunk_interval,
        );
    }
    let completion_tokens = content.split(' ').count() as u64;
    json_response(
        StatusCode::OK,
        json!({
            "id": completion_id(),
            "object": "chat.completion",
            "created": unix_now(),
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": null},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": null,
        }),
    )
}

/// The response a fault gives, or `None` if it answers (late) after all.
fn fault_response(config: &ProviderConfig, fault: Fault) -> Option<Response<ResponseBody>> {
    let flavour = config.flavour;
    let response = match fault {
        Fault::RateLimited { retry_after } => {
            let mut response = match flavour {
                Flavour::OpenAi => error_response(
                    flavour,
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    "rate_limit_exceeded",
                    &format!(
                        "Rate limit reached for requests on {}. Please try again in {}ms.",
                        config.name,
                        retry_after.as_millis()
                    ),
                ),
                Flavour::Anthropic => error_response(
                    flavour,
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    "",
                    "This request would exceed your organization's rate limit. Please try again later.",
                ),
            };
            let headers = response.headers_mut();
            let seconds = retry_after.as_millis().div_ceil(1000).max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
            match flavour {
                Flavour::OpenAi => {
                    let millis = retry_after.as_millis() as u64;
                    headers.insert("retry-after-ms", HeaderValue::from(millis));
                    headers.insert("x-ratelimit-limit-requests", HeaderValue::from(500u32));
                    headers.insert("x-ratelimit-remaining-requests", HeaderValue::from(0u32));
                    headers.insert("x-ratelimit-reset-requests", go_duration(retry_after));
                    headers.insert("x-ratelimit-limit-tokens", HeaderValue::from(30_000u32));
                    headers.insert("x-ratelimit-remaining-tokens", HeaderValue::from(29_000u32));
                    headers.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("2ms"));
                }
                Flavour::Anthropic => {
                    headers.insert(
                        "anthropic-ratelimit-requests-limit",
                        HeaderValue::from(50u32),
                    );
                    headers.insert(
                        "anthropic-ratelimit-requests-remaining",
                        HeaderValue::from(0u32),
                    );
                }
            }
            response
        }
        Fault::QuotaExhausted => match flavour {
            Flavour::OpenAi => error_response(
                flavour,
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                "insufficient_quota",
                "You exceeded your current quota, please check your plan and billing details.",
            ),
            Flavour::Anthropic => error_response(
                flavour,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            ),
        },
        Fault::ServerError => error_response(
            flavour,
            StatusCode::SERVICE_UNAVAILABLE,
            match flavour {
                Flavour::OpenAi => "server_error",
                Flavour::Anthropic => "api_error",
            },
            "",
            "The server is overloaded or not ready yet.",
        ),
        Fault::InternalError => error_response(
            flavour,
            StatusCode::INTERNAL_SERVER_ERROR,
            match flavour {
                Flavour::OpenAi => "server_error",
                Flavour::Anthropic => "api_error",
            },
            "",
            "The server had an error while processing your request. Sorry about that!",
        ),
        Fault::Overloaded => error_response(
            Flavour::Anthropic,
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error",
            "",
            "Overloaded",
        ),
        Fault::Slow(_) | Fault::Outage => return None,
    };
    Some(response)
}

/// A duration as OpenAI writes its resets: `6m0s`, `1s`, `120ms`.
fn go_duration(duration: Duration) -> HeaderValue {
    let millis = duration.as_millis();
    let text = if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        format!("{}s", duration.as_secs_f64())
    } else {
        format!("{}m{}s", millis / 60_000, (millis % 60_000) as f64 / 1000.0)
    };
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("1s"))
}

fn error_response(
    flavour: Flavour,
    status: StatusCode,
    kind: &str,
    code: &str,
    message: &str,
) -> Response<ResponseBody> {
    let body = match flavour {
        Flavour::OpenAi => json!({
            "error": {
                "message": message,
                "type": kind,
                "param": null,
                "code": if code.is_empty() { Value::Null } else { Value::from(code) },
            }
        }),
        Flavour::Anthropic => json!({
            "type": "error",
            "error": {"type": kind, "message": message},
        }),
    };
    json_response(status, body)
}

fn json_response(status: StatusCode, body: Value) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn models(config: &ProviderConfig) -> Value {
    let created = unix_now();
    let data: Vec<Value> = config
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": config.name}))
        .collect();
    json!({"object": "list", "data": data})
}

fn stream_response(
    model: &str,
    content: &str,
    prompt_tokens: u64,
    include_usage: bool,
    interval: Duration,
) -> Response<ResponseBody> {
    let (id, created) = (completion_id(), unix_now());
    let chunk = |delta: Value, finish: Value| {
        let event = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        format!("data: {event}\n\n")
    };
    let words: Vec<&str> = content.split(' ').collect();
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for (i, word) in words.iter().enumerate() {
        let piece = if i == 0 {
            (*word).to_owned()
        } else {
            format!(" {word}")
        };
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    events.push(chunk(json!({}), Value::from("stop")));
    if include_usage {
        let completion_tokens = words.len() as u64;
        let usage = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": null,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        });
        events.push(format!("data: {usage}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_owned());

    let (sender, receiver) = mpsc::channel(events.len());
    tokio::spawn(async move {
        for event in events {
            if sender.send(Bytes::from(event)).await.is_err() {
                return;
            }
            if !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
        }
    });
    let mut response = Response::new(ChannelBody(receiver).boxed());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A body fed by a channel: a stream's events as they are sent.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|data| data.map(|data| Ok(Frame::data(data))))
    }
}

/// A rough token count: words in the messages' string contents.
fn prompt_tokens(request: &Value) -> u64 {
    let words = request["messages"].as_array().map_or(0, |messages| {
        messages
            .iter()
            .filter_map(|message| message["content"].as_str())
            .map(|content| content.split_whitespace().count())
            .sum::<usize>()
    });
    words.max(1) as u64
}

fn completion_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut id = String::from("chatcmpl-fake");
    let _ = write!(id, "{:012x}", NEXT.fetch_add(1, Ordering::Relaxed));
    id
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
