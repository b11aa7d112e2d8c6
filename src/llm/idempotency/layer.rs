use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use tower_layer::Layer;

use super::{AttemptCount, Idempotency, IdempotencyKey};

/// The header [`IdempotencyLayer`] stamps by default: `idempotency-key`.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The header [`AttemptCountLayer`] stamps by default: `x-attempt-count`.
pub const ATTEMPT_COUNT: HeaderName = HeaderName::from_static("x-attempt-count");

type KeyFn = Arc<dyn Fn() -> HeaderValue + Send + Sync>;

#[derive(Clone)]
pub(super) enum Keys {
    Random { prefix: Option<HeaderValue> },
    Custom(KeyFn),
}

impl Keys {
    pub(super) fn make(&self) -> IdempotencyKey {
        match self {
            Keys::Random { prefix } => IdempotencyKey::random_with_prefix(prefix.as_ref()),
            Keys::Custom(make) => IdempotencyKey::from_header(make()),
        }
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keys::Random { prefix } => f.debug_struct("Random").field("prefix", prefix).finish(),
            Keys::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Gives each logical request one idempotency key, and a call counter its
/// copies share; the outermost layer. See the [module docs](super).
///
/// ```
/// use http::{HeaderName, HeaderValue};
/// use tower_failover::llm::idempotency::IdempotencyLayer;
///
/// let layer = IdempotencyLayer::new()
///     .header(HeaderName::from_static("x-request-key"))
///     .prefix(HeaderValue::from_static("gateway-"));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct IdempotencyLayer {
    pub(super) header: HeaderName,
    pub(super) keys: Keys,
}

impl IdempotencyLayer {
    /// Stamps [`IDEMPOTENCY_KEY`] with [random](IdempotencyKey::random)
    /// keys.
    pub fn new() -> Self {
        Self {
            header: IDEMPOTENCY_KEY,
            keys: Keys::Random { prefix: None },
        }
    }

    /// Stamps `header` instead of `idempotency-key`.
    #[must_use]
    pub fn header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Starts every random key with `prefix` (e.g. the service's name), and
    /// stops using a [`key_fn`](Self::key_fn).
    #[must_use]
    pub fn prefix(mut self, prefix: HeaderValue) -> Self {
        self.keys = Keys::Random {
            prefix: Some(prefix),
        };
        self
    }

    /// Makes each key with `make` instead of at random (e.g. from a
    /// cryptographic generator, or a request id the gateway already has).
    #[must_use]
    pub fn key_fn(mut self, make: impl Fn() -> HeaderValue + Send + Sync + 'static) -> Self {
        self.keys = Keys::Custom(Arc::new(make));
        self
    }
}

impl Default for IdempotencyLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = Idempotency<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Idempotency {
            inner,
            layer: self.clone(),
        }
    }
}

/// Stamps the number of each call of a logical request in a header; the
/// innermost layer, right above the client. See the [module docs](super).
///
/// ```
/// use http::HeaderName;
/// use tower_failover::llm::idempotency::AttemptCountLayer;
///
/// // The header the OpenAI and Anthropic SDKs send: retries so far, from 0.
/// let layer = AttemptCountLayer::new()
///     .header(HeaderName::from_static("x-stainless-retry-count"))
///     .from_zero();
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct AttemptCountLayer {
    pub(super) header: HeaderName,
    pub(super) from_zero: bool,
}

impl AttemptCountLayer {
    /// Stamps [`ATTEMPT_COUNT`], counting from 1.
    pub fn new() -> Self {
        Self {
            header: ATTEMPT_COUNT,
            from_zero: false,
        }
    }

    /// Stamps `header` instead of `x-attempt-count`.
    #[must_use]
    pub fn header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Counts from 0: stamps how many calls came before this one, like the
    /// SDKs' `x-stainless-retry-count`.
    #[must_use]
    pub fn from_zero(mut self) -> Self {
        self.from_zero = true;
        self
    }
}

impl Default for AttemptCountLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for AttemptCountLayer {
    type Service = AttemptCount<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AttemptCount {
            inner,
            layer: self.clone(),
        }
    }
}
