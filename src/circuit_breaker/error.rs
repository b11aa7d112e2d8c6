use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The circuit breaker rejected the call without sending it: the upstream is
/// failing and the breaker is open (or half-open with every probe taken).
///
/// Carries the breaker's name and, when known, how long until the breaker
/// lets calls through again. Classified as
/// [`FailureKind::CircuitOpen`](crate::classify::FailureKind::CircuitOpen):
/// never retried on the same upstream, a fallback moves on at once.
#[derive(Clone)]
pub struct CircuitOpen {
    name: Arc<str>,
    retry_after: Option<Duration>,
}

impl CircuitOpen {
    #[allow(dead_code)]
    pub(crate) fn new(name: Arc<str>, retry_after: Option<Duration>) -> Self {
        Self { name, retry_after }
    }

    /// The name of the breaker that rejected the call.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long until the breaker lets a call through again, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Debug for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitOpen")
            .field("name", &&*self.name)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit open: {}", self.name)
    }
}

impl std::error::Error for CircuitOpen {}
