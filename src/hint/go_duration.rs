//! Go's `time.Duration` text form, as OpenAI sends in
//! `x-ratelimit-reset-*`.

use std::time::Duration;

use super::number::{scan_decimal, trim_ows, within_ceiling};

/// Parses a Go-style duration, as OpenAI sends in
/// `x-ratelimit-reset-requests` and `x-ratelimit-reset-tokens`.
///
/// The grammar is that of Go's `time.ParseDuration` without a sign: one or
/// more decimal numbers (`[digits][.[digits]]`), each followed by a unit,
/// `h`, `m`, `s`, `ms`, `us` (also `µs` and `μs`) or `ns`, in any order
/// (`6m0s`, `1m30.5s`, `1h2m3s`, `20ms`, `2.5s`); or a bare `0`. Spaces and
/// tabs around the value are ignored. Precision is truncated to whole
/// nanoseconds.
///
/// Returns `None` for anything else: an empty value, a sign (`-1s`, `+1s`), a
/// number without a unit (`5`), an unknown or upper-case unit (`1S`,
/// `1sec`), overflow, or a duration above [`MAX_HINT`](super::MAX_HINT).
///
/// ```
/// use std::time::Duration;
/// use tower_failover::hint::parse_go_duration;
///
/// assert_eq!(parse_go_duration(b"6m0s"), Some(Duration::from_secs(360)));
/// assert_eq!(parse_go_duration(b"1m30.5s"), Some(Duration::from_millis(90_500)));
/// assert_eq!(parse_go_duration(b"20ms"), Some(Duration::from_millis(20)));
/// assert_eq!(parse_go_duration("500µs".as_bytes()), Some(Duration::from_micros(500)));
/// assert_eq!(parse_go_duration(b"0"), Some(Duration::ZERO));
/// assert_eq!(parse_go_duration(b"-1s"), None);
/// assert_eq!(parse_go_duration(b"90"), None);
/// assert_eq!(parse_go_duration(b"25h"), None); // above MAX_HINT
/// ```
#[must_use]
pub fn parse_go_duration(value: &[u8]) -> Option<Duration> {
    let mut rest = trim_ows(value);
    match rest {
        [] => return None,
        b"0" => return Some(Duration::ZERO),
        _ => {}
    }
    let mut total = 0_u64;
    while !rest.is_empty() {
        let (number, after) = scan_decimal(rest)?;
        // Like Go: the unit runs up to the next number (or the end).
        let unit_len = after
            .iter()
            .position(|&byte| byte == b'.' || byte.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        total = total.checked_add(number.nanos(unit_nanos(unit)?)?)?;
        rest = after;
    }
    within_ceiling(Duration::from_nanos(total))
}

/// Nanoseconds in one Go duration unit.
fn unit_nanos(unit: &[u8]) -> Option<u64> {
    Some(match unit {
        b"ns" => 1,
        // "us", then U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU.
        b"us" | b"\xC2\xB5s" | b"\xCE\xBCs" => 1_000,
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60_000_000_000,
        b"h" => 3_600_000_000_000,
        _ => return None,
    })
}
