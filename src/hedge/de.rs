//! `Deserialize` for this module's config types (the `serde` feature).
//!
//! The accepted forms are documented on [`HedgeConfig`]'s `Deserialize`
//! implementation and in [`crate::de`].

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, MapAccess, Visitor};

use super::{HedgeConfig, HedgeDelay};
use crate::InvalidConfig;
use crate::de::HumaneDuration;
use crate::retry::RetryBudget;

const LAYER: &str = "hedge";

/// Deserializes a config with the [`DefaultClassifier`](crate::classify::DefaultClassifier)
/// and the [`DefaultShouldHedge`](super::DefaultShouldHedge) from a table
/// whose fields are named like the [`HedgeConfigBuilder`](super::HedgeConfigBuilder)
/// methods; every field but `delay` is optional and defaults to what
/// [`HedgeConfig::builder`] sets:
///
/// | field | accepts | default |
/// |---|---|---|
/// | `name` | a string, not empty | `"hedge"` |
/// | `delay` | a [`HedgeDelay`]: `"150ms"` or `{ percentile = 95, min_samples = 100, fallback = "500ms" }` | required |
/// | `max_hedges` | 1 to [`MAX_HEDGES_LIMIT`](super::MAX_HEDGES_LIMIT) | `1` |
/// | `latency_window` | a duration from 1 s to 1 h | `"10s"` |
/// | `budget` | `{ ttl, min_per_sec, ratio }` (a [`RetryBudget`], every field optional) | `{ ttl = "10s", min_per_sec = 10, ratio = 0.2 }` |
///
/// Each `Deserialize`d config gets its own budget: to share the retry
/// policy's, build the config in code with
/// [`budget`](super::HedgeConfigBuilder::budget) and a clone of
/// [`RetryPolicy::budget`](crate::retry::RetryPolicy::budget).
///
/// Unknown fields are errors; so is anything
/// [`HedgeConfigBuilder::build`](super::HedgeConfigBuilder::build) rejects,
/// with its message (`invalid hedge setting max_hedges: must be between 1
/// and 4`). The classifier and the [`ShouldHedge`](super::ShouldHedge)
/// predicate cannot come from a file: set them in code.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::hedge::{HedgeConfig, HedgeDelay};
///
/// let config: HedgeConfig = toml::from_str(r#"
///     name = "openai"
///     delay = { percentile = 95, min_samples = 100, fallback = "500ms" }
///     max_hedges = 2
///     latency_window = "30s"
///     budget = { ttl = "10s", min_per_sec = 5, ratio = 0.1 }
/// "#)?;
/// assert_eq!(
///     config.delay(),
///     HedgeDelay::Percentile { p: 95.0, min_samples: 100, fallback: Duration::from_millis(500) },
/// );
/// assert_eq!(config.max_hedges(), 2);
/// assert_eq!(config.name(), "openai");
///
/// let config: HedgeConfig = toml::from_str(r#"delay = "150ms""#)?;
/// assert_eq!(config.delay(), HedgeDelay::Fixed(Duration::from_millis(150)));
///
/// let error = toml::from_str::<HedgeConfig>(r#"
///     delay = "150ms"
///     max_hedges = 9
/// "#).unwrap_err();
/// assert!(error.message().contains("invalid hedge setting max_hedges: must be between 1 and 4"));
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for HedgeConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawConfig {
            name: Option<String>,
            delay: HedgeDelay,
            max_hedges: Option<u32>,
            latency_window: Option<HumaneDuration>,
            budget: Option<RetryBudget>,
        }

        let raw = RawConfig::deserialize(deserializer)?;
        let mut builder = HedgeConfig::builder(raw.delay);
        if let Some(name) = raw.name {
            builder = builder.name(name);
        }
        if let Some(max_hedges) = raw.max_hedges {
            builder = builder.max_hedges(max_hedges);
        }
        if let Some(HumaneDuration(window)) = raw.latency_window {
            builder = builder.latency_window(window);
        }
        if let Some(budget) = raw.budget {
            builder = builder.budget(budget);
        }
        builder.build().map_err(de::Error::custom)
    }
}

/// Deserializes a delay from a duration (`"150ms"`: [`HedgeDelay::Fixed`])
/// or from `{ percentile = 95, min_samples = 100, fallback = "500ms" }`
/// ([`HedgeDelay::Percentile`], every field required).
///
/// `percentile` is in percent, as [`HedgeDelay::Percentile`]'s `p`: `95`
/// (or `95.0`, `99.9`) is the 95th percentile. It must be at least 1 and
/// below 100: a value below 1 is almost surely a fraction written for a
/// percentage (`0.95`), and is rejected rather than hedging nearly every
/// call. Checked like [`HedgeConfigBuilder::build`](super::HedgeConfigBuilder::build)
/// checks a delay: an error names `delay`, `delay.percentile`,
/// `delay.min_samples` or `delay.fallback`.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::hedge::HedgeDelay;
///
/// let delay: HedgeDelay = serde_json::from_str(r#""150ms""#).unwrap();
/// assert_eq!(delay, HedgeDelay::Fixed(Duration::from_millis(150)));
/// let delay: HedgeDelay = serde_json::from_str(
///     r#"{"percentile": 99, "min_samples": 50, "fallback": "1s"}"#,
/// ).unwrap();
/// assert_eq!(
///     delay,
///     HedgeDelay::Percentile { p: 99.0, min_samples: 50, fallback: Duration::from_secs(1) },
/// );
///
/// let error = serde_json::from_str::<HedgeDelay>(
///     r#"{"percentile": 0.95, "min_samples": 50, "fallback": "1s"}"#,
/// ).unwrap_err();
/// assert!(error.to_string().starts_with("invalid hedge setting delay.percentile"));
/// let error = serde_json::from_str::<HedgeDelay>(r#""0s""#).unwrap_err();
/// assert!(error.to_string().starts_with("invalid hedge setting delay"));
/// ```
impl<'de> Deserialize<'de> for HedgeDelay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let delay = deserializer.deserialize_any(DelayVisitor)?;
        validate(delay).map_err(de::Error::custom)
    }
}

/// The builder's checks of a delay (`HedgeDelay::validate`), after the
/// stricter percent check. No config is built for it, so no metrics are
/// registered under the default name.
fn validate(delay: HedgeDelay) -> Result<HedgeDelay, InvalidConfig> {
    if let HedgeDelay::Percentile { p, .. } = delay {
        // NaN is in no range: rejected too.
        if !(1.0..100.0).contains(&p) {
            return Err(InvalidConfig::new(
                LAYER,
                "delay.percentile",
                "is in percent: at least 1 and below 100 (95 for the 95th percentile, not 0.95)",
            ));
        }
    }
    delay.validate().map(|()| delay)
}

struct DelayVisitor;

impl<'de> Visitor<'de> for DelayVisitor {
    type Value = HedgeDelay;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            r#"a duration such as "150ms", or { percentile = 95, min_samples = 100, fallback = "500ms" }"#,
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<HedgeDelay, E> {
        crate::de::duration(value.into_deserializer()).map(HedgeDelay::Fixed)
    }

    // Numbers are told they need a unit, as any duration.
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<HedgeDelay, E> {
        crate::de::duration(value.into_deserializer()).map(HedgeDelay::Fixed)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<HedgeDelay, E> {
        crate::de::duration(value.into_deserializer()).map(HedgeDelay::Fixed)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<HedgeDelay, E> {
        crate::de::duration(value.into_deserializer()).map(HedgeDelay::Fixed)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HedgeDelay, A::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawPercentile {
            percentile: f64,
            min_samples: u32,
            fallback: HumaneDuration,
        }

        let raw = RawPercentile::deserialize(MapAccessDeserializer::new(map))?;
        Ok(HedgeDelay::Percentile {
            p: raw.percentile,
            min_samples: raw.min_samples,
            fallback: raw.fallback.0,
        })
    }
}
