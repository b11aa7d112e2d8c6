//! RFC 3339 timestamps, as Anthropic sends in `anthropic-ratelimit-*-reset`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::number::{SECOND, delay_until, scan_fraction, trim_ows};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Fractional digits down to a nanosecond.
const NANO_DIGITS: u32 = 9;

/// Parses an RFC 3339 timestamp (`date-time` of RFC 3339 section 5.6), such as
/// Anthropic sends in `anthropic-ratelimit-*-reset`.
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS`, optional fractional seconds (any number of
/// digits, truncated to nanoseconds), then `Z` or a `+HH:MM` / `-HH:MM`
/// offset; `T` and `Z` may be lower case, and spaces and tabs around the value
/// are ignored. Every field is range-checked: the day against its month and
/// leap years, hours `00`–`23`, offsets up to `23:59`; a leap second (`:60`)
/// is accepted only at 23:59:60 UTC and read as the next midnight.
///
/// Returns `None` for anything else, including `24:00:00`, February 30, a
/// missing offset, or an instant the platform's `SystemTime` cannot hold.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_failover::hint::parse_rfc3339;
///
/// let at = UNIX_EPOCH + Duration::from_secs(1_729_893_690);
/// assert_eq!(parse_rfc3339(b"2024-10-25T22:01:30Z"), Some(at));
/// assert_eq!(parse_rfc3339(b"2024-10-26T00:01:30+02:00"), Some(at));
/// assert_eq!(
///     parse_rfc3339(b"2024-10-25T22:01:30.25Z"),
///     Some(at + Duration::from_millis(250)),
/// );
/// assert_eq!(parse_rfc3339(b"2023-02-29T00:00:00Z"), None); // not a leap year
/// assert_eq!(parse_rfc3339(b"2024-10-25T22:01:30"), None); // no offset
/// ```
#[must_use]
pub fn parse_rfc3339(value: &[u8]) -> Option<SystemTime> {
    let &[
        y1,
        y2,
        y3,
        y4,
        b'-',
        mo1,
        mo2,
        b'-',
        d1,
        d2,
        b'T' | b't',
        h1,
        h2,
        b':',
        mi1,
        mi2,
        b':',
        s1,
        s2,
        ref rest @ ..,
    ] = trim_ows(value)
    else {
        return None;
    };
    let year = digits(&[y1, y2, y3, y4])?;
    let month = digits(&[mo1, mo2])?;
    let day = digits(&[d1, d2])?;
    let hour = digits(&[h1, h2])?;
    let minute = digits(&[mi1, mi2])?;
    let second = digits(&[s1, s2])?;
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let (nanos, rest) = fraction(rest)?;
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let (hours, minutes) = (digits(&[*oh1, *oh2])?, digits(&[*om1, *om2])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3_600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };

    // A leap second is read as 23:59:59 plus one second, and exists only at
    // the end of a UTC day.
    let leap = second == 60;
    let local = days_from_civil(year, month, day) * DAY
        + hour * 3_600
        + minute * 60
        + if leap { 59 } else { second };
    let unix = local - offset;
    if leap && unix.rem_euclid(DAY) != DAY - 1 {
        return None;
    }
    let unix = unix + i64::from(leap);

    let whole = Duration::from_secs(unix.unsigned_abs());
    let at = if unix >= 0 {
        UNIX_EPOCH.checked_add(whole)?
    } else {
        UNIX_EPOCH.checked_sub(whole)?
    };
    at.checked_add(Duration::from_nanos(nanos))
}

/// Parses an RFC 3339 timestamp into the time from `now` until it.
///
/// The timestamp is read as by [`parse_rfc3339`]. One that has passed gives
/// [`Duration::ZERO`]; one that is not valid, or is further away than
/// [`MAX_HINT`](super::MAX_HINT), gives `None`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_failover::hint::parse_rfc3339_delay;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_729_893_673); // 2024-10-25T22:01:13Z
/// assert_eq!(
///     parse_rfc3339_delay(b"2024-10-25T22:01:30Z", now),
///     Some(Duration::from_secs(17)),
/// );
/// assert_eq!(parse_rfc3339_delay(b"2024-10-25T22:00:00Z", now), Some(Duration::ZERO));
/// assert_eq!(parse_rfc3339_delay(b"2024-10-27T22:01:30Z", now), None); // two days away
/// ```
#[must_use]
pub fn parse_rfc3339_delay(value: &[u8], now: SystemTime) -> Option<Duration> {
    delay_until(parse_rfc3339(value)?, now)
}

/// The value of a fixed-width run of ASCII digits.
fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

/// Reads optional fractional seconds (`.` and one or more digits) from the
/// start of `bytes`: nanoseconds (further digits are checked, then dropped)
/// and the bytes after them.
fn fraction(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let [b'.', digits @ ..] = bytes else {
        return Some((0, bytes));
    };
    let (fraction, rest) = scan_fraction(digits, NANO_DIGITS);
    // At most nine digits are kept, so `scale` divides a second exactly.
    (fraction.digits > 0).then(|| (fraction.numerator * (SECOND / fraction.scale), rest))
}

/// Whether `year` of the proleptic Gregorian calendar is a leap year.
const fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1–12) of `year`.
const fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to `year-month-day` of the proleptic Gregorian
/// calendar (negative before 1970), after Howard Hinnant's `days_from_civil`.
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Years start in March, so the leap day is the last day of a year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        assert!(is_leap_year(2024));
        assert!(is_leap_year(2000));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2023));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }

    #[test]
    fn fractions_are_scaled_to_nanoseconds() {
        assert_eq!(fraction(b".5Z"), Some((500_000_000, &b"Z"[..])));
        assert_eq!(fraction(b".123456789123Z"), Some((123_456_789, &b"Z"[..])));
        assert_eq!(fraction(b"Z"), Some((0, &b"Z"[..])));
        assert_eq!(fraction(b".Z"), None);
    }
}
