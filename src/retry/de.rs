//! `Deserialize` for this module's config types (the `serde` feature).
//!
//! The accepted forms are documented on [`RetryPolicy`]'s `Deserialize`
//! implementation and in [`crate::de`].

use std::fmt;
use std::time::Duration;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Unexpected, Visitor};

use super::{Backoff, Jitter, RetryBudget, RetryPolicy};
use crate::de::HumaneDuration;

/// Deserializes a policy with the [`DefaultClassifier`](crate::classify::DefaultClassifier)
/// from a table whose fields are named like the builder's methods, all
/// optional, each defaulting to [`RetryPolicy::default`]:
///
/// | field | accepts | default |
/// |---|---|---|
/// | `max_attempts` | 1 to 100, the first attempt included | `3` |
/// | `backoff` | a [`Backoff`] (see below) | `{ base = "500ms", cap = "8s", jitter = "full" }` |
/// | `max_retry_after` | a duration | `"60s"` |
/// | `budget` | `{ ttl, min_per_sec, ratio }` (a [`RetryBudget`]), `true` for the default budget, `false` for none | `true` |
///
/// A [`Backoff`] is one of
///
/// - `{ base = "500ms", cap = "8s", jitter = "full" }`: exponential, every
///   field optional (defaults as shown);
/// - `{ constant = "1s", jitter = "none" }`: the same delay each time
///   (`jitter` optional, default `"full"`);
/// - `"none"`: no delay at all.
///
/// and a [`Jitter`] one of `"full"`, `"equal"`, `"decorrelated"` or
/// `"none"`. A [`RetryBudget`]'s fields are optional too: `ttl` (1 s to
/// 60 s, default `"10s"`), `min_per_sec` (default 10) and `ratio` (0 to
/// 1000, default 0.2). Each `Deserialize`d policy gets its own budget; clone
/// the policy to share one.
///
/// Unknown fields are errors; so is anything
/// [`RetryPolicyBuilder::build`](super::RetryPolicyBuilder::build) rejects,
/// with its message (`invalid retry setting max_attempts: must be between 1
/// and 100`).
///
/// ```
/// use std::time::Duration;
/// use tower_failover::retry::{Backoff, Jitter, RetryPolicy};
///
/// let policy: RetryPolicy = toml::from_str(r#"
///     max_attempts = 4
///     backoff = { base = "200ms", cap = "5s", jitter = "equal" }
///     max_retry_after = "20s"
///     budget = { ttl = "10s", min_per_sec = 5, ratio = 0.1 }
/// "#)?;
/// assert_eq!(policy.max_attempts(), 4);
/// assert_eq!(
///     policy.backoff(),
///     &Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5))
///         .with_jitter(Jitter::Equal),
/// );
/// assert_eq!(policy.max_retry_after(), Duration::from_secs(20));
///
/// let policy: RetryPolicy = toml::from_str(r#"
///     backoff = { constant = "1s" }
///     budget = false
/// "#)?;
/// assert_eq!(policy.backoff(), &Backoff::constant(Duration::from_secs(1)));
/// assert!(policy.budget().is_none());
///
/// let policy: RetryPolicy = toml::from_str(r#"backoff = "none""#)?;
/// assert_eq!(policy.backoff(), &Backoff::none());
///
/// let error = toml::from_str::<RetryPolicy>("max_attempts = 0").unwrap_err();
/// assert!(error.message().contains("invalid retry setting max_attempts: must be between 1 and 100"));
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for RetryPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawPolicy::deserialize(deserializer)?;
        let mut builder = RetryPolicy::builder();
        if let Some(max_attempts) = raw.max_attempts {
            builder = builder.max_attempts(max_attempts);
        }
        if let Some(backoff) = raw.backoff {
            builder = builder.backoff(backoff);
        }
        if let Some(HumaneDuration(max_retry_after)) = raw.max_retry_after {
            builder = builder.max_retry_after(max_retry_after);
        }
        match raw.budget {
            None => {}
            Some(BudgetSetting(Some(budget))) => builder = builder.budget(budget),
            Some(BudgetSetting(None)) => builder = builder.no_budget(),
        }
        builder.build().map_err(de::Error::custom)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    max_attempts: Option<u32>,
    backoff: Option<Backoff>,
    max_retry_after: Option<HumaneDuration>,
    budget: Option<BudgetSetting>,
}

/// `budget = { … }`, `budget = true` (the default) or `budget = false`.
struct BudgetSetting(Option<RetryBudget>);

impl<'de> Deserialize<'de> for BudgetSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BudgetVisitor;

        impl<'de> Visitor<'de> for BudgetVisitor {
            type Value = BudgetSetting;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a retry budget table { ttl, min_per_sec, ratio }, true or false")
            }

            fn visit_bool<E: de::Error>(self, enabled: bool) -> Result<BudgetSetting, E> {
                Ok(BudgetSetting(enabled.then(RetryBudget::default)))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BudgetSetting, A::Error> {
                RetryBudget::deserialize(MapAccessDeserializer::new(map))
                    .map(|budget| BudgetSetting(Some(budget)))
            }
        }

        deserializer.deserialize_any(BudgetVisitor)
    }
}

/// Deserializes a budget from `{ ttl, min_per_sec, ratio }`, every field
/// optional: `ttl` a duration from 1 s to 60 s (default `"10s"`),
/// `min_per_sec` retries per second allowed whatever the traffic (default
/// 10), `ratio` retries per request (0 to 1000, default 0.2). Out-of-range
/// values are [`RetryBudget::new`]'s errors.
///
/// ```
/// use tower_failover::retry::RetryBudget;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), toml::de::Error> {
/// let budget: RetryBudget = toml::from_str(r#"ttl = "5s"
/// min_per_sec = 2
/// ratio = 0.5"#)?;
/// assert_eq!(budget.remaining(), 10); // 2 per second over 5 s
///
/// let error = toml::from_str::<RetryBudget>(r#"ttl = "2m""#).unwrap_err();
/// assert!(error.message().contains("invalid retry setting budget.ttl: must be between 1s and 60s"));
/// # Ok(())
/// # }
/// ```
impl<'de> Deserialize<'de> for RetryBudget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawBudget {
            ttl: Option<HumaneDuration>,
            min_per_sec: Option<u32>,
            ratio: Option<f32>,
        }

        let raw = RawBudget::deserialize(deserializer)?;
        RetryBudget::new(
            raw.ttl.map_or(Duration::from_secs(10), |ttl| ttl.0),
            raw.min_per_sec.unwrap_or(10),
            raw.ratio.unwrap_or(0.2),
        )
        .map_err(de::Error::custom)
    }
}

/// Deserializes a backoff from one of
///
/// - `{ base = "500ms", cap = "8s", jitter = "full" }`: exponential
///   ([`Backoff::exponential`]), every field optional, defaults as shown;
/// - `{ constant = "1s", jitter = "full" }`: [`Backoff::constant`], `jitter`
///   optional (default `"full"`);
/// - `"none"`: [`Backoff::none`].
///
/// A `cap` below `base` is an error naming `backoff`; so is mixing
/// `constant` with `base` or `cap`.
///
/// ```
/// use std::time::Duration;
/// use serde::Deserialize;
/// use tower_failover::retry::{Backoff, Jitter};
///
/// #[derive(Deserialize)]
/// struct Settings {
///     backoff: Backoff,
/// }
///
/// let settings: Settings = toml::from_str(r#"backoff = { base = "1s", jitter = "decorrelated" }"#)?;
/// assert_eq!(
///     settings.backoff,
///     Backoff::exponential(Duration::from_secs(1), Duration::from_secs(8))
///         .with_jitter(Jitter::Decorrelated),
/// );
/// let settings: Settings = toml::from_str(r#"backoff = "none""#)?;
/// assert_eq!(settings.backoff, Backoff::none());
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for Backoff {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BackoffVisitor;

        impl<'de> Visitor<'de> for BackoffVisitor {
            type Value = Backoff;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"a backoff table { base, cap, jitter } or { constant, jitter }, or "none""#,
                )
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Backoff, E> {
                match value {
                    "none" => Ok(Backoff::none()),
                    _ => Err(E::invalid_value(Unexpected::Str(value), &self)),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Backoff, A::Error> {
                let raw = RawBackoff::deserialize(MapAccessDeserializer::new(map))?;
                raw.build().map_err(de::Error::custom)
            }
        }

        deserializer.deserialize_any(BackoffVisitor)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    base: Option<HumaneDuration>,
    cap: Option<HumaneDuration>,
    constant: Option<HumaneDuration>,
    jitter: Option<Jitter>,
}

impl RawBackoff {
    fn build(self) -> Result<Backoff, crate::InvalidConfig> {
        let backoff = match self.constant {
            Some(_) if self.base.is_some() || self.cap.is_some() => {
                return Err(crate::InvalidConfig::new(
                    "retry",
                    "backoff",
                    "a constant backoff has no base or cap",
                ));
            }
            Some(HumaneDuration(delay)) => Backoff::constant(delay),
            None => {
                let default = Backoff::default();
                Backoff::exponential(
                    self.base.map_or(default.base(), |base| base.0),
                    self.cap.map_or(default.cap(), |cap| cap.0),
                )
            }
        };
        let backoff = backoff.with_jitter(self.jitter.unwrap_or_default());
        backoff.validate()?;
        Ok(backoff)
    }
}

/// Deserializes a jitter from its name: `"full"`, `"equal"`,
/// `"decorrelated"` or `"none"`.
///
/// ```
/// use tower_failover::retry::Jitter;
///
/// let jitter: Jitter = serde_json::from_str(r#""decorrelated""#).unwrap();
/// assert_eq!(jitter, Jitter::Decorrelated);
/// let error = serde_json::from_str::<Jitter>(r#""Full""#).unwrap_err();
/// assert!(error.to_string().starts_with(
///     "unknown variant `Full`, expected one of `full`, `equal`, `decorrelated`, `none`"
/// ));
/// ```
impl<'de> Deserialize<'de> for Jitter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &["full", "equal", "decorrelated", "none"];

        struct JitterVisitor;

        impl Visitor<'_> for JitterVisitor {
            type Value = Jitter;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"one of "full", "equal", "decorrelated" or "none""#)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Jitter, E> {
                Ok(match value {
                    "full" => Jitter::Full,
                    "equal" => Jitter::Equal,
                    "decorrelated" => Jitter::Decorrelated,
                    "none" => Jitter::None,
                    _ => return Err(E::unknown_variant(value, NAMES)),
                })
            }
        }

        deserializer.deserialize_str(JitterVisitor)
    }
}
