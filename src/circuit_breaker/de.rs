//! `Deserialize` for this module's config types (the `serde` feature).
//!
//! The accepted forms are documented on [`BreakerConfig`]'s `Deserialize`
//! implementation and in [`crate::de`].

use serde::de::{self, Deserialize, Deserializer};

use super::config::{DEFAULT_OPEN_BASE, DEFAULT_OPEN_MAX};
use super::{BreakerConfig, OpenBackoff, Window};
use crate::InvalidConfig;
use crate::de::HumaneDuration;

const LAYER: &str = "circuit breaker";

/// Deserializes a config from a table whose fields are named like the
/// [`BreakerConfigBuilder`](super::BreakerConfigBuilder) methods, all
/// optional, each defaulting to [`BreakerConfig::default`]:
///
/// | field | accepts | default |
/// |---|---|---|
/// | `name` | a string | `"circuit_breaker"` |
/// | `window` | a [`Window`]: `{ calls = 50 }` or `{ span = "30s", buckets = 10 }` | `{ calls = 50 }` |
/// | `minimum_calls` | at least 1 | `10` |
/// | `failure_rate_threshold` | above 0, at most 1 | `0.5` |
/// | `slow_calls` | `{ duration = "20s", rate = 0.8 }` | off |
/// | `consecutive_failures` | at least 1 | off |
/// | `open_backoff` | an [`OpenBackoff`]: `{ constant = "30s" }` or `{ base, max, multiplier, jitter }` | `{ base = "5s", max = "5m", multiplier = 2.0, jitter = 0.2 }` |
/// | `half_open_permits` | 1 to 4095 | `3` |
/// | `max_half_open_duration` | a duration | `"2m"` |
/// | `unbounded_half_open` | `true`: no limit on the time in half-open | `false` |
/// | `retry_after_cap` | a duration | `"10m"` |
/// | `ignore_retry_after` | `true`: the open duration ignores server hints | `false` |
///
/// Setting both `max_half_open_duration` and `unbounded_half_open = true`,
/// or both `retry_after_cap` and `ignore_retry_after = true`, is an error.
/// Unknown fields are errors; so is anything
/// [`BreakerConfigBuilder::build`](super::BreakerConfigBuilder::build)
/// rejects, with its message (`invalid circuit breaker setting
/// minimum_calls: minimum_calls exceeds the size of the count window`). The
/// transition hook cannot come from a file: add it in code with
/// [`on_transition`](super::BreakerConfigBuilder::on_transition) on a
/// builder of your own.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::circuit_breaker::BreakerConfig;
///
/// let config: BreakerConfig = toml::from_str(r#"
///     name = "anthropic"
///     window = { span = "60s", buckets = 12 }
///     minimum_calls = 10
///     failure_rate_threshold = 0.5
///     slow_calls = { duration = "30s", rate = 0.8 }
///     consecutive_failures = 5
///     open_backoff = { constant = "30s" }
///     half_open_permits = 2
///     unbounded_half_open = true
///     ignore_retry_after = true
/// "#)?;
/// assert_eq!(config.name(), "anthropic");
///
/// let error = toml::from_str::<BreakerConfig>(r#"
///     window = { calls = 10 }
///     minimum_calls = 20
/// "#).unwrap_err();
/// assert!(error.message().contains("invalid circuit breaker setting minimum_calls"));
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for BreakerConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(deserializer)?;
        raw.build().map_err(de::Error::custom)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: Option<String>,
    window: Option<Window>,
    minimum_calls: Option<u32>,
    failure_rate_threshold: Option<f64>,
    slow_calls: Option<SlowCalls>,
    consecutive_failures: Option<u32>,
    open_backoff: Option<OpenBackoff>,
    half_open_permits: Option<u32>,
    max_half_open_duration: Option<HumaneDuration>,
    #[serde(default)]
    unbounded_half_open: bool,
    retry_after_cap: Option<HumaneDuration>,
    #[serde(default)]
    ignore_retry_after: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowCalls {
    duration: HumaneDuration,
    rate: f64,
}

impl RawConfig {
    fn build(self) -> Result<BreakerConfig, InvalidConfig> {
        let mut builder = BreakerConfig::builder();
        if let Some(name) = self.name {
            builder = builder.name(name);
        }
        if let Some(window) = self.window {
            builder = builder.window(window);
        }
        if let Some(calls) = self.minimum_calls {
            builder = builder.minimum_calls(calls);
        }
        if let Some(rate) = self.failure_rate_threshold {
            builder = builder.failure_rate_threshold(rate);
        }
        if let Some(SlowCalls { duration, rate }) = self.slow_calls {
            builder = builder.slow_calls(duration.0, rate);
        }
        if let Some(failures) = self.consecutive_failures {
            builder = builder.consecutive_failures(failures);
        }
        if let Some(backoff) = self.open_backoff {
            builder = builder.open_backoff(backoff);
        }
        if let Some(permits) = self.half_open_permits {
            builder = builder.half_open_permits(permits);
        }
        match (self.max_half_open_duration, self.unbounded_half_open) {
            (Some(_), true) => {
                return Err(InvalidConfig::new(
                    LAYER,
                    "unbounded_half_open",
                    "cannot be true together with max_half_open_duration",
                ));
            }
            (Some(duration), false) => builder = builder.max_half_open_duration(duration.0),
            (None, true) => builder = builder.unbounded_half_open(),
            (None, false) => {}
        }
        match (self.retry_after_cap, self.ignore_retry_after) {
            (Some(_), true) => {
                return Err(InvalidConfig::new(
                    LAYER,
                    "ignore_retry_after",
                    "cannot be true together with retry_after_cap",
                ));
            }
            (Some(cap), false) => builder = builder.retry_after_cap(cap.0),
            (None, true) => builder = builder.ignore_retry_after(),
            (None, false) => {}
        }
        builder.build()
    }
}

/// Deserializes a window from `{ calls = 100 }` (the last 100 calls,
/// [`Window::count`]) or `{ span = "30s", buckets = 10 }` (the calls of the
/// last 30 s, [`Window::time`]; `buckets` optional, default 10). Checked
/// like [`BreakerConfigBuilder::window`](super::BreakerConfigBuilder::window)
/// does: an error names `window`.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::circuit_breaker::Window;
///
/// let window: Window = serde_json::from_str(r#"{"calls": 100}"#).unwrap();
/// assert_eq!(window, Window::count(100));
/// let window: Window = serde_json::from_str(r#"{"span": "1m"}"#).unwrap();
/// assert_eq!(window, Window::time(Duration::from_secs(60), 10));
///
/// let error = serde_json::from_str::<Window>(r#"{"calls": 0}"#).unwrap_err();
/// assert!(error.to_string().starts_with("invalid circuit breaker setting window"));
/// ```
impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawWindow {
            calls: Option<u32>,
            span: Option<HumaneDuration>,
            buckets: Option<u32>,
        }

        let raw = RawWindow::deserialize(deserializer)?;
        let window = match (raw.calls, raw.span) {
            (Some(calls), None) if raw.buckets.is_none() => Window::count(calls),
            (None, Some(span)) => Window::time(span.0, raw.buckets.unwrap_or(10)),
            (None, None) => {
                return Err(de::Error::custom(InvalidConfig::new(
                    LAYER,
                    "window",
                    "needs either calls (a count window) or span (a time window)",
                )));
            }
            _ => {
                return Err(de::Error::custom(InvalidConfig::new(
                    LAYER,
                    "window",
                    "a count window (calls) has no span or buckets",
                )));
            }
        };
        window.validate().map_err(de::Error::custom)?;
        Ok(window)
    }
}

/// Deserializes an open backoff from `{ constant = "30s" }`
/// ([`OpenBackoff::constant`]; an optional `jitter` too) or `{ base = "5s",
/// max = "5m", multiplier = 2.0, jitter = 0.2 }`
/// ([`OpenBackoff::exponential`], every field optional, defaults as shown).
/// Checked like [`BreakerConfigBuilder::open_backoff`](super::BreakerConfigBuilder::open_backoff)
/// does: an error names `open_backoff`.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::circuit_breaker::OpenBackoff;
///
/// let backoff: OpenBackoff = serde_json::from_str(r#"{"constant": "30s"}"#).unwrap();
/// assert_eq!(backoff, OpenBackoff::constant(Duration::from_secs(30)));
/// let backoff: OpenBackoff = serde_json::from_str(r#"{"base": "1s", "jitter": 0.1}"#).unwrap();
/// assert_eq!(
///     backoff,
///     OpenBackoff::exponential(Duration::from_secs(1), Duration::from_secs(300)).jitter(0.1),
/// );
///
/// let error = serde_json::from_str::<OpenBackoff>(r#"{"multiplier": 0.5}"#).unwrap_err();
/// assert!(error.to_string().starts_with("invalid circuit breaker setting open_backoff"));
/// ```
impl<'de> Deserialize<'de> for OpenBackoff {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawOpenBackoff {
            constant: Option<HumaneDuration>,
            base: Option<HumaneDuration>,
            max: Option<HumaneDuration>,
            multiplier: Option<f64>,
            jitter: Option<f64>,
        }

        let raw = RawOpenBackoff::deserialize(deserializer)?;
        let backoff = match raw.constant {
            Some(_) if raw.base.is_some() || raw.max.is_some() || raw.multiplier.is_some() => {
                return Err(de::Error::custom(InvalidConfig::new(
                    LAYER,
                    "open_backoff",
                    "a constant open backoff has no base, max or multiplier",
                )));
            }
            Some(duration) => OpenBackoff::constant(duration.0).jitter(raw.jitter.unwrap_or(0.0)),
            None => {
                let mut backoff = OpenBackoff::exponential(
                    raw.base.map_or(DEFAULT_OPEN_BASE, |base| base.0),
                    raw.max.map_or(DEFAULT_OPEN_MAX, |max| max.0),
                );
                if let Some(multiplier) = raw.multiplier {
                    backoff = backoff.multiplier(multiplier);
                }
                if let Some(jitter) = raw.jitter {
                    backoff = backoff.jitter(jitter);
                }
                backoff
            }
        };
        backoff.validate().map_err(de::Error::custom)?;
        Ok(backoff)
    }
}
