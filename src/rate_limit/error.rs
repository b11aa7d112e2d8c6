use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxError;
use crate::classify::AsDynError;

/// The caller-side limiter refused the call without sending it: its turn
/// would come later than the limiter may wait (its `max_wait`, or the
/// current deadline), its cost is more than the bucket can ever hold, or a
/// [keyed limiter](super::KeyedRateLimitLayer#bounded) is full of busy keys.
///
/// Carries the limiter's name and, when the call could pass later, how long
/// until it could. Classified as
/// [`FailureKind::RateLimited`](crate::classify::FailureKind::RateLimited)
/// with that wait as the hint, like a 429: a retry layer waits for it (or
/// gives up if it is above its cap), a fallback moves on to the next tier at
/// once. A cost that can never pass carries no wait and the hint "do not
/// retry".
///
/// Creating one never allocates: the name is shared.
///
/// ```
/// use std::time::Duration;
/// use tower::{ServiceExt, service_fn};
/// use tower_failover::rate_limit::{RateLimitConfig, RateLimitLayer, NoLimits};
/// use tower_layer::Layer;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = RateLimitConfig::builder()
///     .name("openai")
///     .requests(1, Duration::from_secs(1))
///     .max_wait(Duration::ZERO) // fail fast
///     .build()
///     .unwrap();
/// let layer = RateLimitLayer::new(config).limits_from(NoLimits);
/// let service = layer.layer(service_fn(|_: ()| async { Ok::<_, std::io::Error>(()) }));
///
/// service.clone().oneshot(()).await.unwrap();
/// let error = service.oneshot(()).await.unwrap_err();
/// let limited = error.as_limited().unwrap();
/// assert_eq!(limited.name(), "openai");
/// assert_eq!(limited.retry_after(), Some(Duration::from_secs(1)));
/// assert_eq!(limited.to_string(), "rate limited by the caller-side limiter: openai");
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimited {
    name: Arc<str>,
    retry_after: Option<Duration>,
    no_room: bool,
}

impl RateLimited {
    pub(super) fn new(name: Arc<str>, retry_after: Option<Duration>) -> Self {
        Self {
            name,
            retry_after,
            no_room: false,
        }
    }

    /// A keyed limiter had no room for a new key (see
    /// [`KeyedRateLimitLayer`](super::KeyedRateLimitLayer#bounded)).
    pub(super) fn no_room(name: Arc<str>, retry_after: Duration) -> Self {
        Self {
            name,
            retry_after: Some(retry_after),
            no_room: true,
        }
    }

    /// The name of the limiter that refused the call.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long until the call could pass, or `None` if it never can (its
    /// cost is more than the limiter's burst).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the call can never pass this limiter: its cost is more than
    /// the bucket's burst.
    pub fn is_over_capacity(&self) -> bool {
        self.retry_after.is_none()
    }
}

impl fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("name", &&*self.name)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.no_room {
            write!(
                f,
                "no room for a new key in the caller-side limiter: {}",
                self.name
            )
        } else if self.is_over_capacity() {
            write!(
                f,
                "request cost exceeds the caller-side limiter's burst: {}",
                self.name
            )
        } else {
            write!(f, "rate limited by the caller-side limiter: {}", self.name)
        }
    }
}

impl Error for RateLimited {}

impl AsDynError for RateLimited {
    #[inline]
    fn as_dyn_error(&self) -> Option<&(dyn Error + 'static)> {
        Some(self)
    }
}

/// The error of [`RateLimit`](super::RateLimit): the limiter refused the
/// call, or the inner service failed.
///
/// An enum rather than a [`BoxError`] so that a refusal never allocates,
/// like [`BreakerError`](crate::circuit_breaker::BreakerError): it converts
/// *into* [`BoxError`] by unwrapping itself (so `downcast_ref::<RateLimited>()`
/// works on the box) and implements [`AsDynError`] so that classifiers see
/// through it.
///
/// ```
/// use tower_failover::BoxError;
/// use tower_failover::rate_limit::RateLimitError;
///
/// let error: RateLimitError<std::io::Error> =
///     RateLimitError::Inner(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
/// assert!(!error.is_limited());
/// let boxed: BoxError = error.into();
/// assert!(boxed.is::<std::io::Error>());
/// ```
#[derive(Debug)]
pub enum RateLimitError<E> {
    /// The limiter refused the call without sending it.
    Limited(RateLimited),
    /// The inner service failed (or was not ready).
    Inner(E),
}

impl<E> RateLimitError<E> {
    /// Whether the limiter refused the call.
    pub fn is_limited(&self) -> bool {
        matches!(self, Self::Limited(_))
    }

    /// The refusal, if the limiter refused the call.
    pub fn as_limited(&self) -> Option<&RateLimited> {
        match self {
            Self::Limited(limited) => Some(limited),
            Self::Inner(_) => None,
        }
    }

    /// The inner service's error, if that is what this is.
    pub fn as_inner(&self) -> Option<&E> {
        match self {
            Self::Limited(_) => None,
            Self::Inner(error) => Some(error),
        }
    }

    /// The inner service's error, if that is what this is.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Limited(_) => None,
            Self::Inner(error) => Some(error),
        }
    }
}

impl<E: fmt::Display> fmt::Display for RateLimitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Limited(limited) => fmt::Display::fmt(limited, f),
            Self::Inner(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl<E> From<RateLimited> for RateLimitError<E> {
    fn from(limited: RateLimited) -> Self {
        Self::Limited(limited)
    }
}

/// Unwraps the error: a refusal becomes a boxed [`RateLimited`], an inner
/// error is boxed as it would have been without the limiter.
impl<E: Into<BoxError>> From<RateLimitError<E>> for BoxError {
    fn from(error: RateLimitError<E>) -> Self {
        match error {
            RateLimitError::Limited(limited) => Box::new(limited),
            RateLimitError::Inner(error) => error.into(),
        }
    }
}

/// As the conversion into [`BoxError`], for code that uses
/// `Box<dyn Error>` without `Send + Sync`.
impl<E: Into<Box<dyn Error>>> From<RateLimitError<E>> for Box<dyn Error> {
    fn from(error: RateLimitError<E>) -> Self {
        match error {
            RateLimitError::Limited(limited) => Box::new(limited),
            RateLimitError::Inner(error) => error.into(),
        }
    }
}

impl<E: AsDynError> AsDynError for RateLimitError<E> {
    #[inline]
    fn as_dyn_error(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Limited(limited) => Some(limited),
            Self::Inner(error) => error.as_dyn_error(),
        }
    }
}
