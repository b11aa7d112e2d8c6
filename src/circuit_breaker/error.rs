use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::BoxError;
use crate::classify::AsDynError;
use crate::name::Name;

/// The circuit breaker rejected the call without sending it: the upstream is
/// failing and the breaker is open (or half-open with every probe taken, or
/// forced open).
///
/// Carries the breaker's name and, when known, how long until the breaker
/// lets calls through again. Classified as
/// [`FailureKind::CircuitOpen`](crate::classify::FailureKind::CircuitOpen):
/// never retried on the same upstream, a fallback moves on at once.
///
/// Creating one never allocates: the name is a `&'static str` or a shared,
/// reference-counted string.
///
/// ```
/// use tower::{Service, ServiceExt, service_fn};
/// use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreakerLayer};
/// use tower_layer::Layer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let config = BreakerConfig::builder().name("openai").build().unwrap();
/// let layer = CircuitBreakerLayer::new(config);
/// layer.handle().force_open();
///
/// let service = layer.layer(service_fn(|_: ()| async {
///     Ok::<_, std::io::Error>(http::Response::new(()))
/// }));
/// let error = service.oneshot(()).await.unwrap_err();
/// let open = error.as_open().unwrap();
/// assert_eq!(open.name(), "openai");
/// assert_eq!(open.retry_after(), None); // forced open: no end known
/// assert!(open.to_string().starts_with("circuit open"));
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitOpen {
    name: Name,
    retry_after: Option<Duration>,
}

impl CircuitOpen {
    pub(super) fn new(name: Name, retry_after: Option<Duration>) -> Self {
        Self { name, retry_after }
    }

    /// The name of the breaker that rejected the call.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// How long until the breaker lets a call through again, if known.
    ///
    /// `Some` while the breaker is open with a known end; `None` while it is
    /// half-open with every probe taken (the probes decide) or forced open.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Debug for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitOpen")
            .field("name", &self.name.as_str())
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit open: {}", self.name.as_str())
    }
}

impl Error for CircuitOpen {}

/// The error of [`CircuitBreaker`](super::CircuitBreaker): the breaker
/// rejected the call, or the inner service failed.
///
/// An enum rather than a [`BoxError`] so that a rejection never allocates.
/// It deliberately does **not** implement [`std::error::Error`]: instead it
/// converts *into* [`BoxError`] by unwrapping itself, so that after
/// `.map_err(Into::into)` (or any tower layer that boxes errors) the box holds
/// the [`CircuitOpen`] or the inner error itself, and
/// `error.downcast_ref::<CircuitOpen>()` and the [classifier](crate::classify)
/// see exactly what they would see without the breaker. (Implementing `Error`
/// would forbid that conversion, and a boxed wrapper would hide both.)
///
/// For classification without boxing, it implements
/// [`AsDynError`] by delegating to the variant it holds, so
/// [`DefaultClassifier`](crate::classify::DefaultClassifier) in an outer
/// layer classifies it as [`CircuitOpen`](crate::classify::FailureKind::CircuitOpen)
/// or as the inner error.
///
/// ```
/// use tower_failover::BoxError;
/// use tower_failover::circuit_breaker::{BreakerError, CircuitOpen};
///
/// let error: BreakerError<std::io::Error> =
///     BreakerError::Inner(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
/// assert!(!error.is_open());
/// let boxed: BoxError = error.into();
/// assert!(boxed.is::<std::io::Error>());
/// ```
#[derive(Debug)]
pub enum BreakerError<E> {
    /// The breaker rejected the call without sending it.
    Open(CircuitOpen),
    /// The inner service failed (or was not ready).
    Inner(E),
}

impl<E> BreakerError<E> {
    /// Whether the breaker rejected the call.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open(_))
    }

    /// The rejection, if the breaker rejected the call.
    pub fn as_open(&self) -> Option<&CircuitOpen> {
        match self {
            Self::Open(open) => Some(open),
            Self::Inner(_) => None,
        }
    }

    /// The inner service's error, if that is what this is.
    pub fn as_inner(&self) -> Option<&E> {
        match self {
            Self::Open(_) => None,
            Self::Inner(error) => Some(error),
        }
    }

    /// The inner service's error, if that is what this is.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Open(_) => None,
            Self::Inner(error) => Some(error),
        }
    }
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open(open) => fmt::Display::fmt(open, f),
            Self::Inner(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl<E> From<CircuitOpen> for BreakerError<E> {
    fn from(open: CircuitOpen) -> Self {
        Self::Open(open)
    }
}

/// Unwraps the error: a rejection becomes a boxed [`CircuitOpen`] (this box is
/// the only allocation, and only if you ask for it), an inner error is boxed
/// as it would have been without the breaker.
impl<E: Into<BoxError>> From<BreakerError<E>> for BoxError {
    fn from(error: BreakerError<E>) -> Self {
        match error {
            BreakerError::Open(open) => Box::new(open),
            BreakerError::Inner(error) => error.into(),
        }
    }
}

/// As the conversion into [`BoxError`], for code that uses
/// `Box<dyn Error>` without `Send + Sync`.
impl<E: Into<Box<dyn Error>>> From<BreakerError<E>> for Box<dyn Error> {
    fn from(error: BreakerError<E>) -> Self {
        match error {
            BreakerError::Open(open) => Box::new(open),
            BreakerError::Inner(error) => error.into(),
        }
    }
}

impl<E: AsDynError> AsDynError for BreakerError<E> {
    #[inline]
    fn as_dyn_error(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Open(open) => Some(open),
            Self::Inner(error) => error.as_dyn_error(),
        }
    }
}
