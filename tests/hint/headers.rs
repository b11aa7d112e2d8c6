//! How `Hint::from_headers_at` combines the headers.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use tower_failover::hint::{Hint, MAX_HINT};

use crate::support::{headers, ms, now, rfc3339_format, secs};

/// Headers, and what they should give.
type Case<T> = (&'static [(&'static str, &'static str)], T);

fn hint(pairs: &[(&str, &str)]) -> Hint {
    Hint::from_headers_at(&headers(pairs), now())
}

fn after(pairs: &[(&str, &str)]) -> Option<Duration> {
    hint(pairs).retry_after()
}

#[test]
fn no_headers_no_hint() {
    assert_eq!(Hint::from_headers_at(&HeaderMap::new(), now()), Hint::NONE);
    assert_eq!(
        hint(&[
            ("content-type", "application/json"),
            ("x-request-id", "req_1")
        ]),
        Hint::NONE
    );
}

#[test]
fn openai_429_with_the_requests_limit_exhausted() {
    let hint = hint(&[
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-limit-tokens", "40000"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-remaining-tokens", "39000"),
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ]);
    assert_eq!(hint, Hint::NONE.with_retry_after(secs(1)));
}

#[test]
fn openai_429_with_the_tokens_limit_exhausted() {
    let hint = hint(&[
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-requests", "120ms"),
        ("x-ratelimit-reset-tokens", "17.913s"),
        ("x-should-retry", "true"),
    ]);
    assert_eq!(
        hint,
        Hint::NONE
            .with_retry_after(ms(17_913))
            .with_should_retry(true)
    );
}

#[test]
fn anthropic_429_prefers_retry_after_over_the_resets() {
    let anthropic = [
        ("retry-after", "17"),
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "49"),
        ("anthropic-ratelimit-requests-reset", "2024-10-25T22:01:14Z"),
        ("anthropic-ratelimit-tokens-remaining", "0"),
        ("anthropic-ratelimit-tokens-reset", "2024-10-25T22:01:30Z"),
        ("anthropic-ratelimit-input-tokens-remaining", "0"),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "2024-10-25T22:01:30Z",
        ),
        ("anthropic-ratelimit-output-tokens-remaining", "8000"),
        (
            "anthropic-ratelimit-output-tokens-reset",
            "2024-10-25T22:01:14Z",
        ),
        ("x-should-retry", "true"),
    ];
    assert_eq!(
        hint(&anthropic),
        Hint::NONE
            .with_retry_after(secs(17))
            .with_should_retry(true)
    );

    // Without retry-after, the exhausted token limits decide: 17 s, not 1 s.
    let resets_only = &anthropic[1..];
    assert_eq!(after(resets_only), Some(secs(17)));
}

#[test]
fn azure_sends_milliseconds() {
    assert_eq!(
        after(&[("x-ms-retry-after-ms", "2500"), ("retry-after", "3")]),
        Some(ms(2500))
    );
}

#[test]
fn retry_after_precedence() {
    let all = [
        ("retry-after-ms", "100"),
        ("x-ms-retry-after-ms", "200"),
        ("retry-after", "3"),
        ("grpc-retry-pushback-ms", "400"),
        ("x-ratelimit-reset-requests", "5s"),
    ];
    let expected = [ms(100), ms(200), secs(3), ms(400), secs(5)];
    // Dropping the winner each time hands the hint to the next in line.
    for skip in 0..all.len() {
        assert_eq!(
            after(&all[skip..]),
            Some(expected[skip]),
            "without {:?}",
            &all[..skip]
        );
    }
}

#[test]
fn a_header_that_yields_no_hint_is_skipped() {
    let cases: &[Case<Option<Duration>>] = &[
        (
            &[("retry-after-ms", "soon"), ("retry-after", "3")],
            Some(secs(3)),
        ),
        (
            &[("retry-after-ms", "-1"), ("x-ms-retry-after-ms", "200")],
            Some(ms(200)),
        ),
        (
            &[
                ("retry-after-ms", ""),
                ("retry-after", "NaN"),
                ("grpc-retry-pushback-ms", "400"),
            ],
            Some(ms(400)),
        ),
        // Absurd is skipped like garbage.
        (
            &[("retry-after-ms", "90000000"), ("retry-after", "3")],
            Some(secs(3)),
        ),
        (
            &[
                ("retry-after", "99999999999999999999"),
                ("x-ratelimit-reset-tokens", "1s"),
            ],
            Some(secs(1)),
        ),
        // A negative pushback refuses; it is not a wait.
        (
            &[
                ("grpc-retry-pushback-ms", "-1"),
                ("x-ratelimit-reset-requests", "2s"),
            ],
            Some(secs(2)),
        ),
        (
            &[
                ("retry-after", "1e3"),
                ("x-ratelimit-reset-requests", "forever"),
            ],
            None,
        ),
    ];
    for (pairs, expected) in cases {
        assert_eq!(after(pairs), *expected, "{pairs:?}");
    }
}

#[test]
fn only_the_first_value_of_a_repeated_header_counts() {
    assert_eq!(
        after(&[("retry-after", "3"), ("retry-after", "9")]),
        Some(secs(3))
    );
    // A garbage first value is no hint, even if a later one is valid.
    assert_eq!(
        after(&[("retry-after", "soon"), ("retry-after", "9")]),
        None
    );
}

#[test]
fn http_dates_are_relative_to_now() {
    assert_eq!(
        after(&[("retry-after", "Fri, 25 Oct 2024 22:01:30 GMT")]),
        Some(secs(17))
    );
    assert_eq!(
        after(&[("retry-after", "Fri, 25 Oct 2024 21:00:00 GMT")]),
        Some(Duration::ZERO)
    );
}

#[test]
fn resets_of_exhausted_limits_win() {
    let cases: &[Case<Option<Duration>>] = &[
        // Both exhausted: both must reset, so the later one.
        (
            &[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            Some(secs(360)),
        ),
        // Neither exhausted: the later one, to be safe.
        (
            &[
                ("x-ratelimit-remaining-requests", "3"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-remaining-tokens", "10"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            Some(secs(360)),
        ),
        // No remaining headers at all: the later one.
        (
            &[
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "20ms"),
            ],
            Some(secs(1)),
        ),
        // Remaining written with spaces or leading zeros is still zero.
        (
            &[
                ("x-ratelimit-remaining-requests", " 00 "),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            Some(secs(1)),
        ),
        // A remaining that is not a clean zero is not "exhausted".
        (
            &[
                ("x-ratelimit-remaining-requests", "01"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            Some(secs(360)),
        ),
        (
            &[
                ("x-ratelimit-remaining-requests", "-0"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            Some(secs(360)),
        ),
        (
            &[
                ("x-ratelimit-remaining-requests", ""),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            Some(secs(360)),
        ),
        // An exhausted limit with a garbage reset does not count; the rest
        // decide as if it were not there.
        (
            &[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "soon"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            Some(secs(360)),
        ),
        // OpenAI and Anthropic resets together (an OpenAI-compatible proxy
        // in front of Anthropic).
        (
            &[
                ("x-ratelimit-reset-tokens", "1m0s"),
                ("anthropic-ratelimit-output-tokens-remaining", "0"),
                (
                    "anthropic-ratelimit-output-tokens-reset",
                    "2024-10-25T22:01:30Z",
                ),
            ],
            Some(secs(17)),
        ),
        // A reset in the past: retry now.
        (
            &[
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", "2024-10-25T22:00:00Z"),
            ],
            Some(Duration::ZERO),
        ),
        // An absurd reset is no hint, and does not outweigh a sane one.
        (
            &[
                ("x-ratelimit-remaining-tokens", "0"),
                ("x-ratelimit-reset-tokens", "48h"),
                ("x-ratelimit-reset-requests", "2s"),
            ],
            Some(secs(2)),
        ),
        // A remaining header alone is no hint.
        (&[("x-ratelimit-remaining-requests", "0")], None),
    ];
    for (pairs, expected) in cases {
        assert_eq!(after(pairs), *expected, "{pairs:?}");
    }
}

#[test]
fn every_limit_pairs_its_reset_with_its_remaining() {
    // (remaining, reset, a reset 1 s away in that header's format)
    let limits = [
        (
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
            "1s",
        ),
        (
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
            "1s",
        ),
        (
            "anthropic-ratelimit-requests-remaining",
            "anthropic-ratelimit-requests-reset",
            "2024-10-25T22:01:14Z",
        ),
        (
            "anthropic-ratelimit-tokens-remaining",
            "anthropic-ratelimit-tokens-reset",
            "2024-10-25T22:01:14Z",
        ),
        (
            "anthropic-ratelimit-input-tokens-remaining",
            "anthropic-ratelimit-input-tokens-reset",
            "2024-10-25T22:01:14Z",
        ),
        (
            "anthropic-ratelimit-output-tokens-remaining",
            "anthropic-ratelimit-output-tokens-reset",
            "2024-10-25T22:01:14Z",
        ),
    ];
    for (remaining, reset, one_second) in limits {
        // This limit is exhausted and resets in 1 s; another limit, not known
        // to be exhausted, resets in an hour. The exhausted one decides.
        let slow = if reset == "x-ratelimit-reset-tokens" {
            "x-ratelimit-reset-requests"
        } else {
            "x-ratelimit-reset-tokens"
        };
        let pairs = [(remaining, "0"), (reset, one_second), (slow, "1h")];
        assert_eq!(after(&pairs), Some(secs(1)), "{remaining} / {reset}");
        // Without the remaining header, the later reset wins.
        assert_eq!(after(&pairs[1..]), Some(secs(3600)), "{reset}");
    }
}

#[test]
fn should_retry_from_x_should_retry_and_grpc_pushback() {
    let cases: &[Case<Option<bool>>] = &[
        (&[("x-should-retry", "true")], Some(true)),
        (&[("x-should-retry", "false")], Some(false)),
        (&[("x-should-retry", "FALSE ")], Some(false)),
        (&[("x-should-retry", "maybe")], None),
        (&[("grpc-retry-pushback-ms", "-1")], Some(false)),
        (&[("grpc-retry-pushback-ms", "100")], None),
        // A refusal from either wins.
        (
            &[("x-should-retry", "true"), ("grpc-retry-pushback-ms", "-1")],
            Some(false),
        ),
        (
            &[
                ("x-should-retry", "false"),
                ("grpc-retry-pushback-ms", "100"),
            ],
            Some(false),
        ),
        (
            &[
                ("x-should-retry", "true"),
                ("grpc-retry-pushback-ms", "100"),
            ],
            Some(true),
        ),
    ];
    for (pairs, expected) in cases {
        assert_eq!(hint(pairs).should_retry(), *expected, "{pairs:?}");
    }
}

#[test]
fn a_refusal_keeps_its_wait() {
    let hint = hint(&[("x-should-retry", "false"), ("retry-after", "5")]);
    assert_eq!(
        hint,
        Hint::NONE
            .with_retry_after(secs(5))
            .with_should_retry(false)
    );
}

#[test]
fn the_ceiling_applies_to_every_header() {
    let at_ceiling = [
        ("retry-after-ms", "86400000"),
        ("x-ms-retry-after-ms", "86400000"),
        ("retry-after", "86400"),
        ("retry-after", "Sat, 26 Oct 2024 22:01:13 GMT"),
        ("grpc-retry-pushback-ms", "86400000"),
        ("x-ratelimit-reset-requests", "24h0m0s"),
        ("x-ratelimit-reset-tokens", "24h0m0s"),
        ("anthropic-ratelimit-requests-reset", "2024-10-26T22:01:13Z"),
        ("anthropic-ratelimit-tokens-reset", "2024-10-26T22:01:13Z"),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "2024-10-26T22:01:13Z",
        ),
        (
            "anthropic-ratelimit-output-tokens-reset",
            "2024-10-26T22:01:13Z",
        ),
    ];
    let above = [
        "86400001",
        "86400001",
        "86401",
        "Sat, 26 Oct 2024 22:01:14 GMT",
        "86400001",
        "24h0m1s",
        "24h0m1s",
        "2024-10-26T22:01:14Z",
        "2024-10-26T22:01:14Z",
        "2024-10-26T22:01:14Z",
        "2024-10-26T22:01:14Z",
    ];
    for ((name, max), over) in at_ceiling.into_iter().zip(above) {
        assert_eq!(after(&[(name, max)]), Some(MAX_HINT), "{name}: {max}");
        assert_eq!(after(&[(name, over)]), None, "{name}: {over}");
    }
}

#[test]
fn from_headers_uses_the_wall_clock() {
    // An instant an hour from the real now: a clock read wrongly (or not at
    // all) cannot land within these two seconds. The HTTP-date drops the
    // sub-second part, hence the extra second below 3600.
    let in_an_hour = SystemTime::now() + secs(3600);
    let near_an_hour = |map: &HeaderMap| {
        let after = Hint::from_headers(map).retry_after();
        assert!(
            after.is_some_and(|after| (secs(3598)..=secs(3600)).contains(&after)),
            "{map:?}: {after:?}"
        );
    };
    let date = httpdate::fmt_http_date(in_an_hour);
    near_an_hour(&headers(&[("retry-after", &date)]));
    let reset = rfc3339_format(in_an_hour, 0);
    near_an_hour(&headers(&[("anthropic-ratelimit-tokens-reset", &reset)]));
    let reset = rfc3339_format(in_an_hour, -420);
    near_an_hour(&headers(&[("anthropic-ratelimit-tokens-reset", &reset)]));

    // A date long past is zero whatever the clock says; the relative forms
    // do not depend on it at all.
    let map = headers(&[("retry-after", "Thu, 01 Jan 1970 00:00:01 GMT")]);
    assert_eq!(Hint::from_headers(&map).retry_after(), Some(Duration::ZERO));
    let map = headers(&[("retry-after-ms", "1500")]);
    assert_eq!(Hint::from_headers(&map).retry_after(), Some(ms(1500)));
}
