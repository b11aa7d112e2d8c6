//! Shared helpers: a fixed clock, header maps, a table checker and an RFC 3339
//! formatter.

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

/// 2024-10-25T22:01:13Z, 17 seconds before the Anthropic reset used in the
/// tests (`2024-10-25T22:01:30Z`).
pub(crate) const NOW_SECS: u64 = 1_729_893_673;

/// The fixed "now" of these tests.
pub(crate) fn now() -> SystemTime {
    at(NOW_SECS)
}

/// The instant `secs` seconds after the Unix epoch.
pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Milliseconds as a `Duration`, to keep tables short.
pub(crate) const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Seconds as a `Duration`, to keep tables short.
pub(crate) const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A header map holding `pairs`, in order (a repeated name is appended).
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    map
}

/// Runs `parse` over every input of `cases` and panics listing every input
/// whose result differs from the expected one.
pub(crate) fn check<T>(parse: impl Fn(&[u8]) -> T, cases: &[(&str, T)])
where
    T: PartialEq + Debug,
{
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(input, expected)| {
            let actual = parse(input.as_bytes());
            (actual != *expected)
                .then(|| format!("{input:?}: expected {expected:?}, got {actual:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `at` (from 1970 to 9999) as RFC 3339 with nine fractional digits and
/// `offset_minutes` east of UTC. The calendar comes from `httpdate`, so the
/// parser under test is checked against an independent implementation.
pub(crate) fn rfc3339_format(at: SystemTime, offset_minutes: i64) -> String {
    let offset = Duration::from_secs(offset_minutes.unsigned_abs() * 60);
    let local = if offset_minutes >= 0 {
        at + offset
    } else {
        at - offset
    };
    let nanos = local
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .subsec_nanos();
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let date = httpdate::fmt_http_date(local);
    let month = match &date[8..11] {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        other => panic!("unknown month {other}"),
    };
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let (oh, om) = (offset_minutes.abs() / 60, offset_minutes.abs() % 60);
    format!(
        "{}-{month:02}-{}T{}.{nanos:09}{sign}{oh:02}:{om:02}",
        &date[12..16],
        &date[5..7],
        &date[17..25],
    )
}
