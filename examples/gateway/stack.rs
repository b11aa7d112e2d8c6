//! The stacks, built once at startup: per provider one pooled hyper-util
//! client, per served model one tier stack around it, and per exposed model
//! the whole call: its model first, then its fallbacks from the config's
//! `FallbackGraph`.
//!
//! ```text
//! IdempotencyLayer                one Idempotency-Key per logical request
//!   TimeoutBudgetLayer            config `budget`
//!     FallbackLayer               the model, then its chain; rewrite_model per tier
//!       per tier (the provider serving that model):
//!       RetryLayer                config `providers.<p>.retry` (budget shared by the provider's models)
//!        RateLimitLayer           config `providers.<p>.rate_limit`, if set: one bucket shared by the
//!                                 provider's models, adapting to its headers; cost: prompt bytes / 4 + max_tokens
//!         CircuitBreakerLayer     config `providers.<p>.breaker`, named `<p>/<model>`
//!           AttemptTimeoutLayer   config `providers.<p>.attempt_timeout` (default 60 s)
//!             SseGuardLayer       a stream that fails before its first event falls back
//!               ErrorBodyLayer    the provider's error JSON refines the classification
//!                 AttemptCountLayer
//!                   client        base URL + path, the provider's API key;
//!                                 connect timeout `providers.<p>.connect_timeout` (default 10 s)
//! ```
//!
//! This is the order of the `llm` module's `# Order` section: the two
//! reading layers sit under the attempt timeout, so that waiting for a first
//! event or an error body counts against the attempt. The rate limit sits
//! where the `rate_limit` module's `# Order` puts it: below retry (each
//! attempt takes its turn, a refusal's wait is the retry's hint) and above
//! the breaker (a refusal is the gateway's own limit, not the provider's
//! failure). The routing of a model's tiers (config `routing.<model>`) is
//! its `FallbackLayer`'s.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_failover::circuit_breaker::{BreakerHandle, CircuitBreakerLayer};
use tower_failover::deadline::AttemptTimeoutLayer;
use tower_failover::fallback::{FallbackBuilder, Routing, Tier};
use tower_failover::llm::idempotency::{AttemptCountLayer, IdempotencyLayer};
use tower_failover::llm::model::rewrite_model;
use tower_failover::llm::sse::SseGuardLayer;
use tower_failover::rate_limit::RateLimitLayer;
use tower_failover::{BoxError, InvalidConfig, ServiceBuilderExt as _};

use crate::config::{Config, ProviderConfig};

/// A model's whole call, or one tier: JSON in, the upstream's answer out.
pub(crate) type ModelService = BoxCloneSyncService<Request<Bytes>, Response<Body>, BoxError>;

/// The connector every provider's client uses: http, or https with rustls
/// and the Mozilla roots.
pub(crate) type Connector = HttpsConnector<HttpConnector>;

/// Every exposed model's service, and the breakers to report on.
#[derive(Clone)]
pub(crate) struct Gateway {
    models: Arc<HashMap<String, ModelService>>,
    /// (exposed model, provider): providers in name order, each one's
    /// models in the order written.
    listed: Arc<[(String, String)]>,
    breakers: Arc<[Breaker]>,
}

/// One tier's breaker.
#[derive(Clone, Debug)]
pub(crate) struct Breaker {
    /// The provider.
    pub(crate) provider: String,
    /// The exposed model.
    pub(crate) model: String,
    /// Its state.
    pub(crate) handle: BreakerHandle,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("models", &self.listed)
            .field("breakers", &self.breakers)
            .finish()
    }
}

/// One served model's tier stack, and the name its provider knows it by.
struct TierStack<'a> {
    service: ModelService,
    upstream: &'a str,
}

impl Gateway {
    /// Builds every stack from `config`.
    pub(crate) fn new(config: &Config) -> Result<Self, InvalidConfig> {
        let mut tiers: HashMap<&str, TierStack<'_>> = HashMap::new();
        let mut breakers = Vec::new();
        let mut listed = Vec::new();
        for provider in &config.providers {
            // A blackholed host fails its connection after the connect
            // timeout, not after the whole attempt.
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_connect_timeout(Some(provider.connect_timeout));
            let connector = HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            let client = Client::builder(TokioExecutor::new()).build(connector);
            let sse = SseGuardLayer::builder()
                .idle_timeout(provider.stream_idle_timeout)
                .build()?;
            // One limiter per provider (its API key's limits), shared by
            // every model it serves.
            let rate_limit = provider.rate_limit.clone().map(|limit| {
                // Without a token bucket, no cost to estimate.
                let tokens = limit.tokens;
                let cost = move |request: &Request<Bytes>| {
                    if tokens { estimated_tokens(request) } else { 0 }
                };
                ServiceBuilder::new()
                    .map_err(Into::<BoxError>::into)
                    .layer(RateLimitLayer::new(limit.config).cost(cost))
                    .into_inner()
            });
            for route in &provider.models {
                let breaker = CircuitBreakerLayer::new(route.breaker.clone());
                breakers.push(Breaker {
                    provider: provider.name.clone(),
                    model: route.exposed.clone(),
                    handle: breaker.handle(),
                });
                let stack = ServiceBuilder::new()
                    .map_err(Into::<BoxError>::into)
                    .map_response(|response: Response<_>| response.map(Body::new))
                    .retry_policy(provider.retry.clone())
                    // Either way, the same error type: a `BoxError`.
                    .option_layer(rate_limit.clone())
                    .map_err(Into::<BoxError>::into)
                    .layer(breaker)
                    .layer(AttemptTimeoutLayer::new(provider.attempt_timeout))
                    .layer(sse)
                    .error_body()
                    .layer(AttemptCountLayer::new())
                    .service(upstream(client.clone(), provider));
                let tier = TierStack {
                    service: BoxCloneSyncService::new(stack),
                    upstream: &route.upstream,
                };
                tiers.insert(&route.exposed, tier);
                listed.push((route.exposed.clone(), provider.name.clone()));
            }
        }

        let mut models = HashMap::new();
        for (model, tier) in &tiers {
            let mut fallback = FallbackBuilder::from_graph(&config.graph, model, |name| {
                let backup = &tiers[name];
                Tier::new(name.to_owned(), backup.service.clone())
                    .rewrite(rewrite_model(backup.upstream))
            })?;
            // The static order needs no route (and keeps the fast path).
            if let Some(routing) = config.routing.get(*model) {
                if !matches!(**routing, Routing::Static) {
                    fallback = fallback.route(routing.clone());
                }
            }
            let fallback = fallback.build()?;
            // The primary gets its upstream name too, when it differs.
            let rename = (tier.upstream != *model).then(|| rewrite_model::<Bytes>(tier.upstream));
            let primary = tier.service.clone().map_request(move |mut request| {
                if let Some(rename) = &rename {
                    rename(&mut request);
                }
                request
            });
            let service = ServiceBuilder::new()
                .layer(IdempotencyLayer::new())
                .timeout_budget(config.budget)
                .fallback(fallback)
                .service(primary);
            models.insert((*model).to_owned(), BoxCloneSyncService::new(service));
        }
        Ok(Self {
            models: Arc::new(models),
            listed: listed.into(),
            breakers: breakers.into(),
        })
    }

    /// The service of an exposed model (a cheap clone).
    pub(crate) fn model(&self, model: &str) -> Option<ModelService> {
        self.models.get(model).cloned()
    }

    /// (exposed model, provider): providers in name order (the config's
    /// `[providers.*]` tables sorted), each one's models in the order
    /// written.
    pub(crate) fn models(&self) -> &[(String, String)] {
        &self.listed
    }

    /// The provider serving an exposed model.
    pub(crate) fn provider_of(&self, model: &str) -> Option<&str> {
        let (_, provider) = self.listed.iter().find(|(m, _)| m == model)?;
        Some(provider)
    }

    /// Every tier's breaker.
    pub(crate) fn breakers(&self) -> &[Breaker] {
        &self.breakers
    }
}

/// A chat request's cost in the rate limit's token bucket: an estimate of
/// the tokens it uses, its body's bytes / 4 (about four bytes a token for
/// English JSON) plus the completion it may ask for (`max_completion_tokens`,
/// else `max_tokens`; nothing if neither is set).
pub(crate) fn estimated_tokens(request: &Request<Bytes>) -> u32 {
    #[derive(serde::Deserialize)]
    struct Limits {
        max_tokens: Option<u32>,
        max_completion_tokens: Option<u32>,
    }

    let body = request.body();
    let prompt = u32::try_from(body.len() / 4).unwrap_or(u32::MAX);
    // The body was checked to be JSON with a model before it got here; a
    // field of the wrong type counts as absent.
    let completion = serde_json::from_slice::<Limits>(body)
        .ok()
        .and_then(|limits| limits.max_completion_tokens.or(limits.max_tokens))
        .unwrap_or(0);
    prompt.saturating_add(completion)
}

/// A provider's client: the request's path appended to the base URL, the
/// provider's API key set, the body in a `Full`.
fn upstream(
    client: Client<Connector, Full<Bytes>>,
    provider: &ProviderConfig,
) -> impl tower::Service<
    Request<Bytes>,
    Response = Response<hyper::body::Incoming>,
    Error = BoxError,
    Future: Send,
> + Clone
+ Send
+ Sync
+ 'static {
    let base = provider.base_url.clone();
    let key: Option<(HeaderName, HeaderValue)> = provider.api_key.clone();
    tower::service_fn(move |request: Request<Bytes>| {
        let (mut parts, body) = request.into_parts();
        let sent = join(&base, &parts.uri).map(|uri| {
            parts.uri = uri;
            // The caller's credentials never go upstream; the provider's do.
            parts.headers.remove(http::header::AUTHORIZATION);
            if let Some((name, value)) = &key {
                parts.headers.insert(name.clone(), value.clone());
            }
            client.request(Request::from_parts(parts, Full::new(body)))
        });
        async move { Ok(sent?.await?) }
    })
}

/// `base` (`https://host/v1`) with `path`'s path and query appended, or an
/// error if the two do not make a URL (never a request to `base` alone).
pub(crate) fn join(base: &Uri, path: &Uri) -> Result<Uri, InvalidUpstreamUrl> {
    let prefix = base.path().trim_end_matches('/');
    let rest = path.path_and_query().map_or("/", |p| p.as_str());
    let mut parts = base.clone().into_parts();
    let joined = format!("{prefix}{rest}")
        .parse()
        .map_err(|_| InvalidUpstreamUrl(()))?;
    parts.path_and_query = Some(joined);
    Uri::from_parts(parts).map_err(|_| InvalidUpstreamUrl(()))
}

/// The URL of an upstream request could not be built: its base URL and
/// path together are not a URL (too long, in practice).
#[derive(Debug)]
pub(crate) struct InvalidUpstreamUrl(());

impl fmt::Display for InvalidUpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the provider's base URL and the request path do not make a URL")
    }
}

impl std::error::Error for InvalidUpstreamUrl {}
