//! Configuration from TOML, YAML, JSON or any other serde format: humane
//! durations, and `Deserialize` for every settings type (the `serde`
//! feature).
//!
//! Every settings type of the crate deserializes from the shape of its
//! builder: fields are named like the builder methods, every field is
//! optional unless the type's docs say otherwise (`HedgeConfig`'s `delay`,
//! the fields of a rate or of a percentile delay) and defaults to what the
//! builder sets, and the result goes
//! through the same builder, so a config file cannot build anything the
//! builders would reject. Unknown fields are errors: a typo is reported, not
//! silently ignored.
//!
//! | type | shape |
//! |---|---|
//! | [`RetryPolicy`](crate::retry::RetryPolicy) | `{ max_attempts, backoff, max_retry_after, budget }` |
//! | [`Backoff`](crate::retry::Backoff) | `{ base, cap, jitter }`, `{ constant, jitter }` or `"none"` |
//! | [`Jitter`](crate::retry::Jitter) | `"full"`, `"equal"`, `"decorrelated"` or `"none"` |
//! | [`RetryBudget`](crate::retry::RetryBudget) | `{ ttl, min_per_sec, ratio }` |
//! | [`BreakerConfig`](crate::circuit_breaker::BreakerConfig) | `{ name, window, minimum_calls, failure_rate_threshold, slow_calls, consecutive_failures, open_backoff, half_open_permits, max_half_open_duration, unbounded_half_open, retry_after_cap, ignore_retry_after }` |
//! | [`Window`](crate::circuit_breaker::Window) | `{ calls }` or `{ span, buckets }` |
//! | [`OpenBackoff`](crate::circuit_breaker::OpenBackoff) | `{ constant, jitter }` or `{ base, max, multiplier, jitter }` |
//! | [`FallbackGraph`](crate::fallback::FallbackGraph) | `{ model = [fallbacks…], … }`, optionally with `max_depth` and `routes` |
//! | [`Routing`](crate::fallback::Routing) | `"static"`, `"least_latency"`, `{ least_latency = { half_life, failure_penalty } }` or `{ weighted = [weights…] }` |
//! | [`RateLimitConfig`](crate::rate_limit::RateLimitConfig) | `{ name, requests = { count, per }, burst, tokens = { count, per }, token_burst, max_wait, adapt }` |
//! | [`HedgeConfig`](crate::hedge::HedgeConfig) | `{ delay, max_hedges, latency_window, budget }` |
//! | [`HedgeDelay`](crate::hedge::HedgeDelay) | `"150ms"` or `{ percentile = 95, min_samples, fallback }` |
//! | [`TimeoutBudgetLayer`](crate::deadline::TimeoutBudgetLayer) | `"30s"` or `{ budget = "30s" }` |
//! | [`AttemptTimeoutLayer`](crate::deadline::AttemptTimeoutLayer) | `"10s"` or `{ per_try = "10s" }` |
//! | [`SseGuardLayer`](crate::llm::sse::SseGuardLayer) | `{ first_event_timeout, idle_timeout, max_first_event_bytes }` |
//! | [`ErrorBodyLayer`](crate::llm::error_body::ErrorBodyLayer) | `{ limit }` |
//!
//! Each type's own documentation lists its accepted forms and defaults.
//!
//! # Durations
//!
//! A duration is a string of one or more decimal numbers, each followed by a
//! unit: `h`, `m`, `s`, `ms`, `us` (or `µs`) or `ns`, as in Go and in
//! OpenAI's rate-limit headers: `"500ms"`, `"30s"`, `"1.5s"`, `"1m30s"`,
//! `"2h"`, `"250us"`. `"0"` is zero. A bare number (`30`) is rejected:
//! seconds or milliseconds? The config must say. So are negative durations,
//! unknown units (`"30sec"`), empty strings and values too long to
//! represent. Use [`duration`] and [`option_duration`] for the durations of
//! your own settings, and [`parse_duration`] for environment variables and
//! flags.
//!
//! # Errors
//!
//! Three kinds of mistakes, each naming the field:
//!
//! - **unknown field or wrong type**, reported by serde: ``unknown field
//!   `max_attempt`, expected one of `max_attempts`, …``, ``invalid type:
//!   string "three", expected u32``;
//! - **bad duration**: `a duration needs a unit, e.g. "500ms" or "30s"`;
//! - **rejected by the builder**, the builder's
//!   [`InvalidConfig`](crate::InvalidConfig) as the message: `invalid retry
//!   setting max_attempts: must be between 1 and 100`.
//!
//! Formats that know where they are say so: `toml` shows the line and the
//! key, `serde_json` the line and column. For nested configs, wrap the
//! deserializer in [`serde_path_to_error`](https://docs.rs/serde_path_to_error)
//! to get the path to the bad setting (`upstreams.openai.retry.max_attempts`)
//! whatever the format; see the second example below.
//!
//! # Examples
//!
//! The settings of a whole stack, in the application's own config struct:
//!
//! ```
//! # #[cfg(feature = "full")] {
//! use std::time::Duration;
//! use serde::Deserialize;
//! use tower_failover::circuit_breaker::BreakerConfig;
//! use tower_failover::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};
//! use tower_failover::fallback::FallbackGraph;
//! use tower_failover::retry::{Backoff, Jitter, RetryPolicy};
//!
//! #[derive(Debug, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Settings {
//!     // One deadline for the whole call.
//!     budget: TimeoutBudgetLayer,
//!     // One attempt's timeout.
//!     attempt_timeout: AttemptTimeoutLayer,
//!     // Your own durations: humane strings too.
//!     #[serde(deserialize_with = "tower_failover::de::duration")]
//!     connect_timeout: Duration,
//!     #[serde(default, deserialize_with = "tower_failover::de::option_duration")]
//!     pool_idle_timeout: Option<Duration>,
//!     retry: RetryPolicy,
//!     breaker: BreakerConfig,
//!     fallback: FallbackGraph,
//! }
//!
//! let settings: Settings = toml::from_str(r#"
//!     budget = "30s"
//!     attempt_timeout = "10s"
//!     connect_timeout = "2s"
//!
//!     [retry]
//!     max_attempts = 3
//!     backoff = { base = "500ms", cap = "8s", jitter = "full" }
//!     max_retry_after = "60s"
//!     budget = { ttl = "10s", min_per_sec = 10, ratio = 0.2 }
//!
//!     [breaker]
//!     name = "openai"
//!     window = { span = "30s", buckets = 10 }
//!     minimum_calls = 20
//!     failure_rate_threshold = 0.5
//!     slow_calls = { duration = "20s", rate = 0.8 }
//!     consecutive_failures = 5
//!     open_backoff = { base = "5s", max = "5m", multiplier = 2.0, jitter = 0.1 }
//!     half_open_permits = 3
//!     max_half_open_duration = "2m"
//!     retry_after_cap = "10m"
//!
//!     [fallback]
//!     "gpt-4o" = ["claude-sonnet", "gpt-4o-mini"]
//!     "claude-sonnet" = ["claude-haiku"]
//!     "claude-haiku" = []
//!     "gpt-4o-mini" = []
//! "#)?;
//!
//! assert_eq!(settings.connect_timeout, Duration::from_secs(2));
//! assert_eq!(settings.pool_idle_timeout, None);
//! assert_eq!(settings.retry.max_attempts(), 3);
//! assert_eq!(settings.retry.backoff(), &Backoff::default());
//! assert_eq!(settings.breaker.name(), "openai");
//! let chain: Vec<&str> = settings.fallback.chain("gpt-4o").unwrap().collect();
//! assert_eq!(chain, ["claude-sonnet", "claude-haiku", "gpt-4o-mini"]);
//! # }
//! # Ok::<(), toml::de::Error>(())
//! ```
//!
//! A mistake deep in a nested config, located with `serde_path_to_error`:
//!
//! ```
//! # #[cfg(feature = "full")] {
//! use std::collections::BTreeMap;
//! use serde::Deserialize;
//! use tower_failover::retry::RetryPolicy;
//!
//! #[derive(Debug, Deserialize)]
//! struct Upstream {
//!     base_url: String,
//!     #[serde(default)]
//!     retry: RetryPolicy,
//! }
//!
//! #[derive(Debug, Deserialize)]
//! struct Config {
//!     upstreams: BTreeMap<String, Upstream>,
//! }
//!
//! let text = r#"
//!     [upstreams.openai]
//!     base_url = "https://api.openai.com/v1"
//!     retry = { max_attempts = 0 }
//! "#;
//! let deserializer = toml::Deserializer::parse(text).unwrap();
//! let error = serde_path_to_error::deserialize::<_, Config>(deserializer).unwrap_err();
//! assert_eq!(error.path().to_string(), "upstreams.openai.retry");
//! assert!(error
//!     .inner()
//!     .message()
//!     .contains("invalid retry setting max_attempts: must be between 1 and 100"));
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Unexpected, Visitor};

use crate::hint::{GoDurationError, scan_go_duration};

/// What a duration looks like, for serde's "expected …" messages.
const EXPECTING: &str = r#"a duration such as "500ms" or "30s""#;

/// The longest unit name quoted back in an error.
const MAX_QUOTED_UNIT: usize = 16;

/// A duration could not be parsed: see [`parse_duration`].
///
/// Its message is lowercase and says what is wrong, e.g. `a duration needs
/// a unit, e.g. "500ms" or "30s"`.
///
/// ```
/// use tower_failover::de::parse_duration;
///
/// let error = parse_duration("30").unwrap_err();
/// assert_eq!(error.to_string(), r#"a duration needs a unit, e.g. "500ms" or "30s""#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    kind: ErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ErrorKind {
    Empty,
    MissingUnit,
    Negative,
    UnknownUnit(Box<str>),
    Malformed,
    Overflow,
}

impl DurationError {
    const fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Empty => {
                f.write_str(r#"a duration cannot be empty; write e.g. "500ms" or "30s""#)
            }
            ErrorKind::MissingUnit => {
                f.write_str(r#"a duration needs a unit, e.g. "500ms" or "30s""#)
            }
            ErrorKind::Negative => f.write_str("a duration cannot be negative"),
            ErrorKind::UnknownUnit(unit) => write!(
                f,
                "unknown duration unit {unit:?}; use h, m, s, ms, us or ns"
            ),
            ErrorKind::Malformed => {
                f.write_str(r#"not a duration; write numbers with units, e.g. "1m30s""#)
            }
            ErrorKind::Overflow => f.write_str("a duration is too long to represent"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a humane duration: one or more decimal numbers, each with a unit
/// (`h`, `m`, `s`, `ms`, `us`, `µs` or `ns`), such as `"500ms"`, `"30s"`,
/// `"1.5s"`, `"1m30s"` or `"2h"`; or `"0"`.
///
/// The grammar is Go's `time.ParseDuration` without a sign, as
/// [`parse_go_duration`](crate::hint::parse_go_duration) reads in rate-limit
/// headers, but without its 24-hour ceiling (a config may say `"36h"`), and
/// with an error that says what is wrong. Spaces and tabs around the value
/// are ignored; precision is truncated to whole nanoseconds.
///
/// # Errors
///
/// [`DurationError`] for an empty value, a number without a unit (`"30"`: is
/// it seconds or milliseconds?), a sign (`"-1s"`), an unknown unit
/// (`"30sec"`, `"1S"`), anything else that is not a duration, or a value
/// too long for a [`Duration`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tower_failover::de::parse_duration;
///
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("36h"), Ok(Duration::from_secs(36 * 3600)));
/// assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
/// assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
///
/// assert_eq!(
///     parse_duration("-1s").unwrap_err().to_string(),
///     "a duration cannot be negative",
/// );
/// assert_eq!(
///     parse_duration("30sec").unwrap_err().to_string(),
///     r#"unknown duration unit "sec"; use h, m, s, ms, us or ns"#,
/// );
///
/// // From an environment variable, with a default:
/// let timeout = std::env::var("MY_APP_TIMEOUT")
///     .ok()
///     .map(|value| parse_duration(&value))
///     .transpose()?
///     .unwrap_or(Duration::from_secs(30));
/// # let _ = timeout;
/// # Ok::<(), tower_failover::de::DurationError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let nanos = scan_go_duration(text.as_bytes()).map_err(|error| {
        DurationError::new(match error {
            GoDurationError::Empty => ErrorKind::Empty,
            GoDurationError::MissingUnit => ErrorKind::MissingUnit,
            GoDurationError::Negative => ErrorKind::Negative,
            GoDurationError::UnknownUnit(range) => {
                // The range is on character boundaries (digits, '.', spaces
                // or the ends around it); `get` keeps that from mattering.
                let unit = text.get(range).unwrap_or_default();
                let quoted: String = unit.chars().take(MAX_QUOTED_UNIT).collect();
                ErrorKind::UnknownUnit(quoted.into())
            }
            GoDurationError::Malformed => ErrorKind::Malformed,
            GoDurationError::Overflow => ErrorKind::Overflow,
        })
    })?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC)
        .map_err(|_| DurationError::new(ErrorKind::Overflow))?;
    // The remainder is below a second, so it fits a u32.
    Ok(Duration::new(secs, (nanos % NANOS_PER_SEC) as u32))
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Deserializes a [`Duration`] from a humane string (`"500ms"`, `"30s"`,
/// `"1m30s"`; see [`parse_duration`]), for
/// `#[serde(deserialize_with = "tower_failover::de::duration")]`.
///
/// Numbers are rejected with `a duration needs a unit, e.g. "500ms" or
/// "30s"`: a bare `30` could mean seconds or milliseconds.
///
/// # Errors
///
/// The deserializer's error, with [`DurationError`]'s message.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use serde::Deserialize;
///
/// #[derive(Debug, Deserialize)]
/// struct Settings {
///     #[serde(deserialize_with = "tower_failover::de::duration")]
///     timeout: Duration,
/// }
///
/// let settings: Settings = toml::from_str(r#"timeout = "1m30s""#).unwrap();
/// assert_eq!(settings.timeout, Duration::from_secs(90));
///
/// let error = toml::from_str::<Settings>("timeout = 90").unwrap_err();
/// assert!(error.message().contains(r#"a duration needs a unit, e.g. "500ms" or "30s""#));
/// ```
pub fn duration<'de, D>(deserializer: D) -> Result<Duration, D::Error>
where
    D: Deserializer<'de>,
{
    // `any`, not `str`: a number must reach the visitor to be told it
    // needs a unit, rather than be a bare type error.
    deserializer.deserialize_any(DurationVisitor)
}

/// Deserializes an optional [`Duration`] (see [`duration`]), for
/// `#[serde(default, deserialize_with = "tower_failover::de::option_duration")]`.
///
/// A missing field is `None` thanks to `#[serde(default)]`; so is a null
/// in the formats that have one (JSON `null`, YAML `~`).
///
/// # Errors
///
/// The deserializer's error, with [`DurationError`]'s message.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Settings {
///     #[serde(default, deserialize_with = "tower_failover::de::option_duration")]
///     idle_timeout: Option<Duration>,
/// }
///
/// let settings: Settings = toml::from_str(r#"idle_timeout = "5m""#).unwrap();
/// assert_eq!(settings.idle_timeout, Some(Duration::from_secs(300)));
/// let settings: Settings = toml::from_str("").unwrap();
/// assert_eq!(settings.idle_timeout, None);
/// let settings: Settings = serde_json::from_str(r#"{"idle_timeout": null}"#).unwrap();
/// assert_eq!(settings.idle_timeout, None);
/// ```
pub fn option_duration<'de, D>(deserializer: D) -> Result<Option<Duration>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_option(OptionDurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTING)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
        parse_duration(value).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Duration, E> {
        Err(E::custom(DurationError::new(ErrorKind::MissingUnit)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
        if value < 0 {
            return Err(E::custom(DurationError::new(ErrorKind::Negative)));
        }
        Err(E::custom(DurationError::new(ErrorKind::MissingUnit)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
        if value < 0.0 {
            return Err(E::custom(DurationError::new(ErrorKind::Negative)));
        }
        Err(E::custom(DurationError::new(ErrorKind::MissingUnit)))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Duration, E> {
        match std::str::from_utf8(value) {
            Ok(value) => self.visit_str(value),
            Err(_) => Err(E::invalid_value(Unexpected::Bytes(value), &self)),
        }
    }
}

struct OptionDurationVisitor;

impl<'de> Visitor<'de> for OptionDurationVisitor {
    type Value = Option<Duration>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTING)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        duration(deserializer).map(Some)
    }

    // Formats without an option type (TOML) hand the value over directly.
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        DurationVisitor.visit_str(value).map(Some)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        DurationVisitor.visit_u64(value).map(Some)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        DurationVisitor.visit_i64(value).map(Some)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        DurationVisitor.visit_f64(value).map(Some)
    }
}

/// `crate::de::duration` for a field of a `#[derive(Deserialize)]` struct
/// inside the crate: a [`Duration`] that deserializes from a humane string.
#[allow(dead_code)] // unused when no layer is enabled
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HumaneDuration(pub(crate) Duration);

impl<'de> de::Deserialize<'de> for HumaneDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        duration(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_go_grammar_without_a_ceiling() {
        let ok = |text: &str, expected: Duration| assert_eq!(parse_duration(text), Ok(expected));
        ok("500ms", Duration::from_millis(500));
        ok("30s", Duration::from_secs(30));
        ok("1m30s", Duration::from_secs(90));
        ok("1.5s", Duration::from_millis(1500));
        ok(".5s", Duration::from_millis(500));
        ok("2.s", Duration::from_secs(2));
        ok("2h", Duration::from_secs(7200));
        ok("250us", Duration::from_micros(250));
        ok("250µs", Duration::from_micros(250));
        ok("7ns", Duration::from_nanos(7));
        ok(" 1h2m3s\t", Duration::from_secs(3723));
        ok("0", Duration::ZERO);
        ok("0s", Duration::ZERO);
        ok("100000h", Duration::from_secs(360_000_000));
        ok(&format!("{}ms", u64::MAX), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn says_what_is_wrong() {
        let kind = |text: &str| parse_duration(text).unwrap_err().kind;
        assert_eq!(kind(""), ErrorKind::Empty);
        assert_eq!(kind("  "), ErrorKind::Empty);
        assert_eq!(kind("30"), ErrorKind::MissingUnit);
        assert_eq!(kind("1m30"), ErrorKind::MissingUnit);
        assert_eq!(kind("1.5"), ErrorKind::MissingUnit);
        assert_eq!(kind("-1s"), ErrorKind::Negative);
        assert_eq!(kind("30sec"), ErrorKind::UnknownUnit("sec".into()));
        assert_eq!(kind("1S"), ErrorKind::UnknownUnit("S".into()));
        assert_eq!(kind("1e3s"), ErrorKind::UnknownUnit("e".into()));
        assert_eq!(kind("+1s"), ErrorKind::Malformed);
        assert_eq!(kind("s"), ErrorKind::Malformed);
        assert_eq!(kind("."), ErrorKind::Malformed);
        assert_eq!(kind("1.5.5s"), ErrorKind::Malformed);
        assert_eq!(
            parse_duration(&format!("{}s", u64::MAX)),
            Ok(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            kind(&format!("{}s", u128::from(u64::MAX) + 1)),
            ErrorKind::Overflow
        );
        assert_eq!(kind(&format!("{}0h", u128::MAX)), ErrorKind::Overflow);
        assert_eq!(
            kind("99999999999999999999999999999999999999999h"),
            ErrorKind::Overflow
        );
    }

    #[test]
    fn quotes_at_most_a_short_unit() {
        let long = format!("1{}", "x".repeat(10_000));
        let message = parse_duration(&long).unwrap_err().to_string();
        assert!(message.len() < 100, "{message}");
    }
}
