use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::InvalidConfig;

/// The largest count of a rate (requests or tokens per period).
pub(super) const MAX_COUNT: u64 = 1 << 40;
/// The longest period of a rate, and the longest `max_wait`: a day.
pub(super) const MAX_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

/// `n` units per `per`, with a burst of `burst` units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rate {
    pub(super) count: u64,
    pub(super) per: Duration,
    pub(super) burst: Option<u64>,
}

impl Rate {
    /// Nanoseconds per unit (at least one), rounded up: a bucket never
    /// admits faster than configured (3 a second is one every
    /// 333,333,334 ns).
    pub(super) fn interval_nanos(&self) -> u64 {
        let nanos = self.per.as_nanos().div_ceil(u128::from(self.count.max(1)));
        u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
    }

    /// How many units may pass at once: the burst, by default the count.
    pub(super) fn capacity(&self) -> u64 {
        self.burst.unwrap_or(self.count)
    }

    fn validate(&self, field: &'static str) -> Result<(), InvalidConfig> {
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(InvalidConfig::new(
                "rate limit",
                field,
                "the count must be between 1 and 2^40",
            ));
        }
        if self.per.is_zero() || self.per > MAX_PERIOD {
            return Err(InvalidConfig::new(
                "rate limit",
                field,
                "the period must be longer than zero and at most a day",
            ));
        }
        if self.per.as_nanos() < u128::from(self.count) {
            return Err(InvalidConfig::new(
                "rate limit",
                field,
                "at most one unit per nanosecond",
            ));
        }
        Ok(())
    }
}

/// The settings of a [`RateLimitLayer`](super::RateLimitLayer): a rate of
/// requests, optionally a rate of tokens (a per-request cost), how long a
/// call may wait for its turn, and whether the upstream's rate-limit
/// headers adjust the bucket.
///
/// Built with [`RateLimitConfig::builder`] and validated by
/// [`build`](RateLimitConfigBuilder::build): an invalid setting is an
/// [`InvalidConfig`] naming it, never a panic later.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::rate_limit::RateLimitConfig;
///
/// let config = RateLimitConfig::builder()
///     .name("openai")
///     .requests(500, Duration::from_secs(60))
///     .tokens(30_000, Duration::from_secs(60))
///     .max_wait(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(config.name(), "openai");
///
/// let error = RateLimitConfig::builder()
///     .requests(0, Duration::from_secs(1))
///     .build()
///     .unwrap_err();
/// assert_eq!(error.field(), "requests");
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub(super) name: Arc<str>,
    pub(super) requests: Rate,
    pub(super) tokens: Option<Rate>,
    pub(super) max_wait: Duration,
    pub(super) adapt: bool,
}

impl RateLimitConfig {
    /// A builder, starting from the [defaults](RateLimitConfigBuilder).
    pub fn builder() -> RateLimitConfigBuilder {
        RateLimitConfigBuilder {
            config: Self::default(),
            burst: None,
            token_burst: None,
        }
    }

    /// The limiter's name (in [`RateLimited`](super::RateLimited) and events).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// 10 requests a second with a burst of 10, no token bucket, waits of up to
/// a second, adapting to the upstream's headers. Meant for tests and
/// examples: set the rate your provider gives you.
impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            name: Arc::from("rate_limit"),
            requests: Rate {
                count: 10,
                per: Duration::from_secs(1),
                burst: None,
            },
            tokens: None,
            max_wait: Duration::from_secs(1),
            adapt: true,
        }
    }
}

/// Builds a [`RateLimitConfig`]; every setting has a default (see
/// [`RateLimitConfig`]'s `Default`), and [`build`](Self::build) checks them
/// all.
#[derive(Clone, Debug)]
#[must_use]
pub struct RateLimitConfigBuilder {
    config: RateLimitConfig,
    burst: Option<u64>,
    token_burst: Option<u64>,
}

impl RateLimitConfigBuilder {
    /// The limiter's name, in [`RateLimited`](super::RateLimited) errors and
    /// `tracing` events (default `"rate_limit"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.config.name = Arc::from(name.into().as_ref());
        self
    }

    /// At most `count` requests per `per` over time (a count between 1 and
    /// 2^40, a period up to a day, at most one request a nanosecond).
    pub fn requests(mut self, count: u64, per: Duration) -> Self {
        self.config.requests.count = count;
        self.config.requests.per = per;
        self
    }

    /// How many requests may pass at once after a quiet spell (default: the
    /// whole `count` of [`requests`](Self::requests), as a provider's
    /// per-minute limit allows). At least 1, at most the count.
    pub fn burst(mut self, burst: u64) -> Self {
        self.burst = Some(burst);
        self
    }

    /// A second bucket: at most `count` tokens per `per`, each request
    /// costing what the layer's [cost function](super::RateLimitLayer::cost)
    /// says (its estimate of the LLM tokens the request uses). Its burst is
    /// the whole `count` unless [`token_burst`](Self::token_burst) says
    /// otherwise. A request whose cost exceeds the burst can never pass and
    /// is rejected at once.
    pub fn tokens(mut self, count: u64, per: Duration) -> Self {
        self.config.tokens = Some(Rate {
            count,
            per,
            burst: None,
        });
        self
    }

    /// The burst of the token bucket (at least 1, at most its count).
    pub fn token_burst(mut self, burst: u64) -> Self {
        self.token_burst = Some(burst);
        self
    }

    /// The longest a call waits for its turn (default one second, at most a
    /// day). `Duration::ZERO` fails fast: a call that cannot pass at once is
    /// rejected with [`RateLimited`](super::RateLimited). A call never waits
    /// past the [current deadline](crate::deadline::Deadline::current)
    /// either.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = max_wait;
        self
    }

    /// Whether the upstream's rate-limit headers adjust the buckets
    /// (default `true`; see the [module docs](super#adapting)).
    pub fn adapt(mut self, adapt: bool) -> Self {
        self.config.adapt = adapt;
        self
    }

    /// Checks every setting and returns the config, or an [`InvalidConfig`]
    /// naming the first setting at fault.
    pub fn build(self) -> Result<RateLimitConfig, InvalidConfig> {
        let mut config = self.config;
        config.requests.validate("requests")?;
        if let Some(burst) = self.burst {
            if burst == 0 || burst > config.requests.count {
                return Err(InvalidConfig::new(
                    "rate limit",
                    "burst",
                    "must be between 1 and the count of requests",
                ));
            }
            config.requests.burst = Some(burst);
        }
        match (&mut config.tokens, self.token_burst) {
            (Some(tokens), burst) => {
                tokens.validate("tokens")?;
                if let Some(burst) = burst {
                    if burst == 0 || burst > tokens.count {
                        return Err(InvalidConfig::new(
                            "rate limit",
                            "token_burst",
                            "must be between 1 and the count of tokens",
                        ));
                    }
                    tokens.burst = Some(burst);
                }
            }
            (None, Some(_)) => {
                return Err(InvalidConfig::new(
                    "rate limit",
                    "token_burst",
                    "needs a token bucket: set tokens first",
                ));
            }
            (None, None) => {}
        }
        if config.max_wait > MAX_PERIOD {
            return Err(InvalidConfig::new(
                "rate limit",
                "max_wait",
                "must be at most a day",
            ));
        }
        if config.name.is_empty() {
            return Err(InvalidConfig::new(
                "rate limit",
                "name",
                "must not be empty",
            ));
        }
        Ok(config)
    }
}
