//! Garbage in the rate-limit headers never panics and never holds the
//! limiter past `MAX_HINT`; whatever parses came from plain digits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use tower::{Layer, ServiceExt};
use tower_failover::hint::MAX_HINT;
use tower_failover::rate_limit::{
    HeaderLimits, Limits, RateLimitConfig, RateLimitLayer, ReadLimits,
};

const NAMES: [&str; 11] = [
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "retry-after",
];

/// Arbitrary bytes (non-UTF-8 included), digit runs longer than a `u64`,
/// Go durations and RFC 3339 times, right and wrong.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        any::<String>().prop_map(String::into_bytes),
        "[ \t]*[0-9]{0,30}[ \t]*".prop_map(String::into_bytes),
        "[0-9 \t.:+-]{0,24}".prop_map(String::into_bytes),
        "([0-9]{0,6}(\\.[0-9]{0,12})?(h|m|s|ms|us|ns|x|)){1,5}".prop_map(String::into_bytes),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?"
            .prop_map(String::into_bytes),
    ]
}

/// A header value from arbitrary bytes: the bytes `HeaderValue` refuses
/// (control characters) become `?`; bytes above 0x7f stay (not UTF-8).
fn header_value(bytes: Vec<u8>) -> HeaderValue {
    let bytes: Vec<u8> = bytes
        .into_iter()
        .map(|byte| {
            if (byte < 0x20 && byte != b'\t') || byte == 0x7f {
                b'?'
            } else {
                byte
            }
        })
        .collect();
    HeaderValue::from_bytes(&bytes).expect("no control characters left")
}

fn headers(values: Vec<Option<Vec<u8>>>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in NAMES.iter().zip(values) {
        if let Some(value) = value {
            headers.append(HeaderName::from_static(name), header_value(value));
        }
    }
    headers
}

/// Plain decimal digits, at most 20 of them, spaces and tabs around.
fn is_count(value: &[u8]) -> bool {
    let value = value.trim_ascii();
    !value.is_empty() && value.len() <= 20 && value.iter().all(u8::is_ascii_digit)
}

fn instant() -> impl Strategy<Value = SystemTime> {
    (0..1_u64 << 36).prop_map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn from_headers_never_panics_nor_holds_past_max_hint(
        values in prop::collection::vec(prop::option::of(input()), NAMES.len()),
        now in instant(),
    ) {
        let headers = headers(values);
        for limits in [Limits::from_headers(&headers), Limits::from_headers_at(&headers, now)] {
            for (remaining, reset) in limits.requests().into_iter().chain(limits.tokens()) {
                prop_assert!(reset <= MAX_HINT, "{reset:?}");
                // A count came from some remaining header that is plain digits.
                let from_digits = headers
                    .iter()
                    .filter(|(name, _)| name.as_str().ends_with("remaining") || name.as_str().contains("remaining-"))
                    .any(|(_, value)| is_count(value.as_bytes()));
                prop_assert!(from_digits, "{remaining} from {headers:?}");
            }
            prop_assert_eq!(limits.retry_after(), None);
        }
    }
}

proptest! {
    // Each case runs a limiter: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever a response says, through the default reader (a 429's
    /// `retry-after` included), the limiter never panics and never pauses
    /// past `MAX_HINT`.
    #[test]
    fn a_limiter_fed_garbage_never_holds_past_max_hint(
        values in prop::collection::vec(prop::option::of(input()), NAMES.len()),
        status in prop_oneof![Just(200_u16), Just(429_u16)],
    ) {
        let headers = headers(values);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async move {
            let config = RateLimitConfig::builder()
                .requests(10, Duration::from_secs(1))
                .tokens(1_000, Duration::from_secs(1))
                .max_wait(Duration::ZERO)
                .build()
                .unwrap();
            let layer = RateLimitLayer::new(config);
            let handle = layer.handle();
            let mut response = http::Response::new(());
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            *response.headers_mut() = headers;
            let limits = HeaderLimits.read_limits(&response);
            let response = std::sync::Arc::new(std::sync::Mutex::new(Some(response)));
            let service = layer.layer(tower::service_fn(move |(): ()| {
                let response = response.lock().unwrap().take().unwrap_or_default();
                async move { Ok::<_, std::io::Error>(response) }
            }));
            service.clone().oneshot(()).await.unwrap();
            let paused = handle.paused_for().unwrap_or_default();
            assert!(paused <= MAX_HINT, "{paused:?} from {limits:?}");
            let _ = service.oneshot(()).await;
        });
    }
}

#[test]
fn counts_of_more_than_twenty_digits_are_ignored_and_twenty_saturate() {
    let read = |count: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining-requests", count.parse().unwrap());
        headers.insert("x-ratelimit-reset-requests", "1s".parse().unwrap());
        Limits::from_headers_at(&headers, UNIX_EPOCH).requests()
    };
    assert_eq!(read(&"9".repeat(21)), None);
    assert_eq!(read(&"0".repeat(21)), None);
    assert_eq!(
        read(&"9".repeat(20)),
        Some((u64::MAX, Duration::from_secs(1)))
    );
    let mut non_utf8 = HeaderMap::new();
    non_utf8.insert(
        "x-ratelimit-remaining-requests",
        HeaderValue::from_bytes(b"1\xff").unwrap(),
    );
    non_utf8.insert("x-ratelimit-reset-requests", "1s".parse().unwrap());
    assert_eq!(Limits::from_headers(&non_utf8).requests(), None);
}
