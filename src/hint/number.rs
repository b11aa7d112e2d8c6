//! The small pieces every hint parser shares: trimming, decimal numbers and
//! their fractions, runs of zeros, the ceiling.

use std::time::{Duration, SystemTime};

use super::MAX_HINT;

/// Nanoseconds in a millisecond.
pub(super) const MILLI: u64 = 1_000_000;
/// Nanoseconds in a second.
pub(super) const SECOND: u64 = 1_000_000_000;

/// The most fractional digits ever kept: `10^18` still fits a `u64`. Digits past
/// these are checked but do not count (they are below a nanosecond for every
/// unit used here).
const MAX_FRACTION_DIGITS: u32 = 18;

/// `bytes` without optional whitespace (RFC 9110 `OWS`: spaces and tabs) at
/// either end.
pub(super) fn trim_ows(bytes: &[u8]) -> &[u8] {
    trim_ows_end(trim_ows_start(bytes))
}

/// `bytes` without optional whitespace at the start.
pub(super) fn trim_ows_start(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// `bytes` without optional whitespace at the end.
pub(super) fn trim_ows_end(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `Some(after)` if `after` is at most [`MAX_HINT`], `None` if it is absurd.
pub(super) fn within_ceiling(after: Duration) -> Option<Duration> {
    (after <= MAX_HINT).then_some(after)
}

/// The time from `now` until `at` (zero if `at` has passed), or `None` if it
/// is further away than [`MAX_HINT`].
pub(super) fn delay_until(at: SystemTime, now: SystemTime) -> Option<Duration> {
    match at.duration_since(now) {
        Ok(after) => within_ceiling(after),
        Err(_) => Some(Duration::ZERO),
    }
}

/// A non-negative decimal number, `int + fraction / scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Decimal {
    // A u128, so that a duration's integer part may exceed a u64 when its
    // unit is small (`18446744073709551616ns` is 584 years).
    int: u128,
    fraction: u64,
    scale: u64,
}

impl Decimal {
    /// This number of units of `unit_nanos` nanoseconds, truncated to whole
    /// nanoseconds; `None` if that does not fit a `u64` of nanoseconds.
    pub(super) fn nanos(self, unit_nanos: u64) -> Option<u64> {
        u64::try_from(self.wide_nanos(unit_nanos)?).ok()
    }

    /// [`nanos`](Self::nanos) in a `u128`: `None` only if that overflows.
    pub(super) fn wide_nanos(self, unit_nanos: u64) -> Option<u128> {
        let whole = self.int.checked_mul(u128::from(unit_nanos))?;
        // fraction < scale, so this part is below one unit.
        let part = u128::from(self.fraction) * u128::from(unit_nanos) / u128::from(self.scale);
        whole.checked_add(part)
    }

    /// This number of units of `unit_nanos` nanoseconds, as a hint: `None`
    /// on overflow or above [`MAX_HINT`].
    pub(super) fn hint(self, unit_nanos: u64) -> Option<Duration> {
        within_ceiling(Duration::from_nanos(self.nanos(unit_nanos)?))
    }
}

/// Reads a decimal number, `[digits][.[digits]]` with at least one digit, from
/// the start of `bytes`, and returns it with the bytes after it.
///
/// No sign, no exponent, no `inf` or `NaN`. `None` if there is no digit or the
/// integer part overflows a `u128` (only possible when `bytes` starts with a
/// digit).
pub(super) fn scan_decimal(bytes: &[u8]) -> Option<(Decimal, &[u8])> {
    let (int, int_digits, mut rest) = scan_integer(bytes)?;
    let mut number = Decimal {
        int,
        fraction: 0,
        scale: 1,
    };
    let mut fraction_digits = 0;
    if let [b'.', after @ ..] = rest {
        let fraction;
        (fraction, rest) = scan_fraction(after, MAX_FRACTION_DIGITS);
        number.fraction = fraction.numerator;
        number.scale = fraction.scale;
        fraction_digits = fraction.digits;
    }
    (int_digits > 0 || fraction_digits > 0).then_some((number, rest))
}

/// The digits after a decimal point, read by [`scan_fraction`]: the fraction
/// they keep is `numerator / scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fraction {
    /// The value of the digits kept.
    pub(super) numerator: u64,
    /// `10` to the power of the number of digits kept.
    pub(super) scale: u64,
    /// How many digits were read (kept or not; saturating).
    pub(super) digits: u32,
}

/// Reads the ASCII digits after a decimal point (possibly none) from the start
/// of `bytes`, and returns them with the bytes after them.
///
/// Only the first `max_digits` digits count (at most [`MAX_FRACTION_DIGITS`],
/// so `scale` fits a `u64`); the rest are read and dropped, which truncates.
pub(super) fn scan_fraction(mut bytes: &[u8], max_digits: u32) -> (Fraction, &[u8]) {
    debug_assert!(max_digits <= MAX_FRACTION_DIGITS);
    let mut fraction = Fraction {
        numerator: 0,
        scale: 1,
        digits: 0,
    };
    while let [digit @ b'0'..=b'9', rest @ ..] = bytes {
        if fraction.digits < max_digits {
            fraction.numerator = fraction.numerator * 10 + u64::from(digit - b'0');
            fraction.scale *= 10;
        }
        fraction.digits = fraction.digits.saturating_add(1);
        bytes = rest;
    }
    (fraction, bytes)
}

/// Whether `bytes` is a non-empty run of `0` digits (and nothing else).
pub(super) fn is_zeros(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&byte| byte == b'0')
}

/// The whole of `bytes` as a decimal number (see [`scan_decimal`]).
pub(super) fn parse_decimal(bytes: &[u8]) -> Option<Decimal> {
    match scan_decimal(bytes)? {
        (number, []) => Some(number),
        _ => None,
    }
}

/// Reads ASCII digits from the start of `bytes`: their value, how many there
/// were (possibly none) and the bytes after them. `None` on overflow.
fn scan_integer(mut bytes: &[u8]) -> Option<(u128, usize, &[u8])> {
    let mut value = 0_u128;
    let mut digits = 0_usize;
    while let [digit @ b'0'..=b'9', rest @ ..] = bytes {
        value = value
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
        digits += 1;
        bytes = rest;
    }
    Some((value, digits, bytes))
}

/// The whole of `bytes` as a non-empty run of ASCII digits, or `None` (also on
/// overflow).
pub(super) fn parse_integer(bytes: &[u8]) -> Option<u64> {
    match scan_integer(bytes)? {
        (value, 1.., []) => u64::try_from(value).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_spaces_and_tabs_only() {
        assert_eq!(trim_ows(b" \t1 \t"), b"1");
        assert_eq!(trim_ows(b"  "), b"");
        assert_eq!(trim_ows(b"\n1"), b"\n1");
        assert_eq!(trim_ows_start(b" \t1 "), b"1 ");
        assert_eq!(trim_ows_end(b" 1\t "), b" 1");
    }

    #[test]
    fn decimals_keep_nanosecond_precision() {
        let (number, rest) = scan_decimal(b"1500.5ms").unwrap();
        assert_eq!(rest, b"ms");
        assert_eq!(number.nanos(MILLI), Some(1_500_500_000));
        assert_eq!(
            parse_decimal(b".5").unwrap().nanos(SECOND),
            Some(500_000_000)
        );
        assert_eq!(
            parse_decimal(b"2.").unwrap().nanos(SECOND),
            Some(2 * SECOND)
        );
        // Digits past the eighteenth are read but do not count.
        let long = parse_decimal(b"0.1234567891234567899999").unwrap();
        assert_eq!(long.nanos(SECOND), Some(123_456_789));
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        for bad in [
            &b""[..],
            b".",
            b"+1",
            b"-1",
            b"1e3",
            b"1.2.3",
            b"NaN",
            b"inf",
        ] {
            assert_eq!(
                parse_decimal(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_decimal(b"340282366920938463463374607431768211456"),
            None
        );
        assert_eq!(
            parse_decimal(b"18446744073709551615")
                .unwrap()
                .nanos(SECOND),
            None
        );
        // Past a u64 of units, a small unit can still fit a u128.
        let large = parse_decimal(b"18446744073709551616").unwrap();
        assert_eq!(large.nanos(1), None);
        assert_eq!(large.wide_nanos(1), Some(1 << 64));
        let largest = parse_decimal(b"340282366920938463463374607431768211455").unwrap();
        assert_eq!(largest.wide_nanos(1), Some(u128::MAX));
        assert_eq!(largest.wide_nanos(2), None);
    }

    #[test]
    fn fractions_keep_at_most_max_digits() {
        let (fraction, rest) = scan_fraction(b"1234s", 3);
        assert_eq!(rest, b"s");
        assert_eq!(
            fraction,
            Fraction {
                numerator: 123,
                scale: 1000,
                digits: 4
            }
        );
        let (fraction, rest) = scan_fraction(b"s", 3);
        assert_eq!(
            (fraction.numerator, fraction.scale, fraction.digits),
            (0, 1, 0)
        );
        assert_eq!(rest, b"s");
    }

    #[test]
    fn zeros_are_a_non_empty_run_of_zero_digits() {
        assert!(is_zeros(b"0"));
        assert!(is_zeros(b"000"));
        assert!(!is_zeros(b""));
        assert!(!is_zeros(b"01"));
        assert!(!is_zeros(b"0 "));
    }

    #[test]
    fn integers_need_a_digit() {
        assert_eq!(parse_integer(b"007"), Some(7));
        assert_eq!(parse_integer(b""), None);
        assert_eq!(parse_integer(b"1.0"), None);
        assert_eq!(parse_integer(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_integer(b"18446744073709551616"), None);
    }
}
