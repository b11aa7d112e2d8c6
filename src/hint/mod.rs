//! Server hints: how long the upstream asked the caller to wait, and whether
//! it said to retry at all.
//!
//! A failed response from an LLM API usually says more than its status. A 429
//! from OpenAI carries the reset times of its rate limits; Anthropic sends
//! `retry-after` and RFC 3339 reset timestamps; Azure OpenAI sends
//! milliseconds; both OpenAI and Anthropic may send `x-should-retry` to
//! overrule the status. [`Hint::from_headers`] reads all of them into one
//! small `Copy` value: a [`retry_after`](Hint::retry_after) and a
//! [`should_retry`](Hint::should_retry). The default classifier
//! ([`DefaultClassifier`](crate::classify::DefaultClassifier)) calls it on
//! every failed response, so it is cheap and never allocates; the parsers
//! behind it are public, for clients that read these headers themselves.
//!
//! # Headers
//!
//! | header | value | sent by | parser |
//! |---|---|---|---|
//! | `retry-after-ms` | milliseconds: `1500`, `1500.5` | OpenAI-compatible servers, Azure OpenAI | [`parse_retry_after_ms`] |
//! | `x-ms-retry-after-ms` | milliseconds | Azure OpenAI (and other Azure services) | [`parse_retry_after_ms`] |
//! | `retry-after` | seconds (`17`, decimals accepted) or an HTTP-date | Anthropic, Azure OpenAI, any HTTP server or gateway (RFC 9110) | [`parse_retry_after`] |
//! | `grpc-retry-pushback-ms` | integer milliseconds; negative: do not retry | gRPC servers (gRFC A6) | [`parse_grpc_pushback_ms`] |
//! | `x-ratelimit-reset-requests`, `x-ratelimit-reset-tokens` | Go duration: `1s`, `6m0s`, `1m30.5s`, `20ms` | OpenAI and OpenAI-compatible servers | [`parse_go_duration`] |
//! | `anthropic-ratelimit-requests-reset`, `-tokens-reset`, `-input-tokens-reset`, `-output-tokens-reset` | RFC 3339: `2024-10-25T22:01:30Z` | Anthropic | [`parse_rfc3339_delay`] |
//! | `x-should-retry` | `true` or `false` | OpenAI, Anthropic | [`parse_should_retry`] |
//!
//! Header names are case-insensitive (as in any [`HeaderMap`]); when a header
//! appears more than once, only its first value is read. Spaces and tabs
//! around a value are ignored.
//!
//! # Precedence
//!
//! [`Hint::retry_after`] comes from the first of these that yields a valid
//! value; a header that is absent or yields no hint (see below) is skipped:
//!
//! 1. `retry-after-ms`;
//! 2. `x-ms-retry-after-ms`;
//! 3. `retry-after`;
//! 4. `grpc-retry-pushback-ms`, when it is not negative;
//! 5. the rate-limit resets, `x-ratelimit-reset-*` and
//!    `anthropic-ratelimit-*-reset`. A reset says when one limit refills, not
//!    when a request will pass, so the choice among them is made from the
//!    matching `*-remaining` headers (`x-ratelimit-remaining-tokens`,
//!    `anthropic-ratelimit-input-tokens-remaining` and so on): the limits
//!    whose remaining count is `0` are the ones in the way, and all of them
//!    must refill, so the **latest** of their resets wins. When no remaining
//!    header says `0` (or none is sent), the latest of all the resets present
//!    wins: waiting too long once is cheaper than a retry that is rejected
//!    again.
//!
//! [`Hint::should_retry`] comes from `x-should-retry`, and a negative
//! `grpc-retry-pushback-ms` means `Some(false)`. When the two disagree the
//! refusal wins.
//!
//! # Safe defaults
//!
//! These headers come from the network, so every parser reads them as
//! untrusted input: it never panics, never allocates, and returns `None`
//! rather than guess. Garbage (`soon`, `1e3`, `NaN`, `+5`, an empty value,
//! February 30, `24:00:00`), negative values, values that overflow and
//! **absurd** values, waits above [`MAX_HINT`] (24 hours), all yield **no
//! hint**, exactly as if the header were absent. The caller then falls back
//! on its own policy (the retry layer's backoff), which is bounded and sane.
//! A date in the past is not garbage: it means "now" ([`Duration::ZERO`]).
//!
//! A hint that survives parsing may still be far longer than a caller wants
//! to wait; capping it is the retry layer's job (its `max_retry_after`), not
//! the parser's.
//!
//! # Time
//!
//! `retry-after` dates and the Anthropic resets are instants, turned into a
//! wait relative to a "now". [`Hint::from_headers`] uses the wall clock
//! ([`SystemTime::now`]), so a skewed local clock skews these hints (a clock
//! that runs ahead shortens them, down to zero). It reads the clock only
//! when such an instant is present and valid, and then once, so responses
//! without one never pay for it. Tests should call
//! [`Hint::from_headers_at`] with a fixed `now`; the relative forms
//! (milliseconds, seconds, Go durations) do not depend on it.
//!
//! # Examples
//!
//! A 429 from OpenAI: no `retry-after`, the requests limit is exhausted and
//! resets in a second, while the tokens limit still has room.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use http::HeaderMap;
//! use tower_failover::hint::Hint;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
//! headers.insert("x-ratelimit-reset-requests", "1s".parse().unwrap());
//! headers.insert("x-ratelimit-remaining-tokens", "39000".parse().unwrap());
//! headers.insert("x-ratelimit-reset-tokens", "6m0s".parse().unwrap());
//!
//! let hint = Hint::from_headers_at(&headers, SystemTime::UNIX_EPOCH);
//! assert_eq!(hint.retry_after(), Some(Duration::from_secs(1)));
//! assert_eq!(hint.should_retry(), None);
//! ```
//!
//! A 429 from Anthropic, read at a fixed instant: `retry-after` wins over the
//! reset timestamp.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use http::HeaderMap;
//! use tower_failover::hint::Hint;
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_729_893_673); // 2024-10-25T22:01:13Z
//! let mut headers = HeaderMap::new();
//! headers.insert("retry-after", "17".parse().unwrap());
//! headers.insert("anthropic-ratelimit-tokens-remaining", "0".parse().unwrap());
//! headers.insert("anthropic-ratelimit-tokens-reset", "2024-10-25T22:01:40Z".parse().unwrap());
//!
//! let hint = Hint::from_headers_at(&headers, now);
//! assert_eq!(hint.retry_after(), Some(Duration::from_secs(17)));
//!
//! // Without `retry-after`, the reset is 27 seconds away.
//! headers.remove("retry-after");
//! let hint = Hint::from_headers_at(&headers, now);
//! assert_eq!(hint.retry_after(), Some(Duration::from_secs(27)));
//! ```
//!
//! Garbage and absurd values are no hint; an explicit refusal is kept.
//!
//! ```
//! use std::time::SystemTime;
//! use http::HeaderMap;
//! use tower_failover::hint::Hint;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("retry-after-ms", "NaN".parse().unwrap());
//! headers.insert("retry-after", "31536000".parse().unwrap()); // a year
//! headers.insert("x-should-retry", "false".parse().unwrap());
//!
//! let hint = Hint::from_headers_at(&headers, SystemTime::UNIX_EPOCH);
//! assert_eq!(hint, Hint::NONE.with_should_retry(false));
//! ```

mod go_duration;
mod number;
mod parse;
mod rfc3339;

use std::time::{Duration, SystemTime};

use http::HeaderMap;

pub use self::go_duration::parse_go_duration;
#[cfg(feature = "serde")]
pub(crate) use self::go_duration::{GoDurationError, scan_go_duration};
pub use self::parse::{
    parse_grpc_pushback_ms, parse_retry_after, parse_retry_after_ms, parse_should_retry,
};
pub use self::rfc3339::{parse_rfc3339, parse_rfc3339_delay};

/// The longest wait a server hint may ask for: 24 hours.
///
/// Every parser in this module treats a longer wait as absurd (a bug, a
/// misconfigured proxy, a clock far off) and returns no hint for it, as for
/// garbage. A wait of exactly `MAX_HINT` is kept. Daily rate limits reset
/// within it; anything longer is not a retry the caller should plan for.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::hint::{MAX_HINT, parse_go_duration};
///
/// assert_eq!(MAX_HINT, Duration::from_secs(24 * 60 * 60));
/// assert_eq!(parse_go_duration(b"24h"), Some(MAX_HINT));
/// assert_eq!(parse_go_duration(b"24h0m0.001s"), None);
/// ```
pub const MAX_HINT: Duration = Duration::from_secs(24 * 60 * 60);

/// What a response said about retrying it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hint {
    retry_after: Option<Duration>,
    should_retry: Option<bool>,
}

impl Hint {
    /// No hint at all.
    pub const NONE: Hint = Hint {
        retry_after: None,
        should_retry: None,
    };

    /// This hint, asking the caller to wait `after` before retrying.
    #[must_use]
    pub const fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// This hint, saying explicitly whether to retry.
    #[must_use]
    pub const fn with_should_retry(mut self, should_retry: bool) -> Self {
        self.should_retry = Some(should_retry);
        self
    }

    /// How long the server asked the caller to wait, if it said.
    pub const fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The server's explicit verdict on retrying (`x-should-retry`, or a
    /// negative `grpc-retry-pushback-ms`), if any.
    pub const fn should_retry(&self) -> Option<bool> {
        self.should_retry
    }

    /// Reads the hint from response headers, relative to the wall clock.
    ///
    /// The same as [`from_headers_at`](Self::from_headers_at) with
    /// [`SystemTime::now`]; see the [module docs](self) for the headers, their
    /// precedence and what yields no hint. The clock is read only when the
    /// hint needs it (a valid HTTP-date in `retry-after`, or an Anthropic
    /// reset that is consulted), and at most once.
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::read(headers, SystemTime::now)
    }

    /// Reads the hint from response headers, relative to `now`.
    ///
    /// `now` only matters for the headers that carry an instant (an HTTP-date
    /// in `retry-after`, Anthropic's RFC 3339 resets); pass a fixed one in
    /// tests. The headers, their precedence and what yields no hint are in
    /// the [module docs](self). Cheap and allocation-free: one pass over the
    /// header names, and no parsing past the first valid wait.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use http::HeaderMap;
    /// use tower_failover::hint::Hint;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("retry-after-ms", "1500".parse().unwrap());
    /// headers.insert("retry-after", "2".parse().unwrap());
    ///
    /// let hint = Hint::from_headers_at(&headers, SystemTime::UNIX_EPOCH);
    /// assert_eq!(hint.retry_after(), Some(Duration::from_millis(1500)));
    /// ```
    #[must_use]
    pub fn from_headers_at(headers: &HeaderMap, now: SystemTime) -> Self {
        Self::read(headers, || now)
    }

    /// [`from_headers_at`](Self::from_headers_at), with "now" taken from
    /// `clock` only when an instant has to be turned into a wait.
    fn read(headers: &HeaderMap, clock: impl Fn() -> SystemTime) -> Self {
        let found = Found::gather(headers);
        let mut now = Now::new(clock);

        let pushback = found.pushback.and_then(parse_grpc_pushback_ms);
        let retry_after = found
            .retry_after_ms
            .and_then(parse_retry_after_ms)
            .or_else(|| found.x_ms_retry_after_ms.and_then(parse_retry_after_ms))
            .or_else(|| {
                found
                    .retry_after
                    .and_then(|value| parse::retry_after_lazy(value, || now.get()))
            })
            .or_else(|| pushback.and_then(|hint| hint.retry_after))
            .or_else(|| found.rate_limit_reset(&mut now));

        let explicit = found.should_retry.and_then(parse_should_retry);
        let should_retry = match (explicit, pushback.and_then(|hint| hint.should_retry)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (explicit, _) => explicit,
        };

        Self {
            retry_after,
            should_retry,
        }
    }
}

/// The "now" a hint is read against: taken from a clock on first use, then
/// kept, so the clock is read at most once, and never when no header carries
/// an instant.
struct Now<C> {
    clock: C,
    cached: Option<SystemTime>,
}

impl<C: Fn() -> SystemTime> Now<C> {
    const fn new(clock: C) -> Self {
        Self {
            clock,
            cached: None,
        }
    }

    fn get(&mut self) -> SystemTime {
        *self.cached.get_or_insert_with(&self.clock)
    }
}

/// How a rate-limit reset header writes its value.
#[derive(Clone, Copy, Debug)]
enum ResetFormat {
    /// A Go duration from now (OpenAI).
    GoDuration,
    /// An RFC 3339 instant (Anthropic).
    Rfc3339,
}

/// The rate limits whose resets are read, in the order of
/// [`Found::resets`] and [`Found::remaining`]: OpenAI's requests and tokens,
/// then Anthropic's requests, tokens, input tokens and output tokens.
const RESET_FORMATS: [ResetFormat; 6] = [
    ResetFormat::GoDuration,
    ResetFormat::GoDuration,
    ResetFormat::Rfc3339,
    ResetFormat::Rfc3339,
    ResetFormat::Rfc3339,
    ResetFormat::Rfc3339,
];

/// The first value of every header a hint is read from, gathered in one pass
/// over the map: a response carries a few dozen headers and a handful of
/// these, so one pass costs less than a lookup per name.
#[derive(Debug, Default)]
struct Found<'a> {
    retry_after_ms: Option<&'a [u8]>,
    x_ms_retry_after_ms: Option<&'a [u8]>,
    retry_after: Option<&'a [u8]>,
    pushback: Option<&'a [u8]>,
    should_retry: Option<&'a [u8]>,
    /// The `*-reset` headers, in the order of [`RESET_FORMATS`].
    resets: [Option<&'a [u8]>; 6],
    /// The matching `*-remaining` headers.
    remaining: [Option<&'a [u8]>; 6],
}

impl<'a> Found<'a> {
    fn gather(headers: &'a HeaderMap) -> Self {
        let mut found = Self::default();
        // `iter` yields the values of a repeated name in order, so keeping
        // the first one seen is the same as `HeaderMap::get`.
        for (name, value) in headers {
            let slot = match name.as_str() {
                "retry-after-ms" => &mut found.retry_after_ms,
                "x-ms-retry-after-ms" => &mut found.x_ms_retry_after_ms,
                "retry-after" => &mut found.retry_after,
                "grpc-retry-pushback-ms" => &mut found.pushback,
                "x-should-retry" => &mut found.should_retry,
                "x-ratelimit-reset-requests" => &mut found.resets[0],
                "x-ratelimit-remaining-requests" => &mut found.remaining[0],
                "x-ratelimit-reset-tokens" => &mut found.resets[1],
                "x-ratelimit-remaining-tokens" => &mut found.remaining[1],
                "anthropic-ratelimit-requests-reset" => &mut found.resets[2],
                "anthropic-ratelimit-requests-remaining" => &mut found.remaining[2],
                "anthropic-ratelimit-tokens-reset" => &mut found.resets[3],
                "anthropic-ratelimit-tokens-remaining" => &mut found.remaining[3],
                "anthropic-ratelimit-input-tokens-reset" => &mut found.resets[4],
                "anthropic-ratelimit-input-tokens-remaining" => &mut found.remaining[4],
                "anthropic-ratelimit-output-tokens-reset" => &mut found.resets[5],
                "anthropic-ratelimit-output-tokens-remaining" => &mut found.remaining[5],
                _ => continue,
            };
            slot.get_or_insert(value.as_bytes());
        }
        found
    }

    /// The wait until the rate limits in the way reset: the latest reset
    /// among the exhausted limits (remaining `0`), or if none is known to be
    /// exhausted, the latest of all (see the module docs).
    fn rate_limit_reset(&self, now: &mut Now<impl Fn() -> SystemTime>) -> Option<Duration> {
        let mut exhausted = None;
        let mut latest = None;
        let limits = RESET_FORMATS.iter().zip(self.resets).zip(self.remaining);
        for ((format, reset), remaining) in limits {
            let Some(reset) = reset.and_then(|value| match format {
                ResetFormat::GoDuration => parse_go_duration(value),
                // Parsed first, so that garbage does not read the clock.
                ResetFormat::Rfc3339 => {
                    parse_rfc3339(value).and_then(|at| number::delay_until(at, now.get()))
                }
            }) else {
                continue;
            };
            latest = latest.max(Some(reset));
            if remaining.is_some_and(|value| number::is_zeros(number::trim_ows(value))) {
                exhausted = exhausted.max(Some(reset));
            }
        }
        exhausted.or(latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    /// Reads `pairs` with a clock that counts its reads.
    fn reads_of_the_clock(pairs: &[(&'static str, &'static str)]) -> (Hint, usize) {
        let reads = std::cell::Cell::new(0);
        let hint = Hint::read(&map(pairs), || {
            reads.set(reads.get() + 1);
            SystemTime::UNIX_EPOCH
        });
        (hint, reads.get())
    }

    #[test]
    fn relative_headers_never_read_the_clock() {
        for pairs in [
            &[][..],
            &[("retry-after-ms", "1500")],
            &[("x-ms-retry-after-ms", "1500")],
            &[("retry-after", "17")],
            &[("retry-after", "soon")],
            &[("grpc-retry-pushback-ms", "-1")],
            &[("x-should-retry", "false")],
            &[("x-ratelimit-reset-requests", "1s")],
            &[("anthropic-ratelimit-tokens-reset", "soon")],
            // A valid wait before them: the instants are never parsed.
            &[
                ("retry-after", "17"),
                ("anthropic-ratelimit-tokens-reset", "2024-10-25T22:01:30Z"),
            ],
        ] {
            assert_eq!(reads_of_the_clock(pairs).1, 0, "{pairs:?}");
        }
    }

    #[test]
    fn instants_read_the_clock_once() {
        let (hint, reads) = reads_of_the_clock(&[("retry-after", "Thu, 01 Jan 1970 00:00:17 GMT")]);
        assert_eq!(
            (hint.retry_after(), reads),
            (Some(Duration::from_secs(17)), 1)
        );
        let (hint, reads) = reads_of_the_clock(&[
            ("anthropic-ratelimit-requests-reset", "1970-01-01T00:00:10Z"),
            ("anthropic-ratelimit-tokens-reset", "1970-01-01T00:00:20Z"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "1970-01-01T00:00:30Z",
            ),
        ]);
        assert_eq!(
            (hint.retry_after(), reads),
            (Some(Duration::from_secs(30)), 1)
        );
    }
}
