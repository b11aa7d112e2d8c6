//! Table-driven tests of every parser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_failover::hint::{
    Hint, MAX_HINT, parse_go_duration, parse_grpc_pushback_ms, parse_retry_after,
    parse_retry_after_ms, parse_rfc3339, parse_rfc3339_delay, parse_should_retry,
};

use crate::support::{at, check, ms, now, secs};

/// Inputs that no duration parser accepts.
const GARBAGE: &[&str] = &[
    "",
    " ",
    "\t",
    "+5",
    "-1",
    "-0.5",
    "1e3",
    "1E3",
    "NaN",
    "nan",
    "inf",
    "Infinity",
    "0x10",
    "1,5",
    "1 000",
    "1..5",
    "1.2.3",
    ".",
    "five",
    "١",
    "99999999999999999999",
    "18446744073709551616",
];

fn none_for_garbage<T: PartialEq + std::fmt::Debug>(parse: impl Fn(&[u8]) -> Option<T>) {
    let cases: Vec<(&str, Option<T>)> = GARBAGE.iter().map(|&input| (input, None)).collect();
    check(parse, &cases);
}

#[test]
fn retry_after_ms_reads_milliseconds() {
    check(
        parse_retry_after_ms,
        &[
            ("1500", Some(ms(1500))),
            ("0", Some(Duration::ZERO)),
            ("20", Some(ms(20))),
            ("007", Some(ms(7))),
            // The OpenAI SDKs parse it as a float.
            ("1500.5", Some(Duration::from_micros(1_500_500))),
            ("0.001", Some(Duration::from_micros(1))),
            ("0.0000001", Some(Duration::from_nanos(0))),
            (".5", Some(Duration::from_micros(500))),
            ("5.", Some(ms(5))),
            (" 20 ", Some(ms(20))),
            ("\t20\t", Some(ms(20))),
            // The ceiling: exactly 24 hours is kept, a millisecond more is not.
            ("86400000", Some(MAX_HINT)),
            ("86400000.0", Some(MAX_HINT)),
            ("86400000.000001", None),
            ("86400001", None),
            ("18446744073709551615", None),
        ],
    );
}

#[test]
fn retry_after_ms_rejects_garbage() {
    none_for_garbage(parse_retry_after_ms);
}

#[test]
fn retry_after_reads_delta_seconds() {
    let now = now();
    check(
        |value| parse_retry_after(value, now),
        &[
            // Anthropic sends whole seconds.
            ("17", Some(secs(17))),
            ("0", Some(Duration::ZERO)),
            ("1.5", Some(ms(1500))),
            (".5", Some(ms(500))),
            ("2.", Some(secs(2))),
            (" 17 ", Some(secs(17))),
            ("86400", Some(MAX_HINT)),
            ("86400.5", None),
            ("86401", None),
            ("31536000", None),
        ],
    );
    none_for_garbage(|value| parse_retry_after(value, now));
}

#[test]
fn retry_after_reads_http_dates_relative_to_now() {
    // now is Fri, 25 Oct 2024 22:01:13 GMT.
    let now = now();
    check(
        |value| parse_retry_after(value, now),
        &[
            ("Fri, 25 Oct 2024 22:01:30 GMT", Some(secs(17))),
            ("  Fri, 25 Oct 2024 22:01:30 GMT\t", Some(secs(17))),
            // The obsolete forms RFC 9110 still asks recipients to accept.
            ("Friday, 25-Oct-24 22:01:30 GMT", Some(secs(17))),
            ("Fri Oct 25 22:01:30 2024", Some(secs(17))),
            // Now, and the past, mean "now".
            ("Fri, 25 Oct 2024 22:01:13 GMT", Some(Duration::ZERO)),
            ("Fri, 25 Oct 2024 22:00:00 GMT", Some(Duration::ZERO)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(Duration::ZERO)),
            // The ceiling.
            ("Sat, 26 Oct 2024 22:01:13 GMT", Some(MAX_HINT)),
            ("Sat, 26 Oct 2024 22:01:14 GMT", None),
            ("Fri, 31 Dec 9999 23:59:59 GMT", None),
            // Malformed dates.
            ("Sat, 25 Oct 2024 22:01:30 GMT", None),
            ("Fri, 25 Oct 2024 22:01:30 UTC", None),
            ("Fri, 25 Oct 2024 24:00:00 GMT", None),
            ("Wed, 30 Feb 2024 22:01:30 GMT", None),
            ("2024-10-25T22:01:30Z", None),
            ("Fri, 25 Oct 2024", None),
        ],
    );
}

#[test]
fn retry_after_ignores_bytes_that_are_not_utf8() {
    assert_eq!(parse_retry_after(b"\xff\xfe", now()), None);
    assert_eq!(
        parse_retry_after(b"Fri, 25 Oct 2024 22:01:30 GMT\xff", now()),
        None
    );
}

#[test]
fn go_durations_as_openai_sends_them() {
    check(
        parse_go_duration,
        &[
            // x-ratelimit-reset-requests and -tokens, as OpenAI sends them.
            ("1s", Some(secs(1))),
            ("6m0s", Some(secs(360))),
            ("20ms", Some(ms(20))),
            ("1m30.5s", Some(ms(90_500))),
            ("1h2m3s", Some(secs(3723))),
            ("2.5s", Some(ms(2500))),
            ("0s", Some(Duration::ZERO)),
            ("0", Some(Duration::ZERO)),
            ("17.913s", Some(ms(17_913))),
            ("1h0m0s", Some(secs(3600))),
            (
                "23h59m59.999999999s",
                Some(MAX_HINT - Duration::from_nanos(1)),
            ),
            ("24h0m0s", Some(MAX_HINT)),
            ("24h", Some(MAX_HINT)),
            // Every unit.
            ("3ns", Some(Duration::from_nanos(3))),
            ("500us", Some(Duration::from_micros(500))),
            ("500µs", Some(Duration::from_micros(500))), // U+00B5 MICRO SIGN
            ("500μs", Some(Duration::from_micros(500))), // U+03BC GREEK SMALL LETTER MU
            ("1.5ms", Some(Duration::from_micros(1500))),
            ("1.5m", Some(secs(90))),
            ("0.5h", Some(secs(1800))),
            // What Go's parser also accepts.
            (".5s", Some(ms(500))),
            ("1.s", Some(secs(1))),
            ("1s1s", Some(secs(2))),
            ("1s.5s", Some(ms(1500))),
            ("30s1m", Some(secs(90))),
            ("1.0000000001s", Some(secs(1))),
            (" 6m0s ", Some(secs(360))),
            // Above the ceiling, or overflowing.
            ("24h0m0.000000001s", None),
            ("25h", None),
            ("1441m", None),
            ("2562047h47m16.854775808s", None),
            ("99999999999999999999s", None),
            ("18446744073709551615ns", None),
            // Malformed.
            ("", None),
            ("s", None),
            ("5", None),
            ("00", None),
            ("-1s", None),
            ("+1s", None),
            ("-0s", None),
            ("1S", None),
            ("1sec", None),
            ("1 s", None),
            ("1s 2s", None),
            ("1e3s", None),
            ("1..5s", None),
            (".s", None),
            ("1m30", None),
            ("NaNs", None),
            ("infs", None),
            ("1d", None),
            ("\u{b5}s", None),
        ],
    );
}

#[test]
fn go_durations_reject_garbage() {
    none_for_garbage(parse_go_duration);
}

#[test]
fn rfc3339_instants() {
    let before_epoch = |secs: u64| UNIX_EPOCH - Duration::from_secs(secs);
    let nanos = |base: SystemTime, nanos: u64| base + Duration::from_nanos(nanos);
    check(
        parse_rfc3339,
        &[
            // anthropic-ratelimit-*-reset, as Anthropic sends it.
            ("2024-10-25T22:01:30Z", Some(at(1_729_893_690))),
            (
                "2024-10-25T22:01:30.5Z",
                Some(nanos(at(1_729_893_690), 500_000_000)),
            ),
            (
                "2024-10-25T22:01:30.123456789Z",
                Some(nanos(at(1_729_893_690), 123_456_789)),
            ),
            (
                "2024-10-25T22:01:30.1234567899999Z",
                Some(nanos(at(1_729_893_690), 123_456_789)),
            ),
            ("2024-10-25T22:01:30.000Z", Some(at(1_729_893_690))),
            // Offsets, and the lower-case separators RFC 3339 allows.
            ("2024-10-26T00:01:30+02:00", Some(at(1_729_893_690))),
            ("2024-10-25T16:31:30-05:30", Some(at(1_729_893_690))),
            ("2024-10-25T22:01:30+00:00", Some(at(1_729_893_690))),
            ("2024-10-25T22:01:30-00:00", Some(at(1_729_893_690))),
            ("2024-10-25t22:01:30z", Some(at(1_729_893_690))),
            ("2024-10-26T22:00:30+23:59", Some(at(1_729_893_690))),
            (" 2024-10-25T22:01:30Z ", Some(at(1_729_893_690))),
            // Leap days.
            ("2024-02-29T00:00:00Z", Some(at(1_709_164_800))),
            ("2000-02-29T12:00:00Z", Some(at(951_825_600))),
            // A leap second, only at the end of a UTC day, is the next midnight.
            ("2016-12-31T23:59:60Z", Some(at(1_483_228_800))),
            ("2017-01-01T00:59:60+01:00", Some(at(1_483_228_800))),
            (
                "2016-12-31T23:59:60.5Z",
                Some(nanos(at(1_483_228_800), 500_000_000)),
            ),
            // The whole range of years.
            ("1970-01-01T00:00:00Z", Some(UNIX_EPOCH)),
            ("1969-12-31T23:59:59Z", Some(before_epoch(1))),
            ("1970-01-01T00:00:00+01:00", Some(before_epoch(3600))),
            ("0000-01-01T00:00:00Z", Some(before_epoch(62_167_219_200))),
            ("9999-12-31T23:59:59Z", Some(at(253_402_300_799))),
            // Invalid dates and times.
            ("2023-02-29T00:00:00Z", None),
            ("2100-02-29T00:00:00Z", None),
            ("2024-02-30T00:00:00Z", None),
            ("2024-04-31T00:00:00Z", None),
            ("2024-13-01T00:00:00Z", None),
            ("2024-00-10T00:00:00Z", None),
            ("2024-10-00T00:00:00Z", None),
            ("2024-10-32T00:00:00Z", None),
            ("2024-10-25T24:00:00Z", None),
            ("2024-10-25T23:60:00Z", None),
            ("2024-10-25T12:00:60Z", None),
            ("2016-12-31T23:59:60+01:00", None),
            ("2024-10-25T22:01:61Z", None),
            // Invalid offsets.
            ("2024-10-25T22:01:30+24:00", None),
            ("2024-10-25T22:01:30+02:60", None),
            ("2024-10-25T22:01:30+0200", None),
            ("2024-10-25T22:01:30+02", None),
            ("2024-10-25T22:01:30", None),
            ("2024-10-25T22:01:30UTC", None),
            // Malformed.
            ("", None),
            ("2024-10-25", None),
            ("2024-10-25 22:01:30Z", None),
            ("2024-10-25T22:01:30.Z", None),
            ("2024-10-25T22:01:30,5Z", None),
            ("2024-10-25T22:01:30ZZ", None),
            ("2024-10-25T22:01:30Z1", None),
            ("24-10-25T22:01:30Z", None),
            ("2024-1-25T22:01:30Z", None),
            ("+2024-10-25T22:01:30Z", None),
            ("-2024-10-25T22:01:30Z", None),
            ("2024\u{2010}10\u{2010}25T22:01:30Z", None),
            ("１９７０-01-01T00:00:00Z", None),
            ("1729893690", None),
        ],
    );
}

#[test]
fn rfc3339_resets_relative_to_now() {
    // now is 2024-10-25T22:01:13Z.
    let now = now();
    check(
        |value| parse_rfc3339_delay(value, now),
        &[
            ("2024-10-25T22:01:30Z", Some(secs(17))),
            ("2024-10-25T22:01:30.25Z", Some(ms(17_250))),
            ("2024-10-26T00:01:30+02:00", Some(secs(17))),
            ("2024-10-25T22:01:13Z", Some(Duration::ZERO)),
            ("2024-10-25T22:01:12.999Z", Some(Duration::ZERO)),
            ("1970-01-01T00:00:00Z", Some(Duration::ZERO)),
            ("0000-01-01T00:00:00Z", Some(Duration::ZERO)),
            ("2024-10-26T22:01:13Z", Some(MAX_HINT)),
            ("2024-10-26T22:01:13.000000001Z", None),
            ("2024-10-26T23:01:30+02:00", Some(secs(23 * 3600 + 17))),
            ("9999-12-31T23:59:59Z", None),
            ("2024-02-30T00:00:00Z", None),
            ("tomorrow", None),
        ],
    );
}

#[test]
fn should_retry_reads_true_and_false() {
    check(
        parse_should_retry,
        &[
            ("true", Some(true)),
            ("false", Some(false)),
            ("TRUE", Some(true)),
            ("False", Some(false)),
            (" true\t", Some(true)),
            ("", None),
            ("1", None),
            ("0", None),
            ("yes", None),
            ("no", None),
            ("t", None),
            ("truee", None),
            ("true false", None),
            ("\"true\"", None),
            ("tru\u{0435}", None),
        ],
    );
}

#[test]
fn grpc_pushback_waits_or_refuses() {
    let wait = |after| Some(Hint::NONE.with_retry_after(after));
    let refuse = Some(Hint::NONE.with_should_retry(false));
    check(
        parse_grpc_pushback_ms,
        &[
            ("250", wait(ms(250))),
            ("0", wait(Duration::ZERO)),
            (" 250 ", wait(ms(250))),
            ("86400000", wait(MAX_HINT)),
            // gRFC A6: a negative value asks the client not to retry.
            ("-1", refuse),
            ("-250", refuse),
            ("-99999999999999999999", refuse),
            ("-0", wait(Duration::ZERO)),
            ("-000", wait(Duration::ZERO)),
            // No hint.
            ("86400001", None),
            ("99999999999999999999", None),
            ("1.5", None),
            ("-1.5", None),
            ("+5", None),
            ("-", None),
            ("--1", None),
            ("- 1", None),
            ("1e3", None),
            ("", None),
            ("NaN", None),
        ],
    );
}
