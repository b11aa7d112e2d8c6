//! `de::parse_duration`, `de::duration` and `de::option_duration`.

use std::time::Duration;

use proptest::prelude::*;
use serde::Deserialize;
use tower_failover::de::{DurationError, parse_duration};
use tower_failover::hint::{MAX_HINT, parse_go_duration};

use super::{assert_mentions, json, json_error, same_in_all, toml, toml_error, yaml_error};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timeouts {
    #[serde(deserialize_with = "tower_failover::de::duration")]
    connect: Duration,
    #[serde(default, deserialize_with = "tower_failover::de::option_duration")]
    idle: Option<Duration>,
}

const NEEDS_A_UNIT: &str = r#"a duration needs a unit, e.g. "500ms" or "30s""#;

#[test]
fn humane_strings_in_every_format() {
    let timeouts: Timeouts = same_in_all(
        r#"connect = "1m30s"
idle = "1.5s""#,
        r#"{"connect": "1m30s", "idle": "1.5s"}"#,
        "connect: 1m30s\nidle: 1.5s",
    );
    assert_eq!(timeouts.connect, Duration::from_secs(90));
    assert_eq!(timeouts.idle, Some(Duration::from_millis(1500)));
}

#[test]
fn every_unit() {
    let cases = [
        ("2h", Duration::from_secs(7200)),
        ("36h", Duration::from_secs(36 * 3600)),
        ("5m", Duration::from_secs(300)),
        ("30s", Duration::from_secs(30)),
        ("500ms", Duration::from_millis(500)),
        ("250us", Duration::from_micros(250)),
        ("250µs", Duration::from_micros(250)),
        ("7ns", Duration::from_nanos(7)),
        ("1h2m3.5s", Duration::from_millis(3_723_500)),
        ("0", Duration::ZERO),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_duration(text), Ok(expected), "{text}");
        let timeouts: Timeouts = toml(&format!("connect = {text:?}"));
        assert_eq!(timeouts.connect, expected, "{text}");
    }
}

#[test]
fn a_missing_optional_duration_is_none() {
    let timeouts: Timeouts = toml(r#"connect = "1s""#);
    assert_eq!(timeouts.idle, None);
    let timeouts: Timeouts = json(r#"{"connect": "1s", "idle": null}"#);
    assert_eq!(timeouts.idle, None);
    let timeouts: Timeouts = super::yaml("connect: 1s\nidle: ~");
    assert_eq!(timeouts.idle, None);
}

#[test]
fn bare_numbers_need_a_unit() {
    let message = toml_error::<Timeouts>("connect = 30");
    assert_mentions(&message, &[NEEDS_A_UNIT, "connect = 30", "line 1"]);
    let message = toml_error::<Timeouts>("connect = 1.5");
    assert_mentions(&message, &[NEEDS_A_UNIT]);
    let message = toml_error::<Timeouts>("connect = \"1s\"\nidle = 30");
    assert_mentions(&message, &[NEEDS_A_UNIT, "idle = 30", "line 2"]);
    let message = json_error::<Timeouts>(r#"{"connect": 30}"#);
    assert_mentions(&message, &[NEEDS_A_UNIT, "line 1 column"]);
    let message = yaml_error::<Timeouts>("connect: 30");
    assert_mentions(&message, &["connect", NEEDS_A_UNIT]);
    let message = json_error::<Timeouts>(r#"{"connect": -3}"#);
    assert_mentions(&message, &["a duration cannot be negative"]);
}

#[test]
fn every_error_class_names_the_key() {
    let cases = [
        (
            r#""""#,
            r#"a duration cannot be empty; write e.g. "500ms" or "30s""#,
        ),
        (r#""30""#, NEEDS_A_UNIT),
        (r#""1m30""#, NEEDS_A_UNIT),
        (r#""-1s""#, "a duration cannot be negative"),
        (
            r#""30sec""#,
            r#"unknown duration unit "sec"; use h, m, s, ms, us or ns"#,
        ),
        (r#""1S""#, r#"unknown duration unit "S""#),
        (
            r#""1.5.5s""#,
            r#"not a duration; write numbers with units, e.g. "1m30s""#,
        ),
        (r#""s""#, "not a duration"),
        (
            r#""99999999999999999999h""#,
            "a duration is too long to represent",
        ),
        (
            "true",
            r#"invalid type: boolean `true`, expected a duration such as "500ms" or "30s""#,
        ),
    ];
    for (value, expected) in cases {
        let message = toml_error::<Timeouts>(&format!("connect = {value}"));
        assert_mentions(&message, &[expected, &format!("connect = {value}")]);
    }
}

#[test]
fn the_error_type_is_a_std_error_with_a_lowercase_message() {
    let error: Box<dyn std::error::Error> = Box::new(parse_duration("").unwrap_err());
    let message = error.to_string();
    assert!(message.starts_with(char::is_lowercase), "{message}");
    let error: DurationError = parse_duration("5").unwrap_err();
    assert_eq!(error.clone(), error);
}

#[test]
fn an_unknown_unit_is_quoted_as_written() {
    let message = |text: &str| parse_duration(text).unwrap_err().to_string();
    assert_eq!(
        message(" \t2µm "),
        r#"unknown duration unit "µm"; use h, m, s, ms, us or ns"#
    );
    assert_eq!(
        message("1m 30s"),
        r#"unknown duration unit "m "; use h, m, s, ms, us or ns"#
    );
}

proptest! {
    // Configs and rate-limit headers share one grammar: the header parser
    // differs only by its ceiling (and by not saying what is wrong).
    #[test]
    fn the_header_parser_reads_the_same_durations(text in "[0-9.hmsunµμ \t+-]{0,24}") {
        let config = parse_duration(&text).ok().filter(|after| *after <= MAX_HINT);
        prop_assert_eq!(parse_go_duration(text.as_bytes()), config, "{:?}", text);
    }

    #[test]
    fn parse_duration_never_panics(text in ".{0,40}") {
        let _ = parse_duration(&text);
    }

    #[test]
    fn parse_duration_never_panics_on_duration_like_text(text in "[0-9.hmsun µ-]{0,30}") {
        let _ = parse_duration(&text);
    }

    #[test]
    fn milliseconds_round_trip(n in any::<u64>()) {
        prop_assert_eq!(parse_duration(&format!("{n}ms")), Ok(Duration::from_millis(n)));
    }

    #[test]
    fn components_add_up(h in 0_u64..10_000, m in 0_u64..1_000, s in 0_u64..1_000, ms in 0_u64..1_000) {
        let expected = Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format!("{h}h{m}m{s}s{ms}ms")), Ok(expected));
    }
}
