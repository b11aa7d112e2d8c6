//! Shared helpers: a fixed clock, header maps, and a table checker.

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
