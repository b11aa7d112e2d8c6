//! `Deserialize` for this module's config types (the `serde` feature).
//!
//! The accepted forms are documented on [`RateLimitConfig`]'s `Deserialize`
//! implementation and in [`crate::de`].

use serde::de::{self, Deserialize, Deserializer};

use super::RateLimitConfig;
use crate::InvalidConfig;
use crate::de::HumaneDuration;

/// Deserializes a config from a table whose fields are named like the
/// [`RateLimitConfigBuilder`](super::RateLimitConfigBuilder) methods, all
/// optional, each defaulting to [`RateLimitConfig::default`]:
///
/// | field | accepts | default |
/// |---|---|---|
/// | `name` | a non-empty string | `"rate_limit"` |
/// | `requests` | `{ count = 500, per = "1m" }`: a count from 1 to 2^40, a period above zero and at most a day | `{ count = 10, per = "1s" }` |
/// | `burst` | 1 to the count of `requests` | the count of `requests` |
/// | `tokens` | `{ count = 30000, per = "1m" }`, as `requests` | no token bucket |
/// | `token_burst` | 1 to the count of `tokens` (needs `tokens`) | the count of `tokens` |
/// | `max_wait` | a duration, at most a day; `"0s"` fails fast | `"1s"` |
/// | `adapt` | `false`: the upstream's rate-limit headers are ignored | `true` |
///
/// Unknown fields are errors, in the tables of `requests` and `tokens`
/// too (both of whose fields are required); so is anything
/// [`RateLimitConfigBuilder::build`](super::RateLimitConfigBuilder::build)
/// rejects, with its message (`invalid rate limit setting burst: must be
/// between 1 and the count of requests`). The per-request cost of the token
/// bucket cannot come from a file: set it in code with
/// [`RateLimitLayer::cost`](super::RateLimitLayer::cost).
///
/// ```
/// use std::time::Duration;
/// use tower_failover::rate_limit::RateLimitConfig;
///
/// let config: RateLimitConfig = toml::from_str(r#"
///     name = "openai"
///     requests = { count = 500, per = "1m" }
///     burst = 50
///     tokens = { count = 30000, per = "1m" }
///     max_wait = "2s"
/// "#)?;
/// let expected = RateLimitConfig::builder()
///     .name("openai")
///     .requests(500, Duration::from_secs(60))
///     .burst(50)
///     .tokens(30_000, Duration::from_secs(60))
///     .max_wait(Duration::from_secs(2))
///     .build()
///     .unwrap();
/// assert_eq!(config, expected);
///
/// let error = toml::from_str::<RateLimitConfig>(r#"
///     requests = { count = 10, per = "1s" }
///     burst = 20
/// "#).unwrap_err();
/// assert!(error.message().contains(
///     "invalid rate limit setting burst: must be between 1 and the count of requests"
/// ));
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for RateLimitConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(deserializer)?;
        raw.build().map_err(de::Error::custom)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: Option<String>,
    requests: Option<RawRate>,
    burst: Option<u64>,
    tokens: Option<RawRate>,
    token_burst: Option<u64>,
    max_wait: Option<HumaneDuration>,
    adapt: Option<bool>,
}

/// `{ count = 500, per = "1m" }`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    count: u64,
    per: HumaneDuration,
}

impl RawConfig {
    fn build(self) -> Result<RateLimitConfig, InvalidConfig> {
        let mut builder = RateLimitConfig::builder();
        if let Some(name) = self.name {
            builder = builder.name(name);
        }
        if let Some(RawRate { count, per }) = self.requests {
            builder = builder.requests(count, per.0);
        }
        if let Some(burst) = self.burst {
            builder = builder.burst(burst);
        }
        if let Some(RawRate { count, per }) = self.tokens {
            builder = builder.tokens(count, per.0);
        }
        if let Some(burst) = self.token_burst {
            builder = builder.token_burst(burst);
        }
        if let Some(HumaneDuration(max_wait)) = self.max_wait {
            builder = builder.max_wait(max_wait);
        }
        if let Some(adapt) = self.adapt {
            builder = builder.adapt(adapt);
        }
        builder.build()
    }
}
