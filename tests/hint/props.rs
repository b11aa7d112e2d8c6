//! Property tests: arbitrary input never panics a parser nor yields more than
//! `MAX_HINT`; formatting a value and parsing it back gives the value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use tower_failover::hint::{
    Hint, MAX_HINT, parse_go_duration, parse_grpc_pushback_ms, parse_retry_after,
    parse_retry_after_ms, parse_rfc3339, parse_rfc3339_delay, parse_should_retry,
};

use crate::support::rfc3339_format;

/// Every header `Hint::from_headers_at` reads (and the ones it consults).
const HINT_HEADERS: [&str; 17] = [
    "retry-after-ms",
    "x-ms-retry-after-ms",
    "retry-after",
    "grpc-retry-pushback-ms",
    "x-should-retry",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-output-tokens-remaining",
];

/// The largest instant `httpdate` formats: 9999-12-31T23:59:59Z.
const MAX_HTTP_DATE: u64 = 253_402_300_799;

/// Bytes worth feeding a parser: anything at all, any Unicode text, or text
/// made of the characters these formats use (which reaches deeper).
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        any::<String>().prop_map(String::into_bytes),
        "[0-9 \t.:+-]{0,24}".prop_map(String::into_bytes),
        "([0-9]{0,4}(\\.[0-9]{0,12})?(h|m|s|ms|us|µs|μs|ns|x|)){1,5}".prop_map(String::into_bytes),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
            .prop_map(String::into_bytes),
        "(Mon|Fri|Sun)(, |day, | )[0-9]{1,2}[ -](Jan|Feb|Oct)[ -][0-9]{2,4} [0-9]{2}:[0-9]{2}:[0-9]{2}( GMT)?"
            .prop_map(String::into_bytes),
        "-?[0-9]{0,24}".prop_map(String::into_bytes),
        "(?i)[ \t]*(true|false)[ \t]*".prop_map(String::into_bytes),
    ]
}

/// Any instant from about 34,000 years before the epoch to as long after.
fn instant() -> impl Strategy<Value = SystemTime> {
    (any::<bool>(), 0..1_u64 << 40, 0..1_000_000_000_u32).prop_map(|(after, secs, nanos)| {
        let offset = Duration::new(secs, nanos);
        if after {
            UNIX_EPOCH + offset
        } else {
            UNIX_EPOCH - offset
        }
    })
}

/// A header value from arbitrary bytes: the bytes `HeaderValue` refuses
/// (control characters) become `?`.
fn header_value(bytes: Vec<u8>) -> HeaderValue {
    let bytes: Vec<u8> = bytes
        .into_iter()
        .map(|b| {
            if b == b'\t' || (b >= 0x20 && b != 0x7f) {
                b
            } else {
                b'?'
            }
        })
        .collect();
    HeaderValue::from_bytes(&bytes).expect("only visible bytes, spaces and tabs")
}

/// `d` as Go's `time.Duration.String` writes it.
fn go_format(d: Duration) -> String {
    fn fraction(value: u64, digits: u32) -> (u64, String) {
        let unit = 10_u64.pow(digits);
        let fraction = value % unit;
        if fraction == 0 {
            return (value / unit, String::new());
        }
        let text = format!("{fraction:0width$}", width = digits as usize);
        (value / unit, format!(".{}", text.trim_end_matches('0')))
    }
    let nanos = u64::try_from(d.as_nanos()).expect("test durations fit");
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, digits) = match nanos {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (int, fraction) = fraction(nanos, digits);
        return format!("{int}{fraction}{unit}");
    }
    let (secs, fraction) = fraction(nanos, 9);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}{fraction}s"),
        (0, _) => format!("{m}m{s}{fraction}s"),
        _ => format!("{h}h{m}m{s}{fraction}s"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn parsers_never_panic_and_respect_the_ceiling(bytes in input(), now in instant()) {
        let within = |after: Option<Duration>| after.is_none_or(|after| after <= MAX_HINT);
        prop_assert!(within(parse_retry_after_ms(&bytes)));
        prop_assert!(within(parse_retry_after(&bytes, now)));
        prop_assert!(within(parse_go_duration(&bytes)));
        prop_assert!(within(parse_rfc3339_delay(&bytes, now)));
        let _ = parse_rfc3339(&bytes);
        let _ = parse_should_retry(&bytes);
        if let Some(hint) = parse_grpc_pushback_ms(&bytes) {
            prop_assert!(within(hint.retry_after()));
            // Exactly one of a wait or a refusal.
            prop_assert_ne!(hint.retry_after().is_some(), hint.should_retry() == Some(false));
        }
    }

}

proptest! {
    // Each case builds a whole header map: fewer cases, same reach.
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn from_headers_at_never_panics(
        values in prop::collection::vec(prop::option::of(input()), HINT_HEADERS.len()),
        extra in prop::collection::vec(("[a-z-]{1,30}", input()), 0..4),
        now in instant(),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in HINT_HEADERS.iter().zip(values) {
            if let Some(value) = value {
                headers.append(*name, header_value(value));
            }
        }
        for (name, value) in extra {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                headers.append(name, header_value(value));
            }
        }
        let hint = Hint::from_headers_at(&headers, now);
        prop_assert!(hint.retry_after().is_none_or(|after| after <= MAX_HINT));
        // `Some(true)` only ever comes from an `x-should-retry` saying so.
        if hint.should_retry() == Some(true) {
            let value = headers.get("x-should-retry").map(HeaderValue::as_bytes);
            prop_assert_eq!(value.and_then(parse_should_retry), Some(true));
        }
    }

    #[test]
    fn rfc3339_accepts_only_real_instants(
        text in "(19[7-9][0-9]|2[0-9]{3})-(0[0-9]|1[0-3])-([0-2][0-9]|3[0-2])T([01][0-9]|2[0-4]):([0-5][0-9]|60):[0-5][0-9](\\.[0-9]{1,9})?Z",
    ) {
        // Whatever is accepted names the same calendar fields when formatted
        // back by an independent implementation (no Feb 30 read as Mar 1).
        if let Some(at) = parse_rfc3339(text.as_bytes()) {
            if let Ok(since_epoch) = at.duration_since(UNIX_EPOCH) {
                let back = rfc3339_format(UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs()), 0);
                prop_assert_eq!(&back[..19], &text[..19]);
            }
        }
    }
}

proptest! {
    #[test]
    fn go_durations_round_trip(nanos in 0..=MAX_HINT.as_nanos() as u64) {
        let d = Duration::from_nanos(nanos);
        let text = go_format(d);
        prop_assert_eq!(parse_go_duration(text.as_bytes()), Some(d), "{}", text);
    }

    #[test]
    fn go_durations_of_whole_units_round_trip(h in 0..24_u64, m in 0..60_u64, s in 0..60_u64, ms in 0..1000_u64) {
        let text = format!("{h}h{m}m{s}.{ms:03}s");
        let expected = Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_millis(ms);
        prop_assert_eq!(parse_go_duration(text.as_bytes()), Some(expected), "{}", text);
    }

    #[test]
    fn go_durations_above_the_ceiling_are_no_hint(extra in 1..=u64::MAX / 2) {
        let d = MAX_HINT.saturating_add(Duration::from_nanos(extra));
        prop_assert_eq!(parse_go_duration(go_format(d).as_bytes()), None);
    }

    #[test]
    fn rfc3339_round_trips(
        secs in 2 * 86_400..MAX_HTTP_DATE - 2 * 86_400,
        nanos in 0..1_000_000_000_u32,
        offset_minutes in -(24 * 60 - 1)..=24 * 60 - 1_i64,
    ) {
        let at = UNIX_EPOCH + Duration::new(secs, nanos);
        let text = rfc3339_format(at, offset_minutes);
        prop_assert_eq!(parse_rfc3339(text.as_bytes()), Some(at), "{}", text);
    }

    #[test]
    fn rfc3339_resets_give_the_delta(
        now_secs in 0..MAX_HTTP_DATE - 2 * 86_400,
        now_nanos in 0..1_000_000_000_u32,
        delta in 0..=MAX_HINT.as_nanos() as u64 + 1_000_000,
        offset_minutes in -(24 * 60 - 1)..=24 * 60 - 1_i64,
    ) {
        let now = UNIX_EPOCH + Duration::new(now_secs, now_nanos);
        let delta = Duration::from_nanos(delta);
        let text = rfc3339_format(now + delta, offset_minutes);
        let expected = (delta <= MAX_HINT).then_some(delta);
        prop_assert_eq!(parse_rfc3339_delay(text.as_bytes(), now), expected, "{}", text);
        // And the same instant seen from after it is zero.
        prop_assert_eq!(parse_rfc3339_delay(text.as_bytes(), now + delta + Duration::from_nanos(1)), Some(Duration::ZERO));
    }

    #[test]
    fn http_dates_give_the_delta(now_secs in 0..MAX_HTTP_DATE - 2 * 86_400, delta in 0..=86_401_u64) {
        let now = UNIX_EPOCH + Duration::from_secs(now_secs);
        let text = httpdate::fmt_http_date(now + Duration::from_secs(delta));
        let expected = (delta <= 86_400).then(|| Duration::from_secs(delta));
        prop_assert_eq!(parse_retry_after(text.as_bytes(), now), expected, "{}", text);
    }

    #[test]
    fn milliseconds_round_trip(millis in 0..=86_400_000_u64, micros in 0..1000_u32) {
        let text = format!("{millis}.{micros:03}");
        let d = Duration::from_millis(millis) + Duration::from_micros(u64::from(micros));
        let expected = (d <= MAX_HINT).then_some(d);
        prop_assert_eq!(parse_retry_after_ms(text.as_bytes()), expected, "{}", text);
        prop_assert_eq!(parse_retry_after_ms(millis.to_string().as_bytes()), Some(Duration::from_millis(millis)));
    }

    #[test]
    fn delta_seconds_round_trip(secs in 0..=200_000_u64, now in instant()) {
        let expected = (secs <= 86_400).then(|| Duration::from_secs(secs));
        prop_assert_eq!(parse_retry_after(secs.to_string().as_bytes(), now), expected);
    }

    #[test]
    fn grpc_pushback_follows_the_sign(millis in any::<i64>()) {
        let hint = parse_grpc_pushback_ms(millis.to_string().as_bytes());
        let expected = match u64::try_from(millis) {
            Err(_) => Some(Hint::NONE.with_should_retry(false)),
            Ok(millis) if millis <= 86_400_000 => Some(Hint::NONE.with_retry_after(Duration::from_millis(millis))),
            Ok(_) => None,
        };
        prop_assert_eq!(hint, expected);
    }

    #[test]
    fn should_retry_ignores_case_and_whitespace(
        value in any::<bool>(),
        upper in prop::collection::vec(any::<bool>(), 5),
        left in "[ \t]{0,3}",
        right in "[ \t]{0,3}",
    ) {
        let word: String = value
            .to_string()
            .chars()
            .zip(upper.iter().chain(std::iter::repeat(&false)))
            .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        let text = format!("{left}{word}{right}");
        prop_assert_eq!(parse_should_retry(text.as_bytes()), Some(value), "{:?}", text);
    }
}
