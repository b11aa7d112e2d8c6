use std::time::Duration;

use http::StatusCode;

use crate::classify::FailureKind;

/// Which error format an error body was recognised as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI and OpenAI-compatible servers, Azure OpenAI included:
    /// `{"error": {"message", "type", "code", "param"}}`.
    OpenAi,
    /// Anthropic: `{"type": "error", "error": {"type", "message"}}`.
    Anthropic,
    /// Gemini and Vertex AI (Google's API error format):
    /// `{"error": {"code", "message", "status", "details"}}`.
    Gemini,
    /// Another JSON error shape with a message (`{"error": "…"}`,
    /// `{"message": "…"}`, `{"detail": "…"}`).
    Other,
}

/// What an LLM provider's error body said, as far as it matters to retry,
/// fallback and circuit breaking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderError {
    provider: Provider,
    kind: Option<FailureKind>,
    error_type: Option<Box<str>>,
    code: Option<Box<str>>,
    message: Option<Box<str>>,
    retry_after: Option<Duration>,
}

impl ProviderError {
    /// Parses the body of a failed HTTP response (status `status`).
    pub fn parse(status: StatusCode, body: &[u8]) -> Option<Self> {
        let _ = (status, body);
        None
    }

    /// Parses the data of an SSE error event (no HTTP status is known).
    pub fn parse_event(data: &[u8]) -> Option<Self> {
        let _ = data;
        None
    }

    /// The format the body was recognised as.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The failure kind the body implies, if it refines what the status says.
    pub fn kind(&self) -> Option<FailureKind> {
        self.kind
    }

    /// The error's type (`error.type`, Gemini's `error.status`).
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }

    /// The error's code (`error.code`, as text).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The human-readable message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// A wait the body asked for (Gemini's `RetryInfo`, "try again in 6s").
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}
