//! Go's `time.Duration` text form, as OpenAI sends in
//! `x-ratelimit-reset-*`, and as `crate::de` reads durations in configs:
//! one scanner for both.

use std::ops::Range;
use std::time::Duration;

use super::number::{scan_decimal, trim_ows_end, trim_ows_start, within_ceiling};

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
    let nanos = u64::try_from(scan_go_duration(value).ok()?).ok()?;
    within_ceiling(Duration::from_nanos(nanos))
}

/// Why [`scan_go_duration`] rejected a value. The header parser only needs
/// to know that it did; `crate::de` says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GoDurationError {
    /// Nothing but spaces and tabs.
    Empty,
    /// A number at the end without a unit (`30`, `1m30`).
    MissingUnit,
    /// A leading `-`.
    Negative,
    /// A unit that is not one of Go's, at this range of the value given.
    UnknownUnit(#[cfg_attr(not(feature = "serde"), allow(dead_code))] Range<usize>),
    /// Anything else that is not a duration (`+1s`, `s`, `.`, `1.5.5s`).
    Malformed,
    /// Too many nanoseconds for a `u128`.
    Overflow,
}

/// The grammar of [`parse_go_duration`], without its ceiling: the total in
/// nanoseconds, or why `value` is not a duration. Spaces and tabs around
/// `value` are ignored.
pub(crate) fn scan_go_duration(value: &[u8]) -> Result<u128, GoDurationError> {
    let start = trim_ows_start(value);
    // Where the text proper starts in `value`, to locate an unknown unit.
    let offset = value.len() - start.len();
    let text = trim_ows_end(start);
    match text {
        [] => return Err(GoDurationError::Empty),
        b"0" => return Ok(0),
        [b'-', ..] => return Err(GoDurationError::Negative),
        _ => {}
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (number, after) = scan_decimal(rest).ok_or_else(|| {
            // With a leading digit there is a number: it is too long.
            if rest.first().is_some_and(u8::is_ascii_digit) {
                GoDurationError::Overflow
            } else {
                GoDurationError::Malformed
            }
        })?;
        // Like Go: the unit runs up to the next number (or the end).
        let unit_len = after
            .iter()
            .position(|&byte| byte == b'.' || byte.is_ascii_digit())
            .unwrap_or(after.len());
        let unit_start = offset + text.len() - after.len();
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos = match unit_nanos(unit) {
            Some(nanos) => nanos,
            None if !unit.is_empty() => {
                return Err(GoDurationError::UnknownUnit(
                    unit_start..unit_start + unit_len,
                ));
            }
            None if after.is_empty() => return Err(GoDurationError::MissingUnit),
            None => return Err(GoDurationError::Malformed),
        };
        total = number
            .wide_nanos(unit_nanos)
            .and_then(|nanos| total.checked_add(nanos))
            .ok_or(GoDurationError::Overflow)?;
        rest = after;
    }
    Ok(total)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_the_grammar_in_nanoseconds() {
        assert_eq!(scan_go_duration(b"0"), Ok(0));
        assert_eq!(scan_go_duration(b" 1m30.5s\t"), Ok(90_500_000_000));
        assert_eq!(scan_go_duration("2µs7ns".as_bytes()), Ok(2_007));
        // No ceiling, and past a u64 of nanoseconds.
        assert_eq!(
            scan_go_duration(b"18446744073709551616ns"),
            Ok(1_u128 << 64)
        );
    }

    #[test]
    fn says_why_a_value_is_not_a_duration() {
        use GoDurationError::*;
        let cases: [(&[u8], GoDurationError); 12] = [
            (b"", Empty),
            (b" \t", Empty),
            (b"30", MissingUnit),
            (b"1m30", MissingUnit),
            (b"-1s", Negative),
            (b"+1s", Malformed),
            (b"s", Malformed),
            (b".", Malformed),
            (b"1.5.5s", Malformed),
            (b"1s.s", Malformed),
            (b"340282366920938463463374607431768211456ns", Overflow),
            (b"340282366920938463463374607431768211455h", Overflow),
        ];
        for (value, error) in cases {
            assert_eq!(
                scan_go_duration(value),
                Err(error),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn locates_an_unknown_unit_in_the_value_given() {
        let value = b"  1m30sec ";
        let Err(GoDurationError::UnknownUnit(range)) = scan_go_duration(value) else {
            panic!("not an unknown unit");
        };
        assert_eq!(&value[range], b"sec");
        let value = b"\t1S";
        let Err(GoDurationError::UnknownUnit(range)) = scan_go_duration(value) else {
            panic!("not an unknown unit");
        };
        assert_eq!(&value[range], b"S");
    }
}
