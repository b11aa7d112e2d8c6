//! What an error body means: its provider, the failure kind it implies, the
//! wait it asks for. The rules are documented on
//! [`ProviderError`](super::ProviderError); keep the two in step.

use std::borrow::Cow;
use std::time::Duration;

use http::StatusCode;

use super::Provider;
use super::parse::{Envelope, ErrorField, Loose};
use crate::classify::{FailureKind, classify_status};
use crate::hint::parse_go_duration;

/// How much of a message the heuristics read: real messages are far shorter,
/// and the bound keeps the cost of a hostile 64 KiB message small.
const SCANNED: usize = 8 * 1024;

/// An error body, recognised and normalised, still borrowing from the body.
#[derive(Debug)]
pub(super) struct Shape<'a> {
    pub(super) provider: Provider,
    pub(super) error_type: Option<Cow<'a, str>>,
    pub(super) code: Option<Cow<'a, str>>,
    pub(super) message: Option<Cow<'a, str>>,
    /// Azure's `innererror.code`.
    inner_code: Option<Cow<'a, str>>,
    /// Gemini's `ErrorInfo.reason`.
    reason: Option<Cow<'a, str>>,
    /// Gemini's `RetryInfo.retryDelay`.
    retry_delay: Option<Duration>,
    per_day: bool,
    zero_limit: bool,
}

impl<'a> Shape<'a> {
    /// Recognises one of the known shapes, or `None` if the JSON is not an
    /// error body.
    pub(super) fn recognise(envelope: Envelope<'a>) -> Option<Self> {
        let top_type = envelope.kind.and_then(Loose::into_text);
        let mut shape = Self {
            provider: Provider::Other,
            error_type: None,
            code: None,
            message: None,
            inner_code: None,
            reason: None,
            retry_delay: None,
            per_day: false,
            zero_limit: false,
        };
        match envelope.error {
            ErrorField::Object(error) => {
                let kind = error.kind.and_then(Loose::into_text);
                let code = error.code.and_then(Loose::into_code);
                let status = error.status.and_then(Loose::into_text);
                shape.provider = if top_type.as_deref() == Some("error")
                    || (code.is_none()
                        && status.is_none()
                        && kind.as_deref().is_some_and(is_anthropic_only_type))
                {
                    Provider::Anthropic
                } else if status.as_deref().is_some_and(is_grpc_status) {
                    Provider::Gemini
                } else {
                    Provider::OpenAi
                };
                shape.error_type = match shape.provider {
                    Provider::Gemini => status,
                    _ => kind,
                };
                shape.code = code;
                shape.message = error.message.and_then(Loose::into_text);
                shape.inner_code = error
                    .innererror
                    .0
                    .and_then(|inner| inner.code)
                    .and_then(Loose::into_code);
                let details = error.details;
                shape.reason = details.reason;
                shape.retry_delay = details.retry_delay;
                shape.per_day = details.per_day;
                shape.zero_limit = details.zero_limit;
            }
            ErrorField::Text(message) => {
                shape.message = Some(message);
                shape.code = envelope.code.and_then(Loose::into_code);
            }
            ErrorField::Absent => {
                let message = envelope.message.and_then(Loose::into_text);
                let code = envelope.code.and_then(Loose::into_code);
                let object = envelope.object.and_then(Loose::into_text);
                if message.is_some()
                    && (object.as_deref() == Some("error")
                        || (top_type.is_some() && code.is_some()))
                {
                    // vLLM and other OpenAI-compatible servers:
                    // {"object": "error", "message", "type", "code": 400}.
                    shape.provider = Provider::OpenAi;
                    shape.error_type = top_type;
                    shape.code = code;
                    shape.message = message;
                } else if message.is_some() {
                    shape.message = message;
                    shape.code = code;
                } else {
                    shape.message = envelope.detail.and_then(Loose::into_text);
                }
            }
        }
        let said_something =
            shape.message.is_some() || shape.error_type.is_some() || shape.code.is_some();
        said_something.then_some(shape)
    }

    /// The failure kind the body implies, given the response's status if
    /// there is one.
    pub(super) fn kind(&self, status: Option<StatusCode>) -> Option<FailureKind> {
        let message = self.message.as_deref().unwrap_or("");
        let refined = match self.provider {
            Provider::OpenAi => self.openai_kind(message),
            Provider::Anthropic => self.anthropic_kind(message),
            Provider::Gemini => self.gemini_kind(message),
            Provider::Other => None,
        }
        .or_else(|| message_kind(message).filter(|&kind| message_may_say(kind, status)));
        match status {
            Some(status) => refined.filter(|&kind| body_may_overrule(kind, status)),
            // No status (an SSE error event): a body that carries one stands
            // in for it.
            None => refined.or_else(|| self.status_in_body().and_then(classify_status)),
        }
    }

    /// The wait the body asks for: Gemini's `RetryInfo`, else the message's
    /// "try again in 6s" or "retry after 6 seconds".
    pub(super) fn retry_after(&self) -> Option<Duration> {
        self.retry_delay
            .or_else(|| self.message.as_deref().and_then(message_delay))
    }

    /// OpenAI, Azure OpenAI and OpenAI-compatible servers.
    fn openai_kind(&self, message: &str) -> Option<FailureKind> {
        let code = self.code.as_deref().unwrap_or("");
        let kind = self.error_type.as_deref().unwrap_or("");
        let inner = self.inner_code.as_deref().unwrap_or("");
        let either = |names: &[&str]| {
            names
                .iter()
                .any(|name| code.eq_ignore_ascii_case(name) || kind.eq_ignore_ascii_case(name))
        };
        Some(
            if either(&["content_filter", "content_policy_violation"])
                || inner.eq_ignore_ascii_case("ResponsibleAIPolicyViolation")
            {
                FailureKind::ContentFiltered
            } else if either(&[
                "insufficient_quota",
                "billing_hard_limit_reached",
                "billing_not_active",
            ]) {
                FailureKind::QuotaExhausted
            } else if either(&["context_length_exceeded"]) {
                FailureKind::ContextTooLong
            } else if either(&["model_not_found", "DeploymentNotFound"]) {
                FailureKind::ModelNotFound
            } else if either(&["invalid_api_key"]) {
                FailureKind::Auth
            } else if either(&["rate_limit_exceeded", "429"])
                || kind == "tokens"
                || kind == "requests"
            {
                FailureKind::RateLimited
            } else if either(&["server_error"]) {
                if is_overloaded(message) {
                    FailureKind::Overloaded
                } else {
                    FailureKind::Transient
                }
            } else {
                return None;
            },
        )
    }

    /// Anthropic.
    fn anthropic_kind(&self, message: &str) -> Option<FailureKind> {
        let spend = starts_with_spend_limit(message);
        Some(match self.error_type.as_deref()? {
            "overloaded_error" => FailureKind::Overloaded,
            "billing_error" => FailureKind::QuotaExhausted,
            "rate_limit_error"
            | "invalid_request_error"
            | "authentication_error"
            | "permission_error"
                if spend =>
            {
                FailureKind::QuotaExhausted
            }
            "rate_limit_error" => FailureKind::RateLimited,
            "invalid_request_error" if is_context_too_long(message) => FailureKind::ContextTooLong,
            "invalid_request_error" => FailureKind::Invalid,
            "authentication_error" | "permission_error" => FailureKind::Auth,
            "not_found_error" => FailureKind::ModelNotFound,
            "request_too_large" => FailureKind::ContextTooLong,
            "timeout_error" => FailureKind::Timeout,
            "api_error" => FailureKind::Transient,
            _ => return None,
        })
    }

    /// Gemini and Vertex AI: `error_type` is the gRPC status name.
    fn gemini_kind(&self, message: &str) -> Option<FailureKind> {
        let reason = self.reason.as_deref().unwrap_or("");
        Some(match self.error_type.as_deref()? {
            "RESOURCE_EXHAUSTED"
                if self.per_day || self.zero_limit || mentions_spend_limit(message) =>
            {
                FailureKind::QuotaExhausted
            }
            "RESOURCE_EXHAUSTED" => FailureKind::RateLimited,
            "UNAVAILABLE" if is_overloaded(message) => FailureKind::Overloaded,
            "UNAVAILABLE" | "INTERNAL" | "ABORTED" => FailureKind::Transient,
            "DEADLINE_EXCEEDED" => FailureKind::Timeout,
            "NOT_FOUND" => FailureKind::ModelNotFound,
            "UNAUTHENTICATED" | "PERMISSION_DENIED" => FailureKind::Auth,
            "INVALID_ARGUMENT"
                if reason == "API_KEY_INVALID" || contains_ci(message, "api key not valid") =>
            {
                FailureKind::Auth
            }
            "INVALID_ARGUMENT" if is_context_too_long(message) => FailureKind::ContextTooLong,
            "INVALID_ARGUMENT" => FailureKind::Invalid,
            _ => return None,
        })
    }

    /// An HTTP status the body carries as its code (Gemini's, OpenRouter's
    /// and vLLM's `429`, Azure's `"429"`), for SSE error events.
    fn status_in_body(&self) -> Option<StatusCode> {
        let code = self.code.as_deref()?;
        if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        StatusCode::from_bytes(code.as_bytes())
            .ok()
            .filter(|status| status.is_client_error() || status.is_server_error())
    }
}

/// Whether a kind read from the body may replace the one the status implies.
///
/// The body is trusted to refine a status, not to turn a failure the status
/// calls retryable (5xx, 408, 409, 429, 529) into a caller fault on a vague
/// body: [`Invalid`](FailureKind::Invalid), [`ContextTooLong`](FailureKind::ContextTooLong)
/// and [`ContentFiltered`](FailureKind::ContentFiltered) are dropped there,
/// and `Invalid` is only kept where the status says it already.
fn body_may_overrule(kind: FailureKind, status: StatusCode) -> bool {
    let by_status = classify_status(status);
    match kind {
        FailureKind::Invalid => by_status.is_none_or(|by_status| by_status == FailureKind::Invalid),
        FailureKind::ContextTooLong | FailureKind::ContentFiltered => {
            by_status.is_none_or(|by_status| !by_status.is_retryable())
        }
        _ => true,
    }
}

/// The kinds every provider's messages can tell, when the structured fields
/// did not: a spend limit, a context window, an overload.
fn message_kind(message: &str) -> Option<FailureKind> {
    if starts_with_spend_limit(message) {
        Some(FailureKind::QuotaExhausted)
    } else if is_context_too_long(message) {
        Some(FailureKind::ContextTooLong)
    } else if is_overloaded(message) {
        Some(FailureKind::Overloaded)
    } else {
        None
    }
}

/// Whether a kind read from the message alone (no structured field said
/// it) fits the status.
///
/// Messages often quote the caller's own input ("Invalid value: '…'"), so
/// a keyword in a message must not let one caller's bad request pass for an
/// upstream-wide condition: a used-up quota (which opens the breaker at
/// once) only under 400, 402, 403 or 429, an overload only under a status
/// that is retryable anyway, a context window only under 400, 413 or 422.
/// Without a status (an SSE error event, sent by the provider after a 200),
/// the message stands.
fn message_may_say(kind: FailureKind, status: Option<StatusCode>) -> bool {
    let Some(status) = status else {
        return true;
    };
    match kind {
        FailureKind::QuotaExhausted => matches!(status.as_u16(), 400 | 402 | 403 | 429),
        FailureKind::Overloaded => classify_status(status).is_some_and(FailureKind::is_retryable),
        FailureKind::ContextTooLong => matches!(status.as_u16(), 400 | 413 | 422),
        _ => false,
    }
}

/// Spend-limit messages, as they begin: Anthropic's "Your credit balance is
/// too low" and "You have reached your specified API usage limits",
/// OpenRouter's "Insufficient credits", DeepSeek's "Insufficient Balance".
const SPEND_LIMIT_OPENINGS: [&str; 5] = [
    "your credit balance is too low",
    "you have reached your specified api usage limits",
    "insufficient credits",
    "insufficient balance",
    "insufficient_quota",
];

/// Whether a message *begins* as a spend-limit message does. Only its
/// opening counts, so that a message quoting the caller's input (OpenAI's
/// "Invalid value: 'credit balance'") is not read as one.
fn starts_with_spend_limit(message: &str) -> bool {
    let message = message.trim_start().as_bytes();
    SPEND_LIMIT_OPENINGS
        .iter()
        .any(|opening| starts_with_ci(message, opening.as_bytes()))
}

/// Whether a message mentions money or a hard usage cap anywhere: for
/// bodies that already say "resource exhausted" (Gemini), whose messages
/// do not quote the caller.
fn mentions_spend_limit(message: &str) -> bool {
    SPEND_LIMIT_OPENINGS
        .iter()
        .chain(&[
            "usage limit",
            "spend limit",
            "spending limit",
            "spending cap",
            "billing hard limit",
        ])
        .any(|needle| contains_ci(message, needle))
}

/// A message about the context window: vLLM's "This model's maximum context
/// length is 16384 tokens" and "the model's context length is only 1024
/// tokens", Anthropic's "prompt is too long" and "input length and
/// `max_tokens` exceed context limit", Gemini's "exceeds the maximum
/// number of tokens allowed", Bedrock's "Input is too long".
fn is_context_too_long(message: &str) -> bool {
    [
        "context length",
        "context window",
        "context_length_exceeded",
        "prompt is too long",
        "exceed context limit",
        "exceeds the maximum number of tokens",
        "input is too long",
    ]
    .iter()
    .any(|needle| contains_ci(message, needle))
}

/// "The model is overloaded", "That model is currently overloaded with other
/// requests".
fn is_overloaded(message: &str) -> bool {
    contains_ci(message, "overloaded")
}

/// Anthropic error types that no OpenAI-style body uses, so that an Anthropic
/// body stripped of its top-level `"type": "error"` (by a proxy) is still
/// recognised.
fn is_anthropic_only_type(kind: &str) -> bool {
    matches!(
        kind,
        "overloaded_error"
            | "rate_limit_error"
            | "authentication_error"
            | "permission_error"
            | "not_found_error"
            | "request_too_large"
            | "billing_error"
            | "timeout_error"
    )
}

/// A gRPC status name as Google's APIs write it: `RESOURCE_EXHAUSTED`.
fn is_grpc_status(status: &str) -> bool {
    (1..=32).contains(&status.len())
        && status
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || byte == b'_')
}

/// Whether `haystack` contains `needle`, ignoring ASCII case; only the first
/// [`SCANNED`] bytes of `haystack` are searched.
pub(super) fn contains_ci(haystack: &str, needle: &str) -> bool {
    let haystack = &haystack.as_bytes()[..haystack.len().min(SCANNED)];
    let needle = needle.as_bytes();
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

/// A protobuf JSON `Duration` as Gemini writes `RetryInfo.retryDelay`:
/// seconds with up to nine fractional digits and an `s`: `13s`, `0.5s`,
/// `1.000340s`. `None` for anything else (a sign, another unit) and above
/// [`MAX_HINT`](crate::hint::MAX_HINT).
pub(super) fn parse_protobuf_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (int, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    parse_go_duration(text.as_bytes())
}

/// A wait written into a message: OpenAI's "Please try again in 6s." (also
/// `20ms`, `1m30.5s`, `9.816s`), Azure's "Please retry after 6 seconds." and
/// "Try again in 2 seconds.", Gemini's "Please retry in 26.15s.". `None` when
/// the message has none, or the wait is unparseable or above
/// [`MAX_HINT`](crate::hint::MAX_HINT).
fn message_delay(message: &str) -> Option<Duration> {
    let scanned = &message.as_bytes()[..message.len().min(SCANNED)];
    ["try again in ", "retry after ", "retry in "]
        .iter()
        .find_map(|prefix| {
            let prefix = prefix.as_bytes();
            let at = scanned
                .windows(prefix.len())
                .position(|window| window.eq_ignore_ascii_case(prefix))?;
            delay_at(&scanned[at + prefix.len()..])
        })
}

/// The wait at the start of `text`: a Go duration (`6s`, `1m30.5s`), or a
/// number followed by a word (`6 seconds`, `500 milliseconds`, `2 minutes`).
fn delay_at(text: &[u8]) -> Option<Duration> {
    let token_len = text
        .iter()
        .position(|byte| byte.is_ascii_whitespace() || matches!(byte, b',' | b';' | b')'))
        .unwrap_or(text.len());
    let (token, rest) = text.split_at(token_len);
    // "6s." ends a sentence; the dot is not part of the duration.
    let token = token.strip_suffix(b".").unwrap_or(token);
    if token.is_empty() || token.len() > 32 {
        return None;
    }
    if let Some(after) = parse_go_duration(token) {
        return Some(after);
    }
    let word = rest.trim_ascii_start();
    let unit: &[u8] = if starts_with_ci(word, b"millisecond") {
        b"ms"
    } else if starts_with_ci(word, b"second") || starts_with_ci(word, b"sec") {
        b"s"
    } else if starts_with_ci(word, b"minute") || starts_with_ci(word, b"min") {
        b"m"
    } else {
        return None;
    };
    if !token
        .iter()
        .all(|&byte| byte.is_ascii_digit() || byte == b'.')
    {
        return None;
    }
    // The number and its unit, as a Go duration, on the stack.
    let mut buffer = [0_u8; 34];
    buffer[..token.len()].copy_from_slice(token);
    buffer[token.len()..token.len() + unit.len()].copy_from_slice(unit);
    parse_go_duration(&buffer[..token.len() + unit.len()])
}

fn starts_with_ci(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_durations() {
        assert_eq!(
            parse_protobuf_duration("13s"),
            Some(Duration::from_secs(13))
        );
        assert_eq!(
            parse_protobuf_duration("0.5s"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_protobuf_duration("1.000340s"),
            Some(Duration::from_micros(1_000_340))
        );
        for bad in [
            "",
            "s",
            "13",
            "-1s",
            "1m",
            "1m3s",
            ".5s",
            "1.0000000001s",
            "86401s",
        ] {
            assert_eq!(parse_protobuf_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn message_delays() {
        let cases = [
            (
                "Please try again in 6s. Visit",
                Some(Duration::from_secs(6)),
            ),
            ("Please try again in 20ms.", Some(Duration::from_millis(20))),
            (
                "Please try again in 1m30.5s.",
                Some(Duration::from_millis(90_500)),
            ),
            (
                "Please try again in 9.816s.",
                Some(Duration::from_millis(9816)),
            ),
            (
                "Please retry after 6 seconds.",
                Some(Duration::from_secs(6)),
            ),
            (
                "Rate limit is exceeded. Try again in 2 seconds.",
                Some(Duration::from_secs(2)),
            ),
            (
                "Please retry in 26.15s.",
                Some(Duration::from_millis(26_150)),
            ),
            (
                "PLEASE TRY AGAIN IN 1 MINUTE",
                Some(Duration::from_secs(60)),
            ),
            (
                "Please retry after 86400 seconds.",
                Some(Duration::from_secs(86_400)),
            ),
            ("Please retry after 86401 seconds.", None),
            ("Please try again later.", None),
            ("Please try again in ", None),
            ("try again in -5s", None),
            (
                "try again in 99999999999999999999999999999999999 seconds",
                None,
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(message_delay(message), expected, "{message}");
        }
    }

    #[test]
    fn contains_ignores_ascii_case_only() {
        assert!(contains_ci(
            "Prompt IS too long: 1 > 0",
            "prompt is too long"
        ));
        assert!(!contains_ci("prompt", "prompt is too long"));
        assert!(contains_ci("anything", ""));
    }
}
