use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::classify::FailureKind;

mod parse;
mod rules;

/// Which error format an error body was recognised as.
///
/// Azure OpenAI, vLLM, OpenRouter and other OpenAI-compatible servers are all
/// [`OpenAi`](Self::OpenAi): they share its format, and the rules read their
/// additions (Azure's `innererror`, numeric codes) too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI and OpenAI-compatible servers, Azure OpenAI included:
    /// `{"error": {"message", "type", "code", "param"}}`, and vLLM's top-level
    /// `{"object": "error", "message", "type", "code"}`.
    OpenAi,
    /// Anthropic: `{"type": "error", "error": {"type", "message"}}`.
    Anthropic,
    /// Gemini and Vertex AI (Google's API error format):
    /// `{"error": {"code", "message", "status", "details"}}`, also wrapped
    /// in a one-element array by the streaming endpoints.
    Gemini,
    /// Another JSON error shape with a message (`{"error": "…"}`,
    /// `{"message": "…"}`, `{"detail": "…"}`).
    Other,
}

impl Provider {
    /// A stable, lowercase name for events and metrics labels: `"openai"`,
    /// `"anthropic"`, `"gemini"` or `"other"`.
    ///
    /// ```
    /// use tower_failover::llm::Provider;
    ///
    /// assert_eq!(Provider::OpenAi.as_str(), "openai");
    /// assert_eq!(Provider::Gemini.to_string(), "gemini");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an LLM provider's error body said, as far as it matters to retry,
/// fallback and circuit breaking.
///
/// A failed response's status says a lot, but not everything: OpenAI sends
/// 429 both for a rate limit (retry after a second) and for an exhausted
/// quota (never retry: someone has to pay), Anthropic sends 400 both for a
/// malformed request and for an empty credit balance, and a 400 that says the
/// prompt does not fit the context window should move to a larger-context
/// tier rather than fail. [`parse`](Self::parse) reads the body of a failed
/// response into this small value; the error-body layer attaches it to the
/// response's extensions, where the
/// [`DefaultClassifier`](crate::classify::DefaultClassifier) finds it and
/// lets its [`kind`](Self::kind) replace the status's and its
/// [`retry_after`](Self::retry_after) stand in for a missing header hint.
/// [`parse_event`](Self::parse_event) reads the data of an SSE `error` event
/// the same way, without a status.
///
/// # Formats
///
/// | [`Provider`] | body | [`error_type`](Self::error_type) | [`code`](Self::code) |
/// |---|---|---|---|
/// | [`Anthropic`](Provider::Anthropic) | `{"type": "error", "error": {"type", "message"}}` (also without the top-level `type`, for the types only Anthropic uses) | `error.type` | — |
/// | [`Gemini`](Provider::Gemini) | `{"error": {"code", "message", "status", "details"}}` whose `status` is a gRPC name (`RESOURCE_EXHAUSTED`), or `[{"error": …}]` | `error.status` | `error.code` (`"429"`) |
/// | [`OpenAi`](Provider::OpenAi) | any other `{"error": {…}}`: OpenAI, Azure OpenAI (`status`, `innererror`), OpenRouter (`"code": 402`) | `error.type` | `error.code` |
/// | [`OpenAi`](Provider::OpenAi) | vLLM: `{"object": "error", "message", "type", "code": 400}` | `type` | `code` |
/// | [`Other`](Provider::Other) | `{"error": "…"}` (Ollama), `{"message": "…"}`, `{"detail": "…"}` | — | top-level `code` |
///
/// Anything else is not an error body: garbage, HTML from a proxy, truncated
/// JSON, `null`, JSON of another shape, an error object that has none of a
/// message, a type and a code, and an object with a key given twice.
/// [`parse`](Self::parse) returns `None` for them and the status decides
/// alone. Values of unexpected JSON types are read as
/// absent rather than failing the parse (`"type": null`); a code may be a
/// string or an integer, and an integer is kept as its text.
///
/// # Kinds
///
/// [`kind`](Self::kind) is `None` when the body says nothing the status does
/// not. Otherwise the first matching row wins, the structured fields before
/// the message; message matches ignore ASCII case.
///
/// | kind | OpenAI, Azure, compatible | Anthropic `error.type` | Gemini `error.status` | any message |
/// |---|---|---|---|---|
/// | [`ContentFiltered`](FailureKind::ContentFiltered) | code or type `content_filter`, `content_policy_violation`; `innererror.code` `ResponsibleAIPolicyViolation` | | | |
/// | [`QuotaExhausted`](FailureKind::QuotaExhausted) | code or type `insufficient_quota`, `billing_hard_limit_reached`, `billing_not_active` | `billing_error`; `rate_limit_error`, `invalid_request_error`, `authentication_error`, `permission_error` whose message opens as a spend message | `RESOURCE_EXHAUSTED` with a per-day violation (`quotaId` contains `PerDay`), a violation whose `quotaValue` is `0`, or a message mentioning a spend limit | a message that opens "Your credit balance is too low", "You have reached your specified API usage limits", "Insufficient credits", "Insufficient balance" (under 400, 402, 403, 429) |
/// | [`ContextTooLong`](FailureKind::ContextTooLong) | code or type `context_length_exceeded` | `request_too_large`; `invalid_request_error` with a context message | `INVALID_ARGUMENT` with a context message | a context message: "context length", "context window", "prompt is too long", "exceed context limit", "exceeds the maximum number of tokens", "input is too long" (under 400, 413, 422) |
/// | [`ModelNotFound`](FailureKind::ModelNotFound) | code or type `model_not_found`, `DeploymentNotFound` | `not_found_error` | `NOT_FOUND` | |
/// | [`Auth`](FailureKind::Auth) | code or type `invalid_api_key` | `authentication_error`, `permission_error` | `UNAUTHENTICATED`, `PERMISSION_DENIED`; `INVALID_ARGUMENT` for `API_KEY_INVALID` or "API key not valid" | |
/// | [`RateLimited`](FailureKind::RateLimited) | code or type `rate_limit_exceeded` or `429`; type `tokens`, `requests` | `rate_limit_error` | `RESOURCE_EXHAUSTED` otherwise | |
/// | [`Overloaded`](FailureKind::Overloaded) | type or code `server_error` saying "overloaded" | `overloaded_error` | `UNAVAILABLE` saying "overloaded" | "overloaded" (under a retryable status) |
/// | [`Timeout`](FailureKind::Timeout) | | `timeout_error` | `DEADLINE_EXCEEDED` | |
/// | [`Transient`](FailureKind::Transient) | type or code `server_error` otherwise | `api_error` | `UNAVAILABLE` otherwise, `INTERNAL`, `ABORTED` | |
/// | [`Invalid`](FailureKind::Invalid) | | `invalid_request_error` otherwise | `INVALID_ARGUMENT` otherwise | |
///
/// Some choices the table makes:
///
/// - **Gemini's `RESOURCE_EXHAUSTED` is a rate limit unless a violation says
///   otherwise.** Its message, "You exceeded your current quota, please check
///   your plan and billing details", is the same for a per-minute limit (over
///   in seconds, with a `RetryInfo`) and for a per-day one (over at midnight
///   Pacific time), so only the `QuotaFailure` violations decide: any
///   per-day violation means retrying within the day is pointless.
/// - **OpenAI's `string_above_max_length` is left to the status** (400,
///   [`Invalid`](FailureKind::Invalid)): it is about one string's length in
///   characters, a limit of the API, not of a model's context window.
/// - **The status is a guard.** A body is trusted to refine its status, not
///   to turn a failure the status calls retryable (5xx, 408, 409, 429, 529)
///   into a caller fault on a vague body: `Invalid`, `ContextTooLong` and
///   `ContentFiltered` from the body are dropped under such a status, and
///   `Invalid` is only kept where the status says so already (never over a
///   401, 402 or 404).
/// - **A message alone is weak evidence.** Messages quote the caller's
///   input (OpenAI's "Invalid value: '…'", a model name in a 404), so the
///   last column applies only under the statuses it names, and a spend
///   message must *open* with its words: otherwise one caller could make
///   its own bad request pass for a used-up quota, which opens the breaker
///   for every caller. Anthropic's spend messages are matched the same way.
/// - **Without a status** ([`parse_event`](Self::parse_event)) every rule
///   still applies, from the body alone; when none matches and the body
///   carries an HTTP status as its code (Gemini's and OpenRouter's `429`,
///   Azure's `"429"`, vLLM's `400`), the kind is that status's
///   ([`classify_status`](crate::classify::classify_status)).
///
/// # Hints
///
/// [`retry_after`](Self::retry_after) is the first of: Gemini's
/// `RetryInfo.retryDelay` (a protobuf duration: `13s`, `0.5s`, `1.000340s`),
/// then a wait in the message: "try again in" followed by a Go duration
/// (OpenAI's "Please try again in 6s.", `20ms`, `1m30.5s`), or "try again
/// in", "retry after" or "retry in" followed by a number and `seconds`,
/// `milliseconds` or `minutes` (Azure's "Please retry after 6 seconds.").
/// A wait that does not parse, or above [`MAX_HINT`](crate::hint::MAX_HINT),
/// is no hint. The classifier prefers the headers' hint and uses this one
/// only when they have none.
///
/// # Cost and bounds
///
/// Nothing here runs on the happy path. The body is read in place with
/// `serde_json` (the caller bounds it; the error-body layer to 64 KiB) and
/// never copied: strings without escapes are borrowed until the result is
/// built, arrays are folded as they are read, and everything else is
/// skipped, without recursion however deep it nests. The result owns its
/// strings, each as given and no longer than the body. The message
/// heuristics read at most the first 8 KiB of a message. No input panics.
///
/// # Examples
///
/// An exhausted quota and a rate limit, both 429 from OpenAI:
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use tower_failover::classify::FailureKind;
/// use tower_failover::llm::{Provider, ProviderError};
///
/// let quota = br#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
///     "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
/// let found = ProviderError::parse(StatusCode::TOO_MANY_REQUESTS, quota).unwrap();
/// assert_eq!(found.provider(), Provider::OpenAi);
/// assert_eq!(found.kind(), Some(FailureKind::QuotaExhausted));
/// assert_eq!(found.code(), Some("insufficient_quota"));
///
/// let rate = br#"{"error": {"message": "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 28039, Requested 3906. Please try again in 3.89s.",
///     "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}"#;
/// let found = ProviderError::parse(StatusCode::TOO_MANY_REQUESTS, rate).unwrap();
/// assert_eq!(found.kind(), Some(FailureKind::RateLimited));
/// assert_eq!(found.retry_after(), Some(Duration::from_millis(3890)));
/// ```
///
/// Anthropic's empty credit balance is a 400, but not the caller's fault:
///
/// ```
/// use http::StatusCode;
/// use tower_failover::classify::FailureKind;
/// use tower_failover::llm::{Provider, ProviderError};
///
/// let body = br#"{"type": "error", "error": {"type": "invalid_request_error",
///     "message": "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#;
/// let found = ProviderError::parse(StatusCode::BAD_REQUEST, body).unwrap();
/// assert_eq!(found.provider(), Provider::Anthropic);
/// assert_eq!(found.kind(), Some(FailureKind::QuotaExhausted));
/// assert!(found.to_string().starts_with("anthropic invalid_request_error: Your credit balance"));
/// ```
///
/// Gemini's per-minute limit carries its own wait; an SSE error event is read
/// without a status:
///
/// ```
/// use std::time::Duration;
/// use tower_failover::classify::FailureKind;
/// use tower_failover::llm::ProviderError;
///
/// let data = br#"[{"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing details.",
///     "status": "RESOURCE_EXHAUSTED", "details": [
///       {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
///         {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
///          "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
///       {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}]}}]"#;
/// let found = ProviderError::parse_event(data).unwrap();
/// assert_eq!(found.kind(), Some(FailureKind::RateLimited));
/// assert_eq!(found.error_type(), Some("RESOURCE_EXHAUSTED"));
/// assert_eq!(found.code(), Some("429"));
/// assert_eq!(found.retry_after(), Some(Duration::from_secs(13)));
/// ```
///
/// What is not an error body is `None`:
///
/// ```
/// use http::StatusCode;
/// use tower_failover::llm::ProviderError;
///
/// let gateway = StatusCode::BAD_GATEWAY;
/// assert_eq!(ProviderError::parse(gateway, b"<html><body>502 Bad Gateway</body></html>"), None);
/// assert_eq!(ProviderError::parse(gateway, br#"{"error": {"message": "cut off"#), None);
/// assert_eq!(ProviderError::parse(gateway, b"null"), None);
/// assert_eq!(ProviderError::parse(gateway, br#"{"id": "chatcmpl-1", "choices": []}"#), None);
/// ```
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
    ///
    /// `None` if the body is not a recognised error body (see the
    /// [type docs](Self) for the formats); the status is only used to guard
    /// the [`kind`](Self::kind).
    pub fn parse(status: StatusCode, body: &[u8]) -> Option<Self> {
        Self::read(Some(status), body)
    }

    /// Parses the data of an SSE error event (no HTTP status is known), such
    /// as Anthropic's `event: error` or an OpenAI-compatible server's
    /// `data: {"error": {…}}`.
    ///
    /// ```
    /// use tower_failover::classify::FailureKind;
    /// use tower_failover::llm::{Provider, ProviderError};
    ///
    /// let data = br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
    /// let found = ProviderError::parse_event(data).unwrap();
    /// assert_eq!(found.provider(), Provider::Anthropic);
    /// assert_eq!(found.kind(), Some(FailureKind::Overloaded));
    /// assert_eq!(found.to_string(), "anthropic overloaded_error: Overloaded");
    /// ```
    pub fn parse_event(data: &[u8]) -> Option<Self> {
        Self::read(None, data)
    }

    #[cold]
    fn read(status: Option<StatusCode>, body: &[u8]) -> Option<Self> {
        let shape = rules::Shape::recognise(parse::read(body)?)?;
        let kind = shape.kind(status);
        let retry_after = shape.retry_after();
        Some(Self {
            provider: shape.provider,
            kind,
            error_type: shape.error_type.map(Box::from),
            code: shape.code.map(Box::from),
            message: shape.message.map(Box::from),
            retry_after,
        })
    }

    /// The format the body was recognised as.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The failure kind the body implies, if it refines what the status says
    /// (`None`: the status decides). The rules are in the [type docs](Self).
    pub fn kind(&self) -> Option<FailureKind> {
        self.kind
    }

    /// The error's type: `error.type` (OpenAI, Anthropic), Gemini's
    /// `error.status` (`RESOURCE_EXHAUSTED`), vLLM's top-level `type`.
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }

    /// The error's code (`error.code`), as text: `"insufficient_quota"`, or
    /// `"429"` for a numeric code.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The human-readable message, as given.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// A wait the body asked for (Gemini's `RetryInfo`, "try again in 6s"),
    /// never above [`MAX_HINT`](crate::hint::MAX_HINT).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// The longest message [`Display`](fmt::Display) writes, in bytes.
const DISPLAYED: usize = 512;

/// `provider type: message` for logs, as in `anthropic overloaded_error:
/// Overloaded` (the code stands in for a missing type). A message longer
/// than 512 bytes is cut at a character boundary and ends with `…`; the whole
/// of it is in [`message`](ProviderError::message).
impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.provider.as_str())?;
        if let Some(name) = self.error_type().or(self.code()) {
            write!(f, " {name}")?;
        }
        if let Some(message) = self.message() {
            if message.len() <= DISPLAYED {
                write!(f, ": {message}")?;
            } else {
                let mut end = DISPLAYED;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                write!(f, ": {}…", &message[..end])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn is_an_extension() {
        assert_send_sync_clone::<ProviderError>();
    }

    #[test]
    fn display_cuts_long_messages_at_a_char_boundary() {
        let message = "é".repeat(400);
        let body = format!(r#"{{"message": "{message}"}}"#);
        let found = ProviderError::parse_event(body.as_bytes()).unwrap();
        let shown = found.to_string();
        assert!(shown.starts_with("other: éé"));
        assert!(shown.ends_with('…'));
        assert!(shown.len() <= "other: ".len() + DISPLAYED + '…'.len_utf8());
        assert_eq!(found.message(), Some(message.as_str()));
    }
}
