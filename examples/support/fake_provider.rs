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
//! rule that applies decides the [`Fault`].
//!
//! What a roll depends on: the seed, and
//! - for a chat request carrying a logical request number in
//!   [`REQUEST_HEADER`] (`x-demo-request: N`), that number and how many
//!   times this provider has already seen it: every client's first attempt
//!   at request N meets the same roll, and each retry of it a roll of its
//!   own, whatever else the client sent;
//! - otherwise the request's arrival number at this provider, so a run is
//!   deterministic given the seed and the order requests arrive in.
//!
//! Streams the client stops reading before their end are counted in
//! [`Stats::abandoned`]: a stream's events are produced as the connection
//! asks for them, so a client that goes away is noticed.
//!
//! Self-contained on purpose (hyper, hyper-util, tokio, serde_json, bytes,
//! http): it is included with `#[path]` by several targets.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
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
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The largest request body the provider reads; larger ones get a 413.
const MAX_REQUEST_BODY: usize = 1 << 20;

/// The header carrying a chat request's logical number (`x-demo-request:
/// 17`): the fault rolls follow it rather than the arrival order.
pub(crate) const REQUEST_HEADER: &str = "x-demo-request";

/// How many logical request numbers a provider remembers attempts for;
/// past this it forgets them all (a bound on what a client can make it
/// hold).
const MAX_TRACKED_REQUESTS: usize = 1 << 20;

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
    /// A 200 whose body ends abruptly: a stream sends its first `n` events
    /// (the opening role chunk is the first), then the connection is cut
    /// without `data: [DONE]`, as a backend dying mid-answer does; the
    /// client's body read fails. A non-streaming answer is cut right after
    /// its headers (`n` does not apply).
    CutAfter(usize),
    /// A 200 whose body goes silent: a stream sends its first `n` events,
    /// then nothing more while the connection stays open, until the client
    /// gives up (counted in [`Stats::abandoned`]). A non-streaming answer
    /// stalls right after its headers.
    StallAfter(usize),
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
        self.fault_for_key(n, at)
    }

    /// The fault for attempt `attempt` (from 0, as this provider counts
    /// them) of the logical request `request`, arriving at `at`: the same
    /// for every client sending that request number.
    pub(crate) fn fault_for_request(
        &self,
        request: u64,
        attempt: u64,
        at: Duration,
    ) -> Option<Fault> {
        self.fault_for_key(request_key(request, attempt), at)
    }

    fn fault_for_key(&self, n: u64, at: Duration) -> Option<Fault> {
        self.rules.iter().enumerate().find_map(|(index, rule)| {
            let applies = rule.when.holds(at)
                && (rule.share >= 1.0 || unit_roll(self.seed, n, index as u64) < rule.share);
            applies.then_some(rule.fault)
        })
    }
}

/// The roll key of a logical request's attempt: apart from arrival numbers
/// in practice, and from one another.
fn request_key(request: u64, attempt: u64) -> u64 {
    splitmix(request ^ 0x00de_3000_0000_0000).wrapping_add(splitmix(attempt))
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
    /// Chat completions answered with 200 (streams included, cut and
    /// stalled ones too).
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
    /// 200 answers whose body was cut ([`Fault::CutAfter`]).
    pub(crate) cut: u64,
    /// 200 answers whose body stalled ([`Fault::StallAfter`]).
    pub(crate) stalled: u64,
    /// 200 answers whose body the client stopped reading before its end
    /// (it went away, or gave up on a stall).
    pub(crate) abandoned: u64,
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
    /// Attempts seen per logical request number.
    attempts: Mutex<HashMap<u64, u64>>,
    stats: Mutex<Stats>,
    /// Woken whenever the stats change.
    changed: Notify,
    /// Set while the schedule is held off: no faults, never down.
    held: AtomicBool,
}

impl Shared {
    fn record(&self, update: impl FnOnce(&mut Stats)) {
        update(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_waiters();
    }

    /// Counts an attempt at logical request `request`; how many came before.
    fn attempt(&self, request: u64) -> u64 {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if attempts.len() >= MAX_TRACKED_REQUESTS && !attempts.contains_key(&request) {
            attempts.clear();
        }
        let seen = attempts.entry(request).or_default();
        *seen += 1;
        *seen - 1
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
            attempts: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            changed: Notify::new(),
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

    /// Waits until the stats satisfy `done` and returns them: for what
    /// happens after a response was sent (a stream abandoned). Bound it
    /// with a timeout.
    pub(crate) async fn wait_for(&self, mut done: impl FnMut(&Stats) -> bool) -> Stats {
        loop {
            let changed = self.shared.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let stats = self.stats();
            if done(&stats) {
                return stats;
            }
            changed.await;
        }
    }

    /// Restarts the schedule's clock, the request numbering and the
    /// attempt counts, and zeroes the stats: the next run faces the same
    /// schedule.
    pub(crate) fn restart(&self) {
        *self.shared.epoch.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.shared.arrivals.store(0, Ordering::Relaxed);
        self.shared
            .attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
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

type ResponseBody = BoxBody<Bytes, StreamCut>;

/// The body error that makes hyper cut a connection mid-answer.
#[derive(Debug)]
struct StreamCut;

impl std::fmt::Display for StreamCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated failure: answer cut")
    }
}

impl std::error::Error for StreamCut {}

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
        match logical_number(&request) {
            Some(id) => config.fault_for_request(id, shared.attempt(id), at),
            None => config.fault_for(n, at),
        }
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

/// The logical request number in [`REQUEST_HEADER`], if well formed.
fn logical_number<B>(request: &Request<B>) -> Option<u64> {
    request
        .headers()
        .get(REQUEST_HEADER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn chat_completion(
    shared: &Arc<Shared>,
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
    let ending = match fault {
        Some(Fault::CutAfter(n)) => {
            shared.record(|stats| stats.cut += 1);
            Ending::CutAfter(n)
        }
        Some(Fault::StallAfter(n)) => {
            shared.record(|stats| stats.stalled += 1);
            Ending::StallAfter(n)
        }
        _ => Ending::Complete,
    };
    let model = request["model"].as_str().unwrap_or_default();
    let content = format!("hello from {} ({model})", config.name);
    let prompt_tokens = prompt_tokens(&request);
    if request["stream"] == Value::Bool(true) {
        shared.record(|stats| stats.streamed += 1);
        let include_usage = request["stream_options"]["include_usage"] == Value::Bool(true);
        let events = stream_events(model, &content, prompt_tokens, include_usage);
        let body = EventBody::new(shared.clone(), events, config.chunk_interval, ending);
        let mut response = Response::new(body.boxed());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return response;
    }
    if ending != Ending::Complete {
        // Cut or stalled right after the headers.
        let ending = match ending {
            Ending::CutAfter(_) => Ending::CutAfter(0),
            _ => Ending::StallAfter(0),
        };
        let body = EventBody::new(shared.clone(), Vec::new(), Duration::ZERO, ending);
        let mut response = Response::new(body.boxed());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response;
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
        Fault::Slow(_) | Fault::Outage | Fault::CutAfter(_) | Fault::StallAfter(_) => {
            return None;
        }
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
    let body = Full::new(Bytes::from(body.to_string())).map_err(|never| match never {});
    let mut response = Response::new(body.boxed());
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

/// A stream's `data:` events, `[DONE]` last.
fn stream_events(
    model: &str,
    content: &str,
    prompt_tokens: u64,
    include_usage: bool,
) -> Vec<Bytes> {
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
    events.into_iter().map(Bytes::from).collect()
}

/// How an answer's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// After its last event.
    Complete,
    /// Cut (a body error) after this many events.
    CutAfter(usize),
    /// Silent after this many events, until the client goes away.
    StallAfter(usize),
}

/// A body whose events are produced as the connection asks for them, one
/// pause apart: nothing is queued ahead of the client, and dropping it
/// before its end (the client went away) counts as abandoned.
struct EventBody {
    shared: Arc<Shared>,
    events: VecDeque<Bytes>,
    interval: Duration,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    ending: Ending,
    /// Events still to send before the ending applies.
    left: usize,
    /// The body reached its end (or its cut): dropping it is no abandon.
    finished: bool,
    /// A cut is due at the next poll (the one before let hyper flush).
    cut_armed: bool,
}

impl EventBody {
    fn new(shared: Arc<Shared>, events: Vec<Bytes>, interval: Duration, ending: Ending) -> Self {
        let left = match ending {
            Ending::Complete => events.len(),
            Ending::CutAfter(n) | Ending::StallAfter(n) => n.min(events.len()),
        };
        EventBody {
            shared,
            events: events.into(),
            interval,
            pause: None,
            ending,
            left,
            finished: false,
            cut_armed: false,
        }
    }
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = StreamCut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamCut>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(pause) = &mut this.pause {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pause = None;
        }
        if this.left > 0 {
            if let Some(event) = this.events.pop_front() {
                this.left -= 1;
                if !this.interval.is_zero() {
                    this.pause = Some(Box::pin(tokio::time::sleep(this.interval)));
                }
                return Poll::Ready(Some(Ok(Frame::data(event))));
            }
        }
        match this.ending {
            Ending::StallAfter(_) => Poll::Pending,
            Ending::CutAfter(_) if !this.cut_armed => {
                // Let the connection flush what came before (hyper flushes
                // when the body is pending), then cut.
                this.cut_armed = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Ending::CutAfter(_) => {
                this.finished = true;
                Poll::Ready(Some(Err(StreamCut)))
            }
            Ending::Complete => {
                this.finished = true;
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for EventBody {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.record(|stats| stats.abandoned += 1);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    type TestClient = Client<HttpConnector, String>;

    fn client() -> TestClient {
        Client::builder(TokioExecutor::new()).build_http()
    }

    fn chat(provider: &FakeProvider, number: Option<u64>, stream: bool) -> Request<String> {
        let mut request = Request::post(format!("{}/chat/completions", provider.base_url()))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(number) = number {
            request = request.header(REQUEST_HEADER, number);
        }
        let body = json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
        request.body(body.to_string()).expect("a valid request")
    }

    async fn status(client: &TestClient, request: Request<String>) -> u16 {
        let response = client.request(request).await.expect("an answer");
        let status = response.status().as_u16();
        response.into_body().collect().await.expect("a whole body");
        status
    }

    #[tokio::test]
    async fn a_logical_request_meets_the_same_fault_whatever_the_arrival_order() {
        let provider = FakeProvider::start(ProviderConfig::healthy("p").seed(3).fault(
            When::Always,
            0.5,
            Fault::ServerError,
        ))
        .await
        .unwrap();
        let client = client();
        let mut first = Vec::new();
        for n in 0..32 {
            first.push(status(&client, chat(&provider, Some(n), false)).await);
        }
        assert!(first.contains(&200) && first.contains(&503), "{first:?}");

        // Another client: other requests in between, the numbers in reverse.
        provider.restart();
        let mut again = vec![0; 32];
        for n in (0..32).rev() {
            status(&client, chat(&provider, None, false)).await;
            again[n as usize] = status(&client, chat(&provider, Some(n), false)).await;
        }
        assert_eq!(again, first, "first attempts meet the same faults");

        // Retries draw rolls of their own.
        let mut retries = Vec::new();
        for n in 0..32 {
            retries.push(status(&client, chat(&provider, Some(n), false)).await);
        }
        assert_ne!(retries, first);
    }

    #[tokio::test]
    async fn cut_after_ends_the_stream_with_an_error_after_n_events() {
        let provider = FakeProvider::start(ProviderConfig::healthy("p").fault(
            When::Always,
            1.0,
            Fault::CutAfter(2),
        ))
        .await
        .unwrap();
        let response = client()
            .request(chat(&provider, None, true))
            .await
            .expect("headers");
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        let mut text = Vec::new();
        let error = loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    text.extend_from_slice(frame.data_ref().unwrap_or(&Bytes::new()))
                }
                Some(Err(error)) => break Some(error),
                None => break None,
            }
        };
        assert!(error.is_some(), "the body read fails");
        let text = String::from_utf8_lossy(&text);
        assert_eq!(text.matches("data: ").count(), 2, "{text}");
        assert!(!text.contains("[DONE]"));
        let stats = provider.stats();
        assert_eq!((stats.ok, stats.cut, stats.abandoned), (1, 1, 0));
    }

    #[tokio::test]
    async fn a_stalled_stream_the_client_leaves_counts_as_abandoned() {
        let provider = FakeProvider::start(ProviderConfig::healthy("p").fault(
            When::Always,
            1.0,
            Fault::StallAfter(3),
        ))
        .await
        .unwrap();
        let response = client()
            .request(chat(&provider, None, true))
            .await
            .expect("headers");
        let mut body = response.into_body();
        let mut text = String::new();
        while text.matches("data: ").count() < 3 {
            let frame = body.frame().await.expect("more events").expect("no error");
            text.push_str(&String::from_utf8_lossy(frame.data_ref().expect("data")));
        }
        assert_eq!(text.matches("data: ").count(), 3);
        let stats = provider.stats();
        assert_eq!((stats.stalled, stats.abandoned), (1, 0));
        drop(body);
        let stats = tokio::time::timeout(
            Duration::from_secs(10),
            provider.wait_for(|stats| stats.abandoned > 0),
        )
        .await
        .expect("the provider notices the client left");
        assert_eq!(stats.abandoned, 1);
    }

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            config: ProviderConfig::healthy("p"),
            epoch: Mutex::new(Instant::now()),
            arrivals: AtomicU64::new(0),
            attempts: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            changed: Notify::new(),
            held: AtomicBool::new(false),
        })
    }

    fn events(n: usize) -> Vec<Bytes> {
        (0..n)
            .map(|i| Bytes::from(format!("data: {i}\n\n")))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn events_are_produced_on_demand_and_a_stall_stays_silent() {
        let shared = shared();
        let mut body = EventBody::new(
            shared.clone(),
            events(5),
            Duration::from_millis(10),
            Ending::StallAfter(2),
        );
        for i in 0..2 {
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), format!("data: {i}\n\n"));
        }
        let next = tokio::time::timeout(Duration::from_secs(60), body.frame()).await;
        assert!(next.is_err(), "nothing after the stall");
        assert_eq!(shared.stats.lock().unwrap().abandoned, 0);
        drop(body);
        assert_eq!(shared.stats.lock().unwrap().abandoned, 1);

        // Read to the end: not abandoned.
        let body = EventBody::new(shared.clone(), events(5), Duration::ZERO, Ending::Complete);
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(all.len(), events(5).iter().map(Bytes::len).sum::<usize>());
        assert_eq!(shared.stats.lock().unwrap().abandoned, 1);

        // A complete stream left half-way is abandoned too.
        let mut body = EventBody::new(shared.clone(), events(5), Duration::ZERO, Ending::Complete);
        body.frame().await.unwrap().unwrap();
        drop(body);
        assert_eq!(shared.stats.lock().unwrap().abandoned, 2);
    }

    #[test]
    fn a_malformed_request_number_falls_back_to_the_arrival_order() {
        for value in ["", "x", "-1", "18446744073709551616", " 7 "] {
            let request = Request::post("/")
                .header(REQUEST_HEADER, value)
                .body(())
                .unwrap();
            let expected = (value == " 7 ").then_some(7);
            assert_eq!(logical_number(&request), expected, "{value:?}");
        }
        let bytes = Request::post("/")
            .header(REQUEST_HEADER, HeaderValue::from_bytes(b"\xff").unwrap())
            .body(())
            .unwrap();
        assert_eq!(logical_number(&bytes), None);
    }
}
