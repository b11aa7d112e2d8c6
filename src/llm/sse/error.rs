use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::llm::ProviderError;

/// Which of the guard's timers fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    FirstEvent,
    Idle,
}

/// A guarded stream went quiet for too long: no first event within the
/// first-event timeout (the response future fails with it), or no complete
/// event block within the idle timeout after the first event (the body
/// yields it as its last frame).
///
/// Classified as [`Timeout`](crate::classify::FailureKind::Timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamTimedOut {
    phase: Phase,
    after: Duration,
}

impl StreamTimedOut {
    pub(super) fn first_event(after: Duration) -> Self {
        Self {
            phase: Phase::FirstEvent,
            after,
        }
    }

    pub(super) fn idle(after: Duration) -> Self {
        Self {
            phase: Phase::Idle,
            after,
        }
    }

    /// Whether the first event never came (the call was not committed);
    /// `false` for an idle timeout after the first event.
    pub fn is_first_event(&self) -> bool {
        self.phase == Phase::FirstEvent
    }

    /// The timeout that elapsed.
    pub fn timeout(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for StreamTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.phase {
            Phase::FirstEvent => write!(f, "no stream event within {:?}", self.after),
            Phase::Idle => write!(f, "stream idle for {:?}", self.after),
        }
    }
}

impl Error for StreamTimedOut {}

/// The first event of a successful (2xx) stream was an error: its event
/// type is `error` (Anthropic's `event: error`), or its data is a JSON
/// object with a top-level `"error"` key (OpenAI's and OpenRouter's
/// `data: {"error": {…}}`).
///
/// Carries what [`ProviderError::parse_event`] made of the data, if
/// anything. Classified as that error's
/// [`kind`](ProviderError::kind) (Anthropic's `overloaded_error` is
/// [`Overloaded`](crate::classify::FailureKind::Overloaded)), or
/// [`Transient`](crate::classify::FailureKind::Transient) when it says
/// nothing more, with its [`retry_after`](ProviderError::retry_after) as
/// the hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamErrorEvent {
    event_type: Box<str>,
    data: Box<str>,
    error: Option<ProviderError>,
}

impl StreamErrorEvent {
    pub(super) fn new(event: super::Event) -> Self {
        let event_type = event.event_type().into();
        let data = event.into_data();
        let error = ProviderError::parse_event(data.as_bytes());
        Self {
            event_type,
            data: data.into_boxed_str(),
            error,
        }
    }

    /// The event's type (`"error"`, or `"message"` for an untyped event
    /// whose data held an error).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The event's data, as sent (bounded by the guard's
    /// `max_first_event_bytes`).
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The provider error parsed from the data, if it was recognised.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        self.error.as_ref()
    }
}

impl fmt::Display for StreamErrorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("error event in stream")?;
        match self.error.as_ref().and_then(ProviderError::message) {
            Some(message) => write!(f, ": {message}"),
            None => Ok(()),
        }
    }
}

impl Error for StreamErrorEvent {}

/// A successful (2xx) event stream ended cleanly before its first event: an
/// LLM answer with no event is a truncated one.
///
/// Classified as [`Transient`](crate::classify::FailureKind::Transient).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEnded {
    _private: (),
}

impl StreamEnded {
    pub(super) const fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for StreamEnded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stream ended before its first event")
    }
}

impl Error for StreamEnded {}
