//! The gateway's configuration: `examples/gateway.toml`'s shape, parsed with
//! `toml` and `serde_path_to_error` so that every error names the full key
//! (`providers.openai.retry.max_attempts: …`), then cross-checked (a model
//! served twice, a fallback to a model nobody serves, a missing environment
//! variable, a zero or too long timeout, a routing for a model nobody serves
//! or with a weight per tier miscounted) with errors that name the key too.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use tower_failover::circuit_breaker::BreakerConfig;
use tower_failover::fallback::{FallbackGraph, Route, Routing};
use tower_failover::rate_limit::RateLimitConfig;
use tower_failover::retry::RetryPolicy;

/// Where the gateway listens unless the config or `--listen` says otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The whole call's budget unless the config says otherwise: long enough for
/// a slow non-streaming completion, retries and a fallback.
pub(crate) const DEFAULT_BUDGET: Duration = Duration::from_secs(120);
/// How long a committed stream may stay silent unless the config says
/// otherwise.
pub(crate) const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Each attempt's timeout unless the provider says otherwise: a hung or
/// blackholed upstream gives up its attempt after it, leaving the rest of the
/// budget to a retry or a fallback (the budget clips it).
pub(crate) const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a TCP (and TLS) connection to a provider may take to open unless
/// the provider says otherwise.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body accepted unless the config says otherwise:
/// base64 images make chat requests large.
pub(crate) const DEFAULT_MAX_REQUEST_BODY: usize = 32 << 20;

/// A configuration error: the key it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    key: String,
    message: String,
    line: Option<usize>,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            line: None,
        }
    }
}

// Read by the tests (tests/gateway); main prints the whole error.
#[cfg_attr(not(test), allow(dead_code))]
impl ConfigError {
    /// The full key, dotted (`providers.openai.retry.max_attempts`); empty
    /// for errors about the whole file.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// The line of the file, when the parser knows it.
    pub(crate) fn line(&self) -> Option<usize> {
        self.line
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// One deadline for each request: retries, backoff and fallbacks fit
    /// inside it.
    pub(crate) budget: Duration,
    /// The largest request body accepted, in bytes.
    pub(crate) max_request_body: usize,
    /// The providers, in name order.
    pub(crate) providers: Vec<ProviderConfig>,
    /// Which model falls back to which; every served model is in it.
    pub(crate) graph: FallbackGraph,
    /// How a model's tiers are ordered, when not in the configured order
    /// (`routing.<model>`); shared by the clones of the config.
    pub(crate) routing: BTreeMap<String, Arc<Routing>>,
}

impl Config {
    /// Reads and checks the file at `path`, reading API keys with `env`.
    pub(crate) fn load(
        path: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::new("", format!("cannot read {path}: {error}")))?;
        Self::from_toml(&text, env)
    }

    /// Parses and checks a TOML document, reading API keys with `env`.
    pub(crate) fn from_toml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let raw = parse(text)?;
        check(raw, env)
    }
}

/// One provider, checked.
#[derive(Debug, Clone)]
pub(crate) struct ProviderConfig {
    /// Its name, the key under `[providers]`.
    pub(crate) name: String,
    /// Its base URL (`https://api.openai.com/v1`); request paths are
    /// appended to it.
    pub(crate) base_url: Uri,
    /// The header carrying the API key, and its value, if a key is set.
    pub(crate) api_key: Option<(HeaderName, HeaderValue)>,
    /// The models it serves.
    pub(crate) models: Vec<ModelRoute>,
    /// Each attempt's timeout (clipped by the budget).
    pub(crate) attempt_timeout: Duration,
    /// How long opening a connection may take.
    pub(crate) connect_timeout: Duration,
    /// How long a committed stream may stay silent.
    pub(crate) stream_idle_timeout: Duration,
    /// Its retry policy (the retry budget shared by its models).
    pub(crate) retry: RetryPolicy,
    /// Its caller-side rate limit, shared by its models and named after
    /// the provider, if any.
    pub(crate) rate_limit: Option<ProviderRateLimit>,
}

/// A provider's rate limit.
#[derive(Debug, Clone)]
pub(crate) struct ProviderRateLimit {
    /// Its settings, named after the provider.
    pub(crate) config: RateLimitConfig,
    /// Whether it has a token bucket (`tokens`), so that each request's
    /// tokens must be estimated.
    pub(crate) tokens: bool,
}

/// One model a provider serves.
#[derive(Debug, Clone)]
pub(crate) struct ModelRoute {
    /// The name clients ask for.
    pub(crate) exposed: String,
    /// The name the provider knows it by.
    pub(crate) upstream: String,
    /// Its circuit breaker's settings, named `<provider>/<exposed>`.
    pub(crate) breaker: BreakerConfig,
}

// The file's shape.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    listen: Option<String>,
    #[serde(default, deserialize_with = "tower_failover::de::option_duration")]
    budget: Option<Duration>,
    #[serde(default)]
    max_request_body: Option<usize>,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    fallbacks: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    routing: BTreeMap<String, Routing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    base_url: String,
    #[serde(default)]
    api_key_env: Option<String>,
    #[serde(default)]
    api_key_header: Option<String>,
    models: Models,
    #[serde(default, deserialize_with = "tower_failover::de::option_duration")]
    attempt_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "tower_failover::de::option_duration")]
    connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "tower_failover::de::option_duration")]
    stream_idle_timeout: Option<Duration>,
    #[serde(default)]
    retry: Option<RetryPolicy>,
    // Kept as a table: each model's breaker is deserialised from it with
    // its own name.
    #[serde(default)]
    breaker: Option<toml::Table>,
    // Kept as a table too: the limiter is named after the provider.
    #[serde(default)]
    rate_limit: Option<toml::Table>,
}

/// `models = ["gpt-4o"]` or `models = { "gpt-4o" = "gpt-4o-2024-08-06" }`:
/// (exposed, upstream) pairs in the order written.
struct Models(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Models {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModelsVisitor;

        impl<'de> Visitor<'de> for ModelsVisitor {
            type Value = Models;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of model names or a table of exposed name = upstream name")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Models, A::Error> {
                let mut models = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    models.push((name.clone(), name));
                }
                Ok(Models(models))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Models, A::Error> {
                let mut models = Vec::new();
                while let Some((exposed, upstream)) = map.next_entry::<String, String>()? {
                    models.push((exposed, upstream));
                }
                Ok(Models(models))
            }
        }

        deserializer.deserialize_any(ModelsVisitor)
    }
}

fn parse(text: &str) -> Result<RawConfig, ConfigError> {
    let line_of = |error: &toml::de::Error| {
        let start = error.span()?.start;
        Some(text.get(..start)?.matches('\n').count() + 1)
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|error| ConfigError {
        key: String::new(),
        message: error.message().to_owned(),
        line: line_of(&error),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = error.path().to_string();
        let inner = error.into_inner();
        ConfigError {
            key: if key == "." { String::new() } else { key },
            message: inner.message().to_owned(),
            line: line_of(&inner),
        }
    })
}

fn check(raw: RawConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = listen.parse::<SocketAddr>().map_err(|_| {
        ConfigError::new(
            "listen",
            format!("`{listen}` is not an address like \"127.0.0.1:8080\""),
        )
    })?;
    let budget = raw.budget.unwrap_or(DEFAULT_BUDGET);
    if budget.is_zero() {
        return Err(ConfigError::new("budget", "must not be zero"));
    }
    let max_request_body = raw.max_request_body.unwrap_or(DEFAULT_MAX_REQUEST_BODY);
    if max_request_body == 0 {
        return Err(ConfigError::new("max_request_body", "must not be zero"));
    }
    if raw.providers.is_empty() {
        return Err(ConfigError::new("providers", "no provider is configured"));
    }

    // Exposed model → the provider serving it, to find a model served twice.
    let mut served: HashMap<String, String> = HashMap::new();
    let mut providers = Vec::with_capacity(raw.providers.len());
    for (name, provider) in raw.providers {
        providers.push(check_provider(name, provider, budget, env, &mut served)?);
    }

    let graph = check_fallbacks(&raw.fallbacks, &providers)?;
    let routing = check_routing(raw.routing, &graph)?;
    Ok(Config {
        listen,
        budget,
        max_request_body,
        providers,
        graph,
        routing,
    })
}

/// One provider's table: its URL, key, timeouts and models (each added to
/// `served`, which must not have it yet).
fn check_provider(
    name: String,
    provider: RawProvider,
    budget: Duration,
    env: &dyn Fn(&str) -> Option<String>,
    served: &mut HashMap<String, String>,
) -> Result<ProviderConfig, ConfigError> {
    let key = |field: &str| format!("providers.{name}.{field}");
    let base_url =
        check_base_url(&provider.base_url).map_err(|m| ConfigError::new(key("base_url"), m))?;
    let api_key = api_key(&provider, env).map_err(|(field, m)| ConfigError::new(key(field), m))?;
    let timeout = |field: &str, value: Option<Duration>, default: Duration| match value {
        Some(value) if value.is_zero() => Err(ConfigError::new(
            key(field),
            "must not be zero (leave it out for the default)",
        )),
        value => Ok(value.unwrap_or(default)),
    };
    let attempt_timeout = timeout(
        "attempt_timeout",
        provider.attempt_timeout,
        DEFAULT_ATTEMPT_TIMEOUT,
    )?;
    // Written longer than the budget, it would never fire: the budget ends
    // the call first, and a hung attempt leaves no time for a retry or a
    // fallback. (The default is clipped by the budget instead.)
    if provider.attempt_timeout.is_some_and(|t| t > budget) {
        return Err(ConfigError::new(
            key("attempt_timeout"),
            format!(
                "is longer than `budget` ({budget:?}): it would never fire; make it shorter so that a retry or a fallback fits"
            ),
        ));
    }
    let connect_timeout = timeout(
        "connect_timeout",
        provider.connect_timeout,
        DEFAULT_CONNECT_TIMEOUT,
    )?;
    let stream_idle_timeout = timeout(
        "stream_idle_timeout",
        provider.stream_idle_timeout,
        DEFAULT_STREAM_IDLE_TIMEOUT,
    )?;
    let models = check_models(&name, provider.models, provider.breaker, served)?;
    if provider
        .rate_limit
        .as_ref()
        .is_some_and(|table| table.contains_key("name"))
    {
        return Err(ConfigError::new(
            key("rate_limit.name"),
            "the gateway names the rate limit after the provider; remove this field",
        ));
    }
    let rate_limit = provider
        .rate_limit
        .map(|table| {
            let config = named_config(&table, &name).map_err(|(path, message)| {
                ConfigError::new(key(&format!("rate_limit{path}")), message)
            })?;
            Ok(ProviderRateLimit {
                config,
                tokens: table.contains_key("tokens"),
            })
        })
        .transpose()?;
    Ok(ProviderConfig {
        base_url,
        api_key,
        models,
        attempt_timeout,
        connect_timeout,
        stream_idle_timeout,
        retry: provider.retry.unwrap_or_default(),
        rate_limit,
        name,
    })
}

/// A provider's models, each with its breaker (the provider's `breaker`
/// table, named `<provider>/<model>`), each added to `served`.
fn check_models(
    name: &str,
    models: Models,
    breaker: Option<toml::Table>,
    served: &mut HashMap<String, String>,
) -> Result<Vec<ModelRoute>, ConfigError> {
    let key = |field: &str| format!("providers.{name}.{field}");
    if models.0.is_empty() {
        return Err(ConfigError::new(
            key("models"),
            "a provider must serve at least one model",
        ));
    }
    let breaker = breaker.unwrap_or_default();
    if breaker.contains_key("name") {
        return Err(ConfigError::new(
            key("breaker.name"),
            "the gateway names each breaker `<provider>/<model>`; remove this field",
        ));
    }
    let mut routes = Vec::with_capacity(models.0.len());
    for (exposed, upstream) in models.0 {
        if exposed.is_empty() || upstream.is_empty() {
            return Err(ConfigError::new(key("models"), "a model name is empty"));
        }
        if let Some(other) = served.insert(exposed.clone(), name.to_owned()) {
            return Err(ConfigError::new(
                key(&format!("models.{exposed}")),
                format!(
                    "the model is also served by provider `{other}`; a model needs one provider"
                ),
            ));
        }
        let breaker = named_config(&breaker, &format!("{name}/{exposed}"))
            .map_err(|(path, message)| ConfigError::new(key(&format!("breaker{path}")), message))?;
        routes.push(ModelRoute {
            exposed,
            upstream,
            breaker,
        });
    }
    Ok(routes)
}

/// The provider's key header and value, read from the environment; on
/// error, the field it is about and what is wrong.
fn api_key(
    provider: &RawProvider,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(HeaderName, HeaderValue)>, (&'static str, String)> {
    let header = match provider.api_key_header.as_deref() {
        None => http::header::AUTHORIZATION,
        Some(header) => HeaderName::try_from(header)
            .map_err(|_| ("api_key_header", format!("`{header}` is not a header name")))?,
    };
    let Some(var) = provider.api_key_env.as_deref() else {
        if provider.api_key_header.is_some() {
            return Err((
                "api_key_header",
                "is set but `api_key_env` is not: no key would be sent; set both or neither"
                    .to_owned(),
            ));
        }
        return Ok(None);
    };
    let Some(secret) = env(var).filter(|value| !value.is_empty()) else {
        return Err((
            "api_key_env",
            format!("the environment variable {var} is not set"),
        ));
    };
    let value = if header == http::header::AUTHORIZATION {
        format!("Bearer {secret}")
    } else {
        secret
    };
    let mut value = HeaderValue::try_from(value).map_err(|_| {
        (
            "api_key_env",
            format!("the value of {var} cannot be sent in a header"),
        )
    })?;
    value.set_sensitive(true);
    Ok(Some((header, value)))
}

fn check_base_url(url: &str) -> Result<Uri, String> {
    let uri = url
        .parse::<Uri>()
        .map_err(|_| format!("`{url}` is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("`{url}` must start with http:// or https://")),
    }
    if uri.authority().is_none() {
        return Err(format!("`{url}` has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("`{url}` must not have a query"));
    }
    Ok(uri)
}

/// A named config (one model's breaker, a provider's rate limit): the
/// table with the name added; on error, the path inside the table
/// (`.minimum_calls`) and the message.
fn named_config<T: serde::de::DeserializeOwned>(
    table: &toml::Table,
    name: &str,
) -> Result<T, (String, String)> {
    let mut table = table.clone();
    table.insert("name".to_owned(), toml::Value::String(name.to_owned()));
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." {
            String::new()
        } else {
            format!(".{path}")
        };
        (path, error.into_inner().message().to_owned())
    })
}

fn check_fallbacks(
    fallbacks: &BTreeMap<String, Vec<String>>,
    providers: &[ProviderConfig],
) -> Result<FallbackGraph, ConfigError> {
    let served = |model: &str| {
        providers
            .iter()
            .any(|p| p.models.iter().any(|r| r.exposed == model))
    };
    let mut graph = FallbackGraph::builder();
    for (model, list) in fallbacks {
        let key = format!("fallbacks.{model}");
        if !served(model) {
            return Err(ConfigError::new(key, "no provider serves this model"));
        }
        if let Some(unknown) = list.iter().find(|m| !served(m)) {
            return Err(ConfigError::new(
                key,
                format!("falls back to `{unknown}`, which no provider serves"),
            ));
        }
        graph = graph.route(model.clone(), list.iter().cloned());
    }
    for provider in providers {
        for route in &provider.models {
            if !fallbacks.contains_key(&route.exposed) {
                graph = graph.model(route.exposed.clone());
            }
        }
    }
    graph
        .build()
        .map_err(|error| ConfigError::new("fallbacks", error.to_string()))
}

/// Each `routing.<model>`: a model the graph knows, and for a weighted
/// routing one weight per tier (the model, then its fallbacks).
fn check_routing(
    routing: BTreeMap<String, Routing>,
    graph: &FallbackGraph,
) -> Result<BTreeMap<String, Arc<Routing>>, ConfigError> {
    let mut checked = BTreeMap::new();
    for (model, route) in routing {
        let key = format!("routing.{model}");
        let Some(chain) = graph.chain(&model) else {
            return Err(ConfigError::new(key, "no provider serves this model"));
        };
        let tiers = 1 + chain.len();
        if let Some(weights) = Route::<http::Request<bytes::Bytes>>::tiers(&route) {
            if weights != tiers {
                let has = match tiers {
                    1 => "1 tier (itself: it has no fallback)".to_owned(),
                    _ => format!("{tiers} tiers (itself, then its fallbacks)"),
                };
                return Err(ConfigError::new(
                    key,
                    format!(
                        "has {weights} weights, but the model has {has}: give one weight per tier"
                    ),
                ));
            }
        }
        checked.insert(model, Arc::new(route));
    }
    Ok(checked)
}
