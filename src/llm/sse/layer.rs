use std::time::Duration;

use tower_layer::Layer;

use super::SseGuard;
use crate::InvalidConfig;

/// The default bound on the bytes read before the first event: 64 KiB.
pub const DEFAULT_MAX_FIRST_EVENT_BYTES: usize = 64 * 1024;

/// The largest accepted `max_first_event_bytes`: 16 MiB.
pub const MAX_FIRST_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The guard's settings, shared by the layer and its services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Config {
    pub(super) first_event_timeout: Option<Duration>,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) max_first_event_bytes: usize,
}

const DEFAULT: Config = Config {
    first_event_timeout: None,
    idle_timeout: None,
    max_first_event_bytes: DEFAULT_MAX_FIRST_EVENT_BYTES,
};

/// Applies an [`SseGuard`] around a service. See the [module docs](super).
///
/// ```
/// use std::time::Duration;
/// use tower_failover::llm::sse::SseGuardLayer;
///
/// let layer = SseGuardLayer::builder()
///     .first_event_timeout(Duration::from_secs(10))
///     .idle_timeout(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(layer.first_event_timeout(), Some(Duration::from_secs(10)));
///
/// let error = SseGuardLayer::builder().idle_timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(error.to_string(), "invalid sse setting idle_timeout: must not be zero");
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SseGuardLayer {
    config: Config,
}

impl SseGuardLayer {
    /// A guard with no timers and the default
    /// [`max_first_event_bytes`](SseGuardLayerBuilder::max_first_event_bytes):
    /// it only holds each stream back until its first event, failing on an
    /// error event or an empty stream. Use [`builder`](Self::builder) to set
    /// timeouts.
    pub const fn new() -> Self {
        Self { config: DEFAULT }
    }

    /// A builder for the guard's settings.
    pub const fn builder() -> SseGuardLayerBuilder {
        SseGuardLayerBuilder { config: DEFAULT }
    }

    /// The first-event timeout, if any.
    pub fn first_event_timeout(&self) -> Option<Duration> {
        self.config.first_event_timeout
    }

    /// The idle timeout, if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.config.idle_timeout
    }

    /// The bound on the bytes read before the first event.
    pub fn max_first_event_bytes(&self) -> usize {
        self.config.max_first_event_bytes
    }
}

impl Default for SseGuardLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for SseGuardLayer {
    type Service = SseGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SseGuard::from_parts(inner, self.config)
    }
}

/// Builds an [`SseGuardLayer`]; settings are checked by
/// [`build`](Self::build).
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until built"]
pub struct SseGuardLayerBuilder {
    config: Config,
}

impl SseGuardLayerBuilder {
    /// Fails a call whose first event has not arrived `timeout` after
    /// `call` (headers included) with [`StreamTimedOut`](super::StreamTimedOut).
    /// None by default.
    pub fn first_event_timeout(mut self, timeout: Duration) -> Self {
        self.config.first_event_timeout = Some(timeout);
        self
    }

    /// Ends a committed stream with [`StreamTimedOut`](super::StreamTimedOut)
    /// when no event block (comments and pings included) completes for
    /// `timeout`. None by default.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = Some(timeout);
        self
    }

    /// How many bytes the guard reads and holds, at most, while waiting for
    /// the first event (64 KiB by default, at most 16 MiB). A stream whose
    /// first event does not fit is committed unjudged.
    pub fn max_first_event_bytes(mut self, bytes: usize) -> Self {
        self.config.max_first_event_bytes = bytes;
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// A zero timeout, or a `max_first_event_bytes` of zero or above
    /// [`MAX_FIRST_EVENT_BYTES`].
    pub fn build(self) -> Result<SseGuardLayer, InvalidConfig> {
        let config = self.config;
        if config.first_event_timeout == Some(Duration::ZERO) {
            return Err(InvalidConfig::new(
                "sse",
                "first_event_timeout",
                "must not be zero",
            ));
        }
        if config.idle_timeout == Some(Duration::ZERO) {
            return Err(InvalidConfig::new(
                "sse",
                "idle_timeout",
                "must not be zero",
            ));
        }
        if config.max_first_event_bytes == 0 {
            return Err(InvalidConfig::new(
                "sse",
                "max_first_event_bytes",
                "must not be zero",
            ));
        }
        if config.max_first_event_bytes > MAX_FIRST_EVENT_BYTES {
            return Err(InvalidConfig::new(
                "sse",
                "max_first_event_bytes",
                "must be at most 16 MiB",
            ));
        }
        Ok(SseGuardLayer { config })
    }
}
