//! Parsers for the single-value hint headers: `retry-after-ms`,
//! `retry-after`, `x-should-retry` and `grpc-retry-pushback-ms`.

use std::time::{Duration, SystemTime};

use super::Hint;
use super::number::{
    MILLI, SECOND, delay_until, is_zeros, parse_decimal, parse_integer, trim_ows, within_ceiling,
};

/// Parses `retry-after-ms` (OpenAI and OpenAI-compatible servers) or
/// `x-ms-retry-after-ms` (Azure OpenAI): milliseconds to wait.
///
/// The value is a non-negative decimal number, `1500` or `1500.5` (the OpenAI
/// SDKs read it as a float), truncated to whole nanoseconds; spaces and tabs
/// around it are ignored. Returns `None` for anything else (empty, a sign,
/// an exponent, `NaN`, `inf`), on overflow, and above
/// [`MAX_HINT`](super::MAX_HINT).
///
/// ```
/// use std::time::Duration;
/// use tower_failover::hint::parse_retry_after_ms;
///
/// assert_eq!(parse_retry_after_ms(b"1500"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_retry_after_ms(b"1500.5"), Some(Duration::from_micros(1_500_500)));
/// assert_eq!(parse_retry_after_ms(b"-1"), None);
/// assert_eq!(parse_retry_after_ms(b"1e3"), None);
/// ```
#[must_use]
pub fn parse_retry_after_ms(value: &[u8]) -> Option<Duration> {
    parse_decimal(trim_ows(value))?.hint(MILLI)
}

/// Parses `retry-after` (RFC 9110, section 10.2.3): delta-seconds or an
/// HTTP-date, as the time to wait from `now`.
///
/// Delta-seconds is a non-negative integer; like the official SDKs, a decimal
/// (`1.5`) is accepted too and truncated to whole nanoseconds. An HTTP-date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete RFC 850 and asctime
/// forms) is read relative to `now`, and one in the past means "now":
/// [`Duration::ZERO`]. Spaces and tabs around the value are ignored.
///
/// Returns `None` for anything else (a sign, an exponent, `NaN`, a malformed
/// date), on overflow, and for a wait above [`MAX_HINT`](super::MAX_HINT).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_failover::hint::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_757); // 08:49:17 GMT
/// assert_eq!(parse_retry_after(b"17", now), Some(Duration::from_secs(17)));
/// assert_eq!(parse_retry_after(b"0.5", now), Some(Duration::from_millis(500)));
/// assert_eq!(
///     parse_retry_after(b"Sun, 06 Nov 1994 08:49:37 GMT", now),
///     Some(Duration::from_secs(20)),
/// );
/// assert_eq!(
///     parse_retry_after(b"Sun, 06 Nov 1994 08:00:00 GMT", now),
///     Some(Duration::ZERO),
/// );
/// assert_eq!(parse_retry_after(b"-1", now), None);
/// assert_eq!(parse_retry_after(b"soon", now), None);
/// ```
#[must_use]
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    retry_after_lazy(value, || now)
}

/// [`parse_retry_after`], calling `now` only when the value is a valid
/// HTTP-date, so that delta-seconds never read the clock.
pub(super) fn retry_after_lazy(value: &[u8], now: impl FnOnce() -> SystemTime) -> Option<Duration> {
    let value = trim_ows(value);
    match value.first()? {
        // Every HTTP-date form starts with the name of a day.
        b'0'..=b'9' | b'.' => parse_decimal(value)?.hint(SECOND),
        _ => {
            let date = httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()?;
            delay_until(date, now())
        }
    }
}

/// Parses `x-should-retry` (OpenAI, Anthropic): the server's explicit verdict
/// on retrying.
///
/// `true` or `false`, in any case, with spaces and tabs around it ignored;
/// anything else is `None` (no verdict).
///
/// ```
/// use tower_failover::hint::parse_should_retry;
///
/// assert_eq!(parse_should_retry(b"true"), Some(true));
/// assert_eq!(parse_should_retry(b" FALSE "), Some(false));
/// assert_eq!(parse_should_retry(b"0"), None);
/// ```
#[must_use]
pub fn parse_should_retry(value: &[u8]) -> Option<bool> {
    let value = trim_ows(value);
    if value.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Parses `grpc-retry-pushback-ms` (gRPC retry design, gRFC A6): a hint with
/// either a wait or a refusal.
///
/// A non-negative integer is milliseconds to wait
/// ([`Hint::retry_after`]); a negative integer is the server asking not to
/// retry at all ([`Hint::should_retry`] is `Some(false)`; `-0` is zero, not
/// negative). Spaces and tabs around the value are ignored.
///
/// Returns `None` (no hint) for anything else, for a wait that overflows or
/// exceeds [`MAX_HINT`](super::MAX_HINT), and for decimals. gRFC A6 itself
/// treats an unparseable value as "do not retry"; this crate keeps to its
/// rule that garbage is no hint, so the classification decides.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::hint::{Hint, parse_grpc_pushback_ms};
///
/// assert_eq!(
///     parse_grpc_pushback_ms(b"250"),
///     Some(Hint::NONE.with_retry_after(Duration::from_millis(250))),
/// );
/// assert_eq!(parse_grpc_pushback_ms(b"-1"), Some(Hint::NONE.with_should_retry(false)));
/// assert_eq!(parse_grpc_pushback_ms(b"1.5"), None);
/// ```
#[must_use]
pub fn parse_grpc_pushback_ms(value: &[u8]) -> Option<Hint> {
    match trim_ows(value) {
        [b'-', digits @ ..] => {
            // Any length: the sign alone says "do not retry", even when the
            // magnitude would overflow.
            if is_zeros(digits) {
                Some(Hint::NONE.with_retry_after(Duration::ZERO))
            } else if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                Some(Hint::NONE.with_should_retry(false))
            } else {
                None
            }
        }
        digits => {
            let millis = parse_integer(digits)?;
            let after = within_ceiling(Duration::from_millis(millis))?;
            Some(Hint::NONE.with_retry_after(after))
        }
    }
}
