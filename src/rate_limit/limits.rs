use std::time::{Duration, SystemTime};

use http::HeaderMap;

use crate::hint::{Hint, parse_go_duration, parse_rfc3339_delay};

/// What the upstream said about its rate limits in one response: how many
/// requests and tokens are left until when, and how long to stop sending
/// altogether (a 429's `retry-after`).
///
/// Read from the headers by [`HeaderLimits`], or built by your own
/// [`ReadLimits`] for responses that carry them elsewhere.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::HeaderMap;
/// use tower_failover::rate_limit::Limits;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
/// headers.insert("x-ratelimit-reset-requests", "1s".parse().unwrap());
/// headers.insert("x-ratelimit-remaining-tokens", "soon".parse().unwrap()); // garbage: ignored
/// headers.insert("x-ratelimit-reset-tokens", "6m0s".parse().unwrap());
///
/// let limits = Limits::from_headers_at(&headers, SystemTime::UNIX_EPOCH);
/// assert_eq!(limits.requests(), Some((0, Duration::from_secs(1))));
/// assert_eq!(limits.tokens(), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    requests: Option<(u64, Duration)>,
    tokens: Option<(u64, Duration)>,
    retry_after: Option<Duration>,
}

impl Limits {
    /// Nothing said.
    pub const NONE: Limits = Limits {
        requests: None,
        tokens: None,
        retry_after: None,
    };

    /// These limits, with `remaining` requests left until `reset` from now.
    #[must_use]
    pub const fn with_requests(mut self, remaining: u64, reset: Duration) -> Self {
        self.requests = Some((remaining, reset));
        self
    }

    /// These limits, with `remaining` tokens left until `reset` from now.
    #[must_use]
    pub const fn with_tokens(mut self, remaining: u64, reset: Duration) -> Self {
        self.tokens = Some((remaining, reset));
        self
    }

    /// These limits, asking for no request at all for `after`.
    #[must_use]
    pub const fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Requests left, and the time until they refill.
    pub const fn requests(&self) -> Option<(u64, Duration)> {
        self.requests
    }

    /// Tokens left, and the time until they refill.
    pub const fn tokens(&self) -> Option<(u64, Duration)> {
        self.tokens
    }

    /// How long to send nothing at all.
    pub const fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether nothing was said.
    pub const fn is_none(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none() && self.retry_after.is_none()
    }

    /// Reads the rate-limit headers, with Anthropic's RFC 3339 resets taken
    /// relative to the wall clock: see [`from_headers_at`](Self::from_headers_at).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::read(headers, SystemTime::now)
    }

    /// Reads the rate-limit headers, Anthropic's RFC 3339 resets relative
    /// to `now`.
    ///
    /// | limit | remaining | reset |
    /// |---|---|---|
    /// | requests | `x-ratelimit-remaining-requests` | `x-ratelimit-reset-requests` (Go duration: `1s`, `6m0s`) |
    /// | tokens | `x-ratelimit-remaining-tokens` | `x-ratelimit-reset-tokens` |
    /// | requests | `anthropic-ratelimit-requests-remaining` | `anthropic-ratelimit-requests-reset` (RFC 3339) |
    /// | tokens | `anthropic-ratelimit-tokens-remaining` (else `-input-tokens-`) | `anthropic-ratelimit-tokens-reset` (else `-input-tokens-`) |
    ///
    /// A limit is read only when both its remaining count (plain decimal
    /// digits) and its reset (as [`crate::hint`] parses them: at most
    /// [`MAX_HINT`](crate::hint::MAX_HINT)) are valid; anything else is
    /// ignored, as if absent. OpenAI's headers win over Anthropic's when a
    /// response has both. The `retry-after` of a 429 is read by
    /// [`HeaderLimits`], not here.
    pub fn from_headers_at(headers: &HeaderMap, now: SystemTime) -> Self {
        Self::read(headers, || now)
    }

    fn read(headers: &HeaderMap, now: impl Fn() -> SystemTime) -> Self {
        let found = Found::gather(headers);
        let go = |(remaining, reset): (Option<&[u8]>, Option<&[u8]>)| {
            Some((parse_count(remaining?)?, parse_go_duration(reset?)?))
        };
        let rfc = |(remaining, reset): (Option<&[u8]>, Option<&[u8]>)| {
            let remaining = parse_count(remaining?)?;
            Some((remaining, parse_rfc3339_delay(reset?, now())?))
        };
        Self {
            requests: go(found.openai_requests).or_else(|| rfc(found.anthropic_requests)),
            tokens: go(found.openai_tokens)
                .or_else(|| rfc(found.anthropic_tokens))
                .or_else(|| rfc(found.anthropic_input_tokens)),
            retry_after: None,
        }
    }
}

/// The first value of each rate-limit header, as `(remaining, reset)`,
/// gathered in one pass over the map (no lookup, so no hashing of names; a
/// response without headers costs nothing).
#[derive(Default)]
struct Found<'a> {
    openai_requests: (Option<&'a [u8]>, Option<&'a [u8]>),
    openai_tokens: (Option<&'a [u8]>, Option<&'a [u8]>),
    anthropic_requests: (Option<&'a [u8]>, Option<&'a [u8]>),
    anthropic_tokens: (Option<&'a [u8]>, Option<&'a [u8]>),
    anthropic_input_tokens: (Option<&'a [u8]>, Option<&'a [u8]>),
}

impl<'a> Found<'a> {
    #[inline]
    fn gather(headers: &'a HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            let slot = match name.as_str() {
                "x-ratelimit-remaining-requests" => &mut found.openai_requests.0,
                "x-ratelimit-reset-requests" => &mut found.openai_requests.1,
                "x-ratelimit-remaining-tokens" => &mut found.openai_tokens.0,
                "x-ratelimit-reset-tokens" => &mut found.openai_tokens.1,
                "anthropic-ratelimit-requests-remaining" => &mut found.anthropic_requests.0,
                "anthropic-ratelimit-requests-reset" => &mut found.anthropic_requests.1,
                "anthropic-ratelimit-tokens-remaining" => &mut found.anthropic_tokens.0,
                "anthropic-ratelimit-tokens-reset" => &mut found.anthropic_tokens.1,
                "anthropic-ratelimit-input-tokens-remaining" => &mut found.anthropic_input_tokens.0,
                "anthropic-ratelimit-input-tokens-reset" => &mut found.anthropic_input_tokens.1,
                _ => continue,
            };
            slot.get_or_insert(value.as_bytes());
        }
        found
    }
}

/// A count: ASCII digits, optional spaces or tabs around them, nothing else
/// (no sign, no decimals). Saturates rather than overflows.
fn parse_count(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 20 {
        return None;
    }
    let mut count: u64 = 0;
    for &byte in value {
        if !byte.is_ascii_digit() {
            return None;
        }
        count = count
            .saturating_mul(10)
            .saturating_add(u64::from(byte - b'0'));
    }
    Some(count)
}

/// Reads what a response says about the upstream's rate limits, for a
/// [`RateLimit`](super::RateLimit) that adapts.
///
/// Implemented by [`HeaderLimits`] (HTTP responses, the default), by
/// [`NoLimits`] (any response, reads nothing and costs nothing) and by any
/// closure `Fn(&Res) -> Limits`.
pub trait ReadLimits<Res> {
    /// What `response` says.
    fn read_limits(&self, response: &Res) -> Limits;

    /// Whether this reader may ever say something; `false` lets the limiter
    /// skip the response altogether.
    fn enabled(&self) -> bool {
        true
    }
}

/// Reads the rate-limit headers of an `http::Response` (OpenAI's and
/// Anthropic's: see [`Limits::from_headers_at`]) and, on a 429, the
/// server's hint ([`Hint::from_headers`]) as a pause for every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeaderLimits;

impl<B> ReadLimits<http::Response<B>> for HeaderLimits {
    #[inline]
    fn read_limits(&self, response: &http::Response<B>) -> Limits {
        let headers = response.headers();
        let mut limits = Limits::from_headers(headers);
        if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
            limits.retry_after = Hint::from_headers(headers).retry_after();
        }
        limits
    }
}

/// Reads nothing: for responses without rate-limit information, or to keep
/// the bucket at its configured rate whatever the upstream says.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLimits;

impl<Res> ReadLimits<Res> for NoLimits {
    #[inline]
    fn read_limits(&self, _: &Res) -> Limits {
        Limits::NONE
    }

    #[inline]
    fn enabled(&self) -> bool {
        false
    }
}

impl<Res, F: Fn(&Res) -> Limits> ReadLimits<Res> for F {
    #[inline]
    fn read_limits(&self, response: &Res) -> Limits {
        self(response)
    }
}
